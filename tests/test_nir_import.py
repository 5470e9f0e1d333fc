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

import itertools
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


def _compare(name, graph, shapes, backend="reference", reference_graph=None, dt=DT,
             rename=None, **options):
    """Import ``graph`` and run it against the float reference of ``reference_graph`` (the
    same network written plainly, when ``graph`` is written as an exporter writes it), whose
    Input nodes may have other names (``rename``: {import's Input: reference's Input})."""
    inputs = poisson_inputs(shapes, STEPS, seed=3)
    net = nm.from_nir(graph, dt, inputs=inputs, **options)
    options.pop("v_range", None)
    reference = NirReference(graph if reference_graph is None else reference_graph, dt,
                             **{k: v for k, v in options.items()
                                if k in ("reset", "cuba_order")})
    expected = reference.run({(rename or {}).get(k, k): v for k, v in inputs.items()}, STEPS)
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


# -- graphs as snnTorch, Norse, Sinabs and nirtorch write them -------------------------------------

def _chain(nodes, **kwargs):
    keys = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(itertools.pairwise(keys)), type_check=False,
                        **kwargs)


def _lif_params(shape, tau=1e-3, thr=1.0):
    return {"tau": np.full(shape, tau), "r": np.full(shape, tau / DT),
            "v_leak": np.zeros(shape), "v_threshold": np.full(shape, thr),
            "v_reset": np.zeros(shape)}


def test_scalar_neuron_parameters_apply_to_every_neuron():
    # snnTorch's export_nir.py writes snn.Leaky(beta=0.9) as tau = dt / (1 - beta) from the
    # module's 0-d beta tensor; Sinabs (sinabs/nir.py) writes a float tau_mem, Norse
    # (norse/torch/utils/export_nir.py) its default LIFParameters: every parameter 0-d
    rng = np.random.default_rng(11)
    w1, w2 = rng.normal(0.3, 0.5, (10, 8)), rng.normal(0.3, 0.5, (4, 10))
    scalar = {k: np.asarray(v.reshape(-1)[0], np.float32) for k, v in _lif_params(1).items()}
    written = _chain({"input": nir.Input(np.array([8])), "fc1": nir.Linear(w1),
                      "lif1": nir.LIF(**scalar), "fc2": nir.Linear(w2),
                      "lif2": nir.LIF(**_lif_params(4)), "output": nir.Output(np.array([4]))})
    # one value mixed with one per neuron (size 1 and size n); nir's constructor refuses
    # mixed shapes, so the attribute is set afterwards as a hand-edited file would have it
    written.nodes["lif2"].v_threshold = np.array([1.0])
    plain = _chain({"input": nir.Input(np.array([8])), "fc1": nir.Linear(w1),
                    "lif1": nir.LIF(**_lif_params(10)), "fc2": nir.Linear(w2),
                    "lif2": nir.LIF(**_lif_params(4)), "output": nir.Output(np.array([4]))})
    net, _, expected = _compare("scalar", written, {"input": (8,)}, reference_graph=plain)
    assert net["lif1"].shape == (10,) and net["lif2"].shape == (4,)
    assert expected["lif1"].sum() > 20
    with pytest.raises(nm.FileFormatError, match=r"LIF node 'lif': parameters of different "
                                                  r"sizes \(tau \(3,\), r \(4,\)\)"):
        bad = nir.LIF(**_lif_params(3))
        bad.r = np.ones(4)
        nm.from_nir(_chain({"input": nir.Input(np.array([3])), "lif": bad}), DT)


