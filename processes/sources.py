"""Spike sources: a replayed spike raster and counter-based Poisson spikes."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from nmgraph.core.checks import as_float_array, as_int_array, as_int_scalar, as_shape, process_label
from nmgraph.core.errors import ValidationError
from nmgraph.processes.base import SourceProcess
from nmgraph.processes.units import step_of

__all__ = ["SEED_MAX", "PoissonSource", "SpikeGenerator", "seed_from_name"]

SEED_MAX = 2**64 - 1


class SpikeGenerator(SourceProcess):
    """Replays a boolean spike raster.

    Row ``k`` of ``data`` is emitted at step ``k + 1``. After the last row the generator stops
    (stays silent) unless ``repeat=True``, in which case it starts again from row 0, so that step
    ``t`` emits row ``(t - 1) % steps``.

    Parameters
    ----------
    data
        Array ``(steps, *shape)`` of bools (or 0/1 integers).
    repeat
        Loop over the rows instead of stopping.
    """

    abstract = False

    def __init__(self, data: Any, repeat: bool = False, name: str | None = None) -> None:
        label = process_label(type(self), name)
        raster = _as_raster(label, data)
        super().__init__(raster.shape[1:], name)
        self.repeat = repeat
        raster.flags.writeable = False
        self.data = raster
        self._finish()

    @classmethod
    def from_events(cls, times: Any, indices: Any, shape: Any, steps: int | None = None,
                    repeat: bool = False, name: str | None = None) -> SpikeGenerator:
        """A generator from spike events: unit ``indices[j]`` spikes at step ``times[j]`` (from 1).

        ``steps`` (default: the last time) sets the length of the raster, which matters with
        ``repeat=True``.
        """
        label = process_label(cls, name)
        shape = as_shape(label, "shape", shape)
        n = int(np.prod(shape))
        times = as_int_array(label, "times", times, low=1).ravel()
        indices = as_int_array(label, "indices", indices, low=0, high=n - 1).ravel()
        if times.size != indices.size:
            raise ValidationError(label, "indices", "must have as many entries as times",
                                  (times.size, indices.size))
        last = int(times.max()) if times.size else 1
        steps = last if steps is None else as_int_scalar(label, "steps", steps, low=last)
        raster = np.zeros((steps, n), dtype=bool)
        raster[times - 1, indices] = True
        return cls(raster.reshape((steps, *shape)), repeat=repeat, name=name)

    @property
    def repeat(self) -> bool:
        """Loop over the rows instead of stopping (assign to change it; validated)."""
        return self._repeat

    @repeat.setter
    def repeat(self, value: Any) -> None:
        if not isinstance(value, (bool, np.bool_)):
            raise ValidationError(self, "repeat", "must be True or False", value)
        self._repeat = bool(value)

    @property
    def steps(self) -> int:
        """Number of rows in the raster."""
        return int(self.data.shape[0])

    def constructor_args(self) -> dict[str, Any]:
        """``data`` (a copy of the spike array) and ``repeat``."""
        return {"data": np.array(self.data), "repeat": self.repeat}


class PoissonSource(SourceProcess):
    """Independent Poisson (Bernoulli per step) spike trains from a counter-based hash.

    Unit ``i`` spikes at step ``t`` iff ``hash(seed, i, t) >> 32 < floor(rate_i * 2**32)``, with the
    SplitMix64 finaliser applied to ``seed * 0x9E3779B97F4A7C15 + i * 0xBF58476D1CE4E5B9 +
    t * 0x94D049BB133111EB + 0x632BE59BD9B4E019`` (mod 2**64). No generator state is kept, so the
    spikes do not depend on how the network is partitioned or run.

    Parameters
    ----------
    shape
        Number of units, or a tuple.
    rate
        Spike probability per step, 0..1 (scalar or per unit).
    seed
        0..2**64 - 1. When not given it is derived from the process name (BLAKE2b of the name), so
        that two sources never share a train by accident and a run is still reproducible.
    rate_hz
        The rate in Hz instead of ``rate``: ``rate = rate_hz * dt_ms / 1000`` (at most one spike
        per step, so at most ``1000 / dt_ms`` Hz).
    dt_ms
        The step ``rate_hz`` is converted with (default 1 ms); it must be the network's ``dt_ms``.

    Examples
    --------
    >>> drive = PoissonSource(100, rate_hz=20)          # 20 Hz at 1 ms steps: rate 0.02
    >>> fast = PoissonSource(100, rate_hz=20, dt_ms=0.1)  # for Network(dt_ms=0.1): rate 0.002
    """

    abstract = False

    def __init__(self, shape: Any, rate: Any = None, seed: int | None = None,
                 name: str | None = None, *, rate_hz: Any = None,
                 dt_ms: float | None = None) -> None:
        super().__init__(shape, name)
        if rate is not None and rate_hz is not None:
            raise ValidationError(self, "rate_hz", "give rate (probability per step) or rate_hz "
                                  "(Hz), not both", rate_hz)
        if dt_ms is not None or rate_hz is not None:   # converted from Hz: the step is kept
            object.__setattr__(self, "_dt_ms", step_of(self, dt_ms))
        if rate_hz is not None:
            self._rate = self._from_hz(rate_hz)
        else:
            self._rate = self._probability(0.0 if rate is None else rate)
        self.seed = seed_from_name(self.name) if seed is None else seed
        self._finish()

    @property
    def seed(self) -> int:
        """Seed of the counter-based hash, 0..2**64 - 1 (assign to change it; validated)."""
        return self._seed

    @seed.setter
    def seed(self, value: Any) -> None:
        self._seed = as_int_scalar(self, "seed", value, low=0, high=SEED_MAX)

    @property
    def rate(self) -> np.ndarray:
        """Spike probability per step of each unit (read-only array; assign to change it)."""
        return self._rate

    @rate.setter
    def rate(self, value: Any) -> None:
        self._rate = self._probability(value)

    @property
    def rate_hz(self) -> np.ndarray:
        """Rate of each unit in Hz, ``rate * 1000 / dt_ms`` with the step this source was built
        for (else its network's, else 1 ms); assign to change it."""
        return self._rate * 1000.0 / self._step_ms()

    @rate_hz.setter
    def rate_hz(self, value: Any) -> None:
        rate = self._from_hz(value)
        if self.dt_ms is None:   # converted from Hz now: the step used is kept, as at construction
            object.__setattr__(self, "_dt_ms", self._step_ms())
        self._rate = rate

    def _step_ms(self) -> float:
        if self.dt_ms is not None:
            return self.dt_ms
        network = self.network
        while network is not None and network.owner is not None:
            network = network.owner.network
        return network.dt_ms if network is not None else 1.0

    def _from_hz(self, value: Any) -> np.ndarray:
        step = self._step_ms()
        hz = as_float_array(self, "rate_hz", value, shape=self.shape, low=0.0)
        if hz.size and hz.max() * step / 1000.0 > 1.0:
            raise ValidationError(self, "rate_hz", f"is at most {1000.0 / step:g} Hz at steps of "
                                  f"{step:g} ms (one spike per step)", float(hz.max()))
        return self._probability(hz * step / 1000.0)

    def _probability(self, value: Any) -> np.ndarray:
        probability = as_float_array(self, "rate", value, shape=self.shape, low=0.0)
        if probability.size and probability.max() > 1.0:
            step = self._step_ms()
            raise ValidationError(self, "rate", f"is a spike probability per step (0..1), not a "
                                  f"rate in Hz; for a rate in Hz give rate_hz= (at {step:g} ms "
                                  f"steps, rate_hz=50 is rate={50 * step / 1000:g})",
                                  float(probability.max()))
        probability.flags.writeable = False
        return probability

    def constructor_args(self) -> dict[str, Any]:
        """``shape``, ``rate`` (a float when uniform, else the per-unit array) and ``seed``."""
        rate = self.rate
        uniform = rate.size == 0 or bool(np.all(rate == rate.flat[0]))
        args = {"shape": self.shape, "rate": float(rate.flat[0]) if uniform else np.array(rate),
                "seed": self.seed}
        if self.dt_ms is not None:
            args["dt_ms"] = self.dt_ms
        return args


def seed_from_name(name: str) -> int:
    """A 64-bit seed derived from a process name (BLAKE2b, little endian)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


def _as_raster(label: str, data: Any) -> np.ndarray:
    try:
        raster = np.asarray(data)
    except (TypeError, ValueError):
        raise ValidationError(label, "data", "cannot be read as an array", data) from None
    if raster.ndim < 2 or 0 in raster.shape:
        raise ValidationError(label, "data", "must be an array (steps, n) with steps, n > 0", data)
    if raster.dtype.kind == "b":
        return np.array(raster, dtype=bool)
    if raster.dtype.kind not in "iu" or not np.isin(raster, (0, 1)).all():
        raise ValidationError(label, "data", "must hold bools (or 0/1 integers)", data)
    return raster.astype(bool)
