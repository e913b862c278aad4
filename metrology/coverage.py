"""The spatial-frequency range a height map trustworthily resolves.

One small pure function, :func:`resolved_range` ``(valid, dx_mm, dy_mm)``,
gives the lowest and highest frequency (cycles/mm) a map's PSD can be trusted
over, with the reason for each limit; :class:`ITF` describes an instrument
transfer function that lowers the upper limit.

Lowest frequency: ``f_min = k / L``
-----------------------------------
L comes from the *connected* valid regions, not from their bounding box: two
0.2 mm patches 4 mm apart resolve nothing below ~k / 0.2 mm, whatever the box.

* Regions are 4-connected sets of valid pixels (``connectivity=1``; 2 for
  8-connected). A region's length is the shorter side of its bounding box
  (areal / radial bands) or its extent along the profile axis (profile
  bands), in mm: ``n_pixels_across * d``.
* Pixel-weighted rule: regions are ordered by length, longest first, and L is
  the length of the region at which their cumulative pixel count first reaches
  ``region_fraction`` (default 0.95) of the valid pixels. Above ``k / L`` the
  regions holding at least 95 % of the data resolve the band; fragments
  holding less than 5 % do not pull the limit up. ``region_fraction`` -> 0
  gives the largest region's length, 1 the shortest region's.
* ``k = 6`` by default (:data:`K_TRUSTED`). Measured (``docs/composite.md``)
  on non-periodic power-law surfaces (square crops of a periodic surface 8x
  larger, Hann window, piston and tilt removed, 160 crops of 128 px): the RMS
  of the octave band [a/L, 2a/L) reads high by

  ====================  =====  =====  =====  =====  =====
  radial PSD slope       a=2    a=3    a=4    a=6    a=8
  ====================  =====  =====  =====  =====  =====
  f^-1                  +16 %  +6 %   +4 %   +3 %   +2 %
  f^-2                  +35 %  +12 %  +8 %   +4 %   +4 %
  f^-3                  +73 %  +22 %  +14 %  +7 %   +5 %
  ====================  =====  =====  =====  =====  =====

  (window leakage from the steep low frequencies; it falls as (slope / fL)²).
  ``k = 2``, the textbook "resolvable at all" limit, reads 16-73 % high in
  the first octave; ``k = 6`` keeps the first octave within ~5 % for the
  radial slopes of polished optics (1 to 2.5). Pass ``k=2`` for the
  resolvability limit of the conventions.

Several regions in one window (measured, same page): when the regions do not
fill the bounding box, a window over the box does not fall to zero at their
inner edges, and the step leaks at *every* frequency: a second region holding
6 % of the pixels at the far corner of the box biased every band of an f^-2
surface by +30 %. Analyse each region with its own window
(:func:`split_regions`; the composite PSD does so) rather than the whole mask
in one; ``FrequencyCoverage.fragmented`` says when this matters.

Highest frequency
-----------------
The Nyquist frequency ``1 / (2 d)`` (the smaller of the two for areal bands),
lowered to ``itf_cutoff_per_mm`` where the instrument transfer function is
known to fall, or to the frequency at which dividing out a tabulated
:class:`ITF` would multiply the PSD by more than its ``max_psd_correction``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ConventionError, InsufficientDataError

__all__ = [
    "K_TRUSTED",
    "REGION_FRACTION",
    "ITF",
    "Region",
    "FrequencyCoverage",
    "connected_regions",
    "resolved_range",
    "raise_f_min",
    "split_regions",
]

#: default k of f_min = k / L (see the module docstring for the measurement)
K_TRUSTED = 6.0
#: default share of the valid pixels whose regions must resolve f_min
REGION_FRACTION = 0.95
#: relative tolerance of the coverage comparisons (a band given as 1 / period
#: is not flagged for a rounding error)
COVERAGE_RTOL = 1e-9


# ---------------------------------------------------------------------------
# instrument transfer function
# ---------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class ITF:
    """Instrument transfer function: measured / true height amplitude versus frequency.

    Parameters
    ----------
    f_per_mm : array_like, shape (n,)
        Spatial frequencies, cycles/mm, strictly increasing, >= 0.
    values : array_like, shape (n,)
        Amplitude transfer (dimensionless, > 0 where usable). The PSD is
        divided by ``ITF(f)²``.
    max_psd_correction : float
        Largest factor the PSD may be multiplied by (``1 / ITF² <=`` this);
        default 4 (ITF >= 0.5). Where the correction would exceed it, the
        data are not used (:attr:`f_max_per_mm`).
    source : str
        Where the table comes from (calibration artefact, model), for reports.

    Notes
    -----
    Interpolated linearly in f between the table points; below the first
    point the first value holds; beyond the last point the ITF is unknown
    and the data are not used.
    """

    f_per_mm: np.ndarray
    values: np.ndarray
    max_psd_correction: float = 4.0
    source: str = ""

    def __post_init__(self) -> None:
        f = np.array(self.f_per_mm, dtype=np.float64).ravel()
        v = np.array(self.values, dtype=np.float64).ravel()
        if f.size < 2 or f.shape != v.shape:
            raise ConventionError("an ITF table needs >= 2 (frequency, value) pairs of equal "
                                  f"length, got {f.size} and {v.size}")
        if not (np.all(np.isfinite(f)) and np.all(np.isfinite(v)) and f[0] >= 0
                and np.all(np.diff(f) > 0)):
            raise ConventionError("ITF frequencies must be finite, >= 0 and strictly "
                                  "increasing, and its values finite")
        if np.any(v < 0):
            raise ConventionError("ITF values are amplitude ratios and cannot be negative")
        m = float(self.max_psd_correction)
        if not (math.isfinite(m) and m >= 1.0):
            raise ConventionError(f"max_psd_correction must be a finite factor >= 1, got "
                                  f"{self.max_psd_correction!r}")
        f.setflags(write=False)
        v.setflags(write=False)
        object.__setattr__(self, "f_per_mm", f)
        object.__setattr__(self, "values", v)
        object.__setattr__(self, "max_psd_correction", m)

    def __call__(self, f_per_mm: Any) -> np.ndarray:
        """ITF amplitude at ``f_per_mm`` (NaN beyond the table)."""
        f = np.asarray(f_per_mm, dtype=np.float64)
        out = np.interp(f, self.f_per_mm, self.values)
        return np.where(f > self.f_per_mm[-1] * (1 + COVERAGE_RTOL), np.nan, out)

    def psd_correction(self, f_per_mm: Any) -> np.ndarray:
        """Factor ``1 / ITF(f)²`` the PSD is multiplied by (NaN where not allowed)."""
        t = self(f_per_mm)
        with np.errstate(divide="ignore", invalid="ignore"):
            c = 1.0 / (t * t)
        return np.where(np.isfinite(c) & (c <= self.max_psd_correction * (1 + 1e-12)),
                        c, np.nan)

    @property
    def f_max_per_mm(self) -> float:
        """Highest f such that the correction stays allowed on all of [0, f], cycles/mm."""
        f, v = self.f_per_mm, self.values
        vmin = 1.0 / math.sqrt(self.max_psd_correction)
        bad = np.flatnonzero(v < vmin * (1 - 1e-12))
        if bad.size == 0:
            return float(f[-1])
        i = int(bad[0])
        if i == 0:
            return 0.0
        # linear crossing between points i-1 (allowed) and i (not allowed)
        f0, f1, v0, v1 = f[i - 1], f[i], v[i - 1], v[i]
        return float(f0 + (v0 - vmin) / (v0 - v1) * (f1 - f0))

    @property
    def description(self) -> str:
        """One line for reports."""
        s = (f"tabulated ITF ({self.f_per_mm.size} points to {self.f_per_mm[-1]:g}/mm), "
             f"divided out up to a PSD correction of {self.max_psd_correction:g}x")
        return s + (f"; {self.source}" if self.source else "")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {"f_per_mm": self.f_per_mm.tolist(), "values": self.values.tolist(),
                "max_psd_correction": self.max_psd_correction, "source": self.source,
                "f_max_per_mm": self.f_max_per_mm}


# ---------------------------------------------------------------------------
# regions
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Region:
    """One connected region of valid pixels.

    Attributes
    ----------
    label : int
        The region's label in :func:`scipy.ndimage.label` numbering of the mask
        (1-based, in order of each region's first pixel, row-major; found by
        :func:`kernels.regions.component_boxes` without a label image).
    rows, cols : slice
        Bounding box in the map's array.
    n_pixels : int
    extent_x_mm, extent_y_mm : float
        Bounding-box extent, ``n_cols * dx`` and ``n_rows * dy``, mm.
    """

    label: int
    rows: slice
    cols: slice
    n_pixels: int
    extent_x_mm: float
    extent_y_mm: float

    def length_mm(self, kind: str = "areal", axis: str = "x") -> float:
        """Length that sets f_min: shorter extent (areal) or extent along ``axis`` (profile)."""
        if kind == "profile":
            return self.extent_x_mm if axis == "x" else self.extent_y_mm
        return min(self.extent_x_mm, self.extent_y_mm)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {"label": self.label, "rows": [self.rows.start, self.rows.stop],
                "cols": [self.cols.start, self.cols.stop], "n_pixels": self.n_pixels,
                "extent_x_mm": self.extent_x_mm, "extent_y_mm": self.extent_y_mm}


def _check_valid(valid: Any) -> np.ndarray:
    v = np.asarray(valid)
    if v.ndim != 2:
        raise ConventionError(f"a valid mask must be 2-D, got shape {v.shape}")
    if v.dtype != bool:
        raise ConventionError(f"a valid mask must be boolean, got dtype {v.dtype}")
    return v


def _check_spacing(name: str, d: Any) -> float:
    v = float(d)
    if not (math.isfinite(v) and v > 0):
        raise ConventionError(f"{name} must be a positive spacing in mm, got {d!r}")
    return v


def _label(v: np.ndarray, connectivity: int) -> tuple[np.ndarray, int]:
    from scipy import ndimage  # lazy: only masks with holes or islands need it

    return ndimage.label(v, structure=ndimage.generate_binary_structure(2, connectivity))


def connected_regions(valid: np.ndarray, dx_mm: float, dy_mm: float | None = None, *,
                      connectivity: int = 1) -> tuple[Region, ...]:
    """The connected regions of a valid mask, most pixels first.

    Parameters
    ----------
    valid : ndarray of bool, shape (ny, nx)
    dx_mm, dy_mm : float
        Pixel spacing, mm (``dy_mm`` defaults to ``dx_mm``).
    connectivity : {1, 2}
        1: pixels sharing an edge are connected (4-neighbour); 2: also a corner.

    Returns
    -------
    tuple of Region
        Empty for an all-invalid mask.
    """
    v = _check_valid(valid)
    dx = _check_spacing("dx_mm", dx_mm)
    dy = dx if dy_mm is None else _check_spacing("dy_mm", dy_mm)
    if connectivity not in (1, 2):
        raise ConventionError(f"connectivity must be 1 or 2, got {connectivity!r}")
    ny, nx = v.shape
    if v.all():
        return (Region(1, slice(0, ny), slice(0, nx), ny * nx, nx * dx, ny * dy),)
    if not v.any():
        return ()
    from kernels.regions import component_boxes  # runs and union-find: no label image

    count, r0, r1, c0, c1 = component_boxes(np.ascontiguousarray(v), connectivity - 1)
    out = [Region(i + 1, slice(int(r0[i]), int(r1[i])), slice(int(c0[i]), int(c1[i])),
                  int(count[i]), int(c1[i] - c0[i]) * dx, int(r1[i] - r0[i]) * dy)
           for i in range(count.size)]
    out.sort(key=lambda r: (-r.n_pixels, r.label))
    return tuple(out)


# ---------------------------------------------------------------------------
# coverage
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class FrequencyCoverage:
    """Frequency range [f_min, f_max] a map resolves, and why.

    Attributes
    ----------
    f_min_per_mm, f_max_per_mm : float
        Limits, cycles/mm. ``f_min >= f_max`` means nothing is resolved
        (:attr:`empty`).
    kind : {"areal", "profile"}
    axis : {"x", "y"} or None
    k : float
        Factor of f_min = k / L.
    length_mm : float
        L, mm (see the module docstring).
    region_fraction : float
    rule : str
        The rule in words.
    nyquist_per_mm : float
    itf_cutoff_per_mm : float or None
    itf : ITF or None
    low_reason, high_reason : str
        What sets each limit.
    regions : tuple of Region
    n_valid : int
    fragment_fraction : float
        Share of the valid pixels outside the largest region.
    """

    f_min_per_mm: float
    f_max_per_mm: float
    kind: str
    axis: str | None
    k: float
    length_mm: float
    region_fraction: float
    rule: str
    nyquist_per_mm: float
    itf_cutoff_per_mm: float | None
    itf: ITF | None
    low_reason: str
    high_reason: str
    regions: tuple[Region, ...] = field(repr=False)
    n_valid: int = 0
    fragment_fraction: float = 0.0

    @property
    def empty(self) -> bool:
        """True when no frequency is resolved (f_min >= f_max)."""
        return not self.f_min_per_mm < self.f_max_per_mm

    @property
    def fragmented(self) -> bool:
        """More than 1 - region_fraction of the pixels lie outside the largest region:
        analyse the regions separately (:func:`split_regions`)."""
        return self.fragment_fraction > 1.0 - self.region_fraction + 1e-12

    def clip(self, f_lo_per_mm: float, f_hi_per_mm: float) -> tuple[float, float, str, str]:
        """The part of [f_lo, f_hi) inside the range.

        Returns
        -------
        (covered_lo, covered_hi, coverage, reason)
            ``coverage`` is "full", "partial" or "none" (then the covered
            limits are NaN); ``reason`` says which limit was crossed ("" when
            full).
        """
        lo, hi = float(f_lo_per_mm), float(f_hi_per_mm)
        if not (lo >= 0 and hi > lo):
            raise ConventionError(f"a band needs 0 <= f_lo < f_hi, got [{lo!r}, {hi!r})")
        fmin, fmax = self.f_min_per_mm, self.f_max_per_mm
        if self.empty:
            return math.nan, math.nan, "none", (
                f"the map resolves no frequency: f_min = {fmin:g}/mm ({self.low_reason}) "
                f">= f_max = {fmax:g}/mm ({self.high_reason})")
        reasons = []
        if lo < fmin * (1 - COVERAGE_RTOL):
            reasons.append(f"f_lo = {lo:g}/mm is below f_min = {fmin:g}/mm ({self.low_reason})")
        if hi > fmax * (1 + COVERAGE_RTOL):
            reasons.append(f"f_hi = {hi:g}/mm is above f_max = {fmax:g}/mm ({self.high_reason})")
        c_lo = fmin if lo < fmin * (1 - COVERAGE_RTOL) else lo
        c_hi = fmax if hi > fmax * (1 + COVERAGE_RTOL) else hi
        if not c_lo < c_hi:
            return math.nan, math.nan, "none", "; ".join(reasons) + \
                "; no part of the band is resolved"
        return c_lo, c_hi, ("partial" if reasons else "full"), "; ".join(reasons)

    def covers(self, f_lo_per_mm: float, f_hi_per_mm: float) -> bool:
        """True when all of [f_lo, f_hi) is resolved."""
        return self.clip(f_lo_per_mm, f_hi_per_mm)[2] == "full"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (regions summarised)."""
        return {
            "f_min_per_mm": self.f_min_per_mm, "f_max_per_mm": self.f_max_per_mm,
            "kind": self.kind, "axis": self.axis, "k": self.k, "length_mm": self.length_mm,
            "region_fraction": self.region_fraction, "rule": self.rule,
            "nyquist_per_mm": self.nyquist_per_mm, "itf_cutoff_per_mm": self.itf_cutoff_per_mm,
            "itf": None if self.itf is None else self.itf.description,
            "low_reason": self.low_reason, "high_reason": self.high_reason,
            "n_regions": len(self.regions), "n_valid": self.n_valid,
            "fragment_fraction": self.fragment_fraction, "fragmented": self.fragmented,
        }


