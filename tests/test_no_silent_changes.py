"""No silent changes: edits after compile are caught, adjusted requests warn, reading changes nothing."""

from __future__ import annotations

import warnings

import matplotlib.pyplot
import numpy as np
import pytest

import nmgraph as nm
from nmgraph.processes import LIF, Dense, PoissonSource


def _network() -> tuple[nm.Network, PoissonSource, LIF]:
    net = nm.Network("edited")
    src = net.add(PoissonSource(20, rate=0.2, seed=4, name="src"))
    lif = net.add(LIF(30, du=300, dv=200, vth=40, name="lif"))
    syn = net.add(Dense(np.random.default_rng(2).integers(0, 20, (30, 20)), name="syn"))
    net.connect(src.s_out, syn.s_in)
    net.connect(syn.a_out, lif.a_in)
    return net, src, lif


@pytest.mark.parametrize("edit,what", [
    (lambda net, src, lif: setattr(lif, "vth", 99), "'lif'"),
    (lambda net, src, lif: lif.vth.set(99), "'lif'"),
    (lambda net, src, lif: setattr(src, "rate", 0.5), "'src'"),
    (lambda net, src, lif: setattr(src, "seed", 5), "'src'"),
    (lambda net, src, lif: net.add(LIF(3, name="late")), "structure"),
])
@pytest.mark.parametrize("backend", ["reference", "multicore"])
def test_edit_after_compile_is_caught(edit, what, backend) -> None:
    net, src, lif = _network()
    exe = nm.compile(net, "loihi1")
    edit(net, src, lif)
    with pytest.raises(nm.SimulationError, match=f"edited after nm.compile: .*{what}"):
        nm.Runtime(exe, backend=backend)
    # the Network itself is lowered (and compiled) as it is now
    with nm.Runtime(net, backend=backend) as rt:
        rt.run(2)


def test_unedited_and_loaded_executables_run(tmp_path) -> None:
    from nmgraph.compilers.executable_io import load_executable, save_executable

    net, src, lif = _network()
    exe = nm.compile(net, "loihi1")
    _ = lif.vth.value, lif.v.get(), src.rate      # reading is not editing
    with nm.Runtime(exe, backend="reference") as rt:
        rt.run(3)
        assert rt.t == 3 and exe.source.changes() == []
    path = save_executable(exe, tmp_path / "exe")
    lif.vth = 5                                    # a file holds no network to compare with
    loaded = load_executable(path)
    assert loaded.source is None
    with nm.Runtime(loaded, backend="reference") as rt:
        rt.run(3)
        assert rt.t == 3


def test_more_workers_than_cores_warns_with_the_count() -> None:
    net, _, _ = _network()
    exe = nm.compile(net, "loihi1")
    assert exe.n_cores == 2
    # one core of neurons (too small to split) and the source core that drives it: one worker
    with pytest.warns(nm.AdjustmentWarning, match=r"workers=8 asked, but 1 worker\(s\) will run"):
        with nm.Runtime(exe, backend="multicore", workers=8) as rt:
            assert rt.backend.n_workers == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with nm.Runtime(exe, backend="multicore", workers=1):
            pass


@pytest.mark.parametrize("backend,workers", [("reference", None), ("multicore", 2)])
def test_reading_results_changes_nothing(backend, workers) -> None:
    net, src, lif = _network()
    exe = nm.compile(net, "loihi1", max_neurons_per_core=10)
    with nm.Runtime(exe, backend=backend, workers=workers) as plain:
        plain.run(30)
        expected = (plain.spikes(lif), plain.get(lif, "v"), plain.counters.as_dict())
    with nm.Runtime(exe, backend=backend, workers=workers) as rt:
        monitor = rt.record(lif, "u", neurons=[0, 3], every=2)
        rt.run(10)
        for _ in range(2):
            _ = rt.counters, rt.spikes(lif), rt.spikes(src), rt.rates(lif, bin_ms=2)
            _ = rt.get(lif, "v"), rt.get(lif, "u"), rt.counters.per_process, monitor.values
            nm.plot.raster({"src": rt.spikes(src), "lif": rt.spikes(lif)})
            nm.plot.traces(monitor)
            matplotlib.pyplot.close("all")
        rt.run(20)
        assert rt.spikes(lif) == expected[0]
        assert np.array_equal(rt.get(lif, "v"), expected[1])
        assert rt.counters.as_dict() == expected[2]


def test_weight_bits_truncation_warns_on_the_reference_path_too() -> None:
    from nmgraph.processes import IF, SpikeGenerator

    net = nm.Network("bits")
    gen = net.add(SpikeGenerator(np.ones((2, 1), dtype=bool)))
    syn = net.add(Dense([[5]], num_weight_bits=6, name="d"))
    out = net.add(IF(1, vth=1000, name="out"))
    net.connect(gen.s_out, syn.s_in)
    net.connect(syn.a_out, out.a_in)
    with pytest.warns(nm.QuantizationWarning, match=r"in 'd' \(1\)"):
        rt = nm.Runtime(net, backend="reference")
    rt.run(2)                                # sent at step 1, delay 1: arrives at step 2
    assert rt.get(out, "u")[0] == 4 << 6     # Lava: 5 with 2 low bits dropped is 4


def test_the_callers_arrays_are_not_aliased() -> None:
    """Editing an array after handing it to a process changes neither the process nor what was
    compiled (a Var keeps its own copy), so edit detection cannot be bypassed."""
    net = nm.Network("alias")
    gen = net.add(PoissonSource(4, rate=0.5, seed=1, name="gen"))
    vth = np.full(4, 100, dtype=np.int32)
    weights = (np.eye(4) * 50).astype(np.int16)
    lif = net.add(LIF(4, vth=vth, name="lif"))
    syn = net.add(Dense(weights, name="syn"))
    net.connect(gen.s_out, syn.s_in)
    net.connect(syn.a_out, lif.a_in)
    exe = nm.compile(net, "generic")
    vth[:] = 1
    weights[:] = 0
    assert np.all(lif.vth.value == 100) and np.all(syn.weights.value.diagonal() == 50)
    assert exe.source.changes() == []
    row = np.array([7], dtype=np.int32)                 # a broadcast stays a cheap broadcast
    lif.vth = row
    row[0] = 9
    assert np.all(lif.vth.value == 7) and lif.vth.value.strides == (0,)


def test_a_refused_assignment_is_not_an_edit() -> None:
    net, src, lif = _network()
    exe = nm.compile(net, "loihi1")
    for process, attribute, value in [(lif, "vth", -5), (lif, "name", "other"),
                                      (lif, "reset", "bogus"), (src, "rate", 7)]:
        with pytest.raises(nm.ValidationError):
            setattr(process, attribute, value)
    assert exe.source.changes() == []
    with nm.Runtime(exe, backend="reference") as rt:
        rt.run(1)
