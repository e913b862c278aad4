"""Reports of a spec check: terminal table, JSON, JUnit XML, Markdown and HTML.

All of them are drawn from one :class:`metrology.check.CheckReport` and read
only what the engine recorded (verdicts, values, each site's evidence, each
file's analysis records); none of them recomputes or re-infers a number:

* :func:`render_terminal` -- a table, one line per criterion, for people at a
  terminal (colour only on a TTY, never with ``NO_COLOR``); a batch: one line
  per part that passed, the table of the others;
* :func:`to_json` -- every number with its unit and convention, versioned
  ``"schema": "metrology.check-report/3"``, valid against the JSON Schema
  :func:`report_schema` (``metrology/schemas/check-report-3.json``);
* :func:`to_junit` -- JUnit XML for CI test views: failures as ``<failure>``,
  ``not-measurable`` and ``not-checked`` as ``<skipped>`` marked "not a pass",
  input errors as ``<error>``;
* :func:`to_markdown` -- a summary for CI job pages;
* :func:`to_html` -- one self-contained HTML file with figures (needs
  matplotlib: ``pip install "optical-metrology[plot]"``).

A batch (more than one part) opens its HTML, Markdown and JUnit reports with
the yield table (:mod:`metrology.reports._yield`) and links each part's
section.

:func:`write_report` writes any of them atomically (temporary file in the same
folder, then rename): a reader sees the old file or the new one, never half.
"""

from __future__ import annotations

import os
from pathlib import Path

from .._atomic import atomic_write_text
from ..check import CheckReport
from ..errors import MetrologyError
from ._analyze import ANALYZE_SCHEMA_ID, decade_bands, render_summary, summarize_map
from ._ci import SCHEMA_ID, report_schema, to_json, to_json_text, to_junit
from ._common import EXIT_CODE_MEANING
from ._html import DPI, MAX_DISPLAY_PX, require_matplotlib, to_html
from ._text import render_terminal, to_ascii, to_markdown, use_color

#: report kinds :func:`write_report` knows, and the text function of each
REPORT_KINDS = ("json", "junit", "markdown", "html", "text")


def render(report: CheckReport, kind: str) -> str:
    """The report of ``kind`` (one of :data:`REPORT_KINDS`) as text."""
    k = str(kind).lower()
    if k == "json":
        return to_json_text(report)
    if k == "junit":
        return to_junit(report)
    if k == "markdown":
        return to_markdown(report) + "\n"
    if k == "html":
        return to_html(report)
    if k == "text":
        return render_terminal(report, color=False) + "\n"
    raise MetrologyError(f"unknown report kind {kind!r}; use one of {', '.join(REPORT_KINDS)}")


def write_report(report: CheckReport, path: str | os.PathLike[str], kind: str) -> Path:
    """Write the report of ``kind`` to ``path`` atomically; return the path.

    The whole text is rendered first, then written to a temporary file in the
    target folder and renamed over ``path``: an existing file is replaced
    whole or not at all, and no temporary file is left behind on failure.
    """
    return atomic_write_text(path, render(report, kind))


__all__ = [
    "render_terminal",
    "to_json",
    "to_json_text",
    "to_junit",
    "to_markdown",
    "to_html",
    "render",
    "write_report",
    "report_schema",
    "require_matplotlib",
    "use_color",
    "to_ascii",
    "summarize_map",
    "render_summary",
    "decade_bands",
    "SCHEMA_ID",
    "ANALYZE_SCHEMA_ID",
    "REPORT_KINDS",
    "EXIT_CODE_MEANING",
    "DPI",
    "MAX_DISPLAY_PX",
]
