"""``nmgraph run FILE``: run an Executable, continue a snapshot, or compile and run a network.

FILE is one of

* an Executable file (``exe.save``, ``.nmx``): run as compiled;
* a snapshot (``rt.snapshot``, ``.nms``): continued from the step it was taken at;
* a MODEL as ``nmgraph map`` takes it (a saved network, a NIR file with ``--dt``, or
  ``FILE.py:FUNCTION``): compiled with ``--hw`` (default: generic) and the other mapping options,
  then run.

nmgraph's own files are zip archives whose JSON document names their format; :func:`file_kind`
reads that name and the loaders of each format then read (and check) the whole file.

On ``--backend mpi`` without ``--ranks`` the command is one rank of an ``mpiexec`` job (every rank
runs it, SPMD): every rank makes the same Runtime calls, and only rank 0 prints and writes files.
"""

from __future__ import annotations

import argparse
import json
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nmgraph.core.errors import NmgraphError
from nmgraph.tools import cli

__all__ = ["EXECUTABLE", "MODEL", "SNAPSHOT", "add_arguments", "file_kind", "run",
           "spike_arrays"]

#: The kinds of FILE (:func:`file_kind`).
EXECUTABLE, SNAPSHOT, MODEL = "executable", "snapshot", "model"

#: Steps run when --steps is not given.
DEFAULT_STEPS = 1000
#: Processes listed in the printed summary (the --report lists all).
SUMMARY_PROCESSES = 20

_FILE_HELP = ("an Executable file (exe.save, .nmx: runs as compiled), a snapshot "
              "(rt.snapshot, .nms: continues from its step) or a MODEL as 'nmgraph map' takes "
              "it, compiled with --hw and the mapping options: " + cli._MODEL_HELP)
_SPIKES_HELP = ("write the spikes to this .npz file (numpy.savez, plain int64 arrays, no pickle): "
                "for each process NAME (its qualified name, 'parent/child' inside a hierarchical "
                "process; sources included), 'NAME.times' holds the step of each spike (counted "
                "from 1; multiply by the network's dt for ms) and 'NAME.indices' the unit (flat, "
                "C order), sorted by time then unit; a continued snapshot's spikes start at step 1 "
                "of the original run. Read with d = numpy.load(PATH); d['exc.times']")
#: Options that choose how a network is compiled (refused for an Executable or a snapshot).
_COMPILE_OPTIONS = {"hw": "--hw", "partition": "--partition", "place": "--place",
                    "seed": "--seed", "max_neurons_per_core": "--max-neurons-per-core",
                    "dt": "--dt", "quantize": "--quantize", "reset": "--reset"}


# -- arguments --------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    from nmgraph.compilers.hardware import DEFAULT_PROFILE
    from nmgraph.compilers.partition import STRATEGIES as PARTITIONS
    from nmgraph.compilers.place import STRATEGIES as PLACEMENTS
    from nmgraph.runtimes.registry import BACKENDS

    parser.add_argument("file", metavar="FILE", help=_FILE_HELP)
    parser.add_argument("--steps", type=cli._positive_int, default=DEFAULT_STEPS, metavar="N",
                        help=f"steps to run, each the network's dt (default: {DEFAULT_STEPS})")
    parser.add_argument("--backend", choices=sorted(BACKENDS), default=None,
                        help="runtime to run on (default: multicore; mpi with --ranks). mpi "
                             "without --ranks: this command is one rank of an mpiexec job "
                             "(mpiexec -n 4 nmgraph run ...), and rank 0 prints and writes")
    parser.add_argument("--workers", type=cli._positive_int, default=None, metavar="N",
                        help="worker processes of the multicore backend (default: 2)")
    parser.add_argument("--ranks", type=cli._positive_int, default=None, metavar="N",
                        help="run on the mpi backend with N ranks this command starts with "
                             "mpiexec")
    group = parser.add_argument_group(
        "compiling a network (MODEL files only: an Executable or a snapshot runs as compiled)")
    group.add_argument("--hw", default=None, metavar="PROFILE",
                       help=f"hardware profile: a built-in name, NAME:SYSTEM or a .toml/.json "
                            f"file (default: {DEFAULT_PROFILE}; 'nmgraph hw' lists them)")
    group.add_argument("--partition", choices=PARTITIONS, default=None,
                       help="partitioning strategy (default: greedy)")
    group.add_argument("--place", choices=PLACEMENTS, default=None,
                       help="placement strategy (default: linear)")
    group.add_argument("--seed", type=cli._non_negative_int, default=None,
                       help="seed of mincut and traffic placement (default: 0)")
    group.add_argument("--max-neurons-per-core", type=cli._positive_int, default=None,
                       metavar="N", help="cap the neurons per core below the profile's limit")
    cli._nir_arguments(group)
    outputs = parser.add_argument_group("outputs")
    outputs.add_argument("--snapshot", type=Path, default=None, metavar="NMS",
                         help="save the whole state at the end (continue it with 'nmgraph run "
                              "NMS'; .nms added when there is no suffix; on mpi, written once)")
    outputs.add_argument("--spikes", type=Path, default=None, metavar="NPZ", help=_SPIKES_HELP)
    outputs.add_argument("--report", type=Path, default=None, metavar="MD",
                         help="write the summary, every process, the counters and (mpi) the "
                              "ranks' placement and traffic as markdown")
    cli._progress_argument(parser, "the run and the compiler passes")


