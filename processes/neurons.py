"""Neuron processes in Loihi's fixed point: LIF, ALIF (adaptive threshold) and IF.

All state is integer. With ``decay(x, d) = sgn(x * (4096 - d)) * (|x * (4096 - d)| >> 12)`` (64-bit
product, truncation toward zero), one step of a LIF neuron with synaptic input ``a_in`` is::

    u = decay(u, du + 1) + (a_in << 6)
    if u > 2**23:     u -= 2**24          # Loihi's wrap of the 24-bit current
    elif u <= -2**23: u += 2**24
    v = clip(decay(v, dv) + u + (bias_mant << bias_exp), -(2**23 - 1), 2**23 - 1)
    spike = v > (vth << 6);  v[spike] = 0

These are Lava's bit-accurate LIF equations (``PyLifModelBitAcc``). Every neuron here also takes
the reset of snnTorch and NIR (``reset=``, ``v_reset=``): ``reset="value"`` (the default) sets
``v[spike] = v_reset`` (default 0, Lava's reset); ``reset="subtract"`` sets
``v[spike] = v - (vth << 6)``, so a neuron driven by several thresholds' worth of input in one
step keeps the excess.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nmgraph.core.errors import ValidationError
from nmgraph.core.fixed_point import DECAY_MAX, STATE_MAX, STATE_MIN
from nmgraph.processes.base import NeuronProcess
from nmgraph.processes.units import (
    DecayQuantization,
    decay_constant,
    quantize_time_constant,
    step_of,
)

__all__ = ["ALIF", "IF", "LIF", "LIFRefractory", "decay_constant"]

VTH_MAX = 2**17 - 1
BIAS_MANT_MIN, BIAS_MANT_MAX = -(2**12), 2**12 - 1
BIAS_EXP_MAX = 7
#: Longest refractory period (a 16-bit counter).
REFRACTORY_MAX = 2**16 - 1
#: Reset modes: what a spike does to v (their index is the model's ``reset`` parameter).
RESET_MODES = ("value", "subtract")


def _time_constants(label: str, dt_ms: Any, specs: list[tuple[str, str, Any, Any, int]]
                    ) -> dict[str, DecayQuantization]:
    """Quantize each ``(name, decay, in steps, in ms, offset)``: exactly one of steps or ms."""
    in_ms = [ms is not None for _, _, _, ms, _ in specs]
    step = step_of(label, dt_ms) if any(in_ms) else None
    if dt_ms is not None and not any(in_ms):
        raise ValidationError(label, "dt_ms", "converts time constants given in ms "
                              "(tau_u_ms=...); these were given in steps", dt_ms)
    constants = {}
    for name, decay, steps, ms, offset in specs:
        if (steps is None) == (ms is None):
            raise ValidationError(label, name, f"give {name} (steps) or {name}_ms (ms), "
                                  f"exactly one", steps if ms is None else ms)
        constants[name] = quantize_time_constant(label, name, decay,
                                                 steps if ms is None else ms, offset=offset,
                                                 dt_ms=None if ms is None else step)
    return constants


def _remember(process: NeuronProcess, constants: dict[str, DecayQuantization], dt_ms: Any,
              *in_ms: Any) -> NeuronProcess:
    object.__setattr__(process, "_time_constants", constants)
    if any(value is not None for value in in_ms):
        object.__setattr__(process, "_dt_ms", step_of(process, dt_ms))
    return process


class _LeakyBase(NeuronProcess):
    abstract = True

    @property
    def time_constants(self) -> dict[str, DecayQuantization]:
        """What :meth:`from_time_constants` did: ``{"tau_u": DecayQuantization, ...}`` with
        the constants asked for, the decays chosen and the constants they realise (empty when
        the decays were given directly)."""
        return dict(self.__dict__.get("_time_constants", {}))

    def _declare_decays(self, du: Any, dv: Any) -> None:
        shape = self.shape
        self._var("du", shape, du, dtype=np.int32, low=0, high=DECAY_MAX, bits=12,
                  doc="current decay: u is multiplied by (4096 - (du + 1)) / 4096 each step")
        self._var("dv", shape, dv, dtype=np.int32, low=0, high=DECAY_MAX, bits=12,
                  doc="voltage decay: v is multiplied by (4096 - dv) / 4096 each step")

    def _declare_threshold_bias_state(self, vth: Any, bias_mant: Any, bias_exp: Any, u: Any,
                                      v: Any) -> None:
        self._var("vth", self.shape, vth, dtype=np.int32, low=0, high=VTH_MAX, bits=17,
                  doc="threshold mantissa: the neuron spikes when v > vth << 6")
        self._declare_bias_state(bias_mant, bias_exp, u, v)

    def _declare_bias_state(self, bias_mant: Any, bias_exp: Any, u: Any, v: Any,
                            v_doc: str = "membrane voltage") -> None:
        """The bias and the 24-bit state u, v shared by the LIF family and the integrators."""
        shape = self.shape
        self._var("bias_mant", shape, bias_mant, dtype=np.int32, low=BIAS_MANT_MIN,
                  high=BIAS_MANT_MAX, bits=13, doc="constant input bias_mant << bias_exp per step")
        self._var("bias_exp", shape, bias_exp, dtype=np.int32, low=0, high=BIAS_EXP_MAX, bits=3,
                  doc="bias exponent")
        self._var("u", shape, u, dtype=np.int64, low=STATE_MIN, high=-STATE_MIN, bits=24,
                  kind="state", doc="synaptic current")
        self._var("v", shape, v, dtype=np.int64, low=-STATE_MAX, high=STATE_MAX, bits=24,
                  kind="state", doc=v_doc)


class _Resetting(_LeakyBase):
    """The spiking members of the family: a reset mode for the population (``reset``) and a
    per-neuron ``v_reset``."""

    abstract = True

    @property
    def reset(self) -> str:
        """What a spike does to ``v``: ``"value"`` (``v = v_reset``) or ``"subtract"``
        (``v = v - threshold``); one mode for the whole population."""
        return self.__dict__.get("_reset", "value")

    @reset.setter
    def reset(self, value: Any) -> None:
        if not isinstance(value, str) or value not in RESET_MODES:
            raise ValidationError(self, "reset", "must be 'value' (v = v_reset after a spike) "
                                  "or 'subtract' (v = v - (vth << 6) after a spike)", value)
        object.__setattr__(self, "_reset", value)

    def constructor_args(self) -> dict[str, Any]:
        """The shape, every Var's declared value and the reset mode."""
        return {**super().constructor_args(), "reset": self.reset}

    def _declare_lif(self, du: Any, dv: Any, vth: Any, bias_mant: Any, bias_exp: Any, u: Any,
                     v: Any, *, decays: bool = True, v_reset: Any = 0,
                     reset: Any = "value") -> None:
        if decays:
            self._declare_decays(du, dv)
        self._declare_threshold_bias_state(vth, bias_mant, bias_exp, u, v)
        self._declare_reset(v_reset, reset)

    def _declare_reset(self, v_reset: Any, reset: Any) -> None:
        self.reset = reset
        self._var("v_reset", self.shape, v_reset, dtype=np.int32, low=-STATE_MAX,
                  high=STATE_MAX, bits=24, doc="voltage after a spike (reset='value')")


