"""The shared-memory spin barrier and message transport of the multi-core runtime, with real
processes started by multiprocessing's "fork" context."""

from __future__ import annotations

import mmap
import multiprocessing as mp
import os
import queue
import signal
import subprocess
import sys
import textwrap
import time
from multiprocessing.connection import wait as wait_any

import numpy as np
import pytest

from nmgraph.runtimes import _sync
from nmgraph.runtimes.transport import (
    ABORT_PARENT,
    ABORT_TIMEOUT,
    BarrierAborted,
    BarrierTimeout,
    InProcessTransport,
    SharedMemoryTransport,
    SpinBarrier,
    Transport,
)

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or "fork" not in mp.get_all_start_methods(),
    reason="the multi-core runtime forks its workers (Linux)",
)

CTX = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
PREFIX = f"nmgtest{os.getpid()}"


def shm_entries() -> set[str]:
    # Only this test process's segments: other programs on the machine may use /dev/shm meanwhile.
    return {e for e in os.listdir("/dev/shm") if e.startswith(PREFIX)}


@pytest.fixture
def no_leak():
    before = shm_entries()
    yield
    assert shm_entries() == before, "shared-memory segments left in /dev/shm"


def _child(target, rank, q, args):
    try:
        q.put((rank, "ok", target(rank, *args)))
    except BaseException as e:
        q.put((rank, "error", e))


def run_ranks(target, n, *args, timeout=30.0, abort=None):
    """Run ``target(rank, *args)`` in ``n`` forked children; returns {rank: (status, value)}."""
    q = CTX.Queue()
    procs = [CTX.Process(target=_child, args=(target, r, q, args)) for r in range(n)]
    for p in procs:
        p.start()
    results = {}
    deadline = time.monotonic() + timeout
    try:
        while len(results) < n:
            try:
                rank, status, value = q.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"ranks {sorted(set(range(n)) - set(results))} hung") from None
            results[rank] = (status, value)
    finally:
        if abort is not None and len(results) < n:
            abort()
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join()
    return results


def shared_zeros(n):
    """n int64 zeros in an anonymous MAP_SHARED mapping: shared with children forked later."""
    return np.frombuffer(mmap.mmap(-1, 8 * n), dtype=np.int64)


# ---- the barrier -------------------------------------------------------------------------------
ROUNDS = 2000


def _lockstep(rank, n, arr, board):
    b = SpinBarrier(arr, n, rank)
    for i in range(1, ROUNDS + 1):
        board[rank] = i
        b.wait(10)
        # every party must have written round i, and nobody may be in round i + 1 yet
        seen = board[:n].tolist()
        if seen != [i] * n:
            return f"round {i}: board {seen}"
        b.wait(10)
    return b.generation


@pytest.mark.parametrize("n", [2, 3, 4])
def test_barrier_lockstep(n):
    arr, board = shared_zeros(_sync.barrier_nslots(n)), shared_zeros(8)
    res = run_ranks(_lockstep, n, n, arr, board, abort=lambda: SpinBarrier(arr, n).abort())
    assert {r: res[r] for r in range(n)} == {r: ("ok", 2 * ROUNDS) for r in range(n)}
    assert board.tolist()[:n] == [ROUNDS] * n
    assert SpinBarrier(arr, n).generation == 2 * ROUNDS


def test_barrier_single_party_and_validation():
    arr = np.zeros(_sync.barrier_nslots(1), dtype=np.int64)
    b = SpinBarrier(arr, 1, 0)
    assert [b.wait(0) for _ in range(3)] == [1, 2, 3]
    with pytest.raises(ValueError):
        SpinBarrier(arr, 2)  # slots of a 1-party barrier (and too short)
    with pytest.raises(ValueError):
        SpinBarrier(np.zeros(_sync.barrier_nslots(3), dtype=np.int64)[:-1], 3)
    b.abort(7)
    with pytest.raises(BarrierAborted) as e:
        b.wait(0)
    assert e.value.code == 7
    b.reset()
    assert b.wait(0) == 4


