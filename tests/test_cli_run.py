"""``nmgraph run FILE``: a saved network, an Executable and a snapshot run on every backend, and
what they write (spikes, snapshot, report) equals what the Runtime gives; mistakes are one-line
errors with exit code 2."""

from __future__ import annotations

import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import nmgraph as nm
from nmgraph.compilers.executable import Executable
from nmgraph.runtimes.results import SpikeEvents
from nmgraph.tools.cli import COMMANDS, build_parser, main
from nmgraph.tools.cli_run import EXECUTABLE, MODEL, SNAPSHOT, file_kind
from nmgraph.tools.demo import build_demo_network

REPO = Path(__file__).resolve().parents[1]
STEPS = 60


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """The demo network saved (.nmg), compiled onto loihi1 and saved (.nmx), and a snapshot of
    its reference run after 25 steps (.nms)."""
    folder = tmp_path_factory.mktemp("run")
    net = build_demo_network(seed=3)
    exe = nm.compile(net, hardware="loihi1", max_neurons_per_core=100)
    paths = {"network": net.save(folder / "net.nmg"), "executable": exe.save(folder / "net.nmx")}
    with nm.Runtime(exe, backend="reference") as rt:
        rt.run(25)
        paths["snapshot"] = rt.snapshot(folder / "at25.nms")
    return paths


def reference_spikes(target, steps: int) -> dict[str, SpikeEvents]:
    exe = target if isinstance(target, Executable) else nm.compile(target)
    with nm.Runtime(exe, backend="reference") as rt:
        rt.run(steps)
        return {pop.name: rt.spikes(pop.name) for pop in exe.ir.populations}


def assert_spikes_file(path: Path, expected: dict) -> None:
    with np.load(path, allow_pickle=False) as data:
        assert sorted(data.files) == sorted(f"{name}.{part}" for name in expected
                                            for part in ("times", "indices"))
        for name, spikes in expected.items():
            assert data[f"{name}.times"].dtype == np.int64
            assert np.array_equal(data[f"{name}.times"], spikes.times), name
            assert np.array_equal(data[f"{name}.indices"], spikes.indices), name


def test_run_is_listed_and_its_example_parses() -> None:
    command = next(command for command in COMMANDS if command.name == "run")
    argv = shlex.split(command.example)
    args = build_parser().parse_args(argv[1:])
    assert args.run is command.run
    path, function = args.file.split(":")
    assert f"def {function}(" in (REPO / path).read_text(encoding="utf-8")


def test_file_kinds(files, tmp_path) -> None:
    assert file_kind(str(files["executable"])) == EXECUTABLE
    assert file_kind(str(files["snapshot"])) == SNAPSHOT
    assert file_kind(str(files["network"])) == MODEL
    assert file_kind("nmgraph/tools/demo.py:build_demo_network") == MODEL
    renamed = tmp_path / "exe.bin"   # the content decides, not the suffix
    renamed.write_bytes(files["executable"].read_bytes())
    assert file_kind(str(renamed)) == EXECUTABLE


@pytest.mark.parametrize("backend", ["reference", "multicore"])
@pytest.mark.parametrize("kind", ["network", "executable"])
def test_network_and_executable_run_and_save_the_reference_spikes(files, tmp_path, capsys,
                                                                  kind, backend) -> None:
    spikes = tmp_path / "spikes.npz"
    assert main(["run", str(files[kind]), "--steps", str(STEPS), "--backend", backend,
                 "--spikes", str(spikes), "--no-progress"]) == 0
    out = capsys.readouterr().out
    target = nm.load(files[kind]) if kind == "network" else Executable.load(files[kind])
    expected = reference_spikes(target, STEPS)
    assert_spikes_file(spikes, expected)
    how = f"{files[kind]}, compiled" if kind == "network" else f"Executable {files[kind]}"
    profile = "generic" if kind == "network" else "loihi1"
    assert f"network   'demo' from {how}: " in out and f"cores of {profile}" in out
    assert f"backend   {backend}" in out
    assert f"{STEPS} steps of 1 ms (t 0 -> {STEPS})" in out and "steps/s" in out
    for name, events in expected.items():   # spikes and mean rate (Hz) per process
        row = next(line.split() for line in out.splitlines() if line.startswith(name + " "))
        assert row[2] == f"{len(events):,}"
        assert row[3] == f"{len(events) / (events.n * STEPS * 1e-3):.2f}"
    assert "synaptic ops" in out and "neuron updates" in out
    assert ("spike messages" in out) and ("worker processes" in out) == (backend == "multicore")


def test_compile_options_apply_to_a_model(tmp_path, capsys) -> None:
    assert main(["run", "nmgraph/tools/demo.py:build_demo_network", "--hw", "loihi1",
                 "--max-neurons-per-core", "50", "--partition", "balanced", "--steps", "5",
                 "--backend", "reference"]) == 0
    out = capsys.readouterr().out
    assert "12 cores of loihi1, balanced/linear" in out   # 100 + 400 + 100 units, 50 a core


