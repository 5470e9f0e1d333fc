"""Native save/load of networks: one ``.nmg`` file, JSON for the structure plus NumPy arrays.

File layout
-----------
A ``.nmg`` file is a zip archive (readable with :mod:`zipfile`, ``unzip -l``) holding:

``structure.json``
    UTF-8, strict JSON (no ``NaN``/``Infinity``)::

        {"format": "nmgraph-network", "version": 1, "nmgraph": "0.1.0", "name": "demo",
         "processes": [{"type": "nmgraph.processes.neurons:LIF", "name": "exc",
                        "args": {"shape": {"tuple": [800]}, "du": {"full": ...},
                                 "v": {"array": "arrays/exc/v.npy"}, ...}},
                       ...],
         "connections": [["syn", "a_out", "exc", "a_in"], ...]}

    ``processes`` lists the processes in the order they were added (the canonical neuron order of
    lowering); ``connections`` lists ``[src_name, src_port, dst_name, dst_port]`` in the order of
    :attr:`Network.connections`. ``type`` is the ``module:QualName`` key of
    :data:`~nmgraph.core.process.PROCESS_TYPES`; ``args`` are the process's
    :meth:`~nmgraph.core.process.Process.constructor_args`, so that ``type(name=name, **args)``
    rebuilds it.
``arrays/<process path>/<argument>.npy``
    One member per non-uniform array argument, in NumPy's ``.npy`` format (written with
    :func:`numpy.lib.format.write_array`, read back with ``allow_pickle=False``). Object arrays are
    refused: a model file is never unpickled.

Argument values are encoded recursively. JSON ``null``, booleans, strings, numbers and lists stand
for themselves; every JSON *object* is a tagged value with exactly one key:

- ``{"tuple": [...]}``: a tuple (``shape``, Sparse's ``(rows, cols, values)``);
- ``{"dict": {...}}``: a dict with string keys;
- ``{"array": "arrays/<process>/<argument>.npy"}``: a NumPy array stored as a member;
- ``{"full": {"shape": [...], "dtype": "<i4", "value": 7}}``: an integer or bool array whose
  elements are all equal (a scalar parameter broadcast to a population costs no space);
- ``{"int": "18446744073709551615"}``: an int beyond +-2**53, exact whatever reads the JSON;
- ``{"float": "nan" | "inf" | "-inf"}``: a non-finite float.

NumPy scalars are saved as the equivalent Python number.

Hierarchical processes
----------------------
A :class:`~nmgraph.core.hierarchy.Hierarchical` process is saved by structure::

    {"type": "nmgraph.core.hierarchy:Hierarchical", "name": "layer", "saved_from": "mymod:Layer",
     "children": [...processes, recursively...], "connections": [...between children...],
     "exposed": [["s_in", "syn", "s_in"], ...]}

and loaded as an instance of the generic :class:`~nmgraph.core.hierarchy.Hierarchical`, rebuilt with
``add``/``connect``/``expose``: the same children, connections, exposed ports and names, so it
lowers to the same network. A user subclass therefore comes back as the generic class (its own
methods and attributes are not restored; ``saved_from`` records where it came from) **unless** it
overrides :meth:`~nmgraph.core.process.Process.constructor_args`: it is then saved like any other
process, by type and arguments, and its own constructor rebuilds the children.
"""

from __future__ import annotations

import importlib
import json
import math
import numbers
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from nmgraph._version import __version__
from nmgraph.core.archive import ArchiveReader, write_archive
from nmgraph.core.errors import FileFormatError, NmgraphError, ValidationError
from nmgraph.core.hierarchy import Hierarchical
from nmgraph.core.network import Network, check_dt_ms
from nmgraph.core.process import PROCESS_TYPES, Process, process_type_key

__all__ = ["FORMAT", "FORMAT_VERSION", "SUFFIX", "load_network", "save_network"]

