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
from libc.stdint cimport uint16_t, uint64_t
from libc.string cimport memset

cdef extern from *:
    """
    #include <stdint.h>
    #define nmr_prefetch(p) __builtin_prefetch((const void *)(p))

    /* One segment of a blocked row: synapses start .. next segment's start - 1, targets
       base + tgt[s], all of one weight. */
    typedef struct { int64_t start; int32_t base; int32_t weight; } nmr_seg;

    /* Prefetch every cache line of row r's targets (64-byte lines: 32 uint16 each). */
    static inline void nmr_prefetch_row(const int64_t *row_seg, const nmr_seg *seg,
                                        const uint16_t *tgt, int64_t r) {
        int64_t lo = seg[row_seg[r]].start, hi = seg[row_seg[r + 1]].start, p;
        for (p = lo; p < hi; p += 32)
            nmr_prefetch(tgt + p);
        if (hi > lo)
            nmr_prefetch(tgt + hi - 1);
    }

    /* Before spike k of a step ending at k1: prefetch the row of the spike `ahead` places on
       and the segment record of the one `2 * ahead` on (the first `ahead` rows of a step are
       prefetched at its start: nothing earlier could). */
    static inline void nmr_prefetch_ahead(const int64_t *row_seg, const nmr_seg *seg,
                                          const uint16_t *tgt, const int32_t *spikes,
                                          int64_t k0, int64_t k, int64_t k1, int ahead) {
        int64_t j;
        if (!ahead)
            return;
        if (k == k0)
            for (j = k0; j < k1 && j < k0 + ahead; j++)
                nmr_prefetch_row(row_seg, seg, tgt, spikes[j]);
        if (k + 2 * ahead < k1)
            nmr_prefetch(seg + row_seg[spikes[k + 2 * ahead]]);
        if (k + ahead < k1)
            nmr_prefetch_row(row_seg, seg, tgt, spikes[k + ahead]);
    }

    /* acc[base + t] += w over targets t[0 .. n-1], unrolled by U (1, 4 or 8). */
    static inline void nmr_add_run(int32_t *a, const uint16_t *t, int64_t n, int32_t w, int u) {
        int64_t i = 0;
        if (u >= 8) {
            for (; i + 8 <= n; i += 8) {
                a[t[i]] += w; a[t[i + 1]] += w; a[t[i + 2]] += w; a[t[i + 3]] += w;
                a[t[i + 4]] += w; a[t[i + 5]] += w; a[t[i + 6]] += w; a[t[i + 7]] += w;
            }
        } else if (u >= 4) {
            for (; i + 4 <= n; i += 4) {
                a[t[i]] += w; a[t[i + 1]] += w; a[t[i + 2]] += w; a[t[i + 3]] += w;
            }
        }
        for (; i < n; i++)
            a[t[i]] += w;
    }

    /* The tuned scatter-add: every spike's row, segment by segment, into acc; the rows of the
       spike `ahead` places on (in the same step) are prefetched line by line, and their segment
       records `2 * ahead` on. Returns the synaptic events. */
    static int64_t nmr_tuned(const int64_t *row_seg, const nmr_seg *seg, const uint16_t *tgt,
                             const int64_t *step_ptr, const int32_t *spikes, int64_t n_steps,
                             int32_t *acc, int ahead, int unroll) {
        int64_t s, k, k1, q, events = 0;
        int32_t r;
        for (s = 0; s < n_steps; s++) {
            k1 = step_ptr[s + 1];
            for (k = step_ptr[s]; k < k1; k++) {
                nmr_prefetch_ahead(row_seg, seg, tgt, spikes, step_ptr[s], k, k1, ahead);
                r = spikes[k];
                for (q = row_seg[r]; q < row_seg[r + 1]; q++)
                    nmr_add_run(acc + seg[q].base, tgt + seg[q].start,
                                seg[q + 1].start - seg[q].start, seg[q].weight, unroll);
                events += seg[row_seg[r + 1]].start - seg[row_seg[r]].start;
            }
        }
        return events;
    }

    /* Read every spike's row (the bytes a delivery must fetch), no scatter: returns the sum of
       the targets read, so that the reads cannot be optimised away. */
    static uint64_t nmr_stream(const int64_t *row_seg, const nmr_seg *seg, const uint16_t *tgt,
                               const int64_t *step_ptr, const int32_t *spikes, int64_t n_steps,
                               int ahead) {
        int64_t s, k, p, lo, hi, k1;
        uint64_t sum = 0;
        for (s = 0; s < n_steps; s++) {
            k1 = step_ptr[s + 1];
            for (k = step_ptr[s]; k < k1; k++) {
                nmr_prefetch_ahead(row_seg, seg, tgt, spikes, step_ptr[s], k, k1, ahead);
                lo = seg[row_seg[spikes[k]]].start;
                hi = seg[row_seg[spikes[k] + 1]].start;
                for (p = lo; p < hi; p++)
                    sum += tgt[p];
            }
        }
        return sum;
    }

    /* Sequential read of n 8-byte words, four independent sums (vectorised): DRAM bandwidth. */
    static uint64_t nmr_read(const uint64_t *x, int64_t n) {
        uint64_t a = 0, b = 0, c = 0, d = 0;
        int64_t i;
        for (i = 0; i + 4 <= n; i += 4) {
            a += x[i]; b += x[i + 1]; c += x[i + 2]; d += x[i + 3];
        }
        for (; i < n; i++)
            a += x[i];
        return a + b + c + d;
    }
    """
    ctypedef struct nmr_seg:
        int64_t start
        int32_t base
        int32_t weight
    int64_t nmr_tuned(const int64_t* row_seg, const nmr_seg* seg, const uint16_t* tgt,
                      const int64_t* step_ptr, const int32_t* spikes, int64_t n_steps,
                      int32_t* acc, int ahead, int unroll) noexcept nogil
    uint64_t nmr_stream(const int64_t* row_seg, const nmr_seg* seg, const uint16_t* tgt,
                        const int64_t* step_ptr, const int32_t* spikes, int64_t n_steps,
                        int ahead) noexcept nogil
    uint64_t nmr_read(const uint64_t* x, int64_t n) noexcept nogil

