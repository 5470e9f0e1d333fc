# cython: language_level=3
"""Cython neuron kernels: bit-identical to the NumPy specification ``runtimes/fixed_point.py``.

LIF (per neuron, all int64, DESIGN §4)::

    u = decay(u, du + 1) + (a_in << 6);  if u > 2**23: u -= 2**24  elif u <= -2**23: u += 2**24
    v = clip(decay(v, dv) + u + bias, -(2**23 - 1), 2**23 - 1)     # bias = bias_mant << bias_exp
    spike = v > (vth << 6);  if spike: v = 0

ALIF: LIF's u and v, then::

    b = decay(b, db)
    spike = v > (vth << 6) + b;  if spike: v = 0;  b = min(b + (beta << 6), 2**23 - 1)

with ``decay(x, d) = sgn(x * (4096 - d)) * (|x * (4096 - d)| >> 12)`` (truncation toward zero).

Poisson units: unit j with global index ``index_offset + j`` spikes at step t iff
``splitmix_hash(seed, index_offset + j, t) >> 32 < threshold[j]`` (threshold in 0..2**32).

Layout: ``*_c`` functions take raw pointers and a length, are ``noexcept nogil`` and are declared in
``_neurons.pxd`` for cimport by the multi-core runtime. The ``def`` wrappers take C-contiguous typed
memoryviews (parameters int32, state/input/bias int64, spikes uint8 written 0/1; use
``spiked.view(bool)`` for a boolean view), check lengths, release the GIL, and return the number of
spikes. No Python object is touched per neuron.

The equations themselves live once, as inline functions, in ``_fixed.pxd`` (shared with the fused
per-worker step of ``_worker_kernel.pyx``). Build note: Cython finds a ``.pxd`` by its dotted name
(``<include dir>/nmgraph/runtimes/_fixed.pxd``); setup.py provides that path as a tree of links
under ``build/cython_include``. ``_neurons.pxd`` holds declarations only.
"""

import numpy as np

from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t

from nmgraph.runtimes._fixed cimport alif_neuron, lif_neuron, splitmix


cdef uint64_t splitmix_hash_c(uint64_t seed, uint64_t index, uint64_t t) noexcept nogil:
    """Exported (non-inline) form of the hash; loops use the inline ``_fixed.splitmix``."""
    return splitmix(seed, index, t)


# ---- kernels ----------------------------------------------------------------------------------

cdef Py_ssize_t lif_update_c(int64_t* u, int64_t* v, const int64_t* a_in, const int32_t* du,
                             const int32_t* dv, const int32_t* vth, const int64_t* bias,
                             uint8_t* spiked, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i, count = 0
    cdef uint8_t s
    for i in range(n):
        s = lif_neuron(&u[i], &v[i], a_in[i], du[i], dv[i], vth[i], bias[i])
        spiked[i] = s
        count += s
    return count


cdef Py_ssize_t alif_update_c(int64_t* u, int64_t* v, int64_t* b, const int64_t* a_in,
                              const int32_t* du, const int32_t* dv, const int32_t* db,
                              const int32_t* vth, const int32_t* beta, const int64_t* bias,
                              uint8_t* spiked, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i, count = 0
    cdef uint8_t s
    for i in range(n):
        s = alif_neuron(&u[i], &v[i], &b[i], a_in[i], du[i], dv[i], db[i], vth[i], beta[i],
                        bias[i])
        spiked[i] = s
        count += s
    return count


cdef Py_ssize_t poisson_fill_c(uint64_t seed, const uint64_t* threshold, uint64_t index_offset,
                               uint64_t t, uint8_t* spiked, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t j, count = 0
    cdef uint8_t s
    for j in range(n):
        s = (splitmix(seed, index_offset + <uint64_t>j, t) >> 32) < threshold[j]
        spiked[j] = s
        count += s
    return count


# ---- Python wrappers ---------------------------------------------------------------------------

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
    cdef Py_ssize_t n = u.shape[0], count
    _check_len(n, v.shape[0], "v")
    _check_len(n, a_in.shape[0], "a_in")
    _check_len(n, du.shape[0], "du")
    _check_len(n, dv.shape[0], "dv")
    _check_len(n, vth.shape[0], "vth")
    _check_len(n, bias.shape[0], "bias")
    _check_len(n, spiked.shape[0], "spiked")
    if n == 0:
        return 0
    with nogil:
        count = lif_update_c(&u[0], &v[0], &a_in[0], &du[0], &dv[0], &vth[0], &bias[0],
                             &spiked[0], n)
    return count


def alif_update(int64_t[::1] u, int64_t[::1] v, int64_t[::1] b, const int64_t[::1] a_in,
                const int32_t[::1] du, const int32_t[::1] dv, const int32_t[::1] db,
                const int32_t[::1] vth, const int32_t[::1] beta, const int64_t[::1] bias,
                uint8_t[::1] spiked):
    """One ALIF step in place on n neurons (see the module docstring); returns the spike count.

    As :func:`lif_update` plus b: int64 adaptation state (updated), db, beta: int32 parameters.
    """
    cdef Py_ssize_t n = u.shape[0], count
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
    with nogil:
        count = alif_update_c(&u[0], &v[0], &b[0], &a_in[0], &du[0], &dv[0], &db[0], &vth[0],
                              &beta[0], &bias[0], &spiked[0], n)
    return count


def poisson_fill(uint64_t seed, const uint64_t[::1] threshold, uint64_t index_offset, uint64_t t,
                 uint8_t[::1] spiked):
    """Spikes of Poisson units ``index_offset + j`` at step t into ``spiked`` (uint8 0/1).

    threshold: uint64, ``floor(rate * 2**32)`` in 0..2**32. Returns the spike count.
    """
    cdef Py_ssize_t n = threshold.shape[0], count
    _check_len(n, spiked.shape[0], "spiked", "threshold")
    if n == 0:
        return 0
    with nogil:
        count = poisson_fill_c(seed, &threshold[0], index_offset, t, &spiked[0], n)
    return count


def splitmix_hash(uint64_t seed, index, uint64_t t):
    """``splitmix_hash_c(seed, i, t)`` for every i in ``index`` (array-like of uint64 values).

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
