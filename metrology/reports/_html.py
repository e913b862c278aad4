"""The HTML report: one self-contained file, figures as embedded PNGs (matplotlib, Agg)."""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import numpy as np

from .._version import install_hint
from ..check import CheckReport, PartResult, file_status
from ..criteria._band import BandEvidence
from ..criteria._zernike import ZernikeEvidence
from ..criteria.psd_limit import PsdLimitEvidence
from ..errors import MetrologyError
from ..pipeline import FileAnalysis, FitRecord
from ..plotting import (
    MAX_DISPLAY_PX,  # maps larger than this are shown as block means
    display_grid,
)
from ..plotting import colour_limits as _clim
from ..plotting import figure_png as _png
from ..plotting import log_axes as _log_axes
from ..verdicts import Verdict
from . import _fullband
from ._common import (
    BOUND_UNICODE,
    EXIT_CODE_MEANING,
    assigned_text,
    decision_lines,
    display_labels,
    exit_code_of,
    fmt_coord,
    fmt_display,
    fmt_margin,
    fmt_u,
    fmt_value_limit,
    note,
    site_of,
    source_text,
    unit_text,
)

PASS, FAIL = Verdict.PASS, Verdict.FAIL
NOT_MEASURABLE, NOT_CHECKED = Verdict.NOT_MEASURABLE, Verdict.NOT_CHECKED

#: resolution of the embedded figures (dots per inch)
DPI = 80

_COLOURS = {PASS: "#2e7d32", FAIL: "#c62828", NOT_MEASURABLE: "#ef8f00",
            NOT_CHECKED: "#9e9e9e", None: "#78909c"}


def _matplotlib() -> tuple[Any, Any]:
    """``(Figure, Circle)`` from matplotlib, or a clear error when it is not installed."""
    try:
        from matplotlib.figure import Figure
        from matplotlib.patches import Circle
    except ImportError as exc:
        raise MetrologyError(
            "the HTML report draws its figures with matplotlib, which is not installed; "
            f"install it with: {install_hint('plot')}") from exc
    return Figure, Circle


def require_matplotlib() -> None:
    """Raise :class:`MetrologyError` now if the HTML report could not be drawn."""
    _matplotlib()


def _map_figure(fa: FileAnalysis) -> tuple[str, str] | None:
    Figure, Circle = _matplotlib()
    first = fa.preprocessed if fa.preprocessed is not None else fa.hm
    if first is None:
        return None
    panels = [(first, ("height after removing " + ", ".join(fa.removed)) if
               fa.preprocessed is not None and fa.removed else "height as measured", False)]
    if fa.residual is not None and fa.residual is not fa.preprocessed:
        panels.append((fa.residual, "residual after the joint Zernike fit", True))
    fig = Figure(figsize=(3.9 * len(panels), 3.3))
    step_used = 1
    for k, (hm, title, sym) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), k + 1)
        z, step, ext = display_grid(hm)
        step_used = max(step_used, step)
        lo, hi = _clim(z, sym)
        im = ax.imshow(z, origin="lower", extent=ext, cmap="RdBu_r" if sym else "viridis",
                       vmin=lo, vmax=hi, interpolation="nearest")
        if fa.aperture:
            cx, cy = fa.aperture["centre_mm"]
            ax.add_patch(Circle((cx, cy), fa.aperture["diameter_mm"] / 2, fill=False, lw=0.8,
                                ls="--", color="k"))
        ax.set_xlabel("x [mm]")
        ax.set_ylabel("y [mm]")
        ax.set_title(title, fontsize=8)
        cb = fig.colorbar(im, ax=ax, shrink=0.85)
        cb.set_label("height [nm]")
    fig.subplots_adjust(left=0.09 if len(panels) > 1 else 0.16, right=0.95, bottom=0.14,
                        top=0.9, wspace=0.35)
    cap = ("Heights in nm, x and y in mm, y up (origin lower left as seen from the front of "
           "the part). Colour scale clipped at the 0.5 / 99.5 percentiles.")
    if fa.aperture:
        cap += " Dashed circle: clear aperture."
    if step_used > 1:
        cap += (f" Shown as {step_used} x {step_used} pixel block means (the analysis used "
                "every pixel).")
    return _png(fig), cap


