"""What a run gives back: spike events and operation counters."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Counters", "SpikeEvents"]


@dataclass(frozen=True)
class SpikeEvents:
    """Spikes of one process, sorted by time then index.

    Attributes
    ----------
    times
        Step of each spike (int64, counted from 1).
    indices
        Unit of each spike within the process (int64, flat C order).
    n
        Number of units of the process.
    steps
        Steps run so far (the number of rows of :meth:`to_dense`).
    """

    times: np.ndarray
    indices: np.ndarray
    n: int
    steps: int

    def __len__(self) -> int:
        return int(self.times.size)

    def to_dense(self) -> np.ndarray:
        """Bool array ``(steps, n)``; row ``k`` holds the spikes of step ``k + 1``."""
        dense = np.zeros((self.steps, self.n), dtype=bool)
        dense[self.times - 1, self.indices] = True
        return dense

    def counts(self) -> np.ndarray:
        """Number of spikes of each unit (int64, length ``n``)."""
        return np.bincount(self.indices, minlength=self.n).astype(np.int64)

    def rates(self) -> np.ndarray:
        """Spikes per step of each unit (``counts / steps``)."""
        return self.counts() / max(self.steps, 1)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SpikeEvents):
            return NotImplemented
        return (self.n == other.n and self.steps == other.steps
                and np.array_equal(self.times, other.times)
                and np.array_equal(self.indices, other.indices))

    __hash__ = None  # type: ignore[assignment]


@dataclass
class Counters:
    """Operations counted during a run (the inputs of the energy model).

    Attributes
    ----------
    steps
        Steps run.
    synaptic_ops
        Synapses activated by a spike (one per synapse per presynaptic spike).
    neuron_updates
        Neuron updates (one per neuron of a neuron population per step; sources are not neurons).
    spikes
        Spikes emitted, by neurons and sources.
    messages
        Spike messages, one per (spike, destination core): ``messages_core`` stay in the core,
        ``messages_cores`` go to another core of the chip, ``messages_chips`` to another chip.
    hops
        Mesh links travelled (multicast tree links on profiles that route multicast, else the
        unicast paths' hops, split into ``hops_x`` (east-west) and ``hops_y`` (north-south)).
        All traffic counters are ``None`` when the run has no mapping (a bare network).
    messages_workers
        Messages the multi-core runtime exchanged between its worker processes (one per spike
        and destination worker): a cost of the simulation on this machine, not of the chip.
        ``None`` on the reference backend.
    per_process
        ``{process name: {"spikes": ..., "synaptic_ops": ..., "neuron_updates": ...}}``.
    """

    steps: int = 0
    synaptic_ops: int = 0
    neuron_updates: int = 0
    spikes: int = 0
    messages: int | None = None
    hops: int | None = None
    messages_core: int | None = None
    messages_cores: int | None = None
    messages_chips: int | None = None
    hops_x: int | None = None
    hops_y: int | None = None
    messages_workers: int | None = None
    per_process: dict[str, dict[str, int]] = field(default_factory=dict)

    def set_traffic(self, values: dict[str, int]) -> None:
        """Fill the message and hop counters from ``values`` (keys as the attributes)."""
        for name in ("messages_core", "messages_cores", "messages_chips", "hops", "hops_x",
                     "hops_y"):
            setattr(self, name, int(values[name]))
        self.messages = self.messages_core + self.messages_cores + self.messages_chips

    def as_dict(self) -> dict[str, object]:
        """Plain dict of the totals (for reports and JSON)."""
        return {"steps": self.steps, "synaptic_ops": self.synaptic_ops,
                "neuron_updates": self.neuron_updates, "spikes": self.spikes,
                "messages": self.messages, "messages_core": self.messages_core,
                "messages_cores": self.messages_cores, "messages_chips": self.messages_chips,
                "hops": self.hops, "hops_x": self.hops_x, "hops_y": self.hops_y}
