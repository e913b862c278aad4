"""Zernike fitting, synthesis and term removal on height maps.

Conventions (docs/conventions.md): ``Z = N R_n^|m|(ρ) cos(mθ)`` (m >= 0) or
``sin(|m|θ)`` (m < 0), θ counter-clockwise from +x, ρ = r / R_norm, r measured
from the aperture centre in the map frame (mm). ``normalisation="rms"``: each
coefficient is that term's RMS over the unit disk (orthonormal);
``"peak"``: the coefficient is the edge amplitude. Fits on non-circular
apertures are plain least squares of the circle polynomials (the result says
so in ``basis``).

Speed: every term of degree <= n is a polynomial of degree <= n in x and y,
so the normal equations ``G c = Bᵀ z`` need only Legendre moments of the mask
(up to degree 2n) and of the data (up to degree n), gathered in one pass over
the map, strip by strip, each strip with its own well-conditioned box
(:mod:`kernels.moments`); ``G = Σ_strips C T Cᵀ`` and ``Bᵀ z = Σ C d`` are
small dense products. No basis is evaluated per pixel and none is stored:
the fitted surface and the residual map are the same polynomial form
evaluated strip by strip (n + 1 multiply-adds per pixel). The per-pixel
kernels of :mod:`kernels.zernike` remain for ill-conditioned apertures
(least squares on the sampled basis) and as the test reference.

A *geometry* (mask, grid, terms, normalisation, centre, R_norm: row extents,
strips, coefficients C and the factorised Gram matrix) is a few hundred kB
at most; fits of maps with the same mask reuse it from a small LRU cache.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

import numpy as np

from kernels import moments as _km
from kernels import zernike as _kz
from kernels._config import blas_single_threaded, threads_for_elements

from . import _caches
from ._deprecate import alias_property, renamed_kwargs
from .aperture import mask_key
from .errors import ApertureError, ConventionError, InsufficientDataError
from .heightmap import HeightMap
from .zernike_schemes import (
    DEFAULT_SCHEME,
    NORMALISATIONS,
    first_index,
    has_indices,
    normalisation_factor,
    resolve_terms,
    zernike_name,
    zernike_order,
)

__all__ = [
    "ZernikeFit",
    "ZernikeGeometry",
    "fit_zernike",
    "zernike_surface",
    "remove",
    "pair",
    "clear_geometry_cache",
    "COND_FLAG",
    "COND_REFUSE",
    "FILL_FLAG",
]

#: above this basis condition number the normal equations are not trusted
_COND_NORMAL_EQ = 1e6
#: circle-polynomial fits above this condition number are flagged: their coefficients
#: (not the fitted surface) are ill-determined, a spec criterion on them is not measurable
COND_FLAG = 1e3
#: ... and above this one refused (:func:`fit_zernike` raises; ``basis="orthonormal"`` fits)
COND_REFUSE = 1e6
#: circle-polynomial fits whose pixels cover less than this share of the unit disk
#: (``n_pixels dx dy / (pi R_norm^2)``) are flagged: the terms are not the aperture's
FILL_FLAG = 0.5
#: the bases :func:`fit_zernike` fits
BASES = ("circle", "orthonormal")
#: ``ZernikeFit.basis`` of each
BASIS_TEXT = {
    "circle": "circle polynomials, plain least squares over the valid pixels",
    "orthonormal": ("orthonormalised: the circle polynomials Gram-Schmidt orthonormalised "
                    "over the fit's pixels in the order of the terms (each mode has RMS 1 "
                    "over the pixels; coefficient = the mode's RMS contribution)"),
}
#: dummy 2-D array for kernel arguments that are not used (one signature)
_NO_2D = np.zeros((1, 1))


def _check_norm(normalisation: str) -> str:
    n = str(normalisation).lower()
    if n not in NORMALISATIONS:
        raise ConventionError(
            f"unknown normalisation {normalisation!r}; use one of {', '.join(NORMALISATIONS)}")
    return n


def _default_centre(mask: np.ndarray, dx: float, dy: float,
                    key: str | None = None) -> tuple[tuple[float, float], str]:
    """The centre of the circle found in the fit's mask (its outer edge, or the centroid of
    the filled region when it has no circular edge) and how it was found."""
    from .aperture import find_circle_mask

    c = find_circle_mask(mask, dx, dy, key=key)  # cached per mask
    how = ("edge fit (robust circle fit to the outer edge of the valid pixels)"
           if c.method == "edge" else f"centroid of the filled valid region ({c.reason})")
    return c.centre_mm, how


def _grid_offsets(shape: tuple[int, int], dx: float, dy: float, center: tuple[float, float],
                  radius: float) -> tuple[float, float, float, float]:
    """(x0, sx, y0, sy): normalised ``x = x0 + col sx``, ``y = y0 + row sy``."""
    ny, nx = shape
    inv_r = 1.0 / radius
    return ((-(nx - 1) / 2.0 * dx - center[0]) * inv_r, dx * inv_r,
            (-(ny - 1) / 2.0 * dy - center[1]) * inv_r, dy * inv_r)


def _row_extents(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last pixel of every row (:func:`kernels.moments.row_extents`)."""
    with threads_for_elements(mask.size, passes=0.25):
        return _km.row_extents(mask)


def _circumscribed_radius(first: np.ndarray, last: np.ndarray, shape: tuple[int, int],
                          dx: float, dy: float, center: tuple[float, float]) -> float:
    """Largest distance (mm) of a mask pixel centre from ``center`` (from the row extents:
    in each row the farthest pixel is its first or its last)."""
    ny, nx = shape
    rows = np.flatnonzero(first >= 0)
    if rows.size == 0:
        raise ApertureError("the aperture holds no valid pixels: nothing to fit")
    xa = (first[rows] - (nx - 1) / 2.0) * dx - center[0]
    xb = (last[rows] - (nx - 1) / 2.0) * dx - center[0]
    y = (rows - (ny - 1) / 2.0) * dy - center[1]
    r = float(np.sqrt(np.max(np.maximum(xa * xa, xb * xb) + y * y)))
    return r if r > 0.0 else 0.5 * min(dx, dy)  # a single pixel at the centre


