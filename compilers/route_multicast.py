"""The ``key_multicast`` routing model (SpiNNaker): keys, multicast trees and router tables.

What sPyNNaker and PACMAN do, and what this pass does the same way:

* **Keys** (PACMAN's routing-info allocator): every source core (machine vertex) gets one block of
  routing keys, one key per unit, the unit's index in the low bits. The cores of one population
  (application vertex) take consecutive machine-vertex indices under one population prefix:
  ``key = population slot << index_bits | index`` (the per-unit bits are *X* in every entry and
  are left out here). A core holding units of several populations gets a slot of its own.
* **Trees** (PACMAN's NER router, :func:`~nmgraph.compilers.topology.ner_tree`): one multicast
  tree per source core, on the grid of chips, to every chip holding a core that any of its units
  reaches; at each chip the packet goes to the local cores in the union of its units' targets.
* **Entries** (PACMAN's routing-table generator): a chip of a tree needs an entry ``key/mask ->
  (links, cores)`` unless default routing does the same: the packet arrived from a neighbour and
  leaves by the opposite link only, to no local core (``defaultable``). The source chip always
  needs one.
* **Merging** (PACMAN's ``merged_routing_table_generator``): at a chip, the entries of one
  population's cores with consecutive indices and the same route become one entry per aligned
  power-of-two block of indices (key/mask pairs cover aligned blocks only). These merged tables,
  without the defaultable entries, are the *uncompressed* tables.
* **Compression** (SpiNNFrontEndCommon compresses a table when it exceeds the router's size):
  ordered covering (:mod:`~nmgraph.compilers.route_compress`, Mundy et al. 2016), given the
  defaultable entries too so that no merged entry captures a packet passing straight through.
  A chip holds its uncompressed table when that fits ``router_entries_per_chip`` and the table
  compressed until it fits (or as far as it goes) otherwise: :attr:`RouterTables.held`. The
  table compressed as far as it goes (sPyNNaker's ``router_table_compress_as_far_as_possible``)
  is reported beside it: :attr:`RouterTables.compressed`.

A spike of any unit of a source core is one packet that follows the core's whole tree: it crosses
each of the tree's links once and reaches every core of the union (see ``unit_costs`` in
``compilers/executable.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nmgraph.compilers.mapping_data import Placement
from nmgraph.compilers.route_compress import Table, ordered_covering
from nmgraph.compilers.synapse_graph import SynapseGraph, row_chunks
from nmgraph.compilers.topology import ner_tree

__all__ = ["RouterTables", "core_pairs", "multicast_tables"]

#: Unit pairs per chunk of :func:`core_pairs`.
_CHUNK = 1 << 21
#: Core pairs up to which :func:`core_pairs` marks a dense table (64 MiB of bools).
_DENSE_CELLS = 1 << 26


@dataclass(eq=False)
class RouterTables:
    """Router tables of a placed partition on a ``key_multicast`` profile.

    Attributes
    ----------
    uncompressed
        int64 ``(n_chips,)``: entries of each chip's merged table (defaultable entries left out).
    compressed
        int64 ``(n_chips,)``: entries after ordered covering as far as it goes.
    held
        int64 ``(n_chips,)``: entries the chip holds: ``uncompressed`` where it fits the
        profile's table, else the table compressed until it fits (or as far as it goes).
    core_key
        int64 ``(n_cores,)``: the routing key of each core's block (-1: the core sends nothing).
    key_bits
        Bits of a key (population slot and machine-vertex index).
    core_links
        int64 ``(n_cores,)``: chip-to-chip links of each core's multicast tree.
    tables
        Per chip, the merged table with its defaultable entries (what the compressor is given).
    compressed_tables
        Per chip, the table after ordered covering as far as it goes.
    """

    uncompressed: np.ndarray
    compressed: np.ndarray
    held: np.ndarray
    core_key: np.ndarray
    key_bits: int
    core_links: np.ndarray
    tables: list[Table]
    compressed_tables: list[Table]


def core_pairs(dest_indptr: np.ndarray, dest_core: np.ndarray, unit_core: np.ndarray,
               n_cores: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (source core, destination core) pairs of a routing's (unit, destination core)
    pairs (``dest_core[dest_indptr[u]:dest_indptr[u + 1]]`` for unit ``u``), sorted by source
    core, then destination core; int64.

    By chunks of units; on up to ``_DENSE_CELLS`` core pairs, marks in a dense table (no sort of
    the tens of millions of unit pairs), else the distinct keys of each chunk, merged.
    """
    dense = n_cores * n_cores <= _DENSE_CELLS
    hit = np.zeros(n_cores * n_cores if dense else 0, dtype=bool)
    found = []
    for u0, u1 in row_chunks(dest_indptr, _CHUNK):
        p0, p1 = int(dest_indptr[u0]), int(dest_indptr[u1])
        if p0 == p1:
            continue
        key = np.repeat(unit_core[u0:u1].astype(np.int64) * n_cores,
                        np.diff(dest_indptr[u0:u1 + 1]))
        key += dest_core[p0:p1]
        if dense:
            hit[key] = True
        else:
            found.append(np.unique(key))
    if dense:
        pairs = np.flatnonzero(hit).astype(np.int64)
    else:
        pairs = np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)
    return pairs // n_cores, pairs % n_cores


