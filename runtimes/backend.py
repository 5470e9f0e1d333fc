"""What every runtime backend offers the :class:`nmgraph.Runtime` facade."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from nmgraph.runtimes.results import Counters
from nmgraph.runtimes.state import RunState

__all__ = ["Backend"]


class Backend(Protocol):
    """A runtime backend, addressed by population name (the facade resolves processes).

    ``t`` is the number of steps run. Spikes of every population are always kept; state is
    recorded only for the ``(population, var)`` pairs passed to :meth:`record`, from the next step
    on. ``dump_state``/``load_state`` carry the whole run in a backend-independent form
    (snapshots).
    """

    t: int

    def run(self, steps: int) -> None: ...
    def record(self, population: str, var: str) -> None: ...
    def recorded(self, population: str, var: str) -> tuple[int, np.ndarray]: ...
    def spike_events(self, population: str) -> tuple[np.ndarray, np.ndarray]: ...
    def get(self, population: str, var: str) -> np.ndarray: ...
    def set(self, population: str, var: str, value: np.ndarray) -> None: ...
    def counters(self) -> Counters: ...
    def dump_state(self) -> RunState: ...
    def load_state(self, state: RunState) -> None: ...
    def close(self) -> None: ...
