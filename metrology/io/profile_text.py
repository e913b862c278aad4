"""Profiles in text files: two-column ``x, z``, single-column ``z``, Bruker Dektak CSV.

:func:`metrology.io.load` sends a text file here when its first data lines
hold one or two numbers (and the file is not one of ours written as a
matrix); the result is a :class:`~metrology.profile.Profile`, never a
height map whose first column is x.

Layouts read
------------
* **Two columns** ``x, z`` (separated by commas, semicolons, tabs or
  blanks). x must increase (or decrease; the profile is then reversed and
  ``meta['x_reversed']`` says so) and be *uniformly sampled*: the x values
  must equal ``x0 + i * dx`` to within half a unit of the last printed
  digit (files print x rounded: a Dektak trace at 0.15625 µm per sample
  prints 0.0, 0.2, 0.3, 0.5, ...). dx is the least-squares slope of x
  against the sample index. Traces that are not uniformly sampled are
  refused (nothing is interpolated).
* **One column** ``z``: the spacing comes from a ``# dx_mm:`` header line
  or from ``dx_mm=``.
* **Bruker Dektak CSV** (Vision64 / Dektak XT "Export data"): sections
  ``Scan Parameters``, ``Analytical Results`` (skipped) and ``Scan Data``
  with the column header ``Lateral um,Raw Micrometer,``; rows end in empty
  fields. The header's ``Length`` and ``Resolution`` are kept in ``meta``
  and ``Resolution`` (printed rounded, e.g. ``0.156 um/sample``) must agree
  with the x column to its printed precision. The stylus radius is kept
  in ``meta['stylus_radius_um']``.
* ``#`` or ``%`` comment lines ``key: value`` before the data, as in the
  other text formats: ``dx_mm``, ``x_unit``, ``z_unit``, ``points``; a
  column header line such as ``x [mm], z [nm]``, ``x_mm,z_nm`` or
  ``Lateral um,Raw Micrometer`` gives the units.

Units: x and z units come from the column header or the comment header, or
from ``x_unit=`` / ``z_unit=`` (``dx_mm=`` replaces the x unit); when
neither says, the reader raises :class:`~metrology.errors.FileFormatError`
naming the argument to pass. A file value that contradicts an argument is an
error.

Invalid points: ``nan``, ``NA``, ``BAD`` or an empty field in the z column
become NaN; x must always be a number.

Files written by :func:`write_profile` start with ``# format:
metrology-profile-1`` and end with ``# end``, so a cut copy is caught; their
``# dx_mm`` line is read back exactly.
"""

from __future__ import annotations

import io
import math
import re
from array import array
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_target
from ..errors import FileFormatError
from ..profile import Profile
from ._headers import GWYDDION_KEYS
from ._policy import check_range, current_limits, decimal_scaled, length_unit_exponent
from ._registry import Format, register

__all__ = ["read_profile_text", "write_profile", "sniff_profile_text"]

_OWN_FORMAT = "metrology-profile-1"
_END_LINE = "# end"
_MATRIX_FORMAT = "metrology-text-1"
_NAN_TOKENS = {"nan", "+nan", "-nan", "na", "n/a", "bad", "null", "none", ""}
_DEKTAK_SECTIONS = ("Scan Parameters", "Analytical Results", "Scan Data")


# ---------------------------------------------------------------------------
# small parsers
# ---------------------------------------------------------------------------

def _decode(raw: bytes, path: Path) -> str:
    if b"\x00" in raw:
        raise FileFormatError(f"{path}: contains NUL bytes; a binary file, not a text profile")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _split(line: str) -> list[str]:
    """Fields of a data line: comma, semicolon or tab separated, else whitespace."""
    for d in (",", ";", "\t"):
        if d in line:
            fields = [t.strip() for t in line.split(d)]
            while fields and fields[-1] == "":  # Dektak rows end in ",,"
                fields.pop()
            return fields
    return line.split()


def _number(tok: str) -> float | None:
    try:
        return float(tok)
    except ValueError:
        return math.nan if tok.strip().lower() in _NAN_TOKENS else None


