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
from nmgraph.runtimes.state import RunState

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
    document = {
        "format": FORMAT, "version": FORMAT_VERSION, "nmgraph": __version__,
        "t": int(state.t), "values": values, "counters": state.counters,
        "per_process": state.per_process, "executable": exe_document,
    }
    write_archive(path, {"document.json": json.dumps(document, indent=1)}, members)
    return path


def load_snapshot(path: str | os.PathLike[str]) -> tuple[Executable, RunState]:
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
                pending=reader.array("state/pending.npy", "pending input"),
                counters={k: int(v) for k, v in _field(reader, doc, "counters", dict).items()},
                per_process=_field(reader, doc, "per_process", dict),
                spike_times=reader.array("state/spike_times.npy", "spikes"),
                spike_units=reader.array("state/spike_units.npy", "spikes"))
        except FileFormatError:
            raise
        except (AttributeError, TypeError, ValueError) as exc:
            raise reader.fail(f"corrupt snapshot ({exc})") from exc
        _check(reader, exe, state)
        return exe, state


def _field(reader: ArchiveReader, doc: dict[str, Any], key: str, kind: type) -> Any:
    value = doc.get(key)
    if not isinstance(value, kind):
        raise reader.fail(f"field {key!r} is missing or not a {kind.__name__}")
    return value


def _check(reader: ArchiveReader, exe: Executable, state: RunState) -> None:
    ir = exe.ir
    if state.pending.shape != (ir.max_delay, ir.n_units):
        raise reader.fail(f"pending input has shape {state.pending.shape}, expected "
                          f"{(ir.max_delay, ir.n_units)}")
    for pop in ir.populations:
        if pop.is_source:
            continue
        given = state.values.get(pop.name)
        if given is None or any(np.shape(v) != (pop.size,) for v in given.values()):
            raise reader.fail(f"state of population '{pop.name}' is missing or misshapen")
