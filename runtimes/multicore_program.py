"""Per-worker programs of the multi-core runtime, built from an Executable by the host.

Cores are split over workers in contiguous runs of core ids balanced by load (synapses plus
neurons), which keeps cores that a partitioner grouped (and cores of one chip) together. Each
worker gets its units in *runs* (units of one population, consecutive in the worker and in the
population; neurons first, so that they own the first columns of the input ring buffer), each run
with its own parameters, state and kernel record (``_kernel.pxd``), and one fan-out table for
all its cores: a *row* per source unit that reaches any of them, holding that unit's synapses
on every core of the worker, ordered by target. A spike is delivered to the worker's own cores
by walking one row, and to each other worker by one message ``(t, row there)``, however many of
that worker's cores it reaches. What the chip would send (one message per destination core, and
its hops) is counted exactly from the routing's per-unit costs, so the counters do not depend on
how cores are grouped into workers.
"""

from __future__ import annotations

import importlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from nmgraph.compilers.executable import Executable
from nmgraph.compilers.learning_memory import plastic_synapses_per_core
from nmgraph.compilers.synapse_graph import ENGINE_DELAY
from nmgraph.core.errors import SimulationError
from nmgraph.core.models import FieldSet, PopulationModel, model_named
from nmgraph.runtimes._fanout import (
    MIXED_DELAYS,
    OWN_WEIGHTS,
    count_rows,
    scatter_rows,
    segment_counts,
    split_segments,
)
from nmgraph.runtimes._worker_kernel import (
    COUNTER_NAMES,
    FANOUT_DTYPE,
    KERNEL_RUN_DTYPE,
    SEGMENT_DTYPE,
)
from nmgraph.runtimes.multicore_plastic import PlasticProgram, build_plastic_program

__all__ = ["UnitRun", "WorkerProgram", "assign_workers", "build_programs", "core_loads",
           "fill_record", "kernel_entry", "kernel_records", "mailbox_capacity", "narrow_ids",
           "refresh_runs", "window_length"]

#: Longest window between exchanges (bounds mailbox memory).
MAX_WINDOW = 64
N_COUNTERS = len(COUNTER_NAMES)
#: Slots of a kernel record for state fields and kernel parameter arrays.
KERNEL_SLOTS = KERNEL_RUN_DTYPE["state"].shape[0]


@dataclass(eq=False)
class UnitRun:
    """Units of one population on one worker, consecutive in the worker and in the population.

    ``params`` and ``state`` are the run's own copies (the kernel reads and writes them in
    place); ``kernel_arrays`` what the model's kernel reads (``model.kernel_params(params)``).
    """

    population: int
    name: str
    label: str
    model: PopulationModel
    start: int
    index: np.ndarray
    params: FieldSet
    state: FieldSet
    kernel_arrays: tuple[np.ndarray, ...] = ()

    @property
    def count(self) -> int:
        return int(self.index.size)

    @property
    def units(self) -> slice:
        """The run's local units."""
        return slice(self.start, self.start + self.count)


@dataclass(eq=False)
class WorkerProgram:
    """Everything one worker needs (see ``_worker_kernel.pyx`` for how the kernel reads it)."""

    rank: int
    n_workers: int
    cores: np.ndarray
    units: np.ndarray
    n_neurons: int
    n_units: int
    runs: list[UnitRun] = field(default_factory=list)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    #: The learning engine's program (None: no plastic synapse on this worker).
    plastic: PlasticProgram | None = None

    def __getattr__(self, name: str) -> np.ndarray:
        arrays = self.__dict__.get("arrays", {})
        if name in arrays:
            return arrays[name]
        raise AttributeError(name)

    def runs_of(self, population: int) -> list[UnitRun]:
        """The runs of population ``population`` (its index in the IR) on this worker."""
        return [run for run in self.runs if run.population == population]


def _unit_is_source(exe: Executable) -> np.ndarray:
    return np.repeat([model_named(pop.model).is_source for pop in exe.ir.populations],
                     [pop.size for pop in exe.ir.populations]).astype(bool)


