# cython: language_level=3
"""A sense-reversing spin barrier in shared memory, for worker processes started with ``fork``.

The barrier state lives in a C-contiguous ``int64`` array (normally a view of a
``multiprocessing.shared_memory.SharedMemory`` buffer mapped before the fork, so every process
sees the same physical pages). All accesses to the slots are GCC ``__atomic`` builtins with
``__ATOMIC_SEQ_CST`` on naturally aligned 64-bit words (plain ``mov``/``lock xadd`` on x86-64).

Slot layout (int64 indices; 8 slots = one 64-byte cache line)::

    [0]            COUNT    parties arrived in the current phase (the only contended RMW word,
                            alone on its cache line)
    [8]            GEN      generation: number of completed barriers; this is the "sense" (a
                            sense-reversing barrier flips one bit; a counter is the same thing
                            with more information, and never wraps in practice)
    [9]            ABORT    0 = healthy; non-zero = broken/aborted, the value is a reason code
                            (ABORT_PARENT=1, ABORT_TIMEOUT=2, ABORT_INTERRUPT=3, ABORT_OVERFLOW=4,
                            callers may use their own codes >= 16, e.g. 16 + rank of a failed
                            worker)
    [10]           NPARTIES set by the first SpinBarrier constructed on the slots; every later one
                            must agree (a mismatch would deadlock silently)
    [11]           SLEEPERS waiters currently in (or entering) futex_wait on GEN; the last arriver
                            issues FUTEX_WAKE only when it is non-zero
    [12..15]       reserved (0)
    [16 + 8*r]     ARRIVED[r] for rank r in 0..n-1: the generation party r last arrived for
                            (GEN + 1 while it waits); diagnostics only: after a timeout the parent
                            can see which rank never reached barrier number GEN + 1. Each on its own
                            cache line.

    total: ``barrier_nslots(n) = 16 + 8*n`` slots. All-zero is the valid initial state, so a freshly
    created (zero-filled) shared-memory segment needs no initialisation.

Algorithm (per wait, by party ``r``)::

    if ABORT: return 1                       # a broken barrier fails fast
    g = load(GEN)                            # the local sense: see below
    store(ARRIVED[r], g + 1)
    if fetch_add(COUNT, 1) == n - 1:         # last to arrive
        store(COUNT, 0); store(GEN, g + 1)   # reset BEFORE releasing (order matters)
        if SLEEPERS: futex_wake(GEN)
        return 0
    spin until load(GEN) != g  -> 0  |  load(ABORT) != 0 -> 1  |  deadline -> break barrier, 2

Each process keeps its own local sense ``g``, but reads it from GEN on entry instead of carrying it
between calls. This is safe: GEN can only move from ``g`` to ``g + 1`` once all ``n`` parties have
arrived in phase ``g``, and this party has not arrived yet, so the value read is exactly the current
phase. (It also means a process forked at any point between barriers, or a barrier ``reset()``
after an abort, needs no local state fixed up.) COUNT is reset before GEN is published, and a party
can only arrive for phase ``g + 1`` after it observed GEN == ``g + 1``, so no arrival of the next
phase is lost. Memory ordering: everything a party wrote before its ``fetch_add`` (e.g. its
outboxes and message counts) happens-before the last arriver's store to GEN (release sequence of
COUNT), which happens-before every waiter's load that observes the new GEN: data written before
the barrier is visible after it in every process.

Waiting: spin with ``_mm_pause`` (``yield`` on arm64) for up to ``spin_s`` seconds (default 50 us,
or 0 if there are more parties than usable CPUs: spinning would only steal the CPU from the party
being waited for; the budget adapts per process between 2 us and ``spin_s``: halved after a wait
that outlasted it, doubled after one released while spinning), then ``sched_yield`` until
``yield_s`` has elapsed since the wait began (default 200 us), then sleep in the kernel:
``futex(FUTEX_WAIT)`` on the low 32 bits of GEN (shared, not private: the word is in a MAP_SHARED
mapping) until the last arriver wakes it, where there is no futex (not Linux) nanosleeps growing
from 20 us to 1 ms. The GIL is released while waiting; every 50 ms a waiter re-acquires it to run
Python signal handlers (so Ctrl-C / SIGTERM handlers work in workers), and aborts the barrier
(ABORT_INTERRUPT) if a handler raises. ``abort`` sets ABORT and wakes all sleepers (a waiter that
was between its last check and futex_wait when that wake came notices at its next 50 ms check at
the latest).

``ExchangeCore`` (bottom of this file) is the per-window step of ``transport.SharedMemoryTransport``
(store counts, wait, slice inboxes) in C, so that a window costs about one barrier.

Breaking: a timeout leaves COUNT including the timed-out party, so the barrier cannot be used
again; the timed-out party therefore sets ABORT (ABORT_TIMEOUT, unless a code is already set) and
every other party is released with status 1 (``BarrierAborted``). ``reset()`` restores a broken
barrier, but only when no party is inside ``wait``.
"""

