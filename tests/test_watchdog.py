"""The watchdog: a worker that is stopped, or stuck in a loop, is reported as a WorkerError
naming it within the watchdog limit, and everything is torn down; the limit is configurable and
scales with the network."""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from test_faults import assert_clean, busy_executable, shm_entries, signal_worker_during_run

import nmgraph as nm
from nmgraph.processes import Dense, NeuronProcess, PoissonSource
from nmgraph.runtimes.multicore import WATCHDOG_MIN_S, MulticoreBackend


def test_stopped_worker_is_reported() -> None:
    message = signal_worker_during_run(signal.SIGSTOP, deadline_s=6.0, watchdog_s=1.0)
    assert "worker 1" in message and "stopped" in message and "watchdog" in message


class Spinner(NeuronProcess):
    abstract = False

    def __init__(self, shape: Any, name: str | None = None) -> None:
        super().__init__(shape, name)
        self._var("x", self.shape, 0, dtype=np.int64, low=0, high=10, bits=4, kind="state")
        self._finish()


@dataclass(eq=False)
class SpinnerParams(nm.FieldSet):
    pass


@dataclass(eq=False)
class SpinnerState(nm.FieldSet):
    x: np.ndarray = nm.fixed(4, signed=False)


@nm.implements(Spinner)
class SpinnerModel(nm.NeuronModel):
    """Loops forever from step 5 on: a stuck worker."""

    Params = SpinnerParams
    State = SpinnerState

    def step(self, state: SpinnerState, params: SpinnerParams, a_in: np.ndarray,
             t: int) -> np.ndarray:
        while t >= 5:
            pass
        return np.zeros(a_in.size, dtype=bool)


def test_spinning_worker_is_reported() -> None:
    before = shm_entries()
    net = nm.Network("spin")
    src = net.add(PoissonSource(shape=(20,), rate=0.3, seed=1, name="src"))
    spin = net.add(Spinner(shape=(10,), name="spin"))
    syn = net.add(Dense(weights=np.ones((10, 20), dtype=int), name="syn"))
    net.connect(src.s_out, syn.s_in)
    net.connect(syn.a_out, spin.a_in)
    rt = nm.Runtime(net, workers=2, watchdog_s=1.0)
    start = time.monotonic()
    with pytest.raises(nm.WorkerError) as info:
        rt.run(100)
    assert time.monotonic() - start < 6.0
    assert "stuck" in str(info.value) and "watchdog limit 1.0 s" in str(info.value)
    assert_clean(rt, before)
    rt.close()


def test_watchdog_limit_scales_and_validates() -> None:
    exe = busy_executable()
    backend = MulticoreBackend(exe, workers=2)
    try:
        assert backend.watchdog_s >= WATCHDOG_MIN_S
    finally:
        backend.close()
    for bad in (0, -1.0, float("nan"), "5", True):
        with pytest.raises(nm.SimulationError, match="watchdog_s"):
            nm.Runtime(exe, workers=2, watchdog_s=bad)
