"""CODE V interferogram files (``.int``): grid form (read and write) and Zernike form (ZFR).

Layout (CODE V interferogram file format, as implemented by Gwyddion's and
prysm's readers, which agree on it)
---------------------------------------------------------------------------
* Optional comment lines starting with ``!``.
* A title line (at most 80 characters).
* A header line of keywords:

  - grid: ``GRD nx ny TYPE WVL λ [NNB] SSZ s [NDA v] [XSC x]``, TYPE one of
    SUR (surface deformation), WFR (wavefront), FIL (intensity filter), THV
    (thickness variation), BIR, CAO; WVL the wavelength in µm; NNB asks CODE V
    for nearest-neighbour instead of bilinear interpolation; SSZ the scale:
    ``value / SSZ`` is in waves at WVL; NDA the no-data value (32767 when
    absent); XSC the x/y aspect of the grid;
  - Zernike: ``ZFR n TYPE WVL λ SSZ s``: n Fringe Zernike coefficients
    Z1..Zn (peak-normalised, over the surface's aperture), ``value / SSZ`` in
    waves at WVL.

* The data: nx · ny integers (grid) or n numbers (Zernike), free format.
  Grid values run row by row from the top row (+y) down, each row from -x to
  +x (image order): this reader flips them into the y-up frame of
  ``docs/conventions.md`` (``meta['rows_flipped']`` True) and the writer flips back.

The grid carries no pixel spacing (CODE V maps it onto the surface's
aperture). The writer records the map's spacing in a comment line
(``! metrology: dx_mm=... dy_mm=...``) that this reader takes as the file's
calibration; for other files pass ``dx_mm=`` (``dy_mm=`` then follows from
XSC, else equals ``dx_mm``). A caller's spacing overrides the comment's
(the one rule of every reader, :func:`metrology.io._policy.resolve_spacing`).

Truncation and limits: the header declares the number of values, so the data
must hold exactly that many and the file must end with a line break (a copy
cut inside its last number is refused, as for the text reader); the grid
size, WVL, the height step WVL/SSZ and XSC must lie within the reader limits
(:func:`metrology.io.limits`) before anything is allocated.

Writing the grid form: heights in waves at the test wavelength times SSZ,
rounded to integers within ±32766 (SSZ chosen from the map's largest
height; the quantisation step λ/SSZ is stated in a comment and in the
reader's meta), invalid points NDA = 32767; data lines stay within 80
characters.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_write_text
from ..errors import FileFormatError
from ..heightmap import HeightMap
from . import _policy
from ._registry import Format, register

__all__ = ["read_codev_int", "write_codev_int", "read_codev_zfr", "write_codev_zfr"]

NDA_DEFAULT = 32767
INT_MAX = 32766
_TYPES = {"SUR": "surface", "WFR": "wavefront", "FIL": "intensity filter",
          "THV": "thickness variation", "BIR": "birefringence", "CAO": "crystal axis"}
#: header keywords followed by one value: (name in the parsed header, type)
_VALUED = {"WVL": ("wvl_um", float), "SSZ": ("ssz", float), "NDA": ("nda", int),
           "XSC": ("xsc", float)}
_META_RE = re.compile(r"!\s*metrology:.*?dx_mm=([^\s,]+).*?dy_mm=([^\s,]+)")


def _split_header(text: str, p: Path) -> tuple[list[str], str, list[str], str]:
    """Comments, title, header tokens, rest of the text."""
    comments = []
    lines = text.split("\n")
    i = 0
    while i < len(lines) and lines[i].lstrip().startswith("!"):
        comments.append(lines[i].rstrip("\r"))
        i += 1
    if i + 1 >= len(lines):
        raise FileFormatError(f"{p}: no title and header line after the comments (truncated)")
    title = lines[i].rstrip("\r")
    header = lines[i + 1].split()
    return comments, title, header, "\n".join(lines[i + 2:])


def _sniff(head: bytes) -> bool:
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes everything
        return False
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("!")]
    if len(lines) < 2:
        return False
    t = lines[1].split()
    return len(t) >= 3 and t[0].upper() in ("GRD", "ZFR") and t[1].isdigit()


def _parse_keywords(tokens: list[str], p: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"nnb": False}
    i = 0
    n = len(tokens)

    def value(k: int, kind: type) -> Any:
        if k >= n:
            raise FileFormatError(f"{p}: header keyword {tokens[k - 1]} has no value")
        try:
            return kind(tokens[k])
        except ValueError:
            raise FileFormatError(f"{p}: header value {tokens[k]!r} after {tokens[k - 1]} is "
                                  f"not a {kind.__name__}") from None

    while i < n:
        key = tokens[i].upper()
        if key == "GRD":
            out["form"] = "GRD"
            out["nx"], out["ny"] = value(i + 1, int), value(i + 2, int)
            i += 3
        elif key == "ZFR":
            out["form"] = "ZFR"
            out["n"] = value(i + 1, int)
            i += 2
        elif key in _TYPES:
            out["type"] = key
            i += 1
        elif key in _VALUED:
            name, kind = _VALUED[key]
            out[name] = value(i + 1, kind)
            i += 2
        elif key == "NNB":
            out["nnb"] = True
            i += 1
        else:
            raise FileFormatError(f"{p}: unsupported CODE V INT header keyword {tokens[i]!r}")
    names = {"form": "GRD or ZFR", "type": "a data type (SUR, WFR, ...)", "wvl_um": "WVL",
             "ssz": "SSZ"}
    for k, name in names.items():
        if k not in out:
            raise FileFormatError(f"{p}: CODE V INT header lacks {name}")
    if not (out["wvl_um"] > 0 and math.isfinite(out["wvl_um"])):
        raise FileFormatError(f"{p}: WVL {out['wvl_um']!r} must be a positive wavelength in µm")
    if not (out["ssz"] != 0 and math.isfinite(out["ssz"])):
        raise FileFormatError(f"{p}: SSZ {out['ssz']!r} must be a non-zero scale")
    lam_nm = out["wvl_um"] * 1000.0
    _policy.check_range("wavelength_nm", lam_nm, p, "WVL (nm)")
    _policy.check_range("z_scale_nm", lam_nm / out["ssz"], p, "WVL / SSZ (nm per count)",
                        absolute=True)
    if "xsc" in out:
        _policy.check_range("factor", out["xsc"], p, "XSC (x/y aspect of the grid)")
    return out


def _check_terminated(text: str, p: Path) -> None:
    """The header declares the number of values: a file not ending with a line break was cut
    inside its last number (which would still parse)."""
    if not text.endswith(("\n", "\r")):
        raise FileFormatError(f"{p}: the header declares the number of values but the file "
                              "does not end with a line break: it was cut inside its last "
                              "line (truncated)")


def _comment_spacing(comments: list[str], p: Path) -> tuple[float | None, float | None]:
    """The spacing this module's writer records in a ``! metrology:`` comment, mm."""
    for c in comments:
        mt = _META_RE.search(c)
        if mt:
            return (_policy.decimal_scaled(mt.group(1), 0, what=f"{p}: comment dx_mm"),
                    _policy.decimal_scaled(mt.group(2), 0, what=f"{p}: comment dy_mm"))
    return None, None


