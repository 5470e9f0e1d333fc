"""The model of LIFRefractory: Lava's LIF with a refractory period, in Loihi's fixed point.

Lava 0.10 has only a floating-point model of ``LIFRefractory`` (``PyLifRefractoryModelFloat``):
the current integrates input every step, refractory or not; the voltage of a neuron in its
refractory period is held (it stays at its reset value 0); a neuron that spikes at step ``t`` has
``refractory_period_end = t + refractory_period`` and is refractory while
``refractory_period_end >= t'``, so it integrates again from step ``t + refractory_period + 1``
and spikes at the earliest then. This model is that behaviour on the bit-accurate LIF equations,
with a countdown ``refractory`` (steps of the period left) in place of the absolute end step::

    u = decay(u, du + 1) + (a_in << 6), wrapped once into (-2**23, 2**23]      # every neuron
    held = refractory > 0
    v = v                                                 where held
    v = clip(decay(v, dv) + u + (bias_mant << bias_exp), -(2**23 - 1), 2**23 - 1)   elsewhere
    refractory = refractory - 1                           where held
    spike = v > (vth << 6);  v[spike] = 0;  refractory[spike] = refractory_period

With ``refractory_period = 0`` it is exactly LIF. The reset is LIF's (``v_reset``, ``reset``):
``v[spike] = v_reset`` or ``v - (vth << 6)``, held there for the period; the threshold is tested
on every neuron, held or not. (Lava's float model ignores ``bias_exp``; the fixed-point bias is
``bias_mant << bias_exp`` as in Lava's bit-accurate LIF.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nmgraph.core.fixed_point import ACTIVATION_SHIFT, STATE_LIMIT, THRESHOLD_SHIFT
from nmgraph.core.models import fixed, implements
from nmgraph.processes.neurons import LIFRefractory
from nmgraph.runtimes.fixed_point import decay, reset_after_spike
from nmgraph.runtimes.models.lif import LIFModel, LIFParams, LIFState

__all__ = ["LIFRefractoryModel", "LIFRefractoryParams", "LIFRefractoryState",
           "lif_refractory_step"]





@dataclass(eq=False)
class LIFRefractoryParams(LIFParams):
    """LIF's parameters plus the length of the refractory period."""

    refractory_period: np.ndarray = fixed(16, signed=False, dtype=np.int32,
                                          doc="steps a neuron holds v at 0 after a spike")


@dataclass(eq=False)
class LIFRefractoryState(LIFState):
    """LIF's state plus the steps of the refractory period still to run."""

    refractory: np.ndarray = fixed(16, signed=False, doc="refractory steps left (0: integrating)")


def lif_refractory_step(u: np.ndarray, v: np.ndarray, refractory: np.ndarray, a_in: np.ndarray,
                        du: np.ndarray, dv: np.ndarray, vth: np.ndarray, bias: np.ndarray,
                        period: np.ndarray, v_reset: np.ndarray | None = None,
                        subtract: np.ndarray | None = None) -> np.ndarray:
    """One step in place (module docstring); returns the spikes."""
    new_u = decay(u, du + 1) + (a_in.astype(np.int64) << ACTIVATION_SHIFT)
    new_u = np.where(new_u > STATE_LIMIT, new_u - 2 * STATE_LIMIT,
                     np.where(new_u <= -STATE_LIMIT, new_u + 2 * STATE_LIMIT, new_u))
    u[...] = new_u
    held = refractory > 0
    integrated = np.clip(decay(v, dv) + new_u + bias, -(STATE_LIMIT - 1), STATE_LIMIT - 1)
    v[...] = np.where(held, v, integrated)
    refractory[...] = np.where(held, refractory - 1, refractory)
    threshold = vth.astype(np.int64) << THRESHOLD_SHIFT
    spikes = v > threshold
    reset_after_spike(v, spikes, threshold, v_reset, subtract)
    refractory[spikes] = period[spikes]
    return spikes


@implements(LIFRefractory, name="lif_refractory")
class LIFRefractoryModel(LIFModel):
    """LIF with a refractory period (module docstring); kernel
    ``_k_lif_refractory:lif_refractory``."""

    Params = LIFRefractoryParams
    State = LIFRefractoryState
    kernel = "nmgraph.runtimes._k_lif_refractory:lif_refractory"

    def step(self, state: LIFRefractoryState, params: LIFRefractoryParams,
             a_in: np.ndarray) -> np.ndarray:
        return lif_refractory_step(state.u, state.v, state.refractory, a_in, params.du,
                                   params.dv, params.vth, params.bias(),
                                   params.refractory_period.astype(np.int64),
                                   **params.reset_arguments())

    def kernel_params(self, params: LIFRefractoryParams) -> tuple[np.ndarray, ...]:
        """int64 ``du, dv, vth_reset, bias, reset_kind`` (as LIF), then ``refractory_period``
        per neuron."""
        return (*super().kernel_params(params), params.refractory_period.astype(np.int64))
