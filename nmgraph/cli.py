"""The ``nmgraph`` command line.

Each command is a :class:`Command`: a name, a one-line summary, an example, a function that adds its
options to an argparse sub-parser, and a function that runs it and returns the exit code. ``--help``
is generated from :data:`COMMANDS`, so a new command is one more entry there.

Errors nmgraph raises on purpose (:class:`~nmgraph.errors.NmgraphError`) print ``error: <message>``
to stderr and exit with code 2, without a traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from nmgraph import __version__
from nmgraph.errors import NmgraphError

__all__ = ["COMMANDS", "Command", "main"]

#: Exit codes: success, a failed command (an NmgraphError or bad arguments), Ctrl-C.
EXIT_OK, EXIT_ERROR, EXIT_INTERRUPTED = 0, 2, 130
#: Milliseconds per step assumed when spike rates are shown in Hz.
MS_PER_STEP = 1.0


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
                        help="steps to run (1 ms each for the rates shown; default: 1000)")
    parser.add_argument("--out", type=Path, default=Path("nmgraph-demo.png"), metavar="PNG",
                        help="where to save the spike raster (default: nmgraph-demo.png)")
    parser.add_argument("--backend", choices=sorted(BACKENDS), default="reference",
                        help="simulator to run on (default: reference)")
    parser.add_argument("--seed", type=_non_negative_int, default=0,
                        help="seed of the input spikes and the connectivity (default: 0)")


def _run_demo(args: argparse.Namespace) -> int:
    from nmgraph import demo
    from nmgraph.plot import raster

    _check_output_dir(args.out)
    sizes = demo.DemoParameters()
    print(f"nmgraph demo: {sizes.n_input} Poisson inputs -> {sizes.n_exc} excitatory + "
          f"{sizes.n_inh} inhibitory LIF neurons, {args.steps} steps on the {args.backend} "
          f"backend (seed {args.seed})")
    result = demo.run_demo(steps=args.steps, seed=args.seed, backend=args.backend)
    print()
    rows = []
    for name in demo.DEMO_POPULATIONS:
        spikes = result.spikes[name]
        per_step = len(spikes) / (spikes.n * result.steps)
        rows.append((name, spikes.n, len(spikes), f"{per_step:.4f}",
                     f"{per_step * 1000.0 / MS_PER_STEP:.1f}"))
    _print_table(("population", "units", "spikes", "spikes/unit/step", "mean rate (Hz)"), rows)
    print()
    counters = result.counters.as_dict()
    _print_table(("counter", "value"), [(key, value) for key, value in counters.items()
                                        if value is not None])
    missing = [key for key, value in counters.items() if value is None]
    if missing:  # message and hop counts need a mapping onto cores
        print(f"not counted by the {args.backend} backend: {', '.join(missing)}")
    raster(result.spikes, title=f"nmgraph demo: {result.steps} steps, seed {args.seed}",
           path=args.out)
    print(f"\nraster saved to {args.out}")
    return EXIT_OK


COMMANDS: tuple[Command, ...] = (
    Command(name="demo",
            summary="run a small excitatory-inhibitory network and save its spike raster",
            example="nmgraph demo --steps 1000 --out raster.png",
            add_arguments=_demo_arguments, run=_run_demo),
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
        epilog=f"commands:\n{listing}\n\nRun 'nmgraph COMMAND --help' for a command's options.",
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


def _check_output_dir(path: Path) -> None:
    """Fail before a run, not after it, when the output cannot be written where asked."""
    folder = path.parent
    if not folder.is_dir():
        raise NmgraphError(f"--out {path}: folder '{folder}' does not exist; create it first")


def _print_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print rows under a header, text left-aligned and numbers right-aligned."""
    cells = [list(map(str, header))] + [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[column]) for row in cells) for column in range(len(header))]
    numeric = [all(_is_number(row[column]) for row in rows) for column in range(len(header))]
    for number, row in enumerate(cells):
        print("  ".join(cell.rjust(width) if numeric[column] and number else cell.ljust(width)
                        for column, (cell, width) in enumerate(zip(row, widths))).rstrip())
        if number == 0:
            print("  ".join("-" * width for width in widths))


def _is_number(cell: object) -> bool:
    return str(cell).lstrip("-").replace(".", "", 1).isdigit()


if __name__ == "__main__":  # pragma: no cover - python -m nmgraph.cli
    sys.exit(main())
