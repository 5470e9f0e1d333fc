"""The model of LI, the leaky integrator: LIF's current and voltage without threshold or spikes.

With ``decay(x, d) = sgn(x * (4096 - d)) * (|x * (4096 - d)| >> 12)`` (64-bit product, truncated
toward zero), one step with synaptic input ``a_in`` is LIF's (Lava's bit-accurate arithmetic)::

    u = decay(u, du + 1) + (a_in << 6)
    if u > 2**23:     u -= 2**24          # Loihi's wrap of the 24-bit current
    elif u <= -2**23: u += 2**24
    v = clip(decay(v, dv) + u + (bias_mant << bias_exp), -(2**23 - 1), 2**23 - 1)

and no unit ever spikes. Kernel ``_k_li:li``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nmgraph.core.fixed_point import DECAY_BITS
from nmgraph.core.models import FieldSet, NeuronModel, fixed, implements
from nmgraph.processes.integrators import LI
from nmgraph.runtimes.fixed_point import li_step
from nmgraph.runtimes.models.lif import LIFState

__all__ = ["LIModel", "LIParams"]

_DECAY = {"bits": DECAY_BITS, "signed": False, "dtype": np.int32}


@dataclass(eq=False)
class LIParams(FieldSet):
    """Per-unit parameters of leaky integrators (LIF's without threshold and reset)."""

    du: np.ndarray = fixed(**_DECAY, doc="current decay: u *= (4096 - (du + 1)) / 4096 per step")
    dv: np.ndarray = fixed(**_DECAY, doc="voltage decay: v *= (4096 - dv) / 4096 per step")
    bias_mant: np.ndarray = fixed(13, dtype=np.int32, doc="bias mantissa")
    bias_exp: np.ndarray = fixed(3, signed=False, dtype=np.int32, doc="bias exponent")

    def bias(self) -> np.ndarray:
        """``bias_mant << bias_exp`` (int64): the constant input per step."""
        return self.bias_mant.astype(np.int64) << self.bias_exp.astype(np.int64)


@implements(LI, name="li")
class LIModel(NeuronModel):
    """Leaky integrators (module docstring); state ``u, v`` as LIF's; kernel ``_k_li:li``."""

    Params = LIParams
    State = LIFState
    kernel = "nmgraph.runtimes._k_li:li"

    def step(self, state: LIFState, params: LIParams, a_in: np.ndarray) -> np.ndarray:
        return li_step(state.u, state.v, a_in, params.du, params.dv, params.bias())

    def kernel_params(self, params: LIParams) -> tuple[np.ndarray, ...]:
        """int64 ``du, dv, bias`` per unit."""
        return params.du.astype(np.int64), params.dv.astype(np.int64), params.bias()
