"""The check engine: measurement files against a spec, criterion by criterion.

Flow for one part (:func:`check_part`):

1. every file goes through the analysis pipeline (:mod:`metrology.pipeline`):
   loaded, assigned to a measurement of the spec (``--as``, then the spec's
   metadata / filename rules; none or several is an input error), and analysed
   once for its measurement (clear aperture, preprocessing, the joint Zernike
   fits and the PSD its criteria ask for);
2. every criterion of the measurement evaluates, per file (site), a value and
   a verdict ``pass`` / ``fail`` / ``not-measurable`` with the reason and one
   evidence record; the criterion's verdict is the worst site's;
3. measurements with no file: in a part check their criteria are
   ``not-measurable`` ("no file for measurement X"); otherwise they are listed
   as ``not-checked`` (shown, never counted as a pass).

Verdicts and their order are :class:`metrology.verdicts.Verdict`; a criterion
is never skipped and ``not-measurable`` never counts as a pass
(``docs/conventions.md``). Exit codes are :class:`metrology.verdicts.ExitCode`
(:func:`exit_code`): 0 every checked criterion passes, 1 a criterion fails,
3 nothing fails but something is not measurable or a measurement of the part
is missing, 2 usage or input errors (raised as exceptions before a report
exists).
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._json import jsonable
from ._version import __version__
from .criteria import PSD, Criterion, Evidence, FitRequest, SiteValue, Uncertainty
from .errors import SpecError
from .pipeline import (
    PSD_WINDOW,
    FileAnalysis,
    analyze_file,
    assign_measurement,
)
from .sites import analyze_site, plan_sites
from .spec import Spec
from .spec.model import COMPOSITE
from .verdicts import ExitCode, Verdict, exit_code_for, worst

__all__ = [
    "PASS",
    "FAIL",
    "NOT_MEASURABLE",
    "NOT_CHECKED",
    "SiteValue",
    "CriterionResult",
    "FileAnalysis",
    "PartResult",
    "CheckReport",
    "REPORT_SCHEMA",
    "assign_measurement",
    "analyze_file",
    "evaluate",
    "check_part",
    "check",
    "exit_code",
    "PSD_WINDOW",
]

PASS, FAIL = Verdict.PASS, Verdict.FAIL
NOT_MEASURABLE, NOT_CHECKED = Verdict.NOT_MEASURABLE, Verdict.NOT_CHECKED

#: the ``schema`` of :meth:`CheckReport.to_dict` (``metrology/schemas/check-report-2.json``)
REPORT_SCHEMA = "metrology.check-report/2"

#: data-file extensions looked at when a directory is given
_SKIP_SUFFIXES = {".json", ".md", ".toml", ".html", ".xml", ".png"}


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
    """Verdicts of one part (a set of files checked together)."""

    name: str
    part_check: bool
    files: list[FileAnalysis]
    criteria: list[CriterionResult]
    measurements_checked: list[str]
    measurements_missing: list[str]

    @property
    def verdict(self) -> Verdict:
        """fail > not-measurable > pass over the checked criteria."""
        v = worst(c.verdict for c in self.criteria if c.verdict is not NOT_CHECKED)
        if self.part_check and self.measurements_missing:
            v = worst((v, NOT_MEASURABLE))
        return v

    @property
    def scope(self) -> str:
        """Which part of the spec was checked, in words."""
        if self.part_check:
            return "whole part (every measurement of the spec)"
        if self.measurements_missing:
            return (f"measurements {', '.join(self.measurements_checked) or '(none)'} only; "
                    f"not checked: {', '.join(self.measurements_missing)}")
        return "every measurement of the spec"

    def counts(self) -> dict[str, int]:
        out = {v.value: 0 for v in (PASS, FAIL, NOT_MEASURABLE, NOT_CHECKED)}
        for c in self.criteria:
            out[c.verdict] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "part_check": self.part_check,
            "verdict": self.verdict,
            "scope": self.scope,
            "counts": self.counts(),
            "measurements_checked": self.measurements_checked,
            "measurements_missing": self.measurements_missing,
            "files": [f.to_dict() for f in self.files],
            "criteria": [c.to_dict() for c in self.criteria],
        }


@dataclass
class CheckReport:
    """Everything a report shows: the spec, the parts, the verdicts."""

    spec: Spec
    parts: list[PartResult]
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.UTC).isoformat(
        timespec="seconds"))
    tool_version: str = __version__

    @property
    def verdict(self) -> Verdict:
        return worst(p.verdict for p in self.parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict following ``metrology/schemas/check-report-2.json``."""
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
            "exit_code": exit_code(self),
            "decision": decision_dict(s),
            "display_units": display_units_dict(s),
            "units": {"height": "nm", "length": "mm", "frequency": "cycles/mm",
                      "slope": "urad", "psd_1d": "nm^2 mm", "psd_2d": "nm^2 mm^2"},
            "parts": [p.to_dict() for p in self.parts],
        }


def exit_code(report: CheckReport) -> ExitCode:
    """0 pass, 1 any fail, 3 not measurable / missing measurement (no fail)."""
    return exit_code_for(report.verdict)


