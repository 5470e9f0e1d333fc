"""Validation of an Executable read from a file: nothing from a file reaches a kernel unchecked.

The trust model: an Executable file is untrusted input. Its **source of truth** is the network IR
(populations with their models' typed parameters and state, projections as CSR), the hardware
profile, the partition (the core of each unit) and the placement (where each core sits). Those are
checked for types, shapes, ranges and consistency here. Everything *derived* from them (the
routing and the per-core synapse tables, which the multi-core runtime's kernels index without
bounds checks) is rebuilt from them with the compiler's own passes and compared with the file,
array by array: a file whose tables differ from what its IR and mapping give is refused, naming the
member, and the Executable then holds the rebuilt arrays (so not even a file's choice of dtype
reaches a kernel). So a file that loads runs exactly as its IR says, which is what the reference simulator
runs: bit-identical results are guaranteed for every file that validates.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import fields

import numpy as np

from nmgraph._version import __version__
from nmgraph.compilers.executable import Executable, build_core_tables
from nmgraph.compilers.ir import NetworkIR
from nmgraph.compilers.mapping_data import Placement, Routing
from nmgraph.compilers.route import route as route_pass
from nmgraph.compilers.synapse_graph import axon_pairs, build_synapse_graph
from nmgraph.core.errors import AdjustmentWarning, FileFormatError, NmgraphError

__all__ = ["validate_executable", "validate_ir"]

Fail = Callable[[str], FileFormatError]

#: The widest weight mantissa any profile keeps (8 magnitude bits plus sign, before the exponent).
WEIGHT_LIMIT = 1 << 8
WEIGHT_EXP_MAX = 7


def _integer(fail: Fail, where: str, array: np.ndarray, shape: tuple[int, ...] | None = None,
             low: int | None = None, high: int | None = None) -> None:
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "iu":
        raise fail(f"{where}: must be an integer array (got "
                   f"{getattr(array, 'dtype', type(array).__name__)})")
    if shape is not None and array.shape != shape:
        raise fail(f"{where}: has shape {array.shape}, expected {shape}")
    if array.size:
        lo, hi = int(array.min()), int(array.max())
        if (low is not None and lo < low) or (high is not None and hi > high):
            raise fail(f"{where}: values in [{lo}, {hi}] outside [{low}, {high}]")


def _csr_pointer(fail: Fail, where: str, indptr: np.ndarray, rows: int, total: int) -> None:
    _integer(fail, where, indptr, (rows + 1,))
    if indptr[0] != 0 or indptr[-1] != total or (rows and bool(np.any(np.diff(indptr) < 0))):
        raise fail(f"{where}: must rise from 0 to {total} without going down")


def validate_ir(ir: NetworkIR, max_delay: int, fail: Fail) -> None:
    """Populations tile the units in order; every projection is a well-formed CSR between
    existing populations of the right sizes, targets in range, each row strictly increasing,
    weights within 8 magnitude bits plus sign, delays in ``1..max_delay``."""
    offset = 0
    names = set()
    for pop in ir.populations:
        where = f"population {pop.name!r}"
        if pop.name in names:
            raise fail(f"{where}: appears twice")
        names.add(pop.name)
        if not pop.shape or any(int(n) < 1 for n in pop.shape):
            raise fail(f"{where}: shape {pop.shape} must have positive sizes")
        if pop.offset != offset:
            raise fail(f"{where}: offset {pop.offset}, expected {offset} (populations tile the "
                       "units in order)")
        offset += pop.size
    plastic = [proj.name for proj in ir.projections if proj.learning is not None]
    if len(set(plastic)) != len(plastic):
        raise fail("plastic projections must have distinct names")
    for number, proj in enumerate(ir.projections):
        where = f"projection {number} ({proj.name!r})"
        for end, name, size in (("pre", proj.pre, proj.n_pre), ("post", proj.post, proj.n_post)):
            if name not in ir:
                raise fail(f"{where}: its {end} population {name!r} does not exist")
            if ir.population(name).size != size:
                raise fail(f"{where}: n_{end} = {size} but population {name!r} has "
                           f"{ir.population(name).size} units")
        if ir.population(proj.post).is_source:
            raise fail(f"{where}: targets the source {proj.post!r}")
        n = int(proj.targets.size) if isinstance(proj.targets, np.ndarray) else -1
        _integer(fail, f"{where} targets", proj.targets, (max(n, 0),), 0, proj.n_post - 1)
        _csr_pointer(fail, f"{where} indptr", proj.indptr, proj.n_pre, n)
        _integer(fail, f"{where} weights", proj.weights, (n,), -WEIGHT_LIMIT, WEIGHT_LIMIT - 1)
        _integer(fail, f"{where} delays", proj.delays, (n,), 1, max_delay)
        if proj.weights.dtype != np.int16 or proj.delays.dtype != np.uint8:
            raise fail(f"{where}: weights must be int16 and delays uint8")
        if not 0 <= proj.weight_exp <= WEIGHT_EXP_MAX or not 1 <= proj.num_weight_bits <= 8:
            raise fail(f"{where}: weight_exp {proj.weight_exp} (0..{WEIGHT_EXP_MAX}) or "
                       f"num_weight_bits {proj.num_weight_bits} (1..8) out of range")
        _validate_learning(fail, where, ir, proj, n)
        if n > 1:
            step = np.diff(proj.targets.astype(np.int64))
            new_row = np.zeros(n - 1, dtype=bool)
            starts = proj.indptr[1:-1]
            new_row[starts[(starts > 0) & (starts < n)] - 1] = True
            if bool(np.any((step <= 0) & ~new_row)):
                raise fail(f"{where}: the targets of a source must be strictly increasing")


def _validate_learning(fail: Fail, where: str, ir: NetworkIR, proj, n: int) -> None:
    """A plastic projection's bounds, tags and third-factor inputs; a third-factor projection's
    plastic projection and shape. (Its rule was parsed by the rule's own checks.)"""
    learning = proj.learning
    if learning is not None:
        low, high = learning.w_bounds
        if not -WEIGHT_LIMIT <= low <= high <= WEIGHT_LIMIT - 1:
            raise fail(f"{where}: weight bounds {low}..{high} outside -256..255")
        _integer(fail, f"{where} weights", proj.weights, (n,), low, high)
        _integer(fail, f"{where} tags", learning.tags, (n,), -WEIGHT_LIMIT, WEIGHT_LIMIT - 1)
        if "d" in learning.rule.targets:
            _integer(fail, f"{where} delays", proj.delays, (n,), *learning.d_bounds)
        for trace, source in learning.third_factor.items():
            if trace not in learning.rule.third_factor or source not in ir:
                raise fail(f"{where}: third factor {trace} from {source!r} does not match its "
                           "rule or names no population")
        if proj.weight_exp < 0 or proj.num_weight_bits != 8:
            raise fail(f"{where}: a plastic projection keeps 8-bit weights")
    if proj.modulates is not None:
        owners = [p for p in ir.projections if p.name == proj.name and p.learning is not None]
        if len(owners) != 1 or owners[0].post != proj.post or \
                owners[0].learning.third_factor.get(proj.modulates) != proj.pre:
            raise fail(f"{where}: drives {proj.modulates} of no plastic projection of that name")
        if proj.n_pre not in (1, proj.n_post) or bool(np.any(proj.weights)):
            raise fail(f"{where}: a third-factor projection has 1 or n_post sources and no weights")
        every = np.arange(proj.n_post + 1) if proj.n_pre == proj.n_post else [0, proj.n_post]
        if not (np.array_equal(proj.indptr, every) and
                np.array_equal(proj.targets, np.arange(proj.n_post))):
            raise fail(f"{where}: a third-factor projection reaches post neuron k from unit k, or "
                       "every post neuron from its one unit")


def _validate_mapping(exe: Executable, fail: Fail) -> None:
    n_units, part = exe.ir.n_units, exe.partition
    n_cores = part.n_cores
    if any(kind not in ("neuron", "source") for kind in part.core_kind):
        raise fail("partition core_kind: every core is 'neuron' or 'source'")
    _integer(fail, "partition unit_core", part.unit_core, (n_units,), 0, n_cores - 1)
    if n_units and np.bincount(part.unit_core, minlength=n_cores).min() == 0:
        raise fail("partition unit_core: every core holds at least one unit")
    is_source = np.repeat([pop.is_source for pop in exe.ir.populations],
                          [pop.size for pop in exe.ir.populations]).astype(bool)
    kinds = np.array([kind == "source" for kind in part.core_kind], dtype=bool)
    if n_units and bool(np.any(kinds[part.unit_core] != is_source)):
        raise fail("partition: a core holds a unit of the other kind (neuron or source)")
    for name, usage in part.usage.items():
        _integer(fail, f"partition usage/{name}", usage, (n_cores,), 0)
    place: Placement = exe.placement
    n_chips = place.n_chips
    _integer(fail, "placement chip_xy", place.chip_xy, (n_chips, 2), 0)
    _integer(fail, "placement core_chip", place.core_chip, (n_cores,), 0, max(n_chips - 1, 0))
    _integer(fail, "placement core_index", place.core_index, (n_cores,), 0)
    _integer(fail, "placement core_xy", place.core_xy, (n_cores, 2), 0)
    pairs = np.stack([place.core_chip, place.core_index], axis=1) if n_cores else None
    if pairs is not None and np.unique(pairs, axis=0).shape[0] != n_cores:
        raise fail("placement: two cores share one place on a chip")


def _differences(prefix: str, given: object, rebuilt: object) -> list[str]:
    out = []
    for f in fields(rebuilt):
        a, b = getattr(given, f.name), getattr(rebuilt, f.name)
        if isinstance(b, np.ndarray):
            if not isinstance(a, np.ndarray) or a.shape != b.shape or not np.array_equal(a, b):
                out.append(f"{prefix}/{f.name}: differs from what the file's IR, partition and "
                           f"placement give (the tables are derived from them and must match)")
        elif a != b:
            out.append(f"{prefix}/{f.name}: {a!r} differs from the derived value {b!r}")
    return out


def validate_executable(exe: Executable, fail: Fail, written_by: str | None = None) -> None:
    """Check an Executable read from a file (see the module docstring); raise ``fail(...)``.

    The derived routing and tables it holds afterwards are the rebuilt ones (equal in value to
    the file's, in the compiler's own dtypes), so nothing the kernels index comes from the file.
    A file written by another nmgraph version (``written_by``) whose routing model differs is
    not refused: its routing and tables are rebuilt by this version's passes, with a warning.
    """
    profile = exe.profile
    max_delay = int(profile.max_delay) if profile.max_delay else 255
    validate_ir(exe.ir, max_delay, fail)
    _validate_mapping(exe, fail)
    if exe.rates is not None:
        if not isinstance(exe.rates, np.ndarray) or exe.rates.shape != (exe.ir.n_units,) or \
                exe.rates.dtype.kind != "f" or not np.isfinite(exe.rates).all():
            raise fail("rates: must be finite floats, one per unit")
    try:
        graph = build_synapse_graph(exe.ir)
        pairs = axon_pairs(graph, exe.partition.unit_core, exe.partition.n_cores)
        routing: Routing = route_pass(exe.partition, exe.placement, graph, profile, pairs=pairs,
                                      strict=False)
        tables = build_core_tables(exe.ir, graph, exe.partition, routing)
    except NmgraphError as exc:
        raise fail(f"its IR and mapping cannot be routed ({exc})") from exc
    differences = (_differences("routing", exe.routing, routing)
                   + _differences("tables", exe.tables, tables))
    if differences:
        if written_by is None or written_by == __version__:
            raise fail(differences[0])
        warnings.warn(AdjustmentWarning(str(fail(
            f"written by nmgraph {written_by}, whose routing for {profile.name} differs from "
            f"nmgraph {__version__}'s ({differences[0].split(':')[0]} first); the routing and "
            f"tables were rebuilt from the file's network, partition and placement with this "
            f"version's passes"))), stacklevel=3)
    routing.release_derived()   # derived again when read (see Routing)
    exe.routing, exe.tables = routing, tables
