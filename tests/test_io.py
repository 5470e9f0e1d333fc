"""Native save/load (nmgraph.core.io): round trips of every process type, hierarchies, corrupt files."""

from __future__ import annotations

import importlib
import io
import json
import os
import pkgutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse

import nmgraph
import nmgraph.processes
from nmgraph.core.errors import FileFormatError, ValidationError
from nmgraph.core.hierarchy import Hierarchical
from nmgraph.core.io import FORMAT_VERSION, load_network, save_network
from nmgraph.core.learning import LearningRule
from nmgraph.core.network import Network
from nmgraph.core.process import PROCESS_TYPES, Process, process_type_key
from nmgraph.processes import (
    ALIF,
    IF,
    LI,
    LIF,
    Conv,
    Dense,
    LIFRefractory,
    PoissonSource,
    Sparse,
    SpikeGenerator,
    SumPool2d,
    fixed_indegree,
)
from nmgraph.processes.learning_presets import stdp_pair
from nmgraph.processes.learning_synapses import LearningDense, LearningSparse


# ------------------------------------------------------------------------------------------------
# discovery of every process type nmgraph defines
# ------------------------------------------------------------------------------------------------
def _import_all(package: Any) -> None:
    for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        module = importlib.import_module(info.name)
        if info.ispkg:
            _import_all(module)


# The core package and the process library are where process classes live; import
# every module of both so that PROCESS_TYPES holds every concrete type nmgraph defines.
_import_all(nmgraph)
_import_all(nmgraph.processes)



def _nmgraph_types() -> list[str]:
    """Keys of the concrete process types the nmgraph package defines (not tests', not users')."""
    return sorted(key for key in PROCESS_TYPES if key.split(":")[0].split(".")[0] == "nmgraph")


NMGRAPH_TYPES = _nmgraph_types()


# ------------------------------------------------------------------------------------------------
# one example instance per concrete process class, with non-default values everywhere
# ------------------------------------------------------------------------------------------------
def _lif() -> LIF:
    lif = LIF(shape=(3, 2), du=np.arange(6).reshape(3, 2) * 100, dv=7, vth=200, bias_mant=-5,
              bias_exp=3, name="lif", v_reset=np.arange(6).reshape(3, 2) - 3, reset="subtract")
    lif.v = np.array([[1, -2], [3, -4], [5, -(2**23 - 1)]])  # set after construction
    lif.u = -(2**23)
    return lif


def _alif() -> ALIF:
    return ALIF(shape=4, du=1, dv=2, vth=np.array([10, 20, 30, 40]), db=3, beta=7,
                b=np.array([0, 1, 2**23 - 1, 5]), name="alif")


def _lif_refractory() -> LIFRefractory:
    return LIFRefractory(shape=3, du=5, dv=6, vth=12, refractory_period=np.array([0, 2, 9]),
                         refractory=np.array([0, 1, 9]), name="ref")


def _li() -> LI:
    return LI(shape=(2, 2), du=4095, dv=np.array([[0, 1], [2, 4095]]), bias_mant=-7, bias_exp=2,
              v=np.array([[1, -1], [2**23 - 1, 0]]), name="readout")


def _if() -> IF:
    return IF(shape=(5,), vth=2**17 - 1, bias_mant=-(2**12), bias_exp=7, v=np.arange(5),
              name="if.neurons")


def _dense() -> Dense:
    rng = np.random.default_rng(0)
    weights = rng.integers(-63, 64, size=(4, 6))
    delay = rng.integers(1, 256, size=(4, 6))
    return Dense(weights=weights, weight_exp=2, num_weight_bits=6, delay=delay, name="dense")


def _sparse() -> Sparse:
    matrix = fixed_indegree(n_pre=7, n_post=5, k=3, weight=(-100, 100), seed=3, sparse=True)
    delay = np.arange(matrix.nnz) % 9 + 1
    return Sparse(weights=matrix, weight_exp=1, num_weight_bits=7, delay=delay, name="sparse")