#: Value of the ``format`` field of a saved network.
FORMAT = "nmgraph-network"
#: Newest file format version this nmgraph writes and reads.
FORMAT_VERSION = 1
#: Suffix added by :func:`save_network` to a path that has none.
SUFFIX = ".nmg"

_STRUCTURE = "structure.json"
_ARRAYS = "arrays/"
_HIERARCHICAL_KEY = process_type_key(Hierarchical)
_TAGS = ("tuple", "dict", "array", "full", "int", "float")
_JSON_INT_MAX = 2**53
_DEFLATE_LEVEL = 1
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed, so that saving the same network gives the same bytes


# ================================================================================================
# saving
# ================================================================================================
def save_network(net: Network, path: str | os.PathLike[str], *, compress: bool = True) -> Path:
    """Write ``net`` to one file and return its path.

    ``.nmg`` is appended when ``path`` has no suffix. The file is written to a temporary file in
    the same directory and moved over ``path`` only when complete, so a failure never leaves a
    half-written file (nor damages an existing one).

    Parameters
    ----------
    net
        The network to save.
    path
        Destination file.
    compress
        Deflate the array members (level 1: weight and delay arrays typically shrink 3-5 times);
        ``False`` writes faster and bigger files. Either loads the same.

    Raises
    ------
    ValidationError
        A process whose arguments cannot be saved (an object that is not a number, string, bool,
        None, list, tuple, str-keyed dict or numeric NumPy array).
    OSError
        The file cannot be written (missing directory, permissions, full disk).
    """
    if not isinstance(net, Network):
        raise ValidationError("save_network", "net", "expects a Network", net)
    path = Path(os.fspath(path))
    if not path.suffix:
        path = path.with_name(path.name + SUFFIX)

    writer = _Encoder()
    document = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "nmgraph": __version__,
        "name": net.name,
        "dt_ms": net.dt_ms,
        "processes": [writer.process(p, p.name) for p in net.processes],
        "connections": _connections(net),
    }
    text = _to_json(document) + "\n"
    write_archive(path, {_STRUCTURE: text}, writer.arrays, compress=compress)
    return path


def _to_json(value: Any, indent: str = "") -> str:
    """Strict JSON, one line per value that fits in 100 columns, nested otherwise (readable)."""
    flat = json.dumps(value, allow_nan=False, ensure_ascii=False)
    if len(flat) + len(indent) <= 100 or not isinstance(value, (dict, list)) or not value:
        return flat
    inner = indent + " "
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(k, ensure_ascii=False)}: {_to_json(v, inner).lstrip()}"
                 for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    items = [inner + _to_json(v, inner).lstrip() for v in value]
    return "[\n" + ",\n".join(items) + "\n" + indent + "]"


def _connections(net: Network) -> list[list[str]]:
    return [[c.src.name, c.src_port, c.dst.name, c.dst_port] for c in net.connections]


