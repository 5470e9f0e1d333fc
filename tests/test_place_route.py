"""Placement and routing on small hand-made partitions, checked against brute-force references."""

from __future__ import annotations

from collections import defaultdict
from itertools import pairwise

import numpy as np
import pytest

import nmgraph as nm
from nmgraph.compilers.hardware import HardwareProfile, load_profile
from nmgraph.compilers.lower import lower
from nmgraph.compilers.mapping_data import Partition
from nmgraph.compilers.place import (
    chip_layout,
    core_traffic,
    hop_positions,
    hop_weighted_traffic,
    place,
)
from nmgraph.compilers.route import route
from nmgraph.compilers.synapse_graph import SynapseGraph, axon_pairs, build_synapse_graph
from nmgraph.core.errors import MappingError, ValidationError
from nmgraph.processes import LIF, Dense, PoissonSource, Sparse


def mesh_profile(cores_per_chip: int = 4, mesh: tuple[int, int] = (2, 2), **extra):
    """A small core-mesh chip (Loihi-like: unicast, no router tables)."""
    return HardwareProfile(name="small_mesh", neurons_per_core=64, max_delay=16,
                           cores_per_chip=cores_per_chip, mesh_shape=mesh, **extra)


def router_profile(cores_per_chip: int = 2, entries: int | None = 1000, **extra):
    """A small chip-router chip (SpiNNaker-like: multicast, router tables)."""
    return HardwareProfile(name="small_router", neurons_per_core=64, max_delay=16,
                           cores_per_chip=cores_per_chip, mesh_shape=(1, cores_per_chip),
                           topology="chip_router", router_entries_per_chip=entries, **extra)


def random_graph(seed: int, n_source: int = 12, n_exc: int = 30, n_inh: int = 10):
    """Poisson -> Dense -> exc, exc -> Sparse -> inh, inh -> Dense -> exc (random weights)."""
    rng = np.random.default_rng(seed)
    net = nm.Network(f"random{seed}")
    src = net.add(PoissonSource(shape=(n_source,), rate=0.1, seed=seed))
    exc = net.add(LIF(shape=(n_exc,), vth=100))
    inh = net.add(LIF(shape=(n_inh,), vth=100))
    drive = net.add(Dense(weights=(rng.random((n_exc, n_source)) < 0.3).astype(int)))
    post, pre = np.nonzero(rng.random((n_inh, n_exc)) < 0.2)
    e2i = net.add(Sparse(weights=(post, pre, np.ones(post.size, dtype=int)),
                         shape=(n_inh, n_exc)))
    i2e = net.add(Dense(weights=-(rng.random((n_exc, n_inh)) < 0.4).astype(int)))
    net.connect(src.s_out, drive.s_in)
    net.connect(drive.a_out, exc.a_in)
    net.connect(exc.s_out, e2i.s_in)
    net.connect(e2i.a_out, inh.a_in)
    net.connect(inh.s_out, i2e.s_in)
    net.connect(i2e.a_out, exc.a_in)
    return build_synapse_graph(lower(net))


def random_partition(graph: SynapseGraph, n_cores: int, seed: int) -> Partition:
    """Units spread at random over ``n_cores`` cores (every core gets at least one unit)."""
    rng = np.random.default_rng(seed)
    unit_core = np.concatenate([np.arange(n_cores),
                                rng.integers(0, n_cores, graph.n_units - n_cores)])
    rng.shuffle(unit_core)
    return hand_partition(unit_core)


def hand_partition(unit_core, n_cores: int | None = None) -> Partition:
    unit_core = np.asarray(unit_core, dtype=np.int64)
    n_cores = int(unit_core.max()) + 1 if n_cores is None else n_cores
    return Partition(unit_core=unit_core, core_kind=["neuron"] * n_cores, usage={},
                     lower_bound={}, strategy="hand")


def fan_out_graph(n_targets: int, targets: list[int], n_sources: int = 1,
                  source_targets: list[list[int]] | None = None) -> SynapseGraph:
    """PoissonSource(n_sources) -> Sparse -> LIF(n_targets); source j reaches the given neurons."""
    source_targets = source_targets or [targets]
    post = np.concatenate([np.asarray(t) for t in source_targets])
    pre = np.concatenate([np.full(len(t), j) for j, t in enumerate(source_targets)])
    net = nm.Network("fan")
    src = net.add(PoissonSource(shape=(n_sources,), rate=0.5, seed=1))
    syn = net.add(Sparse(weights=(post, pre, np.ones(post.size, dtype=int)),
                         shape=(n_targets, n_sources)))
    lif = net.add(LIF(shape=(n_targets,)))
    net.connect(src.s_out, syn.s_in)
    net.connect(syn.a_out, lif.a_in)
    return build_synapse_graph(lower(net))


