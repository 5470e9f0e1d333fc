# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The learning engine of the multi-core runtime: plastic synapses on the worker of their targets.

A worker's plastic synapses are not in its fixed fan-out table: their weights and delays change.
The engine delivers them, keeps their traces and applies their rules, once per window, after the
window's exchange: by then it knows every spike of the window that concerns it, the worker's own
(its spike record) and the other workers' (their messages ``(t << 32) | row`` in its inboxes).
It replays the window step by step, in the order of the reference simulator
(``plastic_reference.py``, the specification it matches bit for bit):

1. the spikes of step ``s`` of presynaptic neurons are delivered with the current weights into
   the ring slots of ``s + d`` (the window is at most the shortest plastic delay long, so those
   slots are still ahead of every neuron of the worker);
2. each trace decays (stochastic rounding, a draw from the counter hash of ``(trace seed,
   neuron * 8 + slot, s)``) and takes the step's impulses; the epoch's ``x0``/``y0`` flags and
   the lists of rows and post neurons that spiked in it are updated;
3. at an epoch's end the rule is evaluated for the synapses of the rows whose ``x0`` is set
   (when the rule has ``x0`` terms), of the post neurons whose ``y0`` is set (``y0`` terms), or
   all (a ``u`` epoch): the others have no active term and cannot change.