cnp.import_array()

__all__ = ["scatter_add", "scatter_add_delayed", "blocked_rows", "scatter_add_tuned",
           "stream_rows", "read_bandwidth", "TUNE_AHEAD", "TUNE_UNROLL"]


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


#: The prefetch distances (spikes ahead) and unroll factors :func:`scatter_add_tuned` tries.
TUNE_AHEAD = (0, 1, 2, 4, 8)
TUNE_UNROLL = (1, 4, 8)

#: numpy layout of a blocked row's segment (the C struct ``nmr_seg``).
SEGMENT_DTYPE = np.dtype([("start", np.int64), ("base", np.int32), ("weight", np.int32)])


def blocked_rows(const int64_t[::1] indptr, const int32_t[::1] targets, const int16_t[::1] weights,
                 int block_bits=16):
    """The connectivity as rows of 2-byte targets: each source's synapses ordered by target block
    (``target >> block_bits``, stable) and cut into segments of one block and one weight.

    Returns ``(row_seg, segments, tgt)``: row ``j``'s segments are ``row_seg[j] .. row_seg[j + 1]
    - 1``; segment ``q`` (``SEGMENT_DTYPE``, with an end sentinel) holds synapses
    ``segments["start"][q] .. segments["start"][q + 1] - 1``, whose targets are
    ``segments["base"][q] + tgt[s]`` (``tgt`` uint16) and whose weight is
    ``segments["weight"][q]``. A source's synapses stay contiguous, so a row is one stream.
    """
    if not 1 <= block_bits <= 16:
        raise ValueError("block_bits must lie in 1..16 (offsets are uint16)")
    if weights.shape[0] != targets.shape[0] or indptr.shape[0] < 1 or \
            indptr[indptr.shape[0] - 1] != targets.shape[0]:
        raise ValueError("indptr, targets and weights do not describe one CSR")
    cdef Py_ssize_t n_rows = indptr.shape[0] - 1, n_syn = targets.shape[0]
    cdef int32_t top = int(np.max(targets)) if n_syn else 0
    if n_syn and int(np.min(targets)) < 0:
        raise ValueError("targets must be >= 0")
    cdef Py_ssize_t n_blocks = (top >> block_bits) + 1
    sorted_np = np.empty(n_syn, dtype=np.int32)
    sorted_w_np = np.empty(n_syn, dtype=np.int16)
    count_np = np.zeros(n_blocks + 1, dtype=np.int64)
    row_seg_np = np.zeros(n_rows + 1, dtype=np.int64)
    cdef int32_t[::1] srt = sorted_np
    cdef int16_t[::1] srt_w = sorted_w_np
    cdef int64_t[::1] count = count_np, row_seg = row_seg_np
    cdef Py_ssize_t r, s, b, lo, hi, pos, n_seg = 0
    with nogil:  # pass 1: counting sort of each row by block; count segments
        for r in range(n_rows):
            lo, hi = indptr[r], indptr[r + 1]
            for b in range(n_blocks + 1):
                count[b] = 0
            for s in range(lo, hi):
                count[(targets[s] >> block_bits) + 1] += 1
            count[0] = lo
            for b in range(1, n_blocks + 1):
                count[b] += count[b - 1]
            for s in range(lo, hi):
                b = targets[s] >> block_bits
                pos = count[b]
                srt[pos], srt_w[pos] = targets[s], weights[s]
                count[b] = pos + 1
            for s in range(lo, hi):
                if s == lo or (srt[s] >> block_bits) != (srt[s - 1] >> block_bits) or \
                        srt_w[s] != srt_w[s - 1]:
                    n_seg += 1
            row_seg[r + 1] = n_seg
    segments = np.zeros(n_seg + 1, dtype=SEGMENT_DTYPE)
    start_np = np.zeros(n_seg + 1, dtype=np.int64)
    base_np = np.zeros(n_seg + 1, dtype=np.int32)
    weight_np = np.zeros(n_seg + 1, dtype=np.int32)
    tgt_np = np.empty(n_syn, dtype=np.uint16)
    cdef int64_t[::1] start = start_np
    cdef int32_t[::1] base = base_np, weight = weight_np
    cdef uint16_t[::1] tgt = tgt_np
    cdef int32_t mask = (1 << block_bits) - 1
    cdef Py_ssize_t q = 0
    with nogil:  # pass 2: the segments; targets relative to their block
        for r in range(n_rows):
            lo, hi = indptr[r], indptr[r + 1]
            for s in range(lo, hi):
                if s == lo or (srt[s] >> block_bits) != (srt[s - 1] >> block_bits) or \
                        srt_w[s] != srt_w[s - 1]:
                    start[q], base[q], weight[q] = s, srt[s] & ~mask, srt_w[s]
                    q += 1
                tgt[s] = <uint16_t>(srt[s] & mask)
        start[n_seg] = n_syn
    segments["start"], segments["base"], segments["weight"] = start_np, base_np, weight_np
    return row_seg_np, segments, tgt_np


