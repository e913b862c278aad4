"""What the band criterion types share: a band of the spec and the evidence of a band value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import MetrologyError
from ..spec.context import number
from ..spec.model import COMPOSITE, Band
from ._base import PSD, PSD_WINDOW, Criterion, Evidence, SiteValue
from ._uncertainty import band_judged

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterator, Sequence

    from ..pipeline import FileAnalysis
    from ..spec.model import PsdLimitLine
    from ..spec.schema import BandEntry, SpecDraft
    from ..uncertainty import BandEstimate

__all__ = ["BandEvidence", "BandCriterionBase", "line_implied_rms", "FILTER_DEFAULT_NOTE"]

#: what every band result says about its filter when the spec gave none
FILTER_DEFAULT_NOTE = "sharp unless the band says filter = \"gaussian\" (docs/spec-schema.md)"


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
    #: "sharp" or "gaussian" (ISO 16610-61 areal / -21 profile), and the band's support
    #: (the frequencies a Gaussian band needs: 0.39 f_lo to 1.82 f_hi)
    filter: str = "sharp"
    support_per_mm: tuple[float, float] | None = None

    KIND: ClassVar[str] = "band"


@dataclass(frozen=True, kw_only=True)
class BandCriterionBase(Criterion):
    """A criterion on one band of ``[[bands]]``, computed from the PSD of the form residual."""

    band: Band
    #: the band RMS the spec's PSD limit line itself implies over this band
    #: (:func:`line_implied_rms`), ``None`` without a line or for slope limits
    line_rms: dict[str, Any] | None = None

    def requests(self) -> Sequence[str]:
        return (PSD,)

    @staticmethod
    def limits(draft: SpecDraft, key: str, *, composite: bool = False
               ) -> Iterator[tuple[BandEntry, Band, float, str, str]]:
        """(entry, band, limit, kind in words, range in words) of every band giving ``key``;
        the limit of every ``[[bands]]`` table is validated, valid bands only are yielded.
        ``composite``: the bands on the part's composite PSD (``measurement =
        "composite"``) instead of those on one measurement."""
        for entry in draft.bands:
            if key not in entry.table:
                continue
            if (entry.table.get("measurement") == COMPOSITE) != composite:
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

    @staticmethod
    def line_implied(draft: SpecDraft, b: Band) -> dict[str, Any] | None:
        """:func:`line_implied_rms` of the spec's PSD line over ``b`` (``None`` without one)."""
        return None if draft.psd is None else line_implied_rms(draft.psd, b)

    def filtered_value(self, analysis: FileAnalysis, *, slope: bool) -> SiteValue:
        """The band value under ``band.filter`` (the ISO 16610 Gaussian path; a sharp band
        takes the same path too when asked): height RMS (nm) or slope RMS (µrad) of the
        file's PSD over the frequencies it resolves (the PSD's own range, the rule of the
        sharp bands), ``not-measurable`` when the filter's support is not covered."""
        from ..filters import filtered_band_rms, filtered_band_slope_rms

        b = self.band
        spectrum = analysis.spectrum
        assert spectrum is not None and spectrum.psd is not None  # the engine checked
        fn = filtered_band_slope_rms if slope else filtered_band_rms
        r = fn(spectrum.psd, b.f_lo_per_mm, b.f_hi_per_mm, filter=b.filter, kind=b.kind,
               axis=b.direction or "x")
        ev = self.band_evidence(analysis, (r.covered_lo_per_mm, r.covered_hi_per_mm),
                                r.fully_covered,
                                support_per_mm=(r.support_lo_per_mm, r.support_hi_per_mm))
        if not r.fully_covered:
            why = r.reason
            if b.filter == "gaussian":
                why = (f"the Gaussian band needs data over {r.support_lo_per_mm:.4g}-"
                       f"{r.support_hi_per_mm:.4g} /mm (transmission^2 >= 1 %): {why}")
            return self.judge(analysis.path, None, why, ev)
        return self.judge(analysis.path, r.rms_urad if slope else r.rms_nm, "", ev)

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
            dropouts_interpolated_px=spec.filled_pixels, filter=b.filter, **kw)

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
                "noise_correction": self.noise_correction,
                **filter_convention(b, self.line_rms)}


def filter_convention(b: Band, line_rms: dict[str, Any] | None) -> dict[str, Any]:
    """The filter keys of a band's convention (single-file and composite bands)."""
    from ..filters import definition, support_per_mm

    out: dict[str, Any] = {"filter": b.filter, "filter_default": FILTER_DEFAULT_NOTE,
                           "filter_definition": definition(b.filter, b.f_lo_per_mm,
                                                           b.f_hi_per_mm),
                           "support_per_mm": list(support_per_mm(b.f_lo_per_mm,
                                                                 b.f_hi_per_mm, b.filter))}
    if b.filter == "gaussian":
        out["filter_standard"] = ("ISO 16610-61 (areal)" if b.kind == "areal" else
                                  "ISO 16610-21 (profile)")
    if line_rms is not None:
        out["line_implied_rms"] = line_rms
    return out


def line_implied_rms(line: PsdLimitLine, b: Band) -> dict[str, Any]:
    """The band RMS (nm) the PSD limit line itself implies over band ``b``: the margin the
    line leaves a band limit (a surface exactly on the line has this band RMS).

    Sharp band: the closed form of :meth:`metrology.psdlimit.PiecewiseLimit.band_rms_nm`
    (areal or profile, an isotropic surface for a line of the other kind); Gaussian band:
    the line weighted by T(f)² of the band's filters, integrated numerically over the
    line's range. Only the part of the band inside the line's range counts (``covered``
    False, with the reason, when the band leaves it).
    """
    lim = line.to_limit()
    kind = "areal" if b.kind == "areal" else "profile"
    if b.filter == "sharp":
        r = lim.band_rms_nm(b.f_lo_per_mm, b.f_hi_per_mm, kind)
        rms, covered, reason = r.rms_nm, r.fully_covered, r.reason
    else:
        import numpy as np

        from ..filters import band_weight, support_per_mm

        want = lim.as_kind("radial" if kind == "areal" else "profile")
        s_lo, s_hi = support_per_mm(b.f_lo_per_mm, b.f_hi_per_mm, "gaussian")
        lo, hi = max(s_lo, want.f_lo_per_mm), min(s_hi, want.f_hi_per_mm)
        var = 0.0
        if hi > lo > 0:
            f = np.geomspace(lo, hi, 4001)
            g = np.nan_to_num(np.asarray(want(f))) * band_weight(f, b.f_lo_per_mm,
                                                                 b.f_hi_per_mm, "gaussian")
            x = np.log(f)
            y = g * f
            var = float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2.0)
        rms = var ** 0.5 if hi > lo > 0 else float("nan")
        covered = bool(lo <= s_lo * (1 + 1e-9) and hi >= s_hi * (1 - 1e-9))
        reason = "" if covered else (f"the line covers {lo:g}-{hi:g} of the Gaussian band's "
                                     f"support {s_lo:.4g}-{s_hi:.4g} /mm")
    return {"rms_nm": rms if rms == rms else None, "covered": bool(covered), "reason": reason,
            "filter": b.filter, "kind": kind,
            "definition": ("RMS of a surface whose PSD is the limit line itself over the band"
                           + (" (isotropic surface: the line converted to the band's kind)"
                              if (line.kind == "profile") == (kind == "areal") else ""))}
