"""The Executable: a network mapped onto cores, ready for a runtime, inspectable and saveable.

Per-core programs are stored as flat arrays for all cores with per-core offsets (CSR style), which
is what the multi-core runtime's kernels walk and what a file stores without thousands of members:

* units of core ``c``: ``core_units[core_unit_ptr[c]:core_unit_ptr[c + 1]]`` (global unit ids);
* input axons of core ``c``: ``routing.axon_source[routing.axon_indptr[c]:...]``;
* synapses of global axon ``a``: ``syn_*[axon_syn_ptr[a]:axon_syn_ptr[a + 1]]``, with the target as
  an index into its core's unit list, the weight already shifted (``w << weight_exp``, int16) and
  the delay (uint8).

dtypes: ``core_unit_ptr``, ``core_units``, ``unit_local`` int64 (one entry per core or unit);
``axon_syn_ptr`` int32 (int64 from ``2**31`` synapses on; one entry per input axon, about one per
synapse on big networks); ``syn_target`` uint16 (int32 on cores of more than 65,535 units),
``syn_weight`` int16, ``syn_delay`` uint8. Files saved by older versions hold an int64
``axon_syn_ptr``.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nmgraph.compilers.ir import NetworkIR
from nmgraph.compilers.mapping_data import RESOURCES, Partition, Placement, Routing
from nmgraph.compilers.quantize import QuantizationReport
from nmgraph.compilers.synapse_graph import SynapseGraph, core_runs, row_chunks, stable_order, synapse_cores
from nmgraph.core.network import NetworkStamp

__all__ = ["CoreRecord", "CoreTables", "Executable", "build_core_tables"]

#: Synapses per chunk of the temporary index arrays of :func:`build_core_tables`.
_CHUNK = 1 << 20


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
    """Lay every synapse into the table of its target's core, by input axon then target.

    Synapses are ordered by (core, source, local target), ties in graph order, as
    ``np.lexsort((local, axon))`` orders them. When cores are unit ranges (``greedy``,
    ``balanced``), each (source, core) axon is a run of consecutive synapses of the graph
    (:func:`core_runs`) and the runs are scattered to their axons' places without any sort;
    otherwise one packed sort by core does it (the graph is by source, so a stable sort by core
    leaves each core's synapses by source). Within an axon, synapses are by local target unless
    several projections from one source reach one core: those axons alone are then sorted.
    """
    unit_ptr, units = partition.core_units()
    unit_core = partition.unit_core
    n_cores = partition.n_cores
    unit_local = np.empty(ir.n_units, dtype=np.int64)
    unit_local[units] = np.arange(units.size) - np.repeat(unit_ptr[:-1], np.diff(unit_ptr))
    narrow = np.uint16 if unit_local.size == 0 or int(np.diff(unit_ptr).max(initial=0)) <= \
        np.iinfo(np.uint16).max else np.int32
    core = synapse_cores(graph, unit_core, n_cores)
    runs = core_runs(graph, core)
    tables = None
    if runs is not None:
        box = [core]  # _scatter_runs drops the cores when done with them
        del core
        tables = _scatter_runs(ir, graph, routing, box, unit_local.astype(narrow), *runs)
        del box, runs
    if tables is None:
        core = synapse_cores(graph, unit_core, n_cores)
        tables = _sort_by_core(ir, graph, routing, core, unit_local.astype(narrow), n_cores)
        del core
    axon_syn_ptr, syn_target, syn_weight, syn_delay = tables
    axon_syn_ptr = axon_syn_ptr.astype(_pointer_dtype(graph.n_synapses), copy=False)
    return CoreTables(core_unit_ptr=unit_ptr, core_units=units, unit_local=unit_local,
                      axon_syn_ptr=axon_syn_ptr, syn_target=syn_target,
                      syn_weight=syn_weight, syn_delay=syn_delay)


def _pointer_dtype(n_synapses: int) -> type:
    """dtype of ``axon_syn_ptr``: int32, or int64 from ``2**31`` synapses on."""
    return np.int32 if n_synapses < 2**31 else np.int64


def _unit_chunks(graph: SynapseGraph) -> list[tuple[int, int]]:
    """Ranges of source units whose synapses number about ``_CHUNK`` (at least one unit)."""
    n = graph.n_synapses
    marks = np.searchsorted(graph.indptr, np.arange(0, n, _CHUNK, dtype=np.int64), "right") - 1
    bounds = sorted({0, graph.n_units, *(int(m) for m in marks)})
    return list(itertools.pairwise(bounds))


def _scatter_runs(ir: NetworkIR, graph: SynapseGraph, routing: Routing, box: list[np.ndarray],
                  unit_local: np.ndarray, keep: np.ndarray,
                  fanout: np.ndarray) -> tuple[np.ndarray, ...] | None:
    """Tables when every (source, core) axon is a run of consecutive synapses of the graph;
    None when the routing's pairs are not those runs. Two passes over chunks of source units
    (axon lengths, then each synapse to its place) keep the temporaries small. ``box`` holds
    the core of each synapse, released after the first pass."""
    n = graph.n_synapses
    core = box[0]
    n_pairs = routing.dest_core.size
    if not (np.array_equal(np.diff(routing.dest_indptr), fanout)
            and n_pairs == int(fanout.sum()) == routing.axon_source.size):
        return None
    chunks = _unit_chunks(graph)
    # Each axon is one pair, so one run: lengths start at 1 and only the longer runs are written
    # (on chips with small cores most runs are a single synapse, and these writes are random).
    pointer_dtype = _pointer_dtype(n)
    axon_syn_ptr = np.ones(n_pairs + 1, dtype=pointer_dtype)
    axon_syn_ptr[0] = 0

    def runs_of(u0: int, u1: int) -> tuple[int, np.ndarray, np.ndarray]:
        s0, s1 = int(graph.indptr[u0]), int(graph.indptr[u1])
        p0, p1 = int(routing.dest_indptr[u0]), int(routing.dest_indptr[u1])
        axon = routing.axon_indptr[routing.dest_core[p0:p1]]  # global axon of each pair
        axon += routing.dest_axon[p0:p1]
        return s0, np.flatnonzero(keep[s0:s1]), axon

    for u0, u1 in chunks:  # pass 1: check the runs are the routing's pairs; axon lengths
        s0, first, axon = runs_of(u0, u1)
        p0, p1 = int(routing.dest_indptr[u0]), int(routing.dest_indptr[u1])
        if not np.array_equal(routing.dest_core[p0:p1], core[s0 + first]):
            return None
        length = np.diff(first, append=int(graph.indptr[u1]) - s0)
        longer = np.flatnonzero(length > 1)
        axon_syn_ptr[1:][axon[longer]] = length[longer]
    del core
    box.clear()
    np.cumsum(axon_syn_ptr, dtype=pointer_dtype, out=axon_syn_ptr)
    syn_target = np.empty(n, dtype=unit_local.dtype)
    syn_weight = np.empty(n, dtype=np.int16)
    syn_delay = np.empty(n, dtype=np.uint8)
    late = []
    for u0, u1 in chunks:  # pass 2: every synapse to its place
        s0, first, axon = runs_of(u0, u1)
        s1 = int(graph.indptr[u1])
        length = np.diff(first, append=s1 - s0)
        place = np.repeat(axon_syn_ptr[axon] - first, length)
        place += np.arange(s1 - s0, dtype=np.int64)
        local = unit_local[graph.target[s0:s1]]
        syn_target[place] = local
        graph.scatter_weight_delay(u0, u1, place, syn_weight, syn_delay)
        unsorted = ~keep[s0 + 1:s1] & (local[1:] < local[:-1])
        if unsorted.any():
            late.append(place[1:][unsorted])
    if late:  # several projections from one source into one core: sort those axons
        axon_of = np.searchsorted(axon_syn_ptr, np.concatenate(late), side="right") - 1
        _sort_axons(np.unique(axon_of), axon_syn_ptr, syn_target, syn_weight, syn_delay)
    return axon_syn_ptr, syn_target, syn_weight, syn_delay


def _sort_axons(axons: np.ndarray, axon_syn_ptr: np.ndarray, syn_target: np.ndarray,
                syn_weight: np.ndarray, syn_delay: np.ndarray) -> None:
    """Order the synapses of these axons by target, stably, in place."""
    lengths = axon_syn_ptr[axons + 1] - axon_syn_ptr[axons]
    take = np.repeat(axon_syn_ptr[axons] - np.cumsum(lengths) + lengths, lengths)
    take += np.arange(take.size, dtype=np.int64)
    group = np.repeat(np.arange(axons.size), lengths)
    fix = take[np.lexsort((syn_target[take], group))]
    for array in (syn_target, syn_weight, syn_delay):
        array[take] = array[fix]


def _sort_by_core(ir: NetworkIR, graph: SynapseGraph, routing: Routing, core: np.ndarray,
                  unit_local: np.ndarray, n_cores: int) -> tuple[np.ndarray, ...]:
    n = graph.n_synapses
    order, core = stable_order(core, n_cores, sorted_keys=True)
    local = unit_local[graph.target][order]
    source = np.repeat(np.arange(ir.n_units, dtype=np.int32 if ir.n_units < 2**31 else np.int64),
                       np.diff(graph.indptr))[order]
    new_axon = np.ones(n, dtype=bool)
    if n:
        np.not_equal(source[1:], source[:-1], out=new_axon[1:])
        new_axon[1:] |= core[1:] != core[:-1]
        unsorted = ~new_axon[1:] & (local[1:] < local[:-1])
        if unsorted.any():
            group = np.cumsum(new_axon) - 1
            mixed = np.isin(group, group[1:][unsorted])
            take = np.flatnonzero(mixed)
            fix = take[np.lexsort((local[take], group[take]))]
            order[take], local[take] = order[fix], local[fix]
    starts = np.flatnonzero(new_axon)
    del new_axon
    axon_syn_ptr = _axon_pointers(routing, n_cores, ir.n_units, core[starts],
                                  source[starts].astype(np.int64), starts, n)
    del core, source
    weight, delay = graph.weight_delay()
    return axon_syn_ptr, local, weight[order], delay[order]


def _axon_pointers(routing: Routing, n_cores: int, n_units: int, group_core: np.ndarray,
                   group_source: np.ndarray, starts: np.ndarray, n: int) -> np.ndarray:
    """``axon_syn_ptr`` over the routing's input axons from the synapses' (core, source) groups
    (normally the same list; axons without synapses get empty ranges)."""
    axon_core = np.repeat(np.arange(n_cores, dtype=np.int64), np.diff(routing.axon_indptr))
    if np.array_equal(axon_core, group_core) and np.array_equal(routing.axon_source,
                                                                group_source):
        return np.append(starts, n).astype(np.int64)
    units = max(n_units, 1)
    keys = axon_core * units + routing.axon_source
    axon = np.searchsorted(keys, group_core * units + group_source)
    if axon.size and (int(axon.max()) >= keys.size or
                      not np.array_equal(keys[axon], group_core * units + group_source)):
        raise AssertionError("routing lacks an input axon that a synapse needs")  # a bug
    counts = np.diff(np.append(starts, n))
    axon_syn_ptr = np.zeros(keys.size + 1, dtype=np.int64)
    np.cumsum(np.bincount(axon, weights=counts, minlength=keys.size).astype(np.int64),
              out=axon_syn_ptr[1:])
    return axon_syn_ptr


def _run_sums(values: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """int64 sums of ``values[bounds[i]:bounds[i + 1]]`` for each ``i`` (``bounds`` ascending,
    from 0 to ``values.size``)."""
    sums = np.zeros(bounds.size - 1, dtype=np.int64)
    filled = bounds[1:] > bounds[:-1]   # reduceat would give an empty run the next value
    if filled.any():
        sums[filled] = np.add.reduceat(values, bounds[:-1][filled], dtype=np.int64)
    return sums


@dataclass(frozen=True)
class CoreRecord:
    """One virtual core, as users inspect it (``exe.cores``).

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
    #: The Network it was compiled from and its revision then (not saved in files): a Runtime
    #: refuses to run an Executable whose network was edited since.
    source: NetworkStamp | None = None

    @property
    def n_cores(self) -> int:
        """Number of cores the network occupies."""
        return self.partition.n_cores

    @property
    def n_chips(self) -> int:
        """Number of chips holding at least one of its cores."""
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

        Columns: messages (deliveries to a core) to its own core, to other cores of its chip, to
        other chips; hops; and the x and y parts of the unicast hops.

        Unicast profiles (Loihi, TrueNorth): one message per destination core of the unit, hops
        the sum of its unicast paths. Multicast profiles (SpiNNaker, ``key_multicast``): a spike
        is one packet with its core's key, which the routers deliver to every core of the union
        of the core's units' destinations and which crosses every link of the core's tree once,
        so every unit of a core costs the core's deliveries and tree links (``tree_hops``),
        whatever its own targets; the x and y columns stay the sums of its own unicast paths.
        """
        costs = self._unicast_costs()
        if self.routing.multicast:
            costs[:, :3] = self._core_deliveries()[self.partition.unit_core]
            costs[:, 3] = self.routing.tree_hops
        return costs

    @functools.cached_property
    def core_destinations(self) -> tuple[np.ndarray, np.ndarray]:
        """``(source core, destination core)``, int64: the distinct pairs, sorted, where some
        unit of the source core reaches the destination core; on multicast profiles, the cores
        every packet of the source core reaches."""
        from nmgraph.compilers.route_multicast import core_pairs

        routing = self.routing
        return core_pairs(routing.dest_indptr, routing.dest_core, self.partition.unit_core,
                          self.n_cores)

    def _core_deliveries(self) -> np.ndarray:
        """int64 ``(n_cores, 3)``: the cores each core's packets reach: itself, other cores of
        its chip, cores of other chips (the union of its units' destination cores)."""
        n_cores, chips = self.n_cores, self.placement.core_chip
        source, dest = self.core_destinations
        same_core = dest == source
        same_chip = chips[dest] == chips[source]
        out = np.zeros((n_cores, 3), dtype=np.int64)
        out[:, 0] = np.bincount(source, weights=same_core, minlength=n_cores)
        out[:, 1] = np.bincount(source, weights=~same_core & same_chip, minlength=n_cores)
        out[:, 2] = np.bincount(source, weights=~same_chip, minlength=n_cores)
        return out

    def _unicast_costs(self) -> np.ndarray:
        """:attr:`unit_costs` as unicast routing counts them (one message per destination)."""
        routing, unit_core = self.routing, self.partition.unit_core
        n_units = self.ir.n_units
        chips = self.placement.core_chip
        one_chip = chips.size == 0 or bool((chips == chips[0]).all())
        costs = np.zeros((n_units, 6), dtype=np.int64)
        # by ranges of units with about _CHUNK routes: the temporaries stay small; each unit's
        # routes are consecutive, so its sums are differences of running sums
        for u0, u1 in row_chunks(routing.dest_indptr, _CHUNK):
            p0, p1 = int(routing.dest_indptr[u0]), int(routing.dest_indptr[u1])
            bounds = np.asarray(routing.dest_indptr[u0:u1 + 1], dtype=np.int64) - p0
            count = np.diff(bounds)
            dest = routing.dest_core[p0:p1]
            source_core = np.repeat(unit_core[u0:u1], count)
            part = costs[u0:u1]
            own = np.flatnonzero(dest == source_core)   # at most one route per unit
            part[:, 0] = np.bincount(np.searchsorted(bounds, own, side="right") - 1,
                                     minlength=u1 - u0)
            if not one_chip:
                part[:, 2] = _run_sums(chips[dest] != chips[source_core], bounds)
            part[:, 1] = count - part[:, 0] - part[:, 2]
            if routing.unit_hop_sums is not None:   # summed by the routing pass
                part[:, 4:6] = routing.unit_hop_sums[u0:u1]
            else:
                hops_x, hops_y = routing.unit_hops(u0, u1)   # held, or derived for these units
                part[:, 4] = _run_sums(hops_x, bounds)
                part[:, 5] = _run_sums(hops_y, bounds)
        costs[:, 3] = costs[:, 4] + costs[:, 5]
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