cdef _check_rows(const int64_t[::1] row_seg, segments, const uint16_t[::1] tgt,
                 const int64_t[::1] step_ptr, const int32_t[::1] spikes):
    if segments.dtype != SEGMENT_DTYPE or not segments.flags.c_contiguous or segments.size < 1:
        raise ValueError("segments must be a contiguous SEGMENT_DTYPE array with its end sentinel")
    if row_seg.shape[0] < 1 or row_seg[0] != 0 or row_seg[row_seg.shape[0] - 1] != segments.size - 1:
        raise ValueError("row_seg must run from 0 to the number of segments")
    starts = segments["start"]
    if starts[0] != 0 or starts[starts.size - 1] != tgt.shape[0] or np.any(np.diff(starts) < 0):
        raise ValueError("segment starts must run from 0 to the number of synapses")
    if np.any(np.diff(np.asarray(row_seg)) < 0):
        raise ValueError("row_seg must be non-decreasing")
    if step_ptr.shape[0] < 1 or step_ptr[0] != 0 or step_ptr[step_ptr.shape[0] - 1] != spikes.shape[0] \
            or np.any(np.diff(np.asarray(step_ptr)) < 0):
        raise ValueError("step_ptr must run from 0 to the number of spikes, non-decreasing")
    if spikes.shape[0] and (np.min(spikes) < 0 or np.max(spikes) >= row_seg.shape[0] - 1):
        raise ValueError(f"spike sources must lie in 0..{row_seg.shape[0] - 2}")


