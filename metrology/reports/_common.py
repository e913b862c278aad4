"""Shared pieces of the reports: verdict words, number formatting, sorting."""

from __future__ import annotations

import math
import re
from pathlib import Path

from ..check import CheckReport, CriterionResult
from ..verdicts import EXIT_CODE_MEANING, Verdict

__all__ = ["EXIT_CODE_MEANING", "exit_code_of", "by_severity", "note", "fmt_num",
           "fmt_value_limit", "fmt_margin", "unit_text", "short_hash", "assigned_text",
           "clean_text", "fmt_coord", "site_of", "fmt_u", "model_index", "display_labels",
           "fmt_display", "source_text", "decision_lines"]

BOUND_UNICODE = {"max": "\u2264", "min": "\u2265"}
BOUND_ASCII = {"max": "<=", "min": ">="}

#: unit strings as shown to people
UNIT_TEXT = {"urad": "\u00b5rad", "ratio": "x line", "fraction": "fraction", "px": "px",
             "sites": "sites", "nm": "nm"}

DASH = "\u2014"


def exit_code_of(report: CheckReport) -> int:
    """The report's exit code (:func:`metrology.check.exit_code`)."""
    from ..check import exit_code

    return int(exit_code(report))


def short_hash(sha256: str, n: int = 12) -> str:
    """The first ``n`` hex digits of a SHA-256."""
    return sha256[:n]


def fmt_num(x: float | None, sig: int = 4) -> str:
    """``x`` with ``sig`` significant digits; an em dash for no value."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return DASH
    return f"{x:.{sig}g}"


def fmt_value_limit(value: float | None, limit: float, unit: str) -> tuple[str, str, int]:
    """Value and limit as strings with enough digits to tell them apart.

    Starts at 4 significant digits and adds digits while a value that differs
    from the limit would print the same (0.40001 must not read as 0.4).
    Returns ``(value_text, limit_text, digits)``.
    """
    if unit in ("px", "sites"):
        sig = 6
    else:
        sig = 4
    if value is not None and math.isfinite(value) and value != limit:
        while sig < 15 and f"{value:.{sig}g}" == f"{limit:.{sig}g}":
            sig += 1
    return fmt_num(value, sig), fmt_num(limit, max(sig, 4)), sig


def fmt_margin(margin: float | None, sig: int = 3) -> str:
    """Signed margin (positive = within the limit)."""
    if margin is None or not math.isfinite(margin):
        return DASH
    return f"{margin:+.3g}"


def unit_text(unit: str) -> str:
    """The unit as shown to people (``urad`` -> ``µrad``)."""
    return UNIT_TEXT.get(unit, unit)


def by_severity(criteria: list[CriterionResult]) -> list[CriterionResult]:
    """Fail first, then not-measurable, not-checked, pass; spec order within each."""
    return sorted(criteria, key=lambda c: -Verdict(c.verdict).severity)


def site_of(c: CriterionResult, path: str) -> object | None:
    """The site result of criterion ``c`` for the file ``path`` (``None`` if it has none)."""
    for s in c.sites:
        if s.file == path:
            return s
    return None


def note(c: CriterionResult) -> str:
    """What a reader needs beside the number: the reason, or which site was worst; the
    noise floor of a band value; what "power" is."""
    extra = _noise_note(c) + _power_note(c)
    if c.verdict in (Verdict.NOT_MEASURABLE, Verdict.NOT_CHECKED):
        return "; ".join(x for x in (c.reason, *extra) if x)
    parts = []
    if len(c.sites) > 1 and c.file:
        parts.append(f"worst of {len(c.sites)} sites: {Path(c.file).name}")
    if c.reason:
        parts.append(c.reason)
    return "; ".join([*parts, *extra])


def _noise_note(c: CriterionResult) -> list[str]:
    u = c.uncertainty
    if u is None or u.noise is None:
        return []
    unit = unit_text(c.unit)
    what = f"of the average of {u.n_repeats}" if u.n_repeats > 1 else "of the map"
    txt = f"noise floor {fmt_num(u.noise, 3)} {unit} ({what})"
    if u.corrected and u.measured is not None:
        txt += f", noise-corrected from {fmt_num(u.measured)} {unit}"
    return [txt]


def _power_note(c: CriterionResult) -> list[str]:
    if c.type != "power" or c.evidence is None:
        return []
    figs = getattr(c.evidence, "power_figures", None) or {}
    if "pv_nm" not in figs:
        return []
    pv = figs["pv_nm"]
    disp = "".join(f" = {fmt_num(d['pv_power'])} {d['label']}" for d in c.display.values()
                   if d.get("pv_power") is not None)
    return [f"Zernike coefficient ({c.convention.get('normalisation', 'rms')}), not the PV "
            f"sag; PV of the power term over the data {fmt_num(pv)} nm{disp} (our reading of "
            "MetroPro's 'Power', not verified)"]


def fmt_u(c: CriterionResult | object, models: dict[str, int] | None = None) -> str:
    """U (k = 2) of a result as text, with the number of its model in ``models``."""
    u = getattr(c, "uncertainty", None)
    if u is None:
        return DASH
    tag = ""
    if models is not None:
        tag = f" [{model_index(models, u.model)}]"
    if u.U is None:
        return "unknown" + tag
    return f"{u.U:.2g}" + tag


def model_index(models: dict[str, int], model: str) -> int:
    """The number of ``model`` in the legend ``models`` (added when new)."""
    if model not in models:
        models[model] = len(models) + 1
    return models[model]


def display_labels(report: CheckReport) -> list[tuple[str, str]]:
    """(unit, label) of each display unit other than nm, in the spec's order."""
    from ..check import display_units_dict

    return [(d["unit"], d["label"]) for d in display_units_dict(report.spec)
            if d["unit"] != "nm"]


