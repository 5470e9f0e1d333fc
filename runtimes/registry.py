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


@register_backend("mpi")
def _mpi(ir: Any, executable: Any = None, workers: int | None = None, ranks: int | None = None,
         comm: Any = None, **options: Any) -> Any:
    if workers not in (None, 1):
        raise SimulationError(f"the mpi backend runs the cores of each rank in the rank's own "
                              f"process; workers={workers} is not available on it (use more "
                              "ranks)")
    unknown = set(options) - {"progress", "watchdog_s", "mpiexec", "mpiexec_args"}
    if unknown:
        raise SimulationError(f"unknown mpi options {sorted(unknown)}; known: ranks, comm, "
                              "progress, watchdog_s, mpiexec, mpiexec_args")
    _check_progress(options)
    watchdog = options.get("watchdog_s")
    if watchdog is not None and (isinstance(watchdog, bool) or not isinstance(
            watchdog, (int, float)) or not 0 < watchdog < float("inf")):
        raise SimulationError(f"watchdog_s must be a number of seconds > 0 (got {watchdog!r})")
    if ranks is None:
        if "mpiexec" in options or "mpiexec_args" in options:
            raise SimulationError("mpiexec= and mpiexec_args= start ranks: give ranks= too "
                                  "(without ranks=, the script is itself one rank of a job)")
        from nmgraph.runtimes.mpi_backend import MPIBackend

        return MPIBackend(executable, comm=comm, **options)
    if isinstance(ranks, np.integer):
        ranks = int(ranks)
    if isinstance(ranks, bool) or not isinstance(ranks, int) or ranks < 1:
        raise SimulationError(f"ranks must be an int >= 1 (got {ranks!r})")
    if comm is not None:
        raise SimulationError("give either ranks= (the Runtime starts the ranks) or comm= (this "
                              "script runs in every rank), not both")
    from nmgraph.runtimes.mpi_host import MPIHostBackend

    return MPIHostBackend(executable, ranks, **options)


def _check_progress(options: dict[str, Any]) -> None:
    if "progress" in options and not is_progress_option(options["progress"]):
        raise SimulationError(f"progress must be True, False, None (automatic: on a terminal) "
                              f"or a text stream (got {options['progress']!r})")
