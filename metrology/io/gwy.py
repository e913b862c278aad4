"""Gwyddion native ``.gwy`` files (the GWYP container): read only.

Container (Gwyddion user guide, "Format of Gwyddion Files"; our own code)
------------------------------------------------------------------------
All numbers little-endian. The file is the magic ``GWYP`` followed by one
serialised object:

* object: type name (NUL-terminated ASCII), uint32 size of the component
  list in bytes, then the components back to back (no padding);
* component: name (NUL-terminated), one type byte, data:
  ``b`` boolean (1 byte), ``c`` char (1 byte), ``i`` int32, ``q`` int64,
  ``d`` float64, ``s`` NUL-terminated string, ``o`` object; upper case
  ``C I Q D S O`` are arrays: uint32 item count, then the items.

The top object is a ``GwyContainer`` whose components are named like paths.
Channel N is the ``GwyDataField`` ``/N/data`` (title ``/N/data/title``,
optional mask ``/N/mask``). A ``GwyDataField`` has ``xres``, ``yres`` (int32),
``xreal``, ``yreal`` (float64, physical size in the base unit of
``si_unit_xy``), optional ``xoff``, ``yoff``, ``si_unit_xy`` and
``si_unit_z`` (``GwySIUnit`` objects with a ``unitstr`` string) and ``data``
(``D`` array of xres x yres values, row by row).

Reading
-------
* Channel: ``channel=N`` (the N of ``/N/data``) or a title string; default
  the lowest-numbered channel whose z unit is a length (a height channel;
  phase, current, ... channels are skipped).
* Heights: ``data`` x 10^k nm for the z unit (``m``, ``nm``, ``µm``, ...).
* A mask ``/N/mask`` (1 = marked) marks points that are not heights:
  Gwyddion's importers fill invalid points with neighbour values and mark
  them in the mask, so by default masked points become NaN (``mask=
  "invalid"``); ``mask="ignore"`` keeps the values (for a mask that is a
  selection, e.g. of grains). ``meta['gwy_mask']`` says which happened.
* Every count and size is checked against the enclosing object before
  anything is read; nesting is limited to 32 levels and strings to 64 KiB.

Orientation
-----------
Gwyddion's images have row 0 at the top and y growing downwards (its
display and its ASCII export alike); the data array is stored row 0 first.
The reader reverses the rows into the y-up frame (``meta['rows_flipped'] =
True``).
"""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import Any

import numpy as np

from ..heightmap import HeightMap
from . import _policy
from ._binread import BinFile, check_heights_nm, check_shape, check_spacing_mm
from ._policy import length_unit_exponent
from ._registry import Format, register

__all__ = ["read_gwy", "gwy_channels"]

_MAGIC = b"GWYP"
_MAX_DEPTH = 32
_MAX_STR = 1 << 16
_MAX_COMPONENTS = 1 << 20
_ATOM = {"b": 1, "c": 1, "i": 4, "q": 8, "d": 8}
_ARRAY = {"C": 1, "I": 4, "Q": 8, "D": 8}
_CHANNEL_RE = re.compile(r"^/(\d+)/data$")


class _Array:
    """A numeric array not yet read: where it is and what it holds."""

    __slots__ = ("offset", "count", "typ")

    def __init__(self, offset: int, count: int, typ: str) -> None:
        self.offset, self.count, self.typ = offset, count, typ


