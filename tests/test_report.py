"""MappingReport, the mapping plots and the ``nmgraph hw`` / ``nmgraph map`` commands.

Every figure of the report is checked against a recomputation from the Executable's own arrays
(the IR's synapses, the partition's unit -> core map, the routing's pairs), not against the
arrays the report was built from.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

import numpy as np
import pytest

import nmgraph as nm
from nmgraph.compilers.executable import Executable
from nmgraph.compilers.hardware import BUILTIN_NAMES, load_profile
from nmgraph.compilers.mapping_data import RESOURCES
from nmgraph.compilers.report import PER_SPIKE, PER_STEP, MappingReport, core_traffic_matrix
from nmgraph.core.errors import ValidationError
from nmgraph.processes import LIF, Dense, PoissonSource, Sparse
from nmgraph.processes.connectors import fixed_probability
from nmgraph.tools.cli import main, traffic_plot_path
from nmgraph.tools.plot import core_map, traffic_matrix

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: (profile, partition, place, max neurons per core): one chip, several chips, router tables.
MAPPINGS = [("loihi1", "greedy", "linear", 32), ("loihi1", "mincut", "traffic", 24),
            ("spinnaker1", "balanced", "linear", 12), ("generic", "greedy", "linear", 40)]


def small_network(name: str = "small") -> nm.Network:
    """Poisson input -> excitatory LIF <-> inhibitory LIF; mixed-sign odd weights on one path."""
    net = nm.Network(name)
    src = net.add(PoissonSource(shape=(60,), rate=0.1, seed=3))
    exc = net.add(LIF(shape=(150,), du=410, dv=410, vth=200))
    inh = net.add(LIF(shape=(40,), du=410, dv=410, vth=200))
    drive = net.add(Sparse(weights=fixed_probability(60, 150, 0.2, weight=(1, 20), seed=1,
                                                     sparse=True)))
    excite = net.add(Sparse(weights=fixed_probability(150, 40, 0.1, weight=7, seed=2,
                                                      sparse=True)))
    inhibit = net.add(Dense(weights=fixed_probability(40, 150, 0.3, weight=(-31, 9), seed=4)))
    for pre, syn, post in ((src, drive, exc), (exc, excite, inh), (inh, inhibit, exc)):
        net.connect(pre.s_out, syn.s_in)
        net.connect(syn.a_out, post.a_in)
    return net


@pytest.fixture(scope="module", params=MAPPINGS, ids=["-".join(map(str, m)) for m in MAPPINGS])
def exe(request) -> Executable:
    hardware, partition, place, cap = request.param
    return nm.compile(small_network(), hardware=hardware, partition=partition, place=place,
                      seed=0, max_neurons_per_core=cap)


def pair_owners(exe: Executable) -> np.ndarray:
    return np.repeat(np.arange(exe.ir.n_units), np.diff(exe.routing.dest_indptr))


def is_png(path) -> bool:
    return path.is_file() and path.stat().st_size > 1000 and path.read_bytes()[:8] == PNG_SIGNATURE


# --------------------------------------------------------------------------------------------------
# numbers
# --------------------------------------------------------------------------------------------------
def test_cores_used_chips_and_lower_bound(exe) -> None:
    report = exe.report
    unit_core = exe.partition.unit_core
    assert report.n_cores == len(exe.cores) == np.unique(unit_core).size == unit_core.max() + 1
    assert report.n_neuron_cores + report.n_source_cores == report.n_cores
    assert report.chips_used == len({core.chip for core in exe.cores})
    assert report.lower_bound["cores"] <= report.n_cores
    assert report.lower_bound["cores"] == max(v for k, v in report.lower_bound.items()
                                              if k != "cores")
    assert report.lower_bound["cores"] >= math.ceil(exe.ir.n_units / exe.profile.neurons_per_core)
    for use in report.resources.values():
        assert use.lower_bound is None or use.lower_bound <= report.n_cores


def test_per_core_usage_matches_partition_records_and_synapses(exe) -> None:
    report, unit_core = exe.report, exe.partition.unit_core
    n_cores = exe.n_cores
    synapses = np.zeros(n_cores, dtype=np.int64)
    reaching: set[tuple[int, int]] = set()
    for proj in exe.ir.projections:
        pre, post = exe.ir.population(proj.pre), exe.ir.population(proj.post)
        target_core = unit_core[post.offset + proj.targets]
        synapses += np.bincount(target_core, minlength=n_cores)
        reaching |= set(zip((pre.offset + proj.sources()).tolist(), target_core.tolist()))
    axons_in = np.bincount([core for _, core in reaching], minlength=n_cores)
    expected = {"neurons": np.bincount(unit_core, minlength=n_cores), "synapses": synapses,
                "axons_in": axons_in}
    for name, values in expected.items():
        assert np.array_equal(report.resources[name].per_core, values), name
    for name in RESOURCES:
        per_core = report.resources[name].per_core
        assert np.array_equal(per_core, exe.partition.usage[name]), name
        assert per_core.tolist() == [core.usage[name] for core in exe.cores], name


def test_utilisation_statistics_against_the_limits(exe) -> None:
    report, profile = exe.report, exe.profile
    neuron_cores = np.array([core.kind == "neuron" for core in exe.cores])
    for name, use in report.resources.items():
        scope = neuron_cores if name in ("axons_in", "synapses", "synapse_bits") else \
            np.ones_like(neuron_cores)
        values = np.array([core.usage[name] for core in exe.cores])[scope]
        stats = use.stats()
        assert (stats["min"], stats["max"]) == (values.min(), values.max())
        assert stats["mean"] == pytest.approx(values.mean())
        if use.limit is None:
            assert stats["max_fraction"] is None
            continue
        limits = np.array([profile.spike_source_capacity if name == "neurons" and
                           core.kind == "source" else use.limit for core in exe.cores])[scope]
        assert stats["max_fraction"] == pytest.approx((values / limits).max())
        assert stats["max_fraction"] <= 1.0
    assert report.resources["neurons"].limit == profile.neurons_per_core
    assert report.resources["synapses"].limit == profile.synapse_capacity


def deliveries(exe: Executable) -> tuple[np.ndarray, np.ndarray]:
    """(sending core, receiving core) of every message one spike of every unit causes, recomputed
    from the routes with Python sets: one per (unit, destination core) pair when unicast; when
    multicast, each unit's packet reaches every core that any unit of its core reaches."""
    owners = pair_owners(exe)
    unit_core = exe.partition.unit_core
    dest = exe.routing.dest_core.astype(np.int64)
    if not exe.routing.multicast:
        return unit_core[owners], dest
    union: dict[int, set[int]] = {}
    for core, target in zip(unit_core[owners].tolist(), dest.tolist()):
        union.setdefault(core, set()).add(target)
    pairs = [(core, target) for core in unit_core.tolist()
             for target in sorted(union.get(core, ()))]
    return (np.array([p[0] for p in pairs], dtype=np.int64),
            np.array([p[1] for p in pairs], dtype=np.int64))


