"""MappingReport: how a compiled network uses the cores, chips and mesh of its hardware profile.

:func:`build_report` reads an :class:`~nmgraph.compilers.executable.Executable`'s arrays (partition
usage, placement, routing) and gathers what mapping studies compare: cores used against the lower
bound, per-resource utilisation of every core, chips used, the spike messages the routing implies
and how far they travel, router table sizes, what quantization changed and how long each compiler
pass took. ``exe.report`` builds it once per Executable.

Traffic basis
-------------
When ``nm.compile`` was given ``rates`` (expected spikes per step of each unit), message and hop
figures are *expected values per step*. Otherwise they count what *one spike of every unit* causes:
the traffic the mapping implies, independent of activity. :attr:`TrafficSummary.basis` says which.

A message is one spike delivered to one core, following the profile's routing model
(``compilers/route.py``). Unicast (Loihi, TrueNorth): a spike of unit ``u`` sends one message to
each core that holds a target of ``u``, including its own. Multicast (SpiNNaker): a spike of ``u``
is one packet with the key of ``u``'s core, delivered to every core of the union of the core's
units' destination cores, so every unit of a core counts the same deliveries. Messages split into
*within a core* (to its own core), *between cores* (another core of the same chip) and *between
chips*. The path length of a message is its hop count from the sending core to the receiving one:
X-then-Y on the mesh of cores, or on the grid of chips for ``chip_router`` profiles (SpiNNaker:
the hexagonal distance on six links). Total hops are the links traversed: the sum of the paths for
unicast profiles, the links of each spike's multicast tree for multicast ones.

Utilisation
-----------
Each resource of :data:`~nmgraph.compilers.mapping_data.RESOURCES` is listed per core and summarised
(min/mean/max, absolute and as a fraction of the per-core limit). Neurons and output axons are
summarised over every core; input axons, synapses and synapse bits over the neuron cores only,
since source cores hold none. A resource without a limit on the profile has no fractions.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nmgraph.compilers.mapping_data import RESOURCES
from nmgraph.compilers.place import hop_positions
from nmgraph.compilers.quantize import QuantizationReport
from nmgraph.compilers.topology import grid_distance
from nmgraph.core import markdown
from nmgraph.core.jsonable import to_plain

__all__ = ["MappingReport", "ResourceUse", "RouterTables", "TrafficSummary", "build_report",
           "core_traffic_matrix"]

#: How the markdown names each resource.
RESOURCE_LABELS = {"neurons": "neurons", "axons_in": "input axons", "axons_out": "output axons",
                   "synapses": "synapses", "synapse_bits": "synapse memory (bits)"}
#: Resources source cores never use (their statistics cover neuron cores only).
NEURON_CORE_RESOURCES = ("axons_in", "synapses", "synapse_bits")
#: Traffic bases (see the module docstring).
PER_STEP, PER_SPIKE = "per step", "per spike of every unit"
#: Per-core rows shown in the markdown before it refers to ``to_json()`` for the rest.
MAX_CORE_ROWS = 32
#: Chips listed one by one in the router table section.
MAX_CHIP_ROWS = 16
#: Hop histogram rows in the markdown (longer paths are grouped into ranges).
MAX_HOP_ROWS = 16
#: Ranges of one population listed in a core's row before they are summarised.
MAX_SLICE_RANGES = 3
#: Width, in characters, of the longest bar of the markdown hop histogram.
BAR_WIDTH = 24


@dataclass(frozen=True, eq=False)
class ResourceUse:
    """Use of one resource on every core.

    Attributes
    ----------
    name
        Resource name (see :data:`~nmgraph.compilers.mapping_data.RESOURCES`).
    per_core
        int64 ``(n_cores,)``: amount each core uses.
    limit
        The profile's per-core limit for neuron cores, or None (no limit).
    limit_per_core
        int64 ``(n_cores,)``: the limit of each core (source cores may differ), or None.
    in_scope
        bool ``(n_cores,)``: the cores the statistics cover.
    lower_bound
        Cores this resource alone needs (from the partitioner), or None when not computed.
    """

    name: str
    per_core: np.ndarray
    limit: int | None
    limit_per_core: np.ndarray | None
    in_scope: np.ndarray
    lower_bound: int | None

    @property
    def fraction(self) -> np.ndarray | None:
        """float64 ``(n_cores,)``: use as a fraction of each core's limit, or None."""
        if self.limit_per_core is None:
            return None
        return self.per_core / self.limit_per_core

    @property
    def scope(self) -> str:
        """Which cores the statistics cover: ``"neuron cores"`` or ``"all cores"``."""
        return "neuron cores" if self.name in NEURON_CORE_RESOURCES else "all cores"

    def stats(self) -> dict[str, float | int | None]:
        """``min``, ``mean``, ``max`` (absolute) and ``min_fraction`` ... (None without a limit
        or without cores in scope)."""
        used = self.per_core[self.in_scope]
        out: dict[str, float | int | None] = dict.fromkeys(
            ("min", "mean", "max", "min_fraction", "mean_fraction", "max_fraction"))
        if used.size == 0:
            return out
        out.update(min=int(used.min()), mean=float(used.mean()), max=int(used.max()))
        fraction = self.fraction
        if fraction is not None:
            part = fraction[self.in_scope]
            out.update(min_fraction=float(part.min()), mean_fraction=float(part.mean()),
                       max_fraction=float(part.max()))
        return out