def _wait_forever(rank, arr, n):
    b = SpinBarrier(arr, n, rank)
    try:
        b.wait()
    except BarrierAborted as e:
        return ("aborted", e.code, time.monotonic())
    return ("released", 0, time.monotonic())


def test_parent_abort_releases_waiters():
    n = 3
    arr = shared_zeros(_sync.barrier_nslots(n))
    b = SpinBarrier(arr, n)
    q = CTX.Queue()
    procs = [CTX.Process(target=_child, args=(_wait_forever, r, q, (arr, n))) for r in range(2)]
    for p in procs:
        p.start()
    try:
        deadline = time.monotonic() + 10
        while b.n_waiting < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert b.n_waiting == 2 and b.missing() == [2]
        time.sleep(0.3)  # let them reach the sleeping phase of the wait
        assert all(p.is_alive() for p in procs)
        t_abort = time.monotonic()
        b.abort()
        out = [q.get(timeout=5) for _ in procs]
        for p in procs:
            p.join(5)
        assert sorted(r for r, _, _ in out) == [0, 1]
        for _, status, (what, code, t_release) in out:
            assert (status, what, code) == ("ok", "aborted", ABORT_PARENT)
            assert t_release - t_abort < 1.0
        assert [p.exitcode for p in procs] == [0, 0]
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()


def _wait_with_timeout(rank, arr, n, timeout):
    b = SpinBarrier(arr, n, rank)
    t0 = time.monotonic()
    try:
        b.wait(timeout)
    except BarrierTimeout:
        return ("timeout", time.monotonic() - t0)
    except BarrierAborted as e:
        return (f"aborted {e.code}", time.monotonic() - t0)
    return ("released", time.monotonic() - t0)


def test_timeout_when_a_party_never_arrives():
    n = 3
    arr = shared_zeros(_sync.barrier_nslots(n))
    res = run_ranks(_wait_with_timeout, 2, arr, n, 0.3)  # rank 2 never comes
    assert all(s == "ok" for s, _ in res.values()), res
    kinds = sorted(v[0] for _, v in res.values())
    # the first to time out breaks the barrier; the other times out too or sees the break
    assert kinds[-1] == "timeout" and set(kinds) <= {"timeout", f"aborted {ABORT_TIMEOUT}"}
    assert all(0.29 <= v[1] < 3.0 for _, v in res.values() if v[0] == "timeout")
    assert all(v[1] < 3.0 for _, v in res.values())
    b = SpinBarrier(arr, n)
    assert b.aborted == ABORT_TIMEOUT and b.missing() == [2]
    with pytest.raises(BarrierAborted):  # broken: fails fast until reset()
        b.wait(5)


def _wait_until_interrupted(rank, arr, n):
    b = SpinBarrier(arr, n, rank)
    try:
        b.wait(20)
    except KeyboardInterrupt:
        return ("interrupted", b.aborted, time.monotonic())
    return ("no interrupt", b.aborted, time.monotonic())


def test_ctrl_c_in_a_waiting_worker_interrupts_and_breaks_the_barrier():
    n = 2
    arr = shared_zeros(_sync.barrier_nslots(n))
    b = SpinBarrier(arr, n)
    q = CTX.Queue()
    proc = CTX.Process(target=_child, args=(_wait_until_interrupted, 0, q, (arr, n)))
    proc.start()
    try:
        deadline = time.monotonic() + 10
        while b.n_waiting < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # asleep in futex_wait by now
        t_sig = time.monotonic()
        os.kill(proc.pid, signal.SIGINT)
        rank, status, (what, code, t_out) = q.get(timeout=10)
        assert (rank, status, what, code) == (0, "ok", "interrupted", _sync.ABORT_INTERRUPT)
        assert t_out - t_sig < 1.0
        assert b.aborted == _sync.ABORT_INTERRUPT
    finally:
        proc.join(5)
        if proc.is_alive():
            proc.kill()
            proc.join()


# ---- the transport -----------------------------------------------------------------------------
WINDOWS = 100