def chip_hops(dx: int, dy: int, links: int) -> int:
    """Links between chips (dx, dy) apart: hexagonal distance on six links."""
    if links == 6 and (dx >= 0) == (dy >= 0):
        return max(abs(dx), abs(dy))
    return abs(dx) + abs(dy)


def test_message_split_sums_to_the_routed_pairs(exe) -> None:
    traffic, routing = exe.report.traffic, exe.routing
    assert traffic.basis == PER_SPIKE
    source_core, dest_core = deliveries(exe)
    chips = exe.placement.core_chip
    same_core = dest_core == source_core
    same_chip = chips[dest_core] == chips[source_core]
    assert traffic.total == dest_core.size
    assert traffic.within_core == np.count_nonzero(same_core)
    assert traffic.between_cores == np.count_nonzero(~same_core & same_chip)
    assert traffic.between_chips == np.count_nonzero(~same_chip)
    assert traffic.messages_out.sum() == traffic.messages_in.sum() == traffic.total
    assert np.array_equal(traffic.messages_in, np.bincount(dest_core, minlength=exe.n_cores))
    if routing.multicast:
        xy = exe.placement.chip_xy[chips]
        path = np.array([chip_hops(int(xy[d, 0] - xy[s, 0]), int(xy[d, 1] - xy[s, 1]),
                                   exe.profile.chip_links)
                         for s, d in zip(source_core, dest_core)], dtype=np.int64)
        assert traffic.hops == routing.tree_hops.sum()
    else:
        path = routing.hops_x.astype(np.int64) + routing.hops_y
        assert traffic.hops == path.sum()
        assert traffic.mean_hops == pytest.approx(path.mean())
    assert traffic.hop_histogram.sum() == dest_core.size
    assert np.dot(np.arange(traffic.hop_histogram.size), traffic.hop_histogram) == path.sum()
    assert (traffic.hops_x, traffic.hops_y) == (routing.hops_x.sum(), routing.hops_y.sum())
    matrix, order, block = core_traffic_matrix(exe)
    assert block == 1 and sorted(order.tolist()) == list(range(exe.n_cores))
    assert matrix.sum() == traffic.total
    assert np.trace(matrix) == traffic.within_core


