"""Synaptic weights in fixed point: Lava's ``num_weight_bits`` and the quantization of floats.

Weights are integers of 8 magnitude bits plus a sign, ``-256 <= w <= 255`` (``-256`` only when
a matrix has weights of both signs), and each counts as ``w << weight_exp``. Two things can change
them, and nmgraph reports both:

``num_weight_bits`` (1..8): Lava's meaning
    Lava's bit-accurate ``Dense`` and ``Sparse`` (``PyDenseModelBitAcc.run_spk`` in
    ``lava/proc/dense/models.py``, ``AbstractPySparseModelBitAcc.run_spk`` in
    ``lava/proc/sparse/models.py``) clip the weights to 8 bits (``clip_weights``) and then drop
    their low bits (``truncate_weights``, ``lava/utils/weightutils.py``)::

        k = 8 - num_weight_bits + (1 if the matrix has both signs else 0)
        excitatory (all w >= 0):  w = (w >> k) << k
        inhibitory (all w <= 0):  w = -((-w >> k) << k)       (toward zero)
        mixed signs:              w = (w >> k) << k           (arithmetic shift: toward -inf)

    The sign mode is the whole matrix's (Lava's ``determine_sign_mode``: ``min >= 0`` is
    excitatory, else ``max <= 0`` is inhibitory, else mixed). Lava leaves ``weight_exp`` as it is
    and shifts the summed input by it (``a_out = sum(w) << weight_exp``, which is
    ``sum(w << weight_exp)`` for the exponents 0..7 nmgraph accepts).

    nmgraph splits that rule in two. The ``8 - num_weight_bits`` bits are the *process's*
    meaning: lowering drops them on every profile, so both runtimes run the same weights
    (:func:`truncate_weights`). The one more bit of mixed-sign matrices is the bit Loihi's
    weight format spends on the sign: the ``loihi1`` and ``loihi2`` profiles drop it (with
    Lava's clipping), giving Lava's weights bit for bit; SpiNNaker's 16-bit weights and
    TrueNorth's 9-bit axon-type weights hold a sign of their own and keep it.

:func:`quantize_weights`
    Maps float weights to integers of a chosen number of bits with an explicit scale, and
    returns the integers with the scale and the error (nmgraph never rounds a weight silently:
    ``Dense`` and ``Sparse`` take floats only when their values are whole).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from nmgraph.core.errors import ValidationError

__all__ = [
    "FULL_WEIGHT_BITS",
    "WEIGHT_MAX",
    "WEIGHT_MIN",
    "QuantizedWeights",
    "clip_weights",
    "quantize_weights",
    "sign_mode",
    "truncate_weights",
]

#: Magnitude bits of a full-precision weight (``num_weight_bits = 8`` drops nothing).
FULL_WEIGHT_BITS = 8
#: Range of a declared weight: 8 magnitude bits plus sign, ``-256`` for mixed-sign matrices.
WEIGHT_MIN = -(2**FULL_WEIGHT_BITS)
WEIGHT_MAX = 2**FULL_WEIGHT_BITS - 1

EXCITATORY, INHIBITORY, MIXED = "excitatory", "inhibitory", "mixed"


def sign_mode(weights: np.ndarray) -> str:
    """``"excitatory"`` (no weight < 0, also all zero), ``"inhibitory"`` (some < 0, none > 0)
    or ``"mixed"``, as Lava's ``determine_sign_mode`` (``lava/utils/weightutils.py``)."""
    weights = np.asarray(weights)
    if weights.size == 0 or weights.min() >= 0:
        return EXCITATORY
    if weights.max() <= 0:
        return INHIBITORY
    return MIXED


def _int_copy(weights: np.ndarray) -> np.ndarray:
    """A copy of ``weights`` in a signed type that holds their negation (int16 at least)."""
    weights = np.asarray(weights)
    return weights.astype(np.result_type(weights.dtype, np.int16), copy=True)


