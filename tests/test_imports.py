"""Every module of the package imports: a broken import anywhere fails here, by name."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil

import pytest

#: The folders setup.py maps into the nmgraph namespace. They are not sub-folders of nmgraph/ on
#: disk, so a walk of nmgraph's own path does not see them; each is walked from its own path.
LAYERS = ("nmgraph.processes", "nmgraph.compilers", "nmgraph.runtimes")


def _walk(path: list[str], prefix: str) -> set[str]:
    # onerror: a sub-package that fails to import is still listed, and its own test reports it.
    return {info.name for info in pkgutil.walk_packages(path, prefix, onerror=lambda name: None)}


def _module_names() -> list[str]:
    names = {"nmgraph", *LAYERS}
    spec = importlib.util.find_spec("nmgraph")
    names |= _walk(list(spec.submodule_search_locations), "nmgraph.")
    for layer in LAYERS:
        try:
            package = importlib.import_module(layer)
        except Exception:  # reported by test_module_imports[layer]
            continue
        names |= _walk(list(package.__path__), f"{layer}.")
    return sorted(names)


MODULES = _module_names()


def test_walk_reaches_every_layer() -> None:
    for name in ("nmgraph.core.network", "nmgraph.tools.plot", "nmgraph.tools.cli", "nmgraph.tools.demo",
                 "nmgraph.processes.neurons", "nmgraph.compilers.lower",
                 "nmgraph.runtimes.reference_simulator", "nmgraph.runtimes._worker_kernel"):
        assert name in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_module_imports(name: str) -> None:
    importlib.import_module(name)
