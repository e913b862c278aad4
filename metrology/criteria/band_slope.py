"""``band_slope``: band-limited RMS slope of a ``[[bands]]`` entry (``slope_urad_max``).

sqrt(sum over the band of (2 pi f)^2 PSD df), µrad = nm/mm: areal bands use
|f| (the gradient magnitude), profile bands the frequency along ``direction``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from ._band import BandCriterionBase

if TYPE_CHECKING:  # pragma: no cover
    from ..pipeline import FileAnalysis
    from ..spec.schema import SpecDraft
    from ._base import SiteValue

__all__ = ["BandSlopeCriterion"]


@dataclass(frozen=True, kw_only=True)
class BandSlopeCriterion(BandCriterionBase):
    """Band-limited RMS slope (µrad = nm/mm): sqrt(sum over the band of
    (2 pi |f|)^2 PSD df); areal bands use |f| (gradient magnitude), profile
    bands the frequency along ``band.direction``."""

    TYPE: ClassVar[str] = "band_slope"
    SECTION: ClassVar[str] = "bands"
    KEYS: ClassVar[tuple[str, ...]] = ("slope_urad_max",)

    @classmethod
    def from_spec(cls, draft: SpecDraft) -> None:
        for entry, b, lim, kind, rng in cls.limits(draft, "slope_urad_max"):
            draft.add(cls(id=f"{b.measurement}.band.{b.name}.slope", measurement=b.measurement,
                          limit=lim, unit="urad", band=b,
                          description=f"{b.name} {kind} RMS slope, {rng}"),
                      (*entry.path, "slope_urad_max"), entry.index, 1)

    def evaluate(self, analysis: FileAnalysis) -> SiteValue:
        from ..spectral import slope_rms

        b = self.band
        if b.filter != "sharp":
            return self.filtered_value(analysis, slope=True)
        s = slope_rms(analysis.spectrum.psd,  # type: ignore[union-attr]
                      band=(b.f_lo_per_mm, b.f_hi_per_mm))
        ev = self.band_evidence(analysis, (s.covered_lo_per_mm, s.covered_hi_per_mm),
                                s.fully_covered, components_urad=(s.x_urad, s.y_urad))
        if not s.fully_covered:
            return self.judge(analysis.path, None, s.reason, ev)
        value = s.magnitude_urad if b.kind == "areal" else (
            s.x_urad if (b.direction or "x") == "x" else s.y_urad)
        return self.judge_band(analysis, value, "slope", ev)
