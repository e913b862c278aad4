"""``metrology analyze FILE --html out.html``: the quick look at one file, no spec.

One self-contained HTML file (figures as base64 PNGs, no script, nothing
loaded from elsewhere). A map: the map as stored and the residual after the
Zernike fit, the Zernike bars, the radial PSD with the decade bands, the
tables of :func:`metrology.pipeline.summarize_map`. A profile: the trace, its
profile PSD with the decade bands, the ISO 21920-2 height parameters. The
figures redraw the same computations as the summary (same functions, same
settings), and every number printed comes from the summary.
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np

from ..heightmap import HeightMap
from ..plotting import (
    figure_png,
    plot_heightmap,
    plot_profile,
    plot_profile_psd,
    plot_radial_psd,
    plot_zernike,
    require_matplotlib,
)
from ..profile import Profile

__all__ = ["analyze_html"]

_CSS = ("body{font-family:sans-serif;max-width:72em;margin:1em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;"
        "padding:2px 8px;text-align:right}th{background:#f4f4f4}td.l,th.l{text-align:left}"
        "figure{margin:1em 0}figcaption{font-size:smaller;color:#444;max-width:60em}"
        ".meta{color:#555;font-size:smaller}")
DPI = 80


def _g(x: Any, fmt: str = ".4g") -> str:
    return "\u2014" if x is None else format(x, fmt)


def _figure(fig: Any, caption: str) -> str:
    e = html.escape
    return (f'<figure><img alt="{e(caption[:80])}" src="data:image/png;base64,'
            f'{figure_png(fig, DPI)}"><figcaption>{e(caption)}</figcaption></figure>')


def _shade_bands(ax: Any, bands: list[dict[str, Any]]) -> None:
    x0, x1 = ax.get_xlim()
    for k, b in enumerate(bands):
        lo, hi = max(b["f_lo_per_mm"], x0), min(b["f_hi_per_mm"], x1)
        if hi <= lo:
            continue
        if k % 2 == 0:
            ax.axvspan(lo, hi, color="C1", alpha=0.10, lw=0)
        u = b.get("U_nm")
        label = ("not measurable" if b["rms_nm"] is None or b["coverage"] == "none"
                 else f"{b['rms_nm']:.3g}" + (f" \u00b1 {u:.2g}" if u is not None else "")
                 + " nm" + (" (part)" if b["coverage"] == "partial" else ""))
        ax.text(math.sqrt(lo * hi), 0.97, label, transform=ax.get_xaxis_transform(),
                ha="center", va="top", fontsize=6)


def _band_table(ps: dict[str, Any]) -> str:
    """The decade bands; with the U column (k = 2) and its model when the analysis has
    them (maps)."""
    if "error" in ps:
        return f"<p>PSD not possible: {html.escape(ps['error'])}</p>"
    has_u = "uncertainty_model" in ps
    rows = []
    for b in ps["bands"]:
        cov = b["coverage"]
        if cov == "partial":
            cov = (f"partial: only {b['covered_lo_per_mm']:.4g}-{b['covered_hi_per_mm']:.4g} "
                   "/mm")
        elif cov == "none":
            cov = "none (not measurable)"
        rows.append(f"<tr><td>{b['f_lo_per_mm']:g} - {b['f_hi_per_mm']:g}</td>"
                    f"<td>{b['period_max_mm']:.4g} - {b['period_min_mm']:.4g}</td>"
                    f"<td>{_g(b['rms_nm'])}</td>"
                    + (f"<td>{_g(b.get('U_nm'), '.2g')}</td>" if has_u else "")
                    + f"<td class='l'>{html.escape(cov)}</td></tr>")
    legend = ""
    if has_u:
        legend = (f"<p class='meta'>U: expanded uncertainty, k = 2; "
                  f"{html.escape(str(ps['uncertainty_model']))}. Noise floor: "
                  f"{html.escape(str(ps.get('noise_floor', 'unknown')))}.</p>")
    return ("<table><tr><th>band [cycles/mm]</th><th>periods [mm]</th><th>RMS [nm]</th>"
            + ("<th>U [nm] (k = 2)</th>" if has_u else "")
            + "<th class='l'>coverage</th></tr>" + "".join(rows) + "</table>"
            f"<p class='meta'>{html.escape(ps['kind'])}; window {html.escape(ps['window'])}; "
            f"removed {html.escape(', '.join(ps['removed']))}; resolved "
            f"{ps['f_min_per_mm']:.4g} to {ps['f_max_per_mm']:.4g} cycles/mm (2/L to "
            f"Nyquist); total RMS {_g(ps['total_rms_nm'])} nm.</p>" + legend)


def _stats_table(rows: list[tuple[str, str]]) -> str:
    e = html.escape
    return "<table>" + "".join(f"<tr><th class='l'>{e(k)}</th><td class='l'>{e(v)}</td></tr>"
                               for k, v in rows) + "</table>"


def _page(summary: dict[str, Any], body: list[str]) -> str:
    e = html.escape
    name = summary.get("file") or "(map)"
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>metrology analyze: {e(str(name))}</title>", f"<style>{_CSS}</style>",
        "</head><body>", f"<h1>metrology analyze: <code>{e(str(name))}</code></h1>",
        f"<p class='meta'>metrology {e(summary['tool']['version'])}, "
        f"{e(summary['schema'])}; no spec: no verdict. Heights in nm, x and y in mm, y up "
        "(seen from the front of the part), spatial frequency in cycles/mm.</p>",
        *body, "</body></html>", ""])


def _map_body(hm: HeightMap, summary: dict[str, Any], terms: int, scheme: str) -> list[str]:
    from matplotlib.figure import Figure

    from ..errors import MetrologyError
    from ..spectral import psd
    from ..zernike import fit_zernike

    st = summary["stats"]
    body = [_stats_table([
        ("format", str(summary.get("format") or "?")
         + (f", instrument {summary['instrument']}" if summary.get("instrument") else "")),
        ("shape", f"{st['shape'][0]} rows x {st['shape'][1]} cols; extent "
                  f"{st['extent_mm'][0]:.4g} x {st['extent_mm'][1]:.4g} mm"),
        ("spacing", f"dx = {st['dx_mm']:.6g} mm, dy = {st['dy_mm']:.6g} mm"),
        ("valid", f"{st['valid_fraction']:.2%} ({st['n_valid']} px)"),
        ("RMS / PV", f"{_g(st['rms_nm'])} nm / {_g(st['pv_nm'])} nm (as stored, nothing "
                     "removed)")])]
    z = summary["zernike"]
    fit = None
    why = z.get("error", "")
    ortho = z.get("basis_kind") == "orthonormal"
    if not why:
        try:   # the summary's basis: orthonormalised where the circle coefficients mean nothing
            fit = fit_zernike(hm, terms, scheme=scheme, normalisation="rms",
                              basis="orthonormal" if ortho else "circle")
        except MetrologyError as exc:  # pragma: no cover - the summary's fit succeeded
            fit, why = None, str(exc)
    panels = [(hm, "as stored", False)]
    if fit is not None:
        panels.append((fit.residual, f"residual after the {len(fit.indices)}-term fit", True))
    fig = Figure(figsize=(4.3 * len(panels), 3.6), layout="constrained")
    for k, (m, title, sym) in enumerate(panels):
        plot_heightmap(m, fig.add_subplot(1, len(panels), k + 1), symmetric=sym,
                       title=f"{title}\nRMS {m.rms_nm:.4g} nm, PV {m.pv_nm:.4g} nm"
                       if m.n_valid else title)
    body += ["<h2>Map</h2>", _figure(fig, "Heights in nm, x and y in mm, y up (origin lower "
             "left as seen from the front of the part); colour scale at the 0.5 / 99.5 "
             "percentiles. Right: the map minus the Zernike fit below (nothing removed "
             "before the fit).")]
    body.append("<h2>Zernike fit</h2>")
    if fit is None:
        body.append(f"<p>Zernike fit not possible: {html.escape(why)}</p>")
    else:
        fig = Figure(figsize=(max(5.0, 0.2 * len(fit.indices) + 1.8), 3.8),
                     layout="constrained")
        plot_zernike(fit, fig.add_subplot(), exclude=("piston", "tilt"))
        if ortho:
            cb = z.get("circle_basis") or {}
            what = (f"Orthonormalised modes in nm ({html.escape(z['basis'])}), from the "
                    f"{z['scheme']} terms: the circle polynomials' coefficients are not "
                    f"meaningful on this aperture (basis condition number "
                    f"{_g(cb.get('condition_number'), '.3g')}, pixels cover "
                    f"{_g(cb.get('aperture_fill'), '.0%')} of the unit disk"
                    + (f": {'; '.join(cb['flags'])}" if cb.get("flags") else
                       f"; {cb['refused']}" if cb.get("refused") else "") + ")")
        else:
            what = (f"Coefficients in nm, {z['scheme']} indices, {z['normalisation']} "
                    "normalisation (coefficient = RMS of the term over the disk), basis "
                    f"condition number {_g(z.get('condition_number'), '.3g')}")
        body.append(_figure(fig, (
            f"{what}; R_norm = {z['r_norm_mm']:.6g} mm about ({z['centre_mm'][0]:.4g}, "
            f"{z['centre_mm'][1]:.4g}) mm, circumscribing the valid pixels about the centre "
            "fitted to their outer edge (no nominal aperture given); joint least-squares fit "
            f"of {len(z['terms'])} terms over {z['n_pixels']} px, residual RMS "
            f"{_g(z['residual_rms_nm'], '.5g')} nm. Piston and tilt (alignment) are fitted "
            "but not drawn; the table below lists every term.")))
        rows = "".join(f"<tr><td>{t['index']}</td><td>{t['n']}</td><td>{t['m']}</td>"
                       f"<td>{_g(t['coefficient_nm'], '.5f')}</td>"
                       f"<td class='l'>{html.escape(t['name'])}</td></tr>" for t in z["terms"])
        body.append("<table><tr><th>Z</th><th>n</th><th>m</th><th>coef [nm]</th>"
                    f"<th class='l'>{'mode from' if ortho else 'name'}</th></tr>{rows}</table>")
    body.append("<h2>PSD and decade bands</h2>")
    ps = summary["psd"]
    if "error" not in ps:
        p = psd(hm)
        fig = Figure(figsize=(6.2, 3.8), layout="constrained")
        radial = p.radial(bins="log")
        ax = plot_radial_psd(radial, fig.add_subplot(), label="radial PSD (log bins)")
        f = np.asarray(radial.f_per_mm)
        pos = f[f > 0]
        if pos.size:
            ax.set_xlim(float(pos.min()) / 1.3, float(pos.max()) * 1.3)
        x0, x1 = ax.get_xlim()
        if ps["f_min_per_mm"] > x0:
            ax.axvspan(x0, ps["f_min_per_mm"], color="0.88", lw=0, label="not resolved")
        _shade_bands(ax, ps["bands"])
        ax.legend(fontsize=7, loc="lower left")
        body.append(_figure(fig, (
            "Radial PSD (annulus sum / annulus width, nm\u00b2 mm; integrates to the variance) "
            f"of the map with {', '.join(ps['removed'])} removed, window {ps['window']}. "
            "Shaded: whole decades of spatial frequency, labelled with their areal band RMS"
            + (" \u00b1 U (k = 2)" if any(b.get("U_nm") is not None for b in ps["bands"])
               else "")
            + " (2-D periodogram cells summed, not the binned curve); grey: below 2/L.")))
    body.append(_band_table(ps))
    return body


def _profile_body(prof: Profile, summary: dict[str, Any]) -> list[str]:
    from matplotlib.figure import Figure

    from ..pipeline import PSD_WINDOW

    st = summary["stats"]
    body = [_stats_table([
        ("format", str(summary.get("format") or "?")
         + (f", instrument {summary['instrument']}" if summary.get("instrument") else "")),
        ("profile", f"{st['points']} points along x, {st['length_mm']:.6g} mm"),
        ("spacing", f"dx = {st['dx_mm']:.6g} mm"),
        ("valid", f"{st['valid_fraction']:.2%} ({st['n_valid']} points)"),
        ("RMS / PV", f"{_g(st['rms_nm'])} nm / {_g(st['pv_nm'])} nm (as stored, nothing "
                     "removed)")])]
    fig = Figure(figsize=(7.0, 3.0), layout="constrained")
    plot_profile(prof, fig.add_subplot())
    body += ["<h2>Profile</h2>", _figure(fig, "Height in nm against x in mm, as stored.")]
    r = summary["roughness"]
    if "error" in r:
        body.append(f"<p>Height parameters not possible: {html.escape(r['error'])}</p>")
    else:
        body.append("<table><tr>" + "".join(f"<th>P{k[1]} [nm]</th>" for k in
                                            ("ra", "rq", "rz", "rp", "rv", "rt")) + "</tr><tr>"
                    + "".join(f"<td>{_g(r[f'{k}_nm'])}</td>" for k in
                              ("ra", "rq", "rz", "rp", "rv", "rt")) + "</tr></table>"
                    f"<p class='meta'>ISO 21920-2 height parameters of the "
                    f"{html.escape(str(r['profile']))}; reference "
                    f"{html.escape(str(r['reference_line']))}; evaluation length "
                    f"{r['evaluation_length_mm']:.6g} mm in {r['sections']} sections.</p>")
    ps = summary["psd"]
    body.append("<h2>Profile PSD and decade bands</h2>")
    if "error" not in ps:
        p = prof.psd(PSD_WINDOW, "line", one_sided=True)
        fig = Figure(figsize=(6.2, 3.8), layout="constrained")
        ax = plot_profile_psd(p, fig.add_subplot())
        _shade_bands(ax, ps["bands"])
        body.append(_figure(fig, (
            f"One-sided profile PSD (nm\u00b2 mm) with the least-squares line removed, window "
            f"{ps['window']}; shaded: whole decades labelled with their band RMS; grey: "
            f"outside 2/L to Nyquist. RMS slope {_g(ps['slope_rms_urad'])} \u00b5rad.")))
    body.append(_band_table(ps))
    return body


def analyze_html(data: HeightMap | Profile, summary: dict[str, Any], *, terms: int = 37,
                 scheme: str = "fringe") -> str:
    """The quick-look HTML page of one file.

    Parameters
    ----------
    data : HeightMap or Profile
        The file as read.
    summary : dict
        :func:`metrology.pipeline.summarize_map` (with the same ``terms`` and
        ``scheme``) or :func:`~metrology.pipeline.summarize_profile` of ``data``.

    Returns
    -------
    str
        One self-contained HTML document.

    Raises
    ------
    MetrologyError
        matplotlib is not installed (naming the extra to install).
    """
    require_matplotlib("the HTML quick look")
    import matplotlib

    with matplotlib.rc_context({"font.size": 8, "axes.titlesize": 8}):
        if isinstance(data, Profile):
            body = _profile_body(data, summary)
        else:
            body = _map_body(data, summary, terms, scheme)
    return _page(summary, body)
