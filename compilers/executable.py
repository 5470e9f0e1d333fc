"""The Executable: a network mapped onto cores, ready for a runtime, inspectable and saveable.

Per-core programs are stored as flat arrays for all cores with per-core offsets (CSR style), which
is what the multi-core runtime's kernels walk and what a file stores without thousands of members:

* units of core ``c``: ``core_units[core_unit_ptr[c]:core_unit_ptr[c + 1]]`` (global unit ids);
* input axons of core ``c``: ``routing.axon_source[routing.axon_indptr[c]:...]``;
* synapses of global axon ``a``: ``syn_*[axon_syn_ptr[a]:axon_syn_ptr[a + 1]]``, with the target as
  an index into its core's unit list, the weight already shifted (``w << weight_exp``, int16) and
  the delay (uint8).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nmgraph.compilers.ir import NetworkIR
from nmgraph.compilers.mapping import RESOURCES, Partition, Placement, Routing
from nmgraph.compilers.quantize import QuantizationReport
from nmgraph.compilers.synapse_graph import SynapseGraph

__all__ = ["CoreRecord", "CoreTables", "Executable", "build_core_tables"]


@dataclass(eq=False)
class CoreTables:
    """Per-core unit lists and synapse tables of all cores (see the module docstring)."""

    core_unit_ptr: np.ndarray
    core_units: np.ndarray
    unit_local: np.ndarray
    axon_syn_ptr: np.ndarray
    syn_target: np.ndarray
    syn_weight: np.ndarray
    syn_delay: np.ndarray


def build_core_tables(ir: NetworkIR, graph: SynapseGraph, partition: Partition,
                      routing: Routing) -> CoreTables:
    """Lay every synapse into the table of its target's core, by input axon then target."""
    unit_ptr, units = partition.core_units()
    unit_core = partition.unit_core
    unit_local = np.empty(ir.n_units, dtype=np.int64)
    unit_local[units] = np.arange(units.size) - np.repeat(unit_ptr[:-1], np.diff(unit_ptr))
    source, target = graph.source(), graph.target
    core = unit_core[target]
    n_units = max(ir.n_units, 1)
    axon_keys = (np.repeat(np.arange(partition.n_cores, dtype=np.int64),
                           np.diff(routing.axon_indptr)) * n_units + routing.axon_source)
    axon = np.searchsorted(axon_keys, core * n_units + source)
    local = unit_local[target]
    order = np.lexsort((local, axon))
    weights = np.empty(graph.n_synapses, dtype=np.int64)
    delays = np.empty(graph.n_synapses, dtype=np.uint8)
    for index, proj in enumerate(ir.projections):
        mine = graph.projection == index
        weights[mine] = proj.effective_weights()[graph.synapse[mine]]
        delays[mine] = proj.delays[graph.synapse[mine]]
    axon_syn_ptr = np.zeros(axon_keys.size + 1, dtype=np.int64)
    np.cumsum(np.bincount(axon, minlength=axon_keys.size), out=axon_syn_ptr[1:])
    narrow = np.uint16 if unit_local.size == 0 or int(np.diff(unit_ptr).max(initial=0)) <= \
        np.iinfo(np.uint16).max else np.int32
    return CoreTables(core_unit_ptr=unit_ptr, core_units=units, unit_local=unit_local,
                      axon_syn_ptr=axon_syn_ptr, syn_target=local[order].astype(narrow),
                      syn_weight=weights[order].astype(np.int16), syn_delay=delays[order])


@dataclass(frozen=True)
class CoreRecord:
    """One virtual core, as users inspect it (DESIGN §3).

    Attributes
    ----------
    core_id
        Index of the core in the Executable.
    chip
        Index of the chip it sits on.
    position
        ``(x, y)`` of the core on its chip's mesh.
    slices
        ``[(process_name, start, stop)]``: ranges of units (indices within the process) it holds.
    usage
        Resource -> amount used: neurons, axons_in, axons_out, synapses, synapse_bits.
    kind
        ``"neuron"`` or ``"source"``.
    """

    core_id: int
    chip: int
    position: tuple[int, int]
    slices: list[tuple[str, int, int]]
    usage: dict[str, int]
    kind: str


