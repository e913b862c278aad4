"""ISO 25178-71 Surface Data File (``.sdf``), ASCII and binary.

Layout
------
* **ASCII** (``aISO-1.0``): a header of ``Key = value`` lines (ManufacID,
  CreateDate, ModDate, NumPoints, NumProfiles, Xscale, Yscale, Zscale,
  Zresolution, Compression, DataType, CheckType) closed by a line ``*``; then
  NumProfiles x NumPoints numbers (free line breaks) closed by ``*``; then a
  trailer (possibly empty) closed by ``*``. ``BAD`` marks an invalid point. A
  file whose last section is not closed is refused as truncated.
* **Binary** (``bISO-1.0``): an 81-byte little-endian header: version 8 s,
  ManufacID 10 s, CreateDate 12 s, ModDate 12 s, NumPoints uint16,
  NumProfiles uint16, Xscale, Yscale, Zscale, Zresolution float64,
  Compression, DataType, CheckType uint8; then the points as DataType;
  anything after them (trailer, checksum) is ignored.
* DataType codes: 0 uint8, 1 uint16, 2 uint32, 3 float32, 4 int8, 5 int16,
  6 int32, 7 float64. In binary files the 16- and 32-bit integer types mark
  invalid points with the extreme value (minimum of signed, maximum of
  unsigned types, the convention of Gwyddion's reader); NaN floats are
  invalid too.
* Units are fixed by the standard: Xscale, Yscale, Zscale in metres per unit;
  height = value x Zscale. Scales are converted in decimal arithmetic, so
  ``Zscale = 1.0E-6`` gives exactly 1000 nm per unit.
* Compressed files (Compression != 0) are refused.

Orientation
-----------
A profile runs along x (NumPoints points, spacing Xscale); profile j lies at
y = j * Yscale, the first profile at y = 0, in the standard's Cartesian
coordinates. Stored rows are therefore y-up: nothing is flipped and
``meta['rows_flipped']`` is False.

Writing
-------
:func:`write_sdf` writes ASCII (default) or binary (``binary=True``) with
DataType 7 (float64), heights in nm and ``Zscale = 1.0E-9``, so heights read
back bit-exact; invalid points are ``BAD`` (ASCII) or NaN (binary). Spacings
are written as exact decimals (ASCII) or the nearest float64 (binary).
Zresolution is written as -1 (unknown): the writer does not know the
instrument's resolution and does not invent one.
"""

from __future__ import annotations

import datetime as _dt
import math
import struct
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FileFormatError
from ..heightmap import HeightMap
from . import _policy
from ._policy import decimal_scaled, decimal_text, float_scaled
from ._registry import Format, register
from ._time import now_local

__all__ = ["read_sdf", "write_sdf"]

_MAGIC_A = b"aISO-1.0"
_MAGIC_B = b"bISO-1.0"
_BIN_HEADER = struct.Struct("<8s10s12s12sHHddddBBB")
assert _BIN_HEADER.size == 81
_DTYPES = {
    0: np.dtype("u1"),
    1: np.dtype("<u2"),
    2: np.dtype("<u4"),
    3: np.dtype("<f4"),
    4: np.dtype("i1"),
    5: np.dtype("<i2"),
    6: np.dtype("<i4"),
    7: np.dtype("<f8"),
}
_INVALID = {1: 2**16 - 1, 2: 2**32 - 1, 5: -(2**15), 6: -(2**31)}
_REQUIRED = ("NumPoints", "NumProfiles", "Xscale", "Yscale", "Zscale", "DataType")
_CANONICAL = {k.lower(): k for k in (
    "ManufacID", "CreateDate", "ModDate", "NumPoints", "NumProfiles", "Xscale", "Yscale",
    "Zscale", "Zresolution", "Compression", "DataType", "CheckType")}


def _sniff(head: bytes) -> bool:
    return head.startswith(_MAGIC_A) or head.startswith(_MAGIC_B)


def _fail(path: Path, msg: str) -> FileFormatError:
    return FileFormatError(f"{path}: {msg}")


