"""Zip containers (x3p, npz): open, refuse tricks, read members within the limits.

* An archive with two entries of the same name is refused (readers would
  silently take the last one).
* Every member is checked before it is decoded: its stored size must fit in
  the file, a stored (uncompressed) member must decode to exactly its stored
  bytes, a compressed one to at most the expansion limit of its codec
  (:func:`metrology.io._policy.check_map_size`).
* Members are read into a preallocated array (no intermediate ``bytes``
  copy of the whole member), and the zip CRC is checked at the end.
"""

from __future__ import annotations

import hashlib
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FileFormatError
from . import _policy

__all__ = ["open_zip", "check_member", "read_bytes", "read_into", "CODECS"]

#: zip compression method -> codec name of the expansion limits
CODECS = {zipfile.ZIP_STORED: "none", zipfile.ZIP_DEFLATED: "deflate",
          zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "lzma"}
_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError,
           struct.error, zlib.error, NotImplementedError, RuntimeError, IndexError, KeyError)


def open_zip(path: Path, what: str) -> zipfile.ZipFile:
    """Open ``path`` as a zip archive; refuse duplicate entry names."""
    try:
        zf = zipfile.ZipFile(path, "r")
    except _ERRORS as exc:
        raise FileFormatError(f"{path}: not a readable zip archive, so not {what} ({exc})") \
            from exc
    names = [i.filename for i in zf.infolist()]
    if len(set(names)) != len(names):
        seen: set[str] = set()
        dup = sorted({n for n in names if n in seen or seen.add(n)})  # type: ignore[func-returns-value]
        zf.close()
        raise FileFormatError(f"{path}: the archive holds several entries named "
                              f"{', '.join(repr(d) for d in dup[:5])}; which one is meant "
                              "cannot be told, refused")
    return zf


def check_member(path: Path, info: zipfile.ZipInfo, what: str, archive_size: int,
                 shape: tuple[int, ...] | None = None, itemsize: int = 1) -> None:
    """Refuse a member before decoding it (sizes against the archive and the limits).

    ``shape``/``itemsize`` give the array the member must hold (its decoded size
    must then be exactly that); without them the member is checked as bytes.
    """
    codec = CODECS.get(info.compress_type)
    if codec is None:
        raise FileFormatError(f"{path}: {what} {info.filename!r} uses zip compression method "
                              f"{info.compress_type}, which is not supported")
    if info.compress_size > archive_size:
        raise FileFormatError(f"{path}: {what} {info.filename!r} claims {info.compress_size} "
                              f"stored bytes in a {archive_size}-byte file (truncated or corrupt)")
    if codec == "none" and info.file_size != info.compress_size:
        raise FileFormatError(f"{path}: {what} {info.filename!r} is stored uncompressed but "
                              f"claims {info.file_size} bytes from {info.compress_size}; corrupt")
    if shape is not None:
        n = 1
        for s in shape:
            n *= int(s)
        if info.file_size != n * itemsize:
            raise FileFormatError(f"{path}: {what} {info.filename!r} holds {info.file_size} "
                                  f"bytes but the file declares {' x '.join(str(s) for s in shape)}"
                                  f" values of {itemsize} bytes = {n * itemsize} bytes (size "
                                  "mismatch: truncated or corrupt)")
        _policy.check_map_size(path, f"{what} {info.filename!r}", shape, itemsize,
                               stored=info.compress_size, codec=codec)
    elif info.file_size > 0:
        _policy.check_map_size(path, f"{what} {info.filename!r}", (info.file_size,), 1,
                               stored=info.compress_size, codec=codec)


def read_bytes(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> bytes:
    """A (checked) member as bytes; CRC verified."""
    try:
        return zf.read(info)
    except _ERRORS as exc:
        raise FileFormatError(f"{path}: cannot extract {info.filename!r}: "
                              f"{type(exc).__name__}: {exc}") from exc


def read_into(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, out: np.ndarray,
              md5: bool = False) -> str | None:
    """Fill the C-contiguous array ``out`` with the member's bytes (exactly its size);
    CRC verified; returns the MD5 hex digest when ``md5``."""
    view = memoryview(out).cast("B")
    h: Any = hashlib.md5() if md5 else None
    pos = 0
    try:
        with zf.open(info) as fp:
            while pos < len(view):
                n = fp.readinto(view[pos:pos + (8 << 20)])
                if not n:
                    break
                if h is not None:
                    h.update(view[pos:pos + n])
                pos += n
            if pos != len(view) or fp.read(1):
                raise FileFormatError(f"{path}: {info.filename!r} decodes to a size other than "
                                      f"the {len(view)} bytes declared; corrupt")
    except FileFormatError:
        raise
    except _ERRORS as exc:
        raise FileFormatError(f"{path}: cannot extract {info.filename!r}: "
                              f"{type(exc).__name__}: {exc}") from exc
    return h.hexdigest() if h is not None else None
