# cython: language_level=3
"""Cython neuron kernels: bit-identical to the NumPy specification ``runtimes/fixed_point.py``.

LIF (per neuron, all int64)::

    u = decay(u, du + 1) + (a_in << 6);  if u > 2**23: u -= 2**24  elif u <= -2**23: u += 2**24
    v = clip(decay(v, dv) + u + bias, -(2**23 - 1), 2**23 - 1)     # bias = bias_mant << bias_exp
    spike = v > (vth << 6);  if spike: v = 0

ALIF: LIF's u and v, then::

    b = decay(b, db)
    spike = v > (vth << 6) + b;  if spike: v = 0;  b = min(b + (beta << 6), 2**23 - 1)

with ``decay(x, d) = sgn(x * (4096 - d)) * (|x * (4096 - d)| >> 12)`` (truncation toward zero).

Poisson units: unit j with global index ``index_offset + j`` spikes at step t iff
``splitmix_hash(seed, index_offset + j, t) >> 32 < threshold[j]`` (threshold in 0..2**32).

Layout: each function takes C-contiguous typed memoryviews (parameters int32, state/input/bias
int64, spikes uint8 written 0/1; use ``spiked.view(bool)`` for a boolean view), checks lengths,
releases the GIL for the loop and returns the number of spikes. No Python object is touched per
neuron. The multi-core runtime does not call these: its model kernels (``_k_*.pyx``) run the same
equations; these serve the tests and ``benchmarks/kernels.py``.

The equations themselves live once, as inline functions, in ``_fixed.pxd`` (shared with the model
kernels). Build note: Cython finds a ``.pxd`` by its dotted name
(``<include dir>/nmgraph/runtimes/_fixed.pxd``); setup.py provides that path as a tree of links
under ``build/cython_include``.
"""

import numpy as np

from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t

from nmgraph.runtimes._fixed cimport alif_neuron, lif_neuron, splitmix


cdef inline void _check_len(Py_ssize_t n, Py_ssize_t m, str name, str ref="u") except *:
    if m != n:
        raise ValueError(f"{name} has length {m}, expected {n} (the length of {ref})")


def lif_update(int64_t[::1] u, int64_t[::1] v, const int64_t[::1] a_in, const int32_t[::1] du,
               const int32_t[::1] dv, const int32_t[::1] vth, const int64_t[::1] bias,
               uint8_t[::1] spiked):
    """One LIF step in place on n neurons (see the module docstring); returns the spike count.

    u, v: int64 state (updated); a_in: int64 input; du, dv, vth: int32 parameters; bias: int64,
    ``bias_mant << bias_exp``; spiked: uint8 output, set to 1 or 0. All C-contiguous, same length.
    """
    cdef Py_ssize_t i, n = u.shape[0], count = 0
    cdef uint8_t s
    _check_len(n, v.shape[0], "v")
    _check_len(n, a_in.shape[0], "a_in")
    _check_len(n, du.shape[0], "du")
    _check_len(n, dv.shape[0], "dv")
    _check_len(n, vth.shape[0], "vth")
    _check_len(n, bias.shape[0], "bias")
    _check_len(n, spiked.shape[0], "spiked")
    if n == 0:
        return 0
    # the loop runs on raw pointers: no memoryview bookkeeping per element
    cdef int64_t* u_p = &u[0]
    cdef int64_t* v_p = &v[0]
    cdef const int64_t* a_p = &a_in[0]
    cdef const int32_t* du_p = &du[0]
    cdef const int32_t* dv_p = &dv[0]
    cdef const int32_t* vth_p = &vth[0]
    cdef const int64_t* bias_p = &bias[0]
    cdef uint8_t* out = &spiked[0]
    with nogil:
        for i in range(n):
            s = lif_neuron(&u_p[i], &v_p[i], a_p[i], du_p[i], dv_p[i], vth_p[i], bias_p[i])
            out[i] = s
            count += s
    return count


def alif_update(int64_t[::1] u, int64_t[::1] v, int64_t[::1] b, const int64_t[::1] a_in,
                const int32_t[::1] du, const int32_t[::1] dv, const int32_t[::1] db,
                const int32_t[::1] vth, const int32_t[::1] beta, const int64_t[::1] bias,
                uint8_t[::1] spiked):
    """One ALIF step in place on n neurons (see the module docstring); returns the spike count.

    As :func:`lif_update` plus b: int64 adaptation state (updated), db, beta: int32 parameters.
    """
    cdef Py_ssize_t i, n = u.shape[0], count = 0
    cdef uint8_t s
    _check_len(n, v.shape[0], "v")
    _check_len(n, b.shape[0], "b")
    _check_len(n, a_in.shape[0], "a_in")
    _check_len(n, du.shape[0], "du")
    _check_len(n, dv.shape[0], "dv")
    _check_len(n, db.shape[0], "db")
    _check_len(n, vth.shape[0], "vth")
    _check_len(n, beta.shape[0], "beta")
    _check_len(n, bias.shape[0], "bias")
    _check_len(n, spiked.shape[0], "spiked")
    if n == 0:
        return 0
    cdef int64_t* u_p = &u[0]
    cdef int64_t* v_p = &v[0]
    cdef int64_t* b_p = &b[0]
    cdef const int64_t* a_p = &a_in[0]
    cdef const int32_t* du_p = &du[0]
    cdef const int32_t* dv_p = &dv[0]
    cdef const int32_t* db_p = &db[0]
    cdef const int32_t* vth_p = &vth[0]
    cdef const int32_t* beta_p = &beta[0]
    cdef const int64_t* bias_p = &bias[0]
    cdef uint8_t* out = &spiked[0]
    with nogil:
        for i in range(n):
            s = alif_neuron(&u_p[i], &v_p[i], &b_p[i], a_p[i], du_p[i], dv_p[i], db_p[i],
                            vth_p[i], beta_p[i], bias_p[i])
            out[i] = s
            count += s
    return count


def poisson_fill(uint64_t seed, const uint64_t[::1] threshold, uint64_t index_offset, uint64_t t,
                 uint8_t[::1] spiked):
    """Spikes of Poisson units ``index_offset + j`` at step t into ``spiked`` (uint8 0/1).

    threshold: uint64, ``floor(rate * 2**32)`` in 0..2**32. Returns the spike count.
    """
    cdef Py_ssize_t j, n = threshold.shape[0], count = 0
    cdef uint8_t s
    _check_len(n, spiked.shape[0], "spiked", "threshold")
    if n == 0:
        return 0
    cdef const uint64_t* threshold_p = &threshold[0]
    cdef uint8_t* out = &spiked[0]
    with nogil:
        for j in range(n):
            s = (splitmix(seed, index_offset + <uint64_t>j, t) >> 32) < threshold_p[j]
            out[j] = s
            count += s
    return count


def splitmix_hash(uint64_t seed, index, uint64_t t):
    """The SplitMix64 hash of ``(seed, i, t)`` for every i in ``index`` (array-like of uint64).

    Returns a uint64 array of the shape of ``index`` (0-d for a scalar).
    """
    idx = np.array(index, dtype=np.uint64, order="C")
    out = np.empty(idx.shape, dtype=np.uint64)
    cdef const uint64_t[::1] src = idx.reshape(-1)
    cdef uint64_t[::1] dst = out.reshape(-1)
    cdef Py_ssize_t j, n = src.shape[0]
    with nogil:
        for j in range(n):
            dst[j] = splitmix(seed, src[j], t)
    return out