@dataclass(frozen=True, eq=False)
class TrafficSummary:
    """Spike messages the routing implies, and how far they travel (see the module docstring).

    Values are expected counts per step (``basis == "per step"``) or counts for one spike of every
    unit (``basis == "per spike of every unit"``).

    Attributes
    ----------
    within_core, between_cores, between_chips
        Messages to the sender's own core, to another core of its chip, to another chip.
    hops, hops_x, hops_y
        Links traversed in total (multicast trees on multicast profiles) and the x (east-west) and
        y (north-south) parts of the unicast paths.
    hop_histogram
        float64: ``hop_histogram[h]`` messages whose path is ``h`` hops long.
    messages_out, messages_in
        float64 ``(n_cores,)``: messages each core sends, and receives.
    max_fanout_cores
        Most destination cores of one unit.
    """

    basis: str
    within_core: float
    between_cores: float
    between_chips: float
    hops: float
    hops_x: float
    hops_y: float
    hop_histogram: np.ndarray
    messages_out: np.ndarray
    messages_in: np.ndarray
    max_fanout_cores: int
    multicast: bool
    hop_grid: str

    @property
    def total(self) -> float:
        """All messages: within a core + between cores of a chip + between chips."""
        return self.within_core + self.between_cores + self.between_chips

    @property
    def mean_hops(self) -> float:
        """Links per message, over all messages (those within a core travel 0 hops)."""
        return self.hops / self.total if self.total else 0.0

    @property
    def mean_hops_between_cores(self) -> float:
        """Links per message that leaves its core."""
        leaving = self.between_cores + self.between_chips
        return self.hops / leaving if leaving else 0.0


@dataclass(frozen=True, eq=False)
class RouterTables:
    """Routing-table entries per chip (profiles with tables, such as SpiNNaker's 1,023).

    ``entries`` is int64, one per chip of the placement's chip grid: what each chip holds (its
    merged table, or that table compressed by ordered covering until it fits when it does not);
    ``uncompressed`` and ``compressed`` (None without tables) give the merged tables and the
    tables after ordered covering as far as it goes (``compilers/route_multicast.py``); ``limit``
    is None when the profile routes without tables (Loihi, TrueNorth, generic).
    """

    entries: np.ndarray
    limit: int | None
    chips_used: np.ndarray
    uncompressed: np.ndarray | None = None
    compressed: np.ndarray | None = None

    @property
    def max(self) -> int:
        """Entries of the fullest router (0 when there is none)."""
        return int(self.entries.max(initial=0))

    @property
    def overflowing(self) -> list[int]:
        """Chips whose table holds more entries than the limit."""
        if self.limit is None:
            return []
        return [int(chip) for chip in np.flatnonzero(self.entries > self.limit)]


