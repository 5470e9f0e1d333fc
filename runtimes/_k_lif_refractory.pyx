# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Cython kernel of LIFRefractory (``runtimes/models/lif_refractory.py``, where the equations
are): LIF's current every step; the voltage held while ``refractory > 0``; the countdown reloaded
with ``refractory_period`` on a spike.

Kernel parameters: int64 ``du, dv, vth_reset, bias, reset_kind`` (LIF's, ``_k_lif.pyx``:
``vth_reset`` holds the threshold mantissa in its low 32 bits and the reset word
``(v_reset << 1) | subtract`` in its high 32 bits), then ``refractory_period``; state ``u, v,
refractory``. Every neuron applies its word (a word of 0 is Lava's reset to 0).
"""

from libc.stdint cimport int32_t, int64_t, uint8_t

from nmgraph.runtimes._fixed cimport current_and_voltage, reset_value, wrap_shl
from nmgraph.runtimes._kernel cimport KernelRun, acc_t, i64_rp, u8_rp


cdef inline bint _neuron(int64_t* u, int64_t* v, int64_t* refractory, int64_t a_in, int32_t du,
                         int32_t dv, int64_t vth_reset, int64_t bias,
                         int64_t period) noexcept nogil:
    cdef int64_t integrated = current_and_voltage(u, v[0], a_in, du, dv, bias)
    cdef bint held = refractory[0] > 0
    cdef int64_t new_v = v[0] if held else integrated
    cdef int64_t left = refractory[0] - 1 if held else refractory[0]
    cdef int64_t threshold = wrap_shl(<int32_t>vth_reset, 6)
    cdef bint s = new_v > threshold
    cdef int64_t after = reset_value(new_v, threshold, vth_reset >> 32)
    v[0] = after if s else new_v
    refractory[0] = period if s else left
    return s


cdef void _loop(i64_rp u, i64_rp v, i64_rp refractory, acc_t* a_in, i64_rp du, i64_rp dv,
                i64_rp vth_reset, i64_rp bias, i64_rp period, u8_rp spiked,
                int64_t n) noexcept nogil:
    cdef int64_t i
    for i in range(n):
        spiked[i] = _neuron(&u[i], &v[i], &refractory[i], a_in[i], <int32_t>du[i], <int32_t>dv[i],
                            vth_reset[i], bias[i], period[i])
        a_in[i] = 0


cdef void _loop_uniform(i64_rp u, i64_rp v, i64_rp refractory, acc_t* a_in, int32_t du,
                        int32_t dv, int64_t vth_reset, int64_t bias, int64_t period, u8_rp spiked,
                        int64_t n) noexcept nogil:
    cdef int64_t i
    for i in range(n):
        spiked[i] = _neuron(&u[i], &v[i], &refractory[i], a_in[i], du, dv, vth_reset, bias,
                            period)
        a_in[i] = 0


cdef inline void _run(KernelRun* r, acc_t* a_in, uint8_t* spiked) noexcept nogil:
    cdef int64_t* c = r.konst
    if r.uniform:
        _loop_uniform(r.state[0], r.state[1], r.state[2], a_in, <int32_t>c[0], <int32_t>c[1],
                      c[2], c[3], c[5], spiked, r.count)
    else:
        _loop(r.state[0], r.state[1], r.state[2], a_in, <int64_t*>r.param[0],
              <int64_t*>r.param[1], <int64_t*>r.param[2], <int64_t*>r.param[3],
              <int64_t*>r.param[5], spiked, r.count)


cdef void lif_refractory32(KernelRun* r, void* a_in, uint8_t* spiked, int64_t t) noexcept nogil:
    _run(r, <int32_t*>a_in, spiked)


cdef void lif_refractory64(KernelRun* r, void* a_in, uint8_t* spiked, int64_t t) noexcept nogil:
    _run(r, <int64_t*>a_in, spiked)


#: name -> (kernel for an int32 ring buffer, for an int64 one), as addresses.
KERNELS = {"lif_refractory": (<size_t>&lif_refractory32, <size_t>&lif_refractory64)}
