"""Reading NIR graphs for :func:`nmgraph.from_nir`: loading, flattening nested graphs, shapes,
and the float linear operators of NIR's weight nodes.

NIR (the Neuromorphic Intermediate Representation, PyPI ``nir``) describes a network as a graph
of nodes joined by edges that carry values instantaneously within a time step. This module turns
a (possibly nested) ``nir.NIRGraph`` into one flat graph whose node keys are dotted paths
(``"rsyn.lif"`` for node ``lif`` of sub-graph ``rsyn``), infers every node's input and output
shape, and builds the float matrix of every linear node. It knows nothing of fixed point: that is
:mod:`nmgraph.tools.nir_import`.

Every problem with a file is a :class:`~nmgraph.FileFormatError` that names the node.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from nmgraph.core.errors import FileFormatError
from nmgraph.processes.conv import conv_output_shape, conv_synapses, same_padding

__all__ = [
    "LINEAR_TYPES",
    "READOUT_TYPES",
    "SPIKING_TYPES",
    "WEIGHT_TYPES",
    "FlatGraph",
    "FlatNode",
    "conv_geometry",
    "flatten_graph",
    "linear_matrix",
    "load_graph",
    "require_nir",
]

#: Neuron nodes whose output is spikes.
SPIKING_TYPES = frozenset({"LIF", "CubaLIF", "IF", "Threshold"})
#: Neuron nodes whose output is their voltage (nmgraph can only read it out).
READOUT_TYPES = frozenset({"LI", "CubaLI", "I"})
#: Linear nodes that mix elements (a weight matrix, a convolution, a pooling).
WEIGHT_TYPES = frozenset({"Affine", "Linear", "Conv1d", "Conv2d", "SumPool2d", "AvgPool2d"})
#: Every linear node: the weight nodes, element-wise ones and shape-only ones ("Pass" stands for
#: the Input and Output nodes of a nested graph, which pass values through).
LINEAR_TYPES = WEIGHT_TYPES | frozenset({"Scale", "Delay", "Flatten", "Pass"})
_KNOWN = SPIKING_TYPES | READOUT_TYPES | LINEAR_TYPES | frozenset({"Input", "Output", "NIRGraph"})


def require_nir() -> Any:
    """The ``nir`` package, or an ImportError that says how to install it."""
    try:
        import nir
    except ImportError as error:  # pragma: no cover - the test extra installs it
        raise ImportError("NIR import and export need the 'nir' package: "
                          "pip install 'nmgraph[nir]' (or pip install nir)") from error
    return nir


def load_graph(graph_or_path: Any) -> tuple[Any, str]:
    """``(nir.NIRGraph, label)`` from a graph or a ``.nir`` file (read with type checking off,
    so that files whose types NIR cannot infer, such as old ones, still load; nmgraph checks the
    shapes itself).

    A file is walked with h5py first, so that an unknown node type, a node without a type or
    a node that lacks a required field is reported by its name (nir's own reader fails with
    an assertion or a ``TypeError`` that names neither).
    """
    nir = require_nir()
    if isinstance(graph_or_path, (str, Path)):
        path = Path(graph_or_path)
        if not path.is_file():
            raise FileFormatError(f"{path}: no such NIR file")
        _check_file(nir, path)
        try:
            graph = nir.read(path, type_check=False)
        except Exception as error:  # h5py and nir raise many kinds; name the file and node
            where = _diagnose_file(nir, path)
            raise FileFormatError(f"{path}: not a NIR file nir {nir.version} can read "
                                  f"({where or f'{type(error).__name__}: {error}'})") from error
        label = str(path)
    else:
        graph, label = graph_or_path, "NIR graph"
    if not isinstance(graph, nir.NIRGraph):
        raise FileFormatError(f"{label}: expected a nir.NIRGraph, got {type(graph).__name__}")
    if not graph.nodes:
        raise FileFormatError(f"{label}: the graph has no nodes")
    return graph, label


def _check_file(nir: Any, path: Path) -> None:
    """Walk the HDF5 file: a ``node`` group with ``nodes`` and ``edges``, and every node with a
    ``type`` that nmgraph maps (recursively through nested graphs)."""
    try:
        import h5py
    except ImportError:  # pragma: no cover - nir depends on h5py
        return
    try:
        handle = h5py.File(path, "r")
    except Exception as error:
        raise FileFormatError(f"{path}: not a NIR file (not HDF5: {type(error).__name__}: "
                              f"{error})") from error
    with handle as f:
        if "node" not in f or not isinstance(f["node"], h5py.Group):
            raise FileFormatError(f"{path}: no 'node' group: not a NIR file")

        def walk(group: Any, key: str) -> None:
            for field in ("nodes", "edges"):
                if field not in group:
                    raise FileFormatError(f"{path}: graph '{key or '<root>'}' has no "
                                          f"'{field}' entry")
            for name, node in group["nodes"].items():
                child = f"{key}.{name}" if key else name
                if not isinstance(node, h5py.Group) or "type" not in node:
                    raise FileFormatError(f"{path}: node '{child}' has no 'type'")
                kind = _text(node["type"][()])
                if kind not in _KNOWN or kind == "Pass":
                    raise FileFormatError(f"{path}: node '{child}' is a {kind}, which nmgraph "
                                          f"does not support (known: "
                                          f"{', '.join(sorted(_KNOWN - {'Pass'}))})")
                if kind == "NIRGraph":
                    walk(node, child)

        walk(f["node"], "")


def _diagnose_file(nir: Any, path: Path) -> str | None:
    """The first node nir cannot build from the file, with nir's reason, or None."""
    try:
        import h5py
        from nir.serialization import hdf2dict

        with h5py.File(path, "r") as f:
            root = hdf2dict(f["node"])
    except Exception:
        return None

    def walk(data: dict, key: str) -> str | None:
        for name, node in (data.get("nodes") or {}).items():
            child = f"{key}.{name}" if key else name
            if not isinstance(node, dict):
                return f"node '{child}' is not a group"
            if node.get("type") == "NIRGraph":
                found = walk(node, child)
                if found:
                    return found
                continue
            try:
                nir.dict2NIRNode(dict(node))
            except Exception as error:
                return f"node '{child}' ({node.get('type')}): {type(error).__name__}: {error}"
        return None

    return walk(root, "")


