"""Routing: spike routes of a placed partition, hop counts, multicast trees and router tables.

For each source unit, its destination cores are the cores holding its targets, and its input axon
on each is its rank among the distinct source units reaching that core (ascending), as on Loihi.
Messages follow dimension-order routing on the mesh: X first, then Y. The path from ``(x0, y0)`` to
``(x1, y1)`` is the horizontal segment at ``y0`` and then the vertical segment at ``x1``, so

* a unicast message takes ``|x1 - x0|`` + ``|y1 - y0|`` hops (``hops_x``, ``hops_y``);
* a unit's multicast tree (the union of its paths) has ``max(x0, max x1) - min(x0, min x1)`` links
  on row ``y0`` plus, for each destination column, ``max(y0, max y1) - min(y0, min y1)`` links;
* a path crosses ``|cx1 - cx0| + |cy1 - cy0|`` chip boundaries (chip grid coordinates).

Hops are counted on the mesh of cores (``core_mesh``) or, on ``chip_router`` profiles (SpiNNaker),
on the grid of chips (see :func:`~nmgraph.compilers.place.hop_positions`).

Router tables (profiles with ``router_entries_per_chip``, such as SpiNNaker's 1,023): keys are
allocated per source core (one contiguous key block per core, one mask covering it) and each source
core has one multicast tree, to the union of its units' destination cores, as sPyNNaker routes a
machine vertex's packets: a chip needs one entry per source core whose tree needs one there. A
chip needs an entry for a tree only where the packet does not pass straight through: at the
source chip, at each destination chip, and where the tree turns from its row into a destination
column; elsewhere default routing (out of the link opposite the one it came in on) carries it, as
on SpiNNaker. Trees are taken on the grid of chips (the chip-level projection of the core-level
X-then-Y paths is the X-then-Y path between the chips). Entries of one population's source cores
that leave a chip the same way merge where their keys allow (consecutive key blocks per
population: one key/mask pair per aligned power-of-two block of machine-vertex indices). Still
idealised: a square grid of chips rather than SpiNN-5's hexagonal one, and no ordered-covering
compression.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nmgraph.compilers.hardware import load_profile
from nmgraph.compilers.mapping_data import Partition, Placement, Routing
from nmgraph.compilers.place import hop_positions, routed_pairs
from nmgraph.compilers.synapse_graph import SynapseGraph, count_values, pair_dtypes, row_chunks
from nmgraph.core.errors import MappingError, ValidationError

__all__ = ["MULTICAST", "is_multicast", "route"]

#: Whether a chip's network replicates a spike along a multicast tree (SpiNNaker) or its source
#: core sends one unicast message per destination core (Loihi, TrueNorth). Profiles not listed
#: are multicast when they have router tables or a chip-level router.
MULTICAST = {"loihi1": False, "loihi2": False, "spinnaker1": True, "spinnaker2": True,
             "truenorth": False, "generic": False}

#: Elements of the dense per-chunk scratch arrays (units x columns, units x chips).
_CHUNK = 1 << 21
#: Entries per chunk of the element-wise loops (cache-sized: several times faster than whole
#: arrays of tens of millions, and the temporaries stay small).
_ELEMENTS = 1 << 14
#: Pairs per range of units of :func:`_delta`.
_SPAN = 1 << 16
#: Link bits of a routing entry.
_EAST, _WEST, _NORTH, _SOUTH = 1, 2, 4, 8


def is_multicast(profile) -> bool:
    """True when ``profile``'s routers send a spike along a multicast tree."""
    profile = load_profile(profile)
    if profile.name in MULTICAST:
        return MULTICAST[profile.name]
    return profile.router_entries_per_chip is not None or profile.topology == "chip_router"


