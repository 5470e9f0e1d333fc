"""Lowering: Network -> NetworkIR, the first compiler pass.

Hierarchical processes are flattened (children named ``parent/child``), each population becomes a
flat range of units with the typed parameters and state of its model, and each synapse process
becomes one CSR projection per (source population, target population) pair it joins, its weights
with their ``8 - num_weight_bits`` low bits dropped (Lava's meaning of ``num_weight_bits``). A
population's parameters come from the model registered for its class (``nmgraph.implements``,
resolved through the MRO: a subclass of LIF lowers as LIF); how a synapse class lowers is looked up
in this module's registry the same way.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from nmgraph.compilers.ir import NetworkIR, Plasticity, PopulationIR, ProjectionIR
from nmgraph.compilers.synapse_graph import stable_order
from nmgraph.core.checks import pairs_strictly_increasing
from nmgraph.core.errors import ValidationError
from nmgraph.core.hierarchy import Hierarchical
from nmgraph.core.models import model_of
from nmgraph.core.network import Network
from nmgraph.core.process import Process
from nmgraph.core.weights import FULL_WEIGHT_BITS, truncate_weights
from nmgraph.processes.base import PopulationProcess, SynapseProcess
from nmgraph.processes.conv import Conv
from nmgraph.processes.learning_synapses import (
    THIRD_FACTOR_PORTS,
    LearningDense,
    LearningSparse,
    PlasticSynapse,
)
from nmgraph.processes.synapses import Dense, Sparse, index_dtype

__all__ = ["FlatNetwork", "flatten", "lower", "register_synapses"]

SynapseLowering = Callable[[Any], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]

_SYNAPSES: dict[type, SynapseLowering] = {}


def register_synapses(cls: type) -> Callable[[SynapseLowering], SynapseLowering]:
    """Register how a synapse class lowers: ``fn(process) -> (pre, post, weights, delays)`` COO
    arrays of its non-zero synapses."""
    def decorator(fn: SynapseLowering) -> SynapseLowering:
        _SYNAPSES[cls] = fn
        return fn
    return decorator


def _lookup(table: dict[type, Callable], process: Process) -> Callable:
    for cls in type(process).__mro__:
        if cls in table:
            return table[cls]
    raise ValidationError(process, "", "has no lowering registered; register one with "
                          "nmgraph.compilers.lower.register_synapses")


# -- flattening --------------------------------------------------------------------------------

@dataclass(frozen=True)
class FlatEdge:
    """A connection between leaf processes, by qualified name."""

    src: str
    src_port: str
    dst: str
    dst_port: str


@dataclass
class FlatNetwork:
    """Leaf processes (qualified name -> process, in canonical order) and their connections."""

    name: str
    processes: dict[str, Process]
    edges: list[FlatEdge]


def flatten(net: Network) -> FlatNetwork:
    """Expand hierarchical processes into their children, resolving exposed ports."""
    processes: dict[str, Process] = {}
    edges: list[FlatEdge] = []
    _flatten_into(net, processes, edges)
    return FlatNetwork(net.name, processes, edges)


def _flatten_into(net: Network, processes: dict[str, Process], edges: list[FlatEdge]) -> None:
    for process in net.processes:
        if isinstance(process, Hierarchical):
            _flatten_into(process.children, processes, edges)
        else:
            processes[process.qualified_name] = process
    for conn in net.connections:
        src = conn.src.port(conn.src_port).resolve()
        dst = conn.dst.port(conn.dst_port).resolve()
        edges.append(FlatEdge(src.process.qualified_name, src.name, dst.process.qualified_name,
                              dst.name))


# -- lowering ----------------------------------------------------------------------------------

def lower(net: Network) -> NetworkIR:
    """Lower a network to its NetworkIR.

    Raises
    ------
    ValidationError
        A synapse process without input or output, a process with no registered lowering, or
        one converted from physical units with another step than the network's ``dt_ms``.
    """
    if not isinstance(net, Network):
        raise ValidationError("lower", "net", "expects a Network", net)
    flat = flatten(net)
    populations: list[PopulationIR] = []
    offset = 0
    for name, process in flat.processes.items():
        if process.dt_ms is not None and process.dt_ms != net.dt_ms:
            raise ValidationError(process, "dt_ms", f"was converted from physical units with a "
                                  f"step of {process.dt_ms:g} ms, but Network '{net.name}' steps "
                                  f"by {net.dt_ms:g} ms", process.dt_ms)
        if isinstance(process, PopulationProcess):
            model = model_of(process)
            _check_memory(process, model)
            params, state = model.lower(process)
            populations.append(PopulationIR(name, type(process).__name__, model.name,
                                            process.shape, offset, params, state))
            offset += process.size
        elif not isinstance(process, SynapseProcess):
            raise ValidationError(process, "", "is neither a population nor a synapse process; "
                                  "nmgraph cannot lower it")
    projections = _projections(flat)
    return NetworkIR(net.name, populations, projections, dt_ms=net.dt_ms)


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 1 << 40


def _check_memory(process: PopulationProcess, model: Any) -> None:
    """Refuse, with the size it would need, a population whose parameters and state alone
    would not fit in this machine's memory (rather than a bare MemoryError later)."""
    fields = len(model.Params.specs()) + len(model.State.specs())
    need = process.size * 8 * max(fields, 1)
    memory = _physical_memory()
    if need > memory:
        raise ValidationError(process, "shape", f"{process.size:,} units need about "
                              f"{need / 2**30:,.1f} GiB for their parameters and state, more "
                              f"than this machine's {memory / 2**30:,.1f} GiB")


