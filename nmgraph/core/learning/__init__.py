"""On-chip learning, the part every layer shares: the rule language, integer traces and the
NumPy specification of applying a rule.

- :mod:`~nmgraph.core.learning.grammar`: Loihi's sum-of-products equations (``dw``, ``dd``,
  ``dt``) parsed into :class:`ProductSeries` (no ``eval``); the supported grammar is in its
  docstring.
- :mod:`~nmgraph.core.learning.arithmetic`: the counter-based hash, 7-bit traces with
  stochastically rounded decay, and the exact integer evaluation of an equation.
- :mod:`~nmgraph.core.learning.rule`: :class:`LearningRule` and the two calls a runtime makes,
  :func:`update_trace` every step and :func:`apply` at the end of each learning epoch.

Time constants in ms and the presets (pair STDP with NEST's parameters, reward-modulated STDP)
are in ``nmgraph.processes.learning_presets``, since converting time constants is the process
library's job.
"""

from nmgraph.core.learning.arithmetic import (
    TRACE_MAX,
    WEIGHT_BOUNDS,
    learning_seeds,
    splitmix_hash,
    trace_ids,
    trace_step,
)
from nmgraph.core.learning.grammar import Factor, Product, ProductSeries, parse_equation
from nmgraph.core.learning.rule import TRACES, LearningRule, apply, update_trace

__all__ = [
    "TRACES",
    "TRACE_MAX",
    "WEIGHT_BOUNDS",
    "Factor",
    "LearningRule",
    "Product",
    "ProductSeries",
    "apply",
    "learning_seeds",
    "parse_equation",
    "splitmix_hash",
    "trace_ids",
    "trace_step",
    "update_trace",
]
