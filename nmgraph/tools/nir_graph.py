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
from dataclasses import dataclass
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
    shapes itself)."""
    nir = require_nir()
    if isinstance(graph_or_path, (str, Path)):
        path = Path(graph_or_path)
        if not path.is_file():
            raise FileFormatError(f"{path}: no such NIR file")
        try:
            graph = nir.read(path, type_check=False)
        except Exception as error:  # h5py and nir raise many kinds; name the file
            raise FileFormatError(f"{path}: not a NIR file nir {nir.version} can read "
                                  f"({type(error).__name__}: {error})") from error
        label = str(path)
    else:
        graph, label = graph_or_path, "NIR graph"
    if not isinstance(graph, nir.NIRGraph):
        raise FileFormatError(f"{label}: expected a nir.NIRGraph, got {type(graph).__name__}")
    return graph, label


@dataclass(eq=False)
class FlatNode:
    """One node of the flattened graph.

    ``key`` is the dotted path, ``group`` the sub-graphs it sits in (``("rsyn",)``), ``local``
    its name inside that sub-graph, ``type`` the NIR class name (``"Pass"`` for the Input and
    Output nodes of nested graphs).
    """

    key: str
    group: tuple[str, ...]
    local: str
    type: str
    node: Any
    in_shape: tuple[int, ...] | None = None
    out_shape: tuple[int, ...] | None = None

    def label(self) -> str:
        return f"{self.type} node '{self.key}'"


@dataclass
class FlatGraph:
    """Nodes by key (in file order), edges, predecessors and successors."""

    nodes: dict[str, FlatNode]
    edges: list[tuple[str, str]]
    groups: list[tuple[str, ...]]
    label: str

    def __post_init__(self) -> None:
        self.preds: dict[str, list[str]] = {key: [] for key in self.nodes}
        self.succs: dict[str, list[str]] = {key: [] for key in self.nodes}
        for a, b in self.edges:
            self.preds[b].append(a)
            self.succs[a].append(b)


def flatten_graph(graph: Any, label: str) -> FlatGraph:
    """Flatten nested graphs into dotted keys and resolve edges that name a sub-graph (its one
    Input or Output node) or a node inside one (``"rsyn.input"``)."""
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
            if kind not in _KNOWN:
                raise FileFormatError(f"{label}: node '{key}' is a {kind}, which nmgraph does "
                                      f"not support (known: {', '.join(sorted(_KNOWN))})")
            if isinstance(node, nir.NIRGraph):
                groups.append((*prefix, name))
                walk(node, (*prefix, name))
                continue
            if prefix and kind in ("Input", "Output"):
                kind = "Pass"
            if key in nodes:
                raise FileFormatError(f"{label}: two nodes flatten to the key '{key}' (a node "
                                      f"name with dots clashes with a nested graph's node)")
            nodes[key] = FlatNode(key, prefix, name, kind, node)
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
    _infer_shapes(flat)
    return flat


def _join(parts: tuple[str, ...]) -> str:
    return ".".join(parts)


def _text(value: Any) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


# -- parameters ------------------------------------------------------------------------------------

def param(flat_node: FlatNode, name: str, *, shape: tuple[int, ...] | None = None,
          default: Any = None) -> np.ndarray:
    """A node's float parameter as an array (broadcast to ``shape`` when given), checked finite."""
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


def neuron_shape(flat_node: FlatNode) -> tuple[int, ...]:
    """The shape of a neuron node's parameters (all must agree)."""
    names = {"LIF": ("tau", "r", "v_leak", "v_threshold"),
             "CubaLIF": ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold"),
             "IF": ("r", "v_threshold"), "LI": ("tau", "r", "v_leak"),
             "CubaLI": ("tau_syn", "tau_mem", "r", "v_leak"), "I": ("r",),
             "Threshold": ("threshold",)}[flat_node.type]
    shapes = {name: np.shape(getattr(flat_node.node, name, None)) for name in names}
    first = shapes[names[0]]
    for name, shape in shapes.items():
        if shape != first:
            raise FileFormatError(f"{flat_node.label()}: parameters of different shapes "
                                  f"({names[0]} {first}, {name} {shape})")
    return tuple(int(n) for n in first) or (1,)


def _ints(flat_node: FlatNode, name: str, value: Any, n: int) -> tuple[int, ...]:
    array = np.asarray(value).reshape(-1)
    if array.size == 1:
        array = np.repeat(array, n)
    if array.size != n or not np.all(np.equal(np.mod(array.astype(np.float64), 1), 0)):
        raise FileFormatError(f"{flat_node.label()}: '{name}' must be an int or {n} ints "
                              f"(got {value!r})")
    return tuple(int(v) for v in array)