def _site_evidence(part: PartResult, fa: FileAnalysis, kind: type) -> list[tuple[Any, Any]]:
    """(criterion result, site) of this file whose evidence is of ``kind``, in spec order."""
    out = []
    for c in part.criteria:
        if c.measurement != fa.measurement:
            continue
        s = site_of(c, fa.path)
        if s is not None and isinstance(s.evidence, kind):
            out.append((c, s))
    return out


def _zernike_limits(part: PartResult, fa: FileAnalysis, fit_index: int
                    ) -> dict[tuple[int, ...], tuple[float, float, str, str]]:
    """indices of a group -> (limit nm, value nm, verdict, normalisation) for the criteria
    whose evidence says they read fit ``fit_index`` of this file."""
    out: dict[tuple[int, ...], tuple[float, float, str, str]] = {}
    for c, s in _site_evidence(part, fa, ZernikeEvidence):
        ev = s.evidence
        if ev.fit != fit_index:
            continue
        if ev.groups:
            for g, mag, within in ev.groups:
                out.setdefault(tuple(g), (c.limit, mag, PASS if within else FAIL,
                                          ev.normalisation))
        elif ev.terms:
            out[tuple(ev.terms)] = (c.limit, s.value, s.verdict, ev.normalisation)
    return out


def _zernike_figure(part: PartResult, fa: FileAnalysis, rec: FitRecord) -> tuple[str, str]:
    Figure, _ = _matplotlib()
    fit = rec.fit
    assert fit is not None
    limits = _zernike_limits(part, fa, fa.fit_index(rec))
    by_first = {g[0]: g for g in limits}
    labels, mags, lims, cols = [], [], [], []
    norms = {rec.normalisation}
    for n, _am, idx, mag in rec.groups():
        lim = limits.get(by_first.get(idx[0], ()))
        if n <= 1 and lim is None:
            continue                       # piston and tilt: removed, not toleranced
        use = by_first.get(idx[0], idx) if lim else idx
        labels.append("Z" + "/".join(str(j) for j in use))
        if lim is None:
            mags.append(mag)
            lims.append(math.nan)
            cols.append(_COLOURS[None])
        else:
            mags.append(lim[1] if lim[1] is not None else math.nan)
            lims.append(lim[0])
            cols.append(_COLOURS.get(lim[2], _COLOURS[None]))
            norms.add(lim[3])
    fig = Figure(figsize=(max(4.0, 0.28 * len(labels) + 1.5), 3.2))
    ax = fig.add_subplot()
    x = np.arange(len(labels))
    ax.bar(x, mags, color=cols, width=0.75)
    has_lim = [k for k, v in enumerate(lims) if math.isfinite(v)]
    if has_lim:
        ax.hlines([lims[k] for k in has_lim], x[has_lim] - 0.45, x[has_lim] + 0.45, colors="k",
                  lw=1.5, label="limit")
        ax.legend(fontsize=7, loc="upper right")
    ax.set_xticks(x)
    ax.set_xticklabels(labels, rotation=90, fontsize=7)
    norm_txt = "/".join(sorted(norms))
    ax.set_ylabel(f"|c| [nm, {norm_txt}]")
    ax.set_title(f"Zernike {fit.scheme}, {norm_txt} normalisation, "
                 f"R_norm {fit.r_norm_mm:g} mm, cond {fit.condition_number:.3g}", fontsize=8)
    fig.tight_layout()
    mixed = (f" Toleranced terms are shown in their criterion's normalisation, the others in "
             f"the fit's ({rec.normalisation})." if len(norms) > 1 else "")
    cap = (f"Magnitude of each term or cos/sin pair (sqrt(c_cos\u00b2 + c_sin\u00b2)), nm, "
           f"{fit.scheme} indices, {norm_txt} normalisation, R_norm = "
           f"{fit.r_norm_mm:g} mm about ({fmt_coord(fit.centre_mm[0])}, "
           f"{fmt_coord(fit.centre_mm[1])}) mm; "
           f"joint least-squares fit of {len(fit.indices)} terms, residual RMS "
           f"{fit.residual_rms_nm:.4g} nm, basis condition number "
           f"{fit.condition_number:.3g}, pixels covering {fit.aperture_fill:.0%} of the unit "
           "disk" + ("; NOT MEANINGFUL: " + "; ".join(fit.flags) if fit.flags else "")
           + ". Black bars: limits; green within, red outside, "
           "grey not toleranced on its own. Piston and tilt are not shown." + mixed)
    return _png(fig), cap


