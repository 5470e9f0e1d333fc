"""Snapshots: the whole state of a run and the Executable it runs, in one file, never pickled.

A snapshot taken after step ``t`` and restored on any backend and any number of workers continues
exactly as the uninterrupted run would: it holds every neuron's state and parameters, the
synaptic input already on its way (the delay buffers, in a partition-independent layout), the
counters and the spikes so far. State recordings (``record``) are not part of it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from nmgraph._version import __version__
from nmgraph.compilers.executable import Executable
from nmgraph.compilers.executable_io import executable_from_payload, executable_payload
from nmgraph.core.archive import ArchiveReader, write_archive
from nmgraph.core.errors import FileFormatError
from nmgraph.core.learning import TRACE_MAX
from nmgraph.core.learning.arithmetic import T_BOUNDS
from nmgraph.runtimes.plastic_reference import LEARNING_VARS, plastic_axis, plastic_size
from nmgraph.runtimes.state import MAX_STEPS, RunState

__all__ = ["FORMAT", "FORMAT_VERSION", "load_snapshot", "save_snapshot"]

FORMAT = "nmgraph-snapshot"
FORMAT_VERSION = 1
SUFFIX = ".nms"


def save_snapshot(exe: Executable, state: RunState, path: str | os.PathLike[str]) -> Path:
    """Write ``exe`` and ``state`` to one file (``.nms`` added when there is no suffix)."""
    path = Path(os.fspath(path))
    if not path.suffix:
        path = path.with_name(path.name + SUFFIX)
    exe_document, members = executable_payload(exe, prefix="executable")
    values = {}
    for pop_index, (pop, vars_) in enumerate(state.values.items()):
        values[pop] = {}
        for var, array in vars_.items():
            member = f"state/pop{pop_index}/{var}.npy"
            members.append((member, np.asarray(array)))
            values[pop][var] = member
    for name, array in (("pending", state.pending), ("spike_times", state.spike_times),
                        ("spike_units", state.spike_units)):
        members.append((f"state/{name}.npy", np.asarray(array)))
    plastic = {}
    for proj_index, (name, vars_) in enumerate(state.plastic.items()):
        plastic[name] = {}
        for var, array in vars_.items():
            member = f"state/plastic{proj_index}/{var}.npy"
            members.append((member, np.asarray(array)))
            plastic[name][var] = member
    document = {
        "format": FORMAT, "version": FORMAT_VERSION, "nmgraph": __version__,
        "t": int(state.t), "values": values, "plastic": plastic, "counters": state.counters,
        "per_process": state.per_process, "executable": exe_document,
    }
    write_archive(path, {"document.json": json.dumps(document, indent=1)}, members)
    return path


def load_snapshot(path: str | os.PathLike[str]) -> tuple[Executable, RunState]:
    """Read a snapshot written by :func:`save_snapshot` (see :func:`_load`); any failure is a
    :class:`FileFormatError` naming the file."""
    try:
        return _load(path)
    except FileFormatError:
        raise
    except Exception as exc:  # last resort: a corrupt file never surfaces as a bare error
        raise FileFormatError(f"{os.fspath(path)}: corrupt snapshot ({type(exc).__name__}: "
                              f"{exc})") from exc


def _load(path: str | os.PathLike[str]) -> tuple[Executable, RunState]:
    """Read a snapshot written by :func:`save_snapshot`.

    Raises
    ------
    FileFormatError
        Missing, foreign, corrupt or future-version file; the message names the file.
    """
    with ArchiveReader(path, FORMAT, FORMAT_VERSION) as reader:
        doc = reader.document
        exe = executable_from_payload(reader, _field(reader, doc, "executable", dict))
        try:
            values = {pop: {var: reader.array(member, f"state of {pop}")
                            for var, member in vars_.items()}
                      for pop, vars_ in _field(reader, doc, "values", dict).items()}
            state = RunState(
                t=int(_field(reader, doc, "t", int)), values=values,
                pending=reader.array("state/pending.npy", "pending input",
                                     (exe.ir.max_delay, exe.ir.n_units)),
                counters={k: int(v) for k, v in _field(reader, doc, "counters", dict).items()},
                per_process=_field(reader, doc, "per_process", dict),
                spike_times=reader.array("state/spike_times.npy", "spikes"),
                spike_units=reader.array("state/spike_units.npy", "spikes"),
                plastic={name: {var: reader.array(member, f"learning state of {name}")
                                for var, member in vars_.items()}
                         for name, vars_ in doc.get("plastic", {}).items()})
        except FileFormatError:
            raise
        except (AttributeError, TypeError, ValueError, KeyError, IndexError, OverflowError,
                RecursionError, MemoryError) as exc:
            raise reader.fail(f"corrupt snapshot ({type(exc).__name__}: {exc})") from exc
        _check(reader, exe, state)
        _check_plastic(reader, exe, state)
        _check_per_process(reader, exe, state.per_process)
        return exe, state


#: The counters kept for each population.
PER_PROCESS_COUNTERS = {"spikes", "synaptic_ops", "neuron_updates"}


#: The counter kept for each plastic projection.
PER_PLASTIC_COUNTERS = {"synaptic_updates"}


def _check_plastic(reader: ArchiveReader, exe: Executable, state: RunState) -> None:
    """The learning state: every plastic projection's variables, of their lengths and ranges
    (the ranges the learning engine relies on)."""
    plastic = {proj.name: proj for proj in exe.ir.projections if proj.is_plastic}
    if set(state.plastic) != set(plastic):
        raise reader.fail(f"learning state must be given for the plastic projections "
                          f"{sorted(plastic)}")
    for name, proj in plastic.items():
        given = state.plastic[name]
        if set(given) != set(LEARNING_VARS):
            raise reader.fail(f"learning state of '{name}' must give exactly "
                              f"{sorted(LEARNING_VARS)}")
        learning = proj.learning
        ranges = {"weights": learning.w_bounds, "delay": (1, proj.max_delay),
                  "tags": T_BOUNDS, "x0": (0, 1), "y0": (0, 1)}
        for var, values in given.items():
            low, high = ranges.get(var, (0, TRACE_MAX))
            size = plastic_size(proj, plastic_axis(var))
            if values.shape != (size,) or values.dtype.kind not in "iu" or (values.size and (
                    int(values.min()) < low or int(values.max()) > high)):
                raise reader.fail(f"learning state '{name}' {var}: must be {size} integers in "
                                  f"{low}..{high}")
        if "d" not in learning.rule.targets and not np.array_equal(given["delay"], proj.delays):
            raise reader.fail(f"learning state '{name}' delay: its rule has no dd, so its "
                              "delays must be those of the executable")


def _check_per_process(reader: ArchiveReader, exe: Executable, per_process: Any) -> None:
    names = {pop.name for pop in exe.ir.populations}
    plastic = {proj.name for proj in exe.ir.projections if proj.is_plastic}
    if set(per_process) != names | plastic:
        raise reader.fail(f"per_process must have one entry per population {sorted(names)} "
                          f"and per plastic projection {sorted(plastic)}")
    for name, counts in per_process.items():
        expected = PER_PROCESS_COUNTERS if name in names else PER_PLASTIC_COUNTERS
        if name in names and name in plastic:
            expected = PER_PROCESS_COUNTERS | PER_PLASTIC_COUNTERS
        if not isinstance(counts, dict) or set(counts) != expected or not all(
                isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**63
            for v in counts.values()):
            raise reader.fail(f"per_process[{name!r}] must give the counts "
                              f"{sorted(expected)}, each an int >= 0")


def _field(reader: ArchiveReader, doc: dict[str, Any], key: str, kind: type) -> Any:
    value = doc.get(key)
    if not isinstance(value, kind):
        raise reader.fail(f"field {key!r} is missing or not a {kind.__name__}")
    return value


def _check(reader: ArchiveReader, exe: Executable, state: RunState) -> None:
    """Everything the runtimes will index or trust, checked: the pending input's shape and
    dtype, every neuron population's values (the model's fields, each an integer array of one
    value per unit within its declared range; a field declared with a default that the file
    lacks, written before the model had it, takes its default), and the spikes (times in 1..t,
    units in range)."""
    ir = exe.ir
    if not 0 <= state.t <= MAX_STEPS:
        raise reader.fail(f"step count t = {state.t} outside 0..{MAX_STEPS}")
    pending = state.pending
    if pending.shape != (ir.max_delay, ir.n_units) or pending.dtype.kind not in "iu":
        raise reader.fail(f"pending input has shape {pending.shape} ({pending.dtype}), expected "
                          f"integers of shape {(ir.max_delay, ir.n_units)}")
    for pop in ir.populations:
        if pop.is_source:
            continue
        given = state.values.get(pop.name)
        if given is not None:   # fields added to the model since the file was written
            for fields in (pop.params, pop.state):
                given = type(fields).complete(given, pop.size)
            state.values[pop.name] = given
        names = set(pop.params.names()) | set(pop.state.names())
        if given is None or set(given) != names:
            raise reader.fail(f"state of population '{pop.name}' must give exactly "
                              f"{sorted(names)}")
        label = f"{reader.path}: state of population '{pop.name}'"
        for fields in (pop.params, pop.state):   # the model's declared dtypes, shapes, ranges
            type(fields).build(label, {k: given[k] for k in fields.names()}, pop.size,
                               error=FileFormatError)
    times, units = state.spike_times, state.spike_units
    if times.shape != units.shape or times.ndim != 1 or times.dtype.kind not in "iu" or \
            units.dtype.kind not in "iu":
        raise reader.fail("spikes: times and units must be integer arrays of one length")
    if times.size and (int(times.min()) < 1 or int(times.max()) > state.t or
                       int(units.min()) < 0 or int(units.max()) >= ir.n_units):
        raise reader.fail(f"spikes: times must lie in 1..{state.t} and units in "
                          f"0..{ir.n_units - 1}")
    for name, value in state.counters.items():
        if not 0 <= value < 2**63:
            raise reader.fail(f"counter {name!r} = {value} outside 0..2**63 - 1")
