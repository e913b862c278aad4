"""Bounded reading of binary files, shared by the block-structured readers.

Every read goes through :class:`BinFile`, which checks the requested range
against the file size *before* reading or allocating, and turns every
inconsistency into a :class:`~metrology.errors.FileFormatError` that names
the file and the field. The plausibility limits below are the ones the
format policy of the project uses (spacings 1e-9 .. 1e4 mm, heights within
+-1e9 nm, a maximum number of points).
"""

from __future__ import annotations

import math
import struct
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..errors import FileFormatError

__all__ = ["BinFile", "MAX_POINTS", "check_spacing_mm", "check_heights_nm", "check_shape"]

#: largest map read (points); 2**27 float64 values are 1 GiB
MAX_POINTS = 1 << 27
#: plausible lateral spacing, mm
SPACING_MM = (1e-9, 1e4)
#: plausible |height|, nm
MAX_ABS_HEIGHT_NM = 1e9


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
        """``count`` items of ``dtype`` at ``offset`` (a fresh, writable array)."""
        dt = np.dtype(dtype)
        if count < 0 or count > MAX_POINTS:
            raise self.fail(f"{what}: {count} values is more than this reader accepts "
                            f"({MAX_POINTS})")
        buf = self.read(offset, count * dt.itemsize, what)
        return np.frombuffer(buf, dtype=dt, count=count).copy()


def check_shape(bf: BinFile, nrows: int, ncols: int, what: str) -> None:
    """Positive dimensions whose product is within :data:`MAX_POINTS`."""
    if nrows <= 0 or ncols <= 0:
        raise bf.fail(f"{what}: {nrows} rows x {ncols} columns must both be positive")
    if nrows * ncols > MAX_POINTS:
        raise bf.fail(f"{what}: {nrows} x {ncols} points is more than this reader accepts "
                      f"({MAX_POINTS})")


def check_spacing_mm(bf: BinFile, value: float, what: str) -> float:
    """A lateral spacing in mm within the plausible range."""
    v = float(value)
    lo, hi = SPACING_MM
    if not (math.isfinite(v) and lo <= v <= hi):
        raise bf.fail(f"{what} = {value!r} mm is not a plausible spacing ({lo:g} to {hi:g} "
                      "mm); corrupt header?")
    return v


def check_heights_nm(bf: BinFile, z: np.ndarray, what: str) -> None:
    """Valid heights within +-:data:`MAX_ABS_HEIGHT_NM`."""
    v = z[np.isfinite(z)]
    if v.size and float(np.max(np.abs(v))) > MAX_ABS_HEIGHT_NM:
        raise bf.fail(f"{what}: heights up to {float(np.max(np.abs(v))):.3g} nm are not "
                      f"plausible (limit {MAX_ABS_HEIGHT_NM:g} nm); corrupt scale or data?")


def cstr(b: bytes) -> str:
    """A NUL-terminated latin-1 string from a fixed-size field, stripped."""
    return b.split(b"\x00", 1)[0].decode("latin-1").strip()
