"""The ``multicore`` backend: the host side of the multi-core runtime.

The host splits the Executable's cores over N worker processes (forked), builds each worker's
program, creates the shared-memory transport, and drives the workers with commands over pipes.
While it waits it watches every worker's pipe and process sentinel: a worker that raises or dies
makes the host abort the barrier (releasing the others at once), stop and reap every worker, unlink
the shared memory, and raise a :class:`~nmgraph.core.errors.WorkerError` naming the worker and its
cores. Spikes of earlier runs stay readable. Ctrl-C takes the same path and re-raises
KeyboardInterrupt.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import mmap
import multiprocessing
import multiprocessing.connection
import signal
import threading
import time
import warnings
import weakref
from typing import Any

import numpy as np

from nmgraph.compilers.executable import Executable
from nmgraph.core.errors import AdjustmentWarning, SimulationError, WorkerError
from nmgraph.core.models import model_named
from nmgraph.core.progress import ProgressBar, progress_bar
from nmgraph.runtimes import _logging
from nmgraph.runtimes._worker_kernel import COUNTER_NAMES
from nmgraph.runtimes.multicore_program import (
    WorkerProgram,
    build_programs,
    narrow_ids,
    outbox_capacity,
    window_length,
)
from nmgraph.runtimes.plastic_reference import (
    LEARNING_VARS,
    PlasticProjection,
    plastic_axis,
    plastic_size,
)
from nmgraph.runtimes.results import Counters
from nmgraph.runtimes.state import RunState, pending_to_ring, ring_to_pending
from nmgraph.runtimes.transport import ABORT_INTERRUPT, ABORT_PARENT, SharedMemoryTransport
from nmgraph.runtimes.worker import worker_main
from nmgraph.runtimes.worker_balance import MIN_SPLIT_UNITS, balance_units

__all__ = ["COUNTER_NAMES", "MulticoreBackend"]

log = logging.getLogger("nmgraph.multicore")

#: Longest run command, in unit-steps (units x steps): bounds the spikes one reply carries.
MAX_UNIT_STEPS_PER_COMMAND = 1 << 26
#: Seconds to wait for workers to exit before killing them.
STOP_GRACE_S = 2.0
POLL_S = 0.2
#: Shortest default watchdog limit (seconds without progress), and the factor on the estimated
#: cost of a window that scales it up for big networks (see :func:`watchdog_limit`).
WATCHDOG_MIN_S = 10.0
WATCHDOG_FACTOR = 50.0
#: Seconds to wait, after a worker stopped because the exchange was aborted, for the worker
#: that caused it to report.
ABORT_GRACE_S = 2.0


class MulticoreBackend:
    """Runs an Executable's cores on ``workers`` forked processes.

    Parameters
    ----------
    exe
        The compiled network.
    workers
        Number of worker processes (at most one per core).
    progress
        A tqdm bar during :meth:`run`: None (automatic: on when stderr is a terminal), True,
        False or a text stream to draw it on (see :mod:`nmgraph.core.progress`). The bar
        follows the slowest worker's count of steps done while the host waits: it changes
        neither the windows nor the commands.
    transport
        Factory of the transport between the workers, called as ``transport(n_workers,
        capacity)`` in the host before the workers are forked (default: shared memory, or none
        for one worker). It returns the creator's object, with ``for_rank(rank)`` (the view each
        worker uses), ``abort(code)`` and ``unlink()``; see ``runtimes/transport.py``.
    watchdog_s
        Seconds the workers may go without progress (steps done) while the host waits for them
        before they are reported as stuck (a ``WorkerError`` naming the one behind, then torn
        down). Default (None): :func:`watchdog_limit`, at least ``WATCHDOG_MIN_S`` and scaled up
        with the expected cost of a window of steps.
    """

    name = "multicore"

    def __init__(self, exe: Executable, workers: int = 2, progress: Any = None,
                 transport: Any = None, watchdog_s: float | None = None) -> None:
        self._init_results(exe, progress)
        # what only the cycle collector frees (a Network dropped after compiling it: its
        # processes and it refer to each other) goes before the programs take their memory
        gc.collect()
        n_workers = max(1, min(int(workers), max(exe.n_cores, 1)))
        #: The worker of each unit: contiguous runs of cores of equal load, a core split
        #: between two workers where whole cores cannot share the work evenly
        self.unit_worker = balance_units(exe, n_workers)
        self.programs: list[WorkerProgram] = build_programs(exe, None,
                                                            unit_worker=self.unit_worker)
        self.n_workers = len(self.programs)
        if int(workers) > self.n_workers:
            warnings.warn(f"workers={int(workers)} asked, but {self.n_workers} worker(s) will "
                          f"run: network '{exe.ir.name}' has {exe.n_cores} core(s) on "
                          f"{exe.profile.name}; a core of fewer than {MIN_SPLIT_UNITS} units "
                          f"is not split between workers, and sources run on the worker of the "
                          f"neurons they drive",
                          AdjustmentWarning, stacklevel=4)
        self.window = window_length(self.programs)
        if watchdog_s is not None and (isinstance(watchdog_s, bool) or
                                       not isinstance(watchdog_s, (int, float)) or
                                       not 0 < watchdog_s < float("inf")):
            raise SimulationError(f"watchdog_s must be a number of seconds > 0 (got "
                                  f"{watchdog_s!r})")
        self.watchdog_s = float(watchdog_s) if watchdog_s is not None else \
            watchdog_limit(self.programs, self.window)
        # one progress counter per worker in memory shared through fork (anonymous: nothing to
        # unlink); the workers add the steps of each window, the host's watchdog reads them
        self._beat_memory = mmap.mmap(-1, 8 * max(self.n_workers, 1))
        self._beats = np.frombuffer(self._beat_memory, dtype=np.int64)
        self.transport = None
        if transport is not None or self.n_workers > 1:
            capacity = outbox_capacity(self.programs, self.window)
            factory = transport if transport is not None else _shared_memory
            self.transport = factory(self.n_workers, capacity)
        self._start()
        # a Runtime dropped without close() still has its workers reaped and its memory
        # unlinked when it is collected (or at exit)
        self._finalizer = weakref.finalize(self, _reap, self.procs, self.conns, self.transport)
        log.info("multicore runtime: %d cores on %d workers, window %d steps", exe.n_cores,
                 self.n_workers, self.window)

    def _init_results(self, exe: Executable, progress: Any) -> None:
        """What the host keeps of the runs, whatever runs the cores (workers or MPI ranks)."""
        self.exe = exe
        self.ir = exe.ir
        self.progress = progress
        self.t = 0
        self._spike_chunks: list[tuple[np.ndarray, np.ndarray]] = []   # int32 when they fit
        self._pop_offsets = np.array([pop.offset for pop in self.ir.populations], dtype=np.int64)
        self._pop_spikes = np.zeros(len(self.ir.populations), dtype=np.int64)
        self._pop_ops = np.zeros(len(self.ir.populations), dtype=np.int64)
        #: (population, var) -> (first step, every, neuron indices or None, sample blocks)
        self._recorded: dict[tuple[str, str], tuple[int, int, Any, list[np.ndarray]]] = {}
        self._pop_index = {pop.name: i for i, pop in enumerate(self.ir.populations)}
        self._is_source = [model_named(pop.model).is_source for pop in self.ir.populations]
        self._counters = np.zeros(len(COUNTER_NAMES), dtype=np.int64)
        #: Plastic projections by name, and the synaptic updates of each so far.
        self._plastic = {proj.name: proj for proj in self.ir.projections if proj.is_plastic}
        self._plastic_updates = dict.fromkeys(self._plastic, 0)
        self._failed: str | None = None
        self._closed = False
        self._running = 0   # steps of the run command being waited for (0: none)
        self._bar: tuple[ProgressBar, np.ndarray, int] | None = None  # bar, beats, steps before

    # -- processes ---------------------------------------------------------------------------------
    def _start(self) -> None:
        ctx = multiprocessing.get_context("fork")
        _logging.forward_worker_logs()
        # the parent-death signal follows the forking *thread*: only the main thread may use it
        from_main = threading.current_thread() is threading.main_thread()
        self.conns, self.procs = [], []
        _return_free_memory()
        # the workers inherit the host's objects copy-on-write: frozen, they are out of the
        # workers' cycle collections, which would otherwise write to (and so copy) every page
        # of them in every worker; the host collects them again once the workers are forked
        gc.freeze()
        try:
            for program in self.programs:
                here, there = ctx.Pipe(duplex=True)
                proc = ctx.Process(target=worker_main, name=f"nmgraph-worker-{program.rank}",
                                   args=(program.rank, program, self.transport, there,
                                         self._beats[program.rank:program.rank + 1], from_main),
                                   daemon=True)
                proc.start()
                there.close()
                self.conns.append(here)
                self.procs.append(proc)
        except BaseException:
            self._shutdown(kill=True)
            raise
        finally:
            gc.unfreeze()

    def _describe(self, rank: int) -> str:
        cores = self.programs[rank].cores
        shown = ", ".join(map(str, cores[:12])) + (", ..." if cores.size > 12 else "")
        return f"worker {rank} (pid {self.procs[rank].pid}, cores {shown})"

    def _call(self, command: tuple, ranks: list[int] | None = None) -> list[Any]:
        """Send ``command`` to workers and wait for every reply, supervising them."""
        if self._failed is not None:
            raise SimulationError(f"this {self.name} runtime stopped after a failure: "
                                  f"{self._failed}")
        ranks = list(range(self.n_workers)) if ranks is None else ranks
        try:
            for rank in ranks:
                self.conns[rank].send(command)
            return self._gather(ranks)
        except KeyboardInterrupt:
            self._fail("interrupted (Ctrl-C)", ABORT_INTERRUPT)
            raise
        except (BrokenPipeError, ConnectionResetError, EOFError) as exc:
            dead = [r for r in ranks if not self.procs[r].is_alive()] or ranks[:1]
            message = self._death_message(dead[0], exc)
            self._fail(message, ABORT_PARENT)
            raise WorkerError(message) from None

    def _gather(self, ranks: list[int]) -> list[Any]:
        """Replies of ``ranks``. When a worker fails, the host waits up to ``ABORT_GRACE_S`` for
        the others to report (what they recorded, and which one caused the failure: a worker
        that stopped only because the exchange was aborted is a consequence), then names the
        cause."""
        replies: dict[int, Any] = {}
        waiting = set(ranks)
        consequence: str | None = None
        cause: str | None = None
        deadline = None
        partials: dict[int, Any] = {}
        seen = {r: int(self._beats[r]) for r in ranks}
        moved = dict.fromkeys(ranks, time.monotonic())
        while waiting:
            now = time.monotonic()
            if deadline is not None and now > deadline:
                break
            for r in waiting:
                if int(self._beats[r]) != seen[r]:
                    seen[r], moved[r] = int(self._beats[r]), now
            if self._bar is not None:   # steps every worker has done since the run began
                bar, start, before = self._bar
                bar.update_to(before + int((self._beats[:start.size] - start).min()))
            if deadline is None and all(now - moved[r] > self.watchdog_s for r in waiting):
                message = self._stall_message(sorted(waiting), seen, now - max(
                    moved[r] for r in waiting))
                self._fail(message, ABORT_PARENT)
                raise WorkerError(message)
            handles = {self.conns[r]: r for r in waiting}
            handles.update({self.procs[r].sentinel: r for r in waiting})
            for ready in multiprocessing.connection.wait(list(handles), timeout=POLL_S):
                rank = handles[ready]
                if rank not in waiting:
                    continue
                status, payload = self._receive(rank, ready)
                waiting.discard(rank)
                if status == "ok":
                    replies[rank] = payload
                    continue
                if isinstance(payload, dict):   # a failed run: what it had recorded
                    partials[rank] = payload.get("partial")
                    payload = payload.get("message")
                if status == "aborted":
                    consequence = consequence or f"{self._describe(rank)} stopped: {payload}"
                else:
                    cause = cause or (self._death_message(rank) if status == "died" else
                                      f"{self._describe(rank)} failed:\n{payload}")
                if deadline is None:   # release the others from the exchange, so they report
                    deadline = time.monotonic() + ABORT_GRACE_S
                    if self.transport is not None:
                        self.transport.abort(ABORT_PARENT)
        message = cause or consequence
        if message is not None:
            self._keep_partial(ranks, partials, replies)
            self._fail(message, ABORT_PARENT)
            raise WorkerError(message)
        return [replies[r] for r in ranks]

    def _keep_partial(self, ranks: list[int], partials: dict[int, Any],
                      replies: dict[int, Any]) -> None:
        """Keep the spikes a failed run had recorded up to the last step every worker finished,
        when every worker could say (a worker that died takes its spikes of the run with it)."""
        if not self._running or any(partials.get(r) is None and r not in replies for r in ranks):
            return
        done = [partials[r] for r in ranks if r in partials]
        done += [{"times": replies[r]["times"], "units": replies[r]["units"],
                  "last_step": self.t + self._running} for r in ranks if r in replies]
        last = min(int(p["last_step"]) for p in done)
        if last <= self.t:
            return
        times = np.concatenate([p["times"] for p in done])
        units = np.concatenate([p["units"] for p in done])
        keep = times <= last
        self._count_spikes(units[keep])
        self._spike_chunks.append((times[keep], units[keep]))
        self.t = last

    def _stall_message(self, waiting: list[int], seen: dict[int, int], idle: float) -> str:
        """Name the worker that holds the others up: a stopped one, else the one behind."""
        stopped = [r for r in waiting if _process_state(self.procs[r].pid) == "T"]
        culprit = stopped[0] if stopped else min(waiting, key=lambda r: (seen[r], r))
        how = ("is stopped (SIGSTOP, or held by a debugger)" if stopped else
               "is stuck (in a kernel, a model's step or a wait)")
        return (f"{self._describe(culprit)} {how}: no worker made progress for {idle:.1f} s "
                f"(watchdog limit {self.watchdog_s:.1f} s; steps done per worker: "
                f"{[seen[r] for r in waiting]}; set watchdog_s= to change the limit)")

    def _receive(self, rank: int, ready: Any) -> tuple[str, Any]:
        if ready is self.conns[rank] or self.conns[rank].poll():
            try:
                return self.conns[rank].recv()
            except EOFError:
                return "died", None
        return "died", None

    def _death_message(self, rank: int, cause: object = None) -> str:
        proc = self.procs[rank]
        proc.join(timeout=0.5)
        code = proc.exitcode
        if code is not None and code < 0:
            try:
                how = f"was killed by signal {-code} ({signal.Signals(-code).name})"
            except ValueError:
                how = f"was killed by signal {-code}"
        elif code is not None:
            how = f"exited with code {code}"
        else:
            how = f"stopped answering ({cause})"
        return f"{self._describe(rank)} {how} during the run"

    def _fail(self, message: str, code: int) -> None:
        self._failed = message.splitlines()[0]
        log.error("%s runtime failed: %s", self.name, message)
        if self.transport is not None:
            self.transport.abort(code)
        self._shutdown(kill=True)

    def _shutdown(self, kill: bool = False) -> None:
        procs = getattr(self, "procs", [])
        if not kill:
            send_stop(self.conns)
        deadline = time.monotonic() + (0.2 if kill else STOP_GRACE_S)
        for proc in procs:
            proc.join(timeout=max(0.0, deadline - time.monotonic()))
        for proc in procs:
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=STOP_GRACE_S)
        for conn in getattr(self, "conns", []):
            conn.close()
        if self.transport is not None:
            self.transport.unlink()
            self.transport = None

    # -- the backend interface ---------------------------------------------------------------------
    def run(self, steps: int) -> None:
        window = self.window
        # commands of bounded size: a reply carries the chunk's spikes, at most one per unit-step
        chunk = max(window, MAX_UNIT_STEPS_PER_COMMAND // max(self.ir.n_units, 1))
        bar = progress_bar(self.progress, steps, f"run '{self.ir.name}'")
        done = 0
        try:
            while done < steps:
                n = min(chunk, steps - done)
                self._running = n
                if bar:
                    self._bar = (bar, self._beats[:self.n_workers].copy(), done)
                try:
                    replies = self._call(("run", self.t, n, window))
                finally:
                    self._running = 0
                    self._bar = None
                self._absorb(replies, n)
                done += n
                bar.update_to(done)
        finally:
            bar.close()

    def _absorb(self, replies: list[dict[str, Any]], steps: int) -> None:
        times = np.concatenate([r["times"] for r in replies])
        units = np.concatenate([r["units"] for r in replies])
        for reply in replies:   # each worker counted its populations' spikes and operations
            index, spikes, ops = reply["populations"]
            self._pop_spikes[index] += spikes
            self._pop_ops[index] += ops
        self._spike_chunks.append((times, units))
        self._counters = np.sum([r["counters"] for r in replies], axis=0)
        for name in self._plastic_updates:
            self._plastic_updates[name] = sum(r["plastic_updates"].get(name, 0) for r in replies)
        for (pop_name, var), (first, every, neurons, rows) in self._recorded.items():
            if pop_name in self._plastic:
                rows.append(self._plastic_block(pop_name, var, first, every, steps, replies))
                continue
            pop = self.ir.population(pop_name)
            key = (self._pop_index[pop_name], var)
            samples = _samples(first, every, self.t, steps)
            columns = pop.size if neurons is None else neurons.size
            block = np.zeros((samples, columns), dtype=np.int64)
            for reply in replies:
                units, values = reply["recorded"][key]
                where = (units - pop.offset if neurons is None
                         else np.searchsorted(neurons, units - pop.offset))
                block[:, where] = values
            rows.append(block)
        self.t += steps

    def _plastic_block(self, name: str, var: str, first: int, every: int, steps: int,
                       replies: list[dict[str, Any]]) -> np.ndarray:
        """The samples of a recorded learning variable in the run just done, assembled."""
        proj = self._plastic[name]
        block = np.zeros((_samples(first, every, self.t, steps), 0), dtype=np.int64)
        for reply in replies:
            if (name, var) not in reply["recorded"]:
                continue
            axis, index, values = reply["recorded"][(name, var)]
            if block.shape[1] == 0:
                block = np.zeros((block.shape[0], plastic_size(proj, axis)), dtype=np.int64)
            block[:, index] = values
        return block

    def _plastic_get(self, name: str, var: str) -> np.ndarray:
        proj = self._plastic[name]
        values = None
        for reply in self._call(("plastic_get", name, var)):
            if reply is None:
                continue
            axis, index, data = reply
            if values is None:
                values = np.zeros(plastic_size(proj, axis), dtype=np.int64)
            values[index] = data
        if values is None:   # no synapse at all: nothing is held anywhere
            values = PlasticProjection(proj, []).get(var)
        return values

    def record(self, population: str, var: str, neurons: np.ndarray | None = None,
               every: int = 1) -> None:
        """Record ``var`` from the next step on, every ``every`` steps, of ``neurons`` (sorted
        indices within the population; all when None). Workers sample in their per-step hook
        and send a window's samples with its reply: recording does not shorten windows."""
        key = (population, var)
        if population in self._plastic:
            if key not in self._recorded:
                self._call(("record_plastic", population, var, self.t + 1, every))
                self._recorded[key] = (self.t + 1, every, None, [])
            return
        if key not in self._recorded:
            pop = self.ir.population(population)
            units = None if neurons is None else neurons + pop.offset
            self._call(("record", self._pop_index[population], var, units, self.t + 1, every))
            self._recorded[key] = (self.t + 1, every, neurons, [])

    def recorded(self, population: str, var: str) -> tuple[int, np.ndarray]:
        first, _, neurons, rows = self._recorded[(population, var)]
        if population in self._plastic:
            size = plastic_size(self._plastic[population], plastic_axis(var))
        else:
            size = self.ir.population(population).size if neurons is None else neurons.size
        return first, np.concatenate(rows) if rows else np.zeros((0, size), dtype=np.int64)

    def spike_events(self, population: str) -> tuple[np.ndarray, np.ndarray]:
        pop = self.ir.population(population)
        times, indices = [], []
        for t, units in self._spike_chunks:
            mine = (units >= pop.offset) & (units < pop.stop)
            times.append(t[mine].astype(np.int64))
            indices.append(units[mine].astype(np.int64) - pop.offset)
        if not times:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return np.concatenate(times), np.concatenate(indices)

    def get(self, population: str, var: str) -> np.ndarray:
        if population in self._plastic:
            return self._plastic_get(population, var)
        pop = self.ir.population(population)
        index = self._pop_index[population]
        fields = pop.state if var in pop.state else pop.params
        if self._is_source[index] or not fields.specs()[var].per_unit:
            return np.array(pop.params[var])   # sources' parameters do not change in a run
        values = np.zeros(pop.size, dtype=np.int64)
        for units, data in self._call(("get", index, var)):
            values[units - pop.offset] = data
        return values

    def set(self, population: str, var: str, value: np.ndarray) -> None:
        if population in self._plastic:
            self._call(("plastic_set", population, var, np.asarray(value, dtype=np.int64)))
            return
        pop = self.ir.population(population)
        index = self._pop_index[population]
        if self._is_source[index]:
            raise SimulationError(f"process '{population}' is a source: its parameters are fixed "
                                  "when the runtime starts")
        units = np.arange(pop.offset, pop.stop, dtype=np.int64)
        self._call(("set", index, var, units, np.asarray(value)))

    def counters(self) -> Counters:
        values = dict(zip(COUNTER_NAMES, (int(v) for v in self._counters)))
        counters = Counters(steps=self.t, synaptic_ops=values["synaptic_ops"],
                            neuron_updates=values["neuron_updates"], spikes=values["spikes"],
                            synaptic_updates=values["synaptic_updates"])
        counters.set_traffic(values)
        counters.messages_workers = values["messages_workers"]
        counters.per_process = self._per_process()
        return counters

    def _count_spikes(self, units: np.ndarray) -> None:
        """Add spikes of these global units to the per-population totals (in time linear in the
        spikes and units, with no random reads per spike)."""
        if units.size == 0:
            return
        per_unit = np.bincount(units.astype(np.intp), minlength=self.ir.n_units)  # int32: slow
        ends = np.append(self._pop_offsets[1:], self.ir.n_units)
        for total, values in ((self._pop_spikes, per_unit),
                              (self._pop_ops, per_unit * self.exe.routing_out_degree)):
            cumulated = np.cumsum(values)
            before = np.where(self._pop_offsets > 0, cumulated[self._pop_offsets - 1], 0)
            total += cumulated[ends - 1] - before

    def _per_process(self) -> dict[str, dict[str, int]]:
        per = {pop.name: {"spikes": int(self._pop_spikes[i]),
                          "synaptic_ops": int(self._pop_ops[i]),
                          "neuron_updates": 0 if self._is_source[i] else pop.size * self.t}
               for i, pop in enumerate(self.ir.populations)}
        for name, updates in self._plastic_updates.items():
            per.setdefault(name, {})["synaptic_updates"] = updates
        return per

    def dump_state(self) -> RunState:
        ir = self.ir
        values: dict[str, dict[str, np.ndarray]] = {}
        for index, pop in enumerate(ir.populations):
            if not self._is_source[index]:
                names = list(pop.state) + list(pop.params)
                values[pop.name] = {var: self.get(pop.name, var) for var in names}
        pending = np.zeros((ir.max_delay, ir.n_units), dtype=np.int64)
        for units, ring in self._call(("pending",)):
            pending[:, units] = ring_to_pending(ring, self.t)
        totals = dict(zip(COUNTER_NAMES, (int(v) for v in self._counters)))
        totals["steps"] = self.t
        chunks = self._spike_chunks
        times = np.concatenate([c[0] for c in chunks]).astype(np.int64) if chunks \
            else np.zeros(0, np.int64)
        units = np.concatenate([c[1] for c in chunks]).astype(np.int64) if chunks \
            else np.zeros(0, np.int64)
        plastic = {name: {var: self.get(name, var) for var in LEARNING_VARS}
                   for name in self._plastic}
        return RunState(self.t, values, pending, totals, self._per_process(), times, units,
                        plastic)

    def load_state(self, state: RunState) -> None:
        ir = self.ir
        for index, pop in enumerate(ir.populations):
            if self._is_source[index]:
                continue
            for var, value in state.values[pop.name].items():
                self.set(pop.name, var, value)
        for name, values in state.plastic.items():
            for var in LEARNING_VARS:
                self.set(name, var, values[var])
        updates = {name: int(per.get("synaptic_updates", 0))
                   for name, per in state.per_process.items() if name in self._plastic}
        for rank in range(self.n_workers):   # the totals on the first worker that holds each
            held = {name: count for name, count in updates.items()
                    if self._holder(name) == rank}
            self._call(("plastic_updates", held), [rank])
        self._plastic_updates.update(updates)
        ring = pending_to_ring(state.pending, state.t)
        self._call(("load_pending", np.arange(ir.n_units, dtype=np.int64), ring))
        totals = np.array([int(state.counters.get(name, 0)) for name in COUNTER_NAMES],
                          dtype=np.int64)
        for rank in range(self.n_workers):
            self._call(("set_counters", totals if rank == 0 else np.zeros_like(totals)), [rank])
        self._counters = totals
        self._spike_chunks = [(narrow_ids(state.spike_times), narrow_ids(state.spike_units))]
        self._pop_spikes[:] = 0
        self._pop_ops[:] = 0
        self._count_spikes(self._spike_chunks[0][1])
        self.t = state.t

    def _holder(self, name: str) -> int:
        """The first worker holding synapses of plastic projection ``name`` (-1: none)."""
        for program in self.programs:
            if program.plastic is not None and program.plastic.block(name) is not None:
                return program.rank
        return -1

    def close(self) -> None:
        """Stop the workers (gracefully, then by force), unlink the shared memory. An interrupt
        (Ctrl-C) during it kills the workers instead and is re-raised; calling again finishes."""
        if self._closed:
            return
        try:
            if self._failed is None:
                self._shutdown(kill=False)
        except BaseException:
            self._shutdown(kill=True)
            raise
        finally:
            if not any(proc.is_alive() for proc in self.procs) and self.transport is None:
                self._closed = True
                self._finalizer.detach()



