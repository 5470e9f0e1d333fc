"""The worker programs are built the same whichever way the build is cut: fan-out rows filled a
block of rows at a time equal one plain pass, tables of older files (int64) give the same
programs, the one-pass segment counts equal ``count_segments``, and the unit costs equal
their definition. Small networks only (the 1M-neuron figures are in the benchmark)."""

from __future__ import annotations

import numpy as np
import pytest
from netgen import random_network

import nmgraph as nm
from nmgraph.compilers.synapse_graph import ENGINE_DELAY
from nmgraph.runtimes import multicore_program as mp
from nmgraph.runtimes._fanout import count_rows, count_segments, scatter_rows, segment_counts


def _programs(exe, workers):
    programs = mp.build_programs(exe, mp.assign_workers(exe, workers))
    return [{name: array.copy() for name, array in p.arrays.items() if name != "kernel_runs"}
            | {"units": p.units.copy()} for p in programs]


def _assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for name in x:
            assert x[name].dtype == y[name].dtype, name
            np.testing.assert_array_equal(x[name], y[name], err_msg=name)


def _exe(seed=5, **kwargs):
    return nm.compile(random_network(seed, max_size=60, max_delay=6),
                      hardware=kwargs.pop("hardware", "generic"),
                      max_neurons_per_core=kwargs.pop("max_neurons_per_core", 9), **kwargs)


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_row_blocks_do_not_change_the_programs(monkeypatch, workers) -> None:
    exe = _exe()
    whole = _programs(exe, workers)
    for block in (1, 7, 64):
        monkeypatch.setattr(mp, "_SCATTER_BLOCK", block)
        _assert_same(_programs(exe, workers), whole)


def test_int64_tables_give_the_same_programs() -> None:
    """Files of older versions hold int64 routes and tables: read as they are, or converted."""
    exe = _exe(7)
    narrow = _programs(exe, 2)
    for obj, names in ((exe.routing, ("axon_source", "axon_indptr")),
                       (exe.tables, ("axon_syn_ptr", "syn_target", "core_unit_ptr"))):
        for name in names:
            setattr(obj, name, getattr(obj, name).astype(np.int64))
    _assert_same(_programs(exe, 2), narrow)


def _reference_rows(exe, cores, slot_local):
    """The rows of a worker as one plain loop: per source unit, its synapses core by core."""
    routing, tables = exe.routing, exe.tables
    rows: dict[int, list[tuple[int, int, int]]] = {}
    for c in cores:
        first = int(tables.core_unit_ptr[c])
        for a in range(int(routing.axon_indptr[c]), int(routing.axon_indptr[c + 1])):
            row = rows.setdefault(int(routing.axon_source[a]), [])
            for s in range(int(tables.axon_syn_ptr[a]), int(tables.axon_syn_ptr[a + 1])):
                row.append((int(slot_local[first + int(tables.syn_target[s])]),
                            int(tables.syn_weight[s]), int(tables.syn_delay[s])))
    return rows


@pytest.mark.parametrize("shuffle", [False, True])
def test_scatter_rows_equals_a_plain_loop(shuffle) -> None:
    """Rows filled block by block equal the plain loop, with cores whose units are consecutive
    in the worker (``core_base``) and cores whose units are not (``slot_local``)."""
    exe = _exe(3)
    tables, routing = exe.tables, exe.routing
    n_units = exe.ir.n_units
    rng = np.random.default_rng(0)
    unit_local = rng.permutation(n_units) if shuffle else np.arange(n_units)
    slot_local = unit_local[tables.core_units].astype(np.int64)
    cores = np.arange(1, exe.n_cores, 2, dtype=np.int64)   # a worker with every other core
    core_slot = tables.core_unit_ptr.astype(np.int64)
    bases = mp._core_bases(core_slot, slot_local)
    assert (bases < 0).any() if shuffle else (bases >= 0).all()
    inputs = (cores, routing.axon_indptr.astype(np.int64), core_slot, bases, routing.axon_source,
              tables.axon_syn_ptr, tables.syn_target, tables.syn_weight, tables.syn_delay,
              slot_local)
    unit_count = np.zeros(n_units, dtype=np.int64)
    acc = np.zeros(n_units, dtype=np.int64)
    engine = count_rows(*inputs, unit_count, acc, ENGINE_DELAY)
    expected = _reference_rows(exe, cores, slot_local)
    row_source = np.flatnonzero(unit_count)
    assert row_source.tolist() == sorted(expected)
    row_ptr = np.concatenate(([0], np.cumsum(unit_count[row_source] - 1)))
    magnitude = np.zeros(n_units, dtype=np.int64)
    for row in expected.values():
        for target, weight, _ in row:
            magnitude[target] += abs(weight)
    np.testing.assert_array_equal(acc, magnitude)
    assert engine == sum(d == ENGINE_DELAY for row in expected.values() for *_, d in row)
    for block in (1, 5, 1 << 20):
        fill = np.zeros(n_units, dtype=np.int64)
        fill[row_source] = row_ptr[:-1]
        n = int(row_ptr[-1])
        out = (np.empty(n, np.int32), np.empty(n, np.int16), np.empty(n, np.uint8))
        bounds = np.append(row_source[::block], n_units).astype(np.int64)[1:]
        scatter_rows(*inputs, bounds, fill, *out)
        for r, unit in enumerate(row_source):
            got = list(zip(*(a[row_ptr[r]:row_ptr[r + 1]].tolist() for a in out)))
            assert got == expected[int(unit)]


