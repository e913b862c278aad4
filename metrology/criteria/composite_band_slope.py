"""``composite_band_slope``: band RMS slope of a ``[[bands]]`` entry on the part's composite PSD.

sqrt(∫ (2π f)² T(f)² PSD df) over the band, µrad (= nm/mm): of the composite
radial PSD for an areal band (the RMS of the gradient magnitude), of the
composite profile PSD along ``direction`` for a profile band. Coverage, the
instruments that served and the overlap flags as ``composite_band_rms``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from ._composite import CompositeBandCriterionBase

if TYPE_CHECKING:  # pragma: no cover
    from ..spec.schema import SpecDraft

__all__ = ["CompositeBandSlopeCriterion"]


@dataclass(frozen=True, kw_only=True)
class CompositeBandSlopeCriterion(CompositeBandCriterionBase):
    """Band-limited RMS slope (µrad) of ``band`` on the part's composite PSD."""

    TYPE: ClassVar[str] = "composite_band_slope"
    SECTION: ClassVar[str] = "bands"
    KEYS: ClassVar[tuple[str, ...]] = ("slope_urad_max",)
    SLOPE: ClassVar[bool] = True

    @classmethod
    def from_spec(cls, draft: SpecDraft) -> None:
        cls.add_all(draft, "slope_urad_max", "urad", "RMS slope", 1)
