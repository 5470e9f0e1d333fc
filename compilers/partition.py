"""Partitioning: split populations into core slices that respect every limit of a profile.

Strategies, chosen by name:

``greedy``
    Sequential fill, as sPyNNaker/PACMAN do: each population is cut in order into slices as large
    as the neurons-per-core and synapse-memory limits allow; one population per core.
``balanced``
    The same number of cores per population as needed, with slices of equal size (within one).
``mincut``
    Traffic-aware: a multilevel graph partitioner (``compilers/mincut.py``) groups neurons that
    exchange spikes, to cut inter-core messages; a core may then hold units of several populations.
    The greedy partition is computed too and kept when it wins: fewer cores first, then fewer
    messages per spike of every unit (the sum of output axons); the partition's notes say so.
    (On Brunel networks, whose random connectivity gives a min-cut nothing to find, greedy's
    full cores win: loihi1 N = 4,000, 48 cores against 80.)

Axon limits depend on where every other unit lives (a core's input axons are the distinct source
units reaching it; its output axons, the sum over its units of their destination cores), so every
strategy runs in a loop: cut, measure every core, and shrink the slices of the populations whose
cores overflow, until every core fits or a single unit cannot.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nmgraph.compilers.ir import NetworkIR
from nmgraph.compilers.mapping_data import RESOURCES, Partition
from nmgraph.compilers.synapse_graph import SynapseGraph, axon_pairs, core_runs, count_values, synapse_cores
from nmgraph.core.errors import MappingError, ValidationError

__all__ = ["STRATEGIES", "CoreLimits", "apply_splitters", "measure_usage", "partition"]

MAX_ROUNDS = 60


@dataclass(frozen=True)
class CoreLimits:
    """Per-core limits (``None``: no limit) taken from a profile, with the user's cap applied."""

    profile_name: str
    neurons: int
    axons_in: int | None
    axons_out: int | None
    synapses: int | None
    bits_per_synapse: int
    synapse_bits: int | None
    fanout_cores: int | None
    #: Units a source core may hold (a profile's ``spike_sources_per_core``, else its neurons).
    sources: int = 0
    #: Neurons reach one core only (TrueNorth): splitters are inserted after partitioning, so the
    #: partitioner itself ignores fan-out and output axons (see :func:`apply_splitters`).
    splitters: bool = False

    @classmethod
    def from_profile(cls, profile, max_neurons_per_core: int | None = None, *,
                     strict_fanout: bool = False) -> CoreLimits:
        neurons = int(profile.neurons_per_core)
        sources = int(profile.spike_source_capacity)
        if max_neurons_per_core is not None:
            if (isinstance(max_neurons_per_core, bool) or not isinstance(max_neurons_per_core, int)
                    or max_neurons_per_core < 1):
                raise ValidationError("compile", "max_neurons_per_core",
                                      "must be a positive int", max_neurons_per_core)
            neurons = min(neurons, max_neurons_per_core)
            sources = min(sources, max_neurons_per_core)
        splitters = profile.fanout_cores_per_neuron == 1 and not strict_fanout
        return cls(profile.name, neurons, profile.axons_in_per_core,
                   None if splitters else profile.axons_out_per_core,
                   profile.synapse_capacity, int(profile.bits_per_synapse or 0),
                   profile.synapse_memory_bits_per_core,
                   None if splitters else profile.fanout_cores_per_neuron, sources, splitters)

    def units(self, kind: str) -> int:
        """Units a core of ``kind`` (``"neuron"`` or ``"source"``) may hold."""
        return self.sources if kind == "source" and self.sources else self.neurons

    def limit(self, resource: str) -> int | None:
        return {"neurons": self.neurons, "axons_in": self.axons_in,
                "axons_out": self.axons_out, "synapses": self.synapses,
                "synapse_bits": self.synapse_bits}[resource]


