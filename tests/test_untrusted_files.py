"""Files are untrusted input: crafted or corrupted networks, Executables and snapshots end in a
clean FileFormatError naming the file (and member), or load and run bit-identically to the
reference; never a crash, a hang, a generic exception or other spikes. And values set by name
are validated as values set through the process."""

from __future__ import annotations

import io
import os
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from netgen import random_network

import nmgraph as nm
from nmgraph.compilers.executable_io import load_executable, save_executable

sys.path.insert(0, str(Path(__file__).resolve().parent / "fuzz"))
import fuzz_files


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    return fuzz_files.originals(tmp_path_factory.mktemp("originals"))


def rewrite(path: Path, out: Path, member: str, change) -> Path:
    with zipfile.ZipFile(path) as archive:
        members = {i.filename: archive.read(i) for i in archive.infolist()}
    members[member] = change(members[member])
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array)
    return buffer.getvalue()


def edited(data: bytes, fn) -> bytes:
    return npy(fn(np.lib.format.read_array(io.BytesIO(data)).copy()))


def bump(array: np.ndarray) -> np.ndarray:
    array.flat[0] += 1
    return array


@pytest.mark.parametrize("member", ["tables/syn_weight", "tables/axon_syn_ptr",
                                    "tables/core_unit_ptr", "routing/axon_source",
                                    "routing/dest_core", "partition/unit_core"])
def test_edited_derived_tables_are_refused(files, tmp_path, member: str) -> None:
    out = rewrite(files["executable"], tmp_path / "x.nmx", f"arrays/{member}.npy",
                  lambda data: edited(data, bump))
    with pytest.raises(nm.FileFormatError) as info:
        load_executable(out)
    assert str(out) in str(info.value)


@pytest.mark.parametrize("change", [lambda a: -a - 1, lambda a: a * 0, lambda a: a + 10**6])
def test_out_of_range_indices_never_reach_a_kernel(files, tmp_path, change) -> None:
    for member in ("routing/axon_source", "tables/axon_syn_ptr", "tables/core_unit_ptr",
                   "proj0/targets"):
        out = rewrite(files["executable"], tmp_path / "x.nmx", f"arrays/{member}.npy",
                      lambda data: edited(data, change))
        with pytest.raises(nm.FileFormatError):
            nm.Runtime(load_executable(out), workers=2).close()


def test_derived_tables_come_from_the_compiler_not_the_file(files, tmp_path) -> None:
    """A table whose values match but whose dtype does not (floats) loads, and the Executable
    holds the rebuilt integer arrays: no array the kernels index comes from the file."""
    out = rewrite(files["executable"], tmp_path / "x.nmx", "arrays/tables/core_units.npy",
                  lambda data: edited(data, lambda a: a.astype(np.float64)))
    exe = load_executable(out)
    assert exe.tables.core_units.dtype.kind == "i"
    assert fuzz_files.outcome(out, "executable") == "identical"


def test_consistent_edit_of_the_ir_runs_as_the_reference(files, tmp_path) -> None:
    """The IR is the source of truth: a file whose weights were changed everywhere they are
    stored (IR and tables, as a re-save does) is a different network, run identically by both
    backends."""
    exe = load_executable(files["executable"])
    exe.ir.projections[0].weights[:] = np.where(exe.ir.projections[0].weights > 0, 3, -3)
    exe = nm.compile(exe.ir, hardware=exe.profile, max_neurons_per_core=5)
    path = save_executable(exe, tmp_path / "changed.nmx")
    assert fuzz_files.outcome(path, "executable") == "identical"


def test_a_fifo_is_refused_at_once(tmp_path) -> None:
    fifo = tmp_path / "pipe.nmg"
    os.mkfifo(fifo)
    start = time.monotonic()
    for load in (nm.load, load_executable, nm.Runtime.restore):
        with pytest.raises(nm.FileFormatError, match="not a regular file"):
            load(fifo)
    assert time.monotonic() - start < 5


def test_a_member_larger_than_announced_or_than_the_budget(files, tmp_path, monkeypatch) -> None:
    huge = np.zeros(30_000_000, dtype=np.int64)          # 240 MB, a few hundred kB zipped
    out = rewrite(files["executable"], tmp_path / "bomb.nmx", "arrays/proj0/targets.npy",
                  lambda data: npy(huge))
    start = time.monotonic()
    with pytest.raises(nm.FileFormatError, match="document says"):
        load_executable(out)
    monkeypatch.setenv("NMGRAPH_MAX_LOAD_BYTES", str(50_000_000))
    with pytest.raises(nm.FileFormatError, match="load budget"):
        load_executable(out)
    with pytest.raises(nm.FileFormatError, match="load budget"):
        nm.load(rewrite(files["network"], tmp_path / "bomb.nmg",
                        _first_npy(files["network"]), lambda data: npy(huge)))
    assert time.monotonic() - start < 10


