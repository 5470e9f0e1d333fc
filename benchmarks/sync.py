"""Cost of synchronisation and message exchange between forked workers (runtimes/_sync.pyx,
runtimes/transport.py) against multiprocessing.Barrier.

    python benchmarks/sync.py [--workers 2] [--barriers 20000] [--windows 10000]
                              [--messages 1000] [--pin]

Per case it prints, per barrier / window in microseconds: the median, 90th and 99th percentile of
the per-call times measured inside the workers (of the barrier wait, or of the ``exchange`` call),
and the mean of the whole loop (wall time / iterations, including writing and reading the
messages: the figure that bounds windows per second). Each column is the slowest worker's. Cases:

* ``spin barrier``: ``SpinBarrier.wait_status`` in a tight loop;
* ``exchange, 0 msgs``: ``SharedMemoryTransport.exchange`` with nothing to send: the per-step
  synchronisation cost of an empty network when the window is one step;
* ``exchange, M msgs``: every worker writes M int64 messages to every other worker per window
  (copied into the outbox) and sums its inboxes after the exchange;
* the same three with ``multiprocessing.Barrier`` (semaphores and a condition variable) and the
  same double-buffered mailboxes in an anonymous shared mapping.
"""

from __future__ import annotations

import argparse
import mmap
import multiprocessing as mp
import os
import time

import numpy as np

from nmgraph.runtimes import _sync
from nmgraph.runtimes.transport import SharedMemoryTransport, SpinBarrier

CTX = mp.get_context("fork")


def _stats(per_call_ns: np.ndarray, wall_s: float, iters: int) -> tuple[float, ...]:
    med, p90, p99 = np.percentile(per_call_ns, [50, 90, 99]) / 1e3
    return (float(med), float(p90), float(p99), wall_s / iters * 1e6)


def _pin(rank: int, pin: bool) -> None:
    if pin:
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpus[rank % len(cpus)]})


def _run(target, n: int, *args) -> list:
    q = CTX.Queue()
    procs = [CTX.Process(target=lambda r=r: q.put((r, target(r, *args)))) for r in range(n)]
    for p in procs:
        p.start()
    out = dict(q.get(timeout=600) for _ in procs)
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise RuntimeError(f"worker exited with {p.exitcode}")
    return [out[r] for r in range(n)]


# ---- barriers ------------------------------------------------------------------------------------
def _spin_barrier_worker(rank, slots, n, iters, pin):
    _pin(rank, pin)
    b = SpinBarrier(slots, n, rank)
    for _ in range(200):  # warm up
        b.wait_status(60.0)
    t = np.empty(iters, dtype=np.int64)
    clock = time.perf_counter_ns
    w0 = time.perf_counter()
    for i in range(iters):
        t0 = clock()
        if b.wait_status(60.0) != 0:
            raise RuntimeError("barrier failed")
        t[i] = clock() - t0
    return _stats(t, time.perf_counter() - w0, iters)


def _mp_barrier_worker(rank, barrier, iters, pin):
    _pin(rank, pin)
    for _ in range(200):
        barrier.wait(60.0)
    t = np.empty(iters, dtype=np.int64)
    clock = time.perf_counter_ns
    w0 = time.perf_counter()
    for i in range(iters):
        t0 = clock()
        barrier.wait(60.0)
        t[i] = clock() - t0
    return _stats(t, time.perf_counter() - w0, iters)


# ---- exchange ------------------------------------------------------------------------------------
def _messages(rank: int, n: int, m: int) -> list[np.ndarray]:
    rng = np.random.default_rng(rank)
    return [rng.integers(0, 2**40, m, dtype=np.int64) if d != rank else None for d in range(n)]


