"""Multilevel min-cut graph partitioning under hard per-part capacities (the ``mincut`` strategy).

:func:`mincut_parts` splits the vertices of a weighted undirected graph into parts so that the
total weight of the edges between parts (the *cut*: spike messages that must cross between cores)
is small, while every part stays within every capacity (neurons, synapse memory, ...) of a core.
It is METIS-style multilevel partitioning written with NumPy and SciPy only, vectorised so that no
Python loop runs over the vertices or edges of a large graph (loops run over levels, passes and
parts; over vertices only in the initial partition of the coarsest graph and for the few
vertices that overflow into extra parts).

1. **Coarsening** by heavy-edge matching, vectorised as locally-dominant matching: each unmatched
   vertex proposes to the unmatched neighbour of best rating ``w(u, v) / (size(u) * size(v))``
   (heavy edges between light vertices; ``size`` is the largest share of the merge limit; a
   symmetric pseudo-random tie-break makes the order of edges total, so every round matches at
   least the heaviest edge), mutual proposals are matched, for ``MATCH_ROUNDS`` rounds. Vertices
   left over that share their heaviest neighbour (leaves of a hub), and vertices without edges,
   are then paired two by two. No pair may weigh more than ``1.5 / coarsen_to`` of the total
   load in any resource, nor more than a capacity. Pairs are contracted into ``P^T A P`` (their
   rows stacked, columns renamed, duplicates summed: cheaper than two sparse products). Levels
   repeat until ``coarsen_to = max(10 * n_parts, 200)`` vertices remain or a level keeps more
   than 90 % of them.

   Dense graphs (over a million entries and 32 per vertex) are matched on a sparsified copy: each
   row keeps 16 systematic samples of its entries (drawn with probability proportional to weight,
   each worth ``row sum / 16``; or, when all weights are within a factor of 4, drawn evenly, each
   worth ``weight * row length / 16``, which reads only the samples), rows of up to 32 entries
   are kept exactly, and the copy is symmetrised. The estimate is unbiased and costs a few passes
   over the rows where an exact ``P^T A P`` per level would not shrink (a random graph keeps its
   number of entries level after level until it is dense). The coarse graphs are contractions of
   such copies; a coarse graph that becomes dense again is replaced by its own copy (with 8
   samples per row above ``LARGE_COARSE`` vertices).

2. **Initial partition** of the coarsest graph by recursive bisection: each bisection grows one
   side from a seed by the FM gain ``2 * connection - degree`` up to its share of the load, then
   refines it (sequential Fiduccia-Mattheyses with rollback on a dense matrix for graphs of up to
   ``DENSE_FM`` vertices, else the refinement below), keeping each side within its parts'
   capacities and 3 % of its share; the better of two seeds is kept. With many parts the
   recursion stops at groups of ``ceil(n_parts / 64)`` parts, grown one after the other.

3. **Uncoarsening** level by level: the partition is projected, parts over capacity hand their
   cheapest vertices to parts with room, and the partition is refined by label propagation after
   Jet (Gilbert et al., 2024): every vertex with a positive gain is offered to its best-connected
   other part; a move is kept only if it still gains once the neighbours that gain more have
   moved (the "afterburner", which stops neighbours from swapping back and forth); moves go
   ahead, best first, while their part has room counting what leaves it; then the parts over
   capacity are rebalanced by moving out their vertices of least loss per unit of load. Moving
   then rebalancing lets full parts trade vertices. The best partition seen (least overload, then
   smallest cut) is kept, so refinement never makes the cut worse. The finest level is refined on
   the exact graph, or, above ``EXACT_REFINE_NNZ`` entries, on its sparsified copy with moves
   that gain at least three samples' worth, every pass checked on a sample of the exact graph's
   rows and then measured exactly, and applied only if it lowers the exact cut.

Capacities are hard: every part of the result respects every capacity. ``n_parts`` is first
raised to the lower bound ``ceil(total / capacity)`` of every resource. When the parts cannot hold
the vertices even so (they do not pack), the vertices left over go to new parts: the result then
has ``k > n_parts`` parts, numbered ``0..k-1`` and all within capacity, and the caller reads ``k``
from it; parts beyond ``n_parts`` are dissolved again whenever the others can take their
vertices. No part is ever emptied, so ``k`` is ``n_parts`` whenever that many parts suffice
(``n`` if the graph has fewer vertices than parts). Parts are not balanced beyond their
capacities: a part may be much lighter than the others when that lowers the cut. The result is
deterministic for a given ``seed``.
"""

from __future__ import annotations

import itertools
import logging
import math
import numbers

import numpy as np
import scipy.sparse as sp

log = logging.getLogger("nmgraph.compile")

#: Largest graph (adjacency entries) that also gets METIS's partition as a start.
METIS_MAX_NNZ = 4_000_000

__all__ = ["cut_weight", "mincut_parts"]

#: Samples per row of the sparsified graph that dense levels are matched on.
SAMPLES_PER_ROW = 16
#: A level is sparsified for matching when it has more entries than this and than
#: ``DENSE_PER_SAMPLE`` per sample of a row.
DENSE_PER_SAMPLE = 2
#: Coarse levels with more vertices than this keep half as many samples per row (speed).
LARGE_COARSE = 250_000
SPARSIFY_MIN_NNZ = 1_000_000
#: Above this many entries the finest level is refined on its sparsified copy (each pass is
#: still measured on the exact graph).
EXACT_REFINE_NNZ = 8_000_000
#: Coarsening stops at about this many vertices per part (and 200 at least).
COARSEN_PER_PART = 10
#: Bisections of graphs up to this many vertices are refined by sequential FM on a dense matrix.
DENSE_FM = 2000
#: Seeds tried per bisection of a small graph.
BISECT_TRIES = 2
#: Rounds of mutual-proposal matching per level.
MATCH_ROUNDS = 4
#: Coarsening stops when a level keeps more than this fraction of the vertices.
STALL_RATIO = 0.9
MAX_LEVELS = 64
#: Imbalance tolerated by a bisection of the initial partition (within the capacity of its parts).
IMBALANCE = 0.03
#: Rows of a large graph are processed in blocks of about this many entries (bounded memory).
BLOCK_NNZ = 1 << 22


