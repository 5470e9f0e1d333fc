"""Routing: spike routes of a placed partition, hop counts, multicast trees and router tables.

For each source unit, its destination cores are the cores holding its targets, and its input axon
on each is its rank among the distinct source units reaching that core (ascending), as on Loihi.

The profile's ``routing`` field selects the routing model (``ROUTING_MODELS`` in
``compilers/hardware.py``):

``axon_unicast`` (Loihi; Davies et al. 2018)
    A spike sends one message per destination core, by the unit's output axon to that core,
    along the dimension-order path of the core mesh: X first, then Y. The path from ``(x0, y0)``
    to ``(x1, y1)`` takes ``|x1 - x0|`` + ``|y1 - y0|`` hops (``hops_x``, ``hops_y``) and crosses
    ``|cx1 - cx0| + |cy1 - cy0|`` chip boundaries (chip grid coordinates). No router tables.
``neuron_unicast`` (TrueNorth; Merolla et al. 2014)
    As ``axon_unicast``, but a neuron stores one destination (core offset and axon): a unit may
    reach at most ``fanout_cores_per_neuron`` cores, which the splitter neurons of
    ``compilers/splitters.py`` provide; the pass checks it.
``key_multicast`` (SpiNNaker; sPyNNaker and PACMAN)
    One routing-key block and one multicast tree per source core, to the union of its units'
    destination cores, on the grid of chips (``chip_links`` 6: SpiNNaker's E, NE, N, W, SW, S
    links; 4: a square grid); key/mask router tables with default routing, merged per
    population and compressed by ordered covering when a table overflows: see
    :mod:`~nmgraph.compilers.route_multicast`. Hops are counted between chips: a pair's
    ``hops_x + hops_y`` is the chip distance (on 6 links ``max(|dx|, |dy|)`` when ``dx`` and
    ``dy`` have the same sign, else ``|dx| + |dy|``; ``hops_x = |dx|`` counts the east-west and
    diagonal links, ``hops_y`` the north-south ones). ``tree_hops`` of a unit is the links of
    its core's tree: every spike of the core's units is one packet along the whole tree.

For the unicast models, ``tree_hops`` is informational: the links of the union of the unit's
X-then-Y paths (``max(x0, max x1) - min(x0, min x1)`` links on row ``y0`` plus, for each
destination column, ``max(y0, max y1) - min(y0, min y1)`` links).
"""

from __future__ import annotations

import numpy as np

from nmgraph.compilers.hardware import load_profile
from nmgraph.compilers.mapping_data import Partition, Placement, Routing
from nmgraph.compilers.place import hop_positions, routed_pairs
from nmgraph.compilers.route_multicast import multicast_tables
from nmgraph.compilers.synapse_graph import SynapseGraph, count_values, pair_dtypes, row_chunks
from nmgraph.core.errors import MappingError, ValidationError

__all__ = ["axon_ranks", "is_multicast", "route"]

#: Elements of the dense per-chunk scratch arrays (units x columns, units x chips).
_CHUNK = 1 << 21
#: Entries per chunk of the element-wise loops (cache-sized: several times faster than whole
#: arrays of tens of millions, and the temporaries stay small).
_ELEMENTS = 1 << 14
#: Pairs per range of units of :func:`_delta`.
_SPAN = 1 << 16


