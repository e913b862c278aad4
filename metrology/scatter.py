"""Light scattered by a smooth surface, from its PSD: TIS and BRDF at the use wavelength.

Units at the API: wavelength in nm, angles in degrees (radians internally),
spatial frequency in cycles/mm, PSD in nm² mm² (areal) or nm² mm (radial),
BRDF / BTDF in sr⁻¹, TIS dimensionless.

Geometry
--------
Angles are polar angles from the surface normal. The incident beam lies in
the x-z plane; the scatter azimuth φs is measured from the plane of
incidence, φs = 0 on the specular side. In-plane angles may be signed:
θs < 0 means φs = 180° (the side of the incident beam). The grating
equation maps a direction to the surface frequency it scatters from:

    f_x = (sin θs cos φs - sin θi) / λ,   f_y = sin θs sin φs / λ,

so in the plane of incidence ``f = |sin θs - sin θi| / λ``. In transmission
the angles are those of the light in air (air-equivalent directions, as after
leaving through a plane face; n sin θ_inside = sin θ_air), so the same
equation holds.

Reflection: Rayleigh-Rice (first-order vector perturbation, smooth surface)
---------------------------------------------------------------------------
    BRDF(θi, θs, φs) = 16 π² / λ⁴ · cos θi cos θs · Q · PSD2(f_x, f_y)

(J. C. Stover, *Optical Scattering: Measurement and Analysis*, 3rd ed., SPIE
Press 2012, ch. 5; E. L. Church, H. A. Jenkinson, J. M. Zavada, Opt. Eng. 18,
125 (1979)), PSD2 the two-sided areal PSD, λ⁴ = λ_nm² λ_mm². Q is the
polarisation (reflectance) factor of a surface of relative permittivity ε
(ε = ñ², ñ = n + iκ; q_i = sqrt(ε - sin² θi), q_s = sqrt(ε - sin² θs)):

    Q_ss = |(ε-1) cos φs / ((cos θi + q_i)(cos θs + q_s))|²
    Q_sp = |(ε-1) q_s sin φs / ((cos θi + q_i)(ε cos θs + q_s))|²
    Q_ps = |(ε-1) q_i sin φs / ((ε cos θi + q_i)(cos θs + q_s))|²
    Q_pp = |(ε-1)(q_s q_i cos φs - ε sin θi sin θs) / ((ε cos θi + q_i)(ε cos θs + q_s))|²

(first letter incident, second scattered polarisation). s incidence:
Q = Q_ss + Q_sp; p: Q_pp + Q_ps; unpolarised: their mean (detector blind to
polarisation). In the specular direction Q_ss = R_s and Q_pp = R_p (Fresnel),
which the tests check. The perfect conductor (``surface="conductor"``) is the
limit |ε| -> inf: Q_ss = cos² φs, Q_sp = sin² φs / cos² θs,
Q_ps = sin² φs / cos² θi, Q_pp = ((cos φs - sin θi sin θs)/(cos θi cos θs))².

Transmission: scalar first-order (phase-screen) model
-----------------------------------------------------
A height h delays the transmitted wave by ``(2π/λ) Δ h`` with
``Δ = n cos θt - cos θi`` (sin θt = sin θi / n; Δ = n - 1 at normal
incidence; n from :func:`metrology.materials.refractive_index`):

    BTDF = 4 π² Δ² / λ⁴ · T(θi) · PSD2(f_x, f_y)

with T the Fresnel power transmittance of the polarisation. Exact to first
order in the small-angle limit; the vector factors of transmitted scatter at
large angles are not modelled (the result says so).

TIS
---
``tis`` (Davies / Bennett–Porteus, smooth surface, relative to the specular
power): reflection ``(4π cos θi σ / λ)²``, transmission ``(2π Δ σ / λ)²``,
σ the areal band RMS over f in [sin θ1 / λ, sin θ2 / λ] for a collection cone
θ1 <= θs <= θ2 (full azimuth). At normal incidence this band is exactly the
frequencies that scatter into the cone; at oblique incidence it is the
near-normal approximation. ``tis_rayleigh_rice`` is the exact first-order
value: the BRDF (BTDF) integrated over the cone, ∫ BRDF cos θs dΩ, divided by
the specular reflectance (transmittance); ``scatter_fraction`` is that
integral itself (share of the incident power). The integral is done in
frequency space, ``∫ BRDF cos θs dΩ = (λ² ...) ∫ ... d²f`` with
``d²f = cos θs dΩ / λ²``, in polar coordinates about the specular point.

A small-amplitude sinusoidal grating z = a cos(2π f0 x) has PSD2 = a²/4 at
±f0 (delta functions); the first-order scatter into order m = ±1 is then

    η±1 = (16 π² / λ²) cos θi cos θm Q (a² / 4) = (2π a / λ)² cos θi cos θm Q

at sin θm = sin θi ± λ f0: the grating equation, and the scalar
(4π a cos θ / λ)² / 4 = J1²(4π a cos θ/λ) for small a with Q -> R.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ConventionError
from .spectral import PSD2D

__all__ = [
    "BRDFResult",
    "TISResult",
    "ScatterCells",
    "polarisation_factor",
    "fresnel",
    "brdf",
    "tis",
    "cell_scatter",
]

_POLS = ("s", "p", "unpolarised")
_MODES = ("reflection", "transmission")


# ---------------------------------------------------------------------------
# optics
# ---------------------------------------------------------------------------

def _check_pol(p: Any) -> str:
    s = str(p).strip().lower().replace("unpolarized", "unpolarised")
    if s in ("u", "unpol", "none", "natural"):
        s = "unpolarised"
    if s not in _POLS:
        raise ConventionError(f"polarisation must be one of {_POLS}, got {p!r}")
    return s


def fresnel(theta_i_rad: Any, eps: complex) -> tuple[np.ndarray, np.ndarray]:
    """Fresnel power reflectances (R_s, R_p) from air onto a medium of permittivity ε."""
    t = np.asarray(theta_i_rad, dtype=np.float64)
    c = np.cos(t)
    q = np.sqrt(complex(eps) - np.sin(t) ** 2 + 0j)
    rs = (c - q) / (c + q)
    rp = (eps * c - q) / (eps * c + q)
    return np.abs(rs) ** 2, np.abs(rp) ** 2


def polarisation_factor(theta_i_rad: Any, theta_s_rad: Any, phi_s_rad: Any,
                        polarisation: str = "unpolarised", *, eps: complex | None = None,
                        conductor: bool = False) -> np.ndarray:
    """Rayleigh-Rice polarisation factor Q (module docstring), summed over scattered states.

    Parameters
    ----------
    theta_i_rad, theta_s_rad, phi_s_rad : array_like
        Incidence, scatter polar and scatter azimuth angles, radians (broadcast).
    polarisation : {"s", "p", "unpolarised"}
        Incident polarisation; the scattered light is summed over s and p.
    eps : complex
        Relative permittivity of the reflecting medium (n² for a dielectric).
    conductor : bool
        Perfect conductor (the |ε| -> inf limit) instead of ``eps``.
    """
    pol = _check_pol(polarisation)
    ti = np.asarray(theta_i_rad, dtype=np.float64)
    ts = np.asarray(theta_s_rad, dtype=np.float64)
    ps = np.asarray(phi_s_rad, dtype=np.float64)
    ci, cs = np.cos(ti), np.cos(ts)
    si, ss = np.sin(ti), np.sin(ts)
    cp, sp = np.cos(ps), np.sin(ps)
    if conductor:
        q_ss = cp ** 2
        q_sp = (sp / cs) ** 2
        q_ps = (sp / ci) ** 2
        q_pp = ((cp - si * ss) / (ci * cs)) ** 2
    else:
        if eps is None:
            raise ConventionError("give the permittivity eps (n**2) or conductor=True")
        e = complex(eps)
        qi = np.sqrt(e - si ** 2 + 0j)
        qs = np.sqrt(e - ss ** 2 + 0j)
        em1 = e - 1.0
        q_ss = np.abs(em1 * cp / ((ci + qi) * (cs + qs))) ** 2
        q_sp = np.abs(em1 * qs * sp / ((ci + qi) * (e * cs + qs))) ** 2
        q_ps = np.abs(em1 * qi * sp / ((e * ci + qi) * (cs + qs))) ** 2
        q_pp = np.abs(em1 * (qs * qi * cp - e * si * ss) / ((e * ci + qi) * (e * cs + qs))) ** 2
    q_s = q_ss + q_sp
    q_p = q_pp + q_ps
    if pol == "s":
        return q_s
    if pol == "p":
        return q_p
    return 0.5 * (q_s + q_p)


@dataclass(frozen=True)
class _Optics:
    mode: str
    polarisation: str
    eps: complex | None
    conductor: bool
    n: float | None
    description: str


def _optics(mode: str, polarisation: str, wavelength_nm: float, material: str | None,
            n: Any, surface: str | None) -> _Optics:
    md = str(mode).strip().lower()
    if md not in _MODES:
        raise ConventionError(f"mode must be one of {_MODES}, got {mode!r}")
    pol = _check_pol(polarisation)
    sf = None if surface is None else str(surface).strip().lower()
    if sf not in (None, "dielectric", "conductor"):
        raise ConventionError(f"surface must be 'dielectric' or 'conductor', got {surface!r}")
    if sf == "conductor":
        if md == "transmission":
            raise ConventionError("a perfect conductor does not transmit")
        if material is not None or n is not None:
            raise ConventionError("give either surface='conductor' or a material / n")
        return _Optics(md, pol, None, True, None,
                       "perfect conductor (Rayleigh-Rice |eps| -> inf limit)")
    if material is not None and n is not None:
        raise ConventionError("give either material or n, not both")
    if material is not None:
        from .materials import refractive_index

        nn: complex = complex(refractive_index(material, wavelength_nm))
        src = f"{material}: n = {nn.real:.5f} at {wavelength_nm:g} nm (metrology.materials)"
    elif n is not None:
        nn = complex(n)
        src = f"n = {nn.real:g}{'' if nn.imag == 0 else f' + {nn.imag:g}i'} (given)"
    else:
        raise ConventionError("give material (e.g. 'CaF2'), n, or surface='conductor'")
    if not (nn.real > 0 and nn.imag >= 0 and math.isfinite(nn.real) and math.isfinite(nn.imag)):
        raise ConventionError(f"the refractive index must have a positive real part and a "
                              f"non-negative imaginary part, got {n!r}")
    if md == "transmission" and nn.imag != 0:
        raise ConventionError("transmission needs a real (non-absorbing) index")
    return _Optics(md, pol, nn * nn, False, nn.real if nn.imag == 0 else None, src)


def _check_wavelength(w: Any) -> float:
    v = float(w)
    if not (math.isfinite(v) and v > 0):
        raise ConventionError(f"wavelength_nm must be > 0, got {w!r}")
    return v


def _check_incidence(a: Any) -> float:
    v = float(a)
    if not (math.isfinite(v) and 0.0 <= v < 90.0):
        raise ConventionError(f"incidence_deg must be in [0, 90), got {a!r}")
    return math.radians(v)


def _specular(opt: _Optics, ti: float) -> float:
    """Specular reflectance (reflection) or transmittance (transmission) for the polarisation."""
    if opt.conductor:
        return 1.0
    rs, rp = fresnel(ti, opt.eps)
    rs, rp = float(rs), float(rp)
    if opt.mode == "transmission":
        rs, rp = 1.0 - rs, 1.0 - rp
    return {"s": rs, "p": rp, "unpolarised": 0.5 * (rs + rp)}[opt.polarisation]


def _delta_t(opt: _Optics, ti: float) -> float:
    """Phase factor Δ = n cos θt - cos θi of the transmitted wave."""
    n = float(opt.n)
    st = math.sin(ti) / n
    return n * math.sqrt(1.0 - st * st) - math.cos(ti)


def _factor(opt: _Optics, ti: float, ts: np.ndarray, ps: np.ndarray) -> np.ndarray:
    """BRDF / PSD2 · λ⁴ / (16 π²) generalised: the angular factor of each mode."""
    if opt.mode == "reflection":
        q = polarisation_factor(ti, ts, ps, opt.polarisation, eps=opt.eps,
                                conductor=opt.conductor)
        return 16.0 * math.pi ** 2 * math.cos(ti) * np.cos(ts) * q
    d = _delta_t(opt, ti)
    return np.full(np.broadcast(ts, ps).shape, 4.0 * math.pi ** 2 * d * d * _specular(opt, ti))


# ---------------------------------------------------------------------------
# PSD sources
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class _Source:
    psd2: Callable[[np.ndarray], np.ndarray] | None  # isotropic PSD2(|f|), nm² mm²
    covered: Callable[[np.ndarray], np.ndarray]
    band_var: Callable[[float, float], tuple[float, str, str]]  # (variance, coverage, reason)
    description: str
    range_per_mm: tuple[float, float]
    cells: PSD2D | None = None
    blocked: str = ""  # why no verdict may come from this PSD at all ("" when fine)


def _source(obj: Any, isotropic: bool, valid_range: tuple[float, float] | None) -> _Source:
    from .composite import CompositePSD

    if isinstance(obj, CompositePSD):
        if obj.kind != "radial":
            raise ConventionError("scatter needs the areal PSD: use a radial composite "
                                  "(kind='radial')")

        def psd2(f: np.ndarray) -> np.ndarray:
            with np.errstate(divide="ignore", invalid="ignore"):
                return obj.psd_at(f) / (2.0 * math.pi * f)

        def bvar(lo: float, hi: float) -> tuple[float, str, str]:
            r = obj.band_rms(lo, hi)
            return r.rms_nm ** 2, r.coverage if r.measurable or r.coverage != "full" else \
                "partial", r.reason

        return _Source(psd2, obj.covered, bvar,
                       f"composite radial PSD ({', '.join(obj.instruments)})",
                       (obj.f_min_per_mm, obj.f_max_per_mm),
                       blocked="" if obj.measurable else
                       f"the composite PSD is not measurable: {obj.reason}")
    if isinstance(obj, PSD2D):
        fmin, fmax = (obj.f_min_per_mm, obj.f_max_per_mm) if valid_range is None else \
            tuple(float(v) for v in valid_range)

        def cov(f: np.ndarray) -> np.ndarray:
            f = np.asarray(f, dtype=np.float64)
            return (f >= fmin * (1 - 1e-12)) & (f < fmax * (1 + 1e-12))

        def bvar2(lo: float, hi: float) -> tuple[float, str, str]:
            from .spectral import band_rms

            r = band_rms(obj, lo, hi, valid_range_per_mm=(fmin, fmax))
            return r.rms_nm ** 2, r.coverage, r.reason

        psd2 = None
        if isotropic:
            az = obj.azimuthal_average(bins="log", per_decade=20)
            ok = (az.counts > 0) & np.isfinite(az.values) & (az.values > 0) & \
                (az.f_mean_per_mm > 0)
            lf, lv = np.log(az.f_mean_per_mm[ok]), np.log(az.values[ok])

            def psd2(f: np.ndarray) -> np.ndarray:  # noqa: F811
                f = np.asarray(f, dtype=np.float64)
                with np.errstate(divide="ignore"):
                    out = np.exp(np.interp(np.log(f), lf, lv))
                return np.where(cov(f), out, np.nan)

        return _Source(psd2, cov, bvar2, f"2-D PSD ({obj.window})" +
                       (" azimuthally averaged (isotropic)" if isotropic else
                        ", cell by cell"), (fmin, fmax), None if isotropic else obj)
    if hasattr(obj, "psd2d"):  # PowerLaw / ABC model
        lo_m = float(getattr(obj, "f_lo_per_mm", 0.0))
        hi_m = float(getattr(obj, "f_hi_per_mm", math.inf))
        if valid_range is not None:
            lo_m, hi_m = (float(v) for v in valid_range)
        return _model_source(obj.psd2d, lo_m, hi_m, f"model {obj!r}",
                             getattr(obj, "band_variance_nm2", None))
    if callable(obj):
        lo_m, hi_m = (0.0, math.inf) if valid_range is None else \
            tuple(float(v) for v in valid_range)
        return _model_source(obj, lo_m, hi_m, "isotropic PSD2(|f|) function", None)
    raise TypeError(f"expected a CompositePSD, PSD2D, PSD model or callable PSD2(|f|), got "
                    f"{type(obj).__name__}")


def _model_source(fn: Callable, lo_m: float, hi_m: float, desc: str,
                  closed: Callable | None) -> _Source:
    def cov(f: np.ndarray) -> np.ndarray:
        f = np.asarray(f, dtype=np.float64)
        return (f >= lo_m) & (f <= hi_m) & (f > 0)

    def psd2(f: np.ndarray) -> np.ndarray:
        f = np.asarray(f, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            v = np.asarray(fn(np.where(f > 0, f, 1.0)), dtype=np.float64)
        return np.where(cov(f), v, np.nan)

    def bvar(lo: float, hi: float) -> tuple[float, str, str]:
        c_lo, c_hi = max(lo, lo_m), min(hi, hi_m)
        reasons = []
        if lo < lo_m:
            reasons.append(f"the PSD starts at {lo_m:g}/mm")
        if hi > hi_m:
            reasons.append(f"the PSD ends at {hi_m:g}/mm")
        if not c_lo < c_hi:
            return math.nan, "none", "; ".join(reasons)
        if closed is not None:
            v = float(closed(c_lo, c_hi, "areal"))
        else:
            from scipy import integrate

            v = integrate.quad(lambda f: 2 * math.pi * f * float(psd2(np.array(f))),
                               c_lo, c_hi, limit=400)[0]
        return v, ("partial" if reasons else "full"), "; ".join(reasons)

    return _Source(psd2, cov, bvar, desc, (lo_m, hi_m))


# ---------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class BRDFResult:
    """BRDF (reflection) or BTDF (transmission) versus scatter direction.

    Attributes
    ----------
    theta_s_deg, azimuth_deg : ndarray (n,)
        Scatter directions asked for (in-plane negative angles kept as given).
    fx_per_mm, fy_per_mm, f_per_mm : ndarray (n,)
        Surface frequency each direction scatters from (|f|), cycles/mm; NaN
        for evanescent directions.
    values_sr : ndarray (n,)
        BRDF / BTDF, sr⁻¹ (NaN where the PSD does not cover |f|).
    q : ndarray (n,)
        Reflection: the polarisation factor Q; transmission: Δ² T.
    covered : ndarray (n,) of bool
    measurable : bool
        Every direction covered.
    reason : str
    wavelength_nm, incidence_deg : float
    polarisation, mode, model, optics, source : str
    """

    theta_s_deg: np.ndarray
    azimuth_deg: np.ndarray
    fx_per_mm: np.ndarray
    fy_per_mm: np.ndarray
    f_per_mm: np.ndarray
    values_sr: np.ndarray
    q: np.ndarray
    covered: np.ndarray
    measurable: bool
    reason: str
    wavelength_nm: float
    incidence_deg: float
    polarisation: str
    mode: str
    model: str
    optics: str
    source: str
    unit: str = "1/sr"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN as None)."""
        def jl(a: np.ndarray) -> list:
            return [float(v) if math.isfinite(v) else None for v in np.asarray(a, float)]

        return {"theta_s_deg": jl(self.theta_s_deg), "azimuth_deg": jl(self.azimuth_deg),
                "f_per_mm": jl(self.f_per_mm), "values_sr": jl(self.values_sr),
                "covered": self.covered.tolist(), "measurable": self.measurable,
                "reason": self.reason, "wavelength_nm": self.wavelength_nm,
                "incidence_deg": self.incidence_deg, "polarisation": self.polarisation,
                "mode": self.mode, "model": self.model, "optics": self.optics,
                "source": self.source, "unit": self.unit}


