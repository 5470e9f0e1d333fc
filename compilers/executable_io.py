"""Save and load an Executable: one zip of JSON plus ``.npy`` arrays, never pickle.

The file holds everything a runtime needs without the original network: the quantized IR, the
hardware profile, the partition, placement, routing and per-core tables, the quantization report
and the compile options.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from nmgraph._version import __version__
from nmgraph.compilers.executable import CoreTables, Executable
from nmgraph.compilers.executable_check import validate_executable
from nmgraph.compilers.hardware import HardwareProfile
from nmgraph.compilers.ir import NetworkIR, Plasticity, PopulationIR, ProjectionIR
from nmgraph.compilers.mapping_data import Partition, Placement, Routing
from nmgraph.compilers.quantize import ProjectionQuantization, QuantizationReport
from nmgraph.core.archive import ArchiveReader, write_archive
from nmgraph.core.errors import FileFormatError, NmgraphError, ValidationError
from nmgraph.core.learning import LearningRule
from nmgraph.core.models import model_named
from nmgraph.core.network import check_dt_ms

__all__ = ["FORMAT", "FORMAT_VERSION", "executable_from_payload", "executable_payload", "load_executable",
           "save_executable"]

FORMAT = "nmgraph-executable"
FORMAT_VERSION = 1
SUFFIX = ".nmx"
_PROJECTION_ARRAYS = ("indptr", "targets", "weights", "delays")


class _Arrays:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.members: list[tuple[str, np.ndarray]] = []

    def put(self, name: str, array: np.ndarray) -> str:
        member = f"{self.prefix}/{name}.npy"
        self.members.append((member, np.asarray(array, order="C")))
        return member

    def put_all(self, prefix: str, obj: Any, names: tuple[str, ...]) -> dict[str, str]:
        return {name: self.put(f"{prefix}/{name}", getattr(obj, name)) for name in names}


def _array_fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls) if "ndarray" in str(f.type))


def save_executable(exe: Executable, path: str | os.PathLike[str]) -> Path:
    """Write ``exe`` to ``path`` (``.nmx`` added when there is no suffix) and return the path."""
    path = Path(os.fspath(path))
    if not path.suffix:
        path = path.with_name(path.name + SUFFIX)
    document, members = executable_payload(exe)
    text = json.dumps(document, indent=1, default=_json_default)
    write_archive(path, {"document.json": text}, members)
    return path


def executable_payload(exe: Executable, prefix: str = "arrays"
                       ) -> tuple[dict[str, Any], list[tuple[str, np.ndarray]]]:
    """The JSON document and array members that describe ``exe`` (for this file and snapshots)."""
    arrays = _Arrays(prefix)
    ir = exe.ir
    populations = [{
        "name": pop.name, "process_type": pop.process_type, "model": pop.model,
        "shape": list(pop.shape), "offset": pop.offset,
        "params": {k: arrays.put(f"pop{i}/params/{k}", v) for k, v in pop.params.items()},
        "state": {k: arrays.put(f"pop{i}/state/{k}", v) for k, v in pop.state.items()},
    } for i, pop in enumerate(ir.populations)]
    projections = [{
        "name": proj.name, "pre": proj.pre, "post": proj.post, "n_pre": proj.n_pre,
        "n_post": proj.n_post, "weight_exp": proj.weight_exp,
        "num_weight_bits": proj.num_weight_bits,
        **arrays.put_all(f"proj{i}", proj, _PROJECTION_ARRAYS),
        **_learning_doc(arrays, f"proj{i}", proj),
    } for i, proj in enumerate(ir.projections)]
    part = exe.partition
    document = {
        "format": FORMAT, "version": FORMAT_VERSION, "nmgraph": __version__,
        "profile": exe.profile.to_dict(),
        "ir": {"name": ir.name, "dt_ms": ir.dt_ms, "populations": populations,
               "projections": projections},
        "partition": {"unit_core": arrays.put("partition/unit_core", part.unit_core),
                      "core_kind": list(part.core_kind), "strategy": part.strategy,
                      "lower_bound": dict(part.lower_bound), "notes": list(part.notes),
                      "usage": {k: arrays.put(f"partition/usage/{k}", v)
                                for k, v in part.usage.items()}},
        "placement": {"strategy": exe.placement.strategy,
                      **arrays.put_all("placement", exe.placement, _array_fields(Placement))},
        "routing": {"multicast": bool(exe.routing.multicast),
                    **arrays.put_all("routing", exe.routing, _array_fields(Routing))},
        "tables": arrays.put_all("tables", exe.tables, _array_fields(CoreTables)),
        "quantization": exe.quantization.to_dict(),
        "options": exe.options,
        "rates": None if exe.rates is None else arrays.put("rates", exe.rates),
    }
    return document, arrays.members


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot save {type(value).__name__} in an executable file")


def load_executable(path: str | os.PathLike[str]) -> Executable:
    """Read an Executable written by :func:`save_executable`.

    Raises
    ------
    FileFormatError
        Missing, foreign, corrupt or future-version file; the message names the file.
    """
    try:
        with ArchiveReader(path, FORMAT, FORMAT_VERSION) as reader:
            return executable_from_payload(reader, reader.document)
    except FileFormatError:
        raise
    except Exception as exc:  # last resort: a corrupt file never surfaces as a bare error
        raise FileFormatError(f"{os.fspath(path)}: corrupt executable ({type(exc).__name__}: "
                              f"{exc})") from exc


def executable_from_payload(reader: ArchiveReader, document: dict[str, Any]) -> Executable:
    """Rebuild an Executable from :func:`executable_payload`'s document, read through
    ``reader``, and validate it (``executable_check``: the IR, partition and placement are
    checked, the routing and tables must equal what they give). Every problem is a
    :class:`FileFormatError` naming the file."""
    try:
        exe = _build(reader, document)
        written_by = document.get("nmgraph")
        validate_executable(exe, reader.fail, written_by if isinstance(written_by, str) else None)
        return exe
    except FileFormatError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError,
            RecursionError, MemoryError, NmgraphError) as exc:
        raise reader.fail(f"corrupt executable ({type(exc).__name__}: {exc})") from exc


def _population(reader: ArchiveReader, doc: dict[str, Any]) -> PopulationIR:
    """A population from its document: its model found by name in the registry, its parameters
    and state checked against the model's declared fields (dtype, units, range)."""
    model = model_named(doc["model"], source=str(reader.path))
    shape = tuple(int(n) for n in doc["shape"])
    size = math.prod(shape)
    label = f"{reader.path}: population {doc['name']!r}"
    where = f"population {doc['name']}"
    params = model.Params.build(label, {k: reader.array(m, where) for k, m in doc["params"].items()},
                                size, error=FileFormatError)
    state = model.State.build(label, {k: reader.array(m, where, (size,))
                                      for k, m in doc["state"].items()},
                              size, error=FileFormatError)
    return PopulationIR(name=doc["name"], process_type=doc["process_type"], model=model.name,
                        shape=shape, offset=int(doc["offset"]), params=params, state=state)