# -- what FILE is -------------------------------------------------------------------------------------
def file_kind(spec: str) -> str:
    """What FILE ``spec`` names: :data:`EXECUTABLE`, :data:`SNAPSHOT` or :data:`MODEL` (a saved
    network, a NIR file, ``FILE.py:FUNCTION``); an :class:`NmgraphError` when it names none."""
    from nmgraph.compilers.executable_io import FORMAT as EXECUTABLE_FORMAT
    from nmgraph.core.io import FORMAT as NETWORK_FORMAT
    from nmgraph.runtimes.snapshot import FORMAT as SNAPSHOT_FORMAT

    path_text, colon, _ = spec.rpartition(":")
    if (colon and path_text.endswith(".py")) or spec.endswith(".py"):
        return MODEL   # load_model imports it, or says what is missing
    path = Path(spec)
    if not path.exists():
        raise NmgraphError(f"FILE {spec}: no such file")
    if path.is_dir():
        raise NmgraphError(f"FILE {spec}: is a folder, not a file")
    if cli.is_nir_file(spec):
        return MODEL
    found = archive_format(path)
    kinds = {EXECUTABLE_FORMAT: EXECUTABLE, SNAPSHOT_FORMAT: SNAPSHOT, NETWORK_FORMAT: MODEL}
    if found in kinds:
        return kinds[found]
    what = (f"a zip archive whose document names the format {found!r}" if isinstance(found, str)
            else "not a file nmgraph writes")
    raise NmgraphError(f"FILE {spec}: {what}; nmgraph run takes an Executable (exe.save, .nmx), "
                       f"a snapshot (rt.snapshot, .nms), a saved network (net.save, .nmg), a NIR file "
                       f"(.nir, with --dt) or FILE.py:FUNCTION")


def archive_format(path: Path) -> Any:
    """The ``format`` named by the document of the nmgraph archive at ``path`` (networks keep
    it in ``structure.json``, Executables and snapshots in ``document.json``), or None when
    ``path`` is no such archive. Only the name is read here: the loader of that format reads
    and checks the whole file."""
    from nmgraph.core.archive import MAX_DOCUMENT_BYTES
    from nmgraph.core.io import _STRUCTURE

    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            for member in ("document.json", _STRUCTURE):
                if member in names and archive.getinfo(member).file_size <= MAX_DOCUMENT_BYTES:
                    document = json.loads(archive.read(member).decode("utf-8"))
                    return document.get("format") if isinstance(document, dict) else None
    except (OSError, EOFError, ValueError, RecursionError, NotImplementedError,
            zipfile.BadZipFile):
        return None
    return None


