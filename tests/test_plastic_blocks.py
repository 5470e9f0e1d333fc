"""Plastic synapse blocks through the public API: declaring them, their errors, reading and writing
their learning state, files, the mapping report, learning memory and energy.

(Bit-identity of learning between the backends on random rules and networks is in
test_learning_equivalence.py.)
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

import nmgraph as nm
from nmgraph.compilers.executable import Executable
from nmgraph.compilers.hardware import load_profile
from nmgraph.compilers.learning_memory import learning_bits
from nmgraph.core.archive import write_archive
from nmgraph.core.errors import FileFormatError, MappingError, SimulationError, ValidationError
from nmgraph.processes import (
    LIF,
    STDP,
    Dense,
    LearningDense,
    LearningSparse,
    PoissonSource,
    RewardModulatedSTDP,
    SpikeGenerator,
)
from nmgraph.tools.energy import energy_report

RULE = "2^-2 * x1 * y0 - 2^-2 * y1 * x0"


def _rule(**kw) -> nm.LearningRule:
    args = {"x1_impulse": 20, "x1_decay": 400, "y1_impulse": 20, "y1_decay": 400, "seed": 3}
    args.update(kw)
    return nm.LearningRule(dw=kw.pop("dw", RULE), **{k: v for k, v in args.items() if k != "dw"})


def _network(n_pre: int = 12, n_post: int = 5, sparse: bool = False, rule=None):
    net = nm.Network("blocks")
    src = net.add(PoissonSource(shape=(n_pre,), rate=0.2, seed=4, name="src"))
    post = net.add(LIF(shape=(n_post,), du=300, dv=300, vth=20, bias_mant=0, bias_exp=0,
                       name="post"))
    rng = np.random.default_rng(1)
    rule = rule or _rule()
    if sparse:
        rows = np.array([4, 0, 2, 1, 3, 0, 4])
        cols = np.array([0, 3, 1, 7, 7, 11, 9])
        syn = LearningSparse((rows, cols, rng.integers(0, 100, rows.size)), learning_rule=rule,
                             shape=(n_post, n_pre), delay=2, name="syn")
    else:
        syn = LearningDense(weights=rng.integers(0, 100, (n_post, n_pre)), learning_rule=rule,
                            delay=2, name="syn")
    net.add(syn)
    net.connect(src.s_out, syn.s_in)
    net.connect(syn.a_out, post.a_in)
    return net, syn, post


# -- declaring ------------------------------------------------------------------------------------
def test_a_rule_is_required() -> None:
    with pytest.raises(ValidationError, match=r"learning_rule.*required"):
        LearningDense(weights=np.ones((2, 2)))


def test_weights_must_start_within_the_bounds() -> None:
    with pytest.raises(ValidationError, match=r"within the weight bounds 0\.\.50"):
        LearningDense(weights=np.full((2, 2), 60), learning_rule=_rule(w_bounds=(0, 50)))


def test_lava_names_of_tags_and_delays() -> None:
    syn = LearningDense(weights=np.ones((2, 3)), learning_rule=_rule(), tag_1=4, tag_2=5)
    assert np.array_equal(syn.tags.value, np.full((2, 3), 4))
    assert np.array_equal(syn.delay.value, np.full((2, 3), 5))
    with pytest.raises(ValidationError, match="tag_1"):
        LearningDense(weights=np.ones((2, 3)), learning_rule=_rule(), tags=3, tag_1=4)


def test_plastic_blocks_keep_eight_bit_weights() -> None:
    with pytest.raises(ValidationError, match="num_weight_bits"):
        LearningDense(weights=np.ones((2, 2)), learning_rule=_rule(), num_weight_bits=6)


def test_every_dense_entry_is_a_synapse() -> None:
    net, _, _ = _network()
    ir = nm.compile(net).ir
    plastic = [p for p in ir.projections if p.is_plastic]
    assert len(plastic) == 1 and plastic[0].n_synapses == 12 * 5   # zeros included


def test_one_block_joins_one_pair_of_populations() -> None:
    net, syn, _ = _network()
    other = net.add(PoissonSource(shape=(12,), rate=0.1, seed=9, name="other"))
    net.connect(other.s_out, syn.s_in)
    with pytest.raises(ValidationError, match="one source population to one target"):
        nm.compile(net)


def test_third_factor_port_must_match_the_rule() -> None:
    net, syn, _ = _network()
    reward = net.add(SpikeGenerator(data=np.ones((3, 5), bool), name="reward"))
    net.connect(reward.s_out, syn.s_in_y2)
    with pytest.raises(ValidationError, match="does not drive y2 by a third factor"):
        nm.compile(net)
    net2, _, _ = _network(rule=RewardModulatedSTDP(seed=1))
    with pytest.raises(ValidationError, match=r"s_in_y2.*not connected"):
        nm.compile(net2)


def test_truenorth_does_not_learn() -> None:
    net, _, _ = _network()
    with pytest.raises(MappingError, match=r"'syn'.*truenorth has no on-chip learning"):
        nm.compile(net, hardware="truenorth")


# -- state ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["reference", "multicore"])
def test_dense_state_has_the_process_shape(backend: str) -> None:
    net, syn, _ = _network()
    with nm.Runtime(nm.compile(net, hardware="loihi1"), backend=backend,
                    workers=2 if backend == "multicore" else None) as rt:
        start = rt.get(syn, "weights")
        assert start.shape == (5, 12) and np.array_equal(start, syn.weights.value)
        assert rt.get(syn, "x1").shape == (12,) and rt.get(syn, "y1").shape == (5,)
        rt.run(60)
        learned = rt.get(syn, "weights")
        assert not np.array_equal(learned, start), "nothing learned in 60 steps"
        assert learned.min() >= 0 and learned.max() <= 255
        assert rt.get(syn, "x1").max() > 0
        rt.set(syn, "weights", 7)
        assert np.array_equal(rt.get(syn, "weights"), np.full((5, 12), 7))
        assert np.array_equal(rt.get(syn, "tag_1"), rt.get(syn, "tags"))   # Lava's names
        assert np.array_equal(rt.get(syn, "tag_2"), np.full((5, 12), 2))
        with pytest.raises(ValidationError, match="weights"):
            rt.set(syn, "weights", 300)
        with pytest.raises(SimulationError, match="delays are fixed"):
            rt.set(syn, "delay", 3)
        with pytest.raises(SimulationError, match="no 'v'"):
            rt.get(syn, "v")


@pytest.mark.parametrize("backend", ["reference", "multicore"])
def test_sparse_state_follows_the_entries_as_given(backend: str) -> None:
    net, syn, _ = _network(sparse=True)
    with nm.Runtime(nm.compile(net, hardware="loihi1"), backend=backend,
                    workers=2 if backend == "multicore" else None) as rt:
        assert np.array_equal(rt.get(syn, "weights"), syn.weights.value)
        values = np.arange(syn.nnz) * 3
        rt.set(syn, "weights", values)
        assert np.array_equal(rt.get(syn, "weights"), values)
        by_name = rt.get("syn", "weights")   # the projection's order: by pre, then post
        order = np.lexsort((syn.rows, syn.cols))
        assert np.array_equal(by_name, values[order])


def test_recorded_weights_are_the_weights_after_each_sampled_step() -> None:
    net, syn, _ = _network()
    with nm.Runtime(nm.compile(net, hardware="loihi1"), workers=2) as rt:
        monitor = rt.record(syn, "weights", every=10)
        rt.run(25)
        last = rt.get(syn, "weights")
        assert monitor.values.shape == (3, 60)
        assert np.array_equal(monitor.steps, [1, 11, 21])
        rt.run(5)
        assert monitor.values.shape == (3, 60)
    with nm.Runtime(net, backend="reference") as ref:
        ref_monitor = ref.record(syn, "weights", every=10)
        ref.run(25)
        assert np.array_equal(ref.get(syn, "weights"), last)
        assert np.array_equal(ref_monitor.values, monitor.values)


# -- files, report, memory, energy ----------------------------------------------------------------
def test_executable_file_keeps_the_learning(tmp_path) -> None:
    net, syn, post = _network(rule=_rule(dt="u0 * y1 - x0", t_epoch=3, w_bounds=(0, 150)))
    exe = nm.compile(net, hardware="loihi1")
    loaded = Executable.load(exe.save(tmp_path / "plastic"))
    assert loaded.ir.equals(exe.ir)
    for target in (exe, loaded):
        with nm.Runtime(target, backend="multicore", workers=2) as rt:
            rt.run(40)
            result = (rt.get(syn, "weights"), rt.get(syn, "tags"), rt.spikes(post))
        if target is exe:
            first = result
    assert np.array_equal(first[0], result[0]) and np.array_equal(first[1], result[1])
    assert first[2] == result[2]
    assert np.count_nonzero(first[1]), "the tags did not change"


def test_snapshot_with_corrupt_learning_state_is_refused(tmp_path) -> None:
    net, _, _ = _network()
    with nm.Runtime(nm.compile(net, hardware="loihi1"), backend="reference") as rt:
        rt.run(10)
        path = rt.snapshot(tmp_path / "run")
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    document = json.loads(members.pop("document.json"))
    arrays = {name: np.load(io.BytesIO(data)) for name, data in members.items()}
    weights = document["plastic"]["syn"]["weights"]
    arrays[weights] = np.full_like(arrays[weights], 999)
    bad = tmp_path / "bad.nms"
    write_archive(bad, {"document.json": json.dumps(document)}, list(arrays.items()))
    with pytest.raises(FileFormatError, match="learning state 'syn' weights"):
        nm.Runtime.restore(bad, backend="reference")


def test_report_memory_and_energy_count_the_learning() -> None:
    net, _, _ = _network(rule=_rule(dt="u0 * y1 - x0"))
    exe = nm.compile(net, hardware="loihi1")
    line = [row for row in exe.report.to_markdown().splitlines() if row.startswith("| learning")]
    assert line and "60 plastic synapses in 1 projection" in line[0]
    # tags (9 bits) on 60 synapses, x1 on 12 input axons, y1 on 5 neurons (7 bits each)
    bits = learning_bits(exe.ir, exe.partition.unit_core, exe.n_cores)
    assert int(bits.sum()) == 60 * 9 + 12 * 7 + 5 * 7
    fixed = nm.Network("fixed")
    src = fixed.add(PoissonSource(shape=(12,), rate=0.2, seed=4))
    post = fixed.add(LIF(shape=(5,), du=300, dv=300, vth=20))
    dense = fixed.add(Dense(weights=np.ones((5, 12), int), delay=2))
    fixed.connect(src.s_out, dense.s_in)
    fixed.connect(dense.a_out, post.a_in)
    base = nm.compile(fixed, hardware="loihi1").partition.usage["synapse_bits"].sum()
    assert exe.partition.usage["synapse_bits"].sum() == base + bits.sum()
    with nm.Runtime(exe, workers=2) as rt:
        rt.run(50)
        counters = rt.counters
        report = energy_report(exe, counters, spikes=rt)
    assert counters.synaptic_updates > 0
    assert report.by_category()["synaptic_updates"] == pytest.approx(
        counters.synaptic_updates * 120e-12)


def test_learning_state_that_overflows_a_core_is_repartitioned_or_an_error() -> None:
    net, _, _ = _network(n_pre=200, n_post=40, rule=_rule(dt="u0 * y1 - x0"))
    per_synapse = load_profile("loihi1").bits_per_synapse
    # room for the 8,000 synapses on one core, not for their tags and traces: fewer neurons
    # per core then
    small = load_profile("loihi1").replace(
        name="tiny", synapse_memory_bits_per_core=200 * 40 * per_synapse + 1000)
    exe = nm.compile(net, hardware=small)
    assert exe.partition.notes and "neurons per core" in exe.partition.notes[-1]
    limit = small.synapse_memory_bits_per_core
    assert int(exe.partition.usage["synapse_bits"].max()) <= limit
    assert int(exe.partition.usage["neurons"][exe.partition.usage["synapse_bits"] > 0].max()) < 40
    # a single neuron whose synapses fit but not with their learning state: an error
    tiny = small.replace(synapse_memory_bits_per_core=200 * per_synapse + 100)
    with pytest.raises(MappingError, match="learning state need"):
        nm.compile(net, hardware=tiny)


def test_stdp_preset_reports_its_quantization() -> None:
    rule = STDP(lambda_=0.005, alpha=1.05, mu_plus=0, mu_minus=0, seed=2)
    assert isinstance(rule, nm.LearningRule)
    names = [value.name for value in rule.quantization.values]
    assert names[:4] == ["tau_plus", "tau_minus", "lambda", "alpha"]
    assert rule.w_bounds == (0, 255) and rule.traces == ("x1", "y1")


def test_nir_export_refuses_plastic_blocks() -> None:
    pytest.importorskip("nir")
    net, _, _ = _network()
    with pytest.raises(ValidationError, match="plastic synapse block has no NIR node"):
        nm.to_nir(net, dt=1e-3)


def test_lava_stdp_rule_by_its_arguments() -> None:
    from nmgraph.processes import STDPLoihi

    rule = STDPLoihi(learning_rate=1, A_plus=1, A_minus=-1, tau_plus=10, tau_minus=10, t_epoch=4)
    assert str(rule.equations["dw"]) == "x0 * y1 - y0 * x1"
    assert (rule.impulses["x1"], rule.decays["x1"], rule.t_epoch) == (16, 390, 4)
    with pytest.warns(nm.QuantizationWarning, match="learning_rate"):
        STDPLoihi(learning_rate=0.1, A_plus=2, A_minus=-2, tau_plus=10, tau_minus=10)


# -- regressions found in review -------------------------------------------------------------------
def test_delay_63_learns_on_both_backends_when_the_rule_ignores_delays() -> None:
    net, _, _ = _network()
    syn2 = net.add(LearningDense(weights=np.full((5, 5), 30), learning_rule=_rule(seed=8),
                                 delay=63, name="slow"))
    net.connect(net["post"].s_out, syn2.s_in)
    net.connect(syn2.a_out, net["post"].a_in)
    exe = nm.compile(net, hardware="generic")
    results = []
    for backend in ("reference", "multicore"):
        with nm.Runtime(exe, backend=backend, workers=2 if backend == "multicore" else None) as rt:
            rt.run(150)
            results.append(rt.get(syn2, "weights"))
    assert np.array_equal(*results) and not np.array_equal(results[0], syn2.weights.value)


def test_plastic_delays_use_a_wide_input_buffer() -> None:
    """A dd rule can land up to 62 spikes of one synapse on one step: the int32 proof of the
    ring buffer does not hold, so the multicore runtime sums in int64."""
    rule = nm.LearningRule(dw="u0 * 0", dd="- u0", seed=1)
    net = nm.Network("ring")
    src = net.add(PoissonSource(shape=(1100,), rate=1.0, seed=1, name="src"))
    post = net.add(LIF(shape=(1,), du=0, dv=0, vth=2**17 - 1, name="post"))
    syn = net.add(LearningDense(weights=np.full((1, 1100), -255), learning_rule=rule,
                                weight_exp=7, delay=62, name="syn"))
    net.connect(src.s_out, syn.s_in)
    net.connect(syn.a_out, post.a_in)
    exe = nm.compile(net, hardware="loihi2")
    values = []
    for backend in ("reference", "multicore"):
        with nm.Runtime(exe, backend=backend, workers=1 if backend == "multicore" else None) as rt:
            monitor = rt.record(post, "u")
            rt.run(64)
            values.append(monitor.values)
            if backend == "multicore":
                assert rt.backend.programs[0].arrays["ring"].dtype == np.int64
    assert np.array_equal(*values)
    assert values[0].min() < -(2**31)   # the sum that would wrap in int32


def test_rule_arguments_are_checked() -> None:
    with pytest.raises(ValidationError, match="t_epoch"):
        nm.LearningRule(dw=RULE, t_epoch=2**63)
    with pytest.raises(ValidationError, match="junk"):
        LearningDense(weights=np.ones((2, 2)), learning_rule={"dw": RULE, "junk": 1})
    with pytest.raises(ValidationError, match="dt_ms"):
        STDP(dt_ms=0)
    rule = _rule(w_bounds=(0, 200))
    assert "seed=3" in repr(rule) and "w_bounds=(0, 200)" in repr(rule)
    assert rule.dw == "2^-2 * y0 * x1 - 2^-2 * x0 * y1"   # normal form: dependency first
    assert rule.dt is None


def test_spikes_of_a_plastic_block_say_where_its_state_is() -> None:
    net, syn, _ = _network()
    with nm.Runtime(net, backend="reference") as rt, \
            pytest.raises(SimulationError, match=r"rt\.get\(syn, 'weights'\)"):
        rt.spikes(syn)
