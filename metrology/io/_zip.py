"""Zip containers (x3p, npz): open, refuse tricks, read members within the limits.

* An archive with two entries of the same name is refused (readers would
  silently take the last one).
* Every member is checked before it is decoded: its stored size must fit in
  the file, a stored (uncompressed) member must decode to exactly its stored
  bytes, a compressed one to at most the expansion limit of its codec
  (:func:`metrology.io._policy.check_map_size`).
* Members are decoded here, not by :mod:`zipfile` (whose bzip2 and lzma
  readers decode a whole input block at once: 1 kB of bzip2 became 1 GiB
  while reading a 6-byte header): every decoder call is bounded by the
  member's declared size, so no member yields more than it declares, and the
  zip CRC is checked at the end. Members go into a preallocated array (no
  intermediate ``bytes`` copy of the whole member).
"""

from __future__ import annotations

import bz2
import hashlib
import lzma
import struct
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FileFormatError
from . import _policy

__all__ = ["open_zip", "member_codec", "check_member", "read_bytes", "read_into", "MemberStream",
           "CODECS"]

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


def member_codec(path: Path, info: zipfile.ZipInfo, what: str, archive_size: int) -> str:
    """The member's codec name, after the checks that need no decoding: a supported
    method, stored bytes within the archive, an uncompressed member's two sizes equal."""
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
    return codec


