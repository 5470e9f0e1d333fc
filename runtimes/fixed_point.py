"""Loihi's fixed-point equations in plain NumPy: the specification every kernel matches.

The models' NumPy steps (``runtimes/models/``) call these; the Cython kernels (``_k_*.pyx``) are
tested equal to them on random and edge-case arrays. All functions update state arrays in place
and return a boolean spike array.
"""

from __future__ import annotations

import numpy as np

from nmgraph.core.fixed_point import (
    ACTIVATION_SHIFT,
    DECAY_UNITY,
    STATE_LIMIT,
    THRESHOLD_SHIFT,
    splitmix_hash,
)

__all__ = [
    "STATE_LIMIT",
    "alif_step",
    "decay",
    "li_step",
    "lif_step",
    "poisson_spikes",
    "poisson_threshold",
    "reset_after_spike",
    "splitmix_hash",
]




def decay(x: np.ndarray, d: np.ndarray) -> np.ndarray:
    """``sgn(x * (4096 - d)) * (|x * (4096 - d)| >> 12)``: a 64-bit product truncated toward 0."""
    product = x.astype(np.int64) * (DECAY_UNITY - d.astype(np.int64))
    return np.sign(product) * (np.abs(product) >> 12)


def _current_and_voltage(u: np.ndarray, v: np.ndarray, a_in: np.ndarray, du: np.ndarray,
                         dv: np.ndarray, bias: np.ndarray) -> None:
    new_u = decay(u, du + 1) + (a_in.astype(np.int64) << ACTIVATION_SHIFT)
    new_u = np.where(new_u > STATE_LIMIT, new_u - 2 * STATE_LIMIT,
                     np.where(new_u <= -STATE_LIMIT, new_u + 2 * STATE_LIMIT, new_u))
    u[...] = new_u
    v[...] = np.clip(decay(v, dv) + new_u + bias, -(STATE_LIMIT - 1), STATE_LIMIT - 1)


def reset_after_spike(v: np.ndarray, spikes: np.ndarray, threshold: np.ndarray,
                      v_reset: np.ndarray | None = None,
                      subtract: np.ndarray | None = None) -> None:
    """Reset the voltage of the neurons that spiked, in place: to ``v_reset`` (default 0,
    Lava's reset), or, where ``subtract`` is set, ``v - threshold`` (reset by subtraction)."""
    if v_reset is None and subtract is None:
        v[spikes] = 0
        return
    after = np.zeros_like(v) if v_reset is None else np.broadcast_to(v_reset, v.shape)
    if subtract is not None:
        after = np.where(subtract, v - threshold, after)
    v[...] = np.where(spikes, after, v)


def lif_step(u: np.ndarray, v: np.ndarray, a_in: np.ndarray, du: np.ndarray, dv: np.ndarray,
             vth: np.ndarray, bias: np.ndarray, v_reset: np.ndarray | None = None,
             subtract: np.ndarray | None = None) -> np.ndarray:
    """One LIF step in place (Lava's bit-accurate LIF); ``bias = bias_mant << bias_exp``::

        u = decay(u, du + 1) + (a_in << 6); wrap once into (-2**23, 2**23]
        v = clip(decay(v, dv) + u + bias, -(2**23 - 1), 2**23 - 1)
        spike = v > (vth << 6)
        v[spike] = v_reset            (default 0: Lava)
        v[spike] = v - (vth << 6)     where subtract
    """
    _current_and_voltage(u, v, a_in, du, dv, bias)
    threshold = vth.astype(np.int64) << THRESHOLD_SHIFT
    spikes = v > threshold
    reset_after_spike(v, spikes, threshold, v_reset, subtract)
    return spikes


def li_step(u: np.ndarray, v: np.ndarray, a_in: np.ndarray, du: np.ndarray, dv: np.ndarray,
            bias: np.ndarray) -> np.ndarray:
    """One step of leaky integrators in place: LIF's ``u`` and ``v`` without threshold, reset or
    spikes (returns an all-False array)."""
    _current_and_voltage(u, v, a_in, du, dv, bias)
    return np.zeros(v.shape, dtype=bool)


def alif_step(u: np.ndarray, v: np.ndarray, b: np.ndarray, a_in: np.ndarray, du: np.ndarray,
              dv: np.ndarray, db: np.ndarray, vth: np.ndarray, beta: np.ndarray,
              bias: np.ndarray, v_reset: np.ndarray | None = None,
              subtract: np.ndarray | None = None) -> np.ndarray:
    """One ALIF step in place: LIF's u and v, then the adaptive threshold::

        b = decay(b, db)
        spike = v > (vth << 6) + b
        v[spike] = v_reset                  (default 0)
        v[spike] = v - ((vth << 6) + b)     where subtract: the threshold crossed
        b[spike] = min(b + (beta << 6), 2**23 - 1)
    """
    _current_and_voltage(u, v, a_in, du, dv, bias)
    b[...] = decay(b, db)
    threshold = (vth.astype(np.int64) << THRESHOLD_SHIFT) + b
    spikes = v > threshold
    reset_after_spike(v, spikes, threshold, v_reset, subtract)
    grown = np.minimum(b + (beta.astype(np.int64) << THRESHOLD_SHIFT), STATE_LIMIT - 1)
    b[...] = np.where(spikes, grown, b)
    return spikes




def poisson_threshold(rate: np.ndarray) -> np.ndarray:
    """``floor(rate * 2**32)`` as uint64 (a rate of 1 gives 2**32: always spikes)."""
    return np.floor(np.asarray(rate, dtype=np.float64) * 2.0**32).astype(np.uint64)


def poisson_spikes(seed: int, threshold: np.ndarray, t: int,
                   index: np.ndarray | None = None) -> np.ndarray:
    """Spikes of Poisson units at step ``t``: ``hash(seed, i, t) >> 32 < threshold_i``.

    ``index`` gives the units' indices within their process (default ``0..n-1``).
    """
    if index is None:
        index = np.arange(threshold.size, dtype=np.uint64)
    return (splitmix_hash(seed, index, t) >> np.uint64(32)) < threshold
