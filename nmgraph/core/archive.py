"""Zip archives of JSON plus ``.npy`` members, the one container of every nmgraph file
(networks, executables, runtime snapshots). Written atomically, read without pickle."""

from __future__ import annotations

import os
import secrets
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

import numpy as np

from nmgraph.core.errors import FileFormatError

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
    """Reads a JSON document and its array members from an nmgraph archive, with errors that
    name the file. Use as a context manager::

        with ArchiveReader(path, "nmgraph-executable", max_version=1) as reader:
            document = reader.document
            weights = reader.array(document["weights"], "projection 0")
    """

    def __init__(self, path: str | os.PathLike[str], file_format: str, max_version: int,
                 member: str = "document.json") -> None:
        self.path = Path(os.fspath(path))
        self.file_format = file_format
        self.max_version = max_version
        self.member = member
        self._archive: zipfile.ZipFile | None = None
        self.document: dict[str, Any] = {}

    def fail(self, message: str) -> FileFormatError:
        return FileFormatError(f"{self.path}: {message}")

    def __enter__(self) -> ArchiveReader:
        import json

        if not self.path.is_file():
            raise self.fail("no such file")
        try:
            self._archive = zipfile.ZipFile(self.path)
            raw = self._archive.read(self.member)
            document = json.loads(raw.decode("utf-8"))
        except KeyError as exc:
            self.close()
            raise self.fail(f"not an {self.file_format} file (no {self.member})") from exc
        except (zipfile.BadZipFile, OSError, EOFError, UnicodeDecodeError, ValueError) as exc:
            self.close()
            raise self.fail(f"not a readable {self.file_format} file ({exc})") from exc
        if not isinstance(document, dict) or document.get("format") != self.file_format:
            self.close()
            found = document.get("format") if isinstance(document, dict) else None
            raise self.fail(f"not an {self.file_format} file (format {found!r})")
        version = document.get("version")
        if not isinstance(version, int) or version < 1:
            self.close()
            raise self.fail(f"bad format version {version!r}")
        if version > self.max_version:
            self.close()
            raise self.fail(f"written in {self.file_format} version {version} by nmgraph "
                            f"{document.get('nmgraph', '?')}; this nmgraph reads versions up to "
                            f"{self.max_version}: upgrade nmgraph")
        self.document = document
        return self

    def array(self, member: Any, where: str) -> np.ndarray:
        if self._archive is None:
            raise self.fail("archive is closed")
        return read_array_member(self._archive, member, where, self.fail)

    def close(self) -> None:
        if self._archive is not None:
            self._archive.close()
            self._archive = None

    def __exit__(self, *exc: object) -> None:
        self.close()
