"""NIR's N-MNIST CNN through nmgraph: write, import, map onto Loihi 1 and SpiNNaker 1, run 300 steps.

    python -m benchmarks.nir_nmnist --repeats 5 --workers 2 --steps 300

The network is the convolutional N-MNIST example of the NIR paper (Pedersen et al., *Nat.
Commun.* 15:8122, 2024; ``paper/02_cnn`` of neuromorphs/NIR, exported from Sinabs), whose model
definition is::

    Conv2d(2, 16, 5x5, stride 2, padding 1)  -> IF      34 x 34 -> 16 x 16   (4,096 neurons)
    Conv2d(16, 16, 3x3, stride 1, padding 1) -> IF      16 x 16             (4,096)
    SumPool2d(2x2)                                      16 x 16 -> 8 x 8
    Conv2d(16, 8, 3x3, stride 1, padding 1)  -> IF      8 x 8               (512)
    SumPool2d(2x2)                                      8 x 8 -> 4 x 4
    Flatten -> Linear(128, 256) -> IF                                       (256)
    Linear(256, 10) -> IF                                                   (10)

no biases (the sizes follow from the paddings: ``(34 + 2 - 5) // 2 + 1 = 16``; NIR's task
description stores the first layer's activity as ``(16, 16, 16)`` per step). Here it is built
with the ``nir`` package and **seeded random weights** (not the trained ones: only the activity
matters for mapping, time and energy), scaled per layer so that every layer fires at tens of Hz
on the input below (about 67, 30, 37, 38 and 18 Hz): ``W ~ N(mu, sigma) / sqrt(fan_in)``. IF
neurons: ``r = 1 / dt``, ``v_threshold = 1``, ``v_reset = 0`` (NIR's reset to a value; Sinabs
resets by subtraction, which NIR cannot say); ``dt = 1 ms``, the time bin of the NIR paper's
N-MNIST runs.

The input is synthetic and N-MNIST-like: a bright ring (a "0") of radius 7 pixels moved in three
saccades of 100 ms over the 34 x 34 field; each pixel emits an ON event with probability
``min(1, 6 dB)`` when its brightness rises by ``dB`` in a step and an OFF event when it falls
(seeded): about 35 events per step.

What is timed (medians of ``--repeats``, each from scratch in this process):

- **write**: ``nir.write`` of the graph to a ``.nir`` file;
- **import**: ``nm.from_nir(path, dt, inputs=...)`` (reading the HDF5 file, flattening, the
  float matrices of the fused pooling-convolution and pooling-linear blocks, quantization);
- **compile**: ``nm.compile(net, hardware=...)`` for each profile;
- **start**: ``nm.Runtime(exe, backend="multicore", workers=...)`` and its first step (the
  workers start and receive their cores);
- **run**: ``rt.run(steps - 1)``, the remaining steps.

Counted (identical in every repeat: the runtimes are deterministic): spikes, synaptic operations
(``Counters.synaptic_ops``), cores and chips of each mapping, and the energy per step of each
profile (:func:`nmgraph.tools.energy.energy_report` with the run's spikes). ``--check`` also runs
the reference backend once and checks that its spikes equal the multi-core runtime's, bit for
bit.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import nmgraph as nm
from nmgraph.tools.energy import energy_report, format_si

DT = 1e-3
SIZE = 34
#: Per-layer weight statistics ``(mean, std)`` times ``1 / sqrt(fan_in)``, chosen so that each
#: layer fires at tens of Hz on the synthetic input (IF neurons have no leak: a positive mean
#: drive makes a layer fire at every step).
WEIGHT_STATS = {"conv1": (0.8, 1.6), "conv2": (0.05, 0.8), "conv3": (0.0, 0.35),
                "fc1": (0.0, 0.5), "fc2": (0.0, 1.2)}
NEURON_LAYERS = ("if1", "if2", "if3", "if4", "if5")


def build_graph(seed: int = 0) -> Any:
    """The N-MNIST CNN of NIR's paper as a ``nir.NIRGraph``, with seeded random weights."""
    import nir

    rng = np.random.default_rng(seed)

    def weights(name: str, shape: tuple[int, ...]) -> np.ndarray:
        fan_in = int(np.prod(shape[1:]))
        mean, std = WEIGHT_STATS[name]
        return rng.normal(mean, std, size=shape) / np.sqrt(fan_in)

    def conv(name: str, c_out: int, c_in: int, k: int, stride: int, size: int) -> Any:
        return nir.Conv2d(input_shape=(size, size), weight=weights(name, (c_out, c_in, k, k)),
                          stride=stride, padding=1, dilation=1, groups=1, bias=np.zeros(c_out))

    def neurons(*shape: int) -> Any:
        return nir.IF(r=np.full(shape, 1 / DT), v_threshold=np.ones(shape),
                      v_reset=np.zeros(shape))

    def pool() -> Any:
        return nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                             padding=np.array([0, 0]))

    nodes = {
        "input": nir.Input(input_type={"input": np.array([2, SIZE, SIZE])}),
        "conv1": conv("conv1", 16, 2, 5, 2, SIZE), "if1": neurons(16, 16, 16),
        "conv2": conv("conv2", 16, 16, 3, 1, 16), "if2": neurons(16, 16, 16),
        "pool2": pool(),
        "conv3": conv("conv3", 8, 16, 3, 1, 8), "if3": neurons(8, 8, 8),
        "pool3": pool(),
        "flatten": nir.Flatten(input_type={"input": np.array([8, 4, 4])}, start_dim=0),
        "fc1": nir.Linear(weight=weights("fc1", (256, 128))), "if4": neurons(256),
        "fc2": nir.Linear(weight=weights("fc2", (10, 256))), "if5": neurons(10),
        "output": nir.Output(output_type={"output": np.array([10])}),
    }
    chain = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(itertools.pairwise(chain)), type_check=True)


