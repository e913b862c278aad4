"""Batch outputs: the JSON Lines results log (append-only, resumable) and the CSV table.

Results log (``--results PATH.jsonl``, ``docs/batch.md``)
--------------------------------------------------------
One JSON object per line (``"schema": "metrology.batch-record/3"``): for each
part, one ``"file"`` record per file (checked, unreadable, ignored ...) and
then one ``"part"`` record. A part's records are written with **one**
``write`` on a file opened for appending, then flushed to disk (``fsync``):
a reader, a killed run or a power cut sees all of a part's records or none of
them, except that a crash inside that one write can leave a torn last line.
On opening, anything after the last complete ``"part"`` record (a torn line,
the file records of a part whose ``"part"`` record never came) is cut off, and
said so; nothing before it is ever rewritten.

A part is identified by its **key**: SHA-256 over the part's content hash
(every file's name and SHA-256), the spec's SHA-256, the tool version and the
options that change verdicts (``--as``, ``--only``, ``--part``/folder). With
``--resume`` a part whose key already has a ``"part"`` record of this record
schema is not checked again; its result comes from the log (a part recorded by
an older schema, whose records lack what this one holds (U, the decision rule),
is checked again).

Version 2 (``batch-record/2``) adds to every criterion and site its ``U``
(k = 2) and ``uncertainty`` (model, noise floor, ...), to every criterion its
``decision_rule`` and ``display`` values, to every file its ``source`` (the
repeats averaged, the reference subtracted, the wavefront conversion) and to the
part record the ``decision`` of the check. Version 3 (``batch-record/3``) adds
to every file record how its clear-aperture centre was found (the aperture's
``centre_method``, ``edge_fit``, offset from the nominal centre: issue 9) and
its ``analysis`` (the JSON report's: each Zernike fit with its basis condition
number, aperture fill and flags, the PSD with its f_min and fill rules) and a
profile's description (``profile``), so that a resumed part is reported as it
was checked.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
from collections.abc import Iterable, Sequence
from typing import Any

from .._json import jsonable
from ..check import (
    CriterionResult,
    FileIssue,
    FileSummary,
    PartResult,
    SiteValue,
    file_status,
)
from ..errors import MetrologyError
from ..verdicts import Verdict

__all__ = ["RECORD_SCHEMA", "ResultsLog", "part_records", "part_from_records", "part_key",
           "options_key", "csv_text", "CSV_HEADER", "CSV_CRITERION_COLUMNS", "comparable"]

#: ``schema`` of every line of the results log
RECORD_SCHEMA = "metrology.batch-record/3"

#: the first columns of the CSV table (one row per part; then two per criterion)
CSV_HEADER = ("part", "path", "outcome", "verdict", "exit_code", "worst_criterion",
              "worst_margin", "files", "content_sha256", "spec_sha256", "tool_version",
              "decision_rule")

#: the columns of each criterion in the CSV table (``<id>.value`` ...)
CSV_CRITERION_COLUMNS = ("value", "U", "verdict")

#: record fields that change from run to run (left out when runs are compared)
VOLATILE = ("run", "timings_s", "worker", "finished", "attempt")


def options_key(*, as_name: str | None, only: Sequence[str] | None, part_check: bool) -> dict:
    """The options that change a part's verdicts (part of its key)."""
    return {"as": as_name, "only": None if only is None else list(only),
            "part_check": bool(part_check)}