# -- brute-force references -----------------------------------------------------------------------

def xy_path(start, end):
    """Nodes of the X-then-Y path from ``start`` to ``end`` (both included)."""
    (x0, y0), (x1, y1) = start, end
    step = 1 if x1 >= x0 else -1
    nodes = [(x, y0) for x in range(x0, x1 + step, step)]
    step = 1 if y1 >= y0 else -1
    nodes += [(x1, y) for y in range(y0 + step, y1 + step, step)]
    return nodes


def tree_links(source, destinations) -> set:
    links = set()
    for end in destinations:
        path = xy_path(source, end)
        links |= {frozenset(pair) for pair in pairwise(path)}
    return links


HEX = {0: (1, 0), 1: (1, 1), 2: (0, 1), 3: (-1, 0), 4: (-1, -1), 5: (0, -1)}


def chip_distance(a, b, links: int) -> int:
    dx, dy = b[0] - a[0], b[1] - a[1]
    if links == 6 and (dx >= 0) == (dy >= 0):
        return max(abs(dx), abs(dy))
    return abs(dx) + abs(dy)


def ldf_steps(start, end, links: int) -> list:
    """``[(link, chip), ...]`` of PACMAN's longest-dimension-first path (minimal vector: the
    median of (dx, dy, 0) taken off each; links E 0, NE 1, N 2, W 3, SW 4, S 5)."""
    dx, dy = end[0] - start[0], end[1] - start[1]
    median = sorted((dx, dy, 0))[1] if links == 6 else 0
    vector = [dx - median, dy - median, -median]   # east, north, south-west steps
    moves = {0: (0, 3), 1: (2, 5), 2: (4, 1)}
    steps, (x, y) = [], start
    for axis in sorted(range(3), key=lambda a: abs(vector[a]), reverse=True):
        link = moves[axis][0 if vector[axis] > 0 else 1]
        for _ in range(abs(vector[axis])):
            x, y = x + HEX[link][0], y + HEX[link][1]
            steps.append((link, (x, y)))
    return steps


def reference_tree(source, destinations, links: int) -> dict:
    """PACMAN's NER tree as ``{chip: (parent, link)}`` (the source maps to None)."""
    tree = {source: None}
    for dest in sorted(destinations, key=lambda d: chip_distance(source, d, links)):
        best = None
        for node in tree:   # the nearest node (first added on ties) within 20 hops
            d = chip_distance(node, dest, links)
            if d <= 20 and (best is None or d < best[0]):
                best = (d, node)
        parent = source if best is None else best[1]
        steps = ldf_steps(parent, dest, links)
        for i in range(len(steps) - 1, -1, -1):
            if steps[i][1] in tree:
                parent, steps = steps[i][1], steps[i + 1:]
                break
        for link, chip in steps:
            tree[chip] = (parent, link)
            parent = chip
    return tree


def core_unions(routing, partition) -> dict:
    union = defaultdict(set)
    for unit in range(routing.dest_indptr.size - 1):
        dests = routing.dest_core[routing.dest_indptr[unit]:routing.dest_indptr[unit + 1]]
        union[int(partition.unit_core[unit])].update(int(c) for c in dests)
    return union


def reference_entries(routing, partition, placement, graph, links: int = 4) -> np.ndarray:
    """Router entries per chip from explicit NER trees, one tree per source core to the union of
    its units' destination cores (see the route modules' docstrings)."""
    chip_at = {tuple(int(v) for v in xy): chip for chip, xy in enumerate(placement.chip_xy)}
    chip_of = [tuple(int(v) for v in placement.chip_xy[c]) for c in placement.core_chip]
    groups = set()
    for source_core, dests in core_unions(routing, partition).items():
        if not dests:
            continue
        start = chip_of[source_core]
        tree = reference_tree(start, sorted({chip_of[c] for c in dests}, key=chip_at.get), links)
        out_links, local = defaultdict(set), defaultdict(set)
        for up in tree.values():
            if up is not None:
                out_links[up[0]].add(up[1])
        for core in dests:
            local[chip_of[core]].add(int(placement.core_index[core]))
        for node, up in tree.items():
            straight = up is not None and not local[node] and out_links[node] == {up[1]}
            if not straight:
                groups.add((chip_at[node], source_core, frozenset(out_links[node]),
                            frozenset(local[node])))
    # merge: the cores of one population with one route at a chip take as many key/mask pairs as
    # the smallest cover of their indices by aligned power-of-two blocks (recursive halving)
    pops = partition_populations(partition, graph.ir)
    merged = defaultdict(set)
    for chip, core, out, local in groups:
        population, index = pops[core]
        key = (chip, population if population >= 0 else ("alone", core), out, local)
        merged[key].add(index)
    counts = np.zeros(placement.n_chips, dtype=np.int64)
    for (chip, *_), indices in merged.items():
        counts[chip] += cover(sorted(indices), 0, 1 << 20)
    return counts


