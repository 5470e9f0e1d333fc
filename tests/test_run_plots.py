"""Run plots in ms: the raster's rate panel, windows and thinning, PSTH, ISI/CV, sampled traces.

Expected values come from the dense spike matrix or from spike trains built by hand, never from
the plotting code itself.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from nmgraph.core.errors import ValidationError
from nmgraph.runtimes.results import SpikeEvents
from nmgraph.tools.plot import cv_isi, isi, psth, raster, traces

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _dense(steps: int, n: int, p: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((steps, n)) < p


def _events_of(dense: np.ndarray, dt_ms: float = 1.0) -> SpikeEvents:
    times, indices = np.nonzero(dense)  # row-major: sorted by time, then index
    return SpikeEvents(times + 1, indices, dense.shape[1], dense.shape[0], dt_ms)


def _train(spikes_per_unit: list[list[int]], steps: int, dt_ms: float = 1.0) -> SpikeEvents:
    """SpikeEvents from a list of spike steps per unit."""
    dense = np.zeros((steps, len(spikes_per_unit)), dtype=bool)
    for unit, steps_of_unit in enumerate(spikes_per_unit):
        dense[np.asarray(steps_of_unit, dtype=np.int64) - 1, unit] = True
    return _events_of(dense, dt_ms)


def _is_png(path) -> bool:
    return path.is_file() and path.stat().st_size > 1000 and path.read_bytes()[:8] == PNG_SIGNATURE


def _drawn(fig: Figure) -> None:
    FigureCanvasAgg(fig).draw()


# -- raster -----------------------------------------------------------------------------------------
def test_rate_panel_is_the_population_rate_of_the_dense_matrix(tmp_path) -> None:
    exc, inh = _dense(400, 30, 0.04, seed=1), _dense(400, 10, 0.1, seed=2)
    events = {"exc": _events_of(exc, 0.5), "inh": _events_of(inh, 0.5)}
    fig = raster(events, bin_ms=5.0, path=tmp_path / "r.png")  # 10 steps of 0.5 ms per bin
    assert _is_png(tmp_path / "r.png")
    ax, rate_ax = fig.axes
    assert rate_ax.get_xlabel() == "time (ms)"
    assert rate_ax.get_ylabel() == "rate (Hz)\n5 ms bins"
    stairs = rate_ax.patches
    assert len(stairs) == 2
    for patch, dense in zip(stairs, (exc, inh)):
        values, edges = patch.get_data()[:2]
        expected = dense.reshape(40, 10, -1).sum(axis=(1, 2)) / (dense.shape[1] * 5e-3)
        np.testing.assert_allclose(values, expected)
        np.testing.assert_allclose(edges, np.arange(41) * 5.0)
    assert ax.get_xlim() == (0.0, 200.0)  # 400 steps of 0.5 ms
    # legend: each population's units and mean rate over the window, in Hz
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == [f"exc: 30 units, {exc.sum() / (30 * 0.2):.3g} Hz",
                      f"inh: 10 units, {inh.sum() / (10 * 0.2):.3g} Hz"]


def test_window_draws_only_the_spikes_inside_it() -> None:
    dense = _dense(300, 20, 0.05, seed=3)
    fig = raster(_events_of(dense, 0.5), window_ms=(20.0, 50.0), bin_ms=2.5)
    ax, rate_ax = fig.axes
    offsets = ax.collections[0].get_offsets()
    # steps ending in (20, 50] ms are steps 41..100 (rows 40..99)
    assert len(offsets) == dense[40:100].sum()
    assert offsets[:, 0].min() > 20.0 and offsets[:, 0].max() <= 50.0
    assert ax.get_xlim() == (20.0, 50.0)
    values, edges = rate_ax.patches[0].get_data()[:2]
    np.testing.assert_allclose(edges, 20.0 + np.arange(13) * 2.5)
    np.testing.assert_allclose(values, dense[40:100].reshape(12, 5, 20).sum(axis=(1, 2))
                               / (20 * 2.5e-3))


def test_window_past_the_end_is_clipped_and_an_empty_one_is_an_error() -> None:
    dense = _dense(100, 5, 0.2, seed=4)
    fig = raster(_events_of(dense), window_ms=(90, 500))
    assert len(fig.axes[0].collections[0].get_offsets()) == dense[90:].sum()
    assert fig.axes[0].get_xlim() == (90.0, 100.0)
    with pytest.raises(ValidationError, match="holds no step"):
        raster(_events_of(dense), window_ms=(100, 200))


def test_max_neurons_draws_every_sth_unit_and_says_so() -> None:
    exc, inh = _dense(100, 60, 0.1, seed=5), _dense(100, 30, 0.1, seed=6)
    fig = raster({"exc": _events_of(exc), "inh": _events_of(inh)}, max_neurons=30)
    ax = fig.axes[0]
    assert ax.get_ylabel() == "neuron index (every 3rd unit shown)"  # 90 units, at most 30 rows
    exc_dots, inh_dots = (collection.get_offsets() for collection in ax.collections)
    assert len(exc_dots) == exc[:, ::3].sum() and len(inh_dots) == inh[:, ::3].sum()
    assert set(np.unique(exc_dots[:, 1]).astype(int)) <= set(range(0, 60, 3))
    assert set(np.unique(inh_dots[:, 1]).astype(int) - 60) <= set(range(0, 30, 3))
    # the rate still counts every unit
    values = fig.axes[1].patches[0].get_data()[0]
    assert values.sum() == pytest.approx(exc.sum() / (60 * 1e-3) / (100 / values.size))


def test_markers_shrink_and_fade_as_spikes_get_denser() -> None:
    sparse = raster(_events_of(_dense(200, 20, 0.01, seed=7))).axes[0].collections[0]
    dense = raster(_events_of(_dense(20_000, 400, 0.05, seed=8))).axes[0].collections[0]
    assert dense.get_sizes()[0] < sparse.get_sizes()[0]
    assert sparse.get_alpha() == 1.0
    assert dense.get_alpha() < 0.5  # ~400k spikes: translucent, so density shows
    assert dense.get_rasterized()


def test_legend_sits_above_the_raster_and_leaves_its_width_alone() -> None:
    events = {"input": _events_of(_dense(100, 10, 0.1, seed=9)),
              "exc": _events_of(_dense(100, 40, 0.1, seed=10)),
              "inh": _events_of(_dense(100, 10, 0.1, seed=11))}
    fig = raster(events, title="demo")
    _drawn(fig)
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    box, legend = ax.get_window_extent(renderer), ax.get_legend().get_window_extent(renderer)
    title = ax.title.get_window_extent(renderer)
    assert legend.y0 >= box.y1 - 1  # above the Axes, not beside it
    assert title.y0 >= legend.y1 - 1  # and under the title
    assert box.width >= 0.8 * fig.bbox.width  # no empty side margin for a legend
    assert fig.bbox.x0 <= legend.x0 and legend.x1 <= fig.bbox.x1


def test_raster_into_given_axes_with_a_rate_panel() -> None:
    fig = Figure()
    ax, rate_ax = fig.subplots(2, 1, sharex=True)
    events = _events_of(_dense(50, 4, 0.2, seed=12))
    assert raster(events, ax=ax, rate_ax=rate_ax, bin_ms=10) is fig
    assert len(rate_ax.patches) == 1 and rate_ax.get_xlabel() == "time (ms)"


@pytest.mark.parametrize(("options", "match"), [
    ({"window_ms": (5, 5)}, "start < stop"),
    ({"window_ms": (-1, 5)}, "0 ms or later"),
    ({"window_ms": 5}, "pair"),
    ({"bin_ms": 0.75}, "whole number of steps of 0.5 ms"),
    ({"bin_ms": -1}, "positive"),
    ({"max_neurons": 0}, "positive integer"),
    ({"rate_ax": "no"}, "Axes"),
])
def test_raster_rejects_bad_options(options, match) -> None:
    with pytest.raises(ValidationError, match=match):
        raster(_events_of(_dense(20, 3, 0.2, seed=13), 0.5), **options)


def test_populations_of_different_step_lengths_are_rejected() -> None:
    dense = _dense(20, 3, 0.2, seed=14)
    with pytest.raises(ValidationError, match="share dt_ms"):
        raster({"a": _events_of(dense, 1.0), "b": _events_of(dense, 0.1)})


# -- PSTH -------------------------------------------------------------------------------------------
def test_psth_without_onsets_is_the_binned_rate(tmp_path) -> None:
    dense = _dense(120, 8, 0.1, seed=15)
    fig = psth(_events_of(dense, 0.25), bin_ms=2.5, path=tmp_path / "p.png")  # 10 steps per bin
    assert _is_png(tmp_path / "p.png")
    ax = fig.axes[0]
    values, edges = ax.patches[0].get_data()[:2]
    np.testing.assert_allclose(values, dense.reshape(12, 10, 8).sum(axis=(1, 2)) / (8 * 2.5e-3))
    np.testing.assert_allclose(edges, np.arange(13) * 2.5)
    assert ax.get_xlabel() == "time (ms)" and ax.get_ylabel() == "rate per unit (Hz)"
    assert ax.get_title() == "PSTH: 2.5 ms bins"


def test_psth_aligns_trials_on_their_onsets() -> None:
    # unit 0 fires 3 and 7 steps after each onset; unit 1 fires once, 3 steps after the second
    onsets = [10, 30, 50, 95]  # the last trial (95 + 20 > 100 steps) does not fit
    unit0 = sorted(onset + lag for onset in onsets[:3] for lag in (3, 7))
    events = _train([unit0, [33]], steps=100)
    fig = psth(events, onsets_ms=onsets, window_ms=(-5, 15), bin_ms=5)
    ax = fig.axes[0]
    values, edges = ax.patches[0].get_data()[:2]
    np.testing.assert_allclose(edges, [-5, 0, 5, 10, 15])
    # bin (0, 5] holds lag 3: 3 trials x unit 0 + 1 spike of unit 1; (5, 10] holds lag 7
    per_spike = 1 / (3 * 2 * 5e-3)  # trials x units x bin in s
    np.testing.assert_allclose(values, [0.0, 4 * per_spike, 3 * per_spike, 0.0])
    assert ax.get_xlabel() == "time from onset (ms)"
    assert ax.get_title().startswith("PSTH: 3 trials, 5 ms bins")


def test_psth_default_window_is_the_shortest_gap() -> None:
    events = _train([[2, 12, 22]], steps=40)
    values, edges = psth(events, onsets_ms=[0, 10, 20], bin_ms=1).axes[0].patches[0].get_data()[:2]
    assert edges[0] == 0 and edges[-1] == 10
    np.testing.assert_allclose(values, np.where(np.arange(10) == 1, 1000.0, 0.0))


@pytest.mark.parametrize(("options", "match"), [
    ({"onsets_ms": [1.5]}, "whole numbers of steps"),
    ({"onsets_ms": []}, "non-empty"),
    ({"onsets_ms": [90], "window_ms": (0, 20)}, "no trial window fits"),
    ({"bin_ms": 0.5}, "whole number of steps"),
])
def test_psth_rejects_bad_options(options, match) -> None:
    with pytest.raises(ValidationError, match=match):
        psth(_train([[5]], steps=100), **options)


# -- ISI and CV -------------------------------------------------------------------------------------
def test_cv_of_hand_built_trains() -> None:
    events = _train([
        [5, 10, 15, 20, 25],  # regular: CV 0
        [1, 3, 7],            # ISIs 2, 4: mean 3, std 1
        [1, 2, 4, 7],         # ISIs 1, 2, 3: mean 2, std sqrt(2/3)
        [4, 9],               # one ISI: undefined
        [],                   # silent: undefined
    ], steps=30)
    cv = cv_isi(events)
    np.testing.assert_allclose(cv[:3], [0.0, 1 / 3, np.sqrt(2 / 3) / 2])
    assert np.isnan(cv[3]) and np.isnan(cv[4])


def test_isi_figure_counts_intervals_in_ms_and_names_the_qualified_units(tmp_path) -> None:
    events = _train([[5, 10, 15, 20, 25], [1, 3, 7], [1, 2, 4, 7], [4, 9], []], steps=30,
                    dt_ms=0.5)
    fig = isi(events, bins=10, path=tmp_path / "isi.png")
    assert _is_png(tmp_path / "isi.png")
    isi_ax, cv_ax = fig.axes
    counts, edges = isi_ax.patches[0].get_data()[:2]
    assert counts.sum() == 4 + 2 + 3 + 1  # every interval, each in one bin
    intervals_ms = np.array([5, 5, 5, 5, 2, 4, 1, 2, 3, 5]) * 0.5
    np.testing.assert_array_equal(counts, np.histogram(intervals_ms, bins=edges)[0])
    assert isi_ax.get_xlabel() == "inter-spike interval (ms)"
    assert not np.isin(intervals_ms, edges).any()  # bin edges fall between whole steps
    assert isi_ax.get_title() == "10 intervals, median 2.25 ms"  # 4.5 steps of 0.5 ms
    cv_counts = cv_ax.patches[0].get_data()[0]
    assert cv_counts.sum() == 3
    assert cv_ax.get_title() == "CV of 3 of 5 units (those with ≥ 2 intervals)"
    assert cv_ax.get_xlabel() == "CV = std(ISI) / mean(ISI)"


def test_isi_axis_end_reports_the_intervals_beyond_it() -> None:
    events = _train([[1, 2, 3, 4, 5, 50]], steps=60)
    title = isi(events, max_isi_ms=10).axes[0].get_title()
    assert title.endswith("1 longer than 10 ms off the axis")


def test_isi_of_several_populations_and_bad_axes() -> None:
    events = {"a": _train([[1, 3, 5]], steps=10), "b": _train([[2, 5, 9], [1, 2]], steps=10)}
    fig = isi(events)
    labels = [text.get_text() for text in fig.axes[1].get_legend().get_texts()]
    assert labels[:2] == ["a: 1 of 1", "b: 1 of 2"]
    with pytest.raises(ValidationError, match="two matplotlib Axes"):
        isi(events, ax=Figure().add_subplot())


# -- traces -----------------------------------------------------------------------------------------
def test_traces_of_every_kth_step_are_drawn_at_their_times() -> None:
    values = np.arange(40).reshape(10, 4)
    fig = traces(values, dt_ms=0.1, every=5, first_step=3, neurons=[1])
    line = fig.axes[0].get_lines()[0]
    np.testing.assert_allclose(line.get_xdata(), (3 + 5 * np.arange(10)) * 0.1)
    np.testing.assert_array_equal(line.get_ydata(), values[:, 1])
    assert fig.axes[0].get_xlabel() == "time (ms)"


def test_traces_of_a_monitor_use_its_times_var_and_units(tmp_path) -> None:
    monitor = SimpleNamespace(values=np.arange(12).reshape(4, 3), t_ms=np.array([2., 4., 6., 8.]),
                              var="u", neurons=np.array([7, 2, 9]))
    fig = traces(monitor, window_ms=(3, 8), path=tmp_path / "m.png")
    ax = fig.axes[0]
    assert ax.get_ylabel() == "u (fixed-point units)"
    assert [line.get_label() for line in ax.get_lines()] == ["u[7]", "u[2]", "u[9]"]
    np.testing.assert_allclose(ax.get_lines()[0].get_xdata(), [4.0, 6.0, 8.0])  # (3, 8] ms
    assert ax.get_xlim() == (3.0, 8.0)


@pytest.mark.parametrize(("options", "match"), [
    ({"t_ms": [1, 2]}, "one finite time"),
    ({"t_ms": [3, 2, 1]}, "increase"),
    ({"every": 0}, "positive integer"),
    ({"dt_ms": 0}, "positive"),
])
def test_traces_reject_bad_times(options, match) -> None:
    with pytest.raises(ValidationError, match=match):
        traces(np.zeros((3, 2)), **options)


def test_recorded_subset_every_five_steps_plots_in_ms(tmp_path) -> None:
    """A monitor from a real run: samples every 5 steps of 0.5 ms, next to its raster."""
    import nmgraph as nm
    from nmgraph.processes import LIF, Dense, PoissonSource

    net = nm.Network("plotted", dt_ms=0.5)
    drive = net.add(PoissonSource(20, rate=0.3, seed=3, name="drive"))
    exc = net.add(LIF(30, du=400, dv=300, vth=60, name="exc"))
    syn = net.add(Dense(np.random.default_rng(2).integers(0, 30, (30, 20)), name="syn"))
    net.connect(drive.s_out, syn.s_in)
    net.connect(syn.a_out, exc.a_in)
    with nm.Runtime(net, backend="reference") as rt:
        monitor = rt.record(exc, "v", neurons=[4, 1], every=5)
        rt.run(60)
        spikes = rt.spikes(exc)
        fig = traces(monitor, path=tmp_path / "v.png")
        line = fig.axes[0].get_lines()[0]
        np.testing.assert_allclose(line.get_xdata(), (1 + 5 * np.arange(12)) * 0.5)
        raster(spikes, path=tmp_path / "r.png")
    assert spikes.dt_ms == 0.5
    assert _is_png(tmp_path / "v.png") and _is_png(tmp_path / "r.png")


def test_raster_over_a_panel_sharing_its_time_axis_leaves_the_label_to_it() -> None:
    fig = Figure()
    top, bottom = fig.subplots(2, 1, sharex=True)
    raster(_events_of(_dense(50, 4, 0.2, seed=16)), ax=top)
    traces(np.zeros((50, 2)), ax=bottom)
    assert top.get_xlabel() == "" and bottom.get_xlabel() == "time (ms)"


def test_nm_plot_reaches_the_run_plots() -> None:
    import nmgraph as nm

    assert nm.plot.psth is psth and nm.plot.isi is isi and nm.plot.cv_isi is cv_isi
    assert nm.plot.raster is raster and nm.plot.traces is traces


def test_raster_without_the_rate_panel() -> None:
    fig = raster(_events_of(_dense(30, 4, 0.2, seed=17), 2.0), rate=False)
    assert len(fig.axes) == 1
    assert fig.axes[0].get_xlabel() == "time (ms)" and fig.axes[0].get_xlim() == (0.0, 60.0)
