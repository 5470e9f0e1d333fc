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
    dt_ms
        Length of a step in milliseconds (the network's ``dt_ms``; 1.0 unless set): step ``k``
        ends at ``k * dt_ms`` ms.
    """

    times: np.ndarray
    indices: np.ndarray
    n: int
    steps: int
    dt_ms: float = 1.0

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
        """Spikes per step of each unit (``counts / steps``); see :meth:`rates_hz`."""
        return self.counts() / max(self.steps, 1)

    def rates_hz(self) -> np.ndarray:
        """Mean firing rate of each unit in Hz (``counts / (steps * dt_ms / 1000)``)."""
        return self.counts() / max(self.steps * self.dt_ms * 1e-3, 1e-300)

    def population_rate(self, bin_ms: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Population rate in Hz per time bin, as Brian2's PopulationRateMonitor smoothed by bins.

        .. math:: r_b = \\frac{\\text{spikes in bin } b}{n \\cdot \\text{bin length in s}}

        Parameters
        ----------
        bin_ms
            Bin length in ms, a whole number of steps (default: one step). The last bin holds the
            steps left over when ``steps`` is not a multiple of the bin and is scaled by its own length.

        Returns
        -------
        (bin_end_ms, rate_hz)
            Float arrays: the end time of each bin in ms and the mean rate of a unit in it, in Hz.
        """
        bin_steps = 1 if bin_ms is None else _bin_steps(bin_ms, self.dt_ms)
        n_bins = -(-self.steps // bin_steps)
        counts = np.bincount((self.times - 1) // bin_steps, minlength=n_bins)[:n_bins]
        ends = np.minimum(np.arange(1, n_bins + 1) * bin_steps, self.steps)
        lengths = ends - np.arange(n_bins) * bin_steps
        rate = counts / (max(self.n, 1) * lengths * self.dt_ms * 1e-3)
        return ends * self.dt_ms, rate

    def times_ms(self) -> np.ndarray:
        """Time of each spike in ms (``times * dt_ms``: a spike of step ``k`` at the step's end)."""
        return self.times * self.dt_ms

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SpikeEvents):
            return NotImplemented
        return (self.n == other.n and self.steps == other.steps
                and np.array_equal(self.times, other.times)
                and np.array_equal(self.indices, other.indices))

    __hash__ = None  # type: ignore[assignment]


def _bin_steps(bin_ms: float, dt_ms: float) -> int:
    """Steps per bin of ``bin_ms`` ms; the bin must be a positive whole number of steps."""
    from nmgraph.core.errors import ValidationError

    if isinstance(bin_ms, bool) or not isinstance(bin_ms, (int, float, np.integer, np.floating)):
        raise ValidationError("SpikeEvents", "bin_ms", "must be a number of milliseconds",
                              bin_ms)
    steps = float(bin_ms) / dt_ms
    if not np.isfinite(steps) or steps < 1 or abs(steps - round(steps)) > 1e-9 * max(steps, 1):
        raise ValidationError("SpikeEvents", "bin_ms", f"must be a positive whole number of steps "
                              f"of {dt_ms:g} ms", bin_ms)
    return round(steps)


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
    synaptic_updates
        Plastic synapses updated by their learning rule: at the end of each learning epoch, one
        per synapse for which a dependency of its rule is active (its pre neuron spiked in the
        epoch for an ``x0`` term, its post neuron for ``y0``, every synapse on a ``u`` epoch).
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
    messages_ranks, bytes_ranks
        On the ``mpi`` backend: spike messages and bytes sent between MPI ranks (the bytes include
        each window's message counts, one int64 per pair of ranks). ``None`` elsewhere.
    per_process
        ``{process name: {"spikes": ..., "synaptic_ops": ..., "neuron_updates": ...}}``; a
        plastic synapse process has ``{"synaptic_updates": ...}``.
    """

    steps: int = 0
    synaptic_ops: int = 0
    neuron_updates: int = 0
    spikes: int = 0
    synaptic_updates: int = 0
    messages: int | None = None
    hops: int | None = None
    messages_core: int | None = None
    messages_cores: int | None = None
    messages_chips: int | None = None
    hops_x: int | None = None
    hops_y: int | None = None
    messages_workers: int | None = None
    messages_ranks: int | None = None
    bytes_ranks: int | None = None
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
                "synaptic_updates": self.synaptic_updates, "messages": self.messages,
                "messages_core": self.messages_core,
                "messages_cores": self.messages_cores, "messages_chips": self.messages_chips,
                "hops": self.hops, "hops_x": self.hops_x, "hops_y": self.hops_y}
