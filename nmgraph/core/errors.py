"""The errors nmgraph raises. Every message names the object (process, port, file, worker) at fault."""

from __future__ import annotations

from typing import Any

__all__ = [
    "AdjustmentWarning",
    "FileFormatError",
    "MappingError",
    "NmgraphError",
    "NmgraphWarning",
    "PortError",
    "QuantizationWarning",
    "SimulationError",
    "ValidationError",
    "WorkerError",
    "describe",
]

_NOTHING = object()


class NmgraphError(Exception):
    """Base class of every error nmgraph raises on purpose."""


def describe(owner: Any) -> str:
    """Name an object the way error messages do: ``LIF 'exc'``, ``Network 'demo'``."""
    name = getattr(owner, "name", None)
    if name is not None and not isinstance(owner, str):
        return f"{type(owner).__name__} '{name}'"
    return str(owner)


class ValidationError(NmgraphError, ValueError):
    """Bad user input. Prints ``Class 'name'.attribute: message (got X)``.

    Parameters
    ----------
    owner
        The process (or network, or a plain string) the bad value belongs to.
    attribute
        The parameter, port or Var name; empty when the message is about the owner as a whole.
    message
        What was expected.
    got
        The offending value; omitted from the message when not given.
    """

    def __init__(self, owner: Any, attribute: str, message: str, got: Any = _NOTHING) -> None:
        self.owner = owner
        self.attribute = attribute
        self.got = None if got is _NOTHING else got
        where = describe(owner) + (f".{attribute}" if attribute else "")
        text = f"{where}: {message}"
        if got is not _NOTHING:
            text += f" (got {_short_repr(got)})"
        super().__init__(text)


class PortError(ValidationError):
    """A connection that cannot be made (direction, shape, kind, membership, duplicate)."""


class MappingError(NmgraphError):
    """A network that does not fit the chosen hardware profile, with need versus limit."""


class FileFormatError(NmgraphError):
    """A model, executable or snapshot file that is corrupt, foreign or of a future version."""


class SimulationError(NmgraphError):
    """A run that cannot proceed (bad request to a runtime, unknown process or Var)."""


class WorkerError(SimulationError):
    """A multi-core worker raised or died; names the worker and its cores."""


def _short_repr(value: Any) -> str:
    try:
        import numpy as np

        if isinstance(value, np.ndarray):
            if value.size <= 6:
                return f"array({value.tolist()}, dtype={value.dtype})"
            return f"array of shape {value.shape}, dtype {value.dtype}"
    except ImportError:  # pragma: no cover - numpy is a dependency
        pass
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


class NmgraphWarning(UserWarning):
    """Base class of the warnings nmgraph emits: something was changed or adjusted for you."""


class QuantizationWarning(NmgraphWarning):
    """A value was changed to fit fixed point or a chip (weights, time constants, rates); the
    message says how much and where the full account is."""


class AdjustmentWarning(NmgraphWarning):
    """A request that was adjusted to what there is (more workers asked than cores to run)."""
