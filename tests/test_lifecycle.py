"""Lifecycle of the multi-core runtime: a Runtime made in a thread that ends keeps its workers;
a Runtime dropped without close() is reaped; Ctrl-C during close() still cleans up; segments of
killed owners are reclaimed."""

from __future__ import annotations

import gc
import os
import threading
import time

import numpy as np
from netgen import random_network
from test_faults import shm_entries

import nmgraph as nm
from nmgraph.runtimes.transport import SharedMemoryTransport, reclaim_stale_segments


def test_runtime_made_in_a_thread_that_ends() -> None:
    made = {}
    exe = nm.compile(random_network(2), hardware="generic", max_neurons_per_core=5)

    def build() -> None:
        made["rt"] = nm.Runtime(exe, workers=2)

    thread = threading.Thread(target=build)
    thread.start()
    thread.join()
    time.sleep(0.3)   # a parent-death signal tied to the thread would have fired by now
    rt = made["rt"]
    assert all(proc.is_alive() for proc in rt.backend.procs)
    with rt, nm.Runtime(exe, backend="reference") as ref:
        rt.run(20)
        ref.run(20)
        for pop in exe.ir.populations:
            assert rt.spikes(pop.name) == ref.spikes(pop.name)


def test_dropped_runtime_is_reaped() -> None:
    before = shm_entries()
    exe = nm.compile(random_network(3), hardware="generic", max_neurons_per_core=5)
    rt = nm.Runtime(exe, workers=2)
    rt.run(5)
    procs = list(rt.backend.procs)
    del rt
    gc.collect()
    deadline = time.monotonic() + 5
    while any(p.is_alive() for p in procs) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(p.is_alive() for p in procs)
    assert shm_entries() - before == set()


def test_interrupted_close_cleans_up_and_a_second_close_finishes() -> None:
    before = shm_entries()
    exe = nm.compile(random_network(4), hardware="generic", max_neurons_per_core=5)
    rt = nm.Runtime(exe, workers=2)
    backend = rt.backend
    original = backend._shutdown
    calls = []

    def interrupted(kill: bool = False) -> None:
        calls.append(kill)
        if not kill:
            raise KeyboardInterrupt
        original(kill=True)

    backend._shutdown = interrupted
    try:
        rt.close()
    except KeyboardInterrupt:
        pass
    assert calls == [False, True]
    assert not any(p.is_alive() for p in backend.procs)
    assert shm_entries() - before == set()
    rt.close()


def test_segments_of_dead_owners_are_reclaimed(tmp_path) -> None:
    dead = 2**22 + 12345                       # above Linux's default pid_max: no such process
    stale = tmp_path / f"nmg_{dead}_deadbeef"
    alive = tmp_path / f"nmg_{os.getpid()}_cafebabe"
    other = tmp_path / "something_else"
    for path in (stale, alive, other):
        path.write_bytes(b"x")
    assert reclaim_stale_segments("nmg", str(tmp_path)) == [stale.name]
    assert not stale.exists() and alive.exists() and other.exists()
    transport = SharedMemoryTransport.create(2, np.ones((2, 2), dtype=np.int64), "nmg")
    transport.unlink()
