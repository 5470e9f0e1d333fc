"""Convolution and pooling synapses (Conv 1-D/2-D, SumPool2d): weights, runs, files, errors.

The expected weight matrices come from :func:`reference_matrix`, written here with plain loops over
output channels, output positions, input channels and kernel taps (PyTorch's cross-correlation
written out), and its output size from counting the windows that fit, not from the floor formula;
a few cases are worked by hand. The runs read the IF neurons' current ``u``, which is this step's
input ``<< 6`` (``du = 4095``): every neuron, every step, compared with the reference matrix times
the input raster, so a wrong synapse, weight or delay shows.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import nmgraph as nm
from nmgraph.compilers.lower import lower
from nmgraph.processes import IF, Conv, Dense, SpikeGenerator, SumPool2d

# ------------------------------------------------------------------------------------------------
# the independent reference
# ------------------------------------------------------------------------------------------------


def torch_same(kernel: tuple[int, ...], dilation: tuple[int, ...]) -> list[tuple[int, int]]:
    """PyTorch's rule for padding='same' (torch/nn/modules/conv.py): total d (k - 1), of which
    total // 2 on the left/top and the rest on the right/bottom."""
    out = []
    for k, d in zip(kernel, dilation):
        total = d * (k - 1)
        out.append((total // 2, total - total // 2))
    return out


def windows(size: int, before: int, after: int, k: int, s: int, d: int) -> int:
    """How many windows fit: starts 0, s, 2s, ... in the padded input while the last tap
    (start + d (k - 1)) stays inside it."""
    count = 0
    while count * s + d * (k - 1) <= size + before + after - 1:
        count += 1
    return count


def reference_matrix(weights: np.ndarray, in_shape: tuple[int, ...], stride, pads, dilation,
                     groups: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """``(matrix (post, pre), output shape)`` of a 1-D or 2-D cross-correlation, by loops."""
    weights = np.asarray(weights, dtype=np.int64)
    c_out, c_group = weights.shape[:2]
    kernel = weights.shape[2:]
    n = len(kernel)
    spatial = tuple(in_shape[1:])
    out_spatial = tuple(windows(spatial[a], pads[a][0], pads[a][1], kernel[a], stride[a],
                                dilation[a]) for a in range(n))
    out_shape = (c_out, *out_spatial)
    matrix = np.zeros((math.prod(out_shape), math.prod(in_shape)), dtype=np.int64)
    per_group = c_out // groups
    for o in range(c_out):
        group = o // per_group
        for pos in np.ndindex(*out_spatial):
            post = np.ravel_multi_index((o, *pos), out_shape)
            for c in range(c_group):
                ci = group * c_group + c
                for tap in np.ndindex(*kernel):
                    src = [pos[a] * stride[a] - pads[a][0] + tap[a] * dilation[a]
                           for a in range(n)]
                    if all(0 <= src[a] < spatial[a] for a in range(n)):
                        pre = np.ravel_multi_index((ci, *src), in_shape)
                        matrix[post, pre] += weights[(o, c, *tap)]
    return matrix, out_shape


def projection_matrix(net: nm.Network, name: str) -> np.ndarray:
    """The lowered projection of synapse process ``name`` as a dense (post, pre) matrix."""
    proj = next(p for p in lower(net).projections if p.name == name)
    dense = np.zeros((proj.n_post, proj.n_pre), dtype=np.int64)
    pre = np.repeat(np.arange(proj.n_pre), np.diff(proj.indptr))
    assert not np.any(dense[proj.targets, pre])
    dense[proj.targets, pre] = proj.weights
    return dense


# ------------------------------------------------------------------------------------------------
# hand-worked cases
# ------------------------------------------------------------------------------------------------


def test_reference_matches_hand_worked_cases() -> None:
    m, shape = reference_matrix(np.array([[[1, 2, 3]]]), (1, 5), (1,), [(0, 0)], (1,), 1)
    assert shape == (1, 3)
    assert m.tolist() == [[1, 2, 3, 0, 0], [0, 1, 2, 3, 0], [0, 0, 1, 2, 3]]


def test_1d_cross_correlation_by_hand() -> None:
    conv = Conv(np.array([[[1, 2, 3]]]), input_shape=(1, 5))
    assert conv.output_shape == (1, 3) and conv.s_in.shape == (1, 5) and conv.a_out.shape == (1, 3)
    assert conv.to_dense().tolist() == [[1, 2, 3, 0, 0], [0, 1, 2, 3, 0], [0, 0, 1, 2, 3]]
    same = Conv(np.array([[[1, 2, 3]]]), input_shape=(1, 5), padding="same")
    assert same.padding == ((1, 1),)
    assert same.to_dense().tolist() == [[2, 3, 0, 0, 0], [1, 2, 3, 0, 0], [0, 1, 2, 3, 0],
                                        [0, 0, 1, 2, 3], [0, 0, 0, 1, 2]]


def test_same_padding_puts_the_odd_unit_bottom_right() -> None:
    # 2x2 kernel on a 2x2 input, 'same': total padding 1 per axis, (0, 1) as in PyTorch, so
    # out[y, x] = 1 in[y, x] + 2 in[y, x+1] + 3 in[y+1, x] + 4 in[y+1, x+1] (a b / c d input)
    conv = Conv(np.array([[[[1, 2], [3, 4]]]]), input_shape=(1, 2, 2), padding="same")
    assert conv.padding == ((0, 1), (0, 1)) and conv.output_shape == (1, 2, 2)
    #                         a  b  c  d
    assert conv.to_dense().tolist() == [[1, 2, 3, 4],   # out[0, 0]
                                        [0, 1, 0, 3],   # out[0, 1]
                                        [0, 0, 1, 2],   # out[1, 0]
                                        [0, 0, 0, 1]]   # out[1, 1]
    dilated = Conv(np.ones((1, 1, 3, 2), dtype=int), input_shape=(1, 9, 9), padding="same",
                   dilation=(2, 3))
    assert dilated.padding == ((2, 2), (1, 2)) and dilated.output_shape == (1, 9, 9)


def test_output_shapes_of_an_nmnist_sized_net() -> None:
    rng = np.random.default_rng(0)
    c1 = Conv(rng.integers(-9, 10, (16, 2, 5, 5)), input_shape=(2, 34, 34), stride=2)
    assert c1.output_shape == (16, 15, 15)     # floor((34 - 4 - 1) / 2) + 1
    c2 = Conv(rng.integers(-9, 10, (16, 16, 3, 3)), input_shape=c1.output_shape, padding=1)
    assert c2.output_shape == (16, 15, 15)
    p1 = SumPool2d(2, input_shape=c2.output_shape)
    assert p1.output_shape == (16, 7, 7) and p1.stride == (2, 2)
    c3 = Conv(rng.integers(-9, 10, (8, 16, 3, 3)), input_shape=p1.output_shape)
    assert c3.output_shape == (8, 5, 5)
    p2 = SumPool2d((2, 2), input_shape=c3.output_shape, stride=1)
    assert p2.output_shape == (8, 4, 4)
    assert c1.shape == (16 * 15 * 15, 2 * 34 * 34)


# ------------------------------------------------------------------------------------------------
# random configurations against the reference
# ------------------------------------------------------------------------------------------------


def random_config(rng: np.random.Generator) -> dict:
    n = int(rng.integers(1, 3))
    groups = int(rng.choice([1, 1, 2, 3]))
    c_in = groups * int(rng.integers(1, 3))
    c_out = groups * int(rng.integers(1, 3))
    kernel = tuple(int(k) for k in rng.integers(1, 5, n))
    dilation = tuple(int(d) for d in rng.integers(1, 4, n))
    stride = tuple(int(s) for s in rng.integers(1, 4, n))
    spatial = tuple(int(x) for x in rng.integers(1, 9, n))
    form = rng.choice(["int", "axes", "pairs", "valid", "same"])
    if form == "int":
        padding = int(rng.integers(0, 3))
        pads = [(padding, padding)] * n
    elif form == "axes":
        padding = tuple(int(p) for p in rng.integers(0, 3, n))
        pads = [(p, p) for p in padding]
    elif form == "pairs":
        padding = tuple((int(a), int(b)) for a, b in rng.integers(0, 3, (n, 2)))
        pads = list(padding)
    elif form == "valid":
        padding, pads = "valid", [(0, 0)] * n
    else:
        padding, stride = "same", (1,) * n
        pads = torch_same(kernel, dilation)
    weights = rng.integers(-255, 256, (c_out, c_in // groups, *kernel))
    weights[rng.random(weights.shape) < 0.3] = 0
    return dict(weights=weights, input_shape=(c_in, *spatial), stride=stride, padding=padding,
                dilation=dilation, groups=groups, pads=pads)


@pytest.mark.parametrize("chunk", range(8))
def test_random_configurations_match_the_reference(chunk: int) -> None:
    built = refused = 0
    for seed in range(chunk * 40, chunk * 40 + 40):
        cfg = random_config(np.random.default_rng(seed))
        pads = cfg.pop("pads")
        expected, out_shape = reference_matrix(cfg["weights"], cfg["input_shape"],
                                               cfg["stride"], pads, cfg["dilation"],
                                               cfg["groups"])
        if min(out_shape) < 1:   # no window fits: refused, naming the process
            with pytest.raises(nm.ValidationError, match=r"Conv 'c'\.input_shape: gives an "
                                                         r"output size < 1"):
                Conv(**cfg, name="c")
            refused += 1
            continue
        conv = Conv(**cfg, name="c")
        assert conv.output_shape == out_shape, seed
        assert conv.padding == tuple(pads), seed
        pre, post, weights, delays = conv.synapses()
        assert np.all(weights != 0) and np.all(delays == 1), seed      # zero weights dropped
        assert np.unique(pre * conv.shape[0] + post).size == pre.size, seed   # each pair once
        assert np.array_equal(conv.to_dense(), expected), seed
        # through the compiler's lowering (the registered Conv lowering, then CSR)
        net = nm.Network("one")
        src = net.add(SpikeGenerator(np.zeros((1, *conv.input_shape), dtype=bool)))
        dst = net.add(IF(conv.output_shape))
        net.add(conv)
        net.connect(src.s_out, conv.s_in)
        net.connect(conv.a_out, dst.a_in)
        assert np.array_equal(projection_matrix(net, "c"), expected), seed
        built += 1
    assert built >= 25 and refused >= 1  # both outcomes are exercised in every chunk


def test_num_weight_bits_and_weight_exp_as_dense() -> None:
    rng = np.random.default_rng(3)
    weights = rng.integers(-255, 256, (4, 2, 3, 3))
    conv = Conv(weights, input_shape=(2, 6, 6), num_weight_bits=6, weight_exp=3, name="c")
    dense_matrix, _ = reference_matrix(weights, (2, 6, 6), (1, 1), [(0, 0)] * 2, (1, 1), 1)
    dense = Dense(dense_matrix, num_weight_bits=6, weight_exp=3, name="d")
    assert np.array_equal(conv.effective_weights(), weights // 4 * 4)  # mixed: floor, 2 bits
    net = nm.Network("nwb")
    src = net.add(SpikeGenerator(np.zeros((1, 2, 6, 6), dtype=bool)))
    for syn in (conv, dense):
        net.add(syn)
        net.connect(src.s_out if syn is conv else src.s_out.flatten(), syn.s_in)
        target = net.add(IF(conv.output_shape))
        net.connect(syn.a_out if syn is conv else syn.a_out.reshape(conv.output_shape),
                    target.a_in)
    ir = lower(net)
    projections = {p.name: p for p in ir.projections}
    assert projections["c"].weight_exp == 3 and projections["c"].num_weight_bits == 6
    assert np.array_equal(projection_matrix(net, "c"), dense_matrix // 4 * 4)
    assert np.array_equal(projection_matrix(net, "c"), projection_matrix(net, "d"))


# ------------------------------------------------------------------------------------------------
# runs on both backends
# ------------------------------------------------------------------------------------------------

STEPS = 9
BACKENDS = [("reference", None), ("multicore", 1), ("multicore", 2), ("multicore", 3)]


def _conv_network() -> tuple[nm.Network, dict[str, tuple[IF, np.ndarray, np.ndarray, int]]]:
    """Three blocks fed by spike rasters; for each target IF: (process, reference matrix with
    weight_exp applied, raster flattened (steps, pre), delay)."""
    rng = np.random.default_rng(11)
    net = nm.Network("convs")
    raster2d = rng.random((STEPS, 4, 9, 9)) < 0.35
    raster1d = rng.random((STEPS, 2 * 11)) < 0.4
    gen2d = net.add(SpikeGenerator(raster2d, name="gen2d"))
    gen1d = net.add(SpikeGenerator(raster1d, name="gen1d"))   # flat: reshaped into (2, 11)

    # even weights of both signs: Loihi's mixed-sign bit changes none of them
    w2 = rng.integers(-127, 128, (6, 2, 3, 3)) * 2
    conv2 = net.add(Conv(w2, input_shape=(4, 9, 9), stride=2, padding=1, groups=2,
                         weight_exp=1, delay=2, name="conv2"))
    m2, out2 = reference_matrix(w2, (4, 9, 9), (2, 2), [(1, 1)] * 2, (1, 1), 2)
    if2 = net.add(IF(math.prod(out2), vth=2**17 - 1, name="if2"))         # flat population
    net.connect(gen2d.s_out, conv2.s_in)
    net.connect(conv2.a_out.flatten(), if2.a_in)

    pool = net.add(SumPool2d(3, input_shape=(4, 9, 9), stride=2, padding=1, weight=3, delay=1,
                             name="pool"))
    m_pool, out_pool = reference_matrix(np.full((4, 1, 3, 3), 3), (4, 9, 9), (2, 2),
                                        [(1, 1)] * 2, (1, 1), 4)
    if_pool = net.add(IF(out_pool, vth=2**17 - 1, name="if_pool"))
    net.connect(gen2d.s_out, pool.s_in)
    net.connect(pool.a_out, if_pool.a_in)

    w1 = rng.integers(-60, 61, (3, 2, 3)) * 2
    conv1 = net.add(Conv(w1, input_shape=(2, 11), padding="same", dilation=2, delay=3,
                         name="conv1"))
    m1, out1 = reference_matrix(w1, (2, 11), (1,), torch_same((3,), (2,)), (2,), 1)
    if1 = net.add(IF(out1, vth=2**17 - 1, name="if1"))
    net.connect(gen1d.s_out.reshape((2, 11)), conv1.s_in)
    net.connect(conv1.a_out, if1.a_in)

    flat2d = raster2d.reshape(STEPS, -1).astype(np.int64)
    return net, {"if2": (if2, m2 * 2, flat2d, 2), "if_pool": (if_pool, m_pool, flat2d, 1),
                 "if1": (if1, m1, raster1d.astype(np.int64), 3)}


def expected_u(matrix: np.ndarray, raster: np.ndarray, delay: int, steps: int) -> np.ndarray:
    """u of IF neurons after steps 1..steps: the input of spikes sent ``delay`` steps before
    (row k of the raster is sent at step k + 1), << 6."""
    out = np.zeros((steps, matrix.shape[0]), dtype=np.int64)
    for t in range(1, steps + 1):
        sent = t - delay
        if 1 <= sent <= raster.shape[0]:
            out[t - 1] = (matrix @ raster[sent - 1]) << 6
    return out


@pytest.mark.parametrize("hardware", ["loihi1", "generic"])
@pytest.mark.parametrize("backend,workers", BACKENDS)
def test_runs_give_the_reference_input_every_step(hardware: str, backend: str,
                                                  workers: int | None) -> None:
    net, targets = _conv_network()
    with warnings.catch_warnings():
        warnings.simplefilter("error", nm.QuantizationWarning)  # no weight may change
        exe = nm.compile(net, hardware=hardware, max_neurons_per_core=16)
    steps = STEPS + 4
    with nm.Runtime(exe, backend=backend, workers=workers) as rt:
        monitors = {name: rt.record(proc, "u") for name, (proc, *_) in targets.items()}
        rt.run(steps)
        for name, (_, matrix, raster, delay) in targets.items():
            got = monitors[name].values.reshape(steps, -1)
            want = expected_u(matrix, raster, delay, steps)
            assert np.count_nonzero(want) > want.size // 4, name   # a real signal
            assert np.array_equal(got, want), (name, hardware, backend, workers)
        ops = rt.counters.synaptic_ops
    # every spike reaches each of its synapses once: sum over steps of the synapses of the
    # units that spiked, counted from the reference matrices
    expected_ops = sum(int(((m != 0).sum(axis=0) * r.sum(axis=0)).sum())
                       for _, m, r, _ in targets.values())
    assert ops == expected_ops


def test_nmnist_sized_stack_compiles_and_runs() -> None:
    """2x34x34 -> conv 16 5x5 s2 -> conv 16 3x3 -> sum pool 2 -> conv 8 3x3 -> sum pool 2 ->
    Dense 10, IF neurons: lowers, maps onto loihi1 and runs; layer sizes as hand-computed.
    Even weights of both signs: Loihi's mixed-sign bit changes none."""
    rng = np.random.default_rng(4)
    net = nm.Network("nmnist_like")
    gen = net.add(SpikeGenerator(rng.random((10, 2, 34, 34)) < 0.05, name="events"))
    port = gen.s_out
    layers = [Conv(rng.integers(-2, 4, (16, 2, 5, 5)) * 2, (2, 34, 34), stride=2, name="c1")]
    layers.append(Conv(rng.integers(-2, 4, (16, 16, 3, 3)) * 2, layers[-1].output_shape, name="c2"))
    layers.append(SumPool2d(2, layers[-1].output_shape, name="p1"))
    layers.append(Conv(rng.integers(-2, 4, (8, 16, 3, 3)) * 2, layers[-1].output_shape, name="c3"))
    layers.append(SumPool2d(2, layers[-1].output_shape, name="p2"))
    for layer in layers:
        net.add(layer)
        neurons = net.add(IF(layer.output_shape, vth=20, name=f"n_{layer.name}"))
        net.connect(port, layer.s_in)
        net.connect(layer.a_out, neurons.a_in)
        port = neurons.s_out
    assert [layer.output_shape for layer in layers] == [(16, 15, 15), (16, 13, 13), (16, 6, 6),
                                                        (8, 4, 4), (8, 2, 2)]
    readout = net.add(Dense(rng.integers(1, 9, (10, 32)), name="readout"))
    out = net.add(IF(10, vth=5, name="out"))
    net.connect(port.flatten(), readout.s_in)                    # NIR's Flatten: a port view
    net.connect(readout.a_out, out.a_in)
    exe = nm.compile(net, hardware="loihi1")
    # synapses: per tap, the output positions it lands on x non-zero channel pairs (all taps of
    # these kernels land everywhere without padding)
    assert exe.ir.n_synapses == sum(int(np.count_nonzero(layer.weights.value))
                                    * math.prod(layer.output_shape[1:]) for layer in layers) \
        + 320
    with nm.Runtime(exe, workers=2) as rt, nm.Runtime(exe, backend="reference") as ref:
        rt.run(30)
        ref.run(30)
        assert rt.spikes(out) == ref.spikes(out)
        assert len(ref.spikes(net["n_c1"]).times) > 0


# ------------------------------------------------------------------------------------------------
# ports, files, errors
# ------------------------------------------------------------------------------------------------


def test_ports_connect_through_views_of_the_right_size_only() -> None:
    net = nm.Network("views")
    conv = net.add(Conv(np.ones((3, 2, 2, 2), dtype=int), input_shape=(2, 4, 4), name="c"))
    flat = net.add(IF(27, name="flat"))
    small = net.add(IF(26, name="small"))
    src = net.add(IF(32, name="src"))
    net.connect(src.s_out.reshape((2, 4, 4)), conv.s_in)
    net.connect(conv.a_out.flatten(), flat.a_in)
    with pytest.raises(nm.PortError, match=r"cannot reshape a port of shape \(3, 3, 3\) to \(26,\)"):
        conv.a_out.reshape(26)
    with pytest.raises(nm.PortError, match=r"shape \(26,\) does not match"):
        net.connect(conv.a_out.flatten(), small.a_in)
    with pytest.raises(nm.PortError, match=r"does not match"):
        net.connect(src.s_out, conv.s_in)   # (32,) into (2, 4, 4) without a view


def test_save_load_round_trip(tmp_path) -> None:
    rng = np.random.default_rng(8)
    net = nm.Network("files")
    gen = net.add(SpikeGenerator(rng.random((4, 6, 8, 8)) < 0.3, name="gen"))
    blocks = [
        Conv(rng.integers(-30, 31, (4, 3, 3, 2)), (6, 8, 8), stride=(1, 2), padding=((1, 0), (2, 1)),
             dilation=(2, 1), groups=2, weight_exp=2, num_weight_bits=7, delay=5, name="conv"),
        Conv(rng.integers(-30, 31, (6, 6, 3, 3)), (6, 8, 8), padding="same", name="same"),
        SumPool2d((2, 3), (6, 8, 8), padding=(0, 1), weight=-4, delay=2, name="pool"),
    ]
    for block in blocks:
        net.add(block)
        target = net.add(IF(block.output_shape, name=f"if_{block.name}"))
        net.connect(gen.s_out, block.s_in)
        net.connect(block.a_out, target.a_in)
    path = net.save(tmp_path / "convs.nmg")
    loaded = nm.load(path)
    for block in blocks:
        other = loaded[block.name]
        assert type(other) is type(block)
        args, other_args = block.constructor_args(), other.constructor_args()
        assert args.keys() == other_args.keys()
        for key, value in args.items():
            if isinstance(value, np.ndarray):
                assert np.array_equal(value, other_args[key]) and value.dtype == other_args[key].dtype
            else:
                assert value == other_args[key] and type(value) is type(other_args[key]), key
        assert other.s_in.shape == block.s_in.shape and other.a_out.shape == block.a_out.shape
    assert loaded["same"].constructor_args()["padding"] == "same"
    assert loaded["pool"].weight == -4 and loaded["pool"].stride == (2, 3)
    assert lower(net).equals(lower(loaded))


@pytest.mark.parametrize("kwargs,pattern", [
    (dict(weights=np.ones((2, 2)), input_shape=(2, 4)),
     r"Conv 'bad'\.weights: must be a 4-D array \(C_out, C_in / groups, kH, kW\)"),
    (dict(weights=np.ones((2, 2, 0, 3)), input_shape=(2, 4, 4)), r"Conv 'bad'\.weights: must be"),
    (dict(weights=np.ones((2, 3, 3, 3)), input_shape=(2, 4, 4)),
     r"Conv 'bad'\.weights: shape \(2, 3, 3, 3\): axis 1 must be C_in / groups = 2 / 1 = 2"),
    (dict(weights=np.ones((3, 1, 3, 3)), input_shape=(2, 4, 4), groups=2),
     r"Conv 'bad'\.groups: must divide the channels: C_out = weights\.shape\[0\] = 3"),
    (dict(weights=np.ones((2, 1, 3, 3)), input_shape=(3, 4, 4), groups=2),
     r"Conv 'bad'\.groups: must divide the channels: C_in = input_shape\[0\] = 3"),
    (dict(weights=np.ones((2, 1, 3, 3)), input_shape=(2, 4, 4), groups=0),
     r"Conv 'bad'\.groups: must be >= 1"),
    (dict(weights=np.ones((2, 2, 3, 3)), input_shape=(2, 4)),
     r"Conv 'bad'\.input_shape: must be \(C_in, H, W\) for 2-D weights"),
    (dict(weights=np.ones((1, 1, 5, 3)), input_shape=(1, 4, 4)),
     r"Conv 'bad'\.input_shape: gives an output size < 1 along H \(0\)"),
    (dict(weights=np.ones((1, 1, 3, 3)), input_shape=(1, 4, 4), dilation=(1, 2)),
     r"Conv 'bad'\.input_shape: gives an output size < 1 along W \(0\).*dilated kernel "
     r"\(2 \* \(3 - 1\) \+ 1 = 5\)"),
    (dict(weights=np.ones((1, 1, 3)), input_shape=(1, 8), stride=2, padding="same"),
     r"Conv 'bad'\.padding: 'same' needs stride 1"),
    (dict(weights=np.ones((1, 1, 3)), input_shape=(1, 8), padding="full"),
     r"Conv 'bad'\.padding: must be 'valid', 'same'"),
    (dict(weights=np.ones((1, 1, 3, 3)), input_shape=(1, 8, 8), padding=(1, -1)),
     r"Conv 'bad'\.padding: must be"),
    (dict(weights=np.ones((1, 1, 3, 3)), input_shape=(1, 8, 8), padding=(1, 1, 1)),
     r"Conv 'bad'\.padding: must be"),
    (dict(weights=np.ones((1, 1, 3, 3)), input_shape=(1, 8, 8), stride=(1, 0)),
     r"Conv 'bad'\.stride: must be >= 1"),
    (dict(weights=np.ones((1, 1, 3, 3)), input_shape=(1, 8, 8), stride=(1, 1, 1)),
     r"Conv 'bad'\.stride: must be an int or 2 ints \(one per spatial axis: H, W\)"),
    (dict(weights=np.ones((1, 1, 3, 3)), input_shape=(1, 8, 8), delay=np.ones(3)),
     r"Conv 'bad'\.delay: must be one integer"),
    (dict(weights=np.ones((1, 1, 3, 3)), input_shape=(1, 8, 8), delay=0),
     r"Conv 'bad'\.delay: must be >= 1"),
    (dict(weights=np.full((1, 1, 3, 3), 300), input_shape=(1, 8, 8)),
     r"Conv 'bad'\.weights: must be <= 255"),
    (dict(weights=np.full((1, 1, 3, 3), 0.5), input_shape=(1, 8, 8)),
     r"Conv 'bad'\.weights: must be whole numbers"),
    (dict(weights=np.ones((1, 1, 3, 3)), input_shape=(1, 8, 8), num_weight_bits=9),
     r"Conv 'bad'\.num_weight_bits: must be <= 8"),
])
def test_bad_arguments_are_refused_naming_the_process(kwargs: dict, pattern: str) -> None:
    with pytest.raises(nm.ValidationError, match=pattern):
        Conv(**kwargs, name="bad")


def test_bad_pooling_arguments_and_fixed_attributes() -> None:
    with pytest.raises(nm.ValidationError, match=r"SumPool2d 'p'\.weight: must not be 0"):
        SumPool2d(2, (1, 4, 4), weight=0, name="p")
    with pytest.raises(nm.ValidationError, match=r"SumPool2d 'p'\.input_shape: must be \(C, H, W\)"):
        SumPool2d(2, (4, 4), name="p")
    with pytest.raises(nm.ValidationError, match=r"SumPool2d 'p'\.kernel_size: must be >= 1"):
        SumPool2d((2, 0), (1, 4, 4), name="p")
    with pytest.raises(nm.ValidationError, match=r"SumPool2d 'p'\.input_shape: gives an output size"):
        SumPool2d(5, (1, 4, 4), name="p")
    pool = SumPool2d(2, (3, 4, 4), name="p")
    assert pool.weights.shape == (3, 1, 2, 2) and pool.groups == 3
    with pytest.raises(nm.ValidationError, match=r"SumPool2d 'p'\.weights: a pooling block has one"):
        pool.weights = np.arange(12).reshape(3, 1, 2, 2)
    pool.weights = np.full((3, 1, 2, 2), 7)       # one weight: fine
    assert pool.weight == 7 and pool.constructor_args()["weight"] == 7
    conv = Conv(np.ones((1, 1, 3)), (1, 8), name="c")
    with pytest.raises(nm.ValidationError, match=r"Conv 'c'\.stride: is fixed at construction"):
        conv.stride = 2
    with pytest.raises(nm.ValidationError, match=r"SumPool2d 'p'\.kernel_size: is fixed"):
        pool.kernel_size = 3
    conv.delay = 4          # a Var: validated, counted as an edit
    assert int(conv.delay.value) == 4 and conv.revision > 0
    with pytest.raises(nm.ValidationError, match=r"Conv 'c'\.delay: must be <= 255"):
        conv.delay = 256


def test_all_zero_kernel_makes_no_synapses() -> None:
    conv = Conv(np.zeros((2, 1, 3, 3), dtype=int), (1, 5, 5), name="zero")
    pre, post, weights, delays = conv.synapses()
    assert pre.size == post.size == weights.size == delays.size == 0
    assert not conv.to_dense().any()