def _messages(seed, src, dst, window, cap):
    rng = np.random.default_rng([seed, src, dst, window])
    k = int(rng.integers(0, cap + 1))
    if rng.random() < 0.1:
        k = cap  # full windows happen
    return rng.integers(-(2**63), 2**63 - 1, k, dtype=np.int64, endpoint=True)


def _exchange_worker(rank, base, seed):
    t = base.for_rank(rank)
    n, cap = t.size, t.capacity
    counts = np.zeros(n, dtype=np.int64)
    rng = np.random.default_rng([seed, rank, 99])
    received = 0
    for w in range(WINDOWS):
        for d in range(n):
            if d == rank:
                continue
            msg = _messages(seed, rank, d, w, int(cap[rank, d]))
            t.outbox(d)[: len(msg)] = msg
            counts[d] = len(msg)
        inbox = t.exchange(counts)
        if rng.random() < 0.2:
            time.sleep(0.002)  # others race ahead into the next window meanwhile
        assert len(inbox) == n and len(inbox[rank]) == 0
        for s in range(n):
            if s == rank:
                continue
            want = _messages(seed, s, rank, w, int(cap[s, rank]))
            got = inbox[s]
            if sorted(got.tolist()) != sorted(want.tolist()):
                return f"window {w}: from {s} got {len(got)} messages, want {len(want)}"
            assert np.array_equal(got, want)  # order is kept, too
            received += len(got)
    t.close()
    return received


@pytest.mark.parametrize("n", [2, 3, 4])
def test_exchange_delivers_exactly_what_was_sent(n, no_leak):
    seed = 1000 + n
    cap = np.random.default_rng(seed).integers(0, 300, (n, n))
    cap[0, n - 1] = 0  # a pair that never talks
    t = SharedMemoryTransport.create(n, cap, PREFIX, timeout=20)
    try:
        assert shm_entries() >= set(t.names)
        res = run_ranks(_exchange_worker, n, t, seed, abort=t.abort)
        assert all(s == "ok" for s, _ in res.values()), res
        want = {
            r: sum(
                len(_messages(seed, s, r, w, int(t.capacity[s, r])))
                for s in range(n)
                if s != r
                for w in range(WINDOWS)
            )
            for r in range(n)
        }
        assert {r: v for r, (_, v) in res.items()} == want
        assert t.barrier_object.generation == WINDOWS
    finally:
        t.unlink()
    assert not shm_entries() & set(t.names)


def _overflow_worker(rank, base):
    t = base.for_rank(rank)
    try:
        t.exchange(np.array([0, 11]) if rank == 0 else np.array([0, 0]))
    except OverflowError:
        return "overflow"
    except BarrierAborted as e:
        return f"aborted {e.code}"
    return "no error"


def test_overflow_raises_and_releases_the_others(no_leak):
    t = SharedMemoryTransport.create(2, 10, PREFIX, timeout=10)
    try:
        res = run_ranks(_overflow_worker, 2, t)
        assert res == {0: ("ok", "overflow"), 1: ("ok", f"aborted {_sync.ABORT_OVERFLOW}")}
    finally:
        t.unlink()


def _child_tries_to_unlink(rank, base):
    base.unlink()
    base.close()
    return os.path.exists(f"/dev/shm/{base.names[0]}")


def test_children_never_unlink(no_leak):
    t = SharedMemoryTransport.create(2, 4, PREFIX)
    try:
        res = run_ranks(_child_tries_to_unlink, 1, t)
        assert res == {0: ("ok", True)}
        assert shm_entries() == set(t.names)
    finally:
        t.close()
    assert not shm_entries() & set(t.names)
    t.unlink()  # idempotent


def _exchange_until_aborted(rank, base):
    t = base.for_rank(rank)
    counts = np.zeros(t.size, dtype=np.int64)
    w = 0
    try:
        while True:
            t.exchange(counts)
            w += 1
            if rank == 2 and w == 50:
                os.kill(os.getpid(), signal.SIGKILL)
    except BarrierAborted as e:
        return (e.code, time.monotonic())