@dataclass(frozen=True, eq=False)
class MappingReport:
    """How one compiled network uses its hardware (built by :func:`build_report`).

    ``print(exe.report.to_markdown())`` shows it; :meth:`to_json` gives the same numbers (and
    every per-core array) as plain JSON; :func:`nmgraph.tools.plot.core_map` and
    :func:`nmgraph.tools.plot.traffic_matrix` draw it.
    """

    network: str
    n_units: int
    n_neurons: int
    n_sources: int
    n_synapses: int
    n_projections: int
    profile: str
    system: str | None
    topology: str
    partition: str
    place: str
    seed: int | None
    max_neurons_per_core: int | None
    n_cores: int
    core_kind: list[str]
    core_chip: np.ndarray
    core_xy: np.ndarray
    core_slices: list[list[tuple[str, int, int]]]
    lower_bound: dict[str, int]
    chips_used: int
    chips_available: int | None
    cores_per_chip: int | None
    fanout_limit: int | None
    resources: dict[str, ResourceUse]
    traffic: TrafficSummary
    router: RouterTables
    quantization: QuantizationReport
    timings_s: dict[str, float]
    notes: list[str] = field(default_factory=list)
    executable: Any = field(default=None, repr=False)
    #: One line on plastic synapses (None when the network does not learn).
    learning: str | None = None
    #: Length of a step of the network in ms, and of the chip's real-time step (None: none).
    dt_ms: float = 1.0
    chip_step_ms: float | None = None

    @property
    def n_neuron_cores(self) -> int:
        """Cores holding neurons."""
        return sum(kind == "neuron" for kind in self.core_kind)

    @property
    def n_source_cores(self) -> int:
        """Cores holding spike sources only."""
        return sum(kind == "source" for kind in self.core_kind)

    @property
    def binding_resource(self) -> str | None:
        """The resource behind the overall lower bound on cores."""
        bounds = {k: v for k, v in self.lower_bound.items() if k != "cores"}
        return max(bounds, key=bounds.get) if bounds else None

    # ------------------------------------------------------------------ output
    def to_dict(self) -> dict[str, Any]:
        """Every figure of the report, with per-core arrays as lists (plain JSON types only)."""
        return to_plain(_report_dict(self))

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def to_markdown(self) -> str:
        """The report as markdown tables: summary, utilisation, traffic, hops, routers, ..."""
        sections = [_md_summary(self), _md_resources(self), _md_traffic(self), _md_hops(self),
                    _md_router(self), _md_quantization(self), _md_cores(self), _md_timings(self)]
        return "\n\n".join(section for section in sections if section) + "\n"

    def save(self, path: str | Path) -> Path:
        """Write the markdown (``.md``) or JSON (``.json``) form, chosen by the suffix."""
        path = Path(path)
        text = self.to_json() if path.suffix.lower() == ".json" else self.to_markdown()
        path.write_text(text, encoding="utf-8")
        return path


# ==================================================================================================
# building
# ==================================================================================================
def build_report(exe) -> MappingReport:
    """Gather the :class:`MappingReport` of a compiled Executable."""
    ir, profile, options = exe.ir, exe.profile, exe.options
    populations = ir.populations
    return MappingReport(
        network=ir.name, n_units=ir.n_units,
        n_neurons=sum(p.size for p in populations if not p.is_source),
        n_sources=sum(p.size for p in populations if p.is_source),
        n_synapses=int(ir.n_synapses), n_projections=len(ir.projections),
        profile=profile.name, system=profile.system, topology=profile.topology,
        partition=exe.partition.strategy, place=exe.placement.strategy,
        seed=options.get("seed"), max_neurons_per_core=options.get("max_neurons_per_core"),
        n_cores=exe.n_cores, core_kind=list(exe.partition.core_kind),
        core_chip=np.asarray(exe.placement.core_chip, dtype=np.int64),
        core_xy=np.asarray(exe.placement.core_xy, dtype=np.int64),
        core_slices=[core.slices for core in exe.cores],
        lower_bound={k: int(v) for k, v in exe.partition.lower_bound.items()},
        chips_used=exe.n_chips, chips_available=profile.max_chips,
        cores_per_chip=profile.cores_per_chip, fanout_limit=profile.fanout_cores_per_neuron,
        resources=_resources(exe), traffic=_traffic(exe), router=_router(exe),
        quantization=exe.quantization,
        timings_s={k: float(v) for k, v in options.get("timings_s", {}).items()},
        notes=list(exe.partition.notes), executable=exe, dt_ms=ir.dt_ms,
        chip_step_ms=None if profile.time_step_s is None else profile.time_step_s * 1e3,
        learning=_learning_text(exe))