class _Parser:
    def __init__(self, bf: BinFile, buf: bytes) -> None:
        self.bf, self.buf = bf, buf
        self.n_components = 0

    def cstring(self, pos: int, end: int, what: str) -> tuple[str, int]:
        stop = self.buf.find(b"\x00", pos, min(end, pos + _MAX_STR))
        if stop < 0:
            raise self.bf.fail(f"{what} at byte {pos} is not NUL-terminated within its object "
                               "(truncated or corrupt)")
        return self.buf[pos:stop].decode("utf-8", "replace"), stop + 1

    def obj(self, pos: int, end: int, depth: int) -> tuple[tuple[str, dict[str, Any]], int]:
        if depth > _MAX_DEPTH:
            raise self.bf.fail(f"objects nested deeper than {_MAX_DEPTH} levels (corrupt)")
        name, pos = self.cstring(pos, end, "object type name")
        if pos + 4 > end:
            raise self.bf.fail(f"object {name!r} ends before its size field (truncated)")
        (size,) = struct.unpack_from("<I", self.buf, pos)
        pos += 4
        stop = pos + size
        if stop > end:
            raise self.bf.fail(f"object {name!r} declares {size} bytes at byte {pos}, more "
                               f"than its container holds ({end - pos}; truncated or corrupt)")
        comps: dict[str, Any] = {}
        while pos < stop:
            self.n_components += 1
            if self.n_components > _MAX_COMPONENTS:
                raise self.bf.fail("more than a million components (corrupt)")
            cname, pos = self.cstring(pos, stop, "component name")
            if pos >= stop:
                raise self.bf.fail(f"component {cname!r} of {name!r} has no type byte")
            t = chr(self.buf[pos])
            pos += 1
            val, pos = self.value(t, pos, stop, depth, f"{name}.{cname}")
            comps.setdefault(cname, val)
        return (name, comps), stop

    def value(self, t: str, pos: int, stop: int, depth: int, what: str) -> tuple[Any, int]:
        bf, buf = self.bf, self.buf
        if t in _ATOM:
            n = _ATOM[t]
            if pos + n > stop:
                raise bf.fail(f"{what}: value runs past its object (truncated or corrupt)")
            v: Any = {"b": lambda: buf[pos] != 0, "c": lambda: buf[pos],
                      "i": lambda: struct.unpack_from("<i", buf, pos)[0],
                      "q": lambda: struct.unpack_from("<q", buf, pos)[0],
                      "d": lambda: struct.unpack_from("<d", buf, pos)[0]}[t]()
            return v, pos + n
        if t == "s":
            return self.cstring(pos, stop, what)
        if t == "o":
            return self.obj(pos, stop, depth + 1)
        if t in _ARRAY or t in ("S", "O"):
            if pos + 4 > stop:
                raise bf.fail(f"{what}: array count runs past its object (truncated)")
            (count,) = struct.unpack_from("<I", buf, pos)
            pos += 4
            if t in _ARRAY:
                n = count * _ARRAY[t]
                if n > stop - pos:
                    raise bf.fail(f"{what}: array of {count} items needs {n} bytes, its object "
                                  f"has {stop - pos} left (truncated or corrupt)")
                return _Array(pos, count, t), pos + n
            if count > stop - pos:
                raise bf.fail(f"{what}: {count} items cannot fit in {stop - pos} bytes")
            items = []
            for _ in range(count):
                if t == "S":
                    s, pos = self.cstring(pos, stop, what)
                    items.append(s)
                else:
                    o, pos = self.obj(pos, stop, depth + 1)
                    items.append(o)
            return items, pos
        raise bf.fail(f"{what}: unknown component type {t!r} (corrupt)")


def _parse(p: Path) -> tuple[BinFile, bytes, tuple[str, dict[str, Any]]]:
    with open(p, "rb") as fh:
        bf = BinFile(p, fh)
        magic = bf.read(0, min(bf.size, 4), "magic")
        if magic == b"GWYO":
            raise bf.fail("an old-style GWYO Gwyddion file; open and save it in a current "
                          "Gwyddion to get a GWYP file")
        if magic != _MAGIC:
            raise bf.fail("does not start with 'GWYP'; not a Gwyddion .gwy file")
        max_file = 16 * _policy.current_limits().max_pixels + (1 << 26)  # two float64 maps
        if bf.size > max_file:
            raise bf.fail(f"{bf.size} bytes is larger than this reader accepts ({max_file}; "
                          "max_pixels, raise it with metrology.io.limits(max_pixels=...))")
        buf = bf.read(0, bf.size, "file")
    top, _end = _Parser(bf, buf).obj(4, len(buf), 0)
    if top[0] != "GwyContainer":
        raise bf.fail(f"the top object is a {top[0]!r}, not a GwyContainer")
    return bf, buf, top


def _unit(field: dict[str, Any], key: str) -> str:
    u = field.get(key)
    if isinstance(u, tuple) and u[0] == "GwySIUnit":
        s = u[1].get("unitstr", "")
        return s if isinstance(s, str) else ""
    return ""