def _transport_worker(rank, base, m, iters, pin):
    _pin(rank, pin)
    t = base.for_rank(rank)
    n = t.size
    msgs = _messages(rank, n, m)
    counts = np.full(n, m, dtype=np.int64)
    counts[rank] = 0
    times = np.empty(iters, dtype=np.int64)
    clock = time.perf_counter_ns
    total = 0
    w0 = 0.0
    for i in range(-200, iters):
        if i == 0:
            w0 = time.perf_counter()
        if m:
            for d in range(n):
                if d != rank:
                    t.outbox(d)[:m] = msgs[d]
        t0 = clock()
        inbox = t.exchange(counts)
        t1 = clock()
        if m:
            for s in range(n):
                if s != rank:
                    total += int(inbox[s].sum())
        if i >= 0:
            times[i] = t1 - t0
    wall = time.perf_counter() - w0
    t.close()
    return _stats(times, wall, iters)


def _mp_exchange_worker(rank, n, barrier, counts, boxes, m, iters, pin):
    """Same double-buffered mailboxes as SharedMemoryTransport, synchronised by mp.Barrier.
    counts[p, s, d]; boxes[p, s, d, :m]."""
    _pin(rank, pin)
    msgs = _messages(rank, n, m)
    times = np.empty(iters, dtype=np.int64)
    clock = time.perf_counter_ns
    total = 0
    w0 = 0.0
    for i in range(-200, iters):
        if i == 0:
            w0 = time.perf_counter()
        p = i & 1
        if m:
            for d in range(n):
                if d != rank:
                    boxes[p, rank, d, :m] = msgs[d]
        t0 = clock()
        counts[p, rank, :] = m
        barrier.wait(60.0)
        cin = counts[p, :, rank].tolist()
        inbox = [boxes[p, s, rank, : cin[s]] for s in range(n)]
        t1 = clock()
        if m:
            for s in range(n):
                if s != rank:
                    total += int(inbox[s].sum())
        if i >= 0:
            times[i] = t1 - t0
    return _stats(times, time.perf_counter() - w0, iters)


def _shared(shape) -> np.ndarray:
    size = int(np.prod(shape)) * 8
    return np.frombuffer(mmap.mmap(-1, max(size, 8)), dtype=np.int64)[: int(np.prod(shape))].reshape(shape)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--barriers", type=int, default=20000)
    ap.add_argument("--windows", type=int, default=10000)
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--pin", action="store_true", help="pin worker r to CPU r")
    a = ap.parse_args()
    n, m = a.workers, a.messages
    print(f"{n} workers, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, pin={a.pin}")
    print(f"{'case':38s}" + "".join(f" {h:>10s}" for h in ("median us", "p90 us", "p99 us", "mean us")))

    def show(name, per_rank):
        # the slowest rank's figure of each column (a window ends when the last rank is through)
        cols = [max(r[i] for r in per_rank) for i in range(4)]
        print(f"{name:38s}" + "".join(f" {c:10.2f}" for c in cols))

    slots = _shared((_sync.barrier_nslots(n),))
    show(f"spin barrier ({a.barriers} waits)", _run(_spin_barrier_worker, n, slots, n, a.barriers, a.pin))

    t = SharedMemoryTransport.create(n, m, "nmgbench")
    try:
        show(f"exchange, 0 msgs ({a.windows} windows)", _run(_transport_worker, n, t, 0, a.windows, a.pin))
        show(f"exchange, {m} msgs each way", _run(_transport_worker, n, t, m, a.windows, a.pin))
    finally:
        t.unlink()

    barrier = CTX.Barrier(n)
    mp_iters = min(a.barriers, 20000)
    show(f"multiprocessing.Barrier ({mp_iters} waits)", _run(_mp_barrier_worker, n, barrier, mp_iters, a.pin))
    counts = _shared((2, n, n))
    boxes = _shared((2, n, n, max(m, 1)))
    show(
        "mp.Barrier exchange, 0 msgs",
        _run(_mp_exchange_worker, n, n, CTX.Barrier(n), counts, boxes, 0, a.windows, a.pin),
    )
    show(
        f"mp.Barrier exchange, {m} msgs each way",
        _run(_mp_exchange_worker, n, n, CTX.Barrier(n), counts, boxes, m, a.windows, a.pin),
    )


if __name__ == "__main__":
    main()
