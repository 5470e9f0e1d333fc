"""Alias of :mod:`nmgraph.core.errors`, kept so that ``from nmgraph.errors import ValidationError``
and ``nm.errors`` still work. The error and warning classes live in ``nmgraph/core/errors.py``."""

from nmgraph.core.errors import (
    AdjustmentWarning,
    FileFormatError,
    MappingError,
    NmgraphError,
    NmgraphWarning,
    PortError,
    QuantizationWarning,
    SimulationError,
    ValidationError,
    WorkerError,
    describe,
)

__all__ = ["AdjustmentWarning", "FileFormatError", "MappingError", "NmgraphError",
           "NmgraphWarning", "PortError", "QuantizationWarning", "SimulationError",
           "ValidationError", "WorkerError", "describe"]
