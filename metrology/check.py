"""The check engine: measurement files against a spec, criterion by criterion.

Flow for one part (:func:`check_part`):

1. every file goes through the analysis pipeline (:mod:`metrology.pipeline`):
   loaded, assigned to a measurement of the spec (``--as``, then the spec's
   metadata / filename rules), and analysed once for its measurement (clear
   aperture, preprocessing, the joint Zernike fits and the PSD its criteria
   ask for);
2. every criterion of the measurement evaluates, per file (site), a value and
   a verdict ``pass`` / ``fail`` / ``not-measurable`` with the reason and one
   evidence record; the criterion's verdict is the worst site's;
3. measurements with no file: in a part check their criteria are
   ``not-measurable`` ("no file for measurement X"); otherwise they are
   ``not-checked`` (shown, never counted as a pass). Criteria of measurements
   the user left out on purpose (``only=``, ``--only``) are ``not-checked``
   too, but do not count: the check was restricted.

Files that cannot be judged (``docs/batch.md``, "Files of a part"):

* a file of a part folder that is assigned to a measurement (by ``--as`` or by
  its name) but cannot be read, or whose map holds no surface (no valid pixel,
  or every valid pixel at the same height), makes every criterion of its
  measurement ``not-measurable`` with the reason; every other criterion is
  still judged;
* a file of a part folder that is not a measurement of the spec (not a height
  map, an unknown format, matching no measurement) is *ignored*: listed with
  the reason, never judged;
* a file named on its own (not found in a folder) that cannot be read or
  assigned is an *input error* (:attr:`PartResult.errors`, exit code 2);
* an unexpected exception while analysing or judging a file is an input error
  naming the file (never a traceback, never exit code 1).

Verdicts and their order are :class:`metrology.verdicts.Verdict`; a criterion
is never skipped and neither ``not-measurable`` nor ``not-checked`` counts as
a pass (``docs/conventions.md``). Exit codes are
:class:`metrology.verdicts.ExitCode` (:func:`exit_code`).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ._json import jsonable
from ._version import __version__
from .criteria import PSD, Criterion, Evidence, FitRequest, SiteValue, Uncertainty
from .errors import MetrologyError, SpecError
from .heightmap import HeightMap
from .pipeline import (
    PSD_WINDOW,
    FileAnalysis,
    analyze_file,
    assign_measurement,
    load_file,
)
from .spec import Spec
from .spec.model import COMPOSITE
from .verdicts import ExitCode, Verdict, exit_code_for, worst, worst_exit

__all__ = [
    "PASS",
    "FAIL",
    "NOT_MEASURABLE",
    "NOT_CHECKED",
    "SiteValue",
    "CriterionResult",
    "FileAnalysis",
    "FileSummary",
    "FileIssue",
    "PartResult",
    "CheckReport",
    "CheckError",
    "REPORT_SCHEMA",
    "assign_measurement",
    "analyze_file",
    "evaluate",
    "check_part",
    "check",
    "exit_code",
    "unjudgeable_reason",
    "PSD_WINDOW",
]

PASS, FAIL = Verdict.PASS, Verdict.FAIL
NOT_MEASURABLE, NOT_CHECKED = Verdict.NOT_MEASURABLE, Verdict.NOT_CHECKED

#: the ``schema`` of :meth:`CheckReport.to_dict` (``metrology/schemas/check-report-3.json``)
REPORT_SCHEMA = "metrology.check-report/3"


class CheckError(MetrologyError):
    """An input error found while checking (unreadable or unassignable file named on
    its own, an unexpected failure while analysing a file); the message names the file."""


# ----------------------------------------------------------------------------- results

@dataclass(frozen=True)
class FileIssue:
    """A file of a part that was not judged as a measurement, and why.

    ``kind``: ``"ignored"`` (not a measurement of the spec: listed, never
    judged), ``"error"`` (an input error: exit code 2).
    """

    path: str
    reason: str
    kind: Literal["ignored", "error"] = "ignored"

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "reason": self.reason, "kind": self.kind}


@dataclass
class FileSummary(FileAnalysis):
    """A file's analysis without its arrays (a batch result), or a file of a part that
    could not be judged.

    ``status``: ``"analysed"`` (a :class:`FileAnalysis` whose maps, fits and PSD
    were dropped once the criteria and figures had them: what the reports
    need is kept in ``removed_terms``, ``dropouts_filled`` and ``analysis``),
    ``"unreadable"`` (assigned to ``measurement`` but could not be read) or
    ``"unjudgeable"`` (read, but holds no surface: no valid pixel, or every
    valid pixel at one height). The reason of the last two is
    ``blocked_reason``; every criterion of the measurement is
    ``not-measurable`` on such a file, data-quality ones included.
    """

    status: str = "analysed"
    removed_terms: tuple[str, ...] = ()
    dropouts_filled: int = 0
    analysis: dict[str, Any] | None = None
    kind: str = "map"
    #: a profile file's description (:meth:`metrology.pipeline.ProfileRecord.to_dict`:
    #: points, spacing, length, reference line), kept without the trace
    profile_info: dict[str, Any] | None = None

    @property
    def data_kind(self) -> str:
        """``"map"`` or ``"profile"``, as the file was."""
        return self.kind

    @property
    def profile(self) -> Any:
        return None

    @property
    def removed(self) -> tuple[str, ...]:
        return self.removed_terms

    @property
    def filled_pixels(self) -> int:
        return self.dropouts_filled

    def analysis_dict(self) -> dict[str, Any]:
        if self.analysis is not None:
            return self.analysis
        return {"blocked_reason": self.blocked_reason or None, "zernike_fits": [],
                "psd": None}

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        if self.profile_info is not None:
            d["profile"] = jsonable(self.profile_info)
        return d

    @classmethod
    def of(cls, fa: FileAnalysis) -> FileSummary:
        """The summary of an analysed file (drops every array)."""
        if isinstance(fa, FileSummary):
            return fa
        base = {f.name: getattr(fa, f.name) for f in dataclasses.fields(FileAnalysis)}
        base.update(hm=None, preprocessing=None, fits=[], spectrum=None)
        if "shared" in base:     # what criteria derived from the arrays (ISO 10110 terms)
            base["shared"] = {}
        prof = base.get("profile_record")
        if "profile_record" in base:
            base["profile_record"] = None
        return cls(**base, status="analysed", removed_terms=tuple(fa.removed),
                   dropouts_filled=int(fa.filled_pixels), analysis=fa.analysis_dict(),
                   kind=getattr(fa, "data_kind", "map"),
                   profile_info=None if prof is None else prof.to_dict())

    @classmethod
    def unusable(cls, path: str, measurement: str, assigned_by: str, status: str,
                 reason: str, hm: Any = None, source: Any = None) -> FileSummary:
        """A file (or site) of ``measurement`` that cannot be judged (``status``
        unreadable or unjudgeable), with what is known of it; ``source``: what the site
        was to be made of (:class:`metrology.pipeline.SourceRecord`)."""
        meta: dict[str, Any] = {} if hm is None else dict(hm.meta)
        common = dict(path=str(path), measurement=measurement, assigned_by=assigned_by,
                      meta=meta, rms_nm=None, pv_nm=None, aperture_record=None,
                      valid_fraction_in_aperture=0.0, pixels_across=0.0,
                      blocked_reason=reason, status=status, source=source)
        if hm is not None and not isinstance(hm, HeightMap):     # a profile (1-D trace)
            n = int(hm.n_points)
            return cls(**common, shape=(1, n), dx_mm=hm.dx_mm, dy_mm=hm.dx_mm,
                       valid_fraction=hm.valid_fraction, kind="profile")
        if hm is None:
            return cls(**common, shape=(0, 0), dx_mm=math.nan, dy_mm=math.nan,
                       valid_fraction=0.0)
        return cls(**common, shape=hm.shape, dx_mm=hm.dx_mm, dy_mm=hm.dy_mm,
                   valid_fraction=hm.valid_fraction)


def file_status(fa: FileAnalysis) -> str:
    """``analysed``, ``unreadable`` or ``unjudgeable``."""
    return getattr(fa, "status", "analysed")


@dataclass
class CriterionResult:
    """A criterion's verdict (the worst site's) with its number, unit and convention.

    ``evidence`` is the deciding site's evidence record (what was computed, on
    which data); every site keeps its own in ``sites``.
    """

    id: str
    type: str
    measurement: str
    description: str
    verdict: Verdict
    value: float | None
    limit: float
    bound: str
    unit: str
    margin: float | None
    reason: str
    convention: dict[str, Any]
    file: str | None
    sites: list[SiteValue] = field(default_factory=list)
    evidence: Evidence | None = None
    #: the deciding site's uncertainty (U with k = 2, model, noise floor)
    uncertainty: Uncertainty | None = None
    #: the decision rule the verdicts were made with ("simple" / "guarded")
    decision_rule: str = "simple"
    #: the value, limit and U in each of the spec's display units (heights only)
    display: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def U(self) -> float | None:
        """Expanded uncertainty (k = 2) of ``value`` (the deciding site's)."""
        return None if self.uncertainty is None else self.uncertainty.U

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("id", "type", "measurement", "description",
                                           "verdict", "value", "limit", "bound", "unit",
                                           "margin", "reason", "convention", "file")}
        d["U"] = self.U
        d["uncertainty"] = None if self.uncertainty is None else self.uncertainty.to_dict()
        d["decision_rule"] = self.decision_rule
        d["display"] = self.display
        d["sites"] = [s.to_dict() for s in self.sites]
        return jsonable(d)


