# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The per-worker step of the multi-core runtime: all of a worker's cores in one fused call.

One call of :meth:`WorkerKernel.run` advances the worker's cores by a window of steps without the
GIL. Within step ``t`` it: reads each neuron's input ``a_in(t)`` from the delay ring buffer (slot
``t % ring_slots``) and clears that slot; updates LIF and ALIF neurons (the kernels of
``_neurons``); fills Poisson and generator sources; then, for every unit that spiked, records it,
adds its precomputed message and hop costs to the counters, delivers it to the worker's own cores
by walking its row of the worker's fan-out table (synapses into the ring buffer at ``t + delay``),
and writes one message ``(t << 32) | row`` to the outbox of each other worker that holds a row for
it.
Messages from other workers are delivered by :meth:`WorkerKernel.deliver` after the exchange.

Inputs are summed in int64, so the order in which messages arrive never changes a result.
"""

from libc.stdint cimport int16_t, int32_t, int64_t, uint8_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

from nmgraph.runtimes._neurons cimport alif_update_c, lif_update_c, poisson_fill_c

import numpy as np

#: Counter slots of ``WorkerKernel.counters``.
COUNTER_NAMES = ("synaptic_ops", "neuron_updates", "spikes", "messages_core", "messages_cores",
                 "messages_chips", "hops", "hops_x", "hops_y", "messages_workers")

cdef enum:
    C_SYNAPTIC_OPS = 0
    C_NEURON_UPDATES = 1
    C_SPIKES = 2
    C_MSG_CORE = 3
    C_MSG_CORES = 4
    C_MSG_CHIPS = 5
    C_HOPS = 6
    C_HOPS_X = 7
    C_HOPS_Y = 8
    C_MSG_WORKERS = 9
    N_COUNTERS = 10
    N_COSTS = 6        # columns of unit_cost: what one spike of a unit adds to counters 3..8
    ROW_BITS = 32      # a message is (t << ROW_BITS) | row


cdef class WorkerKernel:
    """Typed views of one worker's program and state (arrays owned by the Python side).

    Local units are ordered ``[LIF | ALIF | Poisson | generator]``; neurons (the first
    ``n_neurons``) have a column in the ring buffer. See ``runtimes/multicore_program.py`` for how
    the arrays are built from an Executable.
    """

    cdef readonly int64_t n_lif, n_alif, n_neurons, n_units, ring_slots, n_workers
    cdef int64_t[::1] u, v, b, bias, a_in
    cdef int32_t[::1] du, dv, vth, db, beta
    cdef int64_t[:, ::1] ring
    cdef uint8_t[::1] spiked
    cdef int64_t pois_base
    cdef uint64_t[::1] pois_threshold
    cdef int64_t[::1] seg_start, seg_count
    cdef uint64_t[::1] seg_seed, seg_index
    cdef int64_t gen_base, n_gen
    cdef uint8_t[:, ::1] gen_data
    cdef int64_t[::1] gen_steps
    cdef uint8_t[::1] gen_repeat
    cdef int64_t[::1] row_ptr
    cdef int32_t[::1] syn_target
    cdef int16_t[::1] syn_weight
    cdef uint8_t[::1] syn_delay
    cdef int64_t[::1] local_row
    cdef int64_t[::1] remote_ptr
    cdef int32_t[::1] remote_worker
    cdef int64_t[::1] remote_row
    cdef int64_t[:, ::1] unit_cost
    cdef readonly int64_t[::1] counters
    cdef int64_t[::1] rec_time
    cdef int32_t[::1] rec_unit
    cdef readonly int64_t rec_count

    def __init__(self, program):
        self.n_lif = program.n_lif
        self.n_alif = program.n_alif
        self.n_neurons = program.n_lif + program.n_alif
        self.n_units = program.n_units
        self.ring_slots = program.ring.shape[0]
        self.n_workers = program.n_workers
        self.u, self.v, self.b = program.u, program.v, program.b
        self.bias, self.a_in = program.bias, program.a_in
        self.du, self.dv, self.vth = program.du, program.dv, program.vth
        self.db, self.beta = program.db, program.beta
        self.ring = program.ring
        self.spiked = program.spiked
        self.pois_base = program.pois_base
        self.pois_threshold = program.pois_threshold
        self.seg_start, self.seg_count = program.seg_start, program.seg_count
        self.seg_seed, self.seg_index = program.seg_seed, program.seg_index
        self.gen_base, self.n_gen = program.gen_base, program.n_gen
        self.gen_data, self.gen_steps, self.gen_repeat = (program.gen_data, program.gen_steps,
                                                          program.gen_repeat)
        self.row_ptr = program.row_ptr
        self.syn_target, self.syn_weight, self.syn_delay = (program.syn_target,
                                                            program.syn_weight, program.syn_delay)
        self.local_row = program.local_row
        self.remote_ptr, self.remote_worker = program.remote_ptr, program.remote_worker
        self.remote_row = program.remote_row
        self.unit_cost = program.unit_cost
        self.counters = program.counters
        self.rec_time, self.rec_unit = program.rec_time, program.rec_unit
        self.rec_count = 0

    def set_record_buffers(self, int64_t[::1] rec_time, int32_t[::1] rec_unit, int64_t count):
        """Swap in (larger) spike record buffers holding ``count`` records already."""
        self.rec_time, self.rec_unit, self.rec_count = rec_time, rec_unit, count

    def reset_records(self):
        self.rec_count = 0

    @property
    def record_capacity(self):
        return self.rec_time.shape[0]

    def run(self, int64_t t0, int64_t steps, list outboxes, int64_t[::1] out_counts):
        """Advance steps ``t0 + 1 .. t0 + steps``; messages for other workers go to
        ``outboxes[w][out_counts[w]++]``. Returns the number of spikes recorded in the window.

        The caller guarantees record capacity for ``n_units * steps`` more spikes and outbox
        capacity for every message of the window (both are bounded by construction).
        """
        cdef int64_t n_out = len(outboxes)
        cdef int64_t** boxes = <int64_t**>malloc(max(n_out, 1) * sizeof(int64_t*))
        cdef int64_t[::1] view
        cdef int64_t w, before = self.rec_count
        if boxes == NULL:
            raise MemoryError()
        try:
            for w in range(n_out):
                boxes[w] = NULL
                if len(outboxes[w]) > 0:
                    view = outboxes[w]
                    boxes[w] = &view[0]
            if self.rec_count + self.n_units * steps > self.rec_time.shape[0]:
                raise ValueError("spike record buffer too small for this window")
            with nogil:
                self._run(t0, steps, boxes, &out_counts[0])
        finally:
            free(boxes)
        return self.rec_count - before

    cdef void _run(self, int64_t t0, int64_t steps, int64_t** boxes,
                   int64_t* out_counts) noexcept nogil:
        cdef int64_t step, t
        for step in range(steps):
            t = t0 + step + 1
            self._update(t)
            self._send(t, boxes, out_counts)

    cdef void _update(self, int64_t t) noexcept nogil:
        cdef int64_t slot = t % self.ring_slots
        cdef int64_t s, g, row, n = self.n_neurons
        if n > 0:
            memcpy(&self.a_in[0], &self.ring[slot, 0], n * sizeof(int64_t))
            memset(&self.ring[slot, 0], 0, n * sizeof(int64_t))
            if self.n_lif > 0:
                lif_update_c(&self.u[0], &self.v[0], &self.a_in[0], &self.du[0], &self.dv[0],
                             &self.vth[0], &self.bias[0], &self.spiked[0], self.n_lif)
            if self.n_alif > 0:
                g = self.n_lif
                alif_update_c(&self.u[g], &self.v[g], &self.b[g], &self.a_in[g], &self.du[g],
                              &self.dv[g], &self.db[g], &self.vth[g], &self.beta[g],
                              &self.bias[g], &self.spiked[g], self.n_alif)
            self.counters[C_NEURON_UPDATES] += n
        for s in range(self.seg_start.shape[0]):
            poisson_fill_c(self.seg_seed[s], &self.pois_threshold[self.seg_start[s] - self.pois_base],
                           self.seg_index[s], <uint64_t>t, &self.spiked[self.seg_start[s]],
                           self.seg_count[s])
        for g in range(self.n_gen):
            row = t - 1
            if self.gen_repeat[g]:
                row = row % self.gen_steps[g]
            self.spiked[self.gen_base + g] = self.gen_data[row, g] if row < self.gen_steps[g] else 0

    cdef void _send(self, int64_t t, int64_t** boxes, int64_t* out_counts) noexcept nogil:
        cdef int64_t j, k, c, w
        for j in range(self.n_units):
            if not self.spiked[j]:
                continue
            self.rec_time[self.rec_count] = t
            self.rec_unit[self.rec_count] = <int32_t>j
            self.rec_count += 1
            self.counters[C_SPIKES] += 1
            for c in range(N_COSTS):
                self.counters[C_MSG_CORE + c] += self.unit_cost[j, c]
            if self.local_row[j] >= 0:
                self._deliver_row(self.local_row[j], t)
            for k in range(self.remote_ptr[j], self.remote_ptr[j + 1]):
                w = self.remote_worker[k]
                boxes[w][out_counts[w]] = (t << ROW_BITS) | self.remote_row[k]
                out_counts[w] += 1
                self.counters[C_MSG_WORKERS] += 1

    cdef inline void _deliver_row(self, int64_t row, int64_t t) noexcept nogil:
        cdef int64_t s, slot, lo = self.row_ptr[row], hi = self.row_ptr[row + 1]
        cdef int64_t slots = self.ring_slots, base = t % slots
        cdef int64_t* ring = &self.ring[0, 0]
        cdef int64_t stride = self.ring.shape[1]
        for s in range(lo, hi):
            slot = base + self.syn_delay[s]   # delay < slots: one subtraction, no division
            if slot >= slots:
                slot -= slots
            ring[slot * stride + self.syn_target[s]] += self.syn_weight[s]
        self.counters[C_SYNAPTIC_OPS] += hi - lo

    def deliver(self, const int64_t[::1] messages):
        """Deliver messages ``(t << 32) | row`` received from other workers."""
        cdef Py_ssize_t i, n = messages.shape[0]
        cdef int64_t mask = (<int64_t>1 << ROW_BITS) - 1
        with nogil:
            for i in range(n):
                self._deliver_row(messages[i] & mask, messages[i] >> ROW_BITS)