def _psd_figure(part: PartResult, fa: FileAnalysis) -> tuple[str, str] | None:
    """The PSD that was judged (the PSD-limit criterion's evidence), or, without one,
    the file's one-sided profile PSD; the bands of the file's band criteria shaded."""
    Figure, _ = _matplotlib()
    spectrum = fa.spectrum
    judged = _site_evidence(part, fa, PsdLimitEvidence)
    ev: PsdLimitEvidence | None = judged[0][1].evidence if judged else None
    noise_v = None
    if ev is not None and ev.curve_f_per_mm is not None:
        f, v = np.asarray(ev.curve_f_per_mm), np.asarray(ev.curve_nm2_mm)
        kind, side, axis = ev.psd_kind, ev.sidedness, ev.axis
        f_lo_res, f_hi_res = ev.f_resolved_per_mm
        window = ev.window
        if ev.noise_curve_nm2_mm is not None:
            noise_v = np.asarray(ev.noise_curve_nm2_mm)
    elif spectrum is not None and spectrum.profile is not None:
        prof = spectrum.profile
        f, v = np.asarray(prof.f_per_mm), np.asarray(prof.values)
        kind, side, axis = "profile", prof.sidedness, prof.axis
        f_lo_res, f_hi_res = prof.f_min_per_mm, prof.f_max_per_mm
        window = prof.window
        if spectrum.noise_profile is not None:
            noise_v = np.asarray(spectrum.noise_profile.values)
    else:
        return None
    if noise_v is not None and noise_v.shape != v.shape:
        noise_v = None
    what = (f"{side} profile PSD along {axis}" if kind == "profile" else
            f"{side} radial PSD (annulus sums / width) in log bins")
    sel = (f > 0) & (v > 0) & np.isfinite(v)
    fig = Figure(figsize=(5.6, 3.6))
    ax = fig.add_subplot()
    ax.loglog(f[sel], v[sel], lw=0.8, color="C0", marker="." if kind == "radial" else None,
              label=f"measured, {what}")
    n_rep = spectrum.noise.n_repeats if spectrum is not None and spectrum.noise else 0
    if noise_v is not None:
        nsel = sel & (noise_v > 0) & np.isfinite(noise_v)
        ax.loglog(f[nsel], noise_v[nsel], lw=0.8, color="0.45",
                  marker="." if kind == "radial" else None,
                  label=f"noise of the average of {n_rep} repeats (from their differences)")
    if sel.any():
        x0, x1 = float(f[sel].min()) / 1.3, float(f[sel].max()) * 1.3
    else:
        x0, x1 = f_lo_res / 2, f_hi_res * 2
    ax.set_xlim(x0, x1)
    ax.axvspan(x0, f_lo_res, color="0.88", lw=0, label="not resolved")
    if f_hi_res < x1:
        ax.axvspan(f_hi_res, x1, color="0.88", lw=0)
    shown: set[str] = set()
    for _, s in _site_evidence(part, fa, BandEvidence):
        b = s.evidence
        if b.band in shown:
            continue
        lo, hi = max(b.f_lo_per_mm, x0), min(b.f_hi_per_mm, x1)
        if hi <= lo:
            continue
        ax.axvspan(lo, hi, color="C1", alpha=0.15, lw=0,
                   label=None if shown else "bands of this measurement")
        shown.add(b.band)
        ax.text(math.sqrt(lo * hi), 0.97, b.band, transform=ax.get_xaxis_transform(),
                ha="center", va="top", fontsize=7)
    cap_extra = ""
    if ev is not None:
        first = True
        for seg in ev.segments:
            lo, hi = max(seg["f_lo_per_mm"], x0), min(seg["f_hi_per_mm"], x1)
            if hi <= lo:
                continue
            ff = np.geomspace(lo, hi, 40)
            line = seg["a_nm2_mm"] * ff ** (-seg["b"])
            ax.loglog(ff, line, color="k", lw=1.4, label="limit line, judged range"
                      if first else None)
            ax.loglog(ff, ev.factor_max * line, color="C3", lw=1.0, ls="--",
                      label=f"{ev.factor_max:g} x line (pass level)" if first else None)
            first = False
        worst_bin = max(ev.bins, key=lambda b: b[2]) if ev.bins else None
        cap_extra = (f" Judged against the spec's line ({what}) in {ev.bins_per_decade} log "
                     f"bins per decade, a bin passes at <= {ev.factor_max:g} x the line"
                     + (f"; largest ratio {worst_bin[2]:.3g} in {worst_bin[0]:.4g}-"
                        f"{worst_bin[1]:.4g} /mm." if worst_bin else "."))
    ax.set_xlabel("spatial frequency [cycles/mm]")
    ax.set_ylabel("PSD [nm\u00b2 mm]")
    ax.set_title(what, fontsize=8)
    ax.legend(fontsize=6, loc="lower left")
    _log_axes(ax)
    fig.subplots_adjust(left=0.14, right=0.97, bottom=0.13, top=0.92)
    filled = spectrum.filled_pixels if spectrum is not None else 0
    cap = (f"{what[0].upper()}{what[1:]} of the form residual, nm\u00b2\u00b7mm, window: "
           f"{window}. Grey: outside the range this file resolves ({f_lo_res:.4g} to "
           f"{f_hi_res:.4g} cycles/mm)."
           + (f" {filled} dropout pixels inside the aperture were interpolated before the "
              "PSD." if filled else "")
           + (f" Grey curve beneath: the noise PSD of the average of the {n_rep} repeats "
              "(half the periodogram of their pairwise differences, divided by N), the same "
              "kind of PSD." if noise_v is not None else "")
           + cap_extra)
    return _png(fig), cap