def _learning_text(exe) -> str | None:
    """Plastic synapses, their rules and the learning state they add to synapse memory."""
    plastic = [proj for proj in exe.ir.projections if proj.is_plastic]
    if not plastic:
        return None
    from nmgraph.compilers.learning_memory import learning_bits

    bits = learning_bits(exe.ir, exe.partition.unit_core, exe.n_cores)
    synapses = sum(proj.n_synapses for proj in plastic)
    epochs = sorted({proj.learning.rule.t_epoch for proj in plastic})
    third = sum(1 for proj in plastic if proj.learning.third_factor)
    cores = int(np.count_nonzero(bits))
    return (f"{synapses:,} plastic synapses in {len(plastic)} projection"
            f"{'s' * (len(plastic) > 1)} (learning epoch {', '.join(map(str, epochs))} "
            f"step{'s' * (epochs != [1])}{f'; {third} with a third factor' if third else ''}); "
            f"learning state (tags, delays, traces) {int(bits.sum()):,} bits of synapse memory "
            f"on {cores:,} core{'s' * (cores != 1)}")


def _resources(exe) -> dict[str, ResourceUse]:
    is_neuron_core = np.array([kind == "neuron" for kind in exe.partition.core_kind], dtype=bool)
    out = {}
    for name in RESOURCES:
        limit = _limit(exe.profile, name)
        limit_per_core = None
        if limit is not None:
            limit_per_core = np.full(exe.n_cores, limit, dtype=np.int64)
            if name == "neurons":
                limit_per_core[~is_neuron_core] = exe.profile.spike_source_capacity
        scope = is_neuron_core if name in NEURON_CORE_RESOURCES else np.ones_like(is_neuron_core)
        out[name] = ResourceUse(
            name=name, per_core=np.asarray(exe.partition.usage[name], dtype=np.int64),
            limit=limit, limit_per_core=limit_per_core, in_scope=scope,
            lower_bound=exe.partition.lower_bound.get(name))
    return out


def _limit(profile, resource: str) -> int | None:
    return {"neurons": profile.neurons_per_core, "axons_in": profile.axons_in_per_core,
            "axons_out": profile.axons_out_per_core, "synapses": profile.synapse_capacity,
            "synapse_bits": profile.synapse_memory_bits_per_core}[resource]


def _pair_owners(exe) -> np.ndarray:
    """The source unit of each (unit, destination core) pair of the routing."""
    counts = np.diff(exe.routing.dest_indptr)
    return np.repeat(np.arange(counts.size, dtype=np.int64), counts)


def _traffic(exe) -> TrafficSummary:
    routing, unit_core = exe.routing, exe.partition.unit_core
    rates = exe.rates
    costs = exe.unit_costs
    totals = costs.sum(axis=0).astype(np.float64) if rates is None else rates @ costs
    messages_per_unit = costs[:, :3].sum(axis=1)
    out_weight = messages_per_unit if rates is None else rates * messages_per_unit
    _, dest, weight, path_length = _deliveries(exe)
    return TrafficSummary(
        basis=PER_SPIKE if rates is None else PER_STEP,
        within_core=float(totals[0]), between_cores=float(totals[1]),
        between_chips=float(totals[2]), hops=float(totals[3]), hops_x=float(totals[4]),
        hops_y=float(totals[5]),
        hop_histogram=np.bincount(path_length, weights=weight).astype(np.float64),
        messages_out=np.bincount(unit_core, weights=out_weight,
                                 minlength=exe.n_cores).astype(np.float64),
        messages_in=np.bincount(dest, weights=weight, minlength=exe.n_cores).astype(np.float64),
        max_fanout_cores=int(np.diff(routing.dest_indptr).max(initial=0)),
        multicast=bool(routing.multicast),
        hop_grid="chips" if exe.profile.topology == "chip_router" else "cores")


