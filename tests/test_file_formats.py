"""Every nmgraph file (network, executable, snapshot) is read by one reader: strict JSON, no pickle,
and errors that name the file and the member at fault."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

import nmgraph as nm
from nmgraph.compilers.executable import Executable
from nmgraph.compilers.hardware import load_profile_file
from nmgraph.core.errors import FileFormatError
from nmgraph.core.io import load_network, save_network
from nmgraph.processes import LIF, Dense, PoissonSource

CONSTANTS = ("NaN", "Infinity", "-Infinity")


def _network() -> nm.Network:
    net = nm.Network("strict")
    src = net.add(PoissonSource(shape=(4,), rate=0.5, seed=3, name="src"))
    syn = net.add(Dense(weights=np.full((3, 4), 20), name="syn"))
    out = net.add(LIF(shape=(3,), du=400, dv=400, vth=100, name="out"))
    net.connect(src.s_out, syn.s_in)
    net.connect(syn.a_out, out.a_in)
    return net


def _with_constant(source: Path, target: Path, member: str, constant: str) -> Path:
    """A copy of ``source`` whose JSON ``member`` holds the bare constant ``constant``."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == member:
                text = data.decode("utf-8")
                brace = text.index("{")
                data = (text[:brace + 1] + f'"extra": {constant}, ' + text[brace + 1:]).encode()
            dst.writestr(name, data)
    return target


def _saved(kind: str, tmp_path: Path) -> tuple[Path, str]:
    """A good file of ``kind`` and the name of its JSON member."""
    if kind == "network":
        return save_network(_network(), tmp_path / "good.nmg"), "structure.json"
    exe = nm.compile(_network(), hardware="generic")
    if kind == "executable":
        return exe.save(tmp_path / "good.nmx"), "document.json"
    with nm.Runtime(exe, backend="reference") as rt:
        rt.run(3)
        return rt.snapshot(tmp_path / "good.nms"), "document.json"


def _load(kind: str, path: Path) -> object:
    if kind == "network":
        return load_network(path)
    if kind == "executable":
        return Executable.load(path)
    return nm.Runtime.restore(path, backend="reference")


@pytest.mark.parametrize("kind", ["network", "executable", "snapshot"])
def test_json_with_nan_or_infinity_is_refused(kind: str, tmp_path: Path) -> None:
    good, member = _saved(kind, tmp_path)
    restored = _load(kind, good)  # the untouched file loads
    if isinstance(restored, nm.Runtime):
        restored.close()
    for constant in CONSTANTS:
        bad = _with_constant(good, tmp_path / f"bad-{constant}{good.suffix}", member, constant)
        with pytest.raises(FileFormatError) as info:
            _load(kind, bad)
        message = str(info.value)
        assert bad.name in message and member in message, message
        assert f"constant {constant}" in message, message


def test_a_profile_json_with_nan_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nan.json"
    path.write_text('{"name": "nan", "neurons_per_core": NaN}', encoding="utf-8")
    with pytest.raises(FileFormatError, match=r"nan\.json.*not valid JSON.*constant NaN"):
        load_profile_file(path)


@pytest.mark.parametrize("kind", ["network", "executable", "snapshot"])
def test_the_wrong_kind_of_file_is_named(kind: str, tmp_path: Path) -> None:
    others = {"network": "executable", "executable": "snapshot", "snapshot": "network"}
    other, _ = _saved(others[kind], tmp_path)
    with pytest.raises(FileFormatError) as info:
        _load(kind, other)
    assert other.name in str(info.value) and "not an nmgraph" in str(info.value)
