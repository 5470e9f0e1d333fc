"""A scaling model, on paper, of nmgraph's MPI runtime for Brunel networks, fed by local measurements.

    .venv/bin/python -m benchmarks.mpi_scaling_model                      # measure, model, plot
    .venv/bin/python -m benchmarks.mpi_scaling_model --events-per-s 1.2e8 --unit-ns 6
    .venv/bin/python -m benchmarks.mpi_scaling_model --json out/mpi-scaling.json

``docs/mpi-scaling.md`` explains every equation and assumption; this module is its arithmetic.

What is measured on this machine
--------------------------------
* **The exchange of one window** (``runtimes/transport_mpi.py``): ``mpiexec -n 2`` runs this module
  with the hidden ``--case exchange``; each rank builds an ``MPIExchange`` and calls
  ``exchange_counts`` in a loop, as the worker loop does once per window: the checks of the counts
  (as a Python list), the ``Ialltoall`` of the int64 counts (one ``Test``, then ``Testall`` in a
  loop), then ``_point_to_point``: one ``Irecv`` / ``Isend`` of 8-byte messages per peer with a
  non-zero count. It times the empty exchange (all counts zero), the exchange with ``k`` messages
  to the other rank (the slope is the cost per byte through shared memory), the bare
  ``Ialltoall`` + ``Testall`` without nmgraph's Python around it, ``exchange_counts`` on a 1-rank
  communicator (nmgraph's own software and a collective with no partner), ``_point_to_point``
  itself with one peer, ``m`` = 1 to 1,024 separate ``Isend``/``Irecv`` pairs in one window,
  posted and awaited line for line as ``_point_to_point`` posts them (each pair into its own
  mailbox slice: with 2 ranks the real method cannot be given ``m`` distinct peers, and ``m``
  receives from one peer into one slice would overlap; the cost of a window with ``m`` peers, and
  rank 0's time posting the requests, the rest being the wait) and an 8-byte ping-pong (half the
  round trip: MPICH's shared-memory latency). Each figure is the slower rank's mean over a run of
  windows; of the ``--repeats`` runs the median and the fastest are kept, and the model uses the
  fastest (``--basis``), the least disturbed by other work on a shared machine.
* **The compute rate**, unless ``--events-per-s`` and ``--unit-ns`` are given: the multicore
  backend with 1 worker runs ``benchmarks.networks.brunel(20000, 400)`` (``--compute-size``) for
  ``--compute-steps`` steps after 50 untimed ones, and a network of the same number of LIF neurons
  and (silent) Poisson sources with no synapse; the second gives the cost of a unit's update per
  step, the first, once that is subtracted, the cost of a synaptic event
  (``Counters.synaptic_ops``; the drive's events are counted, as in ``BENCHMARKS.md``).
* **Bytes per synapse**: the arrays of that Executable (every rank holds the whole Executable) and
  of rank 0's program when it is split over 2 and 4 ranks (``build_programs(..., only=0)``), which
  check the per-rank memory model.

What is modelled
----------------
Time per simulated second of a Brunel network (``N`` neurons, in-degree ``K``, rate ``nu``,
``dt`` = 1 ms, one Poisson drive unit per neuron at 50 Hz wired one-to-one, so local to its
rank) on ``P`` ranks (one rank per core, ``--ranks-per-node`` per node), with a window of ``W``
steps: compute (events and unit updates of one rank, plus the expected maximum over ranks of the
Poisson fluctuation of its events), the ``Ialltoall`` of counts (Bruck's algorithm, which MPICH
picks for 8-byte blocks from 8 ranks on: ``ceil(log2 P)`` rounds), and the point-to-point phase
(one ``Isend``/``Irecv`` per peer with a non-zero count, the bytes through the node's link). The
interconnect figures are not measured here (one machine): they are the published figures of an
InfiniBand HDR cluster, given as flags with their defaults stated in ``docs/mpi-scaling.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULT_MARK = "@@mpi-scaling "
GIB = 2.0**30
#: Bytes of one spike message between ranks (``rank_placement.BYTES_PER_MESSAGE``).
MESSAGE_BYTES = 8
#: MPICH picks Bruck's algorithm for an Ialltoall of blocks this small from this many ranks on.
BRUCK_MIN_RANKS = 8
#: Isend/Irecv pairs per window in the measurement of the per-peer cost (up to the 1,023 peers of
#: a rank among 1,024).
PEER_COUNTS = (1, 4, 16, 64, 256, 1024)
#: The figure's sizes and rank counts.
SIZES = (80_000, 1_000_000, 10_000_000)
RANKS = tuple(2**i for i in range(11))
#: The nmgraph ``generic`` profile's neurons per core: ranks beyond N / this hold no neuron unless
#: the network is compiled with ``max_neurons_per_core`` <= N / P.
GENERIC_NEURONS_PER_CORE = 4096
#: How the 1-worker rate falls as a rank's neurons leave the caches: BENCHMARKS.md's nmgraph rows
#: (generic, 1 worker) at 20,000 (141.9M events/s), 80,000 (103.1M; K = 400) and 1,000,000 neurons
#: (39.3M; K = 100), relative to 20,000; flat below 20,000 (4,000: 134.2M) and beyond 1,000,000.
CACHE_POINTS = ((20_000, 1.0), (80_000, 103.1 / 141.9), (1_000_000, 39.3 / 141.9))
#: NEST on two 128-core AMD EPYC Rome nodes (Kurth et al., NEST Conference 2021): the cortical
#: microcircuit (~80,000 neurons, ~300 million synapses) ran 1.7 times faster than real time.
NEST_MICROCIRCUIT = (256, 1 / 1.7, "NEST 2.14, microcircuit (~80k neurons, ~3,900 syn/neuron,\n"
                     "dt 0.1 ms, min delay 0.1 ms), 2 x 128-core nodes: 1.7x real time")
#: NEST figures found in the literature (see ``docs/mpi-scaling.md``): label, cores, neurons,
#: synapses, wall-clock seconds per simulated second, source.
NEST_POINTS = (
    ("NEST on the K computer (2013)", 82_944 * 8, 1.73e9, 10.4e12, 40 * 60.0,
     "press reports of the RIKEN/Juelich run (Kunkel et al. 2014 code)"),
)


# -- measured inputs ---------------------------------------------------------------------------

@dataclass
class Measured:
    """The local measurements (seconds, bytes) the model starts from."""

    empty_exchange_s: float = float("nan")     # exchange_counts, all counts zero, P = 2
    bare_ialltoall_s: float = float("nan")     # Ialltoall + Testall alone, P = 2
    shm_latency_s: float = float("nan")        # 8-byte ping-pong, half round trip
    per_byte_s: float = float("nan")           # slope of exchange time over message bytes
    per_peer_s: float = float("nan")           # one more Isend/Irecv pair (slope up to 16)
    alone_s: float = float("nan")              # exchange_counts on a 1-rank communicator
    real_pair_s: float = float("nan")          # MPIExchange._point_to_point with one peer, P = 2
    exchange_rows: list[dict[str, float]] = field(default_factory=list)
    peer_rows: list[dict[str, float]] = field(default_factory=list)
    events_per_s: float = float("nan")         # synaptic events per second, one core
    unit_s: float = float("nan")               # one neuron (with its drive unit) per step
    compute_note: str = ""
    exe_bytes_per_synapse: float = float("nan")
    program_rows: list[dict[str, float]] = field(default_factory=list)
    mpi_library: str = ""
    basis: str = "best"                        # "best" or "median" of the repeats
    loadavg: float = float("nan")              # 1-minute load average after the exchange case
    raw: dict[str, Any] = field(default_factory=dict)   # the exchange case's own output


def _mpiexec() -> str:
    candidate = Path(sys.executable).with_name("mpiexec")
    if candidate.is_file():
        return str(candidate)
    from nmgraph.runtimes.mpi_host import find_mpiexec

    return find_mpiexec()


def measure_exchange(windows: int, repeats: int, timeout: float = 600.0) -> dict[str, Any]:
    """Run the ``exchange`` case under ``mpiexec -n 2`` and return rank 0's figures."""
    cmd = [_mpiexec(), "-n", "2", sys.executable, "-m", "benchmarks.mpi_scaling_model",
           "--case", "exchange", "--windows", str(windows), "--repeats", str(repeats)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK):])
    raise RuntimeError(f"the exchange case failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}"
                       f"\n{proc.stderr[-4000:]}")


