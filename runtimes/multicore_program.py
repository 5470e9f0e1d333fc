"""Per-worker programs of the multi-core runtime, built from an Executable by the host.

Cores are split over workers in contiguous runs of core ids balanced by load (synapses plus
neurons), which keeps cores that a partitioner grouped (and cores of one chip) together. Each
worker gets flat arrays for all its cores: units ordered ``[LIF | ALIF | Poisson | generator]``,
their parameters and state, the synapse tables of its cores' input axons (renumbered per worker),
and for each of its units the fan-out: input axons on its own cores (delivered in place) and
``(worker, axon)`` messages for the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nmgraph.compilers.executable import Executable

__all__ = ["MODEL_CODES", "WorkerProgram", "assign_workers", "build_programs", "window_length"]

MODEL_CODES = {"lif": 0, "alif": 1, "poisson": 2, "generator": 3}
#: Longest window between exchanges (bounds mailbox memory).
MAX_WINDOW = 64
N_COUNTERS = 10
NEURON_PARAMS = ("du", "dv", "vth", "db", "beta", "bias_mant", "bias_exp")
NEURON_STATE = ("u", "v", "b")


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
    """Worker of each core: contiguous runs of cores with about equal load."""
    load = (exe.partition.usage["synapses"] + exe.partition.usage["neurons"] + 1).astype(float)
    cumulative = np.cumsum(load) - load / 2
    worker = np.floor(cumulative / load.sum() * n_workers).astype(np.int64)
    return np.clip(worker, 0, n_workers - 1)


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


def window_length(exe: Executable, core_worker: np.ndarray) -> int:
    """Steps between exchanges: the smallest delay of any synapse reached across workers."""
    routing, tables = exe.routing, exe.tables
    unit_worker = core_worker[exe.partition.unit_core]
    owner = np.repeat(np.arange(exe.ir.n_units), np.diff(routing.dest_indptr))
    remote = core_worker[routing.dest_core] != unit_worker[owner]
    if not remote.any():
        return MAX_WINDOW
    axon = routing.axon_indptr[routing.dest_core[remote]] + routing.dest_axon[remote]
    starts = tables.axon_syn_ptr[:-1]
    min_delay = np.minimum.reduceat(tables.syn_delay, starts) if starts.size else starts
    return int(min(MAX_WINDOW, int(min_delay[axon].min())))


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
    # axons, numbered per worker in ascending global order
    routing, tables = exe.routing, exe.tables
    axon_core = np.repeat(np.arange(exe.n_cores), np.diff(routing.axon_indptr))
    axon_worker = core_worker[axon_core]
    axon_order = np.argsort(axon_worker, kind="stable")
    axon_counts = np.bincount(axon_worker, minlength=n_workers)
    axon_starts = np.concatenate(([0], np.cumsum(axon_counts)))
    axon_local = np.empty(axon_core.size, dtype=np.int64)
    axon_local[axon_order] = np.arange(axon_order.size) - np.repeat(axon_starts[:-1], axon_counts)
    # fan-out pairs
    owner = np.repeat(np.arange(unit_core.size), np.diff(routing.dest_indptr))
    pair_axon = routing.axon_indptr[routing.dest_core] + routing.dest_axon
    costs = exe.unit_costs
    programs = []
    for w in range(n_workers):
        units = order[starts[w]:starts[w + 1]]
        program = _program(exe, w, n_workers, units, glob, unit_local, core_worker)
        my_axons = axon_order[axon_starts[w]:axon_starts[w + 1]]
        _add_synapses(program, tables, my_axons, axon_core, unit_local)
        mine = unit_worker[owner] == w
        _add_fanout(program, owner[mine], pair_axon[mine], axon_worker, axon_local, unit_local, w)
        program.arrays["unit_cost"] = np.ascontiguousarray(costs[units])
        program.arrays["counters"] = np.zeros(N_COUNTERS, dtype=np.int64)
        program.arrays["rec_time"] = np.zeros(record_capacity, dtype=np.int64)
        program.arrays["rec_unit"] = np.zeros(record_capacity, dtype=np.int32)
        programs.append(program)
    return programs


def outbox_capacity(programs: list[WorkerProgram], window: int) -> np.ndarray:
    """Most messages worker ``src`` can send worker ``dst`` in one window: each unit spikes at
    most once per step, and sends one message per destination axon there."""
    n = len(programs)
    capacity = np.zeros((n, n), dtype=np.int64)
    for program in programs:
        capacity[program.rank] = np.bincount(program.remote_worker, minlength=n) * window
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
    arrays["ring"] = np.zeros((exe.ir.max_delay + 1, max(n_neurons, 1)), dtype=np.int64)
    arrays["spiked"] = np.zeros(max(units.size, 1), dtype=np.uint8)
    pois = units[model == 2]
    pois_base = n_neurons
    arrays["pois_threshold"] = np.ascontiguousarray(glob["threshold"][pois])
    breaks = np.flatnonzero((np.diff(pois) != 1) |
                            (np.diff(glob["population"][pois]) != 0)) + 1 if pois.size else []
    seg_first = np.concatenate(([0], breaks)).astype(np.int64) if pois.size else np.zeros(0, int)
    seg_end = np.concatenate((breaks, [pois.size])).astype(np.int64) if pois.size else seg_first
    arrays["seg_start"] = (seg_first + pois_base).astype(np.int64)
    arrays["seg_count"] = (seg_end - seg_first).astype(np.int64)
    arrays["seg_seed"] = glob["seed"][pois[seg_first]] if pois.size else np.zeros(0, np.uint64)
    arrays["seg_index"] = glob["pindex"][pois[seg_first]] if pois.size else np.zeros(0, np.uint64)
    gens = units[model == 3]
    gen_base = n_neurons + pois.size
    _add_generators(exe, arrays, gens, glob)
    cores = np.flatnonzero(core_worker == w)
    return WorkerProgram(rank=w, n_workers=n_workers, cores=cores, units=units, n_lif=n_lif,
                         n_alif=n_alif, n_units=int(units.size), arrays=arrays,
                         pois_base=pois_base, gen_base=gen_base, n_gen=int(gens.size))


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


def _ranges(starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(starts[i], stops[i])`` for all i, vectorised."""
    counts = stops - starts
    total = int(counts.sum())
    first = np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(starts, counts) + (np.arange(total) - first)


