"""Bruker / Veeco / WYKO Vision ``.opd`` (NT, ContourGT white-light interferometers); read only.

Layout (public facts: Gwyddion's ``opdfile.c`` and SurfaceTopography's
``OPD.py`` describe it; our own code)
-----------------------------------------------------------------------
All numbers little-endian.

* Bytes 0-1: ``01 00``; then the *directory block* entry at byte 2: a
  24-byte entry like every other (below) named ``Directory``, type 1, flags
  ``0xffff``, whose size is the length of the directory itself: it holds
  size / 24 entries, the first being its own.
* Entry (24 bytes): name (16 bytes, NUL-padded), uint16 type, uint32 size,
  uint16 flags. The data of the entries follow the directory back to back,
  in directory order, starting at byte 2 + directory size; entries of size 0
  have no data.
* Types: 3 array, 5 text, 6 int16, 7 float32, 8 float64, 12 int32; other
  types (seen: 15, a serialised property set of newer Vision versions) are
  skipped, not refused (the peer surfalize fails on them).
* An array: uint16 nx, uint16 ny, uint16 bytes per element (1 uint8,
  2 int16, 4 float32), then nx * ny elements stored **column by column**
  (the ny values of column 0 first).
* Heights: the array named ``RAW_DATA``, ``RAW DATA``, ``OPD``,
  ``SAMPLE_DATA`` or ``Raw`` (the first of them in the file; pick another
  with ``channel=``); ``Image``, ``Intensity`` and ``SecArr_0`` are
  intensity. height = value x ``Wavelength`` / ``Mult`` in nm
  (``Wavelength`` float32 in nm, required; ``Mult`` int16, default 1).
  Invalid points: float32 >= 1e38 (Vision writes 1.7014118e38), int16
  >= 32766.
* Spacing: ``Pixel_size`` (float32, mm) along x, ``Pixel_size`` x
  ``Aspect`` (float32, default 1) along y.

Orientation
-----------
Within each stored column the first value is the *bottom* of the image:
Gwyddion (which matches the Vision display) puts value k of a column at
image row ny - 1 - k, SurfaceTopography reverses each column
(``fliplr`` of its [x, y] array) and surfalize rotates by 90 degrees, all
three placing the first value at the bottom. So the column-major data,
transposed, are already y-up (row 0 = first stored value = bottom): the
reader transposes and does not flip (``meta['rows_flipped'] = False``). No
documentation from Bruker is public; this rests on the three peers'
agreement. Tests write a marked asymmetric array in this layout and check
where the mark lands.

Every block is checked against the file size before anything is read, and
every array against its block.
"""

from __future__ import annotations

import datetime as _dt
import struct
from pathlib import Path
from typing import Any

import numpy as np

from ..heightmap import HeightMap
from ._binread import BinFile, check_heights_nm, check_shape, check_spacing_mm, cstr
from ._policy import float_scaled
from ._registry import Format, register

__all__ = ["read_opd"]

_MAGIC = b"\x01\x00Directory"
_ENTRY = 24
HEIGHT_NAMES = ("RAW_DATA", "RAW DATA", "OPD", "SAMPLE_DATA", "Raw")
INTENSITY_NAMES = ("Image", "Intensity", "SecArr_0")
_SCALAR = {6: ("<h", 2), 7: ("<f", 4), 8: ("<d", 8), 12: ("<i", 4)}
_ARRAY_DTYPES = {1: np.dtype("u1"), 2: np.dtype("<i2"), 4: np.dtype("<f4")}
_MAX_ENTRIES = 1 << 16


def _sniff(head: bytes) -> bool:
    return head.startswith(_MAGIC)