@dataclass
class PartResult:
    """Verdicts of one part (a set of files checked together).

    ``restricted_to``: the measurements the user asked for (``--only``); the
    ``not-checked`` criteria of the others do not count. ``ignored`` files were
    not measurements of the spec; ``errors`` are input errors (a file named
    on its own that cannot be read or assigned, an unexpected failure): the
    part's exit code is then 2. ``figures`` holds the HTML of each file's
    figures when they were drawn where the arrays were (a batch worker);
    ``content_sha256``, ``file_sha256`` and ``timings_s`` are filled by the
    batch runner (:mod:`metrology.batch`).
    """

    name: str
    part_check: bool
    files: list[FileAnalysis]
    criteria: list[CriterionResult]
    measurements_checked: list[str]
    measurements_missing: list[str]
    path: str | None = None
    restricted_to: tuple[str, ...] | None = None
    ignored: list[FileIssue] = field(default_factory=list)
    errors: list[FileIssue] = field(default_factory=list)
    figures: dict[str, str] | None = None
    figures_note: str = ""
    content_sha256: str | None = None
    file_sha256: dict[str, str] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)
    source: str = "checked"

    def counts_towards_verdict(self, c: CriterionResult) -> bool:
        """False for the ``not-checked`` criteria of measurements ``--only`` left out."""
        return not (c.verdict is NOT_CHECKED and self.restricted_to is not None
                    and c.measurement not in self.restricted_to)

    @property
    def verdict(self) -> Verdict:
        """The worst verdict of the criteria that count: fail > not-measurable >
        not-checked > pass; a missing measurement of a part check is not-measurable."""
        v = worst(c.verdict for c in self.criteria if self.counts_towards_verdict(c))
        if self.part_check and self.measurements_missing:
            v = worst((v, NOT_MEASURABLE))
        if not self.criteria and self.errors:
            v = worst((v, NOT_MEASURABLE))
        return v

    @property
    def exit_code(self) -> ExitCode:
        """2 with an input error, else the code of :attr:`verdict`."""
        return ExitCode.USAGE if self.errors else exit_code_for(self.verdict)

    @property
    def outcome(self) -> str:
        """``"error"`` with an input error, else the verdict word."""
        return "error" if self.errors else self.verdict.value

    @property
    def scope(self) -> str:
        """Which part of the spec was checked, in words."""
        only = (f"restricted to {', '.join(self.restricted_to)} (--only); "
                if self.restricted_to is not None else "")
        if self.part_check:
            return only + ("whole part" if not only else "part check") + \
                (" (every measurement of the spec)" if not only else "")
        missing = [m for m in self.measurements_missing
                   if self.restricted_to is None or m in self.restricted_to]
        if missing:
            return only + (f"measurements {', '.join(self.measurements_checked) or '(none)'} "
                           f"only; not checked: {', '.join(missing)}")
        return only or "every measurement of the spec"

    @property
    def not_checked(self) -> list[CriterionResult]:
        """The ``not-checked`` criteria that count (they make the exit code 3)."""
        return [c for c in self.criteria
                if c.verdict is NOT_CHECKED and self.counts_towards_verdict(c)]

    def counts(self) -> dict[str, int]:
        out = {v.value: 0 for v in (PASS, FAIL, NOT_MEASURABLE, NOT_CHECKED)}
        for c in self.criteria:
            out[c.verdict] += 1
        return out

    def worst_criterion(self) -> CriterionResult | None:
        """The criterion that decides the part: the worst verdict, then the smallest
        margin relative to the limit (``None`` without criteria). Of a part that passes,
        the surface criterion closest to its limit (data-quality requirements, met
        exactly by design, only when there is nothing else)."""
        cands = [c for c in self.criteria if self.counts_towards_verdict(c)]
        if not cands:
            return None
        if all(c.verdict is PASS for c in cands):
            cands = [c for c in cands if c.type != "requirement"] or cands

        def key(c: CriterionResult) -> tuple[int, float]:
            rel = (c.margin / c.limit if c.margin is not None and c.limit
                   else c.margin if c.margin is not None else math.inf)
            return (-Verdict(c.verdict).severity, rel)

        return min(cands, key=key)

    def site_sha256(self, fa: FileAnalysis) -> dict[str, str]:
        """SHA-256 of each data file of a site (its file, or each of its repeats), as the
        batch runner hashed them (``{}`` otherwise)."""
        src = getattr(fa, "source", None)
        paths = src.files if src is not None and src.files else (fa.path,)
        return {q: self.file_sha256[q] for q in paths if q in self.file_sha256}

    def file_verdict(self, path: str) -> Verdict | None:
        """The worst verdict of the sites of ``path`` (``None`` if it has none)."""
        vs = [s.verdict for c in self.criteria for s in c.sites if s.file == path]
        return worst(vs) if vs else None

    def slim(self) -> PartResult:
        """This result without its maps (height maps, fits, 2-D PSDs, traces; 2-D or
        large figure arrays of the evidence): what reports need once the figures are
        drawn (a batch keeps only this)."""
        files = [FileSummary.of(fa) for fa in self.files]
        criteria = []
        for c in self.criteria:
            sites = [dataclasses.replace(s, evidence=_strip_figures(s.evidence))
                     for s in c.sites]
            ev = _strip_figures(c.evidence)
            criteria.append(dataclasses.replace(c, sites=sites, evidence=ev))
        return dataclasses.replace(self, files=files, criteria=criteria)

    def to_dict(self) -> dict[str, Any]:
        files = []
        for fa in self.files:
            d = fa.to_dict()
            d["status"] = file_status(fa)
            d["sha256"] = self.file_sha256.get(fa.path)
            d["files_sha256"] = self.site_sha256(fa)
            v = self.file_verdict(fa.path)
            d["verdict"] = None if v is None else v.value
            files.append(d)
        return {
            "name": self.name,
            "path": self.path,
            "part_check": self.part_check,
            "verdict": self.verdict,
            "outcome": self.outcome,
            "exit_code": int(self.exit_code),
            "scope": self.scope,
            "restricted_to": None if self.restricted_to is None else list(self.restricted_to),
            "counts": self.counts(),
            "measurements_checked": self.measurements_checked,
            "measurements_missing": self.measurements_missing,
            "files": files,
            "ignored": [i.to_dict() for i in self.ignored],
            "errors": [i.to_dict() for i in self.errors],
            "criteria": [c.to_dict() for c in self.criteria],
        }