class _Encoder:
    """Turns processes into JSON-able dicts, collecting the arrays that become ``.npy`` members."""

    def __init__(self) -> None:
        self.arrays: list[tuple[str, np.ndarray]] = []
        self._members: set[str] = set()

    def process(self, process: Process, path: str) -> dict[str, Any]:
        if isinstance(process, Hierarchical) and \
                type(process).constructor_args is Hierarchical.constructor_args:
            return self.hierarchical(process, path)
        args = process.constructor_args()
        if not isinstance(args, dict) or not all(isinstance(k, str) for k in args):
            raise ValidationError(process, "constructor_args", "must return a dict of keyword "
                                  "arguments to be saved", args)
        if "name" in args:
            raise ValidationError(process, "constructor_args", "must not include 'name' (it is "
                                  "saved and passed separately)")
        entry = {"type": process_type_key(type(process)), "name": process.name,
                 "args": {key: self.value(process, path, key, value)
                          for key, value in args.items()}}
        if process.dt_ms is not None and "dt_ms" not in args:
            entry["dt_ms"] = process.dt_ms   # the step its physical units were converted with
        return entry

    def hierarchical(self, process: Hierarchical, path: str) -> dict[str, Any]:
        if process.vars:
            raise ValidationError(process, "", f"has Vars {sorted(process.vars)} and is saved by "
                                  "structure, which keeps only children, connections and exposed "
                                  "ports; define constructor_args() to save it by its arguments")
        exposed = []
        for name, port in process.ports.items():
            if port.target is None:
                raise ValidationError(process, name, "is a port of its own (not an exposed child "
                                      "port) and cannot be saved by structure; define "
                                      "constructor_args() to save the process by its arguments")
            exposed.append([name, port.target.process.name, port.target.name])
        return {"type": _HIERARCHICAL_KEY, "name": process.name,
                "saved_from": process_type_key(type(process)),
                "children": [self.process(child, f"{path}/{child.name}")
                             for child in process.children.processes],
                "connections": _connections(process.children),
                "exposed": exposed}

    def value(self, process: Process, path: str, where: str, value: Any) -> Any:
        """The JSON encoding of one argument value (``where`` names it in errors and members)."""
        if isinstance(value, np.generic) and not isinstance(value, np.void):
            value = value.item()
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, numbers.Integral):
            value = int(value)
            return value if abs(value) <= _JSON_INT_MAX else {"int": str(value)}
        if isinstance(value, float):
            return value if math.isfinite(value) else {"float": repr(value)}
        if isinstance(value, list):
            return [self.value(process, path, f"{where}.{i}", v) for i, v in enumerate(value)]
        if isinstance(value, tuple):
            return {"tuple": [self.value(process, path, f"{where}.{i}", v)
                              for i, v in enumerate(value)]}
        if isinstance(value, dict):
            bad = [k for k in value if not isinstance(k, str)]
            if bad:
                raise ValidationError(process, f"constructor_args()[{where!r}]", "cannot be saved: "
                                      "dict keys must be strings", bad[0])
            return {"dict": {k: self.value(process, path, f"{where}.{k}", v)
                             for k, v in value.items()}}
        if isinstance(value, np.ndarray):
            return self.array(process, path, where, value)
        raise ValidationError(process, f"constructor_args()[{where!r}]", "cannot be saved: "
                              "expected numbers, strings, bools, None, lists, tuples, dicts or "
                              f"numeric NumPy arrays, not {type(value).__name__}", value)

    def array(self, process: Process, path: str, where: str, array: np.ndarray) -> Any:
        if array.dtype.hasobject or array.dtype.kind not in "biufcmMSUV":
            raise ValidationError(process, f"constructor_args()[{where!r}]", "cannot be saved: "
                                  f"arrays of dtype {array.dtype} would need pickle", array)
        if array.dtype.kind in "biu" and array.size > 1 and \
                bool(np.all(array == array.flat[0])):
            return {"full": {"shape": list(array.shape), "dtype": array.dtype.str,
                             "value": self.value(process, path, where, array.flat[0])}}
        member = f"{_ARRAYS}{path}/{where}.npy"
        if member in self._members:  # only with unusual dict keys; keep members unique
            member = f"{_ARRAYS}{path}/{where}~{len(self.arrays)}.npy"
        self._members.add(member)
        self.arrays.append((member, array))
        return {"array": member}