def _learning_dense() -> LearningDense:
    rule = LearningRule(dw="2^-2 * x1 * y0 - 3*2^-4 * y1 * x0 * (w + 2)", dt="u0 * t - y0",
                        x1_impulse=20, x1_decay=300, y1_impulse=12, y1_decay=500, t_epoch=2,
                        seed=2**64 - 3, w_bounds=(-40, 90), name="rule")
    weights = np.random.default_rng(5).integers(-40, 91, size=(3, 4))
    return LearningDense(weights=weights, learning_rule=rule, weight_exp=1, delay=3,
                         tags=np.arange(12).reshape(3, 4) - 6, third_factor_size=1, name="plastic")


def _learning_sparse() -> LearningSparse:
    rule, _ = stdp_pair(mu_plus=0, mu_minus=1, seed=11)
    rows, cols = np.array([2, 0, 1, 2]), np.array([0, 1, 3, 3])
    return LearningSparse((rows, cols, np.array([0, 5, 255, 7])), learning_rule=rule,
                          shape=(3, 4), delay=np.array([1, 2, 3, 4]), name="plastic_sparse")


def _conv() -> Conv:
    weights = np.random.default_rng(4).integers(-40, 41, size=(4, 3, 3, 2))
    return Conv(weights=weights, input_shape=(6, 7, 8), stride=(1, 2), padding=((1, 0), (2, 1)),
                dilation=(2, 1), groups=2, weight_exp=1, num_weight_bits=7, delay=4, name="conv")


def _sum_pool() -> SumPool2d:
    return SumPool2d(kernel_size=(2, 3), input_shape=(3, 6, 7), stride=1, padding="same",
                     weight=-5, delay=2, name="pool")


def _generator() -> SpikeGenerator:
    data = np.random.default_rng(1).random((6, 2, 3)) < 0.4
    return SpikeGenerator(data=data, repeat=True, name="gen")


def _poisson() -> PoissonSource:
    return PoissonSource(shape=(2, 3), rate=np.array([[0.0, 0.1, 0.25], [0.5, 1 / 3, 1.0]]),
                         seed=2**64 - 1, name="poisson")


def _hierarchical() -> Hierarchical:
    layer = Hierarchical(name="layer")
    syn = layer.add(Dense(weights=np.full((3, 4), 5), name="syn"))
    lif = layer.add(LIF(shape=3, du=10, dv=20, vth=30, name="lif"))
    rec = layer.add(Dense(weights=np.eye(3, dtype=int) * -2, delay=2, name="rec"))
    layer.connect(syn.a_out, lif.a_in)
    layer.connect(lif.s_out, rec.s_in)
    layer.connect(rec.a_out, lif.a_in)
    layer.expose("s_in", syn.s_in)
    layer.expose("s_out", lif.s_out)
    return layer


EXAMPLES: dict[type[Process], Callable[[], Process]] = {
    LIF: _lif,
    ALIF: _alif,
    LIFRefractory: _lif_refractory,
    IF: _if,
    LI: _li,
    Dense: _dense,
    Sparse: _sparse,
    LearningDense: _learning_dense,
    LearningSparse: _learning_sparse,
    Conv: _conv,
    SumPool2d: _sum_pool,
    SpikeGenerator: _generator,
    PoissonSource: _poisson,
    Hierarchical: _hierarchical,
}


def test_every_registered_type_has_an_example() -> None:
    """A new process type in nmgraph must get an example here, so that its save/load is tested."""
    missing = [key for key in _nmgraph_types() if PROCESS_TYPES[key] not in EXAMPLES]
    assert not missing, f"add an example factory to EXAMPLES in tests/test_io.py for {missing}"
    assert len(NMGRAPH_TYPES) >= 8


