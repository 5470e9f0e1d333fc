"""A float NumPy reference of NIR graphs, written independently of nmgraph's importer.

Each NIR node is integrated with forward Euler at the step ``dt``, as NIR's own reference
implementation (``paper/03_rnn/extras/debug_CubaLIF/nir_reference_impl.py`` in
neuromorphs/NIR: ``I = I + dt/tau_syn (-I + w_in x)``, ``v = v + dt/tau_mem (v_leak - v + r I)``,
``z = v > v_threshold``), with the equations of the node classes of nir 1.0.8
(``nir/ir/neuron.py``, ``linear.py``, ``conv.py``, ``pooling.py``, ``flatten.py``,
``delay.py``, ``threshold.py``):

- LIF:      ``v += dt/tau (v_leak - v + r x)``; spike ``v > v_threshold``; reset
- CubaLIF:  ``I' = I + dt/tau_syn (-I + w_in x)``; ``v += dt/tau_mem (v_leak - v + r J)``
            with ``J = I'`` (``cuba_order="sequential"``) or ``J = I`` (``"euler"``)
- IF:       ``v += dt r x``;  I: ``v += dt r x`` (no spike);  LI, CubaLI: as LIF, CubaLIF
            without spikes;  Threshold: ``z = x > threshold``
- Affine ``W x + b``, Linear ``W x``, Scale ``s x``, Flatten (C order), Conv1d/Conv2d
  (PyTorch's cross-correlation, ``padding="same"`` split as PyTorch), SumPool2d, AvgPool2d
  (``SumPool2d / (kH kW)``), Delay (``x(t - round(delay / dt))`` per element)
- reset: ``v = v_reset`` (``reset="value"``) or ``v -= v_threshold`` (``"subtract"``)

**The convention of nmgraph's import (one step per synapse layer).** NIR's edges are
instantaneous; here, as in nmgraph, a neuron node at step ``t`` receives the outputs of the
spiking nodes (and Inputs) upstream of it *at step* ``t - 1``, carried through the linear nodes
in between. An Input emits row ``k`` of its raster at step ``k + 1`` (nmgraph's SpikeGenerator).
Steps are counted from 1.

``run`` returns, for every neuron node (by dotted key), its spikes ``(steps, n)`` (bool) or, for
LI, CubaLI and I, its voltage; ``self.v`` holds every neuron node's voltage per step.
"""

from __future__ import annotations

import math

import nir
import numpy as np

NEURONS = ("LIF", "CubaLIF", "IF", "Threshold", "LI", "CubaLI", "I")
READOUTS = ("LI", "CubaLI", "I")


def _flatten(graph, prefix=""):
    """Nodes by dotted key (sub-graph Input/Output nodes become identity nodes "Pass") and
    edges between those keys."""
    nodes, edges = {}, []

    def resolve(g, pre, name, role):
        if name in g.nodes:
            node = g.nodes[name]
            if isinstance(node, nir.NIRGraph):
                kind = nir.Output if role == "src" else nir.Input
                (end,) = [k for k, n in node.nodes.items() if isinstance(n, kind)]
                return f"{pre}{name}.{end}"
            return f"{pre}{name}"
        head, rest = name.split(".", 1)
        return resolve(g.nodes[head], f"{pre}{head}.", rest, role)

    def walk(g, pre):
        for name, node in g.nodes.items():
            if isinstance(node, nir.NIRGraph):
                walk(node, f"{pre}{name}.")
            elif pre and isinstance(node, (nir.Input, nir.Output)):
                nodes[f"{pre}{name}"] = ("Pass", None)
            else:
                nodes[f"{pre}{name}"] = (type(node).__name__, node)
        for a, b in g.edges:
            edges.append((resolve(g, pre, a, "src"), resolve(g, pre, b, "dst")))

    walk(graph, prefix)
    return nodes, edges


def _pairs(value, n):
    array = np.asarray(value).reshape(-1)
    if array.size == 1:
        array = np.repeat(array, n)
    return [int(v) for v in array]


