# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The per-worker step of the multi-core runtime: all of a worker's cores in one fused call.

One call of :meth:`WorkerKernel.run` advances the worker's cores by a window of steps without the
GIL. Within step ``t`` it:

1. updates LIF and ALIF neurons reading their input ``a_in(t)`` straight from the delay ring buffer
   (slot ``t % ring_slots``), clearing the slot as it goes (equations: ``_fixed.pxd``);
2. fills Poisson sources (counter-based hash, DESIGN §4) and spike generators;
3. for every unit that spiked: records it, adds its precomputed message and hop costs to the
   counters, delivers it to the worker's own cores by walking its row of the worker's fan-out
   table (see ``_fanout.pyx``: segments of one delay, so a segment is ``acc[target] += weight`` into
   one ring slot), and writes one message ``(t << 32) | row`` to the outbox of each other worker
   that holds a row for it.

Messages from other workers are delivered by :meth:`WorkerKernel.deliver` after the exchange.

The ring buffer is int32 when the build proved that no neuron's input in one step can leave int32
(the sum of the magnitudes of all its synapses' weights is below ``2**31``), else int64 (DESIGN §4:
"summed in int64, or int32 with a proof that it cannot overflow"); synapse targets are uint16 when
the worker has at most 65,536 neurons, else int32. Each of the four combinations is a
specialisation of the same fused code. Sums are exact integers, so the order in which messages
arrive never changes a result.
"""

from libc.stdint cimport int16_t, int32_t, int64_t, uint8_t, uint16_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy


cdef extern from *:
    """
    #define nmg_prefetch(p) __builtin_prefetch((const void *)(p))
    """
    void prefetch "nmg_prefetch"(const void* p) noexcept nogil
    # restrict-qualified pointers: the neuron loops' arrays never overlap, and saying so lets the
    # compiler vectorise them (a uint8 store may otherwise alias anything)
    ctypedef int64_t* i64_rp "int64_t * __restrict__"
    ctypedef int32_t* i32_rp "int32_t * __restrict__"
    ctypedef uint8_t* u8_rp "uint8_t * __restrict__"

from nmgraph.runtimes._fixed cimport alif_neuron, lif_neuron, splitmix

import numpy as np

#: numpy layouts of the C structs ``Segment`` and ``UnitFanout`` (fields as documented there).
SEGMENT_DTYPE = np.dtype([("start", np.int64), ("base", np.int32), ("weight", np.int16),
                          ("delay", np.uint8), ("flags", np.uint8)])
FANOUT_DTYPE = np.dtype([("seg_begin", np.int64), ("remote_begin", np.int64), ("seg_count", np.int32),
                         ("remote_count", np.int32), ("spikes", np.int64)])

#: Counter slots of ``WorkerKernel.counters``.
COUNTER_NAMES = ("synaptic_ops", "neuron_updates", "spikes", "messages_core", "messages_cores",
                 "messages_chips", "hops", "hops_x", "hops_y", "messages_workers")

cdef enum:
    C_SYNAPTIC_OPS = 0
    C_NEURON_UPDATES = 1
    C_SPIKES = 2
    C_MSG_CORE = 3
    C_MSG_WORKERS = 9
    N_COSTS = 6        # columns of unit_cost: what one spike of a unit adds to counters 3..8
    ROW_BITS = 32      # a message is (t << ROW_BITS) | row
    OWN_WEIGHTS = 1    # seg_flags bits (as _fanout.pyx)
    MIXED_DELAYS = 2

cdef uint64_t NOT_SHARED = 0xFFFFFFFFFFFFFFFFULL   # thresholds are at most 2**32

ctypedef fused acc_t:
    int32_t
    int64_t

ctypedef fused tgt_t:
    uint16_t
    int32_t


cdef struct Segment:      # 16 bytes
    int64_t start      # first synapse (the next segment's start ends it)
    int32_t base       # its synapses' targets are base + syn_target[s]
    int16_t weight     # the weight of all its synapses, unless flags & OWN_WEIGHTS
    uint8_t delay      # the delay of all its synapses, unless flags & MIXED_DELAYS
    uint8_t flags


cdef struct UnitFanout:     # 32 bytes: two units per cache line
    int64_t seg_begin      # segments of the unit's row on this worker: seg_begin + 0 .. seg_count - 1
    int64_t remote_begin   # its rows on other workers: remote_worker/remote_row[remote_begin + ...]
    int32_t seg_count
    int32_t remote_count
    int64_t spikes         # spikes since the last cost flush (message costs are counted then)


cdef struct Program:
    # neurons [LIF | ALIF], then Poisson units, then generators
    int64_t n_lif, n_alif, n_neurons, n_units, slots, stride
    int64_t* u
    int64_t* v
    int64_t* b
    int64_t* bias
    int32_t* du
    int32_t* dv
    int32_t* vth
    int32_t* db
    int32_t* beta
    uint8_t* spiked
    int64_t n_runs
    int64_t* run_start
    int64_t* run_count
    uint8_t* run_uniform
    int64_t* run_params     # [n_runs, 6]: du, dv, vth, db, beta, bias of a uniform run
    int64_t pois_base, n_pois_runs
    int64_t* pois_start
    int64_t* pois_count
    uint64_t* pois_seed
    uint64_t* pois_index
    uint64_t* pois_threshold
    uint64_t* pois_shared   # per run: the threshold all its units share, or NOT_SHARED
    int64_t gen_base, n_gen, gen_width
    uint8_t* gen_data
    int64_t* gen_steps
    uint8_t* gen_repeat
    # fan-out table
    int64_t* row_seg
    Segment* seg
    int16_t* syn_weight
    uint8_t* syn_delay
    UnitFanout* fan
    int32_t* remote_worker
    int64_t* remote_row
    int64_t* unit_cost
    int64_t* counters
    int32_t* spikers
    int64_t* rec_time
    int32_t* rec_unit
    int64_t rec_count


cdef inline int64_t _deliver_segments(Program* p, acc_t* ring, tgt_t* tgt, int64_t first,
                                      int64_t last, int64_t t) noexcept nogil:
    """Add segments ``first .. last - 1`` (a spike sent at step t) into the ring slots of steps
    ``t + delay``; returns the number of synapses."""
    cdef int64_t k, s, lo, hi, slot, now = t % p.slots, slots = p.slots, stride = p.stride
    cdef acc_t* acc
    cdef int32_t w
    cdef uint8_t flags
    cdef Segment* seg = p.seg
    for k in range(first, last):
        lo, hi, flags, w = seg[k].start, seg[k + 1].start, seg[k].flags, seg[k].weight
        if flags & MIXED_DELAYS:
            acc = ring + seg[k].base
            for s in range(lo, hi):
                slot = now + p.syn_delay[s]   # delay < slots: one subtraction, no division
                if slot >= slots:
                    slot -= slots
                acc[slot * stride + tgt[s]] += p.syn_weight[s] if flags & OWN_WEIGHTS else w
            continue
        slot = now + seg[k].delay
        if slot >= slots:
            slot -= slots
        acc = ring + slot * stride + seg[k].base
        if flags & OWN_WEIGHTS:
            for s in range(lo, hi):
                acc[tgt[s]] += p.syn_weight[s]
        else:
            for s in range(lo, hi):
                acc[tgt[s]] += w
    return seg[last].start - seg[first].start


cdef void _update(Program* p, acc_t* ring, int64_t t) noexcept nogil:
    """Neurons read and clear their input slot; sources fill their spikes. (Pointers are copied
    to locals so that the compiler sees the loops do not write the Program itself.)"""
    cdef acc_t* a_in = ring + (t % p.slots) * p.stride
    cdef int64_t i, r, j, n, start, row, n_lif = p.n_lif, n_neurons = p.n_neurons
    cdef uint64_t seed, index, ut = <uint64_t>t
    cdef uint64_t* threshold
    cdef uint8_t* spiked = p.spiked
    cdef int64_t* u = p.u
    cdef int64_t* v = p.v
    cdef int64_t* b = p.b
    cdef int64_t* bias = p.bias
    cdef int32_t* du = p.du
    cdef int32_t* dv = p.dv
    cdef int32_t* vth = p.vth
    cdef int32_t* db = p.db
    cdef int32_t* beta = p.beta
    cdef int64_t* c
    for r in range(p.n_runs):
        i, n, c = p.run_start[r], p.run_count[r], p.run_params + 6 * r
        if i < n_lif:   # runs never straddle LIF and ALIF
            if p.run_uniform[r]:
                _lif_loop_uniform(u + i, v + i, a_in + i, <int32_t>c[0], <int32_t>c[1],
                                  <int32_t>c[2], c[5], spiked + i, n)
            else:
                _lif_loop(u + i, v + i, a_in + i, du + i, dv + i, vth + i, bias + i, spiked + i, n)
        elif p.run_uniform[r]:
            _alif_loop_uniform(u + i, v + i, b + i, a_in + i, <int32_t>c[0], <int32_t>c[1],
                               <int32_t>c[3], <int32_t>c[2], <int32_t>c[4], c[5], spiked + i, n)
        else:
            _alif_loop(u + i, v + i, b + i, a_in + i, du + i, dv + i, db + i, vth + i, beta + i,
                       bias + i, spiked + i, n)
    p.counters[C_NEURON_UPDATES] += n_neurons
    for r in range(p.n_pois_runs):
        start, n = p.pois_start[r], p.pois_count[r]
        seed, index = p.pois_seed[r], p.pois_index[r]
        if p.pois_shared[r] != NOT_SHARED:
            _poisson_shared(seed, index, ut, p.pois_shared[r], spiked + start, n)
        else:
            threshold = p.pois_threshold + (start - p.pois_base)
            _poisson(seed, index, ut, threshold, spiked + start, n)
    for j in range(p.n_gen):
        row = t - 1
        if p.gen_repeat[j]:
            row = row % p.gen_steps[j]
        spiked[p.gen_base + j] = p.gen_data[row * p.gen_width + j] if row < p.gen_steps[j] else 0


cdef void _lif_loop(i64_rp u, i64_rp v, acc_t* a_in, i32_rp du, i32_rp dv, i32_rp vth,
                    i64_rp bias, u8_rp spiked, int64_t n) noexcept nogil:
    cdef int64_t i
    for i in range(n):
        spiked[i] = lif_neuron(&u[i], &v[i], a_in[i], du[i], dv[i], vth[i], bias[i])
        a_in[i] = 0


cdef void _lif_loop_uniform(i64_rp u, i64_rp v, acc_t* a_in, int32_t du, int32_t dv, int32_t vth,
                            int64_t bias, u8_rp spiked, int64_t n) noexcept nogil:
    cdef int64_t i
    for i in range(n):
        spiked[i] = lif_neuron(&u[i], &v[i], a_in[i], du, dv, vth, bias)
        a_in[i] = 0


cdef void _alif_loop_uniform(i64_rp u, i64_rp v, i64_rp b, acc_t* a_in, int32_t du, int32_t dv,
                             int32_t db, int32_t vth, int32_t beta, int64_t bias, u8_rp spiked,
                             int64_t n) noexcept nogil:
    cdef int64_t i
    for i in range(n):
        spiked[i] = alif_neuron(&u[i], &v[i], &b[i], a_in[i], du, dv, db, vth, beta, bias)
        a_in[i] = 0


cdef void _alif_loop(i64_rp u, i64_rp v, i64_rp b, acc_t* a_in, i32_rp du, i32_rp dv, i32_rp db,
                     i32_rp vth, i32_rp beta, i64_rp bias, u8_rp spiked, int64_t n) noexcept nogil:
    cdef int64_t i
    for i in range(n):
        spiked[i] = alif_neuron(&u[i], &v[i], &b[i], a_in[i], du[i], dv[i], db[i], vth[i], beta[i],
                                bias[i])
        a_in[i] = 0


cdef void _poisson_shared(uint64_t seed, uint64_t index, uint64_t t, uint64_t threshold,
                          uint8_t* spiked, int64_t n) noexcept nogil:
    cdef int64_t j
    for j in range(n):
        spiked[j] = (splitmix(seed, index + <uint64_t>j, t) >> 32) < threshold


cdef void _poisson(uint64_t seed, uint64_t index, uint64_t t, const uint64_t* threshold,
                   uint8_t* spiked, int64_t n) noexcept nogil:
    cdef int64_t j
    for j in range(n):
        spiked[j] = (splitmix(seed, index + <uint64_t>j, t) >> 32) < threshold[j]


cdef void _run(Program* p, acc_t* ring, tgt_t* tgt, int64_t t0, int64_t steps,
               int64_t** boxes, int64_t* out_counts) noexcept nogil:
    cdef int64_t step, t, i, j, k, w, n_spk, synapses
    cdef UnitFanout* fan = p.fan
    cdef UnitFanout* f
    for step in range(steps):
        t = t0 + step + 1
        _update(p, ring, t)
        n_spk = _collect(p.spiked, p.n_units, p.spikers)
        synapses = 0
        for i in range(n_spk):
            j = p.spikers[i]
            # ahead of use: the fan-out entry of the spike four on, the first segment of the one
            # two on, the first synapses of the next (each fetched by the earlier prefetch)
            if i + 4 < n_spk:
                prefetch(&fan[p.spikers[i + 4]])
            if i + 2 < n_spk:
                prefetch(&p.seg[fan[p.spikers[i + 2]].seg_begin])
            if i + 1 < n_spk:
                f = &fan[p.spikers[i + 1]]
                if f.seg_count:
                    prefetch(&tgt[p.seg[f.seg_begin].start])
            f = &fan[j]
            p.rec_time[p.rec_count + i] = t
            p.rec_unit[p.rec_count + i] = <int32_t>j
            f.spikes += 1
            if f.seg_count:
                synapses += _deliver_segments(p, ring, tgt, f.seg_begin, f.seg_begin + f.seg_count, t)
            for k in range(f.remote_begin, f.remote_begin + f.remote_count):
                w = p.remote_worker[k]
                boxes[w][out_counts[w]] = (t << ROW_BITS) | p.remote_row[k]
                out_counts[w] += 1
            p.counters[C_MSG_WORKERS] += f.remote_count
        p.rec_count += n_spk
        p.counters[C_SPIKES] += n_spk
        p.counters[C_SYNAPTIC_OPS] += synapses


cdef inline int64_t _collect(const uint8_t* spiked, int64_t n, int32_t* out) noexcept nogil:
    """Indices of the set bytes of ``spiked[:n]``, ascending; skips silent units eight at once."""
    cdef int64_t j = 0, jj, count = 0
    cdef uint64_t word
    while j + 8 <= n:
        memcpy(&word, spiked + j, 8)
        if word != 0:
            for jj in range(j, j + 8):
                out[count] = <int32_t>jj
                count += spiked[jj]
        j += 8
    for jj in range(j, n):
        out[count] = <int32_t>jj
        count += spiked[jj]
    return count


cdef void _deliver_all(Program* p, acc_t* ring, tgt_t* tgt, const int64_t* messages,
                       Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef int64_t row, mask = (<int64_t>1 << ROW_BITS) - 1
    for i in range(n):
        row = messages[i] & mask
        p.counters[C_SYNAPTIC_OPS] += _deliver_segments(p, ring, tgt, p.row_seg[row],
                                                        p.row_seg[row + 1], messages[i] >> ROW_BITS)


cdef void* _ptr(array):
    """Address of a C-contiguous numpy array's data (NULL if empty; the kernel never reads it)."""
    if array.size == 0:
        return NULL
    if not array.flags.c_contiguous:
        raise ValueError("worker program arrays must be C-contiguous")
    return <void*><size_t>array.ctypes.data


