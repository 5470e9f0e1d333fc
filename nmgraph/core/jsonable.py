"""Plain JSON: report values (NumPy scalars and arrays, tuples, mappings) converted to plain JSON
types, and the strict parser every nmgraph file is read with."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["loads_strict", "to_plain"]


def to_plain(value: Any) -> Any:
    """``value`` with NumPy values, tuples and mappings as plain JSON types; non-finite floats
    become ``None`` (strict JSON has no NaN)."""
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return to_plain(value.tolist())
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (np.floating, float)):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def loads_strict(text: str | bytes) -> Any:
    """Parse strict JSON: the constants ``NaN``, ``Infinity`` and ``-Infinity``, which
    :func:`json.loads` accepts by default and nmgraph never writes, raise :class:`ValueError`
    (as every other parse error does)."""
    return json.loads(text, parse_constant=_refuse_constant)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name} (strict JSON has no NaN or Infinity)")
