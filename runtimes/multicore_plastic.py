"""The learning engine's part of a worker program: each plastic projection's synapses on the worker.

Built by the host with the rest of the program (``multicore_program.build_programs``) and run by
``_plastic.PlasticEngine`` in the worker. A worker holds the plastic synapses whose target neurons
it runs, in the projection's order (by pre neuron, then post), cut into *rows* (one per pre neuron
with a synapse here) and indexed by post neuron too (the synapses a ``y0`` term reaches). What a
spike means to the engine is an *entry*: deliver a row (a pre neuron), mark a post neuron, or
drive a third-factor trace; the worker's own units find their entries by local unit, the other
workers' by the row of the fan-out table their messages name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nmgraph.compilers.executable import Executable
from nmgraph.compilers.ir import ProjectionIR
from nmgraph.core.errors import SimulationError
from nmgraph.core.learning import learning_seeds
from nmgraph.core.learning.arithmetic import ACCUMULATOR_FRACTION_BITS, T_BOUNDS, TRACE_SLOTS
from nmgraph.runtimes._plastic import (
    DEPENDENCIES,
    ENTRY_DTYPE,
    ENTRY_KINDS,
    TARGET_CODES,
    TERM_DTYPE,
    VARIABLES,
)
from nmgraph.runtimes.plastic_reference import rule_dependencies

__all__ = ["PlasticBlock", "PlasticProgram", "build_plastic_program", "compile_equations"]

E_PRE, E_POST, E_MOD, E_MOD_ALL = (ENTRY_KINDS[k] for k in ("pre", "post", "mod", "mod_all"))
MAX_TERMS = 16
MAX_FACTORS = TERM_DTYPE["var"].shape[0]
THIRD_FACTOR_SLOT = {"y2": 0, "y3": 1}
#: The engine's array of each per-synapse variable.
SYNAPSE_ARRAYS = {"weights": "w", "delay": "d", "tags": "tag"}


@dataclass(eq=False)
class PlasticBlock:
    """One plastic projection's synapses on one worker (the fields ``_plastic.Proj`` reads)."""

    name: str
    n_pre: int
    weight_exp: int
    t_epoch: int
    decimation: int
    dep_x0: bool
    dep_y0: bool
    dep_u: bool
    #: per ``y0`` term, its plain pre-side factors (bit 0 ``x1``, 1 ``x2``, 2 ``x0``); None when a
    #: ``y0`` term has none (see ``_plastic._quiet``)
    quiet_masks: list[int] | None
    trace_seed: int
    syn_seed: int
    decay: list[int]
    impulse: list[int]
    used: list[int]
    third: list[int]
    bounds: list[tuple[int, int]]
    equations: list[tuple[int, int]]
    #: bit i set: the rule reads variable ``VARIABLES[i]`` (a trace, w, d, t, x0, y0)
    need: int
    #: IR index of each local synapse (its place in the projection's arrays)
    synapses: np.ndarray
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return int(self.arrays["row_pre"].size)

    @property
    def n_posts(self) -> int:
        return int(self.arrays["post_id"].size)

    @property
    def n_syn(self) -> int:
        return int(self.synapses.size)

    def values(self, var: str) -> tuple[str, np.ndarray, np.ndarray]:
        """``(axis, index, values)`` of a learning variable held here: ``axis`` is
        ``"synapse"`` (``index``: IR synapse ids), ``"pre"`` or ``"post"`` (neuron indices in
        that population); ``values`` is the live array (a view)."""
        a = self.arrays
        if var in SYNAPSE_ARRAYS:
            return "synapse", self.synapses, a[SYNAPSE_ARRAYS[var]]
        if var in ("x1", "x2"):
            return "pre", a["row_pre"], a["x"][TRACE_SLOTS[var]]
        if var == "x0":
            return "pre", a["row_pre"], a["x0"]
        if var in ("y1", "y2", "y3"):
            return "post", a["post_id"], a["y"][TRACE_SLOTS[var] - 2]
        if var == "y0":
            return "post", a["post_id"], a["y0"]
        raise SimulationError(f"plastic synapses '{self.name}' have no variable {var!r}")


@dataclass(eq=False)
class PlasticProgram:
    """A worker's plastic projections and the entries of the units that concern them."""

    projections: list[PlasticBlock]
    unit_entries: np.ndarray
    unit_entry_ptr: np.ndarray
    row_entries: np.ndarray
    row_entry_ptr: np.ndarray
    #: The shortest delay any of its plastic synapses has or may get (bounds the window).
    min_delay: int

    def block(self, name: str) -> PlasticBlock | None:
        return next((b for b in self.projections if b.name == name), None)