def read_codev_int(path: str | Path, *, dx_mm: float | None = None,
                   dy_mm: float | None = None) -> HeightMap:
    """Read a CODE V grid interferogram file (``GRD``) of surface or wavefront data.

    Parameters
    ----------
    path : path-like
    dx_mm, dy_mm : float, optional
        Pixel spacing (the file has none). Default: the ``! metrology:``
        comment of files this module wrote; ``dy_mm`` defaults to what XSC
        implies (``dx · nx / (ny · XSC)``).

    Returns
    -------
    HeightMap
        Heights in nm (``meta['quantity']`` "surface" for SUR, "wavefront"
        for WFR), rows y-up; NDA points are NaN.

    Raises
    ------
    FileFormatError
        Zernike (ZFR) files (use :func:`read_codev_zfr`), types other than
        SUR/WFR, unknown keywords, counts that do not match, non-integer data,
        or no spacing.
    """
    p = Path(path)
    size = p.stat().st_size
    text = p.read_bytes().decode("latin-1")
    comments, title, tokens, rest = _split_header(text, p)
    h = _parse_keywords(tokens, p)
    if h["form"] != "GRD":
        raise FileFormatError(f"{p}: holds Zernike coefficients (ZFR), not a grid; use "
                              "metrology.io.codev.read_codev_zfr")
    if h["type"] not in ("SUR", "WFR"):
        raise FileFormatError(f"{p}: grid of {_TYPES[h['type']]} ({h['type']}) data: only "
                              "surface (SUR) and wavefront (WFR) grids are heights")
    nx, ny = h["nx"], h["ny"]
    if nx < 1 or ny < 1:
        raise FileFormatError(f"{p}: GRD {nx} {ny}: the grid must have positive sizes")
    # a value takes at least 2 bytes (a digit and a separator; the last one a line break)
    _policy.check_map_size(p, f"GRD {nx} {ny}", (ny, nx), 2, stored=size)
    _check_terminated(text, p)
    del text
    toks = rest.split()
    if len(toks) != nx * ny:
        raise FileFormatError(f"{p}: {len(toks)} data values, header declares {nx} x {ny} = "
                              f"{nx * ny} (truncated or corrupt)")
    try:
        raw = np.array([int(t) for t in toks], dtype=np.int64)
    except ValueError:
        raise FileFormatError(f"{p}: grid data must be integers") from None
    nda = h.get("nda", NDA_DEFAULT)
    lam_nm = h["wvl_um"] * 1000.0
    z = raw.astype(np.float64) * (lam_nm / h["ssz"])
    z[raw == nda] = np.nan
    z, flipped = _policy.to_y_up(z.reshape(ny, nx), top_first=True)
    z = np.ascontiguousarray(z)
    if dx_mm is not None and dy_mm is None and "xsc" in h:
        dy_mm = float(dx_mm) * nx / (ny * h["xsc"])  # XSC = (nx dx) / (ny dy)
    dx, dy, lateral = _policy.resolve_spacing(p, *_comment_spacing(comments, p), dx_mm, dy_mm,
                                              what="the CODE V INT file (no spacing comment)")
    meta = _policy.base_meta(
        "codev", wavelength_nm=lam_nm, z_unit_original=f"waves/{h['ssz']:g} at {lam_nm:g} nm",
        z_scale_to_nm=lam_nm / h["ssz"], rows_flipped=flipped, quantity=_TYPES[h["type"]],
        quantisation_nm=abs(lam_nm / h["ssz"]), codev_title=title, codev_comments=comments,
        codev_header={k: v for k, v in h.items() if k not in ("form",)}, **lateral)
    return HeightMap._adopt(z, dx, dy, meta)


