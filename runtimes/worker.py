"""The worker side of the multi-core runtime: one loop that obeys the host's commands.

Each worker is a forked process holding a :class:`WorkerProgram` (inherited through fork, never
pickled) and its transport's view for this rank. Commands come over a pipe as small tuples; a
``run`` command runs windows of steps and the exchanges between them inside the Cython kernel
(``WorkerKernel.run_windows``), through the exchange the transport provides: every transport
(one worker in process, shared memory, MPI ranks, a test transport that injects faults) runs
this same loop.
Models without a Cython kernel and state recording run in a hook the kernel calls once per step,
after the kernels' update. Any exception is reported to the host with its traceback and aborts
the exchange, so the other workers stop waiting at once.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import threading
import time
import traceback
from typing import Any

import numpy as np

from nmgraph.core.models import checked_step
from nmgraph.runtimes.multicore_program import UnitRun, WorkerProgram, narrow_ids, refresh_runs
from nmgraph.runtimes.transport import ABORT_PARENT, BarrierAborted, InProcessTransport

__all__ = ["StepHook", "WorkerLoop", "reported", "worker_main"]

log = logging.getLogger("nmgraph.worker")

_PR_SET_PDEATHSIG = 1


def worker_main(rank: int, program: WorkerProgram, transport: Any, conn: Any,
                progress: np.ndarray | None = None, from_main_thread: bool = True) -> None:
    """Entry point of a forked worker process; ``progress`` is its int64 counter of steps done,
    in memory shared with the host (the watchdog)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the host handles Ctrl-C and stops us
    if from_main_thread:
        _die_with_parent()
    else:   # the parent-death signal would fire when the forking thread ends: watch instead
        _watch_parent(os.getppid())
    code = 0
    try:
        view = transport.for_rank(rank) if transport is not None else InProcessTransport()
        WorkerLoop(program, view, conn, progress).serve()
    except _Reported:
        code = 1
    except BaseException:
        code = 1
        try:
            conn.send(("error", traceback.format_exc()))
        except (OSError, ValueError):
            pass
    finally:
        conn.close()
        os._exit(code)  # no atexit handlers in a forked child: the host owns the shared memory


class _Reported(Exception):
    """The worker's failure has been sent to the host already."""


def reported(exc: BaseException) -> bool:
    """Whether ``exc`` ends a worker loop whose failure the host has been told of already."""
    return isinstance(exc, _Reported)


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the host still reaps us on every exit path
        pass


