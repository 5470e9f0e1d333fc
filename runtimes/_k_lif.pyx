# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Cython kernels of LIF (and IF) and ALIF: the models of ``runtimes/models/lif.py``.

Kernel parameters (``LIFModel.kernel_params``): int64 ``du, dv, vth_reset, bias, reset_kind``;
ALIF adds ``db, beta``. State: ``u, v`` (ALIF: ``u, v, b``). The equations are the inline
functions of ``_fixed.pxd``, bit-identical to the NumPy steps (tested).

The reset. ``vth_reset`` holds the threshold mantissa in its low 32 bits and the reset word
``(v_reset << 1) | subtract`` in its high 32 bits: the reset adds no array to the loops (no
memory traffic, and no more run-time overlap checks between arrays, which gcc caps before it
gives up vectorising a loop). After a spike, ``v = v - threshold`` where the word's
low bit is set, else ``v = word >> 1``. ``reset_kind`` is one value for a whole run: 0 when every
word of the run is 0 (Lava's reset to 0), 1 when every neuron resets to its ``v_reset``, 2 when
every neuron subtracts, 3 for a mix. Kind 0 takes the loops of ``lif_neuron`` / ``alif_neuron``,
which ignore the word, so the default costs nothing; LIF's per-neuron loops for kinds 1 and 2
know the mode and vectorise as the default does (gcc does not vectorise the loop that reads the
mode from each word).
"""

from libc.stdint cimport int32_t, int64_t, uint8_t

from nmgraph.runtimes._fixed cimport (
    STATE_LIMIT,
    STATE_MAX,
    WRAP,
    alif_neuron,
    current_and_voltage,
    decay_c,
    lif_neuron,
    reset_value,
    wrap_add,
    wrap_neg,
    wrap_shl,
)
from nmgraph.runtimes._kernel cimport KernelRun, acc_t, i64_rp, u8_rp


cdef enum:
    # how a loop resets: the word of each neuron, or a mode shared by the run (then gcc
    # vectorises the loop over per-neuron parameters, which it does not with the word's mask)
    RESET_WORD = 0
    RESET_TO_VALUE = 1
    RESET_SUBTRACT = 2


cdef inline bint lif_reset_neuron(int64_t* u, int64_t* v, int64_t a_in, int32_t du, int32_t dv,
                                  int64_t vth_reset, int64_t bias, int mode) noexcept nogil:
    """``lif_neuron`` with the reset of ``vth_reset``'s word (module docstring); ``mode`` (a
    constant at each call) may say that the word's low bit is known."""
    cdef int64_t new_v = current_and_voltage(u, v[0], a_in, du, dv, bias)
    cdef int64_t threshold = wrap_shl(<int32_t>vth_reset, 6)
    cdef bint s = new_v > threshold
    cdef int64_t after
    if mode == RESET_TO_VALUE:
        after = vth_reset >> 33
    elif mode == RESET_SUBTRACT:
        after = wrap_add(new_v, wrap_neg(threshold))
    else:
        after = reset_value(new_v, threshold, vth_reset >> 32)
    v[0] = after if s else new_v
    return s


cdef inline bint alif_reset_neuron(int64_t* u, int64_t* v, int64_t* b, int64_t a_in, int32_t du,
                                   int32_t dv, int32_t db, int64_t vth_reset, int32_t beta,
                                   int64_t bias) noexcept nogil:
    """``alif_neuron`` with the reset of ``vth_reset``'s word; ``subtract`` removes the
    threshold crossed, ``(vth << 6) + b``."""
    cdef int64_t new_v = current_and_voltage(u, v[0], a_in, du, dv, bias)
    cdef int64_t new_b = decay_c(b[0], db)
    cdef int64_t threshold = wrap_add(wrap_shl(<int32_t>vth_reset, 6), new_b)
    cdef bint s = new_v > threshold
    cdef int64_t grown = wrap_add(new_b, wrap_shl(beta, 6))
    grown = grown if grown < STATE_MAX else STATE_MAX
    cdef int64_t after = reset_value(new_v, threshold, vth_reset >> 32)
    v[0] = after if s else new_v
    b[0] = grown if s else new_b
    return s


# -- LIF -------------------------------------------------------------------------------------------

cdef void _lif_loop(i64_rp u, i64_rp v, acc_t* a_in, i64_rp du, i64_rp dv, i64_rp vth,
                    i64_rp bias, u8_rp spiked, int64_t n) noexcept nogil:
    cdef int64_t i
    for i in range(n):
        spiked[i] = lif_neuron(&u[i], &v[i], a_in[i], <int32_t>du[i], <int32_t>dv[i],
                               <int32_t>vth[i], bias[i])
        a_in[i] = 0


