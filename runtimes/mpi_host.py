"""The ``mpi`` backend driven from one Python session: ``nm.Runtime(exe, backend="mpi", ranks=4)``.

The host (a notebook, a script, the CLI) writes the Executable and the placement of its cores onto
ranks to a private folder, starts ``mpiexec -n RANKS python -m nmgraph.runtimes.mpi_rank ...``
in a session of its own, and waits for every rank to connect back over loopback TCP (twice: one
connection for commands and replies, one for progress and log records; both authenticated with a
random key passed in the environment). From then on it drives the ranks exactly as the multicore
backend drives its forked workers: the same commands, the same replies, the same supervision.

Failures end in bounded time, with everything stopped:

* a rank that raises reports its traceback and releases the other ranks from the window's
  exchange; the host raises :class:`~nmgraph.core.errors.WorkerError` naming the rank, its pid and
  its cores, keeping the spikes up to the last step every rank finished;
* a rank that dies closes its connection; ``mpiexec`` reports which rank died and how (its
  report is quoted) and stops the others;
* a rank that makes no progress for the watchdog limit is named as stuck;
* Ctrl-C in the host, an error, ``close()`` and the garbage collection of the Runtime end the job:
  ``stop`` to every rank, then SIGTERM and SIGKILL to the job's process group. A rank whose host
  disappears exits on its own (its connection closes).

The ranks' output goes to the host's standard output, line by line; their log records of the
``nmgraph`` loggers are handled by the host's loggers, with ``record.rank`` set and the message
prefixed ``[rank r]``.
"""

from __future__ import annotations

import collections
import ctypes
import json
import logging
import multiprocessing.connection
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from nmgraph.compilers.executable import Executable
from nmgraph.compilers.executable_io import save_executable
from nmgraph.core.errors import SimulationError
from nmgraph.core.models import model_named
from nmgraph.runtimes.mpi_backend import RankResults
from nmgraph.runtimes.mpi_rank import AUTHKEY_VARIABLE, executable_digest
from nmgraph.runtimes.multicore import (
    STOP_GRACE_S,
    MulticoreBackend,
    _process_state,
    send_stop,
)
from nmgraph.runtimes.rank_placement import assign_ranks

__all__ = ["MPIHostBackend", "find_mpiexec", "model_modules"]

log = logging.getLogger("nmgraph.mpi")

#: Seconds the ranks have to start, connect and build their programs.
START_TIMEOUT_S = 120.0
#: Lines of the job's output kept for error messages.
OUTPUT_LINES = 60
_PR_SET_PDEATHSIG = 1


def find_mpiexec(explicit: str | None = None) -> str:
    """The ``mpiexec`` to start ranks with: ``explicit``, else ``$NMGRAPH_MPIEXEC``, else the one
    installed beside this Python (the ``mpich`` wheel puts it there), else the first on PATH."""
    candidates = [explicit, os.environ.get("NMGRAPH_MPIEXEC"),
                  str(Path(sys.executable).with_name("mpiexec")), shutil.which("mpiexec")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK) and Path(candidate).is_file():
            return candidate
    raise SimulationError("no mpiexec found to start MPI ranks: pip install 'nmgraph[mpi]' "
                          "(MPICH from PyPI ships one), or pass mpiexec= / set NMGRAPH_MPIEXEC")


class _RankProcess:
    """A rank's process as the host sees it (by pid: ranks are children of mpiexec, not ours)."""

    def __init__(self, pid: int, conn: Any) -> None:
        self.pid = pid
        self.sentinel = conn        # a dead rank's connection becomes readable (EOF)
        self.exitcode = None

    def is_alive(self) -> bool:
        return _process_state(self.pid) not in ("?", "Z", "X")

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def join(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout or 0.0)
        while self.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)


