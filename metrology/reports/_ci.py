"""Machine-readable reports: versioned JSON (with its JSON Schema) and JUnit XML."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path
from typing import Any

from .._json import jsonable
from ..check import REPORT_SCHEMA, CheckReport
from ..errors import MetrologyError
from ..verdicts import EXIT_CODE_MEANING, VERDICT_MEANING, Verdict
from ._common import (
    BOUND_ASCII,
    clean_text,
    decision_lines,
    fmt_margin,
    fmt_value_limit,
    note,
    source_text,
    unit_text,
)
from ._fullband import composites_json

#: the ``schema`` value of the JSON report and the file describing it
SCHEMA_ID = REPORT_SCHEMA
SCHEMA_FILE = "check-report-2.json"

PASS, FAIL = Verdict.PASS, Verdict.FAIL
NOT_MEASURABLE, NOT_CHECKED = Verdict.NOT_MEASURABLE, Verdict.NOT_CHECKED


def report_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of :func:`to_json`'s output, shipped with the package."""
    try:
        text = resources.files("metrology").joinpath("schemas", SCHEMA_FILE).read_text(
            encoding="utf-8")
    except (FileNotFoundError, OSError) as exc:  # pragma: no cover - broken install
        raise MetrologyError(f"the report schema {SCHEMA_FILE} is missing from the installed "
                             f"package ({exc}); reinstall metrology") from None
    return json.loads(text)


def to_json(report: CheckReport) -> dict[str, Any]:
    """The report as a JSON-ready dict following ``metrology/schemas/check-report-2.json``.

    Based on :meth:`CheckReport.to_dict` (spec source and SHA-256, tool
    version, every criterion with value, limit, bound, margin, unit, reason
    and convention, per-site values with their evidence), extended with the
    meaning of the exit codes and verdicts and, per file, what was computed:
    the Zernike fits (scheme, normalisation, R_norm, centre, coefficients in
    nm) and the PSD (window, frequency range resolved, sidedness). Non-finite
    numbers become ``null``. Everything comes from the engine's records; nothing
    is recomputed here.
    """
    d = copy.deepcopy(report.to_dict())
    d["exit_code_meaning"] = {str(k): v for k, v in EXIT_CODE_MEANING.items()}
    d["verdict_meaning"] = {v.value: m for v, m in VERDICT_MEANING.items()}
    for pd, part in zip(d["parts"], report.parts, strict=True):
        for fd, fa in zip(pd["files"], part.files, strict=True):
            inst = fd.get("instrument")
            if inst is not None and not isinstance(inst, str):
                fd["instrument"] = str(inst)
            wl = fd.get("wavelength_nm")
            if wl is not None and not isinstance(wl, int | float):
                try:
                    fd["wavelength_nm"] = float(wl)
                except (TypeError, ValueError):
                    fd["wavelength_nm"] = None
            fd["analysis"] = fa.analysis_dict()
        comps = composites_json(part)
        if comps:
            pd["composites"] = comps
    return jsonable(d)


