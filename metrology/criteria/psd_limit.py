"""``psd_limit``: the measured PSD against the spec's limit line (``[psd]``).

Each measurement is judged on the part of the line inside its own bands. The
PSD the line is written for (the profile PSD along ``direction``, one- or
two-sided, or the radial PSD) is averaged in ``bins_per_decade`` logarithmic
bins; the value is the largest ratio (mean PSD in a bin) / (mean line over the
same samples), the limit ``factor_max``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..errors import MetrologyError
from ..spec.model import COMPOSITE, REL_TOL, PsdLimitLine, PsdSegment, merge_ranges
from ._base import PSD, PSD_WINDOW, Criterion, Evidence, SiteValue, Uncertainty, figure_field
from ._uncertainty import band_judged, scaled_variance_u, unknown

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Sequence

    from ..pipeline import FileAnalysis
    from ..spec.schema import SpecDraft

__all__ = ["PsdLimitCriterion", "PsdLimitEvidence"]


@dataclass(frozen=True, eq=False)
class PsdLimitEvidence(Evidence):
    """The PSD that was judged against the line, bin by bin.

    ``psd_kind``/``sidedness``/``axis`` say which PSD it is (a radial PSD has no
    axis); ``bins`` are ``[f_lo, f_hi, ratio]`` per log bin that held samples;
    ``segments`` the line judged (clipped to the measurement's bands);
    ``curve_f_per_mm``/``curve_nm2_mm`` the judged curve itself (the profile
    PSD samples, or the radial PSD of each bin at its mean frequency), for the
    figures only.
    """

    psd_kind: str
    sidedness: str
    axis: str | None
    window: str
    f_resolved_per_mm: tuple[float, float]
    bins_per_decade: int
    factor_max: float
    bins: tuple[tuple[float, float, float], ...]
    segments: tuple[dict[str, float], ...]
    curve_f_per_mm: np.ndarray = figure_field(default=None)
    curve_nm2_mm: np.ndarray = figure_field(default=None)
    #: the same curve of the noise of the analysed map (the repeats' noise PSD / N)
    noise_curve_nm2_mm: np.ndarray = figure_field(default=None)

    KIND: ClassVar[str] = "psd_limit"


def _merge_segs(segs: tuple[PsdSegment, ...]) -> list[PsdSegment]:
    out: list[PsdSegment] = []
    for s in segs:
        if out and s.f_lo_per_mm <= out[-1].f_hi_per_mm * (1 + REL_TOL):
            out[-1] = dataclasses.replace(out[-1], f_hi_per_mm=s.f_hi_per_mm)
        else:
            out.append(s)
    return out


@dataclass(frozen=True, kw_only=True)
class PsdLimitCriterion(Criterion):
    """The measured PSD against ``line`` (the spec's line clipped to this
    measurement's bands, ``f_ranges_per_mm``): value = the largest ratio
    bin / line over the log bins; ``limit`` is ``line.factor_max``."""

    TYPE: ClassVar[str] = "psd_limit"
    SECTION: ClassVar[str] = "psd"

    line: PsdLimitLine
    f_ranges_per_mm: tuple[tuple[float, float], ...]

    @classmethod
    def from_spec(cls, draft: SpecDraft) -> None:
        line = draft.psd
        if line is None or line.measurement == COMPOSITE:
            return   # a line on the composite is metrology/criteria/composite_psd_limit.py
        bands = [e.band for e in draft.bands if e.band is not None and not e.band.composite]
        if not bands:
            draft.ctx.error(("psd",), "a PSD limit is judged on each measurement's band "
                                      "range; declare [[bands]]")
            return
        made = 0
        for name in draft.measurements:
            ranges = merge_ranges((b.f_lo_per_mm, b.f_hi_per_mm) for b in bands
                                  if b.measurement == name)
            pieces = [c for lo, hi in ranges if (c := line.clip(lo, hi)) is not None]
            if not pieces:
                continue
            segs = tuple(s for c in pieces for s in c.segments)
            clipped = dataclasses.replace(line, segments=segs)
            fr = tuple((s.f_lo_per_mm, s.f_hi_per_mm) for s in _merge_segs(segs))
            txt = ", ".join(f"{lo:g}-{hi:g}" for lo, hi in fr)
            draft.add(cls(
                id=f"{name}.psd", measurement=name, limit=line.factor_max, unit="ratio",
                line=clipped, f_ranges_per_mm=fr,
                description=f"{line.sidedness} {line.kind} PSD, every 1/{line.bins_per_decade}"
                            f"-decade bin <= {line.factor_max:g} x the limit line on {txt} /mm"),
                ("psd",), 0)
            made += 1
        if not made:
            draft.ctx.warn(("psd",), "the PSD limit line lies outside every band: nothing is "
                                     "judged on it")

    def requests(self) -> Sequence[str]:
        return (PSD,)

    def evaluate(self, analysis: FileAnalysis) -> SiteValue:
        """Largest ratio (mean measured PSD in a log bin) / (mean limit line over the
        same samples): the profile PSD along ``line.direction`` (for the two-sided PSD
        the f > 0 half is compared) or the radial PSD (annulus cell sum / width, on the
        log bins themselves)."""
        line = self.line
        spectrum = analysis.spectrum
        assert spectrum is not None and spectrum.psd is not None  # the engine checked
        p = spectrum.psd
        axis = None if line.kind == "radial" else (line.direction or "x")
        if line.kind == "radial":
            fmin, fmax = p.f_min_per_mm, p.f_max_per_mm
            prof = None
        else:
            prof = p.profile(axis, one_sided=line.sidedness == "one-sided")
            fmin, fmax = prof.f_min_per_mm, prof.f_max_per_mm
        bins: list[tuple[float, float, float]] = []
        curve_f: list[float] = []
        curve_v: list[float] = []
        noise_v: list[float] = []
        noise = spectrum.noise.psd2d(of_average=True) if spectrum.noise is not None else None
        worst = -math.inf
        reason = ""
        for lo, hi in self.f_ranges_per_mm:
            if lo < fmin * (1 - 1e-9) or hi > fmax * (1 + 1e-9):
                reason = (f"PSD limit range {lo:g}-{hi:g} /mm is outside what this file "
                          f"resolves ({fmin:.4g}-{fmax:.4g} /mm)")
                break
            k0 = math.floor(math.log10(lo) * line.bins_per_decade + 1e-9)
            k1 = math.ceil(math.log10(hi) * line.bins_per_decade - 1e-9)
            edges = 10.0 ** (np.arange(k0, k1 + 1) / line.bins_per_decade)
            edges[0], edges[-1] = lo, hi
            if prof is None:
                rad = p.radial(bins=edges)
                nrad = noise.radial(bins=edges).values if noise is not None else None
                for k, (e0, e1, v, fm) in enumerate(zip(edges[:-1], edges[1:], rad.values,
                                                        rad.f_mean_per_mm, strict=True)):
                    if not math.isfinite(v):
                        continue
                    if nrad is not None:
                        noise_v.append(float(nrad[k]))
                    ratio = float(v / line.value_nm2_mm(fm))
                    bins.append((float(e0), float(e1), ratio))
                    curve_f.append(float(fm))
                    curve_v.append(float(v))
                    worst = max(worst, ratio)
                continue
            f, pv = prof.f_per_mm, prof.values
            for e0, e1 in zip(edges[:-1], edges[1:], strict=True):
                sel = (f >= e0) & (f < e1) & (f > 0)
                if not sel.any():
                    continue
                ratio = float(np.mean(pv[sel]) / np.mean(line.value_nm2_mm(f[sel])))
                bins.append((float(e0), float(e1), ratio))
                worst = max(worst, ratio)
        if prof is not None:
            curve = (np.asarray(prof.f_per_mm), np.asarray(prof.values))
            ncurve = None if noise is None else np.asarray(noise.profile(
                axis, one_sided=line.sidedness == "one-sided").values)
        else:
            curve = (np.asarray(curve_f), np.asarray(curve_v))
            ncurve = None if noise is None else np.asarray(noise_v)
        ev = PsdLimitEvidence(
            data=spectrum.input, psd_kind=line.kind, sidedness=line.sidedness, axis=axis,
            window=spectrum.window, f_resolved_per_mm=(float(fmin), float(fmax)),
            bins_per_decade=line.bins_per_decade, factor_max=line.factor_max,
            bins=tuple(bins),
            segments=tuple({"a_nm2_mm": s.a_nm2_mm, "b": s.b, "f_lo_per_mm": s.f_lo_per_mm,
                            "f_hi_per_mm": s.f_hi_per_mm} for s in line.segments),
            curve_f_per_mm=curve[0], curve_nm2_mm=curve[1], noise_curve_nm2_mm=ncurve)
        if reason:
            return self.judge(analysis.path, None, reason, ev)
        if worst == -math.inf:
            return self.judge(analysis.path, None, "no PSD sample falls in the limit line's "
                                                   "range", ev)
        value, unc = self._bin_uncertainty(analysis, bins, worst, axis)
        return self.judge(analysis.path, value, "", ev, unc)

    def _bin_uncertainty(self, fa: FileAnalysis, bins: list[tuple[float, float, float]],
                         worst: float, axis: str | None) -> tuple[float, Uncertainty]:
        """The judged ratio and its U: each bin's ratio is proportional to the band variance
        of its bin (a profile strip, or an areal annulus for a radial line), so its U is
        ratio x ((1 + U_rms/rms)^2 - 1) from the bin's band estimate (noise-corrected like
        a band value when the spec asks and the noise is known). The value is the largest
        ratio; U is chosen so that value + U is the largest ratio + U of any bin (a bin of
        few samples can reach the limit first)."""
        ba = fa.spectrum.bands if fa.spectrum is not None else None
        if ba is None:
            return worst, unknown("the spectra of the uncertainty model could not be "
                                  "computed")
        judged: list[tuple[float, float, float, float, Uncertainty]] = []
        for e0, e1, ratio in bins:
            try:
                est = ba.estimate(e0, e1, kind="areal" if axis is None else "profile",
                                  axis=axis or "x", valid_range_per_mm=(0.0, math.inf))
            except MetrologyError as exc:
                return worst, unknown(str(exc))
            m = float(est.measured)
            rms, unc = band_judged(m, est, self.noise_correction)
            if unc.U is None or not m > 0:
                return worst, unc
            r = ratio * (rms / m) ** 2
            u = scaled_variance_u(r, rms, unc.U) if rms > 0 else scaled_variance_u(
                ratio, m, unc.U)
            judged.append((e0, e1, r, u, unc))
        value = max(j[2] for j in judged)
        top = max(judged, key=lambda j: j[2] + j[3])
        unc = top[4]
        return value, Uncertainty(
            top[2] + top[3] - value, unc.model + "; a PSD-limit ratio is proportional to the "
            "band variance of its bin: U_bin = ratio x ((1 + U_rms/rms)^2 - 1); U = the "
            "largest ratio + U_bin of any bin minus the largest ratio",
            detail="; ".join(x for x in (f"reached by the bin {top[0]:.4g}-{top[1]:.4g} /mm "
                                         f"(ratio {top[2]:.3g})", unc.detail) if x),
            noise=None, measured=worst, corrected=unc.corrected, dof=unc.dof,
            n_repeats=unc.n_repeats)

    def convention(self) -> dict[str, Any]:
        line = self.line
        return {"psd_kind": line.kind, "sidedness": line.sidedness, "direction": line.direction,
                "window": PSD_WINDOW, "bins_per_decade": line.bins_per_decade,
                "f_ranges_per_mm": [list(r) for r in self.f_ranges_per_mm],
                "segments": [{"a_nm2_mm": s.a_nm2_mm, "b": s.b, "f_lo_per_mm": s.f_lo_per_mm,
                              "f_hi_per_mm": s.f_hi_per_mm} for s in line.segments],
                "value": "largest ratio (mean PSD in a log bin) / (mean line in that bin)",
                "dimension": line.dimension, "notation": line.notation}
