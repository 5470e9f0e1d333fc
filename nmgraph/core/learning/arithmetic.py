"""Integer traces and the application of a learning rule: the NumPy specification.

Everything here is integer arithmetic, vectorised over neurons or synapses, and every random draw
comes from a counter-based hash of ``(seed, id, step)``. A trace or synapse therefore gets the same
draws whichever core, worker or block processes it, and in whatever order: learning does not
depend on partitioning. The reference simulator calls these functions; the Cython kernels must
match them bit for bit.

The hash
--------
``splitmix_hash(seed, i, t)`` is the SplitMix64 finaliser applied to ``seed * 0x9E3779B97F4A7C15 +
i * 0xBF58476D1CE4E5B9 + t * 0x94D049BB133111EB + 0x632BE59BD9B4E019`` (all mod ``2**64``), the
hash ``PoissonSource`` draws its spikes from. Learning draws from streams of its own:
:func:`learning_seeds` turns a rule's seed into one seed for traces and one for synapses, so that
neither repeats a Poisson source's draws.

Traces
------
Traces are unsigned 7-bit integers (0..127), as on Loihi 1. Each step, before the step's spikes
are added, a trace decays by a 12-bit constant ``decay`` (0..4095) with stochastic rounding::

    p = x * (4096 - decay)                 # exact, at most 127 * 4096
    x = (p >> 12) + (r < (p & 4095))       # r = hash(trace_seed, id, step) >> 52, 12 random bits
    x = min(x + impulse, 127)   if the neuron spiked this step   (impulse 0..127)

so the expected trace is exactly ``x * (4096 - decay) / 4096``: unbiased, where truncation would
drive a 7-bit trace to 0 after a few steps. Trace ids are ``neuron * 8 + slot`` with slots
x1 0, x2 1, y1 2, y2 3, y3 4 (:func:`trace_ids`).

Applying a rule
---------------
At the end of each learning epoch (steps ``t_epoch``, ``2 t_epoch``, ...; steps count from 1) every
synapse of a plastic projection updates its weight ``w``, delay ``d`` and tag ``t`` at once, each
equation reading the values from before the update. With the traces as they are after the
epoch's last step, ``x0``/``y0`` true when the pre/post neuron spiked at least once in the epoch
and ``u`` 1 on the epochs the rule's ``uk`` is active::

    acc = sum over terms of  dep * mantissa * prod(factors) << (exponent + 7)     (int64, exact)
    z   = (z << 7) + acc                                                      # 7 fractional bits
    z   = (z >> 7) + (r < (z & 127))      # r: 7 bits of hash(synapse_seed, synapse_id, step)
    z   = clip(z, low, high)

A factor is ``v + C`` (``v`` the trace, weight, delay, tag or 0/1 spike), or ``sgn(v + C)``. The
change is thus computed exactly in units of 2^-7 (Loihi's accumulator holds the synaptic
variable with 7 fractional bits; the smallest scale 2^-7 is one unit) and rounded stochastically
to an integer: the expected update is exactly the real-valued sum of products. ``w`` takes the
top 7 bits of the hash (bits 57..63), ``d`` bits 50..56 and ``t`` bits 43..49, so the three
roundings of one synapse are independent.

Ranges: traces 0..127, weights within ``w_bounds`` (default -256..255, a 9-bit signed weight;
pass the sign mode's range), delays within ``d_bounds`` (default 0..62), tags within
``t_bounds`` (default -256..255). With at most 4 factors of magnitude below 2**10, a mantissa of
at most 8 and a shift of at most 15, each term stays below 2**58 and 16 of them below 2**62.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from nmgraph.core.errors import ValidationError
from nmgraph.core.fixed_point import DECAY_BITS, DECAY_MAX, DECAY_UNITY, splitmix_hash
from nmgraph.core.learning.grammar import POST_TRACES, PRE_TRACES, ProductSeries

__all__ = [
    "ACCUMULATOR_FRACTION_BITS",
    "D_BOUNDS",
    "TRACE_BITS",
    "TRACE_MAX",
    "TRACE_SLOTS",
    "T_BOUNDS",
    "WEIGHT_BOUNDS",
    "W_BOUNDS",
    "apply_equation",
    "decay_traces",
    "learning_seeds",
    "splitmix_hash",
    "trace_ids",
    "trace_step",
]

#: Traces are unsigned 7-bit integers.
TRACE_BITS = 7
TRACE_MAX = (1 << TRACE_BITS) - 1
#: Slot of each trace in :func:`trace_ids`.
TRACE_SLOTS = {"x1": 0, "x2": 1, "y1": 2, "y2": 3, "y3": 4}
#: Fractional bits of the accumulator: the smallest scale, 2^-7, is one unit.
ACCUMULATOR_FRACTION_BITS = 7
#: Widest ranges :func:`apply_equation` accepts (and its defaults).
W_BOUNDS = (-256, 255)
D_BOUNDS = (0, 62)
T_BOUNDS = (-256, 255)
#: The weight range of each sign mode (8 magnitude bits; -256 only with mixed signs).
WEIGHT_BOUNDS = {"excitatory": (0, 255), "inhibitory": (-255, 0), "mixed": (-256, 255)}
_LIMITS = {"w": W_BOUNDS, "d": D_BOUNDS, "t": T_BOUNDS}
#: Which bits of a synapse's hash round which variable (a right shift, then 7 bits).
_ROUNDING_SHIFT = {"w": 57, "d": 50, "t": 43}

#: Stream numbers hashed with a rule's seed into its trace and synapse seeds.
_TRACE_STREAM = 0x7472616365  # "trace"
_SYNAPSE_STREAM = 0x73796E617073  # "synaps"




def learning_seeds(seed: int) -> tuple[int, int]:
    """``(trace_seed, synapse_seed)``: the two streams of a rule's seed (0..2**64 - 1)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**64:
        raise ValidationError("LearningRule", "seed", "must be an integer in 0..2**64 - 1", seed)
    trace = splitmix_hash(int(seed), np.array([_TRACE_STREAM], np.uint64), 0)[0]
    synapse = splitmix_hash(int(seed), np.array([_SYNAPSE_STREAM], np.uint64), 0)[0]
    return int(trace), int(synapse)


