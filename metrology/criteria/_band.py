"""What the band criterion types share: a band of the spec and the evidence of a band value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import MetrologyError
from ..spec.context import number
from ..spec.model import Band
from ._base import PSD, PSD_WINDOW, Criterion, Evidence, SiteValue
from ._uncertainty import band_judged

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterator, Sequence

    from ..pipeline import FileAnalysis
    from ..spec.schema import BandEntry, SpecDraft
    from ..uncertainty import BandEstimate

__all__ = ["BandEvidence", "BandCriterionBase"]


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

    KIND: ClassVar[str] = "band"


@dataclass(frozen=True, kw_only=True)
class BandCriterionBase(Criterion):
    """A criterion on one band of ``[[bands]]``, computed from the PSD of the form residual."""

    band: Band

    def requests(self) -> Sequence[str]:
        return (PSD,)

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
                "areal" else "profile PSD, one-sided")

    def band_evidence(self, fa: FileAnalysis, covered: tuple[float, float], full: bool,
                      **kw: Any) -> BandEvidence:
        b = self.band
        spec = fa.spectrum
        assert spec is not None
        lo, hi = covered
        return BandEvidence(
            data=spec.input, band=b.name, kind=b.kind, direction=b.direction,
            f_lo_per_mm=b.f_lo_per_mm, f_hi_per_mm=b.f_hi_per_mm,
            covered_lo_per_mm=lo, covered_hi_per_mm=hi, fully_covered=full,
            psd=self.psd_text(), window=spec.window,
            dropouts_interpolated_px=spec.filled_pixels, **kw)

    def estimate(self, fa: FileAnalysis, quantity: str) -> BandEstimate | None:
        """The band's :class:`~metrology.uncertainty.BandEstimate` of ``quantity``
        ("height" or "slope") on the file's spectra (single-map or repeats model)."""
        ba = fa.spectrum.bands if fa.spectrum is not None else None
        if ba is None:
            return None
        b = self.band
        try:
            return ba.estimate(b.f_lo_per_mm, b.f_hi_per_mm, kind=b.kind,
                               axis=b.direction or "x", quantity=quantity)
        except MetrologyError:
            return None

    def judge_band(self, fa: FileAnalysis, measured: float, quantity: str,
                   ev: BandEvidence) -> SiteValue:
        """Judge a fully covered band value with its U (and, with ``noise_correction``
        and repeats, noise-corrected)."""
        value, unc = band_judged(measured, self.estimate(fa, quantity), self.noise_correction)
        return self.judge(fa.path, value, "", ev, unc)

    def convention(self) -> dict[str, Any]:
        b = self.band
        return {"band": b.name, "f_lo_per_mm": b.f_lo_per_mm, "f_hi_per_mm": b.f_hi_per_mm,
                "period_mm": [b.period_max_mm, b.period_min_mm], "kind": b.kind,
                "direction": b.direction, "window": PSD_WINDOW, "psd": self.psd_text(),
                "removed_before_psd": "joint Zernike fit of the measurement (form residual)",
                "dropouts": "interpolated by normalised convolution before the PSD",
                "sidedness": ("areal: full-plane 2-D PSD cells, f_lo <= |f| < f_hi"
                              if b.kind == "areal" else
                              f"one-sided profile PSD along {b.direction or 'x'}"),
                "uncertainty": "U (k = 2): repeats model when the site is an average of "
                               "repeats, else the single-map periodogram model "
                               "(docs/uncertainty.md)",
                "noise_correction": self.noise_correction}
