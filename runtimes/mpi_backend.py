"""The ``mpi`` backend inside an SPMD job: ``mpiexec -n 4 python my_script.py``.

Every rank runs the same script. ``nm.Runtime(exe, backend="mpi")`` in each rank finds the
communicator (``MPI.COMM_WORLD`` unless ``comm=`` is given), checks that every rank holds the
same Executable, places the cores onto the ranks (rank 0 computes the placement, the others
receive it) and runs its own cores in process with the worker loop of the multi-core runtime,
exchanging spikes with the other ranks once per window.

Every call of the Runtime is collective, as MPI calls are: the ranks must make the same calls in
the same order (an ordinary script does). A call first checks that every rank makes it (the ranks
wait for each other there without a time limit, logging a warning each minute, since one rank
may legitimately be busy, say plotting, before it calls), then runs the rank's part and gathers
every rank's reply to every rank: the spikes, recordings and counters of a run are read on any
rank. A rank that raises makes every rank raise the same :class:`~nmgraph.core.errors.WorkerError`
naming it and its cores, keeping the spikes up to the last step all ranks finished; a rank stuck
inside a run makes the others raise after the watchdog limit. A rank that dies ends the job
(``mpiexec`` stops the other ranks).
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import traceback
from typing import Any

import numpy as np

from nmgraph.compilers.executable import Executable
from nmgraph.core.errors import SimulationError, WorkerError
from nmgraph.runtimes.multicore import MulticoreBackend
from nmgraph.runtimes.rank_placement import RankPlacement, assign_ranks
from nmgraph.runtimes.results import Counters
from nmgraph.runtimes.transport import ABORT_TIMEOUT, BarrierAborted
from nmgraph.runtimes.transport_mpi import wait_requests

__all__ = ["MPIBackend", "RankResults", "mpi_world"]

log = logging.getLogger("nmgraph.mpi")

#: Seconds between the warnings of a rank that waits for the others to make the same call.
ENTRY_WARNING_S = 60.0


def mpi_world() -> Any:
    """``MPI.COMM_WORLD``, with an error that says how to install MPI when mpi4py is missing."""
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise SimulationError("the mpi backend needs mpi4py and an MPI library: pip install "
                              "'nmgraph[mpi]' (mpi4py with MPICH from PyPI, mpiexec included)"
                              ) from exc
    return MPI.COMM_WORLD


class RankResults:
    """What the two MPI backends add to the multicore host's bookkeeping: ranks named with their
    pid, host and cores; the traffic between ranks; the placement report."""

    placement: RankPlacement
    _infos: list[dict[str, Any]]
    _traffic: list[dict[str, Any]]

    def _describe(self, rank: int) -> str:
        info = self._infos[rank] if rank < len(getattr(self, "_infos", [])) else {}
        cores = np.flatnonzero(self.placement.core_rank == rank)
        shown = ", ".join(map(str, cores[:12])) + (", ..." if cores.size > 12 else "")
        where = f"pid {info['pid']} on {info['host']}, " if info else ""
        return f"rank {rank} ({where}cores {shown})"

    def _holder(self, name: str) -> int:
        for rank, info in enumerate(self._infos):
            if name in info["plastic"]:
                return rank
        return -1

    def _absorb(self, replies: list[dict[str, Any]], steps: int) -> None:
        super()._absorb(replies, steps)   # type: ignore[misc]
        if all("traffic" in reply for reply in replies):
            self._traffic = [reply["traffic"] for reply in replies]

    def rank_traffic(self) -> dict[str, np.ndarray]:
        """``messages[s, d]`` and ``bytes[s, d]`` rank ``s`` sent rank ``d`` since the runtime
        started (spike messages; bytes include each window's counts), and ``windows``."""
        n = self.placement.n_ranks
        messages = np.zeros((n, n), dtype=np.int64)
        sent = np.zeros((n, n), dtype=np.int64)
        windows = 0
        for rank, traffic in enumerate(getattr(self, "_traffic", [])):
            messages[rank], sent[rank] = traffic["sent_messages"], traffic["sent_bytes"]
            windows = max(windows, int(traffic["windows"]))
        return {"messages": messages, "bytes": sent, "windows": windows}

    def counters(self) -> Counters:
        counters = super().counters()   # type: ignore[misc]
        traffic = self.rank_traffic()
        counters.messages_ranks = int(traffic["messages"].sum())
        counters.bytes_ranks = int(traffic["bytes"].sum())
        return counters

    def load_state(self, state: Any) -> None:
        super().load_state(state)   # type: ignore[misc]
        self._traffic_t0 = self.t   # type: ignore[attr-defined]   # traffic counts from here

    def report(self) -> str:
        """The placement onto ranks, then the traffic measured between them (per step run by
        this runtime: a restored run's earlier steps had their own)."""
        traffic = self.rank_traffic()
        run = self.t - getattr(self, "_traffic_t0", 0)   # type: ignore[attr-defined]
        steps = max(run, 1)
        lines = [self.placement.to_markdown(), "",
                 f"Measured over the {run} steps this runtime ran ({traffic['windows']} "
                 f"exchanges, window {self.window} steps):", "",   # type: ignore[attr-defined]
                 "| rank | messages/step out | bytes/step out | bytes/step in |",
                 "|---:|---:|---:|---:|"]
        for r in range(self.placement.n_ranks):
            lines.append(f"| {r} | {traffic['messages'][r].sum() / steps:.4g} | "
                         f"{traffic['bytes'][r].sum() / steps:.4g} | "
                         f"{traffic['bytes'][:, r].sum() / steps:.4g} |")
        return "\n".join(lines)


class _RankRecords:
    """A log record factory that puts the rank in every record of nmgraph's loggers made in this
    process (``record.rank``, and a ``[rank r]`` prefix on the message). A factory, not a filter:
    a logger's filters do not see the records of its children (``nmgraph.mpi``, ...)."""

    def __init__(self, rank: int) -> None:
        self.rank = rank
        self.previous = logging.getLogRecordFactory()
        logging.setLogRecordFactory(self)

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.previous(*args, **kwargs)
        if record.name.startswith("nmgraph") and not hasattr(record, "rank"):
            record.rank = self.rank
            record.msg = f"[rank {self.rank}] {record.msg}"
        return record

    def remove(self) -> None:
        if logging.getLogRecordFactory() is self:
            logging.setLogRecordFactory(self.previous)


class MPIBackend(RankResults, MulticoreBackend):
    """Runs this rank's cores of ``exe`` in an SPMD job (see the module docstring).

    Parameters
    ----------
    exe
        The Executable, the same on every rank (checked by digest).
    comm
        The communicator of the ranks (default ``MPI.COMM_WORLD``).
    progress
        A bar during runs, drawn by rank 0 only.
    watchdog_s
        Seconds a rank may wait inside a run for the others (default: as the multicore backend,
        from the largest rank's work per window).
    """

    name = "mpi"

    def __init__(self, exe: Executable, comm: Any = None, progress: Any = None,
                 watchdog_s: float | None = None) -> None:
        from nmgraph.runtimes.mpi_rank import rank_info, rank_setup
        from nmgraph.runtimes.worker import WorkerLoop

        world = mpi_world() if comm is None else comm
        self.comm = world.Dup()
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self._init_results(exe, progress if self.rank == 0 else False)
        placement = assign_ranks(exe, self.size) if self.rank == 0 else None
        self.placement = self.comm.bcast(placement, root=0)
        setup = rank_setup(exe, self.placement.core_rank, self.comm, watchdog_s)
        self.n_workers = self.size
        self.window, self.watchdog_s = setup.window, setup.watchdog_s
        self.transport = setup.transport
        self._beats = np.zeros(self.size, dtype=np.int64)
        self.loop = WorkerLoop(setup.program, setup.transport, None,
                               self._beats[self.rank:self.rank + 1])
        self._infos = self.comm.allgather(rank_info(setup))
        self._traffic = []
        self._records = _RankRecords(self.rank)
        log.info("mpi runtime: %d cores on %d ranks (%s placement), window %d steps",
                 exe.n_cores, self.size, self.placement.strategy, self.window)

    # -- collectives -------------------------------------------------------------------------------
    def _allgather(self, obj: Any, what: str, timeout: float | None) -> list[Any]:
        """``obj`` of every rank, on every rank. ``timeout`` None: wait as long as it takes,
        warning every ``ENTRY_WARNING_S``."""
        from mpi4py import MPI

        data = np.frombuffer(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL), dtype=np.uint8)
        sizes = np.zeros(self.size, dtype=np.int64)
        self._wait([self.comm.Iallgather(np.array([data.size], dtype=np.int64), sizes)], what,
                   timeout)
        displs = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
        buffer = np.empty(max(int(sizes.sum()), 1), dtype=np.uint8)
        self._wait([self.comm.Iallgatherv(data, [buffer, (sizes, displs), MPI.BYTE])], what,
                   timeout)
        # our own ranks' replies, made by this same code (never a file's content)
        return [pickle.loads(buffer[d:d + n].tobytes()) for d, n in zip(displs, sizes)]

    def _wait(self, requests: list[Any], what: str, timeout: float | None) -> None:
        waited = 0.0
        while True:
            try:
                wait_requests(requests, ENTRY_WARNING_S if timeout is None else timeout, what)
                return
            except BarrierAborted as exc:
                if timeout is not None or exc.code != ABORT_TIMEOUT:
                    raise
                waited += ENTRY_WARNING_S
                log.warning("rank %d has waited %.0f s for %s: in an SPMD script every rank "
                            "must make the same Runtime calls in the same order", self.rank,
                            waited, what)

    def _call(self, command: tuple, ranks: list[int] | None = None) -> list[Any]:
        """Run ``command`` on ``ranks`` (default all) and gather the replies to every rank."""
        if self._failed is not None:
            raise SimulationError(f"this mpi runtime stopped after a failure: {self._failed}")
        op = command[0]
        # the operation and a digest of its arguments: run(10) on one rank and run(20) on
        # another is an error too, not a wait
        call = (op, hashlib.blake2b(pickle.dumps(command[1:]), digest_size=8).hexdigest())
        calls = self._allgather(call, f"the other ranks to call '{op}'", None)
        if any(other != call for other in calls):
            listed = ", ".join(f"rank {r}: {other[0]!r}" + (" (other arguments)" if
                               other[0] == op and other != call else "")
                               for r, other in enumerate(calls))
            self._failed = "the ranks made different calls"
            raise SimulationError(f"the ranks made different Runtime calls ({listed}): in an "
                                  f"SPMD script every rank must make the same calls with the same "
                                  f"arguments in the same order")
        ranks = list(range(self.size)) if ranks is None else ranks
        status, payload = "ok", None
        if self.rank in ranks:
            try:
                payload = getattr(self.loop, f"do_{op}")(*command[1:])
            except BarrierAborted as exc:
                status, payload = "aborted", {"message": str(exc),
                                              "partial": self.loop._partial(op)}
            except KeyboardInterrupt:
                self._failed = "interrupted (Ctrl-C)"
                if op == "run":
                    self.transport.abort()
                raise
            except Exception:
                if op == "run":   # release the other ranks from the window's exchange
                    self.transport.abort()
                status, payload = "error", {"message": traceback.format_exc(),
                                            "partial": self.loop._partial(op)}
        timeout = self.watchdog_s if op == "run" else None
        try:
            statuses = self._allgather((status, payload), f"the other ranks' replies to '{op}'",
                                       timeout)
        except BarrierAborted as exc:   # a rank is stuck (or stopped) inside the run
            mine = f"; this rank: {payload['message']}" if status != "ok" else ""
            message = (f"{self._describe(self.rank)} gave up on the other ranks: {exc} (a rank "
                       f"is stuck or stopped; watchdog limit {self.watchdog_s:.1f} s{mine})")
            self._fail(message, 0)
            raise WorkerError(message) from None
        replies: dict[int, Any] = {}
        partials: dict[int, Any] = {}
        cause = consequence = None
        for r in ranks:
            state, data = statuses[r]
            if state == "ok":
                replies[r] = data
                continue
            partials[r] = data.get("partial")
            if state == "aborted":
                consequence = consequence or f"{self._describe(r)} stopped: {data['message']}"
            else:
                cause = cause or f"{self._describe(r)} failed:\n{data['message']}"
        message = cause or consequence
        if message is not None:
            self._keep_partial(ranks, partials, replies)
            self._fail(message, 0)
            raise WorkerError(message)
        return [replies[r] for r in ranks]

    def _fail(self, message: str, code: int) -> None:
        self._failed = message.splitlines()[0]
        log.error("mpi runtime failed: %s", message)

    def barrier(self) -> None:
        """Wait until every rank gets here."""
        self._allgather(None, "the other ranks at a barrier", None)

    def write_once(self, write: Any) -> Any:
        """Run ``write()`` on rank 0 only (one file for the job), then return its result on every
        rank, or raise its error on every rank."""
        result, error = None, None
        if self.rank == 0:
            try:
                result = write()
            except Exception as exc:
                error = exc
        result, error = self.comm.bcast((result, error), root=0)
        if error is not None:
            raise error
        return result

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._records.remove()
        if self._failed is None:
            self.transport.close()
            self.comm.Free()