def trace_ids(neurons: Any, trace: str) -> np.ndarray:
    """Hash ids of one trace of the given neurons: ``neuron * 8 + slot`` (x1 0 .. y3 4), uint64.

    ``neurons`` are indices within the population the trace belongs to (pre for x1, x2; post for
    y1..y3), never indices within a core or block.
    """
    if trace not in TRACE_SLOTS:
        raise ValidationError("trace_ids", "trace", f"must be one of {', '.join(TRACE_SLOTS)}", trace)
    return np.asarray(neurons, dtype=np.uint64) * np.uint64(8) + np.uint64(TRACE_SLOTS[trace])


def decay_traces(x: np.ndarray, decay: int, seed: int, ids: np.ndarray, step: int) -> np.ndarray:
    """One step of stochastically rounded decay: ``(p >> 12) + (r < (p & 4095))`` with
    ``p = x * (4096 - decay)`` and ``r`` the top 12 bits of ``hash(seed, id, step)``."""
    product = np.asarray(x, dtype=np.int64) * (DECAY_UNITY - int(decay))
    draw = (splitmix_hash(seed, ids, step) >> np.uint64(64 - DECAY_BITS)).astype(np.int64)
    return (product >> DECAY_BITS) + (draw < (product & DECAY_MAX))


def trace_step(x: np.ndarray, decay: int, impulse: int, spiked: np.ndarray, seed: int,
               ids: np.ndarray, step: int) -> np.ndarray:
    """A trace's value after step ``step``: decay (stochastically rounded), then the impulse of
    the step's spikes, saturating at 127::

        x = decay_traces(x, decay, seed, ids, step)
        x = min(x + impulse, 127)   where spiked

    Parameters
    ----------
    x
        Trace values 0..127, one per neuron.
    decay
        12-bit decay constant 0..4095 (0: no decay; ``(4096 - decay) / 4096`` per step).
    impulse
        0..127, added on each spike.
    spiked
        Boolean, one per neuron: spiked at this step.
    seed, ids, step
        The trace stream's seed (:func:`learning_seeds`), the traces' ids (:func:`trace_ids`)
        and the step (from 1).

    Returns
    -------
    numpy.ndarray
        The new values (int64); ``x`` is not modified.
    """
    if not 0 <= int(decay) <= DECAY_MAX or not 0 <= int(impulse) <= TRACE_MAX:
        raise ValidationError("trace_step", "decay" if not 0 <= int(decay) <= DECAY_MAX else "impulse",
                              f"decay must be 0..{DECAY_MAX} and impulse 0..{TRACE_MAX}",
                              (decay, impulse))
    decayed = decay_traces(x, decay, seed, ids, step)
    return np.where(np.asarray(spiked, dtype=bool), np.minimum(decayed + int(impulse), TRACE_MAX),
                    decayed)


