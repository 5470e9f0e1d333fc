"""Multilevel min-cut graph partitioning under hard per-part capacities (the ``mincut`` strategy).

:func:`mincut_parts` splits the vertices of a weighted undirected graph into parts so that the
total weight of the edges between parts (the *cut*: spike messages that must cross between cores)
is small, while every part stays within every capacity (neurons, synapse memory, ...) of a core.

The algorithm is METIS-style multilevel partitioning, written with NumPy and SciPy only so that no
Python loop runs over the vertices or edges of a large graph:

1. **Coarsening.** Heavy-edge matching, vectorised as locally-dominant matching: each vertex
   proposes to the neighbour with the best rating ``w(u, v) / (size(u) * size(v))`` (heavier edges,
   lighter vertices; a symmetric pseudo-random tie-break makes the order of edges total), mutual
   proposals are matched, and this repeats for a few rounds among the still unmatched vertices.
   Vertices left over that share their heaviest neighbour (leaves of a hub), or that have no edge
   at all, are then paired two by two. No pair may exceed ``1.5 / (20 * n_parts)`` of the total
   weight in any resource (so that coarse vertices stay small against a part), nor any capacity.
   Matched pairs are contracted with the sparse product ``P^T A P``. Levels repeat until about
   ``max(20 * n_parts, 200)`` vertices remain or matching stalls.

   On a dense graph (more than ``4 * 16`` entries per vertex and over two million in all) the
   matching runs on a sparsified copy instead: each row keeps 16 systematic samples of its edges,
   drawn with probability proportional to weight and each worth ``row sum / 16``, then the copy is
   symmetrised. That estimate of the graph is unbiased, keeps the heavy edges, and costs a few
   passes over the rows instead of one sparse product per level over all the edges (which, on a
   random graph, barely shrink from level to level). The coarse graphs are built from the
   sparsified copies; the finest level is always refined on the exact graph.

2. **Initial partition** of the coarsest graph by greedy graph growing (the FM gain
   ``2 * connection to the part - degree`` picks the next vertex), each of the ``n_parts`` parts
   grown up to an even share of the load (never above capacity); leftovers go to the best
   connected part with room, and only what fits nowhere opens new parts. Several seeds are tried,
   each refined, and the result with the fewest parts, then the smallest cut, is kept.

3. **Uncoarsening.** The partition is projected level by level and refined at each: a vectorised
   label-propagation pass moves every vertex with a positive gain to its best-connected part that
   has room (in even passes only towards higher part numbers, in odd passes only lower, which
   stops pairs of vertices from swapping back and forth), and pairs of vertices that gain by
   trading places between two parts are swapped, which is what still improves a partition whose
   parts are full. The exact change of the cut of every pass is computed and a pass that would not
   lower it is dropped, so the cut never grows. Parts opened beyond ``n_parts`` are dissolved into
   the others as soon as the finer vertices fit.

Capacities are hard: every part of the result respects every capacity. When ``n_parts`` parts
cannot hold the graph (the capacities sum to less than the load, or the vertices do not pack),
the result uses *more* parts: ``k >= n_parts`` parts numbered ``0..k-1``, all within capacity, and
the caller reads ``k`` from the result. Refinement never empties a part, so the result has exactly
``n_parts`` parts whenever they suffice (``min(n_parts, n)`` for a graph of ``n < n_parts``
vertices). The result is deterministic for a given ``seed``.
"""

from __future__ import annotations

import itertools

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order

__all__ = ["cut_weight", "mincut_parts"]

