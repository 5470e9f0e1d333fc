"""Hardware profiles: the per-core, per-chip and per-system limits a network is mapped under.

A :class:`HardwareProfile` is a frozen, validated record of one chip (Loihi 1/2, SpiNNaker 1/2,
TrueNorth, nmgraph's ``generic`` simulation target, or a custom chip). Every constant carries the
source it was taken from (``profile.sources[field]``), and the ones that are guesses,
secondary-source figures or nmgraph's own choices are listed in ``profile.uncertain``. Energy and
latency constants live in the nested :class:`EnergyModel`, which keeps its own ``sources`` and
``uncertain``.

Built-in profiles are data files in ``compilers/profiles/*.toml``; custom ones load from TOML or
JSON::

    from nmgraph.compilers.hardware import load_profile
    hw = load_profile("loihi1")                    # a built-in
    hw = load_profile("loihi1:Nahuku")             # a built-in on a named system (32 chips)
    hw = load_profile("mychip.toml")               # a custom chip (``base = "loihi1"`` inherits)
    small = hw.replace(neurons_per_core=512)       # validated; the source records the change

File format
-----------
Each key is a field of :class:`HardwareProfile` (the energy constants go in an ``[energy]`` table).
A value is either plain (``neurons_per_core = 1024``) or an inline table carrying its source::

    neurons_per_core = { value = 1024, source = "Davies et al. 2018", uncertain = true }

An inline table without ``value`` means "no value" (``None``: no limit, or unknown), which is how a
TOML file (which has no null) states a sourced absence. ``base = "<built-in>"`` starts from a
built-in profile and overrides only the keys given. Unknown keys are errors (typos are caught).

Conventions the compiler passes rely on
---------------------------------------
* ``mesh_shape`` is ``(rows, cols)``; cores of a chip are numbered row-major, so core ``i`` sits at
  ``x = i % cols`` (east-west), ``y = i // cols`` (north-south). Chips tile the same way on
  ``chip_grid(n_chips)``, and :meth:`HardwareProfile.global_position` gives a core's place on the
  whole system's mesh.
* ``topology = "core_mesh"``: every core is a router node of a 2D mesh that extends across chips
  (Loihi, TrueNorth, generic); a message between two cores takes ``|dx| + |dy|`` hops on the global
  mesh. ``topology = "chip_router"``: the cores of a chip share one router (SpiNNaker); hops are
  counted between chips on the chip grid, and a message within a chip takes 0 hops.
  ``chip_links`` (4 or 6) is the number of links from a chip to its neighbours on a
  ``chip_router`` grid; 6 (SpiNNaker: E, NE, N, W, SW, S) makes a hop between chips ``(dx, dy)``
  apart cost the hexagonal distance (``compilers/topology.py``).
* ``routing`` names the routing model of :data:`ROUTING_MODELS` (``compilers/route.py``):
  ``key_multicast`` (SpiNNaker), ``axon_unicast`` (Loihi, generic), ``neuron_unicast``
  (TrueNorth); left out, it follows from the topology and router tables.
* ``weight_bits`` counts magnitude bits; the sign is extra. ``weight_rule`` names the
  quantization rule of :data:`WEIGHT_RULES`.
* ``synapse_capacity`` is the number of synapses one core can hold (memory // bits per synapse, or
  the explicit ``synapses_per_core`` cap, whichever is smaller), or None for no limit.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import numbers
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from nmgraph.core import markdown
from nmgraph.core.errors import FileFormatError, ValidationError
from nmgraph.core.jsonable import loads_strict

__all__ = [
    "BUILTIN_NAMES",
    "DEFAULT_PROFILE",
    "ROUTING_MODELS",
    "TOPOLOGIES",
    "WEIGHT_RULES",
    "EnergyModel",
    "HardwareProfile",
    "builtin_profiles",
    "load_profile",
    "load_profile_file",
    "profiles_table",
]

#: Built-in profile names, in the order ``nmgraph hw`` lists them.
BUILTIN_NAMES: tuple[str, ...] = ("loihi1", "loihi2", "spinnaker1", "spinnaker2", "truenorth",
                                  "generic")

#: The profile ``nm.compile`` uses when none is given.
DEFAULT_PROFILE = "generic"

#: Weight quantization rules (applied by the quantization pass, never silently).
WEIGHT_RULES: Mapping[str, str] = MappingProxyType({
    "loihi": (
        "Lava's bit-accurate Dense rule with 8-bit weights (weight_bits must be 8): a projection "
        "whose weights have both signs is clipped to [-256, 255] and loses its lowest bit, "
        "(w >> 1) << 1; one-signed weights keep their 8 bits."
    ),
    "int16": (
        "SpiNNaker: 16-bit weights; the effective weight w << weight_exp is saturated to the "
        "signed 16-bit range (sPyNNaker stores a 16-bit magnitude and carries the sign in the "
        "synapse type). nmgraph weights (8 magnitude bits, weight_exp <= 7) always fit."
    ),
    "truenorth": (
        "TrueNorth: every input axon of a core has one of 4 types and every neuron stores one "
        "signed weight per type, so weight(i -> j) = s_j[type(i)] with a binary crossbar. The "
        "weights into each neuron of a core must take at most 4 values, chosen by the source "
        "axon's type; the quantization pass finds a type assignment or raises an error naming "
        "the projection."
    ),
    "none": "No quantization beyond nmgraph's own numerics (8 magnitude bits plus sign).",
})

#: Routing models: how spikes travel and what the routing pass counts (``compilers/route.py``).
ROUTING_MODELS: Mapping[str, str] = MappingProxyType({
    "key_multicast": (
        "SpiNNaker: one routing-key block and one multicast tree per source core, to the union of "
        "its units' destination cores; key/mask router tables per chip, entries only where "
        "default routing (straight on) does not do; a spike is one packet that reaches every "
        "core of its core's tree"),
    "axon_unicast": (
        "Loihi: a spike sends one message per destination core (the unit's output axon to it), "
        "along the dimension-order X-then-Y path of the core mesh; no router tables"),
    "neuron_unicast": (
        "TrueNorth: a neuron sends to exactly one axon of one core (its stored dx, dy); more "
        "fan-out needs splitter neurons; X-then-Y on the core mesh; no router tables"),
})

#: On-chip network topologies (how hops are counted).
TOPOLOGIES: Mapping[str, str] = MappingProxyType({
    "core_mesh": "every core is a node of a 2D mesh that extends across chips; hops between cores",
    "chip_router": "the cores of a chip share one router; hops are counted between chips only",
})

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_INLINE_KEYS = frozenset({"value", "source", "uncertain"})


# --------------------------------------------------------------------------------------------------
# value checks (every one raises ValidationError naming the owner and the field)
# --------------------------------------------------------------------------------------------------

def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


#: Largest count a profile may state: counts are held in int64 arrays.
COUNT_MAX = 2**62


def _pos_int(owner: str, name: str, value: Any, *, optional: bool) -> int | None:
    if value is None and optional:
        return None
    if not _is_int(value) or not 0 < int(value) <= COUNT_MAX:
        hint = " or none (no limit)" if optional else ""
        raise ValidationError(owner, name, f"must be a positive int up to 2**62{hint}", value)
    return int(value)


def _int_range(owner: str, name: str, value: Any, low: int, high: int) -> int:
    if not _is_int(value) or not low <= int(value) <= high:
        raise ValidationError(owner, name, f"must be an int in {low}..{high}", value)
    return int(value)


def _nonneg_float(owner: str, name: str, value: Any, *, positive: bool = False) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValidationError(owner, name, "must be a number or none", value)
    number = float(value)
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        word = "positive" if positive else "non-negative"
        raise ValidationError(owner, name, f"must be a finite {word} number or none", value)
    return number


def _pair(owner: str, name: str, value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    if (isinstance(value, (str, bytes)) or not isinstance(value, Iterable)):
        raise ValidationError(owner, name, "must be a pair (rows, cols) of positive ints", value)
    items = list(value)
    if len(items) != 2 or not all(_is_int(v) and int(v) > 0 for v in items):
        raise ValidationError(owner, name, "must be a pair (rows, cols) of positive ints", value)
    return int(items[0]), int(items[1])


def _text(owner: str, name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ValidationError(owner, name, "must be a string", value)
    return value


def _choice(owner: str, name: str, value: Any, choices: Mapping[str, str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValidationError(owner, name, f"must be one of {', '.join(map(repr, choices))}", value)
    return value


def _sources(owner: str, name: str, value: Any, known: Iterable[str]) -> Mapping[str, str]:
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise ValidationError(owner, name, "must be a table {field: source text}", value)
    known = tuple(known)
    out = {}
    for key, text in value.items():
        if key not in known:
            raise ValidationError(owner, f"{name}.{key}", _unknown_message(key, known), key)
        if not isinstance(text, str):
            raise ValidationError(owner, f"{name}.{key}", "must be a string", text)
        out[key] = text
    return MappingProxyType(dict(sorted(out.items())))


def _uncertain(owner: str, name: str, value: Any, known: Iterable[str]) -> frozenset[str]:
    if value is None:
        return frozenset()
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ValidationError(owner, name, "must be a list of field names", value)
    known = tuple(known)
    items = list(value)
    for key in items:
        if not isinstance(key, str) or key not in known:
            raise ValidationError(owner, name, _unknown_message(key, known), key)
    return frozenset(items)


def _unknown_message(key: Any, known: Iterable[str]) -> str:
    known = sorted(known)
    close = difflib.get_close_matches(str(key), known, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"unknown field; {hint}known fields: {', '.join(known)}"


def _system_key(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name).lower()


def _grid(n: int) -> tuple[int, int]:
    """A near-square (rows, cols) grid for n items: cols = ceil(sqrt(n)), rows = ceil(n / cols)."""
    if n <= 1:
        return 1, 1
    cols = math.isqrt(n - 1) + 1
    return -(-n // cols), cols


# --------------------------------------------------------------------------------------------------
# EnergyModel
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class EnergyModel:
    """Energy (joules, ``_j``), power (watts, ``_w``) and latency (seconds, ``_s``) constants.

    ``None`` means "not known for this chip"; the energy model leaves that term out and says so.
    Mesh hops: ``hop_ew`` along x (a row of the mesh), ``hop_ns`` along y.
    """

    # energy per operation (J)
    synaptic_op_j: float | None = None            #: one synaptic event (a spike reaching a synapse)
    synaptic_update_j: float | None = None        #: one plastic synapse update (learning)
    neuron_update_active_j: float | None = None   #: one update of a neuron that had input/spiked
    neuron_update_inactive_j: float | None = None #: one update of an idle neuron
    spike_within_tile_j: float | None = None      #: one spike that stays within its core/tile
    hop_ew_j: float | None = None                 #: one mesh hop east-west (x)
    hop_ns_j: float | None = None                 #: one mesh hop north-south (y)
    chip_to_chip_j: float | None = None           #: one message crossing a chip boundary (extra)
    router_bit_j: float | None = None             #: per bit per router traversal (SpiNNaker model)
    # power (W)
    static_chip_w: float | None = None            #: idle power of a powered chip
    static_active_core_w: float | None = None     #: extra power of a core that runs a program
    # latency (s)
    synaptic_op_s: float | None = None
    synaptic_update_s: float | None = None
    neuron_update_active_s: float | None = None
    neuron_update_inactive_s: float | None = None
    spike_within_tile_s: float | None = None
    hop_ew_s: float | None = None
    hop_ns_s: float | None = None
    chip_to_chip_s: float | None = None
    barrier_min_s: float | None = None            #: end-of-step mesh barrier, smallest mesh
    barrier_max_s: float | None = None            #: end-of-step mesh barrier, largest measured mesh
    # provenance
    note: str = ""
    sources: Mapping[str, str] = field(default_factory=dict, hash=False)
    uncertain: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        for key, value in _check_energy(vars(self), "EnergyModel", "").items():
            object.__setattr__(self, key, value)

    @classmethod
    def constant_names(cls) -> tuple[str, ...]:
        """The numeric constants (every field but ``note``, ``sources`` and ``uncertain``)."""
        return tuple(f.name for f in dataclasses.fields(cls)
                     if f.name not in ("note", "sources", "uncertain"))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (flat values, ``sources``, sorted ``uncertain``)."""
        out: dict[str, Any] = {name: getattr(self, name) for name in self.constant_names()}
        out["note"] = self.note
        out["sources"] = dict(self.sources)
        out["uncertain"] = sorted(self.uncertain)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], owner: str = "EnergyModel") -> EnergyModel:
        """Build from :meth:`to_dict` output or the file form (inline ``{value, source}``)."""
        values = _parse_table(data, owner, "energy.", _ENERGY_KEYS, cls.constant_names())
        return cls(**_check_energy(values, owner, "energy."))

    def replace(self, **changes: Any) -> EnergyModel:
        """A validated copy with some constants changed (their source becomes 'set by user')."""
        unknown = set(changes) - set(_ENERGY_KEYS)
        if unknown:
            key = sorted(unknown)[0]
            raise ValidationError("EnergyModel", key, _unknown_message(key, _ENERGY_KEYS), key)
        changes = _mark_changed(self, changes, self.constant_names())
        return dataclasses.replace(self, **changes)

    def unsourced(self) -> list[str]:
        """Constants that have a value but no source string."""
        return [n for n in self.constant_names()
                if getattr(self, n) is not None and not self.sources.get(n)]


