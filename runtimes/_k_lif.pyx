# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Cython kernels of LIF (and IF) and ALIF: the models of ``runtimes/models/lif.py``.

Kernel parameters (``LIFModel.kernel_params``): int64 ``du, dv, vth, bias``; ALIF adds ``db,
beta``. State: ``u, v`` (ALIF: ``u, v, b``). The equations are the inline functions of
``_fixed.pxd``, bit-identical to the NumPy steps (tested).
"""

from libc.stdint cimport int32_t, int64_t, uint8_t

from nmgraph.runtimes._fixed cimport STATE_LIMIT, STATE_MAX, WRAP, alif_neuron, lif_neuron
from nmgraph.runtimes._kernel cimport KernelRun, acc_t, i64_rp, u8_rp


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


cdef inline void _lif(KernelRun* r, acc_t* a_in, uint8_t* spiked) noexcept nogil:
    cdef int64_t* c = r.konst
    if r.uniform:
        _lif_loop_uniform(r.state[0], r.state[1], a_in, <int32_t>c[0], <int32_t>c[1],
                          <int32_t>c[2], c[3], spiked, r.count)
    else:
        _lif_loop(r.state[0], r.state[1], a_in, <int64_t*>r.param[0], <int64_t*>r.param[1],
                  <int64_t*>r.param[2], <int64_t*>r.param[3], spiked, r.count)


cdef inline void _alif(KernelRun* r, acc_t* a_in, uint8_t* spiked) noexcept nogil:
    cdef int64_t* c = r.konst
    if r.uniform:
        _alif_loop_uniform(r.state[0], r.state[1], r.state[2], a_in, <int32_t>c[0],
                           <int32_t>c[1], <int32_t>c[4], <int32_t>c[2], <int32_t>c[5], c[3],
                           spiked, r.count)
    else:
        _alif_loop(r.state[0], r.state[1], r.state[2], a_in, <int64_t*>r.param[0],
                   <int64_t*>r.param[1], <int64_t*>r.param[2], <int64_t*>r.param[3],
                   <int64_t*>r.param[4], <int64_t*>r.param[5], spiked, r.count)


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
