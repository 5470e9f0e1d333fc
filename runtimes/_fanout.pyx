# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Build-time kernels of the multi-core runtime: a worker's fan-out table, in linear time.

A worker's fan-out table has one *row* per source unit that reaches any of its cores: the unit's
synapses on all those cores, split into *segments*. A segment is a run of synapses that share
one delay (so delivering it is ``acc[target] += weight`` into one ring-buffer slot, with no
per-synapse slot arithmetic) and, where they also share one weight, the weight is stored once
(``seg_weight``) rather than per synapse. A row whose synapses have many different delays (more
than one per ``MIN_SEGMENT`` synapses) is kept as one *mixed* segment with a delay per synapse.

``scatter_cores`` lays synapses into their rows (counting sort by row: stable, O(synapses));
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


def scatter_cores(const int64_t[::1] core_axon_ptr, const int64_t[::1] core_slot,
                  const int64_t[::1] axon_source, const int64_t[::1] axon_syn_ptr,
                  const int64_t[::1] row_of, const int64_t[::1] slot_local,
                  const int32_t[::1] target, const int16_t[::1] weight, const uint8_t[::1] delay,
                  int64_t[::1] fill, int32_t[::1] out_target, int16_t[::1] out_weight,
                  uint8_t[::1] out_delay):
    """Scatter the synapses of a run of consecutive cores into the worker's rows.

    Core ``i`` of the run has axons ``core_axon_ptr[i] .. core_axon_ptr[i + 1] - 1``; axon ``a``
    comes from unit ``axon_source[a]`` (row ``row_of[unit]``) and has synapses
    ``axon_syn_ptr[a] .. axon_syn_ptr[a + 1] - 1`` (all rebased to the run's first axon and
    synapse), whose ``target`` is an index into the core's units: the worker-local neuron is
    ``slot_local[core_slot[i] + target]``. Each axon's synapses go to ``out_*[fill[row] ...]``,
    advancing ``fill``.
    """
    cdef Py_ssize_t i, a, s, pos, row, first, n_cores = core_axon_ptr.shape[0] - 1
    with nogil:
        for i in range(n_cores):
            first = core_slot[i]
            for a in range(core_axon_ptr[i], core_axon_ptr[i + 1]):
                row = row_of[axon_source[a]]
                pos = fill[row]
                for s in range(axon_syn_ptr[a], axon_syn_ptr[a + 1]):
                    out_target[pos] = <int32_t>slot_local[first + target[s]]
                    out_weight[pos] = weight[s]
                    out_delay[pos] = delay[s]
                    pos += 1
                fill[row] = pos


cdef struct Keys:
    # per-row histogram of segment keys (delay, block) -> count, reset through the touched list
    int64_t* count
    int64_t* start
    int32_t* touched
    int n_touched
    int shift              # key = delay << shift | block, or just block for a mixed row
    int block_bits         # targets >> block_bits is a synapse's block (63: one block)


cdef inline int64_t _key(Keys* keys, uint8_t d, int32_t target, bint mixed) noexcept nogil:
    cdef int64_t block = target >> keys.block_bits if keys.block_bits < 31 else 0
    return block if mixed else ((<int64_t>d) << keys.shift) | block


cdef int _histogram(Keys* keys, const int32_t[::1] target, const uint8_t[::1] delay,
                    Py_ssize_t lo, Py_ssize_t hi, bint mixed) noexcept nogil:
    """Count the keys of ``[lo, hi)``; returns how many differ (touched keys, unsorted)."""
    cdef Py_ssize_t s
    cdef int64_t key
    cdef int i
    for i in range(keys.n_touched):
        keys.count[keys.touched[i]] = 0
    keys.n_touched = 0
    for s in range(lo, hi):
        key = _key(keys, delay[s], target[s], mixed)
        if keys.count[key] == 0:
            keys.touched[keys.n_touched] = <int32_t>key
            keys.n_touched += 1
        keys.count[key] += 1
    return keys.n_touched


