"""Zip archives of JSON plus ``.npy`` members, the one container of every nmgraph file
(networks, executables, runtime snapshots). Written atomically by :func:`write_archive`, read by
:class:`ArchiveReader` (strict JSON, no pickle)."""

from __future__ import annotations

import os
import secrets
import stat
import zipfile
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

import numpy as np

from nmgraph._version import __version__
from nmgraph.core.errors import FileFormatError
from nmgraph.core.jsonable import loads_strict

__all__ = ["MAX_DOCUMENT_BYTES", "ArchiveReader", "load_budget", "read_array_member",
           "write_archive"]

#: Largest JSON document a file may hold (it describes structure, not data).
MAX_DOCUMENT_BYTES = 64 << 20
#: Environment variable that sets how many bytes of arrays one file may load (default: half the
#: machine's physical memory).
BUDGET_VARIABLE = "NMGRAPH_MAX_LOAD_BYTES"


def load_budget() -> int:
    """Bytes of array data one file may load: ``$NMGRAPH_MAX_LOAD_BYTES``, else half of the
    physical memory (1 GiB where that cannot be read)."""
    value = os.environ.get(BUDGET_VARIABLE)
    if value:
        try:
            return max(0, int(value))
        except ValueError:
            pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 1 << 30

_DEFLATE_LEVEL = 1
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed, so that saving the same content gives the same bytes


def write_archive(path: Path, texts: dict[str, str], arrays: Iterable[tuple[str, np.ndarray]],
                  *, compress: bool = True) -> None:
    """Write text members and ``.npy`` array members to ``path``, atomically."""
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED

    def write(stream: IO[bytes]) -> None:
        with zipfile.ZipFile(stream, "w", compression=method, allowZip64=True) as archive:
            for member, text in texts.items():
                archive.writestr(_member_info(member, method), text.encode("utf-8"))
            for member, array in arrays:
                with archive.open(_member_info(member, method), "w", force_zip64=True) as out:
                    np.lib.format.write_array(out, np.asarray(array), allow_pickle=False)

    _write_atomically(path, write)


def read_array_member(archive: zipfile.ZipFile, member: Any, where: str,
                      fail: Callable[[str], FileFormatError], *,
                      shape: tuple[int, ...] | None = None, budget: list[int] | None = None
                      ) -> np.ndarray:
    """Read one ``.npy`` member with ``allow_pickle=False``; ``fail(message)`` makes the error.

    Before any data is read, the ``.npy`` header is checked: a plain dtype (no objects), the
    shape ``shape`` when given, and a data size that fits the remaining ``budget`` (a one-item
    list of bytes, decreased by what is read) and agrees with the size the zip entry declares
    (so a member cannot inflate beyond what it announced).
    """
    if not isinstance(member, str):
        raise fail(f"{where}: an array reference must be a member name, not {member!r}")
    try:
        info = archive.getinfo(member)
        stream = archive.open(info)
    except KeyError as exc:
        raise fail(f"{where}: the array member {member!r} is missing from the archive") from exc
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise fail(f"{where}: the array member {member!r} is corrupt ({exc})") from exc
    try:
        with stream:
            array = _read_npy(stream, info, member, shape, budget)
            if stream.read(1):  # also makes zipfile check the member's CRC
                raise ValueError("trailing bytes after the array data")
    except _Refused as exc:
        raise fail(f"{where}: the array member {member!r} {exc}") from None
    except ValueError as exc:
        raise fail(f"{where}: the array member {member!r} is corrupt ({exc})") from exc
    except (zipfile.BadZipFile, OSError, EOFError, MemoryError, zlib.error) as exc:
        raise fail(f"{where}: the array member {member!r} is corrupt ({type(exc).__name__}: "
                   f"{exc})") from exc
    return array


class _Refused(Exception):
    """A member that is well formed but not acceptable (objects, shape, size)."""


def _read_npy(stream: IO[bytes], info: zipfile.ZipInfo, member: str,
              shape: tuple[int, ...] | None, budget: list[int] | None) -> np.ndarray:
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        found, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
    elif version == (2, 0):
        found, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
    else:
        raise ValueError(f"unsupported .npy version {version}")
    if dtype.hasobject or dtype.kind not in "biufc" or dtype.fields is not None:
        raise _Refused(f"holds {dtype} values (Python objects?); nmgraph never unpickles its "
                       "files, which hold plain numbers")
    if shape is not None and tuple(found) != tuple(shape):
        raise _Refused(f"has shape {tuple(found)}, but the document says {tuple(shape)}")
    items = 1
    for n in found:
        items *= int(n)
    nbytes = items * dtype.itemsize
    header_len = stream.tell() if hasattr(stream, "tell") else None
    if header_len is not None and header_len + nbytes != info.file_size:
        raise ValueError(f"its header announces {nbytes} bytes of data but the zip entry holds "
                         f"{info.file_size - header_len}")
    if budget is not None:
        if nbytes > budget[0]:
            raise _Refused(f"needs {nbytes:,} bytes, more than the {budget[0]:,} left of this "
                           f"file's load budget (set {BUDGET_VARIABLE} to allow more)")
        budget[0] -= nbytes
    data = stream.read(nbytes)
    if len(data) != nbytes:
        raise ValueError(f"truncated: {len(data)} of {nbytes} bytes")
    array = np.frombuffer(data, dtype=dtype).copy() if items else np.zeros(0, dtype)
    return array.reshape(found, order="F" if fortran else "C")