def cover(indices: list[int], lo: int, size: int) -> int:
    """Aligned blocks of size a power of two, within [lo, lo + size), that cover ``indices``."""
    inside = [i for i in indices if lo <= i < lo + size]
    if not inside:
        return 0
    if len(inside) == size:
        return 1
    half = size // 2
    return cover(inside, lo, half) + cover(inside, lo + half, half)


def partition_populations(partition, ir) -> list[tuple[int, int]]:
    """(population, index among its cores) per core (-1 for a core of several populations)."""
    unit_pop = np.repeat(np.arange(len(ir.populations)), [p.size for p in ir.populations])
    out, seen = [], defaultdict(int)
    for core in range(partition.n_cores):
        pops = set(unit_pop[partition.unit_core == core].tolist())
        if len(pops) == 1:
            pop = pops.pop()
            out.append((pop, seen[pop]))
            seen[pop] += 1
        else:
            out.append((-1, 0))
    return out


# -- routes ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(4))
def test_every_pair_is_routed_once_with_its_axon(seed):
    graph = random_graph(seed)
    partition = random_partition(graph, n_cores=9, seed=seed)
    profile = mesh_profile()
    placement = place(partition, graph, profile, "traffic" if seed % 2 else "linear", seed=seed)
    routing = route(partition, placement, graph, profile)

    sources, cores = axon_pairs(graph, partition.unit_core)
    routed_sources = np.repeat(np.arange(graph.n_units), np.diff(routing.dest_indptr))
    np.testing.assert_array_equal(routed_sources, sources)
    np.testing.assert_array_equal(routing.dest_core, cores)
    expected = {(int(s), int(partition.unit_core[t])) for s, t in zip(graph.source(), graph.target)}
    assert set(zip(routed_sources.tolist(), routing.dest_core.tolist())) == expected
    assert len(expected) == routing.dest_core.size  # each pair exactly once

    # dest_axon indexes the ascending list of distinct sources that reach the core
    found = routing.axon_source[routing.axon_indptr[routing.dest_core] + routing.dest_axon]
    np.testing.assert_array_equal(found, routed_sources)
    for core in range(partition.n_cores):
        axons = routing.axon_source[routing.axon_indptr[core]:routing.axon_indptr[core + 1]]
        np.testing.assert_array_equal(axons, np.unique(sources[cores == core]))


@pytest.mark.parametrize("profile", [mesh_profile(), router_profile(cores_per_chip=3)],
                         ids=["core_mesh", "chip_router"])
def test_hops_are_manhattan_distances_and_trees_are_unions(profile):
    graph = random_graph(7, n_source=20, n_exc=40, n_inh=12)
    partition = random_partition(graph, n_cores=14, seed=7)
    placement = place(partition, graph, profile, "linear")
    routing = route(partition, placement, graph, profile)
    xy = hop_positions(placement, profile)
    if profile.topology == "chip_router":
        np.testing.assert_array_equal(xy, placement.chip_xy[placement.core_chip])
    else:
        np.testing.assert_array_equal(xy, placement.core_xy)
    sources = np.repeat(np.arange(graph.n_units), np.diff(routing.dest_indptr))
    start, end = xy[partition.unit_core[sources]], xy[routing.dest_core]
    np.testing.assert_array_equal(routing.hops_x, np.abs(end[:, 0] - start[:, 0]))
    np.testing.assert_array_equal(routing.hops_y, np.abs(end[:, 1] - start[:, 1]))

    if not routing.multicast:
        unicast = np.bincount(sources, weights=routing.hops_x + routing.hops_y,
                              minlength=graph.n_units)
        longest = np.zeros(graph.n_units)
        np.maximum.at(longest, sources, routing.hops_x + routing.hops_y)
        assert np.all(routing.tree_hops <= unicast)
        assert np.all(routing.tree_hops >= longest)
        for unit in range(graph.n_units):
            ends = [tuple(p) for p in end[sources == unit].tolist()]
            source_xy = tuple(xy[partition.unit_core[unit]].tolist())
            assert routing.tree_hops[unit] == len(tree_links(source_xy, ends))
        return
    # multicast: every unit's spike follows its core's NER tree to the union of its core's targets
    chip_of = [tuple(int(v) for v in placement.chip_xy[c]) for c in placement.core_chip]
    unions = core_unions(routing, partition)
    for unit in range(graph.n_units):
        core = int(partition.unit_core[unit])
        ends = sorted({chip_of[c] for c in unions.get(core, ())})
        links = len(reference_tree(chip_of[core], ends, 4)) - 1 if ends else 0
        assert routing.tree_hops[unit] == links