# ================================================================================================
# loading
# ================================================================================================
def load_network(path: str | os.PathLike[str]) -> Network:
    """Read a network written by :func:`save_network` (or ``Network.save``).

    Processes of types outside nmgraph are found in :data:`~nmgraph.core.process.PROCESS_TYPES`, so the
    module that defines them must have been imported first. Hierarchical processes come back as
    the generic :class:`~nmgraph.core.hierarchy.Hierarchical` (see the module documentation).

    Raises
    ------
    FileFormatError
        The file is missing, is not an nmgraph network file, is corrupt, was written by a newer
        nmgraph, names an unknown process type, or holds arguments a constructor rejects. The
        message names the file and what is wrong; the underlying error is chained.
    """
    path = Path(os.fspath(path))
    try:
        with ArchiveReader(path, FORMAT, FORMAT_VERSION, member=_STRUCTURE,
                           kind="nmgraph network") as reader:
            return _Decoder(reader).network()
    except FileFormatError:
        raise
    except zipfile.BadZipFile as exc:
        raise FileFormatError(f"{path}: not an nmgraph network file (not a zip archive, or a "
                              f"truncated one: {exc})") from exc
    except OSError as exc:
        raise FileFormatError(f"{path}: cannot be read ({exc})") from exc
    except Exception as exc:  # last resort: a corrupt file must never surface as a bare error
        raise FileFormatError(f"{path}: corrupt nmgraph network file "
                              f"({type(exc).__name__}: {exc})") from exc


