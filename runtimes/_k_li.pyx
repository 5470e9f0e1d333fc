# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Cython kernel of LI, the leaky integrator (``runtimes/models/li.py``, where the equations
are): LIF's current and voltage, ``current_and_voltage`` of ``_fixed.pxd``, and no spikes.

Kernel parameters (``LIModel.kernel_params``): int64 ``du, dv, bias``; state ``u, v``.
"""

from libc.stdint cimport int32_t, int64_t, uint8_t

from nmgraph.runtimes._fixed cimport current_and_voltage
from nmgraph.runtimes._kernel cimport KernelRun, acc_t, i64_rp, u8_rp


cdef void _loop(i64_rp u, i64_rp v, acc_t* a_in, i64_rp du, i64_rp dv, i64_rp bias,
                u8_rp spiked, int64_t n) noexcept nogil:
    cdef int64_t i
    for i in range(n):
        v[i] = current_and_voltage(&u[i], v[i], a_in[i], <int32_t>du[i], <int32_t>dv[i], bias[i])
        spiked[i] = 0
        a_in[i] = 0


cdef void _loop_uniform(i64_rp u, i64_rp v, acc_t* a_in, int32_t du, int32_t dv, int64_t bias,
                        u8_rp spiked, int64_t n) noexcept nogil:
    cdef int64_t i
    for i in range(n):
        v[i] = current_and_voltage(&u[i], v[i], a_in[i], du, dv, bias)
        spiked[i] = 0
        a_in[i] = 0


cdef inline void _run(KernelRun* r, acc_t* a_in, uint8_t* spiked) noexcept nogil:
    cdef int64_t* c = r.konst
    if r.uniform:
        _loop_uniform(r.state[0], r.state[1], a_in, <int32_t>c[0], <int32_t>c[1], c[2], spiked,
                      r.count)
    else:
        _loop(r.state[0], r.state[1], a_in, <int64_t*>r.param[0], <int64_t*>r.param[1],
              <int64_t*>r.param[2], spiked, r.count)


cdef void li32(KernelRun* r, void* a_in, uint8_t* spiked, int64_t t) noexcept nogil:
    _run(r, <int32_t*>a_in, spiked)


cdef void li64(KernelRun* r, void* a_in, uint8_t* spiked, int64_t t) noexcept nogil:
    _run(r, <int64_t*>a_in, spiked)


#: name -> (kernel for an int32 ring buffer, for an int64 one), as addresses.
KERNELS = {"li": (<size_t>&li32, <size_t>&li64)}