def _check_range(name: str, values: np.ndarray, low: int, high: int) -> None:
    if values.size and (values.min() < low or values.max() > high):
        bad = values[(values < low) | (values > high)].flat[0]
        raise ValidationError("apply_equation", name, f"must be within {low}..{high}", int(bad))


def _factor_values(name: str, variables: Mapping[str, np.ndarray], pre: np.ndarray,
                   post: np.ndarray, x0: np.ndarray, y0: np.ndarray) -> np.ndarray:
    if name in PRE_TRACES:
        return pre[PRE_TRACES.index(name)]
    if name in POST_TRACES:
        return post[POST_TRACES.index(name)]
    if name == "x0":
        return x0.astype(np.int64)
    if name == "y0":
        return y0.astype(np.int64)
    return variables[name]


def apply_equation(series: ProductSeries, variables: Mapping[str, np.ndarray], pre: np.ndarray,
                   post: np.ndarray, x0: np.ndarray, y0: np.ndarray, u: int, seed: int,
                   synapse_ids: np.ndarray, step: int, bounds: tuple[int, int]) -> np.ndarray:
    """The new value of one synaptic variable after an epoch (see the module docstring).

    ``variables`` maps ``w``, ``d``, ``t`` to int64 arrays (the values before the epoch's
    update); ``pre`` is ``(2, n)`` (x1, x2), ``post`` ``(3, n)`` (y1, y2, y3), gathered per
    synapse; ``x0``, ``y0`` are booleans per synapse; ``u`` is 0 or 1.
    """
    name = series.target[1:]
    accumulator = np.zeros(len(synapse_ids), dtype=np.int64)
    gates = {"x0": x0, "y0": y0}
    for product in series.products:
        if product.dependency == "u":
            if not u:
                continue
            gate = None
        else:
            gate = gates[product.dependency]
            if not gate.any():
                continue
        term = np.full(len(synapse_ids), product.mantissa, dtype=np.int64)
        for factor in product.factors:
            value = _factor_values(factor.name, variables, pre, post, x0, y0) + factor.constant
            term *= np.sign(value) if factor.sign else value
        term <<= product.exponent + ACCUMULATOR_FRACTION_BITS
        accumulator += term if gate is None else np.where(gate, term, 0)
    total = (variables[name] << ACCUMULATOR_FRACTION_BITS) + accumulator
    draw = ((splitmix_hash(seed, synapse_ids, step) >> np.uint64(_ROUNDING_SHIFT[name]))
            & np.uint64(127)).astype(np.int64)
    rounded = (total >> ACCUMULATOR_FRACTION_BITS) + (
        draw < (total & ((1 << ACCUMULATOR_FRACTION_BITS) - 1)))
    return np.clip(rounded, bounds[0], bounds[1])


def check_inputs(variables: Mapping[str, np.ndarray | None], pre: np.ndarray, post: np.ndarray,
                 x0: np.ndarray, y0: np.ndarray, bounds: Mapping[str, tuple[int, int]],
                 n: int) -> None:
    """Shapes and ranges of :func:`apply_equation`'s inputs (the bounds that keep it exact)."""
    if pre.shape != (len(PRE_TRACES), n) or post.shape != (len(POST_TRACES), n):
        raise ValidationError("apply", "pre_traces/post_traces",
                              f"must have shapes (2, {n}) and (3, {n}) (one column per synapse)",
                              (pre.shape, post.shape))
    if x0.shape != (n,) or y0.shape != (n,):
        raise ValidationError("apply", "x0/y0", f"must have shape ({n},)", (x0.shape, y0.shape))
    _check_range("pre_traces", pre, 0, TRACE_MAX)
    _check_range("post_traces", post, 0, TRACE_MAX)
    for name, values in variables.items():
        low, high = bounds[name]
        limit_low, limit_high = _LIMITS[name]
        if not limit_low <= low <= high <= limit_high:
            raise ValidationError("apply", f"{name}_bounds",
                                  f"must satisfy {limit_low} <= low <= high <= {limit_high}",
                                  bounds[name])
        if values is not None:
            if values.shape != (n,):
                raise ValidationError("apply", name, f"must have shape ({n},)", values.shape)
            _check_range(name, values, limit_low, limit_high)