def _projections(flat: FlatNetwork) -> list[ProjectionIR]:
    projections = []
    for name, process in flat.processes.items():
        if not isinstance(process, SynapseProcess):
            continue
        sources = [e.src for e in flat.edges if e.dst == name and e.dst_port == "s_in"]
        targets = [e.dst for e in flat.edges if e.src == name and e.src_port == "a_out"]
        if not sources:
            raise ValidationError(process, "s_in", "is not connected: connect a spike source "
                                  "(a neuron's or source's s_out) to it")
        if not targets:
            raise ValidationError(process, "a_out", "is not connected: connect it to a "
                                  "neuron population's a_in")
        if isinstance(process, PlasticSynapse):
            projections.extend(_plastic_projections(flat, name, process, sources, targets))
            continue
        pre, post, weights, delays = _lookup(_SYNAPSES, process)(process)
        n_post, n_pre = process.shape
        indptr, post, weights, delays = _csr_arrays(pre, post, weights, delays, n_pre, n_post)
        weights, declared = _truncated(weights, process.num_weight_bits)
        for number, (src, dst) in enumerate(itertools.product(sources, targets)):
            fresh = (lambda a: a) if number == 0 else np.copy  # each projection owns its arrays
            projections.append(ProjectionIR(
                name=name, pre=src, post=dst, n_pre=n_pre, n_post=n_post, indptr=indptr,
                targets=fresh(post), weights=fresh(weights), delays=fresh(delays),
                weight_exp=process.weight_exp, num_weight_bits=process.num_weight_bits,
                declared_weights=declared))
    return projections