def _watch_parent(parent: int) -> None:
    """Exit when the parent process is gone (reparented), checked twice a second."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="nmgraph-parent-watch", daemon=True).start()


class StepHook:
    """What runs in Python once per step, after the kernels: the NumPy steps of models without a
    Cython kernel (one call per run of units), then the recording of state.

    The kernel calls ``hook(t)``; an exception is kept in :attr:`error` and re-raised by the
    kernel's run call.
    """

    def __init__(self, program: WorkerProgram) -> None:
        self.program = program
        self.error: BaseException | None = None
        self.python_runs = [run for run in program.runs if run.model.kernel is None]
        #: (population, var) -> what to record and the rows recorded since the last reply
        self.recording: dict[tuple[int, str], Recording] = {}

    @property
    def needed(self) -> bool:
        return bool(self.python_runs or self.recording)

    def __call__(self, t: int) -> None:
        program = self.program
        if self.python_runs:
            ring, spiked = program.arrays["ring"], program.arrays["spiked"]
            slot = t % ring.shape[0]
            for run in self.python_runs:
                a_in = None
                if not run.model.is_source:
                    a_in = ring[slot, run.units].astype(np.int64)
                    ring[slot, run.units] = 0
                spikes = checked_step(run.model, run.label, run.state, run.params, a_in, t,
                                      run.index)
                spiked[run.units] = spikes
        for (_, var), recording in self.recording.items():
            if (t - recording.first) % recording.every == 0:
                recording.rows.append(recording.sample(var))


class Recording:
    """One recorded Var of one population on this worker: from step ``first`` every ``every``
    steps, the units ``picks[i]`` (positions in the run's units; all when None) of each run."""

    def __init__(self, runs: list[UnitRun], first: int, every: int,
                 picks: list[np.ndarray | None], units: np.ndarray) -> None:
        self.runs, self.first, self.every, self.picks = runs, first, every, picks
        #: Global ids of the recorded units, in the order of the sampled columns.
        self.units = units
        self.rows: list[np.ndarray] = []

    def sample(self, var: str) -> np.ndarray:
        parts = [_field(run, var) if pick is None else _field(run, var)[..., pick]
                 for run, pick in zip(self.runs, self.picks)]
        return np.concatenate(parts, axis=-1) if parts else np.zeros(0, np.int64)


class PlasticRecording:
    """One recorded learning variable of one plastic projection on this worker: its local part
    (``index`` on ``axis``, as ``PlasticBlock.values``) at the end of every ``every``-th step
    from ``first``, sampled by the learning engine as it replays the steps."""

    def __init__(self, block: Any, var: str, axis: str, index: np.ndarray, first: int,
                 every: int) -> None:
        self.block, self.var, self.axis, self.index = block, var, axis, index
        self.first, self.every = first, every
        self.rows: list[np.ndarray] = []


def _field(run: UnitRun, var: str) -> np.ndarray:
    if var in run.state:
        return np.array(run.state[var], dtype=np.int64)
    return np.array(run.params[var], dtype=np.int64)


#: Arrays a worker writes at random places every step (the delay ring buffer, the fan-out
#: table's spike counts), and the size from which each gets pages of its own.
RANDOM_WRITES = ("ring", "fanout")
OWN_PAGES_BYTES = 1 << 21


def own_pages(program: WorkerProgram) -> None:
    """Give the arrays a worker writes at random (``RANDOM_WRITES``) fresh memory in this process.

    A forked worker inherits the host's pages copy-on-write, and the first write to a huge page
    splits it into 4 KiB pages: random writes all over a ring buffer of megabytes then miss the
    TLB on almost every synaptic event. A fresh array is allocated here (NumPy asks the kernel for
    huge pages for large arrays), so the hot arrays keep huge pages. Must run before the kernel
    takes the arrays' addresses.
    """
    for name in RANDOM_WRITES:
        array = program.arrays.get(name)
        if array is not None and array.nbytes >= OWN_PAGES_BYTES:
            fresh = np.empty_like(array)
            fresh[...] = array
            program.arrays[name] = fresh


class WorkerLoop:
    """Serves the host's commands for one worker."""

    def __init__(self, program: WorkerProgram, transport: Any, conn: Any,
                 progress: np.ndarray | None = None) -> None:
        from nmgraph.runtimes._worker_kernel import WorkerKernel

        self.program = program
        self.transport = transport
        self.conn = conn
        own_pages(program)
        self.kernel = WorkerKernel(program)
        self.plastic = None
        #: (plastic projection, var) -> PlasticRecording
        self.plastic_recording: dict[tuple[str, str], PlasticRecording] = {}
        if program.plastic is not None:
            from nmgraph.runtimes._plastic import PlasticEngine
            from nmgraph.runtimes._worker_kernel import SYNAPTIC_UPDATES

            self.plastic = PlasticEngine(program.plastic, SYNAPTIC_UPDATES)
            self.kernel.plastic = self.plastic
        self.hook = StepHook(program)
        self.kernel.set_hook(self.hook if self.hook.needed else None)
        # spikes and synaptic operations per population, counted here at each cost flush
        self.populations = np.unique([run.population for run in program.runs]).astype(np.int64)
        unit_group = np.zeros(program.n_units, dtype=np.int32)
        for run in program.runs:
            unit_group[run.units] = np.searchsorted(self.populations, run.population)
        self.pop_spikes = np.zeros(self.populations.size, dtype=np.int64)
        self.pop_ops = np.zeros(self.populations.size, dtype=np.int64)
        self.kernel.set_accounting(unit_group, program.arrays["unit_degree"], self.pop_spikes,
                                   self.pop_ops)
        self.counts = np.zeros(program.n_workers, dtype=np.int64)
        self.scratch = np.zeros(program.n_workers, dtype=np.int64)
        self.out_addr, self.in_addr = transport.mailbox_addresses()
        self.progress = progress

    def serve(self) -> None:
        while True:
            try:
                command = self.conn.recv()
            except EOFError:  # host gone
                return
            op, args = command[0], command[1:]
            try:
                reply = getattr(self, f"do_{op}")(*args)
            except BarrierAborted as exc:
                self.conn.send(("aborted", {"message": str(exc), "partial": self._partial(op)}))
                return
            except Exception:
                self.transport.abort(ABORT_PARENT)
                self.conn.send(("error", {"message": traceback.format_exc(),
                                          "partial": self._partial(op)}))
                raise _Reported() from None
            except BaseException:
                self.transport.abort(ABORT_PARENT)
                raise
            self.conn.send(("ok", reply))
            if op == "stop":
                return

    def _partial(self, op: str) -> dict[str, Any] | None:
        """The spikes recorded in a failing run, up to the last step this worker finished."""
        if op != "run":
            return None
        count = self.kernel.rec_count
        return {"times": narrow_ids(self.program.rec_time[:count]),
                "units": narrow_ids(self.program.units[self.program.rec_unit[:count]]),
                "last_step": int(self.kernel.last_step)}

    # -- commands ----------------------------------------------------------------------------------
    def do_run(self, t0: int, steps: int, window: int) -> dict[str, Any]:
        kernel, program = self.kernel, self.program
        kernel.set_last_step(t0)
        t, done = t0, 0
        while done < steps:
            self._ensure_record_capacity(min(window, steps - done))
            n = kernel.run_windows(t, steps - done, window, self.transport.exchange_core,
                                   self.transport.timeout_s, self.out_addr, self.in_addr,
                                   self.counts, self.scratch, self.progress)
            t += n
            done += n
        kernel.flush_costs()
        count = kernel.rec_count
        times = narrow_ids(program.rec_time[:count])   # int32 on the wire while they fit
        units = narrow_ids(program.units[program.rec_unit[:count]])
        kernel.reset_records()
        recorded = {}
        for key, recording in self.hook.recording.items():
            rows = recording.rows
            recorded[key] = (recording.units, np.stack(rows) if rows else
                             np.zeros((0, recording.units.size), np.int64))
            recording.rows = []
        for key, recording in self.plastic_recording.items():
            rows = recording.rows
            recorded[key] = (recording.axis, recording.index, np.stack(rows) if rows else
                             np.zeros((0, recording.index.size), np.int64))
            recording.rows = []
        updates = {} if program.plastic is None else {
            block.name: int(block.arrays["updates"][0]) for block in program.plastic.projections}
        reply = {"times": times, "units": units, "counters": program.counters.copy(),
                 "recorded": recorded, "plastic_updates": updates}
        # this run's spikes and their synaptic operations, per population
        reply["populations"] = (self.populations, self.pop_spikes.copy(), self.pop_ops.copy())
        self.pop_spikes[:] = 0
        self.pop_ops[:] = 0
        traffic = getattr(self.transport, "traffic", None)
        if traffic is not None:   # between MPI ranks: messages and bytes to each
            reply["traffic"] = traffic()
        return reply

    def _units_of(self, population: int) -> np.ndarray:
        """Global ids of this worker's units of ``population``, in run order."""
        program = self.program
        runs = program.runs_of(population)
        if not runs:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate([program.units[run.units] for run in runs])

    def do_record(self, population: int, var: str, units: np.ndarray | None = None,
                  first: int = 1, every: int = 1) -> None:
        """Record ``var`` of ``population`` from step ``first`` every ``every`` steps, for the
        global ``units`` (sorted) that live here, or all of them when None."""
        program = self.program
        runs = program.runs_of(population)
        picks: list[np.ndarray | None] = []
        kept = []
        for run in runs:
            mine = program.units[run.units]
            if units is None:
                picks.append(None)
                kept.append(mine)
                continue
            where = np.searchsorted(units, mine)
            hit = (where < units.size) & (units[np.minimum(where, units.size - 1)] == mine)
            picks.append(np.flatnonzero(hit))
            kept.append(mine[hit])
        recorded_units = np.concatenate(kept) if kept else np.zeros(0, np.int64)
        self.hook.recording.setdefault((population, var),
                                       Recording(runs, first, every, picks, recorded_units))
        self.kernel.set_hook(self.hook)

    def do_get(self, population: int, var: str) -> tuple[np.ndarray, np.ndarray]:
        runs = self.program.runs_of(population)
        values = [_field(run, var) for run in runs]
        return self._units_of(population), (np.concatenate(values) if values
                                            else np.zeros(0, np.int64))

    def do_set(self, population: int, var: str, units: np.ndarray, values: np.ndarray) -> None:
        """Set ``var`` of the given global units (sorted) to ``values``."""
        program = self.program
        changed = []
        for run in program.runs_of(population):
            mine = program.units[run.units]
            where = np.searchsorted(units, mine)
            hit = (where < units.size) & (units[np.minimum(where, units.size - 1)] == mine)
            fields = run.state if var in run.state else run.params
            target = fields[var]
            target[..., np.flatnonzero(hit)] = values[where[hit]]
            if fields is run.params:
                changed.append(run)
        if changed:
            refresh_runs(program, changed)

    # -- plastic synapses (the learning engine's state) ----------------------------------------
    def _block(self, name: str) -> Any:
        plastic = self.program.plastic
        return None if plastic is None else plastic.block(name)

    def do_plastic_get(self, name: str, var: str) -> tuple[str, np.ndarray, np.ndarray] | None:
        """``(axis, index, values)`` of ``var`` of the plastic projection ``name`` held here
        (see ``PlasticBlock.values``), or None when this worker holds none of its synapses."""
        block = self._block(name)
        if block is None:
            return None
        axis, index, values = block.values(var)
        return axis, index, values.astype(np.int64)

    def do_plastic_set(self, name: str, var: str, values: np.ndarray) -> None:
        """Set ``var`` from the full array ``values`` (per synapse, pre or post neuron)."""
        block = self._block(name)
        if block is None:
            return
        _, index, target = block.values(var)
        target[...] = values[index]
        if var in ("x0", "y0"):
            self.plastic.reset_flags()

    def do_plastic_updates(self, counts: dict[str, int]) -> None:
        """Set the per-projection update counts (a restored snapshot; rank 0 holds the totals)."""
        for block in [] if self.program.plastic is None else self.program.plastic.projections:
            block.arrays["updates"][0] = counts.get(block.name, 0)

    def do_record_plastic(self, name: str, var: str, first: int, every: int) -> None:
        block = self._block(name)
        if block is None:
            return
        axis, index, _ = block.values(var)
        self.plastic_recording.setdefault((name, var), PlasticRecording(block, var, axis, index,
                                                                        first, every))
        self.plastic.recorder = self._record_plastic

    def _record_plastic(self, t: int) -> None:
        for recording in self.plastic_recording.values():
            if t >= recording.first and (t - recording.first) % recording.every == 0:
                recording.rows.append(recording.block.values(recording.var)[2].astype(np.int64))

    def do_pending(self) -> tuple[np.ndarray, np.ndarray]:
        """Ring buffer of this worker's neurons (slots as stored) and their global units."""
        program = self.program
        return program.units[:program.n_neurons], program.arrays["ring"][:, :program.n_neurons]

    def do_load_pending(self, units: np.ndarray, ring: np.ndarray) -> None:
        program = self.program
        neurons = program.units[:program.n_neurons]
        program.arrays["ring"][:, :program.n_neurons] = ring[:, np.searchsorted(units, neurons)]

    def do_set_counters(self, counters: np.ndarray) -> None:
        self.kernel.flush_costs()
        self.program.counters[:] = counters

    def do_stop(self) -> None:
        return None

    def _ensure_record_capacity(self, steps: int) -> None:
        kernel, program = self.kernel, self.program
        need = kernel.rec_count + program.n_units * steps
        if need <= program.rec_time.size:
            return
        size = max(need, 2 * program.rec_time.size)
        times = np.zeros(size, dtype=np.int64)
        units = np.zeros(size, dtype=np.int32)
        times[:kernel.rec_count] = program.rec_time[:kernel.rec_count]
        units[:kernel.rec_count] = program.rec_unit[:kernel.rec_count]
        program.arrays["rec_time"], program.arrays["rec_unit"] = times, units
        kernel.set_record_buffers(times, units, kernel.rec_count)
