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
from typing import Any

from nmgraph._version import __version__
from nmgraph.core.errors import NmgraphError

__all__ = ["COMMANDS", "Command", "is_nir_file", "load_model", "main", "nir_report_path",
           "traffic_plot_path"]

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

    parser.add_argument("model", metavar="MODEL", help=_MODEL_HELP)
    parser.add_argument("--hw", default=DEFAULT_PROFILE, metavar="PROFILE[,PROFILE...]",
                        help=f"hardware profile: a built-in name, NAME:SYSTEM or a .toml/.json "
                             f"file; several, comma-separated, map the network onto each in "
                             f"turn (default: {DEFAULT_PROFILE}; 'nmgraph hw' lists them)")
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
    _nir_arguments(parser)
    _progress_argument(parser, "the compiler passes")


def _run_map(args: argparse.Namespace) -> int:
    import nmgraph as nm
    from nmgraph.tools.plot import core_map, traffic_matrix

    profiles = [name.strip() for name in args.hw.split(",") if name.strip()]
    if not profiles:
        raise NmgraphError(f"--hw {args.hw!r}: name at least one hardware profile")
    several = len(profiles) > 1
    outputs = {"--report": args.report, "--json": args.json, "--plot": args.plot}
    for option, path in outputs.items():
        if path is not None:
            _check_output_dir(path, option)
    net = load_model(args.model, **_nir_options(args))
    nir_report = getattr(net, "nir_report", None)
    if nir_report is not None:
        if args.report is None:
            print(nir_report.to_markdown(), end="\n\n")
        else:
            nir_path = nir_report_path(args.report)
            nir_path.write_text(nir_report.to_markdown() + "\n", encoding="utf-8")
            print(f"NIR import report (what each node became, quantization errors) written "
                  f"to {nir_path}")
    failed = 0
    for profile in profiles:
        try:
            exe = nm.compile(net, hardware=profile, partition=args.partition, place=args.place,
                             seed=args.seed, max_neurons_per_core=args.max_neurons_per_core,
                             progress=_progress(args))
        except NmgraphError as error:
            if not several:
                raise
            # one chip that cannot hold the network does not hide the others' mappings
            sys.stdout.flush()
            print(f"error: {profile}: {error}", file=sys.stderr)
            failed += 1
            continue
        report = exe.report
        report_path = _per_profile(args.report, profile, several)
        if report_path is None:
            print(report.to_markdown(), end="\n" if several else "")
        else:
            report_path.write_text(report.to_markdown(), encoding="utf-8")
            print(f"mapped '{report.network}' onto {report.n_cores:,} cores of {report.profile} "
                  f"on {report.chips_used:,} chip(s) (lower bound "
                  f"{report.lower_bound.get('cores')})")
            print(f"report written to {report_path}")
        json_path = _per_profile(args.json, profile, several)
        if json_path is not None:
            json_path.write_text(report.to_json(), encoding="utf-8")
            print(f"JSON written to {json_path}")
        plot_path = _per_profile(args.plot, profile, several)
        if plot_path is not None:
            traffic_path = traffic_plot_path(plot_path)
            core_map(exe, metric=args.metric, path=plot_path)
            traffic_matrix(exe, path=traffic_path)
            print(f"core map saved to {plot_path}, traffic matrix to {traffic_path}")
    return EXIT_ERROR if failed else EXIT_OK


def _per_profile(path: Path | None, profile: str, several: bool) -> Path | None:
    """An output of ``nmgraph map``: ``path`` itself for one profile, ``STEM-PROFILE.SUFFIX``
    (``map-loihi1.md``) for each of several."""
    if path is None or not several:
        return path
    tag = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(profile).stem)
    return path.with_name(f"{path.stem}-{tag}{path.suffix}")


def nir_report_path(report: Path) -> Path:
    """Where ``nmgraph map model.nir --report map.md`` writes the NIR import report:
    ``map-nir.md``."""
    return report.with_name(f"{report.stem}-nir{report.suffix or '.md'}")


def traffic_plot_path(plot: Path) -> Path:
    """Where ``nmgraph map --plot out.png`` saves the traffic matrix: ``out-traffic.png``."""
    return plot.with_name(f"{plot.stem}-traffic{plot.suffix or '.png'}")