def conv_geometry(flat_node: FlatNode) -> dict[str, Any]:
    """Kernel, stride, padding ((before, after) per axis), dilation and groups of a Conv1d,
    Conv2d, SumPool2d or AvgPool2d node, from its input shape."""
    node, kind = flat_node.node, flat_node.type
    if kind in ("SumPool2d", "AvgPool2d"):
        kernel = _ints(flat_node, "kernel_size", node.kernel_size, 2)
        stride = _ints(flat_node, "stride", node.stride, 2)
        padding = _ints(flat_node, "padding", node.padding, 2)
        return {"kernel": kernel, "stride": stride, "pads": tuple((p, p) for p in padding),
                "dilation": (1, 1), "groups": None, "padding_arg": padding}
    weight = np.asarray(node.weight)
    n = weight.ndim - 2
    if n != (1 if kind == "Conv1d" else 2):
        raise FileFormatError(f"{flat_node.label()}: weight has shape {weight.shape}; a {kind} "
                              f"needs (C_out, C_in / groups, {'k' if n == 1 else 'kH, kW'})")
    kernel = tuple(int(k) for k in weight.shape[2:])
    stride = _ints(flat_node, "stride", node.stride, n)
    dilation = _ints(flat_node, "dilation", node.dilation, n)
    groups = _ints(flat_node, "groups", node.groups, 1)[0]
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
        pads = tuple((p, p) for p in _ints(flat_node, "padding", padding, n))
    if groups < 1:
        raise FileFormatError(f"{flat_node.label()}: groups must be >= 1 (got {groups})")
    return {"kernel": kernel, "stride": stride, "pads": pads, "dilation": dilation,
            "groups": groups, "padding_arg": padding if isinstance(padding, str) else
            tuple(p for p, _ in pads)}


# -- shapes ----------------------------------------------------------------------------------------

def _output_shape(flat: FlatGraph, fn: FlatNode, in_shape: tuple[int, ...]) -> tuple[int, ...]:
    kind, node = fn.type, fn.node
    if kind in ("Pass", "Output") or kind in SPIKING_TYPES or kind in READOUT_TYPES:
        return in_shape
    if kind in ("Scale", "Delay"):
        return in_shape
    if kind in ("Affine", "Linear"):
        weight = np.asarray(node.weight)
        if weight.ndim != 2:
            raise FileFormatError(f"{flat.label}: {fn.label()}: weight of shape {weight.shape}; "
                                  f"nmgraph maps 2-D weights (out, in)")
        return (int(weight.shape[0]),)
    if kind == "Flatten":
        start, end = int(node.start_dim), int(node.end_dim)
        ndim = len(in_shape)
        start, end = start % ndim if ndim else 0, end % ndim if ndim else 0
        if start > end:
            raise FileFormatError(f"{flat.label}: {fn.label()}: start_dim {node.start_dim} is "
                                  f"after end_dim {node.end_dim} for input shape {in_shape}")
        return (*in_shape[:start], math.prod(in_shape[start:end + 1]), *in_shape[end + 1:])
    geometry = conv_geometry(fn)
    spatial = len(geometry["kernel"])
    if len(in_shape) != spatial + 1:
        raise FileFormatError(f"{flat.label}: {fn.label()}: input of shape {in_shape}; a {kind} "
                              f"needs (C, {'L' if spatial == 1 else 'H, W'})")
    if kind in ("Conv1d", "Conv2d"):
        weight = np.asarray(node.weight)
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


