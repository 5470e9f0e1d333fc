"""Golden traces: the reference runtime against values computed by hand from the fixed-point equations.

Nothing here calls nmgraph's own fixed-point code to get an expected value. The expected traces
come from the equations written out below with plain Python integers (one neuron at a time,
arbitrary precision, so no overflow can hide), and the key edge cases are also checked against
literal numbers worked out in the comments.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import nmgraph as nm
from nmgraph.processes import ALIF, IF, LIF, Dense, PoissonSource, Sparse, SpikeGenerator

TWO_23 = 2**23
V_MAX = 2**23 - 1
MASK64 = 2**64 - 1


# == the equations in plain Python ================================================================

def decay(x: int, d: int) -> int:
    """sgn(x * (4096 - d)) * (|x * (4096 - d)| >> 12): truncation toward zero."""
    p = x * (4096 - d)
    return -((-p) >> 12) if p < 0 else p >> 12


def wrap_u(u: int) -> int:
    """Loihi's wrap of the current: if u > 2^23: u -= 2^24; elif u <= -2^23: u += 2^24."""
    if u > TWO_23:
        return u - 2**24
    if u <= -TWO_23:
        return u + 2**24
    return u


def clip_v(v: int) -> int:
    return max(-V_MAX, min(V_MAX, v))


def _per_unit(value, n: int) -> list[int]:
    if isinstance(value, (list, tuple, np.ndarray)):
        assert len(value) == n
        return [int(x) for x in value]
    return [int(value)] * n


def drive(steps: int, n_post: int, *blocks) -> list[list[int]]:
    """a_in[t][i] for t = 0..steps (index 0 unused) from synapse blocks fed by spike rasters.

    Each block is ``(emitted, weights, weight_exp, delays)``: ``emitted[t]`` is the set of pre
    units that spike at step t (1-based), ``weights[i][j]`` (post, pre) ints, ``delays`` one int
    or ``[i][j]``. A spike sent at t through delay d arrives at t + d and counts w << weight_exp.
    """
    a_in = [[0] * n_post for _ in range(steps + 1)]
    for emitted, weights, weight_exp, delays in blocks:
        for t_sent, units in emitted.items():
            for j in units:
                for i in range(n_post):
                    w = int(weights[i][j])
                    if w == 0:
                        continue
                    d = delays if isinstance(delays, int) else int(delays[i][j])
                    if t_sent + d <= steps:
                        a_in[t_sent + d][i] += w * 2**weight_exp
    return a_in


def raster_events(raster, steps: int, repeat: bool = False) -> dict[int, set[int]]:
    """Which units a SpikeGenerator emits at each step: row k at step k + 1 (the SpikeGenerator contract)."""
    rows = len(raster)
    emitted = {}
    for t in range(1, steps + 1):
        k = t - 1
        if k >= rows:
            if not repeat:
                break
            k %= rows
        emitted[t] = {j for j, bit in enumerate(raster[k]) if bit}
    return emitted


def neuron_trace(a_in, steps: int, n: int, *, du=0, dv=0, vth=10, bias_mant=0, bias_exp=0,
                 u0=0, v0=0, db=None, beta=0, b0=0):
    """LIF (or ALIF when ``db`` is given) per the fixed-point equations, one neuron at a time.

    Returns ``{"u": [[...] per step], "v": ..., "b": ..., "spikes": [(t, i), ...]}`` where row
    ``t - 1`` holds the state after step t (after the reset of a spiking neuron).
    """
    du, dv, vth = _per_unit(du, n), _per_unit(dv, n), _per_unit(vth, n)
    bm, be = _per_unit(bias_mant, n), _per_unit(bias_exp, n)
    u, v = _per_unit(u0, n), _per_unit(v0, n)
    adaptive = db is not None
    if adaptive:
        db_, beta_, b = _per_unit(db, n), _per_unit(beta, n), _per_unit(b0, n)
    out = {"u": [], "v": [], "b": [], "spikes": []}
    for t in range(1, steps + 1):
        for i in range(n):
            u[i] = wrap_u(decay(u[i], du[i] + 1) + a_in[t][i] * 64)
            v[i] = clip_v(decay(v[i], dv[i]) + u[i] + bm[i] * 2 ** be[i])
            threshold = vth[i] * 64
            if adaptive:
                b[i] = decay(b[i], db_[i])
                threshold += b[i]
            if v[i] > threshold:
                out["spikes"].append((t, i))
                v[i] = 0
                if adaptive:
                    b[i] = min(b[i] + beta_[i] * 64, V_MAX)
        out["u"].append(list(u))
        out["v"].append(list(v))
        if adaptive:
            out["b"].append(list(b))
    return out


def splitmix(seed: int, i: int, t: int) -> int:
    """SplitMix64 finaliser of seed*C1 + i*C2 + t*C3 + C4 (mod 2^64)."""
    z = (seed * 0x9E3779B97F4A7C15 + i * 0xBF58476D1CE4E5B9 + t * 0x94D049BB133111EB
         + 0x632BE59BD9B4E019) & MASK64
    return _mix(z)


