"""Energy reports, the ANN comparison and its label, studies, their exports, the CLI and the plots.

Energy totals are checked against counters x constants computed here independently: active neuron
updates from a dense replay of the spikes, router traversals from the synapses, and the constants
both read from the profile and pinned to their published values.
"""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from matplotlib.figure import Figure

import nmgraph as nm
from nmgraph.compilers.hardware import BUILTIN_NAMES, load_profile
from nmgraph.core.errors import ValidationError
from nmgraph.processes import LIF, Dense, PoissonSource, Sparse, fixed_indegree
from nmgraph.tools.cli import main
from nmgraph.tools.demo import build_demo_network
from nmgraph.tools.energy import (
    ANN_BASELINES,
    AnnBaseline,
    active_updates,
    energy_label,
    energy_report,
)
from nmgraph.tools.plot import energy_breakdown, study_bars
from nmgraph.tools.study import COLUMNS, StudyResult, study

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
STEPS = 120


# -- networks and runs ----------------------------------------------------------------------------
def _tiny_network() -> nm.Network:
    """Fits TrueNorth: 64 Poisson inputs onto 32 LIF neurons of one core, one weight value."""
    net = nm.Network("tiny")
    src = net.add(PoissonSource(shape=(64,), rate=0.1, seed=3, name="input"))
    out = net.add(LIF(shape=(32,), du=410, dv=410, vth=120, name="out"))
    syn = net.add(Dense(weights=np.full((32, 64), 6), name="syn"))
    net.connect(src.s_out, syn.s_in)
    net.connect(syn.a_out, out.a_in)
    return net


def _brunel_network(n: int = 500, k: int = 50) -> nm.Network:
    try:
        from benchmarks.networks import brunel
    except ImportError:  # run from elsewhere than the repository root: a small E/I network
        return _excitatory_inhibitory(n, k)
    return brunel(n, k, seed=0)


def _excitatory_inhibitory(n: int, k: int) -> nm.Network:
    n_exc, k_exc = int(0.8 * n), int(0.8 * k)
    net = nm.Network(f"ei_{n}_{k}")
    drive = net.add(PoissonSource(shape=(n,), rate=0.05, seed=1, name="drive"))
    exc = net.add(LIF(shape=(n_exc,), du=4095, dv=200, vth=100, bias_mant=150, name="exc"))
    inh = net.add(LIF(shape=(n - n_exc,), du=4095, dv=200, vth=100, bias_mant=150, name="inh"))
    for number, (pre, post, kin, w) in enumerate(((exc, exc, k_exc, 16), (exc, inh, k_exc, 16),
                                                  (inh, exc, k - k_exc, -128),
                                                  (inh, inh, k - k_exc, -128))):
        weights = fixed_indegree(pre.size, post.size, kin, w, seed=10 + number,
                                 allow_self=pre is not post)
        syn = net.add(Sparse(weights, name=f"{pre.name}_to_{post.name}"))
        net.connect(pre.s_out, syn.s_in)
        net.connect(syn.a_out, post.a_in)
    for post, lo in ((exc, 0), (inh, n_exc)):
        index = np.arange(post.size)
        weights = np.zeros((post.size, n), dtype=np.int64)
        weights[index, lo + index] = 40
        syn = net.add(Dense(weights=weights, name=f"drive_to_{post.name}"))
        net.connect(drive.s_out, syn.s_in)
        net.connect(syn.a_out, post.a_in)
    return net


class Run:
    """A compiled network run on the reference backend: exe, counters, spikes."""

    def __init__(self, net: nm.Network, hardware: str, steps: int = STEPS, **options) -> None:
        self.exe = nm.compile(net, hardware=hardware, **options)
        with nm.Runtime(self.exe, backend="reference") as rt:
            rt.run(steps)
            self.counters = rt.counters
            self.spikes = {pop.name: rt.spikes(pop.name) for pop in self.exe.ir.populations}


@pytest.fixture(scope="module")
def demo_net() -> nm.Network:
    return build_demo_network(0)


@pytest.fixture(scope="module")
def loihi_run(demo_net) -> Run:
    return Run(demo_net, "loihi1")


@pytest.fixture(scope="module")
def spinnaker_run(demo_net) -> Run:
    return Run(demo_net, "spinnaker1")