def multicast_tables(dest_indptr: np.ndarray, dest_core: np.ndarray, unit_core: np.ndarray,
                     n_cores: int, placement: Placement, graph: SynapseGraph, *, links: int,
                     limit: int | None) -> RouterTables:
    """Keys, NER trees and router tables of every source core (see the module docstring).

    ``dest_indptr, dest_core`` give each unit's destination cores; ``links`` the chip links
    (4 or 6); ``limit`` the router entries per chip (None: no limit).
    """
    n_chips = placement.n_chips
    core_src, core_dst = core_pairs(dest_indptr, dest_core, unit_core, n_cores)
    rows = _tree_rows(core_src, core_dst, n_cores, placement, links)
    row_core, row_chip, row_out, row_in, core_links = rows
    local = _local_cores(core_src, core_dst, row_core, row_chip, placement)
    has_local = local.any(axis=0)
    straight = np.left_shift(1, np.maximum(row_in, 0))
    defaultable = (row_in >= 0) & ~has_local & (row_out == straight)
    route_id = row_out.astype(np.int64)
    for word in local:   # one dense id per distinct (links, local cores)
        route_id = _combine(route_id, word)
    core_key, key_bits, slot, index = _core_keys(graph, unit_core, n_cores)
    core_key[np.diff(_sorted_indptr(core_src, n_cores)) == 0] = -1

    entries = _merged_entries(row_chip, slot[row_core], index[row_core], route_id, defaultable,
                              _index_bits(index))
    tables = _chip_tables(entries, n_chips, key_bits)
    uncompressed = np.array([t.n_stored for t in tables], dtype=np.int64)
    compressed_tables = [ordered_covering(t) if len(t) > 1 else _stored(t) for t in tables]
    compressed = np.array([len(t) for t in compressed_tables], dtype=np.int64)
    held = uncompressed.copy()
    if limit is not None:
        for chip in np.flatnonzero(uncompressed > limit).tolist():
            held[chip] = len(ordered_covering(tables[chip], target=limit))
    return RouterTables(uncompressed=uncompressed, compressed=compressed, held=held,
                        core_key=core_key, key_bits=key_bits, core_links=core_links,
                        tables=tables, compressed_tables=compressed_tables)


# --------------------------------------------------------------------------------------------------
# trees
# --------------------------------------------------------------------------------------------------