_MODEL_HELP = ("a saved network file (Network.save), a NIR file (.nir, or any HDF5 file that "
               "nir.read accepts: imported with nm.from_nir, needs --dt) or FILE.py:FUNCTION, a "
               "function of no arguments that returns a Network")
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def is_nir_file(spec: str) -> bool:
    """Whether MODEL ``spec`` names a NIR file: a ``.nir`` suffix, or an existing file that
    starts with HDF5's signature (NIR's container; nmgraph's own files are zip archives)."""
    path = Path(spec)
    if path.suffix.lower() == ".nir":
        return True
    try:
        with path.open("rb") as handle:
            return handle.read(len(_HDF5_SIGNATURE)) == _HDF5_SIGNATURE
    except OSError:
        return False


def load_model(spec: str, *, dt: float | None = None, quantize: Any = None,
               reset: str | None = None, input_rate_hz: float | None = None,
               input_steps: int | None = None, seed: int = 0):
    """The Network named by ``spec``: a saved network file, a NIR file, or ``FILE.py:FUNCTION``.

    ``FILE.py`` is imported by path (its folder is on ``sys.path`` while it runs, so it can
    import its neighbours) and ``FUNCTION()`` is called with no arguments; it must return a
    Network.

    A NIR file (:func:`is_nir_file`) is imported with :func:`nmgraph.from_nir` at the step
    ``dt`` (seconds, required), with ``quantize`` and ``reset`` if given. Its Input nodes are
    silent unless ``input_rate_hz`` is given: then each gets ``input_steps`` steps of
    independent Poisson spikes at that rate per unit (probability ``rate * dt`` per step,
    drawn from ``seed``). The Network is named after the file and carries ``nir_report``.
    The NIR options are refused for other models, which carry their own time step.
    """
    from nmgraph.core.io import load_network

    nir_options = {"--dt": dt, "--quantize": quantize, "--reset": reset,
                   "--input-rate": input_rate_hz}
    if is_nir_file(spec):
        return _network_from_nir(Path(spec), dt, quantize, reset, input_rate_hz,
                                 input_steps, seed)
    given = [option for option, value in nir_options.items() if value is not None]
    if given:
        raise NmgraphError(f"MODEL {spec}: {', '.join(given)} appl{'ies' if len(given) == 1 else 'y'}"
                           f" to NIR files only (a .nir file, imported with nm.from_nir); a saved "
                           f"network or FILE.py:FUNCTION carries its own time step and inputs")
    path_text, colon, function = spec.rpartition(":")
    if colon and path_text.endswith(".py"):
        return _network_from_function(Path(path_text), function)
    if spec.endswith(".py"):
        raise NmgraphError(f"MODEL {spec}: name the function that builds the network, as "
                           f"{spec}:FUNCTION")
    return load_network(spec)


def _network_from_nir(path: Path, dt: float | None, quantize: Any, reset: str | None,
                      input_rate_hz: float | None, input_steps: int | None, seed: int):
    import numpy as np

    import nmgraph as nm
    from nmgraph.core.errors import FileFormatError
    from nmgraph.tools.nir_graph import load_graph

    if dt is None:
        raise NmgraphError(f"MODEL {path} is a NIR file: give --dt, its time step in seconds "
                           f"(NIR files carry none; use the step the network was trained with: "
                           f"snnTorch exports assume 1e-4, Norse 1e-3)")
    try:
        graph, _ = load_graph(path)
    except FileFormatError as error:  # h5py's messages may span lines: keep the CLI's one line
        raise FileFormatError(" ".join(str(error).split())) from error
    inputs = {}
    if input_rate_hz is not None:
        probability = input_rate_hz * dt
        if probability > 1:
            raise NmgraphError(f"--input-rate {input_rate_hz:g}: at --dt {dt:g} s that is "
                               f"{probability:g} spikes per step per unit; at most 1/dt = "
                               f"{1 / dt:g} Hz")
        rng = np.random.default_rng(seed)
        for name, node in graph.nodes.items():
            if type(node).__name__ == "Input":
                shape = tuple(int(n) for n in np.asarray(node.input_type["input"]).reshape(-1))
                inputs[name] = rng.random((input_steps or 1, *shape)) < probability
    options = {} if quantize is None else {"quantize": quantize}
    return nm.from_nir(graph, dt, name=path.stem, inputs=inputs, reset=reset, **options)


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

    parser.add_argument("model", metavar="MODEL", help=_MODEL_HELP)
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
    _nir_arguments(parser)
    parser.add_argument("--input-rate", type=_rate, default=None, metavar="HZ",
                        help="NIR files: Poisson spikes at this rate (per unit, seeded by "
                             "--seed) on every Input node for the run (default: "
                             f"{DEFAULT_NIR_INPUT_RATE_HZ:g} Hz; 0 for silent inputs)")
    _progress_argument(parser, "the cases")


