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
The evaluation length is the whole trace (``n * dx_mm``). The reference
(mean) line is the least-squares straight line through the valid points
(``remove="line"``, default; ``"mean"`` removes only the mean). No λs or λc
(nesting index) filter is applied: strictly, ISO 21920-2 names the results
of an unfiltered, form-removed trace P-parameters (Pa, Pq, Pz, ...); every
result says so in its ``profile`` field. A roughness (R) profile needs a
Gaussian λc filter (ISO 16610-21), which this module does not apply.
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
    pieces of ``points_per_section`` points each (ISO 21920-3 default 5;
    the < ``sections`` points left over at the end take part in Ra, Rq and
    Rt only).
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

    def roughness(self, sections: int = 5, remove: str = "line") -> Roughness:
        """Ra, Rq, Rz, Rp, Rv, Rt (ISO 21920-2 definitions; see :class:`Roughness`).

        Parameters
        ----------
        sections : int
            Number of sections for Rz, Rp, Rv (ISO 21920-3 default 5).
        remove : {"line", "mean"}
            Reference line: least-squares line (default) or the mean.
        """
        if remove not in ("line", "mean"):
            raise ConventionError(f"remove must be 'line' or 'mean', got {remove!r}")
        if isinstance(sections, bool) or not isinstance(sections, (int, np.integer)) \
                or sections < 1:
            raise ConventionError(f"sections must be a positive integer, got {sections!r}")
        sections = int(sections)
        z = self.detrend(remove).z_nm
        ok = np.isfinite(z)
        v = z[ok]
        if v.size < 2:
            raise InsufficientDataError("roughness needs at least 2 valid points")
        per = z.size // sections
        if per < 2:
            raise InsufficientDataError(
                f"{z.size} points cannot be split into {sections} sections of >= 2 points")
        peaks, valleys = [], []
        for k in range(sections):
            s = z[k * per:(k + 1) * per]
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
        prof = ("primary profile: reference line removed, no lambda_s / lambda_c filter "
                "(ISO 21920-2 names these Pa, Pq, Pz, Pp, Pv, Pt)")
        return Roughness(
            ra_nm=float(np.mean(np.abs(v))), rq_nm=float(np.sqrt(np.mean(v * v))),
            rz_nm=rz, rp_nm=rp, rv_nm=rv, rt_nm=float(v.max() - v.min()),
            evaluation_length_mm=self.length_mm, sections=sections, points_per_section=per,
            section_length_mm=per * self._dx,
            reference_line="least-squares line" if remove == "line" else "mean",
            profile=prof, n_valid=int(v.size))

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