def _learning_doc(arrays: _Arrays, prefix: str, proj: ProjectionIR) -> dict[str, Any]:
    """The learning rule and initial learning state of a plastic projection (the rule as its
    JSON form, never pickled), and the trace a third-factor projection drives."""
    doc: dict[str, Any] = {}
    if proj.modulates is not None:
        doc["modulates"] = proj.modulates
    learning = proj.learning
    if learning is not None:
        doc["learning"] = {"rule": learning.rule.as_dict(), "seed": int(learning.seed),
                           "w_bounds": list(learning.w_bounds),
                           "third_factor": dict(learning.third_factor),
                           "tags": arrays.put(f"{prefix}/tags", learning.tags)}
    return doc


def _learning(reader: ArchiveReader, doc: dict[str, Any], where: str, n: int) -> Plasticity | None:
    learning = doc.get("learning")
    if learning is None:
        return None
    try:
        rule = LearningRule.from_dict(learning["rule"])
        seed = learning["seed"]
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64:
            raise ValueError(f"seed {seed!r} is not an integer in 0..2**64 - 1")
        low, high = (int(v) for v in learning["w_bounds"])
        third = {str(k): str(v) for k, v in dict(learning["third_factor"]).items()}
    except NmgraphError as exc:
        raise reader.fail(f"{where}: learning rule: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise reader.fail(f"{where}: learning: {type(exc).__name__}: {exc}") from None
    tags = reader.array(learning["tags"], where, (n,))
    return Plasticity(rule=rule, seed=seed, w_bounds=(low, high), tags=tags, third_factor=third)


def _projection(reader: ArchiveReader, doc: dict[str, Any]) -> ProjectionIR:
    """A projection: its row pointers first (one more than its sources), then its synapse
    arrays, which must have as many entries as the pointers say."""
    where = f"projection {doc['name']}"
    n_pre = int(doc["n_pre"])
    if n_pre < 0:
        raise reader.fail(f"{where}: n_pre {n_pre} < 0")
    indptr = reader.array(doc["indptr"], where, (n_pre + 1,))
    if indptr.dtype.kind not in "iu" or (indptr.size and int(indptr[-1]) < 0):
        raise reader.fail(f"{where}: indptr must be integers ending at the synapse count")
    n = int(indptr[-1]) if indptr.size else 0
    arrays = {k: reader.array(doc[k], where, (n,)) for k in _PROJECTION_ARRAYS if k != "indptr"}
    modulates = doc.get("modulates")
    if modulates is not None and modulates not in ("y2", "y3"):
        raise reader.fail(f"{where}: modulates {modulates!r} must be 'y2' or 'y3'")
    return ProjectionIR(name=doc["name"], pre=doc["pre"], post=doc["post"], n_pre=n_pre,
                        n_post=int(doc["n_post"]), weight_exp=int(doc["weight_exp"]),
                        num_weight_bits=int(doc["num_weight_bits"]), indptr=indptr, **arrays,
                        learning=_learning(reader, doc, where, n), modulates=modulates)


def _build(reader: ArchiveReader, doc: dict[str, Any]) -> Executable:
    get = reader.array
    ir_doc = doc["ir"]
    populations = [_population(reader, p) for p in ir_doc["populations"]]
    projections = [_projection(reader, p) for p in ir_doc["projections"]]
    try:   # files written before dt_ms stepped by 1 ms
        dt_ms = check_dt_ms("the IR", ir_doc.get("dt_ms", 1.0))
    except ValidationError as exc:
        raise reader.fail(str(exc)) from None
    ir = NetworkIR(ir_doc["name"], populations, projections, dt_ms=dt_ms)
    part_doc = doc["partition"]
    partition = Partition(
        unit_core=get(part_doc["unit_core"], "partition", (ir.n_units,)),
        core_kind=list(part_doc["core_kind"]),
        usage={k: get(m, "partition") for k, m in part_doc["usage"].items()},
        lower_bound={k: int(v) for k, v in part_doc["lower_bound"].items()},
        strategy=part_doc["strategy"], notes=list(part_doc["notes"]))
    place_doc = doc["placement"]
    placement = Placement(strategy=place_doc["strategy"], **{
        k: get(place_doc[k], "placement") for k in _array_fields(Placement)})
    route_doc = doc["routing"]
    routing = Routing(multicast=bool(route_doc["multicast"]), **{
        k: get(route_doc[k], "routing") for k in _array_fields(Routing)})
    tables = CoreTables(**{k: get(m, "tables") for k, m in doc["tables"].items()})
    q_doc = doc["quantization"]
    quantization = QuantizationReport(q_doc["profile"], q_doc["rule"], [
        ProjectionQuantization(**entry) for entry in q_doc["projections"]])
    rates = None if doc.get("rates") is None else get(doc["rates"], "rates")
    profile = HardwareProfile.from_dict(doc["profile"], origin=str(reader.path))
    return Executable(ir, profile, partition, placement, routing, tables, quantization,
                      dict(doc["options"]), rates)
