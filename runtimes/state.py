"""The whole state of a run in a form independent of backend, partition and worker count.

Both backends can dump their state to a :class:`RunState` and load one, which is what snapshots
are made of: a run restored on any backend with any number of workers continues exactly as the
uninterrupted run would.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["MAX_STEPS", "RunState"]

#: Steps a run may reach: the multi-core runtime's messages carry the step in 31 bits.
MAX_STEPS = 2**31 - 1


@dataclass(eq=False)
class RunState:
    """State after step ``t``.

    Attributes
    ----------
    t
        Steps run.
    values
        ``{population: {var: values}}`` for every neuron population's state and parameters.
    pending
        int64 ``(max_delay, n_units)``: row ``k`` is the synaptic input already on its way that
        arrives at step ``t + 1 + k`` (columns of sources stay 0).
    counters
        Totals by counter name (``Counters`` attributes and backend extras).
    per_process
        Per-population counters.
    spike_times, spike_units
        Every spike so far (global unit ids).
    plastic
        ``{projection: {var: values}}``: the learning state of every plastic projection
        (weights, delays, tags per synapse in the projection's order; traces and the epoch's
        spike flags per pre and post neuron).
    """

    t: int
    values: dict[str, dict[str, np.ndarray]]
    pending: np.ndarray
    counters: dict[str, int]
    per_process: dict[str, dict[str, int]] = field(default_factory=dict)
    spike_times: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    spike_units: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    plastic: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)


def ring_to_pending(ring: np.ndarray, t: int) -> np.ndarray:
    """Rows of a ring buffer (slot ``s % slots`` holds step ``s``) for steps ``t+1 ..``."""
    slots = ring.shape[0]
    order = (t + 1 + np.arange(slots - 1)) % slots
    return ring[order]


def pending_to_ring(pending: np.ndarray, t: int) -> np.ndarray:
    """Inverse of :func:`ring_to_pending` (the slot of step ``t`` is empty)."""
    slots = pending.shape[0] + 1
    ring = np.zeros((slots, pending.shape[1]), dtype=np.int64)
    ring[(t + 1 + np.arange(slots - 1)) % slots] = pending
    return ring