def _band_figure(part: PartResult, fa: FileAnalysis) -> tuple[str, str] | None:
    crits = [c for c in part.criteria if c.measurement == fa.measurement
             and c.type in ("band_rms", "band_slope")]
    if not crits:
        return None
    Figure, _ = _matplotlib()
    kinds = [k for k in ("band_rms", "band_slope") if any(c.type == k for c in crits)]
    fig = Figure(figsize=(2.2 + 1.1 * len(crits), 3.0))
    missing = []
    for i, kind in enumerate(kinds):
        ax = fig.add_subplot(1, len(kinds), i + 1)
        cs = [c for c in crits if c.type == kind]
        x = np.arange(len(cs))
        names = []
        for k, c in enumerate(cs):
            s = site_of(c, fa.path)
            ev = s.evidence if s is not None else None
            names.append(ev.band if isinstance(ev, BandEvidence) else
                         c.convention.get("band", c.id))
            if s is None or s.value is None:
                ax.text(k, 0.02, "not\nmeasurable", ha="center", va="bottom", fontsize=6,
                        color=_COLOURS[NOT_MEASURABLE], transform=ax.get_xaxis_transform())
                missing.append(f"{c.id}: {s.reason if s is not None else c.reason}")
            else:
                ax.bar(k, s.value, color=_COLOURS.get(s.verdict, _COLOURS[None]), width=0.6)
                if s.U is not None and math.isfinite(s.U):
                    ax.errorbar(k, s.value, yerr=s.U, color="k", lw=0.8, capsize=3)
                noise = s.uncertainty.noise if s.uncertainty is not None else None
                if noise is not None:
                    ax.hlines(noise, k - 0.3, k + 0.3, colors="0.45", lw=1.0, ls=":")
            ax.hlines(c.limit, k - 0.4, k + 0.4, colors="k", lw=1.5)
        ax.set_xticks(x)
        ax.set_xticklabels(names, fontsize=7)
        ax.set_xlim(-0.6, len(cs) - 0.4)
        ax.set_ylabel("RMS height [nm]" if kind == "band_rms" else "RMS slope [\u00b5rad]")
        ax.set_title("band RMS" if kind == "band_rms" else "band slope", fontsize=8)
    fig.tight_layout()
    cap = ("This file's band values (bars) with their U (k = 2, error bars) against the "
           "limits (black); dotted grey: the noise floor where repeats give it.")
    if missing:
        cap += " Not measurable: " + "; ".join(missing) + "."
    return _png(fig), cap