def mincut_parts(adjacency: sp.csr_matrix, vertex_weights: np.ndarray, capacities: np.ndarray,
                 n_parts: int, seed: int = 0) -> np.ndarray:
    """Partition a graph into parts within capacity, minimising the weight of the cut edges.

    Parameters
    ----------
    adjacency
        Symmetric ``(n, n)`` sparse matrix of non-negative edge weights (expected messages between
        two vertices); the diagonal is ignored, symmetry is not checked. Any SciPy sparse format;
        a canonical float64 CSR matrix is used as is, without a copy.
    vertex_weights
        ``(n, r)`` (or ``(n,)`` for one resource) non-negative resource use of each vertex.
    capacities
        ``(r,)`` maximum total use of each resource in one part; ``np.inf`` for no limit.
    n_parts
        Number of parts wanted (at least 1).
    seed
        Seed of the random choices (tie-breaks, sampling, growth seeds).

    Returns
    -------
    numpy.ndarray
        int64 ``(n,)`` part of each vertex, numbered ``0..k-1`` with every part non-empty. ``k`` is
        ``min(n_parts, n)`` whenever that many parts can hold the graph, and larger only when they
        cannot: every part respects every capacity, always.

    Raises
    ------
    ValueError
        On malformed input, or when a single vertex exceeds a capacity on its own.
    """
    adj, weights, caps, n_parts, even = _check(adjacency, vertex_weights, capacities, n_parts)
    n = adj.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    fit = _fit_capacities(weights, caps)
    # A vertex within a hair of a capacity counts as exactly ``fit``: it fits alone, and with
    # nothing but vertices of zero weight, as it does in truth.
    exact_weights, weights = weights, np.minimum(weights, fit)
    total = weights.sum(axis=0)
    finite = np.isfinite(fit)
    need = np.ceil(total[finite] / fit[finite] - 1e-9).max() if finite.any() else 1
    n_parts = int(min(n, max(n_parts, need)))
    rng = np.random.default_rng(seed)
    coarsen_to = max(COARSEN_PER_PART * n_parts, 200)
    limit = np.minimum(fit, 1.5 * total / coarsen_to)

    graphs, level_weights, maps = [adj], [weights], []
    finest = adj  # what the finest level is refined on (a sparsified copy for big dense graphs)
    while graphs[-1].shape[0] > coarsen_to and len(maps) < MAX_LEVELS:
        graph, w = graphs[-1], level_weights[-1]
        matched_on = graph
        if _is_dense(graph):
            t = SAMPLES_PER_ROW
            if maps and graph.shape[0] > LARGE_COARSE:
                t //= 2  # a big coarse level: its entries already sum many samples
            matched_on = _sparsify(graph, t, rng, uniform=even and not maps)
        if not maps:
            if adj.nnz > EXACT_REFINE_NNZ:
                finest = matched_on
        elif matched_on is not graph:
            graphs[-1] = graph = matched_on  # a coarse graph is an estimate: keep the lighter one
        cmap, n_coarse = _match(matched_on, w, limit, rng)
        if n_coarse > STALL_RATIO * graph.shape[0]:
            break
        graphs.append(_contract(matched_on, cmap, n_coarse))
        level_weights.append(_sum_rows(w, cmap, n_coarse))
        maps.append(cmap)
        del matched_on

    part = _initial_partition(graphs[-1], level_weights[-1], fit, n_parts, rng)
    k = n_parts
    for level in range(len(maps), -1, -1):
        graph, w = graphs.pop(), level_weights.pop()
        exact = None
        if level < len(maps):
            part = part[maps[level]]
        min_gain = 0.0
        if level == 0 and finest is not adj:
            graph, exact = finest, adj
            # A move must gain three samples' worth (a row holds about 2 * 16 of them).
            min_gain = 3.0 * np.asarray(graph.sum(axis=1)).ravel() / (2 * SAMPLES_PER_ROW)
        part = _rebalance(graph, w, part, k, fit)
        if level == 0:
            part, k = _overflow(graph, w, part, k, fit)
            part, k = _dissolve(graph, w, part, k, n_parts, fit)
        part = _refine(graph, w, part, k, fit, _passes_for(graph), exact, min_gain)
    part = np.unique(part, return_inverse=True)[1].astype(np.int64).reshape(-1)
    _verify(part, exact_weights, caps)
    seeded = _metis_start(adj, weights, fit, n_parts, seed)
    if seeded is not None:   # METIS's partition under the same repair: keep the smaller cut
        k = int(seeded.max()) + 1
        exact = adj if finest is not adj else None
        min_gain = (3.0 * np.asarray(finest.sum(axis=1)).ravel() / (2 * SAMPLES_PER_ROW)
                    if exact is not None else 0.0)
        seeded = _rebalance(finest, weights, seeded, k, fit)
        seeded, k = _overflow(finest, weights, seeded, k, fit)
        seeded, k = _dissolve(finest, weights, seeded, k, n_parts, fit)
        seeded = _refine(finest, weights, seeded, k, fit, _passes_for(finest), exact, min_gain)
        seeded = np.unique(seeded, return_inverse=True)[1].astype(np.int64).reshape(-1)
        _verify(seeded, exact_weights, caps)
        if int(seeded.max()) == int(part.max()) and cut_weight(adj, seeded) < cut_weight(adj, part):
            log.debug("mincut: METIS's start under nmgraph's repair wins")
            part = seeded
    return part


def _metis_start(adj: sp.csr_matrix, weights: np.ndarray, fit: np.ndarray, n_parts: int,
                 seed: int) -> np.ndarray | None:
    """METIS's k-way partition (pymetis) of the graph, as a start for the capacity repair; one
    vertex weight (its largest share of any capacity, so METIS balances what binds) and integer
    edge weights. None when pymetis is not installed, the graph is trivial, or it has more than
    ``METIS_MAX_NNZ`` adjacency entries (there METIS and the second repair cost more than the
    multilevel partition itself: Brunel 20k x 400 took 31 s instead of 7 s, for the same cores)."""
    if n_parts < 2 or adj.shape[0] <= n_parts or adj.nnz == 0 or adj.nnz > METIS_MAX_NNZ:
        return None
    try:
        import pymetis
    except ImportError:
        return None
    graph = adj.tocoo()
    keep = graph.row != graph.col
    graph = sp.csr_matrix((graph.data[keep], (graph.row[keep], graph.col[keep])), shape=adj.shape)
    finite = np.isfinite(fit)
    share = (weights[:, finite] / fit[finite]).max(axis=1) if finite.any() else \
        np.ones(adj.shape[0])
    vweights = np.maximum(1, np.rint(1000 * share)).astype(np.int64)
    scale = 1000.0 / max(float(graph.data.max()), 1e-300) if graph.nnz else 1.0
    eweights = np.maximum(1, np.rint(graph.data * scale)).astype(np.int64)
    options = pymetis.Options(seed=int(seed) % 2**31)
    adjacency = pymetis.CSRAdjacency(adj_starts=graph.indptr, adjacent=graph.indices)
    _, part = pymetis.part_graph(int(n_parts), adjacency=adjacency, vweights=vweights,
                                 eweights=eweights, options=options)
    part = np.asarray(part, dtype=np.int64)
    return np.unique(part, return_inverse=True)[1].astype(np.int64).reshape(-1)


def cut_weight(adjacency: sp.spmatrix, parts: np.ndarray) -> float:
    """Total weight of the edges whose endpoints lie in different parts (each edge counted once).

    ``adjacency`` is the symmetric matrix given to :func:`mincut_parts`; its diagonal is ignored.
    """
    adj = sp.csr_matrix(adjacency)
    parts = np.asarray(parts)
    total = 0.0
    for r0, r1 in _row_blocks(adj.indptr):
        s, e = int(adj.indptr[r0]), int(adj.indptr[r1])
        rows = _rows(adj.indptr[r0:r1 + 1] - s) + r0
        total += float(adj.data[s:e][parts[rows] != parts[adj.indices[s:e]]].sum())
    return total / 2.0


# --------------------------------------------------------------------------------------- input


