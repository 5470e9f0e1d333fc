"""The global synapse graph of a NetworkIR: every synapse as (source unit, target unit), by source.

Units are numbered globally in the IR's canonical order (``population.offset + local index``). The
partitioner, the router and the executable builder all read this one structure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nmgraph.compilers.ir import NetworkIR, ProjectionIR

__all__ = ["SynapseGraph", "axon_pairs", "build_synapse_graph", "core_runs",
           "effective_weights_int16", "stable_order", "synapse_cores"]

#: Entries per chunk of temporary index arrays.
_CHUNK = 1 << 24


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
    weight
        int16 effective weight of each synapse, ``w << weight_exp`` (what a spike adds to the
        target's input), from the IR the graph was built from.
    delay
        uint8 delay of each synapse, in steps.

    The dtypes are the narrowest that hold the values (these arrays have one entry per synapse:
    hundreds of millions on big networks); do arithmetic on them in int64.
    """

    n_units: int
    indptr: np.ndarray
    target: np.ndarray
    weight: np.ndarray
    delay: np.ndarray

    @property
    def n_synapses(self) -> int:
        return int(self.target.size)

    def source(self) -> np.ndarray:
        """Global source unit of each synapse (int64)."""
        return np.repeat(np.arange(self.n_units, dtype=np.int64), np.diff(self.indptr))

    def in_degree(self) -> np.ndarray:
        """Synapses arriving at each unit (int64)."""
        return np.bincount(self.target, minlength=self.n_units).astype(np.int64)

    def out_degree(self) -> np.ndarray:
        """Synapses leaving each unit (int64)."""
        return np.diff(self.indptr)


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

    A counting sort: every projection is already a CSR by source, so each of its rows goes to
    its source's block after the rows of the earlier projections from that source (the order a
    stable sort by source gives), written in place with no sort.
    """
    offsets = {pop.name: pop.offset for pop in ir.populations}
    n_units = ir.n_units
    counts = np.zeros(n_units, dtype=np.int64)
    for proj in ir.projections:
        start = offsets[proj.pre]
        counts[start:start + proj.n_pre] += np.diff(proj.indptr)
    indptr = np.zeros(n_units + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    n = int(indptr[-1])
    target = np.empty(n, dtype=np.int32 if n_units < 2**31 else np.int64)
    weight = np.empty(n, dtype=np.int16)
    delay = np.empty(n, dtype=np.uint8)
    fill = indptr[:-1].copy()  # next free place of each source's block
    for proj in ir.projections:
        start, size = offsets[proj.pre], proj.n_synapses
        row_counts = np.diff(proj.indptr)
        rows = fill[start:start + proj.n_pre]
        place = np.repeat(rows - proj.indptr[:-1], row_counts)  # place of synapse i, minus i
        for first in range(0, size, _CHUNK):
            last = min(size, first + _CHUNK)
            place[first:last] += np.arange(first, last, dtype=np.int64)
        shift = offsets[proj.post]
        target[place] = proj.targets + shift if shift else proj.targets
        weight[place] = effective_weights_int16(proj)
        delay[place] = proj.delays
        rows += row_counts
    return SynapseGraph(n_units, indptr, target, weight, delay)


def effective_weights_int16(proj: ProjectionIR) -> np.ndarray:
    """``weights << weight_exp`` as int16 without an int64 copy (it fits: weights of at most
    9 bits, exponent at most 7); through int64 (wrapping, as a cast does) if it ever does not."""
    weights = proj.weights
    if weights.size == 0 or (proj.weight_exp == 0 and weights.dtype == np.int16):
        return weights.astype(np.int16, copy=False)
    low, high = int(weights.min()) << proj.weight_exp, int(weights.max()) << proj.weight_exp
    if -(2**15) <= low and high < 2**15:
        return weights.astype(np.int16, copy=False) << np.int16(proj.weight_exp)
    return proj.effective_weights().astype(np.int16)


def axon_pairs(graph: SynapseGraph, unit_core: np.ndarray,
               n_cores: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (source unit, destination core) pairs: the spike routes of a partition.

    Returns ``(sources, cores)``, int64 arrays sorted by source then core. A core's input axons
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
    if graph.n_synapses == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    core = synapse_cores(graph, unit_core, n_cores)
    runs = core_runs(graph, core)
    if runs is not None:
        keep, fanout = runs
        sources = np.repeat(np.arange(graph.n_units, dtype=np.int64), fanout)
        return sources, core[keep].astype(np.int64)
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
    cores = key & ((1 << shift) - 1)
    key >>= shift
    return key, cores


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
    fanout[busy] = np.add.reduceat(keep, first, dtype=np.int64)
    return keep, fanout