import os

import numpy as np

cimport numpy as cnp
from libc.stdint cimport int64_t, uintptr_t
from cpython.exc cimport PyErr_CheckSignals

cnp.import_array()

cdef extern from *:
    """
    #include <stdint.h>
    #include <sched.h>
    #include <time.h>
    #if defined(__x86_64__) || defined(__i386__)
    #include <immintrin.h>
    static inline void nmg_cpu_relax(void) { _mm_pause(); }
    #elif defined(__aarch64__)
    static inline void nmg_cpu_relax(void) { __asm__ __volatile__("yield" ::: "memory"); }
    #else
    static inline void nmg_cpu_relax(void) { __asm__ __volatile__("" ::: "memory"); }
    #endif
    static inline int64_t nmg_load(int64_t *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
    static inline void nmg_store(int64_t *p, int64_t v) {
        __atomic_store_n(p, v, __ATOMIC_SEQ_CST);
    }
    static inline int64_t nmg_fetch_add(int64_t *p, int64_t v) {
        return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
    }
    static inline int nmg_cas(int64_t *p, int64_t expected, int64_t desired) {
        return __atomic_compare_exchange_n(p, &expected, desired, 0,
                                           __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    }
    static inline double nmg_now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    }
    static inline void nmg_sleep_ns(long ns) {
        struct timespec ts;
        ts.tv_sec = ns / 1000000000L;
        ts.tv_nsec = ns % 1000000000L;
        nanosleep(&ts, NULL);
    }
    static inline void nmg_yield(void) { sched_yield(); }
    #if defined(__linux__)
    #include <linux/futex.h>
    #include <sys/syscall.h>
    #include <unistd.h>
    #include <limits.h>
    #define NMG_HAVE_FUTEX 1
    /* the futex word is the low half of the int64 GEN slot */
    static inline uint32_t *nmg_futex_word(int64_t *p) {
    #if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        return ((uint32_t *)p) + 1;
    #else
        return (uint32_t *)p;
    #endif
    }
    /* shared (not FUTEX_PRIVATE): the word is in a MAP_SHARED mapping of several processes */
    static inline void nmg_futex_wait(int64_t *p, int64_t expected, double timeout_s) {
        struct timespec ts;
        if (timeout_s < 0.0) timeout_s = 0.0;
        ts.tv_sec = (time_t)timeout_s;
        ts.tv_nsec = (long)((timeout_s - (double)ts.tv_sec) * 1e9);
        syscall(SYS_futex, nmg_futex_word(p), FUTEX_WAIT, (uint32_t)expected, &ts, NULL, 0);
    }
    static inline void nmg_futex_wake(int64_t *p) {
        syscall(SYS_futex, nmg_futex_word(p), FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
    }
    #else
    #define NMG_HAVE_FUTEX 0
    static inline void nmg_futex_wait(int64_t *p, int64_t expected, double timeout_s) {
        (void)p; (void)expected; (void)timeout_s;
    }
    static inline void nmg_futex_wake(int64_t *p) { (void)p; }
    #endif
    """
    void nmg_cpu_relax() noexcept nogil
    int64_t nmg_load(int64_t *p) noexcept nogil
    void nmg_store(int64_t *p, int64_t v) noexcept nogil
    int64_t nmg_fetch_add(int64_t *p, int64_t v) noexcept nogil
    int nmg_cas(int64_t *p, int64_t expected, int64_t desired) noexcept nogil
    double nmg_now() noexcept nogil
    void nmg_sleep_ns(long ns) noexcept nogil
    void nmg_yield() noexcept nogil
    void nmg_futex_wait(int64_t *p, int64_t expected, double timeout_s) noexcept nogil
    void nmg_futex_wake(int64_t *p) noexcept nogil
    int NMG_HAVE_FUTEX


