"""The multi-core runtime is bit-identical to the reference simulator, whatever the mapping."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from netgen import network_seeds, random_network

import nmgraph as nm
from nmgraph.runtimes.multicore import MulticoreBackend

PARTITIONS = ["greedy", "balanced", "mincut"]
STATE = ("u", "v")


def reference_run(target, steps: list[int]) -> nm.Runtime:
    rt = nm.Runtime(target, backend="reference")
    for n in steps:
        rt.run(n)
    return rt


def assert_same(a: nm.Runtime, b: nm.Runtime, ir) -> None:
    for pop in ir.populations:
        assert a.spikes(pop.name) == b.spikes(pop.name), pop.name
        if not pop.is_source:
            for var in pop.state:
                assert np.array_equal(a.get(pop.name, var), b.get(pop.name, var)), (pop.name, var)
    ca, cb = a.counters, b.counters
    assert ca.as_dict() == cb.as_dict()
    assert ca.per_process == cb.per_process


@pytest.mark.parametrize("strategy", PARTITIONS)
@pytest.mark.parametrize("workers", [1, 2, 3, 4])
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=network_seeds)
def test_bit_identical_to_reference(strategy: str, workers: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    net = random_network(seed, max_delay=int(rng.integers(1, 12)))
    exe = nm.compile(net, hardware=str(rng.choice(["loihi1", "generic", "spinnaker1"])),
                     partition=strategy, place=str(rng.choice(["linear", "traffic"])),
                     seed=seed, max_neurons_per_core=int(rng.integers(2, 30)))
    split = [int(rng.integers(1, 25)) for _ in range(3)]
    with reference_run(exe, [sum(split)]) as ref, \
            nm.Runtime(exe, backend="multicore", workers=workers) as rt:
        for n in split:
            rt.run(n)
        assert rt.t == ref.t
        assert_same(ref, rt, exe.ir)


@pytest.mark.parametrize("workers", [1, 2])
def test_network_target_compiles_with_defaults(workers: int) -> None:
    net = random_network(11)
    with nm.Runtime(net, workers=workers) as rt, reference_run(net, [30]) as ref:
        rt.run(30)
        for pop in rt.ir.populations:
            assert rt.spikes(pop.name) == ref.spikes(pop.name)
        assert rt.executable is not None and rt.executable.profile.name == "generic"


@pytest.mark.parametrize("workers", [1, 3])
def test_record_get_set_match_reference(workers: int) -> None:
    net = random_network(23, n_pops=3)
    exe = nm.compile(net, hardware="loihi1", partition="mincut", max_neurons_per_core=4)
    neurons = [p for p in exe.ir.populations if not p.is_source]
    runtimes = [nm.Runtime(exe, backend="reference"),
                nm.Runtime(exe, backend="multicore", workers=workers)]
    try:
        for rt in runtimes:
            rt.run(5)
            for pop in neurons:
                rt.record(pop.name, "v")
            rt.run(10)
            target = neurons[0]
            rt.set(target.name, "v", 1000)
            rt.set(target.name, "bias_mant", 7)
            rt.run(10)
        ref, multi = runtimes
        for pop in neurons:
            expected = ref.recorded(pop.name, "v")
            assert expected.shape == (20, pop.size)
            assert np.array_equal(multi.recorded(pop.name, "v"), expected)
            assert np.array_equal(multi.get(pop.name, "bias_mant"), ref.get(pop.name, "bias_mant"))
        assert_same(ref, multi, exe.ir)
    finally:
        for rt in runtimes:
            rt.close()


def test_window_exchange_with_long_delays() -> None:
    """Delays >= 5 across workers let workers run windows of several steps between exchanges."""
    net = random_network(31, max_delay=9)
    for proc in net.processes:
        if isinstance(proc, nm.processes.Dense | nm.processes.Sparse):
            proc.delay.set(np.maximum(proc.delay.value, 5))
    exe = nm.compile(net, hardware="generic", max_neurons_per_core=6)
    backend = MulticoreBackend(exe, workers=2)
    try:
        assert backend.window >= 5
    finally:
        backend.close()
    with nm.Runtime(exe, workers=2) as rt, reference_run(exe, [37]) as ref:
        rt.run(37)
        assert_same(ref, rt, exe.ir)


def test_counters_match_routing_prediction() -> None:
    net = random_network(5)
    exe = nm.compile(net, hardware="loihi1", max_neurons_per_core=3, place="traffic")
    with nm.Runtime(exe, workers=2) as rt:
        rt.run(40)
        units = np.concatenate([rt.spikes(p.name).indices + p.offset for p in exe.ir.populations])
        predicted = exe.traffic_of(units)
        counters = rt.counters
        for name, value in predicted.items():
            assert getattr(counters, name) == value, name
        assert counters.messages == sum(predicted[k] for k in
                                        ("messages_core", "messages_cores", "messages_chips"))
        assert counters.synaptic_ops == int(exe.routing_out_degree[units].sum())


@pytest.mark.parametrize(("first", "second"), [("reference", "multicore"),
                                               ("multicore", "reference"),
                                               ("multicore", "multicore")])
def test_snapshot_restore_continues_exactly(tmp_path, first: str, second: str) -> None:
    net = random_network(17, max_delay=6)
    exe = nm.compile(net, hardware="loihi1", partition="mincut", max_neurons_per_core=5)
    with reference_run(exe, [45]) as whole:
        with nm.Runtime(exe, backend=first, **({"workers": 2} if first == "multicore" else {})) \
                as rt:
            rt.run(20)
            path = rt.snapshot(tmp_path / "run")
        workers = {"workers": 3} if second == "multicore" else {}
        with nm.Runtime.restore(path, backend=second, **workers) as restored:
            assert restored.t == 20
            restored.run(25)
            assert_same(whole, restored, exe.ir)


def test_corrupt_snapshot_is_a_clear_error(tmp_path) -> None:
    bad = tmp_path / "bad.nms"
    bad.write_bytes(b"not a zip at all")
    with pytest.raises(nm.FileFormatError, match=r"bad\.nms"):
        nm.Runtime.restore(bad)


TARGET_LAYOUTS = {"uint16": {"TARGET16_NEURONS": 1 << 16},
                  "uint16-blocks": {"TARGET16_NEURONS": 0, "BLOCK_BITS": 3, "MIN_BLOCKED_SEGMENT": 0},
                  "int32": {"TARGET16_NEURONS": 0, "MIN_BLOCKED_SEGMENT": 10**9}}


@pytest.mark.parametrize("ring_bound", [2**31 - 1, 0])
@pytest.mark.parametrize("targets", list(TARGET_LAYOUTS))
@pytest.mark.parametrize("delays", ["few", "many"])
def test_every_kernel_layout_is_bit_identical(monkeypatch, ring_bound: int, targets: str,
                                              delays: str) -> None:
    """int32/int64 ring x uint16/blocked uint16/int32 targets, rows split by delay or mixed,
    shared or own weights: each layout the builder can choose gives the reference's results."""
    from nmgraph.runtimes import multicore_program as mp
    from nmgraph.runtimes._fanout import MIXED_DELAYS, OWN_WEIGHTS

    monkeypatch.setattr(mp, "RING32_BOUND", ring_bound)
    for name, value in TARGET_LAYOUTS[targets].items():
        monkeypatch.setattr(mp, name, value)
    net = random_network(5, max_size=60, max_delay=2 if delays == "few" else 12)
    exe = nm.compile(net, hardware="generic", max_neurons_per_core=25)
    with nm.Runtime(exe, backend="multicore", workers=2) as rt, reference_run(exe, [40]) as ref:
        programs = rt.backend.programs
        assert all((p.ring.dtype == np.int32) == (ring_bound > 0) for p in programs)
        assert all((p.syn_target.dtype == np.uint16) == (targets != "int32") for p in programs)
        bases = np.concatenate([p.segments["base"] for p in programs])
        assert (bases > 0).any() == (targets == "uint16-blocks")
        flags = np.concatenate([p.segments["flags"][:-1] for p in programs])
        assert (flags & OWN_WEIGHTS).any() and not (flags & OWN_WEIGHTS).all()
        if delays == "many":
            assert (flags & MIXED_DELAYS).any()
        else:  # some rows are split into one segment per delay
            assert any((np.diff(p.row_seg) > 1).any() for p in programs)
        rt.run(40)
        assert_same(ref, rt, exe.ir)