def test_segment_counts_equal_count_segments() -> None:
    rng = np.random.default_rng(1)
    lengths = rng.integers(0, 40, 300)
    row_ptr = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    n = int(row_ptr[-1])
    target = rng.integers(0, 300_000, n).astype(np.int32)
    target[: n // 2] %= 70_000          # rows within few blocks, and rows across many
    for spread in (2, 12):
        delay = rng.integers(1, spread, n).astype(np.uint8)
        one_block, blocked = segment_counts(row_ptr, target, delay, 16)
        np.testing.assert_array_equal(one_block, count_segments(row_ptr, target, delay, 63))
        np.testing.assert_array_equal(blocked, count_segments(row_ptr, target, delay, 16))


@pytest.mark.parametrize("hardware", ["generic", "loihi1", "spinnaker2"])
def test_unit_costs_follow_their_definition(hardware) -> None:
    exe = nm.compile(random_network(11, max_size=50), hardware=hardware, max_neurons_per_core=4)
    routing, unit_core = exe.routing, exe.partition.unit_core
    chips = exe.placement.core_chip
    owner = np.repeat(np.arange(exe.ir.n_units), np.diff(routing.dest_indptr))
    dest, own = routing.dest_core.astype(np.int64), unit_core[owner]
    n = exe.ir.n_units
    expected = np.zeros((n, 6), dtype=np.int64)
    expected[:, 0] = np.bincount(owner, weights=dest == own, minlength=n)
    expected[:, 1] = np.bincount(owner, weights=(dest != own) & (chips[dest] == chips[own]),
                                 minlength=n)
    expected[:, 2] = np.bincount(owner, weights=chips[dest] != chips[own], minlength=n)
    expected[:, 4] = np.bincount(owner, weights=routing.hops_x, minlength=n)
    expected[:, 5] = np.bincount(owner, weights=routing.hops_y, minlength=n)
    expected[:, 3] = expected[:, 4] + expected[:, 5]
    np.testing.assert_array_equal(exe._unicast_costs(), expected)


@pytest.mark.parametrize("hardware", ["generic", "loihi1", "spinnaker1", "spinnaker2"])
def test_derived_routes_are_derived_again_as_routed(hardware) -> None:
    """The compiler lets go of ``dest_axon``, ``hops_x`` and ``hops_y`` after the tables pass;
    read again (whole, or a range of units at a time), they are what the routing pass made."""
    from nmgraph.compilers.route import route
    from nmgraph.compilers.synapse_graph import build_synapse_graph

    exe = nm.compile(random_network(4, max_size=50), hardware=hardware, max_neurons_per_core=3)
    routing = exe.routing
    assert routing._dest_axon is None and routing._hops_x is None and routing._hops_y is None
    routed = route(exe.partition, exe.placement, build_synapse_graph(exe.ir), exe.profile)
    costs = exe.unit_costs   # from the routing pass's sums
    assert routing._hops_x is None
    for u0, u1 in ((0, exe.ir.n_units), (3, 17)):
        p0, p1 = routed.dest_indptr[u0], routed.dest_indptr[u1]
        for derived, held in zip(routing.unit_hops(u0, u1), (routed.hops_x, routed.hops_y)):
            assert derived.dtype == held.dtype
            np.testing.assert_array_equal(derived, held[p0:p1])
    for name in ("dest_axon", "hops_x", "hops_y"):
        derived, held = getattr(routing, name), getattr(routed, name)
        assert derived.dtype == held.dtype, name
        np.testing.assert_array_equal(derived, held, err_msg=name)
        assert getattr(routing, name) is derived   # kept once derived
    del exe.unit_costs
    np.testing.assert_array_equal(exe.unit_costs, costs)   # from the hops now held
    routing.unit_hop_sums = None   # as a routing without the pass's sums
    del exe.unit_costs
    routing.release_derived()
    np.testing.assert_array_equal(exe.unit_costs, costs)


def test_worker_assignment_does_not_depend_on_chunks(monkeypatch) -> None:
    """Source cores go to the worker holding most of their synapses, counted in any chunks."""
    from benchmarks.networks import brunel

    exe = nm.compile(brunel(3000, 40, seed=2), hardware="generic", max_neurons_per_core=200)
    whole = [mp.assign_workers(exe, w) for w in (2, 3)]
    monkeypatch.setattr(mp, "_CHUNK", 5)
    assert all(np.array_equal(mp.assign_workers(exe, w), expected)
               for w, expected in zip((2, 3), whole))
