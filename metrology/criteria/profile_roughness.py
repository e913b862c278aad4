"""``profile_roughness``: Ra, Rq, Rz, Rt of a profile (ISO 21920-2), ``[profile_roughness]``.

Judged on a :class:`~metrology.Profile` (a 1-D trace: a stylus profilometer
file, a two-column export), about its least-squares reference line, with the
ISO 21920-2 definitions (:class:`metrology.profile.Roughness`):

    Ra = mean |z|,  Rq = sqrt(mean z²)             over the evaluation length
    Rz = mean over the sections of (max z - min z) in the section
    Rt = max z - min z                             over the evaluation length

Spec::

    [profile_roughness]            # or [[profile_roughness]], one entry per measurement
    measurement = "stylus"
    lambda_c_mm = 0.8              # optional: ISO 16610-21 Gaussian cut-offs
    lambda_s_mm = 0.0025
    sections = 5                   # sampling lengths (default 5, ISO 21920-3)
    ra_nm_max = 5.0
    rq_nm_max = 7.0
    rz_nm_max = 40.0
    rt_nm_max = 60.0

Filters and evaluation length: **nothing is filtered unless the spec gives
cut-offs**. Without ``lambda_c_mm`` the evaluation length is the whole trace
(less ``lambda_s_mm`` at each end when an S-filter is given) in ``sections``
equal pieces, and the values are those of the primary profile (ISO 21920-2
names them Pa, Pq, Pz, Pt; the report says so). With
``lambda_c_mm`` the roughness profile is the trace minus its ISO 16610-21
Gaussian mean line, the sampling length is λc and the evaluation length
``sections`` x λc from the centre of the trace (a trace shorter than
(``sections`` + 1) x λc is ``not-measurable``); ``lambda_s_mm`` adds the
Gaussian S-filter. A map file is ``not-measurable`` for these criteria.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from ..errors import MetrologyError
from ..spec.context import MISSING, bad_type, check_keys, number
from ._base import Criterion, Evidence, SiteValue

if TYPE_CHECKING:  # pragma: no cover
    from ..pipeline import FileAnalysis
    from ..spec.schema import SpecDraft

__all__ = ["ProfileRoughnessCriterion", "ProfileRoughnessEvidence", "DEFINITIONS"]

#: parameter -> its ISO 21920-2 definition over the evaluation length
DEFINITIONS = {
    "ra": "arithmetic mean deviation: mean of |z| about the reference line",
    "rq": "root mean square deviation: sqrt(mean of z^2) about the reference line",
    "rz": "maximum height: mean over the sections of (largest z - smallest z)",
    "rt": "total height: largest z - smallest z over the evaluation length",
}
_PARAMS = tuple(DEFINITIONS)
_SECTION = "profile_roughness"


@dataclass(frozen=True)
class ProfileRoughnessEvidence(Evidence):
    """How one roughness value was evaluated: the profile, filters, lengths, points."""

    parameter: str          # "Ra" with a λc filter, "Pa" (primary profile) without
    definition: str
    profile: str
    reference_line: str
    lambda_c_mm: float | None
    lambda_s_mm: float | None
    evaluation_length_mm: float
    sections: int
    section_length_mm: float
    n_valid: int

    KIND: ClassVar[str] = "profile_roughness"


@dataclass(frozen=True, kw_only=True)
class ProfileRoughnessCriterion(Criterion):
    """One ISO 21920-2 height parameter (nm) of the profiles of a measurement."""

    TYPE: ClassVar[str] = "profile_roughness"
    SECTION: ClassVar[str] = _SECTION
    DATA: ClassVar[tuple[str, ...]] = ("profile",)

    parameter: Literal["ra", "rq", "rz", "rt"]
    sections: int = 5
    lambda_c_mm: float | None = None
    lambda_s_mm: float | None = None

    @classmethod
    def from_spec(cls, draft: SpecDraft) -> None:
        from ..spec.schema import LENGTH_MAX_MM

        raw = draft.doc.get(_SECTION, MISSING)
        if raw is MISSING:
            return
        ctx = draft.ctx
        if isinstance(raw, dict):
            entries = [((_SECTION,), raw)]
        elif isinstance(raw, list) and raw and all(isinstance(t, dict) for t in raw):
            entries = [((_SECTION, i), t) for i, t in enumerate(raw)]
        else:
            bad_type(ctx, (_SECTION,), f"a table ([{_SECTION}]) or an array of tables "
                                       f"([[{_SECTION}]])", raw)
            return
        keys = [f"{k}_nm_max" for k in _PARAMS]
        for rank, (p, t) in enumerate(entries):
            check_keys(ctx, t, p, ("measurement", "lambda_c_mm", "lambda_s_mm", "sections",
                                   *keys))
            name = draft.measurement_ref(t, p)
            lc = number(ctx, t, p, "lambda_c_mm", positive=True, le=LENGTH_MAX_MM)
            ls = number(ctx, t, p, "lambda_s_mm", positive=True, le=LENGTH_MAX_MM)
            sections = number(ctx, t, p, "sections", default=5, integer=True, ge=1, le=1000)
            if lc is not None and ls is not None and not ls < lc:
                ctx.error((*p, "lambda_s_mm"), f"lambda_s_mm = {ls:g} must be below "
                                               f"lambda_c_mm = {lc:g}")
                continue
            if not any(k in t for k in keys):
                ctx.missing((*p, keys[0]), f"[{_SECTION}] needs at least one of "
                                           f"{', '.join(keys)}")
            limits = {k: number(ctx, t, p, f"{k}_nm_max", limit=True) for k in _PARAMS}
            if name is None or sections is None:
                continue
            what = _profile_words(lc, ls)
            for k in _PARAMS:
                lim = limits[k]
                if lim is None:
                    continue
                iso = _iso_name(k, lc)
                draft.add(cls(id=f"{name}.roughness.{k}", measurement=name, limit=lim,
                              unit="nm", parameter=k, sections=int(sections), lambda_c_mm=lc,
                              lambda_s_mm=ls,
                              description=f"{k.capitalize()} of the profile ({iso}, ISO "
                                          f"21920-2), {what}"),
                          (*p, f"{k}_nm_max"), rank, _PARAMS.index(k))

    def evaluate(self, analysis: FileAnalysis) -> SiteValue:
        prof = analysis.profile
        assert prof is not None  # the engine judges this type on profiles only
        try:
            r = prof.roughness(self.sections, "line", lambda_c_mm=self.lambda_c_mm,
                               lambda_s_mm=self.lambda_s_mm)
        except MetrologyError as exc:
            return self.judge(analysis.path, None, str(exc))
        ev = ProfileRoughnessEvidence(
            data="the profile as read, about its least-squares line",
            parameter=_iso_name(self.parameter, self.lambda_c_mm),
            definition=DEFINITIONS[self.parameter], profile=r.profile,
            reference_line=r.reference_line, lambda_c_mm=r.lambda_c_mm,
            lambda_s_mm=r.lambda_s_mm, evaluation_length_mm=r.evaluation_length_mm,
            sections=r.sections, section_length_mm=r.section_length_mm, n_valid=r.n_valid)
        return self.judge(analysis.path, getattr(r, f"{self.parameter}_nm"), "", ev)

    def convention(self) -> dict[str, Any]:
        return {"parameter": _iso_name(self.parameter, self.lambda_c_mm),
                "standard": "ISO 21920-2", "definition": DEFINITIONS[self.parameter],
                "reference_line": "least-squares line",
                "filter": _profile_words(self.lambda_c_mm, self.lambda_s_mm),
                "lambda_c_mm": self.lambda_c_mm, "lambda_s_mm": self.lambda_s_mm,
                "sections": self.sections,
                "evaluation_length": (("the whole trace" + (
                    "" if self.lambda_s_mm is None else ", less lambda_s at each end"))
                    if self.lambda_c_mm is None else
                                      f"{self.sections} x lambda_c from the centre of the "
                                      "trace")}


def _iso_name(param: str, lambda_c_mm: float | None) -> str:
    """ISO 21920-2 name: R-parameter of the roughness profile (a λc filter), else P."""
    return ("R" if lambda_c_mm is not None else "P") + param[1]


def _profile_words(lc: float | None, ls: float | None) -> str:
    s = f"lambda_s = {ls:g} mm" if ls is not None else "no lambda_s"
    if lc is None:
        return f"primary profile: no lambda_c filter, {s}, least-squares line removed"
    return f"roughness profile: ISO 16610-21 Gaussian lambda_c = {lc:g} mm, {s}"
