"""The compiler's memory layout: narrow dtypes, arrays shared with the network, chunked passes.

Big networks (Brunel, N = 1,000,000, K = 100: 101M synapses) compile within a few GiB because the
per-synapse and per-route arrays are narrow and the passes work in chunks; none of it may change a
result. These tests pin the dtypes, the sharing and that chunk sizes do not matter.
"""

from __future__ import annotations

import hashlib
import itertools

import numpy as np
import pytest
from netgen import random_network

import nmgraph as nm
from nmgraph.compilers import executable as executable_module
from nmgraph.compilers import lower as lower_module
from nmgraph.compilers import route as route_module
from nmgraph.compilers import synapse_graph as graph_module
from nmgraph.compilers.executable import Executable
from nmgraph.compilers.lower import lower
from nmgraph.compilers.synapse_graph import build_synapse_graph, count_values, row_chunks
from nmgraph.core.errors import ValidationError
from nmgraph.processes import LIF, PoissonSource, Sparse

try:
    from benchmarks.networks import brunel, by_source, fixed_indegree_cols
except ImportError:  # run from elsewhere than the repository root
    brunel = by_source = fixed_indegree_cols = None

needs_benchmarks = pytest.mark.skipif(brunel is None, reason="benchmarks/ not importable")


def _sparse_network(rows, cols, values, delays, n_post: int, n_pre: int) -> nm.Network:
    net = nm.Network("sparse")
    src = net.add(PoissonSource(shape=(n_pre,), rate=0.3, seed=4, name="src"))
    dst = net.add(LIF(shape=(n_post,), du=4095, dv=100, vth=5, name="dst"))
    syn = net.add(Sparse((rows, cols, values), shape=(n_post, n_pre), delay=delays, name="syn"))
    net.connect(src.s_out, syn.s_in)
    net.connect(syn.a_out, dst.a_in)
    return net


def _random_coo(seed: int, n_post: int = 30, n_pre: int = 40, p: float = 0.3):
    rng = np.random.default_rng(seed)
    rows, cols = np.nonzero(rng.random((n_post, n_pre)) < p)
    values = rng.integers(1, 100, rows.size)
    delays = rng.integers(1, 6, rows.size)
    return rows, cols, values, delays


def _digest(exe: Executable) -> str:
    """Every array of an executable, by value (whatever the dtypes)."""
    digest = hashlib.sha256()
    arrays = [exe.partition.unit_core, exe.unit_costs]
    for obj in (exe.routing, exe.tables):
        arrays += [value for value in vars(obj).values() if isinstance(value, np.ndarray)]
    for proj in exe.ir.projections:
        arrays += [proj.indptr, proj.targets, proj.weights, proj.delays]
    for array in arrays:
        digest.update(str(array.shape).encode())
        digest.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
    return digest.hexdigest()


# -- Sparse ------------------------------------------------------------------------------------

def test_sparse_stores_int32_indices() -> None:
    rows, cols, values, delays = _random_coo(1)
    syn = Sparse((rows.astype(np.int64), cols.astype(np.int64), values), shape=(30, 40),
                 delay=delays)
    assert syn.rows.dtype == np.int32 and syn.cols.dtype == np.int32
    assert np.array_equal(syn.rows, rows) and np.array_equal(syn.cols, cols)