def assign_workers(exe: Executable, n_workers: int) -> np.ndarray:
    """Worker of each core.

    Cores that hold neurons are split into contiguous runs (which keeps cores that a partitioner
    grouped, and cores of one chip, together) of about equal load: synapses plus units (a plastic
    synapse counts ``1 + PLASTIC_LOAD`` times: the learning engine's work). Cores that
    hold only sources (Poisson units, generators) then go each to the worker that holds most of
    their synapses, the least loaded on a tie, so that a drive wired one-to-one into a population
    is filled and delivered where its targets are, without a message per spike.
    """
    n_cores = exe.n_cores
    load = core_loads(exe)
    worker = np.zeros(n_cores, dtype=np.int64)
    if n_workers <= 1 or n_cores == 0:
        return worker
    sink = np.zeros(n_cores, dtype=bool)
    sink[exe.partition.unit_core[~_unit_is_source(exe)]] = True
    if not sink.any():
        sink[:] = True
    cumulative = np.cumsum(load[sink]) - load[sink] / 2
    worker[sink] = np.clip(np.floor(cumulative / load[sink].sum() * n_workers), 0, n_workers - 1)
    sources = np.flatnonzero(~sink)
    if sources.size:
        into = _synapses_into_workers(exe, worker, sources, n_workers)
        total = np.bincount(worker[sink], weights=load[sink], minlength=n_workers)
        for row, core in enumerate(sources.tolist()):
            best = np.flatnonzero(into[row] == into[row].max())
            choice = int(best[np.argmin(total[best])])
            worker[core] = choice
            total[choice] += load[core]
    return worker


#: Extra load of a plastic synapse over a fixed one when balancing workers: besides its delivery
#: the learning engine evaluates it at the spikes of its pre and of its post neuron.
PLASTIC_LOAD = 10.0


def core_loads(exe: Executable) -> np.ndarray:
    """The work of each core per step, as balanced over workers: synapses plus units plus one
    (counted from the tables: a profile's usage may count synapse memory in bits or words),
    a plastic synapse ``1 + PLASTIC_LOAD`` times."""
    axon_ptr, syn_ptr = exe.routing.axon_indptr, exe.tables.axon_syn_ptr
    synapses = (syn_ptr[axon_ptr[1:]].astype(np.int64) - syn_ptr[axon_ptr[:-1]]).astype(float)
    load = synapses + np.diff(exe.tables.core_unit_ptr).astype(float) + 1
    load += PLASTIC_LOAD * plastic_synapses_per_core(exe.ir, exe.partition.unit_core,
                                                     exe.n_cores)
    return load


def _synapses_into_workers(exe: Executable, worker: np.ndarray, sources: np.ndarray,
                           n_workers: int) -> np.ndarray:
    """``(len(sources), n_workers)``: synapses from each source core onto each worker's cores
    (the workers of sink cores as given), counted over the input axons in chunks."""
    routing, syn_ptr = exe.routing, exe.tables.axon_syn_ptr
    axon_ptr = routing.axon_indptr
    row_of_core = np.full(exe.n_cores, -1, dtype=np.int64)
    row_of_core[sources] = np.arange(sources.size)
    row_of_unit = row_of_core[exe.partition.unit_core]
    into = np.zeros(sources.size * n_workers, dtype=np.float64)
    n_axons = int(axon_ptr[-1])
    for a0 in range(0, n_axons, _CHUNK):
        a1 = min(n_axons, a0 + _CHUNK)
        row = row_of_unit[routing.axon_source[a0:a1]]
        axon = np.flatnonzero(row >= 0)   # the axons from source cores: few
        row = row[axon]
        axon += a0
        dest = np.searchsorted(axon_ptr, axon, side="right") - 1
        synapses = syn_ptr[axon + 1].astype(np.int64) - syn_ptr[axon]
        into += np.bincount(row * n_workers + worker[dest], weights=synapses,
                            minlength=into.size)
    return into.reshape(sources.size, n_workers)