def correlate(x, weight, stride, padding, dilation, groups):
    """PyTorch-style grouped cross-correlation of ``x`` (C_in, *spatial) with ``weight``
    (C_out, C_in / groups, *kernel), by kernel taps over a zero-padded copy."""
    nd = weight.ndim - 2
    kernel = weight.shape[2:]
    stride, dilation = _pairs(stride, nd), _pairs(dilation, nd)
    if isinstance(padding, bytes):
        padding = padding.decode()
    if isinstance(padding, np.ndarray) and padding.dtype.kind in "SUO":
        padding = str(padding.reshape(-1)[0].decode() if isinstance(padding.reshape(-1)[0], bytes)
                      else padding.reshape(-1)[0])
    if isinstance(padding, str):
        if padding == "valid":
            pads = [(0, 0)] * nd
        else:
            pads = [(d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2) for k, d in zip(kernel, dilation)]
    else:
        pads = [(p, p) for p in _pairs(padding, nd)]
    padded = np.pad(x, [(0, 0), *pads])
    spatial = padded.shape[1:]
    out_sp = [(n - d * (k - 1) - 1) // s + 1 for n, k, s, d in zip(spatial, kernel, stride, dilation)]
    c_out, per_group = weight.shape[:2]
    out_per_group = c_out // groups
    out = np.zeros((c_out, *out_sp))
    for tap in np.ndindex(*kernel):
        index = tuple(slice(k * d, k * d + s * (n - 1) + 1, s)
                      for k, d, s, n in zip(tap, dilation, stride, out_sp))
        window = padded[(slice(None), *index)]          # (C_in, *out_sp)
        for g in range(groups):
            w = weight[(slice(g * out_per_group, (g + 1) * out_per_group), slice(None), *tap)]
            part = window[g * per_group:(g + 1) * per_group]
            out[g * out_per_group:(g + 1) * out_per_group] += np.tensordot(w, part, axes=(1, 0))
    return out


class NirReference:
    """Run a NIR graph in float with forward Euler and nmgraph's per-synapse-layer step."""

    def __init__(self, graph, dt, *, reset="value", cuba_order="sequential"):
        self.dt, self.reset, self.cuba_order = dt, reset, cuba_order
        self.nodes, self.edges = _flatten(graph)
        self.preds = {k: [a for a, b in self.edges if b == k] for k in self.nodes}
        self.shapes = {}

    # -- linear nodes --------------------------------------------------------------------------
    def _apply(self, key, x, in_shape):
        kind, node = self.nodes[key]
        if kind in ("Pass", "Output"):
            return x, in_shape
        if kind == "Flatten":
            start, end = int(node.start_dim) % len(in_shape), int(node.end_dim) % len(in_shape)
            shape = (*in_shape[:start], math.prod(in_shape[start:end + 1]), *in_shape[end + 1:])
            return x, shape
        if kind == "Scale":
            return x * np.asarray(node.scale, float).reshape(-1), in_shape
        if kind in ("Affine", "Linear"):
            y = np.asarray(node.weight, float) @ x
            if kind == "Affine":
                y = y + np.asarray(node.bias, float).reshape(-1)
            return y, (y.size,)
        if kind in ("Conv1d", "Conv2d"):
            y = correlate(x.reshape(in_shape), np.asarray(node.weight, float), node.stride,
                          node.padding, node.dilation, int(np.asarray(node.groups).reshape(-1)[0]))
            bias = np.asarray(node.bias, float).reshape(-1)
            y = y + bias.reshape((-1,) + (1,) * (y.ndim - 1))
            return y.reshape(-1), y.shape
        if kind in ("SumPool2d", "AvgPool2d"):
            kernel = _pairs(node.kernel_size, 2)
            c = in_shape[0]
            ones = np.ones((c, 1, *kernel))
            if kind == "AvgPool2d":
                ones /= kernel[0] * kernel[1]
            y = correlate(x.reshape(in_shape), ones, node.stride, node.padding, 1, c)
            return y.reshape(-1), y.shape
        raise ValueError(f"not a linear node: {kind} {key}")

    # -- running -------------------------------------------------------------------------------
    def run(self, inputs, steps):
        dt = self.dt
        neurons = {k: v for k, v in self.nodes.items() if v[0] in NEURONS}
        state = {}
        for key, (_, node) in neurons.items():
            p = {name: np.asarray(getattr(node, name), float).reshape(-1)
                 for name in ("tau", "tau_mem", "tau_syn", "r", "v_leak", "v_threshold", "v_reset",
                              "w_in", "threshold") if getattr(node, name, None) is not None}
            n = next(iter(p.values())).size
            state[key] = {"p": p, "v": np.zeros(n), "I": np.zeros(n), "n": n}
        out = {}          # spiking node / input -> (steps + 1, n) outputs, row t = step t
        for key, (kind, node) in self.nodes.items():
            if kind == "Input":
                raster = np.asarray(inputs[key], float).reshape(len(inputs[key]), -1)
                rows = np.zeros((steps + 1, raster.shape[1]))
                k = min(steps, raster.shape[0])
                rows[1:k + 1] = raster[:k]
                out[key] = rows
                self.shapes[key] = tuple(int(s) for s in np.asarray(node.input_type["input"]))
            elif kind in NEURONS:
                out[key] = np.zeros((steps + 1, state[key]["n"]))
        v_trace = {key: np.zeros((steps + 1, s["n"])) for key, s in state.items()}
        delay_in = {}     # Delay node -> history of its input, row t = step t

        def value(key, t):
            """The output of ``key`` as seen by a neuron updating at step ``t``."""
            kind, node = self.nodes[key]
            if kind == "Input" or kind in NEURONS:
                if kind in READOUTS:
                    raise ValueError(f"{key}: a readout feeds a linear node")
                shape = self.shapes.get(key) or (out[key].shape[1],)
                return out[key][t - 1], shape
            if kind == "Delay":
                x, shape = summed(key, t)
                history = delay_in.setdefault(key, np.zeros((steps + 1, x.size)))
                history[t] = x
                lag = np.rint(np.asarray(node.delay, float).reshape(-1) / dt).astype(int)
                lag = np.broadcast_to(lag, (x.size,))
                rows = t - lag
                y = np.where(rows >= 1, history[np.maximum(rows, 0), np.arange(x.size)], 0.0)
                return y, shape
            x, shape = summed(key, t)
            return self._apply(key, x, shape)

        cache = {}

        def summed(key, t):
            if (key, t) in cache:
                return cache[(key, t)]
            total, shape = None, None
            for pred in self.preds[key]:
                x, s = value(pred, t)
                total = x.copy() if total is None else total + x
                shape = s
            cache[(key, t)] = (total, shape)
            return total, shape

        for key, (kind, node) in neurons.items():
            self.shapes[key] = tuple(int(s) for s in np.shape(getattr(node, "threshold", None)
                                                              if kind == "Threshold" else
                                                              node.r))
        for t in range(1, steps + 1):
            cache.clear()
            inputs_t = {}
            for key in neurons:
                x, _ = summed(key, t)
                inputs_t[key] = np.zeros(state[key]["n"]) if x is None else x
            for key, (kind, _) in neurons.items():
                s, p, x = state[key], state[key]["p"], inputs_t[key]
                if kind in ("LIF", "LI"):
                    s["v"] = s["v"] + dt / p["tau"] * (p["v_leak"] - s["v"] + p["r"] * x)
                elif kind in ("CubaLIF", "CubaLI"):
                    w_in = p.get("w_in", 1.0)
                    current = s["I"] + dt / p["tau_syn"] * (-s["I"] + w_in * x)
                    used = current if self.cuba_order == "sequential" else s["I"]
                    s["v"] = s["v"] + dt / p["tau_mem"] * (p["v_leak"] - s["v"] + p["r"] * used)
                    s["I"] = current
                elif kind in ("IF", "I"):
                    s["v"] = s["v"] + dt * p["r"] * x
                elif kind == "Threshold":
                    s["v"] = x.copy()
                if kind in READOUTS:
                    out[key][t] = s["v"]
                    v_trace[key][t] = s["v"]
                    continue
                threshold = p["threshold"] if kind == "Threshold" else p["v_threshold"]
                spike = s["v"] > threshold
                v_trace[key][t] = s["v"]
                if kind != "Threshold":
                    if self.reset == "value":
                        s["v"] = np.where(spike, p.get("v_reset", 0.0), s["v"])
                    else:
                        s["v"] = np.where(spike, s["v"] - threshold, s["v"])
                    v_trace[key][t] = s["v"]
                out[key][t] = spike
        self.v = {key: trace[1:] for key, trace in v_trace.items()}
        return {key: (out[key][1:] if kind in READOUTS else out[key][1:].astype(bool))
                for key, (kind, _) in neurons.items()}


# -- running the imported network and comparing ---------------------------------------------------

def run_nmgraph(net, steps, backend="reference", record_v=()):
    """Run an imported network; ``(spikes {process qualified name: (steps, n) bool},
    voltages {name: (steps, n) int})`` for every population and the recorded ``v``s."""
    import nmgraph as nm

    if backend == "reference":
        runtime = nm.Runtime(net, backend="reference")
    else:
        runtime = nm.Runtime(nm.compile(net, hardware="loihi1"), backend="multicore", workers=2)
    with runtime as rt:
        monitors = {name: rt.record(name, "v") for name in record_v}
        rt.run(steps)
        spikes = {}
        for process in net.all_processes():
            if hasattr(process, "s_out") and not hasattr(process, "children"):
                name = process.qualified_name
                spikes[name] = _dense(rt.spikes(name), steps, process)
        voltages = {name: m.values for name, m in monitors.items()}
    return spikes, voltages


def _dense(events, steps, process):
    n = int(np.prod(process.shape))
    dense = np.zeros((steps, n), dtype=bool)
    dense[np.asarray(events.times) - 1, np.asarray(events.indices)] = True
    return dense


def first_spikes(raster):
    """Step index (from 0) of each neuron's first spike, -1 if none."""
    raster = np.asarray(raster, bool)
    first = np.argmax(raster, axis=0)
    return np.where(raster.any(axis=0), first, -1)


# -- example graphs: every node type and NIR's test architectures ---------------------------------

DT = 1e-4


def _lif(n, tau=1e-3, thr=1.0, leak=0.0, reset=None, gain=1.0):
    """A LIF layer with snnTorch's convention r = tau / dt (input gain ``gain`` per step)."""
    kwargs = {} if reset is None else {"v_reset": np.full(n, reset)}
    return nir.LIF(tau=np.full(n, tau), r=np.full(n, gain * tau / DT), v_leak=np.full(n, leak),
                   v_threshold=np.full(n, thr), **kwargs)


def _cuba(n, thr=1.0):
    return nir.CubaLIF(tau_syn=np.full(n, 5e-4), tau_mem=np.full(n, 1e-3), r=np.full(n, 10.0),
                       v_leak=np.zeros(n), v_threshold=np.full(n, thr), w_in=np.full(n, 1.0))


def _weights(rng, n_out, n_in, mean=0.3, sd=0.5):
    return rng.normal(mean, sd, size=(n_out, n_in))


def _conv2d(rng, c_out, c_in, k, **kwargs):
    kwargs.setdefault("stride", 1)
    kwargs.setdefault("padding", 0)
    kwargs.setdefault("dilation", 1)
    kwargs.setdefault("groups", 1)
    groups = kwargs["groups"]
    weight = rng.normal(0.15, 0.3, size=(c_out, c_in // groups, k, k))
    bias = kwargs.pop("bias", np.zeros(c_out))
    return nir.Conv2d(input_shape=kwargs.pop("input_shape"), weight=weight, bias=bias, **kwargs)


def example_graphs(seed=0):
    """``{name: (graph, {input name: shape})}``: one graph per node type and NIR's test
    architectures (residual, branching, recurrent, nested), built with the ``nir`` package."""
    rng = np.random.default_rng(seed)
    g = {}
    g["lif"] = nir.NIRGraph.from_list(nir.Linear(weight=_weights(rng, 12, 8)), _lif(12))
    g["lif_leak"] = nir.NIRGraph.from_list(nir.Linear(weight=_weights(rng, 12, 8)),
                                           _lif(12, leak=0.8, tau=2e-3))
    g["affine"] = nir.NIRGraph.from_list(
        nir.Affine(weight=_weights(rng, 12, 8), bias=rng.normal(0.02, 0.05, size=12)), _lif(12))
    g["linear_chain"] = nir.NIRGraph.from_list(
        nir.Linear(weight=_weights(rng, 10, 8)), nir.Linear(weight=_weights(rng, 12, 10, 0.1, 0.3)),
        _lif(12))
    g["scale"] = nir.NIRGraph.from_list(
        nir.Scale(scale=rng.uniform(0.5, 1.5, size=8)), nir.Linear(weight=_weights(rng, 12, 8)),
        nir.Scale(scale=rng.uniform(0.5, 1.5, size=12)), _lif(12))
    g["delay"] = nir.NIRGraph.from_list(
        nir.Delay(delay=rng.integers(0, 4, size=8) * DT), nir.Linear(weight=_weights(rng, 12, 8)),
        nir.Delay(delay=rng.integers(0, 3, size=12) * DT), _lif(12))
    g["cubalif"] = nir.NIRGraph.from_list(nir.Linear(weight=_weights(rng, 12, 8)), _cuba(12))
    g["if"] = nir.NIRGraph.from_list(nir.Linear(weight=_weights(rng, 12, 8)),
                                     nir.IF(r=np.full(12, 1 / DT), v_threshold=np.full(12, 2.0)))
    g["threshold"] = nir.NIRGraph.from_list(nir.Linear(weight=_weights(rng, 12, 8)),
                                            nir.Threshold(threshold=np.full(12, 0.6)))
    g["li"] = nir.NIRGraph.from_list(
        nir.Linear(weight=_weights(rng, 10, 8)), _lif(10),
        nir.Linear(weight=_weights(rng, 4, 10)),
        nir.LI(tau=np.full(4, 2e-3), r=np.full(4, 20.0), v_leak=np.zeros(4)))
    g["cubali"] = nir.NIRGraph.from_list(
        nir.Linear(weight=_weights(rng, 4, 8)),
        nir.CubaLI(tau_syn=np.full(4, 5e-4), tau_mem=np.full(4, 2e-3), r=np.full(4, 20.0),
                   v_leak=np.zeros(4), w_in=np.full(4, 1.0)))
    g["i"] = nir.NIRGraph.from_list(nir.Linear(weight=_weights(rng, 4, 8, 0.3, 0.2)),
                                    nir.I(r=np.full(4, 1 / DT)))
    g["conv2d"] = nir.NIRGraph.from_list(
        _conv2d(rng, 4, 2, 3, input_shape=(8, 8), padding=1, bias=rng.normal(0, 0.02, 4)),
        _lif(4 * 64, tau=1e-3).__class__(**{k: v.reshape(4, 8, 8) for k, v in
                                           _asdict(_lif(4 * 64)).items()}),
        nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        nir.IF(r=np.full((4, 4, 4), 1 / DT), v_threshold=np.full((4, 4, 4), 1.5)),
        nir.Flatten(input_type={"input": np.array([4, 4, 4])}, start_dim=0),
        nir.Linear(weight=_weights(rng, 5, 64, 0.05, 0.2)), _lif(5))
    g["conv2d_geometry"] = nir.NIRGraph.from_list(
        nir.Input(input_type=np.array([2, 9, 9])),  # NIR's Conv2d input_type ignores groups
        _conv2d(rng, 4, 2, 3, input_shape=(9, 9), stride=2, dilation=2, groups=2, padding=2),
        nir.IF(r=np.full((4, 5, 5), 1 / DT), v_threshold=np.full((4, 5, 5), 1.0)),
        _conv2d(rng, 4, 4, 3, input_shape=(5, 5), padding="same"),
        nir.IF(r=np.full((4, 5, 5), 1 / DT), v_threshold=np.full((4, 5, 5), 1.0)),
        nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([1, 1]), padding=np.array([0, 0])),
        nir.IF(r=np.full((4, 4, 4), 1 / DT), v_threshold=np.full((4, 4, 4), 0.5)),
        type_check=False)
    g["conv1d"] = nir.NIRGraph.from_list(
        nir.Conv1d(input_shape=12, weight=rng.normal(0.2, 0.3, size=(3, 2, 3)), stride=1,
                   padding=1, dilation=1, groups=1, bias=np.zeros(3)),
        nir.IF(r=np.full((3, 12), 1 / DT), v_threshold=np.full((3, 12), 1.0)))
    # NIR's test architectures (tests/test_architectures.py): residual, branching, recurrent
    a, c, e = _weights(rng, 10, 8), _weights(rng, 6, 10), _weights(rng, 6, 8, 0.1)
    g["residual"] = nir.NIRGraph(nodes={
        "input": nir.Input(input_type=np.array([8])), "a": nir.Linear(weight=a), "b": _lif(10),
        "c": nir.Linear(weight=c), "d": _lif(6), "e": nir.Linear(weight=e), "f": _lif(6),
        "output": nir.Output(output_type=np.array([6]))},
        edges=[("input", "a"), ("a", "b"), ("b", "c"), ("c", "d"), ("d", "f"), ("input", "e"),
               ("e", "f"), ("f", "output")])
    g["branching"] = nir.NIRGraph(nodes={
        "input": nir.Input(input_type=np.array([8])), "a": nir.Linear(weight=_weights(rng, 10, 8)),
        "b": _lif(10), "c": _lif(10, tau=3e-3), "d": nir.Linear(weight=_weights(rng, 6, 10)),
        "e": nir.Linear(weight=_weights(rng, 6, 10)), "f": _lif(6),
        "out_b": nir.Output(output_type=np.array([10])), "out_f": nir.Output(output_type=np.array([6]))},
        edges=[("input", "a"), ("a", "b"), ("a", "c"), ("b", "d"), ("c", "e"), ("d", "f"),
               ("e", "f"), ("b", "out_b"), ("f", "out_f")])
    w_rec = rng.normal(0.0, 0.3, size=(10, 10))
    g["recurrent"] = nir.NIRGraph(nodes={
        "input": nir.Input(input_type=np.array([8])), "fc": nir.Linear(weight=_weights(rng, 10, 8)),
        "lif": _lif(10), "w_rec": nir.Linear(weight=w_rec), "output": nir.Output(output_type=np.array([10]))},
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")])
    # nested: snnTorch's RSynaptic layout (a sub-graph input -> CubaLIF <-> w_rec -> output)
    sub = nir.NIRGraph(nodes={
        "input": nir.Input(input_type=np.array([10])), "lif": _cuba(10),
        "w_rec": nir.Linear(weight=rng.normal(0.0, 0.3, size=(10, 10))),
        "output": nir.Output(output_type=np.array([10]))},
        edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")])
    g["nested"] = nir.NIRGraph(nodes={
        "input": nir.Input(input_type=np.array([8])), "fc1": nir.Linear(weight=_weights(rng, 10, 8)),
        "rsyn": sub, "fc2": nir.Linear(weight=_weights(rng, 4, 10)), "lif2": _lif(4),
        "output": nir.Output(output_type=np.array([4]))},
        edges=[("input", "fc1"), ("fc1", "rsyn"), ("rsyn", "fc2"), ("fc2", "lif2"), ("lif2", "output")])
    return {name: (graph, {key: tuple(int(s) for s in np.asarray(node.input_type["input"]))
                           for key, node in graph.nodes.items() if isinstance(node, nir.Input)})
            for name, graph in g.items()}


def _asdict(node):
    return {name: np.asarray(getattr(node, name)) for name in ("tau", "r", "v_leak", "v_threshold")}


def poisson_inputs(shapes, steps, rate=0.2, seed=0):
    rng = np.random.default_rng(seed)
    return {key: rng.random((steps, *shape)) < rate for key, shape in shapes.items()}
