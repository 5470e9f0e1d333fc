"""PyNN-style connectors that build weight matrices for Dense or Sparse, from an explicit seed.

Each returns a ``(post, pre)`` integer matrix: a dense ``numpy`` array, or with ``sparse=True`` a
``scipy.sparse.csr_array`` (pass it to :class:`~nmgraph.processes.Sparse`). Randomness comes from
``numpy.random.default_rng(seed)`` once, at build time, so a network is the same on every run and
every partitioning.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse

from nmgraph.core.checks import as_float_array, as_int_scalar
from nmgraph.core.errors import ValidationError

__all__ = ["fixed_indegree", "fixed_probability", "one_to_one"]

_WEIGHT_LIMIT = 2**8 - 1


def _weights(name: str, weight: Any, count: int, rng: np.random.Generator) -> np.ndarray:
    """``weight`` as one int for all, or ``(low, high)`` for uniform ints drawn in ``[low, high]``."""
    if isinstance(weight, tuple):
        if len(weight) != 2:
            raise ValidationError(name, "weight", "a range is (low, high)", weight)
        low = as_int_scalar(name, "weight", weight[0], low=-_WEIGHT_LIMIT, high=_WEIGHT_LIMIT)
        high = as_int_scalar(name, "weight", weight[1], low=low, high=_WEIGHT_LIMIT)
        return rng.integers(low, high, size=count, endpoint=True, dtype=np.int64)
    value = as_int_scalar(name, "weight", weight, low=-_WEIGHT_LIMIT, high=_WEIGHT_LIMIT)
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
