"""Message exchange between the worker processes of the multi-core runtime.

The worker loop only sees the :class:`Transport` protocol. Its exchange runs inside the Cython
kernel (``WorkerKernel.run_windows``), which needs three things of a transport: the addresses of
this rank's mailboxes (``mailbox_addresses``: where to write the messages for each destination,
where to read those from each source, by window parity), an exchange object (``exchange_core``:
``window``, the number of exchanges done, and ``exchange_counts(counts, timeout_s, in_counts)``,
which ends a window, synchronises the ranks and returns the parity whose inboxes to read) and the
timeout of a wait (``timeout_s``). Every transport provides them, so every transport runs the same
worker loop; ``outbox``/``exchange`` do the same from Python (tests, diagnostics).

* :class:`InProcessTransport`: one worker, no shared memory, no synchronisation (its exchange only
  counts windows).
* :class:`SharedMemoryTransport`: N workers forked from the parent. Created once in the parent
  (``create``), which maps one POSIX shared-memory segment holding the barrier slots, the message
  counts and the mailboxes; after ``fork`` each child calls ``for_rank(rank)`` (no new mapping).
  The parent never takes part in the barrier; it supervises and may ``abort()``; it alone
  ``unlink()``s.
* ``transport_mpi.MPITransport``: one MPI rank's view (mailboxes in the rank's own memory, MPI
  copies between them; see that module).

Segment layout (int64 slots; every block starts on a 64-byte cache line)::

    [0, B)                        barrier slots, B = barrier_nslots(n) = 16 + 8 n (see _sync.pyx)
    [C0 + ((p*n + s) * R) + d]    count[p, s, d]: messages s wrote for d in the last window of
                                  parity p; written by s only; R = n rounded up to 8 (each
                                  writer's row on its own cache line(s))
    [off[p, s, d], + cap[s, d])   mailbox[p, s, d], for s != d and cap[s, d] > 0

Double buffering by window parity. Windows are numbered k = 0, 1, 2, ... per rank (one
``exchange`` ends one window). In window k every rank writes its outgoing messages into the
mailboxes of parity p = k % 2 and, in ``exchange``, their counts; the barrier at the end of window
k makes all of that visible (see the memory-ordering note in _sync.pyx), then each rank reads its
inboxes of parity p while already writing window k + 1 into parity 1 - p. Why this is safe with one
barrier per window: a mailbox of parity p is written again only in window k + 2, i.e. after its
writer has passed barrier k + 1; that barrier completes only when the reader has arrived at it,
and the reader arrives only by calling ``exchange`` again, which by contract it does only after it
finished with the inbox views of window k (they are "valid until the next exchange"). Readers and
writers of the same mailbox are therefore always separated by one barrier; counts are double
buffered the same way. Contract for the loop: do not keep inbox views (or anything pointing into
them) across the next ``exchange`` call, and never write more than ``capacity[rank, dest]``
messages into ``outbox(dest)`` (the arrays have exactly that length; a Cython kernel with
boundscheck off must check it: ``exchange`` raises on a count above capacity, too late to prevent
a write overflow).

Lifetime and the resource tracker (Python 3.10-3.12 ``multiprocessing.shared_memory``):
``SharedMemory(create=True)`` registers the name with the resource tracker process, and
``unlink()`` unregisters it. Forked children inherit the parent's tracker connection, so the
segment is registered exactly once and must be unlinked exactly once, by the parent: a child that
unlinks would unregister it too, and the parent's later unlink would fail (FileNotFoundError, and a
KeyError traceback from the tracker). Children also must not attach by name
(``SharedMemory(name=...)`` registers again) - they use the mapping inherited through fork. This
module creates the tracker before any fork (``resource_tracker.ensure_running()``, cpython
bpo-36867), guards ``unlink``/``atexit`` with the creator's pid (so a child that runs atexit
handlers, e.g. after a bare ``os.fork`` + ``sys.exit``, does nothing), and never lets a child close
the segment. If the parent is SIGKILLed, the tracker unlinks the leaked segment once the last
process holding its pipe (parent and children) has exited, with a "leaked shared_memory objects"
warning.
"""

from __future__ import annotations

import atexit
import os
import secrets
from multiprocessing import resource_tracker, shared_memory
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ._sync import (
    ABORT_INTERRUPT,
    ABORT_OVERFLOW,
    ABORT_PARENT,
    ABORT_TIMEOUT,
    BarrierAborted,
    BarrierError,
    BarrierTimeout,
    ExchangeCore,
    SpinBarrier,
    barrier_nslots,
)

