"""One MPI rank of the ``mpi`` backend: its program, its transport, and the rank's main.

Every rank runs the worker loop of the multi-core runtime (``worker.py``) on the cores placed on it
(``rank_placement.py``), with the MPI exchange (``transport_mpi.py``). :func:`rank_setup` builds
that in any rank; it is collective (the window and the watchdog limit are agreed over the
communicator). Two ways use it:

* an SPMD script under ``mpiexec``: ``mpi_backend.MPIBackend`` in each rank;
* a host (a notebook, a script) that started the ranks itself (``mpi_host.MPIHostBackend``): each
  rank runs :func:`main` (``python -m nmgraph.runtimes.mpi_rank FOLDER HOST PORT WATCHDOG``), loads
  the Executable and the placement the host wrote to ``FOLDER``, connects back to the host twice
  (commands; progress and log records) with the key in ``NMGRAPH_MPI_AUTHKEY``, and serves the
  host's commands as a forked worker serves its pipe.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import socket
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nmgraph.compilers.executable import Executable
from nmgraph.compilers.executable_io import executable_payload
from nmgraph.core.errors import SimulationError
from nmgraph.runtimes.multicore_program import (
    WorkerProgram,
    build_programs,
    mailbox_capacity,
    window_length,
)
from nmgraph.runtimes.transport_mpi import MPITransport

__all__ = ["AUTHKEY_VARIABLE", "RankSetup", "executable_digest", "main", "rank_setup"]

log = logging.getLogger("nmgraph.mpi")

#: Environment variable holding the host's connection key (hex) for the ranks it starts.
AUTHKEY_VARIABLE = "NMGRAPH_MPI_AUTHKEY"
#: Seconds between two progress messages of a rank to its host.
BEAT_S = 0.2


def executable_digest(exe: Executable) -> str:
    """A digest of everything in ``exe`` that a run depends on (its document and its arrays, as
    saved; not the version of nmgraph nor the compiler's timings), so that ranks can check they
    run the same Executable."""
    document, members = executable_payload(exe)
    document = {key: value for key, value in document.items() if key != "nmgraph"}
    # how long each compiler pass took differs from one compile to the next
    document["options"] = {key: value for key, value in document["options"].items()
                           if key != "timings_s"}
    digest = hashlib.blake2b(digest_size=16)
    digest.update(json.dumps(document, sort_keys=True, default=_plain).encode())
    for name, array in members:
        array = np.ascontiguousarray(array)
        digest.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
        digest.update(array.view(np.uint8).reshape(-1).data if array.size else b"")
    return digest.hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


@dataclass
class RankSetup:
    """What one rank runs: its program, its transport and the parameters agreed by all."""

    program: WorkerProgram
    transport: MPITransport
    window: int
    watchdog_s: float
    digest: str


def rank_setup(exe: Executable, core_rank: np.ndarray, comm: Any, watchdog_s: float | None,
               timeout_factor: float = 1.0) -> RankSetup:
    """Build this rank's program and transport (collective over ``comm``).

    Checks that every rank holds the same Executable (digests compared) and the same placement;
    the window is the smallest over the ranks, the watchdog limit the largest. The exchange's
    waits time out after ``timeout_factor`` times the watchdog limit. A rank that fails to build
    its program makes every rank raise, naming it.
    """
    from mpi4py import MPI

    from nmgraph.runtimes.multicore import watchdog_limit

    rank, size = comm.Get_rank(), comm.Get_size()
    digest = executable_digest(exe)
    core_rank = np.asarray(core_rank)
    placement = hashlib.blake2b(np.ascontiguousarray(core_rank, dtype=np.int64).tobytes(),
                                digest_size=16).hexdigest()
    seen = comm.allgather((digest, placement))
    differ = [r for r, pair in enumerate(seen) if pair != seen[0]]
    if differ:
        what = "Executable" if seen[differ[0]][0] != seen[0][0] else "placement of cores"
        raise SimulationError(
            f"MPI ranks {differ} hold a different {what} than rank 0 (digest "
            f"{seen[differ[0]][0]} vs {seen[0][0]}): every rank must build or load the same "
            f"Executable (same network, options and seed, or the same file)")
    if core_rank.shape != (exe.n_cores,) or core_rank.dtype.kind not in "iu" or (
            core_rank.size and (core_rank.min() < 0 or core_rank.max() >= size)):
        raise SimulationError(f"a placement of {exe.n_cores} cores onto {size} ranks needs one "
                              f"rank in 0..{size - 1} per core (got {core_rank.shape} "
                              f"{core_rank.dtype})")
    program, failure = None, None
    try:
        program = build_programs(exe, core_rank.astype(np.int64), only=rank, n_workers=size)[0]
        window = window_length([program])
        limit = watchdog_limit([program], window) if watchdog_s is None else float(watchdog_s)
    except Exception:
        failure, window, limit = traceback.format_exc(), 0, 0.0
    failures = comm.allgather(failure)
    if any(failures):
        r = next(r for r, text in enumerate(failures) if text)
        raise SimulationError(f"MPI rank {r} could not build its program:\n{failures[r]}")
    window = comm.allreduce(window, op=MPI.MIN)
    limit = comm.allreduce(limit, op=MPI.MAX)
    out_cap, in_cap = mailbox_capacity(program, window)
    transport = MPITransport(comm, out_cap, in_cap, timeout=timeout_factor * limit)
    log.debug("rank %d of %d: %d cores, %d units, window %d steps", rank, size,
              program.cores.size, program.n_units, window)
    return RankSetup(program, transport, window, limit, digest)


def rank_info(setup: RankSetup) -> dict[str, Any]:
    """What the host learns of a rank when it connects."""
    program = setup.program
    return {"rank": setup.transport.rank, "size": setup.transport.size, "pid": os.getpid(),
            "host": socket.gethostname(), "digest": setup.digest, "window": setup.window,
            "watchdog_s": setup.watchdog_s, "cores": program.cores,
            "plastic": [] if program.plastic is None else
            [block.name for block in program.plastic.projections]}


def _shared_segments() -> list[str]:
    """The files under /dev/shm this process has mapped (the MPI library's shared memory)."""
    try:
        with open("/proc/self/maps", encoding="ascii", errors="replace") as maps:
            paths = {line.split(maxsplit=5)[-1].strip() for line in maps if "/dev/shm/" in line}
    except OSError:
        return []
    return sorted(path for path in paths if path.startswith("/dev/shm/mpich_shm_")
                  and not path.endswith("(deleted)"))


class RankLogHandler(logging.Handler):
    """Sends this rank's log records to the host (as plain dicts, the message formatted)."""

    def __init__(self, side: Any, lock: threading.Lock, rank: int) -> None:
        super().__init__()
        # not ``self.lock``: that is the Handler's own lock, held around emit()
        self.side, self.send_lock, self.rank = side, lock, rank

    def emit(self, record: logging.LogRecord) -> None:
        try:
            data = {"name": record.name, "levelno": record.levelno, "levelname": record.levelname,
                    "msg": record.getMessage(), "created": record.created, "rank": self.rank,
                    "exc_text": self.format(record) if record.exc_info else None}
            with self.send_lock:
                self.side.send(("log", data))
        except Exception:   # the host is gone: the watcher ends this process
            pass


def _side_channel(side: Any, lock: threading.Lock, beat: np.ndarray) -> None:
    """Send the steps done every ``BEAT_S`` seconds while they change; end the process when the
    host is gone (its connection closes), so that no rank outlives it."""
    def watch() -> None:
        sent = -1
        while True:
            try:
                if side.poll(BEAT_S):   # the host never writes here: readable means closed
                    side.recv()
                done = int(beat[0])
                if done != sent:
                    with lock:
                        side.send(("beat", done))
                    sent = done
            except (EOFError, OSError):
                os._exit(3)

    threading.Thread(target=watch, name="nmgraph-rank-side", daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    """A rank started by a host (see the module docstring)."""
    from multiprocessing.connection import Client

    from nmgraph.compilers.executable_io import load_executable
    from nmgraph.runtimes.worker import WorkerLoop

    args = sys.argv[1:] if argv is None else argv
    folder, host, port, watchdog = Path(args[0]), args[1], int(args[2]), args[3]
    authkey = bytes.fromhex(os.environ.get(AUTHKEY_VARIABLE, ""))
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    # each connection says what it is at once: the host reads that before it accepts the next
    conn = Client((host, port), authkey=authkey)
    # the host learns at once what to clean up should anything fail from here on
    conn.send(("control", rank, {"pid": os.getpid(), "segments": _shared_segments()}))
    side = Client((host, port), authkey=authkey)
    side.send(("side", rank))
    lock = threading.Lock()
    beat = np.zeros(1, dtype=np.int64)
    _side_channel(side, lock, beat)
    handler = RankLogHandler(side, lock, rank)
    logger = logging.getLogger("nmgraph")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    code = 0
    setup: RankSetup | None = None
    try:
        for module in json.loads((folder / "modules.json").read_text()):
            importlib.import_module(module)   # registers the models the Executable names
        exe = load_executable(folder / "executable.nmx")
        core_rank = np.load(folder / "core_rank.npy", allow_pickle=False)
        setup = rank_setup(exe, core_rank, comm, None if watchdog == "none" else float(watchdog),
                           timeout_factor=2.0)
        conn.send(("hello", rank_info(setup)))
        loop = WorkerLoop(setup.program, setup.transport, conn, beat)
        loop.serve()
    except BaseException as exc:
        code = 1
        from nmgraph.runtimes.worker import reported

        if not reported(exc):
            try:
                conn.send(("error", traceback.format_exc()))
            except (OSError, ValueError):
                pass
        # stay until the host has gathered the other ranks' reports (it then ends the job)
        transport = None if setup is None else setup.transport
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            if transport is not None:
                transport.progress()
            try:
                if conn.poll(0.01):
                    conn.recv()
            except (EOFError, OSError):
                break
    if code == 0:
        conn.close()
        MPI.Finalize()
    os._exit(code)


if __name__ == "__main__":
    main()
