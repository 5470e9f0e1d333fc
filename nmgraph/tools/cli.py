"""The ``nmgraph`` command line.

Each command is a :class:`Command`: a name, a one-line summary, an example, a function that adds its
options to an argparse sub-parser, and a function that runs it and returns the exit code. ``--help``
is generated from :data:`COMMANDS`, so a new command is one more entry there.

Errors nmgraph raises on purpose (:class:`~nmgraph.core.errors.NmgraphError`) print ``error: <message>``
to stderr and exit with code 2, without a traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from nmgraph._version import __version__
from nmgraph.core.errors import NmgraphError

__all__ = ["COMMANDS", "Command", "load_model", "main", "traffic_plot_path"]

#: Exit codes: success, a failed command (an NmgraphError or bad arguments), Ctrl-C.
EXIT_OK, EXIT_ERROR, EXIT_INTERRUPTED = 0, 2, 130


@dataclass(frozen=True)
class Command:
    """One sub-command of ``nmgraph``."""

    name: str
    summary: str
    example: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# -- nmgraph demo ---------------------------------------------------------------------------------
def _demo_arguments(parser: argparse.ArgumentParser) -> None:
    from nmgraph.runtimes.registry import BACKENDS

    parser.add_argument("--steps", type=_positive_int, default=1000, metavar="N",
                        help="steps to run (1 ms each; default: 1000)")
    parser.add_argument("--out", type=Path, default=Path("nmgraph-demo.png"), metavar="PNG",
                        help="where to save the spike raster (default: nmgraph-demo.png)")
    parser.add_argument("--report", type=Path, default=None, metavar="MD",
                        help="where to write the full report: mapping, utilisation, traffic, "
                             "energy, counters (default: next to the raster, PNG-report.md)")
    parser.add_argument("--backend", choices=sorted(BACKENDS), default="multicore",
                        help="runtime to run on (default: multicore)")
    parser.add_argument("--hw", default="loihi1", metavar="PROFILE",
                        help="hardware profile to map onto (default: loihi1)")
    parser.add_argument("--workers", type=_positive_int, default=2, metavar="N",
                        help="worker processes of the multicore backend (default: 2)")
    parser.add_argument("--partition", default="greedy", choices=("greedy", "balanced", "mincut"),
                        help="partitioning strategy (default: greedy)")
    parser.add_argument("--max-neurons-per-core", type=_positive_int, default=100, metavar="N",
                        help="cap neurons per core so the demo spreads over cores (default: 100)")
    parser.add_argument("--core-map", type=Path, default=None, metavar="PNG",
                        help="also save the core map of the mesh coloured by neurons per core")
    parser.add_argument("--seed", type=_non_negative_int, default=0,
                        help="seed of the input spikes and the connectivity (default: 0)")


def _run_demo(args: argparse.Namespace) -> int:
    from nmgraph.tools import demo
    from nmgraph.tools.plot import core_map, raster

    report_path = args.report if args.report is not None else demo_report_path(args.out)
    _check_output_dir(args.out)
    _check_output_dir(report_path, "--report")
    sizes = demo.DemoParameters()
    if args.core_map is not None:
        _check_output_dir(args.core_map, "--core-map")
    print(f"nmgraph demo: {sizes.n_input} Poisson inputs at {sizes.input_rate_hz:g} Hz "
          f"-> {sizes.n_exc} excitatory + {sizes.n_inh} inhibitory LIF neurons on {args.hw}")
    result = demo.run_demo(steps=args.steps, seed=args.seed, backend=args.backend,
                           hardware=args.hw, workers=args.workers, partition=args.partition,
                           max_neurons_per_core=args.max_neurons_per_core)
    raster(result.spikes, title=f"nmgraph demo on {args.hw}: {result.steps:,} steps, seed "
                                f"{args.seed}", path=args.out)
    summary = demo.demo_summary(result, raster_path=args.out, report_path=report_path)
    if args.core_map is not None:
        core_map(result.executable, path=args.core_map)
        summary.append(f"core map  {args.core_map}  (mesh of cores coloured by neurons per core)")
    report_path.write_text(demo.demo_report(result, summary), encoding="utf-8")
    print("\n".join(summary))
    return EXIT_OK


def demo_report_path(raster_path: Path) -> Path:
    """Where ``nmgraph demo --out raster.png`` writes its full report: ``raster-report.md``."""
    return raster_path.with_name(f"{raster_path.stem}-report.md")


# -- nmgraph hw ------------------------------------------------------------------------------------
def _hw_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("profile", nargs="?", metavar="PROFILE",
                        help="a built-in profile (loihi1, loihi1:Nahuku, ...) or a .toml/.json "
                             "file: print every constant with its source (default: list the "
                             "built-ins and their limits)")


def _run_hw(args: argparse.Namespace) -> int:
    from nmgraph.compilers.hardware import load_profile, profiles_table

    print(profiles_table() if args.profile is None else load_profile(args.profile).to_markdown(),
          end="")
    return EXIT_OK


# -- nmgraph map -----------------------------------------------------------------------------------
def _map_arguments(parser: argparse.ArgumentParser) -> None:
    from nmgraph.compilers.hardware import DEFAULT_PROFILE
    from nmgraph.compilers.mapping_data import RESOURCES
    from nmgraph.compilers.partition import STRATEGIES as PARTITIONS
    from nmgraph.compilers.place import STRATEGIES as PLACEMENTS

    parser.add_argument("model", metavar="MODEL",
                        help="a saved network file (Network.save) or FILE.py:FUNCTION, a "
                             "function of no arguments that returns a Network")
    parser.add_argument("--hw", default=DEFAULT_PROFILE, metavar="PROFILE",
                        help=f"hardware profile: a built-in name, NAME:SYSTEM or a .toml/.json "
                             f"file (default: {DEFAULT_PROFILE}; 'nmgraph hw' lists them)")
    parser.add_argument("--partition", choices=PARTITIONS, default="greedy",
                        help="partitioning strategy (default: greedy)")
    parser.add_argument("--place", choices=PLACEMENTS, default="linear",
                        help="placement strategy (default: linear)")
    parser.add_argument("--seed", type=_non_negative_int, default=0,
                        help="seed of mincut and traffic placement (default: 0)")
    parser.add_argument("--max-neurons-per-core", type=_positive_int, default=None, metavar="N",
                        help="cap the neurons per core below the profile's limit")
    parser.add_argument("--report", type=Path, metavar="MD",
                        help="write the markdown report here instead of printing it")
    parser.add_argument("--json", type=Path, metavar="JSON",
                        help="write the report as JSON (with every per-core array)")
    parser.add_argument("--plot", type=Path, metavar="PNG",
                        help="save the core map here and the traffic matrix next to it "
                             "(PNG-traffic.png)")
    parser.add_argument("--metric", default="neurons",
                        choices=(*RESOURCES, "messages_out", "messages_in"),
                        help="what colours the core map (default: neurons, as %% of the limit)")
    _progress_argument(parser, "the compiler passes")


def _run_map(args: argparse.Namespace) -> int:
    import nmgraph as nm
    from nmgraph.tools.plot import core_map, traffic_matrix

    outputs = {"--report": args.report, "--json": args.json, "--plot": args.plot}
    for option, path in outputs.items():
        if path is not None:
            _check_output_dir(path, option)
    net = load_model(args.model)
    exe = nm.compile(net, hardware=args.hw, partition=args.partition, place=args.place,
                     seed=args.seed, max_neurons_per_core=args.max_neurons_per_core,
                     progress=_progress(args))
    report = exe.report
    if args.report is None:
        print(report.to_markdown(), end="")
    else:
        args.report.write_text(report.to_markdown(), encoding="utf-8")
        print(f"mapped '{report.network}' onto {report.n_cores:,} cores of {report.profile} "
              f"on {report.chips_used:,} chip(s) (lower bound {report.lower_bound.get('cores')})")
        print(f"report written to {args.report}")
    if args.json is not None:
        args.json.write_text(report.to_json(), encoding="utf-8")
        print(f"JSON written to {args.json}")
    if args.plot is not None:
        traffic_path = traffic_plot_path(args.plot)
        core_map(exe, metric=args.metric, path=args.plot)
        traffic_matrix(exe, path=traffic_path)
        print(f"core map saved to {args.plot}, traffic matrix to {traffic_path}")
    return EXIT_OK


def traffic_plot_path(plot: Path) -> Path:
    """Where ``nmgraph map --plot out.png`` saves the traffic matrix: ``out-traffic.png``."""
    return plot.with_name(f"{plot.stem}-traffic{plot.suffix or '.png'}")


def load_model(spec: str):
    """The Network named by ``spec``: a saved network file, or ``FILE.py:FUNCTION``.

    ``FILE.py`` is imported by path (its folder is on ``sys.path`` while it runs, so it can
    import its neighbours) and ``FUNCTION()`` is called with no arguments; it must return a
    Network.
    """
    from nmgraph.core.io import load_network

    path_text, colon, function = spec.rpartition(":")
    if colon and path_text.endswith(".py"):
        return _network_from_function(Path(path_text), function)
    if spec.endswith(".py"):
        raise NmgraphError(f"MODEL {spec}: name the function that builds the network, as "
                           f"{spec}:FUNCTION")
    return load_network(spec)


def _network_from_function(path: Path, function: str):
    import inspect

    from nmgraph.core.network import Network

    module = _import_file(path)
    builder = getattr(module, function, None) if function.isidentifier() else None
    if builder is None or not callable(builder):
        found = sorted(name for name, value in vars(module).items()
                       if inspect.isfunction(value) and value.__module__ == module.__name__)
        raise NmgraphError(f"MODEL {path}:{function}: {path} has no function '{function}' "
                           f"(functions there: {', '.join(found) or 'none'})")
    try:
        inspect.signature(builder).bind()
    except TypeError:
        raise NmgraphError(f"MODEL {path}:{function}: the function must be callable without "
                           f"arguments (its signature: {function}"
                           f"{inspect.signature(builder)})") from None
    except ValueError:  # no signature available (a builtin): just call it
        pass
    net = builder()
    if not isinstance(net, Network):
        raise NmgraphError(f"MODEL {path}:{function}: returned {type(net).__name__}, not a "
                           f"Network; return the nm.Network it builds")
    return net


def _import_file(path: Path):
    import importlib.util

    if not path.is_file():
        raise NmgraphError(f"MODEL {path}: no such file")
    name = f"_nmgraph_model_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise NmgraphError(f"MODEL {path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    sys.modules[name] = module  # dataclasses and pickling look classes up there
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    finally:
        sys.path.remove(folder)
    return module


# -- nmgraph study ---------------------------------------------------------------------------------
def _study_arguments(parser: argparse.ArgumentParser) -> None:
    from nmgraph.compilers.hardware import BUILTIN_NAMES
    from nmgraph.runtimes.registry import BACKENDS
    from nmgraph.tools.energy import ANN_BASELINES

    parser.add_argument("model", metavar="MODEL",
                        help="a saved network file (Network.save) or FILE.py:FUNCTION, a "
                             "function of no arguments that returns a Network")
    parser.add_argument("--hw", default=",".join(BUILTIN_NAMES), metavar="PROFILES",
                        help="comma-separated hardware profiles (default: every built-in: "
                             f"{','.join(BUILTIN_NAMES)})")
    parser.add_argument("--partition", default="greedy", metavar="STRATEGIES",
                        help="comma-separated partition strategies: greedy, balanced, mincut "
                             "(default: greedy)")
    parser.add_argument("--place", default="linear", metavar="STRATEGIES",
                        help="comma-separated placement strategies: linear, traffic "
                             "(default: linear)")
    parser.add_argument("--max-neurons-per-core", default=None, metavar="N[,N...]",
                        help="comma-separated caps on neurons per core to sweep "
                             "(default: each profile's limit)")
    parser.add_argument("--steps", type=_positive_int, default=200, metavar="N",
                        help="steps of each run (default: 200)")
    parser.add_argument("--backend", choices=sorted(BACKENDS), default="reference",
                        help="simulator of the runs (default: reference)")
    parser.add_argument("--seed", type=_non_negative_int, default=0,
                        help="seed of mincut and traffic placement (default: 0)")
    parser.add_argument("--inference-steps", type=_positive_int, default=None, metavar="N",
                        help="steps of one inference window (default: the whole run)")
    parser.add_argument("--ann", choices=sorted(ANN_BASELINES), default="fp32",
                        help="energy per MAC of the dense-ANN comparison (default: fp32)")
    parser.add_argument("--out", type=Path, default=Path("study"), metavar="DIR",
                        help="folder for study.md, study.csv, study.json, study.png and "
                             "energy.png (created if missing; default: ./study)")
    _progress_argument(parser, "the cases")


def _run_study(args: argparse.Namespace) -> int:
    from nmgraph.tools.study import study

    _check_output_dir(args.out)  # its parent must exist; the folder itself is created
    if args.out.exists() and not args.out.is_dir():
        raise NmgraphError(f"--out {args.out}: exists and is not a folder")
    caps = _caps(args.max_neurons_per_core)
    net = load_model(args.model)
    print(f"nmgraph study: '{net.name}' on {args.hw}, partition {args.partition}, place "
          f"{args.place}, {args.steps} steps on the {args.backend} backend")
    result = study(net, hardware=args.hw, partition=args.partition, place=args.place,
                   steps=args.steps, max_neurons_per_core=caps, backend=args.backend,
                   seed=args.seed, inference_steps=args.inference_steps, ann_energy=args.ann,
                   progress=_progress(args))
    args.out.mkdir(exist_ok=True)
    paths = result.save(args.out)
    print(result.to_markdown(), end="")
    print(f"\nwritten to {args.out}: " + ", ".join(path.name for path in paths.values()))
    return EXIT_OK


def _progress_argument(parser: argparse.ArgumentParser, over: str) -> None:
    parser.add_argument("--no-progress", dest="progress", action="store_false", default=None,
                        help=f"no progress bar over {over} (by default one is drawn on stderr "
                             f"when it is a terminal, unless NMGRAPH_PROGRESS=0)")


def _progress(args: argparse.Namespace) -> bool | None:
    """``progress=`` of a command: False with ``--no-progress``, else None (automatic)."""
    return getattr(args, "progress", None)


def _caps(text: str | None) -> list[int | None]:
    if text is None:
        return [None]
    caps: list[int | None] = []
    for item in text.split(","):
        try:
            caps.append(_positive_int(item.strip()))
        except argparse.ArgumentTypeError as error:
            raise NmgraphError(f"--max-neurons-per-core {text}: {error}") from None
    return caps


COMMANDS: tuple[Command, ...] = (
    Command(name="demo",
            summary="run a small excitatory-inhibitory network: print a summary, save its raster "
                    "and full report",
            example="nmgraph demo --hw loihi1 --workers 2 --steps 1000 --out raster.png",
            add_arguments=_demo_arguments, run=_run_demo),
    Command(name="hw",
            summary="list the hardware profiles and their limits, or show one with its sources",
            example="nmgraph hw loihi1",
            add_arguments=_hw_arguments, run=_run_hw),
    Command(name="map",
            summary="map a network onto a chip's cores and report utilisation and traffic",
            example="nmgraph map nmgraph/tools/demo.py:build_demo_network --hw loihi1 --partition mincut "
                    "--place traffic --report map.md --plot map.png",
            add_arguments=_map_arguments, run=_run_map),
    Command(name="study",
            summary="compare mappings, energy and time per step of a network across chips and "
                    "strategies",
            example="nmgraph study nmgraph/tools/demo.py:build_demo_network "
                    "--hw loihi1,loihi2,spinnaker1,truenorth --partition greedy,mincut --steps 200 "
                    "--out study",
            add_arguments=_study_arguments, run=_run_study),
)


# -- entry point ----------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``nmgraph`` with one sub-parser per entry of :data:`COMMANDS`."""
    width = max(len(command.name) for command in COMMANDS)
    listing = "\n".join(f"  {command.name:<{width}}  {command.summary}\n"
                        f"  {'':<{width}}  example: {command.example}" for command in COMMANDS)
    parser = argparse.ArgumentParser(
        prog="nmgraph",
        description="nmgraph: declarative spiking networks mapped onto neuromorphic cores.",
        epilog=f"commands:\n{listing}\n\nThe examples run from the repository root (nmgraph/tools/demo.py "
               "builds the demo's network).\nRun 'nmgraph COMMAND --help' for a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"nmgraph {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                       help="one of the commands listed below")
    for command in COMMANDS:
        sub = subparsers.add_parser(command.name, description=f"{command.summary}.",
                                    epilog=f"example: {command.example}")
        command.add_arguments(sub)
        sub.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``nmgraph`` with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version and usage errors end here
        return exit_.code if isinstance(exit_.code, int) else EXIT_ERROR
    try:
        return args.run(args)
    except NmgraphError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader left (``nmgraph map ... | head``): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that the flush at exit does not raise again
        return EXIT_OK


# -- helpers --------------------------------------------------------------------------------------
def _positive_int(text: str) -> int:
    return _int_at_least(text, 1)


def _non_negative_int(text: str) -> int:
    return _int_at_least(text, 0)


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer (got {text!r})") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be >= {low} (got {value})")
    return value


def _check_output_dir(path: Path, option: str = "--out") -> None:
    """Fail before a run, not after it, when the output cannot be written where asked."""
    folder = path.parent
    if not folder.is_dir():
        raise NmgraphError(f"{option} {path}: folder '{folder}' does not exist; create it first")


if __name__ == "__main__":  # pragma: no cover - python -m nmgraph.tools.cli
    sys.exit(main())
