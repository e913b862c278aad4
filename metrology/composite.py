"""Full-band composite PSD of one surface from several instruments.

:func:`composite_psd` takes every file of one surface (a full-aperture
interferometer map, microscope sites at several magnifications, ...) and
returns one :class:`CompositePSD` on a common log-spaced frequency grid, with
a standard error and the serving instrument(s) per bin, its band RMS (sharp
or ISO 16610 Gaussian), gaps, overlap disagreements, a plot and a JSON form.

Rules (each result records them)
--------------------------------
1. **Each file contributes only inside its own trustworthy range**
   (:func:`metrology.coverage.resolved_range`): from ``k / L`` (L from the
   connected valid regions, ``k = 6`` by default) to the Nyquist frequency,
   lowered by an ITF cut-off or by a tabulated :class:`~metrology.coverage.ITF`
   whose division would exceed its maximum PSD correction. A tabulated ITF is
   divided out (PSD / ITF(f)², evaluated at each bin's geometric centre).
   A bin is served by a file only when the file resolves all of it.
2. **Regions are analysed separately.** A map whose valid pixels form several
   connected regions is split (:func:`metrology.coverage.split_regions`), each
   region windowed on its own bounding box, and each region serves only the
   bins above its own ``k / L`` (per-region weighting). One window over the
   whole mask would leak at the regions' inner edges (``docs/composite.md``).
3. **Per bin, a file's density** is the mean PSD of the FFT cells in the bin
   times the bin's area in frequency (areal: ``π (e₂² - e₁²)``, profile:
   ``e₂ - e₁``), divided by the bin width. This is the annulus (or interval)
   integral of the PSD with the lattice count of the cells corrected: a sum
   of cells over-counts an annulus that happens to hold more lattice points
   than its area (several per cent in the low bins). Bins of a file's range
   that hold no cell (profile, low f) are interpolated log-log between the
   file's neighbouring bins.
4. **Statistical error of one file**: a periodogram cell of a Gaussian
   surface has a relative standard deviation of 1 (exponential distribution);
   the window correlates neighbouring cells. The relative variance of a bin's
   mean of N full-plane cells is ``min(1, 2 c / N)`` (2: a real map's cells
   come in ± pairs), ``c = N_fft Σ w⁴ / (Σ w²)²`` over the valid pixels (3.78
   for a Hann window over a full rectangle).
5. **Sites of one measurement** (files with the same ``instrument``) and the
   regions of a file are averaged in the PSD domain, weighted by their
   information (1 / relative variance), over the sites that serve the bin. The
   standard error is the larger of the statistical one and the standard error
   of the mean from the sites' spread (kept as ``spread``).
6. **Instruments are combined** per bin by ``combine``:
   ``"inverse-variance"`` (default): weights 1 / (relative variance) -- the
   variance of each estimate taken at the common level, which avoids the low
   bias of weighting each estimate by its own squared error; or ``"finer"``:
   the instrument with the finest pixel spacing among those serving the bin
   serves it alone.
7. **Overlaps**: for each pair of instruments serving common bins, the ratio
   of their integrated PSDs over the overlap is recorded; beyond
   ``overlap_factor`` (default 2) either way it is flagged. With
   ``strict_overlap`` a flag makes the composite not measurable.
8. **Gaps**: bins between the lowest and highest served bins that no file
   serves. A band that needs a gap (or frequencies outside the composite) is
   ``partial``, naming the gap.
9. **Band RMS** integrates the binned density consistently: whole bins give
   back their variance exactly; a band edge inside a bin integrates that bin's
   local power law (slope from the neighbouring bins, normalised to the bin's
   variance); the Gaussian filter weights each bin by ``T(f)²`` with an
   8-point Gauss-Legendre rule in ln f over the same local power law.

Units: frequencies cycles/mm; radial PSD nm² mm (annulus integral / width;
integrates to the variance); profile PSD nm² mm, one-sided (``P(f) + P(-f)``,
f > 0) unless ``sidedness="two-sided"`` (half of it, for f > 0; band RMS
integrates both signs, so it is the same number).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .coverage import (
    ITF,
    K_TRUSTED,
    REGION_FRACTION,
    FrequencyCoverage,
    Region,
    connected_regions,
    resolved_range,
    split_regions,
)
from .errors import ConventionError, InsufficientDataError
from .filters import band_weight, check_filter, definition, support_per_mm
from .heightmap import HeightMap
from .spectral import PSD2D, profile_psd, psd

__all__ = [
    "Contribution",
    "InstrumentSegment",
    "Overlap",
    "CompositeBandRMS",
    "CompositeBandSlope",
    "LimitComparison",
    "CompositePSD",
    "composite_psd",
    "COMBINE_RULES",
]

COMBINE_RULES = ("inverse-variance", "finer")
#: relative variance assigned to a bin with one independent cell
_MAX_REL_VAR = 1.0
#: Hann window correlation factor N Σw⁴ / (Σw²)² per axis (35/128 / (3/8)²)
_HANN_C1 = 35.0 / 18.0
_GL_X, _GL_W = np.polynomial.legendre.leggauss(8)


# ---------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Contribution:
    """One file's part in a composite.

    Parameters
    ----------
    data : HeightMap or PSD2D
        The map after preprocessing (as the criterion sees it), or its 2-D PSD.
        A map is transformed here (window, ``remove``), region by region.
    instrument : str
        The measurement it belongs to (sites of one measurement share it).
        Default: ``data.meta["instrument"]`` of a map, else "file <i>".
    site : str
        Label of this file (default: ``meta["source"]`` or the index).
    itf : ITF, optional
        Tabulated instrument transfer function, divided out.
    itf_cutoff_per_mm : float, optional
        Frequency above which the ITF is known to fall (data not used above).
    remove : sequence of str, optional
        Terms removed before the transform (default: the composite's ``remove``).
    valid : ndarray of bool, optional
        For a PSD2D input: the valid mask it was computed from (the connected
        regions set f_min). Without it, L is the PSD's bounding-box extent.
    """

    data: Any
    instrument: str = ""
    site: str = ""
    itf: ITF | None = None
    itf_cutoff_per_mm: float | None = None
    remove: Any = None
    valid: np.ndarray | None = None


@dataclass
class _Piece:
    """One region of one file, binned onto the grid."""

    instrument: str
    site: str
    region: int
    coverage: FrequencyCoverage
    density: np.ndarray  # (nb,) NaN where not served
    rel_var: np.ndarray  # (nb,)
    interpolated: np.ndarray  # (nb,) bool
    d_mm: float  # finest pixel spacing along the analysed direction(s)
    n_valid: int
    c: float
    note: str = ""


@dataclass(frozen=True, eq=False)
class InstrumentSegment:
    """What one instrument (all its sites) gives on the grid.

    Attributes
    ----------
    name : str
    n_files, n_pieces : int
        Files and analysed regions.
    sites : tuple of str
    d_mm : float
        Finest pixel spacing of its files, mm.
    f_min_per_mm, f_max_per_mm : float
        Lowest and highest frequency any of its pieces resolves.
    psd, stderr, spread : ndarray (nb,)
        Its own density, standard error and the relative spread between its
        pieces (NaN where it serves nothing or has one piece).
    served : ndarray (nb,) of bool
    n_serving : ndarray (nb,) of int
        Pieces averaged in each bin.
    weight : ndarray (nb,)
        Its share of the composite in each bin (0..1).
    coverages : tuple of FrequencyCoverage
        Per piece.
    notes : tuple of str
    removed : tuple of str
        Terms removed from its files before the transform.
    """

    name: str
    n_files: int
    n_pieces: int
    sites: tuple[str, ...]
    d_mm: float
    f_min_per_mm: float
    f_max_per_mm: float
    psd: np.ndarray
    stderr: np.ndarray
    spread: np.ndarray
    served: np.ndarray
    n_serving: np.ndarray
    weight: np.ndarray
    coverages: tuple[FrequencyCoverage, ...] = field(repr=False)
    notes: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (arrays as lists, NaN as None)."""
        return {"name": self.name, "n_files": self.n_files, "n_pieces": self.n_pieces,
                "sites": list(self.sites), "d_mm": self.d_mm,
                "f_min_per_mm": _j(self.f_min_per_mm), "f_max_per_mm": _j(self.f_max_per_mm),
                "psd": _jl(self.psd), "stderr": _jl(self.stderr), "spread": _jl(self.spread),
                "served": self.served.tolist(), "weight": _jl(self.weight),
                "coverage": [c.to_dict() for c in self.coverages], "notes": list(self.notes),
                "removed": list(self.removed)}


@dataclass(frozen=True)
class Overlap:
    """Two instruments serving common bins.

    Attributes
    ----------
    pair : (str, str)
    f_lo_per_mm, f_hi_per_mm : float
        Extent of the common bins.
    n_bins : int
    ratio : float
        ∫ PSD_a / ∫ PSD_b over the common bins.
    ratio_stderr : float
        Its standard error from the two instruments' per-bin errors.
    factor : float
        Threshold: flagged when ratio > factor or < 1 / factor.
    flagged : bool
    """

    pair: tuple[str, str]
    f_lo_per_mm: float
    f_hi_per_mm: float
    n_bins: int
    ratio: float
    ratio_stderr: float
    factor: float
    flagged: bool

    @property
    def message(self) -> str:
        """One line for reports."""
        a, b = self.pair
        verdict = "DISAGREE" if self.flagged else "agree"
        return (f"{a} / {b} over {self.f_lo_per_mm:g}-{self.f_hi_per_mm:g} /mm "
                f"({self.n_bins} bins): PSD ratio {self.ratio:.3g} ± {self.ratio_stderr:.2g} "
                f"-> {verdict} (limit {self.factor:g}x)")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"pair": list(self.pair), "f_lo_per_mm": self.f_lo_per_mm,
                "f_hi_per_mm": self.f_hi_per_mm, "n_bins": self.n_bins, "ratio": _j(self.ratio),
                "ratio_stderr": _j(self.ratio_stderr), "factor": self.factor,
                "flagged": self.flagged, "message": self.message}