#: figure arrays of the evidence larger than this (elements), or of two dimensions or more,
#: are dropped by :meth:`PartResult.slim`; 1-D curves (a PSD curve, a composite PSD) stay:
#: the JSON report and the figures of a batch read them
_KEEP_ELEMENTS = 1 << 16


def _strip_figures(ev: Evidence | None) -> Evidence | None:
    if ev is None:
        return None
    drop = {}
    for f in dataclasses.fields(ev):
        if not f.metadata.get("figure"):
            continue
        v = getattr(ev, f.name)
        size, ndim = getattr(v, "size", None), getattr(v, "ndim", None)
        if isinstance(size, int) and isinstance(ndim, int) and (
                ndim >= 2 or size > _KEEP_ELEMENTS):
            drop[f.name] = None
    return dataclasses.replace(ev, **drop) if drop else ev


@dataclass
class CheckReport:
    """Everything a report shows: the spec, the parts, the verdicts.

    ``ignored`` lists files found under the folders given that belong to no
    part (a notes file beside part folders, ...).
    """

    spec: Spec
    parts: list[PartResult]
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.UTC).isoformat(
        timespec="seconds"))
    tool_version: str = __version__
    ignored: list[FileIssue] = field(default_factory=list)

    @property
    def verdict(self) -> Verdict:
        return worst(p.verdict for p in self.parts)

    @property
    def exit_code(self) -> ExitCode:
        return worst_exit(p.exit_code for p in self.parts)

    @property
    def outcome(self) -> str:
        return "error" if any(p.errors for p in self.parts) else self.verdict.value

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict following ``metrology/schemas/check-report-3.json``."""
        s = self.spec
        return {
            "schema": REPORT_SCHEMA,
            "tool": {"name": "metrology", "version": self.tool_version},
            "created": self.created,
            "spec": {"source": s.source, "sha256": s.sha256, "schema": s.schema,
                     "part": {"name": s.part.name, "material": s.part.material,
                              "surface_id": s.part.surface_id,
                              "test_wavelength_nm": s.part.test_wavelength_nm},
                     "warnings": list(s.warnings)},
            "verdict": self.verdict,
            "outcome": self.outcome,
            "exit_code": int(exit_code(self)),
            "decision": decision_dict(s),
            "display_units": display_units_dict(s),
            "units": {"height": "nm", "length": "mm", "frequency": "cycles/mm",
                      "slope": "urad", "psd_1d": "nm^2 mm", "psd_2d": "nm^2 mm^2"},
            "ignored": [i.to_dict() for i in self.ignored],
            "parts": [p.to_dict() for p in self.parts],
        }


def exit_code(report: CheckReport) -> ExitCode:
    """0 every counted criterion passes, 1 any fail, 3 not measurable / missing
    measurement / not checked (no fail), 2 an input error in any part; the worst
    part's (2 > 1 > 3 > 0)."""
    return report.exit_code


