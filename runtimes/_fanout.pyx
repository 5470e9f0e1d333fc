# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Build-time kernels of the multi-core runtime: a worker's fan-out table, in linear time.

A worker's fan-out table has one *row* per source unit that reaches any of its cores: the unit's
synapses on all those cores, split into *segments*. A segment is a run of synapses that share
one delay (so delivering it is ``acc[target] += weight`` into one ring-buffer slot, with no
per-synapse slot arithmetic) and, where they also share one weight, the weight is stored once
(``seg_weight``) rather than per synapse. A row whose synapses have many different delays (more
than one per ``MIN_SEGMENT`` synapses) is kept as one *mixed* segment with a delay per synapse.

``scatter_rows`` lays synapses into their rows (counting sort by row: stable, O(synapses));
``split_segments`` then orders each row by delay (counting sort within the row, stable) and
writes the segments. Neither allocates per synapse beyond the output arrays.
"""

from libc.stdint cimport int16_t, int32_t, int64_t, uint8_t

import numpy as np

cdef enum:
    C_OWN_WEIGHTS = 1    # seg_flags bit: the segment's synapses have their own weights (syn_weight)
    C_MIXED_DELAYS = 2   # seg_flags bit: the segment's synapses have their own delays (syn_delay)
    C_MIN_SEGMENT = 8    # a row is split by delay only if its segments average this many synapses

OWN_WEIGHTS = C_OWN_WEIGHTS
MIXED_DELAYS = C_MIXED_DELAYS
MIN_SEGMENT = C_MIN_SEGMENT


def scatter_rows(const int64_t[::1] axon_row, const int64_t[::1] axon_start,
                 const int64_t[::1] axon_stop, const int32_t[::1] target,
                 const int16_t[::1] weight, const uint8_t[::1] delay, int64_t[::1] fill,
                 int32_t[::1] out_target, int16_t[::1] out_weight, uint8_t[::1] out_delay):
    """Copy each axon's synapses ``[axon_start[a], axon_stop[a])`` of (target, weight, delay) to
    ``out_*[fill[axon_row[a]] ...]``, advancing ``fill`` (the next free place of each row)."""
    cdef Py_ssize_t a, s, pos, n = axon_row.shape[0]
    with nogil:
        for a in range(n):
            pos = fill[axon_row[a]]
            for s in range(axon_start[a], axon_stop[a]):
                out_target[pos] = target[s]
                out_weight[pos] = weight[s]
                out_delay[pos] = delay[s]
                pos += 1
            fill[axon_row[a]] = pos


def split_segments(const int64_t[::1] row_ptr, int32_t[::1] target, int16_t[::1] weight,
                   uint8_t[::1] delay):
    """Order each row's synapses by delay (stable) in place and cut them into segments.

    Returns ``(row_seg, seg_ptr, seg_delay, seg_weight, seg_flags, row_min_delay)``: row ``r``'s
    segments are ``row_seg[r] .. row_seg[r + 1] - 1``; segment ``k`` holds synapses
    ``seg_ptr[k] .. seg_ptr[k + 1] - 1``, all of delay ``seg_delay[k]`` (0 for a mixed segment:
    see ``syn_delay``) and, unless ``seg_flags[k] & OWN_WEIGHTS``, of weight ``seg_weight[k]``.
    """
    cdef Py_ssize_t n_rows = row_ptr.shape[0] - 1
    cdef Py_ssize_t r, s, j, lo, hi, k, n_seg = 0, longest = 0
    cdef int64_t counts[256]
    cdef int64_t starts[256]
    cdef int distinct, d
    # pass 1: segments per row
    row_seg_np = np.zeros(n_rows + 1, dtype=np.int64)
    cdef int64_t[::1] row_seg = row_seg_np
    with nogil:
        for r in range(n_rows):
            lo, hi = row_ptr[r], row_ptr[r + 1]
            if hi - lo > longest:
                longest = hi - lo
            distinct = _distinct_delays(delay, lo, hi, counts)
            if distinct > 1 and distinct * C_MIN_SEGMENT > hi - lo:
                distinct = 1  # mixed
            n_seg += distinct if hi > lo else 0
            row_seg[r + 1] = n_seg
    seg_ptr_np = np.zeros(n_seg + 1, dtype=np.int64)
    seg_delay_np = np.zeros(n_seg, dtype=np.uint8)
    seg_weight_np = np.zeros(n_seg, dtype=np.int32)
    seg_flags_np = np.zeros(n_seg, dtype=np.uint8)
    row_min_np = np.zeros(n_rows, dtype=np.uint8)
    cdef int64_t[::1] seg_ptr = seg_ptr_np
    cdef uint8_t[::1] seg_delay = seg_delay_np, seg_flags = seg_flags_np, row_min = row_min_np
    cdef int32_t[::1] seg_weight = seg_weight_np
    buf_t_np = np.zeros(max(longest, 1), dtype=np.int32)
    buf_w_np = np.zeros(max(longest, 1), dtype=np.int16)
    cdef int32_t[::1] buf_t = buf_t_np
    cdef int16_t[::1] buf_w = buf_w_np
    # pass 2: order by delay and write the segments
    with nogil:
        k = 0
        for r in range(n_rows):
            lo, hi = row_ptr[r], row_ptr[r + 1]
            if hi == lo:
                continue
            distinct = _distinct_delays(delay, lo, hi, counts)
            row_min[r] = _min_delay(delay, lo, hi)
            if distinct == 1 or distinct * C_MIN_SEGMENT > hi - lo:
                seg_ptr[k] = lo
                seg_delay[k] = delay[lo] if distinct == 1 else 0
                seg_flags[k] = 0 if distinct == 1 else C_MIXED_DELAYS
                _set_weight(weight, lo, hi, k, seg_weight, seg_flags)
                k += 1
                continue
            # stable counting sort of the row by delay, through the buffers
            s = lo
            for d in range(256):
                starts[d] = s
                s += counts[d]
            for s in range(lo, hi):
                d = delay[s]
                buf_t[starts[d] - lo] = target[s]
                buf_w[starts[d] - lo] = weight[s]
                starts[d] += 1
            s = lo
            for d in range(256):
                if counts[d] == 0:
                    continue
                seg_ptr[k] = s
                seg_delay[k] = <uint8_t>d
                seg_flags[k] = 0
                for j in range(s, s + counts[d]):
                    delay[j] = <uint8_t>d
                s += counts[d]
                k += 1
            for s in range(lo, hi):
                target[s] = buf_t[s - lo]
                weight[s] = buf_w[s - lo]
            for s in range(row_seg[r], k):
                _set_weight(weight, seg_ptr[s], (seg_ptr[s + 1] if s + 1 < k else hi), s,
                            seg_weight, seg_flags)
        seg_ptr[n_seg] = row_ptr[n_rows]
    return row_seg_np, seg_ptr_np, seg_delay_np, seg_weight_np, seg_flags_np, row_min_np


cdef int _distinct_delays(const uint8_t[::1] delay, Py_ssize_t lo, Py_ssize_t hi,
                          int64_t* counts) noexcept nogil:
    """Histogram of the delays of ``[lo, hi)`` into ``counts[256]``; returns how many differ."""
    cdef Py_ssize_t s
    cdef int d, distinct = 0
    for d in range(256):
        counts[d] = 0
    for s in range(lo, hi):
        counts[delay[s]] += 1
    for d in range(256):
        distinct += counts[d] > 0
    return distinct


cdef uint8_t _min_delay(const uint8_t[::1] delay, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef Py_ssize_t s
    cdef uint8_t m = 255
    for s in range(lo, hi):
        if delay[s] < m:
            m = delay[s]
    return m


cdef void _set_weight(const int16_t[::1] weight, Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t k,
                      int32_t[::1] seg_weight, uint8_t[::1] seg_flags) noexcept nogil:
    cdef Py_ssize_t s
    seg_weight[k] = weight[lo]
    for s in range(lo + 1, hi):
        if weight[s] != weight[lo]:
            seg_flags[k] |= C_OWN_WEIGHTS
            seg_weight[k] = 0
            return


def max_input_magnitude(const int32_t[::1] target, const int16_t[::1] weight, Py_ssize_t n):
    """``max_i sum_{s: target[s] = i} |weight[s]|`` over targets ``0 .. n - 1``: a bound on the
    input any neuron can receive in one step (each synapse delivers at most once per step)."""
    acc_np = np.zeros(max(n, 1), dtype=np.int64)
    cdef int64_t[::1] acc = acc_np
    cdef Py_ssize_t s
    cdef int64_t w, top = 0
    with nogil:
        for s in range(target.shape[0]):
            w = weight[s]
            acc[target[s]] += w if w >= 0 else -w
        for s in range(n):
            if acc[s] > top:
                top = acc[s]
    return top