def _member_info(name: str, method: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
    info.compress_type = method
    # deflate level 1: five times faster than the default 6 on weight arrays, about as small
    if hasattr(info, "compress_level"):  # Python >= 3.13
        info.compress_level = _DEFLATE_LEVEL
    else:
        info._compresslevel = _DEFLATE_LEVEL
    info.external_attr = 0o644 << 16
    return info


def _write_atomically(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write through ``write`` into a new file next to ``path``, then rename it over ``path``."""
    directory = path.parent
    if not directory.is_dir():
        raise FileNotFoundError(f"cannot write {path}: the folder {directory} does not exist")
    while True:
        temp = directory / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:  # mode 0o666 so that the umask applies, as for any new file
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                         0o666)
            break
        except FileExistsError:  # pragma: no cover - 48 random bits
            continue
    try:
        with os.fdopen(fd, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


class ArchiveReader:
    """The one reader of nmgraph files: a zip archive holding a strict-JSON document (no ``NaN``
    or ``Infinity``) and ``.npy`` members, read without pickle. Every error is a
    :class:`FileFormatError` that names the file (and the member at fault). Use as a context
    manager::

        with ArchiveReader(path, "nmgraph-executable", max_version=1) as reader:
            document = reader.document
            weights = reader.array(document["weights"], "projection 0")

    The document must be a JSON object with ``"format": file_format`` and an integer
    ``"version"`` from 1 to ``max_version``; ``kind`` names the file in messages (``"nmgraph
    network"``; by default the format name).
    """

    def __init__(self, path: str | os.PathLike[str], file_format: str, max_version: int,
                 member: str = "document.json", *, kind: str | None = None) -> None:
        self.path = Path(os.fspath(path))
        self.file_format = file_format
        self.max_version = max_version
        self.member = member
        self.kind = kind or file_format
        self._archive: zipfile.ZipFile | None = None
        self.document: dict[str, Any] = {}
        #: Bytes of array data this file may still load (see :func:`load_budget`).
        self.budget = [load_budget()]

    def fail(self, message: str) -> FileFormatError:
        """The error to raise (``raise reader.fail(...) from cause``): it names the file."""
        return FileFormatError(f"{self.path}: {message}")

    def __enter__(self) -> ArchiveReader:
        self._archive = self._open()
        try:
            self.document = self._read_document(self._archive)
        except BaseException:
            self.close()
            raise
        return self

    def _open(self) -> zipfile.ZipFile:
        try:
            mode = os.stat(self.path).st_mode
        except FileNotFoundError:
            raise self.fail("no such file") from None
        except OSError as exc:
            raise self.fail(f"cannot be read ({exc})") from exc
        if stat.S_ISDIR(mode):
            raise self.fail(f"is a directory, not an {self.kind} file")
        if not stat.S_ISREG(mode):   # a FIFO or a device would block or never end
            raise self.fail(f"is not a regular file, so not an {self.kind} file")
        try:
            archive = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError) as exc:
            raise self.fail(f"not an {self.kind} file (not a zip archive, or a truncated one: "
                            f"{exc})") from exc
        except OSError as exc:
            raise self.fail(f"cannot be read ({exc})") from exc
        declared = sum(info.file_size for info in archive.infolist())
        if declared > self.budget[0] + MAX_DOCUMENT_BYTES:
            archive.close()
            raise self.fail(f"its members declare {declared:,} bytes, more than the load budget "
                            f"of {self.budget[0]:,} (set {BUDGET_VARIABLE} to allow more)")
        return archive

    def _read_document(self, archive: zipfile.ZipFile) -> dict[str, Any]:
        try:
            info = archive.getinfo(self.member)
            if info.file_size > MAX_DOCUMENT_BYTES:
                raise self.fail(f"{self.member} declares {info.file_size:,} bytes, more than "
                                f"the {MAX_DOCUMENT_BYTES:,} a document may hold")
            raw = archive.read(info)
        except KeyError as exc:
            raise self.fail(f"not an {self.kind} file (the archive has no {self.member})") from exc
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError,
                zlib.error) as exc:
            raise self.fail(f"{self.member} is corrupt ({exc})") from exc
        try:
            document = loads_strict(raw.decode("utf-8"))
        except RecursionError:
            raise self.fail(f"{self.member} nests JSON too deeply") from None
        except (UnicodeDecodeError, ValueError) as exc:
            raise self.fail(f"{self.member} is not valid JSON ({exc})") from exc
        if not isinstance(document, dict):
            raise self.fail(f"{self.member} must hold a JSON object, not "
                            f"{type(document).__name__}")
        found = document.get("format")
        if found != self.file_format:
            raise self.fail(f"not an {self.kind} file (format {found!r}, expected "
                            f"{self.file_format!r})")
        version = document.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise self.fail(f"invalid file format version {version!r}")
        if version > self.max_version:
            writer = document.get("nmgraph")
            by = f" by nmgraph {writer}" if isinstance(writer, str) else ""
            raise self.fail(f"written{by} in file format version {version}, but nmgraph "
                            f"{__version__} reads versions up to {self.max_version}; upgrade "
                            "nmgraph (pip install --upgrade nmgraph) to load it")
        return document

    def array(self, member: Any, where: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
        """The ``.npy`` member named ``member`` (``where`` says what refers to it, for errors),
        checked against ``shape`` when the document implies it, and against the load budget,
        before its data is read."""
        if self._archive is None:
            raise self.fail("archive is closed")
        return read_array_member(self._archive, member, where, self.fail, shape=shape,
                                 budget=self.budget)

    def close(self) -> None:
        if self._archive is not None:
            self._archive.close()
            self._archive = None

    def __exit__(self, *exc: object) -> None:
        self.close()