def _date(text: str) -> str | None:
    """SDF date DDMMYYYYHHMM -> ISO 8601, or None."""
    t = text.strip()
    if len(t) != 12 or not t.isdigit():
        return None
    try:
        return _dt.datetime(int(t[4:8]), int(t[2:4]), int(t[0:2]),
                            int(t[8:10]), int(t[10:12])).isoformat()
    except ValueError:
        return None


def read_sdf(path: str | Path) -> HeightMap:
    """Read an ISO 25178-71 SDF file (ASCII ``aISO-1.0`` or binary ``bISO-1.0``).

    Returns
    -------
    HeightMap
        Heights in nm, shape (NumProfiles, NumPoints), spacing in mm, y-up rows.

    Raises
    ------
    FileFormatError
        Unknown magic, missing header fields, unsupported DataType or
        compression, data shorter than the header declares.
    """
    p = Path(path)
    size = p.stat().st_size
    with open(p, "rb") as fh:
        magic = fh.read(8)
        if magic == _MAGIC_B:
            return _read_binary(p, fh, size)
        if magic == _MAGIC_A:
            rest = fh.read()
            return _read_ascii(p, rest, size)
    raise _fail(p, f"does not start with aISO-1.0 or bISO-1.0 (found {magic!r}); not an "
                "ISO 25178-71 SDF file")


def _check_header(p: Path, h: dict[str, Any]) -> tuple[int, int, float, float, float, int]:
    nx, ny = h["NumPoints"], h["NumProfiles"]
    if nx <= 0 or ny <= 0:
        raise _fail(p, f"NumPoints={nx}, NumProfiles={ny} must be positive")
    comp = h.get("Compression", 0)
    if comp != 0:
        raise _fail(p, f"Compression={comp}: compressed SDF files are not supported")
    dt = h["DataType"]
    if dt not in _DTYPES:
        raise _fail(p, f"unsupported DataType {dt} (expected 0..7)")
    dx, dy, zs = h["dx_mm"], h["dy_mm"], h["z_to_nm"]
    if not (math.isfinite(dx) and dx > 0):
        raise _fail(p, f"Xscale must be a positive spacing, got {h['Xscale']!r}")
    if not (math.isfinite(dy) and dy > 0):
        if ny == 1:
            dy = dx
        else:
            raise _fail(p, f"Yscale must be a positive spacing, got {h['Yscale']!r}")
    if not (math.isfinite(zs) and zs != 0):
        raise _fail(p, f"Zscale must be a non-zero finite scale, got {h['Zscale']!r}")
    _policy.check_range("z_scale_nm", zs, p, "Zscale (nm per unit)", absolute=True)
    return nx, ny, dx, dy, zs, dt


def _read_binary(p: Path, fh: Any, size: int) -> HeightMap:
    raw_head = fh.read(_BIN_HEADER.size - 8)
    if len(raw_head) != _BIN_HEADER.size - 8:
        raise _fail(p, f"binary SDF header truncated ({8 + len(raw_head)} of 81 bytes)")
    (_, manuf, cdate, mdate, nx, ny, xs, ys, zs, zres, comp, dt,
     chk) = _BIN_HEADER.unpack(_MAGIC_B + raw_head)
    h: dict[str, Any] = {
        "ManufacID": manuf.rstrip(b"\x00 ").decode("latin-1"),
        "CreateDate": cdate.rstrip(b"\x00 ").decode("latin-1"),
        "ModDate": mdate.rstrip(b"\x00 ").decode("latin-1"),
        "NumPoints": nx, "NumProfiles": ny, "Xscale": xs, "Yscale": ys, "Zscale": zs,
        "Zresolution": zres, "Compression": comp, "DataType": dt, "CheckType": chk,
        "dx_mm": float_scaled(xs, 3), "dy_mm": float_scaled(ys, 3),
        "z_to_nm": float_scaled(zs, 9),
    }
    nx, ny, dx, dy, ztn, dt = _check_header(p, h)
    dtype = _DTYPES[dt]
    nbytes = nx * ny * dtype.itemsize
    if size < _BIN_HEADER.size + nbytes:
        raise _fail(p, f"header declares {ny} x {nx} points of {dtype.itemsize} bytes "
                    f"({nbytes} bytes) but only {size - _BIN_HEADER.size} follow the header "
                    "(truncated or corrupt)")
    _policy.check_map_size(p, "the points", (ny, nx), dtype.itemsize,
                           stored=size - _BIN_HEADER.size)
    raw = np.empty((ny, nx), dtype=dtype)
    if fh.readinto(memoryview(raw).cast("B")) != nbytes:
        raise _fail(p, "file ended while reading the points (truncated)")
    z = raw if dtype == np.dtype("<f8") and np.little_endian else raw.astype(np.float64)
    if dt in _INVALID:
        z[raw == _INVALID[dt]] = np.nan
    del raw
    with np.errstate(over="raise", invalid="ignore"):
        try:
            z *= ztn
        except FloatingPointError:
            raise _fail(p, "heights overflow when scaled to nm; corrupt data") from None
    return _finish(p, z, dx, dy, ztn, h, "binary", size - _BIN_HEADER.size - nbytes)