def raise_f_min(cov: FrequencyCoverage, f_min_per_mm: float | None, reason: str, *,
                length_mm: float | None = None) -> FrequencyCoverage:
    """``cov`` with its lowest frequency raised to ``f_min_per_mm`` (cycles/mm) for
    ``reason`` (what the caller knows and the mask does not: the largest circle inscribed in
    the data around holes left unfilled, the form removed before the PSD); ``cov`` itself
    when that is not higher. ``length_mm``: the L that limit stands for, if any."""
    if f_min_per_mm is None or not f_min_per_mm > cov.f_min_per_mm * (1 + COVERAGE_RTOL):
        return cov
    import dataclasses

    kw: dict[str, Any] = {"f_min_per_mm": float(f_min_per_mm), "low_reason": reason}
    if length_mm is not None:
        kw["length_mm"] = float(length_mm)
    return dataclasses.replace(cov, **kw)


def _check_kind_axis(kind: str, axis: str) -> tuple[str, str | None]:
    k = str(kind).lower()
    if k == "radial":
        k = "areal"
    if k not in ("areal", "profile"):
        raise ConventionError(f"kind must be 'areal' (or 'radial') or 'profile', got {kind!r}")
    a = str(axis).lower()
    if k == "profile" and a not in ("x", "y"):
        raise ConventionError(f"axis must be 'x' or 'y', got {axis!r}")
    return k, (a if k == "profile" else None)


