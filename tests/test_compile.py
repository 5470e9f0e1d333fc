"""Mapping invariants of nm.compile on random networks, every profile and every strategy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from netgen import clustered_network, network_seeds, random_network

import nmgraph as nm
from nmgraph.compilers.hardware import load_profile
from nmgraph.compilers.lower import lower
from nmgraph.compilers.synapse_graph import build_synapse_graph

PROFILES = ["generic", "loihi1", "loihi2", "spinnaker1", "spinnaker2"]
PARTITIONS = ["greedy", "balanced", "mincut"]


def recompute_usage(exe) -> dict[str, np.ndarray]:
    """Each core's use of every resource, from the synapses themselves (not the partitioner)."""
    graph = build_synapse_graph(exe.ir)
    unit_core = exe.partition.unit_core
    n = exe.n_cores
    pairs = {(int(s), int(unit_core[t])) for s, t in zip(graph.source(), graph.target)}
    axons_in = np.zeros(n, dtype=np.int64)
    axons_out = np.zeros(n, dtype=np.int64)
    for source, core in pairs:
        axons_in[core] += 1
        axons_out[unit_core[source]] += 1
    synapses = np.bincount(unit_core[graph.target], minlength=n)
    return {"neurons": np.bincount(unit_core, minlength=n), "axons_in": axons_in,
            "axons_out": axons_out, "synapses": synapses}


def check_invariants(exe) -> None:
    profile = exe.profile
    usage = recompute_usage(exe)
    for resource, value in usage.items():
        assert np.array_equal(value, exe.partition.usage[resource]), resource
    assert usage["neurons"].max() <= profile.neurons_per_core
    if profile.axons_in_per_core is not None:
        assert usage["axons_in"].max() <= profile.axons_in_per_core
    if profile.axons_out_per_core is not None:
        assert usage["axons_out"].max() <= profile.axons_out_per_core
    if profile.synapse_capacity is not None:
        assert usage["synapses"].max() <= profile.synapse_capacity
    # every unit in exactly one slice of one core
    seen = np.zeros(exe.ir.n_units, dtype=np.int64)
    for core in exe.cores:
        for name, start, stop in core.slices:
            pop = exe.ir.population(name)
            assert 0 <= start < stop <= pop.size
            seen[pop.offset + start:pop.offset + stop] += 1
        kinds = {exe.ir.population(name).is_source for name, _, _ in core.slices}
        assert len(kinds) <= 1, "a core mixes sources and neurons"
    assert np.all(seen == 1)
    # every synapse exactly once, on the core of its target, reachable through its source's axon
    graph = build_synapse_graph(exe.ir)
    tables, routing = exe.tables, exe.routing
    placed = 0
    for core in range(exe.n_cores):
        units = tables.core_units[tables.core_unit_ptr[core]:tables.core_unit_ptr[core + 1]]
        axons = routing.axon_source[routing.axon_indptr[core]:routing.axon_indptr[core + 1]]
        for a, source in enumerate(axons):
            g = routing.axon_indptr[core] + a
            lo, hi = tables.axon_syn_ptr[g], tables.axon_syn_ptr[g + 1]
            assert hi > lo, "an input axon without synapses"
            targets = units[tables.syn_target[lo:hi].astype(np.int64)]
            expected = graph.target[graph.indptr[source]:graph.indptr[source + 1]]
            expected = np.sort(expected[exe.partition.unit_core[expected] == core])
            assert np.array_equal(np.sort(targets), expected)
            placed += hi - lo
            # the route of this source reaches this core with this axon id
            d_lo, d_hi = routing.dest_indptr[source], routing.dest_indptr[source + 1]
            where = np.flatnonzero(routing.dest_core[d_lo:d_hi] == core)
            assert where.size == 1 and routing.dest_axon[d_lo + where[0]] == a
    assert placed == graph.n_synapses == exe.ir.n_synapses
    assert exe.partition.lower_bound["cores"] <= exe.n_cores


@pytest.mark.parametrize("hardware", PROFILES)
@pytest.mark.parametrize("strategy", PARTITIONS)
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=network_seeds)
def test_mapping_invariants(hardware: str, strategy: str, seed: int) -> None:
    net = random_network(seed, max_delay=8)
    cap = int(np.random.default_rng(seed).integers(3, 40))
    exe = nm.compile(net, hardware=hardware, partition=strategy, place="linear", seed=seed,
                     max_neurons_per_core=cap)
    check_invariants(exe)


@pytest.mark.parametrize("strategy", PARTITIONS)
@pytest.mark.parametrize("place", ["linear", "traffic"])
@settings(max_examples=5, deadline=None)
@given(seed=network_seeds)
def test_executable_runs_like_network(strategy: str, place: str, seed: int) -> None:
    """Mapping never changes results: same spikes on the Network and on its Executable (weights
    even, so that Loihi's quantization is exact)."""
    net = random_network(seed, even_weights=True)
    exe = nm.compile(net, hardware="loihi1", partition=strategy, place=place, seed=seed,
                     max_neurons_per_core=7)
    assert exe.quantization.exact
    with nm.Runtime(net, backend="reference") as a, nm.Runtime(exe, backend="reference") as b:
        a.run(40)
        b.run(40)
        for pop in exe.ir.populations:
            assert a.spikes(pop.name) == b.spikes(pop.name)


