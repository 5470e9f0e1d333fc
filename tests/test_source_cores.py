"""Source cores hold as many units as the profile's ``spike_sources_per_core`` says (SpiNNaker:
500 Poisson sources), in every strategy and in the lower bound; the lower bound never exceeds the
cores a strategy achieves, on any profile."""

from __future__ import annotations

import numpy as np
import pytest
from netgen import random_network

import nmgraph as nm
from nmgraph.compilers.hardware import load_profile
from nmgraph.processes import LIF, PoissonSource, Sparse

PROFILES = ["loihi1", "loihi2", "spinnaker1", "spinnaker2", "truenorth", "generic"]


def driven(n: int) -> nm.Network:
    net = nm.Network("driven")
    src = net.add(PoissonSource(shape=(n,), rate=0.01, seed=1, name="drive"))
    lif = net.add(LIF(shape=(n,), du=400, dv=400, vth=100, name="lif"))
    syn = net.add(Sparse((np.arange(n), np.arange(n), np.full(n, 50)), shape=(n, n), name="in"))
    net.connect(src.s_out, syn.s_in)
    net.connect(syn.a_out, lif.a_in)
    return net


@pytest.mark.parametrize("strategy", ["greedy", "balanced", "mincut"])
def test_spinnaker_source_cores_hold_500(strategy: str) -> None:
    exe = nm.compile(driven(1000), hardware="spinnaker1", partition=strategy)
    kinds = np.array(exe.partition.core_kind)
    sources = exe.partition.usage["neurons"][kinds == "source"]
    assert sources.sum() == 1000 and sources.max() <= 500
    assert (kinds == "source").sum() == 2
    assert exe.partition.lower_bound["neurons"] == 4 + 2       # 1000 / 256 neurons, 1000 / 500
    utilisation = exe.report.resources["neurons"].fraction
    assert utilisation[kinds == "source"].max() == pytest.approx(1.0)


def test_user_cap_applies_to_source_cores() -> None:
    exe = nm.compile(driven(1000), hardware="spinnaker1", max_neurons_per_core=100)
    kinds = np.array(exe.partition.core_kind)
    assert exe.partition.usage["neurons"][kinds == "source"].max() <= 100


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("seed", [1, 5, 9])
def test_lower_bound_never_exceeds_cores_used(profile: str, seed: int) -> None:
    net = random_network(seed, max_size=300, max_delay=min(8, load_profile(profile).max_delay),
                         p_connect=0.3)
    for strategy in ("greedy", "balanced", "mincut"):
        try:
            exe = nm.compile(net, hardware=profile, partition=strategy)
        except nm.MappingError:
            continue
        assert exe.partition.lower_bound["cores"] <= exe.n_cores, (profile, strategy)
