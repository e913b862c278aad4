"""Zernike fitting, synthesis and term removal on height maps.

Conventions (CONVENTIONS.md): ``Z = N R_n^|m|(ρ) cos(mθ)`` (m >= 0) or
``sin(|m|θ)`` (m < 0), θ counter-clockwise from +x, ρ = r / R_norm, r measured
from the aperture centre in the map frame (mm). ``normalization="rms"``: each
coefficient is that term's RMS over the unit disk (orthonormal);
``"peak"``: the coefficient is the edge amplitude. Fits on non-circular
apertures are plain least squares of the circle polynomials (the result says
so in ``basis``).

Speed: the basis is evaluated by the Numba kernels of :mod:`kernels.zernike`
in one parallel pass; the normal equations ``G c = Bᵀ z`` are accumulated with
BLAS (``B Bᵀ``) in pixel chunks of bounded memory and solved by Cholesky. The
*geometry* (pixel coordinates, basis, Gram matrix and its factorisation) only
depends on the mask, the grid, the terms, the normalisation, the centre and
R_norm, so it is cached: fitting many maps with the same mask builds it once.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import scipy.linalg

from kernels import zernike as _kz
from kernels._config import num_threads

from .aperture import mask_key
from .errors import ApertureError, ConventionError, InsufficientDataError
from .heightmap import HeightMap
from .zernike_schemes import (
    NORMALIZATIONS,
    first_index,
    normalization_factor,
    resolve_terms,
    zernike_name,
    zernike_nm,
)

__all__ = [
    "ZernikeFit",
    "ZernikeGeometry",
    "fit_zernike",
    "zernike_surface",
    "remove",
    "pair",
    "clear_geometry_cache",
]

#: keep the full basis in memory for cached geometries up to this size (bytes)
BASIS_BUDGET_BYTES = 1 * 2**30
#: and all cached geometries together keep at most this much basis (older ones drop theirs)
CACHE_BASIS_BUDGET_BYTES = 2 * 2**30
#: above this basis condition number the normal equations are not trusted
_COND_NORMAL_EQ = 1e6


def _check_norm(normalization: str) -> str:
    n = str(normalization).lower()
    if n not in NORMALIZATIONS:
        raise ConventionError(
            f"unknown normalization {normalization!r}; use one of {', '.join(NORMALIZATIONS)}")
    return n


def _default_center(mask: np.ndarray, dx: float, dy: float) -> tuple[float, float]:
    from .aperture import fit_circle_mask

    return fit_circle_mask(mask, dx, dy)[0]  # cached per mask


class ZernikeGeometry:
    """Everything about a Zernike fit that does not depend on the heights.

    Parameters
    ----------
    mask : ndarray of bool, shape (nrows, ncols)
        Pixels that take part in the fit.
    dx_mm, dy_mm : float
        Pixel spacing (mm).
    nm : sequence of (n, m)
        The modes, in output order.
    normalization : {"rms", "peak"}
    center_mm : (float, float)
        Aperture centre (x, y) in the map frame, mm.
    radius_mm : float
        R_norm, mm.
    allow_outside : bool
        Accept valid pixels with ρ > 1 (the polynomials are then evaluated
        outside the unit disk, where they are not orthogonal).

    z_first : ndarray (P,), optional
        Values of the first fit: ``Bᵀ z`` is accumulated in the same pass as
        the Gram matrix.

    Notes
    -----
    The Gram matrix ``B Bᵀ`` is accumulated block by block in cache by one
    fused kernel (:func:`kernels.zernike.zernike_normal_equations`); the basis
    itself is not stored for a first fit. When the geometry is reused (a
    second projection) and ``K x P`` doubles fit in
    :data:`BASIS_BUDGET_BYTES`, the basis is materialised once so that later
    fits are one matrix-vector product; otherwise every fit recomputes it in
    the projection kernel (no memory traffic, compute-bound).
    """

    def __init__(self, mask: np.ndarray, dx_mm: float, dy_mm: float,
                 nm: Sequence[tuple[int, int]], normalization: str,
                 center_mm: tuple[float, float], radius_mm: float,
                 allow_outside: bool = False, keep_basis: bool = True,
                 factorize: bool = True, z_first: np.ndarray | None = None) -> None:
        mask = np.asarray(mask, dtype=bool)
        self.shape = mask.shape
        self.dx_mm, self.dy_mm = float(dx_mm), float(dy_mm)
        self.nm = [tuple(map(int, t)) for t in nm]
        self.normalization = _check_norm(normalization)
        self.center_mm = (float(center_mm[0]), float(center_mm[1]))
        self.radius_mm = float(radius_mm)
        if not math.isfinite(self.radius_mm) or self.radius_mm <= 0:
            raise ApertureError(f"R_norm must be a positive radius in mm, got {radius_mm!r}")
        ny, nx = self.shape
        inv_r = 1.0 / self.radius_mm
        self.index, self.x, self.y, rho2_max = _kz.masked_coordinates(
            np.ascontiguousarray(mask),
            (-(nx - 1) / 2.0 * self.dx_mm - self.center_mm[0]) * inv_r, self.dx_mm * inv_r,
            (-(ny - 1) / 2.0 * self.dy_mm - self.center_mm[1]) * inv_r, self.dy_mm * inv_r)
        p = self.index.size
        if p == 0:
            raise ApertureError("the aperture holds no valid pixels: nothing to fit")
        rho_max = float(np.sqrt(rho2_max))
        self.rho_max = rho_max
        # a pixel centre may sit up to half a pixel outside a circle drawn about a centre
        # that was estimated slightly differently: tolerated, not extrapolated further
        tol = 0.5 * max(self.dx_mm, self.dy_mm) / self.radius_mm
        if rho_max > 1.0 + tol + 1e-9 and not allow_outside:
            raise ApertureError(
                f"valid pixels reach ρ = {rho_max:.4f} > 1 with R_norm = {self.radius_mm:g} mm: "
                "pass a larger radius_mm, restrict the map to the aperture "
                "(HeightMap.select_aperture), or allow_outside=True")
        n_arr = np.array([t[0] for t in self.nm], dtype=np.int64)
        m_arr = np.array([t[1] for t in self.nm], dtype=np.int64)
        self._tab, self._jac, self._kmax = _kz.mode_table(n_arr, m_arr)
        self._scale = np.array([normalization_factor(n, m, self.normalization)
                                for n, m in self.nm])
        self.basis: np.ndarray | None = None
        self._keep_basis = keep_basis
        self._n_projections = 0
        self._first: tuple[np.ndarray, np.ndarray] | None = None
        self.gram = np.zeros((0, 0))
        self.condition_number = math.nan
        self._cho = None
        if factorize:
            self._factorize(z_first)

    def _factorize(self, z_first: np.ndarray | None) -> None:
        """Gram matrix (and ``Bᵀ z_first``) in one fused pass; Cholesky factor if sound."""
        if self.n_pixels < self.n_terms:
            raise InsufficientDataError(
                f"{self.n_pixels} valid pixels cannot determine {self.n_terms} Zernike terms; "
                "fit fewer terms or use a larger aperture")
        z = np.zeros(self.n_pixels) if z_first is None else z_first
        gram, rhs = _kz.zernike_normal_equations(self.x, self.y, z, self._tab, self._jac,
                                                 self._kmax, self._scale, num_threads())
        if z_first is not None:
            self._first = (z_first, rhs)
        self.gram = gram
        w = np.linalg.eigvalsh(gram)
        self.condition_number = float(math.sqrt(w[-1] / w[0])) if w[0] > 0 else math.inf
        if self.condition_number < _COND_NORMAL_EQ:
            self._cho = scipy.linalg.cho_factor(gram, lower=False, check_finite=False)

    def _materialize(self) -> np.ndarray:
        b = np.empty((self.n_terms, self.n_pixels))
        _kz.zernike_basis(self.x, self.y, self._tab, self._jac, self._kmax, self._scale, b)
        return b

    @property
    def n_pixels(self) -> int:
        """Number of pixels in the fit."""
        return int(self.index.size)

    @property
    def n_terms(self) -> int:
        return len(self.nm)

    def project(self, z: np.ndarray) -> np.ndarray:
        """``Bᵀ z`` for values ``z`` (P,) at the geometry's pixels."""
        if self._first is not None and self._first[0] is z:
            return self._first[1]  # computed with the Gram matrix
        self._n_projections += 1
        if (self.basis is None and self._keep_basis and self._n_projections >= 2
                and self.n_terms * self.n_pixels * 8 <= BASIS_BUDGET_BYTES):
            # the geometry is being reused: keep the basis, later projections are one gemv
            _CACHE.make_room(self.n_terms * self.n_pixels * 8, keep=self)
            self.basis = self._materialize()
        if self.basis is not None:
            return self.basis @ z
        return _kz.zernike_project(self.x, self.y, z, self._tab, self._jac, self._kmax,
                                   self._scale, num_threads())

    def evaluate(self, coef: np.ndarray) -> np.ndarray:
        """``Σ c_i Z_i`` at the geometry's pixels, shape (P,)."""
        coef = np.ascontiguousarray(coef, dtype=np.float64)
        if self.basis is not None:
            return coef @ self.basis
        out = np.empty(self.n_pixels)
        _kz.zernike_sum(self.x, self.y, self._tab, self._jac, self._kmax, self._scale, coef, out)
        return out

    def solve(self, z: np.ndarray) -> np.ndarray:
        """Least-squares coefficients for values ``z`` (P,), same units as z."""
        if self._cho is not None:
            return scipy.linalg.cho_solve(self._cho, self.project(z), check_finite=False)
        warnings.warn(
            f"the Zernike basis is ill-conditioned on this aperture (condition number "
            f"{self.condition_number:.3g}); solving by SVD least squares. Consider fewer terms.",
            stacklevel=3)
        b = self.basis if self.basis is not None else self._materialize()
        return np.linalg.lstsq(b.T, z, rcond=None)[0]

    def scatter_sum(self, coef: np.ndarray, subtract_from: np.ndarray | None = None
                    ) -> np.ndarray:
        """A NaN map holding ``Σ c_i Z_i`` (or ``subtract_from - Σ``) at the pixels."""
        coef = np.ascontiguousarray(coef, dtype=np.float64)
        out = np.full(self.shape[0] * self.shape[1], np.nan)
        if self.basis is not None:
            vals = coef @ self.basis
            if subtract_from is not None:
                vals = self.gather(subtract_from) - vals
            out[self.index] = vals
        else:
            base = out if subtract_from is None else np.ascontiguousarray(
                subtract_from, dtype=np.float64).ravel()
            _kz.zernike_sum_scatter(self.x, self.y, self.index, self._tab, self._jac,
                                    self._kmax, self._scale, coef, base,
                                    subtract_from is not None, out)
        return out.reshape(self.shape)

    def gather(self, z_nm: np.ndarray) -> np.ndarray:
        """Values of a map at the geometry's pixels (P,)."""
        return np.ascontiguousarray(z_nm.ravel()[self.index])


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

    def make_room(self, nbytes: int, keep: ZernikeGeometry) -> None:
        """Drop the stored bases of the least recently used geometries (not ``keep``)
        until ``nbytes`` more fit in :data:`CACHE_BASIS_BUDGET_BYTES`."""
        with self._lock:
            held = [g for g in self._geo.values() if g.basis is not None and g is not keep]
            total = sum(g.basis.nbytes for g in held)
            for g in held:  # oldest first
                if total + nbytes <= CACHE_BASIS_BUDGET_BYTES:
                    break
                total -= g.basis.nbytes
                g.basis = None