def test_loihi_quantization_is_reported() -> None:
    net = random_network(3)
    exe = nm.compile(net, hardware="loihi1")
    ir = lower(net)
    mixed = [p for p in ir.projections if (p.weights > 0).any() and (p.weights < 0).any()]
    odd = sum(int(np.count_nonzero(p.weights % 2)) for p in mixed)
    assert exe.quantization.changed == odd > 0
    for entry, proj in zip(exe.quantization.projections, exe.ir.projections):
        if entry.changed:
            assert np.all(proj.weights % 2 == 0)
    assert "changed" in exe.quantization.summary()


def test_mincut_cuts_messages_on_clustered_network() -> None:
    net, _ = clustered_network(communities=8, size=64, seed=5)
    greedy = nm.compile(net, hardware="loihi1", partition="greedy", max_neurons_per_core=64)
    mincut = nm.compile(net, hardware="loihi1", partition="mincut", max_neurons_per_core=64)

    def inter_core(exe) -> int:
        graph = build_synapse_graph(exe.ir)
        source_core = exe.partition.unit_core
        src = np.repeat(np.arange(exe.ir.n_units), np.diff(exe.routing.dest_indptr))
        return int(np.count_nonzero(exe.routing.dest_core != source_core[src])) + 0 * graph.n_units

    assert inter_core(mincut) < 0.5 * inter_core(greedy)


def test_does_not_fit_names_process_resource_and_limit() -> None:
    net = nm.Network("fanin")
    src = net.add(nm.processes.PoissonSource(shape=(300,), rate=0.1, seed=1, name="src"))
    syn = net.add(nm.processes.Dense(weights=np.ones((4, 300), dtype=int), name="syn1"))
    exc = net.add(nm.processes.LIF(shape=(4,), name="exc"))
    net.connect(src.s_out, syn.s_in)
    net.connect(syn.a_out, exc.a_in)
    with pytest.raises(nm.MappingError) as info:
        nm.compile(net, hardware="truenorth")
    text = str(info.value)
    assert "exc" in text and "256" in text and "300" in text


def test_too_many_chips_says_how_many() -> None:
    net = random_network(1, n_pops=3, max_size=40)
    profile = load_profile("loihi1").replace(cores_per_chip=2, mesh_shape=(1, 2),
                                             chips_available=1)
    with pytest.raises(nm.MappingError, match="chip"):
        nm.compile(net, hardware=profile, max_neurons_per_core=2)


def test_truenorth_network_that_fits() -> None:
    """One weight per source and at most 4 distinct weights per target population: TrueNorth's
    axon types express it exactly; all targets of a source stay on one core."""
    rng = np.random.default_rng(4)
    net = nm.Network("tn")
    src = net.add(nm.processes.PoissonSource(shape=(200,), rate=0.1, seed=2, name="src"))
    per_source = rng.choice([-3, 2, 5], size=200)
    mask = rng.random((100, 200)) < 0.3
    syn = net.add(nm.processes.Dense(weights=np.where(mask, per_source[None, :], 0), name="syn"))
    lif = net.add(nm.processes.LIF(shape=(100,), du=4095, dv=100, vth=3, name="lif"))
    net.connect(src.s_out, syn.s_in)
    net.connect(syn.a_out, lif.a_in)
    exe = nm.compile(net, hardware="truenorth")
    check_invariants(exe)
    assert exe.quantization.exact
    fanout = np.diff(exe.routing.dest_indptr)
    assert fanout.max() <= 1


def test_traffic_placement_reduces_hop_weighted_messages() -> None:
    net, _ = clustered_network(communities=8, size=64, seed=9)
    kwargs = {"hardware": "loihi1", "partition": "mincut", "max_neurons_per_core": 16}
    linear = nm.compile(net, place="linear", **kwargs)
    traffic = nm.compile(net, place="traffic", **kwargs)
    again = nm.compile(net, place="traffic", **kwargs)
    assert np.array_equal(traffic.placement.core_xy, again.placement.core_xy)  # deterministic
    assert traffic.unit_costs[:, 3].sum() < linear.unit_costs[:, 3].sum()


def test_executable_save_load_round_trip(tmp_path) -> None:
    from nmgraph.compilers.executable import Executable

    net = random_network(21)
    exe = nm.compile(net, hardware="spinnaker1", partition="mincut", place="traffic",
                     max_neurons_per_core=6)
    loaded = Executable.load(exe.save(tmp_path / "net"))
    assert loaded.ir.equals(exe.ir)
    assert loaded.profile == exe.profile
    assert loaded.cores == exe.cores
    check_invariants(loaded)
    with nm.Runtime(exe, backend="reference") as a, nm.Runtime(loaded, backend="reference") as b:
        a.run(20)
        b.run(20)
        for pop in exe.ir.populations:
            assert a.spikes(pop.name) == b.spikes(pop.name)
    bad = tmp_path / "bad.nmx"
    bad.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(nm.FileFormatError, match=r"bad\.nmx"):
        Executable.load(bad)
