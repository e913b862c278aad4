"""Uncertainty of band RMS, slope RMS and Zernike terms; noise-corrected band RMS.

Every estimate carries its value, the noise floor when one is known and the
expanded uncertainty U with coverage factor k = 2 (about 95 %). Two models,
chosen by what is given (formulas and measured coverage: ``docs/uncertainty.md``):

Repeats (a sequence of N >= 2 maps of one surface on one grid)
    The measurand is the band RMS of *this* surface (as seen through the
    window and the common mask of the repeats). The value is the band RMS of
    the average, noise-corrected: ``σ² = V(ā) - V_n / N`` floored at 0, with
    V_n the band variance of the noise of one measurement estimated from the
    repeats (:mod:`metrology.repeats`). Its error is the surface-noise cross
    term, the fluctuation of the noise power of the average and the error of
    the noise estimate. With Ŝ the noise PSD of the average (3 x 3 smoothed),
    X = ω·1_B·Ŝ over the band's cells, ``NN = Σ_k Σ_l X_k X_l |ρ_{k-l}|²``
    (ρ = DFT(W²) / Σ W², the correlation of neighbouring periodogram cells)
    and T1 the variance of the cross term computed from the average's own
    spectrum (an exact linear functional of the noise, evaluated with FFTs),
    ``u²(V) = max(T1 - 4 NN, 0) + 2 NN · N / (N - 1)`` (the -4 NN removes the
    noise's own contribution to T1). U(V) = 2 u(V).
Single map
    The surface is treated as a realisation of a stationary Gaussian random
    field; the measurand is the band RMS of that field (its PSD summed over
    the band, as seen through the window and mask). The periodogram cells are
    exponential (chi-square with 2 degrees of freedom per independent cell),
    correlated over the window's kernel |ρ|²: ``Var V = 2 Σ_k Σ_l X_k X_l
    |ρ_{k-l}|²`` with X the smoothed periodogram over the band; V is taken
    as chi-square with ν = E[V]² / (Σ X X |ρ|²) degrees of freedom (2 per
    independent cell: ν = 2 K_eff). U is the half-width u·σ̂ of the symmetric
    interval σ̂ (1 ± u) that holds the true σ with probability 95.45 % under
    that chi-square (``interval`` is the equal-tailed one). With a noise PSD
    from repeats (``noise=``) the noise band variance is subtracted and its
    estimate's variance (N - 1 degrees of freedom per cell) is added in
    quadrature.

Where a variance interval [V - U_lo, V + U_hi] is propagated to the RMS
σ = sqrt(V) (repeats; single map with a noise PSD), U is the larger
half-width of its image under the square root, so it stays finite when V is
near 0. ω is 1 for heights and (2π f)² for slopes (µrad; 1 nm/mm = 1 µrad).
The 3 x 3 smoothed spectra in the pair sums are bias-corrected (products of
two smoothed estimates are correlated through the smoothing): see
:meth:`metrology._spectra.Grid.kernel_hat`.

Zernike terms: from repeats, the standard error of the mean of the N fits on
the common mask (Type A, N - 1 degrees of freedom); for a single map with a
noise PSD, the noise propagated through the least-squares fit
(``Var c_j = Σ_k |DFT(β_j)|² S_n(f_k) / (N Δx Δy)``, β_j the rows of
G⁻¹ Bᵀ); for a single map without either, unknown (NaN, said in ``model``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kernels import fft as _kfft

from . import _spectra
from .errors import ConventionError
from .heightmap import HeightMap
from .repeats import NoisePSD, _noise_from, average, check_repeats, noise_from_grid
from .spectral import band_rms, psd
from .zernike import ZernikeFit, fit_zernike, zernike_surface

__all__ = [
    "K_COVERAGE",
    "BandEstimate",
    "BandAnalysis",
    "band_estimates",
    "band_estimate",
    "ZernikeEstimate",
    "zernike_estimates",
    "rms_interval",
    "MODEL_LINEAR_SINGLE",
    "residual_psd",
    "linear_u",
    "FitNoiseModel",
]

#: coverage factor of every expanded uncertainty U
K_COVERAGE = 2.0
#: two-sided probabilities of the k = 2 normal interval (95.45 %)
_P_LO = 0.5 * math.erfc(K_COVERAGE / math.sqrt(2.0))
_P_HI = 1.0 - _P_LO

_UNITS = {"height": "nm", "slope": "urad", "slope-x": "urad", "slope-y": "urad"}

MODEL_REPEATS = ("repeats: band RMS of the average, noise-corrected (V(avg) - V_noise/N, "
                 "floored at 0); U from the surface-noise cross term, the noise power of the "
                 "average and the noise estimate's N-1 degrees of freedom per cell; k = 2")
MODEL_SINGLE = ("single map: periodogram of a Gaussian random surface, chi-square with 2 "
                "degrees of freedom per independent cell, cells correlated over the window "
                "kernel |DFT(W^2)|^2 / (sum W^2)^2; U = larger half-width of the 95.45 % "
                "interval; k = 2")


def rms_interval(v: float, u_lo: float, u_hi: float) -> tuple[float, float, float, float]:
    """RMS, its interval and its U from a variance ``v`` with half-widths ``u_lo``, ``u_hi``.

    Returns
    -------
    rms, lo, hi, U : float
        ``rms = sqrt(max(v, 0))``, ``lo = sqrt(max(v - u_lo, 0))``,
        ``hi = sqrt(max(v + u_hi, 0))``, ``U = max(hi - rms, rms - lo)``.
    """
    r = math.sqrt(max(v, 0.0))
    lo = math.sqrt(max(v - u_lo, 0.0))
    hi = math.sqrt(max(v + u_hi, 0.0))
    return r, lo, hi, max(hi - r, r - lo)


@dataclass(frozen=True)
class BandEstimate:
    """A band RMS (height in nm, or slope in µrad) with its noise floor and uncertainty.

    Attributes
    ----------
    quantity : {"height", "slope", "slope-x", "slope-y"}
    unit : {"nm", "urad"}
    f_lo_per_mm, f_hi_per_mm : float
        The band asked for; ``kind`` "areal" (|f|) or "profile" (|f_axis|).
    value : float
        Best estimate: noise-corrected when a noise floor is known
        (``corrected``), else as measured. NaN when the data cover none of
        the band.
    measured : float
        Band RMS of the analysed map as measured (the average of the repeats,
        or the single map).
    noise : float or None
        Noise floor: RMS of the noise in this band *of the analysed map* (for
        an average of N repeats, that of one measurement / sqrt(N)); None
        when unknown.
    noise_single : float or None
        RMS of the noise in this band of one measurement.
    U : float
        Expanded uncertainty of ``value``, k = 2, same unit.
    interval : (float, float)
        The k = 2 (95.45 %) interval of the RMS, possibly asymmetric (module
        docstring: how U relates to it in each model).
    dof : float
        Effective degrees of freedom of the band variance (2 per independent
        cell for a single map).
    floored : bool
        The noise-corrected variance was negative and the value set to 0.
    model : str
        Which uncertainty model, in words.
    coverage, fully_covered, reason, covered_lo_per_mm, covered_hi_per_mm
        As in :class:`metrology.spectral.BandRMS`; a verdict needs ``fully_covered``.
    """

    quantity: str
    unit: str
    f_lo_per_mm: float
    f_hi_per_mm: float
    kind: str
    axis: str | None
    value: float
    measured: float
    noise: float | None
    noise_single: float | None
    U: float
    interval: tuple[float, float]
    k: float
    dof: float
    corrected: bool
    floored: bool
    n_repeats: int
    model: str
    window: str
    coverage: str
    fully_covered: bool
    reason: str
    covered_lo_per_mm: float
    covered_hi_per_mm: float

    @property
    def measurable(self) -> bool:
        """Can a verdict be given (the data cover the whole band and U is finite)?"""
        return self.fully_covered and math.isfinite(self.value) and math.isfinite(self.U)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN stays NaN)."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["interval"] = list(self.interval)
        return d


def _quantity(quantity: str, kind: str, axis: str) -> str:
    q = str(quantity).lower()
    if q not in _UNITS:
        raise ConventionError(f"unknown quantity {quantity!r}; use 'height', 'slope', "
                              "'slope-x' or 'slope-y'")
    if kind == "profile" and q == "slope":
        return f"slope-{axis}"
    return q


class _Analysis:
    """Spectra of the analysed map (and of the noise) on one grid."""

    def __init__(self, data: HeightMap | Sequence[HeightMap], window: Any, remove: Any,
                 noise: NoisePSD | None) -> None:
        if isinstance(data, HeightMap):
            self.repeats = None
            self.map = data
            self.n = 1
            self.grid = _spectra.Grid(data, window, remove)
            self.noise_single = None
            self.noise_n = 0
            if noise is not None:
                if not isinstance(noise, NoisePSD):
                    raise TypeError(f"noise must be a NoisePSD, got {type(noise).__name__}")
                noise.check_grid(data.shape, data.dx_mm, data.dy_mm)
                self.noise_single = noise.values
                self.noise_n = noise.n_repeats
        else:
            if noise is not None:
                raise ConventionError("give repeats or a noise PSD, not both: the noise of "
                                      "the repeats is estimated from them")
            ms = check_repeats(data)
            self.repeats = ms
            self.n = len(ms)
            self.map = average(ms).map
            self.grid = _spectra.Grid(self.map, window, remove)
            self.noise_single = _noise_from(ms, self.grid, self.map)
            self.noise_n = self.n
        self.spec = self.grid.spectrum(self.map)
        self.power = self.grid.power(self.spec)
        self.psd2d = psd(self.map, window=self.grid.W, remove=remove)
        self._smooth: dict[str, np.ndarray] = {}

    def smoothed(self, name: str) -> np.ndarray:
        s = self._smooth.get(name)
        if s is None:
            src = self.power if name == "power" else self.noise_single
            s = _spectra.smooth(src)  # type: ignore[arg-type]
            self._smooth[name] = s
        return s

    def noise_psd(self) -> NoisePSD | None:
        if self.repeats is None or self.noise_single is None:
            return None
        return noise_from_grid(self.noise_single, self.n, self.grid)


class BandAnalysis:
    """The spectra of one map (or of N repeats) kept for several band estimates.

    :func:`band_estimates` builds one per call; a caller that needs estimates of
    several kinds, axes and quantities on the same data (the check pipeline:
    every band criterion of a file) builds it once and asks :meth:`estimate`.
    Parameters as :func:`band_estimates`.
    """

    def __init__(self, data: HeightMap | Sequence[HeightMap], *, window: Any = "hann",
                 remove: Any = ("piston", "tilt"), noise: NoisePSD | None = None) -> None:
        self._an = _Analysis(data, window, remove, noise)

    @property
    def n_repeats(self) -> int:
        """N (1 for a single map)."""
        return self._an.n

    @property
    def map(self) -> HeightMap:
        """The analysed map (the average of the repeats, or the single map)."""
        return self._an.map

    def noise_psd(self) -> NoisePSD | None:
        """The noise PSD of one measurement estimated from the repeats (None for one map)."""
        return self._an.noise_psd()

    def estimate(self, f_lo_per_mm: float, f_hi_per_mm: float, *, kind: str = "areal",
                 axis: str = "x", quantity: str = "height",
                 valid_range_per_mm: tuple[float, float] | None = None) -> BandEstimate:
        """One :class:`BandEstimate` (as :func:`band_estimates`)."""
        k, ax, q = _check_kind(kind, axis, quantity)
        return _estimate(self._an, float(f_lo_per_mm), float(f_hi_per_mm), k, ax, q,
                         valid_range_per_mm)


def _check_kind(kind: str, axis: str, quantity: str) -> tuple[str, str, str]:
    """(kind, axis, quantity) normalised, or a ConventionError naming the bad one."""
    k = str(kind).lower()
    if k not in ("areal", "profile"):
        raise ConventionError(f"kind must be 'areal' or 'profile', got {kind!r}")
    ax = str(axis).lower()
    if ax not in ("x", "y"):
        raise ConventionError(f"axis must be 'x' or 'y', got {axis!r}")
    return k, ax, _quantity(quantity, k, ax)


def band_estimates(data: HeightMap | Sequence[HeightMap],
                   bands: Sequence[tuple[float, float]], *, kind: str = "areal",
                   axis: str = "x", quantity: str = "height", window: Any = "hann",
                   remove: Any = ("piston", "tilt"), noise: NoisePSD | None = None,
                   valid_range_per_mm: tuple[float, float] | None = None
                   ) -> list[BandEstimate]:
    """Band RMS with noise floor and U (k = 2) for several bands (module docstring: models).

    Parameters
    ----------
    data : HeightMap or sequence of HeightMap
        One map (single-map model) or N >= 2 repeats of one measurement of
        one surface on one grid (repeats model: the average is analysed).
        Heights in nm.
    bands : sequence of (f_lo, f_hi)
        Bands in cycles/mm (f_hi may be inf).
    kind : {"areal", "profile"}
        Areal cells with f_lo <= |f| < f_hi, or profile cells with
        f_lo <= |f_axis| < f_hi (the profile PSD's band is that strip of the
        areal PSD).
    axis : {"x", "y"}
        Profile direction.
    quantity : {"height", "slope", "slope-x", "slope-y"}
        Height RMS (nm) or spectral slope RMS (µrad): magnitude of the
        gradient, or its x or y component. A profile slope is along ``axis``.
    window, remove
        As in :func:`metrology.spectral.psd` (the default Hann window and
        piston + tilt removed, as :func:`metrology.spectral.band_rms` uses).
    noise : NoisePSD, optional
        Noise of one measurement on the same grid (from an earlier set of
        repeats) for a single map: its band variance is subtracted and its
        uncertainty included. Not allowed with repeats.
    valid_range_per_mm : (f_min, f_max), optional
        Override the frequency range the data resolve, as in :func:`band_rms`.

    Returns
    -------
    list of BandEstimate
        One per band, in order.
    """
    _check_kind(kind, axis, quantity)
    ba = BandAnalysis(data, window=window, remove=remove, noise=noise)
    return [ba.estimate(lo, hi, kind=kind, axis=axis, quantity=quantity,
                        valid_range_per_mm=valid_range_per_mm) for lo, hi in bands]


def band_estimate(data: HeightMap | Sequence[HeightMap], f_lo_per_mm: float,
                  f_hi_per_mm: float, **kwargs: Any) -> BandEstimate:
    """One band of :func:`band_estimates`."""
    return band_estimates(data, [(f_lo_per_mm, f_hi_per_mm)], **kwargs)[0]


def _estimate(an: _Analysis, lo: float, hi: float, kind: str, axis: str, q: str,
              valid_range: tuple[float, float] | None) -> BandEstimate:
    g = an.grid
    cov = band_rms(an.psd2d, lo, hi, kind=kind, axis=axis, valid_range_per_mm=valid_range)
    repeats = an.repeats is not None
    model = MODEL_REPEATS if repeats else MODEL_SINGLE
    if an.noise_single is not None and not repeats:
        model += (f"; noise PSD from {an.noise_n} earlier repeats subtracted "
                  f"({an.noise_n - 1} degrees of freedom per cell)")
    base = dict(quantity=q, unit=_UNITS[q], f_lo_per_mm=lo, f_hi_per_mm=hi, kind=kind,
                axis=axis if kind == "profile" else None, k=K_COVERAGE, n_repeats=an.n,
                model=model, window=g.window_description, coverage=cov.coverage,
                fully_covered=cov.fully_covered, reason=cov.reason,
                covered_lo_per_mm=cov.covered_lo_per_mm,
                covered_hi_per_mm=cov.covered_hi_per_mm)
    if cov.coverage == "none":
        nan = math.nan
        return BandEstimate(value=nan, measured=nan, noise=None, noise_single=None, U=nan,
                            interval=(nan, nan), dof=nan, corrected=False, floored=False,
                            **base)
    cells = g.cells(cov.covered_lo_per_mm, cov.covered_hi_per_mm, kind, axis)
    w = np.where(cells, g.weights(q), 0.0)
    cell2 = g.cell * g.cell
    v_meas = float(np.sum(w * an.power)) * g.cell
    measured = math.sqrt(max(v_meas, 0.0))
    if an.noise_single is None:
        x = w * an.smoothed("power")
        nn = g.pair_sum(x, 1.0) * cell2
        vbar = float(np.sum(x)) * g.cell
        dof = vbar * vbar / nn if nn > 0 else math.inf
        u_rel = _chi2_symmetric_u(dof)
        lo_i, hi_i = _chi2_interval(measured, dof)
        return BandEstimate(value=measured, measured=measured, noise=None, noise_single=None,
                            U=u_rel * measured, interval=(lo_i, hi_i), dof=dof,
                            corrected=False, floored=False, **base)
    n_single = float(np.sum(w * an.noise_single)) * g.cell
    if repeats:
        n = an.n
        v_noise = n_single / n
        s_bar = an.smoothed("noise") / n
        x = w * s_bar
        nn = g.pair_sum(x, 1.0 / (n - 1)) * cell2
        t1 = _cross_term_variance(an, w, s_bar)
        var_v = max(t1 - 4.0 * nn, 0.0) + 2.0 * nn * n / (n - 1)
        v = v_meas - v_noise
        u = K_COVERAGE * math.sqrt(var_v)
        u_lo = u_hi = u
        dof = 2.0 * v * v / var_v if var_v > 0 and v > 0 else math.nan
    else:
        v_noise = n_single
        x = w * an.smoothed("power")
        nn = g.pair_sum(x, 1.0) * cell2
        vbar = float(np.sum(x)) * g.cell
        dof = vbar * vbar / nn if nn > 0 else math.inf
        u_rel = _chi2_symmetric_u(dof)
        # the measured variance's symmetric-coverage half-widths, in variance
        u_hi = ((1.0 + u_rel) ** 2 - 1.0) * v_meas
        u_lo = (1.0 - max(1.0 - u_rel, 0.0) ** 2) * v_meas
        xn = w * an.smoothed("noise")
        dof_n = max(an.noise_n - 1, 1)
        var_n = 2.0 * g.pair_sum(xn, 1.0 / dof_n) * cell2 / dof_n
        extra = K_COVERAGE * math.sqrt(var_n)
        u_lo, u_hi = math.hypot(u_lo, extra), math.hypot(u_hi, extra)
        v = v_meas - v_noise
    r, lo_r, hi_r, big_u = rms_interval(v, u_lo, u_hi)
    return BandEstimate(value=r, measured=measured, noise=math.sqrt(max(v_noise, 0.0)),
                        noise_single=math.sqrt(max(n_single, 0.0)), U=big_u,
                        interval=(lo_r, hi_r), dof=dof, corrected=True, floored=v < 0, **base)


def _chi2_interval(rms: float, dof: float) -> tuple[float, float]:
    """Equal-tailed 95.45 % interval of the true RMS when ``rms² = V_true χ²_ν / ν``."""
    if not (dof > 0 and math.isfinite(dof)) or not rms > 0:
        return rms, rms
    from scipy.special import gammaincinv

    # chi-square quantile: 2 P⁻¹(ν/2, p), P the regularised lower incomplete gamma
    q_lo, q_hi = (2.0 * gammaincinv(0.5 * dof, p) for p in (_P_LO, _P_HI))
    return rms * math.sqrt(dof / q_hi), rms * math.sqrt(dof / q_lo)


def _chi2_symmetric_u(dof: float) -> float:
    """Relative half-width u of the symmetric interval σ̂ (1 ± u) that holds the true σ
    with probability 95.45 % when σ̂² = σ² χ²_ν / ν:
    P(ν / (1 + u)² <= χ²_ν <= ν / (1 - u)²) = 0.9545 (upper bound inf for u >= 1)."""
    if not dof > 0:
        return math.inf
    if not math.isfinite(dof):
        return 0.0
    from scipy.special import gammainc

    target = _P_HI - _P_LO
    a = 0.5 * dof  # chi-square cdf: P(ν/2, x/2)

    def cover(u: float) -> float:
        hi = float(gammainc(a, 0.5 * dof / (1.0 - u) ** 2)) if u < 1.0 else 1.0
        return hi - float(gammainc(a, 0.5 * dof / (1.0 + u) ** 2)) - target

    top = 1.0
    while cover(top) < 0:
        top *= 2.0
        if top > 1e6:
            return math.inf
    # cover(u) grows with u (the interval widens at both ends): the Illinois variant of
    # regula falsi on [0, top], bracketing kept, to 1e-10 in u (scipy.optimize's root
    # finders would cost its import, ~0.1 s, on every check)
    u0, u1 = 0.0, top
    f0, f1 = cover(u0), cover(u1)
    side = 0
    for _ in range(200):
        c = u1 - f1 * (u1 - u0) / (f1 - f0) if f1 != f0 else 0.5 * (u0 + u1)
        fc = cover(c)
        if fc == 0.0:
            return c
        if (fc < 0) == (f1 < 0):
            u1, f1 = c, fc
            if side == -1:
                f0 *= 0.5
            side = -1
        else:
            u0, f0 = c, fc
            if side == 1:
                f1 *= 0.5
            side = 1
        if abs(u1 - u0) <= 1e-10 or abs(fc) < 1e-14:
            break
    return c


def _cross_term_variance(an: _Analysis, w: np.ndarray, s_noise: np.ndarray) -> float:
    """Variance of ``cell · 2c Re Σ_B ω A conj(N)`` over the noise N of the average,
    with the average's own spectrum A standing in for the surface's."""
    g = an.grid
    gx = _kfft.ifft2(an.spec * w).real
    qx = g.project_out(g.W * gx)
    tot = _spectra.power_sum(qx, _spectra.even_half(s_noise))
    return 4.0 * g.c * g.c * g.cell * g.cell * g.n_tot * tot / (g.dx * g.dy)


# ---------------------------------------------------------------------------
# Zernike terms
# ---------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class ZernikeEstimate:
    """Zernike coefficients with their uncertainties.

    Attributes
    ----------
    fit : ZernikeFit
        Fit of the analysed map (the average of the repeats, on their common
        mask, or the single map); ``fit.coefficients_nm`` are the values.
    u_nm : ndarray (K,)
        Standard uncertainty of each coefficient, nm (same scheme,
        normalisation and order as the fit).
    U_nm : ndarray (K,)
        Expanded uncertainty, k = 2, nm (NaN when unknown).
    k : float
    dof : float
        Degrees of freedom (N - 1 for repeats, inf for a propagated noise PSD).
    n_repeats : int
    model : str
    """

    fit: ZernikeFit = field(repr=False)
    u_nm: np.ndarray
    U_nm: np.ndarray
    k: float
    dof: float
    n_repeats: int
    model: str

    def to_dict(self) -> dict[str, Any]:
        """The fit's description plus u and U (k = 2) per term."""
        d = self.fit.to_dict()
        for t, u, uu in zip(d["terms"], self.u_nm, self.U_nm, strict=True):
            t["u_nm"] = float(u)
            t["U_nm"] = float(uu)
        d.update(k=self.k, dof=self.dof, n_repeats=self.n_repeats, uncertainty_model=self.model)
        return d