def resolved_range(valid: np.ndarray, dx_mm: float, dy_mm: float | None = None, *,
                   kind: str = "areal", axis: str = "x", k: float = K_TRUSTED,
                   region_fraction: float = REGION_FRACTION,
                   itf_cutoff_per_mm: float | None = None, itf: ITF | None = None,
                   connectivity: int = 1,
                   regions: tuple[Region, ...] | None = None) -> FrequencyCoverage:
    """Frequency range a map with this valid mask and sampling resolves.

    Parameters
    ----------
    valid : ndarray of bool, shape (ny, nx)
        Valid pixels (True) of the map as it is analysed (after preprocessing).
    dx_mm, dy_mm : float
        Pixel spacing along x (columns) and y (rows), mm.
    kind : {"areal", "radial", "profile"}
        Areal / radial bands use the shorter region extent and the lower
        Nyquist frequency; profile bands the extent and Nyquist along ``axis``.
    axis : {"x", "y"}
        Profile direction.
    k : float
        f_min = k / L (default :data:`K_TRUSTED` = 6; 2 is the resolvability
        limit, biased high by up to ~70 % in the first octave).
    region_fraction : float in (0, 1]
        Pixel-weighted rule: L is the length of the region at which the
        regions, longest first, reach this share of the valid pixels.
    itf_cutoff_per_mm : float, optional
        Frequency above which the instrument transfer function is known to fall.
    itf : ITF, optional
        Tabulated ITF; f_max is lowered to :attr:`ITF.f_max_per_mm`.
    connectivity : {1, 2}
        Region connectivity (see :func:`connected_regions`).
    regions : tuple of Region, optional
        Precomputed :func:`connected_regions` of the same mask (saves the labelling).

    Returns
    -------
    FrequencyCoverage

    Raises
    ------
    InsufficientDataError
        No valid pixel.
    """
    v = _check_valid(valid)
    kd, ax = _check_kind_axis(kind, axis)
    dx = _check_spacing("dx_mm", dx_mm)
    dy = dx if dy_mm is None else _check_spacing("dy_mm", dy_mm)
    kk = float(k)
    if not (math.isfinite(kk) and kk > 0):
        raise ConventionError(f"k must be a positive number, got {k!r}")
    q = float(region_fraction)
    if not (0.0 < q <= 1.0):
        raise ConventionError(f"region_fraction must be in (0, 1], got {region_fraction!r}")
    regs = connected_regions(v, dx, dy, connectivity=connectivity) if regions is None \
        else tuple(regions)
    if not regs:
        raise InsufficientDataError("the map has no valid pixels: it resolves no frequency")
    n_valid = sum(r.n_pixels for r in regs)
    by_length = sorted(regs, key=lambda r: -r.length_mm(kd, ax or "x"))
    cum = 0
    chosen = by_length[-1]
    for r in by_length:
        cum += r.n_pixels
        if cum >= q * n_valid * (1 - 1e-12):
            chosen = r
            break
    length = chosen.length_mm(kd, ax or "x")
    fmin = kk / length
    what = "shorter extent" if kd == "areal" else f"extent along {ax}"
    if len(regs) == 1:
        low = f"k / L = {kk:g} / {length:g} mm, L the {what} of the valid region"
    else:
        low = (f"k / L = {kk:g} / {length:g} mm, L the {what} of the connected region at "
               f"which the regions, longest first, hold {q:.0%} of the valid pixels "
               f"({len(regs)} regions)")
    nyq = 0.5 / dx if ax == "x" else 0.5 / dy if ax == "y" else min(0.5 / dx, 0.5 / dy)
    fmax, high = nyq, "Nyquist frequency 1 / (2 d)"
    if itf_cutoff_per_mm is not None:
        c = float(itf_cutoff_per_mm)
        if not (c > 0 and not math.isnan(c)):
            raise ConventionError(f"itf_cutoff_per_mm must be > 0, got {itf_cutoff_per_mm!r}")
        if c < fmax:
            fmax, high = c, "instrument transfer function cut-off"
    if itf is not None:
        if not isinstance(itf, ITF):
            raise TypeError(f"itf must be a metrology.coverage.ITF, got {type(itf).__name__}")
        c = itf.f_max_per_mm
        if c < fmax:
            fmax = c
            high = (f"the tabulated ITF needs more than a {itf.max_psd_correction:g}x PSD "
                    "correction above this (or ends)")
    rule = (f"f_min = k / L with k = {kk:g}, L the {what} of the connected valid regions "
            f"(pixel-weighted, {q:.0%}); f_max = min(Nyquist, ITF limit)")
    largest = max(r.n_pixels for r in regs)
    return FrequencyCoverage(
        f_min_per_mm=fmin, f_max_per_mm=fmax, kind=kd, axis=ax, k=kk, length_mm=length,
        region_fraction=q, rule=rule, nyquist_per_mm=nyq,
        itf_cutoff_per_mm=None if itf_cutoff_per_mm is None else float(itf_cutoff_per_mm),
        itf=itf, low_reason=low, high_reason=high, regions=regs, n_valid=n_valid,
        fragment_fraction=1.0 - largest / n_valid)


