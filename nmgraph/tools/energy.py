"""Energy and time per step of a run on a hardware profile, and its comparison with a dense ANN.

:func:`energy_report` turns a run's counters (``rt.counters``) and a compiled network's mapping
(``exe``) into an :class:`EnergyReport`: joules by category, by core, in total, per step and per
inference window, each category with the profile constant it used, that constant's source and
whether it is uncertain; a time-per-step estimate and whether the network keeps real time; and
the energy of the same network as a dense ANN/RNN on a conventional processor, with an A-G label::

    exe = nm.compile(net, hardware="loihi1")
    with nm.Runtime(exe, backend="reference") as rt:
        rt.run(1000)
        report = energy_report(exe, rt.counters, spikes=rt, inference_steps=100)
    print(report.to_markdown())

Energy model
------------
Each category is ``count x constant`` (constants from ``exe.profile.energy``, see
``nmgraph hw NAME``):

===========================  ============================================  ==========================
category                     count                                         constant
===========================  ============================================  ==========================
``synaptic_ops``             synaptic events (``counters.synaptic_ops``)   ``synaptic_op_j``
``synaptic_updates``         plastic synapse updates                       ``synaptic_update_j``
                             (``counters.synaptic_updates``)
``neuron_updates_active``    updates of a neuron that received at least    ``neuron_update_active_j``
                             one synaptic event in that step, or spiked
``neuron_updates_inactive``  the other neuron updates                      ``neuron_update_inactive_j``
``spikes_within_core``       messages to the sender's own core             ``spike_within_tile_j``
``hops_ew``, ``hops_ns``     mesh hops along x (east-west), y              ``hop_ew_j``, ``hop_ns_j``
                             (north-south)
``chip_to_chip``             messages to another chip (on top of hops)     ``chip_to_chip_j``
``router_bits``              router traversals x ``packet_bits``           ``router_bit_j``
``static_chips``             chips used x run time (chip-seconds)          ``static_chip_w``
``static_cores``             cores used x run time (core-seconds)          ``static_active_core_w``
===========================  ============================================  ==========================

* Nothing is silently 0. A category whose count is 0 costs 0 J (status ``none``). Otherwise its
  constant decides: known -> ``counted``; ``None`` -> ``unknown`` when the profile models energy
  of that kind (any constant of its group is known: per-operation energies, router energy,
  static power), else ``not modelled`` (for example SpiNNaker's per-synapse energy, which its
  toolchain folds into the active-core power, or Loihi's static power, which Davies et al. 2018
  do not give). The total is the sum of the counted categories; it is marked *partial* when a
  category is unknown, and is ``None`` when the profile has no energy constants at all
  (``generic``, ``spinnaker2``).
* Active neuron updates: given the run's spikes (``spikes=rt`` or ``{name: SpikeEvents}``), they
  are counted exactly from the spikes and the synapses (:func:`active_updates`), since the runtime
  does not count them. Without spikes they are estimated per population from the counters,
  assuming synaptic events spread at random over its neurons and steps (Poisson):
  ``p_in = 1 - exp(-events / (neurons x steps))``, ``p_spike = spikes / (neurons x steps)``, and
  ``active = updates x (1 - (1 - p_in)(1 - p_spike))``. The report says which (``exact``).
* Hops: on unicast profiles total hops are ``hops_x + hops_y`` and split that way; on multicast
  profiles (trees) the tree's links are split in the ratio of the unicast paths' x and y parts.
* Router traversals: a packet passes its source router and one more router per link, so
  traversals are ``messages + hops`` on unicast profiles and ``spikes that have a destination +
  tree links`` on multicast ones (SpiNNaker: every packet passes its own chip's router, even for a
  core of the same chip), as in the SpiNNaker toolchain's model (``router_bit_j`` per bit).
* Static power needs the run time: ``steps x time per step`` (below).
* Learning: each synaptic update (a plastic synapse the rule is evaluated for at an epoch's end,
  ``counters.synaptic_updates``) costs ``synaptic_update_j`` (Loihi 1: 120 pJ, Davies et al.
  2018) and ``synaptic_update_s`` of its core's time per step; updates are spread over the cores
  in proportion to the plastic synapses each holds.

By core
-------
Each category is distributed over the cores and the per-core values add up to the total:
synaptic events go to the core of their target neuron (synapses live there), neuron updates to the
neuron's core, messages, hops and router traversals to the sending core (their energy is spent
along the path; the sender is the one core that caused it), core static power to each core used,
and a chip's static power evenly over the cores used on it. With the run's spikes the
distribution is exact (spikes per unit times each unit's synapses per destination core and its
routing costs, ``exe.unit_costs``); from counters alone every unit of a process is given the
process's mean spike count, and the per-core values are scaled so that they add up to the
counters' exact totals.

Time per step
-------------
Per core, the mean compute time of a step is ``(synaptic events x synaptic_op_s + active updates
x neuron_update_active_s + inactive updates x neuron_update_inactive_s) / steps``; the slowest core
sets the step (this is the mean step's slowest core; a burst makes single steps longer). On
profiles with a barrier (Loihi), the barrier is added: ``barrier_min_s`` for 1 tile to
``barrier_max_s`` for 32 tiles (Davies et al. 2018 measured 1-32 tiles), linear in the cores used
(one core per mesh node); beyond 32 tiles the 32-tile value is used, a lower bound. Message
latencies are not added: the mesh delivers them while cores compute. Profiles with a fixed tick
(``time_step_s``: SpiNNaker, TrueNorth, 1 ms) take ``max(tick, compute)`` per step; they keep
real time when the compute time fits the tick, and ``real_time`` is ``"unverified"`` when the
profile has no latencies to check it with. Profiles without a tick (Loihi) run as fast as they
can; they keep real time when a step takes at most ``real_time_step_s`` (default 1 ms: a step is
1 ms of model time, as in nmgraph's rates).

ANN comparison and label
------------------------
The same network as a dense ANN/RNN: each step multiplies every projection's full
``n_post x n_pre`` weight matrix (``ann_macs="dense"``; ``"synapses"`` counts only the synapses
that exist, a sparse ANN) and updates every neuron (one operation per neuron, costed as one MAC),
stepped ``ann_steps_per_inference`` times per inference window (default: as many steps as the SNN,
an RNN; 1 models a feed-forward ANN that needs one pass where the SNN integrates over the window).
Energy per MAC (:data:`ANN_BASELINES`, Horowitz, ISSCC 2014, 45 nm): arithmetic only, no memory
access, which favours the ANN (a 32-bit SRAM read costs about 5 pJ, DRAM 640 pJ).

``ratio = ANN energy / SNN energy`` per inference window, and the label (:data:`LABELS`):

=====  ==================  ================================================
label  ratio (ANN / SNN)   meaning
=====  ==================  ================================================
A      >= 100              the SNN needs at most 1/100 of the ANN's energy
B      >= 30
C      >= 10
D      >= 3
E      >= 1                the SNN is at least as efficient as the ANN
F      >= 0.3
G      < 0.3               the SNN needs more than 3.3 x the ANN's energy
=====  ==================  ================================================

When the SNN energy is partial (unknown categories), the ratio is an upper bound and the label a
best case (``EnergyReport.ann.partial``); with no SNN energy there is no ratio and no label.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nmgraph.compilers.learning_memory import plastic_synapses_per_core
from nmgraph.core import markdown
from nmgraph.core.errors import ValidationError
from nmgraph.core.jsonable import to_plain

__all__ = ["ANN_BASELINES", "CATEGORIES", "LABELS", "AnnBaseline", "AnnComparison",
           "EnergyCategory", "EnergyReport", "StepTime", "active_updates", "energy_label",
           "energy_report", "format_ratio", "format_si"]


# ==================================================================================================
# constants
# ==================================================================================================
@dataclass(frozen=True)
class CategorySpec:
    """How one energy category is counted: its constant, the unit of its count, its group."""

    name: str
    label: str
    constant: str
    count_unit: str
    group: str


#: The energy categories, in the order reports and plots show them (see the module docstring).
CATEGORIES: tuple[CategorySpec, ...] = (
    CategorySpec("synaptic_ops", "synaptic operations", "synaptic_op_j", "synaptic events",
                 "operations"),
    CategorySpec("synaptic_updates", "synaptic updates (learning)", "synaptic_update_j",
                 "updates", "operations"),
    CategorySpec("neuron_updates_active", "neuron updates (active)", "neuron_update_active_j",
                 "updates", "operations"),
    CategorySpec("neuron_updates_inactive", "neuron updates (inactive)",
                 "neuron_update_inactive_j", "updates", "operations"),
    CategorySpec("spikes_within_core", "spikes within a core", "spike_within_tile_j", "messages",
                 "operations"),
    CategorySpec("hops_ew", "mesh hops east-west", "hop_ew_j", "hops", "operations"),
    CategorySpec("hops_ns", "mesh hops north-south", "hop_ns_j", "hops", "operations"),
    CategorySpec("chip_to_chip", "chip-to-chip messages", "chip_to_chip_j", "messages",
                 "operations"),
    CategorySpec("router_bits", "router traversals", "router_bit_j", "packet traversals",
                 "router"),
    CategorySpec("static_chips", "static power of chips", "static_chip_w", "chip-seconds",
                 "static"),
    CategorySpec("static_cores", "static power of active cores", "static_active_core_w",
                 "core-seconds", "static"),
)
_SPECS = {spec.name: spec for spec in CATEGORIES}
_GROUPS = {group: tuple(s.constant for s in CATEGORIES if s.group == group)
           for group in ("operations", "router", "static")}

#: Category statuses (see the module docstring).
COUNTED, NONE, UNKNOWN, NOT_MODELLED = "counted", "none", "unknown", "not modelled"

#: ``(label, lowest ANN/SNN energy ratio)``, best first; below the last: "G".
LABELS: tuple[tuple[str, float], ...] = (("A", 100.0), ("B", 30.0), ("C", 10.0), ("D", 3.0),
                                         ("E", 1.0), ("F", 0.3))
WORST_LABEL = "G"

#: Barrier tiles measured by Davies et al. 2018 (``barrier_min_s`` at 1, ``barrier_max_s`` at 32).
BARRIER_TILES = (1, 32)
#: Largest (steps x units) boolean block :func:`active_updates` holds at once.
_ACTIVE_BLOCK = 1 << 24
#: Synaptic events expanded at once by :func:`active_updates`.
_EVENT_BATCH = 1 << 22
#: Cores listed one by one in the markdown before it refers to ``to_json()``.
MAX_CORE_ROWS = 16


@dataclass(frozen=True)
class AnnBaseline:
    """Energy of one multiply-accumulate on a conventional processor.

    Attributes
    ----------
    name
        Short name (``fp32``, ``int8``, or your own).
    mac_j
        Joules per MAC (> 0).
    source
        Where the figure comes from.
    """

    name: str
    mac_j: float
    source: str

    def __post_init__(self) -> None:
        if (isinstance(self.mac_j, bool) or not isinstance(self.mac_j, (int, float))
                or not math.isfinite(self.mac_j) or self.mac_j <= 0):
            raise ValidationError("AnnBaseline", "mac_j", "must be a positive number of joules",
                                  self.mac_j)


_HOROWITZ = "Horowitz, 'Computing's energy problem', ISSCC 2014, 45 nm"
#: Built-in ANN baselines: one MAC = one multiply + one add (Horowitz 2014's table).
ANN_BASELINES: Mapping[str, AnnBaseline] = {
    "fp32": AnnBaseline("fp32", 4.6e-12, f"{_HOROWITZ}: 32-bit float multiply 3.7 pJ + add "
                                         "0.9 pJ"),
    "fp16": AnnBaseline("fp16", 1.5e-12, f"{_HOROWITZ}: 16-bit float multiply 1.1 pJ + add "
                                         "0.4 pJ"),
    "int32": AnnBaseline("int32", 3.2e-12, f"{_HOROWITZ}: 32-bit int multiply 3.1 pJ + add "
                                           "0.1 pJ"),
    "int8": AnnBaseline("int8", 0.23e-12, f"{_HOROWITZ}: 8-bit int multiply 0.2 pJ + add "
                                          "0.03 pJ"),
}
#: How the ANN's MACs per step are counted.
ANN_MAC_COUNTS = ("dense", "synapses")


# ==================================================================================================
# report records
# ==================================================================================================
@dataclass(frozen=True, eq=False)
class EnergyCategory:
    """One line of the energy model: ``joules = count x constant``.

    Attributes
    ----------
    name, label
        Key (``synaptic_ops``) and readable name.
    count
        What was counted over the run (unit: ``count_unit``), or None when it cannot be known
        (static power without a time per step).
    count_unit
        ``synaptic events``, ``updates``, ``messages``, ``hops``, ``packet traversals``,
        ``chip-seconds``, ``core-seconds``.
    constant
        Joules per counted item (watts for static power; for router traversals
        ``packet_bits x router_bit_j``), or None.
    constant_name
        The profile field(s): ``energy.synaptic_op_j``.
    source
        The constant's source, from the profile.
    uncertain
        The profile marks the constant (or packet_bits) uncertain.
    status
        ``counted``, ``none`` (count 0), ``unknown`` or ``not modelled``.
    joules
        ``count x constant`` when counted, 0.0 for ``none``, None otherwise.
    per_core_count, per_core_j
        float64 ``(n_cores,)``: the count and joules of each core (see "By core"); ``per_core_j``
        is None unless counted or none.
    estimated
        The count is an estimate (active updates without spikes), not a measurement.
    """

    name: str
    label: str
    count: float | None
    count_unit: str
    constant: float | None
    constant_name: str
    source: str
    uncertain: bool
    status: str
    joules: float | None
    per_core_count: np.ndarray | None
    per_core_j: np.ndarray | None
    estimated: bool = False


@dataclass(frozen=True, eq=False)
class StepTime:
    """Wall-clock time per step (see "Time per step" in the module docstring).

    Attributes
    ----------
    per_step_s
        Time one step takes on the chip, or None when the profile has neither latencies nor a tick.
    compute_s
        Mean compute time of the slowest core, plus the barrier; None without latencies.
    slowest_core
        The core that sets ``compute_s``.
    barrier_s
        End-of-step barrier (Loihi), or None.
    tick_s
        The profile's fixed real-time tick, or None (runs as fast as it can).
    real_time
        ``"yes"``, ``"no"``, ``"unverified"`` (a tick but no latencies to check it with) or
        ``"unknown"`` (neither).
    real_time_step_s
        The wall-clock duration of a step that counts as real time on profiles without a tick.
    per_core_s
        float64 ``(n_cores,)``: mean compute time per step of each core, or None.
    """

    per_step_s: float | None
    compute_s: float | None
    slowest_core: int | None
    barrier_s: float | None
    tick_s: float | None
    real_time: str
    real_time_step_s: float
    per_core_s: np.ndarray | None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class AnnComparison:
    """The network as a dense ANN/RNN on a conventional processor, against the SNN.

    Attributes
    ----------
    baseline
        Energy per MAC and its source.
    mac_count
        ``"dense"`` (``n_pre x n_post`` per projection) or ``"synapses"``.
    macs_per_step
        MACs of the projections in one step.
    neuron_ops_per_step
        Neuron updates in one step (one MAC-equivalent each).
    steps_per_inference
        ANN steps per inference window.
    ann_j_per_inference, snn_j_per_inference
        Energy of one inference window (SNN: None when unknown).
    ratio
        ``ann / snn`` or None; ``label``: A-G or None.
    partial
        The SNN energy misses unknown categories: the ratio is an upper bound.
    """

    baseline: AnnBaseline
    mac_count: str
    macs_per_step: int
    neuron_ops_per_step: int
    steps_per_inference: int
    ann_j_per_inference: float
    snn_j_per_inference: float | None
    ratio: float | None
    label: str | None
    partial: bool

    @property
    def label_text(self) -> str:
        """The label as tables show it: ``"B"``, ``"B (partial)"`` or ``"-"``."""
        if self.label is None:
            return "-"
        return f"{self.label} (partial)" if self.partial else self.label


@dataclass(frozen=True, eq=False)
class EnergyReport:
    """Energy, time and ANN comparison of one run on one mapping (built by
    :func:`energy_report`; see the module docstring for the model)."""

    network: str
    profile: str
    partition: str
    place: str
    n_cores: int
    n_chips: int
    steps: int
    inference_steps: int
    categories: dict[str, EnergyCategory]
    time: StepTime
    ann: AnnComparison
    exact_activity: bool
    energy_note: str = ""
    notes: tuple[str, ...] = ()

    # ------------------------------------------------------------------ totals
    @property
    def total_j(self) -> float | None:
        """Joules of the run: the sum of the counted categories (None when none is counted)."""
        counted = [c.joules for c in self.categories.values() if c.status == COUNTED]
        return float(sum(counted)) if counted else None

    @property
    def unknown(self) -> list[str]:
        """Categories that occurred but whose constant the profile does not know."""
        return [c.name for c in self.categories.values() if c.status == UNKNOWN]

    @property
    def not_modelled(self) -> list[str]:
        """Categories that occurred but that the profile's energy model leaves out."""
        return [c.name for c in self.categories.values() if c.status == NOT_MODELLED]

    @property
    def complete(self) -> bool:
        """True when the total covers every category the profile models."""
        return self.total_j is not None and not self.unknown

    @property
    def per_step_j(self) -> float | None:
        """Joules per step (the run's total / steps), or None."""
        total = self.total_j
        return None if total is None else total / self.steps

    @property
    def per_inference_j(self) -> float | None:
        """Joules per inference window (per step x ``inference_steps``), or None."""
        per_step = self.per_step_j
        return None if per_step is None else per_step * self.inference_steps

    @property
    def inferences(self) -> float:
        """Inference windows in the run (``steps / inference_steps``)."""
        return self.steps / self.inference_steps

    @property
    def per_core_j(self) -> np.ndarray:
        """float64 ``(n_cores,)``: joules of each core over the run (counted categories)."""
        out = np.zeros(self.n_cores)
        for category in self.categories.values():
            if category.status == COUNTED:
                out += category.per_core_j
        return out

    def by_category(self) -> dict[str, float | None]:
        """``{category: joules}`` (None when unknown or not modelled)."""
        return {name: c.joules for name, c in self.categories.items()}

    # ------------------------------------------------------------------ output
    def summary(self) -> str:
        """One line: total, per step, time per step, label."""
        partial = " (partial)" if self.unknown else ""
        return (f"'{self.network}' on {self.profile}: {_joules(self.total_j)}{partial} over "
                f"{self.steps:,} steps, {_joules(self.per_step_j)} per step, "
                f"{_seconds(self.time.per_step_s)} per step (real time: {self.time.real_time}), "
                f"ANN/SNN {format_ratio(self.ann.ratio)}, label {self.ann.label_text}")

    def to_dict(self) -> dict[str, Any]:
        """Every figure as plain JSON types (per-core arrays as lists)."""
        return to_plain({
            "network": self.network, "profile": self.profile, "partition": self.partition,
            "place": self.place, "cores": self.n_cores, "chips": self.n_chips,
            "steps": self.steps, "inference_steps": self.inference_steps,
            "inferences": self.inferences, "exact_activity": self.exact_activity,
            "total_j": self.total_j, "per_step_j": self.per_step_j,
            "per_inference_j": self.per_inference_j, "complete": self.complete,
            "unknown": self.unknown, "not_modelled": self.not_modelled,
            "categories": {name: _category_dict(c) for name, c in self.categories.items()},
            "per_core_j": self.per_core_j,
            "time": {"per_step_s": self.time.per_step_s, "compute_s": self.time.compute_s,
                     "slowest_core": self.time.slowest_core, "barrier_s": self.time.barrier_s,
                     "tick_s": self.time.tick_s, "real_time": self.time.real_time,
                     "real_time_step_s": self.time.real_time_step_s,
                     "per_core_s": self.time.per_core_s, "notes": list(self.time.notes)},
            "ann": {"baseline": self.ann.baseline.name, "mac_j": self.ann.baseline.mac_j,
                    "source": self.ann.baseline.source, "mac_count": self.ann.mac_count,
                    "macs_per_step": self.ann.macs_per_step,
                    "neuron_ops_per_step": self.ann.neuron_ops_per_step,
                    "steps_per_inference": self.ann.steps_per_inference,
                    "ann_j_per_inference": self.ann.ann_j_per_inference,
                    "snn_j_per_inference": self.ann.snn_j_per_inference,
                    "ratio": self.ann.ratio, "label": self.ann.label,
                    "partial": self.ann.partial},
            "energy_note": self.energy_note, "notes": list(self.notes),
        })

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def to_markdown(self) -> str:
        """Summary, energy by category (with constants and sources), time, ANN comparison,
        energy by core, and how it was computed."""
        return "\n\n".join([_md_summary(self), _md_categories(self), _md_time(self),
                            _md_ann(self), _md_cores(self), _md_notes(self)]) + "\n"

    def save(self, path: str | Path) -> Path:
        """Write the markdown (``.md``) or JSON (``.json``) form, chosen by the suffix."""
        path = Path(path)
        text = self.to_json() if path.suffix.lower() == ".json" else self.to_markdown()
        path.write_text(text, encoding="utf-8")
        return path

    def plot(self, path: str | Path | None = None, **options: Any):
        """Stacked bars by category (see :func:`nmgraph.tools.plot.energy_breakdown`)."""
        from nmgraph.tools.plot import energy_breakdown

        return energy_breakdown(self, path=path, **options)


