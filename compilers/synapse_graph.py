"""The global synapse graph of a NetworkIR: every synapse as (source unit, target unit), by source.

Units are numbered globally in the IR's canonical order (``population.offset + local index``). The
partitioner, the router and the executable builder all read this one structure.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from nmgraph.compilers.ir import NetworkIR, ProjectionIR

__all__ = ["ENGINE_DELAY", "SynapseGraph", "axon_pairs", "build_synapse_graph", "core_runs", "count_values",
           "effective_weights_int16", "pair_dtypes", "row_chunks", "stable_order",
           "synapse_cores"]

#: Entries per chunk of temporary index arrays.
_CHUNK = 1 << 22


@dataclass(eq=False)
class SynapseGraph:
    """All synapses of a network, sorted by global source unit (CSR), then by projection order.

    Attributes
    ----------
    n_units
        Units of the network (neurons and sources).
    indptr
        int64 ``(n_units + 1,)``: the synapses of unit ``j`` are ``indptr[j]:indptr[j + 1]``.
    target
        Global target unit of each synapse (int32, or int64 beyond 2**31 units).
    ir
        The IR the graph was built from; the weights and delays are read from it in graph order
        on demand (:meth:`weight_delay`), not stored twice.

    The dtypes are the narrowest that hold the values (these arrays have one entry per synapse:
    hundreds of millions on big networks); do arithmetic on them in int64.
    """

    n_units: int
    indptr: np.ndarray
    target: np.ndarray
    ir: NetworkIR = field(repr=False)

    def __post_init__(self) -> None:
        self._offsets = {pop.name: pop.offset for pop in self.ir.populations}
        self._weights = [_Int16Weights(proj) for proj in self.ir.projections]

    @property
    def n_synapses(self) -> int:
        return int(self.target.size)

    def source(self) -> np.ndarray:
        """Global source unit of each synapse (int64)."""
        return np.repeat(np.arange(self.n_units, dtype=np.int64), np.diff(self.indptr))

    def in_degree(self) -> np.ndarray:
        """Synapses arriving at each unit (int64)."""
        return count_values(self.target, self.n_units)

    def out_degree(self) -> np.ndarray:
        """Synapses leaving each unit (int64)."""
        return np.diff(self.indptr)

    def weight_delay(self, u0: int = 0, u1: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """int16 effective weights ``w << weight_exp`` (what a spike adds to the target's input)
        and uint8 delays of the synapses of units ``u0..u1 - 1``, in graph order (the synapses
        ``indptr[u0]:indptr[u1]``), gathered from the IR."""
        u1 = self.n_units if u1 is None else u1
        size = int(self.indptr[u1]) - int(self.indptr[u0])
        weight, delay = np.empty(size, dtype=np.int16), np.empty(size, dtype=np.uint8)
        self._scatter(u0, u1, weight=weight, delay=delay)
        return weight, delay

    @property
    def weight(self) -> np.ndarray:
        """int16 effective weight of every synapse (built on each access: prefer
        :meth:`weight_delay` on ranges of units)."""
        return self.weight_delay()[0]

    @property
    def delay(self) -> np.ndarray:
        """uint8 delay of every synapse, in steps (built on each access, as :attr:`weight`)."""
        return self.weight_delay()[1]

    def scatter_weight_delay(self, u0: int, u1: int, place: np.ndarray, weight: np.ndarray,
                             delay: np.ndarray) -> None:
        """``weight[place], delay[place] = self.weight_delay(u0, u1)`` without the intermediate
        arrays (each synapse is written once, straight from the IR)."""
        self._scatter(u0, u1, weight=weight, delay=delay, through=place)

    def _scatter(self, u0: int, u1: int, *, target: np.ndarray | None = None,
                 weight: np.ndarray | None = None, delay: np.ndarray | None = None,
                 through: np.ndarray | None = None) -> None:
        """Write the targets, weights and delays of the synapses of units ``u0..u1 - 1`` into
        ``target[i - indptr[u0]]`` (and so on) for each synapse ``i`` in graph order; with
        ``through``, into ``target[through[i - indptr[u0]]]``.

        A counting sort: every projection is a CSR by source, so each of its rows goes to its
        source's block after the rows of the earlier projections from that source (the order a
        stable sort by source gives), a chunk of rows at a time.
        """
        base = int(self.indptr[u0])
        fill = self.indptr[u0:u1] - base  # next free place of each source's block
        for proj, weights in zip(self.ir.projections, self._weights):
            offset = self._offsets[proj.pre]
            first, last = max(u0, offset), min(u1, offset + proj.n_pre)
            if first >= last:
                continue
            rows = fill[first - u0:last - u0]
            ptr = proj.indptr[first - offset:last - offset + 1]
            shift = self._offsets[proj.post]
            for r0, r1 in row_chunks(ptr, _CHUNK):
                s0, s1 = int(ptr[r0]), int(ptr[r1])
                # the place of synapse i is its row's next free place plus its rank in the row
                place = np.repeat(rows[r0:r1] - ptr[r0:r1], np.diff(ptr[r0:r1 + 1]))
                place += np.arange(s0, s1, dtype=np.int64)
                if through is not None:
                    place = through[place]
                if target is not None:
                    targets = proj.targets[s0:s1]
                    target[place] = targets + shift if shift else targets
                held = proj.is_plastic
                if weight is not None:
                    weight[place] = _engine_weight(proj) if held else weights[s0:s1]
                if delay is not None:
                    delay[place] = ENGINE_DELAY if held else proj.delays[s0:s1]
            rows += np.diff(ptr)


#: The delay that marks, in the core tables, a synapse whose weight and delay are runtime state
#: (a plastic synapse): the learning engine delivers it, not the fixed fan-out. Real delays are
#: at least 1. (Third-factor synapses stay in the tables with weight 0: the fan-out counts
#: them and the learning engine reads their spikes.)
ENGINE_DELAY = 0


def _engine_weight(proj: ProjectionIR) -> int:
    """The table weight of a plastic synapse: the largest ``|w| << weight_exp`` its rule allows
    (so the ring buffer's int32 proof covers whatever weight it learns; a rule that changes
    delays makes the runtime use an int64 ring instead)."""
    low, high = proj.learning.w_bounds
    return (low if -low > high else high) << proj.weight_exp


def count_values(values: np.ndarray, length: int) -> np.ndarray:
    """``np.bincount(values, minlength=length)`` as int64 for values in ``[0, length)``, a chunk
    at a time: bincount first copies narrow values to intp, 8 bytes per entry of arrays that
    have one entry per synapse or per pair."""
    counts = np.zeros(length, dtype=np.int64)
    for start in range(0, values.size, _CHUNK):
        counts += np.bincount(values[start:start + _CHUNK], minlength=length)
    return counts


def stable_order(keys: np.ndarray, bound: int, *, sorted_keys: bool = False):
    """``np.argsort(keys, kind="stable")`` for integer keys in ``[0, bound)``, int64; with
    ``sorted_keys=True`` also ``keys`` in that order.

    One plain sort of ``key << b | position`` keys (NumPy's vectorised sort) when they fit 63 bits:
    a stable argsort of tens of millions of int64 is about ten times slower.
    """
    n = int(keys.size)
    shift = max(n - 1, 1).bit_length()
    if max(int(bound) - 1, 1).bit_length() + shift > 63:
        order = np.argsort(keys, kind="stable").astype(np.int64, copy=False)
        return (order, keys[order]) if sorted_keys else order
    packed = keys.astype(np.int64)
    packed <<= shift
    packed |= np.arange(n, dtype=np.int64)
    packed.sort()
    ordered = packed >> shift if sorted_keys else None
    packed &= (1 << shift) - 1
    return (packed, ordered) if sorted_keys else packed


def build_synapse_graph(ir: NetworkIR) -> SynapseGraph:
    """Collect every projection's synapses into one CSR by global source unit.

    A counting sort (see :meth:`SynapseGraph._scatter`), written in place with no sort, a chunk
    of rows at a time (the temporaries stay small whatever the size of the projection). Only the
    targets are stored; weights and delays stay in the IR.
    """
    offsets = {pop.name: pop.offset for pop in ir.populations}
    n_units = ir.n_units
    counts = np.zeros(n_units, dtype=np.int64)
    for proj in ir.projections:
        start = offsets[proj.pre]
        counts[start:start + proj.n_pre] += np.diff(proj.indptr)
    indptr = np.zeros(n_units + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    del counts
    target = np.empty(int(indptr[-1]), dtype=np.int32 if n_units < 2**31 else np.int64)
    graph = SynapseGraph(n_units, indptr, target, ir)
    graph._scatter(0, n_units, target=target)
    return graph


def row_chunks(indptr: np.ndarray, size: int) -> list[tuple[int, int]]:
    """Ranges ``(r0, r1)`` of the rows of a CSR whose entries number about ``size`` (a longer
    row is a range of its own), covering every row (``indptr`` may start above 0)."""
    n_rows, first, last = indptr.size - 1, int(indptr[0]), int(indptr[-1])
    marks = np.searchsorted(indptr, np.arange(first, last, size, dtype=np.int64), "right") - 1
    bounds = sorted({0, n_rows, *(int(m) for m in marks)})
    return list(itertools.pairwise(bounds))


class _Int16Weights:
    """Slices of :func:`effective_weights_int16` of a projection, computed slice by slice."""

    def __init__(self, proj: ProjectionIR) -> None:
        self.weights, self.exp = proj.weights, proj.weight_exp
        self.fits = self.exp == 0 and self.weights.dtype == np.int16
        if not self.fits and self.weights.size:
            low, high = int(self.weights.min()) << self.exp, int(self.weights.max()) << self.exp
            self.narrow = -(2**15) <= low and high < 2**15
        else:
            self.narrow = True

    def __getitem__(self, index: slice) -> np.ndarray:
        weights = self.weights[index]
        if self.fits:
            return weights
        if self.narrow:
            return weights.astype(np.int16) << np.int16(self.exp)
        return (weights.astype(np.int64) << self.exp).astype(np.int16)


def effective_weights_int16(proj: ProjectionIR) -> np.ndarray:
    """``weights << weight_exp`` as int16 without an int64 copy (it fits: weights of at most
    9 bits, exponent at most 7); through int64 (wrapping, as a cast does) if it ever does not."""
    return _Int16Weights(proj)[:]


def axon_pairs(graph: SynapseGraph, unit_core: np.ndarray,
               n_cores: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (source unit, destination core) pairs: the spike routes of a partition.

    Returns ``(sources, cores)`` sorted by source then core, int32 (int64 beyond ``2**31``
    units or cores: :func:`pair_dtypes`). A core's input axons
    are the pairs with that core; a core's output axons are the pairs whose source lives on it.
    When each source's synapses reach their cores in non-decreasing order (cores that are ranges
    of units, as ``greedy`` and ``balanced`` cut them), the pairs are the runs of equal cores
    (:func:`core_runs`), found without sorting; otherwise with one sort of packed
    ``source << b | core`` keys (``np.unique``, hash-based on NumPy 2.4, takes minutes on tens of
    millions of keys where a sort takes seconds).
    """
    unit_core = np.asarray(unit_core, dtype=np.int64)
    if n_cores is None:
        n_cores = int(unit_core.max()) + 1 if unit_core.size else 1
    n_cores = max(int(n_cores), 1)
    source_dtype, core_dtype = pair_dtypes(graph.n_units, n_cores)
    if graph.n_synapses == 0:
        return np.zeros(0, dtype=source_dtype), np.zeros(0, dtype=core_dtype)
    core = synapse_cores(graph, unit_core, n_cores)
    runs = core_runs(graph, core)
    if runs is not None:
        keep, fanout = runs
        sources = np.repeat(np.arange(graph.n_units, dtype=source_dtype), fanout)
        return sources, core[keep].astype(core_dtype)
    shift = max(n_cores - 1, 1).bit_length()
    if max(graph.n_units - 1, 1).bit_length() + shift > 63:  # pragma: no cover - beyond any chip
        key = graph.source() * n_cores + core
        key.sort()
        keep = np.ones(key.size, dtype=bool)
        np.not_equal(key[1:], key[:-1], out=keep[1:])
        return np.divmod(key[keep], n_cores)
    key = graph.source()
    key <<= shift
    key |= core
    del core
    key.sort()
    keep = np.empty(key.size, dtype=bool)
    keep[0] = True
    np.not_equal(key[1:], key[:-1], out=keep[1:])
    key = key[keep]
    cores = (key & ((1 << shift) - 1)).astype(core_dtype)
    key >>= shift
    return key.astype(source_dtype), cores


def pair_dtypes(n_units: int, n_cores: int) -> tuple[type, type]:
    """dtypes of the sources and cores of (source unit, core) pairs, and of the routing's
    per-pair arrays of unit and core ids: int32, or int64 for ids beyond ``2**31``."""
    return (np.int32 if n_units < 2**31 else np.int64, np.int32 if n_cores < 2**31 else np.int64)


def synapse_cores(graph: SynapseGraph, unit_core: np.ndarray, n_cores: int) -> np.ndarray:
    """The core of each synapse's target, in the narrowest of uint16/int32/int64 that holds it
    (a narrow table and result make this gather over all synapses several times faster)."""
    dtype = np.uint16 if n_cores <= 2**16 else np.int32 if n_cores < 2**31 else np.int64
    return np.asarray(unit_core).astype(dtype, copy=False)[graph.target]


def core_runs(graph: SynapseGraph, core: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(keep, fanout)`` when every source's synapses reach their cores in non-decreasing order
    (``core`` per synapse, as :func:`synapse_cores` gives), else None.

    ``keep`` marks the first synapse of each run of equal cores within a source's synapses: one
    per (source, destination core) pair, in source-then-core order; ``fanout`` (int64 per unit)
    counts the pairs of each source. Linear time, no sort.
    """
    n = core.size
    busy = np.flatnonzero(np.diff(graph.indptr) > 0)
    first = graph.indptr[busy]
    keep = np.empty(n, dtype=bool)
    if n == 0:
        return keep, np.zeros(graph.n_units, dtype=np.int64)
    keep[0] = True
    np.less(core[1:], core[:-1], out=keep[1:])
    keep[first] = False  # a new source may start at any core
    if keep[1:].any():
        return None
    np.not_equal(core[1:], core[:-1], out=keep[1:])
    keep[first] = True
    fanout = np.zeros(graph.n_units, dtype=np.int64)
    counts = np.empty(busy.size, dtype=np.int64)
    ends = np.append(first[1:], n)
    for b0, b1 in row_chunks(np.append(first, n), _CHUNK):  # in chunks: reduceat casts to int64
        s0, s1 = int(first[b0]), int(ends[b1 - 1])
        counts[b0:b1] = np.add.reduceat(keep[s0:s1], first[b0:b1] - s0, dtype=np.int64)
    fanout[busy] = counts
    return keep, fanout
