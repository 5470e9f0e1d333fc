"""The figure of on-chip learning in the docs: Song, Miller and Abbott (2000) on nmgraph.

    python -m benchmarks.learning_figures                  # docs/img/learning-song-miller-abbott.png
    python -m benchmarks.learning_figures --inputs 300 --seconds 500 --workers 2 --out PATH

One LIF neuron receives ``--inputs`` Poisson spike trains at 15 Hz through plastic synapses that
learn by additive pair STDP (the ``STDP`` preset with ``mu_plus = mu_minus = 0``,
``tau_plus = tau_minus = 20 ms``, ``lambda = 0.004``, ``alpha = 1.05``, ``w_max = 255``). The
initial weights are drawn uniformly from ``0..255``. Song, Miller and Abbott (Nat. Neurosci.
3:919, 2000) showed that such a neuron's weights split into two groups, most near 0 and the rest
near ``w_max``, while its output rate settles by itself; this script runs the network on the
multi-core runtime, records the weights once per simulated second and draws:

- left: the weight histogram against time (colour: fraction of synapses per bin, square-root
  scale so that the emptying middle stays visible), and the output rate in 10 s bins below it;
- right: the final histogram, with the bands within 10% of 0 and of ``w_max`` shaded.

The neuron: ``du = 4095`` (the synaptic current lasts one step: each input spike of weight ``w``
raises ``v`` by ``w << 6``), ``dv = 742`` (a 5 ms membrane, as short as the membrane of a
conductance-based neuron under heavy synaptic bombardment), ``vth = 1800``: a synapse at
``w_max`` is 14% of the threshold, and the neuron fires on the fluctuations of its input.

It prints the fractions of weights near 0 and near ``w_max``, the output rate over the last
100 s, the counters and the run time. The committed PNG (300 inputs, 500 s, seed 1): 69.7% of the
weights within 10% of 0 and 19.3% within 10% of ``w_max``; the output rate falls from 183 Hz in the
first 10 s to 48 Hz over the last 100 s; the run takes 4-14 s with 2 workers on two shared cores.
``tests/test_song_miller_abbott.py`` asserts the same behaviour on a 400 s run.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import nmgraph as nm
from nmgraph.processes import LIF, STDP, LearningDense, PoissonSource

#: The model's parameters (see the module docstring).
N_INPUTS = 300
RATE_HZ = 15.0
W_MAX = 255
VTH = 1800
DU = 4095          # the synaptic current lasts one step
DV = 742           # 4096 * (1 - exp(-1 / 5)): a 5 ms membrane
LAMBDA = 0.004
ALPHA = 1.05
SECONDS = 500
#: Within this fraction of 0 or of ``w_max``, a weight counts as in a mode.
MODE_BAND = 0.1
FIGURE = Path(__file__).resolve().parents[1] / "docs" / "img" / "learning-song-miller-abbott.png"


@dataclass
class SongMillerAbbott:
    """The network and the processes a run reads."""

    net: nm.Network
    inputs: PoissonSource
    synapses: LearningDense
    neuron: LIF
    rule: STDP


def song_miller_abbott(n_inputs: int = N_INPUTS, *, rate_hz: float = RATE_HZ, vth: int = VTH,
                       lambda_: float = LAMBDA, alpha: float = ALPHA, seed: int = 1
                       ) -> SongMillerAbbott:
    """One LIF neuron, ``n_inputs`` Poisson inputs through plastic synapses (additive STDP),
    initial weights uniform in ``0..W_MAX``; ``seed`` seeds the inputs, the weights and the rule.
    """
    net = nm.Network("song_miller_abbott", dt_ms=1.0)
    inputs = net.add(PoissonSource(shape=(n_inputs,), rate_hz=rate_hz, dt_ms=1.0, seed=seed,
                                   name="inputs"))
    neuron = net.add(LIF(shape=(1,), du=DU, dv=DV, vth=vth, name="neuron"))
    rule = STDP(tau_plus=20.0, tau_minus=20.0, lambda_=lambda_, alpha=alpha, mu_plus=0,
                mu_minus=0, w_max=W_MAX, dt_ms=1.0, seed=seed + 6)
    w0 = np.random.default_rng(seed).integers(0, W_MAX + 1, size=(1, n_inputs))
    synapses = net.add(LearningDense(weights=w0, learning_rule=rule, name="stdp"))
    net.connect(inputs.s_out, synapses.s_in)
    net.connect(synapses.a_out, neuron.a_in)
    return SongMillerAbbott(net, inputs, synapses, neuron, rule)


def modes(weights: np.ndarray, w_max: int = W_MAX, band: float = MODE_BAND) -> tuple[float, float]:
    """Fractions of ``weights`` within ``band * w_max`` of 0 and of ``w_max``."""
    weights = np.asarray(weights).ravel()
    return (float(np.mean(weights <= band * w_max)), float(np.mean(weights >= (1 - band) * w_max)))


def run(model: SongMillerAbbott, seconds: int, *, workers: int = 2,
        every_ms: int = 1000) -> dict[str, Any]:
    """Compile for loihi1, run ``seconds`` on the multi-core runtime; the weights every
    ``every_ms`` (the first sample is that of step 1), the neuron's spike steps, the counters."""
    exe = nm.compile(model.net, hardware="loihi1")
    with nm.Runtime(exe, workers=workers) as rt:
        monitor = rt.record(model.synapses, "weights", every=every_ms)
        start = time.perf_counter()
        rt.run(int(seconds * 1000))
        elapsed = time.perf_counter() - start
        final = rt.get(model.synapses, "weights").ravel()
        spikes = rt.spikes(model.neuron).times
        counters = rt.counters
    return {"weights": monitor.values, "t_s": monitor.t_ms / 1000.0, "final": final,
            "spike_steps": spikes, "counters": counters, "run_s": elapsed, "seconds": seconds}