class _Decoder:
    """Rebuilds the Network from the document and arrays of an open :class:`ArchiveReader`."""

    def __init__(self, reader: ArchiveReader) -> None:
        self.reader = reader
        self.fail = reader.fail
        self.array = reader.array

    # -- document -------------------------------------------------------------------------------
    def network(self) -> Network:
        document = self.reader.document
        name = self.field(document, "name", str, "the document")
        dt_ms = document.get("dt_ms", 1.0)   # files before dt_ms stepped by 1 ms
        try:
            net = Network(name, dt_ms=dt_ms)
        except NmgraphError as exc:
            raise self.fail(f"bad network name or dt_ms ({exc})") from exc
        self.fill(net, document, "the network")
        return net

    def field(self, obj: dict[str, Any], key: str, kind: type, where: str) -> Any:
        if key not in obj:
            raise self.fail(f"{where} has no {key!r}")
        value = obj[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.fail(f"{where}: {key!r} must be a {kind.__name__}, not "
                            f"{type(value).__name__}")
        return value

    def fill(self, net: Network, spec: dict[str, Any], where: str) -> None:
        """Add the processes of ``spec["processes"|"children"]`` to ``net``, then connect them."""
        key = "children" if "children" in spec else "processes"
        for i, entry in enumerate(self.field(spec, key, list, where)):
            process = self.process(entry, f"{where}, {key}[{i}]")
            try:
                net.add(process)
            except NmgraphError as exc:
                raise self.fail(f"{where}: cannot add {process!r} ({exc})") from exc
        for i, conn in enumerate(self.field(spec, "connections", list, where)):
            self.connect(net, conn, f"{where}, connections[{i}]")

    def connect(self, net: Network, conn: Any, where: str) -> None:
        if not (isinstance(conn, list) and len(conn) == 4 and
                all(isinstance(s, str) for s in conn)):
            raise self.fail(f"{where}: a connection is [src_name, src_port, dst_name, dst_port], "
                            f"not {conn!r}")
        src_name, src_port, dst_name, dst_port = conn
        try:
            out_port = net[src_name].port(src_port)
            in_port = net[dst_name].port(dst_port)
            if out_port.shape != in_port.shape:  # it was made through a reshaped view
                net.connect(out_port.reshape(in_port.shape), in_port)
            else:
                net.connect(out_port, in_port)
        except NmgraphError as exc:
            raise self.fail(f"{where}: cannot connect {src_name}.{src_port} -> "
                            f"{dst_name}.{dst_port} ({exc})") from exc

    # -- processes ------------------------------------------------------------------------------
    def process(self, entry: Any, where: str) -> Process:
        if not isinstance(entry, dict):
            raise self.fail(f"{where} must be a JSON object, not {type(entry).__name__}")
        type_key = self.field(entry, "type", str, where)
        name = self.field(entry, "name", str, where)
        where = f"{where} ({type_key.rpartition(':')[2]} {name!r})"
        if "children" in entry:
            return self.hierarchical(entry, name, where)
        cls = self.process_type(type_key, where)
        encoded = self.field(entry, "args", dict, where)
        args = {key: self.value(value, where) for key, value in encoded.items()}
        try:
            process = cls(name=name, **args)
        except Exception as exc:
            raise self.fail(f"{where}: the constructor of {type_key} rejects the stored "
                            f"arguments ({type(exc).__name__}: {exc})") from exc
        if "dt_ms" in entry:
            try:
                step = check_dt_ms(process, entry["dt_ms"])
            except NmgraphError as exc:
                raise self.fail(f"{where}: {exc}") from exc
            object.__setattr__(process, "_dt_ms", step)
        return process

    def process_type(self, type_key: str, where: str) -> type[Process]:
        cls = PROCESS_TYPES.get(type_key)
        module = type_key.partition(":")[0]
        if cls is None and (module == "nmgraph" or module.startswith("nmgraph.")):
            try:  # nmgraph's own modules may simply not be imported yet
                importlib.import_module(module)
            except ImportError:
                pass
            cls = PROCESS_TYPES.get(type_key)
        if cls is None and (module == "nmgraph" or module.startswith("nmgraph.")):
            raise self.fail(f"{where}: unknown process type {type_key!r}: nmgraph "
                            f"{__version__} does not define it (was the file written by "
                            "another version of nmgraph?)")
        if cls is None:
            raise self.fail(f"{where}: unknown process type {type_key!r}; import the module that "
                            f"defines it ({module}) before loading")
        return cls

    def hierarchical(self, entry: dict[str, Any], name: str, where: str) -> Hierarchical:
        try:
            process = Hierarchical(name=name)
        except NmgraphError as exc:
            raise self.fail(f"{where}: {exc}") from exc
        self.fill(process.children, entry, where)
        for i, item in enumerate(self.field(entry, "exposed", list, where)):
            if not (isinstance(item, list) and len(item) == 3 and
                    all(isinstance(s, str) for s in item)):
                raise self.fail(f"{where}, exposed[{i}]: an exposed port is [name, child, "
                                f"child_port], not {item!r}")
            port_name, child, child_port = item
            try:
                process.expose(port_name, process.children[child].port(child_port))
            except NmgraphError as exc:
                raise self.fail(f"{where}: cannot expose {child}.{child_port} as {port_name!r} "
                                f"({exc})") from exc
        return process

    # -- values ---------------------------------------------------------------------------------
    def value(self, value: Any, where: str) -> Any:
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, list):
            return [self.value(v, where) for v in value]
        if not (isinstance(value, dict) and len(value) == 1 and next(iter(value)) in _TAGS):
            raise self.fail(f"{where}: unknown encoded value {_short(value)}; expected a JSON "
                            f"number, string, bool, null, list or an object tagged with one of "
                            f"{list(_TAGS)}")
        tag, body = next(iter(value.items()))
        try:
            if tag == "tuple":
                return tuple(self.value(v, where) for v in _expect(body, list))
            if tag == "dict":
                return {k: self.value(v, where) for k, v in _expect(body, dict).items()}
            if tag == "int":
                return int(_expect(body, str))
            if tag == "float":
                if body not in ("nan", "inf", "-inf"):
                    raise ValueError(f"not a non-finite float: {body!r}")
                return float(body)
            if tag == "full":
                body = _expect(body, dict)
                shape = tuple(_expect(n, int) for n in _expect(body["shape"], list))
                dtype = np.dtype(_expect(body["dtype"], str))
                if dtype.kind not in "biu":
                    raise ValueError(f"dtype {dtype} is not an integer or bool dtype")
                return np.full(shape, self.value(body["value"], where), dtype=dtype)
        except FileFormatError:
            raise
        except (TypeError, ValueError, KeyError, OverflowError) as exc:
            raise self.fail(f"{where}: bad {tag!r} value {_short(body)} ({exc})") from exc
        return self.array(body, where)


def _expect(value: Any, kind: type) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(f"expected a {kind.__name__}, got {type(value).__name__}")
    return value


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
