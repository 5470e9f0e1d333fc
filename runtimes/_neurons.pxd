# cython: language_level=3
"""C-level interface of ``nmgraph.runtimes._neurons`` for other Cython modules (DESIGN §4).

    from nmgraph.runtimes._neurons cimport lif_update_c, alif_update_c, poisson_fill_c

All functions are ``noexcept nogil`` and work on raw pointers plus a length, so a worker can update
any slice of its arrays (``&arr[start]``, length) without the GIL. They are defined in
``_neurons.pyx`` and shared through the module's C-API capsule; the equations are in that module's
docstring. The kernels return the number of spikes and write ``spiked[i]`` = 1 or 0.

This file holds declarations only (no inline bodies), so ``_neurons.pyx`` compiles the same whether
or not Cython locates this file for it (see the note in ``_neurons.pyx``).
"""

from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t


cdef uint64_t splitmix_hash_c(uint64_t seed, uint64_t index, uint64_t t) noexcept nogil

cdef Py_ssize_t lif_update_c(int64_t* u, int64_t* v, const int64_t* a_in, const int32_t* du,
                             const int32_t* dv, const int32_t* vth, const int64_t* bias,
                             uint8_t* spiked, Py_ssize_t n) noexcept nogil

cdef Py_ssize_t alif_update_c(int64_t* u, int64_t* v, int64_t* b, const int64_t* a_in,
                              const int32_t* du, const int32_t* dv, const int32_t* db,
                              const int32_t* vth, const int32_t* beta, const int64_t* bias,
                              uint8_t* spiked, Py_ssize_t n) noexcept nogil

cdef Py_ssize_t poisson_fill_c(uint64_t seed, const uint64_t* threshold, uint64_t index_offset,
                               uint64_t t, uint8_t* spiked, Py_ssize_t n) noexcept nogil