def _mix(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def poisson_fires(seed: int, i: int, t: int, rate: float) -> bool:
    return (splitmix(seed, i, t) >> 32) < math.floor(rate * 2**32)


# == helpers running nmgraph =====================================================================

def run_chain(neuron, steps: int, blocks=(), *, record=("u", "v"), splits=None):
    """Build gen_k -> syn_k -> neuron for each block and run it; return traces and spikes.

    ``blocks``: ``(raster, synapse process)`` pairs. Returns ``(traces, spikes, counters)`` with
    traces as int lists ``[step][unit]`` for every recorded Var.
    """
    net = nm.Network("golden")
    net.add(neuron)
    for k, (raster, syn) in enumerate(blocks):
        gen = net.add(SpikeGenerator(np.asarray(raster, dtype=bool), name=f"gen{k}"))
        net.add(syn)
        net.connect(gen.s_out, syn.s_in)
        net.connect(syn.a_out, neuron.a_in)
    with nm.Runtime(net, backend="reference") as rt:
        for var in record:
            rt.record(neuron, var)
        for chunk in splits or [steps]:
            rt.run(chunk)
        traces = {var: np.asarray(rt.recorded(neuron, var)) for var in record}
        spikes = rt.spikes(neuron)
        counters = rt.counters
    for var, array in traces.items():
        assert array.shape == (steps, neuron.size), (var, array.shape)
    return ({var: array.astype(np.int64).tolist() for var, array in traces.items()},
            spikes, counters)


def spike_pairs(events) -> list[tuple[int, int]]:
    assert np.all(np.diff(events.times) >= 0), "SpikeEvents must be sorted by time"
    return list(zip(events.times.tolist(), events.indices.tolist()))


def assert_traces(got: dict, expected: dict, spikes, names=("u", "v")) -> None:
    for name in names:
        for t, (row_got, row_exp) in enumerate(zip(got[name], expected[name]), start=1):
            assert row_got == row_exp, f"{name} at step {t}: got {row_got}, expected {row_exp}"
    assert spike_pairs(spikes) == expected["spikes"]


# == the hand-computed helpers themselves ==========================================================

def test_decay_truncates_toward_zero():
    assert decay(-5, 1) == -4          # -5 * 4095 / 4096 = -4.9988: toward zero, not -5
    assert decay(5, 1) == 4
    assert decay(-64, 1) == -63        # -63.98
    assert decay(-63, 1) == -62        # -62.98
    assert decay(640, 1024) == 480     # 640 * 3072 / 4096 exactly
    assert decay(270, 1024) == 202     # 202.5
    assert decay(-270, 1024) == -202   # -202.5 toward zero
    assert decay(12345, 4096) == 0     # du = 4095 on u: decay by du + 1 = 4096
    assert wrap_u(TWO_23) == TWO_23 and wrap_u(TWO_23 + 1) == -TWO_23 + 1
    assert wrap_u(-TWO_23) == TWO_23 and wrap_u(-TWO_23 + 1) == -TWO_23 + 1


def test_splitmix_finaliser_matches_the_published_splitmix64_sequence():
    # SplitMix64 with state 0: outputs are mix(k * 0x9E3779B97F4A7C15) for k = 1, 2, 3.
    golden = golden_ratio = 0x9E3779B97F4A7C15
    assert _mix(golden) == 0xE220A8397B1DCDAF
    golden = (golden + golden_ratio) & MASK64
    assert _mix(golden) == 0x6E789E6AA1B965F4
    golden = (golden + golden_ratio) & MASK64
    assert _mix(golden) == 0x06C45D188009454F


# == LIF ===========================================================================================

def test_lif_decay_trace_literal():
    """One spike at step 1 through weight 10 (delay 1) reaches the neuron at step 2."""
    steps = 8
    raster = [[True]] + [[False]] * 7
    lif = LIF(1, du=1023, dv=2048, vth=100, name="lif")
    got, spikes, _ = run_chain(lif, steps, [(raster, Dense(np.array([[10]]), name="syn"))])
    # u: 0, 640, 640*3072>>12 = 480, 360, 270, 202 (202.5), 151 (151.5), 113 (113.25)
    assert [row[0] for row in got["u"]] == [0, 640, 480, 360, 270, 202, 151, 113]
    # v = v * 2048 / 4096 + u: 0, 640, 320+480, 400+360, 380+270, 325+202, 263+151, 207+113
    assert [row[0] for row in got["v"]] == [0, 640, 800, 760, 650, 527, 414, 320]
    assert len(spikes) == 0


def test_lif_negative_decay_truncates_toward_zero():
    """u = -64 decays to -63, -62, ... (floor would keep it at -64); initial u = -5 -> -4."""
    steps = 5
    raster = [[True]] + [[False]] * 4
    lif = LIF(2, du=0, dv=4095, vth=10, u=[0, -5], name="lif")
    syn = Dense(np.array([[-1], [0]]), name="syn")
    got, spikes, _ = run_chain(lif, steps, [(raster, syn)])
    assert [row[0] for row in got["u"]] == [0, -64, -63, -62, -61]
    assert [row[1] for row in got["u"]] == [-4, -3, -2, -1, 0]
    # v with dv = 4095 keeps v * 1 / 4096 (toward zero: 0 here) plus u
    assert [row[0] for row in got["v"]] == [0, -64, -63, -62, -61]
    assert len(spikes) == 0


def test_lif_u_wraps_at_plus_2_23():
    """5 units x 255 << 7 = 163200 = a_in; a_in << 6 = 10444800 > 2^23 -> 10444800 - 2^24."""
    steps = 4
    raster = [[True] * 5, [False] * 5, [True] * 5, [False] * 5]
    lif = LIF(1, du=4095, dv=4095, vth=2**17 - 1, name="lif")
    syn = Dense(np.full((1, 5), 255), weight_exp=7, name="syn")
    got, spikes, _ = run_chain(lif, steps, [(raster, syn)])
    assert [row[0] for row in got["u"]] == [0, 10444800 - 2**24, 0, -6332416]
    expected = neuron_trace(drive(steps, 1, (raster_events(raster, steps), syn.weights.value,
                                             7, 1)), steps, 1, du=4095, dv=4095, vth=2**17 - 1)
    assert_traces(got, expected, spikes)


def test_lif_u_wraps_at_minus_2_23():
    steps = 3
    raster = [[True] * 5, [False] * 5, [False] * 5]
    lif = LIF(1, du=4095, dv=4095, vth=2**17 - 1, name="lif")
    syn = Dense(np.full((1, 5), -255), weight_exp=7, name="syn")
    got, spikes, _ = run_chain(lif, steps, [(raster, syn)])
    # -10444800 <= -2^23 -> + 2^24 = 6332416 (and v follows u, so it spikes? 6332416 < vth)
    assert [row[0] for row in got["u"]] == [0, 6332416, 0]
    assert [row[0] for row in got["v"]] == [0, 6332416, 6332416 // 4096]
    assert len(spikes) == 0


@pytest.mark.parametrize(("sign", "u_expected"), [(1, TWO_23), (-1, TWO_23)])
def test_lif_u_exactly_at_the_wrap_boundary(sign, u_expected):
    """Weights 4 x 255 + 4 = 1024, << 7 = 2^17, << 6 = 2^23: +2^23 stays, -2^23 becomes +2^23."""
    steps = 2
    raster = [[True] * 5, [False] * 5]
    weights = sign * np.array([[255, 255, 255, 255, 4]])
    lif = LIF(1, du=4095, dv=4095, vth=2**17 - 1, name="lif")
    syn = Dense(weights, weight_exp=7, name="syn")
    got, spikes, _ = run_chain(lif, steps, [(raster, syn)])
    assert got["u"][1][0] == u_expected
    # v = 0 + 2^23 clipped to 2^23 - 1 > (2^17 - 1) << 6 = 8388544: spikes and resets
    assert got["v"][1][0] == 0
    assert spike_pairs(spikes) == [(2, 0)]


def test_lif_u_wraps_after_accumulating():
    """du = 0 keeps u; 3 x 255 << 7 each step: 6266880, then 6265350 + 6266880 wraps."""
    steps = 6
    raster = [[True] * 3] * 5 + [[False] * 3]
    lif = LIF(1, du=0, dv=0, vth=2**17 - 1, name="lif")
    syn = Dense(np.full((1, 3), 255), weight_exp=7, name="syn")
    got, spikes, _ = run_chain(lif, steps, [(raster, syn)])
    assert got["u"][1][0] == 6266880
    assert got["u"][2][0] == 6265350 + 6266880 - 2**24
    expected = neuron_trace(drive(steps, 1, (raster_events(raster, steps), syn.weights.value,
                                             7, 1)), steps, 1, du=0, dv=0, vth=2**17 - 1)
    assert_traces(got, expected, spikes)


def test_lif_v_clips_at_minus_2_23():
    """-4 x 255 << 7 << 6 = -8355840 per step, no leak: v reaches -(2^23 - 1) and stays."""
    steps = 6
    raster = [[True] * 4] * 6
    lif = LIF(1, du=4095, dv=0, vth=10, name="lif")
    syn = Dense(np.full((1, 4), -255), weight_exp=7, name="syn")
    got, spikes, _ = run_chain(lif, steps, [(raster, syn)])
    assert [row[0] for row in got["u"]] == [0] + [-8355840] * 5
    assert [row[0] for row in got["v"]] == [0, -8355840] + [-V_MAX] * 4
    assert len(spikes) == 0


def test_lif_v_clips_at_plus_2_23_then_spikes_and_resets():
    """A v clipped at 2^23 - 1 is above any threshold (at most 8388544) and resets to 0."""
    steps = 5
    raster = [[True] * 4] * 5
    lif = LIF(1, du=0, dv=0, vth=2**17 - 1, name="lif")
    syn = Dense(np.full((1, 4), 255), weight_exp=7, name="syn")
    got, spikes, _ = run_chain(lif, steps, [(raster, syn)])
    expected = neuron_trace(drive(steps, 1, (raster_events(raster, steps), syn.weights.value,
                                             7, 1)), steps, 1, du=0, dv=0, vth=2**17 - 1)
    assert_traces(got, expected, spikes)
    assert expected["spikes"], "the drive must reach the clip"


# bias_mant x bias_exp grid, one neuron per combination, no input at all
_BIAS_MANT = [-4096, -4095, -1, 0, 1, 7, 1000, 4095]
_BIAS_EXP = list(range(8))
_GRID = [(m, e) for m in _BIAS_MANT for e in _BIAS_EXP]


@pytest.mark.parametrize("dv", [0, 100, 4095])
def test_lif_bias_with_bias_exp(dv):
    steps = 40
    n = len(_GRID)
    mant = [m for m, _ in _GRID]
    exp = [e for _, e in _GRID]
    vth = [(1 + 397 * k) % 9000 for k in range(n)]   # thresholds up to 576000 = 9000 << 6
    lif = LIF(n, du=0, dv=dv, vth=vth, bias_mant=mant, bias_exp=exp, name="lif")
    got, spikes, _ = run_chain(lif, steps)
    expected = neuron_trace([[0] * n] * (steps + 1), steps, n, du=0, dv=dv, vth=vth,
                            bias_mant=mant, bias_exp=exp)
    assert_traces(got, expected, spikes)
    assert expected["spikes"], "some neurons must reach their threshold"
    if dv == 0:
        assert any(-V_MAX in row for row in expected["v"]), "the negative clip must be reached"


def test_lif_bias_literal_no_leak():
    """bias -4096 << 7 = -524288 per step, dv = 0: v = -524288 t, clipped at -(2^23 - 1)."""
    steps = 18
    lif = LIF(1, du=0, dv=0, vth=0, bias_mant=-4096, bias_exp=7, name="lif")
    got, spikes, _ = run_chain(lif, steps)
    assert [row[0] for row in got["v"]] == [max(-524288 * t, -V_MAX) for t in range(1, 19)]
    assert got["v"][15][0] == -V_MAX              # 16 * 524288 = 2^23 -> clipped
    assert len(spikes) == 0


def test_lif_spike_and_reset_literal():
    """bias 100 << 0 per step, vth = 3 -> threshold 192: v = 100, 200 > 192 -> spike, reset."""
    steps = 7
    lif = LIF(1, du=0, dv=0, vth=3, bias_mant=100, name="lif")
    got, spikes, _ = run_chain(lif, steps)
    assert [row[0] for row in got["v"]] == [100, 0, 100, 0, 100, 0, 100]
    assert spike_pairs(spikes) == [(2, 0), (4, 0), (6, 0)]
    # a threshold exactly reached does not fire: v must be > vth << 6
    lif = LIF(1, du=0, dv=0, vth=3, bias_mant=96, name="lif")
    got, spikes, _ = run_chain(lif, steps)
    assert [row[0] for row in got["v"]] == [96, 192, 0, 96, 192, 0, 96]
    assert spike_pairs(spikes) == [(3, 0), (6, 0)]


@pytest.mark.parametrize(("du", "dv"), [(4095, 0), (0, 4095), (4095, 4095), (0, 0), (1234, 3210)])
def test_lif_decay_edges_random_drive(du, dv):
    """Mixed-sign drive from 6 units into 4 neurons for 60 steps, against the hand model."""
    rng = np.random.default_rng(du * 7 + dv)
    steps, n_pre, n = 60, 6, 4
    raster = rng.random((steps, n_pre)) < 0.4
    w_pos = rng.integers(0, 256, size=(n, n_pre)) * (rng.random((n, n_pre)) < 0.7)
    w_neg = -rng.integers(0, 256, size=(n, n_pre)) * (rng.random((n, n_pre)) < 0.5)
    vth = [50, 500, 5000, 50000]
    lif = LIF(n, du=du, dv=dv, vth=vth, bias_mant=[0, 3, -3, 17], bias_exp=[0, 1, 2, 7],
              name="lif")
    exc = Dense(w_pos, weight_exp=3, name="exc")
    inh = Dense(w_neg, weight_exp=2, delay=2, name="inh")
    got, spikes, _ = run_chain(lif, steps, [(raster, exc), (raster, inh)])
    events = raster_events(raster.tolist(), steps)
    a_in = drive(steps, n, (events, w_pos.tolist(), 3, 1), (events, w_neg.tolist(), 2, 2))
    expected = neuron_trace(a_in, steps, n, du=du, dv=dv, vth=vth, bias_mant=[0, 3, -3, 17],
                            bias_exp=[0, 1, 2, 7])
    assert_traces(got, expected, spikes)


def test_lif_initial_state_is_used():
    steps = 3
    lif = LIF(2, du=2000, dv=1000, vth=10**5, u=[TWO_23, -TWO_23], v=[V_MAX, -V_MAX],
              name="lif")
    got, spikes, _ = run_chain(lif, steps)
    expected = neuron_trace([[0, 0]] * (steps + 1), steps, 2, du=2000, dv=1000, vth=10**5,
                            u0=[TWO_23, -TWO_23], v0=[V_MAX, -V_MAX])
    assert_traces(got, expected, spikes)


# == ALIF ==========================================================================================

def test_alif_b_decays_with_db_literal():
    steps = 4
    alif = ALIF(1, du=0, dv=0, vth=10, db=1024, beta=0, b=4096, name="alif")
    got, spikes, _ = run_chain(alif, steps, record=("u", "v", "b"))
    assert [row[0] for row in got["b"]] == [3072, 2304, 1728, 1296]
    assert len(spikes) == 0


def test_alif_threshold_grows_after_a_spike_literal():
    """vth 1 (64), beta 2 (+128), db 0, bias 50: v 50, 100 > 64 spikes, b = 128; then v climbs
    50, 100, 150, 200 > 64 + 128 spikes again, b = 256."""
    steps = 8
    alif = ALIF(1, du=0, dv=0, vth=1, bias_mant=50, db=0, beta=2, name="alif")
    got, spikes, _ = run_chain(alif, steps, record=("u", "v", "b"))
    assert [row[0] for row in got["v"]] == [50, 0, 50, 100, 150, 0, 50, 100]
    assert [row[0] for row in got["b"]] == [0, 128, 128, 128, 128, 256, 256, 256]
    assert spike_pairs(spikes) == [(2, 0), (6, 0)]


def test_alif_b_decays_before_the_comparison():
    """b decays first: with b = 4096 and db = 2048 the threshold at step 1 is 64 + 2048."""
    steps = 2
    alif = ALIF(1, du=0, dv=0, vth=1, bias_mant=2113, db=2048, beta=0, b=4096, name="alif")
    got, spikes, _ = run_chain(alif, steps, record=("v", "b"))
    # step 1: b = 2048, threshold 2112, v = 2113 > 2112 -> spike (undecayed b would not fire)
    assert spike_pairs(spikes)[:1] == [(1, 0)]
    assert got["b"][0][0] == 2048


def test_alif_b_is_capped_at_2_23_minus_1():
    steps = 6
    beta = 2**17 - 1                                   # beta << 6 = 8388544
    alif = ALIF(1, du=0, dv=0, vth=0, bias_mant=4095, bias_exp=7, db=0, beta=beta,
                name="alif")
    got, spikes, _ = run_chain(alif, steps, record=("v", "b"))
    # step 1: v = 524160 > 0 -> spike, b = 8388544; step 2..: v = 524160 t' < 8388544 for a while
    assert got["b"][0][0] == 8388544
    expected = neuron_trace([[0]] * (steps + 1), steps, 1, du=0, dv=0, vth=0, bias_mant=4095,
                            bias_exp=7, db=0, beta=beta)
    assert_traces(got, expected, spikes, names=("v", "b"))
    # start with a large b: one spike pushes it to the cap
    alif = ALIF(1, du=0, dv=0, vth=0, bias_mant=4095, bias_exp=7, db=0, beta=beta, b=100,
                name="alif")
    got, spikes, _ = run_chain(alif, 1, record=("v", "b"))
    assert spike_pairs(spikes) == [(1, 0)]
    assert got["b"][0][0] == V_MAX                       # min(100 + 8388544, 2^23 - 1)


def test_alif_positive_v_clip_is_visible_under_a_high_threshold():
    """b = 2^23 - 1 and db = 0 keep the threshold above any v: v clips at 2^23 - 1 and stays."""
    steps = 20
    alif = ALIF(1, du=0, dv=0, vth=0, bias_mant=4095, bias_exp=7, db=0, beta=0, b=V_MAX,
                name="alif")
    got, spikes, _ = run_chain(alif, steps, record=("v", "b"))
    assert [row[0] for row in got["v"]] == [min(524160 * t, V_MAX) for t in range(1, 21)]
    assert got["v"][-1][0] == V_MAX
    assert len(spikes) == 0


@pytest.mark.parametrize("db", [0, 1, 300, 4095])
def test_alif_random_drive(db):
    rng = np.random.default_rng(db + 1)
    steps, n_pre, n = 80, 5, 4
    raster = rng.random((steps, n_pre)) < 0.5
    weights = rng.integers(0, 256, size=(n, n_pre))
    vth = [10, 100, 1000, 20]
    beta = [0, 5, 200, 2**17 - 1]
    alif = ALIF(n, du=500, dv=300, vth=vth, bias_mant=[0, 1, 2, 3], bias_exp=3, db=db,
                beta=beta, b=[0, 1000, 0, 77], name="alif")
    syn = Dense(weights, weight_exp=4, name="syn")
    got, spikes, _ = run_chain(alif, steps, [(raster, syn)], record=("u", "v", "b"))
    a_in = drive(steps, n, (raster_events(raster.tolist(), steps), weights.tolist(), 4, 1))
    expected = neuron_trace(a_in, steps, n, du=500, dv=300, vth=vth, bias_mant=[0, 1, 2, 3],
                            bias_exp=3, db=db, beta=beta, b0=[0, 1000, 0, 77])
    assert expected["spikes"]
    assert_traces(got, expected, spikes, names=("u", "v", "b"))


# == IF ============================================================================================

def test_if_has_no_decay_vars():
    neuron = IF(3, name="if")
    assert "du" not in neuron.vars and "dv" not in neuron.vars
    assert {"vth", "bias_mant", "bias_exp", "u", "v"} <= set(neuron.vars)


def test_if_equals_lif_with_du_4095_dv_0():
    rng = np.random.default_rng(5)
    steps, n_pre, n = 50, 4, 3
    raster = rng.random((steps, n_pre)) < 0.5
    weights = rng.integers(-255, 256, size=(n, n_pre))
    vth = [5, 50, 500]
    neuron = IF(n, vth=vth, bias_mant=[-3, 0, 9], bias_exp=2, name="if")
    syn = Dense(weights, weight_exp=1, name="syn")
    got, spikes, _ = run_chain(neuron, steps, [(raster, syn)])
    a_in = drive(steps, n, (raster_events(raster.tolist(), steps), weights.tolist(), 1, 1))
    expected = neuron_trace(a_in, steps, n, du=4095, dv=0, vth=vth, bias_mant=[-3, 0, 9],
                            bias_exp=2)
    assert_traces(got, expected, spikes)


def test_if_literal():
    """u is this step's input only; v integrates without leak."""
    steps = 5
    raster = [[True], [True], [False], [True], [False]]
    neuron = IF(1, vth=2, name="if")                     # threshold 128
    got, spikes, _ = run_chain(neuron, steps, [(raster, Dense(np.array([[1]]), name="syn"))])
    assert [row[0] for row in got["u"]] == [0, 64, 64, 0, 64]
    assert [row[0] for row in got["v"]] == [0, 64, 128, 128, 0]   # 128 is not > 128
    assert spike_pairs(spikes) == [(5, 0)]


# == Poisson =======================================================================================

_SEEDS = [0, 0x0123456789ABCDEF, 2**64 - 1]
_RATES = [0.0, 1e-9, 0.3, 1.0]


def test_poisson_sources_follow_the_hash():
    steps, n = 100, 50
    net = nm.Network("poisson")
    sources = {}
    for s_index, seed in enumerate(_SEEDS):
        for r_index, rate in enumerate(_RATES):
            sources[seed, rate] = net.add(PoissonSource(n, rate=rate, seed=seed,
                                                        name=f"p{s_index}_{r_index}"))
    with nm.Runtime(net, backend="reference") as rt:
        rt.run(steps)
        for (seed, rate), source in sources.items():
            dense = rt.spikes(source).to_dense()
            assert dense.shape == (steps, n)
            expected = np.array([[poisson_fires(seed, i, t, rate) for i in range(n)]
                                 for t in range(1, steps + 1)])
            assert np.array_equal(dense, expected), (seed, rate)
            if rate == 1.0:
                assert dense.all()
            if rate == 0.0:
                assert not dense.any()
        counters = rt.counters
    assert counters.neuron_updates == 0                  # sources are not neurons
    assert counters.synaptic_ops == 0


def test_poisson_rate_0_3_fires_about_30_percent():
    fired = sum(poisson_fires(7, i, t, 0.3) for i in range(50) for t in range(1, 101))
    assert 1300 < fired < 1700


def test_poisson_threshold_is_strict_and_floored():
    """Per unit, a rate that puts floor(rate * 2^32) exactly at hash >> 32 must not fire (<)."""
    seed, steps, n = 99, 3, 6
    target_t = 2
    high = [splitmix(seed, i, target_t) >> 32 for i in range(n)]
    # even units: threshold == hash >> 32 -> silent at t = 2; odd: threshold + 1 -> fire
    rates = [(h + (i % 2)) / 2**32 for i, h in enumerate(high)]
    net = nm.Network("edge")
    source = net.add(PoissonSource(n, rate=rates, seed=seed, name="p"))
    with nm.Runtime(net, backend="reference") as rt:
        rt.run(steps)
        row = rt.spikes(source).to_dense()[target_t - 1]
    assert row.tolist() == [bool(i % 2) for i in range(n)]


# Listed (seed, i, t) triples and their hash, worked out with the helpers above and frozen here,
# so that a change to either side shows.
_HASH_TRIPLES = [
    (0, 0, 1), (0, 1, 1), (1, 0, 1), (0, 0, 2), (2**64 - 1, 49, 100), (12345, 7, 3),
    (0x0123456789ABCDEF, 1000, 10**6),
]


@pytest.mark.parametrize(("seed", "i", "t"), _HASH_TRIPLES)
def test_hash_triples_match_nmgraph_implementations(seed, i, t):
    expected = splitmix(seed, i, t)
    from nmgraph.runtimes import fixed_point

    got = fixed_point.splitmix_hash(seed, np.array([i], dtype=np.uint64), t)
    assert int(got[0]) == expected
    from nmgraph.runtimes import _k_sources  # the hash the Poisson kernel draws from

    assert int(_k_sources.splitmix_hash(seed, np.array([i], dtype=np.uint64), t)[0]) == expected


def test_hash_literal_values():
    # independent of the helpers: z = C4 for (0, 0, 0), then the three mixing steps by hand
    z = 0x632BE59BD9B4E019
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) % 2**64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % 2**64
    assert splitmix(0, 0, 0) == z ^ (z >> 31)
    # the seed, index and time multipliers enter linearly mod 2^64
    assert splitmix(1, 2, 3) == _mix((0x9E3779B97F4A7C15 + 2 * 0xBF58476D1CE4E5B9
                                      + 3 * 0x94D049BB133111EB + 0x632BE59BD9B4E019) % 2**64)


# == delays ========================================================================================

@pytest.mark.parametrize("d", [1, 2, 7, 62])
def test_spike_arrives_exactly_d_steps_later(d):
    steps = d + 12
    raster = np.zeros((steps, 1), dtype=bool)
    raster[0, 0] = raster[4, 0] = True                  # sent at steps 1 and 5
    lif = LIF(1, du=4095, dv=4095, vth=0, name="lif")    # fires exactly when input arrives
    syn = Dense(np.array([[1]]), delay=d, name="syn")
    got, spikes, _ = run_chain(lif, steps, [(raster, syn)])
    assert spike_pairs(spikes) == [(1 + d, 0), (5 + d, 0)]
    arrivals = [t for t, row in enumerate(got["u"], start=1) if row[0]]
    assert arrivals == [1 + d, 5 + d]
    assert all(row[0] in (0, 64) for row in got["u"])


def test_per_synapse_delays_dense():
    steps = 70
    delays = np.array([[1, 2, 3], [62, 7, 1], [5, 5, 5], [200, 1, 9]])
    weights = np.array([[1, 2, 3], [4, 5, 6], [7, 0, 9], [10, 11, 12]])
    raster = np.zeros((steps, 3), dtype=bool)
    raster[0, :] = True
    raster[2, 1] = True
    lif = LIF(4, du=4095, dv=4095, vth=10**5, name="lif")
    syn = Dense(weights, delay=delays, name="syn")
    got, spikes, _ = run_chain(lif, steps, [(raster, syn)])
    a_in = drive(steps, 4, (raster_events(raster.tolist(), steps), weights.tolist(), 0,
                            delays.tolist()))
    assert [t for t in range(steps + 1) if a_in[t][1]] == [2, 8, 10, 63]
    expected = neuron_trace(a_in, steps, 4, du=4095, dv=4095, vth=10**5)
    assert_traces(got, expected, spikes)
    # with du = 4095, u is this step's input << 6 exactly
    assert got["u"] == [[x * 64 for x in row] for row in a_in[1:]]


def test_per_synapse_delays_sparse_follow_the_coo_order():
    steps = 40
    rows = [2, 0, 1, 0, 2]
    cols = [0, 1, 1, 0, 1]
    values = [5, -6, 7, 8, 9]
    delays = [30, 1, 4, 2, 17]
    raster = np.zeros((steps, 2), dtype=bool)
    raster[0, :] = True
    raster[9, 0] = True
    lif = LIF(3, du=4095, dv=4095, vth=10**5, name="lif")
    syn = Sparse((rows, cols, values), shape=(3, 2), delay=delays, name="syn")
    got, spikes, _ = run_chain(lif, steps, [(raster, syn)])
    weights = [[0] * 2 for _ in range(3)]
    delay_matrix = [[1] * 2 for _ in range(3)]
    for r, c, w, d in zip(rows, cols, values, delays):
        weights[r][c], delay_matrix[r][c] = w, d
    a_in = drive(steps, 3, (raster_events(raster.tolist(), steps), weights, 0, delay_matrix))
    expected = neuron_trace(a_in, steps, 3, du=4095, dv=4095, vth=10**5)
    assert_traces(got, expected, spikes)
    # unit 0 spikes at 1 and 10: post 2 gets it at 31 and 40 (delay 30), post 0 at 3 and 12
    # (delay 2); unit 1 (at 1) reaches post 2 at 18 (delay 17)
    assert [t for t in range(steps + 1) if a_in[t][2]] == [18, 31, 40]
    assert got["u"][2][0] == 8 * 64 and got["u"][11][0] == 8 * 64


def test_several_projections_into_one_port_sum():
    rng = np.random.default_rng(11)
    steps, n_pre, n = 40, 5, 3
    raster = rng.random((steps, n_pre)) < 0.5
    w1 = rng.integers(0, 100, size=(n, n_pre))
    w2 = rng.integers(0, 100, size=(n, n_pre))

    def traces(blocks):
        lif = LIF(n, du=600, dv=400, vth=[300, 3000, 30000], name="lif")
        return run_chain(lif, steps, blocks)

    # the same generator raster feeds both blocks (two generators replaying it)
    got_two, spikes_two, _ = traces([(raster, Dense(w1, name="a")), (raster, Dense(w2, name="b"))])
    got_one, spikes_one, _ = traces([(raster, Dense(w1 + w2, name="ab"))])
    assert got_two == got_one
    assert spike_pairs(spikes_two) == spike_pairs(spikes_one)
    a_in = drive(steps, n, (raster_events(raster.tolist(), steps), (w1 + w2).tolist(), 0, 1))
    expected = neuron_trace(a_in, steps, n, du=600, dv=400, vth=[300, 3000, 30000])
    assert_traces(got_one, expected, spikes_one)


def test_one_generator_fanning_into_two_blocks_into_one_port():
    """One s_out into two synapse blocks (different exps and delays), both into one a_in."""
    steps = 30
    raster = np.zeros((steps, 2), dtype=bool)
    raster[[0, 3, 8], 0] = True
    raster[[1, 3], 1] = True
    w1, w2 = np.array([[3, 0], [1, 2]]), np.array([[0, -5], [7, 0]])
    net = nm.Network("fan")
    gen = net.add(SpikeGenerator(raster, name="gen"))
    a = net.add(Dense(w1, weight_exp=2, delay=1, name="a"))
    b = net.add(Sparse(w2, weight_exp=5, delay=4, name="b"))
    lif = net.add(LIF(2, du=100, dv=200, vth=2000, name="lif"))
    for syn in (a, b):
        net.connect(gen.s_out, syn.s_in)
        net.connect(syn.a_out, lif.a_in)
    with nm.Runtime(net, backend="reference") as rt:
        rt.record(lif, "u")
        rt.record(lif, "v")
        rt.run(steps)
        got = {var: rt.recorded(lif, var).tolist() for var in ("u", "v")}
        spikes = rt.spikes(lif)
    events = raster_events(raster.tolist(), steps)
    a_in = drive(steps, 2, (events, w1.tolist(), 2, 1), (events, w2.tolist(), 5, 4))
    expected = neuron_trace(a_in, steps, 2, du=100, dv=200, vth=2000)
    assert_traces(got, expected, spikes)


# == SpikeGenerator ================================================================================

@pytest.mark.parametrize("repeat", [False, True])
def test_spike_generator_rows_then_silence_or_repeat(repeat):
    data = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1]], dtype=bool)
    steps = 11
    net = nm.Network("gen")
    gen = net.add(SpikeGenerator(data, repeat=repeat, name="gen"))
    with nm.Runtime(net, backend="reference") as rt:
        rt.run(steps)
        events = rt.spikes(gen)
    dense = events.to_dense()
    assert dense.shape == (steps, 3)
    for t in range(1, steps + 1):
        k = t - 1
        if repeat:
            expected = data[k % 4]
        else:
            expected = data[k] if k < 4 else np.zeros(3, dtype=bool)
        assert dense[t - 1].tolist() == expected.tolist(), t
    # times count from 1, sorted by time then index
    assert spike_pairs(events)[:4] == [(1, 0), (2, 1), (3, 0), (3, 1)]


