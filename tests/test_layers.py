"""The layers import one way: core < processes < compilers < runtimes < tools (see layering.py)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from layering import layer_of, upward_imports

REPO = Path(__file__).resolve().parent.parent
#: The folders setup.py maps into the nmgraph namespace.
ROOTS = {
    "nmgraph": REPO / "nmgraph",
    "nmgraph.processes": REPO / "processes",
    "nmgraph.compilers": REPO / "compilers",
    "nmgraph.runtimes": REPO / "runtimes",
}

#: Upward imports that are known and scheduled for removal, as (file relative to the repository,
#: imported module). Each one is a debt, not a permission: remove the entry with the import.
PENDING: set[tuple[str, str]] = set()


def test_no_import_points_upward() -> None:
    findings = upward_imports(ROOTS)
    found = {(str(f.path.relative_to(REPO)), f.imported) for f in findings}
    unexpected = [str(f) for f in findings
                  if (str(f.path.relative_to(REPO)), f.imported) not in PENDING]
    assert not unexpected, "imports that point upward:\n" + "\n".join(unexpected)
    stale = sorted(PENDING - found)
    assert not stale, f"PENDING lists imports that are gone (remove them from the list): {stale}"


def test_every_folder_maps_to_a_layer() -> None:
    assert layer_of("nmgraph.core.network") == 1
    assert layer_of("nmgraph.processes.neurons") == 2
    assert layer_of("nmgraph.compilers.lower") == 3
    assert layer_of("nmgraph.runtimes.multicore") == 4
    assert layer_of("nmgraph.tools.plot") == layer_of("nmgraph") == layer_of("nmgraph.plot") == 5
    assert layer_of("numpy") is None


def _plant(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


def test_checker_reports_planted_upward_imports(tmp_path) -> None:
    _plant(tmp_path / "nmgraph", {
        "__init__.py": "from nmgraph.core.net import Net\n",
        "core/__init__.py": "",
        "core/net.py": """\
            from nmgraph.core import errors


            def draw(net):
                from nmgraph.tools.plot import raster  # a function-local import counts too

                return raster(net)
            """,
        "core/relative.py": "from ..tools import plot\n",
        "core/facade.py": "import nmgraph\n",
        "stray.py": "x = 1\n",
        "tools/__init__.py": "",
        "tools/plot.py": "from nmgraph.core.net import draw\n",
    })
    findings = upward_imports({"nmgraph": tmp_path / "nmgraph"})
    found = {(f.path.relative_to(tmp_path).as_posix(), f.line, f.imported) for f in findings}
    assert found == {
        ("nmgraph/core/net.py", 5, "nmgraph.tools.plot"),
        ("nmgraph/core/relative.py", 1, "nmgraph.tools"),
        ("nmgraph/core/facade.py", 1, "nmgraph"),
        ("nmgraph/stray.py", 1, ""),
    }
    message = next(str(f) for f in findings if f.path.name == "net.py")
    assert message.endswith("net.py:5: core (1) imports nmgraph.tools.plot, tools (5)")