# ----------------------------------------------------------------------------- evaluation

#: why a criterion cannot judge the file's kind of data (``Criterion.DATA``)
_DATA_REASON = {
    "profile": "{} needs an areal height map; this file is a profile (a 1-D trace)",
    "map": "{} judges a profile (a 1-D trace such as a stylus profilometer file); this file "
           "is an areal height map",
}


def evaluate(c: Criterion, fa: FileAnalysis) -> SiteValue:
    """One criterion on one analysed file: what the pipeline could not provide is
    ``not-measurable`` with the reason; otherwise the criterion's own ``evaluate``.
    A file that could not be read or holds no surface is ``not-measurable`` for every
    criterion, data-quality ones included."""
    if fa.data_kind not in c.DATA:  # a profile criterion on a map, or an areal one on a trace
        return SiteValue(fa.path, None, NOT_MEASURABLE, _DATA_REASON[fa.data_kind].format(
            c.TYPE))
    if file_status(fa) != "analysed":
        return SiteValue(fa.path, None, NOT_MEASURABLE, fa.blocked_reason)
    if fa.blocked_reason and not c.EVALUATE_WHEN_BLOCKED:
        return SiteValue(fa.path, None, NOT_MEASURABLE, fa.blocked_reason)
    for req in c.requests():
        if isinstance(req, FitRequest):
            rec = fa.fit_for(req)
            if rec is None or rec.fit is None:
                why = rec.error if rec is not None else "no fit was made"
                return SiteValue(fa.path, None, NOT_MEASURABLE,
                                 f"Zernike fit not possible: {why}")
        elif req == PSD and (fa.spectrum is None or fa.spectrum.psd is None):
            why = fa.spectrum.error if fa.spectrum is not None else None
            return SiteValue(fa.path, None, NOT_MEASURABLE, f"PSD not possible: {why}")
    return c.evaluate(fa)


def _aggregate(c: Criterion, sites: list[SiteValue], spec: Spec | None = None
               ) -> CriterionResult:
    r = _aggregate_sites(c, sites)
    r.decision_rule = c.decision_rule
    r.uncertainty = next((s.uncertainty for s in sites if s.file == r.file), None)
    if spec is not None:
        figs = getattr(r.evidence, "power_figures", None) or {}
        extra = {"pv_power": figs["pv_nm"]} if "pv_nm" in figs else {}
        r.display = display_values(spec, c.unit, r.value, r.limit, r.U, extra)
    return r