def _data_lines(values: list[str]) -> list[str]:
    lines, cur = [], ""
    for v in values:
        if cur and len(cur) + 1 + len(v) > 80:
            lines.append(cur)
            cur = v
        else:
            cur = f"{cur} {v}" if cur else v
    if cur:
        lines.append(cur)
    return lines


def _scale_for(peak_waves: float) -> float:
    """SSZ for a map whose largest |height| is ``peak_waves``: the largest number of 6
    significant digits with peak x SSZ <= INT_MAX (written exactly with ``repr``).

    Counts down the sixth digit (at most a few steps past the floor); scaling the
    value by (1 - 1e-6) and rounding again could round back up and never end.
    """
    if not peak_waves > 0:
        return float(INT_MAX)
    x = INT_MAX / peak_waves
    e = math.floor(math.log10(x)) - 5
    mant = math.floor(x / 10.0 ** e)
    if mant >= 1_000_000:  # log10 rounded down a power of ten
        mant, e = mant // 10, e + 1
    while mant > 1:
        ssz = float(f"{mant}e{e}")
        if peak_waves * ssz <= INT_MAX:
            return ssz
        mant -= 1
    return float(f"1e{e}")


def write_codev_int(hm: HeightMap, path: str | Path, *, wavelength_nm: float | None = None,
                    kind: str = "SUR", title: str | None = None,
                    nearest_neighbour: bool = False) -> None:
    """Write ``hm`` as a CODE V grid interferogram file (module docstring: the layout).

    Parameters
    ----------
    hm : HeightMap
        Surface deformation (``kind="SUR"``) or wavefront (``"WFR"``) in nm.
    path : path-like
    wavelength_nm : float, optional
        WVL. Default: ``meta['wavelength_nm']`` of the map, else an error.
    kind : {"SUR", "WFR"}
    title : str, optional
        Title line (cut to 80 characters). Default: the map's source.
    nearest_neighbour : bool
        Write NNB (CODE V then interpolates by nearest neighbour).
    """
    k = str(kind).upper()
    if k not in ("SUR", "WFR"):
        raise FileFormatError(f"kind must be 'SUR' or 'WFR', got {kind!r}")
    lam = wavelength_nm if wavelength_nm is not None else hm.meta.get("wavelength_nm")
    if lam is None or not (float(lam) > 0 and math.isfinite(float(lam))):
        raise FileFormatError("a CODE V INT file needs the wavelength: pass wavelength_nm=")
    lam = float(lam)
    ny, nx = hm.shape
    w = hm.z_nm / lam  # waves
    finite = np.isfinite(w)
    peak = float(np.max(np.abs(w[finite]))) if finite.any() else 0.0
    ssz = _scale_for(peak)
    vals = np.where(finite, np.rint(np.where(finite, w, 0.0) * ssz), NDA_DEFAULT).astype(np.int64)
    vals = vals[::-1]  # top row (+y) first
    ttl = (title if title is not None else str(hm.meta.get("source") or "metrology export"))
    ttl = ttl.replace("\n", " ")[:80] or "metrology export"
    if ttl.lstrip().startswith("!"):
        ttl = "title " + ttl
    header = f"GRD {nx} {ny} {k} WVL {lam / 1000.0:.12g} {'NNB ' if nearest_neighbour else ''}" \
             f"SSZ {ssz!r} NDA {NDA_DEFAULT}"
    aspect = (nx * hm.dx_mm) / (ny * hm.dy_mm)
    if not math.isclose(aspect, 1.0, rel_tol=1e-12):
        header += f" XSC {aspect!r}"
    lines = [
        f"! metrology: dx_mm={hm.dx_mm!r} dy_mm={hm.dy_mm!r}",
        f"! heights in waves at {lam:g} nm x SSZ; step {lam / ssz:.3g} nm; rows from +y",
        ttl, header,
        *_data_lines([str(v) for v in vals.ravel().tolist()]),
    ]
    Path(path).write_text("\n".join(lines) + "\n", encoding="ascii")