def test_hand_computed_multicast_tree():
    # one 4 x 4 chip; the source on core 0 at (0, 0); LIF neuron k on core k + 1 at
    # ((k + 1) % 4, (k + 1) // 4). Destinations (3, 0), (3, 1), (1, 2), (1, 3): cores 3, 7, 9, 13.
    graph = fan_out_graph(15, targets=[2, 6, 8, 12])
    partition = hand_partition(np.arange(16))
    profile = mesh_profile(cores_per_chip=16, mesh=(4, 4))
    placement = place(partition, graph, profile)
    routing = route(partition, placement, graph, profile)
    np.testing.assert_array_equal(routing.dest_core[:routing.dest_indptr[1]], [3, 7, 9, 13])
    np.testing.assert_array_equal(routing.hops_x[:4], [3, 3, 1, 1])
    np.testing.assert_array_equal(routing.hops_y[:4], [0, 1, 2, 3])
    # the tree: 3 links along row 0, column 3 goes down 1, column 1 goes down 3
    assert routing.tree_hops[0] == 3 + 1 + 3
    assert (routing.hops_x[:4] + routing.hops_y[:4]).sum() == 14
    assert not routing.multicast
    np.testing.assert_array_equal(routing.chip_crossings[:4], 0)
    np.testing.assert_array_equal(routing.router_entries, [0])


def test_chip_crossings_on_two_chips():
    # 2 chips of 2 x 2 cores side by side: chip 0 holds x 0..1, chip 1 holds x 2..3
    graph = fan_out_graph(7, targets=[0, 3, 6])  # neuron k on core k + 1
    partition = hand_partition(np.arange(8))
    profile = mesh_profile()
    placement = place(partition, graph, profile)
    np.testing.assert_array_equal(placement.chip_xy, [[0, 0], [1, 0]])
    routing = route(partition, placement, graph, profile)
    np.testing.assert_array_equal(routing.dest_core, [1, 4, 7])
    np.testing.assert_array_equal(placement.core_xy[[0, 1, 4, 7]], [[0, 0], [1, 0], [2, 0],
                                                                     [3, 1]])
    np.testing.assert_array_equal(routing.chip_crossings, [0, 1, 1])
    np.testing.assert_array_equal(routing.hops_x + routing.hops_y, [1, 2, 4])


def test_chip_crossings_on_a_grid_of_chips():
    # 4 chips of 2 x 2 cores on a 2 x 2 grid; from core 0 (chip 0) to core 15 (chip 3): 2 crossings
    graph = fan_out_graph(15, targets=[14, 4, 8])  # cores 15 (chip 3), 5 (chip 1), 9 (chip 2)
    partition = hand_partition(np.arange(16))
    profile = mesh_profile()
    placement = place(partition, graph, profile)
    np.testing.assert_array_equal(placement.chip_xy, [[0, 0], [1, 0], [0, 1], [1, 1]])
    routing = route(partition, placement, graph, profile)
    np.testing.assert_array_equal(routing.dest_core, [5, 9, 15])
    np.testing.assert_array_equal(routing.chip_crossings, [1, 1, 2])


# -- placement ------------------------------------------------------------------------------------

