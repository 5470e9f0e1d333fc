"""Which worker runs each unit: cores split between workers where whole cores cannot balance.

The multicore runtime's workers take their units from :func:`balance_units` (MPI ranks take
whole cores: ``rank_placement``). The cores that hold neurons are cut into contiguous runs of
about equal load, as :func:`~nmgraph.runtimes.multicore_program.assign_workers` cuts them for
whole cores. But a network of few large cores cannot be shared evenly by whole cores: five
cores of 4,096 neurons give two workers 2 and 3 cores, 41% and 59% of the work, and the second
worker sets the pace of every step. :func:`balance_units` cuts the same contiguous order at the
unit, not the core: the core where an equal share ends is split between two workers at the unit
where the share's load is reached. A core with plastic synapses is never split (its learning
engine state belongs to one worker); nor is a core of fewer than ``MIN_SPLIT_UNITS`` units, or
when the cut falls within ``SNAP`` of its edges (whole cores are kept whenever that costs little
balance).

Load is what a worker does each step for a unit: its synapses (delivered when their sources
spike, at the same rates in a network without structure) plus one for its update. Source units
(Poisson, generators) then go each to the worker that holds most of their synapses (the least
loaded on a tie), so that a drive wired one-to-one is filled where its targets are.

The result is an assignment of units, not cores; ``build_programs`` takes it as it is.
"""

from __future__ import annotations

import numpy as np

from nmgraph.compilers.executable import Executable
from nmgraph.compilers.learning_memory import plastic_synapses_per_core
from nmgraph.runtimes.multicore_program import _unit_is_source as unit_is_source
from nmgraph.runtimes.multicore_program import core_loads

__all__ = ["MIN_SPLIT_UNITS", "SNAP", "balance_units", "unit_loads"]

#: Cores with fewer units stay whole: splitting them cannot gain much and costs their sources
#: a row on each side.
MIN_SPLIT_UNITS = 64
#: Input axons read at a time when placing sources (bounds the temporaries).
AXON_CHUNK = 1 << 22
#: A cut within this fraction of a core's load from either edge moves to that edge (the core
#: stays whole): splitting a core costs each of its sources one more row on another worker.
SNAP = 0.1


def unit_loads(exe: Executable, core: int) -> np.ndarray:
    """The load of each unit of ``core``, in the core's unit order: the synapses it receives on
    the core, plus one."""
    tables, axon_ptr = exe.tables, exe.routing.axon_indptr
    s0, s1 = int(tables.axon_syn_ptr[axon_ptr[core]]), int(tables.axon_syn_ptr[axon_ptr[core + 1]])
    n_units = int(tables.core_unit_ptr[core + 1] - tables.core_unit_ptr[core])
    fan_in = np.bincount(np.asarray(tables.syn_target[s0:s1], dtype=np.intp), minlength=n_units)
    return fan_in[:n_units].astype(np.float64) + 1.0


