# cython: language_level=3
"""Roofline kernels: the bare synaptic scatter-add that bounds any simulator of a network.

``benchmarks/brunel.py`` times these loops over the same connectivity and spike trains as an
nmgraph run, to show what the memory system allows: a simulator cannot deliver synaptic events
faster than the scatter-add alone, with no neuron update, no messages and no barrier.

Both kernels take the connectivity as one global CSR by source unit and the spike trains as a CSR
by step:

``indptr`` (int64, ``n_units + 1``), ``targets`` (int32), ``weights`` (int16), ``delays`` (uint8)
    The synapses of source unit ``j`` are ``indptr[j]:indptr[j + 1]``: their target units (global
    ids), the weights as the runtime applies them (``w << weight_exp``) and the delays in steps.
``step_ptr`` (int64, ``steps + 1``), ``spikes`` (int32)
    The units that spiked at step ``s`` (counted from 1) are ``spikes[step_ptr[s - 1]:step_ptr[s]]``.

All loops run without the GIL; accumulators are int32 (the sums of these networks stay far from
2**31). Each kernel returns ``(events, checksum)``: the synaptic events processed (one per synapse
per spike of its source) and a checksum of the accumulators, so that no work can be optimised away.
"""

import numpy as np

cimport numpy as cnp
from libc.stdint cimport int16_t, int32_t, int64_t, uint8_t
from libc.string cimport memset

cnp.import_array()

__all__ = ["scatter_add", "scatter_add_delayed"]


def scatter_add(const int64_t[::1] indptr, const int32_t[::1] targets,
                const int16_t[::1] weights, const int64_t[::1] step_ptr,
                const int32_t[::1] spikes, int64_t n_units):
    """The bare scatter-add: ``acc[target] += w`` for every synapse of every spike, no delays.

    Parameters
    ----------
    indptr, targets, weights
        The connectivity, a CSR by source unit (see the module docstring).
    step_ptr, spikes
        The spike trains, a CSR by step.
    n_units
        Number of units (every target is below it); the accumulator has one slot per unit up to
        the largest target.

    Returns
    -------
    events : int
        Synaptic events processed.
    checksum : int
        Sum of the accumulator at the end (int32 entries, wrapping: the extension is built with
        ``-fwrapv``).
    """
    _check(indptr, targets, weights, step_ptr, spikes, n_units)
    cdef int64_t width = _width(targets)
    cdef cnp.ndarray[int32_t, ndim=1] acc_arr = np.zeros(width, dtype=np.int32)
    cdef int32_t[::1] acc = acc_arr
    cdef int64_t n_steps = step_ptr.shape[0] - 1
    cdef int64_t events = 0, checksum = 0
    cdef int64_t s, k, p, begin, end
    cdef int32_t src
    with nogil:
        for s in range(n_steps):
            for k in range(step_ptr[s], step_ptr[s + 1]):
                src = spikes[k]
                begin = indptr[src]
                end = indptr[src + 1]
                for p in range(begin, end):
                    acc[targets[p]] += weights[p]
                events += end - begin
        for k in range(width):
            checksum += acc[k]
    return int(events), int(checksum)


def scatter_add_delayed(const int64_t[::1] indptr, const int32_t[::1] targets,
                        const int16_t[::1] weights, const uint8_t[::1] delays,
                        const int64_t[::1] step_ptr, const int32_t[::1] spikes, int64_t n_units):
    """The scatter-add through a delay ring buffer, as a simulator delivers its spikes.

    At each step ``t`` the slot of ``t`` (the input arriving at ``t``) is read into the checksum
    and cleared, then every synapse of every spike of ``t`` adds its weight to the slot of
    ``t + delay``: ``ring[(t + d) % slots][target] += w``, with ``slots = max(delays) + 1``.

    Parameters
    ----------
    indptr, targets, weights, delays
        The connectivity, a CSR by source unit (see the module docstring); delays >= 1.
    step_ptr, spikes
        The spike trains, a CSR by step.
    n_units
        Number of units (every target is below it); a ring slot has one entry per unit up to the
        largest target.

    Returns
    -------
    events : int
        Synaptic events processed.
    checksum : int
        Sum of every slot as it is read.
    """
    _check(indptr, targets, weights, step_ptr, spikes, n_units)
    if delays.shape[0] != targets.shape[0]:
        raise ValueError(f"delays has {delays.shape[0]} entries, targets {targets.shape[0]}")
    if delays.shape[0] and np.min(delays) < 1:
        raise ValueError("delays must be >= 1")
    cdef int64_t slots = (int(np.max(delays)) if delays.shape[0] else 1) + 1
    cdef int64_t width = _width(targets)
    cdef cnp.ndarray[int32_t, ndim=1] ring_arr = np.zeros(slots * width, dtype=np.int32)
    cdef int32_t[::1] ring = ring_arr
    cdef int64_t n_steps = step_ptr.shape[0] - 1
    cdef int64_t events = 0, checksum = 0
    cdef int64_t s, k, p, begin, end, slot, q
    cdef int32_t src
    cdef int32_t *row
    with nogil:
        for s in range(n_steps):
            slot = s % slots
            row = &ring[slot * width]
            for k in range(width):
                checksum += row[k]
            memset(row, 0, width * sizeof(int32_t))
            for k in range(step_ptr[s], step_ptr[s + 1]):
                src = spikes[k]
                begin = indptr[src]
                end = indptr[src + 1]
                for p in range(begin, end):
                    q = slot + delays[p]  # (s + d) % slots without a division: d < slots
                    if q >= slots:
                        q -= slots
                    ring[q * width + targets[p]] += weights[p]
                events += end - begin
    return int(events), int(checksum)


cdef int64_t _width(const int32_t[::1] targets):
    """Accumulator length: one past the largest target (units that receive nothing, such as
    spike sources, need no slot)."""
    return int(np.max(targets)) + 1 if targets.shape[0] else 1


cdef _check(const int64_t[::1] indptr, const int32_t[::1] targets, const int16_t[::1] weights,
            const int64_t[::1] step_ptr, const int32_t[::1] spikes, int64_t n_units):
    """Check the shapes and index ranges once, so that the nogil loops need no bounds checks."""
    if indptr.shape[0] < 1 or step_ptr.shape[0] < 1:
        raise ValueError("indptr and step_ptr need at least one entry")
    if weights.shape[0] != targets.shape[0]:
        raise ValueError(f"weights has {weights.shape[0]} entries, targets {targets.shape[0]}")
    if indptr[0] != 0 or indptr[indptr.shape[0] - 1] != targets.shape[0]:
        raise ValueError("indptr must run from 0 to the number of synapses")
    if step_ptr[0] != 0 or step_ptr[step_ptr.shape[0] - 1] != spikes.shape[0]:
        raise ValueError("step_ptr must run from 0 to the number of spikes")
    if np.any(np.diff(np.asarray(indptr)) < 0) or np.any(np.diff(np.asarray(step_ptr)) < 0):
        raise ValueError("indptr and step_ptr must be non-decreasing")
    if targets.shape[0] and (np.min(targets) < 0 or np.max(targets) >= n_units):
        raise ValueError(f"targets must lie in 0..{n_units - 1}")
    if spikes.shape[0] and (np.min(spikes) < 0 or np.max(spikes) >= indptr.shape[0] - 1):
        raise ValueError(f"spike sources must lie in 0..{indptr.shape[0] - 2}")
