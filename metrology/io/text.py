"""Plain-text height maps: matrices, XYZ triplets, Gwyddion ASCII export.

Layouts read
------------
* **Matrix**: one image row per line, values separated by whitespace, commas,
  semicolons or tabs. ``nan``, ``NA``, ``BAD`` and empty CSV fields are invalid
  points (NaN).
* **XYZ triplets**: exactly three columns ``x y z`` whose ``x`` and ``y`` lie on
  a regular grid (checked, not assumed); the grid is rebuilt and grid points
  missing from the file are NaN. Chosen automatically when a 3-column file
  has many rows and its first two columns form such a grid; force it with
  ``layout="xyz"`` or ``layout="matrix"``.
* **Headers** understood (all optional):

  - ``# key: value`` comment lines, as written by :func:`write_text`
    (``dx_mm``, ``dy_mm``, ``z_unit``, ``rows``, ``cols``, ``row_order``,
    ``xy_unit``);
  - Gwyddion ASCII export: ``# Width: 1.000 mm``, ``# Height: ...`` (full
    extents; spacing = extent / number of points), ``# Value units: m``, also
    with the keys in the other languages Gwyddion writes (``# Breite:``,
    ``# Höhe:``, ``# Largeur :``, ...; table ``_headers.GWYDDION_KEYS``);
  - ``key=value`` lines before the data, as in the holographic-microscope
    export ``h=305 w=75`` / ``pixel size=3.69862e-007 m`` / ``data unit=rad`` /
    ``height conversion factor (-> m)=2.91818e-008`` (height in m = value x
    factor; ``h`` and ``w`` are checked against the data).

Nothing is guessed silently
---------------------------
The lateral spacing comes from the header or from ``dx_mm=`` (and ``dy_mm=``
for non-square pixels; XYZ files can instead give the coordinate unit with
``xy_unit=``); the height unit from the header or ``z_unit=`` (``'nm'``,
``'um'``, ``'mm'``, ``'m'``). When neither is available the reader raises
:class:`~metrology.errors.FileFormatError` saying which argument to pass. A
``dx_mm=`` overrides the header's spacing and ``meta`` records both (the
rule of every reader, :func:`metrology.io._policy.resolve_spacing`); a
header height unit that contradicts ``z_unit=`` is an error.

Orientation
-----------
Matrix text exports (Gwyddion, instrument "export as matrix") write rows in
image order: the first line is the top of the picture (Gwyddion's y axis
points down). The reader therefore flips matrix rows into the y-up frame of
``CONVENTIONS.md`` and sets ``meta['rows_flipped'] = True``, unless the
header says ``# row_order: bottom-first`` or the caller passes
``row_order="bottom-first"``. XYZ files carry coordinates, so rows are
ordered by increasing y and nothing is flipped. :func:`write_text` writes
image order (``row_order: top-first``) so that header-less copies of its
output read the same way up.

Truncation
----------
When the header declares sizes the data must match them, or the file is
refused: a row count different from a header's (``rows``, ``h``), a ragged
last row, and a file whose header declares sizes (counts or extents) but
which does not end with a line break (cut inside its last line). A header
with both extents (Gwyddion's ``Width`` / ``Height``) but no point counts
cannot show a cut at a line boundary except through the pixel aspect: data
that make the pixels non-square beyond the extents' printed precision are
refused unless ``rows=`` confirms the grid. Text has no checksum, though: a
header-less file cut at a line, or with a flipped digit, can still parse.
Files written by :func:`write_text` start with ``# format:
metrology-text-1`` and end with ``# end``; for them a missing end line is an
error, so any cut copy is caught.

Units and exact decimal scaling of header numbers come from
:mod:`metrology.io._policy` (``2.58e-06`` m becomes exactly ``0.00258`` mm).
"""

from __future__ import annotations

import math
import re
from array import array
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FileFormatError
from ..heightmap import HeightMap
from ._headers import GWYDDION_KEYS
from ._policy import (
    check_range,
    decimal_scaled,
    float_scaled,
    resolve_spacing,
    unit_factor,
    unit_scale,
)
from ._registry import Format, register

