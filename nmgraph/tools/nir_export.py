"""``nm.to_nir``: an nmgraph Network as the NIR graph of the float model its fixed point runs.

The export writes each process as the NIR node whose forward-Euler update at the step ``dt``
(seconds) is the process's arithmetic without its roundings, on the scale ``S = 1``: a voltage
of ``v`` integer units is ``v / 64`` in NIR units, a synaptic input of ``a`` integer units is
``a`` (so every NIR weight is an effective integer weight ``w << weight_exp``), and each
neuron's input gain is one:

==================  ========================================================================
nmgraph             NIR
==================  ========================================================================
SpikeGenerator,     ``Input`` (the source's shape)
PoissonSource
LIF, du = 4095      ``LIF(tau = 4096 dt / dv, r = tau / dt, v_leak = b tau / dt,
                    v_threshold = vth, v_reset = v_reset / 64)`` with ``b = (bias_mant <<
                    bias_exp) / 64``; ``Threshold(vth)`` if it was imported from one
LIF, du < 4095      ``CubaLIF(tau_syn = 4096 dt / (du + 1), tau_mem = 4096 dt / dv,
                    r = tau_mem / dt, w_in = tau_syn / dt, ...)``
IF                  ``IF(r = 1 / dt, v_threshold = vth, v_reset)``
LI                  ``I(r = 1 / dt)`` (du = 4095, dv = 0), ``LI`` (du = 4095) or ``CubaLI``
Dense, Sparse       ``Linear`` (``Affine`` when a bias goes there, or the import came from one)
Conv                ``Conv1d`` / ``Conv2d`` (symmetric padding only)
SumPool2d           ``SumPool2d`` (``AvgPool2d`` if imported from one); its weight becomes
                    the target's ``r`` (or a ``Scale`` after it when the target has another)
delay d > 1         a ``Delay`` of ``(d - 1) dt`` (uniform, per target or per source unit)
a reshaped port     ``Flatten(start_dim, end_dim)`` of the dims it merges
Sparse fused from   the one ``Conv2d`` / ``Conv1d`` the chain composes to (checked synapse by
pool -> conv        synapse against the block)
one-to-one Sparse   ``Scale`` of the target's shape (into a multi-dimensional neuron)
Hierarchical        a nested ``NIRGraph`` (one exposed input and one output port), with its
                    ``Input`` and ``Output`` nodes at every level
==================  ========================================================================

A bias of a neuron without ``v_leak`` (IF, I, Threshold, or a ``dv = 0`` leak) goes to the
bias of an Affine or convolution that feeds it. CubaLIF is written in nmgraph's order (the
voltage integrates the current of the same step), which ``nm.from_nir`` reads by default, so
``from_nir(to_nir(net, dt), dt)`` runs the same integers: bit-identical spikes.

Not expressible in NIR, and refused with a ValidationError naming the process: ``ALIF``,
``LIFRefractory``, user models, ``reset="subtract"``, delays that differ per synapse in another
pattern, asymmetric convolution padding, a port reshaped other than by flattening dims (such
as a fused block that is not a convolution into a multi-dimensional neuron), and graphs nir
itself refuses.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

import nmgraph.processes as procs
from nmgraph._version import __version__
from nmgraph.core.errors import ValidationError
from nmgraph.core.hierarchy import Hierarchical
from nmgraph.core.network import Network
from nmgraph.processes.conv import conv_output_shape, conv_synapses
from nmgraph.tools.nir_graph import require_nir

__all__ = ["to_nir"]

_DECAY_UNIT = 4096


def to_nir(network: Network, dt: float | None = None, *, path: str | Path | None = None) -> Any:
    """The ``nir.NIRGraph`` of ``network`` at the step ``dt`` (seconds), written to ``path``
    (a ``.nir`` HDF5 file, through ``nir.write``) when given.

    Parameters
    ----------
    network
        An nmgraph Network of LIF, IF, LI, Dense, Sparse, Conv, SumPool2d, SpikeGenerator,
        PoissonSource and Hierarchical processes.
    dt
        The step in seconds (required: it sets every time constant, ``tau = 4096 dt / d``).
    path
        Where to write the file (optional).

    Returns
    -------
    nir.NIRGraph
        Type-checked by ``nir`` (every edge's shapes agree).

    Raises
    ------
    ValidationError
        A missing ``dt``, or a process NIR cannot express (see the module docstring).
    """
    nir = require_nir()
    if dt is None:
        raise ValidationError("to_nir", "dt", "is required: the step in seconds sets every time "
                              "constant (tau = 4096 dt / dv)")
    if isinstance(dt, bool) or not isinstance(dt, (int, float, np.integer, np.floating)) or \
            not math.isfinite(float(dt)) or float(dt) <= 0:
        raise ValidationError("to_nir", "dt", "must be a number of seconds > 0", dt)
    if not isinstance(network, Network):
        raise ValidationError("to_nir", "network", "must be an nmgraph Network", network)
    outputs = dict(getattr(getattr(network, "nir_report", None), "outputs", {}) or {})
    exporter = _Exporter(nir, float(dt))
    nodes, edges, _ = exporter.level(network, None)
    exporter.add_outputs(network, nodes, edges, outputs)
    # nir 1.0.8 derives a convolution's input type as (weight.shape[1], ...), ignoring groups:
    # its type check would refuse a correct grouped convolution
    try:
        graph = nir.NIRGraph(nodes=nodes, edges=edges, type_check=not exporter.grouped,
                             metadata={"exporter": f"nmgraph {__version__}", "dt": float(dt)})
    except Exception as error:      # nir's type inference raises ValueError, KeyError, ...
        raise ValidationError(network, "", f"nir {getattr(nir, 'version', '')} refuses the "
                              f"exported graph ({type(error).__name__}: {error})") from error
    if path is not None:
        try:
            nir.write(str(path), graph)
        except Exception as error:  # h5py and nir raise many kinds; name the file
            raise ValidationError(network, "path", f"nir could not write {path} "
                                  f"({type(error).__name__}: {error})") from error
    return graph


class _Exporter:
    def __init__(self, nir: Any, dt: float) -> None:
        self.nir, self.dt = nir, dt
        self.bias_home: dict[int, Any] = {}      # id(neuron) -> the synapse whose bias holds it
        self.gain: dict[int, float] = {}         # id(neuron) -> its input gain (dt r / tau ...)
        self.target: dict[int, Any] = {}         # id(synapse) -> the neuron it feeds
        self.absorbed: set[int] = set()          # SumPool2d whose weight is the target's gain
        self.grouped = False                     # a grouped convolution (NIR's types ignore groups)
        self.shapes: dict[int, tuple[tuple, tuple]] = {}  # id(synapse) -> its node's (in, out)

    # -- one level (a Network or a Hierarchical's children) -------------------------------------
    def level(self, network: Network, owner: Hierarchical | None
              ) -> tuple[dict, list, tuple[dict[str, str], dict[str, str]]]:
        """The nodes and edges of one level, and where each process's input enters and its
        output leaves (``(in_name, out_name)``, by process name)."""
        nodes: dict[str, Any] = {}
        edges: list[tuple[str, str]] = []
        out_name: dict[str, str] = {}     # process name -> the node its output leaves from
        in_name: dict[str, str] = {}      # process name -> the node its input enters
        self._place_gains(network)
        self._place_biases(network)
        for process in network.processes:
            name = process.name
            if isinstance(process, Hierarchical):
                sub_nodes, sub_edges, ends = self.level(process.children, process)
                self._exposures(process, sub_nodes, sub_edges, *ends)
                nodes[name] = self.nir.NIRGraph(nodes=sub_nodes, edges=sub_edges, type_check=False)
                out_name[name] = in_name[name] = name
            elif isinstance(process, procs.SourceProcess):
                if owner is not None:
                    raise ValidationError(process, "", "a source inside a hierarchical process "
                                          "cannot be exported (NIR inputs are the top graph's)")
                nodes[name] = self.nir.Input(input_type=np.array(process.shape))
                out_name[name] = name
            elif isinstance(process, procs.NeuronProcess) or _is_li(process):
                nodes[name] = self.neuron(process)
                out_name[name] = in_name[name] = name
            elif isinstance(process, (procs.LearningDense, procs.LearningSparse)):
                raise ValidationError(process, "", "a plastic synapse block has no NIR node (NIR "
                                      "describes trained networks): export a copy with its "
                                      "learned weights in a Dense or Sparse (rt.get(syn, "
                                      "'weights'))")
            elif isinstance(process, procs.SynapseProcess):
                chain = self.synapse(process)          # [(node name, node), ...] in order
                nodes.update(chain)
                edges += [(a, b) for (a, _), (b, _) in itertools.pairwise(chain)]
                in_name[name], out_name[name] = chain[0][0], chain[-1][0]
            else:
                raise ValidationError(process, "", f"a {type(process).__name__} has no NIR node "
                                      f"(export supports LIF, IF, LI, Dense, Sparse, Conv, "
                                      f"SumPool2d, sources and Hierarchical)")
        for connection in network.connections:
            src, dst = connection.src, connection.dst
            src_port, dst_port = src.port(connection.src_port), dst.port(connection.dst_port)
            a, b = out_name[src.name], in_name[dst.name]
            src_shape = self.shapes[id(src)][1] if id(src) in self.shapes else src_port.shape
            dst_shape = self.shapes[id(dst)][0] if id(dst) in self.shapes else dst_port.shape
            if tuple(src_shape) != tuple(dst_shape):
                flatten = self._flatten_name(dst, nodes)
                nodes[flatten] = self._flatten(src, src_shape, dst_shape, dst)
                edges += [(a, flatten), (flatten, b)]
            else:
                edges.append((a, b))
        return nodes, edges, (in_name, out_name)

    def _exposures(self, hier: Hierarchical, nodes: dict, edges: list,
                   entry_of: dict[str, str], exit_of: dict[str, str]) -> None:
        ins = [p for p in hier.ports.values() if p.direction == "in"]
        outs = [p for p in hier.ports.values() if p.direction == "out"]
        if len(ins) > 1 or len(outs) > 1:
            raise ValidationError(hier, "", f"exposes {len(ins)} input and {len(outs)} output "
                                  f"ports; a NIR sub-graph is entered and left by its name, so "
                                  f"export needs at most one of each")
        for port in ins:
            target = port.target
            nodes[port.name] = self.nir.Input(input_type=np.array(port.shape))
            edges.append((port.name, entry_of[target.process.name]))
        for port in outs:
            nodes[port.name] = self.nir.Output(output_type=np.array(port.shape))
            edges.append((exit_of[port.target.process.name], port.name))

    def add_outputs(self, network: Network, nodes: dict, edges: list,
                    outputs: dict[str, tuple]) -> None:
        """Output nodes: those of the import (by name) if the network came from NIR, else one
        per population that feeds nothing."""
        by_name = {p.qualified_name: p for p in network.all_processes()}
        if outputs:
            for key, (qualified, _, _) in outputs.items():
                top = qualified.split("/")[0]
                process = by_name.get(qualified)
                if process is None or top not in nodes:
                    continue
                shape = process.shape if not isinstance(process, Hierarchical) else None
                nodes[key] = self.nir.Output(output_type=np.array(shape))
                edges.append((top, key))
            return
        sources = {c.src.name for c in network.connections}
        for process in network.processes:
            if process.name in sources:
                continue
            if isinstance(process, Hierarchical):
                outs = [p for p in process.ports.values() if p.direction == "out"]
                if outs:
                    key = f"output_{process.name}"
                    nodes[key] = self.nir.Output(output_type=np.array(outs[0].shape))
                    edges.append((process.name, key))
            elif isinstance(process, procs.NeuronProcess) or _is_li(process):
                key = f"output_{process.name}"
                nodes[key] = self.nir.Output(output_type=np.array(process.shape))
                edges.append((process.name, key))

    # -- neurons --------------------------------------------------------------------------------
    def neuron(self, process: Any) -> Any:
        nir, dt = self.nir, self.dt
        if type(process) not in (procs.LIF, procs.IF) and not _is_li(process):
            raise ValidationError(process, "", f"a {type(process).__name__} has no NIR node "
                                  f"(NIR has LIF, CubaLIF, IF, LI, CubaLI, I and Threshold)")
        if getattr(process, "reset", "value") == "subtract":
            raise ValidationError(process, "reset", "'subtract' has no NIR equivalent (NIR's "
                                  "neurons reset to v_reset); export needs reset='value'")
        shape = process.shape
        full = {name: np.broadcast_to(var.value, shape).astype(np.float64)
                for name, var in process.vars.items()}
        bias = full["bias_mant"] * 2.0 ** full["bias_exp"] / 64.0
        kind = getattr(process, "_nir_type", None)
        c = self.gain.get(id(process), 1.0)
        if id(process) in self.bias_home:
            bias = np.zeros(shape)          # written as the bias of the synapse that feeds it
        v_reset = full.get("v_reset", np.zeros(shape)) / 64.0
        du = full.get("du", np.full(shape, _DECAY_UNIT - 1.0))
        dv = full.get("dv", np.zeros(shape))
        if _is_li(process):
            if np.all(du == _DECAY_UNIT - 1) and np.all(dv == 0):
                return nir.I(r=np.full(shape, c / dt))
            tau_mem = _tau(process, "dv", dv, dt, offset=0)
            if np.all(du == _DECAY_UNIT - 1):
                return nir.LI(tau=tau_mem, r=c * tau_mem / dt, v_leak=bias * tau_mem / dt)
            tau_syn = _tau(process, "du", du, dt, offset=1)
            return nir.CubaLI(tau_syn=tau_syn, tau_mem=tau_mem, r=c * tau_mem / dt,
                              v_leak=bias * tau_mem / dt, w_in=tau_syn / dt)
        vth = full["vth"]
        if isinstance(process, procs.IF) or (np.all(du == _DECAY_UNIT - 1) and np.all(dv == 0)
                                             and kind in (None, "IF")):
            return nir.IF(r=np.full(shape, c / dt), v_threshold=vth, v_reset=v_reset)
        if kind == "Threshold" and np.all(du == _DECAY_UNIT - 1) and np.all(dv == _DECAY_UNIT - 1):
            return nir.Threshold(threshold=vth)
        tau_mem = _tau(process, "dv", dv, dt, offset=0)
        if np.all(du == _DECAY_UNIT - 1):
            return nir.LIF(tau=tau_mem, r=c * tau_mem / dt, v_leak=bias * tau_mem / dt,
                           v_threshold=vth, v_reset=v_reset)
        tau_syn = _tau(process, "du", du, dt, offset=1)
        return nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=c * tau_mem / dt,
                           v_leak=bias * tau_mem / dt, v_threshold=vth, v_reset=v_reset,
                           w_in=tau_syn / dt)

    def _place_gains(self, network: Network) -> None:
        """A neuron fed by a SumPool2d of weight ``w`` (other than 1) gets the input gain ``w``
        (its ``r`` scaled by ``w``), so that the pool stays a plain SumPool2d; its other inputs'
        weights are divided by ``w``."""
        for c in network.connections:
            if isinstance(c.src, procs.SynapseProcess):
                self.target.setdefault(id(c.src), c.dst)
        for c in network.connections:
            pool, neuron = c.src, c.dst
            if not isinstance(pool, procs.SumPool2d) or id(neuron) in self.gain:
                continue
            if getattr(neuron, "_nir_type", None) == "Threshold" or isinstance(neuron, Hierarchical):
                continue
            self.gain[id(neuron)] = _pool_gain(pool)
        for c in network.connections:
            if isinstance(c.src, procs.SumPool2d) and id(c.dst) in self.gain:
                if _pool_gain(c.src) == self.gain[id(c.dst)]:
                    self.absorbed.add(id(c.src))

    def _gain_of_target(self, synapse: Any) -> float:
        target = self.target.get(id(synapse))
        return 1.0 if target is None else self.gain.get(id(target), 1.0)

    def _place_biases(self, network: Network) -> None:
        """Neurons with a bias but no v_leak (IF, I, Threshold, dv = 0) get it from the first
        Dense, Sparse or Conv that feeds them."""
        for process in network.processes:
            if not (isinstance(process, procs.NeuronProcess) or _is_li(process)):
                continue
            bias = np.asarray(process.bias_mant.value) * 2.0 ** np.asarray(process.bias_exp.value)
            if not np.any(bias):
                continue
            dv = np.asarray(process.vars["dv"].value) if "dv" in process.vars else np.zeros(1)
            du = np.asarray(process.vars["du"].value) if "du" in process.vars else None
            threshold = getattr(process, "_nir_type", None) == "Threshold"
            if not (isinstance(process, procs.IF) or np.any(dv == 0) or threshold):
                continue
            if du is not None and np.any(du != _DECAY_UNIT - 1):
                raise ValidationError(process, "bias_mant", "a bias with dv = 0 and a current "
                                      "decay has no NIR equivalent")
            feeders = [c.src for c in network.connections
                       if c.dst is process and isinstance(c.src, (procs.Dense, procs.Sparse,
                                                                  procs.Conv))
                       and not isinstance(c.src, procs.SumPool2d)]
            if not feeders:
                raise ValidationError(process, "bias_mant", "NIR's IF, I and Threshold have no "
                                      "bias: export needs a Dense, Sparse or Conv feeding this "
                                      "process to carry it")
            self.bias_home[id(process)] = feeders[0]
            self.bias_home[id(feeders[0])] = process

    # -- synapses -------------------------------------------------------------------------------
    def synapse(self, process: Any) -> list[tuple[str, Any]]:
        """The chain of ``(name, node)`` a synapse process becomes, in order: an optional
        per-source Delay, the weight node, a Scale after a SumPool2d whose weight is not 1, an
        optional per-target Delay."""
        pre, main, post = self._synapse_parts(process)
        return [part for part in (pre, *main, post) if part[1] is not None]

    def _synapse_parts(self, process: Any) -> tuple[tuple[str, Any], list, tuple[str, Any]]:
        nir, dt, name = self.nir, self.dt, process.name
        names = getattr(process, "_nir_names", {})
        weight_exp = process.weight_exp
        pre_delay, post_delay = self._delays(process)
        pre = (names.get("pre_delay", f"{name}__pre_delay"),
               None if pre_delay is None else nir.Delay(delay=pre_delay * dt))
        post = (names.get("post_delay", f"{name}__delay"),
                None if post_delay is None else nir.Delay(delay=post_delay * dt))
        target = self.bias_home.get(id(process))
        c = self._gain_of_target(process)
        bias_units = None
        if target is not None:
            bias_units = (np.broadcast_to(target.bias_mant.value, target.shape) *
                          2.0 ** np.broadcast_to(target.bias_exp.value, target.shape) / 64.0 / c)
        if isinstance(process, procs.SumPool2d):
            kernel = np.array(process.kernel_size)
            pads = process.padding
            if any(a != b for a, b in pads):
                raise ValidationError(process, "padding", "asymmetric padding has no NIR "
                                      "equivalent")
            cls = nir.AvgPool2d if getattr(process, "_nir_type", None) == "AvgPool2d" else \
                nir.SumPool2d
            node = cls(kernel_size=kernel, stride=np.array(process.stride),
                       padding=np.array([a for a, _ in pads]))
            value = _pool_gain(process)
            if value == 1.0 or id(process) in self.absorbed:
                return pre, [(name, node)], post
            scale = nir.Scale(scale=np.full(process.output_shape, value / c))
            return pre, [(name, node), (f"{name}__scale", scale)], post
        if isinstance(process, procs.Conv):
            weight = process.effective_weights().astype(np.float64) * 2.0**weight_exp / c
            self.grouped = self.grouped or process.groups > 1
            pads = process.padding
            if any(a != b for a, b in pads):
                raise ValidationError(process, "padding", "asymmetric padding has no NIR "
                                      "equivalent (NIR pads both sides alike)")
            padding = process.constructor_args()["padding"]
            if not isinstance(padding, str):
                padding = tuple(a for a, _ in pads)
            node = self._conv_node(weight, process.input_shape[1:], process.stride, padding,
                                   process.dilation, process.groups, bias_units, target)
            return pre, [(name, node)], post
        composed = self._composed_conv(process, c, bias_units, target)
        if composed is not None:          # one delay for every synapse (checked)
            delay = np.asarray(process.delay.value).reshape(-1)
            steps = int(delay[0]) - 1 if delay.size else 0
            post = (post[0], None if steps <= 0 else
                    nir.Delay(delay=np.full(self.shapes[id(process)][1], steps * dt)))
            return (pre[0], None), [(name, composed)], post
        scale = self._diagonal_scale(process, c, bias_units)
        if scale is not None:
            return pre, [(name, scale)], post
        if isinstance(process, procs.Sparse):
            matrix = np.zeros(process.shape)
            matrix[process.rows, process.cols] = process.effective_weights()
        else:
            matrix = process.effective_weights().astype(np.float64)
        matrix = matrix * 2.0**weight_exp / c
        if bias_units is not None or getattr(process, "_nir_type", None) == "Affine":
            bias = np.zeros(matrix.shape[0]) if bias_units is None else bias_units.reshape(-1)
            return pre, [(name, nir.Affine(weight=matrix, bias=bias))], post
        return pre, [(name, nir.Linear(weight=matrix))], post

    def _conv_node(self, weight: np.ndarray, spatial: tuple[int, ...], stride: Any,
                   padding: Any, dilation: Any, groups: int, bias_units: np.ndarray | None,
                   target: Any) -> Any:
        """A Conv1d or Conv2d node; a neuron bias placed here becomes its per-channel bias."""
        bias = np.zeros(weight.shape[0])
        if bias_units is not None:
            per_channel = bias_units.reshape(weight.shape[0], -1)
            if np.any(per_channel != per_channel[:, :1]):
                raise ValidationError(target, "bias_mant", "differs within a channel; a "
                                      "convolution's bias is one per output channel")
            bias = per_channel[:, 0]
        cls = self.nir.Conv1d if len(spatial) == 1 else self.nir.Conv2d
        return cls(input_shape=spatial[0] if len(spatial) == 1 else tuple(spatial),
                   weight=weight, stride=_one_or_tuple(stride),
                   padding=padding if isinstance(padding, str) else _one_or_tuple(padding),
                   dilation=_one_or_tuple(dilation), groups=groups, bias=bias)

    def _composed_conv(self, process: Any, c: float, bias_units: np.ndarray | None,
                       target: Any) -> Any:
        """The one convolution a fused block of convolutions and poolings computes (an import
        fuses ``SumPool2d -> Conv2d`` between two neuron layers into one ``Sparse``), or None
        when its integers are not exactly a convolution (a pool that drops a border, asymmetric
        padding, delays that vary).

        The composed geometry of steps ``(k_i, s_i, p_i, d_i)`` is ``K = 1 + sum d_i (k_i - 1)
        S_{i-1}``, ``P = sum p_i S_{i-1}``, ``S = prod s_i`` per axis (receptive-field
        arithmetic); its kernel is read off the block's synapses and the block is rebuilt
        from it to check that every synapse matches."""
        chain = getattr(process, "_nir_chain", None)
        if chain is None or not isinstance(process, procs.Sparse):
            return None
        in_shape, out_shape = tuple(chain["in_shape"]), tuple(chain["out_shape"])
        if process.shape != (math.prod(out_shape), math.prod(in_shape)):
            return None
        delay = np.asarray(process.delay.value)
        if delay.size and np.any(delay != delay.reshape(-1)[0]):
            return None
        n = len(in_shape) - 1
        size, step, pads = [1] * n, [1] * n, [[0, 0] for _ in range(n)]
        for kernel, stride, pad, dilation in chain["steps"]:
            for i in range(n):
                size[i] += dilation[i] * (kernel[i] - 1) * step[i]
                pads[i][0] += pad[i][0] * step[i]
                pads[i][1] += pad[i][1] * step[i]
                step[i] *= stride[i]
        if any(a != b for a, b in pads) or conv_output_shape(
                in_shape[1:], tuple(size), tuple(step), tuple(map(tuple, pads)),
                (1,) * n) != out_shape[1:]:
            return None
        rows, cols = np.asarray(process.rows), np.asarray(process.cols)
        values = process.effective_weights().astype(np.float64).reshape(-1)
        out_index = np.unravel_index(rows, out_shape)
        in_index = np.unravel_index(cols, in_shape)
        taps = [in_index[i + 1] - step[i] * out_index[i + 1] + pads[i][0] for i in range(n)]
        if any(np.any((t < 0) | (t >= size[i])) for i, t in enumerate(taps)):
            return None
        kernel = np.zeros((out_shape[0], in_shape[0], *size))
        kernel[(out_index[0], in_index[0], *taps)] = values
        pre, post, rebuilt = conv_synapses(kernel, in_shape, out_shape, tuple(step),
                                           tuple(map(tuple, pads)), (1,) * n, 1)
        shape = process.shape
        difference = (sp.csr_matrix((rebuilt, (post, pre)), shape=shape) -
                      sp.csr_matrix((values, (rows, cols)), shape=shape))
        difference.eliminate_zeros()
        if difference.nnz:
            return None
        self.shapes[id(process)] = (in_shape, out_shape)
        weight = kernel * 2.0**process.weight_exp / c
        return self._conv_node(weight, in_shape[1:], tuple(step), tuple(p for p, _ in pads),
                               (1,) * n, 1, bias_units, target)

    def _diagonal_scale(self, process: Any, c: float, bias_units: np.ndarray | None) -> Any:
        """A ``Scale`` for a one-to-one block into a multi-dimensional neuron (a neuron or Input
        feeding a neuron directly, possibly through a partial Flatten): NIR's Scale keeps the
        target's shape where a Linear would flatten it. None for other blocks."""
        target = self.target.get(id(process))
        if target is None or bias_units is not None or not isinstance(process, procs.Sparse) or \
                len(tuple(target.shape)) < 2 or process.shape[0] != process.shape[1]:
            return None
        rows, cols = np.asarray(process.rows), np.asarray(process.cols)
        delay = np.asarray(process.delay.value)
        if np.any(rows != cols) or (delay.size and np.any(delay != 1)):
            return None
        scale = np.zeros(process.shape[0])
        scale[rows] = process.effective_weights().astype(np.float64).reshape(-1)
        shape = tuple(target.shape)
        self.shapes[id(process)] = (shape, shape)
        return self.nir.Scale(scale=(scale * 2.0**process.weight_exp / c).reshape(shape))

    def _delays(self, process: Any) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Extra steps (``delay - 1``) as a per-target Delay (after the synapse) or a per-source
        one (before), or neither."""
        delay = np.asarray(process.delay.value, dtype=np.int64)
        if delay.size == 0 or np.all(delay == 1):
            return None, None
        n_post, n_pre = process.shape
        if isinstance(process, procs.Conv):          # one delay for every synapse
            return None, np.full(process.output_shape, int(delay.reshape(-1)[0]) - 1)
        if isinstance(process, procs.Sparse):
            dense = np.full((n_post, n_pre), -1, dtype=np.int64)
            dense[process.rows, process.cols] = delay.reshape(-1) if delay.ndim else delay
        else:
            weights = process.effective_weights()
            dense = np.where(weights != 0, np.broadcast_to(delay, (n_post, n_pre)), -1)
        used = dense >= 0
        big = np.iinfo(np.int64).max
        for axis in (1, 0):    # one delay per target (a post Delay), else one per source (pre)
            low = np.where(used, dense, big).min(axis=axis)
            high = np.where(used, dense, -1).max(axis=axis)
            if np.all((high < 0) | (low == high)):
                per_unit = np.where(high < 0, 0, low - 1)
                return (None, per_unit) if axis == 1 else (per_unit, None)
        # delay - 1 = pre[j] + post[i]: the smallest per source, the rest per target
        extra = np.where(used, dense - 1, np.iinfo(np.int64).max)
        pre = extra.min(axis=0)
        pre[pre == np.iinfo(np.int64).max] = 0
        rest = np.where(used, dense - 1 - pre[None, :], -1)
        post = rest.max(axis=1)
        if np.all(~used | (rest == post[:, None])):
            return pre, np.maximum(post, 0)
        raise ValidationError(process, "delay", "delays that vary within a target and within a "
                              "source have no NIR equivalent (a Delay acts per element)")

    def _flatten_name(self, dst: Any, nodes: dict) -> str:
        name = getattr(dst, "_nir_names", {}).get("flatten", f"{dst.name}__flatten")
        base, k = name, 2
        while name in nodes:
            name, k = f"{base}_{k}", k + 1
        return name

    def _flatten(self, src: Any, shape_in: tuple, shape_out: tuple, dst: Any) -> Any:
        """A Flatten of dims ``start_dim .. end_dim`` (C order) that turns ``shape_in`` into
        ``shape_out``, the widest one when several do."""
        shape_in, shape_out = tuple(shape_in), tuple(shape_out)
        for start, end in sorted(((a, b) for a in range(len(shape_in))
                                  for b in range(a, len(shape_in))), key=lambda d: d[0] - d[1]):
            merged = (*shape_in[:start], math.prod(shape_in[start:end + 1]), *shape_in[end + 1:])
            if merged == shape_out:
                return self.nir.Flatten(input_type={"input": np.array(shape_in)},
                                        start_dim=start, end_dim=end if end < len(shape_in) - 1
                                        else -1)
        raise ValidationError(dst, "", f"receives {src.name}'s {shape_in} as {shape_out}: NIR "
                              f"reshapes only by flattening dims (Flatten's start_dim..end_dim)")


def _pool_gain(pool: Any) -> float:
    """The factor a pool's NIR node needs after it: its effective weight (times ``kH kW`` for
    one imported from an AvgPool2d, which divides by it)."""
    value = float(pool.effective_weights().reshape(-1)[0]) * 2.0**pool.weight_exp
    if getattr(pool, "_nir_type", None) == "AvgPool2d":
        value *= math.prod(pool.kernel_size)
    return value


def _is_li(process: Any) -> bool:
    li = getattr(procs, "LI", None)
    return li is not None and type(process) is li


def _tau(process: Any, name: str, decay: np.ndarray, dt: float, *, offset: int) -> np.ndarray:
    decay = np.asarray(decay, dtype=np.float64)
    if np.any(decay + offset == 0):
        raise ValidationError(process, name, f"{name} = 0 (no leak) has no finite NIR time "
                              f"constant here; use IF for a neuron without leak")
    return _DECAY_UNIT * dt / (decay + offset)


def _one_or_tuple(values: Any) -> Any:
    values = tuple(int(v) for v in np.asarray(values).reshape(-1))
    return values[0] if len(values) == 1 else values
