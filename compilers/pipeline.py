"""``nm.compile``: the compiler passes in order, from a Network to an Executable."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from nmgraph.compilers.executable import Executable, build_core_tables
from nmgraph.compilers.hardware import load_profile
from nmgraph.compilers.ir import NetworkIR
from nmgraph.compilers.learning_memory import check_learning_memory, learning_neuron_cap
from nmgraph.compilers.lower import lower
from nmgraph.compilers.partition import apply_splitters
from nmgraph.compilers.partition import partition as partition_pass
from nmgraph.compilers.place import place as place_pass
from nmgraph.compilers.quantize import quantize
from nmgraph.compilers.route import route as route_pass
from nmgraph.compilers.synapse_graph import axon_pairs, build_synapse_graph
from nmgraph.core.errors import ValidationError
from nmgraph.core.network import Network, NetworkStamp
from nmgraph.core.progress import ProgressBar, is_progress_option, progress_bar

__all__ = ["compile_network"]

log = logging.getLogger("nmgraph.compile")

#: The passes in order, as timed in ``options["timings_s"]`` and shown by the progress bar.
_PASSES = ("lower", "quantize", "synapse_graph", "partition", "place", "route", "tables")


def compile_network(target: Network | NetworkIR, hardware: Any = "generic",
                    partition: str = "greedy", place: str = "linear", seed: int = 0,
                    max_neurons_per_core: int | None = None,
                    rates: np.ndarray | None = None, progress: Any = None) -> Executable:
    """Map a network onto the cores of a hardware profile.

    Passes: lower -> quantize -> partition -> place -> route -> per-core tables.

    Parameters
    ----------
    target
        The Network (or an already lowered NetworkIR). The Executable's IR shares the arrays
        that no pass changes with it (a ``Sparse`` given in CSR order, weights that need no
        quantization): nothing writes into them, so do not either.
    hardware
        A built-in profile name (``loihi1``, ``loihi2``, ``spinnaker1``, ``spinnaker2``,
        ``truenorth``, ``generic``), a TOML/JSON file, a dict or a HardwareProfile.
    partition
        ``greedy``, ``balanced`` or ``mincut``.
    place
        ``linear`` or ``traffic``.
    seed
        Seed of the randomised parts of ``mincut`` and ``traffic`` (results are deterministic).
    max_neurons_per_core
        Cap the units per core below the profile's limit (neuron cores and source cores alike).
    rates
        Expected spikes per step of each unit (global canonical order), to weight traffic in
        ``mincut``, ``traffic`` placement and the report; per spike when not given.
    progress
        A bar over the passes: None (automatic: on when stderr is a terminal and the compile
        lasts over half a second), True, False or a text stream (see
        :mod:`nmgraph.core.progress`).

    Raises
    ------
    MappingError
        The network does not fit the profile; the message names the process, the resource, the
        need and the limit, and what would help.
    """
    if not is_progress_option(progress):
        raise ValidationError("compile", "progress", "must be True, False, None or a text "
                              "stream", progress)
    with progress_bar(progress, len(_PASSES), "compile", unit="pass") as bar:
        bar.describe(_PASSES[0])
        return _compile(target, hardware, partition, place, seed, max_neurons_per_core, rates,
                        bar)


#: Partitions tried again with fewer neurons per core when learning state overflows a core.
LEARNING_REPARTITIONS = 6


def _compile(target: Network | NetworkIR, hardware: Any, partition: str, place: str, seed: int,
             max_neurons_per_core: int | None, rates: np.ndarray | None,
             bar: ProgressBar) -> Executable:
    """The passes of :func:`compile_network`, each advancing ``bar``."""
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = now - clock
        clock = now
        bar.advance()
        at = _PASSES.index(name) + 1
        bar.describe(_PASSES[at] if at < len(_PASSES) else "done")

    if isinstance(target, Network):
        ir = lower(target)
    elif isinstance(target, NetworkIR):
        ir = target
    else:
        raise ValidationError("compile", "target", "expects a Network or a NetworkIR", target)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValidationError("compile", "seed", "must be an int >= 0", seed)
    if rates is not None:
        rates = np.asarray(rates, dtype=np.float64)
        if rates.shape != (ir.n_units,):
            raise ValidationError("compile", "rates", f"must have one value per unit "
                                  f"({ir.n_units})", rates.shape)
    lap("lower")
    profile = load_profile(hardware)
    ir, quantization = quantize(ir, profile)
    lap("quantize")
    graph = build_synapse_graph(ir)
    lap("synapse_graph")
    parts = partition_pass(ir, graph, profile, partition, seed=int(seed),
                           max_neurons_per_core=max_neurons_per_core, rates=rates)
    ir, graph, parts = apply_splitters(ir, graph, parts, profile, max_neurons_per_core)
    for _ in range(LEARNING_REPARTITIONS):
        # the partitioners count synapses, not the learning state beside plastic ones: when
        # that state overflows a core, partition again with fewer neurons per core
        cap = learning_neuron_cap(ir, parts.usage, parts.unit_core, profile)
        if cap is None:
            break
        parts = partition_pass(ir, graph, profile, partition, seed=int(seed),
                               max_neurons_per_core=cap, rates=rates)
        ir, graph, parts = apply_splitters(ir, graph, parts, profile, cap)
        parts.notes.append(f"{profile.name}: at most {cap:,} neurons per core, so that plastic "
                           "synapses' learning state (tags, delays, traces) fits synapse memory")
    parts.usage = check_learning_memory(ir, parts.usage, parts.unit_core, profile)
    if rates is not None and rates.size != ir.n_units:   # splitters relay their units' rates
        rates = np.concatenate([rates, _splitter_rates(ir, graph, rates)])
    lap("partition")
    pairs = axon_pairs(graph, parts.unit_core, parts.n_cores)
    placement = place_pass(parts, graph, profile, strategy=place, seed=int(seed), rates=rates,
                           pairs=pairs)
    lap("place")
    routing = route_pass(parts, placement, graph, profile, pairs=pairs)
    del pairs  # as big as the routing: not kept through the tables pass
    lap("route")
    tables = build_core_tables(ir, graph, parts, routing)
    routing.release_derived()   # only the tables pass needed dest_axon (see Routing)
    lap("tables")
    options = {"hardware": profile.name, "partition": partition, "place": place,
               "seed": int(seed), "max_neurons_per_core": max_neurons_per_core,
               "rates_given": rates is not None, "timings_s": timings}
    log.info("compiled '%s' for %s: %d cores on %d chips (%s/%s) in %.2f s", ir.name,
             profile.name, parts.n_cores, int(np.unique(placement.core_chip).size), partition,
             place, sum(timings.values()))
    source = NetworkStamp(target) if isinstance(target, Network) else None
    return Executable(ir, profile, parts, placement, routing, tables, quantization, options, rates,
                      source)


def _splitter_rates(ir: NetworkIR, graph, rates: np.ndarray) -> np.ndarray:
    """A splitter spikes as often as the unit it relays."""
    relays = ir.populations[-1]
    source = np.full(relays.size, -1, dtype=np.int64)
    for proj in ir.projections:
        if proj.post == relays.name:
            pre = ir.population(proj.pre)
            source[np.asarray(proj.targets, dtype=np.int64)] = pre.offset + proj.sources()
    return rates[source]
