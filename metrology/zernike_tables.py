"""Zernike coefficient tables for design tools: CSV and JSON, in the conventions they expect.

Presets (``convention=``):

* ``"zemax-fringe-sag"``: OpticStudio "Zernike Fringe Sag" surface: Fringe
  order, peak normalised (the coefficient is the edge amplitude), in lens
  units (mm), with the normalisation radius;
* ``"zemax-standard-sag"``: OpticStudio "Zernike Standard Sag": Noll order
  (OpticStudio's "Standard" terms), RMS (orthonormal) normalisation, mm;
* ``"codev-zfr"``: CODE V ZFR: Fringe, peak normalised, waves at the stated
  wavelength (the same numbers as :func:`metrology.io.codev.write_codev_zfr`).

Or give ``scheme``, ``normalisation`` and ``unit`` ("waves", "mm", "um",
"nm") yourself. Every table states scheme, normalisation, unit, wavelength,
R_norm, centre and how the coefficients were converted; the terms run without
gaps from the scheme's first index to the highest fitted one (terms not
fitted are 0 with ``"fitted": false``), as the tools read them by position.

An export of an analysis result (a fit), not a height-map format: it lives
outside :mod:`metrology.io`, whose readers import no analysis.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from ._atomic import atomic_write_text
from .errors import ConventionError, FileFormatError
from .zernike_schemes import first_index, zernike_name, zernike_order

__all__ = ["CONVENTIONS", "zernike_table", "write_zernike_csv", "write_zernike_json",
           "read_zernike_table"]

CONVENTIONS: dict[str, dict[str, str]] = {
    "zemax-fringe-sag": {"scheme": "fringe", "normalisation": "peak", "unit": "mm"},
    "zemax-standard-sag": {"scheme": "noll", "normalisation": "rms", "unit": "mm"},
    "codev-zfr": {"scheme": "fringe", "normalisation": "peak", "unit": "waves"},
}
_UNITS = {"nm": 1.0, "um": 1e3, "mm": 1e6}


def zernike_table(fit: Any, *, convention: str | None = None, scheme: str = "fringe",
                  normalisation: str = "peak", unit: str = "waves",
                  wavelength_nm: float | None = None,
                  r_norm_mm: float | None = None) -> dict[str, Any]:
    """A Zernike fit as a table in a design tool's convention (module docstring).

    Parameters
    ----------
    fit : ZernikeFit
    convention : str, optional
        One of :data:`CONVENTIONS` (overrides scheme, normalisation, unit).
    scheme, normalisation : str
        Target convention (converted exactly, :meth:`ZernikeFit.to`).
    unit : {"waves", "mm", "um", "nm"}
    wavelength_nm : float, optional
        Required for waves; recorded otherwise when given.
    r_norm_mm : float, optional
        R_norm of the table, mm (exact transform; default: the fit's).

    Returns
    -------
    dict
        JSON-ready: conventions, ``terms`` as dicts (index, n, m, name,
        coefficient, fitted).
    """
    if convention is not None:
        try:
            preset = CONVENTIONS[str(convention).lower()]
        except KeyError:
            raise ConventionError(f"unknown convention {convention!r}; use one of "
                                  f"{', '.join(CONVENTIONS)}") from None
        scheme, normalisation, unit = preset["scheme"], preset["normalisation"], preset["unit"]
    u = str(unit).lower().replace("µ", "u")
    if u not in (*_UNITS, "waves"):
        raise ConventionError(f"unknown unit {unit!r}; use waves, mm, um or nm")
    lam = None if wavelength_nm is None else float(wavelength_nm)
    if u == "waves" and not (lam is not None and lam > 0 and math.isfinite(lam)):
        raise ConventionError("coefficients in waves need wavelength_nm=")
    f = fit.to(scheme, normalisation, r_norm_mm)
    per = lam if u == "waves" else _UNITS[u]
    value = dict(zip(f.indices, f.coefficients_nm, strict=True))
    start = first_index(f.scheme)
    terms = []
    for j in range(start, max(f.indices) + 1):
        n, m = zernike_order(f.scheme, j)
        terms.append({"index": j, "n": n, "m": m, "name": zernike_name(n, m),
                      "coefficient": float(value.get(j, 0.0)) / per, "fitted": j in value})
    return {
        "convention": convention, "scheme": f.scheme, "normalisation": f.normalisation,
        "unit": u, "wavelength_nm": lam, "r_norm_mm": float(f.r_norm_mm),
        "centre_mm": [float(c) for c in f.centre_mm],
        "conversion": getattr(f, "note", ""),
        "note": (f"coefficient in {u}" + (f" at {lam:g} nm" if u == "waves" else "")
                 + f"; {f.scheme} order, {f.normalisation} normalisation, R_norm = "
                 f"{float(f.r_norm_mm):g} mm"),
        "terms": terms,
    }


def write_zernike_json(fit: Any, path: str | Path, **kwargs: Any) -> Path:
    """Write :func:`zernike_table` as JSON (atomically). ``kwargs`` as there."""
    return atomic_write_text(path, json.dumps(zernike_table(fit, **kwargs), indent=2) + "\n")


_CSV_KEYS = ("convention", "scheme", "normalisation", "unit", "wavelength_nm", "r_norm_mm",
             "centre_mm", "note")


def write_zernike_csv(fit: Any, path: str | Path, **kwargs: Any) -> Path:
    """Write :func:`zernike_table` as CSV (atomically): ``# key: value`` lines, then
    ``index,n,m,name,coefficient,fitted``."""
    t = zernike_table(fit, **kwargs)
    buf = io.StringIO()
    for k in _CSV_KEYS:
        v = t[k]
        buf.write(f"# {k}: {json.dumps(v) if isinstance(v, list) else v}\n")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["index", "n", "m", "name", f"coefficient_{t['unit']}", "fitted"])
    for r in t["terms"]:
        w.writerow([r["index"], r["n"], r["m"], r["name"], repr(r["coefficient"]),
                    int(r["fitted"])])
    return atomic_write_text(path, buf.getvalue())


def read_zernike_table(path: str | Path) -> dict[str, Any]:
    """Read back a table written by :func:`write_zernike_csv` or :func:`write_zernike_json`."""
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    if p.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise FileFormatError(f"{p}: not a JSON Zernike table ({exc})") from exc
    meta: dict[str, Any] = {}
    rows = []
    body = []
    for ln in text.splitlines():
        if ln.startswith("# ") and ":" in ln:
            k, v = ln[2:].split(":", 1)
            meta[k.strip()] = v.strip()
        elif ln.strip():
            body.append(ln)
    reader = csv.reader(body)
    head = next(reader, None)
    if not head or head[:4] != ["index", "n", "m", "name"]:
        raise FileFormatError(f"{p}: not a Zernike table (header {head!r})")
    try:
        for r in reader:
            rows.append({"index": int(r[0]), "n": int(r[1]), "m": int(r[2]), "name": r[3],
                         "coefficient": float(r[4]), "fitted": bool(int(r[5]))})
        for k in ("wavelength_nm", "r_norm_mm"):
            meta[k] = None if meta.get(k) in (None, "None") else float(meta[k])
        if "centre_mm" in meta:
            meta["centre_mm"] = json.loads(meta["centre_mm"])
    except (ValueError, IndexError, json.JSONDecodeError) as exc:
        raise FileFormatError(f"{p}: corrupt Zernike table ({exc})") from exc
    meta["terms"] = rows
    return meta