@dataclass(eq=False)
class FlatNode:
    """One node of the flattened graph.

    ``key`` is the dotted path, ``group`` the sub-graphs it sits in (``("rsyn",)``), ``local``
    its name inside that sub-graph, ``type`` the NIR class name (``"Pass"`` for the Input and
    Output nodes of nested graphs that values flow through; a nested Input that nothing feeds
    is a graph ``"Input"``). ``declared_out`` is an Output node's declared shape.
    """

    key: str
    group: tuple[str, ...]
    local: str
    type: str
    node: Any
    in_shape: tuple[int, ...] | None = None
    out_shape: tuple[int, ...] | None = None
    declared_out: tuple[int, ...] | None = None

    def label(self) -> str:
        return f"{self.type} node '{self.key}'"


@dataclass
class FlatGraph:
    """Nodes by key (in file order), edges, predecessors and successors.

    ``notes`` records what the reading decided (a batch dimension dropped, an Input added),
    ``batch`` is the number of leading batch dimensions found in the Input shapes (0 or 1).
    """

    nodes: dict[str, FlatNode]
    edges: list[tuple[str, str]]
    groups: list[tuple[str, ...]]
    label: str
    notes: list[str] = field(default_factory=list)
    batch: int = 0

    def __post_init__(self) -> None:
        self.relink()

    def relink(self) -> None:
        """Recompute predecessors and successors from ``edges``."""
        self.preds: dict[str, list[str]] = {key: [] for key in self.nodes}
        self.succs: dict[str, list[str]] = {key: [] for key in self.nodes}
        for a, b in self.edges:
            self.preds[b].append(a)
            self.succs[a].append(b)


def flatten_graph(graph: Any, label: str) -> FlatGraph:
    """Flatten nested graphs into dotted keys and resolve edges that name a sub-graph (its one
    Input or Output node) or a node inside one (``"rsyn.input"``, ``"rsyn.lif"``).

    Then, as nir's own type inference does: a nested Input that nothing feeds is an input of
    the whole graph, unless edges enter its sub-graph elsewhere (then it is unused and
    dropped); a linear node that nothing feeds gets an Input node (``input_<name>``) of its
    declared input shape. A loop of linear nodes without a neuron is refused.
    """
    nir = require_nir()
    nodes: dict[str, FlatNode] = {}
    edges: list[tuple[str, str]] = []
    groups: list[tuple[str, ...]] = []

    def resolve(g: Any, prefix: tuple[str, ...], name: str, role: str) -> str:
        if name in g.nodes:
            node = g.nodes[name]
            if isinstance(node, nir.NIRGraph):
                wanted = nir.Output if role == "source" else nir.Input
                ends = [k for k, n in node.nodes.items() if isinstance(n, wanted)]
                if len(ends) != 1:
                    what = "Output" if role == "source" else "Input"
                    raise FileFormatError(f"{label}: NIRGraph node '{_join((*prefix, name))}' "
                                          f"is the {role} of an edge but has {len(ends)} {what} "
                                          f"nodes; name one of them ('{name}.<{what.lower()}>')")
                return _join((*prefix, name, ends[0]))
            return _join((*prefix, name))
        head, _, rest = name.partition(".")
        if rest and head in g.nodes and isinstance(g.nodes[head], nir.NIRGraph):
            return resolve(g.nodes[head], (*prefix, head), rest, role)
        raise FileFormatError(f"{label}: an edge names node '{_join((*prefix, name))}', which "
                              f"is not in the graph")

    def walk(g: Any, prefix: tuple[str, ...]) -> None:
        for name, node in g.nodes.items():
            key = _join((*prefix, name))
            kind = type(node).__name__
            if kind not in _KNOWN or kind == "Pass":
                raise FileFormatError(f"{label}: node '{key}' is a {kind}, which nmgraph does "
                                      f"not support (known: "
                                      f"{', '.join(sorted(_KNOWN - {'Pass'}))})")
            if isinstance(node, nir.NIRGraph):
                groups.append((*prefix, name))
                walk(node, (*prefix, name))
                continue
            if prefix and kind in ("Input", "Output"):
                kind = "Pass"
            if key in nodes:
                raise FileFormatError(f"{label}: two nodes flatten to the key '{key}' (a node "
                                      f"name with dots clashes with a nested graph's node)")
            nodes[key] = FlatNode(key, prefix, str(name), kind, node)
        for raw in g.edges:
            if len(raw) != 2:
                raise FileFormatError(f"{label}: edge {raw!r} is not a (source, target) pair")
            a, b = (_text(part) for part in raw)
            edge = (resolve(g, prefix, a, "source"), resolve(g, prefix, b, "target"))
            if edge in edges:
                raise FileFormatError(f"{label}: edge {edge} is listed twice")
            edges.append(edge)

    walk(graph, ())
    flat = FlatGraph(nodes, edges, groups, label)
    _graph_inputs(flat, nir)
    _check_linear_loops(flat)
    _infer_shapes(flat)
    return flat


