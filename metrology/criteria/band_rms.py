"""``band_rms``: band-limited RMS height of a ``[[bands]]`` entry (``rms_nm_max``).

Areal bands sum the 2-D PSD cells with ``f_lo <= |f| < f_hi``; profile bands
the one-sided profile PSD along ``direction`` (``docs/conventions.md``, "PSD").
A band the file does not resolve in full is ``not-measurable``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from ._band import BandCriterionBase

if TYPE_CHECKING:  # pragma: no cover
    from ..pipeline import FileAnalysis
    from ..spec.schema import SpecDraft
    from ._base import SiteValue

__all__ = ["BandCriterion"]


@dataclass(frozen=True, kw_only=True)
class BandCriterion(BandCriterionBase):
    """Band-limited RMS height (nm) in ``band`` (areal or profile, ``docs/conventions.md``)."""

    TYPE: ClassVar[str] = "band_rms"
    SECTION: ClassVar[str] = "bands"
    KEYS: ClassVar[tuple[str, ...]] = ("rms_nm_max",)

    @classmethod
    def from_spec(cls, draft: SpecDraft) -> None:
        for entry, b, lim, kind, rng in cls.limits(draft, "rms_nm_max"):
            draft.add(cls(id=f"{b.measurement}.band.{b.name}.rms", measurement=b.measurement,
                          limit=lim, unit="nm", band=b, line_rms=cls.line_implied(draft, b),
                          description=f"{b.name} {kind} RMS height, {rng}"),
                      (*entry.path, "rms_nm_max"), entry.index, 0)

    def evaluate(self, analysis: FileAnalysis) -> SiteValue:
        from ..spectral import band_rms

        b = self.band
        if b.filter != "sharp":
            return self.filtered_value(analysis, slope=False)
        p = analysis.spectrum.psd  # type: ignore[union-attr]
        axis = b.direction or "x"
        src = p if b.kind == "areal" else p.profile(axis, one_sided=True)
        r = band_rms(src, b.f_lo_per_mm, b.f_hi_per_mm, kind=b.kind, axis=axis)
        ev = self.band_evidence(analysis, (r.covered_lo_per_mm, r.covered_hi_per_mm),
                                r.fully_covered)
        if not r.fully_covered:
            return self.judge(analysis.path, None, r.reason, ev)
        return self.judge_band(analysis, r.rms_nm, "height", ev)