class MPIHostBackend(RankResults, MulticoreBackend):
    """Starts ``ranks`` MPI ranks with ``mpiexec`` and drives them (see the module docstring).

    Parameters
    ----------
    exe
        The compiled network.
    ranks
        Number of MPI ranks (some may hold no core when the network has fewer cores).
    progress, watchdog_s
        As for the multicore backend.
    mpiexec
        The launcher (default: :func:`find_mpiexec`).
    mpiexec_args
        Extra arguments for it, before ``-n`` (for example ``["-hosts", "a,b"]`` is *not*
        supported: the host reaches its ranks over loopback).
    """

    name = "mpi"

    def __init__(self, exe: Executable, ranks: int, progress: Any = None,
                 watchdog_s: float | None = None, mpiexec: str | None = None,
                 mpiexec_args: list[str] | None = None) -> None:
        self._init_results(exe, progress)
        self.n_workers = int(ranks)
        self.placement = assign_ranks(exe, self.n_workers)
        self.transport = None   # the host takes no part in the exchange
        self._beats = np.zeros(self.n_workers, dtype=np.int64)
        self._traffic = []
        self._infos: list[dict[str, Any]] = []
        self._output: collections.deque[str] = collections.deque(maxlen=OUTPUT_LINES)
        self.conns: list[Any] = []
        self.procs: list[_RankProcess] = []
        self._sides: list[Any] = []
        self._job: subprocess.Popen | None = None
        self._folder = Path(tempfile.mkdtemp(prefix="nmgraph-mpi-"))
        #: MPICH's shared-memory segments of the ranks (they go at MPI_Finalize; a killed
        #: job leaves them behind, so the host unlinks them once the job has ended)
        self._segments: list[str] = []
        self._finalizer = weakref.finalize(self, _end_job, None, [], self._folder)
        try:
            self._launch(find_mpiexec(mpiexec), list(mpiexec_args or []), watchdog_s)
        except BaseException:
            self._shutdown(kill=True)
            raise
        self._finalizer.detach()
        self._finalizer = weakref.finalize(self, _end_job, self._job, list(self.procs),
                                           self._folder, self._segments)
        self.window = int(self._infos[0]["window"])
        self.watchdog_s = float(self._infos[0]["watchdog_s"])
        log.info("mpi runtime: %d cores on %d ranks (%s placement), window %d steps",
                 exe.n_cores, self.n_workers, self.placement.strategy, self.window)

    # -- starting the job --------------------------------------------------------------------------
    def _launch(self, mpiexec: str, extra: list[str], watchdog_s: float | None) -> None:
        modules = model_modules(self.exe)
        save_executable(self.exe, self._folder / "executable.nmx")
        np.save(self._folder / "core_rank.npy", self.placement.core_rank)
        (self._folder / "modules.json").write_text(json.dumps(modules))
        digest = executable_digest(self.exe)
        key = secrets.token_bytes(32)
        # every rank connects twice at about the same time: a backlog for all of them (the
        # default of 1 drops connections, which TCP then retries for minutes)
        listener = multiprocessing.connection.Listener(("127.0.0.1", 0), authkey=key,
                                                       backlog=2 * self.n_workers + 8)
        host, port = listener.address
        env = dict(os.environ)
        env[AUTHKEY_VARIABLE] = key.hex()
        # the ranks import what this process can (user models' modules): its path first
        paths = [p for p in sys.path if p and os.path.isdir(p)]
        extra_paths = env.get("PYTHONPATH", "").split(os.pathsep)
        env["PYTHONPATH"] = os.pathsep.join(p for p in dict.fromkeys(paths + extra_paths) if p)
        command = [mpiexec, *extra, "-n", str(self.n_workers), sys.executable, "-m",
                   "nmgraph.runtimes.mpi_rank", str(self._folder), host, str(port),
                   "none" if watchdog_s is None else repr(float(watchdog_s))]
        self._job = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     start_new_session=True, preexec_fn=_die_with_host)
        # the threads get what they use, not the backend: a dropped Runtime is still collected
        threading.Thread(target=_pump_output, args=(self._job, self._output),
                         name="nmgraph-mpi-output", daemon=True).start()
        accepted: dict[tuple[str, int], Any] = {}
        facts: dict[int, dict[str, Any]] = {}   # each rank's pid and shared-memory segments
        failures: list[BaseException] = []
        expected = 2 * self.n_workers

        def accept() -> None:
            try:
                while len(accepted) < expected:
                    conn = listener.accept()
                    if conn.poll(START_TIMEOUT_S):
                        message = conn.recv()   # ("control", rank, facts) or ("side", rank)
                        accepted[(message[0], int(message[1]))] = conn
                        if len(message) > 2:
                            facts[int(message[1])] = message[2]
            except BaseException as exc:   # the listener closed: the start failed
                failures.append(exc)

        thread = threading.Thread(target=accept, name="nmgraph-mpi-accept", daemon=True)
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        try:
            while thread.is_alive():
                thread.join(0.05)
                if self._job.poll() is not None:
                    raise SimulationError(f"mpiexec ended (code {self._job.returncode}) before "
                                          f"its {self.n_workers} ranks connected:\n"
                                          f"{self._output_tail()}")
                if time.monotonic() > deadline:
                    raise SimulationError(f"the {self.n_workers} MPI ranks did not connect "
                                          f"within {START_TIMEOUT_S:.0f} s:\n{self._output_tail()}")
        finally:
            listener.close()
            for rank, known in sorted(facts.items()):   # known now: cleaned up on any path
                self._segments.extend(name for name in known.get("segments", [])
                                      if name not in self._segments)
                self.procs.append(_RankProcess(int(known["pid"]),
                                               accepted.get(("control", rank))))
        self.conns = [accepted[("control", r)] for r in range(self.n_workers)]
        self._sides = [accepted[("side", r)] for r in range(self.n_workers)]
        infos = self._hellos(deadline)
        for rank, info in enumerate(infos):
            if info["digest"] != digest:
                raise SimulationError(f"MPI rank {rank} loaded a different Executable (digest "
                                      f"{info['digest']}, host {digest})")
        self._infos = infos
        threading.Thread(target=_serve_sides, args=(list(self._sides), self._beats),
                         name="nmgraph-mpi-side", daemon=True).start()

    def _hellos(self, deadline: float) -> list[dict[str, Any]]:
        """Every rank's description once it has built its program; the first rank that fails
        to start (it reports its traceback, or its connection closes) is named."""
        pending = {conn: rank for rank, conn in enumerate(self.conns)}
        infos: dict[int, dict[str, Any]] = {}
        while pending:
            if time.monotonic() > deadline:
                raise SimulationError(f"MPI ranks {sorted(pending.values())} did not finish "
                                      f"starting within {START_TIMEOUT_S:.0f} s:\n"
                                      f"{self._output_tail()}")
            for conn in multiprocessing.connection.wait(list(pending), timeout=0.05):
                rank = pending.pop(conn)
                try:
                    kind, info = conn.recv()
                except (EOFError, OSError):
                    time.sleep(0.2)   # let mpiexec say what happened
                    raise SimulationError(f"MPI rank {rank} ended while starting:\n"
                                          f"{self._output_tail()}") from None
                if kind != "hello":
                    raise SimulationError(f"MPI rank {rank} failed to start:\n{info}")
                infos[rank] = info
        return [infos[rank] for rank in range(self.n_workers)]

    def _output_tail(self, lines: int = 20) -> str:
        tail = list(self._output)[-lines:]
        return "\n".join(tail) if tail else "(mpiexec printed nothing)"

    # -- what differs from forked workers ------------------------------------------------------------
    def _death_message(self, rank: int, cause: object = None) -> str:
        """Name the rank that died and how, from mpiexec's report when it has printed one."""
        pids = {proc.pid: r for r, proc in enumerate(self.procs)}
        deadline = time.monotonic() + 1.0
        found = None
        while time.monotonic() < deadline:
            found = _job_report(list(self._output), pids)
            if found is not None or (self._job is not None and self._job.poll() is not None):
                break
            time.sleep(0.05)
        if found is None:
            found = _job_report(list(self._output), pids)
        if found is not None:
            rank, how = found
        else:
            how = f"its connection closed ({cause})" if cause else "its connection closed"
        return f"{self._describe(rank)} died during the run: {how}"

    def _shutdown(self, kill: bool = False) -> None:
        if not kill:
            send_stop(self.conns)
            if self._job is not None:
                try:
                    self._job.wait(STOP_GRACE_S + 2.0)
                except subprocess.TimeoutExpired:
                    pass
        _end_job(self._job, self.procs, None, self._segments)
        for conn in [*self.conns, *self._sides]:
            conn.close()
        self.conns, self._sides = [], []
        shutil.rmtree(self._folder, ignore_errors=True)

    def close(self) -> None:
        if self._closed:
            return
        try:
            self._shutdown(kill=self._failed is not None)
        except BaseException:
            self._shutdown(kill=True)
            raise
        finally:
            if self._job is None or self._job.poll() is not None:
                self._closed = True
                self._finalizer.detach()