def to_json_text(report: CheckReport) -> str:
    """:func:`to_json` serialised (UTF-8 text, 2-space indent, strict JSON)."""
    return json.dumps(to_json(report), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


# ----------------------------------------------------------------------------- JUnit

def _x(text: str) -> str:
    return clean_text(str(text))


def _numbers(c: Any) -> str:
    val, lim, sig = fmt_value_limit(c.value, c.limit, c.unit)
    u = unit_text(c.unit)
    unc = c.uncertainty
    ut = ("" if unc is None else ", U (k=2) unknown" if unc.U is None
          else f", U (k=2) {unc.U:.3g} {u}")
    return (f"value {val} {u}, limit {BOUND_ASCII.get(c.bound, c.bound)} {lim} {u}, "
            f"margin {fmt_margin(c.margin, sig)} {u}{ut}").replace("\u2014", "n/a")


def _details(c: Any) -> str:
    lines = [f"{c.id} [{c.type}] on measurement {c.measurement}: {c.description}",
             f"verdict: {c.verdict}", _numbers(c)]
    if c.reason:
        lines.append(f"reason: {c.reason}")
    lines.append(f"decision rule: {c.decision_rule}")
    if c.uncertainty is not None:
        lines.append(f"uncertainty model: {c.uncertainty.model}"
                     + (f" ({c.uncertainty.detail})" if c.uncertainty.detail else ""))
    for d in c.display.values():
        lines.append(f"in {d['label']}: value {d['value']}, limit {d['limit']}, U {d['U']}")
    if c.convention:
        lines.append("convention: " + json.dumps(jsonable(c.convention), ensure_ascii=False))
    for s in c.sites:
        v = "n/a" if s.value is None else f"{s.value:.6g}"
        lines.append(f"site {Path(s.file).name}: {s.verdict}, value {v} {unit_text(c.unit)}"
                     + (f" ({s.reason})" if s.reason and s.verdict != PASS else ""))
    return _x("\n".join(lines))


def to_junit(report: CheckReport) -> str:
    """JUnit XML: one ``<testsuite>`` per part, one ``<testcase>`` per criterion.

    ``classname`` is ``<part>.<measurement>`` (dots in the part name become
    ``_`` so CI tools split package and class correctly), ``name`` the
    criterion id. ``fail`` -> ``<failure>`` (message with value, limit and
    unit); ``not-measurable`` -> ``<skipped>`` whose message starts with
    ``NOT MEASURABLE (not a pass)`` and gives the reason; ``not-checked`` ->
    ``<skipped>`` with ``NOT CHECKED (not a pass)``. A part-check measurement
    without a file and without criteria gets a skipped testcase of its own.
    Counts are in the ``tests``, ``failures``, ``errors`` (always 0) and
    ``skipped`` attributes of each suite and of ``<testsuites>``.
    """
    s = report.spec
    stamp = report.created[:19]        # xs:dateTime without zone, as JUnit readers expect
    root = ET.Element("testsuites", name=_x(f"metrology check {s.source}"))
    tot = {"tests": 0, "failures": 0, "skipped": 0}
    for p in report.parts:
        ts = ET.SubElement(root, "testsuite", name=_x(f"{s.part.name} / {p.name}"),
                           timestamp=stamp, hostname="localhost")
        props = ET.SubElement(ts, "properties")
        for k, v in (("spec", s.source), ("spec_sha256", s.sha256),
                     ("tool", f"metrology {report.tool_version}"), ("scope", p.scope),
                     ("part_verdict", p.verdict), ("part_check", str(p.part_check).lower()),
                     ("decision_rule", decision_lines(report)[0]),
                     ("noise_correction", decision_lines(report)[1])):
            ET.SubElement(props, "property", name=k, value=_x(v))
        cls_part = p.name.replace(".", "_") or "part"
        n = {"tests": 0, "failures": 0, "skipped": 0}
        for c in p.criteria:
            tc = ET.SubElement(ts, "testcase", classname=_x(f"{cls_part}.{c.measurement}"),
                               name=_x(c.id), time="0")
            n["tests"] += 1
            if c.verdict == FAIL:
                el = ET.SubElement(tc, "failure", type="fail",
                                   message=_x(f"FAIL: {_numbers(c)}"
                                              + (f"; {note(c)}" if note(c) else "")))
                el.text = _details(c)
                n["failures"] += 1
            elif c.verdict in (NOT_MEASURABLE, NOT_CHECKED):
                word = "NOT MEASURABLE" if c.verdict == NOT_MEASURABLE else "NOT CHECKED"
                el = ET.SubElement(tc, "skipped",
                                   message=_x(f"{word} (not a pass): {c.reason}"))
                el.text = _details(c)
                n["skipped"] += 1
            else:
                ET.SubElement(tc, "system-out").text = _details(c)
        covered = {c.measurement for c in p.criteria}
        if p.part_check:
            for m in p.measurements_missing:
                if m in covered:
                    continue
                tc = ET.SubElement(ts, "testcase", classname=_x(f"{cls_part}.{m}"),
                                   name=_x(f"{m}.file"), time="0")
                ET.SubElement(tc, "skipped", message=_x(
                    f"NOT MEASURABLE (not a pass): no file for measurement {m!r} in this "
                    "part check"))
                n["tests"] += 1
                n["skipped"] += 1
        files = "\n".join(f"{fa.path} -> {fa.measurement} ({fa.assigned_by})"
                          + (f"; {source_text(fa)}" if source_text(fa) else "")
                          + (f"; not analysed: {fa.blocked_reason}" if fa.blocked_reason
                             else "") for fa in p.files)
        ET.SubElement(ts, "system-out").text = _x(
            f"scope: {p.scope}\npart verdict: {p.verdict}\nfiles:\n{files}")
        for k in ("tests", "failures"):
            ts.set(k, str(n[k]))
        ts.set("errors", "0")
        ts.set("skipped", str(n["skipped"]))
        ts.set("time", "0")
        for k in tot:
            tot[k] += n[k]
    root.set("tests", str(tot["tests"]))
    root.set("failures", str(tot["failures"]))
    root.set("errors", "0")
    root.set("skipped", str(tot["skipped"]))
    root.set("time", "0")
    ET.indent(root)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            + ET.tostring(root, encoding="unicode") + "\n")


__all__ = ["SCHEMA_ID", "report_schema", "to_json", "to_json_text", "to_junit"]