def test_linear_positions():
    graph = fan_out_graph(19, targets=[0])
    partition = hand_partition(np.arange(20))
    profile = mesh_profile(cores_per_chip=6, mesh=(2, 4))  # 8 places, 6 used; 4 chips, 2 x 2 grid
    placement = place(partition, graph, profile, "linear")
    cores = np.arange(20)
    np.testing.assert_array_equal(placement.core_chip, cores // 6)
    np.testing.assert_array_equal(placement.core_index, cores % 6)
    np.testing.assert_array_equal(placement.chip_xy, [[0, 0], [1, 0], [0, 1], [1, 1]])
    chip_xy = placement.chip_xy[cores // 6]
    local = np.stack([(cores % 6) % 4, (cores % 6) // 4], axis=1)
    np.testing.assert_array_equal(placement.core_xy, chip_xy * [4, 2] + local)
    assert placement.strategy == "linear"
    for core in (0, 7, 19):
        assert tuple(placement.core_xy[core]) == profile.global_position(
            int(placement.core_chip[core]), int(placement.core_index[core]), 4)


def test_generic_profile_is_one_chip():
    graph = fan_out_graph(9, targets=[1, 8])
    partition = hand_partition(np.arange(10))
    profile = load_profile("generic")
    placement = place(partition, graph, profile)
    np.testing.assert_array_equal(placement.core_chip, 0)
    np.testing.assert_array_equal(placement.chip_xy, [[0, 0]])
    _, cols = profile.mesh(10)
    np.testing.assert_array_equal(placement.core_xy[:, 0], np.arange(10) % cols)
    np.testing.assert_array_equal(placement.core_xy[:, 1], np.arange(10) // cols)
    routing = route(partition, placement, graph, profile)
    np.testing.assert_array_equal(routing.chip_crossings, 0)


def test_chip_grid_fits_the_chips_available():
    # 5 chips needed and 5 available: the near-square 2 x 3 grid has 6 places, so a 1 x 5 row
    profile = mesh_profile(chips_available=5)
    graph = fan_out_graph(19, targets=[0])
    placement = place(hand_partition(np.arange(20)), graph, profile)
    np.testing.assert_array_equal(placement.chip_xy[:, 1], 0)
    assert placement.n_chips == 5
    # without a limit the grid is a full near-square rectangle; the sixth chip stays empty
    layout = chip_layout(mesh_profile(), 20)
    assert layout.grid == (2, 3) and layout.chips_needed == 5


def test_too_many_chips_raises():
    profile = mesh_profile(chips_available=2)
    graph = fan_out_graph(8, targets=[0])
    with pytest.raises(MappingError, match=r"needs 3 chips .* has 2"):
        place(hand_partition(np.arange(9)), graph, profile)
    with pytest.raises(MappingError, match=r"needs 3 chips .*system 'Kapoho Bay' has 2"):
        place(hand_partition(np.arange(300)), fan_out_graph(299, targets=[0]),
              load_profile("loihi1:Kapoho Bay"))


def test_unknown_strategy_lists_the_strategies():
    graph = fan_out_graph(3, targets=[0])
    with pytest.raises(ValidationError, match="linear, traffic"):
        place(hand_partition(np.arange(4)), graph, mesh_profile(), "spiral")


def clustered_case(seed: int = 3):
    """8 communities of 24 LIF neurons, dense inside (p = 0.5) and sparse between (p = 0.01); each
    community on 3 cores of 8 neurons, core ids shuffled: 24 cores on 4 chips of 2 x 4."""
    rng = np.random.default_rng(seed)
    n_groups, size = 8, 24
    n = n_groups * size
    group = np.arange(n) // size
    same = group[:, None] == group[None, :]
    weights = (rng.random((n, n)) < np.where(same, 0.5, 0.01)).astype(int)
    np.fill_diagonal(weights, 0)
    net = nm.Network("clustered")
    lif = net.add(LIF(shape=(n,), vth=1000))
    syn = net.add(Dense(weights=weights))
    net.connect(lif.s_out, syn.s_in)
    net.connect(syn.a_out, lif.a_in)
    graph = build_synapse_graph(lower(net))
    shuffled = rng.permutation(n // 8)
    return graph, hand_partition(shuffled[np.arange(n) // 8])


def test_traffic_placement_beats_linear_and_is_deterministic():
    graph, partition = clustered_case()
    profile = mesh_profile(cores_per_chip=8, mesh=(2, 4))
    traffic = core_traffic(partition, graph)
    linear = place(partition, graph, profile, "linear")
    first = place(partition, graph, profile, "traffic", seed=5)
    again = place(partition, graph, profile, "traffic", seed=5)
    linear_cost = hop_weighted_traffic(traffic, linear, profile)
    traffic_cost = hop_weighted_traffic(traffic, first, profile)
    assert traffic_cost < 0.8 * linear_cost
    for name in ("core_chip", "core_index", "core_xy", "chip_xy"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
    assert first.strategy == "traffic"
    # a valid placement: every core on its own place of one of the chips needed
    places = first.core_chip * 8 + first.core_index
    assert np.unique(places).size == partition.n_cores
    assert first.core_index.max() < 8 and first.core_chip.max() < 3
    routing = route(partition, first, graph, profile)
    assert (routing.hops_x + routing.hops_y).sum() == traffic_cost


@pytest.mark.parametrize("seed", range(3))
def test_traffic_placement_never_costs_more_than_linear(seed):
    graph = random_graph(seed)
    partition = random_partition(graph, n_cores=11, seed=seed)
    for profile in (mesh_profile(), router_profile(cores_per_chip=3)):
        traffic = core_traffic(partition, graph)
        linear = hop_weighted_traffic(traffic, place(partition, graph, profile), profile)
        placed = place(partition, graph, profile, "traffic", seed=seed)
        assert hop_weighted_traffic(traffic, placed, profile) <= linear


def test_core_traffic_counts_messages():
    graph = random_graph(1)
    partition = random_partition(graph, n_cores=6, seed=1)
    sources, cores = axon_pairs(graph, partition.unit_core)
    rates = np.random.default_rng(0).random(graph.n_units)
    expected = np.zeros((6, 6))
    np.add.at(expected, (partition.unit_core[sources], cores), rates[sources])
    np.testing.assert_allclose(core_traffic(partition, graph, rates).toarray(), expected)
    per_spike = core_traffic(partition, graph).toarray()
    assert per_spike.sum() == sources.size
    with pytest.raises(ValidationError, match="rates"):
        core_traffic(partition, graph, rates[:-1])


def test_rates_steer_traffic_placement():
    graph, partition = clustered_case()
    profile = mesh_profile(cores_per_chip=8, mesh=(2, 4))
    rates = np.linspace(0.0, 1.0, graph.n_units)
    placed = place(partition, graph, profile, "traffic", rates=rates)
    traffic = core_traffic(partition, graph, rates)
    linear = place(partition, graph, profile, "linear")
    assert hop_weighted_traffic(traffic, placed, profile) <= hop_weighted_traffic(traffic, linear,
                                                                                  profile)


# -- router tables --------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(4))
def test_router_entries_match_explicit_trees(seed):
    graph = random_graph(seed, n_source=16, n_exc=36, n_inh=12)
    partition = random_partition(graph, n_cores=17, seed=seed)  # 9 chips of 2 cores: 3 x 3 grid
    profile = router_profile(cores_per_chip=2)
    placement = place(partition, graph, profile, "traffic" if seed % 2 else "linear", seed=seed)
    routing = route(partition, placement, graph, profile)
    assert routing.multicast
    np.testing.assert_array_equal(routing.router_entries,
                                  reference_entries(routing, partition, placement, graph))


def test_router_entries_on_chips_of_more_than_64_cores():
    # local core sets then take several 64-bit words (the general, unpacked path)
    graph = random_graph(9, n_source=40, n_exc=150, n_inh=40)
    partition = random_partition(graph, n_cores=150, seed=9)  # 3 chips of 70 on a 2 x 2 grid
    profile = router_profile(cores_per_chip=70)
    placement = place(partition, graph, profile)
    assert placement.core_index.max() >= 64
    routing = route(partition, placement, graph, profile)
    np.testing.assert_array_equal(routing.router_entries,
                                  reference_entries(routing, partition, placement, graph))


def test_router_entries_merge_units_of_a_source_core():
    # two sources on core 0 (chip 0) reach the same core on chip 3: one shared entry per chip on
    # the way; a third source on core 1, of the same population and with the same route, merges
    # with them (machine-vertex indices 0 and 1: one key/mask pair)
    graph = fan_out_graph(6, targets=[], n_sources=3, source_targets=[[5], [5], [5]])
    partition = hand_partition([0, 0, 1, 2, 3, 4, 5, 6, 7])  # sources 0, 1 on core 0; 2 on core 1
    profile = router_profile(cores_per_chip=2)  # 4 chips on a 2 x 2 grid
    placement = place(partition, graph, profile)
    routing = route(partition, placement, graph, profile)
    # neuron 5 is on core 7: chip 3 at (1, 1). Tree: chip 0 (source), chip 1 (turn), chip 3 (local)
    np.testing.assert_array_equal(routing.router_entries, [1, 1, 0, 1])
    np.testing.assert_array_equal(routing.tree_hops[:3], [2, 2, 2])


def test_one_tree_per_source_core_whatever_its_units_reach():
    # sources 0 and 1 share core 0 but reach different cores of chip 3 (neurons 4 and 5 on cores
    # 6 and 7): one tree per source core, to the union, so one entry per chip on its way
    graph = fan_out_graph(6, targets=[], n_sources=2, source_targets=[[4], [5]])
    partition = hand_partition([0, 0, 1, 2, 3, 4, 6, 7])
    profile = router_profile(cores_per_chip=2)
    placement = place(partition, graph, profile)
    routing = route(partition, placement, graph, profile)
    assert placement.core_chip[6] == placement.core_chip[7] == 3
    np.testing.assert_array_equal(routing.router_entries, [1, 1, 0, 1])


def test_straight_through_chips_need_no_entry():
    # a row of 4 chips; a source on chip 0 reaching chip 3 passes chips 1 and 2 straight through
    graph = fan_out_graph(7, targets=[6])
    partition = hand_partition(np.arange(8))
    profile = router_profile(cores_per_chip=2, chip_mesh=(1, 4))
    placement = place(partition, graph, profile)
    np.testing.assert_array_equal(placement.chip_xy, [[0, 0], [1, 0], [2, 0], [3, 0]])
    routing = route(partition, placement, graph, profile)
    np.testing.assert_array_equal(routing.router_entries, [1, 0, 0, 1])


def test_router_table_overflow_raises():
    graph = random_graph(2, n_source=16, n_exc=36, n_inh=12)
    partition = random_partition(graph, n_cores=17, seed=2)
    profile = router_profile(cores_per_chip=2, entries=3)
    placement = place(partition, graph, profile)
    with pytest.raises(MappingError, match=r"chip \d+ at \(\d+, \d+\) needs \d+ router entries "
                       r"but small_router allows 3 per chip") as caught:
        route(partition, placement, graph, profile)
    assert "traffic" in str(caught.value) and "fewer source cores" in str(caught.value)
    assert caught.value.routing.router_entries.max() > 3
    relaxed = route(partition, placement, graph, profile, strict=False)
    np.testing.assert_array_equal(relaxed.router_entries, caught.value.routing.router_entries)


def test_builtin_profiles_multicast_flag():
    graph = fan_out_graph(3, targets=[2])
    partition = hand_partition(np.arange(4))
    for name, multicast in (("loihi1", False), ("spinnaker1", True), ("truenorth", False)):
        profile = load_profile(name)
        placement = place(partition, graph, profile)
        assert route(partition, placement, graph, profile).multicast is multicast


def test_neuron_unicast_allows_one_destination_core_per_neuron():
    # TrueNorth: unit 0 reaching two cores needs splitters; the routing pass refuses it
    graph = fan_out_graph(3, targets=[0, 2])
    partition = hand_partition(np.arange(4))
    profile = load_profile("truenorth")
    assert profile.routing == "neuron_unicast"
    placement = place(partition, graph, profile)
    with pytest.raises(MappingError, match=r"unit 0 reaches 2 cores but a truenorth neuron sends "
                       r"to at most 1 .*splitter"):
        route(partition, placement, graph, profile)
    assert route(partition, placement, graph, profile, strict=False).dest_core.size == 2


def test_pairs_can_be_passed_in():
    graph = random_graph(5)
    partition = random_partition(graph, n_cores=9, seed=5)
    profile = router_profile(cores_per_chip=3)
    pairs = axon_pairs(graph, partition.unit_core)
    placement = place(partition, graph, profile, "traffic", pairs=pairs)
    given = route(partition, placement, graph, profile, pairs=pairs)
    computed = route(partition, placement, graph, profile)
    for name in ("dest_indptr", "dest_core", "dest_axon", "axon_indptr", "axon_source", "hops_x",
                 "hops_y", "chip_crossings", "tree_hops", "router_entries"):
        np.testing.assert_array_equal(getattr(given, name), getattr(computed, name))


def test_units_without_synapses_and_empty_graph():
    net = nm.Network("quiet")
    net.add(LIF(shape=(5,)))
    graph = build_synapse_graph(lower(net))
    partition = hand_partition(np.arange(5) // 2)
    profile = router_profile(cores_per_chip=2)
    placement = place(partition, graph, profile, "traffic")
    routing = route(partition, placement, graph, profile)
    np.testing.assert_array_equal(routing.dest_indptr, 0)
    np.testing.assert_array_equal(routing.axon_indptr, 0)
    np.testing.assert_array_equal(routing.tree_hops, 0)
    np.testing.assert_array_equal(routing.router_entries, 0)


# -- six links per chip (SpiNNaker) ----------------------------------------------------------------

def test_six_link_hops_are_hexagonal_distances():
    graph = random_graph(11, n_source=20, n_exc=40, n_inh=12)
    partition = random_partition(graph, n_cores=18, seed=11)  # 9 chips of 2 cores: 3 x 3 grid
    profile = router_profile(cores_per_chip=2, chip_links=6)
    placement = place(partition, graph, profile, "linear")
    routing = route(partition, placement, graph, profile)
    xy = placement.chip_xy[placement.core_chip]
    sources = np.repeat(np.arange(graph.n_units), np.diff(routing.dest_indptr))
    start, end = xy[partition.unit_core[sources]], xy[routing.dest_core]
    hops = [chip_distance(tuple(a), tuple(b), 6) for a, b in zip(start.tolist(), end.tolist())]
    np.testing.assert_array_equal(routing.hops_x + routing.hops_y, hops)
    np.testing.assert_array_equal(routing.hops_x, np.abs(end[:, 0] - start[:, 0]))
    np.testing.assert_array_equal(routing.chip_crossings, hops)
    assert any(h < abs(b[0] - a[0]) + abs(b[1] - a[1])
               for h, a, b in zip(hops, start.tolist(), end.tolist()))   # diagonals used


@pytest.mark.parametrize("seed", range(4))
def test_six_link_router_entries_and_trees_match_explicit_ner_trees(seed):
    graph = random_graph(seed, n_source=16, n_exc=36, n_inh=12)
    partition = random_partition(graph, n_cores=23, seed=seed)  # 12 chips of 2: 3 x 4 grid
    profile = router_profile(cores_per_chip=2, chip_links=6)
    placement = place(partition, graph, profile, "traffic" if seed % 2 else "linear", seed=seed)
    routing = route(partition, placement, graph, profile)
    np.testing.assert_array_equal(routing.router_entries,
                                  reference_entries(routing, partition, placement, graph, 6))
    chip_of = [tuple(int(v) for v in placement.chip_xy[c]) for c in placement.core_chip]
    unions = core_unions(routing, partition)
    for unit in range(graph.n_units):
        core = int(partition.unit_core[unit])
        ends = sorted({chip_of[c] for c in unions.get(core, ())},
                      key=lambda xy: xy[1] * 4 + xy[0])
        expected = len(reference_tree(chip_of[core], ends, 6)) - 1 if ends else 0
        assert routing.tree_hops[unit] == expected


def test_six_link_hand_computed_tree():
    # 9 chips of one core on a 3 x 3 grid (chip k at (k % 3, k // 3)); the source on chip 0 at
    # (0, 0) reaches chips 2 at (2, 0) and 8 at (2, 2). NER: (2, 0) by E, E; (2, 2) by NE, NE
    # from the source. Entries: chip 0 (source: E and NE), chip 2 and chip 8 (local cores);
    # chips 1 and 4 pass the packet straight on (default routing).
    graph = fan_out_graph(8, targets=[1, 7])
    partition = hand_partition(np.arange(9))
    profile = router_profile(cores_per_chip=1, chip_mesh=(3, 3), chip_links=6)
    placement = place(partition, graph, profile)
    routing = route(partition, placement, graph, profile)
    np.testing.assert_array_equal(routing.dest_core, [2, 8])
    np.testing.assert_array_equal(routing.router_entries, [1, 0, 1, 0, 0, 0, 0, 0, 1])
    assert routing.tree_hops[0] == 4
    np.testing.assert_array_equal(routing.hops_x + routing.hops_y, [2, 2])
    # on four links the same tree climbs (2, 0) -> (2, 2): E, E, N, N (X first on ties)
    square = router_profile(cores_per_chip=1, chip_mesh=(3, 3))
    routing = route(partition, place(partition, graph, square), graph, square)
    assert routing.tree_hops[0] == 4
    np.testing.assert_array_equal(routing.router_entries, [1, 0, 1, 0, 0, 0, 0, 0, 1])
    np.testing.assert_array_equal(routing.hops_x + routing.hops_y, [2, 4])


def test_six_links_need_a_chip_router():
    with pytest.raises(ValidationError, match="chip_links"):
        mesh_profile(chip_links=6)
    with pytest.raises(ValidationError, match="chip_links"):
        router_profile(chip_links=5)


def test_traffic_placement_counts_hexagonal_hops():
    graph = random_graph(4, n_source=20, n_exc=40, n_inh=12)
    partition = random_partition(graph, n_cores=18, seed=4)
    hexagonal = router_profile(cores_per_chip=2, chip_links=6)
    linear = place(partition, graph, hexagonal, "linear")
    traffic = core_traffic(partition, graph)
    xy = linear.chip_xy[linear.core_chip]
    coo = traffic.tocoo()
    expected = sum(w * chip_distance(tuple(xy[i]), tuple(xy[j]), 6)
                   for i, j, w in zip(coo.row, coo.col, coo.data))
    assert hop_weighted_traffic(traffic, linear, hexagonal) == pytest.approx(expected)
    placed = place(partition, graph, hexagonal, "traffic", seed=1)
    assert hop_weighted_traffic(traffic, placed, hexagonal) <= expected
