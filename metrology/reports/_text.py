"""Text reports: the terminal table and the Markdown summary for CI job pages."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..check import CheckReport, CriterionResult, PartResult, file_status
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
    fmt_num,
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
    if file_status(fa) == "unreadable":
        return (f"{Path(fa.path).name} \u2192 {fa.measurement} ({assigned_text(fa.assigned_by)})"
                f"\n      UNREADABLE: {fa.blocked_reason}")
    bits = [f"{Path(fa.path).name} \u2192 {fa.measurement} ({assigned_text(fa.assigned_by)})",
            f"{m.get('format', '?')}, " + (f"{fa.shape[0]} x {fa.shape[1]} px" if fa.profile is
                                           None else f"profile of {fa.shape[1]} points"),
            f"dx {fa.dx_mm:.4g} mm" + (f", dy {fa.dy_mm:.4g} mm" if fa.dy_mm != fa.dx_mm else "")]
    if fa.aperture:
        a = fa.aperture
        cx, cy = a["centre_mm"]
        how = {"given": "given", "edge fit": "fitted to the edge",
               "nominal": "nominal: no circular edge"}.get(a.get("centre_method"),
                                                           a.get("centre_from"))
        off = a.get("offset_from_nominal_mm")
        if off is not None and a.get("centre_method") != "nominal":
            how += f", {off:.3g} mm from nominal"
        bits.append(f"CA \u00d8{a['diameter_mm']:g} mm at ({fmt_coord(cx)}, {fmt_coord(cy)}) mm "
                    f"({how}), R_norm {a['r_norm_mm']:g} mm, "
                    f"{fa.valid_fraction_in_aperture:.1%} valid in CA")
    else:
        bits.append(f"{fa.valid_fraction:.1%} valid (whole "
                    f"{'field' if fa.profile is None else 'trace'})")
    if fa.removed:
        bits.append("removed " + ", ".join(fa.removed))
    conds = [f"{r.fit.condition_number:.3g}" for r in fa.fits if r.fit is not None]
    if conds:
        bits.append("Zernike basis condition number " + ", ".join(conds))
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

    out = [f"== part {p.name!r}: {paint(p.outcome.upper(), p.verdict)}"]
    out.append(f"   scope     {p.scope}")
    if p.part_check and p.measurements_missing:
        out.append("   MISSING   no file for measurement(s) "
                   + ", ".join(p.measurements_missing) + " (part is not-measurable)")
    for i, fa in enumerate(p.files):
        out.append(("   files     " if i == 0 else "             ") + _file_line(fa))
    if not p.files:
        out.append("   files     (none)")
    for i, issue in enumerate(p.ignored):
        out.append(("   ignored   " if i == 0 else "             ")
                   + f"{Path(issue.path).name}: {clean_text(issue.reason)}")
    for i, issue in enumerate(p.errors):
        out.append(("   ERROR     " if i == 0 else "             ") + clean_text(issue.reason))
    if p.figures_note and p.source == "resumed":
        out.append(f"   note      {p.figures_note}")
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
    word = p.outcome.upper()
    out.append(f"   {_counts_text(p.counts())}  \u2192  part verdict: "
               f"{paint(word, p.verdict)}")
    return out


def render_header(report: CheckReport) -> str:
    """The lines above the parts: tool, spec and its SHA-256 prefix, the part's name, the
    decision rule and noise correction, the display units."""
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
    from ..check import display_units_dict

    for d in display_units_dict(s):
        if d["unit"] != "nm":
            lines.append(f"display   {d['statement']}")
    return "\n".join(lines)


#: width of the verdict column of the one-line-per-part view
_WORD_W = len("NOT-MEASURABLE")


def part_line(p: PartResult, color: bool | None = False) -> str:
    """One line for a part: its outcome, its name, and the criterion that decides it
    (value, its U, limit and margin; or the reason it is not measurable / not checked;
    or the input error)."""
    col = use_color(color)
    word = p.outcome.upper()
    txt = word.ljust(_WORD_W)
    if col:
        txt = f"{_ANSI.get(p.verdict, '')}{txt}{_RESET}"
    head = f"{txt}  {p.name}"
    if p.errors:
        return f"{head}  {clean_text(p.errors[0].reason)}"
    w = p.worst_criterion()
    if w is None:
        if p.part_check and p.measurements_missing:
            return f"{head}  no file for measurement(s) {', '.join(p.measurements_missing)}"
        return f"{head}  (no criterion)"
    if w.verdict in (NOT_MEASURABLE, NOT_CHECKED) or w.value is None:
        return f"{head}  {w.id}: {clean_text(w.reason)}"
    v, lim, sig = fmt_value_limit(w.value, w.limit, w.unit)
    u = unit_text(w.unit)
    label = "worst" if w.verdict is FAIL else "closest"
    unc = "" if w.uncertainty is None else f", U {fmt_u(w)}"
    return (f"{head}  {label} {w.id} = {v} {u} ({BOUND_UNICODE.get(w.bound, w.bound)} {lim}, "
            f"margin {fmt_margin(w.margin, sig)}{unc})")


def render_part(p: PartResult, color: bool | None = None, details: bool = True, *,
                models: dict[str, int] | None = None,
                display: list[tuple[str, str]] | None = None) -> str:
    """A part as the terminal shows it: its table (``details``) or its one line.

    ``models``: the legend of the uncertainty models, numbered as the tables cite
    them (shared by the parts of one report and printed by :func:`render_summary`);
    ``display``: the spec's display units other than nm (:func:`display_labels`).
    """
    if details:
        return "\n".join(_part_block(p, use_color(color), BOUND_UNICODE,
                                     {} if models is None else models, display or []))
    return part_line(p, color)


def shows_details(p: PartResult, details: bool | None, n_parts: int) -> bool:
    """Whether the terminal prints a part's whole table: always with ``details``, never
    with ``details=False``; by default for a check of one part and for every part that
    did not pass."""
    if details is not None:
        return details
    return n_parts == 1 or p.outcome != PASS


def render_summary(report: CheckReport, color: bool | None = None,
                   interrupted: bool = False, models: dict[str, int] | None = None) -> str:
    """The lines below the parts. The legend of the uncertainty models the tables cited
    (``models``, as filled by :func:`render_part`); then the overall outcome, and when
    some criterion was not checked it says so there (that makes the exit code 3)."""
    col = use_color(color)
    code = exit_code_of(report)
    v = report.verdict
    outcome = report.outcome
    total = {PASS: 0, FAIL: 0, NOT_MEASURABLE: 0, NOT_CHECKED: 0}
    for p in report.parts:
        for k, n in p.counts().items():
            total[k] += n
    verdict_txt = outcome.upper()
    if col:
        verdict_txt = f"{_ANSI.get(v, '')}{verdict_txt}{_RESET}"
    not_checked = [c for p in report.parts for c in p.not_checked]
    lines = []
    if models:
        lines.append("U(k=2)    expanded uncertainty (coverage factor k = 2) of the value, in its "
                     "unit; models:")
        for m, k in models.items():
            lines.append(f"          [{k}] {m}")
    if not_checked:
        meas = sorted({c.measurement for c in not_checked})
        lines.append(f"overall   {verdict_txt}: {len(not_checked)} criteria NOT CHECKED (no "
                     f"file for measurement(s) {', '.join(meas)}): not a pass, exit code 3; "
                     "check the whole part (a part folder or --part) or restrict the check "
                     "with --only")
        lines.append(f"          {_counts_text(total)}")
    else:
        lines.append(f"overall   {verdict_txt}: {_counts_text(total)}")
    if len(report.parts) != 1:
        by: dict[str, int] = {}
        for p in report.parts:
            by[p.outcome] = by.get(p.outcome, 0) + 1
        order = ("pass", "fail", "not-measurable", "not-checked", "error")
        lines.append(f"parts     {len(report.parts)}: "
                     + ", ".join(f"{by.get(k, 0)} {k}" for k in order if by.get(k)))
    ignored = [*report.ignored, *(i for p in report.parts for i in p.ignored)]
    if ignored:
        lines.append(f"ignored   {len(ignored)} file(s) that are not measurements of the spec:")
        for i in ignored[:20]:
            lines.append(f"          {i.path}: {clean_text(i.reason)}")
        if len(ignored) > 20:
            lines.append(f"          ... and {len(ignored) - 20} more (all in the JSON report "
                         "and the results log)")
    if interrupted:
        lines.append("exit code 130: interrupted; no report written")
    else:
        lines.append(f"exit code {code}: {EXIT_CODE_MEANING[code]}")
    if total[NOT_CHECKED] and not not_checked:
        lines.append("          not-checked criteria belong to measurements --only left out; "
                     "they are not passes and were not asked for")
    elif total[NOT_CHECKED]:
        lines.append("          not-checked criteria belong to measurements with no file; "
                     "they are not passes")
    return "\n".join(lines)

def render_terminal(report: CheckReport, color: bool | None = None,
                    details: bool | None = None) -> str:
    """The verdicts as a table for a terminal, one line per criterion.

    Parameters
    ----------
    report : CheckReport
    color : bool, optional
        ANSI colours on or off; ``None`` (default): on only when stdout is a
        TTY and the ``NO_COLOR`` environment variable is unset.
    details : bool, optional
        Whole tables for every part (``True``), one line per part (``False``);
        default: a table for a check of one part and for every part that did
        not pass, one line for each part that passed.

    Returns
    -------
    str
        Header (spec and its SHA-256 prefix, the part, tool version), per part
        the scope, the files with the measurement each was assigned to and how,
        a table (criterion id, verdict, measured value, bound and limit,
        margin (positive = within), unit, U (k = 2) with the number of its
        model, the value/limit in each display unit, reason for
        ``not-measurable`` and ``not-checked``, noise floor), the counts and
        the part verdict (or its one line); a footer with the legend of the
        uncertainty models, the overall verdict and the meaning of the exit
        code. No trailing newline.
    """
    lines = [render_header(report), ""]
    n = len(report.parts)
    models: dict[str, int] = {}
    display = display_labels(report)
    for p in report.parts:
        full = shows_details(p, details, n)
        lines.append(render_part(p, color, full, models=models, display=display))
        if full:
            lines.append("")
    if n > 1 and not lines[-1] == "":
        lines.append("")
    lines.append(render_summary(report, color, models=models))
    return "\n".join(lines)


# ----------------------------------------------------------------------------- markdown

def _md(text: str) -> str:
    """Escape a table cell."""
    return clean_text(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


_MD_WORD = {PASS: "pass", FAIL: "**FAIL**", NOT_MEASURABLE: "**NOT MEASURABLE**",
            NOT_CHECKED: "not checked"}


def _md_yield(report: CheckReport) -> list[str]:
    from ._yield import part_anchor, quantiles, worst_parts, yield_table

    out = ["### Yield", "",
           "| criterion | pass | fail | not measurable | not checked | yield | min | median "
           "| 90 % | max | limit | worst parts |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for r in yield_table(report):
        q = quantiles(r.values)
        qs = [fmt_num(x) for x in q] if q else [DASH] * 4
        y = r.yield_fraction
        worst = ", ".join(f"[{_md(name)}](#{part_anchor(i, name)}) ({fmt_num(v)})"
                          for i, name, v, _, _ in r.worst)
        out.append(f"| `{_md(r.id)}` | {r.counts[PASS]} | {r.counts[FAIL]} | "
                   f"{r.counts[NOT_MEASURABLE]} | {r.counts[NOT_CHECKED]} | "
                   f"{'' if y is None else f'{y:.0%}'} | {' | '.join(qs)} | "
                   f"{BOUND_UNICODE.get(r.bound, r.bound)} {fmt_num(r.limit)} "
                   f"{_md(unit_text(r.unit))} | {worst} |")
    out += ["", "Values are each part's worst site, in the criterion's unit; yield = parts "
                "that pass / parts checked for the criterion.", "", "### Worst parts", "",
            "| part | outcome | deciding criterion | value | U (k=2) | margin |",
            "|---|---|---|---:|---:|---:|"]
    for i, p in worst_parts(report):
        w = p.worst_criterion()
        out.append(f"| [{_md(p.name)}](#{part_anchor(i, p.name)}) | {_OUTCOME_MD(p)} | "
                   + (f"`{_md(w.id)}` | {fmt_num(w.value)} | {fmt_u(w)} | "
                      f"{fmt_margin(w.margin)} |" if w is not None else f"{DASH} | | | |"))
    return out + [""]


def _OUTCOME_MD(p: PartResult) -> str:  # noqa: N802 - a table of words
    return "**ERROR**" if p.errors else _MD_WORD[p.verdict]


def to_markdown(report: CheckReport) -> str:
    """A Markdown summary for CI job pages (GitLab / GitHub job summaries).

    A verdict line in plain status words (no emoji), the spec and its hash;
    for a batch (more than one part) a yield table (per criterion: pass /
    fail / not measurable / not checked, yield, the distribution of the value,
    the worst parts) and the worst parts, linked to their sections; then per
    part the scope, the files with their verdicts and a table of every
    criterion with the failing and not-measurable ones first.
    """
    from ._yield import part_anchor

    s = report.spec
    code = exit_code_of(report)
    word = report.outcome.upper()
    nc = [c for p in report.parts for c in p.not_checked]
    out = [f"## metrology check: {word}", "",
           f"**Verdict: {word}** (exit code {code}: {EXIT_CODE_MEANING[code]})."
           + (f" {len(nc)} criteria were not checked (no file for measurement(s) "
              f"{', '.join(sorted({c.measurement for c in nc}))}): not a pass." if nc else ""),
           "",
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
    if len(report.parts) > 1:
        out += _md_yield(report)
    out += ["| part | verdict | pass | fail | not measurable | not checked | scope |",
            "|---|---|---:|---:|---:|---:|---|"]
    for i, p in enumerate(report.parts):
        n = p.counts()
        out.append(f"| [{_md(p.name)}](#{part_anchor(i, p.name)}) | {_OUTCOME_MD(p)} | "
                   f"{n[PASS]} | {n[FAIL]} | {n[NOT_MEASURABLE]} | {n[NOT_CHECKED]} | "
                   f"{_md(p.scope)} |")
    ignored = list(report.ignored)
    if ignored:
        out += ["", "Ignored (not measurements of the spec): "
                + "; ".join(f"`{_md(i.path)}`: {_md(i.reason)}" for i in ignored) + "."]
    for i, p in enumerate(report.parts):
        out += ["", f'<a id="{part_anchor(i, p.name)}"></a>', "",
                f"### Part `{_md(p.name)}`: {p.outcome.upper()}", "",
                f"Scope: {_md(p.scope)}.", ""]
        if p.part_check and p.measurements_missing:
            out += [f"Missing measurement(s): {', '.join(p.measurements_missing)} "
                    "(the part is not measurable).", ""]
        for e in p.errors:
            out += [f"**Input error:** {_md(e.reason)}", ""]
        for fa in p.files:
            fv = p.file_verdict(fa.path)
            src = source_text(fa)
            out.append(f"- `{_md(Path(fa.path).name)}` \u2192 `{fa.measurement}` "
                       f"({assigned_text(fa.assigned_by)}): "
                       f"{_MD_WORD[fv] if fv is not None else 'no criterion'}"
                       + (f"; {_md(src)}" if src else "")
                       + (f"; NOT ANALYSED: {_md(fa.blocked_reason)}" if fa.blocked_reason
                          else ""))
        for ig in p.ignored:
            out.append(f"- `{_md(Path(ig.path).name)}`: ignored, {_md(ig.reason)}")
        if p.files or p.ignored:
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
            out.append(f"| (no criterion judged) | | {DASH} | | | | | |" + " |" * len(display))
    if models:
        out += ["", "U (k=2): expanded uncertainty (coverage factor k = 2) of the value, in its "
                    "unit. Models:", ""]
        out += [f"{k}. {_md(m)}" for m, k in models.items()]
    out += ["", "Verdicts: `pass` within the limit; `fail` outside it; `not-measurable`: the "
                "data cannot resolve the criterion (never a pass); `not-checked`: no file for "
                "that measurement was given, or --only left it out (never a pass).", ""]
    return "\n".join(out)


__all__ = ["render_terminal", "to_markdown", "use_color", "to_ascii", "BOUND_ASCII"]
