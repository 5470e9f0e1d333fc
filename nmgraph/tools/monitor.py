"""State monitors: what :meth:`nmgraph.Runtime.record` gives back.

A monitor records one Var of one process, for all or some of its units, every ``every`` steps
from the step after it was created, as Brian2's ``StateMonitor(record=..., dt=...)`` and Lava's
``Monitor.probe`` do. The multi-core runtime samples in its workers' per-step hook and returns a
window's samples with the window's reply, so recording never shortens the windows between
spike exchanges.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from nmgraph.core.errors import ValidationError

if TYPE_CHECKING:
    from nmgraph.tools.runtime import Runtime

__all__ = ["Monitor", "select_units"]


def select_units(owner: str, neurons: Any, size: int) -> np.ndarray | None:
    """Flat unit indices chosen by ``neurons``: None (all), a slice, a boolean mask of ``size``
    values, or integers in ``0..size - 1`` without repeats (kept in the order given)."""
    if neurons is None:
        return None
    if isinstance(neurons, slice):
        return np.arange(size, dtype=np.int64)[neurons]
    try:
        array = np.asarray(neurons)
    except (TypeError, ValueError):
        array = None
    if array is None or array.dtype == object:
        raise ValidationError(owner, "neurons", "must be None, a slice, a boolean mask or "
                              "integer indices", neurons)
    if array.dtype == bool:
        if array.size != size:
            raise ValidationError(owner, "neurons", f"a boolean mask needs {size} values",
                                  array.size)
        return np.flatnonzero(array.ravel()).astype(np.int64)
    if array.dtype.kind not in "iu":
        raise ValidationError(owner, "neurons", "must be integer indices (flat, C order)",
                              neurons)
    flat = array.astype(np.int64).ravel()
    if flat.size and (flat.min() < 0 or flat.max() >= size):
        bad = flat[(flat < 0) | (flat >= size)][0]
        raise ValidationError(owner, "neurons", f"index {bad} is outside 0..{size - 1}", bad)
    if np.unique(flat).size != flat.size:
        raise ValidationError(owner, "neurons", "lists a unit twice", neurons)
    return flat


class Monitor:
    """Recorded values of one Var (a live view: it grows as the runtime runs).

    Attributes
    ----------
    process, var
        What is recorded.
    neurons
        The recorded units (flat indices, in the order of the columns), or None for all.
    every
        Steps between samples.
    first_step
        The step of the first sample (the step after :meth:`Runtime.record`).
    """

    def __init__(self, runtime: Runtime, process: Any, var: str, population: str,
                 neurons: np.ndarray | None, every: int, first_step: int, dt_ms: float) -> None:
        self._runtime = runtime
        self.process, self.var, self.population = process, var, population
        self.neurons, self.every, self.first_step = neurons, every, first_step
        self.dt_ms = dt_ms
        order = None if neurons is None else np.sort(neurons)
        #: Columns of the backend's samples (ascending units) in the order asked for.
        self._columns = None if order is None else np.searchsorted(order, neurons)

    def matches(self, neurons: np.ndarray | None, every: int) -> bool:
        same_units = (neurons is None and self.neurons is None) or (
            neurons is not None and self.neurons is not None
            and np.array_equal(neurons, self.neurons))
        return same_units and every == self.every

    @property
    def values(self) -> np.ndarray:
        """int64 array ``(samples, units)``: row ``i`` is the value after step ``steps[i]``."""
        data = self._runtime._backend_samples(self.population, self.var)
        return data if self._columns is None else data[:, self._columns]

    @property
    def steps(self) -> np.ndarray:
        """Step of each sample (int64): ``first_step, first_step + every, ...``."""
        n = self._runtime._backend_samples(self.population, self.var).shape[0]
        return self.first_step + self.every * np.arange(n, dtype=np.int64)

    @property
    def t_ms(self) -> np.ndarray:
        """Time of each sample in ms (the end of its step: ``steps * dt_ms``)."""
        return self.steps * self.dt_ms

    def __len__(self) -> int:
        return int(self.steps.size)

    def __repr__(self) -> str:
        units = "all units" if self.neurons is None else f"{self.neurons.size} units"
        return (f"<Monitor {self.population}.{self.var}: {units}, every {self.every} step(s) "
                f"from step {self.first_step}, {len(self)} samples>")