def _graph_inputs(flat: FlatGraph, nir: Any) -> None:
    """Nested Inputs that nothing feeds, and linear nodes that nothing feeds (see
    :func:`flatten_graph`)."""
    for fn in list(flat.nodes.values()):
        if fn.type != "Pass" or not isinstance(fn.node, nir.Input) or flat.preds[fn.key]:
            continue
        inside = fn.group
        entered = any(flat.nodes[a].group[:len(inside)] != inside and
                      flat.nodes[b].group[:len(inside)] == inside
                      for a, b in flat.edges)
        if entered:
            del flat.nodes[fn.key]
            flat.edges = [(a, b) for a, b in flat.edges if fn.key not in (a, b)]
            flat.notes.append(f"nested Input '{fn.key}' is unused (edges enter its sub-graph "
                              f"elsewhere) and was dropped")
        else:
            fn.type = "Input"
            flat.notes.append(f"nested Input '{fn.key}' is fed by nothing: it is an input of "
                              f"the graph")
    flat.relink()
    added = False
    for fn in list(flat.nodes.values()):
        if fn.type not in LINEAR_TYPES or fn.type == "Pass" or flat.preds[fn.key]:
            continue
        declared = _declared_in_shape(fn, flat.label)
        if declared is None:
            raise FileFormatError(f"{flat.label}: {fn.label()} has no input and no declared "
                                  f"input shape: add an Input node before it")
        local, k = f"input_{fn.local}", 0
        while _join((*fn.group, local)) in flat.nodes:
            local, k = f"input_{fn.local}_{k}", k + 1
        key = _join((*fn.group, local))
        flat.nodes[key] = FlatNode(key, fn.group, local, "Input",
                                   nir.Input(input_type=np.array(declared)))
        flat.edges.append((key, fn.key))
        flat.notes.append(f"{fn.label()} is fed by nothing: Input '{key}' of shape {declared} "
                          f"added before it (as nir's type inference does)")
        added = True
    if added:
        flat.nodes = {**{k: n for k, n in flat.nodes.items() if n.type == "Input"},
                      **{k: n for k, n in flat.nodes.items() if n.type != "Input"}}
        flat.relink()


def _check_linear_loops(flat: FlatGraph) -> None:
    """Refuse a cycle made of linear nodes only (nothing to map it to), wherever it is."""
    linear = {k for k, n in flat.nodes.items() if n.type in LINEAR_TYPES}
    state: dict[str, int] = {}

    for start in linear:
        if start in state:
            continue
        stack = [(start, iter(flat.succs[start]))]
        trail = [start]
        state[start] = 1
        while stack:
            node, succs = stack[-1]
            nxt = next((s for s in succs if s in linear), None)
            if nxt is None:
                state[node] = 2
                stack.pop()
                trail.pop()
                continue
            if state.get(nxt) == 1:
                loop = " -> ".join([*trail[trail.index(nxt):], nxt])
                raise FileFormatError(f"{flat.label}: recurrent edge through linear nodes only "
                                      f"({loop}): a loop needs a neuron node to be mapped")
            if nxt not in state:
                state[nxt] = 1
                trail.append(nxt)
                stack.append((nxt, iter(flat.succs[nxt])))


def _join(parts: tuple[str, ...]) -> str:
    return ".".join(parts)