def test_rates_give_expected_messages_per_step() -> None:
    net = small_network()
    n_units = sum(p.size for p in nm.compile(net).ir.populations)
    rates = np.random.default_rng(0).random(n_units) * 0.1
    exe = nm.compile(net, hardware="loihi1", max_neurons_per_core=32, rates=rates)
    traffic = exe.report.traffic
    owners = pair_owners(exe)
    assert traffic.basis == PER_STEP
    assert traffic.total == pytest.approx(rates[owners].sum())
    assert traffic.messages_out.sum() == pytest.approx(traffic.total)
    assert traffic.hop_histogram.sum() == pytest.approx(traffic.total)
    assert "## Traffic (per step)" in exe.report.to_markdown()


def test_router_tables_where_the_profile_has_them(exe) -> None:
    router = exe.report.router
    assert np.array_equal(router.entries, exe.routing.router_entries)
    assert router.limit == exe.profile.router_entries_per_chip
    text = exe.report.to_markdown()
    if router.limit is None:
        assert "routes without tables" in text
    else:
        assert router.max <= router.limit and not router.overflowing
        assert f"max {router.max:,} of {router.limit:,}" in text


def test_quantization_and_timings_are_carried(exe) -> None:
    report = exe.report
    assert report.quantization is exe.quantization
    if exe.profile.weight_rule == "loihi":  # the inhibitory weights are mixed-sign and odd
        assert report.quantization.changed > 0
    assert report.quantization.summary() in report.to_markdown()
    assert set(report.timings_s) == set(exe.options["timings_s"])
    assert exe.report is report  # built once per Executable


# --------------------------------------------------------------------------------------------------
# text forms
# --------------------------------------------------------------------------------------------------
def _plain_json_types(value) -> bool:
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _plain_json_types(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain_json_types(v) for v in value)
    return value is None or type(value) in (bool, int, float, str)


def test_to_json_round_trips_with_plain_types(exe) -> None:
    report = exe.report
    data = report.to_dict()
    assert _plain_json_types(data)
    assert json.loads(report.to_json()) == data
    assert data["cores"]["used"] == exe.n_cores
    assert data["per_core"]["neurons"] == exe.partition.usage["neurons"].tolist()
    assert data["traffic"]["total"] == deliveries(exe)[1].size
    assert data["profile"]["name"] == exe.profile.name


