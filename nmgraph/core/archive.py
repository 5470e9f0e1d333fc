"""Zip archives of JSON plus ``.npy`` members, the one container of every nmgraph file
(networks, executables, runtime snapshots). Written atomically by :func:`write_archive`, read by
:class:`ArchiveReader` (strict JSON, no pickle)."""

from __future__ import annotations

import os
import secrets
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

import numpy as np

from nmgraph._version import __version__
from nmgraph.core.errors import FileFormatError
from nmgraph.core.jsonable import loads_strict

__all__ = ["ArchiveReader", "read_array_member", "write_archive"]

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
                      fail: Callable[[str], FileFormatError]) -> np.ndarray:
    """Read one ``.npy`` member with ``allow_pickle=False``; ``fail(message)`` makes the error."""
    if not isinstance(member, str):
        raise fail(f"{where}: an array reference must be a member name, not {member!r}")
    try:
        stream = archive.open(member)
    except KeyError as exc:
        raise fail(f"{where}: the array member {member!r} is missing from the archive") from exc
    try:
        with stream:
            array = np.lib.format.read_array(stream, allow_pickle=False)
            if stream.read(1):  # also makes zipfile check the member's CRC
                raise ValueError("trailing bytes after the array data")
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise fail(f"{where}: the array member {member!r} holds Python objects; nmgraph "
                       "never unpickles its files") from exc
        raise fail(f"{where}: the array member {member!r} is corrupt ({exc})") from exc
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise fail(f"{where}: the array member {member!r} is corrupt ({exc})") from exc
    return array


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
        if self.path.is_dir():
            raise self.fail(f"is a directory, not an {self.kind} file")
        if not self.path.exists():
            raise self.fail("no such file")
        try:
            return zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, EOFError) as exc:
            raise self.fail(f"not an {self.kind} file (not a zip archive, or a truncated one: "
                            f"{exc})") from exc
        except OSError as exc:
            raise self.fail(f"cannot be read ({exc})") from exc

    def _read_document(self, archive: zipfile.ZipFile) -> dict[str, Any]:
        try:
            raw = archive.read(self.member)
        except KeyError as exc:
            raise self.fail(f"not an {self.kind} file (the archive has no {self.member})") from exc
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise self.fail(f"{self.member} is corrupt ({exc})") from exc
        try:
            document = loads_strict(raw.decode("utf-8"))
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

    def array(self, member: Any, where: str) -> np.ndarray:
        """The ``.npy`` member named ``member`` (``where`` says what refers to it, for errors)."""
        if self._archive is None:
            raise self.fail("archive is closed")
        return read_array_member(self._archive, member, where, self.fail)

    def close(self) -> None:
        if self._archive is not None:
            self._archive.close()
            self._archive = None

    def __exit__(self, *exc: object) -> None:
        self.close()
