"""A tutorial in a test: an E/I network written in ms and Hz, monitored and plotted, and the same
network written in steps and fixed point, which spikes identically."""

from __future__ import annotations

import math

import numpy as np
import pytest

import nmgraph as nm
import nmgraph.plot  # nm.plot
from nmgraph.processes import LIF, PoissonSource, Sparse, connectors

DT_MS = 0.5
N_EXC, N_INH, N_DRIVE = 160, 40, 100


def _build(physical: bool) -> tuple[nm.Network, LIF, LIF]:
    net = nm.Network("ei_units", dt_ms=DT_MS)
    if physical:
        drive = PoissonSource(N_DRIVE, rate_hz=40.0, dt_ms=DT_MS, seed=7, name="drive")
        exc = LIF.from_time_constants(N_EXC, tau_u_ms=2.0, tau_v_ms=10.0, dt_ms=DT_MS, vth=160,
                                      name="exc")
        inh = LIF.from_time_constants(N_INH, tau_u_ms=1.0, tau_v_ms=5.0, dt_ms=DT_MS, vth=300,
                                      name="inh")
    else:
        # the same values worked out by hand: p = 40 Hz * 0.5 ms; tau in steps = tau_ms / 0.5;
        # du = round(4096 (1 - e^(-1/tau_u))) - 1, dv = round(4096 (1 - e^(-1/tau_v)))
        drive = PoissonSource(N_DRIVE, rate=40.0 * 0.5e-3, seed=7, name="drive")
        exc = LIF(N_EXC, du=round(4096 * (1 - math.exp(-1 / 4))) - 1,
                  dv=round(4096 * (1 - math.exp(-1 / 20))), vth=160, name="exc")
        inh = LIF(N_INH, du=round(4096 * (1 - math.exp(-1 / 2))) - 1,
                  dv=round(4096 * (1 - math.exp(-1 / 10))), vth=300, name="inh")
    for process in (drive, exc, inh):
        net.add(process)
    projections = [(drive, exc, 0.1, 60, 1), (drive, inh, 0.1, 60, 2), (exc, exc, 0.05, 12, 3),
                   (exc, inh, 0.1, 20, 4), (inh, exc, 0.2, -60, 5), (inh, inh, 0.1, -30, 6)]
    for pre, post, p, weight, seed in projections:
        syn = net.add(Sparse(connectors.fixed_probability(pre.size, post.size, p, weight,
                                                          seed=seed),
                             name=f"{pre.name}_to_{post.name}"))
        net.connect(pre.s_out, syn.s_in)
        net.connect(syn.a_out, post.a_in)
    return net, exc, inh


def test_physical_and_fixed_point_networks_are_the_same() -> None:
    physical, fixed = _build(True), _build(False)
    for name in ("exc", "inh"):
        for var in ("du", "dv"):
            assert np.array_equal(physical[0][name].var(var).value,
                                  fixed[0][name].var(var).value)
    assert np.allclose(physical[0]["drive"].rate, fixed[0]["drive"].rate)


@pytest.mark.parametrize("backend,workers", [("reference", None), ("multicore", 2)])
def test_ei_network_in_ms_and_hz(tmp_path, backend, workers) -> None:
    spikes = {}
    for physical in (True, False):
        net, exc, inh = _build(physical)
        exe = nm.compile(net, "loihi2", max_neurons_per_core=64)
        with nm.Runtime(exe, backend=backend, workers=workers) as rt:
            v = rt.record(exc, "v", neurons=np.arange(0, N_EXC, 20), every=5)
            rt.run(400)                                   # 200 ms
            spikes[physical] = (rt.spikes(exc), rt.spikes(inh))
            ends, rate = rt.rates(exc, bin_ms=5.0)
            if physical:
                monitor_values, monitor_t = v.values, v.t_ms
    assert spikes[True][0] == spikes[False][0] and spikes[True][1] == spikes[False][1]
    exc_events = spikes[True][0]
    assert len(exc_events) > 0
    assert exc_events.dt_ms == DT_MS
    assert monitor_values.shape == (80, 8)
    assert np.allclose(monitor_t, (1 + 5 * np.arange(80)) * DT_MS)
    assert ends[-1] == pytest.approx(200.0) and rate.shape == (40,)
    assert rate.mean() == pytest.approx(exc_events.rates_hz().mean())

    trace_png = tmp_path / "v.png"
    nm.plot.traces(monitor_values, t_ms=monitor_t, path=trace_png)
    raster_png = tmp_path / "raster.png"
    nm.plot.raster({"exc": spikes[True][0], "inh": spikes[True][1]}, path=raster_png)
    for png in (trace_png, raster_png):
        assert png.stat().st_size > 10_000
