"""Splitter (relay) neurons for chips whose neurons reach one core only (TrueNorth).

On TrueNorth a neuron's spike goes to one axon of one core. A unit whose targets lie on several
cores therefore sends its spike to *splitter* neurons, one per destination core, gathered on one
splitter core; each splitter re-emits the spike to its destination core, one step later, as the
TrueNorth toolchain does. This pass rewrites a partitioned network that way:

* a population ``splitters`` (LIF relays: ``du = dv = 4095``, ``vth = 0``) gets one unit per
  (unit, destination core) pair of every unit with more than one destination core;
* the unit's synapses onto core ``c`` move to its splitter for ``c``, their delay shortened by one
  step where it is at least 2 (the relay's step is compensated) and kept at 1 otherwise (those
  synapses deliver one step later, which the report counts);
* each such unit gets one synapse of weight 1, delay 1 onto each of its splitters;
* the splitters of a unit share one core (so the unit reaches one core), packed in order onto new
  cores of at most the profile's neurons per core.

The relay is exact: with ``du = 4095`` the current is this step's input only (``u = a_in << 6``)
and with ``dv = 4095`` and a voltage reset to 0 after each spike the voltage is ``u``, so a relay
spikes at step ``t + 1`` exactly when its unit spiked at ``t`` (``64 > vth << 6 = 0``). The
rewritten network is what both backends run, so results stay bit-identical between them; where
every delay could be compensated its target neurons see their input at the same steps as in the
network without splitters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nmgraph.compilers.ir import NetworkIR, PopulationIR, ProjectionIR
from nmgraph.compilers.mapping_data import Partition
from nmgraph.compilers.synapse_graph import SynapseGraph, axon_pairs, build_synapse_graph
from nmgraph.core.errors import MappingError
from nmgraph.core.models import model_named

__all__ = ["SplitterStats", "insert_splitters"]

SPLITTER_POPULATION = "splitters"


@dataclass(frozen=True)
class SplitterStats:
    """What the splitters cost: relayed units, splitter neurons and cores, and the synapses
    whose delay could not be compensated (they deliver one step later)."""

    units: int
    neurons: int
    cores: int
    synapses_moved: int
    synapses_delayed: int

    def note(self, profile_name: str) -> str:
        late = (f"; {self.synapses_delayed:,} of their {self.synapses_moved:,} synapses had delay "
                "1 and deliver one step later" if self.synapses_delayed else
                f"; all {self.synapses_moved:,} of their synapses' delays compensated")
        return (f"{profile_name}: {self.neurons:,} splitter neurons on {self.cores:,} cores relay "
                f"the spikes of {self.units:,} units whose targets span several cores{late}")


def insert_splitters(ir: NetworkIR, graph: SynapseGraph, partition: Partition,
                     neurons_per_core: int) -> tuple[NetworkIR, SynapseGraph, np.ndarray,
                                                     list[str], SplitterStats | None]:
    """The network with splitters, its synapse graph, the unit -> core map (splitter cores
    appended) and the core kinds; ``None`` stats when no unit needs a splitter."""
    unit_core = np.asarray(partition.unit_core, dtype=np.int64)
    n_cores = partition.n_cores
    sources, cores = (a.astype(np.int64) for a in axon_pairs(graph, unit_core, n_cores))
    fanout = np.bincount(sources, minlength=ir.n_units)
    split = fanout > 1
    if not split.any():
        return ir, graph, unit_core, list(partition.core_kind), None
    widest = int(fanout.max())
    if widest > neurons_per_core:
        unit = int(np.argmax(fanout))
        raise MappingError(f"unit {unit} reaches {widest} cores: its splitters would not fit one "
                           f"core of {neurons_per_core} neurons; lower its fan-out")
    relayed = split[sources]
    relay_source, relay_core = sources[relayed], cores[relayed]   # by source, then core
    n_relays = int(relay_source.size)
    relay_key = relay_source * n_cores + relay_core               # sorted: searchsorted finds r
    name = SPLITTER_POPULATION
    while name in ir:
        name += "_"
    lif = model_named("lif")
    zeros = np.zeros(n_relays, dtype=np.int64)
    params = lif.Params.build(name, {"du": np.full(n_relays, 4095), "dv": np.full(n_relays, 4095),
                                     "vth": zeros, "bias_mant": zeros, "bias_exp": zeros}, n_relays)
    state = lif.State.build(name, {"u": zeros, "v": zeros}, n_relays)
    relays = PopulationIR(name, "Splitter", lif.name, (n_relays,), ir.n_units, params, state)

    projections, moved, delayed = [], 0, 0
    for proj in ir.projections:
        pre, post = ir.population(proj.pre), ir.population(proj.post)
        source = pre.offset + proj.sources()
        goes = split[source]
        if not goes.any():
            projections.append(proj)
            continue
        if proj.is_plastic or not proj.carries_input:
            raise MappingError(f"synapses '{proj.name}': plastic synapses (and their third-factor "
                               f"inputs) cannot be relayed through splitter neurons; on "
                               "this profile a source of them reaches more than one core")
        projections.append(_subset(proj, ~goes, proj.name))
        target = np.asarray(proj.targets, dtype=np.int64)[goes]
        relay = np.searchsorted(relay_key, source[goes] * n_cores
                                + unit_core[post.offset + target])
        delays = proj.delays[goes].astype(np.int64)
        delayed += int(np.count_nonzero(delays < 2))
        moved += int(target.size)
        projections.append(_csr(f"{proj.name}/split", name, proj.post, n_relays, proj.n_post,
                                relay, target, proj.weights[goes], np.maximum(delays - 1, 1),
                                proj.weight_exp, proj.num_weight_bits))
    for pop in ir.populations:   # each relayed unit drives its splitters
        mine = (relay_source >= pop.offset) & (relay_source < pop.stop)
        if mine.any():
            relay = np.flatnonzero(mine)
            projections.append(_csr(f"{name}/in/{pop.name}", pop.name, name, pop.size, n_relays,
                                    relay_source[mine] - pop.offset, relay,
                                    np.ones(relay.size, np.int16), np.ones(relay.size, np.int64),
                                    0, 8))
    new_ir = NetworkIR(ir.name, [*ir.populations, relays], projections, dt_ms=ir.dt_ms)

    # splitter cores: the splitters of one unit together, packed in order
    group_size = fanout[np.unique(relay_source)]
    group_core = np.zeros(group_size.size, dtype=np.int64)
    core, fill = n_cores, 0
    for g, size in enumerate(group_size.tolist()):
        if fill + size > neurons_per_core:
            core, fill = core + 1, 0
        group_core[g] = core
        fill += size
    relay_unit_core = np.repeat(group_core, group_size)
    new_unit_core = np.concatenate([unit_core, relay_unit_core])
    n_new = core + 1 - n_cores
    kinds = [*partition.core_kind, *["neuron"] * n_new]
    stats = SplitterStats(units=int(group_size.size), neurons=n_relays, cores=n_new,
                          synapses_moved=moved, synapses_delayed=delayed)
    return new_ir, build_synapse_graph(new_ir), new_unit_core, kinds, stats


def _subset(proj: ProjectionIR, keep: np.ndarray, name: str) -> ProjectionIR:
    indptr = np.zeros(proj.n_pre + 1, dtype=np.int64)
    np.cumsum(np.bincount(proj.sources()[keep], minlength=proj.n_pre), out=indptr[1:])
    return ProjectionIR(name=name, pre=proj.pre, post=proj.post, n_pre=proj.n_pre,
                        n_post=proj.n_post, indptr=indptr,
                        targets=np.ascontiguousarray(proj.targets[keep]),
                        weights=np.ascontiguousarray(proj.weights[keep]),
                        delays=np.ascontiguousarray(proj.delays[keep]),
                        weight_exp=proj.weight_exp, num_weight_bits=proj.num_weight_bits)


def _csr(name: str, pre: str, post: str, n_pre: int, n_post: int, rows: np.ndarray,
         targets: np.ndarray, weights: np.ndarray, delays: np.ndarray, weight_exp: int,
         num_weight_bits: int) -> ProjectionIR:
    order = np.lexsort((targets, rows))
    indptr = np.zeros(n_pre + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_pre), out=indptr[1:])
    return ProjectionIR(name=name, pre=pre, post=post, n_pre=n_pre, n_post=n_post, indptr=indptr,
                        targets=targets[order].astype(np.int32),
                        weights=np.asarray(weights)[order].astype(np.int16),
                        delays=np.asarray(delays)[order].astype(np.uint8),
                        weight_exp=weight_exp, num_weight_bits=num_weight_bits)
