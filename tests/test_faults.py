"""A failing worker, a killed worker and Ctrl-C end with a clear error within seconds, no process
left behind, no shared memory leaked, and the spikes of earlier runs still readable."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest
from faulty_transport import FaultyTransport
from netgen import random_network

import nmgraph as nm
from nmgraph.runtimes.multicore import MulticoreBackend

DEADLINE_S = 10.0


def shm_entries() -> set[str]:
    """The multicore runtime's segments (``nmg_<pid>_<token>``): other programs, MPI jobs
    among them, may use /dev/shm meanwhile."""
    if not os.path.isdir("/dev/shm"):
        return set()
    return {name for name in os.listdir("/dev/shm") if name.startswith("nmg_")}


def busy_executable():
    """Big enough that a run of many steps lasts seconds."""
    net = nm.Network("busy")
    src = net.add(nm.processes.PoissonSource(shape=(2000,), rate=0.2, seed=3, name="src"))
    rng = np.random.default_rng(0)
    weights = rng.integers(0, 3, size=(2000, 2000)) * (rng.random((2000, 2000)) < 0.05)
    syn = net.add(nm.processes.Dense(weights=weights, name="syn"))
    lif = net.add(nm.processes.LIF(shape=(2000,), du=500, dv=500, vth=20, name="lif"))
    net.connect(src.s_out, syn.s_in)
    net.connect(syn.a_out, lif.a_in)
    return nm.compile(net, hardware="generic", max_neurons_per_core=250)


def assert_clean(rt: nm.Runtime, before: set[str]) -> None:
    backend = rt._backend
    for proc in backend.procs:
        assert not proc.is_alive(), f"worker {proc.pid} still alive"
    assert shm_entries() - before == set(), "shared memory leaked"


def test_worker_exception_names_worker_and_cores() -> None:
    before = shm_entries()
    exe = nm.compile(random_network(3), hardware="generic", max_neurons_per_core=4)
    faulty = FaultyTransport()
    rt = nm.Runtime(exe, workers=2, transport=faulty)
    rt.run(10)
    first = {p.name: rt.spikes(p.name) for p in exe.ir.populations}
    faulty.arm()   # every worker raises at its next exchange
    start = time.monotonic()
    with pytest.raises(nm.WorkerError) as info:
        rt.run(20)
    assert time.monotonic() - start < DEADLINE_S
    message = str(info.value)
    assert "worker" in message and "cores" in message and "injected failure" in message
    assert_clean(rt, before)
    # the spikes of the earlier run survive, and those the failing run had recorded up to the
    # last step every worker finished: exactly the reference's up to that step
    assert rt.t > 10
    with nm.Runtime(exe, backend="reference") as ref:
        ref.run(rt.t)
        for pop in exe.ir.populations:
            assert rt.spikes(pop.name) == ref.spikes(pop.name)
            early = rt.spikes(pop.name)
            assert (early.times[early.times <= 10] == first[pop.name].times).all()
    with pytest.raises(nm.SimulationError):
        rt.run(1)
    rt.close()


def signal_worker_during_run(sig: int, deadline_s: float = DEADLINE_S,
                             **options: object) -> str:
    """Send ``sig`` to worker 1 of a busy runtime while it runs; check that the run ends with a
    WorkerError within ``deadline_s``, everything cleaned up and earlier spikes kept; return the
    error's message."""
    before = shm_entries()
    rt = nm.Runtime(busy_executable(), workers=2, **options)
    rt.run(5)
    kept = rt.spikes("lif")
    timer = threading.Timer(0.5, os.kill, args=(rt.backend.procs[1].pid, sig))
    timer.start()
    start = time.monotonic()
    try:
        with pytest.raises(nm.WorkerError) as info:
            rt.run(10_000_000)
    finally:
        timer.cancel()
    assert time.monotonic() - start < deadline_s
    assert_clean(rt, before)
    assert rt.spikes("lif") == kept
    rt.close()
    return str(info.value)


def test_killed_worker_is_reported_within_seconds() -> None:
    message = signal_worker_during_run(signal.SIGKILL)
    assert "worker 1" in message and "SIGKILL" in message


def test_ctrl_c_stops_cleanly() -> None:
    before = shm_entries()
    exe = busy_executable()
    rt = nm.Runtime(exe, workers=2)
    timer = threading.Timer(0.5, os.kill, args=(os.getpid(), signal.SIGINT))
    timer.start()
    start = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            rt.run(10_000_000)
    finally:
        timer.cancel()
    assert time.monotonic() - start < DEADLINE_S
    assert_clean(rt, before)
    rt.close()


def test_close_reaps_workers_and_unlinks_memory() -> None:
    before = shm_entries()
    exe = nm.compile(random_network(8), hardware="generic", max_neurons_per_core=5)
    backend = MulticoreBackend(exe, workers=3)
    assert shm_entries() - before, "a multi-worker runtime uses shared memory"
    backend.run(10)
    procs = list(backend.procs)
    backend.close()
    assert all(not p.is_alive() for p in procs)
    assert shm_entries() - before == set()


def test_one_failing_worker_releases_the_others() -> None:
    """Only worker 1 raises: worker 0, waiting in the exchange, is released and the host names
    worker 1."""
    before = shm_entries()
    exe = busy_executable()
    faulty = FaultyTransport(failing=(1,))
    rt = nm.Runtime(exe, workers=2, transport=faulty)
    rt.run(3)
    faulty.arm()
    start = time.monotonic()
    with pytest.raises(nm.WorkerError) as info:
        rt.run(1000)
    assert time.monotonic() - start < DEADLINE_S
    assert "worker 1" in str(info.value) and "injected failure in rank 1" in str(info.value)
    assert_clean(rt, before)
    rt.close()