def _text(value: Any) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


# -- parameters ------------------------------------------------------------------------------------

#: The parameters of each neuron node (all required by nir 1.0.8 except ``w_in`` and
#: ``v_reset``, which default to 1 and 0).
NEURON_PARAMETERS = {"LIF": ("tau", "r", "v_leak", "v_threshold"),
                     "CubaLIF": ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold"),
                     "IF": ("r", "v_threshold"), "LI": ("tau", "r", "v_leak"),
                     "CubaLI": ("tau_syn", "tau_mem", "r", "v_leak"), "I": ("r",),
                     "Threshold": ("threshold",)}


def param(flat_node: FlatNode, name: str, *, shape: tuple[int, ...] | None = None,
          default: Any = None) -> np.ndarray:
    """A node's float parameter as an array (broadcast to ``shape`` when given: a parameter of
    one value applies to every element), checked numeric and, except time constants (which
    may be ``inf``), finite."""
    value = getattr(flat_node.node, name, None)
    if value is None:
        if default is None:
            raise FileFormatError(f"{flat_node.label()}: has no '{name}'")
        value = default
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise FileFormatError(f"{flat_node.label()}: '{name}' is not numeric "
                              f"({type(value).__name__})") from None
    if np.any(np.isnan(array)):
        raise FileFormatError(f"{flat_node.label()}: '{name}' has NaN values")
    if not np.all(np.isfinite(array)) and name not in ("tau", "tau_mem", "tau_syn"):
        raise FileFormatError(f"{flat_node.label()}: '{name}' has non-finite values")
    if shape is not None:
        if array.size == 1:
            array = np.full(shape, float(array.reshape(-1)[0]))
        elif array.size == math.prod(shape):
            array = array.reshape(shape)
        else:
            raise FileFormatError(f"{flat_node.label()}: '{name}' has shape {array.shape}, the "
                                  f"node's neurons have shape {shape}")
    return array


def neuron_shape(flat_node: FlatNode) -> tuple[int, ...] | None:
    """The shape a neuron node's parameters declare, or None when every parameter has one
    value (snnTorch's ``Leaky(beta=0.9)``, Sinabs's float ``tau_mem``, Norse's defaults):
    such a parameter applies to every neuron and the shape comes from the incoming edge.
    Parameters of one value may be mixed with parameters of ``n`` values; those must agree."""
    names = NEURON_PARAMETERS[flat_node.type]
    shapes: dict[str, tuple[int, ...]] = {}
    for name in names:
        value = getattr(flat_node.node, name, None)
        if value is None:
            raise FileFormatError(f"{flat_node.label()}: has no '{name}' (required)")
        shapes[name] = tuple(int(n) for n in np.shape(value))
    full = {name: shape for name, shape in shapes.items() if math.prod(shape) != 1}
    if not full:
        return None
    first_name, first = next(iter(full.items()))
    for name, shape in full.items():
        if math.prod(shape) != math.prod(first):
            raise FileFormatError(f"{flat_node.label()}: parameters of different sizes "
                                  f"({first_name} {first}, {name} {shape}); each must have "
                                  f"one value or one per neuron")
    return first


def _ints(flat_node: FlatNode, name: str, value: Any, n: int, *, low: int) -> tuple[int, ...]:
    if value is None:
        raise FileFormatError(f"{flat_node.label()}: has no '{name}'")
    try:
        array = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise FileFormatError(f"{flat_node.label()}: '{name}' must be an int or {n} ints "
                              f"(got {value!r})") from None
    if array.size == 1:
        array = np.repeat(array, n)
    if array.size != n or not np.all(np.isfinite(array)) or \
            not np.all(np.equal(np.mod(array, 1), 0)):
        raise FileFormatError(f"{flat_node.label()}: '{name}' must be an int or {n} ints "
                              f"(got {value!r})")
    if np.any(array < low):
        raise FileFormatError(f"{flat_node.label()}: '{name}' must be >= {low} "
                              f"(got {tuple(int(v) for v in array)})")
    return tuple(int(v) for v in array)


