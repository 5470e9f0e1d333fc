"""Which imports of nmgraph point upward, from one layer to a higher one.

The layers, bottom to top, each importing only from its own layer and the ones below:

1. the core model: ``nmgraph.core`` (and ``nmgraph._version``, a leaf that imports nothing)
2. the process library: ``nmgraph.processes`` (declarations only)
3. the compiler passes and their data: ``nmgraph.compilers``
4. the runtimes: ``nmgraph.runtimes``
5. the tools: ``nmgraph.tools``, the facade ``nmgraph`` itself (``nmgraph/__init__.py``) and the
   aliases ``nmgraph.plot``, ``nmgraph.errors``

Every ``import`` and ``from ... import`` statement of every ``.py`` file is read with :mod:`ast`,
wherever it stands (module level, inside a function, under ``if TYPE_CHECKING``), and relative
imports are resolved against the file's package. ``import nmgraph`` and ``from nmgraph import X``
name the facade, layer 5, so they are upward from any other layer. Cython sources (``.pyx``,
``.pxd``) cannot be parsed by :mod:`ast`; their ``import``/``cimport`` lines are read with a
regular expression instead.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

LAYER_NAMES = {1: "core", 2: "processes", 3: "compilers", 4: "runtimes", 5: "tools"}

#: Module prefixes and their layers; the longest matching prefix wins.
_PREFIX_LAYERS = {
    "nmgraph.core": 1,
    "nmgraph._version": 1,
    "nmgraph.processes": 2,
    "nmgraph.compilers": 3,
    "nmgraph.runtimes": 4,
    "nmgraph.tools": 5,
    "nmgraph.plot": 5,
    "nmgraph.errors": 5,
}
_FACADE = "nmgraph"

# Cython: "from a.b cimport x", "from a.b import x", "cimport a.b", "import a.b"
_CYTHON_IMPORT = re.compile(
    r"^\s*(?:from\s+(?P<source>[\w.]+)\s+c?import\b|c?import\s+(?P<modules>[\w.]+(?:\s*,\s*[\w.]+)*))")


@dataclass(frozen=True)
class Finding:
    """One import that breaks the layering (``imported_layer`` is None for a file in no layer)."""

    path: Path
    line: int
    importer: str
    importer_layer: int | None
    imported: str
    imported_layer: int | None

    def __str__(self) -> str:
        if self.importer_layer is None:
            return (f"{self.path}: module {self.importer} is in no layer (put it under "
                    "nmgraph/core/ or nmgraph/tools/)")
        return (f"{self.path}:{self.line}: {LAYER_NAMES[self.importer_layer]} "
                f"({self.importer_layer}) imports {self.imported}, "
                f"{LAYER_NAMES[self.imported_layer]} ({self.imported_layer})")


def layer_of(module: str) -> int | None:
    """The layer of an nmgraph module (None for modules outside nmgraph and for unknown ones)."""
    if module == _FACADE:
        return 5
    matches = [prefix for prefix in _PREFIX_LAYERS
               if module == prefix or module.startswith(prefix + ".")]
    return _PREFIX_LAYERS[max(matches, key=len)] if matches else None


def upward_imports(roots: Mapping[str, Path]) -> list[Finding]:
    """Every upward import (and every module in no layer) under ``roots``.

    ``roots`` maps a package name to the folder that holds it, for example
    ``{"nmgraph": repo / "nmgraph", "nmgraph.processes": repo / "processes"}``.
    """
    findings = []
    for package, folder in roots.items():
        for path in sorted(folder.rglob("*")):
            if path.suffix not in (".py", ".pyx", ".pxd") or "__pycache__" in path.parts:
                continue
            module, is_package = _module_name(package, folder, path)
            importer_layer = layer_of(module)
            if importer_layer is None:
                findings.append(Finding(path, 1, module, None, "", None))
                continue
            for line, imported in _imports(path, module, is_package):
                imported_layer = layer_of(imported)
                if imported_layer is not None and imported_layer > importer_layer:
                    findings.append(Finding(path, line, module, importer_layer, imported,
                                            imported_layer))
    return findings


def _module_name(package: str, folder: Path, path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(folder).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join([package, *parts]), is_package


def _imports(path: Path, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """``(line, imported module)`` of every import statement in the file."""
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".py":
        yield from _cython_imports(text)
        return
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(text, filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            if node.module is None:  # "from . import x": each x may be a module
                for alias in node.names:
                    yield node.lineno, f"{base}.{alias.name}"
            else:
                yield node.lineno, base


def _cython_imports(text: str) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(text.splitlines(), start=1):
        match = _CYTHON_IMPORT.match(line)
        if match is None:
            continue
        if match["source"]:
            yield number, match["source"]
        else:
            for name in match["modules"].split(","):
                yield number, name.strip()
