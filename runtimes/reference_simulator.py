"""The reference simulator: NumPy, one process, written for clarity. It is the oracle.

It runs a :class:`~nmgraph.compilers.ir.NetworkIR`, each population by its model's NumPy ``step``
(the specification the Cython kernels match). Within step ``t`` (counted from 1): sources emit;
each neuron reads ``a_in(t)``, the sum of every synaptic input
that arrives at ``t``, updates and may spike; a spike sent at ``t`` through a synapse of delay ``d``
is added to the target's input for step ``t + d``. Inputs wait in one ring buffer per population
with ``max_delay + 1`` slots, summed in int64, so the order of arrival does not matter.
"""

from __future__ import annotations

import numpy as np

from nmgraph.compilers.ir import NetworkIR, PopulationIR, ProjectionIR
from nmgraph.core.models import checked_step, model_named
from nmgraph.runtimes.plastic_reference import PlasticProjection
from nmgraph.runtimes.results import Counters

__all__ = ["ReferenceSimulator"]


class ReferenceSimulator:
    """Steps a NetworkIR. State lives in ``self.state[pop]`` (the model's State dataclass);
    spikes are logged per step.

    Parameters
    ----------
    ir
        The network to run; it is not modified (state and parameters are copied).
    """

    def __init__(self, ir: NetworkIR) -> None:
        self.ir = ir
        self.t = 0
        self.ring_slots = ir.max_delay + 1
        self.models = {pop.name: model_named(pop.model) for pop in ir.populations}
        self.params = {pop.name: pop.params.copy() for pop in ir.populations}
        self.state = {pop.name: pop.state.copy() for pop in ir.populations}
        self.index = {pop.name: np.arange(pop.size, dtype=np.int64) for pop in ir.populations}
        self.inputs = {pop.name: np.zeros((self.ring_slots, pop.size), dtype=np.int64)
                       for pop in ir.populations if not self.models[pop.name].is_source}
        #: Fixed projections by source population (plastic ones deliver through ``plastic``).
        self.outgoing = {pop.name: [proj for proj in ir.projections_from(pop.name)
                                    if proj.carries_input and not proj.is_plastic]
                         for pop in ir.populations}
        #: The learning state of each plastic projection, by name.
        self.plastic = {proj.name: PlasticProjection(proj, [
            mod for mod in ir.projections if mod.modulates is not None and mod.name == proj.name])
            for proj in ir.projections if proj.is_plastic}
        self.counters = Counters(per_process={
            pop.name: {"spikes": 0, "synaptic_ops": 0, "neuron_updates": 0}
            for pop in ir.populations})
        for name in self.plastic:
            self.counters.per_process.setdefault(name, {})["synaptic_updates"] = 0
        #: Per population: list of (step, indices of the units that spiked).
        self.spike_log: dict[str, list[tuple[int, np.ndarray]]] = {
            pop.name: [] for pop in ir.populations}

    # -- one step --------------------------------------------------------------------------------
    def step(self) -> dict[str, np.ndarray]:
        """Advance one step; return the spike vector (bool) of every population."""
        t = self.t + 1
        spikes = {pop.name: self._update(pop, t) for pop in self.ir.populations}
        fired_by_pop = {}
        for pop in self.ir.populations:
            fired = np.flatnonzero(spikes[pop.name])
            fired_by_pop[pop.name] = fired
            self._count(pop, fired)
            if fired.size:
                self.spike_log[pop.name].append((t, fired))
                for proj in self.outgoing[pop.name]:
                    self._deliver(proj, fired, t)
        for name, plastic in self.plastic.items():
            proj = plastic.proj
            fired = fired_by_pop[proj.pre]
            if fired.size:
                reached = plastic.deliver(fired, t, self.inputs[proj.post])
                self.counters.synaptic_ops += reached
                self.counters.per_process[proj.pre]["synaptic_ops"] += reached
            for mod in plastic.modulators:   # third-factor spikes reach their synapses too
                reached = int(np.diff(mod.indptr)[fired_by_pop[mod.pre]].sum())
                self.counters.synaptic_ops += reached
                self.counters.per_process[mod.pre]["synaptic_ops"] += reached
            updates = plastic.end_step(t, spikes[proj.pre].reshape(-1).astype(bool),
                                       spikes[proj.post].reshape(-1).astype(bool),
                                       plastic.third_factor_spikes(fired_by_pop))
            self.counters.synaptic_updates += updates
            self.counters.per_process[name]["synaptic_updates"] += updates
        self.t = t
        self.counters.steps = t
        return spikes

    def _update(self, pop: PopulationIR, t: int) -> np.ndarray:
        model = self.models[pop.name]
        a_in = None
        if not model.is_source:
            slot = t % self.ring_slots
            a_in = self.inputs[pop.name][slot].copy()
            self.inputs[pop.name][slot] = 0
        params, state, index = self.params[pop.name], self.state[pop.name], self.index[pop.name]
        if model.kernel is None:   # a user's model: its contract is checked every step
            return checked_step(model, f"{pop.process_type} '{pop.name}'", state, params, a_in,
                                t, index)
        if model.is_source:
            return model.step(state, params, t=t, index=index)
        return model.step(state, params, a_in)

    def _deliver(self, proj: ProjectionIR, fired: np.ndarray, t: int) -> None:
        starts, stops = proj.indptr[fired], proj.indptr[fired + 1]
        counts = stops - starts
        total = int(counts.sum())
        if total == 0:
            return
        # Synapse ids of all firing sources, row after row (a vectorised concatenation of ranges).
        first_of_row = np.repeat(np.cumsum(counts) - counts, counts)
        synapses = np.repeat(starts, counts) + (np.arange(total) - first_of_row)
        slots = (t + proj.delays[synapses].astype(np.int64)) % self.ring_slots
        weights = proj.weights[synapses].astype(np.int64) << proj.weight_exp
        np.add.at(self.inputs[proj.post], (slots, proj.targets[synapses]), weights)
        self.counters.synaptic_ops += total
        self.counters.per_process[proj.pre]["synaptic_ops"] += total

    def _count(self, pop: PopulationIR, fired: np.ndarray) -> None:
        per = self.counters.per_process[pop.name]
        per["spikes"] += int(fired.size)
        self.counters.spikes += int(fired.size)
        if not self.models[pop.name].is_source:
            per["neuron_updates"] += pop.size
            self.counters.neuron_updates += pop.size
