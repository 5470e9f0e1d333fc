"""Quantization pass: fit weights and delays to a hardware profile, and report every change.

Lowering has already dropped the ``8 - num_weight_bits`` low bits of every weight (Lava's meaning of
``num_weight_bits``, the same on every profile; :mod:`nmgraph.core.weights`). Rules
(``profile.weight_rule``):

``loihi``
    Lava's bit-accurate Dense and Sparse (``clip_weights`` then ``truncate_weights``,
    ``lava/utils/weightutils.py``, applied in ``PyDenseModelBitAcc.run_spk``): the declared weights
    are clipped to 8 bits by sign mode and lose ``k = 8 - num_weight_bits + mixed`` low bits,
    where ``mixed`` is 1 for a synapse process with both signs (Loihi's weight format spends a
    bit on the sign): ``w = (w >> k) << k`` (floor), toward zero for all-negative weights. At
    ``num_weight_bits = 8`` one-signed weights keep their 8 bits and mixed-sign ones lose the
    lowest, ``[-256, 255]``. Weights that become 0 stay stored synapses.
``int16`` / ``none``
    Weights are kept as lowered (SpiNNaker holds 16-bit weights: ``w << weight_exp`` always fits;
    its sign lives in the synapse type, so mixed-sign weights lose no bit).
``truenorth``
    TrueNorth gives each neuron 4 signed 9-bit weights selected by the type of the input axon. nmgraph
    maps a projection onto axon types when each source unit has one weight for all its targets and
    each target population receives at most 4 distinct weights; otherwise it raises a
    :class:`MappingError` (it does not approximate).

Delays above ``profile.max_delay`` raise a :class:`MappingError`: nmgraph never shortens a delay.
Nothing here is silent: the :class:`QuantizationReport` lists every projection with the number of
weights that differ from the declared ones (``num_weight_bits`` and the profile's rule together)
and the error in units of synaptic input, and a compile that changed any weight emits a
:class:`~nmgraph.QuantizationWarning` pointing to it.
"""

from __future__ import annotations

import dataclasses
import sys
import warnings
from dataclasses import dataclass, field

import numpy as np

from nmgraph.compilers.ir import NetworkIR, ProjectionIR
from nmgraph.core.errors import MappingError, QuantizationWarning
from nmgraph.core.weights import (
    FULL_WEIGHT_BITS,
    MIXED,
    WEIGHT_MAX,
    clip_weights,
    sign_mode,
    truncate_weights,
)

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
        """True when every weight runs as declared."""
        return self.changed == 0

    @property
    def changed_projections(self) -> list[ProjectionQuantization]:
        """The projections with at least one changed weight."""
        return [p for p in self.projections if p.changed]

    def summary(self) -> str:
        """One line: exact, or how many weights changed in how many projections and the worst."""
        if self.exact:
            return f"weights fit {self.profile} exactly (rule '{self.rule}')"
        changed = self.changed_projections
        worst = max(changed, key=lambda p: p.max_abs_error)
        return (f"{self.changed:,} synapse weights changed in {len(changed)} of "
                f"{len(self.projections)} projections for {self.profile} (rule '{self.rule}'); "
                f"largest error {worst.max_abs_error} in '{worst.projection}' ({worst.note})")

    def to_dict(self) -> dict[str, object]:
        return {"profile": self.profile, "rule": self.rule, "changed": self.changed,
                "projections": [dataclasses.asdict(p) for p in self.projections]}


def quantize(ir: NetworkIR, profile, *, warn: bool = True) -> tuple[NetworkIR, QuantizationReport]:
    """Return the IR with weights fitted to ``profile`` and the report of what changed.

    Changes are counted against the declared weights (``ProjectionIR.declared_weights`` when
    lowering truncated them to ``num_weight_bits``), so the report shows the truncation and the
    profile's rule together. When any weight changed and ``warn`` is true, a
    :class:`~nmgraph.QuantizationWarning` gives the one-line summary and where the full table
    is. Projections whose weights need no change keep their weight arrays (no copy): the IR
    passes do not write into them.
    """
    rule = str(profile.weight_rule)
    report = QuantizationReport(profile.name, rule)
    projections = []
    for proj in ir.projections:
        if proj.is_plastic and not profile.learning:
            raise MappingError(f"synapses '{proj.name}' ({proj.pre} -> {proj.post}) learn, but "
                               f"{profile.name} has no on-chip learning (its profile says "
                               "learning = false); use fixed synapses or another profile")
        _check_delays(proj, profile)
        if proj.is_plastic or not proj.carries_input:
            weights, note = proj.weights, ("plastic: the learning engine keeps its 8-bit weights"
                                           if proj.is_plastic else "third factor: no weights")
        else:
            weights, note = _apply_rule(rule, proj, ir, profile)
        projections.append(dataclasses.replace(proj, weights=weights, declared_weights=None))
        report.projections.append(_entry(proj, weights, rule, note))
    if warn and not report.exact:
        warnings.warn(QuantizationWarning(
            f"network '{ir.name}': {report.summary()}. Every projection is in exe.report."
            f"quantization (the 'Quantization' section of exe.report.to_markdown())"),
            stacklevel=_caller_level())
    return NetworkIR(ir.name, list(ir.populations), projections, dt_ms=ir.dt_ms), report