cdef void _lif_loop_uniform(i64_rp u, i64_rp v, acc_t* a_in, int32_t du, int32_t dv, int32_t vth,
                            int64_t bias, u8_rp spiked, int64_t n) noexcept nogil:
    cdef int64_t i
    for i in range(n):
        spiked[i] = lif_neuron(&u[i], &v[i], a_in[i], du, dv, vth, bias)
        a_in[i] = 0


cdef void _lif_reset_loop(i64_rp u, i64_rp v, acc_t* a_in, i64_rp du, i64_rp dv,
                          i64_rp vth_reset, i64_rp bias, u8_rp spiked, int64_t n) noexcept nogil:
    cdef int64_t i
    for i in range(n):
        spiked[i] = lif_reset_neuron(&u[i], &v[i], a_in[i], <int32_t>du[i], <int32_t>dv[i],
                                     vth_reset[i], bias[i], RESET_WORD)
        a_in[i] = 0


cdef void _lif_to_value_loop(i64_rp u, i64_rp v, acc_t* a_in, i64_rp du, i64_rp dv,
                             i64_rp vth_reset, i64_rp bias, u8_rp spiked,
                             int64_t n) noexcept nogil:
    cdef int64_t i
    for i in range(n):
        spiked[i] = lif_reset_neuron(&u[i], &v[i], a_in[i], <int32_t>du[i], <int32_t>dv[i],
                                     vth_reset[i], bias[i], RESET_TO_VALUE)
        a_in[i] = 0


cdef void _lif_subtract_loop(i64_rp u, i64_rp v, acc_t* a_in, i64_rp du, i64_rp dv,
                             i64_rp vth_reset, i64_rp bias, u8_rp spiked,
                             int64_t n) noexcept nogil:
    cdef int64_t i
    for i in range(n):
        spiked[i] = lif_reset_neuron(&u[i], &v[i], a_in[i], <int32_t>du[i], <int32_t>dv[i],
                                     vth_reset[i], bias[i], RESET_SUBTRACT)
        a_in[i] = 0


cdef void _lif_reset_loop_uniform(i64_rp u, i64_rp v, acc_t* a_in, int32_t du, int32_t dv,
                                  int64_t vth_reset, int64_t bias, u8_rp spiked,
                                  int64_t n) noexcept nogil:
    cdef int64_t i
    for i in range(n):
        spiked[i] = lif_reset_neuron(&u[i], &v[i], a_in[i], du, dv, vth_reset, bias,
                                     RESET_WORD)
        a_in[i] = 0


# -- ALIF ------------------------------------------------------------------------------------------

cdef void _alif_loop(i64_rp u, i64_rp v, i64_rp b, acc_t* a_in, i64_rp du, i64_rp dv, i64_rp vth,
                     i64_rp bias, i64_rp db, i64_rp beta, u8_rp spiked, int64_t n) noexcept nogil:
    cdef int64_t i
    for i in range(n):
        spiked[i] = alif_neuron(&u[i], &v[i], &b[i], a_in[i], <int32_t>du[i], <int32_t>dv[i],
                                <int32_t>db[i], <int32_t>vth[i], <int32_t>beta[i], bias[i])
        a_in[i] = 0


cdef void _alif_loop_uniform(i64_rp u, i64_rp v, i64_rp b, acc_t* a_in, int32_t du, int32_t dv,
                             int32_t db, int32_t vth, int32_t beta, int64_t bias, u8_rp spiked,
                             int64_t n) noexcept nogil:
    cdef int64_t i
    for i in range(n):
        spiked[i] = alif_neuron(&u[i], &v[i], &b[i], a_in[i], du, dv, db, vth, beta, bias)
        a_in[i] = 0


cdef void _alif_reset_loop(i64_rp u, i64_rp v, i64_rp b, acc_t* a_in, i64_rp du, i64_rp dv,
                           i64_rp vth_reset, i64_rp bias, i64_rp db, i64_rp beta, u8_rp spiked,
                           int64_t n) noexcept nogil:
    cdef int64_t i
    for i in range(n):
        spiked[i] = alif_reset_neuron(&u[i], &v[i], &b[i], a_in[i], <int32_t>du[i],
                                      <int32_t>dv[i], <int32_t>db[i], vth_reset[i],
                                      <int32_t>beta[i], bias[i])
        a_in[i] = 0


cdef void _alif_reset_loop_uniform(i64_rp u, i64_rp v, i64_rp b, acc_t* a_in, int32_t du,
                                   int32_t dv, int32_t db, int64_t vth_reset, int32_t beta,
                                   int64_t bias, u8_rp spiked, int64_t n) noexcept nogil:
    cdef int64_t i
    for i in range(n):
        spiked[i] = alif_reset_neuron(&u[i], &v[i], &b[i], a_in[i], du, dv, db, vth_reset, beta,
                                      bias)
        a_in[i] = 0


