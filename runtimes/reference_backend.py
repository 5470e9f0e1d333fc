"""The ``reference`` backend: the reference simulator behind the Runtime facade's interface."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from nmgraph.compilers.ir import NetworkIR
from nmgraph.core.progress import progress_range
from nmgraph.runtimes.plastic_reference import plastic_axis, plastic_size
from nmgraph.runtimes.reference_simulator import ReferenceSimulator
from nmgraph.runtimes.results import Counters
from nmgraph.runtimes.state import RunState, pending_to_ring, ring_to_pending

__all__ = ["ReferenceBackend"]


class ReferenceBackend:
    """Runs a NetworkIR with :class:`ReferenceSimulator`, recording the requested state."""

    name = "reference"

    def __init__(self, ir: NetworkIR, executable: Any = None, progress: Any = None) -> None:
        self.sim = ReferenceSimulator(ir)
        #: A bar during runs (see nmgraph.core.progress): None (automatic), True, False, a stream.
        self.progress = progress
        #: With an Executable, messages and hops are counted as its routing predicts them.
        self.executable = executable
        #: (population, var) -> (first step, every, neuron indices or None, rows)
        self._recordings: dict[tuple[str, str], tuple[int, int, Any, list[np.ndarray]]] = {}

    @property
    def t(self) -> int:
        return self.sim.t

    def run(self, steps: int) -> None:
        for _ in progress_range(self.progress, steps, f"run '{self.sim.ir.name}'"):
            self.sim.step()
            t = self.sim.t
            for (pop, var), (first, every, neurons, rows) in self._recordings.items():
                if (t - first) % every == 0:
                    value = self._value(pop, var)
                    rows.append(value.copy() if neurons is None else value[..., neurons])

    def record(self, population: str, var: str, neurons: np.ndarray | None = None,
               every: int = 1) -> None:
        """Record ``var`` from the next step on, every ``every`` steps, of ``neurons`` (indices
        within the population; all when None)."""
        self._recordings.setdefault((population, var), (self.sim.t + 1, every, neurons, []))

    def recorded(self, population: str, var: str) -> tuple[int, np.ndarray]:
        first_step, _, neurons, rows = self._recordings[(population, var)]
        if population in self.sim.plastic:
            plastic = self.sim.plastic[population]
            size = plastic_size(plastic.proj, plastic_axis(var))
        else:
            size = self.sim.ir.population(population).size if neurons is None else neurons.size
        data = np.stack(rows) if rows else np.zeros((0, size), dtype=np.int64)
        return first_step, data

    def spike_events(self, population: str) -> tuple[np.ndarray, np.ndarray]:
        log = self.sim.spike_log[population]
        if not log:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        times = np.concatenate([np.full(idx.size, t, dtype=np.int64) for t, idx in log])
        indices = np.concatenate([idx for _, idx in log]).astype(np.int64)
        return times, indices

    def _value(self, population: str, var: str) -> np.ndarray:
        if population in self.sim.plastic:
            return self.sim.plastic[population].get(var)
        state = self.sim.state[population]
        return state[var] if var in state else self.sim.params[population][var]

    def get(self, population: str, var: str) -> np.ndarray:
        return self._value(population, var).copy()

    def set(self, population: str, var: str, value: np.ndarray) -> None:
        if population in self.sim.plastic:
            self.sim.plastic[population].set(var, value)
            return
        target = self._value(population, var)
        target[...] = value

    def counters(self) -> Counters:
        counters = copy.deepcopy(self.sim.counters)
        if self.executable is not None:
            units = [idx + self.sim.ir.population(name).offset
                     for name, log in self.sim.spike_log.items() for _, idx in log]
            spiking = np.concatenate(units) if units else np.zeros(0, dtype=np.int64)
            counters.set_traffic(self.executable.traffic_of(spiking))
        return counters

    def dump_state(self) -> RunState:
        sim, ir = self.sim, self.sim.ir
        pending = np.zeros((sim.ring_slots - 1, ir.n_units), dtype=np.int64)
        values = {}
        for pop in ir.populations:
            if pop.is_source:
                continue
            values[pop.name] = {**{k: v.copy() for k, v in sim.state[pop.name].items()},
                                **{k: v.copy() for k, v in sim.params[pop.name].items()}}
            pending[:, pop.offset:pop.stop] = ring_to_pending(sim.inputs[pop.name], sim.t)
        times, units = self._all_spikes()
        counters = self.counters()
        totals = {k: v for k, v in counters.as_dict().items() if v is not None}
        plastic = {name: projection.dump() for name, projection in sim.plastic.items()}
        return RunState(sim.t, values, pending, totals, copy.deepcopy(counters.per_process),
                        times, units, plastic)

    def load_state(self, state: RunState) -> None:
        sim, ir = self.sim, self.sim.ir
        sim.t = state.t
        for pop in ir.populations:
            if pop.is_source:
                continue
            for var, value in state.values[pop.name].items():
                self._value(pop.name, var)[...] = value
            sim.inputs[pop.name][...] = pending_to_ring(state.pending[:, pop.offset:pop.stop],
                                                        state.t)
        for name, values in state.plastic.items():
            sim.plastic[name].load(values)
        counters = sim.counters
        for name in ("steps", "synaptic_ops", "neuron_updates", "spikes", "synaptic_updates"):
            setattr(counters, name, int(state.counters.get(name, 0)))
        counters.per_process = copy.deepcopy(state.per_process)
        for pop in ir.populations:
            mine = (state.spike_units >= pop.offset) & (state.spike_units < pop.stop)
            times, units = state.spike_times[mine], state.spike_units[mine] - pop.offset
            order = np.lexsort((units, times))
            times, units = times[order], units[order]
            steps, starts = np.unique(times, return_index=True)
            sim.spike_log[pop.name] = [(int(t), chunk) for t, chunk in
                                       zip(steps, np.split(units, starts[1:]))]

    def _all_spikes(self) -> tuple[np.ndarray, np.ndarray]:
        times, units = [], []
        for pop in self.sim.ir.populations:
            t, idx = self.spike_events(pop.name)
            times.append(t)
            units.append(idx + pop.offset)
        return np.concatenate(times), np.concatenate(units)

    def close(self) -> None:
        pass