@pytest.mark.parametrize("workers", [1, 2])
def test_heterogeneous_parameters_after_set(workers: int) -> None:
    """Runs of neurons with shared parameters are updated with constants; setting per-neuron
    values makes a run heterogeneous, and back: results follow the reference either way."""
    net = random_network(3, max_size=60, max_delay=3)
    exe = nm.compile(net, hardware="generic", max_neurons_per_core=20)
    neurons = [pop for pop in exe.ir.populations if not pop.is_source]
    rng = np.random.default_rng(0)
    with nm.Runtime(exe, backend="multicore", workers=workers) as rt, \
            nm.Runtime(exe, backend="reference") as ref:
        for phase in range(3):
            for runtime in (rt, ref):
                runtime.run(15)
            assert_same(ref, rt, exe.ir)
            for pop in neurons:
                values = rng.integers(0, 40, pop.size) if phase == 0 else 9
                for name in ("bias_mant", "dv"):
                    rt.set(pop.name, name, values)
                    ref.set(pop.name, name, values)
    # the builder's view of the same: refresh_runs marks runs heterogeneous and back
    from nmgraph.runtimes.multicore_program import build_programs, refresh_runs

    program = build_programs(exe, np.zeros(exe.n_cores, dtype=np.int64))[0]
    runs = [run for run in program.runs if not run.model.is_source]
    uniform = program.kernel_runs["uniform"][[program.runs.index(run) for run in runs]]
    assert uniform.all() and len(runs) >= len(neurons)
    for run in runs:
        run.params.bias_mant[:] = np.arange(run.count) % 7
    refresh_runs(program)
    assert not program.kernel_runs["uniform"][[program.runs.index(run) for run in runs]].any()
    for run in runs:
        run.params.bias_mant[:], run.params.bias_exp[:] = 5, 1
    refresh_runs(program)
    picked = [program.runs.index(run) for run in runs]
    assert program.kernel_runs["uniform"][picked].all()
    assert (program.kernel_runs["konst"][picked, 3] == 10).all()   # bias = 5 << 1