A pre neuron's traces are kept by every worker that holds one of its synapses (each computes the
same values: the draws depend on the neuron, not the worker). Everything runs without the GIL
except the optional per-step recording callback.
"""

from libc.stdint cimport int16_t, int32_t, int64_t, uint8_t, uint64_t
from libc.stdlib cimport calloc, free

from nmgraph.runtimes._fixed cimport splitmix

import numpy as np

cdef extern from *:
    """
    #define nmg_plastic_prefetch(p) __builtin_prefetch((const void *)(p), 1)
    """
    void prefetch "nmg_plastic_prefetch"(const void* p) noexcept nogil

cdef enum:
    PREFETCH = 8          # synapses ahead in a column walk
    MAX_TERMS = 16
    MAX_FACTORS = 4
    FRACTION = 7
    TRACE_MAX = 127
    DECAY_BITS = 12
    ROW_BITS = 32
    N_TRACES = 5          # x1 x2 y1 y2 y3
    # entry kinds (what a spike of a unit means to the engine)
    E_PRE = 0             # a presynaptic neuron: deliver row ``index`` of projection ``proj``
    E_POST = 1            # a postsynaptic neuron: local post ``index``
    E_MOD = 2             # a third-factor unit reaching local post ``index`` (trace ``trace``)
    E_MOD_ALL = 3         # a third-factor unit reaching every local post (trace ``trace``)
    C_SYNAPTIC_OPS = 0    # counter slots (as _worker_kernel.COUNTER_NAMES)

#: Variable codes of the compiled equations (the order of ``VARIABLES``).
VARIABLES = ("x1", "x2", "y1", "y2", "y3", "w", "d", "t", "x0", "y0")
DEPENDENCIES = ("x0", "y0", "u")
TARGET_CODES = {"dw": 0, "dd": 1, "dt": 2}
#: Entry kinds, for the program builder (``multicore_plastic.py``).
ENTRY_KINDS = {"pre": E_PRE, "post": E_POST, "mod": E_MOD, "mod_all": E_MOD_ALL}

ENTRY_DTYPE = np.dtype([("kind", np.int32), ("proj", np.int32), ("trace", np.int32),
                        ("pad", np.int32), ("index", np.int64)])
TERM_DTYPE = np.dtype([("dep", np.int32), ("n_factors", np.int32), ("shift", np.int32),
                       ("pad", np.int32), ("mantissa", np.int64),
                       ("var", np.int32, MAX_FACTORS), ("sign", np.int32, MAX_FACTORS),
                       ("constant", np.int64, MAX_FACTORS)])


cdef struct Entry:
    int32_t kind
    int32_t proj
    int32_t trace
    int32_t pad
    int64_t index


cdef struct Term:
    int32_t dep
    int32_t n_factors
    int32_t shift
    int32_t pad
    int64_t mantissa
    int32_t var[MAX_FACTORS]
    int32_t sign[MAX_FACTORS]
    int64_t constant[MAX_FACTORS]


cdef struct Proj:
    int64_t n_pre, n_rows, n_posts, n_syn, weight_exp, t_epoch, decimation
    bint dep_x0, dep_y0, dep_u
    int32_t quiet_masks[48]       # per y0 term: its plain row factors (bit 0 x1, 1 x2, 2 x0)
    int32_t n_quiet               # -1: some y0 term has none (a column synapse may always change)
    uint64_t trace_seed, syn_seed
    int64_t decay[N_TRACES]
    int64_t impulse[N_TRACES]
    int32_t used[N_TRACES]        # the rule reads the trace: it is kept
    int32_t third[N_TRACES]       # 1: impulses from the third-factor input (y2, y3)
    int64_t lo[3]
    int64_t hi[3]
    int32_t need                  # bit i: the rule reads variable i (VARIABLES order)
    int32_t n_eq
    int32_t eq_target[3]
    int32_t eq_terms[3]
    Term* terms                   # eq k: terms[k * MAX_TERMS ...]
    # synapses, by row (pre neuron), IR order within
    int64_t* row_ptr
    int64_t* row_pre              # index of the row's neuron in the pre population
    int32_t* syn_col              # ring column of the target
    int32_t* syn_post             # local post index of the target
    int32_t* syn_row
    int16_t* w                    # -256..255
    uint8_t* d                    # 1..62 (a dd rule) or the declared delays (at most 255)
    int16_t* tag                  # -256..255
    int64_t* post_ptr             # the synapses of each local post (CSC)
    int32_t* post_syn
    int32_t* post_row             # the row of each of them (read in order, not through syn_row)
    int64_t* post_id              # index of the local post in the post population
    int32_t* x                    # traces x1, x2: [2][n_rows]
    int32_t* y                    # traces y1, y2, y3: [3][n_posts]
    uint8_t* x0
    uint8_t* y0
    uint8_t* xs                   # spiked at this step
    uint8_t* ys
    uint8_t* ts                   # third factor at this step: [2][n_posts] (y2, y3)
    int32_t* mod_all              # third factor to every post at this step: [2]
    int64_t* act_rows             # rows with x0 set, in order of setting
    int64_t n_act_rows
    int64_t* act_posts
    int64_t n_act_posts
    int64_t* step_rows
    int64_t n_step_rows
    int64_t* step_posts
    int64_t n_step_posts
    int64_t* step_mods            # [2][n_posts]
    int64_t n_step_mods[2]
    int64_t* updates              # synaptic updates of this projection so far: [1]


ctypedef fused ring_t:
    int32_t
    int64_t


cdef inline int64_t _sign(int64_t v) noexcept nogil:
    return (v > 0) - (v < 0)


cdef inline int64_t _decay(int64_t x, int64_t decay, uint64_t seed, uint64_t ident,
                           int64_t step) noexcept nogil:
    """``(p >> 12) + (r < (p & 4095))``, ``p = x * (4096 - decay)``, ``r`` 12 bits of the hash."""
    cdef int64_t p = x * ((1 << DECAY_BITS) - decay)
    cdef int64_t r = <int64_t>(splitmix(seed, ident, <uint64_t>step) >> (64 - DECAY_BITS))
    return (p >> DECAY_BITS) + (r < (p & ((1 << DECAY_BITS) - 1)))


cdef int64_t _deliver_row(Proj* p, int64_t row, int64_t s, ring_t* ring, int64_t slots,
                          int64_t stride) noexcept nogil:
    cdef int64_t k, slot, lo = p.row_ptr[row], hi = p.row_ptr[row + 1], now = s % slots
    cdef int64_t exp = p.weight_exp
    for k in range(lo, hi):
        slot = now + p.d[k]
        if slot >= slots:
            slot -= slots
        ring[slot * stride + p.syn_col[k]] += <ring_t>(<int64_t>p.w[k] << exp)
    return hi - lo


cdef inline void _decay_all(int32_t* tr, int64_t n, int64_t decay, uint64_t seed,
                           const int64_t* neuron, int64_t slot, int64_t s) noexcept nogil:
    """One step of decay of the ``n`` traces ``tr`` of the given neurons (0 stays 0)."""
    cdef int64_t i, v
    if decay == 0:
        return
    for i in range(n):
        v = tr[i]
        if v:
            tr[i] = <int32_t>_decay(v, decay, seed, <uint64_t>(neuron[i] * 8 + slot), s)


cdef inline void _impulses(int32_t* tr, const int64_t* which, int64_t n,
                           int64_t impulse) noexcept nogil:
    """Add ``impulse`` to the traces ``tr[which[0..n-1]]`` (all ``n`` when ``which`` is NULL),
    saturating at 127."""
    cdef int64_t i, j, v
    for i in range(n):
        j = i if which == NULL else which[i]
        v = tr[j] + impulse
        tr[j] = <int32_t>(v if v < TRACE_MAX else TRACE_MAX)


cdef inline int64_t _into_epoch(const int64_t* spiked, int64_t n, uint8_t* step_flag,
                                uint8_t* epoch_flag, int64_t* active,
                                int64_t n_active) noexcept nogil:
    """The step's spiking rows (or posts) ``spiked[:n]`` join the epoch: their step flag is
    cleared, their epoch flag (``x0``/``y0``) set, and the newly set ones appended to ``active``;
    returns its new length."""
    cdef int64_t i, j
    for i in range(n):
        j = spiked[i]
        step_flag[j] = 0
        if not epoch_flag[j]:
            epoch_flag[j] = 1
            active[n_active] = j
            n_active += 1
    return n_active


cdef void _traces(Proj* p, int64_t s) noexcept nogil:
    """Decay every kept trace, add the step's impulses; set the epoch's flags; clear the step's."""
    cdef int64_t k, i
    cdef int32_t* tr
    for k in range(2):               # x1, x2: per row (pre neuron)
        if p.used[k]:
            tr = p.x + k * p.n_rows
            _decay_all(tr, p.n_rows, p.decay[k], p.trace_seed, p.row_pre, k, s)
            _impulses(tr, p.step_rows, p.n_step_rows, p.impulse[k])
    for k in range(2, N_TRACES):     # y1, y2, y3: per local post neuron
        if not p.used[k]:
            continue
        tr = p.y + (k - 2) * p.n_posts
        _decay_all(tr, p.n_posts, p.decay[k], p.trace_seed, p.post_id, k, s)
        if not p.third[k]:
            _impulses(tr, p.step_posts, p.n_step_posts, p.impulse[k])
        elif p.mod_all[k - 3]:
            _impulses(tr, NULL, p.n_posts, p.impulse[k])
        else:
            _impulses(tr, p.step_mods + (k - 3) * p.n_posts, p.n_step_mods[k - 3], p.impulse[k])
    p.n_act_rows = _into_epoch(p.step_rows, p.n_step_rows, p.xs, p.x0, p.act_rows, p.n_act_rows)
    p.n_act_posts = _into_epoch(p.step_posts, p.n_step_posts, p.ys, p.y0, p.act_posts,
                                p.n_act_posts)
    for k in range(2):
        for i in range(p.n_step_mods[k]):
            p.ts[k * p.n_posts + p.step_mods[k * p.n_posts + i]] = 0
        p.n_step_mods[k] = 0
        p.mod_all[k] = 0
    p.n_step_rows = 0
    p.n_step_posts = 0