def check_member(path: Path, info: zipfile.ZipInfo, what: str, archive_size: int,
                 shape: tuple[int, ...] | None = None, itemsize: int = 1) -> None:
    """Refuse a member before decoding it (sizes against the archive and the limits).

    ``shape``/``itemsize`` give the array the member must hold (its decoded size
    must then be exactly that); without them the member is checked as bytes.
    """
    codec = member_codec(path, info, what, archive_size)
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
    elif info.file_size > 0 and codec != "none":  # count the bytes as float64 values
        _policy.check_map_size(path, f"{what} {info.filename!r}", (-(-info.file_size // 8),), 8,
                               stored=info.compress_size, codec=codec)


_CHUNK = 1 << 20


def _decoder(path: Path, info: zipfile.ZipInfo, first: bytes) -> tuple[Any, int]:
    """A bounded decoder for the member's method, and how many leading bytes it consumed."""
    if info.compress_type == zipfile.ZIP_DEFLATED:
        return zlib.decompressobj(-15), 0
    if info.compress_type == zipfile.ZIP_BZIP2:
        return bz2.BZ2Decompressor(), 0
    if info.compress_type == zipfile.ZIP_LZMA:  # 2-byte version, 2-byte size, properties
        if len(first) < 4:
            raise FileFormatError(f"{path}: {info.filename!r}: truncated lzma header")
        (psize,) = struct.unpack_from("<H", first, 2)
        props = first[4:4 + psize]
        try:
            filt = lzma._decode_filter_properties(lzma.FILTER_LZMA1, props)  # type: ignore[attr-defined]
            return lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[filt]), 4 + psize
        except (lzma.LZMAError, AttributeError, ValueError) as exc:
            raise FileFormatError(f"{path}: {info.filename!r}: bad lzma header ({exc})") from exc
    raise FileFormatError(f"{path}: {info.filename!r} uses zip compression method "
                          f"{info.compress_type}, which is not supported")


def _data_offset(fh: Any, path: Path, info: zipfile.ZipInfo) -> int:
    fh.seek(info.header_offset)
    head = fh.read(30)
    if len(head) != 30 or head[:4] != b"PK\x03\x04":
        raise FileFormatError(f"{path}: {info.filename!r}: bad local file header")
    n, e = struct.unpack_from("<HH", head, 26)
    return info.header_offset + 30 + n + e


def decoded(path: Path, info: zipfile.ZipInfo) -> Iterator[bytes]:
    """The member's bytes in chunks, never more than it declares; CRC checked at the end."""
    if info.flag_bits & 0x1:
        raise FileFormatError(f"{path}: {info.filename!r} is encrypted")
    want, got, crc = info.file_size, 0, 0

    def emit(out: bytes) -> bytes:
        nonlocal got, crc
        got += len(out)
        if got > want:
            raise FileFormatError(f"{path}: {info.filename!r} decodes to more than the "
                                  f"{want} bytes it declares; corrupt")
        crc = zlib.crc32(out, crc)
        return out

    with open(path, "rb") as fh:
        fh.seek(_data_offset(fh, path, info))
        left = info.compress_size

        def more() -> bytes:
            nonlocal left
            chunk = fh.read(min(left, _CHUNK)) if left > 0 else b""
            left = left - len(chunk) if chunk else 0
            return chunk

        if info.compress_type == zipfile.ZIP_STORED:
            while chunk := more():
                yield emit(chunk)
        else:
            data = more()
            dec, skip = _decoder(path, info, data)
            data = data[skip:]
            is_zlib = info.compress_type == zipfile.ZIP_DEFLATED
            while True:
                try:
                    out = dec.decompress(data, min(_CHUNK, want - got + 1))  # +1 shows a lie
                except (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError) as exc:
                    raise FileFormatError(f"{path}: {info.filename!r} is corrupt "
                                          f"({exc})") from exc
                if out:
                    yield emit(out)
                if dec.eof:
                    break
                starving = (not dec.unconsumed_tail) if is_zlib else dec.needs_input
                if is_zlib:
                    data = dec.unconsumed_tail
                else:
                    data = b""
                if starving:
                    data = data + more()
                    if not data:
                        break  # input ended before the stream did: truncated
    if got != want:
        raise FileFormatError(f"{path}: {info.filename!r} decodes to {got} bytes, {want} "
                              "declared (truncated or corrupt)")
    if crc != info.CRC:
        raise FileFormatError(f"{path}: {info.filename!r} fails its CRC check (corrupt)")


def read_bytes(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> bytes:
    """A (checked) member as bytes; CRC verified."""
    return b"".join(decoded(path, info))


def read_into(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, out: np.ndarray,
              md5: bool = False) -> str | None:
    """Fill the C-contiguous array ``out`` with the member's bytes (exactly its size);
    CRC verified; returns the MD5 hex digest when ``md5``."""
    view = memoryview(out).cast("B")
    if info.file_size != len(view):
        raise FileFormatError(f"{path}: {info.filename!r} holds {info.file_size} bytes, "
                              f"{len(view)} expected")
    h: Any = hashlib.md5() if md5 else None
    pos = 0
    for chunk in decoded(path, info):
        view[pos:pos + len(chunk)] = chunk
        if h is not None:
            h.update(chunk)
        pos += len(chunk)
    return h.hexdigest() if h is not None else None


class MemberStream:
    """A read-only file object over a member's decoded bytes (for ``numpy.lib.format``)."""

    def __init__(self, path: Path, info: zipfile.ZipInfo) -> None:
        self._it = decoded(path, info)
        self._buf = b""
        self._pos = 0

    def tell(self) -> int:
        return self._pos

    def _fill(self, n: int) -> None:
        while len(self._buf) < n:
            chunk = next(self._it, None)
            if chunk is None:
                break
            self._buf += chunk

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            data = self._buf + b"".join(self._it)
            self._buf = b""
        else:
            self._fill(n)
            data, self._buf = self._buf[:n], self._buf[n:]
        self._pos += len(data)
        return data

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        n = 0
        while n < len(view):
            if not self._buf:
                chunk = next(self._it, None)
                if chunk is None:
                    break
                self._buf = chunk
            k = min(len(self._buf), len(view) - n)
            view[n:n + k] = self._buf[:k]
            self._buf = self._buf[k:]
            n += k
        self._pos += n
        return n

    def drain(self) -> None:
        """Decode the rest (checks the size and the CRC)."""
        self._buf = b""
        for chunk in self._it:
            self._pos += len(chunk)