def route(partition: Partition, placement: Placement, graph: SynapseGraph, profile, *,
          pairs: tuple[np.ndarray, np.ndarray] | None = None, strict: bool = True) -> Routing:
    """Route every (source unit, destination core) pair of a placed partition.

    Parameters
    ----------
    partition, placement
        The cores and where they sit.
    graph
        The synapse graph the partition was made from.
    profile
        A HardwareProfile or anything ``load_profile`` accepts.
    pairs
        ``axon_pairs(graph, partition.unit_core)`` if already computed (by source, then core).
    strict
        Raise when a chip needs more router entries than the profile allows (the error carries
        the routing as ``error.routing``); with ``strict=False`` the routing is returned and the
        report shows the overflow.

    Returns
    -------
    Routing
        ``dest_indptr``, ``axon_indptr`` int64; ``dest_core``, ``dest_axon``, ``axon_source``
        int32 (int64 beyond ``2**31`` units, cores or axons); ``hops_x``, ``hops_y``,
        ``chip_crossings`` int16 per pair (int32 on meshes wider than ``2**14``); ``tree_hops``
        int64 per unit; ``router_entries`` int64 per chip of ``placement.chip_xy``.
    """
    profile = load_profile(profile)
    n_units, n_cores = graph.n_units, partition.n_cores
    _check_placement(partition, placement)
    sources, cores = routed_pairs(partition, graph, pairs)
    source_dtype, core_dtype = pair_dtypes(n_units, n_cores)
    sources = sources.astype(source_dtype, copy=False)
    cores = cores.astype(core_dtype, copy=False)
    dest_indptr = _sorted_indptr(sources, n_units)
    axon_indptr, axon_source, dest_axon = _axon_tables(sources, cores, n_cores, n_units)

    unit_core = np.asarray(partition.unit_core, dtype=np.int64)
    spans = row_chunks(dest_indptr, _SPAN)  # ranges of units, for _delta
    node_xy = hop_positions(placement, profile)
    chip_xy = placement.chip_xy[placement.core_chip]
    # hop counts (and coordinate differences) fit int16 on meshes narrower than 2**14
    extent = max(int(np.abs(node_xy).max(initial=0)), int(np.abs(chip_xy).max(initial=0)))
    hop_dtype = np.int16 if extent < 2**14 else np.int32
    node_xy = node_xy.astype(hop_dtype)
    # Every array here has one entry per pair (tens of millions on big networks), and each pass
    # over them costs memory bandwidth: per-unit values are spread with np.repeat, per-core
    # values gathered from small tables, and the arithmetic is done in place in a narrow dtype.
    x1, dx = _delta(node_xy[:, 0], cores, unit_core, dest_indptr, spans)
    dy = _delta(node_xy[:, 1], cores, unit_core, dest_indptr, spans)[1]
    tree_hops = _tree_hops(sources, dest_indptr, x1, dx, dy)
    del x1
    hops_x, hops_y = np.abs(dx, out=dx), np.abs(dy, out=dy)
    if profile.topology == "chip_router":
        crossings = hops_x + hops_y
    elif placement.n_chips == 1:
        crossings = np.zeros(cores.size, dtype=hop_dtype)
    else:
        chip_xy = chip_xy.astype(hop_dtype)
        crossings = np.abs(_delta(chip_xy[:, 0], cores, unit_core, dest_indptr, spans)[1])
        crossings += np.abs(_delta(chip_xy[:, 1], cores, unit_core, dest_indptr, spans)[1])
    if profile.router_entries_per_chip is not None:
        entries = _core_tree_entries(sources, cores, unit_core, n_cores, placement,
                                     _core_vertices(graph, unit_core, n_cores))
    else:
        entries = np.zeros(placement.n_chips, dtype=np.int64)
    routing = Routing(dest_indptr=dest_indptr, dest_core=cores, dest_axon=dest_axon,
                      axon_indptr=axon_indptr, axon_source=axon_source, hops_x=hops_x,
                      hops_y=hops_y, chip_crossings=crossings, tree_hops=tree_hops,
                      router_entries=entries, multicast=is_multicast(profile))
    if strict:
        _check_tables(routing, placement, profile)
    return routing


# --------------------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------------------

def _check_placement(partition: Partition, placement: Placement) -> None:
    n_cores = partition.n_cores
    for name in ("core_chip", "core_index"):
        if np.shape(getattr(placement, name)) != (n_cores,):
            raise ValidationError("Placement", name, f"must have one entry per core ({n_cores})",
                                  np.shape(getattr(placement, name)))
    if np.shape(placement.core_xy) != (n_cores, 2):
        raise ValidationError("Placement", "core_xy", f"must have shape ({n_cores}, 2)",
                              np.shape(placement.core_xy))
    chips = placement.core_chip
    if chips.size and (chips.min() < 0 or chips.max() >= placement.n_chips):
        raise ValidationError("Placement", "core_chip",
                              f"chip ids must be in 0..{placement.n_chips - 1}")