def plot(result: dict[str, Any], path: Path, title: str, bins: int = 32) -> None:
    """Draw the histogram against time (titled ``title``), the output rate and the final
    histogram to ``path``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import PowerNorm

    weights, t_s, seconds = result["weights"], result["t_s"], result["seconds"]
    edges = np.linspace(0, W_MAX + 1, bins + 1)
    counts = np.stack([np.histogram(row, bins=edges)[0] for row in weights], axis=1)
    fractions = counts / weights.shape[1]
    rate_bins = np.arange(0, seconds + 10, 10)
    rate = np.histogram(result["spike_steps"] / 1000.0, bins=rate_bins)[0] / 10.0

    fig = plt.figure(figsize=(10, 4.2), layout="constrained")
    grid = fig.add_gridspec(2, 2, width_ratios=(2.3, 1), height_ratios=(3, 1))
    image_ax = fig.add_subplot(grid[0, 0])
    rate_ax = fig.add_subplot(grid[1, 0], sharex=image_ax)
    final_ax = fig.add_subplot(grid[:, 1])
    image = image_ax.imshow(fractions, origin="lower", aspect="auto", cmap="magma",
                            norm=PowerNorm(0.5, vmin=0, vmax=fractions.max()),
                            extent=(t_s[0], t_s[-1], 0, (W_MAX + 1) / W_MAX))
    fig.colorbar(image, ax=image_ax, label="fraction of synapses", pad=0.01)
    image_ax.set_ylabel("w / w_max")
    image_ax.set_title(title)
    image_ax.tick_params(labelbottom=False)
    rate_ax.step(rate_bins[1:], rate, where="pre", color="tab:blue")
    rate_ax.set_xlabel("time (s)")
    rate_ax.set_ylabel("output (Hz)")
    rate_ax.set_ylim(0, None)

    final = result["final"] / W_MAX
    low, high = modes(result["final"])
    for start in (0.0, 1 - MODE_BAND):
        final_ax.axvspan(start, start + MODE_BAND, color="tab:orange", alpha=0.25, lw=0, zorder=0)
    final_ax.hist(final, bins=edges / W_MAX, weights=np.full(final.size, 1 / final.size),
                  color="0.25", zorder=1)
    final_ax.set_xlabel("w / w_max")
    final_ax.set_ylabel("fraction of synapses")
    final_ax.set_title(f"after {seconds} s: {100 * low:.0f}% within 10% of 0,\n"
                       f"{100 * high:.0f}% within 10% of w_max (shaded)", fontsize="medium")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=N_INPUTS, help="Poisson inputs")
    parser.add_argument("--seconds", type=int, default=SECONDS, help="simulated seconds")
    parser.add_argument("--workers", type=int, default=2, help="workers of the multi-core runtime")
    parser.add_argument("--out", type=Path, default=FIGURE, help="the PNG to write")
    args = parser.parse_args(argv)
    model = song_miller_abbott(args.inputs)
    print(model.rule.quantization)
    result = run(model, args.seconds, workers=args.workers)
    low, high = modes(result["final"])
    last = result["spike_steps"] > (args.seconds - 100) * 1000
    rate = np.count_nonzero(last) / min(100, args.seconds)
    counters = result["counters"]
    print(f"{args.inputs} inputs, {args.seconds} s simulated in {result['run_s']:.1f} s "
          f"({args.workers} workers)")
    print(f"weights near 0: {100 * low:.1f}%, near w_max: {100 * high:.1f}%, "
          f"in both modes: {100 * (low + high):.1f}%")
    print(f"output rate over the last 100 s: {rate:.1f} Hz")
    print(f"synaptic updates {counters.synaptic_updates:,}, synaptic ops {counters.synaptic_ops:,}")
    realised = model.rule.quantization
    plot(result, args.out, f"{args.inputs} Poisson inputs at {RATE_HZ:g} Hz, additive STDP "
         f"(lambda {realised['lambda'].realised:.4f}, alpha {realised['alpha'].realised:.3f})")
    print(f"wrote {args.out}")
    return {"near_0": low, "near_max": high, "rate_hz": rate, "run_s": result["run_s"]}


if __name__ == "__main__":
    main()