@pytest.fixture(scope="module")
def demo_study(demo_net) -> StudyResult:
    return study(demo_net, hardware=BUILTIN_NAMES, partition=["greedy", "mincut"], steps=STEPS)


# -- independent counts ---------------------------------------------------------------------------
def _dense_spikes(run: Run, name: str) -> np.ndarray:
    return run.spikes[name].to_dense()


def _active_by_replay(run: Run) -> int:
    """Neuron updates that received input or spiked, from dense matrices (not energy.py)."""
    ir, steps = run.exe.ir, run.counters.steps
    received = {pop.name: np.zeros((steps, pop.size), dtype=bool)
                for pop in ir.populations if not pop.is_source}
    for proj in ir.projections:
        sent = _dense_spikes(run, proj.pre).astype(np.int64)        # (steps, n_pre)
        pre_of = np.repeat(np.arange(proj.n_pre), np.diff(proj.indptr))
        for delay in np.unique(proj.delays):
            mine = proj.delays == delay
            links = np.zeros((proj.n_pre, proj.n_post), dtype=np.int64)
            links[pre_of[mine], proj.targets[mine]] = 1
            arriving = (sent @ links) > 0                            # sent at t, arrives t + d
            received[proj.post][delay:] |= arriving[:steps - delay]
    total = 0
    for name, got in received.items():
        total += int((got | _dense_spikes(run, name)).sum())
    return total


def _routed_spikes(run: Run) -> int:
    """Spikes of units that have at least one synapse (and so a destination core)."""
    ir = run.exe.ir
    total = 0
    for pop in ir.populations:
        degree = np.zeros(pop.size, dtype=np.int64)
        for proj in ir.projections_from(pop.name):
            degree += np.diff(proj.indptr)
        total += int((degree[run.spikes[pop.name].indices] > 0).sum())
    return total


# -- energy = counters x constants ----------------------------------------------------------------
def test_loihi1_energy_equals_counters_times_davies_constants(loihi_run) -> None:
    energy = loihi_run.exe.profile.energy
    published = {"synaptic_op_j": 23.6e-12, "neuron_update_active_j": 81e-12,
                 "neuron_update_inactive_j": 52e-12, "spike_within_tile_j": 1.7e-12,
                 "hop_ew_j": 3.0e-12, "hop_ns_j": 4.0e-12}
    for name, value in published.items():
        assert getattr(energy, name) == pytest.approx(value)
    c = loihi_run.counters
    active = _active_by_replay(loihi_run)
    assert 0 < active < c.neuron_updates
    assert c.hops == c.hops_x + c.hops_y  # unicast
    expected = (c.synaptic_ops * 23.6e-12 + active * 81e-12
                + (c.neuron_updates - active) * 52e-12 + c.messages_core * 1.7e-12
                + c.hops_x * 3.0e-12 + c.hops_y * 4.0e-12)
    report = energy_report(loihi_run.exe, c, spikes=loihi_run.spikes)
    assert report.exact_activity
    assert report.categories["neuron_updates_active"].count == active
    assert report.total_j == pytest.approx(expected, rel=1e-12)
    assert report.per_step_j == pytest.approx(expected / c.steps, rel=1e-12)
    assert report.complete and report.unknown == []
    assert report.categories["chip_to_chip"].status == "none"  # one chip: 0 J, not unknown
    for name in ("router_bits", "static_chips", "static_cores"):
        assert report.categories[name].status == "not modelled"
        assert report.categories[name].joules is None
    synaptic = report.categories["synaptic_ops"]
    assert synaptic.constant == energy.synaptic_op_j
    assert "Davies et al. 2018" in synaptic.source and not synaptic.uncertain


def test_spinnaker1_energy_is_router_bits_plus_static_power(spinnaker_run) -> None:
    run = spinnaker_run
    profile, c = run.exe.profile, run.counters
    assert profile.packet_bits == 40
    assert profile.energy.router_bit_j == pytest.approx(2.5e-11)
    assert profile.energy.static_chip_w == pytest.approx(0.35)
    assert profile.energy.static_active_core_w == pytest.approx(0.034)
    run_s = c.steps * 1e-3  # real-time 1 ms ticks
    traversals = _routed_spikes(run) + c.hops  # source router + one per multicast tree link
    expected = (traversals * 40 * 2.5e-11 + run.exe.n_chips * 0.35 * run_s
                + run.exe.n_cores * 0.034 * run_s)
    report = energy_report(run.exe, c, spikes=run.spikes)
    assert report.categories["router_bits"].count == traversals
    assert report.total_j == pytest.approx(expected, rel=1e-12)
    assert report.time.per_step_s == pytest.approx(1e-3)
    assert report.time.real_time == "unverified"
    # per-synapse energy is inside SpiNNaker's active-core power: not modelled, not unknown
    assert report.categories["synaptic_ops"].status == "not modelled"
    assert report.complete


