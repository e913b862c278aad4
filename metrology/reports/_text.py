"""Text reports: the terminal table and the Markdown summary for CI job pages."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..check import CheckReport, CriterionResult, PartResult
from ..pipeline import FileAnalysis
from ..verdicts import Verdict
from ._common import (
    BOUND_ASCII,
    BOUND_UNICODE,
    DASH,
    EXIT_CODE_MEANING,
    assigned_text,
    by_severity,
    clean_text,
    decision_lines,
    display_labels,
    exit_code_of,
    fmt_coord,
    fmt_display,
    fmt_margin,
    fmt_u,
    fmt_value_limit,
    note,
    short_hash,
    source_text,
    unit_text,
)

PASS, FAIL = Verdict.PASS, Verdict.FAIL
NOT_MEASURABLE, NOT_CHECKED = Verdict.NOT_MEASURABLE, Verdict.NOT_CHECKED

_ANSI = {PASS: "\x1b[32m", FAIL: "\x1b[1;31m", NOT_MEASURABLE: "\x1b[1;33m",
         NOT_CHECKED: "\x1b[2m"}
_RESET = "\x1b[0m"
_BOLD = "\x1b[1m"

_ASCII_MAP = str.maketrans({"\u2264": "<=", "\u2265": ">=", "\u00d8": "dia ", "\u00b5": "u",
                            "\u2014": "-", "\u2192": "->", "\u00b2": "^2", "\u00b7": "*"})


def use_color(color: bool | None) -> bool:
    """Colour when asked; for ``None``: stdout is a TTY and ``NO_COLOR`` is unset."""
    if color is not None:
        return bool(color)
    if os.environ.get("NO_COLOR") is not None:
        return False
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def to_ascii(text: str) -> str:
    """Replace the few non-ASCII symbols the reports use (for terminals that lack them)."""
    return text.translate(_ASCII_MAP).encode("ascii", "replace").decode("ascii")


def _file_line(fa: FileAnalysis) -> str:
    m = fa.meta
    bits = [f"{Path(fa.path).name} \u2192 {fa.measurement} ({assigned_text(fa.assigned_by)})",
            f"{m.get('format', '?')}, " + (f"{fa.shape[0]} x {fa.shape[1]} px" if fa.profile is
                                           None else f"profile of {fa.shape[1]} points"),
            f"dx {fa.dx_mm:.4g} mm" + (f", dy {fa.dy_mm:.4g} mm" if fa.dy_mm != fa.dx_mm else "")]
    if fa.aperture:
        a = fa.aperture
        cx, cy = a["centre_mm"]
        bits.append(f"CA \u00d8{a['diameter_mm']:g} mm at ({fmt_coord(cx)}, {fmt_coord(cy)}) mm "
                    f"({'given' if a.get('centre_from') == 'given' else 'from the data'}), "
                    f"R_norm {a['r_norm_mm']:g} mm, {fa.valid_fraction_in_aperture:.1%} valid "
                    "in CA")
    else:
        bits.append(f"{fa.valid_fraction:.1%} valid (whole "
                    f"{'field' if fa.profile is None else 'trace'})")
    if fa.removed:
        bits.append("removed " + ", ".join(fa.removed))
    src = source_text(fa)
    if src:
        bits.append(src)
    line = "; ".join(bits)
    if fa.blocked_reason:
        line += f"\n      NOT ANALYSED: {fa.blocked_reason}"
    return line


def _row_cells(c: CriterionResult, bound: dict[str, str], models: dict[str, int],
               display: list[tuple[str, str]]) -> list[str]:
    v, lim, sig = fmt_value_limit(c.value, c.limit, c.unit)
    return [c.id, c.verdict, v, f"{bound.get(c.bound, c.bound)} {lim}",
            fmt_margin(c.margin, sig), unit_text(c.unit), fmt_u(c, models),
            *[fmt_display(c, u) for u, _ in display], clean_text(note(c))]


def _counts_text(counts: dict[str, int]) -> str:
    return (f"{counts[PASS]} pass, {counts[FAIL]} fail, {counts[NOT_MEASURABLE]} not-measurable, "
            f"{counts[NOT_CHECKED]} not-checked")


def _part_block(p: PartResult, color: bool, bound: dict[str, str], models: dict[str, int],
                display: list[tuple[str, str]]) -> list[str]:
    def paint(text: str, verdict: str) -> str:
        return f"{_ANSI[verdict]}{text}{_RESET}" if color and verdict in _ANSI else text

    out = [f"== part {p.name!r}: {paint(p.verdict.upper(), p.verdict)}"]
    out.append(f"   scope     {p.scope}")
    if p.part_check and p.measurements_missing:
        out.append("   MISSING   no file for measurement(s) "
                   + ", ".join(p.measurements_missing) + " (part is not-measurable)")
    for i, fa in enumerate(p.files):
        out.append(("   files     " if i == 0 else "             ") + _file_line(fa))
    if not p.files:
        out.append("   files     (none)")
    head = ["criterion", "verdict", "value", "limit", "margin", "unit", "U(k=2)",
            *[f"{lab} (value/limit)" for _, lab in display], "note"]
    rows = [_row_cells(c, bound, models, display) for c in p.criteria]
    widths = [max(len(r[k]) for r in [head, *rows]) for k in range(len(head) - 1)]
    right = {2, 4}

    def fmt(cells: list[str], verdict: str | None = None) -> str:
        parts = []
        for k, cell in enumerate(cells[:-1]):
            txt = cell.rjust(widths[k]) if k in right else cell.ljust(widths[k])
            if k == 1 and verdict is not None:
                txt = paint(txt, verdict)
            parts.append(txt)
        return ("   " + "  ".join(parts) + ("  " + cells[-1] if cells[-1] else "")).rstrip()

    out.append("")
    out.append(fmt(head))
    measurement = None
    for c, r in zip(p.criteria, rows, strict=True):
        if measurement is not None and c.measurement != measurement:
            out.append("")
        measurement = c.measurement
        out.append(fmt(r, c.verdict))
    if not p.criteria:
        out.append("   (the spec has no criterion)")
    out.append("")
    out.append(f"   {_counts_text(p.counts())}  \u2192  part verdict: "
               f"{paint(p.verdict.upper(), p.verdict)}")
    return out


def render_terminal(report: CheckReport, color: bool | None = None) -> str:
    """The verdicts as a table for a terminal, one line per criterion.

    Parameters
    ----------
    report : CheckReport
    color : bool, optional
        ANSI colours on or off; ``None`` (default): on only when stdout is a
        TTY and the ``NO_COLOR`` environment variable is unset.

    Returns
    -------
    str
        Header (spec and its SHA-256 prefix, the part, tool version), per part
        the scope, the files with the measurement each was assigned to and how,
        a table (criterion id, verdict, measured value, bound and limit,
        margin (positive = within), unit, reason for ``not-measurable`` and
        ``not-checked``), the counts and the part verdict; a footer with the
        overall verdict and the meaning of the exit code. No trailing newline.
    """
    col = use_color(color)
    bound = BOUND_UNICODE
    s = report.spec
    pt = s.part
    extra = ", ".join(x for x in (pt.material, f"surface {pt.surface_id}" if pt.surface_id
                                  else None) if x)
    lines = [
        f"metrology check (metrology {report.tool_version}, {report.created})",
        f"spec      {s.source}  (sha256 {short_hash(s.sha256)}, {s.schema})",
        f"part      {pt.name}" + (f" ({extra})" if extra else ""),
    ]
    if s.description:
        lines.append(f"          {s.description}")
    for w in s.warnings:
        lines.append(f"warning   {w}")
    dec = decision_lines(report)
    lines.append(f"decision  {dec[0].split(': ', 1)[1]}")
    lines.append(f"          {dec[1]}")
    display = display_labels(report)
    from ..check import display_units_dict

    for d in display_units_dict(s):
        if d["unit"] != "nm":
            lines.append(f"display   {d['statement']}")
    lines.append("")
    models: dict[str, int] = {}
    for p in report.parts:
        lines += _part_block(p, col, bound, models, display)
        lines.append("")
    code = exit_code_of(report)
    v = report.verdict
    total = {PASS: 0, FAIL: 0, NOT_MEASURABLE: 0, NOT_CHECKED: 0}
    for p in report.parts:
        for k, n in p.counts().items():
            total[k] += n
    verdict_txt = f"{_ANSI[v]}{v.upper()}{_RESET}" if col else v.upper()
    if models:
        lines.append("U(k=2)    expanded uncertainty (coverage factor k = 2) of the value, in its "
                     "unit; models:")
        for m, k in models.items():
            lines.append(f"          [{k}] {m}")
    lines.append(f"overall   {verdict_txt}: {_counts_text(total)}")
    lines.append(f"exit code {code}: {EXIT_CODE_MEANING[code]}")
    if total[NOT_CHECKED]:
        lines.append("          not-checked criteria belong to measurements with no file; "
                     "they are not passes")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- markdown

def _md(text: str) -> str:
    """Escape a table cell."""
    return clean_text(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


_MD_WORD = {PASS: "pass", FAIL: "**FAIL**", NOT_MEASURABLE: "**NOT MEASURABLE**",
            NOT_CHECKED: "not checked"}


def to_markdown(report: CheckReport) -> str:
    """A Markdown summary for CI job pages (GitLab / GitHub job summaries).

    A verdict line in plain status words (no emoji), the spec and its hash,
    then per part the scope, the files and a table of every criterion with
    the failing and not-measurable ones first.
    """
    s = report.spec
    code = exit_code_of(report)
    v = report.verdict
    out = [f"## metrology check: {v.upper()}", "",
           f"**Verdict: {v.upper()}** (exit code {code}: {EXIT_CODE_MEANING[code]}).", "",
           f"Spec `{_md(s.source)}` (sha256 `{short_hash(s.sha256)}`), part "
           f"*{_md(s.part.name)}*; metrology {report.tool_version}; {report.created}.", "",
           *[f"{_md(x[0].upper() + x[1:])}." for x in decision_lines(report)], ""]
    from ..check import display_units_dict

    display = display_labels(report)
    for d in display_units_dict(s):
        if d["unit"] != "nm":
            out.append(f"Display unit: {_md(d['statement'])}.")
    if display:
        out.append("")
    models: dict[str, int] = {}
    for w in s.warnings:
        out.append(f"> spec warning: {_md(w)}")
    if s.warnings:
        out.append("")
    out += ["| part | verdict | pass | fail | not measurable | not checked | scope |",
            "|---|---|---:|---:|---:|---:|---|"]
    for p in report.parts:
        n = p.counts()
        out.append(f"| `{_md(p.name)}` | {_MD_WORD[p.verdict]} | {n[PASS]} | {n[FAIL]} | "
                   f"{n[NOT_MEASURABLE]} | {n[NOT_CHECKED]} | {_md(p.scope)} |")
    for p in report.parts:
        out += ["", f"### Part `{_md(p.name)}`: {p.verdict.upper()}", "",
                f"Scope: {_md(p.scope)}.", ""]
        if p.part_check and p.measurements_missing:
            out += [f"Missing measurement(s): {', '.join(p.measurements_missing)} "
                    "(the part is not measurable).", ""]
        for fa in p.files:
            src = source_text(fa)
            out.append(f"- `{_md(Path(fa.path).name)}` \u2192 `{fa.measurement}` "
                       f"({assigned_text(fa.assigned_by)})"
                       + (f"; {_md(src)}" if src else "")
                       + (f"; NOT ANALYSED: {_md(fa.blocked_reason)}" if fa.blocked_reason
                          else ""))
        if p.files:
            out.append("")
        dh = "".join(f" {_md(lab)} (value/limit) |" for _, lab in display)
        out += [f"| criterion | verdict | value | limit | margin | unit | U (k=2) |{dh} note |",
                "|---|---|---:|---|---:|---|---:|" + "---:|" * len(display) + "---|"]
        for c in by_severity(p.criteria):
            val, lim, sig = fmt_value_limit(c.value, c.limit, c.unit)
            dc = "".join(f" {fmt_display(c, u)} |" for u, _ in display)
            out.append(f"| `{_md(c.id)}` | {_MD_WORD[c.verdict]} | {val} | "
                       f"{BOUND_UNICODE.get(c.bound, c.bound)} {lim} | "
                       f"{fmt_margin(c.margin, sig)} | {_md(unit_text(c.unit))} | "
                       f"{_md(fmt_u(c, models))} |{dc} {_md(note(c)) or ''} |")
        if not p.criteria:
            out.append(f"| (the spec has no criterion) | | {DASH} | | | | |" + " |" * len(display))
    if models:
        out += ["", "U (k=2): expanded uncertainty (coverage factor k = 2) of the value, in its "
                    "unit. Models:", ""]
        out += [f"{k}. {_md(m)}" for m, k in models.items()]
    out += ["", "Verdicts: `pass` within the limit; `fail` outside it; `not-measurable`: the "
                "data cannot resolve the criterion (never a pass); `not-checked`: no file for "
                "that measurement was given (not a part check).", ""]
    return "\n".join(out)


__all__ = ["render_terminal", "to_markdown", "use_color", "to_ascii", "BOUND_ASCII"]