# ------------------------------------------------------------------------------------------------
# comparison helpers
# ------------------------------------------------------------------------------------------------
def assert_same_value(a: Any, b: Any, where: str) -> None:
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray), where
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert a.tobytes() == b.tobytes(), where  # bit for bit (NaN, -0.0)
        return
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, (tuple, list)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_value(x, y, f"{where}[{i}]")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same_value(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b), where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def assert_same_process(a: Process, b: Process) -> None:
    where = f"{a.qualified_name}"
    assert b.name == a.name, where
    assert b.qualified_name == a.qualified_name
    expected = Hierarchical if isinstance(a, Hierarchical) and \
        type(a).constructor_args is Hierarchical.constructor_args else type(a)
    assert type(b) is expected, where
    assert list(b.ports) == list(a.ports), where
    for name, port in a.ports.items():
        other = b.ports[name]
        assert (type(other), other.shape, other.kind) == (type(port), port.shape, port.kind)
        if port.target is None:
            assert other.target is None
        else:
            assert (other.target.process.name, other.target.name) == \
                (port.target.process.name, port.target.name)
            leaf, other_leaf = port.resolve(), other.resolve()
            assert (other_leaf.process.qualified_name, other_leaf.name) == \
                (leaf.process.qualified_name, leaf.name)
    assert list(b.vars) == list(a.vars), where
    for name, var in a.vars.items():
        other = b.vars[name]
        assert other.value.dtype == var.value.dtype and other.shape == var.shape, f"{where}.{name}"
        assert np.array_equal(other.value, var.value), f"{where}.{name}"
    if isinstance(b, Hierarchical) and type(b) is Hierarchical:
        assert_same_network(a.children, b.children)
    else:
        assert_same_value(a.constructor_args(), b.constructor_args(), f"{where} args")


def connection_tuples(net: Network) -> list[tuple[str, str, str, str]]:
    return [(c.src.name, c.src_port, c.dst.name, c.dst_port) for c in net.connections]


def assert_same_network(a: Network, b: Network) -> None:
    assert b.name == a.name
    assert [p.name for p in b.processes] == [p.name for p in a.processes]
    for p, q in zip(a.processes, b.processes):
        assert_same_process(p, q)
    assert connection_tuples(b) == connection_tuples(a)
    assert list(b.graph.edges(keys=True)) == list(a.graph.edges(keys=True))


def round_trip(net: Network, tmp_path: Path, filename: str = "net.nmg") -> Network:
    path = save_network(net, tmp_path / filename)
    assert path == tmp_path / filename and path.is_file()
    loaded = load_network(path)
    assert_same_network(net, loaded)
    return loaded


# ------------------------------------------------------------------------------------------------
# round trips
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("type_key", NMGRAPH_TYPES)
def test_round_trip_of_every_registered_type(type_key: str, tmp_path: Path) -> None:
    cls = PROCESS_TYPES[type_key]
    if cls not in EXAMPLES:
        pytest.fail(f"no example for {type_key}; see test_every_registered_type_has_an_example")
    process = EXAMPLES[cls]()
    assert type(process) is cls
    net = Network(f"one_{cls.__name__}")
    net.add(process)
    loaded = round_trip(net, tmp_path)
    assert type(loaded[process.name]) is cls


def _mixed_network() -> Network:
    net = Network("mixed")
    rates = np.linspace(0.0, 0.5, 12)
    poisson = net.add(PoissonSource(shape=(12,), rate=rates, seed=2**64 - 1, name="poisson"))
    raster = np.zeros((5, 12), dtype=bool)
    raster[[0, 2, 4], [1, 7, 11]] = True
    gen = net.add(SpikeGenerator(data=raster, repeat=True, name="gen"))
    exc = net.add(LIF(shape=(3, 4), du=410, dv=410, vth=200, name="exc"))
    inh = net.add(ALIF(shape=(4,), du=100, dv=200, db=50, beta=3, vth=100, name="inh"))
    rng = np.random.default_rng(5)
    ff = net.add(Dense(weights=rng.integers(0, 100, size=(12, 12)),
                       delay=rng.integers(1, 63, size=(12, 12)), name="ff"))
    net.add(Dense(weights=np.ones((12, 12), dtype=np.int16), name="gen_syn"))
    matrix = scipy.sparse.random(4, 12, density=0.5, random_state=2, format="csr",
                                 data_rvs=lambda n: np.arange(1, n + 1)).astype(np.int64)
    ei = net.add(Sparse(weights=matrix, delay=3, name="ei"))
    ie = net.add(Sparse(weights=(np.array([0, 5, 11]), np.array([3, 0, 1]),
                                 np.array([-7, -8, -9])), shape=(12, 4), name="ie"))
    net.connect(poisson.s_out, ff.s_in)
    net.connect(ff.a_out.reshape((3, 4)), exc.a_in)  # through a reshaped view
    net.connect(gen.s_out, net["gen_syn"].s_in)
    net.connect(net["gen_syn"].a_out, exc.a_in.flatten())
    net.connect(exc.s_out.flatten(), ei.s_in)
    net.connect(ei.a_out, inh.a_in)
    net.connect(inh.s_out, ie.s_in)
    net.connect(ie.a_out.reshape((3, 4)), exc.a_in)  # recurrent loop
    return net