def _aggregate_sites(c: Criterion, sites: list[SiteValue]) -> CriterionResult:
    base = dict(id=c.id, type=c.TYPE, measurement=c.measurement,
                description=c.description, limit=float(c.limit), bound=c.bound, unit=c.unit,
                convention=c.convention())
    if not sites:
        return CriterionResult(**base, verdict=NOT_MEASURABLE, value=None, margin=None,
                               reason=f"no file for measurement {c.measurement!r}", file=None,
                               sites=[])
    failing = [s for s in sites if s.verdict is FAIL]
    nm = [s for s in sites if s.verdict is NOT_MEASURABLE]
    pool = failing or ([] if nm else sites)
    if pool:
        deciding = min(pool, key=lambda s: s.margin if s.margin is not None else math.inf)
    else:
        deciding = nm[0]
    verdict = FAIL if failing else NOT_MEASURABLE if nm else PASS
    reason = deciding.reason if verdict is not NOT_MEASURABLE else "; ".join(
        dict.fromkeys(f"{Path(s.file).name}: {s.reason}" for s in nm))
    return CriterionResult(**base, verdict=verdict, value=deciding.value,
                           margin=deciding.margin, reason=reason, file=deciding.file,
                           sites=sites, evidence=deciding.evidence)


def unjudgeable_reason(hm: Any) -> str:
    """Why a map holds no surface to judge (``""`` when it does): no valid pixel, or
    every valid pixel at the same height (unwritten storage reads as its fill value;
    a placeholder file)."""
    import numpy as np

    if hm.n_valid == 0:
        return "the map has no valid pixel (every height is invalid): nothing to judge"
    z = hm.z_nm
    with np.errstate(invalid="ignore"):
        lo, hi = float(np.nanmin(z)), float(np.nanmax(z))
    if lo == hi:
        return (f"every valid pixel has the same height ({lo:g} nm): the file holds no "
                "surface data (unwritten storage or a placeholder), not judged")
    return ""


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


_ErrorPolicy = Literal["raise", "record"]