def _deliveries(exe) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """``(source core, destination core, weight, path length)`` of the messages: per (unit,
    destination core) pair on unicast profiles (weight: the unit's rate, or None for one each);
    per (core, core of its union) on multicast ones (weight: the units of the core, or their
    summed rates), the path the chip distance between their chips."""
    routing, unit_core, rates = exe.routing, exe.partition.unit_core, exe.rates
    if not routing.multicast:
        owners = _pair_owners(exe)
        weight = None if rates is None else rates[owners]
        path = routing.hops_x.astype(np.int64) + routing.hops_y
        return unit_core[owners], np.asarray(routing.dest_core, dtype=np.int64), weight, path
    source, dest = exe.core_destinations
    per_core = np.bincount(unit_core, weights=None if rates is None else rates,
                           minlength=exe.n_cores)
    xy = hop_positions(exe.placement, exe.profile)
    delta = xy[dest] - xy[source]
    path = grid_distance(delta[:, 0], delta[:, 1],
                         exe.profile.chip_links if exe.profile.topology == "chip_router" else 4)
    return source, dest, per_core[source].astype(np.float64), np.asarray(path, dtype=np.int64)


def _router(exe) -> RouterTables:
    tables = getattr(exe.routing, "tables", None)
    return RouterTables(entries=np.asarray(exe.routing.router_entries, dtype=np.int64),
                        limit=exe.profile.router_entries_per_chip,
                        chips_used=np.unique(exe.placement.core_chip),
                        uncompressed=None if tables is None else tables.uncompressed,
                        compressed=None if tables is None else tables.compressed)


def core_traffic_matrix(exe, max_size: int = 512) -> tuple[np.ndarray, np.ndarray, int]:
    """The core-to-core message matrix, with cores ordered by chip, then core id.

    Returns ``(matrix, order, block)``: ``matrix[i, j]`` holds the messages (expected per step, or
    per spike of every unit, as the report's basis) from the cores of block ``i`` to the cores of
    block ``j`` of ``order`` (core ids), where a block is ``block`` consecutive cores of ``order``,
    chosen so that the matrix is at most ``max_size`` square (1 for small networks).
    """
    n_cores = exe.n_cores
    # by core id within a chip: the partitioner's order (mincut keeps communities together)
    order = np.argsort(exe.placement.core_chip, kind="stable").astype(np.int64)
    rank = np.empty(n_cores, dtype=np.int64)
    rank[order] = np.arange(n_cores)
    block = max(1, math.ceil(n_cores / max_size))
    size = max(1, math.ceil(n_cores / block))
    source, target, weights, _ = _deliveries(exe)
    source, target = rank[source] // block, rank[target] // block
    flat = np.bincount(source * size + target, weights=weights, minlength=size * size)
    return flat.astype(np.float64).reshape(size, size), order, block


# ==================================================================================================
# plain dict
# ==================================================================================================
def _report_dict(report: MappingReport) -> dict[str, Any]:
    traffic, router = report.traffic, report.router
    return {
        "network": {"name": report.network, "units": report.n_units, "neurons": report.n_neurons,
                    "sources": report.n_sources, "synapses": report.n_synapses,
                    "projections": report.n_projections, "dt_ms": report.dt_ms},
        "profile": {"name": report.profile, "system": report.system, "topology": report.topology,
                    "cores_per_chip": report.cores_per_chip,
                    "chips_available": report.chips_available},
        "strategies": {"partition": report.partition, "place": report.place,
                       "seed": report.seed, "max_neurons_per_core": report.max_neurons_per_core},
        "cores": {"used": report.n_cores, "neuron": report.n_neuron_cores,
                  "source": report.n_source_cores, "lower_bound": report.lower_bound},
        "chips_used": report.chips_used,
        "resources": {name: _resource_dict(use) for name, use in report.resources.items()},
        "per_core": {"kind": report.core_kind, "chip": report.core_chip, "xy": report.core_xy,
                     "slices": [[list(s) for s in slices] for slices in report.core_slices],
                     **{name: use.per_core for name, use in report.resources.items()},
                     "messages_out": traffic.messages_out, "messages_in": traffic.messages_in},
        "traffic": {"basis": traffic.basis, "within_core": traffic.within_core,
                    "between_cores": traffic.between_cores,
                    "between_chips": traffic.between_chips, "total": traffic.total,
                    "hops": traffic.hops, "hops_x": traffic.hops_x, "hops_y": traffic.hops_y,
                    "mean_hops": traffic.mean_hops,
                    "mean_hops_between_cores": traffic.mean_hops_between_cores,
                    "hop_histogram": traffic.hop_histogram, "hops_counted_on": traffic.hop_grid,
                    "multicast": traffic.multicast,
                    "max_fanout_cores": traffic.max_fanout_cores,
                    "fanout_limit": report.fanout_limit},
        "router": {"limit": router.limit, "max": router.max, "per_chip": router.entries,
                   "overflowing_chips": router.overflowing,
                   "uncompressed_per_chip": router.uncompressed,
                   "compressed_per_chip": router.compressed},
        "quantization": {"summary": report.quantization.summary(),
                         **report.quantization.to_dict()},
        "timings_s": report.timings_s,
        "notes": report.notes,
        "learning": report.learning,
    }