_ENERGY_KEYS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(EnergyModel))


def _check_energy(values: Mapping[str, Any], owner: str, prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    names = EnergyModel.constant_names()
    for name in names:
        out[name] = _nonneg_float(owner, prefix + name, values.get(name))
    out["note"] = _text(owner, prefix + "note", values.get("note", ""))
    out["sources"] = _sources(owner, prefix + "sources", values.get("sources"), names)
    out["uncertain"] = _uncertain(owner, prefix + "uncertain", values.get("uncertain"), names)
    low, high = out["barrier_min_s"], out["barrier_max_s"]
    if low is not None and high is not None and low > high:
        raise ValidationError(owner, prefix + "barrier_max_s",
                              f"must be >= barrier_min_s ({low})", high)
    return out


# --------------------------------------------------------------------------------------------------
# HardwareProfile
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class HardwareProfile:
    """The limits and costs of one chip, and how chips make up a system.

    Construct through :func:`load_profile`, :meth:`from_dict` or directly (keyword arguments); every
    path validates. Limits given as ``None`` mean "no limit" (or, for energy, "unknown").
    """

    name: str
    description: str = ""
    # ---- per core
    neurons_per_core: int
    #: spike-source neurons (SpikeGenerator, PoissonSource) per core; None = neurons_per_core
    spike_sources_per_core: int | None = None
    #: distinct source neurons whose spikes reach a core (input axons)
    axons_in_per_core: int | None = None
    #: sum over a core's neurons of their destination cores (output axons)
    axons_out_per_core: int | None = None
    #: destination cores one neuron may send to (TrueNorth: 1)
    fanout_cores_per_neuron: int | None = None
    synapse_memory_bits_per_core: int | None = None
    #: bits one synapse takes in synapse memory: weight + index/delay overhead (see each profile)
    bits_per_synapse: int | None = None
    #: explicit cap on synapses per core (TrueNorth's 256 x 256 crossbar = 65536)
    synapses_per_core: int | None = None
    # ---- per chip
    #: None = one chip with as many cores as needed (generic)
    cores_per_chip: int | None = None
    #: (rows, cols) of the chip's core mesh; None = a near-square grid for cores_per_chip
    mesh_shape: tuple[int, int] | None = None
    topology: str = "core_mesh"
    #: links from a chip to neighbouring chips on a ``chip_router`` grid: 4 (square) or 6
    #: (SpiNNaker's triangular links: E, NE, N, W, SW, S)
    chip_links: int = 4
    #: the routing model (see :data:`ROUTING_MODELS`); None = key_multicast for profiles with
    #: router tables or a chip router, else axon_unicast
    routing: str | None = None
    router_entries_per_chip: int | None = None
    packet_bits: int | None = None
    # ---- system
    #: (rows, cols) of the chip grid; None = a near-square grid for the chips used
    chip_mesh: tuple[int, int] | None = None
    #: None = as many chips as needed
    chips_available: int | None = None
    #: the named system chosen with with_system(), or None
    system: str | None = None
    systems: Mapping[str, int] = field(default_factory=dict, hash=False)
    # ---- numerics and time
    max_delay: int
    weight_bits: int = 8
    weight_rule: str = "none"
    #: on-chip learning: whether the chip updates synapses by a learning rule (plastic synapse
    #: blocks are refused on a profile without it)
    learning: bool = True
    #: wall-clock duration of a step when the chip runs in real time; None = as fast as possible
    time_step_s: float | None = None
    # ---- costs and provenance
    energy: EnergyModel = field(default_factory=EnergyModel)
    sources: Mapping[str, str] = field(default_factory=dict, hash=False)
    uncertain: frozenset[str] = frozenset()
    #: where the profile came from (a file name, "builtin:loihi1"); not part of equality
    origin: str = field(default="", compare=False)

    # ------------------------------------------------------------------ construction and checks
    def __post_init__(self) -> None:
        for key, value in _check_profile(vars(self)).items():
            object.__setattr__(self, key, value)

    @property
    def label(self) -> str:
        """How errors name this profile: ``HardwareProfile 'loihi1' (file.toml)``."""
        return _owner(self.name, self.origin)

    @classmethod
    def constant_names(cls) -> tuple[str, ...]:
        """Fields that are hardware constants (each should have a source)."""
        return _CONSTANTS

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], origin: str = "") -> HardwareProfile:
        """Validate and build a profile from :meth:`to_dict` output or the file form.

        ``origin`` (a file name) appears in every error message. A ``base`` key names a built-in
        profile to start from.
        """
        if not isinstance(data, Mapping):
            raise ValidationError(_owner(None, origin), "",
                                  "a hardware profile must be a table/object of fields", data)
        raw_name = data.get("name")
        if isinstance(raw_name, Mapping):
            raw_name = raw_name.get("value")
        owner = _owner(raw_name if isinstance(raw_name, str) else None, origin)
        if "name" not in data:
            raise ValidationError(owner, "name", "is required")
        data = dict(data)
        base_name = data.pop("base", None)
        values = _parse_table(data, owner, "", _PROFILE_KEYS, _CONSTANTS)
        energy_data = values.pop("energy", None)
        if energy_data is not None and not isinstance(energy_data, (Mapping, EnergyModel)):
            raise ValidationError(owner, "energy", "must be a table of energy constants",
                                  energy_data)
        if isinstance(energy_data, EnergyModel):
            energy_data = energy_data.to_dict()
        if base_name is not None:
            values, energy_data = _apply_base(owner, base_name, values, energy_data, origin)
        for required in ("neurons_per_core", "max_delay"):
            if required not in values:
                raise ValidationError(owner, required, "is required")
        if energy_data is not None:
            energy_values = _parse_table(energy_data, owner, "energy.", _ENERGY_KEYS,
                                         EnergyModel.constant_names())
            values["energy"] = EnergyModel(**_check_energy(energy_values, owner, "energy."))
        return cls(**values, origin=origin)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict: flat values, ``energy`` dict, ``sources``, ``uncertain``."""
        out: dict[str, Any] = {"name": self.name, "description": self.description}
        for key in _CONSTANTS:
            value = getattr(self, key)
            if isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            out[key] = value
        out["system"] = self.system
        out["energy"] = self.energy.to_dict()
        out["sources"] = dict(self.sources)
        out["uncertain"] = sorted(self.uncertain)
        return out

    def to_json(self, indent: int | None = 2) -> str:
        """The profile as JSON (``to_dict``); ``load_profile_file`` reads it back from a .json file."""
        return json.dumps(self.to_dict(), indent=indent)

    def to_toml(self) -> str:
        """The profile as a TOML file in the built-ins' format (each constant with its source)."""
        lines = [f"# nmgraph hardware profile '{self.name}'",
                 f"name = {_toml_value(self.name)}",
                 f"description = {_toml_value(self.description)}"]
        if self.system is not None:
            lines.append(f"system = {_toml_value(self.system)}")
        for key in _CONSTANTS:
            lines.append(_toml_entry(key, getattr(self, key), self.sources.get(key),
                                     key in self.uncertain))
        lines += ["", "[energy]", f"note = {_toml_value(self.energy.note)}"]
        for key in EnergyModel.constant_names():
            value, source = getattr(self.energy, key), self.energy.sources.get(key)
            if value is None and source is None:
                continue
            lines.append(_toml_entry(key, value, source, key in self.energy.uncertain))
        return "\n".join(line for line in lines if line is not None) + "\n"

    def replace(self, **changes: Any) -> HardwareProfile:
        """A validated copy with some fields changed.

        The source of each changed constant becomes ``set by user (was ...)`` and it leaves
        ``uncertain``, unless ``sources``/``uncertain`` are given too. ``energy`` accepts an
        :class:`EnergyModel` or a dict.
        """
        allowed = [f.name for f in dataclasses.fields(self)]
        for key in changes:
            if key not in allowed:
                raise ValidationError(self.label, key, _unknown_message(key, allowed), key)
        if isinstance(changes.get("energy"), Mapping):
            changes["energy"] = EnergyModel.from_dict(changes["energy"], owner=self.label)
        changes = _mark_changed(self, changes, _CONSTANTS)
        return dataclasses.replace(self, **changes)

    def with_system(self, name: str | None) -> HardwareProfile:
        """This profile limited to a named system's chip count (``None``: as many as needed)."""
        if name is None:
            sources = dict(self.sources)
            sources["chips_available"] = "as many chips as needed (with_system(None))"
            return dataclasses.replace(self, system=None, chips_available=None, sources=sources)
        canonical = self._find_system(name)
        count = self.systems[canonical]
        sources = dict(self.sources)
        sources["chips_available"] = (f"system '{canonical}' ({count} chips): "
                                      + self.sources.get("systems", "no source"))
        return dataclasses.replace(self, system=canonical, chips_available=count,
                                   sources=sources,
                                   uncertain=self.uncertain - {"chips_available"})

    def _find_system(self, name: Any) -> str:
        if isinstance(name, str):
            for canonical in self.systems:
                if _system_key(canonical) == _system_key(name):
                    return canonical
        known = ", ".join(repr(s) for s in self.systems) or "none"
        raise ValidationError(self.label, "system", f"unknown system; {self.name} systems: {known}",
                              name)

    # ------------------------------------------------------------------ derived quantities
    @property
    def synapse_capacity(self) -> int | None:
        """Synapses one core can hold: memory // bits per synapse and/or the explicit cap."""
        caps = []
        if self.synapse_memory_bits_per_core is not None and self.bits_per_synapse is not None:
            caps.append(self.synapse_memory_bits_per_core // self.bits_per_synapse)
        if self.synapses_per_core is not None:
            caps.append(self.synapses_per_core)
        return min(caps) if caps else None

    @property
    def spike_source_capacity(self) -> int:
        """Spike-source neurons one core can hold."""
        return self.spike_sources_per_core or self.neurons_per_core

    @property
    def max_cores(self) -> int | None:
        """Cores available in total, or None when unbounded."""
        if self.cores_per_chip is None:
            return None
        chips = self.chips_available
        if chips is None and self.chip_mesh is not None:
            chips = self.chip_mesh[0] * self.chip_mesh[1]
        return None if chips is None else chips * self.cores_per_chip

    @property
    def max_chips(self) -> int | None:
        """Chips available (chips_available, else the fixed chip_mesh), or None when unbounded."""
        if self.chips_available is not None:
            return self.chips_available
        if self.chip_mesh is not None:
            return self.chip_mesh[0] * self.chip_mesh[1]
        return None

    def chips_needed(self, n_cores: int) -> int:
        """Chips needed for ``n_cores`` cores filled chip by chip."""
        if n_cores <= 0:
            return 0
        if self.cores_per_chip is None:
            return 1
        return -(-n_cores // self.cores_per_chip)

    def mesh(self, n_cores: int | None = None) -> tuple[int, int]:
        """(rows, cols) of one chip's core mesh; ``n_cores`` sizes it when the chip is unbounded."""
        if self.mesh_shape is not None:
            return self.mesh_shape
        if self.cores_per_chip is not None:
            return _grid(self.cores_per_chip)
        if n_cores is None:
            raise ValidationError(self.label, "mesh_shape",
                                  "is sized by the number of cores used: pass n_cores")
        return _grid(n_cores)

    def position(self, core: int, n_cores: int | None = None) -> tuple[int, int]:
        """(x, y) of the core with index ``core`` within its chip (row-major on :meth:`mesh`)."""
        limit = self.cores_per_chip if self.cores_per_chip is not None else n_cores
        if not _is_int(core) or core < 0 or (limit is not None and core >= limit):
            bound = f"0..{limit - 1}" if limit is not None else ">= 0"
            raise ValidationError(self.label, "position", f"core index must be in {bound}", core)
        _rows, cols = self.mesh(n_cores)
        return int(core) % cols, int(core) // cols

    def chip_grid(self, n_chips: int) -> tuple[int, int]:
        """(rows, cols) of the chip grid: chip_mesh, else a near-square grid for ``n_chips``."""
        return self.chip_mesh if self.chip_mesh is not None else _grid(n_chips)

    def chip_position(self, chip: int, n_chips: int) -> tuple[int, int]:
        """(x, y) of chip ``chip`` on :meth:`chip_grid` (row-major)."""
        rows, cols = self.chip_grid(n_chips)
        if not _is_int(chip) or not 0 <= chip < rows * cols:
            raise ValidationError(self.label, "chip_position",
                                  f"chip index must be in 0..{rows * cols - 1}", chip)
        return int(chip) % cols, int(chip) // cols

    def global_position(self, chip: int, core: int, n_chips: int,
                        n_cores: int | None = None) -> tuple[int, int]:
        """(x, y) of a core on the whole system's mesh: chips tile side by side."""
        rows, cols = self.mesh(n_cores)
        cx, cy = self.chip_position(chip, n_chips)
        x, y = self.position(core, n_cores)
        return cx * cols + x, cy * rows + y

    # ------------------------------------------------------------------ provenance and display
    def source_of(self, name: str) -> str | None:
        """The source of a constant (``"energy.hop_ew_j"`` for energy constants)."""
        if name.startswith("energy."):
            return self.energy.sources.get(name[len("energy."):])
        return self.sources.get(name)

    def is_uncertain(self, name: str) -> bool:
        """Whether constant ``name`` (``"energy.<field>"`` for an energy constant) is marked
        uncertain in the profile's sources."""
        if name.startswith("energy."):
            return name[len("energy."):] in self.energy.uncertain
        return name in self.uncertain

    def unsourced(self) -> list[str]:
        """Constants without a source: every hardware field, and every energy value that is set."""
        missing = [k for k in _CONSTANTS if not self.sources.get(k)]
        return missing + ["energy." + k for k in self.energy.unsourced()]

    def to_markdown(self) -> str:
        """Every constant with its value, source and uncertainty, as a markdown table."""
        rows = [(key, _show(getattr(self, key)), "yes" if key in self.uncertain else "",
                 self.sources.get(key, "")) for key in _CONSTANTS]
        for key in EnergyModel.constant_names():
            value = getattr(self.energy, key)
            if value is None and key not in self.energy.sources:
                continue
            rows.append((f"energy.{key}", _show(value), "yes" if key in self.energy.uncertain else "",
                         self.energy.sources.get(key, "")))
        lines = [f"### {self.name}", "", self.description, "",
                 markdown.table(("constant", "value", "uncertain", "source"), rows)]
        if self.energy.note:
            lines += ["", f"Energy: {self.energy.note}"]
        return "\n".join(lines) + "\n"


_PROFILE_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(HardwareProfile))
_NON_CONSTANTS = ("name", "description", "system", "energy", "sources", "uncertain", "origin")
_CONSTANTS: tuple[str, ...] = tuple(k for k in _PROFILE_FIELDS if k not in _NON_CONSTANTS)
_PROFILE_KEYS: tuple[str, ...] = tuple(k for k in _PROFILE_FIELDS if k != "origin")
_OPTIONAL_INTS = ("spike_sources_per_core", "axons_in_per_core", "axons_out_per_core",
                  "fanout_cores_per_neuron", "synapse_memory_bits_per_core", "bits_per_synapse",
                  "synapses_per_core", "cores_per_chip", "router_entries_per_chip", "packet_bits",
                  "chips_available")


def _owner(name: str | None, origin: str) -> str:
    text = f"HardwareProfile '{name}'" if name else "HardwareProfile"
    return f"{text} ({origin})" if origin else text


def _check_profile(values: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and normalise every field; returns the normalised values."""
    origin = values.get("origin", "")
    origin = origin if isinstance(origin, str) else str(origin)
    name = values.get("name")
    owner = _owner(name if isinstance(name, str) else None, origin)
    out: dict[str, Any] = {"origin": origin}
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValidationError(owner, "name", "must be a non-empty name of letters, digits, "
                              "'_', '-' and '.'", name)
    out["name"] = name
    out["description"] = _text(owner, "description", values.get("description", ""))
    out["neurons_per_core"] = _pos_int(owner, "neurons_per_core", values.get("neurons_per_core"),
                                       optional=False)
    for key in _OPTIONAL_INTS:
        out[key] = _pos_int(owner, key, values.get(key), optional=True)
    out["mesh_shape"] = _pair(owner, "mesh_shape", values.get("mesh_shape"))
    out["chip_mesh"] = _pair(owner, "chip_mesh", values.get("chip_mesh"))
    out["topology"] = _choice(owner, "topology", values.get("topology"), TOPOLOGIES)
    links = values.get("chip_links", 4)
    if not _is_int(links) or int(links) not in (4, 6):
        raise ValidationError(owner, "chip_links", "must be 4 (square grid of chips) or 6 "
                              "(SpiNNaker's six links per chip)", links)
    if int(links) == 6 and out["topology"] != "chip_router":
        raise ValidationError(owner, "chip_links", "6 links apply to the grid of chips of a "
                              "'chip_router' topology; core meshes have 4", links)
    out["chip_links"] = int(links)
    routing = values.get("routing")
    if routing is None:
        multicast = (out["router_entries_per_chip"] is not None
                     or out["topology"] == "chip_router")
        routing = "key_multicast" if multicast else "axon_unicast"
    out["routing"] = _choice(owner, "routing", routing, ROUTING_MODELS)
    if out["routing"] == "key_multicast" and out["topology"] != "chip_router":
        raise ValidationError(owner, "routing", "key_multicast needs topology 'chip_router' "
                              "(the routers of key/mask tables are per chip)", routing)
    out["max_delay"] = _int_range(owner, "max_delay", values.get("max_delay"), 1, 255)
    out["weight_bits"] = _int_range(owner, "weight_bits", values.get("weight_bits"), 1, 32)
    out["weight_rule"] = _choice(owner, "weight_rule", values.get("weight_rule"), WEIGHT_RULES)
    learning = values.get("learning", True)
    if not isinstance(learning, bool):
        raise ValidationError(owner, "learning", "must be true or false", learning)
    out["learning"] = learning
    out["time_step_s"] = _nonneg_float(owner, "time_step_s", values.get("time_step_s"),
                                       positive=True)

    systems = values.get("systems")
    systems = {} if systems is None else systems
    if not isinstance(systems, Mapping):
        raise ValidationError(owner, "systems", "must be a table {system name: chip count}",
                              systems)
    checked = {}
    for key, count in systems.items():
        if not isinstance(key, str) or not key.strip():
            raise ValidationError(owner, "systems", "system names must be non-empty strings", key)
        checked[key] = _pos_int(owner, f"systems.{key}", count, optional=False)
    out["systems"] = MappingProxyType(checked)

    energy = values.get("energy")
    if energy is None:
        energy = EnergyModel()
    elif isinstance(energy, Mapping):
        energy = EnergyModel(**_check_energy(energy, owner, "energy."))
    elif not isinstance(energy, EnergyModel):
        raise ValidationError(owner, "energy", "must be an EnergyModel or a table", energy)
    out["energy"] = energy
    out["sources"] = _sources(owner, "sources", values.get("sources"), _CONSTANTS)
    out["uncertain"] = _uncertain(owner, "uncertain", values.get("uncertain"), _CONSTANTS)

    # ---- consistency between fields
    rule, bits = out["weight_rule"], out["weight_bits"]
    if rule == "loihi" and bits != 8:
        raise ValidationError(owner, "weight_bits", "must be 8 with weight_rule 'loihi'", bits)
    if rule == "truenorth" and bits > 8:
        raise ValidationError(owner, "weight_bits", "must be <= 8 with weight_rule 'truenorth'",
                              bits)
    if rule == "int16" and bits != 16:
        raise ValidationError(owner, "weight_bits", "must be 16 with weight_rule 'int16'", bits)
    memory, per_synapse = out["synapse_memory_bits_per_core"], out["bits_per_synapse"]
    if memory is not None and per_synapse is None:
        raise ValidationError(owner, "bits_per_synapse",
                              "is required when synapse_memory_bits_per_core is given")
    if memory is not None and per_synapse > memory:
        raise ValidationError(owner, "bits_per_synapse",
                              f"is larger than synapse_memory_bits_per_core ({memory})",
                              per_synapse)
    cores, mesh = out["cores_per_chip"], out["mesh_shape"]
    if mesh is not None and cores is None:
        raise ValidationError(owner, "cores_per_chip",
                              "is required when mesh_shape is given (none = one unbounded chip)")
    if mesh is not None and mesh[0] * mesh[1] < cores:
        raise ValidationError(owner, "mesh_shape", f"has {mesh[0] * mesh[1]} places, fewer than "
                              f"cores_per_chip ({cores})", mesh)
    chips, chip_mesh = out["chips_available"], out["chip_mesh"]
    if cores is None and chips is not None and chips != 1:
        raise ValidationError(owner, "chips_available", "must be 1 or none when cores_per_chip "
                              "is none (one chip with as many cores as needed)", chips)
    if chip_mesh is not None and chips is not None and chip_mesh[0] * chip_mesh[1] < chips:
        raise ValidationError(owner, "chip_mesh", f"has {chip_mesh[0] * chip_mesh[1]} places, "
                              f"fewer than chips_available ({chips})", chip_mesh)

    system = values.get("system")
    if system is not None:
        if not isinstance(system, str):
            raise ValidationError(owner, "system", "must be a system name or none", system)
        matches = [s for s in checked if _system_key(s) == _system_key(system)]
        if not matches:
            known = ", ".join(repr(s) for s in checked) or "none"
            raise ValidationError(owner, "system", f"unknown system; known systems: {known}",
                                  system)
        system = matches[0]
        if chips is None:
            out["chips_available"] = checked[system]
        elif chips != checked[system]:
            raise ValidationError(owner, "chips_available", f"does not match system '{system}' "
                                  f"({checked[system]} chips)", chips)
    out["system"] = system
    return out


def _parse_table(data: Mapping[str, Any], owner: str, prefix: str, keys: tuple[str, ...],
                 constants: tuple[str, ...]) -> dict[str, Any]:
    """Unwrap the file form: ``key = {value, source, uncertain}`` and explicit sources/uncertain."""
    if not isinstance(data, Mapping):
        raise ValidationError(owner, prefix.rstrip(".") or "", "must be a table", data)
    known = keys
    values: dict[str, Any] = {}
    inline_sources: dict[str, str] = {}
    inline_uncertain: set[str] = set()
    for key, raw in data.items():
        if key not in known:
            listed = known if prefix else (*known, "base")
            raise ValidationError(owner, prefix + str(key), _unknown_message(key, listed), key)
        if key in constants and _is_inline(key, raw):
            extra = set(raw) - _INLINE_KEYS
            if extra:
                raise ValidationError(owner, prefix + key, "an inline table takes only 'value', "
                                      "'source' and 'uncertain'", sorted(extra))
            if "source" in raw:
                inline_sources[key] = _text(owner, prefix + key + ".source", raw["source"])
            flag = raw.get("uncertain", False)
            if not isinstance(flag, bool):
                raise ValidationError(owner, prefix + key + ".uncertain", "must be true or false",
                                      flag)
            if flag:
                inline_uncertain.add(key)
            values[key] = raw.get("value")
        else:
            values[key] = raw
    if inline_sources:
        explicit = values.get("sources") or {}
        if not isinstance(explicit, Mapping):
            raise ValidationError(owner, prefix + "sources", "must be a table", explicit)
        both = sorted(set(explicit) & set(inline_sources))
        if both:
            raise ValidationError(owner, prefix + both[0], "source given twice (inline and in "
                                  "'sources')")
        values["sources"] = {**explicit, **inline_sources}
    if inline_uncertain:
        explicit = values.get("uncertain") or []
        if isinstance(explicit, (str, bytes)) or not isinstance(explicit, Iterable):
            raise ValidationError(owner, prefix + "uncertain", "must be a list of field names",
                                  explicit)
        values["uncertain"] = sorted(set(explicit) | inline_uncertain)
    return values


def _is_inline(key: str, raw: Any) -> bool:
    if not isinstance(raw, Mapping):
        return False
    if key != "systems":
        return True
    # systems is itself a table: it is the inline form only if it uses the inline keys alone
    return bool(raw) and set(raw) <= _INLINE_KEYS and ("value" in raw or "source" in raw)


def _apply_base(owner: str, base_name: Any, values: dict[str, Any], energy: Any,
                origin: str) -> tuple[dict[str, Any], Any]:
    """Overlay ``values`` on a built-in profile; overridden constants get their own source."""
    if not isinstance(base_name, str) or base_name.lower() not in builtin_profiles():
        raise ValidationError(owner, "base", f"must name a built-in profile "
                              f"({', '.join(BUILTIN_NAMES)})", base_name)
    base = builtin_profiles()[base_name.lower()]
    given_sources = dict(values.pop("sources", None) or {})
    given_uncertain = set(values.pop("uncertain", None) or [])
    where = origin or "a custom profile"
    merged = base.to_dict()
    merged.pop("energy")
    sources = dict(base.sources)
    uncertain = set(base.uncertain)
    for key, value in values.items():
        merged[key] = value
        if key in _CONSTANTS:
            sources[key] = given_sources.get(key, f"set in {where} (base '{base.name}')")
            uncertain.discard(key)
    for key, text in given_sources.items():
        sources[key] = text
    merged["sources"] = sources
    merged["uncertain"] = sorted(uncertain | given_uncertain)
    if "description" not in values:
        merged["description"] = f"{base.description} (modified: {where})"
    if energy is None:
        return merged, base.energy.to_dict()
    if not isinstance(energy, Mapping):
        return merged, energy
    energy_values = _parse_table(energy, owner, "energy.", _ENERGY_KEYS,
                                 EnergyModel.constant_names())
    base_energy = base.energy.to_dict()
    e_sources = dict(base.energy.sources)
    e_uncertain = set(base.energy.uncertain)
    given_e_sources = dict(energy_values.pop("sources", None) or {})
    given_e_uncertain = set(energy_values.pop("uncertain", None) or [])
    for key, value in energy_values.items():
        base_energy[key] = value
        if key in EnergyModel.constant_names():
            e_sources[key] = given_e_sources.get(key, f"set in {where} (base '{base.name}')")
            e_uncertain.discard(key)
    e_sources.update(given_e_sources)
    base_energy["sources"] = e_sources
    base_energy["uncertain"] = sorted(e_uncertain | given_e_uncertain)
    return merged, base_energy


def _mark_changed(obj: Any, changes: dict[str, Any], constants: tuple[str, ...]) -> dict[str, Any]:
    changed = [k for k in changes if k in constants and changes[k] != getattr(obj, k)]
    if not changed:
        return changes
    out = dict(changes)
    if "sources" not in changes:
        sources = dict(obj.sources)
        for key in changed:
            sources[key] = f"set by user (was {_show(getattr(obj, key))})"
        out["sources"] = sources
    if "uncertain" not in changes:
        out["uncertain"] = frozenset(obj.uncertain) - set(changed)
    return out


# --------------------------------------------------------------------------------------------------
# text helpers
# --------------------------------------------------------------------------------------------------

def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}"
                                for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")  # pragma: no cover - validated types only


def _toml_entry(key: str, value: Any, source: str | None, uncertain: bool) -> str | None:
    parts = []
    if value is not None:
        parts.append(f"value = {_toml_value(value)}")
    if uncertain:
        parts.append("uncertain = true")
    if source is not None:
        parts.append(f"source = {_toml_value(source)}")
    if not parts:
        return None
    return f"{key} = {{ {', '.join(parts)} }}"


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, tuple):
        return " x ".join(map(str, value))
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {v}" for k, v in value.items()) or "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


# --------------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------------

def load_profile_file(path: str | os.PathLike[str]) -> HardwareProfile:
    """Load a profile from a ``.toml`` or ``.json`` file (validated; errors name the file)."""
    path = Path(path)
    where = f"HardwareProfile file '{path}'"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValidationError(where, "", "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"{where}: cannot be read ({exc})") from None
    if path.suffix.lower() == ".json":
        try:
            data = loads_strict(text)
        except ValueError as exc:
            raise FileFormatError(f"{where}: not valid JSON ({exc})") from None
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise FileFormatError(f"{where}: not valid TOML ({exc})") from None
    return HardwareProfile.from_dict(data, origin=path.name)


@lru_cache(maxsize=1)
def _builtins() -> Mapping[str, HardwareProfile]:
    folder = resources.files(__package__ or "nmgraph.compilers") / "profiles"
    found: dict[str, HardwareProfile] = {}
    for name in BUILTIN_NAMES:
        entry = folder / f"{name}.toml"
        try:
            data = tomllib.loads(entry.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:  # pragma: no cover - packaging error
            raise FileFormatError(f"built-in hardware profile '{name}' is missing or corrupt "
                                  f"({exc})") from None
        profile = HardwareProfile.from_dict(data, origin=f"builtin {name}.toml")
        if profile.name != name:  # pragma: no cover - packaging error
            raise FileFormatError(f"built-in profile file {name}.toml names '{profile.name}'")
        found[name] = profile
    return MappingProxyType(found)


def builtin_profiles() -> dict[str, HardwareProfile]:
    """The built-in profiles by name, in :data:`BUILTIN_NAMES` order."""
    return dict(_builtins())


def _looks_like_path(spec: str) -> bool:
    return spec.lower().endswith((".toml", ".json")) or "/" in spec or os.sep in spec


def load_profile(spec: Any) -> HardwareProfile:
    """Resolve ``spec`` to a :class:`HardwareProfile`.

    ``spec`` is a HardwareProfile (returned as is), a built-in name (``"loihi1"``, case-insensitive,
    optionally with a system: ``"loihi1:Nahuku"``), a path to a ``.toml``/``.json`` file, or a dict
    in the :meth:`HardwareProfile.from_dict` form.
    """
    if isinstance(spec, HardwareProfile):
        return spec
    if isinstance(spec, Mapping):
        return HardwareProfile.from_dict(spec)
    if isinstance(spec, os.PathLike) or (isinstance(spec, str) and _looks_like_path(spec)):
        return load_profile_file(spec)
    if isinstance(spec, str):
        name, _, system = spec.partition(":")
        profile = _builtins().get(name.strip().lower())
        if profile is None:
            raise ValidationError("hardware", "", "unknown hardware profile; built-ins: "
                                  f"{', '.join(BUILTIN_NAMES)} (or a path to a .toml/.json file)",
                                  spec)
        return profile.with_system(system.strip()) if system.strip() else profile
    raise ValidationError("hardware", "", "must be a profile name, a .toml/.json path, a dict or "
                          "a HardwareProfile", spec)


def profiles_table(profiles: Iterable[HardwareProfile] | None = None) -> str:
    """A markdown table of the limits of the built-in (or given) profiles; ``*`` = uncertain."""
    profiles = list(builtin_profiles().values() if profiles is None else profiles)
    header = ("profile", "neurons/core", "axons in", "axons out", "synapses/core",
              "cores/chip (mesh)", "topology", "max delay", "weights", "router entries", "step",
              "systems")
    rows = []

    def cell(p: HardwareProfile, key: str, text: str | None = None) -> str:
        value = getattr(p, key)
        shown = text if text is not None else ("no limit" if value is None else _show(value))
        return shown + ("*" if key in p.uncertain else "")

    for p in profiles:
        capacity = p.synapse_capacity
        if capacity is None:
            synapses = "no limit"
        elif p.synapses_per_core is not None and capacity == p.synapses_per_core:
            synapses = f"{capacity} (cap)"
        else:
            synapses = f"{capacity} ({p.synapse_memory_bits_per_core} bits / {p.bits_per_synapse})"
        if any(k in p.uncertain for k in ("synapse_memory_bits_per_core", "bits_per_synapse",
                                          "synapses_per_core")):
            synapses += "*"
        if p.cores_per_chip is None:
            cores = "as many as needed"
        else:
            mesh_rows, mesh_cols = p.mesh()
            cores = f"{p.cores_per_chip} ({mesh_rows}x{mesh_cols})"
        if "cores_per_chip" in p.uncertain or "mesh_shape" in p.uncertain:
            cores += "*"
        axons_out = cell(p, "axons_out_per_core")
        if p.fanout_cores_per_neuron is not None:
            axons_out += f"; {p.fanout_cores_per_neuron} core/neuron"
        weights = cell(p, "weight_bits", f"{p.weight_bits}-bit {p.weight_rule}")
        step = "async" if p.time_step_s is None else f"{p.time_step_s * 1e3:g} ms"
        systems = ", ".join(f"{k} {v}" for k, v in p.systems.items()) or "-"
        systems += "*" if "systems" in p.uncertain else ""
        rows.append((
            p.name, cell(p, "neurons_per_core"), cell(p, "axons_in_per_core"), axons_out,
            synapses, cores, cell(p, "topology"), cell(p, "max_delay"), weights,
            cell(p, "router_entries_per_chip", None if p.router_entries_per_chip else "-"),
            step + ("*" if "time_step_s" in p.uncertain else ""), systems))
    note = ("`*` uncertain: a secondary-source figure or nmgraph's own choice; see the profile's "
            "sources (`nmgraph hw NAME`).")
    return markdown.table(header, rows) + "\n\n" + note + "\n"
