"""A test transport that injects faults: the shared-memory transport, whose exchange raises in
the chosen workers once the test arms it (through a flag in shared memory, seen by the forked
workers). Fault injection lives here, not in production code."""

from __future__ import annotations

import multiprocessing
from typing import Any

import numpy as np

from nmgraph.runtimes.transport import SharedMemoryTransport


class FaultyTransport:
    """A transport factory for ``nm.Runtime(exe, workers=n, transport=FaultyTransport(...))``.

    ``failing``: the ranks whose exchange raises ``RuntimeError("injected failure ...")`` at the
    first window that ends after :meth:`arm` (all ranks when None).
    """

    def __init__(self, failing: tuple[int, ...] | None = None) -> None:
        self.failing = failing
        self._armed = multiprocessing.get_context("fork").Value("i", 0)
        self.inner: SharedMemoryTransport | None = None

    def __call__(self, n_workers: int, capacity: np.ndarray) -> FaultyTransport:
        self.inner = SharedMemoryTransport.create(n_workers, capacity, "nmgtest")
        return self

    def arm(self) -> None:
        self._armed.value = 1

    def for_rank(self, rank: int) -> _FaultyView:
        fails = self.failing is None or rank in self.failing
        return _FaultyView(self.inner.for_rank(rank), self._armed if fails else None)

    def abort(self, code: int) -> None:
        self.inner.abort(code)

    def unlink(self) -> None:
        self.inner.unlink()


class _FaultyView:
    def __init__(self, view: SharedMemoryTransport, armed: Any) -> None:
        self._view = view
        self.exchange_core = _FaultyExchange(view.exchange_core, armed, view.rank)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._view, name)


class _FaultyExchange:
    def __init__(self, core: Any, armed: Any, rank: int) -> None:
        self._core, self._armed, self._rank = core, armed, rank

    @property
    def window(self) -> int:
        return self._core.window

    def exchange_counts(self, counts: np.ndarray, timeout: float, in_counts: np.ndarray) -> int:
        if self._armed is not None and self._armed.value:
            raise RuntimeError(f"injected failure in rank {self._rank} (testing)")
        return self._core.exchange_counts(counts, timeout, in_counts)
