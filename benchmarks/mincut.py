"""Benchmark of the multilevel min-cut partitioner (``nmgraph.compilers.mincut``).

Prints, for each graph, the time of :func:`mincut_parts` (wall and CPU) and its cut against the
cut of contiguous chunks of the vertex order (what a sequential fill does), plus the planted cut
where there is one::

    python benchmarks/mincut.py            # clustered 64 x 1000 and random 80,000 x 400
    python benchmarks/mincut.py --large    # also 1,000,000 vertices x in-degree 100
    python benchmarks/mincut.py --strategies   # the partition strategies on Brunel, loihi1

Graphs:

* ``clustered``: 64 communities of 1,000 vertices, vertex order shuffled; each vertex receives
  38 synapses from its own community and 5 from the others (the proportions of the test graph,
  8 x 128 at p = 0.3 inside and 0.005 between), 64 parts of capacity 1,024.
* ``random``: 80,000 vertices with in-degree 400 (32 million synapses, as in the Brunel network
  of the mapping benchmark), 80 parts of capacity 1,024 neurons, synapses as a second resource
  without limit.
* ``large`` (with ``--large``): 1,000,000 vertices with in-degree 100 (100 million synapses),
  capacity 1,024, as many parts as needed.

The edge weight between two vertices is the number of synapses between them, both ways.

``--strategies`` compiles the Brunel network of ``benchmarks/networks.py`` (N = 3,000 and 4,000,
in-degree 300 and 400) on loihi1 with ``partition="greedy"`` and ``"mincut"`` and prints cores,
messages per spike of every unit and compile time: the ``mincut`` strategy keeps the greedy
partition where that wins (fewer cores, then fewer messages) and says so in its notes.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import scipy.sparse as sp

from nmgraph.compilers import mincut as mincut_module
from nmgraph.compilers.mincut import cut_weight, mincut_parts


def synapse_graph(n: int, sources: np.ndarray, in_degree: int) -> sp.csr_matrix:
    """Symmetric adjacency of synapses ``sources[i * in_degree + s] -> i``: ``w(i, j)`` counts
    the synapses i -> j and j -> i. Built by rows of targets, without a COO detour."""
    indptr = np.arange(0, n * in_degree + 1, in_degree, dtype=np.int64)
    loops = sources == np.repeat(np.arange(n), in_degree)  # autapses carry no message
    incoming = sp.csr_matrix(((~loops).astype(np.float64), sources.astype(np.int32), indptr),
                             shape=(n, n))
    incoming.sum_duplicates()
    adjacency = (incoming + incoming.T).tocsr()
    adjacency.eliminate_zeros()
    return adjacency


def clustered(n_communities: int, size: int, d_in: int, d_out: int, seed: int):
    rng = np.random.default_rng(seed)
    n = n_communities * size
    community = np.repeat(np.arange(n_communities), size)
    per = d_in + d_out
    own = np.tile(np.r_[np.ones(d_in, bool), np.zeros(d_out, bool)], n)
    target_community = np.repeat(community, per)
    sources = np.empty(n * per, dtype=np.int64)
    sources[own] = target_community[own] * size + rng.integers(0, size, int(own.sum()))
    other = (target_community[~own] + rng.integers(1, n_communities, int((~own).sum())))
    sources[~own] = (other % n_communities) * size + rng.integers(0, size, int((~own).sum()))
    # Shuffle the vertex order: vertex v of the planted layout becomes order[v].
    order = rng.permutation(n)
    shuffled_sources = order[sources].reshape(n, per)
    by_target = np.empty_like(shuffled_sources)
    by_target[order] = shuffled_sources
    planted = np.empty(n, dtype=np.int64)
    planted[order] = community
    return synapse_graph(n, by_target.ravel(), per), planted, per


def random_graph(n: int, in_degree: int, seed: int):
    rng = np.random.default_rng(seed)
    return synapse_graph(n, rng.integers(0, n, n * in_degree), in_degree)


def ring_lattice(n: int, neighbours: int, seed: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """A ring where each vertex links to its ``neighbours`` nearest on each side, vertex order
    shuffled (the planted partition: contiguous arcs of the ring)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    rows = np.repeat(np.arange(n), 2 * neighbours)
    offsets = np.tile(np.concatenate([np.arange(1, neighbours + 1),
                                      -np.arange(1, neighbours + 1)]), n)
    cols = (rows + offsets) % n
    adjacency = sp.csr_matrix((np.ones(rows.size), (order[rows], order[cols])), shape=(n, n))
    planted = np.empty(n, dtype=np.int64)
    planted[order] = np.arange(n) * 21 // n
    return adjacency, planted