# ---- layout --------------------------------------------------------------------------------------
COUNT = 0
GEN = 8
ABORT = 9
NPARTIES = 10
SLEEPERS = 11
ARRIVED = 16
LINE = 8            # int64 slots per 64-byte cache line

# ---- wait results and abort codes ----------------------------------------------------------------
RELEASED = 0
ABORTED = 1
TIMED_OUT = 2
ABORT_PARENT = 1
ABORT_TIMEOUT = 2
ABORT_INTERRUPT = 3
ABORT_OVERFLOW = 4

cdef enum:
    C_COUNT = 0
    C_GEN = 8
    C_ABORT = 9
    C_NPARTIES = 10
    C_SLEEPERS = 11
    C_ARRIVED = 16
    C_LINE = 8
    ST_RELEASED = 0
    ST_ABORTED = 1
    ST_TIMEOUT = 2
    ST_CHECK = 3         # internal: time to run Python signal handlers
    C_ABORT_TIMEOUT = 2
    C_ABORT_INTERRUPT = 3

cdef double SIGNAL_CHECK_S = 0.05
cdef double SPIN_MIN_S = 2e-6
cdef long SLEEP_MIN_NS = 20000
cdef long SLEEP_MAX_NS = 1000000


def barrier_nslots(int n_parties):
    """Number of int64 slots the barrier of ``n_parties`` parties occupies."""
    if n_parties < 1:
        raise ValueError("n_parties must be >= 1")
    return C_ARRIVED + C_LINE * n_parties


class BarrierError(Exception):
    """Base class of the barrier failures."""


class BarrierAborted(BarrierError):
    """The barrier was aborted (by the parent, by a party that failed, or broken by a timeout).

    ``code`` is the value of the ABORT slot (see the module docstring)."""

    def __init__(self, code=ABORT_PARENT, message=None):
        self.code = int(code)
        super().__init__(message or f"barrier aborted (code {self.code})")


class BarrierTimeout(BarrierError, TimeoutError):
    """This party's wait timed out; the barrier is now broken (ABORT = ABORT_TIMEOUT)."""


# ---- core (no GIL) -------------------------------------------------------------------------------
cdef inline int _arrive(int64_t *s, int n, int rank, int64_t *gen0) noexcept nogil:
    """Arrive at the barrier. Returns ST_RELEASED if this party completed the barrier, ST_ABORTED
    if the barrier is broken (without arriving), or ST_CHECK: arrived, must wait for GEN != gen0."""
    if nmg_load(&s[C_ABORT]) != 0:
        return ST_ABORTED
    cdef int64_t g = nmg_load(&s[C_GEN])
    gen0[0] = g
    if rank >= 0:
        nmg_store(&s[C_ARRIVED + C_LINE * rank], g + 1)
    if nmg_fetch_add(&s[C_COUNT], 1) == n - 1:
        nmg_store(&s[C_COUNT], 0)
        nmg_store(&s[C_GEN], g + 1)
        if nmg_load(&s[C_SLEEPERS]) != 0:
            nmg_futex_wake(&s[C_GEN])
        return ST_RELEASED
    return ST_CHECK