def _run_study(args: argparse.Namespace) -> int:
    from nmgraph.tools.study import study

    _check_output_dir(args.out)  # its parent must exist; the folder itself is created
    if args.out.exists() and not args.out.is_dir():
        raise NmgraphError(f"--out {args.out}: exists and is not a folder")
    caps = _caps(args.max_neurons_per_core)
    options = _nir_options(args)
    rate = args.input_rate
    nir = is_nir_file(args.model)
    if nir and rate is None:
        rate = DEFAULT_NIR_INPUT_RATE_HZ
    net = load_model(args.model, input_rate_hz=rate, input_steps=args.steps, seed=args.seed,
                     **options)
    print(f"nmgraph study: '{net.name}' on {args.hw}, partition {args.partition}, place "
          f"{args.place}, {args.steps} steps on the {args.backend} backend")
    if nir:
        print(f"NIR file imported at dt = {options['dt']:g} s; inputs: "
              + (f"Poisson spikes at {rate:g} Hz per unit, seed {args.seed}" if rate
                 else "silent"))
    result = study(net, hardware=args.hw, partition=args.partition, place=args.place,
                   steps=args.steps, max_neurons_per_core=caps, backend=args.backend,
                   seed=args.seed, inference_steps=args.inference_steps, ann_energy=args.ann,
                   progress=_progress(args),
                   # a NIR network's step is its dt: real time is one step per dt of wall time
                   real_time_step_s=options["dt"] if nir else 1e-3)
    args.out.mkdir(exist_ok=True)
    paths = result.save(args.out)
    print(result.to_markdown(), end="")
    print(f"\nwritten to {args.out}: " + ", ".join(path.name for path in paths.values()))
    return EXIT_OK


# -- nmgraph run (nmgraph/tools/cli_run.py) ---------------------------------------------------------
def _run_arguments(parser: argparse.ArgumentParser) -> None:
    from nmgraph.tools import cli_run

    cli_run.add_arguments(parser)


def _run_run(args: argparse.Namespace) -> int:
    from nmgraph.tools import cli_run

    return cli_run.run(args)


#: ``nmgraph study`` on a NIR file: the Poisson rate of its Input nodes unless --input-rate.
DEFAULT_NIR_INPUT_RATE_HZ = 100.0


def _nir_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dt", type=_seconds, default=None, metavar="SECONDS",
                        help="NIR files: the time step in seconds, required (NIR carries none: "
                             "the step the network was trained with, 1e-4 for snnTorch "
                             "exports, 1e-3 for Norse)")
    parser.add_argument("--quantize", type=_quantize, default=None, metavar="TARGET",
                        help="NIR files: weight format, loihi1 or loihi2 (8 bits, one spent "
                             "on the sign) or a number of bits 1..8 (default: loihi1)")
    parser.add_argument("--reset", choices=("value", "subtract"), default=None,
                        help="NIR files: reset to v_reset (NIR's, the default) or by "
                             "subtracting the threshold (snnTorch's)")


def _nir_options(args: argparse.Namespace) -> dict[str, Any]:
    return {"dt": args.dt, "quantize": args.quantize, "reset": args.reset}


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
    Command(name="run",
            summary="run an Executable (.nmx), continue a snapshot (.nms) or compile and run a "
                    "network; print spikes, rates, counters and speed",
            example="nmgraph run nmgraph/tools/demo.py:build_demo_network --hw loihi1 --steps 1000 "
                    "--spikes spikes.npz --snapshot run.nms --report run.md",
            add_arguments=_run_arguments, run=_run_run),
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


def _seconds(text: str) -> float:
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds (got {text!r})") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0 (got {text})")
    return value


def _rate(text: str) -> float:
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a rate in Hz (got {text!r})") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a rate in Hz >= 0 (got {text})")
    return value


def _quantize(text: str) -> str | int:
    if text in ("loihi1", "loihi2"):
        return text
    try:
        bits = int(text)
    except ValueError:
        bits = 0
    if not 1 <= bits <= 8:
        raise argparse.ArgumentTypeError(f"must be loihi1, loihi2 or a number of bits 1..8 "
                                         f"(got {text!r})")
    return bits


def _check_output_dir(path: Path, option: str = "--out") -> None:
    """Fail before a run, not after it, when the output cannot be written where asked."""
    folder = path.parent
    if not folder.is_dir():
        raise NmgraphError(f"{option} {path}: folder '{folder}' does not exist; create it first")


if __name__ == "__main__":  # pragma: no cover - python -m nmgraph.tools.cli
    sys.exit(main())