def _numeric(fields: list[str]) -> list[float] | None:
    if not fields:
        return None
    out = []
    for t in fields:
        v = _number(t)
        if v is None:
            return None
        out.append(v)
    if all(math.isnan(v) for v in out):  # "NA,NA" is not a data line we can place
        return None
    return out


def _minimax_line(i: np.ndarray, x: np.ndarray) -> tuple[float, float, float]:
    """Slope, intercept and residual of the line x ~ a + s i that minimises the largest
    |residual| (Chebyshev fit). The spread max(x - s i) - min(x - s i) is convex in s;
    a golden-section search around the least-squares slope finds its minimum."""
    ic = i - i.mean()
    s_ls = float(np.dot(ic, x - x.mean()) / np.dot(ic, ic))

    def spread(s: float) -> float:
        r = x - s * i
        return float(r.max() - r.min())

    r_ls = spread(s_ls)
    half = 2.0 * r_ls / max(float(i[-1] - i[0]), 1.0) + abs(s_ls) * 1e-12
    lo, hi = s_ls - half, s_ls + half
    g = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = spread(a), spread(b)
    for _ in range(200):
        if hi - lo <= 1e-15 * max(abs(s_ls), 1e-300):
            break
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = spread(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = spread(b)
    s_best = a if fa <= fb else b
    best = min(fa, fb, r_ls)
    if best == r_ls:
        s_best = s_ls
    r = x - s_best * i
    return s_best, float((r.max() + r.min()) / 2.0), best / 2.0


def _last_digit_exponent(tok: str) -> int:
    """Decimal exponent of the last printed digit of a number token (-1 for '1499.8',
    -5 for '1.5e-4', 2 for '3e2')."""
    mant, _, exp = tok.strip().lower().partition("e")
    try:
        k = int(exp) if exp else 0
    except ValueError:
        return -(10**9)
    _, dot, frac = mant.partition(".")
    return k - (len(frac) if dot else 0)


_UNIT_PATTERNS = (
    re.compile(r"[\[(]\s*([^\])]+?)\s*[\])]\s*$"),   # "x [mm]", "z (um)"
    re.compile(r"[_/]\s*([A-Za-zµμÅ]+)\s*$"),         # "x_mm", "z/nm"
    re.compile(r"\s([A-Za-zµμÅ]+)\s*$"),              # "Lateral um", "Raw Micrometer"
)


def _unit_of(name: str) -> str | None:
    """The length unit named at the end of a column header, or None."""
    for pat in _UNIT_PATTERNS:
        m = pat.search(name.strip())
        if m:
            u = m.group(1)
            u = u.lower() if len(u) > 2 else u  # "Micrometer": a word, not "Mm"
            if length_unit_exponent(u) is not None:
                return u
    return None


def _header_pair(line: str, header: dict[str, str]) -> None:
    s = line.lstrip("#%").strip()
    i = s.find(":")
    if i > 0:
        header[s[:i].strip().lower()] = s[i + 1:].strip()


# ---------------------------------------------------------------------------
# sniffing
# ---------------------------------------------------------------------------

def sniff_profile_text(head: bytes) -> bool:
    """True for text whose first data lines hold one or two numbers, or a Dektak CSV.

    Never claims binary data (NUL bytes), files written by
    :func:`metrology.io.text.write_text` (matrices), Gwyddion image exports
    (their header gives the image width and height), or text whose data
    lines have three or more columns (matrices, XYZ).
    """
    if b"\x00" in head:
        return False
    text = head.decode("latin-1")
    if _MATRIX_FORMAT in text[:200]:
        return False
    if text.startswith("Scan Parameters") or "\nScan Data" in text:
        return True
    if text.lstrip("\ufeff").startswith(f"# format: {_OWN_FORMAT}"):
        return True
    lines = text.splitlines()[:-1]  # the last line may be cut by the 4096-byte window
    widths: list[int] = []
    for ln in lines:
        s = ln.strip()
        if not s:
            continue
        if s[0] in "#%":
            key = s.lstrip("#%").split(":", 1)[0].strip().lower()
            if GWYDDION_KEYS.get(key, key) in ("width", "height"):
                return False  # a Gwyddion image export (its extent), even if 2 pixels wide
            continue
        vals = _numeric(_split(s))
        if vals is None:
            if widths:
                return False  # text after data: not a simple column file
            continue
        widths.append(len(vals))
        if len(widths) == 3:
            break
    return len(widths) >= 2 and len(set(widths)) == 1 and widths[0] in (1, 2)


# ---------------------------------------------------------------------------
# reader
# ---------------------------------------------------------------------------

def _agree(file_val: float | None, arg_val: float | None, name: str, path: Path,
           rtol: float) -> float | None:
    if file_val is not None and arg_val is not None:
        if not math.isclose(file_val, arg_val, rel_tol=rtol):
            raise FileFormatError(f"{path}: the file gives {name} = {file_val!r} but the caller "
                                  f"passed {name}={arg_val!r}; remove the argument or fix the file")
        return file_val
    return file_val if file_val is not None else arg_val


def _unit_scale(unit: str, target_exp: int, what: str, path: Path) -> Decimal:
    k = length_unit_exponent(unit)
    if k is None:
        raise FileFormatError(f"{path}: {what} unit {unit!r} is not a length unit")
    return Decimal(1).scaleb(k - target_exp)


def read_profile_text(path: str | Path, *, dx_mm: float | None = None,
                      x_unit: str | None = None, z_unit: str | None = None,
                      xy_unit: str | None = None) -> Profile:
    """Read a text profile (two-column x, z; one-column z; Bruker Dektak CSV).

    Parameters
    ----------
    path : path-like
    dx_mm : float, optional
        Sampling interval in mm, for files that do not give it (required for
        single-column files without a ``# dx_mm`` line; for two-column files
        it replaces the x unit and must match the x column's regularity).
    x_unit, z_unit : str, optional
        Units of the x and z columns ('nm', 'um', 'mm', 'm', ...) when the
        file does not name them. ``xy_unit`` is accepted as an alias of
        ``x_unit``.

    Returns
    -------
    Profile
        Heights in nm along x, ``dx_mm`` in mm; ``meta`` records the units,
        the header, the first x (``x_start_mm``) and, for Dektak files, the
        scan parameters.

    Raises
    ------
    FileFormatError
        More than two columns, a non-uniform or non-monotonic x column,
        ragged or truncated data, unknown units (naming the argument to
        pass), contradictions between the file and the arguments.
    """
    p = Path(path)
    if xy_unit is not None:
        if x_unit is not None and x_unit != xy_unit:
            raise FileFormatError("give x_unit or xy_unit, not both")
        x_unit = xy_unit
    text = _decode(p.read_bytes(), p)
    head = text[:65536].splitlines()[:400]
    own = bool(head) and head[0].lstrip("\ufeff").strip() == f"# format: {_OWN_FORMAT}"
    dektak = bool(head) and (head[0].strip() == "Scan Parameters"
                             or any(ln.strip() == "Scan Data" for ln in head))
    del head
    header: dict[str, str] = {}
    dek: dict[str, str] = {}
    colnames: list[str] | None = None
    section = None
    xs = array("d")  # the numbers only: 8 bytes a sample, not a Python object
    zs = array("d")
    x_exp = -(10**9)  # decimal exponent of the coarsest printed x digit
    ncols = -1
    ended = False
    max_points = current_limits().max_pixels
    # universal newlines, one line at a time (no list of every line)
    for lineno, raw_line in enumerate(io.StringIO(text, newline=None), start=1):
        s = raw_line.strip()
        if not s:
            continue
        if ncols < 0:  # still in the header
            if s[0] in "#%":
                _header_pair(s, header)
                continue
            if dektak and s in _DEKTAK_SECTIONS:
                section = s
                continue
            fields = _split(s)
            vals = _numeric(fields)
            if vals is None:
                if dektak and section == "Scan Parameters" and len(fields) >= 2:
                    dek[fields[0]] = ",".join(fields[1:]).strip()
                elif dektak and section != "Scan Data":
                    pass  # Analytical Results table: the instrument's own numbers
                elif colnames is None:
                    colnames = fields
                else:
                    raise FileFormatError(f"{p}: line {lineno} is neither a header line nor "
                                          f"numbers: {s[:60]!r}")
                continue
            if len(vals) > 2:
                raise FileFormatError(
                    f"{p}: line {lineno} holds {len(vals)} columns; a text profile has one (z) "
                    "or two (x, z). Read maps with format='text'")
            ncols = len(vals)
        elif s[0] in "#%":
            if s == _END_LINE:
                ended = True
                break
            continue
        fields = _split(s)
        if len(fields) != ncols:
            raise FileFormatError(f"{p}: line {lineno} has {len(fields)} values, expected "
                                  f"{ncols} (ragged or truncated data)")
        if ncols == 2:
            x = _number(fields[0])
            if x is None or not math.isfinite(x):
                raise FileFormatError(f"{p}: line {lineno}: x {fields[0]!r} is not a number")
            z = _number(fields[1])
            if z is None:
                raise FileFormatError(f"{p}: line {lineno}: non-numeric height {fields[1]!r}")
            xs.append(x)
            x_exp = max(x_exp, _last_digit_exponent(fields[0]))
        else:
            z = _number(fields[0])
            if z is None:
                raise FileFormatError(f"{p}: line {lineno}: non-numeric height {fields[0]!r}")
        zs.append(z)
        if len(zs) > max_points:
            raise FileFormatError(f"{p}: more than {max_points} samples, the limit (max_pixels; "
                                  "raise it with metrology.io.limits(max_pixels=...))")
    if ncols < 0:
        raise FileFormatError(f"{p}: no numeric data found")
    del text
    if own and not ended:
        raise FileFormatError(f"{p}: a {_OWN_FORMAT} file must end with {_END_LINE!r}; this "
                              "copy is truncated")
    n = len(zs)
    if n < 2:
        raise FileFormatError(f"{p}: a profile needs at least 2 samples, found {n}")
    if "points" in header:
        try:
            declared = int(header["points"])
        except ValueError:
            raise FileFormatError(f"{p}: header points={header['points']!r} is not an "
                                  "integer") from None
        if declared != n:
            raise FileFormatError(f"{p}: header says {declared} points, the data have {n} "
                                  "(truncated or corrupt file)")

    meta: dict[str, Any] = {
        "format": "profile",
        "instrument": None,
        "software": header.get("software"),
        "wavelength_nm": None,
        "timestamp": None,
        "profile_header": dict(header),
    }
    if colnames:
        meta["profile_columns"] = colnames

    # ---- units -------------------------------------------------------------
    col_x = col_z = None
    if colnames:
        cn = [c for c in colnames if c != ""]
        if len(cn) == ncols:
            if ncols == 2:
                col_x, col_z = _unit_of(cn[0]), _unit_of(cn[1])
            else:
                col_z = _unit_of(cn[0])
    file_z = header.get("z_unit") or col_z
    file_x = header.get("x_unit") or col_x
    if header.get("z_unit") and col_z and length_unit_exponent(header["z_unit"]) != \
            length_unit_exponent(col_z):
        raise FileFormatError(f"{p}: header z_unit {header['z_unit']!r} contradicts the column "
                              f"name {col_z!r}")
    for what, fval, aval in (("z", file_z, z_unit), ("x", file_x, x_unit)):
        if fval and aval and length_unit_exponent(fval) != length_unit_exponent(aval):
            raise FileFormatError(f"{p}: the file gives the {what} unit {fval!r} but the caller "
                                  f"passed {what}_unit={aval!r}")
    zu = file_z or z_unit
    if zu is None:
        raise FileFormatError(f"{p}: the file does not give the height unit (pass z_unit= "
                              "'nm', 'um', 'mm' or 'm')")
    z_scale = float(_unit_scale(zu, -9, "height", p))
    z = np.frombuffer(zs, dtype=np.float64) * z_scale
    del zs
    meta["z_unit_original"] = zu
    meta["z_scale_to_nm"] = z_scale

    # ---- spacing -----------------------------------------------------------
    hdr_dx = (decimal_scaled(header["dx_mm"], 0, what="header 'dx_mm'")
              if "dx_mm" in header else None)
    if ncols == 1:
        dx = _agree(hdr_dx, dx_mm, "dx_mm", p, 1e-9)
        if dx is None:
            raise FileFormatError(f"{p}: a single-column profile does not give its spacing; "
                                  "pass dx_mm= (the sampling interval in mm)")
        meta["x_start_mm"] = 0.0
    else:
        xv = np.frombuffer(xs, dtype=np.float64).copy()
        del xs
        if xv[-1] < xv[0]:
            xv, z = xv[::-1].copy(), z[::-1].copy()
            meta["x_reversed"] = True
        idx = np.arange(n, dtype=np.float64)
        if not np.all(np.diff(xv) > 0):
            raise FileFormatError(f"{p}: the x column is not strictly monotonic; not a profile")
        q = 10.0 ** x_exp
        span = float(xv[-1] - xv[0])
        _s, _a, resid = _minimax_line(idx, xv)
        ic = idx - idx.mean()  # the spacing itself: least squares (smallest variance)
        step = float(np.dot(ic, xv - xv.mean()) / np.dot(ic, ic))
        x0 = float(xv.mean() - step * idx.mean())
        # uniform samples x0 + i dx printed to a quantum q lie within q/2 of one line;
        # no line comes that close to a trace with a missing or irregular sample
        if resid > 0.5 * q * (1 + 1e-9) + 1e-12 * span:
            d = np.diff(xv)
            raise FileFormatError(
                f"{p}: the x column is not uniformly sampled (steps from {d.min():g} to "
                f"{d.max():g}; no uniform grid lies within half the printed precision "
                f"{q:g} of every x, the best is {resid:g} off); a Profile needs uniform "
                "sampling and nothing is interpolated")
        xu = file_x or (x_unit if dx_mm is None or x_unit else None)
        if xu is not None:
            to_mm = float(_unit_scale(xu, -3, "x", p))
            fit_dx = step * to_mm
            # rounding of x to its printed digit limits how well the slope is known
            tol = max(1e-9, 2.0 * q / max(span, q))
            file_dx = hdr_dx if hdr_dx is not None else fit_dx
            if hdr_dx is not None and not math.isclose(hdr_dx, fit_dx, rel_tol=tol):
                raise FileFormatError(f"{p}: header dx_mm = {hdr_dx!r} contradicts the x "
                                      f"column (step {fit_dx!r} mm)")
            dx = _agree(file_dx, dx_mm, "dx_mm", p, tol)
            meta["x_start_mm"] = x0 * to_mm
            meta["x_unit_original"] = xu
        elif dx_mm is not None:
            dx = float(dx_mm)
            meta["x_start_mm"] = None
            meta["x_unit_original"] = f"unknown (dx_mm={dx_mm!r} given; x step {step!r})"
        else:
            raise FileFormatError(f"{p}: the file does not give the unit of the x column "
                                  "(pass x_unit= 'um', 'mm', ... or dx_mm= for the sampling "
                                  "interval in mm)")
        meta["x_step_fit_residual"] = resid
        meta["x_print_quantum"] = q
    assert dx is not None
    if not (math.isfinite(dx) and dx > 0):
        raise FileFormatError(f"{p}: sampling interval {dx!r} mm is not positive")
    check_range("spacing_mm", dx, p, "the sampling interval dx (mm)")

    if dektak:
        meta.update(_dektak_meta(dek, dx, n, p))
    if own:
        meta["profile_own_format"] = True
    return Profile(z, dx, meta)


def _dektak_meta(dek: dict[str, str], dx_mm: float, n: int, p: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"instrument": "Bruker Dektak stylus profiler",
                           "dektak_scan_parameters": dict(dek)}
    res = dek.get("Resolution")
    if res:
        m = re.match(r"\s*([-+0-9.eE]+)\s*([A-Za-zµμ]+)\s*/\s*sample", res)
        if m:
            k = length_unit_exponent(m.group(2))
            if k is not None:
                val = float(Decimal(m.group(1)).scaleb(k + 3))
                q = float(Decimal(1).scaleb(Decimal(m.group(1)).as_tuple().exponent + k + 3))
                if abs(val - dx_mm) > 0.5 * q + 1e-3 * dx_mm:
                    raise FileFormatError(f"{p}: Dektak header Resolution {res!r} contradicts "
                                          f"the x column (step {dx_mm:g} mm)")
                out["dektak_resolution_mm"] = val
    length = dek.get("Length")
    if length:
        m = re.match(r"\s*([-+0-9.eE]+)\s*([A-Za-zµμ]+)", length)
        k = length_unit_exponent(m.group(2)) if m else None
        if m and k is not None:
            val = float(Decimal(m.group(1)).scaleb(k + 3))
            q = float(Decimal(1).scaleb(Decimal(m.group(1)).as_tuple().exponent + k + 3))
            # the scan length is n or n - 1 samples (to its printed precision): a copy cut
            # at a line boundary has fewer samples than its header's Length
            if not (n - 1) * dx_mm - 0.5 * q - 1e-9 * val <= val <= n * dx_mm + 0.5 * q \
                    + 1e-9 * val:
                raise FileFormatError(
                    f"{p}: Dektak header Length {length!r} but the data hold {n} samples of "
                    f"{dx_mm * 1e3:g} um ({n * dx_mm * 1e3:g} um): truncated or corrupt")
            out["dektak_length_mm"] = val
    stylus = dek.get("Stylus", "")
    m = re.search(r"Radius:\s*([0-9.]+)\s*(\S+)", stylus)
    if m and length_unit_exponent(m.group(2).replace("\ufffd", "µ")) is not None:
        out["stylus_radius_um"] = float(
            Decimal(m.group(1)).scaleb(length_unit_exponent(m.group(2).replace("\ufffd", "µ"))
                                       + 6))
    return out


def write_profile(profile: Profile, path: str | Path, *, delimiter: str = ",") -> Path:
    """Write ``profile`` as a two-column CSV (x in mm, z in nm), atomically.

    Header: ``# format: metrology-profile-1``, ``points``, ``dx_mm`` (exact
    repr), ``x_unit: mm``, ``z_unit: nm``, the column line ``x_mm,z_nm``;
    rows ``x, z`` with full precision (``repr``), NaN as ``nan``; last line
    ``# end``. :func:`read_profile_text` reads it back bit-exact.
    ``metrology.save(profile, path)`` does the same.
    """
    p = Path(path)
    with atomic_target(p, suffix=p.suffix) as tmp:
        _write(profile, Path(tmp), delimiter=delimiter)
    return p


def _write(profile: Any, path: Path, *, delimiter: str = ",") -> None:
    """Write to exactly ``path`` (the registry's contract; :func:`write_profile` is atomic)."""
    if not isinstance(profile, Profile):
        raise FileFormatError(f"format 'profile' writes a Profile, got {type(profile).__name__}")
    if delimiter not in (",", ";", "\t"):
        raise FileFormatError(f"delimiter must be ',', ';' or tab, got {delimiter!r}")
    x = profile.x_mm
    lines = [f"# format: {_OWN_FORMAT}", f"# points: {profile.n_points}",
             f"# dx_mm: {profile.dx_mm!r}", "# x_unit: mm", "# z_unit: nm",
             delimiter.join(("x_mm", "z_nm"))]
    lines += [delimiter.join((repr(float(xi)), "nan" if not math.isfinite(zi) else repr(zi)))
              for xi, zi in zip(x.tolist(), profile.z_nm.tolist(), strict=True)]
    lines.append(_END_LINE)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


register(Format(
    name="profile",
    extensions=(),  # chosen by content (sniff); .txt / .csv by extension stay "text"
    description="Profile text: two-column (x, z), single-column z, Bruker Dektak CSV "
                "(a Profile; save(profile, path) writes one)",
    sniff=sniff_profile_text,
    read=read_profile_text,
    write=_write,
    priority=-10,
    instruments=("Bruker Dektak stylus profilers (CSV export)",
                 "any profilometer's two-column (x, z) or one-column text export"),
))
