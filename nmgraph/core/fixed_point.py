"""Loihi's register widths and shifts, defined once for every layer.

The neuron state registers are 24-bit signed, decays 12-bit, and synaptic input and thresholds are
scaled by ``2**6`` before they meet the state. The Cython kernels repeat these numbers as C
constants (``runtimes/_fixed.pxd``); a test checks that the two agree.
"""

from __future__ import annotations

__all__ = ["ACTIVATION_SHIFT", "DECAY_BITS", "DECAY_MAX", "DECAY_UNITY", "STATE_BITS", "STATE_LIMIT",
           "STATE_MAX", "STATE_MIN", "THRESHOLD_SHIFT"]

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
