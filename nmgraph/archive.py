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

from nmgraph.errors import FileFormatError

__all__ = ["read_array_member", "write_archive"]

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
