"""``metrology analyze``: what one map holds, without a spec."""

from __future__ import annotations

import math
from typing import Any

from .._version import __version__
from ..errors import MetrologyError
from ..heightmap import HeightMap
from ._ci import _finite
from ._common import fmt_coord

ANALYZE_SCHEMA_ID = "metrology.analyze/1"


def decade_bands(f_min_per_mm: float, f_max_per_mm: float) -> list[tuple[float, float]]:
    """Whole decades [10^k, 10^(k+1)) that overlap [f_min, f_max] (cycles/mm)."""
    if not (f_min_per_mm > 0 and f_max_per_mm > f_min_per_mm):
        return []
    k0 = math.floor(math.log10(f_min_per_mm) + 1e-12)
    k1 = math.ceil(math.log10(f_max_per_mm) - 1e-12)
    return [(10.0 ** k, 10.0 ** (k + 1)) for k in range(k0, max(k1, k0 + 1))]


def summarize_map(hm: HeightMap, *, terms: int = 37, scheme: str = "fringe",
                  path: str | None = None) -> dict[str, Any]:
    """Statistics, a Zernike fit and decade band RMS of one map (no spec).

    Parameters
    ----------
    hm : HeightMap
    terms : int
        Number of Zernike terms of ``scheme`` fitted (default: Fringe Z1..Z37).
    scheme : {"fringe", "noll", "ansi"}
    path : str, optional
        Shown as the file name.

    Returns
    -------
    dict
        JSON-ready (``schema = "metrology.analyze/1"``): ``stats`` (shape,
        spacing in mm, valid fraction, mean / RMS / PV in nm as stored, nothing
        removed); ``zernike`` (:meth:`ZernikeFit.to_dict`: rms normalisation,
        R_norm circumscribing the valid pixels about the best-fit centre,
        nothing removed before the fit; or ``error``); ``psd`` (Hann window,
        piston and tilt removed, the frequency range the map resolves, and the
        areal RMS in whole decades of spatial frequency with their coverage).
    """
    from ..spectral import bands_rms, psd
    from ..zernike import fit_zernike

    out: dict[str, Any] = {
        "schema": ANALYZE_SCHEMA_ID,
        "tool": {"name": "metrology", "version": __version__},
        "file": path,
        "format": hm.meta.get("format"),
        "instrument": None if hm.meta.get("instrument") is None
        else str(hm.meta.get("instrument")),
        "units": {"height": "nm", "length": "mm", "frequency": "cycles/mm"},
    }
    nv = hm.n_valid
    out["stats"] = {
        "shape": list(hm.shape), "dx_mm": hm.dx_mm, "dy_mm": hm.dy_mm,
        "extent_mm": list(hm.extent_mm), "valid_fraction": hm.valid_fraction,
        "n_valid": nv,
        "mean_nm": hm.mean_nm if nv else None, "rms_nm": hm.rms_nm if nv else None,
        "pv_nm": hm.pv_nm if nv else None,
        "note": "as stored: nothing removed (RMS about the mean)",
    }
    try:
        fit = fit_zernike(hm, terms, scheme=scheme, normalization="rms")
        z = fit.to_dict()
        z["removed_before_fit"] = []
        z["radius_note"] = ("R_norm circumscribes the valid pixels about the best-fit centre "
                            "(no nominal aperture given)")
        out["zernike"] = z
    except MetrologyError as exc:
        out["zernike"] = {"error": str(exc), "scheme": scheme, "terms": terms}
    try:
        p = psd(hm)
        bands = decade_bands(p.f_min_per_mm, p.f_max_per_mm)
        res = bands_rms(p, bands, kind="areal") if bands else []
        out["psd"] = {
            "kind": "areal band RMS: 2-D periodogram cells with f_lo <= |f| < f_hi",
            "window": p.window, "removed": ["mean", *p.removed],
            "f_min_per_mm": p.f_min_per_mm, "f_max_per_mm": p.f_max_per_mm,
            "nyquist_x_per_mm": p.nyquist_x_per_mm, "nyquist_y_per_mm": p.nyquist_y_per_mm,
            "total_rms_nm": p.rms_nm,
            "bands": [{"f_lo_per_mm": r.f_lo_per_mm, "f_hi_per_mm": r.f_hi_per_mm,
                       "period_max_mm": 1.0 / r.f_lo_per_mm,
                       "period_min_mm": 1.0 / r.f_hi_per_mm, "rms_nm": r.rms_nm,
                       "coverage": r.coverage, "covered_lo_per_mm": r.covered_lo_per_mm,
                       "covered_hi_per_mm": r.covered_hi_per_mm, "reason": r.reason}
                      for r in res],
        }
    except MetrologyError as exc:
        out["psd"] = {"error": str(exc)}
    return _finite(out)