_CACHE = _GeometryCache()


def clear_geometry_cache() -> None:
    """Forget every cached Zernike geometry and aperture circle (e.g. to time a fresh fit)."""
    from .aperture import clear_circle_cache

    _CACHE.clear()
    clear_circle_cache()


def _geometry(mask: np.ndarray, dx: float, dy: float, nm: list[tuple[int, int]],
              normalization: str, center_mm: tuple[float, float] | None,
              radius_mm: float | None, allow_outside: bool, cache: bool,
              z_nm: np.ndarray | None = None) -> tuple[ZernikeGeometry, np.ndarray | None]:
    """The (cached) geometry; for a new one built from ``z_nm``, also the gathered values."""
    mkey = mask_key(mask)
    if center_mm is None:
        if not mask.any():
            raise ApertureError("the aperture holds no valid pixels: nothing to fit")
        center = _default_center(mask, dx, dy)
    else:
        center = (float(center_mm[0]), float(center_mm[1]))
    key = (mkey, dx, dy, tuple(nm), normalization, center, radius_mm, allow_outside)
    if cache:
        g = _CACHE.get(key)
        if g is not None:
            return g, None
    if radius_mm is None:
        if not mask.any():
            raise ApertureError("the aperture holds no valid pixels: nothing to fit")
        rows, cols = np.nonzero(mask)
        ny, nx = mask.shape
        xs = (cols - (nx - 1) / 2.0) * dx - center[0]
        ys = (rows - (ny - 1) / 2.0) * dy - center[1]
        r = float(np.sqrt(np.max(xs * xs + ys * ys)))
        if r == 0.0:  # a single pixel
            r = 0.5 * min(dx, dy)
    else:
        r = float(radius_mm)
    g = ZernikeGeometry(mask, dx, dy, nm, normalization, center, r, allow_outside,
                        factorize=False)
    z = None
    if z_nm is not None:
        z = g.gather(z_nm)
        g._factorize(z)
    else:
        g._factorize(None)
    if cache:
        _CACHE.put(key, g)
    return g, z