def _check(adjacency, vertex_weights, capacities, n_parts):
    if not sp.issparse(adjacency):
        raise ValueError("adjacency must be a scipy sparse matrix "
                         f"(got {type(adjacency).__name__})")
    adj = adjacency if isinstance(adjacency, sp.csr_matrix) else sp.csr_matrix(adjacency)
    if adj.ndim != 2 or adj.shape[0] != adj.shape[1]:
        raise ValueError(f"adjacency must be square (got shape {adj.shape})")
    n = adj.shape[0]
    if adj.dtype != np.float64:
        adj = adj.astype(np.float64)
    if not adj.has_canonical_format:
        adj = adj.copy()
        adj.sum_duplicates()
    even = True  # every weight within a factor of 4 of every other (cheap sampling is fine)
    if adj.nnz:
        low, high = adj.data.min(), adj.data.max()
        if np.isnan(low) or np.isnan(high) or low < 0 or high == np.inf:
            raise ValueError("adjacency weights must be finite and non-negative")
        even = bool(high <= 4.0 * low)
        if adj.diagonal().any():
            rows = _rows(adj.indptr)
            off = rows != adj.indices
            counts = np.bincount(rows[off], minlength=n)
            indptr = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(counts, out=indptr[1:])
            adj = sp.csr_matrix((adj.data[off], adj.indices[off], indptr), shape=(n, n))
            del rows, off

    weights = np.asarray(vertex_weights, dtype=np.float64)
    if weights.ndim == 1:
        weights = weights[:, None]
    if weights.ndim != 2 or weights.shape[0] != n:
        raise ValueError(f"vertex_weights must have shape ({n}, r) (got {weights.shape})")
    if not np.isfinite(weights).all() or (weights < 0).any():
        raise ValueError("vertex_weights must be finite and non-negative")
    caps = np.asarray(capacities, dtype=np.float64).reshape(-1)
    if caps.shape != (weights.shape[1],):
        raise ValueError(f"capacities must have shape ({weights.shape[1]},) (got {caps.shape})")
    if np.isnan(caps).any() or (caps <= 0).any():
        raise ValueError("capacities must be positive (np.inf for no limit)")
    if isinstance(n_parts, bool) or not isinstance(n_parts, numbers.Integral) or n_parts < 1:
        raise ValueError(f"n_parts must be a positive integer (got {n_parts!r})")
    if n:
        over = weights > caps
        if over.any():
            vertex, resource = np.argwhere(over)[0]
            raise ValueError(f"vertex {vertex} needs {weights[vertex, resource]:g} of resource "
                             f"{resource} but a part holds at most {caps[resource]:g}")
    return adj, weights, caps, int(n_parts), even


def _fit_capacities(weights: np.ndarray, caps: np.ndarray) -> np.ndarray:
    """Capacities the partitioner checks sums against: exact for integer weights, else a hair
    below ``caps`` so that float rounding in a sum cannot carry a part over its capacity."""
    if np.array_equal(weights, np.round(weights)) and weights.sum() < 2.0 ** 52:
        return np.floor(caps)
    return caps * (1.0 - 1e-9)


def _verify(part: np.ndarray, weights: np.ndarray, caps: np.ndarray) -> None:
    k = int(part.max()) + 1 if part.size else 0
    loads = _loads(weights, part, k)
    if (loads > caps).any():  # pragma: no cover - a bug, never user input
        raise RuntimeError("mincut_parts produced a part over capacity")


# ------------------------------------------------------------------------------------ helpers


def _rows(indptr: np.ndarray) -> np.ndarray:
    """Row index of every entry of a CSR structure."""
    n = indptr.size - 1
    dtype = np.int32 if n < 2 ** 31 else np.int64
    return np.repeat(np.arange(n, dtype=dtype), np.diff(indptr))


def _row_blocks(indptr: np.ndarray, block_nnz: int = BLOCK_NNZ):
    """``(r0, r1)`` ranges of rows holding about ``block_nnz`` entries each."""
    n = indptr.size - 1
    if n == 0:
        return []
    nnz = int(indptr[-1])
    cuts = np.searchsorted(indptr, np.arange(block_nnz, nnz, block_nnz), side="left")
    bounds = np.unique(np.concatenate([[0], cuts, [n]]))
    return list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))


def _row_block(graph: sp.csr_matrix, r0: int, r1: int) -> sp.csr_matrix:
    """Rows ``r0:r1`` as a CSR matrix sharing the data of ``graph``."""
    s, e = int(graph.indptr[r0]), int(graph.indptr[r1])
    return sp.csr_matrix((graph.data[s:e], graph.indices[s:e], graph.indptr[r0:r1 + 1] - s),
                         shape=(r1 - r0, graph.shape[1]))


def _row_argmax(indptr: np.ndarray, key: np.ndarray, rows: np.ndarray):
    """Per row: position of the first largest finite ``key`` (-1 if none) and its value."""
    n = indptr.size - 1
    value = np.full(n, -np.inf)
    pos = np.full(n, -1, dtype=np.int64)
    if key.size == 0:
        return pos, value
    nonempty = np.flatnonzero(indptr[1:] > indptr[:-1])
    value[nonempty] = np.maximum.reduceat(key, indptr[:-1][nonempty])
    hit = np.flatnonzero((key == value[rows]) & (key > -np.inf))
    if hit.size:
        r = rows[hit]
        first = np.ones(hit.size, dtype=bool)
        first[1:] = r[1:] != r[:-1]
        pos[r[first]] = hit[first]
    value[pos < 0] = -np.inf
    return pos, value


def _group_starts(sorted_keys: np.ndarray) -> np.ndarray:
    """Index of the first element of each run of equal values."""
    if sorted_keys.size == 0:
        return np.zeros(0, dtype=np.int64)
    change = np.ones(sorted_keys.size, dtype=bool)
    change[1:] = sorted_keys[1:] != sorted_keys[:-1]
    return np.flatnonzero(change)