__all__ = ["read_text", "write_text"]

# ---------------------------------------------------------------------------
# reader
# ---------------------------------------------------------------------------

#: first header line of files written by :func:`write_text`; such files must end with
#: :data:`_END_LINE`, so that a copy cut inside its last number is caught
_OWN_FORMAT = "metrology-text-1"
_END_LINE = "# end"
_NAN_TOKENS = {"nan", "+nan", "-nan", "na", "n/a", "bad", "null", "none", ""}
_ROW_ORDERS = {"top-first", "bottom-first"}
_PAIR_RE = re.compile(r"^\s*([A-Za-z_]\w*)\s*=\s*(\S+)((?:\s+[A-Za-z_]\w*\s*=\s*\S+)+)\s*$")


def _split_value_unit(text: str) -> tuple[str, str]:
    """'1.000 mm' -> ('1.000', 'mm'); '3e-7' -> ('3e-7', '')."""
    parts = text.strip().split(None, 1)
    if not parts:
        return "", ""
    return parts[0], (parts[1].strip() if len(parts) > 1 else "")


def _parse_header_line(line: str, header: dict[str, str]) -> bool:
    """Record ``key: value`` / ``key = value`` pairs of one header line; False if none."""
    m = _PAIR_RE.match(line)
    if m:  # several single-word pairs on one line: "h=305 w=75"
        for k, v in re.findall(r"([A-Za-z_]\w*)\s*=\s*(\S+)", line):
            header[k.strip().lower()] = v.strip()
        return True
    cut = [i for i in (line.find(":"), line.find("=")) if i > 0]
    if not cut:
        return False
    i = min(cut)
    k, v = line[:i].strip().lower(), line[i + 1:].strip()
    if not k:
        return False
    header[GWYDDION_KEYS.get(k, k)] = v
    return True


def _tokens(line: str, delim: str | None) -> list[str]:
    if delim is None:
        return line.split()
    s = line.strip()
    if s.endswith(delim):
        s = s[: -len(delim)]
    return [t.strip() for t in s.split(delim)]


def _to_floats(tokens: list[str]) -> list[float] | None:
    out = []
    for t in tokens:
        try:
            out.append(float(t))
        except ValueError:
            if t.lower() in _NAN_TOKENS:
                out.append(math.nan)
            else:
                return None
    return out


def _detect_delim(line: str) -> str | None:
    for d in (",", ";", "\t"):
        if d in line:
            return d
    return None