def read_codev_zfr(path: str | Path) -> dict[str, Any]:
    """Read a CODE V Zernike interferogram file (``ZFR``).

    Returns
    -------
    dict
        ``scheme`` "fringe", ``normalisation`` "peak", ``kind`` (SUR/WFR),
        ``wavelength_nm``, ``indices`` (1..n), ``coefficients_waves`` and
        ``coefficients_nm`` (lists), ``title``.
    """
    p = Path(path)
    text = p.read_bytes().decode("latin-1")
    comments, title, tokens, rest = _split_header(text, p)
    h = _parse_keywords(tokens, p)
    if h["form"] != "ZFR":
        raise FileFormatError(f"{p}: a grid (GRD) file, not Zernike coefficients")
    n = h["n"]
    if not 1 <= n <= 37:
        raise FileFormatError(f"{p}: ZFR {n}: Fringe Zernike files hold 1 to 37 terms")
    _check_terminated(text, p)
    toks = rest.split()
    if len(toks) != n:
        raise FileFormatError(f"{p}: {len(toks)} coefficients, header declares {n}")
    try:
        waves = [float(t) / h["ssz"] for t in toks]
    except ValueError:
        raise FileFormatError(f"{p}: coefficients must be numbers") from None
    if not all(math.isfinite(w) for w in waves):
        raise FileFormatError(f"{p}: a coefficient is not a finite number")
    lam_nm = h["wvl_um"] * 1000.0
    return {"scheme": "fringe", "normalisation": "peak", "kind": h["type"],
            "wavelength_nm": lam_nm, "indices": list(range(1, n + 1)),
            "coefficients_waves": waves, "coefficients_nm": [c * lam_nm for c in waves],
            "title": title, "comments": comments}


def write_codev_zfr(fit: Any, path: str | Path, *, wavelength_nm: float, kind: str = "SUR",
                    title: str | None = None) -> Path:
    """Write a Zernike fit as a CODE V ZFR interferogram file (atomically).

    The fit is converted to Fringe, peak normalisation (:meth:`ZernikeFit.to`);
    terms Z1 up to the highest fitted index are written (0 for terms not
    fitted), in waves at ``wavelength_nm`` (SSZ 1). CODE V applies them over
    the surface's aperture: the fit's R_norm should be that aperture's
    radius (it is stated in a comment line).

    Returns
    -------
    Path
    """
    k = str(kind).upper()
    if k not in ("SUR", "WFR"):
        raise FileFormatError(f"kind must be 'SUR' or 'WFR', got {kind!r}")
    lam = float(wavelength_nm)
    if not (lam > 0 and math.isfinite(lam)):
        raise FileFormatError(f"wavelength_nm must be positive, got {wavelength_nm!r}")
    f = fit.to("fringe", "peak")
    n = max(f.indices)
    coef = np.zeros(n)
    for j, c in zip(f.indices, f.coefficients_nm, strict=True):
        coef[j - 1] = c / lam
    ttl = (title or "metrology Zernike export").replace("\n", " ")[:80]
    lines = [
        f"! metrology: Fringe Zernike, peak normalised, R_norm = {f.r_norm_mm!r} mm, centre "
        f"= ({f.centre_mm[0]!r}, {f.centre_mm[1]!r}) mm",
        ttl, f"ZFR {n} {k} WVL {lam / 1000.0:.12g} SSZ 1",
        *[repr(float(c)) for c in coef],
    ]
    return atomic_write_text(path, "\n".join(lines) + "\n")


register(Format(
    name="codev",
    extensions=(".int",),
    description="CODE V interferogram file (.int; grid form, SUR/WFR; spacing from dx_mm=)",
    sniff=_sniff,
    read=read_codev_int,
    write=write_codev_int,
))
