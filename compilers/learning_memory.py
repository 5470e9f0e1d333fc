"""The memory that learning adds to a core: the state of its plastic synapses and their traces.

A plastic synapse stores more than a fixed one, as on Loihi, where the learning engine reads and
writes state beside the weights. nmgraph counts, on the core of each target neuron:

- per plastic synapse: a tag (9 bits: -256..255) when the rule reads or changes ``t``, and its
  own delay field (6 bits: 1..62) when the rule changes delays (``dd``);
- per input axon of a plastic projection (a presynaptic neuron reaching the core): 7 bits for each
  presynaptic trace (``x1``, ``x2``) the rule reads;
- per postsynaptic neuron of a plastic projection: 7 bits for each postsynaptic trace
  (``y1``, ``y2``, ``y3``) the rule reads.

These bits are added to the core's synapse memory use (``synapse_bits``) and checked against the
profile's synapse memory, with an error naming the core and what would help.
"""

from __future__ import annotations

import numpy as np

from nmgraph.compilers.ir import NetworkIR
from nmgraph.core.errors import MappingError
from nmgraph.core.learning.arithmetic import TRACE_BITS

__all__ = ["DELAY_FIELD_BITS", "TAG_BITS", "check_learning_memory", "learning_bits",
           "learning_neuron_cap", "plastic_synapses_per_core"]

TAG_BITS = 9
DELAY_FIELD_BITS = 6


def plastic_synapses_per_core(ir: NetworkIR, unit_core: np.ndarray, n_cores: int) -> np.ndarray:
    """int64 ``(n_cores,)``: the plastic synapses each core holds (on the core of their target)."""
    per_core = np.zeros(n_cores, dtype=np.int64)
    for proj in ir.projections:
        if proj.is_plastic and proj.n_synapses:
            post = ir.population(proj.post)
            core = unit_core[post.offset + np.asarray(proj.targets, dtype=np.int64)]
            per_core += np.bincount(core, minlength=n_cores)
    return per_core


def learning_bits(ir: NetworkIR, unit_core: np.ndarray, n_cores: int) -> np.ndarray:
    """int64 ``(n_cores,)``: the bits of learning state each core holds (see the module
    docstring)."""
    bits = np.zeros(n_cores, dtype=np.int64)
    for proj in ir.projections:
        if not proj.is_plastic or proj.n_synapses == 0:
            continue
        rule = proj.learning.rule
        names = set().union(*(series.names for series in rule.equations.values()))
        per_synapse = (TAG_BITS if "t" in names or "t" in rule.targets else 0) + (
            DELAY_FIELD_BITS if "d" in rule.targets else 0)
        pre_traces = sum(1 for trace in rule.traces if trace[0] == "x")
        post_traces = len(rule.traces) - pre_traces
        post_offset = ir.population(proj.post).offset
        targets = np.asarray(proj.targets, dtype=np.int64)
        core = unit_core[post_offset + targets]
        if per_synapse:
            bits += np.bincount(core, minlength=n_cores) * per_synapse
        if pre_traces:   # one set of traces per (pre neuron, core) axon
            pairs = np.unique(proj.sources() * n_cores + core)
            bits += np.bincount(pairs % n_cores, minlength=n_cores) * (pre_traces * TRACE_BITS)
        if post_traces:
            posts = np.unique(targets)
            bits += np.bincount(unit_core[post_offset + posts], minlength=n_cores) * (
                post_traces * TRACE_BITS)
    return bits


def learning_neuron_cap(ir: NetworkIR, usage: dict[str, np.ndarray], unit_core: np.ndarray,
                        profile) -> int | None:
    """None when every core holds its synapses and their learning state; else a smaller number
    of neurons per core to partition with: the fullest overflowing core's neurons, scaled by how
    far it overflows (with a 3% margin), and at least one fewer."""
    limit = profile.synapse_memory_bits_per_core
    if limit is None or not any(proj.is_plastic for proj in ir.projections):
        return None
    n_cores = usage["synapse_bits"].size
    total = usage["synapse_bits"] + learning_bits(ir, unit_core, n_cores)
    over = total > limit
    if not over.any():
        return None
    neurons = int(usage["neurons"][over].max())
    worst = float((total[over] / limit).max())
    cap = min(neurons - 1, int(neurons / worst * 0.97))
    return cap if cap >= 1 else None


def check_learning_memory(ir: NetworkIR, usage: dict[str, np.ndarray], unit_core: np.ndarray,
                          profile) -> dict[str, np.ndarray]:
    """``usage`` with the learning state added to ``synapse_bits``; a MappingError when a core's
    synapse memory cannot hold its synapses and their learning state."""
    if not any(proj.is_plastic for proj in ir.projections):
        return usage
    n_cores = usage["synapse_bits"].size
    extra = learning_bits(ir, unit_core, n_cores)
    total = usage["synapse_bits"] + extra
    limit = profile.synapse_memory_bits_per_core
    if limit is not None and bool(np.any(total > limit)):
        core = int(np.argmax(total - limit))
        raise MappingError(
            f"core {core}: its synapses and their learning state need {int(total[core]):,} bits "
            f"({int(extra[core]):,} of them tags, delay fields and traces of plastic synapses), "
            f"more than the {limit:,} bits of synapse memory of a {profile.name} core; lower "
            f"max_neurons_per_core so that fewer plastic synapses share a core")
    return {**usage, "synapse_bits": total}