@dataclass(frozen=True)
class TISResult:
    """Total integrated scatter into a collection cone.

    Attributes
    ----------
    tis : float
        Davies / Bennett-Porteus: (4π cos θi σ/λ)² (reflection) or
        (2π Δ σ/λ)² (transmission), relative to the specular power.
    sigma_nm : float
        Areal band RMS over ``band_per_mm``.
    band_per_mm : (float, float)
        [sin θ1 / λ, sin θ2 / λ].
    tis_rayleigh_rice : float or None
        ∫_cone BRDF cos θs dΩ / specular reflectance (transmittance); None
        without optics (material / n / surface).
    scatter_fraction : float or None
        ∫_cone BRDF cos θs dΩ: share of the incident power.
    specular : float or None
        Specular reflectance (transmittance) used.
    f_range_per_mm : (float, float)
        Frequencies the cone maps to at this incidence (min and max |f|; for a
        full-azimuth cone from the distance of the specular point to the
        cone's annulus in direction cosines).
    coverage : {"full", "partial", "none"}
        Whether the PSD covers ``f_range_per_mm`` (and every frequency of the
        Rayleigh-Rice integral); a cone holding the specular direction (f = 0)
        is never fully covered.
    measurable : bool
        ``coverage == "full"``.
    reason : str
    collection_deg, azimuth_deg : (float, float)
    wavelength_nm, incidence_deg : float
    mode, polarisation, optics, source, model : str
    """

    tis: float
    sigma_nm: float
    band_per_mm: tuple[float, float]
    tis_rayleigh_rice: float | None
    scatter_fraction: float | None
    specular: float | None
    f_range_per_mm: tuple[float, float]
    coverage: str
    measurable: bool
    reason: str
    collection_deg: tuple[float, float]
    azimuth_deg: tuple[float, float]
    wavelength_nm: float
    incidence_deg: float
    mode: str
    polarisation: str
    optics: str
    source: str
    model: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for k in ("band_per_mm", "f_range_per_mm", "collection_deg", "azimuth_deg"):
            d[k] = [float(v) if math.isfinite(v) else None for v in d[k]]
        for k in ("tis", "sigma_nm"):
            d[k] = float(d[k]) if math.isfinite(d[k]) else None
        return d


