"""The ``mincut`` strategy's first cut: a multilevel graph partition of the neurons.

Neurons are the vertices, synapses between them the edges (weighted by the source's expected
spikes when rates are given); each part becomes a core. Sources have no synapses among themselves
(where a source lives does not change how many messages it sends), so they are cut sequentially.
Axon limits are not additive per vertex; :func:`nmgraph.compilers.partition.partition` splits any
core that overflows them afterwards.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse

from nmgraph.compilers.ir import NetworkIR
from nmgraph.compilers.mincut import mincut_parts
from nmgraph.compilers.synapse_graph import SynapseGraph

__all__ = ["mincut_assignment"]


def mincut_assignment(ir: NetworkIR, graph: SynapseGraph, limits, in_degree: np.ndarray,
                      seed: int, rates: np.ndarray | None) -> tuple[np.ndarray, list[str]]:
    """``(unit_core, core_kind)`` with neurons grouped by a min-cut partition."""
    is_source = np.zeros(ir.n_units, dtype=bool)
    for pop in ir.populations:
        if pop.is_source:
            is_source[pop.offset:pop.stop] = True
    unit_core = np.empty(ir.n_units, dtype=np.int64)
    kinds: list[str] = []
    neurons = np.flatnonzero(~is_source)
    if neurons.size:
        parts = _neuron_parts(graph, neurons, in_degree, limits, seed, rates)
        unit_core[neurons] = parts
        kinds += ["neuron"] * (int(parts.max()) + 1)
    for pop in ir.populations:
        if not pop.is_source:
            continue
        per_core = limits.units("source")
        for start in range(pop.offset, pop.stop, per_core):
            unit_core[start:min(start + per_core, pop.stop)] = len(kinds)
            kinds.append("source")
    return unit_core, kinds


def _neuron_parts(graph: SynapseGraph, neurons: np.ndarray, in_degree: np.ndarray, limits,
                  seed: int, rates: np.ndarray | None) -> np.ndarray:
    local = np.full(graph.n_units, -1, dtype=np.int64)
    local[neurons] = np.arange(neurons.size)
    source, target = graph.source(), graph.target
    keep = (local[source] >= 0) & (local[target] >= 0) & (source != target)
    weight = np.ones(int(keep.sum())) if rates is None else rates[source[keep]].astype(float)
    n = neurons.size
    edges = scipy.sparse.coo_matrix((weight, (local[source[keep]], local[target[keep]])),
                                    shape=(n, n)).tocsr()
    adjacency = (edges + edges.T).tocsr()
    adjacency.sum_duplicates()
    vertex_weights = np.column_stack([np.ones(n), in_degree[neurons].astype(float)])
    capacities = np.array([limits.neurons,
                           limits.synapses if limits.synapses is not None else np.inf], float)
    n_parts = max(1, math.ceil(n / limits.neurons))
    if limits.synapses:
        n_parts = max(n_parts, math.ceil(float(in_degree[neurons].sum()) / limits.synapses))
    return np.asarray(mincut_parts(adjacency, vertex_weights, capacities, n_parts, seed=seed),
                      dtype=np.int64)