cdef inline void _break(int64_t *s, int64_t code) noexcept nogil:
    """Set ABORT (first code wins) and wake every sleeping waiter."""
    nmg_cas(&s[C_ABORT], 0, code)
    nmg_futex_wake(&s[C_GEN])


cdef int _await(int64_t *s, int64_t gen0, double start, double deadline, double spin_s,
                double yield_s, double return_at, bint *spun) noexcept nogil:
    """Wait until GEN != gen0 (0), ABORT != 0 (1), ``deadline`` (2, breaks the barrier) or
    ``return_at`` (3). Times are CLOCK_MONOTONIC seconds; ``start`` is when the wait began.
    ``spun[0]`` is cleared once the wait leaves the spin phase."""
    cdef unsigned int i = 0
    cdef double now, elapsed
    cdef long sleep_ns = SLEEP_MIN_NS
    cdef bint spinning = spin_s > 0.0
    while True:
        if nmg_load(&s[C_GEN]) != gen0:
            return ST_RELEASED
        if nmg_load(&s[C_ABORT]) != 0:
            return ST_ABORTED
        i += 1
        if spinning and (i & 63) != 0:
            # spin phase; the clock is read once every 64 polls
            nmg_cpu_relax()
            continue
        now = nmg_now()
        if now >= deadline:
            _break(s, C_ABORT_TIMEOUT)
            return ST_TIMEOUT
        if now >= return_at:
            return ST_CHECK
        elapsed = now - start
        if elapsed < spin_s:
            nmg_cpu_relax()
            continue
        spinning = False
        spun[0] = False
        if elapsed < yield_s:
            nmg_yield()
        elif NMG_HAVE_FUTEX:
            # sleep in the kernel until the last arriver (or an abort) wakes us. SLEEPERS and GEN
            # form a Dekker pair with the releaser's store(GEN); load(SLEEPERS) (all SEQ_CST):
            # either we see the new GEN here, or it sees us and wakes us; a wake that comes
            # before we are inside futex_wait makes it return at once (GEN != gen0).
            nmg_fetch_add(&s[C_SLEEPERS], 1)
            if nmg_load(&s[C_GEN]) == gen0 and nmg_load(&s[C_ABORT]) == 0:
                nmg_futex_wait(&s[C_GEN], gen0,
                               (deadline if deadline < return_at else return_at) - now)
            nmg_fetch_add(&s[C_SLEEPERS], -1)
        else:
            nmg_sleep_ns(sleep_ns)
            if sleep_ns < SLEEP_MAX_NS:
                sleep_ns = sleep_ns * 2
                if sleep_ns > SLEEP_MAX_NS:
                    sleep_ns = SLEEP_MAX_NS


cdef int _wait(int64_t *s, int n, int rank, double timeout_s, double *spin_cur, double spin_max,
               double yield_s) except -1:
    """Full wait with signal checks; returns 0/1/2. Raises whatever a signal handler raises
    (after aborting the barrier with ABORT_INTERRUPT).

    Adaptive spinning: ``spin_cur[0]`` (the caller's per-process state, between SPIN_MIN_S and
    ``spin_max``) is the spin budget of this wait; it doubles after a wait released while
    spinning and halves after one that had to yield or sleep (the partner was not running: e.g.
    both share one CPU, where spinning only delays the hand-over)."""
    cdef int64_t gen0 = 0
    cdef int st
    cdef bint spun = True
    cdef double start, deadline, return_at, spin_s = spin_cur[0]
    st = _arrive(s, n, rank, &gen0)
    if st != ST_CHECK:
        return st
    with nogil:
        start = nmg_now()
        deadline = start + timeout_s if timeout_s >= 0.0 else 1e300
        return_at = start + SIGNAL_CHECK_S
        st = _await(s, gen0, start, deadline, spin_s, yield_s, return_at, &spun)
    while st == ST_CHECK:
        try:
            PyErr_CheckSignals()
        except BaseException:
            _break(s, C_ABORT_INTERRUPT)
            raise
        with nogil:
            return_at = nmg_now() + SIGNAL_CHECK_S
            st = _await(s, gen0, start, deadline, spin_s, yield_s, return_at, &spun)
    if spin_max > 0.0:
        if spun:
            spin_s = spin_s * 2.0
            spin_cur[0] = spin_max if spin_s > spin_max else spin_s
        else:
            spin_s = spin_s * 0.5
            spin_cur[0] = SPIN_MIN_S if spin_s < SPIN_MIN_S else spin_s
    return st


