"""``nmgraph map`` and ``nmgraph study`` on NIR files: import with --dt, the import report, errors."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from nmgraph.tools.cli import is_nir_file, load_model, main, nir_report_path  # noqa: E402

DT = 1e-4
N_IN, N_HIDDEN, N_OUT = 8, 12, 3


def _graph(threshold: float = 1.0):
    """Input 8 -> Linear -> LIF 12 -> Linear -> LI 3 (a readout) -> Output."""
    rng = np.random.default_rng(0)
    return nir.NIRGraph.from_list(
        nir.Linear(weight=rng.normal(0.6, 0.3, (N_HIDDEN, N_IN))),
        nir.LIF(tau=np.full(N_HIDDEN, 1e-3), r=np.full(N_HIDDEN, 10.0),
                v_leak=np.zeros(N_HIDDEN), v_threshold=np.full(N_HIDDEN, threshold),
                v_reset=np.zeros(N_HIDDEN)),
        nir.Linear(weight=rng.normal(0.5, 0.3, (N_OUT, N_HIDDEN))),
        nir.LI(tau=np.full(N_OUT, 2e-3), r=np.full(N_OUT, 20.0), v_leak=np.zeros(N_OUT)))


@pytest.fixture
def model(tmp_path) -> Path:
    path = tmp_path / "small.nir"
    nir.write(path, _graph())
    return path


def _one_line_error(capsys, *fragments: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def test_map_prints_the_import_report_then_one_mapping_per_profile(model, capsys) -> None:
    assert main(["map", str(model), "--dt", "1e-4", "--hw", "loihi1,spinnaker1",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("NIR import: dt = 0.0001 s, quantize = 'loihi1'")
    # every node of the file, with its NIR type and the process it became
    for row in ("| input | Input | input |", "| linear | Linear | linear |", "| lif | LIF | lif |",
                "| li | LI | li |", "| output | Output | li |"):
        assert row in out, row
    assert "| lif | tau | 0.001 |" in out and "| lif | v_threshold | 1 |" in out
    # one mapping report per profile, after the import report; sizes counted by hand:
    # 12 + 3 neurons, 8 x 12 + 12 x 3 synapses
    first, second = (out.index(f"# Mapping report: 'small' on {hw}")
                     for hw in ("loihi1", "spinnaker1"))
    assert out.index("| lif | LIF |") < first < second
    assert out.count("small: 15 neurons, 8 source units, 132 synapses in 2 projections") == 2
    assert "0.1 ms per step" in out  # the network steps by dt


def test_map_report_writes_the_import_report_next_to_it(model, tmp_path, capsys) -> None:
    report = tmp_path / "map.md"
    assert main(["map", str(model), "--dt", "1e-4", "--report", str(report), "--hw", "loihi1",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    nir_path = nir_report_path(report)
    assert nir_path == tmp_path / "map-nir.md"
    assert f"written to {nir_path}" in out and f"report written to {report}" in out
    assert nir_path.read_text(encoding="utf-8").startswith("NIR import: dt = 0.0001 s")
    assert report.read_text(encoding="utf-8").startswith("# Mapping report: 'small' on loihi1")
    # several profiles: one report per profile, named after it
    assert main(["map", str(model), "--dt", "1e-4", "--report", str(report),
                 "--hw", "loihi1,spinnaker1", "--no-progress"]) == 0
    for hw in ("loihi1", "spinnaker1"):
        text = (tmp_path / f"map-{hw}.md").read_text(encoding="utf-8")
        assert text.startswith(f"# Mapping report: 'small' on {hw}")


def test_a_chip_that_cannot_hold_the_network_does_not_hide_the_others(model, capsys) -> None:
    """TrueNorth's weights are 9-bit signed: the LI readout's weights (S g W up to 856 at
    8 bits of loihi1) do not fit; loihi1's and spinnaker1's mappings are still printed."""
    assert main(["map", str(model), "--dt", "1e-4", "--hw", "loihi1,truenorth,spinnaker1",
                 "--no-progress"]) == 2
    captured = capsys.readouterr()
    assert "on loihi1" in captured.out and "on spinnaker1" in captured.out
    assert "on truenorth" not in captured.out
    (line,) = captured.err.splitlines()
    assert line.startswith("error: truenorth: synapses 'linear_1'") and "9-bit" in line


def test_quantize_and_reset_reach_the_import(model, capsys) -> None:
    assert main(["map", str(model), "--dt", "1e-4", "--quantize", "4", "--no-progress"]) == 0
    assert "quantize = 4" in capsys.readouterr().out
    net = load_model(str(model), dt=DT, reset="subtract")
    assert net["lif"].reset == "subtract"


def test_study_runs_poisson_inputs_at_the_given_rate(model, tmp_path, capsys) -> None:
    out_dir = tmp_path / "study"
    assert main(["study", str(model), "--dt", "1e-4", "--hw", "loihi1,spinnaker1", "--steps",
                 "200", "--input-rate", "500", "--out", str(out_dir), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "Poisson spikes at 500 Hz per unit, seed 0" in out
    with (out_dir / "study.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["profile"] for row in rows] == ["loihi1", "spinnaker1"]
    assert all(row["error"] == "" and int(row["messages"]) > 0 for row in rows)
    # silent inputs: nothing moves (the LIF layer has no leak current to fire on its own)
    assert main(["study", str(model), "--dt", "1e-4", "--hw", "loihi1", "--steps", "50",
                 "--input-rate", "0", "--out", str(out_dir), "--no-progress"]) == 0
    assert "inputs: silent" in capsys.readouterr().out
    with (out_dir / "study.csv").open(encoding="utf-8") as handle:
        assert [int(row["messages"]) for row in csv.DictReader(handle)] == [0]


def test_the_input_raster_has_the_asked_rate(model) -> None:
    """p = rate x dt per unit and step: 250 Hz at 0.1 ms is 0.025, 8 x 2000 draws."""
    net = load_model(str(model), dt=DT, input_rate_hz=250.0, input_steps=2000, seed=1)
    raster = np.asarray(net["input"].data)
    assert raster.shape == (2000, N_IN)
    expected, sigma = 16000 * 0.025, np.sqrt(16000 * 0.025 * 0.975)
    assert abs(int(raster.sum()) - expected) < 5 * sigma


def test_an_hdf5_file_without_the_suffix_is_recognised(model, tmp_path) -> None:
    other = tmp_path / "model.h5"
    other.write_bytes(model.read_bytes())
    assert is_nir_file(str(other)) and is_nir_file(str(tmp_path / "missing.nir"))
    assert not is_nir_file(str(tmp_path / "missing.nmg"))
    assert load_model(str(other), dt=DT).nir_report.dt == DT


@pytest.mark.parametrize("command", ["map", "study"])
def test_a_nir_file_without_dt_is_refused(model, command, tmp_path, capsys) -> None:
    assert main([command, str(model), "--out" if command == "study" else "--no-progress",
                 *([str(tmp_path / "s")] if command == "study" else [])]) == 2
    _one_line_error(capsys, f"MODEL {model} is a NIR file: give --dt", "seconds")


def test_nir_options_are_refused_for_other_models(capsys) -> None:
    assert main(["map", "nmgraph/tools/demo.py:build_demo_network", "--dt", "1e-4"]) == 2
    _one_line_error(capsys, "--dt applies to NIR files only")


def test_a_corrupt_file_is_a_one_line_error(model, tmp_path, capsys) -> None:
    garbage = tmp_path / "garbage.nir"
    garbage.write_bytes(b"not hdf5 at all\n" * 10)
    assert main(["map", str(garbage), "--dt", "1e-4"]) == 2
    _one_line_error(capsys, f"{garbage}: not a NIR file")
    truncated = tmp_path / "truncated.nir"
    truncated.write_bytes(model.read_bytes()[:700])
    assert main(["map", str(truncated), "--dt", "1e-4"]) == 2
    _one_line_error(capsys, f"{truncated}: not a NIR file")
    assert main(["map", str(tmp_path / "absent.nir"), "--dt", "1e-4"]) == 2
    _one_line_error(capsys, "no such NIR file")


def test_a_file_nmgraph_cannot_map_names_the_node(tmp_path, capsys) -> None:
    path = tmp_path / "negative.nir"
    nir.write(path, _graph(threshold=-1.0))
    assert main(["study", str(path), "--dt", "1e-4", "--out", str(tmp_path / "s")]) == 2
    _one_line_error(capsys, "LIF node 'lif': negative thresholds")
