"""The standard process library: neurons, leaky integrators, synapse blocks (fixed and plastic),
learning-rule presets, spike sources and connectors."""

from nmgraph.processes.base import NeuronProcess, PopulationProcess, SourceProcess, SynapseProcess
from nmgraph.processes.connectors import (
    all_to_all,
    distance_dependent,
    fixed_indegree,
    fixed_probability,
    from_list,
    grid_positions,
    one_to_one,
)
from nmgraph.processes.conv import Conv, SumPool2d
from nmgraph.processes.integrators import LI
from nmgraph.processes.learning_presets import STDP, RewardModulatedSTDP, STDPLoihi
from nmgraph.processes.learning_synapses import LearningDense, LearningSparse
from nmgraph.processes.neurons import ALIF, IF, LIF, LIFRefractory
from nmgraph.processes.sources import PoissonSource, SpikeGenerator
from nmgraph.processes.synapses import Dense, Sparse

__all__ = [
    "ALIF",
    "IF",
    "LI",
    "LIF",
    "STDP",
    "Conv",
    "Dense",
    "LIFRefractory",
    "LearningDense",
    "LearningSparse",
    "NeuronProcess",
    "PoissonSource",
    "PopulationProcess",
    "RewardModulatedSTDP",
    "STDPLoihi",
    "SourceProcess",
    "Sparse",
    "SpikeGenerator",
    "SumPool2d",
    "SynapseProcess",
    "all_to_all",
    "distance_dependent",
    "fixed_indegree",
    "fixed_probability",
    "from_list",
    "grid_positions",
    "one_to_one",
]