def _read_ascii(p: Path, rest: bytes, size: int) -> HeightMap:
    text = rest.decode("latin-1")
    lines = text.splitlines()
    h: dict[str, Any] = {}
    i = 0
    while i < len(lines) and lines[i].strip() != "*":
        ln = lines[i].strip()
        i += 1
        if not ln:
            continue
        if "=" not in ln:
            raise _fail(p, f"header line {i + 1} {ln[:40]!r} is not 'Key = value'")
        k, v = (s.strip() for s in ln.split("=", 1))
        h[_CANONICAL.get(k.lower(), k)] = v
    if i >= len(lines):
        raise _fail(p, "header is not closed by a '*' line (truncated)")
    missing = [k for k in _REQUIRED if k not in h]
    if missing:
        raise _fail(p, "header lacks " + ", ".join(missing))
    for k in ("NumPoints", "NumProfiles", "Compression", "DataType", "CheckType"):
        if k in h:
            try:
                h[k] = int(h[k])
            except ValueError:
                raise _fail(p, f"header {k} = {h[k]!r} is not an integer") from None
    h["dx_mm"] = decimal_scaled(h["Xscale"], 3, "header Xscale")
    h["dy_mm"] = decimal_scaled(h["Yscale"], 3, "header Yscale")
    h["z_to_nm"] = decimal_scaled(h["Zscale"], 9, "header Zscale")
    nx, ny, dx, dy, ztn, _dt_code = _check_header(p, h)
    n = nx * ny
    if n > size // 2 + 1:  # every value needs at least one character and a separator
        raise _fail(p, f"header declares {ny} x {nx} points, more than a {size}-byte file "
                    "can hold (truncated or corrupt)")
    i += 1
    tokens: list[str] = []
    closed = False
    while i < len(lines):
        ln = lines[i].strip()
        i += 1
        if ln == "*":
            closed = True
            break
        tokens.extend(ln.split())
        if len(tokens) > n:
            break
    if len(tokens) != n:
        raise _fail(p, f"data section holds {len(tokens)} values, header declares "
                    f"{ny} x {nx} = {n} (truncated or corrupt)")
    if not closed:
        raise _fail(p, "data section is not closed by a '*' line (truncated)")
    vals = np.empty(n)
    for k, t in enumerate(tokens):
        try:
            vals[k] = float(t)
        except ValueError:
            if t.upper() == "BAD":
                vals[k] = np.nan
            else:
                raise _fail(p, f"data value {k} = {t!r} is not a number or BAD") from None
    rest = [ln.strip() for ln in lines[i:]]
    while rest and not rest[-1]:
        rest.pop()
    if not rest or rest[-1] != "*":
        raise _fail(p, "the trailer section is not closed by a '*' line (an ASCII SDF file has "
                    "three sections, each closed by '*'): truncated")
    trailer = "\n".join(rest[:-1][:200]).strip()
    h["trailer"] = trailer[:4096] or None
    with np.errstate(over="raise", invalid="ignore"):
        try:
            vals *= ztn
        except FloatingPointError:
            raise _fail(p, "heights overflow when scaled to nm; corrupt data") from None
    return _finish(p, vals.reshape(ny, nx), dx, dy, ztn, h, "ascii", None)