cdef inline void _evaluate(Proj* p, int64_t syn, int64_t r, int64_t q, int64_t u,
                          int64_t s) noexcept nogil:
    """The rule's new w, d, t of synapse ``syn`` (row ``r``, local post ``q``) at the end of the
    epoch ending at step ``s``. Only the variables the rule reads are loaded, and the synapse's
    hash is drawn only when a sum has a fractional part to round."""
    cdef int64_t vals[10]
    cdef int64_t gate[3]
    cdef int64_t e, k, f, acc, prod, v, total, value, frac
    cdef int32_t need = p.need
    cdef Term* term
    cdef uint64_t h = 0
    cdef bint hashed = False
    if need & 1:
        vals[0] = p.x[r]
    if need & 2:
        vals[1] = p.x[p.n_rows + r]
    if need & 4:
        vals[2] = p.y[q]
    if need & 8:
        vals[3] = p.y[p.n_posts + q]
    if need & 16:
        vals[4] = p.y[2 * p.n_posts + q]
    vals[5] = p.w[syn] if need & 32 else 0
    vals[6] = p.d[syn] if need & 64 else 0
    vals[7] = p.tag[syn] if need & 128 else 0
    vals[8] = p.x0[r]
    vals[9] = p.y0[q]
    gate[0], gate[1], gate[2] = vals[8], vals[9], u
    for e in range(p.n_eq):
        acc = 0
        for k in range(p.eq_terms[e]):
            term = &p.terms[e * MAX_TERMS + k]
            if not gate[term.dep]:
                continue
            prod = term.mantissa
            for f in range(term.n_factors):
                v = vals[term.var[f]] + term.constant[f]
                prod *= _sign(v) if term.sign[f] else v
            acc += prod * (<int64_t>1 << term.shift)
        if acc == 0:
            continue          # no change: the value is within its bounds already
        k = p.eq_target[e]
        total = vals[5 + k] * (1 << FRACTION) + acc
        value = total >> FRACTION
        frac = total & ((1 << FRACTION) - 1)
        if frac:
            if not hashed:
                h = splitmix(p.syn_seed, <uint64_t>(p.post_id[q] * p.n_pre + p.row_pre[r]),
                             <uint64_t>s)
                hashed = True
            value += <int64_t>((h >> (57 - 7 * k)) & 127) < frac
        if value < p.lo[k]:
            value = p.lo[k]
        elif value > p.hi[k]:
            value = p.hi[k]
        if k == 0:
            p.w[syn] = <int16_t>value
        elif k == 1:
            p.d[syn] = <uint8_t>value
        else:
            p.tag[syn] = <int16_t>value