@dataclass(frozen=True)
class CompositeBandRMS:
    """Band RMS of a composite PSD, with the instruments that served it.

    Attributes
    ----------
    rms_nm : float
        Over the served part of the band's support (NaN when none).
    stderr_nm : float
        Its standard error (bins taken as independent).
    f_lo_per_mm, f_hi_per_mm : float
        The band.
    filter : {"sharp", "gaussian"}
    support_lo_per_mm, support_hi_per_mm : float
        Frequencies the band needs (the band itself when sharp).
    coverage : {"full", "partial", "none"}
    measurable : bool
        Full coverage and a measurable composite: a verdict may be given.
    reason : str
        Why not (gaps, range, overlap disagreement); "" when measurable.
    served : tuple of (f_lo, f_hi, source)
        Which instrument(s) served each frequency range of the support.
    gaps : tuple of (f_lo, f_hi)
        Unserved ranges inside the support.
    flags : tuple of Overlap
        Flagged overlaps inside the support.
    kind, axis, sidedness, combine, definition, window : str
    """

    rms_nm: float
    stderr_nm: float
    f_lo_per_mm: float
    f_hi_per_mm: float
    filter: str
    support_lo_per_mm: float
    support_hi_per_mm: float
    coverage: str
    measurable: bool
    reason: str
    served: tuple[tuple[float, float, str], ...]
    gaps: tuple[tuple[float, float], ...]
    flags: tuple[Overlap, ...]
    kind: str
    axis: str | None
    sidedness: str
    combine: str
    definition: str
    window: str = ""

    @property
    def fully_covered(self) -> bool:
        """True when the composite serves the whole support."""
        return self.coverage == "full"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "flags"}
        d["rms_nm"] = _j(self.rms_nm)
        d["stderr_nm"] = _j(self.stderr_nm)
        d["support_hi_per_mm"] = _j(self.support_hi_per_mm)
        d["f_hi_per_mm"] = _j(self.f_hi_per_mm)
        d["served"] = [list(s) for s in self.served]
        d["gaps"] = [list(g) for g in self.gaps]
        d["flags"] = [f.to_dict() for f in self.flags]
        return d


@dataclass(frozen=True)
class CompositeBandSlope:
    """Band RMS slope of a composite PSD (:meth:`CompositePSD.band_slope_rms`).

    Attributes
    ----------
    rms_urad, stderr_urad : float
        RMS slope over the served part of the band's support, µrad (nm/mm), and its
        standard error; of the gradient magnitude for a radial composite, along the
        axis for a profile composite.
    Everything else as :class:`CompositeBandRMS`.
    """

    rms_urad: float
    stderr_urad: float
    f_lo_per_mm: float
    f_hi_per_mm: float
    filter: str
    support_lo_per_mm: float
    support_hi_per_mm: float
    coverage: str
    measurable: bool
    reason: str
    served: tuple[tuple[float, float, str], ...]
    gaps: tuple[tuple[float, float], ...]
    flags: tuple[Overlap, ...]
    kind: str
    axis: str | None
    sidedness: str
    combine: str
    definition: str
    window: str = ""

    @property
    def fully_covered(self) -> bool:
        """True when the composite serves the whole support."""
        return self.coverage == "full"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "flags"}
        for k in ("rms_urad", "stderr_urad", "support_hi_per_mm", "f_hi_per_mm"):
            d[k] = _j(d[k])
        d["served"] = [list(s) for s in self.served]
        d["gaps"] = [list(g) for g in self.gaps]
        d["flags"] = [f.to_dict() for f in self.flags]
        return d


@dataclass(frozen=True)
class LimitComparison:
    """A composite PSD against a limit line, bin by bin.

    Attributes
    ----------
    ratio : ndarray (nb,)
        Composite PSD / line at each bin centre (NaN where either is missing).
    max_ratio : float
        Largest ratio over the bins inside the line's range (NaN when none).
    f_at_max_per_mm : float
    factor_max : float
        Pass level: every ratio <= factor_max.
    passed : bool or None
        None when not measurable.
    measurable : bool
        The composite serves every bin of the line's range and is measurable.
    reason : str
    gaps : tuple of (f_lo, f_hi)
        Unserved ranges inside the line's range.
    """

    ratio: np.ndarray
    max_ratio: float
    f_at_max_per_mm: float
    factor_max: float
    passed: bool | None
    measurable: bool
    reason: str
    gaps: tuple[tuple[float, float], ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"ratio": _jl(self.ratio), "max_ratio": _j(self.max_ratio),
                "f_at_max_per_mm": _j(self.f_at_max_per_mm), "factor_max": self.factor_max,
                "passed": self.passed, "measurable": self.measurable, "reason": self.reason,
                "gaps": [list(g) for g in self.gaps]}


def _j(v: Any) -> Any:
    """NaN / inf -> None (JSON has neither)."""
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _jl(a: np.ndarray) -> list:
    return [_j(v) for v in np.asarray(a, dtype=np.float64).tolist()]


