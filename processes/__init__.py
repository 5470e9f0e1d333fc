"""The standard process library: neurons, synapse blocks, spike sources and connectors."""

from nmgraph.processes.base import NeuronProcess, PopulationProcess, SourceProcess, SynapseProcess
from nmgraph.processes.connectors import fixed_indegree, fixed_probability, one_to_one
from nmgraph.processes.neurons import ALIF, IF, LIF, LIFRefractory
from nmgraph.processes.sources import PoissonSource, SpikeGenerator
from nmgraph.processes.synapses import Dense, Sparse

__all__ = [
    "ALIF",
    "IF",
    "LIF",
    "Dense",
    "LIFRefractory",
    "NeuronProcess",
    "PoissonSource",
    "PopulationProcess",
    "SourceProcess",
    "Sparse",
    "SpikeGenerator",
    "SynapseProcess",
    "fixed_indegree",
    "fixed_probability",
    "one_to_one",
]