def is_multicast(profile) -> bool:
    """True when ``profile``'s routing model sends a spike along a multicast tree."""
    return load_profile(profile).routing == "key_multicast"


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
    multicast = is_multicast(profile)
    if not multicast:
        tree_hops = _tree_hops(sources, dest_indptr, x1, dx, dy)
    del x1
    if profile.topology == "chip_router" and profile.chip_links == 6:
        # diagonal (NE / SW) links shorten paths whose dx and dy have the same sign
        diagonal = np.where((dx >= 0) == (dy >= 0), np.minimum(np.abs(dx), np.abs(dy)), 0)
        hops_x, hops_y = np.abs(dx, out=dx), np.abs(dy, out=dy)
        hops_y -= diagonal.astype(hop_dtype, copy=False)
        del diagonal
    else:
        hops_x, hops_y = np.abs(dx, out=dx), np.abs(dy, out=dy)
    if profile.topology == "chip_router":
        crossings = hops_x + hops_y
    elif placement.n_chips == 1:
        crossings = np.zeros(cores.size, dtype=hop_dtype)
    else:
        chip_xy = chip_xy.astype(hop_dtype)
        crossings = np.abs(_delta(chip_xy[:, 0], cores, unit_core, dest_indptr, spans)[1])
        crossings += np.abs(_delta(chip_xy[:, 1], cores, unit_core, dest_indptr, spans)[1])
    tables = None
    if multicast:
        tables = multicast_tables(dest_indptr, cores, unit_core, n_cores, placement, graph,
                                  links=profile.chip_links, limit=profile.router_entries_per_chip)
        entries = tables.held
        tree_hops = tables.core_links[unit_core]
    else:
        entries = np.zeros(placement.n_chips, dtype=np.int64)
    routing = Routing(dest_indptr=dest_indptr, dest_core=cores, dest_axon=dest_axon,
                      axon_indptr=axon_indptr, axon_source=axon_source, hops_x=hops_x,
                      hops_y=hops_y, chip_crossings=crossings, tree_hops=tree_hops,
                      router_entries=entries, multicast=multicast)
    routing.tables = tables
    routing.hop_source = ((np.ascontiguousarray(node_xy[:, 0]), np.ascontiguousarray(node_xy[:, 1])),
                          unit_core, profile.topology == "chip_router" and profile.chip_links == 6)
    routing.unit_hop_sums = _unit_sums(dest_indptr, (hops_x, hops_y), spans)
    if strict and profile.routing == "neuron_unicast":
        _check_fanout(routing, profile)
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


def _check_fanout(routing: Routing, profile) -> None:
    limit = profile.fanout_cores_per_neuron
    if limit is None or routing.dest_indptr.size < 2:
        return
    fanout = np.diff(routing.dest_indptr)
    worst = int(np.argmax(fanout))
    if fanout[worst] > limit:
        raise MappingError(
            f"routing on {profile.label}: unit {worst} reaches {int(fanout[worst])} cores but a "
            f"{profile.name} neuron sends to at most {limit} (routing model neuron_unicast); "
            f"what would help: splitter neurons (the partition pass adds them when "
            f"fanout_cores_per_neuron is 1), or targets gathered on fewer cores")


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


def axon_ranks(dest_indptr: np.ndarray, dest_core: np.ndarray, axon_indptr: np.ndarray,
               axon_source: np.ndarray) -> np.ndarray:
    """``Routing.dest_axon`` from the routing's other tables, as :func:`route` makes it."""
    n_units, n_cores = dest_indptr.size - 1, axon_indptr.size - 1
    sources = np.repeat(np.arange(n_units, dtype=axon_source.dtype), np.diff(dest_indptr))
    return _axon_tables(sources, dest_core, n_cores, n_units)[2]


def _unit_sums(dest_indptr: np.ndarray, values: tuple[np.ndarray, ...],
               spans: list[tuple[int, int]]) -> np.ndarray:
    """int64 ``(n_units, len(values))``: each per-pair array summed over each unit's pairs."""
    sums = np.zeros((dest_indptr.size - 1, len(values)), dtype=np.int64)
    for u0, u1 in spans:
        p0, p1 = int(dest_indptr[u0]), int(dest_indptr[u1])
        bounds = np.asarray(dest_indptr[u0:u1 + 1], dtype=np.int64) - p0
        filled = np.flatnonzero(bounds[1:] > bounds[:-1])
        if filled.size:   # reduceat would give an empty run the next value
            for k, value in enumerate(values):
                sums[u0 + filled, k] = np.add.reduceat(value[p0:p1], bounds[filled],
                                                       dtype=np.int64)
    return sums


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