# ==================================================================================================
# the entry point
# ==================================================================================================
def energy_report(exe: Any, counters: Any, *, spikes: Any = None,
                  inference_steps: int | None = None, ann_energy: Any = "fp32",
                  ann_macs: str = "dense", ann_steps_per_inference: int | None = None,
                  real_time_step_s: float = 1e-3) -> EnergyReport:
    """Energy, time per step and ANN comparison of a run (see the module docstring).

    Parameters
    ----------
    exe
        The Executable the network was compiled to (``nm.compile``): profile, cores, routing.
    counters
        The run's :class:`~nmgraph.runtimes.results.Counters` (``rt.counters``); traffic counters
        that are None (a run without a mapping) are derived from the spikes or estimated.
    spikes
        The run's spikes, for exact active-update counts and an exact per-core split: a Runtime
        (``spikes=rt``) or ``{process name: SpikeEvents}`` covering every population. Optional.
    inference_steps
        Steps of one inference window (default: the whole run is one window).
    ann_energy
        Energy per MAC of the ANN baseline: a name of :data:`ANN_BASELINES` (``"fp32"`` default,
        ``"fp16"``, ``"int32"``, ``"int8"``), joules per MAC as a number, or an
        :class:`AnnBaseline`.
    ann_macs
        ``"dense"`` (``n_pre x n_post`` per projection) or ``"synapses"`` (a sparse ANN).
    ann_steps_per_inference
        ANN steps per inference window (default ``inference_steps``: an RNN stepped as the SNN;
        1: a feed-forward ANN).
    real_time_step_s
        Wall-clock time a step may take to count as real time on profiles without a tick.
    """
    _check_exe(exe)
    steps = _check_counters(counters)
    inference_steps = _positive_int("inference_steps", inference_steps, default=steps)
    ann_steps = _positive_int("ann_steps_per_inference", ann_steps_per_inference,
                              default=inference_steps)
    baseline = _baseline(ann_energy)
    if ann_macs not in ANN_MAC_COUNTS:
        raise ValidationError("energy_report", "ann_macs", f"must be one of "
                              f"{', '.join(ANN_MAC_COUNTS)}", ann_macs)
    real_time_step_s = _positive_float("real_time_step_s", real_time_step_s)

    activity = _activity(exe, counters, spikes, steps)
    counts = _counts(exe, counters, activity)
    time = _step_time(exe, counts, steps, real_time_step_s)
    counts.update(_static_counts(exe, time, steps))
    categories = {spec.name: _category(exe.profile, spec, *counts[spec.name],
                                       estimated=(spec.name.startswith("neuron_updates")
                                                  and not activity.exact_active))
                  for spec in CATEGORIES}
    counted = [c.joules for c in categories.values() if c.status == COUNTED]
    snn_j = sum(counted) / steps * inference_steps if counted else None
    partial = any(c.status == UNKNOWN for c in categories.values())
    return EnergyReport(
        network=exe.ir.name, profile=exe.profile.name,
        partition=exe.partition.strategy, place=exe.placement.strategy,
        n_cores=exe.n_cores, n_chips=exe.n_chips, steps=steps,
        inference_steps=inference_steps, categories=categories, time=time,
        ann=_ann(exe.ir, snn_j, partial, baseline, ann_macs, ann_steps),
        exact_activity=activity.exact_active, energy_note=exe.profile.energy.note,
        notes=activity.notes)


