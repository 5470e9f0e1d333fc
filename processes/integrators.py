"""Leaky integrators: LIF's current and voltage without threshold, reset or spikes.

A leaky integrator is a readout: its voltage ``v`` is the output, read with a monitor
(``rt.record(li, "v")``), and it has an input port ``a_in`` and no ``s_out``. With
``decay(x, d) = sgn(x * (4096 - d)) * (|x * (4096 - d)| >> 12)`` (64-bit product, truncation
toward zero), one step with synaptic input ``a_in`` is exactly LIF's subthreshold update::

    u = decay(u, du + 1) + (a_in << 6)
    if u > 2**23:     u -= 2**24          # Loihi's wrap of the 24-bit current
    elif u <= -2**23: u += 2**24
    v = clip(decay(v, dv) + u + (bias_mant << bias_exp), -(2**23 - 1), 2**23 - 1)

NIR's ``LI`` and ``CubaLI`` nodes map onto it, and NIR's integrator ``I`` is
``LI(du=4095, dv=0)``: the current is this step's input only and the voltage does not leak.
"""

from __future__ import annotations

from typing import Any

from nmgraph.processes.neurons import (
    _LeakyBase,
    _remember,
    _time_constants,
)

__all__ = ["LI"]


class LI(_LeakyBase):
    """Leaky integrators: LIF's ``u`` and ``v`` (Lava's bit-accurate arithmetic) that never spike.

    Update per step (see the module docstring for ``decay``)::

        u = decay(u, du + 1) + (a_in << 6), wrapped once into (-2**23, 2**23]
        v = clip(decay(v, dv) + u + (bias_mant << bias_exp), -(2**23 - 1), 2**23 - 1)

    There is no threshold and no reset; the process has an input port ``a_in`` and no output
    port: record ``v`` (``rt.record(li, "v")``) to read it. Its units occupy cores and count
    neuron updates like any neuron. NIR's integrator ``I`` (``dv/dt = R I``) is
    ``LI(shape, du=4095, dv=0)``: ``du = 4095`` keeps only this step's input in ``u`` and
    ``dv = 0`` lets ``v`` accumulate it without leak.

    Parameters
    ----------
    shape
        Number of units, or a tuple.
    du, dv
        12-bit decays of current and voltage, 0..4095 (scalar or per unit): ``u`` is multiplied
        by ``(4096 - (du + 1)) / 4096`` and ``v`` by ``(4096 - dv) / 4096`` each step.
    bias_mant, bias_exp
        Constant input ``bias_mant << bias_exp`` per step; mantissa -4096..4095, exponent 0..7.
    u, v
        Initial current and voltage (24-bit).
    name
        Unique name; generated when not given.
    """

    abstract = False
    spiking = False

    def __init__(self, shape: Any, du: Any = 0, dv: Any = 0, bias_mant: Any = 0,
                 bias_exp: Any = 0, u: Any = 0, v: Any = 0, name: str | None = None) -> None:
        super().__init__(shape, name)
        self._declare_decays(du, dv)
        self._declare_bias_state(bias_mant, bias_exp, u, v, v_doc="membrane voltage: the output")
        self._finish()

    @classmethod
    def from_time_constants(cls, shape: Any, tau_u: Any = None, tau_v: Any = None,
                            bias_mant: Any = 0, bias_exp: Any = 0, name: str | None = None, *,
                            tau_u_ms: Any = None, tau_v_ms: Any = None,
                            dt_ms: float | None = None, **kwargs: Any) -> LI:
        """Leaky integrators whose current and voltage decay with time constants, in steps
        (``tau_u``, ``tau_v``) or in ms (``tau_u_ms``, ``tau_v_ms`` with the step ``dt_ms``,
        default 1 ms); ``math.inf`` for no decay. As :meth:`LIF.from_time_constants
        <nmgraph.processes.LIF.from_time_constants>`, with ``tau`` in steps::

            du = clip(round(4096 * (1 - exp(-1 / tau_u))) - 1, 0, 4095)
            dv = clip(round(4096 * (1 - exp(-1 / tau_v))), 0, 4095)

        What the quantization did is kept in :attr:`time_constants`; a realised constant off by
        more than 5% warns (:class:`~nmgraph.QuantizationWarning`). Built from ms, the process
        remembers ``dt_ms`` and a Network with another step refuses it.
        """
        label = f"{cls.__name__} {name!r}" if name else f"{cls.__name__} (unnamed)"
        constants = _time_constants(label, dt_ms, [("tau_u", "du", tau_u, tau_u_ms, 1),
                                                   ("tau_v", "dv", tau_v, tau_v_ms, 0)])
        process = cls(shape, du=constants["tau_u"].decay, dv=constants["tau_v"].decay,
                      bias_mant=bias_mant, bias_exp=bias_exp, name=name, **kwargs)
        return _remember(process, constants, dt_ms, tau_u_ms, tau_v_ms)