class LIF(_Resetting):
    """Current-based leaky integrate-and-fire neurons (Lava's bit-accurate LIF).

    Update per step (see the module docstring for ``decay``)::

        u = decay(u, du + 1) + (a_in << 6), wrapped once into (-2**23, 2**23]
        v = clip(decay(v, dv) + u + (bias_mant << bias_exp), -(2**23 - 1), 2**23 - 1)
        spike = v > (vth << 6)
        v[spike] = v_reset                          reset="value" (v_reset = 0: Lava)
        v[spike] = v[spike] - (vth << 6)            reset="subtract"

    With ``reset="subtract"`` (snnTorch's and NIR's reference reset) a neuron whose ``v`` is
    still above the threshold after the subtraction spikes again on the next step, without new
    input if the leak leaves it there. The reset sets ``v`` in the step of the spike.

    The sum ``decay(u) + (a_in << 6)`` is exact (int64). Lava's ``PyLifModelBitAcc``
    (``AbstractPyLifModelFixed.subthr_dynamics``, ``lava/proc/lif/models.py``) forms it in int32
    and so also wraps it at 32 bits when a step's input is that large: from
    ``|a_in| > 2**31 / 64 = 33,554,432`` for the shift alone, from ``(2**31 - 2**23) / 64 =
    33,423,360`` for the sum, depending on ``u``. nmgraph departs from Lava there on purpose (the
    32-bit wrap is an artefact of NumPy types, not of the model); below, the two are bit-identical.

    Parameters
    ----------
    shape
        Number of neurons, or a tuple.
    du, dv
        12-bit decays of current and voltage, 0..4095 (scalar or per neuron).
    vth
        Threshold mantissa, 0..2**17 - 1; the threshold is ``vth << 6``.
    bias_mant, bias_exp
        Constant input ``bias_mant << bias_exp`` per step; mantissa -4096..4095, exponent 0..7.
    u, v
        Initial current and voltage (24-bit).
    name
        Unique name; generated when not given.
    v_reset
        Voltage after a spike with ``reset="value"``, -(2**23 - 1)..2**23 - 1 (scalar or per
        neuron; default 0, Lava's reset). Not used with ``reset="subtract"``.
    reset
        ``"value"`` (``v = v_reset`` after a spike) or ``"subtract"`` (``v = v - (vth << 6)``);
        one mode for the population.
    """

    abstract = False

    def __init__(self, shape: Any, du: Any = 0, dv: Any = 0, vth: Any = 10, bias_mant: Any = 0,
                 bias_exp: Any = 0, u: Any = 0, v: Any = 0, name: str | None = None, *,
                 v_reset: Any = 0, reset: str = "value") -> None:
        super().__init__(shape, name)
        self._declare_lif(du, dv, vth, bias_mant, bias_exp, u, v, v_reset=v_reset, reset=reset)
        self._finish()

    @classmethod
    def from_time_constants(cls, shape: Any, tau_u: Any = None, tau_v: Any = None,
                            vth: Any = 10, bias_mant: Any = 0, bias_exp: Any = 0,
                            name: str | None = None, *, tau_u_ms: Any = None,
                            tau_v_ms: Any = None, dt_ms: float | None = None,
                            **kwargs: Any) -> LIF:
        """LIF neurons whose current and voltage decay with time constants, in steps
        (``tau_u``, ``tau_v``) or in ms (``tau_u_ms``, ``tau_v_ms`` with the step ``dt_ms``,
        default 1 ms); ``math.inf`` for no decay. With ``tau`` in steps::

            du = clip(round(4096 * (1 - exp(-1 / tau_u))) - 1, 0, 4095)
            dv = clip(round(4096 * (1 - exp(-1 / tau_v))), 0, 4095)

        Because Lava decays u by ``du + 1``, the slowest current decay is ``4095 / 4096`` per step
        (tau of about 4096 steps). What the quantization did is kept in
        :attr:`time_constants` (asked for, realised, error); a realised constant off by more than
        5% warns (:class:`~nmgraph.QuantizationWarning`). Built from ms, the process remembers
        ``dt_ms`` and a Network with another step refuses it.
        """
        label = f"{cls.__name__} {name!r}" if name else f"{cls.__name__} (unnamed)"
        constants = _time_constants(label, dt_ms, [("tau_u", "du", tau_u, tau_u_ms, 1),
                                                   ("tau_v", "dv", tau_v, tau_v_ms, 0)])
        process = cls(shape, du=constants["tau_u"].decay, dv=constants["tau_v"].decay, vth=vth,
                      bias_mant=bias_mant, bias_exp=bias_exp, name=name, **kwargs)
        return _remember(process, constants, dt_ms, tau_u_ms, tau_v_ms)