@dataclass(eq=False)
class Executable:
    """A network compiled for one hardware profile.

    Attributes
    ----------
    ir
        The lowered network with weights as quantized for the profile (what every runtime runs).
    profile
        The HardwareProfile it was mapped onto.
    partition, placement, routing
        The results of the mapping passes.
    tables
        Per-core unit lists and synapse tables (:class:`CoreTables`).
    quantization
        What quantization changed.
    options
        How it was compiled: hardware, partition and place strategies, seed, caps.
    """

    ir: NetworkIR
    profile: Any
    partition: Partition
    placement: Placement
    routing: Routing
    tables: CoreTables
    quantization: QuantizationReport
    options: dict[str, Any] = field(default_factory=dict)
    #: Expected spikes per step of each unit, when given to ``compile`` (weights traffic figures).
    rates: np.ndarray | None = None

    @property
    def n_cores(self) -> int:
        return self.partition.n_cores

    @property
    def n_chips(self) -> int:
        return int(np.unique(self.placement.core_chip).size) if self.n_cores else 0

    @functools.cached_property
    def cores(self) -> list[CoreRecord]:
        """One :class:`CoreRecord` per core."""
        return [self._core(c) for c in range(self.n_cores)]

    def _core(self, c: int) -> CoreRecord:
        units = self.tables.core_units[self.tables.core_unit_ptr[c]:self.tables.core_unit_ptr[c + 1]]
        x, y = self.profile.position(int(self.placement.core_index[c]), self.n_cores)
        return CoreRecord(
            core_id=c, chip=int(self.placement.core_chip[c]),
            position=(int(x), int(y)), slices=self._slices(units),
            usage={r: int(self.partition.usage[r][c]) for r in RESOURCES},
            kind=self.partition.core_kind[c])

    def _slices(self, units: np.ndarray) -> list[tuple[str, int, int]]:
        slices: list[tuple[str, int, int]] = []
        if units.size == 0:
            return slices
        breaks = np.flatnonzero(np.diff(units) != 1) + 1
        for run in np.split(units, breaks):
            start, stop = int(run[0]), int(run[-1]) + 1
            for pop in self.ir.populations:
                lo, hi = max(start, pop.offset), min(stop, pop.stop)
                if lo < hi:
                    slices.append((pop.name, lo - pop.offset, hi - pop.offset))
        return slices

    @functools.cached_property
    def unit_costs(self) -> np.ndarray:
        """What one spike of each unit costs in messages and hops, int64 ``(n_units, 6)``.

        Columns: messages to its own core, to other cores of its chip, to other chips (one message
        per destination core), mesh hops (the multicast tree's links on profiles that route
        multicast, else the sum of the unicast paths), and the x and y parts of the unicast hops.
        """
        routing, unit_core = self.routing, self.partition.unit_core
        n_units = self.ir.n_units
        owner = np.repeat(np.arange(n_units, dtype=np.int64), np.diff(routing.dest_indptr))
        same_core = routing.dest_core == unit_core[owner]
        chips = self.placement.core_chip
        same_chip = chips[routing.dest_core] == chips[unit_core[owner]]
        costs = np.zeros((n_units, 6), dtype=np.int64)
        costs[:, 0] = np.bincount(owner, weights=same_core, minlength=n_units)
        costs[:, 1] = np.bincount(owner, weights=~same_core & same_chip, minlength=n_units)
        costs[:, 2] = np.bincount(owner, weights=~same_chip, minlength=n_units)
        costs[:, 4] = np.bincount(owner, weights=routing.hops_x, minlength=n_units)
        costs[:, 5] = np.bincount(owner, weights=routing.hops_y, minlength=n_units)
        costs[:, 3] = routing.tree_hops if routing.multicast else costs[:, 4] + costs[:, 5]
        return costs

    @functools.cached_property
    def routing_out_degree(self) -> np.ndarray:
        """Synapses leaving each unit (int64): the synaptic operations one of its spikes causes."""
        degree = np.zeros(self.ir.n_units, dtype=np.int64)
        for proj in self.ir.projections:
            pre = self.ir.population(proj.pre)
            degree[pre.offset:pre.stop] += np.diff(proj.indptr)
        return degree

    def traffic_of(self, spike_units: np.ndarray) -> dict[str, int]:
        """Messages and hops that spikes of these units (global ids, repeated per spike) cause,
        as the routing predicts them (keys as :class:`~nmgraph.runtimes.results.Counters`)."""
        totals = self.unit_costs[spike_units].sum(axis=0) if spike_units.size else np.zeros(6)
        names = ("messages_core", "messages_cores", "messages_chips", "hops", "hops_x", "hops_y")
        return {name: int(value) for name, value in zip(names, totals)}

    @functools.cached_property
    def report(self):
        """The MappingReport of this compile (cores, utilisation, traffic, hops, quantization)."""
        from nmgraph.compilers.report import build_report

        return build_report(self)

    def save(self, path: str | Path) -> Path:
        """Write the Executable to one file (JSON plus arrays, no pickle)."""
        from nmgraph.compilers.executable_io import save_executable

        return save_executable(self, path)

    @classmethod
    def load(cls, path: str | Path) -> Executable:
        """Read an Executable written by :meth:`save`."""
        from nmgraph.compilers.executable_io import load_executable

        return load_executable(path)
