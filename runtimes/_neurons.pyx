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

Build note: Cython finds this module's ``.pxd`` by its dotted name, i.e. as
``<include dir>/nmgraph/runtimes/_neurons.pxd``, a path that the package_dir layout of setup.py does
not provide. Until the build supplies it (an include directory mirroring the package layout), the
``.pxd`` is not seen when this file is compiled: the module still builds and works from Python, but
exports no C functions, and ``cimport``s of it fail. Hence the ``.pxd`` holds declarations only, and
every definition lives here, so this file compiles either way.
"""

import numpy as np

from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t

cdef enum:
    STATE_LIMIT = 8388608       # 2**23
    STATE_MAX = 8388607         # 2**23 - 1: the clip bound of v and b
    WRAP = 16777216             # 2**24: u wraps once into (-2**23, 2**23]


# ---- exact helpers ------------------------------------------------------------------------------
# Arithmetic that could overflow int64 on out-of-range inputs is done modulo 2**64 (via uint64),
# as NumPy's int64 arrays do: no undefined behaviour in C, and bit-identity with fixed_point.py
# holds for any int64 state/input and any int32 parameter, not only in DESIGN §4's 24-bit ranges.

cdef inline int64_t wrap_add(int64_t a, int64_t b) noexcept nogil:
    return <int64_t>(<uint64_t>a + <uint64_t>b)


cdef inline int64_t wrap_mul(int64_t a, int64_t b) noexcept nogil:
    return <int64_t>(<uint64_t>a * <uint64_t>b)


cdef inline int64_t wrap_neg(int64_t a) noexcept nogil:
    return <int64_t>(<uint64_t>0 - <uint64_t>a)


cdef inline int64_t wrap_shl(int64_t a, int s) noexcept nogil:
    """``a << s`` as NumPy computes it on int64 (C leaves it undefined for negative ``a``)."""
    return <int64_t>(<uint64_t>a << s)


cdef inline int64_t decay_c(int64_t x, int64_t d) noexcept nogil:
    """``sgn(x * (4096 - d)) * (|x * (4096 - d)| >> 12)``: 64-bit product, truncated toward zero.

    Spelled as the spec (|p| by wrapping negation, arithmetic shift, negate back) rather than
    ``p / 4096``: identical for every p except -2**63, where NumPy gives +2**51 and so does this.
    Branch-free (with m = 0 or -1, ``(p ^ m) - m`` negates iff m = -1): the sign of u and v is
    unpredictable, and a branch here cost more than the rest of the update.
    """
    cdef int64_t p = wrap_mul(x, 4096 - d)
    cdef int64_t m = p >> 63                 # -1 if p < 0 else 0 (arithmetic shift)
    cdef int64_t mag = wrap_add(p ^ m, wrap_neg(m)) >> 12
    return wrap_add(mag ^ m, wrap_neg(m))


cdef inline int64_t plus_one_int32(int32_t d) noexcept nogil:
    """``d + 1`` evaluated in int32 (wrapping), as the spec's ``du + 1`` on an int32 array."""
    return <int64_t>(<int32_t>(<uint32_t>d + 1u))


cdef inline uint64_t _hash(uint64_t seed, uint64_t index, uint64_t t) noexcept nogil:
    """SplitMix64 finaliser of ``seed*C1 + index*C2 + t*C3 + C4`` (all mod 2**64; DESIGN §4)."""
    cdef uint64_t z = (seed * 0x9E3779B97F4A7C15ULL + index * 0xBF58476D1CE4E5B9ULL
                       + t * 0x94D049BB133111EBULL + 0x632BE59BD9B4E019ULL)
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL
    return z ^ (z >> 31)


cdef uint64_t splitmix_hash_c(uint64_t seed, uint64_t index, uint64_t t) noexcept nogil:
    """Exported (non-inline) form of the hash; loops in this module use the inline ``_hash``."""
    return _hash(seed, index, t)


# ---- kernels ----------------------------------------------------------------------------------

cdef inline int64_t _current_and_voltage(int64_t* u, int64_t v, int64_t a_in, int32_t du,
                                         int32_t dv, int64_t bias) noexcept nogil:
    """Update ``*u`` in place; return the clipped new v (before the threshold test).

    Written with selects rather than branches, so the compiler can use conditional moves: the
    wrap, clip and spike outcomes are data-dependent (see ``decay_c`` for what a branch cost).
    """
    cdef int64_t new_u = wrap_add(decay_c(u[0], plus_one_int32(du)), wrap_shl(a_in, 6))
    # single wrap: both tests on the same value, at most one is true, neither add can overflow
    new_u += WRAP * (<int64_t>(new_u <= -STATE_LIMIT) - <int64_t>(new_u > STATE_LIMIT))
    u[0] = new_u
    cdef int64_t new_v = wrap_add(wrap_add(decay_c(v, dv), new_u), bias)
    new_v = new_v if new_v < STATE_MAX else STATE_MAX
    return new_v if new_v > -STATE_MAX else -STATE_MAX


cdef Py_ssize_t lif_update_c(int64_t* u, int64_t* v, const int64_t* a_in, const int32_t* du,
                             const int32_t* dv, const int32_t* vth, const int64_t* bias,
                             uint8_t* spiked, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i, count = 0
    cdef int64_t new_v
    cdef uint8_t s
    for i in range(n):
        new_v = _current_and_voltage(&u[i], v[i], a_in[i], du[i], dv[i], bias[i])
        s = new_v > wrap_shl(vth[i], 6)
        v[i] = 0 if s else new_v
        spiked[i] = s
        count += s
    return count


cdef Py_ssize_t alif_update_c(int64_t* u, int64_t* v, int64_t* b, const int64_t* a_in,
                              const int32_t* du, const int32_t* dv, const int32_t* db,
                              const int32_t* vth, const int32_t* beta, const int64_t* bias,
                              uint8_t* spiked, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i, count = 0
    cdef int64_t new_v, new_b, grown
    cdef uint8_t s
    for i in range(n):
        new_v = _current_and_voltage(&u[i], v[i], a_in[i], du[i], dv[i], bias[i])
        new_b = decay_c(b[i], db[i])
        s = new_v > wrap_add(wrap_shl(vth[i], 6), new_b)
        grown = wrap_add(new_b, wrap_shl(beta[i], 6))
        grown = grown if grown < STATE_MAX else STATE_MAX
        v[i] = 0 if s else new_v
        b[i] = grown if s else new_b
        spiked[i] = s
        count += s
    return count


cdef Py_ssize_t poisson_fill_c(uint64_t seed, const uint64_t* threshold, uint64_t index_offset,
                               uint64_t t, uint8_t* spiked, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t j, count = 0
    cdef uint8_t s
    for j in range(n):
        s = (_hash(seed, index_offset + <uint64_t>j, t) >> 32) < threshold[j]
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
            dst[j] = _hash(seed, src[j], t)
    return out
