# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Cython kernels of the sources: the models of ``runtimes/models/sources.py``.

Poisson (kernel parameters: uint64 ``threshold, seed`` per unit): unit ``index0 + j`` of its
population spikes at step t iff ``splitmix(seed, index0 + j, t) >> 32 < threshold[j]``; a run whose
units share one rate compares against a constant. Generator (uint8 raster with a row of ``steps``
per unit, int64 ``repeat``): row ``t - 1`` (modulo ``steps`` with repeat), nothing after the end.
"""

from libc.stdint cimport int64_t, uint8_t, uint64_t

import numpy as np

from nmgraph.runtimes._fixed cimport splitmix
from nmgraph.runtimes._kernel cimport KernelRun


cdef void poisson(KernelRun* r, void* a_in, uint8_t* spiked, int64_t t) noexcept nogil:
    cdef int64_t j, n = r.count
    cdef uint64_t* threshold = <uint64_t*>r.param[0]
    cdef uint64_t seed = (<uint64_t*>r.param[1])[0] if n else 0
    cdef uint64_t index = <uint64_t>r.index0, ut = <uint64_t>t
    cdef uint64_t shared = <uint64_t>r.konst[0]
    if r.uniform:
        for j in range(n):
            spiked[j] = (splitmix(seed, index + <uint64_t>j, ut) >> 32) < shared
    else:
        for j in range(n):
            spiked[j] = (splitmix(seed, index + <uint64_t>j, ut) >> 32) < threshold[j]


cdef void generator(KernelRun* r, void* a_in, uint8_t* spiked, int64_t t) noexcept nogil:
    cdef int64_t j, n = r.count, steps = r.width[0], row = t - 1
    cdef uint8_t* data = <uint8_t*>r.param[0]
    if n == 0:
        return
    if (<int64_t*>r.param[1])[0] and steps > 0:
        row = row % steps
    for j in range(n):
        spiked[j] = data[j * steps + row] if row < steps else 0


#: name -> (kernel for an int32 ring buffer, for an int64 one), as addresses (sources read no
#: input: the same function serves both).
KERNELS = {"poisson": (<size_t>&poisson, <size_t>&poisson),
           "generator": (<size_t>&generator, <size_t>&generator)}


def splitmix_hash(uint64_t seed, index, uint64_t t):
    """The hash the Poisson kernel draws from, ``splitmix(seed, i, t)`` for every i in ``index``
    (array-like of uint64): a uint64 array of the shape of ``index`` (0-d for a scalar). For
    checking the C hash against the NumPy and pure-Python ones."""
    idx = np.array(index, dtype=np.uint64, order="C")
    out = np.empty(idx.shape, dtype=np.uint64)
    cdef const uint64_t[::1] src = idx.reshape(-1)
    cdef uint64_t[::1] dst = out.reshape(-1)
    cdef Py_ssize_t j, n = src.shape[0]
    with nogil:
        for j in range(n):
            dst[j] = splitmix(seed, src[j], t)
    return out
