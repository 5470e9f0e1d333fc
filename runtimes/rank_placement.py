"""Placement of an Executable's cores onto MPI ranks, following the traffic between cores.

A spike crossing ranks costs a message on the interconnect; a spike that stays in a rank costs
nothing but its delivery. The cores are therefore split over ranks as a graph is partitioned:
vertices are cores weighted by their load (synapses plus units, a plastic synapse counting as the
learning engine's extra work, as for shared-memory workers), edges carry the expected messages
per step between two cores (one per unit and destination core, at the compile-time rate estimate
of the unit when the Executable has one, else one per unit). The multilevel min-cut partitioner
of the ``mincut`` strategy splits that graph into balanced parts (each within 5 % of an even share
of the load, or one core if a core is heavier); the contiguous split of core ids that the
shared-memory workers use (it keeps cores a partitioner grouped together) is kept instead when it
cuts fewer expected messages.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from nmgraph.compilers.executable import Executable
from nmgraph.compilers.mincut import cut_weight, mincut_parts
from nmgraph.runtimes.multicore_program import assign_workers, core_loads
from nmgraph.runtimes.transport_mpi import BYTES_PER_MESSAGE

__all__ = ["BYTES_PER_MESSAGE", "RankPlacement", "assign_ranks"]

#: A rank's load may exceed an even share by this fraction.
IMBALANCE = 0.05


@dataclass
class RankPlacement:
    """Which rank runs each core, and what that costs.

    Attributes
    ----------
    core_rank
        int64 ``(n_cores,)``: the rank of each core.
    strategy
        ``"traffic"`` (min-cut of the traffic graph) or ``"contiguous"`` (runs of core ids).
    cores, neurons, synapses, load
        Per rank: cores, neuron and source units, synapses held, and share of the total load.
    messages_per_step
        Expected spike messages per step that leave each rank (one per spike and other rank it
        reaches), at the Executable's rate estimate (``rates_known``) or at one spike per unit
        per step when it has none.
    """

    core_rank: np.ndarray
    strategy: str
    cores: np.ndarray
    neurons: np.ndarray
    synapses: np.ndarray
    load: np.ndarray
    messages_per_step: np.ndarray
    rates_known: bool

    @property
    def n_ranks(self) -> int:
        return int(self.cores.size)

    @property
    def bytes_per_step(self) -> np.ndarray:
        """Expected bytes of spike messages leaving each rank per step."""
        return BYTES_PER_MESSAGE * self.messages_per_step

    def to_markdown(self) -> str:
        """A table of the ranks: cores, units, synapses, load, expected traffic out."""
        basis = ("at the compile-time rate estimate" if self.rates_known
                 else "if every unit spiked once per step (compile with rates= for an estimate)")
        lines = [f"Placement on {self.n_ranks} rank(s), strategy {self.strategy}; expected "
                 f"messages leaving each rank per step {basis}, {BYTES_PER_MESSAGE} bytes each.",
                 "", "| rank | cores | units | synapses | load | messages/step out | "
                 "bytes/step out |", "|---:|---:|---:|---:|---:|---:|---:|"]
        for r in range(self.n_ranks):
            lines.append(f"| {r} | {self.cores[r]} | {self.neurons[r]} | {self.synapses[r]} | "
                         f"{100 * self.load[r]:.1f} % | {self.messages_per_step[r]:.4g} | "
                         f"{self.bytes_per_step[r]:.4g} |")
        return "\n".join(lines)


def assign_ranks(exe: Executable, n_ranks: int, seed: int = 0) -> RankPlacement:
    """Split the cores of ``exe`` over ``n_ranks`` ranks (see the module docstring)."""
    n_ranks = max(1, int(n_ranks))
    n_cores = exe.n_cores
    load = core_loads(exe)
    contiguous = assign_workers(exe, n_ranks)
    core_rank, strategy = contiguous, "contiguous"
    if n_ranks > 1 and n_cores > n_ranks:
        graph = _traffic_graph(exe)
        capacity = max((1 + IMBALANCE) * load.sum() / n_ranks, float(load.max()))
        parts = mincut_parts(graph, load, np.array([capacity]), n_ranks, seed=seed)
        if int(parts.max()) + 1 == n_ranks and \
                cut_weight(graph, parts) < cut_weight(graph, contiguous):
            core_rank, strategy = parts, "traffic"
    return _describe(exe, core_rank, strategy, n_ranks, load)


def _unit_rates(exe: Executable) -> np.ndarray:
    return exe.rates if exe.rates is not None else np.ones(exe.ir.n_units)


def _traffic_graph(exe: Executable) -> sp.csr_matrix:
    """Symmetric ``(n_cores, n_cores)``: expected messages per step between two cores."""
    routing, unit_core, n = exe.routing, exe.partition.unit_core, exe.n_cores
    per_route = np.repeat(_unit_rates(exe), np.diff(routing.dest_indptr))
    source = np.repeat(unit_core.astype(np.int64), np.diff(routing.dest_indptr))
    graph = sp.coo_matrix((per_route, (source, routing.dest_core.astype(np.int64))),
                          shape=(n, n)).tocsr()
    graph = (graph + graph.T).tocsr()
    graph.setdiag(0)
    graph.eliminate_zeros()
    return graph


def _describe(exe: Executable, core_rank: np.ndarray, strategy: str, n_ranks: int,
              load: np.ndarray) -> RankPlacement:
    core_rank = np.asarray(core_rank, dtype=np.int64)
    unit_core = exe.partition.unit_core
    unit_rank = core_rank[unit_core]
    axon_ptr, syn_ptr = exe.routing.axon_indptr, exe.tables.axon_syn_ptr
    synapses = syn_ptr[axon_ptr[1:]].astype(np.int64) - syn_ptr[axon_ptr[:-1]]
    routing = exe.routing
    # distinct (unit, other rank) pairs: one message per spike and rank reached
    owner = np.repeat(np.arange(exe.ir.n_units, dtype=np.int64), np.diff(routing.dest_indptr))
    dest_rank = core_rank[routing.dest_core]
    away = dest_rank != unit_rank[owner]
    pairs = np.unique(owner[away] * n_ranks + dest_rank[away])
    senders = pairs // n_ranks
    messages = np.bincount(unit_rank[senders], weights=_unit_rates(exe)[senders],
                           minlength=n_ranks)
    total = load.sum()
    return RankPlacement(
        core_rank=core_rank, strategy=strategy,
        cores=np.bincount(core_rank, minlength=n_ranks),
        neurons=np.bincount(unit_rank, minlength=n_ranks),
        synapses=np.bincount(core_rank, weights=synapses, minlength=n_ranks).astype(np.int64),
        load=np.bincount(core_rank, weights=load, minlength=n_ranks) / (total if total else 1),
        messages_per_step=messages, rates_known=exe.rates is not None)