#: Samples per row of the sparsified graph that dense levels are matched on.
SAMPLES_PER_ROW = 16
#: A level is sparsified for matching when it has more entries than this and than 4 samples/row.
SPARSIFY_MIN_NNZ = 1_000_000
#: Above this many entries the finest level is refined on its sparsified copy (each pass is
#: still measured on the exact graph).
EXACT_REFINE_NNZ = 8_000_000
#: Bisections of graphs up to this many vertices are refined by sequential FM on a dense matrix.
DENSE_FM = 2000
#: Seeds tried per bisection of a small graph.
BISECT_TRIES = 2
#: Rounds of mutual-proposal matching per level.
MATCH_ROUNDS = 4
#: Coarsening stops when a level keeps more than this fraction of the vertices.
STALL_RATIO = 0.9
MAX_LEVELS = 64
#: Capacity overload tolerated while refining the coarse levels (the finest level is exact).
RELAX = 0.03
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
        two vertices); the diagonal is ignored. Any SciPy sparse format; CSR is used as is.
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
    adj, weights, caps, n_parts = _check(adjacency, vertex_weights, capacities, n_parts)
    n = adj.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    fit = _fit_capacities(weights, caps)
    total = weights.sum(axis=0)
    finite = np.isfinite(fit)
    need = np.ceil(total[finite] / fit[finite] - 1e-9).max() if finite.any() else 1
    n_parts = int(min(n, max(n_parts, need)))
    rng = np.random.default_rng(seed)
    coarsen_to = max(20 * n_parts, 200)
    limit = np.minimum(fit, 1.5 * total / coarsen_to)

    graphs, level_weights, maps = [adj], [weights], []
    finest = adj  # what the finest level is refined on (a sparsified copy for big dense graphs)
    while graphs[-1].shape[0] > coarsen_to and len(maps) < MAX_LEVELS:
        graph, w = graphs[-1], level_weights[-1]
        matched_on = _sparsify(graph, SAMPLES_PER_ROW, rng) if _is_dense(graph) else graph
        if not maps and adj.nnz > EXACT_REFINE_NNZ:
            finest = matched_on
        cmap, n_coarse = _match(matched_on, w, limit, rng)
        if n_coarse > STALL_RATIO * graph.shape[0]:
            break
        graphs.append(_contract(matched_on, cmap, n_coarse))
        level_weights.append(_sum_rows(w, cmap, n_coarse))
        maps.append(cmap)
        del matched_on

    part = _initial_partition(graphs[-1], level_weights[-1], fit, n_parts, rng)
    k = n_parts
    relaxed = fit * (1.0 + RELAX)
    for level in range(len(maps), -1, -1):
        graph, w = graphs.pop(), level_weights.pop()
        exact = None
        if level < len(maps):
            part = part[maps[level]]
        if level == 0 and finest is not adj:
            graph, exact = finest, adj
        level_caps = relaxed if level else fit
        part = _rebalance(graph, w, part, k, level_caps)
        if level == 0:
            part, k = _overflow(graph, w, part, k, fit)
            part, k = _dissolve(graph, w, part, k, n_parts, fit)
        part = _refine(graph, w, part, k, level_caps, _passes_for(graph), exact)
    part = np.unique(part, return_inverse=True)[1].astype(np.int64).reshape(-1)
    _verify(part, weights, caps)
    return part


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
    if adj.nnz:
        if not np.isfinite(adj.data).all() or adj.data.min() < 0:
            raise ValueError("adjacency weights must be finite and non-negative")
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
    if isinstance(n_parts, bool) or int(n_parts) != n_parts or n_parts < 1:
        raise ValueError(f"n_parts must be a positive integer (got {n_parts!r})")
    if n:
        over = weights > caps
        if over.any():
            vertex, resource = np.argwhere(over)[0]
            raise ValueError(f"vertex {vertex} needs {weights[vertex, resource]:g} of resource "
                             f"{resource} but a part holds at most {caps[resource]:g}")
    return adj, weights, caps, int(n_parts)


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
    return graph.nnz > max(SPARSIFY_MIN_NNZ, 4 * SAMPLES_PER_ROW * graph.shape[0])