def test_per_core_energy_adds_up_and_synaptic_events_land_on_target_cores(loihi_run) -> None:
    report = energy_report(loihi_run.exe, loihi_run.counters, spikes=loihi_run.spikes)
    assert report.per_core_j.shape == (loihi_run.exe.n_cores,)
    assert report.per_core_j.sum() == pytest.approx(report.total_j, rel=1e-9)
    for category in report.categories.values():
        if category.per_core_count is not None and category.count is not None:
            assert category.per_core_count.sum() == pytest.approx(category.count, rel=1e-9)
    # exact split: synaptic events per core = spikes of each source x its synapses on that core
    exe, spikes = loihi_run.exe, loihi_run.spikes
    unit_core = exe.partition.unit_core
    expected = np.zeros(exe.n_cores)
    for proj in exe.ir.projections:
        post = exe.ir.population(proj.post)
        counts = spikes[proj.pre].counts()
        per_synapse = np.repeat(counts, np.diff(proj.indptr))
        np.add.at(expected, unit_core[post.offset + proj.targets], per_synapse)
    np.testing.assert_allclose(report.categories["synaptic_ops"].per_core_count, expected)


def test_without_spikes_active_updates_are_estimated_and_close(loihi_run) -> None:
    exact = energy_report(loihi_run.exe, loihi_run.counters, spikes=loihi_run.spikes)
    estimate = energy_report(loihi_run.exe, loihi_run.counters)
    assert not estimate.exact_activity
    assert estimate.categories["neuron_updates_active"].estimated
    exact_active = exact.categories["neuron_updates_active"].count
    assert estimate.categories["neuron_updates_active"].count == pytest.approx(exact_active,
                                                                               rel=0.2)
    assert estimate.total_j == pytest.approx(exact.total_j, rel=0.05)
    assert "estimate" in estimate.to_markdown()


def test_active_updates_of_a_generator_chain() -> None:
    from nmgraph.processes import SpikeGenerator

    data = np.zeros((6, 2), dtype=bool)
    data[0, 0] = data[2, 1] = True  # unit 0 at step 1, unit 1 at step 3
    net = nm.Network("chain")
    gen = net.add(SpikeGenerator(data=data, name="gen"))
    lif = net.add(LIF(shape=(3,), du=4095, dv=4095, vth=10_000, name="lif"))
    syn = net.add(Dense(weights=np.array([[1, 0], [1, 1], [0, 0]]), delay=2, name="syn"))
    net.connect(gen.s_out, syn.s_in)
    net.connect(syn.a_out, lif.a_in)
    exe = nm.compile(net)
    with nm.Runtime(exe, backend="reference") as rt:
        rt.run(6)
        spikes = {name: rt.spikes(name) for name in ("gen", "lif")}
    active = active_updates(exe.ir, spikes, 6)
    lif_units = exe.ir.population("lif")
    # unit 0 of gen reaches lif 0 and 1 at step 3; unit 1 reaches lif 1 at step 5
    assert active[lif_units.offset:lif_units.stop].tolist() == [1, 2, 0]
    assert active[:2].tolist() == [0, 0]  # sources are not neurons


def test_time_per_step_on_loihi_is_slowest_core_plus_interpolated_barrier(loihi_run) -> None:
    report = energy_report(loihi_run.exe, loihi_run.counters, spikes=loihi_run.spikes)
    energy, steps = loihi_run.exe.profile.energy, loihi_run.counters.steps
    per_core = (report.categories["synaptic_ops"].per_core_count * energy.synaptic_op_s
                + report.categories["neuron_updates_active"].per_core_count
                * energy.neuron_update_active_s
                + report.categories["neuron_updates_inactive"].per_core_count
                * energy.neuron_update_inactive_s) / steps
    n = loihi_run.exe.n_cores
    barrier = 113e-9 + (465e-9 - 113e-9) * (n - 1) / 31
    assert report.time.barrier_s == pytest.approx(barrier)
    assert report.time.per_step_s == pytest.approx(per_core.max() + barrier)
    assert report.time.slowest_core == int(np.argmax(per_core))
    assert report.time.tick_s is None and report.time.real_time == "yes"
    slow = energy_report(loihi_run.exe, loihi_run.counters, real_time_step_s=1e-9)
    assert slow.time.real_time == "no"