def _fig_html(fig: tuple[str, str] | None) -> str:
    if fig is None:
        return ""
    b64, cap = fig
    return (f'<figure><img alt="{html.escape(cap[:80])}" src="data:image/png;base64,{b64}">'
            f"<figcaption>{html.escape(cap)}</figcaption></figure>")


def _criteria_table(p: PartResult, models: dict[str, int],
                    display: list[tuple[str, str]]) -> str:
    rows = []
    e = html.escape
    for c in p.criteria:
        val, lim, sig = fmt_value_limit(c.value, c.limit, c.unit)
        disp = "".join(f'<td class="n">{e(fmt_display(c, u))}</td>' for u, _ in display)
        rows.append(
            f'<tr class="{e(c.verdict)}"><td><code>{e(c.id)}</code>'
            f"<br><small>{e(c.description)}</small></td>"
            f'<td class="v">{e(c.verdict)}</td><td class="n">{e(val)}</td>'
            f"<td>{e(BOUND_UNICODE.get(c.bound, c.bound))} {e(lim)}</td>"
            f'<td class="n">{e(fmt_margin(c.margin, sig))}</td>'
            f'<td>{e(unit_text(c.unit))}</td><td class="n">{e(fmt_u(c, models))}</td>{disp}'
            f"<td>{e(note(c))}</td></tr>")
    dh = "".join(f"<th>{e(lab)}<br>(value/limit)</th>" for _, lab in display)
    head = ("<tr><th>criterion</th><th>verdict</th><th>value</th><th>limit</th>"
            f"<th>margin</th><th>unit</th><th>U (k=2)</th>{dh}<th>note</th></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:1.5em;
color:#222;max-width:1200px}
h1{font-size:1.5em}h2{font-size:1.25em;border-bottom:1px solid #ccc;margin-top:1.6em}
h3{font-size:1.05em;margin-top:1.4em}
table{border-collapse:collapse;font-size:0.85em;margin:0.6em 0}
td,th{border:1px solid #ddd;padding:3px 6px;vertical-align:top;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.pass td.v{color:#2e7d32}tr.fail td.v{color:#c62828;font-weight:bold}
tr.not-measurable td.v{color:#b26a00;font-weight:bold}tr.not-checked td{color:#888}
.verdict{padding:2px 8px;border-radius:3px;color:#fff;font-weight:bold}
.verdict.pass{background:#2e7d32}.verdict.fail{background:#c62828}
.verdict.not-measurable{background:#ef8f00}.verdict.not-checked{background:#757575}
figure{display:inline-block;margin:0.4em 1em 0.8em 0;vertical-align:top;max-width:100%}
figure img{max-width:100%}
figcaption{font-size:0.75em;color:#555;max-width:620px}
.meta{font-size:0.85em;color:#444}
"""


def _svg_histogram(values: list[float], limit: float, bins: int = 12) -> str:
    """A small inline SVG histogram of ``values`` with the limit as a red line."""
    vals = [v for v in values if math.isfinite(v)]
    if not vals:
        return ""
    lo, hi = min(vals + [limit]), max(vals + [limit])
    if not hi > lo:
        lo, hi = lo - 0.5 * (abs(lo) or 1.0), hi + 0.5 * (abs(hi) or 1.0)
    w, h = 120, 26
    counts = [0] * bins
    for v in vals:
        counts[min(bins - 1, int((v - lo) / (hi - lo) * bins))] += 1
    top = max(counts) or 1
    bw = w / bins
    bars = "".join(f'<rect x="{k * bw:.1f}" y="{h - n / top * h:.1f}" width="{bw - 1:.1f}" '
                   f'height="{n / top * h:.1f}" fill="#78909c"/>' for k, n in enumerate(counts))
    xl = (limit - lo) / (hi - lo) * w
    return (f'<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" '
            f'aria-label="distribution of the values; red: limit">{bars}'
            f'<line x1="{xl:.1f}" x2="{xl:.1f}" y1="0" y2="{h}" stroke="#c62828" '
            f'stroke-width="1.5"/></svg>')


def _yield_html(report: CheckReport) -> str:
    from ._common import fmt_num
    from ._yield import part_anchor, quantiles, worst_parts, yield_table

    e = html.escape
    rows = []
    for r in yield_table(report):
        q = quantiles(r.values)
        qs = [fmt_num(x) for x in q] if q else ["\u2014"] * 4
        y = r.yield_fraction
        worst = ", ".join(f'<a href="#{part_anchor(i, name)}">{e(name)}</a> ({fmt_num(v)})'
                          for i, name, v, _, _ in r.worst)
        rows.append(
            f"<tr><td><code>{e(r.id)}</code></td><td class=\"n\">{r.counts[PASS]}</td>"
            f"<td class=\"n\">{r.counts[FAIL]}</td><td class=\"n\">{r.counts[NOT_MEASURABLE]}"
            f"</td><td class=\"n\">{r.counts[NOT_CHECKED]}</td>"
            f"<td class=\"n\">{'' if y is None else f'{y:.0%}'}</td>"
            + "".join(f'<td class="n">{e(x)}</td>' for x in qs)
            + f"<td>{_svg_histogram(r.values, r.limit)}</td>"
            f"<td>{e(BOUND_UNICODE.get(r.bound, r.bound))} {e(fmt_num(r.limit))} "
            f"{e(unit_text(r.unit))}</td><td>{worst}</td></tr>")
    head = ("<tr><th>criterion</th><th>pass</th><th>fail</th><th>not measurable</th>"
            "<th>not checked</th><th>yield</th><th>min</th><th>median</th><th>90 %</th>"
            "<th>max</th><th>distribution</th><th>limit</th><th>worst parts</th></tr>")
    out = ["<h2>Yield</h2>",
           "<p>Per criterion, over the parts: each part's value is its worst site's, in the "
           "criterion's unit; yield = parts that pass / parts checked for the criterion. "
           "Histogram: the values, red line the limit.</p>",
           f"<table>{head}{''.join(rows)}</table>", "<h2>Parts, worst first</h2>"]
    prow = []
    for i, p in worst_parts(report, n=len(report.parts)):
        w = p.worst_criterion()
        prow.append(f'<tr class="{e(p.verdict)}"><td><a href="#{part_anchor(i, p.name)}">'
                    f"{e(p.name)}</a></td><td class=\"v\">{e(p.outcome)}</td>"
                    + (f"<td><code>{e(w.id)}</code></td><td class=\"n\">{e(fmt_num(w.value))}"
                       f"</td><td class=\"n\">{e(fmt_u(w))}</td>"
                       f"<td class=\"n\">{e(fmt_margin(w.margin))}</td>"
                       if w is not None else "<td></td><td></td><td></td><td></td>")
                    + f"<td>{e(p.errors[0].reason) if p.errors else ''}</td></tr>")
    out.append("<table><tr><th>part</th><th>outcome</th><th>deciding criterion</th>"
               "<th>value</th><th>U (k=2)</th><th>margin</th><th>error</th></tr>"
               f"{''.join(prow)}</table>")
    return "\n".join(out)


def to_html(report: CheckReport) -> str:
    """One self-contained HTML file: verdicts, criteria tables and figures per file.

    A batch (more than one part) opens with the yield table (per criterion:
    pass / fail / not measurable / not checked, the distribution of its value,
    the worst parts) and the parts worst first, each linked to its section.
    Per part: the criteria table; per file (its heading carries its verdict):
    the height map after preprocessing and the residual after the joint
    Zernike fit (``origin="lower"``, axes in mm, colour bar in nm; maps larger
    than :data:`MAX_DISPLAY_PX` are shown as block means), the Zernike bar
    chart with the limits, the PSD with the spec's limit line and the bands
    shaded, and band RMS bars against the limits. Figures are PNGs at
    :data:`DPI` dpi embedded as base64; nothing is loaded from elsewhere. A
    batch draws them where the arrays are (:func:`render_part_figures`) and
    hands the HTML over in ``PartResult.figures``.

    Raises
    ------
    MetrologyError
        matplotlib is not installed (``pip install "optical-metrology[plot]"``).
    """
    _matplotlib()
    import matplotlib

    from ._yield import part_anchor

    s = report.spec
    code = exit_code_of(report)
    v = report.verdict
    word = report.outcome
    e = html.escape
    nc = [c for p in report.parts for c in p.not_checked]
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>metrology check: {e(word.upper())} \u2014 {e(s.part.name)}</title>",
           f"<style>{_CSS}</style></head><body>",
           f'<h1>metrology check: <span class="verdict {e(v)}">{e(word.upper())}</span></h1>',
           f"<p>Exit code {code}: {e(EXIT_CODE_MEANING[code])}."
           + (f" <b>{len(nc)} criteria were not checked</b> (no file for measurement(s) "
              f"{e(', '.join(sorted({c.measurement for c in nc})))}): not a pass."
              if nc else "") + "</p>",
           '<p class="meta">'
           f"Spec <code>{e(s.source)}</code> (sha256 <code>{e(s.sha256)}</code>, "
           f"{e(s.schema)})<br>Part: {e(s.part.name)}"
           + (f", {e(s.part.material)}" if s.part.material else "")
           + (f", surface {e(s.part.surface_id)}" if s.part.surface_id else "")
           + (f", test wavelength {s.part.test_wavelength_nm:g} nm"
              if s.part.test_wavelength_nm else "")
           + (f"<br>{e(s.description)}" if s.description else "")
           + f"<br>metrology {e(report.tool_version)}, {e(report.created)}</p>"]
    for w in s.warnings:
        out.append(f'<p class="meta">Spec warning: {e(w)}</p>')
    out.append('<p class="meta">' + "<br>".join(
        e(x[0].upper() + x[1:]) for x in decision_lines(report)) + "</p>")
    from ..check import display_units_dict

    display = display_labels(report)
    for d in display_units_dict(s):
        if d["unit"] != "nm":
            out.append(f'<p class="meta">Display unit: {e(d["statement"])}.</p>')
    models: dict[str, int] = {}
    if len(report.parts) > 1:
        out.append(_yield_html(report))
    if report.ignored:
        out.append("<p>Ignored (not measurements of the spec): "
                   + "; ".join(f"<code>{e(i.path)}</code>: {e(i.reason)}"
                               for i in report.ignored) + "</p>")
    with matplotlib.rc_context({"font.size": 8, "axes.titlesize": 8}):
        for i, p in enumerate(report.parts):
            n = p.counts()
            out.append(f'<h2 id="{part_anchor(i, p.name)}">Part {e(p.name)}: '
                       f'<span class="verdict {e(p.verdict)}">'
                       f"{e(p.outcome.upper())}</span></h2>")
            out.append(f"<p>Scope: {e(p.scope)}. {n[PASS]} pass, {n[FAIL]} fail, "
                       f"{n[NOT_MEASURABLE]} not measurable, {n[NOT_CHECKED]} not checked."
                       + (f" <b>Missing measurement(s): "
                          f"{e(', '.join(p.measurements_missing))}</b>."
                          if p.part_check and p.measurements_missing else "") + "</p>")
            for err in p.errors:
                out.append(f"<p><b>Input error:</b> {e(err.reason)}</p>")
            if p.ignored:
                out.append("<p>Ignored files: " + "; ".join(
                    f"<code>{e(Path(ig.path).name)}</code>: {e(ig.reason)}"
                    for ig in p.ignored) + "</p>")
            out.append(_criteria_table(p, models, display))
            drawn = _has_arrays(p) or bool(p.figures)
            if _has_arrays(p):
                out.append(_fullband.html_section(p))   # composite PSD, scatter (if any)
            elif p.figures and FULLBAND_KEY in p.figures:
                out.append(p.figures[FULLBAND_KEY])
            if not drawn and p.figures_note and p.files:
                out.append(f'<p class="meta">{e(p.figures_note)}.</p>')
            for fa in p.files:
                out.append(_file_section(p, fa))
    if models:
        out.append('<p class="meta">U (k=2): expanded uncertainty (coverage factor k = 2) '
                   'of the value, in its unit. Models:</p><ol class="meta">'
                   + "".join(f"<li>{e(m)}</li>" for m in models) + "</ol>")
    out.append('<p class="meta">Verdicts: pass = within the limit; fail = outside it; '
               "not-measurable = the data cannot resolve the criterion (never a pass); "
               "not-checked = no file for that measurement was given, or --only left it "
               "out (never a pass). Units: heights nm, "
               "lengths mm, spatial frequency cycles/mm, slope \u00b5rad, 1-D PSD "
               "nm\u00b2\u00b7mm.</p>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


#: key of :attr:`PartResult.figures` under which a worker hands over the full-band section
FULLBAND_KEY = "<full-band section>"


def _has_arrays(p: PartResult) -> bool:
    """Whether the part still holds what its figures are drawn from (an in-process
    check), rather than figures drawn in a batch worker."""
    return p.figures is None and any(
        fa.hm is not None or getattr(fa, "profile_record", None) is not None
        for fa in p.files)


def _figures_of(p: PartResult, fa: FileAnalysis) -> list[str]:
    """The HTML of one file's figures, drawn from its arrays."""
    e = html.escape
    parts = [_fig_html(_map_figure(fa))]
    for rec in fa.fits:
        if rec.fit is None:
            parts.append(f"<p>Zernike fit not possible: {e(str(rec.error))}</p>")
        else:
            parts.append(_fig_html(_zernike_figure(p, fa, rec)))
    if fa.spectrum is not None and fa.spectrum.psd is None:
        parts.append(f"<p>PSD not possible: {e(str(fa.spectrum.error))}</p>")
    elif fa.spectrum is not None:
        parts.append(_fig_html(_psd_figure(p, fa)))
    parts.append(_fig_html(_band_figure(p, fa)))
    return [x for x in parts if x]


def render_part_figures(p: PartResult) -> dict[str, str]:
    """Each file's figures as HTML (path -> text), drawn now from the part's arrays;
    a batch worker calls this before it drops them (:meth:`PartResult.slim`)."""
    _matplotlib()
    import matplotlib

    out = {}
    with matplotlib.rc_context({"font.size": 8, "axes.titlesize": 8}):
        full = _fullband.html_section(p)
        if full:
            out[FULLBAND_KEY] = full
        for fa in p.files:
            if fa.hm is None:
                continue
            out[fa.path] = "\n".join(_figures_of(p, fa))
    return out


def _file_section(p: PartResult, fa: FileAnalysis) -> str:
    e = html.escape
    m = fa.meta
    fv = p.file_verdict(fa.path)
    if file_status(fa) == "unreadable":
        bits = [f"{e(assigned_text(fa.assigned_by))}"]
    elif fa.data_kind == "profile":
        bits = [f"{e(str(m.get('format', '?')))}, profile of {fa.shape[1]} points, "
                f"dx {fa.dx_mm:.4g} mm", f"{e(assigned_text(fa.assigned_by))}"]
    else:
        bits = [f"{e(str(m.get('format', '?')))}, {fa.shape[0]} x {fa.shape[1]} px, "
                f"dx {fa.dx_mm:.4g} mm, dy {fa.dy_mm:.4g} mm",
                f"{e(assigned_text(fa.assigned_by))}"]
    if m.get("instrument"):
        bits.append(f"instrument {e(str(m.get('instrument')))}")
    if fa.aperture:
        a = fa.aperture
        bits.append(f"clear aperture \u00d8{a['diameter_mm']:g} mm at "
                    f"({fmt_coord(a['centre_mm'][0])}, {fmt_coord(a['centre_mm'][1])}) mm, "
                    f"{fa.valid_fraction_in_aperture:.1%} valid inside")
    elif file_status(fa) != "unreadable":
        bits.append(f"{fa.valid_fraction:.1%} valid")
    if source_text(fa):
        bits.append(e(source_text(fa)))
    verdict = (f' <span class="verdict {e(fv)}">{e(fv.upper())}</span>' if fv is not None
               else "")
    parts = [f"<h3>{e(Path(fa.path).name)} \u2192 measurement {e(fa.measurement)}"
             f"{verdict}</h3>",
             f'<p class="meta">{e(fa.path)}<br>{"; ".join(bits)}</p>']
    if fa.blocked_reason:
        word = "Unreadable" if file_status(fa) == "unreadable" else "Not analysed"
        parts.append(f"<p><b>{word}:</b> {e(fa.blocked_reason)}</p>")
    if p.figures is None and (fa.hm is not None or fa.data_kind == "profile"):
        parts += _figures_of(p, fa)
    elif p.figures and fa.path in p.figures:
        parts.append(p.figures[fa.path])
    return "\n".join(x for x in parts if x)


__all__ = ["to_html", "require_matplotlib", "display_grid", "render_part_figures", "DPI",
           "MAX_DISPLAY_PX"]
