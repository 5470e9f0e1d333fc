"""Lowering: Network -> NetworkIR, the first compiler pass.

Hierarchical processes are flattened (children named ``parent/child``), each population becomes a
flat range of units with fixed-point parameter arrays, and each synapse process becomes one CSR
projection per (source population, target population) pair it joins. How a process class lowers is
looked up in an explicit registry through the class's MRO, so a subclass of LIF lowers as LIF.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from nmgraph.compilers.ir import NetworkIR, PopulationIR, ProjectionIR
from nmgraph.errors import ValidationError
from nmgraph.hierarchy import Hierarchical
from nmgraph.network import Network
from nmgraph.process import Process
from nmgraph.processes import ALIF, IF, LIF, PoissonSource, SpikeGenerator
from nmgraph.processes.base import PopulationProcess, SynapseProcess
from nmgraph.processes.synapses import Dense, Sparse
from nmgraph.runtimes.fixed_point import poisson_threshold

__all__ = ["FlatNetwork", "flatten", "lower", "register_population", "register_synapses"]

PopulationLowering = Callable[[Any], tuple[str, dict[str, np.ndarray], dict[str, np.ndarray]]]
SynapseLowering = Callable[[Any], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]

_POPULATIONS: dict[type, PopulationLowering] = {}
_SYNAPSES: dict[type, SynapseLowering] = {}


def register_population(cls: type) -> Callable[[PopulationLowering], PopulationLowering]:
    """Register how a population process class lowers: ``fn(process) -> (model, params, state)``."""
    def decorator(fn: PopulationLowering) -> PopulationLowering:
        _POPULATIONS[cls] = fn
        return fn
    return decorator


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
                          "nmgraph.compilers.lower.register_population/register_synapses")


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
        A synapse process without input or output, or a process with no registered lowering.
    """
    if not isinstance(net, Network):
        raise ValidationError("lower", "net", "expects a Network", net)
    flat = flatten(net)
    populations: list[PopulationIR] = []
    offset = 0
    for name, process in flat.processes.items():
        if isinstance(process, PopulationProcess):
            model, params, state = _lookup(_POPULATIONS, process)(process)
            populations.append(PopulationIR(name, type(process).__name__, model, process.shape,
                                            offset, params, state))
            offset += process.size
        elif not isinstance(process, SynapseProcess):
            raise ValidationError(process, "", "is neither a population nor a synapse process; "
                                  "nmgraph cannot lower it")
    projections = _projections(flat)
    return NetworkIR(net.name, populations, projections)


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
        pre, post, weights, delays = _lookup(_SYNAPSES, process)(process)
        n_post, n_pre = process.shape
        indptr, order = _csr_by_source(pre, post, n_pre)
        for src in sources:
            for dst in targets:
                projections.append(ProjectionIR(
                    name=name, pre=src, post=dst, n_pre=n_pre, n_post=n_post, indptr=indptr,
                    targets=post[order].astype(np.int64), weights=weights[order].astype(np.int16),
                    delays=delays[order].astype(np.uint8), weight_exp=process.weight_exp,
                    num_weight_bits=process.num_weight_bits))
    return projections


def _csr_by_source(pre: np.ndarray, post: np.ndarray, n_pre: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((post, pre))
    counts = np.bincount(pre, minlength=n_pre)
    indptr = np.zeros(n_pre + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    return indptr, order


# -- the standard library's lowerings ------------------------------------------------------------

def _flat(process: Process, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    return {name: np.ascontiguousarray(process.vars[name].get().ravel()) for name in names}


@register_population(LIF)
def _lower_lif(process: LIF) -> tuple[str, dict[str, np.ndarray], dict[str, np.ndarray]]:
    params = _flat(process, ("du", "dv", "vth", "bias_mant", "bias_exp"))
    return "lif", params, _flat(process, ("u", "v"))


@register_population(IF)
def _lower_if(process: IF) -> tuple[str, dict[str, np.ndarray], dict[str, np.ndarray]]:
    params = _flat(process, ("vth", "bias_mant", "bias_exp"))
    size = process.size
    params = {"du": np.full(size, 4095, dtype=np.int32), "dv": np.zeros(size, dtype=np.int32),
              **params}
    return "lif", params, _flat(process, ("u", "v"))


@register_population(ALIF)
def _lower_alif(process: ALIF) -> tuple[str, dict[str, np.ndarray], dict[str, np.ndarray]]:
    params = _flat(process, ("du", "dv", "vth", "bias_mant", "bias_exp", "db", "beta"))
    return "alif", params, _flat(process, ("u", "v", "b"))


@register_population(PoissonSource)
def _lower_poisson(process: PoissonSource) -> tuple[str, dict[str, np.ndarray],
                                                    dict[str, np.ndarray]]:
    params = {"threshold": poisson_threshold(process.rate.ravel()),
              "seed": np.array(process.seed, dtype=np.uint64)}
    return "poisson", params, {}


@register_population(SpikeGenerator)
def _lower_generator(process: SpikeGenerator) -> tuple[str, dict[str, np.ndarray],
                                                       dict[str, np.ndarray]]:
    data = np.ascontiguousarray(process.data.reshape(process.steps, process.size))
    return "generator", {"data": data, "repeat": np.array(process.repeat)}, {}


@register_synapses(Dense)
def _lower_dense(process: Dense) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    weights = process.weights.value
    post, pre = np.nonzero(weights)
    delays = process.delay.value[post, pre]
    return pre.astype(np.int64), post.astype(np.int64), weights[post, pre], delays


@register_synapses(Sparse)
def _lower_sparse(process: Sparse) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    weights = process.weights.value
    keep = weights != 0
    return process.cols[keep], process.rows[keep], weights[keep], process.delay.value[keep]