def energy_label(ratio: float | None) -> str | None:
    """The A-G label of an ANN/SNN energy ratio (:data:`LABELS`); None for no ratio."""
    if ratio is None or not math.isfinite(ratio):
        return None
    for label, lowest in LABELS:
        if ratio >= lowest:
            return label
    return WORST_LABEL


# ==================================================================================================
# activity: spikes per unit, active updates per unit
# ==================================================================================================
@dataclass(frozen=True, eq=False)
class _Activity:
    unit_spikes: np.ndarray          # float64 (n_units,): spikes of each unit (or the estimate)
    active: np.ndarray               # float64 (n_units,): active updates of each neuron unit
    exact_spikes: bool
    exact_active: bool
    notes: tuple[str, ...]


def _activity(exe: Any, counters: Any, spikes: Any, steps: int) -> _Activity:
    ir = exe.ir
    events = _spike_events(ir, spikes, steps)
    if events is not None:
        unit_spikes = np.zeros(ir.n_units)
        for pop in ir.populations:
            unit_spikes[pop.offset:pop.stop] = np.bincount(events[pop.name][1],
                                                           minlength=pop.size)
        active = active_updates(ir, {name: _Events(*pair) for name, pair in events.items()},
                                steps).astype(np.float64)
        note = ("active neuron updates counted exactly from the run's spikes: updates of a neuron "
                "that received at least one synaptic event in that step, or spiked")
        return _Activity(unit_spikes, active, True, True, (note,))
    per_process = counters.per_process or {}
    unit_spikes = np.zeros(ir.n_units)
    for pop in ir.populations:
        counted = per_process.get(pop.name, {}).get("spikes", 0)
        unit_spikes[pop.offset:pop.stop] = counted / max(pop.size, 1)
    active = _estimated_active(ir, per_process, steps)
    note = ("active neuron updates estimated from the counters (no spikes given): synaptic "
            "events assumed spread at random over a population's neurons and steps; pass "
            "spikes=rt for exact counts")
    split = ("per-core split from counters alone: each unit of a process given the process's "
             "mean spike count, scaled to the counters' totals")
    return _Activity(unit_spikes, active, False, False, (note, split))


