"""Zemax OpticStudio Grid Sag surface data (``.dat``), read and write.

Layout (OpticStudio help, "Grid Sag", section "Importing grid data")
--------------------------------------------------------------------
* First line, seven values: ``nx ny delx dely unitflag xdec ydec``: the
  number of points along x and y (integers, OpticStudio needs at least 5
  each), the spacings, the unit flag (0 mm, 1 cm, 2 in, 3 m) and the decentre
  of the grid relative to the base surface.
* Then nx · ny lines ``z dz/dx dz/dy d2z/dxdy nodata``: the sag, its two first
  derivatives (dimensionless), the cross derivative, and an optional integer
  flag, 1 for a point without valid data (its values should be 0), 0 or
  absent otherwise. The sag, the cross derivative, the spacings and the
  decentres are in the unit of the flag.
* Order: the first data line is the upper-left corner of the grid, the
  (-x, +y) corner; points run left to right along a row, then the next row
  down: rows go from +y to -y. This reader flips them into the y-up frame of
  ``docs/conventions.md`` (``meta['rows_flipped']`` True) and the writer flips back.
* If every derivative is zero OpticStudio estimates them by finite
  differences; the writer writes zeros (it does not invent derivatives at
  the edge of the valid data).

The grid is centred on the base surface vertex (plus xdec, ydec): the writer
puts the array centre there by default, or the map point ``vertex_mm``
(``xdec = -vertex_x``, ``ydec = -vertex_y``). Heights are written as sag in
mm (nm x 1e-6) with 17 significant digits, so they read back to 1e-9 relative.
Lines end in CR LF, as OpticStudio's own files. Lines starting with "!" are
skipped on reading (comments some tools write); the writer writes none.

The extension ``.dat`` is shared with Zygo MetroPro: reading detects Grid
Sag files by their text header; writing needs ``format="zemax"``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FileFormatError
from ..heightmap import HeightMap
from ._registry import Format, register

__all__ = ["read_zemax_grid_sag", "write_zemax_grid_sag", "UNIT_FLAGS"]

#: unit flag -> mm per unit
UNIT_FLAGS = {0: 1.0, 1: 10.0, 2: 25.4, 3: 1000.0}
_UNIT_NAMES = {0: "mm", 1: "cm", 2: "in", 3: "m"}


def _is_int(tok: str) -> bool:
    try:
        int(tok)
        return True
    except ValueError:
        return False


def _is_float(tok: str) -> bool:
    try:
        float(tok)
        return True
    except ValueError:
        return False


def _header_tokens(line: str) -> list[str] | None:
    t = line.split()
    if (len(t) == 7 and _is_int(t[0]) and _is_int(t[1]) and _is_int(t[4])
            and all(_is_float(v) for v in (t[2], t[3], t[5], t[6]))):
        return t
    return None


def _sniff(head: bytes) -> bool:
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        return False
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("!")]
    if len(lines) < 2:
        return False
    t = _header_tokens(lines[0])
    if t is None or int(t[4]) not in UNIT_FLAGS or int(t[0]) < 1 or int(t[1]) < 1:
        return False
    d = lines[1].split()
    return len(d) in (4, 5) and all(_is_float(v) for v in d[:4])


def read_zemax_grid_sag(path: str | Path) -> HeightMap:
    """Read an OpticStudio Grid Sag ``.dat`` file.

    Returns
    -------
    HeightMap
        Sag in nm, shape (ny, nx), spacing in mm, rows y-up (flipped from the
        file's top-first order); no-data points are NaN. ``meta`` holds the
        unit flag, the decentre in mm and whether derivatives were given.

    Raises
    ------
    FileFormatError
        Header not of seven values, unknown unit flag, point count different
        from nx · ny, non-numeric values.
    """
    p = Path(path)
    size = p.stat().st_size
    text = p.read_bytes().decode("latin-1")
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("!")]
    if not lines:
        raise FileFormatError(f"{p}: empty Grid Sag file")
    t = _header_tokens(lines[0])
    if t is None:
        raise FileFormatError(f"{p}: first line {lines[0][:60]!r} is not 'nx ny delx dely "
                              "unitflag xdec ydec'")
    nx, ny, flag = int(t[0]), int(t[1]), int(t[4])
    dx_u, dy_u, xdec, ydec = (float(v) for v in (t[2], t[3], t[5], t[6]))
    if nx < 1 or ny < 1:
        raise FileFormatError(f"{p}: nx = {nx}, ny = {ny} must be positive")
    if flag not in UNIT_FLAGS:
        raise FileFormatError(f"{p}: unit flag {flag} is not 0 (mm), 1 (cm), 2 (in) or 3 (m)")
    n = nx * ny
    if n > size // 8 + 1:  # a data line holds at least four values and separators
        raise FileFormatError(f"{p}: header declares {nx} x {ny} points, more than a "
                              f"{size}-byte file can hold (truncated or corrupt)")
    if len(lines) - 1 != n:
        raise FileFormatError(f"{p}: {len(lines) - 1} data lines, header declares "
                              f"{nx} x {ny} = {n} (truncated or corrupt)")
    mm = UNIT_FLAGS[flag]
    if not (math.isfinite(dx_u) and math.isfinite(dy_u) and dx_u != 0 and dy_u != 0):
        raise FileFormatError(f"{p}: spacings delx = {t[2]}, dely = {t[3]} must be non-zero")
    z = np.empty(n)
    bad = np.zeros(n, dtype=bool)
    deriv = False
    for k, ln in enumerate(lines[1:]):
        parts = ln.split()
        if len(parts) not in (4, 5):
            raise FileFormatError(f"{p}: data line {k + 2} has {len(parts)} values "
                                  "(expected z dz/dx dz/dy d2z/dxdy [nodata])")
        try:
            vals = [float(v) for v in parts[:4]]
            flag_nd = int(parts[4]) if len(parts) == 5 else 0
        except ValueError:
            raise FileFormatError(f"{p}: data line {k + 2} {ln[:60]!r} is not numeric") from None
        if not all(math.isfinite(v) for v in vals):
            raise FileFormatError(f"{p}: data line {k + 2} holds a non-finite value")
        z[k] = vals[0]
        bad[k] = flag_nd == 1
        deriv = deriv or any(v != 0.0 for v in vals[1:])
    z = z * (mm * 1e6)
    z[bad] = np.nan
    z = z.reshape(ny, nx)[::-1]  # file rows run from +y down
    meta: dict[str, Any] = {
        "format": "zemax", "z_unit_original": _UNIT_NAMES[flag], "z_scale_to_nm": mm * 1e6,
        "rows_flipped": True, "quantity": "surface",
        "zemax_unitflag": flag, "zemax_decenter_mm": [xdec * mm, ydec * mm],
        "zemax_derivatives": deriv,
    }
    return HeightMap(np.ascontiguousarray(z), abs(dx_u) * mm, abs(dy_u) * mm, meta)


def write_zemax_grid_sag(hm: HeightMap, path: str | Path, *,
                         vertex_mm: tuple[float, float] | None = None) -> None:
    """Write ``hm`` as an OpticStudio Grid Sag ``.dat`` (sag in mm, unit flag 0).

    Parameters
    ----------
    hm : HeightMap
        Surface sag deviation in nm, y-up rows (written top row first).
        A wavefront map must be converted to surface first
        (:mod:`metrology.wavefront`).
    path : path-like
    vertex_mm : (x, y), optional
        The map point (mm, map frame) to put on the base surface vertex.
        Default: the array centre (xdec = ydec = 0).

    Raises
    ------
    FileFormatError
        Fewer than 5 points along x or y (OpticStudio refuses them).
    """
    ny, nx = hm.shape
    if nx < 5 or ny < 5:
        raise FileFormatError(f"OpticStudio Grid Sag needs at least 5 x 5 points, map is "
                              f"{ny} x {nx}")
    vx, vy = (0.0, 0.0) if vertex_mm is None else (float(vertex_mm[0]), float(vertex_mm[1]))
    lines = [f"{nx} {ny} {hm.dx_mm!r} {hm.dy_mm!r} 0 {-vx + 0.0!r} {-vy + 0.0!r}"]
    z = hm.z_nm[::-1]
    for row in z:
        for v in row.tolist():
            if math.isfinite(v):
                lines.append(f"{v * 1e-6!r} 0 0 0 0")
            else:
                lines.append("0 0 0 0 1")
    Path(path).write_bytes(("\r\n".join(lines) + "\r\n").encode("ascii"))


register(Format(
    name="zemax",
    extensions=(".dat",),
    description="Zemax OpticStudio Grid Sag surface data (.dat, text; write with format='zemax')",
    sniff=_sniff,
    read=read_zemax_grid_sag,
    write=write_zemax_grid_sag,
    priority=-1,
))
