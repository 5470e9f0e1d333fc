"""Bad input raises a ValidationError (or PortError) that names the process and the attribute.

``ValidationError`` prints ``Class 'name'.attribute: message (got X)``; user input is
never checked with ``assert``, and no bad value may surface as a bare ``AssertionError``,
``TypeError``, ``IndexError`` or ``KeyError``.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

import nmgraph as nm
from nmgraph.processes import ALIF, IF, LIF, Dense, PoissonSource, Sparse, SpikeGenerator

BARE_ERRORS = (AssertionError, TypeError, IndexError, KeyError)


def _ones(post: int, pre: int) -> np.ndarray:
    return np.ones((post, pre), dtype=np.int64)


def _small_net() -> SimpleNamespace:
    """gen(4), syn(5x4), lif(5), lif3(3) and syn2(3x4), all added and none connected."""
    net = nm.Network("bad")
    return SimpleNamespace(
        net=net,
        gen=net.add(SpikeGenerator(np.zeros((3, 4), dtype=bool), name="gen")),
        syn=net.add(Dense(_ones(5, 4), name="syn")),
        lif=net.add(LIF(5, name="lif")),
        lif3=net.add(LIF(3, name="lif3")),
        syn2=net.add(Dense(_ones(3, 4), name="syn2")),
    )


# -- the individual bad inputs --------------------------------------------------------------------
# Each returns nothing and must raise; the table below says which process and attribute the
# message must name.

def weights_1d():
    Dense(weights=np.array([1, 2, 3]), name="syn")


def weights_ragged():
    Dense(weights=[[1, 2], [3]], name="syn")


def weights_shape_vs_port():
    n = _small_net()
    n.net.connect(n.syn.a_out, n.lif3.a_in)        # syn has 5 posts, lif3 has 3 neurons


def du_negative():
    LIF(3, du=-1, name="lif")


def dv_too_large():
    LIF(3, dv=4096, name="lif")


def du_too_large_per_neuron():
    LIF(3, du=[0, 4096, 1], name="lif")


def vth_too_large():
    LIF(3, vth=2**17, name="lif")


def bias_exp_8():
    LIF(3, bias_exp=8, name="lif")


def bias_mant_too_large():
    LIF(3, bias_mant=4096, name="lif")


def bias_mant_too_small():
    LIF(3, bias_mant=-4097, name="lif")


def float_weights():
    Dense(weights=np.array([[1.5, 2.0]]), name="syn")   # whole floats are taken, 1.5 is not


def float_du():
    LIF(3, du=0.5, name="lif")


def float_integral_vth():
    LIF(3, vth=10.0, name="lif")           # integral floats are refused too: quantize first


def bool_du():
    LIF(3, du=True, name="lif")


def bool_weights():
    Dense(weights=np.array([[True, False]]), name="syn")


def weights_beyond_8_bits():
    Dense(weights=np.array([[256, 0]]), name="syn")


def weights_beyond_num_weight_bits():
    Dense(weights=np.array([[256, -1]]), num_weight_bits=3, name="syn")   # -256..255 at any bits


def sparse_weights_beyond_bits():
    Sparse(([0], [0], [-300]), shape=(2, 2), num_weight_bits=7, name="sp")


def weight_exp_8():
    Dense(weights=_ones(2, 2), weight_exp=8, name="syn")


def weight_exp_negative():
    Dense(weights=_ones(2, 2), weight_exp=-1, name="syn")


def weight_exp_float():
    Dense(weights=_ones(2, 2), weight_exp=2.0, name="syn")


def num_weight_bits_9():
    Dense(weights=_ones(2, 2), num_weight_bits=9, name="syn")


def delay_0():
    Dense(weights=_ones(2, 2), delay=0, name="syn")


def delay_256():
    Dense(weights=_ones(2, 2), delay=256, name="syn")


def delay_per_synapse_0():
    Dense(weights=_ones(2, 2), delay=np.array([[1, 2], [0, 3]]), name="syn")


def delay_wrong_shape():
    Dense(weights=_ones(2, 2), delay=np.ones((3, 3), dtype=np.int64), name="syn")


def sparse_delay_0():
    Sparse(([0, 1], [0, 1], [1, 1]), shape=(2, 2), delay=[1, 0], name="sp")


def shape_negative():
    LIF(-1, name="lif")


def shape_zero():
    LIF((4, 0), name="lif")


def name_with_slash():
    LIF(3, name="a/b")


def name_empty():
    LIF(3, name="")


def unknown_port():
    LIF(3, name="lif").port("x")


def unknown_var():
    LIF(3, name="lif").var("w")


def connect_in_to_in():
    n = _small_net()
    n.net.connect(n.syn.s_in, n.syn2.s_in)


def connect_out_to_out():
    n = _small_net()
    n.net.connect(n.gen.s_out, n.lif.s_out)


def spike_into_a_in():
    n = _small_net()
    n.net.connect(n.gen.s_out, n.lif.a_in)


def current_into_s_in():
    n = _small_net()
    n.net.connect(n.syn2.a_out, n.syn.s_in)


def shape_mismatch():
    n = _small_net()
    other = n.net.add(SpikeGenerator(np.zeros((2, 3), dtype=bool), name="gen3"))
    n.net.connect(other.s_out, n.syn.s_in)     # 3 units into a 4-wide s_in


def process_not_added():
    n = _small_net()
    loose = LIF(5, name="loose")
    n.net.connect(n.syn.a_out, loose.a_in)


def process_in_two_networks():
    n = _small_net()
    nm.Network("other").add(n.lif)


def duplicate_connection():
    n = _small_net()
    n.net.connect(n.gen.s_out, n.syn.s_in)
    n.net.connect(n.gen.s_out, n.syn.s_in)


def duplicate_name():
    n = _small_net()
    n.net.add(IF(2, name="lif"))


def poisson_rate_above_1():
    PoissonSource(4, rate=1.5, seed=0, name="poi")


def poisson_rate_nan():
    PoissonSource(4, rate=math.nan, seed=0, name="poi")


def poisson_rate_negative_per_unit():
    PoissonSource(2, rate=[0.1, -0.1], seed=0, name="poi")


def poisson_seed_negative():
    PoissonSource(4, rate=0.1, seed=-1, name="poi")


def poisson_seed_too_large():
    PoissonSource(4, rate=0.1, seed=2**64, name="poi")


def poisson_seed_float():
    PoissonSource(4, rate=0.1, seed=1.0, name="poi")


def poisson_seed_set_later():
    source = PoissonSource(4, rate=0.1, seed=3, name="poi")
    source.seed = -5


def generator_values_2():
    SpikeGenerator(np.array([[0, 2], [1, 0]]), name="gen")


def generator_repeat_not_bool():
    SpikeGenerator(np.zeros((2, 2), dtype=bool), repeat=1, name="gen")


def generator_event_time_0():
    SpikeGenerator.from_events(times=[0, 1], indices=[0, 1], shape=2, name="gen")


def generator_event_index_out_of_range():
    SpikeGenerator.from_events(times=[1, 2], indices=[0, 2], shape=2, name="gen")


def sparse_duplicate_entries():
    Sparse(([0, 0], [1, 1], [1, 2]), shape=(2, 2), name="sp")


def sparse_coo_without_shape():
    Sparse(([0, 1], [1, 0], [1, 2]), name="sp")


def sparse_index_out_of_shape():
    Sparse(([0, 5], [1, 0], [1, 2]), shape=(2, 2), name="sp")


def var_set_out_of_range():
    lif = LIF(3, vth=10, name="lif")
    lif.vth = -1


def var_set_float():
    lif = LIF(3, name="lif")
    lif.dv = 0.25


def alif_db_out_of_range():
    ALIF(3, db=4096, name="alif")


def alif_b_negative():
    ALIF(3, b=-1, name="alif")


def state_v_out_of_range():
    LIF(3, v=2**23, name="lif")


def assign_to_port():
    lif = LIF(3, name="lif")
    lif.a_in = 5


def rename_process():
    lif = LIF(3, name="lif")
    lif.name = "other"


def expose_non_child_port():
    class Layer(nm.Hierarchical):
        pass

    stranger = LIF(3, name="lif")
    Layer(name="layer").expose("s_out", stranger.s_out)


def tau_zero():
    LIF.from_time_constants(3, tau_u=0.0, tau_v=4.0, name="lif")


# (function, process name, class name, attribute)
CASES = [
    (weights_1d, "syn", "Dense", "weights"),
    (weights_ragged, "syn", "Dense", "weights"),
    (weights_shape_vs_port, "lif3", "LIF", "a_in"),
    (du_negative, "lif", "LIF", "du"),
    (dv_too_large, "lif", "LIF", "dv"),
    (du_too_large_per_neuron, "lif", "LIF", "du"),
    (vth_too_large, "lif", "LIF", "vth"),
    (bias_exp_8, "lif", "LIF", "bias_exp"),
    (bias_mant_too_large, "lif", "LIF", "bias_mant"),
    (bias_mant_too_small, "lif", "LIF", "bias_mant"),
    (float_weights, "syn", "Dense", "weights"),
    (float_du, "lif", "LIF", "du"),
    (float_integral_vth, "lif", "LIF", "vth"),
    (bool_du, "lif", "LIF", "du"),
    (bool_weights, "syn", "Dense", "weights"),
    (weights_beyond_8_bits, "syn", "Dense", "weights"),
    (weights_beyond_num_weight_bits, "syn", "Dense", "weights"),
    (sparse_weights_beyond_bits, "sp", "Sparse", "weights"),
    (weight_exp_8, "syn", "Dense", "weight_exp"),
    (weight_exp_negative, "syn", "Dense", "weight_exp"),
    (weight_exp_float, "syn", "Dense", "weight_exp"),
    (num_weight_bits_9, "syn", "Dense", "num_weight_bits"),
    (delay_0, "syn", "Dense", "delay"),
    (delay_256, "syn", "Dense", "delay"),
    (delay_per_synapse_0, "syn", "Dense", "delay"),
    (delay_wrong_shape, "syn", "Dense", "delay"),
    (sparse_delay_0, "sp", "Sparse", "delay"),
    (shape_negative, "lif", "LIF", "shape"),
    (shape_zero, "lif", "LIF", "shape"),
    (name_with_slash, "a/b", "LIF", "name"),
    (name_empty, "", "LIF", "name"),
    (unknown_port, "lif", "LIF", "x"),
    (unknown_var, "lif", "LIF", "w"),
    (connect_in_to_in, "syn", "Dense", "s_in"),
    (connect_out_to_out, "lif", "LIF", "s_out"),
    (spike_into_a_in, "lif", "LIF", "a_in"),
    (current_into_s_in, "syn", "Dense", "s_in"),
    (shape_mismatch, "syn", "Dense", "s_in"),
    (process_not_added, "loose", "LIF", "a_in"),
    (process_in_two_networks, "lif", "LIF", None),
    (duplicate_connection, "syn", "Dense", "s_in"),
    (duplicate_name, "lif", "IF", "name"),
    (poisson_rate_above_1, "poi", "PoissonSource", "rate"),
    (poisson_rate_nan, "poi", "PoissonSource", "rate"),
    (poisson_rate_negative_per_unit, "poi", "PoissonSource", "rate"),
    (poisson_seed_negative, "poi", "PoissonSource", "seed"),
    (poisson_seed_too_large, "poi", "PoissonSource", "seed"),
    (poisson_seed_float, "poi", "PoissonSource", "seed"),
    (poisson_seed_set_later, "poi", "PoissonSource", "seed"),
    (generator_values_2, "gen", "SpikeGenerator", "data"),
    (generator_repeat_not_bool, "gen", "SpikeGenerator", "repeat"),
    (generator_event_time_0, "gen", "SpikeGenerator", "times"),
    (generator_event_index_out_of_range, "gen", "SpikeGenerator", "indices"),
    (sparse_duplicate_entries, "sp", "Sparse", "weights"),
    (sparse_coo_without_shape, "sp", "Sparse", "shape"),
    (sparse_index_out_of_shape, "sp", "Sparse", "weights"),
    (var_set_out_of_range, "lif", "LIF", "vth"),
    (var_set_float, "lif", "LIF", "dv"),
    (alif_db_out_of_range, "alif", "ALIF", "db"),
    (alif_b_negative, "alif", "ALIF", "b"),
    (state_v_out_of_range, "lif", "LIF", "v"),
    (assign_to_port, "lif", "LIF", "a_in"),
    (rename_process, "lif", "LIF", "name"),
    (expose_non_child_port, "layer", "Layer", "s_out"),
    (tau_zero, "lif", "LIF", "tau_u"),
]


def _check_message(exc: BaseException, name: str, cls: str, attribute: str | None) -> None:
    assert not isinstance(exc, BARE_ERRORS), f"bare {type(exc).__name__}: {exc}"
    message = str(exc)
    assert f"{cls} '{name}'" in message, message
    if attribute is not None:
        assert f"'{name}'.{attribute}" in message, message
        assert exc.attribute == attribute


def test_enough_distinct_cases():
    functions = [case[0] for case in CASES]
    assert len(set(functions)) == len(functions) >= 25


@pytest.mark.parametrize(("make", "name", "cls", "attribute"), CASES,
                         ids=[case[0].__name__ for case in CASES])
def test_bad_input_raises_validation_error(make, name, cls, attribute):
    with pytest.raises(nm.ValidationError) as info:
        make()
    _check_message(info.value, name, cls, attribute)


@pytest.mark.parametrize("make", [connect_in_to_in, connect_out_to_out, spike_into_a_in,
                                  shape_mismatch, process_not_added, duplicate_connection,
                                  weights_shape_vs_port])
def test_connection_errors_are_port_errors(make):
    with pytest.raises(nm.PortError):
        make()


def test_nothing_is_changed_by_a_refused_connection():
    n = _small_net()
    n.net.connect(n.gen.s_out, n.syn.s_in)
    with pytest.raises(nm.PortError):
        n.net.connect(n.gen.s_out, n.syn.s_in)
    with pytest.raises(nm.PortError):
        n.net.connect(n.syn.a_out, n.lif3.a_in)
    assert len(n.net.connections) == 1


def test_refused_var_value_keeps_the_old_one():
    lif = LIF(3, vth=10, name="lif")
    with pytest.raises(nm.ValidationError):
        lif.vth = 2**17
    assert lif.vth.value.tolist() == [10, 10, 10]


def test_unknown_attribute_warns():
    lif = LIF(3, name="lif")
    with pytest.warns(UserWarning, match=r"LIF 'lif'.*'vht'"):
        lif.vht = 100


def test_validation_error_format():
    with pytest.raises(nm.ValidationError) as info:
        LIF(3, dv=4096, name="exc")
    assert str(info.value).startswith("LIF 'exc'.dv: ")
    assert str(info.value).endswith("(got 4096)")
    assert isinstance(info.value, nm.NmgraphError)


# -- runtime-level bad input -------------------------------------------------------------------

def _running_net() -> SimpleNamespace:
    net = nm.Network("rt_bad")
    gen = net.add(SpikeGenerator(np.eye(3, dtype=bool), name="gen"))
    syn = net.add(Dense(np.eye(3, dtype=np.int64) * 10, name="syn"))
    lif = net.add(LIF(3, du=4095, dv=0, vth=1, name="lif"))
    net.connect(gen.s_out, syn.s_in)
    net.connect(syn.a_out, lif.a_in)
    return SimpleNamespace(net=net, gen=gen, syn=syn, lif=lif)


RUNTIME_ERRORS = (nm.SimulationError, nm.ValidationError)


def _check_runtime_error(exc: BaseException, *fragments: str) -> None:
    assert isinstance(exc, RUNTIME_ERRORS), type(exc)
    assert not isinstance(exc, BARE_ERRORS), f"bare {type(exc).__name__}: {exc}"
    for fragment in fragments:
        assert fragment in str(exc), str(exc)


def test_runtime_spikes_of_a_process_not_in_the_network():
    n = _running_net()
    stranger = LIF(3, name="stranger")
    with nm.Runtime(n.net, backend="reference") as rt:
        rt.run(3)
        with pytest.raises(RUNTIME_ERRORS) as info:
            rt.spikes(stranger)
        _check_runtime_error(info.value, "stranger")
        # the runtime still works and nothing computed is lost
        assert rt.spikes(n.gen).to_dense().shape == (3, 3)


def test_runtime_spikes_of_a_process_with_the_same_name_elsewhere():
    n = _running_net()
    twin = LIF(3, name="lif")               # same name, another (unadded) object
    with nm.Runtime(n.net, backend="reference") as rt:
        rt.run(2)
        with pytest.raises(RUNTIME_ERRORS) as info:
            rt.spikes(twin)
        _check_runtime_error(info.value, "lif")


def test_runtime_record_unknown_var():
    n = _running_net()
    with nm.Runtime(n.net, backend="reference") as rt:
        with pytest.raises(RUNTIME_ERRORS) as info:
            rt.record(n.lif, "voltage")
        _check_runtime_error(info.value, "lif", "voltage")


def test_runtime_get_unknown_var():
    n = _running_net()
    with nm.Runtime(n.net, backend="reference") as rt:
        rt.run(1)
        with pytest.raises(RUNTIME_ERRORS) as info:
            rt.get(n.lif, "nope")
        _check_runtime_error(info.value, "lif", "nope")


def test_runtime_set_wrong_shape():
    n = _running_net()
    with nm.Runtime(n.net, backend="reference") as rt:
        rt.run(1)
        before = np.array(rt.get(n.lif, "v"))
        with pytest.raises(RUNTIME_ERRORS) as info:
            rt.set(n.lif, "v", np.zeros(4, dtype=np.int64))
        _check_runtime_error(info.value, "lif", "v")
        assert np.array_equal(rt.get(n.lif, "v"), before)


def test_runtime_set_out_of_range():
    n = _running_net()
    with nm.Runtime(n.net, backend="reference") as rt:
        with pytest.raises(RUNTIME_ERRORS) as info:
            rt.set(n.lif, "v", 2**23)
        _check_runtime_error(info.value, "lif", "v")


def test_runtime_run_negative_steps():
    n = _running_net()
    with nm.Runtime(n.net, backend="reference") as rt:
        with pytest.raises(RUNTIME_ERRORS):
            rt.run(-1)
        with pytest.raises(RUNTIME_ERRORS):
            rt.run(2.5)