@lru_cache(maxsize=64)
def _mode_tables(orders: tuple[tuple[int, int], ...], normalisation: str
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """(tab, jac, kmax) of :func:`kernels.zernike.mode_table`, the normalisation factors
    and the largest degree of ``orders``: the same for every geometry of these terms
    (kept; never written, shared by the geometries)."""
    n_arr = np.array([t[0] for t in orders], dtype=np.int64)
    m_arr = np.array([t[1] for t in orders], dtype=np.int64)
    tab, jac, kmax = _kz.mode_table(n_arr, m_arr)
    scale = np.array([normalisation_factor(n, m, normalisation) for n, m in orders])
    return tab, jac, kmax, scale, int(n_arr.max())


_caches.register("zernike.mode_tables", _mode_tables.cache_clear)


class ZernikeGeometry:
    """Everything about a Zernike fit that does not depend on the heights.

    Parameters
    ----------
    mask : ndarray of bool, shape (nrows, ncols)
        Pixels that take part in the fit (copied).
    dx_mm, dy_mm : float
        Pixel spacing (mm).
    orders : sequence of (n, m)
        The modes, in output order.
    normalisation : {"rms", "peak"}
    centre_mm : (float, float)
        Aperture centre (x, y) in the map frame, mm.
    r_norm_mm : float
        R_norm, mm.
    allow_outside : bool
        Accept valid pixels with ρ > 1 (the polynomials are then evaluated
        outside the unit disk, where they are not orthogonal).
    keep_basis : bool
        Ignored (kept for compatibility): no per-pixel basis is ever stored.
    factorize : bool
        Build the Gram matrix now (False: only synthesis, :meth:`scatter_sum`).
    z_first : ndarray, optional
        Heights of the first fit, a map of the mask's shape (or the values at
        the mask pixels, row-major): ``Bᵀ z`` is gathered in the same pass as
        the Gram matrix.

    Notes
    -----
    The Gram matrix and ``Bᵀ z`` come from Legendre moments per horizontal
    strip (:mod:`kernels.moments`); they agree with the per-pixel sums of
    :func:`kernels.zernike.zernike_normal_equations` to ~1e-14 relative
    (tests/test_kernels_moments.py).
    """

    @renamed_kwargs(nm="orders", normalization="normalisation", center_mm="centre_mm",
                    radius_mm="r_norm_mm")
    def __init__(self, mask: np.ndarray, dx_mm: float, dy_mm: float,
                 orders: Sequence[tuple[int, int]], normalisation: str,
                 centre_mm: tuple[float, float], r_norm_mm: float,
                 allow_outside: bool = False, keep_basis: bool = True,
                 factorize: bool = True, z_first: np.ndarray | None = None,
                 *, _extents: tuple[np.ndarray, np.ndarray] | None = None,
                 _copy_mask: bool = True) -> None:
        # a private copy (or the caller's fresh array / a map's valid mask), never written;
        # not flagged read-only: a read-only array would be another kernel signature
        mask = (np.array(mask, dtype=bool, order="C") if _copy_mask
                else np.ascontiguousarray(mask, dtype=bool))
        self.mask = mask
        self.shape = mask.shape
        self.dx_mm, self.dy_mm = float(dx_mm), float(dy_mm)
        self.orders = [tuple(map(int, t)) for t in orders]
        self.normalisation = _check_norm(normalisation)
        self.centre_mm = (float(centre_mm[0]), float(centre_mm[1]))
        self.r_norm_mm = float(r_norm_mm)
        if not math.isfinite(self.r_norm_mm) or self.r_norm_mm <= 0:
            raise ApertureError(f"R_norm must be a positive radius in mm, got {r_norm_mm!r}")
        if not self.orders:
            raise ConventionError("no Zernike terms to fit")
        self._first, self._last = _extents if _extents is not None else _row_extents(mask)
        self._n_pixels = int(np.count_nonzero(mask))
        if self._n_pixels == 0:
            raise ApertureError("the aperture holds no valid pixels: nothing to fit")
        x0, sx, y0, sy = _grid_offsets(self.shape, self.dx_mm, self.dy_mm, self.centre_mm,
                                       self.r_norm_mm)
        self._offsets = (x0, sx, y0, sy)
        self._tab, self._jac, self._kmax, self._scale, self.degree = _mode_tables(
            tuple(self.orders), self.normalisation)
        # at least 8 strips (work for every thread of a small machine); fixed, not taken from
        # the thread count, so that the numbers do not depend on the machine
        span = int(np.count_nonzero(self._first >= 0))
        max_rows = max(1, -(-span // 8))
        self._strips, self._boxes, rho2_max = _km.plan_strips(
            self._first, self._last, x0, sx, y0, sy, self.degree, _km.LOG_GROWTH, max_rows)
        self.rho_max = float(math.sqrt(rho2_max))
        # a pixel centre may sit up to half a pixel outside a circle drawn about a centre
        # that was estimated slightly differently: tolerated, not extrapolated further
        tol = 0.5 * max(self.dx_mm, self.dy_mm) / self.r_norm_mm
        if self.rho_max > 1.0 + tol + 1e-9 and not allow_outside:
            raise ApertureError(
                f"valid pixels reach ρ = {self.rho_max:.4f} > 1 with R_norm = "
                f"{self.r_norm_mm:g} mm: pass a larger r_norm_mm, restrict the map to the "
                "aperture (HeightMap.select_aperture), or allow_outside=True")
        # C[k, s, m]: term k on strip s's box in the Legendre products L_I[m](u) L_J[m](v),
        # from the (exact) Gauss-Legendre analysis of the term's values at the box's nodes
        xs, ys = _km.node_coordinates(self._boxes, self.degree)
        vals = np.empty((self.n_terms, xs.size))
        with threads_for_elements(xs.size * self.n_terms, passes=8.0):
            _kz.zernike_basis(xs, ys, self._tab, self._jac, self._kmax, self._scale, vals)
        with blas_single_threaded():
            self._coef = _km.coefficients_from_nodes(vals, self.degree)
        self.gram = np.zeros((0, 0))
        self.condition_number = math.nan
        self._ones = np.zeros(0)  # Bᵀ 1
        self._first_fit: tuple[Any, np.ndarray, float] | None = None
        self._xy: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        if factorize:
            self._factorize(z_first)

    # -- moments -----------------------------------------------------------------
    def _as_map(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, dtype=np.float64)
        if z.shape == self.shape:
            return _kernel_array(z)
        if z.ndim == 1 and z.size == self.n_pixels:
            out = np.zeros(self.shape)
            out[self.mask] = z
            return out
        raise ValueError(f"values must be a map of shape {self.shape} or {self.n_pixels} "
                         f"values at the mask pixels, got shape {z.shape}")

    def _moments(self, zmap: np.ndarray | None, with_mask: bool
                 ) -> tuple[np.ndarray, np.ndarray]:
        n = self.degree
        with threads_for_elements(self.mask.size, passes=2.0 if zmap is not None else 0.5):
            return _km.strip_moments(self.mask, _NO_2D if zmap is None else zmap, self._first,
                                     self._last, self._strips, self._boxes,
                                     2 * n if with_mask else -1, -1 if zmap is None else n)

    def _factorize(self, z_first: np.ndarray | None) -> None:
        """Gram matrix (and ``Bᵀ z_first``) from one pass over the map."""
        if self.n_pixels < self.n_terms:
            raise InsufficientDataError(
                f"{self.n_pixels} valid pixels cannot determine {self.n_terms} Zernike terms; "
                "fit fewer terms or use a larger aperture")
        zmap = None if z_first is None else self._as_map(z_first)
        mu, d = self._moments(zmap, True)
        n = self.degree
        ii, jj = _km.total_degree_index(n)
        with threads_for_elements(mu.shape[0] * ii.size * ii.size, passes=4.0):
            t = _km.moment_gram(mu, _km.linearization(n), ii, jj)
        c = self._coef  # (K, S, M)
        k, ns, m = c.shape
        flat = c.reshape(k, ns * m)
        with blas_single_threaded():
            # G = Σ_s C_s T_s C_sᵀ: C T per strip written in (K, S, M) order, then one product
            ct = np.empty_like(c)
            np.matmul(c.transpose(1, 0, 2), t, out=ct.transpose(1, 0, 2))
            gram = ct.reshape(k, ns * m) @ flat.T
            gram = 0.5 * (gram + gram.T)
            self._ones = flat @ mu[:, ii, jj].ravel()
            if zmap is not None:
                rhs = flat @ d[:, ii, jj].ravel()
                self._first_fit = (z_first, rhs, float(d[:, 0, 0].sum()))
            w = np.linalg.eigvalsh(gram)
        self.gram = gram
        self.condition_number = float(math.sqrt(w[-1] / w[0])) if w[0] > 0 else math.inf

    @property
    def n_pixels(self) -> int:
        """Number of pixels in the fit."""
        return self._n_pixels

    @property
    def n_terms(self) -> int:
        return len(self.orders)

    # deprecated spellings (docs/conventions.md, Vocabulary)
    nm = alias_property("orders", "nm")
    normalization = alias_property("normalisation", "normalization")
    center_mm = alias_property("centre_mm", "center_mm")
    radius_mm = alias_property("r_norm_mm", "radius_mm")

    @property
    def n_strips(self) -> int:
        """Number of strips the moments are gathered over."""
        return int(self._strips.shape[0])

    def _project(self, z: np.ndarray) -> tuple[np.ndarray, float]:
        """``Bᵀ z`` and ``Σ z`` over the mask pixels."""
        ff = self._first_fit
        if ff is not None and ff[0] is z:
            self._first_fit = None  # used once: do not keep the first map alive
            return ff[1], ff[2]  # gathered with the Gram matrix
        _, d = self._moments(self._as_map(z), False)
        ii, jj = _km.total_degree_index(self.degree)
        k = self.n_terms
        return (self._coef.reshape(k, -1) @ d[:, ii, jj].ravel(), float(d[:, 0, 0].sum()))

    def project(self, z: np.ndarray) -> np.ndarray:
        """``Bᵀ z`` for heights ``z``: a map of the mask's shape, or the values at the
        mask pixels (row-major), nm."""
        return self._project(z)[0]

    def _solve(self, z: np.ndarray, warn: bool = True) -> tuple[np.ndarray, float]:
        """Coefficients and the mean of ``z - B c`` over the mask pixels."""
        coef, mean, _ = self._solve_rhs(z, warn)
        return coef, mean

    def _solve_rhs(self, z: np.ndarray, warn: bool = True
                   ) -> tuple[np.ndarray, float, np.ndarray]:
        """:meth:`_solve` and ``Bᵀ z`` (for the orthonormalised coefficients)."""
        if self.gram.size == 0:
            self._factorize(None)
        rhs, sum_z = self._project(z)
        if self.condition_number < _COND_NORMAL_EQ:
            with blas_single_threaded():
                coef = np.linalg.solve(self.gram, rhs)
        else:
            if warn:
                warnings.warn(
                    f"the Zernike basis is ill-conditioned on this aperture (condition number "
                    f"{self.condition_number:.3g}); solving by SVD least squares. "
                    "Consider fewer terms.", stacklevel=3)
            b = self._sampled_basis()
            coef = np.linalg.lstsq(b.T, self.gather(self._as_map(z)), rcond=None)[0]
        return coef, (sum_z - float(coef @ self._ones)) / self.n_pixels, rhs

    def orthonormal_coefficients(self, z: np.ndarray, rhs: np.ndarray | None = None
                                 ) -> np.ndarray:
        """Coefficients (nm) of ``z`` on the circle polynomials Gram-Schmidt orthonormalised
        over the geometry's pixels, in the order of the terms, each mode scaled to RMS 1
        over the pixels.

        With ``G = L Lᵀ`` (Cholesky of the Gram matrix) the modes are
        ``Q = sqrt(P) L⁻¹ B`` and the coefficients ``a = L⁻¹ (Bᵀ z) / sqrt(P)``;
        the fitted surface ``Σ a Q`` is the circle fit's. When the Gram matrix is
        too ill-conditioned for a Cholesky factor (cond(B) above ~1e6), the
        sampled basis is QR-factorised instead (same modes, signs fixed so that
        each mode has a positive component along its circle polynomial).
        """
        if self.gram.size == 0:
            self._factorize(None)
        p = self.n_pixels
        if rhs is None:
            rhs = self._project(z)[0]
        if self.condition_number < _COND_NORMAL_EQ:
            try:
                with blas_single_threaded():
                    lower = np.linalg.cholesky(self.gram)
                    return np.linalg.solve(lower, rhs) / math.sqrt(p)
            except np.linalg.LinAlgError:
                pass
        if p * self.n_terms > 50_000_000:
            raise InsufficientDataError(
                f"the Zernike basis is too ill-conditioned on this aperture (condition number "
                f"{self.condition_number:.3g}) to orthonormalise {self.n_terms} terms over "
                f"{p} pixels without the sampled basis ({p * self.n_terms * 8 / 1e9:.1f} GB); "
                "fit fewer terms")
        q, r = np.linalg.qr(self._sampled_basis().T)  # (P, K): B = (Q R)ᵀ, Gram-Schmidt order
        diag = np.abs(np.diag(r))
        dep = np.flatnonzero(diag < 1e-9 * diag.max())
        if dep.size:
            n, m = self.orders[int(dep[0])]
            raise InsufficientDataError(
                f"the term {zernike_name(n, m)} (n={n}, m={m}) is not independent of the "
                "terms before it on these pixels: nothing to orthonormalise; fit fewer terms")
        sign = np.where(np.diag(r) < 0, -1.0, 1.0)
        return (sign * (q.T @ self.gather(self._as_map(z)))) / math.sqrt(p)

    def solve(self, z: np.ndarray) -> np.ndarray:
        """Least-squares coefficients for heights ``z`` (a map or the values at the mask
        pixels), same units as z."""
        return self._solve(z)[0]

    # -- per-pixel fallback and compatibility ------------------------------------
    def _coordinates(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._xy is None:
            x0, sx, y0, sy = self._offsets
            idx, x, y, _ = _kz.masked_coordinates(self.mask, x0, sx, y0, sy)
            self._xy = (idx, x, y)
        return self._xy

    @property
    def index(self) -> np.ndarray:
        """Row-major flat indices of the mask pixels (P,)."""
        return self._coordinates()[0]

    def _sampled_basis(self) -> np.ndarray:
        """The basis at every mask pixel, (K, P) (the per-pixel path)."""
        _, x, y = self._coordinates()
        b = np.empty((self.n_terms, self.n_pixels))
        _kz.zernike_basis(x, y, self._tab, self._jac, self._kmax, self._scale, b)
        return b

    # -- evaluation ----------------------------------------------------------------
    def _strip_coefficients(self, coef: np.ndarray) -> np.ndarray:
        """Per-strip Legendre coefficients of ``Σ c_k Z_k``, shape (S, n+1, n+1)."""
        coef = np.ascontiguousarray(coef, dtype=np.float64)
        if coef.shape != (self.n_terms,):
            raise ValueError(f"expected {self.n_terms} coefficients, got shape {coef.shape}")
        n = self.degree
        ii, jj = _km.total_degree_index(n)
        e = np.zeros((self.n_strips, n + 1, n + 1))
        e[:, ii, jj] = (coef @ self._coef.reshape(self.n_terms, -1)).reshape(self.n_strips, -1)
        return e

    def _apply(self, coef: np.ndarray, z: np.ndarray | None, out: np.ndarray, *,
               mean: float = 0.0, center: bool = False, fill: float = math.nan,
               wy: np.ndarray | None = None, wx: np.ndarray | None = None,
               w2d: np.ndarray | None = None) -> tuple[float, float, float]:
        """Write ``z - Σ c Z`` (or ``Σ c Z`` when z is None) at the mask pixels of ``out``
        (:func:`kernels.moments.poly_apply`); returns (Σ w², Σ (r - mean), Σ (r - mean)²)."""
        ny, nx = self.shape
        e = self._strip_coefficients(coef)
        zz = _zeros_like_shape(self.shape) if z is None else _kernel_array(z)
        if z is not None and zz.shape != self.shape:
            raise ValueError(f"map shape {zz.shape} differs from the geometry's {self.shape}")
        wy = np.ones(ny) if wy is None else wy
        wx = np.ones(nx) if wx is None else wx
        with threads_for_elements(out.size, passes=2.0 + 0.1 * self.degree):
            return _km.poly_apply(zz, self.mask, self._first, self._last, self._strips,
                                  self._boxes, e, float(mean), z is not None, center,
                                  float(fill), wy, wx, _NO_2D if w2d is None else w2d,
                                  w2d is not None, out)

    def evaluate(self, coef: np.ndarray) -> np.ndarray:
        """``Σ c_i Z_i`` at the geometry's pixels, shape (P,) (row-major order)."""
        return self.scatter_sum(coef)[self.mask]

    def scatter_sum(self, coef: np.ndarray, subtract_from: np.ndarray | None = None
                    ) -> np.ndarray:
        """A NaN map holding ``Σ c_i Z_i`` (or ``subtract_from - Σ``) at the pixels."""
        out = np.empty(self.shape)
        self._apply(coef, subtract_from, out)
        return out

    def gather(self, z_nm: np.ndarray) -> np.ndarray:
        """Values of a map at the geometry's pixels (P,), row-major."""
        return np.ascontiguousarray(np.asarray(z_nm).reshape(self.shape)[self.mask])


def _kernel_array(a: np.ndarray) -> np.ndarray:
    """C-contiguous, writable float64 (a read-only array is another kernel signature: a
    compile on first use instead of a cache load)."""
    a = np.ascontiguousarray(a, dtype=np.float64)
    return a if a.flags.writeable else a.copy()


_ZEROS: dict[tuple[int, int], np.ndarray] = {}
_caches.register("zernike.zero_maps", _ZEROS.clear)


def _zeros_like_shape(shape: tuple[int, int]) -> np.ndarray:
    """A zero map for the z argument of a synthesis (never read nor written; kept writable
    so that the kernel has one signature)."""
    z = _ZEROS.get(shape)
    if z is None:
        if len(_ZEROS) > 4:
            _ZEROS.clear()
        z = np.zeros(shape)
        _ZEROS[shape] = z
    return z


class _GeometryCache:
    """Small LRU cache of :class:`ZernikeGeometry` (default centres are cached per mask
    by :func:`metrology.aperture.fit_circle`)."""

    def __init__(self, maxsize: int = 8) -> None:
        self.maxsize = maxsize
        self._geo: OrderedDict[tuple, ZernikeGeometry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> ZernikeGeometry | None:
        with self._lock:
            g = self._geo.get(key)
            if g is not None:
                self._geo.move_to_end(key)
            return g

    def put(self, key: tuple, geo: ZernikeGeometry) -> None:
        with self._lock:
            self._geo[key] = geo
            while len(self._geo) > self.maxsize:
                self._geo.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._geo.clear()


_CACHE = _GeometryCache()
_caches.register("zernike.geometries", _CACHE.clear)


def clear_geometry_cache() -> None:
    """Forget every cached Zernike geometry and aperture circle (e.g. to time a fresh fit).

    :func:`metrology.clear_caches` empties every cache of the toolkit.
    """
    from .aperture import clear_circle_cache

    _CACHE.clear()
    clear_circle_cache()


def _geometry(mask: np.ndarray, dx: float, dy: float, orders: list[tuple[int, int]],
              normalisation: str, centre_mm: tuple[float, float] | None,
              r_norm_mm: float | None, allow_outside: bool, cache: bool,
              z_nm: np.ndarray | None = None, mkey: str | None = None
              ) -> tuple[ZernikeGeometry, np.ndarray | None]:
    """The (cached) geometry; for a new one built from the map ``z_nm``, also that map
    (its ``Bᵀ z`` was gathered with the Gram matrix). ``mask`` must be a fresh array:
    a new geometry keeps it."""
    if mkey is None:
        mkey = mask_key(mask) if (cache or centre_mm is None) else None
    if centre_mm is None:
        if not mask.any():
            raise ApertureError("the aperture holds no valid pixels: nothing to fit")
        center = _default_centre(mask, dx, dy, mkey)[0]
    else:
        center = (float(centre_mm[0]), float(centre_mm[1]))
    key = (mkey, dx, dy, tuple(orders), normalisation, center, r_norm_mm, allow_outside)
    if cache:
        g = _CACHE.get(key)
        if g is not None:
            return g, None
    extents = _row_extents(mask)
    r = (_circumscribed_radius(*extents, mask.shape, dx, dy, center) if r_norm_mm is None
         else float(r_norm_mm))
    g = ZernikeGeometry(mask, dx, dy, orders, normalisation, center, r, allow_outside,
                        factorize=False, _extents=extents, _copy_mask=False)
    g._factorize(z_nm)
    if cache:
        _CACHE.put(key, g)
    return g, z_nm


@dataclass(frozen=True, eq=False)
class ZernikeFit:
    """Result of :func:`fit_zernike`.

    Attributes
    ----------
    coefficients_nm : ndarray (K,)
        Coefficients in nm, in the order of ``indices``.
    indices : list of int
        Indices in ``scheme``.
    orders : list of (n, m)
    scheme : str
        "fringe", "noll" or "ansi".
    normalisation : str
        "rms" (coefficient = RMS of the term over the unit disk) or "peak".
    r_norm_mm : float
        R_norm used, mm.
    centre_mm : (float, float)
        Aperture centre used (x, y) in the map frame, mm.
    condition_number : float
        2-norm condition number of the sampled basis (sqrt of the Gram matrix's).
    n_pixels : int
        Pixels in the fit.
    basis : str
        What was fitted, in words (:data:`BASIS_TEXT`); ``basis_kind`` is
        ``"circle"`` or ``"orthonormal"``.
    aperture_fill, flags, meaningful
        Share of the unit disk the pixels cover; why the circle coefficients are
        not meaningful (condition number above :data:`COND_FLAG`, fill below
        :data:`FILL_FLAG`), if they are not.
    """

    coefficients_nm: np.ndarray
    indices: list[int]
    orders: list[tuple[int, int]]
    scheme: str
    normalisation: str
    r_norm_mm: float
    centre_mm: tuple[float, float]
    condition_number: float
    n_pixels: int
    source: HeightMap = field(repr=False)
    geometry: ZernikeGeometry = field(repr=False)
    basis: str = "circle polynomials, plain least squares over the valid pixels"
    #: ``"given"`` (the caller named the scheme) or ``"default"`` (Fringe, the toolkit's one
    #: default: integer indices and counts were read in it)
    scheme_from: str = "given"
    #: how the centre was chosen: ``"given"``, the map's clear aperture, or found in the fit's
    #: mask (an edge fit, or the centroid of a region without a circular edge)
    centre_from: str = "given"

    #: ``"circle"`` or ``"orthonormal"`` (what ``basis`` says in words)
    basis_kind: str = "circle"
    #: the circle-polynomial coefficients the fitted surface is evaluated from (for an
    #: orthonormal fit they differ from ``coefficients_nm``)
    _circle_coefficients_nm: np.ndarray | None = field(default=None, repr=False)
    #: mean of the residual over the fit's pixels from the moments (a shift for its RMS)
    _residual_mean_nm: float = field(default=0.0, repr=False)

    @property
    def _surface_coefficients(self) -> np.ndarray:
        c = self._circle_coefficients_nm
        return self.coefficients_nm if c is None else c

    @property
    def aperture_fill(self) -> float:
        """Share of the unit disk (radius R_norm) the fit's pixels cover:
        ``n_pixels dx dy / (pi R_norm^2)`` (1 for a full circular aperture)."""
        g = self.geometry
        return float(self.n_pixels * g.dx_mm * g.dy_mm / (math.pi * self.r_norm_mm ** 2))

    @property
    def flags(self) -> tuple[str, ...]:
        """Why the circle-polynomial coefficients of this fit are not meaningful (empty
        when they are, and always for an orthonormalised fit): a basis condition number
        above :data:`COND_FLAG`, or pixels covering less than :data:`FILL_FLAG` of the unit
        disk."""
        if self.basis_kind != "circle":
            return ()
        out = []
        if not self.condition_number <= COND_FLAG:
            out.append(f"basis condition number {self.condition_number:.3g} > {COND_FLAG:g}: "
                       "the coefficients are ill-determined (they cancel each other)")
        if self.aperture_fill < FILL_FLAG:
            out.append(f"the pixels cover {self.aperture_fill:.0%} of the unit disk "
                       f"(< {FILL_FLAG:.0%}): the terms are not those of this aperture")
        return tuple(out)

    @property
    def meaningful(self) -> bool:
        """True when the coefficients can be read as the terms' amplitudes (no :attr:`flags`)."""
        return not self.flags

    @cached_property
    def fitted(self) -> HeightMap:
        """The fitted surface at the fit's pixels (NaN elsewhere), nm."""
        return self.source.replace(self.geometry.scatter_sum(self._surface_coefficients),
                                   copy=False,
                                   note=f"Zernike fit ({self.scheme}, {len(self.orders)} terms)")

    @cached_property
    def _residual_and_rms(self) -> tuple[HeightMap, float]:
        geo = self.geometry
        out = np.empty(geo.shape)
        mean = self._residual_mean_nm
        _, s1, s2 = geo._apply(self._surface_coefficients, self.source.z_nm, out, mean=mean)
        # Σ (r - m) and Σ (r - m)² about the moments' estimate m of the mean: no cancellation
        n = geo.n_pixels
        rms = math.sqrt(max(s2 / n - (s1 / n) ** 2, 0.0))
        # the residual is finite exactly at the fit's pixels (finite heights minus a
        # polynomial) when its sum of squares is: then the geometry's mask is its valid mask
        hm = self.source.replace(
            out, copy=False,
            note=f"Zernike residual ({self.scheme}, {len(self.orders)} terms removed)",
            _valid=geo.mask if math.isfinite(s2) else None)
        return hm, rms

    @property
    def residual(self) -> HeightMap:
        """Map minus fit at the fit's pixels (NaN elsewhere), nm."""
        return self._residual_and_rms[0]

    @property
    def residual_rms_nm(self) -> float:
        """RMS of the residual about its mean over the fit's pixels, nm."""
        return self._residual_and_rms[1]

    def coefficient(self, j: int) -> float:
        """Coefficient (nm) of index ``j`` of the fit's scheme."""
        try:
            return float(self.coefficients_nm[self.indices.index(int(j))])
        except ValueError:
            raise ConventionError(f"{self.scheme} term {j} is not in this fit") from None

    def coefficient_nm(self, n: int, m: int) -> float:
        """Coefficient (nm) of mode (n, m)."""
        try:
            return float(self.coefficients_nm[self.orders.index((int(n), int(m)))])
        except ValueError:
            raise ConventionError(f"mode (n={n}, m={m}) is not in this fit") from None

    def pair(self, n: int, m: int) -> tuple[float, float]:
        """Magnitude (nm) and axis angle (degrees) of the (n, ±|m|) pair; see :func:`pair`."""
        return pair(self.coefficient_nm(n, abs(m)), self.coefficient_nm(n, -abs(m)), m)

    def coefficients_as(self, normalisation: str) -> np.ndarray:
        """The coefficients (nm) in ``normalisation``: ``c_peak = N c_rms`` (docs/conventions.md).

        The fitted surface is the same; only the scale of each term changes.
        """
        target = _check_norm(normalisation)
        if target == self.normalisation:
            return self.coefficients_nm
        if self.basis_kind != "circle":
            raise ConventionError("orthonormalised coefficients are RMS contributions over the "
                                  "fit's pixels; they have no peak normalisation")
        f = np.array([normalisation_factor(n, m, "rms") for n, m in self.orders])
        return self.coefficients_nm * f if target == "peak" else self.coefficients_nm / f

    # deprecated spellings (docs/conventions.md, Vocabulary)
    nm = alias_property("orders", "nm")
    normalization = alias_property("normalisation", "normalization")
    radius_mm = alias_property("r_norm_mm", "radius_mm")
    center_mm = alias_property("centre_mm", "center_mm")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description with units and conventions."""
        return {
            "scheme": self.scheme,
            "scheme_from": self.scheme_from,
            "normalisation": self.normalisation,
            "r_norm_mm": self.r_norm_mm,
            "centre_mm": list(self.centre_mm),
            "centre_from": self.centre_from,
            "basis": self.basis,
            "basis_kind": self.basis_kind,
            "condition_number": self.condition_number,
            "aperture_fill": self.aperture_fill,
            "flags": list(self.flags),
            "n_pixels": self.n_pixels,
            "residual_rms_nm": self.residual_rms_nm,
            "terms": [
                {"index": j, "n": n, "m": m, "name": zernike_name(n, m), "coefficient_nm": float(c)}
                for j, (n, m), c in zip(self.indices, self.orders, self.coefficients_nm,
                                        strict=True)
            ],
        }

    def table(self) -> str:
        """Plain-text coefficient table."""
        sch = self.scheme + (" (the default)" if self.scheme_from == "default" else "")
        head = (f"Zernike fit: {sch} scheme, {self.normalisation} normalisation, "
                f"R_norm = {self.r_norm_mm:.6g} mm, centre = ({self.centre_mm[0]:.4g}, "
                f"{self.centre_mm[1]:.4g}) mm, {self.n_pixels} px, "
                f"cond = {self.condition_number:.3g}, fill = {self.aperture_fill:.0%}")
        lines = [head, f"basis: {self.basis}"]
        lines += [f"WARNING: coefficients not meaningful: {f}" for f in self.flags]
        if self.flags:
            lines.append("  (fit basis='orthonormal' for coefficients of this aperture)")
        name = "mode from" if self.basis_kind != "circle" else "name"
        lines.append(f"{'j':>4} {'n':>3} {'m':>4}  {'coef [nm]':>12}  {name}")
        for j, (n, m), c in zip(self.indices, self.orders, self.coefficients_nm, strict=True):
            lines.append(f"{j:>4} {n:>3} {m:>4}  {c:>12.5f}  {zernike_name(n, m)}")
        lines.append(f"residual RMS = {self.residual_rms_nm:.5f} nm")
        return "\n".join(lines)

    # -- conversions (implemented in metrology.zernike_transform) ---------------
    def to(self, scheme: str | None = None, normalisation: str | None = None,
           r_norm_mm: float | None = None, *, terms: str = "closure") -> ZernikeFit:
        """This fit in another scheme, normalisation and/or normalisation radius.

        Scheme and normalisation are exact re-indexings and rescalings; a new
        ``r_norm_mm`` (mm, same centre) uses the exact transform of the radial polynomials
        (adding the lower-order modes it needs, ``terms="closure"``), or with
        ``terms="same"`` and a term set that is not closed, a refit on the
        source map. The result (a :class:`~metrology.zernike_transform.ConvertedZernikeFit`)
        says which in ``method`` and ``note``; see
        :func:`metrology.zernike_transform.convert_fit`.
        """
        from .zernike_transform import convert_fit

        return convert_fit(self, scheme, normalisation, r_norm_mm, terms=terms)

    # -- display (metrology.plotting; matplotlib only when called) -----------------
    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Bar chart of the coefficients with the terms' names, scheme, normalisation
        and R_norm in the title; returns the Axes. See
        :func:`metrology.plotting.plot_zernike` (``exclude``, default piston)."""
        from .plotting import plot_zernike

        return plot_zernike(self, ax, **kwargs)


def pair(c_cos: float, c_sin: float, m: int) -> tuple[float, float]:
    """Magnitude and axis angle of a Zernike pair.

    Parameters
    ----------
    c_cos, c_sin : float
        Coefficients of the (n, +|m|) and (n, -|m|) terms (same units).
    m : int
        Azimuthal order (sign ignored, must be non-zero).

    Returns
    -------
    magnitude : float
        sqrt(c_cos² + c_sin²), same unit as the inputs.
    angle_deg : float
        atan2(c_sin, c_cos) / |m| in degrees, counter-clockwise from +x.
    """
    am = abs(int(m))
    if am == 0:
        raise ConventionError("a Zernike pair needs m != 0")
    return float(math.hypot(c_cos, c_sin)), float(math.degrees(math.atan2(c_sin, c_cos) / am))


def _aperture_centre(ap: Any) -> tuple[float, float] | None:
    """The centre recorded in ``meta['aperture']['centre_mm']`` (HeightMap renames the
    pre-vocabulary ``center_mm`` on construction), or ``None``."""
    if not isinstance(ap, dict):
        return None
    c = ap.get("centre_mm")
    return None if c is None else (float(c[0]), float(c[1]))


def _fit_mask(hm: HeightMap, mask: np.ndarray | None) -> np.ndarray:
    """The fit's pixels: a fresh array (the geometry keeps it)."""
    if mask is None:
        valid = hm.valid.copy()
    else:
        mask = np.asarray(mask)
        if mask.shape != hm.shape or mask.dtype != bool:
            raise ApertureError(f"mask must be boolean with shape {hm.shape}")
        valid = hm.valid & mask
    if not valid.any():
        raise ApertureError("the aperture holds no valid pixels: nothing to fit "
                            "(all NaN, or the mask misses the data)")
    return valid


@renamed_kwargs(normalization="normalisation", radius_mm="r_norm_mm", center_mm="centre_mm")
def fit_zernike(hm: HeightMap, terms: int | Sequence[Any] = 37, scheme: str | None = None,
                normalisation: str = "rms", r_norm_mm: float | None = None,
                centre_mm: tuple[float, float] | None = None, *,
                mask: np.ndarray | None = None, allow_outside: bool = False,
                cache: bool = True, basis: str = "circle") -> ZernikeFit:
    """Least-squares Zernike fit over the valid pixels of a map.

    Parameters
    ----------
    hm : HeightMap
        Heights in nm; NaN pixels are ignored.
    terms : int or sequence
        A count (the first K terms of ``scheme``) or explicit indices of
        ``scheme`` (or group names such as ``"tilt"`` or (n, m) tuples).
    scheme : {"fringe", "noll", "ansi"}, optional
        Scheme of a count or of integer indices. Default: Fringe, the one default
        of the toolkit (:func:`remove` reads ``[5]`` the same way); the result
        says which it used (``scheme``, ``scheme_from``).
    normalisation : {"rms", "peak"}
    r_norm_mm : float, optional
        R_norm in mm. Default: half the diameter of the map's clear aperture
        when it has one (``meta['aperture']``, set by
        :meth:`HeightMap.select_aperture`), else the radius of the circle
        circumscribing the valid pixels about the centre.
    centre_mm : (float, float), optional
        Aperture centre (x, y) in mm in the map frame. Default: the map's clear
        aperture centre when it has one, else the centre of the circle found in
        the valid region from its outer edge (:func:`metrology.aperture.find_circle`:
        a robust circle fit that a lost rim segment or dropouts at the edge do
        not move; the centroid of the filled region only when the region has no
        circular edge). The result says which (``centre_from``).
    mask : ndarray of bool, optional
        Restrict the fit to these pixels (and the valid ones).
    allow_outside : bool
        Accept valid pixels with ρ > 1 (else :class:`ApertureError`).
    cache : bool
        Reuse (and store) the geometry for this mask, terms and grid.
    basis : {"circle", "orthonormal"}
        ``"circle"`` (default): the coefficients of the circle polynomials, plain
        least squares over the valid pixels. On an aperture that is not the
        unit disk these are not orthogonal: a fit whose basis condition number
        exceeds :data:`COND_FLAG` (1e3) or whose pixels cover less than
        :data:`FILL_FLAG` (50 %) of the unit disk is *flagged*
        (``ZernikeFit.flags``, shown by ``table()``), and one above
        :data:`COND_REFUSE` (1e6) is refused. ``"orthonormal"``: the circle
        polynomials Gram-Schmidt orthonormalised over the fit's pixels, in the
        order of ``terms`` (each mode has RMS 1 over the pixels): meaningful on
        any aperture (strips, rectangles, sparse data). The fitted surface and
        residual are the same for both; the result says which basis it holds.

    Returns
    -------
    ZernikeFit
        With the basis condition number (``condition_number``), the share of the
        unit disk the pixels cover (``aperture_fill``) and any ``flags``.

    Raises
    ------
    ApertureError
        A circle-polynomial fit with a condition number above :data:`COND_REFUSE`
        (fit ``basis="orthonormal"`` or fewer terms).
    """
    return _fit(hm, terms, scheme, normalisation, r_norm_mm, centre_mm, mask=mask,
                allow_outside=allow_outside, cache=cache, basis=basis, refuse=True)


def _fit(hm: HeightMap, terms: int | Sequence[Any], scheme: str | None,
         normalisation: str, r_norm_mm: float | None, centre_mm: tuple[float, float] | None,
         *, mask: np.ndarray | None, allow_outside: bool, cache: bool, basis: str,
         refuse: bool) -> ZernikeFit:
    """:func:`fit_zernike`; ``refuse=False`` (term removal: only the residual is used, and it
    does not depend on the conditioning of the coefficients) accepts any condition number."""
    basis = str(basis).lower()
    if basis not in BASES:
        raise ConventionError(f"unknown basis {basis!r}; use one of {', '.join(BASES)}")
    scheme_from = "default" if scheme is None else "given"
    scheme = DEFAULT_SCHEME if scheme is None else scheme
    idx, orders = resolve_terms(terms, scheme)
    norm = _check_norm(normalisation)
    fmask = _fit_mask(hm, mask)
    ap = hm.meta.get("aperture")
    ap_centre = _aperture_centre(ap)
    centre_from = "given"
    if ap_centre is not None and "diameter_mm" in ap:
        # the map carries its clear aperture: its centre and nominal radius are the defaults
        if centre_mm is None:
            centre_mm = ap_centre
            centre_from = "the map's clear aperture (meta['aperture'])"
        if r_norm_mm is None:
            r_norm_mm = 0.5 * float(ap["diameter_mm"])
    mkey = None
    if centre_mm is None:
        mkey = mask_key(fmask)
        centre_mm, centre_from = _default_centre(fmask, hm.dx_mm, hm.dy_mm, mkey)
    geo, _ = _geometry(fmask, hm.dx_mm, hm.dy_mm, orders, norm, centre_mm, r_norm_mm,
                       allow_outside, cache, hm.z_nm, mkey=mkey)
    cond = geo.condition_number
    if refuse and basis == "circle" and not cond <= COND_REFUSE:
        raise ApertureError(
            f"the circle polynomials are ill-conditioned on this aperture (basis condition "
            f"number {cond:.3g} > {COND_REFUSE:g}): their coefficients would be meaningless. "
            "Fit basis='orthonormal' (Gram-Schmidt over the pixels) or fewer terms")
    coef, mean, rhs = geo._solve_rhs(hm.z_nm, warn=refuse and basis == "circle")
    circle_coef = coef
    if basis == "orthonormal":
        coef = geo.orthonormal_coefficients(hm.z_nm, rhs)
    return ZernikeFit(
        coefficients_nm=coef,
        indices=idx,
        orders=orders,
        scheme=str(scheme).lower(),
        normalisation=norm,
        r_norm_mm=geo.r_norm_mm,
        centre_mm=geo.centre_mm,
        condition_number=geo.condition_number,
        n_pixels=geo.n_pixels,
        source=hm,
        geometry=geo,
        scheme_from=scheme_from,
        centre_from=centre_from,
        basis=BASIS_TEXT[basis],
        basis_kind=basis,
        _circle_coefficients_nm=circle_coef if basis != "circle" else None,
        _residual_mean_nm=mean,
    )


@renamed_kwargs(center_mm="centre_mm", radius_mm="r_norm_mm")
def remove(hm: HeightMap, terms: Sequence[Any] | str = ("piston", "tilt"), *,
           centre_mm: tuple[float, float] | None = None, r_norm_mm: float | None = None,
           mask: np.ndarray | None = None, scheme: str | None = None) -> HeightMap:
    """Remove Zernike terms by one joint least-squares fit over the valid pixels.

    Parameters
    ----------
    hm : HeightMap
    terms : sequence
        Group names (``"piston"``, ``"tilt"``, ``"power"``, ``"astigmatism"``,
        ``"coma"``, ``"spherical"``, ``"trefoil"``...), (n, m) tuples or indices
        of ``scheme``.
    centre_mm, r_norm_mm, mask
        As in :func:`fit_zernike`; the default R_norm circumscribes the valid
        pixels, so every valid pixel takes part.
    scheme : {"fringe", "noll", "ansi"}, optional
        Scheme of integer indices in ``terms`` (names and tuples need none).
        Default: Fringe, the one default of the toolkit (:func:`fit_zernike`
        reads ``[5]`` the same way). Integer indices given without ``scheme``
        raise a :class:`UserWarning` saying so (before this version this
        function read them as Noll).

    Returns
    -------
    HeightMap
        ``hm`` minus the fitted terms on the fitted pixels; pixels outside
        ``mask`` become NaN. ``meta['removed']`` lists what was removed (term
        names) and ``meta['removed_terms']`` each mode with its scheme, index
        and (n, m), so the result states which terms an index meant.
    """
    given = scheme is not None
    sch = DEFAULT_SCHEME if scheme is None else str(scheme).lower()
    if not given and has_indices(terms):
        warnings.warn(f"remove(): term indices {list(terms)!r} are read in the {sch} scheme "
                      "(the one default of fit_zernike, remove and the spec files); pass "
                      "scheme= to say which", UserWarning, stacklevel=3)
    fit = _fit(hm, terms, sch, "rms", r_norm_mm, centre_mm, mask=mask,
               allow_outside=r_norm_mm is not None, cache=True, basis="circle", refuse=False)
    names = [zernike_name(n, m) for n, m in fit.orders]
    meta = dict(hm.meta)
    meta["removed"] = [*meta.get("removed", []), *names]
    meta["removed_terms"] = [*meta.get("removed_terms", []), *(
        {"scheme": fit.scheme, "index": int(j), "n": int(n), "m": int(m),
         "name": zernike_name(n, m), "scheme_from": "given" if given else "default"}
        for j, (n, m) in zip(fit.indices, fit.orders, strict=True))]
    zs = ", ".join(f"Z{j}" for j in fit.indices)
    return fit.residual.replace(
        meta=meta, note=f"joint least-squares fit removed ({fit.scheme} {zs}: "
                        f"{', '.join(names)})")  # shares the residual's array


@renamed_kwargs(normalization="normalisation", radius_mm="r_norm_mm", center_mm="centre_mm")
def zernike_surface(coefficients_nm: Sequence[float] | np.ndarray,
                    like: HeightMap | None = None, *,
                    shape: tuple[int, int] | None = None, dx_mm: float | None = None,
                    dy_mm: float | None = None, scheme: str = "fringe",
                    normalisation: str = "rms", r_norm_mm: float | None = None,
                    centre_mm: tuple[float, float] = (0.0, 0.0),
                    indices: Sequence[int] | None = None,
                    outside: str = "nan") -> HeightMap:
    """Synthesise a height map from Zernike coefficients.

    Parameters
    ----------
    coefficients_nm : sequence of float
        Coefficients in nm: for indices ``first, first+1, ...`` of ``scheme``
        (ANSI from 0, Fringe and Noll from 1), or for ``indices``.
    like : HeightMap, optional
        Take the grid (shape, dx, dy, meta) from this map.
    shape, dx_mm, dy_mm
        The grid when ``like`` is not given (``dy_mm`` defaults to ``dx_mm``).
    scheme, normalisation
        As in :func:`fit_zernike`.
    r_norm_mm : float, optional
        R_norm (mm). Default: half the smaller extent between edge pixel
        centres, i.e. the largest circle about the array centre that touches
        the edge pixels.
    centre_mm : (float, float)
        Centre of the polynomials (x, y) in mm.
    outside : {"nan", "evaluate"}
        Pixels with ρ > 1 become NaN (default) or are evaluated anyway.

    Returns
    -------
    HeightMap
    """
    if like is not None:
        shape, dx, dy = like.shape, like.dx_mm, like.dy_mm
    else:
        if shape is None or dx_mm is None:
            raise ValueError("give like=HeightMap, or shape= and dx_mm=")
        dx = float(dx_mm)
        dy = float(dx_mm if dy_mm is None else dy_mm)
    coef = np.asarray(coefficients_nm, dtype=np.float64).ravel()
    if indices is None:
        start = first_index(scheme)
        idx = list(range(start, start + coef.size))
    else:
        idx = [int(j) for j in indices]
        if len(idx) != coef.size:
            raise ValueError(f"{coef.size} coefficients for {len(idx)} indices")
    orders = [zernike_order(scheme, j) for j in idx]
    norm = _check_norm(normalisation)
    ny, nx = shape  # type: ignore[misc]
    if r_norm_mm is None:
        r_norm_mm = 0.5 * min((nx - 1) * dx, (ny - 1) * dy)
    if outside not in ("nan", "evaluate"):
        raise ValueError("outside must be 'nan' or 'evaluate'")
    x = (np.arange(nx) - (nx - 1) / 2.0) * dx - centre_mm[0]
    y = (np.arange(ny) - (ny - 1) / 2.0) * dy - centre_mm[1]
    r2 = x[None, :] ** 2 + y[:, None] ** 2
    mask = np.ones((ny, nx), bool) if outside == "evaluate" else r2 <= r_norm_mm**2 * (1 + 1e-12)
    geo = ZernikeGeometry(mask, dx, dy, orders, norm, centre_mm, r_norm_mm,
                          allow_outside=True, factorize=False, _copy_mask=False)
    meta = dict(like.meta) if like is not None else {}
    meta["synthetic"] = {"kind": "zernike", "scheme": str(scheme).lower(),
                         "normalisation": norm, "r_norm_mm": float(r_norm_mm),
                         "centre_mm": [float(centre_mm[0]), float(centre_mm[1])]}
    return HeightMap._adopt(geo.scatter_sum(coef), dx, dy, meta)
