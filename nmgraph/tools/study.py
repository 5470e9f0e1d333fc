"""Mapping and energy studies: one network over hardware profiles x partition x placement strategies.

::

    from nmgraph.tools.study import study
    result = study(net, hardware=["loihi1", "spinnaker1", "truenorth"],
                   partition=["greedy", "mincut"], steps=200)
    print(result.to_markdown())
    result.save("out/")            # study.md, study.csv, study.json, study.png, energy.png

Every combination (profile x ``max_neurons_per_core`` x partition x placement) is compiled; one
that does not fit (for example a neuron whose targets span more cores than TrueNorth's one, or a
core needing more than its 256 input axons) becomes a row whose ``error`` holds the compiler's
message, never an exception.

How it runs
-----------
Spikes do not depend on the mapping: the runtimes are bit-exact for every partition and placement;
only quantization, which depends on the profile alone, can change them. So the network is *run once
per distinct quantized network* (in practice once per profile), on the first mapping that fits, for
``steps`` steps on ``backend`` (the reference simulator by default: one process, no start-up cost).
Every mapping of that network then gets the run's synaptic-op, neuron-update and spike counters, and
its own messages and hops, recomputed from the run's spikes with that mapping's routing
(``exe.traffic_of``: what the multi-core runtime counts, and what its tests check against). Energy,
time per step and the ANN comparison come from :func:`nmgraph.tools.energy.energy_report` with the
spikes (exact active-update counts).

Columns of a record (:data:`COLUMNS`)
------------------------------------
``profile``, ``partition``, ``place``, ``max_neurons_per_core``; ``cores`` and ``lower_bound`` (on
cores), ``chips``; ``router_entries`` (the most router-table entries of any chip, None on
profiles without router tables); ``utilisation``: mean over neuron cores of their fullest
resource, as a fraction of its limit; ``messages`` (all spike messages of the run),
``messages_inter_core`` (those leaving their core, to any core), ``messages_inter_chip`` (those
leaving their chip), ``hops``;
``energy_j`` and ``energy_per_step_j`` (None when the profile has no energy constants),
``energy_unknown`` (categories that occurred but whose constants the profile lacks: the energy is
then a lower bound); ``time_per_step_s``, ``real_time`` (``yes``/``no``/``unverified``/
``unknown``); ``ann_ratio`` (dense-ANN energy / SNN energy) and ``label`` (A-G); ``error``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nmgraph.compilers.hardware import BUILTIN_NAMES, load_profile
from nmgraph.compilers.partition import STRATEGIES as PARTITIONS
from nmgraph.compilers.pipeline import compile_network
from nmgraph.compilers.place import STRATEGIES as PLACEMENTS
from nmgraph.core import markdown
from nmgraph.core.errors import NmgraphError, ValidationError
from nmgraph.core.network import Network
from nmgraph.core.progress import is_progress_option, progress_bar
from nmgraph.tools.energy import (
    ANN_BASELINES,
    LABELS,
    WORST_LABEL,
    EnergyReport,
    energy_report,
    format_ratio,
    format_si,
)

__all__ = ["COLUMNS", "StudyResult", "study"]

log = logging.getLogger("nmgraph.tools.study")

#: The fields of every record, in table order (see the module docstring).
COLUMNS: tuple[str, ...] = (
    "profile", "partition", "place", "max_neurons_per_core", "cores", "lower_bound", "chips",
    "router_entries", "utilisation", "messages", "messages_inter_core", "messages_inter_chip",
    "hops", "energy_j", "energy_per_step_j", "energy_unknown", "time_per_step_s", "real_time",
    "ann_ratio", "label", "error")

#: Metrics :meth:`StudyResult.plot` draws by default (one panel each).
DEFAULT_PLOT_METRICS = ("energy_per_step_j", "time_per_step_s", "cores", "messages_inter_core")


@dataclass(eq=False)
class StudyResult:
    """The records of a :func:`study`, one per combination, in sweep order.

    Attributes
    ----------
    network
        Name of the network studied.
    steps, backend
        Steps each run lasted and the backend that ran them.
    ann_energy
        The ANN baseline of the labels (``fp32``, ...).
    records
        One dict per combination with the keys of :data:`COLUMNS` (plain Python values).
    reports
        The :class:`~nmgraph.tools.energy.EnergyReport` of each record (None for errors).
    """

    network: str
    steps: int
    backend: str
    ann_energy: str
    records: list[dict[str, Any]] = field(default_factory=list)
    reports: list[EnergyReport | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records)

    @property
    def errors(self) -> list[dict[str, Any]]:
        """The records of combinations that did not fit."""
        return [record for record in self.records if record["error"]]

    def label_of(self, index: int) -> str:
        """How tables and plots name record ``index``: ``loihi1 greedy/linear`` (+ neuron cap)."""
        record = self.records[index]
        text = f"{record['profile']} {record['partition']}/{record['place']}"
        if record["max_neurons_per_core"] is not None:
            text += f" ≤{record['max_neurons_per_core']}n"
        return text

    # ------------------------------------------------------------------ exports
    def to_csv(self, path: str | Path | None = None) -> str:
        """The records as CSV (header :data:`COLUMNS`; empty cell = None)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(COLUMNS)
        for record in self.records:
            writer.writerow(["" if record[key] is None else record[key] for key in COLUMNS])
        return _written(buffer.getvalue(), path)

    def to_dict(self) -> dict[str, Any]:
        """Settings, columns, records and each row's energy report (``None`` for errors) as plain
        JSON types."""
        return {"network": self.network, "steps": self.steps, "backend": self.backend,
                "ann_energy": self.ann_energy, "columns": list(COLUMNS),
                "records": self.records,
                "energy_reports": [None if report is None else report.to_dict()
                                   for report in self.reports]}

    def to_json(self, path: str | Path | None = None, indent: int | None = 2) -> str:
        """The records and each row's full energy report as JSON."""
        return _written(json.dumps(self.to_dict(), indent=indent, allow_nan=False), path)

    def to_markdown(self, path: str | Path | None = None) -> str:
        """A comparison table, the reasons of the rows that do not fit, and how it was made."""
        return _written(_markdown(self), path)

    def plot(self, metric: str | Sequence[str] = DEFAULT_PLOT_METRICS,
             path: str | Path | None = None, **options: Any):
        """Comparison bars (see :func:`nmgraph.tools.plot.study_bars`)."""
        from nmgraph.tools.plot import study_bars

        return study_bars(self, metric=metric, path=path, **options)

    def plot_energy(self, path: str | Path | None = None, **options: Any):
        """Energy by category of every row that fits (see :func:`nmgraph.tools.plot.energy_breakdown`)."""
        from nmgraph.tools.plot import energy_breakdown

        reports = {self.label_of(i): report for i, report in enumerate(self.reports)
                   if report is not None and report.total_j is not None}
        if not reports:
            raise NmgraphError(f"study of '{self.network}': no combination has an energy "
                               "estimate (none fits, or their profiles have no energy constants)")
        left_out = sorted({r.profile for r in self.reports
                           if r is not None and r.total_j is None})
        if "title" not in options and options.get("per", "step") == "step":
            options["title"] = (f"energy per step by category: '{self.network}', "
                                f"{self.steps:,} steps"
                                + (f"\n(no energy constants: {', '.join(left_out)})"
                                   if left_out else ""))
        return energy_breakdown(reports, path=path, **options)

    def save(self, folder: str | Path, plots: bool = True) -> dict[str, Path]:
        """Write ``study.md``, ``study.csv``, ``study.json`` and (with ``plots``) ``study.png``
        (comparison bars) and ``energy.png`` (energy by category) into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {"markdown": folder / "study.md", "csv": folder / "study.csv",
                 "json": folder / "study.json"}
        self.to_markdown(paths["markdown"])
        self.to_csv(paths["csv"])
        self.to_json(paths["json"])
        if plots:
            paths["plot"] = folder / "study.png"
            self.plot(path=paths["plot"])
            if any(report is not None and report.total_j is not None
                   for report in self.reports):
                paths["energy_plot"] = folder / "energy.png"
                self.plot_energy(path=paths["energy_plot"])
        return paths


# ==================================================================================================
# the sweep
# ==================================================================================================
def study(network: Network, hardware: str | Iterable[Any] = BUILTIN_NAMES,
          partition: str | Iterable[str] = ("greedy",), place: str | Iterable[str] = ("linear",),
          *, steps: int = 200, max_neurons_per_core: Iterable[int | None] = (None,),
          backend: str = "reference", workers: int | None = None, seed: int = 0,
          inference_steps: int | None = None, ann_energy: Any = "fp32", ann_macs: str = "dense",
          real_time_step_s: float = 1e-3, progress: Any = None) -> StudyResult:
    """Compile ``network`` for every combination, run it and report mapping, energy and time.

    Parameters
    ----------
    network
        The Network to study.
    hardware
        Profiles (names, ``NAME:SYSTEM``, files or HardwareProfiles); a comma-separated string is
        split. Default: every built-in.
    partition, place
        Strategies (``greedy``/``balanced``/``mincut``; ``linear``/``traffic``).
    steps
        Steps of each run.
    max_neurons_per_core
        Values of ``nm.compile``'s cap to sweep (None: the profile's limit).
    backend, workers
        Where the runs happen (``"reference"`` or ``"multicore"``; see the module docstring).
    seed
        Seed of the ``mincut`` and ``traffic`` strategies.
    inference_steps, ann_energy, ann_macs, real_time_step_s
        Passed to :func:`~nmgraph.tools.energy.energy_report`.
    progress
        A bar over the cases (each a compile and, unless an identical network ran already, a
        run): None (automatic: on when stderr is a terminal), True, False or a text stream
        (see :mod:`nmgraph.core.progress`).
    """
    if not isinstance(network, Network):
        raise ValidationError("study", "network", "must be an nm.Network", network)
    profiles = [load_profile(spec) for spec in _names(hardware, "hardware")]
    partitions = _choices(partition, "partition", PARTITIONS)
    placements = _choices(place, "place", PLACEMENTS)
    caps = _caps(max_neurons_per_core)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValidationError("study", "steps", "must be an int >= 1", steps)
    baseline = ann_energy if isinstance(ann_energy, str) else getattr(ann_energy, "name", "custom")
    result = StudyResult(network=network.name, steps=steps, backend=backend,
                         ann_energy=baseline)
    runs: dict[str, _Run] = {}
    if not is_progress_option(progress):
        raise ValidationError("study", "progress", "must be True, False, None or a text stream",
                              progress)
    cases = list(itertools.product(profiles, caps, partitions, placements))
    with progress_bar(progress, len(cases), f"study '{network.name}'", unit="case",
                      leave=True) as bar:
        for profile, cap, part, placement in cases:
            bar.describe(f"{profile.name} {part}/{placement}" + (f" cap {cap}" if cap else ""))
            key = dict(profile=profile.name, partition=part, place=placement,
                       max_neurons_per_core=cap)
            try:
                exe = compile_network(network, hardware=profile, partition=part, place=placement,
                                      seed=seed, max_neurons_per_core=cap, progress=False)
            except NmgraphError as error:
                log.info("study: %s does not fit: %s", key, error)
                result.records.append(_error_record(key, error))
                result.reports.append(None)
                bar.advance()
                continue
            run = _run_for(exe, runs, steps, backend, workers)
            counters = run.counters_for(exe)
            report = energy_report(exe, counters, spikes=run.spikes,
                                   inference_steps=inference_steps, ann_energy=ann_energy,
                                   ann_macs=ann_macs, real_time_step_s=real_time_step_s)
            result.records.append(_record(key, exe, counters, report))
            result.reports.append(report)
            bar.advance()
    return result


@dataclass(eq=False)
class _Run:
    """One run of a quantized network: its counters (without traffic) and spikes."""

    counters: Any
    spikes: dict[str, Any]
    spike_units: np.ndarray

    def counters_for(self, exe: Any) -> Any:
        """The run's counters with the messages and hops of ``exe``'s routing."""
        from copy import deepcopy

        counters = deepcopy(self.counters)
        counters.set_traffic(exe.traffic_of(self.spike_units))
        return counters


def _run_for(exe: Any, runs: dict[str, _Run], steps: int, backend: str,
             workers: int | None) -> _Run:
    key = _ir_digest(exe.ir)
    if key not in runs:
        from nmgraph.tools.runtime import Runtime

        log.info("study: running '%s' (as quantized for %s) for %d steps on %s", exe.ir.name,
                 exe.profile.name, steps, backend)
        with Runtime(exe, backend=backend, workers=workers, progress=False) as runtime:
            runtime.run(steps)
            spikes = {pop.name: runtime.spikes(pop.name) for pop in exe.ir.populations}
            counters = runtime.counters
        units = [events.indices + exe.ir.population(name).offset
                 for name, events in spikes.items()]
        spike_units = np.concatenate(units) if units else np.zeros(0, dtype=np.int64)
        runs[key] = _Run(counters, spikes, spike_units.astype(np.int64))
    return runs[key]


def _ir_digest(ir: Any) -> str:
    """A fingerprint of everything a run depends on: parameters, state, synapses, delays."""
    digest = hashlib.sha256()
    for pop in ir.populations:
        digest.update(f"{pop.name}:{pop.model}:{pop.size}".encode())
        for table in (pop.params, pop.state):
            for name in sorted(table):
                digest.update(name.encode())
                digest.update(np.ascontiguousarray(table[name]).tobytes())
    for proj in ir.projections:
        digest.update(f"{proj.pre}>{proj.post}:{proj.weight_exp}".encode())
        for array in (proj.indptr, proj.targets, proj.weights, proj.delays):
            digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


# ==================================================================================================
# records
# ==================================================================================================
def _record(key: dict[str, Any], exe: Any, counters: Any, report: EnergyReport) -> dict[str, Any]:
    mapping = exe.report
    record = dict.fromkeys(COLUMNS)
    record.update(key)
    record.update(
        cores=exe.n_cores, lower_bound=mapping.lower_bound.get("cores"), chips=exe.n_chips,
        router_entries=(int(exe.routing.router_entries.max(initial=0))
                        if exe.profile.router_entries_per_chip is not None else None),
        utilisation=_utilisation(mapping), messages=int(counters.messages),
        messages_inter_core=int(counters.messages_cores + counters.messages_chips),
        messages_inter_chip=int(counters.messages_chips), hops=int(counters.hops),
        energy_j=report.total_j, energy_per_step_j=report.per_step_j,
        energy_unknown=";".join(report.unknown), time_per_step_s=report.time.per_step_s,
        real_time=report.time.real_time, ann_ratio=report.ann.ratio, label=report.ann.label,
        error="")
    return record


def _error_record(key: dict[str, Any], error: Exception) -> dict[str, Any]:
    record = dict.fromkeys(COLUMNS)
    record.update(key)
    record["error"] = str(error)
    return record


def _utilisation(mapping: Any) -> float | None:
    """Mean over neuron cores of the fullest resource (fraction of its limit)."""
    neuron_cores = np.array([kind == "neuron" for kind in mapping.core_kind], dtype=bool)
    fractions = [use.fraction for use in mapping.resources.values() if use.fraction is not None]
    if not fractions or not neuron_cores.any():
        return None
    fullest = np.max(np.vstack(fractions), axis=0)
    return float(fullest[neuron_cores].mean())


# ==================================================================================================
# argument checks
# ==================================================================================================
def _names(value: Any, what: str) -> list[Any]:
    if isinstance(value, str):
        items = [item.strip() for item in value.split(",") if item.strip()]
    else:
        try:
            items = list(value)
        except TypeError:
            items = [value]
    if not items:
        raise ValidationError("study", what, "must name at least one choice", value)
    return items


def _choices(value: Any, what: str, allowed: Sequence[str]) -> list[str]:
    items = _names(value, what)
    for item in items:
        if item not in allowed:
            raise ValidationError("study", what, f"unknown strategy; use {', '.join(allowed)}",
                                  item)
    return items


def _caps(value: Any) -> list[int | None]:
    items = [value] if value is None or isinstance(value, int) else list(value)
    for item in items:
        if item is not None and (isinstance(item, bool) or not isinstance(item, int) or item < 1):
            raise ValidationError("study", "max_neurons_per_core", "values must be ints >= 1 or "
                                  "None", item)
    return items or [None]


def _written(text: str, path: str | Path | None) -> str:
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


# ==================================================================================================
# markdown
# ==================================================================================================
def _markdown(result: StudyResult) -> str:
    header = ("profile", "partition", "place", "cores / bound", "chips",
              "router entries (max / chip)", "utilisation",
              "messages leaving core", "messages leaving chip", "hops", "energy / step",
              "time / step", "real time", "ANN / SNN", "label", "note")
    notes: list[str] = []
    rows = []
    for index, record in enumerate(result.records):
        name = (record["profile"], record["partition"], record["place"])
        if record["error"]:
            notes.append(f"{' / '.join(name)}: does not fit: {record['error']}")
            rows.append((*name, *["-"] * (len(header) - len(name) - 1),
                         f"does not fit [{len(notes)}]"))
            continue
        energy = format_si(record["energy_per_step_j"], "J")
        note = ""
        if record["energy_unknown"]:
            notes.append(f"{' / '.join(name)}: energy is a lower bound; unknown for this "
                         f"profile: {record['energy_unknown'].replace(';', ', ')}")
            energy += "*"
            note = f"partial [{len(notes)}]"
        report = result.reports[index]
        label = "-" if report is None else report.ann.label_text
        cap = record["max_neurons_per_core"]
        cores = f"{record['cores']:,}" + (f" (≤{cap} neurons)" if cap is not None else "")
        rows.append((
            *name, f"{cores} / {record['lower_bound']:,}", f"{record['chips']:,}",
            "-" if record["router_entries"] is None else f"{record['router_entries']:,}",
            "-" if record["utilisation"] is None else f"{100 * record['utilisation']:.0f}%",
            f"{record['messages_inter_core']:,}", f"{record['messages_inter_chip']:,}",
            f"{record['hops']:,}", energy, format_si(record["time_per_step_s"], "s"),
            record["real_time"], format_ratio(record["ann_ratio"]), label, note))
    baseline = ANN_BASELINES.get(result.ann_energy)
    per_mac = ("" if baseline is None
               else f" ({format_si(baseline.mac_j, 'J')} per MAC, {baseline.source})")
    thresholds = ", ".join(f"{label} >= {lowest:g}x" for label, lowest in LABELS)
    text = [f"# Study: '{result.network}'", "",
            f"{result.steps:,} steps on the {result.backend} backend, one run per quantized "
            "network; each mapping's messages and hops recomputed from the run's spikes with its "
            "routing. Messages and hops are totals over the run. Utilisation: mean over neuron "
            "cores of the fullest resource. Energy from each profile's constants "
            "(`nmgraph hw NAME`); ANN / SNN: energy of the same network as a dense "
            f"{result.ann_energy} ANN stepped as often{per_mac}, over the SNN's energy; labels "
            f"{thresholds}, {WORST_LABEL} below.", "", markdown.table(header, rows)]
    if notes:
        text += ["", *[f"{number}. {note}" for number, note in enumerate(notes, start=1)]]
    uncertain = _uncertain_constants(result)
    if uncertain:
        text += ["", "Energy constants the profiles mark uncertain (secondary sources or "
                 "values reused from another chip):",
                 *[f"- {profile}: {', '.join(names)}" for profile, names in uncertain.items()]]
    return "\n".join(text) + "\n"


def _uncertain_constants(result: StudyResult) -> dict[str, list[str]]:
    """``{profile: [constants]}``: uncertain constants behind the counted categories."""
    out: dict[str, list[str]] = {}
    for report in result.reports:
        if report is None or report.profile in out:
            continue
        names = [c.constant_name for c in report.categories.values()
                 if c.status == "counted" and c.uncertain]
        if names:
            out[report.profile] = names
    return out
