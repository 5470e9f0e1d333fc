"""TrueNorth splitters: units whose targets span several cores relay through splitter neurons (one
per destination core, on one core), so the demo network and a small Brunel network map onto
truenorth, run bit-identically on both backends, and, where every delay is at least 2, give the
same spikes as the network without splitters."""

from __future__ import annotations

import numpy as np
import pytest

import nmgraph as nm
from benchmarks.networks import brunel
from nmgraph.tools.demo import build_demo_network


def assert_same_runs(exe, steps: int = 60, workers: int = 2) -> None:
    with nm.Runtime(exe, backend="reference") as ref, nm.Runtime(exe, workers=workers) as rt:
        ref.run(steps)
        rt.run(steps)
        for pop in exe.ir.populations:
            assert ref.spikes(pop.name) == rt.spikes(pop.name), pop.name
        assert ref.counters.as_dict() == rt.counters.as_dict()


@pytest.mark.parametrize("network", ["demo", "brunel"])
def test_truenorth_maps_with_splitters(network: str) -> None:
    net = build_demo_network() if network == "demo" else brunel(1000, 50, delay=1)
    exe = nm.compile(net, hardware="truenorth")
    relays = exe.ir.population("splitters")
    assert relays.size > 0 and any("splitter neurons" in note for note in exe.report.notes)
    # every unit now reaches one core at most; every core within every limit
    fanout = np.diff(exe.routing.dest_indptr)
    assert fanout.max() <= 1
    usage = exe.partition.usage
    assert usage["neurons"].max() <= 256 and usage["axons_in"].max() <= 256
    assert exe.partition.lower_bound["cores"] <= exe.n_cores
    assert_same_runs(exe)


def test_splitters_compensate_delays_of_two_or_more() -> None:
    """With every delay >= 2 the relay's step is taken from the delay: the original populations
    spike exactly as in the network without splitters."""
    net = per_source_weight_network(12)
    plain = nm.compile(net, hardware="generic")
    split = nm.compile(net, hardware="truenorth", partition="greedy")
    assert "splitters" in split.ir
    assert any("delays compensated" in note for note in split.report.notes)
    with nm.Runtime(plain, backend="reference") as a, nm.Runtime(split, workers=3) as b:
        a.run(80)
        b.run(80)
        for pop in plain.ir.populations:
            assert a.spikes(pop.name) == b.spikes(pop.name), pop.name
        assert len(a.spikes("exc").times) > 100 and len(a.spikes("inh").times) > 20


def per_source_weight_network(seed: int) -> nm.Network:
    """Poisson -> exc <-> inh, one weight per source population (TrueNorth's axon types: at most 4
    weights into a population), delays 2..6."""
    from nmgraph.processes import LIF, Dense, PoissonSource

    rng = np.random.default_rng(seed)
    net = nm.Network("tn")
    src = net.add(PoissonSource(shape=(40,), rate=0.2, seed=seed, name="src"))
    exc = net.add(LIF(shape=(300,), du=600, dv=300, vth=60, name="exc"))
    inh = net.add(LIF(shape=(80,), du=600, dv=300, vth=40, name="inh"))
    for pre, post, weight in ((src, exc, 30), (exc, inh, 25), (inh, exc, -40), (exc, exc, 12)):
        weights = (rng.random((post.size, pre.size)) < 0.15) * weight
        syn = net.add(Dense(weights=weights, delay=rng.integers(2, 7, weights.shape),
                            name=f"{pre.name}_{post.name}"))
        net.connect(pre.s_out, syn.s_in)
        net.connect(syn.a_out, post.a_in)
    return net


def test_splitter_executable_round_trips(tmp_path) -> None:
    exe = nm.compile(build_demo_network(), hardware="truenorth")
    again = nm.compilers.executable.Executable.load(exe.save(tmp_path / "tn.nmx"))
    assert again.ir.equals(exe.ir)
    assert_same_runs(again, steps=20, workers=1)