@dataclass(frozen=True, eq=False)
class ZernikeFit:
    """Result of :func:`fit_zernike`.

    Attributes
    ----------
    coefficients_nm : ndarray (K,)
        Coefficients in nm, in the order of ``indices``.
    indices : list of int
        Indices in ``scheme``.
    nm : list of (n, m)
    scheme : str
        "fringe", "noll" or "ansi".
    normalization : str
        "rms" (coefficient = RMS of the term over the unit disk) or "peak".
    radius_mm : float
        R_norm used, mm.
    center_mm : (float, float)
        Aperture centre used (x, y) in the map frame, mm.
    condition_number : float
        2-norm condition number of the sampled basis (sqrt of the Gram matrix's).
    n_pixels : int
        Pixels in the fit.
    basis : str
        What was fitted: plain least squares of the circle polynomials.
    """

    coefficients_nm: np.ndarray
    indices: list[int]
    nm: list[tuple[int, int]]
    scheme: str
    normalization: str
    radius_mm: float
    center_mm: tuple[float, float]
    condition_number: float
    n_pixels: int
    source: HeightMap = field(repr=False)
    geometry: ZernikeGeometry = field(repr=False)
    basis: str = "circle polynomials, plain least squares over the valid pixels"

    @cached_property
    def _fitted_values(self) -> np.ndarray:
        return self.geometry.evaluate(self.coefficients_nm)

    @cached_property
    def fitted(self) -> HeightMap:
        """The fitted surface at the fit's pixels (NaN elsewhere), nm."""
        return self.source.replace(self.geometry.scatter_sum(self.coefficients_nm), copy=False,
                                   note=f"Zernike fit ({self.scheme}, {len(self.nm)} terms)")

    @cached_property
    def residual(self) -> HeightMap:
        """Map minus fit at the fit's pixels (NaN elsewhere), nm."""
        return self.source.replace(
            self.geometry.scatter_sum(self.coefficients_nm, subtract_from=self.source.z_nm),
            copy=False,
            note=f"Zernike residual ({self.scheme}, {len(self.nm)} terms removed)")

    @cached_property
    def residual_rms_nm(self) -> float:
        """RMS of the residual about its mean over the fit's pixels, nm."""
        r = self.geometry.gather(self.source.z_nm) - self._fitted_values
        return float(np.sqrt(np.mean((r - r.mean()) ** 2)))

    def coefficient(self, j: int) -> float:
        """Coefficient (nm) of index ``j`` of the fit's scheme."""
        try:
            return float(self.coefficients_nm[self.indices.index(int(j))])
        except ValueError:
            raise ConventionError(f"{self.scheme} term {j} is not in this fit") from None

    def coefficient_nm(self, n: int, m: int) -> float:
        """Coefficient (nm) of mode (n, m)."""
        try:
            return float(self.coefficients_nm[self.nm.index((int(n), int(m)))])
        except ValueError:
            raise ConventionError(f"mode (n={n}, m={m}) is not in this fit") from None

    def pair(self, n: int, m: int) -> tuple[float, float]:
        """Magnitude (nm) and axis angle (degrees) of the (n, ±|m|) pair; see :func:`pair`."""
        return pair(self.coefficient_nm(n, abs(m)), self.coefficient_nm(n, -abs(m)), m)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description with units and conventions."""
        return {
            "scheme": self.scheme,
            "normalization": self.normalization,
            "radius_mm": self.radius_mm,
            "center_mm": list(self.center_mm),
            "basis": self.basis,
            "condition_number": self.condition_number,
            "n_pixels": self.n_pixels,
            "residual_rms_nm": self.residual_rms_nm,
            "terms": [
                {"index": j, "n": n, "m": m, "name": zernike_name(n, m), "coefficient_nm": float(c)}
                for j, (n, m), c in zip(self.indices, self.nm, self.coefficients_nm, strict=True)
            ],
        }

    def table(self) -> str:
        """Plain-text coefficient table."""
        head = (f"Zernike fit: {self.scheme} scheme, {self.normalization} normalisation, "
                f"R_norm = {self.radius_mm:.6g} mm, centre = ({self.center_mm[0]:.4g}, "
                f"{self.center_mm[1]:.4g}) mm, {self.n_pixels} px, "
                f"cond = {self.condition_number:.3g}")
        lines = [head, f"{'j':>4} {'n':>3} {'m':>4}  {'coef [nm]':>12}  name"]
        for j, (n, m), c in zip(self.indices, self.nm, self.coefficients_nm, strict=True):
            lines.append(f"{j:>4} {n:>3} {m:>4}  {c:>12.5f}  {zernike_name(n, m)}")
        lines.append(f"residual RMS = {self.residual_rms_nm:.5f} nm")
        return "\n".join(lines)

    # -- conversions (implemented in metrology.zernike_transform) ---------------
    def to(self, scheme: str | None = None, normalization: str | None = None,
           radius_mm: float | None = None, *, terms: str = "closure") -> ZernikeFit:
        """This fit in another scheme, normalisation and/or normalisation radius.

        Scheme and normalisation are exact re-indexings and rescalings; a new
        ``radius_mm`` uses the exact transform of the radial polynomials
        (adding the lower-order modes it needs, ``terms="closure"``), or with
        ``terms="same"`` and a term set that is not closed, a refit on the
        source map. The result (a :class:`~metrology.zernike_transform.ConvertedZernikeFit`)
        says which in ``method`` and ``note``; see
        :func:`metrology.zernike_transform.convert_fit`.
        """
        from .zernike_transform import convert_fit

        return convert_fit(self, scheme, normalization, radius_mm, terms=terms)


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


def _fit_mask(hm: HeightMap, mask: np.ndarray | None) -> np.ndarray:
    valid = hm.valid
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != hm.shape or mask.dtype != bool:
            raise ApertureError(f"mask must be boolean with shape {hm.shape}")
        valid = valid & mask
    if not valid.any():
        raise ApertureError("the aperture holds no valid pixels: nothing to fit "
                            "(all NaN, or the mask misses the data)")
    return valid


def fit_zernike(hm: HeightMap, terms: int | Sequence[Any] = 37, scheme: str = "fringe",
                normalization: str = "rms", radius_mm: float | None = None,
                center_mm: tuple[float, float] | None = None, *,
                mask: np.ndarray | None = None, allow_outside: bool = False,
                cache: bool = True) -> ZernikeFit:
    """Least-squares Zernike fit over the valid pixels of a map.

    Parameters
    ----------
    hm : HeightMap
        Heights in nm; NaN pixels are ignored.
    terms : int or sequence
        A count (the first K terms of ``scheme``) or explicit indices of
        ``scheme`` (or group names such as ``"tilt"`` or (n, m) tuples).
    scheme : {"fringe", "noll", "ansi"}
    normalization : {"rms", "peak"}
    radius_mm : float, optional
        R_norm in mm. Default: half the diameter of the map's clear aperture
        when it has one (``meta['aperture']``, set by
        :meth:`HeightMap.select_aperture`), else the radius of the circle
        circumscribing the valid pixels about the centre.
    center_mm : (float, float), optional
        Aperture centre (x, y) in mm in the map frame. Default: the map's clear
        aperture centre when it has one, else the centre of the best-fit circle
        of the valid region (:func:`metrology.aperture.fit_circle`).
    mask : ndarray of bool, optional
        Restrict the fit to these pixels (and the valid ones).
    allow_outside : bool
        Accept valid pixels with ρ > 1 (else :class:`ApertureError`).
    cache : bool
        Reuse (and store) the geometry for this mask, terms and grid.

    Returns
    -------
    ZernikeFit
    """
    idx, nm = resolve_terms(terms, scheme)
    norm = _check_norm(normalization)
    fmask = _fit_mask(hm, mask)
    ap = hm.meta.get("aperture")
    if isinstance(ap, dict) and "center_mm" in ap and "diameter_mm" in ap:
        # the map carries its clear aperture: its centre and nominal radius are the defaults
        if center_mm is None:
            center_mm = (float(ap["center_mm"][0]), float(ap["center_mm"][1]))
        if radius_mm is None:
            radius_mm = 0.5 * float(ap["diameter_mm"])
    geo, z = _geometry(fmask, hm.dx_mm, hm.dy_mm, nm, norm, center_mm, radius_mm,
                       allow_outside, cache, hm.z_nm)
    coef = geo.solve(geo.gather(hm.z_nm) if z is None else z)
    return ZernikeFit(
        coefficients_nm=coef,
        indices=idx,
        nm=nm,
        scheme=str(scheme).lower(),
        normalization=norm,
        radius_mm=geo.radius_mm,
        center_mm=geo.center_mm,
        condition_number=geo.condition_number,
        n_pixels=geo.n_pixels,
        source=hm,
        geometry=geo,
    )


def remove(hm: HeightMap, terms: Sequence[Any] | str = ("piston", "tilt"), *,
           center_mm: tuple[float, float] | None = None, radius_mm: float | None = None,
           mask: np.ndarray | None = None, scheme: str = "noll") -> HeightMap:
    """Remove Zernike terms by one joint least-squares fit over the valid pixels.

    Parameters
    ----------
    hm : HeightMap
    terms : sequence
        Group names (``"piston"``, ``"tilt"``, ``"power"``, ``"astigmatism"``,
        ``"coma"``, ``"spherical"``, ``"trefoil"``...), (n, m) tuples or indices
        of ``scheme``.
    center_mm, radius_mm, mask
        As in :func:`fit_zernike`; the default R_norm circumscribes the valid
        pixels, so every valid pixel takes part.
    scheme : str
        Scheme of integer indices in ``terms`` (names and tuples need none).

    Returns
    -------
    HeightMap
        ``hm`` minus the fitted terms on the fitted pixels; pixels outside
        ``mask`` become NaN. ``meta['removed']`` lists what was removed.
    """
    fit = fit_zernike(hm, terms, scheme=scheme, normalization="rms", radius_mm=radius_mm,
                      center_mm=center_mm, mask=mask,
                      allow_outside=radius_mm is not None)
    names = [zernike_name(n, m) for n, m in fit.nm]
    meta = dict(hm.meta)
    meta["removed"] = [*meta.get("removed", []), *names]
    return fit.residual.replace(meta=meta)  # shares the residual's array


def zernike_surface(coefficients_nm: Sequence[float] | np.ndarray,
                    like: HeightMap | None = None, *,
                    shape: tuple[int, int] | None = None, dx_mm: float | None = None,
                    dy_mm: float | None = None, scheme: str = "fringe",
                    normalization: str = "rms", radius_mm: float | None = None,
                    center_mm: tuple[float, float] = (0.0, 0.0),
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
    scheme, normalization
        As in :func:`fit_zernike`.
    radius_mm : float, optional
        R_norm (mm). Default: half the smaller extent between edge pixel
        centres, i.e. the largest circle about the array centre that touches
        the edge pixels.
    center_mm : (float, float)
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
    nm = [zernike_nm(scheme, j) for j in idx]
    norm = _check_norm(normalization)
    ny, nx = shape  # type: ignore[misc]
    if radius_mm is None:
        radius_mm = 0.5 * min((nx - 1) * dx, (ny - 1) * dy)
    if outside not in ("nan", "evaluate"):
        raise ValueError("outside must be 'nan' or 'evaluate'")
    x = (np.arange(nx) - (nx - 1) / 2.0) * dx - center_mm[0]
    y = (np.arange(ny) - (ny - 1) / 2.0) * dy - center_mm[1]
    r2 = x[None, :] ** 2 + y[:, None] ** 2
    mask = np.ones((ny, nx), bool) if outside == "evaluate" else r2 <= radius_mm**2 * (1 + 1e-12)
    geo = ZernikeGeometry(mask, dx, dy, nm, norm, center_mm, radius_mm,
                          allow_outside=True, factorize=False)
    meta = dict(like.meta) if like is not None else {}
    meta["synthetic"] = {"kind": "zernike", "scheme": str(scheme).lower(),
                         "normalization": norm, "radius_mm": float(radius_mm),
                         "center_mm": [float(center_mm[0]), float(center_mm[1])]}
    return HeightMap._adopt(geo.scatter_sum(coef), dx, dy, meta)