def _tree_rows(core_src: np.ndarray, core_dst: np.ndarray, n_cores: int, placement: Placement,
               links: int) -> tuple[np.ndarray, ...]:
    """One row per (source core, chip of its tree): ``(core, chip, out link bits, in link,
    links per core)``; ``in link`` is -1 at the source chip."""
    n_chips = placement.n_chips
    core_chip = np.asarray(placement.core_chip, dtype=np.int64)
    by_chip = np.unique(core_src * n_chips + core_chip[core_dst])
    dest_core, dest_chip = by_chip // n_chips, by_chip % n_chips
    bounds = _sorted_indptr(dest_core, n_cores)
    chip_xy = [(int(x), int(y)) for x, y in placement.chip_xy.tolist()]
    chip_at = {xy: chip for chip, xy in enumerate(chip_xy)}
    cache: dict[tuple[int, tuple[int, ...]], tuple[np.ndarray, ...]] = {}
    parts: list[tuple[np.ndarray, ...]] = []
    senders = np.flatnonzero(np.diff(bounds)).tolist()
    core_links = np.zeros(n_cores, dtype=np.int64)
    for core in senders:
        dests = tuple(dest_chip[bounds[core]:bounds[core + 1]].tolist())
        key = (int(core_chip[core]), dests)
        tree = cache.get(key)
        if tree is None:
            found = ner_tree(chip_xy[key[0]], [chip_xy[d] for d in dests], links)
            try:
                node_chip = np.array([chip_at[xy] for xy in found.nodes], dtype=np.int64)
            except KeyError as missing:   # pragma: no cover - placements list every grid place
                raise ValueError(f"a route crosses grid place {missing} without a chip") from None
            tree = cache[key] = (node_chip, np.array(found.out_links, dtype=np.int64),
                                 np.array(found.in_link, dtype=np.int64))
        parts.append(tree)
        core_links[core] = tree[0].size - 1
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, empty, core_links
    sizes = [p[0].size for p in parts]
    row_core = np.repeat(np.asarray(senders, dtype=np.int64), sizes)
    row_chip, row_out, row_in = (np.concatenate([p[i] for p in parts]) for i in range(3))
    return row_core, row_chip, row_out, row_in, core_links


def _local_cores(core_src: np.ndarray, core_dst: np.ndarray, row_core: np.ndarray,
                 row_chip: np.ndarray, placement: Placement) -> np.ndarray:
    """uint64 ``(words, rows)``: bit ``i`` of word ``i // 64`` set when the row's source core
    reaches core ``i`` (index within the chip) of the row's chip."""
    n_chips = placement.n_chips
    core_chip = np.asarray(placement.core_chip, dtype=np.int64)
    core_index = np.asarray(placement.core_index, dtype=np.int64)
    n_words = int(core_index.max()) // 64 + 1 if core_index.size else 1
    local = np.zeros((n_words, row_core.size), dtype=np.uint64)
    if not core_src.size:
        return local
    row_key = row_core * n_chips + row_chip
    order = np.argsort(row_key, kind="stable")
    pair_key = core_src * n_chips + core_chip[core_dst]
    position = order[np.searchsorted(row_key[order], pair_key)]  # every pair's chip is a row
    bit = np.left_shift(np.uint64(1), (core_index[core_dst] % 64).astype(np.uint64))
    word = core_index[core_dst] // 64
    for w in range(n_words):
        mine = word == w
        np.bitwise_or.at(local[w], position[mine], bit[mine])
    return local


# --------------------------------------------------------------------------------------------------
# keys, merging and tables
# --------------------------------------------------------------------------------------------------

def _core_keys(graph: SynapseGraph, unit_core: np.ndarray,
               n_cores: int) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
    """``(key, key bits, slot, index)`` per core: the population slot (a core of several
    populations gets a slot of its own) and the core's index among its population's cores."""
    sizes = [pop.size for pop in graph.ir.populations]
    unit_pop = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
    low = np.full(n_cores, np.iinfo(np.int64).max, dtype=np.int64)
    high = np.full(n_cores, -1, dtype=np.int64)
    np.minimum.at(low, unit_core, unit_pop)
    np.maximum.at(high, unit_core, unit_pop)
    pure = (low == high) & (high >= 0)
    slot = np.where(pure, low, len(sizes) + np.arange(n_cores, dtype=np.int64))
    index = np.zeros(n_cores, dtype=np.int64)
    for pop in np.unique(slot[pure]).tolist():
        mine = np.flatnonzero(slot == pop)
        index[mine] = np.arange(mine.size)
    index_bits = _index_bits(index)
    key_bits = max(int(slot.max(initial=0)).bit_length() + index_bits, 1)
    return (slot << index_bits) | index, key_bits, slot, index


