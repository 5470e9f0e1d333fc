"""``nmgraph study`` over a multicast profile shows router entries and messages as SpiNNaker
counts them: each spike is one packet delivered to every core its core's units reach."""

from __future__ import annotations

import numpy as np

import nmgraph as nm
from nmgraph.tools.runtime import Runtime
from nmgraph.tools.study import study
from tests.test_route_compress import small_brunel

STEPS = 30


def test_study_over_spinnaker_shows_router_entries_and_delivered_messages():
    net = small_brunel(600, 30)
    result = study(net, hardware="spinnaker1", steps=STEPS, max_neurons_per_core=[64],
                   progress=False)
    record = next(iter(result))
    exe = nm.compile(net, hardware="spinnaker1", max_neurons_per_core=64)
    assert exe.n_chips >= 2
    assert record["router_entries"] == int(exe.routing.router_entries.max())
    assert record["cores"] == exe.n_cores and record["chips"] == exe.n_chips
    # messages recomputed from the run's spikes: per spike, the cores reached by any unit of the
    # spiking unit's core (Python sets over the routes), split by where they are
    unit_core, chips = exe.partition.unit_core, exe.placement.core_chip
    union: dict[int, set[int]] = {}
    for unit in range(exe.ir.n_units):
        dests = exe.routing.dest_core[exe.routing.dest_indptr[unit]:exe.routing.dest_indptr[unit + 1]]
        union.setdefault(int(unit_core[unit]), set()).update(int(d) for d in dests)
    with Runtime(exe, backend="reference", progress=False) as runtime:
        runtime.run(STEPS)
        spikes = {pop.name: runtime.spikes(pop.name) for pop in exe.ir.populations}
    leaving_core = leaving_chip = total = 0
    for name, events in spikes.items():
        for unit in (events.indices + exe.ir.population(name).offset).tolist():
            core = int(unit_core[unit])
            for dest in union[core]:
                total += 1
                leaving_core += dest != core
                leaving_chip += chips[dest] != chips[core]
    assert total > 0
    assert record["messages"] == total
    assert record["messages_inter_core"] == leaving_core
    assert record["messages_inter_chip"] == leaving_chip
    text = result.to_markdown()
    assert "router entries (max / chip)" in text and f"| {record['router_entries']:,} |" in text
    assert np.isfinite(record["energy_per_step_j"])