def send_stop(conns: list[Any]) -> None:
    """Ask every worker (or rank) at the other end of ``conns`` to stop; a closed one is
    skipped."""
    for conn in conns:
        try:
            conn.send(("stop",))
        except (OSError, ValueError):
            pass


def _reap(procs: list[Any], conns: list[Any], transport: Any) -> None:
    """Kill and reap workers, close pipes, unlink shared memory (the finalizer of a backend
    that was not closed)."""
    for proc in procs:
        if proc.is_alive():
            proc.kill()
        proc.join(timeout=STOP_GRACE_S)
    for conn in conns:
        conn.close()
    if transport is not None:
        transport.unlink()


def _return_free_memory() -> None:
    """Give the C heap's free pages back to the system (glibc): what building the programs
    freed would otherwise stay resident in the host and in every forked worker's view of it."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):   # not glibc
        pass


def _process_state(pid: int | None) -> str:
    """The state letter of a process from /proc (``"T"``: stopped), ``"?"`` when unknown."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "?"


def watchdog_limit(programs: list[WorkerProgram], window: int) -> float:
    """The default watchdog limit in seconds: ``WATCHDOG_MIN_S``, or ``WATCHDOG_FACTOR`` times
    a generous estimate of one window's work on the busiest worker if that is longer (10 ns per
    unit update, 10 ns per synaptic event at a spike in 20 units per step, 1 ms per step for each
    run of a model without a kernel), so that big networks are never cut off while they work."""
    worst = 0.0
    for program in programs:
        synapses = int(program.arrays["syn_target"].size) if "syn_target" in program.arrays else 0
        python_runs = sum(1 for run in program.runs if run.model.kernel is None)
        step = 1e-8 * program.n_units + 1e-8 * synapses / 20 + 1e-3 * python_runs
        worst = max(worst, step * window)
    return max(WATCHDOG_MIN_S, WATCHDOG_FACTOR * worst)


def _shared_memory(n_workers: int, capacity: np.ndarray) -> SharedMemoryTransport:
    return SharedMemoryTransport.create(n_workers, capacity, "nmg")


def _samples(first: int, every: int, t0: int, steps: int) -> int:
    """Steps ``t`` in ``t0 + 1 .. t0 + steps`` with ``t >= first`` and ``(t - first) % every == 0``."""
    lo = max(t0 + 1, first)
    hi = t0 + steps
    if hi < lo:
        return 0
    start = first + -(-(lo - first) // every) * every
    return 0 if start > hi else (hi - start) // every + 1
