"""Plastic synapse blocks: ``LearningDense`` and ``LearningSparse`` (Lava's names), which learn on chip.

A plastic synapse block is a :class:`~nmgraph.processes.Dense` or :class:`~nmgraph.processes.Sparse`
whose weights (and, when its rule has ``dd`` or ``dt``, delays and tags) are state that a
:class:`~nmgraph.core.learning.LearningRule` changes at the end of every learning epoch. Runtimes
keep that state: ``rt.get(syn, "weights")``, ``rt.set``, ``rt.record`` and snapshots read and write
it; the compiler counts its memory on the cores.

What differs from the fixed blocks:

- Every entry is a synapse, zero weights included (a zero weight may grow), as in Lava's
  ``LearningDense``. A ``LearningSparse`` holds exactly its given entries.
- Weights stay within ``w_bounds``: the rule's if it sets them, else the sign mode of the initial
  weights (``0..255`` all non-negative, ``-255..0`` all non-positive, ``-256..255`` mixed). The
  initial weights must lie within them. Weights keep 8 magnitude bits (``num_weight_bits`` 8: a
  learning engine that truncated after each update would lose every change smaller than the
  dropped bits), and the Loihi profiles do not drop the lowest bit of mixed-sign plastic weights.
- Delays a ``dd`` rule changes stay within 1..62 (Loihi's 6-bit delays); tags within -256..255.
- Third factor: a rule with ``third_factor=("y2",)`` (or ``y3``) takes that post trace's impulses
  from spikes arriving on the block's ``s_in_y2`` (``s_in_y3``) port instead of the post neuron's
  spikes (Lava's third-factor input of ``RSTDPLIF``): connect a process of ``third_factor_size``
  units, one per post neuron (default) or one unit that reaches them all.

When spikes, traces and updates happen (steps count from 1): a spike sent at step ``t`` by
presynaptic neuron ``j`` reaches its input axon at ``t``; every synapse of ``j`` adds its current
weight ``w << weight_exp`` to its target's input of step ``t + d``, the weight being the one the
last epoch that ended before ``t`` left. Then, after every step, each trace decays (stochastic
rounding) and takes its impulse if its neuron spiked at that step: ``x1``, ``x2`` per presynaptic
neuron (on its input axon, before the synaptic delay, as on Loihi), ``y1..y3`` per postsynaptic
neuron. At the end of each epoch (steps ``t_epoch``, ``2 t_epoch``, ...) the rule updates every
synapse from the traces after that step, ``x0``/``y0`` telling whether the pre/post neuron spiked in
the epoch (see :mod:`nmgraph.core.learning.arithmetic` for the integer arithmetic).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from nmgraph.core.checks import as_int_scalar, process_label
from nmgraph.core.errors import ValidationError
from nmgraph.core.learning import WEIGHT_BOUNDS, LearningRule
from nmgraph.core.learning.arithmetic import T_BOUNDS
from nmgraph.core.ports import SPIKE
from nmgraph.core.weights import FULL_WEIGHT_BITS
from nmgraph.processes.synapses import Dense, Sparse

__all__ = ["PLASTIC_DELAY_BOUNDS", "THIRD_FACTOR_PORTS", "LearningDense", "LearningSparse",
           "PlasticSynapse", "sign_mode_bounds"]

#: Range of delays a ``dd`` rule keeps (Loihi's 6-bit synaptic delays, at least one step).
PLASTIC_DELAY_BOUNDS = (1, 62)
#: The third-factor input port of each post trace a reward may drive.
THIRD_FACTOR_PORTS = {"y2": "s_in_y2", "y3": "s_in_y3"}


def sign_mode_bounds(weights: np.ndarray) -> tuple[int, int]:
    """The weight range of the sign mode of ``weights`` (Lava's: fixed by the initial weights)."""
    if weights.size == 0 or int(weights.min()) >= 0:
        return WEIGHT_BOUNDS["excitatory"]
    if int(weights.max()) <= 0:
        return WEIGHT_BOUNDS["inhibitory"]
    return WEIGHT_BOUNDS["mixed"]


class PlasticSynapse:
    """What :class:`LearningDense` and :class:`LearningSparse` share: the rule, the bounds, the
    tags and the third-factor ports (a mixin placed before the fixed block in the bases)."""

    learning_rule: LearningRule

    def _init_learning(self, learning_rule: Any, tags: Any, third_factor_size: Any,
                       n_entries_shape: tuple[int, ...]) -> None:
        if isinstance(learning_rule, Mapping):
            learning_rule = LearningRule.from_dict(learning_rule)
        if not isinstance(learning_rule, LearningRule):
            raise ValidationError(self, "learning_rule", "must be a LearningRule (or a preset such "
                                  "as STDP(...)), or the dict of LearningRule.as_dict()",
                                  learning_rule)
        object.__setattr__(self, "learning_rule", learning_rule)
        if self.num_weight_bits != FULL_WEIGHT_BITS:
            raise ValidationError(self, "num_weight_bits", f"must be {FULL_WEIGHT_BITS} on a plastic "
                                  "synapse: its weights change by single units, which fewer bits "
                                  "would drop", self.num_weight_bits)
        weights = self.weights.value
        declared = sign_mode_bounds(weights)
        bounds = learning_rule.w_bounds or declared
        if weights.size and (int(weights.min()) < bounds[0] or int(weights.max()) > bounds[1]):
            raise ValidationError(self, "weights", f"must lie within the weight bounds "
                                  f"{bounds[0]}..{bounds[1]} of its learning rule",
                                  (int(weights.min()), int(weights.max())))
        object.__setattr__(self, "_w_bounds", (int(bounds[0]), int(bounds[1])))
        delays = self.delay.value
        if "d" in learning_rule.targets and delays.size and (
                int(delays.min()) < PLASTIC_DELAY_BOUNDS[0] or int(delays.max()) > PLASTIC_DELAY_BOUNDS[1]):
            raise ValidationError(self, "delay", f"must lie within {PLASTIC_DELAY_BOUNDS[0]}.."
                                  f"{PLASTIC_DELAY_BOUNDS[1]}: its learning rule changes delays",
                                  (int(delays.min()), int(delays.max())))
        self._var("tags", n_entries_shape, tags, dtype=np.int16, low=T_BOUNDS[0], high=T_BOUNDS[1],
                  bits=9, doc="synaptic tags (the rule's t), per entry")
        n_post = self.shape[0]
        size = as_int_scalar(self, "third_factor_size", third_factor_size, low=1, high=n_post)
        if size not in (1, n_post):
            raise ValidationError(self, "third_factor_size", f"must be 1 (one signal for all post "
                                  f"neurons) or {n_post} (one per post neuron)", size)
        object.__setattr__(self, "_third_factor_size", size)
        for port in THIRD_FACTOR_PORTS.values():
            self._in_port(port, (size,), SPIKE)

    @property
    def w_bounds(self) -> tuple[int, int]:
        """The range the rule keeps the weights in."""
        return self._w_bounds

    @property
    def third_factor_size(self) -> int:
        """Units of the process on ``s_in_y2``/``s_in_y3``: 1 or the number of post neurons."""
        return self._third_factor_size

    def _learning_args(self) -> dict[str, Any]:
        tags = self.tags
        return {"learning_rule": self.learning_rule.as_dict(),
                "tags": int(tags.value.flat[0]) if tags.is_uniform and tags.value.size else tags.get(),
                "third_factor_size": self._third_factor_size}


def _lava_tags(cls: type, name: str | None, tags: Any, delay: Any, tag_1: Any,
               tag_2: Any) -> tuple[Any, Any]:
    """Lava's names: ``tag_1`` is the tag ``t``, ``tag_2`` the delay ``d``."""
    label = process_label(cls, name)
    if tag_1 is not None:
        if not (np.isscalar(tags) and tags == 0):
            raise ValidationError(label, "tag_1", "is Lava's name of tags: give one of them")
        tags = tag_1
    if tag_2 is not None:
        if not (np.isscalar(delay) and delay == 1):
            raise ValidationError(label, "tag_2", "is Lava's name of delay: give one of them")
        delay = tag_2
    return tags, delay


class LearningDense(PlasticSynapse, Dense):
    """All-to-all plastic synapses, ``(post, pre)``, that learn by ``learning_rule``.

    Parameters
    ----------
    weights
        Integer array ``(post, pre)``: every entry is a synapse, zeros included. Within the
        rule's ``w_bounds`` (else the sign mode of the matrix).
    learning_rule
        A :class:`~nmgraph.core.learning.LearningRule` (or a preset: ``STDP``,
        ``RewardModulatedSTDP``).
    weight_exp
        0..7; each weight counts as ``w << weight_exp``.
    num_weight_bits
        Must be 8.
    delay
        1..255 (1..62 when the rule changes delays): one int or an array ``(post, pre)``.
    tags
        Initial tags ``t`` (-256..255): one int or an array ``(post, pre)``.
    tag_1, tag_2
        Lava's names of ``tags`` and ``delay`` (give one name of each).
    third_factor_size
        Units of the process connected to ``s_in_y2``/``s_in_y3``: the number of post neurons
        (default) or 1.
    """

    abstract = False

    def __init__(self, weights: Any, learning_rule: Any = None, weight_exp: int = 0,
                 num_weight_bits: int = 8, delay: Any = 1, tags: Any = 0,
                 third_factor_size: int | None = None, name: str | None = None, *,
                 tag_1: Any = None, tag_2: Any = None) -> None:
        if learning_rule is None:
            raise ValidationError(process_label(type(self), name), "learning_rule",
                                  "is required (use Dense for fixed synapses)")
        tags, delay = _lava_tags(type(self), name, tags, delay, tag_1, tag_2)
        Dense.__init__(self, weights, weight_exp=weight_exp, num_weight_bits=num_weight_bits,
                       delay=delay, name=name)
        self._init_learning(learning_rule, tags, self.shape[0] if third_factor_size is None
                            else third_factor_size, self.shape)
        self._finish()

    def constructor_args(self) -> dict[str, Any]:
        return {**Dense.constructor_args(self), **self._learning_args()}


class LearningSparse(PlasticSynapse, Sparse):
    """Plastic synapses at the entries of a sparse matrix ``(post, pre)``; see
    :class:`LearningDense` for the learning arguments and :class:`~nmgraph.processes.Sparse`
    for ``weights``, ``shape`` and ``delay``. Every given entry is a synapse, explicit zeros
    included; ``tags`` is one int or one value per entry."""

    abstract = False

    def __init__(self, weights: Any, learning_rule: Any = None, shape: Any = None,
                 weight_exp: int = 0, num_weight_bits: int = 8, delay: Any = 1, tags: Any = 0,
                 third_factor_size: int | None = None, name: str | None = None, *,
                 tag_1: Any = None, tag_2: Any = None) -> None:
        if learning_rule is None:
            raise ValidationError(process_label(type(self), name), "learning_rule",
                                  "is required (use Sparse for fixed synapses)")
        tags, delay = _lava_tags(type(self), name, tags, delay, tag_1, tag_2)
        Sparse.__init__(self, weights, shape=shape, weight_exp=weight_exp,
                        num_weight_bits=num_weight_bits, delay=delay, name=name)
        self._init_learning(learning_rule, tags, self.shape[0] if third_factor_size is None
                            else third_factor_size, (self.nnz,))
        self._finish()

    def constructor_args(self) -> dict[str, Any]:
        return {**Sparse.constructor_args(self), **self._learning_args()}