def split_regions(hm: Any, *, kind: str = "areal", axis: str = "x", k: float = K_TRUSTED,
                  min_length_px: int = 8, connectivity: int = 1,
                  regions: tuple[Region, ...] | None = None) -> list[tuple[Region, Any]]:
    """Each connected region as its own map, cropped to its bounding box.

    Other regions' pixels inside the box are set invalid, so that a window over
    the crop falls to zero at this region's edges.

    Parameters
    ----------
    hm : HeightMap
    kind, axis, k : see :func:`resolved_range`
    min_length_px : int
        Regions shorter than this many pixels (in the length that sets f_min)
        are dropped: they resolve at most ``k / (min_length_px d)``, close to
        Nyquist.
    regions : tuple of Region, optional
        Precomputed :func:`connected_regions` of ``hm.valid``.

    Returns
    -------
    list of (Region, HeightMap)
        Most pixels first. A map that is one region comes back as itself.
    """
    from .heightmap import HeightMap

    if not isinstance(hm, HeightMap):
        raise TypeError(f"expected a metrology.HeightMap, got {type(hm).__name__}")
    kd, ax = _check_kind_axis(kind, axis)
    regs = connected_regions(hm.valid, hm.dx_mm, hm.dy_mm, connectivity=connectivity) \
        if regions is None else tuple(regions)
    if len(regs) == 1 and regs[0].rows == slice(0, hm.shape[0]) \
            and regs[0].cols == slice(0, hm.shape[1]):
        return [(regs[0], hm)]
    d_len = {"areal": min(hm.dx_mm, hm.dy_mm), "x": hm.dx_mm, "y": hm.dy_mm}
    out = []
    labels = _label(hm.valid, connectivity)[0] if len(regs) > 1 else None
    for r in regs:
        d = d_len["areal"] if kd == "areal" else d_len[ax]
        if r.length_mm(kd, ax or "x") < min_length_px * d * (1 - 1e-12):
            continue
        z = hm.z_nm[r.rows, r.cols].copy()
        if labels is not None:
            z[labels[r.rows, r.cols] != r.label] = np.nan
        sub = hm.replace(z, note=f"connected region {r.label}: rows {r.rows.start}:"
                                 f"{r.rows.stop}, cols {r.cols.start}:{r.cols.stop}")
        out.append((r, sub))
    return out