def test_round_trip_of_a_mixed_network(tmp_path: Path) -> None:
    net = _mixed_network()
    loaded = round_trip(net, tmp_path)
    assert loaded["poisson"].seed == 2**64 - 1
    assert type(loaded["poisson"].seed) is int
    assert np.array_equal(loaded["poisson"].rate, net["poisson"].rate)
    assert loaded["gen"].repeat is True
    assert np.array_equal(loaded["ff"].delay.value, net["ff"].delay.value)
    assert not loaded["ff"].delay.is_uniform
    sparse_args = loaded["ei"].constructor_args()
    assert isinstance(sparse_args["weights"], tuple) and isinstance(sparse_args["shape"], tuple)
    assert np.array_equal(loaded["ei"].to_dense(), matrix_dense(net["ei"]))
    assert [p.name for p in loaded] == ["poisson", "gen", "exc", "inh", "ff", "gen_syn", "ei", "ie"]


def matrix_dense(process: Sparse) -> np.ndarray:
    return process.to_dense()


def test_loaded_network_lowers_to_the_same_ir(tmp_path: Path) -> None:
    from nmgraph.compilers.lower import lower

    net = _mixed_network()
    outer = net.add(_nested())
    net.connect(net["exc"].s_out.flatten(), outer.s_in)
    loaded = load_network(save_network(net, tmp_path / "x.nmg"))
    assert lower(net).equals(lower(loaded))


def _nested() -> Hierarchical:
    outer = Hierarchical(name="outer")
    inner = outer.add(_hierarchical())  # "layer": syn (3x4) -> lif (3), exposes s_in (4), s_out (3)
    pre = outer.add(Dense(weights=np.arange(48).reshape(4, 12) % 7, delay=4, name="pre"))
    post = outer.add(IF(shape=2, vth=3, name="post"))
    # pre (Dense) -> feed (IF) -> layer -> readout (Sparse) -> post (IF)
    readout = outer.add(Sparse(weights=np.array([[1, 0, 2], [0, 3, 0]]), name="readout"))
    feed = outer.add(IF(shape=4, vth=1, name="feed"))
    outer.connect(pre.a_out, feed.a_in)
    outer.connect(feed.s_out, inner.s_in)
    outer.connect(inner.s_out, readout.s_in)
    outer.connect(readout.a_out, post.a_in)
    outer.expose("s_in", pre.s_in)
    outer.expose("s_out", post.s_out)
    outer.expose("layer_out", inner.s_out)  # an exposed port of a nested child, exposed again
    return outer


def test_round_trip_of_nested_hierarchical_processes(tmp_path: Path) -> None:
    net = Network("hier")
    src = net.add(PoissonSource(shape=12, rate=0.2, seed=7, name="src"))
    outer = net.add(_nested())
    sink = net.add(LIF(shape=3, name="sink"))
    syn = net.add(Dense(weights=np.ones((3, 3), dtype=int), name="syn"))
    net.connect(src.s_out, outer.s_in)
    net.connect(outer.layer_out, syn.s_in)
    net.connect(syn.a_out, sink.a_in)
    loaded = round_trip(net, tmp_path)
    new_outer = loaded["outer"]
    assert type(new_outer) is Hierarchical and type(new_outer.children["layer"]) is Hierarchical
    assert new_outer.children["layer"].children["lif"].qualified_name == "outer/layer/lif"
    leaf = new_outer.layer_out.resolve()
    assert (leaf.process.qualified_name, leaf.name) == ("outer/layer/lif", "s_out")
    assert new_outer.children.owner is new_outer


class Layer(Hierarchical):
    """A user subclass, saved by structure: it comes back as the generic Hierarchical."""

    def __init__(self, n: int, name: str | None = None) -> None:
        super().__init__(name)
        syn = self.add(Dense(weights=np.full((n, n), 3), name="syn"))
        lif = self.add(LIF(shape=n, du=5, name="lif"))
        self.connect(syn.a_out, lif.a_in)
        self.expose("s_in", syn.s_in)
        self.expose("s_out", lif.s_out)


