"""The :class:`Profile`: one trace of heights in nm along x in mm.

A profilometer trace (stylus, or one line of an optical instrument) is a
profile, not a height map: ``metrology.load`` returns a :class:`Profile` for
1-D data (two-column ``x, z`` files, single-column files, Dektak CSV exports,
1 x N maps of the binary formats). It carries

* ``z_nm`` -- heights in nm, shape (n,), float64, NaN = invalid;
* ``dx_mm`` -- the sampling interval in mm (a profile is uniformly sampled;
  readers check that a file's x column is);
* ``meta`` -- provenance, as for :class:`~metrology.heightmap.HeightMap`.

Coordinates: ``x_mm[i] = i * dx_mm`` from the first point of the trace (the
file's first x is kept in ``meta['x_start_mm']`` when the file gives one).

Analyses (all over the valid points; nothing is filtered unless asked)
----------------------------------------------------------------------
* :meth:`Profile.psd` -- the profile PSD [nm² mm], one-sided or two-sided
  (labelled), from :func:`metrology.spectral.profile_psd`: the same
  windowing, density normalisation (Σ_M w²) and frequency range
  (2/L .. Nyquist) as the profile PSD of a map; so ``Σ values · df`` is the
  variance of the (detrended) profile.
* :meth:`Profile.band_rms` -- profile band RMS with its coverage, from that
  PSD (:func:`metrology.spectral.band_rms`, ``kind="profile"``).
* :meth:`Profile.slope_rms` -- RMS slope in µrad (1 nm/mm = 1 µrad): first
  differences of adjacent valid points about their mean, or spectral
  ``Σ (2π f)² P(f) df`` over a band.
* :meth:`Profile.roughness` -- Ra, Rq, Rz, Rp, Rv, Rt with the ISO 21920-2
  definitions (stated in :class:`Roughness`).

Evaluation length and filters
-----------------------------
The reference (mean) line is the least-squares straight line through the
valid points (``remove="line"``, default; ``"mean"`` removes only the mean).
Without cut-offs no λs or λc (nesting index) filter is applied and the
evaluation length is the whole trace (``n * dx_mm``) in ``sections`` equal
pieces: strictly, ISO 21920-2 names the results of such an unfiltered,
form-removed trace P-parameters (Pa, Pq, Pz, ...), and every result says so
in its ``profile`` field.

With cut-offs (:meth:`Profile.roughness` ``lambda_c_mm=`` / ``lambda_s_mm=``)
the filters are the ISO 16610-21 Gaussian filters (weighting function
``s(x) = exp(-π (x / (α λ))²) / (α λ)``, α = sqrt(ln 2 / π), 50 % amplitude
transmission at the cut-off; :func:`metrology.filters.gaussian_weighting_function`)
applied in space over the valid points only (normalised convolution: a
weighted mean of measured points, nothing filled in), :meth:`Profile.gaussian_lowpass`:

* λs (S-filter): the profile is replaced by its Gaussian low-pass with
  cut-off λs (shorter wavelengths removed); without λc, the evaluation length
  is the trace less λs at each end (the S-filter's run-in and run-out);
* λc (L-filter): the roughness profile is the profile minus its Gaussian
  mean line with cut-off λc. The sampling length is λc and the evaluation
  length ``sections`` x λc (ISO 21920-3 default 5), taken from the centre of
  the trace, which must leave at least λc / 2 before and after it (the run-in
  and run-out the mean line needs); a shorter trace is refused.
"""

from __future__ import annotations

import copy as _copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ConventionError, InsufficientDataError, MetrologyError

__all__ = [
    "Profile",
    "Roughness",
    "ProfileSlopeRMS",
    "NotAHeightMapError",
    "as_profile",
]


class NotAHeightMapError(MetrologyError, AttributeError, TypeError):
    """An areal operation was asked of a :class:`Profile` (1-D data).

    An ``AttributeError`` (so ``getattr(profile, "shape", None)`` and ``hasattr``
    work as for any object without the attribute) and a ``TypeError`` (the
    operation does not apply to this type)."""


#: HeightMap attributes a Profile does not have; asking for one is an areal operation
_AREAL_ONLY = frozenset({
    "shape", "dy_mm", "y_mm", "extent_mm", "grid_mm", "select_aperture", "crop_to_valid",
    "flip_y", "apply_mask",
})

_REMOVE = ("line", "mean", None)