def learning_seed(name: str) -> int:
    """The seed of a plastic projection whose rule has none: a hash of its qualified name."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


def _plastic_projections(flat: FlatNetwork, name: str, process: PlasticSynapse,
                         sources: list[str], targets: list[str]) -> list[ProjectionIR]:
    """A plastic synapse process: one plastic projection (every entry a synapse, tags beside
    the weights) and one weightless projection per connected third-factor port."""
    if len(sources) != 1 or len(targets) != 1:
        raise ValidationError(process, "s_in" if len(sources) != 1 else "a_out",
                              "a plastic synapse block joins one source population to one target "
                              f"population (it has {len(sources)} on s_in and {len(targets)} on "
                              "a_out): add one block per pair")
    rule = process.learning_rule
    n_post, n_pre = process.shape
    pre, post, order = _plastic_entries(process)
    weights = process.weights.value.reshape(-1)[order].astype(np.int16)
    delays = process.delay.value.reshape(-1)[order].astype(np.uint8)
    tags = process.tags.value.reshape(-1)[order].astype(np.int16)
    indptr = np.zeros(n_pre + 1, dtype=np.int64)
    np.cumsum(np.bincount(pre, minlength=n_pre), out=indptr[1:])
    modulators: dict[str, str] = {}
    extra = []
    # a third-factor synapse adds nothing to its target's input: its delay only sets when the
    # runtime must exchange its spikes, so it takes the plastic synapses' shortest one
    quiet_delay = 1 if "d" in rule.targets or delays.size == 0 else int(delays.min())
    for trace, port in THIRD_FACTOR_PORTS.items():
        feeds = [e.src for e in flat.edges if e.dst == name and e.dst_port == port]
        if len(feeds) > 1:
            raise ValidationError(process, port, f"has {len(feeds)} connections; connect one "
                                  "process (merge reward signals upstream)")
        if feeds and trace not in rule.third_factor:
            raise ValidationError(process, port, f"is connected, but its learning rule does not "
                                  f"drive {trace} by a third factor (LearningRule(..., "
                                  f"third_factor=('{trace}',)))")
        if not feeds:
            if trace in rule.third_factor:
                raise ValidationError(process, port, f"is not connected, but its learning rule "
                                      f"drives {trace} by a third factor: connect the reward "
                                      "signal's s_out to it")
            continue
        modulators[trace] = feeds[0]
        size = process.third_factor_size
        extra.append(ProjectionIR(
            name=name, pre=feeds[0], post=targets[0], n_pre=size, n_post=n_post,
            indptr=np.array([0, n_post], dtype=np.int64) if size == 1 else
            np.arange(n_post + 1, dtype=np.int64),
            targets=np.arange(n_post, dtype=index_dtype(n_post)),
            weights=np.zeros(n_post, dtype=np.int16), delays=np.full(n_post, quiet_delay, np.uint8),
            modulates=trace))
    learning = Plasticity(rule=rule, seed=rule.seed if rule.seed is not None else learning_seed(name),
                          w_bounds=process.w_bounds, tags=tags, third_factor=modulators)
    plastic = ProjectionIR(name=name, pre=sources[0], post=targets[0], n_pre=n_pre, n_post=n_post,
                           indptr=indptr, targets=post.astype(index_dtype(n_post)),
                           weights=weights, delays=delays, weight_exp=process.weight_exp,
                           num_weight_bits=process.num_weight_bits, learning=learning)
    return [plastic, *extra]


def _plastic_entries(process: PlasticSynapse) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(pre, post, order)`` of every entry of a plastic block in CSR order (by pre, then
    post); ``order`` indexes the flattened Var arrays (weights, delay, tags)."""
    n_post, n_pre = process.shape
    if isinstance(process, LearningDense):   # entry (i, j) is flat index i * n_pre + j
        pre = np.repeat(np.arange(n_pre, dtype=np.int64), n_post)
        post = np.tile(np.arange(n_post, dtype=np.int64), n_pre)
        return pre, post, post * n_pre + pre
    if isinstance(process, LearningSparse):
        rows, cols = process.rows.astype(np.int64), process.cols.astype(np.int64)
        order = np.lexsort((rows, cols))
        return cols[order], rows[order], order
    raise ValidationError(process, "", "is a plastic synapse block nmgraph cannot lower")


def _truncated(weights: np.ndarray, num_weight_bits: int) -> tuple[np.ndarray, np.ndarray | None]:
    """``(weights as run, declared weights or None)``: the ``8 - num_weight_bits`` low bits
    dropped as Lava's ``truncate_weights`` (sign mode of the whole synapse process; the extra bit
    of mixed-sign weights is the Loihi profiles' rule, applied by the quantization pass).
    Weights that become 0 stay synapses, as on Loihi. Nothing is copied at 8 bits."""
    if int(num_weight_bits) >= FULL_WEIGHT_BITS or weights.size == 0:
        return weights, None
    truncated = truncate_weights(weights, num_weight_bits).astype(np.int16, copy=False)
    if np.array_equal(truncated, weights):
        return weights, None
    return truncated, weights


