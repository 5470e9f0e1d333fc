"""The mpi backend: bit-identical to the reference on any number of ranks, in an SPMD job under
``mpiexec -n 1/2/3`` and driven from this process (``ranks=``); snapshots across rank counts;
faults (a rank raising, killed, stopped; Ctrl-C) end with a clear error within seconds and no
process left; placement onto ranks follows the traffic."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from netgen import random_network
from plastic_netgen import plastic_cases, plastic_network

import nmgraph as nm

mpi4py = pytest.importorskip("mpi4py")
from nmgraph.runtimes.mpi_host import find_mpiexec  # noqa: E402
from nmgraph.runtimes.multicore_program import assign_workers, core_loads  # noqa: E402
from nmgraph.runtimes.rank_placement import _describe, assign_ranks  # noqa: E402

try:
    MPIEXEC = find_mpiexec()
except nm.SimulationError:   # pragma: no cover - the test extra installs mpich
    pytest.skip("no mpiexec", allow_module_level=True)

SCRIPT = Path(__file__).with_name("mpi_spmd_check.py")
DEADLINE_S = 10.0


def spmd(ranks: int, *args: str, timeout: float = 300.0) -> dict:
    """Run tests/mpi_spmd_check.py on ``ranks`` ranks; its rank 0's RESULT."""
    done = subprocess.run([MPIEXEC, "-n", str(ranks), sys.executable, "-W", "ignore",
                           str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, output[-4000:]
    return json.loads(lines[0][len("RESULT "):])


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def job_pids(rt: nm.Runtime) -> list[int]:
    backend = rt.backend
    return [proc.pid for proc in backend.procs] + [backend._job.pid]


def assert_no_segments_left(rt: nm.Runtime) -> None:
    """MPICH's shared memory of the job is gone, even when its ranks were killed."""
    left = [name for name in rt.backend._segments if os.path.exists(name)]
    assert not left, f"shared memory left behind: {left}"


def assert_all_gone(pids: list[int], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and any(alive(pid) for pid in pids):
        time.sleep(0.05)
    assert not [pid for pid in pids if alive(pid)], "a rank or mpiexec is still running"


def assert_same(a: nm.Runtime, b: nm.Runtime, exe: nm.Executable) -> None:
    for pop in exe.ir.populations:
        assert a.spikes(pop.name) == b.spikes(pop.name), pop.name
        if not pop.is_source:
            for var in pop.state:
                assert np.array_equal(a.get(pop.name, var), b.get(pop.name, var)), (pop.name, var)
    for proj in exe.ir.projections:
        if proj.is_plastic:
            assert np.array_equal(a.get(proj.name, "weights"), b.get(proj.name, "weights"))
    assert a.counters.as_dict() == b.counters.as_dict()
    assert a.counters.per_process == b.counters.per_process


def busy_executable() -> nm.Executable:
    net = nm.Network("busy")
    src = net.add(nm.processes.PoissonSource(shape=(1000,), rate=0.2, seed=3, name="src"))
    rng = np.random.default_rng(0)
    weights = rng.integers(0, 3, size=(1000, 1000)) * (rng.random((1000, 1000)) < 0.05)
    syn = net.add(nm.processes.Dense(weights=weights, name="syn"))
    lif = net.add(nm.processes.LIF(shape=(1000,), du=500, dv=500, vth=20, name="lif"))
    net.connect(src.s_out, syn.s_in)
    net.connect(syn.a_out, lif.a_in)
    return nm.compile(net, hardware="generic", max_neurons_per_core=250)


# -- SPMD: an ordinary script under mpiexec -----------------------------------------------------------
@pytest.mark.parametrize("ranks", [1, 2, 3])
def test_spmd_script_is_bit_identical_on_random_networks(ranks: int) -> None:
    seeds = [ranks * 100 + i for i in range(8)]   # fixed, plain and plastic (every third)
    result = spmd(ranks, "equivalence", ",".join(map(str, seeds)))
    assert result == {"checked": len(seeds), "ranks": ranks}


def test_snapshots_move_between_rank_counts_and_backends(tmp_path) -> None:
    seed = 4
    from mpi_spmd_check import case

    exe, _, _ = case(seed)
    # 3 ranks -> 1 shared-memory worker
    saved = spmd(3, "snapshot-save", str(seed), "15", str(tmp_path / "three"))
    with nm.Runtime.restore(saved["path"], backend="multicore", workers=1) as rt, \
            nm.Runtime(exe, backend="reference") as whole:
        rt.run(20)
        whole.run(35)
        assert_same(rt, whole, exe)
    # 2 shared-memory workers -> 3 ranks; 2 ranks -> 1 rank
    with nm.Runtime(exe, backend="multicore", workers=2) as rt:
        rt.run(12)
        path = rt.snapshot(tmp_path / "workers")
    assert spmd(3, "snapshot-restore", str(path), "18")["t"] == 30
    saved = spmd(2, "snapshot-save", str(seed), "9", str(tmp_path / "two"))
    restored = spmd(1, "snapshot-restore", saved["path"], "11")
    assert restored["t0"] == 9 and restored["t"] == 20


def test_spmd_rank_that_raises_stops_every_rank_with_the_same_error() -> None:
    result = spmd(2, "raise")
    message = result["message"]
    assert "rank" in message and "cores" in message and "broken" in message.lower()
    assert result["elapsed"] < DEADLINE_S
    assert result["t"] >= 3    # the earlier run's steps stay


def _start_busy_job(ranks: int) -> tuple[subprocess.Popen, list[int]]:
    job = subprocess.Popen([MPIEXEC, "-n", str(ranks), sys.executable, "-W", "ignore",
                            str(SCRIPT), "busy"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        text, found, deadline = "", {}, time.monotonic() + 60
        while len(found) < ranks and time.monotonic() < deadline:
            line = job.stdout.readline()
            if not line and job.poll() is not None:
                break
            text += line
            found = {int(r): int(p) for r, p in re.findall(r"RUNNING rank (\d+) pid (\d+)", text)}
        pids = [found[r] for r in sorted(found)]
        assert len(pids) == ranks and all(pid > 1 and pid != os.getpid() for pid in pids), text
    except BaseException:
        os.killpg(job.pid, signal.SIGKILL)
        job.wait()
        raise
    return job, pids


def segments_of(pids: list[int]) -> set[str]:
    """MPICH's shared-memory files mapped by these processes."""
    found = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/maps") as maps:
                found |= {line.split()[-1] for line in maps if "/dev/shm/mpich_shm_" in line}
        except OSError:
            pass
    return found


@pytest.mark.parametrize("how", ["kill", "interrupt"])
def test_spmd_job_ends_when_a_rank_dies_or_on_ctrl_c(how: str) -> None:
    job, pids = _start_busy_job(2)
    segments = segments_of(pids)   # a killed job cannot remove them: this test does
    try:
        start = time.monotonic()
        if how == "kill":
            os.kill(pids[1], signal.SIGKILL)
        else:   # Ctrl-C at the terminal: SIGINT to the job's foreground process group
            os.killpg(job.pid, signal.SIGINT)
        job.wait(DEADLINE_S)
        assert time.monotonic() - start < DEADLINE_S
        assert job.returncode != 0
        assert_all_gone(pids)
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait()
        for name in segments:
            if os.path.exists(name):
                os.unlink(name)


# -- driven from this process: ranks= ------------------------------------------------------------------
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), ranks=st.integers(1, 3), plastic=st.booleans(),
       data=st.data())
def test_ranks_started_from_here_are_bit_identical(seed: int, ranks: int, plastic: bool,
                                                   data: st.DataObject) -> None:
    rng = np.random.default_rng(seed)
    if plastic:
        net_seed, specs = data.draw(plastic_cases(max_rules=2))
        net = plastic_network(net_seed, specs).net
    else:
        net = random_network(seed, max_delay=int(rng.integers(1, 12)))
    exe = nm.compile(net, hardware=str(rng.choice(["loihi1", "generic"])),
                     partition=str(rng.choice(["greedy", "mincut"])), seed=seed,
                     max_neurons_per_core=int(rng.integers(2, 20)))
    split = [int(rng.integers(1, 25)) for _ in range(2)]
    with nm.Runtime(exe, backend="mpi", ranks=ranks) as rt, \
            nm.Runtime(exe, backend="reference") as ref:
        for n in split:
            rt.run(n)
            ref.run(n)
        assert_same(rt, ref, exe)
        pids = job_pids(rt)
    assert_all_gone(pids)


def test_host_record_set_snapshot_and_report(tmp_path) -> None:
    net = random_network(11, max_delay=5)
    exe = nm.compile(net, hardware="loihi1", partition="mincut", max_neurons_per_core=5)
    neuron = next(pop for pop in exe.ir.populations if not pop.is_source)
    ref = nm.Runtime(exe, backend="reference")
    with nm.Runtime(exe, backend="mpi", ranks=3) as rt:
        for r in (rt, ref):
            r.record(neuron.name, "v")
            r.run(10)
            r.set(neuron.name, "v", np.arange(neuron.size) % 7)
            r.run(10)
        assert np.array_equal(rt.recorded(neuron.name, "v"), ref.recorded(neuron.name, "v"))
        assert_same(rt, ref, exe)
        path = rt.snapshot(tmp_path / "host")
        counters = rt.counters
        assert counters.messages_ranks == counters.messages_workers
        assert counters.bytes_ranks >= 8 * counters.messages_ranks
        report = rt.backend.report()
        assert "| rank |" in report and "bytes/step" in report
    with nm.Runtime.restore(path, backend="mpi", ranks=1) as one:
        assert one.t == 20
        one.run(7)
        ref.run(7)
        assert_same(one, ref, exe)


def test_rank_logs_reach_the_host_with_the_rank(caplog) -> None:
    exe = nm.compile(random_network(2), hardware="generic", max_neurons_per_core=6)
    with caplog.at_level(logging.DEBUG, logger="nmgraph"):
        with nm.Runtime(exe, backend="mpi", ranks=2) as rt:
            rt.run(3)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and \
                    {getattr(r, "rank", None) for r in caplog.records} < {0, 1}:
                time.sleep(0.05)
    ranks = {record.rank for record in caplog.records if hasattr(record, "rank")}
    assert {0, 1} <= ranks
    assert any(record.getMessage().startswith("[rank 1] ") for record in caplog.records)


def test_host_rank_that_raises_is_named_and_everything_stops() -> None:
    from user_models import Broken

    net = nm.Network("broken")
    src = net.add(nm.processes.PoissonSource(shape=(8,), rate=0.3, seed=1, name="src"))
    broken = net.add(Broken(shape=(8,), mode=3, name="broken"))
    syn = net.add(nm.processes.Dense(weights=np.ones((8, 8), dtype=int), name="syn"))
    net.connect(src.s_out, syn.s_in)
    net.connect(syn.a_out, broken.a_in)
    lif = net.add(nm.processes.LIF(shape=(8,), du=100, dv=100, vth=5, name="lif"))
    drive = net.add(nm.processes.Dense(weights=np.eye(8, dtype=int) * 50, name="drive"))
    net.connect(src.s_out, drive.s_in)
    net.connect(drive.a_out, lif.a_in)
    exe = nm.compile(net, hardware="generic", max_neurons_per_core=4)
    rt = nm.Runtime(exe, backend="mpi", ranks=2)
    rt.run(3)
    kept = rt.spikes("lif")
    pids = job_pids(rt)
    start = time.monotonic()
    with pytest.raises(nm.WorkerError) as info:
        rt.run(50)
    assert time.monotonic() - start < DEADLINE_S
    message = str(info.value)
    assert "rank" in message and "cores" in message and "Broken 'broken'" in message
    assert_all_gone(pids)
    assert_no_segments_left(rt)
    early = rt.spikes("lif")
    assert early.times[:len(kept.times)].tolist() == kept.times.tolist()
    with pytest.raises(nm.SimulationError):
        rt.run(1)
    rt.close()


def _signal_rank_during_run(sig: int, **options: object) -> str:
    rt = nm.Runtime(busy_executable(), backend="mpi", ranks=2, **options)
    rt.run(3)
    kept = rt.spikes("lif")
    pids = job_pids(rt)
    timer = threading.Timer(0.5, os.kill, args=(rt.backend.procs[1].pid, sig))
    timer.start()
    start = time.monotonic()
    try:
        with pytest.raises(nm.WorkerError) as info:
            rt.run(100_000_000)
    finally:
        timer.cancel()
    assert time.monotonic() - start < DEADLINE_S
    assert_all_gone(pids)
    assert_no_segments_left(rt)
    assert rt.spikes("lif") == kept
    rt.close()
    return str(info.value)


def test_host_killed_rank_is_named_within_seconds() -> None:
    message = _signal_rank_during_run(signal.SIGKILL)
    assert "rank 1" in message and "died" in message


def test_host_stopped_rank_is_caught_by_the_watchdog() -> None:
    message = _signal_rank_during_run(signal.SIGSTOP, watchdog_s=2.0)
    assert "rank 1" in message and "stopped" in message


def test_host_ctrl_c_stops_every_rank() -> None:
    rt = nm.Runtime(busy_executable(), backend="mpi", ranks=2)
    pids = job_pids(rt)
    timer = threading.Timer(0.5, os.kill, args=(os.getpid(), signal.SIGINT))
    timer.start()
    start = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            rt.run(100_000_000)
    finally:
        timer.cancel()
    assert time.monotonic() - start < DEADLINE_S
    assert_all_gone(pids)
    rt.close()


def test_close_and_collection_end_the_job() -> None:
    exe = nm.compile(random_network(5), hardware="generic", max_neurons_per_core=6)
    rt = nm.Runtime(exe, backend="mpi", ranks=2)
    rt.run(2)
    pids = job_pids(rt)
    rt.close()
    assert_all_gone(pids)
    rt = nm.Runtime(exe, backend="mpi", ranks=2)
    pids = job_pids(rt)
    del rt
    import gc

    gc.collect()
    assert_all_gone(pids)


# -- placement onto ranks ---------------------------------------------------------------------------
def paired_network() -> nm.Network:
    """Eight populations; population i talks to i + 4 only: a contiguous split of the cores
    into two ranks cuts every pair, a split that follows the traffic cuts none."""
    net = nm.Network("pairs")
    pops = [net.add(nm.processes.LIF(shape=(20,), du=300, dv=300, vth=40, name=f"p{i}"))
            for i in range(8)]
    src = net.add(nm.processes.PoissonSource(shape=(20,), rate=0.2, seed=2, name="src"))
    for i in range(8):
        drive = net.add(nm.processes.Dense(weights=np.eye(20, dtype=int) * 30, name=f"d{i}"))
        net.connect(src.s_out, drive.s_in)
        net.connect(drive.a_out, pops[i].a_in)
    for i in range(4):
        for a, b in ((i, i + 4), (i + 4, i)):
            syn = net.add(nm.processes.Dense(weights=np.full((20, 20), 2), name=f"s{a}_{b}"))
            net.connect(pops[a].s_out, syn.s_in)
            net.connect(syn.a_out, pops[b].a_in)
    return net


def test_placement_follows_the_traffic_between_cores() -> None:
    exe = nm.compile(paired_network(), hardware="generic", max_neurons_per_core=20)
    placement = assign_ranks(exe, 2)
    assert placement.strategy == "traffic"
    contiguous = _describe(exe, assign_workers(exe, 2), "contiguous", 2, core_loads(exe))
    # a contiguous split cuts every pair; each pair on one rank: only the shared Poisson
    # source's spikes cross
    assert contiguous.messages_per_step.sum() >= 8 * 20
    assert placement.messages_per_step.sum() <= 20
    assert abs(placement.load[0] - placement.load[1]) < 0.1
    assert "| rank |" in placement.to_markdown()
    with nm.Runtime(exe, backend="mpi", ranks=2) as rt, \
            nm.Runtime(exe, backend="reference") as ref:
        rt.run(30)
        ref.run(30)
        assert_same(rt, ref, exe)
        traffic = rt.backend.rank_traffic()
        pair_spikes = sum(len(rt.spikes(f"p{i}").times) for i in range(8))
        assert traffic["messages"].sum() < pair_spikes / 4


def test_more_ranks_than_cores_still_run() -> None:
    net = random_network(8, n_pops=1, max_size=5)
    exe = nm.compile(net, hardware="generic")
    ranks = exe.n_cores + 2   # two ranks hold nothing
    with nm.Runtime(exe, backend="mpi", ranks=ranks) as rt, \
            nm.Runtime(exe, backend="reference") as ref:
        rt.run(15)
        ref.run(15)
        assert_same(rt, ref, exe)


@pytest.mark.parametrize(("options", "words"), [
    ({"ranks": 0}, "ranks must be an int"),
    ({"ranks": "2"}, "ranks must be an int"),
    ({"ranks": 2, "workers": 2}, "workers=2 is not available"),
    ({"mpiexec": "/bin/true"}, "give ranks= too"),
    ({"ranks": 2, "threads": 2}, "unknown mpi options"),
    ({"ranks": 2, "watchdog_s": -1}, "watchdog_s"),
])
def test_bad_mpi_options_are_clear_errors(options: dict, words: str) -> None:
    exe = nm.compile(random_network(1), hardware="generic")
    with pytest.raises(nm.SimulationError, match=words):
        nm.Runtime(exe, backend="mpi", **options)


def test_model_defined_in_main_cannot_reach_started_ranks(monkeypatch) -> None:
    from user_models import BrokenModel

    from nmgraph.runtimes.mpi_host import model_modules

    net = nm.Network("main")
    from user_models import Broken

    net.add(Broken(shape=(2,), name="b"))
    exe = nm.compile(net, hardware="generic")
    monkeypatch.setattr(BrokenModel, "__module__", "__main__")
    with pytest.raises(nm.SimulationError, match="defined in __main__"):
        model_modules(exe)
