"""Hierarchical processes flatten to the same NetworkIR as the equivalent flat network.

The flat twin is built by hand with its processes named ``parent/child``. ``/`` is reserved for
hierarchy, so a user cannot pass such a name; the twin gets it with ``object.__setattr__`` before
it is added to its network, which is exactly what lowering should produce.
"""

from __future__ import annotations

import numpy as np
import pytest

import nmgraph as nm
from nmgraph.compilers.lower import lower
from nmgraph.processes import LIF, Dense, PoissonSource, SpikeGenerator

W_IN = np.array([[60, 0, 30], [0, 90, 10], [25, 25, 25], [100, 0, 0]])          # 4 x 3
W_MID = np.array([[40, 0, 70, 10], [0, 80, 0, 90]])                            # 2 x 4
W_NOISE = np.array([[15, 0, 5], [0, 20, 0]])                                  # 2 x 3
W_OUT = np.array([[120, 110]])                                                # 1 x 2
LIF_FIRST = {"du": 800, "dv": 300, "vth": 40, "bias_mant": 2}
LIF_SECOND = {"du": 500, "dv": 500, "vth": 30}
LIF_OUT = {"du": 4095, "dv": 0, "vth": 20}


def _raster(steps: int = 30) -> np.ndarray:
    rng = np.random.default_rng(17)
    return rng.random((steps, 3)) < 0.45


class Layer(nm.Hierarchical):
    """Dense + LIF, exposing the synapse's s_in, the neurons' s_out and the neurons' a_in."""

    def __init__(self, weights, lif_kwargs, name=None):
        super().__init__(name)
        syn = self.add(Dense(weights=weights, name="syn"))
        lif = self.add(LIF(shape=(weights.shape[0],), name="lif", **lif_kwargs))
        self.connect(syn.a_out, lif.a_in)
        self.expose("s_in", syn.s_in)
        self.expose("s_out", lif.s_out)
        self.expose("a_in", lif.a_in)


class TwoLayers(nm.Hierarchical):
    """Two Layers in a row plus a Poisson drive into the second one: hierarchy two levels deep."""

    def __init__(self, name=None):
        super().__init__(name)
        first = self.add(Layer(W_IN, LIF_FIRST, name="first"))
        second = self.add(Layer(W_MID, LIF_SECOND, name="second"))
        noise = self.add(PoissonSource(3, rate=0.3, seed=5, name="noise"))
        noise_syn = self.add(Dense(W_NOISE, delay=2, name="noise_syn"))
        self.connect(first.s_out, second.s_in)
        self.connect(noise.s_out, noise_syn.s_in)
        self.connect(noise_syn.a_out, second.a_in)       # a second projection into second/lif
        self.expose("s_in", first.s_in)                  # an exposed port of a child
        self.expose("s_out", second.s_out)


# -- the networks ----------------------------------------------------------------------------

def hierarchical_one_level():
    net = nm.Network("one")
    gen = net.add(SpikeGenerator(_raster(), name="gen"))
    layer = net.add(Layer(W_IN, LIF_FIRST, name="layer"))
    net.connect(gen.s_out, layer.s_in)
    return net


def _named(process, name):
    object.__setattr__(process, "name", name)
    return process


def flat_one_level():
    net = nm.Network("one")
    gen = net.add(SpikeGenerator(_raster(), name="gen"))
    syn = net.add(_named(Dense(weights=W_IN), "layer/syn"))
    lif = net.add(_named(LIF(shape=(4,), **LIF_FIRST), "layer/lif"))
    net.connect(gen.s_out, syn.s_in)
    net.connect(syn.a_out, lif.a_in)
    return net


def hierarchical_two_levels():
    net = nm.Network("two")
    gen = net.add(SpikeGenerator(_raster(), name="gen"))
    block = net.add(TwoLayers(name="block"))
    readout = net.add(Dense(W_OUT, delay=3, name="readout"))
    out = net.add(LIF(1, name="out", **LIF_OUT))
    net.connect(gen.s_out, block.s_in)
    net.connect(block.s_out, readout.s_in)
    net.connect(readout.a_out, out.a_in)
    return net


def flat_two_levels(separator: str = "/"):
    def q(*parts):
        return separator.join(parts)

    net = nm.Network("two")
    gen = net.add(SpikeGenerator(_raster(), name="gen"))
    syn1 = net.add(_named(Dense(weights=W_IN), q("block", "first", "syn")))
    lif1 = net.add(_named(LIF(shape=(4,), **LIF_FIRST), q("block", "first", "lif")))
    syn2 = net.add(_named(Dense(weights=W_MID), q("block", "second", "syn")))
    lif2 = net.add(_named(LIF(shape=(2,), **LIF_SECOND), q("block", "second", "lif")))
    noise = net.add(_named(PoissonSource(3, rate=0.3, seed=5), q("block", "noise")))
    noise_syn = net.add(_named(Dense(W_NOISE, delay=2), q("block", "noise_syn")))
    readout = net.add(Dense(W_OUT, delay=3, name="readout"))
    out = net.add(LIF(1, name="out", **LIF_OUT))
    net.connect(gen.s_out, syn1.s_in)
    net.connect(syn1.a_out, lif1.a_in)
    net.connect(syn2.a_out, lif2.a_in)
    net.connect(lif1.s_out, syn2.s_in)
    net.connect(noise.s_out, noise_syn.s_in)
    net.connect(noise_syn.a_out, lif2.a_in)
    net.connect(lif2.s_out, readout.s_in)
    net.connect(readout.a_out, out.a_in)
    return net