def zernike_estimates(data: HeightMap | Sequence[HeightMap], terms: Any = 37,
                      scheme: str = "fringe", normalisation: str = "rms",
                      r_norm_mm: float | None = None,
                      centre_mm: tuple[float, float] | None = None, *,
                      noise: NoisePSD | None = None) -> ZernikeEstimate:
    """Zernike fit with U (k = 2) on every coefficient (module docstring: models).

    Parameters
    ----------
    data : HeightMap or sequence of HeightMap
        One map, or N >= 2 repeats on one grid (fitted on their common mask).
    terms, scheme, normalisation, r_norm_mm, centre_mm
        As in :func:`metrology.zernike.fit_zernike`. For repeats the centre
        and R_norm are those of the fit of the average, used for every repeat.
    noise : NoisePSD, optional
        For a single map: noise of one measurement on the same grid,
        propagated through the fit.

    Returns
    -------
    ZernikeEstimate
    """
    if isinstance(data, HeightMap):
        fit = fit_zernike(data, terms, scheme, normalisation, r_norm_mm, centre_mm)
        kk = len(fit.orders)
        if noise is None:
            nan = np.full(kk, math.nan)
            return ZernikeEstimate(fit, nan, nan.copy(), K_COVERAGE, math.nan, 1,
                                   "unknown: a single map without repeats or a noise PSD")
        noise.check_grid(data.shape, data.dx_mm, data.dy_mm)
        u = _propagate_noise(fit, data, noise)
        return ZernikeEstimate(fit, u, K_COVERAGE * u, K_COVERAGE, math.inf, 1,
                               f"single map: noise PSD of {noise.n_repeats} repeats propagated "
                               "through the least-squares fit; k = 2")
    if noise is not None:
        raise ConventionError("give repeats or a noise PSD, not both")
    ms = check_repeats(data)
    avg = average(ms)
    mask = avg.map.valid
    fit = fit_zernike(avg.map, terms, scheme, normalisation, r_norm_mm, centre_mm)
    coefs = np.array([
        fit_zernike(hm, fit.indices, scheme, normalisation, fit.r_norm_mm, fit.centre_mm,
                    mask=mask).coefficients_nm for hm in ms])
    n = len(ms)
    u = coefs.std(axis=0, ddof=1) / math.sqrt(n)
    return ZernikeEstimate(fit, u, K_COVERAGE * u, K_COVERAGE, float(n - 1), n,
                           f"repeats: standard error of the mean of {n} fits on the common "
                           f"mask (Type A, {n - 1} degrees of freedom); k = 2")