def _rank_in_group(sorted_keys: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... within each run of equal values."""
    starts = _group_starts(sorted_keys)
    lengths = np.diff(np.append(starts, sorted_keys.size))
    return np.arange(sorted_keys.size) - np.repeat(starts, lengths)


def _group_cumsum(values: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """Running sum of ``values`` restarting at each run of equal ``sorted_keys``."""
    csum = np.cumsum(values)
    starts = _group_starts(sorted_keys)
    lengths = np.diff(np.append(starts, sorted_keys.size))
    return csum - np.repeat(csum[starts] - values[starts], lengths)


def _loads(weights: np.ndarray, part: np.ndarray, k: int) -> np.ndarray:
    """``(k, r)`` total weight of each part."""
    return np.stack([np.bincount(part, weights=weights[:, j], minlength=k)
                     for j in range(weights.shape[1])], axis=1).reshape(k, weights.shape[1])


def _sum_rows(weights: np.ndarray, cmap: np.ndarray, n_coarse: int) -> np.ndarray:
    return _loads(weights, cmap, n_coarse)


def _onehot(part: np.ndarray, k: int) -> sp.csr_matrix:
    n = part.size
    return sp.csr_matrix((np.ones(n), part, np.arange(n + 1)), shape=(n, k))


def _passes_for(graph: sp.csr_matrix) -> int:
    if graph.nnz <= 1_000_000:
        return 12
    if graph.nnz <= 16_000_000:
        return 6
    return 3


# ---------------------------------------------------------------------------------- coarsening


def _is_dense(graph: sp.csr_matrix) -> bool:
    return graph.nnz > max(SPARSIFY_MIN_NNZ, DENSE_PER_SAMPLE * SAMPLES_PER_ROW * graph.shape[0])


def _sparsify(graph: sp.csr_matrix, t: int, rng: np.random.Generator,
              uniform: bool = False) -> sp.csr_matrix:
    """An unbiased sparse estimate of ``graph``. Rows with more than ``2 t`` entries keep ``t``
    systematic samples, drawn with probability proportional to weight and each worth
    ``row sum / t`` (or, with ``uniform``, for graphs whose weights are all within a factor of a
    few, drawn evenly and each worth ``weight * row length / t``, which reads only the samples);
    shorter rows are kept exactly. The result is symmetrised as ``(S + S^T) / 2``."""
    n = graph.shape[0]
    indptr = graph.indptr.astype(np.int64)
    degree = np.diff(indptr)
    sampled = degree > 2 * t
    out_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.where(sampled, t, degree), out=out_ptr[1:])
    out_cols = np.empty(int(out_ptr[-1]), dtype=graph.indices.dtype)
    out_vals = np.empty(int(out_ptr[-1]))
    steps = np.arange(t)
    if not sampled.all():  # short rows, exactly
        for r0, r1 in _row_blocks(indptr):
            if sampled[r0:r1].all():
                continue
            s, e = int(indptr[r0]), int(indptr[r1])
            local = _rows(indptr[r0:r1 + 1] - s)
            src = np.flatnonzero(~sampled[r0:r1][local])
            row = local[src] + r0
            dest = out_ptr[row] + (src + s - indptr[row])
            out_cols[dest] = graph.indices[s + src]
            out_vals[dest] = graph.data[s + src]
    heavy = np.flatnonzero(sampled)
    if uniform and heavy.size:
        offset = rng.random(heavy.size)
        pos = indptr[heavy][:, None] + np.floor(
            (steps[None, :] + offset[:, None]) / t * degree[heavy][:, None]).astype(np.int64)
        dest = (out_ptr[heavy][:, None] + steps[None, :]).ravel()
        pos = pos.ravel()
        out_cols[dest] = graph.indices[pos]
        out_vals[dest] = graph.data[pos] * np.repeat(degree[heavy] / t, t)
    elif heavy.size:
        buffer = np.empty(min(int(indptr[-1]), 2 * BLOCK_NNZ))
        for r0, r1 in _row_blocks(indptr):
            s, e = int(indptr[r0]), int(indptr[r1])
            rows = np.flatnonzero(sampled[r0:r1])
            if rows.size == 0:
                continue
            data = graph.data[s:e]
            if buffer.size < data.size:
                buffer = np.empty(data.size)
            cum = np.cumsum(data, out=buffer[:data.size])
            start, stop = indptr[r0 + rows] - s, indptr[r0 + rows + 1] - s
            before = np.where(start > 0, cum[np.maximum(start - 1, 0)], 0.0)
            row_sum = cum[stop - 1] - before
            offset = rng.random(rows.size)
            where = before[:, None] + (steps[None, :] + offset[:, None]) / t * row_sum[:, None]
            pos = np.searchsorted(cum, where.ravel(), side="right")
            pos = np.clip(pos, np.repeat(start, t), np.repeat(stop - 1, t))
            dest = (out_ptr[r0 + rows][:, None] + steps[None, :]).ravel()
            out_cols[dest] = graph.indices[s:e][pos]
            out_vals[dest] = np.repeat(row_sum / t, t)
    out_vals *= 0.5
    half = sp.csr_matrix((out_vals, out_cols, out_ptr), shape=(n, n))
    half.sum_duplicates()
    both = half + half.T.tocsr()
    both.eliminate_zeros()
    return both


def _sizes(weights: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """Size of each vertex against the merge limit (its largest resource share), floored."""
    positive = limit > 0
    if positive.any():
        size = (weights[:, positive] / limit[positive]).max(axis=1)
    else:
        size = np.zeros(weights.shape[0])
    return np.maximum(size, 1e-6)


def _match(graph: sp.csr_matrix, weights: np.ndarray, limit: np.ndarray,
           rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Heavy-edge matching as rounds of mutual proposals; returns (fine -> coarse map, n_coarse)."""
    n = graph.shape[0]
    rows = _rows(graph.indptr)
    cols = graph.indices
    size = _sizes(weights, limit)
    tol = limit * (1.0 + 1e-12)
    # The graphs have no diagonal. A pair may merge if its sizes sum to at most 1 (within the
    # merge limit in every resource; a little stricter when the vertices' largest resources
    # differ); no check is needed while every vertex holds at most half the limit.
    ok = graph.data > 0
    varied = size.max() > size.min()
    check = 2.0 * size.max() > 1.0
    if varied or check:
        small = size.astype(np.float32)  # a smaller table for the gathers
        su, sv = small[rows], small[cols]
        if check:
            ok &= su + sv <= np.float32(1.0 + 1e-6)
    if ok.all():
        er, ec, key = rows, cols, graph.data.copy()
    else:
        edges = np.flatnonzero(ok)
        er, ec, key = rows[edges], cols[edges], graph.data[edges]
        if varied:
            su, sv = su[edges], sv[edges]
    del ok, rows
    # Rating: heavy edges between light vertices (all vertices of one size: the weight alone),
    # with a symmetric pseudo-random tie-break (a small table stays in cache).
    if varied:
        key /= su
        key /= sv
        del su, sv
    prio = rng.integers(0, 1 << 15, n).astype(np.uint16)
    tie = prio[er].astype(np.float64)
    tie += prio[ec]
    tie *= 1e-7 / (1 << 16)
    tie += 1.0
    key *= tie
    del tie

    match = np.full(n, -1, dtype=np.int64)
    free = np.ones(n, dtype=bool)
    anchor = np.full(n, -1, dtype=np.int64)
    for round_ in range(MATCH_ROUNDS):
        if round_:
            alive = free[er] & free[ec]
            er, ec, key = er[alive], ec[alive], key[alive]
        if er.size == 0:
            break
        starts = _group_starts(er)
        top = np.full(n, -np.inf)
        top[er[starts]] = np.maximum.reduceat(key, starts)
        hit = np.flatnonzero(key == top[er])
        first = np.ones(hit.size, dtype=bool)
        first[1:] = er[hit[1:]] != er[hit[:-1]]
        hit = hit[first]
        best = np.full(n, -1, dtype=np.int64)
        best[er[hit]] = ec[hit]
        if round_ == 0:
            anchor = best.copy()
        proposer = np.flatnonzero(best >= 0)
        mutual = proposer[(best[best[proposer]] == proposer) & (proposer < best[proposer])]
        if mutual.size == 0:
            break
        match[mutual] = best[mutual]
        match[best[mutual]] = mutual
        free[mutual] = False
        free[best[mutual]] = False

    # Two-hop pairing: unmatched vertices that share their heaviest neighbour, and vertices with
    # no edge at all, are paired two by two (lightest first) within the merge limit.
    loose = np.flatnonzero(match < 0)
    if loose.size > 1:
        group = anchor[loose]
        order = np.lexsort((size[loose], group))
        loose, group = loose[order], group[order]
        rank = _rank_in_group(group)
        i = np.flatnonzero((rank % 2 == 0)[:-1] & (group[1:] == group[:-1]))
        x, y = loose[i], loose[i + 1]
        fits = np.all(weights[x] + weights[y] <= tol, axis=1)
        x, y = x[fits], y[fits]
        match[x] = y
        match[y] = x

    ids = np.arange(n, dtype=np.int64)
    leader = np.where(match >= 0, np.minimum(ids, match), ids)
    is_leader = leader == ids
    coarse_id = np.cumsum(is_leader) - 1
    return coarse_id[leader], int(is_leader.sum())


def _contract(graph: sp.csr_matrix, cmap: np.ndarray, n_coarse: int) -> sp.csr_matrix:
    """``P^T A P`` without its diagonal: the graph of the coarse vertices. Computed as the rows
    of each coarse vertex stacked, columns renamed, duplicates summed (cheaper than two sparse
    products when coarse vertices have one or two members)."""
    order = np.argsort(cmap, kind="stable")
    stacked = graph[order]
    starts = np.zeros(n_coarse + 1, dtype=np.int64)
    np.cumsum(np.bincount(cmap, minlength=n_coarse), out=starts[1:])
    rename = cmap.astype(np.int32 if n_coarse < 2 ** 31 else np.int64)
    coarse = sp.csr_matrix((stacked.data, rename[stacked.indices], stacked.indptr[starts]),
                           shape=(n_coarse, n_coarse))
    coarse.sum_duplicates()
    rows = _rows(coarse.indptr)
    keep = rows != coarse.indices
    indptr = np.zeros(n_coarse + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows[keep], minlength=n_coarse), out=indptr[1:])
    return sp.csr_matrix((coarse.data[keep], coarse.indices[keep], indptr),
                         shape=(n_coarse, n_coarse))


