"""A user-defined model (tests/user_models.py, outside the package) runs on both backends,
bit-identical for every partition and worker count, with snapshots; contract breaches name the
process and the model."""

from __future__ import annotations

import numpy as np
import pytest
from user_models import Broken, Izhikevich

import nmgraph as nm
from nmgraph.processes import LIF, Dense, PoissonSource, Sparse, fixed_probability

PARTITIONS = ["greedy", "balanced", "mincut"]


def izhikevich_network(n: int = 60) -> tuple[nm.Network, Izhikevich, LIF]:
    net = nm.Network("izh")
    rng = np.random.default_rng(5)
    src = net.add(PoissonSource(shape=(40,), rate=0.3, seed=7, name="src"))
    izh = net.add(Izhikevich(shape=(n,), a=rng.integers(2, 8, n), d=rng.integers(2, 9, n) << 8,
                             name="izh"))
    lif = net.add(LIF(shape=(30,), du=300, dv=200, vth=30, name="lif"))
    drive = net.add(Dense(weights=fixed_probability(40, n, p=0.3, weight=6, seed=1), name="drive"))
    out = net.add(Dense(weights=fixed_probability(n, 30, p=0.2, weight=9, seed=2), delay=2,
                        name="out"))
    back = net.add(Sparse((np.arange(30) * 2, np.arange(30), np.full(30, 3)), shape=(n, 30),
                          name="back"))
    net.connect(src.s_out, drive.s_in)
    net.connect(drive.a_out, izh.a_in)
    net.connect(izh.s_out, out.s_in)
    net.connect(out.a_out, lif.a_in)
    net.connect(lif.s_out, back.s_in)
    net.connect(back.a_out, izh.a_in)
    return net, izh, lif


def assert_same(a: nm.Runtime, b: nm.Runtime, names: list[str]) -> None:
    for name in names:
        assert a.spikes(name) == b.spikes(name), name
    for var in ("v", "u"):
        assert np.array_equal(a.get("izh", var), b.get("izh", var)), var
    assert a.counters.as_dict() == b.counters.as_dict()


def test_user_model_spikes() -> None:
    net, izh, _ = izhikevich_network()
    with nm.Runtime(net, backend="reference") as rt:
        rt.record(izh, "v")
        rt.run(200)
        assert len(rt.spikes(izh).times) > 50
        assert rt.recorded(izh, "v").shape == (200, 60)


@pytest.mark.parametrize("strategy", PARTITIONS)
@pytest.mark.parametrize("workers", [1, 2, 3, 4])
def test_user_model_bit_identical(strategy: str, workers: int) -> None:
    net, _, _ = izhikevich_network()
    exe = nm.compile(net, hardware="generic", partition=strategy, max_neurons_per_core=16)
    with nm.Runtime(exe, backend="reference") as ref, \
            nm.Runtime(exe, workers=workers) as rt:
        for runtime in (ref, rt):
            runtime.record("izh", "u")
            runtime.run(70)
            runtime.set("izh", "a", 3)
            runtime.run(50)
        assert_same(ref, rt, ["src", "izh", "lif"])
        assert np.array_equal(ref.recorded("izh", "u"), rt.recorded("izh", "u"))
        assert rt.counters.neuron_updates == 120 * 90


@pytest.mark.parametrize("backend", ["reference", "multicore"])
def test_user_model_snapshot_continues(tmp_path, backend: str) -> None:
    net, _, _ = izhikevich_network()
    exe = nm.compile(net, hardware="loihi1", max_neurons_per_core=20)
    with nm.Runtime(exe, backend="reference") as whole:
        whole.run(100)
    with nm.Runtime(exe, backend=backend, workers=None if backend == "reference" else 3) as rt:
        rt.run(40)
        path = rt.snapshot(tmp_path / "izh.nms")
    with nm.Runtime.restore(path, backend="multicore", workers=2) as again:
        again.run(60)
        assert_same(whole, again, ["src", "izh", "lif"])


def test_user_model_in_executable_file(tmp_path) -> None:
    net, _, _ = izhikevich_network()
    exe = nm.compile(net, hardware="generic")
    again = nm.compilers.executable.Executable.load(exe.save(tmp_path / "izh.nmx"))
    assert again.ir.population("izh").model == exe.ir.population("izh").model
    assert again.ir.equals(exe.ir)


def broken_network(mode: int) -> nm.Network:
    net = nm.Network("broken")
    src = net.add(PoissonSource(shape=(8,), rate=0.5, seed=1, name="src"))
    bad = net.add(Broken(shape=(8,), mode=mode, name="bad"))
    syn = net.add(Dense(weights=np.eye(8, dtype=int), name="syn"))
    net.connect(src.s_out, syn.s_in)
    net.connect(syn.a_out, bad.a_in)
    return net


@pytest.mark.parametrize(("mode", "words"), [(1, "bool array"), (2, "shape (8,)"),
                                             (3, "outside its declared range")])
@pytest.mark.parametrize("backend", ["reference", "multicore"])
def test_contract_breaches_name_process_and_model(mode: int, words: str, backend: str) -> None:
    net = broken_network(mode)
    error = nm.SimulationError if backend == "reference" else nm.WorkerError
    with nm.Runtime(net, backend=backend) as rt:
        with pytest.raises(error) as info:
            rt.run(10)
    message = str(info.value)
    assert "Broken 'bad'" in message and "BrokenModel" in message and words in message


def test_unregistered_process_class_is_named() -> None:
    class Orphan(nm.processes.NeuronProcess):
        abstract = False

        def __init__(self) -> None:
            super().__init__((3,), "orphan")
            self._finish()

    net = nm.Network()
    net.add(Orphan())
    with pytest.raises(nm.ValidationError, match="no model implements Orphan"):
        nm.compile(net)