def test_a_batch_dimension_in_input_shapes_is_dropped():
    # nirtorch's extract_nir_graph writes nir.Input(np.array(sample_data.shape)) with the
    # batch (snnTorch's tests export with a (4, 784) sample), and the Output's type with it
    rng = np.random.default_rng(12)
    w = rng.normal(0.3, 0.5, (10, 8))

    def dense(in_shape, out_shape):
        return _chain({"input": nir.Input(np.array(in_shape)), "fc": nir.Affine(w, np.zeros(10)),
                       "lif": nir.LIF(**_lif_params(10)),
                       "output": nir.Output(np.array(out_shape))})

    net, _, expected = _compare("batch", dense([4, 8], [4, 10]), {"input": (8,)},
                                reference_graph=dense([8], [10]))
    assert net["input"].shape == (8,) and expected["lif"].any()
    assert any("(4, 8) read as (8,)" in note for note in net.nir_report.notes)
    assert any("Output node 'output': declared shape (4, 10)" in note
               for note in net.nir_report.notes)
    # a leading 1 before a convolution without input_shape (snnTorch's Conv2d export)
    kernel = rng.normal(0.2, 0.3, (4, 1, 3, 3))

    def conv(in_shape):
        return _chain({"input": nir.Input(np.array(in_shape)),
                       "conv": nir.Conv2d(input_shape=None, weight=kernel, stride=1, padding=1,
                                          dilation=1, groups=1, bias=np.zeros(4)),
                       "lif": nir.LIF(**_lif_params((4, 8, 8)))})

    net, _, _ = _compare("batch_conv", conv([1, 1, 8, 8]), {"input": (1, 8, 8)},
                         reference_graph=conv([1, 8, 8]))
    assert net["conv"].input_shape == (1, 8, 8)
    # an Output of another size is refused, naming it
    with pytest.raises(nm.FileFormatError, match=r"Output node 'output': declared shape \(7,\) "
                                                  r"but receives \(10,\)"):
        nm.from_nir(dense([8], [7]), DT)


def test_sinabs_flatten_placeholder_and_batched_parameters():
    # Sinabs (sinabs/nir.py, _extract_sinabs_module) writes nn.Flatten as
    # nir.Flatten(input_type={"input": np.array([0, 0, 0, 0])}, start_dim=1, end_dim=-1): an
    # unknown shape, with PyTorch's dims counted on a batched tensor; its IAF parameters have
    # v_mem's shape, batch included ((1, C, H, W)); its graphs come from nirtorch (batched Input)
    rng = np.random.default_rng(13)
    kernel, w = rng.normal(0.3, 0.3, (4, 2, 3, 3)), rng.normal(0.05, 0.2, (10, 64))

    def sinabs(in_shape, if1_shape, if2_shape, flatten, out_shape):
        return _chain({
            "input": nir.Input(np.array(in_shape)),
            "0": nir.Conv2d(input_shape=None, weight=kernel, stride=(1, 1), padding=(1, 1),
                            dilation=(1, 1), groups=1, bias=np.zeros(4)),
            "1": nir.IF(r=np.full(if1_shape, 1 / DT), v_threshold=np.full(if1_shape, 1.5)),
            "2": nir.SumPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0)),
            "3": flatten,
            "4": nir.Affine(w, np.zeros(10)),
            "5": nir.IF(r=np.full(if2_shape, 1 / DT), v_threshold=np.full(if2_shape, 1.0)),
            "output": nir.Output(np.array(out_shape))})

    placeholder = nir.Flatten(input_type={"input": np.array([0, 0, 0, 0])}, start_dim=1,
                              end_dim=-1)
    plain = sinabs([2, 8, 8], (4, 8, 8), (10,), nir.Flatten(input_type=None, start_dim=0),
                   [10])
    written = [sinabs([1, 2, 8, 8], (1, 4, 8, 8), (1, 10), placeholder, [1, 10]),
               sinabs([2, 8, 8], (4, 8, 8), (10,), placeholder, [10]),
               sinabs([1, 2, 8, 8], (1, 4, 8, 8), (1, 10),
                      nir.Flatten(input_type=None, start_dim=1, end_dim=-1), [1, 10])]
    for graph in written:
        net, _, expected = _compare("sinabs", graph, {"input": (2, 8, 8)}, reference_graph=plain)
        assert net["1"].shape == (4, 8, 8) and net["5"].shape == (10,)
        assert expected["5"].any()
    # a Flatten dim beyond the input's rank is refused, naming the node
    bad = sinabs([2, 8, 8], (4, 8, 8), (10,), nir.Flatten(input_type=None, start_dim=5), [10])
    with pytest.raises(nm.FileFormatError, match="Flatten node '3': start_dim 5 is out of range"):
        nm.from_nir(bad, DT)


