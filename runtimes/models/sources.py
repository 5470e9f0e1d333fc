"""Models of the spike sources: counter-based Poisson units and spike generators.

Poisson unit ``i`` of a process with seed ``s`` spikes at step ``t`` iff
``hash(s, i, t) >> 32 < threshold_i`` with ``threshold_i = floor(rate_i * 2**32)`` and the
SplitMix64 finaliser of ``s * 0x9E3779B97F4A7C15 + i * 0xBF58476D1CE4E5B9 + t * 0x94D049BB133111EB
+ 0x632BE59BD9B4E019`` (mod 2**64): no generator state, so no dependence on partitioning.

A spike generator emits row ``t - 1`` of its raster at step ``t`` (row ``(t - 1) % steps`` with
``repeat``), and nothing after the last row otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nmgraph.core.models import FieldSet, SourceModel, fixed, implements
from nmgraph.processes.sources import PoissonSource, SpikeGenerator
from nmgraph.runtimes.fixed_point import poisson_spikes, poisson_threshold

__all__ = ["GeneratorModel", "GeneratorParams", "NoState", "PoissonModel", "PoissonParams"]


@dataclass(eq=False)
class NoState(FieldSet):
    """Sources keep no state."""


@dataclass(eq=False)
class PoissonParams(FieldSet):
    threshold: np.ndarray = fixed(33, signed=False, high=1 << 32, dtype=np.uint64,
                                  doc="floor(rate * 2**32): spike iff hash >> 32 < threshold")
    seed: np.ndarray = fixed(64, signed=False, dtype=np.uint64, per_unit=False,
                             doc="seed of the counter-based hash")


@implements(PoissonSource, name="poisson")
class PoissonModel(SourceModel):
    """Counter-based Poisson units (module docstring); kernel ``_k_sources:poisson``."""

    Params = PoissonParams
    State = NoState
    kernel = "nmgraph.runtimes._k_sources:poisson"

    def lower(self, process: PoissonSource) -> tuple[PoissonParams, NoState]:
        params = PoissonParams.build(f"PoissonSource '{process.name}'", {
            "threshold": poisson_threshold(process.rate.ravel()),
            "seed": np.array(process.seed, dtype=np.uint64)}, process.size)
        return params, NoState()

    def step(self, state: NoState, params: PoissonParams, t: int,
             index: np.ndarray) -> np.ndarray:
        return poisson_spikes(int(params.seed), params.threshold, t, index.astype(np.uint64))

    def kernel_params(self, params: PoissonParams) -> tuple[np.ndarray, ...]:
        """uint64 ``threshold`` and ``seed`` per unit."""
        return (np.ascontiguousarray(params.threshold, dtype=np.uint64),
                np.full(params.threshold.size, params.seed, dtype=np.uint64))


@dataclass(eq=False)
class GeneratorParams(FieldSet):
    data: np.ndarray = fixed(1, signed=False, dtype=np.bool_, ndim=2,
                             doc="raster (steps, units): row k is emitted at step k + 1")
    repeat: np.ndarray = fixed(1, signed=False, dtype=np.bool_, per_unit=False,
                               doc="loop over the rows instead of stopping")


@implements(SpikeGenerator, name="generator")
class GeneratorModel(SourceModel):
    """Replays a raster (module docstring); kernel ``_k_sources:generator``."""

    Params = GeneratorParams
    State = NoState
    kernel = "nmgraph.runtimes._k_sources:generator"

    def lower(self, process: SpikeGenerator) -> tuple[GeneratorParams, NoState]:
        data = np.ascontiguousarray(process.data.reshape(process.steps, process.size))
        params = GeneratorParams.build(f"SpikeGenerator '{process.name}'", {
            "data": data, "repeat": np.array(process.repeat)}, process.size)
        return params, NoState()

    def step(self, state: NoState, params: GeneratorParams, t: int,
             index: np.ndarray) -> np.ndarray:
        steps = params.data.shape[0]
        row = t - 1
        if steps == 0:
            return np.zeros(index.size, dtype=bool)
        if bool(params.repeat):
            row %= steps
        if row >= steps:
            return np.zeros(index.size, dtype=bool)
        return np.array(params.data[row], dtype=bool)

    def kernel_params(self, params: GeneratorParams) -> tuple[np.ndarray, ...]:
        """uint8 raster with a row per unit ``(units, steps)``, and int64 ``repeat`` per unit."""
        units = params.data.shape[-1]
        return (np.ascontiguousarray(params.data.T, dtype=np.uint8),
                np.full(units, int(bool(params.repeat)), dtype=np.int64))