@dataclass(frozen=True)
class ScatterCells:
    """First-order scatter of each cell of a 2-D periodogram (propagating cells only).

    Attributes
    ----------
    theta_s_deg, azimuth_deg : ndarray (m,)
        Direction of each cell's scatter.
    fx_per_mm, fy_per_mm : ndarray (m,)
    power : ndarray (m,)
        Share of the incident power scattered by the cell:
        (16 π² / λ²) cos θi cos θs Q PSD2 Δf_x Δf_y (reflection).
    """

    theta_s_deg: np.ndarray
    azimuth_deg: np.ndarray
    fx_per_mm: np.ndarray
    fy_per_mm: np.ndarray
    power: np.ndarray
    wavelength_nm: float
    incidence_deg: float
    mode: str
    polarisation: str


# ---------------------------------------------------------------------------
# public functions
# ---------------------------------------------------------------------------

def _model_text(opt: _Optics) -> str:
    if opt.mode == "reflection":
        return ("Rayleigh-Rice first order: BRDF = 16 pi^2 / lambda^4 cos(ti) cos(ts) Q "
                "PSD2(fx, fy) (Stover 2012; Church, Jenkinson & Zavada 1979)")
    return ("scalar first order (phase screen): BTDF = 4 pi^2 (n cos(tt) - cos(ti))^2 / "
            "lambda^4 T(ti) PSD2(fx, fy); small-angle limit, vector factors not modelled")