def _fields(top: tuple[str, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    out = {}
    for k, v in top[1].items():
        m = _CHANNEL_RE.match(k)
        if m and isinstance(v, tuple) and v[0] == "GwyDataField":
            out[int(m.group(1))] = v[1]
    return dict(sorted(out.items()))


def gwy_channels(path: str | Path) -> list[dict[str, Any]]:
    """The image channels of a ``.gwy`` file: number, title, size, units, mask."""
    bf, _buf, top = _parse(Path(path))
    out = []
    for n, f in _fields(top).items():
        title = top[1].get(f"/{n}/data/title")
        out.append({"channel": n, "title": title if isinstance(title, str) else None,
                    "xres": f.get("xres"), "yres": f.get("yres"),
                    "z_unit": _unit(f, "si_unit_z"), "xy_unit": _unit(f, "si_unit_xy"),
                    "height": length_unit_exponent(_unit(f, "si_unit_z")) is not None,
                    "mask": f"/{n}/mask" in top[1]})
    return out


def _data(bf: BinFile, buf: bytes, f: dict[str, Any], what: str) -> np.ndarray:
    xres, yres = f.get("xres"), f.get("yres")
    if not isinstance(xres, int) or not isinstance(yres, int):
        raise bf.fail(f"{what}: xres / yres missing or not integers")
    check_shape(bf, yres, xres, what)
    arr = f.get("data")
    if not isinstance(arr, _Array) or arr.typ != "D":
        raise bf.fail(f"{what}: no float64 'data' array")
    if arr.count != xres * yres:
        raise bf.fail(f"{what}: 'data' holds {arr.count} values, xres x yres = "
                      f"{xres * yres} (corrupt)")
    return np.frombuffer(buf, "<f8", arr.count, arr.offset).reshape(yres, xres).copy()


def read_gwy(path: str | Path, *, channel: int | str | None = None,
             mask: str = "invalid") -> HeightMap:
    """Read one image channel of a Gwyddion ``.gwy`` file.

    Parameters
    ----------
    path : path-like
    channel : int or str, optional
        Channel number (the N of ``/N/data``) or its title; default the first
        channel whose z unit is a length.
    mask : {'invalid', 'ignore'}
        What a ``/N/mask`` means: invalid points (default; they become NaN)
        or a selection to ignore.

    Returns
    -------
    HeightMap
        Heights in nm, rows flipped to y-up, spacing in mm; ``meta`` adds the
        channel number and title, the units, the offsets and the mask
        handling.

    Raises
    ------
    FileFormatError
        Not a GWYP file, no (height) channel, non-length units, sizes that
        do not fit their objects.
    """
    if mask not in ("invalid", "ignore"):
        raise ValueError(f"mask must be 'invalid' or 'ignore', got {mask!r}")
    p = Path(path)
    bf, buf, top = _parse(p)
    fields = _fields(top)
    if not fields:
        raise bf.fail("no image channel (/N/data GwyDataField) in the file")

    def title(n: int) -> str | None:
        t = top[1].get(f"/{n}/data/title")
        return t if isinstance(t, str) else None

    if channel is None:
        heights = [n for n, f in fields.items()
                   if length_unit_exponent(_unit(f, "si_unit_z")) is not None]
        if not heights:
            desc = ", ".join(f"{n} ({title(n) or 'untitled'}, z unit "
                             f"{_unit(f, 'si_unit_z') or 'none'!r})" for n, f in fields.items())
            raise bf.fail(f"no channel holds heights (a length z unit); channels: {desc}")
        n = heights[0]
    elif isinstance(channel, str):
        hits = [k for k in fields if title(k) == channel]
        if not hits:
            raise bf.fail(f"no channel titled {channel!r}; titles: "
                          + ", ".join(repr(title(k)) for k in fields))
        n = hits[0]
    else:
        if channel not in fields:
            raise bf.fail(f"no channel {channel}; channels: {', '.join(map(str, fields))}")
        n = int(channel)
    f = fields[n]
    zu, xyu = _unit(f, "si_unit_z"), _unit(f, "si_unit_xy") or "m"
    kz, kxy = length_unit_exponent(zu), length_unit_exponent(xyu)
    if kz is None:
        raise bf.fail(f"channel {n} ({title(n)!r}) has z unit {zu or 'none'!r}, not a length: "
                      "not a height channel")
    if kxy is None:
        raise bf.fail(f"channel {n} has lateral unit {xyu!r}, not a length")
    z = _data(bf, buf, f, f"channel {n}")
    xres, yres = z.shape[1], z.shape[0]
    xreal, yreal = f.get("xreal"), f.get("yreal")
    if not isinstance(xreal, float) or not isinstance(yreal, float):
        raise bf.fail(f"channel {n}: xreal / yreal missing")
    dx = check_spacing_mm(bf, abs(xreal) * 10.0 ** (kxy + 3) / xres, "xreal / xres")
    dy = check_spacing_mm(bf, abs(yreal) * 10.0 ** (kxy + 3) / yres, "yreal / yres")
    z = z * 10.0 ** (kz + 9)
    z[~np.isfinite(z)] = np.nan
    mask_state = "none"
    mfield = top[1].get(f"/{n}/mask")
    if isinstance(mfield, tuple) and mfield[0] == "GwyDataField":
        mdata = _data(bf, buf, mfield[1], f"mask of channel {n}")
        if mdata.shape != z.shape:
            raise bf.fail(f"the mask of channel {n} is {mdata.shape}, the data {z.shape}")
        marked = mdata > 0.5
        if mask == "invalid":
            z[marked] = np.nan
            mask_state = f"{int(marked.sum())} masked points set invalid (NaN)"
        else:
            mask_state = f"{int(marked.sum())} masked points kept (mask='ignore')"
    check_heights_nm(bf, z, f"channel {n}")
    z = z[::-1].copy()
    meta: dict[str, Any] = {
        "format": "gwy",
        "instrument": None,
        "software": "Gwyddion",
        "wavelength_nm": None,
        "timestamp": None,
        "z_unit_original": zu,
        "z_scale_to_nm": 10.0 ** (kz + 9),
        "rows_flipped": True,
        "gwy_row_order": "Gwyddion row 0 = top; reversed to y-up",
        "gwy_channel": n,
        "gwy_title": title(n),
        "gwy_channels": sorted(fields),
        "gwy_xy_unit": xyu,
        "gwy_offset": (f.get("xoff", 0.0), f.get("yoff", 0.0)),
        "gwy_mask": mask_state,
    }
    return HeightMap._adopt(z, dx, dy, meta)


register(Format(
    name="gwy",
    extensions=(".gwy",),
    description="Gwyddion native .gwy (GWYP container; one image channel; read only)",
    sniff=lambda head: head.startswith(_MAGIC),
    read=read_gwy,
    write=None,
    instruments=("Gwyddion (any instrument imported into it)",),
))