cdef bint _row_is_mixed(Keys* keys, const int32_t[::1] target, const uint8_t[::1] delay,
                        Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """A row is mixed (one segment per block, a delay per synapse) when cutting it by delay
    too would leave segments shorter than ``MIN_SEGMENT`` on average."""
    cdef int by_delay = _histogram(keys, target, delay, lo, hi, False)
    return by_delay > 1 and by_delay * C_MIN_SEGMENT > hi - lo


def split_segments(const int64_t[::1] row_ptr, int32_t[::1] target, int16_t[::1] weight,
                   uint8_t[::1] delay, int block_bits=63, row_seg_in=None):
    """Order each row's synapses by segment (stable) in place and cut them into segments.

    A segment's synapses share one delay (unless the row is mixed: see the module docstring)
    and, with ``block_bits`` < 31, one block of targets ``target >> block_bits``; the block's
    first target is the segment's ``base`` and targets are rewritten relative to it (so they fit
    ``block_bits`` bits). Returns ``(row_seg, seg_ptr, seg_base, seg_delay, seg_weight,
    seg_flags, row_min_delay)``: row ``r``'s segments are ``row_seg[r] .. row_seg[r + 1] - 1``;
    segment ``k`` holds synapses ``seg_ptr[k] .. seg_ptr[k + 1] - 1``, of delay ``seg_delay[k]``
    (0 for a mixed segment: see ``syn_delay``) and, unless ``seg_flags[k] & OWN_WEIGHTS``, of
    weight ``seg_weight[k]``. ``row_seg_in``: :func:`count_segments` of the same arguments, if
    the caller has it.
    """
    cdef Py_ssize_t n_rows = row_ptr.shape[0] - 1
    cdef Py_ssize_t r, s, j, lo, hi, k, n_seg = 0, longest = 0
    cdef int64_t key
    cdef int i
    cdef bint mixed
    cdef Keys keys
    keys.block_bits = block_bits
    keys.shift = _key_shift(target, block_bits)
    count_np = np.zeros(256 << keys.shift, dtype=np.int64)
    start_np = np.zeros(256 << keys.shift, dtype=np.int64)
    touched_np = np.zeros(256 << keys.shift, dtype=np.int32)
    cdef int64_t[::1] count_v = count_np, start_v = start_np
    cdef int32_t[::1] touched_v = touched_np
    keys.count, keys.start, keys.touched, keys.n_touched = &count_v[0], &start_v[0], &touched_v[0], 0
    # pass 1: segments per row (or as the caller counted them with these block bits)
    row_seg_np = count_segments(row_ptr, target, delay, block_bits) if row_seg_in is None \
        else row_seg_in
    cdef int64_t[::1] row_seg = row_seg_np
    n_seg = row_seg[n_rows]
    longest = int(np.diff(row_ptr).max(initial=0))
    seg_ptr_np = np.zeros(n_seg + 1, dtype=np.int64)
    seg_base_np = np.zeros(n_seg, dtype=np.int32)
    seg_delay_np = np.zeros(n_seg, dtype=np.uint8)
    seg_weight_np = np.zeros(n_seg, dtype=np.int32)
    seg_flags_np = np.zeros(n_seg, dtype=np.uint8)
    row_min_np = np.zeros(n_rows, dtype=np.uint8)
    cdef int64_t[::1] seg_ptr = seg_ptr_np
    cdef int32_t[::1] seg_base = seg_base_np
    cdef uint8_t[::1] seg_delay = seg_delay_np, seg_flags = seg_flags_np, row_min = row_min_np
    cdef int32_t[::1] seg_weight = seg_weight_np
    buf_t_np = np.zeros(max(longest, 1), dtype=np.int32)
    buf_w_np = np.zeros(max(longest, 1), dtype=np.int16)
    buf_d_np = np.zeros(max(longest, 1), dtype=np.uint8)
    cdef int32_t[::1] buf_t = buf_t_np
    cdef int16_t[::1] buf_w = buf_w_np
    cdef uint8_t[::1] buf_d = buf_d_np
    # pass 2: order each row by key (stable counting sort through the buffers), write segments
    with nogil:
        k = 0
        for r in range(n_rows):
            lo, hi = row_ptr[r], row_ptr[r + 1]
            if hi == lo:
                continue
            row_min[r] = _min_delay(delay, lo, hi)
            mixed = _row_is_mixed(&keys, target, delay, lo, hi)
            if mixed:
                _histogram(&keys, target, delay, lo, hi, True)
            _sort_small(keys.touched, keys.n_touched)
            s = lo
            for i in range(keys.n_touched):
                key = keys.touched[i]
                keys.start[key] = s
                seg_ptr[k + i] = s
                seg_flags[k + i] = C_MIXED_DELAYS if mixed else 0
                seg_delay[k + i] = 0 if mixed else <uint8_t>(key >> keys.shift)
                seg_base[k + i] = <int32_t>((key & ((1 << keys.shift) - 1)) << block_bits) \
                    if block_bits < 31 else 0
                s += keys.count[key]
            for s in range(lo, hi):
                key = _key(&keys, delay[s], target[s], mixed)
                j = keys.start[key] - lo
                buf_t[j] = target[s]
                buf_w[j] = weight[s]
                buf_d[j] = delay[s]
                keys.start[key] += 1
            for i in range(keys.n_touched):
                for s in range(seg_ptr[k + i], seg_ptr[k + i + 1] if i + 1 < keys.n_touched else hi):
                    target[s] = buf_t[s - lo] - seg_base[k + i]
                    weight[s] = buf_w[s - lo]
                    delay[s] = buf_d[s - lo]
                _set_weight(weight, seg_ptr[k + i],
                            seg_ptr[k + i + 1] if i + 1 < keys.n_touched else hi, k + i,
                            seg_weight, seg_flags)
            k += keys.n_touched
        seg_ptr[n_seg] = row_ptr[n_rows]
    return row_seg_np, seg_ptr_np, seg_base_np, seg_delay_np, seg_weight_np, seg_flags_np, row_min_np


def count_segments(const int64_t[::1] row_ptr, const int32_t[::1] target,
                   const uint8_t[::1] delay, int block_bits):
    """Segments :func:`split_segments` cuts with ``block_bits``, cumulated by row: int64
    ``(n_rows + 1)``, row ``r``'s are ``[r] .. [r + 1] - 1`` (the last entry is the total)."""
    cdef Py_ssize_t n_rows = row_ptr.shape[0] - 1, r, lo, hi, n_seg = 0
    cdef bint mixed
    cdef Keys keys
    keys.block_bits = block_bits
    keys.shift = _key_shift(target, block_bits)
    count_np = np.zeros(256 << keys.shift, dtype=np.int64)
    touched_np = np.zeros(256 << keys.shift, dtype=np.int32)
    cdef int64_t[::1] count_v = count_np
    cdef int32_t[::1] touched_v = touched_np
    keys.count, keys.start, keys.touched, keys.n_touched = &count_v[0], NULL, &touched_v[0], 0
    row_seg_np = np.zeros(n_rows + 1, dtype=np.int64)
    cdef int64_t[::1] row_seg = row_seg_np
    with nogil:
        for r in range(n_rows):
            lo, hi = row_ptr[r], row_ptr[r + 1]
            if hi > lo:
                mixed = _row_is_mixed(&keys, target, delay, lo, hi)
                n_seg += _histogram(&keys, target, delay, lo, hi, mixed) if mixed else keys.n_touched
            row_seg[r + 1] = n_seg
    return row_seg_np


cdef int _key_shift(const int32_t[::1] target, int block_bits) noexcept:
    """Bits of a segment key taken by the target block (keys are ``delay << shift | block``)."""
    cdef Py_ssize_t s
    cdef int32_t top = 0
    cdef int shift = 0
    for s in range(target.shape[0]):
        if target[s] > top:
            top = target[s]
    cdef int64_t n_blocks = ((<int64_t>top) >> block_bits) + 1 if block_bits < 31 else 1
    while (<int64_t>1 << shift) < n_blocks:
        shift += 1
    return shift


cdef void _sort_small(int32_t* a, int n) noexcept nogil:
    """Insertion sort (a row has few distinct keys)."""
    cdef int i, j
    cdef int32_t x
    for i in range(1, n):
        x = a[i]
        j = i - 1
        while j >= 0 and a[j] > x:
            a[j + 1] = a[j]
            j -= 1
        a[j + 1] = x


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
