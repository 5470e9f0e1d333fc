"""benchmarks/nir_nmnist.py: the N-MNIST CNN has the NIR paper's layer sizes, and a short run
of the benchmark imports, maps and runs it with the multi-core runtime equal to the reference."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("nir")

import nmgraph as nm
from benchmarks import nir_nmnist


def test_the_layers_have_the_sizes_of_nirs_nmnist_cnn() -> None:
    net = nm.from_nir(nir_nmnist.build_graph(0), dt=nir_nmnist.DT)
    # (34 + 2 - 5) // 2 + 1 = 16; 3x3 padding 1 keeps 16; pool 2 -> 8; pool 2 -> 4; 8 * 4 * 4 = 128
    shapes = {name: tuple(net[net.nir_report.nodes[name].processes[0]].shape)
              for name in nir_nmnist.NEURON_LAYERS}
    assert shapes == {"if1": (16, 16, 16), "if2": (16, 16, 16), "if3": (8, 8, 8),
                      "if4": (256,), "if5": (10,)}


def test_the_events_are_on_and_off_and_sparse() -> None:
    events = nir_nmnist.nmnist_like_events(300, seed=0)
    assert events.shape == (300, 2, 34, 34) and events.dtype == bool
    assert not np.any(events[:, 0] & events[:, 1])          # a pixel is either ON or OFF
    assert 10 < events.sum() / 300 < 100                        # tens of events per step


def test_a_short_run_of_the_benchmark(capsys) -> None:
    figures = nir_nmnist.main(["--repeats", "1", "--steps", "30", "--check"])
    assert figures["neurons"] == 4096 + 4096 + 512 + 256 + 10
    assert figures["reference_identical"] is True
    loihi, spinnaker = figures["profiles"]["loihi1"], figures["profiles"]["spinnaker1"]
    assert loihi["spikes"] == spinnaker["spikes"] and sum(loihi["spikes"].values()) > 0
    # SpiNNaker 1: 256 neurons per core -> 16 + 16 + 2 + 1 + 1 neuron cores
    assert spinnaker["cores"] >= 36 and loihi["chips"] == 1
    assert "| loihi1 |" in capsys.readouterr().out