def _g(x: Any, fmt: str = ".4g") -> str:
    return "\u2014" if x is None else format(x, fmt)


def render_summary(summary: dict[str, Any]) -> str:
    """:func:`summarize_map`'s result as text for a terminal."""
    st = summary["stats"]
    lines = [f"{summary.get('file') or '(map)'}  (metrology {summary['tool']['version']})",
             f"  format        {summary.get('format') or '?'}"
             + (f", instrument {summary['instrument']}" if summary.get("instrument") else ""),
             f"  shape         {st['shape'][0]} rows x {st['shape'][1]} cols; extent "
             f"{st['extent_mm'][0]:.4g} x {st['extent_mm'][1]:.4g} mm",
             f"  spacing       dx = {st['dx_mm']:.6g} mm, dy = {st['dy_mm']:.6g} mm",
             f"  valid         {st['valid_fraction']:.2%} ({st['n_valid']} px)",
             f"  RMS / PV      {_g(st['rms_nm'])} nm / {_g(st['pv_nm'])} nm (as stored, "
             "nothing removed)", ""]
    z = summary["zernike"]
    if "error" in z:
        lines.append(f"Zernike fit not possible: {z['error']}")
    else:
        lines.append(f"Zernike fit: {z['scheme']} scheme, {z['normalization']} normalisation "
                     f"(coefficient = RMS of the term), R_norm = {z['radius_mm']:.6g} mm about "
                     f"({fmt_coord(z['center_mm'][0])}, {fmt_coord(z['center_mm'][1])}) mm "
                     "(circumscribing the valid pixels), "
                     f"{z['n_pixels']} px; nothing removed before the fit")
        lines.append(f"  basis: {z['basis']}")
        lines.append(f"  {'Z':>4} {'n':>3} {'m':>4}  {'coef [nm]':>12}  name")
        for t in z["terms"]:
            lines.append(f"  {t['index']:>4} {t['n']:>3} {t['m']:>4}  "
                         f"{_g(t['coefficient_nm'], '12.5f'):>12}  {t['name']}")
        lines.append(f"  residual RMS {_g(z['residual_rms_nm'], '.5g')} nm")
    lines.append("")
    ps = summary["psd"]
    if "error" in ps:
        lines.append(f"PSD not possible: {ps['error']}")
    else:
        lines.append(f"PSD: {ps['kind']}; window {ps['window']}; removed "
                     f"{', '.join(ps['removed'])}; resolves {ps['f_min_per_mm']:.4g} to "
                     f"{ps['f_max_per_mm']:.4g} cycles/mm (2/L to Nyquist); total RMS "
                     f"{_g(ps['total_rms_nm'])} nm")
        lines.append(f"  {'band [cycles/mm]':>20}  {'periods [mm]':>18}  {'RMS [nm]':>9}  "
                     "coverage")
        for b in ps["bands"]:
            cov = b["coverage"]
            if cov == "partial":
                cov = (f"partial: RMS of {b['covered_lo_per_mm']:.4g}-"
                       f"{b['covered_hi_per_mm']:.4g} /mm only")
            elif cov == "none":
                cov = "none (not measurable)"
            lines.append(f"  {b['f_lo_per_mm']:>9g} - {b['f_hi_per_mm']:<8g}  "
                         f"{b['period_max_mm']:>8.4g} - {b['period_min_mm']:<7.4g}  "
                         f"{_g(b['rms_nm']):>9}  {cov}")
    return "\n".join(lines)


__all__ = ["summarize_map", "render_summary", "decade_bands", "ANALYZE_SCHEMA_ID"]