def part_key(content_sha256: str, spec_sha256: str, tool_version: str,
             options: dict[str, Any]) -> str:
    """The part's identity in the results log (SHA-256 hex)."""
    blob = json.dumps([content_sha256, spec_sha256, tool_version, options], sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _num(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _unc(u: Any) -> dict[str, Any] | None:
    return None if u is None else u.to_dict()


def _criterion_rec(c: CriterionResult) -> dict[str, Any]:
    return jsonable({
        "id": c.id, "type": c.type, "measurement": c.measurement,
        "description": c.description, "verdict": c.verdict, "value": c.value,
        "U": c.U, "limit": c.limit, "bound": c.bound, "unit": c.unit, "margin": c.margin,
        "reason": c.reason, "decision_rule": c.decision_rule,
        "uncertainty": _unc(c.uncertainty), "display": c.display,
        "convention": c.convention, "file": c.file,
        "sites": [{"file": s.file, "value": s.value, "U": s.U, "verdict": s.verdict,
                   "reason": s.reason, "margin": s.margin,
                   "uncertainty": _unc(s.uncertainty)} for s in c.sites],
    })


def part_records(part: PartResult, *, key: str, spec_sha256: str, spec_source: str,
                 tool_version: str, options: dict[str, Any], run: str, worker: str = "",
                 attempt: int = 1, finished: str = "",
                 decision: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The records of one part: a ``"file"`` record per site (a file, or the repeats
    averaged into one site: ``source`` lists them, ``files_sha256`` hashes each) and per
    ignored or erroneous file, then the ``"part"`` record (all JSON-ready);
    ``decision``: the check's decision rule and noise correction
    (:func:`metrology.check.decision_dict`)."""
    common = {"schema": RECORD_SCHEMA}
    recs: list[dict[str, Any]] = []
    timings = part.timings_s
    for fa in part.files:
        d = fa.to_dict()
        status = file_status(fa)
        sites = []
        for c in part.criteria:
            for s in c.sites:
                if s.file == fa.path:
                    sites.append({"id": c.id, "verdict": s.verdict, "value": s.value,
                                  "U": s.U, "limit": c.limit, "bound": c.bound,
                                  "unit": c.unit, "margin": s.margin, "reason": s.reason,
                                  "decision_rule": c.decision_rule})
        v = part.file_verdict(fa.path)
        recs.append(jsonable({
            **common, "record": "file", "key": key, "part": part.name,
            "part_path": part.path, "path": fa.path,
            "sha256": part.file_sha256.get(fa.path),
            "files_sha256": part.site_sha256(fa), "spec_sha256": spec_sha256,
            "tool_version": tool_version, "status": status,
            "reason": fa.blocked_reason or None,
            "error": fa.blocked_reason if status != "analysed" else None,
            "verdict": None if v is None else v.value,
            **{k: d[k] for k in ("measurement", "assigned_by", "format", "instrument",
                                 "wavelength_nm", "shape", "dx_mm", "dy_mm",
                                 "valid_fraction", "rms_nm", "pv_nm", "aperture",
                                 "valid_fraction_in_aperture", "pixels_across", "removed",
                                 "dropouts_interpolated_px", "source")},
            "analysis": fa.analysis_dict(),
            "profile": d.get("profile"),
            "criteria": sites,
            "timings_s": timings.get("files", {}).get(fa.path, {}),
        }))
    for issue in [*part.ignored, *part.errors]:
        recs.append(jsonable({
            **common, "record": "file", "key": key, "part": part.name,
            "part_path": part.path, "path": issue.path,
            "sha256": part.file_sha256.get(issue.path), "spec_sha256": spec_sha256,
            "tool_version": tool_version, "status": issue.kind, "reason": issue.reason,
            "error": issue.reason if issue.kind == "error" else None,
            "verdict": None, "criteria": [],
            "timings_s": timings.get("files", {}).get(issue.path, {}),
        }))
    w = part.worst_criterion()
    recs.append(jsonable({
        **common, "record": "part", "key": key, "run": run, "part": part.name,
        "path": part.path, "content_sha256": part.content_sha256,
        "spec_sha256": spec_sha256, "spec": spec_source, "tool_version": tool_version,
        "options": options, "decision": decision, "outcome": part.outcome,
        "verdict": part.verdict,
        "exit_code": int(part.exit_code), "part_check": part.part_check,
        "scope": part.scope,
        "restricted_to": None if part.restricted_to is None else list(part.restricted_to),
        "measurements_checked": part.measurements_checked,
        "measurements_missing": part.measurements_missing, "counts": part.counts(),
        "worst": None if w is None else {"id": w.id, "verdict": w.verdict,
                                         "value": w.value, "margin": w.margin},
        "files": [fa.path for fa in part.files],
        "ignored": [i.to_dict() for i in part.ignored],
        "errors": [i.to_dict() for i in part.errors],
        "criteria": [_criterion_rec(c) for c in part.criteria],
        "timings_s": {k: v for k, v in timings.items() if k != "files"},
        "worker": worker, "attempt": attempt, "finished": finished,
    }))
    return recs


def comparable(rec: dict[str, Any]) -> dict[str, Any]:
    """A record without the fields that change from run to run (timings, run id...)."""
    return {k: v for k, v in rec.items() if k not in VOLATILE}


def part_from_records(recs: Sequence[dict[str, Any]]) -> PartResult:
    """Rebuild a part's result from its records (``--resume``): verdicts, values,
    limits, margins, reasons and file descriptions (the clear aperture with how its centre
    was found, and the file's ``analysis``: its fits and PSD as the JSON report gives them);
    no evidence, no figures."""
    from ..criteria import Uncertainty
    from ..pipeline import ApertureRecord, SourceRecord

    def unc(d: dict[str, Any] | None) -> Uncertainty | None:
        if not d:
            return None
        return Uncertainty(**{k: d[k] for k in ("U", "model", "k", "detail", "noise",
                                                "measured", "corrected", "dof", "n_repeats")
                              if k in d})

    def source(d: dict[str, Any] | None) -> SourceRecord | None:
        if not d:
            return None
        ref = d.get("reference") or {}
        conv = d.get("conversion") or {}
        return SourceRecord(files=tuple(d.get("files") or ()), repeats_by=d.get("repeats_by"),
                            common_valid_fraction=d.get("common_valid_fraction"),
                            reference=ref.get("path"), reference_sha256=ref.get("sha256"),
                            reference_from=ref.get("from"),
                            conversion=conv.get("description"),
                            conversion_factor=conv.get("factor"))

    def aperture(d: dict[str, Any]) -> ApertureRecord:
        """The aperture as it was placed, with how its centre was found (the edge fit)."""
        from ..aperture import CircleFit

        e = d.get("edge_fit")
        edge = None if not e else CircleFit(
            centre_mm=tuple(e["centre_mm"]), radius_mm=e["radius_mm"], method=e["method"],
            n_edge_points=e["n_edge_points"], n_inliers=e["n_inliers"],
            arc_coverage=e["arc_coverage"],
            rms_residual_mm=math.nan if e["rms_residual_mm"] is None else e["rms_residual_mm"],
            reason=e["reason"])
        return ApertureRecord(
            diameter_mm=d["diameter_mm"], r_norm_mm=d["r_norm_mm"],
            centre_mm=tuple(d["centre_mm"]), centre_from=d["centre_from"],
            inside_array=True, pixels_in_aperture=math.nan,
            centre_method=d["centre_method"], nominal_centre_mm=tuple(d["nominal_centre_mm"]),
            offset_from_nominal_mm=d["offset_from_nominal_mm"],
            centre_tolerance_mm=d["centre_tolerance_mm"], edge=edge)

    prec = recs[-1]
    if prec.get("record") != "part":
        raise MetrologyError("incomplete record group (no part record)")
    files = []
    ignored: list[FileIssue] = []
    errors: list[FileIssue] = []
    sha: dict[str, str] = {}
    for r in recs[:-1]:
        if r.get("sha256"):
            sha[r["path"]] = r["sha256"]
        sha.update(r.get("files_sha256") or {})
        st = r.get("status")
        if st == "ignored":
            ignored.append(FileIssue(r["path"], r.get("reason") or "", "ignored"))
            continue
        if st == "error":
            errors.append(FileIssue(r["path"], r.get("reason") or "", "error"))
            continue
        ap = r.get("aperture")
        rec = None if not ap else aperture(ap)
        meta = {k: r.get(k) for k in ("format", "instrument", "wavelength_nm")
                if r.get(k) is not None}
        files.append(FileSummary(
            path=r["path"], measurement=r.get("measurement") or "",
            assigned_by=r.get("assigned_by") or "filename", meta=meta,
            shape=tuple(r.get("shape") or (0, 0)),
            dx_mm=math.nan if r.get("dx_mm") is None else r["dx_mm"],
            dy_mm=math.nan if r.get("dy_mm") is None else r["dy_mm"],
            valid_fraction=r.get("valid_fraction") or 0.0, rms_nm=r.get("rms_nm"),
            pv_nm=r.get("pv_nm"), aperture_record=rec,
            valid_fraction_in_aperture=r.get("valid_fraction_in_aperture") or 0.0,
            pixels_across=r.get("pixels_across") or 0.0,
            blocked_reason=r.get("reason") or "", status=st or "analysed",
            removed_terms=tuple(r.get("removed") or ()),
            dropouts_filled=int(r.get("dropouts_interpolated_px") or 0),
            source=source(r.get("source")), profile_info=r.get("profile"),
            kind="profile" if r.get("profile") else "map",
            analysis=r.get("analysis") or {"blocked_reason": r.get("reason"),
                                           "zernike_fits": [], "psd": None}))
    crits = []
    for c in prec["criteria"]:
        sites = [SiteValue(s["file"], s["value"], Verdict(s["verdict"]), s.get("reason", ""),
                           s.get("margin"), uncertainty=unc(s.get("uncertainty")))
                 for s in c.get("sites", [])]
        crits.append(CriterionResult(
            id=c["id"], type=c["type"], measurement=c["measurement"],
            description=c.get("description", ""), verdict=Verdict(c["verdict"]),
            value=c["value"], limit=c["limit"], bound=c["bound"], unit=c["unit"],
            margin=c["margin"], reason=c.get("reason", ""), convention=c.get("convention", {}),
            file=c.get("file"), sites=sites, uncertainty=unc(c.get("uncertainty")),
            decision_rule=c.get("decision_rule", "simple"), display=c.get("display") or {}))
    rt = prec.get("restricted_to")
    return PartResult(
        name=prec["part"], part_check=bool(prec["part_check"]), files=files, criteria=crits,
        measurements_checked=list(prec.get("measurements_checked", [])),
        measurements_missing=list(prec.get("measurements_missing", [])),
        path=prec.get("path"), restricted_to=None if rt is None else tuple(rt),
        ignored=ignored or [FileIssue(i["path"], i["reason"]) for i in prec.get("ignored", [])],
        errors=errors or [FileIssue(i["path"], i["reason"], "error")
                          for i in prec.get("errors", [])],
        content_sha256=prec.get("content_sha256"), file_sha256=sha,
        timings_s=dict(prec.get("timings_s") or {}), source="resumed",
        figures_note="result taken from the results log of an earlier run (--resume): "
                     "figures and evidence are not in the log")


class ResultsLog:
    """The append-only JSON Lines results log of a batch.

    Opening repairs an interrupted tail (see the module docstring) and indexes
    the complete parts by key; :meth:`write_part` appends one part's records
    with one ``write`` and flushes them to disk.
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.path = os.fspath(path)
        self._fsync = fsync
        d = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(d, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o666)
        self.index: dict[str, tuple[int, int]] = {}
        self.repaired = ""
        self._scan()

    def _scan(self) -> None:
        size = os.fstat(self._fd).st_size
        good_end = 0
        group_start = 0
        pos = 0
        torn = False
        with open(self.path, "rb") as fh:
            for raw in fh:
                end = pos + len(raw)
                if not raw.endswith(b"\n"):
                    torn = True
                    break
                try:
                    rec = json.loads(raw)
                except ValueError:
                    torn = end == size      # a bad line in the middle: not ours to cut
                    if not torn:
                        raise MetrologyError(
                            f"{self.path}: line at byte {pos} is not JSON; not a results "
                            "log of metrology, or damaged: give another --results path"
                        ) from None
                    break
                if not isinstance(rec, dict) or not str(rec.get("schema", "")).startswith(
                        "metrology.batch-record/"):
                    raise MetrologyError(f"{self.path}: not a results log of metrology "
                                         f"(line at byte {pos}); give another --results path")
                if rec.get("record") == "part":
                    key = rec.get("key")
                    if key and rec.get("schema") == RECORD_SCHEMA:
                        self.index[key] = (group_start, end - group_start)
                    good_end = end
                    group_start = end
                pos = end
        if good_end < size:
            dropped = size - good_end
            os.ftruncate(self._fd, good_end)
            if self._fsync:
                os.fsync(self._fd)
            self.repaired = (f"{self.path}: cut off {dropped} bytes after the last complete "
                             "part (an interrupted write" + (", torn line" if torn else "")
                             + ")")

    def done(self) -> frozenset[str]:
        """The keys of the parts that have a complete record of this record schema
        (:data:`RECORD_SCHEMA`; parts recorded by an older one are checked again)."""
        return frozenset(self.index)

    def read_part(self, key: str) -> list[dict[str, Any]]:
        """The records of the part with ``key`` (from the log)."""
        start, n = self.index[key]
        data = os.pread(self._fd, n, start)
        return [json.loads(ln) for ln in data.splitlines() if ln.strip()]

    def write_part(self, records: Iterable[dict[str, Any]]) -> None:
        """Append one part's records (one write; flushed to disk)."""
        text = "".join(json.dumps(r, ensure_ascii=False, allow_nan=False, sort_keys=False)
                       + "\n" for r in records)
        data = text.encode("utf-8")
        start = os.lseek(self._fd, 0, os.SEEK_END)
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        if self._fsync:
            os.fsync(self._fd)
        last = json.loads(text.splitlines()[-1])
        if last.get("record") == "part" and last.get("key"):
            self.index[last["key"]] = (start, len(data))

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> ResultsLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _cell(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, float):
        return "" if not math.isfinite(x) else repr(x)
    return str(x)


def csv_text(parts: Sequence[PartResult], criteria_ids: Sequence[str], *,
             spec_sha256: str, tool_version: str, decision_rule: str = "simple") -> str:
    """The CSV table: one row per part; after the part's columns (:data:`CSV_HEADER`,
    ``decision_rule`` the spec's ISO 14253-1 rule of every verdict) three columns per
    criterion of the spec, ``<id>.value``, ``<id>.U`` (expanded uncertainty, k = 2)
    and ``<id>.verdict`` (value and U in the criterion's unit: ``<id>.unit`` is not
    repeated per row but given by the spec; empty = no value, or U unknown)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    head = list(CSV_HEADER)
    for cid in criteria_ids:
        head += [f"{cid}.{col}" for col in CSV_CRITERION_COLUMNS]
    w.writerow(head)
    for p in parts:
        by = {c.id: c for c in p.criteria}
        wc = p.worst_criterion()
        row = [p.name, p.path or "", p.outcome, p.verdict.value, int(p.exit_code),
               "" if wc is None else wc.id, "" if wc is None else _cell(wc.margin),
               len(p.files), p.content_sha256 or "", spec_sha256, tool_version, decision_rule]
        for cid in criteria_ids:
            c = by.get(cid)
            row += (["", "", ""] if c is None else
                    [_cell(c.value), _cell(c.U), Verdict(c.verdict).value])
        w.writerow(row)
    return buf.getvalue()

