"""The global synapse graph of a NetworkIR: every synapse as (source unit, target unit), by source.

Units are numbered globally in the IR's canonical order (``population.offset + local index``). The
partitioner, the router and the executable builder all read this one structure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nmgraph.compilers.ir import NetworkIR

__all__ = ["SynapseGraph", "axon_pairs", "build_synapse_graph"]


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
        int64 global target unit of each synapse.
    projection
        int32 index (into ``ir.projections``) of the projection each synapse belongs to.
    synapse
        int64 index of the synapse within its projection's arrays.
    """

    n_units: int
    indptr: np.ndarray
    target: np.ndarray
    projection: np.ndarray
    synapse: np.ndarray

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


def build_synapse_graph(ir: NetworkIR) -> SynapseGraph:
    """Collect every projection's synapses into one CSR by global source unit."""
    offsets = {pop.name: pop.offset for pop in ir.populations}
    sources, targets, proj_ids, syn_ids = [], [], [], []
    for index, proj in enumerate(ir.projections):
        sources.append(proj.sources() + offsets[proj.pre])
        targets.append(proj.targets.astype(np.int64) + offsets[proj.post])
        proj_ids.append(np.full(proj.n_synapses, index, dtype=np.int32))
        syn_ids.append(np.arange(proj.n_synapses, dtype=np.int64))
    n_units = ir.n_units
    if not sources:
        empty = np.zeros(0, dtype=np.int64)
        return SynapseGraph(n_units, np.zeros(n_units + 1, dtype=np.int64), empty,
                            np.zeros(0, dtype=np.int32), empty)
    source = np.concatenate(sources)
    # Stable order by source through one plain sort of (source, position) keys: a stable argsort
    # of tens of millions of int64 is ten times slower.
    n = source.size
    key = source * n + np.arange(n, dtype=np.int64)
    key.sort()
    order = key % n
    indptr = np.zeros(n_units + 1, dtype=np.int64)
    np.cumsum(np.bincount(source, minlength=n_units), out=indptr[1:])
    return SynapseGraph(n_units, indptr, np.concatenate(targets)[order],
                        np.concatenate(proj_ids)[order], np.concatenate(syn_ids)[order])


def axon_pairs(graph: SynapseGraph, unit_core: np.ndarray,
               n_cores: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (source unit, destination core) pairs: the spike routes of a partition.

    Returns ``(sources, cores)``, int64 arrays sorted by source then core. A core's input axons
    are the pairs with that core; a core's output axons are the pairs whose source lives on it.
    Computed with a sort and a mask of changes: ``np.unique`` (hash-based on NumPy 2.4) takes
    minutes on tens of millions of keys where a sort takes seconds.
    """
    unit_core = np.asarray(unit_core, dtype=np.int64)
    if n_cores is None:
        n_cores = int(unit_core.max()) + 1 if unit_core.size else 1
    n_cores = max(int(n_cores), 1)
    if graph.n_synapses == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    key = graph.source()
    key *= n_cores
    key += unit_core[graph.target]
    key.sort()
    keep = np.empty(key.size, dtype=bool)
    keep[0] = True
    np.not_equal(key[1:], key[:-1], out=keep[1:])
    return np.divmod(key[keep], n_cores)
