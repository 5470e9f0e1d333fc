"""Where nmgraph departs from Lava's Python models on purpose: the LIF current's 32-bit overflow.

Lava's ``PyLifModelBitAcc`` forms ``decay(u) + (a_in << 6)`` in int32 (``subthr_dynamics`` in
``lava/proc/lif/models.py``): past ``|a_in| = 2**31 / 64`` the shift wraps at 32 bits before the
24-bit wrap. nmgraph keeps the sum exact (int64) and then wraps once, as its equations say.
"""

from __future__ import annotations

import numpy as np

from nmgraph.runtimes.fixed_point import lif_step


def _lif_u(a_in: int) -> int:
    u, v = np.zeros(1, np.int64), np.zeros(1, np.int64)
    one = np.ones(1, np.int32)
    lif_step(u, v, np.array([a_in], np.int64), du=one * 4095, dv=one * 0,
             vth=one * (2**17 - 1), bias=np.zeros(1, np.int64))
    return int(u[0])


def _lava_int32_u(a_in: int) -> int:
    """Lava's step from u = 0 written out: int32 shift and sum, then its single 24-bit wrap."""
    total = (a_in * 64 + 2**31) % 2**32 - 2**31          # np.left_shift on int32
    if total > 2**23:
        return total - 2**24
    if total <= -(2**23):
        return total + 2**24
    return total


def test_below_the_threshold_both_agree():
    for a_in in (1, -1, 2**17, 2**25 - 2**17, -(2**25 - 2**17), 2**25 - 1):
        assert _lif_u(a_in) == _lava_int32_u(a_in), a_in


def test_past_the_threshold_nmgraph_keeps_the_exact_sum():
    a_in = 2**25                      # a_in << 6 = 2**31: int32 overflows
    exact = a_in * 64 - 2**24         # the sum, wrapped once
    assert _lif_u(a_in) == exact
    assert _lava_int32_u(a_in) == -(2**31) + 2**24 != exact