def test_spike_generator_from_events():
    gen = SpikeGenerator.from_events(times=[3, 1, 3], indices=[2, 0, 0], shape=3, name="gen")
    net = nm.Network("gen")
    net.add(gen)
    with nm.Runtime(net, backend="reference") as rt:
        rt.run(5)
        assert spike_pairs(rt.spikes(gen)) == [(1, 0), (3, 0), (3, 2)]


# == runs continue ===============================================================================

def _mixed_network():
    rng = np.random.default_rng(3)
    net = nm.Network("mixed")
    gen = net.add(SpikeGenerator(rng.random((9, 6)) < 0.5, repeat=True, name="gen"))
    poi = net.add(PoissonSource(6, rate=0.2, seed=42, name="poi"))
    lif = net.add(LIF(5, du=300, dv=200, vth=40, bias_mant=3, name="lif"))
    alif = net.add(ALIF(4, du=100, dv=100, vth=30, db=50, beta=20, name="alif"))
    s1 = net.add(Dense(rng.integers(0, 120, size=(5, 6)), delay=2, name="s1"))
    s2 = net.add(Dense(rng.integers(-50, 120, size=(5, 6)), weight_exp=1, name="s2"))
    s3 = net.add(Dense(rng.integers(0, 200, size=(4, 5)), delay=rng.integers(1, 5, (4, 5)),
                       name="s3"))
    s4 = net.add(Dense(-rng.integers(0, 60, size=(5, 4)), name="s4"))     # recurrent loop
    net.connect(gen.s_out, s1.s_in)
    net.connect(s1.a_out, lif.a_in)
    net.connect(poi.s_out, s2.s_in)
    net.connect(s2.a_out, lif.a_in)
    net.connect(lif.s_out, s3.s_in)
    net.connect(s3.a_out, alif.a_in)
    net.connect(alif.s_out, s4.s_in)
    net.connect(s4.a_out, lif.a_in)
    return net, (gen, poi, lif, alif)


