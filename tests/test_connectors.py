"""Connectors: exact small cases, statistics at fixed seeds, seeds reproduce, bad input refused.

Expected values are written out by hand or computed here by an independent path (plain
loops over pairs, the binomial mean and variance), never by the connector under test.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.sparse

import nmgraph as nm
from nmgraph.processes import (
    LIF,
    Dense,
    Sparse,
    SpikeGenerator,
    all_to_all,
    distance_dependent,
    fixed_probability,
    from_list,
    grid_positions,
)
from nmgraph.processes import connectors as connectors_module


def _pairs(weights) -> dict[tuple[int, int], int]:
    """{(post, pre): weight} of a dense or sparse result, non-zero entries only."""
    dense = weights.toarray() if scipy.sparse.issparse(weights) else np.asarray(weights)
    return {(int(r), int(c)): int(dense[r, c]) for r, c in zip(*np.nonzero(dense))}


# ---------------------------------------------------------------------------------------- all_to_all

def test_all_to_all_connects_every_pair() -> None:
    assert np.array_equal(all_to_all(3, 2, weight=-4), np.full((2, 3), -4))
    assert all_to_all(3, 2).dtype == np.int16


def test_all_to_all_without_self_leaves_out_the_diagonal() -> None:
    expected = np.array([[0, 7, 7], [7, 0, 7], [7, 7, 0]])
    assert np.array_equal(all_to_all(3, 3, weight=7, allow_self=False), expected)
    sparse = all_to_all(3, 3, weight=7, allow_self=False, sparse=True)
    assert isinstance(sparse, scipy.sparse.csr_array)
    assert np.array_equal(sparse.toarray(), expected)
    assert sparse.nnz == 6


def test_all_to_all_weight_range_is_seeded_and_dense_equals_sparse() -> None:
    a = all_to_all(40, 30, weight=(-5, 9), seed=3)
    b = all_to_all(40, 30, weight=(-5, 9), seed=3, sparse=True).toarray()
    assert np.array_equal(a, b)  # the same draws, in row order, whatever the format
    assert not np.array_equal(a, all_to_all(40, 30, weight=(-5, 9), seed=4))
    assert a.min() == -5 and a.max() == 9  # 1,200 draws cover the 15 values


def test_all_to_all_refuses_bad_sizes_and_weights() -> None:
    with pytest.raises(nm.ValidationError, match=r"all_to_all\.n_pre: must be >= 1"):
        all_to_all(0, 3)
    with pytest.raises(nm.ValidationError, match=r"all_to_all\.weight: must be <= 255"):
        all_to_all(2, 2, weight=300)


# ----------------------------------------------------------------------------------------- from_list

def test_from_list_four_columns_exact() -> None:
    rows = [(0, 1, 5, 2), (2, 0, -3, 1), (1, 1, 4, 3)]  # (pre, post, weight, delay)
    weights, delays = from_list(rows, n_pre=3, n_post=2)
    assert isinstance(weights, scipy.sparse.csr_array)
    assert np.array_equal(weights.toarray(), [[0, 0, -3], [5, 4, 0]])
    coo = weights.tocoo()  # delays follow the entries of tocoo(), row by row
    assert list(zip(coo.row.tolist(), coo.col.tolist(), delays.tolist())) == \
        [(0, 2, 1), (1, 0, 2), (1, 1, 3)]
    dense, dense_delays = from_list(rows, n_pre=3, n_post=2, sparse=False)
    assert np.array_equal(dense, [[0, 0, -3], [5, 4, 0]])
    assert dense_delays[0, 2] == 1 and dense_delays[1, 0] == 2 and dense_delays[1, 1] == 3


def test_from_list_delays_reach_the_synapse_block() -> None:
    rows = np.array([[4, 0, 9, 7], [0, 2, 3, 2], [1, 0, -2, 5], [3, 2, 1, 1]])
    weights, delays = from_list(rows, n_pre=5, n_post=3)
    syn = Sparse(weights=weights, delay=delays)
    by_pair = {(int(r), int(c)): (int(w), int(d)) for r, c, w, d in
               zip(syn.rows, syn.cols, syn.weights.value, syn.delay.value)}
    assert by_pair == {(0, 4): (9, 7), (2, 0): (3, 2), (0, 1): (-2, 5), (2, 3): (1, 1)}
    dense, dense_delays = from_list(rows, n_pre=5, n_post=3, sparse=False)
    block = Dense(weights=dense, delay=dense_delays)
    for (post, pre), (w, d) in by_pair.items():
        assert block.weights.value[post, pre] == w and block.delay.value[post, pre] == d


def test_from_list_columns_default_to_the_arguments() -> None:
    weights, delays = from_list([(0, 0), (1, 0)], n_pre=2, n_post=1, weight=6, delay=4)
    assert _pairs(weights) == {(0, 0): 6, (0, 1): 6}
    assert delays.tolist() == [4, 4]
    weights, delays = from_list([(0, 0, 2), (1, 0, -1)], n_pre=2, n_post=1, delay=9)
    assert _pairs(weights) == {(0, 0): 2, (0, 1): -1}
    assert delays.tolist() == [9, 9]
    # a list with a float weight is read as floats: whole values pass, indices too
    weights, delays = from_list([(1, 0, 3.0, 2), (0, 0, 0.0 + 4, 1)], n_pre=2, n_post=1)
    assert _pairs(weights) == {(0, 1): 3, (0, 0): 4}
    assert delays.tolist() == [1, 2]
    weights, delays = from_list([], n_pre=2, n_post=2)
    assert weights.nnz == 0 and delays.size == 0


def test_from_list_weight_range_is_drawn_in_list_order() -> None:
    a, _ = from_list([(0, 1), (1, 0), (2, 1)], 3, 2, weight=(1, 100), seed=5)
    b, _ = from_list([(0, 1), (1, 0), (2, 1)], 3, 2, weight=(1, 100), seed=5)
    assert np.array_equal(a.toarray(), b.toarray())
    drawn = np.random.default_rng(5).integers(1, 100, size=3, endpoint=True)
    assert _pairs(a) == {(1, 0): drawn[0], (0, 1): drawn[1], (1, 2): drawn[2]}


def test_from_list_duplicates_refused_naming_the_entries() -> None:
    with pytest.raises(nm.ValidationError, match=r"entries 0 and 2 both connect \(pre 1, post 0\)"):
        from_list([(1, 0, 3), (0, 0, 2), (1, 0, 4)], n_pre=2, n_post=1)


def test_from_list_duplicates_summed_when_asked() -> None:
    weights, delays = from_list([(1, 0, 3, 2), (0, 0, 2, 1), (1, 0, 4, 2), (1, 0, -1, 2)],
                                n_pre=2, n_post=1, duplicates="sum")
    assert _pairs(weights) == {(0, 1): 6, (0, 0): 2}
    assert delays.tolist() == [1, 2]
    with pytest.raises(nm.ValidationError, match=r"entries 0 and 1 connect \(pre 1, post 0\) "
                       r"with delays 2 and 3"):
        from_list([(1, 0, 3, 2), (1, 0, 4, 3)], n_pre=2, n_post=1, duplicates="sum")
    with pytest.raises(nm.ValidationError, match=r"summed weight of \(pre 1, post 0\).*got 300"):
        from_list([(1, 0, 200), (1, 0, 100)], n_pre=2, n_post=1, duplicates="sum")


@pytest.mark.parametrize(("rows", "message"), [
    ([(0, 0), (5, 0)], r"entry 1: pre index 5 is not a unit of the pre population \(0..2, n_pre=3\)"),
    ([(0, 2)], r"entry 0: post index 2 is not a unit of the post population \(0..1"),
    ([(0, 0), (-1, 0)], r"entry 1: pre index -1 is not"),
    ([(0.5, 0, 1)], r"entry 0: pre index 0.5 is not"),
    ([(0, 0, 1), (1, 0)], r"same length"),
    ([(0,)], r"an array of shape \(entries, 2..4\)"),
    ([(0, 0, 1, 1, 1)], r"an array of shape \(entries, 2..4\)"),
    ([(0, 0, 1.5)], r"from_list\.weight: must be whole numbers.*nm.quantize_weights"),
    ([(0, 0, 300)], r"from_list\.weight: must be <= 255"),
    ([(0, 0, 1, 0)], r"from_list\.delay: must be >= 1"),
    ([(0, 0, 1, 2.5)], r"from_list\.delay: the delay column holds delays in whole steps"),
    ([(0, 0, 1, 256)], r"from_list\.delay: must be <= 255"),
])
def test_from_list_bad_entries(rows, message) -> None:
    with pytest.raises(nm.ValidationError, match=message):
        from_list(rows, n_pre=3, n_post=2)


def test_from_list_bad_arguments() -> None:
    with pytest.raises(nm.ValidationError, match=r"duplicates: must be one of"):
        from_list([(0, 0)], 1, 1, duplicates="keep")
    with pytest.raises(nm.ValidationError, match=r"for a sparse matrix use Sparse"):
        from_list(scipy.sparse.csr_array(np.eye(2)), 2, 2)
    with pytest.raises(nm.ValidationError, match=r"from_list\.delay: must be <= 255"):
        from_list([(0, 0)], 1, 1, delay=300)


def test_from_list_delays_in_a_run() -> None:
    """Spikes of pre 0 at step 1 reach post 0 after 3 steps and post 1 after 6 (reference)."""
    net = nm.Network("from_list")
    src = net.add(SpikeGenerator(np.array([[True, False]] + [[False, False]] * 9)))
    post = net.add(LIF(shape=(2,), du=4095, dv=4095, vth=10, name="post"))
    weights, delays = from_list([(0, 0, 100, 3), (0, 1, 100, 6), (1, 1, 100, 1)], 2, 2)
    syn = net.add(Sparse(weights=weights, delay=delays))
    net.connect(src.s_out, syn.s_in)
    net.connect(syn.a_out, post.a_in)
    with nm.Runtime(nm.compile(net, hardware="loihi1"), backend="reference") as rt:
        rt.run(10)
        events = rt.spikes(post)
    assert sorted(zip(events.times.tolist(), events.indices.tolist())) == [(4, 0), (7, 1)]


# ----------------------------------------------------------------------------------- grid positions

def test_grid_positions_fill_the_last_axis_fastest() -> None:
    assert grid_positions(3, spacing=2.0, origin=1.0).tolist() == [[1.0], [3.0], [5.0]]
    assert grid_positions((2, 3), spacing=(1.0, 10.0)).tolist() == \
        [[0, 0], [0, 10], [0, 20], [1, 0], [1, 10], [1, 20]]


# ---------------------------------------------------------------------------- distance_dependent

def _nearest(d: np.ndarray) -> np.ndarray:
    return (d <= 1.0 + 1e-9).astype(float)


def test_distance_dependent_exact_neighbours_on_a_line() -> None:
    weights, _ = distance_dependent(5, 5, _nearest, weight=2, seed=0, allow_self=False)
    expected = {(i, j): 2 for i in range(5) for j in range(5) if abs(i - j) == 1}
    assert _pairs(weights) == expected
    ring, _ = distance_dependent(5, 5, _nearest, weight=2, seed=0, allow_self=False,
                                 periodic=True)
    assert _pairs(ring) == {**expected, (0, 4): 2, (4, 0): 2}


def test_distance_dependent_exact_neighbours_on_a_grid() -> None:
    weights, delays = distance_dependent((3, 3), (3, 3), _nearest, seed=0, sparse=False,
                                         delay=lambda d: 1 + 1.5 * d)
    expected = {}
    for a, b in itertools.product(range(9), repeat=2):  # (post, pre): 4-neighbours and self
        (ra, ca), (rb, cb) = divmod(a, 3), divmod(b, 3)
        if abs(ra - rb) + abs(ca - cb) <= 1:
            expected[(a, b)] = 1
    assert _pairs(weights) == expected
    for (post, pre) in expected:  # d = 0 -> 1 step; d = 1 -> 2.5 rounded half up to 3
        assert delays[post, pre] == (1 if post == pre else 3)


def test_distance_dependent_coarse_grid_over_a_fine_one() -> None:
    """A 2-unit layer with spacing 2 over a 4-unit line: post 0 sits at 0, post 1 at 2."""
    weights, _ = distance_dependent(4, 2, lambda d: (d < 0.5).astype(float), seed=1,
                                    post_spacing=2.0)
    assert _pairs(weights) == {(0, 0): 1, (1, 2): 1}
    shifted, _ = distance_dependent(4, 2, lambda d: (d < 0.5).astype(float), seed=1,
                                    post_spacing=2.0, post_origin=1.0)
    assert _pairs(shifted) == {(0, 1): 1, (1, 3): 1}


def test_distance_dependent_periodic_per_axis() -> None:
    """A 4 x 4 grid wrapped along the first axis only: (0, c) and (3, c) are neighbours."""
    weights, _ = distance_dependent((4, 4), (4, 4), _nearest, seed=0, allow_self=False,
                                    periodic=(4.0, None))
    pairs = _pairs(weights)
    assert (12, 0) in pairs and (0, 12) in pairs       # (3, 0) - (0, 0) wraps
    assert (3, 0) not in pairs and (0, 3) not in pairs  # (0, 3) - (0, 0) does not
    assert len(pairs) == 16 * 4 - 2 * 4                 # 4 neighbours, 2 fewer on the open edges


def _torus_distances(n: int) -> np.ndarray:
    """(post, pre) distances on an n x n torus of spacing 1, by plain loops."""
    d = np.empty((n * n, n * n))
    for a in range(n * n):
        for b in range(n * n):
            dx = abs(a // n - b // n)
            dy = abs(a % n - b % n)
            d[a, b] = math.hypot(min(dx, n - dx), min(dy, n - dy))
    return d


def test_distance_dependent_gaussian_counts_within_binomial_bounds() -> None:
    n, p0, sigma = 16, 0.6, 2.0
    d = _torus_distances(n)
    p = p0 * np.exp(-d**2 / (2 * sigma**2))
    mean, sd = p.sum(), math.sqrt((p * (1 - p)).sum())
    weights, _ = distance_dependent((n, n), (n, n), p0, sigma=sigma, seed=11, periodic=True)
    assert abs(weights.nnz - mean) < 4 * sd, (weights.nnz, mean, sd)
    # the profile falls off: connected fraction per distance ring follows p(d)
    connected = weights.toarray() != 0
    fractions = []
    for low, high in [(0.0, 0.5), (0.5, 1.5), (1.5, 2.5), (2.5, 3.5), (3.5, 5.0), (5.0, 12.0)]:
        ring = (d >= low) & (d < high)
        expected, spread = p[ring].mean(), math.sqrt((p[ring] * (1 - p[ring])).sum()) / ring.sum()
        fractions.append(connected[ring].mean())
        assert abs(fractions[-1] - expected) < 4 * spread + 1e-12, (low, high)
    assert all(a > b for a, b in itertools.pairwise(fractions))
    assert fractions[-1] < 0.01


def test_distance_dependent_constant_p_is_binomial() -> None:
    weights, _ = distance_dependent((30,), (50,), 0.3, seed=2)
    trials = 30 * 50
    mean, sd = 0.3 * trials, math.sqrt(trials * 0.3 * 0.7)
    assert abs(weights.nnz - mean) < 4 * sd


def test_distance_dependent_seeds_reproduce_whatever_the_chunking(monkeypatch) -> None:
    args = dict(p=0.8, sigma=3.0, weight=(-20, 20), delay=lambda d: 1 + d, periodic=True)
    w1, d1 = distance_dependent((12, 10), (12, 10), seed=7, **args)
    w2, d2 = distance_dependent((12, 10), (12, 10), seed=7, **args)
    monkeypatch.setattr(connectors_module, "_CHUNK_ENTRIES", 64)  # a few rows per chunk
    w3, d3 = distance_dependent((12, 10), (12, 10), seed=7, **args)
    for w, d in ((w2, d2), (w3, d3)):
        assert np.array_equal(w1.toarray(), w.toarray()) and np.array_equal(d1, d)
    w4, _ = distance_dependent((12, 10), (12, 10), seed=8, **args)
    assert not np.array_equal(w1.toarray(), w4.toarray())


def test_distance_dependent_weight_and_delay_functions_of_distance() -> None:
    """On a line of spacing 0.5: weight = 10 - 4 d, delay = floor(1 + 3 d + 0.5)."""
    weights, delays = distance_dependent(6, 6, lambda d: (d <= 1.0).astype(float),
                                         weight=lambda d: 10 - 4 * d,
                                         delay=lambda d: 1 + 3 * d, seed=0, pre_spacing=0.5)
    syn = Sparse(weights=weights, delay=delays)
    for post, pre, w, delay in zip(syn.rows, syn.cols, syn.weights.value, syn.delay.value):
        distance = 0.5 * abs(int(post) - int(pre))
        assert w == 10 - 4 * distance
        assert delay == math.floor(1 + 3 * distance + 0.5)
    assert sorted(set(syn.delay.value.tolist())) == [1, 3, 4]  # d 0, 0.5 (2.5 -> 3), 1


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(p=lambda d: 2 * np.ones_like(d)), r"distance_dependent\.p: p\(d\) must be a "
     r"probability in \[0, 1\]; at d = 0 it is \(got 2.0\)"),
    (dict(p=lambda d: np.ones(3)), r"one value per distance"),
    (dict(p=1.5), r"distance_dependent\.p: must be <= 1.0"),
    (dict(p=lambda d: d * 0, sigma=2.0), r"sigma: goes with a number p"),
    (dict(p=0.5, sigma=0.0), r"sigma: must be > 0"),
    (dict(p=1.0, delay=lambda d: 300 + d), r"distance_dependent\.delay: must be <= 255"),
    (dict(p=1.0, delay=lambda d: d), r"distance_dependent\.delay: must be >= 1"),
    (dict(p=1.0, weight=lambda d: d / 3), r"must be whole numbers.*nm.quantize_weights"),
    (dict(p=1.0, periodic=(4.0,)), r"periodic: needs one period per axis \(2\)"),
    (dict(p=1.0, periodic=(0.0, None)), r"periodic: a period must be > 0"),
    (dict(p=1.0, post_shape=(16,)), r"post_shape: pre and post grids need the same number"),
    (dict(p=1.0, seed=-1), r"distance_dependent\.seed: must be >= 0"),
])
def test_distance_dependent_bad_input(kwargs, message) -> None:
    args = dict(pre_shape=(4, 4), post_shape=(4, 4), seed=0)
    args.update(kwargs)
    with pytest.raises(nm.ValidationError, match=message):
        distance_dependent(**args)


def test_existing_connector_unchanged_by_the_new_ones() -> None:
    """fixed_probability at a fixed seed: the same draws as numpy's generator gives directly."""
    rng = np.random.default_rng(4)
    expected = (rng.random((6, 5)) < 0.5).astype(int) * 3
    assert np.array_equal(fixed_probability(5, 6, 0.5, weight=3, seed=4), expected)