def check_part(spec: Spec, files: Sequence[str | os.PathLike[str]], *,
               as_name: str | None = None, part_check: bool = False,
               name: str | None = None, only: Sequence[str] | None = None,
               explicit: bool | Iterable[str | os.PathLike[str]] = True,
               on_error: _ErrorPolicy = "raise", path: str | None = None,
               between_files: Callable[[], None] | None = None,
               repeats: Sequence[str | os.PathLike[str]] = (),
               reference: str | os.PathLike[str] | None = None) -> PartResult:
    """Check one part: every site (a file, or the repeats of one measurement) against its
    measurement's criteria.

    Parameters
    ----------
    spec : Spec
    files : sequence of path
        Measurement files (any format :func:`metrology.load` reads); reference files
        and repeats among them are recognised by the spec's rules
        (:mod:`metrology.sites`: a file matching ``[measurements.NAME.reference]``
        is subtracted from the files of NAME; with ``repeats = true`` the files of
        NAME named ``<stem>_rep<k>`` are one site, averaged).
    as_name : str, optional
        Assign every file to this measurement.
    part_check : bool
        The files are the whole part: a measurement without a file makes the
        part ``not-measurable``.
    name : str, optional
        Name of the part in reports (default: the common folder).
    only : sequence of str, optional
        Check only these measurements (``--only``): files of the others are
        ignored, their criteria are ``not-checked`` and do not count.
    explicit : bool or iterable of path
        Which files were named on their own (all: ``True``, none: ``False``):
        such a file that cannot be read or assigned is an input error; a file
        found in a folder is ignored (not assigned) or makes its measurement
        not-measurable (assigned by ``--as`` or its name) instead. The same holds
        for a site: repeats that cannot be averaged or a reference that cannot
        be subtracted are an input error when a file of the site (or the
        reference) was named on its own, else the site is ``not-measurable``.
    on_error : {"raise", "record"}
        Input errors raise (default: the file's own error, or :class:`CheckError`)
        or are recorded in :attr:`PartResult.errors` (batch runs: the other files
        and parts go on).
    path : str, optional
        The part's folder (reports and batch records).
    between_files : callable, optional
        Called before each file and each site (an interrupt raises there, never
        inside a kernel: :class:`metrology.batch.Interrupt`).
    repeats : sequence of path
        ``--repeats``: N >= 2 repeats of one measurement of one surface (one more
        site, averaged); always named on their own.
    reference : path, optional
        ``--reference``: a calibrated reference map subtracted from the files of
        its measurement (that of ``repeats``, else ``as_name``, else the one its
        own name or metadata matches); named on its own.

    Raises
    ------
    MetrologyError
        With ``on_error="raise"``: a file named on its own cannot be read or
        assigned, ``only`` names no measurement, repeats or a reference named on
        their own cannot be used, or a file's analysis failed unexpectedly (exit
        code 2 on the command line).
    """
    from .pipeline import SourceRecord
    from .sites import (
        Site,
        compose_site,
        group_sites,
        reference_target,
        repeats_site,
        split_references,
    )

    if only is not None:
        only = tuple(dict.fromkeys(only))
        unknown = [m for m in only if m not in spec.measurements and m != COMPOSITE]
        if unknown:
            raise SpecError(f"--only {', '.join(unknown)}: the spec declares no such "
                            f"measurement; declared: {', '.join(spec.measurements)}")
    files = [str(f) for f in files]
    rep_files = [str(f) for f in repeats]
    ref_file = None if reference is None else str(reference)
    named = (set(files) if explicit is True else set() if explicit is False
             else {str(f) for f in explicit})
    named |= set(rep_files) | ({ref_file} if ref_file else set())
    errors: list[FileIssue] = []
    ignored: list[FileIssue] = []

    def input_error(f: str, reason: str, exc: BaseException | None = None) -> None:
        if on_error == "raise":
            if isinstance(exc, MetrologyError):
                raise exc                       # keep its type (SpecError, FileFormatError)
            raise CheckError(reason if f in reason else f"{f}: {reason}")
        errors.append(FileIssue(f, reason if f in reason else f"{f}: {reason}", "error"))

    analyses: list[FileAnalysis] = []
    timings: dict[str, dict[str, float]] = {}

    def load_assign(f: str, tolerant: bool, content: bool = True
                    ) -> tuple[str, Any, str, str] | None:
        """Stage 1-2 for one file: (path, map, measurement, assigned_by), or None with
        the file recorded (unusable, ignored or an input error); ``content``: a map that
        holds no surface is unusable here (else the caller decides)."""
        if between_files is not None:
            between_files()
        t0 = time.perf_counter()
        timings[f] = tf = {}
        try:
            hm = load_file(f, spec, as_name)
            tf["load"] = time.perf_counter() - t0
        except MetrologyError as exc:
            if f in named or not tolerant:
                input_error(f, str(exc), exc)
                return None
            names = ((as_name,) if as_name in spec.measurements
                     else spec.matching_measurements(Path(f).name, None))
            if only is not None:
                names = tuple(n for n in names if n in only)
            if len(names) == 1:
                analyses.append(FileSummary.unusable(
                    f, names[0], "--as" if as_name else "filename", "unreadable",
                    f"the file could not be read: {exc}"))
            else:
                ignored.append(FileIssue(f, f"not a measurement file: {exc}"))
            return None
        except MemoryError:
            input_error(f, "out of memory while reading the file")
            return None
        try:
            meas, by = assign_measurement(spec, f, hm.meta, as_name)
        except SpecError as exc:
            if f in named or not tolerant or (as_name is not None
                                              and as_name not in spec.measurements):
                input_error(f, str(exc), exc)
            else:
                ignored.append(FileIssue(f, str(exc)))
            return None
        if only is not None and meas not in only:
            ignored.append(FileIssue(f, f"measurement {meas!r} not requested (--only "
                                        f"{', '.join(only)})"))
            return None
        why = unjudgeable_reason(hm) if content else ""
        if why:
            analyses.append(FileSummary.unusable(f, meas, by, "unjudgeable", why, hm))
            return None
        return f, hm, meas, by

    # stage 2: references by the spec's rules, then each file loaded and assigned
    refs, plain, problems = split_references(spec, files)
    for paths, why in problems:
        input_error(paths[0], why, SpecError(why))
    bad_ref: dict[str, str] = {}       # measurement -> why its reference cannot be used
    for paths, why in problems:
        for m in spec.measurements:
            if spec.measurements[m].reference is not None and any(
                    spec.measurements[m].reference.matches(Path(q).name) for q in paths):
                bad_ref[m] = why
    loaded = [x for x in (load_assign(f, True) for f in plain) if x is not None]
    sites, problems = group_sites(spec, loaded)
    for paths, why in problems:
        input_error(paths[0], why, SpecError(why))
        fa0 = next(x for x in loaded if x[0] == paths[0])
        analyses.append(FileSummary.unusable(f"{paths[0]} (+{len(paths) - 1} repeats)",
                                             fa0[2], fa0[3], "unjudgeable", why, fa0[1]))
    if rep_files:
        got = [load_assign(f, False, content=False) for f in rep_files]
        if all(x is not None for x in got):
            try:
                sites.append(repeats_site(spec, got))
            except SpecError as exc:
                input_error(rep_files[0], str(exc), exc)
    if ref_file is not None:
        rep_meas = sites[-1].measurement if rep_files and sites and sites[-1].repeats_by \
            == "--repeats" else None
        try:
            target = reference_target(spec, ref_file, as_name=as_name,
                                      repeats_measurement=rep_meas)
        except MetrologyError as exc:
            input_error(ref_file, str(exc), exc)
        else:
            if target in refs:
                why = (f"--reference {ref_file}: measurement {target!r} already has the "
                       f"reference {refs[target][0]} in the part folder")
                input_error(ref_file, why, SpecError(why))
                bad_ref[target] = why
            else:
                refs[target] = (ref_file, "--reference")
    for site in sites:
        if site.measurement in refs:
            site.reference, site.reference_from = refs[site.measurement]

    # stage 2b-6: each site composed (reference, conversion, average) and analysed
    ref_maps: dict[str, tuple[Any, str] | str] = {}

    def site_reference(site: Site) -> tuple[Any, str]:
        """The site's reference map and SHA-256 (loaded once per part)."""
        from .sites import _sha256

        r = site.reference
        assert r is not None
        if r not in ref_maps:
            try:
                ref_maps[r] = (load_file(r, spec, site.measurement), _sha256(r))
            except (MetrologyError, OSError) as exc:
                ref_maps[r] = f"the reference file {r} could not be read: {exc}"
        got = ref_maps[r]
        if isinstance(got, str):
            raise MetrologyError(got)
        return got

    for site in sites:
        if between_files is not None:
            between_files()
        label = site.label
        by_hand = any(f in named for f in site.paths) or (
            site.reference is not None and site.reference in named)
        if site.measurement in bad_ref:
            analyses.append(FileSummary.unusable(label, site.measurement, site.assigned_by,
                                                 "unjudgeable", bad_ref[site.measurement],
                                                 site.maps[0]))
            continue
        t1 = time.perf_counter()
        try:
            ref = site_reference(site) if site.reference is not None else (None, None)
            hm, reps, source, blocked = compose_site(spec, site, *ref)
        except MetrologyError as exc:
            if by_hand:
                input_error(site.paths[0], str(exc), exc)
            analyses.append(FileSummary.unusable(
                label, site.measurement, site.assigned_by, "unjudgeable", str(exc),
                site.maps[0], source=SourceRecord(files=site.paths,
                                                  repeats_by=site.repeats_by)))
            continue
        except Exception as exc:  # noqa: BLE001 - any bug or hostile value: exit 2, one line
            input_error(site.paths[0], f"unexpected error while preparing the site "
                                       f"({_one_line(exc)})")
            analyses.append(FileSummary.unusable(label, site.measurement, site.assigned_by,
                                                 "unjudgeable",
                                                 f"unexpected error ({_one_line(exc)})",
                                                 site.maps[0]))
            continue
        meas, by, f = site.measurement, site.assigned_by, site.paths[0]
        if site.repeats_by == "--repeats":   # named as repeats: each must hold a surface
            why = next((f"{q}: {r}" for q, m in zip(site.paths, site.maps, strict=True)
                        if (r := unjudgeable_reason(m))), "")
            if why:
                why = f"--repeats {why}; it cannot be averaged with the other repeats"
                input_error(f, why, SpecError(why))
                analyses.append(FileSummary.unusable(label, meas, by, "unjudgeable", why, hm,
                                                     source=source))
                continue
        tf = timings.setdefault(label, {}) if label != f else timings[f]
        if label != f:
            tf["load"] = sum(timings.pop(q, {}).get("load", 0.0) for q in site.paths)
        try:
            analyses.append(analyze_file(spec, meas, hm, label, by, repeats=reps,
                                         source=source, blocked=blocked))
            tf["analysis"] = time.perf_counter() - t1
        except SpecError as exc:   # the file cannot be this measurement (a profile for an
            input_error(f, str(exc), exc)  # areal one): an input error, as the spec would be
            analyses.append(FileSummary.unusable(label, meas, by, "unjudgeable", str(exc), hm,
                                                 source=source))
        except MetrologyError as exc:
            analyses.append(FileSummary.unusable(label, meas, by, "unjudgeable",
                                                 f"the analysis failed: {exc}", hm,
                                                 source=source))
        except Exception as exc:  # noqa: BLE001 - any bug or hostile value: exit 2, one line
            input_error(f, f"unexpected error while analysing the file ({_one_line(exc)})")
            analyses.append(FileSummary.unusable(label, meas, by, "unjudgeable",
                                                 f"unexpected error ({_one_line(exc)})", hm,
                                                 source=source))
        del hm, reps
        site.maps.clear()
    del loaded, sites
    by_meas: dict[str, list[FileAnalysis]] = {}
    for fa in analyses:
        by_meas.setdefault(fa.measurement, []).append(fa)
    wanted = [m for m in spec.measurements if only is None or m in only]
    checked = [m for m in wanted if m in by_meas]
    missing = [m for m in spec.measurements if m not in by_meas]
    results: list[CriterionResult] = []
    t_crit = time.perf_counter()
    for c in spec.criteria:
        # criteria on the composite PSD see every file of the part (criteria/_composite.py)
        fas = analyses if c.measurement == COMPOSITE else by_meas.get(c.measurement, [])
        if only is not None and c.measurement not in only:   # composite: "--only composite"
            r = _aggregate(c, [], spec)
            r.verdict = NOT_CHECKED
            r.reason = f"measurement {c.measurement!r} not requested (--only {', '.join(only)})"
            results.append(r)
            continue
        if not fas and not part_check:
            r = _aggregate(c, [], spec)
            r.verdict = NOT_CHECKED
            r.reason = (f"no file for measurement {c.measurement!r} was given "
                        "(not a part check)")
            results.append(r)
            continue
        try:
            sites_v = c.evaluate_part(fas)
            if sites_v is None:
                sites_v = []
                for fa in fas:
                    try:
                        sites_v.append(evaluate(c, fa))
                    except Exception as exc:  # noqa: BLE001 - exit 2, one line, the file
                        input_error(fa.path, f"unexpected error in criterion {c.id} "
                                             f"({_one_line(exc)})")
                        sites_v.append(SiteValue(fa.path, None, NOT_MEASURABLE,
                                                 f"unexpected error ({_one_line(exc)})"))
        except MetrologyError:
            raise
        except Exception as exc:  # noqa: BLE001
            where = ", ".join(fa.path for fa in fas) or "(no file)"
            input_error(where, f"unexpected error in criterion {c.id} ({_one_line(exc)})")
            sites_v = [SiteValue(fa.path, None, NOT_MEASURABLE,
                                 f"unexpected error ({_one_line(exc)})") for fa in fas]
        results.append(_aggregate(c, sites_v, spec))
    if name is None:
        parents = {str(Path(f).resolve().parent) for f in [*files, *rep_files]}
        name = Path(parents.pop()).name if len(parents) == 1 else "files"
    return PartResult(name=name, part_check=part_check, files=analyses, criteria=results,
                      measurements_checked=checked,
                      measurements_missing=[m for m in missing if m in wanted],
                      path=path, restricted_to=only, ignored=ignored, errors=errors,
                      timings_s={"criteria": time.perf_counter() - t_crit,
                                 "files": timings})