cdef class WorkerKernel:
    """Raw views of one worker's program (arrays owned by the program, which this holds).

    Local units are ordered ``[LIF | ALIF | Poisson | generator]``; neurons (the first
    ``n_neurons``) have a column in the ring buffer. See ``runtimes/multicore_program.py`` for how
    the arrays are built from an Executable.
    """

    cdef Program p
    cdef object program
    cdef void* ring
    cdef void* target
    cdef readonly bint ring32, target16
    cdef readonly object counters
    cdef object spikers

    def __init__(self, program):
        a = program.arrays
        self.program = program
        cdef Program* p = &self.p
        p.n_lif, p.n_alif = program.n_lif, program.n_alif
        p.n_neurons = program.n_lif + program.n_alif
        p.n_units = program.n_units
        p.slots, p.stride = a["ring"].shape[0], a["ring"].shape[1]
        self.ring32 = a["ring"].dtype == np.int32
        self.target16 = a["syn_target"].dtype == np.uint16
        _check(a, {"ring": np.int32 if self.ring32 else np.int64,
                   "syn_target": np.uint16 if self.target16 else np.int32,
                   "u": np.int64, "v": np.int64, "b": np.int64, "bias": np.int64,
                   "du": np.int32, "dv": np.int32, "vth": np.int32, "db": np.int32,
                   "beta": np.int32, "spiked": np.uint8, "pois_start": np.int64,
                   "run_start": np.int64, "run_count": np.int64, "run_uniform": np.uint8,
                   "run_params": np.int64,
                   "pois_count": np.int64, "pois_seed": np.uint64, "pois_index": np.uint64,
                   "pois_threshold": np.uint64, "pois_shared": np.uint64, "gen_data": np.uint8,
                   "gen_steps": np.int64,
                   "gen_repeat": np.uint8, "row_seg": np.int64, "segments": SEGMENT_DTYPE,
                   "syn_weight": np.int16, "syn_delay": np.uint8, "fanout": FANOUT_DTYPE,
                   "remote_worker": np.int32, "remote_row": np.int64, "unit_cost": np.int64,
                   "counters": np.int64})
        if a["segments"].size == 0 or a["fanout"].size < program.n_units:
            raise ValueError("segments needs its end sentinel and fanout a row per unit")
        self.ring, self.target = _ptr(a["ring"]), _ptr(a["syn_target"])
        p.u, p.v, p.b = <int64_t*>_ptr(a["u"]), <int64_t*>_ptr(a["v"]), <int64_t*>_ptr(a["b"])
        p.bias = <int64_t*>_ptr(a["bias"])
        p.du, p.dv, p.vth = <int32_t*>_ptr(a["du"]), <int32_t*>_ptr(a["dv"]), <int32_t*>_ptr(a["vth"])
        p.db, p.beta = <int32_t*>_ptr(a["db"]), <int32_t*>_ptr(a["beta"])
        p.spiked = <uint8_t*>_ptr(a["spiked"])
        p.n_runs = a["run_start"].size
        p.run_start, p.run_count = <int64_t*>_ptr(a["run_start"]), <int64_t*>_ptr(a["run_count"])
        p.run_uniform = <uint8_t*>_ptr(a["run_uniform"])
        p.run_params = <int64_t*>_ptr(a["run_params"])
        if a["run_params"].size and a["run_params"].shape[1] != 6:
            raise ValueError("run_params must have 6 columns")
        p.pois_base, p.n_pois_runs = program.pois_base, a["pois_start"].size
        p.pois_start, p.pois_count = <int64_t*>_ptr(a["pois_start"]), <int64_t*>_ptr(a["pois_count"])
        p.pois_seed, p.pois_index = <uint64_t*>_ptr(a["pois_seed"]), <uint64_t*>_ptr(a["pois_index"])
        p.pois_threshold = <uint64_t*>_ptr(a["pois_threshold"])
        p.pois_shared = <uint64_t*>_ptr(a["pois_shared"])
        if a["pois_shared"].size != a["pois_start"].size:
            raise ValueError("pois_shared needs one entry per Poisson run")
        p.gen_base, p.n_gen, p.gen_width = program.gen_base, program.n_gen, a["gen_data"].shape[1]
        p.gen_data = <uint8_t*>_ptr(a["gen_data"])
        p.gen_steps, p.gen_repeat = <int64_t*>_ptr(a["gen_steps"]), <uint8_t*>_ptr(a["gen_repeat"])
        p.row_seg, p.seg = <int64_t*>_ptr(a["row_seg"]), <Segment*>_ptr(a["segments"])
        p.syn_weight, p.syn_delay = <int16_t*>_ptr(a["syn_weight"]), <uint8_t*>_ptr(a["syn_delay"])
        p.fan = <UnitFanout*>_ptr(a["fanout"])
        p.remote_worker = <int32_t*>_ptr(a["remote_worker"])
        p.remote_row = <int64_t*>_ptr(a["remote_row"])
        self.spikers = np.zeros(max(program.n_units, 1), dtype=np.int32)
        p.spikers = <int32_t*>_ptr(self.spikers)
        p.unit_cost = <int64_t*>_ptr(a["unit_cost"])
        if a["unit_cost"].size and a["unit_cost"].shape[1] != N_COSTS:
            raise ValueError(f"unit_cost must have {N_COSTS} columns")
        self.counters = a["counters"]
        p.counters = <int64_t*>_ptr(a["counters"])
        self.set_record_buffers(a["rec_time"], a["rec_unit"], 0)

    def set_record_buffers(self, rec_time, rec_unit, int64_t count):
        """Use (larger) spike record buffers that hold ``count`` records already."""
        if rec_time.dtype != np.int64 or rec_unit.dtype != np.int32 or rec_time.size != rec_unit.size:
            raise ValueError("record buffers must be int64 times and int32 units of one size")
        self.program.arrays["rec_time"], self.program.arrays["rec_unit"] = rec_time, rec_unit
        self.p.rec_time, self.p.rec_unit = <int64_t*>_ptr(rec_time), <int32_t*>_ptr(rec_unit)
        self.p.rec_count = count

    def flush_costs(self):
        """Add the message and hop costs of the spikes since the last flush to the counters.

        Costs are per unit (``unit_cost``, from the routing); the step counts each unit's spikes
        and this multiplies, so a spike costs one increment instead of six. Call before reading
        or replacing the counters.
        """
        cdef Program* p = &self.p
        cdef int64_t j, c, n
        with nogil:
            for j in range(p.n_units):
                n = p.fan[j].spikes
                if n:
                    for c in range(N_COSTS):
                        p.counters[C_MSG_CORE + c] += n * p.unit_cost[j * N_COSTS + c]
                    p.fan[j].spikes = 0

    def reset_records(self):
        self.p.rec_count = 0

    @property
    def rec_count(self):
        return self.p.rec_count

    @property
    def record_capacity(self):
        return self.program.arrays["rec_time"].size

    def run(self, int64_t t0, int64_t steps, list outboxes, int64_t[::1] out_counts):
        """Advance steps ``t0 + 1 .. t0 + steps``; messages for other workers go to
        ``outboxes[w][out_counts[w]++]``. Returns the number of spikes recorded in the window.

        The caller guarantees record capacity for ``n_units * steps`` more spikes (checked here)
        and outbox capacity for every message of the window (bounded by construction: each unit
        spikes at most once per step and sends at most one message to each other worker).
        """
        cdef int64_t n_out = len(outboxes)
        cdef int64_t** boxes = <int64_t**>malloc(max(n_out, 1) * sizeof(int64_t*))
        cdef int64_t w, before = self.p.rec_count
        if boxes == NULL:
            raise MemoryError()
        try:
            if out_counts.shape[0] < n_out:
                raise ValueError("out_counts is shorter than outboxes")
            for w in range(n_out):
                boxes[w] = <int64_t*>_ptr(np.asarray(outboxes[w]))
            if self.p.rec_count + self.p.n_units * steps > self.record_capacity:
                raise ValueError("spike record buffer too small for this window")
            with nogil:
                self._run_any(t0, steps, boxes, &out_counts[0])
        finally:
            free(boxes)
        return self.p.rec_count - before

    def run_windows(self, int64_t t0, int64_t steps, int64_t window, exchange, double timeout,
                    const int64_t[:, ::1] outbox_addr, const int64_t[:, ::1] inbox_addr,
                    out_counts, scratch_counts):
        """Advance up to ``steps`` steps from ``t0`` in windows of ``window`` steps, exchanging
        with the other workers after each window, with no Python between windows but one call of
        ``exchange.exchange_counts`` (an ``ExchangeCore``; ``timeout`` in seconds, < 0 none).

        ``outbox_addr[p, w]`` / ``inbox_addr[p, s]``: addresses of the mailboxes of window parity
        ``p`` (``SharedMemoryTransport.mailbox_addresses``); ``out_counts``: int64 array of one
        count per worker (zero on entry), ``in_counts`` its scratch twin. Stops early, at a window
        boundary, when the spike record buffer could not hold another window; returns the steps
        done (the caller grows the buffer and calls again).
        """
        cdef int64_t n_workers = outbox_addr.shape[1], w, s, n, done = 0, parity
        cdef int64_t[::1] counts = out_counts
        cdef int64_t[::1] in_counts = scratch_counts
        cdef int64_t** boxes = <int64_t**>malloc(max(n_workers, 1) * sizeof(int64_t*))
        if boxes == NULL:
            raise MemoryError()
        if counts.shape[0] != n_workers or in_counts.shape[0] != n_workers or \
                inbox_addr.shape[1] != n_workers or outbox_addr.shape[0] != 2:
            free(boxes)
            raise ValueError("mailbox addresses and counts must cover every worker")
        try:
            while done < steps:
                n = min(window, steps - done)
                if self.p.rec_count + self.p.n_units * n > self.record_capacity:
                    break
                parity = exchange.window & 1
                for w in range(n_workers):
                    boxes[w] = <int64_t*><size_t>outbox_addr[parity, w]
                with nogil:
                    self._run_any(t0 + done, n, boxes, &counts[0])
                parity = exchange.exchange_counts(out_counts, timeout, scratch_counts)
                with nogil:
                    for s in range(n_workers):
                        if in_counts[s] > 0:
                            self._deliver_any(<int64_t*><size_t>inbox_addr[parity, s], in_counts[s])
                    for w in range(n_workers):
                        counts[w] = 0
                done += n
        finally:
            free(boxes)
        return done

    def deliver(self, const int64_t[::1] messages):
        """Deliver messages ``(t << 32) | row`` received from other workers."""
        cdef Py_ssize_t n = messages.shape[0]
        if n == 0:
            return
        with nogil:
            self._deliver_any(&messages[0], n)

    cdef void _run_any(self, int64_t t0, int64_t steps, int64_t** boxes,
                       int64_t* out_counts) noexcept nogil:
        if self.ring32 and self.target16:
            _run(&self.p, <int32_t*>self.ring, <uint16_t*>self.target, t0, steps, boxes, out_counts)
        elif self.ring32:
            _run(&self.p, <int32_t*>self.ring, <int32_t*>self.target, t0, steps, boxes, out_counts)
        elif self.target16:
            _run(&self.p, <int64_t*>self.ring, <uint16_t*>self.target, t0, steps, boxes, out_counts)
        else:
            _run(&self.p, <int64_t*>self.ring, <int32_t*>self.target, t0, steps, boxes, out_counts)

    cdef void _deliver_any(self, const int64_t* messages, Py_ssize_t n) noexcept nogil:
        if self.ring32 and self.target16:
            _deliver_all(&self.p, <int32_t*>self.ring, <uint16_t*>self.target, messages, n)
        elif self.ring32:
            _deliver_all(&self.p, <int32_t*>self.ring, <int32_t*>self.target, messages, n)
        elif self.target16:
            _deliver_all(&self.p, <int64_t*>self.ring, <uint16_t*>self.target, messages, n)
        else:
            _deliver_all(&self.p, <int64_t*>self.ring, <int32_t*>self.target, messages, n)


def _check(arrays, dtypes):
    for name, dtype in dtypes.items():
        if arrays[name].dtype != dtype:
            raise TypeError(f"worker program array {name!r} is {arrays[name].dtype}, "
                            f"expected {np.dtype(dtype)}")