def _declared_in_shape(fn: FlatNode) -> tuple[int, ...] | None:
    kind, node = fn.type, fn.node
    if kind in SPIKING_TYPES or kind in READOUT_TYPES:
        return neuron_shape(fn)
    if kind == "Scale":
        return tuple(int(n) for n in np.shape(node.scale)) or (1,)
    if kind == "Delay":
        return tuple(int(n) for n in np.shape(node.delay)) or (1,)
    if kind in ("Affine", "Linear"):
        weight = np.asarray(node.weight)
        return (int(weight.shape[-1]),) if weight.ndim >= 1 else None
    if kind in ("Conv1d", "Conv2d") and getattr(node, "input_shape", None) is not None:
        weight = np.asarray(node.weight)
        spatial = np.asarray(node.input_shape).reshape(-1)
        groups = int(np.asarray(node.groups).reshape(-1)[0])
        return (int(weight.shape[1]) * groups, *(int(n) for n in spatial))
    if kind == "Flatten":
        declared = node.input_type.get("input") if isinstance(node.input_type, dict) else None
        return None if declared is None else tuple(int(n) for n in np.asarray(declared).reshape(-1))
    if kind == "Input":
        declared = node.input_type.get("input")
        return None if declared is None else tuple(int(n) for n in np.asarray(declared).reshape(-1))
    if kind == "Output":
        declared = node.output_type.get("output") if isinstance(node.output_type, dict) else None
        return None if declared is None else tuple(int(n) for n in np.asarray(declared).reshape(-1))
    return None


def _infer_shapes(flat: FlatGraph) -> None:
    """Propagate shapes from the inputs and the neurons until nothing changes; refuse edges
    whose shapes differ in size."""
    for fn in flat.nodes.values():
        declared = _declared_in_shape(fn)
        if fn.type == "Input":
            if declared is None:
                raise FileFormatError(f"{flat.label}: {fn.label()} has no shape")
            fn.in_shape = fn.out_shape = declared
        elif fn.type == "Output":
            fn.out_shape = declared
        elif declared is not None:
            fn.in_shape = declared
            fn.out_shape = _output_shape(flat, fn, declared)
    changed = True
    while changed:
        changed = False
        for fn in flat.nodes.values():
            if fn.in_shape is not None or fn.type == "Input":
                continue
            known = [flat.nodes[p].out_shape for p in flat.preds[fn.key]
                     if flat.nodes[p].out_shape is not None]
            if known:
                fn.in_shape = known[0]
                fn.out_shape = _output_shape(flat, fn, known[0])
                changed = True
    for fn in flat.nodes.values():
        if fn.in_shape is None and fn.type != "Input":
            if fn.type == "Output" and fn.out_shape is not None and not flat.preds[fn.key]:
                fn.in_shape = fn.out_shape
                continue
            raise FileFormatError(f"{flat.label}: {fn.label()}: its shape cannot be inferred "
                                  f"(no input reaches it with a known shape)")
        for pred in flat.preds[fn.key]:
            out = flat.nodes[pred].out_shape
            if out is None or math.prod(out) != math.prod(fn.in_shape):
                raise FileFormatError(f"{flat.label}: edge '{pred}' -> '{fn.key}': shapes do not "
                                      f"match ({flat.nodes[pred].type} output {out}, "
                                      f"{fn.type} input {fn.in_shape})")
        if fn.type == "Output" and fn.out_shape is not None and \
                math.prod(fn.out_shape) != math.prod(fn.in_shape):
            raise FileFormatError(f"{flat.label}: {fn.label()}: declared shape {fn.out_shape} but "
                                  f"receives {fn.in_shape}")


# -- linear operators ------------------------------------------------------------------------------

def linear_matrix(fn: FlatNode) -> sp.csr_matrix:
    """The float matrix ``(n_out, n_in)`` of a linear node (identity for shape-only and Delay
    nodes; a diagonal for Scale; AvgPool2d is SumPool2d times ``1 / (kH kW)``). The bias of an
    Affine or a convolution is not part of it (see :func:`linear_bias`)."""
    kind, node = fn.type, fn.node
    n_in, n_out = math.prod(fn.in_shape), math.prod(fn.out_shape)
    if kind in ("Pass", "Flatten", "Delay"):
        return sp.identity(n_in, dtype=np.float64, format="csr")
    if kind == "Scale":
        return sp.diags(param(fn, "scale", shape=fn.in_shape).reshape(-1), format="csr")
    if kind in ("Affine", "Linear"):
        return sp.csr_matrix(np.asarray(node.weight, dtype=np.float64))
    geometry = conv_geometry(fn)
    if kind in ("SumPool2d", "AvgPool2d"):
        channels = fn.in_shape[0]
        kernel = np.ones((channels, 1, *geometry["kernel"]))
        if kind == "AvgPool2d":
            kernel /= math.prod(geometry["kernel"])
        groups = channels
    else:
        kernel = np.asarray(node.weight, dtype=np.float64)
        groups = geometry["groups"]
    matrix = conv_matrix(kernel, fn.in_shape, fn.out_shape, geometry["stride"], geometry["pads"],
                         geometry["dilation"], groups)
    assert matrix.shape == (n_out, n_in)
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
