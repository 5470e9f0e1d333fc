"""The ``reference`` backend: the reference simulator behind the Runtime facade's interface."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from nmgraph.compilers.ir import NetworkIR
from nmgraph.runtimes.reference import ReferenceSimulator
from nmgraph.runtimes.results import Counters

__all__ = ["ReferenceBackend"]


class ReferenceBackend:
    """Runs a NetworkIR with :class:`ReferenceSimulator`, recording the requested state."""

    name = "reference"

    def __init__(self, ir: NetworkIR, executable: Any = None) -> None:
        self.sim = ReferenceSimulator(ir)
        #: With an Executable, messages and hops are counted as its routing predicts them.
        self.executable = executable
        self._recordings: dict[tuple[str, str], tuple[int, list[np.ndarray]]] = {}

    @property
    def t(self) -> int:
        return self.sim.t

    def run(self, steps: int) -> None:
        for _ in range(steps):
            self.sim.step()
            for (pop, var), (_, rows) in self._recordings.items():
                rows.append(self._value(pop, var).copy())

    def record(self, population: str, var: str) -> None:
        self._recordings.setdefault((population, var), (self.sim.t + 1, []))

    def recorded(self, population: str, var: str) -> tuple[int, np.ndarray]:
        first_step, rows = self._recordings[(population, var)]
        size = self.sim.ir.population(population).size
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
        state = self.sim.state[population]
        return state[var] if var in state else self.sim.params[population][var]

    def get(self, population: str, var: str) -> np.ndarray:
        return self._value(population, var).copy()

    def set(self, population: str, var: str, value: np.ndarray) -> None:
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

    def close(self) -> None:
        pass
