"""Alias of :mod:`nmgraph.core.errors`, kept so that ``from nmgraph.errors import ValidationError``
and ``nm.errors`` still work. The error classes live in ``nmgraph/core/errors.py``."""

from nmgraph.core.errors import (
    FileFormatError,
    MappingError,
    NmgraphError,
    PortError,
    SimulationError,
    ValidationError,
    WorkerError,
    describe,
)

__all__ = ["FileFormatError", "MappingError", "NmgraphError", "PortError", "SimulationError",
           "ValidationError", "WorkerError", "describe"]