class ALIF(_Resetting):
    """LIF neurons with an adaptive threshold, as in the multiple-timescale spiking RNNs of Yin,
    Corradi and Bohté (2021), in Loihi-style fixed point.

    Besides ``u`` and ``v`` (updated exactly as :class:`LIF`), each neuron has an adaptation state
    ``b`` (24-bit, >= 0) that decays with ``db``, raises the threshold, and grows on each spike::

        u = decay(u, du + 1) + (a_in << 6), wrapped once into (-2**23, 2**23]
        v = clip(decay(v, dv) + u + (bias_mant << bias_exp), -(2**23 - 1), 2**23 - 1)
        b = decay(b, db)
        spike = v > (vth << 6) + b
        v[spike] = v_reset                          reset="value" (default v_reset = 0)
        v[spike] = v[spike] - ((vth << 6) + b)      reset="subtract": the threshold crossed
        b[spike] = min(b + (beta << 6), 2**23 - 1)

    ``b`` decays before the comparison and grows after it, as Lava's adaptive-threshold neuron
    (ATRLIF) orders its threshold update. In the paper's float terms, the threshold is
    ``b0 + beta * eta`` with ``eta`` decaying by ``rho = (4096 - db) / 4096`` per step.

    Parameters
    ----------
    db
        12-bit decay of the adaptation, 0..4095.
    beta
        Increment of the threshold per spike (mantissa, 0..2**17 - 1; added as ``beta << 6``).
    b
        Initial adaptation, 0..2**23 - 1.
    Other parameters (``v_reset``, ``reset`` too) are those of :class:`LIF`; with
    ``reset="subtract"`` the adaptive threshold ``(vth << 6) + b`` that ``v`` crossed is
    subtracted (as the LSNN of Bellec et al. 2018 resets), before ``b`` grows.
    """

    abstract = False

    def __init__(self, shape: Any, du: Any = 0, dv: Any = 0, vth: Any = 10, bias_mant: Any = 0,
                 bias_exp: Any = 0, db: Any = 0, beta: Any = 0, u: Any = 0, v: Any = 0,
                 b: Any = 0, name: str | None = None, *, v_reset: Any = 0,
                 reset: str = "value") -> None:
        super().__init__(shape, name)
        self._declare_lif(du, dv, vth, bias_mant, bias_exp, u, v, v_reset=v_reset, reset=reset)
        shape = self.shape
        self._var("db", shape, db, dtype=np.int32, low=0, high=DECAY_MAX, bits=12,
                  doc="adaptation decay: b is multiplied by (4096 - db) / 4096 each step")
        self._var("beta", shape, beta, dtype=np.int32, low=0, high=VTH_MAX, bits=17,
                  doc="threshold increment per spike (mantissa; added as beta << 6)")
        self._var("b", shape, b, dtype=np.int64, low=0, high=STATE_MAX, bits=24, kind="state",
                  doc="threshold adaptation")
        self._finish()

    @classmethod
    def from_time_constants(cls, shape: Any, tau_u: Any = None, tau_v: Any = None,
                            tau_b: Any = None, vth: Any = 10, beta: Any = 0,
                            name: str | None = None, *, tau_u_ms: Any = None,
                            tau_v_ms: Any = None, tau_b_ms: Any = None,
                            dt_ms: float | None = None, **kwargs: Any) -> ALIF:
        """ALIF neurons from time constants in steps or ms (see :meth:`LIF.from_time_constants`);
        ``tau_b`` (``tau_b_ms``) sets ``db`` the way ``tau_v`` sets ``dv``."""
        label = f"{cls.__name__} {name!r}" if name else f"{cls.__name__} (unnamed)"
        constants = _time_constants(label, dt_ms, [("tau_u", "du", tau_u, tau_u_ms, 1),
                                                   ("tau_v", "dv", tau_v, tau_v_ms, 0),
                                                   ("tau_b", "db", tau_b, tau_b_ms, 0)])
        process = cls(shape, du=constants["tau_u"].decay, dv=constants["tau_v"].decay,
                      db=constants["tau_b"].decay, vth=vth, beta=beta, name=name, **kwargs)
        return _remember(process, constants, dt_ms, tau_u_ms, tau_v_ms, tau_b_ms)


