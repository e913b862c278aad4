"""PSD models (inverse power law, ABC / K-correlation), their fits, and synthetic surfaces.

Every model says which PSD its formula gives (``kind``):

* ``"areal"``: the 2-D PSD of an isotropic surface, PSD2(|f|) [nm² mm²];
* ``"radial"``: the radial PSD, annulus power per unit |f| [nm² mm],
  ``P_rad(f) = 2π f PSD2(f)``;
* ``"profile"``: the one-sided profile PSD along any direction [nm² mm],
  ``P1+(f) = 2 ∫ PSD2(sqrt(f² + f_y²)) df_y``.

``psd2d(f)`` converts any of them to the areal PSD of the isotropic surface,
which :func:`synthesize` needs. The profile conversions are the closed forms
of the integral above: for ``PSD2 = K f^-α`` (α > 1),
``P1+ = 2 K c_α f^(1-α)`` with ``c_α = √π Γ((α-1)/2) / Γ(α/2)``; for the ABC
form, ``PSD2 = A' / (1 + (B f)²)^((C+1)/2)`` gives
``P1+ = A / (1 + (B f)²)^(C/2)`` with
``A' = A B Γ((C+1)/2) / (2 √π Γ(C/2))``.

Fits are least squares in log10(PSD) on log-binned data. A radial PSD is
fitted through ``2π f̄ · (azimuthal average)`` at the mean frequency ``f̄``
of each bin's cells, which estimates P_rad(f̄) without the lattice-count noise
of sparse low-frequency annuli; bins are weighted by their cell count (the
variance of a bin's log-mean falls as 1 / count).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize, special

from kernels import fft as _fft

from .errors import ConventionError, InsufficientDataError
from .heightmap import HeightMap
from .spectral import PSD2D, ProfilePSD, RadialPSD

__all__ = [
    "PowerLaw",
    "ABC",
    "fit_power_law",
    "fit_power_law_segments",
    "fit_abc",
    "synthesize",
]

_KINDS = ("areal", "radial", "profile")


def _check_kind(kind: str) -> str:
    k = str(kind).lower()
    if k not in _KINDS:
        raise ConventionError(f"model kind must be one of {_KINDS}, got {kind!r}")
    return k


def _c_alpha(alpha: float) -> float:
    """∫ (1 + u²)^(-α/2) du over the real line = √π Γ((α-1)/2) / Γ(α/2), α > 1."""
    return math.sqrt(math.pi) * math.exp(special.gammaln((alpha - 1) / 2)
                                         - special.gammaln(alpha / 2))


@dataclass(frozen=True)
class PowerLaw:
    """Inverse power law ``P(f) = a / f^b`` of the PSD named by ``kind``.

    Attributes
    ----------
    a : float
        Amplitude: P at f = 1 cycle/mm, in the kind's unit (nm² mm² for
        areal, nm² mm for radial and profile).
    b : float
        Exponent (positive for a falling spectrum).
    kind : {"areal", "radial", "profile"}
    f_lo_per_mm, f_hi_per_mm : float
        Range the law applies to (fitted range, or 0..inf).
    n_bins : int
        Bins used by the fit (0 for a model given by hand).
    log10_rms_residual : float
        RMS of the fit residuals in log10(P) (NaN for a model given by hand).
    """

    a: float
    b: float
    kind: str = "radial"
    f_lo_per_mm: float = 0.0
    f_hi_per_mm: float = math.inf
    n_bins: int = 0
    log10_rms_residual: float = math.nan

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", _check_kind(self.kind))
        if not (math.isfinite(self.a) and self.a > 0 and math.isfinite(self.b)):
            raise ConventionError(f"a power law needs a > 0 and a finite b, got {self}")
        if self.kind == "profile" and self.b <= 0:
            raise ConventionError("a profile power law needs b > 0 to describe an isotropic "
                                  "surface")

    def __call__(self, f_per_mm: Any) -> np.ndarray:
        """The model in its own kind at ``f_per_mm`` (> 0)."""
        f = np.asarray(f_per_mm, dtype=np.float64)
        return self.a * f ** (-self.b)

    def psd2d(self, f_per_mm: Any) -> np.ndarray:
        """Areal 2-D PSD [nm² mm²] of the isotropic surface at |f| (inf at f = 0)."""
        f = np.asarray(f_per_mm, dtype=np.float64)
        with np.errstate(divide="ignore"):
            if self.kind == "areal":
                return self.a * f ** (-self.b)
            if self.kind == "radial":
                return self.a * f ** (-self.b - 1.0) / (2.0 * math.pi)
            alpha = self.b + 1.0
            k = self.a / (2.0 * _c_alpha(alpha))
            return k * f ** (-alpha)

    def _k_alpha(self) -> tuple[float, float]:
        """(K, α) with PSD2 = K f^-α."""
        if self.kind == "areal":
            return self.a, self.b
        if self.kind == "radial":
            return self.a / (2.0 * math.pi), self.b + 1.0
        alpha = self.b + 1.0
        return self.a / (2.0 * _c_alpha(alpha)), alpha

    def band_variance_nm2(self, f_lo_per_mm: float, f_hi_per_mm: float,
                          kind: str = "areal") -> float:
        """Analytic band variance (nm²) of the isotropic surface on an infinite plane.

        ``kind="areal"``: ∫ 2π f PSD2 df over [lo, hi); ``"profile"``: ∫ P1+ df.
        """
        k, alpha = self._k_alpha()
        lo, hi = float(f_lo_per_mm), float(f_hi_per_mm)
        e = 2.0 - alpha  # ∫ f^(1-α) df = f^(2-α) / (2-α)
        if abs(e) < 1e-12:
            integral = math.log(hi / lo)
        else:
            integral = (hi ** e - lo ** e) / e
        kd = str(kind).lower()
        if kd == "areal":
            return 2.0 * math.pi * k * integral
        if kd == "profile":
            if alpha <= 1.0:
                raise ConventionError("the profile PSD of f^-alpha needs alpha > 1")
            return 2.0 * k * _c_alpha(alpha) * integral
        raise ConventionError(f"kind must be 'areal' or 'profile', got {kind!r}")


@dataclass(frozen=True)
class ABC:
    """ABC (K-correlation) model ``P(f) = a / (1 + (b f)²)^(c/2)`` of the PSD named by ``kind``.

    Attributes
    ----------
    a : float
        Low-frequency plateau, in the kind's unit.
    b_mm : float
        Correlation length B (mm); the knee of the spectrum is at f ≈ 1/B.
    c : float
        High-frequency slope (P ~ f^-c for f >> 1/B).
    kind : {"areal", "radial", "profile"}
    """

    a: float
    b_mm: float
    c: float
    kind: str = "profile"
    f_lo_per_mm: float = 0.0
    f_hi_per_mm: float = math.inf
    n_bins: int = 0
    log10_rms_residual: float = math.nan

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", _check_kind(self.kind))
        if not (self.a > 0 and self.b_mm > 0 and self.c > 0 and math.isfinite(self.a)
                and math.isfinite(self.b_mm) and math.isfinite(self.c)):
            raise ConventionError(f"an ABC model needs a, b, c > 0, got {self}")

    def __call__(self, f_per_mm: Any) -> np.ndarray:
        """The model in its own kind at ``f_per_mm``."""
        f = np.asarray(f_per_mm, dtype=np.float64)
        return self.a / (1.0 + (self.b_mm * f) ** 2) ** (self.c / 2.0)

    def psd2d(self, f_per_mm: Any) -> np.ndarray:
        """Areal 2-D PSD [nm² mm²] of the isotropic surface at |f|."""
        f = np.asarray(f_per_mm, dtype=np.float64)
        u = 1.0 + (self.b_mm * f) ** 2
        if self.kind == "areal":
            return self.a / u ** (self.c / 2.0)
        if self.kind == "radial":
            with np.errstate(divide="ignore"):
                return self.a / u ** (self.c / 2.0) / (2.0 * math.pi * f)
        a2 = self.a * self.b_mm * math.exp(special.gammaln((self.c + 1) / 2)
                                           - special.gammaln(self.c / 2)) / (2 * math.sqrt(math.pi))
        return a2 / u ** ((self.c + 1.0) / 2.0)


# ---------------------------------------------------------------------------
# fits
# ---------------------------------------------------------------------------

def _log_bins_of(data: Any, per_decade: int) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                       str, float, float]:
    """(f, P, weight, kind, f_min, f_max) of log-binned data ready to fit."""
    if isinstance(data, PSD2D):
        fmin, fmax = data.f_min_per_mm, data.f_max_per_mm
        data = data.azimuthal_average(bins="log", per_decade=per_decade)
        ok = data.counts > 0
        f = data.f_mean_per_mm[ok]
        return f, 2.0 * math.pi * f * data.values[ok], data.counts[ok].astype(float), \
            "radial", fmin, fmax
    if isinstance(data, RadialPSD):
        ok = (data.counts > 0) & (data.f_mean_per_mm > 0)
        # annulus sum / width; its log-bin centre is the cell-mean frequency
        return (data.f_mean_per_mm[ok], data.values[ok], data.counts[ok].astype(float),
                "radial", 0.0, math.inf)
    if isinstance(data, ProfilePSD):
        if data.sidedness != "one-sided":
            raise ConventionError("fit a one-sided profile PSD (profile(one_sided=True))")
        f = data.f_per_mm
        pos = f > 0
        f, p = f[pos], data.values[pos]
        e0 = f[0] / 10.0 ** (0.5 / per_decade)
        n = max(1, int(math.ceil(math.log10(f[-1] * (1 + 1e-12) / e0) * per_decade)))
        edges = np.geomspace(e0, f[-1] * (1 + 1e-12), n + 1)
        idx = np.searchsorted(edges, f, side="right") - 1
        cnt = np.bincount(idx, minlength=n).astype(float)
        sp = np.bincount(idx, weights=p, minlength=n)
        sf = np.bincount(idx, weights=f, minlength=n)
        ok = cnt > 0
        return sf[ok] / cnt[ok], sp[ok] / cnt[ok], cnt[ok], "profile", \
            data.f_min_per_mm, data.f_max_per_mm
    raise TypeError(f"expected a PSD2D, RadialPSD or ProfilePSD, got {type(data).__name__}")


def _select(f, p, w, lo, hi):
    sel = (f >= lo) & (f < hi) & np.isfinite(p) & (p > 0)
    return f[sel], p[sel], w[sel]


def fit_power_law(data: PSD2D | RadialPSD | ProfilePSD, f_lo_per_mm: float | None = None,
                  f_hi_per_mm: float | None = None, *, per_decade: int = 10) -> PowerLaw:
    """Fit ``P = a / f^b`` on log-binned data over [f_lo, f_hi).

    Parameters
    ----------
    data : PSD2D (fitted as a radial PSD), RadialPSD or one-sided ProfilePSD
    f_lo_per_mm, f_hi_per_mm : float, optional
        Fit range; default: the data's resolved range [2/L, Nyquist] for a
        PSD2D or ProfilePSD, every bin for a RadialPSD.
    per_decade : int
        Log bins per decade (for PSD2D and ProfilePSD input).

    Returns
    -------
    PowerLaw
        With ``kind`` "radial" or "profile" as the data.
    """
    f, p, w, kind, fmin, fmax = _log_bins_of(data, per_decade)
    lo = fmin if f_lo_per_mm is None else float(f_lo_per_mm)
    hi = fmax * (1 + 1e-12) if f_hi_per_mm is None else float(f_hi_per_mm)
    f, p, w = _select(f, p, w, lo, hi)
    if f.size < 2:
        raise InsufficientDataError(
            f"a power-law fit needs at least 2 non-empty bins in [{lo:g}, {hi:g}) /mm, "
            f"got {f.size}")
    x = np.log10(f)
    y = np.log10(p)
    sw = np.sqrt(w)
    design = np.stack([np.ones_like(x), x], axis=1) * sw[:, None]
    coef, *_ = np.linalg.lstsq(design, y * sw, rcond=None)
    res = y - (coef[0] + coef[1] * x)
    return PowerLaw(float(10.0 ** coef[0]), float(-coef[1]), kind, lo, hi, int(f.size),
                    float(np.sqrt(np.average(res ** 2, weights=w))))


def fit_power_law_segments(data: PSD2D | RadialPSD | ProfilePSD,
                           breaks_per_mm: Any, *, per_decade: int = 10) -> list[PowerLaw]:
    """Fit one power law per segment between consecutive ``breaks_per_mm`` (increasing)."""
    br = [float(b) for b in breaks_per_mm]
    if len(br) < 2 or any(b1 <= b0 for b0, b1 in zip(br, br[1:], strict=False)):
        raise ConventionError(f"breaks must be >= 2 increasing frequencies, got {breaks_per_mm!r}")
    return [fit_power_law(data, lo, hi, per_decade=per_decade)
            for lo, hi in zip(br, br[1:], strict=False)]


def fit_abc(data: PSD2D | RadialPSD | ProfilePSD, f_lo_per_mm: float | None = None,
            f_hi_per_mm: float | None = None, *, per_decade: int = 10) -> ABC:
    """Fit the ABC model ``P = a / (1 + (b f)²)^(c/2)`` on log-binned data.

    Least squares in log10(P), weighted by cell counts, over [f_lo, f_hi)
    (defaults as in :func:`fit_power_law`). Returns an :class:`ABC` of the
    data's kind ("radial" for a PSD2D or RadialPSD, "profile").
    """
    f, p, w, kind, fmin, fmax = _log_bins_of(data, per_decade)
    lo = fmin if f_lo_per_mm is None else float(f_lo_per_mm)
    hi = fmax * (1 + 1e-12) if f_hi_per_mm is None else float(f_hi_per_mm)
    f, p, w = _select(f, p, w, lo, hi)
    if f.size < 4:
        raise InsufficientDataError(
            f"an ABC fit needs at least 4 non-empty bins in [{lo:g}, {hi:g}) /mm, got {f.size}")
    y = np.log10(p)
    sw = np.sqrt(w / w.sum())
    # start: plateau from the lowest bins, slope from the upper half, knee where they meet
    a0 = float(np.median(p[: max(2, f.size // 8)]))
    half = f.size // 2
    slope, icpt = np.polyfit(np.log10(f[half:]), y[half:], 1)
    c0 = max(-slope, 0.5)
    b0 = (a0 / 10.0 ** icpt) ** (1.0 / c0) if icpt > -300 else 1.0 / f[half]

    def resid(q):
        la, lb, c = q
        model = la - (c / 2.0) * np.log10(1.0 + (10.0 ** lb * f) ** 2)
        return (model - y) * sw

    q0 = np.array([math.log10(a0), math.log10(max(b0, 1e-12)), c0])
    sol = optimize.least_squares(resid, q0, method="lm", x_scale="jac")
    la, lb, c = sol.x
    if not (np.all(np.isfinite(sol.x)) and c > 0):
        raise InsufficientDataError("the ABC fit did not converge to a falling spectrum")
    res = resid(sol.x) / sw
    return ABC(float(10.0 ** la), float(10.0 ** lb), float(c), kind, lo, hi, int(f.size),
               float(np.sqrt(np.average(res ** 2, weights=w))))


# ---------------------------------------------------------------------------
# synthesis
# ---------------------------------------------------------------------------

def synthesize(psd_model: PowerLaw | ABC | Callable[[np.ndarray], np.ndarray],
               shape: tuple[int, int], dx_mm: float, seed: Any = None, *,
               dy_mm: float | None = None, meta: dict | None = None) -> HeightMap:
    """A periodic Gaussian random surface whose expected periodogram is the model.

    White Gaussian noise is transformed (real FFT), multiplied by
    ``sqrt(PSD2(|f|) / (Δx Δy))`` and transformed back, so that at every cell
    E[Δx Δy |DFT(z)|² / (N_x N_y)] = PSD2(|f|); the DC cell is set to 0, so
    the mean is exactly 0. Being periodic, the surface has no edge leakage:
    an unwindowed PSD of the whole map is unbiased.

    Parameters
    ----------
    psd_model : PowerLaw, ABC, or callable
        A model (its :meth:`psd2d` is used) or a function of |f| (cycles/mm,
        array) returning the areal 2-D PSD in nm² mm².
    shape : (ny, nx)
    dx_mm : float
        Pixel spacing along x; ``dy_mm`` defaults to it.
    seed : int, numpy Generator or None

    Returns
    -------
    HeightMap
        ``meta['synthetic']`` describes the model.
    """
    ny, nx = (int(s) for s in shape)
    if ny < 2 or nx < 2:
        raise ConventionError(f"shape must be at least 2 x 2, got {shape!r}")
    dx = float(dx_mm)
    dy = dx if dy_mm is None else float(dy_mm)
    if not (dx > 0 and dy > 0 and math.isfinite(dx) and math.isfinite(dy)):
        raise ConventionError(f"spacings must be positive mm, got {dx_mm!r}, {dy_mm!r}")
    fn = psd_model.psd2d if hasattr(psd_model, "psd2d") else psd_model
    rng = np.random.default_rng(seed)
    white = rng.standard_normal((ny, nx))
    # one fixed backend: the surface must not depend on whether ducc0 is installed
    spec = _fft.rfft2(white, backend="scipy")
    fx = np.fft.rfftfreq(nx, dx)
    fy = np.fft.fftfreq(ny, dy)
    f = np.sqrt(fx[None, :] ** 2 + fy[:, None] ** 2)
    f[0, 0] = 1.0  # placeholder, DC set to 0 below
    p2 = np.asarray(fn(f), dtype=np.float64)
    if p2.shape != f.shape or np.any(~np.isfinite(p2[f > 0])) or np.any(p2 < 0):
        raise ConventionError("the PSD model must give finite, non-negative values of the "
                              "frequency array's shape")
    amp = np.sqrt(p2 / (dx * dy))
    amp[0, 0] = 0.0
    z = _fft.irfft2(spec * amp, (ny, nx), backend="scipy")
    m = dict(meta or {})
    m["synthetic"] = {"psd_model": repr(psd_model), "seed": repr(seed),
                      "method": "Gaussian white noise shaped in Fourier space (periodic)"}
    return HeightMap(z, dx, dy, m)