def _run_split(splits):
    net, procs = _mixed_network()
    _, _, lif, alif = procs
    with nm.Runtime(net, backend="reference") as rt:
        for var in ("u", "v"):
            rt.record(lif, var)
        rt.record(alif, "b")
        for chunk in splits:
            rt.run(chunk)
        return {
            "spikes": [spike_pairs(rt.spikes(p)) for p in procs],
            "lif_u": rt.recorded(lif, "u").tolist(),
            "lif_v": rt.recorded(lif, "v").tolist(),
            "alif_b": rt.recorded(alif, "b").tolist(),
            "state": [rt.get(alif, var).tolist() for var in ("u", "v", "b")],
            "counters": (rt.counters.synaptic_ops, rt.counters.neuron_updates,
                         rt.counters.spikes),
        }


def test_run_5_then_7_equals_run_12():
    once = _run_split([12])
    assert once == _run_split([5, 7])
    assert once == _run_split([1, 1, 3, 0, 7])
    assert len(once["lif_u"]) == 12
    assert any(once["spikes"][2]) and any(once["spikes"][3])
    assert once["counters"][1] == (5 + 4) * 12


# == counters ======================================================================================

def test_counters_by_hand():
    steps = 20
    raster = np.zeros((steps, 4), dtype=bool)
    raster[0] = [1, 1, 0, 1]
    raster[3] = [0, 1, 1, 1]
    raster[10] = [1, 0, 0, 0]
    weights = np.array([[1, 0, 2, 0], [0, 0, 3, 0], [5, 5, 0, 5]])
    # non-zero synapses per pre unit: unit 0 -> 2, unit 1 -> 1, unit 2 -> 2, unit 3 -> 1
    fan_out = [2, 1, 2, 1]
    spikes_sent = raster.sum(axis=0)                        # [2, 2, 1, 2]
    expected_ops = int(np.dot(spikes_sent, fan_out))         # 4 + 2 + 2 + 2 = 10
    assert expected_ops == 10
    lif = LIF(3, du=4095, dv=4095, vth=0, name="lif")       # fires whenever input > 0
    net = nm.Network("count")
    gen = net.add(SpikeGenerator(raster, name="gen"))
    syn = net.add(Dense(weights, delay=3, name="syn"))
    net.add(lif)
    net.connect(gen.s_out, syn.s_in)
    net.connect(syn.a_out, lif.a_in)
    with nm.Runtime(net, backend="reference") as rt:
        rt.run(steps)
        lif_spikes = len(rt.spikes(lif))
        counters = rt.counters
    a_in = drive(steps, 3, (raster_events(raster.tolist(), steps), weights.tolist(), 0, 3))
    expected_lif_spikes = sum(1 for t in range(1, steps + 1) for i in range(3) if a_in[t][i] > 0)
    assert lif_spikes == expected_lif_spikes == 7
    assert counters.synaptic_ops == expected_ops
    assert counters.neuron_updates == 3 * steps
    assert counters.spikes == int(raster.sum()) + expected_lif_spikes
