"""``composite_psd_limit``: the part's composite PSD against the spec's limit line.

``[psd] measurement = "composite"`` judges the line once per part, over its
whole stated range, on the composite PSD of all the part's files
(:mod:`metrology.criteria._composite`): a profile line on the composite
one-sided profile PSD along ``direction`` (a two-sided line A is compared as
the one-sided line 2A), a radial line -- or a 2-D (areal, ISO 10110-8) line,
held as the radial line 2π A f^-(B-1) -- on the composite radial PSD. The
value is the largest ratio (composite PSD / line) over the composite's bins
inside the line's range; the limit is ``factor_max``. A bin of the line's
range that no instrument serves (a gap, or beyond the composite) makes it
``not-measurable``, naming the range. Spec::

    [psd]
    measurement = "composite"
    kind = "profile"
    factor_max = 2.0
    [[psd.segments]]
    a_nm2_mm = 0.028
    b = 1.5
    f_lo_per_mm = 0.2
    f_hi_per_mm = 400.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..spec.model import COMPOSITE, PsdLimitLine
from ._base import SiteValue, figure_field
from ._composite import (
    CompositeCriterionBase,
    CompositeEvidenceMixin,
    composite_fields,
    data_text,
    flags_text,
    line_display,
    recipe_for,
    segments_of,
    served_text,
)

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Sequence

    from ..pipeline import FileAnalysis
    from ..spec.schema import SpecDraft

__all__ = ["CompositePsdLimitCriterion", "CompositePsdLimitEvidence"]


@dataclass(frozen=True, eq=False, kw_only=True)
class CompositePsdLimitEvidence(CompositeEvidenceMixin):
    """The composite against the line: the worst bin, the gaps, which instrument served."""

    psd_kind: str
    sidedness: str
    axis: str | None
    f_range_per_mm: tuple[float, float]
    factor_max: float
    max_ratio: float | None
    f_at_max_per_mm: float | None
    gaps: tuple[tuple[float, float], ...]
    served: tuple[tuple[float, float, str], ...]
    segments: tuple[dict[str, float], ...]
    notation: str
    #: composite bin centres and the ratio PSD / line in each (NaN outside / unserved)
    ratio_f_per_mm: np.ndarray = figure_field(default=None)
    ratio: np.ndarray = figure_field(default=None)

    KIND: ClassVar[str] = "composite_psd_limit"


def _unserved_text(c: Any, lo: float, hi: float, cmp: Any) -> str:
    """Why the line cannot be judged: the parts of its range no measurement serves."""
    parts = []
    f0, f1 = c.f_min_per_mm, c.f_max_per_mm
    if not (math.isfinite(f0) and math.isfinite(f1)):
        return cmp.reason or "the composite serves nothing"
    if lo < f0 * (1 - 1e-9):
        parts.append((lo, min(f0, hi)))
    parts += [(a, b) for a, b in c.gaps if a < hi and b > lo]
    if hi > f1 * (1 + 1e-9):
        parts.append((max(f1, lo), hi))
    if not parts:
        return cmp.reason
    why = (f"the line's range {lo:g}-{hi:g} /mm needs frequencies no measurement serves: "
           + ", ".join(f"{a:.4g}-{b:.4g} /mm" for a, b in parts)
           + f" (the composite serves {f0:.4g}-{f1:.4g} /mm)")
    if not c.measurable:
        why = f"{c.reason}; {why}"
    return why


@dataclass(frozen=True, kw_only=True)
class CompositePsdLimitCriterion(CompositeCriterionBase):
    """The composite PSD against ``line`` over the line's range: value = the largest ratio
    bin / line; ``limit`` is ``line.factor_max``."""

    TYPE: ClassVar[str] = "composite_psd_limit"
    SECTION: ClassVar[str] = "psd"

    line: PsdLimitLine

    @classmethod
    def from_spec(cls, draft: SpecDraft) -> None:
        line = draft.psd
        if line is None or line.measurement != COMPOSITE:
            return
        kind = "profile" if line.kind == "profile" else "radial"
        recipe = recipe_for(draft, kind=kind, axis=line.direction or "x")
        what = (f"{line.sidedness} profile PSD along {line.direction}" if kind == "profile"
                else "radial PSD" + (" (2-D line, isotropic surface)"
                                     if line.dimension == "2d" else ""))
        draft.add(cls(
            id=f"{COMPOSITE}.psd", measurement=COMPOSITE, limit=line.factor_max, unit="ratio",
            line=line, recipe=recipe, line_display=line_display(draft, kind),
            description=(f"composite {what}: every bin <= {line.factor_max:g} x the limit line "
                         f"on {line.f_lo_per_mm:g}-{line.f_hi_per_mm:g} /mm")), ("psd",), 0)

    def evaluate_part(self, analyses: Sequence[FileAnalysis]) -> list[SiteValue]:
        line = self.line
        build, nm = self.composite_site(analyses)
        if nm is not None:
            return [nm]
        c = build.psd
        assert c is not None
        cmp = c.compare_limit(line.to_limit(), line.factor_max)
        lo, hi = line.f_lo_per_mm, line.f_hi_per_mm
        served = segments_of(c, lo, hi)
        ev = CompositePsdLimitEvidence(
            data=data_text(build), **composite_fields(build, self.line_display), psd_kind=c.kind,
            sidedness=c.sidedness, axis=c.axis, f_range_per_mm=(lo, hi),
            factor_max=line.factor_max,
            max_ratio=cmp.max_ratio if math.isfinite(cmp.max_ratio) else None,
            f_at_max_per_mm=cmp.f_at_max_per_mm if math.isfinite(cmp.f_at_max_per_mm)
            else None, gaps=tuple(cmp.gaps), served=served,
            segments=tuple({"a_nm2_mm": s.a_nm2_mm, "b": s.b, "f_lo_per_mm": s.f_lo_per_mm,
                            "f_hi_per_mm": s.f_hi_per_mm} for s in line.segments),
            notation=line.notation, ratio_f_per_mm=np.asarray(c.frequency_per_mm),
            ratio=np.asarray(cmp.ratio))
        txt = "served by " + served_text(served)
        if not cmp.measurable:
            return [self.judge(build.label, None, f"{_unserved_text(c, lo, hi, cmp)} ({txt})",
                               ev)]
        flags = flags_text(c, lo, hi)
        where = f"largest at {cmp.f_at_max_per_mm:.4g} /mm"
        from ._uncertainty import bins_u

        with np.errstate(invalid="ignore", divide="ignore"):
            rel = np.asarray(c.stderr) / np.asarray(c.psd)
        return [self.judge(build.label, cmp.max_ratio,
                           f"{where}; {txt}" + (f"; {flags}" if flags else ""), ev,
                           bins_u(np.asarray(cmp.ratio), rel, "every bin of the line's range"))]

    def convention(self) -> dict[str, Any]:
        line = self.line
        return {"psd_kind": "profile" if line.kind == "profile" else "radial",
                "sidedness": line.sidedness, "direction": line.direction, "window": "hann",
                "dimension": line.dimension, "notation": line.notation,
                "bins_per_decade": self.recipe.bins_per_decade,
                "f_ranges_per_mm": [[line.f_lo_per_mm, line.f_hi_per_mm]],
                "segments": [{"a_nm2_mm": s.a_nm2_mm, "b": s.b, "f_lo_per_mm": s.f_lo_per_mm,
                              "f_hi_per_mm": s.f_hi_per_mm} for s in line.segments],
                "value": ("largest ratio (composite PSD in a bin) / (line at the bin's "
                          "geometric centre) over the composite's log bins"),
                "two_sided": ("a two-sided profile line A is compared as the one-sided line "
                              "2A" if line.sidedness == "two-sided" else ""),
                **self.composite_convention()}