def balance_units(exe: Executable, n_workers: int) -> np.ndarray:
    """The worker of each unit (int64, one per unit of ``exe.ir``): cores with neurons in their
    order cut into ``n_workers`` contiguous shares of equal load, splitting a core at a unit where
    a share ends inside it (see the module docstring), then each source unit to the worker with
    most of its synapses."""
    n_units = exe.ir.n_units
    unit_worker = np.zeros(n_units, dtype=np.int64)
    if n_workers <= 1 or exe.n_cores == 0:
        return unit_worker
    tables = exe.tables
    unit_core = exe.partition.unit_core
    source = unit_is_source(exe)
    sink = np.zeros(exe.n_cores, dtype=bool)
    sink[unit_core[~source]] = True
    if not sink.any():
        sink[:] = True
    cores = np.flatnonzero(sink)
    load = core_loads(exe)[cores]
    plastic = plastic_synapses_per_core(exe.ir, unit_core, exe.n_cores)[cores] > 0
    ends = np.cumsum(load)
    total = float(ends[-1])
    # the worker of each sink core's units, core by core; a split core gets two (or more)
    for k, core in enumerate(cores.tolist()):
        begin, end = float(ends[k] - load[k]), float(ends[k])
        units = tables.core_units[tables.core_unit_ptr[core]:tables.core_unit_ptr[core + 1]]
        # the shares that end inside this core: (worker whose share ends there, fraction of
        # the core's load before that end)
        cuts = [(w - 1, (w * total / n_workers - begin) / load[k]) for w in range(1, n_workers)
                if begin < w * total / n_workers < end]
        cuts = [(w, cut) for w, cut in cuts if SNAP <= cut <= 1 - SNAP]
        if not cuts or plastic[k] or units.size < MIN_SPLIT_UNITS:
            # whole core: the share its midpoint falls in
            unit_worker[units] = min(int((begin + end) / 2 / total * n_workers), n_workers - 1)
            continue
        share = np.cumsum(unit_loads(exe, core))
        share /= share[-1]
        start = 0
        for worker, cut in cuts:
            stop = int(np.searchsorted(share, cut)) + 1
            unit_worker[units[start:stop]] = worker
            start = stop
        unit_worker[units[start:]] = cuts[-1][0] + 1
    sources = np.flatnonzero(~sink[unit_core])
    # a share can end up empty (a whole core wider than a share, cuts snapped or at one unit):
    # number the workers that got units 0, 1, ... in order, so that none is idle
    sinks = np.ones(n_units, dtype=bool)
    sinks[sources] = False
    used = np.unique(unit_worker[sinks])
    unit_worker[sinks] = np.searchsorted(used, unit_worker[sinks])
    if sources.size:
        load = np.bincount(unit_worker[sinks], minlength=max(int(used.size), 1)).astype(np.float64)
        _place_sources(exe, unit_worker, sources, load)
    return unit_worker


def _place_sources(exe: Executable, unit_worker: np.ndarray, sources: np.ndarray,
                   load: np.ndarray) -> None:
    """Give each unit of ``sources`` (units of cores without neurons) the worker that holds most
    of its synapses (by their targets' workers), the least loaded (``load``: units per worker)
    on a tie; in place."""
    n_workers = load.size
    tables, routing = exe.tables, exe.routing
    axon_ptr = routing.axon_indptr
    row = np.full(exe.ir.n_units, -1, dtype=np.int64)
    row[sources] = np.arange(sources.size)
    into = np.zeros(sources.size * n_workers, dtype=np.int64)
    n_axons = int(axon_ptr[-1])
    for a0 in range(0, n_axons, AXON_CHUNK):   # bounded temporaries: the axons in chunks
        a1 = min(n_axons, a0 + AXON_CHUNK)
        axon = np.flatnonzero(row[routing.axon_source[a0:a1]] >= 0) + a0   # from sources: few
        if axon.size == 0:
            continue
        core = np.searchsorted(axon_ptr, axon, side="right") - 1
        lo = np.asarray(tables.axon_syn_ptr[axon], dtype=np.int64)
        counts = np.asarray(tables.axon_syn_ptr[axon + 1], dtype=np.int64) - lo
        ends = np.cumsum(counts)
        syn = np.arange(int(ends[-1]) if ends.size else 0) + np.repeat(lo - (ends - counts), counts)
        slots = np.repeat(np.asarray(tables.core_unit_ptr[core], dtype=np.int64), counts)
        target = tables.core_units[slots + tables.syn_target[syn]]
        owner = np.repeat(row[routing.axon_source[axon]], counts)
        into += np.bincount(owner * n_workers + unit_worker[target], minlength=into.size)
    into = into.reshape(sources.size, n_workers)
    tied = into == into.max(axis=1, keepdims=True)
    # among the workers with most synapses: the least loaded (counted in sink units) when one
    # is; else the tied workers take turns, so that sources reaching all alike spread evenly
    lightest = np.where(tied, load[None, :], np.inf)
    least = lightest == lightest.min(axis=1, keepdims=True)
    n_least = least.sum(axis=1)
    turn = np.arange(sources.size) % n_least
    rank = np.cumsum(least, axis=1) - 1
    unit_worker[sources] = np.argmax(least & (rank == turn[:, None]), axis=1)