def _check_tables(routing: Routing, placement: Placement, profile) -> None:
    limit = profile.router_entries_per_chip
    if limit is None or not routing.router_entries.size:
        return
    over = np.flatnonzero(routing.router_entries > limit)
    if not over.size:
        return
    worst = int(over[np.argmax(routing.router_entries[over])])
    x, y = (int(v) for v in placement.chip_xy[worst])
    others = f" ({over.size} chips overflow)" if over.size > 1 else ""
    error = MappingError(
        f"routing on {profile.label}: chip {worst} at ({x}, {y}) needs "
        f"{int(routing.router_entries[worst])} router entries but {profile.name} allows {limit} "
        f"per chip{others}; what would help: fewer source cores whose spikes pass through it "
        f"(fuller cores, or a partition that keeps each core's targets together), "
        f"place='traffic' to shorten and localise routes, or a profile with larger tables")
    error.routing = routing
    raise error


# --------------------------------------------------------------------------------------------------
# tables and hops
# --------------------------------------------------------------------------------------------------

def _indptr(groups: np.ndarray, n_groups: int) -> np.ndarray:
    indptr = np.zeros(n_groups + 1, dtype=np.int64)
    np.cumsum(count_values(groups, n_groups), out=indptr[1:])
    return indptr


def _sorted_indptr(groups: np.ndarray, n_groups: int) -> np.ndarray:
    """:func:`_indptr` of ascending ``groups``: a binary search per group, no pass over them."""
    bounds = np.arange(n_groups + 1, dtype=groups.dtype if n_groups < 2**31 else np.int64)
    return np.searchsorted(groups, bounds).astype(np.int64, copy=False)


