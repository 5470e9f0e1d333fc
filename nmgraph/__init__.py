"""nmgraph: declarative spiking networks, mapped onto neuromorphic cores and run bit-exactly."""

from nmgraph import errors as errors  # nm.errors, the error classes
from nmgraph._version import __version__
from nmgraph.compilers.pipeline import compile_network as compile
from nmgraph.core.errors import (
    AdjustmentWarning,
    FileFormatError,
    MappingError,
    NmgraphError,
    NmgraphWarning,
    PortError,
    QuantizationWarning,
    SimulationError,
    ValidationError,
    WorkerError,
)
from nmgraph.core.hierarchy import Hierarchical
from nmgraph.core.io import load_network as load
from nmgraph.core.learning import LearningRule
from nmgraph.core.models import (
    FieldSet,
    NeuronModel,
    SourceModel,
    fixed,
    implements,
)
from nmgraph.core.network import Connection, Network
from nmgraph.core.ports import InPort, OutPort
from nmgraph.core.process import Process, Var
from nmgraph.core.weights import QuantizedWeights, quantize_weights
from nmgraph.tools.nir_export import to_nir
from nmgraph.tools.nir_import import from_nir
from nmgraph.tools.runtime import Runtime

__all__ = [
    "AdjustmentWarning",
    "Connection",
    "FieldSet",
    "FileFormatError",
    "Hierarchical",
    "InPort",
    "LearningRule",
    "MappingError",
    "Network",
    "NeuronModel",
    "NmgraphError",
    "NmgraphWarning",
    "OutPort",
    "PortError",
    "Process",
    "QuantizationWarning",
    "QuantizedWeights",
    "Runtime",
    "SimulationError",
    "SourceModel",
    "ValidationError",
    "Var",
    "WorkerError",
    "__version__",
    "compile",
    "fixed",
    "from_nir",
    "implements",
    "load",
    "quantize_weights",
    "to_nir",
]


def __getattr__(name: str):
    """``nm.plot`` (nmgraph.plot): imported on first use, so ``import nmgraph`` needs no matplotlib."""
    if name == "plot":
        import importlib

        return importlib.import_module("nmgraph.plot")
    raise AttributeError(f"module 'nmgraph' has no attribute {name!r}")