def _resource_dict(use: ResourceUse) -> dict[str, Any]:
    return {"limit": use.limit, "lower_bound": use.lower_bound, "scope": use.scope,
            **use.stats()}




# ==================================================================================================
# markdown
# ==================================================================================================
def _num(value: float | int | None, digits: int = 3) -> str:
    """A count with thousands separators, or a float with ``digits`` significant decimals."""
    if value is None:
        return "-"
    if float(value).is_integer():
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.1f}"
    return f"{value:.{digits}g}"


def _pct(fraction: float | None) -> str:
    return "-" if fraction is None else f"{100 * fraction:.1f}%"


def _share(part: float, total: float) -> str:
    return _pct(part / total) if total else "-"


def _md_summary(report: MappingReport) -> str:
    traffic = report.traffic
    leaving = traffic.between_cores + traffic.between_chips
    rows = [
        ("network", f"{report.network}: {report.n_neurons:,} neurons, {report.n_sources:,} "
                    f"source units, {report.n_synapses:,} synapses in {report.n_projections} "
                    f"projection{'' if report.n_projections == 1 else 's'}"),
        ("hardware", f"{report.profile}"
                     + (f" on system '{report.system}'" if report.system else "")
                     + f" (topology `{report.topology}`)"),
        ("time step", _step_text(report)),
        ("strategies", _strategies(report)),
        ("cores used", f"{report.n_cores:,} ({report.n_neuron_cores:,} neuron, "
                       f"{report.n_source_cores:,} source)"),
        ("lower bound on cores", _bound_text(report)),
        ("chips used", _chips_text(report)),
        (f"messages ({traffic.basis})",
         f"{_num(traffic.total)}: {_share(leaving, traffic.total)} leave their core, "
         f"{_share(traffic.between_chips, traffic.total)} their chip"),
        ("hops per message", f"{traffic.mean_hops:.2f} over all messages, "
                             f"{traffic.mean_hops_between_cores:.2f} over those leaving their core"),
        ("quantization", report.quantization.summary()),
        *([("learning", report.learning)] if report.learning else []),
        ("compile time", f"{sum(report.timings_s.values()):.3f} s"),
    ]
    text = (f"# Mapping report: '{report.network}' on {report.profile}\n\n"
            + markdown.table(("summary", ""), rows))
    if report.notes:
        text += "\n\nNotes:\n" + "\n".join(f"- {note}" for note in report.notes)
    return text


def _step_text(report: MappingReport) -> str:
    text = f"{report.dt_ms:g} ms per step ({1000 / report.dt_ms:,.4g} steps per second of model time)"
    if report.chip_step_ms is not None:
        speed = report.chip_step_ms / report.dt_ms
        text += (f"; {report.profile} runs in real time at {report.chip_step_ms:g} ms per step"
                 + ("" if speed == 1 else f" (model time runs {max(speed, 1 / speed):.3g}x "
                                          f"{'slower' if speed > 1 else 'faster'} than real time)"))
    return text


def _strategies(report: MappingReport) -> str:
    text = f"partition `{report.partition}`, place `{report.place}`, seed {report.seed}"
    if report.max_neurons_per_core is not None:
        text += f", at most {report.max_neurons_per_core:,} neurons per core"
    return text