# -- dispatch --------------------------------------------------------------------------------------

cdef inline int64_t reset_kind(KernelRun* r) noexcept nogil:
    """The run's ``reset_kind`` (kernel parameter 4), one value for the run (``count > 0``)."""
    if r.uniform:
        return r.konst[4]
    return (<int64_t*>r.param[4])[0]


cdef inline void _lif(KernelRun* r, acc_t* a_in, uint8_t* spiked) noexcept nogil:
    cdef int64_t* c = r.konst
    if r.count <= 0:
        return
    cdef int64_t kind = reset_kind(r)
    if kind == 0:   # Lava's reset to 0 everywhere: the loops that ignore the word
        if r.uniform:
            _lif_loop_uniform(r.state[0], r.state[1], a_in, <int32_t>c[0], <int32_t>c[1],
                              <int32_t>c[2], c[3], spiked, r.count)
        else:
            _lif_loop(r.state[0], r.state[1], a_in, <int64_t*>r.param[0], <int64_t*>r.param[1],
                      <int64_t*>r.param[2], <int64_t*>r.param[3], spiked, r.count)
    elif r.uniform:
        _lif_reset_loop_uniform(r.state[0], r.state[1], a_in, <int32_t>c[0], <int32_t>c[1],
                                c[2], c[3], spiked, r.count)
    elif kind == 1:
        _lif_to_value_loop(r.state[0], r.state[1], a_in, <int64_t*>r.param[0],
                           <int64_t*>r.param[1], <int64_t*>r.param[2], <int64_t*>r.param[3],
                           spiked, r.count)
    elif kind == 2:
        _lif_subtract_loop(r.state[0], r.state[1], a_in, <int64_t*>r.param[0],
                           <int64_t*>r.param[1], <int64_t*>r.param[2], <int64_t*>r.param[3],
                           spiked, r.count)
    else:
        _lif_reset_loop(r.state[0], r.state[1], a_in, <int64_t*>r.param[0],
                        <int64_t*>r.param[1], <int64_t*>r.param[2], <int64_t*>r.param[3],
                        spiked, r.count)


cdef inline void _alif(KernelRun* r, acc_t* a_in, uint8_t* spiked) noexcept nogil:
    cdef int64_t* c = r.konst
    if r.count <= 0:
        return
    if reset_kind(r) == 0:
        if r.uniform:
            _alif_loop_uniform(r.state[0], r.state[1], r.state[2], a_in, <int32_t>c[0],
                               <int32_t>c[1], <int32_t>c[5], <int32_t>c[2], <int32_t>c[6], c[3],
                               spiked, r.count)
        else:
            _alif_loop(r.state[0], r.state[1], r.state[2], a_in, <int64_t*>r.param[0],
                       <int64_t*>r.param[1], <int64_t*>r.param[2], <int64_t*>r.param[3],
                       <int64_t*>r.param[5], <int64_t*>r.param[6], spiked, r.count)
    elif r.uniform:
        _alif_reset_loop_uniform(r.state[0], r.state[1], r.state[2], a_in, <int32_t>c[0],
                                 <int32_t>c[1], <int32_t>c[5], c[2], <int32_t>c[6], c[3],
                                 spiked, r.count)
    else:
        _alif_reset_loop(r.state[0], r.state[1], r.state[2], a_in, <int64_t*>r.param[0],
                         <int64_t*>r.param[1], <int64_t*>r.param[2], <int64_t*>r.param[3],
                         <int64_t*>r.param[5], <int64_t*>r.param[6], spiked, r.count)


cdef void lif32(KernelRun* r, void* a_in, uint8_t* spiked, int64_t t) noexcept nogil:
    _lif(r, <int32_t*>a_in, spiked)


cdef void lif64(KernelRun* r, void* a_in, uint8_t* spiked, int64_t t) noexcept nogil:
    _lif(r, <int64_t*>a_in, spiked)


cdef void alif32(KernelRun* r, void* a_in, uint8_t* spiked, int64_t t) noexcept nogil:
    _alif(r, <int32_t*>a_in, spiked)


cdef void alif64(KernelRun* r, void* a_in, uint8_t* spiked, int64_t t) noexcept nogil:
    _alif(r, <int64_t*>a_in, spiked)


#: name -> (kernel for an int32 ring buffer, for an int64 one), as addresses.
KERNELS = {"lif": (<size_t>&lif32, <size_t>&lif64), "alif": (<size_t>&alif32, <size_t>&alif64)}


#: The register limits the kernels are compiled with (``_fixed.pxd``), for the test that they equal
#: ``nmgraph.core.fixed_point``'s.
LIMITS = {"STATE_LIMIT": STATE_LIMIT, "STATE_MAX": STATE_MAX, "WRAP": WRAP}
