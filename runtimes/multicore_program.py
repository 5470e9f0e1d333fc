"""Per-worker programs of the multi-core runtime, built from an Executable by the host.

Cores are split over workers in contiguous runs of core ids balanced by load (synapses plus
neurons), which keeps cores that a partitioner grouped (and cores of one chip) together. Each
worker gets flat arrays for all its cores: units ordered ``[LIF | ALIF | Poisson | generator]``,
their parameters and state, and one fan-out table for all its cores: a *row* per source unit that
reaches any of them, holding that unit's synapses on every core of the worker, ordered by target.
A spike is delivered to the worker's own cores by walking one row, and to each other worker by one
message ``(t, row there)``, however many of that worker's cores it reaches. What the chip would
send (one message per destination core, and its hops) is counted exactly from the routing's
per-unit costs, so the counters do not depend on how cores are grouped into workers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nmgraph.compilers.executable import Executable
from nmgraph.runtimes._cores import FANOUT_DTYPE, SEGMENT_DTYPE
from nmgraph.runtimes._fanout import (
    MIXED_DELAYS,
    OWN_WEIGHTS,
    count_segments,
    max_input_magnitude,
    scatter_cores,
    split_segments,
)

__all__ = ["MODEL_CODES", "WorkerProgram", "assign_workers", "build_programs", "narrow_ids",
           "refresh_runs", "window_length"]

MODEL_CODES = {"lif": 0, "alif": 1, "poisson": 2, "generator": 3}
#: Longest window between exchanges (bounds mailbox memory).
MAX_WINDOW = 64
N_COUNTERS = 10
NEURON_PARAMS = ("du", "dv", "vth", "db", "beta", "bias_mant", "bias_exp")
NEURON_STATE = ("u", "v", "b")
#: Columns of ``run_params``: the parameters of a run of neurons that share them.
RUN_PARAMS = ("du", "dv", "vth", "db", "beta", "bias")


@dataclass(eq=False)
class WorkerProgram:
    """Everything one worker needs (see ``_cores.pyx`` for how the kernel reads it)."""

    rank: int
    n_workers: int
    cores: np.ndarray
    units: np.ndarray
    n_lif: int
    n_alif: int
    n_units: int
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    pois_base: int = 0
    gen_base: int = 0
    n_gen: int = 0

    def __getattr__(self, name: str) -> np.ndarray:
        arrays = self.__dict__.get("arrays", {})
        if name in arrays:
            return arrays[name]
        raise AttributeError(name)

    @property
    def n_neurons(self) -> int:
        return self.n_lif + self.n_alif


def assign_workers(exe: Executable, n_workers: int) -> np.ndarray:
    """Worker of each core.

    Cores that hold neurons are split into contiguous runs (which keeps cores that a partitioner
    grouped, and cores of one chip, together) of about equal load: synapses plus units. Cores that
    hold only sources (Poisson units, generators) then go each to the worker that holds most of
    their synapses, the least loaded on a tie, so that a drive wired one-to-one into a population
    is filled and delivered where its targets are, without a message per spike.
    """
    n_cores = exe.n_cores
    # synapses and units each core holds, counted from the tables (a profile's usage may count
    # synapse memory in bits or words instead)
    axon_ptr, syn_ptr = exe.routing.axon_indptr, exe.tables.axon_syn_ptr
    synapses = (syn_ptr[axon_ptr[1:]].astype(np.int64) - syn_ptr[axon_ptr[:-1]]).astype(float)
    load = synapses + np.diff(exe.tables.core_unit_ptr).astype(float) + 1
    worker = np.zeros(n_cores, dtype=np.int64)
    if n_workers <= 1 or n_cores == 0:
        return worker
    model = np.array([MODEL_CODES[pop.model] for pop in exe.ir.populations], dtype=np.int64)
    unit_model = np.repeat(model, [pop.size for pop in exe.ir.populations])
    sink = np.zeros(n_cores, dtype=bool)
    sink[exe.partition.unit_core[unit_model <= MODEL_CODES["alif"]]] = True
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


def _synapses_into_workers(exe: Executable, worker: np.ndarray, sources: np.ndarray,
                           n_workers: int) -> np.ndarray:
    """``(len(sources), n_workers)``: synapses from each source core onto each worker's cores
    (the workers of sink cores as given), counted core group by core group."""
    routing, syn_ptr = exe.routing, exe.tables.axon_syn_ptr
    axon_ptr = routing.axon_indptr
    row_of_core = np.full(exe.n_cores, -1, dtype=np.int64)
    row_of_core[sources] = np.arange(sources.size)
    into = np.zeros(sources.size * n_workers, dtype=np.float64)
    cores = np.arange(exe.n_cores)
    for group in _core_groups(cores, syn_ptr[axon_ptr[cores + 1]] - syn_ptr[axon_ptr[cores]]):
        a0, a1 = int(axon_ptr[group[0]]), int(axon_ptr[group[-1] + 1])   # consecutive cores
        dest = np.repeat(group, np.diff(axon_ptr[group[0]:group[-1] + 2]))
        row = row_of_core[exe.partition.unit_core[routing.axon_source[a0:a1]]]
        mine = row >= 0
        into += np.bincount(row[mine] * n_workers + worker[dest[mine]],
                            weights=np.diff(syn_ptr[a0:a1 + 1])[mine], minlength=into.size)
    return into.reshape(sources.size, n_workers)


def _global_unit_arrays(exe: Executable) -> dict[str, np.ndarray]:
    n = exe.ir.n_units
    out = {"model": np.zeros(n, dtype=np.int64), "population": np.zeros(n, dtype=np.int64),
           "threshold": np.zeros(n, dtype=np.uint64), "seed": np.zeros(n, dtype=np.uint64),
           "pindex": np.zeros(n, dtype=np.uint64)}
    for name in NEURON_PARAMS:
        out[name] = np.zeros(n, dtype=np.int32)
    for name in NEURON_STATE:
        out[name] = np.zeros(n, dtype=np.int64)
    for index, pop in enumerate(exe.ir.populations):
        span = slice(pop.offset, pop.stop)
        out["model"][span] = MODEL_CODES[pop.model]
        out["population"][span] = index
        out["pindex"][span] = np.arange(pop.size, dtype=np.uint64)
        if pop.model == "poisson":
            out["threshold"][span] = pop.params["threshold"]
            out["seed"][span] = np.uint64(pop.params["seed"])
        for name in NEURON_PARAMS:
            if name in pop.params:
                out[name][span] = pop.params[name]
        for name in NEURON_STATE:
            if name in pop.state:
                out[name][span] = pop.state[name]
    return out


def window_length(programs: list[WorkerProgram]) -> int:
    """Steps between exchanges: the smallest delay of any synapse reached across workers."""
    shortest = MAX_WINDOW
    for program in programs:
        remote = program.row_worker != program.rank
        if remote.any():
            shortest = min(shortest, int(program.row_min_delay[remote].min()))
    return shortest


def build_programs(exe: Executable, core_worker: np.ndarray,
                   record_capacity: int = 1 << 16) -> list[WorkerProgram]:
    """One program per worker, for the cores ``core_worker`` gives it."""
    n_workers = int(core_worker.max()) + 1 if core_worker.size else 1
    unit_core = exe.partition.unit_core
    unit_worker = core_worker[unit_core]
    glob = _global_unit_arrays(exe)
    # local order of units in each worker: by model, then global id
    order = np.lexsort((np.arange(unit_core.size), glob["model"], unit_worker))
    counts = np.bincount(unit_worker, minlength=n_workers)
    starts = np.concatenate(([0], np.cumsum(counts)))
    unit_local = np.empty(unit_core.size, dtype=np.int64)
    unit_local[order] = np.arange(order.size) - np.repeat(starts[:-1], counts)
    # worker-local index of the unit in each place of the cores' unit lists
    slot_local = unit_local[exe.tables.core_units]
    programs = []
    costs = exe.unit_costs
    row_sets = []
    for w in range(n_workers):
        units = order[starts[w]:starts[w + 1]]
        program = _program(exe, w, n_workers, units, glob, unit_local, core_worker)
        row_sets.append(_add_rows(exe, program, np.flatnonzero(core_worker == w), slot_local))
        program.arrays["unit_cost"] = np.ascontiguousarray(costs[units], dtype=np.int64)
        program.arrays["counters"] = np.zeros(N_COUNTERS, dtype=np.int64)
        program.arrays["rec_time"] = np.zeros(record_capacity, dtype=np.int64)
        program.arrays["rec_unit"] = np.zeros(record_capacity, dtype=np.int32)
        programs.append(program)
    for program in programs:
        _add_fanout(program, row_sets, unit_worker)
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


def _program(exe: Executable, w: int, n_workers: int, units: np.ndarray,
             glob: dict[str, np.ndarray], unit_local: np.ndarray,
             core_worker: np.ndarray) -> WorkerProgram:
    model = glob["model"][units]
    n_lif = int(np.count_nonzero(model == 0))
    n_alif = int(np.count_nonzero(model == 1))
    n_neurons = n_lif + n_alif
    neurons = units[:n_neurons]
    arrays: dict[str, np.ndarray] = {}
    for name in NEURON_PARAMS:
        arrays[name] = np.ascontiguousarray(glob[name][neurons])
    for name in NEURON_STATE:
        arrays[name] = np.ascontiguousarray(glob[name][neurons])
    arrays["bias"] = arrays["bias_mant"].astype(np.int64) << arrays["bias_exp"].astype(np.int64)
    arrays["a_in"] = np.zeros(n_neurons, dtype=np.int64)
    arrays["spiked"] = np.zeros(max(units.size, 1), dtype=np.uint8)
    population = glob["population"][neurons]
    cuts = np.flatnonzero((np.diff(population) != 0) | (np.diff(model[:n_neurons]) != 0)) + 1
    first = np.concatenate(([0], cuts)).astype(np.int64) if n_neurons else np.zeros(0, np.int64)
    arrays["run_start"] = first
    arrays["run_count"] = np.diff(np.append(first, n_neurons)).astype(np.int64)
    arrays["run_uniform"] = np.zeros(first.size, dtype=np.uint8)
    arrays["run_params"] = np.zeros((first.size, len(RUN_PARAMS)), dtype=np.int64)
    pois = units[model == 2]
    pois_base = n_neurons
    arrays["pois_threshold"] = np.ascontiguousarray(glob["threshold"][pois])
    breaks = np.flatnonzero((np.diff(pois) != 1) |
                            (np.diff(glob["population"][pois]) != 0)) + 1 if pois.size else []
    seg_first = np.concatenate(([0], breaks)).astype(np.int64) if pois.size else np.zeros(0, int)
    seg_end = np.concatenate((breaks, [pois.size])).astype(np.int64) if pois.size else seg_first
    arrays["pois_start"] = (seg_first + pois_base).astype(np.int64)
    arrays["pois_count"] = (seg_end - seg_first).astype(np.int64)
    arrays["pois_seed"] = glob["seed"][pois[seg_first]] if pois.size else np.zeros(0, np.uint64)
    arrays["pois_index"] = glob["pindex"][pois[seg_first]] if pois.size else np.zeros(0, np.uint64)
    # runs whose units share one rate are filled with a constant threshold (no per-unit read)
    shared = np.full(seg_first.size, np.iinfo(np.uint64).max, dtype=np.uint64)
    for run, (lo, hi) in enumerate(zip(seg_first.tolist(), seg_end.tolist())):
        values = arrays["pois_threshold"][lo:hi]
        if values.size and (values == values[0]).all():
            shared[run] = values[0]
    arrays["pois_shared"] = shared
    gens = units[model == 3]
    gen_base = n_neurons + pois.size
    _add_generators(exe, arrays, gens, glob)
    cores = np.flatnonzero(core_worker == w)
    program = WorkerProgram(rank=w, n_workers=n_workers, cores=cores, units=units, n_lif=n_lif,
                         n_alif=n_alif, n_units=int(units.size), arrays=arrays,
                         pois_base=pois_base, gen_base=gen_base, n_gen=int(gens.size))
    refresh_runs(program)
    return program


def refresh_runs(program: WorkerProgram) -> None:
    """Mark each run of neurons (a population's neurons on this worker, one model) whose
    parameters are all equal, with those parameters: the kernel then updates it with constants,
    reading only the state. Call again after parameters change (in place: the kernel holds the
    arrays)."""
    arrays = program.arrays
    for run, (start, count) in enumerate(zip(arrays["run_start"].tolist(),
                                             arrays["run_count"].tolist())):
        values = [arrays[name][start:start + count] for name in RUN_PARAMS]
        uniform = all(bool((v == v[0]).all()) for v in values)
        arrays["run_uniform"][run] = uniform
        arrays["run_params"][run] = [int(v[0]) for v in values] if uniform else 0


def _add_generators(exe: Executable, arrays: dict[str, np.ndarray], gens: np.ndarray,
                    glob: dict[str, np.ndarray]) -> None:
    pops = exe.ir.populations
    steps = np.array([pops[p].params["data"].shape[0] for p in glob["population"][gens]],
                     dtype=np.int64)
    data = np.zeros((int(steps.max()) if gens.size else 1, max(gens.size, 1)), dtype=np.uint8)
    repeat = np.zeros(gens.size, dtype=np.uint8)
    for column, unit in enumerate(gens):
        pop = pops[glob["population"][unit]]
        local = int(unit) - pop.offset
        data[:steps[column], column] = pop.params["data"][:, local]
        repeat[column] = bool(pop.params["repeat"])
    arrays["gen_data"], arrays["gen_steps"], arrays["gen_repeat"] = data, steps, repeat


#: Synapses converted and scattered per chunk when building fan-out tables (bounds temporaries).
_CHUNK = 1 << 22
#: The ring buffer is int32 when every neuron's summed synaptic weight magnitudes stay below this
#: (then no step's input can leave int32: DESIGN §4's proof), else int64.
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

    Three passes over the worker's cores in runs of consecutive cores of at most ``_CHUNK``
    synapses (so temporaries stay bounded whatever the network's size): which units reach the
    worker (its rows), how many synapses each row has, then each run's synapses scattered into
    their rows (``scatter_cores``).
    """
    tables, routing = exe.tables, exe.routing
    axon_ptr, syn_ptr = routing.axon_indptr, tables.axon_syn_ptr
    n_neurons = program.n_neurons
    groups = _core_groups(cores, syn_ptr[axon_ptr[cores + 1]] - syn_ptr[axon_ptr[cores]])
    spans = [(int(axon_ptr[group[0]]), int(axon_ptr[group[-1] + 1])) for group in groups]
    reaches = np.zeros(exe.ir.n_units, dtype=bool)
    for a0, a1 in spans:
        reaches[routing.axon_source[a0:a1]] = True
    row_source = np.flatnonzero(reaches)
    del reaches
    row_of = np.full(exe.ir.n_units, -1, dtype=np.int64)
    row_of[row_source] = np.arange(row_source.size)
    row_count = np.zeros(row_source.size, dtype=np.int64)
    for a0, a1 in spans:
        row_count += np.bincount(row_of[routing.axon_source[a0:a1]],
                                 weights=np.diff(syn_ptr[a0:a1 + 1]),
                                 minlength=row_source.size).astype(np.int64)
    row_ptr = np.zeros(row_source.size + 1, dtype=np.int64)
    np.cumsum(row_count, out=row_ptr[1:])
    del row_count
    n_syn = int(row_ptr[-1])
    target = np.empty(n_syn, dtype=np.int32)
    weight = np.empty(n_syn, dtype=np.int16)
    delay = np.empty(n_syn, dtype=np.uint8)
    fill = row_ptr[:-1].copy()
    for group in groups:  # in core order: each row lists its synapses core by core
        c0, c1 = int(group[0]), int(group[-1]) + 1   # a group is a run of consecutive cores
        a0, a1 = int(axon_ptr[c0]), int(axon_ptr[c1])
        s0, s1 = int(syn_ptr[a0]), int(syn_ptr[a1])
        scatter_cores(np.asarray(axon_ptr[c0:c1 + 1], dtype=np.int64) - a0,
                      np.asarray(tables.core_unit_ptr[c0:c1], dtype=np.int64),
                      np.asarray(routing.axon_source[a0:a1], dtype=np.int64),
                      np.asarray(syn_ptr[a0:a1 + 1], dtype=np.int64) - s0, row_of, slot_local,
                      np.asarray(tables.syn_target[s0:s1], dtype=np.int32),
                      _int16_weights(tables.syn_weight[s0:s1]),
                      np.ascontiguousarray(tables.syn_delay[s0:s1], dtype=np.uint8), fill,
                      target, weight, delay)
    del row_of, fill
    ring32 = max_input_magnitude(target, weight, n_neurons) < RING32_BOUND
    # uint16 targets: directly up to TARGET16_NEURONS neurons, else relative to the segments'
    # blocks of 2**BLOCK_BITS targets if that keeps segments long
    block_bits, blocked = 63, None
    if n_neurons > TARGET16_NEURONS and n_syn:
        blocked = count_segments(row_ptr, target, delay, BLOCK_BITS)
        if int(blocked[-1]) * MIN_BLOCKED_SEGMENT <= n_syn:
            block_bits = BLOCK_BITS
    narrow = n_neurons <= TARGET16_NEURONS or block_bits == BLOCK_BITS
    row_seg, seg_ptr, seg_base, seg_delay, seg_weight, seg_flags, row_min = split_segments(
        row_ptr, target, weight, delay, block_bits, blocked if block_bits == BLOCK_BITS else None)
    arrays = program.arrays
    arrays["ring"] = np.zeros((exe.ir.max_delay + 1, max(n_neurons, 1)),
                              dtype=np.int32 if ring32 else np.int64)
    segments = np.zeros(seg_ptr.size, dtype=SEGMENT_DTYPE)  # the last one: end sentinel
    segments["start"] = seg_ptr
    segments["base"][:-1], segments["weight"][:-1] = seg_base, seg_weight
    segments["delay"][:-1], segments["flags"][:-1] = seg_delay, seg_flags
    arrays["row_seg"], arrays["segments"] = row_seg, segments
    arrays["row_min_delay"] = row_min
    arrays["syn_target"] = target.astype(np.uint16) if narrow else target
    del target
    arrays["syn_weight"] = weight if (seg_flags & OWN_WEIGHTS).any() else np.zeros(0, np.int16)
    arrays["syn_delay"] = delay if (seg_flags & MIXED_DELAYS).any() else np.zeros(0, np.uint8)
    return row_source.astype(np.int64)


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
    program.arrays["row_worker"] = unit_worker[row_sets[program.rank]].astype(np.int64)
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
