"""Plots of run results and of mappings.

Run plots take time in ms from the step length the spikes carry (``SpikeEvents.dt_ms``, the
network's ``dt_ms``) or from ``dt_ms=`` / the sample times for recorded state: :func:`raster` (with
the population rate in a panel under it, a time window and thinning for long, dense runs),
:func:`psth`, :func:`isi` (inter-spike intervals and their CV, :func:`cv_isi`) and :func:`traces`.
Mapping plots: :func:`core_map`, :func:`traffic_matrix`; study plots: :func:`energy_breakdown`,
:func:`study_bars`.

Figures are built with matplotlib's object API (:class:`matplotlib.figure.Figure`), never through
``pyplot``'s global state, so they render and save on a machine without a display and leave the
user's matplotlib backend alone. Each function returns the Figure and, given ``path``, also writes
it to that file (PNG unless the suffix names another format matplotlib knows).

Pass ``ax`` to draw into an existing Axes (for example one panel of a ``pyplot.subplots`` grid); the
returned Figure is then that Axes' figure.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import rcParams
from matplotlib.axes import Axes
from matplotlib.collections import PatchCollection
from matplotlib.colors import ListedColormap, LogNorm, Normalize, to_rgba
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import (
    EngFormatter,
    FuncFormatter,
    MaxNLocator,
    NullLocator,
    PercentFormatter,
)

from nmgraph.compilers.report import MappingReport, core_traffic_matrix
from nmgraph.core.errors import NmgraphError, ValidationError
from nmgraph.runtimes.results import SpikeEvents

__all__ = ["core_map", "cv_isi", "energy_breakdown", "isi", "psth", "raster", "study_bars", "traces",
           "traffic_matrix"]

#: Colours of stacked populations in a raster (matplotlib's tab10, cycled).
_COLOURS = ("tab:blue", "tab:red", "tab:green", "tab:orange", "tab:purple", "tab:brown",
            "tab:pink", "tab:gray", "tab:olive", "tab:cyan")
#: Neurons drawn by :func:`traces` when ``neurons`` is not given.
_DEFAULT_TRACES = 10
_TIME_LABEL = "time (ms)"
#: Share of a raster's area its dots cover at most: the marker size follows the number of spikes
#: drawn, and beyond the smallest marker the dots turn translucent, so that a dense raster shows
#: its density instead of a solid block.
_RASTER_COVER = 0.15
#: Marker diameters of a raster in points (smallest, largest), and the lowest opacity.
_MARKER_PT, _MIN_ALPHA = (0.5, 4.0), 0.04
#: About how many bins the rate panel and the PSTH get when ``bin_ms`` is not given.
_RATE_BINS, _PSTH_BINS = 100, 60
#: Default share of the ISIs the ISI histogram's axis covers (the longest ones are counted apart).
_ISI_QUANTILE = 0.995


def raster(events: SpikeEvents | Mapping[str, SpikeEvents], ax: Axes | None = None,
           title: str | None = None, path: str | Path | None = None, *,
           window_ms: tuple[float, float] | None = None, bin_ms: float | None = None,
           rate: bool = True, rate_ax: Axes | None = None,
           max_neurons: int | None = None) -> Figure:
    """Spike raster with the population rate in a panel under it, time in ms.

    One dot per spike at (time, neuron index); a spike of step ``k`` is drawn at the step's end,
    ``k * dt_ms`` ms (``dt_ms`` from the events). Under the raster, sharing its time axis, the
    population rate of each population in Hz:

    .. math:: r_b = \\frac{\\text{spikes of the population in bin } b}
                          {n \\cdot \\text{bin length in s}}

    (:meth:`SpikeEvents.population_rate <nmgraph.runtimes.results.SpikeEvents.population_rate>`
    over the window). Markers shrink as spikes get denser (they cover at most 15 % of the
    raster's area), and below half a point they turn translucent, so that a long dense run shows
    where spikes are dense rather than a solid block; ``window_ms`` and ``max_neurons`` thin it
    further.

    Parameters
    ----------
    events
        The spikes of one process (``rt.spikes(proc)``), or a dict ``{label: SpikeEvents}``: the
        populations are then stacked bottom to top in the dict's order, each offset by the sizes of
        the ones below it, in its own colour; the legend above the raster gives each one's units
        and mean rate over the window.
    ax
        Axes to draw the raster into. Without it a new Figure is made, with the rate panel under
        the raster (unless ``rate=False``); with it, the rate panel is drawn only into ``rate_ax``.
    title
        Title of the raster.
    path
        Where to save the figure (PNG by default).
    window_ms
        ``(start, stop)``: draw the steps whose end lies in ``(start, stop]`` ms (stop is clipped
        to the end of the run). Default: the whole run.
    bin_ms
        Bin of the rate panel in ms, a whole number of steps. Default: a 1-2-5 number of steps
        giving about 100 bins over the window.
    rate
        Draw the rate panel in a new Figure (default True).
    rate_ax
        Axes for the rate panel when ``ax`` is given (it should share ``ax``'s x axis).
    max_neurons
        Draw at most this many rows: every ``s``-th unit of each population (unit 0, s, 2s, ...;
        the y label states ``s``). Rates still count every unit. Default: all units.

    Returns
    -------
    matplotlib.figure.Figure
    """
    populations = _as_populations(events, "raster")
    dt_ms = _common_dt(populations, "raster")
    steps = max(spikes.steps for _, spikes in populations)
    first, last = _window_steps(window_ms, steps, dt_ms, "raster")
    bin_steps = _bin_steps(bin_ms, dt_ms, last - first + 1, _RATE_BINS, "raster")
    total = sum(spikes.n for _, spikes in populations)
    stride = _stride(max_neurons, total)
    if rate_ax is not None and not isinstance(rate_ax, Axes):
        raise ValidationError("raster", "rate_ax", "must be a matplotlib Axes (or None)", rate_ax)
    if ax is None:
        fig = Figure(figsize=(8.0, 5.4 if rate else 4.4), layout="constrained")
        if rate:
            ax, rate_ax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": (3, 1)})
        else:
            ax = fig.add_subplot()
    else:
        fig, ax = _figure(ax, figsize=(8.0, 4.4))
    drawn = [_in_window(spikes, first, last) for _, spikes in populations]
    shown = sum(int(np.count_nonzero(spikes.indices[lo:hi] % stride == 0)) if stride > 1
                else hi - lo for (_, spikes), (lo, hi) in zip(populations, drawn))
    size, alpha = _marker_style(ax, shown)
    handles, labels = [], []
    offset = 0
    span_s = (last - first + 1) * dt_ms * 1e-3
    for number, ((label, spikes), (lo, hi)) in enumerate(zip(populations, drawn)):
        colour = _COLOURS[number % len(_COLOURS)]
        times, indices = spikes.times[lo:hi], spikes.indices[lo:hi]
        if stride > 1:
            keep = indices % stride == 0
            times, indices = times[keep], indices[keep]
        dots = ax.scatter(times * dt_ms, indices + offset, s=size, c=colour, marker="o",
                          linewidths=0, alpha=alpha, rasterized=times.size > 20_000)
        if label:
            mean_hz = (hi - lo) / (max(spikes.n, 1) * span_s) if span_s > 0 else 0.0
            handles.append(dots)
            labels.append(f"{label}: {_units(spikes.n)}, {mean_hz:.3g} Hz")
        if offset:
            ax.axhline(offset - 0.5, color="0.7", linewidth=0.6)
        offset += spikes.n
    start_ms, stop_ms = (first - 1) * dt_ms, max(last, first) * dt_ms
    ax.set_xlim(start_ms, stop_ms)
    ax.set_ylim(-0.5, max(total, 1) - 0.5)
    ax.set_ylabel("neuron index" + (f" (every {_ordinal(stride)} shown)" if stride > 1 else ""))
    if handles:
        _legend_above(ax, handles, labels, title)
    elif title:
        ax.set_title(title)
    if rate_ax is None:
        if not _time_axis_below(ax):
            ax.set_xlabel(_TIME_LABEL)
        return _finish(fig, path, "raster")
    for number, ((label, spikes), (lo, hi)) in enumerate(zip(populations, drawn)):
        window = SpikeEvents(spikes.times[lo:hi] - (first - 1), spikes.indices[lo:hi], spikes.n,
                             max(min(last, spikes.steps) - first + 1, 0), dt_ms)
        ends, rate_hz = window.population_rate(bin_ms=bin_steps * dt_ms)
        edges = np.concatenate(([start_ms], ends + start_ms))
        rate_ax.stairs(rate_hz, edges, color=_COLOURS[number % len(_COLOURS)], linewidth=0.9,
                       baseline=None,
                       label=label or None)
    rate_ax.set_xlim(start_ms, stop_ms)
    rate_ax.set_ylim(bottom=0.0)
    rate_ax.set_xlabel(_TIME_LABEL)
    rate_ax.set_ylabel(f"rate (Hz)\n{_number(bin_steps * dt_ms)} ms bins", fontsize="small")
    rate_ax.grid(axis="y", color="0.9", linewidth=0.6)
    if rate_ax.get_shared_x_axes().joined(ax, rate_ax):
        ax.tick_params(labelbottom=False)
    else:
        ax.set_xlabel(_TIME_LABEL)
    return _finish(fig, path, "raster")


def psth(events: SpikeEvents | Mapping[str, SpikeEvents], bin_ms: float | None = None,
         onsets_ms: Sequence[float] | np.ndarray | None = None,
         window_ms: tuple[float, float] | None = None, ax: Axes | None = None,
         title: str | None = None, path: str | Path | None = None) -> Figure:
    """Peri-stimulus time histogram: the mean rate of a unit per time bin, in Hz.

    .. math:: r_b = \\frac{\\text{spikes in bin } b \\text{ summed over trials}}
                          {\\text{trials} \\cdot n \\cdot \\text{bin length in s}}

    With ``onsets_ms`` each onset starts a trial and spike times are taken relative to it (bin
    ``b`` holds the steps ending in ``(start + b * bin, start + (b + 1) * bin]`` ms after the
    onset); without it the whole run is one trial and the PSTH is the population rate in bars.

    Parameters
    ----------
    events
        The spikes of one process, or a dict ``{label: SpikeEvents}`` (one outline per
        population, in the raster's colours).
    bin_ms
        Bin length in ms, a whole number of steps. Default: a 1-2-5 number of steps giving about 60
        bins.
    onsets_ms
        Stimulus onsets in ms, whole numbers of steps. Trials whose window does not fit inside the
        run are left out (the title gives the number used).
    window_ms
        ``(start, stop)`` in ms: relative to each onset with ``onsets_ms`` (default: from 0 to the
        shortest gap between onsets, or to the end of the run with a single onset); else absolute,
        as in :func:`raster` (default: the whole run). Whole numbers of steps with onsets.
    ax, title, path
        Axes to draw into (a new Figure when None), its title, and where to save the figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    populations = _as_populations(events, "psth")
    dt_ms = _common_dt(populations, "psth")
    steps = max(spikes.steps for _, spikes in populations)
    if onsets_ms is None:
        first, last = _window_steps(window_ms, steps, dt_ms, "psth")
        onsets, low, high = np.zeros(1, dtype=np.int64), first - 1, last
    else:
        onsets, low, high = _trials(onsets_ms, window_ms, steps, dt_ms)
    bin_steps = _bin_steps(bin_ms, dt_ms, high - low, _PSTH_BINS, "psth")
    n_bins = -(-(high - low) // bin_steps)
    edges_steps = np.minimum(low + np.arange(n_bins + 1) * bin_steps, high)
    lengths_s = np.diff(edges_steps) * dt_ms * 1e-3
    fig, ax = _figure(ax, figsize=(8.0, 3.6))
    single = len(populations) == 1
    for number, (label, spikes) in enumerate(populations):
        relative = _relative_times(spikes.times, onsets, low, high)
        counts = np.bincount((relative - low - 1) // bin_steps, minlength=n_bins)[:n_bins]
        rate_hz = counts / (onsets.size * max(spikes.n, 1) * lengths_s)
        colour = _COLOURS[number % len(_COLOURS)]
        ax.stairs(rate_hz, edges_steps * dt_ms, fill=single, color=colour,
                  baseline=0.0 if single else None,
                  alpha=0.8 if single else 1.0, linewidth=1.0,
                  label=f"{label}: {_units(spikes.n)}" if label else None)
    ax.set_xlim(low * dt_ms, max(high, low + 1) * dt_ms)
    ax.set_ylim(bottom=0.0)
    ax.set_xlabel("time from onset (ms)" if onsets_ms is not None else _TIME_LABEL)
    ax.set_ylabel("rate per unit (Hz)")
    ax.grid(axis="y", color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)
    if onsets_ms is not None and low < 0 < high:
        ax.axvline(0.0, color="0.3", linewidth=0.8, linestyle="--")
    trials = (f"{onsets.size:,} trial{'s' if onsets.size != 1 else ''}, "
              if onsets_ms is not None else "")
    heading = title or f"PSTH: {trials}{_number(bin_steps * dt_ms)} ms bins"
    if any(label for label, _ in populations):
        _legend_above(ax, *ax.get_legend_handles_labels(), heading)
    else:
        ax.set_title(heading)
    return _finish(fig, path, "psth")


def cv_isi(events: SpikeEvents) -> np.ndarray:
    """Coefficient of variation of each unit's inter-spike intervals.

    .. math:: CV = \\frac{\\operatorname{std}(ISI)}{\\operatorname{mean}(ISI)}

    with the population standard deviation (``ddof = 0``, as Elephant's ``cv``). 0 for a
    regular train, 1 for a Poisson process.

    Parameters
    ----------
    events
        The spikes of one process.

    Returns
    -------
    numpy.ndarray
        float64 ``(n,)``: the CV of each unit, NaN for units with fewer than 2 intervals.
    """
    if not isinstance(events, SpikeEvents):
        raise ValidationError("cv_isi", "events", "must be a SpikeEvents (from rt.spikes(process))",
                              events)
    intervals, owner = _intervals(events)
    count = np.bincount(owner, minlength=events.n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(owner, intervals, minlength=events.n) / count
        spread = np.bincount(owner, (intervals - mean[owner]) ** 2, minlength=events.n) / count
        cv = np.sqrt(spread) / mean
    cv[count < 2] = np.nan
    return cv


def isi(events: SpikeEvents | Mapping[str, SpikeEvents], bins: int = 50,
        max_isi_ms: float | None = None, ax: Sequence[Axes] | None = None,
        title: str | None = None, path: str | Path | None = None) -> Figure:
    """Inter-spike intervals in ms (left) and the CV of each unit's intervals (right).

    An interval is the time between two successive spikes of a unit, a whole number of steps
    times ``dt_ms``; the CV of a unit is ``std(ISI) / mean(ISI)`` (:func:`cv_isi`), defined for
    units with at least 2 intervals; the CV panel's title says how many units that is. A dashed
    line marks CV = 1, a Poisson process.

    Parameters
    ----------
    events
        The spikes of one process, or a dict ``{label: SpikeEvents}`` (one outline per
        population).
    bins
        Bins of the ISI histogram (each a whole number of steps; bin edges fall between steps).
    max_isi_ms
        Right end of the ISI axis. Default: the 99.5th percentile of the intervals; the panel's
        title says how many intervals lie beyond the axis.
    ax
        Two Axes ``(isi_ax, cv_ax)`` to draw into; a new Figure with both panels when None.
    title, path
        Title of the figure (or of ``isi_ax``), and where to save the figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    populations = _as_populations(events, "isi")
    dt_ms = _common_dt(populations, "isi")
    if not isinstance(bins, (int, np.integer)) or isinstance(bins, bool) or bins < 1:
        raise ValidationError("isi", "bins", "must be a positive integer", bins)
    if ax is None:
        fig = Figure(figsize=(9.0, 3.6), layout="constrained")
        isi_ax, cv_ax = fig.subplots(1, 2)
    else:
        pair = list(ax) if isinstance(ax, Sequence) else [ax]
        if len(pair) != 2 or not all(isinstance(one, Axes) for one in pair):
            raise ValidationError("isi", "ax", "must be two matplotlib Axes (isi_ax, cv_ax), or "
                                  "None for a new figure", ax)
        isi_ax, cv_ax = pair
        fig = _figure(isi_ax, figsize=(9.0, 3.6))[0]
    intervals = [_intervals(spikes)[0] for _, spikes in populations]
    cvs = [cv_isi(spikes) for _, spikes in populations]
    every = np.concatenate(intervals) if intervals else np.zeros(0, dtype=np.int64)
    if max_isi_ms is None:
        top_steps = int(np.quantile(every, _ISI_QUANTILE)) if every.size else 1
    else:
        top = _positive_number(max_isi_ms, "isi", "max_isi_ms")
        top_steps = max(int(np.floor(top / dt_ms + 1e-9)), 1)
    width = max(-(-top_steps // int(bins)), 1)
    edges = (np.arange(-(-top_steps // width) + 1) * width + 0.5) * dt_ms
    edges[0] = 0.0
    qualified = [int(np.count_nonzero(~np.isnan(cv))) for cv in cvs]
    cv_top = max([1.5, *[float(np.nanmax(cv)) for cv in cvs if np.any(~np.isnan(cv))]])
    cv_edges = np.linspace(0.0, cv_top * 1.001, 31)
    single = len(populations) == 1
    for number, ((label, spikes), steps_apart, cv) in enumerate(zip(populations, intervals, cvs)):
        colour = _COLOURS[number % len(_COLOURS)]
        counts, _ = np.histogram(steps_apart * dt_ms, bins=edges)
        isi_ax.stairs(counts, edges, fill=single, color=colour, alpha=0.8 if single else 1.0,
                      baseline=0.0 if single else None,
                      label=label or None)
        cv_counts, _ = np.histogram(cv[~np.isnan(cv)], bins=cv_edges)
        cv_ax.stairs(cv_counts, cv_edges, fill=single, color=colour, alpha=0.8 if single else 1.0,
                     baseline=0.0 if single else None,
                     label=f"{label}: {qualified[number]:,} of {spikes.n:,}" if label else None)
    beyond = int(np.count_nonzero(every * dt_ms > edges[-1]))
    median = f", median {_number(float(np.median(every)) * dt_ms)} ms" if every.size else ""
    isi_ax.set_title(f"{every.size:,} intervals{median}"
                     + (f"; {beyond:,} longer than {_number(edges[-1] - dt_ms / 2)} ms "
                        "off the axis" if beyond else ""),
                     fontsize="medium")
    isi_ax.set_xlim(0.0, edges[-1])
    isi_ax.set_xlabel("inter-spike interval (ms)")
    isi_ax.set_ylabel("intervals")
    cv_ax.axvline(1.0, color="0.3", linewidth=0.8, linestyle="--", label="Poisson (CV = 1)")
    cv_ax.set_xlim(0.0, cv_edges[-1])
    cv_ax.set_xlabel("CV = std(ISI) / mean(ISI)")
    cv_ax.set_ylabel("units")
    units = sum(spikes.n for _, spikes in populations)
    cv_ax.set_title(f"CV of {sum(qualified):,} of {units:,} units (those with ≥ 2 intervals)",
                    fontsize="medium")
    cv_ax.legend(fontsize="small", frameon=False)
    for panel in (isi_ax, cv_ax):
        panel.set_ylim(bottom=0.0)
        panel.grid(axis="y", color="0.9", linewidth=0.6)
        panel.set_axisbelow(True)
    if title:
        if ax is None:
            fig.suptitle(title, fontsize="medium")
        else:
            isi_ax.set_title(f"{title}\n{isi_ax.get_title()}", fontsize="medium")
    return _finish(fig, path, "isi")


def traces(values: Any, ax: Axes | None = None, neurons: Sequence[int] | None = None,
           label: str | None = None, title: str | None = None, path: str | Path | None = None,
           *, dt_ms: float = 1.0, every: int = 1, first_step: int = 1,
           t_ms: Sequence[float] | np.ndarray | None = None,
           window_ms: tuple[float, float] | None = None) -> Figure:
    """Recorded state over time in ms: one line per neuron.

    Given a Monitor (``rt.record(p, "v", neurons=..., every=k)``), its sample times, Var name and
    unit indices are used. Given an array, row ``i`` is the state after step
    ``first_step + i * every``, drawn at that step's end, ``(first_step + i * every) * dt_ms``
    ms; or give the sample times directly with ``t_ms``.

    Parameters
    ----------
    values
        A Monitor, or an array ``(samples, n)`` (``monitor.values``, ``rt.recorded(proc, var)``).
        A 1-D array is one neuron.
    ax
        Axes to draw into; a new Figure is made when not given.
    neurons
        Columns to draw. Default: all of them when there are at most 10, otherwise the first 10
        (the title says so).
    label
        Name of the Var (``v``, ``u``, ``b``; default: the Monitor's Var, else ``v``); the y axis
        reads ``"<label> (fixed-point units)"``.
    title
        Title of the Axes.
    path
        Where to save the figure (PNG by default).
    dt_ms
        Length of a step in ms (the network's ``dt_ms``; default 1.0).
    every, first_step
        Steps between samples and the step of the first sample (defaults 1 and 1: every step).
    t_ms
        Time of each row in ms (overrides ``dt_ms``, ``every`` and ``first_step``).
    window_ms
        ``(start, stop)``: draw the samples with times in ``(start, stop]`` ms.

    Returns
    -------
    matplotlib.figure.Figure
    """
    units = None
    if hasattr(values, "t_ms") and hasattr(values, "values"):  # a Monitor
        if t_ms is None:
            t_ms = values.t_ms
        label = label or getattr(values, "var", None)
        units = getattr(values, "neurons", None)
        values = values.values
    label = label or "v"
    data = _as_trace_array(values)
    times = _sample_times(data.shape[0], dt_ms, every, first_step, t_ms)
    chosen, note = _chosen_neurons(neurons, data.shape[1])
    fig, ax = _figure(ax, figsize=(8.0, 3.5))
    if window_ms is not None:
        start, stop = _window_pair(window_ms, "traces")
        inside = (times > start) & (times <= stop)
        times, data = times[inside], data[inside]
        ax.set_xlim(start, stop)
    elif times.size:  # from the start of the first sample's interval (0 ms for every step)
        spacing = float(np.min(np.diff(times))) if times.size > 1 else float(times[0])
        left = float(times[0]) - spacing
        left = max(left, 0.0) if times[0] >= 0 else left
        if left < float(times[-1]):
            ax.set_xlim(left, float(times[-1]))
    lines = ax.plot(times, data[:, chosen], linewidth=0.9)
    ax.set_xlabel(_TIME_LABEL)
    ax.set_ylabel(f"{label} (fixed-point units)")
    heading = " ".join(part for part in (title, note) if part)
    if heading:
        ax.set_title(heading)
    if len(chosen) <= _DEFAULT_TRACES:
        names = chosen if units is None else np.asarray(units)[chosen].tolist()
        for line, index in zip(lines, names):
            line.set_label(f"{label}[{index}]")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    return _finish(fig, path, "traces")


# -- helpers of the run plots -------------------------------------------------------------------
def _units(n: int) -> str:
    return f"{n:,} unit{'s' if n != 1 else ''}"


def _time_axis_below(ax: Axes) -> bool:
    """True when ``ax`` shares its x axis with a panel of a lower row of its grid (which then
    carries the time label, as ``Axes.label_outer`` would have it)."""
    spec = ax.get_subplotspec()
    if spec is None or len(ax.get_shared_x_axes().get_siblings(ax)) < 2:
        return False
    return not spec.is_last_row()


def _common_dt(populations: list[tuple[str, SpikeEvents]], what: str) -> float:
    """The step length shared by all populations (they come from one run)."""
    steps_ms = {float(spikes.dt_ms) for _, spikes in populations}
    if len(steps_ms) != 1:
        raise ValidationError(what, "events", "populations of one plot must share dt_ms (they "
                              "come from one run)", sorted(steps_ms))
    dt_ms = steps_ms.pop()
    if not np.isfinite(dt_ms) or dt_ms <= 0:
        raise ValidationError(what, "events", "dt_ms must be a positive number of ms", dt_ms)
    return dt_ms


def _window_pair(window_ms: Any, what: str) -> tuple[float, float]:
    try:
        start, stop = (float(value) for value in window_ms)
    except (TypeError, ValueError):
        raise ValidationError(what, "window_ms", "must be a pair (start, stop) in ms",
                              window_ms) from None
    if not (np.isfinite(start) and np.isfinite(stop)) or start >= stop:
        raise ValidationError(what, "window_ms", "must be finite with start < stop", window_ms)
    return start, stop


def _window_steps(window_ms: Any, steps: int, dt_ms: float, what: str) -> tuple[int, int]:
    """``(first, last)`` step of the window (steps ending in ``(start, stop]`` ms), within the run."""
    if window_ms is None:
        return 1, steps
    start, stop = _window_pair(window_ms, what)
    if start < 0:
        raise ValidationError(what, "window_ms", "must start at 0 ms or later", window_ms)
    first = int(np.floor(start / dt_ms + 1e-9)) + 1
    last = min(int(np.floor(stop / dt_ms + 1e-9)), steps)
    if first > last:
        raise ValidationError(what, "window_ms", f"holds no step of the run (steps of "
                              f"{dt_ms:g} ms end at {dt_ms:g}..{steps * dt_ms:g} ms)", window_ms)
    return first, last


def _whole_steps(value_ms: float, dt_ms: float, what: str, name: str) -> int:
    steps = float(value_ms) / dt_ms
    if not np.isfinite(steps) or abs(steps - round(steps)) > 1e-9 * max(abs(steps), 1.0):
        raise ValidationError(what, name, f"must be a whole number of steps of {dt_ms:g} ms",
                              value_ms)
    return round(steps)


def _bin_steps(bin_ms: Any, dt_ms: float, span_steps: int, target: int, what: str) -> int:
    """Steps per bin: ``bin_ms`` checked, or the largest 1-2-5 number of steps giving at least
    ``target`` bins over ``span_steps`` (at least one step)."""
    if bin_ms is None:
        raw = max(span_steps, 1) / target
        if raw <= 1:
            return 1
        decade = 10.0 ** np.floor(np.log10(raw))
        return int(max(step * decade for step in (1.0, 2.0, 5.0) if step * decade <= raw))
    steps = _whole_steps(_positive_number(bin_ms, what, "bin_ms"), dt_ms, what, "bin_ms")
    if steps < 1:
        raise ValidationError(what, "bin_ms", f"must be at least one step ({dt_ms:g} ms)", bin_ms)
    return steps


def _positive_number(value: Any, what: str, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValidationError(what, name, "must be a positive number", value) from None
    if not np.isfinite(number) or number <= 0 or isinstance(value, bool):
        raise ValidationError(what, name, "must be a positive number", value)
    return number


def _stride(max_neurons: Any, total: int) -> int:
    """Every how many units a raster draws to show at most ``max_neurons`` rows."""
    if max_neurons is None:
        return 1
    if (not isinstance(max_neurons, (int, np.integer)) or isinstance(max_neurons, bool)
            or max_neurons < 1):
        raise ValidationError("raster", "max_neurons", "must be a positive integer (or None for "
                              "every unit)", max_neurons)
    return max(-(-total // int(max_neurons)), 1)


def _ordinal(number: int) -> str:
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix} unit"


def _in_window(spikes: SpikeEvents, first: int, last: int) -> tuple[int, int]:
    """``(lo, hi)``: the spikes of steps ``first..last`` are ``[lo:hi]`` (times are sorted)."""
    lo = int(np.searchsorted(spikes.times, first, side="left"))
    hi = int(np.searchsorted(spikes.times, last, side="right"))
    return lo, hi


def _marker_style(ax: Axes, spikes: int) -> tuple[float, float]:
    """``(scatter size in points², opacity)`` covering at most ``_RASTER_COVER`` of the Axes."""
    fig = ax.figure
    width, height = getattr(fig, "figure", fig).get_size_inches()
    box = ax.get_position()
    area = box.width * width * box.height * height * 72.0 ** 2  # points², before the layout
    diameter = float(np.clip(np.sqrt(_RASTER_COVER * area / max(spikes, 1)), *_MARKER_PT))
    cover = spikes * diameter ** 2 / area
    alpha = float(np.clip(_RASTER_COVER / cover, _MIN_ALPHA, 1.0)) if cover > 0 else 1.0
    return diameter ** 2, alpha


def _legend_above(ax: Axes, handles: list[Any], labels: list[str], title: str | None) -> None:
    """A one-row-per-few-entries legend between the Axes and its title (no empty side margin)."""
    width_pt = ax.get_position().width * getattr(ax.figure, "figure", ax.figure).get_size_inches()[0] * 72
    font = FontProperties(size="small").get_size_in_points()
    widest = max(len(label) for label in labels) * 0.55 * font + 3.0 * font  # text + marker
    ncol = int(np.clip(width_pt // widest, 1, len(labels)))
    rows = -(-len(labels) // ncol)
    legend = ax.legend(handles, labels, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=ncol,
                       fontsize="small", frameon=False, borderaxespad=0.2, handletextpad=0.3,
                       columnspacing=1.2)
    for handle in getattr(legend, "legend_handles", None) or legend.legendHandles:
        if hasattr(handle, "set_sizes"):  # scatter markers at a readable size, fully opaque
            handle.set_sizes([25.0])
            handle.set_alpha(1.0)
    if title:
        ax.set_title(title, pad=rows * 1.45 * font + 8.0)


def _trials(onsets_ms: Any, window_ms: Any, steps: int, dt_ms: float) -> tuple[np.ndarray, int, int]:
    """``(onset steps that fit, window start, window stop)`` of a PSTH, in steps."""
    try:
        onsets = np.asarray(onsets_ms, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise ValidationError("psth", "onsets_ms", "must be a list of times in ms",
                              onsets_ms) from None
    if onsets.size == 0 or not np.all(np.isfinite(onsets)):
        raise ValidationError("psth", "onsets_ms", "must be a non-empty list of finite times in ms",
                              onsets_ms)
    scaled = onsets / dt_ms
    if np.any(np.abs(scaled - np.round(scaled)) > 1e-9 * np.maximum(np.abs(scaled), 1.0)):
        raise ValidationError("psth", "onsets_ms", f"must be whole numbers of steps of {dt_ms:g} ms",
                              onsets_ms)
    onset_steps = np.sort(np.round(scaled).astype(np.int64))
    if window_ms is None:
        gaps = np.diff(onset_steps)
        gaps = gaps[gaps > 0]
        low, high = 0, int(gaps.min()) if gaps.size else int(steps - onset_steps[0])
    else:
        start, stop = _window_pair(window_ms, "psth")
        low = _whole_steps(start, dt_ms, "psth", "window_ms")
        high = _whole_steps(stop, dt_ms, "psth", "window_ms")
        if high <= low:
            raise ValidationError("psth", "window_ms", "must span at least one step", window_ms)
    fits = onset_steps[(onset_steps + low >= 0) & (onset_steps + high <= steps)]
    if high <= low or fits.size == 0:
        raise ValidationError("psth", "onsets_ms", f"no trial window fits inside the run "
                              f"(0..{steps * dt_ms:g} ms)", onsets_ms)
    return fits, low, high


def _relative_times(times: np.ndarray, onsets: np.ndarray, low: int, high: int) -> np.ndarray:
    """Steps of every spike in ``(onset + low, onset + high]`` relative to its onset, for all
    onsets at once (``times`` sorted; a spike counts once per trial window holding it)."""
    lo = np.searchsorted(times, onsets + low, side="right")
    hi = np.searchsorted(times, onsets + high, side="right")
    lengths = hi - lo
    starts = np.repeat(lo - (np.cumsum(lengths) - lengths), lengths)
    positions = np.arange(int(lengths.sum())) + starts
    return times[positions] - np.repeat(onsets, lengths)


def _intervals(events: SpikeEvents) -> tuple[np.ndarray, np.ndarray]:
    """``(inter-spike intervals in steps, unit of each)``, vectorised over all units."""
    order = np.lexsort((events.times, events.indices))  # by unit, then time
    times, units = events.times[order], events.indices[order]
    same = units[1:] == units[:-1]
    return (times[1:] - times[:-1])[same], units[1:][same]


def _sample_times(rows: int, dt_ms: float, every: Any, first_step: Any, t_ms: Any) -> np.ndarray:
    if t_ms is not None:
        try:
            times = np.asarray(t_ms, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            times = np.asarray(None)
        if times.shape != (rows,) or not np.all(np.isfinite(times)):
            raise ValidationError("traces", "t_ms", f"must hold one finite time in ms per row of "
                                  f"values ({rows})", t_ms)
        if rows > 1 and np.any(np.diff(times) <= 0):
            raise ValidationError("traces", "t_ms", "must increase", t_ms)
        return times
    dt_ms = _positive_number(dt_ms, "traces", "dt_ms")
    for name, value in (("every", every), ("first_step", first_step)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValidationError("traces", name, "must be a positive integer (steps)", value)
    return (int(first_step) + np.arange(rows) * int(every)) * dt_ms


def _number(value: float) -> str:
    """``value`` without a needless ``.0`` (``5``, ``0.5``, ``12.5``)."""
    return f"{value:.6g}"


# -- mapping plots --------------------------------------------------------------------------------
#: Core metrics :func:`core_map` knows besides the resources: traffic each core sends / receives.
_TRAFFIC_METRICS = {"messages_out": "messages sent", "messages_in": "messages received"}
#: The core map draws cell edges up to this many columns (beyond, the edges hide the cells),
#: and writes values in the cells up to this many columns and places (beyond, they do not fit).
_EDGE_COLUMNS, _LABEL_COLUMNS, _LABEL_PLACES = 40, 18, 512
#: Above this many cores the core map does not hatch source cores (one patch each).
_HATCH_CORES = 4096
#: Largest traffic matrix drawn (more cores are summed into blocks).
_MATRIX_SIZE = 512
_FREE_PLACE, _EMPTY_CHIP, _SOURCE_HATCH = "0.86", "0.96", "tab:red"


def core_map(exe: Any, metric: Any = "neurons", ax: Axes | None = None,
             title: str | None = None, path: str | Path | None = None) -> Figure:
    """The mesh of cores of a compiled network, each core coloured by a per-core metric.

    Cores sit at their global mesh position (chips tile side by side); thick lines are chip
    boundaries, grey cells are free places of a used chip, the lightest ones places of unused chips,
    and hatched cells hold spike sources.

    Parameters
    ----------
    exe
        The Executable (``nm.compile(...)``), or its MappingReport (``exe.report``).
    metric
        A resource (``"neurons"``, ``"axons_in"``, ``"axons_out"``, ``"synapses"``,
        ``"synapse_bits"``): coloured by the fraction of the profile's per-core limit (0-100 %),
        or by the amount where the profile has no limit; ``"messages_out"`` / ``"messages_in"``:
        the messages each core sends / receives (per step with rates, else per spike of every
        unit, as in the report); or an array with one value per core.
    ax, title, path
        Axes to draw into (a new Figure when None), its title, and where to save the figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    exe = _executable_of(exe)
    report = exe.report
    values, label, as_fraction = _core_metric(report, metric)
    grid, chip_used, rows, cols = _mesh_grid(exe, values)
    fig, ax = _figure(ax, figsize=_map_size(grid.shape))
    places = grid.size
    edge = dict(edgecolors="white", linewidth=0.4) if grid.shape[1] <= _EDGE_COLUMNS else {}
    background = np.where(chip_used, 0, 1)
    # cell edges at half-integers, so that tick k sits on the middle of core column/row k
    x_edges = np.arange(grid.shape[1] + 1) - 0.5
    y_edges = np.arange(grid.shape[0] + 1) - 0.5
    ax.pcolormesh(x_edges, y_edges, background, cmap=ListedColormap([_FREE_PLACE, _EMPTY_CHIP]),
                  vmin=0, vmax=1, **edge)
    top = float(np.nanmax(values)) if values.size else 0.0
    norm = Normalize(0.0, max(1.0, top) if as_fraction else max(top, 1e-12))
    cells = ax.pcolormesh(x_edges, y_edges, np.ma.masked_invalid(grid), cmap="viridis",
                          norm=norm, **edge)
    _hatch_sources(ax, exe, report)
    _chip_lines(ax, grid.shape, rows, cols)
    if grid.shape[1] <= _LABEL_COLUMNS and places <= _LABEL_PLACES:
        _label_cells(ax, grid, cells, as_fraction)
    # an inset colour bar keeps the height of the mesh (the Axes box is shrunk to equal aspect)
    bar = fig.colorbar(cells, cax=ax.inset_axes([1.02, 0.0, 0.025, 1.0]))
    bar.set_label(_fit(label, _mesh_height_inches(ax, grid.shape),
                       bar.ax.yaxis.label.get_fontsize()))
    if as_fraction:
        bar.formatter = PercentFormatter(xmax=1.0)
        bar.update_ticks()
    _map_axes(ax, exe, report, grid.shape, rows, cols)
    ax.set_title(title or f"'{report.network}' on {report.profile}: {label}\n"
                          f"{report.n_cores:,} cores on {report.chips_used:,} chip"
                          f"{'s' if report.chips_used != 1 else ''} "
                          f"(partition {report.partition}, place {report.place})",
                 fontsize="medium")
    return _finish(fig, path, "core_map")


def traffic_matrix(exe: Any, ax: Axes | None = None, title: str | None = None,
                   path: str | Path | None = None) -> Figure:
    """The core-to-core spike messages of a compiled network, on a log colour scale.

    Row = sending core, column = receiving core; the diagonal holds the messages a core sends to
    itself. Cores are ordered by chip, then by core id, and chip boundaries are drawn,
    so within-chip traffic forms blocks on the diagonal. Values are expected messages per step
    when ``nm.compile`` had rates, else messages per spike of every unit; white means none. Above
    512 cores, neighbouring cores are summed into blocks (the axis label says how many).

    Parameters
    ----------
    exe
        The Executable (``nm.compile(...)``), or its MappingReport (``exe.report``).
    ax, title, path
        Axes to draw into (a new Figure when None), its title, and where to save the figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    exe = _executable_of(exe)
    report = exe.report
    matrix, order, block = core_traffic_matrix(exe, max_size=_MATRIX_SIZE)
    fig, ax = _figure(ax, figsize=(7.0, 6.0))
    positive = matrix[matrix > 0]
    low = float(positive.min()) if positive.size else 1.0
    high = float(positive.max()) if positive.size else 10.0
    norm = LogNorm(vmin=low, vmax=high if high > low else low * 10.0)
    span = matrix.shape[0] * block
    image = ax.imshow(np.ma.masked_less_equal(matrix, 0.0), cmap="viridis", norm=norm,
                      interpolation="nearest", extent=(-0.5, span - 0.5, span - 0.5, -0.5))
    ax.set_facecolor("white")
    _matrix_chip_lines(ax, report.core_chip[order], span)
    bar = fig.colorbar(image, cax=ax.inset_axes([1.03, 0.0, 0.04, 1.0]))
    bar.set_label(f"messages ({report.traffic.basis})")
    bar.set_ticks(_log_ticks(norm.vmin, norm.vmax), labels=None)
    bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: _short_number(value)))
    bar.ax.yaxis.set_minor_locator(NullLocator())
    _matrix_axes(ax, order, block)
    traffic = report.traffic
    within = traffic.within_core / traffic.total if traffic.total else 0.0
    heading = (f"core-to-core traffic: '{report.network}' on {report.profile}\n"
               f"{_short_number(traffic.total)} messages ({traffic.basis}), "
               f"{within:.1%} on the diagonal (within a core); white: none")
    ax.set_title(title or heading, fontsize="medium")
    return _finish(fig, path, "traffic_matrix")


def _executable_of(target: Any) -> Any:
    """The Executable to draw: ``target`` itself, or the one a MappingReport was built from."""
    if not isinstance(target, MappingReport):
        return target
    if target.executable is None:
        raise NmgraphError("this MappingReport was built without its Executable; plot from "
                           "exe.report instead")
    return target.executable


def _log_ticks(low: float, high: float) -> np.ndarray:
    """1-2-5 ticks between ``low`` and ``high``, or 5 rounded log-spaced ones when that gives
    fewer than 3."""
    decades = np.arange(np.floor(np.log10(low)), np.ceil(np.log10(high)) + 1)
    ticks = np.outer(10.0 ** decades, [1.0, 2.0, 5.0]).ravel()
    ticks = ticks[(ticks >= low * (1 - 1e-9)) & (ticks <= high * (1 + 1e-9))]
    if ticks.size >= 3:
        return ticks
    spaced = np.geomspace(low, high, 5)
    return np.unique([float(f"{value:.2g}") for value in spaced])


def _core_metric(report: Any, metric: Any) -> tuple[np.ndarray, str, bool]:
    """``(values per core, colour bar label, values are fractions of a limit)``."""
    if isinstance(metric, str):
        if metric in report.resources:
            use = report.resources[metric]
            if use.fraction is not None:
                label = f"{metric} per core (% of the {use.limit:,} limit)"
                return use.fraction.astype(np.float64), label, True
            return use.per_core.astype(np.float64), f"{metric} per core (no limit)", False
        if metric in _TRAFFIC_METRICS:
            values = getattr(report.traffic, metric)
            return values, f"{_TRAFFIC_METRICS[metric]} ({report.traffic.basis})", False
        known = ", ".join([*report.resources, *_TRAFFIC_METRICS])
        raise ValidationError("core_map", "metric", f"unknown metric; use one of {known} or "
                              "an array with one value per core", metric)
    try:
        values = np.asarray(metric, dtype=np.float64)
    except (TypeError, ValueError):
        values = np.asarray(None)
    if values.shape != (report.n_cores,):
        raise ValidationError("core_map", "metric", f"must be a metric name or an array with one "
                              f"value per core ({report.n_cores})", metric)
    return values, "value per core", False


def _mesh_grid(exe: Any, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, int]:
    """``(grid of values, NaN where no core; chip-used mask; chip rows; chip cols)``."""
    rows, cols = exe.profile.mesh(exe.n_cores)
    chip_xy = np.asarray(exe.placement.chip_xy)
    grid_cols, grid_rows = int(chip_xy[:, 0].max()) + 1, int(chip_xy[:, 1].max()) + 1
    grid = np.full((grid_rows * rows, grid_cols * cols), np.nan)
    xy = np.asarray(exe.placement.core_xy)
    grid[xy[:, 1], xy[:, 0]] = values
    used = np.zeros((grid_rows, grid_cols), dtype=bool)
    chips = chip_xy[np.unique(exe.placement.core_chip)]
    used[chips[:, 1], chips[:, 0]] = True
    chip_used = np.kron(used, np.ones((rows, cols), dtype=bool)).astype(bool)
    return grid, chip_used, rows, cols


def _map_size(shape: tuple[int, int]) -> tuple[float, float]:
    height, width = shape
    # a wide, short mesh (chips side by side) gets a wider figure, so that the mesh stays tall
    # enough for its axis labels
    plot_width = float(np.clip(3.5 * width / height, 7.5, 12.0))
    plot_height = float(np.clip(plot_width * height / width, 2.0, 8.0))
    return plot_width + 1.8, plot_height + 1.8  # room for the colour bar, title and legend


def _mesh_height_inches(ax: Axes, shape: tuple[int, int]) -> float:
    """About how tall the mesh is drawn (the Axes box shrunk to equal aspect), in inches."""
    fig = getattr(ax.figure, "figure", ax.figure)
    fig_width, fig_height = fig.get_size_inches()
    box = ax.get_position()
    rows, cols = shape
    return float(min(box.height * fig_height, box.width * fig_width * rows / cols))


def _fit(text: str, length_inches: float, fontsize: float) -> str:
    """``text`` in lines no longer than ``length_inches`` (about 0.6 em per character), for labels
    along a short axis: ``"name (details)"`` is first split before its parenthesis."""
    return _wrap(text, max(int(length_inches * 72.0 / (0.6 * fontsize)), 12))


def _wrap(text: str, chars: int) -> str:
    """``text`` in lines of at most ``chars`` characters, split first before its parenthesis."""
    if len(text) <= chars:
        return text
    head, paren, rest = text.partition(" (")
    lines = [head, paren.strip() + rest] if paren else [text]
    return "\n".join(textwrap.fill(line, width=chars) for line in lines)


def _points_below_xlabel(ax: Axes) -> float:
    """Points from the bottom of the Axes to below its x tick labels and x label."""
    tick_font = FontProperties(size=rcParams["xtick.labelsize"]).get_size_in_points()
    label = ax.xaxis.label
    lines = label.get_text().count("\n") + 1
    return (rcParams["xtick.major.size"] + rcParams["xtick.major.pad"] + 1.3 * tick_font
            + ax.xaxis.labelpad + 1.3 * label.get_fontsize() * lines + 4.0)


def _hatch_sources(ax: Axes, exe: Any, report: Any) -> None:
    sources = [core for core, kind in enumerate(report.core_kind) if kind == "source"]
    if not sources or len(sources) > _HATCH_CORES:
        return
    xy = np.asarray(exe.placement.core_xy)[sources]
    boxes = [Rectangle((x - 0.5, y - 0.5), 1.0, 1.0) for x, y in xy.tolist()]
    ax.add_collection(PatchCollection(boxes, facecolor="none", edgecolor=_SOURCE_HATCH,
                                      hatch="///", linewidth=0.0))


def _chip_lines(ax: Axes, shape: tuple[int, int], rows: int, cols: int) -> None:
    height, width = shape
    ax.vlines(np.arange(0, width + 1, cols) - 0.5, -0.5, height - 0.5, colors="black",
              linewidth=1.6)
    ax.hlines(np.arange(0, height + 1, rows) - 0.5, -0.5, width - 0.5, colors="black",
              linewidth=1.6)


def _label_cells(ax: Axes, grid: np.ndarray, cells: Any, as_fraction: bool) -> None:
    for y, x in zip(*np.nonzero(~np.isnan(grid))):
        value = grid[y, x]
        red, green, blue, _ = cells.cmap(cells.norm(value))
        dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
        text = f"{100 * value:.0f}%" if as_fraction else _short_number(value)
        ax.text(x, y, text, ha="center", va="center", fontsize="x-small",
                color="white" if dark else "black")


def _short_number(value: float) -> str:
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.3g}"


def _map_axes(ax: Axes, exe: Any, report: Any, shape: tuple[int, int], rows: int,
              cols: int) -> None:
    height, width = shape
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)  # row 0 (core 0 of chip 0) at the top, as cores are numbered
    ax.set_aspect("equal")
    ax.set_xlabel(f"mesh x (core column; a chip is {cols} wide)")
    ax.set_ylabel(_fit(f"mesh y (core row; a chip is {rows} tall)",
                       _mesh_height_inches(ax, shape), ax.yaxis.label.get_fontsize()))
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(MaxNLocator(integer=True))
    handles = [Patch(facecolor=_FREE_PLACE, label="free place"),
               Patch(facecolor="white", edgecolor=_SOURCE_HATCH, hatch="///", label="source core"),
               Patch(facecolor="none", edgecolor="black", linewidth=1.6, label="chip boundary")]
    if exe.placement.n_chips > report.chips_used:
        handles.insert(1, Patch(facecolor=_EMPTY_CHIP, edgecolor="0.7", label="unused chip"))
    # below the x label (a fixed distance in points, whatever the height of the mesh): the mesh
    # has no empty corner to hold a legend
    legend_font = FontProperties(size="small").get_size_in_points()
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0),
              borderaxespad=_points_below_xlabel(ax) / legend_font, ncol=len(handles),
              fontsize="small", frameon=False)


def _matrix_chip_lines(ax: Axes, chips_in_order: np.ndarray, span: int) -> None:
    boundaries = np.flatnonzero(np.diff(chips_in_order)) + 0.5
    width = 1.0 if boundaries.size <= 8 else 0.5  # many chips: thin lines leave the data visible
    if boundaries.size:
        ax.vlines(boundaries, -0.5, span - 0.5, colors="black", linewidth=width)
        ax.hlines(boundaries, -0.5, span - 0.5, colors="black", linewidth=width)


def _matrix_axes(ax: Axes, order: np.ndarray, block: int) -> None:
    reordered = not np.array_equal(order, np.arange(order.size))
    unit = "core" if block == 1 else f"core ({block} cores per pixel)"
    suffix = " (by chip, then id)" if reordered else ""
    ax.set_xlabel(f"receiving {unit}{suffix}")
    ax.set_ylabel(f"sending {unit}{suffix}")
    if reordered and order.size <= 32:
        ax.set_xticks(np.arange(order.size), [str(c) for c in order], fontsize="x-small")
        ax.set_yticks(np.arange(order.size), [str(c) for c in order], fontsize="x-small")
    else:
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_locator(MaxNLocator(integer=True))


# -- input checks -------------------------------------------------------------------------------
def _as_populations(events: Any, what: str = "raster") -> list[tuple[str, SpikeEvents]]:
    if isinstance(events, SpikeEvents):
        return [("", events)]
    if isinstance(events, Mapping):
        if not events:
            raise ValidationError(what, "events", "the dict is empty; give at least one "
                                  "{label: SpikeEvents}")
        for label, spikes in events.items():
            if not isinstance(spikes, SpikeEvents):
                raise ValidationError(what, "events", f"entry {label!r} must be a SpikeEvents "
                                      "(from rt.spikes(process))", spikes)
        return [(str(label), spikes) for label, spikes in events.items()]
    raise ValidationError(what, "events", "must be a SpikeEvents (from rt.spikes(process)) or "
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


# -- energy and study plots ---------------------------------------------------------------------
#: Colour of each energy category (keys of nmgraph.tools.energy.CATEGORIES).
_CATEGORY_COLOURS = {
    "synaptic_ops": "tab:blue", "neuron_updates_active": "tab:orange",
    "neuron_updates_inactive": "navajowhite", "spikes_within_core": "tab:green",
    "hops_ew": "tab:purple", "hops_ns": "plum", "chip_to_chip": "tab:brown",
    "router_bits": "tab:red", "static_chips": "tab:gray", "static_cores": "silver"}
#: Totals spanning more than this factor switch energy_breakdown to shares and study_bars to log.
_WIDE_RANGE = 30.0
_PER = {"step": "per step", "run": "of the run", "inference": "per inference window"}
#: Study metrics that are bounds when a row's energy is partial (unknown categories).
_PARTIAL_BOUND = {"energy_j": "≥", "energy_per_step_j": "≥", "ann_ratio": "≤"}
#: A bar reaching past this fraction of its panel has its value written inside it.
_INSIDE_FROM = 0.6
#: Longest line of a study panel's x label (longer ones are wrapped).
_XLABEL_CHARS = 46
#: Axis label and unit (for SI tick labels; "" = a count) of each study metric.
_STUDY_METRICS = {
    "energy_j": ("energy of the run", "J"),
    "energy_per_step_j": ("energy per step", "J"),
    "time_per_step_s": ("time per step", "s"),
    "cores": ("cores used", ""),
    "lower_bound": ("lower bound on cores", ""),
    "chips": ("chips used", ""),
    "utilisation": ("utilisation (%, fullest resource, mean over neuron cores)", "%"),
    "messages": ("spike messages (count over the run)", ""),
    "messages_inter_core": ("messages leaving their core (count over the run)", ""),
    "messages_inter_chip": ("messages leaving their chip (count over the run)", ""),
    "hops": ("mesh hops (count over the run)", ""),
    "ann_ratio": ("ANN energy / SNN energy (x)", "x"),
}


def energy_breakdown(reports: Any, ax: Axes | None = None, per: str = "step",
                     scale: str = "auto", title: str | None = None,
                     path: str | Path | None = None) -> Figure:
    """Energy by category as horizontal stacked bars, one bar per report.

    Parameters
    ----------
    reports
        An :class:`~nmgraph.tools.energy.EnergyReport`, a list of them, or a dict
        ``{label: report}`` (a study's rows: ``result.plot_energy()``).
    ax
        Axes to draw into; a new Figure is made when not given.
    per
        ``"step"`` (joules per step, default), ``"run"`` or ``"inference"`` (per inference window).
    scale
        ``"linear"``: bar length in joules; ``"share"``: each bar is 100% and split by category
        (for reports whose totals differ by orders of magnitude); ``"auto"`` (default): share when
        the totals span more than 30x, else linear. Each bar's total is written under its label,
        with "(partial)" when categories are unknown; a report without energy constants shows
        "no energy constants".

    Returns
    -------
    matplotlib.figure.Figure
    """
    items = _as_reports(reports)
    if per not in _PER:
        raise ValidationError("energy_breakdown", "per", f"must be one of {', '.join(_PER)}", per)
    if scale not in ("auto", "linear", "share"):
        raise ValidationError("energy_breakdown", "scale", "must be 'auto', 'linear' or 'share'",
                              scale)
    factor = [_per_factor(report, per) for _, report in items]
    totals = [report.total_j * scale_by for (_, report), scale_by in zip(items, factor)
              if report.total_j is not None and report.total_j > 0]
    if scale == "auto":
        wide = bool(totals) and max(totals) > _WIDE_RANGE * min(totals)
        scale = "share" if wide else "linear"
    fig, ax = _figure(ax, figsize=(9.0, 1.9 + 0.55 * len(items)))
    positions = np.arange(len(items))[::-1]  # first report on top
    used: dict[str, str] = {}
    for row, (_, report), scale_by in zip(positions, items, factor):
        total = report.total_j
        left = 0.0
        for name, category in report.categories.items():
            if category.status != "counted" or not category.joules:
                continue
            width = (category.joules / total if scale == "share"
                     else category.joules * scale_by)
            ax.barh(row, width, left=left, height=0.6, color=_CATEGORY_COLOURS.get(name, "0.5"),
                    edgecolor="white", linewidth=0.5)
            used[name] = category.label
            left += width
        if total is None:
            ax.text(0.01, row, "no energy constants", transform=ax.get_yaxis_transform(),
                    va="center", fontsize="small", color="0.35")
    ax.set_yticks(positions, [_breakdown_label(label, report, scale_by, per)
                              for (label, report), scale_by in zip(items, factor)],
                  fontsize="small")
    ax.set_ylim(-0.6, len(items) - 0.4)
    if scale == "share":
        ax.set_xlim(0.0, 1.0)
        ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0))
        ax.set_xlabel(f"share of the energy {_PER[per]} (%); the total is under each label")
    else:
        ax.xaxis.set_major_formatter(EngFormatter(unit="J"))
        ax.set_xlabel(f"energy {_PER[per]} (J)")
    ax.grid(axis="x", color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)
    handles = [Patch(facecolor=_CATEGORY_COLOURS.get(name, "0.5"), label=text)
               for name, text in used.items()]
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  fontsize="small", frameon=False, title="category", title_fontsize="small")
    networks = {report.network for _, report in items}
    heading = f"energy {_PER[per]} by category"
    if len(networks) == 1:
        heading += f": '{networks.pop()}'" + (f" on {items[0][1].profile}" if len(items) == 1
                                              else "")
    ax.set_title(title or heading, fontsize="medium")
    return _finish(fig, path, "energy_breakdown")


def study_bars(result: Any, metric: str | Sequence[str] = "energy_per_step_j",
               ax: Axes | None = None, log: bool | str = "auto", title: str | None = None,
               path: str | Path | None = None) -> Figure:
    """Compare the rows of a :func:`nmgraph.tools.study.study` on one or more metrics.

    One horizontal bar per row (``profile partition/place``), coloured by profile; the value is
    written after a short bar and inside a long one, and rows without a value say why ("does not
    fit", "unknown"). A row whose energy is partial (categories the profile cannot cost) shows its
    energy as a lower bound and its ANN/SNN ratio as an upper bound (``"≥ 4.67 nJ (partial)"``).
    Several metrics give one panel each, side by side.

    Parameters
    ----------
    result
        A :class:`~nmgraph.tools.study.StudyResult`.
    metric
        A column of the study (``energy_per_step_j``, ``energy_j``, ``time_per_step_s``,
        ``cores``, ``chips``, ``utilisation``, ``messages``, ``messages_inter_core``,
        ``messages_inter_chip``, ``hops``, ``ann_ratio``, ``lower_bound``) or a list of them.
    ax
        Axes to draw into (one metric only); a new Figure is made when not given.
    log
        Log x axis: True, False or ``"auto"`` (when the values span more than 30x).

    Returns
    -------
    matplotlib.figure.Figure
    """
    records = getattr(result, "records", None)
    if records is None:
        raise ValidationError("study_bars", "result", "must be a StudyResult (nmgraph.tools.study)",
                              result)
    metrics = [metric] if isinstance(metric, str) else list(metric)
    if not metrics:
        raise ValidationError("study_bars", "metric", "name at least one metric", metric)
    for name in metrics:
        if name not in _STUDY_METRICS:
            raise ValidationError("study_bars", "metric", f"unknown metric; use one of "
                                  f"{', '.join(_STUDY_METRICS)}", name)
    if ax is not None and len(metrics) > 1:
        raise ValidationError("study_bars", "ax", "takes one metric; leave ax out to draw "
                              "several metrics side by side", metrics)
    if not records:
        raise ValidationError("study_bars", "result", "has no rows to plot")
    labels = [result.label_of(index) for index in range(len(records))]
    height = 1.6 + 0.34 * len(records)
    if ax is None:
        fig = Figure(figsize=(2.2 + 3.6 * len(metrics), height), layout="constrained")
        axes = fig.subplots(1, len(metrics), sharey=True, squeeze=False)[0]
    else:
        fig, ax = _figure(ax, figsize=(6.0, height))
        axes = [ax]
    profiles = list(dict.fromkeys(record["profile"] for record in records))
    colours = {name: _COLOURS[number % len(_COLOURS)] for number, name in enumerate(profiles)}
    for panel, name in zip(axes, metrics):
        _study_panel(panel, records, name, log, [colours[r["profile"]] for r in records])
    axes[0].set_yticks(np.arange(len(records))[::-1], labels, fontsize="small")
    axes[0].set_ylim(-0.6, len(records) - 0.4)
    steps = getattr(result, "steps", None)
    heading = title or (f"study of '{getattr(result, 'network', '')}'"
                        + (f": {steps:,} steps" if steps else ""))
    if len(axes) > 1:
        fig.suptitle(heading, fontsize="medium")
    else:
        axes[0].set_title(heading, fontsize="medium")
    return _finish(fig, path, "study_bars")


def _study_panel(ax: Axes, records: list[dict[str, Any]], metric: str, log: bool | str,
                 colours: list[str]) -> None:
    text, unit = _STUDY_METRICS[metric]
    scale = 100.0 if unit == "%" else 1.0
    values = [None if record[metric] is None else float(record[metric]) * scale
              for record in records]
    positive = [value for value in values if value is not None and value > 0]
    use_log = (bool(positive) and max(positive) > _WIDE_RANGE * min(positive)) \
        if log == "auto" else bool(log)
    rows = np.arange(len(records))[::-1]
    top = max(positive) if positive else 1.0
    low = min(positive) / 3.0 if use_log and positive else 0.0
    high = top * (1.5 if use_log else 1.05)
    for row, value, record, colour in zip(rows, values, records, colours):
        if value is None or (use_log and value <= 0):
            why = "does not fit" if record["error"] else ("unknown" if value is None else "0")
            ax.text(0.01, row, why, transform=ax.get_yaxis_transform(), va="center",
                    fontsize="x-small", color="0.4", style="italic")
            continue
        ax.barh(row, value - low, left=low, height=0.65, color=colour)
        # the value after a short bar, inside a long one (so it never runs off the panel)
        reach = (np.log(value / low) / np.log(high / low) if use_log
                 else value / high if high > 0 else 0.0)
        text_value = _metric_text(value, unit)
        if record.get("energy_unknown") and metric in _PARTIAL_BOUND:
            # energy with unknown categories is a lower bound, so the ANN/SNN ratio an upper one
            text_value = f"{_PARTIAL_BOUND[metric]} {text_value} (partial)"
        if reach > _INSIDE_FROM:
            ax.text(value, row, text_value + " ", va="center", ha="right", fontsize="x-small",
                    color=_text_colour_on(colour))
        else:
            ax.text(value, row, " " + text_value, va="center", ha="left", fontsize="x-small")
    if use_log:
        ax.set_xscale("log")
        ax.set_xlim(low, high)
    else:
        ax.set_xlim(0.0, high)
    if unit in ("J", "s"):
        ax.xaxis.set_major_formatter(EngFormatter(unit=unit))
    elif unit == "" and not use_log:  # counts: 200k rather than 200000, few enough to fit
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: _short_number(value)))
    ax.set_xlabel(_wrap(text + (f" ({unit})" if unit in ("J", "s") else ""), _XLABEL_CHARS))
    ax.grid(axis="x", color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)


def _text_colour_on(colour: str) -> str:
    """White or black, whichever reads better on ``colour``."""
    red, green, blue, _ = to_rgba(colour)
    return "white" if 0.299 * red + 0.587 * green + 0.114 * blue < 0.6 else "black"


def _metric_text(value: float, unit: str) -> str:
    if unit in ("J", "s"):
        return EngFormatter(unit=unit, places=2)(value)
    if unit == "%":
        return f"{value:.0f}%"
    if unit == "x":
        return f"{value:,.0f}x" if value >= 100 else f"{value:.3g}x"
    return _short_number(value)


def _as_reports(reports: Any) -> list[tuple[str, Any]]:
    if isinstance(reports, Mapping):
        items = [(str(label), report) for label, report in reports.items()]
    elif hasattr(reports, "categories"):
        items = [("", reports)]
    else:
        try:
            listed = list(reports)
        except TypeError:
            listed = [reports]
        items = [("", report) for report in listed]
    if not items:
        raise ValidationError("energy_breakdown", "reports", "is empty; give at least one "
                              "EnergyReport")
    for _, report in items:
        if not hasattr(report, "categories") or not hasattr(report, "total_j"):
            raise ValidationError("energy_breakdown", "reports", "must hold EnergyReports "
                                  "(nmgraph.tools.energy.energy_report)", report)
    if all(not label for label, _ in items):
        profiles = [report.profile for _, report in items]
        unique = len(set(profiles)) == len(profiles)
        items = [(report.profile if unique
                  else f"{report.profile} {report.partition}/{report.place}", report)
                 for _, report in items]
    return items


def _per_factor(report: Any, per: str) -> float:
    """Multiplier from the run's joules to joules per ``per``."""
    if per == "run":
        return 1.0
    if per == "inference":
        return report.inference_steps / report.steps
    return 1.0 / report.steps


def _breakdown_label(label: str, report: Any, factor: float, per: str) -> str:
    if report.total_j is None:
        return f"{label}\nunknown"
    total = EngFormatter(unit="J", places=2)(report.total_j * factor)
    unit = {"step": "/step", "run": "", "inference": "/inference"}[per]
    return f"{label}\n{total}{unit}" + (" (partial)" if report.unknown else "")