@pytest.mark.parametrize("workers", [1, 2])
def test_poisson_runs_with_shared_and_own_rates(workers: int) -> None:
    """A Poisson population of one rate is filled with a constant threshold, one with a rate per
    unit reads its thresholds: both give the reference's spikes."""
    from nmgraph.processes import LIF, PoissonSource, Sparse

    net = nm.Network()
    shared = PoissonSource(30, rate=0.2, seed=3, name="shared")
    own = PoissonSource(30, rate=np.linspace(0.0, 0.5, 30), seed=4, name="own")
    lif = LIF(shape=(30,), du=4095, dv=400, vth=20, name="lif")
    for proc in (shared, own, lif):
        net.add(proc)
    for src, weight in ((shared, 40), (own, 30)):
        syn = Sparse((np.arange(30), np.arange(30), np.full(30, weight)), shape=(30, 30),
                     name=f"{src.name}_lif")
        net.add(syn)
        net.connect(src.s_out, syn.s_in)
        net.connect(syn.a_out, lif.a_in)
    exe = nm.compile(net, hardware="generic", max_neurons_per_core=10)
    with nm.Runtime(exe, backend="multicore", workers=workers) as rt, reference_run(exe, [50]) as ref:
        uniform = {run.name: bool(p.kernel_runs["uniform"][i]) for p in rt.backend.programs
                   for i, run in enumerate(p.runs) if run.model.is_source}
        assert uniform == {"shared": True, "own": False}
        rt.run(50)
        assert_same(ref, rt, exe.ir)
        assert len(rt.spikes("lif").times) > 0


def test_core_groups_are_runs_of_consecutive_cores() -> None:
    """The fan-out builder reads each group as one range of cores: a group never spans a gap,
    even after cores without synapses (source cores), and stays within the chunk size."""
    from nmgraph.runtimes import multicore_program as mp

    cores = np.array([0, 2, 3, 4, 7, 8, 9, 12])
    synapses = np.array([0, 0, 5, 5, 0, 3, 3, 1])
    groups = mp._core_groups(cores, synapses)
    assert [g.tolist() for g in groups] == [[0], [2, 3, 4], [7, 8, 9], [12]]
    original = mp._CHUNK
    try:
        mp._CHUNK = 6
        assert [g.tolist() for g in mp._core_groups(cores, synapses)] == \
            [[0], [2, 3], [4], [7, 8, 9], [12]]
    finally:
        mp._CHUNK = original
