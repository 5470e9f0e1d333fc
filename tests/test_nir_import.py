"""nm.from_nir against the float NIR reference (tests/nir_reference.py), on both backends.

Tolerances (docs/nir.md, "What is guaranteed"):

- a single LIF neuron driven through one synapse: the first spike within one step of the float
  reference and the spike count within one over the run;
- every graph (every node type; residual, branching, recurrent, nested): per neuron, the spike
  count within ``2 + 5% x depth`` of the reference's count over 300 steps, ``depth`` the number
  of neuron layers from the input to the neuron (each layer's rounding adds its share);
- readouts (LI, CubaLI, I): the voltage within ``1.5% x depth`` of the largest reference
  voltage;
- the reference and multicore backends give the same spikes, bit for bit.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from nir_reference import (  # noqa: E402
    DT,
    NirReference,
    example_graphs,
    first_spikes,
    poisson_inputs,
    run_nmgraph,
)

import nmgraph as nm  # noqa: E402

STEPS = 300
GRAPHS = example_graphs()


def _compare(name, graph, shapes, backend="reference", **options):
    inputs = poisson_inputs(shapes, STEPS, seed=3)
    net = nm.from_nir(graph, DT, inputs=inputs, **options)
    options.pop("v_range", None)
    reference = NirReference(graph, DT, **{k: v for k, v in options.items()
                                           if k in ("reset", "cuba_order")})
    expected = reference.run(inputs, STEPS)
    report = net.nir_report
    record = [report.nodes[k].processes[0] for k, v in expected.items() if v.dtype != bool]
    spikes, voltages = run_nmgraph(net, STEPS, backend=backend, record_v=record)
    for key, want in expected.items():
        process = report.nodes[key].processes[0]
        if want.dtype == bool:
            got = spikes[process]
            diff = np.abs(got.sum(0).astype(int) - want.sum(0).astype(int))
            allowed = 2 + 0.05 * _depth(reference, key) * want.sum(0)
            assert np.all(diff <= allowed), (
                f"{name}/{key}: spike counts differ by up to {diff.max()} "
                f"(reference counts up to {want.sum(0).max()})")
        else:
            got = voltages[process] / report.nodes[key].v_scale
            error = np.abs(got - want).max() / np.abs(want).max()
            allowed = 0.015 * _depth(reference, key)
            assert error <= allowed, f"{name}/{key}: voltage off by {100 * error:.2f}%"
    return net, spikes, expected


def _depth(reference, key):
    """The number of neuron nodes on the shortest path from an Input to ``key`` (itself
    included): the synapse layers whose rounding can reach it."""
    from collections import deque

    neurons = {k for k, (kind, _) in reference.nodes.items() if kind in
               ("LIF", "CubaLIF", "IF", "Threshold", "LI", "CubaLI", "I")}
    succs = {}
    for a, b in reference.edges:
        succs.setdefault(a, []).append(b)
    queue = deque((k, 0) for k, (kind, _) in reference.nodes.items() if kind == "Input")
    seen = {}
    while queue:
        node, depth = queue.popleft()
        depth += node in neurons
        if node in seen:
            continue
        seen[node] = depth
        queue.extend((s, depth) for s in succs.get(node, []))
    return seen[key]


@pytest.mark.parametrize("name", list(GRAPHS))
def test_every_graph_matches_the_float_reference(name):
    graph, shapes = GRAPHS[name]
    _compare(name, graph, shapes, **({"v_range": {"i": 250.0}} if name == "i" else {}))


@pytest.mark.parametrize("name", ["conv2d", "conv2d_geometry", "nested", "residual", "delay",
                                  "linear_chain", "threshold", "cubalif"])
def test_multicore_spikes_equal_the_reference_backend(name):
    graph, shapes = GRAPHS[name]
    inputs = poisson_inputs(shapes, STEPS, seed=4)
    net = nm.from_nir(graph, DT, inputs=inputs)
    reference, _ = run_nmgraph(net, STEPS)
    multicore, _ = run_nmgraph(net, STEPS, backend="multicore")
    assert reference.keys() == multicore.keys()
    for key in reference:
        np.testing.assert_array_equal(multicore[key], reference[key], err_msg=key)


def test_multicore_against_the_float_reference():
    graph, shapes = GRAPHS["conv2d"]
    _compare("conv2d", graph, shapes, backend="multicore")


def test_a_single_lif_fires_within_a_step_of_the_reference():
    # one input spiking every 3 steps through one synapse into one LIF (snnTorch's units)
    for weight, tau, threshold in [(0.35, 1e-3, 1.0), (0.8, 5e-4, 1.3), (0.33, 2e-3, 2.0)]:
        graph = nir.NIRGraph.from_list(
            nir.Linear(weight=np.array([[weight]])),
            nir.LIF(tau=np.array([tau]), r=np.array([tau / DT]), v_leak=np.array([0.0]),
                    v_threshold=np.array([threshold])))
        raster = np.zeros((STEPS, 1), dtype=bool)
        raster[::3] = True
        net = nm.from_nir(graph, DT, inputs={"input": raster})
        want = NirReference(graph, DT).run({"input": raster}, STEPS)["lif"]
        got, _ = run_nmgraph(net, STEPS)
        got = got["lif"]
        assert want.any()
        assert abs(int(first_spikes(got)[0]) - int(first_spikes(want)[0])) <= 1
        assert abs(int(got.sum()) - int(want.sum())) <= 1


def test_the_steps_between_layers_are_one_per_synapse_layer():
    # input spike at step 1 -> layer 1 integrates it at step 2 -> layer 2 at step 3
    graph = nir.NIRGraph.from_list(
        nir.Linear(weight=np.array([[2.0]])), nir.IF(r=np.array([1 / DT]), v_threshold=np.array([1.0])),
        nir.Linear(weight=np.array([[2.0]])), nir.IF(r=np.array([1 / DT]), v_threshold=np.array([1.0])))
    raster = np.zeros((5, 1), dtype=bool)
    raster[0] = True
    net = nm.from_nir(graph, DT, inputs={"input": raster})
    spikes, _ = run_nmgraph(net, 5)
    assert np.flatnonzero(spikes["if"][:, 0]).tolist() == [1]      # step 2 (index 1)
    assert np.flatnonzero(spikes["if_1"][:, 0]).tolist() == [2]    # step 3


@pytest.mark.parametrize("order", ["sequential", "euler"])
def test_cubalif_orders_match_their_reference(order):
    graph, shapes = GRAPHS["cubalif"]
    _compare("cubalif", graph, shapes, cuba_order=order)


def test_cubalif_euler_order_is_one_more_step_of_delay():
    graph, _ = GRAPHS["cubalif"]
    net = nm.from_nir(graph, DT, cuba_order="euler")
    assert int(np.max(net["linear"].delay.value)) == 2
    assert int(np.max(nm.from_nir(graph, DT)["linear"].delay.value)) == 1


@pytest.mark.parametrize("reset", ["value", "subtract"])
def test_resets_match_the_reference(reset):
    rng = np.random.default_rng(5)
    layer = nir.LIF(tau=np.full(6, 1e-3), r=np.full(6, 10.0), v_leak=np.zeros(6),
                    v_threshold=np.full(6, 1.0), v_reset=np.full(6, -0.4))
    graph = nir.NIRGraph.from_list(nir.Linear(weight=rng.normal(0.5, 0.3, size=(6, 8))), layer)
    net, _, _ = _compare("reset", graph, {"input": (8,)}, reset=reset)
    assert net["lif"].reset == reset


def test_the_report_names_every_node_and_its_errors():
    graph, _ = GRAPHS["conv2d"]
    net = nm.from_nir(graph, DT)
    report = net.nir_report
    assert set(report.nodes) >= {"input", "conv2d", "lif", "sumpool2d", "if", "flatten", "linear",
                                 "lif_1", "output"} - {"flatten"}
    assert report.nodes["conv2d"].processes == ["conv2d"]
    assert report.outputs["output"] == ("lif_1", "spikes", None)
    weights = [q for q in report.quantities if q.node == "conv2d"]
    assert weights and 0 < weights[0].max_relative_error < 0.01  # 8-bit weights: < 1%
    assert report.max_relative_error(quantity="tau") < 0.01
    text = report.to_markdown()
    assert "| conv2d | Conv2d | conv2d |" in text and "max relative error" in text


def test_values_already_on_the_chip_scale_are_kept_exactly():
    # integer weights, integer threshold, r = tau / dt: nmgraph's own export convention
    graph = nir.NIRGraph.from_list(
        nir.Linear(weight=np.array([[12.0, -7.0], [40.0, 3.0]])),
        nir.LIF(tau=np.full(2, 4096 * DT / 410), r=np.full(2, 4096 / 410), v_leak=np.zeros(2),
                v_threshold=np.array([100.0, 250.0])))
    net = nm.from_nir(graph, DT)
    assert net["linear"].weights.value.tolist() == [[12, -7], [40, 3]]
    assert net["lif"].vth.value.tolist() == [100, 250]
    assert int(np.unique(net["lif"].dv.value)[0]) == 410
    assert net.nir_report.max_relative_error() < 1e-9


def test_quantize_bits_sets_the_weight_precision():
    graph, _ = GRAPHS["lif"]
    coarse = nm.from_nir(graph, DT, quantize=4)
    fine = nm.from_nir(graph, DT, quantize=None)
    assert coarse["linear"].num_weight_bits == 4
    assert np.all(coarse["linear"].weights.value % 16 == 0)
    assert coarse.nir_report.max_relative_error(quantity="weights (x gain)") > \
        fine.nir_report.max_relative_error(quantity="weights (x gain)")


def test_loihi_mixed_sign_weights_survive_loihis_sign_bit():
    graph, _ = GRAPHS["lif"]
    net = nm.from_nir(graph, DT, quantize="loihi1")
    weights = net["linear"].weights.value
    assert weights.min() < 0 < weights.max() and np.all(weights % 2 == 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", nm.QuantizationWarning)   # nothing truncated on loihi1
        nm.compile(net, hardware="loihi1")


def test_nested_graph_becomes_a_hierarchical_process():
    graph, _ = GRAPHS["nested"]
    net = nm.from_nir(graph, DT)
    rsyn = net["rsyn"]
    assert isinstance(rsyn, nm.Hierarchical)
    assert {p.name for p in rsyn.children.processes} == {"lif", "w_rec"}
    assert set(rsyn.ports) == {"input", "output"}
    assert net.nir_report.nodes["rsyn.lif"].processes == ["rsyn/lif"]


def test_dotted_edge_names_reach_into_a_sub_graph():
    rng = np.random.default_rng(2)
    sub = nir.NIRGraph(nodes={"in": nir.Input(input_type=np.array([4])),
                              "lif": nir.LIF(tau=np.full(4, 1e-3), r=np.full(4, 10.0),
                                             v_leak=np.zeros(4), v_threshold=np.ones(4)),
                              "out": nir.Output(output_type=np.array([4]))},
                       edges=[("in", "lif"), ("lif", "out")], type_check=False)
    graph = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([3])),
                                "fc": nir.Linear(weight=rng.normal(0.5, 0.2, size=(4, 3))),
                                "lif1": sub, "output": nir.Output(output_type=np.array([4]))},
                         edges=[("input", "fc"), ("fc", "lif1.in"), ("lif1.out", "output")],
                         type_check=False)
    net = nm.from_nir(graph, DT)
    assert net.nir_report.outputs["output"][0] == "lif1/lif"
    _compare("dotted", graph, {"input": (3,)})


def test_files_load_with_and_without_v_reset(tmp_path):
    h5py = pytest.importorskip("h5py")
    graph, _ = GRAPHS["lif"]
    path = tmp_path / "model.nir"
    nir.write(path, graph)
    with h5py.File(path, "r+") as f:          # an NIR 0.1/0.2 file: LIF without v_reset
        del f["node/nodes/lif/v_reset"]
    old = nm.from_nir(path, DT)
    new = nm.from_nir(graph, DT)
    np.testing.assert_array_equal(old["linear"].weights.value, new["linear"].weights.value)
    assert int(np.unique(old["lif"].vth.value)[0]) == int(np.unique(new["lif"].vth.value)[0])


# -- errors ----------------------------------------------------------------------------------------

def test_dt_is_required_and_in_seconds():
    graph, _ = GRAPHS["lif"]
    with pytest.raises(nm.ValidationError, match=r"dt: is required.*seconds"):
        nm.from_nir(graph)
    with pytest.raises(nm.ValidationError, match="dt"):
        nm.from_nir(graph, -1e-3)


@pytest.mark.filterwarnings("ignore:linear. weights quantized")
def test_implausible_time_constants_warn():
    graph, _ = GRAPHS["lif"]
    with pytest.warns(nm.QuantizationWarning, match="implausible for dt"):
        nm.from_nir(graph, 1e-2)          # tau = 1 ms < dt = 10 ms
    with pytest.warns(nm.QuantizationWarning, match="implausible for dt"):
        nm.from_nir(graph, 1e-8)          # tau = 1 ms > 4096 dt


def _lif_node(n):
    return nir.LIF(tau=np.full(n, 1e-3), r=np.full(n, 10.0), v_leak=np.zeros(n),
                   v_threshold=np.ones(n))


@pytest.mark.parametrize("nodes, edges, message", [
    ({"input": nir.Input(input_type=np.array([3])), "fc": nir.Linear(weight=np.ones((4, 3))),
      "lif": _lif_node(5)}, [("input", "fc"), ("fc", "lif")], "edge 'fc' -> 'lif': shapes do not match"),
    ({"input": nir.Input(input_type=np.array([3])), "a": nir.Linear(weight=np.ones((3, 3))),
      "b": nir.Linear(weight=np.ones((3, 3))), "lif": _lif_node(3)},
     [("input", "a"), ("a", "b"), ("b", "a"), ("b", "lif")], "recurrent edge through linear nodes"),
    ({"input": nir.Input(input_type=np.array([3])), "fc": nir.Linear(weight=np.ones((3, 3))),
      "output": nir.Output(output_type=np.array([3]))}, [("input", "fc"), ("fc", "output")],
     "Output 'output' reads Linear node 'fc'"),
    ({"input": nir.Input(input_type=np.array([3])), "fc": nir.Linear(weight=np.ones((3, 3))),
      "lif": _lif_node(3)}, [("input", "fc"), ("fc", "nowhere")], "names node 'nowhere'"),
])
def test_bad_graphs_name_the_node(nodes, edges, message):
    graph = nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)
    with pytest.raises(nm.FileFormatError, match=message):
        nm.from_nir(graph, DT)


def test_negative_thresholds_are_refused():
    layer = nir.LIF(tau=np.full(2, 1e-3), r=np.full(2, 10.0), v_leak=np.zeros(2),
                    v_threshold=np.array([1.0, -1.0]))
    with pytest.raises(nm.FileFormatError, match="LIF node 'lif': negative thresholds"):
        nm.from_nir(nir.NIRGraph.from_list(nir.Linear(weight=np.ones((2, 2))), layer), DT)


def test_a_readout_feeding_a_layer_is_refused():
    graph = nir.NIRGraph.from_list(
        nir.Linear(weight=np.ones((2, 2))),
        nir.LI(tau=np.full(2, 1e-3), r=np.full(2, 10.0), v_leak=np.zeros(2)),
        nir.Linear(weight=np.ones((2, 2))), _lif_node(2))
    with pytest.raises(nm.FileFormatError, match=r"LI node 'li' feeds.*voltage"):
        nm.from_nir(graph, DT)


def test_unknown_node_types_and_bad_files_are_refused(tmp_path):
    class Mystery(nir.Linear):
        pass

    graph = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([2])),
                                "m": Mystery(weight=np.ones((2, 2))), "lif": _lif_node(2)},
                         edges=[("input", "m"), ("m", "lif")], type_check=False)
    with pytest.raises(nm.FileFormatError, match="node 'm' is a Mystery"):
        nm.from_nir(graph, DT)
    junk = tmp_path / "junk.nir"
    junk.write_bytes(b"not hdf5")
    with pytest.raises(nm.FileFormatError, match=r"junk\.nir: not a NIR file"):
        nm.from_nir(junk, DT)
    with pytest.raises(nm.FileFormatError, match="no such NIR file"):
        nm.from_nir(tmp_path / "missing.nir", DT)


def test_bad_options_are_validation_errors():
    graph, _ = GRAPHS["lif"]
    with pytest.raises(nm.ValidationError, match="quantize"):
        nm.from_nir(graph, DT, quantize="truenorth9")
    with pytest.raises(nm.ValidationError, match="reset"):
        nm.from_nir(graph, DT, reset="zero")
    with pytest.raises(nm.ValidationError, match="inputs: names no Input"):
        nm.from_nir(graph, DT, inputs={"nope": np.zeros((3, 8), bool)})
    with pytest.raises(nm.ValidationError, match="raster for Input 'input'"):
        nm.from_nir(graph, DT, inputs={"input": np.zeros((3, 7), bool)})