@pytest.mark.parametrize("order", ["by_row", "by_col", "shuffled"])
def test_sparse_finds_duplicates_in_any_order(order: str) -> None:
    rows, cols, values, _ = _random_coo(2)
    arrange = {"by_row": np.arange(rows.size), "by_col": np.lexsort((rows, cols)),
               "shuffled": np.random.default_rng(0).permutation(rows.size)}[order]
    rows, cols, values = rows[arrange], cols[arrange], values[arrange]
    Sparse((rows, cols, values), shape=(30, 40))  # no duplicates: accepted
    twice = np.append(np.arange(rows.size), rows.size // 2)
    twice.sort()
    with pytest.raises(ValidationError, match="only once"):
        Sparse((rows[twice], cols[twice], values[twice]), shape=(30, 40))


def test_duplicate_check_across_chunk_boundaries(monkeypatch: pytest.MonkeyPatch) -> None:
    import nmgraph.processes.synapses as synapses_module

    monkeypatch.setattr(synapses_module, "_CHUNK", 3)
    rows, cols, values, _ = _random_coo(3)
    Sparse((rows, cols, values), shape=(30, 40))
    for at in range(1, 8):  # a repeat at every place relative to the chunks
        twice = np.insert(np.arange(rows.size), at, at - 1)
        with pytest.raises(ValidationError, match="only once"):
            Sparse((rows[twice], cols[twice], values[twice]), shape=(30, 40))


def test_sparse_keeps_a_broadcast_weight_unmaterialised() -> None:
    rows, cols, _, delays = _random_coo(4)
    values = np.broadcast_to(np.int16(7), rows.size)
    syn = Sparse((rows, cols, values), shape=(30, 40), delay=delays)
    assert syn.weights.value.strides == (0,)
    assert syn.weights.is_uniform and int(syn.weights.value[0]) == 7


# -- lowering ------------------------------------------------------------------------------------

def test_sparse_in_csr_order_lowers_to_views_of_its_arrays() -> None:
    rows, cols, values, delays = _random_coo(5)
    by_source = np.lexsort((rows, cols))
    net = _sparse_network(rows[by_source], cols[by_source], values[by_source], delays[by_source],
                          30, 40)
    proj = lower(net).projections[0]
    syn = net.processes[-1]
    assert np.shares_memory(proj.targets, syn.rows)
    assert np.shares_memory(proj.delays, syn.delay.value)
    assert not proj.targets.flags.writeable  # the IR never writes into the network
    assert proj.targets.dtype == np.int32
    shuffled = np.random.default_rng(1).permutation(rows.size)
    other = _sparse_network(rows[shuffled], cols[shuffled], values[shuffled], delays[shuffled],
                            30, 40)
    assert lower(other).equals(lower(net))  # the same IR either way


def test_sorted_lowering_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    rows, cols, values, delays = _random_coo(6)
    shuffled = np.random.default_rng(2).permutation(rows.size)
    net = _sparse_network(rows[shuffled], cols[shuffled], values[shuffled], delays[shuffled],
                          30, 40)
    whole = lower(net)
    monkeypatch.setattr(lower_module, "_CHUNK", 5)
    assert lower(net).equals(whole)


def test_broadcast_weights_run_like_materialised_ones() -> None:
    rows, cols, _, delays = _random_coo(7)
    narrow = _sparse_network(rows, cols, np.broadcast_to(np.int16(9), rows.size), delays, 30, 40)
    full = _sparse_network(rows, cols, np.full(rows.size, 9), delays, 30, 40)
    a, b = nm.compile(narrow, hardware="loihi1"), nm.compile(full, hardware="loihi1")
    assert a.ir.equals(b.ir) and _digest(a) == _digest(b)
    with nm.Runtime(a, backend="reference") as ra, nm.Runtime(b, backend="reference") as rb:
        ra.run(30)
        rb.run(30)
        assert ra.spikes("dst") == rb.spikes("dst")


@needs_benchmarks
def test_brunel_blocks_by_source_hold_the_same_synapses() -> None:
    rng = np.random.default_rng(8)
    cols = fixed_indegree_cols(50, 40, 6, rng, exclude_self=False)
    delays = rng.integers(1, 3, size=cols.size, endpoint=True, dtype=np.uint8)
    rows, pres, ordered = by_source(cols, delays)
    by_row = {(r, c, d) for r, c, d in zip(np.repeat(np.arange(40), 6), cols.ravel(), delays)}
    assert set(zip(rows.tolist(), pres.tolist(), ordered.tolist())) == by_row
    assert np.all(np.diff(pres.astype(np.int64) * 40 + rows) > 0)  # by pre, then post
    assert by_source(cols, 2)[2] == 2  # one delay for all stays one int


# -- synapse graph -------------------------------------------------------------------------------

def test_graph_weights_and_delays_by_unit_range() -> None:
    ir = lower(random_network(11, max_size=25))
    graph = build_synapse_graph(ir)
    expected_w, expected_d = [], []
    for unit in range(graph.n_units):
        for proj in ir.projections:
            pop = ir.population(proj.pre)
            if pop.offset <= unit < pop.stop:
                row = slice(proj.indptr[unit - pop.offset], proj.indptr[unit - pop.offset + 1])
                expected_w.append(proj.effective_weights()[row])
                expected_d.append(proj.delays[row])
    weight, delay = graph.weight_delay()
    assert np.array_equal(weight, np.concatenate(expected_w))
    assert np.array_equal(delay, np.concatenate(expected_d))
    assert weight.dtype == np.int16 and delay.dtype == np.uint8
    for u0, u1 in [(0, 3), (5, 9), (graph.n_units - 4, graph.n_units)]:
        part = slice(graph.indptr[u0], graph.indptr[u1])
        w, d = graph.weight_delay(u0, u1)
        assert np.array_equal(w, weight[part]) and np.array_equal(d, delay[part])


def test_count_values_and_row_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graph_module, "_CHUNK", 4)
    values = np.random.default_rng(9).integers(0, 7, 30).astype(np.uint16)
    assert np.array_equal(count_values(values, 9), np.bincount(values, minlength=9))
    indptr = np.array([3, 3, 10, 11, 12, 20, 20])
    chunks = row_chunks(indptr, 4)
    assert chunks[0][0] == 0 and chunks[-1][1] == 6
    assert all(a[1] == b[0] for a, b in itertools.pairwise(chunks))


