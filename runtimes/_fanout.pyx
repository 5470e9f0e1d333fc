# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Build-time kernels of the multi-core runtime: a worker's fan-out table, in linear time.

A worker's fan-out table has one *row* per source unit that reaches any of its cores: the unit's
synapses on all those cores, split into *segments*. A segment is a run of synapses that share
one delay (so delivering it is ``acc[target] += weight`` into one ring-buffer slot, with no
per-synapse slot arithmetic) and, where they also share one weight, the weight is stored once
(``seg_weight``) rather than per synapse. A row whose synapses have many different delays (more
than one per ``MIN_SEGMENT`` synapses) is kept as one *mixed* segment with a delay per synapse.

``count_rows`` measures the rows from the Executable's tables (read in place, whatever their
integer widths), ``scatter_rows`` lays the synapses into them (counting sort by row: stable,
O(synapses), a cache-sized block of rows at a time); ``segment_counts`` counts the segments a
row gives with and without blocks of targets, and ``split_segments`` then orders each row by
delay (counting sort within the row, stable) and writes the segments. None allocates per synapse
beyond the output arrays.
"""

from libc.stdint cimport int16_t, int32_t, int64_t, uint8_t, uint16_t

import numpy as np

cdef enum:
    C_OWN_WEIGHTS = 1    # seg_flags bit: the segment's synapses have their own weights (syn_weight)
    C_MIXED_DELAYS = 2   # seg_flags bit: the segment's synapses have their own delays (syn_delay)
    C_MIN_SEGMENT = 8    # a row is split by delay only if its segments average this many synapses

OWN_WEIGHTS = C_OWN_WEIGHTS
MIXED_DELAYS = C_MIXED_DELAYS
MIN_SEGMENT = C_MIN_SEGMENT


ctypedef fused source_t:   # the Executable's axon sources (int32, int64 beyond 2**31 units)
    int32_t
    int64_t

ctypedef fused pointer_t:  # its synapse pointers (int32, int64 from 2**31 synapses on)
    int32_t
    int64_t

ctypedef fused target_t:   # its synapse targets, indices into a core's units
    uint16_t
    int32_t


def count_rows(const int64_t[::1] cores, const int64_t[::1] axon_ptr,
               const int64_t[::1] core_slot, const int64_t[::1] core_base,
               const source_t[::1] axon_source, const pointer_t[::1] syn_ptr,
               const target_t[::1] target, const int16_t[::1] weight, const uint8_t[::1] delay,
               const int64_t[::1] slot_local, int64_t[::1] unit_count, int64_t[::1] acc,
               int engine_delay):
    """The first pass over the synapses of a worker's ``cores`` (the Executable's tables, read
    in place, core after core): ``unit_count[u]`` becomes one plus the synapses of unit ``u`` on
    these cores when ``u`` has an input axon on any of them (0: none), ``acc[i]`` the summed
    weight magnitudes onto worker-local neuron ``i`` (see :func:`scatter_rows` for the
    arguments). Returns how many synapses have delay ``engine_delay``.

    ``acc`` bounds the input any neuron can receive in one step (each synapse delivers at most
    once per step): the worker's ring buffer can be int32 when it stays below ``2**31``.

    A ``slot_local`` of -1 marks a unit of a core split between workers that another worker
    holds: its synapses are not this worker's (not counted, not laid out by
    :func:`scatter_rows`), and a source reaches the worker only through synapses onto its own
    units (an axon with synapses only onto the other part makes no row here).
    """
    cdef Py_ssize_t i, c, a, s, first, base, u, t
    cdef int64_t w, engine = 0
    with nogil:
        for i in range(cores.shape[0]):
            c = cores[i]
            first, base = core_slot[c], core_base[c]
            for a in range(axon_ptr[c], axon_ptr[c + 1]):
                u = axon_source[a]
                if base >= 0 or syn_ptr[a + 1] == syn_ptr[a]:
                    if unit_count[u] == 0:
                        unit_count[u] = 1
                    unit_count[u] += syn_ptr[a + 1] - syn_ptr[a]
                for s in range(syn_ptr[a], syn_ptr[a + 1]):
                    t = base + target[s] if base >= 0 else slot_local[first + target[s]]
                    if t < 0:   # the unit is on another worker (a split core)
                        continue
                    if base < 0:
                        if unit_count[u] == 0:
                            unit_count[u] = 1
                        unit_count[u] += 1
                    w = weight[s]
                    acc[t] += w if w >= 0 else -w
                    if delay[s] == engine_delay:
                        engine += 1
    return engine


def scatter_rows(const int64_t[::1] cores, const int64_t[::1] axon_ptr,
                 const int64_t[::1] core_slot, const int64_t[::1] core_base,
                 const source_t[::1] axon_source, const pointer_t[::1] syn_ptr,
                 const target_t[::1] target, const int16_t[::1] weight,
                 const uint8_t[::1] delay, const int64_t[::1] slot_local,
                 const int64_t[::1] unit_bounds, int64_t[::1] fill, int32_t[::1] out_target,
                 int16_t[::1] out_weight, uint8_t[::1] out_delay):
    """Lay the synapses of a worker's ``cores`` into its rows (one per source unit).

    The tables are the Executable's, read in place: core ``c`` has input axons ``axon_ptr[c] ..
    axon_ptr[c + 1] - 1``, axon ``a`` comes from unit ``axon_source[a]`` (ascending within a
    core) and has synapses ``syn_ptr[a] .. syn_ptr[a + 1] - 1``, whose ``target`` indexes the
    core's units: the worker-local neuron is ``slot_local[core_slot[c] + target]``, or
    ``core_base[c] + target`` when ``core_base[c] >= 0`` (the core's units are consecutive in
    the worker). The synapses of unit ``u`` go to ``out_*[fill[u] ...]``, advancing
    ``fill[u]``: each row lists its synapses core by core in the order of ``cores``, each
    axon's in table order.

    Rows are filled a block of source units at a time (``unit_bounds``, ascending, the last
    above every source), every core contributing the run of its axons from that block, so that
    the writes stay within one block's rows (cache-sized) instead of sweeping the whole table
    once per core.
    """
    cdef Py_ssize_t n = cores.shape[0], b, i, c, a, end, s, first, base, pos, u, bound
    cursor_np = np.empty(max(n, 1), dtype=np.int64)
    cdef int64_t[::1] cursor = cursor_np
    with nogil:
        for i in range(n):
            cursor[i] = axon_ptr[cores[i]]
        for b in range(unit_bounds.shape[0]):
            bound = unit_bounds[b]
            for i in range(n):
                c = cores[i]
                first, base, end = core_slot[c], core_base[c], axon_ptr[c + 1]
                a = cursor[i]
                while a < end and axon_source[a] < bound:
                    u = axon_source[a]
                    pos = fill[u]
                    if base >= 0:
                        for s in range(syn_ptr[a], syn_ptr[a + 1]):
                            out_target[pos] = <int32_t>(base + target[s])
                            out_weight[pos] = weight[s]
                            out_delay[pos] = delay[s]
                            pos += 1
                    else:   # a slot of -1: the unit is on another worker (a split core)
                        for s in range(syn_ptr[a], syn_ptr[a + 1]):
                            if slot_local[first + target[s]] < 0:
                                continue
                            out_target[pos] = <int32_t>slot_local[first + target[s]]
                            out_weight[pos] = weight[s]
                            out_delay[pos] = delay[s]
                            pos += 1
                    fill[u] = pos
                    a += 1
                cursor[i] = a


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


def segment_counts(const int64_t[::1] row_ptr, const int32_t[::1] target,
                   const uint8_t[::1] delay, int block_bits):
    """:func:`count_segments` with 63 block bits (one block) and with ``block_bits``, in one
    pass over the rows: ``(one_block, blocked)``."""
    cdef Py_ssize_t n_rows = row_ptr.shape[0] - 1, r, s, lo, hi, n_flat = 0, n_blocked = 0
    cdef int shift = _key_shift(target, block_bits)
    cdef int64_t key, block
    cdef int i, n_delays, n_keys, n_blocks_seen
    delay_seen_np = np.zeros(256, dtype=np.uint8)
    key_seen_np = np.zeros(256 << shift, dtype=np.uint8)
    block_seen_np = np.zeros(1 << shift, dtype=np.uint8)
    touched_np = np.zeros(256 + (256 << shift) + (1 << shift), dtype=np.int32)
    cdef uint8_t[::1] delay_seen = delay_seen_np, key_seen = key_seen_np
    cdef uint8_t[::1] block_seen = block_seen_np
    cdef int32_t[::1] touched = touched_np
    flat_np = np.zeros(n_rows + 1, dtype=np.int64)
    blocked_np = np.zeros(n_rows + 1, dtype=np.int64)
    cdef int64_t[::1] flat = flat_np, blocked = blocked_np
    cdef int32_t* touched_delays = &touched[0]
    cdef int32_t* touched_keys = &touched[256]
    cdef int32_t* touched_blocks = &touched[256 + (256 << shift)]
    with nogil:
        for r in range(n_rows):
            lo, hi = row_ptr[r], row_ptr[r + 1]
            n_delays = n_keys = n_blocks_seen = 0
            for s in range(lo, hi):
                block = target[s] >> block_bits
                key = ((<int64_t>delay[s]) << shift) | block
                if not delay_seen[delay[s]]:
                    delay_seen[delay[s]] = 1
                    touched_delays[n_delays] = delay[s]
                    n_delays += 1
                if not key_seen[key]:
                    key_seen[key] = 1
                    touched_keys[n_keys] = <int32_t>key
                    n_keys += 1
                if not block_seen[block]:
                    block_seen[block] = 1
                    touched_blocks[n_blocks_seen] = <int32_t>block
                    n_blocks_seen += 1
            for i in range(n_delays):
                delay_seen[touched_delays[i]] = 0
            for i in range(n_keys):
                key_seen[touched_keys[i]] = 0
            for i in range(n_blocks_seen):
                block_seen[touched_blocks[i]] = 0
            if hi > lo:   # as _row_is_mixed: a mixed row is one segment per block
                n_flat += 1 if n_delays > 1 and n_delays * C_MIN_SEGMENT > hi - lo else n_delays
                n_blocked += n_blocks_seen if n_keys > 1 and n_keys * C_MIN_SEGMENT > hi - lo \
                    else n_keys
            flat[r + 1] = n_flat
            blocked[r + 1] = n_blocked
    return flat_np, blocked_np


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