def conv_geometry(flat_node: FlatNode) -> dict[str, Any]:
    """Kernel, stride, padding ((before, after) per axis), dilation and groups of a Conv1d,
    Conv2d, SumPool2d or AvgPool2d node, from its input shape (kernel, stride, dilation and
    groups >= 1, padding >= 0)."""
    node, kind = flat_node.node, flat_node.type
    if kind in ("SumPool2d", "AvgPool2d"):
        kernel = _ints(flat_node, "kernel_size", node.kernel_size, 2, low=1)
        stride = _ints(flat_node, "stride", node.stride, 2, low=1)
        padding = _ints(flat_node, "padding", node.padding, 2, low=0)
        return {"kernel": kernel, "stride": stride, "pads": tuple((p, p) for p in padding),
                "dilation": (1, 1), "groups": None, "padding_arg": padding}
    weight = conv_weight(flat_node)
    n = weight.ndim - 2
    kernel = tuple(int(k) for k in weight.shape[2:])
    if min(kernel, default=0) < 1:
        raise FileFormatError(f"{flat_node.label()}: empty kernel (weight {weight.shape})")
    stride = _ints(flat_node, "stride", node.stride, n, low=1)
    dilation = _ints(flat_node, "dilation", node.dilation, n, low=1)
    groups = _ints(flat_node, "groups", node.groups, 1, low=1)[0]
    padding = node.padding
    if isinstance(padding, bytes):
        padding = padding.decode("utf8")
    if isinstance(padding, np.ndarray) and padding.dtype.kind in "SUO":
        padding = _text(padding.reshape(-1)[0])
    if isinstance(padding, str):
        if padding == "valid":
            pads = ((0, 0),) * n
        elif padding == "same":
            if max(stride) > 1:
                raise FileFormatError(f"{flat_node.label()}: padding 'same' with stride "
                                      f"{stride} (PyTorch refuses it; give the padding)")
            pads = same_padding(kernel, dilation)
        else:
            raise FileFormatError(f"{flat_node.label()}: padding {padding!r} (expected 'same', "
                                  f"'valid' or ints)")
    else:
        pads = tuple((p, p) for p in _ints(flat_node, "padding", padding, n, low=0))
    return {"kernel": kernel, "stride": stride, "pads": pads, "dilation": dilation,
            "groups": groups, "padding_arg": padding if isinstance(padding, str) else
            tuple(p for p, _ in pads)}


def conv_weight(flat_node: FlatNode) -> np.ndarray:
    """A convolution's weight, checked finite and of rank 3 (Conv1d) or 4 (Conv2d)."""
    weight = param(flat_node, "weight")
    n = 1 if flat_node.type == "Conv1d" else 2
    if weight.ndim != n + 2:
        raise FileFormatError(f"{flat_node.label()}: weight has shape {weight.shape}; a "
                              f"{flat_node.type} needs (C_out, C_in / groups, "
                              f"{'k' if n == 1 else 'kH, kW'})")
    return weight


def dense_weight(flat_node: FlatNode) -> np.ndarray:
    """An Affine's or Linear's weight, checked finite and 2-D ``(out, in)``."""
    weight = param(flat_node, "weight")
    if weight.ndim != 2:
        raise FileFormatError(f"{flat_node.label()}: weight of shape {weight.shape}; nmgraph "
                              f"maps 2-D weights (out, in)")
    return weight


# -- shapes ----------------------------------------------------------------------------------------

def _shape_value(fn: FlatNode, value: Any, what: str, label: str) -> tuple[int, ...] | None:
    """A declared shape as ints, None when absent or a placeholder (a dimension <= 0, as
    Sinabs's ``Flatten(input_type={"input": [0, 0, 0, 0]})``)."""
    if value is None:
        return None
    try:
        array = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise FileFormatError(f"{label}: {fn.label()}: {what} {value!r} is not a shape") from None
    if array.size == 0:
        return None
    if not np.all(np.isfinite(array)) or not np.all(np.mod(array, 1) == 0):
        raise FileFormatError(f"{label}: {fn.label()}: {what} {tuple(array.tolist())} is not "
                              f"a shape of integers")
    if np.any(array <= 0):
        return None
    return tuple(int(v) for v in array)


def _type_entry(types: Any, name: str) -> Any:
    return types.get(name) if isinstance(types, dict) else None


def _flatten_declared_rank(fn: FlatNode) -> int | None:
    """The rank of a Flatten's declared input type (placeholders included), or None."""
    declared = _type_entry(fn.node.input_type, "input")
    if declared is None:
        return None
    rank = np.asarray(declared).size
    return int(rank) if rank else None


def _flatten_dims(flat: FlatGraph, fn: FlatNode, ndim: int) -> tuple[int, int]:
    """A Flatten's ``(start, end)`` as indices into its (unbatched) input of rank ``ndim``.

    nirtorch writes PyTorch's dims, relative to a batched tensor (``nn.Flatten``'s default
    ``start_dim=1``): when the declared input type has one dimension more than the input
    nmgraph infers, or the graph's Inputs had a batch dimension and no input type is declared,
    non-negative dims are shifted down by one."""
    node = fn.node
    dims = []
    for name in ("start_dim", "end_dim"):
        value = getattr(node, name, None)
        if isinstance(value, np.ndarray) and value.size == 1:
            value = value.reshape(-1)[0]
        if value is None or isinstance(value, (bool, np.bool_)) or \
                not isinstance(value, (int, np.integer, float, np.floating)) or \
                not float(value).is_integer():
            raise FileFormatError(f"{flat.label}: {fn.label()}: '{name}' must be an int "
                                  f"(got {value!r})")
        dims.append(int(value))
    rank = _flatten_declared_rank(fn)
    shift = 1 if (rank == ndim + 1 or (rank is None and flat.batch)) else 0
    out = []
    for name, dim in zip(("start_dim", "end_dim"), dims):
        if dim >= 0:
            dim = max(dim - shift, 0)
        if not -ndim <= dim < ndim:
            raise FileFormatError(f"{flat.label}: {fn.label()}: {name} {dims[len(out)]} is out "
                                  f"of range for an input of {ndim} dimensions")
        out.append(dim % ndim)
    if out[0] > out[1]:
        raise FileFormatError(f"{flat.label}: {fn.label()}: start_dim {dims[0]} is after "
                              f"end_dim {dims[1]} for an input of {ndim} dimensions")
    return out[0], out[1]