def _pump_output(job: subprocess.Popen, output: collections.deque) -> None:
    """The job's output, line by line, to the host's stdout (and kept for error messages)."""
    for raw in iter(job.stdout.readline, b""):
        line = raw.decode(errors="replace")
        output.append(line.rstrip("\n"))
        try:
            sys.stdout.write(line)
            sys.stdout.flush()
        except (OSError, ValueError):
            pass


def _serve_sides(connections: list[Any], beats: np.ndarray) -> None:
    """Progress and log records from the ranks (a thread; ends with the connections)."""
    sides = {conn: rank for rank, conn in enumerate(connections)}
    while sides:
        try:
            ready = multiprocessing.connection.wait(list(sides), timeout=0.5)
        except OSError:
            return
        for conn in ready:
            rank = sides[conn]
            try:
                kind, data = conn.recv()
            except (EOFError, OSError):
                del sides[conn]
                continue
            if kind == "beat":
                beats[rank] = data
            elif kind == "log":
                _emit(data)


def model_modules(exe: Executable) -> list[str]:
    """The modules that register the models of ``exe``'s populations, for ranks to import.

    Raises
    ------
    SimulationError
        For a model defined in ``__main__`` (a script or a notebook): ranks started from here
        cannot import it.
    """
    modules = []
    for pop in exe.ir.populations:
        module = type(model_named(pop.model)).__module__
        if module == "__main__":
            raise SimulationError(
                f"the model of {pop.process_type} '{pop.name}' ({pop.model!r}) is defined in "
                f"__main__ (this script or notebook): MPI ranks started with ranks= cannot "
                f"import it; move the process and its model into a module on the Python path, "
                f"or run the script itself under mpiexec (backend='mpi' without ranks=)")
        modules.append(module)
    return sorted(set(modules))