def measure_usage(graph: SynapseGraph, unit_core: np.ndarray, n_cores: int,
                  bits_per_synapse: int,
                  in_degree: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Use of every resource on every core, and each unit's number of destination cores.

    ``in_degree`` (``graph.in_degree()``), when given, counts each core's synapses per unit
    instead of per synapse.
    """
    core = synapse_cores(graph, unit_core, n_cores)
    if in_degree is None:
        synapses = count_values(core, n_cores)
    else:
        synapses = np.bincount(unit_core, weights=in_degree, minlength=n_cores).astype(np.int64)
    runs = core_runs(graph, core)
    if runs is not None:  # cores are unit ranges: pairs are runs, counted without a sort
        keep, fanout = runs
        axons_in = count_values(core[keep], n_cores)
    else:
        del core
        pair_source, pair_core = axon_pairs(graph, unit_core, n_cores)
        axons_in = count_values(pair_core, n_cores)
        fanout = count_values(pair_source, graph.n_units)
    usage = {
        "neurons": np.bincount(unit_core, minlength=n_cores).astype(np.int64),
        "axons_in": axons_in,
        "axons_out": np.bincount(unit_core, weights=fanout, minlength=n_cores).astype(np.int64),
        "synapses": synapses,
        "synapse_bits": synapses * bits_per_synapse,
    }
    return usage, fanout


# -- cutting one population into slices ------------------------------------------------------------

def _greedy_bounds(in_degree: np.ndarray, cap: int, synapse_cap: int | None) -> list[int]:
    """Slice boundaries of a sequential fill: as many units as the caps allow, in order."""
    n = in_degree.size
    cumulative = np.concatenate(([0], np.cumsum(in_degree)))
    bounds, start = [0], 0
    while start < n:
        stop = min(start + cap, n)
        if synapse_cap is not None:
            fit = int(np.searchsorted(cumulative, cumulative[start] + synapse_cap, "right")) - 1
            stop = min(stop, fit)
        if stop <= start:
            return []  # one unit alone exceeds the synapse capacity; reported by the caller
        bounds.append(stop)
        start = stop
    return bounds


def _balanced_bounds(in_degree: np.ndarray, cap: int, synapse_cap: int | None) -> list[int]:
    """Slice boundaries of equal sizes (within one unit), with as few slices as the caps allow."""
    n = in_degree.size
    total = int(in_degree.sum())
    k = max(1, math.ceil(n / cap))
    if synapse_cap is not None:
        if in_degree.size and int(in_degree.max()) > synapse_cap:
            return []
        k = max(k, math.ceil(total / synapse_cap))
    cumulative = np.concatenate(([0], np.cumsum(in_degree)))
    while k <= n:
        bounds = [round(i * n / k) for i in range(k + 1)]
        edges = np.asarray(bounds)
        if synapse_cap is None or np.all(np.diff(cumulative[edges]) <= synapse_cap):
            return bounds
        k += 1
    return []


_CUTTERS: dict[str, Callable[[np.ndarray, int, int | None], list[int]]] = {
    "greedy": _greedy_bounds,
    "balanced": _balanced_bounds,
}

STRATEGIES = ("greedy", "balanced", "mincut")


# -- the partition pass ------------------------------------------------------------------------------

def partition(ir: NetworkIR, graph: SynapseGraph, profile, strategy: str = "greedy",
              seed: int = 0, max_neurons_per_core: int | None = None,
              rates: np.ndarray | None = None) -> Partition:
    """Assign every unit of ``ir`` to a core so that every core fits ``profile``.

    Parameters
    ----------
    ir, graph
        The lowered network and its synapse graph.
    profile
        A HardwareProfile.
    strategy
        ``"greedy"``, ``"balanced"`` or ``"mincut"``.
    seed
        Seed of the randomised parts of ``mincut``.
    max_neurons_per_core
        A cap below the profile's neurons per core (smaller slices).
    rates
        Optional expected spikes per step of each unit, to weight traffic in ``mincut``.

    Raises
    ------
    MappingError
        When a unit cannot fit a core even alone, naming the process, resource, need and limit.
    """
    if strategy not in STRATEGIES:
        raise ValidationError("compile", "partition", f"unknown strategy; choose one of "
                              f"{list(STRATEGIES)}", strategy)
    limits = CoreLimits.from_profile(profile, max_neurons_per_core)
    in_degree = graph.in_degree()
    _check_single_units(ir, graph, limits, in_degree)
    if strategy == "mincut":
        from nmgraph.compilers.partition_mincut import mincut_assignment

        unit_core, kinds = mincut_assignment(ir, graph, limits, in_degree, seed, rates)
        cut = _fit_by_splitting(ir, graph, limits, unit_core, kinds, strategy)
        return _better_of(cut, _fit_by_caps(ir, graph, limits, in_degree, "greedy"))
    return _fit_by_caps(ir, graph, limits, in_degree, strategy)


def _better_of(cut: Partition, greedy: Partition) -> Partition:
    """The min-cut partition unless the greedy one has fewer cores, or as many cores and fewer
    messages per spike of every unit (the sum of the cores' output axons)."""
    def rank(parts: Partition) -> tuple[int, int]:
        return parts.n_cores, int(parts.usage["axons_out"].sum())

    if rank(greedy) < rank(cut):
        note = (f"mincut: the greedy partition kept ({greedy.n_cores} cores, "
                f"{rank(greedy)[1]:,} messages per spike of every unit) over the min-cut one "
                f"({cut.n_cores} cores, {rank(cut)[1]:,})")
        return Partition(unit_core=greedy.unit_core, core_kind=greedy.core_kind,
                         usage=greedy.usage, lower_bound=greedy.lower_bound, strategy="mincut",
                         notes=[*greedy.notes, note])
    return cut


def apply_splitters(ir: NetworkIR, graph: SynapseGraph, parts: Partition, profile,
                    max_neurons_per_core: int | None = None
                    ) -> tuple[NetworkIR, SynapseGraph, Partition]:
    """On profiles whose neurons reach one core (TrueNorth), relay the spikes of units with
    targets on several cores through splitter neurons (``compilers/splitters.py``) and check the
    result against every limit, fan-out and output axons included."""
    limits = CoreLimits.from_profile(profile, max_neurons_per_core)
    if not limits.splitters:
        return ir, graph, parts
    from nmgraph.compilers.splitters import insert_splitters

    new_ir, new_graph, unit_core, kinds, stats = insert_splitters(ir, graph, parts,
                                                                  limits.neurons)
    if stats is None:
        return ir, graph, parts
    strict = CoreLimits.from_profile(profile, max_neurons_per_core, strict_fanout=True)
    usage, fanout = measure_usage(new_graph, unit_core, len(kinds), strict.bits_per_synapse)
    overflow = _overflows(usage, strict, kinds)
    if overflow:
        resource, core, need, limit = overflow[0]
        raise MappingError(f"after inserting splitters for {profile.name}, core {core} needs "
                           f"{need} {resource} but {profile.name} allows {limit}; lower the "
                           "fan-out or max_neurons_per_core")
    _check_fanout(new_ir, fanout, strict)
    result = Partition(unit_core=unit_core, core_kind=kinds, usage=usage,
                       lower_bound=lower_bounds(new_ir, new_graph, strict), strategy=parts.strategy,
                       notes=[*parts.notes, stats.note(profile.name)])
    return new_ir, new_graph, result


def _populations_by_kind(ir: NetworkIR) -> list:
    # Source cores first would reorder nothing: keep the canonical order, kinds never share a core.
    return list(ir.populations)


def _fit_by_caps(ir: NetworkIR, graph: SynapseGraph, limits: CoreLimits, in_degree: np.ndarray,
                 strategy: str) -> Partition:
    cut = _CUTTERS[strategy]
    caps = {pop.name: limits.units("source" if pop.is_source else "neuron")
            for pop in ir.populations}
    for _ in range(MAX_ROUNDS):
        unit_core = np.empty(ir.n_units, dtype=np.int64)
        core_pop: list[str] = []
        kinds: list[str] = []
        for pop in _populations_by_kind(ir):
            bounds = cut(in_degree[pop.offset:pop.stop], caps[pop.name], limits.synapses)
            for start, stop in itertools.pairwise(bounds):
                unit_core[pop.offset + start:pop.offset + stop] = len(core_pop)
                core_pop.append(pop.name)
                kinds.append("source" if pop.is_source else "neuron")
        usage, fanout = measure_usage(graph, unit_core, len(core_pop), limits.bits_per_synapse,
                                      in_degree)
        overflow = _overflows(usage, limits, kinds)
        if not overflow:
            _check_fanout(ir, fanout, limits)
            return _result(ir, graph, limits, unit_core, kinds, usage, strategy)
        # One new cap per population per round: the tightest of its overflowing cores (the size
        # at which its need would fit if need grew in proportion to size), and at least one
        # smaller than now. Shrinking by one more per overflowing core collapsed populations with
        # many slightly overflowing cores to one unit per core (Brunel 80k on loihi1: 80,079
        # cores instead of 8,791); a safety margin on the ratio compounds over rounds where
        # fan-out grows as cores shrink (clustered 8 x 512 on loihi1: 29 cores instead of 16).
        wanted: dict[str, int] = {}
        for resource, core, need, limit in overflow:
            name = core_pop[core]
            size = int(usage["neurons"][core])
            if size <= 1:
                _raise_unit_overflow(ir, name, resource, need, limit, limits)
            fit = size * limit // need
            wanted[name] = min(wanted.get(name, fit), fit)
        for name, fit in wanted.items():
            caps[name] = max(1, min(caps[name] - 1, fit))
    raise MappingError(f"partitioning for {limits.profile_name} did not converge in "
                       f"{MAX_ROUNDS} rounds; try strategy='mincut' or max_neurons_per_core")


def _fit_by_splitting(ir: NetworkIR, graph: SynapseGraph, limits: CoreLimits,
                      unit_core: np.ndarray, kinds: list[str], strategy: str) -> Partition:
    """Split overflowing cores in two (by unit order) until every core fits."""
    for _ in range(MAX_ROUNDS):
        n_cores = len(kinds)
        usage, fanout = measure_usage(graph, unit_core, n_cores, limits.bits_per_synapse)
        overflow = _overflows(usage, limits, kinds)
        if not overflow:
            _check_fanout(ir, fanout, limits)
            return _result(ir, graph, limits, unit_core, kinds, usage, strategy)
        for core in sorted({core for _, core, _, _ in overflow}):
            members = np.flatnonzero(unit_core == core)
            if members.size <= 1:
                resource, _, need, limit = next(o for o in overflow if o[1] == core)
                _raise_unit_overflow(ir, _population_of(ir, int(members[0])), resource, need,
                                     limit, limits)
            unit_core[members[members.size // 2:]] = len(kinds)
            kinds.append(kinds[core])
    raise MappingError(f"partitioning for {limits.profile_name} did not converge in "
                       f"{MAX_ROUNDS} rounds; try max_neurons_per_core")


def _overflows(usage: dict[str, np.ndarray], limits: CoreLimits,
               kinds: list[str]) -> list[tuple[str, int, int, int]]:
    found = []
    for resource in RESOURCES:
        limit = limits.limit(resource)
        if limit is None:
            continue
        per_core = np.full(len(kinds), limit, dtype=np.int64)
        if resource == "neurons":   # source cores hold up to the sources' limit
            per_core[np.array([kind == "source" for kind in kinds], dtype=bool)] = \
                limits.units("source")
        for core in np.flatnonzero(usage[resource] > per_core):
            found.append((resource, int(core), int(usage[resource][core]), int(per_core[core])))
    return found


def _check_single_units(ir: NetworkIR, graph: SynapseGraph, limits: CoreLimits,
                        in_degree: np.ndarray) -> None:
    if limits.synapses is not None and in_degree.size and int(in_degree.max()) > limits.synapses:
        unit = int(np.argmax(in_degree))
        _raise_unit_overflow(ir, _population_of(ir, unit), "synapses", int(in_degree[unit]),
                             limits.synapses, limits)


def _check_fanout(ir: NetworkIR, fanout: np.ndarray, limits: CoreLimits) -> None:
    if limits.fanout_cores is None or not fanout.size or fanout.max() <= limits.fanout_cores:
        return
    unit = int(np.argmax(fanout))
    pop = ir.population(_population_of(ir, unit))
    raise MappingError(
        f"{pop.process_type} '{pop.name}': unit {unit - pop.offset} sends spikes to "
        f"{int(fanout[unit])} cores but {limits.profile_name} allows {limits.fanout_cores} "
        f"destination core(s) per neuron; lower the fan-out or keep each neuron's targets within "
        f"one core")


def _raise_unit_overflow(ir: NetworkIR, pop_name: str, resource: str, need: int, limit: int,
                         limits: CoreLimits) -> None:
    pop = ir.population(pop_name)
    synapses_in = [p.name for p in ir.projections if p.post == pop_name]
    synapses_out = [p.name for p in ir.projections if p.pre == pop_name]
    hints = {
        "axons_in": ("a single neuron of it receives spikes from more distinct units than a core "
                     "has input axons; lower the fan-in of " + ", ".join(synapses_in or ["it"])),
        "axons_out": ("a single unit of it sends to more cores than a core has output axons; "
                      "lower the fan-out of " + ", ".join(synapses_out or ["it"])),
        "synapses": ("a single neuron of it has more synapses than a core can store; lower the "
                     "fan-in of " + ", ".join(synapses_in or ["it"]) + " or the weight bits"),
        "synapse_bits": "a single neuron's synapses exceed a core's synapse memory",
        "neurons": "the profile allows no neurons per core",
    }
    via = f" (through {', '.join(synapses_in)})" if resource in ("axons_in", "synapses") and \
        synapses_in else ""
    raise MappingError(
        f"{pop.process_type} '{pop.name}'{via}: a core needs {need} {resource.replace('_', ' ')} "
        f"but {limits.profile_name} allows {limit} even with one neuron per core; "
        f"{hints[resource]}")


def _population_of(ir: NetworkIR, unit: int) -> str:
    for pop in ir.populations:
        if pop.offset <= unit < pop.stop:
            return pop.name
    raise IndexError(unit)  # unreachable: units come from the IR


def lower_bounds(ir: NetworkIR, graph: SynapseGraph, limits: CoreLimits) -> dict[str, int]:
    """Cores that each resource alone requires, whatever the strategy (``"cores"``: their max).

    Neurons and sources never share a core, so the neuron bound counts both kinds separately.
    Each unit with targets needs at least one input axon somewhere and one output axon on its own
    core, which bounds the axon resources.
    """
    sources = sum(pop.size for pop in ir.populations if pop.is_source)
    neurons = ir.n_units - sources
    bound = {"neurons": math.ceil(neurons / limits.neurons)
             + math.ceil(sources / limits.units("source"))}
    senders = int(np.count_nonzero(graph.out_degree()))
    if limits.synapses:
        bound["synapses"] = math.ceil(graph.n_synapses / limits.synapses)
    if limits.axons_in:
        bound["axons_in"] = math.ceil(senders / limits.axons_in)
    if limits.axons_out:
        bound["axons_out"] = math.ceil(senders / limits.axons_out)
    bound["cores"] = max(bound.values())
    return bound


def _result(ir: NetworkIR, graph: SynapseGraph, limits: CoreLimits, unit_core: np.ndarray,
            kinds: list[str], usage: dict[str, np.ndarray], strategy: str) -> Partition:
    unit_core, kinds, usage = _renumber(unit_core, kinds, usage)
    return Partition(unit_core=unit_core, core_kind=kinds, usage=usage,
                     lower_bound=lower_bounds(ir, graph, limits), strategy=strategy)


def _renumber(unit_core: np.ndarray, kinds: list[str],
              usage: dict[str, np.ndarray]) -> tuple[np.ndarray, list[str], dict[str, np.ndarray]]:
    """Number cores by their first unit, so core ids follow the canonical order; drop empty ones."""
    n = len(kinds)
    first = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, unit_core, np.arange(unit_core.size, dtype=np.int64))
    used = np.flatnonzero(first < np.iinfo(np.int64).max)
    order = used[np.argsort(first[used], kind="stable")]
    new_id = np.full(n, -1, dtype=np.int64)
    new_id[order] = np.arange(order.size)
    return (new_id[unit_core], [kinds[c] for c in order],
            {key: value[order] for key, value in usage.items()})