def _csr_arrays(pre: np.ndarray, post: np.ndarray, weights: np.ndarray, delays: np.ndarray,
                n_pre: int, n_post: int) -> tuple[np.ndarray, ...]:
    """``(indptr, targets, weights, delays)`` of COO synapses as a CSR by source, each row by
    target (the order of ``np.lexsort((post, pre))``); int64, int32 (int64 for ``n_post`` beyond
    ``2**31``), int16, uint8.

    Synapses already in that order (no pair twice) are kept as they are: ``post``, ``weights``
    and ``delays`` come back as given (views, no copy), only ``indptr`` is new. Otherwise, when
    ``pre``, ``post`` and the non-uniform ones of weight (16 bits) and delay (8 bits) fit one
    int64, the synapses are sorted as packed values and unpacked: no permutation to gather with
    (random gathers of hundreds of millions of entries cost more than the sort).
    """
    weights = np.asarray(weights).astype(np.int16, copy=False)
    delays = np.asarray(delays).astype(np.uint8, copy=False)
    target_dtype = index_dtype(n_post)
    n = int(pre.size)
    if n == 0:
        return (np.zeros(n_pre + 1, dtype=np.int64), np.zeros(0, target_dtype),
                np.zeros(0, np.int16), np.zeros(0, np.uint8))
    if post.dtype == target_dtype and pairs_strictly_increasing(pre, post, n_post):
        bounds = np.arange(n_pre + 1, dtype=pre.dtype if n_pre < 2**31 else np.int64)
        indptr = np.searchsorted(pre, bounds).astype(np.int64, copy=False)
        return indptr, post, weights, delays
    uniform_w = bool(weights.min() == weights.max())
    uniform_d = bool(delays.min() == delays.max())
    w_bits, d_bits = (0 if uniform_w else 16), (0 if uniform_d else 8)
    post_bits = max(n_post - 1, 1).bit_length()
    low = post_bits + w_bits + d_bits
    if max(n_pre - 1, 1).bit_length() + low <= 63:
        key = pre.astype(np.int64)
        for a, b in _chunks(n):  # packed in chunks: no full-size temporaries
            part = key[a:b]
            part <<= low
            part |= post[a:b].astype(np.int64) << (w_bits + d_bits)
            if w_bits:
                part |= weights[a:b].view(np.uint16).astype(np.int64) << d_bits
            if d_bits:
                part |= delays[a:b]
        key.sort()
        shift = w_bits + d_bits
        if not any(bool(np.any(pair[1:] == pair[:-1]))
                   for pair in (key[a:b + 1] >> shift for a, b in _chunks(n))):
            indptr = np.searchsorted(key, np.arange(n_pre + 1, dtype=np.int64) << low)
            targets = np.empty(n, dtype=target_dtype)
            out_w = np.full(n, weights[0], dtype=np.int16) if uniform_w else np.empty(n, np.int16)
            out_d = np.full(n, delays[0], dtype=np.uint8) if uniform_d else np.empty(n, np.uint8)
            for a, b in _chunks(n):
                part = key[a:b]
                targets[a:b] = (part >> shift) & ((1 << post_bits) - 1)
                if w_bits:
                    out_w[a:b] = ((part >> d_bits) & 0xFFFF).astype(np.uint16).view(np.int16)
                if d_bits:
                    out_d[a:b] = part & 0xFF
            return indptr.astype(np.int64), targets, out_w, out_d
        del key
    indptr, order = _csr_by_source(pre, post, n_pre)
    return (indptr, post[order].astype(target_dtype, copy=False), weights[order],
            delays[order])


#: Entries per chunk of the element-wise loops of :func:`_csr_arrays` (cache-sized: faster than
#: whole arrays of tens of millions, and the temporaries stay small).
_CHUNK = 1 << 14


def _chunks(n: int):
    """``(start, stop)`` of consecutive chunks of ``range(n)``."""
    for start in range(0, n, _CHUNK):
        yield start, min(n, start + _CHUNK)


def _csr_by_source(pre: np.ndarray, post: np.ndarray, n_pre: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR row pointers by source and the order of the synapses by (pre, post), as
    ``np.lexsort((post, pre))`` gives it, through one or two packed sorts (``stable_order``)."""
    if post.size > 1 and bool(np.any(post[1:] < post[:-1])):
        by_post = stable_order(post, int(post.max()) + 1)
        order = by_post[stable_order(pre[by_post], n_pre)]
    else:  # already by post (COO in row order, as connectors build it): one stable sort by pre
        order = stable_order(pre, n_pre)
    counts = np.bincount(pre, minlength=n_pre)
    indptr = np.zeros(n_pre + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    return indptr, order


# -- the standard library's synapse lowerings -----------------------------------------------------

@register_synapses(Dense)
def _lower_dense(process: Dense) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    weights = process.weights.value
    post, pre = np.nonzero(weights)
    delays = process.delay.value[post, pre]
    return pre.astype(np.int64), post.astype(np.int64), weights[post, pre], delays


@register_synapses(Sparse)
def _lower_sparse(process: Sparse) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    weights = process.weights.value
    delays = process.delay.value
    if np.count_nonzero(weights) == weights.size:  # no zero weights to drop: read-only views
        return _read_only(process.cols), _read_only(process.rows), weights, delays
    keep = weights != 0
    return process.cols[keep], process.rows[keep], weights[keep], delays[keep]


@register_synapses(Conv)
def _lower_conv(process: Conv) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return process.synapses()  # one vectorised pass per kernel tap; zero weights dropped


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view