def _index_bits(index: np.ndarray) -> int:
    return int(index.max(initial=0)).bit_length()


def _merged_entries(chip: np.ndarray, slot: np.ndarray, index: np.ndarray, route: np.ndarray,
                    defaultable: np.ndarray, index_bits: int) -> tuple[np.ndarray, ...]:
    """``(chip, key, block size, route, defaultable)`` of the merged entries: per (chip, slot,
    route, defaultable), the aligned power-of-two blocks of consecutive indices."""
    order = np.lexsort((index, defaultable, route, slot, chip))
    chip, slot, index, route, defaultable = (a[order] for a in (chip, slot, index, route,
                                                                 defaultable))
    n = chip.size
    new_group = np.ones(n, dtype=bool)
    if n:
        new_group[1:] = ((chip[1:] != chip[:-1]) | (slot[1:] != slot[:-1])
                         | (route[1:] != route[:-1]) | (defaultable[1:] != defaultable[:-1]))
    # a run: consecutive indices within a group
    new_run = new_group.copy()
    if n:
        new_run[1:] |= index[1:] != index[:-1] + 1
    run_start = np.flatnonzero(new_run)
    run_stop = np.append(run_start[1:], n)
    out_row, out_start, out_size = [], [], []
    single = run_stop - run_start == 1
    out_row.append(run_start[single])
    out_start.append(index[run_start[single]])
    out_size.append(np.ones(int(single.sum()), dtype=np.int64))
    for lo, hi in zip(run_start[~single].tolist(), run_stop[~single].tolist()):
        start, stop = int(index[lo]), int(index[hi - 1]) + 1
        while start < stop:   # the largest aligned block that starts here and fits
            size = start & -start if start else 1 << 62
            while start + size > stop:
                size >>= 1
            out_row.append(np.array([lo]))
            out_start.append(np.array([start]))
            out_size.append(np.array([size]))
            start += size
    rows = np.concatenate(out_row)
    starts = np.concatenate(out_start).astype(np.int64)
    sizes = np.concatenate(out_size).astype(np.int64)
    keys = (slot[rows] << index_bits) | starts
    return chip[rows], keys, sizes, route[rows], defaultable[rows]


def _chip_tables(entries: tuple[np.ndarray, ...], n_chips: int, key_bits: int) -> list[Table]:
    chip, keys, sizes, route, defaultable = entries
    full = (1 << key_bits) - 1
    masks = full & ~(sizes - 1)
    order = np.argsort(chip, kind="stable")
    bounds = np.searchsorted(chip[order], np.arange(n_chips + 1))
    tables = []
    for c in range(n_chips):
        mine = order[bounds[c]:bounds[c + 1]]
        tables.append(Table(keys[mine].tolist(), masks[mine].tolist(), route[mine].tolist(),
                            defaultable[mine].tolist(), key_bits))
    return tables


def _stored(table: Table) -> Table:
    keep = [i for i, flag in enumerate(table.defaultable) if not flag]
    return Table([table.keys[i] for i in keep], [table.masks[i] for i in keep],
                 [table.routes[i] for i in keep], [False] * len(keep), table.width)


def _sorted_indptr(groups: np.ndarray, n_groups: int) -> np.ndarray:
    bounds = np.arange(n_groups + 1, dtype=np.int64)
    return np.searchsorted(groups, bounds).astype(np.int64, copy=False)


def _combine(group: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Dense ids of the distinct ``(group, value)`` pairs."""
    group_ids, _ = _factorize(group)
    value_ids, n_values = _factorize(values)
    ids, _ = _factorize(group_ids * n_values + value_ids)
    return ids


def _factorize(values: np.ndarray) -> tuple[np.ndarray, int]:
    distinct = np.unique(values)
    return np.searchsorted(distinct, values).astype(np.int64), int(distinct.size)
