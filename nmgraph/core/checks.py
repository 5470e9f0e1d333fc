"""Validation of user input into typed arrays and scalars, with errors that name the owner.

Every public constructor in nmgraph goes through these helpers, so that bad input always raises a
:class:`~nmgraph.core.errors.ValidationError` of the form ``Class 'name'.attribute: message (got X)`` and
never a bare ``TypeError``, ``IndexError`` or ``AssertionError``.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from nmgraph.core.errors import ValidationError

__all__ = ["WEIGHT_FLOAT_HINT", "as_float_array", "as_int_array", "as_int_scalar", "as_shape",
           "as_weight_array", "as_weight_scalar", "process_label"]

#: What the error for non-whole float weights suggests.
WEIGHT_FLOAT_HINT = ("quantize float weights with nm.quantize_weights(weights, bits=8), which "
                     "returns the integers, the scale it used and the error")


def as_shape(owner: Any, attribute: str, shape: Any) -> tuple[int, ...]:
    """Return ``shape`` as a tuple of positive ints (an int ``n`` means ``(n,)``)."""
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (int(shape),)
    if not isinstance(shape, (tuple, list)) or len(shape) == 0:
        raise ValidationError(owner, attribute, "must be a positive int or a non-empty tuple of them",
                              shape)
    dims = []
    for dim in shape:
        if isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or int(dim) <= 0:
            raise ValidationError(owner, attribute, "every dimension must be a positive int", shape)
        dims.append(int(dim))
    return tuple(dims)


def _as_numeric_array(owner: Any, attribute: str, value: Any) -> np.ndarray:
    if value is None:
        raise ValidationError(owner, attribute, "a value is required", value)
    if hasattr(value, "toarray") and hasattr(value, "nnz"):
        raise ValidationError(owner, attribute, "expected a dense array, not a sparse matrix "
                              "(use Sparse for sparse weights)", value)
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:  # ragged lists and the like
        raise ValidationError(owner, attribute, f"cannot be read as an array ({exc})", value) from None
    if array.dtype == object:
        raise ValidationError(owner, attribute, "must be numeric, not a ragged or object array", value)
    return array


def _broadcast(owner: Any, attribute: str, array: np.ndarray, shape: tuple[int, ...] | None):
    if shape is None:
        return array
    try:
        return np.broadcast_to(array, shape)
    except ValueError:
        raise ValidationError(owner, attribute,
                              f"shape {array.shape} does not fit the expected shape {shape}",
                              array) from None


def as_int_array(owner: Any, attribute: str, value: Any, *, shape: tuple[int, ...] | None = None,
                 low: int | None = None, high: int | None = None,
                 dtype: type | np.dtype = np.int64, copy: bool = True,
                 whole_floats: bool = False, float_hint: str = "") -> np.ndarray:
    """Check that ``value`` holds integers in ``[low, high]`` and broadcast it to ``shape``.

    Floats are refused even when integral, so that a forgotten quantization step never passes
    silently; with ``whole_floats`` (weights), floats with whole values (``3.0``, a float32
    array of integers) are taken as those integers and any other float is refused with
    ``float_hint``. A scalar broadcast to ``shape`` is returned as a read-only view when ``copy``
    is False, which keeps scalar parameters of big populations free of memory.
    """
    array = _as_numeric_array(owner, attribute, value)
    if array.dtype.kind == "b":
        raise ValidationError(owner, attribute, "must be integers, not booleans", value)
    if whole_floats and array.dtype.kind == "f":
        _check_whole(owner, attribute, array, value, float_hint)
    elif array.dtype.kind not in "iu":
        raise ValidationError(owner, attribute,
                              f"must be integers (fixed point); got dtype {array.dtype}", value)
    if array.size:
        lowest, highest = array.min(), array.max()
        if low is not None and lowest < low:
            raise ValidationError(owner, attribute, f"must be >= {low}", int(lowest))
        if high is not None and highest > high:
            raise ValidationError(owner, attribute, f"must be <= {high}", int(highest))
    array = _broadcast(owner, attribute, array.astype(dtype, copy=False), shape)
    return np.array(array, dtype=dtype) if copy else array


def _check_whole(owner: Any, attribute: str, array: np.ndarray, value: Any, hint: str) -> None:
    """Refuse a float array unless every value is finite and whole, naming one that is not."""
    bad = ~np.isfinite(array)
    bad |= np.isfinite(array) & (array != np.trunc(array))
    count = int(np.count_nonzero(bad))
    if count:
        example = array[bad].flat[0].item()
        raise ValidationError(owner, attribute,
                              f"must be whole numbers (fixed point): {count:,} of {array.size:,} "
                              f"values are not, for example {example!r}"
                              + (f"; {hint}" if hint else ""), value)


def as_int_scalar(owner: Any, attribute: str, value: Any, *, low: int | None = None,
                  high: int | None = None, whole_floats: bool = False,
                  float_hint: str = "") -> int:
    """Check that ``value`` is one integer in ``[low, high]`` (with ``whole_floats``, a float
    with a whole value such as ``3.0`` counts as that integer; other floats are refused with
    ``float_hint``)."""
    is_float = isinstance(value, (float, np.floating)) or (
        isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind == "f")
    if whole_floats and is_float:
        _check_whole(owner, attribute, np.asarray(value, dtype=np.float64), value, float_hint)
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind in "iu":
            value = value.item()
        else:
            raise ValidationError(owner, attribute, "must be one integer", value)
    value = int(value)
    if low is not None and value < low:
        raise ValidationError(owner, attribute, f"must be >= {low}", value)
    if high is not None and value > high:
        raise ValidationError(owner, attribute, f"must be <= {high}", value)
    return value


def as_weight_array(owner: Any, attribute: str, value: Any, **kwargs: Any) -> np.ndarray:
    """:func:`as_int_array` for synaptic weights: whole floats are taken as integers, other
    floats are refused with a pointer to ``nm.quantize_weights``."""
    return as_int_array(owner, attribute, value, whole_floats=True,
                        float_hint=WEIGHT_FLOAT_HINT, **kwargs)


def as_weight_scalar(owner: Any, attribute: str, value: Any, *, low: int | None = None,
                     high: int | None = None) -> int:
    """:func:`as_int_scalar` for one synaptic weight (a connector's ``weight``): whole floats
    are taken as integers, other floats are refused with a pointer to ``nm.quantize_weights``."""
    return as_int_scalar(owner, attribute, value, low=low, high=high, whole_floats=True,
                         float_hint=WEIGHT_FLOAT_HINT)


def as_float_array(owner: Any, attribute: str, value: Any, *, shape: tuple[int, ...] | None = None,
                   low: float | None = None, high: float | None = None) -> np.ndarray:
    """Check that ``value`` holds finite reals in ``[low, high]`` and broadcast it to ``shape``."""
    array = _as_numeric_array(owner, attribute, value)
    if array.dtype.kind not in "iuf" or array.dtype.kind == "b":
        raise ValidationError(owner, attribute, "must be real numbers", value)
    array = array.astype(np.float64)
    if array.size and not np.all(np.isfinite(array)):
        raise ValidationError(owner, attribute, "must be finite", value)
    if array.size:
        if low is not None and array.min() < low:
            raise ValidationError(owner, attribute, f"must be >= {low}", float(array.min()))
        if high is not None and array.max() > high:
            raise ValidationError(owner, attribute, f"must be <= {high}", float(array.max()))
    return np.array(_broadcast(owner, attribute, array, shape))


def process_label(cls: type, name: str | None) -> str:
    """How errors name a process that is not built yet: ``Dense 'syn'`` or ``Dense``."""
    return f"{cls.__name__} '{name}'" if name is not None else cls.__name__


#: Entries compared per chunk by :func:`pairs_strictly_increasing` (bounds its temporaries).
PAIR_CHUNK = 1 << 14


def pairs_strictly_increasing(major: np.ndarray, minor: np.ndarray, n_minor: int) -> bool:
    """True when the pairs ``(major[i], minor[i])`` strictly increase in lexicographic order
    (so none repeats: for synapse lists, a CSR by ``major`` with rows sorted by ``minor``).
    Compared in chunks of packed int64 keys ``major * n_minor + minor``."""
    n = major.size
    for start in range(0, n - 1, PAIR_CHUNK):
        stop = min(n, start + PAIR_CHUNK + 1)  # one entry of overlap joins the chunks
        key = major[start:stop].astype(np.int64) * n_minor
        key += minor[start:stop]
        if bool(np.any(key[1:] <= key[:-1])):
            return False
    return True