cdef int64_t *_slots_ptr(int64_t[::1] slots, int n_parties) except NULL:
    if n_parties < 1:
        raise ValueError("n_parties must be >= 1")
    if slots.shape[0] < C_ARRIVED + C_LINE * n_parties:
        raise ValueError(f"barrier needs {C_ARRIVED + C_LINE * n_parties} slots, "
                         f"got {slots.shape[0]}")
    cdef int64_t *p = &slots[0]
    if (<uintptr_t>p) % 8 != 0:
        raise ValueError("barrier slots must be 8-byte aligned")
    return p


def barrier_wait(int64_t[::1] slots, int n_parties, int rank=-1, double timeout_s=-1.0,
                 double spin_s=50e-6, double yield_s=200e-6):
    """Low-level wait on the barrier whose slots are ``slots`` (layout in the module docstring).

    ``rank`` (0..n_parties-1, or -1) only feeds the ARRIVED diagnostics. ``timeout_s < 0`` waits
    forever. Returns 0 when all parties arrived, 1 if the barrier was aborted (ABORT != 0, by
    anyone), 2 on timeout (the barrier is then broken). Releases the GIL while waiting."""
    cdef int64_t *s = _slots_ptr(slots, n_parties)
    cdef double spin = spin_s
    if rank >= n_parties:
        raise ValueError("rank must be < n_parties")
    return _wait(s, n_parties, rank, timeout_s, &spin, 0.0, yield_s)


def _usable_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