# -- nested graphs' own Input and Output nodes, graphs without Inputs --------------------------------

def _rsyn(rng, n=10):
    # snnTorch's RSynaptic/RLeaky export (snntorch/export_nir.py): a sub-graph
    # input -> lif <-> w_rec, lif -> output, with typed Input and Output nodes
    return nir.NIRGraph(nodes={
        "input": nir.Input(np.array([n])), "lif": nir.LIF(**_lif_params(n)),
        "w_rec": nir.Linear(rng.normal(0.0, 0.3, (n, n))), "output": nir.Output(np.array([n]))},
        edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")])


def test_edges_into_a_node_of_a_sub_graph_leave_its_input_unused():
    rng = np.random.default_rng(14)
    w = rng.normal(0.3, 0.4, (10, 8))

    def graph(target, source):
        return nir.NIRGraph(nodes={"input": nir.Input(np.array([8])), "fc1": nir.Linear(w),
                                   "rsyn": _rsyn(np.random.default_rng(15)),
                                   "output": nir.Output(np.array([10]))},
                            edges=[("input", "fc1"), ("fc1", target), (source, "output")],
                            type_check=False)

    # the docs' dotted form: "fc1" -> "rsyn.lif"; rsyn's Input is then fed by nothing while
    # edges enter rsyn elsewhere (dropped, with a note), its Output reaches nothing (ignored)
    net, _, expected = _compare("dotted_lif", graph("rsyn.lif", "rsyn.lif"), {"input": (8,)},
                                reference_graph=graph("rsyn", "rsyn"))
    assert any("nested Input 'rsyn.input' is unused" in n for n in net.nir_report.notes)
    assert net.nir_report.outputs["output"][0] == "rsyn/lif" and expected["rsyn.lif"].any()


def test_a_nested_input_fed_by_nothing_is_a_graph_input():
    # NIR's tests/test_architectures.py test_two_independent_branches_merging, built as
    # nirtorch builds graphs (type_check=False): no top-level Input, the branches' own Inputs
    rng = np.random.default_rng(16)

    def branch():
        return nir.NIRGraph.from_list(nir.Linear(rng.normal(0.4, 0.3, (3, 2))),
                                      nir.LIF(**_lif_params(3)),
                                      nir.Linear(rng.normal(0.4, 0.3, (2, 3))))

    b1, b2 = branch(), branch()
    nodes = {"branch_1": b1, "branch_2": b2, "junction": nir.LIF(**_lif_params(2, thr=0.5))}
    edges = [("branch_1", "junction"), ("branch_2", "junction")]
    bare = nir.NIRGraph(nodes=dict(nodes), edges=list(edges), type_check=False)
    fed = nir.NIRGraph(nodes={"in1": nir.Input(np.array([2])), "in2": nir.Input(np.array([2])),
                              **nodes},
                       edges=[("in1", "branch_1"), ("in2", "branch_2"), *edges], type_check=False)
    shapes = {"branch_1.input": (2,), "branch_2.input": (2,)}
    net, _, expected = _compare("branches", bare, shapes, reference_graph=fed,
                                rename={"branch_1.input": "in1", "branch_2.input": "in2"})
    assert set(net.nir_report.inputs) == {"branch_1.input", "branch_2.input"}
    assert expected["junction"].any()


def test_a_root_linear_node_gets_an_input_as_nir_adds_one():
    # NIR's test_residual without type checking: the root Affine 'a' has no Input; nir's
    # type inference (NIRGraph.infer_types) prepends Input 'input_a', and so does nmgraph
    rng = np.random.default_rng(17)
    nodes = {"a": nir.Affine(rng.normal(0.4, 0.3, (3, 2)), np.zeros(3)),
             "b": nir.LIF(**_lif_params(3)), "c": nir.Linear(rng.normal(0.4, 0.3, (2, 3))),
             "d": nir.LIF(**_lif_params(2, thr=0.5))}
    edges = [("a", "b"), ("b", "c"), ("c", "d")]
    bare = nir.NIRGraph(nodes=dict(nodes), edges=list(edges), type_check=False)
    checked = nir.NIRGraph(nodes=dict(nodes), edges=list(edges))      # nir adds input_a
    assert "input_a" in checked.nodes
    net, _, expected = _compare("root", bare, {"input_a": (2,)}, reference_graph=checked)
    assert set(net.nir_report.inputs) == {"input_a"} and expected["d"].any()
    assert any("Input 'input_a' of shape (2,) added" in n for n in net.nir_report.notes)
    # a root convolution without input_shape cannot get one
    conv = nir.Conv2d(input_shape=None, weight=np.ones((1, 1, 3, 3)), stride=1, padding=1,
                      dilation=1, groups=1, bias=np.zeros(1))
    with pytest.raises(nm.FileFormatError, match="Conv2d node 'c' has no input and no declared"):
        nm.from_nir(_chain({"c": conv, "if": nir.IF(r=np.ones((1, 4, 4)),
                                                    v_threshold=np.ones((1, 4, 4)))}), DT)


def test_empty_graphs_and_unreachable_linear_loops_are_refused(tmp_path):
    with pytest.raises(nm.FileFormatError, match="NIR graph: the graph has no nodes"):
        nm.from_nir(nir.NIRGraph(nodes={}, edges=[], type_check=False), DT)
    path = tmp_path / "empty.nir"
    nir.write(path, nir.NIRGraph(nodes={}, edges=[], type_check=False))
    with pytest.raises(nm.FileFormatError, match=r"empty\.nir: the graph has no nodes"):
        nm.from_nir(path, DT)
    # a loop of linear nodes that no Input reaches (the docs promise an error wherever it is)
    graph = nir.NIRGraph(nodes={"input": nir.Input(np.array([3])), "lif": _lif_node(3),
                                "a": nir.Linear(np.ones((3, 3))), "b": nir.Linear(np.ones((3, 3)))},
                         edges=[("input", "lif"), ("a", "b"), ("b", "a")], type_check=False)
    with pytest.raises(nm.FileFormatError, match=r"recurrent edge through linear nodes only "
                                                  r"\((a -> b -> a|b -> a -> b)\)"):
        nm.from_nir(graph, DT)


# -- hostile graphs and files: a FileFormatError naming the node, never a bare exception ------------

def _hostile(edit):
    rng = np.random.default_rng(18)
    graph = _chain({"input": nir.Input(np.array([1, 4, 4])),
                    "c": nir.Conv2d(input_shape=(4, 4), weight=rng.normal(0.3, 0.2, (1, 1, 3, 3)),
                                    stride=1, padding=0, dilation=1, groups=1, bias=np.zeros(1)),
                    "if": nir.IF(r=np.full((1, 2, 2), 1 / DT), v_threshold=np.ones((1, 2, 2))),
                    "f": nir.Flatten(input_type=None, start_dim=0, end_dim=-1),
                    "fc": nir.Affine(rng.normal(0.3, 0.2, (3, 4)), np.zeros(3)),
                    "lif": nir.LIF(**_lif_params(3)), "output": nir.Output(np.array([3]))})
    edit(graph.nodes)
    return graph


def _set(node, **values):
    def edit(nodes):
        for name, value in values.items():
            setattr(nodes[node], name, value)
    return edit


@pytest.mark.parametrize("edit, message", [
    (_set("c", stride=(0, 0)), r"Conv2d node 'c': 'stride' must be >= 1"),
    (_set("c", dilation=(0, 1)), r"Conv2d node 'c': 'dilation' must be >= 1"),
    (_set("c", padding=(-1, -1)), r"Conv2d node 'c': 'padding' must be >= 0"),
    (_set("c", weight=np.ones((1, 1, 0, 3))), r"Conv2d node 'c': empty kernel"),
    (_set("f", start_dim=None), r"Flatten node 'f': 'start_dim' must be an int \(got None\)"),
    (_set("f", end_dim=2.5), r"Flatten node 'f': 'end_dim' must be an int"),
    (_set("f", start_dim=3), r"Flatten node 'f': start_dim 3 is out of range"),
    (_set("fc", weight=np.full((3, 4), np.nan)), r"Affine node 'fc': 'weight' has NaN"),
    (_set("fc", weight=np.full((3, 4), np.inf)), r"Affine node 'fc': 'weight' has non-finite"),
    (_set("lif", tau=None), r"LIF node 'lif': has no 'tau' \(required\)"),
    (_set("lif", tau=np.array([1e-3, np.nan, 1e-3])), r"LIF node 'lif': 'tau' has NaN values"),
    (_set("lif", tau=np.array([1e-3, 0.0, 1e-3])), r"LIF node 'lif': tau must be > 0"),
    (_set("input", input_type={"input": np.array([4.5])}),
     r"Input node 'input': input_type \(4\.5,\) is not a shape of integers"),
    (_set("output", output_type={"output": np.array([5])}),
     r"Output node 'output': declared shape \(5,\) but receives \(3,\)"),
])
def test_hostile_graphs_name_the_node(edit, message):
    with pytest.raises(nm.FileFormatError, match=message):
        nm.from_nir(_hostile(edit), DT)


def test_huge_weights_neither_overflow_nor_pass_silently():
    # 1e30 is "an integer" to the exact-scale check: it must not be cast to int64 (it wrapped
    # to -2**63); the scale it forces leaves no room for the threshold, which warns
    graph = _hostile(_set("fc", weight=np.full((3, 4), 1e30)))
    with pytest.warns(nm.QuantizationWarning, match="lif: v_threshold quantized with a relative "
                                                     "error of 1e\\+02%"):
        net = nm.from_nir(graph, DT)
    assert np.all(np.abs(net["fc"].weights.value) <= 255)


@pytest.mark.parametrize("edit, message", [
    (lambda f: (f["node/nodes/fc"].__delitem__("type"),
                f["node/nodes/fc"].create_dataset("type", data=b"Mystery")),
     "node 'fc' is a Mystery, which nmgraph does not support"),
    (lambda f: f["node/nodes/fc"].__delitem__("type"), "node 'fc' has no 'type'"),
    (lambda f: f["node/nodes/lif"].__delitem__("v_threshold"),
     r"node 'lif' \(LIF\): TypeError: .*'v_threshold'"),
    (lambda f: f["node"].__delitem__("edges"), "graph '<root>' has no 'edges' entry"),
    (lambda f: f.__delitem__("node"), "no 'node' group: not a NIR file"),
])
def test_bad_files_name_the_node_and_what_is_wrong(edit, message, tmp_path):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "bad.nir"
    nir.write(path, nir.NIRGraph.from_list(nir.Affine(np.ones((3, 4)), np.zeros(3)),
                                           nir.LIF(**_lif_params(3))))
    with h5py.File(path, "r+") as f:
        nodes = set(f["node/nodes"])
        assert {"affine", "lif"} <= nodes
        f["node/nodes"].move("affine", "fc")
        edges = [[b"input", b"fc"], [b"fc", b"lif"], [b"lif", b"output"]]
        del f["node/edges"]
        f["node"].create_dataset("edges", data=np.array(edges))
    nm.from_nir(path, DT)                      # the renamed file is good
    with h5py.File(path, "r+") as f:
        edit(f)
    with pytest.raises(nm.FileFormatError, match=message):
        nm.from_nir(path, DT)