@pytest.mark.parametrize(("latency_s", "real_time"), [(1e-9, "yes"), (1e-3, "no")])
def test_a_tick_profile_with_latencies_checks_real_time(spinnaker_run, latency_s,
                                                        real_time) -> None:
    base = spinnaker_run.exe.profile
    profile = base.replace(name="spinnaker1_timed", energy=base.energy.replace(
        synaptic_op_s=latency_s, neuron_update_active_s=latency_s,
        neuron_update_inactive_s=latency_s))
    run = Run(build_demo_network(0), profile, steps=40)
    report = energy_report(run.exe, run.counters, spikes=run.spikes)
    time = report.time
    assert time.tick_s == pytest.approx(1e-3) and time.barrier_s is None
    per_core = sum(report.categories[name].per_core_count for name in
                   ("synaptic_ops", "neuron_updates_active", "neuron_updates_inactive"))
    assert time.compute_s == pytest.approx(per_core.max() * latency_s / 40)
    assert time.per_step_s == pytest.approx(max(1e-3, time.compute_s))
    assert time.real_time == real_time
    # static power is paid for as long as the run lasts: steps x time per step
    static = report.categories["static_chips"]
    assert static.count == pytest.approx(run.exe.n_chips * 40 * time.per_step_s)


# -- unknown constants ----------------------------------------------------------------------------
def test_unknown_constant_is_reported_unknown_never_zero(demo_net, loihi_run) -> None:
    base = load_profile("loihi1")
    profile = base.replace(name="loihi1_nohop", energy=base.energy.replace(hop_ew_j=None))
    run = Run(demo_net, profile)
    report = energy_report(run.exe, run.counters, spikes=run.spikes)
    hops = report.categories["hops_ew"]
    assert run.counters.hops_x > 0
    assert hops.status == "unknown" and hops.joules is None and hops.per_core_j is None
    assert report.unknown == ["hops_ew"] and not report.complete
    known = energy_report(loihi_run.exe, loihi_run.counters, spikes=loihi_run.spikes)
    assert report.total_j == pytest.approx(known.total_j - known.categories["hops_ew"].joules)
    assert report.ann.partial and report.ann.label_text.endswith("(partial)")
    assert "unknown" in report.to_markdown()
    assert json.loads(report.to_json())["categories"]["hops_ew"]["joules"] is None


def test_truenorth_has_only_a_synaptic_constant_the_rest_is_unknown() -> None:
    run = Run(_tiny_network(), "truenorth")
    report = energy_report(run.exe, run.counters, spikes=run.spikes)
    synaptic = report.categories["synaptic_ops"]
    assert synaptic.status == "counted" and synaptic.uncertain
    assert synaptic.joules == pytest.approx(run.counters.synaptic_ops * 26e-12)
    assert {"neuron_updates_active", "neuron_updates_inactive"} <= set(report.unknown)
    assert report.total_j == pytest.approx(synaptic.joules)
    assert report.time.per_step_s == pytest.approx(1e-3)


@pytest.mark.parametrize("hardware", ["generic", "spinnaker2"])
def test_profile_without_energy_constants_has_no_total_and_no_label(hardware) -> None:
    run = Run(_tiny_network(), hardware, steps=30)
    report = energy_report(run.exe, run.counters, spikes=run.spikes)
    assert report.total_j is None and report.per_step_j is None
    assert report.ann.ratio is None and report.ann.label is None
    assert all(c.status in ("not modelled", "none") for c in report.categories.values())
    assert "unknown" in report.summary()


# -- ANN comparison and label ---------------------------------------------------------------------
@pytest.mark.parametrize(("ratio", "label"), [
    (1000.0, "A"), (100.0, "A"), (99.9, "B"), (30.0, "B"), (29.9, "C"), (10.0, "C"), (3.0, "D"),
    (2.99, "E"), (1.0, "E"), (0.99, "F"), (0.3, "F"), (0.299, "G"), (1e-6, "G"), (None, None)])