cdef class SpinBarrier:
    """Barrier of ``n_parties`` processes on the slots ``buffer_array`` (int64, C-contiguous,
    at least ``barrier_nslots(n_parties)`` long, all-zero initially; normally a view of a shared
    memory segment mapped before ``fork``). Construct it before forking, or in each process on the
    same slots; the object holds no shared state of its own.

    ``wait(timeout=None)`` returns the number of completed barriers (the generation) and raises
    ``BarrierAborted`` / ``BarrierTimeout``; ``wait_status(timeout)`` returns 0/1/2 instead.
    ``abort(code)`` may be called by anyone, any time (also from the parent, which is no party).
    """

    cdef int64_t *_s
    cdef object _array
    cdef readonly int n_parties
    cdef public int rank
    cdef public double spin_s
    cdef double spin_cur
    cdef public double yield_s

    def __cinit__(self, buffer_array, int n_parties, int rank=-1, spin_s=None,
                  double yield_s=200e-6):
        cdef int64_t[::1] view = buffer_array
        self._s = _slots_ptr(view, n_parties)
        self._array = buffer_array
        self.n_parties = n_parties
        if rank >= n_parties:
            raise ValueError("rank must be < n_parties")
        self.rank = rank
        if spin_s is None:
            spin_s = 50e-6 if n_parties <= _usable_cpus() else 0.0
        self.spin_s = spin_s
        self.spin_cur = spin_s
        self.yield_s = yield_s
        if not nmg_cas(&self._s[C_NPARTIES], 0, n_parties):
            if nmg_load(&self._s[C_NPARTIES]) != n_parties:
                raise ValueError(f"these slots belong to a barrier of "
                                 f"{nmg_load(&self._s[C_NPARTIES])} parties, not {n_parties}")

    def for_rank(self, int rank):
        """A copy of this barrier object (same slots) that records arrivals under ``rank``."""
        return SpinBarrier(self._array, self.n_parties, rank, self.spin_s, self.yield_s)

    cpdef int wait_status(self, double timeout=-1.0) except -1:
        """0 = released, 1 = aborted, 2 = timed out (``timeout < 0``: no timeout)."""
        return self._do_wait(timeout)

    cdef int _do_wait(self, double timeout) except -1:
        if self.spin_cur > self.spin_s:
            self.spin_cur = self.spin_s
        return _wait(self._s, self.n_parties, self.rank, timeout, &self.spin_cur, self.spin_s,
                     self.yield_s)

    def wait(self, timeout=None):
        """Wait for all parties. Returns the generation (number of completed barriers)."""
        cdef int st = self._do_wait(-1.0 if timeout is None else float(timeout))
        if st == ST_RELEASED:
            return nmg_load(&self._s[C_GEN])
        if st == ST_ABORTED:
            raise BarrierAborted(nmg_load(&self._s[C_ABORT]))
        raise BarrierTimeout(
            f"barrier timed out after {timeout} s waiting for ranks "
            f"{self.missing()} at barrier #{nmg_load(&self._s[C_GEN]) + 1}")

    def abort(self, int64_t code=ABORT_PARENT):
        """Break the barrier: every current and future waiter gets ``BarrierAborted(code)``.
        The first code set wins. Safe from any process, including non-parties."""
        if code == 0:
            raise ValueError("abort code must be non-zero")
        _break(self._s, code)

    @property
    def aborted(self):
        """The abort code (0 if the barrier is healthy)."""
        return nmg_load(&self._s[C_ABORT])

    @property
    def generation(self):
        """Number of completed barriers."""
        return nmg_load(&self._s[C_GEN])

    @property
    def n_waiting(self):
        """Parties arrived in the current phase."""
        return nmg_load(&self._s[C_COUNT])

    def arrivals(self):
        """Per rank, the generation it last arrived for (GEN + 1 while it is inside ``wait``)."""
        return [nmg_load(&self._s[C_ARRIVED + C_LINE * r]) for r in range(self.n_parties)]

    def missing(self):
        """Ranks that have not arrived for the next barrier (meaningful while others wait)."""
        cdef int64_t nxt = nmg_load(&self._s[C_GEN]) + 1
        return [r for r, a in enumerate(self.arrivals()) if a < nxt]

    def reset(self):
        """Repair a broken barrier: COUNT = SLEEPERS = ABORT = 0. Only when no party is inside
        ``wait`` (e.g. after all workers were reaped). GEN is kept; parties need no local fix-up."""
        nmg_store(&self._s[C_COUNT], 0)
        nmg_store(&self._s[C_SLEEPERS], 0)
        nmg_store(&self._s[C_ABORT], 0)

    def __reduce__(self):
        raise TypeError("SpinBarrier lives in fork-inherited shared memory; it is not picklable")


