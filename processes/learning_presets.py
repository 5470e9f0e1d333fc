"""Learning rules from physical parameters: time constants in ms, NEST's STDP, reward-modulated STDP.

A :class:`~nmgraph.core.learning.LearningRule` holds integers: trace impulses (0..127), 12-bit
decay constants and term scales ``m * 2**e`` (``m`` 1..7 in magnitude, ``e`` -7..8). The functions
here turn the parameters people write into those integers and return, with the rule, a
:class:`LearningQuantization` that lists every value asked for beside the value realised and the
relative error. A value off by more than 5% also raises a
:class:`~nmgraph.core.errors.QuantizationWarning`.

Pair STDP (:func:`stdp_pair`) takes NEST's ``stdp_synapse`` parameters. With the normalised
weight ``w / Wmax``, NEST updates::

    at a post spike:  w/Wmax += lambda * (1 - w/Wmax)**mu_plus * K_plus      (clipped to 1)
    at a pre spike:   w/Wmax -= alpha * lambda * (w/Wmax)**mu_minus * K_minus (clipped to 0)

where ``K_plus`` (``K_minus``) grows by 1 at each pre (post) spike and decays with ``tau_plus``
(``tau_minus``). On the chip ``x1 = Ix * K_plus`` and ``y1 = Iy * K_minus`` with integer impulses
``Ix``, ``Iy``, and the weight is an integer ``0..W`` (``W = w_max``), so the rule is::

    mu_plus = 0:  dw += (lambda * W / Ix) * y0 * x1
    mu_plus = 1:  dw -= (lambda / Ix) * y0 * x1 * (w - W)
    mu_minus = 0: dw -= (alpha * lambda * W / Iy) * x0 * y1
    mu_minus = 1: dw -= (alpha * lambda / Iy) * x0 * y1 * w

A sum of products expresses ``(1 - w/Wmax)**mu`` only for ``mu`` 0 (additive, Song, Miller and
Abbott 2000) or 1 (multiplicative); other exponents are refused. The impulses are chosen (unless
given) as large as the headroom allows, among those that make the scales quantize best.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from nmgraph.core.errors import QuantizationWarning, ValidationError
from nmgraph.core.learning import TRACE_MAX, LearningRule
from nmgraph.core.learning.grammar import EXPONENT_RANGE, MANTISSA_RANGE
from nmgraph.core.network import check_dt_ms
from nmgraph.processes.units import WARN_RELATIVE_ERROR, quantize_time_constant

__all__ = [
    "STDP",
    "LearningQuantization",
    "QuantizedValue",
    "RewardModulatedSTDP",
    "STDPLoihi",
    "loihi_rule",
    "quantize_scale",
    "reward_modulated_stdp",
    "stdp_pair",
]


@dataclass(frozen=True)
class QuantizedValue:
    """One parameter: asked for, realised, and the integer setting that realises it."""

    name: str
    requested: float
    realised: float
    setting: str
    unit: str = ""

    @property
    def relative_error(self) -> float:
        """``|realised - requested| / |requested|`` (0 when both are 0 or both infinite)."""
        if self.requested == self.realised:
            return 0.0
        if self.requested == 0 or math.isinf(self.requested):
            return math.inf
        return abs(self.realised - self.requested) / abs(self.requested)

    def __str__(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return (f"{self.name} = {self.requested:.4g}{unit} -> {self.setting}, realised "
                f"{self.realised:.4g}{unit}, error {100 * self.relative_error:.2g}%")


@dataclass(frozen=True)
class LearningQuantization:
    """What quantizing a learning rule's parameters did: one :class:`QuantizedValue` per
    parameter, and notes on the choices made (impulses, headroom, bounds)."""

    values: tuple[QuantizedValue, ...]
    notes: tuple[str, ...] = ()

    @property
    def max_relative_error(self) -> float:
        return max((value.relative_error for value in self.values), default=0.0)

    def __getitem__(self, name: str) -> QuantizedValue:
        for value in self.values:
            if value.name == name:
                return value
        raise KeyError(name)

    def __str__(self) -> str:
        return "\n".join([*(str(value) for value in self.values), *self.notes])


def quantize_scale(value: float) -> tuple[int, int]:
    """The nearest ``m * 2**e`` to ``value > 0`` with ``m`` in 1..7 and ``e`` in -7..8 (a term's
    scale; the sign is the term's). Values beyond the range get its nearest end."""
    best = (1, EXPONENT_RANGE[0])
    best_error = math.inf
    for exponent in range(EXPONENT_RANGE[0], EXPONENT_RANGE[1] + 1):
        for mantissa in range(1, MANTISSA_RANGE[1] + 1):
            if mantissa % 2 == 0 and exponent < EXPONENT_RANGE[1]:
                continue  # the same value has an odd mantissa with a higher exponent
            error = abs(mantissa * 2.0 ** exponent - value)
            if error < best_error:
                best, best_error = (mantissa, exponent), error
    return best


def _scale_text(mantissa: int, exponent: int) -> str:
    return f"{mantissa}*2^{exponent}"


def _scale_value(mantissa: int, exponent: int) -> float:
    return mantissa * 2.0 ** exponent


def _best_impulse(rate: float, largest: int) -> tuple[int, int, int]:
    """``(impulse, mantissa, exponent)``: the scale ``rate / impulse`` quantizes with the smallest
    error, among impulses in the top half of ``1..largest`` (all of them when none is within 5%);
    ties go to the larger impulse (finer trace resolution)."""
    def error(impulse: int) -> float:
        m, e = quantize_scale(rate / impulse)
        return abs(_scale_value(m, e) - rate / impulse) / (rate / impulse)

    top = range(largest, max(1, (largest + 1) // 2) - 1, -1)
    impulse = min(top, key=error)
    if error(impulse) > WARN_RELATIVE_ERROR:
        impulse = min(range(largest, 0, -1), key=error)
    return (impulse, *quantize_scale(rate / impulse))


def _largest_impulse(owner: str, headroom: float) -> int:
    if not (isinstance(headroom, (int, float)) and 1.0 <= headroom <= TRACE_MAX):
        raise ValidationError(owner, "trace_headroom", f"must be a number in 1..{TRACE_MAX}: the "
                              "largest K (spikes within a time constant) a trace holds unclipped",
                              headroom)
    return max(1, int(TRACE_MAX // headroom))


def _check_impulse(owner: str, name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= TRACE_MAX:
        raise ValidationError(owner, name, f"must be an integer in 1..{TRACE_MAX}", value)
    return int(value)


def _positive(owner: str, name: str, value: Any, *, allow_zero: bool = False) -> float:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValidationError(owner, name, "must be a finite number " + (">= 0" if allow_zero else "> 0"),
                              value)
    return float(value)


def _w_max(owner: str, w_max: Any) -> int:
    if isinstance(w_max, (float, np.floating)) and float(w_max).is_integer():
        w_max = int(w_max)
    if isinstance(w_max, bool) or not isinstance(w_max, (int, np.integer)) or not 1 <= w_max <= 255:
        raise ValidationError(owner, "w_max", "must be an integer weight in 1..255 (the synapse's "
                              "units; quantize physical weights with nm.quantize_weights)", w_max)
    return int(w_max)


def _trace_decay(owner: str, name: str, tau: Any, dt_ms: float | None) -> tuple[int, QuantizedValue]:
    """12-bit decay of a trace's time constant (``None``, 0 or ``inf``: no decay)."""
    if dt_ms is not None:
        dt_ms = check_dt_ms(owner, dt_ms)
    unit = "steps" if dt_ms is None else "ms"
    if tau is None or (isinstance(tau, (int, float)) and (tau == 0 or math.isinf(tau))):
        return 0, QuantizedValue(name, math.inf, math.inf, "decay 0 (no decay)", unit)
    report = quantize_time_constant(owner, name, "decay", tau, offset=0, dt_ms=dt_ms)
    scale = 1.0 if dt_ms is None else dt_ms
    decay = int(report.decay)
    return decay, QuantizedValue(name, float(report.requested_steps) * scale,
                                 float(report.realised_steps) * scale, f"decay {decay}", unit)


def _warn(owner: str, report: LearningQuantization) -> None:
    worst = max(report.values, key=lambda value: value.relative_error)
    if worst.relative_error > WARN_RELATIVE_ERROR:
        warnings.warn(f"{owner}: {worst} (Loihi's scales are m*2^e with m 1..7, e -7..8; traces "
                      "are 7-bit); see the LearningQuantization returned with the rule",
                      QuantizationWarning, stacklevel=3)


def stdp_pair(tau_plus: float = 20.0, tau_minus: float = 20.0, lambda_: float = 0.01,
              alpha: float = 1.0, mu_plus: float = 1.0, mu_minus: float = 1.0,
              w_max: int = 255, dt_ms: float = 1.0, *, x_impulse: int | None = None,
              y_impulse: int | None = None, trace_headroom: float = 4.0, t_epoch: int = 1,
              seed: int | None = None) -> tuple[LearningRule, LearningQuantization]:
    """Pair-based STDP with NEST's ``stdp_synapse`` parameters, as a Loihi rule.

    Parameters
    ----------
    tau_plus, tau_minus
        Time constants of the pre trace ``K_plus`` (potentiation window) and of the post trace
        ``K_minus`` (depression window), in ms (NEST's defaults: 20 ms; NEST sets ``tau_minus``
        on the postsynaptic neuron).
    lambda_
        NEST's ``lambda``, the step size (default 0.01): a post spike right after one pre spike
        raises ``w / Wmax`` by ``lambda`` (times ``(1 - w/Wmax)`` when ``mu_plus`` is 1).
    alpha
        Asymmetry: depression steps are ``alpha * lambda`` (default 1).
    mu_plus, mu_minus
        Weight dependence exponents, 0 (additive) or 1 (multiplicative; NEST's default).
    w_max
        NEST's ``Wmax`` as an integer weight 1..255 in the synapse's units; weights are kept in
        ``0..w_max``.
    dt_ms
        The network's step.
    x_impulse, y_impulse
        Trace impulses ``Ix``, ``Iy`` (1..127); chosen when not given.
    trace_headroom
        How many overlapping spikes (``K``) a trace holds before it saturates at 127 (default
        4): impulses are at most ``127 // trace_headroom``.
    t_epoch
        Learning epoch in steps (1 reproduces pair STDP; longer epochs merge the spikes of an
        epoch).
    seed
        The rule's seed (None: the plastic projection derives one).

    Returns
    -------
    (LearningRule, LearningQuantization)
        The rule (``w_bounds = (0, w_max)``) and the report of tau_plus, tau_minus, lambda and
        alpha asked for against realised.
    """
    owner = "stdp_pair"
    for name, value in (("mu_plus", mu_plus), ("mu_minus", mu_minus)):
        if value not in (0, 1):
            raise ValidationError(owner, name, "must be 0 (additive) or 1 (multiplicative): a sum "
                                  "of products cannot express (1 - w/Wmax)**mu for other mu", value)
    lambda_ = _positive(owner, "lambda_", lambda_)
    alpha = _positive(owner, "alpha", alpha, allow_zero=True)
    top = w_max = _w_max(owner, w_max)
    largest = _largest_impulse(owner, trace_headroom)
    x_decay, tau_plus_q = _trace_decay(owner, "tau_plus", tau_plus, dt_ms)
    y_decay, tau_minus_q = _trace_decay(owner, "tau_minus", tau_minus, dt_ms)

    plus_rate = lambda_ * (top if mu_plus == 0 else 1)
    additive = mu_plus == mu_minus == 0 and alpha > 0 and alpha != 1
    if additive and x_impulse is None and y_impulse is None:
        # the weights' fate hangs on alpha - 1: choose both impulses together
        x_impulse, y_impulse = _additive_impulses(plus_rate, alpha, largest)
    ix, m_plus, e_plus = _scaled_term(owner, "x_impulse", x_impulse, plus_rate, largest)
    lambda_real = _scale_value(m_plus, e_plus) * ix / (top if mu_plus == 0 else 1)
    potentiation = f"{_scale_text(m_plus, e_plus)} * y0 * x1" + ("" if mu_plus == 0 else f" * (w - {top})")
    equation = potentiation if mu_plus == 0 else f"-{potentiation}"
    values = [tau_plus_q, tau_minus_q,
              QuantizedValue("lambda", lambda_, lambda_real,
                             f"Ix = {ix}, scale {_scale_text(m_plus, e_plus)}")]
    iy = _check_impulse(owner, "y_impulse", y_impulse) or largest
    if alpha > 0:
        minus_rate = alpha * lambda_ * (top if mu_minus == 0 else 1)
        iy, m_minus, e_minus = _scaled_term(owner, "y_impulse", y_impulse, minus_rate, largest)
        depression_real = _scale_value(m_minus, e_minus) * iy / (top if mu_minus == 0 else 1)
        equation += f" - {_scale_text(m_minus, e_minus)} * x0 * y1" + ("" if mu_minus == 0 else " * w")
        alpha_real = depression_real / lambda_real
        values.append(QuantizedValue("alpha", alpha, alpha_real,
                                     f"Iy = {iy}, scale {_scale_text(m_minus, e_minus)}"))
        if additive:
            # additive STDP: the balance that sets the weights' fate is alpha - 1
            values.append(QuantizedValue("alpha - 1", alpha - 1, alpha_real - 1,
                                         "the depression excess of additive STDP (give "
                                         "x_impulse, y_impulse to tune it)"))
    else:
        values.append(QuantizedValue("alpha", alpha, 0.0, "no depression term"))
    rule = LearningRule(dw=equation, x1_impulse=ix, x1_decay=x_decay, y1_impulse=iy,
                        y1_decay=y_decay, t_epoch=t_epoch, seed=seed, w_bounds=(0, top),
                        name=owner)
    notes = (f"traces: x1 = {ix} * K_plus, y1 = {iy} * K_minus, saturating at {TRACE_MAX} "
             f"(K_plus above {TRACE_MAX / ix:.3g} or K_minus above {TRACE_MAX / iy:.3g} is clipped)",
             f"weights kept in 0..{top} (NEST clips w/Wmax to [0, 1])",
             "the rule is applied at the end of each step's epoch with the traces after that step: "
             "a pre and a post spike in the same epoch both see each other's impulse")
    report = LearningQuantization(tuple(values), notes)
    _warn(owner, report)
    return rule, report


def _additive_impulses(rate: float, alpha: float, largest: int) -> tuple[int, int]:
    """``(Ix, Iy)`` of additive STDP that realise ``lambda``, ``alpha`` and ``alpha - 1`` best
    together (the smallest worst relative error), among impulses in the top half of
    ``1..largest`` (all of them when none keeps every error within 5%)."""
    def errors(ix: int, iy: int) -> float:
        plus = _scale_value(*quantize_scale(rate / ix)) * ix
        minus = _scale_value(*quantize_scale(alpha * rate / iy)) * iy
        realised = minus / plus
        return max(abs(plus - rate) / rate, abs(realised - alpha) / alpha,
                   abs((realised - 1) - (alpha - 1)) / abs(alpha - 1))

    def best(candidates: range) -> tuple[float, int, int]:
        return min((errors(ix, iy), -ix, -iy) for ix in candidates for iy in candidates)

    top = range(largest, max(1, (largest + 1) // 2) - 1, -1)
    error, ix, iy = best(top)
    if error > WARN_RELATIVE_ERROR:
        error, ix, iy = best(range(largest, 0, -1))
    return -ix, -iy


def _scaled_term(owner: str, name: str, impulse: Any, rate: float, largest: int
                 ) -> tuple[int, int, int]:
    """``(impulse, mantissa, exponent)`` for a term whose change per unit trace is
    ``rate / impulse``: the given impulse, or the best one."""
    given = _check_impulse(owner, name, impulse)
    if given is not None:
        return (given, *quantize_scale(rate / given))
    return _best_impulse(rate, largest)


def reward_modulated_stdp(tau_plus: float = 20.0, tau_minus: float = 20.0, a_plus: float = 1.0,
                          a_minus: float = 1.0, tau_eligibility: float = 64.0,
                          tau_reward: float = 20.0, learning_rate: float = 2.0 ** -4,
                          w_max: int = 255, dt_ms: float = 1.0, *, trace_headroom: float = 4.0,
                          t_epoch: int = 1, seed: int | None = None
                          ) -> tuple[LearningRule, LearningQuantization]:
    """Reward-modulated STDP (Fremaux and Gerstner 2016; Lava's ``RewardModulatedSTDP``) as a
    three-factor Loihi rule: pair STDP writes an eligibility trace into the tag ``t``, and a
    reward trace ``y2`` gates its transfer into the weight::

        dt = (a_plus / Ix) * y0 * x1 - (a_minus / Iy) * x0 * y1 - s * u0 * t
        dw = (learning_rate / Ir) * u0 * t * y2

    ``y2`` is a third-factor trace: its impulses come from a reward input on the postsynaptic
    neuron (a spike on the reward port adds ``Ir``), not from the post neuron's own spikes, and it
    decays with ``tau_reward``. The tag decays by the factor ``1 - s`` per epoch, ``s`` the
    quantized ``1 - exp(-t_epoch * dt_ms / tau_eligibility)``.

    Parameters
    ----------
    tau_plus, tau_minus
        Pre and post trace time constants (ms).
    a_plus, a_minus
        Tag change (in tag units, the tag is -256..255) for a post spike right after one pre
        spike, and for a pre spike right after one post spike (subtracted).
    tau_eligibility
        Time constant of the tag's decay (ms); at most about 128 epochs (the smallest
        per-epoch decay is 2^-7).
    tau_reward
        Time constant of the reward trace (ms).
    learning_rate
        Weight change per epoch per tag unit while the reward trace is at one reward spike.
    w_max
        Weights are kept in ``0..w_max`` (integer, 1..255).
    dt_ms, trace_headroom, t_epoch, seed
        As for :func:`stdp_pair`.

    Returns
    -------
    (LearningRule, LearningQuantization)
    """
    owner = "reward_modulated_stdp"
    a_plus = _positive(owner, "a_plus", a_plus)
    a_minus = _positive(owner, "a_minus", a_minus)
    learning_rate = _positive(owner, "learning_rate", learning_rate)
    tau_e = _positive(owner, "tau_eligibility", tau_eligibility)
    top = _w_max(owner, w_max)
    largest = _largest_impulse(owner, trace_headroom)
    x_decay, tau_plus_q = _trace_decay(owner, "tau_plus", tau_plus, dt_ms)
    y_decay, tau_minus_q = _trace_decay(owner, "tau_minus", tau_minus, dt_ms)
    r_decay, tau_reward_q = _trace_decay(owner, "tau_reward", tau_reward, dt_ms)
    epoch_ms = (1 if dt_ms is None else dt_ms) * t_epoch
    ix, m_plus, e_plus = _best_impulse(a_plus, largest)
    iy, m_minus, e_minus = _best_impulse(a_minus, largest)
    ir, m_rate, e_rate = _best_impulse(learning_rate, largest)
    s_mantissa, s_exponent = quantize_scale(-math.expm1(-epoch_ms / tau_e))
    s_real = _scale_value(s_mantissa, s_exponent)
    tau_e_real = math.inf if s_real >= 1 else -epoch_ms / math.log1p(-s_real)
    tag = (f"{_scale_text(m_plus, e_plus)} * y0 * x1 - {_scale_text(m_minus, e_minus)} * x0 * y1"
           f" - {_scale_text(s_mantissa, s_exponent)} * u0 * t")
    weight = f"{_scale_text(m_rate, e_rate)} * u0 * t * y2"
    rule = LearningRule(dw=weight, dt=tag, x1_impulse=ix, x1_decay=x_decay, y1_impulse=iy,
                        y1_decay=y_decay, y2_impulse=ir, y2_decay=r_decay, t_epoch=t_epoch,
                        seed=seed, w_bounds=(0, top), third_factor=("y2",), name=owner)
    unit = "steps" if dt_ms is None else "ms"
    values = (tau_plus_q, tau_minus_q, tau_reward_q,
              QuantizedValue("a_plus", a_plus, _scale_value(m_plus, e_plus) * ix,
                             f"Ix = {ix}, scale {_scale_text(m_plus, e_plus)}"),
              QuantizedValue("a_minus", a_minus, _scale_value(m_minus, e_minus) * iy,
                             f"Iy = {iy}, scale {_scale_text(m_minus, e_minus)}"),
              QuantizedValue("tau_eligibility", tau_e, tau_e_real,
                             f"tag decay {_scale_text(s_mantissa, s_exponent)} per epoch", unit),
              QuantizedValue("learning_rate", learning_rate, _scale_value(m_rate, e_rate) * ir,
                             f"Ir = {ir}, scale {_scale_text(m_rate, e_rate)}"))
    notes = ("y2 is the reward trace: a spike on the reward input adds "
             f"{ir}; it saturates at {TRACE_MAX}",
             "the tag t is the eligibility trace (-256..255), decayed and rounded stochastically",
             f"weights kept in 0..{top}")
    report = LearningQuantization(values, notes)
    _warn(owner, report)
    return rule, report


def loihi_rule(dw: str | None = None, dd: str | None = None, dt: str | None = None, *,
               x1_impulse: int = 0, x1_tau: float | None = None, x2_impulse: int = 0,
               x2_tau: float | None = None, y1_impulse: int = 0, y1_tau: float | None = None,
               y2_impulse: int = 0, y2_tau: float | None = None, y3_impulse: int = 0,
               y3_tau: float | None = None, t_epoch: int = 1, dt_ms: float | None = None,
               seed: int | None = None, w_bounds: tuple[int, int] | None = None,
               third_factor: tuple[str, ...] = ()) -> tuple[LearningRule, LearningQuantization]:
    """A rule written as Lava writes one (``Loihi2FLearningRule(dw=..., x1_impulse=16,
    x1_tau=10, ...)``): time constants in steps, or in ms when ``dt_ms`` is given; ``None``, 0
    or ``inf`` means no decay (Lava's 0). Returns the rule and the time constants' report."""
    owner = "loihi_rule"
    taus = {"x1": x1_tau, "x2": x2_tau, "y1": y1_tau, "y2": y2_tau, "y3": y3_tau}
    decays, values = {}, []
    for trace, tau in taus.items():
        decays[f"{trace}_decay"], quantized = _trace_decay(owner, f"{trace}_tau", tau, dt_ms)
        values.append(quantized)
    rule = LearningRule(dw=dw, dd=dd, dt=dt, x1_impulse=x1_impulse, x2_impulse=x2_impulse,
                        y1_impulse=y1_impulse, y2_impulse=y2_impulse, y3_impulse=y3_impulse,
                        t_epoch=t_epoch, seed=seed, w_bounds=w_bounds, third_factor=third_factor,
                        **decays)
    used = set(rule.traces)
    report = LearningQuantization(tuple(v for v in values if v.name[:2] in used))
    return rule, report


class _Preset(LearningRule):
    """A LearningRule built from physical parameters; :attr:`quantization` holds the report."""

    quantization: LearningQuantization

    def _adopt(self, rule: LearningRule, report: LearningQuantization) -> None:
        LearningRule.__init__(self, **_constructor_args(rule.as_dict()))
        self.quantization = report


def _constructor_args(data: dict[str, Any]) -> dict[str, Any]:
    arguments = dict(data)
    if arguments.get("w_bounds") is not None:
        arguments["w_bounds"] = tuple(arguments["w_bounds"])
    arguments["third_factor"] = tuple(arguments.get("third_factor", ()))
    return arguments


class STDP(_Preset):
    """Pair-based STDP with NEST's ``stdp_synapse`` parameters, as a Loihi rule (see
    :func:`stdp_pair` for the parameters and the equations). ``rule.quantization`` reports every
    parameter asked for against the one realised; beyond 5% it warns.

    >>> stdp = STDP(tau_plus=20.0, tau_minus=20.0, lambda_=0.01, alpha=1.05, mu_plus=0,
    ...             mu_minus=0, w_max=255)           # additive (Song, Miller and Abbott)
    """

    def __init__(self, tau_plus: float = 20.0, tau_minus: float = 20.0, lambda_: float = 0.01,
                 alpha: float = 1.0, mu_plus: float = 1.0, mu_minus: float = 1.0,
                 w_max: int = 255, dt_ms: float = 1.0, *, x_impulse: int | None = None,
                 y_impulse: int | None = None, trace_headroom: float = 4.0, t_epoch: int = 1,
                 seed: int | None = None) -> None:
        rule, report = stdp_pair(tau_plus, tau_minus, lambda_, alpha, mu_plus, mu_minus, w_max,
                                 dt_ms, x_impulse=x_impulse, y_impulse=y_impulse,
                                 trace_headroom=trace_headroom, t_epoch=t_epoch, seed=seed)
        self._adopt(rule, report)


class RewardModulatedSTDP(_Preset):
    """Reward-modulated STDP (Lava's ``RewardModulatedSTDP``): the tag is the eligibility trace
    and a reward on the plastic block's ``s_in_y2`` port gates its transfer into the weight (see
    :func:`reward_modulated_stdp` for the parameters and the equations)."""

    def __init__(self, tau_plus: float = 20.0, tau_minus: float = 20.0, a_plus: float = 1.0,
                 a_minus: float = 1.0, tau_eligibility: float = 64.0, tau_reward: float = 20.0,
                 learning_rate: float = 2.0 ** -4, w_max: int = 255, dt_ms: float = 1.0, *,
                 trace_headroom: float = 4.0, t_epoch: int = 1, seed: int | None = None) -> None:
        rule, report = reward_modulated_stdp(tau_plus, tau_minus, a_plus, a_minus,
                                             tau_eligibility, tau_reward, learning_rate, w_max,
                                             dt_ms, trace_headroom=trace_headroom,
                                             t_epoch=t_epoch, seed=seed)
        self._adopt(rule, report)


class STDPLoihi(_Preset):
    """Lava's ``STDPLoihi`` (``lava.proc.learning_rules.stdp_learning_rule``) with its arguments::

        dw = learning_rate * A_plus * x0 * y1 + learning_rate * A_minus * y0 * x1

    As Lava defines it, ``A_plus`` scales the change at a presynaptic spike (by the post trace)
    and ``A_minus`` the change at a postsynaptic spike (by the pre trace); give them the signs you
    mean. ``tau_plus``, ``tau_minus`` are the ``x1``, ``y1`` time constants in steps (Lava's
    ``x1_tau``, ``y1_tau``), impulses 16 unless given. Each product ``learning_rate * A`` becomes
    a scale ``m * 2**e``; :attr:`quantization` reports them.
    """

    def __init__(self, learning_rate: float, A_plus: float, A_minus: float,
                 tau_plus: float, tau_minus: float, *, t_epoch: int = 1, x1_impulse: int = 16,
                 y1_impulse: int = 16, seed: int | None = None,
                 w_bounds: tuple[int, int] | None = None) -> None:
        owner = "STDPLoihi"
        terms, values = [], []
        for name, amplitude, product in (("A_plus", A_plus, "x0 * y1"),
                                         ("A_minus", A_minus, "y0 * x1")):
            if isinstance(amplitude, bool) or not isinstance(amplitude, (int, float)) or \
                    not math.isfinite(amplitude):
                raise ValidationError(owner, name, "must be a finite number", amplitude)
            rate = float(learning_rate) * float(amplitude)
            if rate == 0:
                continue
            mantissa, exponent = quantize_scale(abs(rate))
            realised = math.copysign(_scale_value(mantissa, exponent), rate)
            terms.append(f"{'-' if rate < 0 else '+'} {_scale_text(mantissa, exponent)} * {product}")
            values.append(QuantizedValue(f"learning_rate * {name}", rate, realised,
                                         f"scale {'-' if rate < 0 else ''}"
                                         f"{_scale_text(mantissa, exponent)}"))
        if not terms:
            raise ValidationError(owner, "A_plus/A_minus", "give a non-zero learning_rate * A")
        x_decay, tau_x = _trace_decay(owner, "tau_plus", tau_plus, None)
        y_decay, tau_y = _trace_decay(owner, "tau_minus", tau_minus, None)
        rule = LearningRule(dw=" ".join(terms).lstrip("+ "), x1_impulse=x1_impulse,
                            x1_decay=x_decay, y1_impulse=y1_impulse, y1_decay=y_decay,
                            t_epoch=t_epoch, seed=seed, w_bounds=w_bounds, name=owner)
        report = LearningQuantization((tau_x, tau_y, *values))
        _warn(owner, report)
        self._adopt(rule, report)