def test_to_markdown_has_the_sections_and_numbers(exe) -> None:
    report = exe.report
    text = report.to_markdown()
    for heading in ("# Mapping report: 'small' on", "## Utilisation per core", "## Traffic",
                    "## Hop histogram", "## Router tables", "## Quantization", "## Cores",
                    "## Compile time per pass"):
        assert heading in text, heading
    assert f"| cores used | {report.n_cores:,} ({report.n_neuron_cores:,} neuron" in text
    assert f"| lower bound on cores | {report.lower_bound['cores']:,}" in text
    assert f"| total | {int(report.traffic.total):,} |" in text
    neurons = report.resources["neurons"].stats()
    assert (f"| neurons | {exe.profile.neurons_per_core:,} | {report.lower_bound['neurons']:,} "
            f"| all cores | {neurons['min']:,} |") in text


def test_report_of_a_saved_and_loaded_executable(exe, tmp_path) -> None:
    loaded = Executable.load(exe.save(tmp_path / "exe"))
    original, again = exe.report.to_dict(), loaded.report.to_dict()
    for key in ("cores", "resources", "per_core", "traffic", "router", "quantization"):
        assert again[key] == original[key], key


# --------------------------------------------------------------------------------------------------
# plots
# --------------------------------------------------------------------------------------------------
def test_report_plots_write_pngs(exe, tmp_path) -> None:
    fig = core_map(exe.report, path=tmp_path / "map.png")
    assert is_png(tmp_path / "map.png")
    ax = fig.axes[0]
    assert "mesh x" in ax.get_xlabel() and "mesh y" in ax.get_ylabel()
    assert "% of the" in ax.child_axes[0].get_ylabel()  # the colour bar
    fig = traffic_matrix(exe.report, path=tmp_path / "traffic.png")
    assert is_png(tmp_path / "traffic.png")
    ax = fig.axes[0]
    assert "core" in ax.get_xlabel() and "core" in ax.get_ylabel()
    assert exe.report.traffic.basis in ax.child_axes[0].get_ylabel()


@pytest.mark.parametrize("metric", ["synapses", "axons_out", "messages_out", "array"])
def test_core_map_metrics(metric, tmp_path) -> None:
    exe = nm.compile(small_network(), hardware="loihi1", max_neurons_per_core=32)
    if metric == "array":
        metric = np.arange(exe.n_cores)
    fig = core_map(exe, metric=metric, path=tmp_path / "map.png")
    assert is_png(tmp_path / "map.png")
    assert fig.axes[0].child_axes[0].get_ylabel()


def test_plots_draw_into_given_axes() -> None:
    from matplotlib.figure import Figure

    exe = nm.compile(small_network(), hardware="generic", max_neurons_per_core=40)
    fig = Figure()
    left, right = fig.subplots(1, 2)
    assert core_map(exe, ax=left) is fig
    assert traffic_matrix(exe, ax=right) is fig


@pytest.mark.parametrize("metric", ["neuron", [1, 2]])
def test_core_map_rejects_unknown_metrics(metric) -> None:
    exe = nm.compile(small_network(), hardware="generic", max_neurons_per_core=40)
    with pytest.raises(ValidationError, match="metric"):
        core_map(exe, metric=metric)


def test_a_report_without_its_executable_cannot_plot() -> None:
    exe = nm.compile(small_network(), hardware="generic")
    report = MappingReport(**{**vars(exe.report), "executable": None})
    with pytest.raises(nm.NmgraphError, match="without its Executable"):
        traffic_matrix(report)


# --------------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------------
MODULE = '''
import nmgraph as nm
from nmgraph.processes import LIF, PoissonSource, Sparse
from nmgraph.processes.connectors import fixed_probability


def build():
    net = nm.Network("from_function")
    src = net.add(PoissonSource(shape=(50,), rate=0.1, seed=1))
    out = net.add(LIF(shape=(80,), du=410, dv=410, vth=200))
    syn = net.add(Sparse(weights=fixed_probability(50, 80, 0.2, weight=9, seed=1, sparse=True)))
    net.connect(src.s_out, syn.s_in)
    net.connect(syn.a_out, out.a_in)
    return net


def not_a_network():
    return 42


def needs_arguments(size):
    return size
'''


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(MODULE, encoding="utf-8")
    return path