# ---- the exchange step of SharedMemoryTransport (here to keep its per-window cost ~1 us) -------
cdef class ExchangeCore:
    """Per-rank exchange of ``SharedMemoryTransport``: write this rank's counts for the window,
    wait on the barrier, return the inbox views of the same parity. ``counts`` is the block of
    int64 count slots ``[2, n, row]`` (parity, src, dst) in shared memory; ``inboxes[p][s]`` the
    full-capacity (read-only) mailbox arrays from source ``s`` of parity ``p``."""

    cdef SpinBarrier barrier
    cdef int64_t *cnt
    cdef object _cnt_array
    cdef int n, rank, row
    cdef int64_t[::1] cap_out
    cdef list inboxes
    cdef object empty
    cdef readonly int64_t window

    def __cinit__(self, SpinBarrier barrier, counts, int rank, cap_out, list inboxes):
        cdef int64_t[:, :, ::1] c = counts
        self.barrier = barrier
        self._cnt_array = counts
        self.cnt = &c[0, 0, 0]
        self.n = c.shape[1]
        self.row = c.shape[2]
        if c.shape[0] != 2 or not 0 <= rank < self.n or self.row < self.n:
            raise ValueError("bad count block or rank")
        if (<uintptr_t>self.cnt) % 8 != 0:
            raise ValueError("count slots must be 8-byte aligned")
        self.rank = rank
        self.cap_out = cap_out
        if self.cap_out.shape[0] != self.n or len(inboxes) != 2:
            raise ValueError("bad capacity row or inboxes")
        self.inboxes = inboxes
        self.empty = inboxes[0][rank]
        self.window = 0

    def exchange(self, cnp.ndarray counts not None, double timeout=-1.0):
        """``counts``: 1-d C-contiguous int64 ndarray of ``n`` entries (TypeError otherwise)."""
        cdef int n = self.n, p = self._exchange(counts, timeout), s
        cdef int64_t k
        cdef list inb = self.inboxes[p]
        cdef list result = []
        for s in range(n):
            k = nmg_load(&self.cnt[(p * n + s) * self.row + self.rank])
            result.append(inb[s][:k] if k > 0 else self.empty)
        return result

    def exchange_counts(self, cnp.ndarray counts not None, double timeout,
                        int64_t[::1] inbox_counts not None):
        """As :meth:`exchange`, for a caller that reads the inboxes by address
        (:meth:`inbox_addresses`): writes how many messages each source sent into
        ``inbox_counts`` and returns the parity of the window that ended (0 or 1)."""
        cdef int n = self.n, p, s
        if inbox_counts.shape[0] != n:
            raise ValueError(f"inbox_counts must have {n} entries")
        p = self._exchange(counts, timeout)
        for s in range(n):
            inbox_counts[s] = nmg_load(&self.cnt[(p * n + s) * self.row + self.rank])
        return p

    def inbox_addresses(self):
        """int64 ``(2, n)``: address of the inbox from each source, by parity (0 where a mailbox
        has no capacity). Valid while the transport's segment is mapped."""
        inboxes = np.zeros((2, self.n), dtype=np.int64)
        for p in range(2):
            for s in range(self.n):
                box = self.inboxes[p][s]
                inboxes[p, s] = box.ctypes.data if box.size else 0
        return inboxes

    cdef int _exchange(self, cnp.ndarray counts, double timeout) except -1:
        """Publish this rank's counts, wait on the barrier; returns the parity that ended."""
        cdef int n = self.n, p = self.window & 1, d, st
        cdef int64_t k
        cdef int64_t *out = self.cnt + (p * n + self.rank) * self.row
        if (cnp.PyArray_TYPE(counts) != cnp.NPY_INT64 or cnp.PyArray_NDIM(counts) != 1
                or not cnp.PyArray_IS_C_CONTIGUOUS(counts)):
            raise TypeError("counts must be a 1-d C-contiguous int64 array")
        if cnp.PyArray_DIM(counts, 0) != n:
            _break(self.barrier._s, ABORT_OVERFLOW)
            raise ValueError(f"counts must have {n} entries, got {cnp.PyArray_DIM(counts, 0)}")
        cdef int64_t *cin = <int64_t *>cnp.PyArray_DATA(counts)
        for d in range(n):
            k = cin[d]
            if k < 0 or k > self.cap_out[d] or (d == self.rank and k != 0):
                _break(self.barrier._s, ABORT_OVERFLOW)
                raise OverflowError(
                    f"rank {self.rank}: {k} messages for rank {d}, capacity {self.cap_out[d]}")
        for d in range(n):
            nmg_store(&out[d], cin[d])
        st = self.barrier._do_wait(timeout)
        if st == ST_ABORTED:
            raise BarrierAborted(nmg_load(&self.barrier._s[C_ABORT]))
        if st == ST_TIMEOUT:
            raise BarrierTimeout(
                f"rank {self.rank}: exchange of window {self.window} timed out after {timeout} s "
                f"waiting for ranks {self.barrier.missing()}")
        self.window += 1
        return p