def _decode(raw: bytes, path: Path) -> str:
    if b"\x00" in raw:
        raise FileFormatError(f"{path}: contains NUL bytes; this is a binary file, not a text "
                              "height map (pass format= for the right reader)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _grid_axis(v: np.ndarray, name: str, path: Path) -> tuple[np.ndarray, float, float]:
    """Integer grid index of coordinates ``v``; returns (index, origin, step)."""
    u = np.unique(v)
    if u.size < 2:
        raise FileFormatError(f"{path}: XYZ {name} coordinates take a single value; not a grid")
    span = float(u[-1] - u[0])
    d = np.diff(u)
    d = d[d > 1e-9 * span]
    step = float(np.median(d))
    f = (v - u[0]) / step
    idx = np.rint(f)
    if not np.all(np.abs(f - idx) < 1e-3):
        raise FileFormatError(f"{path}: XYZ {name} coordinates are not on a regular grid "
                              f"(step {step:g}); cannot build a height map")
    return idx.astype(np.int64), float(u[0]), step


def _looks_like_xyz(a: np.ndarray, path: Path) -> bool:
    """3 columns, many rows, first two columns on a regular, mostly filled grid."""
    if a.shape[1] != 3 or a.shape[0] < 4 or not np.all(np.isfinite(a[:, :2])):
        return False
    try:
        ix, _, _ = _grid_axis(a[:, 0], "x", path)
        iy, _, _ = _grid_axis(a[:, 1], "y", path)
    except FileFormatError:
        return False
    n_cells = (int(ix.max()) + 1) * (int(iy.max()) + 1)
    return a.shape[0] <= n_cells <= 2 * a.shape[0]


#: header keys that declare point counts, and physical extents
_COUNT_KEYS = ("rows", "cols", "h", "w")
_EXTENT_KEYS = ("width", "height")


def _decimals_rel(text: str) -> float:
    """Relative half-unit of the last printed digit of the number at the start of ``text``
    (``'1.000 mm'`` -> 0.0005; ``'12 um'`` -> 0.5/12)."""
    num = _split_value_unit(text)[0]
    try:
        v = abs(float(num))
    except ValueError:
        return 0.0
    mant = num.lower().split("e")[0]
    exp = int(num.lower().split("e")[1]) if "e" in num.lower() else 0
    dec = len(mant.split(".")[1]) if "." in mant else 0
    return 0.5 * 10.0 ** (exp - dec) / v if v > 0 else 0.0


def _check_extents(p: Path, header: dict[str, str], nrows: int, ncols: int,
                   rows: int | None, cols: int | None) -> None:
    """The data must match the sizes the header declares.

    With point counts (rows/cols, h/w) they are compared elsewhere. A header with
    both extents (Width, Height: Gwyddion's export) but no counts cannot show a file
    cut at a line boundary, except through the pixel aspect: the extents give
    square pixels for the complete grid of a square-pixel instrument. Non-square
    pixels beyond the extents' printed precision are therefore refused unless the
    caller confirms the grid with ``rows=`` (and ``cols=``).
    """
    for name, want, have in (("rows", rows, nrows), ("cols", cols, ncols)):
        if want is not None and int(want) != have:
            raise FileFormatError(f"{p}: the caller expects {name}={want} but the data have "
                                  f"{have} (truncated or corrupt file)")
    if any(k in header for k in _COUNT_KEYS) or not all(k in header for k in _EXTENT_KEYS):
        return
    try:
        w = _header_spacing_mm(header, "width", p)
        h = _header_spacing_mm(header, "height", p)
    except FileFormatError:
        return  # reported where the spacing is read
    if w is None or h is None or not (w > 0 and h > 0):
        return
    dx, dy = w / ncols, h / nrows
    tol = _decimals_rel(header["width"]) + _decimals_rel(header["height"]) + 1e-9
    if abs(dx - dy) <= tol * max(dx, dy) or rows is not None:
        return
    raise FileFormatError(
        f"{p}: the header gives the extents {header['width']} x {header['height']} but no point "
        f"counts, and the {nrows} x {ncols} values make the pixels non-square ({dx:.6g} x "
        f"{dy:.6g} mm), which is what a copy cut at a line boundary looks like; pass "
        f"rows={nrows} (and cols={ncols}) to confirm the grid")


def _header_spacing_mm(header: dict[str, str], key: str, path: Path) -> float | None:
    """Spacing in mm from a '<key>' header entry holding a length with unit (or _mm key)."""
    if key not in header:
        return None
    num, unit = _split_value_unit(header[key])
    k = unit_factor(unit, "mm") if unit else None
    if k is None:
        raise FileFormatError(f"{path}: header {key!r} = {header[key]!r} has no length unit")
    return decimal_scaled(num, k, what=f"header {key!r}")


def read_text(
    path: str | Path,
    *,
    dx_mm: float | None = None,
    dy_mm: float | None = None,
    z_unit: str | None = None,
    xy_unit: str | None = None,
    layout: str = "auto",
    row_order: str | None = None,
    rows: int | None = None,
    cols: int | None = None,
) -> HeightMap:
    """Read a text height map (matrix, XYZ triplets or Gwyddion ASCII export).

    Parameters
    ----------
    path : path-like
    dx_mm, dy_mm : float, optional
        Pixel spacing in mm along x (columns) and y (rows), for files that do
        not give it. ``dy_mm`` defaults to ``dx_mm`` (XYZ: to the coordinate
        step ratio).
    z_unit : {'nm', 'um', 'mm', 'm'}, optional
        Unit of the height values, for files that do not give it.
    xy_unit : str, optional
        Unit of the x, y coordinates of an XYZ file (alternative to ``dx_mm``).
    layout : {'auto', 'matrix', 'xyz'}
        Force the layout; ``auto`` picks XYZ only for 3-column files whose
        first two columns form a regular grid.
    row_order : {'top-first', 'bottom-first'}, optional
        Row order of a matrix file when the header does not say; default
        ``top-first`` (image order, flipped into the y-up frame).
    rows, cols : int, optional
        The grid the data must have. Needed only for a header that gives the
        extents (Width, Height) but no point counts and whose data make the
        pixels non-square: that is also what a file cut at a line boundary
        looks like, so the reader asks instead of guessing.

    Returns
    -------
    HeightMap
        Heights in nm, shape (nrows, ncols), y-up rows.

    Raises
    ------
    FileFormatError
        Unparseable or ragged data, missing spacing or unit (naming the
        argument to pass), contradictory header and arguments, data that do
        not match the sizes the header declares (a cut copy).
    """
    p = Path(path)
    if layout not in ("auto", "matrix", "xyz"):
        raise FileFormatError(f"layout must be 'auto', 'matrix' or 'xyz', got {layout!r}")
    if row_order is not None and row_order not in _ROW_ORDERS:
        raise FileFormatError(f"row_order must be 'top-first' or 'bottom-first', got {row_order!r}")
    raw = p.read_bytes()
    terminated = raw.endswith((b"\n", b"\r"))
    text = _decode(raw, p)
    del raw

    header: dict[str, str] = {}
    column_names: list[str] | None = None
    flat = array("d")  # every value, row after row: 8 bytes each, no per-value object
    nrows = 0
    delim: str | None = None
    ncols = -1
    last_line = ""
    for lineno, line in enumerate(text.splitlines(), start=1):
        s = line.strip()
        if not s:
            continue
        last_line = s
        if s.startswith("#") or s.startswith("%"):
            if not nrows:
                _parse_header_line(s.lstrip("#%").strip(), header)
            continue
        if not nrows:
            d = _detect_delim(s)
            vals = _to_floats(_tokens(s, d))
            if vals is None or not vals:
                if "=" in s and _parse_header_line(s, header):
                    continue
                if column_names is None:
                    column_names = _tokens(s, d)
                    continue
                raise FileFormatError(f"{p}: line {lineno} is neither a header line nor numbers: "
                                      f"{s[:60]!r}")
            delim = d
            ncols = len(vals)
            flat.extend(vals)
            nrows = 1
            continue
        vals = _to_floats(_tokens(s, delim))
        if vals is None:
            raise FileFormatError(f"{p}: line {lineno}: non-numeric value in {s[:60]!r}")
        if len(vals) != ncols:
            raise FileFormatError(f"{p}: line {lineno} has {len(vals)} values, expected {ncols} "
                                  "(ragged or truncated data)")
        flat.extend(vals)
        nrows += 1
    del text
    if not nrows:
        raise FileFormatError(f"{p}: no numeric data found")
    if header.get("format") == _OWN_FORMAT and last_line != _END_LINE:
        raise FileFormatError(f"{p}: a {_OWN_FORMAT} file must end with {_END_LINE!r}; "
                              "this copy is truncated")
    declares = [k for k in (*_COUNT_KEYS, *_EXTENT_KEYS) if k in header]
    if declares and not terminated:
        raise FileFormatError(
            f"{p}: the header declares sizes ({', '.join(declares)}) but the file does not end "
            "with a line break: it was cut inside its last line (truncated)")
    a = np.frombuffer(flat, dtype=np.float64).reshape(nrows, ncols)

    is_xyz = layout == "xyz" or (layout == "auto" and _looks_like_xyz(a, p))
    meta: dict[str, Any] = {
        "format": "text",
        "instrument": None,
        "software": header.get("software"),
        "wavelength_nm": None,
        "timestamp": None,
        "text_header": dict(header),
    }
    if column_names:
        meta["text_columns"] = column_names

    # --- height unit --------------------------------------------------------
    lateral: tuple[Any, ...] = (None, None, None, None)
    z_scale_file: float | None = None
    z_unit_file: str | None = None
    if "height conversion factor (-> m)" in header:
        z_scale_file = decimal_scaled(header["height conversion factor (-> m)"], 9,
                                      what="header 'height conversion factor (-> m)'")
        z_unit_file = header.get("data unit", "counts")
    else:
        for key in ("z_unit", "value units", "z unit", "zunit"):
            if key in header:
                z_unit_file = header[key]
                z_scale_file = unit_scale(z_unit_file, what=f"header {key!r}")
                break
    if z_unit is not None:
        z_scale_arg = unit_scale(z_unit, what="z_unit argument")
        if z_scale_file is not None and z_scale_file != z_scale_arg:
            raise FileFormatError(f"{p}: the file gives height unit {z_unit_file!r} but the "
                                  f"caller passed z_unit={z_unit!r}")
        if z_scale_file is None:
            z_scale_file, z_unit_file = z_scale_arg, z_unit
    missing: list[str] = []
    if z_scale_file is None:
        missing.append("the height unit (pass z_unit= 'nm', 'um', 'mm' or 'm')")
    meta["z_unit_original"] = z_unit_file
    meta["z_scale_to_nm"] = z_scale_file

    if is_xyz:
        if a.shape[1] != 3:
            raise FileFormatError(f"{p}: layout='xyz' needs 3 columns, found {a.shape[1]}")
        if not np.all(np.isfinite(a[:, :2])):
            raise FileFormatError(f"{p}: XYZ file has invalid x or y coordinates")
        ix, x0, xstep = _grid_axis(a[:, 0], "x", p)
        iy, y0, ystep = _grid_axis(a[:, 1], "y", p)
        nx, ny = int(ix.max()) + 1, int(iy.max()) + 1
        if nx * ny > 4 * a.shape[0] + 16:
            raise FileFormatError(f"{p}: XYZ points fill only {a.shape[0]} of {nx}x{ny} grid "
                                  "cells; not a regular grid")
        flat = iy * nx + ix
        if np.unique(flat).size != flat.size:
            raise FileFormatError(f"{p}: XYZ file has duplicate grid points")
        z = np.full(ny * nx, np.nan)
        z[flat] = a[:, 2]
        z = z.reshape(ny, nx)
        unit = xy_unit or header.get("xy_unit") or header.get("x_unit")
        if unit is not None:
            k = unit_factor(unit, "mm")
            if k is None:
                raise FileFormatError(f"{p}: xy unit {unit!r} is not a length unit")
            lateral = (float_scaled(xstep, k), float_scaled(ystep, k), dx_mm, dy_mm)
        elif dx_mm is not None:  # dy from the coordinate step ratio unless given
            lateral = (None, None, dx_mm, dy_mm if dy_mm is not None
                       else float(dx_mm) * ystep / xstep)
        else:
            missing.append("the unit of the x, y coordinates (pass dx_mm= for the pixel "
                           "spacing in mm, or xy_unit= 'um', 'mm', ...)")
        meta.update(rows_flipped=False, text_layout="xyz", xyz_origin=(x0, y0),
                    xyz_step=(xstep, ystep))
    else:
        z = a
        nrows, ncols_ = z.shape
        for key, n in (("h", nrows), ("rows", nrows), ("w", ncols_), ("cols", ncols_)):
            if key in header:
                try:
                    declared = int(header[key])
                except ValueError:
                    raise FileFormatError(f"{p}: header {key}={header[key]!r} is not an "
                                          "integer") from None
                if declared != n:
                    raise FileFormatError(f"{p}: header says {key}={declared} but the data "
                                          f"have {n} (truncated or corrupt file)")
        fdx = fdy = None
        if "dx_mm" in header:
            fdx = decimal_scaled(header["dx_mm"], 0, what="header 'dx_mm'")
        elif "pixel size" in header:
            fdx = _header_spacing_mm(header, "pixel size", p)
        elif "width" in header:
            w = _header_spacing_mm(header, "width", p)
            fdx = None if w is None else w / ncols_
        if "dy_mm" in header:
            fdy = decimal_scaled(header["dy_mm"], 0, what="header 'dy_mm'")
        elif "pixel size" in header:
            fdy = fdx
        elif "height" in header:
            h = _header_spacing_mm(header, "height", p)
            fdy = None if h is None else h / nrows
        _check_extents(p, header, nrows, ncols_, rows, cols)
        if fdx is None and dx_mm is None:
            missing.insert(0, "the pixel spacing (pass dx_mm=, and dy_mm= if the pixels are "
                              "not square)")
        lateral = (fdx, fdy, dx_mm, dy_mm)
        order = header.get("row_order")
        if order is not None and order not in _ROW_ORDERS:
            raise FileFormatError(f"{p}: header row_order {order!r} is not 'top-first' or "
                                  "'bottom-first'")
        if order is not None and row_order is not None and order != row_order:
            raise FileFormatError(f"{p}: the file says row_order {order!r} but the caller "
                                  f"passed row_order={row_order!r}")
        order = order or row_order or "top-first"
        flip = order == "top-first"
        if flip:
            z = z[::-1]
        meta.update(rows_flipped=flip, text_layout="matrix", text_row_order=order)
    if missing:
        raise FileFormatError(f"{p}: the file does not give " + "; nor ".join(missing))
    assert z_scale_file is not None
    dx, dy, lat_meta = resolve_spacing(p, *lateral, what="the text file")
    meta.update(lat_meta)
    check_range("z_scale_nm", z_scale_file, p, "the height scale (nm per value)", absolute=True)
    z = np.array(z, dtype=np.float64, order="C")  # own, writable, y-up copy
    with np.errstate(over="raise", invalid="ignore"):
        try:
            z *= z_scale_file
        except FloatingPointError:
            raise FileFormatError(f"{p}: heights overflow when scaled to nm") from None
    return HeightMap._adopt(z, dx, dy, meta)


def write_text(hm: HeightMap, path: str | Path, *, delimiter: str = ",") -> None:
    """Write ``hm`` as a CSV matrix with a small ``#`` header.

    The header gives ``format: metrology-text-1``, ``rows``, ``cols``,
    ``dx_mm``, ``dy_mm``, ``z_unit: nm`` and ``row_order: top-first``; rows
    are written in image order (top row first) and heights in nm with full
    precision (``repr``), NaN as ``nan``; the last line is ``# end``. So
    :func:`read_text` reads the file back exactly without arguments and
    notices a truncated copy.

    Parameters
    ----------
    hm : HeightMap
    path : path-like
    delimiter : str
        Column separator (``','`` by default; ``';'`` or ``'\\t'`` also read back).
    """
    if delimiter not in (",", ";", "\t", " "):
        raise FileFormatError(f"delimiter must be ',', ';', tab or space, got {delimiter!r}")
    ny, nx = hm.shape
    lines = [
        f"# format: {_OWN_FORMAT}",
        f"# rows: {ny}",
        f"# cols: {nx}",
        f"# dx_mm: {hm.dx_mm!r}",
        f"# dy_mm: {hm.dy_mm!r}",
        "# z_unit: nm",
        "# row_order: top-first",
    ]
    z = hm.z_nm[::-1]
    body = [delimiter.join("nan" if not math.isfinite(v) else repr(v) for v in row.tolist())
            for row in z]
    Path(path).write_text("\n".join([*lines, *body, _END_LINE]) + "\n", encoding="utf-8")


register(Format(
    name="text",
    extensions=(".txt", ".csv", ".asc", ".xyz"),
    description="Text matrix / CSV / XYZ triplets / Gwyddion ASCII export (spacing and "
                "units from the header or dx_mm=, z_unit=)",
    sniff=None,
    read=read_text,
    write=write_text,
))