class IF(_Resetting):
    """Integrate-and-fire neurons: no leak, input not carried over between steps.

    Exactly :class:`LIF` with ``du = 4095`` (the current is this step's input only) and ``dv = 0``
    (the voltage does not decay); it has no ``du``/``dv`` Vars::

        u = a_in << 6, wrapped once into (-2**23, 2**23]
        v = clip(v + u + (bias_mant << bias_exp), -(2**23 - 1), 2**23 - 1)
        spike = v > (vth << 6)
        v[spike] = v_reset  (reset="value", default 0)  or  v - (vth << 6)  (reset="subtract")

    ``v_reset`` and ``reset`` are those of :class:`LIF`.
    """

    abstract = False

    def __init__(self, shape: Any, vth: Any = 10, bias_mant: Any = 0, bias_exp: Any = 0,
                 u: Any = 0, v: Any = 0, name: str | None = None, *, v_reset: Any = 0,
                 reset: str = "value") -> None:
        super().__init__(shape, name)
        self._declare_lif(None, None, vth, bias_mant, bias_exp, u, v, decays=False,
                          v_reset=v_reset, reset=reset)
        self._finish()


class LIFRefractory(LIF):
    """LIF neurons with a refractory period (Lava's ``LIFRefractory``), in Loihi's fixed point.

    After a spike at step ``t`` the voltage is held at its reset value (0 by default) for
    ``refractory_period`` steps
    (``t + 1 .. t + refractory_period``) while the current keeps integrating its input; the neuron
    integrates again from step ``t + refractory_period + 1``. Per step::

        u = decay(u, du + 1) + (a_in << 6), wrapped once into (-2**23, 2**23]
        held = refractory > 0
        v = v if held else clip(decay(v, dv) + u + (bias_mant << bias_exp), -(2**23 - 1), 2**23 - 1)
        refractory = refractory - 1 if held else refractory
        spike = v > (vth << 6);  v[spike] = 0;  refractory[spike] = refractory_period

    With ``reset="subtract"`` or a ``v_reset`` (as :class:`LIF`), ``v[spike]`` is set as LIF sets
    it and held there for the period. The threshold is tested on every neuron, held or not (as
    above, and as Lava's model does), so a voltage held above the threshold (a ``v_reset`` above
    it, or a subtraction that leaves ``v`` above it) spikes again and restarts the period.

    This is Lava 0.10's ``PyLifRefractoryModelFloat`` order of operations on the bit-accurate
    LIF arithmetic (Lava has no fixed-point refractory model); ``refractory_period = 0`` is LIF.

    Parameters
    ----------
    refractory_period
        Steps a neuron holds its voltage after a spike, 0..65535 (default 1, as Lava).
    refractory
        Initial steps of the period still to run (state; default 0).
    Other parameters (``v_reset``, ``reset`` too) are those of :class:`LIF`.
    """

    abstract = False

    def __init__(self, shape: Any, du: Any = 0, dv: Any = 0, vth: Any = 10, bias_mant: Any = 0,
                 bias_exp: Any = 0, refractory_period: Any = 1, u: Any = 0, v: Any = 0,
                 refractory: Any = 0, name: str | None = None, *, v_reset: Any = 0,
                 reset: str = "value") -> None:
        NeuronProcess.__init__(self, shape, name)
        self._declare_lif(du, dv, vth, bias_mant, bias_exp, u, v, v_reset=v_reset, reset=reset)
        shape = self.shape
        self._var("refractory_period", shape, refractory_period, dtype=np.int32, low=0,
                  high=REFRACTORY_MAX, bits=16,
                  doc="steps the voltage is held at 0 after a spike")
        self._var("refractory", shape, refractory, dtype=np.int64, low=0, high=REFRACTORY_MAX,
                  bits=16, kind="state", doc="refractory steps left (0: integrating)")
        self._finish()

