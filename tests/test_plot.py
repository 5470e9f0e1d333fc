"""Plots render without a display, save non-empty PNGs, and reject bad input clearly."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from nmgraph.errors import ValidationError
from nmgraph.plot import raster, traces
from nmgraph.runtimes.results import SpikeEvents

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
    ax = fig.axes[0]
    assert ax.get_xlabel() == "time (steps)"
    assert ax.get_ylabel() == "neuron index"


def test_raster_stacks_a_dict_of_populations(tmp_path) -> None:
    events = {"exc": _events(40, 100, seed=2), "inh": _events(10, 100, seed=3)}
    path = tmp_path / "stacked.png"
    fig = raster(events, path=path)
    assert _is_png(path)
    ax = fig.axes[0]
    lines = [line for line in ax.get_lines() if line.get_linestyle() == "None"]
    assert len(lines) == 2
    # the second population sits above the first: offset by its 40 units
    np.testing.assert_array_equal(lines[1].get_ydata(), events["inh"].indices + 40)
    assert lines[0].get_color() != lines[1].get_color()
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels[0].startswith("exc") and labels[1].startswith("inh")
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


def test_traces_write_png(tmp_path) -> None:
    values = np.cumsum(np.random.default_rng(5).integers(-50, 60, size=(300, 20)), axis=0)
    path = tmp_path / "v.png"
    fig = traces(values, neurons=[0, 3, 7], label="v", path=path)
    assert _is_png(path)
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 3
    assert ax.get_xlabel() == "time (steps)"
    assert ax.get_ylabel() == "v (fixed-point units)"
    np.testing.assert_array_equal(ax.get_lines()[1].get_xdata(), np.arange(1, 301))


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