def fmt_display(c: CriterionResult, unit: str) -> str:
    """``value/limit`` of a height criterion in a display unit (em dash otherwise)."""
    d = c.display.get(unit)
    if not d:
        return DASH
    return f"{fmt_num(d['value'])}/{fmt_num(d['limit'])}"


def source_text(fa: object) -> str:
    """What a site's map is made of (repeats, reference, conversion), in words; ""."""
    src = getattr(fa, "source", None)
    if src is None:
        return ""
    bits = []
    if src.n_repeats > 1:
        cv = (f", common mask {src.common_valid_fraction:.1%} of the pixels"
              if src.common_valid_fraction is not None else "")
        bits.append(f"average of {src.n_repeats} repeats ({src.repeats_by}{cv}): "
                    + ", ".join(Path(f).name for f in src.files))
    if src.reference:
        bits.append(f"reference {Path(src.reference).name} subtracted "
                    f"(sha256 {short_hash(src.reference_sha256 or '')}, {src.reference_from})")
    if src.conversion:
        bits.append(f"wavefront converted to surface: {src.conversion}")
    return "; ".join(bits)


def decision_lines(report: CheckReport) -> list[str]:
    """The decision rule and noise correction in words (every report says them)."""
    from ..check import decision_dict

    d = decision_dict(report.spec)
    rule = d["rule"] + (" (the default)" if d["default"] else "")
    return [f"decision rule: {rule}: {d['description']}",
            f"noise correction: {'on' if d['noise_correction'] else 'off'}: "
            f"{d['noise_correction_description']}"]


def assigned_text(how: str) -> str:
    """How a file was assigned to its measurement, in words."""
    return {"--as": "by --as", "metadata": "by metadata match",
            "filename": "by file-name pattern"}.get(how, f"by {how}")


_CTRL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(s: str) -> str:
    """Drop control characters (not allowed in XML 1.0, garbage on a terminal)."""
    return _CTRL.sub("?", s)


def fmt_coord(x_mm: float) -> str:
    """A coordinate in mm to 1 µm, without ``-0`` or ``1e-16`` noise."""
    return f"{round(float(x_mm), 3) + 0.0:g}"