class ArgsLayer(Layer):
    """A user subclass that defines constructor_args: saved and rebuilt by its arguments."""

    def __init__(self, n: int, name: str | None = None) -> None:
        super().__init__(n, name)
        self._n = n

    def constructor_args(self) -> dict[str, Any]:
        return {"n": self._n}


def test_user_hierarchical_subclasses(tmp_path: Path) -> None:
    net = Network("user")
    net.add(Layer(3, name="plain"))
    net.add(ArgsLayer(2, name="by_args"))
    path = save_network(net, tmp_path / "user.nmg")
    document = json.loads(zipfile.ZipFile(path).read("structure.json"))
    plain, by_args = document["processes"]
    assert plain["type"] == "nmgraph.core.hierarchy:Hierarchical"
    assert plain["saved_from"] == process_type_key(Layer)
    assert by_args == {"type": process_type_key(ArgsLayer), "name": "by_args",
                       "args": {"n": 2}}
    loaded = load_network(path)
    assert_same_network(net, loaded)
    assert type(loaded["plain"]) is Hierarchical
    assert type(loaded["by_args"]) is ArgsLayer and loaded["by_args"].constructor_args() == {"n": 2}


# ------------------------------------------------------------------------------------------------
# the generic argument encoding
# ------------------------------------------------------------------------------------------------
class Blob(Process):
    """A process whose only purpose is to carry an arbitrary argument through save/load."""

    abstract = False

    def __init__(self, payload: Any = None, name: str | None = None) -> None:
        super().__init__(name)
        self.payload = payload
        self._finish()

    @property
    def shape(self) -> tuple[int, ...]:
        return (1,)

    def constructor_args(self) -> dict[str, Any]:
        return {"payload": self.payload}


PAYLOADS = {
    "none": None,
    "bools": [True, False],
    "str": "héllo / wörld",
    "small ints": [0, -1, 2**53, -(2**53)],
    "big ints": [2**64 - 1, 2**53 + 1, -(2**63), 2**100],
    "floats": [0.1, -0.0, 1e-300, 1.7976931348623157e308, 1 / 3],
    "non-finite": (float("inf"), float("-inf"), float("nan")),
    "tuples": ((1, 2), [(3,), ()], {"a": (4, (5, 6))}),
    "dict": {"x": 1, "nested": {"y": [1, 2]}, "tuple": "not a tag", "array": "not a tag"},
    "numpy scalars": [np.int64(7), np.uint64(2**64 - 1), np.float32(0.5), np.bool_(True)],
    "arrays": [np.arange(5, dtype=np.uint8), np.zeros((0, 3), dtype=np.int32),
               np.array(7, dtype=np.int16), np.full((2, 3), -4, dtype=np.int8),
               np.array([True, True]), np.array([1.5, np.nan, -np.inf], dtype=np.float32),
               np.full(4, 2**64 - 1, dtype=np.uint64), np.zeros(3, dtype=">i4"),
               np.asfortranarray(np.arange(6).reshape(2, 3))],
}


