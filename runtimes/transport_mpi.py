"""Spike exchange between MPI ranks, for the worker loop of the multi-core runtime.

An MPI rank runs the same worker loop and Cython kernel as a shared-memory worker
(``WorkerKernel.run_windows``): during a window the kernel writes each spike bound for another
rank as one int64 message ``(t << 32) | row`` into that rank's outbox, then calls
:meth:`MPIExchange.exchange_counts` once. That call is the only Python per window:

1. the counts, one int64 per rank, go out in one non-blocking ``Ialltoall``;
2. the payloads travel point to point (``Isend``/``Irecv``) between the pairs whose count is not
   zero (a sparse rank graph costs nothing for the silent pairs; an empty network costs one
   ``Ialltoall`` per window);
3. the messages from each source are then in its inbox, at a fixed address, until the next
   exchange.

Mailboxes are this process's own memory (one send buffer, one receive buffer, a slice of each per
peer sized by the most messages it can carry in a window); MPI copies between them, so the two
window parities of the shared-memory layout share one set of addresses here.

Waits never hang: requests are tested in a loop (spinning for a while, then yielding the CPU, then
sleeping briefly, which keeps several ranks on one core moving) until done or until the timeout,
and a Ctrl-C arrives as ``KeyboardInterrupt`` between two tests. A rank that fails in a window
calls :meth:`MPIExchange.fail`: it takes part in that window's ``Ialltoall`` with the count
``FAILED``, so every other rank leaves the window at once with :class:`RankFailed` naming it
instead of waiting for a timeout.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from nmgraph.runtimes.transport import ABORT_OVERFLOW, ABORT_PARENT, ABORT_TIMEOUT, BarrierAborted

__all__ = ["FAILED", "MPIExchange", "MPITransport", "RankFailed", "wait_requests"]

#: Count a failing rank sends in place of its window's counts.
FAILED = -1
#: Bytes of a spike message (int64: step and row at the destination) and of a window's count.
BYTES_PER_MESSAGE = 8
BYTES_PER_COUNT = 8
#: Tag of the spike payloads on the exchange's own communicator.
PAYLOAD_TAG = 7
#: Seconds a wait spins before it yields the CPU at each test, and before it sleeps between them.
SPIN_S = 50e-6
YIELD_S = 5e-3
SLEEP_S = 100e-6
_LINE = 8   # int64 per 64-byte cache line: each peer's mailbox starts on its own line


class RankFailed(BarrierAborted):
    """Another rank failed in this window (it sent ``FAILED``): ``rank`` names it."""

    def __init__(self, rank: int, window: int) -> None:
        self.rank = int(rank)
        super().__init__(ABORT_PARENT, f"rank {rank} failed in window {window} of the exchange")


_MPI: Any = None


def _mpi() -> Any:
    """The ``mpi4py.MPI`` module (imported on first use: nmgraph imports without mpi4py)."""
    global _MPI
    if _MPI is None:
        from mpi4py import MPI

        _MPI = MPI
    return _MPI


def wait_requests(requests: list[Any], timeout_s: float, what: str) -> None:
    """Wait until every MPI request completes, at most ``timeout_s`` seconds (< 0: no limit).

    Raises :class:`~nmgraph.runtimes.transport.BarrierAborted` with ``ABORT_TIMEOUT`` (the pending
    requests are left as they are: the caller ends the run) naming ``what`` was awaited.
    """
    if not requests:
        return
    test_all = _mpi().Request.Testall
    if test_all(requests):
        return
    start = time.monotonic()
    spins = 0
    while not test_all(requests):
        spins += 1
        if spins & 63:
            continue
        waited = time.monotonic() - start
        if 0 <= timeout_s < waited:
            raise BarrierAborted(ABORT_TIMEOUT, f"timed out after {waited:.1f} s waiting for "
                                 f"{what}")
        if waited > YIELD_S:
            time.sleep(SLEEP_S)
        elif waited > SPIN_S:
            os.sched_yield()


class MPIExchange:
    """The per-window exchange of one rank (``window``, ``exchange_counts``): see the module
    docstring. ``capacity_out[d]`` / ``capacity_in[s]``: most messages this rank sends ``d`` /
    receives from ``s`` in a window (zero for itself)."""

    def __init__(self, comm: Any, capacity_out: np.ndarray, capacity_in: np.ndarray) -> None:
        self.comm = comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.window = 0
        self.cap_out = np.array(capacity_out, dtype=np.int64)
        self.cap_in = np.array(capacity_in, dtype=np.int64)
        if self.cap_out.shape != (self.size,) or self.cap_in.shape != (self.size,) or \
                (self.cap_out < 0).any() or (self.cap_in < 0).any():
            raise ValueError(f"mailbox capacities need one count >= 0 per rank ({self.size})")
        self.cap_out[self.rank] = self.cap_in[self.rank] = 0
        self.out_at = _offsets(self.cap_out)
        self.in_at = _offsets(self.cap_in)
        self.sendbuf = np.zeros(max(int(self.out_at[-1]), 1), dtype=np.int64)
        self.recvbuf = np.zeros(max(int(self.in_at[-1]), 1), dtype=np.int64)
        self._failed_counts = np.full(self.size, FAILED, dtype=np.int64)
        self._cap_out_list, self._cap_in_list = self.cap_out.tolist(), self.cap_in.tolist()
        self._out_at_list, self._in_at_list = self.out_at.tolist(), self.in_at.tolist()
        self._between = True     # between exchanges: the next collective is a window's counts
        #: Spike messages this rank sent to / received from each rank.
        self.sent_messages = np.zeros(self.size, dtype=np.int64)
        self.received_messages = np.zeros(self.size, dtype=np.int64)

    def traffic_bytes(self) -> tuple[np.ndarray, np.ndarray]:
        """Bytes sent to and received from each rank: the spike messages, and one int64 count
        per window to and from every other rank."""
        counts = np.full(self.size, BYTES_PER_COUNT * self.window, dtype=np.int64)
        counts[self.rank] = 0
        return (BYTES_PER_MESSAGE * self.sent_messages + counts,
                BYTES_PER_MESSAGE * self.received_messages + counts)

    def addresses(self) -> tuple[np.ndarray, np.ndarray]:
        """int64 ``(2, size)`` outbox and inbox addresses by window parity (the same for both
        parities: MPI copies), 0 where a mailbox has no capacity."""
        base_out, base_in = self.sendbuf.ctypes.data, self.recvbuf.ctypes.data
        out = np.where(self.cap_out > 0, base_out + 8 * self.out_at[:-1], 0).astype(np.int64)
        into = np.where(self.cap_in > 0, base_in + 8 * self.in_at[:-1], 0).astype(np.int64)
        return np.stack([out, out]), np.stack([into, into])

    def exchange_counts(self, counts: np.ndarray, timeout: float, in_counts: np.ndarray) -> int:
        """End the window: ``counts[d]`` messages were written in the outbox of ``d``. Fills
        ``in_counts[s]`` with the messages now in the inbox of ``s`` and returns the window's
        parity. Raises ``OverflowError`` on a count above capacity (after telling the other
        ranks), :class:`RankFailed` when another rank failed, ``BarrierAborted`` on a timeout.

        Written for the common case of a window with few messages: small Python lists, no NumPy
        call on the way, and the point-to-point phase only for pairs that exchange something.
        """
        window = self.window
        out = counts.tolist()
        rank = self.rank
        for d, (n, cap) in enumerate(zip(out, self._cap_out_list)):
            if n > cap or n < 0 or (n and d == rank):
                self.fail()
                raise OverflowError(f"rank {rank} wrote more messages than a mailbox holds in "
                                    f"window {window}: counts {out}, capacity "
                                    f"{self._cap_out_list}")
        self._between = False
        request = self.comm.Ialltoall(counts, in_counts)
        if not request.Test():
            wait_requests([request], timeout, f"the other ranks at the exchange of window "
                          f"{window}")
        ins = in_counts.tolist()
        receive = send = None
        for s, (n, cap) in enumerate(zip(ins, self._cap_in_list)):
            if n:
                if n == FAILED:
                    self._between = True   # that window's collective is complete
                    raise RankFailed(s, window)
                if n < 0 or n > cap:
                    self._between = True   # the collective is complete: fail() can tell them
                    raise BarrierAborted(ABORT_OVERFLOW, f"rank {rank} was sent more messages "
                                         f"than its inboxes hold in window {window}: {ins}")
                receive = receive or []
                receive.append((s, n))
        for d, n in enumerate(out):
            if n:
                send = send or []
                send.append((d, n))
        if receive or send:
            self._point_to_point(receive or (), send or (), timeout, window)
        self._between = True
        self.window = window + 1
        return window & 1

    def _point_to_point(self, receive: Any, send: Any, timeout: float, window: int) -> None:
        """The payloads of one window: ``(rank, count)`` to receive and to send."""
        int64 = _mpi().INT64_T
        comm, requests = self.comm, []
        for s, n in receive:
            at = self._in_at_list[s]
            requests.append(comm.Irecv([self.recvbuf[at:at + n], int64], source=s,
                                       tag=PAYLOAD_TAG))
            self.received_messages[s] += n
        for d, n in send:
            at = self._out_at_list[d]
            requests.append(comm.Isend([self.sendbuf[at:at + n], int64], dest=d,
                                       tag=PAYLOAD_TAG))
            self.sent_messages[d] += n
        wait_requests(requests, timeout, f"the spike messages of window {window}")

    def fail(self, timeout: float = 0.05) -> None:
        """Tell the other ranks that this one failed, if it can: between exchanges it takes part
        in the window's ``Ialltoall`` with ``FAILED`` (the others raise :class:`RankFailed`);
        inside an exchange it cannot, and the others time out. Waits at most ``timeout`` s for
        the others; :meth:`progress` (or any later wait on an MPI request) completes it."""
        if not self._between or self.size == 1:
            return
        self._between = False
        self._scratch = np.zeros(self.size, dtype=np.int64)
        self._fail_request = self.comm.Ialltoall(self._failed_counts, self._scratch)
        try:
            wait_requests([self._fail_request], timeout, "the other ranks to hear of a failure")
        except BarrierAborted:
            pass

    def progress(self) -> None:
        """Let MPI move a pending failure notice on (call while waiting for something else)."""
        request = getattr(self, "_fail_request", None)
        if request is not None and request.Test():
            self._fail_request = None


def _offsets(capacity: np.ndarray) -> np.ndarray:
    rounded = -(-capacity // _LINE) * _LINE
    return np.concatenate(([0], np.cumsum(rounded))).astype(np.int64)


class MPITransport:
    """One rank's view of the exchange between MPI ranks (the :class:`Transport` protocol of
    ``transport.py``). ``comm`` is duplicated: windows use their own communicator.

    Parameters
    ----------
    comm
        The ranks' communicator (an ``mpi4py.MPI.Comm``).
    capacity_out, capacity_in
        Most messages this rank sends each rank / receives from each rank in one window.
    timeout
        Longest wait of an exchange in seconds (None: no limit).
    """

    def __init__(self, comm: Any, capacity_out: np.ndarray, capacity_in: np.ndarray,
                 timeout: float | None = None) -> None:
        self.comm = comm.Dup()
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self._core = MPIExchange(self.comm, capacity_out, capacity_in)
        self.timeout = timeout
        self._closed = False

    @property
    def exchange_core(self) -> MPIExchange:
        return self._core

    @property
    def timeout_s(self) -> float:
        return -1.0 if self.timeout is None else float(self.timeout)

    @property
    def window(self) -> int:
        return self._core.window

    def mailbox_addresses(self) -> tuple[np.ndarray, np.ndarray]:
        return self._core.addresses()

    def outbox(self, dest: int) -> np.ndarray:
        core = self._core
        return core.sendbuf[core.out_at[dest]:core.out_at[dest] + core.cap_out[dest]]

    def exchange(self, counts: np.ndarray) -> list[np.ndarray]:
        core = self._core
        in_counts = np.zeros(self.size, dtype=np.int64)
        core.exchange_counts(np.ascontiguousarray(counts, dtype=np.int64), self.timeout_s,
                             in_counts)
        views = []
        for s in range(self.size):
            view = core.recvbuf[core.in_at[s]:core.in_at[s] + in_counts[s]].view()
            view.flags.writeable = False
            views.append(view)
        return views

    def barrier(self, timeout: float | None = None) -> None:
        limit = self.timeout if timeout is None else timeout
        wait_requests([self.comm.Ibarrier()], -1.0 if limit is None else limit,
                      "the other ranks at a barrier")

    def abort(self, code: int = ABORT_PARENT) -> None:
        """Tell the other ranks this one failed (see :meth:`MPIExchange.fail`)."""
        self._core.fail()

    def progress(self) -> None:
        """See :meth:`MPIExchange.progress`."""
        self._core.progress()

    def traffic(self) -> dict[str, np.ndarray]:
        """Messages and bytes sent to and received from each rank so far."""
        core = self._core
        sent, received = core.traffic_bytes()
        return {"sent_messages": core.sent_messages.copy(), "sent_bytes": sent,
                "received_messages": core.received_messages.copy(), "received_bytes": received,
                "windows": core.window}

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                self.comm.Free()
            except Exception:   # a communicator with pending requests after a failure
                pass