# -- the command ------------------------------------------------------------------------------------
@dataclass
class _Run:
    """What one ``nmgraph run`` did, for its summary and report."""

    source: str                       # what FILE was, in words
    backend: str                      # the backend and its processes, in words
    t0: int
    t1: int
    dt_ms: float
    start_s: float
    wall_s: float
    rows: list[tuple[str, str, int, int, float]] = field(default_factory=list)
    counters: dict[str, int | None] = field(default_factory=dict)
    totals: dict[str, int | None] = field(default_factory=dict)
    rank_report: str | None = None
    outputs: list[str] = field(default_factory=list)


def run(args: argparse.Namespace) -> int:
    backend = _backend(args)
    for option in ("snapshot", "spikes", "report"):
        path = getattr(args, option)
        if path is not None:
            cli._check_output_dir(path, f"--{option}")
    kind = file_kind(args.file)
    if kind != MODEL:
        given = [flag for name, flag in _COMPILE_OPTIONS.items()
                 if getattr(args, name) is not None]
        if given:
            what = "an Executable" if kind == EXECUTABLE else "a snapshot"
            raise NmgraphError(f"FILE {args.file} is {what}: it runs as it was compiled, so "
                               f"{', '.join(given)} do{'es' if len(given) == 1 else ''} not "
                               f"apply (they compile a network: give the saved network or "
                               f"FILE.py:FUNCTION instead)")
    root = True
    if backend == "mpi" and args.ranks is None:
        # one rank of an mpiexec job: every rank makes the same calls, rank 0 prints and writes
        from nmgraph.runtimes.mpi_backend import mpi_world

        root = mpi_world().Get_rank() == 0
    progress = cli._progress(args) if root else False
    started = time.perf_counter()
    rt, how = _open_runtime(args, kind, backend, progress)
    with rt:
        result, events = _run(rt, args.steps, how, time.perf_counter() - started)
        if args.snapshot is not None:
            try:
                written = rt.snapshot(args.snapshot)   # collective on mpi, written once
            except OSError as error:
                raise NmgraphError(f"--snapshot {args.snapshot}: cannot be written ({error})"
                                   ) from error
            result.outputs.append(f"snapshot  {written}  (continue: nmgraph run {written} "
                                  f"--steps N)")
    if not root:
        return cli.EXIT_OK
    if args.spikes is not None:
        _write(args.spikes, "--spikes", lambda handle: np.savez(handle, **spike_arrays(events)))
        result.outputs.append(f"spikes    {args.spikes}  ({len(events)} processes: NAME.times, "
                              f"NAME.indices)")
    if args.report is not None:
        result.outputs.append(f"report    {args.report}")
    summary = _summary(result)
    if args.report is not None:
        text = _report(result).encode("utf-8")
        _write(args.report, "--report", lambda handle: handle.write(text))
    print("\n".join(summary))
    return cli.EXIT_OK


def _backend(args: argparse.Namespace) -> str:
    """The backend to run on: --backend, mpi with --ranks, else multicore."""
    if args.ranks is not None:
        if args.backend not in (None, "mpi"):
            raise NmgraphError(f"--ranks {args.ranks} runs on the mpi backend, not --backend "
                               f"{args.backend}: drop --backend or give --backend mpi")
        return "mpi"
    return args.backend or "multicore"


def _open_runtime(args: argparse.Namespace, kind: str, backend: str, progress: Any
                  ) -> tuple[Any, str]:
    """The Runtime that runs FILE, and what FILE was, in words."""
    import nmgraph as nm
    from nmgraph.compilers.executable import Executable

    options: dict[str, Any] = {"progress": progress}
    if args.ranks is not None:
        options["ranks"] = args.ranks
    if kind == SNAPSHOT:
        rt = nm.Runtime.restore(args.file, backend=backend, workers=args.workers, **options)
        return rt, f"snapshot {args.file} taken at step {rt.t:,}"
    if kind == EXECUTABLE:
        exe = Executable.load(args.file)
        how = f"Executable {args.file}"
    else:
        net = cli.load_model(args.file, **cli._nir_options(args))
        compile_options = {name: getattr(args, name) for name in
                           ("partition", "place", "seed", "max_neurons_per_core")
                           if getattr(args, name) is not None}
        if args.hw is not None:
            compile_options["hardware"] = args.hw
        exe = nm.compile(net, progress=progress, **compile_options)
        how = f"{args.file}, compiled"
    return nm.Runtime(exe, backend=backend, workers=args.workers, **options), how


