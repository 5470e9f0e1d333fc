"""The worker side of the multi-core runtime: a loop that obeys the host's commands.

Each worker is a forked process holding a :class:`WorkerProgram` (inherited through fork, never
pickled) and a transport view. Commands come over a pipe as small tuples; a ``run`` command runs
windows of steps in the Cython kernel (one Python call per window), exchanging messages with the
other workers between windows. Any exception is reported to the host with its traceback and
aborts the barrier, so the other workers stop waiting at once.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import traceback
from typing import Any

import numpy as np

from nmgraph.runtimes.multicore_program import WorkerProgram, narrow_ids, refresh_runs
from nmgraph.runtimes.transport import ABORT_PARENT, BarrierAborted, InProcessTransport

__all__ = ["WorkerLoop", "worker_main"]

log = logging.getLogger("nmgraph.worker")

_PR_SET_PDEATHSIG = 1


def worker_main(rank: int, program: WorkerProgram, transport: Any, conn: Any) -> None:
    """Entry point of a forked worker process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the host handles Ctrl-C and stops us
    _die_with_parent()
    code = 0
    try:
        view = transport.for_rank(rank) if transport is not None else InProcessTransport()
        WorkerLoop(program, view, conn).serve()
    except BaseException:
        code = 1
        try:
            conn.send(("error", traceback.format_exc()))
        except (OSError, ValueError):
            pass
    finally:
        conn.close()
        os._exit(code)  # no atexit handlers in a forked child: the host owns the shared memory


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the host still reaps us on every exit path
        pass


class WorkerLoop:
    """Serves the host's commands for one worker."""

    def __init__(self, program: WorkerProgram, transport: Any, conn: Any) -> None:
        from nmgraph.runtimes._cores import WorkerKernel

        self.program = program
        self.transport = transport
        self.conn = conn
        self.kernel = WorkerKernel(program)
        self.counts = np.zeros(program.n_workers, dtype=np.int64)
        self.scratch = np.zeros(program.n_workers, dtype=np.int64)
        self.fast = hasattr(transport, "mailbox_addresses")
        if self.fast:
            self.out_addr, self.in_addr = transport.mailbox_addresses()
        self.recording: dict[str, list[np.ndarray]] = {}

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
                self.conn.send(("aborted", str(exc)))
                return
            except BaseException:
                self.transport.abort(ABORT_PARENT)
                raise
            self.conn.send(("ok", reply))
            if op == "stop":
                return

    # -- commands ----------------------------------------------------------------------------------
    def do_run(self, t0: int, steps: int, window: int, fail_at: int | None) -> dict[str, Any]:
        kernel, program = self.kernel, self.program
        t, done = t0, 0
        if self.fast and fail_at is None and not self.recording:
            # windows and exchanges in the kernel: no Python between windows
            while done < steps:
                self._ensure_record_capacity(min(window, steps - done))
                n = kernel.run_windows(t, steps - done, window, self.transport.exchange_core,
                                       self.transport.timeout_s, self.out_addr, self.in_addr,
                                       self.counts, self.scratch)
                t += n
                done += n
        while done < steps:
            n = min(window, steps - done)
            if fail_at is not None and t < fail_at <= t + n:
                raise RuntimeError(f"injected failure at step {fail_at} (testing)")
            self._ensure_record_capacity(n)
            outboxes = [self.transport.outbox(d) for d in range(program.n_workers)]
            kernel.run(t, n, outboxes, self.counts)
            inboxes = self.transport.exchange(self.counts)
            for inbox in inboxes:
                if inbox.size:
                    kernel.deliver(inbox)
            self.counts[:] = 0
            for var, rows in self.recording.items():
                rows.append(program.arrays[var][:program.n_neurons].copy())
            t += n
            done += n
        kernel.flush_costs()
        count = kernel.rec_count
        times = narrow_ids(program.rec_time[:count])   # int32 on the wire while they fit
        units = narrow_ids(program.units[program.rec_unit[:count]])
        kernel.reset_records()
        recorded = {var: np.stack(rows) if rows else np.zeros((0, program.n_neurons), np.int64)
                    for var, rows in self.recording.items()}
        for rows in self.recording.values():
            rows.clear()
        return {"times": times, "units": units, "counters": program.counters.copy(),
                "recorded": recorded}

    def do_record(self, var: str) -> None:
        self.recording.setdefault(var, [])

    def do_get(self, var: str) -> tuple[np.ndarray, np.ndarray]:
        program = self.program
        return program.units[:program.n_neurons], program.arrays[var][:program.n_neurons].copy()

    def do_set(self, var: str, units: np.ndarray, values: np.ndarray) -> None:
        program = self.program
        neurons = program.units[:program.n_neurons]
        where = np.searchsorted(units, neurons)
        hit = (where < units.size) & (units[np.minimum(where, units.size - 1)] == neurons)
        program.arrays[var][np.flatnonzero(hit)] = values[where[hit]]
        if var in ("bias_mant", "bias_exp"):
            program.arrays["bias"][:] = (program.arrays["bias_mant"].astype(np.int64)
                                         << program.arrays["bias_exp"].astype(np.int64))
        refresh_runs(program)

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
