"""The network of ``nmgraph demo``: a small excitatory-inhibitory network driven by Poisson input.

Populations (names as in the network)::

    input  PoissonSource, 100 units, spike probability 0.05 per step (50 Hz at 1 ms/step)
    exc    LIF, 400 excitatory neurons
    inh    LIF, 100 inhibitory neurons

Each projection connects every (post, pre) pair independently with a fixed probability
(``fixed_probability``, each from its own seed derived from ``seed``), all with delay 1: input ->
exc and input -> inh with p = 0.2, exc -> exc and exc -> inh with p = 0.1, inh -> exc and inh -> inh
with p = 0.2. Sparse blocks carry the excitatory recurrence and Dense blocks the rest, so the demo
exercises both. A constant bias holds the neurons below threshold and the input's fluctuations make
them fire; the recurrent loop gives firing with a weak population rhythm, at about 12 Hz
(excitatory) and 17 Hz (inhibitory) at 1 ms per step, with a mean CV of ISI near 0.5 and about a
sixth of the neurons silent over 1,000 steps (12-22 % per population for seeds 0 to 3).

:func:`demo_summary` gives the lines ``nmgraph demo`` prints and :func:`demo_report` the full
markdown report it writes next to the raster.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nmgraph.compilers.executable import Executable
from nmgraph.compilers.pipeline import compile_network
from nmgraph.core.checks import as_int_scalar
from nmgraph.core.network import Network
from nmgraph.processes import LIF, Dense, PoissonSource, Sparse, fixed_probability
from nmgraph.processes.sources import SEED_MAX
from nmgraph.runtimes.results import Counters, SpikeEvents
from nmgraph.tools.runtime import Runtime

__all__ = ["DEMO_POPULATIONS", "DemoParameters", "DemoResult", "build_demo_network", "demo_report",
           "demo_summary", "run_demo"]

#: Names of the demo's spiking populations, bottom to top in its raster.
DEMO_POPULATIONS = ("input", "exc", "inh")


@dataclass(frozen=True)
class DemoParameters:
    """Sizes, rates and fixed-point parameters of the demo network.

    ``p_*`` are connection probabilities (``p_exc`` for projections from ``exc``, ``p_inh`` from
    ``inh``); weights are mantissas (``weight_exp = 0``). Both LIF populations have current and
    voltage time constants ``tau_u``, ``tau_v`` (steps), threshold ``vth << 6`` and a constant
    input ``bias_mant`` per step.
    """

    n_input: int = 100
    n_exc: int = 400
    n_inh: int = 100
    input_rate_hz: float = 50.0
    p_input: float = 0.2
    p_exc: float = 0.1
    p_inh: float = 0.2
    w_input: int = 7
    w_exc_exc: int = 4
    w_exc_inh: int = 20
    w_inh_exc: int = -10
    w_inh_inh: int = -38
    tau_u: float = 5.0
    tau_v: float = 20.0
    vth: int = 800
    bias_mant: int = 300


@dataclass(frozen=True)
class DemoResult:
    """What :func:`run_demo` gives back: spikes per population (in :data:`DEMO_POPULATIONS`
    order), the run's counters, the number of steps run, the Executable it ran, how it ran
    (``seed``, ``backend``, ``workers``) and the wall-clock seconds of compiling and running."""

    spikes: dict[str, SpikeEvents]
    counters: Counters
    steps: int
    executable: Executable
    seed: int = 0
    backend: str = "multicore"
    workers: int = 2
    wall_s: float = 0.0


def build_demo_network(seed: int = 0, params: DemoParameters | None = None) -> Network:
    """Build the demo's excitatory-inhibitory network (see the module docstring).

    Parameters
    ----------
    seed
        0..2**64 - 1; seeds the Poisson input and, through fixed offsets, each projection's
        connectivity. The same seed gives the same network and the same spikes.
    params
        Sizes and parameters; :class:`DemoParameters` defaults when not given.
    """
    seed = as_int_scalar("build_demo_network", "seed", seed, low=0, high=SEED_MAX)
    p = params or DemoParameters()
    net = Network("demo")
    source = net.add(PoissonSource(shape=(p.n_input,), rate_hz=p.input_rate_hz, seed=seed,
                                   name="input"))
    exc = net.add(LIF.from_time_constants((p.n_exc,), tau_u=p.tau_u, tau_v=p.tau_v, vth=p.vth,
                                          bias_mant=p.bias_mant, name="exc"))
    inh = net.add(LIF.from_time_constants((p.n_inh,), tau_u=p.tau_u, tau_v=p.tau_v, vth=p.vth,
                                          bias_mant=p.bias_mant, name="inh"))
    projections = (  # (pre, post, probability, weight, synapse class, no self-connections)
        (source, exc, p.p_input, p.w_input, Dense, False),
        (source, inh, p.p_input, p.w_input, Dense, False),
        (exc, exc, p.p_exc, p.w_exc_exc, Sparse, True),
        (exc, inh, p.p_exc, p.w_exc_inh, Sparse, False),
        (inh, exc, p.p_inh, p.w_inh_exc, Dense, False),
        (inh, inh, p.p_inh, p.w_inh_inh, Dense, True),
    )
    for number, (pre, post, prob, weight, block, no_self) in enumerate(projections, start=1):
        weights = fixed_probability(pre.size, post.size, prob, weight,
                                    seed=_projection_seed(seed, number), allow_self=not no_self,
                                    sparse=block is Sparse)
        synapses = net.add(block(weights=weights, delay=1, name=f"{pre.name}_to_{post.name}"))
        net.connect(pre.s_out, synapses.s_in)
        net.connect(synapses.a_out, post.a_in)
    return net


def run_demo(steps: int = 1000, seed: int = 0, backend: str = "multicore",
             hardware: str = "loihi1", workers: int = 2, partition: str = "greedy",
             place: str = "linear", max_neurons_per_core: int | None = 100) -> DemoResult:
    """Build the demo network, compile it onto ``hardware``'s cores, run it for ``steps`` steps on
    ``backend`` (the multi-core runtime with ``workers`` processes by default) and collect the
    spikes and counters. Cores hold at most ``max_neurons_per_core`` neurons (100 by default, so
    that the small network spreads over several cores and the report has traffic to show)."""
    steps = as_int_scalar("nmgraph demo", "steps", steps, low=1)
    started = time.perf_counter()
    net = build_demo_network(seed)
    exe = compile_network(net, hardware=hardware, partition=partition, place=place, seed=seed,
                          max_neurons_per_core=max_neurons_per_core)
    options = {"workers": workers} if backend == "multicore" else {}
    with Runtime(exe, backend=backend, **options) as runtime:
        runtime.run(steps)
        spikes = {name: runtime.spikes(name) for name in DEMO_POPULATIONS}
        counters = runtime.counters
    return DemoResult(spikes=spikes, counters=counters, steps=steps, executable=exe, seed=seed,
                      backend=backend, workers=workers, wall_s=time.perf_counter() - started)


def _projection_seed(seed: int, number: int) -> int:
    """A distinct connectivity seed per projection, from the network seed (kept below 2**64)."""
    return (seed * 16 + number) % 2**64


# -- what the demo prints and writes --------------------------------------------------------------
def _population_rows(result: DemoResult) -> list[tuple[str, int, int, float, float, float]]:
    """``(name, units, spikes, mean rate in Hz, share of silent units, mean CV of ISI)`` per
    population; the CV is the mean over units with at least 2 intervals (NaN when none has)."""
    from nmgraph.tools.plot import cv_isi

    rows = []
    for name in DEMO_POPULATIONS:
        spikes = result.spikes[name]
        cv = cv_isi(spikes)
        mean_cv = float(np.mean(cv[~np.isnan(cv)])) if np.any(~np.isnan(cv)) else float("nan")
        rows.append((name, spikes.n, len(spikes), float(np.mean(spikes.rates_hz())),
                     float(np.mean(spikes.counts() == 0)), mean_cv))
    return rows


def _cores_per_chip(result: DemoResult) -> str:
    """``"chip 0: 6 of 128 cores"``, listing at most 6 chips (then the range over the rest)."""
    report = result.executable.report
    chips, used = np.unique(report.core_chip, return_counts=True)
    per_chip = getattr(result.executable.profile, "cores_per_chip", None)
    capacity = f" of {per_chip:,}" if per_chip else ""
    listed = [f"chip {chip}: {count:,}" for chip, count in zip(chips[:6].tolist(),
                                                               used[:6].tolist())]
    text = ", ".join(listed)
    if chips.size > 6:
        rest = used[6:]
        text += f", {chips.size - 6} more with {rest.min():,}-{rest.max():,}"
    return f"{text}{capacity} cores"


def demo_summary(result: DemoResult, raster_path: str | Path | None = None,
                 report_path: str | Path | None = None) -> list[str]:
    """The lines ``nmgraph demo`` prints after its run (about 15): what ran, the mapping (cores
    per chip), rate, silent share and CV of ISI per population, traffic, work, energy and time
    per step, and where the full report and the raster were written."""
    from nmgraph.tools.energy import CATEGORIES, energy_report, format_si

    exe, report = result.executable, result.executable.report
    dt_ms = result.spikes[DEMO_POPULATIONS[0]].dt_ms
    runtime = (f"multicore runtime with {result.workers} workers" if result.backend == "multicore"
               else f"{result.backend} runtime")
    binding = report.binding_resource
    chips = f"{report.chips_used:,} chip{'s' if report.chips_used != 1 else ''}"
    lines = [
        f"run       {result.steps:,} steps of {dt_ms:g} ms ({result.steps * dt_ms / 1000:g} s "
        f"simulated), {runtime}, seed {result.seed}; {result.wall_s:.1f} s wall",
        f"mapping   {report.n_cores:,} cores of {report.profile} ({report.n_neuron_cores:,} neuron, "
        f"{report.n_source_cores:,} source) on {chips}, lower bound "
        f"{report.lower_bound.get('cores', 0):,}" + (f" ({binding})" if binding else "")
        + f"; {exe.partition.strategy}/{exe.placement.strategy}",
        f"per chip  {_cores_per_chip(result)}",
        "",
        "population  units  spikes  rate (Hz)  silent  CV of ISI",
    ]
    for name, units, count, rate_hz, silent, mean_cv in _population_rows(result):
        cv_text = "-" if np.isnan(mean_cv) else f"{mean_cv:.2f}"
        lines.append(f"{name:<10} {units:>6,} {count:>7,} {rate_hz:>10.1f} {silent:>7.0%} "
                     f"{cv_text:>10}")
    lines.append("")
    counters = result.counters
    if counters.messages:
        leave = (counters.messages_cores + counters.messages_chips) / counters.messages
        between_chips = counters.messages_chips / counters.messages
        lines.append(f"traffic   {counters.messages:,} spike messages: {leave:.1%} leave their "
                     f"core, {between_chips:.1%} their chip, "
                     f"{counters.hops / counters.messages:.2f} hops per message")
    else:
        lines.append(f"traffic   not counted by the {result.backend} backend")
    lines.append(f"work      {counters.synaptic_ops:,} synaptic ops, {counters.neuron_updates:,} "
                 f"neuron updates, {counters.spikes:,} spikes")
    energy = energy_report(exe, counters, spikes=result.spikes)
    groups = {spec.name: spec.group for spec in CATEGORIES}
    left_out = list(dict.fromkeys(  # static power and router costs read as one item each
        {"static": "static power", "router": "router traversals"}.get(
            groups.get(name, ""), energy.categories[name].label)
        for name in energy.unknown + energy.not_modelled))
    real_time = {"yes": ", real time", "no": ", slower than real time"}.get(
        energy.time.real_time, "")
    lines.append(f"energy    {format_si(energy.per_step_j, 'J')}"
                 + (" (partial)" if energy.unknown else "")
                 + f" and {format_si(energy.time.per_step_s, 's')} per step on {energy.profile}"
                 + real_time + (f"; not modelled: {', '.join(left_out)}" if 0 < len(left_out) <= 3
                                else f"; {len(left_out)} categories not modelled (report)"
                                if left_out else ""))
    if report_path is not None:
        lines.append(f"report    {report_path}  (mapping, utilisation, traffic, energy by "
                     "category, counters)")
    if raster_path is not None:
        lines.append(f"raster    {raster_path}  (spikes over the population rate, time in ms)")
    return lines


def demo_report(result: DemoResult, summary: list[str] | None = None) -> str:
    """The full report of a demo run as markdown: the summary, the populations, the counters,
    the mapping report and the energy report (their headings one level down)."""
    from nmgraph.tools.energy import energy_report

    summary = demo_summary(result) if summary is None else summary
    exe = result.executable
    dt_ms = result.spikes[DEMO_POPULATIONS[0]].dt_ms
    parts = [f"# nmgraph demo: '{exe.report.network}' on {exe.report.profile}",
             "```text\n" + "\n".join(summary) + "\n```",
             "## Populations",
             "| population | units | spikes | spikes per unit per step | mean rate (Hz) | silent "
             "units | mean CV of ISI |\n|---|---|---|---|---|---|---|\n"
             + "\n".join(f"| {name} | {units:,} | {count:,} | "
                         f"{count / (units * result.steps):.4f} | {rate_hz:.2f} | {silent:.1%} | "
                         f"{'-' if np.isnan(cv) else f'{cv:.3f}'} |"
                         for name, units, count, rate_hz, silent, cv in _population_rows(result)),
             f"Rates in Hz take a step as {dt_ms:g} ms. The CV of ISI (std / mean of a unit's "
             "inter-spike intervals) is averaged over the units with at least 2 intervals.",
             "## Counters",
             "| counter | value |\n|---|---|\n"
             + "\n".join(f"| {key} | {'not counted' if value is None else f'{value:,}'} |"
                         for key, value in result.counters.as_dict().items()),
             _demoted(exe.report.to_markdown()),
             _demoted(energy_report(exe, result.counters, spikes=result.spikes).to_markdown())]
    return "\n\n".join(part.strip("\n") for part in parts) + "\n"


def _demoted(markdown: str) -> str:
    """``markdown`` with every heading one level deeper (``#`` -> ``##``)."""
    return "\n".join("#" + line if line.startswith("#") else line
                     for line in markdown.splitlines())