def _blocks(bf: BinFile) -> list[dict[str, Any]]:
    name_b, btype, dsize, flags = bf.unpack("<16shIH", 2, "directory entry")
    if cstr(name_b) != "Directory" or btype != 1:
        raise bf.fail(f"the first block is {cstr(name_b)!r} (type {btype}), not the "
                      "'Directory' block of a Vision .opd file")
    if dsize % _ENTRY or dsize < _ENTRY:
        raise bf.fail(f"directory size {dsize} is not a positive multiple of {_ENTRY} bytes "
                      "(corrupt)")
    n = dsize // _ENTRY
    if n > _MAX_ENTRIES:
        raise bf.fail(f"directory declares {n} entries (corrupt)")
    table = bf.read(2, dsize, "directory")
    out = []
    offset = 2 + dsize
    for i in range(1, n):
        name_b, btype, size, flags = struct.unpack_from("<16shIH", table, i * _ENTRY)
        name = cstr(name_b)
        if size:
            if offset + size > bf.size:
                raise bf.fail(f"block {name!r} ({size} bytes at byte {offset}) runs past the "
                              f"end of the {bf.size}-byte file (truncated or corrupt)")
            out.append({"name": name, "type": btype, "size": size, "offset": offset,
                        "flags": flags})
        offset += size
    return out


def _scalar(bf: BinFile, b: dict[str, Any]) -> Any:
    t, size = b["type"], b["size"]
    if t == 7 and size == 2:  # Vision writes some AdjustVSI_ shorts typed as float
        t = 6
    if t in _SCALAR:
        fmt, n = _SCALAR[t]
        if size != n:
            raise bf.fail(f"block {b['name']!r} of type {t} has {size} bytes, expected {n}")
        return bf.unpack(fmt, b["offset"], f"block {b['name']!r}")[0]
    if t == 5:
        return cstr(bf.read(b["offset"], min(size, 4096), f"text block {b['name']!r}"))
    return None