def _add_synapses(program: WorkerProgram, tables, my_axons: np.ndarray, axon_core: np.ndarray,
                  unit_local: np.ndarray) -> None:
    lo, hi = tables.axon_syn_ptr[my_axons], tables.axon_syn_ptr[my_axons + 1]
    synapses = _ranges(lo, hi)
    core_of_syn = np.repeat(axon_core[my_axons], hi - lo)
    target = tables.core_units[tables.core_unit_ptr[core_of_syn] +
                               tables.syn_target[synapses].astype(np.int64)]
    ptr = np.zeros(my_axons.size + 1, dtype=np.int64)
    np.cumsum(hi - lo, out=ptr[1:])
    program.arrays["axon_ptr"] = ptr
    program.arrays["syn_target"] = unit_local[target].astype(np.int32)
    program.arrays["syn_weight"] = np.ascontiguousarray(tables.syn_weight[synapses])
    program.arrays["syn_delay"] = np.ascontiguousarray(tables.syn_delay[synapses])


def _add_fanout(program: WorkerProgram, owner: np.ndarray, axon: np.ndarray,
                axon_worker: np.ndarray, axon_local: np.ndarray, unit_local: np.ndarray,
                w: int) -> None:
    n = program.n_units
    local_owner = unit_local[owner]
    is_local = axon_worker[axon] == w
    for prefix, keep in (("local", is_local), ("remote", ~is_local)):
        order = np.argsort(local_owner[keep], kind="stable")
        ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(local_owner[keep], minlength=n), out=ptr[1:])
        program.arrays[f"{prefix}_ptr"] = ptr
        chosen = axon[keep][order]
        if prefix == "local":
            program.arrays["local_axon"] = axon_local[chosen].astype(np.int32)
        else:
            program.arrays["remote_worker"] = axon_worker[chosen].astype(np.int32)
            program.arrays["remote_axon"] = axon_local[chosen].astype(np.int64)