def test_sigkilled_worker_parent_aborts_and_cleans_up(no_leak):
    n = 3
    t = SharedMemoryTransport.create(n, 8, PREFIX)
    q = CTX.Queue()
    procs = [CTX.Process(target=_child, args=(_exchange_until_aborted, r, q, (t,))) for r in range(n)]
    try:
        for p in procs:
            p.start()
        # the supervisor: wait for any worker to end
        ended = wait_any([p.sentinel for p in procs], timeout=20)
        assert ended == [procs[2].sentinel]
        procs[2].join()
        assert procs[2].exitcode == -signal.SIGKILL
        time.sleep(0.05)
        assert t.barrier_object.missing() == [2]  # the others are stuck in the barrier
        t_abort = time.monotonic()
        t.abort()
        out = sorted(q.get(timeout=5) for _ in range(2))
        assert [(r, s, v[0]) for r, s, v in out] == [(0, "ok", ABORT_PARENT), (1, "ok", ABORT_PARENT)]
        assert all(v[1] - t_abort < 1.0 for _, _, v in out)
        for p in procs:
            p.join(5)
        assert [p.exitcode for p in procs] == [0, 0, -signal.SIGKILL]
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()
        t.unlink()
    assert not shm_entries() & set(t.names)


SCRIPT = """
import multiprocessing as mp, sys, types
import numpy as np

# import the transport without the rest of nmgraph (faster start-up)
for name, path in (("nmgraph", []), ("nmgraph.runtimes", [sys.argv[2]])):
    sys.modules[name] = types.ModuleType(name)
    sys.modules[name].__path__ = path
from nmgraph.runtimes.transport import SharedMemoryTransport

def work(base, rank):
    t = base.for_rank(rank)
    c = np.zeros(2, dtype=np.int64)
    for _ in range(20):
        c[1 - rank] = 1
        t.outbox(1 - rank)[0] = rank
        assert t.exchange(c)[1 - rank].tolist() == [1 - rank]
    t.close()
    base.close()  # a child closing the parent's object must not unlink it

for how in ("unlink", "atexit"):
    t = SharedMemoryTransport.create(2, 4, sys.argv[1] + how)
    ps = [mp.get_context("fork").Process(target=work, args=(t, r)) for r in range(2)]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    assert [p.exitcode for p in ps] == [0, 0]
    print(t.names[0])
    if how == "unlink":
        t.unlink()
"""


def test_no_resource_tracker_warnings(no_leak):
    # one interpreter, two segments: one unlinked explicitly, one left to the atexit hook
    prefix = f"{PREFIX}s"
    before = set(os.listdir("/dev/shm"))
    r = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SCRIPT), prefix, os.path.dirname(_sync.__file__)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    names = r.stdout.split()
    assert [n[: len(prefix) + 6] for n in names] == [f"{prefix}unlink", f"{prefix}atexit"]
    assert r.stderr == ""  # no "leaked shared_memory objects", no tracker KeyError
    new = set(os.listdir("/dev/shm")) - before
    assert not {e for e in new if e.startswith(prefix)}


def test_in_process_transport():
    t = InProcessTransport()
    assert isinstance(t, Transport)
    assert (t.rank, t.size) == (0, 1)
    assert len(t.outbox(0)) == 0
    inbox = t.exchange(np.zeros(1, dtype=np.int64))
    assert len(inbox) == 1 and len(inbox[0]) == 0
    t.barrier(1.0)
    t.close()
    with pytest.raises(ValueError):
        t.exchange(np.ones(1, dtype=np.int64))


def test_shared_memory_transport_protocol(no_leak):
    t = SharedMemoryTransport.create(3, np.arange(9).reshape(3, 3), PREFIX)
    try:
        assert isinstance(t, Transport)
        r1 = t.for_rank(1)
        assert isinstance(r1, Transport) and (r1.rank, r1.size) == (1, 3)
        assert [len(r1.outbox(d)) for d in range(3)] == [3, 0, 5]
        assert t.capacity.tolist() == [[0, 1, 2], [3, 0, 5], [6, 7, 0]]
        with pytest.raises(RuntimeError):
            t.exchange(np.zeros(3, dtype=np.int64))  # the creator is no party
        with pytest.raises(IndexError):
            t.for_rank(3)
    finally:
        t.close()
