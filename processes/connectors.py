"""PyNN-style connectors that build weight matrices for Dense or Sparse, from an explicit seed.

Each returns a ``(post, pre)`` integer matrix: a dense ``numpy`` array, or with ``sparse=True`` a
``scipy.sparse.csr_array`` (pass it to :class:`~nmgraph.processes.Sparse`). The connectors whose
synapses carry their own delays (:func:`from_list`, :func:`distance_dependent`) return
``(weights, delays)``: ``delays`` one per stored entry, in the order of ``weights.tocoo()``, for a
sparse matrix, or a ``(post, pre)`` array for a dense one, ready for ``Sparse(weights,
delay=delays)`` or ``Dense(weights, delay=delays)``. Randomness comes from
``numpy.random.default_rng(seed)`` once, at build time, so a network is the same on every run and
every partitioning.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse

from nmgraph.core.checks import (
    as_float_array,
    as_int_array,
    as_int_scalar,
    as_shape,
    as_weight_array,
    as_weight_scalar,
)
from nmgraph.core.errors import ValidationError
from nmgraph.processes.synapses import DELAY_MAX

__all__ = ["all_to_all", "distance_dependent", "fixed_indegree", "fixed_probability",
           "from_list", "grid_positions", "one_to_one"]

_WEIGHT_LIMIT = 2**8 - 1


def _weights(name: str, weight: Any, count: int, rng: np.random.Generator) -> np.ndarray:
    """``weight`` as one int for all, or ``(low, high)`` for uniform ints drawn in ``[low, high]``."""
    if isinstance(weight, tuple):
        if len(weight) != 2:
            raise ValidationError(name, "weight", "a range is (low, high)", weight)
        low = as_weight_scalar(name, "weight", weight[0], low=-_WEIGHT_LIMIT,
                               high=_WEIGHT_LIMIT)
        high = as_weight_scalar(name, "weight", weight[1], low=low, high=_WEIGHT_LIMIT)
        return rng.integers(low, high, size=count, endpoint=True, dtype=np.int64)
    value = as_weight_scalar(name, "weight", weight, low=-_WEIGHT_LIMIT, high=_WEIGHT_LIMIT)
    return np.full(count, value, dtype=np.int64)


def _build(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, shape: tuple[int, int],
           sparse: bool) -> np.ndarray | scipy.sparse.csr_array:
    if sparse:
        return scipy.sparse.csr_array((values.astype(np.int16), (rows, cols)), shape=shape)
    dense = np.zeros(shape, dtype=np.int16)
    dense[rows, cols] = values
    return dense


def one_to_one(n: int, weight: Any = 1, *, seed: int | None = None,
               sparse: bool = False) -> np.ndarray | scipy.sparse.csr_array:
    """Unit ``i`` of the pre population to unit ``i`` of the post population."""
    n = as_int_scalar("one_to_one", "n", n, low=1)
    index = np.arange(n)
    values = _weights("one_to_one", weight, n, np.random.default_rng(seed))
    return _build(index, index, values, (n, n), sparse)


def fixed_probability(n_pre: int, n_post: int, p: float, weight: Any = 1, *, seed: int,
                      allow_self: bool = True,
                      sparse: bool = False) -> np.ndarray | scipy.sparse.csr_array:
    """Each (post, pre) pair connected independently with probability ``p``.

    ``allow_self=False`` leaves out pairs with ``post == pre`` (for a population onto itself).
    """
    name = "fixed_probability"
    n_pre = as_int_scalar(name, "n_pre", n_pre, low=1)
    n_post = as_int_scalar(name, "n_post", n_post, low=1)
    p = float(as_float_array(name, "p", p, low=0.0, high=1.0))
    seed = as_int_scalar(name, "seed", seed, low=0)
    rng = np.random.default_rng(seed)
    rows_list, cols_list = [], []
    chunk = max(1, 2**22 // n_pre)  # bounded memory for big populations
    for start in range(0, n_post, chunk):
        stop = min(n_post, start + chunk)
        hit = rng.random((stop - start, n_pre)) < p
        r, c = np.nonzero(hit)
        rows_list.append(r + start)
        cols_list.append(c)
    rows, cols = np.concatenate(rows_list), np.concatenate(cols_list)
    if not allow_self:
        keep = rows != cols
        rows, cols = rows[keep], cols[keep]
    return _build(rows, cols, _weights(name, weight, rows.size, rng), (n_post, n_pre), sparse)


def fixed_indegree(n_pre: int, n_post: int, k: int, weight: Any = 1, *, seed: int,
                   allow_self: bool = True,
                   sparse: bool = True) -> np.ndarray | scipy.sparse.csr_array:
    """Each post unit receives exactly ``k`` distinct pre units, drawn uniformly.

    With ``allow_self=False`` (a population onto itself) unit ``i`` never draws itself.
    Sparse by default: this is the connector of large balanced networks.
    """
    name = "fixed_indegree"
    n_pre = as_int_scalar(name, "n_pre", n_pre, low=1)
    n_post = as_int_scalar(name, "n_post", n_post, low=1)
    pool = n_pre - (0 if allow_self else 1)
    k = as_int_scalar(name, "k", k, low=0, high=pool)
    seed = as_int_scalar(name, "seed", seed, low=0)
    rng = np.random.default_rng(seed)
    cols = np.empty((n_post, k), dtype=np.int64)
    for post in range(n_post):  # build time only; Generator.choice is O(k) per row
        cols[post] = rng.choice(pool, size=k, replace=False)
    rows = np.repeat(np.arange(n_post, dtype=np.int64), k)
    cols = cols.ravel()
    if not allow_self:
        cols += cols >= rows  # skip the unit's own index
    return _build(rows, cols, _weights(name, weight, rows.size, rng), (n_post, n_pre), sparse)


# --------------------------------------------------------------------------------------------
# Connectors with per-synapse delays: all_to_all, from_list, distance_dependent
# --------------------------------------------------------------------------------------------

#: Entries per chunk of rows drawn at once (bounds the temporaries of the big connectors).
_CHUNK_ENTRIES = 2**22

#: ``duplicates=`` choices of :func:`from_list`.
_DUPLICATES = ("error", "sum")


def _entry_weights(name: str, values: Any) -> np.ndarray:
    """Per-entry weights (a column of a list, or the values of a weight function of distance):
    whole numbers in ``[-255, 255]``, checked as every weight is."""
    return as_weight_array(name, "weight", values, low=-_WEIGHT_LIMIT, high=_WEIGHT_LIMIT)


def _step_delays(name: str, values: Any, what: str, *, rounded: bool) -> np.ndarray:
    """Delays in steps, ``1..DELAY_MAX``. Reals are rounded half up, ``floor(x + 0.5)``, when
    ``rounded`` (a delay computed from distance, as documented), else must be whole."""
    array = np.asarray(values)
    if array.dtype.kind == "f":
        finite = np.isfinite(array)
        if not bool(np.all(finite)):
            raise ValidationError(name, "delay", f"{what} must be finite",
                                  float(array[~finite][0]))
        if rounded:
            array = np.floor(array + 0.5)
        elif not bool(np.all(array == np.round(array))):
            bad = array[array != np.round(array)]
            raise ValidationError(name, "delay", f"{what} holds delays in whole steps",
                                  float(bad[0]))
        array = array.astype(np.int64)
    return as_int_array(name, "delay", array, low=1, high=DELAY_MAX)


def _build_with_delays(rows: np.ndarray, cols: np.ndarray, values: np.ndarray,
                       delays: np.ndarray, shape: tuple[int, int], sparse: bool
                       ) -> tuple[np.ndarray | scipy.sparse.csr_array, np.ndarray]:
    """Weights as :func:`_build` gives them, and the delays that go with them: for a sparse
    matrix one per stored entry in the order of ``weights.tocoo()`` (``rows``, ``cols`` must be
    sorted by row, then column, without repeats); for a dense matrix a ``(post, pre)`` array
    holding the smallest delay of the block where there is no synapse (a zero weight is no
    synapse, so those values are never used)."""
    delays = delays.astype(np.uint8)
    weights = _build(rows, cols, values, shape, sparse)
    if sparse:
        return weights, delays
    fill = int(delays.min()) if delays.size else 1
    dense = np.full(shape, fill, dtype=np.uint8)
    dense[rows, cols] = delays
    return weights, dense


def all_to_all(n_pre: int, n_post: int, weight: Any = 1, *, allow_self: bool = True,
               seed: int | None = None,
               sparse: bool = False) -> np.ndarray | scipy.sparse.csr_array:
    """Every pre unit to every post unit (PyNN's ``AllToAllConnector``).

    Parameters
    ----------
    n_pre, n_post
        Population sizes.
    weight
        One int for all, or ``(low, high)`` for uniform ints in ``[low, high]`` (drawn in row
        order, post by post, from ``seed``).
    allow_self
        ``False`` leaves out the pairs ``post == pre`` (a population onto itself).
    seed
        Seed of the weight draws; needed only with a ``(low, high)`` weight.
    sparse
        Return a ``scipy.sparse.csr_array`` instead of a dense ``(post, pre)`` array.
    """
    name = "all_to_all"
    n_pre = as_int_scalar(name, "n_pre", n_pre, low=1)
    n_post = as_int_scalar(name, "n_post", n_post, low=1)
    rng = np.random.default_rng(None if seed is None else as_int_scalar(name, "seed", seed, low=0))
    if not sparse:
        dense = np.zeros((n_post, n_pre), dtype=np.int16)
        keep = np.ones((n_post, n_pre), dtype=bool)
        if not allow_self:
            np.fill_diagonal(keep, False)
        dense[keep] = _weights(name, weight, int(keep.sum()), rng)
        return dense
    rows = np.repeat(np.arange(n_post, dtype=np.int64), n_pre)
    cols = np.tile(np.arange(n_pre, dtype=np.int64), n_post)
    if not allow_self:
        keep = rows != cols
        rows, cols = rows[keep], cols[keep]
    return _build(rows, cols, _weights(name, weight, rows.size, rng), (n_post, n_pre), True)


def _list_columns(name: str, connections: Any) -> np.ndarray:
    """The list as a 2-D float array ``(entries, 2..4)``."""
    if hasattr(connections, "nnz"):
        raise ValidationError(name, "connections", "must be a list of (pre, post[, weight[, "
                              "delay]]) tuples or a 2-D array; for a sparse matrix use Sparse "
                              "directly", connections)
    try:
        table = np.asarray(connections)
    except (TypeError, ValueError):  # ragged
        table = None
    if table is None or table.dtype == object:
        raise ValidationError(name, "connections", "all tuples must have the same length "
                              "(2, 3 or 4 numbers)", connections)
    if table.size == 0:
        return np.zeros((0, 2))
    if table.ndim != 2 or not 2 <= table.shape[1] <= 4:
        raise ValidationError(name, "connections", "must be (pre, post), (pre, post, weight) "
                              "or (pre, post, weight, delay) tuples: an array of shape "
                              "(entries, 2..4)", table.shape)
    if table.dtype.kind == "b" or table.dtype.kind not in "iuf":
        raise ValidationError(name, "connections", "must hold numbers", table.dtype)
    return table


def _list_indices(name: str, column: np.ndarray, size: int, side: str) -> np.ndarray:
    """One index column, whole numbers in ``0..size-1``; the first bad entry is named."""
    bad = ~np.isfinite(column) | (column != np.round(column)) if column.dtype.kind == "f" else \
        np.zeros(column.shape, dtype=bool)
    bad |= (column < 0) | (column >= size)
    if bool(np.any(bad)):
        entry = int(np.flatnonzero(bad)[0])
        value = column[entry].item()
        raise ValidationError(name, "connections", f"entry {entry}: {side} index {value!r} is not "
                              f"a unit of the {side} population (0..{size - 1}, n_{side}={size})")
    return column.astype(np.int64)


def from_list(connections: Any, n_pre: int, n_post: int, weight: Any = 1, delay: Any = 1, *,
              duplicates: str = "error", seed: int | None = None, sparse: bool = True
              ) -> tuple[np.ndarray | scipy.sparse.csr_array, np.ndarray]:
    """Synapses from an explicit list (PyNN's ``FromListConnector``).

    Parameters
    ----------
    connections
        Tuples ``(pre, post)``, ``(pre, post, weight)`` or ``(pre, post, weight, delay)`` (all of
        one length), or an array of shape ``(entries, 2..4)`` with those columns. Indices are
        unit indices of the populations (``0..n - 1``, in the order of their flattened shape).
    n_pre, n_post
        Population sizes; an index outside them is refused, naming the entry.
    weight
        Used when the list has no weight column: one int, or ``(low, high)`` for uniform ints
        (drawn in the list's order from ``seed``).
    delay
        Used when the list has no delay column: steps, ``1..255``.
    duplicates
        ``"error"`` (default) refuses a ``(pre, post)`` pair listed twice, naming both entries.
        ``"sum"`` merges the entries of one pair into one synapse whose weight is their sum; they
        must have the same delay. (PyNN makes one synapse per entry on simulators that allow
        several between two neurons; nmgraph's synapse blocks hold one per pair. Two synapses of
        the same delay onto one neuron add their weights into the same step's input, so the sum
        is the same network, as long as it fits the weight range; entries of different delays
        must go into separate synapse blocks.)
    seed
        Seed of the weight draws (with a ``(low, high)`` weight).
    sparse
        ``True`` (default): a ``scipy.sparse.csr_array``; ``False``: dense ``(post, pre)``.

    Returns
    -------
    weights, delays
        ``weights`` is ``(post, pre)``. With ``sparse=True``, ``delays`` holds one delay per
        stored entry in the order of ``weights.tocoo()`` (row by row), as ``Sparse(weights,
        delay=delays)`` takes them; with ``sparse=False``, a ``(post, pre)`` array for ``Dense``.
    """
    name = "from_list"
    n_pre = as_int_scalar(name, "n_pre", n_pre, low=1)
    n_post = as_int_scalar(name, "n_post", n_post, low=1)
    if duplicates not in _DUPLICATES:
        raise ValidationError(name, "duplicates", f"must be one of {_DUPLICATES}", duplicates)
    table = _list_columns(name, connections)
    count = table.shape[0]
    pre = _list_indices(name, table[:, 0], n_pre, "pre")
    post = _list_indices(name, table[:, 1], n_post, "post")
    if table.shape[1] >= 3:
        weights = _entry_weights(name, table[:, 2])
    else:
        weights = _weights(name, weight, count, np.random.default_rng(
            None if seed is None else as_int_scalar(name, "seed", seed, low=0)))
    if table.shape[1] == 4:
        delays = _step_delays(name, table[:, 3], "the delay column", rounded=False)
    else:
        delays = np.full(count, as_int_scalar(name, "delay", delay, low=1, high=DELAY_MAX),
                         dtype=np.int64)
    key = post * n_pre + pre
    order = np.argsort(key, kind="stable")
    key, pre, post, weights, delays = key[order], pre[order], post[order], weights[order], \
        delays[order]
    repeat = key[1:] == key[:-1]
    if bool(np.any(repeat)):
        at = int(np.flatnonzero(repeat)[0])
        first, second = sorted((int(order[at]), int(order[at + 1])))
        pair = f"(pre {int(pre[at])}, post {int(post[at])})"
        if duplicates == "error":
            raise ValidationError(name, "connections", f"entries {first} and {second} both "
                                  f"connect {pair}; a synapse block holds one synapse per pair "
                                  "(duplicates='sum' merges entries of one delay)")
        clash = repeat & (delays[1:] != delays[:-1])
        if bool(np.any(clash)):
            at = int(np.flatnonzero(clash)[0])
            first, second = sorted((int(order[at]), int(order[at + 1])))
            raise ValidationError(name, "connections", f"entries {first} and {second} connect "
                                  f"(pre {int(pre[at])}, post {int(post[at])}) with delays "
                                  f"{int(delays[at])} and {int(delays[at + 1])}; only entries of "
                                  "one delay can be summed (put the others in another synapse "
                                  "block)")
        starts = np.flatnonzero(np.concatenate(([True], ~repeat)))
        weights = np.add.reduceat(weights, starts)
        pre, post, delays = pre[starts], post[starts], delays[starts]
        over = np.abs(weights) > _WEIGHT_LIMIT
        if bool(np.any(over)):
            at = int(np.flatnonzero(over)[0])
            raise ValidationError(name, "weight", f"the summed weight of (pre {int(pre[at])}, "
                                  f"post {int(post[at])}) is outside -{_WEIGHT_LIMIT}.."
                                  f"{_WEIGHT_LIMIT}", int(weights[at]))
    return _build_with_delays(post, pre, weights, delays, (n_post, n_pre), sparse)


def grid_positions(shape: Any, spacing: Any = 1.0, origin: Any = 0.0) -> np.ndarray:
    """Positions ``(units, ndim)`` of a population laid on a grid of its shape.

    Unit ``i`` (in the order of the flattened shape, last axis fastest) sits at
    ``origin + spacing * np.unravel_index(i, shape)``, as PyNN's ``Line``, ``Grid2D`` and
    ``Grid3D`` fill sequentially. ``spacing`` and ``origin`` are one number or one per axis.
    """
    name = "grid_positions"
    shape = as_shape(name, "shape", shape)
    spacing = as_float_array(name, "spacing", spacing, shape=(len(shape),), low=0.0)
    origin = as_float_array(name, "origin", origin, shape=(len(shape),))
    index = np.indices(shape, dtype=np.float64).reshape(len(shape), -1).T
    return origin + spacing * index


def _periodic_extent(name: str, periodic: Any, shape: tuple[int, ...],
                     spacing: np.ndarray) -> np.ndarray | None:
    """Per-axis period (``inf`` where an axis does not wrap), or None when none wraps."""
    if periodic is None or periodic is False:
        return None
    if periodic is True:
        return np.asarray(shape, dtype=np.float64) * spacing
    values = list(periodic) if isinstance(periodic, (tuple, list)) else [periodic] * len(shape)
    if len(values) != len(shape):
        raise ValidationError(name, "periodic", f"needs one period per axis ({len(shape)})",
                              periodic)
    extent = np.full(len(shape), np.inf)
    for axis, value in enumerate(values):  # one per axis (at most 3)
        if value is not None:
            extent[axis] = float(as_float_array(name, "periodic", value, low=0.0))
            if extent[axis] == 0.0:
                raise ValidationError(name, "periodic", "a period must be > 0 (None: that axis "
                                      "does not wrap)", periodic)
    return extent


def distance_dependent(pre_shape: Any, post_shape: Any, p: float | Callable[[np.ndarray], Any],
                       weight: Any = 1, *, seed: int, sigma: float | None = None,
                       delay: int | Callable[[np.ndarray], Any] = 1, pre_spacing: Any = 1.0,
                       post_spacing: Any = None, pre_origin: Any = 0.0, post_origin: Any = 0.0,
                       periodic: Any = False, allow_self: bool = True, sparse: bool = True
                       ) -> tuple[np.ndarray | scipy.sparse.csr_array, np.ndarray]:
    r"""Pairs connected with a probability that depends on their distance on a grid (PyNN's
    ``DistanceDependentProbabilityConnector`` over grid structures).

    Both populations are laid on grids of their shapes (1, 2 or 3 axes, the same number for
    both): unit ``i`` at ``origin + spacing * unravel_index(i, shape)``
    (:func:`grid_positions`). The distance ``d`` of a pair is Euclidean; with ``periodic`` an
    axis of period ``L`` wraps, ``|dx| -> min(|dx|, L - |dx|)`` (PyNN's periodic boundaries).
    Each pair ``(post, pre)`` is then connected independently with probability

    .. math:: p(d) = p_0 \exp\left(-\frac{d^2}{2 \sigma^2}\right)

    when ``p`` is a number ``p_0`` and ``sigma`` is given, ``p_0`` when ``sigma`` is None, or
    ``p(d)`` when ``p`` is a function of a distance array (vectorised: it receives a float array
    and returns one probability per distance, each in ``[0, 1]``).

    Parameters
    ----------
    pre_shape, post_shape
        The populations' shapes (``population.shape``).
    p, sigma
        The connection probability, as above.
    weight
        One int, ``(low, high)`` for uniform ints, or a function of the distance array returning
        whole numbers (``|w| <= 255``).
    seed
        Seed of the connection draws and then of the weights (a ``(low, high)`` weight).
    delay
        Steps (``1..255``): one int, or a function of the distance array; its values are rounded
        half up to whole steps, ``floor(delay(d) + 0.5)``, for example
        ``delay=lambda d: 1 + d / 2.5`` for a conduction speed of 2.5 grid units per step.
    pre_spacing, post_spacing, pre_origin, post_origin
        Grid spacing and the position of unit 0, one number or one per axis. ``post_spacing``
        defaults to ``pre_spacing``; to lay a coarse layer over a fine one of the same extent,
        give ``post_spacing = pre_spacing * pre_shape / post_shape``.
    periodic
        ``False``; ``True`` to wrap every axis with the pre grid's extent
        (``pre_shape * pre_spacing``, a torus); or one period per axis (``None``: that axis does
        not wrap).
    allow_self
        ``False`` leaves out ``post == pre`` (a population onto itself).
    sparse
        ``True`` (default): a ``scipy.sparse.csr_array``; ``False``: dense ``(post, pre)``.

    Returns
    -------
    weights, delays
        As :func:`from_list`: ``delays`` one per stored entry of ``weights.tocoo()`` when sparse,
        ``(post, pre)`` when dense.

    Notes
    -----
    One uniform number is drawn per pair, post unit by post unit in row order, in chunks of
    rows (bounded memory, the same draws whatever the chunk size): time grows as
    ``n_pre * n_post``.
    """
    name = "distance_dependent"
    pre_shape = as_shape(name, "pre_shape", pre_shape)
    post_shape = as_shape(name, "post_shape", post_shape)
    if len(pre_shape) != len(post_shape) or len(pre_shape) > 3:
        raise ValidationError(name, "post_shape", "pre and post grids need the same number of "
                              f"axes, 1 to 3 (pre_shape {pre_shape})", post_shape)
    seed = as_int_scalar(name, "seed", seed, low=0)
    ndim = len(pre_shape)
    pre_spacing = as_float_array(name, "pre_spacing", pre_spacing, shape=(ndim,), low=0.0)
    post_spacing = pre_spacing if post_spacing is None else as_float_array(
        name, "post_spacing", post_spacing, shape=(ndim,), low=0.0)
    pre_pos = grid_positions(pre_shape, pre_spacing, pre_origin)
    post_pos = grid_positions(post_shape, post_spacing, post_origin)
    period = _periodic_extent(name, periodic, pre_shape, pre_spacing)
    if callable(p):
        if sigma is not None:
            raise ValidationError(name, "sigma", "goes with a number p (p0); a function p(d) "
                                  "gives the whole profile", sigma)
        profile = p
    else:
        p0 = float(as_float_array(name, "p", p, low=0.0, high=1.0))
        if sigma is None:
            def profile(d: np.ndarray) -> np.ndarray:
                return np.full(d.shape, p0)
        else:
            s = float(as_float_array(name, "sigma", sigma, low=0.0))
            if s == 0.0:
                raise ValidationError(name, "sigma", "must be > 0", sigma)

            def profile(d: np.ndarray) -> np.ndarray:
                return p0 * np.exp(-(d * d) / (2.0 * s * s))
    n_pre, n_post = pre_pos.shape[0], post_pos.shape[0]

    def distances(post_rows: np.ndarray, pre_cols: np.ndarray | None = None) -> np.ndarray:
        """Distances of ``post_rows`` to every pre unit (2-D), or pairwise with ``pre_cols``."""
        if pre_cols is None:
            diff = np.abs(post_pos[post_rows][:, None, :] - pre_pos[None, :, :])
        else:
            diff = np.abs(post_pos[post_rows] - pre_pos[pre_cols])
        if period is not None:  # the nearest image: |dx| mod L, then min(dx, L - dx)
            diff = np.mod(diff, period)
            diff = np.minimum(diff, period - diff)
        return np.sqrt(np.einsum("...k,...k->...", diff, diff))

    rng = np.random.default_rng(seed)
    rows_list, cols_list = [], []
    chunk = max(1, _CHUNK_ENTRIES // (n_pre * ndim))
    for start in range(0, n_post, chunk):  # chunks of rows: bounded memory
        stop = min(n_post, start + chunk)
        d = distances(np.arange(start, stop))
        prob = _checked_probability(name, profile, d)
        hit = rng.random(d.shape) < prob
        r, c = np.nonzero(hit)
        rows_list.append(r + start)
        cols_list.append(c)
    rows = np.concatenate(rows_list).astype(np.int64)
    cols = np.concatenate(cols_list).astype(np.int64)
    if not allow_self:
        keep = rows != cols
        rows, cols = rows[keep], cols[keep]
    need_d = callable(weight) or callable(delay)
    d = distances(rows, cols) if need_d else None
    if callable(weight):
        values = _entry_weights(name, _called(name, "weight", weight, d))
    else:
        values = _weights(name, weight, rows.size, rng)
    if callable(delay):
        delays = _step_delays(name, _called(name, "delay", delay, d), "delay(d)", rounded=True)
    else:
        delays = np.full(rows.size, as_int_scalar(name, "delay", delay, low=1, high=DELAY_MAX),
                         dtype=np.int64)
    return _build_with_delays(rows, cols, values, delays, (n_post, n_pre), sparse)


def _called(name: str, attribute: str, function: Callable[[np.ndarray], Any],
            d: np.ndarray) -> np.ndarray:
    """``function(d)`` as an array of ``d``'s shape (a scalar result is broadcast)."""
    result = np.asarray(function(d))
    try:
        return np.broadcast_to(result, d.shape)
    except ValueError:
        raise ValidationError(name, attribute, f"a function of distance must return one value "
                              f"per distance (shape {d.shape})", result.shape) from None


def _checked_probability(name: str, profile: Callable[[np.ndarray], Any],
                         d: np.ndarray) -> np.ndarray:
    prob = _called(name, "p", profile, d)
    if prob.dtype.kind not in "iufb":
        raise ValidationError(name, "p", "p(d) must return numbers", prob.dtype)
    bad = ~np.isfinite(prob) | (prob < 0) | (prob > 1)
    if bool(np.any(bad)):
        at = np.unravel_index(int(np.flatnonzero(bad)[0]), bad.shape)
        raise ValidationError(name, "p", f"p(d) must be a probability in [0, 1]; at d = "
                              f"{float(d[at]):g} it is", float(prob[at]))
    return prob