def _as_float64_1d(z: Any) -> np.ndarray:
    arr = np.asarray(z)
    if arr.ndim != 1:
        raise ValueError(f"a profile must be 1-D, got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"height data must be real numbers, got dtype {arr.dtype}")
    out = np.array(arr, dtype=np.float64, copy=True)
    out[np.isinf(out)] = np.nan
    return out


def _check_spacing(value: float) -> float:
    v = float(value)
    if not math.isfinite(v) or v <= 0.0:
        raise ValueError(f"dx_mm must be a positive finite spacing in mm, got {value!r}")
    return v


@dataclass(frozen=True)
class Roughness:
    """Height parameters of a profile, ISO 21920-2 definitions, in nm.

    With z the heights about the reference line over the evaluation length
    (valid points only):

    * ``ra_nm`` -- Ra, arithmetic mean deviation: mean of |z|;
    * ``rq_nm`` -- Rq, root mean square deviation: sqrt(mean of z²);
    * ``rp_nm`` -- Rp, maximum peak height: the mean over the ``sections``
      of the largest z in each section;
    * ``rv_nm`` -- Rv, maximum valley depth: the mean over the sections of
      the largest -z in each section (a positive number);
    * ``rz_nm`` -- Rz, maximum height: the mean over the sections of
      (largest z - smallest z) in each section;
    * ``rt_nm`` -- Rt, total height: largest z - smallest z over the whole
      evaluation length.

    Sections: the evaluation length split into ``sections`` consecutive
    pieces of ``points_per_section`` points each (ISO 21920-3 default 5).
    Without λc the evaluation length is the whole trace (less λs at each end
    with an S-filter) and the < ``sections`` points left over at its end take
    part in Ra, Rq and Rt only; with λc each
    section is one sampling length λc (module docstring). ``lambda_c_mm`` and
    ``lambda_s_mm`` are the ISO 16610-21 Gaussian cut-offs applied (None: not
    applied); ``profile`` says which profile the values are of, with their
    ISO 21920-2 names.
    """

    ra_nm: float
    rq_nm: float
    rz_nm: float
    rp_nm: float
    rv_nm: float
    rt_nm: float
    evaluation_length_mm: float
    sections: int
    points_per_section: int
    section_length_mm: float
    reference_line: str
    profile: str
    n_valid: int
    lambda_c_mm: float | None = None
    lambda_s_mm: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python dict (JSON-ready)."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class ProfileSlopeRMS:
    """RMS slope of a profile in µrad (1 nm/mm = 1 µrad).

    ``method`` "finite-difference": first differences of adjacent valid
    points divided by dx, RMS about their mean (so a tilt does not count);
    their transfer function is ``sin(π f Δx) / (π f Δx)`` of the true slope.
    ``method`` "spectral": ``Σ (2π f)² P1+(f) df`` over the cells of the
    one-sided profile PSD with f_lo <= f < f_hi, with the band's coverage as
    in :class:`metrology.spectral.BandRMS`.
    """

    slope_urad: float
    method: str
    band_per_mm: tuple[float, float] | None
    covered_lo_per_mm: float
    covered_hi_per_mm: float
    fully_covered: bool
    reason: str
    window: str


class Profile:
    """A surface profile: heights in nm along x, uniformly sampled.

    Parameters
    ----------
    z_nm : array_like, shape (n,)
        Heights in nanometres; NaN (or inf) marks invalid points. Copied to
        float64.
    dx_mm : float
        Sampling interval along x in millimetres.
    meta : mapping, optional
        Provenance (source, instrument, units converted, ...). Copied.
    """

    __slots__ = ("_z", "_dx", "_meta", "_valid")

    def __init__(self, z_nm: Any, dx_mm: float, meta: Mapping[str, Any] | None = None) -> None:
        self._z = _as_float64_1d(z_nm)
        self._dx = _check_spacing(dx_mm)
        self._meta = _copy.deepcopy(dict(meta)) if meta else {}
        self._valid: np.ndarray | None = None

    # -- refusing areal use ---------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        if name in _AREAL_ONLY:
            src = self._meta.get("source", "")
            raise NotAHeightMapError(
                f"{src + ': ' if src else ''}this is a profile ({self._z.size} points along "
                f"x), not a height map; {name!r} is an areal operation. Use the Profile "
                "API (metrology.profile): psd, band_rms, slope_rms, roughness")
        raise AttributeError(f"'Profile' object has no attribute {name!r}")

    # -- data -------------------------------------------------------------------
    @property
    def z_nm(self) -> np.ndarray:
        """Heights in nm, shape (n,), float64, NaN = invalid (treat as read-only)."""
        return self._z

    @property
    def dx_mm(self) -> float:
        """Sampling interval along x, mm."""
        return self._dx

    @property
    def meta(self) -> dict[str, Any]:
        """Provenance metadata."""
        return self._meta

    @property
    def n_points(self) -> int:
        """Number of samples (valid or not)."""
        return int(self._z.size)

    @property
    def x_mm(self) -> np.ndarray:
        """Position of each sample along the trace, mm, from 0 at the first point."""
        return np.arange(self._z.size) * self._dx

    @property
    def length_mm(self) -> float:
        """Sampled length n * dx_mm (the evaluation length of :meth:`roughness`), mm."""
        return self._z.size * self._dx

    @property
    def valid(self) -> np.ndarray:
        """Boolean mask of valid (finite) points, shape (n,)."""
        if self._valid is None:
            self._valid = np.isfinite(self._z)
        return self._valid

    @property
    def n_valid(self) -> int:
        """Number of valid points."""
        return int(np.count_nonzero(self.valid))

    @property
    def valid_fraction(self) -> float:
        """Fraction of the samples that are valid (0..1)."""
        return self.n_valid / self._z.size if self._z.size else 0.0

    def _values(self) -> np.ndarray:
        v = self._z[self.valid]
        if v.size == 0:
            raise InsufficientDataError("the profile has no valid points")
        return v

    @property
    def mean_nm(self) -> float:
        """Mean height of the valid points, nm."""
        return float(np.mean(self._values()))

    @property
    def rms_nm(self) -> float:
        """RMS about the mean of the valid points, nm (population, 1/N); nothing else removed."""
        v = self._values()
        return float(np.sqrt(np.mean((v - v.mean()) ** 2)))

    @property
    def pv_nm(self) -> float:
        """Peak-to-valley of the valid points, nm (as stored)."""
        v = self._values()
        return float(v.max() - v.min())

    # -- operations -----------------------------------------------------------
    def replace(self, z_nm: Any | None = None, *, dx_mm: float | None = None,
                meta: Mapping[str, Any] | None = None, note: str | None = None) -> Profile:
        """Return a new profile with some fields replaced; ``note`` goes to ``meta['history']``."""
        m = dict(self._meta if meta is None else meta)
        if note:
            m["history"] = [*m.get("history", []), note]
        return Profile(self._z if z_nm is None else z_nm,
                       self._dx if dx_mm is None else dx_mm, m)

    def detrend(self, remove: str | None = "line") -> Profile:
        """The profile about its reference line: ``"line"`` (least squares through the
        valid points), ``"mean"``, or ``None`` (unchanged)."""
        if remove not in _REMOVE:
            raise ConventionError(f"remove must be 'line', 'mean' or None, got {remove!r}")
        if remove is None:
            return self
        z = self._z.copy()
        ok = self.valid
        n = int(np.count_nonzero(ok))
        if remove == "mean" or n < 2:
            if n == 0:
                raise InsufficientDataError("the profile has no valid points")
            z[ok] -= z[ok].mean()
            return self.replace(z, note="mean removed")
        x = np.flatnonzero(ok).astype(np.float64)
        xc = x - x.mean()
        zc = z[ok] - z[ok].mean()
        slope = float(np.dot(xc, zc) / np.dot(xc, xc))
        z[ok] = zc - slope * xc
        return self.replace(z, note=f"least-squares line removed (slope {slope / self._dx:.6g} "
                                    "nm/mm)")

    def as_heightmap(self) -> Any:
        """The profile as a 1 x n :class:`~metrology.heightmap.HeightMap` (row along x)."""
        from .heightmap import HeightMap

        return HeightMap(self._z[None, :], self._dx, self._dx, self._meta)

    # -- spectra --------------------------------------------------------------
    def psd(self, window: Any = "hann", remove: str | None = "line", *, one_sided: bool = True,
            pad: int | None = None) -> Any:
        """Profile PSD [nm² mm] of the trace (:class:`metrology.spectral.ProfilePSD`).

        Parameters
        ----------
        window : str or tuple
            As for :func:`metrology.spectral.profile_psd` ("hann" default, over
            the span of the valid points; "none"; "tukey"; ("tukey", alpha)).
        remove : {"line", "mean", None}
            Reference removed first (:meth:`detrend`); the mean is always
            removed by the PSD.
        one_sided : bool
            One-sided ``P1+(f) = P1(f) + P1(-f)`` for f >= 0 (default) or
            two-sided ``P1`` from -Nyquist; the result's ``sidedness`` says which.
        pad : int, optional
            Zero-padding factor.
        """
        from .spectral import profile_psd

        work = self.detrend(remove)
        if isinstance(window, str) and window.strip().lower() in ("welch", "radial-hann"):
            raise ConventionError(f"window {window!r} is radial (for maps); a profile takes "
                                  "'none', 'hann' or 'tukey'")
        return profile_psd(work.as_heightmap(), "x", window, remove=(), pad=pad,
                           one_sided=one_sided)

    def band_rms(self, f_lo_per_mm: float | None = None, f_hi_per_mm: float | None = None, *,
                 period_mm: tuple[float, float] | None = None, window: Any = "hann",
                 remove: str | None = "line",
                 valid_range_per_mm: tuple[float, float] | None = None) -> Any:
        """Profile band RMS [nm] over f_lo <= |f| < f_hi, with coverage.

        Returns :class:`metrology.spectral.BandRMS` (``kind="profile"``,
        ``axis="x"``); ``fully_covered`` is False, with the reason, when the
        band leaves [2/L, Nyquist].
        """
        from .spectral import band_rms

        return band_rms(self.psd(window, remove), f_lo_per_mm, f_hi_per_mm,
                        period_mm=period_mm, kind="profile",
                        valid_range_per_mm=valid_range_per_mm)

    def bands_rms(self, bands: Any, *, window: Any = "hann", remove: str | None = "line",
                  valid_range_per_mm: tuple[float, float] | None = None) -> list[Any]:
        """:meth:`band_rms` of several bands [(f_lo, f_hi), ...] from one PSD."""
        from .spectral import bands_rms

        return bands_rms(self.psd(window, remove), bands, kind="profile",
                         valid_range_per_mm=valid_range_per_mm)

    def slope_rms(self, band: tuple[float, float] | None = None, *, window: Any = "hann",
                  remove: str | None = "line",
                  valid_range_per_mm: tuple[float, float] | None = None) -> ProfileSlopeRMS:
        """RMS slope in µrad; see :class:`ProfileSlopeRMS`.

        ``band=None``: first differences of adjacent valid points (no window,
        no FFT; tilt does not count). A band (f_lo, f_hi): spectral, from
        :meth:`psd` (``window``, ``remove``), with coverage.
        """
        if band is None:
            z = self._z
            d = np.diff(z)
            d = d[np.isfinite(d)]
            if d.size < 2:
                raise InsufficientDataError(
                    "slope RMS needs at least 2 pairs of adjacent valid points")
            s = d / self._dx
            return ProfileSlopeRMS(float(np.sqrt(np.mean((s - s.mean()) ** 2))),
                                   "finite-difference: adjacent valid points, RMS about the "
                                   "mean slope", None, math.nan, math.nan, True, "", "none")
        from .spectral import _band_limits, _coverage  # the same band rules as band_rms

        lo, hi = _band_limits(band[0], band[1], None)
        p = self.psd(window, remove, one_sided=True)
        fmin, fmax = ((p.f_min_per_mm, p.f_max_per_mm) if valid_range_per_mm is None
                      else tuple(float(v) for v in valid_range_per_mm))
        c_lo, c_hi, cov, reason = _coverage(lo, hi, fmin, fmax)
        if cov == "none":
            val = math.nan
        else:
            f = p.f_per_mm
            sel = (f >= c_lo) & (f < c_hi)
            # (1/mm)^2 * nm^2 mm * (1/mm) = (nm/mm)^2 = urad^2
            val = math.sqrt(float(np.sum((2 * math.pi * f[sel]) ** 2 * p.values[sel]))
                            * p.df_per_mm)
        return ProfileSlopeRMS(val, "spectral: (2 pi f)^2 P1+(f) summed over f_lo <= f < "
                                    "f_hi", (lo, hi), c_lo, c_hi, cov == "full", reason,
                               p.window)

    def gaussian_lowpass(self, cutoff_mm: float) -> Profile:
        """The ISO 16610-21 Gaussian low-pass (mean line) of the profile with cut-off
        ``cutoff_mm`` (λc or λs), in space over the valid points.

        At each point, the weighted mean of the valid points within ±λ (the
        weighting function beyond is below 1e-6 of its peak) with weights
        ``s(x_i - x)`` renormalised over the valid points present (normalised
        convolution: no point is invented; near the ends and gaps the weights
        are those of the points that exist). Points with no valid point within
        ±λ are NaN; invalid points stay NaN.
        """
        from scipy.signal import fftconvolve

        from .filters import gaussian_weighting_function

        lc = float(cutoff_mm)
        if not (math.isfinite(lc) and lc > 0):
            raise ConventionError(f"a cut-off wavelength must be > 0 mm, got {cutoff_mm!r}")
        half = min(int(math.ceil(lc / self._dx)), self._z.size)
        w = gaussian_weighting_function(np.arange(-half, half + 1) * self._dx, lc)
        ok = self.valid
        num = fftconvolve(np.where(ok, self._z, 0.0), w, mode="same")
        den = fftconvolve(ok.astype(np.float64), w, mode="same")
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(den > 1e-9 * float(w.sum()), num / np.where(den > 0, den, 1.0),
                            np.nan)
        mean[~ok] = np.nan
        return self.replace(mean, note=f"ISO 16610-21 Gaussian low-pass, cut-off {lc:g} mm")

    def roughness(self, sections: int = 5, remove: str = "line", *,
                  lambda_c_mm: float | None = None,
                  lambda_s_mm: float | None = None) -> Roughness:
        """Ra, Rq, Rz, Rp, Rv, Rt (ISO 21920-2 definitions; see :class:`Roughness`).

        Parameters
        ----------
        sections : int
            Number of sections (sampling lengths) for Rz, Rp, Rv (ISO 21920-3
            default 5).
        remove : {"line", "mean"}
            Reference line removed first: least-squares line (default) or the mean.
        lambda_c_mm, lambda_s_mm : float, optional
            ISO 16610-21 Gaussian cut-offs in mm (module docstring); without
            them nothing is filtered and the values are those of the primary
            profile (ISO 21920-2: Pa, Pq, ...).

        Raises
        ------
        InsufficientDataError
            Too few valid points, a section without valid points, or a trace
            shorter than ``sections`` x λc plus λc.
        ConventionError
            Bad ``sections``, ``remove`` or cut-offs (λs must be below λc).
        """
        if remove not in ("line", "mean"):
            raise ConventionError(f"remove must be 'line' or 'mean', got {remove!r}")
        if isinstance(sections, bool) or not isinstance(sections, (int, np.integer)) \
                or sections < 1:
            raise ConventionError(f"sections must be a positive integer, got {sections!r}")
        sections = int(sections)
        for name, lam in (("lambda_c_mm", lambda_c_mm), ("lambda_s_mm", lambda_s_mm)):
            if lam is not None and not (math.isfinite(float(lam)) and float(lam) > 0):
                raise ConventionError(f"{name} must be > 0 mm, got {lam!r}")
        if lambda_c_mm is not None and lambda_s_mm is not None and \
                not float(lambda_s_mm) < float(lambda_c_mm):
            raise ConventionError(f"lambda_s_mm ({lambda_s_mm!r}) must be below lambda_c_mm "
                                  f"({lambda_c_mm!r})")
        work = self.detrend(remove)
        if lambda_s_mm is not None:
            work = work.gaussian_lowpass(float(lambda_s_mm))
        if lambda_c_mm is None:
            z = work.z_nm
            # with an S-filter only, its run-in and run-out (lambda_s at each end) are left out
            trim = 0 if lambda_s_mm is None else int(math.ceil(float(lambda_s_mm) / self._dx))
            n_eval = z.size - 2 * trim
            per = n_eval // sections
            if per < 2:
                raise InsufficientDataError(
                    f"{n_eval} points cannot be split into {sections} sections of >= 2 points")
            cuts = [(trim + k * per, trim + (k + 1) * per) for k in range(sections)]
            evaluated = z[trim:trim + n_eval]
            length = n_eval * self._dx
        else:
            lc = float(lambda_c_mm)
            per = int(round(lc / self._dx))
            n_eval = sections * per
            if per < 2 or n_eval + per > self._z.size:
                raise InsufficientDataError(
                    f"a {self.length_mm:g} mm trace is too short for {sections} sampling "
                    f"lengths of lambda_c = {lc:g} mm plus lambda_c / 2 of run-in and "
                    f"run-out (needs {(sections + 1) * lc:g} mm)")
            z = work.z_nm - work.gaussian_lowpass(lc).z_nm
            start = (self._z.size - n_eval) // 2
            evaluated = z[start:start + n_eval]
            cuts = [(start + k * per, start + (k + 1) * per) for k in range(sections)]
            length = n_eval * self._dx
        v = evaluated[np.isfinite(evaluated)]
        if v.size < 2:
            raise InsufficientDataError("roughness needs at least 2 valid points")
        peaks, valleys = [], []
        for k, (a, b) in enumerate(cuts):
            s = z[a:b]
            s = s[np.isfinite(s)]
            if s.size == 0:
                raise InsufficientDataError(
                    f"section {k + 1} of {sections} has no valid points; Rz, Rp, Rv cannot "
                    "be evaluated")
            peaks.append(float(s.max()))
            valleys.append(float(-s.min()))
        rp = float(np.mean(peaks))
        rv = float(np.mean(valleys))
        rz = float(np.mean(np.asarray(peaks) + np.asarray(valleys)))
        s_txt = (f"ISO 16610-21 Gaussian lambda_s = {float(lambda_s_mm):g} mm"
                 if lambda_s_mm is not None else "no lambda_s filter")
        if lambda_c_mm is None:
            prof = (f"primary profile: reference line removed, {s_txt}, no lambda_c filter "
                    "(ISO 21920-2 names these Pa, Pq, Pz, Pp, Pv, Pt)")
            if lambda_s_mm is None:
                prof = ("primary profile: reference line removed, no lambda_s / lambda_c "
                        "filter (ISO 21920-2 names these Pa, Pq, Pz, Pp, Pv, Pt)")
        else:
            prof = (f"roughness profile: reference line removed, {s_txt}, ISO 16610-21 "
                    f"Gaussian lambda_c = {float(lambda_c_mm):g} mm (ISO 21920-2 Ra, Rq, Rz, "
                    "Rp, Rv, Rt)")
        return Roughness(
            ra_nm=float(np.mean(np.abs(v))), rq_nm=float(np.sqrt(np.mean(v * v))),
            rz_nm=rz, rp_nm=rp, rv_nm=rv, rt_nm=float(v.max() - v.min()),
            evaluation_length_mm=length, sections=sections, points_per_section=per,
            section_length_mm=per * self._dx,
            reference_line="least-squares line" if remove == "line" else "mean",
            profile=prof, n_valid=int(v.size),
            lambda_c_mm=None if lambda_c_mm is None else float(lambda_c_mm),
            lambda_s_mm=None if lambda_s_mm is None else float(lambda_s_mm))

    def __repr__(self) -> str:
        src = self._meta.get("source", "")
        return (f"Profile({self._z.size} points, dx={self._dx:g} mm, "
                f"valid={self.valid_fraction:.1%}{', ' + str(src) if src else ''})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Profile):
            return NotImplemented
        return self._dx == other._dx and bool(np.array_equal(self._z, other._z,
                                                             equal_nan=True))

    __hash__ = None  # type: ignore[assignment]

    # -- display (metrology.plotting; matplotlib only when called) -----------------
    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Height [nm] against x [mm]; returns the Axes
        (:func:`metrology.plotting.plot_profile`)."""
        from .plotting import plot_profile

        return plot_profile(self, ax, **kwargs)


def as_profile(obj: Any) -> Any:
    """A 1 x n or n x 1 height map as a :class:`Profile`; anything else unchanged.

    * 1 x n: the row, spacing ``dx_mm``;
    * n x 1: the column in the file's order (a reader that reversed the rows
      into the y-up frame, ``meta['rows_flipped']``, is undone), spacing
      ``dy_mm``.

    ``meta['profile_from']`` records which. Used by :func:`metrology.io.load`
    so that 1-D data always come back as a profile.
    """
    from .heightmap import HeightMap

    if not isinstance(obj, HeightMap):
        return obj
    ny, nx = obj.shape
    meta = dict(obj.meta)
    if ny == 1 and nx >= 2:
        meta["profile_from"] = "the single row of a 1 x n map (along x)"
        return Profile(obj.z_nm[0], obj.dx_mm, meta)
    if nx == 1 and ny >= 2:
        z = obj.z_nm[:, 0]
        if meta.get("rows_flipped"):
            z = z[::-1]
            meta["rows_flipped"] = False
        meta["profile_from"] = "the single column of an n x 1 map (in file order)"
        return Profile(z, obj.dy_mm, meta)
    return obj