def _accumulator_width(segments, const uint16_t[::1] tgt):
    """One slot per target up to the largest: the highest block's base plus its largest offset."""
    if tgt.shape[0] == 0:
        return 1
    return int(segments["base"].max()) + int(np.max(tgt)) + 1


def scatter_add_tuned(const int64_t[::1] row_seg, segments, const uint16_t[::1] tgt,
                      const int64_t[::1] step_ptr, const int32_t[::1] spikes, int ahead=4,
                      int unroll=8):
    """The tuned scatter-add: ``acc[base + tgt[s]] += weight`` over every segment of every
    spike's row (:func:`blocked_rows`), with the rows of the spike ``ahead`` places on in the same
    step prefetched whole and the add loop unrolled ``unroll`` times (1, 4 or 8), into one int32
    accumulator (in L2 when the targets span at most a quarter of it).

    Returns ``(events, checksum)`` as :func:`scatter_add`.
    """
    _check_rows(row_seg, segments, tgt, step_ptr, spikes)
    if ahead < 0 or unroll not in (1, 4, 8):
        raise ValueError("ahead must be >= 0 and unroll 1, 4 or 8")
    cdef int64_t width = _accumulator_width(segments, tgt)
    acc_arr = np.zeros(width, dtype=np.int32)
    cdef int32_t[::1] acc = acc_arr
    cdef const nmr_seg* seg = <const nmr_seg*><size_t>segments.ctypes.data
    cdef int64_t n_steps = step_ptr.shape[0] - 1, events
    cdef const uint16_t* t = &tgt[0] if tgt.shape[0] else NULL
    cdef const int32_t* spk = &spikes[0] if spikes.shape[0] else NULL
    with nogil:
        events = nmr_tuned(&row_seg[0], seg, t, &step_ptr[0], spk, n_steps, &acc[0], ahead, unroll)
    return int(events), int(acc_arr.sum(dtype=np.int64))


def stream_rows(const int64_t[::1] row_seg, segments, const uint16_t[::1] tgt,
                const int64_t[::1] step_ptr, const int32_t[::1] spikes, int ahead=0):
    """Read every spike's row of targets in order (:func:`blocked_rows`) and add nothing: what
    fetching the rows a run touches costs, the floor under any delivery of them. ``ahead``: as
    :func:`scatter_add_tuned` (rows of later spikes of the step prefetched whole; 0: none).

    Returns ``(events, checksum)``: the synapses read and the sum of the targets read.
    """
    _check_rows(row_seg, segments, tgt, step_ptr, spikes)
    if ahead < 0:
        raise ValueError("ahead must be >= 0")
    cdef const nmr_seg* seg = <const nmr_seg*><size_t>segments.ctypes.data
    cdef int64_t n_steps = step_ptr.shape[0] - 1
    cdef uint64_t total
    cdef const uint16_t* t = &tgt[0] if tgt.shape[0] else NULL
    cdef const int32_t* spk = &spikes[0] if spikes.shape[0] else NULL
    with nogil:
        total = nmr_stream(&row_seg[0], seg, t, &step_ptr[0], spk, n_steps, ahead)
    events = int(np.sum(segments["start"][np.asarray(row_seg)[np.asarray(spikes) + 1]]
                        - segments["start"][np.asarray(row_seg)[np.asarray(spikes)]]))
    return events, int(total)


def read_bandwidth(int64_t n_bytes=1 << 30, int repeats=5):
    """Sequential read bandwidth of one core from memory, in bytes per second: the median of
    ``repeats`` sums over a buffer of ``n_bytes`` (far larger than the last-level cache), after
    one untimed pass that maps its pages."""
    import time
    cdef int64_t n = max(n_bytes // 8, 4)
    buf_np = np.ones(n, dtype=np.uint64)
    cdef uint64_t[::1] buf = buf_np
    cdef uint64_t total = nmr_read(&buf[0], n)
    cdef int i
    seconds = []
    for i in range(max(repeats, 1)):
        begin = time.perf_counter()
        with nogil:
            total += nmr_read(&buf[0], n)
        seconds.append(time.perf_counter() - begin)
    if total == 0:  # keeps the sums live (every word is 1)
        raise RuntimeError("read_bandwidth: the buffer read as zeros")
    return 8 * n / sorted(seconds)[len(seconds) // 2]
