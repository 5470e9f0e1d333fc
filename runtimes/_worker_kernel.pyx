# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The per-worker step of the multi-core runtime: all of a worker's cores in one fused call.

One call of :meth:`WorkerKernel.run_windows` advances the worker's cores window after window,
exchanging with the other workers in between, with the GIL released except for the exchange call
(and the per-step hook, when set). Within step ``t`` it:

1. runs the kernel of every run of units (``_kernel.pxd``): neurons read and clear their input
   ``a_in(t)`` straight from the delay ring buffer (slot ``t % ring_slots``), sources fill their
   spikes; then, when set, a Python hook for the models that have no kernel and for recording;
2. for every unit that spiked: records it, adds its precomputed message and hop costs to the
   counters, delivers it to the worker's own cores by walking its row of the worker's fan-out
   table (see ``_fanout.pyx``: segments of one delay, so a segment is ``acc[target] += weight`` into
   one ring slot), and writes one message ``(t << 32) | row`` to the outbox of each other worker
   that holds a row for it.

After each window's exchange, the messages from the other workers are delivered from their
inboxes into the ring buffer.

The ring buffer is int32 when the build proved that no neuron's input in one step can leave int32
(the sum of the magnitudes of all its synapses' weights is below ``2**31``), else int64 (the rule:
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

from nmgraph.runtimes._kernel cimport KERNEL_SLOTS, KernelRun, acc_t, kernel_fn

import numpy as np

#: numpy layouts of the C structs ``Segment`` and ``UnitFanout`` (fields as documented there).
SEGMENT_DTYPE = np.dtype([("start", np.int64), ("base", np.int32), ("weight", np.int16),
                          ("delay", np.uint8), ("flags", np.uint8)])
FANOUT_DTYPE = np.dtype([("seg_begin", np.int64), ("remote_begin", np.int64), ("seg_count", np.int32),
                         ("remote_count", np.int32), ("spikes", np.int64)])

#: Counter slots of ``WorkerKernel.counters``.
COUNTER_NAMES = ("synaptic_ops", "neuron_updates", "spikes", "messages_core", "messages_cores",
                 "messages_chips", "hops", "hops_x", "hops_y", "messages_workers",
                 "synaptic_updates")
#: The counter slot the learning engine adds its synaptic updates to.
SYNAPTIC_UPDATES = COUNTER_NAMES.index("synaptic_updates")

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
    AHEAD = 4          # rows are prefetched whole this many spikes (or messages) before delivery

#: numpy layout of ``KernelRun`` (``_kernel.pxd``): one record per run of units.
KERNEL_RUN_DTYPE = np.dtype([("fn32", np.uint64), ("fn64", np.uint64), ("start", np.int64),
                             ("count", np.int64), ("uniform", np.int64), ("index0", np.int64),
                             ("state", np.uint64, KERNEL_SLOTS), ("param", np.uint64, KERNEL_SLOTS),
                             ("width", np.int64, KERNEL_SLOTS), ("konst", np.int64, KERNEL_SLOTS)])
if KERNEL_RUN_DTYPE.itemsize != sizeof(KernelRun):
    raise ImportError("KERNEL_RUN_DTYPE does not match the C struct KernelRun")

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
    # units: neurons (the first n_neurons, with a ring column each), then sources, in runs
    int64_t n_neurons, n_units, slots, stride
    uint8_t* spiked
    int64_t n_runs
    KernelRun* runs
    void* hook            # a Python callable hook(t), run after the update of every step (or NULL)
    int64_t failed        # set when the hook raised: the step loop stops
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
    int64_t last_step     # the last step whose spikes are all recorded
    # per-population accounting at each cost flush (NULL: none)
    int32_t* unit_group   # a unit's population, as an index into group_spikes / group_ops
    int64_t* unit_degree  # synapses leaving the unit (on every worker)
    int64_t* group_spikes
    int64_t* group_ops


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


cdef bint _update(Program* p, acc_t* ring, int64_t t) noexcept nogil:
    """Every run's kernel: neurons read and clear their input slot, sources fill their spikes;
    then the hook (models without a kernel, recording), if any. False when the hook raised."""
    cdef acc_t* a_in = ring + (t % p.slots) * p.stride
    cdef int64_t r
    cdef KernelRun* run
    cdef void* fn
    for r in range(p.n_runs):
        run = &p.runs[r]
        fn = run.fn32 if acc_t is int32_t else run.fn64
        if fn != NULL:
            (<kernel_fn>fn)(run, <void*>(a_in + run.start) if run.start < p.n_neurons else NULL,
                            p.spiked + run.start, t)
    p.counters[C_NEURON_UPDATES] += p.n_neurons
    if p.hook != NULL:
        with gil:
            if not _call_hook(<object>p.hook, t):
                p.failed = 1
                return False
    return True


cdef bint _call_hook(object hook, int64_t t):
    try:
        hook(t)
    except BaseException as exc:
        hook.error = exc
        return False
    return True


cdef inline void _prefetch_row(Program* p, tgt_t* tgt, int64_t first, int64_t last) noexcept nogil:
    """Prefetch every cache line of the targets of segments ``first .. last - 1`` (one row: its
    segments are consecutive, so its synapses are one run)."""
    cdef int64_t lo = p.seg[first].start, hi = p.seg[last].start, s
    cdef int64_t step = 64 // sizeof(tgt_t)
    if hi <= lo:
        return
    s = lo
    while s < hi:
        prefetch(&tgt[s])
        s += step
    prefetch(&tgt[hi - 1])


cdef void _run(Program* p, acc_t* ring, tgt_t* tgt, int64_t t0, int64_t steps,
               int64_t** boxes, int64_t* out_counts) noexcept nogil:
    cdef int64_t step, t, i, j, k, w, n_spk, synapses
    cdef UnitFanout* fan = p.fan
    cdef UnitFanout* f
    for step in range(steps):
        t = t0 + step + 1
        if not _update(p, ring, t):
            return
        n_spk = _collect(p.spiked, p.n_units, p.spikers)
        synapses = 0
        # rows are fetched ahead of use: the whole row of the spike AHEAD on (its synapses are
        # far apart from the current row's, so the hardware prefetcher would start cold), its
        # first segment record one spike earlier, its fan-out entry one earlier still
        for i in range(min(AHEAD, n_spk)):
            prefetch(&fan[p.spikers[i]])
        for i in range(min(AHEAD, n_spk)):
            f = &fan[p.spikers[i]]
            _prefetch_row(p, tgt, f.seg_begin, f.seg_begin + f.seg_count)
        for i in range(n_spk):
            j = p.spikers[i]
            if i + 3 * AHEAD < n_spk:
                prefetch(&fan[p.spikers[i + 3 * AHEAD]])
            if i + 2 * AHEAD < n_spk:
                f = &fan[p.spikers[i + 2 * AHEAD]]
                prefetch(&p.seg[f.seg_begin])
                prefetch(&p.seg[f.seg_begin + f.seg_count])
            if i + AHEAD < n_spk:
                f = &fan[p.spikers[i + AHEAD]]
                _prefetch_row(p, tgt, f.seg_begin, f.seg_begin + f.seg_count)
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
        p.last_step = t
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
    """Deliver messages ``(t << ROW_BITS) | row`` from another worker, prefetching rows ahead as
    ``_run`` does."""
    cdef Py_ssize_t i
    cdef int64_t row, mask = (<int64_t>1 << ROW_BITS) - 1
    for i in range(min(AHEAD, n)):
        row = messages[i] & mask
        _prefetch_row(p, tgt, p.row_seg[row], p.row_seg[row + 1])
    for i in range(n):
        if i + 2 * AHEAD < n:
            row = messages[i + 2 * AHEAD] & mask
            prefetch(&p.row_seg[row])
            prefetch(&p.seg[p.row_seg[row]])
        if i + AHEAD < n:
            row = messages[i + AHEAD] & mask
            _prefetch_row(p, tgt, p.row_seg[row], p.row_seg[row + 1])
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

    Local units are neurons (the first ``n_neurons``, each with a column in the ring buffer), then
    sources, in runs with one kernel record each. See ``runtimes/multicore_program.py`` for how
    the arrays are built from an Executable.
    """

    cdef Program p
    cdef object program
    cdef void* ring
    cdef void* target
    cdef readonly bint ring32, target16
    cdef readonly object counters
    cdef object spikers
    cdef readonly object hook
    #: The learning engine (``_plastic.PlasticEngine``) or None: run after each window's exchange.
    cdef public object plastic
    cdef object accounting

    def __init__(self, program):
        a = program.arrays
        self.program = program
        cdef Program* p = &self.p
        p.n_neurons = program.n_neurons
        p.n_units = program.n_units
        p.slots, p.stride = a["ring"].shape[0], a["ring"].shape[1]
        self.ring32 = a["ring"].dtype == np.int32
        self.target16 = a["syn_target"].dtype == np.uint16
        _check(a, {"ring": np.int32 if self.ring32 else np.int64,
                   "syn_target": np.uint16 if self.target16 else np.int32,
                   "spiked": np.uint8, "kernel_runs": KERNEL_RUN_DTYPE,
                   "row_seg": np.int64, "segments": SEGMENT_DTYPE,
                   "syn_weight": np.int16, "syn_delay": np.uint8, "fanout": FANOUT_DTYPE,
                   "remote_worker": np.int32, "remote_row": np.int64, "unit_cost": np.int64,
                   "counters": np.int64})
        if a["segments"].size == 0 or a["fanout"].size < program.n_units:
            raise ValueError("segments needs its end sentinel and fanout a row per unit")
        runs = a["kernel_runs"]
        if runs.size and (int(runs["start"].min()) < 0 or
                          int((runs["start"] + runs["count"]).max()) > program.n_units):
            raise ValueError("kernel runs must lie within the worker's units")
        self.ring, self.target = _ptr(a["ring"]), _ptr(a["syn_target"])
        p.spiked = <uint8_t*>_ptr(a["spiked"])
        p.n_runs, p.runs = runs.size, <KernelRun*>_ptr(runs)
        p.hook, p.failed = NULL, 0
        self.hook = None
        self.plastic = None
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
        p.unit_group = NULL
        self.accounting = None
        self.set_record_buffers(a["rec_time"], a["rec_unit"], 0)

    def set_hook(self, hook):
        """Call ``hook(t)`` after the kernels of every step (None: no call). On an exception the
        hook's ``error`` attribute is set to it, the step loop stops, and the running call raises
        it. The hook may read and write program arrays (state, the input slot of step ``t``,
        ``spiked``) but must not resize them."""
        if hook is not None and not callable(hook):
            raise TypeError("hook must be callable")
        self.hook = hook
        self.p.hook = <void*>hook if hook is not None else NULL
        self.p.failed = 0

    cdef _raise_hook_error(self):
        if self.p.failed:
            self.p.failed = 0
            error, self.hook.error = self.hook.error, None
            raise error

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
        cdef int32_t g
        with nogil:
            for j in range(p.n_units):
                n = p.fan[j].spikes
                if n:
                    for c in range(N_COSTS):
                        p.counters[C_MSG_CORE + c] += n * p.unit_cost[j * N_COSTS + c]
                    if p.unit_group != NULL:
                        g = p.unit_group[j]
                        p.group_spikes[g] += n
                        p.group_ops[g] += n * p.unit_degree[j]
                    p.fan[j].spikes = 0

    def set_accounting(self, unit_group, unit_degree, group_spikes, group_ops):
        """Count spikes and synaptic operations per group of units (populations) at each
        :meth:`flush_costs`: unit ``j`` (local) belongs to group ``unit_group[j]`` (int32) and
        each of its spikes adds 1 to ``group_spikes`` and ``unit_degree[j]`` to ``group_ops``
        (int64 arrays of one entry per group, which the caller reads and clears)."""
        cdef Program* p = &self.p
        if unit_group.dtype != np.int32 or unit_degree.dtype != np.int64 or \
                group_spikes.dtype != np.int64 or group_ops.dtype != np.int64:
            raise TypeError("unit_group must be int32, the others int64")
        if unit_group.size != p.n_units or unit_degree.size != p.n_units or \
                group_spikes.size != group_ops.size:
            raise ValueError("one group and degree per unit, one count per group")
        if p.n_units and (int(unit_group.min()) < 0 or int(unit_group.max()) >= group_spikes.size):
            raise ValueError("unit groups must index the group counts")
        self.accounting = (np.ascontiguousarray(unit_group), np.ascontiguousarray(unit_degree),
                           group_spikes, group_ops)
        p.unit_group = <int32_t*>_ptr(self.accounting[0])
        p.unit_degree = <int64_t*>_ptr(self.accounting[1])
        p.group_spikes = <int64_t*>_ptr(group_spikes)
        p.group_ops = <int64_t*>_ptr(group_ops)
        if p.n_units == 0:
            p.unit_group = NULL

    def reset_records(self):
        self.p.rec_count = 0

    @property
    def last_step(self):
        """The last step this worker finished (its spikes are all recorded)."""
        return self.p.last_step

    def set_last_step(self, int64_t t):
        self.p.last_step = t

    @property
    def rec_count(self):
        return self.p.rec_count

    @property
    def record_capacity(self):
        return self.program.arrays["rec_time"].size

    def run_windows(self, int64_t t0, int64_t steps, int64_t window, exchange, double timeout,
                    const int64_t[:, ::1] outbox_addr, const int64_t[:, ::1] inbox_addr,
                    out_counts, scratch_counts, progress=None):
        """Advance up to ``steps`` steps from ``t0`` in windows of ``window`` steps, exchanging
        with the other workers after each window, with no Python between windows but one call of
        ``exchange.exchange_counts`` (an ``ExchangeCore``; ``timeout`` in seconds, < 0 none).

        ``outbox_addr[p, w]`` / ``inbox_addr[p, s]``: addresses of the mailboxes of window parity
        ``p`` (``SharedMemoryTransport.mailbox_addresses``); ``out_counts``: int64 array of one
        count per worker (zero on entry), ``in_counts`` its scratch twin. Stops early, at a window
        boundary, when the spike record buffer could not hold another window; returns the steps
        done (the caller grows the buffer and calls again). ``progress`` (an int64 array of one,
        in shared memory, or None) gets each window's steps added before its exchange: the host's
        watchdog reads it.
        """
        cdef int64_t n_workers = outbox_addr.shape[1], w, s, n, done = 0, parity, rec_lo
        plastic = self.plastic
        addresses = np.zeros(n_workers, dtype=np.int64) if plastic is not None else None
        cdef int64_t[::1] counts = out_counts
        cdef int64_t[::1] in_counts = scratch_counts
        cdef int64_t[::1] beat
        cdef bint has_progress = progress is not None
        if has_progress:
            beat = progress
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
                rec_lo = self.p.rec_count
                with nogil:
                    self._run_any(t0 + done, n, boxes, &counts[0])
                self._raise_hook_error()
                if has_progress:
                    beat[0] += n   # the host's watchdog reads this: steps done so far
                parity = exchange.exchange_counts(out_counts, timeout, scratch_counts)
                with nogil:
                    for s in range(n_workers):
                        if in_counts[s] > 0:
                            self._deliver_any(<int64_t*><size_t>inbox_addr[parity, s], in_counts[s])
                    for w in range(n_workers):
                        counts[w] = 0
                if plastic is not None:
                    for w in range(n_workers):
                        addresses[w] = inbox_addr[parity, w] if in_counts[w] > 0 else 0
                    plastic.window(t0 + done + 1, n, self.program.arrays["rec_time"],
                                   self.program.arrays["rec_unit"], rec_lo, self.p.rec_count,
                                   addresses, scratch_counts, self.program.arrays["ring"],
                                   self.counters)
                done += n
        finally:
            free(boxes)
        return done

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


def apply_kernels(runs, a_in, spiked, int64_t t):
    """Call the kernel of every record of ``runs`` (``KERNEL_RUN_DTYPE``, pointing at live arrays)
    for step ``t``: neurons read ``a_in[start:start + count]`` (an int32 or int64 array, cleared
    as they read it; None when every run is a source), all write ``spiked`` (uint8). For testing
    each kernel against its model's NumPy step; the runtime calls the kernels from the step."""
    cdef KernelRun* rec
    cdef void* fn
    cdef void* base = NULL
    cdef bint wide = True
    cdef int64_t r, width = 8
    if runs.dtype != KERNEL_RUN_DTYPE or spiked.dtype != np.uint8 or not runs.flags.c_contiguous:
        raise TypeError("runs must be KERNEL_RUN_DTYPE and spiked uint8")
    if a_in is not None:
        if a_in.dtype not in (np.int32, np.int64) or not a_in.flags.c_contiguous:
            raise TypeError("a_in must be a contiguous int32 or int64 array")
        wide = a_in.dtype == np.int64
        width = a_in.dtype.itemsize
        base = _ptr(a_in)
    for r in range(runs.size):
        start, count = int(runs["start"][r]), int(runs["count"][r])
        if start < 0 or start + count > spiked.size or (
                a_in is not None and start + count > a_in.size):
            raise ValueError("run outside the arrays")
    rec = <KernelRun*>_ptr(runs)
    cdef uint8_t* out = <uint8_t*>_ptr(spiked)
    for r in range(runs.size):
        fn = rec[r].fn64 if wide else rec[r].fn32
        if fn == NULL:
            raise ValueError(f"run {r} has no kernel")
        (<kernel_fn>fn)(&rec[r], <void*>(<char*>base + width * rec[r].start) if base != NULL
                        else NULL, out + rec[r].start, t)