# -- the whole compile ----------------------------------------------------------------------------

@pytest.mark.parametrize("hardware, partition, place", [
    ("generic", "greedy", "linear"), ("loihi1", "greedy", "linear"),
    ("loihi1", "mincut", "traffic"), ("spinnaker1", "balanced", "linear"),
])
def test_chunk_sizes_do_not_change_the_executable(monkeypatch: pytest.MonkeyPatch, hardware: str,
                                                  partition: str, place: str) -> None:
    net = random_network(12, max_size=40)
    kwargs = {"hardware": hardware, "partition": partition, "place": place,
              "max_neurons_per_core": 8}
    whole = nm.compile(net, **kwargs)
    for module, name, size in ((graph_module, "_CHUNK", 7), (executable_module, "_CHUNK", 5),
                               (route_module, "_ELEMENTS", 3), (route_module, "_CHUNK", 11),
                               (route_module, "_SPAN", 4), (lower_module, "_CHUNK", 2)):
        monkeypatch.setattr(module, name, size)
    chunked = nm.compile(net, **kwargs)
    assert _digest(chunked) == _digest(whole)
    assert chunked.report.to_dict()["traffic"] == whole.report.to_dict()["traffic"]


def test_executable_dtypes_are_narrow() -> None:
    exe = nm.compile(random_network(13), hardware="loihi1", max_neurons_per_core=8)
    routing, tables = exe.routing, exe.tables
    for name in ("dest_core", "dest_axon", "axon_source"):
        assert getattr(routing, name).dtype == np.int32, name
    for name in ("hops_x", "hops_y", "chip_crossings"):
        assert getattr(routing, name).dtype == np.int16, name
    assert tables.axon_syn_ptr.dtype == np.int32
    assert tables.syn_target.dtype == np.uint16
    assert tables.syn_weight.dtype == np.int16 and tables.syn_delay.dtype == np.uint8
    assert all(proj.targets.dtype == np.int32 for proj in exe.ir.projections)


def test_executables_with_int64_arrays_still_load_and_run(tmp_path) -> None:
    """Files saved before the narrow dtypes hold int64 routes, tables and IR targets: they load,
    with the routes and tables rebuilt in today's dtypes, and run the same."""
    exe = nm.compile(random_network(14), hardware="loihi1", max_neurons_per_core=8)
    old = nm.compile(random_network(14), hardware="loihi1", max_neurons_per_core=8)
    for obj in (old.routing, old.tables):
        for name, value in vars(obj).items():
            if isinstance(value, np.ndarray) and value.dtype.kind in "iu":
                setattr(obj, name, value.astype(np.int64))
    for proj in old.ir.projections:
        proj.targets = proj.targets.astype(np.int64)
    loaded = Executable.load(old.save(tmp_path / "old"))
    assert loaded.routing.dest_core.dtype == exe.routing.dest_core.dtype
    assert loaded.tables.axon_syn_ptr.dtype == exe.tables.axon_syn_ptr.dtype
    assert _digest(loaded) == _digest(exe)
    assert loaded.report.to_dict()["traffic"] == exe.report.to_dict()["traffic"]
    with nm.Runtime(exe, backend="reference") as a, nm.Runtime(loaded, backend="reference") as b:
        a.run(25)
        b.run(25)
        for pop in exe.ir.populations:
            assert a.spikes(pop.name) == b.spikes(pop.name)