def _data_files(folder: Path) -> list[Path]:
    """The files of ``folder`` (not its sub-folders) that may be measurements: every
    regular, non-hidden file but the part's companions (``part.json``,
    ``*.truth.json``) and the reports metrology writes (recognised by name and by
    content, so a report written into a part folder is never read as a measurement)."""
    from .batch import candidate_files

    return [Path(p) for p in candidate_files(folder)[0]]


def check(spec: Spec, paths: Sequence[str | os.PathLike[str]], *, as_name: str | None = None,
          part_check: bool = False, only: Sequence[str] | None = None,
          per_file: bool = False, repeats: Sequence[str | os.PathLike[str]] = (),
          reference: str | os.PathLike[str] | None = None) -> CheckReport:
    """Check files and/or part folders against ``spec``, in this process.

    Every folder under ``paths`` that holds measurement files is one part (a
    part check over its files, with its repeats and reference files recognised
    by the spec's rules; folders of part folders are searched recursively, see
    :func:`metrology.batch.discover`); the plain files in ``paths`` and the
    ``repeats`` (one site: repeats of one measurement, averaged) form one more
    part, a part check only when ``part_check`` is set; ``per_file``: every
    file is a part of its own, except that the repeats of one site stay one
    part (``docs/batch.md``). ``reference`` is subtracted from the files of its
    measurement among the plain files and the repeats (:mod:`metrology.sites`).
    ``only``: check only these measurements. The results keep every array
    (maps, fits, PSDs) for the reports; :func:`metrology.check_many` runs the
    same parts on all cores and keeps none.

    Raises
    ------
    MetrologyError
        A path that does not exist, a folder without measurement files, a file
        named on its own that cannot be read or assigned (its own error:
        :class:`FileFormatError`, :class:`SpecError`), repeats or a reference
        that cannot be used, ``reference`` without loose files or repeats, an
        unexpected failure (:class:`CheckError`).
    """
    from .batch import discover

    found = discover(paths, spec, per_file=per_file, part_check=part_check, as_name=as_name,
                     repeats=repeats, reference=reference)
    parts: list[PartResult] = []
    ignored = list(found.ignored)
    for task in found.tasks:
        part = check_part(spec, task.files, as_name=as_name, part_check=task.part_check,
                          name=task.name, only=only, explicit=task.explicit,
                          on_error="raise", path=task.path, repeats=task.repeats,
                          reference=task.reference)
        part.ignored = [*task.ignored, *part.ignored]
        if not part.files and not task.loose and not task.magic:
            ignored += part.ignored             # a folder with no measurement of the spec
            continue
        parts.append(part)
    return CheckReport(spec=spec, parts=parts, ignored=ignored)