__all__ = [
    "ABORT_INTERRUPT",
    "ABORT_OVERFLOW",
    "ABORT_PARENT",
    "ABORT_TIMEOUT",
    "BarrierAborted",
    "BarrierError",
    "BarrierTimeout",
    "InProcessTransport",
    "SharedMemoryTransport",
    "SpinBarrier",
    "Transport",
    "barrier_nslots",
    "reclaim_stale_segments",
]

_LINE = 8  # int64 slots per 64-byte cache line
_EMPTY = np.zeros(0, dtype=np.int64)
_EMPTY.flags.writeable = False


def _round_up(x: int, m: int = _LINE) -> int:
    return -(-x // m) * m


@runtime_checkable
class Transport(Protocol):
    """What the worker loop needs from the exchange between ranks."""

    rank: int
    size: int

    def outbox(self, dest: int) -> np.ndarray:
        """int64 buffer this rank writes messages for ``dest`` into, in the current window
        (capacity fixed at creation; may change between windows: fetch it after each exchange)."""
        ...

    def exchange(self, counts: np.ndarray) -> list[np.ndarray]:
        """End the window: ``counts[dest]`` messages were written in ``outbox(dest)``. Synchronises
        all ranks and returns per source the messages it wrote for this rank in that window
        (read-only views, valid until the next ``exchange``)."""
        ...

    def barrier(self, timeout: float | None = None) -> None:
        """Synchronise all ranks without exchanging."""
        ...

    def close(self) -> None:
        """Release this rank's resources (never the shared ones of other ranks)."""
        ...

    def mailbox_addresses(self) -> tuple[np.ndarray, np.ndarray]:
        """int64 ``(2, size)`` addresses of this rank's outboxes and inboxes by window parity."""
        ...

    @property
    def exchange_core(self) -> Any:
        """The exchange the kernel calls at the end of each window (``window``,
        ``exchange_counts``)."""
        ...

    @property
    def timeout_s(self) -> float:
        """Longest wait of an exchange in seconds, -1.0 for none."""
        ...

    def abort(self, code: int = ABORT_PARENT) -> None:
        """Release every rank waiting in an exchange with ``BarrierAborted(code)``."""
        ...


class LocalExchange:
    """The exchange of a single rank: nothing to send or wait for; it counts windows."""

    def __init__(self) -> None:
        self.window = 0

    def exchange_counts(self, counts: np.ndarray, timeout: float, in_counts: np.ndarray) -> int:
        if counts.shape != (1,) or counts[0] != 0:
            raise ValueError("a single rank sends no messages (it delivers to itself in place)")
        in_counts[:] = 0
        parity = self.window & 1
        self.window += 1
        return parity


class InProcessTransport:
    """A single worker: nothing to exchange, nothing to wait for."""

    timeout_s = -1.0

    def __init__(self) -> None:
        self.rank = 0
        self.size = 1
        self._inbox = [_EMPTY]
        self.exchange_core = LocalExchange()

    def mailbox_addresses(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros((2, 1), dtype=np.int64), np.zeros((2, 1), dtype=np.int64)

    def outbox(self, dest: int) -> np.ndarray:
        if dest != 0:
            raise IndexError(f"rank {dest} out of range for 1 rank")
        return _EMPTY

    def exchange(self, counts: np.ndarray) -> list[np.ndarray]:
        if len(counts) != 1 or counts[0] != 0:
            raise ValueError("InProcessTransport carries no messages (deliver to self in place)")
        return self._inbox

    def barrier(self, timeout: float | None = None) -> None:
        return None

    def abort(self, code: int = ABORT_PARENT) -> None:
        return None

    def close(self) -> None:
        return None


# Transports created in this process and not yet unlinked (strong references: a segment lives
# until unlink() or exit). The atexit hook unlinks them; unlink() itself ignores other pids.
_LIVE: dict[int, SharedMemoryTransport] = {}


@atexit.register
def _unlink_all_at_exit() -> None:
    for t in list(_LIVE.values()):
        t.unlink()


def reclaim_stale_segments(prefix: str, folder: str = "/dev/shm") -> list[str]:
    """Unlink the segments ``<prefix>_<pid>_<token>`` whose creating process no longer exists
    (a process group killed with SIGKILL leaves them behind); returns their names."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    removed = []
    for name in names:
        parts = name.split("_")
        if len(parts) != 3 or parts[0] != prefix or not parts[1].isdigit():
            continue
        try:
            os.kill(int(parts[1]), 0)
            continue                      # the owner is alive
        except ProcessLookupError:
            pass
        except (PermissionError, OverflowError):
            continue
        try:
            os.unlink(os.path.join(folder, name))
            removed.append(name)
        except OSError:
            pass
    return removed


class SharedMemoryTransport:
    """Mailboxes and a spin barrier in one shared-memory segment, for ranks forked from the
    creator. ``create`` in the parent (the returned object has ``rank = -1``: it is no party);
    ``for_rank(r)`` in child ``r`` after the fork. See the module docstring for the layout, the
    double-buffering argument and the rules about unlinking."""

    rank: int
    size: int

    def __init__(self) -> None:  # use create() / for_rank()
        raise TypeError("use SharedMemoryTransport.create(...) and .for_rank(rank)")

    # ---- construction ----------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        n_workers: int,
        capacity: np.ndarray | int,
        name_prefix: str = "nmg",
        timeout: float | None = None,
    ) -> SharedMemoryTransport:
        """Create the segment. ``capacity[src, dst]``: maximum messages ``src`` sends ``dst`` per
        window (a scalar applies to every pair; the diagonal is ignored: a rank delivers to
        itself in place). ``timeout``: default barrier timeout of ``exchange``/``barrier`` in
        seconds (None: wait until released or aborted; the parent supervises and aborts)."""
        n = int(n_workers)
        if n < 1:
            raise ValueError("n_workers must be >= 1")
        cap = np.array(np.broadcast_to(np.asarray(capacity, dtype=np.int64), (n, n)))
        if (cap < 0).any():
            raise ValueError("capacity must be >= 0")
        np.fill_diagonal(cap, 0)

        nb = barrier_nslots(n)
        row = _round_up(n)
        c0 = _round_up(nb)
        pos = c0 + 2 * n * row
        offsets = np.zeros((2, n, n), dtype=np.int64)
        for p in range(2):
            for s in range(n):
                for d in range(n):
                    offsets[p, s, d] = pos
                    pos += _round_up(int(cap[s, d]))
        total = pos

        reclaim_stale_segments(name_prefix)
        resource_tracker.ensure_running()  # before any fork: children share it (bpo-36867)
        name = f"{name_prefix}_{os.getpid()}_{secrets.token_hex(4)}"
        shm = shared_memory.SharedMemory(name=name, create=True, size=8 * total)

        self = object.__new__(cls)
        self.rank = -1
        self.size = n
        self.timeout = timeout
        self._shm = shm
        self._names = [shm.name]
        self._creator_pid = os.getpid()
        self._owner = True
        self._unlinked = False
        self._cap = cap
        self._cap.flags.writeable = False
        self._layout = (nb, c0, row, offsets)
        self._slots = np.ndarray(total, dtype=np.int64, buffer=shm.buf)
        self._barrier = SpinBarrier(self._slots[:nb], n)
        self._bind()
        _LIVE[id(self)] = self
        return self

    def for_rank(self, rank: int) -> SharedMemoryTransport:
        """This rank's view (call in the child after fork; also works in the creator)."""
        if not 0 <= rank < self.size:
            raise IndexError(f"rank {rank} out of range for {self.size} ranks")
        if self._slots is None:
            raise RuntimeError("transport is closed")
        t = object.__new__(type(self))
        t.__dict__.update(self.__dict__)
        t.rank = rank
        t._owner = False
        t._barrier = self._barrier.for_rank(rank)
        t._bind()
        return t

    def _bind(self) -> None:
        _, c0, row, off = self._layout
        n, r, sl = self.size, self.rank, self._slots
        cnt = sl[c0 : c0 + 2 * n * row].reshape(2, n, row)
        self._counts = cnt
        if r < 0:
            self._core = None   # the creator takes no part in the exchange
            return
        self._out = [[sl[off[p, r, d] : off[p, r, d] + self._cap[r, d]] for d in range(n)] for p in range(2)]
        inb = []
        for p in range(2):
            row_in = []
            for s in range(n):
                v = sl[off[p, s, r] : off[p, s, r] + self._cap[s, r]].view()
                v.flags.writeable = False
                row_in.append(v)
            inb.append(row_in)
        self._core = ExchangeCore(self._barrier, cnt, r, self._cap[r].copy(), inb)

    # ---- the Transport protocol ------------------------------------------------------------------
    @property
    def capacity(self) -> np.ndarray:
        """``capacity[src, dst]`` (read-only; zero on the diagonal)."""
        return self._cap

    @property
    def names(self) -> list[str]:
        """Names of the shared-memory segments (under /dev/shm on Linux)."""
        return list(self._names)

    def outbox(self, dest: int) -> np.ndarray:
        if self.rank < 0:
            raise RuntimeError("the creator's transport is no party; use for_rank(rank)")
        return self._out[self._core.window & 1][dest]

    def exchange(self, counts: np.ndarray) -> list[np.ndarray]:
        """See :class:`Transport`. ``counts``: int64 array of ``size`` entries (other integer
        sequences are converted, slower). Raises ``OverflowError`` (and aborts the barrier, so
        the other ranks get ``BarrierAborted(ABORT_OVERFLOW)``) if a count exceeds the capacity
        or is non-zero for this rank itself; ``BarrierAborted``/``BarrierTimeout`` from the
        barrier."""
        if self.rank < 0:
            raise RuntimeError("the creator's transport is no party; use for_rank(rank)")
        try:
            return self._core.exchange(counts, self._timeout_s)
        except TypeError as e:
            if isinstance(counts, np.ndarray) and counts.dtype == np.int64 and counts.ndim == 1:
                raise
            try:
                c = np.ascontiguousarray(counts, dtype=np.int64)
            except (TypeError, ValueError):
                self.abort(ABORT_OVERFLOW)
                raise e from None
            return self._core.exchange(c, self._timeout_s)

    def mailbox_addresses(self) -> tuple[np.ndarray, np.ndarray]:
        """int64 ``(2, size)`` addresses of this rank's outboxes (to each destination) and inboxes
        (from each source) by window parity, 0 where a mailbox has no capacity: for a kernel that
        runs windows and exchanges without Python in between (``WorkerKernel.run_windows``, with
        :attr:`exchange_core`). Valid while the segment is mapped."""
        if self.rank < 0:
            raise RuntimeError("the creator's transport is no party; use for_rank(rank)")
        out = np.array([[box.ctypes.data if box.size else 0 for box in boxes]
                        for boxes in self._out], dtype=np.int64)
        return out, self._core.inbox_addresses()

    @property
    def exchange_core(self):
        """The per-rank ``ExchangeCore`` (``exchange_counts``, ``window``): see
        :meth:`mailbox_addresses`."""
        return self._core

    @property
    def timeout_s(self) -> float:
        """:attr:`timeout` in seconds, -1.0 for none (as the Cython layer takes it)."""
        return self._timeout_s

    @property
    def timeout(self) -> float | None:
        """Default barrier timeout of ``exchange``/``barrier`` (None: none)."""
        return self._timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self._timeout = value
        self._timeout_s = -1.0 if value is None else float(value)

    @property
    def window(self) -> int:
        """Number of exchanges this rank has completed."""
        return self._core.window if self.rank >= 0 else 0

    def barrier(self, timeout: float | None = None) -> None:
        self._wait(self.timeout if timeout is None else timeout)

    def _wait(self, timeout: float | None) -> None:
        if self.rank < 0:
            raise RuntimeError("the creator's transport is no party; use for_rank(rank)")
        self._barrier.wait(timeout)

    # ---- supervision -----------------------------------------------------------------------------
    def abort(self, code: int = ABORT_PARENT) -> None:
        """Release every rank waiting (now or later) with ``BarrierAborted(code)``. From any
        process; the first code set wins."""
        if self._slots is not None:
            self._barrier.abort(code)

    @property
    def aborted(self) -> int:
        """Abort code, 0 if healthy."""
        return self._barrier.aborted if self._slots is not None else 0

    @property
    def barrier_object(self) -> SpinBarrier:
        """The underlying SpinBarrier (diagnostics: ``generation``, ``missing()``, ``reset()``)."""
        return self._barrier

    def close(self) -> None:
        """In a rank: drop this rank's views (the segment stays mapped until the process exits).
        In the creator: ``unlink()`` and unmap."""
        if self._owner and os.getpid() == self._creator_pid:
            self.unlink()
        self._drop_views()

    def _drop_views(self) -> None:
        self._out = self._core = self._counts = None

    def unlink(self) -> None:
        """Remove the segment names (creator process only; a no-op elsewhere and when repeated),
        then try to unmap. Unmapping fails quietly while inbox/outbox views are still referenced
        somewhere; the mapping then goes with the last reference or the process."""
        if os.getpid() != self._creator_pid or not self._owner or self._unlinked:
            return
        self._unlinked = True
        _LIVE.pop(id(self), None)
        try:
            self._shm.unlink()
        except FileNotFoundError:
            pass
        self._drop_views()
        self._slots = None
        self._barrier = None
        shm = self._shm
        try:
            shm.close()
        except BufferError:
            # Views handed out earlier still export the buffer: let them keep the mapping alive
            # (it is unmapped with the last of them) instead of failing later in __del__.
            shm._buf = shm._mmap = None
            if shm._fd >= 0:
                os.close(shm._fd)
                shm._fd = -1

    def __enter__(self) -> SharedMemoryTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __reduce__(self):
        raise TypeError("SharedMemoryTransport is inherited through fork, not pickled")