def _directions(theta_s_deg: Any, azimuth_deg: Any) -> tuple[np.ndarray, np.ndarray,
                                                             np.ndarray, np.ndarray]:
    th = np.asarray(theta_s_deg, dtype=np.float64)
    az = np.asarray(azimuth_deg, dtype=np.float64)
    th, az = np.broadcast_arrays(th, az)
    if not (np.all(np.isfinite(th)) and np.all(np.isfinite(az))):
        raise ConventionError("scatter angles must be finite")
    if np.any(np.abs(th) >= 90.0):
        raise ConventionError("scatter angles must lie in (-90, 90) degrees")
    ts = np.radians(np.abs(th))
    ps = np.radians(np.where(th < 0, az + 180.0, az))
    return th.copy(), az.copy(), ts, ps


def brdf(psd_source: Any, wavelength_nm: float, scatter_deg: Any, *,
         incidence_deg: float = 0.0, azimuth_deg: Any = 0.0,
         polarisation: str = "unpolarised", mode: str = "reflection",
         material: str | None = None, n: Any = None, surface: str | None = None,
         isotropic: bool = True,
         valid_range_per_mm: tuple[float, float] | None = None) -> BRDFResult:
    """BRDF (reflection) or BTDF (transmission) from a PSD, versus scatter angle.

    Parameters
    ----------
    psd_source : CompositePSD (radial), PSD2D, PowerLaw / ABC, or callable
        The surface's PSD. A composite or model is isotropic; a PSD2D is
        azimuthally averaged (``isotropic=True``) or interpolated bilinearly
        in (f_x, f_y) (``isotropic=False``). A callable gives PSD2(|f|) in
        nm² mm² for |f| in cycles/mm.
    wavelength_nm : float
        Vacuum wavelength, nm (e.g. 266).
    scatter_deg : array_like (n,)
        Scatter polar angles, degrees, in (-90, 90) (negative: φs + 180°).
    incidence_deg : float
        Incidence angle, degrees, in [0, 90).
    azimuth_deg : array_like
        Scatter azimuth from the plane of incidence, degrees (0: in plane,
        specular side); broadcast against ``scatter_deg``.
    polarisation : {"s", "p", "unpolarised"}
        Incident polarisation (scattered light summed over polarisations).
    mode : {"reflection", "transmission"}
    material : str, optional
        Material name for :func:`metrology.materials.refractive_index` (e.g. "CaF2").
    n : float or complex, optional
        Refractive index instead of ``material``.
    surface : {"dielectric", "conductor"}, optional
        "conductor": perfect conductor (reflection only).
    isotropic : bool
        For a PSD2D input (see above).
    valid_range_per_mm : (f_min, f_max), optional
        Frequencies the PSD is trusted over (PSD2D / model inputs).

    Returns
    -------
    BRDFResult
        NaN (and ``covered`` False) where the PSD does not cover the
        frequency a direction needs, or the direction is evanescent.
    """
    lam = _check_wavelength(wavelength_nm)
    ti = _check_incidence(incidence_deg)
    opt = _optics(mode, polarisation, lam, material, n, surface)
    src = _source(psd_source, isotropic, valid_range_per_mm)
    th, az, ts, ps = _directions(scatter_deg, azimuth_deg)
    lam_mm = lam * 1e-6
    fx = (np.sin(ts) * np.cos(ps) - math.sin(ti)) / lam_mm
    fy = np.sin(ts) * np.sin(ps) / lam_mm
    f = np.hypot(fx, fy)
    if src.cells is not None:
        p2 = _interp_cells(src.cells, fx, fy)
    else:
        p2 = src.psd2(f)
    cov = src.covered(f) & np.isfinite(p2)
    fac = _factor(opt, ti, ts, ps)
    vals = np.where(cov, fac * p2 / (lam * lam * lam_mm * lam_mm), np.nan)
    bad = np.flatnonzero(~cov)
    reasons = [src.blocked] if src.blocked else []
    if bad.size:
        reasons.append(
            f"{bad.size} of {th.size} directions need frequencies the PSD does not cover "
            f"(e.g. theta_s = {th.flat[bad[0]]:g} deg -> {f.flat[bad[0]]:g}/mm; PSD "
            f"covers {src.range_per_mm[0]:g}-{src.range_per_mm[1]:g}/mm)")
    reason = "; ".join(reasons)
    if opt.mode == "reflection":
        q = polarisation_factor(ti, ts, ps, opt.polarisation, eps=opt.eps,
                                conductor=opt.conductor)
    else:
        q = fac / (4.0 * math.pi ** 2)  # Δ² T
    return BRDFResult(th, np.broadcast_to(az, th.shape).copy(), fx, fy, f, vals,
                      np.asarray(q, dtype=np.float64), cov, bool(bad.size == 0 and not src.blocked),
                      reason, lam,
                      math.degrees(ti), opt.polarisation, opt.mode, _model_text(opt),
                      opt.description, src.description,
                      "1/sr (BRDF)" if opt.mode == "reflection" else "1/sr (BTDF)")


