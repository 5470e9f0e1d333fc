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
    assert [command.name for command in COMMANDS] == ["demo", "hw", "map", "study", "run"]
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


def test_demo_prints_a_short_summary_and_writes_raster_and_report(tmp_path, capsys) -> None:
    out_png = tmp_path / "raster.png"
    assert main(["demo", "--steps", "200", "--out", str(out_png)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) <= 17  # a summary, not the whole mapping report
    report_path = tmp_path / "raster-report.md"  # next to the raster
    starts = [line.split()[0] for line in lines if line.strip()]
    for key in ("run", "mapping", "per", "population", "input", "exc", "inh", "traffic", "work",
                "energy", "report", "raster"):
        assert key in starts, key
    assert "200 steps of 1 ms" in out
    assert "chip 0: 6 of 128 cores" in out  # loihi1, 100 neurons per core: 6 cores on one chip
    assert "per step on loihi1" in out
    assert f"report    {report_path}" in out and f"raster    {out_png}" in out
    # rates in Hz from the spike counts of the same run (spikes / units / 0.2 s)
    from nmgraph.tools.demo import run_demo

    result = run_demo(steps=200, seed=0)
    for name in ("input", "exc", "inh"):
        spikes = result.spikes[name]
        row = next(line.split() for line in lines if line.startswith(name))
        assert row[1:4] == [f"{spikes.n:,}", f"{len(spikes):,}",
                            f"{len(spikes) / (spikes.n * 0.2):.1f}"]
    assert out_png.is_file() and out_png.stat().st_size > 1000
    report = report_path.read_text(encoding="utf-8")
    assert report.startswith("# nmgraph demo: 'demo' on loihi1")
    for heading in ("## Populations", "## Counters", "## Mapping report", "### Utilisation per core",
                    "## Energy report", "### Energy by category"):
        assert f"\n{heading}" in report, heading
    assert "| synaptic_ops |" in report


def test_demo_report_option_and_missing_report_folder(tmp_path, capsys) -> None:
    report = tmp_path / "full.md"
    assert main(["demo", "--steps", "20", "--out", str(tmp_path / "r.png"),
                 "--report", str(report), "--backend", "reference"]) == 0
    out = capsys.readouterr().out
    assert report.is_file() and f"report    {report}" in out
    assert "reference runtime" in out
    assert main(["demo", "--steps", "20", "--out", str(tmp_path / "r.png"),
                 "--report", "/no/such/folder/r.md"]) == 2
    assert "--report" in capsys.readouterr().err


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