def _output_shape(flat: FlatGraph, fn: FlatNode, in_shape: tuple[int, ...]) -> tuple[int, ...]:
    kind = fn.type
    if kind in ("Pass", "Output") or kind in SPIKING_TYPES or kind in READOUT_TYPES:
        return in_shape
    if kind in ("Scale", "Delay"):
        return in_shape
    if kind in ("Affine", "Linear"):
        return (int(dense_weight(fn).shape[0]),)
    if kind == "Flatten":
        start, end = _flatten_dims(flat, fn, len(in_shape))
        return (*in_shape[:start], math.prod(in_shape[start:end + 1]), *in_shape[end + 1:])
    geometry = conv_geometry(fn)
    spatial = len(geometry["kernel"])
    if len(in_shape) != spatial + 1:
        raise FileFormatError(f"{flat.label}: {fn.label()}: input of shape {in_shape}; a {kind} "
                              f"needs (C, {'L' if spatial == 1 else 'H, W'})")
    if kind in ("Conv1d", "Conv2d"):
        weight = conv_weight(fn)
        groups = geometry["groups"]
        if in_shape[0] != weight.shape[1] * groups or weight.shape[0] % groups:
            raise FileFormatError(f"{flat.label}: {fn.label()}: {in_shape[0]} input channels "
                                  f"but weight {weight.shape} with groups {groups} needs "
                                  f"{weight.shape[1] * groups} (and C_out a multiple of groups)")
        channels = int(weight.shape[0])
    else:
        channels = in_shape[0]
    out = conv_output_shape(in_shape[1:], geometry["kernel"], geometry["stride"],
                            geometry["pads"], geometry["dilation"])
    if min(out) < 1:
        raise FileFormatError(f"{flat.label}: {fn.label()}: input {in_shape} gives an empty "
                              f"output {out}")
    return (channels, *out)


def _declared_in_shape(fn: FlatNode, label: str = "NIR graph") -> tuple[int, ...] | None:
    """The input shape a node declares, or None (unknown, or a placeholder)."""
    kind, node = fn.type, fn.node
    if kind in SPIKING_TYPES or kind in READOUT_TYPES:
        return neuron_shape(fn)
    if kind in ("Scale", "Delay"):      # one value applies to every element
        shape = tuple(int(n) for n in np.shape(param(fn, kind.lower())))
        return shape if math.prod(shape) != 1 else None
    if kind in ("Affine", "Linear"):
        return (int(dense_weight(fn).shape[1]),)
    if kind in ("Conv1d", "Conv2d"):
        weight = conv_weight(fn)
        spatial = _shape_value(fn, getattr(node, "input_shape", None), "input_shape", label)
        if spatial is None:
            return None
        if len(spatial) != weight.ndim - 2:
            raise FileFormatError(f"{label}: {fn.label()}: input_shape {spatial} for a "
                                  f"{weight.ndim - 2}-D kernel")
        groups = _ints(fn, "groups", node.groups, 1, low=1)[0]
        return (int(weight.shape[1]) * groups, *spatial)
    if kind == "Flatten":
        return _shape_value(fn, _type_entry(node.input_type, "input"), "input_type", label)
    if kind == "Input" or (kind == "Pass" and type(node).__name__ == "Input"):
        return _shape_value(fn, _type_entry(node.input_type, "input"), "input_type", label)
    if kind in ("Output", "Pass"):
        return _shape_value(fn, _type_entry(node.output_type, "output"), "output_type", label)
    return None


def _consumer_vote(flat: FlatGraph, consumer: FlatNode, shape: tuple[int, ...],
                   declared: dict[str, tuple[int, ...] | None]) -> int | None:
    """How many leading dims of an Input's ``shape`` a consumer says are batch dims (0: none),
    or None when it says nothing."""
    kind = consumer.type
    if kind in ("Conv1d", "Conv2d", "SumPool2d", "AvgPool2d") and declared[consumer.key] is None:
        rank = (2 if kind == "Conv1d" else 3)
        return len(shape) - rank if len(shape) >= rank else None
    want = declared[consumer.key]
    if want is None:
        return None
    for k in range(len(shape)):
        if shape[k:] == want:
            return k
    return None


