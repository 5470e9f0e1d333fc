"""Plastic projections in the reference simulator: the NumPy specification of on-chip learning.

One :class:`PlasticProjection` per plastic projection holds its learning state (weights, delays,
tags, traces, the epoch's spike flags) in the projection's synapse order, and does the three things
a step asks of it (see :mod:`nmgraph.processes.learning_synapses` for the timing):

1. :meth:`deliver`: the spikes of step ``t`` of presynaptic neurons reach the post neurons'
   inputs of step ``t + d`` with the current weights;
2. :meth:`end_step`: every trace decays (stochastic rounding, :func:`trace_step`) and takes the
   impulses of step ``t``: ``x1``, ``x2`` from the pre neuron's spikes, ``y1..y3`` from the post
   neuron's or, for a third-factor trace, from the third-factor input; the epoch's ``x0``/``y0``
   flags collect the spikes;
3. at the end of an epoch, the rule updates every synapse (:func:`nmgraph.core.learning.apply`)
   and the flags are cleared.

Traces exist for the neurons that have a synapse in the projection (they live beside the
synapses, on the core of the post neuron): a pre neuron without synapses has no ``x`` trace, and
reads as 0. The multi-core runtime's learning engine (``_plastic.pyx``) matches this bit for bit.

Counters: every synapse a spike reaches is a synaptic operation, as for fixed synapses; a
*synaptic update* is one synapse the rule is evaluated for at an epoch's end, i.e. one for which a
dependency of one of its terms is active (``x0`` of its pre neuron, ``y0`` of its post neuron,
``u`` of the epoch). A synapse with no active dependency cannot change, and the learning engine
skips it, as Loihi's does.
"""

from __future__ import annotations

import numpy as np

from nmgraph.compilers.ir import ProjectionIR
from nmgraph.core.errors import SimulationError
from nmgraph.core.learning import apply, learning_seeds, trace_ids, trace_step
from nmgraph.core.learning.arithmetic import T_BOUNDS, TRACE_SLOTS

__all__ = ["LEARNING_VARS", "PlasticProjection", "plastic_axis", "plastic_size",
           "rule_dependencies"]

#: What a plastic projection holds, by name: per synapse, per pre neuron, per post neuron.
SYNAPSE_VARS = ("weights", "delay", "tags")
PRE_VARS = ("x1", "x2", "x0")
POST_VARS = ("y1", "y2", "y3", "y0")
LEARNING_VARS = SYNAPSE_VARS + PRE_VARS + POST_VARS


def plastic_axis(var: str) -> str:
    """What a learning variable is indexed by: ``"synapse"``, ``"pre"`` or ``"post"``."""
    if var in SYNAPSE_VARS:
        return "synapse"
    if var in PRE_VARS:
        return "pre"
    if var in POST_VARS:
        return "post"
    raise SimulationError(f"plastic synapses have no variable {var!r} (they have "
                          f"{', '.join(LEARNING_VARS)})")


def plastic_size(proj: ProjectionIR, axis: str) -> int:
    """Length of a learning variable of ``proj`` on ``axis``."""
    return {"synapse": proj.n_synapses, "pre": proj.n_pre, "post": proj.n_post}[axis]


def rule_dependencies(rule) -> set[str]:
    """The dependencies (``x0``, ``y0``, ``u``) that gate some term of ``rule``."""
    return {product.dependency for series in rule.equations.values()
            for product in series.products}


