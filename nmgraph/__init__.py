"""nmgraph: declarative spiking networks, mapped onto neuromorphic cores and run bit-exactly."""

from nmgraph.compilers.pipeline import compile_network as compile
from nmgraph.errors import (
    FileFormatError,
    MappingError,
    NmgraphError,
    PortError,
    SimulationError,
    ValidationError,
    WorkerError,
)
from nmgraph.hierarchy import Hierarchical
from nmgraph.core.models import (
    FieldSet,
    NeuronModel,
    SourceModel,
    fixed,
    implements,
)
from nmgraph.io import load_network as load
from nmgraph.network import Connection, Network
from nmgraph.ports import InPort, OutPort
from nmgraph.process import Process, Var
from nmgraph.runtime import Runtime

__version__ = "0.1.0"

__all__ = [
    "Connection",
    "FieldSet",
    "FileFormatError",
    "Hierarchical",
    "InPort",
    "MappingError",
    "Network",
    "NeuronModel",
    "NmgraphError",
    "OutPort",
    "PortError",
    "Process",
    "Runtime",
    "SimulationError",
    "SourceModel",
    "ValidationError",
    "Var",
    "WorkerError",
    "__version__",
    "compile",
    "fixed",
    "implements",
    "load",
]
