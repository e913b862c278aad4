"""The check engine: measurement files against a spec, criterion by criterion.

Flow for one part (:func:`check_part`):

1. every file is loaded and assigned to a measurement of the spec (``--as``,
   then the spec's metadata / filename rules; none or several is an input
   error);
2. each file is analysed once for its measurement (:func:`analyze_file`):
   clear aperture, preprocessing (one joint least-squares removal), the joint
   Zernike fit the criteria need, the PSD of the form residual;
3. every criterion of the measurement gets, per file (site), a value and a
   verdict ``pass`` / ``fail`` / ``not-measurable`` with the reason; the
   criterion's verdict is the worst site's;
4. measurements with no file: in a part check their criteria are
   ``not-measurable`` ("no file for measurement X"); otherwise they are listed
   as ``not-checked`` (shown, never counted as a pass).

Verdict order (worst first): fail > not-measurable > pass. A criterion is never
skipped and ``not-measurable`` never counts as a pass (CONVENTIONS.md).

Exit codes (:func:`exit_code`): 0 every checked criterion passes, 1 a
criterion fails, 3 nothing fails but something is not measurable or a
measurement of the part is missing, 2 usage or input errors (raised as
exceptions before a report exists).
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import aperture as _ap
from ._version import __version__
from .errors import MetrologyError, SpecError
from .heightmap import HeightMap
from .spec import (
    BandCriterion,
    BandSlopeCriterion,
    Criterion,
    FormResidualCriterion,
    Measurement,
    PsdLimitCriterion,
    PVrCriterion,
    RequirementCriterion,
    Spec,
    ZernikeOtherTermsCriterion,
    ZernikeTermCriterion,
)

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
    "assign_measurement",
    "analyze_file",
    "check_part",
    "check",
    "exit_code",
    "PSD_WINDOW",
]

PASS, FAIL, NOT_MEASURABLE, NOT_CHECKED = "pass", "fail", "not-measurable", "not-checked"
_RANK = {PASS: 0, NOT_CHECKED: 0, NOT_MEASURABLE: 1, FAIL: 2}

#: window used for every PSD-based criterion (recorded in each result)
PSD_WINDOW = "hann"

#: data-file extensions looked at when a directory is given
_SKIP_SUFFIXES = {".json", ".md", ".toml", ".html", ".xml", ".png"}


@dataclass
class SiteValue:
    """The value of one criterion on one file (site)."""

    file: str
    value: float | None
    verdict: str
    reason: str = ""
    margin: float | None = None


@dataclass
class CriterionResult:
    """A criterion's verdict (the worst site's) with its number, unit and convention."""

    id: str
    type: str
    measurement: str
    description: str
    verdict: str
    value: float | None
    limit: float
    bound: str
    unit: str
    margin: float | None
    reason: str
    convention: dict[str, Any]
    file: str | None
    sites: list[SiteValue] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("id", "type", "measurement", "description",
                                           "verdict", "value", "limit", "bound", "unit",
                                           "margin", "reason", "convention", "file")}
        d["sites"] = [vars(s).copy() for s in self.sites]
        return _finite(d)


@dataclass
class FileAnalysis:
    """What was computed for one file; the report draws its figures from it."""

    path: str
    measurement: str
    assigned_by: str
    meta: dict[str, Any]
    shape: tuple[int, int]
    dx_mm: float
    dy_mm: float
    valid_fraction: float
    rms_nm: float | None
    pv_nm: float | None
    aperture: dict[str, Any] | None
    valid_fraction_in_aperture: float
    pixels_across: float
    hm: HeightMap | None = None
    preprocessed: HeightMap | None = None
    residual: HeightMap | None = None
    fits: dict[tuple, Any] = field(default_factory=dict)
    psd: Any = None
    profile: Any = None
    blocked_reason: str = ""
    removed: tuple[str, ...] = ()
    filled_pixels: int = 0

    def to_dict(self) -> dict[str, Any]:
        m = self.meta
        return _finite({
            "path": self.path,
            "measurement": self.measurement,
            "assigned_by": self.assigned_by,
            "format": m.get("format"),
            "instrument": m.get("instrument"),
            "wavelength_nm": m.get("wavelength_nm"),
            "shape": list(self.shape),
            "dx_mm": self.dx_mm,
            "dy_mm": self.dy_mm,
            "valid_fraction": self.valid_fraction,
            "rms_nm": self.rms_nm,
            "pv_nm": self.pv_nm,
            "aperture": self.aperture,
            "valid_fraction_in_aperture": self.valid_fraction_in_aperture,
            "pixels_across": self.pixels_across,
            "removed": list(self.removed),
            "dropouts_interpolated_px": self.filled_pixels,
        })


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
    def verdict(self) -> str:
        """fail > not-measurable > pass over the checked criteria."""
        ranks = [_RANK[c.verdict] for c in self.criteria if c.verdict != NOT_CHECKED]
        worst = max(ranks, default=0)
        if self.part_check and self.measurements_missing:
            worst = max(worst, 1)
        return {0: PASS, 1: NOT_MEASURABLE, 2: FAIL}[worst]

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
        out = {PASS: 0, FAIL: 0, NOT_MEASURABLE: 0, NOT_CHECKED: 0}
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
    def verdict(self) -> str:
        ranks = [_RANK[p.verdict] for p in self.parts]
        return {0: PASS, 1: NOT_MEASURABLE, 2: FAIL}[max(ranks, default=0)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict following ``metrology/schemas/check-report-1.json``."""
        s = self.spec
        return {
            "schema": "metrology.check-report/1",
            "tool": {"name": "metrology", "version": self.tool_version},
            "created": self.created,
            "spec": {"source": s.source, "sha256": s.sha256, "schema": s.schema,
                     "part": {"name": s.part.name, "material": s.part.material,
                              "surface_id": s.part.surface_id,
                              "test_wavelength_nm": s.part.test_wavelength_nm},
                     "warnings": list(s.warnings)},
            "verdict": self.verdict,
            "exit_code": exit_code(self),
            "units": {"height": "nm", "length": "mm", "frequency": "cycles/mm",
                      "slope": "urad", "psd_1d": "nm^2 mm", "psd_2d": "nm^2 mm^2"},
            "parts": [p.to_dict() for p in self.parts],
        }