def _python(value: Any) -> Any:
    """What a payload is expected to come back as: numpy scalars become Python numbers."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return type(value)(_python(v) for v in value)
    if isinstance(value, dict):
        return {k: _python(v) for k, v in value.items()}
    return value


@pytest.mark.parametrize("label", sorted(PAYLOADS))
def test_generic_encoding_round_trips_exactly(label: str, tmp_path: Path) -> None:
    payload = PAYLOADS[label]
    net = Network("blob")
    net.add(Blob(payload, name="blob"))
    loaded = load_network(save_network(net, tmp_path / "blob.nmg"))
    assert_same_value(_python(payload), loaded["blob"].payload, label)
    if label == "floats":  # the sign of zero survives
        assert np.signbit(loaded["blob"].payload[1])


@pytest.mark.parametrize("payload", [object(), {1: 2}, np.array([None, 1], dtype=object),
                                     scipy.sparse.eye(2, format="csr"), 1 + 2j])
def test_unsavable_arguments_raise_a_validation_error(payload: Any, tmp_path: Path) -> None:
    net = Network("bad")
    net.add(Blob(payload, name="blob"))
    with pytest.raises(ValidationError, match="Blob 'blob'"):
        save_network(net, tmp_path / "bad.nmg")
    assert list(tmp_path.iterdir()) == []  # nothing written, no temporary file left


# ------------------------------------------------------------------------------------------------
# the file itself
# ------------------------------------------------------------------------------------------------
def test_file_layout_and_no_pickle(tmp_path: Path) -> None:
    net = _mixed_network()
    path = net.save(tmp_path / "mixed")
    assert path == tmp_path / "mixed.nmg"  # the suffix is added when missing
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        assert names[0] == "structure.json"
        assert all(n.startswith("arrays/") and n.endswith(".npy") for n in names[1:])
        assert "arrays/ff/delay.npy" in names and "arrays/ei/weights.0.npy" in names
        text = archive.read("structure.json").decode("utf-8")
        for name in names[1:]:
            array = np.load(io.BytesIO(archive.read(name)), allow_pickle=False)
            assert array.dtype != object
    document = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard {c}"))
    assert document["format"] == "nmgraph-network"
    assert document["version"] == FORMAT_VERSION
    assert document["nmgraph"] == nmgraph.__version__
    assert document["name"] == "mixed"
    assert [p["name"] for p in document["processes"]] == [p.name for p in net]
    assert document["processes"][0]["type"] == "nmgraph.processes.sources:PoissonSource"
    assert document["processes"][0]["args"]["seed"] == {"int": str(2**64 - 1)}
    assert document["connections"][0] == ["poisson", "s_out", "ff", "s_in"]
    assert [tuple(c) for c in document["connections"]] == connection_tuples(net)


def test_saving_is_deterministic_and_atomic(tmp_path: Path) -> None:
    net = _mixed_network()
    first = save_network(net, tmp_path / "a.nmg").read_bytes()
    second = save_network(net, tmp_path / "b.nmg").read_bytes()
    assert first == second
    # a failing save leaves the good file in place, and no temporary file behind
    bad = Network("mixed")
    bad.add(Blob(object(), name="blob"))
    with pytest.raises(ValidationError):
        save_network(bad, tmp_path / "a.nmg")
    assert (tmp_path / "a.nmg").read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.nmg", "b.nmg"]
    # uncompressed files load the same
    plain = save_network(net, tmp_path / "plain.nmg", compress=False)
    assert_same_network(net, load_network(plain))


def test_empty_network_and_generated_names(tmp_path: Path) -> None:
    round_trip(Network("empty"), tmp_path, "empty.nmg")
    net = Network("anon")
    lif = net.add(LIF(shape=2))
    src = net.add(PoissonSource(shape=2, rate=0.5))  # seed derived from the generated name
    loaded = round_trip(net, tmp_path, "anon.nmg")
    assert loaded[lif.name].name == lif.name
    assert loaded[src.name].seed == src.seed


# ------------------------------------------------------------------------------------------------
# corrupt, foreign and future files
# ------------------------------------------------------------------------------------------------
def _good_file(tmp_path: Path) -> Path:
    net = Network("small")
    src = net.add(PoissonSource(shape=3, rate=np.array([0.1, 0.2, 0.3]), seed=1, name="src"))
    syn = net.add(Dense(weights=np.array([[1, 2, 3], [4, 5, 6]]), name="syn"))
    lif = net.add(LIF(shape=2, vth=100, name="lif"))
    net.connect(src.s_out, syn.s_in)
    net.connect(syn.a_out, lif.a_in)
    return save_network(net, tmp_path / "good.nmg")


def _rewrite(source: Path, target: Path, edit: Callable[[dict[str, Any]], Any] | None = None,
             *, drop: str | None = None, raw_json: bytes | None = None) -> Path:
    """Copy ``source`` to ``target``, editing structure.json or dropping a member on the way."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for name in src.namelist():
            if name == drop:
                continue
            data = src.read(name)
            if name == "structure.json":
                if raw_json is not None:
                    data = raw_json
                elif edit is not None:
                    document = json.loads(data)
                    edit(document)
                    data = json.dumps(document).encode()
            dst.writestr(name, data)
    return target


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(document: dict[str, Any]) -> None:
        obj = document
        for key in path[:-1]:
            obj = obj[key]
        obj[path[-1]] = value
    return edit