def _sparsify(graph: sp.csr_matrix, t: int, rng: np.random.Generator) -> sp.csr_matrix:
    """An unbiased sparse estimate of ``graph``: rows with more than ``2 t`` entries keep ``t``
    systematic samples drawn with probability proportional to weight, each worth ``row sum / t``;
    shorter rows are kept exactly. The result is symmetrised as ``(S + S^T) / 2``."""
    n = graph.shape[0]
    indptr = graph.indptr.astype(np.int64)
    degree = np.diff(indptr)
    sampled = degree > 2 * t
    out_rows, out_cols, out_vals = [], [], []
    steps = np.arange(t, dtype=np.float64)
    for r0, r1 in _row_blocks(indptr):
        s, e = int(indptr[r0]), int(indptr[r1])
        data = graph.data[s:e]
        local_ptr = indptr[r0:r1 + 1] - s
        if not sampled[r0:r1].all():
            exact = np.repeat(~sampled[r0:r1], degree[r0:r1])
            out_rows.append(_rows(local_ptr)[exact].astype(np.int64) + r0)
            out_cols.append(graph.indices[s:e][exact])
            out_vals.append(data[exact])
        heavy = np.flatnonzero(sampled[r0:r1])
        if heavy.size == 0:
            continue
        cum = np.cumsum(data)
        start, stop = local_ptr[heavy], local_ptr[heavy + 1]
        before = np.where(start > 0, cum[np.maximum(start - 1, 0)], 0.0)
        row_sum = cum[stop - 1] - before
        keep = row_sum > 0
        heavy, start, stop = heavy[keep], start[keep], stop[keep]
        before, row_sum = before[keep], row_sum[keep]
        offset = rng.random(heavy.size)
        where = before[:, None] + (steps[None, :] + offset[:, None]) / t * row_sum[:, None]
        pos = np.searchsorted(cum, where.ravel(), side="right")
        pos = np.clip(pos, np.repeat(start, t), np.repeat(stop - 1, t))
        out_rows.append(np.repeat(heavy.astype(np.int64) + r0, t))
        out_cols.append(graph.indices[s:e][pos])
        out_vals.append(np.repeat(row_sum / t, t))
    rows = np.concatenate(out_rows)
    cols = np.concatenate(out_cols).astype(np.int64)
    vals = np.concatenate(out_vals)
    half = sp.coo_matrix((vals, (rows, cols)), shape=(n, n)).tocsr()
    return ((half + half.T) * 0.5).tocsr()


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
    ok = (graph.data > 0) & (rows != cols)
    for j in range(weights.shape[1]):
        ok &= weights[rows, j] + weights[cols, j] <= tol[j]
    edges = np.flatnonzero(ok)
    del ok
    er, ec = rows[edges], cols[edges].astype(np.int64)
    del rows
    prio = rng.random(n)
    tie = prio[er] + prio[ec]
    tie -= np.floor(tie)
    key = graph.data[edges] / (size[er] * size[ec]) * (1.0 + 1e-7 * tie)
    del edges, tie

    match = np.full(n, -1, dtype=np.int64)
    anchor = np.full(n, -1, dtype=np.int64)
    for round_ in range(MATCH_ROUNDS):
        if round_:
            alive = (match[er] < 0) & (match[ec] < 0)
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
    """``P^T A P`` without its diagonal: the graph of the coarse vertices."""
    proj = _onehot(cmap, n_coarse)
    coarse = (proj.T.tocsr() @ graph @ proj).tocsr()
    rows = _rows(coarse.indptr)
    keep = rows != coarse.indices
    counts = np.bincount(rows[keep], minlength=n_coarse)
    indptr = np.zeros(n_coarse + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    return sp.csr_matrix((coarse.data[keep], coarse.indices[keep], indptr),
                         shape=(n_coarse, n_coarse))


# --------------------------------------------------------------------------- initial partition


def _initial_partition(graph, weights, caps, n_parts, rng):
    """Recursive bisection: each bisection splits its ``k`` parts as ``k // 2`` and the rest,
    grows one side from a seed by FM gain up to its share of the load, refines the pair, and
    keeps the best of several seeds."""
    n = graph.shape[0]
    part = np.zeros(n, dtype=np.int64)
    stack = [(np.arange(n), n_parts, 0)]
    while stack:
        verts, kk, base = stack.pop()
        if kk == 1:
            part[verts] = base
            continue
        k1 = kk // 2
        sub = graph[verts][:, verts].tocsr()
        side = _bisect(sub, weights[verts], k1, kk - k1, caps, rng)
        stack.append((verts[side == 0], k1, base))
        stack.append((verts[side == 1], kk - k1, base + k1))
    return part


def _bisect(graph, weights, k1, k2, caps, rng):
    n = graph.shape[0]
    total = weights.sum(axis=0)
    share = total * (k1 / (k1 + k2))
    bounds = np.stack([np.minimum(k1 * caps, share * (1.0 + IMBALANCE)),
                       np.minimum(k2 * caps, (total - share) * (1.0 + IMBALANCE))])
    degree = np.asarray(graph.sum(axis=1)).ravel()
    tries = (BISECT_TRIES if n >= 500 else 1) if n <= DENSE_FM else 1
    dense = graph.toarray() if n <= DENSE_FM else None
    best = None
    for attempt in range(tries):
        rank = rng.permutation(n)
        start = int(np.argmin(rank))
        if attempt % 2 == 1 and graph.nnz:
            order = breadth_first_order(graph, start, directed=False, return_predecessors=False)
            start = int(order[-1])  # a far vertex: a seed on the rim of its component
        inside = _grow_region(graph, degree, weights, share, start, rank)
        side = _fix_counts((~inside).astype(np.int64), k1, k2, degree)
        if dense is not None:
            side = _fm_bisection(dense, degree, weights, side, bounds, (k1, k2))
        else:
            side = _refine(graph, weights, side, 2, bounds, 6)
        side = _fix_counts(side, k1, k2, degree)
        loads = _loads(weights, side, 2)
        with np.errstate(invalid="ignore"):
            over = np.nansum(np.maximum(loads - bounds, 0) / np.maximum(bounds, 1e-300))
        score = (over, cut_weight(graph, side))
        if best is None or score < best[0]:
            best = (score, side)
    return best[1]


def _grow_region(graph, degree, weights, limit, start, rank):
    """Greedy graph growing: add the vertex of best FM gain ``2 * connection - degree`` while it
    fits within ``limit``; restart from a new seed when the frontier is exhausted."""
    n = graph.shape[0]
    indptr, indices, data = graph.indptr, graph.indices, graph.data
    inside = np.zeros(n, dtype=bool)
    dead = np.zeros(n, dtype=bool)
    load = np.zeros(weights.shape[1])
    conn = np.zeros(n)
    gain = np.full(n, -np.inf)
    v = start if np.all(weights[start] <= limit) else -1
    while True:
        if v < 0:
            cand = np.flatnonzero(~inside & np.all(weights <= limit - load, axis=1))
            if cand.size == 0:
                break
            v = int(cand[np.argmin(rank[cand])])
        inside[v] = True
        load += weights[v]
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


def _fm_bisection(dense, degree, weights, side, bounds, need, max_passes=3, patience=40):
    """Fiduccia-Mattheyses refinement of a bisection of a small graph (dense adjacency): move the
    free vertex of best gain whose side has room (or whose own side is over its bound), lock it,
    and after ``patience`` moves without a better state roll back to the best state seen (least
    overload, then smallest cut). Each side keeps at least ``need[side]`` vertices."""
    n = side.size
    limited = _limited(bounds)
    w = weights[:, limited]
    cap = bounds[:, limited]
    scale = np.where(cap > 0, cap, 1.0)
    need = np.asarray(need)
    side = side.copy()
    for _ in range(max_passes):
        loads = _loads(weights, side, 2)[:, limited]
        counts = np.bincount(side, minlength=2)
        sign = np.where(side == 0, 1.0, -1.0)  # +1 on side 0, -1 on side 1
        to_one = dense @ (side == 1).astype(np.float64)
        gain = sign * (2.0 * to_one - degree)  # cut reduction if the vertex changes side
        free = np.ones(n, dtype=bool)
        moves = []
        total = 0.0
        best = (float((np.maximum(loads - cap, 0.0) / scale).sum()), 0.0)
        best_len = 0
        for _ in range(min(n, n // 4 + patience)):
            room = cap - loads
            over = (room < 0).any(axis=1)
            ok = free & (counts > need)[side]
            if not over[side].all():
                ok &= np.all(w <= room[1 - side], axis=1) | over[side]
            key = np.where(ok, gain, -np.inf)
            v = int(np.argmax(key))
            if key[v] == -np.inf:
                break
            a = side[v]
            total += gain[v]
            gain += (2.0 * sign[v]) * sign * dense[v]
            gain[v] = -gain[v] + 2.0 * dense[v, v]
            side[v] = 1 - a
            sign[v] = -sign[v]
            loads[a] -= w[v]
            loads[1 - a] += w[v]
            counts[a] -= 1
            counts[1 - a] += 1
            free[v] = False
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
    """Smallest share of a finite capacity left free (or minus the total load if none is finite)."""
    finite = np.isfinite(caps)
    if finite.any():
        return ((caps[finite] - loads[..., finite]) / caps[finite]).min(axis=-1)
    return -loads.sum(axis=-1)


# -------------------------------------------------------------------------------- refinement


def _refine(graph, weights, part, k, caps, max_passes, exact=None):
    """Label propagation with conflict filtering and rebalancing (after Jet, Gilbert et al. 2024).

    Each pass offers every vertex with a positive gain to its best-connected other part, keeps a
    move only if it still gains once the neighbours that gain more have moved (the
    "afterburner"), applies the moves regardless of capacity (never emptying a part, and not
    moving back a vertex moved by the previous pass), then moves the cheapest vertices out of
    parts over capacity into parts with room. Moving freely and then rebalancing lets full parts
    trade vertices. The exact change of the cut of every pass is measured on ``exact`` (default:
    ``graph``; the finest level of a dense graph is refined on its sparsified copy and measured on
    the real one) and the best partition seen, least overload first and then smallest cut, is
    returned: never worse than the input. ``caps`` is ``(r,)`` or per part ``(k, r)``."""
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
    big = graph.nnz > 1_000_000
    patience, enough = (1, 5e-3) if big else (2, 1e-3)
    best, best_score = part, (overload(part), 0.0)
    change = 0.0  # cut of ``part`` minus cut of the input
    locked = np.zeros(part.size, dtype=bool)
    stale = 0
    for _ in range(max_passes):
        conn, internal, dest, gain = _best_moves(graph, part, k)
        cut = (total - internal.sum()) / 2.0
        if cut <= tol:
            break
        cand = np.flatnonzero((gain > tol) & ~locked)
        if cand.size:
            cand, better = _afterburner(graph, part, cand, dest, gain)
            src = part[cand]
            order = np.lexsort((-better, src))
            counts = np.bincount(part, minlength=k)
            cand = cand[order[_rank_in_group(src[order]) < counts[src[order]] - 1]]
        new = part.copy()
        new[cand] = dest[cand]
        new = _rebalance(graph, weights, new, k, caps, conn)
        changed = np.flatnonzero(new != part)
        if changed.size == 0:
            break
        change += _cut_change(exact, part, changed, new[changed])
        part = new
        locked[:] = False
        locked[cand] = True
        score = (overload(part), change)
        if score[0] < best_score[0] - 1e-12 or (
                score[0] <= best_score[0] + 1e-12 and score[1] < best_score[1] - tol):
            significant = (score[0] < best_score[0] - 1e-12
                           or best_score[1] - score[1] > enough * cut)
            best, best_score = part, score
            stale = 0 if significant else stale + 1
        else:
            stale += 1
        if stale >= patience:
            break
    return best


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


def _single_moves(part, verts, to, gain, weights, loads, caps, counts):
    """The moves that fit the free room of their destination, best gain first, leaving at least
    one vertex in every part."""
    src = part[verts]
    order = np.lexsort((-gain, src))
    keep = order[_rank_in_group(src[order]) < counts[src[order]] - 1]
    order = keep[np.lexsort((-gain[keep], to[keep]))]
    dst = to[order]
    ok = np.ones(order.size, dtype=bool)
    for j in _limited(caps):
        ok &= loads[dst, j] + _group_cumsum(weights[verts[order], j], dst) <= caps[dst, j]
    return verts[order[ok]], to[order[ok]]


def _swaps(part, dest, gain, blocked, moved, weights, loads, caps, k):
    """Exchanges for moves blocked by a full part: ``x`` (blocked, from ``a`` to ``b``) trades
    places with a ``y`` of ``b`` whose best other part is ``a`` (its gain may be negative), best
    first on both sides, while the pair gains; pairs are dropped until every part fits."""
    up_side = np.flatnonzero(blocked & ~moved)
    if up_side.size == 0:
        return up_side, up_side
    wanted = np.zeros(k * k, dtype=bool)
    wanted[part[up_side] * k + dest[up_side]] = True
    other = np.flatnonzero(~moved & ~blocked & (dest >= 0))
    other = other[wanted[dest[other] * k + part[other]]]
    # x goes a -> b and y goes b -> a: both sides keyed by the ordered pair (a, b) of x.
    kx = part[up_side] * k + dest[up_side]
    ky = dest[other] * k + part[other]
    ox = np.lexsort((-gain[up_side], kx))
    oy = np.lexsort((-gain[other], ky))
    x, kx = up_side[ox], kx[ox]
    y, ky = other[oy], ky[oy]
    stride = part.size + 1
    _, ix, iy = np.intersect1d(kx * stride + _rank_in_group(kx), ky * stride + _rank_in_group(ky),
                               assume_unique=True, return_indices=True)
    x, y = x[ix], y[iy]
    good = gain[x] + gain[y] > 0
    x, y = x[good], y[good]
    limited = _limited(caps)
    for _ in range(8):
        if x.size == 0 or limited.size == 0:
            break
        new = loads.copy()
        verts = np.concatenate([x, y])
        _apply_loads(new, weights, part[verts], np.concatenate([part[y], part[x]]), verts)
        over = (new[:, limited] > caps[:, limited]).any(axis=1)
        if not over.any():
            break
        keep = ~(over[part[x]] | over[part[y]])
        x, y = x[keep], y[keep]
    else:
        x, y = x[:0], y[:0]
    return np.concatenate([x, y]), np.concatenate([part[y], part[x]])


def _cut_change(graph, part, verts, dest):
    """Exact change of the cut if ``verts`` (ascending) move to ``dest`` together."""
    new = part.copy()
    new[verts] = dest
    moved = np.zeros(part.size, dtype=bool)
    moved[verts] = True
    change = 0.0
    for chunk, rows, u, w in _row_entries(graph, verts):
        v = chunk[rows]
        diff = w * ((new[v] != new[u]).astype(np.float64) - (part[v] != part[u]).astype(np.float64))
        inside = moved[u]
        change += float(diff[~inside].sum() + 0.5 * diff[inside].sum())
    return change


# ------------------------------------------------------------------------------- balancing


def _cover(order_src, weights_sorted, excess):
    """In runs of equal source part (sorted cheapest first), the prefix that covers the part's
    excess load in every resource."""
    take = np.zeros(order_src.size, dtype=bool)
    for j in range(weights_sorted.shape[1]):
        before = _group_cumsum(weights_sorted[:, j], order_src) - weights_sorted[:, j]
        take |= before < excess[order_src, j]
    return take


def _rebalance(graph, weights, part, k, caps, conn=None, rounds=8):
    """Move the cheapest vertices out of parts over capacity into parts with room (least loss of
    connection per unit of load first) until every part fits or nothing moves. ``conn`` (the
    connections of every vertex to every part, possibly a little stale) saves computing it."""
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
    idx = np.arange(verts.size)  # candidates: positions in ``verts`` not moved yet
    for _ in range(rounds):
        excess = np.maximum(loads - caps, 0.0)
        excess[:, free_cols] = 0.0
        over = (excess > 0).any(axis=1)
        if not over.any():
            break
        idx = idx[over[part[verts[idx]]]]
        if idx.size == 0:
            break
        sub = conn if idx.size == verts.size else conn[idx]
        rows = _rows(sub.indptr)
        cp, cv = sub.indices, sub.data
        vv = verts[idx]
        allowed = ~over[cp]
        for j in limited:
            allowed &= loads[cp, j] + weights[vv[rows], j] <= caps[cp, j]
        pos, conn_to = _row_argmax(sub.indptr, np.where(allowed, cv, -np.inf), rows)
        dest = np.where(pos >= 0, cp[np.maximum(pos, 0)], -1) if cp.size else pos
        # Vertices with no connected part with room go to the part with the most room.
        spare = int(np.argmax(np.where(over, -np.inf, _room(loads, caps[0]))))
        lost = np.flatnonzero(dest < 0)
        fits = np.all(loads[spare] + weights[vv[lost]] <= caps[spare], axis=1) & ~over[spare]
        dest[lost[fits]] = spare
        conn_to[lost[fits]] = 0.0
        cand = np.flatnonzero(dest >= 0)
        if cand.size == 0:
            break
        size = np.maximum(_normalised(weights[vv[cand]], caps[0]), 1e-12)
        loss = (internal[idx[cand]] - conn_to[cand]) / size
        src = part[vv[cand]]
        order = np.lexsort((loss, src))
        take = order[_cover(src[order], weights[vv[cand[order]]], excess)]
        order = take[np.lexsort((loss[take], dest[cand[take]]))]
        dst = dest[cand[order]]
        ok = np.ones(order.size, dtype=bool)
        for j in limited:
            ok &= loads[dst, j] + _group_cumsum(weights[vv[cand[order]], j], dst) <= caps[dst, j]
        if not ok.any():
            break
        go = cand[order[ok]]
        _apply_loads(loads, weights, part[vv[go]], dest[go], vv[go])
        part[vv[go]] = dest[go]
        keep = np.ones(idx.size, dtype=bool)
        keep[go] = False
        idx = idx[keep]
    return part


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
            allowed &= loads[cp, j] + weights[remaining[rows], j] <= caps[j]
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