def _emit(data: dict[str, Any]) -> None:
    """Handle a rank's log record with the host's loggers."""
    record = logging.makeLogRecord({
        "name": data.get("name", "nmgraph"), "levelno": data.get("levelno", logging.INFO),
        "levelname": data.get("levelname", "INFO"), "created": data.get("created", time.time()),
        "msg": f"[rank {data.get('rank')}] {data.get('msg', '')}", "args": None,
        "exc_text": data.get("exc_text"), "rank": data.get("rank")})
    logger = logging.getLogger(record.name)
    if logger.isEnabledFor(record.levelno):
        logger.handle(record)


_REPORT = re.compile(r"(?:RANK \d+ )?PID (\d+) RUNNING AT \S+[\s=]*(KILLED BY SIGNAL: \d+ "
                     r"\([^)]*\)|EXIT STATUS: \d+|EXIT CODE: \d+)")


def _job_report(lines: list[str], pids: dict[int, int]) -> tuple[int, str] | None:
    """``(rank, how it ended)`` from mpiexec's report of a bad termination, if printed; the
    rank is found by its pid (``pids``: pid -> rank)."""
    for match in _REPORT.finditer("\n".join(lines)):
        rank = pids.get(int(match.group(1)))
        if rank is not None:
            return rank, f"mpiexec reports {match.group(2).lower()}"
    return None


def _die_with_host() -> None:
    """In the mpiexec child before exec: SIGKILL when the host dies."""
    try:
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _end_job(job: subprocess.Popen | None, procs: list[_RankProcess], folder: Path | None,
             segments: list[str] = ()) -> None:
    """SIGTERM then SIGKILL to the job's process group and its ranks; reap mpiexec; unlink the
    MPI library's shared-memory ``segments`` the ranks left (none after a clean finish)."""
    if job is not None and job.poll() is None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(job.pid, sig)
            except (ProcessLookupError, PermissionError):
                break
            try:
                job.wait(1.0)
                break
            except subprocess.TimeoutExpired:
                continue
    for proc in procs:
        if proc.is_alive():
            proc.kill()
    for proc in procs:
        proc.join(1.0)
    if job is not None:
        try:
            job.wait(1.0)
        except subprocess.TimeoutExpired:
            pass
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
    if (job is None or job.poll() is not None) and not any(proc.is_alive() for proc in procs):
        for name in segments:
            try:
                os.unlink(name)
            except OSError:
                pass
