"""Monitors: a subset of units, every k steps, population rates; both backends, every worker count."""

from __future__ import annotations

import numpy as np
import pytest

import nmgraph as nm
from nmgraph.processes import LIF, Dense, PoissonSource

BACKENDS = [("reference", None), ("multicore", 1), ("multicore", 2), ("multicore", 3)]


def _network(dt_ms: float = 1.0) -> tuple[nm.Network, LIF]:
    net = nm.Network("monitored", dt_ms=dt_ms)
    drive = net.add(PoissonSource(40, rate=0.3, seed=11, name="drive"))
    exc = net.add(LIF(48, du=400, dv=300, vth=60, name="exc"))
    weights = np.random.default_rng(5).integers(0, 30, (48, 40))
    syn = net.add(Dense(weights, name="syn"))
    net.connect(drive.s_out, syn.s_in)
    net.connect(syn.a_out, exc.a_in)
    return net, exc


def _full_run(net: nm.Network, exc: LIF, start: int, steps: int) -> np.ndarray:
    """v after every step from ``start + 1`` to ``start + steps``, read with rt.get step by step
    (an independent path: no recording involved)."""
    rows = []
    with nm.Runtime(net, backend="reference") as rt:
        rt.run(start)
        for _ in range(steps):
            rt.run(1)
            rows.append(rt.get(exc, "v").ravel())
    return np.array(rows)


@pytest.mark.parametrize("backend,workers", BACKENDS)
def test_subset_every_k_matches_stepwise_reads(backend: str, workers: int | None) -> None:
    net, exc = _network()
    expected = _full_run(net, exc, 3, 23)
    exe = nm.compile(net, "loihi1", max_neurons_per_core=10)
    with nm.Runtime(exe, backend=backend, workers=workers) as rt:
        rt.run(3)
        neurons = [31, 4, 17, 0, 47]
        monitor = rt.record(exc, "v", neurons=neurons, every=5)
        rt.run(11)
        rt.run(12)   # samples cross the boundary between two runs
        assert np.array_equal(monitor.steps, [4, 9, 14, 19, 24])
        assert np.array_equal(monitor.values, expected[::5][:, neurons])
        assert np.array_equal(rt.recorded(exc, "v"), monitor.values)
        assert np.array_equal(monitor.t_ms, monitor.steps * 1.0)


@pytest.mark.parametrize("backend,workers", BACKENDS)
def test_record_everything_every_step(backend: str, workers: int | None) -> None:
    net, exc = _network()
    expected = _full_run(net, exc, 0, 17)
    exe = nm.compile(net, "loihi1", max_neurons_per_core=10)
    with nm.Runtime(exe, backend=backend, workers=workers) as rt:
        monitor = rt.record(exc, "v")
        rt.run(17)
        assert monitor.values.shape == (17, 48)
        assert np.array_equal(monitor.values, expected)


def test_mask_and_slice_select_the_same_units() -> None:
    net, exc = _network()
    mask = np.zeros(48, dtype=bool)
    mask[10:20] = True
    with nm.Runtime(net, backend="reference") as rt:
        by_mask = rt.record(exc, "v", neurons=mask)
        rt.run(6)
    with nm.Runtime(net, backend="reference") as rt:
        by_slice = rt.record(exc, "v", neurons=slice(10, 20))
        rt.run(6)
    assert by_mask.values.shape == (6, 10)
    assert np.array_equal(by_mask.values, by_slice.values)


def test_recording_does_not_shorten_windows() -> None:
    net, exc = _network()
    exe = nm.compile(net, "loihi1", max_neurons_per_core=10)
    with nm.Runtime(exe, backend="multicore", workers=2) as rt:
        window = rt.backend.window
        rt.record(exc, "v", neurons=[1, 2], every=3)
        rt.run(10)
        assert rt.backend.window == window


@pytest.mark.parametrize("neurons,every,message", [
    ([0, 48], 1, "outside 0..47"),
    ([3, 3], 1, "twice"),
    ([1.5], 1, "integer indices"),
    (np.ones(5, dtype=bool), 1, "needs 48 values"),
    (None, 0, "every"),
    (None, 2.0, "every"),
])
def test_bad_monitor_requests(neurons, every, message) -> None:
    net, exc = _network()
    with nm.Runtime(net, backend="reference") as rt:
        with pytest.raises(nm.ValidationError, match=message):
            rt.record(exc, "v", neurons=neurons, every=every)


def test_same_var_one_way_per_runtime() -> None:
    net, exc = _network()
    with nm.Runtime(net, backend="reference") as rt:
        first = rt.record(exc, "v", neurons=[1, 2], every=2)
        assert rt.record(exc, "v", neurons=[1, 2], every=2) is first
        with pytest.raises(nm.SimulationError, match="one way per Runtime"):
            rt.record(exc, "v", neurons=[1, 2], every=3)


@pytest.mark.parametrize("backend,workers", BACKENDS[:3])
def test_population_rate_in_hz(backend: str, workers: int | None) -> None:
    net, exc = _network(dt_ms=0.5)
    exe = nm.compile(net, "loihi1", max_neurons_per_core=10)
    with nm.Runtime(exe, backend=backend, workers=workers) as rt:
        rt.run(40)
        ends, rate = rt.rates(exc, bin_ms=2.5)   # 5 steps of 0.5 ms
        dense = rt.spikes(exc).to_dense()
    expected = dense.reshape(8, 5, 48).sum(axis=(1, 2)) / (48 * 2.5e-3)
    assert np.allclose(rate, expected)
    assert np.allclose(ends, np.arange(1, 9) * 2.5)
    with nm.Runtime(net, backend="reference") as rt, \
            pytest.raises(nm.ValidationError, match="whole number of steps"):
        rt.rates(exc, bin_ms=0.7)


def test_last_partial_bin_is_scaled_by_its_length() -> None:
    net, exc = _network()
    with nm.Runtime(net, backend="reference") as rt:
        rt.run(12)
        ends, rate = rt.rates(exc, bin_ms=5)
        dense = rt.spikes(exc).to_dense()
    assert np.allclose(ends, [5, 10, 12])
    assert rate[-1] == pytest.approx(dense[10:].sum() / (48 * 2e-3))
