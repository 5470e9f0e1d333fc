"""Synapse blocks: Dense and Sparse integer weight matrices with per-synapse delays.

A synapse block receives the spikes of ``pre`` units on ``s_in`` and sends integer input to ``post``
neurons on ``a_out``. A weight ``w`` counts as ``w << weight_exp``; a spike sent at step ``t`` through
a synapse of delay ``d`` reaches the neuron's ``a_in`` at step ``t + d`` (``d = 1`` is Lava's Dense).
Zero weights are not synapses: they are neither stored on a core nor counted as synaptic operations.

Weights are integers in ``-256..255`` (8 magnitude bits plus sign; ``-256`` only in a matrix with
both signs; floats are taken when their values are whole, :func:`nmgraph.quantize_weights` maps
others). ``num_weight_bits`` has Lava's meaning: the ``8 - num_weight_bits`` low bits of every weight
are dropped (:func:`nmgraph.core.weights.truncate_weights`; toward zero for an all-negative matrix,
toward minus infinity otherwise), on every profile: :meth:`effective_weights` shows the result. The
Loihi profiles drop one more bit of mixed-sign matrices, as Lava's bit-accurate Dense does. The
compiler reports every weight that differs from the declared one and warns
(:class:`~nmgraph.QuantizationWarning`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nmgraph.core.checks import (
    as_int_array,
    as_int_scalar,
    as_shape,
    as_weight_array,
    pairs_strictly_increasing,
    process_label,
)
from nmgraph.core.errors import ValidationError
from nmgraph.core.process import Var
from nmgraph.core.weights import (
    FULL_WEIGHT_BITS,
    WEIGHT_MAX,
    WEIGHT_MIN,
    truncate_weights,
)
from nmgraph.processes.base import SynapseProcess

__all__ = ["DELAY_MAX", "Dense", "Sparse", "index_dtype"]

#: Largest delay a synapse can declare (stored as uint8); each hardware profile has its own limit.
DELAY_MAX = 255
WEIGHT_EXP_MAX = 7
WEIGHT_BITS_MAX = FULL_WEIGHT_BITS


class WeightVar(Var):
    """The ``weights`` Var: integers in ``-256..255`` (whole floats accepted), ``-256`` only
    beside a positive weight (Lava's 8-bit range per sign mode: ``clip_weights``)."""

    def validate(self, value: Any) -> np.ndarray:
        array = as_weight_array(self.owner, self.name, value, shape=self.shape, low=self.low,
                                high=self.high, dtype=self.dtype, copy=False)
        if array.size and int(array.min()) == WEIGHT_MIN and int(array.max()) <= 0:
            raise ValidationError(self.owner, self.name, f"{WEIGHT_MIN} is only allowed beside "
                                  f"positive weights: an all-negative matrix ranges down to "
                                  f"{-WEIGHT_MAX} (Lava's Dense would clip it to {-WEIGHT_MAX})",
                                  WEIGHT_MIN)
        return array


class _WeightedSynapse(SynapseProcess):
    abstract = True

    def _check_weight_format(self, weight_exp: Any, num_weight_bits: Any) -> None:
        self._weight_exp = as_int_scalar(self, "weight_exp", weight_exp, low=0,
                                         high=WEIGHT_EXP_MAX)
        self._num_weight_bits = as_int_scalar(self, "num_weight_bits", num_weight_bits, low=1,
                                              high=WEIGHT_BITS_MAX)

    def _weights_var(self, shape: tuple[int, ...], init: Any, doc: str) -> None:
        var = WeightVar(self, "weights", shape, init=init, dtype=np.int16, low=WEIGHT_MIN,
                        high=WEIGHT_MAX, bits=FULL_WEIGHT_BITS + 1, doc=doc)
        self.vars["weights"] = var
        object.__setattr__(self, "weights", var)

    @property
    def weight_exp(self) -> int:
        """Exponent of the weights: a weight ``w`` counts as ``w << weight_exp`` (0..7)."""
        return self._weight_exp

    @property
    def num_weight_bits(self) -> int:
        """Precision of the weights (1..8), Lava's meaning: the ``8 - num_weight_bits`` low bits
        of each weight are dropped (see :meth:`effective_weights`)."""
        return self._num_weight_bits

    def effective_weights(self) -> np.ndarray:
        """The weights every backend runs (before a profile's own rule): the declared ones with
        their ``8 - num_weight_bits`` low bits dropped, as Lava's ``truncate_weights``
        (``lava/utils/weightutils.py``)::

            k = 8 - num_weight_bits
            all w <= 0 (some < 0):  w = -((-w >> k) << k)      (toward zero)
            otherwise:              w = (w >> k) << k          (toward minus infinity)

        The Loihi profiles drop one more bit of a matrix with both signs (Lava's
        ``k = 8 - num_weight_bits + 1``), and say so in the compile report. Same shape as
        ``weights``, int16.
        """
        return truncate_weights(self.weights.value, self._num_weight_bits)

    def __setattr__(self, key: str, value: object) -> None:
        if key in ("weight_exp", "num_weight_bits"):
            raise ValidationError(self, key, "is fixed at construction (the weights were "
                                  "validated against it); build a new synapse process", value)
        super().__setattr__(key, value)


class Dense(_WeightedSynapse):
    """All-to-all synapses from a weight matrix of shape ``(post, pre)``.

    Parameters
    ----------
    weights
        Integer array ``(post, pre)`` in ``-256..255`` (``-256`` only beside positive weights);
        floats are taken when their values are whole (:func:`nmgraph.quantize_weights` maps
        others to integers and reports the error).
    weight_exp
        0..7; each weight counts as ``w << weight_exp``.
    num_weight_bits
        1..8, Lava's meaning: the ``8 - num_weight_bits`` low bits of each weight are dropped
        (:meth:`effective_weights`), so ``Dense([[5]], num_weight_bits=6)`` adds 4. The Loihi
        profiles drop one more bit when the matrix has both signs.
    delay
        Steps from spike to arrival, 1..255: one int, or an int array ``(post, pre)``.
    """

    abstract = False

    def __init__(self, weights: Any, weight_exp: int = 0, num_weight_bits: int = 8,
                 delay: Any = 1, name: str | None = None) -> None:
        try:
            array = np.asarray(weights) if not hasattr(weights, "nnz") else None
        except (TypeError, ValueError):  # ragged nested lists
            array = None
        if array is None or array.ndim != 2 or 0 in array.shape:
            label = process_label(type(self), name)
            raise ValidationError(label, "weights", "must be a non-empty 2-D array (post, pre); "
                                  "use Sparse for sparse matrices", weights)
        super().__init__(array.shape[0], array.shape[1], name)
        self._check_weight_format(weight_exp, num_weight_bits)
        self._weights_var(array.shape, array, doc="synaptic weights (post, pre)")
        self._var("delay", array.shape, delay, dtype=np.uint8, low=1, high=DELAY_MAX, bits=8,
                  doc="synaptic delays in steps (post, pre)")
        self._finish()

    def constructor_args(self) -> dict[str, Any]:
        """``weights`` (the matrix), ``delay`` (an int when uniform), ``weight_exp`` and the
        other declared values."""
        delay = self.delay
        return {"weights": self.weights.get(),
                "delay": int(delay.value.flat[0]) if delay.is_uniform else delay.get(),
                "weight_exp": self._weight_exp, "num_weight_bits": self._num_weight_bits}


class Sparse(_WeightedSynapse):
    """Synapses from a sparse weight matrix of shape ``(post, pre)``.

    Parameters
    ----------
    weights
        A ``scipy.sparse`` matrix or array, a tuple ``(rows, cols, values)`` in COO form (``rows``
        index post, ``cols`` index pre; give ``shape``), or a dense 2-D array whose non-zeros are
        taken. Each (row, col) may appear once.
    shape
        ``(post, pre)``; required with COO tuples, checked otherwise.
    weight_exp, num_weight_bits
        As for :class:`Dense` (the sign mode of ``num_weight_bits`` is that of the entries).
    delay
        One int, or an int array with one delay per entry in the order of the COO entries (for a
        scipy matrix: the order of ``weights.tocoo()``).

    The entries are kept in the order given, as ``rows`` (post) and ``cols`` (pre): int32 (int64
    for dimensions beyond ``2**31``). Entries ordered by pre, then post (a CSR by source) lower
    without a sort or a copy: the compiler's IR then shares these arrays.
    """

    abstract = False

    def __init__(self, weights: Any, shape: Any = None, weight_exp: int = 0,
                 num_weight_bits: int = 8, delay: Any = 1, name: str | None = None) -> None:
        label = process_label(type(self), name)
        rows, cols, values, matrix_shape = _coo_parts(label, weights, shape)
        super().__init__(matrix_shape[0], matrix_shape[1], name)
        self._check_weight_format(weight_exp, num_weight_bits)
        n_post, n_pre = matrix_shape
        self.rows = as_int_array(self, "weights", rows, low=0, high=n_post - 1,
                                 dtype=index_dtype(n_post))
        self.cols = as_int_array(self, "weights", cols, low=0, high=n_pre - 1,
                                 dtype=index_dtype(n_pre))
        if self.rows.shape != self.cols.shape or self.rows.ndim != 1:
            raise ValidationError(self, "weights", "rows and cols must be 1-D of equal length",
                                  (self.rows.shape, self.cols.shape))
        if _has_duplicates(self.rows, self.cols, n_post, n_pre):
            raise ValidationError(self, "weights", "each (post, pre) pair may appear only once; "
                                  "sum duplicate entries first (matrix.sum_duplicates())")
        nnz = (self.rows.size,)
        self._weights_var(nnz, values, doc="weights of the COO entries")
        self._var("delay", nnz, delay, dtype=np.uint8, low=1, high=DELAY_MAX, bits=8,
                  doc="delays of the COO entries")
        self._finish()

    @property
    def nnz(self) -> int:
        """Number of stored entries."""
        return int(self.rows.size)

    def to_dense(self) -> np.ndarray:
        """The weight matrix ``(post, pre)`` as a dense int array."""
        dense = np.zeros(self.shape, dtype=np.int64)
        dense[self.rows, self.cols] = self.weights.value
        return dense

    def constructor_args(self) -> dict[str, Any]:
        """``weights`` as ``(rows, cols, values)``, ``shape``, ``delay`` (an int when uniform)
        and the other declared values."""
        delay = self.delay
        return {"weights": (self.rows.copy(), self.cols.copy(), self.weights.get()),
                "shape": self.shape,
                "delay": int(delay.value.flat[0]) if delay.is_uniform and self.nnz else
                delay.get(),
                "weight_exp": self._weight_exp, "num_weight_bits": self._num_weight_bits}


def index_dtype(n: int) -> type:
    """The dtype of indices into a dimension of ``n``: int32 below ``2**31``, else int64."""
    return np.int32 if n < 2**31 else np.int64


#: Entries per chunk of the temporary keys of the duplicate check (cache-sized).
_CHUNK = 1 << 14


def _has_duplicates(rows: np.ndarray, cols: np.ndarray, n_post: int, n_pre: int) -> bool:
    """True when a (row, col) pair appears twice.

    Entries in (row, col) or (col, row) order (as connectors, CSR and CSC matrices give them)
    are checked in linear time with small temporaries; others with one sort of packed pairs.
    """
    if rows.size < 2:
        return False
    if pairs_strictly_increasing(rows, cols, n_pre) or pairs_strictly_increasing(cols, rows, n_post):
        return False
    flat = rows.astype(np.int64) * n_pre
    flat += cols
    flat.sort()
    return bool(np.any(flat[1:] == flat[:-1]))


def _coo_parts(label: str, weights: Any, shape: Any) -> tuple[Any, Any, Any, tuple[int, int]]:
    if hasattr(weights, "tocoo") and hasattr(weights, "nnz"):
        coo = weights.tocoo()
        matrix_shape = tuple(int(n) for n in coo.shape)
        parts = (coo.row, coo.col, coo.data)
    elif isinstance(weights, (tuple, list)) and len(weights) == 3:
        if shape is None:
            raise ValidationError(label, "shape", "is required with (rows, cols, values) weights")
        matrix_shape = as_shape(label, "shape", shape)
        parts = tuple(np.ravel(part) if np.ndim(part) != 1 else np.asarray(part)
                      for part in weights)  # 1-D kept as given (a broadcast stays one)
        if len({part.size for part in parts}) != 1:
            raise ValidationError(label, "weights", "rows, cols and values must have one length",
                                  tuple(part.size for part in parts))
    else:
        try:
            dense = np.asarray(weights)
        except (TypeError, ValueError):
            dense = np.asarray(None)
        if dense.ndim != 2 or dense.dtype == object:
            raise ValidationError(label, "weights", "must be a scipy.sparse matrix, a "
                                  "(rows, cols, values) tuple or a 2-D array", weights)
        matrix_shape = dense.shape
        rows, cols = np.nonzero(dense)
        parts = (rows, cols, dense[rows, cols])
    if len(matrix_shape) != 2 or 0 in matrix_shape:
        raise ValidationError(label, "shape", "must be (post, pre) with both > 0", matrix_shape)
    if shape is not None and as_shape(label, "shape", shape) != matrix_shape:
        raise ValidationError(label, "shape", f"does not match the weights' shape {matrix_shape}",
                              shape)
    return (*parts, (int(matrix_shape[0]), int(matrix_shape[1])))