def _case_exchange(windows: int, repeats: int) -> None:
    """Rank side of :func:`measure_exchange` (both ranks run it; rank 0 prints)."""
    from mpi4py import MPI

    from nmgraph.runtimes.transport_mpi import PAYLOAD_TAG, MPIExchange, wait_requests

    world = MPI.COMM_WORLD
    comm = world.Dup()
    rank, size = comm.Get_rank(), comm.Get_size()
    capacity = 1 << 17
    exchange = MPIExchange(comm, np.full(size, capacity), np.full(size, capacity))
    in_counts = np.zeros(size, dtype=np.int64)

    def timed(body: Any, n: int) -> dict[str, float]:
        """Slower rank's mean seconds per call of ``body`` over ``n`` calls: the median and the
        fastest of the repeats."""
        body()   # warm-up
        runs = []
        for _ in range(repeats):
            comm.Barrier()
            start = time.perf_counter()
            for _ in range(n):
                body()
            mine = (time.perf_counter() - start) / n
            runs.append(comm.allreduce(mine, op=MPI.MAX))
        return {"median": statistics.median(runs), "best": min(runs)}

    def exchange_with(k: int) -> Any:
        counts = np.zeros(size, dtype=np.int64)
        counts[np.arange(size) != rank] = k
        return lambda: exchange.exchange_counts(counts, -1.0, in_counts)

    rows = []
    for k in (0, 1, 64, 1024, 8192, 65536):
        n = max(50, min(windows, windows * 64 // max(k, 64)))
        rows.append({"messages": k, "bytes": MESSAGE_BYTES * k, **timed(exchange_with(k), n)})
    zeros = np.zeros(size, dtype=np.int64)
    got = np.zeros(size, dtype=np.int64)

    def bare() -> None:
        wait_requests([comm.Ialltoall(zeros, got)], -1.0, "bare Ialltoall")

    bare_s = timed(bare, windows)
    token = np.zeros(1, dtype=np.int64)
    other = 1 - rank if size == 2 else rank

    def ping() -> None:
        if rank == 0:
            comm.Send([token, MPI.INT64_T], dest=other, tag=1)
            comm.Recv([token, MPI.INT64_T], source=other, tag=1)
        elif rank == 1:
            comm.Recv([token, MPI.INT64_T], source=other, tag=1)
            comm.Send([token, MPI.INT64_T], dest=other, tag=1)

    latency_s = {key: value / 2 for key, value in timed(ping, windows).items()}
    # the same call on a 1-rank communicator: nmgraph's and mpi4py's own work, no partner to wait for
    alone_comm = MPI.COMM_SELF.Dup()
    alone = MPIExchange(alone_comm, np.zeros(1, np.int64), np.zeros(1, np.int64))
    one, one_in = np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64)
    alone_s = timed(lambda: alone.exchange_counts(one, -1.0, one_in), windows)
    # the real point-to-point phase with one peer: one Irecv and one Isend of one message
    one_peer = ((other, 1),)
    real_pair_s = timed(lambda: exchange._point_to_point(one_peer, one_peer, -1.0, 0), windows)
    # m separate 8-byte Isend/Irecv pairs per window, posted line for line as
    # MPIExchange._point_to_point posts one pair per peer (a list offset, a slice of the mailbox,
    # the request, a NumPy counter update; then one wait over all of them), each pair into its own
    # slice: the slope over m is the cost of one more peer
    sendbuf = np.zeros(8 * 1024 + 8, dtype=np.int64)
    recvbuf = np.zeros(8 * 1024 + 8, dtype=np.int64)
    sent = np.zeros(1024, dtype=np.int64)
    received = np.zeros(1024, dtype=np.int64)
    offsets = [8 * j for j in range(1024)]
    posting: dict[int, list[float]] = {}   # this rank's seconds posting the requests, per window

    def pairs(m: int) -> Any:
        peers = [(j, 1) for j in range(m)]
        spent = posting.setdefault(m, [])

        def body() -> None:
            start = time.perf_counter()
            int64 = MPI.INT64_T
            requests = []
            for j, n in peers:
                at = offsets[j]
                requests.append(comm.Irecv([recvbuf[at:at + n], int64], source=other,
                                           tag=PAYLOAD_TAG))
                received[j] += n
            for j, n in peers:
                at = offsets[j]
                requests.append(comm.Isend([sendbuf[at:at + n], int64], dest=other,
                                           tag=PAYLOAD_TAG))
                sent[j] += n
            spent.append(time.perf_counter() - start)
            wait_requests(requests, -1.0, "peer pairs")
        return body

    peer_rows = [{"pairs": m, **timed(pairs(m), max(50, windows // max(m, 1)))}
                 for m in PEER_COUNTS]
    for row in peer_rows:   # the rest of a window is the wait: Testall over all 2 m requests
        row["posting"] = statistics.median(posting[row["pairs"]])
    if rank == 0:
        out = {"rows": rows, "bare_ialltoall_s": bare_s, "shm_latency_s": latency_s,
               "peer_rows": peer_rows, "size": size, "loadavg": os.getloadavg()[0],
               "alone_s": alone_s, "real_pair_s": real_pair_s,
               "library": MPI.Get_library_version().splitlines()[0].strip()}
        print(RESULT_MARK + json.dumps(out), flush=True)
    comm.Barrier()
    alone_comm.Free()
    comm.Free()


def _slope(x: list[float], y: list[float]) -> float:
    return float(np.polyfit(np.asarray(x, dtype=float), np.asarray(y, dtype=float), 1)[0])


def measure_compute(n: int, k: int, steps: int, repeats: int, timed: bool = True
                    ) -> dict[str, Any]:
    """Synaptic events per second and unit update cost on 1 multicore worker (see the module
    docstring); ``timed=False``: only compile and probe the bytes per synapse."""
    import nmgraph as nm
    from benchmarks.networks import brunel
    from nmgraph.processes import LIF, PoissonSource

    def timed_run(exe: Any) -> tuple[float, int, int]:
        """Median (seconds, synaptic events, neuron spikes) of ``repeats`` runs of ``steps``."""
        neurons = [pop.name for pop in exe.ir.populations if not pop.is_source]
        with nm.Runtime(exe, backend="multicore", workers=1) as rt:
            rt.run(50)
            runs = []
            for _ in range(repeats):
                before = rt.counters
                start = time.perf_counter()
                rt.run(steps)
                seconds = time.perf_counter() - start
                after = rt.counters
                spikes = sum(after.per_process[name]["spikes"] - before.per_process[name]["spikes"]
                             for name in neurons)
                runs.append((seconds, after.synaptic_ops - before.synaptic_ops, spikes))
        return sorted(runs)[len(runs) // 2]

    exe = nm.compile(brunel(n, k, seed=0), hardware="generic")
    out: dict[str, Any] = {"n": n, "k": k, "memory": _memory_probe(exe)}
    if not timed:
        return out
    net = nm.Network("units")
    net.add(LIF(n, du=4095, dv=205, vth=1000, name="lif"))
    net.add(PoissonSource(n, rate=0.0, name="drive"))
    unit_seconds, _, _ = timed_run(nm.compile(net, hardware="generic"))
    unit_s = unit_seconds / steps / n
    seconds, events, spikes = timed_run(exe)
    neurons = sum(pop.size for pop in exe.ir.populations if not pop.is_source)
    event_s = max(seconds - unit_s * n * steps, 0.5 * seconds) / events
    out.update({"events_per_s": 1.0 / event_s, "events_per_s_gross": events / seconds,
                "unit_s": unit_s, "rate_hz": spikes / neurons / (steps * 1e-3), "steps": steps,
                "seconds": seconds, "events": int(events), "unit_seconds": unit_seconds})
    return out


def _memory_probe(exe: Any) -> dict[str, Any]:
    """Bytes per synapse of the Executable and of rank 0's program on 2 and 4 ranks."""
    from nmgraph.compilers.executable_io import executable_payload
    from nmgraph.runtimes.multicore_program import build_programs
    from nmgraph.runtimes.rank_placement import assign_ranks

    _, members = executable_payload(exe)
    exe_bytes = sum(np.asarray(array).nbytes for _, array in members)
    n_syn = exe.ir.n_synapses
    neurons = sum(pop.size for pop in exe.ir.populations if not pop.is_source)
    k = n_syn / neurons - 1   # recurrent in-degree (the drive adds one synapse per neuron)
    rows = []
    for ranks in (2, 4):
        placement = assign_ranks(exe, ranks)
        program = build_programs(exe, placement.core_rank, only=0, n_workers=ranks)[0]
        held = int(placement.synapses[0])
        measured = sum(a.nbytes for a in program.arrays.values())
        model = program_bytes(neurons, k, ranks, window=1)
        rows.append({"ranks": ranks, "synapses": held, "bytes": measured,
                     "bytes_per_synapse": measured / max(held, 1), "model_bytes": model})
    return {"exe_bytes_per_synapse": exe_bytes / n_syn, "synapses": n_syn, "program": rows}


# -- the model ---------------------------------------------------------------------------------

@dataclass
class Cluster:
    """Interconnect and node of the modelled cluster (defaults: InfiniBand HDR, 128-core nodes;
    sources in ``docs/mpi-scaling.md``)."""

    alpha_net_s: float = 1.5e-6        # MPI small-message latency between nodes
    node_bandwidth: float = 25e9       # bytes/s one node injects (HDR: 200 Gb/s)
    ranks_per_node: int = 128          # one rank per core
    node_memory: float = 256e9         # bytes of memory per node


@dataclass
class Network:
    """The Brunel workload."""

    n: int
    k: int = 400
    rate_hz: float = 10.0
    drive_hz: float = 50.0             # one drive unit per neuron, one synapse, on its rank
    dt_ms: float = 1.0
    window_steps: int = 1
    cache: bool = True                 # the events rate falls as a rank's neurons leave the caches


def cache_factor(n_local: float) -> float:
    """The events rate of a rank with ``n_local`` neurons relative to the measured one (at 20,000
    neurons), interpolated in log(neurons) through ``CACHE_POINTS``."""
    xs = [math.log(x) for x, _ in CACHE_POINTS]
    ys = [y for _, y in CACHE_POINTS]
    return float(np.interp(math.log(max(n_local, 1.0)), xs, ys))


def peers_time(peers: float, measured: Measured) -> float:
    """Seconds of a window's point-to-point phase with ``peers`` Isend/Irecv pairs: the measured
    cost of that many pairs in one window (``PEER_COUNTS``, interpolated; linear from 0 to 1)."""
    if peers <= 0:
        return 0.0
    ms = [float(r["pairs"]) for r in measured.peer_rows]
    ts = [float(r[measured.basis]) for r in measured.peer_rows]
    if peers < ms[0]:
        return ts[0] * peers / ms[0]
    if peers > ms[-1]:   # beyond the table: the last slope
        return ts[-1] + (peers - ms[-1]) * (ts[-1] - ts[-2]) / (ms[-1] - ms[-2])
    return float(np.interp(peers, ms, ts))


def ranks_reached(k: float, p: int) -> float:
    """Expected OTHER ranks a neuron's ``k`` targets land on (each on a uniformly random rank of
    ``p`` equal ranks): ``(p - 1) (1 - (1 - 1/p)^k)``."""
    return 0.0 if p <= 1 else (p - 1) * (1.0 - (1.0 - 1.0 / p) ** k)


def alltoall_time(p: int, measured: Measured, cluster: Cluster) -> dict[str, float]:
    """One ``Ialltoall`` of one int64 per rank, polled with ``Testall`` (see the doc).

    A fixed software cost (nmgraph's, measured alone, plus the MPI call's), then each round of the
    algorithm costs a latency (between nodes once the ranks span more than one node) and its
    bytes through the node's link."""
    if p <= 1:
        return {"rounds": 0, "latency": 0.0, "bytes": 0.0, "software": 0.0}
    # nmgraph's own work per exchange (exchange_counts alone) and MPICH's and mpi4py's per call
    # (the bare Ialltoall on 2 ranks less one shared-memory latency)
    software = measured.alone_s + max(measured.bare_ialltoall_s - measured.shm_latency_s, 0.0)
    across = p > cluster.ranks_per_node
    if p >= BRUCK_MIN_RANKS:
        # Bruck: round i sends each rank's ~p/2 blocks to rank + 2**i; with ranks placed in
        # blocks of ranks_per_node, min(2**i, ranks_per_node) ranks of a node send off-node, and
        # once the job spans nodes every round waits for an off-node message
        rounds = math.ceil(math.log2(p))
        block = MESSAGE_BYTES * p / 2
        if across:
            latency = rounds * cluster.alpha_net_s
            bw = sum(min(2**i, cluster.ranks_per_node) * block
                     for i in range(rounds)) / cluster.node_bandwidth
        else:
            latency = rounds * measured.shm_latency_s
            bw = rounds * block * measured.per_byte_s
    else:   # permuted send-receive: the p - 1 blocks in flight at once (posted in C)
        rounds = 1
        alpha = cluster.alpha_net_s if across else measured.shm_latency_s
        latency = alpha
        bw = 0.0
    return {"rounds": rounds, "latency": latency, "bytes": bw, "software": software}


def program_bytes(n: float, k: float, p: int, window: int, n_delays: int = 2) -> float:
    """Modelled bytes of one rank's program (``multicore_program``): uint16 targets, a fan-out
    row (its segment pointer, its source worker, its segments by delay) per source that reaches
    the rank, a fan-out record and a remote entry per local unit and rank it reaches, the ring
    buffer, and the mailboxes."""
    from nmgraph.runtimes._worker_kernel import FANOUT_DTYPE, SEGMENT_DTYPE

    n_local = n / p
    syn_local = n * k / p                           # recurrent synapses held (fixed in-degree)
    per_row = k / p                                 # a source's synapses on this rank, on average
    reach = 1.0 - math.exp(-per_row)                # a source has at least one (Poisson)
    rows = n * reach + n_local                      # + the drive's one-synapse rows
    # expected distinct delays among a row's synapses, given it has some (Poisson count)
    seg_per_row = n_delays * (1 - math.exp(-per_row / n_delays)) / max(reach, 1e-12)
    segments = n * reach * seg_per_row + n_local
    remote = n_local * ranks_reached(k, p)
    mailboxes = MESSAGE_BYTES * window * (remote + n * reach * (p - 1) / max(p, 1))
    ring = 3 * 4 * n_local                          # (max delay + 1) int32 slots per neuron
    units = 2 * n_local                             # neurons and their drive units
    records = 12 * (1 << 16)                        # the spike record buffers
    return (2 * (syn_local + n_local) + rows * (8 + 8 + 1) + segments * SEGMENT_DTYPE.itemsize
            + units * (FANOUT_DTYPE.itemsize + 8 + 1) + 16 * n_local + remote * 12 + ring
            + mailboxes + records)


def memory_per_rank(net: Network, p: int, measured: Measured) -> dict[str, float]:
    """Bytes one rank holds: the whole Executable (every rank loads it) and its own program."""
    synapses = net.n * (net.k + 1)
    exe = measured.exe_bytes_per_synapse * synapses
    program = program_bytes(net.n, net.k, p, net.window_steps)
    return {"executable": exe, "program": program, "total": exe + program}


def step_model(net: Network, p: int, measured: Measured, cluster: Cluster) -> dict[str, float]:
    """Seconds per simulated second on ``p`` ranks, by term (see ``docs/mpi-scaling.md``)."""
    steps = 1000.0 / net.dt_ms
    windows = steps / net.window_steps
    n_local = net.n / p
    events = n_local * (net.k * net.rate_hz + net.drive_hz)          # per rank per sim second
    rate = measured.events_per_s * (cache_factor(n_local) if net.cache else 1.0)
    event_s = events / rate
    unit_s = n_local * steps * measured.unit_s
    per_window_events = events / windows
    # the slowest of p ranks: Poisson fluctuation of a rank's events in a window, its expected
    # maximum over p ranks about sqrt(2 ln p) standard deviations above the mean
    spread = math.sqrt(2 * math.log(p)) / math.sqrt(max(per_window_events, 1.0)) if p > 1 else 0.0
    imbalance = event_s * spread
    a2a = alltoall_time(p, measured, cluster)
    spikes_window = n_local * net.rate_hz * net.window_steps * net.dt_ms * 1e-3
    q = 1.0 - (1.0 - 1.0 / p) ** net.k if p > 1 else 0.0
    messages = spikes_window * ranks_reached(net.k, p)
    peers = (p - 1) * (1.0 - math.exp(-spikes_window * q)) if p > 1 else 0.0
    rank_bytes = MESSAGE_BYTES * messages
    across = p > cluster.ranks_per_node
    if p > 1:
        if across:
            leaving = (p - cluster.ranks_per_node) / (p - 1)
            node_bytes = cluster.ranks_per_node * rank_bytes * leaving
            p2p_bw = node_bytes / cluster.node_bandwidth
            p2p_lat = cluster.alpha_net_s
        else:
            p2p_bw = rank_bytes * measured.per_byte_s
            p2p_lat = measured.shm_latency_s
        p2p_peer = peers_time(peers, measured)
    else:
        p2p_bw = p2p_lat = p2p_peer = 0.0
    # a received message is a row lookup in the kernel: costed as one more event (assumption)
    rows_s = windows * messages / rate
    terms = {
        "events": event_s, "units": unit_s, "rows": rows_s, "imbalance": imbalance,
        "a2a_software": windows * a2a["software"], "a2a_latency": windows * a2a["latency"],
        "a2a_bytes": windows * a2a["bytes"],
        "p2p_latency": windows * p2p_lat if messages > 0 else 0.0,
        "p2p_peers": windows * p2p_peer, "p2p_bytes": windows * p2p_bw,
    }
    total = sum(terms.values())
    return {**terms, "total": total, "rtf": total, "per_step_s": total / steps, "peers": peers,
            "messages_per_window": messages, "bytes_per_window": rank_bytes,
            "events_per_window": per_window_events, "a2a_rounds": a2a["rounds"],
            "compute": event_s + unit_s + rows_s + imbalance,
            "exchange": total - event_s - unit_s - rows_s - imbalance, "events_rate": rate}


def node_ranks_model(net: Network, cores: int, measured: Measured, cluster: Cluster
                     ) -> dict[str, float]:
    """What-if: one MPI rank per node, its cores run as shared-memory workers (nmgraph's multicore
    backend inside the node): the compute of ``cores`` ranks, the exchange of ``cores /
    ranks_per_node`` ranks (fewer peers, fewer rounds; the node's bytes unchanged; none on one
    node), plus a synchronisation inside the node per window costed as the measured software of
    one exchange (``alone_s``). Not something nmgraph does today."""
    per_core = step_model(net, cores, measured, cluster)
    nodes = max(1, cores // cluster.ranks_per_node)
    windows = 1000.0 / net.dt_ms / net.window_steps
    exchange = windows * measured.alone_s           # the synchronisation inside the node
    if nodes > 1:
        exchange += step_model(net, nodes, measured, replace(cluster, ranks_per_node=1))["exchange"]
    total = per_core["compute"] + exchange
    return {"total": total, "rtf": total, "compute": per_core["compute"], "exchange": exchange}


def fits(net: Network, p: int, measured: Measured, cluster: Cluster) -> dict[str, Any]:
    """Memory verdicts: per rank, and per node with ``min(p, ranks_per_node)`` ranks on it."""
    mem = memory_per_rank(net, p, measured)
    on_node = min(p, cluster.ranks_per_node)
    return {**mem, "fits_24gib_rank": mem["total"] <= 24 * GIB,
            "fits_node": mem["total"] * on_node <= cluster.node_memory,
            "ranks_per_node_max": int(cluster.node_memory // mem["total"]) if mem["total"] else 0}


# -- report ------------------------------------------------------------------------------------

def _fmt_s(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.3g} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} us"


#: False with ``--flat-rate``: every rank computes at the measured rate, whatever its size.
CACHE_MODEL = [True]


def _net(n: int, k: int, rate_hz: float, window: int = 1) -> Network:
    return Network(n=n, k=k, rate_hz=rate_hz, window_steps=window, cache=CACHE_MODEL[0])


def report(measured: Measured, cluster: Cluster, k: int, rate_hz: float,
           windows: tuple[int, ...]) -> tuple[str, dict[str, Any]]:
    lines: list[str] = []
    data: dict[str, Any] = {"strong": [], "weak": []}
    lines += ["## Measured inputs", "",
              f"- MPI library: {measured.mpi_library}; exchange figures: the {measured.basis} of "
              f"the repeats (1-minute load average {measured.loadavg:.2f})",
              f"- empty exchange (exchange_counts, counts 0, P = 2): {_fmt_s(measured.empty_exchange_s)}"
              f" (median {_fmt_s(measured.exchange_rows[0]['median'])})",
              f"- exchange_counts on a 1-rank communicator (software alone): "
              f"{_fmt_s(measured.raw['alone_s'][measured.basis])} (median "
              f"{_fmt_s(measured.raw['alone_s']['median'])})",
              f"- bare Ialltoall + Testall (P = 2): {_fmt_s(measured.bare_ialltoall_s)} (median "
              f"{_fmt_s(measured.raw['bare_ialltoall_s']['median'])}); the empty exchange less "
              f"this: {_fmt_s(measured.empty_exchange_s - measured.bare_ialltoall_s)}",
              f"- 8-byte ping-pong, half round trip (shared memory): {_fmt_s(measured.shm_latency_s)}"
              f" (median {_fmt_s(measured.raw['shm_latency_s']['median'])})",
              f"- per byte of spike messages (slope, shared memory): {measured.per_byte_s * 1e9:.3g} ns/B"
              f" ({1 / measured.per_byte_s / 1e9:.3g} GB/s)",
              f"- MPIExchange._point_to_point with one peer (P = 2): {_fmt_s(measured.real_pair_s)}"
              f" (median {_fmt_s(measured.raw['real_pair_s']['median'])}); the same pair posted by "
              f"the benchmark: {_fmt_s(measured.peer_rows[0][measured.basis])}",
              f"- per extra peer (one Isend/Irecv pair, slope up to 16 pairs): "
              f"{_fmt_s(measured.per_peer_s)}; a window with 1024 pairs: "
              f"{_fmt_s(peers_time(1024, measured))}",
              f"- synaptic events per second, 1 core (net of unit updates): "
              f"{measured.events_per_s / 1e6:.1f}M ({measured.compute_note})",
              f"- unit update (a neuron and its drive unit) per step: {measured.unit_s * 1e9:.2f} ns",
              f"- Executable bytes per synapse (every rank holds all): "
              f"{measured.exe_bytes_per_synapse:.2f}"]
    for row in measured.program_rows:
        lines.append(f"- rank 0's program on {row['ranks']} ranks: {row['bytes'] / 2**20:.1f} MiB, "
                     f"{row['bytes_per_synapse']:.2f} B per synapse held (model "
                     f"{row['model_bytes'] / 2**20:.1f} MiB)")
    lines += ["", "Exchange rows (P = 2; median / best of the repeats): " + ", ".join(
        f"{r['messages']} msg {_fmt_s(r['median'])} / {_fmt_s(r['best'])}"
        for r in measured.exchange_rows),
        "Peer pairs in one window (P = 2; median / best): " + ", ".join(
        f"{r['pairs']} pairs {_fmt_s(r['median'])} / {_fmt_s(r['best'])}"
        for r in measured.peer_rows),
        "Of which posting the requests (rank 0, median window; the rest is the wait): " + ", ".join(
        f"{r['pairs']} pairs {_fmt_s(r['posting'])} ({_fmt_s(r['posting'] / r['pairs'])} a pair)"
        for r in measured.peer_rows), ""]
    lines += [f"## Cluster assumed: latency {cluster.alpha_net_s * 1e6:.2g} us between nodes, "
              f"{cluster.node_bandwidth / 1e9:.3g} GB/s per node, {cluster.ranks_per_node} ranks "
              f"per node, {cluster.node_memory / 1e9:.0f} GB per node", ""]
    for window in windows:
        lines += [f"## Strong scaling, K = {k}, {rate_hz:g} Hz, window {window} step(s) "
                  f"(dt = 1 ms): wall-clock seconds per simulated second (real-time factor)", "",
                  "| N | P | RTF | compute | a2a | p2p | peers | msgs/window | GiB/rank | 24 GiB |"
                  " node fit | speed-up | eff. |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---:|"]
        for n in SIZES:
            net = _net(n, k, rate_hz, window)
            base = step_model(net, 1, measured, cluster)["total"]
            best = None
            for p in RANKS:
                m = step_model(net, p, measured, cluster)
                f = fits(net, p, measured, cluster)
                a2a = m["a2a_software"] + m["a2a_latency"] + m["a2a_bytes"]
                p2p = m["p2p_latency"] + m["p2p_peers"] + m["p2p_bytes"]
                speed = base / m["total"]
                fit = "yes" if f["fits_node"] else f"no (<= {f['ranks_per_node_max']}/node)"
                lines.append(f"| {n:,} | {p} | {m['rtf']:.3g} | {m['compute']:.3g} | {a2a:.3g} | "
                             f"{p2p:.3g} | {m['peers']:.0f} | {m['messages_per_window']:.3g} | "
                             f"{f['total'] / GIB:.3g} | {'yes' if f['fits_24gib_rank'] else 'no'} | "
                             f"{fit} | {speed:.3g} | {speed / p:.2f} |")
                data["strong"].append({"n": n, "k": k, "window": window, "p": p, **m, **f})
                if best is None or m["total"] < best[1]:
                    best = (p, m["total"])
            lines.append(f"| {n:,} | fastest at P = {best[0]} | {best[1]:.3g} | | | | | | | | | | |")
        lines.append("")
    lines += ["## What-ifs (window 1 step unless said; RTF)", "",
              "| N | P | as modelled | window 2 | window 4 | one MPI rank per node | "
              "GiB/rank, Executable sliced |", "|---:|---:|---:|---:|---:|---:|---:|"]
    for n in SIZES:
        for p in (128, 1024):
            base = step_model(_net(n, k, rate_hz), p, measured, cluster)["rtf"]
            w2 = step_model(_net(n, k, rate_hz, 2), p, measured, cluster)["rtf"]
            w4 = step_model(_net(n, k, rate_hz, 4), p, measured, cluster)["rtf"]
            hier = node_ranks_model(_net(n, k, rate_hz), p, measured, cluster)["rtf"]
            sliced = program_bytes(n, k, p, 1) / GIB
            lines.append(f"| {n:,} | {p} | {base:.3g} | {w2:.3g} | {w4:.3g} | {hier:.3g} | "
                         f"{sliced:.3g} |")
    lines.append("")
    for per_rank in (10_000, 100_000):
        lines += [f"## Weak scaling, {per_rank:,} neurons per rank, K = {k}, window 1 step", "",
                  "| P | N | RTF | compute | exchange | GiB/rank | node fit |",
                  "|---:|---:|---:|---:|---:|---:|---|"]
        for p in RANKS:
            net = _net(per_rank * p, k, rate_hz)
            m = step_model(net, p, measured, cluster)
            f = fits(net, p, measured, cluster)
            lines.append(f"| {p} | {net.n:,} | {m['rtf']:.3g} | {m['compute']:.3g} | "
                         f"{m['exchange'] if m['exchange'] > 1e-9 else 0:.3g} | {f['total'] / GIB:.3g} | "
                         f"{'yes' if f['fits_node'] else 'no'} |")
            data["weak"].append({"per_rank": per_rank, "p": p, "n": net.n, **m, **f})
        lines.append("")
    return "\n".join(lines), data


def plot(measured: Measured, cluster: Cluster, k: int, rate_hz: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(17, 6))
    ranks = np.array(RANKS)
    colours = {80_000: "tab:blue", 1_000_000: "tab:orange", 10_000_000: "tab:green"}
    ax = axes[0]
    for n in SIZES:
        for window, style in ((1, "-"), (2, "--")):
            net = _net(n, k, rate_hz, window)
            rtf = np.array([step_model(net, p, measured, cluster)["rtf"] for p in ranks])
            ok = np.array([fits(net, p, measured, cluster)["fits_node"] for p in ranks])
            label = f"N = {n:,}" + (" (window 2 ms)" if window == 2 else "")
            ax.plot(ranks, rtf, style, color=colours[n], label=label)
            if window == 1:
                ax.plot(ranks[ok], rtf[ok], "o", color=colours[n], ms=5)
                ax.plot(ranks[~ok], rtf[~ok], "x", color=colours[n], ms=7)
        compute = np.array([step_model(_net(n, k, rate_hz), 1, measured,
                                       cluster)["compute"] / p for p in ranks])
        ax.plot(ranks, compute, ":", color=colours[n], lw=1)
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.text(1.1, 1.1, "real time", color="grey", fontsize=8)
    cores, rtf, label = NEST_MICROCIRCUIT
    ax.plot([cores], [rtf], "*", color="black", ms=12)
    several = ranks[ranks >= cluster.ranks_per_node // 2]
    hier = [node_ranks_model(_net(1_000_000, k, rate_hz), p, measured, cluster)["rtf"]
            for p in several]
    ax.plot(several, hier, "-.", color="tab:orange", lw=1,
            label="N = 1,000,000, what-if: one MPI rank per node")
    ax.annotate(label, (cores, rtf), textcoords="offset points", xytext=(-120, -75), fontsize=6.5,
                arrowprops={"arrowstyle": "-", "lw": 0.5})
    ax.set(xscale="log", yscale="log", xlabel="MPI ranks P (one per core)",
           ylabel="wall-clock s per simulated s (RTF)",
           title=f"(a) strong scaling: Brunel K = {k}, {rate_hz:g} Hz, dt = 1 ms")
    ax.set_xticks(ranks, [str(p) for p in ranks], fontsize=8)
    ax.legend(fontsize=7, loc="lower left")
    ax.text(0.98, 0.98, "o fits a 256 GB node at 128 ranks/node\nx does not\n"
            ": compute / P (no exchange)", transform=ax.transAxes, ha="right", va="top",
            fontsize=7)
    # (b) where the time goes at N = 1M, window 1 step
    ax = axes[1]
    net = _net(1_000_000, k, rate_hz)
    parts = [("events", ["events"]), ("unit updates", ["units"]),
             ("rows of received messages", ["rows"]), ("imbalance", ["imbalance"]),
             ("Ialltoall: software", ["a2a_software"]), ("Ialltoall: rounds", ["a2a_latency",
                                                                              "a2a_bytes"]),
             ("p2p: per peer", ["p2p_peers"]), ("p2p: latency + bytes", ["p2p_latency",
                                                                          "p2p_bytes"])]
    models = [step_model(net, p, measured, cluster) for p in ranks]
    bottom = np.zeros(ranks.size)
    for (label, keys), colour in zip(parts, plt.cm.tab10.colors):
        values = np.array([sum(m[key] for key in keys) for m in models])
        ax.bar(np.arange(ranks.size), values / np.array([m["total"] for m in models]),
               bottom=bottom, color=colour, label=label)
        bottom += values / np.array([m["total"] for m in models])
    ax.set_xticks(np.arange(ranks.size), [str(p) for p in ranks], fontsize=8)
    ax.set(xlabel="MPI ranks P", ylabel="share of the time per simulated second",
           title="(b) where the time goes: N = 1,000,000, window 1 step", ylim=(0, 1))
    ax.legend(fontsize=7, loc="center left", framealpha=0.9)
    # (c) weak scaling, with NEST's published points
    ax = axes[2]
    for per_rank, colour in ((10_000, "tab:purple"), (100_000, "tab:brown")):
        for window, style in ((1, "-"), (2, "--")):
            rtf, ok = [], []
            for p in ranks:
                net = _net(per_rank * p, k, rate_hz, window)
                rtf.append(step_model(net, p, measured, cluster)["rtf"])
                ok.append(fits(net, p, measured, cluster)["fits_node"])
            rtf_a, ok_a = np.array(rtf), np.array(ok)
            ax.plot(ranks, rtf_a, style, color=colour,
                    label=f"nmgraph model, {per_rank:,} neurons/rank" +
                    (" (window 2 ms)" if window == 2 else ""))
            if window == 1:
                ax.plot(ranks[ok_a], rtf_a[ok_a], "o", color=colour, ms=5)
                ax.plot(ranks[~ok_a], rtf_a[~ok_a], "x", color=colour, ms=7)
    for label, cores, neurons, synapses, rtf, _ in NEST_POINTS:
        ax.plot([cores], [rtf / 1.0], "*", color="black", ms=12)
        ax.annotate(f"{label}\n{neurons:.3g} neurons, {synapses / neurons:,.0f} syn/neuron,\n"
                    f"{neurons / cores:,.0f} neurons/core, RTF {rtf:,.0f}",
                    (cores, rtf), textcoords="offset points", xytext=(-250, -60), fontsize=7,
                    arrowprops={"arrowstyle": "-", "lw": 0.5})
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set(xscale="log", yscale="log", xlabel="cores (nmgraph: one rank per core)",
           ylabel="wall-clock s per simulated s (RTF)",
           title=f"(c) weak scaling: K = {k}, window 1 and 2 ms")
    ax.legend(fontsize=7, loc="lower right")
    for ax in axes:
        ax.title.set_fontsize(10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)


def collect(args: argparse.Namespace) -> Measured:
    measured = Measured()
    start = time.perf_counter()
    ex = measure_exchange(args.windows, args.repeats)
    rows, basis = ex["rows"], args.basis
    measured.basis = basis
    measured.exchange_rows, measured.peer_rows = rows, ex["peer_rows"]
    measured.empty_exchange_s = rows[0][basis]
    measured.per_byte_s = max(_slope([r["bytes"] for r in rows], [r[basis] for r in rows]), 1e-12)
    # the slope over the few-peer rows (Testall over many requests grows faster than linearly)
    few = [r for r in ex["peer_rows"] if r["pairs"] <= 16]
    measured.per_peer_s = max(_slope([r["pairs"] for r in few], [r[basis] for r in few]), 0.0)
    measured.bare_ialltoall_s = ex["bare_ialltoall_s"][basis]
    measured.shm_latency_s = ex["shm_latency_s"][basis]
    measured.mpi_library = ex["library"]
    measured.loadavg = ex["loadavg"]
    measured.alone_s = ex["alone_s"][basis]
    measured.real_pair_s = ex["real_pair_s"][basis]
    measured.raw = ex
    print(f"exchange measured in {time.perf_counter() - start:.1f} s", flush=True)
    given = bool(args.events_per_s and args.unit_ns)
    start = time.perf_counter()
    n, k = args.compute_size
    compute = measure_compute(n, k, args.compute_steps, args.repeats, timed=not given)
    if given:
        measured.events_per_s, measured.unit_s = args.events_per_s, args.unit_ns * 1e-9
        measured.compute_note = "given by flag"
    else:
        measured.events_per_s, measured.unit_s = compute["events_per_s"], compute["unit_s"]
        measured.compute_note = (f"brunel({n}, {k}), 1 multicore worker, median of "
                                 f"{args.repeats} x {args.compute_steps} steps, "
                                 f"{compute['rate_hz']:.2f} Hz; gross "
                                 f"{compute['events_per_s_gross'] / 1e6:.1f}M events/s")
    measured.exe_bytes_per_synapse = compute["memory"]["exe_bytes_per_synapse"]
    measured.program_rows = compute["memory"]["program"]
    print(f"compute and memory measured in {time.perf_counter() - start:.1f} s", flush=True)
    return measured


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--windows", type=int, default=4000,
                        help="windows per timed run of the exchange (default 4000)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per figure (median)")
    parser.add_argument("--events-per-s", type=float, default=None,
                        help="synaptic events/s of one core (with --unit-ns: skip the measurement "
                             "of the compute rate; bytes per synapse are still measured)")
    parser.add_argument("--unit-ns", type=float, default=None,
                        help="ns per neuron (with its drive unit) per step")
    parser.add_argument("--compute-size", default="20000:400",
                        help="N:K of the Brunel network that measures the compute rate")
    parser.add_argument("--compute-steps", type=int, default=1000,
                        help="timed steps of each compute measurement (default 1000)")
    parser.add_argument("--k", type=int, default=400, help="in-degree of the modelled networks")
    parser.add_argument("--rate-hz", type=float, default=10.0)
    parser.add_argument("--latency-us", type=float, default=Cluster.alpha_net_s * 1e6,
                        help="MPI latency between nodes (default 1.5 us, InfiniBand HDR)")
    parser.add_argument("--node-gbs", type=float, default=Cluster.node_bandwidth / 1e9,
                        help="GB/s per node link (default 25: HDR 200 Gb/s)")
    parser.add_argument("--ranks-per-node", type=int, default=Cluster.ranks_per_node)
    parser.add_argument("--node-gb", type=float, default=Cluster.node_memory / 1e9)
    parser.add_argument("--basis", choices=("best", "median"), default="best",
                        help="which of the repeats of an exchange figure the model uses (default "
                             "best: the least disturbed by other work on a shared machine)")
    parser.add_argument("--flat-rate", action="store_true",
                        help="every rank computes at the measured events rate (no cache model)")
    parser.add_argument("--plot", default="docs/img/mpi-scaling.png")
    parser.add_argument("--json", default=None, help="write the inputs and every modelled point")
    args = parser.parse_args(argv)
    if args.case == "exchange":
        _case_exchange(args.windows, args.repeats)
        return
    n, k = (int(x) for x in args.compute_size.split(":"))
    args.compute_size = (n, k)
    CACHE_MODEL[0] = not args.flat_rate
    measured = collect(args)
    cluster = replace(Cluster(), alpha_net_s=args.latency_us * 1e-6,
                      node_bandwidth=args.node_gbs * 1e9, ranks_per_node=args.ranks_per_node,
                      node_memory=args.node_gb * 1e9)
    text, data = report(measured, cluster, args.k, args.rate_hz, windows=(1, 2))
    print(text)
    path = REPO_ROOT / args.plot
    plot(measured, cluster, args.k, args.rate_hz, path)
    print(f"plot: {path}")
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"measured": asdict(measured), "cluster": asdict(cluster),
                                   **data}, indent=1, default=float))


if __name__ == "__main__":
    main()
