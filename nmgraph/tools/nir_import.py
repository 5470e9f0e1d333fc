"""``nm.from_nir``: a NIR graph (or ``.nir`` file) as an nmgraph Network in Loihi's fixed point.

NIR nodes are continuous-time systems; nmgraph runs them with forward Euler at the step ``dt``
(seconds, required), as NIR's own reference does, so that a node with time constant ``tau``
multiplies its state by ``1 - dt / tau`` per step (snnTorch's ``beta``). With ``S`` the scale of
a neuron population (integers per unit of NIR voltage; ``v_int = 64 S v``), the mapping is:

==========  ===============================================================================
NIR         nmgraph
==========  ===============================================================================
LIF         ``LIF(du=4095, dv=round(4096 dt/tau))``; input gain ``g = dt r / tau``
CubaLIF     ``LIF(du=round(4096 dt/tau_syn) - 1, dv=round(4096 dt/tau_mem))``;
            ``g = (dt/tau_mem) r (dt/tau_syn) w_in``
IF          ``IF``; ``g = dt r``
Threshold   ``LIF(du=4095, dv=4095)``; ``g = 1``
LI, CubaLI  ``LI`` with LIF's / CubaLIF's decays (never spikes: its ``v`` is the readout)
I           ``LI(du=4095, dv=0)``; ``g = dt r``
Affine,     ``Dense`` (weights ``S g W``); a chain of several weight nodes between two neuron
Linear      nodes becomes one ``Sparse`` (the product of their matrices)
Conv1d/2d   ``Conv``
SumPool2d,  ``SumPool2d`` (AvgPool's ``1 / (kH kW)`` folded into its weight)
AvgPool2d
Scale       folded into the weights of its path
Delay       ``round(delay / dt)`` added to the synapse delays of its path
Flatten     a port view (``reshape``)
Input       a ``SpikeGenerator`` (the raster given in ``inputs=``, else silent)
Output      recorded in the report (which process and Var it reads)
NIRGraph    a ``Hierarchical`` whose children are the sub-graph's nodes
==========  ===============================================================================

Thresholds become ``vth = round(S v_threshold)``, ``v_leak`` and the biases of Affine and
convolution nodes become ``bias_mant << bias_exp = round(64 S b)`` with
``b = (dt / tau) v_leak + g x_bias`` per step, and weights ``w << weight_exp = round(S g W)``.

**Time between nodes.** NIR's edges are instantaneous; nmgraph's synapses take at least one step.
Every path from a spiking node (or an Input) through linear nodes to a neuron node becomes one
synapse block of delay ``1`` (plus its Delay nodes), so a spike of layer ``k`` at step ``t``
reaches layer ``k + 1`` at ``t + 1``: a network of ``L`` synapse layers answers ``L`` steps after
its input (``L - 1`` more than NIR's instantaneous graph). ``tests/nir_reference.py`` models the
same convention in float.

The full account (equations, the choice of ``S``, what is guaranteed) is in ``docs/nir.md``.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

import nmgraph.processes as procs
from nmgraph.core.errors import FileFormatError, QuantizationWarning, ValidationError
from nmgraph.core.hierarchy import Hierarchical
from nmgraph.core.markdown import table as md_table
from nmgraph.core.network import Network
from nmgraph.core.weights import quantize_weights
from nmgraph.processes.neurons import BIAS_EXP_MAX, BIAS_MANT_MAX, VTH_MAX
from nmgraph.tools.nir_graph import (
    READOUT_TYPES,
    SPIKING_TYPES,
    WEIGHT_TYPES,
    FlatGraph,
    FlatNode,
    conv_geometry,
    flatten_graph,
    linear_bias,
    linear_matrix,
    load_graph,
    param,
)

__all__ = ["NirImportReport", "NirQuantity", "from_nir"]

#: Named target formats for ``quantize=``: (weight magnitude bits, Loihi's sign bit).
QUANTIZE_TARGETS = {"loihi1": (8, True), "loihi2": (8, True)}
#: A quantity whose realised value is off by more than this warns.
WARN_RELATIVE_ERROR = 0.05
_DECAY_UNIT = 4096
_STATE_LIMIT = 2**23 - 1
_INPUT_LIMIT = 2**17 - 1   # |a_in| above this wraps the 24-bit current u = a_in << 6
_DELAY_MAX = 255
_CUBA_TYPES = frozenset({"CubaLIF", "CubaLI"})


# -- the report ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NirQuantity:
    """One quantity of one NIR node as asked (float, NIR units) and as realised by the integers.

    ``max_relative_error`` is ``max |realised - asked| / max |asked|`` for weights, thresholds,
    biases and resets (errors relative to the largest value of the node), and the largest
    per-element ``|realised - asked| / asked`` for time constants and delays.
    """

    node: str
    quantity: str
    asked: np.ndarray
    realised: np.ndarray
    per_element: bool = False

    @property
    def max_relative_error(self) -> float:
        asked = np.asarray(self.asked, dtype=np.float64)
        real = np.asarray(self.realised, dtype=np.float64)
        if asked.size == 0:
            return 0.0
        with np.errstate(invalid="ignore", divide="ignore"):
            if self.per_element:
                same = (asked == real) | (np.isinf(asked) & np.isinf(real))
                error = np.where(same, 0.0, np.abs(real - asked) / np.abs(asked))
                return float(np.nanmax(np.where(np.isnan(error), np.inf, error)))
            largest = float(np.max(np.abs(asked)))
            diff = float(np.max(np.abs(real - asked)))
        if largest == 0.0:
            return 0.0 if diff == 0.0 else math.inf
        return diff / largest

    def summary(self) -> str:
        asked = np.asarray(self.asked, dtype=np.float64).reshape(-1)
        if asked.size == 0:
            return "-"
        low, high = float(np.min(asked)), float(np.max(asked))
        return f"{low:.4g}" if low == high else f"{low:.4g} .. {high:.4g}"


@dataclass
class NirNodeMapping:
    """What one NIR node became: its type, the processes (qualified names) and, for neuron
    nodes, the voltage scale ``v_int = v_scale * v`` (``64 S``)."""

    node: str
    nir_type: str
    processes: list[str]
    v_scale: float | None = None


@dataclass
class NirImportReport:
    """The account of :func:`from_nir`, attached to the Network as ``net.nir_report``.

    Attributes
    ----------
    dt
        The step in seconds.
    quantize
        The target format as given.
    nodes
        ``{node key: NirNodeMapping}`` (dotted keys for nested graphs).
    quantities
        Every quantized quantity with its error (:class:`NirQuantity`).
    inputs
        ``{Input node: source process qualified name}``.
    outputs
        ``{Output node: (process qualified name, "spikes" or "v", v_scale or None)}``: divide a
        recorded ``v`` by ``v_scale`` to get NIR units.
    notes
        Everything else the import decided (fused chains, exact values kept, ...).
    """

    dt: float
    quantize: Any
    nodes: dict[str, NirNodeMapping] = field(default_factory=dict)
    quantities: list[NirQuantity] = field(default_factory=list)
    inputs: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, tuple[str, str, float | None]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def max_relative_error(self, node: str | None = None, quantity: str | None = None) -> float:
        """The worst relative error, over one node and/or one quantity if given."""
        errors = [q.max_relative_error for q in self.quantities
                  if (node is None or q.node == node) and (quantity is None or q.quantity == quantity)]
        return max(errors, default=0.0)

    def to_markdown(self) -> str:
        """The per-node table (node, NIR type, processes) and the per-quantity errors."""
        lines = [f"NIR import: dt = {self.dt:g} s, quantize = {self.quantize!r}", ""]
        lines.append(md_table(["node", "NIR type", "processes", "v scale"],
                              [[key, m.nir_type, ", ".join(m.processes) or "-",
                                "-" if m.v_scale is None else f"{m.v_scale:.6g}"]
                               for key, m in self.nodes.items()]))
        lines.append("")
        lines.append(md_table(["node", "quantity", "asked", "max relative error"],
                              [[q.node, q.quantity, q.summary(),
                                f"{100 * q.max_relative_error:.3g}%"] for q in self.quantities]))
        if self.notes:
            lines += ["", *[f"- {note}" for note in self.notes]]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_markdown()


# -- entry point -----------------------------------------------------------------------------------

def from_nir(graph_or_path: Any, dt: float | None = None, *, quantize: Any = "loihi1",
             name: str | None = None, inputs: Mapping[str, Any] | None = None,
             reset: str | None = None, cuba_order: str = "sequential",
             v_range: Mapping[str, float] | None = None) -> Network:
    """Build an nmgraph Network from a NIR graph or ``.nir`` file, in fixed point.

    Parameters
    ----------
    graph_or_path
        A ``nir.NIRGraph`` or the path of a ``.nir`` file.
    dt
        The time step in **seconds** (required: NIR files carry none, and exporters differ:
        snnTorch writes its time constants for ``dt = 1e-4``, Norse for ``1e-3``). Each
        time constant ``tau`` becomes a per-step factor ``1 - dt / tau`` (forward Euler).
    quantize
        The weight format: ``"loihi1"`` / ``"loihi2"`` (8-bit weights; a block with both signs
        gets 7 magnitude bits, as Loihi spends a bit on the sign), an int (magnitude bits, 1..8,
        set as ``num_weight_bits``), or None (8 bits). Values that are already integers on the
        chip's scale (a file nmgraph wrote) are kept exactly whatever this says.
    name
        The Network's name (default ``"nir"``).
    inputs
        ``{Input node name: raster}`` with a bool array ``(steps, *shape)`` for each Input (row
        ``k`` is emitted at step ``k + 1``), or a source process of the Input's shape. Inputs not
        given get a silent one-row ``SpikeGenerator``. The shape is the Input's after a
        batch dimension is dropped (``[4, 784]`` as written by nirtorch is ``(784,)``); a nested
        Input fed by nothing is named by its dotted key (``"branch_1.input"``).
    reset
        ``None`` or ``"value"`` (NIR's: ``v -> v_reset`` on a spike), or ``"subtract"``
        (``v -> v - v_threshold``, snnTorch's default, which NIR cannot express).
    cuba_order
        ``"sequential"`` (default): a CubaLIF's voltage integrates the current of the same
        step, as Loihi, Lava and snnTorch's ``Synaptic`` compute; ``"euler"``: the previous
        step's current, as strict forward Euler (NIR's reference), realised as one more step
        of delay on the synapses into CubaLIF and CubaLI nodes.
    v_range
        ``{readout node: largest |v|}`` (NIR units) that an LI, CubaLI or I node must hold
        without saturating at ``2**23 - 1``. By default an LI or CubaLI holds its worst case
        (every input at its extreme every step, at steady state); an I (no leak, no steady
        state) holds what its weights' 8 bits leave, reported in ``net.nir_report.notes``: give
        its range here.

    Returns
    -------
    Network
        With ``net.nir_report`` (:class:`NirImportReport`): what each node became and the error
        of every quantized quantity.

    Raises
    ------
    FileFormatError
        An unreadable file or a graph nmgraph cannot map, naming the node: an unknown node type,
        shapes that do not match, a loop of linear nodes without a neuron, a readout (LI, CubaLI,
        I, or a linear node) feeding anything but an Output, parameters out of range.
    ValidationError
        A missing or bad ``dt``, ``quantize``, ``reset``, ``cuba_order`` or ``inputs``.
    """
    if dt is None:
        raise ValidationError("from_nir", "dt", "is required: a NIR file has no time step. Give "
                              "it in seconds, the step the network was trained with (snnTorch "
                              "exports assume 1e-4, Norse 1e-3)")
    if isinstance(dt, bool) or not isinstance(dt, (int, float, np.integer, np.floating)) or \
            not math.isfinite(float(dt)) or float(dt) <= 0:
        raise ValidationError("from_nir", "dt", "must be a number of seconds > 0", dt)
    if reset not in (None, "value", "subtract"):
        raise ValidationError("from_nir", "reset", "must be None, 'value' or 'subtract'", reset)
    if cuba_order not in ("sequential", "euler"):
        raise ValidationError("from_nir", "cuba_order", "must be 'sequential' or 'euler'",
                              cuba_order)
    spec = _quantize_spec(quantize)
    graph, label = load_graph(graph_or_path)
    flat = flatten_graph(graph, label)
    builder = _Builder(flat, float(dt), spec, quantize, name or "nir", dict(inputs or {}),
                       reset or "value", cuba_order, dict(v_range or {}))
    return builder.build()


def _quantize_spec(quantize: Any) -> tuple[int, bool]:
    if quantize is None:
        return 8, False
    if isinstance(quantize, str):
        if quantize not in QUANTIZE_TARGETS:
            raise ValidationError("from_nir", "quantize", f"must be one of "
                                  f"{sorted(QUANTIZE_TARGETS)}, an int of bits (1..8) or None",
                                  quantize)
        return QUANTIZE_TARGETS[quantize]
    if isinstance(quantize, bool) or not isinstance(quantize, (int, np.integer)) or \
            not 1 <= int(quantize) <= 8:
        raise ValidationError("from_nir", "quantize", "must be 'loihi1', 'loihi2', an int of "
                              "bits (1..8) or None", quantize)
    return int(quantize), False


# -- building --------------------------------------------------------------------------------------

@dataclass
class _Path:
    """One route from a spiking node (or Input) through linear nodes to a neuron node."""

    source: str
    target: str
    nodes: list[str]
    matrix: sp.csr_matrix = None          # (n_target, n_source), before the target's gain
    weight_nodes: list[str] = field(default_factory=list)
    pre_scale: np.ndarray = None          # element-wise factors before the first weight node
    post_scale: np.ndarray = None         # ... after the last one
    pre_delay: np.ndarray = None          # steps, per source element
    post_delay: np.ndarray = None         # steps, per target element
    mid_delay: int = 0


@dataclass
class _Neuron:
    key: str
    type: str
    shape: tuple[int, ...]
    gain: np.ndarray                      # flat: per-step v change per unit of input
    bias_gain: np.ndarray                 # flat: per-step v change per unit of constant input
    leak_bias: np.ndarray                 # flat: (dt / tau) v_leak
    threshold: np.ndarray | None
    v_reset: np.ndarray | None
    decays: dict[str, Any]
    bias: np.ndarray = None


class _Builder:
    def __init__(self, flat: FlatGraph, dt: float, spec: tuple[int, bool], quantize: Any,
                 name: str, inputs: dict[str, Any], reset: str, cuba_order: str,
                 v_range: dict[str, float]) -> None:
        self.flat, self.dt, self.spec = flat, dt, spec
        self.v_range = v_range
        self.reset, self.cuba_order = reset, cuba_order
        self.inputs = inputs
        self.net = Network(name, dt_ms=dt * 1000.0)
        self.report = NirImportReport(dt, quantize)
        self.containers: dict[tuple[str, ...], Any] = {(): self.net}
        self.used_names: dict[tuple[str, ...], set[str]] = {(): set()}
        self.exposed: dict[tuple[int, int], Any] = {}
        self.exposed_names: dict[int, set[str]] = {}
        self.processes: dict[str, Any] = {}          # neuron / source node key -> process
        self.delay_checked: set[str] = set()
        self.neurons: dict[str, _Neuron] = {}
        self.through: Counter[str] = Counter()

    # -- top level ----------------------------------------------------------------------------
    def build(self) -> Network:
        flat = self.flat
        unknown = set(self.inputs) - {k for k, n in flat.nodes.items() if n.type == "Input"}
        if unknown:
            known = sorted(k for k, n in flat.nodes.items() if n.type == "Input")
            raise ValidationError("from_nir", "inputs", f"names no Input node of the graph "
                                  f"(Input nodes: {known})", sorted(unknown))
        self.report.notes.extend(flat.notes)
        for group in sorted(flat.groups, key=len):
            self._container(group)
        neurons = self.neurons
        for key, fn in flat.nodes.items():
            if fn.type in SPIKING_TYPES or fn.type in READOUT_TYPES:
                neurons[key] = self._neuron(fn)
        self._check_readouts()
        paths = self._paths()
        for path in paths:
            self._compose(path)
        self.through = Counter(k for path in paths for k in path.weight_nodes)
        self._biases(neurons)
        blocks: dict[str, list[_Path]] = {key: [] for key in neurons}
        for path in paths:
            blocks[path.target].append(path)
        for fn in flat.nodes.values():
            if fn.type == "Input":
                self._source(fn)
        synapses = []
        for key, neuron in neurons.items():      # every population first: synapses need both ends
            synapses += self._population(neuron, blocks[key])
        for args in synapses:
            self._synapse(*args)
        self._outputs()
        self.net.nir_report = self.report
        return self.net

    # -- neuron parameters --------------------------------------------------------------------
    def _tau(self, fn: FlatNode, name: str, shape: tuple[int, ...]) -> np.ndarray:
        tau = param(fn, name, shape=shape)
        if np.any(tau <= 0) or np.any(np.isnan(tau)):
            raise FileFormatError(f"{self.flat.label}: {fn.label()}: {name} must be > 0 "
                                  f"(got min {float(np.nanmin(tau)):g})")
        steps = tau / self.dt
        if np.any(steps < 1) or np.any(steps > _DECAY_UNIT):
            worst = float(np.min(tau)) if np.any(steps < 1) else float(np.max(tau))
            warnings.warn(f"{fn.label()}: {name} = {worst:g} s is implausible for dt = "
                          f"{self.dt:g} s (forward Euler needs dt <= tau, and a 12-bit decay "
                          f"holds at most tau = 4096 dt = {4096 * self.dt:g} s); was the graph "
                          f"exported for another dt?", QuantizationWarning, stacklevel=4)
        return tau

    def _neuron(self, fn: FlatNode) -> _Neuron:
        shape = _shape_of(fn)
        n = math.prod(shape)
        dt, kind = self.dt, fn.type

        def flat_param(name: str, default: Any = None) -> np.ndarray:
            return param(fn, name, shape=shape, default=default).reshape(-1)

        decays: dict[str, Any] = {}
        threshold = v_reset = None
        if kind in ("LIF", "LI"):
            tau = self._tau(fn, "tau", shape).reshape(-1)
            a = dt / tau
            gain = a * flat_param("r")
            leak = a * flat_param("v_leak")
            decays["dv"] = self._decay(fn, "tau", tau, offset=0)
            decays["du"] = _DECAY_UNIT - 1
            bias_gain = gain
        elif kind in _CUBA_TYPES:
            tau_mem = self._tau(fn, "tau_mem", shape).reshape(-1)
            tau_syn = self._tau(fn, "tau_syn", shape).reshape(-1)
            a_mem, a_syn = dt / tau_mem, dt / tau_syn
            w_in = flat_param("w_in", default=1.0)
            gain = a_mem * flat_param("r") * a_syn * w_in
            bias_gain = a_mem * flat_param("r") * w_in
            leak = a_mem * flat_param("v_leak")
            decays["dv"] = self._decay(fn, "tau_mem", tau_mem, offset=0)
            decays["du"] = self._decay(fn, "tau_syn", tau_syn, offset=1)
        elif kind in ("IF", "I"):
            gain = dt * flat_param("r")
            bias_gain = gain
            leak = np.zeros(n)
            if kind == "I":
                decays.update(du=_DECAY_UNIT - 1, dv=0)
        else:  # Threshold
            gain = np.ones(n)
            bias_gain = gain
            leak = np.zeros(n)
            decays.update(du=_DECAY_UNIT - 1, dv=_DECAY_UNIT - 1)
        if kind in SPIKING_TYPES:
            threshold = flat_param("threshold" if kind == "Threshold" else "v_threshold")
            if np.any(threshold < 0):
                raise FileFormatError(f"{self.flat.label}: {fn.label()}: negative thresholds "
                                      f"(min {float(threshold.min()):g}); nmgraph's vth is >= 0")
            if kind != "Threshold":
                v_reset = flat_param("v_reset", default=0.0)
        return _Neuron(fn.key, kind, shape, gain, bias_gain, leak, threshold, v_reset, decays)

    def _decay(self, fn: FlatNode, name: str, tau: np.ndarray, *, offset: int) -> np.ndarray:
        """``round(4096 dt / tau) - offset`` (forward Euler's factor ``1 - dt / tau``), clipped
        to 0..4095, and the time constant it realises, ``4096 dt / (d + offset)``."""
        with np.errstate(divide="ignore"):
            exact = _DECAY_UNIT * self.dt / tau
        decay = np.clip(np.rint(exact) - offset, 0, _DECAY_UNIT - 1).astype(np.int64)
        with np.errstate(divide="ignore"):
            realised = _DECAY_UNIT * self.dt / (decay + offset)
        self.report.quantities.append(NirQuantity(fn.key, name, tau, realised, per_element=True))
        return _uniform(decay)

    # -- graph structure ----------------------------------------------------------------------
    def _check_readouts(self) -> None:
        flat = self.flat
        for key, fn in flat.nodes.items():
            if fn.type not in READOUT_TYPES:
                continue
            stack = list(flat.succs[key])
            while stack:
                nxt = flat.nodes[stack.pop()]
                if nxt.type == "Pass":
                    stack.extend(flat.succs[nxt.key])
                elif nxt.type != "Output":
                    raise FileFormatError(f"{flat.label}: {fn.label()} feeds {nxt.label()}: its "
                                          f"output is a voltage, which nmgraph can only read out "
                                          f"(connect it to an Output only)")

    def _paths(self) -> list[_Path]:
        flat = self.flat
        paths: list[_Path] = []
        for key, fn in flat.nodes.items():
            if fn.type != "Input" and fn.type not in SPIKING_TYPES:
                continue

            def walk(node: str, trail: list[str], source: str = key) -> None:
                for succ in flat.succs[node]:
                    nxt = flat.nodes[succ]
                    if nxt.type in SPIKING_TYPES or nxt.type in READOUT_TYPES:
                        paths.append(_Path(source, succ, list(trail)))
                    elif nxt.type == "Output":
                        mixing = [n for n in trail if flat.nodes[n].type not in ("Pass", "Flatten")]
                        if mixing:
                            raise FileFormatError(
                                f"{flat.label}: Output '{succ}' reads {flat.nodes[mixing[-1]].label()}: "
                                f"a current, which nmgraph cannot read out; end the path with a "
                                f"neuron (LI for a voltage readout)")
                        self.report.outputs.setdefault(succ, (source, "spikes", None))
                    elif nxt.type == "Input":
                        raise FileFormatError(f"{flat.label}: edge '{node}' -> '{succ}' enters an "
                                              f"Input node")
                    else:
                        if succ in trail:
                            loop = " -> ".join([*trail[trail.index(succ):], succ])
                            raise FileFormatError(f"{flat.label}: recurrent edge through linear "
                                                  f"nodes only ({loop}): a loop needs a neuron "
                                                  f"node to be mapped")
                        walk(succ, [*trail, succ])

            walk(key, [])
        return paths

    def _delay_steps(self, fn: FlatNode) -> np.ndarray:
        delay = param(fn, "delay", shape=fn.in_shape).reshape(-1)
        if np.any(delay < 0):
            raise FileFormatError(f"{self.flat.label}: {fn.label()}: negative delays")
        steps = np.rint(delay / self.dt).astype(np.int64)
        if fn.key not in self.delay_checked:
            self.delay_checked.add(fn.key)
            self.report.quantities.append(NirQuantity(fn.key, "delay", delay, steps * self.dt,
                                                      per_element=True))
        return steps

    def _compose(self, path: _Path) -> None:
        flat = self.flat
        n_source = math.prod(flat.nodes[path.source].out_shape)
        n_target = math.prod(flat.nodes[path.target].in_shape)
        matrix = sp.identity(n_source, dtype=np.float64, format="csr")
        pre_scale, post_scale = np.ones(n_source), None
        pre_delay, post_delay, mid = np.zeros(n_source, np.int64), None, 0
        for key in path.nodes:
            fn = flat.nodes[key]
            if fn.type in WEIGHT_TYPES:
                path.weight_nodes.append(key)
                if post_delay is not None and np.any(post_delay):
                    if np.any(post_delay != post_delay[0]):
                        raise FileFormatError(f"{flat.label}: a Delay between two weight nodes "
                                              f"({path.weight_nodes[-2]}, {key}) must be the same "
                                              f"for every element to be mapped")
                    mid += int(post_delay[0])
                post_delay = np.zeros(math.prod(fn.out_shape), np.int64)
                post_scale = np.ones(math.prod(fn.out_shape))
            elif fn.type == "Scale":
                factors = param(fn, "scale", shape=fn.in_shape).reshape(-1)
                if post_scale is None:
                    pre_scale = pre_scale * factors
                else:
                    post_scale = post_scale * factors
            elif fn.type == "Delay":
                steps = self._delay_steps(fn)
                if post_delay is None:
                    pre_delay = pre_delay + steps
                else:
                    post_delay = post_delay + steps
            matrix = linear_matrix(fn) @ matrix
        path.matrix = sp.csr_matrix(matrix)
        if path.matrix.shape != (n_target, n_source):  # pragma: no cover - shapes were checked
            raise FileFormatError(f"{flat.label}: path {path.source} -> {path.target}: matrix "
                                  f"{path.matrix.shape} for {n_target} x {n_source}")
        path.pre_scale, path.post_scale = pre_scale, post_scale
        path.pre_delay = pre_delay
        path.post_delay = np.zeros(n_target, np.int64) if post_delay is None else post_delay
        path.mid_delay = mid

    def _biases(self, neurons: dict[str, _Neuron]) -> None:
        """Propagate every Affine and convolution bias to the neurons it reaches."""
        flat = self.flat
        for neuron in neurons.values():
            neuron.bias = neuron.leak_bias.copy()
        for key, fn in flat.nodes.items():
            if fn.type not in WEIGHT_TYPES:
                continue
            bias = linear_bias(fn)
            if bias is None:
                continue

            def spread(node: str, value: np.ndarray, seen: tuple[str, ...]) -> None:
                for succ in flat.succs[node]:
                    nxt = flat.nodes[succ]
                    if succ in neurons:
                        target = neurons[succ]
                        target.bias = target.bias + target.bias_gain * value
                    elif nxt.type not in ("Output",) and succ not in seen:
                        spread(succ, linear_matrix(nxt) @ value, (*seen, succ))

            spread(key, bias, (key,))

    # -- processes ----------------------------------------------------------------------------
    def _container(self, group: tuple[str, ...]) -> Any:
        if group in self.containers:
            return self.containers[group]
        parent = self._container(group[:-1])
        hier = Hierarchical(name=self._unique(group[:-1], group[-1]))
        parent.add(hier)
        self.containers[group] = hier
        self.used_names[group] = set()
        self.report.nodes[".".join(group)] = NirNodeMapping(".".join(group), "NIRGraph",
                                                            [hier.qualified_name])
        return hier

    def _unique(self, group: tuple[str, ...], name: str) -> str:
        used = self.used_names.setdefault(group, set())
        base = "".join(c if c.isalnum() or c in "_.:-" else "_" for c in name) or "node"
        candidate, k = base, 2
        while candidate in used:
            candidate, k = f"{base}:{k}", k + 1
        used.add(candidate)
        return candidate

    def _add(self, group: tuple[str, ...], process: Any) -> Any:
        return self._container(group).add(process)

    def _source(self, fn: FlatNode) -> None:
        given = self.inputs.get(fn.key)
        shape = tuple(fn.out_shape)
        name = self._unique((), fn.key if fn.group else fn.local)
        if given is None:
            source = procs.SpikeGenerator(np.zeros((1, *shape), dtype=bool), name=name)
        elif isinstance(given, procs.SourceProcess):
            if math.prod(given.shape) != math.prod(shape):
                raise ValidationError("from_nir", "inputs", f"the source for Input '{fn.key}' "
                                      f"has shape {given.shape}, the Input {shape}")
            source = given
        else:
            raster = np.asarray(given)
            if raster.ndim < 1 or math.prod(raster.shape[1:]) != math.prod(shape):
                raise ValidationError("from_nir", "inputs", f"the raster for Input '{fn.key}' "
                                      f"must be (steps, {', '.join(map(str, shape))})",
                                      raster.shape)
            source = procs.SpikeGenerator(raster.reshape((raster.shape[0], *shape)), name=name)
        self._add((), source)
        self.processes[fn.key] = source
        self.report.inputs[fn.key] = source.qualified_name
        self.report.nodes[fn.key] = NirNodeMapping(fn.key, "Input", [source.qualified_name])

    def _population(self, neuron: _Neuron, blocks: list[_Path]) -> list[tuple]:
        """Create the population of a neuron node; return the arguments of its synapse blocks."""
        fn = self.flat.nodes[neuron.key]
        weights = []
        for path in blocks:
            extra = 1 if self.cuba_order == "euler" and neuron.type in _CUBA_TYPES else 0
            matrix = sp.diags(neuron.gain) @ path.matrix
            weights.append((path, sp.csr_matrix(matrix), extra))
        scale, exact = self._scale(neuron, [w for _, w, _ in weights])
        process = self._neuron_process(fn, neuron, scale, exact)
        self.processes[neuron.key] = process
        mapping = NirNodeMapping(neuron.key, neuron.type, [process.qualified_name],
                                 v_scale=64.0 * scale)
        self.report.nodes[neuron.key] = mapping
        if neuron.type in READOUT_TYPES:
            self.report.notes.append(f"{neuron.key}: v holds |v| <= {_STATE_LIMIT / (64.0 * scale):.4g} "
                                     f"(NIR units) before it saturates")
        return [(path, matrix, extra, scale, exact, process) for path, matrix, extra in weights]

    def _scale(self, neuron: _Neuron, matrices: list[sp.csr_matrix]) -> tuple[float, bool]:
        """The population's scale ``S`` (``v_int = 64 S v``) and whether it is exact.

        ``S`` is the largest scale that fits every constraint: each block's weights in 8 bits
        with ``weight_exp <= 7``, ``vth <= 2**17 - 1``, the bias in ``4095 << 7``, ``v_reset``
        in 24 bits, and the worst one-step input of a neuron below ``2**17`` (so that the
        current ``u = a_in << 6`` never wraps). When the file's values are already integers on
        the scale ``S = 1`` (a file nmgraph wrote), that scale is kept and nothing is rounded.
        """
        if self._exact(neuron, matrices):
            return 1.0, True
        bits, sign_bit = self.spec
        limits = []
        row_sum = np.zeros(math.prod(neuron.shape))
        for matrix in matrices:
            if matrix.nnz == 0:
                continue
            levels, shift = _levels(matrix.data, bits, sign_bit)
            largest = float(np.max(np.abs(matrix.data)))
            if largest > 0:
                limits.append(levels * 2.0 ** (7 + shift) / largest)
            positive = np.asarray(matrix.maximum(0).sum(axis=1)).reshape(-1)
            negative = np.asarray((-matrix).maximum(0).sum(axis=1)).reshape(-1)
            row_sum = row_sum + np.maximum(positive, negative)
        if np.any(row_sum > 0):
            # u = decay(u, du + 1) + (a_in << 6) must stay below 2**23: a_in below 2**17 in one
            # step, and a current that accumulates (du < 4095) below it at its steady state
            accumulation = _DECAY_UNIT / (np.asarray(neuron.decays.get("du", _DECAY_UNIT - 1)) + 1.0)
            limits.append(0.95 * _INPUT_LIMIT / float(np.max(row_sum * accumulation)))
        if neuron.threshold is not None and np.any(neuron.threshold > 0):
            limits.append(VTH_MAX / float(neuron.threshold.max()))
        if np.any(neuron.bias != 0):
            limits.append(BIAS_MANT_MAX * 2**BIAS_EXP_MAX / (64.0 * float(np.abs(neuron.bias).max())))
        if neuron.v_reset is not None and np.any(neuron.v_reset != 0):
            limits.append(_STATE_LIMIT / (64.0 * float(np.abs(neuron.v_reset).max())))
        if neuron.type in READOUT_TYPES:
            bound = self._v_bound(neuron, row_sum)
            if bound > 0:
                limits.append(0.95 * _STATE_LIMIT / (64.0 * bound))
        return (min(limits) if limits else 1.0), False

    def _v_bound(self, neuron: _Neuron, row_sum: np.ndarray) -> float:
        """The largest |v| (NIR units) a readout must hold: ``v_range`` if given, else the
        worst steady state (all inputs at their extreme every step), 0 when unbounded (I)."""
        if neuron.key in self.v_range:
            value = self.v_range[neuron.key]
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                    or not value > 0:
                raise ValidationError("from_nir", "v_range", f"the range of '{neuron.key}' must "
                                      f"be a number > 0", value)
            return float(value)
        leak = np.asarray(neuron.decays["dv"], np.float64) / _DECAY_UNIT
        if np.any(leak == 0):
            return 0.0
        settle = leak * ((np.asarray(neuron.decays["du"], np.float64) + 1) / _DECAY_UNIT
                         if neuron.type == "CubaLI" else 1.0)
        return float(np.max((row_sum + np.abs(neuron.bias)) / settle))

    def _exact(self, neuron: _Neuron, matrices: list[sp.csr_matrix]) -> bool:
        for matrix in matrices:
            if matrix.nnz and _weight_exp_exact(matrix.data) is None:
                return False
        if neuron.threshold is not None and not (_integral(neuron.threshold) and
                                                 neuron.threshold.max(initial=0) <= VTH_MAX):
            return False
        if _bias_split(64.0 * neuron.bias, exact=True) is None:
            return False
        return neuron.v_reset is None or (_integral(64.0 * neuron.v_reset) and
                                          np.all(np.abs(64.0 * neuron.v_reset) <= _STATE_LIMIT))

    def _neuron_process(self, fn: FlatNode, neuron: _Neuron, scale: float, exact: bool) -> Any:
        kind, key = neuron.type, neuron.key
        name = self._unique(fn.group, fn.local)
        kwargs: dict[str, Any] = {}
        mant, exp = _bias_split(64.0 * scale * neuron.bias, exact=exact)
        realised_bias = mant * 2.0**exp / (64.0 * scale)
        if np.any(neuron.bias != 0):
            self.report.quantities.append(NirQuantity(key, "bias (v per step)", neuron.bias,
                                                      realised_bias))
        shape = neuron.shape
        kwargs.update(bias_mant=_uniform(mant, shape), bias_exp=_uniform(exp, shape))
        if neuron.threshold is not None:
            vth = np.clip(np.rint(scale * neuron.threshold), 0, VTH_MAX).astype(np.int64)
            quantity = NirQuantity(key, "threshold" if kind == "Threshold" else "v_threshold",
                                   neuron.threshold, vth / scale)
            self.report.quantities.append(quantity)
            if quantity.max_relative_error > WARN_RELATIVE_ERROR:
                warnings.warn(f"{key}: {quantity.quantity} quantized with a relative error of "
                              f"{100 * quantity.max_relative_error:.2g}% (its weights need a "
                              f"scale that leaves the threshold few integer steps; see "
                              f"net.nir_report)", QuantizationWarning, stacklevel=5)
            kwargs["vth"] = _uniform(vth, shape)
        if neuron.v_reset is not None and (np.any(neuron.v_reset != 0) or self.reset != "value"):
            reset_int = np.rint(64.0 * scale * neuron.v_reset).astype(np.int64)
            if not _supports(procs.LIF, "reset"):
                raise FileFormatError(f"{self.flat.label}: {fn.label()}: v_reset != 0 or a reset by "
                                      f"subtraction needs LIF(v_reset=..., reset=...), which this "
                                      f"nmgraph does not have")
            if self.reset == "value":
                self.report.quantities.append(NirQuantity(key, "v_reset", neuron.v_reset,
                                                          reset_int / (64.0 * scale)))
            kwargs.update(v_reset=_uniform(reset_int, shape), reset=self.reset)
        decays = {k: _uniform(v, shape) for k, v in neuron.decays.items()}
        if kind in ("LIF", "CubaLIF", "Threshold"):
            process = procs.LIF(shape, du=decays["du"], dv=decays["dv"], name=name, **kwargs)
        elif kind == "IF":
            process = procs.IF(shape, name=name, **kwargs)
        else:
            li = getattr(procs, "LI", None)
            if li is None:
                raise FileFormatError(f"{self.flat.label}: {fn.label()} needs the leaky "
                                      f"integrator process nmgraph.processes.LI, which this "
                                      f"nmgraph does not have")
            process = li(shape, du=decays["du"], dv=decays["dv"], name=name, **kwargs)
        object.__setattr__(process, "_nir_type", kind)
        self._add(fn.group, process)
        if exact:
            self.report.notes.append(f"{key}: the file's values are integers on the chip's "
                                     f"scale; kept exactly")
        return process

    def _synapse(self, path: _Path, matrix: sp.csr_matrix, extra: int, scale: float, exact: bool,
                 target: Any) -> None:
        flat = self.flat
        source = self.processes[path.source]
        src_fn, dst_fn = flat.nodes[path.source], flat.nodes[path.target]
        delay = self._delays(path, extra)
        bits, sign_bit = self.spec
        kind = flat.nodes[path.weight_nodes[0]].type if len(path.weight_nodes) == 1 else None
        process = None
        if kind in ("Conv1d", "Conv2d", "SumPool2d", "AvgPool2d") and np.all(delay.data == delay.data[0]):
            process = self._conv(path, matrix, scale, exact, int(delay.data[0]) if delay.nnz else 1)
        if process is None and kind in ("Affine", "Linear"):
            dense_delay = delay.toarray()
            dense_delay[dense_delay == 0] = 1
            weights, exp, nwb = self._quantize(path, matrix.toarray(), scale, exact, bits, sign_bit)
            uniform = np.all(dense_delay == dense_delay.flat[0])
            process = procs.Dense(weights, weight_exp=exp, num_weight_bits=nwb,
                                  delay=int(dense_delay.flat[0]) if uniform else dense_delay,
                                  name=self._synapse_name(path))
        if process is None:
            coo = matrix.tocoo()
            values, exp, nwb = self._quantize(path, coo.data, scale, exact, bits, sign_bit)
            delays = np.asarray(delay.tocsr()[coo.row, coo.col]).reshape(-1)
            delays[delays == 0] = 1
            uniform = delays.size == 0 or np.all(delays == delays[0])
            process = procs.Sparse((coo.row, coo.col, values), shape=matrix.shape, weight_exp=exp,
                                   num_weight_bits=nwb,
                                   delay=int(delays[0]) if uniform and delays.size else
                                   (1 if uniform else delays),
                                   name=self._synapse_name(path))
            if len(path.weight_nodes) > 1:
                self.report.notes.append(f"{' -> '.join(path.weight_nodes)}: consecutive weight "
                                         f"nodes fused into one Sparse block '{process.name}'")
        group = self._synapse_group(path)
        object.__setattr__(process, "_nir_type", kind or "Linear")
        object.__setattr__(process, "_nir_names", self._side_names(path))
        chain = self._conv_chain(path)
        if chain is not None and isinstance(process, procs.Sparse):
            object.__setattr__(process, "_nir_chain", chain)
        self._add(group, process)
        for key in path.weight_nodes or [f"{path.source}->{path.target}"]:
            mapping = self.report.nodes.setdefault(
                key, NirNodeMapping(key, flat.nodes[key].type if key in flat.nodes else "edge", []))
            mapping.processes.append(process.qualified_name)
        src_port = source.s_out
        self._connect(src_port, src_fn.group if src_fn.type != "Input" else (), process.s_in, group,
                      path.nodes)
        self._connect(process.a_out, group, target.a_in, dst_fn.group, path.nodes)

    def _conv_chain(self, path: _Path) -> dict[str, Any] | None:
        """For a path of several convolutions and poolings fused into one block, what an
        export needs to write the block back as one convolution: the first node's input shape,
        the last one's output shape and each node's geometry (kernel, stride, pads, dilation),
        in order; None for other paths."""
        flat = self.flat
        nodes = [flat.nodes[k] for k in path.weight_nodes]
        if len(nodes) < 2 or any(fn.type not in ("Conv1d", "Conv2d", "SumPool2d", "AvgPool2d")
                                 for fn in nodes):
            return None
        ranks = {len(fn.in_shape) for fn in nodes}
        if len(ranks) != 1:
            return None
        steps = []
        for fn in nodes:
            geometry = conv_geometry(fn)
            steps.append((geometry["kernel"], geometry["stride"], geometry["pads"],
                          geometry["dilation"]))
        return {"in_shape": tuple(nodes[0].in_shape), "out_shape": tuple(nodes[-1].out_shape),
                "steps": steps}

    def _side_names(self, path: _Path) -> dict[str, str]:
        """The local names of a path's Flatten and Delay nodes before and after its weight node,
        so that an export gives them back (``{"flatten": ..., "pre_delay": ..., "post_delay":
        ...}``)."""
        names: dict[str, str] = {}
        side = "pre"
        for key in path.nodes:
            fn = self.flat.nodes[key]
            if fn.type in WEIGHT_TYPES:
                side = "post"
            elif fn.type == "Flatten" and side == "pre":
                names.setdefault("flatten", fn.local)
            elif fn.type == "Delay":
                names.setdefault(f"{side}_delay", fn.local)
        return names

    def _synapse_name(self, path: _Path) -> str:
        flat = self.flat
        group = self._synapse_group(path)
        if len(path.weight_nodes) == 1:
            fn = flat.nodes[path.weight_nodes[0]]
            shared = self.through[fn.key] > 1
            local = fn.local if fn.group == group else fn.key
            base = local if not shared else f"{local}:{_local(flat, path.source)}:{_local(flat, path.target)}"
        elif path.weight_nodes:
            base = ":".join(flat.nodes[k].local for k in path.weight_nodes)
        else:
            base = f"{_local(flat, path.source)}:{_local(flat, path.target)}"
        return self._unique(group, base)

    def _synapse_group(self, path: _Path) -> tuple[str, ...]:
        flat = self.flat
        if len(path.weight_nodes) == 1:
            return flat.nodes[path.weight_nodes[0]].group
        groups = [flat.nodes[path.source].group, flat.nodes[path.target].group]
        groups += [flat.nodes[k].group for k in path.weight_nodes]
        common = groups[0]
        for g in groups[1:]:
            common = _common(common, g)
        return common

    def _delays(self, path: _Path, extra: int) -> sp.csr_matrix:
        """Per-synapse delays ``1 + pre + post + mid (+ 1 into a Cuba node in Euler order)``,
        on the matrix's sparsity pattern."""
        coo = path.matrix.tocoo()
        values = 1 + extra + path.mid_delay + path.pre_delay[coo.col] + path.post_delay[coo.row]
        if values.size and int(values.max()) > _DELAY_MAX:
            raise FileFormatError(f"{self.flat.label}: path {path.source} -> {path.target}: a "
                                  f"delay of {int(values.max())} steps (at dt = {self.dt:g} s) "
                                  f"exceeds nmgraph's {_DELAY_MAX}")
        return sp.csr_matrix((values.astype(np.int64), (coo.row, coo.col)),
                             shape=path.matrix.shape)

    def _quantize(self, path: _Path, values: np.ndarray, scale: float, exact: bool, bits: int,
                  sign_bit: bool) -> tuple[np.ndarray, int, int]:
        """Integer weights (8-bit scale), weight_exp and num_weight_bits for float values."""
        values = np.asarray(values, dtype=np.float64)
        key = ":".join(path.weight_nodes) or f"{path.source}->{path.target}"
        if exact:
            exp = _weight_exp_exact(values)
            ints = np.rint(values / 2.0**exp).astype(np.int64)
            self.report.quantities.append(NirQuantity(key, "weights (x gain)", values,
                                                      ints * 2.0**exp))
            return ints, exp, 8
        scaled = values * scale
        levels, shift = _levels(values, bits, sign_bit)
        largest = float(np.max(np.abs(scaled))) if scaled.size else 0.0
        exp = 0
        while exp < 7 and largest / 2.0 ** (exp + shift) > levels:
            exp += 1
        step = 2.0 ** (exp + shift)
        q = quantize_weights(scaled, bits=int(math.log2(levels + 1)), scale=1.0 / step)
        ints = q.weights.astype(np.int64) << shift
        self.report.quantities.append(NirQuantity(key, "weights (x gain)", values,
                                                  ints * 2.0**exp / scale))
        if q.max_relative_error > WARN_RELATIVE_ERROR:
            warnings.warn(f"{key}: weights quantized with a relative error of "
                          f"{100 * q.max_relative_error:.2g}% (see net.nir_report)",
                          QuantizationWarning, stacklevel=5)
        return ints, exp, bits

    def _conv(self, path: _Path, matrix: sp.csr_matrix, scale: float, exact: bool,
              delay: int) -> Any:
        """A Conv or SumPool2d for a path with one convolution or pooling node, when the path's
        other factors (target gain, Scale nodes) are uniform per output and input channel."""
        flat = self.flat
        fn = flat.nodes[path.weight_nodes[0]]
        target = flat.nodes[path.target]
        c_out = fn.out_shape[0]
        c_in = fn.in_shape[0]
        # the row factor (target gain x post Scale) and column factor (pre Scale) per channel
        n_out = math.prod(fn.out_shape)
        row = np.ones(n_out)
        neuron_gain = self.neurons[target.key].gain
        row = row * neuron_gain * (path.post_scale if path.post_scale is not None else 1.0)
        col = path.pre_scale
        row_c = row.reshape(c_out, -1)
        col_c = col.reshape(c_in, -1)
        if not (np.all(row_c == row_c[:, :1]) and np.all(col_c == col_c[:, :1])):
            return None
        row_c, col_c = row_c[:, 0], col_c[:, 0]
        geometry = conv_geometry(fn)
        bits, sign_bit = self.spec
        name = self._synapse_name(path)
        if fn.type in ("SumPool2d", "AvgPool2d"):
            factor = row_c[:, None] * col_c[None, :]
            if not np.all(np.diag(factor) == factor[0, 0]):
                return None
            value = float(factor[0, 0]) / (math.prod(geometry["kernel"]) if fn.type == "AvgPool2d" else 1)
            ints, exp, nwb = self._quantize(path, np.array([value]), scale, exact, bits, sign_bit)
            if int(ints[0]) == 0:
                return None
            process = procs.SumPool2d(geometry["kernel"], fn.in_shape, stride=geometry["stride"],
                                      padding=geometry["pads"], weight=int(ints[0]),
                                      weight_exp=exp, num_weight_bits=nwb, delay=delay, name=name)
            return process
        kernel = np.asarray(fn.node.weight, dtype=np.float64)
        groups = geometry["groups"]
        per_group = kernel.shape[1]
        out_per_group = c_out // groups
        channel_in = (np.arange(c_out)[:, None] // out_per_group) * per_group + np.arange(per_group)[None, :]
        factors = row_c[:, None] * col_c[channel_in]
        kernel = kernel * factors.reshape(factors.shape + (1,) * (kernel.ndim - 2))
        ints, exp, nwb = self._quantize(path, kernel.reshape(-1), scale, exact, bits, sign_bit)
        process = procs.Conv(ints.reshape(kernel.shape), fn.in_shape, stride=geometry["stride"],
                             padding=geometry["padding_arg"] if isinstance(geometry["padding_arg"], str)
                             else geometry["pads"], dilation=geometry["dilation"], groups=groups,
                             weight_exp=exp, num_weight_bits=nwb, delay=delay, name=name)
        return process

    # -- connections through hierarchy --------------------------------------------------------
    def _connect(self, src: Any, src_group: tuple[str, ...], dst: Any, dst_group: tuple[str, ...],
                 trail: list[str]) -> None:
        common = _common(src_group, dst_group)
        src = self._lift(src, src_group, common, trail)
        dst = self._lift(dst, dst_group, common, trail)
        view = src if tuple(src.shape) == tuple(dst.shape) else src.reshape(tuple(dst.shape))
        self._container(common).connect(view, dst)

    def _lift(self, port: Any, group: tuple[str, ...], to: tuple[str, ...], trail: list[str]) -> Any:
        while len(group) > len(to):
            hier = self.containers[group]
            key = (id(hier), id(port))
            if key not in self.exposed:
                io = [self.flat.nodes[k].local for k in trail
                      if self.flat.nodes[k].type == "Pass" and self.flat.nodes[k].group == group]
                base = io[0] if io else f"{port.process.name}_{port.name}"
                base = "".join(c if c.isalnum() or c == "_" else "_" for c in base)
                used = self.exposed_names.setdefault(id(hier), set())
                name, k = base, 2
                while name in used or hasattr(hier, name):
                    name, k = f"{base}_{k}", k + 1
                used.add(name)
                self.exposed[key] = hier.expose(name, port)
            port = self.exposed[key]
            group = group[:-1]
        return port

    # -- outputs ------------------------------------------------------------------------------
    def _outputs(self) -> None:
        flat = self.flat
        for key, fn in flat.nodes.items():
            if fn.type != "Output":
                continue
            sources = set()
            stack, passes = list(flat.preds[key]), []
            while stack:
                pred = flat.nodes[stack.pop()]
                if pred.type in ("Pass", "Flatten"):
                    stack.extend(flat.preds[pred.key])
                    passes.append(pred.key)
                else:
                    sources.add(pred.key)
            for source in sorted(sources):
                src_fn, process = flat.nodes[source], self.processes.get(source)
                if process is not None and src_fn.group and src_fn.type in SPIKING_TYPES:
                    # expose the spikes through every enclosing sub-graph, so that an export
                    # writes each level's Output node and edge (named after the nested Output
                    # nodes on the way)
                    self._lift(process.s_out, src_fn.group, (), passes)
            entries = []
            for source in sorted(sources):
                process = self.processes.get(source)
                if process is None:
                    raise FileFormatError(f"{flat.label}: Output '{key}' reads "
                                          f"{flat.nodes[source].label()}, which is not a neuron or "
                                          f"an Input")
                readout = flat.nodes[source].type in READOUT_TYPES
                mapping = self.report.nodes.get(source)
                entries.append((process.qualified_name, "v" if readout else "spikes",
                                mapping.v_scale if (readout and mapping) else None))
            if len(entries) == 1:
                self.report.outputs[key] = entries[0]
            elif entries:
                self.report.outputs[key] = entries[0]
                self.report.notes.append(f"Output '{key}' reads {len(entries)} nodes; the report "
                                         f"names the first ({entries[0][0]})")
            self.report.nodes[key] = NirNodeMapping(key, "Output", [e[0] for e in entries])


# -- helpers ---------------------------------------------------------------------------------------

def _shape_of(fn: FlatNode) -> tuple[int, ...]:
    return tuple(fn.in_shape)


def _local(flat: FlatGraph, key: str) -> str:
    return flat.nodes[key].local


def _common(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def _uniform(array: Any, shape: tuple[int, ...] | None = None) -> Any:
    """A scalar when every element is equal (processes then store one value), else the array
    in ``shape``."""
    array = np.asarray(array)
    if array.size and np.all(array == array.reshape(-1)[0]):
        return int(array.reshape(-1)[0])
    return array if shape is None else array.reshape(shape)


def _supports(cls: type, parameter: str) -> bool:
    try:
        return parameter in inspect.signature(cls).parameters
    except (TypeError, ValueError):  # pragma: no cover
        return False


def _levels(values: np.ndarray, bits: int, sign_bit: bool) -> tuple[int, int]:
    """``(largest magnitude, shift)``: weights are ``q << shift`` with ``|q| <= levels``."""
    values = np.asarray(values)
    mixed = values.size > 0 and values.min() < 0 < values.max()
    effective = bits - 1 if (sign_bit and mixed) else bits
    return 2**effective - 1, 8 - effective


def _integral(values: np.ndarray) -> bool:
    values = np.asarray(values, dtype=np.float64)
    return bool(np.all(np.abs(values - np.rint(values)) <= 1e-6 * np.maximum(1.0, np.abs(values))))


def _weight_exp_exact(values: np.ndarray) -> int | None:
    """The largest ``e`` (0..7) such that every value is an integer ``w << e`` with ``|w| <= 255``,
    or None."""
    values = np.asarray(values, dtype=np.float64)
    if not _integral(values) or np.any(np.abs(values) > 255 << 7):
        return None
    ints = np.rint(values).astype(np.int64)
    for exp in range(7, -1, -1):
        if np.all(ints % (1 << exp) == 0) and np.all(np.abs(ints >> exp) <= 255):
            return exp
    return None


def _bias_split(bias: np.ndarray, *, exact: bool) -> Any:
    """``(mantissa, exponent)`` arrays with ``mant << exp`` the (rounded) bias, ``|mant| <=
    4095``, the exponent as small as the value allows; None if ``exact`` and not representable."""
    bias = np.asarray(bias, dtype=np.float64)
    if exact:
        if not _integral(bias) or np.any(np.abs(bias) > BIAS_MANT_MAX << BIAS_EXP_MAX):
            return None
        ints = np.rint(bias).astype(np.int64)
        exp = np.zeros(bias.shape, np.int64)
        for e in range(1, BIAS_EXP_MAX + 1):
            need = (np.abs(ints >> (e - 1)) > BIAS_MANT_MAX) & (ints % (1 << e) == 0)
            exp = np.where(need & (exp == e - 1), e, exp)
        mant = ints >> exp
        if np.any(np.abs(mant) > BIAS_MANT_MAX) or np.any((mant << exp) != ints):
            return None
        return mant, exp
    magnitude = np.abs(bias)
    with np.errstate(divide="ignore"):
        exp = np.ceil(np.log2(np.maximum(magnitude, 1e-300) / BIAS_MANT_MAX))
    exp = np.clip(exp, 0, BIAS_EXP_MAX).astype(np.int64)
    mant = np.clip(np.sign(bias) * np.floor(magnitude / 2.0**exp + 0.5), -BIAS_MANT_MAX - 1,
                   BIAS_MANT_MAX).astype(np.int64)
    return mant, exp
