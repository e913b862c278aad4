"""Shared pieces of the reports: verdict words, number formatting, sorting."""

from __future__ import annotations

import math
import re
from pathlib import Path

from ..check import CheckReport, CriterionResult
from ..verdicts import EXIT_CODE_MEANING, Verdict

__all__ = ["EXIT_CODE_MEANING", "exit_code_of", "by_severity", "note", "fmt_num",
           "fmt_value_limit", "fmt_margin", "unit_text", "short_hash", "assigned_text",
           "clean_text", "fmt_coord", "site_of"]

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
    """What a reader needs beside the number: the reason, or which site was worst."""
    if c.verdict in (Verdict.NOT_MEASURABLE, Verdict.NOT_CHECKED):
        return c.reason
    parts = []
    if len(c.sites) > 1 and c.file:
        parts.append(f"worst of {len(c.sites)} sites: {Path(c.file).name}")
    if c.reason:
        parts.append(c.reason)
    return "; ".join(parts)


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
