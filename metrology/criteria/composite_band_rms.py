"""``composite_band_rms``: band RMS height of a ``[[bands]]`` entry on the part's composite PSD.

A band with ``measurement = "composite"`` is judged once per part on the
composite PSD of all its files (:mod:`metrology.criteria._composite`): each
measurement serves the frequencies it resolves, the band's value integrates the
composite over the band (``filter = "sharp"``) or weights it by the ISO 16610
Gaussian transmission (``"gaussian"``). The result says which instrument(s)
served each range of the band; a gap in the composite inside the band (or the
Gaussian band's support) is ``not-measurable``, naming the gap; an overlap
disagreement is flagged (``strict_overlap``: not measurable). Spec::

    [[bands]]
    name = "MSF-bridge"
    measurement = "composite"
    kind = "areal"
    f_lo_per_mm = 0.6
    f_hi_per_mm = 3.0
    rms_nm_max = 0.185
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from ._composite import CompositeBandCriterionBase

if TYPE_CHECKING:  # pragma: no cover
    from ..spec.schema import SpecDraft

__all__ = ["CompositeBandRMSCriterion"]


@dataclass(frozen=True, kw_only=True)
class CompositeBandRMSCriterion(CompositeBandCriterionBase):
    """Band-limited RMS height (nm) of ``band`` on the part's composite PSD."""

    TYPE: ClassVar[str] = "composite_band_rms"
    SECTION: ClassVar[str] = "bands"
    KEYS: ClassVar[tuple[str, ...]] = ("rms_nm_max",)

    @classmethod
    def from_spec(cls, draft: SpecDraft) -> None:
        cls.add_all(draft, "rms_nm_max", "nm", "RMS height", 0)