def _propagate_noise(fit: ZernikeFit, hm: HeightMap, noise: NoisePSD) -> np.ndarray:
    mask = fit.geometry.mask  # the fit's pixels (read only here)
    rows = []
    for j in fit.indices:
        zs = zernike_surface([1.0], like=hm, scheme=fit.scheme,
                             normalisation=fit.normalisation, r_norm_mm=fit.r_norm_mm,
                             centre_mm=fit.centre_mm, indices=[j], outside="evaluate")
        rows.append(zs.z_nm[mask])
    b = np.array(rows)
    beta = np.linalg.solve(b @ b.T, b)
    ny, nx = hm.shape
    out = np.empty(len(rows))
    s_half = _spectra.even_half(noise.values)
    for i, bj in enumerate(beta):
        m = np.zeros(hm.shape)
        m[mask] = bj
        out[i] = _spectra.power_sum(m, s_half) / (ny * nx * hm.dx_mm * hm.dy_mm)
    return np.sqrt(out)


# ---------------------------------------------------------------------------
# single map: linear functions of a least-squares fit (the check's wiring)
# ---------------------------------------------------------------------------

MODEL_LINEAR_SINGLE = (
    "single map: the fit's residual taken as a stationary Gaussian random field, its "
    "locally smoothed periodogram (no window, over the fit's pixels, corrected for what the "
    "fit took from each cell and extrapolated into the fit's range as locally flat) "
    "propagated through the linear least-squares fit, Var(g.c) = sum_k |DFT(beta_g)_k|^2 "
    "S_k / (N dx dy) with beta_g the pixel weights of g.c; the measurand is the form of the "
    "surface, the map's random structure one realisation; k = 2")