def test_label_thresholds(ratio, label) -> None:
    assert energy_label(ratio) == label


def test_ann_macs_of_the_demo_network(loihi_run) -> None:
    steps = loihi_run.counters.steps
    # input (100) -> exc (400), inh (100); exc -> exc, inh; inh -> exc, inh: sum of n_pre x n_post
    dense = 100 * 400 + 100 * 100 + 400 * 400 + 400 * 100 + 100 * 400 + 100 * 100
    report = energy_report(loihi_run.exe, loihi_run.counters, spikes=loihi_run.spikes)
    ann = report.ann
    assert ann.macs_per_step == dense == 300_000
    assert ann.neuron_ops_per_step == 500
    assert ann.baseline.mac_j == pytest.approx(4.6e-12)
    assert ann.ann_j_per_inference == pytest.approx((dense + 500) * 4.6e-12 * steps)
    assert ann.ratio == pytest.approx(ann.ann_j_per_inference / report.total_j)
    assert ann.label == energy_label(ann.ratio)
    sparse = energy_report(loihi_run.exe, loihi_run.counters, ann_macs="synapses",
                           ann_energy="int8", inference_steps=40, ann_steps_per_inference=1)
    assert sparse.ann.macs_per_step == loihi_run.exe.ir.n_synapses
    assert sparse.ann.baseline is ANN_BASELINES["int8"]
    assert sparse.ann.ann_j_per_inference == pytest.approx(
        (loihi_run.exe.ir.n_synapses + 500) * 0.23e-12)
    assert sparse.per_inference_j == pytest.approx(sparse.per_step_j * 40)
    assert sparse.inferences == pytest.approx(steps / 40)
    custom = energy_report(loihi_run.exe, loihi_run.counters, ann_energy=1e-12)
    assert custom.ann.baseline.mac_j == 1e-12


@pytest.mark.parametrize(("option", "value"), [
    ("ann_energy", "fp64"), ("ann_energy", -1.0), ("ann_macs", "all"), ("inference_steps", 0),
    ("real_time_step_s", 0.0)])
def test_bad_options_raise_validation_errors(loihi_run, option, value) -> None:
    with pytest.raises(ValidationError, match=option):
        energy_report(loihi_run.exe, loihi_run.counters, **{option: value})


def test_bad_inputs_raise_validation_errors(loihi_run) -> None:
    with pytest.raises(ValidationError, match="Executable"):
        energy_report(object(), loihi_run.counters)
    with pytest.raises(ValidationError, match="Counters"):
        energy_report(loihi_run.exe, {"steps": 3})
    with pytest.raises(ValidationError, match="no spikes of population"):
        energy_report(loihi_run.exe, loihi_run.counters, spikes={"exc": loihi_run.spikes["exc"]})
    with pytest.raises(ValidationError):
        AnnBaseline("zero", 0.0, "nowhere")


# -- studies --------------------------------------------------------------------------------------
def test_study_of_the_demo_over_all_profiles(demo_study, demo_net) -> None:
    assert len(demo_study) == len(BUILTIN_NAMES) * 2
    assert [r["profile"] for r in demo_study][::2] == list(BUILTIN_NAMES)
    for record in demo_study:
        assert list(record) == list(COLUMNS)
        # every demo neuron reaches many cores: on truenorth through splitter neurons
        assert record["error"] == ""
        assert record["cores"] >= record["lower_bound"] >= 1
        assert record["messages"] >= record["messages_inter_core"] >= 0
    loihi = next(r for r in demo_study if r["profile"] == "loihi1" and r["partition"] == "greedy")
    # the study's reuse of one run per profile gives what a run of that mapping gives
    run = Run(demo_net, "loihi1", partition="greedy")
    own = energy_report(run.exe, run.counters, spikes=run.spikes)
    assert loihi["energy_j"] == pytest.approx(own.total_j, rel=1e-12)
    assert loihi["hops"] == run.counters.hops
    assert loihi["label"] == own.ann.label and loihi["real_time"] == "yes"
    generic = next(r for r in demo_study if r["profile"] == "generic")
    assert generic["energy_j"] is None and generic["label"] is None