def _bound_text(report: MappingReport) -> str:
    bound = report.lower_bound.get("cores")
    if bound is None:
        return "-"
    binding = report.binding_resource
    text = f"{bound:,}"
    if binding is not None:
        text += f" (set by {RESOURCE_LABELS.get(binding, binding)})"
    return text + (f"; used / bound = {report.n_cores / bound:.2f}" if bound else "")


def _chips_text(report: MappingReport) -> str:
    text = f"{report.chips_used:,}"
    if report.chips_available is not None:
        text += f" of {report.chips_available:,} available"
    if report.cores_per_chip is not None:
        text += f" ({report.cores_per_chip:,} cores per chip)"
    return text


def _md_resources(report: MappingReport) -> str:
    rows = []
    for name, use in report.resources.items():
        if use.limit is None and not use.per_core.any():
            continue  # not modelled on this profile (for example synapse bits on generic)
        stats = use.stats()
        rows.append((RESOURCE_LABELS.get(name, name), _num(use.limit), _num(use.lower_bound),
                     use.scope, _num(stats["min"]), _num(stats["mean"]), _num(stats["max"]),
                     _pct(stats["min_fraction"]), _pct(stats["mean_fraction"]),
                     _pct(stats["max_fraction"])))
    header = ("resource", "limit per core", "lower bound (cores)", "over", "min", "mean", "max",
              "min % of limit", "mean % of limit", "max % of limit")
    return "## Utilisation per core\n\n" + markdown.table(header, rows)


def _md_traffic(report: MappingReport) -> str:
    traffic = report.traffic
    total = traffic.total
    rows = [("within a core", _num(traffic.within_core), _share(traffic.within_core, total)),
            ("between cores of a chip", _num(traffic.between_cores),
             _share(traffic.between_cores, total)),
            ("between chips", _num(traffic.between_chips), _share(traffic.between_chips, total)),
            ("total", _num(total), _share(total, total))]
    hops = [("total hops", _num(traffic.hops)),
            ("  x (east-west) hops of the unicast paths", _num(traffic.hops_x)),
            ("  y (north-south) hops of the unicast paths", _num(traffic.hops_y)),
            ("mean hops per message", f"{traffic.mean_hops:.3f}"),
            ("mean hops per message leaving its core", f"{traffic.mean_hops_between_cores:.3f}"),
            ("most destination cores of one unit", _fanout_text(report))]
    routed = ("multicast routing: total hops are the links of each spike's tree"
              if traffic.multicast else "unicast routing: total hops are the sum of the paths")
    return (f"## Traffic ({traffic.basis})\n\n"
            f"A message is one spike delivered to one destination core; {routed}, counted on "
            f"the mesh of {traffic.hop_grid}.\n\n"
            + markdown.table(("messages", traffic.basis, "share"), rows) + "\n\n"
            + markdown.table(("hops", traffic.basis), hops))


def _fanout_text(report: MappingReport) -> str:
    text = f"{report.traffic.max_fanout_cores:,}"
    return text + (f" (limit {report.fanout_limit})" if report.fanout_limit is not None else "")


def _md_hops(report: MappingReport) -> str:
    histogram = report.traffic.hop_histogram
    total = float(histogram.sum())
    if total == 0:
        return "## Hop histogram\n\nNo messages."
    rows = []
    peak = max(count for _, _, count in _hop_bins(histogram))
    for low, high, count in _hop_bins(histogram):
        label = str(low) if low == high else f"{low}-{high}"
        bar = "#" * round(BAR_WIDTH * count / peak) if peak else ""
        rows.append((label, _num(count), _share(count, total), bar))
    return (f"## Hop histogram (path length of each message, on the mesh of "
            f"{report.traffic.hop_grid})\n\n" + markdown.table(("hops", "messages", "share", ""), rows))


def _hop_bins(histogram: np.ndarray) -> list[tuple[int, int, float]]:
    """``(low, high, messages)`` rows: one per hop count, or equal ranges when there are many."""
    width = max(1, math.ceil(histogram.size / MAX_HOP_ROWS))
    return [(low, min(low + width, histogram.size) - 1, float(histogram[low:low + width].sum()))
            for low in range(0, histogram.size, width)]