def test_snapshot_continues_as_a_straight_run(files, tmp_path, capsys) -> None:
    first, second = tmp_path / "at40.nms", tmp_path / "spikes.npz"
    assert main(["run", str(files["executable"]), "--steps", "40", "--backend", "multicore",
                 "--snapshot", str(first)]) == 0
    assert f"snapshot  {first}" in capsys.readouterr().out
    assert main(["run", str(first), "--steps", "30", "--backend", "reference", "--spikes",
                 str(second), "--report", str(tmp_path / "r.md")]) == 0
    out = capsys.readouterr().out
    assert f"from snapshot {first} taken at step 40" in out
    assert "30 steps of 1 ms (t 40 -> 70)" in out
    exe = Executable.load(files["executable"])
    straight = reference_spikes(exe, 70)
    assert_spikes_file(second, straight)   # the spikes since step 1, the snapshot's included
    exc = straight["exc"]
    row = next(line.split() for line in out.splitlines() if line.startswith("exc "))
    assert row[2] == f"{int(np.count_nonzero(exc.times > 40)):,}"   # the rows: this run only
    report = (tmp_path / "r.md").read_text(encoding="utf-8")
    assert "| counter | this run | total at step 70 |" in report


def test_report_holds_summary_processes_and_counters(files, tmp_path, capsys) -> None:
    report = tmp_path / "run.md"
    assert main(["run", str(files["snapshot"]), "--steps", "10", "--backend", "multicore",
                 "--workers", "1", "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert f"report    {report}" in out and "multicore, 1 worker;" in out
    text = report.read_text(encoding="utf-8")
    assert text.startswith("# nmgraph run: 'demo' from snapshot")
    for heading in ("## Processes", "## Counters"):
        assert f"\n{heading}\n" in text
    assert "## MPI ranks" not in text
    for counter in ("synaptic_ops", "neuron_updates", "messages", "messages_workers",
                    "messages_ranks"):
        assert f"| {counter} |" in text
    assert "| exc | neuron | 400 |" in text and "| input | source | 100 |" in text


def test_ranks_run_on_started_mpi_ranks(files, tmp_path, capsys) -> None:
    pytest.importorskip("mpi4py")
    spikes, report = tmp_path / "spikes.npz", tmp_path / "mpi.md"
    assert main(["run", str(files["executable"]), "--steps", str(STEPS), "--ranks", "2",
                 "--spikes", str(spikes), "--report", str(report), "--no-progress"]) == 0
    out = capsys.readouterr().out
    exe = Executable.load(files["executable"])
    assert_spikes_file(spikes, reference_spikes(exe, STEPS))
    assert "mpi, 2 ranks started by this command" in out
    assert "bytes between MPI ranks" in out and "Placement on 2 rank(s)" in out
    text = report.read_text(encoding="utf-8")
    assert "\n## MPI ranks\n" in text and "| messages_ranks |" in text


def test_spmd_job_prints_and_writes_on_rank_0_only(files, tmp_path) -> None:
    pytest.importorskip("mpi4py")
    from nmgraph.runtimes.mpi_host import find_mpiexec

    spikes, snapshot = tmp_path / "spikes.npz", tmp_path / "end.nms"
    done = subprocess.run([find_mpiexec(), "-n", "2", sys.executable, "-m", "nmgraph.tools.cli",
                           "run", str(files["executable"]), "--backend", "mpi", "--steps",
                           str(STEPS), "--spikes", str(spikes), "--snapshot", str(snapshot)],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("\nbackend   mpi, 2 ranks of this mpiexec job;") == 1
    exe = Executable.load(files["executable"])
    assert_spikes_file(spikes, reference_spikes(exe, STEPS))
    with nm.Runtime.restore(snapshot, backend="reference") as rt:
        assert rt.t == STEPS


@pytest.mark.parametrize(("argv", "message"), [
    (["run", "no/such.nmx"], "no such file"),
    (["run", "{text}"], "not a file nmgraph writes"),
    (["run", "{foreign}"], "names the format 'other-format'"),
    (["run", "{executable}", "--steps", "0"], "--steps: must be >= 1"),
    (["run", "{executable}", "--steps", "ten"], "--steps: must be an integer"),
    (["run", "{executable}", "--hw", "loihi2"], "is an Executable: it runs as it was compiled, "
                                                "so --hw does not apply"),
    (["run", "{snapshot}", "--partition", "mincut", "--dt", "1e-3"],
     "is a snapshot: it runs as it was compiled, so --partition, --dt do not apply"),
    (["run", "{executable}", "--ranks", "2", "--backend", "multicore"],
     "--ranks 2 runs on the mpi backend, not --backend multicore"),
    (["run", "{executable}", "--backend", "reference", "--workers", "2"], "workers=2"),
    (["run", "{executable}", "--spikes", "no/such/folder/s.npz"], "does not exist"),
    (["run", "{network}", "--dt", "1e-3"], "--dt applies to NIR files only"),
])
def test_errors_are_one_line_with_exit_code_2(files, tmp_path, capsys, argv, message) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a network\n")
    foreign = tmp_path / "foreign.zip"
    with zipfile.ZipFile(foreign, "w") as archive:
        archive.writestr("document.json", '{"format": "other-format", "version": 1}')
    names = {"text": text, "foreign": foreign, **files}
    argv = [arg.format(**names) for arg in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