@dataclass(frozen=True)
class _Events:
    times: np.ndarray
    indices: np.ndarray


def _spike_events(ir: Any, spikes: Any, steps: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{population: (times, indices)}`` sorted by time, or None when no spikes were given."""
    if spikes is None:
        return None
    out = {}
    for pop in ir.populations:
        try:
            events = spikes.spikes(pop.name) if hasattr(spikes, "spikes") else spikes[pop.name]
        except (KeyError, TypeError):
            raise ValidationError("energy_report", "spikes", f"has no spikes of population "
                                  f"'{pop.name}'; give a Runtime or {{name: SpikeEvents}} for "
                                  f"every population") from None
        times = np.asarray(getattr(events, "times", None), dtype=np.int64)
        indices = np.asarray(getattr(events, "indices", None), dtype=np.int64)
        if times.shape != indices.shape or times.ndim != 1:
            raise ValidationError("energy_report", "spikes", f"entry '{pop.name}' must be a "
                                  "SpikeEvents (rt.spikes(process))", events)
        if times.size and (times.min() < 1 or times.max() > steps or indices.min() < 0
                           or indices.max() >= pop.size):
            raise ValidationError("energy_report", "spikes", f"entry '{pop.name}' has spikes "
                                  f"outside steps 1..{steps} or units 0..{pop.size - 1}; are the "
                                  "spikes and counters from the same run?")
        order = np.argsort(times, kind="stable")
        out[pop.name] = (times[order], indices[order])
    return out


def active_updates(ir: Any, spikes: Mapping[str, Any], steps: int) -> np.ndarray:
    """Active updates of each unit over steps ``1..steps``: int64 ``(n_units,)``.

    An update of neuron ``j`` at step ``s`` is active when at least one synaptic event arrives at
    ``j`` at ``s`` (a spike of a source unit at ``t`` through a synapse of delay ``d`` arrives at
    ``t + d``) or ``j`` spikes at ``s``. Source units are not neurons: their entries are 0.

    ``spikes`` maps every population name to its events (``.times`` from 1, ``.indices``). The work
    is proportional to the synaptic events; memory is bounded by processing blocks of steps.
    """
    n_units = ir.n_units
    is_neuron = np.zeros(n_units, dtype=bool)
    for pop in ir.populations:
        is_neuron[pop.offset:pop.stop] = not pop.is_source
    active = np.zeros(n_units, dtype=np.int64)
    if n_units == 0 or steps <= 0:
        return active
    block = max(1, min(steps, _ACTIVE_BLOCK // n_units))
    events = {name: (np.asarray(e.times, dtype=np.int64), np.asarray(e.indices, dtype=np.int64))
              for name, e in spikes.items()}
    for first in range(1, steps + 1, block):
        last = min(steps, first + block - 1)
        hit = np.zeros((last - first + 1, n_units), dtype=bool)
        for proj in ir.projections:
            if proj.carries_input:   # a third-factor spike drives a trace, not the neuron
                _mark_arrivals(hit, proj, ir.population(proj.post).offset, events[proj.pre],
                               first, last)
        for pop in ir.populations:
            if not pop.is_source:
                times, indices = events[pop.name]
                lo, hi = np.searchsorted(times, [first, last + 1])
                hit[times[lo:hi] - first, pop.offset + indices[lo:hi]] = True
        active += hit.sum(axis=0)
    active[~is_neuron] = 0
    return active


def _mark_arrivals(hit: np.ndarray, proj: Any, post_offset: int,
                   events: tuple[np.ndarray, np.ndarray], first: int, last: int) -> None:
    """Set ``hit[s - first, target]`` for every event of ``proj`` arriving at ``s`` in
    ``first..last``."""
    times, indices = events
    if proj.n_synapses == 0 or times.size == 0:
        return
    max_delay = int(proj.delays.max())
    lo, hi = np.searchsorted(times, [first - max_delay, last])  # sent before ``last`` can arrive
    times, indices = times[lo:hi], indices[lo:hi]
    counts = proj.indptr[indices + 1] - proj.indptr[indices]
    ends = np.cumsum(counts)
    start = 0
    while start < times.size:
        # a batch of spikes whose synapses total about _EVENT_BATCH (at least one spike)
        stop = max(start + 1, int(np.searchsorted(ends, (ends[start] - counts[start])
                                                  + _EVENT_BATCH, side="right")))
        batch_counts = counts[start:stop]
        total = int(batch_counts.sum())
        if total:
            row_start = np.repeat(proj.indptr[indices[start:stop]], batch_counts)
            offsets = np.arange(total) - np.repeat(np.cumsum(batch_counts) - batch_counts,
                                                   batch_counts)
            synapses = row_start + offsets
            arrival = np.repeat(times[start:stop], batch_counts) + proj.delays[synapses]
            inside = (arrival >= first) & (arrival <= last)
            hit[arrival[inside] - first, post_offset + proj.targets[synapses[inside]]] = True
        start = stop


def _estimated_active(ir: Any, per_process: Mapping[str, Mapping[str, int]],
                      steps: int) -> np.ndarray:
    """Active updates per unit from the counters alone (the Poisson estimate of the docstring)."""
    active = np.zeros(ir.n_units)
    out_synapses: dict[str, int] = {}
    for proj in ir.projections:
        out_synapses[proj.pre] = out_synapses.get(proj.pre, 0) + proj.n_synapses
    for pop in ir.populations:
        if pop.is_source or pop.size == 0:
            continue
        arriving = 0.0
        for proj in ir.projections_to(pop.name):
            sent = per_process.get(proj.pre, {}).get("synaptic_ops", 0)
            if out_synapses.get(proj.pre):
                arriving += sent * proj.n_synapses / out_synapses[proj.pre]
        neuron_steps = pop.size * steps
        p_input = 1.0 - math.exp(-arriving / neuron_steps)
        p_spike = min(1.0, per_process.get(pop.name, {}).get("spikes", 0) / neuron_steps)
        fraction = 1.0 - (1.0 - p_input) * (1.0 - p_spike)
        active[pop.offset:pop.stop] = fraction * steps
    return active


# ==================================================================================================
# counts per category, total and per core
# ==================================================================================================
def _counts(exe: Any, counters: Any, activity: _Activity) -> dict[str, tuple[Any, Any]]:
    """``{category: (total count, per-core counts)}`` for every category but static power."""
    n_cores = exe.n_cores
    unit_core = exe.partition.unit_core
    spikes = activity.unit_spikes
    costs = exe.unit_costs.astype(np.float64)

    def by_sender(per_unit: np.ndarray) -> np.ndarray:
        return np.bincount(unit_core, weights=per_unit, minlength=n_cores).astype(np.float64)

    traffic = _traffic_totals(exe, counters, activity)
    out: dict[str, tuple[Any, Any]] = {}
    synaptic = float(counters.synaptic_ops)
    out["synaptic_ops"] = (synaptic, _scaled(_synapse_events_per_core(exe, spikes), synaptic))
    learned = float(getattr(counters, "synaptic_updates", 0) or 0)
    # updates are spread over the cores in proportion to the plastic synapses each holds
    plastic = plastic_synapses_per_core(exe.ir, exe.partition.unit_core, exe.n_cores)
    out["synaptic_updates"] = (learned, _scaled(plastic.astype(np.float64), learned))
    updates = float(counters.neuron_updates)
    neurons = np.zeros(exe.ir.n_units)
    for pop in exe.ir.populations:
        neurons[pop.offset:pop.stop] = 0.0 if pop.is_source else 1.0
    per_core_updates = _scaled(by_sender(neurons), updates)
    active = min(float(activity.active.sum()), updates)
    per_core_active = np.minimum(_scaled(by_sender(activity.active), active), per_core_updates)
    active = float(per_core_active.sum())
    out["neuron_updates_active"] = (active, per_core_active)
    out["neuron_updates_inactive"] = (updates - active, per_core_updates - per_core_active)
    out["spikes_within_core"] = (traffic["messages_core"],
                                 _scaled(by_sender(spikes * costs[:, 0]),
                                         traffic["messages_core"]))
    out["chip_to_chip"] = (traffic["messages_chips"],
                           _scaled(by_sender(spikes * costs[:, 2]), traffic["messages_chips"]))
    ew, ns = _hop_split(traffic)
    out["hops_ew"] = (ew, _scaled(by_sender(spikes * costs[:, 4]), ew))
    out["hops_ns"] = (ns, _scaled(by_sender(spikes * costs[:, 5]), ns))
    if exe.routing.multicast:
        # one traversal at the source router per spike that has a destination, one per link
        routed = (costs[:, :3].sum(axis=1) > 0).astype(np.float64)
        traversals = float(spikes @ routed) + traffic["hops"]
        per_unit = spikes * (routed + costs[:, 3])
    else:
        traversals = traffic["messages"] + traffic["hops"]
        per_unit = spikes * (costs[:, :3].sum(axis=1) + costs[:, 3])
    out["router_bits"] = (traversals, _scaled(by_sender(per_unit), traversals))
    return out


def _traffic_totals(exe: Any, counters: Any, activity: _Activity) -> dict[str, float]:
    names = ("messages_core", "messages_cores", "messages_chips", "hops", "hops_x", "hops_y")
    values = {name: getattr(counters, name, None) for name in names}
    if any(value is None for value in values.values()):
        # a run without a mapping: what the routing predicts for its spikes
        totals = activity.unit_spikes @ exe.unit_costs.astype(np.float64)
        values = dict(zip(names, (float(v) for v in totals)))
    out = {name: float(value) for name, value in values.items()}
    out["messages"] = out["messages_core"] + out["messages_cores"] + out["messages_chips"]
    return out


def _hop_split(traffic: Mapping[str, float]) -> tuple[float, float]:
    """Total hops split into east-west and north-south (see the module docstring)."""
    unicast = traffic["hops_x"] + traffic["hops_y"]
    if unicast == 0:
        return 0.0, 0.0
    share_x = traffic["hops_x"] / unicast
    return traffic["hops"] * share_x, traffic["hops"] * (1.0 - share_x)


def _synapse_events_per_core(exe: Any, unit_spikes: np.ndarray) -> np.ndarray:
    """Synaptic events on each core: spikes of each input axon's source x its synapses there."""
    routing, tables = exe.routing, exe.tables
    axon_core = np.repeat(np.arange(exe.n_cores), np.diff(routing.axon_indptr))
    synapses = np.diff(tables.axon_syn_ptr).astype(np.float64)
    weights = unit_spikes[routing.axon_source] * synapses
    return np.bincount(axon_core, weights=weights, minlength=exe.n_cores).astype(np.float64)


def _scaled(per_core: np.ndarray, total: float) -> np.ndarray:
    """``per_core`` scaled to add up to ``total`` (evenly spread when it is all zero)."""
    per_core = np.asarray(per_core, dtype=np.float64)
    found = float(per_core.sum())
    if total == 0 or per_core.size == 0:
        return np.zeros_like(per_core)
    if found == 0:
        return np.full_like(per_core, total / per_core.size)
    return per_core * (total / found)


def _static_counts(exe: Any, time: StepTime, steps: int) -> dict[str, tuple[Any, Any]]:
    """Chip-seconds and core-seconds of the run (None when the time per step is unknown)."""
    if time.per_step_s is None:
        return {"static_chips": (None, None), "static_cores": (None, None)}
    run_s = steps * time.per_step_s
    chips = np.asarray(exe.placement.core_chip)
    cores_on_chip = np.bincount(chips)[chips].astype(np.float64)
    per_core_chip = run_s / cores_on_chip
    return {"static_chips": (float(exe.n_chips * run_s), per_core_chip),
            "static_cores": (float(exe.n_cores * run_s), np.full(exe.n_cores, run_s))}


def _category(profile: Any, spec: CategorySpec, count: float | None, per_core: Any, *,
              estimated: bool) -> EnergyCategory:
    energy = profile.energy
    constant = getattr(energy, spec.constant)
    name = f"energy.{spec.constant}"
    source = energy.sources.get(spec.constant, "")
    uncertain = spec.constant in energy.uncertain
    if spec.name == "router_bits":
        constant, name, source, uncertain = _router_constant(profile, constant, source, uncertain)
    in_model = any(getattr(energy, key) is not None for key in _GROUPS[spec.group])
    if count is not None and count == 0:
        status, joules = NONE, 0.0
    elif constant is not None and count is not None:
        status, joules = COUNTED, float(count * constant)
    elif in_model:
        status, joules = UNKNOWN, None
    else:
        status, joules = NOT_MODELLED, None
    per_core_j = None
    if status in (COUNTED, NONE) and per_core is not None:
        per_core_j = np.asarray(per_core, dtype=np.float64) * (constant or 0.0)
    if not source and status == NOT_MODELLED:
        source = "not in this profile's energy model"
    return EnergyCategory(
        name=spec.name, label=spec.label, count=count, count_unit=spec.count_unit,
        constant=constant, constant_name=name, source=source, uncertain=uncertain, status=status,
        joules=joules, per_core_count=None if per_core is None else np.asarray(per_core),
        per_core_j=per_core_j, estimated=estimated)


def _router_constant(profile: Any, bit_j: float | None, source: str,
                     uncertain: bool) -> tuple[float | None, str, str, bool]:
    """Joules per packet traversal: ``packet_bits x router_bit_j``."""
    bits = profile.packet_bits
    name = "packet_bits x energy.router_bit_j"
    bits_source = profile.sources.get("packet_bits", "")
    text = "; ".join(part for part in (f"packet_bits: {bits_source}" if bits_source else "",
                                       f"router_bit_j: {source}" if source else "") if part)
    uncertain = uncertain or "packet_bits" in profile.uncertain
    if bit_j is None or bits is None:
        return None, name, text, uncertain
    return bits * bit_j, name, text, uncertain


# ==================================================================================================
# time per step
# ==================================================================================================
def _step_time(exe: Any, counts: Mapping[str, tuple[Any, Any]], steps: int,
               real_time_step_s: float) -> StepTime:
    profile = exe.profile
    energy = profile.energy
    notes: list[str] = []
    latencies = (energy.synaptic_op_s, energy.neuron_update_active_s,
                 energy.neuron_update_inactive_s)
    per_core_s = compute_s = slowest = None
    if all(value is not None for value in latencies):
        learning_s = counts["synaptic_updates"][1] * (energy.synaptic_update_s or 0.0)
        if counts["synaptic_updates"][0] and energy.synaptic_update_s is None:
            notes.append("no latency for synaptic updates in the profile: learning time left out")
        per_core_s = (counts["synaptic_ops"][1] * energy.synaptic_op_s + learning_s
                      + counts["neuron_updates_active"][1] * energy.neuron_update_active_s
                      + counts["neuron_updates_inactive"][1] * energy.neuron_update_inactive_s
                      ) / steps
        slowest = int(np.argmax(per_core_s)) if per_core_s.size else None
        compute_s = float(per_core_s.max(initial=0.0))
        notes.append("compute: the slowest core's mean step (synaptic events and neuron "
                     "updates x their latencies); message latencies overlap the compute")
    else:
        notes.append("no per-operation latencies in the profile: compute time unknown")
    barrier = _barrier(energy, exe.n_cores, notes)
    if compute_s is not None and barrier is not None:
        compute_s += barrier
    tick = profile.time_step_s
    if tick is not None:
        if compute_s is None:
            per_step, real_time = tick, "unverified"
            notes.append(f"fixed {_seconds(tick)} tick; whether every core finishes within it "
                         "is not checked (no latencies)")
        else:
            per_step = max(tick, compute_s)
            real_time = "yes" if compute_s <= tick else "no"
    elif compute_s is not None:
        per_step = compute_s
        real_time = "yes" if compute_s <= real_time_step_s else "no"
        notes.append(f"no fixed tick: runs as fast as it can; real time means a step within "
                     f"{_seconds(real_time_step_s)}")
    else:
        per_step, real_time = None, "unknown"
    return StepTime(per_step_s=per_step, compute_s=compute_s, slowest_core=slowest,
                    barrier_s=barrier, tick_s=tick, real_time=real_time,
                    real_time_step_s=real_time_step_s, per_core_s=per_core_s, notes=tuple(notes))


def _barrier(energy: Any, n_cores: int, notes: list[str]) -> float | None:
    """The end-of-step barrier for ``n_cores`` tiles (interpolated, see the module docstring)."""
    low, high = energy.barrier_min_s, energy.barrier_max_s
    if low is None and high is None:
        return None
    if low is None or high is None:
        return low if high is None else high
    first, last = BARRIER_TILES
    tiles = max(n_cores, first)
    if tiles > last:
        notes.append(f"barrier: {n_cores} tiles, beyond the {last} measured; the {last}-tile "
                     f"value {_seconds(high)} is used (a lower bound)")
        return high
    value = low + (high - low) * (tiles - first) / (last - first)
    notes.append(f"barrier: {_seconds(value)} for {n_cores} tile(s), interpolated between "
                 f"{_seconds(low)} (1 tile) and {_seconds(high)} ({last} tiles)")
    return value


# ==================================================================================================
# ANN comparison
# ==================================================================================================
def _ann(ir: Any, snn_j: float | None, partial: bool, baseline: AnnBaseline, mac_count: str,
         steps_per_inference: int) -> AnnComparison:
    if mac_count == "dense":
        macs = sum(int(proj.n_pre) * int(proj.n_post) for proj in ir.projections)
    else:
        macs = sum(int(proj.n_synapses) for proj in ir.projections)
    neurons = sum(pop.size for pop in ir.populations if not pop.is_source)
    ann_j = (macs + neurons) * baseline.mac_j * steps_per_inference
    ratio = ann_j / snn_j if snn_j else None
    return AnnComparison(baseline=baseline, mac_count=mac_count, macs_per_step=macs,
                         neuron_ops_per_step=neurons, steps_per_inference=steps_per_inference,
                         ann_j_per_inference=ann_j, snn_j_per_inference=snn_j, ratio=ratio,
                         label=energy_label(ratio), partial=partial)


def _baseline(value: Any) -> AnnBaseline:
    if isinstance(value, AnnBaseline):
        return value
    if isinstance(value, str):
        if value not in ANN_BASELINES:
            raise ValidationError("energy_report", "ann_energy", f"unknown baseline; use one of "
                                  f"{', '.join(ANN_BASELINES)}, joules per MAC or an "
                                  "AnnBaseline", value)
        return ANN_BASELINES[value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value) or value <= 0:
            raise ValidationError("energy_report", "ann_energy", "joules per MAC must be "
                                  "positive", value)
        return AnnBaseline("custom", float(value), "set by user (joules per MAC)")
    raise ValidationError("energy_report", "ann_energy", "must be a baseline name, joules per MAC "
                          "or an AnnBaseline", value)


# ==================================================================================================
# input checks
# ==================================================================================================
def _check_exe(exe: Any) -> None:
    needed = ("ir", "profile", "partition", "placement", "routing", "tables", "unit_costs")
    if not all(hasattr(exe, name) for name in needed):
        raise ValidationError("energy_report", "exe", "must be an Executable (nm.compile(...))",
                              exe)


def _check_counters(counters: Any) -> int:
    steps = getattr(counters, "steps", None)
    if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool):
        raise ValidationError("energy_report", "counters", "must be the Counters of a run "
                              "(rt.counters)", counters)
    if steps < 1:
        raise ValidationError("energy_report", "counters", "come from a run of 0 steps; run at "
                              "least one step", steps)
    return int(steps)


