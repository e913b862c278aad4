"""``band_slope``: band-limited RMS slope of a ``[[bands]]`` entry (``slope_urad_max``).

sqrt(sum over the band of (2 pi f)^2 PSD df), µrad = nm/mm: areal bands sum the
2-D PSD cells with f_lo <= |f| < f_hi (the RMS gradient magnitude); profile
bands the one-sided profile PSD along ``direction`` over f_lo <= f < f_hi (the
RMS slope of the profiles along it, ``docs/conventions.md``).
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
    (2 pi f)^2 PSD df); areal bands the 2-D PSD cells (gradient magnitude),
    profile bands the profile PSD along ``band.direction``."""

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
        cov, why = self.band_coverage(analysis)
        # a profile band's slope from the profile PSD along its direction (as its height):
        # an areal cell with |f| in the band but f_x outside it is not in a profile band
        s = slope_rms(analysis.spectrum.psd,  # type: ignore[union-attr]
                      band=(b.f_lo_per_mm, b.f_hi_per_mm), kind=b.kind,
                      axis=b.direction or "x",
                      valid_range_per_mm=(cov.f_min_per_mm, cov.f_max_per_mm))
        ev = self.band_evidence(analysis, (s.covered_lo_per_mm, s.covered_hi_per_mm),
                                s.fully_covered and not why, cov,
                                components_urad=(s.x_urad, s.y_urad))
        if why:
            return self.judge(analysis.path, None, why, ev)
        return self.judge_band(analysis, s.magnitude_urad, "slope", ev)