def _finish(p: Path, z_nm: np.ndarray, dx: float, dy: float, ztn: float,
            h: dict[str, Any], variant: str, trailing: int | None) -> HeightMap:
    header = {k: v for k, v in h.items() if k not in ("dx_mm", "dy_mm", "z_to_nm")}
    meta: dict[str, Any] = {
        "format": "sdf",
        "instrument": str(h.get("ManufacID") or "") or None,
        "software": None,
        "wavelength_nm": None,
        "timestamp": _date(str(h.get("CreateDate") or "")),
        "z_unit_original": "m",
        "z_scale_to_nm": ztn,
        "rows_flipped": False,
        "sdf_variant": variant,
        "sdf_header": header,
        "sdf_modified": _date(str(h.get("ModDate") or "")),
    }
    if trailing:
        meta["sdf_trailing_bytes"] = trailing
    return HeightMap._adopt(z_nm, dx, dy, meta)


def write_sdf(hm: HeightMap, path: str | Path, *, binary: bool = False,
              manufacturer: str = "metrology") -> None:
    """Write ``hm`` as ISO 25178-71 SDF (ASCII by default, binary with ``binary=True``).

    Parameters
    ----------
    hm : HeightMap
        Heights in nm; rows y-up (written as stored, first profile at y = 0).
    path : path-like
    binary : bool
        Write ``bISO-1.0`` (float64 points) instead of ``aISO-1.0`` text.
    manufacturer : str
        ManufacID (at most 10 characters).

    Raises
    ------
    FileFormatError
        Binary SDF with more than 65535 points per profile or profiles.
    """
    ny, nx = hm.shape
    manuf = manufacturer[:10]
    now = now_local().strftime("%d%m%Y%H%M")
    z = hm.z_nm
    if binary:
        if nx > 65535 or ny > 65535:
            raise FileFormatError(f"binary SDF holds at most 65535 x 65535 points, map is "
                                  f"{ny} x {nx}; write ASCII instead")
        head = _BIN_HEADER.pack(
            _MAGIC_B, manuf.encode("latin-1", "replace").ljust(10, b" "),
            now.encode(), now.encode(), nx, ny,
            float(decimal_text(hm.dx_mm, -3)), float(decimal_text(hm.dy_mm, -3)), 1e-9,
            -1.0, 0, 7, 0)
        data = np.where(np.isfinite(z), z, np.nan).astype("<f8").tobytes()
        Path(path).write_bytes(head + data)
        return
    lines = [
        _MAGIC_A.decode(),
        f"ManufacID = {manuf}",
        f"CreateDate = {now}",
        f"ModDate = {now}",
        f"NumPoints = {nx}",
        f"NumProfiles = {ny}",
        f"Xscale = {decimal_text(hm.dx_mm, -3)}",
        f"Yscale = {decimal_text(hm.dy_mm, -3)}",
        "Zscale = 1.0E-9",
        "Zresolution = -1",
        "Compression = 0",
        "DataType = 7",
        "CheckType = 0",
        "*",
    ]
    for row in z.tolist():
        lines.append(" ".join(repr(v) if math.isfinite(v) else "BAD" for v in row))
    lines += ["*", "*"]
    Path(path).write_text("\n".join(lines) + "\n", encoding="ascii")


register(Format(
    name="sdf",
    extensions=(".sdf",),
    description="ISO 25178-71 SDF surface data file (ASCII aISO-1.0 and binary bISO-1.0)",
    sniff=_sniff,
    read=read_sdf,
    write=write_sdf,
))