# ----------------------------------------------------------------------------- reporting

def decision_dict(spec: Spec) -> dict[str, Any]:
    """The decision rule and noise correction of a check, for every report."""
    from .decision import DecisionRule

    rule = DecisionRule(spec.decision_rule)
    return {"rule": rule.name, "description": rule.description,
            "default": spec.decision_rule == "simple",
            "coverage_factor_k": 2.0,
            "noise_correction": spec.noise_correction,
            "noise_correction_description": (
                "band values are judged noise-corrected where a noise floor is known "
                "(repeats): sqrt(V - V_noise), floored at 0" if spec.noise_correction else
                "band values are judged as measured (not noise-corrected); the noise floor "
                "is reported where known and the uncertainty of an uncorrected value "
                "includes the noise's bias")}


def display_units_dict(spec: Spec) -> list[dict[str, Any]]:
    """Each display unit of the spec with its conversion statement."""
    from .units import display_unit

    out = []
    for u in spec.display_units:
        d = display_unit(u, spec.part.test_wavelength_nm, "surface")
        out.append({"unit": d.unit, "label": d.label, "nm_per_unit": d.nm_per_unit,
                    "wavelength_nm": d.wavelength_nm, "statement": d.statement})
    return out


def display_values(spec: Spec, unit: str, value: float | None, limit: float,
                   U: float | None, extra: dict[str, float] | None = None
                   ) -> dict[str, dict[str, Any]]:
    """``{unit: {value, limit, U}}`` of a height criterion (unit nm) in every display unit
    of the spec other than nm (surface heights; ``docs/spec-schema.md``); ``extra``: more
    named figures in nm (the PV of the power term)."""
    if unit != "nm":
        return {}
    from .units import display_unit

    out: dict[str, dict[str, Any]] = {}
    for u in spec.display_units:
        if u == "nm":
            continue
        d = display_unit(u, spec.part.test_wavelength_nm, "surface")
        out[d.unit] = {"label": d.label,
                       "value": None if value is None else d.from_nm(value),
                       "limit": d.from_nm(limit),
                       "U": None if U is None else d.from_nm(U),
                       **{k: d.from_nm(v) for k, v in (extra or {}).items()}}
    return jsonable(out)