def _run(rt: Any, steps: int, how: str, start_s: float) -> tuple[_Run, dict[str, Any]]:
    """Run ``steps`` steps; what ran, and the spikes of every process since step 0."""
    exe = rt.executable
    source = (f"'{rt.ir.name}' from {how}: {exe.n_cores:,} cores of {exe.profile.name}, "
              f"{exe.partition.strategy}/{exe.placement.strategy}")
    before, t0 = rt.counters, rt.t
    began = time.perf_counter()
    rt.run(steps)
    wall_s = time.perf_counter() - began
    after = rt.counters
    events = {pop.name: rt.spikes(pop.name) for pop in rt.ir.populations}
    result = _Run(source=source, backend=_describe_backend(rt), t0=t0, t1=rt.t,
                  dt_ms=rt.dt_ms, start_s=start_s, wall_s=wall_s,
                  counters=_difference(after, before), totals=_counter_values(after),
                  rank_report=_rank_report(rt))
    seconds = (result.t1 - t0) * rt.dt_ms * 1e-3
    for pop in rt.ir.populations:
        count = int(np.count_nonzero(events[pop.name].times > t0))
        rate = count / (pop.size * seconds) if pop.size and seconds > 0 else 0.0
        result.rows.append((pop.name, "source" if pop.is_source else "neuron", pop.size, count,
                            rate))
    return result, events


def _write(path: Path, option: str, write: Any) -> None:
    try:
        with open(path, "wb") as handle:
            write(handle)
    except OSError as error:
        raise NmgraphError(f"{option} {path}: cannot be written ({error})") from error


def spike_arrays(events: dict[str, Any]) -> dict[str, np.ndarray]:
    """The arrays ``--spikes`` saves: ``NAME.times`` and ``NAME.indices`` (int64) of each
    process's :class:`~nmgraph.runtimes.results.SpikeEvents`."""
    arrays: dict[str, np.ndarray] = {}
    for name, spikes in events.items():
        arrays[f"{name}.times"] = np.asarray(spikes.times, dtype=np.int64)
        arrays[f"{name}.indices"] = np.asarray(spikes.indices, dtype=np.int64)
    return arrays


# -- what ran -----------------------------------------------------------------------------------------
_COUNTERS = ("synaptic_ops", "neuron_updates", "spikes", "synaptic_updates", "messages",
             "messages_core", "messages_cores", "messages_chips", "hops", "messages_workers",
             "messages_ranks", "bytes_ranks")


def _counter_values(counters: Any) -> dict[str, int | None]:
    return {name: getattr(counters, name) for name in _COUNTERS}


def _difference(after: Any, before: Any) -> dict[str, int | None]:
    """The counters of this run: ``after - before`` (a restored snapshot starts from its
    counters; the traffic between ranks is counted from the start of this runtime)."""
    values = {}
    for name in _COUNTERS:
        a, b = getattr(after, name), getattr(before, name)
        values[name] = None if a is None else a - (b or 0)
    return values


def _describe_backend(rt: Any) -> str:
    backend = rt.backend
    if rt.backend_name == "multicore":
        n = backend.n_workers
        return f"multicore, {n} worker{'s' if n != 1 else ''}"
    if rt.backend_name == "mpi":
        if hasattr(backend, "rank"):
            return f"mpi, {backend.size} ranks of this mpiexec job"
        return f"mpi, {backend.n_workers} ranks started by this command"
    return f"{rt.backend_name}, one process"


def _rank_report(rt: Any) -> str | None:
    report = getattr(rt.backend, "report", None)
    return report() if rt.backend_name == "mpi" and callable(report) else None