# ----------------------------------------------------------------------------- evaluation

#: why a criterion cannot judge the file's kind of data (``Criterion.DATA``)
_DATA_REASON = {
    "profile": "{} needs an areal height map; this file is a profile (a 1-D trace)",
    "map": "{} judges a profile (a 1-D trace such as a stylus profilometer file); this file "
           "is an areal height map",
}

def evaluate(c: Criterion, fa: FileAnalysis) -> SiteValue:
    """One criterion on one analysed file: what the pipeline could not provide is
    ``not-measurable`` with the reason; otherwise the criterion's own ``evaluate``."""
    if fa.data_kind not in c.DATA:  # a profile criterion on a map, or an areal one on a trace
        return SiteValue(fa.path, None, NOT_MEASURABLE, _DATA_REASON[fa.data_kind].format(
            c.TYPE))
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


def check_part(spec: Spec, files: Sequence[str | os.PathLike[str]], *,
               as_name: str | None = None, part_check: bool = False,
               name: str | None = None,
               repeats: Sequence[str | os.PathLike[str]] = (),
               reference: str | os.PathLike[str] | None = None) -> PartResult:
    """Check one part: every file against its measurement's criteria.

    Parameters
    ----------
    spec : Spec
    files : sequence of path
        Measurement files (any format :func:`metrology.load` reads); reference files
        and repeats among them are recognised by the spec's rules
        (:func:`metrology.sites.plan_sites`).
    as_name : str, optional
        Assign every file to this measurement.
    part_check : bool
        The files are the whole part: a measurement without a file makes the
        part ``not-measurable``.
    name : str, optional
        Name of the part in reports (default: the common folder).
    repeats : sequence of path
        Repeats of one measurement of one surface (one more site, averaged).
    reference : path, optional
        A calibrated reference map subtracted from the files of its measurement.

    Raises
    ------
    MetrologyError
        A file cannot be read or assigned (exit code 2 on the command line).
    """
    analyses = [analyze_site(spec, site) for site in plan_sites(
        spec, files, as_name=as_name, repeats=repeats, reference=reference)]
    by_meas: dict[str, list[FileAnalysis]] = {}
    for fa in analyses:
        by_meas.setdefault(fa.measurement, []).append(fa)
    checked = [m for m in spec.measurements if m in by_meas]
    missing = [m for m in spec.measurements if m not in by_meas]
    results: list[CriterionResult] = []
    for c in spec.criteria:
        # criteria on the composite PSD see every file of the part (criteria/_composite.py)
        fas = analyses if c.measurement == COMPOSITE else by_meas.get(c.measurement, [])
        if not fas and not part_check:
            r = _aggregate(c, [], spec)
            r.verdict = NOT_CHECKED
            r.reason = (f"no file for measurement {c.measurement!r} was given "
                        "(not a part check)")
            results.append(r)
            continue
        sites = c.evaluate_part(fas)
        if sites is None:
            sites = [evaluate(c, fa) for fa in fas]
        results.append(_aggregate(c, sites, spec))
    if name is None:
        parents = {str(Path(f).resolve().parent) for f in [*files, *repeats]}
        name = Path(parents.pop()).name if len(parents) == 1 else "files"
    return PartResult(name=name, part_check=part_check, files=analyses, criteria=results,
                      measurements_checked=checked, measurements_missing=missing)


def _data_files(folder: Path) -> list[Path]:
    out = []
    for p in sorted(folder.iterdir()):
        if not p.is_file() or p.name.startswith("."):
            continue
        if p.name.endswith(".truth.json") or p.suffix.lower() in _SKIP_SUFFIXES:
            continue
        out.append(p)
    return out


def check(spec: Spec, paths: Sequence[str | os.PathLike[str]], *, as_name: str | None = None,
          part_check: bool = False, repeats: Sequence[str | os.PathLike[str]] = (),
          reference: str | os.PathLike[str] | None = None) -> CheckReport:
    """Check files and/or part folders against ``spec``.

    Each folder in ``paths`` is one part (a part check over its data files,
    with its repeats and reference files recognised by the spec's rules); the
    plain files in ``paths`` and the ``repeats`` (one site: repeats of one
    measurement, averaged) form one more part, a part check only when
    ``part_check`` is set. ``reference`` is subtracted from the files of its
    measurement in that part (:func:`metrology.sites.plan_sites`).
    """
    parts: list[PartResult] = []
    loose: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files = _data_files(p)
            if not files:
                raise SpecError(f"{p}: the folder holds no measurement file")
            parts.append(check_part(spec, files, as_name=as_name, part_check=True,
                                    name=p.name))
        else:
            loose.append(p)
    if loose or repeats:
        parts.append(check_part(spec, loose, as_name=as_name, part_check=part_check,
                                repeats=repeats, reference=reference))
    elif reference is not None:
        raise SpecError("--reference applies to loose files or --repeats, not to part "
                        "folders (name the reference in the spec: "
                        "[measurements.NAME.reference])")
    return CheckReport(spec=spec, parts=parts)


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
