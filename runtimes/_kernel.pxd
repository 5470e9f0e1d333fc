# cython: language_level=3
"""The interface between the per-worker step (``_worker_kernel.pyx``) and the models' Cython kernels.

A worker's units are cut into *runs*: units of one population, consecutive in the worker and in
the population. Each run has one ``KernelRun`` record; the step calls the run's kernel once per
step with the run's slice of the input slot (``a_in``, NULL for sources) and of the spike bytes.
A kernel module (``_k_*.pyx``) defines its kernels as functions of type ``kernel_fn``, one for an
int32 and one for an int64 ring buffer, and exports their addresses in a dict ``KERNELS``
(``name -> (address32, address64)``); a model names its kernel as ``"module:name"``. Adding a
model with a kernel therefore touches only its own files.

The kernel reads its state and parameters through the record: ``state[k]`` is the run's slice of
the model's k-th state field (int64, in declaration order), ``param[k]`` its slice of the k-th
array of ``kernel_params`` (one row of ``width[k]`` elements per unit, dtype as the model gives
it). When ``uniform`` is set, every unit of the run has the same kernel parameters and
``konst[k]`` holds the k-th (as int64 bits), so the kernel can use constants. Neuron kernels add
``a_in[i]`` into the update and set it to 0 (they consume the slot); ``spiked[i]`` gets 0 or 1.
"""

from libc.stdint cimport int32_t, int64_t, uint8_t

cdef enum:
    KERNEL_SLOTS = 8

cdef struct KernelRun:
    void* fn32            # kernel_fn for an int32 ring buffer (NULL: the model runs in Python)
    void* fn64            # kernel_fn for an int64 ring buffer
    int64_t start         # first local unit of the run (its ring column, for neurons)
    int64_t count         # units
    int64_t uniform       # kernel parameters shared by all units (then konst holds them)
    int64_t index0        # index within its population of the run's first unit
    int64_t* state[8]
    void* param[8]
    int64_t width[8]
    int64_t konst[8]

ctypedef void (*kernel_fn)(KernelRun* run, void* a_in, uint8_t* spiked, int64_t t) noexcept nogil

ctypedef fused acc_t:
    int32_t
    int64_t

cdef extern from *:
    # restrict-qualified pointers: a kernel's arrays never overlap, and saying so lets the
    # compiler vectorise its loops (a uint8 store may otherwise alias anything)
    ctypedef int64_t* i64_rp "int64_t * __restrict__"
    ctypedef int32_t* i32_rp "int32_t * __restrict__"
    ctypedef uint8_t* u8_rp "uint8_t * __restrict__"
