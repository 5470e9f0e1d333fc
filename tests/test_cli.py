"""The ``nmgraph`` command line: help lists every command, the demo runs and saves its raster."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from nmgraph.tools.cli import COMMANDS, build_parser, main

REPO = Path(__file__).resolve().parents[1]


def test_help_lists_every_command_with_an_example(capsys) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert [command.name for command in COMMANDS] == ["demo", "hw", "map", "study"]
    for command in COMMANDS:
        assert command.name in out
        assert command.example in out


def test_every_example_is_a_valid_command_line() -> None:
    """The examples parse, and a FILE.py:FUNCTION model they name exists (from the repo root)."""
    parser = build_parser()
    for command in COMMANDS:
        argv = shlex.split(command.example)
        assert argv[:2] == ["nmgraph", command.name]
        args = parser.parse_args(argv[1:])
        assert args.run is command.run
        model = getattr(args, "model", None)
        if model is not None and ".py:" in model:
            path, function = model.split(":")
            assert f"def {function}(" in (REPO / path).read_text(encoding="utf-8")


def test_no_command_is_a_usage_error(capsys) -> None:
    assert main([]) == 2
    assert "usage: nmgraph" in capsys.readouterr().err


def test_demo_runs_prints_rates_and_writes_png(tmp_path, capsys) -> None:
    out_png = tmp_path / "raster.png"
    assert main(["demo", "--steps", "200", "--out", str(out_png)]) == 0
    out = capsys.readouterr().out
    for population in ("input", "exc", "inh"):
        assert population in out
    assert "mean rate (Hz)" in out
    assert "synaptic_ops" in out
    assert out_png.is_file() and out_png.stat().st_size > 1000


def test_demo_populations_are_neither_silent_nor_saturated() -> None:
    from nmgraph.tools.demo import run_demo

    result = run_demo(steps=300, seed=0)
    for name in ("exc", "inh"):
        rate_hz = len(result.spikes[name]) / (result.spikes[name].n * result.steps) * 1000
        assert 2 < rate_hz < 60, (name, rate_hz)


@pytest.mark.parametrize(("argv", "message"), [
    (["demo", "--steps", "0"], "--steps"),
    (["demo", "--out", "/no/such/folder/r.png"], "does not exist"),
])
def test_demo_errors_print_one_line_and_exit_2(argv, message, capsys) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_nmgraph_error_is_reported_without_traceback(monkeypatch, capsys) -> None:
    from nmgraph.core.errors import SimulationError
    from nmgraph.tools import demo

    def failing_run(**kwargs):
        raise SimulationError("the backend broke")

    monkeypatch.setattr(demo, "run_demo", failing_run)
    assert main(["demo", "--steps", "5", "--out", "unused.png"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: the backend broke"