def read_opd(path: str | Path, *, channel: str | None = None) -> HeightMap:
    """Read a Bruker/WYKO Vision ``.opd`` height map.

    Parameters
    ----------
    path : path-like
    channel : str, optional
        Name of the array block to read (default: the first height array,
        see the module docstring). Intensity arrays are refused.

    Returns
    -------
    HeightMap
        Heights in nm, shape (ny, nx), y-up (transposed from the
        column-major file, not flipped), spacing in mm. ``meta`` adds the
        wavelength, ``opd_mult``, ``opd_aspect``, ``opd_channel`` and the
        scalar blocks (``opd_blocks``).

    Raises
    ------
    FileFormatError
        Not a Vision file, no height array, missing ``Wavelength`` or
        ``Pixel_size``, sizes beyond the file, implausible values.
    """
    p = Path(path)
    with open(p, "rb") as fh:
        bf = BinFile(p, fh)
        if not _sniff(bf.read(0, min(bf.size, 11), "magic")):
            raise bf.fail("does not start with 01 00 'Directory'; not a Vision .opd file")
        blocks = _blocks(bf)
        by_name: dict[str, dict[str, Any]] = {}
        for b in blocks:
            by_name.setdefault(b["name"], b)
        scalars: dict[str, Any] = {}
        unread: list[str] = []
        for b in blocks:
            if b["type"] == 3:
                continue
            v = _scalar(bf, b)
            if v is None:
                unread.append(f"{b['name']} (type {b['type']})")
            else:
                scalars.setdefault(b["name"], v)
        arrays = [b for b in blocks if b["type"] == 3]
        if channel is None:
            cands = [b for b in arrays if b["name"] in HEIGHT_NAMES]
            if not cands:
                names = ", ".join(b["name"] for b in arrays) or "none"
                raise bf.fail(f"no height array (one of {', '.join(HEIGHT_NAMES)}); arrays "
                              f"in the file: {names}")
            blk = cands[0]
        else:
            if channel not in by_name or by_name[channel]["type"] != 3:
                names = ", ".join(b["name"] for b in arrays) or "none"
                raise bf.fail(f"no array block named {channel!r}; arrays: {names}")
            if channel in INTENSITY_NAMES:
                raise bf.fail(f"block {channel!r} is an intensity image, not heights")
            blk = by_name[channel]
        if blk["size"] < 6:
            raise bf.fail(f"array block {blk['name']!r} is {blk['size']} bytes, too short")
        nx, ny, el = bf.unpack("<HHH", blk["offset"], f"array {blk['name']!r} header")
        if el not in _ARRAY_DTYPES:
            raise bf.fail(f"array {blk['name']!r} has {el} bytes per element (1, 2 or 4 "
                          "expected)")
        if el == 1:
            raise bf.fail(f"array {blk['name']!r} holds 8-bit values: an intensity image, "
                          "not heights")
        check_shape(bf, ny, nx, f"array {blk['name']!r}")
        if 6 + nx * ny * el > blk["size"]:
            raise bf.fail(f"array {blk['name']!r} declares {nx} x {ny} values of {el} bytes "
                          f"but its block holds {blk['size'] - 6} bytes (corrupt)")
        raw = bf.array(blk["offset"] + 6, nx * ny, _ARRAY_DTYPES[el], f"array {blk['name']!r}")

    wl = scalars.get("Wavelength")
    if not isinstance(wl, float):
        raise bf.fail("no float 'Wavelength' block: the height scale is unknown")
    px = scalars.get("Pixel_size")
    if not isinstance(px, float):
        raise bf.fail("no float 'Pixel_size' block: the lateral spacing is unknown")
    mult = scalars.get("Mult", 1)
    if not isinstance(mult, int) or mult <= 0:
        raise bf.fail(f"'Mult' = {mult!r} must be a positive integer")
    aspect = scalars.get("Aspect", 1.0)
    if not isinstance(aspect, (int, float)) or not aspect > 0:
        raise bf.fail(f"'Aspect' = {aspect!r} must be positive")
    wl_nm = float_scaled(wl, 0, single=True)
    if not (1.0 <= wl_nm <= 1e5):
        raise bf.fail(f"'Wavelength' = {wl!r} nm is not plausible")
    dx = check_spacing_mm(bf, float_scaled(px, 0, single=True), "Pixel_size")
    dy = check_spacing_mm(bf, dx * float_scaled(float(aspect), 0, single=True),
                          "Pixel_size x Aspect")

    if el == 4:
        bad = ~np.isfinite(raw) | (raw >= np.float32(1e38))
    else:
        bad = raw >= 32766
    z = raw.astype(np.float64) * (wl_nm / mult)
    z[bad] = np.nan
    z = np.ascontiguousarray(z.reshape(nx, ny).T)  # column-major file -> rows along y (up)
    check_heights_nm(bf, z, f"array {blk['name']!r}")

    ts = None
    try:
        if isinstance(scalars.get("Date"), str) and isinstance(scalars.get("Time"), str):
            ts = _dt.datetime.strptime(f"{scalars['Date']} {scalars['Time']}",
                                       "%m/%d/%Y %H:%M:%S").isoformat()
    except ValueError:
        ts = None
    inst = None
    for k in ("MachineID", "Instrument", "SerialNum"):
        if isinstance(scalars.get(k), str) and scalars[k]:
            inst = f"Bruker/WYKO {scalars[k]}" if k == "MachineID" else str(scalars[k])
            break
    meta: dict[str, Any] = {
        "format": "opd",
        "instrument": inst or "Bruker/WYKO Vision (white-light interferometer)",
        "software": "Vision",
        "wavelength_nm": wl_nm,
        "timestamp": ts,
        "z_unit_original": "wavelength / Mult",
        "z_scale_to_nm": wl_nm / mult,
        "height_kind": "surface height (Vision value x Wavelength / Mult)",
        "rows_flipped": False,
        "opd_row_order": "column-major file transposed; first value of a column = bottom "
                         "(y-up, no flip)",
        "opd_channel": blk["name"],
        "opd_element_bytes": el,
        "opd_mult": mult,
        "opd_aspect": float(aspect),
        "opd_arrays": [b["name"] for b in arrays],
        "opd_unread_blocks": unread,
        "opd_blocks": {k: v for k, v in scalars.items()
                       if not (isinstance(v, str) and not v)},
    }
    return HeightMap._adopt(z, dx, dy, meta)


register(Format(
    name="opd",
    extensions=(".opd",),
    description="Bruker/Veeco/WYKO Vision .opd (block directory; read only)",
    sniff=_sniff,
    read=read_opd,
    write=None,
    instruments=("Bruker ContourGT / NPFLEX", "Veeco/WYKO NT series", "Bruker Vision software"),
))