def residual_psd(residual: HeightMap, removed: np.ndarray | None = None,
                 window: np.ndarray | None = None) -> np.ndarray:
    """Locally smoothed periodogram of a fit residual, no window, full plane in FFT order.

    ``S_k = Σ_{l near k} Δx Δy |DFT(r - mean)_l|² / Σ_{l near k} (M - q_l)`` [nm² mm²]
    with r the residual on its M valid pixels (0 elsewhere) and q_l the share of cell l
    the fit took out (``removed``: ``Σ_j |DFT(φ_j)_l|²`` over an orthonormal basis φ of
    the fitted functions and the mean; 0 when not given). For white noise of PSD S,
    ``E|DFT(r)_l|² = (S / Δx Δy)(M - q_l)`` exactly, so the ratio estimates S; for a
    locally flat spectrum approximately. The neighbourhood is the 3 x 3 cells about k,
    widened (5, 9, 17, 33 cells square) where the fit took much, until it holds as much
    residual as 9 untouched cells (Σ (M - q) >= 9 M).
    """
    from scipy.ndimage import uniform_filter

    v = residual.valid
    m = int(np.count_nonzero(v))
    if m < 4:
        raise ConventionError(f"a residual PSD needs at least 4 valid pixels, got {m}")
    z = residual.z_nm
    w = v.astype(np.float64) if window is None else np.where(v, window, 0.0)
    r0 = np.where(v, z - float(np.mean(z[v])), 0.0)
    p = residual.dx_mm * residual.dy_mm * _spectra.full_power(w * r0)
    m = float(np.sum(w * w))
    room = np.full(p.shape, m) if removed is None else np.maximum(m - removed, 0.0)
    out = np.full(p.shape, np.nan)
    for size in (3, 5, 9, 17, 33):
        num = uniform_filter(p, size=size, mode="wrap")
        den = uniform_filter(room, size=size, mode="wrap")
        ok = np.isnan(out) & (den * size * size >= 9.0 * m - 1e-6 * m)
        out[ok] = num[ok] / den[ok]
        if not np.isnan(out).any():
            break
    rest = np.isnan(out)
    if rest.any():  # a fit that took (almost) everything: the residual's mean level
        out[rest] = float(p.sum()) / max(float(room.sum()), 1.0)
    return out