def run(name: str, adjacency: sp.csr_matrix, in_degree: int, capacity: int, n_parts: int,
        planted: np.ndarray | None, seed: int) -> None:
    n = adjacency.shape[0]
    weights = np.column_stack([np.ones(n), np.full(n, float(in_degree))])
    caps = np.array([float(capacity), np.inf])
    own = _without_metis(adjacency, weights, caps, n_parts, seed)
    wall, cpu = time.perf_counter(), time.process_time()
    parts = mincut_parts(adjacency, weights, caps, n_parts, seed=seed)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    k = int(parts.max()) + 1
    loads = np.bincount(parts, minlength=k)
    cut = cut_weight(adjacency, parts)
    chunks = cut_weight(adjacency, np.arange(n) // capacity)
    total = float(adjacency.data.sum()) / 2.0
    print(f"\n{name}: {n:,} vertices, {adjacency.nnz:,} adjacency entries, "
          f"{n_parts} parts of capacity {capacity} asked")
    print(f"  mincut_parts      {wall:8.2f} s wall  {cpu:8.2f} s CPU   {k} parts, "
          f"largest {loads.max()}, smallest {loads.min()}")
    print(f"  cut, mincut       {cut:14,.0f}  ({cut / total:6.1%} of all edge weight)")
    print(f"  cut, chunks       {chunks:14,.0f}  ({chunks / total:6.1%}); "
          f"mincut / chunks = {cut / chunks:.3f}")
    if own is not None:
        print(f"  cut, no METIS     {cut_weight(adjacency, own):14,.0f}  (nmgraph's multilevel "
              f"alone; with METIS's start kept where it wins: {cut:,.0f})")
    if planted is not None:
        planted_cut = cut_weight(adjacency, planted)
        print(f"  cut, planted      {planted_cut:14,.0f}  ({planted_cut / total:6.1%}); "
              f"mincut / planted = {cut / planted_cut:.3f}")


def _without_metis(adjacency, weights, caps, n_parts, seed) -> np.ndarray | None:
    """The partition without METIS's start (None when pymetis is not installed)."""
    try:
        import pymetis  # noqa: F401
    except ImportError:
        return None
    original = mincut_module._metis_start
    mincut_module._metis_start = lambda *args: None
    try:
        return mincut_parts(adjacency, weights, caps, n_parts, seed=seed)
    finally:
        mincut_module._metis_start = original


def strategies(seed: int) -> None:
    """Cores and messages of the greedy and mincut strategies on Brunel networks (loihi1)."""
    import sys
    import warnings
    from pathlib import Path

    import nmgraph as nm

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.networks import brunel

    print(f"{'network':22} {'strategy':9} {'cores':>5} {'messages':>10} {'compile s':>9}  note")
    for n, k in ((3000, 300), (4000, 400)):
        net = brunel(n, k, seed=seed)
        for strategy in ("greedy", "mincut"):
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", nm.QuantizationWarning)
                exe = nm.compile(net, hardware="loihi1", partition=strategy, seed=seed)
            seconds = time.perf_counter() - start
            messages = int(exe.partition.usage["axons_out"].sum())
            note = exe.partition.notes[-1] if exe.partition.notes else ""
            print(f"{f'brunel {n:,} x {k}':22} {strategy:9} {exe.n_cores:5} {messages:10,} "
                  f"{seconds:9.2f}  {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--large", action="store_true", help="also 1M vertices x in-degree 100")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--strategies", action="store_true",
                        help="only the greedy and mincut strategies on Brunel networks (loihi1)")
    args = parser.parse_args()
    if args.strategies:
        strategies(args.seed)
        return

    adjacency, planted = ring_lattice(20_000, 10, args.seed)
    run("ring lattice 20,000 x 20, shuffled", adjacency, 20, 953, 21, planted, args.seed)
    del adjacency

    t = time.perf_counter()
    adjacency, planted, per = clustered(64, 1000, 38, 5, args.seed)
    print(f"(clustered graph built in {time.perf_counter() - t:.1f} s)")
    run("clustered 64 x 1000", adjacency, per, 1024, 64, planted, args.seed)
    del adjacency

    t = time.perf_counter()
    adjacency = random_graph(80_000, 400, args.seed)
    print(f"\n(random graph built in {time.perf_counter() - t:.1f} s)")
    run("random 80,000 x 400", adjacency, 400, 1024, 80, None, args.seed)
    del adjacency

    if args.large:
        t = time.perf_counter()
        adjacency = random_graph(1_000_000, 100, args.seed)
        print(f"\n(large graph built in {time.perf_counter() - t:.1f} s)")
        run("random 1,000,000 x 100", adjacency, 100, 1024, math.ceil(1_000_000 / 1024), None,
            args.seed)


if __name__ == "__main__":
    main()