def _interp_cells(p: PSD2D, fx: np.ndarray, fy: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of the full-plane periodogram at (fx, fy) (NaN outside)."""
    v = p.values
    gx, gy = p.fx_per_mm, p.fy_per_mm
    ix = (fx - gx[0]) / p.dfx_per_mm
    iy = (fy - gy[0]) / p.dfy_per_mm
    ok = (ix >= 0) & (ix <= gx.size - 1) & (iy >= 0) & (iy <= gy.size - 1)
    out = np.full(fx.shape, np.nan)
    i0 = np.clip(np.floor(ix).astype(int), 0, gx.size - 2)
    j0 = np.clip(np.floor(iy).astype(int), 0, gy.size - 2)
    tx, ty = ix - i0, iy - j0
    val = ((1 - tx) * (1 - ty) * v[j0, i0] + tx * (1 - ty) * v[j0, i0 + 1]
           + (1 - tx) * ty * v[j0 + 1, i0] + tx * ty * v[j0 + 1, i0 + 1])
    out[ok] = val[ok]
    return out


def cell_scatter(p: PSD2D, wavelength_nm: float, *, incidence_deg: float = 0.0,
                 polarisation: str = "unpolarised", mode: str = "reflection",
                 material: str | None = None, n: Any = None,
                 surface: str | None = None) -> ScatterCells:
    """First-order scatter of every propagating cell of a 2-D periodogram.

    Each cell (f_x, f_y) scatters ``(16 π² / λ²) cos θi cos θs Q PSD2 Δf_x Δf_y``
    of the incident power (reflection; transmission: ``4 π² Δ² T / λ² PSD2
    Δf_x Δf_y``) into the direction of the grating equation. Exact first order
    for the periodogram (a sinusoid's orders, a diffraction pattern).
    """
    if not isinstance(p, PSD2D):
        raise TypeError(f"expected a PSD2D, got {type(p).__name__}")
    lam = _check_wavelength(wavelength_nm)
    ti = _check_incidence(incidence_deg)
    opt = _optics(mode, polarisation, lam, material, n, surface)
    lam_mm = lam * 1e-6
    fx = p.fx_per_mm[None, :]
    fy = p.fy_per_mm[:, None]
    ux = math.sin(ti) + lam_mm * fx
    uy = lam_mm * fy * np.ones_like(ux)
    ux = ux * np.ones_like(uy)
    s2 = ux * ux + uy * uy
    prop = s2 < 1.0
    ts = np.arcsin(np.sqrt(s2[prop]))
    ps = np.arctan2(uy[prop], ux[prop])
    fac = _factor(opt, ti, ts, ps)
    power = fac * p.values[prop] * p.cell_area / (lam * lam)
    fxa = np.broadcast_to(fx, prop.shape)[prop]
    fya = np.broadcast_to(fy, prop.shape)[prop]
    return ScatterCells(np.degrees(ts), np.degrees(ps), fxa, fya, power, lam,
                        math.degrees(ti), opt.mode, opt.polarisation)


def tis(psd_source: Any, wavelength_nm: float, *, collection_deg: tuple[float, float],
        incidence_deg: float = 0.0, azimuth_deg: tuple[float, float] = (0.0, 360.0),
        polarisation: str = "unpolarised", mode: str = "reflection",
        material: str | None = None, n: Any = None, surface: str | None = None,
        isotropic: bool = True, valid_range_per_mm: tuple[float, float] | None = None,
        n_radial: int = 400, n_azimuth: int = 720) -> TISResult:
    """Total integrated scatter into the cone θ1 <= θs <= θ2 (and an azimuth range).

    Parameters
    ----------
    psd_source : CompositePSD, PSD2D, model or callable
        As in :func:`brdf`.
    wavelength_nm : float
    collection_deg : (θ1, θ2)
        Polar angles of the collection cone from the surface normal, degrees,
        0 <= θ1 < θ2 < 90.
    incidence_deg : float
    azimuth_deg : (φ1, φ2)
        Azimuth range of the collection, degrees from the plane of incidence
        (default the full circle).
    polarisation, mode, material, n, surface, isotropic, valid_range_per_mm
        As in :func:`brdf`. Without material / n / surface the Rayleigh-Rice
        integral is not computed (reflection Davies TIS needs none;
        transmission needs n).
    n_radial, n_azimuth : int
        Quadrature points of the frequency-space integral.

    Returns
    -------
    TISResult
        ``measurable`` only when the PSD covers every frequency the cone maps to.
    """
    lam = _check_wavelength(wavelength_nm)
    ti = _check_incidence(incidence_deg)
    t1, t2 = (float(v) for v in collection_deg)
    if not (0.0 <= t1 < t2 < 90.0):
        raise ConventionError(f"collection_deg must satisfy 0 <= theta1 < theta2 < 90, got "
                              f"{collection_deg!r}")
    a1, a2 = (float(v) for v in azimuth_deg)
    if not (a2 > a1 and a2 - a1 <= 360.0 + 1e-9):
        raise ConventionError(f"azimuth_deg must be (phi1, phi2) with 0 < phi2 - phi1 <= 360, "
                              f"got {azimuth_deg!r}")
    full_az = a2 - a1 >= 360.0 - 1e-9
    have_optics = material is not None or n is not None or surface is not None
    if not have_optics and str(mode).lower() == "transmission":
        raise ConventionError("transmission TIS needs the index: give material or n")
    opt = _optics(mode, polarisation, lam, material, n, surface) if have_optics else None
    src = _source(psd_source, isotropic, valid_range_per_mm)
    lam_mm = lam * 1e-6
    s1, s2, si = math.sin(math.radians(t1)), math.sin(math.radians(t2)), math.sin(ti)
    band = (s1 / lam_mm, s2 / lam_mm)
    # frequencies the cone maps to: distance from the specular point (si, 0) to the
    # annulus s1 <= r <= s2 in the direction-cosine plane (full azimuth)
    fr = (max(0.0, s1 - si, si - s2) / lam_mm, (s2 + si) / lam_mm)
    var, cov_band, reason_band = src.band_var(*band)
    sigma = math.sqrt(var) if math.isfinite(var) else math.nan
    if opt is None or opt.mode == "reflection":
        davies = (4.0 * math.pi * math.cos(ti) * sigma / lam) ** 2
    else:
        davies = (2.0 * math.pi * _delta_t(opt, ti) * sigma / lam) ** 2
    reasons = []
    rr = frac = spec = None
    if opt is not None:
        frac, fr_q, cov_rr, why = _cone_integral(src, opt, lam, ti, (s1, s2), (a1, a2),
                                                 full_az, n_radial, n_azimuth)
        if fr_q is not None and all(math.isfinite(v) for v in fr_q):
            fr = fr_q
        spec = _specular(opt, ti)
        rr = frac / spec if spec > 0 else math.nan
        if why:
            reasons.append(why)
    else:
        cov_rr = "full"
    # measurability: the frequencies the cone actually maps to
    if fr[0] <= 0:
        reasons.append("the collection cone contains the specular direction (f = 0)")
        cov_act = "partial"
    else:
        _, cov_act, why = src.band_var(fr[0], fr[1])
        if why:
            reasons.append(f"the cone maps to {fr[0]:g}-{fr[1]:g}/mm: {why}")
    if ti == 0.0 and reason_band:
        reasons.append(reason_band)
    elif ti > 0.0 and cov_band != "full":
        reasons.append("the Davies value uses the normal-incidence band "
                       f"{band[0]:g}-{band[1]:g}/mm, not fully covered ({reason_band}); "
                       "use tis_rayleigh_rice at oblique incidence")
    if src.blocked:
        reasons.insert(0, src.blocked)
        cov_act = "partial" if cov_act == "full" else cov_act
    if "none" in (cov_act, cov_rr):
        coverage = "none"
    elif cov_act == "full" and cov_rr == "full":
        coverage = "full"
    else:
        coverage = "partial"
    model = ("Davies TIS (4 pi cos(ti) sigma / lambda)^2 over f in [sin t1, sin t2] / lambda"
             if opt is None or opt.mode == "reflection" else
             "TIS (2 pi (n cos(tt) - cos(ti)) sigma / lambda)^2 over f in [sin t1, sin t2] / "
             "lambda")
    if opt is not None:
        model += "; Rayleigh-Rice cone integral: " + _model_text(opt)
    return TISResult(
        tis=davies, sigma_nm=sigma, band_per_mm=band, tis_rayleigh_rice=rr,
        scatter_fraction=frac, specular=spec, f_range_per_mm=fr, coverage=coverage,
        measurable=coverage == "full", reason="; ".join(dict.fromkeys(r for r in reasons if r)),
        collection_deg=(t1, t2), azimuth_deg=(a1, a2), wavelength_nm=lam,
        incidence_deg=math.degrees(ti), mode="reflection" if opt is None else opt.mode,
        polarisation="unpolarised" if opt is None else opt.polarisation,
        optics="none given (Davies only)" if opt is None else opt.description,
        source=src.description, model=model)


def _cone_integral(src: _Source, opt: _Optics, lam: float, ti: float,
                   s12: tuple[float, float], a12: tuple[float, float], full_az: bool,
                   n_r: int, n_a: int) -> tuple[float, tuple[float, float] | None, str, str]:
    """∫_cone BRDF cos θs dΩ = ∫ factor · PSD2 d²f / λ_nm² over the cone's frequencies.

    Frequency space, polar about the specular point: f = ρ (cos ψ, sin ψ); the
    direction cosines are (sin θi + λ f_x, λ f_y). Log-spaced ρ (Gauss-Legendre in
    ln ρ per segment), uniform ψ; the cone is an indicator on the grid.
    """
    lam_mm = lam * 1e-6
    s1, s2 = s12
    si = math.sin(ti)
    if src.cells is not None:
        cells = src.cells
        fx = cells.fx_per_mm[None, :]
        fy = cells.fy_per_mm[:, None]
        ux = si + lam_mm * fx + 0 * fy
        uy = lam_mm * fy + 0 * fx
        sel = _in_cone(ux, uy, s1, s2, a12, full_az)
        f = np.hypot(fx + 0 * fy, fy + 0 * fx)[sel]
        ts = np.arcsin(np.sqrt(ux[sel] ** 2 + uy[sel] ** 2))
        ps = np.arctan2(uy[sel], ux[sel])
        p2 = cells.values[sel]
        cov = src.covered(f)
        fac = _factor(opt, ti, ts, ps)
        frac = float(np.sum(np.where(cov, fac * p2, 0.0))) * cells.cell_area / (lam * lam)
        fr = (float(f.min()), float(f.max())) if f.size else (math.nan, math.nan)
        why = "" if cov.all() else (f"{int((~cov).sum())} of {cov.size} periodogram cells in "
                                    "the cone lie outside the PSD's trusted range")
        return frac, fr, ("full" if cov.all() else "partial"), why
    r_lo = max(0.0, s1 - si, si - s2) / lam_mm
    r_hi = (s2 + si) / lam_mm
    if r_lo <= 0:
        r_lo = r_hi * 1e-6
    # Gauss-Legendre in ln rho over 8 segments
    xg, wg = np.polynomial.legendre.leggauss(max(4, n_r // 8))
    segs = np.linspace(math.log(r_lo), math.log(r_hi), 9)
    lr, wr = [], []
    for a, b in zip(segs[:-1], segs[1:], strict=True):
        lr.append(0.5 * (b - a) * xg + 0.5 * (a + b))
        wr.append(0.5 * (b - a) * wg)
    lr = np.concatenate(lr)
    wr = np.concatenate(wr)
    rho = np.exp(lr)
    psi = (np.arange(n_a) + 0.5) * (2 * math.pi / n_a)
    fx = rho[:, None] * np.cos(psi)[None, :]
    fy = rho[:, None] * np.sin(psi)[None, :]
    ux = si + lam_mm * fx
    uy = lam_mm * fy
    sel = _in_cone(ux, uy, s1, s2, a12, full_az)
    ts = np.arcsin(np.sqrt(np.minimum(ux ** 2 + uy ** 2, 1.0)))
    ps = np.arctan2(uy, ux)
    p2 = src.psd2(rho)  # isotropic
    cov_r = src.covered(rho) & np.isfinite(p2)
    need = sel.any(axis=1)
    miss = need & ~cov_r
    fac = _factor(opt, ti, ts, ps)
    integrand = np.where(sel & cov_r[:, None], fac * np.nan_to_num(p2)[:, None], 0.0)
    # d²f = rho drho dpsi = rho² dln(rho) dpsi
    # cos θs dΩ = λ_mm² d²f and d²f = ρ dρ dψ = ρ² d(ln ρ) dψ, so
    # ∫ BRDF cos θs dΩ = ∫ factor · PSD2 d²f / λ_nm²
    frac = float(np.sum(integrand * (rho ** 2 * wr)[:, None])) * (2 * math.pi / n_a) \
        / (lam * lam)
    fr = (float(rho[need].min()), float(rho[need].max())) if need.any() else (r_lo, r_hi)
    why = ""
    if miss.any():
        why = (f"the cone needs {rho[miss].min():g}-{rho[miss].max():g}/mm, which the PSD "
               f"does not cover (it covers {src.range_per_mm[0]:g}-{src.range_per_mm[1]:g}/mm)")
    return frac, fr, ("partial" if miss.any() else "full"), why


def _in_cone(ux: np.ndarray, uy: np.ndarray, s1: float, s2: float, a12: tuple[float, float],
             full_az: bool) -> np.ndarray:
    r2 = ux * ux + uy * uy
    sel = (r2 >= s1 * s1) & (r2 <= s2 * s2) & (r2 < 1.0)
    if not full_az:
        ph = np.degrees(np.arctan2(uy, ux)) % 360.0
        a1, a2 = a12
        a1m = a1 % 360.0
        span = a2 - a1
        sel &= ((ph - a1m) % 360.0) <= span
    return sel
