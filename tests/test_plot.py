"""Plots render without a display, save non-empty PNGs, and reject bad input clearly."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from nmgraph.core.errors import ValidationError
from nmgraph.runtimes.results import SpikeEvents
from nmgraph.tools.plot import raster, traces

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _events(n: int, steps: int, seed: int) -> SpikeEvents:
    dense = np.random.default_rng(seed).random((steps, n)) < 0.05
    times, indices = np.nonzero(dense)
    return SpikeEvents(times + 1, indices, n, steps)


def _is_png(path) -> bool:
    return path.is_file() and path.stat().st_size > 1000 and path.read_bytes()[:8] == PNG_SIGNATURE


def test_raster_of_one_process_writes_png(tmp_path) -> None:
    path = tmp_path / "one.png"
    fig = raster(_events(50, 200, seed=1), title="one", path=path)
    assert isinstance(fig, Figure)
    assert _is_png(path)
    ax, rate_ax = fig.axes  # the raster over its population-rate panel, sharing the time axis
    assert ax.get_ylabel() == "neuron index"
    assert rate_ax.get_xlabel() == "time (ms)"
    assert rate_ax.get_ylabel().startswith("rate (Hz)")
    assert ax.get_shared_x_axes().joined(ax, rate_ax)
    assert ax.get_title() == "one"


def test_raster_stacks_a_dict_of_populations(tmp_path) -> None:
    events = {"exc": _events(40, 100, seed=2), "inh": _events(10, 100, seed=3)}
    path = tmp_path / "stacked.png"
    fig = raster(events, path=path)
    assert _is_png(path)
    ax = fig.axes[0]
    dots = ax.collections
    assert len(dots) == 2
    # the second population sits above the first: offset by its 40 units
    np.testing.assert_array_equal(dots[1].get_offsets()[:, 1], events["inh"].indices + 40)
    np.testing.assert_array_equal(dots[1].get_offsets()[:, 0], events["inh"].times * 1.0)
    assert not np.array_equal(dots[0].get_facecolor(), dots[1].get_facecolor())
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels[0].startswith("exc: 40 units") and labels[1].startswith("inh: 10 units")
    assert ax.get_ylim()[1] >= 49


def test_raster_without_spikes_still_draws(tmp_path) -> None:
    empty = SpikeEvents(np.zeros(0, np.int64), np.zeros(0, np.int64), 5, 10)
    path = tmp_path / "empty.png"
    raster({"silent": empty}, path=path)
    assert _is_png(path)


def test_raster_draws_into_given_axes() -> None:
    fig = Figure()
    ax = fig.add_subplot()
    assert raster(_events(5, 20, seed=4), ax=ax) is fig
    assert fig.axes == [ax]  # no rate panel without rate_ax
    assert ax.get_xlabel() == "time (ms)"


def test_traces_write_png(tmp_path) -> None:
    values = np.cumsum(np.random.default_rng(5).integers(-50, 60, size=(300, 20)), axis=0)
    path = tmp_path / "v.png"
    fig = traces(values, neurons=[0, 3, 7], label="v", path=path)
    assert _is_png(path)
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 3
    assert ax.get_xlabel() == "time (ms)"
    assert ax.get_ylabel() == "v (fixed-point units)"
    np.testing.assert_array_equal(ax.get_lines()[1].get_xdata(), np.arange(1, 301))
    np.testing.assert_array_equal(ax.get_lines()[1].get_ydata(), values[:, 3])
    assert ax.get_xlim() == (0.0, 300.0)


def test_traces_default_to_first_ten_and_say_so() -> None:
    fig = traces(np.zeros((10, 30), dtype=np.int64), label="u")
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 10
    assert "of 30" in ax.get_title()
    assert ax.get_ylabel() == "u (fixed-point units)"


@pytest.mark.parametrize("bad", [
    None,
    [1, 2, 3],
    np.zeros((3, 3)),
    {},
    {"exc": np.zeros(3)},
])
def test_raster_rejects_bad_input(bad) -> None:
    with pytest.raises(ValidationError, match="raster"):
        raster(bad)


@pytest.mark.parametrize(("values", "neurons", "match"), [
    (np.zeros((2, 3, 4)), None, "steps, n"),
    (np.array(["a", "b"]), None, "numeric"),
    (np.zeros((10, 0)), None, "no neurons"),
    (np.zeros((10, 4)), [4], "0..3"),
    (np.zeros((10, 4)), [-1], "0..3"),
    (np.zeros((10, 4)), [], "non-empty"),
    (np.zeros((10, 4)), [0.5], "indices"),
])
def test_traces_reject_bad_input(values, neurons, match) -> None:
    with pytest.raises(ValidationError, match=match):
        traces(values, neurons=neurons)


def test_unwritable_path_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(ValidationError, match="cannot write"):
        raster(_events(5, 10, seed=6), path=tmp_path / "missing" / "r.png")


def test_rejects_non_axes() -> None:
    with pytest.raises(ValidationError, match="Axes"):
        traces(np.zeros((5, 2)), ax="not an axes")


# -- layout: nothing overlaps or leaves the figure (defects seen in the PNGs) ---------------------
def _extent(fig, artist):
    """``artist``'s box in display units, after a full draw (which runs the figure's layout)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig).draw()
    return artist.get_window_extent(fig.canvas.get_renderer())