CORRUPTIONS: dict[str, tuple[Callable[[Path, Path], Path], str]] = {
    "missing file": (lambda good, bad: bad, "no such file"),
    "truncated": (lambda good, bad: (bad.write_bytes(good.read_bytes()[: len(good.read_bytes())
                                                                         // 2]), bad)[1],
                  "not an nmgraph network file"),
    "random bytes": (lambda good, bad: (bad.write_bytes(np.random.default_rng(0).bytes(3000)),
                                        bad)[1], "not a zip"),
    "empty file": (lambda good, bad: (bad.write_bytes(b""), bad)[1], "not a zip"),
    "text file": (lambda good, bad: (bad.write_text("hello"), bad)[1], "not a zip"),
    "foreign zip": (lambda good, bad: _rewrite(good, bad, drop="structure.json"),
                    "no structure.json"),
    "bad json": (lambda good, bad: _rewrite(good, bad, raw_json=b'{"format": "nmgraph-net'),
                 "not valid JSON"),
    "json nan": (lambda good, bad: _rewrite(good, bad, raw_json=b'{"format": NaN}'),
                 "not valid JSON"),
    "json not an object": (lambda good, bad: _rewrite(good, bad, raw_json=b"[1, 2]"),
                           "must hold a JSON object"),
    "not utf-8": (lambda good, bad: _rewrite(good, bad, raw_json=b"\xff\xfe{}"),
                  "not valid JSON"),
    "wrong format": (lambda good, bad: _rewrite(good, bad, _set(["format"], "nmgraph-executable")),
                     "format 'nmgraph-executable'"),
    "future version": (lambda good, bad: _rewrite(good, bad, _set(["version"], FORMAT_VERSION + 1)),
                       f"version {FORMAT_VERSION + 1}"),
    "bad version": (lambda good, bad: _rewrite(good, bad, _set(["version"], "1")),
                    "invalid file format version"),
    "unknown type": (lambda good, bad: _rewrite(good, bad, _set(["processes", 2, "type"],
                                                                "mylab.neurons:Izhikevich")),
                     "unknown process type 'mylab.neurons:Izhikevich'; import the module"),
    "unknown nmgraph type": (lambda good, bad: _rewrite(good, bad, _set(
        ["processes", 2, "type"], "nmgraph.processes.neurons:Nope")), "unknown process type"),
    "missing array": (lambda good, bad: _rewrite(good, bad, drop="arrays/src/rate.npy"),
                      "'arrays/src/rate.npy' is missing"),
    "constructor rejects": (lambda good, bad: _rewrite(good, bad, _set(
        ["processes", 2, "args", "vth"], 2**40)), "rejects the stored arguments"),
    "unexpected argument": (lambda good, bad: _rewrite(good, bad, _set(
        ["processes", 2, "args", "tau"], 3)), "rejects the stored arguments"),
    "unknown tag": (lambda good, bad: _rewrite(good, bad, _set(
        ["processes", 2, "args", "vth"], {"matrix": 1})), "unknown encoded value"),
    "bad tag body": (lambda good, bad: _rewrite(good, bad, _set(
        ["processes", 0, "args", "seed"], {"int": "12x"})), "bad 'int' value"),
    "bad full dtype": (lambda good, bad: _rewrite(good, bad, _set(
        ["processes", 2, "args", "vth"],
        {"full": {"shape": [2], "dtype": "O", "value": 1}})), "bad 'full' value"),
    "no processes": (lambda good, bad: _rewrite(good, bad, _set(["processes"], {"a": 1})),
                     "'processes' must be a list"),
    "process without name": (lambda good, bad: _rewrite(good, bad, _set(["processes", 1],
                                                                         {"type": "x:Y"})),
                             "has no 'name'"),
    "duplicate name": (lambda good, bad: _rewrite(good, bad, _set(["processes", 2, "name"],
                                                                  "syn")), "cannot add"),
    "bad connection": (lambda good, bad: _rewrite(good, bad, _set(["connections", 0],
                                                                  ["src", "s_out", "syn"])),
                       "a connection is"),
    "unknown port": (lambda good, bad: _rewrite(good, bad, _set(
        ["connections", 0], ["src", "s_out", "syn", "x_in"])), "cannot connect"),
    "unknown process in connection": (lambda good, bad: _rewrite(good, bad, _set(
        ["connections", 0], ["ghost", "s_out", "syn", "s_in"])), "cannot connect"),
    "shape mismatch": (lambda good, bad: _rewrite(good, bad, _set(
        ["connections", 1], ["syn", "a_out", "src", "s_out"])), "cannot connect"),
}


@pytest.mark.parametrize("label", sorted(CORRUPTIONS))
def test_corrupt_files_raise_file_format_error(label: str, tmp_path: Path) -> None:
    make, expected = CORRUPTIONS[label]
    good = _good_file(tmp_path)
    bad = make(good, tmp_path / f"bad-{label.replace(' ', '_')}.nmg")
    with pytest.raises(FileFormatError) as info:
        load_network(bad)
    message = str(info.value)
    assert bad.name in message
    assert expected in message, message
    assert isinstance(info.value, nmgraph.NmgraphError)


def test_future_version_message_says_to_upgrade(tmp_path: Path) -> None:
    bad = _rewrite(_good_file(tmp_path), tmp_path / "future.nmg", _set(["version"], 99))
    with pytest.raises(FileFormatError, match="upgrade nmgraph") as info:
        load_network(bad)
    assert "version 99" in str(info.value) and f"up to {FORMAT_VERSION}" in str(info.value)


def test_causes_are_chained(tmp_path: Path) -> None:
    good = _good_file(tmp_path)
    bad = _rewrite(good, tmp_path / "bad.nmg", raw_json=b"{oops")
    with pytest.raises(FileFormatError) as info:
        load_network(bad)
    assert isinstance(info.value.__cause__, json.JSONDecodeError)
    rejected = _rewrite(good, tmp_path / "rejected.nmg",
                        _set(["processes", 2, "args", "vth"], -1))
    with pytest.raises(FileFormatError) as info:
        load_network(rejected)
    assert isinstance(info.value.__cause__, ValidationError)
    assert "LIF 'lif'" in str(info.value)


def test_a_pickled_array_member_is_refused(tmp_path: Path) -> None:
    good = _good_file(tmp_path)
    bad = tmp_path / "pickled.nmg"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "arrays/src/rate.npy":
                buffer = io.BytesIO()
                np.lib.format.write_array(buffer, np.array([0.1, None, 0.3], dtype=object),
                                          allow_pickle=True)
                data = buffer.getvalue()
            dst.writestr(name, data)
    with pytest.raises(FileFormatError, match="never unpickles") as info:
        load_network(bad)
    assert "pickled.nmg" in str(info.value)


def test_a_damaged_array_member_is_detected(tmp_path: Path) -> None:
    good = save_network(_mixed_network(), tmp_path / "good.nmg", compress=False)
    data = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as archive:
        info = archive.getinfo("arrays/ff/delay.npy")
    # flip one byte in the middle of the stored array data: the CRC check must catch it
    offset = info.header_offset + 30 + len(info.filename) + len(info.extra) + info.file_size // 2
    data[offset] ^= 0xFF
    bad = tmp_path / "flipped.nmg"
    bad.write_bytes(bytes(data))
    with pytest.raises(FileFormatError, match=r"flipped\.nmg"):
        load_network(bad)


def test_a_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match="is a directory"):
        load_network(tmp_path)


def test_truncation_at_every_length_raises_only_file_format_error(tmp_path: Path) -> None:
    data = _good_file(tmp_path).read_bytes()
    bad = tmp_path / "cut.nmg"
    for length in sorted({*range(0, len(data), max(1, len(data) // 60)), len(data) - 1}):
        bad.write_bytes(data[:length])
        with pytest.raises(FileFormatError, match=r"cut\.nmg"):
            load_network(bad)


def test_os_path_and_str_paths(tmp_path: Path) -> None:
    path = _good_file(tmp_path)
    assert load_network(str(path)).name == "small"
    assert load_network(os.fspath(path)).name == "small"