def truncate_weights(weights: np.ndarray, num_weight_bits: int, *, sign_bit: bool = False,
                     mode: str | None = None) -> np.ndarray:
    """Drop the low bits of weights as Lava's ``truncate_weights`` does.

    ``k = 8 - num_weight_bits`` low bits are dropped, one more with ``sign_bit`` when the
    weights have both signs (Loihi's format, where the sign takes a weight bit)::

        excitatory or mixed:  w = (w >> k) << k          (floor, arithmetic shift)
        inhibitory:           w = -((-w >> k) << k)      (toward zero: Lava negates first)

    Parameters
    ----------
    weights
        Integer weights (any shape); not clipped here (see :func:`clip_weights`).
    num_weight_bits
        1..8.
    sign_bit
        Drop the extra bit of mixed-sign weights (the Loihi profiles' rule).
    mode
        The sign mode, when the weights are part of a bigger matrix; computed when not given.

    Returns
    -------
    numpy.ndarray
        A new array of the weights' integer type (int16 at least).

    Notes
    -----
    Lava: ``truncate_weights`` in ``lava/utils/weightutils.py`` (``num_truncate_bits =
    max_num_weight_bits - num_weight_bits + mixed_flag``), applied once by
    ``PyDenseModelBitAcc.run_spk`` (``lava/proc/dense/models.py``) and
    ``AbstractPySparseModelBitAcc.run_spk`` (``lava/proc/sparse/models.py``).
    """
    mode = sign_mode(weights) if mode is None else mode
    k = FULL_WEIGHT_BITS - int(num_weight_bits) + (1 if sign_bit and mode == MIXED else 0)
    out = _int_copy(weights)
    if k <= 0:
        return out
    if mode == INHIBITORY:
        np.negative(out, out=out)
    out >>= k
    out <<= k
    if mode == INHIBITORY:
        np.negative(out, out=out)
    return out


def clip_weights(weights: np.ndarray, *, mode: str | None = None) -> np.ndarray:
    """Clip weights to 8 bits as Lava's ``clip_weights(weights, sign_mode, num_bits=8)``:
    ``[0, 255]`` (excitatory), ``[-255, 0]`` (inhibitory) or ``[-256, 255]`` (mixed). A new
    array of the weights' integer type (int16 at least)."""
    mode = sign_mode(weights) if mode is None else mode
    low = {EXCITATORY: 0, INHIBITORY: -WEIGHT_MAX, MIXED: WEIGHT_MIN}[mode]
    high = 0 if mode == INHIBITORY else WEIGHT_MAX
    out = _int_copy(weights)
    np.clip(out, low, high, out=out)
    return out


# -- float weights --------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False, repr=False)
class QuantizedWeights:
    """Float weights mapped to integers by :func:`quantize_weights`.

    ``weights ≈ float_weights * scale``: a float quantity in the units of the given weights
    (a threshold, a bias) becomes ``quantity * scale`` in the integer units.

    Attributes
    ----------
    weights
        The integers (int16): an array of the input's shape, or a CSR matrix for a sparse input.
    scale
        Integers per unit of the float weights.
    bits
        Magnitude bits: every ``|weight| <= 2**bits - 1``.
    max_error, rms_error
        ``max |w - weights / scale|`` and its root mean square over the entries (dense: every
        element; sparse: the stored ones), in the units of the float weights.
    max_relative_error
        ``max_error / max |w|``.
    rms_relative_error
        ``rms_error / rms(w)``.
    zeroed
        Non-zero float weights that became 0 (synapses that vanish).
    """

    weights: Any
    scale: float
    bits: int
    max_error: float
    rms_error: float
    max_relative_error: float
    rms_relative_error: float
    zeroed: int

    @property
    def exponent(self) -> int | None:
        """``log2(scale)`` when the scale is a power of two (``scale="pow2"``), else None."""
        mantissa, exp = math.frexp(self.scale)
        return exp - 1 if mantissa == 0.5 else None

    def dequantized(self) -> np.ndarray:
        """``weights / scale``: the float weights the integers stand for (dense)."""
        dense = self.weights.toarray() if hasattr(self.weights, "toarray") else self.weights
        return np.asarray(dense, dtype=np.float64) / self.scale

    def __repr__(self) -> str:
        weights = self.weights
        count = int(weights.nnz) if hasattr(weights, "nnz") else int(np.size(weights))
        scale = f"2**{self.exponent}" if self.exponent is not None else f"{self.scale:.6g}"
        return (f"QuantizedWeights({count:,} weights to {self.bits} bits, scale {scale}, "
                f"{self.zeroed:,} zeroed; error max {self.max_error:.3g} "
                f"({self.max_relative_error:.2%} of max |w|), rms {self.rms_error:.3g} "
                f"({self.rms_relative_error:.2%} of rms w))")