def _removed_share(fit: ZernikeFit, window: np.ndarray | None = None) -> np.ndarray:
    """q_k = Σ_j |DFT(φ_j)_k|² for an orthonormal basis φ (over the fit's pixels) of the
    fitted terms and the mean (the residual's mean is removed too)."""
    geo = fit.geometry
    g = np.asarray(geo.gram, dtype=np.float64)
    has_piston = (0, 0) in [tuple(o) for o in fit.orders]
    if not has_piston:  # augment with the constant: its Gram column is Bᵀ1, its norm M
        ones = np.asarray(geo._ones, dtype=np.float64)
        k = g.shape[0]
        aug = np.empty((k + 1, k + 1))
        aug[:k, :k], aug[:k, k], aug[k, :k], aug[k, k] = g, ones, ones, geo.n_pixels
        g = aug
    w, vec = np.linalg.eigh(g)
    keep = w > w.max() * 1e-12
    t = vec[:, keep] / np.sqrt(w[keep])  # φ = [Z, 1] t is orthonormal over the pixels
    q = np.zeros((geo.shape[0], geo.shape[1] // 2 + 1))  # on the real FFT's columns
    phi = np.empty(geo.shape)  # one buffer for every φ_j: 0 off the fit's pixels
    k = len(fit.indices)
    for col in t.T:
        geo._apply(col[:k], None, phi, fill=0.0)
        if not has_piston:
            np.add(phi, col[-1], out=phi, where=geo.mask)
        if window is not None:
            np.multiply(phi, window, out=phi)
        q += _spectra.half_power(phi)
    return _spectra.expand_half(q, geo.shape[1])


def linear_u(beta: np.ndarray, psd_nm2_mm2: np.ndarray, dx_mm: float, dy_mm: float, *,
             psd_half: np.ndarray | None = None) -> float:
    """Standard uncertainty of ``Σ_pixels β z`` when z is a stationary field of PSD ``S``.

    ``Var = Σ_k |DFT(β)_k|² S_k / (N Δx Δy)`` (N pixels of the grid; β 0 off the data,
    NaN treated as 0); for white noise of variance σ² (S = σ² Δx Δy) this is
    σ² Σ β² exactly. ``psd_half``: ``_spectra.even_half(S)`` when already computed
    (several functions of one fit share it).
    """
    b = np.nan_to_num(np.asarray(beta, dtype=np.float64))
    if b.shape != psd_nm2_mm2.shape:
        raise ConventionError(f"pixel weights of shape {b.shape} on a PSD of shape "
                              f"{psd_nm2_mm2.shape}")
    half = _spectra.even_half(psd_nm2_mm2) if psd_half is None else psd_half
    var = _spectra.power_sum(b, half) / (b.size * dx_mm * dy_mm)
    return math.sqrt(max(var, 0.0))


#: window of the residual periodogram (none: every pixel of the fit weighs the same)
WINDOW = "none"


class FitNoiseModel:
    """Single-map uncertainty of linear functions ``g · c`` of a Zernike fit's coefficients.

    Model (:data:`MODEL_LINEAR_SINGLE`): the residual of ``fit`` as a stationary
    Gaussian field with the PSD :func:`residual_psd`, propagated through the fit:
    the pixel weights of ``g · c`` are ``β_g = Σ_j w_j Z_j`` with ``w = G⁻¹ g`` (G the
    Gram matrix of the fit's basis over its pixels), and :func:`linear_u` gives the
    standard uncertainty. ``g`` is in the fit's normalisation and index order.
    The residual lacks what the fit took out of each cell; :func:`residual_psd` puts it
    back for a locally flat spectrum (exact for white noise). Random structure of the
    surface below the fit's frequency range cannot be told from form in one map: there
    the model knows only what the residual shows.
    """

    model = MODEL_LINEAR_SINGLE

    def __init__(self, fit: ZernikeFit) -> None:
        self.fit = fit
        if fit.geometry.gram.size == 0:  # pragma: no cover - a solved fit has its Gram matrix
            fit.geometry._factorize(None)
        w, _ = _spectra.window_array(fit.residual, WINDOW)
        self.psd = residual_psd(fit.residual, _removed_share(fit, w), w)
        self._psd_half: np.ndarray | None = None

    def u(self, g: Any) -> float:
        """Standard uncertainty (nm) of ``g · c`` (``g``: one weight per fitted term)."""
        geo = self.fit.geometry
        gv = np.asarray(g, dtype=np.float64)
        if gv.shape != (len(self.fit.indices),):
            raise ConventionError(f"expected {len(self.fit.indices)} weights, got {gv.shape}")
        w = np.linalg.solve(geo.gram, gv)
        if self._psd_half is None:  # the PSD's half plane, once per fit
            self._psd_half = _spectra.even_half(self.psd)
        return linear_u(geo.scatter_sum(w), self.psd, geo.dx_mm, geo.dy_mm,
                        psd_half=self._psd_half)