def window_length(programs: list[WorkerProgram]) -> int:
    """Steps between exchanges: the smallest delay of any synapse reached across workers, and
    of any plastic synapse (the learning engine delivers a window's spikes after it)."""
    shortest = MAX_WINDOW
    for program in programs:
        remote = program.row_worker != program.rank
        if remote.any():
            shortest = min(shortest, int(program.row_min_delay[remote].min()))
        if program.plastic is not None:   # the engine delivers a window's spikes at its end
            shortest = min(shortest, program.plastic.min_delay)
    return shortest


def build_programs(exe: Executable, core_worker: np.ndarray | None,
                   record_capacity: int = 1 << 16, only: int | None = None,
                   n_workers: int | None = None,
                   unit_worker: np.ndarray | None = None) -> list[WorkerProgram]:
    """One program per worker, for the cores ``core_worker`` gives it; with ``only``, just that
    worker's program (an MPI rank builds its own: of the others it needs only which units reach
    them, not their synapses). ``n_workers``: at least that many workers (some may hold no
    core: an MPI run with more ranks than cores). ``unit_worker`` (with ``core_worker`` None):
    the worker of each unit instead (``worker_balance.balance_units``: a core may be split
    between workers; not with ``only``)."""
    unit_core = exe.partition.unit_core
    if (core_worker is None) == (unit_worker is None):
        raise ValueError("build_programs takes either core_worker or unit_worker")
    if unit_worker is None:
        n_workers = max(int(core_worker.max()) + 1 if core_worker.size else 1, n_workers or 0)
        unit_worker = core_worker[unit_core]
        worker_cores = [np.flatnonzero(core_worker == w) for w in range(n_workers)]
    else:
        if only is not None:
            raise ValueError("a program built alone ('only') needs whole cores (core_worker)")
        n_workers = max(int(unit_worker.max()) + 1 if unit_worker.size else 1, n_workers or 0)
        pairs = np.unique(unit_worker * exe.n_cores + unit_core)
        worker_cores = [pairs[(pairs // exe.n_cores) == w] % exe.n_cores for w in range(n_workers)]
    pops = exe.ir.populations
    unit_pop = np.repeat(np.arange(len(pops)), [pop.size for pop in pops])
    # local order of units in each worker: neurons before sources, then by population and id
    order = np.lexsort((np.arange(unit_core.size), unit_pop, _unit_is_source(exe), unit_worker))
    counts = np.bincount(unit_worker, minlength=n_workers)
    starts = np.concatenate(([0], np.cumsum(counts)))
    unit_local = np.empty(unit_core.size, dtype=np.int64)
    unit_local[order] = np.arange(order.size) - np.repeat(starts[:-1], counts)
    # worker-local index of the unit in each place of the cores' unit lists
    slot_local = unit_local[exe.tables.core_units]
    programs = []
    cached = "unit_costs" in vars(exe)
    costs = exe.unit_costs
    row_sets: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * n_workers
    split = np.bincount(np.concatenate(worker_cores), minlength=exe.n_cores) > 1
    for w in range(n_workers):
        if only is not None and w != only:
            row_sets[w] = _row_sources(exe, worker_cores[w])
            continue
        units = order[starts[w]:starts[w + 1]]
        program = _program(exe, w, n_workers, units, unit_pop, worker_cores[w])
        program.arrays["unit_cost"] = np.ascontiguousarray(costs[units], dtype=np.int64)
        # synapses leaving each unit (on every worker): the worker counts each population's
        # spikes and synaptic operations itself, and replies with a few numbers per population
        program.arrays["unit_degree"] = np.ascontiguousarray(exe.routing_out_degree[units],
                                                             dtype=np.int64)
        program.arrays["counters"] = np.zeros(N_COUNTERS, dtype=np.int64)
        program.arrays["rec_time"] = np.zeros(record_capacity, dtype=np.int64)
        program.arrays["rec_unit"] = np.zeros(record_capacity, dtype=np.int32)
        programs.append(program)

    def rows(program: WorkerProgram) -> np.ndarray:
        w = program.rank
        # a core split between workers: the slots of the other workers' units are -1 here
        mine = slot_local if not split[worker_cores[w]].any() else np.where(
            unit_worker[exe.tables.core_units] == w, slot_local, -1)
        return _add_rows(exe, program, worker_cores[w], mine)

    # the fan-out tables, one thread per worker's table (their passes release the GIL)
    threads = min(len(programs), os.cpu_count() or 1)
    if threads > 1:
        with ThreadPoolExecutor(threads, thread_name_prefix="nmgraph-build") as pool:
            for program, row_set in zip(programs, pool.map(rows, programs)):
                row_sets[program.rank] = row_set
    else:
        for program in programs:
            row_sets[program.rank] = rows(program)
    if not cached:   # the programs hold every unit's costs: not a second copy in the Executable
        del exe.unit_costs
    for program in programs:
        _add_fanout(program, row_sets, unit_worker)
        program.plastic = build_plastic_program(exe, program.rank, program.units, unit_worker,
                                                unit_local, row_sets[program.rank])
    return programs


def outbox_capacity(programs: list[WorkerProgram], window: int) -> np.ndarray:
    """Most messages worker ``src`` can send worker ``dst`` in one window: each unit spikes at
    most once per step, and sends one message to each worker that holds a row for it."""
    n = len(programs)
    capacity = np.zeros((n, n), dtype=np.int64)
    for program in programs:
        capacity[program.rank] = np.bincount(program.remote_worker, minlength=n) * window
    np.fill_diagonal(capacity, 0)
    return capacity


def mailbox_capacity(program: WorkerProgram, window: int) -> tuple[np.ndarray, np.ndarray]:
    """One worker's rows of :func:`outbox_capacity`, from its own program: the most messages it
    sends each worker in a window, and the most it receives from each (one per unit of the
    source worker that has a row here, per step)."""
    n = program.n_workers
    out = np.bincount(program.remote_worker, minlength=n).astype(np.int64) * window
    into = np.bincount(program.row_worker, minlength=n).astype(np.int64) * window
    out[program.rank] = into[program.rank] = 0
    return out, into


def _program(exe: Executable, w: int, n_workers: int, units: np.ndarray, unit_pop: np.ndarray,
             cores: np.ndarray) -> WorkerProgram:
    pops = exe.ir.populations
    pop_of = unit_pop[units]
    # a new run where the population changes or its units stop being consecutive
    cuts = np.flatnonzero((np.diff(pop_of) != 0) | (np.diff(units) != 1)) + 1
    bounds = np.concatenate(([0], cuts, [units.size])) if units.size else np.zeros(1, np.int64)
    runs = []
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        pop = pops[int(pop_of[lo])]
        model = model_named(pop.model)
        index = units[lo:hi] - pop.offset
        span = slice(int(index[0]), int(index[-1]) + 1)   # consecutive: views, then copies
        params, state = pop.params.subset(span).copy(), pop.state.subset(span).copy()
        run = UnitRun(population=int(pop_of[lo]), name=pop.name,
                      label=f"{pop.process_type} '{pop.name}'", model=model, start=lo,
                      index=index.astype(np.int64), params=params, state=state)
        if model.kernel is not None:
            run.kernel_arrays = tuple(np.ascontiguousarray(a) for a in model.kernel_params(params))
        runs.append(run)
    n_neurons = sum(run.count for run in runs if not run.model.is_source)
    program = WorkerProgram(rank=w, n_workers=n_workers, cores=cores,
                            units=units, n_neurons=n_neurons, n_units=int(units.size), runs=runs)
    program.arrays["spiked"] = np.zeros(max(units.size, 1), dtype=np.uint8)
    program.arrays["kernel_runs"] = kernel_records(runs)
    return program


def kernel_entry(spec: str, model: PopulationModel) -> tuple[int, int]:
    """Addresses of kernel ``"module:name"`` for an int32 and an int64 ring buffer."""
    module_name, _, name = spec.partition(":")
    try:
        return tuple(importlib.import_module(module_name).KERNELS[name])
    except (ImportError, AttributeError, KeyError) as exc:
        raise SimulationError(f"model {model.name!r}: no Cython kernel {spec!r} ({exc})") from None


def kernel_records(runs: list[UnitRun]) -> np.ndarray:
    """The ``KernelRun`` records of ``runs`` (pointing at the runs' arrays, which must stay
    alive and in place)."""
    records = np.zeros(len(runs), dtype=KERNEL_RUN_DTYPE)
    for record, run in zip(records, runs):
        entry = (0, 0) if run.model.kernel is None else kernel_entry(run.model.kernel, run.model)
        try:
            fill_record(record, entry, run.start, run.count, int(run.index[0]) if run.count else 0,
                        [run.state[name] for name in run.state.names()], run.kernel_arrays)
        except ValueError as exc:
            raise SimulationError(f"model {run.model.name!r}: {exc}") from None
    return records


def fill_record(record: np.void, entry: tuple[int, int], start: int, count: int, index0: int,
                state: list[np.ndarray], kernel_arrays: tuple[np.ndarray, ...]) -> None:
    """Point one ``KernelRun`` record at a run's arrays: the kernel ``entry`` (addresses for an
    int32 and an int64 ring; ``(0, 0)``: no kernel), its units ``start .. start + count`` (the
    first being ``index0`` of its population), its int64 state fields and its kernel
    parameters (a row per unit), which must stay alive and in place; and mark it uniform when
    every parameter array holds one value."""
    if entry != (0, 0) and (len(state) > KERNEL_SLOTS or len(kernel_arrays) > KERNEL_SLOTS):
        raise ValueError(f"a kernel takes at most {KERNEL_SLOTS} state fields and "
                         f"{KERNEL_SLOTS} parameters")
    record["fn32"], record["fn64"] = entry
    record["start"], record["count"], record["index0"] = start, count, index0
    for k, array in enumerate(state[:KERNEL_SLOTS]):
        record["state"][k] = array.ctypes.data if array.size else 0
    for k, array in enumerate(kernel_arrays):
        if array.shape[:1] != (count,) or not array.flags.c_contiguous:
            raise ValueError(f"kernel parameter {k} must be a contiguous array with a row per unit")
        record["param"][k] = array.ctypes.data if array.size else 0
        record["width"][k] = array.shape[1] if array.ndim == 2 else 1
    _set_uniform(record, kernel_arrays, count)


def _set_uniform(record: np.void, arrays: tuple[np.ndarray, ...], count: int) -> None:
    """``uniform`` and ``konst`` of a record: the parameters as constants (int64 bits) when every
    unit of the run shares them."""
    uniform = bool(arrays) and count > 0 and all(
        a.ndim == 1 and bool((a == a[0]).all()) for a in arrays)
    record["uniform"] = uniform
    record["konst"][:] = 0
    if uniform:
        values = [int(a[0]) for a in arrays]    # as int64 bits: uint64 above 2**63 wraps
        record["konst"][:len(arrays)] = [v - (1 << 64) if v >= 1 << 63 else v for v in values]


def refresh_runs(program: WorkerProgram, runs: list[UnitRun] | None = None) -> None:
    """Recompute the kernel parameters of ``runs`` (default: all) from their parameters, in
    place (the kernel holds the arrays), and which runs are uniform. Call after parameters
    change."""
    for run in program.runs if runs is None else runs:
        if run.model.kernel is None:
            continue
        for old, new in zip(run.kernel_arrays, run.model.kernel_params(run.params)):
            old[...] = new
    for record, run in zip(program.arrays["kernel_runs"], program.runs):
        _set_uniform(record, run.kernel_arrays, run.count)


#: Synapses per block of rows that ``scatter_rows`` fills at a time (their 7 bytes each stay
#: within a core's L2 cache while every core's axons into that block are laid out).
_SCATTER_BLOCK = 1 << 16
#: Synapses per group of consecutive cores when the synapses of source cores are summed per
#: worker, or the units reaching a worker listed (bounds temporaries).
_CHUNK = 1 << 22
#: The ring buffer is int32 when every neuron's summed synaptic weight magnitudes stay below this
#: (then no step's input can leave int32, whatever the order of arrival), else int64.
RING32_BOUND = 2**31 - 1
#: Synapse targets are uint16 when the worker has at most this many neurons; beyond, uint16
#: offsets from the base of each segment's block of ``2**BLOCK_BITS`` targets when segments stay
#: at least ``MIN_BLOCKED_SEGMENT`` synapses long on average; else int32.
TARGET16_NEURONS = 1 << 16
BLOCK_BITS = 16
MIN_BLOCKED_SEGMENT = 16


def _add_rows(exe: Executable, program: WorkerProgram, cores: np.ndarray,
              slot_local: np.ndarray) -> np.ndarray:
    """The worker's fan-out table (see ``_fanout.pyx``), the ring buffer sized for it, and the
    sorted source unit of each row (returned).

    Two passes over the synapses of the worker's cores, read in place from the Executable's
    tables (no temporary per synapse): which units reach the worker (its rows), how many
    synapses each row has and the largest input a neuron can receive (``count_rows``), then the
    synapses laid into their rows (``scatter_rows``).
    """
    tables, routing = exe.tables, exe.routing
    n_neurons = program.n_neurons
    cores = np.ascontiguousarray(cores, dtype=np.int64)
    core_slot = np.ascontiguousarray(tables.core_unit_ptr, dtype=np.int64)
    inputs = (cores, np.ascontiguousarray(routing.axon_indptr, dtype=np.int64), core_slot,
              _core_bases(core_slot, slot_local), _in_place(routing.axon_source, (np.int32, np.int64)),
              _in_place(tables.axon_syn_ptr, (np.int32, np.int64)),
              _in_place(tables.syn_target, (np.uint16, np.int32)),
              _int16_weights(tables.syn_weight), _in_place(tables.syn_delay, (np.uint8,)),
              np.ascontiguousarray(slot_local, dtype=np.int64))
    unit_count = np.zeros(exe.ir.n_units, dtype=np.int64)
    acc = np.zeros(max(program.n_units, 1), dtype=np.int64)
    engine = count_rows(*inputs, unit_count, acc, ENGINE_DELAY)
    row_source = np.flatnonzero(unit_count)
    row_ptr = np.zeros(row_source.size + 1, dtype=np.int64)
    np.cumsum(unit_count[row_source] - 1, out=row_ptr[1:])
    n_syn = int(row_ptr[-1])
    # the int32 proof assumes a synapse delivers at most once per step; a rule that changes
    # delays can land up to 62 of one synapse's spikes on one step: then int64
    ring32 = int(acc[:n_neurons].max(initial=0)) < RING32_BOUND and not any(
        proj.is_plastic and "d" in proj.learning.rule.targets for proj in exe.ir.projections)
    del acc
    fill = unit_count   # reused: where each unit's next synapse goes
    fill[row_source] = row_ptr[:-1]
    target = np.empty(n_syn, dtype=np.int32)
    weight = np.empty(n_syn, dtype=np.int16)
    delay = np.empty(n_syn, dtype=np.uint8)
    scatter_rows(*inputs, _unit_bounds(row_source, row_ptr, exe.ir.n_units), fill, target,
                 weight, delay)
    del fill, unit_count, inputs
    if engine:
        # plastic synapses: the learning engine delivers them (their rows
        # stay, so that the other workers still send their spikes here)
        row_ptr, target, weight, delay = _without_engine_synapses(row_ptr, target, weight, delay)
        n_syn = int(row_ptr[-1])
    # uint16 targets: directly up to TARGET16_NEURONS neurons, else relative to the segments'
    # blocks of 2**BLOCK_BITS targets if that keeps segments long
    block_bits, row_seg = 63, None
    if n_neurons > TARGET16_NEURONS and n_syn:
        one_block, blocked = segment_counts(row_ptr, target, delay, BLOCK_BITS)
        if int(blocked[-1]) * MIN_BLOCKED_SEGMENT <= n_syn:
            block_bits, row_seg = BLOCK_BITS, blocked
        else:
            row_seg = one_block
        del one_block, blocked
    narrow = n_neurons <= TARGET16_NEURONS or block_bits == BLOCK_BITS
    row_seg, seg_ptr, seg_base, seg_delay, seg_weight, seg_flags, row_min = split_segments(
        row_ptr, target, weight, delay, block_bits, row_seg)
    arrays = program.arrays
    arrays["ring"] = np.zeros((exe.ir.max_delay + 1, max(n_neurons, 1)),
                              dtype=np.int32 if ring32 else np.int64)
    segments = np.zeros(seg_ptr.size, dtype=SEGMENT_DTYPE)  # the last one: end sentinel
    segments["start"] = seg_ptr
    segments["base"][:-1], segments["weight"][:-1] = seg_base, seg_weight
    segments["delay"][:-1], segments["flags"][:-1] = seg_delay, seg_flags
    arrays["row_seg"], arrays["segments"] = row_seg, segments
    row_min[np.diff(row_ptr) == 0] = np.iinfo(np.uint8).max   # no fixed synapse: no bound
    arrays["row_min_delay"] = row_min
    arrays["syn_target"] = target.astype(np.uint16) if narrow else target
    del target
    arrays["syn_weight"] = weight if (seg_flags & OWN_WEIGHTS).any() else np.zeros(0, np.int16)
    arrays["syn_delay"] = delay if (seg_flags & MIXED_DELAYS).any() else np.zeros(0, np.uint8)
    return row_source


def _core_bases(core_slot: np.ndarray, slot_local: np.ndarray) -> np.ndarray:
    """For each core, the worker-local index of its first unit when its units are consecutive
    there (then a synapse's neuron is that plus its target), else -1."""
    n_cores = core_slot.size - 1
    bases = np.full(n_cores, -1, dtype=np.int64)
    used = np.flatnonzero(np.diff(core_slot) > 0)
    if used.size:
        shift = slot_local - np.arange(slot_local.size)   # constant over a consecutive core
        low = np.minimum.reduceat(shift, core_slot[used])
        high = np.maximum.reduceat(shift, core_slot[used])
        even = used[low == high]
        bases[even] = slot_local[core_slot[even]]
    return bases


def _in_place(array: np.ndarray, dtypes: tuple[type, ...]) -> np.ndarray:
    """``array`` itself when contiguous in one of ``dtypes`` (the Executable's documented
    widths), else a contiguous copy in the last of them (files saved by older versions)."""
    if array.dtype in dtypes and array.flags.c_contiguous:
        return array
    return np.ascontiguousarray(array, dtype=dtypes[-1])


def _unit_bounds(row_source: np.ndarray, row_ptr: np.ndarray, n_units: int) -> np.ndarray:
    """Upper bounds (source unit ids) of blocks of rows of about ``_SCATTER_BLOCK`` synapses,
    the last above every unit."""
    first_rows = np.searchsorted(row_ptr, np.arange(_SCATTER_BLOCK, int(row_ptr[-1]),
                                                    _SCATTER_BLOCK), side="right") - 1
    return np.append(row_source[np.unique(first_rows)], n_units).astype(np.int64)


def _core_spans(exe: Executable, cores: np.ndarray
                ) -> tuple[list[np.ndarray], list[tuple[int, int]]]:
    """``cores`` in runs of consecutive cores (``_core_groups``) and each run's span of axons."""
    axon_ptr, syn_ptr = exe.routing.axon_indptr, exe.tables.axon_syn_ptr
    groups = _core_groups(cores, syn_ptr[axon_ptr[cores + 1]] - syn_ptr[axon_ptr[cores]])
    return groups, [(int(axon_ptr[group[0]]), int(axon_ptr[group[-1] + 1])) for group in groups]


def _row_sources(exe: Executable, cores: np.ndarray) -> np.ndarray:
    """The units that reach any of ``cores`` (sorted): the rows of a worker holding them."""
    reaches = np.zeros(exe.ir.n_units, dtype=bool)
    for a0, a1 in _core_spans(exe, cores)[1]:
        reaches[exe.routing.axon_source[a0:a1]] = True
    return np.flatnonzero(reaches)


def _without_engine_synapses(row_ptr: np.ndarray, target: np.ndarray, weight: np.ndarray,
                             delay: np.ndarray) -> tuple[np.ndarray, ...]:
    """The rows without the synapses marked ``ENGINE_DELAY`` (the learning engine's)."""
    keep = delay != ENGINE_DELAY
    kept = np.concatenate(([0], np.cumsum(keep, dtype=np.int64)))
    return kept[row_ptr], target[keep], weight[keep], delay[keep]


def _core_groups(cores: np.ndarray, synapses: np.ndarray) -> list[np.ndarray]:
    """``cores`` (ascending) cut into runs of consecutive core ids of at most ``_CHUNK`` synapses
    (or one core)."""
    groups, start, total = [], 0, 0
    ids = cores.tolist()
    for i, n in enumerate(synapses.tolist()):
        if i > start and (ids[i] != ids[i - 1] + 1 or total + n > _CHUNK):
            groups.append(cores[start:i])
            start, total = i, 0
        total += n
    if start < cores.size:
        groups.append(cores[start:])
    return groups


def _int16_weights(weights: np.ndarray) -> np.ndarray:
    if weights.dtype == np.int16:
        return np.ascontiguousarray(weights)
    if weights.size and (weights.min() < -(1 << 15) or weights.max() >= 1 << 15):
        raise ValueError("synaptic weights beyond int16 reached the multicore runtime")
    return weights.astype(np.int16)


def _add_fanout(program: WorkerProgram, row_sets: list[np.ndarray],
                unit_worker: np.ndarray) -> None:
    """For each of the worker's units: its row here (or -1) and its rows in the other workers."""
    units = program.units
    local_row = np.full(units.size, -1, dtype=np.int64)
    remote_worker: list[np.ndarray] = []
    remote_row: list[np.ndarray] = []
    remote_unit: list[np.ndarray] = []
    for w, rows in enumerate(row_sets):
        where = np.searchsorted(rows, units)
        found = (where < rows.size) & (rows[np.minimum(where, max(rows.size - 1, 0))] == units) \
            if rows.size else np.zeros(units.size, dtype=bool)
        if w == program.rank:
            local_row[found] = where[found]
        else:
            hit = np.flatnonzero(found)
            remote_unit.append(hit)
            remote_worker.append(np.full(hit.size, w, dtype=np.int32))
            remote_row.append(where[found].astype(np.int64))
    # the worker of each row's source, to find the rows fed from other workers (window length)
    program.arrays["row_worker"] = unit_worker[row_sets[program.rank]].astype(np.int32)
    unit = np.concatenate(remote_unit) if remote_unit else np.zeros(0, dtype=np.int64)
    order = np.argsort(unit, kind="stable")
    ptr = np.zeros(units.size + 1, dtype=np.int64)
    np.cumsum(np.bincount(unit, minlength=units.size), out=ptr[1:])
    row_seg = program.arrays["row_seg"]
    fanout = np.zeros(max(units.size, 1), dtype=FANOUT_DTYPE)
    has_row = local_row >= 0
    fanout["seg_begin"][:units.size][has_row] = row_seg[local_row[has_row]]
    fanout["seg_count"][:units.size][has_row] = (row_seg[local_row[has_row] + 1]
                                                 - row_seg[local_row[has_row]])
    fanout["remote_begin"][:units.size] = ptr[:-1]
    fanout["remote_count"][:units.size] = np.diff(ptr)
    program.arrays["fanout"] = fanout
    program.arrays["remote_worker"] = (np.concatenate(remote_worker)[order] if remote_worker
                                       else np.zeros(0, dtype=np.int32))
    program.arrays["remote_row"] = (np.concatenate(remote_row)[order] if remote_row
                                    else np.zeros(0, dtype=np.int64))


def narrow_ids(values: np.ndarray) -> np.ndarray:
    """Spike times or unit ids as int32 when they fit (half the bytes of int64), else int64."""
    values = np.asarray(values)
    if values.size == 0 or (values.min() >= 0 and values.max() < 2**31):
        return values.astype(np.int32)
    return values.astype(np.int64)
