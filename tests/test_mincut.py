"""The multilevel min-cut partitioner behind the ``mincut`` strategy (``compilers/mincut.py``).

Every part must respect every capacity (hard), every vertex gets a part, parts are numbered
``0..k-1`` without gaps, the result is deterministic for a seed, and on a graph with planted
communities the cut is close to the planted one and far below that of contiguous chunks.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nmgraph.compilers.mincut import cut_weight, mincut_parts


def _symmetric(n: int, src, dst, weight) -> sp.csr_matrix:
    src, dst, weight = np.asarray(src), np.asarray(dst), np.asarray(weight, dtype=float)
    keep = src != dst
    edges = sp.coo_matrix((weight[keep], (src[keep], dst[keep])), shape=(n, n)).tocsr()
    adjacency = (edges + edges.T).tocsr()
    adjacency.sum_duplicates()
    return adjacency


def _clustered(n_communities=8, size=128, p_in=0.3, p_out=0.005, seed=0):
    """Directed random synapses, dense inside communities and sparse between, vertex order
    shuffled; returns the symmetric adjacency and the planted community of each vertex."""
    rng = np.random.default_rng(seed)
    n = n_communities * size
    community = np.arange(n) // size
    same = community[:, None] == community[None, :]
    mask = rng.random((n, n)) < np.where(same, p_in, p_out)
    src, dst = np.nonzero(mask)
    order = rng.permutation(n)  # vertex i of the planted layout becomes vertex order[i]
    shuffled = np.empty(n, dtype=np.int64)
    shuffled[order] = community
    return _symmetric(n, order[src], order[dst], np.ones(src.size)), shuffled


def _check_partition(parts, weights, caps, n):
    parts = np.asarray(parts)
    assert parts.dtype == np.int64
    assert parts.shape == (n,)
    if n == 0:
        return 0
    k = int(parts.max()) + 1
    assert parts.min() == 0
    counts = np.bincount(parts, minlength=k)
    assert (counts > 0).all(), "parts must be numbered 0..k-1 without gaps"
    weights = np.asarray(weights, dtype=float).reshape(n, -1)
    for j in range(weights.shape[1]):
        loads = np.bincount(parts, weights=weights[:, j], minlength=k)
        assert (loads <= caps[j]).all(), f"resource {j}: {loads.max()} > {caps[j]}"
    return k


@st.composite
def _problems(draw):
    n = draw(st.integers(1, 60))
    r = draw(st.integers(1, 3))
    n_edges = draw(st.integers(0, 4 * n))
    src = draw(st.lists(st.integers(0, n - 1), min_size=n_edges, max_size=n_edges))
    dst = draw(st.lists(st.integers(0, n - 1), min_size=n_edges, max_size=n_edges))
    weight = draw(st.lists(st.floats(0.0, 10.0), min_size=n_edges, max_size=n_edges))
    integral = draw(st.booleans())
    if integral:
        values = st.integers(0, 5).map(float)
    else:
        values = st.floats(0.0, 5.0, allow_nan=False, allow_infinity=False)
    flat = draw(st.lists(values, min_size=n * r, max_size=n * r))
    weights = np.array(flat, dtype=float).reshape(n, r)
    caps = []
    for j in range(r):
        if draw(st.booleans()) and j > 0:
            caps.append(np.inf)
        else:
            factor = draw(st.floats(1.0, 8.0))
            caps.append(max(float(weights[:, j].max()) * factor, 1.0))
    n_parts = draw(st.integers(1, 8))
    seed = draw(st.integers(0, 2**31 - 1))
    return _symmetric(n, src, dst, weight), weights, np.array(caps), n_parts, seed


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_problems())
def test_random_graphs_respect_every_capacity(problem):
    adjacency, weights, caps, n_parts, seed = problem
    n = adjacency.shape[0]
    parts = mincut_parts(adjacency, weights, caps, n_parts, seed=seed)
    k = _check_partition(parts, weights, caps, n)
    assert k >= min(n_parts, n)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 300), st.integers(1, 12), st.integers(1, 40), st.integers(0, 1000))
def test_unit_weights_use_exactly_the_parts_needed(n, n_parts, cap, seed):
    rng = np.random.default_rng(seed)
    src, dst = rng.integers(0, n, 3 * n), rng.integers(0, n, 3 * n)
    adjacency = _symmetric(n, src, dst, np.ones(src.size))
    parts = mincut_parts(adjacency, np.ones(n), [cap], n_parts, seed=seed)
    k = _check_partition(parts, np.ones(n), [cap], n)
    assert k == max(min(n_parts, n), math.ceil(n / cap))


def test_deterministic_for_a_seed():
    adjacency, _ = _clustered(seed=3)
    weights = np.column_stack([np.ones(1024), np.arange(1024) % 7])
    caps = np.array([150.0, 1000.0])
    first = mincut_parts(adjacency, weights, caps, 8, seed=11)
    again = mincut_parts(adjacency, weights, caps, 8, seed=11)
    np.testing.assert_array_equal(first, again)
    _check_partition(first, weights, caps, 1024)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clustered_graph_finds_the_communities(seed):
    adjacency, community = _clustered(seed=seed)
    n = adjacency.shape[0]
    parts = mincut_parts(adjacency, np.ones(n), [128.0], 8, seed=seed)
    assert _check_partition(parts, np.ones(n), [128.0], n) == 8
    cut = cut_weight(adjacency, parts)
    chunks = cut_weight(adjacency, np.arange(n) // 128)  # contiguous slices of the shuffled order
    planted = cut_weight(adjacency, community)
    assert cut < 0.3 * chunks
    assert cut <= 1.1 * planted


def test_graph_without_edges():
    n = 100
    adjacency = sp.csr_matrix((n, n))
    parts = mincut_parts(adjacency, np.ones(n), [10.0], 10)
    assert _check_partition(parts, np.ones(n), [10.0], n) == 10
    assert cut_weight(adjacency, parts) == 0.0


def test_capacity_forces_more_parts_than_asked():
    adjacency, _ = _clustered(n_communities=4, size=50, seed=5)
    n = adjacency.shape[0]
    parts = mincut_parts(adjacency, np.ones(n), [30.0], 2)
    assert _check_partition(parts, np.ones(n), [30.0], n) == math.ceil(n / 30)


def test_second_resource_forces_more_parts():
    adjacency, _ = _clustered(n_communities=4, size=50, seed=6)
    n = adjacency.shape[0]
    weights = np.column_stack([np.ones(n), np.full(n, 10.0)])  # e.g. neurons, synapses
    caps = np.array([100.0, 250.0])  # 25 vertices per part by synapses
    parts = mincut_parts(adjacency, weights, caps, 2)
    assert _check_partition(parts, weights, caps, n) == 8


def test_vertices_that_do_not_pack_get_extra_parts():
    # Each part holds one vertex of weight 6 (capacity 10): the total (60 <= 100) is no guide.
    n = 10
    adjacency = _symmetric(n, np.arange(n - 1), np.arange(1, n), np.ones(n - 1))
    parts = mincut_parts(adjacency, np.full(n, 6.0), [10.0], 3)
    assert _check_partition(parts, np.full(n, 6.0), [10.0], n) == n


def test_fewer_vertices_than_parts():
    adjacency = _symmetric(3, [0, 1], [1, 2], [1.0, 1.0])
    parts = mincut_parts(adjacency, np.ones(3), [np.inf], 5)
    assert _check_partition(parts, np.ones(3), [np.inf], 3) == 3


def test_no_limit_keeps_the_parts_asked_for():
    adjacency, _ = _clustered(n_communities=4, size=40, seed=7)
    n = adjacency.shape[0]
    parts = mincut_parts(adjacency, np.ones(n), [np.inf], 4)
    assert _check_partition(parts, np.ones(n), [np.inf], n) == 4


def test_empty_graph():
    parts = mincut_parts(sp.csr_matrix((0, 0)), np.zeros((0, 2)), [1.0, 1.0], 3)
    assert parts.shape == (0,) and parts.dtype == np.int64


def test_any_sparse_format_and_diagonal_ignored():
    adjacency, community = _clustered(n_communities=2, size=40, seed=8)
    with_loops = (adjacency + sp.identity(80) * 5.0).tocoo()
    parts = mincut_parts(with_loops, np.ones(80), [40.0], 2, seed=1)
    _check_partition(parts, np.ones(80), [40.0], 80)
    assert cut_weight(adjacency, parts) <= 1.1 * cut_weight(adjacency, community)


def test_cut_weight_counts_each_edge_once():
    adjacency = _symmetric(4, [0, 1, 2, 0], [1, 2, 3, 3], [1.0, 2.0, 4.0, 8.0])
    parts = np.array([0, 0, 1, 1])
    assert cut_weight(adjacency, parts) == 2.0 + 8.0


@pytest.mark.parametrize(
    ("weights", "caps", "n_parts", "match"),
    [
        (np.full(5, 3.0), [2.0], 2, "vertex 0 needs 3"),
        (-np.ones(5), [2.0], 2, "non-negative"),
        (np.ones(4), [2.0], 2, "shape"),
        (np.ones(5), [0.0], 2, "positive"),
        (np.ones(5), [2.0, 2.0], 2, "shape"),
        (np.ones(5), [2.0], 0, "n_parts"),
    ],
)
def test_bad_input(weights, caps, n_parts, match):
    adjacency = _symmetric(5, [0, 1, 2, 3], [1, 2, 3, 4], np.ones(4))
    with pytest.raises(ValueError, match=match):
        mincut_parts(adjacency, weights, caps, n_parts)


def test_negative_edge_weight_is_rejected():
    adjacency = sp.csr_matrix(np.array([[0.0, -1.0], [-1.0, 0.0]]))
    with pytest.raises(ValueError, match="non-negative"):
        mincut_parts(adjacency, np.ones(2), [2.0], 1)


# -- the mincut strategy keeps the better of the min-cut and greedy partitions ---------------------

def _parts(n_cores: int, messages: int, strategy: str):
    from nmgraph.compilers.mapping_data import Partition

    axons_out = np.zeros(n_cores, dtype=np.int64)
    axons_out[0] = messages
    return Partition(unit_core=np.arange(n_cores), core_kind=["neuron"] * n_cores,
                     usage={"axons_out": axons_out}, lower_bound={"cores": 1}, strategy=strategy)


def test_fewer_cores_win_then_fewer_messages():
    from nmgraph.compilers.partition import _better_of

    cut, greedy = _parts(5, 100, "mincut"), _parts(4, 900, "greedy")
    kept = _better_of(cut, greedy)
    assert kept.n_cores == 4 and kept.strategy == "mincut"
    assert "greedy partition kept (4 cores, 900 messages" in kept.notes[-1]
    assert _better_of(_parts(4, 100, "mincut"), _parts(4, 900, "greedy")).usage["axons_out"][0] \
        == 100                                       # same cores: the smaller traffic
    assert _better_of(_parts(4, 900, "mincut"), _parts(4, 100, "greedy")).notes
    assert _better_of(_parts(3, 900, "mincut"), _parts(4, 100, "greedy")).n_cores == 3


@pytest.mark.slow
def test_brunel_loihi1_mincut_uses_no_more_cores_than_greedy():
    import sys
    from pathlib import Path

    import nmgraph as nm

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.networks import brunel

    net = brunel(4000, 400, seed=0)
    greedy = nm.compile(net, hardware="loihi1", partition="greedy")
    cut = nm.compile(net, hardware="loihi1", partition="mincut")
    assert greedy.n_cores == 48            # nengo-loihi's best for this network
    assert cut.n_cores <= greedy.n_cores   # the min-cut alone needs 80 here
