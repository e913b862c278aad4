"""Bounded reading of binary files, shared by the block-structured readers.

Every read goes through :class:`BinFile`, which checks the requested range
against the file size *before* reading or allocating, and turns every
inconsistency into a :class:`~metrology.errors.FileFormatError` that names
the file and the field. The limits themselves (map size, spacing, heights)
are the reader policy's (:class:`metrology.io._policy.ReaderLimits`, changed
with :func:`metrology.io.limits`); this module only applies them.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..errors import FileFormatError
from . import _policy

__all__ = ["BinFile", "check_spacing_mm", "check_heights_nm", "check_shape", "cstr"]


class BinFile:
    """A binary file opened read-only; :meth:`read` checks every range first."""

    def __init__(self, path: Path, fh: BinaryIO) -> None:
        self.path = path
        self.fh = fh
        fh.seek(0, 2)
        self.size = fh.tell()
        fh.seek(0)

    def fail(self, msg: str) -> FileFormatError:
        """A FileFormatError naming the file."""
        return FileFormatError(f"{self.path}: {msg}")

    def need(self, offset: int, n: int, what: str) -> None:
        """Raise unless bytes [offset, offset + n) lie inside the file."""
        if offset < 0 or n < 0 or offset + n > self.size:
            raise self.fail(f"{what} needs bytes {offset}..{offset + n} but the file has "
                            f"{self.size} bytes (truncated or corrupt)")

    def read(self, offset: int, n: int, what: str) -> bytes:
        """Exactly ``n`` bytes at ``offset`` (checked against the file size first)."""
        self.need(offset, n, what)
        self.fh.seek(offset)
        b = self.fh.read(n)
        if len(b) != n:
            raise self.fail(f"file ended while reading {what} (truncated)")
        return b

    def unpack(self, fmt: str, offset: int, what: str) -> tuple[Any, ...]:
        """``struct.unpack`` of ``fmt`` at ``offset``."""
        s = struct.Struct(fmt)
        return s.unpack(self.read(offset, s.size, what))

    def array(self, offset: int, count: int, dtype: Any, what: str) -> np.ndarray:
        """``count`` items of ``dtype`` at ``offset``: a fresh, writable array.

        The count is checked against the map-size limit and the bytes the file
        holds after ``offset`` (:func:`metrology.io._policy.check_map_size`)
        before anything is allocated; the data are read straight into the array.
        """
        dt = np.dtype(dtype)
        _policy.check_map_size(self.path, what, (int(count),), dt.itemsize,
                               stored=max(self.size - max(offset, 0), 0))
        self.need(offset, count * dt.itemsize, what)
        out = np.empty(count, dtype=dt)
        self.fh.seek(offset)
        if self.fh.readinto(memoryview(out.view(np.uint8))) != out.nbytes:
            raise self.fail(f"file ended while reading {what} (truncated)")
        return out


def check_shape(bf: BinFile, nrows: int, ncols: int, what: str) -> None:
    """Positive dimensions whose product is within the ``max_pixels`` limit."""
    if nrows <= 0 or ncols <= 0:
        raise bf.fail(f"{what}: {nrows} rows x {ncols} columns must both be positive")
    lim = _policy.current_limits().max_pixels
    if nrows * ncols > lim:
        raise bf.fail(f"{what} declares {nrows} x {ncols} = {nrows * ncols} values, more than "
                      f"the limit of {lim} (max_pixels; corrupt header, or raise it with "
                      "metrology.io.limits(max_pixels=...))")


def check_spacing_mm(bf: BinFile, value: float, what: str) -> float:
    """A lateral spacing in mm within the ``spacing_mm`` limit."""
    return _policy.check_range("spacing_mm", value, bf.path, f"{what} (mm)")


def check_heights_nm(bf: BinFile, z: np.ndarray, what: str) -> None:
    """Valid heights within the ``height_nm_max`` limit."""
    _policy.check_heights(bf.path, z, f"{what}: heights")


def cstr(b: bytes) -> str:
    """A NUL-terminated latin-1 string from a fixed-size field, stripped."""
    return b.split(b"\x00", 1)[0].decode("latin-1").strip()