def _positive_int(name: str, value: Any, *, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValidationError("energy_report", name, "must be a positive int or None", value)
    return int(value)


def _positive_float(name: str, value: Any) -> float:
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not math.isfinite(value) or value <= 0):
        raise ValidationError("energy_report", name, "must be a positive number of seconds",
                              value)
    return float(value)


# ==================================================================================================
# text
# ==================================================================================================
_SI = ((1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p"), (1e-15, "f"))


def format_si(value: float | None, unit: str) -> str:
    """``value`` with an SI prefix and 3 significant digits (``"58.6 nJ"``); None: ``"unknown"``."""
    if value is None:
        return "unknown"
    if value == 0:
        return f"0 {unit}"
    magnitude = abs(value)
    for scale, prefix in _SI:
        if magnitude >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def _joules(value: float | None) -> str:
    return format_si(value, "J")


def _seconds(value: float | None) -> str:
    return format_si(value, "s")


def format_ratio(value: float | None) -> str:
    """An ANN/SNN ratio as ``"23.6x"`` (``"-"`` for None)."""
    if value is None:
        return "-"
    return f"{value:,.0f}x" if value >= 100 else f"{value:.3g}x"


def _count(value: float | None) -> str:
    if value is None:
        return "unknown"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.3g}"


def _constant(category: EnergyCategory) -> str:
    if category.constant is None:
        return "-"
    unit = "W" if category.count_unit.endswith("-seconds") else "J"
    return format_si(category.constant, unit)


def _md_summary(report: EnergyReport) -> str:
    total = _joules(report.total_j)
    if report.unknown:
        total += f" (partial: {', '.join(report.unknown)} unknown)"
    elif report.total_j is None:
        total += " (the profile has no energy constants)"
    rows = [
        ("mapping", f"{report.profile}, partition `{report.partition}`, place `{report.place}`: "
                    f"{report.n_cores:,} cores on {report.n_chips:,} chip(s)"),
        ("run", f"{report.steps:,} steps; inference window {report.inference_steps:,} steps "
                f"({report.inferences:.3g} windows)"),
        ("energy", total),
        ("per step", _joules(report.per_step_j)),
        ("per inference window", _joules(report.per_inference_j)),
        ("time per step", f"{_seconds(report.time.per_step_s)} (real time: "
                          f"{report.time.real_time})"),
        ("ANN / SNN energy", f"{format_ratio(report.ann.ratio)} ({report.ann.baseline.name} MACs); "
                             f"label {report.ann.label_text}"),
    ]
    return (f"# Energy report: '{report.network}' on {report.profile}\n\n"
            + markdown.table(("summary", ""), rows))


def _md_categories(report: EnergyReport) -> str:
    total = report.total_j or 0.0
    rows = []
    for c in report.categories.values():
        share = f"{100 * c.joules / total:.1f}%" if c.joules is not None and total else "-"
        joules = _joules(c.joules) if c.status in (COUNTED, NONE) else c.status
        count = _count(c.count) + (" (estimate)" if c.estimated and c.count else "")
        rows.append((c.label, f"{count} {c.count_unit}", _constant(c), joules, share,
                     "yes" if c.uncertain else "", f"{c.constant_name}: {c.source or '-'}"))
    header = ("category", "count", "constant", "energy", "share", "uncertain", "source")
    text = "## Energy by category\n\n" + markdown.table(header, rows)
    if report.energy_note:
        text += f"\n\nProfile energy model: {report.energy_note}"
    return text


def _md_time(report: EnergyReport) -> str:
    time = report.time
    slowest = "-" if time.slowest_core is None else f"core {time.slowest_core}"
    rows = [("time per step", _seconds(time.per_step_s)),
            ("compute (slowest core, mean step) + barrier", _seconds(time.compute_s)),
            ("slowest core", slowest),
            ("barrier", _seconds(time.barrier_s) if time.barrier_s is not None else "-"),
            ("fixed tick", _seconds(time.tick_s) if time.tick_s is not None else "none"),
            ("keeps real time", time.real_time)]
    text = "## Time per step\n\n" + markdown.table(("", ""), rows)
    if time.notes:
        text += "\n\n" + "\n".join(f"- {note}" for note in time.notes)
    return text


def _md_ann(report: EnergyReport) -> str:
    ann = report.ann
    counted = "n_pre x n_post per projection" if ann.mac_count == "dense" else "synapses"
    rows = [("MACs per step", f"{ann.macs_per_step:,} ({counted})"),
            ("neuron updates per step", f"{ann.neuron_ops_per_step:,} (one MAC each)"),
            ("energy per MAC", f"{_joules(ann.baseline.mac_j)} ({ann.baseline.name}: "
                               f"{ann.baseline.source})"),
            ("ANN steps per inference window", f"{ann.steps_per_inference:,}"),
            ("ANN energy per inference window", _joules(ann.ann_j_per_inference)),
            ("SNN energy per inference window", _joules(ann.snn_j_per_inference)),
            ("ratio ANN / SNN", format_ratio(ann.ratio) + (" (upper bound: SNN energy partial)"
                                                     if ann.partial and ann.ratio else "")),
            ("label", ann.label_text)]
    thresholds = ", ".join(f"{label} >= {lowest:g}x" for label, lowest in LABELS)
    return ("## Compared with a dense ANN\n\n" + markdown.table(("", ""), rows)
            + f"\n\nLabels: {thresholds}, {WORST_LABEL} below.")


def _md_cores(report: EnergyReport) -> str:
    per_core = report.per_core_j
    if report.total_j is None:
        return "## Energy by core\n\nunknown (no energy constants)"
    order = np.argsort(-per_core, kind="stable")[:MAX_CORE_ROWS]
    time = report.time.per_core_s
    rows = [(int(core), _joules(per_core[core]),
             f"{100 * per_core[core] / report.total_j:.1f}%" if report.total_j else "-",
             _seconds(None if time is None else float(time[core])))
            for core in order]
    text = "## Energy by core (highest first)\n\n" + markdown.table(
        ("core", "energy", "share", "compute per step"), rows)
    if report.n_cores > MAX_CORE_ROWS:
        text += f"\n\n{report.n_cores - MAX_CORE_ROWS:,} more cores in to_json()."
    return text


def _md_notes(report: EnergyReport) -> str:
    return "## How this was computed\n\n" + "\n".join(f"- {note}" for note in report.notes)


def _category_dict(category: EnergyCategory) -> dict[str, Any]:
    return {"label": category.label, "count": category.count, "count_unit": category.count_unit,
            "constant": category.constant, "constant_name": category.constant_name,
            "source": category.source, "uncertain": category.uncertain,
            "status": category.status, "joules": category.joules,
            "estimated": category.estimated, "per_core_j": category.per_core_j}