def _first_npy(path: Path) -> str:
    with zipfile.ZipFile(path) as archive:
        return next(n for n in archive.namelist() if n.endswith(".npy"))


def test_deep_json_is_a_format_error(files, tmp_path) -> None:
    out = rewrite(files["snapshot"], tmp_path / "deep.nms", "document.json",
                  lambda data: b"[" * 200_000 + b"]" * 200_000)
    with pytest.raises(nm.FileFormatError, match=r"deep|JSON"):
        nm.Runtime.restore(out)


@pytest.mark.parametrize("kind", fuzz_files.KINDS)
@pytest.mark.parametrize("mutation", fuzz_files.MUTATIONS)
@settings(max_examples=3, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1))
def test_mutated_files_are_refused_or_run_identically(files, tmp_path, kind: str,
                                                      mutation: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    target = tmp_path / f"case{files[kind].suffix}"
    target.write_bytes(fuzz_files.mutate(files[kind].read_bytes(), rng, mutation))
    assert fuzz_files.outcome(target, kind, workers=1 + seed % 2) in ("rejected", "identical")


@pytest.mark.slow
def test_fuzzing_campaign(tmp_path) -> None:
    counts = fuzz_files.campaign(150, seed=11, folder=tmp_path)
    assert not [key for key in counts if key[2] not in ("rejected", "identical")]


@pytest.mark.parametrize("backend", ["reference", "multicore"])
@pytest.mark.parametrize(("var", "value"), [("du", 5000), ("bias_exp", 9), ("v", np.nan),
                                            ("vth", "high"), ("v", 2**40), ("dv", 2.5)])
def test_set_by_name_is_validated_like_set_by_process(backend: str, var: str, value) -> None:
    net = random_network(4, kinds=("lif",))
    name = next(p.name for p in net.processes if isinstance(p, nm.processes.LIF))
    with nm.Runtime(net, backend=backend) as rt:
        rt.run(3)
        for target in (name, net[name]):
            with pytest.raises(nm.ValidationError):
                rt.set(target, var, value)
        rt.run(3)   # still usable
        assert rt.t == 6


def test_smaller_input_checks(tmp_path) -> None:
    net = random_network(1)
    with nm.Runtime(net, workers=np.int64(2)) as rt:          # numpy integers are ints
        rt.run(2)
        assert rt.backend.n_workers == 2
        with pytest.raises(FileNotFoundError, match="does not exist"):
            rt.snapshot(tmp_path / "missing" / "x.nms")        # names the folder, not a temp file
    with pytest.raises(nm.SimulationError, match="progress"):
        nm.Runtime(net, workers=2, progress="yes")
    with pytest.raises(nm.ValidationError, match="du"):
        nm.processes.LIF(shape=3, du=None)
    with pytest.raises(nm.ValidationError, match="name"):
        nm.processes.LIF(shape=3, name="exc\n")
    big = nm.Network()
    big.add(nm.processes.LIF(shape=(10**6, 10**6), name="big"))
    with pytest.raises(nm.ValidationError, match="GiB"):
        nm.compile(big)
    with pytest.raises(nm.ValidationError, match="2\\*\\*62"):
        nm.compile(net, hardware={"name": "x", "neurons_per_core": 10**20, "max_delay": 8})


def test_runs_stop_at_the_step_limit() -> None:
    from nmgraph.runtimes.state import MAX_STEPS

    with nm.Runtime(random_network(2), backend="reference") as rt:
        with pytest.raises(nm.ValidationError, match="2\\*\\*31"):
            rt.run(MAX_STEPS + 1)


def test_a_file_of_an_older_version_is_rerouted_with_a_warning(files, tmp_path) -> None:
    """A routing model that changed between versions is not a reason to refuse a file: its
    derived tables are rebuilt with this version's passes (as they always are), and it says so."""
    import json

    def older(data: bytes) -> bytes:
        document = json.loads(data)
        document["nmgraph"] = "0.1.0"
        return json.dumps(document).encode()

    edited_tables = rewrite(files["executable"], tmp_path / "tables.nmx",
                            "arrays/routing/dest_core.npy", lambda data: edited(data, bump))
    old = rewrite(edited_tables, tmp_path / "old.nmx", "document.json", older)
    with pytest.warns(nm.AdjustmentWarning, match=r"written by nmgraph 0\.1\.0.*rebuilt"):
        exe = load_executable(old)
    fresh = load_executable(files["executable"])
    assert np.array_equal(exe.routing.dest_core, fresh.routing.dest_core)
    with pytest.raises(nm.FileFormatError, match="routing/dest_core"):
        load_executable(edited_tables)          # this version's own file: refused
