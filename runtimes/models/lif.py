"""Models of the leaky integrate-and-fire family: LIF, IF and ALIF (Loihi's fixed point).

With ``decay(x, d) = sgn(x * (4096 - d)) * (|x * (4096 - d)| >> 12)`` (64-bit product, truncated
toward zero), one LIF step with synaptic input ``a_in`` is (Lava's bit-accurate LIF)::

    u = decay(u, du + 1) + (a_in << 6)
    if u > 2**23:     u -= 2**24          # Loihi's wrap of the 24-bit current
    elif u <= -2**23: u += 2**24
    v = clip(decay(v, dv) + u + (bias_mant << bias_exp), -(2**23 - 1), 2**23 - 1)
    spike = v > (vth << 6)
    v[spike] = v_reset                     where reset = 0 ("value"; v_reset = 0 is Lava's LIF)
    v[spike] = v - (vth << 6)              where reset = 1 ("subtract")

IF is LIF with ``du = 4095`` and ``dv = 0``. ALIF adds an adaptive threshold ``b``::

    b = decay(b, db);  spike = v > (vth << 6) + b
    v[spike] = v_reset  or  v - ((vth << 6) + b)  (the reset as LIF, the threshold crossed)
    b[spike] = min(b + (beta << 6), 2**23 - 1)

The process takes one reset mode for its population; the model holds it per neuron (``reset``,
0 or 1), as every other parameter, so that files, snapshots and the runtimes treat it alike.
``v_reset`` and ``reset`` are declared with defaults (0: Lava's reset): executables and snapshots
written before they existed load unchanged.

The kernels receive the reset as a word per neuron, ``(v_reset << 1) | reset``, in the high 32
bits of the threshold's array (``vth_reset``; the reset adds no array to their loops), and a flag
per run (``reset_kind``, :meth:`LIFParams.threshold_reset`): a run whose words are all 0 takes
Lava's loop, which ignores them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nmgraph.core.fixed_point import DECAY_BITS, STATE_BITS, STATE_LIMIT, STATE_MAX, STATE_MIN
from nmgraph.core.models import FieldSet, NeuronModel, fixed, implements
from nmgraph.processes.neurons import ALIF, IF, LIF, RESET_MODES
from nmgraph.runtimes.fixed_point import alif_step, lif_step

__all__ = ["ALIFModel", "ALIFParams", "ALIFState", "IFModel", "LIFModel", "LIFParams", "LIFState",
           "reset_code"]

_DECAY = {"bits": DECAY_BITS, "signed": False, "dtype": np.int32}


@dataclass(eq=False)
class LIFParams(FieldSet):
    """Per-neuron parameters of LIF (and IF)."""

    du: np.ndarray = fixed(**_DECAY, doc="current decay: u *= (4096 - (du + 1)) / 4096 per step")
    dv: np.ndarray = fixed(**_DECAY, doc="voltage decay: v *= (4096 - dv) / 4096 per step")
    vth: np.ndarray = fixed(17, signed=False, dtype=np.int32, doc="threshold mantissa (<< 6)")
    bias_mant: np.ndarray = fixed(13, dtype=np.int32, doc="bias mantissa")
    bias_exp: np.ndarray = fixed(3, signed=False, dtype=np.int32, doc="bias exponent")
    v_reset: np.ndarray = fixed(STATE_BITS, low=-STATE_MAX, high=STATE_MAX, dtype=np.int32,
                                default=0, doc="voltage after a spike where reset = 0")
    reset: np.ndarray = fixed(1, signed=False, dtype=np.int32, default=0,
                              doc="reset mode: 0 sets v = v_reset after a spike, 1 subtracts "
                                  "the threshold")

    def bias(self) -> np.ndarray:
        """``bias_mant << bias_exp`` (int64): the constant input per step."""
        return self.bias_mant.astype(np.int64) << self.bias_exp.astype(np.int64)

    def reset_arguments(self) -> dict[str, np.ndarray | None]:
        """``v_reset`` and ``subtract`` for the NumPy steps (None where Lava's reset to 0
        applies to every neuron, which then takes the unchanged code path)."""
        if not self.v_reset.any() and not self.reset.any():
            return {"v_reset": None, "subtract": None}
        return {"v_reset": self.v_reset.astype(np.int64), "subtract": self.reset != 0}

    def threshold_reset(self) -> tuple[np.ndarray, np.ndarray]:
        """The kernels' int64 ``vth_reset`` per neuron, ``(word << 32) | vth`` with the reset word
        ``word = (v_reset << 1) | reset``, and ``reset_kind`` (one value, repeated per neuron):
        0 when every word is 0 (Lava's reset to 0), 1 when every neuron resets to its
        ``v_reset``, 2 when every neuron subtracts, 3 for a mix. Called on one run's units, the
        kind is the run's: the kernels choose their loop by it."""
        subtract = self.reset != 0
        word = (self.v_reset.astype(np.int64) << 1) | subtract
        packed = (word << 32) | (self.vth.astype(np.int64) & 0xFFFFFFFF)
        if not word.any():
            kind = 0
        elif not subtract.any():
            kind = 1
        else:
            kind = 2 if subtract.all() else 3
        return packed, np.full(word.shape, kind, dtype=np.int64)


def reset_code(process: object) -> int:
    """The model's ``reset`` value of a process's reset mode (0: ``"value"``, 1:
    ``"subtract"``)."""
    return RESET_MODES.index(getattr(process, "reset", "value"))


@dataclass(eq=False)
class LIFState(FieldSet):
    """State of LIF neurons: 24-bit current and voltage."""

    u: np.ndarray = fixed(STATE_BITS, low=STATE_MIN, high=STATE_LIMIT, doc="synaptic current")
    v: np.ndarray = fixed(STATE_BITS, low=-STATE_MAX, high=STATE_MAX, doc="membrane voltage")


@implements(LIF, name="lif")
class LIFModel(NeuronModel):
    """Lava's bit-accurate LIF (module docstring); kernel ``_k_lif:lif``."""

    Params = LIFParams
    State = LIFState
    kernel = "nmgraph.runtimes._k_lif:lif"

    def lower(self, process: LIF) -> tuple[LIFParams, LIFState]:
        """Every field from the Var of its name; ``reset`` from the process's reset mode."""
        params, state = super().lower(process)
        params.reset[...] = reset_code(process)
        return params, state

    def step(self, state: LIFState, params: LIFParams, a_in: np.ndarray) -> np.ndarray:
        return lif_step(state.u, state.v, a_in, params.du, params.dv, params.vth, params.bias(),
                        **params.reset_arguments())

    def kernel_params(self, params: LIFParams) -> tuple[np.ndarray, ...]:
        """int64 ``du, dv, vth_reset, bias, reset_kind`` per neuron (module docstring)."""
        vth_reset, reset_kind = params.threshold_reset()
        return (params.du.astype(np.int64), params.dv.astype(np.int64), vth_reset,
                params.bias(), reset_kind)


@implements(IF, name="if")
class IFModel(LIFModel):
    """IF: LIF with ``du = 4095`` (the current is this step's input only) and ``dv = 0``."""

    def lower(self, process: IF) -> tuple[LIFParams, LIFState]:
        size = process.size
        values = {name: process.vars[name].get().reshape(-1)
                  for name in ("vth", "bias_mant", "bias_exp", "v_reset") if name in process.vars}
        values["du"] = np.full(size, (1 << DECAY_BITS) - 1, dtype=np.int32)
        values["dv"] = np.zeros(size, dtype=np.int32)
        values["reset"] = np.full(size, reset_code(process), dtype=np.int32)
        label = f"IF '{process.name}'"
        state = {name: process.vars[name].get().reshape(-1) for name in ("u", "v")}
        return LIFParams.build(label, values, size), LIFState.build(label, state, size)


@dataclass(eq=False)
class ALIFParams(LIFParams):
    """LIF's parameters plus the adaptation's decay and increment."""

    db: np.ndarray = fixed(**_DECAY, doc="adaptation decay: b *= (4096 - db) / 4096 per step")
    beta: np.ndarray = fixed(17, signed=False, dtype=np.int32,
                             doc="threshold increment per spike (mantissa, added as beta << 6)")


@dataclass(eq=False)
class ALIFState(LIFState):
    """LIF's state plus the threshold adaptation ``b``."""

    b: np.ndarray = fixed(STATE_BITS, low=0, high=STATE_MAX, doc="threshold adaptation")


@implements(ALIF, name="alif")
class ALIFModel(LIFModel):
    """LIF with an adaptive threshold (module docstring); kernel ``_k_lif:alif``."""

    Params = ALIFParams
    State = ALIFState
    kernel = "nmgraph.runtimes._k_lif:alif"

    def step(self, state: ALIFState, params: ALIFParams, a_in: np.ndarray) -> np.ndarray:
        return alif_step(state.u, state.v, state.b, a_in, params.du, params.dv, params.db,
                         params.vth, params.beta, params.bias(), **params.reset_arguments())

    def kernel_params(self, params: ALIFParams) -> tuple[np.ndarray, ...]:
        """int64 ``du, dv, vth_reset, bias, reset_kind`` (as LIF), then ``db, beta`` per
        neuron."""
        return (*super().kernel_params(params), params.db.astype(np.int64),
                params.beta.astype(np.int64))