def test_study_of_a_brunel_network_has_a_truenorth_row() -> None:
    result = study(_brunel_network(), partition="greedy", steps=80)
    assert [r["profile"] for r in result] == list(BUILTIN_NAMES)
    truenorth = result.records[BUILTIN_NAMES.index("truenorth")]
    # one weight per source population is not TrueNorth's 4 axon types, or it fits with splitters
    assert truenorth["error"] == "" or "truenorth" in truenorth["error"]
    fitting = [r for r in result if not r["error"]]
    assert len(fitting) >= len(BUILTIN_NAMES) - 1
    assert all(r["messages"] > 0 for r in fitting)


def test_study_with_a_fitting_truenorth_row_and_a_neuron_cap() -> None:
    result = study(_tiny_network(), hardware="truenorth,loihi1", steps=40,
                   max_neurons_per_core=[None, 16])
    assert [(r["profile"], r["max_neurons_per_core"]) for r in result] == [
        ("truenorth", None), ("truenorth", 16), ("loihi1", None), ("loihi1", 16)]
    # capped at 16 neurons, the 32 targets of each input span 2 cores: TrueNorth relays them
    # through splitter neurons, which add cores
    assert [bool(r["error"]) for r in result] == [False, False, False, False]
    assert result.records[1]["cores"] > result.records[0]["cores"]
    assert result.records[3]["cores"] > result.records[2]["cores"]
    assert result.records[0]["energy_unknown"]  # truenorth: only synaptic energy is known
    assert "partial" in result.to_markdown()


def test_study_on_the_multicore_backend_matches_the_reference() -> None:
    net = _tiny_network()
    reference = study(net, hardware="loihi1", partition="greedy,mincut", steps=30)
    multicore = study(net, hardware="loihi1", partition="greedy,mincut", steps=30,
                      backend="multicore", workers=2)
    assert multicore.records == reference.records


def test_study_rejects_bad_choices() -> None:
    net = _tiny_network()
    with pytest.raises(ValidationError, match="partition"):
        study(net, partition="best")
    with pytest.raises(ValidationError, match="hardware"):
        study(net, hardware="loihi9")
    with pytest.raises(ValidationError, match="steps"):
        study(net, steps=0)