# --------------------------------------------------------------------------- initial partition


def _initial_partition(graph, weights, caps, n_parts, rng):
    """Recursive bisection: each bisection splits its ``k`` parts as ``k // 2`` and the rest,
    grows one side from a seed by FM gain up to its share of the load, refines the pair (FM on a
    dense matrix for small graphs), and keeps the better of two seeds. With many parts the
    recursion stops at groups of ``ceil(n_parts / 64)`` parts, grown one after the other, so that
    there are never more than about 128 bisections."""
    n = graph.shape[0]
    part = np.zeros(n, dtype=np.int64)
    leaf = 1 if n_parts <= 128 else math.ceil(n_parts / 64)
    stack = [(np.arange(n), n_parts, 0, None)]
    while stack:
        verts, kk, base, dense = stack.pop()
        if kk == 1:
            part[verts] = base
            continue
        if dense is None and verts.size <= DENSE_FM:
            sub = graph if verts.size == n else graph[verts][:, verts]
            dense = sub.toarray()
        w = weights[verts]
        if dense is not None and kk <= leaf:
            part[verts] = base + _grow_parts(dense, w, kk, caps, rng)
            continue
        k1 = kk // 2
        if dense is not None:
            side = _bisect(dense, w, k1, kk - k1, caps, rng)
            halves = [np.flatnonzero(side == s) for s in (0, 1)]
            children = [dense[np.ix_(h, h)] for h in halves]
        else:
            side = _bisect(graph[verts][:, verts].tocsr(), w, k1, kk - k1, caps, rng)
            halves = [np.flatnonzero(side == s) for s in (0, 1)]
            children = [None, None]
        stack.append((verts[halves[0]], k1, base, children[0]))
        stack.append((verts[halves[1]], kk - k1, base + k1, children[1]))
    return part


def _bisect(graph, weights, k1, k2, caps, rng):
    """Split a graph (a dense array, or CSR when large) into sides for ``k1`` and ``k2`` parts."""
    n = graph.shape[0]
    is_dense = isinstance(graph, np.ndarray)
    total = weights.sum(axis=0)
    share = total * (k1 / (k1 + k2))
    bounds = np.stack([np.minimum(k1 * caps, share * (1.0 + IMBALANCE)),
                       np.minimum(k2 * caps, (total - share) * (1.0 + IMBALANCE))])
    degree = np.asarray(graph.sum(axis=1)).ravel()
    tries = BISECT_TRIES if 100 <= n <= DENSE_FM else 1
    best = None
    for attempt in range(tries):
        rank = rng.permutation(n)
        start = int(np.argmin(rank))
        if attempt % 2 == 1 and degree.any():
            # A far seed: the vertex least connected to the start within two steps.
            row = graph[start] if is_dense else graph[start].toarray().ravel()
            start = int(np.argmin(graph @ row + row + rank / (2.0 * n)))
        inside = _grow_region(graph, degree, weights, share, start, rank)
        side = _fix_counts((~inside).astype(np.int64), k1, k2, degree)
        if is_dense:
            side = _fm_bisection(graph, degree, weights, side, bounds, (k1, k2))
        else:
            side = _refine(graph, weights, side, 2, bounds, 6)
        side = _fix_counts(side, k1, k2, degree)
        loads = _loads(weights, side, 2)
        with np.errstate(invalid="ignore"):
            over = np.nansum(np.maximum(loads - bounds, 0) / np.maximum(bounds, 1e-300))
        if tries == 1:
            return side
        one = (side == 1).astype(np.float64)
        cut = float((1.0 - one) @ (graph @ one))
        if best is None or (over, cut) < best[0]:
            best = ((over, cut), side)
    return best[1]


def _grow_parts(dense, weights, kk, caps, rng):
    """Greedy graph growing of ``kk`` parts one after the other, each up to an even share of what
    is left (within ``caps``); the last part takes the rest."""
    n = dense.shape[0]
    degree = dense.sum(axis=1)
    rank = rng.permutation(n)
    part = np.full(n, kk - 1, dtype=np.int64)
    taken = np.zeros(n, dtype=bool)
    for p in range(kk - 1):
        free = np.flatnonzero(~taken)
        if free.size <= kk - p:  # one vertex for each part left
            part[free[: kk - 1 - p]] = np.arange(p, kk - 1)
            taken[free[: kk - 1 - p]] = True
            break
        share = weights[free].sum(axis=0) / (kk - p)
        start = int(free[np.argmin(rank[free])])
        inside = _grow_region(dense, degree, weights, np.minimum(caps, share), start, rank, taken)
        if not inside.any():
            inside[start] = True
        extra = int(inside.sum()) - (free.size - (kk - 1 - p))
        if extra > 0:  # leave a vertex for each later part
            inside[np.flatnonzero(inside)[-extra:]] = False
        part[inside] = p
        taken |= inside
    return part


def _grow_region(graph, degree, weights, limit, start, rank, taken=None):
    """Greedy graph growing on a CSR matrix or a dense array: add the vertex of best FM gain
    ``2 * connection - degree`` while it fits within ``limit``; restart from a new seed when the
    frontier is exhausted. Vertices in ``taken`` are left out."""
    n = graph.shape[0]
    is_dense = isinstance(graph, np.ndarray)
    if not is_dense:
        indptr, indices, data = graph.indptr, graph.indices, graph.data
    inside = np.zeros(n, dtype=bool)
    dead = np.zeros(n, dtype=bool) if taken is None else taken.copy()
    load = np.zeros(weights.shape[1])
    conn = np.zeros(n)
    gain = np.full(n, -np.inf)
    v = start if np.all(weights[start] <= limit) and not dead[start] else -1
    while True:
        if v < 0:
            cand = np.flatnonzero(~inside & ~dead & np.all(weights <= limit - load, axis=1))
            if cand.size == 0:
                break
            v = int(cand[np.argmin(rank[cand])])
        inside[v] = True
        load += weights[v]
        if is_dense:
            conn += graph[v]
            gain = 2.0 * conn - degree
            gain[inside | dead | (conn <= 0)] = -np.inf
        else:
            gain[v] = -np.inf
            s, e = indptr[v], indptr[v + 1]
            nb = indices[s:e]
            conn[nb] += data[s:e]
            nb = nb[~inside[nb] & ~dead[nb]]
            gain[nb] = 2.0 * conn[nb] - degree[nb]
        v = -1
        while True:
            u = int(np.argmax(gain))
            if gain[u] == -np.inf:
                break
            if np.all(load + weights[u] <= limit):
                v = u
                break
            nofit = np.any(weights > limit - load, axis=1)
            dead |= nofit
            gain[nofit] = -np.inf
    return inside