def _axon_tables(sources: np.ndarray, cores: np.ndarray, n_cores: int,
                 n_units: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(axon_indptr, axon_source, dest_axon)``: each core's sources (ascending), and the rank of
    each pair's source among its core's sources.

    Two in-place sorts of one array of packed keys (``core << b | source``, by core then source;
    then ``(source << c | core) << r | rank``, back to source-then-core order carrying the rank),
    packed and unpacked in chunks, instead of an argsort and a scatter: on tens of millions of
    pairs NumPy's sort is several times faster than its argsort or a random scatter, and the
    temporaries are one int64 key per pair.
    """
    n_pairs = sources.size
    axon_indptr = _indptr(cores, n_cores)
    max_axons = int(np.diff(axon_indptr).max()) if n_pairs else 1
    axon_dtype = np.int32 if max_axons < 2**31 else np.int64
    unit_bits = max(n_units - 1, 1).bit_length()
    core_bits = max(n_cores - 1, 1).bit_length()
    rank_bits = max(max_axons - 1, 1).bit_length()
    if unit_bits + core_bits + rank_bits > 63:  # pragma: no cover - far beyond any chip
        order = np.argsort(cores, kind="stable")
        per_core = np.diff(axon_indptr)
        rank = np.arange(n_pairs, dtype=np.int64) - np.repeat(axon_indptr[:-1], per_core)
        dest_axon = np.empty(n_pairs, dtype=axon_dtype)
        dest_axon[order] = rank
        return axon_indptr, sources[order], dest_axon
    key = cores.astype(np.int64)
    for a, b in _chunks(n_pairs):
        part = key[a:b]
        part <<= unit_bits
        part |= sources[a:b]
    key.sort()
    axon_source = np.empty(n_pairs, dtype=sources.dtype)
    for a, b in _chunks(n_pairs):
        part = key[a:b]
        source = part & ((1 << unit_bits) - 1)
        axon_source[a:b] = source
        part >>= unit_bits  # the core
        rank = np.arange(a, b, dtype=np.int64)
        rank -= axon_indptr[part]  # position in its core: the rank
        source <<= core_bits
        source |= part
        source <<= rank_bits
        source |= rank
        part[...] = source
    key.sort()
    dest_axon = np.empty(n_pairs, dtype=axon_dtype)
    for a, b in _chunks(n_pairs):
        dest_axon[a:b] = key[a:b] & ((1 << rank_bits) - 1)
    return axon_indptr, axon_source, dest_axon


def _chunks(n: int):
    """``(start, stop)`` of consecutive cache-sized chunks of ``range(n)``."""
    for start in range(0, n, _ELEMENTS):
        yield start, min(n, start + _ELEMENTS)


def _unit_chunks(dest_indptr: np.ndarray, per_unit: int):
    """Ranges ``(u0, u1)`` of units whose dense scratch (``per_unit`` cells each) stays small."""
    n_units = dest_indptr.size - 1
    step = max(1, _CHUNK // max(per_unit, 1))
    for u0 in range(0, n_units, step):
        u1 = min(n_units, u0 + step)
        if dest_indptr[u1] > dest_indptr[u0]:
            yield u0, u1


def _delta(core_value: np.ndarray, cores: np.ndarray, unit_core: np.ndarray,
           dest_indptr: np.ndarray, spans: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """``(value at destination, value at destination - value at source)`` for every pair, in
    the dtype of ``core_value``, computed over ``spans`` (ranges of units with a cache-sized
    number of pairs)."""
    at_destination = np.empty(cores.size, dtype=core_value.dtype)
    delta = np.empty(cores.size, dtype=core_value.dtype)
    source_value = core_value[unit_core]
    for u0, u1 in spans:
        p0, p1 = int(dest_indptr[u0]), int(dest_indptr[u1])
        here = np.take(core_value, cores[p0:p1], out=at_destination[p0:p1])
        source = np.repeat(source_value[u0:u1], np.diff(dest_indptr[u0:u1 + 1]))
        np.subtract(here, source, out=delta[p0:p1])
    return at_destination, delta


def _tree_hops(sources: np.ndarray, dest_indptr: np.ndarray, x1: np.ndarray, dx: np.ndarray,
               dy: np.ndarray) -> np.ndarray:
    """Links in each unit's X-then-Y multicast tree (0 for units without destinations)."""
    n_units = dest_indptr.size - 1
    tree = np.zeros(n_units, dtype=np.int64)
    if not sources.size:
        return tree
    busy = dest_indptr[1:] > dest_indptr[:-1]
    starts = dest_indptr[:-1][busy]
    # row y0: all paths start at x0, so their union spans the furthest east and west destinations
    east = np.maximum(np.maximum.reduceat(dx, starts), 0)
    west = np.minimum(np.minimum.reduceat(dx, starts), 0)
    tree[busy] = east.astype(np.int64) - west
    # each destination column: the union of its vertical segments spans its extreme rows
    width = int(x1.max()) + 1
    for u0, u1 in _unit_chunks(dest_indptr, width):
        p0, p1 = dest_indptr[u0], dest_indptr[u1]
        cell = sources[p0:p1] - u0
        cell *= width
        cell += x1[p0:p1]
        north = np.zeros((u1 - u0) * width, dtype=dy.dtype)  # same dtype: ufunc.at fast path
        south = np.zeros_like(north)
        np.maximum.at(north, cell, dy[p0:p1])
        np.minimum.at(south, cell, dy[p0:p1])
        north -= south
        tree[u0:u1] += north.reshape(u1 - u0, width).sum(axis=1, dtype=np.int64)
    return tree


# --------------------------------------------------------------------------------------------------
# router tables
# --------------------------------------------------------------------------------------------------

def _core_tree_entries(sources: np.ndarray, cores: np.ndarray, unit_core: np.ndarray,
                       n_cores: int, placement: Placement,
                       core_vertex: np.ndarray | None = None) -> np.ndarray:
    """Router entries per chip with one key block and one multicast tree per source core, to the
    union of its units' destination cores (as sPyNNaker allocates keys per machine vertex): the
    (source core, destination core) pairs are routed as the units' pairs are.

    Entries merge where keys and routes allow: the source cores of one population (sPyNNaker's
    application vertex) take consecutive key blocks, so at a chip the entries of its cores that
    leave by the same links to the same local cores are covered by as many key/mask pairs as
    their machine-vertex indices form aligned power-of-two blocks (all of a population's cores
    with one route: one entry). ``core_vertex`` is ``(population, index among its cores)`` per
    core (-1: a core of several populations, never merged).
    """
    pair = unit_core[sources].astype(np.int64) * n_cores + cores
    pair = np.unique(pair)
    core_sources, core_dests = pair // n_cores, pair % n_cores
    indptr = _sorted_indptr(core_sources, n_cores)
    chips, group, local = _router_entries(core_sources, core_dests, indptr,
                                          np.arange(n_cores, dtype=np.int64), placement,
                                          rows=True)
    n_chips = placement.n_chips
    if chips.size == 0:
        return np.zeros(n_chips, dtype=np.int64)
    core, route = group >> 4, group & 15
    for word in local:   # one dense id per distinct route (links, local cores)
        route = _combine(route, word)
    if core_vertex is None:
        return np.bincount(chips, minlength=n_chips).astype(np.int64)
    population, index = core_vertex[0][core], core_vertex[1][core]
    alone = population < 0
    population = np.where(alone, population.max(initial=0) + 1 + core, population)
    index = np.where(alone, 0, index)
    order = np.lexsort((index, route, population, chips))
    chips, population, route, index = (a[order] for a in (chips, population, route, index))
    same = np.ones(chips.size, dtype=bool)   # same (chip, population, route) as the row before
    same[0] = False
    same[1:] = ((chips[1:] == chips[:-1]) & (population[1:] == population[:-1])
                & (route[1:] == route[:-1]))
    counts = np.zeros(n_chips, dtype=np.int64)
    starts = np.flatnonzero(~same)
    bounds = np.append(starts, chips.size)
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        counts[chips[lo]] += _aligned_blocks(index[lo:hi])
    return counts


def _core_vertices(graph: SynapseGraph, unit_core: np.ndarray,
                   n_cores: int) -> tuple[np.ndarray, np.ndarray]:
    """``(population, index among the population's cores)`` of each core, in core order;
    ``(-1, 0)`` for a core holding units of several populations."""
    sizes = [pop.size for pop in graph.ir.populations]
    unit_pop = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
    low = np.full(n_cores, np.iinfo(np.int64).max, dtype=np.int64)
    high = np.full(n_cores, -1, dtype=np.int64)
    np.minimum.at(low, unit_core, unit_pop)
    np.maximum.at(high, unit_core, unit_pop)
    population = np.where(low == high, low, -1)
    index = np.zeros(n_cores, dtype=np.int64)
    for pop in np.unique(population[population >= 0]).tolist():
        mine = np.flatnonzero(population == pop)
        index[mine] = np.arange(mine.size)
    return population, index


def _aligned_blocks(indices: np.ndarray) -> int:
    """Key/mask pairs that cover exactly these (sorted, distinct) machine-vertex indices: the
    aligned power-of-two blocks of their runs of consecutive values."""
    if indices.size == 1:
        return 1
    breaks = np.flatnonzero(np.diff(indices) != 1) + 1
    blocks = 0
    for run in np.split(indices, breaks):
        start, stop = int(run[0]), int(run[-1]) + 1
        while start < stop:
            size = start & -start if start else 1 << 62
            while start + size > stop:
                size >>= 1
            blocks += 1
            start += size
    return blocks


def _router_entries(sources: np.ndarray, cores: np.ndarray, dest_indptr: np.ndarray,
                    unit_core: np.ndarray, placement: Placement, *, rows: bool = False) -> Any:
    """Router-table entries each chip needs (see the module docstring); with ``rows``, the
    tree nodes that need one instead: ``(chip, source core * 16 + links, local core bitsets)``."""
    n_chips = placement.n_chips
    grid_cols = int(placement.chip_xy[:, 0].max()) + 1
    grid_rows = int(placement.chip_xy[:, 1].max()) + 1
    n_places = grid_rows * grid_cols
    chip_place = placement.chip_xy[:, 1] * grid_cols + placement.chip_xy[:, 0]
    chip_at = np.full(n_places, -1, dtype=np.int64)
    chip_at[chip_place] = np.arange(n_chips)
    core_place = chip_place[placement.core_chip]
    core_index = np.asarray(placement.core_index, dtype=np.int64)
    n_words = int(core_index.max()) // 64 + 1 if core_index.size else 1
    core_word = core_index // 64
    core_bit = np.left_shift(np.uint64(1), (core_index % 64).astype(np.uint64))
    unit_place = core_place[unit_core]

    found: list[tuple[np.ndarray, ...]] = []
    for u0, u1 in _unit_chunks(dest_indptr, n_places * n_words):
        p0, p1 = dest_indptr[u0], dest_indptr[u1]
        n = u1 - u0
        chunk_cores = cores[p0:p1]
        cell = (sources[p0:p1] - u0) * n_places + core_place[chunk_cores]
        local = np.zeros((n_words, n * n_places), dtype=np.uint64)
        for word in range(n_words):
            mine = core_word[chunk_cores] == word
            np.bitwise_or.at(local[word], cell[mine], core_bit[chunk_cores[mine]])
        present = np.zeros(n * n_places, dtype=bool)
        present[cell] = True
        units = np.arange(u0, u1)
        unit, y, x, mask = _entry_nodes(present.reshape(n, grid_rows, grid_cols),
                                        unit_place[units] % grid_cols,
                                        unit_place[units] // grid_cols)
        place = y * grid_cols + x
        chips = chip_at[place]
        if np.any(chips < 0):
            raise ValidationError("Placement", "chip_xy", "the chips must fill a rectangular grid "
                                  "(a route crosses a grid place without a chip)")
        found.append((chips, unit_core[u0 + unit] * 16 + mask, local[:, unit * n_places + place]))
    if not found:
        if rows:
            return (np.zeros(0, np.int64), np.zeros(0, np.int64),
                    np.zeros((n_words, 0), np.uint64))
        return np.zeros(n_chips, dtype=np.int64)
    chips = np.concatenate([f[0] for f in found])
    group = np.concatenate([f[1] for f in found])
    local = np.concatenate([f[2] for f in found], axis=1)
    del found
    if rows:
        return chips, group, local
    local_bits = int(core_index.max()) + 1
    group_bits = int(group.max()).bit_length()
    if n_words == 1 and (n_chips - 1).bit_length() + group_bits + local_bits <= 62:
        # (source core, links, local cores) packed in one int64 beside the chip: one sort
        key = chips << (group_bits + local_bits)
        key |= group << local_bits
        key |= local[0].astype(np.int64)
        shift = group_bits + local_bits
    else:
        for word in local:  # one dense id per distinct (source core, links, local cores)
            group = _combine(group, word)
        shift = int(group.max()).bit_length()
        key = (chips << shift) | group
    del local, group
    key.sort()
    first = np.ones(key.size, dtype=bool)
    np.not_equal(key[1:], key[:-1], out=first[1:])
    return np.bincount(key[first] >> shift, minlength=n_chips).astype(np.int64)


def _entry_nodes(present: np.ndarray, source_x: np.ndarray,
                 source_y: np.ndarray) -> tuple[np.ndarray, ...]:
    """The chips where each unit's tree needs an entry, and the links it leaves them by.

    ``present`` is bool ``(units, rows, cols)``: the unit's destination chips. Returns
    ``(unit, y, x, links)`` for the source chip, each destination chip and each chip where the tree
    turns from the source row into a destination column.
    """
    n, rows, cols = present.shape
    in_column = present.any(axis=1)                     # (units, cols)
    sends = in_column.any(axis=1)
    row_ids = np.arange(rows)[None, :, None]
    col_ids = np.arange(cols)[None, :]
    column_top = np.where(present, row_ids, -1).max(axis=1)      # highest destination row
    column_bottom = np.where(present, row_ids, rows).min(axis=1)  # lowest destination row
    east_end = np.where(in_column, col_ids, -1).max(axis=1)
    west_end = np.where(in_column, col_ids, cols).min(axis=1)

    node = present.copy()
    everyone = np.arange(n)
    node[everyone, source_y, :] |= in_column             # turns into destination columns
    node[everyone[sends], source_y[sends], source_x[sends]] = True
    unit, y, x = np.nonzero(node)
    sx, sy = source_x[unit], source_y[unit]
    top, bottom = column_top[unit, x], column_bottom[unit, x]
    on_row = y == sy
    east = on_row & (x >= sx) & (x < east_end[unit])
    west = on_row & (x <= sx) & (x > west_end[unit])
    north = np.where(on_row, top > sy, (y > sy) & (top > y))
    south = np.where(on_row, bottom < sy, (y < sy) & (bottom < y))
    links = (east * _EAST) | (west * _WEST) | (north * _NORTH) | (south * _SOUTH)
    return unit, y, x, links.astype(np.int64)


def _combine(group: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Dense ids of the distinct ``(group, value)`` pairs."""
    group_ids, _ = _factorize(group)
    value_ids, n_values = _factorize(values)
    ids, _ = _factorize(group_ids * n_values + value_ids)
    return ids


def _factorize(values: np.ndarray) -> tuple[np.ndarray, int]:
    ordered = np.sort(values)
    keep = np.ones(ordered.size, dtype=bool)
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    distinct = ordered[keep]
    return np.searchsorted(distinct, values).astype(np.int64), int(distinct.size)