def test_study_exports_csv_json_markdown(demo_study, tmp_path) -> None:
    text = demo_study.to_csv(tmp_path / "s.csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == list(COLUMNS) and len(rows) == len(demo_study)
    assert (tmp_path / "s.csv").read_text() == text
    loihi = rows[0]
    assert float(loihi["energy_j"]) == pytest.approx(demo_study.records[0]["energy_j"])
    data = json.loads(demo_study.to_json(tmp_path / "s.json"))
    assert data["records"] == demo_study.records
    assert data["steps"] == STEPS and data["columns"] == list(COLUMNS)
    assert data["energy_reports"][0]["profile"] == "loihi1"
    markdown = demo_study.to_markdown(tmp_path / "s.md")
    assert markdown.startswith("# Study: 'demo'")
    assert "| profile | partition | place |" in markdown
    assert "loihi2:" in markdown  # uncertain constants listed


# -- CLI ------------------------------------------------------------------------------------------
def test_cli_study_writes_its_files(tmp_path, capsys) -> None:
    import nmgraph.tools.demo

    out = tmp_path / "study"
    model = f"{nmgraph.tools.demo.__file__}:build_demo_network"
    argv = ["study", model, "--hw", "loihi1,spinnaker1,truenorth", "--partition", "greedy,mincut",
            "--place", "linear", "--steps", "50", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| loihi1 | greedy | linear |" in printed and "study.md" in printed
    for name in ("study.md", "study.csv", "study.json"):
        assert (out / name).stat().st_size > 100
    for name in ("study.png", "energy.png"):
        assert _is_png(out / name)
    records = json.loads((out / "study.json").read_text())["records"]
    assert [r["profile"] for r in records] == ["loihi1"] * 2 + ["spinnaker1"] * 2 + ["truenorth"] * 2


def test_cli_study_of_a_saved_brunel_network_over_all_profiles(tmp_path) -> None:
    path = tmp_path / "brunel.nmg"
    _brunel_network(300, 30).save(path)
    out = tmp_path / "brunel"
    assert main(["study", str(path), "--steps", "40", "--max-neurons-per-core", "128,256",
                 "--out", str(out)]) == 0
    records = json.loads((out / "study.json").read_text())["records"]
    assert len(records) == 2 * len(BUILTIN_NAMES)
    truenorth = [r for r in records if r["profile"] == "truenorth"]
    assert all(r["error"] == "" or "truenorth" in r["error"] for r in truenorth)


def test_cli_study_row_of_a_network_over_truenorths_256_input_axons_names_that_limit(
        tmp_path, capsys) -> None:
    # in-degree 300 plus one drive input: 301 distinct sources per neuron, TrueNorth has 256 axons
    path = tmp_path / "brunel.nmg"
    _brunel_network(600, 300).save(path)
    out = tmp_path / "study"
    argv = ["study", str(path), "--hw", "truenorth,loihi1", "--partition", "greedy,mincut",
            "--steps", "20", "--out", str(out)]
    assert main(argv) == 0
    assert "Traceback" not in capsys.readouterr().err
    records = json.loads((out / "study.json").read_text())["records"]
    assert [(r["profile"], r["partition"]) for r in records] == [
        ("truenorth", "greedy"), ("truenorth", "mincut"), ("loihi1", "greedy"),
        ("loihi1", "mincut")]
    for record in records[:2]:
        assert "needs 301 axons in but truenorth allows 256" in record["error"]
        assert record["cores"] is None and record["energy_j"] is None
    assert all(not r["error"] and r["energy_j"] > 0 for r in records[2:])
    markdown = (out / "study.md").read_text()
    assert "| truenorth | greedy | linear |" in markdown and "does not fit [1]" in markdown
    assert "1. truenorth / greedy / linear: does not fit:" in markdown
    assert "allows 256" in markdown
    for name in ("study.png", "energy.png"):
        assert _is_png(out / name)


@pytest.mark.parametrize(("argv", "message"), [
    (["--partition", "best"], "partition"),
    (["--out", "/no/such/folder/out"], "does not exist"),
    (["--max-neurons-per-core", "12,x"], "--max-neurons-per-core"),
])
def test_cli_study_errors_exit_2(tmp_path, capsys, argv, message) -> None:
    import nmgraph.tools.demo

    model = f"{nmgraph.tools.demo.__file__}:build_demo_network"
    base = ["study", model, "--hw", "loihi1", "--steps", "5", "--out", str(tmp_path / "o")]
    assert main([*base, *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


# -- plots ----------------------------------------------------------------------------------------
def _is_png(path) -> bool:
    return path.is_file() and path.stat().st_size > 1000 and path.read_bytes()[:8] == PNG_SIGNATURE


def test_energy_breakdown_of_one_report_and_of_several(loihi_run, spinnaker_run,
                                                       tmp_path) -> None:
    loihi = energy_report(loihi_run.exe, loihi_run.counters, spikes=loihi_run.spikes)
    spinnaker = energy_report(spinnaker_run.exe, spinnaker_run.counters)
    fig = energy_breakdown(loihi, path=tmp_path / "one.png")
    assert isinstance(fig, Figure) and _is_png(tmp_path / "one.png")
    assert fig.axes[0].get_xlabel() == "energy per step (J)"
    fig = energy_breakdown({"Loihi": loihi, "SpiNNaker": spinnaker}, path=tmp_path / "two.png")
    assert _is_png(tmp_path / "two.png")
    assert "share" in fig.axes[0].get_xlabel()  # totals 4 orders of magnitude apart
    fig = loihi.plot(path=tmp_path / "run.png", per="run", scale="linear")
    assert fig.axes[0].get_xlabel() == "energy of the run (J)"
    with pytest.raises(ValidationError):
        energy_breakdown([])
    with pytest.raises(ValidationError):
        energy_breakdown(loihi, per="hour")


def test_study_bars_one_and_several_metrics(demo_study, tmp_path) -> None:
    fig = study_bars(demo_study, metric="energy_per_step_j", path=tmp_path / "energy.png")
    assert _is_png(tmp_path / "energy.png")
    assert fig.axes[0].get_xlabel() == "energy per step (J)"
    assert fig.axes[0].get_xscale() == "log"  # nJ (Loihi) to hundreds of µJ (SpiNNaker)
    fig = demo_study.plot(path=tmp_path / "all.png")
    assert _is_png(tmp_path / "all.png") and len(fig.axes) == 4
    assert fig.axes[1].get_xlabel() == "time per step (s)"
    demo_study.plot_energy(path=tmp_path / "breakdown.png")
    assert _is_png(tmp_path / "breakdown.png")
    with pytest.raises(ValidationError, match="metric"):
        study_bars(demo_study, metric="speed")