def test_core_map_of_a_wide_short_mesh_keeps_legend_and_labels_clear(tmp_path) -> None:
    import nmgraph as nm
    from nmgraph.tools.demo import build_demo_network
    from nmgraph.tools.plot import core_map

    exe = nm.compile(build_demo_network(0), hardware="loihi1", max_neurons_per_core=4)
    assert exe.n_chips == 2  # two 8 x 16 chips side by side: a mesh 4 times wider than tall
    fig = core_map(exe, path=tmp_path / "wide.png")
    assert _is_png(tmp_path / "wide.png")
    ax = fig.axes[0]
    legend, xlabel = _extent(fig, ax.get_legend()), _extent(fig, ax.xaxis.label)
    assert legend.y1 <= xlabel.y0  # the legend sits below the x label, not on it
    page = fig.bbox
    for text in (ax.xaxis.label, ax.yaxis.label, ax.title, ax.child_axes[0].yaxis.label):
        box = _extent(fig, text)
        assert text.get_text()
        assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1
    # the y label and the colour bar label are no taller than the mesh
    mesh = _extent(fig, ax)
    assert _extent(fig, ax.yaxis.label).height <= mesh.height
    assert _extent(fig, ax.child_axes[0].yaxis.label).height <= mesh.height


def test_study_bar_values_stay_inside_their_panels(tmp_path) -> None:
    from types import SimpleNamespace

    from nmgraph.tools.plot import study_bars
    from nmgraph.tools.study import COLUMNS

    def record(profile, **values):
        row = dict.fromkeys(COLUMNS)
        row.update(profile=profile, partition="greedy", place="linear", error="", **values)
        return row

    records = [record("truenorth", energy_per_step_j=5.86e-8, cores=3, utilisation=0.46,
                      energy_unknown="neuron_updates_active;neuron_updates_inactive"),
               record("spinnaker1", energy_per_step_j=4.86e-4, cores=4, utilisation=0.98),
               record("big", energy_per_step_j=1.2e-3, cores=1_234_567, utilisation=1.0)]
    result = SimpleNamespace(records=records, network="n", steps=10,
                             label_of=lambda i: f"{records[i]['profile']} greedy/linear")
    fig = study_bars(result, metric=["energy_per_step_j", "cores", "utilisation"],
                     path=tmp_path / "bars.png")
    assert _is_png(tmp_path / "bars.png")
    for ax in fig.axes:
        panel = _extent(fig, ax)
        values = [text for text in ax.texts if text.get_text().strip()]
        assert len(values) == 3
        for text in values:
            box = _extent(fig, text)
            assert panel.x0 <= box.x0 and box.x1 <= panel.x1, text.get_text()
        if ax.get_xlabel().startswith("energy"):  # a partial energy is a lower bound
            assert values[0].get_text().strip() == "≥ 58.60 nJ (partial)"
        label = _extent(fig, ax.xaxis.label)
        assert fig.bbox.x0 <= label.x0 and label.x1 <= fig.bbox.x1, ax.get_xlabel()