def quantize_weights(weights: Any, bits: int = FULL_WEIGHT_BITS, *,
                     scale: float | str = "max") -> QuantizedWeights:
    """Map float weights to signed integers of ``bits`` magnitude bits, reporting the error.

    ::

        q = round(w * scale),   |q| <= 2**bits - 1        (round half away from zero)

    Parameters
    ----------
    weights
        Real weights: an array-like of any shape, or a ``scipy.sparse`` matrix (its stored
        entries are quantized; the result is CSR).
    bits
        Magnitude bits of the integers, 1..15 (8 for ``Dense``/``Sparse`` at full precision;
        the sign comes on top).
    scale
        ``"max"`` (default): the largest scale that fits, ``(2**bits - 1) / max |w|``;
        ``"pow2"``: the largest power of two that fits, so that thresholds and biases scale by
        a shift (:attr:`QuantizedWeights.exponent`); or a positive number, used as given (a
        weight it maps beyond ``2**bits - 1`` raises: nothing is clipped). All-zero weights
        keep scale 1.

    Returns
    -------
    QuantizedWeights
        The integers, the scale and the error (max and RMS, absolute and relative).

    Raises
    ------
    ValidationError
        Weights that are not finite reals, ``bits`` out of range, a bad ``scale``.

    Examples
    --------
    >>> q = nm.quantize_weights([[0.5, -0.25], [0.1, 0.0]], bits=8)
    >>> q.weights.tolist(), q.scale
    ([[255, -128], [51, 0]], 510.0)
    >>> syn = Dense(weights=q.weights)        # and a threshold theta becomes theta * q.scale
    """
    owner = "quantize_weights"
    if isinstance(bits, bool) or not isinstance(bits, numbers.Integral) or not 1 <= bits <= 15:
        raise ValidationError(owner, "bits", "must be an int in 1..15", bits)
    sparse = hasattr(weights, "nnz") and hasattr(weights, "tocsr")
    matrix = weights.tocsr(copy=True) if sparse else None
    try:
        values = np.asarray(matrix.data if sparse else weights)
    except (TypeError, ValueError):
        raise ValidationError(owner, "weights", "must be an array of real numbers",
                              weights) from None
    if values.dtype.kind not in "iuf" or values.dtype == object:
        raise ValidationError(owner, "weights", "must be real numbers", weights)
    values = values.astype(np.float64)
    if not np.all(np.isfinite(values)):
        raise ValidationError(owner, "weights", "must be finite (no nan or inf)", weights)
    limit = 2**int(bits) - 1
    largest = float(np.abs(values).max()) if values.size else 0.0
    factor = _scale(owner, scale, largest, limit)
    scaled = values * factor
    ints = np.sign(scaled) * np.floor(np.abs(scaled) + 0.5)
    if ints.size and float(np.abs(ints).max()) > limit:
        raise ValidationError(owner, "scale", f"maps the largest |w| ({largest:.6g}) to "
                              f"{float(np.abs(ints).max()):.6g}, beyond the {limit} of {bits} "
                              f"bits; lower it or use scale='max'", scale)
    error = values - ints / factor
    max_error = float(np.abs(error).max()) if error.size else 0.0
    rms_error = float(np.sqrt(np.mean(error**2))) if error.size else 0.0
    rms_w = float(np.sqrt(np.mean(values**2))) if values.size else 0.0
    result = ints.astype(np.int16).reshape(values.shape)
    if sparse:
        matrix = matrix.astype(np.int16)
        matrix.data[...] = result
        result = matrix
    return QuantizedWeights(
        weights=result, scale=factor, bits=int(bits), max_error=max_error, rms_error=rms_error,
        max_relative_error=max_error / largest if largest else 0.0,
        rms_relative_error=rms_error / rms_w if rms_w else 0.0,
        zeroed=int(np.count_nonzero((values != 0) & (ints == 0))))


def _scale(owner: str, scale: Any, largest: float, limit: int) -> float:
    if isinstance(scale, str):
        if scale not in ("max", "pow2"):
            raise ValidationError(owner, "scale", "must be 'max', 'pow2' or a positive number",
                                  scale)
        if largest == 0.0:
            return 1.0
        best = limit / largest
        return best if scale == "max" else 2.0 ** math.floor(math.log2(best))
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real) or not (
            math.isfinite(float(scale)) and float(scale) > 0):
        raise ValidationError(owner, "scale", "must be 'max', 'pow2' or a positive number",
                              scale)
    return float(scale)
