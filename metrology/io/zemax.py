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

Reader policy (:mod:`metrology.io._policy`): the spacings are converted from
the unit flag in decimal arithmetic (``0.01`` in is exactly 0.254 mm); a zero
spacing is no calibration, so the caller must pass ``dx_mm=`` (which also
overrides the file's, :func:`~metrology.io._policy.resolve_spacing`); the
header declares the number of points, so the file must hold exactly that
many lines and end with a line break (a copy cut inside its last line, e.g.
losing a no-data flag, is refused); the grid size is checked against the
reader limits before anything is allocated.
"""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path

import numpy as np

from ..errors import FileFormatError
from ..heightmap import HeightMap
from . import _policy
from ._registry import Format, register

__all__ = ["read_zemax_grid_sag", "write_zemax_grid_sag", "UNIT_FLAGS"]

_UNIT_NAMES = {0: "mm", 1: "cm", 2: "in", 3: "m"}
#: unit flag -> mm per unit, exact (from the one unit table of the reader policy)
_UNIT_MM: dict[int, Decimal] = {k: _policy.unit_factor(u, "mm") for k, u in _UNIT_NAMES.items()}
#: unit flag -> mm per unit
UNIT_FLAGS = {k: float(v) for k, v in _UNIT_MM.items()}


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


def read_zemax_grid_sag(path: str | Path, *, dx_mm: float | None = None,
                        dy_mm: float | None = None) -> HeightMap:
    """Read an OpticStudio Grid Sag ``.dat`` file.

    Parameters
    ----------
    path : path-like
    dx_mm, dy_mm : float, optional
        Pixel spacing in mm, overriding the file's (needed when the file's is
        zero); ``dy_mm`` defaults to ``dx_mm``.

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
        from nx · ny, a file not ending with a line break, non-numeric values,
        no usable spacing, sizes beyond the reader limits.
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
    xdec, ydec = float(t[5]), float(t[6])
    if not (math.isfinite(xdec) and math.isfinite(ydec)):
        raise FileFormatError(f"{p}: decentres xdec = {t[5]}, ydec = {t[6]} must be finite")
    if nx < 1 or ny < 1:
        raise FileFormatError(f"{p}: nx = {nx}, ny = {ny} must be positive")
    if flag not in UNIT_FLAGS:
        raise FileFormatError(f"{p}: unit flag {flag} is not 0 (mm), 1 (cm), 2 (in) or 3 (m)")
    n = nx * ny
    # a data line holds at least four values and their separators: 8 bytes
    _policy.check_map_size(p, f"a grid of {nx} x {ny} points", (ny, nx), 8, stored=size)
    if len(lines) - 1 != n:
        raise FileFormatError(f"{p}: {len(lines) - 1} data lines, header declares "
                              f"{nx} x {ny} = {n} (truncated or corrupt)")
    if not text.endswith(("\n", "\r")):
        raise FileFormatError(f"{p}: the header declares {n} points but the file does not end "
                              "with a line break: it was cut inside its last line (truncated)")
    del text
    mm = UNIT_FLAGS[flag]
    fdx = abs(_policy.decimal_scaled(t[2], _UNIT_MM[flag], what=f"{p}: delx"))
    fdy = abs(_policy.decimal_scaled(t[3], _UNIT_MM[flag], what=f"{p}: dely"))
    if dx_mm is None and fdx > 0 and fdy == 0:  # not a square pixel by default: a guess
        raise FileFormatError(f"{p}: dely = {t[3]} is no spacing; pass dx_mm= and dy_mm=")
    dx, dy, lateral = _policy.resolve_spacing(p, fdx, fdy, dx_mm, dy_mm,
                                              what="the Grid Sag file (delx = 0)")
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
        if flag_nd not in (0, 1):  # anything else would make a no-data point a height
            raise FileFormatError(f"{p}: data line {k + 2}: no-data flag {parts[4]!r} is "
                                  "not 0 or 1")
        z[k] = vals[0]
        bad[k] = flag_nd == 1
        deriv = deriv or any(v != 0.0 for v in vals[1:])
    z = z * (mm * 1e6)
    z[bad] = np.nan
    z, flipped = _policy.to_y_up(z.reshape(ny, nx), top_first=True)  # rows run from +y down
    meta = _policy.base_meta(
        "zemax", z_unit_original=_UNIT_NAMES[flag], z_scale_to_nm=mm * 1e6,
        rows_flipped=flipped, quantity="surface", zemax_unitflag=flag,
        zemax_decenter_mm=[xdec * mm, ydec * mm], zemax_derivatives=deriv, **lateral)
    return HeightMap._adopt(np.ascontiguousarray(z), dx, dy, meta)


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