LEAVES_TWO = ["gen", "block/first/lif", "block/second/lif", "block/noise", "out"]
CASES = [
    pytest.param(hierarchical_one_level, flat_one_level, ["gen", "layer/lif"], id="one-level"),
    pytest.param(hierarchical_two_levels, flat_two_levels, LEAVES_TWO, id="two-levels"),
]


# -- comparing IRs field by field (for readable failures), then with NetworkIR.equals ------------

def _same_arrays(a: dict, b: dict, where: str) -> None:
    assert sorted(a) == sorted(b), where
    for key in a:
        x, y = np.asarray(a[key]), np.asarray(b[key])
        assert x.dtype == y.dtype, f"{where}.{key}: dtype {x.dtype} != {y.dtype}"
        assert np.array_equal(x, y), f"{where}.{key}: {x} != {y}"


def assert_same_ir(hier, flat) -> None:
    assert [p.name for p in hier.populations] == [p.name for p in flat.populations]
    for a, b in zip(hier.populations, flat.populations):
        where = f"population {a.name}"
        assert (a.process_type, a.model, tuple(a.shape), a.size, a.offset) == \
            (b.process_type, b.model, tuple(b.shape), b.size, b.offset), where
        _same_arrays(a.params, b.params, where + ".params")
        _same_arrays(a.state, b.state, where + ".state")
    assert [(p.name, p.pre, p.post) for p in hier.projections] == \
        [(p.name, p.pre, p.post) for p in flat.projections]
    for a, b in zip(hier.projections, flat.projections):
        where = f"projection {a.name}"
        assert (a.n_pre, a.n_post, a.weight_exp, a.num_weight_bits) == \
            (b.n_pre, b.n_post, b.weight_exp, b.num_weight_bits), where
        for attr in ("indptr", "targets", "weights", "delays"):
            x, y = getattr(a, attr), getattr(b, attr)
            assert x.dtype == y.dtype and np.array_equal(x, y), f"{where}.{attr}"
    assert hier.equals(flat)
    assert flat.equals(hier)


@pytest.mark.parametrize(("make_hier", "make_flat", "leaves"), CASES)
def test_hierarchy_flattens_to_the_flat_ir(make_hier, make_flat, leaves):
    hier, flat = lower(make_hier()), lower(make_flat())
    assert_same_ir(hier, flat)
    assert [p.name for p in hier.populations] == leaves


def test_flattened_names_are_qualified_depth_first():
    ir = lower(hierarchical_two_levels())
    assert [p.name for p in ir.populations] == LEAVES_TWO
    assert [p.name for p in ir.projections] == [
        "block/first/syn", "block/second/syn", "block/noise_syn", "readout"]
    by_name = {p.name: p for p in ir.projections}
    assert (by_name["block/first/syn"].pre, by_name["block/first/syn"].post) == \
        ("gen", "block/first/lif")
    assert (by_name["block/second/syn"].pre, by_name["block/second/syn"].post) == \
        ("block/first/lif", "block/second/lif")
    assert (by_name["block/noise_syn"].pre, by_name["block/noise_syn"].post) == \
        ("block/noise", "block/second/lif")
    assert (by_name["readout"].pre, by_name["readout"].post) == ("block/second/lif", "out")
    offsets = [(p.offset, p.size) for p in ir.populations]
    assert offsets == [(0, 3), (3, 4), (7, 2), (9, 3), (12, 1)]


def test_only_the_names_differ_from_a_flat_network_with_plain_names():
    hier = lower(hierarchical_two_levels())
    plain = lower(flat_two_levels(separator="."))
    assert hier.equals(plain, names=False)
    assert not hier.equals(plain)


def test_a_different_weight_breaks_equality():
    hier = lower(hierarchical_two_levels())
    net = flat_two_levels()
    net["block/second/syn"].weights = W_MID + 1
    assert not hier.equals(lower(net))


def test_lowering_does_not_change_the_network():
    net = hierarchical_two_levels()
    before = [(c.src.name, c.src_port, c.dst.name, c.dst_port) for c in net.connections]
    lower(net)
    lower(net)
    assert [(c.src.name, c.src_port, c.dst.name, c.dst_port) for c in net.connections] == before
    block = net["block"]
    assert block.children["first"].children["lif"].qualified_name == "block/first/lif"


@pytest.mark.parametrize(("make_hier", "make_flat", "leaves"), CASES)
def test_hierarchical_and_flat_networks_spike_alike(make_hier, make_flat, leaves):
    steps = 60
    results = []
    for net in (make_hier(), make_flat()):
        with nm.Runtime(net, backend="reference") as rt:
            rt.run(steps)
            results.append({name: rt.spikes(name) for name in leaves})
    hier, flat = results
    for name in leaves:
        assert np.array_equal(hier[name].times, flat[name].times), name
        assert np.array_equal(hier[name].indices, flat[name].indices), name
    assert any(len(hier[name]) for name in leaves if name != "gen"), "no neuron ever spiked"


def test_children_of_hierarchical_processes_are_addressable_in_the_runtime():
    net = hierarchical_two_levels()
    block = net["block"]
    inner_lif = block.children["second"].children["lif"]
    with nm.Runtime(net, backend="reference") as rt:
        rt.record(inner_lif, "v")
        rt.run(25)
        by_object = rt.spikes(inner_lif)
        by_name = rt.spikes("block/second/lif")
        v = rt.recorded(inner_lif, "v")
    assert np.array_equal(by_object.times, by_name.times)
    assert np.array_equal(by_object.indices, by_name.indices)
    assert v.shape == (25, 2)
    with nm.Runtime(flat_two_levels(), backend="reference") as rt:
        rt.record("block/second/lif", "v")
        rt.run(25)
        assert np.array_equal(rt.recorded("block/second/lif", "v"), v)
