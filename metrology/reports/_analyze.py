"""``metrology analyze``: the text of what one map holds, without a spec.

The numbers come from :func:`metrology.pipeline.summarize_map` (a map) or
:func:`metrology.pipeline.summarize_profile` (a profile); this module only
formats them.
"""

from __future__ import annotations

from typing import Any

from ..pipeline import ANALYZE_SCHEMA_ID, decade_bands, summarize_map, summarize_profile
from ._common import fmt_coord


def _g(x: Any, fmt: str = ".4g") -> str:
    return "\u2014" if x is None else format(x, fmt)


def render_summary(summary: dict[str, Any]) -> str:
    """:func:`summarize_map`'s (or :func:`summarize_profile`'s) result as text for a
    terminal."""
    if summary.get("kind") == "profile":
        return _render_profile(summary)
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
        lines.append(f"Zernike fit: {z['scheme']} scheme, {z['normalisation']} normalisation "
                     f"(coefficient = RMS of the term), R_norm = {z['r_norm_mm']:.6g} mm about "
                     f"({fmt_coord(z['centre_mm'][0])}, {fmt_coord(z['centre_mm'][1])}) mm "
                     "(circumscribing the valid pixels), "
                     f"{z['n_pixels']} px; nothing removed before the fit")
        lines.append(f"  basis: {z['basis']}")
        lines.append(f"  {'Z':>4} {'n':>3} {'m':>4}  {'coef [nm]':>12}  name")
        for t in z["terms"]:
            lines.append(f"  {t['index']:>4} {t['n']:>3} {t['m']:>4}  "
                         f"{_g(t['coefficient_nm'], '12.5f'):>12}  {t['name']}")
        lines.append(f"  residual RMS {_g(z['residual_rms_nm'], '.5g')} nm")
    lines.append("")
    lines += _psd_lines(summary["psd"])
    return "\n".join(lines)


def _psd_lines(ps: dict[str, Any]) -> list[str]:
    if "error" in ps:
        return [f"PSD not possible: {ps['error']}"]
    lines = [f"PSD: {ps['kind']}; window {ps['window']}; removed "
             f"{', '.join(ps['removed'])}; resolves {ps['f_min_per_mm']:.4g} to "
             f"{ps['f_max_per_mm']:.4g} cycles/mm (2/L to Nyquist); total RMS "
             f"{_g(ps['total_rms_nm'])} nm",
             f"  {'band [cycles/mm]':>20}  {'periods [mm]':>18}  {'RMS [nm]':>9}  "
             + (f"{'U [nm]':>8}  " if "uncertainty_model" in ps else "") + "coverage"]
    for b in ps["bands"]:
        cov = b["coverage"]
        if cov == "partial":
            cov = (f"partial: RMS of {b['covered_lo_per_mm']:.4g}-"
                   f"{b['covered_hi_per_mm']:.4g} /mm only")
        elif cov == "none":
            cov = "none (not measurable)"
        u = f"{_g(b.get('U_nm'), '.2g'):>8}  " if "uncertainty_model" in ps else ""
        lines.append(f"  {b['f_lo_per_mm']:>9g} - {b['f_hi_per_mm']:<8g}  "
                     f"{b['period_max_mm']:>8.4g} - {b['period_min_mm']:<7.4g}  "
                     f"{_g(b['rms_nm']):>9}  {u}{cov}")
    if "uncertainty_model" in ps:
        lines.append(f"  U: expanded uncertainty, k = 2; {ps['uncertainty_model']}")
        lines.append(f"  noise floor: {ps.get('noise_floor', 'unknown')}")
    return lines


def _render_profile(summary: dict[str, Any]) -> str:
    st = summary["stats"]
    lines = [f"{summary.get('file') or '(profile)'}  (metrology {summary['tool']['version']})",
             f"  format        {summary.get('format') or '?'}"
             + (f", instrument {summary['instrument']}" if summary.get("instrument") else ""),
             f"  profile       {st['points']} points along x, {st['length_mm']:.6g} mm",
             f"  spacing       dx = {st['dx_mm']:.6g} mm",
             f"  valid         {st['valid_fraction']:.2%} ({st['n_valid']} points)",
             f"  RMS / PV      {_g(st['rms_nm'])} nm / {_g(st['pv_nm'])} nm (as stored, "
             "nothing removed)", ""]
    r = summary["roughness"]
    if "error" in r:
        lines.append(f"Height parameters not possible: {r['error']}")
    else:
        lines.append(f"Height parameters (ISO 21920-2) of the {r['profile']}; reference "
                     f"{r['reference_line']}; evaluation length {r['evaluation_length_mm']:.6g}"
                     f" mm in {r['sections']} sections of {r['section_length_mm']:.6g} mm")
        lines.append("  " + "   ".join(f"P{k[1]} {_g(r[f'{k}_nm'])} nm"
                                       for k in ("ra", "rq", "rz", "rp", "rv", "rt")))
    lines.append("")
    ps = summary["psd"]
    lines += _psd_lines(ps)
    if "error" not in ps:
        lines.append(f"  RMS slope {_g(ps['slope_rms_urad'])} urad ({ps['slope_method']})")
    return "\n".join(lines)


__all__ = ["summarize_map", "summarize_profile", "render_summary", "decade_bands",
           "ANALYZE_SCHEMA_ID"]
