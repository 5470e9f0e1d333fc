"""Song, Miller and Abbott (2000) on the on-chip learning engine: one LIF neuron with 300 Poisson
inputs at 15 Hz through synapses that learn by additive pair STDP (``alpha`` 1.05, ``lambda``
0.004, initial weights uniform in 0..255) ends with its weights split into two groups, near 0 and
near ``w_max``, while its output rate falls from its start to a steady value; and the multi-core
runtime computes this network's learning exactly as the reference backend does.

The network is :func:`benchmarks.learning_figures.song_miller_abbott`, the one of the docs'
figure. Cost: the 400 s run on the multi-core runtime (2 workers) takes 5-10 s on two shared
cores, the 2,000-step cross-check about 3 s (most of it the NumPy reference backend).
"""

from __future__ import annotations

import numpy as np
import pytest

import nmgraph as nm
from benchmarks.learning_figures import N_INPUTS, W_MAX, modes, run, song_miller_abbott

#: Simulated seconds of the learning run (the weights are bimodal after about 300 s).
SECONDS = 400
#: Steps of the run both backends make.
CHECK_STEPS = 2000


@pytest.fixture(scope="module")
def learned() -> tuple:
    model = song_miller_abbott(N_INPUTS)
    return model, run(model, SECONDS, workers=2, every_ms=100_000)


def test_the_weights_start_spread_out(learned) -> None:
    model, _ = learned
    low, high = modes(model.synapses.weights.value)
    assert 0.05 < low < 0.2 and 0.05 < high < 0.2      # uniform in 0..255: about 10% in each band


def test_the_weights_end_bimodal(learned) -> None:
    _, result = learned
    final = result["final"]
    assert final.shape == (N_INPUTS,) and final.min() >= 0 and final.max() <= W_MAX
    low, high = modes(final)
    assert low + high >= 0.80, f"{100 * low:.1f}% near 0, {100 * high:.1f}% near w_max"
    assert low >= 0.10 and high >= 0.10
    assert low > high          # most synapses lose: the depression-dominated rule is competitive
    middle = np.mean((final > 0.25 * W_MAX) & (final < 0.75 * W_MAX))
    assert middle < 0.08       # the middle half of the range held half of the weights at the start


def test_the_output_rate_falls_and_settles(learned) -> None:
    _, result = learned
    seconds = result["spike_steps"] / 1000.0
    first = np.count_nonzero(seconds <= 10) / 10.0
    last = np.count_nonzero(seconds > SECONDS - 100) / 100.0
    before = np.count_nonzero((seconds > SECONDS - 200) & (seconds <= SECONDS - 100)) / 100.0
    assert first > 100.0                       # uniform weights: far more input than needed
    assert 20.0 < last < 80.0, last            # self-regulated to tens of Hz
    assert abs(last - before) < 0.2 * before   # and no longer drifting


def test_the_multicore_runtime_learns_as_the_reference_does() -> None:
    model = song_miller_abbott(N_INPUTS)
    exe = nm.compile(model.net, hardware="loihi1")
    results = {}
    for backend in ("reference", "multicore"):
        with nm.Runtime(exe, backend=backend, workers=2 if backend == "multicore" else None) as rt:
            rt.run(CHECK_STEPS)
            results[backend] = {var: rt.get(model.synapses, var) for var in ("weights", "x1", "y1")}
            results[backend]["spikes"] = rt.spikes(model.neuron).times
            results[backend]["inputs"] = rt.spikes(model.inputs).to_dense()
            results[backend]["updates"] = rt.counters.synaptic_updates
    reference, multicore = results["reference"], results["multicore"]
    for var in ("weights", "x1", "y1", "spikes", "updates"):
        assert np.array_equal(reference[var], multicore[var]), var
    w0 = model.synapses.weights.value
    assert np.count_nonzero(reference["weights"] != w0) > 0.9 * N_INPUTS    # it did learn
    assert len(reference["spikes"]) > 100 and reference["x1"].max() > 0

    # t_epoch 1 and terms gated by x0 and y0: at each step, a synapse is updated when its input
    # or the neuron spiked, so all N_INPUTS at the neuron's spikes, else one per input spike
    inputs = reference["inputs"]                          # row k: step k + 1
    fired = np.zeros(CHECK_STEPS, dtype=bool)
    fired[reference["spikes"] - 1] = True
    expected = N_INPUTS * np.count_nonzero(fired) + int(inputs[~fired].sum())
    assert reference["updates"] == expected