def _fm_bisection(dense, degree, weights, side, bounds, need, max_passes=2, patience=40):
    """Fiduccia-Mattheyses refinement of a bisection of a small graph (dense adjacency): move the
    free vertex of best gain whose side has room (or whose own side is over its bound), lock it,
    and after ``patience`` moves without a better state roll back to the best state seen (least
    overload, then smallest cut). Each side keeps at least ``need[side]`` vertices."""
    n = side.size
    limited = _limited(bounds)
    w = weights[:, limited]
    cap = bounds[:, limited]
    scale = np.where(cap > 0, cap, 1.0)
    side = side.copy()
    for _ in range(max_passes):
        loads = _loads(weights, side, 2)[:, limited]
        counts = np.bincount(side, minlength=2)
        sign = np.where(side == 0, 1.0, -1.0)  # +1 on side 0, -1 on side 1
        gain = sign * (2.0 * (dense @ (side == 1).astype(np.float64)) - degree)
        # ``gain + mask[s]`` is the gain of the free vertices of side ``s``, -inf elsewhere.
        mask = np.full((2, n), -np.inf)
        mask[0, side == 0] = 0.0
        mask[1, side == 1] = 0.0
        moves = []
        total = 0.0
        best = (float((np.maximum(loads - cap, 0.0) / scale).sum()), 0.0)
        best_len = 0
        for _ in range(min(n, n // 4 + patience)):
            room = cap - loads
            over = (room < 0).any(axis=1)
            pick, pick_gain = -1, -np.inf
            for a in (0, 1):
                if counts[a] <= need[a]:
                    continue
                key = gain + mask[a]
                u = int(np.argmax(key))
                if key[u] == -np.inf:
                    continue
                if not over[a] and (w[u] > room[1 - a]).any():
                    key[np.any(w > room[1 - a], axis=1)] = -np.inf
                    u = int(np.argmax(key))
                    if key[u] == -np.inf:
                        continue
                if key[u] > pick_gain:
                    pick, pick_gain = u, key[u]
            if pick < 0:
                break
            v = pick
            a = side[v]
            total += gain[v]
            gain += (2.0 * sign[v]) * sign * dense[v]
            gain[v] = -gain[v] + 2.0 * dense[v, v]
            side[v] = 1 - a
            sign[v] = -sign[v]
            mask[a, v] = -np.inf
            loads[a] -= w[v]
            loads[1 - a] += w[v]
            counts[a] -= 1
            counts[1 - a] += 1
            moves.append(v)
            score = (float((np.maximum(loads - cap, 0.0) / scale).sum()), -total)
            if score < best:
                best, best_len = score, len(moves)
            elif len(moves) - best_len >= patience:
                break
        for v in moves[best_len:]:
            side[v] = 1 - side[v]
        if best_len == 0:
            break
    return side


def _fix_counts(side, k1, k2, degree):
    """Make side 0 hold at least ``k1`` vertices and side 1 at least ``k2`` (one per part)."""
    for s, need in ((0, k1), (1, k2)):
        short = need - int((side == s).sum())
        if short > 0:
            donors = np.flatnonzero(side != s)
            side = side.copy()
            side[donors[np.argsort(degree[donors], kind="stable")[:short]]] = s
    return side


def _normalised(values: np.ndarray, caps: np.ndarray) -> np.ndarray:
    """Largest share of a finite capacity (or the plain largest value if none is finite)."""
    finite = np.isfinite(caps)
    if finite.any():
        return (values[..., finite] / caps[finite]).max(axis=-1)
    return values.max(axis=-1) if values.shape[-1] else np.zeros(values.shape[:-1])


def _room(loads: np.ndarray, caps: np.ndarray) -> np.ndarray:
    """Per part (rows of ``loads``), the smallest share of a finite capacity left free (minus the
    total load if no capacity is finite). ``caps`` is ``(r,)`` or per part ``(k, r)``."""
    caps = np.broadcast_to(caps, loads.shape)
    finite = np.isfinite(caps).all(axis=0)
    if finite.any():
        return ((caps[:, finite] - loads[:, finite]) / caps[:, finite]).min(axis=1)
    return -loads.sum(axis=1)


# -------------------------------------------------------------------------------- refinement


def _refine(graph, weights, part, k, caps, max_passes, exact=None, min_gain=0.0):
    """Label propagation with conflict filtering and rebalancing (after Jet, Gilbert et al. 2024).

    Each pass offers every vertex with a positive gain to its best-connected other part, keeps a
    move only if it still gains once the neighbours that gain more have moved (the
    "afterburner"), applies the moves regardless of capacity (never emptying a part, and not
    moving back a vertex moved by the previous pass), then moves the cheapest vertices out of
    parts over capacity into parts with room. Moving freely and then rebalancing lets full parts
    trade vertices. The exact change of the cut of every pass is measured on ``exact`` (default:
    ``graph``; the finest level of a dense graph is refined on its sparsified copy and measured on
    the real one) and the best partition seen, least overload first and then smallest cut, is
    returned: never worse than the input. ``caps`` is ``(r,)`` or per part ``(k, r)``. Moves
    must gain more than ``min_gain`` (per vertex; on a sparsified copy, a few samples' worth, so
    that the refinement does not chase the noise of the sampling)."""
    if k < 2 or graph.nnz == 0:
        return part
    exact = graph if exact is None else exact
    caps = np.broadcast_to(np.asarray(caps, dtype=np.float64), (k, weights.shape[1]))
    limited = _limited(caps)

    def overload(p):
        if limited.size == 0:
            return 0.0
        loads = _loads(weights, p, k)[:, limited]
        return float((np.maximum(loads - caps[:, limited], 0.0) / caps[:, limited]).sum())

    total = float(graph.data.sum())
    tol = 1e-12 * max(total, 1.0)
    # Passes stop after ``patience`` passes that each lower the cut by less than ``enough``.
    if graph.nnz > 1_000_000:
        patience, enough = 1, 1e-2
    elif graph.nnz > 200_000:
        patience, enough = 1, 3e-3
    else:
        patience, enough = 2, 1e-3
    # The cut is read off the connections computed at the start of each pass on small graphs;
    # on larger ones the change of each pass is measured on the rows that changed (on the exact
    # graph when ``graph`` is a sparsified copy, and only when the copy foresees a gain).
    measured = exact is graph and graph.nnz <= 200_000
    best, best_score, stale = part, None, 0

    def judge(candidate, value, cut):
        nonlocal best, best_score, stale
        score = (overload(candidate), value)
        if best_score is None:
            best, best_score = candidate, score
            return
        if score[0] < best_score[0] - 1e-12 or (
                score[0] <= best_score[0] + 1e-12 and score[1] < best_score[1] - tol):
            significant = (score[0] < 0.9 * best_score[0] - 1e-12
                           or best_score[1] - score[1] > enough * cut)
            best, best_score = candidate, score
            stale = 0 if significant else stale + 1
        else:
            stale += 1

    change = 0.0  # cut of ``part`` minus cut of the input (when not measured)
    locked = np.zeros(part.size, dtype=bool)
    if not measured:
        judge(part, 0.0, 0.0)
    for it in range(max_passes + 1):
        if not measured and it == max_passes:
            break
        conn, internal, dest, gain = _best_moves(graph, part, k)
        cut = (total - internal.sum()) / 2.0
        if measured:
            judge(part, cut, cut)
        if it == max_passes or stale >= patience or cut <= tol:
            break
        cand = np.flatnonzero((gain > np.maximum(min_gain, tol)) & ~locked)
        if cand.size:
            cand, better = _afterburner(graph, part, cand, dest, gain)
            src = part[cand]
            order = np.lexsort((-better, src))
            counts = np.bincount(part, minlength=k)
            keep = order[_rank_in_group(src[order]) < counts[src[order]] - 1]
            cand, better = cand[keep], better[keep]
            cand = _admit(part, cand, dest[cand], better, weights, caps, k)
        new = part.copy()
        new[cand] = dest[cand]
        new = _rebalance(graph, weights, new, k, caps, conn)
        changed = np.flatnonzero(new != part)
        if changed.size == 0:
            break
        if not measured:
            delta = _cut_change(graph, part, changed, new[changed])
            if exact is not graph and overload(new) >= overload(part) - 1e-12:
                # Measuring on the exact graph is paid only if the copy foresees a gain that
                # an estimate from one row in eight of the exact graph confirms.
                if delta > -enough * cut or (changed.size >= 4096 and _cut_change(
                        exact, part, changed, new[changed], stride=8) > -0.5 * enough * cut):
                    break
            if exact is not graph:
                delta = _cut_change(exact, part, changed, new[changed])
            change += delta
            judge(new, change, cut)
            if stale >= patience:
                break
        part = new
        locked[:] = False
        locked[cand] = True
    return best


def _admit(part, verts, to, gain, weights, caps, k):
    """The moves, best gain first, that fit each destination's free room plus what the moves
    leave behind there (a part may fill up with vertices while as many leave it); whatever
    overflows because some departure did not happen is left to the rebalancing."""
    limited = _limited(caps)
    if verts.size == 0 or limited.size == 0:
        return verts
    loads = _loads(weights, part, k)
    order = np.lexsort((-gain, to))
    dst = to[order]
    ok = np.ones(order.size, dtype=bool)
    for j in limited:
        leaving = np.bincount(part[verts], weights=weights[:, j][verts], minlength=k)
        arriving = _group_cumsum(weights[:, j][verts[order]], dst)
        ok &= loads[dst, j] + arriving <= caps[dst, j] + leaving[dst]
    return verts[order[ok]]


def _apply_loads(loads, weights, src, dst, verts):
    for j in range(weights.shape[1]):
        np.subtract.at(loads[:, j], src, weights[verts, j])
        np.add.at(loads[:, j], dst, weights[verts, j])


def _part_conn(graph, part, k, verts=None):
    """``(len(verts), k)`` CSR: the connection of each of ``verts`` (ascending; all vertices by
    default) to each part, computed in blocks of rows."""
    onehot = _onehot(part, k)
    if verts is None:
        pieces = [_row_block(graph, r0, r1) @ onehot for r0, r1 in _row_blocks(graph.indptr)]
    else:
        pieces = [sp.csr_matrix((data, cols, np.searchsorted(rows, np.arange(chunk.size + 1))),
                                shape=(chunk.size, part.size)) @ onehot
                  for chunk, rows, cols, data in _row_entries(graph, verts)]
    if not pieces:
        return sp.csr_matrix((0, k))
    return pieces[0] if len(pieces) == 1 else sp.vstack(pieces, format="csr")


def _best_moves(graph, part, k):
    """``(conn, internal, dest, gain)``: the connection of every vertex to every part, to its
    own part, its best-connected other part (-1 if none) and the gain of moving there (``-inf``
    if none)."""
    conn = _part_conn(graph, part, k)
    rows = _rows(conn.indptr)
    cp, cv = conn.indices, conn.data
    own = cp == part[rows]
    internal = np.zeros(part.size)
    internal[rows[own]] = cv[own]
    pos, best = _row_argmax(conn.indptr, np.where(own, -np.inf, cv), rows)
    dest = np.where(pos >= 0, cp[np.maximum(pos, 0)], -1) if cp.size else np.full(part.size, -1)
    return conn, internal, dest.astype(np.int64), best - internal


def _row_entries(graph, verts):
    """The entries of rows ``verts`` (ascending) in pieces of about ``BLOCK_NNZ``: yields
    ``(chunk, rows, cols, data)`` where ``rows`` indexes ``chunk``. When most rows are wanted the
    graph is scanned in place rather than copied."""
    n = graph.shape[0]
    indptr = graph.indptr
    if verts.size == 0:
        return
    if 4 * verts.size >= n:
        wanted = np.zeros(n, dtype=bool)
        wanted[verts] = True
        for r0, r1 in _row_blocks(indptr):
            sel = np.flatnonzero(wanted[r0:r1])
            if sel.size == 0:
                continue
            s, e = int(indptr[r0]), int(indptr[r1])
            rows = _rows(indptr[r0:r1 + 1] - s)
            keep = wanted[r0:r1][rows]
            where = np.full(r1 - r0, -1, dtype=np.int64)
            where[sel] = np.arange(sel.size)
            yield r0 + sel, where[rows[keep]], graph.indices[s:e][keep], graph.data[s:e][keep]
        return
    ends = np.cumsum(np.diff(indptr)[verts])
    cuts = np.searchsorted(ends, np.arange(BLOCK_NNZ, int(ends[-1]), BLOCK_NNZ))
    bounds = np.unique(np.concatenate([[0], cuts, [verts.size]]))
    for a, b in itertools.pairwise(bounds.tolist()):
        chunk = verts[a:b]
        sub = graph[chunk]
        yield chunk, _rows(sub.indptr), sub.indices, sub.data


def _afterburner(graph, part, cand, dest, gain):
    """Keep the candidates that still gain when every neighbour with a higher gain (ties: lower
    index) has made its own move first; returns them with their recomputed gains."""
    n = part.size
    is_cand = np.zeros(n, dtype=bool)
    is_cand[cand] = True
    kept, gains = [], []
    for chunk, rows, u, w in _row_entries(graph, cand):
        v = chunk[rows]
        first = is_cand[u] & ((gain[u] > gain[v]) | ((gain[u] == gain[v]) & (u < v)))
        where = np.where(first, dest[u], part[u])
        contrib = w * ((where == dest[v]).astype(np.float64)
                       - (where == part[v]).astype(np.float64))
        g = np.bincount(rows, weights=contrib, minlength=chunk.size)
        keep = g > 0
        kept.append(chunk[keep])
        gains.append(g[keep])
    if not kept:
        return cand[:0], np.zeros(0)
    return np.concatenate(kept), np.concatenate(gains)


def _limited(caps):
    """Resources (columns of a ``(k, r)`` capacity array) that some part limits."""
    return np.flatnonzero(np.isfinite(caps).any(axis=0))


def _cut_change(graph, part, verts, dest, stride=1):
    """Exact change of the cut if ``verts`` (ascending) move to ``dest`` together; with
    ``stride > 1``, an unbiased estimate from every ``stride``-th of their rows."""
    new = part.copy()
    new[verts] = dest
    moved = np.zeros(part.size, dtype=bool)
    moved[verts] = True
    change = 0.0
    for chunk, rows, u, w in _row_entries(graph, verts[::stride]):
        v = chunk[rows]
        diff = w * ((new[v] != new[u]).astype(np.float64) - (part[v] != part[u]).astype(np.float64))
        inside = moved[u]
        change += float(diff[~inside].sum() + 0.5 * diff[inside].sum())
    return change * (verts.size / max(verts[::stride].size, 1))


# ------------------------------------------------------------------------------- balancing


def _cover(order_src, weights_sorted, excess):
    """In runs of equal source part (sorted cheapest first), the prefix that covers the part's
    excess load in every resource."""
    take = np.zeros(order_src.size, dtype=bool)
    for j in range(weights_sorted.shape[1]):
        before = _group_cumsum(weights_sorted[:, j], order_src) - weights_sorted[:, j]
        take |= before < excess[order_src, j]
    return take


def _rebalance(graph, weights, part, k, caps, conn=None, rounds=8, epochs=3):
    """Move the cheapest vertices out of parts over capacity into parts with room (least loss of
    connection per unit of load first) until every part fits or nothing moves. ``conn`` (the
    connections of every vertex to every part, possibly a little stale) saves computing it.

    Each epoch ranks every vertex of the parts over capacity by its loss and keeps, per part, the
    cheapest few covering three times the excess; the rounds then move those only."""
    caps = np.broadcast_to(np.asarray(caps, dtype=np.float64), (k, weights.shape[1]))
    limited = _limited(caps)
    loads = _loads(weights, part, k)
    if limited.size == 0 or not (loads[:, limited] > caps[:, limited]).any():
        return part
    free_cols = np.setdiff1d(np.arange(weights.shape[1]), limited)
    verts = np.flatnonzero((loads[:, limited] > caps[:, limited]).any(axis=1)[part])
    conn = _part_conn(graph, part, k, verts) if conn is None else conn[verts]
    rows = _rows(conn.indptr)
    own = conn.indices == part[verts[rows]]
    internal = np.zeros(verts.size)
    internal[rows[own]] = conn.data[own]
    part = part.copy()
    moved = np.zeros(verts.size, dtype=bool)

    def excess_now():
        excess = np.maximum(loads - caps, 0.0)
        excess[:, free_cols] = 0.0
        return excess, (excess > 0).any(axis=1)

    def best_destinations(idx, over):
        """Best-connected part with room for each vertex ``verts[idx]`` (or a roomy one)."""
        sub = conn if idx.size == verts.size else conn[idx]
        sub_rows = _rows(sub.indptr)
        cp, cv = sub.indices, sub.data
        vv = verts[idx]
        allowed = ~over[cp]
        for j in limited:
            allowed &= loads[cp, j] + weights[:, j][vv][sub_rows] <= caps[cp, j]
        pos, conn_to = _row_argmax(sub.indptr, np.where(allowed, cv, -np.inf), sub_rows)
        dest = np.where(pos >= 0, cp[np.maximum(pos, 0)], -1) if cp.size else pos
        lost = np.flatnonzero(dest < 0)
        if lost.size:  # no connected part with room: spread over the parts with room
            dest[lost] = _spread(weights[vv[lost]], loads, caps, over)
            conn_to[lost] = 0.0
        size = np.maximum(_normalised(weights[vv], caps[0]), 1e-12)
        return dest, (internal[idx] - conn_to) / size

    for _ in range(epochs):
        excess, over = excess_now()
        if not over.any():
            break
        idx = np.flatnonzero(~moved & over[part[verts]])
        if idx.size == 0:
            break
        dest, loss = best_destinations(idx, over)
        src = part[verts[idx]]
        order = np.lexsort((loss, src))
        pool = idx[order[_cover(src[order], weights[verts[idx[order]]], 3.0 * excess)]]
        progress = False
        for _ in range(rounds):
            excess, over = excess_now()
            if not over.any():
                break
            pool = pool[~moved[pool] & over[part[verts[pool]]]]
            if pool.size == 0:
                break
            dest, loss = best_destinations(pool, over)
            vv = verts[pool]
            src = part[vv]
            order = np.lexsort((loss, src))
            take = order[_cover(src[order], weights[vv[order]], excess)]
            order = take[np.lexsort((loss[take], dest[take]))]
            dst = dest[order]
            ok = dst >= 0
            for j in limited:
                ok &= (loads[np.maximum(dst, 0), j]
                       + _group_cumsum(weights[:, j][vv[order]], dst) <= caps[np.maximum(dst, 0), j])
            if not ok.any():
                break
            go = order[ok]
            _apply_loads(loads, weights, src[go], dest[go], vv[go])
            part[vv[go]] = dest[go]
            moved[pool[go]] = True
            progress = True
        if not progress:
            break
    return part


def _spread(weights, loads, caps, closed):
    """A part with room for each of the given vertices (-1 where none is found): the parts
    not ``closed``, roomiest first, are filled in turn by the running total of the vertices'
    load (in their most binding resource); the caller checks that each vertex really fits."""
    room = np.maximum(_room(loads, caps), 0.0)
    room[closed] = 0.0
    order = np.argsort(-room, kind="stable")
    order = order[room[order] > 0]
    if order.size == 0:
        return np.full(weights.shape[0], -1, dtype=np.int64)
    need = np.maximum(_normalised(weights, caps[0]), 0.0)
    slot = np.searchsorted(np.cumsum(room[order]), np.cumsum(need) - need, side="right")
    return order[np.minimum(slot, order.size - 1)]


def _overflow(graph, weights, part, k, caps):
    """Parts still over capacity hand their least connected vertices, enough to fit, to new
    parts (filled in turn): the result then uses more than the parts asked for."""
    loads = _loads(weights, part, k)
    excess = np.maximum(loads - caps, 0.0)
    excess[:, ~np.isfinite(caps)] = 0.0
    over = (excess > 0).any(axis=1)
    if not over.any():
        return part, k
    verts = np.flatnonzero(over[part])
    conn = _part_conn(graph, part, k, verts)
    rows = _rows(conn.indptr)
    own = conn.indices == part[verts[rows]]
    internal = np.zeros(verts.size)
    internal[rows[own]] = conn.data[own]
    src = part[verts]
    order = np.lexsort((internal, src))
    out = verts[order[_cover(src[order], weights[verts[order]], excess)]]
    part = part.copy()
    load = np.zeros(weights.shape[1])
    k_new = k
    for v in out:  # only the overflow, never the bulk of the graph
        if k_new == k or np.any(load + weights[v] > caps):
            k_new += 1
            load = np.zeros(weights.shape[1])
        part[v] = k_new - 1
        load += weights[v]
    return part, k_new


# ------------------------------------------------------------------------------ extra parts


def _dissolve(graph, weights, part, k, n_parts, caps):
    """Empty parts beyond ``n_parts`` (smallest first) into the others when their vertices fit."""
    finite = np.flatnonzero(np.isfinite(caps))
    while k > n_parts:
        loads = _loads(weights, part, k)
        q = int(np.argmin(_normalised(loads, caps)))
        others = np.arange(k) != q
        spare = (caps[finite] - loads[others][:, finite]).sum(axis=0)
        if (loads[q, finite] > spare).any():
            break
        dest = _place(graph, weights, part, q, loads, caps, k)
        if dest is None:
            break
        part = part.copy()
        members = np.flatnonzero(part == q)
        part[members] = dest
        part[part > q] -= 1
        k -= 1
    return part, k


def _place(graph, weights, part, q, loads, caps, k):
    """Destinations (in other parts, within capacity) for every vertex of part ``q``, or None."""
    members = np.flatnonzero(part == q)
    trial = part.copy()
    loads = loads.copy()
    loads[q] = np.inf  # q takes nothing
    finite = np.flatnonzero(np.isfinite(caps))
    remaining = members
    for _ in range(4):
        if remaining.size == 0 or graph.nnz == 0:
            break
        conn = graph[remaining] @ _onehot(trial, k)
        rows = _rows(conn.indptr)
        cp, cv = conn.indices, conn.data
        allowed = cp != q
        for j in finite:
            allowed &= loads[cp, j] + weights[:, j][remaining][rows] <= caps[j]
        pos, val = _row_argmax(conn.indptr, np.where(allowed & (cv > 0), cv, -np.inf), rows)
        has = np.flatnonzero(pos >= 0)
        if has.size == 0:
            break
        cand, dst, gain = remaining[has], cp[pos[has]], val[has]
        order = np.lexsort((-gain, dst))
        cand, dst = cand[order], dst[order]
        ok = np.ones(cand.size, dtype=bool)
        for j in finite:
            ok &= loads[dst, j] + _group_cumsum(weights[cand, j], dst) <= caps[j]
        if not ok.any():
            break
        cand, dst = cand[ok], dst[ok]
        trial[cand] = dst
        for j in range(weights.shape[1]):
            np.add.at(loads[:, j], dst, weights[cand, j])
        remaining = remaining[trial[remaining] == q]
    if remaining.size:
        norm = _normalised(weights[remaining], caps)
        for v in remaining[np.argsort(-norm, kind="stable")]:
            fits = np.all(loads + weights[v] <= caps, axis=1)
            fits[q] = False
            if not fits.any():
                return None
            dst = int(np.argmax(np.where(fits, _room(loads + weights[v], caps), -np.inf)))
            trial[v] = dst
            loads[dst] += weights[v]
    return trial[members]
