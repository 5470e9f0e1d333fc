"""Loihi's register widths and shifts, defined once for every layer.

The neuron state registers are 24-bit signed, decays 12-bit, and synaptic input and thresholds are
scaled by ``2**6`` before they meet the state. The Cython kernels repeat these numbers as C
constants (``runtimes/_fixed.pxd``); a test checks that the two agree.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ACTIVATION_SHIFT", "DECAY_BITS", "DECAY_MAX", "DECAY_UNITY", "STATE_BITS", "STATE_LIMIT",
           "STATE_MAX", "STATE_MIN", "THRESHOLD_SHIFT", "splitmix_hash"]

#: Width of the state registers (u, v, adaptation).
STATE_BITS = 24
#: ``2**23``: u wraps once into ``(-2**23, 2**23]``.
STATE_LIMIT = 1 << (STATE_BITS - 1)
#: ``2**23 - 1``: the clip bound of v (and of an adaptive threshold).
STATE_MAX = STATE_LIMIT - 1
#: ``-2**23``: the lowest value a 24-bit register holds.
STATE_MIN = -STATE_LIMIT
#: Width of the decay constants du, dv (0..4095).
DECAY_BITS = 12
DECAY_UNITY = 1 << DECAY_BITS
DECAY_MAX = DECAY_UNITY - 1
#: Synaptic input enters the current as ``a_in << 6``.
ACTIVATION_SHIFT = 6
#: The threshold is ``vth << 6``.
THRESHOLD_SHIFT = 6

# The counter-based hash of every random draw (Poisson sources, learning's stochastic rounding):
# SplitMix64's finaliser of a linear mix of (seed, index, step). The Cython kernels
# (runtimes/_k_sources.pyx) compute the same; a test checks that the two agree.
_HASH_SEED = np.uint64(0x9E3779B97F4A7C15)
_HASH_INDEX = np.uint64(0xBF58476D1CE4E5B9)
_HASH_TIME = np.uint64(0x94D049BB133111EB)
_HASH_OFFSET = np.uint64(0x632BE59BD9B4E019)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)


def splitmix_hash(seed: int, index: Any, step: int) -> np.ndarray:
    """SplitMix64 finaliser of ``seed*C1 + index*C2 + step*C3 + C4`` (mod 2**64), as uint64.

    ``index`` is an array (or scalar) of non-negative ids; the result has its shape.
    """
    index = np.asarray(index)
    with np.errstate(over="ignore"):  # arithmetic mod 2**64 is the point
        z = (np.uint64(seed % 2**64) * _HASH_SEED + index.astype(np.uint64) * _HASH_INDEX
             + np.uint64(step % 2**64) * _HASH_TIME + _HASH_OFFSET)
        z = (z ^ (z >> np.uint64(30))) * _MIX_1
        z = (z ^ (z >> np.uint64(27))) * _MIX_2
        return z ^ (z >> np.uint64(31))
