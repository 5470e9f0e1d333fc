"""Router tables: hexagonal geometry, NER trees, ordered covering, and compressed tables that route
every key exactly as the uncompressed ones (brute force over the keys used)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import nmgraph as nm
from nmgraph.compilers.route_compress import Table, lookup, ordered_covering
from nmgraph.compilers.topology import (
    hex_distance,
    longest_dimension_first,
    minimal_vector,
    ner_tree,
)
from nmgraph.processes import LIF, PoissonSource, Sparse
from nmgraph.processes.connectors import fixed_probability

E, NE, N, W, SW, S = range(6)


# -- hexagonal geometry ---------------------------------------------------------------------------

@pytest.mark.parametrize(("dx", "dy", "hops"), [
    (0, 0, 0), (3, 0, 3), (0, -2, 2), (2, 2, 2), (3, 1, 3), (-1, -4, 4), (2, -1, 3), (-3, 2, 5),
    (1, -1, 2), (-2, -2, 2)])
def test_hex_distance_by_hand(dx, dy, hops):
    assert int(hex_distance(dx, dy)) == hops


def test_minimal_vectors_and_longest_dimension_first_paths():
    assert minimal_vector(2, 2) == (0, 0, -2)          # two north-east steps
    assert minimal_vector(3, 1) == (2, 0, -1)          # NE then E twice
    assert minimal_vector(-1, -3) == (0, -2, 1)        # SW then S twice
    assert minimal_vector(2, -1) == (2, -1, 0)         # opposite signs: no diagonal
    assert minimal_vector(2, 2, links=4) == (2, 2, 0)
    # east first (the longest), then north-east
    assert longest_dimension_first((2, 0, -1), (0, 0)) == [(E, (1, 0)), (E, (2, 0)),
                                                           (NE, (3, 1))]
    assert longest_dimension_first((0, -2, 1), (5, 5)) == [(S, (5, 4)), (S, (5, 3)),
                                                           (SW, (4, 2))]
    # ties keep the order x, y, z
    assert longest_dimension_first((1, -1, 0), (0, 0)) == [(E, (1, 0)), (S, (1, -1))]


def test_ner_tree_by_hand():
    # (2, 0) and (2, 2) are both 2 hops from (0, 0): (2, 0) first (given first), by E, E; then
    # (2, 2): every tree node is 2 hops away, so the source (added first) is its parent: NE, NE
    tree = ner_tree((0, 0), [(2, 0), (2, 2)])
    assert tree.nodes == [(0, 0), (1, 0), (2, 0), (1, 1), (2, 2)]
    assert tree.in_link == [-1, E, E, NE, NE]
    assert tree.out_links == [1 << E | 1 << NE, 1 << E, 0, 1 << NE, 0]
    assert tree.n_links == 4
    # by distance: (1, 0) (1 hop), (1, 2) (2), (3, 0) (3). (1, 2) is 2 hops from both (0, 0)
    # and (1, 0): the source, added first; vector (0, 1, -1): N then NE. (3, 0) joins (1, 0),
    # its nearest node, and goes east twice
    tree = ner_tree((0, 0), [(3, 0), (1, 0), (1, 2)])
    assert tree.nodes == [(0, 0), (1, 0), (0, 1), (1, 2), (2, 0), (3, 0)]
    assert tree.in_link == [-1, E, N, NE, E, E]
    assert tree.out_links == [1 << E | 1 << N, 1 << E, 1 << NE, 0, 1 << E, 0]
    assert tree.n_links == 5
    # a path that meets the tree starts from the last tree node it meets: no chip twice
    tree = ner_tree((0, 0), [(1, 1), (3, 3), (4, 3)])
    assert len(set(tree.nodes)) == len(tree.nodes) == 5


# -- ordered covering -----------------------------------------------------------------------------

def expand(key: int, mask: int, width: int):
    """Every key a key/mask pair matches."""
    free = [b for b in range(width) if not (mask >> b) & 1]
    for values in itertools.product((0, 1), repeat=len(free)):
        yield key | sum(v << b for v, b in zip(values, free))


def routes_alike(original: Table, compressed: Table) -> None:
    """Every key the original table matches takes the same route in the compressed table, or
    default routing where the original entry was defaultable (first match wins in both)."""
    for key, mask in zip(original.keys, original.masks):
        for k in expand(key, mask, original.width):
            want = lookup(original, k)
            got = lookup(compressed, k)
            if got is None:
                assert original.defaultable[want], f"key {k:0{original.width}b} lost its entry"
            else:
                assert compressed.routes[got] == original.routes[want], f"key {k:b} misrouted"


def table(rows, width: int) -> Table:
    """``rows``: (pattern like '0X1', route, defaultable)."""
    keys = [int(p.replace("X", "0"), 2) for p, _, _ in rows]
    masks = [int("".join("0" if c == "X" else "1" for c in p), 2) for p, _, _ in rows]
    return Table(keys, masks, [r for _, r, _ in rows], [d for *_, d in rows], width)


def patterns(t: Table) -> list[str]:
    return ["".join("X" if not (m >> b) & 1 else str((k >> b) & 1)
                    for b in range(t.width - 1, -1, -1)) for k, m in zip(t.keys, t.masks)]


def test_three_of_four_merge_below_the_fourth():
    # 0000, 0001, 0010 -> E and 0011 -> N: 00XX -> E works only below 0011 -> N (order)
    original = table([("0000", E, False), ("0001", E, False), ("0010", E, False),
                      ("0011", N, False)], 4)
    out = ordered_covering(original)
    assert patterns(out) == ["0011", "00XX"]
    assert out.routes == [N, E]
    routes_alike(original, out)


def test_upcheck_keeps_an_entry_above_the_entry_that_would_cover_it():
    # merging 1000 with the other N entries would move it below X000 -> NE, which covers it
    original = table([("0011", N, False), ("0100", N, False), ("1000", N, False),
                      ("X000", NE, False)], 4)
    out = ordered_covering(original)
    assert patterns(out) == ["1000", "X000", "0XXX"]
    assert out.routes == [N, NE, N]
    routes_alike(original, out)


def test_downcheck_shrinks_a_merge_that_would_cover_a_lower_entry():
    # all four N|S entries would give 00XXX, covering key 00110 of XX1XX below it: only
    # 00001 and 00011 merge (000X1), as in Mundy et al.'s example
    ns, other = 100, 200
    original = table([("00001", ns, False), ("00011", ns, False), ("00100", ns, False),
                      ("00X00", ns, False), ("XX1XX", other, False)], 5)
    out = ordered_covering(original)
    assert patterns(out) == ["00100", "000X1", "00X00", "XX1XX"]
    routes_alike(original, out)


def test_defaultable_entries_keep_passing_packets_out_of_merges():
    # 01 passes straight through (defaultable, route E); merging 00 and 10 (route E too, but not
    # defaultable) with it is fine, yet 11 -> N must stay above; defaultable entries go at the end
    original = table([("00", E, False), ("01", E, True), ("10", E, False), ("11", N, False)], 2)
    out = ordered_covering(original)
    assert len(out) == 2 and patterns(out) == ["11", "XX"]
    routes_alike(original, out)
    # a lone defaultable entry with nothing below it is left to default routing
    alone = ordered_covering(table([("01", E, True), ("10", N, False)], 2))
    assert patterns(alone) == ["10"]


def test_target_stops_compression_early():
    # even keys route 0, odd keys route 1: the first merge takes the six even keys (XXX0), the
    # second the six odd ones (XXX1); a table within its target is left alone
    original = table([(f"{i:04b}", i % 2, False) for i in range(12)], 4)
    assert len(ordered_covering(original, target=12)) == 12
    assert len(ordered_covering(original, target=11)) == 7
    full = ordered_covering(original)
    assert patterns(full) == ["XXX1", "XXX0"]   # a merge goes above entries as general
    routes_alike(original, full)


@pytest.mark.parametrize("seed", range(12))
def test_random_tables_route_every_key_alike(seed):
    rng = np.random.default_rng(seed)
    width = 6
    n = int(rng.integers(4, 40))
    keys = rng.choice(1 << width, size=n, replace=False).tolist()
    # some aligned blocks of two (one X bit), the rest exact keys; keep the table orthogonal
    rows, used = [], set()
    for key in keys:
        mask = (1 << width) - 1
        if rng.random() < 0.3:
            key &= ~1
            mask &= ~1
        covered = set(expand(key, mask, width))
        if covered & used:
            continue
        used |= covered
        rows.append((key, mask, int(rng.integers(0, 3)), bool(rng.random() < 0.2)))
    original = Table([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
                     [r[3] for r in rows], width)
    out = ordered_covering(original)
    assert len(out) <= original.n_stored
    routes_alike(original, out)


# -- tables of compiled networks ------------------------------------------------------------------

def small_brunel(n: int = 1200, k: int = 40, seed: int = 3):
    """Exc/inh populations with a Poisson drive, enough cores for several chips."""
    net = nm.Network("small_brunel")
    src = net.add(PoissonSource(shape=(n,), rate=0.05, seed=seed))
    exc = net.add(LIF(shape=(4 * n // 5,), vth=50))
    inh = net.add(LIF(shape=(n // 5,), vth=50))
    for i, (pre, post) in enumerate([(src, exc), (exc, exc), (exc, inh), (inh, exc)]):
        p = k / pre.shape[0] if pre is not src else 2.0 / pre.shape[0]
        syn = net.add(Sparse(weights=fixed_probability(pre.shape[0], post.shape[0], p,
                                                       weight=-3 if pre is inh else 2,
                                                       seed=seed + i),
                             shape=(post.shape[0], pre.shape[0])))
        net.connect(pre.s_out, syn.s_in)
        net.connect(syn.a_out, post.a_in)
    return net


@pytest.mark.parametrize("place", ["linear", "traffic"])
def test_compressed_tables_route_every_core_key_alike(place):
    exe = nm.compile(small_brunel(), hardware="spinnaker1", place=place,
                     max_neurons_per_core=32)
    tables = exe.routing.tables
    assert exe.n_chips >= 4
    keys = tables.core_key[tables.core_key >= 0].tolist()
    for chip, (full, small) in enumerate(zip(tables.tables, tables.compressed_tables)):
        for key in keys:
            matches = [i for i, (k, m) in enumerate(zip(full.keys, full.masks)) if key & m == k]
            assert len(matches) <= 1, "the merged tables are orthogonal"
            if not matches:
                continue   # the core's packets never reach this chip
            got = lookup(small, key)
            if got is None:
                assert full.defaultable[matches[0]]
            else:
                assert small.routes[got] == full.routes[matches[0]]
        assert len(small) <= full.n_stored == tables.uncompressed[chip]
    np.testing.assert_array_equal(exe.routing.router_entries, tables.uncompressed)
    assert tables.compressed.sum() < tables.uncompressed.sum()