def _strip_batch(flat: FlatGraph, declared: dict[str, tuple[int, ...] | None]) -> None:
    """Drop the leading batch dims that nirtorch writes into Input shapes (``Input(np.array(
    sample.shape))``: ``[4, 784]``, ``[1, 1, 8, 8]``) when every consumer that declares a shape
    (or, for a convolution or pooling without ``input_shape``, a rank) agrees on them."""
    for fn in flat.nodes.values():
        shape = declared[fn.key]
        if fn.type != "Input" or shape is None or len(shape) < 2:
            continue
        votes = set()
        stack = list(flat.succs[fn.key])
        while stack:
            consumer = flat.nodes[stack.pop()]
            if consumer.type == "Pass" and declared[consumer.key] is None:
                stack.extend(flat.succs[consumer.key])
                continue
            vote = _consumer_vote(flat, consumer, shape, declared)
            if vote is not None:
                votes.add(vote)
        if len(votes) == 1 and (k := votes.pop()) > 0:
            declared[fn.key] = shape[k:]
            flat.batch = max(flat.batch, k)
            flat.notes.append(f"Input '{fn.key}': shape {shape} read as {shape[k:]}: the "
                              f"leading {shape[:k]} is a batch dimension (nirtorch writes the "
                              f"sample's shape)")


def _infer_shapes(flat: FlatGraph) -> None:
    """Propagate shapes from the inputs and the neurons until nothing changes; refuse edges
    whose shapes differ in size.

    A neuron node's shape is that of its input when known (its parameters may be single
    values, or carry a batch dimension of 1: ``(1, C, H, W)`` from Sinabs), else the one its
    parameters declare; a Flatten's declared input type only fixes how its dims count."""
    declared = {key: _declared_in_shape(fn, flat.label) for key, fn in flat.nodes.items()}
    _strip_batch(flat, declared)
    soft = {key for key, fn in flat.nodes.items()
            if fn.type in SPIKING_TYPES or fn.type in READOUT_TYPES or fn.type == "Flatten"}
    for fn in flat.nodes.values():
        shape = declared[fn.key]
        if fn.type == "Input":
            if shape is None:
                raise FileFormatError(f"{flat.label}: {fn.label()} has no shape (a shape of "
                                      f"positive integers is required)")
            fn.in_shape = fn.out_shape = shape
        elif fn.type == "Output":
            fn.declared_out = shape
        elif shape is not None and fn.key not in soft:
            fn.in_shape = shape
            fn.out_shape = _output_shape(flat, fn, shape)
    while True:
        changed = True
        while changed:
            changed = False
            for fn in flat.nodes.values():
                if fn.in_shape is not None or fn.type == "Input":
                    continue
                known = [flat.nodes[p].out_shape for p in flat.preds[fn.key]
                         if flat.nodes[p].out_shape is not None]
                if known:
                    fn.in_shape = _soft_shape(fn, known[0], declared[fn.key])
                    fn.out_shape = _output_shape(flat, fn, fn.in_shape)
                    changed = True
        # a neuron reached only through itself (a loop): its declared shape starts it
        stuck = [fn for fn in flat.nodes.values() if fn.in_shape is None and
                 fn.key in soft and fn.type != "Flatten" and declared[fn.key] is not None]
        if not stuck:
            break
        stuck[0].in_shape = stuck[0].out_shape = declared[stuck[0].key]
    for fn in flat.nodes.values():
        if fn.in_shape is None and fn.type != "Input":
            if fn.type == "Output" and fn.declared_out is not None and not flat.preds[fn.key]:
                fn.in_shape = fn.out_shape = fn.declared_out
                continue
            raise FileFormatError(f"{flat.label}: {fn.label()}: its shape cannot be inferred "
                                  f"(no input reaches it with a known shape)")
        for pred in flat.preds[fn.key]:
            pfn = flat.nodes[pred]
            out = pfn.out_shape
            if out is None or math.prod(out) != math.prod(fn.in_shape):
                hint = ""
                if pfn.type == "Input" and out is not None and len(out) > 1:
                    hint = (f"; the Input's shape {out} looks like it includes a batch "
                            f"dimension of {out[0]}: give its shape without it")
                raise FileFormatError(f"{flat.label}: edge '{pred}' -> '{fn.key}': shapes do not "
                                      f"match ({pfn.type} output {out}, "
                                      f"{fn.type} input {fn.in_shape}){hint}")
        if fn.type == "Flatten" and declared[fn.key] is not None and \
                len(declared[fn.key]) == len(fn.in_shape) and declared[fn.key] != fn.in_shape:
            raise FileFormatError(f"{flat.label}: {fn.label()}: declared input type "
                                  f"{declared[fn.key]} but receives {fn.in_shape}")
        if fn.type in ("Output", "Pass") and declared[fn.key] is not None and \
                math.prod(declared[fn.key]) != math.prod(fn.in_shape):
            shape = declared[fn.key]
            if len(shape) > 1 and math.prod(shape[1:]) == math.prod(fn.in_shape):
                flat.notes.append(f"{fn.label()}: declared shape {shape} read as "
                                  f"{fn.in_shape}: the leading {shape[0]} is a batch dimension")
                continue
            raise FileFormatError(f"{flat.label}: {fn.label()}: declared shape {shape} but "
                                  f"receives {fn.in_shape}")


