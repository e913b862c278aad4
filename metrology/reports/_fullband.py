"""The full-band part of the reports: composite PSDs, composite bands, scatter.

Everything here is read from the evidence of the criteria judged on a composite
PSD (:mod:`metrology.criteria._composite`): the composite itself (carried by
the evidence for the figures), which instrument served each band, the overlap
flags, the gaps, the scatter curves. Nothing is recomputed.

* :func:`composites_json`: the part's composites for the JSON report
  (frequencies, PSD, standard error, source per bin, the instruments' segments,
  overlaps, gaps) and the criteria judged on each;
* :func:`html_section`: per composite a log-log figure (each instrument's
  segment in its own colour with its standard-error band, the composite, the
  limit line and its pass level, the bands shaded and labelled with the
  instrument(s) that served them, the frequencies the scatter angles map to,
  flagged overlaps and gaps), the overlap list, the band table, the TIS table
  and the BRDF-versus-angle figures.
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np

from ..check import CriterionResult, PartResult
from ..criteria._composite import CompositeBandEvidence, CompositeEvidenceMixin
from ..verdicts import Verdict

__all__ = ["composite_results", "composites_json", "html_section"]

_VCOL = {Verdict.PASS: "#2e7d32", Verdict.FAIL: "#c62828", Verdict.NOT_MEASURABLE: "#ef8f00",
         Verdict.NOT_CHECKED: "#9e9e9e"}


def composite_results(part: PartResult) -> list[tuple[CriterionResult, Any]]:
    """(criterion result, evidence) of every criterion judged on a composite PSD."""
    out = []
    for c in part.criteria:
        ev = c.evidence if c.evidence is not None else (c.sites[0].evidence if c.sites
                                                       else None)
        if isinstance(ev, CompositeEvidenceMixin):
            out.append((c, ev))
    return out


def _composites(part: PartResult) -> dict[str, tuple[Any, list[tuple[CriterionResult, Any]]]]:
    """key -> (CompositePSD or None, its criteria)."""
    out: dict[str, tuple[Any, list]] = {}
    for c, ev in composite_results(part):
        psd, lst = out.get(ev.composite, (None, []))
        lst.append((c, ev))
        out[ev.composite] = (psd if psd is not None else ev.composite_psd, lst)
    return out


def composites_json(part: PartResult) -> dict[str, Any]:
    """The part's composite PSDs, JSON-ready: ``{key: {...CompositePSD.to_dict(), criteria,
    files, excluded}}`` (``psd`` None with ``error`` when none could be built)."""
    out: dict[str, Any] = {}
    for key, (psd, crits) in _composites(part).items():
        ev = crits[0][1]
        d: dict[str, Any] = psd.to_dict() if psd is not None else {
            "error": next((c.reason for c, _ in crits if c.reason), "no composite")}
        d["criteria"] = [c.id for c, _ in crits]
        d["files"] = list(ev.files)
        d["excluded"] = list(ev.excluded)
        out[key] = d
    return out


# ----------------------------------------------------------------------------- HTML

def _e(x: Any) -> str:
    return html.escape(str(x))


def _fmt(v: float | None, sig: int = 4) -> str:
    return "\u2014" if v is None or not math.isfinite(v) else f"{v:.{sig}g}"


def _psd_figure(key: str, c: Any, crits: list[tuple[CriterionResult, Any]]) -> tuple[str, str]:
    from ._html import _log_axes, _matplotlib, _png

    Figure, _ = _matplotlib()
    fig = Figure(figsize=(7.4, 4.6))
    ax = fig.add_subplot()
    f = np.asarray(c.frequency_per_mm)
    cols = [f"C{i}" for i in range(10)]
    for i, (name, seg) in enumerate(c.instruments.items()):
        ok = np.asarray(seg.served)
        y = np.where(ok, seg.psd, np.nan)
        s = np.where(ok, seg.stderr, np.nan)
        ax.fill_between(f, np.clip(y - s, y * 1e-3, None), y + s, color=cols[i % 10],
                        alpha=0.25, lw=0)
        ax.plot(f, y, color=cols[i % 10], lw=1.3,
                label=f"{name} ({seg.n_files} file{'s' if seg.n_files != 1 else ''}, "
                      f"{seg.f_min_per_mm:.3g}-{seg.f_max_per_mm:.3g} /mm)")
    ax.plot(f, c.psd, color="k", lw=0.8, label="composite")
    line = next((ev.limit_line for _, ev in crits if ev.limit_line), None)
    if line:
        first = True
        for sg in line["segments"]:
            ff = np.geomspace(sg["f_lo_per_mm"], sg["f_hi_per_mm"], 60)
            v = sg["a_nm2_mm"] * ff ** (-sg["b"])
            ax.plot(ff, v, color="k", ls="-", lw=1.6,
                    label="limit line" + (f" ({line['note']})" if line["note"] else "")
                    if first else None)
            ax.plot(ff, line["factor_max"] * v, color="C3", ls="--", lw=1.0,
                    label=f"{line['factor_max']:g} x line (pass level)" if first else None)
            first = False
    fin = np.asarray(c.psd)[np.isfinite(c.psd)]
    for g0, g1 in c.gaps:
        ax.axvspan(g0, g1, color="orange", alpha=0.25, lw=0)
    for o in c.flags:
        ax.axvspan(o.f_lo_per_mm, o.f_hi_per_mm, color="red", alpha=0.18, lw=0)
    k = 0
    for cr, ev in crits:
        if isinstance(ev, CompositeBandEvidence) and ev.quantity == "height":
            lo, hi = ev.f_lo_per_mm, ev.f_hi_per_mm
            ax.axvspan(lo, hi, color=_VCOL.get(cr.verdict, "0.5"), alpha=0.10, lw=0)
            who = ", ".join(dict.fromkeys(s for _, _, s in ev.served)) or "not served"
            ax.text(math.sqrt(lo * hi), 0.98 - 0.07 * (k % 3), f"{ev.band}: {who}",
                    transform=ax.get_xaxis_transform(), ha="center", va="top", fontsize=6)
            k += 1
        elif getattr(ev, "KIND", "") in ("scatter_tis", "scatter_brdf"):
            lo, hi = ev.f_range_per_mm
            if lo > 0 and hi > lo:
                ax.axvspan(lo, hi, facecolor="none", edgecolor="C4", hatch="//", lw=0.6,
                           alpha=0.6)
                what = "TIS" if ev.KIND == "scatter_tis" else "BSDF"
                ang = ev.collection_deg if ev.KIND == "scatter_tis" else \
                    (ev.angles_deg[0], ev.angles_deg[-1])
                ax.text(math.sqrt(lo * hi), 0.02 + 0.06 * (k % 3),
                        f"{what} {ang[0]:g}-{ang[1]:g}\u00b0 at "
                        f"{ev.geometry['wavelength_nm']:g} nm", rotation=0,
                        transform=ax.get_xaxis_transform(), ha="center", va="bottom",
                        fontsize=6, color="C4")
                k += 1
    ax.set_xscale("log")
    ax.set_yscale("log")
    if fin.size:
        ax.set_ylim(float(fin.min()) / 20, float(fin.max()) * 20)
    side = "radial PSD (annulus integral / width)" if c.kind == "radial" else \
        f"one-sided profile PSD along {c.axis}"
    ax.set_xlabel("spatial frequency [cycles/mm]")
    ax.set_ylabel("PSD [nm\u00b2 mm]")
    ax.set_title(f"composite {side}: {key}", fontsize=8)
    ax.legend(fontsize=6, loc="lower left")
    _log_axes(ax)
    fig.subplots_adjust(left=0.11, right=0.98, bottom=0.12, top=0.93)
    cap = (f"Composite {side} of the part, nm\u00b2\u00b7mm ({c.combine}); each measurement's "
           "segment in its own colour with its standard-error band, only inside the "
           "frequencies it serves. Shaded: the composite bands, labelled with the "
           "measurement(s) that served them (green pass, red fail, orange not measurable); "
           "hatched: the frequencies the scatter angles map to (f = |sin \u03b8s - sin "
           "\u03b8i| / \u03bb); red: overlaps whose PSDs disagree beyond the overlap factor; "
           "orange: gaps no measurement serves.")
    return _png(fig), cap


def _brdf_figure(cr: CriterionResult, ev: Any) -> tuple[str, str]:
    from ._html import _matplotlib, _png

    Figure, _ = _matplotlib()
    fig = Figure(figsize=(5.4, 3.4))
    ax = fig.add_subplot()
    th = np.asarray(ev.angles_deg, dtype=float)
    v = np.array([np.nan if x is None else x for x in ev.bsdf_per_sr], dtype=float)
    ax.semilogy(th, v, color="C0", lw=1.2, marker=".", ms=3,
                label=f"{'BRDF' if ev.geometry['mode'] == 'reflection' else 'BTDF'} from the "
                      "composite PSD")
    ax.semilogy(th, ev.line_per_sr, color="k", lw=1.5, label="limit line")
    bad = ~np.asarray(ev.covered, dtype=bool)
    if bad.any():
        ax.plot(th[bad], np.full(int(bad.sum()), np.nanmin(ev.line_per_sr)), "x",
                color=_VCOL[Verdict.NOT_MEASURABLE], label="PSD does not serve this angle")
    f0, f1 = ev.f_range_per_mm
    ax.set_xlabel(f"scatter angle [deg]  (surface frequency {f0:.4g}-{f1:.4g} /mm)")
    ax.set_ylabel(f"{ev.unit}")
    g = ev.geometry
    ax.set_title(f"{cr.id}: {g['mode']} at {g['wavelength_nm']:g} nm, incidence "
                 f"{g['incidence_deg']:g} deg, {g['polarisation']}", fontsize=8)
    ax.legend(fontsize=6)
    fig.subplots_adjust(left=0.14, right=0.97, bottom=0.16, top=0.9)
    cap = (f"{'BRDF' if g['mode'] == 'reflection' else 'BTDF'} (1/sr) versus scatter angle in "
           f"the plane at azimuth {ev.azimuth_deg:g} deg, from the composite radial PSD "
           f"({g['material']}, n = {g['refractive_index']:.4f}); the limit line interpolated "
           "log-log between its vertices. Largest ratio: "
           + (f"{ev.max_ratio:.3g} at {ev.angle_at_max_deg:.3g} deg."
              if ev.max_ratio is not None else "none (not measurable)."))
    return _png(fig), cap


def _band_table(crits: list[tuple[CriterionResult, Any]]) -> str:
    rows = []
    for cr, ev in crits:
        if not isinstance(ev, CompositeBandEvidence):
            continue
        unit = "nm" if ev.quantity == "height" else "\u00b5rad"
        val = (f"{_fmt(ev.value)} \u00b1 {_fmt(ev.stderr, 2)}" if ev.value is not None
               else "\u2014")
        lr = ev.line_implied_rms
        line_txt = ("\u2014" if not lr or lr.get("rms_nm") is None else
                    f"{lr['rms_nm']:.4g} nm" + ("" if lr.get("covered") else " (partial)"))
        served = "; ".join(f"{s}: {a:.4g}-{b:.4g}" for a, b, s in ev.served) or "\u2014"
        gaps = ", ".join(f"{a:.4g}-{b:.4g}" for a, b in ev.gaps)
        rows.append(
            f'<tr class="{_e(cr.verdict)}"><td><code>{_e(cr.id)}</code></td>'
            f"<td>{_e(ev.band)}</td><td>{_e(ev.band_kind)} {_e(ev.direction or '')}</td>"
            f"<td>{_e(ev.filter)}</td><td>{ev.f_lo_per_mm:g}-{ev.f_hi_per_mm:g}</td>"
            f'<td class="n">{_e(val)} {unit}</td><td>\u2264 {cr.limit:g} {unit}</td>'
            f'<td class="v">{_e(cr.verdict)}</td><td>{_e(served)} /mm'
            + (f"; <b>gap {_e(gaps)} /mm</b>" if gaps else "") + "</td>"
            f"<td>{_e(line_txt) if ev.quantity == 'height' else ''}</td></tr>")
    if not rows:
        return ""
    head = ("<tr><th>criterion</th><th>band</th><th>kind</th><th>filter</th>"
            "<th>f [/mm]</th><th>value \u00b1 std. error</th><th>limit</th><th>verdict</th>"
            "<th>served by [/mm]</th><th>RMS the PSD line implies</th></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _tis_table(crits: list[tuple[CriterionResult, Any]]) -> str:
    rows = []
    for cr, ev in crits:
        if getattr(ev, "KIND", "") != "scatter_tis":
            continue
        g = ev.geometry
        f0, f1 = ev.f_range_per_mm
        served = "; ".join(f"{s}: {a:.4g}-{b:.4g}" for a, b, s in ev.served) or "\u2014"
        rows.append(
            f'<tr class="{_e(cr.verdict)}"><td><code>{_e(cr.id)}</code></td>'
            f"<td>{ev.collection_deg[0]:g}-{ev.collection_deg[1]:g}</td>"
            f"<td>{_e(g['mode'])}, {g['wavelength_nm']:g} nm, {g['incidence_deg']:g} deg, "
            f"{_e(g['polarisation'])}</td>"
            f'<td class="n">{_fmt(ev.tis_ppm)}</td><td class="n">{_fmt(ev.tis_davies_ppm)}</td>'
            f"<td>\u2264 {cr.limit:g}</td><td class=\"v\">{_e(cr.verdict)}</td>"
            f"<td>{f0:.4g}-{f1:.4g}</td><td>{_e(served)}</td></tr>")
    if not rows:
        return ""
    head = ("<tr><th>criterion</th><th>cone [deg]</th><th>light</th><th>TIS [ppm]</th>"
            "<th>Davies [ppm]</th><th>limit [ppm]</th><th>verdict</th>"
            "<th>frequencies [/mm]</th><th>served by [/mm]</th></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def html_section(part: PartResult) -> str:
    """The part's full-band section ("" when no criterion is judged on a composite)."""
    from ._html import _fig_html

    comps = _composites(part)
    if not comps:
        return ""
    out = ["<h3>Full band: composite PSD</h3>"]
    for key, (c, crits) in comps.items():
        ev = crits[0][1]
        out.append(f'<p class="meta">Composite <code>{_e(key)}</code> from '
                   f"{_e(', '.join(ev.files) or 'no file')}"
                   + (f"; not used: {_e('; '.join(ev.excluded))}" if ev.excluded else "")
                   + "</p>")
        if c is None:
            reason = next((cr.reason for cr, _ in crits if cr.reason), "")
            out.append(f"<p><b>No composite PSD:</b> {_e(reason)}</p>")
            continue
        out.append(_fig_html(_psd_figure(key, c, crits)))
        if c.overlaps:
            out.append("<p>Overlaps:</p><ul>" + "".join(
                f"<li>{'<b>' if o.flagged else ''}{_e(o.message)}{'</b>' if o.flagged else ''}"
                "</li>" for o in c.overlaps) + "</ul>")
        if c.gaps:
            out.append("<p><b>Gaps</b> (no measurement serves): " + _e(", ".join(
                f"{a:.4g}-{b:.4g} /mm" for a, b in c.gaps)) + "</p>")
        out.append(_band_table(crits))
        out.append(_tis_table(crits))
        for cr, evb in crits:
            if getattr(evb, "KIND", "") == "scatter_brdf":
                out.append(_fig_html(_brdf_figure(cr, evb)))
    return "\n".join(x for x in out if x)
