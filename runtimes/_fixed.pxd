# cython: language_level=3
"""Inline fixed-point arithmetic shared by the Cython kernels: one definition of each
equation, used by the models' kernels ``_k_*.pyx`` (called by the per-worker step). A header
only: no module is built from it; ``cimport`` copies the inline bodies.

Arithmetic that could overflow int64 on out-of-range inputs is done modulo 2**64 (through uint64),
as NumPy's int64 arrays do: no undefined behaviour in C, and bit-identity with
``runtimes/fixed_point.py`` holds for any int64 state/input and any int32 parameter, not only in
the 24-bit ranges of the registers.

Every function is written with selects rather than branches, so that compilers can use conditional
moves and vector instructions: the signs of u and v, the wraps, clips and spikes are data-dependent,
and a branch here cost more than the rest of the update.
"""

from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t

cdef enum:
    STATE_LIMIT = 8388608       # 2**23
    STATE_MAX = 8388607         # 2**23 - 1: the clip bound of v and b
    WRAP = 16777216             # 2**24: u wraps once into (-2**23, 2**23]


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
    With m = 0 or -1, ``(p ^ m) - m`` negates iff m = -1.
    """
    cdef int64_t p = wrap_mul(x, 4096 - d)
    cdef int64_t m = p >> 63                 # -1 if p < 0 else 0 (arithmetic shift)
    cdef int64_t mag = wrap_add(p ^ m, wrap_neg(m)) >> 12
    return wrap_add(mag ^ m, wrap_neg(m))


cdef inline int64_t plus_one_int32(int32_t d) noexcept nogil:
    """``d + 1`` evaluated in int32 (wrapping), as the spec's ``du + 1`` on an int32 array."""
    return <int64_t>(<int32_t>(<uint32_t>d + 1u))


cdef inline int64_t current_and_voltage(int64_t* u, int64_t v, int64_t a_in, int32_t du,
                                        int32_t dv, int64_t bias) noexcept nogil:
    """LIF's u and v: update ``*u`` in place; return the clipped new v (before the threshold)::

        u = decay(u, du + 1) + (a_in << 6);  if u > 2**23: u -= 2**24  elif u <= -2**23: u += 2**24
        v = clip(decay(v, dv) + u + bias, -(2**23 - 1), 2**23 - 1)
    """
    cdef int64_t new_u = wrap_add(decay_c(u[0], plus_one_int32(du)), wrap_shl(a_in, 6))
    # single wrap: both tests on the same value, at most one is true, neither add can overflow
    new_u += WRAP * (<int64_t>(new_u <= -STATE_LIMIT) - <int64_t>(new_u > STATE_LIMIT))
    u[0] = new_u
    cdef int64_t new_v = wrap_add(wrap_add(decay_c(v, dv), new_u), bias)
    new_v = new_v if new_v < STATE_MAX else STATE_MAX
    return new_v if new_v > -STATE_MAX else -STATE_MAX


cdef inline int64_t reset_value(int64_t v, int64_t threshold, int64_t word) noexcept nogil:
    """The voltage after a spike for the reset word ``(v_reset << 1) | subtract``: ``v -
    threshold`` if its low bit is set (reset by subtraction), else ``v_reset = word >> 1``.
    With a mask (m = -1 or 0) rather than a select."""
    cdef int64_t m = wrap_neg(word & 1)
    return (wrap_add(v, wrap_neg(threshold)) & m) | ((word >> 1) & ~m)


cdef inline uint64_t splitmix(uint64_t seed, uint64_t index, uint64_t t) noexcept nogil:
    """SplitMix64 finaliser of ``seed*C1 + index*C2 + t*C3 + C4`` (all mod 2**64)."""
    cdef uint64_t z = (seed * 0x9E3779B97F4A7C15ULL + index * 0xBF58476D1CE4E5B9ULL
                       + t * 0x94D049BB133111EBULL + 0x632BE59BD9B4E019ULL)
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL
    return z ^ (z >> 31)


cdef inline bint lif_neuron(int64_t* u, int64_t* v, int64_t a_in, int32_t du, int32_t dv,
                            int32_t vth, int64_t bias) noexcept nogil:
    """One LIF neuron's step in place; returns the spike: ``v > (vth << 6)``, then ``v = 0``."""
    cdef int64_t new_v = current_and_voltage(u, v[0], a_in, du, dv, bias)
    cdef bint s = new_v > wrap_shl(vth, 6)
    v[0] = 0 if s else new_v
    return s


cdef inline bint alif_neuron(int64_t* u, int64_t* v, int64_t* b, int64_t a_in, int32_t du,
                             int32_t dv, int32_t db, int32_t vth, int32_t beta,
                             int64_t bias) noexcept nogil:
    """One ALIF neuron's step in place: LIF's u and v, then::

        b = decay(b, db);  spike = v > (vth << 6) + b
        if spike: v = 0;  b = min(b + (beta << 6), 2**23 - 1)
    """
    cdef int64_t new_v = current_and_voltage(u, v[0], a_in, du, dv, bias)
    cdef int64_t new_b = decay_c(b[0], db)
    cdef bint s = new_v > wrap_add(wrap_shl(vth, 6), new_b)
    cdef int64_t grown = wrap_add(new_b, wrap_shl(beta, 6))
    grown = grown if grown < STATE_MAX else STATE_MAX
    v[0] = 0 if s else new_v
    b[0] = grown if s else new_b
    return s