def exit_code(report: CheckReport) -> int:
    """0 pass, 1 any fail, 3 not measurable / missing measurement (no fail)."""
    v = report.verdict
    return 1 if v == FAIL else 3 if v == NOT_MEASURABLE else 0


def _finite(obj: Any) -> Any:
    """Replace NaN / inf by None so the JSON is standard."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    if isinstance(obj, np.floating):
        return _finite(float(obj))
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


# ----------------------------------------------------------------------------- assignment

def assign_measurement(spec: Spec, path: str | os.PathLike[str], meta: Mapping[str, Any],
                       as_name: str | None = None) -> tuple[str, str]:
    """(measurement name, how it was assigned) for a file; :class:`SpecError` otherwise."""
    if as_name is not None:
        if as_name not in spec.measurements:
            raise SpecError(f"--as {as_name!r}: the spec declares no such measurement; "
                            f"declared: {', '.join(spec.measurements)}")
        return as_name, "--as"
    names = spec.matching_measurements(Path(path).name, meta)
    if len(names) == 1:
        m = spec.measurements[names[0]]
        by_meta = bool(m.match.meta) and m.match.matches(None, meta)
        return names[0], "metadata" if by_meta else "filename"
    if not names:
        raise SpecError(f"{path}: matches no measurement of the spec (declared: "
                        f"{', '.join(spec.measurements)}); rename the file, fix the spec's "
                        "match rules, or pass --as NAME")
    raise SpecError(f"{path}: matches several measurements ({', '.join(names)}); "
                    "pass --as NAME")


# ----------------------------------------------------------------------------- analysis

def _zernike_groups(criteria: Sequence[Criterion]) -> dict[tuple, list[Criterion]]:
    groups: dict[tuple, list[Criterion]] = {}
    for c in criteria:
        if isinstance(c, ZernikeTermCriterion | ZernikeOtherTermsCriterion |
                      FormResidualCriterion | PVrCriterion):
            norm = getattr(c, "normalisation", "rms")
            key = (c.scheme, norm, float(c.r_norm_mm), tuple(c.joint_fit_terms))
            groups.setdefault(key, []).append(c)
    return groups


def analyze_file(spec: Spec, measurement: str, hm: HeightMap, path: str,
                 assigned_by: str = "--as") -> FileAnalysis:
    """Aperture, preprocessing, Zernike fits and PSD of one file for ``measurement``."""
    from .fill import fill_dropouts
    from .spectral import psd as _psd
    from .zernike import fit_zernike, remove

    m: Measurement = spec.measurements[measurement]
    criteria = spec.criteria_for(measurement)
    ap_info: dict[str, Any] | None = None
    region: np.ndarray | None = None
    blocked = ""
    if hm.n_valid == 0:
        blocked = "the map has no valid pixels"
    if m.aperture is not None and not blocked:
        a = m.aperture
        centre = a.centre_mm if a.centre == "given" and a.centre_mm else _ap.fit_circle(hm)[0]
        mask = _ap.circle(hm, a.diameter_mm, centre)
        area_px = math.pi * (a.diameter_mm / 2) ** 2 / (hm.dx_mm * hm.dy_mm)
        n_in = int(np.count_nonzero(mask & hm.valid))
        across = round(a.diameter_mm / max(hm.dx_mm, hm.dy_mm), 6)  # no 199.99999999999997
        ap_info = {"diameter_mm": a.diameter_mm, "r_norm_mm": a.r_norm_mm,
                   "centre_mm": [float(centre[0]), float(centre[1])],
                   "centre_from": a.centre}
        # the CA must lie inside the measured array; else nothing about it can be judged
        x0, y0 = centre
        r = a.diameter_mm / 2
        ex, ey = hm.extent_mm
        inside_array = (abs(x0) + r <= ex / 2 + hm.dx_mm and abs(y0) + r <= ey / 2 + hm.dy_mm)
        # pixels of the CA: counted on the grid when it lies on the array, else its area
        n_ca = int(np.count_nonzero(mask)) if inside_array else max(area_px, 1.0)
        vf = n_in / n_ca if n_ca else 0.0
        min_vf = m.requirements.min_valid_fraction
        if not inside_array:
            blocked = (f"clear aperture Ø{a.diameter_mm:g} mm at ({x0:.3g}, {y0:.3g}) mm is "
                       f"larger than the measured field ({ex:.3g} x {ey:.3g} mm)")
        elif min_vf is not None and vf < min_vf:
            blocked = (f"clear aperture larger than the valid data: only {vf:.1%} of the "
                       f"Ø{a.diameter_mm:g} mm aperture is valid (need {min_vf:.0%})")
        elif n_in == 0:
            blocked = "no valid pixel inside the clear aperture"
        work = hm.apply_mask(mask, note=f"clear aperture Ø{a.diameter_mm:g} mm")
        region = mask
    else:
        work = hm
        vf = hm.valid_fraction
        across = float(min(hm.shape)) if hm.dx_mm == hm.dy_mm else round(
            min(hm.shape[0] * hm.dy_mm, hm.shape[1] * hm.dx_mm) / max(hm.dx_mm, hm.dy_mm), 6)
    fa = FileAnalysis(
        path=str(path), measurement=measurement, assigned_by=assigned_by, meta=dict(hm.meta),
        shape=hm.shape, dx_mm=hm.dx_mm, dy_mm=hm.dy_mm, valid_fraction=hm.valid_fraction,
        rms_nm=hm.rms_nm if hm.n_valid else None, pv_nm=hm.pv_nm if hm.n_valid else None,
        aperture=ap_info, valid_fraction_in_aperture=vf, pixels_across=across, hm=hm,
        blocked_reason=blocked)
    if blocked:
        return fa
    centre_mm = tuple(ap_info["centre_mm"]) if ap_info else None
    try:
        pre = remove(work, list(m.preprocessing.remove)) if m.preprocessing.remove else work
    except MetrologyError as exc:
        fa.blocked_reason = f"preprocessing failed: {exc}"
        return fa
    fa.preprocessed = pre
    fa.removed = tuple(m.preprocessing.remove)
    residual = pre
    for key, _crits in _zernike_groups(criteria).items():
        scheme, norm, r_norm, terms = key
        try:
            fit = fit_zernike(pre, list(terms), scheme=scheme, normalization=norm,
                              radius_mm=r_norm, center_mm=centre_mm, allow_outside=True)
        except MetrologyError as exc:
            fa.fits[key] = exc
            continue
        fa.fits[key] = fit
        residual = fit.residual
    fa.residual = residual
    if any(isinstance(c, BandCriterion | BandSlopeCriterion | PsdLimitCriterion)
           for c in criteria):
        try:
            # dropouts inside the aperture would bias band powers low: interpolate them
            filled, fa.filled_pixels = fill_dropouts(residual, region)
            fa.psd = _psd(filled, window=PSD_WINDOW, remove=())
            line_dir = spec.psd.direction if spec.psd is not None else "x"
            fa.profile = fa.psd.profile(line_dir or "x", one_sided=True)  # for the figures
        except MetrologyError as exc:
            fa.psd = exc
    return fa


def _site(c: Criterion, fa: FileAnalysis, value: float | None, reason: str = "") -> SiteValue:
    if value is None or not math.isfinite(value):
        return SiteValue(fa.path, None, NOT_MEASURABLE, reason or "value could not be computed")
    verdict = PASS if c.within(value) else FAIL
    return SiteValue(fa.path, float(value), verdict, reason, float(c.margin(value)))


def _requirement(c: RequirementCriterion, fa: FileAnalysis, n_files: int) -> SiteValue:
    if c.quantity == "valid_fraction":
        return _site(c, fa, fa.valid_fraction_in_aperture,
                     "valid pixels / pixels inside the clear aperture" if fa.aperture else
                     "valid pixels / pixels of the field")
    if c.quantity == "pixels_across":
        return _site(c, fa, fa.pixels_across)
    return _site(c, fa, float(n_files))


def _zernike_value(c: Criterion, fit: Any) -> float:
    if isinstance(c, ZernikeTermCriterion):
        return float(math.sqrt(sum(fit.coefficient(j) ** 2 for j in c.terms)))
    if isinstance(c, ZernikeOtherTermsCriterion):
        mags = [math.sqrt(sum(fit.coefficient(j) ** 2 for j in g)) for g in c.groups]
        return max(mags, default=0.0)
    if isinstance(c, FormResidualCriterion):
        if c.statistic == "rms":
            return float(fit.residual_rms_nm)
        return float(fit.residual.pv_nm)
    if isinstance(c, PVrCriterion):
        keep = np.array([j in set(c.fit_terms) for j in fit.indices])
        form = fit.geometry.evaluate(np.where(keep, fit.coefficients_nm, 0.0))
        return float(form.max() - form.min() + 3.0 * fit.residual_rms_nm)
    raise TypeError(c)  # pragma: no cover


def _psd_limit_value(c: PsdLimitCriterion, fa: FileAnalysis) -> tuple[float | None, str, dict]:
    """Largest ratio (mean measured PSD in a log bin) / (mean limit line over the same samples).

    The measured PSD is the one the line is written for: the profile PSD along
    ``line.direction`` (one- or two-sided as ``line.sidedness`` says; for the
    two-sided PSD the f > 0 half is compared) or the radial PSD (annulus cell
    sum / width, on the log bins themselves).
    """
    line = c.line
    detail: dict[str, Any] = {"bins": [], "psd": line.kind, "sidedness": line.sidedness}
    if line.kind == "radial":
        fmin, fmax = fa.psd.f_min_per_mm, fa.psd.f_max_per_mm
    else:
        prof = fa.psd.profile(line.direction or "x", one_sided=line.sidedness == "one-sided")
        fmin, fmax = prof.f_min_per_mm, prof.f_max_per_mm
    worst = -math.inf
    for lo, hi in c.f_ranges_per_mm:
        if lo < fmin * (1 - 1e-9) or hi > fmax * (1 + 1e-9):
            return None, (f"PSD limit range {lo:g}-{hi:g} /mm is outside what this file "
                          f"resolves ({fmin:.4g}-{fmax:.4g} /mm)"), detail
        k0 = math.floor(math.log10(lo) * line.bins_per_decade + 1e-9)
        k1 = math.ceil(math.log10(hi) * line.bins_per_decade - 1e-9)
        edges = 10.0 ** (np.arange(k0, k1 + 1) / line.bins_per_decade)
        edges[0], edges[-1] = lo, hi
        if line.kind == "radial":
            rad = fa.psd.radial(bins=edges)
            for e0, e1, v, fm in zip(edges[:-1], edges[1:], rad.values, rad.f_mean_per_mm,
                                     strict=True):
                if not math.isfinite(v):
                    continue
                ratio = float(v / line.value_nm2_mm(fm))
                detail["bins"].append([float(e0), float(e1), ratio])
                worst = max(worst, ratio)
            continue
        f, p = prof.f_per_mm, prof.values
        for e0, e1 in zip(edges[:-1], edges[1:], strict=True):
            sel = (f >= e0) & (f < e1) & (f > 0)
            if not sel.any():
                continue
            ratio = float(np.mean(p[sel]) / np.mean(line.value_nm2_mm(f[sel])))
            detail["bins"].append([float(e0), float(e1), ratio])
            worst = max(worst, ratio)
    if worst == -math.inf:
        return None, "no PSD sample falls in the limit line's range", detail
    return worst, "", detail


def _evaluate(c: Criterion, fa: FileAnalysis, n_files: int) -> SiteValue:
    if isinstance(c, RequirementCriterion):
        return _requirement(c, fa, n_files)
    if fa.blocked_reason:
        return SiteValue(fa.path, None, NOT_MEASURABLE, fa.blocked_reason)
    if isinstance(c, ZernikeTermCriterion | ZernikeOtherTermsCriterion |
                  FormResidualCriterion | PVrCriterion):
        norm = getattr(c, "normalisation", "rms")
        fit = fa.fits.get((c.scheme, norm, float(c.r_norm_mm), tuple(c.joint_fit_terms)))
        if fit is None or isinstance(fit, Exception):
            return SiteValue(fa.path, None, NOT_MEASURABLE, f"Zernike fit not possible: {fit}")
        return _site(c, fa, _zernike_value(c, fit))
    if isinstance(fa.psd, Exception) or fa.psd is None:
        return SiteValue(fa.path, None, NOT_MEASURABLE, f"PSD not possible: {fa.psd}")
    if isinstance(c, BandCriterion | BandSlopeCriterion):
        from .spectral import band_rms, slope_rms

        b = c.band
        if isinstance(c, BandCriterion):
            r = band_rms(fa.psd if b.kind == "areal" else fa.psd.profile(b.direction or "x",
                                                                          one_sided=True),
                         b.f_lo_per_mm, b.f_hi_per_mm, kind=b.kind, axis=b.direction or "x")
            if not r.fully_covered:
                return SiteValue(fa.path, None, NOT_MEASURABLE, r.reason)
            return _site(c, fa, r.rms_nm)
        s = slope_rms(fa.psd, band=(b.f_lo_per_mm, b.f_hi_per_mm))
        if not s.fully_covered:
            return SiteValue(fa.path, None, NOT_MEASURABLE, s.reason)
        value = s.magnitude_urad if b.kind == "areal" else (
            s.x_urad if (b.direction or "x") == "x" else s.y_urad)
        return _site(c, fa, value)
    if isinstance(c, PsdLimitCriterion):
        v, reason, _ = _psd_limit_value(c, fa)
        if v is None:
            return SiteValue(fa.path, None, NOT_MEASURABLE, reason)
        return _site(c, fa, v)
    raise SpecError(f"criterion {c.id}: type {type(c).__name__} has no evaluator")


def _convention(spec: Spec, c: Criterion) -> dict[str, Any]:
    conv: dict[str, Any] = {}
    if isinstance(c, ZernikeTermCriterion | ZernikeOtherTermsCriterion |
                  FormResidualCriterion | PVrCriterion):
        conv.update(scheme=c.scheme, normalization=getattr(c, "normalisation", "rms"),
                    r_norm_mm=c.r_norm_mm, joint_fit_terms=list(c.joint_fit_terms),
                    basis="circle polynomials, plain least squares over the valid pixels")
        if isinstance(c, ZernikeTermCriterion):
            conv["terms"] = list(c.terms)
            conv["orders"] = [list(o) for o in c.orders]
        if isinstance(c, FormResidualCriterion | PVrCriterion):
            conv["fit_terms"] = [min(c.fit_terms), max(c.fit_terms)] if c.fit_terms else []
    elif isinstance(c, BandCriterion | BandSlopeCriterion):
        b = c.band
        conv.update(band=b.name, f_lo_per_mm=b.f_lo_per_mm, f_hi_per_mm=b.f_hi_per_mm,
                    period_mm=[b.period_max_mm, b.period_min_mm], kind=b.kind,
                    direction=b.direction, window=PSD_WINDOW,
                    psd="2-D periodogram, cells summed over f_lo <= |f| < f_hi"
                    if b.kind == "areal" else "profile PSD, one-sided",
                    removed_before_psd="joint Zernike fit of the measurement (form residual)",
                    dropouts="interpolated by normalised convolution before the PSD")
    elif isinstance(c, PsdLimitCriterion):
        line = c.line
        conv.update(psd_kind=line.kind, sidedness=line.sidedness, direction=line.direction,
                    window=PSD_WINDOW, bins_per_decade=line.bins_per_decade,
                    f_ranges_per_mm=[list(r) for r in c.f_ranges_per_mm],
                    segments=[{"a_nm2_mm": s.a_nm2_mm, "b": s.b, "f_lo_per_mm": s.f_lo_per_mm,
                               "f_hi_per_mm": s.f_hi_per_mm} for s in line.segments],
                    value="largest ratio (mean PSD in a log bin) / (mean line in that bin)")
    elif isinstance(c, RequirementCriterion):
        conv["quantity"] = c.quantity
    return conv


def _aggregate(spec: Spec, c: Criterion, sites: list[SiteValue]) -> CriterionResult:
    base = dict(id=c.id, type=c.TYPE, measurement=c.measurement,
                description=c.description, limit=float(c.limit), bound=c.bound, unit=c.unit,
                convention=_convention(spec, c))
    if not sites:
        return CriterionResult(**base, verdict=NOT_MEASURABLE, value=None, margin=None,
                               reason=f"no file for measurement {c.measurement!r}", file=None,
                               sites=[])
    failing = [s for s in sites if s.verdict == FAIL]
    nm = [s for s in sites if s.verdict == NOT_MEASURABLE]
    pool = failing or ([] if nm else sites)
    if pool:
        worst = min(pool, key=lambda s: s.margin if s.margin is not None else math.inf)
    else:
        worst = nm[0]
    verdict = FAIL if failing else NOT_MEASURABLE if nm else PASS
    reason = worst.reason if verdict != NOT_MEASURABLE else "; ".join(
        dict.fromkeys(f"{Path(s.file).name}: {s.reason}" for s in nm))
    return CriterionResult(**base, verdict=verdict, value=worst.value, margin=worst.margin,
                           reason=reason, file=worst.file, sites=sites)


def check_part(spec: Spec, files: Sequence[str | os.PathLike[str]], *,
               as_name: str | None = None, part_check: bool = False,
               name: str | None = None) -> PartResult:
    """Check one part: every file against its measurement's criteria.

    Parameters
    ----------
    spec : Spec
    files : sequence of path
        Measurement files (any format :func:`metrology.load` reads).
    as_name : str, optional
        Assign every file to this measurement.
    part_check : bool
        The files are the whole part: a measurement without a file makes the
        part ``not-measurable``.
    name : str, optional
        Name of the part in reports (default: the common folder).

    Raises
    ------
    MetrologyError
        A file cannot be read or assigned (exit code 2 on the command line).
    """
    from .io import load

    analyses: list[FileAnalysis] = []
    for f in files:
        hm = load(f)
        meas, by = assign_measurement(spec, f, hm.meta, as_name)
        analyses.append(analyze_file(spec, meas, hm, str(f), by))
    by_meas: dict[str, list[FileAnalysis]] = {}
    for fa in analyses:
        by_meas.setdefault(fa.measurement, []).append(fa)
    checked = [m for m in spec.measurements if m in by_meas]
    missing = [m for m in spec.measurements if m not in by_meas]
    results: list[CriterionResult] = []
    for c in spec.criteria:
        fas = by_meas.get(c.measurement, [])
        if not fas and not part_check:
            r = _aggregate(spec, c, [])
            r.verdict = NOT_CHECKED
            r.reason = (f"no file for measurement {c.measurement!r} was given "
                        "(not a part check)")
            results.append(r)
            continue
        if isinstance(c, RequirementCriterion) and c.quantity == "sites":
            sites = [SiteValue(", ".join(Path(fa.path).name for fa in fas) or "(none)",
                               float(len(fas)), PASS if c.within(len(fas)) else FAIL,
                               "", float(c.margin(len(fas))))]
            results.append(_aggregate(spec, c, sites) if fas else _aggregate(spec, c, []))
            continue
        results.append(_aggregate(spec, c, [_evaluate(c, fa, len(fas)) for fa in fas]))
    if name is None:
        parents = {str(Path(f).resolve().parent) for f in files}
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
          part_check: bool = False) -> CheckReport:
    """Check files and/or part folders against ``spec``.

    Each folder in ``paths`` is one part (a part check over its data files);
    the plain files in ``paths`` form one more part, a part check only when
    ``part_check`` is set.
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
    if loose:
        parts.append(check_part(spec, loose, as_name=as_name, part_check=part_check))
    return CheckReport(spec=spec, parts=parts)