class PlasticProjection:
    """The learning state of one plastic projection and its step (the specification).

    Parameters
    ----------
    proj
        The plastic projection (``proj.learning`` set).
    modulators
        Its third-factor projections (``modulates`` set), whose spikes drive those traces.
    """

    def __init__(self, proj: ProjectionIR, modulators: list[ProjectionIR]) -> None:
        learning = proj.learning
        if learning is None:
            raise SimulationError(f"projection '{proj.name}' is not plastic")
        self.proj, self.rule = proj, learning.rule
        self.seed = learning.seed
        self.trace_seed, _ = learning_seeds(self.seed)
        self.bounds = {"w": tuple(learning.w_bounds), "d": learning.d_bounds, "t": T_BOUNDS}
        self.pre = proj.sources()
        self.post = np.asarray(proj.targets, dtype=np.int64)
        self.rng_ids = (self.post * proj.n_pre + self.pre).astype(np.uint64)
        self.values = {"weights": proj.weights.astype(np.int64),
                       "delay": proj.delays.astype(np.int64),
                       "tags": learning.tags.astype(np.int64)}
        self.has_pre = np.diff(proj.indptr) > 0
        self.has_post = np.bincount(self.post, minlength=proj.n_post) > 0
        self.x = np.zeros((2, proj.n_pre), dtype=np.int64)
        self.y = np.zeros((3, proj.n_post), dtype=np.int64)
        self.x0 = np.zeros(proj.n_pre, dtype=bool)
        self.y0 = np.zeros(proj.n_post, dtype=bool)
        self.modulators = modulators
        self.traces = self.rule.traces
        self.dependencies = rule_dependencies(self.rule)
        read = set().union(*(series.names for series in self.rule.equations.values()))
        self.uses_d = "d" in read or "d" in self.rule.targets

    # -- the step ------------------------------------------------------------------------------
    def deliver(self, fired: np.ndarray, t: int, inputs: np.ndarray) -> int:
        """Add the spikes of pre neurons ``fired`` at step ``t`` into ``inputs`` (the post
        population's ring buffer, ``slots x n_post``); returns the synapses reached."""
        proj = self.proj
        starts, stops = proj.indptr[fired], proj.indptr[fired + 1]
        counts = stops - starts
        total = int(counts.sum())
        if total == 0:
            return 0
        first_of_row = np.repeat(np.cumsum(counts) - counts, counts)
        synapses = np.repeat(starts, counts) + (np.arange(total) - first_of_row)
        slots = (t + self.values["delay"][synapses]) % inputs.shape[0]
        weights = self.values["weights"][synapses] << proj.weight_exp
        np.add.at(inputs, (slots, self.post[synapses]), weights)
        return total

    def third_factor_spikes(self, fired_by_pop: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``{trace: bool per post neuron}``: the post neurons whose third-factor input spiked."""
        spikes = {}
        for mod in self.modulators:
            hit = np.zeros(self.proj.n_post, dtype=bool)
            fired = fired_by_pop.get(mod.pre)
            if fired is not None and fired.size:
                rows = np.concatenate([np.arange(mod.indptr[k], mod.indptr[k + 1]) for k in fired])
                hit[np.asarray(mod.targets, dtype=np.int64)[rows]] = True
            spikes[mod.modulates] = hit
        return spikes

    def end_step(self, t: int, pre_spiked: np.ndarray, post_spiked: np.ndarray,
                 third: dict[str, np.ndarray]) -> int:
        """Traces and flags after step ``t``; the rule at an epoch's end. Returns the synaptic
        updates of this step (0 unless an epoch ended)."""
        pre_spiked = pre_spiked & self.has_pre
        post_spiked = post_spiked & self.has_post
        for trace in self.traces:
            slot = TRACE_SLOTS[trace]
            if trace[0] == "x":
                array, row, neurons = self.x, slot, np.flatnonzero(self.has_pre)
                spiked = pre_spiked
            else:
                array, row, neurons = self.y, slot - 2, np.flatnonzero(self.has_post)
                spiked = third.get(trace, np.zeros_like(post_spiked)) & self.has_post \
                    if trace in self.rule.third_factor else post_spiked
            array[row, neurons] = trace_step(array[row, neurons], self.rule.decays[trace],
                                             self.rule.impulses[trace], spiked[neurons],
                                             self.trace_seed, trace_ids(neurons, trace), t)
        self.x0 |= pre_spiked
        self.y0 |= post_spiked
        if not self.rule.is_epoch_end(t):
            return 0
        x0, y0 = self.x0[self.pre], self.y0[self.post]
        u = self.rule.u_at(t)
        active = np.zeros(self.pre.size, dtype=bool)
        if "x0" in self.dependencies:
            active |= x0
        if "y0" in self.dependencies:
            active |= y0
        if "u" in self.dependencies and u:
            active[:] = True
        values = self.values
        # delays enter only a rule that reads or changes them (others may exceed 62)
        w, d, tag = apply(self.rule, values["weights"], values["delay"] if self.uses_d else None,
                          values["tags"], self.x[:, self.pre], self.y[:, self.post], x0, y0, u,
                          self.rng_ids, t, seed=self.seed, w_bounds=self.bounds["w"],
                          d_bounds=self.bounds["d"], t_bounds=self.bounds["t"])
        values["weights"], values["tags"] = w, tag
        if d is not None:
            values["delay"] = d
        self.x0[:] = False
        self.y0[:] = False
        return int(np.count_nonzero(active))

    # -- state ---------------------------------------------------------------------------------
    def get(self, var: str) -> np.ndarray:
        """A copy of ``var``: per synapse (weights, delay, tags, in the projection's order), per
        pre neuron (x1, x2, x0) or per post neuron (y1, y2, y3, y0)."""
        if var in self.values:
            return self.values[var].copy()
        if var in ("x1", "x2"):
            return self.x[TRACE_SLOTS[var]].copy()
        if var in ("y1", "y2", "y3"):
            return self.y[TRACE_SLOTS[var] - 2].copy()
        if var == "x0":
            return self.x0.astype(np.int64)
        if var == "y0":
            return self.y0.astype(np.int64)
        raise SimulationError(f"plastic synapses '{self.proj.name}' have no variable {var!r} "
                              f"(they have {', '.join(LEARNING_VARS)})")

    def set(self, var: str, value: np.ndarray) -> None:
        """Set ``var`` (the caller has checked the values' ranges and shape)."""
        value = np.asarray(value, dtype=np.int64)
        if var in self.values:
            self.values[var] = value.copy()
        elif var in ("x1", "x2"):
            self.x[TRACE_SLOTS[var]] = np.where(self.has_pre, value, 0)
        elif var in ("y1", "y2", "y3"):
            self.y[TRACE_SLOTS[var] - 2] = np.where(self.has_post, value, 0)
        elif var == "x0":
            self.x0[:] = (value != 0) & self.has_pre
        elif var == "y0":
            self.y0[:] = (value != 0) & self.has_post
        else:
            self.get(var)   # raises the error naming what exists

    def dump(self) -> dict[str, np.ndarray]:
        return {var: self.get(var) for var in LEARNING_VARS}

    def load(self, values: dict[str, np.ndarray]) -> None:
        for var in LEARNING_VARS:
            self.set(var, values[var])
