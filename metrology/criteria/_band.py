"""What the band criterion types share: a band of the spec and the evidence of a band value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ..spec.context import number
from ..spec.model import Band
from ._base import PSD, PSD_WINDOW, Criterion, Evidence

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterator, Sequence

    from ..coverage import FrequencyCoverage
    from ..pipeline import FileAnalysis
    from ..spec.schema import BandEntry, SpecDraft
    from ._base import Removal

__all__ = ["BandEvidence", "BandCriterionBase", "removed_reason"]


def removed_reason(fa: FileAnalysis, f_lo_per_mm: float, what: str) -> str:
    """"" or why a band (or range) starting at ``f_lo_per_mm`` cannot be judged on ``fa``:
    below (n_max + 1) / (2 pi R) of what the file had removed before the PSD."""
    got = fa.psd_form_frequency()
    if got is None:
        return ""
    f, n_max, radius = got
    if f_lo_per_mm >= f * (1 - 1e-9):
        return ""
    return (f"{what} starts at {f_lo_per_mm:g} /mm, below (n+1) / (2 pi R) = {f:.4g} /mm for "
            f"the terms up to radial order {n_max} removed before the PSD (R = {radius:.4g} mm, "
            "half the field): they take the band's power there")


@dataclass(frozen=True)
class BandEvidence(Evidence):
    """A band value: the band, the part of it the file resolves, the PSD it was summed on."""

    band: str
    kind: str
    direction: str | None
    f_lo_per_mm: float
    f_hi_per_mm: float
    covered_lo_per_mm: float | None
    covered_hi_per_mm: float | None
    fully_covered: bool
    psd: str
    window: str
    dropouts_interpolated_px: int
    components_urad: tuple[float, float] | None = None
    f_min_per_mm: float | None = None
    f_min_reason: str = ""
    holes_left: int = 0
    fill_rule: str = ""

    KIND: ClassVar[str] = "band"


@dataclass(frozen=True, kw_only=True)
class BandCriterionBase(Criterion):
    """A criterion on one band of ``[[bands]]``, computed from the PSD of the form residual."""

    band: Band

    def requests(self) -> Sequence[str]:
        return (PSD,)

    def spectral_range(self) -> tuple[float, float]:
        return (self.band.f_lo_per_mm, self.band.f_hi_per_mm)

    def preprocessing_conflict(self, removal: Removal) -> str | None:
        return removal.below_form(self.band.f_lo_per_mm, f"band {self.band.name}")

    def removed_reason(self, fa: FileAnalysis) -> str:
        """Not measurable on this file: the band starts where the terms removed before the
        PSD take its power (checked per file for a measurement without an aperture, whose
        field only the file knows; with an aperture the spec reader refused it)."""
        return removed_reason(fa, self.band.f_lo_per_mm, f"band {self.band.name}")

    @staticmethod
    def limits(draft: SpecDraft, key: str) -> Iterator[tuple[BandEntry, Band, float, str, str]]:
        """(entry, band, limit, kind in words, range in words) of every band giving ``key``;
        the limit of every ``[[bands]]`` table is validated, valid bands only are yielded."""
        for entry in draft.bands:
            if key not in entry.table:
                continue
            lim = number(draft.ctx, entry.table, entry.path, key, limit=True)
            if entry.band is not None and lim is not None:
                yield (entry, entry.band, lim, *BandCriterionBase.band_text(entry.band))

    @staticmethod
    def band_text(b: Band) -> tuple[str, str]:
        """(kind in words, range in words) for descriptions."""
        rng = (f"{b.f_lo_per_mm:g}-{b.f_hi_per_mm:g} /mm "
               f"({b.period_max_mm:g}-{b.period_min_mm:g} mm)")
        kind = b.kind if b.kind == "areal" else f"profile along {b.direction}"
        return kind, rng

    def psd_text(self) -> str:
        return ("2-D periodogram, cells summed over f_lo <= |f| < f_hi" if self.band.kind ==
                "areal" else f"profile PSD along {self.band.direction or 'x'}, one-sided")

    def coverage(self, fa: FileAnalysis) -> FrequencyCoverage:
        """What the file's PSD resolves for this band (connected regions, k = 2, the holes
        left: :meth:`metrology.pipeline.SpectrumRecord.coverage`)."""
        assert fa.spectrum is not None
        b = self.band
        return fa.spectrum.coverage(b.kind, b.direction or "x")

    def band_evidence(self, fa: FileAnalysis, covered: tuple[float, float], full: bool,
                      cov: FrequencyCoverage | None = None, **kw: Any) -> BandEvidence:
        b = self.band
        spec = fa.spectrum
        assert spec is not None
        lo, hi = covered
        return BandEvidence(
            data=spec.input, band=b.name, kind=b.kind, direction=b.direction,
            f_lo_per_mm=b.f_lo_per_mm, f_hi_per_mm=b.f_hi_per_mm,
            covered_lo_per_mm=lo, covered_hi_per_mm=hi, fully_covered=full,
            psd=self.psd_text(), window=spec.window,
            dropouts_interpolated_px=spec.filled_pixels,
            f_min_per_mm=None if cov is None else cov.f_min_per_mm,
            f_min_reason="" if cov is None else cov.low_reason,
            holes_left=len(spec.holes_left), fill_rule=spec.fill_rule, **kw)

    def judge_band(self, fa: FileAnalysis) -> tuple[FrequencyCoverage, str]:
        """The band's coverage on ``fa`` and why it cannot be judged ("" when it can): the
        part the data do not resolve, or the terms removed before the PSD."""
        cov = self.coverage(fa)
        _, _, full, why = cov.clip(self.band.f_lo_per_mm, self.band.f_hi_per_mm)
        reasons = [why] if full != "full" else []
        rem = self.removed_reason(fa)
        if rem:
            reasons.append(rem)
        return cov, "; ".join(reasons)

    def convention(self) -> dict[str, Any]:
        b = self.band
        return {"band": b.name, "f_lo_per_mm": b.f_lo_per_mm, "f_hi_per_mm": b.f_hi_per_mm,
                "period_mm": [b.period_max_mm, b.period_min_mm], "kind": b.kind,
                "direction": b.direction, "window": PSD_WINDOW, "psd": self.psd_text(),
                "removed_before_psd": "joint Zernike fit of the measurement (form residual)",
                "dropouts": ("holes within half the shortest period judged of valid data "
                             "interpolated by normalised convolution; larger holes left as "
                             "holes, the window tapered to 0 over the longest period judged "
                             "at the edges of those wider than it"),
                "f_min": ("2 / L, L the shorter extent (profile: the extent along the "
                          "direction) of the connected valid regions holding 95 % of the "
                          "pixels, and at most the diameter of the largest circle inscribed "
                          "in the data around holes left unfilled"),
                "sidedness": ("areal: full-plane 2-D PSD cells, f_lo <= |f| < f_hi"
                              if b.kind == "areal" else
                              f"one-sided profile PSD along {b.direction or 'x'}")}
