"""Power spectral densities, band-limited RMS, slope RMS and PVr.

Formulas (``docs/conventions.md``, section PSD). With h the heights (nm) over the
valid mask M, the mean and the requested terms removed, 0 outside M, a window
w that is 0 outside M, spacings Δx, Δy (mm) and the FFT size N_x, N_y:

* 2-D periodogram ``PSD2 = Δx Δy |DFT(w h)|² / Σ_M w²``  [nm² mm²] at
  ``f_x = k / (N_x Δx)`` (cycles/mm). Parseval holds exactly:
  ``Σ PSD2 Δf_x Δf_y = Σ w² h² / Σ w²`` (the variance over M for w ≡ 1).
* Areal band variance: the sum of ``PSD2 Δf_x Δf_y`` over the cells with
  ``f_lo <= |f| < f_hi`` (cells are summed, no binned curve is integrated).
* Radial PSD [nm² mm]: annulus cell sum / annulus width (integrates to the
  variance). The azimuthal *average* of PSD2 [nm² mm²] is another quantity
  and is returned by its own method.
* Profile PSD [nm² mm] along x: ``P1(f_x) = Σ_fy PSD2 Δf_y`` (two-sided);
  one-sided ``P1+ = 2 P1`` for ``f > 0``. Every result says which.
* Windows are normalised by Σ_M w² (density).
* The frequencies one map resolves: ``f_min = k / L``, k = 2 by default
  (:data:`K_CONVENTION`), L from the *connected* valid regions of the analysed
  mask (:meth:`PSD2D.coverage`, :func:`metrology.coverage.resolved_range`), not
  their bounding box, to the Nyquist frequency ``1 / (2 Δ)``. A band that
  leaves this range is reported as not (fully) covered, never silently
  clipped.

Implementation: the data are windowed and zero-filled in one parallel Numba
pass, transformed with a real-input FFT (:mod:`kernels.fft`: ``ducc0`` when
installed, else ``scipy.fft``), and the half plane is reduced in one fused
pass (|F|², half-plane weights, radial histogram and band sums;
:func:`kernels.psd.spectrum_bins`). The half plane is stored; the full plane
is built on request.

Apertures that are not rectangles
---------------------------------
Two ways, chosen by ``region``:

* ``"mask"`` (default): the map is zero outside the valid pixels and the
  normalisation is Σ_M w², so a white surface keeps its level and Parseval
  is exact over M. The sharp aperture edge convolves the spectrum with the
  aperture's transfer function: power leaks from low to high frequencies.
  Without a window this matters for steep spectra; a window that goes to 0
  at the aperture edge (``"welch"``, ``"radial-hann"``, or a separable Hann
  over the bounding box, which nearly does for a disk) removes most of it.
* ``"rectangle"``: the largest axis-aligned rectangle of valid pixels is cut
  out and analysed (no edge inside the data, but ~36 % of a disk's pixels
  are lost and f_min rises by √2 for a disk).

Measured bias of the band RMS on non-periodic synthetic surfaces (radial PSD
∝ f⁻² and f⁻³ synthesised 8 x larger and cropped to 256² pixels of 0.1 mm, disk
of 23 mm, 24 seeds; table and script in ``docs/psd.md``):

* mask, no window: +13 % to ×21 (f⁻³, 3-5 /mm, piston removed): the aperture
  edge is a step. Use ``window="none"`` only for periodic data and Parseval
  checks.
* mask with "radial-hann": within ±0.5 % above 1 /mm for both spectra; the
  separable "hann" over the bounding box does not reach zero on a disk's edge
  and reads +12 % (1-3 /mm) and +37 % (3-5 /mm) on f⁻³ with only piston
  removed, +2 % and +6 % with tilt removed too (within ±2 % on f⁻²).
* the band next to f_min is biased high by every method (+4 % to +20 %):
  see the coverage table in ``docs/psd.md`` for the first octave above 2/L.
* inscribed rectangle + Hann: within ±0.5 % above 1 /mm, but 36 % of a disk's
  pixels are lost and f_min rises by √2.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from kernels import fft as _fft
from kernels import psd as _kp
from kernels._config import num_threads, threads_for_elements

from . import _caches
from ._deprecate import alias_property, renamed_kwargs
from .errors import ConventionError, InsufficientDataError
from .heightmap import HeightMap

if TYPE_CHECKING:  # pragma: no cover
    from .coverage import FrequencyCoverage

__all__ = [
    "PSD2D",
    "RadialPSD",
    "AzimuthalAverage",
    "ProfilePSD",
    "BandRMS",
    "SlopeRMS",
    "PVr",
    "PVR_VARIANTS",
    "psd",
    "profile_psd",
    "band_rms",
    "bands_rms",
    "bandpass",
    "slope_rms",
    "pvr",
    "clear_workspace",
    "K_CONVENTION",
]

#: relative tolerance of the band-coverage comparisons (so that a band given
#: as periods, e.g. 1 / (L / 2), is not flagged for a rounding error)
COVERAGE_RTOL = 1e-9

#: k of the lowest resolved frequency f_min = k / L of band RMS, slope RMS and the check
#: (docs/conventions.md: about 2/L). The first octave above it reads high on steep
#: spectra (measured, docs/psd.md: +16/+35/+73 % for radial f^-1/f^-2/f^-3 at k = 2), so
#: an upper limit there can fail but not pass a bad lens; pass ``k=`` for another rule
#: (:data:`metrology.coverage.K_TRUSTED` = 6 keeps the first octave within ~5 %)
K_CONVENTION = 2.0

_TWO_PI = 2.0 * math.pi

#: scratch arrays (windowed input, FFT output) of up to this many elements are
#: kept between calls, per thread: a fresh 32 MB array costs ~5 ms of page
#: faults at 2048², as much as the rest of the PSD after the FFT
WORKSPACE_MAX_ELEMENTS = 1 << 22

_workspace = threading.local()


def _scratch(name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """A scratch array (contents undefined), reused across calls when small enough."""
    arrays = getattr(_workspace, "arrays", None)
    if arrays is None:
        arrays = _workspace.arrays = {}
    a = arrays.get(name)
    if a is not None and a.shape == tuple(shape) and a.dtype == np.dtype(dtype):
        return a
    arrays.pop(name, None)
    a = np.empty(shape, dtype)
    if a.size <= WORKSPACE_MAX_ELEMENTS:
        arrays[name] = a
    return a


def clear_workspace() -> None:
    """Free the scratch arrays this thread keeps between PSD calls."""
    _workspace.arrays = {}


_caches.register("spectral.workspace", clear_workspace)


def _threads_for(n_elements: int, passes: float = 1.0):
    """Run the enclosed kernels and FFTs on one thread when the work is small in time
    (:func:`kernels._config.threads_for`: on a busy machine a parallel region can wait a
    scheduler time slice for a worker)."""
    return threads_for_elements(n_elements, passes)


# ---------------------------------------------------------------------------
# windows
# ---------------------------------------------------------------------------

def _window_1d(name: str, n: int, alpha: float) -> np.ndarray:
    """A 1-D window over ``n`` samples at x = (k + 0.5) / n (symmetric, no zero samples)."""
    x = (np.arange(n) + 0.5) / n
    if name == "none":
        return np.ones(n)
    if name == "hann" or (name == "tukey" and alpha >= 1.0):
        return np.sin(np.pi * x) ** 2
    if name == "tukey":
        if alpha <= 0.0:
            return np.ones(n)
        w = np.ones(n)
        lo = x < alpha / 2.0
        hi = x > 1.0 - alpha / 2.0
        w[lo] = 0.5 * (1.0 - np.cos(_TWO_PI * x[lo] / alpha))
        w[hi] = 0.5 * (1.0 - np.cos(_TWO_PI * (1.0 - x[hi]) / alpha))
        return w
    raise ConventionError(f"unknown window {name!r}")  # pragma: no cover


@dataclass(frozen=True)
class _WindowSpec:
    name: str  # none, hann, tukey, welch, radial-hann, array
    alpha: float = 0.0
    array: np.ndarray | None = None
    #: multiplies the window: sin²(π/2 · min(1, d / taper_mm)), d the distance to the
    #: nearest pixel of ``taper_holes`` (so that the window is 0 at the holes' edges)
    taper_holes: np.ndarray | None = None
    taper_mm: float = 0.0

    @property
    def description(self) -> str:
        return self._base_description + (
            f", tapered to 0 over {self.taper_mm:g} mm at the edges of the holes left in "
            "the data (sin^2 of the distance)" if self.taper_holes is not None else "")

    @property
    def _base_description(self) -> str:
        if self.name == "tukey":
            return f"tukey(alpha={self.alpha:g}) over the bounding box of the valid pixels"
        if self.name == "hann":
            return "hann over the bounding box of the valid pixels"
        if self.name in ("welch", "radial-hann"):
            return f"{self.name} (radial, over the circle circumscribing the valid pixels)"
        if self.name == "array":
            return "user array"
        return "none"


def _hole_taper(holes: np.ndarray, dx: float, dy: float, taper_mm: float) -> np.ndarray:
    """sin²(π/2 · min(1, d / taper_mm)), d (mm) the distance of each pixel to the nearest
    pixel of ``holes`` (exact Euclidean distance transform)."""
    from scipy import ndimage  # lazy: only maps with holes left unfilled need it

    d = ndimage.distance_transform_edt(~holes, sampling=(dy, dx))
    return np.sin(0.5 * np.pi * np.minimum(d / taper_mm, 1.0)) ** 2


def _parse_window(window: Any) -> _WindowSpec:
    if window is None:
        return _WindowSpec("none")
    if isinstance(window, np.ndarray):
        return _WindowSpec("array", array=window)
    if isinstance(window, tuple) and len(window) == 2 and str(window[0]).lower() == "tukey":
        a = float(window[1])
        if not (0.0 <= a <= 1.0):
            raise ConventionError(f"Tukey alpha must be in [0, 1], got {window[1]!r}")
        return _WindowSpec("tukey", a)
    if isinstance(window, str):
        w = window.strip().lower().replace("_", "-")
        if w in ("none", "rect", "rectangular", "boxcar"):
            return _WindowSpec("none")
        if w in ("hann", "hanning"):
            return _WindowSpec("hann")
        if w == "tukey":
            return _WindowSpec("tukey", 0.5)
        if w.startswith("tukey(") and w.endswith(")"):
            return _parse_window(("tukey", w[6:-1]))
        if w == "welch":
            return _WindowSpec("welch")
        if w in ("radial-hann", "radial-hanning"):
            return _WindowSpec("radial-hann")
    raise ConventionError(
        f"unknown window {window!r}; use 'none', 'hann', 'tukey', ('tukey', alpha), "
        "'welch', 'radial-hann' or an array of the map's shape")


class _Detrend:
    """What is subtracted from a map before its transform: a joint least-squares fit of
    piston (the mean) and terms whose fitted surface does not depend on the centre and
    radius of the polynomials (tilt, and power together with both tilts), from
    Legendre moments (:class:`metrology.zernike.ZernikeGeometry`) about the centre of
    the valid pixels' bounding box: no circle fit, no residual map.

    Attributes
    ----------
    geo : ZernikeGeometry over ``hm.valid``
    coef : ndarray, the fitted coefficients (nm)
    mean : float, mean of the residual over the valid pixels from the moments (~0)
    bbox : (r0, r1, c0, c1) of the valid pixels
    """

    def __init__(self, hm: HeightMap, nm: Sequence[tuple[int, int]] = ((0, 0),)) -> None:
        from .zernike import ZernikeGeometry, _circumscribed_radius, _row_extents

        valid = hm.valid
        first, last = _row_extents(valid)
        rows = np.flatnonzero(first >= 0)
        if rows.size == 0:
            raise InsufficientDataError("the map has no valid pixels")
        r0, r1 = int(rows[0]), int(rows[-1]) + 1
        c0, c1 = int(first[rows].min()), int(last[rows].max()) + 1
        self.bbox = (r0, r1, c0, c1)
        ny, nx = hm.shape
        centre = ((0.5 * (c0 + c1 - 1) - 0.5 * (nx - 1)) * hm.dx_mm,
                  (0.5 * (r0 + r1 - 1) - 0.5 * (ny - 1)) * hm.dy_mm)
        radius = _circumscribed_radius(first, last, hm.shape, hm.dx_mm, hm.dy_mm, centre)
        self.geo = ZernikeGeometry(valid, hm.dx_mm, hm.dy_mm, list(nm), "rms", centre, radius,
                                   allow_outside=True, factorize=False,
                                   _extents=(first, last), _copy_mask=False)
        self.geo._factorize(hm.z_nm)
        self.coef, self.mean = self.geo._solve(hm.z_nm)

    def residual(self, hm: HeightMap) -> np.ndarray:
        """``z - fit`` on the valid pixels, NaN elsewhere (the mean is not removed)."""
        out = np.empty(hm.shape)
        self.geo._apply(self.coef, hm.z_nm, out)
        return out


def _bbox(valid: np.ndarray) -> tuple[int, int, int, int]:
    rows = np.flatnonzero(valid.any(axis=1))
    cols = np.flatnonzero(valid.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _prepare(hm: HeightMap, spec: _WindowSpec, fft_shape: tuple[int, int],
             det: _Detrend) -> tuple[np.ndarray, float]:
    """Detrended, mean-removed, windowed, zero-filled buffer of ``fft_shape`` and Σ_M w²,
    in one pass (:func:`kernels.moments.poly_apply`)."""
    z = hm.z_nm
    ny, nx = z.shape
    out = _scratch("windowed", fft_shape, np.float64)
    wy = wx = w2d = None
    if spec.name in ("none", "hann", "tukey"):
        if spec.name == "none":
            wy = np.ones(ny)
            wx = np.ones(nx)
        else:
            r0, r1, c0, c1 = det.bbox
            wy = np.zeros(ny)
            wx = np.zeros(nx)
            wy[r0:r1] = _window_1d(spec.name, r1 - r0, spec.alpha)
            wx[c0:c1] = _window_1d(spec.name, c1 - c0, spec.alpha)
    else:
        if spec.name == "array":
            w = np.ascontiguousarray(spec.array, dtype=np.float64)
            if not w.flags.writeable:  # one kernel signature
                w = w.copy()
            if w.shape != z.shape:
                raise ConventionError(
                    f"a window array must have the map's shape {z.shape}, got {w.shape}")
            if not np.all(np.isfinite(w)) or np.any(w < 0):
                raise ConventionError("a window array must be finite and non-negative")
        else:
            from .aperture import fit_circle

            (cx, cy), _ = fit_circle(hm)
            x = hm.x_mm - cx
            y = hm.y_mm - cy
            r = np.sqrt(x[None, :] ** 2 + y[:, None] ** 2)
            rmax = float(r[hm.valid].max()) + 0.5 * max(hm.dx_mm, hm.dy_mm)
            u = np.minimum(r / rmax, 1.0)
            w = 1.0 - u * u if spec.name == "welch" else np.cos(0.5 * np.pi * u) ** 2
            w = np.ascontiguousarray(w)
        w2d = w
    if spec.taper_holes is not None:
        base = w2d if w2d is not None else wy[:, None] * wx[None, :]
        w2d = np.ascontiguousarray(base * _hole_taper(spec.taper_holes, hm.dx_mm, hm.dy_mm,
                                                      spec.taper_mm))
        wy = wx = None
    s, _, _ = det.geo._apply(det.coef, z, out, mean=det.mean, center=True, fill=0.0,
                             wy=wy, wx=wx, w2d=w2d)
    return out, float(s)


# ---------------------------------------------------------------------------
# input handling
# ---------------------------------------------------------------------------

def _check_hm(hm: Any) -> HeightMap:
    if not isinstance(hm, HeightMap):
        raise TypeError(f"expected a metrology.HeightMap, got {type(hm).__name__}")
    if hm.n_valid < 4:
        raise InsufficientDataError(
            f"a PSD needs at least 4 valid pixels, the map has {hm.n_valid}")
    return hm


def _region(hm: HeightMap, region: str) -> tuple[HeightMap, str]:
    r = str(region).lower()
    if r == "mask":
        return hm, "mask (zero outside the valid pixels)"
    if r in ("rectangle", "inscribed", "inscribed-rectangle"):
        r0, r1, c0, c1 = _kp.largest_rectangle(np.ascontiguousarray(hm.valid, dtype=np.uint8))
        if (r1 - r0) < 2 or (c1 - c0) < 2:
            raise InsufficientDataError(
                "the largest rectangle of valid pixels is smaller than 2 x 2 pixels")
        sub = hm.replace(hm.z_nm[r0:r1, c0:c1],
                         note=f"largest inscribed rectangle rows {r0}:{r1}, cols {c0}:{c1}")
        return sub, f"largest inscribed rectangle rows {r0}:{r1}, cols {c0}:{c1}"
    raise ConventionError(f"unknown region {region!r}; use 'mask' or 'rectangle'")


def _normalise_terms(remove: Any) -> tuple[Any, ...]:
    if remove is None:
        return ()
    if isinstance(remove, str):
        return (remove,)
    return tuple(remove)


#: terms whose joint fit with piston gives a residual independent of the centre and
#: radius of the polynomials (span{1, x, y, x² + y²} is closed under shifts and scaling)
_INVARIANT_TERMS = frozenset({(0, 0), (1, 1), (1, -1), (2, 0)})


def _invariant_fit(terms: Sequence[Any]) -> list[tuple[int, int]] | None:
    """The (n, m) of piston + ``terms`` when their fitted surface needs no centre, else None."""
    from .zernike_schemes import DEFAULT_SCHEME, resolve_terms

    _, nm = resolve_terms(list(terms), DEFAULT_SCHEME)
    got = set(nm)
    if not got <= _INVARIANT_TERMS:
        return None
    if (2, 0) in got and not {(1, 1), (1, -1)} <= got:
        return None  # power about an unknown centre brings tilt with it
    return [(0, 0), *[t for t in nm if t != (0, 0)]]


def _names(terms: Sequence[Any]) -> tuple[str, ...]:
    names = tuple(str(t) for t in terms)
    if "piston" not in [n.lower() for n in names]:
        names = ("piston", *names)
    return names


def _plan(hm: HeightMap, remove: Any) -> tuple[HeightMap, _Detrend, tuple[str, ...]]:
    """The map to transform, what to subtract from it, and the names of what is removed.

    Piston, tilt and power (with both tilts) are fitted jointly with the mean from
    moments, without a circle fit and without a residual map (piston is always part
    of the fit: the mean is removed anyway). Other terms are removed first by
    :func:`metrology.zernike.remove` (about the best-fit circle of the valid region).
    """
    terms = _normalise_terms(remove)
    rest = [t for t in terms if not (isinstance(t, str) and t.lower() == "piston")]
    if not rest:
        return hm, _Detrend(hm), ("piston",)
    nm = _invariant_fit(terms)
    if nm is not None:
        return hm, _Detrend(hm, nm), _names(terms)
    from .zernike import remove as _zremove  # lazy: zernike is optional for mean-only work
    from .zernike_schemes import DEFAULT_SCHEME

    out = _zremove(hm, terms, scheme=DEFAULT_SCHEME)
    return out, _Detrend(out), _names(terms)


def _detrend(hm: HeightMap, remove: Any) -> tuple[HeightMap, tuple[str, ...]]:
    """The map with the requested terms removed (joint least squares; the mean is not)."""
    terms = _normalise_terms(remove)
    rest = [t for t in terms if not (isinstance(t, str) and t.lower() == "piston")]
    if not rest:
        return hm, ("piston",)
    nm = _invariant_fit(terms)
    if nm is None:
        from .zernike import remove as _zremove
        from .zernike_schemes import DEFAULT_SCHEME

        return _zremove(hm, terms, scheme=DEFAULT_SCHEME), _names(terms)
    from .zernike_schemes import zernike_name

    det = _Detrend(hm, nm)
    meta = dict(hm.meta)
    meta["removed"] = [*meta.get("removed", []), *(zernike_name(n, m) for n, m in nm)]
    note = f"joint least-squares fit removed ({', '.join(meta['removed'][-len(nm):])})"
    return hm.replace(det.residual(hm), meta=meta, note=note, copy=False), _names(terms)


def _pad_shape(shape: tuple[int, int], pad: Any) -> tuple[int, int]:
    ny, nx = shape
    if pad is None:
        return ny, nx
    if isinstance(pad, (int, np.integer)) and not isinstance(pad, bool):
        if pad < 1:
            raise ConventionError(f"pad factor must be >= 1, got {pad}")
        return ny * int(pad), nx * int(pad)
    try:
        py, px = (int(v) for v in pad)
    except (TypeError, ValueError):
        raise ConventionError(f"pad must be None, an integer factor or (ny, nx), got {pad!r}")\
            from None
    if py < ny or px < nx:
        raise ConventionError(f"padded shape {(py, px)} is smaller than the data {shape}")
    return py, px


def _half_weights(nx: int) -> np.ndarray:
    nh = nx // 2 + 1
    hw = np.full(nh, 2.0)
    hw[0] = 1.0
    if nx % 2 == 0:
        hw[-1] = 1.0
    return hw


# ---------------------------------------------------------------------------
# binning
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class _Bins:
    edges: np.ndarray
    centres: np.ndarray
    kind: str

    @property
    def key(self) -> bytes:
        return self.edges.tobytes()


def _make_bins(bins: Any, dfx: float, dfy: float, fmax: float, per_decade: int) -> _Bins:
    df = max(dfx, dfy)
    if isinstance(bins, str):
        b = bins.lower()
        if b == "linear":
            n = max(1, int(math.floor(fmax / df + 1e-9)))
            edges = np.concatenate(([0.0], (np.arange(n) + 0.5) * df))
            centres = np.arange(n) * df
            return _Bins(edges, centres, "linear")
        if b == "log":
            if per_decade < 1:
                raise ConventionError(f"per_decade must be >= 1, got {per_decade}")
            e0 = min(dfx, dfy) / 10.0 ** (0.5 / per_decade)
            n = max(1, int(math.ceil(math.log10(fmax / e0) * per_decade)))
            edges = np.geomspace(e0, fmax, n + 1)
            centres = np.sqrt(edges[:-1] * edges[1:])
            return _Bins(edges, centres, "log")
        raise ConventionError(f"unknown bins {bins!r}; use 'linear', 'log', a count or edges")
    if isinstance(bins, (int, np.integer)) and not isinstance(bins, bool):
        n = int(bins)
        if n < 1:
            raise ConventionError(f"the number of bins must be >= 1, got {n}")
        edges = np.linspace(0.0, fmax, n + 1)
        return _Bins(edges, 0.5 * (edges[:-1] + edges[1:]), "linear")
    edges = np.asarray(bins, dtype=np.float64).ravel()
    if (edges.size < 2 or not np.all(np.isfinite(edges)) or edges[0] < 0
            or np.any(np.diff(edges) <= 0)):
        raise ConventionError("bin edges must be finite, >= 0 and strictly increasing "
                              f"(at least 2), got {bins!r}")
    return _Bins(edges, 0.5 * (edges[:-1] + edges[1:]), "explicit")


# ---------------------------------------------------------------------------
# result types
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class RadialPSD:
    """Radial PSD: annulus cell sum / annulus width [nm² mm]; integrates to the variance.

    Attributes
    ----------
    edges_per_mm : ndarray (nb + 1,)
        Annulus edges; a cell belongs to bin k when edges[k] <= |f| < edges[k+1].
    f_per_mm : ndarray (nb,)
        Bin centres (midpoints; geometric means for log bins).
    f_mean_per_mm : ndarray (nb,)
        Mean |f| of the cells in each bin (NaN for empty bins).
    values : ndarray (nb,)
        Radial PSD, nm² mm (NaN for empty bins).
    variance_nm2 : ndarray (nb,)
        Σ PSD2 Δf_x Δf_y of the cells in each bin, nm² (0 for empty bins).
    counts : ndarray (nb,) of int
        Full-plane cells in each bin.
    """

    edges_per_mm: np.ndarray
    f_per_mm: np.ndarray
    f_mean_per_mm: np.ndarray
    values: np.ndarray
    variance_nm2: np.ndarray
    counts: np.ndarray
    window: str
    binning: str
    quantity: str = "radial PSD = annulus cell sum / annulus width; integrates to the variance"
    unit: str = "nm^2 mm"

    @property
    def width_per_mm(self) -> np.ndarray:
        """Bin widths, cycles/mm."""
        return np.diff(self.edges_per_mm)

    def plot(self, ax: Any = None, *, limit: Any = None, label: str | None = None) -> Any:
        """Log-log plot with an optional limit line; see
        :func:`metrology.plotting.plot_radial_psd`."""
        from .plotting import plot_radial_psd

        return plot_radial_psd(self, ax, limit=limit, label=label)


@dataclass(frozen=True)
class AzimuthalAverage:
    """Azimuthal average of the 2-D PSD over annuli [nm² mm²] (NOT a radial PSD).

    ``values[k]`` is the mean PSD2 over the cells of annulus k. For an
    isotropic surface ``2π f · values`` approximates the radial PSD.
    """

    edges_per_mm: np.ndarray
    f_per_mm: np.ndarray
    f_mean_per_mm: np.ndarray
    values: np.ndarray
    counts: np.ndarray
    window: str
    binning: str
    quantity: str = "azimuthal average of the 2-D PSD (mean of the cells in each annulus)"
    unit: str = "nm^2 mm^2"


@dataclass(frozen=True)
class ProfilePSD:
    """Profile (1-D) PSD along one axis [nm² mm].

    ``one-sided``: ``f_per_mm >= 0`` and ``values = P1(f) + P1(-f)`` (i.e.
    2·P1 except at 0 and Nyquist); ``two-sided``: ascending f from -Nyquist
    and ``values = P1``. Either way ``Σ values · df_per_mm`` is the variance.
    """

    f_per_mm: np.ndarray
    values: np.ndarray
    axis: str
    sidedness: str
    df_per_mm: float
    window: str
    f_min_per_mm: float
    f_max_per_mm: float
    unit: str = "nm^2 mm"
    #: L of ``f_min_per_mm = 2 / L`` (the extent along the axis of the connected valid
    #: regions, :func:`metrology.coverage.resolved_range`), for other k
    length_mm: float | None = None

    def plot(self, ax: Any = None, *, limit: Any = None, label: str | None = None) -> Any:
        """Log-log plot, unresolved range greyed, with an optional limit line; see
        :func:`metrology.plotting.plot_profile_psd`."""
        from .plotting import plot_profile_psd

        return plot_profile_psd(self, ax, limit=limit, label=label)


@dataclass(frozen=True)
class BandRMS:
    """RMS of the heights within a band of spatial frequency, and whether the data cover it.

    Attributes
    ----------
    rms_nm : float
        RMS over the cells with ``covered_lo <= |f| < covered_hi`` (NaN when
        the data cover none of the band).
    f_lo_per_mm, f_hi_per_mm : float
        The band asked for.
    covered_lo_per_mm, covered_hi_per_mm : float
        The part of the band the data resolve (NaN when none).
    fully_covered : bool
        True only when the whole band lies in [f_min, f_max] of the data.
    coverage : {"full", "partial", "none"}
    kind : {"areal", "profile"}
    axis : {"x", "y"} or None
        Profile direction (None for areal).
    window, sidedness, reason : str
        ``reason`` says why the band is not fully covered ("" when it is).
    f_min_per_mm, f_max_per_mm : float
        Frequency range the data resolve (see :class:`PSD2D`).
    """

    rms_nm: float
    f_lo_per_mm: float
    f_hi_per_mm: float
    covered_lo_per_mm: float
    covered_hi_per_mm: float
    fully_covered: bool
    coverage: str
    kind: str
    axis: str | None
    window: str
    sidedness: str
    reason: str
    f_min_per_mm: float
    f_max_per_mm: float

    @property
    def measurable(self) -> bool:
        """Alias of ``fully_covered``: can a verdict be given on this band?"""
        return self.fully_covered

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python dict (JSON-ready; NaN stays NaN)."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class SlopeRMS:
    """RMS slope in µrad (1 nm/mm = 1 µrad) along x, y and of the gradient magnitude.

    ``magnitude_urad = sqrt(x_urad² + y_urad²)`` (RMS of |∇z|).
    For ``method`` "finite-difference" the slopes are first differences of
    adjacent valid pixels, RMS about the mean slope (so tilt does not count);
    their transfer function is ``sin(π f Δ) / (π f Δ)`` of the true slope.
    For "spectral" they are ``Σ (2π f_x)² PSD2 Δf_x Δf_y`` (and y) over the
    band's cells; band coverage is reported as in :class:`BandRMS`.
    """

    x_urad: float
    y_urad: float
    magnitude_urad: float
    method: str
    band_per_mm: tuple[float, float] | None
    covered_lo_per_mm: float
    covered_hi_per_mm: float
    fully_covered: bool
    reason: str
    window: str
    #: ``"areal"`` (cells of the 2-D PSD, gradient magnitude) or ``"profile"`` (the slope
    #: of profiles along ``axis``, from the profile PSD)
    kind: str = "areal"
    axis: str | None = None


#: the PVr variants, name -> exact definition (every report states it). "evans" is the
#: toolkit's PVr (docs/conventions.md); the others are named options.
PVR_VARIANTS: dict[str, str] = {
    "evans": ("PVr (Evans 2009) = PV of the Fringe Z1-Z36 least-squares fit with piston and "
              "tilt (Z1-Z3) removed + 3 x RMS of the residual of that fit"),
    "evans-z37": ("PV of the Fringe Z1-Z37 least-squares fit with piston and tilt (Z1-Z3) "
                  "removed + 3 x RMS of the residual of that fit (Evans' PVr with Z37 = "
                  "(12, 0) added; not Evans' definition)"),
    "form-terms": ("PV of the spec's form terms ([form] fit_first_term..fit_last_term) of the "
                   "measurement's joint fit + 3 x RMS of the residual of that joint fit (not "
                   "Evans' definition)"),
}
#: Fringe terms fitted by each variant of :func:`pvr` (``form-terms`` exists for a spec only)
PVR_FIT_TERMS: dict[str, int] = {"evans": 36, "evans-z37": 37}


@dataclass(frozen=True)
class PVr:
    """Robust peak-to-valley: PV of a Zernike fit + 3 · RMS of its residual (``definition``).

    ``pv_fit_nm`` is the PV of the fitted surface with piston and tilt removed,
    ``rms_residual_nm`` the RMS of map - fit about its mean, ``terms`` the
    Fringe terms fitted (Z1..Z``terms``), ``variant`` a key of :data:`PVR_VARIANTS`.
    """

    pvr_nm: float
    pv_fit_nm: float
    rms_residual_nm: float
    terms: int
    scheme: str
    r_norm_mm: float
    variant: str = "evans"
    definition: str = PVR_VARIANTS["evans"]

    radius_mm = alias_property("r_norm_mm", "radius_mm")


# ---------------------------------------------------------------------------
# PSD2D
# ---------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class PSD2D:
    """2-D periodogram of a height map, stored as the half plane of a real FFT.

    Attributes
    ----------
    half_values : ndarray (ny, nx // 2 + 1)
        PSD2 in nm² mm² at ``fx_half_per_mm`` (columns, >= 0) and
        ``fy_fft_per_mm`` (rows, FFT order). Column k stands for +f_x and -f_x
        (``half_weights``), so full-plane sums are exact.
    dx_mm, dy_mm : float
    fft_shape : (ny, nx)
        Array size after padding.
    data_shape : (ny, nx)
        Size of the analysed region before padding.
    window : str
        Description of the window.
    removed : tuple of str
        Terms removed before the transform (the mean always).
    region : str
        "mask ..." or the inscribed rectangle used.
    sum_w2 : float
        Σ_M w², the normalisation.
    n_valid : int
    extent_mm : (float, float)
        Extent (x, y) of the analysed valid region (bounding box), mm.
    backend : str
        FFT backend used.
    """

    half_values: np.ndarray
    dx_mm: float
    dy_mm: float
    fft_shape: tuple[int, int]
    data_shape: tuple[int, int]
    window: str
    removed: tuple[str, ...]
    region: str
    sum_w2: float
    n_valid: int
    extent_mm: tuple[float, float]
    backend: str
    #: the valid pixels of the analysed region (what the frequency coverage is read from)
    valid_mask: np.ndarray | None = field(default=None, repr=False)
    _cache: dict = field(default_factory=dict, repr=False)

    # -- grid ------------------------------------------------------------------
    @property
    def dfx_per_mm(self) -> float:
        """Cell width along f_x: 1 / (N_x Δx)."""
        return 1.0 / (self.fft_shape[1] * self.dx_mm)

    @property
    def dfy_per_mm(self) -> float:
        """Cell width along f_y: 1 / (N_y Δy)."""
        return 1.0 / (self.fft_shape[0] * self.dy_mm)

    @property
    def half_weights(self) -> np.ndarray:
        """Weight of each half-plane column (1 for f_x = 0 and Nyquist, else 2)."""
        return _half_weights(self.fft_shape[1])

    @property
    def fx_half_per_mm(self) -> np.ndarray:
        """Column frequencies of ``half_values`` (>= 0)."""
        return np.fft.rfftfreq(self.fft_shape[1], self.dx_mm)

    @property
    def fy_fft_per_mm(self) -> np.ndarray:
        """Row frequencies of ``half_values`` (FFT order)."""
        return np.fft.fftfreq(self.fft_shape[0], self.dy_mm)

    @property
    def fx_per_mm(self) -> np.ndarray:
        """Full-plane column frequencies, ascending (matches :attr:`values`)."""
        return np.fft.fftshift(np.fft.fftfreq(self.fft_shape[1], self.dx_mm))

    @property
    def fy_per_mm(self) -> np.ndarray:
        """Full-plane row frequencies, ascending (matches :attr:`values`)."""
        return np.fft.fftshift(np.fft.fftfreq(self.fft_shape[0], self.dy_mm))

    @property
    def nyquist_x_per_mm(self) -> float:
        """1 / (2 Δx)."""
        return 0.5 / self.dx_mm

    @property
    def nyquist_y_per_mm(self) -> float:
        """1 / (2 Δy)."""
        return 0.5 / self.dy_mm

    def coverage(self, kind: str = "areal", axis: str = "x",
                 k: float = K_CONVENTION) -> FrequencyCoverage:
        """The frequencies this PSD resolves (:func:`metrology.coverage.resolved_range`):
        ``f_min = k / L`` with L from the *connected* valid regions that hold the data
        (the shorter side of a region's box for areal bands, its extent along ``axis``
        for profile bands; the region at which the regions, longest first, hold 95 % of
        the pixels), not from their bounding box; ``f_max`` the Nyquist frequency.
        ``k`` = 2 (:data:`K_CONVENTION`, the conventions' limit; see ``docs/psd.md`` for
        the bias of the first octave above it)."""
        from .coverage import connected_regions, resolved_range

        kd = "profile" if str(kind).lower() == "profile" else "areal"
        key = ("coverage", kd, str(axis).lower() if kd == "profile" else "", float(k))
        cov = self._cache.get(key)
        if cov is None:
            v = self.valid_mask
            if v is None:  # built without a mask: the analysed array
                v = np.ones(self.data_shape, dtype=bool)
            regs = self._cache.get("regions")
            if regs is None:
                regs = self._cache["regions"] = connected_regions(v, self.dx_mm, self.dy_mm)
            cov = resolved_range(v, self.dx_mm, self.dy_mm, kind=kd, axis=axis, k=k,
                                 regions=regs)
            self._cache[key] = cov
        return cov

    @property
    def f_min_per_mm(self) -> float:
        """Lowest frequency the map resolves for areal bands: 2 / L, L the shorter extent
        of the connected valid regions (:meth:`coverage`), not of their bounding box."""
        return self.coverage("areal").f_min_per_mm

    @property
    def f_max_per_mm(self) -> float:
        """Highest frequency resolved in every direction: min of the two Nyquist frequencies."""
        return min(self.nyquist_x_per_mm, self.nyquist_y_per_mm)

    # -- full plane --------------------------------------------------------------
    @property
    def values(self) -> np.ndarray:
        """Full-plane PSD2 (nm² mm²), shape ``fft_shape``, centred (``fx_per_mm``, ``fy_per_mm``).

        Built from the half plane on first access (a copy of ny·nx floats) and cached.
        """
        v = self._cache.get("full")
        if v is None:
            ny, nx = self.fft_shape
            nh = nx // 2 + 1
            full = np.empty((ny, nx))
            full[:, :nh] = self.half_values
            if nx > nh:
                rows = (-np.arange(ny)) % ny
                cols = nx - np.arange(nh, nx)
                full[:, nh:] = self.half_values[rows][:, cols]
            v = np.fft.fftshift(full)
            v.setflags(write=False)
            self._cache["full"] = v
        return v

    # -- sums ----------------------------------------------------------------------
    def _reduce(self, bins: _Bins | None, bands: Sequence[tuple[float, float]]):
        ny, nx = self.fft_shape
        fx2 = self.fx_half_per_mm ** 2
        fy2 = self.fy_fft_per_mm ** 2
        edges_sq = np.zeros(0) if bins is None else bins.edges ** 2
        lo = np.array([b[0] for b in bands], dtype=np.float64) ** 2
        hi = np.array([b[1] for b in bands], dtype=np.float64) ** 2
        with _threads_for(self.half_values.size):
            return _kp.spectrum_bins(self.half_values, True, 1.0, fx2, fy2, self.half_weights,
                                     edges_sq, lo, hi, np.empty((0, 0)), False,
                                     np.empty((0, 0)), False, True, _nchunks(ny))

    def _cum(self) -> np.ndarray:
        """Row prefix sums of the weighted power per pair of rows (f_y, -f_y), from the
        transform's pass (or one pass now for a PSD built otherwise)."""
        c = self._cache.get("cum")
        if c is None:
            ny, nh = self.half_values.shape
            c = np.empty((ny // 2 + 1, nh + 1))
            with _threads_for(self.half_values.size):
                _kp.spectrum_bins(self.half_values, True, 1.0, self.fx_half_per_mm ** 2,
                                  self.fy_fft_per_mm ** 2, self.half_weights, np.zeros(0),
                                  np.zeros(0), np.zeros(0), np.empty((0, 0)), False, c, True,
                                  False, _nchunks(ny))
            self._cache["cum"] = c
        return c

    def _band_sums(self, bands: Sequence[tuple[float, float]], slopes: bool) -> np.ndarray:
        """(nband, 3): Σ hw p, Σ hw p fx², Σ hw p fy² per band (:func:`kernels.psd.band_query`:
        two look-ups per row in the prefix sums; no pass over the plane)."""
        lo = np.array([b[0] for b in bands], dtype=np.float64) ** 2
        hi = np.array([b[1] for b in bands], dtype=np.float64) ** 2
        cum = self._cum()
        with _threads_for(cum.shape[0] * (len(bands) * 64 + (self.half_values.shape[1]
                                                              if slopes else 0))):
            return _kp.band_query(cum, self.half_values, self.fx_half_per_mm ** 2,
                                  self.fy_fft_per_mm ** 2, self.half_weights, lo, hi, slopes)

    @property
    def cell_area(self) -> float:
        """Δf_x Δf_y, (cycles/mm)²."""
        return self.dfx_per_mm * self.dfy_per_mm

    @property
    def variance_nm2(self) -> float:
        """Σ PSD2 Δf_x Δf_y over the whole plane (Parseval: Σ w²h² / Σ w²), nm²."""
        v = self._cache.get("total")
        if v is None:
            v = float(self._reduce(None, [])[4]) * self.cell_area
            self._cache["total"] = v
        return v

    @property
    def rms_nm(self) -> float:
        """sqrt(:attr:`variance_nm2`), nm."""
        return math.sqrt(self.variance_nm2)

    def band_variances_nm2(self, bands: Sequence[tuple[float, float]]) -> np.ndarray:
        """Σ PSD2 Δf_x Δf_y over the cells with lo <= |f| < hi, for each band (one pass).

        No coverage check: this is the raw cell sum (see :func:`band_rms`).
        """
        bands = [(float(lo), float(hi)) for lo, hi in bands]
        cache = self._cache.setdefault("bands", {})
        todo = [b for b in dict.fromkeys(bands) if b not in cache]
        if todo:
            res = self._band_sums(todo, False)[:, 0] * self.cell_area
            for b, v in zip(todo, res, strict=True):
                cache[b] = float(v)
        return np.array([cache[b] for b in bands])

    def band_variance_nm2(self, f_lo_per_mm: float, f_hi_per_mm: float) -> float:
        """Raw cell sum over f_lo <= |f| < f_hi, nm² (no coverage check)."""
        return float(self.band_variances_nm2([(f_lo_per_mm, f_hi_per_mm)])[0])

    def _binned(self, bins: Any, per_decade: int):
        b = _make_bins(bins, self.dfx_per_mm, self.dfy_per_mm, self.f_max_per_mm, per_decade)
        cache = self._cache.setdefault("radial", {})
        res = cache.get(b.key)
        if res is None:
            hist, cnt, fsum, _, _ = self._reduce(b, [])
            res = (hist * self.cell_area, cnt, fsum)
            cache[b.key] = res
        return b, res

    def radial(self, bins: Any = "linear", per_decade: int = 10) -> RadialPSD:
        """Radial PSD [nm² mm]: annulus cell sum / annulus width.

        Parameters
        ----------
        bins : "linear", "log", int or array of edges (cycles/mm)
            "linear": annuli of width max(Δf_x, Δf_y) centred on its multiples
            (the first is [0, Δf/2)), up to :attr:`f_max_per_mm`; "log":
            ``per_decade`` logarithmic bins from half a step below the
            fundamental up to :attr:`f_max_per_mm`; int: that many equal bins
            over [0, f_max]; array: explicit edges.
        per_decade : int
            Bins per decade for "log".

        Returns
        -------
        RadialPSD
            ``Σ values · width`` (over non-empty bins) is the variance within
            the outer edge.
        """
        b, (var, cnt, fsum) = self._binned(bins, per_decade)
        width = np.diff(b.edges)
        with np.errstate(invalid="ignore", divide="ignore"):
            vals = np.where(cnt > 0, var / width, np.nan)
            fmean = np.where(cnt > 0, fsum / np.where(cnt > 0, cnt, 1.0), np.nan)
        return RadialPSD(b.edges.copy(), b.centres.copy(), fmean, vals, var.copy(),
                         np.rint(cnt).astype(np.int64), self.window, b.kind)

    def azimuthal_average(self, bins: Any = "linear", per_decade: int = 10) -> AzimuthalAverage:
        """Mean of PSD2 over the cells of each annulus [nm² mm²] (a different quantity
        from :meth:`radial`). Bins as in :meth:`radial`."""
        b, (var, cnt, fsum) = self._binned(bins, per_decade)
        with np.errstate(invalid="ignore", divide="ignore"):
            safe = np.where(cnt > 0, cnt, 1.0)
            vals = np.where(cnt > 0, var / (safe * self.cell_area), np.nan)
            fmean = np.where(cnt > 0, fsum / safe, np.nan)
        return AzimuthalAverage(b.edges.copy(), b.centres.copy(), fmean, vals,
                                np.rint(cnt).astype(np.int64), self.window, b.kind)

    def profile(self, axis: str = "x", one_sided: bool = True) -> ProfilePSD:
        """Profile PSD along ``axis`` [nm² mm]: ``P1(f_x) = Σ_fy PSD2 Δf_y`` (or x <-> y).

        Parameters
        ----------
        axis : {"x", "y"}
        one_sided : bool
            True: f >= 0 with ``P1(f) + P1(-f)``; False: two-sided, ascending f.
        """
        ax = _check_axis(axis)
        ny, nx = self.fft_shape
        hw = self.half_weights
        key = ("axis_sums",)
        sums = self._cache.get(key)
        if sums is None:
            # weights hw - 1: 1 for the interior columns (whose mirror is another row)
            with _threads_for(self.half_values.size):
                sums = _kp.axis_sums(self.half_values, True, hw - 1.0, _nchunks(ny))
            self._cache[key] = sums
        colsum, rowsum_int, rowsum_1 = sums
        if ax == "x":
            # Σ over all f_y at fixed f_x: the point mirror of column k is column k again
            p_half = colsum * self.dfy_per_mm  # P1 at f_x = k dfx, k = 0..nx//2
            f, vals = _profile_from_half(p_half, nx, self.dx_mm, one_sided)
            df = self.dfx_per_mm
            cov = self.coverage("profile", "x")
            fmin, fmax = cov.f_min_per_mm, self.nyquist_x_per_mm
        else:
            # Σ over all f_x at fixed f_y: the half row itself plus the mirrored
            # interior columns, which hold row -f_y
            p_full = (rowsum_1 + rowsum_int[(-np.arange(ny)) % ny]) * self.dfx_per_mm
            f, vals = _profile_from_full(p_full, ny, self.dy_mm, one_sided)
            df = self.dfy_per_mm
            cov = self.coverage("profile", "y")
            fmin, fmax = cov.f_min_per_mm, self.nyquist_y_per_mm
        return ProfilePSD(f, vals, ax, "one-sided" if one_sided else "two-sided", df,
                          self.window, fmin, fmax, length_mm=cov.length_mm)

    def slope_variances_urad2(self, f_lo_per_mm: float,
                              f_hi_per_mm: float) -> tuple[float, float]:
        """Σ (2π f_x)² PSD2 Δf_x Δf_y and Σ (2π f_y)² PSD2 Δf_x Δf_y over lo <= |f| < hi, µrad²."""
        r = self._band_sums([(float(f_lo_per_mm), float(f_hi_per_mm))], True)[0]
        c = _TWO_PI ** 2 * self.cell_area
        return float(r[1]) * c, float(r[2]) * c

    # -- display (metrology.plotting; matplotlib only when called) -----------------
    def plot(self, ax: Any = None, *, limit: Any = None, bins: str = "log") -> Any:
        """The 2-D PSD as an image beside its radial PSD with an optional limit line;
        see :func:`metrology.plotting.plot_psd2d`."""
        from .plotting import plot_psd2d

        return plot_psd2d(self, ax, limit=limit, bins=bins)


def _nchunks(ny: int) -> int:
    return max(1, min(ny, 4 * num_threads()))


def _check_axis(axis: str) -> str:
    a = str(axis).lower()
    if a not in ("x", "y"):
        raise ConventionError(f"axis must be 'x' or 'y', got {axis!r}")
    return a


def _profile_from_half(p_half: np.ndarray, n: int, d: float,
                       one_sided: bool) -> tuple[np.ndarray, np.ndarray]:
    """Profile from its values at k = 0..n//2 (two-sided P1, symmetric)."""
    f_half = np.fft.rfftfreq(n, d)
    if one_sided:
        return f_half, p_half * _half_weights(n)
    full = np.empty(n)
    nh = n // 2 + 1
    full[:nh] = p_half
    full[nh:] = p_half[n - np.arange(nh, n)]
    return np.fft.fftshift(np.fft.fftfreq(n, d)), np.fft.fftshift(full)


def _profile_from_full(p_full: np.ndarray, n: int, d: float,
                       one_sided: bool) -> tuple[np.ndarray, np.ndarray]:
    """Profile from two-sided values in FFT order; one-sided sums +f and -f explicitly."""
    if not one_sided:
        return np.fft.fftshift(np.fft.fftfreq(n, d)), np.fft.fftshift(p_full)
    nh = n // 2 + 1
    out = p_full[:nh].copy()
    k = np.arange(1, nh)
    mirror = n - k
    has_mirror = mirror != k  # Nyquist bin of an even n is its own mirror
    out[1:][has_mirror] += p_full[mirror[has_mirror]]
    return np.fft.rfftfreq(n, d), out


# ---------------------------------------------------------------------------
# public functions
# ---------------------------------------------------------------------------

def psd(hm: HeightMap, window: Any = "hann", remove: Any = ("piston", "tilt"),
        pad: Any = None, *, region: str = "mask", bins: Any = "linear",
        bands: Sequence[tuple[float, float]] = (), backend: str | None = None,
        hole_taper: tuple[np.ndarray, float] | None = None) -> PSD2D:
    """2-D periodogram of a height map (nm² mm²), mask-aware.

    Parameters
    ----------
    hm : HeightMap
        Heights in nm, NaN outside the mask.
    window : str, tuple or ndarray
        "hann" (default; separable, over the bounding box of the valid
        pixels), "none", "tukey" (alpha 0.5), ("tukey", alpha), "welch" or
        "radial-hann" (radial, over the circle circumscribing the valid pixels
        about the best-fit centre), or an array of the map's shape. 1-D
        windows are sampled at x = (k + 0.5) / n (no zero weights). The window
        is 0 outside the mask and normalised by Σ_M w².
    remove : sequence of str
        Zernike terms removed by one joint least-squares fit before the
        transform (:func:`metrology.zernike.remove`); the mean over the mask
        is always removed.
    pad : None, int or (ny, nx)
        Zero padding: a factor or the FFT shape. Padding interpolates the
        spectrum; Parseval stays exact.
    region : {"mask", "rectangle"}
        Zero outside the mask (default) or analyse the largest inscribed
        rectangle of valid pixels (module docstring: bias of each).
    bins : radial bins computed in the same pass (see :meth:`PSD2D.radial`).
    bands : sequence of (f_lo, f_hi)
        Band cell sums computed in the same pass (cached for :func:`band_rms`).
    backend : {"ducc0", "scipy"}, optional
        FFT backend (default: the fastest installed).
    hole_taper : (holes, taper_mm), optional
        ``holes`` a boolean mask of the map's shape (pixels of holes left in the
        data), ``taper_mm`` > 0: the window is multiplied by
        ``sin²(π/2 · min(1, d / taper_mm))``, d the distance to the nearest hole
        pixel, so that it falls to 0 at the holes' edges instead of cutting the
        data there (a step that leaks power across the spectrum). With
        ``region="mask"`` only.

    Returns
    -------
    PSD2D
    """
    hm = _check_hm(hm)
    spec = _parse_window(window)
    if hole_taper is not None:
        holes, t = hole_taper
        holes = np.asarray(holes, dtype=bool)
        if holes.shape != hm.shape or not (float(t) > 0 and math.isfinite(float(t))):
            raise ConventionError("hole_taper is (a boolean mask of the map's shape, a taper "
                                  f"width > 0 in mm), got shape {holes.shape} and {t!r}")
        if str(region).lower() != "mask":
            raise ConventionError("hole_taper works with region='mask' only")
        spec = dataclasses.replace(spec, taper_holes=holes, taper_mm=float(t))
    if spec.name == "array" and str(region).lower() != "mask":
        raise ConventionError("a window array can only be used with region='mask'")
    work, region_desc = _region(hm, region)
    fft_shape = _pad_shape(work.shape, pad)
    with _threads_for(fft_shape[0] * fft_shape[1], passes=6.0):
        work, det, removed = _plan(work, remove)
        return _psd_core(work, det, spec, fft_shape, removed, region_desc, bins, bands,
                         backend)


#: cell counts and Σ|f| per radial bin depend on the grid and the bins only: kept for the
#: next map of the same grid, (fft_shape, dx, dy, edges) -> (counts, fsum)
_BIN_GEOMETRY: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
_BIN_LOCK = threading.Lock()


def _clear_bin_geometry() -> None:
    with _BIN_LOCK:
        _BIN_GEOMETRY.clear()


_caches.register("spectral.bin_geometry", _clear_bin_geometry)


def _psd_core(work: HeightMap, det: _Detrend, spec: _WindowSpec, fft_shape: tuple[int, int],
              removed: tuple[str, ...], region_desc: str, bins: Any,
              bands: Sequence[tuple[float, float]], backend: str | None) -> PSD2D:
    buf, sum_w2 = _prepare(work, spec, fft_shape, det)
    if not sum_w2 > 0.0:
        raise InsufficientDataError("the window is zero on every valid pixel")
    ny, nx = fft_shape
    nh = nx // 2 + 1
    spec_half = _fft.rfft2(buf, backend=backend,
                           out=_scratch("spectrum", (ny, nh), np.complex128))
    scale = work.dx_mm * work.dy_mm / sum_w2
    r0, r1, c0, c1 = det.bbox
    extent = ((c1 - c0) * work.dx_mm, (r1 - r0) * work.dy_mm)
    out_vals = np.empty((ny, nh))
    cum = np.empty((ny // 2 + 1, nh + 1))
    p = PSD2D(out_vals, work.dx_mm, work.dy_mm, (ny, nx), work.shape, spec.description,
              removed, region_desc, sum_w2, work.n_valid, extent,
              backend or _fft.BACKEND, work.valid)
    b = None if bins is None else _make_bins(bins, p.dfx_per_mm, p.dfy_per_mm,
                                             p.f_max_per_mm, 10)
    bands = [(float(lo), float(hi)) for lo, hi in bands]
    edges_sq = np.zeros(0) if b is None else b.edges ** 2
    lo = np.array([x[0] for x in bands], dtype=np.float64) ** 2
    hi = np.array([x[1] for x in bands], dtype=np.float64) ** 2
    gkey = None if b is None else (fft_shape, work.dx_mm, work.dy_mm, b.key)
    geom = _BIN_GEOMETRY.get(gkey) if gkey is not None else None
    hist, cnt, fsum, bsum, total = _kp.spectrum_bins(
        spec_half, False, scale, p.fx_half_per_mm ** 2, p.fy_fft_per_mm ** 2,
        p.half_weights, edges_sq, lo, hi, out_vals, True, cum, True, geom is None,
        _nchunks(ny))
    if gkey is not None:
        if geom is None:
            with _BIN_LOCK:
                _BIN_GEOMETRY[gkey] = (cnt, fsum)
                while len(_BIN_GEOMETRY) > 16:
                    _BIN_GEOMETRY.pop(next(iter(_BIN_GEOMETRY)))
        else:
            cnt, fsum = geom
    ca = p.cell_area
    p._cache["cum"] = cum
    p._cache["total"] = float(total) * ca
    if b is not None:
        p._cache["radial"] = {b.key: (hist * ca, cnt, fsum)}
    if bands:
        p._cache["bands"] = {bd: float(v) * ca for bd, v in zip(bands, bsum, strict=True)}
    return p


def profile_psd(hm: HeightMap, axis: str = "x", window: Any = "hann",
                remove: Any = ("piston", "tilt"), pad: Any = None, *,
                one_sided: bool = True, region: str = "mask",
                backend: str | None = None) -> ProfilePSD:
    """Profile PSD along x or y from 1-D FFTs of every row (or column) [nm² mm].

    Same windowing, normalisation (Σ_M w² over the whole map) and result as
    ``psd(hm, ...).profile(axis, one_sided)``, at the cost of a 1-D FFT only.
    ``pad`` pads along ``axis`` only (int factor or length).
    """
    ax = _check_axis(axis)
    hm = _check_hm(hm)
    spec = _parse_window(window)
    work, _ = _region(hm, region)
    ny, nx = work.shape
    if pad is None:
        n_ax = nx if ax == "x" else ny
    elif isinstance(pad, (int, np.integer)) and not isinstance(pad, bool) and pad >= 1:
        n_ax = (nx if ax == "x" else ny) * int(pad)
    else:
        raise ConventionError(
            f"pad of a profile PSD must be None or an integer factor, got {pad!r}")
    shape = (ny, n_ax) if ax == "x" else (n_ax, nx)
    with _threads_for(shape[0] * shape[1], passes=5.0):
        work, det, _ = _plan(work, remove)
        return _profile_core(work, det, spec, ax, shape, one_sided, backend)


def _profile_core(work: HeightMap, det: _Detrend, spec: _WindowSpec, ax: str,
                  shape: tuple[int, int], one_sided: bool, backend: str | None) -> ProfilePSD:
    n_ax = shape[1] if ax == "x" else shape[0]
    buf, sum_w2 = _prepare(work, spec, shape, det)
    if not sum_w2 > 0.0:
        raise InsufficientDataError("the window is zero on every valid pixel")
    r0, r1, c0, c1 = det.bbox
    if ax == "x":
        g = _fft.rfft_axis(buf, 1, backend=backend)  # (ny, n//2+1)
        colsum, _, _ = _kp.axis_sums(g, False, np.ones(g.shape[1]), _nchunks(g.shape[0]))
        p_half = colsum * work.dx_mm / sum_w2
        d = work.dx_mm
    else:
        g = _fft.rfft_axis(buf, 0, backend=backend)  # (n//2+1, nx)
        _, _, rowsum = _kp.axis_sums(g, False, np.ones(g.shape[1]), _nchunks(g.shape[0]))
        p_half = rowsum * work.dy_mm / sum_w2
        d = work.dy_mm
    f, vals = _profile_from_half(p_half, n_ax, d, one_sided)
    from .coverage import resolved_range

    cov = resolved_range(work.valid, work.dx_mm, work.dy_mm, kind="profile", axis=ax,
                         k=K_CONVENTION)
    return ProfilePSD(f, vals, ax, "one-sided" if one_sided else "two-sided",
                      1.0 / (n_ax * d), spec.description, cov.f_min_per_mm, 0.5 / d,
                      length_mm=cov.length_mm)


def _band_limits(f_lo: Any, f_hi: Any, period_mm: Any) -> tuple[float, float]:
    if period_mm is not None:
        if f_lo is not None or f_hi is not None:
            raise ConventionError("give the band either as frequencies or as period_mm, not both")
        try:
            long_mm, short_mm = (float(v) for v in period_mm)
        except (TypeError, ValueError):
            raise ConventionError(
                f"period_mm must be (long, short) in mm, got {period_mm!r}") from None
        if not (short_mm > 0 and long_mm > short_mm) or math.isnan(long_mm):
            raise ConventionError(
                f"period_mm must satisfy long > short > 0, got {period_mm!r}")
        return (0.0 if math.isinf(long_mm) else 1.0 / long_mm), 1.0 / short_mm
    if f_lo is None or f_hi is None:
        raise ConventionError("give f_lo_per_mm and f_hi_per_mm, or period_mm=(long, short)")
    lo, hi = float(f_lo), float(f_hi)
    if not (math.isfinite(lo) and lo >= 0.0 and hi > lo) or math.isnan(hi):
        raise ConventionError(
            f"a band needs 0 <= f_lo < f_hi (f_hi may be inf), got [{f_lo!r}, {f_hi!r})")
    return lo, hi


def _coverage(lo: float, hi: float, fmin: float, fmax: float) -> tuple[float, float, str, str]:
    """Covered part of [lo, hi) within [fmin, fmax], coverage class and reason."""
    tol_lo = fmin * COVERAGE_RTOL
    tol_hi = fmax * COVERAGE_RTOL
    reasons = []
    if lo < fmin - tol_lo:
        reasons.append(f"f_lo = {lo:g}/mm is below the lowest frequency this map resolves "
                       f"(f_min = {fmin:g}/mm)")
    if hi > fmax + tol_hi:
        reasons.append(f"f_hi = {hi:g}/mm is above the Nyquist frequency {fmax:g}/mm")
    c_lo = lo if lo >= fmin - tol_lo else fmin
    c_hi = hi if hi <= fmax + tol_hi else fmax
    if c_lo >= c_hi:
        return math.nan, math.nan, "none", "; ".join(reasons) + "; no part of the band is covered"
    return c_lo, c_hi, ("partial" if reasons else "full"), "; ".join(reasons)


def _sidedness(kind: str, axis: str | None) -> str:
    if kind == "areal":
        return "areal: full-plane cells with f_lo <= |f| < f_hi"
    return (f"profile along {axis}: two-sided P1 summed over both signs, f_lo <= |f_{axis}| < "
            f"f_hi (= one-sided P1+ over [f_lo, f_hi))")


def _check_kind(kind: str) -> str:
    k = str(kind).lower()
    if k not in ("areal", "profile"):
        raise ConventionError(f"kind must be 'areal' or 'profile', got {kind!r}")
    return k


def bands_rms(hm_or_psd: HeightMap | PSD2D | ProfilePSD,
              bands: Sequence[tuple[float, float]], *, kind: str = "areal", axis: str = "x",
              window: Any = None, remove: Any = ("piston", "tilt"), pad: Any = None,
              region: str = "mask",
              valid_range_per_mm: tuple[float, float] | None = None,
              k: float = K_CONVENTION) -> list[BandRMS]:
    """Band RMS of several bands [(f_lo, f_hi), ...] in one pass; see :func:`band_rms`."""
    kind = _check_kind(kind)
    ax = _check_axis(axis) if kind == "profile" else None
    limits = [_band_limits(lo, hi, None) for lo, hi in bands]
    obj = hm_or_psd
    src: PSD2D | None = None
    if isinstance(obj, HeightMap):
        w = "hann" if window is None else window
        if kind == "areal":
            obj = psd(obj, w, remove, pad, region=region)
        else:
            obj = profile_psd(obj, ax, w, remove, pad, one_sided=True, region=region)
    elif isinstance(obj, PSD2D):
        if window is not None and _parse_window(window).description != obj.window:
            raise ConventionError(
                f"window={window!r} differs from the PSD's window ({obj.window}); "
                "pass the height map to recompute")
        if kind == "profile":
            src = obj
            obj = obj.profile(ax, one_sided=True)
    elif isinstance(obj, ProfilePSD):
        if kind != "profile":
            raise ConventionError("a ProfilePSD only gives kind='profile' band RMS")
        ax = obj.axis
    else:
        raise TypeError(f"expected a HeightMap, PSD2D or ProfilePSD, got {type(obj).__name__}")
    if isinstance(obj, PSD2D):
        src = obj
    covs = _coverages(limits, src, obj, kind, ax, valid_range_per_mm, k)
    fmin, fmax = covs[0][4] if covs else (math.nan, math.nan)
    todo = [(c[0], c[1]) for c in covs if c[2] != "none"]
    if isinstance(obj, PSD2D):
        var = obj.band_variances_nm2(todo) if todo else np.zeros(0)
    else:
        var = np.array([_profile_band_variance(obj, lo, hi) for lo, hi in todo])
    out = []
    it = iter(var)
    for (lo, hi), (c_lo, c_hi, cov, reason, _) in zip(limits, covs, strict=True):
        v = next(it) if cov != "none" else math.nan
        out.append(BandRMS(
            rms_nm=math.sqrt(max(float(v), 0.0)) if cov != "none" else math.nan,
            f_lo_per_mm=lo, f_hi_per_mm=hi, covered_lo_per_mm=c_lo, covered_hi_per_mm=c_hi,
            fully_covered=cov == "full", coverage=cov, kind=kind, axis=ax,
            window=obj.window, sidedness=_sidedness(kind, ax), reason=reason,
            f_min_per_mm=fmin, f_max_per_mm=fmax))
    return out


def _coverages(limits: Sequence[tuple[float, float]], src: PSD2D | None,
               obj: PSD2D | ProfilePSD, kind: str, ax: str | None,
               valid_range_per_mm: tuple[float, float] | None, k: float
               ) -> list[tuple[float, float, str, str, tuple[float, float]]]:
    """(covered_lo, covered_hi, coverage, reason, (f_min, f_max)) of each band: from the
    connected valid regions of the PSD's mask (:meth:`PSD2D.coverage`) with ``f_min =
    k / L``, or the range given."""
    kk = float(k)
    if not (math.isfinite(kk) and kk > 0):
        raise ConventionError(f"k must be a positive number, got {k!r}")
    if valid_range_per_mm is not None:
        fmin, fmax = (float(v) for v in valid_range_per_mm)
        return [(*_coverage(lo, hi, fmin, fmax), (fmin, fmax)) for lo, hi in limits]
    if src is not None:
        cov = src.coverage(kind, ax or "x", kk)
        fmax = obj.f_max_per_mm
        out = []
        for lo, hi in limits:
            if fmax < cov.f_max_per_mm * (1 - 1e-12):  # the profile's Nyquist, along its axis
                out.append((*_coverage(lo, hi, cov.f_min_per_mm, fmax),
                            (cov.f_min_per_mm, fmax)))
            else:
                out.append((*cov.clip(lo, hi), (cov.f_min_per_mm, cov.f_max_per_mm)))
        return out
    assert isinstance(obj, ProfilePSD)
    fmin = kk / obj.length_mm if obj.length_mm else obj.f_min_per_mm * kk / K_CONVENTION
    fmax = obj.f_max_per_mm
    return [(*_coverage(lo, hi, fmin, fmax), (fmin, fmax)) for lo, hi in limits]


def _profile_band_variance(p: ProfilePSD, lo: float, hi: float) -> float:
    f = np.abs(p.f_per_mm)
    sel = (f >= lo) & (f < hi)
    return float(np.sum(p.values[sel])) * p.df_per_mm


def band_rms(hm_or_psd: HeightMap | PSD2D | ProfilePSD, f_lo_per_mm: float | None = None,
             f_hi_per_mm: float | None = None, *, period_mm: tuple[float, float] | None = None,
             kind: str = "areal", axis: str = "x", window: Any = None,
             remove: Any = ("piston", "tilt"), pad: Any = None, region: str = "mask",
             valid_range_per_mm: tuple[float, float] | None = None,
             k: float = K_CONVENTION) -> BandRMS:
    """RMS height within a band of spatial frequency, with its coverage by the data.

    Parameters
    ----------
    hm_or_psd : HeightMap, PSD2D or ProfilePSD
        A map is transformed with ``window`` (default "hann"), ``remove``,
        ``pad`` and ``region`` (see :func:`psd`). A PSD is used as is (a
        ``window`` that differs from its own raises :class:`ConventionError`).
    f_lo_per_mm, f_hi_per_mm : float
        Band [f_lo, f_hi) in cycles/mm (f_hi may be inf).
    period_mm : (long, short), optional
        The band as periods in mm instead: f_lo = 1/long, f_hi = 1/short.
    kind : {"areal", "profile"}
        Areal: cells with f_lo <= |f| < f_hi of the 2-D PSD. Profile: the
        profile PSD along ``axis`` over f_lo <= |f_axis| < f_hi. They differ
        for the same surface (π/2 in variance for a 1/f² profile spectrum).
    valid_range_per_mm : (f_min, f_max), optional
        Override the frequencies the data are taken to resolve (default
        ``[k / L, Nyquist]``). ``(0, inf)`` sums every cell (Parseval total).
    k : float
        ``f_min = k / L``, L from the connected valid regions that hold the data
        (:meth:`PSD2D.coverage`, :func:`metrology.coverage.resolved_range`), not
        their bounding box. Default 2 (:data:`K_CONVENTION`); the first octave
        above 2 / L reads high on steep spectra (``docs/psd.md``).

    Returns
    -------
    BandRMS
        ``rms_nm`` over the covered part of the band; ``fully_covered``
        False (with ``reason``) when the band leaves [f_min, f_max]; rms NaN
        when no part is covered.
    """
    lo, hi = _band_limits(f_lo_per_mm, f_hi_per_mm, period_mm)
    return bands_rms(hm_or_psd, [(lo, hi)], kind=kind, axis=axis, window=window,
                     remove=remove, pad=pad, region=region,
                     valid_range_per_mm=valid_range_per_mm, k=k)[0]


def bandpass(hm: HeightMap, f_lo_per_mm: float, f_hi_per_mm: float, *,
             remove: Any = ("piston", "tilt"), backend: str | None = None) -> HeightMap:
    """Brick-wall band-pass filter: keep the Fourier cells with f_lo <= |f| < f_hi.

    The mean (and ``remove``) is taken out, the map is zero-filled outside the
    mask, transformed, the cells outside the band are zeroed, and the result
    transformed back; pixels outside the mask are NaN again. No window.

    For a map without invalid pixels ``sqrt(mean(z²))`` of the result equals
    ``band_rms(hm, f_lo, f_hi, window="none", valid_range_per_mm=(0, inf))``
    (the PSD cell sum) to rounding. With a mask they differ: the cell sum
    counts the filtered field's power outside the mask as well.
    """
    hm = _check_hm(hm)
    lo, hi = _band_limits(f_lo_per_mm, f_hi_per_mm, None)
    ny, nx = hm.shape
    with _threads_for(ny * nx, passes=6.0):
        work, det, _ = _plan(hm, remove)
        buf, _ = _prepare(work, _WindowSpec("none"), work.shape, det)
        spec_half = _fft.rfft2(buf, backend=backend)
        fx2 = np.fft.rfftfreq(nx, work.dx_mm) ** 2
        fy2 = np.fft.fftfreq(ny, work.dy_mm) ** 2
        f2 = fx2[None, :] + fy2[:, None]
        spec_half[~((f2 >= lo * lo) & (f2 < hi * hi))] = 0.0
        z = _fft.irfft2(spec_half, (ny, nx), backend=backend)
    z[~work.valid] = np.nan
    meta = dict(work.meta)
    if work is hm and _normalise_terms(remove):
        from .zernike_schemes import zernike_name

        meta["removed"] = [*meta.get("removed", []),
                           *(zernike_name(n, m) for n, m in det.geo.orders)]
    return work.replace(z, meta=meta, copy=False,
                        note=f"brick-wall band-pass [{lo:g}, {hi:g}) cycles/mm")


def slope_rms(hm: HeightMap | PSD2D | ProfilePSD, band: tuple[float, float] | None = None, *,
              window: Any = "hann", remove: Any = ("piston", "tilt"),
              region: str = "mask",
              valid_range_per_mm: tuple[float, float] | None = None,
              kind: str = "areal", axis: str = "x", k: float = K_CONVENTION) -> SlopeRMS:
    """RMS surface slope in µrad along x, y and of the gradient magnitude.

    Parameters
    ----------
    hm : HeightMap, or PSD2D / ProfilePSD when a band is given
    band : (f_lo, f_hi), optional
        None: first differences of adjacent valid pixels (no window, no FFT),
        RMS about the mean slope. A band: spectral, with coverage as in
        :func:`band_rms` (``k``, ``valid_range_per_mm``).
    kind : {"areal", "profile"}
        With a band. ``"areal"``: ``(2π f_x)² PSD2`` and ``(2π f_y)² PSD2``
        summed over the cells with f_lo <= |f| < f_hi of ``psd(hm, window,
        remove, region=region)`` (or of the PSD2D given); ``magnitude_urad`` is
        the RMS gradient magnitude. ``"profile"``: the slope of profiles along
        ``axis``, ``(2π f)² P1+(f)`` summed over f_lo <= f < f_hi of the one-sided
        profile PSD along ``axis`` (``docs/conventions.md``: a profile band's
        slope comes from the profile PSD along its direction, like its height);
        that value is ``x_urad`` or ``y_urad`` and ``magnitude_urad``, the other
        component is NaN.

    Returns
    -------
    SlopeRMS
    """
    kd = _check_kind(kind)
    if isinstance(hm, PSD2D | ProfilePSD):
        if band is None:
            raise ConventionError("slope RMS without a band uses finite differences of the "
                                  "height map; pass the HeightMap, or give a band")
    else:
        hm = _check_hm(hm)
    if band is None:
        terms = [t for t in _normalise_terms(remove)
                 if not (isinstance(t, str) and t.lower() in ("piston", "tilt"))]
        work = _detrend(hm, terms)[0] if terms else hm  # piston/tilt: no effect about the mean
        z = work.z_nm
        with _threads_for(z.size):
            s = _kp.fd_slope_moments(z, 0.0, 0.0)
            if s[2] < 2 or s[5] < 2:
                raise InsufficientDataError(
                    "slope RMS needs at least 2 pairs of adjacent valid pixels along x and y")
            mx, my = s[0] / s[2], s[3] / s[5]
            s = _kp.fd_slope_moments(z, mx, my)
        vx = s[1] / s[2] - (s[0] / s[2]) ** 2
        vy = s[4] / s[5] - (s[3] / s[5]) ** 2
        x = math.sqrt(max(vx, 0.0)) / work.dx_mm
        y = math.sqrt(max(vy, 0.0)) / work.dy_mm
        return SlopeRMS(x, y, math.hypot(x, y),
                        "finite-difference: adjacent valid pixels, RMS about the mean slope",
                        None, math.nan, math.nan, True, "", "none")
    lo, hi = _band_limits(band[0], band[1], None)
    if kd == "profile" or isinstance(hm, ProfilePSD):
        ax = hm.axis if isinstance(hm, ProfilePSD) else _check_axis(axis)
        if isinstance(hm, ProfilePSD):
            prof, src = hm, None
        else:
            src = hm if isinstance(hm, PSD2D) else psd(hm, window, remove, region=region)
            prof = src.profile(ax, one_sided=True)
        c_lo, c_hi, cov, reason, _ = _coverages([(lo, hi)], src, prof, "profile", ax,
                                                 valid_range_per_mm, k)[0]
        v = math.nan
        if cov != "none":
            f = np.abs(prof.f_per_mm)
            sel = (f >= c_lo) & (f < c_hi)
            v = math.sqrt(float(np.sum((_TWO_PI * f[sel]) ** 2 * prof.values[sel]))
                          * prof.df_per_mm)
        x, y = (v, math.nan) if ax == "x" else (math.nan, v)
        return SlopeRMS(x, y, v, f"spectral, profile along {ax}: (2 pi f)^2 P1+ summed over "
                                 f"f_lo <= f < f_hi of the one-sided profile PSD along {ax}",
                        (lo, hi), c_lo, c_hi, cov == "full", reason, prof.window,
                        kind="profile", axis=ax)
    p = hm if isinstance(hm, PSD2D) else psd(hm, window, remove, region=region)
    c_lo, c_hi, cov, reason, _ = _coverages([(lo, hi)], p, p, "areal", None,
                                             valid_range_per_mm, k)[0]
    if cov == "none":
        x = y = math.nan
    else:
        vx, vy = p.slope_variances_urad2(c_lo, c_hi)
        x, y = math.sqrt(vx), math.sqrt(vy)
    return SlopeRMS(x, y, math.hypot(x, y),
                    "spectral: (2 pi f)^2 PSD2 summed over f_lo <= |f| < f_hi",
                    (lo, hi), c_lo, c_hi, cov == "full", reason, p.window)


@renamed_kwargs(radius_mm="r_norm_mm", center_mm="centre_mm")
def pvr(hm: HeightMap, terms: int | None = None, *, variant: str | None = None,
        scheme: str = "fringe", r_norm_mm: float | None = None,
        centre_mm: tuple[float, float] | None = None) -> PVr:
    """Robust PV (C. Evans, Opt. Eng. 48, 043605, 2009): PV of a Zernike fit + 3 · RMS of
    its residual.

    Parameters
    ----------
    hm : HeightMap
        Heights in nm.
    terms : {36, 37}, optional
        Kept for compatibility: 36 is ``variant="evans"``, 37 ``"evans-z37"``.
    variant : {"evans", "evans-z37"}
        ``"evans"`` (default): Evans' definition, the Fringe Z1-Z36 fit, PV of the
        fitted surface with piston and tilt (Z1-Z3) removed, plus 3 x the RMS of
        the residual of that fit (:data:`PVR_VARIANTS` has the exact text);
        ``"evans-z37"``: the same with Z37 = (12, 0) added (a named variant).
    scheme : "fringe"
        The variants are defined on Fringe terms; any other scheme would fit
        another term set and is refused.
    r_norm_mm, centre_mm : optional
        Normalisation radius and centre for :func:`metrology.zernike.fit_zernike`.

    Returns
    -------
    PVr
        ``pvr_nm``, ``pv_fit_nm`` (PV of the fitted surface without piston and
        tilt, over the valid pixels), ``rms_residual_nm`` (RMS of map - fit about
        its mean), ``variant`` and its ``definition``.
    """
    if str(scheme).lower() != "fringe":
        raise ConventionError(
            f"PVr is defined on Fringe Zernike terms (Evans: Fringe Z1-Z36); scheme={scheme!r} "
            "would fit another term set. Drop scheme=, or pick variant=")
    if terms is not None:
        if terms not in (36, 37):
            raise ConventionError(f"PVr uses 36 or 37 Fringe Zernike terms, got {terms!r}")
        named = "evans" if terms == 36 else "evans-z37"
        if variant is not None and variant != named:
            raise ConventionError(f"terms={terms} is variant {named!r}, not {variant!r}")
        variant = named
    variant = "evans" if variant is None else str(variant).lower()
    if variant not in PVR_FIT_TERMS:
        raise ConventionError(f"unknown PVr variant {variant!r}; pvr() computes "
                              f"{', '.join(PVR_FIT_TERMS)} (definitions: PVR_VARIANTS)")
    k = PVR_FIT_TERMS[variant]
    from .zernike import fit_zernike  # lazy: optional dependency between modules

    fit = fit_zernike(_check_hm(hm), terms=k, scheme="fringe", normalisation="rms",
                      r_norm_mm=r_norm_mm, centre_mm=centre_mm)
    c = np.array(fit.coefficients_nm, dtype=np.float64)
    c[:3] = 0.0  # Fringe Z1-Z3: piston and tilt removed from the fitted surface
    form = fit.geometry.evaluate(c)
    pv_fit = float(form.max() - form.min())
    rms_res = fit.residual_rms_nm
    return PVr(pv_fit + 3.0 * rms_res, pv_fit, rms_res, k, "fringe", float(fit.r_norm_mm),
               variant, PVR_VARIANTS[variant])
