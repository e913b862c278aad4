"""``profile_band``: band-limited RMS height or slope of a profile, ``[[profile_bands]]``.

Judged on a :class:`~metrology.Profile` (a 1-D trace), from its own one-sided
profile PSD (``docs/conventions.md``, "PSD"): the trace about its
least-squares line, Hann window over the span of the valid points, density
normalised, so that

    rms²   = Σ P1+(f) Δf              over f_lo <= f < f_hi     [nm²]
    slope² = Σ (2π f)² P1+(f) Δf      over f_lo <= f < f_hi     [µrad²]

Spec::

    [[profile_bands]]
    name = "msf"
    measurement = "stylus"
    period_mm = [1.0, 0.01]        # or f_lo_per_mm / f_hi_per_mm
    rms_nm_max = 2.0
    slope_urad_max = 50.0

A band the trace does not resolve in full (below 2/L of the valid span or
above the Nyquist frequency 1/(2 dx)) is ``not-measurable`` with the part
it covers. This is the band of a *profile file*; ``[[bands]]`` with
``kind = "profile"`` is the profile PSD taken from an areal map. A map file
is ``not-measurable`` here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from ..errors import MetrologyError
from ..spec.context import MISSING, bad_type, check_keys, number, string
from ._base import PSD_WINDOW, Criterion, Evidence, SiteValue

if TYPE_CHECKING:  # pragma: no cover
    from ..pipeline import FileAnalysis
    from ..spec.schema import SpecDraft

__all__ = ["ProfileBandCriterion", "ProfileBandEvidence"]

_SECTION = "profile_bands"
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_PSD_TEXT = ("one-sided profile PSD of the trace (least-squares line removed, Hann window "
             "over the valid span, density-normalised by sum of w^2)")
_LIMITS = {"rms": ("rms_nm_max", "nm"), "slope": ("slope_urad_max", "urad")}


@dataclass(frozen=True)
class ProfileBandEvidence(Evidence):
    """A profile band value: the band, the part of it the trace resolves, the PSD."""

    band: str
    quantity: str
    f_lo_per_mm: float
    f_hi_per_mm: float
    covered_lo_per_mm: float | None
    covered_hi_per_mm: float | None
    fully_covered: bool
    f_resolved_per_mm: tuple[float, float]
    psd: str
    window: str

    KIND: ClassVar[str] = "profile_band"


@dataclass(frozen=True, kw_only=True)
class ProfileBandCriterion(Criterion):
    """Band-limited RMS height (nm) or RMS slope (µrad) of the profiles of a measurement."""

    TYPE: ClassVar[str] = "profile_band"
    SECTION: ClassVar[str] = _SECTION
    DATA: ClassVar[tuple[str, ...]] = ("profile",)

    band: str
    quantity: Literal["rms", "slope"]
    f_lo_per_mm: float
    f_hi_per_mm: float

    @classmethod
    def from_spec(cls, draft: SpecDraft) -> None:
        from ..spec.schema import _freq_range

        raw = draft.doc.get(_SECTION, MISSING)
        if raw is MISSING:
            return
        ctx = draft.ctx
        if not isinstance(raw, list) or not raw or not all(isinstance(t, dict) for t in raw):
            bad_type(ctx, (_SECTION,), f"an array of tables ([[{_SECTION}]])", raw)
            return
        names: set[str] = set()
        keys = [k for k, _ in _LIMITS.values()]
        for i, t in enumerate(raw):
            p = (_SECTION, i)
            check_keys(ctx, t, p, ("name", "measurement", "f_lo_per_mm", "f_hi_per_mm",
                                   "period_mm", *keys))
            name = string(ctx, t, p, "name", required=True)
            if name is not None:
                if not _NAME_RE.match(name):
                    ctx.error((*p, "name"), f"band name {name!r} may use only letters, "
                                            "digits, '_' and '-'")
                    name = None
                elif name in names:
                    ctx.error((*p, "name"), f"band name {name!r} is used twice")
                    name = None
                else:
                    names.add(name)
            meas = draft.measurement_ref(t, p)
            rng = _freq_range(ctx, t, p)
            if not any(k in t for k in keys):
                ctx.missing((*p, keys[0]), f"a profile band needs {' and/or '.join(keys)}")
            lims = {q: number(ctx, t, p, k, limit=True) for q, (k, _) in _LIMITS.items()}
            if name is None or meas is None or rng is None:
                continue
            lo, hi, pmax, pmin, _given = rng
            for k, (q, (key, unit)) in enumerate(_LIMITS.items()):
                if lims[q] is None:
                    continue
                what = "RMS height" if q == "rms" else "RMS slope"
                draft.add(cls(id=f"{meas}.profile_band.{name}.{q}", measurement=meas,
                              limit=lims[q], unit=unit, band=name, quantity=q,  # type: ignore[arg-type]
                              f_lo_per_mm=lo, f_hi_per_mm=hi,
                              description=f"{name} profile {what} of the trace, {lo:g}-{hi:g} "
                                          f"/mm ({pmax:g}-{pmin:g} mm)"),
                          (*p, key), i, k)

    def evaluate(self, analysis: FileAnalysis) -> SiteValue:
        prof = analysis.profile
        assert prof is not None  # the engine judges this type on profiles only
        band = (self.f_lo_per_mm, self.f_hi_per_mm)
        try:
            p = prof.psd(PSD_WINDOW, "line", one_sided=True)
            if self.quantity == "rms":
                r = prof.band_rms(*band, window=PSD_WINDOW, remove="line")
                value, full, reason = r.rms_nm, r.fully_covered, r.reason
                c_lo, c_hi = r.covered_lo_per_mm, r.covered_hi_per_mm
            else:
                s = prof.slope_rms(band, window=PSD_WINDOW, remove="line")
                value, full, reason = s.slope_urad, s.fully_covered, s.reason
                c_lo, c_hi = s.covered_lo_per_mm, s.covered_hi_per_mm
        except MetrologyError as exc:
            return self.judge(analysis.path, None, str(exc))
        ev = ProfileBandEvidence(
            data="the profile as read, about its least-squares line", band=self.band,
            quantity=self.quantity, f_lo_per_mm=self.f_lo_per_mm,
            f_hi_per_mm=self.f_hi_per_mm, covered_lo_per_mm=_finite(c_lo),
            covered_hi_per_mm=_finite(c_hi), fully_covered=bool(full),
            f_resolved_per_mm=(p.f_min_per_mm, p.f_max_per_mm), psd=_PSD_TEXT,
            window=p.window)
        if not full:
            return self.judge(analysis.path, None, reason or "band not resolved", ev)
        return self.judge(analysis.path, value, "", ev)

    def convention(self) -> dict[str, Any]:
        return {"band": self.band, "quantity": self.quantity,
                "f_lo_per_mm": self.f_lo_per_mm, "f_hi_per_mm": self.f_hi_per_mm,
                "period_mm": [1.0 / self.f_lo_per_mm, 1.0 / self.f_hi_per_mm],
                "kind": "profile (a profile file's own trace)", "window": PSD_WINDOW,
                "psd": _PSD_TEXT, "sidedness": "one-sided",
                "removed_before_psd": "least-squares line of the trace",
                "definition": ("sqrt(sum of P1+(f) df), f_lo <= f < f_hi" if
                               self.quantity == "rms" else
                               "sqrt(sum of (2 pi f)^2 P1+(f) df), f_lo <= f < f_hi")}


def _finite(v: float | None) -> float | None:
    return None if v is None or v != v else float(v)