def _caller_level() -> int:
    """The ``stacklevel`` of the first frame outside nmgraph, seen from the caller of this
    function: the warning names the user's line, however deep the compile call was."""
    frame, level = sys._getframe(2), 2
    while frame is not None and str(frame.f_globals.get("__name__", "")).startswith("nmgraph"):
        frame, level = frame.f_back, level + 1
    return level


def _check_delays(proj: ProjectionIR, profile) -> None:
    if proj.n_synapses and proj.max_delay > profile.max_delay:
        cure = ("its learning rule changes delays within 1..62: choose a profile with delays "
                "of 62 steps or more, or a rule without dd" if _learned_delays(proj) else
                "shorten the delays or choose a profile with longer ones")
        raise MappingError(
            f"synapses '{proj.name}' ({proj.pre} -> {proj.post}): delays up to "
            f"{proj.max_delay} steps{_learned_delays(proj)} but {profile.name} allows at most "
            f"{profile.max_delay}; {cure}")


def _learned_delays(proj: ProjectionIR) -> str:
    return " (its learning rule may set delays up to 62)" if proj.is_plastic and \
        "d" in proj.learning.rule.targets else ""


def _declared(proj: ProjectionIR) -> np.ndarray:
    return proj.weights if proj.declared_weights is None else proj.declared_weights


def _bits_note(proj: ProjectionIR) -> str:
    dropped = FULL_WEIGHT_BITS - proj.num_weight_bits
    if dropped <= 0:
        return ""
    return f"num_weight_bits={proj.num_weight_bits}: {dropped} low bit{'s' * (dropped > 1)} dropped"


def _fits_8_bits(weights: np.ndarray) -> bool:
    """One-signed weights within Lava's 8-bit range (``[0, 255]`` or ``[-255, 0]``)."""
    return not weights.size or (int(weights.min()) >= -WEIGHT_MAX
                                and int(weights.max()) <= WEIGHT_MAX)


def _apply_rule(rule: str, proj: ProjectionIR, ir: NetworkIR, profile) -> tuple[np.ndarray, str]:
    bits = _bits_note(proj)
    if rule == "loihi":
        declared = _declared(proj)
        mode = sign_mode(declared)
        if mode != MIXED and proj.num_weight_bits >= FULL_WEIGHT_BITS and _fits_8_bits(declared):
            return proj.weights, f"{mode}: 8 bits kept"    # nothing to clip or drop: no copy
        weights = truncate_weights(clip_weights(declared, mode=mode), proj.num_weight_bits,
                                   sign_bit=True, mode=mode).astype(np.int16, copy=False)
        if np.array_equal(weights, proj.weights):
            weights = proj.weights    # no copy when nothing changes
        sign = ("mixed signs: 1 more bit dropped (Loihi's sign bit)" if mode == MIXED else
                f"{mode}: no sign bit")
        return weights, f"{bits}; {sign}" if bits else sign
    if rule == "truenorth":
        return _truenorth(proj, ir, profile), f"{bits}; 4 axon types" if bits else "4 axon types"
    if rule in ("int16", "none"):
        return proj.weights, bits or "kept"
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
    """The changes of ``weights`` against the declared weights of ``proj``; the mean error is
    over all synapses of the projection."""
    declared = _declared(proj)
    if weights is declared or np.array_equal(weights, declared):  # nothing changed
        return ProjectionQuantization(
            projection=proj.name, pre=proj.pre, post=proj.post, rule=rule,
            synapses=proj.n_synapses, changed=0, zeroed=0, max_abs_error=0, mean_abs_error=0.0,
            note=note)
    error = np.abs((weights.astype(np.int64) - declared.astype(np.int64)) << proj.weight_exp)
    changed = int(np.count_nonzero(error))
    return ProjectionQuantization(
        projection=proj.name, pre=proj.pre, post=proj.post, rule=rule, synapses=proj.n_synapses,
        changed=changed, zeroed=int(np.count_nonzero((weights == 0) & (declared != 0))),
        max_abs_error=int(error.max()) if error.size else 0,
        mean_abs_error=float(error.mean()) if error.size else 0.0, note=note)
