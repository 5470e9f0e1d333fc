"""Plots of run results: spike rasters and recorded state traces.

Figures are built with matplotlib's object API (:class:`matplotlib.figure.Figure`), never through
``pyplot``'s global state, so they render and save on a machine without a display and leave the
user's matplotlib backend alone. Each function returns the Figure and, given ``path``, also writes
it to that file (PNG unless the suffix names another format matplotlib knows).

Pass ``ax`` to draw into an existing Axes (for example one panel of a ``pyplot.subplots`` grid); the
returned Figure is then that Axes' figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from nmgraph.errors import ValidationError
from nmgraph.runtimes.results import SpikeEvents

__all__ = ["raster", "traces"]

#: Colours of stacked populations in a raster (matplotlib's tab10, cycled).
_COLOURS = ("tab:blue", "tab:red", "tab:green", "tab:orange", "tab:purple", "tab:brown",
            "tab:pink", "tab:gray", "tab:olive", "tab:cyan")
#: Neurons drawn by :func:`traces` when ``neurons`` is not given.
_DEFAULT_TRACES = 10
_TIME_LABEL = "time (steps)"


def raster(events: SpikeEvents | Mapping[str, SpikeEvents], ax: Axes | None = None,
           title: str | None = None, path: str | Path | None = None) -> Figure:
    """Spike raster: one dot per spike at (step, neuron index).

    Parameters
    ----------
    events
        The spikes of one process (``rt.spikes(proc)``), or a dict ``{label: SpikeEvents}``: the
        populations are then stacked bottom to top in the dict's order, each offset by the sizes of
        the ones below it, in its own colour, with its label (and spike count) in the legend.
    ax
        Axes to draw into; a new Figure is made when not given.
    title
        Title of the Axes.
    path
        Where to save the figure (PNG by default).

    Returns
    -------
    matplotlib.figure.Figure
    """
    populations = _as_populations(events)
    fig, ax = _figure(ax, figsize=(8.0, 4.5))
    total = sum(spikes.n for _, spikes in populations)
    steps = max(spikes.steps for _, spikes in populations)
    marker_size = float(np.clip(600.0 / max(total, 1), 1.5, 4.0))  # points; dense when many units
    offset = 0
    for number, (label, spikes) in enumerate(populations):
        colour = _COLOURS[number % len(_COLOURS)]
        ax.plot(spikes.times, spikes.indices + offset, linestyle="none", marker=".",
                markersize=marker_size, markeredgewidth=0, color=colour,
                label=f"{label} ({spikes.n} units, {len(spikes)} spikes)" if label else None,
                rasterized=len(spikes) > 20_000)
        if offset:
            ax.axhline(offset - 0.5, color="0.7", linewidth=0.6)
        offset += spikes.n
    ax.set_xlim(0.5, max(steps, 1) + 0.5)
    ax.set_ylim(-0.5, max(total, 1) - 0.5)
    ax.set_xlabel(_TIME_LABEL)
    ax.set_ylabel("neuron index")
    if title:
        ax.set_title(title)
    if any(label for label, _ in populations):
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False,
                  markerscale=max(6.0 / marker_size, 1.0))  # outside: a raster has no empty corner
    return _finish(fig, path, "raster")


def traces(values: Any, ax: Axes | None = None, neurons: Sequence[int] | None = None,
           label: str = "v", title: str | None = None, path: str | Path | None = None) -> Figure:
    """Recorded state over time: one line per neuron.

    Parameters
    ----------
    values
        Array ``(steps, n)`` as returned by ``rt.recorded(proc, var)``; row ``k`` is the value after
        step ``k + 1``. A 1-D array is one neuron.
    ax
        Axes to draw into; a new Figure is made when not given.
    neurons
        Indices of the neurons to draw. Default: all of them when there are at most 10, otherwise
        the first 10 (the title says so).
    label
        Name of the Var (``v``, ``u``, ``b``); the y axis reads ``"<label> (fixed-point units)"``.
    title
        Title of the Axes.
    path
        Where to save the figure (PNG by default).

    Returns
    -------
    matplotlib.figure.Figure
    """
    data = _as_trace_array(values)
    chosen, note = _chosen_neurons(neurons, data.shape[1])
    fig, ax = _figure(ax, figsize=(8.0, 3.5))
    time = np.arange(1, data.shape[0] + 1)
    for index in chosen:
        ax.plot(time, data[:, index], linewidth=0.9, label=f"{label}[{index}]")
    ax.set_xlim(0.5, max(data.shape[0], 1) + 0.5)
    ax.set_xlabel(_TIME_LABEL)
    ax.set_ylabel(f"{label} (fixed-point units)")
    heading = " ".join(part for part in (title, note) if part)
    if heading:
        ax.set_title(heading)
    if len(chosen) <= _DEFAULT_TRACES:
        ax.legend(loc="upper right", fontsize="small")
    return _finish(fig, path, "traces")


# -- input checks -------------------------------------------------------------------------------
def _as_populations(events: Any) -> list[tuple[str, SpikeEvents]]:
    if isinstance(events, SpikeEvents):
        return [("", events)]
    if isinstance(events, Mapping):
        if not events:
            raise ValidationError("raster", "events", "the dict is empty; give at least one "
                                  "{label: SpikeEvents}")
        for label, spikes in events.items():
            if not isinstance(spikes, SpikeEvents):
                raise ValidationError("raster", "events", f"entry {label!r} must be a SpikeEvents "
                                      "(from rt.spikes(process))", spikes)
        return [(str(label), spikes) for label, spikes in events.items()]
    raise ValidationError("raster", "events", "must be a SpikeEvents (from rt.spikes(process)) or "
                          "a dict {label: SpikeEvents}", events)


def _as_trace_array(values: Any) -> np.ndarray:
    try:
        data = np.asarray(values)
    except (TypeError, ValueError):
        raise ValidationError("traces", "values", "cannot be read as an array", values) from None
    if data.ndim == 1:
        data = data[:, np.newaxis]
    if data.ndim != 2 or data.dtype.kind not in "iubf":
        raise ValidationError("traces", "values", "must be a numeric array (steps, n), as "
                              "returned by rt.recorded(process, var)", values)
    if data.shape[1] == 0:
        raise ValidationError("traces", "values", "has no neurons (n = 0)", values)
    return data


def _chosen_neurons(neurons: Sequence[int] | None, n: int) -> tuple[list[int], str]:
    if neurons is None:
        count = min(n, _DEFAULT_TRACES)
        note = f"(neurons 0-{count - 1} of {n})" if count < n else ""
        return list(range(count)), note
    try:
        chosen = np.asarray(neurons).ravel()
    except (TypeError, ValueError):
        chosen = np.asarray(None)
    if chosen.size == 0 or chosen.dtype.kind not in "iu":
        raise ValidationError("traces", "neurons", "must be a non-empty list of neuron indices",
                              neurons)
    if chosen.min() < 0 or chosen.max() >= n:
        raise ValidationError("traces", "neurons", f"indices must lie in 0..{n - 1}", neurons)
    return [int(index) for index in chosen], ""


# -- figures ------------------------------------------------------------------------------------
def _figure(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is None:
        fig = Figure(figsize=figsize, layout="constrained")
        return fig, fig.add_subplot()
    if not isinstance(ax, Axes):
        raise ValidationError("plot", "ax", "must be a matplotlib Axes (or None for a new "
                              "figure)", ax)
    parent = ax.figure
    return getattr(parent, "figure", parent), ax  # the root Figure, also for a SubFigure


def _finish(fig: Figure, path: str | Path | None, what: str) -> Figure:
    if path is not None:
        target = Path(path)
        try:
            fig.savefig(target, dpi=120)
        except (OSError, ValueError) as error:
            raise ValidationError(what, "path", f"cannot write the figure: {error}",
                                  str(target)) from None
    return fig