def nmnist_like_events(steps: int = 300, seed: int = 0) -> np.ndarray:
    """Bool ``(steps, 2, 34, 34)``: ON (channel 0) and OFF events of a ring moved in three
    saccades, one third of the steps each, as N-MNIST's camera motion."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(float)
    corners = np.array([[12.0, 12.0], [22.0, 17.0], [15.0, 22.0], [12.0, 12.0]])
    phases = 3 * np.arange(steps + 1) / steps
    legs = np.minimum(phases.astype(int), 2)
    centres = corners[legs] + (phases - legs)[:, None] * (corners[legs + 1] - corners[legs])
    radius = np.hypot(yy[None] - centres[:, 0, None, None], xx[None] - centres[:, 1, None, None])
    brightness = np.exp(-((radius - 7.0) ** 2) / (2 * 1.5**2))          # (steps + 1, 34, 34)
    change = np.diff(brightness, axis=0)
    fires = np.random.default_rng(seed).random(change.shape) < np.clip(6 * np.abs(change), 0, 1)
    return np.stack([fires & (change > 0), fires & (change < 0)], axis=1)


def _median(values: list[float]) -> float:
    return statistics.median(values)


def run_once(path: Path, events: np.ndarray, profiles: list[str], steps: int, workers: int,
             graph: Any) -> dict[str, Any]:
    """One repeat: write, import, compile for each profile, start and run on the multi-core
    runtime. Returns the times and the counts."""
    import nir

    times: dict[str, float] = {}
    start = time.perf_counter()
    nir.write(path, graph)
    times["write"] = time.perf_counter() - start
    start = time.perf_counter()
    net = nm.from_nir(path, dt=DT, name="nmnist_cnn", inputs={"input": events})
    times["import"] = time.perf_counter() - start
    out: dict[str, Any] = {"times": times, "net": net, "profiles": {}}
    for profile in profiles:
        start = time.perf_counter()
        exe = nm.compile(net, hardware=profile)
        times[f"compile {profile}"] = time.perf_counter() - start
        start = time.perf_counter()
        rt = nm.Runtime(exe, backend="multicore", workers=workers)
        try:
            rt.run(1)
            times[f"start {profile}"] = time.perf_counter() - start
            start = time.perf_counter()
            rt.run(steps - 1)
            times[f"run {profile}"] = time.perf_counter() - start
            counters = rt.counters
            spikes = {name: rt.spikes(net.nir_report.nodes[name].processes[0])
                      for name in NEURON_LAYERS}
            energy = energy_report(exe, counters, spikes=rt)
        finally:
            rt.close()
        report = exe.report
        out["profiles"][profile] = {
            "exe": exe, "cores": report.n_cores, "chips": report.chips_used,
            "lower_bound": report.lower_bound.get("cores"), "synapses": exe.ir.n_synapses,
            "spikes": {name: len(events_) for name, events_ in spikes.items()},
            "spike_trains": spikes, "synaptic_ops": counters.synaptic_ops,
            "energy_per_step_j": energy.per_step_j, "time_per_step_s": energy.time.per_step_s}
    return out


def check_reference(net: Any, exe: Any, steps: int, multicore_spikes: dict[str, Any]) -> bool:
    """Whether the reference backend's spikes equal the multi-core runtime's, bit for bit."""
    with nm.Runtime(exe, backend="reference") as rt:
        rt.run(steps)
        for name in NEURON_LAYERS:
            process = net.nir_report.nodes[name].processes[0]
            ours, theirs = rt.spikes(process), multicore_spikes[name]
            if not (np.array_equal(ours.times, theirs.times)
                    and np.array_equal(ours.indices, theirs.indices)):
                return False
    return True


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--hw", default="loihi1,spinnaker1",
                        help="comma-separated profiles (default: loihi1,spinnaker1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights and events")
    parser.add_argument("--check", action="store_true",
                        help="also run the reference backend once and compare spikes")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)
    profiles = [name.strip() for name in args.hw.split(",") if name.strip()]

    import nir

    graph = build_graph(args.seed)
    events = nmnist_like_events(args.steps, args.seed)
    repeats = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "nmnist_cnn.nir"
        for _ in range(args.repeats):
            repeats.append(run_once(path, events, profiles, args.steps, args.workers, graph))
        file_bytes = path.stat().st_size
    last = repeats[-1]
    net = last["net"]
    times = {key: _median([r["times"][key] for r in repeats]) for key in last["times"]}
    n_neurons = sum(int(np.prod(net[net.nir_report.nodes[name].processes[0]].shape))
                    for name in NEURON_LAYERS)
    print(f"NIR N-MNIST CNN (nir {nir.version}): {n_neurons:,} IF neurons, "
          f"{events.sum():,} input events over {args.steps} steps of {DT * 1e3:g} ms; "
          f"file {file_bytes / 1e6:.2f} MB; {args.repeats} repeats, multicore runtime with "
          f"{args.workers} workers")
    print(f"import report: worst weight error "
          f"{100 * net.nir_report.max_relative_error(quantity='weights (x gain)'):.2f}%, "
          f"notes: {'; '.join(net.nir_report.notes)}")
    print()
    print("| profile | synapses | cores / bound | chips | compile s | start s | run s "
          f"({args.steps - 1} steps) | steps/s | spikes | synaptic ops | energy / step |"
          " time / step on chip |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    figures: dict[str, Any] = {"times_s": times, "file_bytes": file_bytes,
                               "neurons": n_neurons, "events": int(events.sum()),
                               "steps": args.steps, "workers": args.workers,
                               "repeats": args.repeats, "profiles": {}}
    for profile in profiles:
        p = last["profiles"][profile]
        spikes = sum(p["spikes"].values())
        run_s = times[f"run {profile}"]
        energy = p["energy_per_step_j"]  # None: the profile has no energy constants
        print(f"| {profile} | {p['synapses']:,} | {p['cores']} / {p['lower_bound']} | "
              f"{p['chips']} | {times[f'compile {profile}']:.2f} | "
              f"{times[f'start {profile}']:.2f} | {run_s:.2f} | "
              f"{(args.steps - 1) / run_s:,.0f} | {spikes:,} | {p['synaptic_ops']:,} | "
              f"{format_si(energy, 'J')} | {format_si(p['time_per_step_s'], 's')} |")
        figures["profiles"][profile] = {key: value for key, value in p.items()
                                        if key not in ("exe", "spike_trains")}
    print()
    print(f"write {times['write']:.3f} s, import {times['import']:.3f} s (medians)")
    rates = {name: count / (int(np.prod(net[net.nir_report.nodes[name].processes[0]].shape))
                            * args.steps * DT)
             for name, count in last["profiles"][profiles[0]]["spikes"].items()}
    print("rates per layer: " + ", ".join(f"{name} {rate:.1f} Hz" for name, rate in rates.items()))
    figures["rates_hz"] = rates
    if args.check:
        first = last["profiles"][profiles[0]]
        same = check_reference(net, first["exe"], args.steps, first["spike_trains"])
        print(f"reference backend: spikes {'identical' if same else 'DIFFERENT'} to the "
              f"multicore runtime's")
        figures["reference_identical"] = same
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2, default=float), encoding="utf-8")
    return figures


if __name__ == "__main__":
    main()
