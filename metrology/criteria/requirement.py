"""``requirement``: minimum data quality of a measurement (``[measurements.NAME.requirements]``).

``valid_fraction``: valid pixels / pixels inside the clear aperture (or the
whole field without one); ``pixels_across``: pixels across the CA diameter
(or the shorter side of the field); ``sites``: number of files of the
measurement in the part. On a profile (1-D trace): valid points / points,
and the points along the trace. A lower bound each; evaluated even on a file that
cannot be analysed otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from ._base import EXACT, Criterion, Evidence, SiteValue

if TYPE_CHECKING:  # pragma: no cover
    from ..pipeline import FileAnalysis
    from ..spec.schema import SpecDraft

__all__ = ["RequirementCriterion", "RequirementEvidence"]

_QUANTITIES = ("valid_fraction", "pixels_across", "sites")


@dataclass(frozen=True)
class RequirementEvidence(Evidence):
    """How a data-quality value was counted."""

    quantity: str
    definition: str

    KIND: ClassVar[str] = "requirement"


@dataclass(frozen=True, kw_only=True)
class RequirementCriterion(Criterion):
    """Data-quality minimum: ``quantity`` is ``valid_fraction`` (valid pixels /
    pixels inside the clear aperture, or the whole field without one),
    ``pixels_across`` (pixels across the CA diameter, or the shorter side of
    the field) or ``sites`` (number of files of the measurement)."""

    TYPE: ClassVar[str] = "requirement"
    SECTION: ClassVar[str] = "requirements"
    EVALUATE_WHEN_BLOCKED: ClassVar[bool] = True
    DATA: ClassVar[tuple[str, ...]] = ("map", "profile")

    quantity: Literal["valid_fraction", "pixels_across", "sites"]

    @classmethod
    def from_spec(cls, draft: SpecDraft) -> None:
        for name, m in draft.measurements.items():
            r = m.requirements
            where = (f"inside the Ø{m.aperture.diameter_mm:g} mm clear aperture" if m.aperture
                     else "over the field")
            p = ("measurements", name, "requirements")
            if r.min_valid_fraction is not None:
                draft.add(cls(
                    id=f"{name}.requirements.valid_fraction", measurement=name,
                    limit=r.min_valid_fraction, unit="fraction", bound="min",
                    quantity="valid_fraction", description=f"fraction of valid pixels {where}"),
                    (*p, "min_valid_fraction"), 0)
            if r.min_pixels_across is not None:
                draft.add(cls(
                    id=f"{name}.requirements.pixels_across", measurement=name,
                    limit=float(r.min_pixels_across), unit="px", bound="min",
                    quantity="pixels_across",
                    description=("pixels across the clear-aperture diameter" if m.aperture
                                 else "pixels across the shorter side of the field")),
                    (*p, "min_pixels_across"), 1)
            if r.min_sites is not None:
                draft.add(cls(
                    id=f"{name}.requirements.sites", measurement=name,
                    limit=float(r.min_sites), unit="sites", bound="min", quantity="sites",
                    description="number of measured sites"), (*p, "min_sites"), 2)

    def _definition(self, fa: FileAnalysis | None) -> str:
        if fa is not None and fa.profile is not None and self.quantity != "sites":
            return ("valid points / points of the trace" if self.quantity == "valid_fraction"
                    else "points along the trace")
        if self.quantity == "valid_fraction":
            return ("valid pixels / pixels inside the clear aperture"
                    if fa is not None and fa.aperture else "valid pixels / pixels of the field")
        if self.quantity == "pixels_across":
            return ("clear-aperture diameter / pixel spacing"
                    if fa is not None and fa.aperture else
                    "shorter side of the field / pixel spacing")
        return "files of the measurement in the part"

    def evaluate(self, analysis: FileAnalysis) -> SiteValue:
        ev = RequirementEvidence(data="the file as read", quantity=self.quantity,
                                 definition=self._definition(analysis))
        if self.quantity == "valid_fraction":
            return self.judge(analysis.path, analysis.valid_fraction_in_aperture,
                              ev.definition, ev, EXACT)
        return self.judge(analysis.path, analysis.pixels_across, "", ev, EXACT)

    def evaluate_part(self, analyses: Sequence[FileAnalysis]) -> list[SiteValue] | None:
        if self.quantity != "sites":
            return None
        if not analyses:
            return []
        ev = RequirementEvidence(data="the files of the part", quantity="sites",
                                 definition=self._definition(None))
        names = ", ".join(Path(fa.path).name for fa in analyses) or "(none)"
        return [self.judge(names, float(len(analyses)), "", ev, EXACT)]

    def convention(self) -> dict[str, Any]:
        return {"quantity": self.quantity}
