"""The version is written once, in nmgraph/_version.py: the package metadata and the code read it."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nmgraph
from nmgraph import _version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent


def test_pyproject_reads_the_version_from_the_package() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "nmgraph._version.__version__"}


def test_the_facade_exports_that_version() -> None:
    assert nmgraph.__version__ == _version.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", _version.__version__)


def test_no_other_module_assigns_a_version() -> None:
    folders = ("nmgraph", "processes", "compilers", "runtimes")
    assigned = [path.relative_to(REPO).as_posix() for folder in folders
                for path in (REPO / folder).rglob("*.py")
                if re.search(r"^__version__\s*=", path.read_text(encoding="utf-8"), re.MULTILINE)]
    assert assigned == ["nmgraph/_version.py"]
