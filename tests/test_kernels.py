"""The runtime's Cython kernels (``_k_lif``: LIF, ALIF; ``_k_sources``: Poisson, and its hash)
against the NumPy spec (runtimes/fixed_point.py), called through the same kernel records the
worker kernel uses, on edge values and on any int64 state.

Every comparison is exact: state arrays after each of several steps and the spike vectors. The
hash is also checked against a pure-Python integer transcription and against a published
SplitMix64 output.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nmgraph.runtimes import _k_lif, _k_sources
from nmgraph.runtimes import fixed_point as fp
from nmgraph.runtimes._worker_kernel import KERNEL_RUN_DTYPE, apply_kernels
from nmgraph.runtimes.multicore_program import fill_record

LIMIT = 2**23
MASK64 = 2**64 - 1
INT64 = (-(2**63), 2**63 - 1)
INT32 = (-(2**31), 2**31 - 1)

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ---- strategies ---------------------------------------------------------------------------------

def _ints(lo: int, hi: int) -> st.SearchStrategy[int]:
    """Integers in [lo, hi], with the edges (and 0, ±1 if inside) drawn often."""
    edges = sorted({x for x in (lo, lo + 1, hi - 1, hi, -1, 0, 1) if lo <= x <= hi})
    return st.one_of(st.sampled_from(edges), st.integers(lo, hi))


def _array(draw, dtype, lo: int, hi: int, shape) -> np.ndarray:
    return draw(hnp.arrays(dtype, shape, elements=_ints(lo, hi), fill=st.nothing()))


@st.composite
def neuron_cases(draw, adaptive: bool, full_range: bool = False):
    """Arrays for ``steps`` consecutive updates of n neurons.

    In range (the default): u in [-2**23, 2**23], v in ±(2**23 - 1), b in [0, 2**23 - 1], a_in in
    ±2**20 (so the u wrap triggers often), du/dv/db in 0..4095, vth/beta in 0..2**17 - 1,
    bias = bias_mant << bias_exp with bias_mant in -4096..4095 and bias_exp in 0..7.
    ``full_range``: any int64 state, input and bias, any int32 parameter (where int64 wraps).
    """
    n = draw(st.integers(1, 12))
    steps = draw(st.integers(1, 4))
    case = {}
    if full_range:
        for name in ("u", "v", "b"):
            case[name] = _array(draw, np.int64, *INT64, n)
        case["a_in"] = _array(draw, np.int64, *INT64, (steps, n))
        for name in ("du", "dv", "db", "vth", "beta"):
            case[name] = _array(draw, np.int32, *INT32, n)
        case["bias"] = _array(draw, np.int64, *INT64, n)
    else:
        case["u"] = _array(draw, np.int64, -LIMIT, LIMIT, n)
        case["v"] = _array(draw, np.int64, -(LIMIT - 1), LIMIT - 1, n)
        case["b"] = _array(draw, np.int64, 0, LIMIT - 1, n)
        case["a_in"] = _array(draw, np.int64, -(2**20), 2**20, (steps, n))
        for name in ("du", "dv", "db"):
            case[name] = _array(draw, np.int32, 0, 4095, n)
        for name in ("vth", "beta"):
            case[name] = _array(draw, np.int32, 0, 2**17 - 1, n)
        mant = _array(draw, np.int64, -4096, 4095, n)
        exp = _array(draw, np.int64, 0, 7, n)
        case["bias"] = mant << exp
    if not adaptive:
        for name in ("b", "db", "beta"):
            del case[name]
    return case


# ---- calling a kernel on arrays ------------------------------------------------------------------

def kernel_step(entry: tuple[int, int], state: list[np.ndarray], params: list[np.ndarray],
                a_in: np.ndarray | None, t: int = 1, index0: int = 0, n: int | None = None
                ) -> np.ndarray:
    """One step of one run of a kernel (state updated in place); returns the spike bytes."""
    n = (state[0] if state else params[0]).size if n is None else n
    records = np.zeros(1, dtype=KERNEL_RUN_DTYPE)
    kernel_params = tuple(np.ascontiguousarray(p) for p in params)
    fill_record(records[0], entry, 0, n, index0, state, kernel_params)
    spiked = np.zeros(n, dtype=np.uint8)
    apply_kernels(records, None if a_in is None else np.array(a_in, dtype=np.int64), spiked, t)
    return spiked


def lif_update(u, v, a_in, du, dv, vth, bias) -> np.ndarray:
    # reset_kind 0: Lava's reset to 0 (the reset words in vth's high bits are not read)
    return kernel_step(_k_lif.KERNELS["lif"], [u, v],
                       [du.astype(np.int64), dv.astype(np.int64), vth.astype(np.int64), bias,
                        np.zeros(u.size, dtype=np.int64)], a_in)


def alif_update(u, v, b, a_in, du, dv, db, vth, beta, bias) -> np.ndarray:
    return kernel_step(_k_lif.KERNELS["alif"], [u, v, b],
                       [du.astype(np.int64), dv.astype(np.int64), vth.astype(np.int64), bias,
                        np.zeros(u.size, dtype=np.int64), db.astype(np.int64),
                        beta.astype(np.int64)], a_in)


def poisson_fill(seed: int, threshold: np.ndarray, offset: int, t: int) -> np.ndarray:
    n = threshold.size
    return kernel_step(_k_sources.KERNELS["poisson"], [],
                       [np.asarray(threshold, dtype=np.uint64),
                        np.full(n, seed, dtype=np.uint64)], None, t=t, index0=offset, n=n)


# ---- LIF / ALIF against the spec ----------------------------------------------------------------

def _run_lif(case: dict) -> None:
    spec = {k: case[k].copy() for k in ("u", "v")}
    kern = {k: case[k].copy() for k in ("u", "v")}
    for a_in in case["a_in"]:
        want = fp.lif_step(spec["u"], spec["v"], a_in, case["du"], case["dv"], case["vth"],
                           case["bias"])
        spiked = lif_update(kern["u"], kern["v"], a_in, case["du"], case["dv"], case["vth"],
                            case["bias"])
        np.testing.assert_array_equal(kern["u"], spec["u"])
        np.testing.assert_array_equal(kern["v"], spec["v"])
        np.testing.assert_array_equal(spiked, want.astype(np.uint8))


def _run_alif(case: dict) -> None:
    spec = {k: case[k].copy() for k in ("u", "v", "b")}
    kern = {k: case[k].copy() for k in ("u", "v", "b")}
    for a_in in case["a_in"]:
        want = fp.alif_step(spec["u"], spec["v"], spec["b"], a_in, case["du"], case["dv"],
                            case["db"], case["vth"], case["beta"], case["bias"])
        spiked = alif_update(kern["u"], kern["v"], kern["b"], a_in, case["du"], case["dv"],
                             case["db"], case["vth"], case["beta"], case["bias"])
        for k in ("u", "v", "b"):
            np.testing.assert_array_equal(kern[k], spec[k], err_msg=k)
        np.testing.assert_array_equal(spiked, want.astype(np.uint8))


@SETTINGS
@given(neuron_cases(adaptive=False))
def test_lif_matches_spec(case):
    _run_lif(case)


@SETTINGS
@given(neuron_cases(adaptive=True))
def test_alif_matches_spec(case):
    _run_alif(case)


@settings(SETTINGS, max_examples=30)
@given(neuron_cases(adaptive=False, full_range=True))
def test_lif_matches_spec_on_any_int64(case):
    """Outside the 24-bit ranges the kernel still wraps mod 2**64 exactly as NumPy does."""
    _run_lif(case)


@settings(SETTINGS, max_examples=30)
@given(neuron_cases(adaptive=True, full_range=True))
def test_alif_matches_spec_on_any_int64(case):
    _run_alif(case)


def _bulk_case(rng: np.random.Generator, n: int, steps: int) -> dict:
    """Large random arrays in the registers' ranges, a quarter of each set to the range's edges."""
    def arr(lo, hi, shape, dtype):
        x = rng.integers(lo, hi, shape, dtype=dtype, endpoint=True)
        edges = np.array([lo, lo + 1, hi - 1, hi, 0], dtype=dtype)
        mask = rng.random(shape) < 0.25
        x[mask] = rng.choice(edges, int(mask.sum()))
        return x
    return {
        "u": arr(-LIMIT, LIMIT, n, np.int64), "v": arr(-(LIMIT - 1), LIMIT - 1, n, np.int64),
        "b": arr(0, LIMIT - 1, n, np.int64), "a_in": arr(-(2**20), 2**20, (steps, n), np.int64),
        "du": arr(0, 4095, n, np.int32), "dv": arr(0, 4095, n, np.int32),
        "db": arr(0, 4095, n, np.int32), "vth": arr(0, 2**17 - 1, n, np.int32),
        "beta": arr(0, 2**17 - 1, n, np.int32),
        "bias": arr(-4096, 4095, n, np.int64) << arr(0, 7, n, np.int64),
    }


@pytest.mark.parametrize("seed", range(3))
def test_bulk_random_matches_spec(seed):
    """200,000 neurons for 8 steps per seed: many more values than hypothesis can draw."""
    case = _bulk_case(np.random.default_rng(seed), 200_000, 8)
    _run_lif(case)
    _run_alif(case)


def _lif_once(u, v, a_in, du=0, dv=0, vth=0, bias=0):
    arrays = [np.array([x], dtype=np.int64) for x in (u, v, a_in)]
    params = [np.array([x], dtype=np.int32) for x in (du, dv, vth)]
    spiked = lif_update(*arrays, *params, np.array([bias], dtype=np.int64))
    return int(arrays[0][0]), int(arrays[1][0]), int(spiked[0]), int(spiked.sum())


@pytest.mark.parametrize(("u", "a_in", "du", "want_u"), [
    (LIMIT, 0, 0, LIMIT - 2048),                          # decay(2**23, 1) = 2**23 * 4095 / 4096
    (LIMIT - 1, 1, 4095, 64),                             # du = 4095: u decays to 0 in one step
    (0, 2**17 + 1, 0, 2**23 + 64 - 2**24),                # u > 2**23: wraps to negative
    (0, 2**17, 0, LIMIT),                                 # u == 2**23 does not wrap
    (0, -(2**17), 0, LIMIT),                              # u == -2**23 wraps to +2**23
    (0, 2**20, 0, 2**26 - 2**24),                         # wrapped once only
    (-4097, 0, 0, -4095),                                 # -4097 * 4095 / 4096 -> toward 0
    (-1, 0, 0, 0),                                        # truncation toward 0, not -1
])
def test_lif_current_edges(u, a_in, du, want_u):
    got_u, _, _, _ = _lif_once(u, 0, a_in, du=du, dv=4095, vth=2**17 - 1)
    assert got_u == want_u


def test_decay_of_the_int64_min_product():
    """Out of range, but pinned: u = -2**51 with du = -1 (factor 4096) makes the product -2**63;
    NumPy's sgn * (|p| >> 12) gives +2**51 there (C's p / 4096 would give -2**51)."""
    case = {"u": np.array([-(2**51)]), "v": np.zeros(1, dtype=np.int64),
            "a_in": np.zeros((1, 1), dtype=np.int64), "du": np.array([-1], dtype=np.int32),
            "dv": np.zeros(1, dtype=np.int32), "vth": np.zeros(1, dtype=np.int32),
            "bias": np.zeros(1, dtype=np.int64)}
    _run_lif(case)
    assert _lif_once(-(2**51), 0, 0, du=-1)[0] == 2**51 - 2**24


def test_lif_voltage_clip_and_threshold():
    # v clips at 2**23 - 1, then spikes above vth << 6 and resets to 0.
    assert _lif_once(0, LIMIT - 1, 0, dv=0, vth=2**17 - 1, bias=4095 << 7) == (0, 0, 1, 1)
    assert _lif_once(0, -(LIMIT - 1), 0, dv=0, bias=-4096 << 7)[1] == -(LIMIT - 1)
    # v equal to the threshold does not spike; one more does; vth = 0 spikes on any v > 0.
    assert _lif_once(0, 100 << 6, 0, vth=100)[1:] == (100 << 6, 0, 0)
    assert _lif_once(0, (100 << 6) + 1, 0, vth=100)[1:] == (0, 1, 1)
    assert _lif_once(0, 0, 0, vth=0, bias=1)[1:] == (0, 1, 1)


def _alif_once(v, b, vth, beta, db=0):
    u, v, b = (np.array([x], dtype=np.int64) for x in (0, v, b))
    params = [np.array([x], dtype=np.int32) for x in (0, 0, db, vth, beta)]  # du, dv, db, vth, beta
    zero = np.zeros(1, dtype=np.int64)
    spiked = alif_update(u, v, b, zero, *params, zero)
    return int(v[0]), int(b[0]), int(spiked[0]), int(spiked.sum())


def test_alif_threshold_and_growth():
    # Threshold (vth << 6) + b: equal does not spike, one above does; b grows by beta << 6.
    assert _alif_once(640 + 1000, 1000, vth=10, beta=3) == (640 + 1000, 1000, 0, 0)
    assert _alif_once(640 + 1001, 1000, vth=10, beta=3) == (0, 1000 + (3 << 6), 1, 1)
    # Growth is capped at 2**23 - 1.
    assert _alif_once(LIMIT - 1, 1000, vth=0, beta=2**17 - 1) == (0, LIMIT - 1, 1, 1)
    # b decays (toward 0) before the threshold test, as v does.
    assert _alif_once(0, LIMIT - 1, vth=0, beta=0, db=4095)[1] == (LIMIT - 1) >> 12


# ---- argument checks ----------------------------------------------------------------------------

def test_empty_run_and_read_only_parameters():
    empty = [np.zeros(0, dtype=np.int64) for _ in range(6)]
    assert lif_update(*empty, np.zeros(0, dtype=np.int64)).size == 0
    u, v, a_in = (np.zeros(4, dtype=np.int64) for _ in range(3))
    params = [np.zeros(4, dtype=np.int64) for _ in range(5)]
    for p in params:
        p.flags.writeable = False
    assert not kernel_step(_k_lif.KERNELS["lif"], [u, v], params, a_in).any()


def test_record_and_call_errors():
    records = np.zeros(1, dtype=KERNEL_RUN_DTYPE)
    short = [np.zeros(4, dtype=np.int64)] * 3 + [np.zeros(3, dtype=np.int64)]
    with pytest.raises(ValueError, match="parameter 3 must be a contiguous array with a row"):
        fill_record(records[0], _k_lif.KERNELS["lif"], 0, 4, 0,
                    [np.zeros(4, dtype=np.int64)] * 2, tuple(short))
    with pytest.raises(ValueError, match="at most 8"):
        fill_record(records[0], _k_lif.KERNELS["lif"], 0, 4, 0,
                    [np.zeros(4, dtype=np.int64)] * 9, ())
    fill_record(records[0], _k_lif.KERNELS["lif"], 0, 4, 0, [np.zeros(4, dtype=np.int64)] * 2,
                tuple(np.zeros(4, dtype=np.int64) for _ in range(4)))
    with pytest.raises(ValueError, match="outside the arrays"):
        apply_kernels(records, np.zeros(4, dtype=np.int64), np.zeros(2, dtype=np.uint8), 1)
    with pytest.raises(TypeError, match="int32 or int64"):
        apply_kernels(records, np.zeros(4, dtype=np.float64), np.zeros(4, dtype=np.uint8), 1)
    with pytest.raises(ValueError, match="no kernel"):
        apply_kernels(np.zeros(1, dtype=KERNEL_RUN_DTYPE), None, np.zeros(1, dtype=np.uint8), 1)


# ---- hash and Poisson units ---------------------------------------------------------------------

C_SEED, C_INDEX, C_TIME, C_OFFSET = (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB,
                                     0x632BE59BD9B4E019)


def hash_ref(seed: int, index: int, t: int) -> int:
    """The hash with Python integers: SplitMix64 finaliser of s*C1 + i*C2 + t*C3 + C4 mod 2**64."""
    z = (seed * C_SEED + index * C_INDEX + t * C_TIME + C_OFFSET) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


TRIPLES = [
    (0, 0, 0), (0, 0, 1), (0, 1, 1), (1, 0, 0), (1, 2, 3), (42, 7, 1000),
    (2**64 - 1, 0, 0), (2**64 - 1, 2**64 - 1, 2**64 - 1), (0, 2**64 - 1, 1),
    (12345, 999_999, 2**40), (2**63, 2**32, 2**63 + 1), (7, 3, 2**64 - 2),
    (0xDEADBEEF, 123, 10**18), (2**64 - 1, 1, 2**32 - 1),
]


@pytest.mark.parametrize(("seed", "index", "t"), TRIPLES)
def test_hash_matches_python_integers(seed, index, t):
    want = hash_ref(seed, index, t)
    assert int(_k_sources.splitmix_hash(seed, [index], t)[0]) == want
    assert int(_k_sources.splitmix_hash(seed, index, t)) == want          # 0-d for a scalar
    with np.errstate(over="ignore"):
        assert int(fp.splitmix_hash(seed, np.array([index], dtype=np.uint64), t)[0]) == want


def test_hash_is_splitmix64():
    """Seed 1, t 0 and the index that cancels C4 feed the finaliser 0x9E3779B97F4A7C15, whose
    SplitMix64 output (the generator's first value from state 0) is published:
    0xE220A8397B1DCDAF."""
    index = (-C_OFFSET * pow(C_INDEX, -1, 2**64)) % 2**64
    assert hash_ref(1, index, 0) == 0xE220A8397B1DCDAF
    assert int(_k_sources.splitmix_hash(1, index, 0)) == 0xE220A8397B1DCDAF


@SETTINGS
@given(seed=_ints(0, MASK64), t=_ints(0, MASK64),
       index=st.lists(_ints(0, MASK64), min_size=1, max_size=16))
def test_hash_matches_python_integers_random(seed, index, t):
    got = _k_sources.splitmix_hash(seed, np.array(index, dtype=np.uint64), t)
    assert got.dtype == np.uint64
    assert [int(x) for x in got] == [hash_ref(seed, i, t) for i in index]


@SETTINGS
@given(seed=_ints(0, MASK64), t=_ints(0, 2**62), offset=_ints(0, 2**40),   # kernel steps: int64
       threshold=hnp.arrays(np.uint64, st.integers(1, 48), elements=_ints(0, 2**32)))
def test_poisson_fill_matches_spec(seed, t, offset, threshold):
    n = threshold.size
    spiked = poisson_fill(seed, threshold, offset, t)
    index = np.arange(offset, offset + n, dtype=np.uint64)
    want = fp.poisson_spikes(seed, threshold, t, index=index)
    np.testing.assert_array_equal(spiked, want.astype(np.uint8))
    assert list(spiked) == [int(hash_ref(seed, offset + j, t) >> 32 < int(threshold[j]))
                            for j in range(n)]


def test_poisson_rate_edges():
    n = 1000
    assert poisson_fill(3, np.full(n, 2**32, dtype=np.uint64), 0, 5).sum() == n   # shared: konst
    assert poisson_fill(3, np.zeros(n, dtype=np.uint64), 0, 5).sum() == 0
    # A slice of a process (index0) gives the same spikes as the whole process; a per-unit
    # threshold (one unit different) reads the thresholds and agrees too.
    threshold = fp.poisson_threshold(np.full(2 * n, 0.3))
    whole = poisson_fill(9, threshold, 0, 17)
    np.testing.assert_array_equal(poisson_fill(9, threshold[n:], n, 17), whole[n:])
    mixed = threshold.copy()
    mixed[0] = 0
    np.testing.assert_array_equal(poisson_fill(9, mixed, 0, 17)[1:], whole[1:])
    assert 0.25 < whole.mean() < 0.35
