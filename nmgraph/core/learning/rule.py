"""The learning rule object and the two functions a runtime calls: trace update and rule application."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from nmgraph.core.checks import as_int_scalar
from nmgraph.core.errors import ValidationError
from nmgraph.core.fixed_point import DECAY_MAX
from nmgraph.core.learning.arithmetic import (
    D_BOUNDS,
    T_BOUNDS,
    TRACE_MAX,
    TRACE_SLOTS,
    W_BOUNDS,
    apply_equation,
    check_inputs,
    learning_seeds,
    trace_ids,
    trace_step,
)
from nmgraph.core.learning.grammar import TARGETS, ProductSeries, parse_equation

__all__ = ["TRACES", "LearningRule", "apply", "update_trace"]

#: Every trace, pre (x1, x2) then post (y1, y2, y3).
TRACES = tuple(TRACE_SLOTS)
#: Longest learning epoch in steps (a run reaches at most step 2**31 - 1).
T_EPOCH_MAX = 2**31 - 1
#: Post traces that a third-factor input may drive instead of the post neuron's spikes.
THIRD_FACTOR_TRACES = ("y2", "y3")


class LearningRule:
    """A Loihi learning rule: equations for ``dw``, ``dd``, ``dt`` and the traces they read.

    The integer form of Lava's ``LoihiLearningRule``: equations are parsed once
    (:mod:`nmgraph.core.learning.grammar`), traces have integer impulses and 12-bit decay
    constants. To give time constants in ms instead of decay constants, use
    ``nmgraph.processes.learning_presets.loihi_rule`` (which quantizes them and reports the
    error), or a preset such as ``stdp_pair``.

    Parameters
    ----------
    dw, dd, dt
        Rule strings for the weight, delay and tag changes per epoch (at least one), e.g.
        ``dw="2^-2 * x1 * y0 - 2^-2 * y1 * x0"``.
    x1_impulse, x2_impulse, y1_impulse, y2_impulse, y3_impulse
        0..127, added to the trace on each spike of its neuron (saturating at 127).
    x1_decay, x2_decay, y1_decay, y2_decay, y3_decay
        12-bit decay constants 0..4095: the trace is multiplied by ``(4096 - decay) / 4096`` each
        step, with stochastic rounding (0: no decay).
    t_epoch
        Learning epoch in steps (>= 1): the equations are applied at steps ``t_epoch``,
        ``2 t_epoch``, ...
    seed
        0..2**64 - 1: the seed of the rule's stochastic rounding. None lets the plastic
        projection derive one from its name.
    w_bounds
        ``(low, high)`` weight range the rule keeps weights in (within -256..255); None leaves
        the synapse's sign mode range.
    third_factor
        Post traces (``"y2"``, ``"y3"``) that take their impulses from a third-factor input (a
        reward signal arriving on the post neuron) instead of the post neuron's spikes.
    name
        Named in error messages.
    """

    def __init__(self, dw: str | None = None, dd: str | None = None, dt: str | None = None, *,
                 x1_impulse: int = 0, x1_decay: int = 0, x2_impulse: int = 0, x2_decay: int = 0,
                 y1_impulse: int = 0, y1_decay: int = 0, y2_impulse: int = 0, y2_decay: int = 0,
                 y3_impulse: int = 0, y3_decay: int = 0, t_epoch: int = 1,
                 seed: int | None = None, w_bounds: tuple[int, int] | None = None,
                 third_factor: tuple[str, ...] = (), name: str | None = None) -> None:
        if name is not None and not isinstance(name, str):
            raise ValidationError("LearningRule", "name", "must be a string or None", name)
        self.name = name
        owner = self._owner()
        texts = {"dw": dw, "dd": dd, "dt": dt}
        self.equations: dict[str, ProductSeries] = {
            target: parse_equation(text, target, owner) for target, text in texts.items()
            if text is not None}
        if not self.equations:
            raise ValidationError(owner, "", "needs at least one equation: dw, dd or dt")
        decimations = {s.decimation for s in self.equations.values()} - {None}
        if len(decimations) > 1:
            raise ValidationError(owner, "", "all equations must use the same decimation k of uk",
                                  sorted(decimations))
        self.decimation: int | None = decimations.pop() if decimations else None
        given = {"x1": (x1_impulse, x1_decay), "x2": (x2_impulse, x2_decay),
                 "y1": (y1_impulse, y1_decay), "y2": (y2_impulse, y2_decay),
                 "y3": (y3_impulse, y3_decay)}
        self.impulses = {trace: as_int_scalar(owner, f"{trace}_impulse", pair[0], low=0,
                                              high=TRACE_MAX) for trace, pair in given.items()}
        self.decays = {trace: as_int_scalar(owner, f"{trace}_decay", pair[1], low=0,
                                            high=DECAY_MAX) for trace, pair in given.items()}
        self.t_epoch = as_int_scalar(owner, "t_epoch", t_epoch, low=1, high=T_EPOCH_MAX)
        self.seed = None if seed is None else as_int_scalar(owner, "seed", seed, low=0,
                                                            high=2**64 - 1)
        self.w_bounds = self._check_bounds(owner, w_bounds)
        if isinstance(third_factor, str):
            third_factor = (third_factor,)
        bad = [trace for trace in third_factor if trace not in THIRD_FACTOR_TRACES]
        if bad:
            raise ValidationError(owner, "third_factor", "may name y2 and y3 only", third_factor)
        self.third_factor = tuple(sorted(set(third_factor)))

    def _owner(self) -> str:
        return "LearningRule" if self.name is None else f"LearningRule '{self.name}'"

    @staticmethod
    def _check_bounds(owner: str, bounds: Any) -> tuple[int, int] | None:
        if bounds is None:
            return None
        try:
            low, high = (int(value) for value in bounds)
        except (TypeError, ValueError):
            raise ValidationError(owner, "w_bounds", "must be (low, high) integers", bounds) from None
        if not W_BOUNDS[0] <= low <= high <= W_BOUNDS[1]:
            raise ValidationError(owner, "w_bounds", f"must satisfy {W_BOUNDS[0]} <= low <= high "
                                  f"<= {W_BOUNDS[1]}", bounds)
        return low, high

    # -- what the rule reads -------------------------------------------------------------------
    @property
    def traces(self) -> tuple[str, ...]:
        """The traces the equations read, in the order x1, x2, y1, y2, y3."""
        names = set().union(*(series.names for series in self.equations.values()))
        return tuple(trace for trace in TRACES if trace in names)

    @property
    def targets(self) -> tuple[str, ...]:
        """The variables the rule changes: a subset of ``("w", "d", "t")``."""
        return tuple(target[1:] for target in TARGETS if target in self.equations)

    def is_epoch_end(self, step: int) -> bool:
        """True when the equations are applied after step ``step`` (steps count from 1)."""
        return step % self.t_epoch == 0

    def u_at(self, step: int) -> int:
        """The ``u`` dependency at the end of the epoch that ends at ``step``: 1 on epochs
        ``e = step // t_epoch`` divisible by ``2**k`` (every epoch for ``u0``), else 0."""
        k = self.decimation or 0
        return int((step // self.t_epoch) % (1 << k) == 0)

    # -- comparison and storage ----------------------------------------------------------------
    def as_dict(self) -> dict[str, Any]:
        """The constructor's arguments, with the equations printed in normal form (JSON-able)."""
        data: dict[str, Any] = {target: str(series) for target, series in self.equations.items()}
        for trace in TRACES:
            data[f"{trace}_impulse"] = self.impulses[trace]
            data[f"{trace}_decay"] = self.decays[trace]
        data.update(t_epoch=self.t_epoch, seed=self.seed,
                    w_bounds=None if self.w_bounds is None else list(self.w_bounds),
                    third_factor=list(self.third_factor), name=self.name)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LearningRule:
        """Rebuild a rule from :meth:`as_dict` (unknown keys are a ValidationError)."""
        if not isinstance(data, Mapping):
            raise ValidationError("LearningRule", "from_dict", "expects a dict of the rule's "
                                  "arguments", data)
        unknown = sorted(str(key) for key in data if key not in _RULE_KEYS)
        if unknown:
            raise ValidationError("LearningRule", unknown[0], f"is not an argument of a rule "
                                  f"(they are {', '.join(sorted(_RULE_KEYS))})")
        arguments = dict(data)
        if arguments.get("w_bounds") is not None:
            arguments["w_bounds"] = tuple(arguments["w_bounds"])
        arguments["third_factor"] = tuple(arguments.get("third_factor", ()))
        return cls(**arguments)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LearningRule) and (
            self.equations, self.as_dict()) == (other.equations, other.as_dict())

    def __hash__(self) -> int:
        return hash(tuple(sorted((k, str(v)) for k, v in self.as_dict().items())))

    def __repr__(self) -> str:
        equations = ", ".join(f"{target}={str(series)!r}" for target, series in self.equations.items())
        traces = ", ".join(f"{trace}_impulse={self.impulses[trace]}, {trace}_decay={self.decays[trace]}"
                           for trace in self.traces)
        extra = "".join(f", {name}={value!r}" for name, value in (
            ("seed", self.seed), ("w_bounds", self.w_bounds),
            ("third_factor", self.third_factor or None), ("name", self.name)) if value is not None)
        return (f"{type(self).__name__}({equations}{', ' + traces if traces else ''}, "
                f"t_epoch={self.t_epoch}{extra})")

    @property
    def dw(self) -> str | None:
        """The weight equation in normal form (None: the rule does not change weights)."""
        return self._text("dw")

    @property
    def dd(self) -> str | None:
        """The delay equation in normal form, or None."""
        return self._text("dd")

    @property
    def dt(self) -> str | None:
        """The tag equation in normal form, or None."""
        return self._text("dt")

    def _text(self, target: str) -> str | None:
        series = self.equations.get(target)
        return None if series is None else str(series)

    def resolved_seed(self, seed: int | None) -> int:
        """``seed`` if given, else the rule's; an error when neither is set."""
        if seed is None:
            seed = self.seed
        if seed is None:
            raise ValidationError(self._owner(), "seed", "no seed: give the rule a seed or pass "
                                  "one (the plastic projection derives it from its name)")
        return seed


_RULE_KEYS = frozenset({"dw", "dd", "dt", "t_epoch", "seed", "w_bounds", "third_factor", "name",
                        *(f"{trace}_{kind}" for trace in TRACES for kind in ("impulse", "decay"))})


def update_trace(rule: LearningRule, trace: str, x: np.ndarray, spiked: np.ndarray,
                 neurons: np.ndarray, step: int, *, seed: int | None = None) -> np.ndarray:
    """One step of one trace of ``rule`` for the given neurons (indices in their population).

    Decay by ``rule.decays[trace]`` with stochastic rounding drawn from the trace stream of the
    rule's seed, then ``+ rule.impulses[trace]`` where ``spiked`` (for a third-factor trace,
    ``spiked`` is the third-factor input), saturating at 127. See
    :func:`nmgraph.core.learning.arithmetic.trace_step`.
    """
    if trace not in TRACE_SLOTS:
        raise ValidationError(rule._owner(), "trace", f"must be one of {', '.join(TRACES)}", trace)
    trace_seed, _ = learning_seeds(rule.resolved_seed(seed))
    return trace_step(x, rule.decays[trace], rule.impulses[trace], spiked, trace_seed,
                      trace_ids(neurons, trace), step)


def apply(rule: LearningRule, w: np.ndarray, d: np.ndarray | None, t: np.ndarray | None,
          pre_traces: np.ndarray, post_traces: np.ndarray, x0: np.ndarray, y0: np.ndarray,
          u: int, rng_ids: np.ndarray, step: int, *, seed: int | None = None,
          w_bounds: tuple[int, int] | None = None, d_bounds: tuple[int, int] = D_BOUNDS,
          t_bounds: tuple[int, int] = T_BOUNDS
          ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Apply ``rule`` to a block of synapses at the end of an epoch: ``(w', d', t')``.

    Vectorised over synapses in any layout (dense rows flattened, CSR data, COO): every argument
    holds one entry per synapse, in the same order. Integer arithmetic only; the rounding of
    each synapse draws from ``hash(synapse_seed, rng_ids[i], step)``, so a synapse's update does
    not depend on the block it is processed in (see :mod:`nmgraph.core.learning.arithmetic`).

    Parameters
    ----------
    rule
        The learning rule.
    w, d, t
        Weights, delays and tags before the update (``d``, ``t`` may be None when the rule
        neither reads nor changes them).
    pre_traces
        ``(2, n)``: x1, x2 of each synapse's presynaptic neuron, after the epoch's last step.
    post_traces
        ``(3, n)``: y1, y2, y3 of each synapse's postsynaptic neuron.
    x0, y0
        Booleans: the pre (post) neuron spiked at least once in the epoch.
    u
        1 when the rule's ``uk`` is active at this epoch (:meth:`LearningRule.u_at`), else 0.
    rng_ids
        The synapses' ids (uint64): a property of the synapse within its projection (e.g.
        ``post * n_pre + pre``, as the plastic blocks use), never of its placement.
    step
        The epoch's last step.
    seed
        Overrides the rule's seed.
    w_bounds, d_bounds, t_bounds
        Ranges the new values are clipped to (``w_bounds`` default: the rule's, else -256..255;
        ``d_bounds`` 0..62; ``t_bounds`` -256..255).

    Returns
    -------
    tuple
        New ``w``, ``d``, ``t`` (int64 copies; a variable the rule does not change is returned
        as an int64 copy, None stays None).
    """
    owner = rule._owner()
    _, synapse_seed = learning_seeds(rule.resolved_seed(seed))
    ids = np.asarray(rng_ids, dtype=np.uint64)
    n = ids.shape[0] if ids.ndim == 1 else -1
    if n < 0:
        raise ValidationError(owner, "rng_ids", "must be a 1-d array of synapse ids", ids.shape)
    values = {name: None if value is None else np.asarray(value, dtype=np.int64)
              for name, value in (("w", w), ("d", d), ("t", t))}
    needed = set(rule.targets) | ({"w", "d", "t"} & set().union(
        *(series.names for series in rule.equations.values())))
    missing = sorted(name for name in needed if values[name] is None)
    if missing:
        raise ValidationError(owner, missing[0], "the rule reads or changes it: pass its values")
    bounds = {"w": w_bounds or rule.w_bounds or W_BOUNDS, "d": tuple(d_bounds), "t": tuple(t_bounds)}
    pre = np.asarray(pre_traces, dtype=np.int64)
    post = np.asarray(post_traces, dtype=np.int64)
    x0 = np.asarray(x0, dtype=bool)
    y0 = np.asarray(y0, dtype=bool)
    check_inputs(values, pre, post, x0, y0, bounds, n)
    u = as_int_scalar(owner, "u", u, low=0, high=1)
    before = {name: value for name, value in values.items() if value is not None}
    after = {name: None if value is None else value.copy() for name, value in values.items()}
    for target, series in rule.equations.items():
        name = target[1:]
        after[name] = apply_equation(series, before, pre, post, x0, y0, u, synapse_seed, ids,
                                     step, bounds[name])
    return after["w"], after["d"], after["t"]