cdef inline bint _quiet(Proj* p, int64_t r) noexcept nogil:
    """In a column walk (``u`` inactive; ``x0`` of row ``r`` unset when the rule has ``x0``
    terms) only the ``y0`` terms are active: True when each has a plain pre-side factor that is 0
    for row ``r`` (``x0``, ``x1`` or ``x2``), so the synapse cannot change and its weight need
    not be read."""
    cdef int32_t zero = (p.x[r] == 0) | ((p.x[p.n_rows + r] == 0) << 1) | ((p.x0[r] == 0) << 2)
    cdef int64_t k
    for k in range(p.n_quiet):
        if not (p.quiet_masks[k] & zero):
            return False
    return True


cdef int64_t _epoch(Proj* p, int64_t s) noexcept nogil:
    """Apply the rule at the end of the epoch that ends at step ``s``; returns the synapses
    evaluated (the synaptic updates)."""
    cdef int64_t u = ((s // p.t_epoch) % (<int64_t>1 << p.decimation)) == 0
    cdef int64_t i, k, r, q, syn, n = 0
    if p.dep_u and u:
        for r in range(p.n_rows):
            for syn in range(p.row_ptr[r], p.row_ptr[r + 1]):
                _evaluate(p, syn, r, p.syn_post[syn], u, s)
        n = p.n_syn
    else:
        if p.dep_x0:
            for i in range(p.n_act_rows):
                r = p.act_rows[i]
                for syn in range(p.row_ptr[r], p.row_ptr[r + 1]):
                    _evaluate(p, syn, r, p.syn_post[syn], u, s)
                n += p.row_ptr[r + 1] - p.row_ptr[r]
        if p.dep_y0:
            for i in range(p.n_act_posts):
                q = p.act_posts[i]
                for k in range(p.post_ptr[q], p.post_ptr[q + 1]):
                    if k + PREFETCH < p.post_ptr[q + 1]:   # the synapses of a column are
                        prefetch(&p.w[p.post_syn[k + PREFETCH]])   # scattered: fetch ahead
                    r = p.post_row[k]
                    if p.dep_x0 and p.x0[r]:
                        continue     # evaluated with its row
                    n += 1
                    if p.n_quiet >= 0 and _quiet(p, r):
                        continue     # every active term has a zero pre-side factor: no change
                    _evaluate(p, p.post_syn[k], r, q, u, s)
    for i in range(p.n_act_rows):
        p.x0[p.act_rows[i]] = 0
    for i in range(p.n_act_posts):
        p.y0[p.act_posts[i]] = 0
    p.n_act_rows = 0
    p.n_act_posts = 0
    return n


cdef void _apply_entry(Proj* projs, Entry* e, int64_t s, ring_t* ring, int64_t slots,
                       int64_t stride, int64_t* counters) noexcept nogil:
    cdef Proj* p = &projs[e.proj]
    cdef int64_t r
    if e.kind == E_PRE:
        r = e.index
        counters[C_SYNAPTIC_OPS] += _deliver_row(p, r, s, ring, slots, stride)
        if not p.xs[r]:
            p.xs[r] = 1
            p.step_rows[p.n_step_rows] = r
            p.n_step_rows += 1
    elif e.kind == E_POST:
        if not p.ys[e.index]:
            p.ys[e.index] = 1
            p.step_posts[p.n_step_posts] = e.index
            p.n_step_posts += 1
    elif e.kind == E_MOD:      # (third-factor synapses are counted by the fixed fan-out)
        if not p.ts[e.trace * p.n_posts + e.index]:
            p.ts[e.trace * p.n_posts + e.index] = 1
            p.step_mods[e.trace * p.n_posts + p.n_step_mods[e.trace]] = e.index
            p.n_step_mods[e.trace] += 1
    else:
        p.mod_all[e.trace] = 1


cdef void _replay_step(Proj* projs, int64_t n_proj, Entry* unit_entries, Entry* row_entries,
                       const int64_t* ev, int64_t lo, int64_t hi, int64_t s, ring_t* ring,
                       int64_t slots, int64_t stride, int64_t* counters,
                       int64_t updates_slot) noexcept nogil:
    """Step ``s`` of a window: its events (entries ``ev[lo:hi]``: ``e >= 0`` a unit entry,
    ``-1 - e`` a row entry), then every projection's traces and, at an epoch's end, its rule."""
    cdef int64_t i, e, k
    cdef Proj* p
    for i in range(lo, hi):
        e = ev[i]
        if e >= 0:
            _apply_entry(projs, &unit_entries[e], s, ring, slots, stride, counters)
        else:
            _apply_entry(projs, &row_entries[-1 - e], s, ring, slots, stride, counters)
    for k in range(n_proj):
        p = &projs[k]
        _traces(p, s)
        if s % p.t_epoch == 0:
            i = _epoch(p, s)
            counters[updates_slot] += i
            p.updates[0] += i


cdef class PlasticEngine:
    """One worker's learning engine (see the module docstring); built from a
    :class:`~nmgraph.runtimes.multicore_plastic.PlasticProgram`, whose arrays it points into."""

    cdef Proj* projs
    cdef int64_t n_proj
    cdef Entry* unit_entries
    cdef Entry* row_entries
    cdef readonly object program
    cdef object ev_step, ev_entry, bucket, ordered
    cdef public object recorder
    cdef int64_t updates_slot

    def __cinit__(self):
        self.projs = NULL

    def __init__(self, program, int64_t updates_slot):
        self.program = program
        self.updates_slot = updates_slot
        self.recorder = None
        self.n_proj = len(program.projections)
        self.projs = <Proj*>calloc(max(self.n_proj, 1), sizeof(Proj))
        if self.projs == NULL:
            raise MemoryError()
        for k, proj in enumerate(program.projections):
            self._fill(&self.projs[k], proj)
        self.unit_entries = <Entry*>_ptr(_checked(program.unit_entries, ENTRY_DTYPE))
        self.row_entries = <Entry*>_ptr(_checked(program.row_entries, ENTRY_DTYPE))
        self.ev_step = np.zeros(16, dtype=np.int64)
        self.ev_entry = np.zeros(16, dtype=np.int64)
        self.bucket = np.zeros(65, dtype=np.int64)
        self.ordered = np.zeros(16, dtype=np.int64)

    def __dealloc__(self):
        if self.projs != NULL:
            free(self.projs)

    cdef _fill(self, Proj* p, proj):
        a = proj.arrays
        p.n_pre, p.n_rows, p.n_posts, p.n_syn = proj.n_pre, proj.n_rows, proj.n_posts, proj.n_syn
        p.weight_exp, p.t_epoch, p.decimation = proj.weight_exp, proj.t_epoch, proj.decimation
        p.dep_x0, p.dep_y0, p.dep_u = proj.dep_x0, proj.dep_y0, proj.dep_u
        p.n_quiet = -1 if proj.quiet_masks is None else len(proj.quiet_masks)
        for k, mask in enumerate(proj.quiet_masks or ()):
            p.quiet_masks[k] = mask
        p.trace_seed, p.syn_seed = proj.trace_seed, proj.syn_seed
        for k in range(N_TRACES):
            p.decay[k], p.impulse[k] = proj.decay[k], proj.impulse[k]
            p.used[k], p.third[k] = proj.used[k], proj.third[k]
        for k in range(3):
            p.lo[k], p.hi[k] = proj.bounds[k]
        p.need = proj.need
        p.n_eq = len(proj.equations)
        for k, (target, n_terms) in enumerate(proj.equations):
            p.eq_target[k], p.eq_terms[k] = target, n_terms
        p.terms = <Term*>_ptr(_checked(a["terms"], TERM_DTYPE))
        p.row_ptr, p.row_pre = <int64_t*>_ptr(a["row_ptr"]), <int64_t*>_ptr(a["row_pre"])
        p.syn_col, p.syn_post = <int32_t*>_ptr(a["syn_col"]), <int32_t*>_ptr(a["syn_post"])
        p.syn_row = <int32_t*>_ptr(a["syn_row"])
        p.w, p.d, p.tag = <int16_t*>_ptr(a["w"]), <uint8_t*>_ptr(a["d"]), <int16_t*>_ptr(a["tag"])
        p.post_ptr, p.post_syn = <int64_t*>_ptr(a["post_ptr"]), <int32_t*>_ptr(a["post_syn"])
        p.post_row = <int32_t*>_ptr(a["post_row"])
        p.post_id = <int64_t*>_ptr(a["post_id"])
        p.x, p.y = <int32_t*>_ptr(a["x"]), <int32_t*>_ptr(a["y"])
        p.x0, p.y0 = <uint8_t*>_ptr(a["x0"]), <uint8_t*>_ptr(a["y0"])
        p.xs, p.ys, p.ts = <uint8_t*>_ptr(a["xs"]), <uint8_t*>_ptr(a["ys"]), <uint8_t*>_ptr(a["ts"])
        p.mod_all = <int32_t*>_ptr(a["mod_all"])
        p.act_rows, p.act_posts = <int64_t*>_ptr(a["act_rows"]), <int64_t*>_ptr(a["act_posts"])
        p.step_rows, p.step_posts = <int64_t*>_ptr(a["step_rows"]), <int64_t*>_ptr(a["step_posts"])
        p.step_mods = <int64_t*>_ptr(a["step_mods"])
        p.updates = <int64_t*>_ptr(a["updates"])
        p.n_act_rows = int(np.count_nonzero(a["x0"]))
        p.n_act_posts = int(np.count_nonzero(a["y0"]))
        a["act_rows"][:p.n_act_rows] = np.flatnonzero(a["x0"])
        a["act_posts"][:p.n_act_posts] = np.flatnonzero(a["y0"])
        p.n_step_rows = p.n_step_posts = 0
        p.n_step_mods[0] = p.n_step_mods[1] = 0

    def reset_flags(self):
        """Rebuild the lists of rows and posts whose ``x0``/``y0`` is set (after the flags
        were written from Python: a restored snapshot)."""
        for k, proj in enumerate(self.program.projections):
            self._fill(&self.projs[k], proj)

    def window(self, int64_t t_first, int64_t n, rec_time, rec_unit, int64_t rec_lo,
               int64_t rec_hi, inbox_addr, inbox_count, ring, counters):
        """Replay steps ``t_first .. t_first + n - 1`` (see the module docstring): the worker's
        own spikes are ``rec_time/rec_unit[rec_lo:rec_hi]``, the other workers' are the
        messages at the addresses ``inbox_addr`` (int64, one per worker, 0: none) of counts
        ``inbox_count``."""
        cdef const int64_t[::1] times = rec_time
        cdef const int32_t[::1] units = rec_unit
        cdef const int64_t[::1] addr = inbox_addr
        cdef const int64_t[::1] count = inbox_count
        cdef const int64_t[::1] unit_ptr = self.program.unit_entry_ptr
        cdef const int64_t[::1] row_ptr = self.program.row_entry_ptr
        cdef int64_t i, e, m, total = 0, w, k, t, row, mask = (<int64_t>1 << ROW_BITS) - 1
        cdef const int64_t* messages
        with nogil:   # pass 1: how many events
            for i in range(rec_lo, rec_hi):
                total += unit_ptr[units[i] + 1] - unit_ptr[units[i]]
            for w in range(addr.shape[0]):
                if count[w] <= 0 or addr[w] == 0:
                    continue
                messages = <const int64_t*><size_t>addr[w]
                for m in range(count[w]):
                    row = messages[m] & mask
                    total += row_ptr[row + 1] - row_ptr[row]
        if self.ev_step.size < total:
            self.ev_step = np.zeros(max(total, 2 * self.ev_step.size), dtype=np.int64)
            self.ev_entry = np.zeros(self.ev_step.size, dtype=np.int64)
        if self.bucket.size < n + 1:
            self.bucket = np.zeros(n + 1, dtype=np.int64)
        cdef int64_t[::1] ev_step = self.ev_step
        cdef int64_t[::1] ev_entry = self.ev_entry
        cdef int64_t[::1] bucket = self.bucket
        if self.ordered.size < max(total, 1):
            self.ordered = np.zeros(self.ev_step.size, dtype=np.int64)
        cdef int64_t[::1] ordered = self.ordered
        cdef Entry* unit_entries = self.unit_entries
        cdef Entry* row_entries = self.row_entries
        with nogil:
            # pass 2: the events, (step within the window, entry; row entries offset by a flag)
            total = 0
            for i in range(rec_lo, rec_hi):
                for e in range(unit_ptr[units[i]], unit_ptr[units[i] + 1]):
                    ev_step[total] = times[i] - t_first
                    ev_entry[total] = e
                    total += 1
            for w in range(addr.shape[0]):
                if count[w] <= 0 or addr[w] == 0:
                    continue
                messages = <const int64_t*><size_t>addr[w]
                for m in range(count[w]):
                    row = messages[m] & mask
                    t = messages[m] >> ROW_BITS
                    for e in range(row_ptr[row], row_ptr[row + 1]):
                        ev_step[total] = t - t_first
                        ev_entry[total] = -1 - e        # a row entry
                        total += 1
            # a counting sort by step (stable)
            for k in range(n + 1):
                bucket[k] = 0
            for i in range(total):
                bucket[ev_step[i] + 1] += 1
            for k in range(n):
                bucket[k + 1] += bucket[k]
            for i in range(total):
                k = ev_step[i]
                ordered[bucket[k]] = ev_entry[i]
                bucket[k] += 1
        # bucket[k] is now the end of step k's events
        cdef int64_t[::1] c = counters
        cdef int64_t lo = 0, slots = ring.shape[0], stride = ring.shape[1]
        cdef int32_t[:, ::1] ring32
        cdef int64_t[:, ::1] ring64
        cdef bint narrow = ring.dtype == np.int32
        if narrow:
            ring32 = ring
        else:
            ring64 = ring
        recorder = self.recorder
        for k in range(n):
            with nogil:
                if narrow:
                    _replay_step(self.projs, self.n_proj, unit_entries, row_entries, &ordered[0],
                                 lo, bucket[k], t_first + k, &ring32[0, 0], slots, stride, &c[0],
                                 self.updates_slot)
                else:
                    _replay_step(self.projs, self.n_proj, unit_entries, row_entries, &ordered[0],
                                 lo, bucket[k], t_first + k, &ring64[0, 0], slots, stride, &c[0],
                                 self.updates_slot)
            lo = bucket[k]
            if recorder is not None:
                recorder(t_first + k)


cdef void* _ptr(array):
    if array.size == 0:
        return NULL
    if not array.flags.c_contiguous:
        raise ValueError("learning engine arrays must be C-contiguous")
    return <void*><size_t>array.ctypes.data


def _checked(array, dtype):
    if array.dtype != dtype:
        raise TypeError(f"learning engine array is {array.dtype}, expected {dtype}")
    return array
