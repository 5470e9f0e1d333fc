"""Quantization pass: fit weights and delays to a hardware profile, and report every change.

Rules (``profile.weight_rule``):

``loihi``
    As Lava's bit-accurate Dense: a projection whose weights have both signs is clipped to
    [-256, 255] and loses its lowest bit, ``w = (w >> 1) << 1`` (floor); one-signed weights keep
    their 8 bits. Weights that become 0 stay stored synapses.
``int16`` / ``none``
    Weights are kept as they are (SpiNNaker holds 16-bit weights: ``w << weight_exp`` always fits).
``truenorth``
    TrueNorth gives each neuron 4 signed 9-bit weights selected by the type of the input axon. nmgraph
    maps a projection onto axon types when each source unit has one weight for all its targets and
    each target population receives at most 4 distinct weights; otherwise it raises a
    :class:`MappingError` (it does not approximate).

Delays above ``profile.max_delay`` raise a :class:`MappingError`: nmgraph never shortens a delay.
Nothing here is silent: the :class:`QuantizationReport` lists every projection with the number of
weights changed and the error in units of synaptic input.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from nmgraph.compilers.ir import NetworkIR, ProjectionIR
from nmgraph.core.errors import MappingError

__all__ = ["ProjectionQuantization", "QuantizationReport", "quantize"]

TRUENORTH_AXON_TYPES = 4
TRUENORTH_WEIGHT_MAX = 255


@dataclass(frozen=True)
class ProjectionQuantization:
    """What quantization did to one projection (errors in units of ``w << weight_exp``)."""

    projection: str
    pre: str
    post: str
    rule: str
    synapses: int
    changed: int
    zeroed: int
    max_abs_error: int
    mean_abs_error: float
    note: str = ""


@dataclass
class QuantizationReport:
    """Per-projection quantization summary of one compile."""

    profile: str
    rule: str
    projections: list[ProjectionQuantization] = field(default_factory=list)

    @property
    def changed(self) -> int:
        """Synapses whose weight changed."""
        return sum(p.changed for p in self.projections)

    @property
    def exact(self) -> bool:
        return self.changed == 0

    def summary(self) -> str:
        if self.exact:
            return f"weights fit {self.profile} exactly (rule '{self.rule}')"
        worst = max(self.projections, key=lambda p: p.max_abs_error)
        return (f"{self.changed} synapse weights changed by rule '{self.rule}' for "
                f"{self.profile}; largest error {worst.max_abs_error} in '{worst.projection}'")

    def to_dict(self) -> dict[str, object]:
        return {"profile": self.profile, "rule": self.rule, "changed": self.changed,
                "projections": [dataclasses.asdict(p) for p in self.projections]}


def quantize(ir: NetworkIR, profile) -> tuple[NetworkIR, QuantizationReport]:
    """Return the IR with weights fitted to ``profile`` and the report of what changed.

    Projections whose weights need no change keep their weight arrays (no copy): the IR passes
    do not write into them.
    """
    rule = str(profile.weight_rule)
    report = QuantizationReport(profile.name, rule)
    projections = []
    for proj in ir.projections:
        _check_delays(proj, profile)
        weights, note = _apply_rule(rule, proj, ir, profile)
        projections.append(dataclasses.replace(proj, weights=weights))
        report.projections.append(_entry(proj, weights, rule, note))
    return NetworkIR(ir.name, list(ir.populations), projections, dt_ms=ir.dt_ms), report


def _check_delays(proj: ProjectionIR, profile) -> None:
    if proj.n_synapses and int(proj.delays.max()) > profile.max_delay:
        raise MappingError(
            f"synapses '{proj.name}' ({proj.pre} -> {proj.post}): delays up to "
            f"{int(proj.delays.max())} steps but {profile.name} allows at most "
            f"{profile.max_delay}; shorten the delays or choose a profile with longer ones")


def _apply_rule(rule: str, proj: ProjectionIR, ir: NetworkIR, profile) -> tuple[np.ndarray, str]:
    weights = proj.weights
    if rule == "loihi":
        mixed = bool((weights > 0).any() and (weights < 0).any())
        if not mixed:
            return weights, "one-signed: 8 bits kept"
        clipped = np.clip(weights.astype(np.int64), -256, 255)
        return ((clipped >> 1) << 1).astype(np.int16), "mixed signs: lowest bit dropped"
    if rule == "truenorth":
        return _truenorth(proj, ir, profile), "4 axon types"
    if rule in ("int16", "none"):
        return weights, "kept"
    raise MappingError(f"profile {profile.name}: unknown weight rule {rule!r}")


def _truenorth(proj: ProjectionIR, ir: NetworkIR, profile) -> np.ndarray:
    effective = proj.effective_weights()
    if effective.size and int(np.abs(effective).max()) > TRUENORTH_WEIGHT_MAX:
        raise MappingError(
            f"synapses '{proj.name}': weights up to {int(np.abs(effective).max())} (w << "
            f"weight_exp) but {profile.name} neurons hold 9-bit signed weights (|w| <= "
            f"{TRUENORTH_WEIGHT_MAX}); lower the weights or weight_exp")
    sources = proj.sources()
    per_source_min = np.full(proj.n_pre, np.iinfo(np.int64).max)
    per_source_max = np.full(proj.n_pre, np.iinfo(np.int64).min)
    np.minimum.at(per_source_min, sources, effective)
    np.maximum.at(per_source_max, sources, effective)
    has = np.diff(proj.indptr) > 0
    if np.any(per_source_min[has] != per_source_max[has]):
        raise MappingError(
            f"synapses '{proj.name}': a source unit has different weights to different targets, "
            f"which {profile.name}'s 4 axon types cannot express; give each source one weight")
    incoming = [p for p in ir.projections if p.post == proj.post]
    values = np.unique(np.concatenate([p.effective_weights() for p in incoming]))
    if values.size > TRUENORTH_AXON_TYPES:
        raise MappingError(
            f"population '{proj.post}' receives {values.size} distinct weights but "
            f"{profile.name} has {TRUENORTH_AXON_TYPES} axon types per neuron; use at most 4 "
            f"weight values for its inputs")
    return proj.weights


def _entry(proj: ProjectionIR, weights: np.ndarray, rule: str, note: str) -> ProjectionQuantization:
    if weights is proj.weights or np.array_equal(weights, proj.weights):  # nothing changed
        return ProjectionQuantization(
            projection=proj.name, pre=proj.pre, post=proj.post, rule=rule,
            synapses=proj.n_synapses, changed=0, zeroed=0, max_abs_error=0, mean_abs_error=0.0,
            note=note)
    error = np.abs((weights.astype(np.int64) - proj.weights.astype(np.int64)) << proj.weight_exp)
    changed = int(np.count_nonzero(error))
    return ProjectionQuantization(
        projection=proj.name, pre=proj.pre, post=proj.post, rule=rule, synapses=proj.n_synapses,
        changed=changed, zeroed=int(np.count_nonzero((weights == 0) & (proj.weights != 0))),
        max_abs_error=int(error.max()) if error.size else 0,
        mean_abs_error=float(error.mean()) if error.size else 0.0, note=note)