def _md_router(report: MappingReport) -> str:
    router = report.router
    if router.limit is None:
        return (f"## Router tables\n\n{report.profile} routes without tables (a spike carries its "
                "destination); no entries to fit.")
    used = router.chips_used
    both = router.uncompressed is not None and router.compressed is not None
    rows = [(int(chip), _num(int(router.entries[chip])), _pct(router.entries[chip] / router.limit),
             *((_num(int(router.uncompressed[chip])), _num(int(router.compressed[chip])))
               if both else ()))
            for chip in used[:MAX_CHIP_ROWS]]
    text = (f"## Router tables\n\nEntries per chip: max {router.max:,} of {router.limit:,} "
            f"({_pct(router.max / router.limit)}), mean {_num(float(router.entries[used].mean()))} "
            f"over {used.size:,} chips used.")
    if both:
        text += (f" A chip holds its merged table where it fits and compresses it (ordered "
                 f"covering) only where it does not; compressed as far as ordered covering goes, "
                 f"the fullest table would hold {int(router.compressed.max(initial=0)):,} "
                 f"(uncompressed: {int(router.uncompressed.max(initial=0)):,}).")
    if router.overflowing:
        text += f" **Overflowing chips: {', '.join(map(str, router.overflowing))}.**"
    if used.size > MAX_CHIP_ROWS:
        text += f" First {MAX_CHIP_ROWS} chips below; every chip in `to_json()`."
    header = ("chip", "entries", "% of limit") + (("uncompressed", "compressed") if both else ())
    return text + "\n\n" + markdown.table(header, rows)


def _md_quantization(report: MappingReport) -> str:
    quant = report.quantization
    rows = [(p.projection, f"{p.pre} -> {p.post}", _num(p.synapses), _num(p.changed),
             _num(p.zeroed), _num(p.max_abs_error), _num(p.mean_abs_error), p.note)
            for p in quant.projections]
    header = ("projection", "pre -> post", "synapses", "changed", "zeroed", "max error",
              "mean error", "rule")
    text = (f"## Quantization\n\n{quant.summary()}. Changes are counted against the declared "
            "weights: the `num_weight_bits` truncation (the same on every profile) and the "
            "profile's rule together. Errors in units of `w << weight_exp`.")
    return text + ("\n\n" + markdown.table(header, rows) if rows else "")


def _md_cores(report: MappingReport) -> str:
    shown = min(report.n_cores, MAX_CORE_ROWS)
    usage = report.resources
    rows = []
    for core in range(shown):
        x, y = report.core_xy[core]
        rows.append((core, int(report.core_chip[core]), f"({x}, {y})", report.core_kind[core],
                     _slices_text(report.core_slices[core]),
                     *(_num(int(usage[name].per_core[core]))
                       for name in ("neurons", "axons_in", "axons_out", "synapses")),
                     _num(report.traffic.messages_out[core]),
                     _num(report.traffic.messages_in[core])))
    header = ("core", "chip", "mesh (x, y)", "kind", "slices", "neurons", "input axons",
              "output axons", "synapses", "messages out", "messages in")
    text = "## Cores"
    if shown < report.n_cores:
        text += f"\n\nFirst {shown} of {report.n_cores:,} cores; every core in `to_json()`."
    return text + "\n\n" + markdown.table(header, rows)


def _slices_text(slices: list[tuple[str, int, int]]) -> str:
    """``LIF_0[0:100]``, or ``LIF_0 (56 units in 35 ranges)`` when a population is scattered."""
    ranges: dict[str, list[tuple[int, int]]] = {}
    for name, start, stop in slices:
        ranges.setdefault(name, []).append((start, stop))
    parts = []
    for name, spans in ranges.items():
        if len(spans) <= MAX_SLICE_RANGES:
            parts += [f"{name}[{start}:{stop}]" for start, stop in spans]
        else:
            units = sum(stop - start for start, stop in spans)
            parts.append(f"{name} ({units:,} units in {len(spans):,} ranges)")
    return ", ".join(parts)


def _md_timings(report: MappingReport) -> str:
    if not report.timings_s:
        return ""
    rows = [(name, f"{seconds:.4f}") for name, seconds in report.timings_s.items()]
    rows.append(("total", f"{sum(report.timings_s.values()):.4f}"))
    return "## Compile time per pass\n\n" + markdown.table(("pass", "seconds"), rows)