def _soft_shape(fn: FlatNode, incoming: tuple[int, ...],
                declared: tuple[int, ...] | None) -> tuple[int, ...]:
    """The input shape of a node from the first known incoming shape: a neuron keeps the
    shape its parameters declare unless it is the incoming one with leading 1s (a batch
    dimension) or it declares none."""
    if fn.type not in SPIKING_TYPES and fn.type not in READOUT_TYPES:
        return incoming if fn.type in ("Flatten", "Output") or declared is None else declared
    if declared is None or declared == incoming:
        return incoming
    squeezed = declared
    while len(squeezed) > 1 and squeezed[0] == 1:
        squeezed = squeezed[1:]
        if squeezed == incoming:
            return incoming
    return declared     # a different arrangement (a reshape), or a mismatch reported later


# -- linear operators ------------------------------------------------------------------------------

def linear_matrix(fn: FlatNode) -> sp.csr_matrix:
    """The float matrix ``(n_out, n_in)`` of a linear node (identity for shape-only and Delay
    nodes; a diagonal for Scale; AvgPool2d is SumPool2d times ``1 / (kH kW)``). The bias of an
    Affine or a convolution is not part of it (see :func:`linear_bias`)."""
    kind = fn.type
    n_in, n_out = math.prod(fn.in_shape), math.prod(fn.out_shape)
    if kind in ("Pass", "Flatten", "Delay"):
        return sp.identity(n_in, dtype=np.float64, format="csr")
    if kind == "Scale":
        return sp.diags(param(fn, "scale", shape=fn.in_shape).reshape(-1), format="csr")
    if kind in ("Affine", "Linear"):
        return sp.csr_matrix(dense_weight(fn))
    geometry = conv_geometry(fn)
    if kind in ("SumPool2d", "AvgPool2d"):
        channels = fn.in_shape[0]
        kernel = np.ones((channels, 1, *geometry["kernel"]))
        if kind == "AvgPool2d":
            kernel /= math.prod(geometry["kernel"])
        groups = channels
    else:
        kernel = conv_weight(fn)
        groups = geometry["groups"]
    matrix = conv_matrix(kernel, fn.in_shape, fn.out_shape, geometry["stride"], geometry["pads"],
                         geometry["dilation"], groups)
    if matrix.shape != (n_out, n_in):  # pragma: no cover - shapes were checked
        raise FileFormatError(f"{fn.label()}: matrix {matrix.shape} for {n_out} x {n_in}")
    return matrix


def linear_bias(fn: FlatNode) -> np.ndarray | None:
    """The constant output an Affine or a convolution adds (flat), or None."""
    if fn.type == "Affine":
        bias = param(fn, "bias").reshape(-1)
        if bias.size == 1 and fn.out_shape[0] != 1:
            bias = np.full(fn.out_shape[0], bias[0])
        if bias.size != math.prod(fn.out_shape):
            raise FileFormatError(f"{fn.label()}: bias of {bias.size} values for "
                                  f"{fn.out_shape[0]} outputs")
        return bias if np.any(bias) else None
    if fn.type in ("Conv1d", "Conv2d") and getattr(fn.node, "bias", None) is not None:
        bias = param(fn, "bias").reshape(-1)
        channels = fn.out_shape[0]
        if bias.size == 1:
            bias = np.full(channels, bias[0])
        if bias.size != channels:
            raise FileFormatError(f"{fn.label()}: bias of {bias.size} values for {channels} "
                                  f"output channels")
        if not np.any(bias):
            return None
        return np.repeat(bias, math.prod(fn.out_shape[1:]))
    return None


def conv_matrix(kernel: np.ndarray, in_shape: tuple[int, ...], out_shape: tuple[int, ...],
                stride: tuple[int, ...], pads: tuple[tuple[int, int], ...],
                dilation: tuple[int, ...], groups: int) -> sp.csr_matrix:
    """The float matrix ``(output, input)`` of a (grouped) cross-correlation in PyTorch's layout
    (:func:`nmgraph.processes.conv.conv_synapses`, the same construction as ``Conv``'s)."""
    pre, post, values = conv_synapses(kernel, in_shape, out_shape, stride, pads, dilation,
                                      groups)
    n_out, n_in = math.prod(out_shape), math.prod(in_shape)
    return sp.coo_matrix((values, (post, pre)), shape=(n_out, n_in)).tocsr()