# ---------------------------------------------------------------------------
# the composite
# ---------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class CompositePSD:
    """Composite PSD of one surface on a common log-spaced grid.

    Attributes
    ----------
    kind : {"radial", "profile"}
    axis : {"x", "y"} or None
    sidedness : str
        "radial (annulus integral / width)", "one-sided" or "two-sided".
    unit : str
        "nm^2 mm".
    edges_per_mm : ndarray (nb + 1,)
        Bin edges: 10^(j / per_decade) plus each piece's f_min and f_max (so
        that a bin is wholly inside or outside each file's range).
    frequency_per_mm : ndarray (nb,)
        Geometric bin centres.
    psd : ndarray (nb,)
        Density, nm² mm (NaN where no instrument serves the bin).
    stderr : ndarray (nb,)
        Standard error of ``psd``.
    source : ndarray (nb,) of str
        Instrument(s) serving each bin ("a", "a+b"; "" for none).
    instruments : dict of str -> InstrumentSegment
    overlaps : tuple of Overlap
    gaps : tuple of (f_lo, f_hi)
    combine : str
    window : str
    removed : tuple of str
        Union of the terms removed from the files (per instrument:
        ``instruments[name].removed``).
    measurable : bool
        False when ``strict_overlap`` and an overlap is flagged, or nothing is served.
    reason : str
    rules : dict
        k, region_fraction, per_decade, overlap_factor, strict_overlap.
    """

    kind: str
    axis: str | None
    sidedness: str
    unit: str
    edges_per_mm: np.ndarray
    frequency_per_mm: np.ndarray
    psd: np.ndarray
    stderr: np.ndarray
    source: np.ndarray
    instruments: dict[str, InstrumentSegment]
    overlaps: tuple[Overlap, ...]
    gaps: tuple[tuple[float, float], ...]
    combine: str
    window: str
    removed: tuple[str, ...]
    measurable: bool
    reason: str
    rules: dict[str, Any]
    _density: np.ndarray = field(repr=False)  # one-sided / radial density
    _rel_var: np.ndarray = field(repr=False)
    _slope: np.ndarray = field(repr=False)

    # -- grid -------------------------------------------------------------------
    @property
    def width_per_mm(self) -> np.ndarray:
        """Bin widths, cycles/mm."""
        return np.diff(self.edges_per_mm)

    @property
    def served(self) -> np.ndarray:
        """Bins some instrument serves."""
        return np.isfinite(self._density)

    @property
    def variance_nm2(self) -> np.ndarray:
        """Variance in each bin (density × width), nm² (0 where not served)."""
        return np.where(self.served, self._density * self.width_per_mm, 0.0)

    @property
    def flags(self) -> tuple[Overlap, ...]:
        """The flagged overlaps."""
        return tuple(o for o in self.overlaps if o.flagged)

    @property
    def f_min_per_mm(self) -> float:
        """Lower edge of the lowest served bin (NaN when none)."""
        s = np.flatnonzero(self.served)
        return float(self.edges_per_mm[s[0]]) if s.size else math.nan

    @property
    def f_max_per_mm(self) -> float:
        """Upper edge of the highest served bin (NaN when none)."""
        s = np.flatnonzero(self.served)
        return float(self.edges_per_mm[s[-1] + 1]) if s.size else math.nan

    def covered(self, f_per_mm: Any) -> np.ndarray:
        """True where ``f_per_mm`` falls in a served bin."""
        f = np.asarray(f_per_mm, dtype=np.float64)
        e = self.edges_per_mm
        idx = np.searchsorted(e, f, side="right") - 1
        ok = (idx >= 0) & (idx < e.size - 1)
        out = np.zeros(f.shape, dtype=bool)
        out[ok] = self.served[idx[ok]]
        return out

    def psd_at(self, f_per_mm: Any) -> np.ndarray:
        """Density at ``f_per_mm`` from each bin's local power law (NaN where not served).

        Radial or one-sided profile density, nm² mm (the stored sidedness is
        applied: half for a two-sided profile).
        """
        f = np.asarray(f_per_mm, dtype=np.float64)
        e = self.edges_per_mm
        idx = np.searchsorted(e, f, side="right") - 1
        ok = (idx >= 0) & (idx < e.size - 1) & (f > 0)
        out = np.full(f.shape, np.nan)
        if ok.any():
            i = idx[ok]
            c = self._law_coefficient()
            out[ok] = c[i] * f[ok] ** self._slope[i]
        return out * (0.5 if self.sidedness == "two-sided" else 1.0)

    def _law_coefficient(self) -> np.ndarray:
        """C_k of the local law C_k f^s_k with ∫ over bin k = its variance."""
        e0, e1 = self.edges_per_mm[:-1], self.edges_per_mm[1:]
        integ = _power_integral(self._slope, e0, e1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.served, self._density * (e1 - e0) / integ, np.nan)

    # -- band RMS ----------------------------------------------------------------------
    def band_rms(self, f_lo_per_mm: float, f_hi_per_mm: float, *, filter: str = "sharp",
                 tail: float = 0.01) -> CompositeBandRMS:
        """RMS over the band [f_lo, f_hi) of the composite, with its coverage.

        Parameters
        ----------
        f_lo_per_mm, f_hi_per_mm : float
            Band, cycles/mm (f_hi may be inf).
        filter : {"sharp", "gaussian"}
            Sharp cut, or ISO 16610 Gaussian S-/L-filters with 50 % amplitude
            transmission at the cut-offs (:mod:`metrology.filters`).
        tail : float
            Power-weight level bounding the Gaussian band's support.

        Returns
        -------
        CompositeBandRMS
            ``measurable`` only when the composite serves the whole support
            and is itself measurable.
        """
        d = self._band_integral(f_lo_per_mm, f_hi_per_mm, filter, tail, slope=False)
        return CompositeBandRMS(rms_nm=d.pop("rms"), stderr_nm=d.pop("err"), **d)

    def band_slope_rms(self, f_lo_per_mm: float, f_hi_per_mm: float, *,
                       filter: str = "sharp", tail: float = 0.01) -> CompositeBandSlope:
        """RMS slope over the band [f_lo, f_hi): sqrt(∫ (2π f)² T(f)² PSD df), µrad.

        The same integral as :meth:`band_rms` weighted by (2π f)² (nm/mm = µrad):
        of the radial PSD, the RMS of the gradient magnitude (areal band); of a
        profile composite, the RMS slope along its axis. Within a bin the
        bin's local power law is integrated (f^(s+2)); coverage, gaps and
        flags as in :meth:`band_rms`.

        Returns
        -------
        CompositeBandSlope
        """
        d = self._band_integral(f_lo_per_mm, f_hi_per_mm, filter, tail, slope=True)
        return CompositeBandSlope(rms_urad=d.pop("rms"), stderr_urad=d.pop("err"), **d)

    def _band_integral(self, f_lo_per_mm: float, f_hi_per_mm: float, filter: str,
                       tail: float, *, slope: bool) -> dict[str, Any]:
        """The fields of a band result: height (``slope=False``, nm) or slope (µrad)."""
        flt = check_filter(filter)
        lo, hi = float(f_lo_per_mm), float(f_hi_per_mm)
        if not (math.isfinite(lo) and lo >= 0 and hi > lo) or math.isnan(hi):
            raise ConventionError(f"a band needs 0 <= f_lo < f_hi, got [{f_lo_per_mm!r}, "
                                  f"{f_hi_per_mm!r})")
        s_lo, s_hi = support_per_mm(lo, hi, flt, tail)
        e = self.edges_per_mm
        served = self.served
        c = self._law_coefficient()
        var = 0.0
        var_err2 = 0.0
        nb = e.size - 1
        extra = 2.0 if slope else 0.0       # (2 pi f)^2 weight: one more f^2 in the law
        w_const = (2.0 * math.pi) ** 2 if slope else 1.0
        for k in range(nb):
            # sharp: the band's bins; Gaussian: every served bin, weighted by T² (the
            # support only decides the coverage)
            a, b = (max(e[k], s_lo), min(e[k + 1], s_hi)) if flt == "sharp" else \
                (e[k], e[k + 1])
            if not (a < b and served[k]):
                continue
            if flt == "gaussian" and not (e[k + 1] > s_lo * 1e-3 and e[k] < s_hi * 10):
                continue  # T² < 1e-12 there
            if flt == "sharp":
                a2, b2 = max(a, lo), min(b, hi)
                if not a2 < b2:
                    continue
                if (not slope and a2 <= e[k] * (1 + 1e-12)
                        and b2 >= e[k + 1] * (1 - 1e-12)):
                    v = self._density[k] * (e[k + 1] - e[k])
                else:
                    v = w_const * c[k] * float(_power_integral(self._slope[k] + extra, a2, b2))
            else:
                u = 0.5 * (_GL_X + 1.0) * math.log(b / a) + math.log(a)
                fq = np.exp(u)
                wq = 0.5 * math.log(b / a) * _GL_W
                v = float(np.sum(wq * fq * c[k] * fq ** self._slope[k]
                                 * (w_const * fq ** extra)
                                 * band_weight(fq, lo, hi, "gaussian")))
            var += v
            var_err2 += (v * math.sqrt(self._rel_var[k])) ** 2
        # coverage of the support
        reasons, gaps_in = [], []
        if not self.measurable:
            reasons.append(self.reason)
        s_served = np.flatnonzero(served)
        if s_served.size == 0:
            reasons.append("no instrument serves any frequency")
        else:
            f0, f1 = e[s_served[0]], e[s_served[-1] + 1]
            if s_lo < f0 * (1 - 1e-9):
                reasons.append(f"the band needs data from {s_lo:g}/mm; the composite starts "
                               f"at {f0:g}/mm")
            if s_hi > f1 * (1 + 1e-9):
                reasons.append(f"the band needs data up to {s_hi:g}/mm; the composite ends "
                               f"at {f1:g}/mm")
            for g0, g1 in self.gaps:
                if g0 < s_hi and g1 > s_lo:
                    gaps_in.append((max(g0, s_lo), min(g1, s_hi)))
            if gaps_in:
                reasons.append("no instrument serves " + ", ".join(
                    f"{g0:g}-{g1:g} /mm" for g0, g1 in gaps_in))
        covered_any = any(served[k] and max(e[k], s_lo) < min(e[k + 1], s_hi)
                          for k in range(nb))
        range_ok = s_served.size and s_lo >= e[s_served[0]] * (1 - 1e-9) and \
            s_hi <= e[s_served[-1] + 1] * (1 + 1e-9)
        if not covered_any:
            cov = "none"
        elif range_ok and not gaps_in:
            cov = "full"
        else:
            cov = "partial"
        flags = tuple(o for o in self.flags if o.f_lo_per_mm < s_hi and o.f_hi_per_mm > s_lo)
        rms = math.sqrt(var) if covered_any else math.nan
        err = math.sqrt(var_err2) / (2 * rms) if covered_any and rms > 0 else math.nan
        dfn = definition(flt, lo, hi)
        if slope:
            dfn += "; slope: (2 pi f)^2 weight, nm/mm = urad"
        return dict(
            rms=rms, err=err, f_lo_per_mm=lo, f_hi_per_mm=hi, filter=flt,
            support_lo_per_mm=s_lo, support_hi_per_mm=s_hi, coverage=cov,
            measurable=(cov == "full" and self.measurable), reason="; ".join(reasons),
            served=self._segments(s_lo, s_hi), gaps=tuple(gaps_in), flags=flags,
            kind=self.kind, axis=self.axis, sidedness=self.sidedness, combine=self.combine,
            definition=dfn, window=self.window)

    def bands_rms(self, bands: Sequence[tuple[float, float]], *, filter: str = "sharp",
                  tail: float = 0.01) -> list[CompositeBandRMS]:
        """:meth:`band_rms` of each (f_lo, f_hi)."""
        return [self.band_rms(lo, hi, filter=filter, tail=tail) for lo, hi in bands]

    def served_ranges(self, f_lo_per_mm: float, f_hi_per_mm: float
                      ) -> tuple[tuple[float, float, str], ...]:
        """Which instrument(s) serve which part of [f_lo, f_hi]: consecutive served bins
        with one source, clipped to the range, as (f_lo, f_hi, source)."""
        return self._segments(float(f_lo_per_mm), float(f_hi_per_mm))

    def _segments(self, s_lo: float, s_hi: float) -> tuple[tuple[float, float, str], ...]:
        """Consecutive served bins with one source label, clipped to [s_lo, s_hi]."""
        e = self.edges_per_mm
        out: list[list[Any]] = []
        for k in range(e.size - 1):
            a, b = max(e[k], s_lo), min(e[k + 1], s_hi)
            if not a < b or not self.source[k]:
                continue
            if out and out[-1][2] == self.source[k] and out[-1][1] >= a * (1 - 1e-12):
                out[-1][1] = float(b)
            else:
                out.append([float(a), float(b), str(self.source[k])])
        return tuple((a, b, s) for a, b, s in out)

    def compare_limit(self, limit: Any, factor_max: float = 1.0) -> LimitComparison:
        """Every served bin inside the line's range against ``factor_max`` × the line.

        Parameters
        ----------
        limit : PSDLimit or PiecewiseLimit
            Of kind "radial" for a radial composite, "profile" (one-sided) for a
            profile composite; another kind is converted for an isotropic surface.
        factor_max : float
            Pass when PSD <= factor_max × line in every bin.

        Returns
        -------
        LimitComparison
            Not measurable when a bin of the line's range is not served (gap,
            or beyond the composite) or the composite is not measurable.
        """
        want = "radial" if self.kind == "radial" else "profile"
        line = limit.as_kind(want) if getattr(limit, "kind", want) != want else limit
        fac = float(factor_max)
        if not (math.isfinite(fac) and fac > 0):
            raise ConventionError(f"factor_max must be > 0, got {factor_max!r}")
        e = self.edges_per_mm
        lo, hi = float(line.f_lo_per_mm), float(line.f_hi_per_mm)
        inside = (e[1:] > lo * (1 + 1e-12)) & (e[:-1] < hi * (1 - 1e-12))
        ref = np.asarray(line(self.frequency_per_mm), dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(inside & self.served, self._density / ref, np.nan)
        reasons = [] if self.measurable else [self.reason]
        missing = inside & ~self.served
        gaps = []
        k = 0
        while k < missing.size:
            if missing[k]:
                g0 = k
                while k < missing.size and missing[k]:
                    k += 1
                gaps.append((float(max(e[g0], lo)), float(min(e[k], hi))))
            k += 1
        if e[0] > lo * (1 + 1e-9) or e[-1] < hi * (1 - 1e-9):
            reasons.append(f"the line spans {lo:g}-{hi:g}/mm, the composite grid "
                           f"{e[0]:g}-{e[-1]:g}/mm")
        if gaps:
            reasons.append("no instrument serves " + ", ".join(f"{a:g}-{b:g} /mm"
                                                               for a, b in gaps))
        ok = np.isfinite(ratio)
        if ok.any():
            i = int(np.nanargmax(ratio))
            mx, fmx = float(ratio[i]), float(self.frequency_per_mm[i])
        else:
            mx, fmx = math.nan, math.nan
            reasons.append("no served bin inside the line's range")
        measurable = not reasons
        return LimitComparison(ratio, mx, fmx, fac, (mx <= fac) if measurable else None,
                               measurable, "; ".join(r for r in reasons if r), tuple(gaps))

    # -- output ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready composite: frequencies, PSD, stderr, source per bin, and the rules."""
        return {
            "quantity": ("radial PSD (annulus integral / width)" if self.kind == "radial"
                         else f"profile PSD along {self.axis}, {self.sidedness}"),
            "kind": self.kind, "axis": self.axis, "sidedness": self.sidedness,
            "unit": self.unit, "frequency_unit": "cycles/mm",
            "edges_per_mm": self.edges_per_mm.tolist(),
            "frequency_per_mm": self.frequency_per_mm.tolist(),
            "psd": _jl(self.psd), "stderr": _jl(self.stderr),
            "source": [str(s) for s in self.source],
            "instruments": {k: v.to_dict() for k, v in self.instruments.items()},
            "overlaps": [o.to_dict() for o in self.overlaps],
            "gaps": [list(g) for g in self.gaps],
            "combine": self.combine, "window": self.window, "removed": list(self.removed),
            "measurable": self.measurable, "reason": self.reason, "rules": dict(self.rules),
        }

    def plot(self, ax: Any = None, *, limit: Any = None, bands: Sequence[Any] = (),
             show_composite: bool = True, title: str | None = None) -> Any:
        """Log-log plot: each instrument's PSD with its standard-error band, the composite.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Drawn into; a new figure otherwise.
        limit : PSDLimit or callable, optional
            Limit line (a callable of f in cycles/mm returning nm² mm).
        bands : sequence of (f_lo, f_hi) or (f_lo, f_hi, label)
            Shaded, labelled with the instrument(s) that served them.
        show_composite : bool
            Draw the combined PSD as a black line.

        Returns
        -------
        matplotlib Axes
        """
        import matplotlib.pyplot as plt  # lazy: plotting is optional

        if ax is None:
            _, ax = plt.subplots(figsize=(7.5, 4.8))
        f = self.frequency_per_mm
        scale = 0.5 if self.sidedness == "two-sided" else 1.0
        colours = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
        for i, (name, seg) in enumerate(self.instruments.items()):
            col = colours[i % len(colours)]
            ok = seg.served
            y = np.where(ok, seg.psd * scale, np.nan)
            s = np.where(ok, seg.stderr * scale, np.nan)
            ax.fill_between(f, np.clip(y - s, y * 1e-3, None), y + s, color=col, alpha=0.25,
                            linewidth=0, step=None)
            ax.plot(f, y, color=col, lw=1.4, label=f"{name} ({seg.n_files} file"
                    f"{'s' if seg.n_files != 1 else ''})")
        if show_composite:
            ax.plot(f, self.psd, color="k", lw=0.9, ls="-", label=f"composite ({self.combine})")
        if limit is not None:
            fl = np.geomspace(self.edges_per_mm[0], self.edges_per_mm[-1], 200)
            ax.plot(fl, np.asarray(limit(fl), dtype=float), color="crimson", ls="--", lw=1.3,
                    label="limit")
        for b in bands:
            lo, hi = float(b[0]), float(b[1])
            r = self.band_rms(lo, hi)
            who = ", ".join(sorted({s for _, _, s in r.served})) or "not measurable"
            lab = (str(b[2]) + ": " if len(b) > 2 else "") + who
            ax.axvspan(lo, hi, color="0.5", alpha=0.08)
            ax.text(math.sqrt(lo * hi) if math.isfinite(hi) else lo, 1.0, lab,
                    transform=ax.get_xaxis_transform(), ha="center", va="top", fontsize=7)
        for o in self.flags:
            ax.axvspan(o.f_lo_per_mm, o.f_hi_per_mm, color="red", alpha=0.12)
        for g0, g1 in self.gaps:
            ax.axvspan(g0, g1, color="orange", alpha=0.15)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("spatial frequency (cycles/mm)")
        side = "radial" if self.kind == "radial" else f"profile {self.axis}, {self.sidedness}"
        ax.set_ylabel(f"PSD, {side} (nm² mm)")
        if title:
            ax.set_title(title)
        ax.legend(fontsize=7, loc="lower left")
        return ax


def _power_integral(s: Any, a: Any, b: Any) -> np.ndarray:
    """∫_a^b f^s df (elementwise), for f^s densities within a bin."""
    s = np.asarray(s, dtype=np.float64)
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    e = s + 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        near = np.abs(e) < 1e-9
        val = np.where(near, np.log(b / a), (b ** e - a ** e) / np.where(near, 1.0, e))
    return val


# ---------------------------------------------------------------------------
# building
# ---------------------------------------------------------------------------

def _as_contribution(item: Any, i: int) -> Contribution:
    if isinstance(item, Contribution):
        c = item
    elif isinstance(item, (HeightMap, PSD2D)):
        c = Contribution(item)
    else:
        raise TypeError(f"item {i}: expected a HeightMap, PSD2D or Contribution, got "
                        f"{type(item).__name__}")
    if not isinstance(c.data, (HeightMap, PSD2D)):
        raise TypeError(f"item {i}: a Contribution holds a HeightMap or PSD2D, got "
                        f"{type(c.data).__name__}")
    meta = c.data.meta if isinstance(c.data, HeightMap) else {}
    inst = c.instrument or str(meta.get("instrument") or "") or f"file {i}"
    site = c.site or str(meta.get("source") or "") or str(i)
    if inst != c.instrument or site != c.site:
        c = Contribution(c.data, inst, site, c.itf, c.itf_cutoff_per_mm, c.remove, c.valid)
    return c


def _grid(fmins: list[float], fmaxs: list[float], per_decade: int,
          f_range: tuple[float, float] | None) -> np.ndarray:
    """Edges 10^(j / per_decade) over the range, plus every piece's f_min and f_max.

    The inserted limits make each bin lie wholly inside or outside each piece's
    range (no instrument loses up to a bin at each end of its range). A regular
    edge closer than a quarter of a bin (in log f) to an inserted one is dropped.
    """
    if f_range is not None:
        lo, hi = (float(v) for v in f_range)
        if not (lo > 0 and hi > lo and math.isfinite(hi)):
            raise ConventionError(f"f_range_per_mm must be (lo, hi) with 0 < lo < hi, got "
                                  f"{f_range!r}")
    else:
        lo, hi = min(fmins), max(fmaxs)
    j0 = math.floor(math.log10(lo) * per_decade + 1e-9)
    j1 = math.ceil(math.log10(hi) * per_decade - 1e-9)
    if j1 <= j0:
        j1 = j0 + 1
    regular = 10.0 ** (np.arange(j0, j1 + 1) / per_decade)
    limits = np.array([v for v in (*fmins, *fmaxs) if regular[0] < v < regular[-1]])
    if limits.size == 0:
        return regular
    tol = 0.25 / per_decade
    lr = np.log10(regular)
    ll = np.log10(limits)
    keep = np.ones(regular.size, dtype=bool)
    keep[1:-1] = np.min(np.abs(lr[1:-1, None] - ll[None, :]), axis=1) > tol
    edges = np.unique(np.concatenate([regular[keep], limits]))
    # drop exact duplicates from rounding
    return edges[np.concatenate(([True], np.diff(np.log10(edges)) > 1e-12))]


def _window_c(valid: np.ndarray, window: str, n_fft: int, sum_w2: float | None
              ) -> tuple[float, str]:
    """c = N_fft Σ_M w⁴ / (Σ_M w²)² for the Hann-over-bounding-box or no window."""
    ny, nx = valid.shape
    n_valid = int(valid.sum())
    if window == "none":
        return n_fft / n_valid, ""
    rows = np.flatnonzero(valid.any(axis=1))
    cols = np.flatnonzero(valid.any(axis=0))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1

    def hann(n: int) -> np.ndarray:
        return np.sin(np.pi * (np.arange(n) + 0.5) / n) ** 2

    wy = np.zeros(ny)
    wx = np.zeros(nx)
    wy[r0:r1] = hann(r1 - r0)
    wx[c0:c1] = hann(c1 - c0)
    if n_valid == ny * nx:
        s2 = float(np.sum(wy ** 2) * np.sum(wx ** 2))
        s4 = float(np.sum(wy ** 4) * np.sum(wx ** 4))
    else:
        m = valid.astype(np.float64)
        s2 = float((wy ** 2) @ m @ (wx ** 2))
        s4 = float((wy ** 4) @ m @ (wx ** 4))
    note = ""
    if sum_w2 is not None and not math.isclose(s2, sum_w2, rel_tol=1e-6):
        note = ("the PSD's window normalisation differs from a Hann window over the "
                "bounding box: the statistical error uses the Hann factor")
    return n_fft * s4 / (s2 * s2), note


def _approx_c(p: PSD2D) -> float:
    """Window correlation factor of a PSD2D without its mask: Hann (or none) over a
    rectangle, scaled by the padding and the fill of the analysed box."""
    n_fft = p.fft_shape[0] * p.fft_shape[1]
    n_box = p.data_shape[0] * p.data_shape[1]
    base = _HANN_C1 ** 2 if p.window.startswith("hann") else 1.0
    return base * n_fft / max(1, min(p.n_valid, n_box))


def _bin_radial(p: PSD2D, edges: np.ndarray, cov: FrequencyCoverage
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per grid bin inside the coverage: (mean-cell density, full-plane cell count, served)."""
    nb = edges.size - 1
    inside = (edges[:-1] >= cov.f_min_per_mm * (1 - 1e-12)) & \
        (edges[1:] <= cov.f_max_per_mm * (1 + 1e-12))
    dens = np.full(nb, np.nan)
    cnt = np.zeros(nb)
    if not inside.any():
        return dens, cnt, inside
    r = p.radial(bins=edges)  # cached when the PSD was computed with bins=edges
    counts = r.counts.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = r.variance_nm2 / (counts * p.cell_area)
        # mean cell PSD x annulus area / width = mean x pi (e0 + e1)
        dens = np.where(counts > 0, mean * math.pi * (edges[:-1] + edges[1:]), np.nan)
    cnt = counts
    dens[~inside] = np.nan
    cnt[~inside] = 0
    return dens, cnt, inside


def _bin_profile(f: np.ndarray, vals: np.ndarray, n_other: int, edges: np.ndarray,
                 cov: FrequencyCoverage) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Profile (one-sided) cells onto the grid: (mean density, full-plane cells, served)."""
    nb = edges.size - 1
    inside = (edges[:-1] >= cov.f_min_per_mm * (1 - 1e-12)) & \
        (edges[1:] <= cov.f_max_per_mm * (1 + 1e-12))
    pos = f > 0
    idx = np.searchsorted(edges, f[pos], side="right") - 1
    ok = (idx >= 0) & (idx < nb)
    m = np.bincount(idx[ok], minlength=nb).astype(np.float64)
    s = np.bincount(idx[ok], weights=vals[pos][ok], minlength=nb)
    with np.errstate(invalid="ignore", divide="ignore"):
        dens = np.where(inside & (m > 0), s / m, np.nan)
    cnt = np.where(inside, 2.0 * m * n_other, 0.0)
    return dens, cnt, inside


def _fill_empty(dens: np.ndarray, rel: np.ndarray, inside: np.ndarray, f: np.ndarray
                ) -> np.ndarray:
    """Interpolate (log-log) bins inside the range that hold no cell; returns the mask."""
    empty = inside & ~np.isfinite(dens)
    have = inside & np.isfinite(dens) & (dens > 0)
    if not empty.any() or have.sum() < 2:
        return np.zeros_like(inside)
    hv = np.flatnonzero(have)
    filled = np.zeros_like(inside)
    for k in np.flatnonzero(empty):
        lo = hv[hv < k]
        hi = hv[hv > k]
        if lo.size == 0 or hi.size == 0:
            continue
        a, b = lo[-1], hi[0]
        t = (math.log(f[k]) - math.log(f[a])) / (math.log(f[b]) - math.log(f[a]))
        dens[k] = math.exp((1 - t) * math.log(dens[a]) + t * math.log(dens[b]))
        rel[k] = max(rel[a], rel[b])
        filled[k] = True
    return filled


def _parts_of(c: Contribution, kind: str, axis: str, *, k: float, region_fraction: float,
              per_region: bool, min_region_px: int) -> list[tuple[int, Any, FrequencyCoverage]]:
    """The analysed pieces of a file (its connected regions) with their coverage."""
    ck = "areal" if kind == "radial" else "profile"
    out: list[tuple[int, Any, FrequencyCoverage]] = []
    if isinstance(c.data, HeightMap):
        hm = c.data
        regs = connected_regions(hm.valid, hm.dx_mm, hm.dy_mm)
        if not regs:
            raise InsufficientDataError(f"{c.instrument} / {c.site}: the map has no valid pixels")
        if per_region and len(regs) > 1:
            parts = split_regions(hm, kind=ck, axis=axis, k=k, min_length_px=min_region_px,
                                  regions=regs)
            if not parts:
                raise InsufficientDataError(
                    f"{c.instrument} / {c.site}: every connected region is shorter than "
                    f"{min_region_px} pixels")
        else:
            parts = [(None, hm)]
        for reg, sub in parts:
            if reg is None:
                cov = resolved_range(sub.valid, sub.dx_mm, sub.dy_mm, kind=ck, axis=axis, k=k,
                                     region_fraction=region_fraction,
                                     itf_cutoff_per_mm=c.itf_cutoff_per_mm, itf=c.itf,
                                     regions=regs)
            else:
                local = Region(reg.label, slice(0, sub.shape[0]), slice(0, sub.shape[1]),
                               reg.n_pixels, reg.extent_x_mm, reg.extent_y_mm)
                cov = resolved_range(sub.valid, sub.dx_mm, sub.dy_mm, kind=ck, axis=axis, k=k,
                                     region_fraction=region_fraction,
                                     itf_cutoff_per_mm=c.itf_cutoff_per_mm, itf=c.itf,
                                     regions=(local,))
            label = 0 if reg is None else reg.label
            out.append((label, sub, cov))
    else:
        p = c.data
        if c.valid is not None:
            v = np.asarray(c.valid, dtype=bool)
            if v.shape != tuple(p.data_shape):
                raise ConventionError(f"{c.instrument} / {c.site}: valid mask shape {v.shape} "
                                      f"differs from the PSD's data shape {p.data_shape}")
            cov = resolved_range(v, p.dx_mm, p.dy_mm, kind=ck, axis=axis, k=k,
                                 region_fraction=region_fraction,
                                 itf_cutoff_per_mm=c.itf_cutoff_per_mm, itf=c.itf)
        else:
            ny = max(1, int(round(p.extent_mm[1] / p.dy_mm)))
            nx = max(1, int(round(p.extent_mm[0] / p.dx_mm)))
            cov = resolved_range(np.ones((ny, nx), dtype=bool), p.dx_mm, p.dy_mm, kind=ck,
                                 axis=axis, k=k, itf_cutoff_per_mm=c.itf_cutoff_per_mm,
                                 itf=c.itf)
        out.append((0, p, cov))
    return out


def _bin_parts(c: Contribution, parts: list[tuple[int, Any, FrequencyCoverage]], kind: str,
               axis: str, edges: np.ndarray, *, window: Any, remove: Any
               ) -> list[tuple[_Piece, str, tuple[str, ...]]]:
    """Transform and bin each piece of a file onto the grid."""
    rem = remove if c.remove is None else c.remove
    wname = str(window).strip().lower() if isinstance(window, str) else "other"
    pieces = []
    for label, obj, cov in parts:
        note = ""
        if isinstance(obj, HeightMap):
            if kind == "radial":
                p = psd(obj, window=window, remove=rem, bins=edges)
            else:
                p = None
            n_fft = obj.shape[0] * obj.shape[1]
            if wname in ("hann", "none"):
                cfac, note = _window_c(obj.valid, wname, n_fft,
                                       None if p is None else p.sum_w2)
            else:
                cfac, _ = _window_c(obj.valid, "hann", n_fft, None)
                note = f"window {window!r}: the statistical error uses the Hann factor"
            if kind == "radial":
                dens, cnt, inside = _bin_radial(p, edges, cov)
                wdesc = p.window
                removed = p.removed
            else:
                pp = profile_psd(obj, axis, window=window, remove=rem, one_sided=True)
                n_other = obj.shape[0] if axis == "x" else obj.shape[1]
                dens, cnt, inside = _bin_profile(pp.f_per_mm, pp.values, n_other, edges, cov)
                wdesc = pp.window
                removed = tuple(rem) if not isinstance(rem, str) else (rem,)
            n_valid = obj.n_valid
            d_mm = min(obj.dx_mm, obj.dy_mm) if kind == "radial" else \
                (obj.dx_mm if axis == "x" else obj.dy_mm)
        else:
            p = obj
            cfac = _approx_c(p)
            if kind == "radial":
                dens, cnt, inside = _bin_radial(p, edges, cov)
            else:
                pp = p.profile(axis, one_sided=True)
                n_other = p.fft_shape[0] if axis == "x" else p.fft_shape[1]
                dens, cnt, inside = _bin_profile(pp.f_per_mm, pp.values, n_other, edges, cov)
            wdesc, removed = p.window, p.removed
            n_valid = p.n_valid
            d_mm = min(p.dx_mm, p.dy_mm) if kind == "radial" else \
                (p.dx_mm if axis == "x" else p.dy_mm)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(cnt > 0, np.minimum(_MAX_REL_VAR, 2.0 * cfac / cnt), np.nan)
        fc = np.sqrt(edges[:-1] * edges[1:])
        filled = _fill_empty(dens, rel, inside, fc)
        if c.itf is not None:
            corr = c.itf.psd_correction(fc)
            dens = dens * np.where(np.isfinite(corr), corr, np.nan)
        dens[~inside] = np.nan
        rel[~np.isfinite(dens)] = np.nan
        pieces.append((_Piece(c.instrument, c.site, label, cov, dens, rel, filled, d_mm,
                              n_valid, cfac, note), wdesc, removed))
    return pieces


def composite_psd(maps_or_psds: Sequence[Any], *, kind: str = "radial", axis: str = "x",
                  sidedness: str = "one-sided", per_decade: int = 20,
                  f_range_per_mm: tuple[float, float] | None = None,
                  combine: str = "inverse-variance", overlap_factor: float = 2.0,
                  strict_overlap: bool = False, k: float = K_TRUSTED,
                  region_fraction: float = REGION_FRACTION, window: Any = "hann",
                  remove: Any = ("piston", "tilt"), per_region: bool = True,
                  min_region_px: int = 16) -> CompositePSD:
    """One PSD of a surface from all its files, on a common log-spaced grid.

    Parameters
    ----------
    maps_or_psds : sequence of HeightMap, PSD2D or Contribution
        Every file of one surface, preprocessed as the criterion needs. Files
        with the same ``instrument`` are sites of one measurement.
    kind : {"radial", "profile"}
        Radial PSD (annulus integral / width, nm² mm; areal bands) or profile
        PSD along ``axis`` (nm² mm; profile bands).
    axis : {"x", "y"}
        Profile direction.
    sidedness : {"one-sided", "two-sided"}
        Label and scale of a profile composite (the radial PSD has none).
    per_decade : int
        Grid bins per decade; edges at 10^(j / per_decade) (default 20), plus
        each file's f_min and f_max.
    f_range_per_mm : (lo, hi), optional
        Grid extent (default: from the lowest f_min to the highest f_max).
    combine : {"inverse-variance", "finer"}
        How overlapping instruments are combined (module docstring).
    overlap_factor : float
        Overlap disagreement threshold on the PSD ratio (default 2).
    strict_overlap : bool
        A flagged overlap makes the composite (and every band) not measurable.
    k, region_fraction : float
        f_min rule (:func:`metrology.coverage.resolved_range`).
    window : str
        Window of each region's PSD (default "hann").
    remove : sequence of str
        Terms removed from each region before its transform (a Contribution's
        own ``remove`` overrides it).
    per_region : bool
        Analyse connected regions separately (default True).
    min_region_px : int
        Regions shorter than this are dropped.

    Returns
    -------
    CompositePSD

    Raises
    ------
    InsufficientDataError
        No file, or no file resolves any frequency of the grid.
    """
    kd = str(kind).lower()
    if kd not in ("radial", "profile"):
        raise ConventionError(f"kind must be 'radial' or 'profile', got {kind!r}")
    ax = str(axis).lower()
    if kd == "profile" and ax not in ("x", "y"):
        raise ConventionError(f"axis must be 'x' or 'y', got {axis!r}")
    side = str(sidedness).lower()
    if side not in ("one-sided", "two-sided"):
        raise ConventionError(f"sidedness must be 'one-sided' or 'two-sided', got "
                              f"{sidedness!r}")
    rule = str(combine).lower()
    if rule not in COMBINE_RULES:
        raise ConventionError(f"combine must be one of {COMBINE_RULES}, got {combine!r}")
    if not (isinstance(per_decade, (int, np.integer)) and 1 <= per_decade <= 200):
        raise ConventionError(f"per_decade must be an integer in [1, 200], got {per_decade!r}")
    fac = float(overlap_factor)
    if not (math.isfinite(fac) and fac > 1.0):
        raise ConventionError(f"overlap_factor must be a finite factor > 1, got "
                              f"{overlap_factor!r}")
    items = [_as_contribution(it, i) for i, it in enumerate(maps_or_psds)]
    if not items:
        raise InsufficientDataError("a composite PSD needs at least one file")
    parts = [_parts_of(c, kd, ax, k=k, region_fraction=region_fraction, per_region=per_region,
                       min_region_px=min_region_px) for c in items]
    covs = [cov for pt in parts for _, _, cov in pt]
    usable = [cv for cv in covs if not cv.empty]
    if not usable:
        raise InsufficientDataError("no file resolves any frequency: " + "; ".join(
            f"f_min {cv.f_min_per_mm:g} >= f_max {cv.f_max_per_mm:g} /mm" for cv in covs))
    edges = _grid([cv.f_min_per_mm for cv in usable], [cv.f_max_per_mm for cv in usable],
                  int(per_decade), f_range_per_mm)
    fc = np.sqrt(edges[:-1] * edges[1:])
    nb = fc.size
    pieces: list[_Piece] = []
    wdescs: list[str] = []
    removed_by: dict[str, list[str]] = {}
    for c, pt in zip(items, parts, strict=True):
        for pc, wd, rm in _bin_parts(c, pt, kd, ax, edges, window=window, remove=remove):
            pieces.append(pc)
            wdescs.append(wd)
            removed_by.setdefault(pc.instrument, [])
            removed_by[pc.instrument] += [str(t) for t in rm]
    names = list(dict.fromkeys(p.instrument for p in pieces))

    # -- per instrument: average of its pieces over the bins each serves ----------------
    segs: dict[str, dict[str, Any]] = {}
    for name in names:
        mine = [p for p in pieces if p.instrument == name]
        dens = np.stack([p.density for p in mine])
        rel = np.stack([p.rel_var for p in mine])
        ok = np.isfinite(dens) & np.isfinite(rel) & (rel > 0)
        w = np.where(ok, 1.0 / np.where(ok, rel, 1.0), 0.0)
        wsum = w.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(wsum > 0, np.sum(w * np.where(ok, dens, 0.0), axis=0) / wsum,
                            np.nan)
            rel_stat = np.where(wsum > 0, 1.0 / wsum, np.nan)
            nserv = ok.sum(axis=0)
            dev2 = np.sum(w * np.where(ok, (dens - mean) ** 2, 0.0), axis=0) / wsum
            neff = wsum ** 2 / np.sum(w * w, axis=0)
            spread = np.where(nserv >= 2, np.sqrt(dev2 * nserv / np.maximum(nserv - 1, 1))
                              / mean, np.nan)
            rel_emp = np.where(nserv >= 2, spread ** 2 / neff, 0.0)
        rel_inst = np.where(wsum > 0, np.maximum(rel_stat, rel_emp), np.nan)
        fmins = [p.coverage.f_min_per_mm for p in mine if not p.coverage.empty]
        fmaxs = [p.coverage.f_max_per_mm for p in mine if not p.coverage.empty]
        segs[name] = dict(
            psd=mean, rel=rel_inst, spread=spread, served=np.isfinite(mean), nserv=nserv,
            d_mm=min(p.d_mm for p in mine), files=list(dict.fromkeys(p.site for p in mine)),
            n_pieces=len(mine), covs=tuple(p.coverage for p in mine),
            fmin=min(fmins) if fmins else math.nan, fmax=max(fmaxs) if fmaxs else math.nan,
            notes=tuple(dict.fromkeys(p.note for p in mine if p.note)),
            removed=tuple(dict.fromkeys(removed_by.get(name, []))))

    # -- combine instruments per bin -------------------------------------------------------
    D = np.stack([segs[n]["psd"] for n in names])
    R = np.stack([segs[n]["rel"] for n in names])
    S = np.isfinite(D) & np.isfinite(R)
    W = np.zeros_like(D)
    if rule == "inverse-variance":
        W = np.where(S, 1.0 / np.where(S, np.maximum(R, 1e-300), 1.0), 0.0)
    else:
        order = np.argsort([segs[n]["d_mm"] for n in names], kind="stable")
        taken = np.zeros(nb, dtype=bool)
        for i in order:
            pick = S[i] & ~taken
            W[i, pick] = 1.0
            taken |= pick
    wsum = W.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        dens = np.where(wsum > 0, np.sum(W * np.where(S, D, 0.0), axis=0) / wsum, np.nan)
        if rule == "inverse-variance":
            rel = np.where(wsum > 0, 1.0 / wsum, np.nan)
        else:
            rel = np.where(wsum > 0, np.sum(W * np.where(S, R, 0.0), axis=0) / wsum, np.nan)
        frac = np.where(wsum > 0, W / wsum, 0.0)
    source = np.array(["+".join(n for i, n in enumerate(names) if W[i, kk] > 0)
                       for kk in range(nb)], dtype=object)

    # -- overlaps ---------------------------------------------------------------------------
    overlaps = []
    width = np.diff(edges)
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            both = S[i] & S[j]
            if not both.any():
                continue
            va, vb = D[i, both] * width[both], D[j, both] * width[both]
            if not (va.sum() > 0 and vb.sum() > 0):
                continue
            ratio = float(va.sum() / vb.sum())
            ea = math.sqrt(float(np.sum(va ** 2 * R[i, both]))) / float(va.sum())
            eb = math.sqrt(float(np.sum(vb ** 2 * R[j, both]))) / float(vb.sum())
            kk = np.flatnonzero(both)
            flagged = ratio > fac or ratio < 1.0 / fac
            overlaps.append(Overlap((names[i], names[j]), float(edges[kk[0]]),
                                    float(edges[kk[-1] + 1]), int(both.sum()), ratio,
                                    ratio * math.hypot(ea, eb), fac, flagged))

    # -- gaps ---------------------------------------------------------------------------------
    served = np.isfinite(dens)
    gaps = []
    if served.any():
        s0, s1 = np.flatnonzero(served)[[0, -1]]
        kk = s0
        while kk <= s1:
            if not served[kk]:
                g0 = kk
                while kk <= s1 and not served[kk]:
                    kk += 1
                gaps.append((float(edges[g0]), float(edges[kk])))
            kk += 1
    reasons = []
    measurable = bool(served.any())
    if not measurable:
        reasons.append("no file serves any bin of the grid")
    flagged = [o for o in overlaps if o.flagged]
    if strict_overlap and flagged:
        measurable = False
        reasons.append("strict_overlap: " + "; ".join(o.message for o in flagged)
                       + " (usually a calibration, filtering or scaling problem)")

    # -- local slopes for within-bin integration --------------------------------------------
    slope = _local_slopes(dens, fc)
    scale = 0.5 if (kd == "profile" and side == "two-sided") else 1.0
    instruments = {}
    for i, n in enumerate(names):
        sg = segs[n]
        instruments[n] = InstrumentSegment(
            name=n, n_files=len(sg["files"]), n_pieces=sg["n_pieces"],
            sites=tuple(sg["files"]), d_mm=sg["d_mm"], f_min_per_mm=sg["fmin"],
            f_max_per_mm=sg["fmax"], psd=sg["psd"], stderr=sg["psd"] * np.sqrt(sg["rel"]),
            spread=sg["spread"], served=sg["served"], n_serving=sg["nserv"],
            weight=frac[i], coverages=sg["covs"], notes=sg["notes"], removed=sg["removed"])
    return CompositePSD(
        kind=kd, axis=ax if kd == "profile" else None,
        sidedness=("radial (annulus integral / width)" if kd == "radial" else side),
        unit="nm^2 mm", edges_per_mm=edges, frequency_per_mm=fc, psd=dens * scale,
        stderr=dens * np.sqrt(rel) * scale, source=source, instruments=instruments,
        overlaps=tuple(overlaps), gaps=tuple(gaps),
        combine=(rule + (": weights 1 / relative variance per bin" if rule ==
                         "inverse-variance" else ": finest pixel spacing serves the bin")),
        window=wdescs[0] if len(set(wdescs)) == 1 else "; ".join(dict.fromkeys(wdescs)),
        removed=tuple(dict.fromkeys(t for v in removed_by.values() for t in v)),
        measurable=measurable, reason="; ".join(reasons),
        rules={"k": float(k), "region_fraction": float(region_fraction),
               "per_decade": int(per_decade), "overlap_factor": fac,
               "strict_overlap": bool(strict_overlap), "per_region": bool(per_region),
               "density": "mean cell PSD x bin area / bin width (lattice count corrected)"},
        _density=dens, _rel_var=rel, _slope=slope)


def _local_slopes(dens: np.ndarray, fc: np.ndarray) -> np.ndarray:
    """Log-log slope of the density at each served bin from its served neighbours."""
    nb = dens.size
    ok = np.isfinite(dens) & (dens > 0)
    ld = np.where(ok, np.log(np.where(ok, dens, 1.0)), np.nan)
    lf = np.log(fc)
    s = np.zeros(nb)
    for kk in range(nb):
        if not ok[kk]:
            continue
        a = kk - 1 if kk > 0 and ok[kk - 1] else kk
        b = kk + 1 if kk < nb - 1 and ok[kk + 1] else kk
        if b > a:
            s[kk] = (ld[b] - ld[a]) / (lf[b] - lf[a])
    return np.clip(s, -8.0, 8.0)