def _number(value: int | None) -> str:
    return "not counted" if value is None else f"{value:,}"


def _summary(result: _Run, ranks: bool = True) -> list[str]:
    """The lines ``nmgraph run`` prints; ``ranks``: with the mpi backend's rank report."""
    steps = result.t1 - result.t0
    simulated_s = steps * result.dt_ms * 1e-3
    speed = (f"{steps / result.wall_s:,.0f} steps/s, {simulated_s / result.wall_s:.3g}x real "
             f"time" if result.wall_s > 0 else "too fast to time")
    lines = [f"network   {result.source}",
             f"backend   {result.backend}; {result.start_s:.2f} s to load, compile and start",
             f"run       {steps:,} steps of {result.dt_ms:g} ms (t {result.t0:,} -> "
             f"{result.t1:,}), {result.wall_s:.3g} s wall, {speed}",
             ""]
    shown = result.rows[:SUMMARY_PROCESSES]
    width = max([len("process"), *(len(row[0]) for row in shown)]) + 2
    lines.append(f"{'process':<{width}}{'units':>8} {'spikes':>10} {'rate (Hz)':>10}")
    for name, _, units, count, rate in shown:
        lines.append(f"{name:<{width}}{units:>8,} {count:>10,} {rate:>10.2f}")
    if len(result.rows) > SUMMARY_PROCESSES:
        lines.append(f"... {len(result.rows) - SUMMARY_PROCESSES} more processes"
                     + (" (in the report)" if any(o.startswith("report") for o in result.outputs)
                        else " (--report lists them all)"))
    counters = result.counters
    lines.append("")
    lines.append(f"work      {_number(counters['synaptic_ops'])} synaptic ops, "
                 f"{_number(counters['neuron_updates'])} neuron updates, "
                 f"{_number(counters['spikes'])} spikes"
                 + (f", {counters['synaptic_updates']:,} synaptic updates"
                    if counters["synaptic_updates"] else ""))
    if counters["messages"] is None:
        lines.append("traffic   spike messages not counted by this backend")
    else:
        lines.append(f"traffic   {counters['messages']:,} spike messages "
                     f"({_number(counters['messages_cores'])} between cores, "
                     f"{_number(counters['messages_chips'])} between chips), "
                     f"{_number(counters['hops'])} hops"
                     + ("" if counters["messages_workers"] is None
                        or counters["messages_ranks"] is not None   # the ranks line says it
                        else f"; {counters['messages_workers']:,} between worker processes"))
    if counters["messages_ranks"] is not None:
        lines.append(f"ranks     {counters['messages_ranks']:,} messages, "
                     f"{_number(counters['bytes_ranks'])} bytes between MPI ranks")
    if ranks and result.rank_report is not None:
        lines += ["", result.rank_report, ""]
    lines += result.outputs
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _report(result: _Run) -> str:
    """The ``--report`` markdown: the summary, every process, the counters, the ranks."""
    from nmgraph.core.markdown import table

    summary = _summary(result, ranks=False)
    steps = result.t1 - result.t0
    parts = [f"# nmgraph run: {result.source}",
             "```text\n" + "\n".join(summary) + "\n```",
             "## Processes",
             table(("process", "kind", "units", "spikes", "mean rate (Hz)"),
                   [(name, kind, f"{units:,}", f"{count:,}", f"{rate:.3f}")
                    for name, kind, units, count, rate in result.rows]),
             f"Spikes and rates of the {steps:,} steps run here (t {result.t0:,} -> "
             f"{result.t1:,}), a step taken as {result.dt_ms:g} ms.",
             "## Counters",
             table(("counter", "this run", f"total at step {result.t1:,}"),
                   [(name, _number(result.counters[name]), _number(result.totals[name]))
                    for name in _COUNTERS]),
             "'not counted': this backend does not count it. The traffic between MPI ranks is "
             "counted from the start of this command, also for a continued snapshot."]
    if result.rank_report is not None:
        parts += ["## MPI ranks", result.rank_report]
    return "\n\n".join(part.strip("\n") for part in parts) + "\n"
