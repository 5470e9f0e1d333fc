"""Explicit registries of the runtimes: models by process class, backends by name.

Nothing is discovered by scanning files. A process class runs by the model registered for it with
``nmgraph.implements`` (resolved through the class's MRO; importing this module registers the
built-in models of ``runtimes/models/``); a backend is available because it is registered here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from nmgraph.core.errors import SimulationError
from nmgraph.core.models import implements, model_named, model_of, registered_models
from nmgraph.core.progress import is_progress_option
from nmgraph.runtimes import models as _builtin_models  # noqa: F401  (registers the built-ins)

__all__ = ["BACKENDS", "backend_factory", "implements", "model_named", "model_of",
           "register_backend", "registered_models"]

#: Backend name -> factory taking (target, **options) and returning a Backend.
BACKENDS: dict[str, Callable[..., Any]] = {}


def register_backend(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a backend factory under ``name``."""
    def decorator(factory: Callable[..., Any]) -> Callable[..., Any]:
        BACKENDS[name] = factory
        return factory
    return decorator


def backend_factory(name: str) -> Callable[..., Any]:
    """The factory of backend ``name``, with an error listing the available ones."""
    try:
        return BACKENDS[name]
    except KeyError:
        raise SimulationError(f"unknown backend {name!r}; available: {sorted(BACKENDS)}") \
            from None


@register_backend("reference")
def _reference(ir: Any, executable: Any = None, workers: int | None = None,
               **options: Any) -> Any:
    from nmgraph.runtimes.reference_backend import ReferenceBackend

    if workers not in (None, 1):
        raise SimulationError(f"the reference backend runs in one process; workers={workers} "
                              "needs backend='multicore'")
    unknown = set(options) - {"progress"}
    if unknown:
        raise SimulationError(f"unknown reference options {sorted(unknown)}; known: progress")
    _check_progress(options)
    return ReferenceBackend(ir, executable, **options)


@register_backend("multicore")
def _multicore(ir: Any, executable: Any = None, workers: int | None = None,
               **options: Any) -> Any:
    from nmgraph.runtimes.multicore import MulticoreBackend

    if workers is None:
        workers = 2
    if isinstance(workers, np.integer):
        workers = int(workers)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise SimulationError(f"workers must be an int >= 1 (got {workers!r})")
    unknown = set(options) - {"progress", "transport", "watchdog_s"}
    if unknown:
        raise SimulationError(f"unknown multicore options {sorted(unknown)}; known: progress, "
                              "transport, watchdog_s")
    _check_progress(options)
    return MulticoreBackend(executable, workers=workers, **options)


def _check_progress(options: dict[str, Any]) -> None:
    if "progress" in options and not is_progress_option(options["progress"]):
        raise SimulationError(f"progress must be True, False, None (automatic: on a terminal) "
                              f"or a text stream (got {options['progress']!r})")