def test_cli_map_saved_network_writes_report_json_and_plots(tmp_path, capsys) -> None:
    saved = small_network().save(tmp_path / "net.nmg")
    md, js, png = tmp_path / "out.md", tmp_path / "out.json", tmp_path / "out.png"
    argv = ["map", str(saved), "--hw", "loihi1", "--partition", "mincut", "--place", "traffic",
            "--seed", "0", "--max-neurons-per-core", "32", "--report", str(md), "--json",
            str(js), "--plot", str(png)]
    assert main(argv) == 0
    assert "report written to" in capsys.readouterr().out
    assert md.read_text().startswith("# Mapping report: 'small' on loihi1")
    data = json.loads(js.read_text())
    expected = nm.compile(nm.load(saved), hardware="loihi1", partition="mincut", place="traffic",
                          seed=0, max_neurons_per_core=32)
    assert data["cores"]["used"] == expected.n_cores
    assert data["strategies"] == {"partition": "mincut", "place": "traffic", "seed": 0,
                                  "max_neurons_per_core": 32}
    assert is_png(png) and is_png(tmp_path / "out-traffic.png")
    assert traffic_plot_path(png) == tmp_path / "out-traffic.png"


def test_cli_map_function_prints_the_markdown(model_file, capsys) -> None:
    assert main(["map", f"{model_file}:build", "--hw", "spinnaker1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Mapping report: 'from_function' on spinnaker1")
    assert "## Router tables" in out


@pytest.mark.parametrize(("function", "message"), [
    (":missing", "has no function 'missing' (functions there: build, needs_arguments, "
                 "not_a_network)"),
    (":not_a_network", "returned int, not a Network"),
    (":needs_arguments", "callable without arguments"),
    ("", "name the function"),
])
def test_cli_map_bad_function_is_a_clear_error(model_file, function, message, capsys) -> None:
    assert main(["map", f"{model_file}{function}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert "Traceback" not in err


@pytest.mark.parametrize("model", ["missing.nmg", "missing.py:build"])
def test_cli_map_missing_model_file(tmp_path, model, capsys) -> None:
    assert main(["map", str(tmp_path / model)]) == 2
    assert "no such file" in capsys.readouterr().err


def test_cli_map_checks_output_folders_first(model_file, tmp_path, capsys) -> None:
    assert main(["map", f"{model_file}:build", "--plot", str(tmp_path / "no" / "map.png")]) == 2
    assert "--plot" in capsys.readouterr().err


def test_cli_map_network_that_does_not_fit_exits_2(tmp_path, capsys) -> None:
    net = nm.Network("too_wide")
    src = net.add(PoissonSource(shape=(300,), rate=0.05, seed=1))
    out = net.add(LIF(shape=(4,), du=410, dv=410, vth=200))
    syn = net.add(Dense(weights=np.ones((4, 300), dtype=np.int64)))
    net.connect(src.s_out, syn.s_in)
    net.connect(syn.a_out, out.a_in)
    saved = net.save(tmp_path / "too_wide.nmg")
    assert main(["map", str(saved), "--hw", "truenorth"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    for part in ("LIF", "300", "256", "truenorth"):
        assert part in err, part
    assert "Traceback" not in err


def test_cli_hw_lists_every_builtin(capsys) -> None:
    assert main(["hw"]) == 0
    out = capsys.readouterr().out
    for name in BUILTIN_NAMES:
        assert f"| {name} |" in out


def test_cli_hw_shows_one_profile_with_sources(capsys) -> None:
    assert main(["hw", "loihi1"]) == 0
    assert capsys.readouterr().out == load_profile("loihi1").to_markdown()
    assert main(["hw", "loihi9"]) == 2
    assert "unknown hardware profile" in capsys.readouterr().err
