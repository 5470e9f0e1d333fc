"""A hierarchical process stands for its children in the Runtime: spikes and recordings of the
child whose ``s_out`` it exposes, and the Vars it exposes with ``expose_var``, as a Lava user
expects."""

from __future__ import annotations

import numpy as np
import pytest

import nmgraph as nm
from nmgraph.processes import LIF, Dense, SpikeGenerator


class Layer(nm.Hierarchical):
    def __init__(self, n_in: int, n: int, name: str | None = None) -> None:
        super().__init__(name)
        syn = self.add(Dense(weights=np.full((n, n_in), 30), name="syn"))
        self.lif = self.add(LIF(shape=(n,), du=4095, dv=200, vth=40, name="lif"))
        self.connect(syn.a_out, self.lif.a_in)
        self.expose("s_in", syn.s_in)
        self.expose("s_out", self.lif.s_out)
        self.expose_var("voltage", self.lif.v)


class Outer(nm.Hierarchical):
    """Two levels: the outer process exposes the inner layer's s_out."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.inner = self.add(Layer(3, 5, name="inner"))
        self.expose("s_in", self.inner.s_in)
        self.expose("s_out", self.inner.s_out)


def network() -> tuple[nm.Network, Layer, Outer]:
    rng = np.random.default_rng(3)
    net = nm.Network("h")
    gen = net.add(SpikeGenerator(data=rng.random((40, 3)) < 0.5, name="gen"))
    layer = net.add(Layer(3, 4, name="layer"))
    outer = net.add(Outer(name="outer"))
    net.connect(gen.s_out, layer.s_in)
    net.connect(gen.s_out, outer.s_in)
    return net, layer, outer


@pytest.mark.parametrize("backend", ["reference", "multicore"])
def test_hierarchical_resolves_to_children(backend: str) -> None:
    net, layer, outer = network()
    with nm.Runtime(net, backend=backend) as rt:
        rt.record(layer, "v")           # the child behind the exposed s_out has a v
        rt.record(layer, "voltage")     # an exposed Var
        rt.run(40)
        assert rt.spikes(layer) == rt.spikes("layer/lif")
        assert len(rt.spikes(layer).times) > 0
        assert rt.spikes(outer) == rt.spikes("outer/inner/lif")
        assert np.array_equal(rt.recorded(layer, "v"), rt.recorded(layer, "voltage"))
        assert np.array_equal(rt.get(layer, "voltage"), rt.get("layer/lif", "v"))
        rt.set(layer, "voltage", 7)
        assert (rt.get(layer.lif, "v") == 7).all()


def test_hierarchical_without_s_out_says_what_to_do() -> None:
    class Silent(nm.Hierarchical):
        def __init__(self) -> None:
            super().__init__("silent")
            syn = self.add(Dense(weights=np.ones((2, 2), dtype=int), name="syn"))
            lif = self.add(LIF(shape=(2,), name="lif"))
            self.connect(syn.a_out, lif.a_in)
            self.expose("s_in", syn.s_in)

    net = nm.Network()
    gen = net.add(SpikeGenerator(data=np.ones((3, 2), dtype=bool), name="gen"))
    silent = net.add(Silent())
    net.connect(gen.s_out, silent.s_in)
    with nm.Runtime(net, backend="reference") as rt:
        with pytest.raises(nm.SimulationError, match="exposes no 's_out'"):
            rt.spikes(silent)


def test_expose_var_checks_ownership() -> None:
    other = LIF(shape=(2,), name="other")
    layer = Layer(2, 2, name="l2")
    with pytest.raises(nm.ValidationError, match="its own children"):
        layer.expose_var("x", other.v)