def compile_equations(rule: Any) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The rule's equations as ``TERM_DTYPE`` records, ``MAX_TERMS`` per equation, and
    ``[(target code, terms)]`` in the order of the records."""
    terms = np.zeros(max(len(rule.equations), 1) * MAX_TERMS, dtype=TERM_DTYPE)
    equations = []
    for e, (target, series) in enumerate(rule.equations.items()):
        if len(series.products) > MAX_TERMS:
            raise SimulationError(f"{rule!r}: more than {MAX_TERMS} terms")
        for k, product in enumerate(series.products):
            record = terms[e * MAX_TERMS + k]
            record["dep"] = DEPENDENCIES.index(product.dependency)
            record["mantissa"] = product.mantissa
            record["shift"] = product.exponent + ACCUMULATOR_FRACTION_BITS
            record["n_factors"] = len(product.factors)
            for f, factor in enumerate(product.factors):
                record["var"][f] = VARIABLES.index(factor.name)
                record["sign"][f] = int(factor.sign)
                record["constant"][f] = factor.constant
        equations.append((TARGET_CODES[target], len(series.products)))
    return terms, equations


def build_plastic_program(exe: Executable, rank: int, units: np.ndarray, unit_worker: np.ndarray,
                          unit_local: np.ndarray, row_source: np.ndarray) -> PlasticProgram | None:
    """The learning engine's program of worker ``rank`` (None when it holds no plastic
    synapse). ``units``: its units' global ids in local order; ``row_source``: the source unit
    of each row of its fan-out table (sorted)."""
    ir = exe.ir
    blocks: list[PlasticBlock] = []
    unit_keys: list[np.ndarray] = []
    unit_ents: list[np.ndarray] = []
    row_keys: list[np.ndarray] = []
    row_ents: list[np.ndarray] = []
    min_delay = 255

    def add(k: int, kind: int, trace: int, index: np.ndarray, source: np.ndarray) -> None:
        """Entries ``(kind, k, trace, index[i])`` for spikes of global units ``source[i]``."""
        entries = np.zeros(index.size, dtype=ENTRY_DTYPE)
        entries["kind"], entries["proj"], entries["trace"], entries["index"] = kind, k, trace, index
        local = unit_worker[source] == rank
        unit_keys.append(unit_local[source[local]])
        unit_ents.append(entries[local])
        remote = source[~local]
        rows = np.searchsorted(row_source, remote)
        if remote.size and (rows.max() >= row_source.size or
                            not np.array_equal(row_source[rows], remote)):
            raise SimulationError("the routing lacks an input axon that a plastic synapse needs")
        row_keys.append(rows)
        row_ents.append(entries[~local])

    for proj in ir.projections:
        if not proj.is_plastic:
            continue
        block = _block(ir, proj, rank, unit_worker, unit_local)
        if block is None:
            continue
        k = len(blocks)
        blocks.append(block)
        rule = proj.learning.rule
        min_delay = min(min_delay, 1 if "d" in rule.targets else int(block.arrays["d"].min()))
        pre_offset = ir.population(proj.pre).offset
        post_offset = ir.population(proj.post).offset
        rows = np.arange(block.n_rows, dtype=np.int64)
        add(k, E_PRE, 0, rows, pre_offset + block.arrays["row_pre"])
        posts = np.arange(block.n_posts, dtype=np.int64)
        add(k, E_POST, 0, posts, post_offset + block.arrays["post_id"])
        for mod in ir.projections:
            if mod.modulates is None or mod.name != proj.name:
                continue
            slot = THIRD_FACTOR_SLOT[mod.modulates]
            mod_offset = ir.population(mod.pre).offset
            if mod.n_pre == 1:
                add(k, E_MOD_ALL, slot, np.zeros(1, np.int64), np.array([mod_offset], np.int64))
            else:
                add(k, E_MOD, slot, posts, mod_offset + block.arrays["post_id"])
    if not blocks:
        return None
    unit_entries, unit_ptr = _csr(unit_keys, unit_ents, units.size)
    row_entries, row_ptr = _csr(row_keys, row_ents, row_source.size)
    return PlasticProgram(blocks, unit_entries, unit_ptr, row_entries, row_ptr, min_delay)


def _csr(keys: list[np.ndarray], entries: list[np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    key = np.concatenate(keys) if keys else np.zeros(0, np.int64)
    entry = np.concatenate(entries) if entries else np.zeros(0, ENTRY_DTYPE)
    order = np.argsort(key, kind="stable")
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(key, minlength=n), out=ptr[1:])
    return np.ascontiguousarray(entry[order]), ptr


def _quiet_masks(rule: Any) -> list[int] | None:
    """For each ``y0``-gated term of the rule, the plain pre-side factors that zero it (bit 0
    ``x1``, bit 1 ``x2``, bit 2 ``x0``); None when one has none."""
    bits = {"x1": 1, "x2": 2, "x0": 4}
    masks = []
    for series in rule.equations.values():
        for product in series.products:
            if product.dependency != "y0":
                continue
            mask = 0
            for factor in product.factors:
                if factor.name in bits and factor.constant == 0 and not factor.sign:
                    mask |= bits[factor.name]
            if mask == 0:
                return None
            masks.append(mask)
    return masks


def _needed(rule: Any) -> int:
    """Bit mask of the variables (``VARIABLES`` order) the rule reads: its factors' and the
    synaptic variables it changes."""
    names = {factor.name for series in rule.equations.values() for product in series.products
             for factor in product.factors} | set(rule.targets)   # w, d, t it changes
    return sum(1 << i for i, name in enumerate(VARIABLES) if name in names)


def _block(ir: Any, proj: ProjectionIR, rank: int, unit_worker: np.ndarray,
           unit_local: np.ndarray) -> PlasticBlock | None:
    learning = proj.learning
    rule = learning.rule
    post_offset = ir.population(proj.post).offset
    targets = np.asarray(proj.targets, dtype=np.int64)
    synapses = np.flatnonzero(unit_worker[post_offset + targets] == rank)
    if synapses.size == 0:
        return None
    pre = proj.sources()[synapses]
    post = targets[synapses]
    row_pre, syn_row = np.unique(pre, return_inverse=True)
    post_id, syn_post = np.unique(post, return_inverse=True)
    row_ptr = np.zeros(row_pre.size + 1, dtype=np.int64)
    np.cumsum(np.bincount(syn_row, minlength=row_pre.size), out=row_ptr[1:])
    post_ptr = np.zeros(post_id.size + 1, dtype=np.int64)
    np.cumsum(np.bincount(syn_post, minlength=post_id.size), out=post_ptr[1:])
    if synapses.size >= 2**31:
        raise SimulationError(f"plastic synapses '{proj.name}': a worker holds at most 2**31 - 1 "
                              "of them; use more workers")
    post_syn = np.argsort(syn_post, kind="stable").astype(np.int32)
    terms, equations = compile_equations(rule)
    trace_seed, syn_seed = learning_seeds(learning.seed)
    traces = list(TRACE_SLOTS)
    n_rows, n_posts = row_pre.size, post_id.size
    dependencies = rule_dependencies(rule)
    block = PlasticBlock(
        name=proj.name, n_pre=proj.n_pre, weight_exp=proj.weight_exp,
        t_epoch=rule.t_epoch, decimation=rule.decimation or 0, dep_x0="x0" in dependencies,
        dep_y0="y0" in dependencies, dep_u="u" in dependencies, quiet_masks=_quiet_masks(rule),
        trace_seed=trace_seed,
        syn_seed=syn_seed, decay=[rule.decays[t] for t in traces],
        impulse=[rule.impulses[t] for t in traces],
        used=[int(t in rule.traces) for t in traces],
        third=[int(t in rule.third_factor) for t in traces],
        bounds=[tuple(learning.w_bounds), learning.d_bounds, T_BOUNDS], equations=equations,
        need=_needed(rule), synapses=synapses)
    block.arrays.update(
        terms=terms, row_ptr=row_ptr, row_pre=row_pre.astype(np.int64),
        syn_col=unit_local[post_offset + post].astype(np.int32),
        syn_post=syn_post.astype(np.int32), syn_row=syn_row.astype(np.int32),
        w=proj.weights[synapses].astype(np.int16), d=proj.delays[synapses].astype(np.uint8),
        tag=learning.tags[synapses].astype(np.int16),
        post_ptr=post_ptr, post_syn=post_syn, post_row=syn_row[post_syn].astype(np.int32),
        post_id=post_id.astype(np.int64),
        x=np.zeros((2, n_rows), np.int32), y=np.zeros((3, n_posts), np.int32),
        x0=np.zeros(n_rows, np.uint8), y0=np.zeros(n_posts, np.uint8),
        xs=np.zeros(n_rows, np.uint8), ys=np.zeros(n_posts, np.uint8),
        ts=np.zeros((2, n_posts), np.uint8), mod_all=np.zeros(2, np.int32),
        act_rows=np.zeros(n_rows, np.int64), act_posts=np.zeros(n_posts, np.int64),
        step_rows=np.zeros(n_rows, np.int64), step_posts=np.zeros(n_posts, np.int64),
        step_mods=np.zeros((2, n_posts), np.int64), updates=np.zeros(1, np.int64))
    return block
