"""Physical units onto the fixed-point step: time constants in ms, rates in Hz.

nmgraph computes in steps and integers; a network's ``dt_ms`` says how long a step is. This module
converts the physical values people write into the per-step integers the models run, and reports
what the conversion changed: nothing is rounded silently.

Decays. A 12-bit decay constant ``d`` multiplies a state by ``(4096 - d - offset) / 4096`` per step
(``offset`` is 1 for the LIF current ``u``, which Lava decays by ``du + 1``, and 0 otherwise). For a
time constant of ``tau`` steps (``tau = tau_ms / dt_ms``) the exact factor is ``exp(-1 / tau)``, so::

    d = clip(round(4096 * (1 - exp(-1 / tau))) - offset, 0, 4095)

and the time constant the chip then has is ``tau_real = -1 / ln((4096 - d - offset) / 4096)`` steps
(``inf`` for a factor of 1, 0 for a factor of 0). Time constants much shorter than a step, or longer
than about 4096 steps, cannot be represented: they are clipped, and the report says so.

Rates. A Poisson source spikes with probability ``p = rate_hz * dt_ms / 1000`` per step (at most one
spike per step, so ``rate_hz <= 1000 / dt_ms``); the hash comparison realises ``floor(p * 2**32) /
2**32``, an error below 2.4e-10 per step.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from nmgraph.core.checks import as_float_array
from nmgraph.core.errors import QuantizationWarning, ValidationError
from nmgraph.core.fixed_point import DECAY_MAX
from nmgraph.core.network import check_dt_ms

__all__ = ["DecayQuantization", "decay_constant", "quantize_time_constant", "to_steps"]

#: Relative error of a realised time constant above which :func:`quantize_time_constant` warns.
WARN_RELATIVE_ERROR = 0.05


def time_constants(owner: Any, attribute: str, value: Any) -> np.ndarray:
    """``value`` as a float array of time constants > 0 (``inf``, no decay, allowed)."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        array = None
    if array is None or not np.issubdtype(np.asarray(value).dtype, np.number):
        raise ValidationError(owner, attribute, "must be real numbers (math.inf: no decay)", value)
    infinite = np.isposinf(array)
    checked = as_float_array(owner, attribute, np.where(infinite, 1.0, array))
    if checked.size and checked.min() <= 0:
        raise ValidationError(owner, attribute, "time constants must be > 0 (math.inf: no "
                              "decay)", float(checked.min()))
    return np.where(infinite, np.inf, checked)


def to_steps(owner: Any, attribute: str, value_ms: Any, dt_ms: float) -> np.ndarray:
    """``value_ms / dt_ms``: time constants in ms (``inf`` allowed) to steps."""
    return time_constants(owner, attribute, value_ms) / dt_ms


def decay_constant(owner: Any, attribute: str, tau: Any, *, offset: int = 0) -> np.ndarray:
    """12-bit decay constant whose per-step factor ``(4096 - (d + offset)) / 4096`` best matches
    ``exp(-1 / tau)``, for time constants ``tau`` in steps (``inf`` means no decay).

    ``offset`` is 1 for the current ``u`` (Lava decays it by ``du + 1``) and 0 for ``v`` and ``b``.
    """
    tau = time_constants(owner, attribute, tau)
    with np.errstate(divide="ignore"):
        exact = 4096.0 * (1.0 - np.exp(-1.0 / tau))
    return np.clip(np.rint(exact) - offset, 0, DECAY_MAX).astype(np.int64)


def realised_tau(decay: np.ndarray, offset: int = 0) -> np.ndarray:
    """Time constant in steps of the per-step factor ``(4096 - decay - offset) / 4096``."""
    factor = (4096.0 - np.asarray(decay, dtype=np.float64) - offset) / 4096.0
    with np.errstate(divide="ignore"):
        log = np.log(np.where(factor > 0, factor, 1.0))
        tau = np.where(factor >= 1.0, np.inf, -1.0 / np.where(log < 0, log, -1.0))
    return np.where(factor <= 0, 0.0, tau)


@dataclass(frozen=True)
class DecayQuantization:
    """What quantizing one time constant did (arrays are per neuron, or 0-d when uniform).

    Attributes
    ----------
    name
        The time constant (``tau_u``, ``tau_v``, ``tau_b``) and the decay it set (``decay``).
    decay_name
        ``du``, ``dv`` or ``db``.
    requested_steps, realised_steps
        The time constant asked for and the one the decay gives, in steps.
    decay
        The 12-bit decay constants.
    dt_ms
        The step the ms were converted with (None when the constant was given in steps).
    """

    name: str
    decay_name: str
    requested_steps: np.ndarray
    realised_steps: np.ndarray
    decay: np.ndarray
    dt_ms: float | None

    @property
    def relative_error(self) -> np.ndarray:
        """``|realised - requested| / requested`` (0 where both are infinite)."""
        asked, real = self.requested_steps, self.realised_steps
        both_inf = np.isinf(asked) & np.isinf(real)
        with np.errstate(invalid="ignore", divide="ignore"):
            error = np.abs(real - asked) / asked
        return np.where(both_inf, 0.0, np.where(np.isnan(error), np.inf, error))

    @property
    def max_relative_error(self) -> float:
        error = self.relative_error
        return float(np.max(error)) if error.size else 0.0

    def __str__(self) -> str:
        unit, scale = ("ms", self.dt_ms) if self.dt_ms is not None else ("steps", 1.0)
        worst = int(np.argmax(self.relative_error)) if self.relative_error.size else 0
        asked = float(np.ravel(self.requested_steps)[worst]) * scale
        real = float(np.ravel(self.realised_steps)[worst]) * scale
        decay = int(np.ravel(self.decay)[worst])
        where = "" if np.ndim(self.decay) == 0 else f" (worst of {np.size(self.decay)})"
        return (f"{self.name} = {asked:.4g} {unit} -> {self.decay_name} = {decay}, realised "
                f"{real:.4g} {unit}, error {100 * self.max_relative_error:.2g}%{where}")


def quantize_time_constant(owner: Any, name: str, decay_name: str, tau: Any, *, offset: int,
                           dt_ms: float | None) -> DecayQuantization:
    """Quantize one time constant (in steps when ``dt_ms`` is None, else in ms) to a 12-bit decay;
    warn (:class:`QuantizationWarning`) when the realised constant is off by more than 5%."""
    if dt_ms is None:
        steps = time_constants(owner, name, tau)
    else:
        steps = to_steps(owner, f"{name}_ms", tau, dt_ms)
    decay = decay_constant(owner, name if dt_ms is None else f"{name}_ms", steps, offset=offset)
    if np.all(decay == decay.flat[0]) and np.all(steps == steps.flat[0]):
        steps, decay = steps.flat[0] * np.ones(()), decay.flat[0] * np.ones((), np.int64)
    report = DecayQuantization(name, decay_name, np.asarray(steps, np.float64),
                               realised_tau(decay, offset), np.asarray(decay, np.int64), dt_ms)
    if report.max_relative_error > WARN_RELATIVE_ERROR:
        warnings.warn(f"{owner}: {report}; 12-bit decays (steps of 1/4096 in the per-step "
                      f"factor) keep time constants of about 0.15 to 4096 steps within a few percent; see "
                      f"the process's .time_constants",
                      QuantizationWarning, stacklevel=4)
    return report


def step_of(owner: Any, dt_ms: Any) -> float:
    """``dt_ms`` checked (default 1 ms when None)."""
    return 1.0 if dt_ms is None else check_dt_ms(owner, dt_ms)
