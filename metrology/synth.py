"""Synthetic CaF2-lens-like surfaces, their measurements, and the ground truth of each.

A :class:`Surface` is the deviation of one lens surface from its nominal
sphere, in the part's frame (x, y in mm from the part centre, y up as seen from
the front, heights in nm):

* **form**: Fringe Zernike terms Z1..Z37, rms-normalised, R_norm 27 mm about
  the part centre;
* **random structure**: isotropic Gaussian components, each an areal power law
  ``PSD2(f) = K f^-alpha`` [nm² mm²] switched on for ``f_lo <= |f| < f_hi``
  (typically a mid-spatial-frequency component with alpha = 3 and a roughness
  component with alpha = 2). Below the lowest cut-on (0.1 /mm by default)
  the surface is its Zernike form only;
* **tool marks**: periodic ripples that are deterministic functions of the
  part coordinates, so every measurement sees the same marks:
  :class:`TurningRipple` (concentric rings) and :class:`RasterRipple`
  (straight grooves at an angle).

Measurements (:func:`measure_fizeau`, :func:`measure_microscope`) sample that
surface on their own grid. The random components are synthesised per
measurement (:func:`metrology.synth_psd.synthesize`, on a grid ``pad`` times
larger than the field so the field is not periodic, then cropped): every map is
a realisation of the *same statistics*, not a crop of one common random
surface. Form and tool marks are evaluated at the true part coordinates.
Each measurement returns the noise-free, dropout-free map (``truth``) and the
measured one (instrument white noise, dropouts, invalid edge pixels).

:func:`truth_values` is an independent plain-NumPy evaluation of a spec's
criteria on a noise-free map (its own Zernike basis, its own full-plane FFT, its
own profile PSD and log bins), following the definitions of ``CONVENTIONS.md``
and the spec schema; it does not call :mod:`metrology.check`,
:mod:`metrology.spectral` or :func:`metrology.fit_zernike`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .errors import ConventionError
from .heightmap import HeightMap
from .synth_psd import PowerLaw, synthesize
from .zernike import zernike_surface
from .zernike_schemes import fringe_to_order

__all__ = [
    "RandomComponent",
    "TurningRipple",
    "RasterRipple",
    "Surface",
    "FizeauSetup",
    "MicroscopeSetup",
    "SyntheticMeasurement",
    "measure_fizeau",
    "measure_microscope",
    "synthesize_random",
    "zernike_basis",
    "truth_values",
    "model_expectations",
    "N_FRINGE",
]

#: number of Fringe terms of the form (Z1..Z37)
N_FRINGE = 37

# stream numbers of the SeedSequence children of one measurement
_STREAM_SURFACE, _STREAM_NOISE, _STREAM_DROPOUTS, _STREAM_EDGE, _STREAM_LEVEL = range(5)


# ---------------------------------------------------------------------------
# surface description
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class RandomComponent:
    """An isotropic Gaussian random component, areal ``PSD2 = k f^-alpha`` on a band.

    Attributes
    ----------
    k_nm2_mm2 : float
        K in nm² mm² (the areal 2-D PSD at |f| = 1 cycle/mm).
    alpha : float
        Exponent of the areal PSD (the radial PSD falls as f^(1-alpha), the
        profile PSD as f^(1-alpha)).
    f_lo_per_mm, f_hi_per_mm : float
        The component exists for ``f_lo <= |f| < f_hi`` only (cycles/mm).
    name : str
        Label for reports ("MSF", "roughness", ...).
    """

    k_nm2_mm2: float
    alpha: float
    f_lo_per_mm: float = 0.1
    f_hi_per_mm: float = math.inf
    name: str = ""

    def __post_init__(self) -> None:
        if not (self.k_nm2_mm2 > 0 and math.isfinite(self.k_nm2_mm2)):
            raise ConventionError(f"k_nm2_mm2 must be positive, got {self.k_nm2_mm2!r}")
        if not (0.0 < self.f_lo_per_mm < self.f_hi_per_mm):
            raise ConventionError("a random component needs 0 < f_lo_per_mm < f_hi_per_mm")

    @property
    def model(self) -> PowerLaw:
        """The power law as a :class:`~metrology.synth_psd.PowerLaw` (kind "areal")."""
        return PowerLaw(self.k_nm2_mm2, self.alpha, kind="areal",
                        f_lo_per_mm=self.f_lo_per_mm, f_hi_per_mm=self.f_hi_per_mm)

    def psd2d(self, f_per_mm: np.ndarray) -> np.ndarray:
        """Areal PSD2 [nm² mm²] at |f| (0 outside the component's band)."""
        f = np.asarray(f_per_mm, dtype=np.float64)
        inside = (f >= self.f_lo_per_mm) & (f < self.f_hi_per_mm)
        safe = np.where(inside, f, 1.0)
        return np.where(inside, self.k_nm2_mm2 * safe ** (-self.alpha), 0.0)

    def _clip(self, lo: float, hi: float) -> tuple[float, float] | None:
        a, b = max(lo, self.f_lo_per_mm), min(hi, self.f_hi_per_mm)
        return (a, b) if b > a else None

    def band_variance_nm2(self, f_lo_per_mm: float, f_hi_per_mm: float,
                          kind: str = "areal") -> float:
        """Analytic band variance (nm²) on an infinite plane (:meth:`PowerLaw.band_variance_nm2`).

        For ``kind="profile"`` the one-sided profile PSD of the *unbounded*
        power law is used, so it is exact only when the component extends from
        0 to infinity; the band limits of the component are applied to the
        profile frequency.
        """
        c = self._clip(f_lo_per_mm, f_hi_per_mm)
        if c is None:
            return 0.0
        return self.model.band_variance_nm2(c[0], c[1], kind=kind)

    def slope_variance_urad2(self, f_lo_per_mm: float, f_hi_per_mm: float) -> float:
        """Analytic RMS² of the gradient magnitude in the band: ∫ 2π f (2π f)² PSD2 df, µrad²."""
        c = self._clip(f_lo_per_mm, f_hi_per_mm)
        if c is None:
            return 0.0
        lo, hi = c
        e = 4.0 - self.alpha  # ∫ f^(3 - alpha) df
        integral = math.log(hi / lo) if abs(e) < 1e-12 else (hi ** e - lo ** e) / e
        return (2.0 * math.pi) ** 3 * self.k_nm2_mm2 * integral


class _SineRipple:
    """What a sinusoidal tool mark of ``period_mm`` and ``amplitude_nm`` contributes
    (for the turning ripple: far from its centre)."""

    period_mm: float
    amplitude_nm: float

    @property
    def frequency_per_mm(self) -> float:
        """Spatial frequency of the ripple, cycles/mm."""
        return 1.0 / self.period_mm

    @property
    def rms_nm(self) -> float:
        """RMS height: sine amplitude / √2, nm."""
        return abs(self.amplitude_nm) / math.sqrt(2.0)

    @property
    def slope_rms_urad(self) -> float:
        """RMS slope: 2π A / (P √2) (nm/mm = µrad)."""
        return 2.0 * math.pi * abs(self.amplitude_nm) / (self.period_mm * math.sqrt(2.0))


@dataclass(frozen=True)
class TurningRipple(_SineRipple):
    """Concentric rings left by a turning (or lathe-polishing) tool.

    ``z = amplitude · sin(2π r / period + phase)``, r the distance from
    ``centre_mm`` in part coordinates.
    """

    period_mm: float
    amplitude_nm: float
    phase_rad: float = 0.0
    centre_mm: tuple[float, float] = (0.0, 0.0)
    kind: str = field(default="turning", init=False)

    def height_nm(self, x_mm: np.ndarray, y_mm: np.ndarray) -> np.ndarray:
        r = np.hypot(x_mm - self.centre_mm[0], y_mm - self.centre_mm[1])
        return self.amplitude_nm * np.sin(2.0 * math.pi * r / self.period_mm + self.phase_rad)


@dataclass(frozen=True)
class RasterRipple(_SineRipple):
    """Straight grooves of a raster tool path.

    ``z = amplitude · sin(2π (x cos θ + y sin θ) / period + phase)``, θ =
    ``angle_deg`` counter-clockwise from +x (the direction across the grooves).
    """

    period_mm: float
    angle_deg: float
    amplitude_nm: float
    phase_rad: float = 0.0
    kind: str = field(default="raster", init=False)

    def height_nm(self, x_mm: np.ndarray, y_mm: np.ndarray) -> np.ndarray:
        t = math.radians(self.angle_deg)
        u = x_mm * math.cos(t) + y_mm * math.sin(t)
        return self.amplitude_nm * np.sin(2.0 * math.pi * u / self.period_mm + self.phase_rad)


ToolMark = TurningRipple | RasterRipple


@dataclass(frozen=True)
class Surface:
    """One lens surface: Zernike form + random components + tool marks (see module doc).

    Attributes
    ----------
    zernike_fringe_nm : tuple of 37 float
        Z1..Z37 (Fringe), nm, rms normalisation, R_norm ``r_norm_mm`` about the
        part centre.
    random : tuple of RandomComponent
    tool_marks : tuple of TurningRipple / RasterRipple
    r_norm_mm : float
    base_radius_mm : float
        Radius of the nominal sphere (convex). The Fizeau test nulls it; a
        microscope sees the local cap of it at each site.
    """

    zernike_fringe_nm: tuple[float, ...]
    random: tuple[RandomComponent, ...] = ()
    tool_marks: tuple[ToolMark, ...] = ()
    r_norm_mm: float = 27.0
    base_radius_mm: float = 200.0

    def __post_init__(self) -> None:
        if len(self.zernike_fringe_nm) != N_FRINGE:
            raise ConventionError(f"give {N_FRINGE} Fringe coefficients (Z1..Z37), "
                                  f"got {len(self.zernike_fringe_nm)}")

    def psd2d(self, f_per_mm: np.ndarray) -> np.ndarray:
        """Areal PSD2 [nm² mm²] of the random part (sum of the components)."""
        f = np.asarray(f_per_mm, dtype=np.float64)
        out = np.zeros(f.shape)
        for c in self.random:
            out = out + c.psd2d(f)
        return out

    def marks_nm(self, x_mm: np.ndarray, y_mm: np.ndarray) -> np.ndarray:
        """Height of the tool marks at part coordinates (mm), nm."""
        out = np.zeros(np.broadcast(x_mm, y_mm).shape)
        for m in self.tool_marks:
            out = out + m.height_nm(x_mm, y_mm)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (units in the key names)."""
        return {
            "zernike": {"scheme": "fringe", "normalisation": "rms", "r_norm_mm": self.r_norm_mm,
                        "centre_mm": [0.0, 0.0],
                        "coefficients_nm": {f"Z{j + 1}": float(c)
                                            for j, c in enumerate(self.zernike_fringe_nm)}},
            "random_components": [
                {"name": c.name, "psd": "areal PSD2 = k f^-alpha [nm^2 mm^2]",
                 "k_nm2_mm2": c.k_nm2_mm2, "alpha": c.alpha, "f_lo_per_mm": c.f_lo_per_mm,
                 "f_hi_per_mm": None if math.isinf(c.f_hi_per_mm) else c.f_hi_per_mm}
                for c in self.random],
            "tool_marks": [_mark_dict(m) for m in self.tool_marks],
            "base_radius_mm": self.base_radius_mm,
        }


def _mark_dict(m: ToolMark) -> dict[str, Any]:
    d = asdict(m)
    d["kind"] = m.kind
    d["formula"] = ("A sin(2 pi r / P + phase), r from centre_mm" if m.kind == "turning" else
                    "A sin(2 pi (x cos(angle) + y sin(angle)) / P + phase)")
    return d


# ---------------------------------------------------------------------------
# measurement set-ups
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class FizeauSetup:
    """A full-aperture phase-shifting Fizeau map of the part (part centre at the array centre).

    Attributes
    ----------
    shape : (ny, nx)
    dx_mm : float
        Square pixels.
    measured_diameter_mm : float
        Diameter of the measured (valid) circle.
    noise_rms_nm : float
        White Gaussian instrument noise, per pixel.
    alignment_nm : (piston, tilt_x, tilt_y)
        Fringe Z1, Z2, Z3 added for the part's alignment in the cavity (nm, rms-normalised).
    dropout_fraction : float
        Fraction of the pixels inside the measured circle lost at random
        (single pixels and small clusters).
    edge_band_mm, edge_invalid_fraction : float
        In the outer ``edge_band_mm`` of the measured circle this fraction of
        the pixels is invalid (edge diffraction).
    pad : int
        The random part is synthesised on a grid ``pad`` times larger.
    """

    shape: tuple[int, int] = (560, 560)
    dx_mm: float = 0.1
    measured_diameter_mm: float = 55.5
    noise_rms_nm: float = 0.05
    alignment_nm: tuple[float, float, float] = (4.0, 25.0, -12.0)
    dropout_fraction: float = 0.0
    edge_band_mm: float = 0.3
    edge_invalid_fraction: float = 0.5
    wavelength_nm: float = 632.8
    pad: int = 1


@dataclass(frozen=True)
class MicroscopeSetup:
    """A coherence-scanning (white-light) microscope map at one site of the part.

    Attributes
    ----------
    objective : str
        "5x", "50x" (recorded in the metadata).
    shape : (ny, nx)
    dx_mm : float
        Square pixels.
    site_mm : (x, y)
        Position of the field centre on the part (part coordinates, mm).
    noise_rms_nm : float
        White Gaussian noise per pixel.
    level_tilt_nm : float
        RMS of the random residual levelling (piston and tilt, nm at the field edge).
    dropout_fraction : float
        Fraction of single pixels lost.
    pad : int
        The random part is synthesised on a grid ``pad`` times larger.
    """

    objective: str
    shape: tuple[int, int]
    dx_mm: float
    site_mm: tuple[float, float]
    noise_rms_nm: float = 0.02
    level_tilt_nm: float = 20.0
    dropout_fraction: float = 0.0
    pad: int = 4


@dataclass
class SyntheticMeasurement:
    """What one synthetic measurement produced.

    Attributes
    ----------
    measured : HeightMap
        With noise, dropouts and invalid edge pixels; what the file holds.
    truth : HeightMap
        The same surface without noise, dropouts or ragged edge (full
        measured region valid).
    origin_mm : (x, y)
        Part coordinates of the map's array centre.
    stats : dict
        Counts of invalid pixels, noise realised, etc.
    """

    measured: HeightMap
    truth: HeightMap
    origin_mm: tuple[float, float]
    stats: dict[str, Any]


def _rngs(seed: int | Sequence[int]) -> list[np.random.Generator]:
    ss = np.random.SeedSequence(seed)
    return [np.random.default_rng(s) for s in ss.spawn(5)]


def synthesize_random(surface: Surface, shape: tuple[int, int], dx_mm: float,
                      rng: np.random.Generator, pad: int = 1) -> np.ndarray:
    """The random part of ``surface`` on a grid (nm), synthesised ``pad`` times larger and cropped.

    Parameters
    ----------
    surface : Surface
    shape : (ny, nx)
    dx_mm : float
    rng : numpy Generator
    pad : int
        >= 1. The centre ``shape`` of a periodic surface of ``pad * shape``
        is returned, so for ``pad >= 2`` the field is not periodic and holds
        frequencies down to 1 / (pad · field).

    Returns
    -------
    ndarray (ny, nx), float64, nm
    """
    if not surface.random:
        return np.zeros(shape)
    ny, nx = shape
    p = int(pad)
    if p < 1:
        raise ConventionError(f"pad must be >= 1, got {pad!r}")
    big = synthesize(surface.psd2d, (p * ny, p * nx), dx_mm, rng)
    r0 = (p * ny - ny) // 2
    c0 = (p * nx - nx) // 2
    return np.array(big.z_nm[r0:r0 + ny, c0:c0 + nx])


def _grid(shape: tuple[int, int], dx_mm: float) -> tuple[np.ndarray, np.ndarray]:
    ny, nx = shape
    x = (np.arange(nx) - (nx - 1) / 2.0) * dx_mm
    y = (np.arange(ny) - (ny - 1) / 2.0) * dx_mm
    return np.meshgrid(x, y)


def _dropout_mask(rng: np.random.Generator, region: np.ndarray, fraction: float) -> np.ndarray:
    """Pixels of ``region`` lost: about ``fraction`` of them, 70 % single pixels, 30 % in
    small square clusters (2 x 2 and 3 x 3)."""
    lost = np.zeros(region.shape, bool)
    if fraction <= 0:
        return lost
    n_target = int(round(fraction * np.count_nonzero(region)))
    idx = np.flatnonzero(region)
    n_single = int(round(0.7 * n_target))
    lost.flat[rng.choice(idx, size=n_single, replace=False)] = True
    ny, nx = region.shape
    while np.count_nonzero(lost & region) < n_target:
        k = int(rng.integers(2, 4))
        r, c = np.unravel_index(int(rng.choice(idx)), region.shape)
        lost[r:min(r + k, ny), c:min(c + k, nx)] = True
    return lost & region


def measure_fizeau(surface: Surface, setup: FizeauSetup, seed: int | Sequence[int],
                   meta: Mapping[str, Any] | None = None) -> SyntheticMeasurement:
    """Full-aperture Fizeau map of ``surface`` (the nominal sphere nulled by the test).

    Heights = alignment (Z1..Z3) + form + random part + tool marks, over the
    measured circle (NaN outside); the measured map adds white noise, random
    dropouts and a ragged edge.
    """
    r = _rngs(seed)
    X, Y = _grid(setup.shape, setup.dx_mm)
    coef = np.array(surface.zernike_fringe_nm, dtype=np.float64)
    coef[:3] += np.asarray(setup.alignment_nm, dtype=np.float64)
    form = zernike_surface(coef, shape=setup.shape, dx_mm=setup.dx_mm, scheme="fringe",
                           normalisation="rms", r_norm_mm=surface.r_norm_mm,
                           outside="evaluate").z_nm
    rand = synthesize_random(surface, setup.shape, setup.dx_mm, r[_STREAM_SURFACE], setup.pad)
    z = form + rand + surface.marks_nm(X, Y)
    rr = np.hypot(X, Y)
    region = rr <= setup.measured_diameter_mm / 2.0
    truth = np.where(region, z, np.nan)
    noise = setup.noise_rms_nm * r[_STREAM_NOISE].standard_normal(setup.shape)
    lost = _dropout_mask(r[_STREAM_DROPOUTS], region, setup.dropout_fraction)
    edge = region & (rr > setup.measured_diameter_mm / 2.0 - setup.edge_band_mm)
    lost |= edge & (r[_STREAM_EDGE].random(setup.shape) < setup.edge_invalid_fraction)
    measured = np.where(region & ~lost, z + noise, np.nan)
    m = {"instrument": "Fizeau interferometer (synthetic)",
         "wavelength_nm": setup.wavelength_nm, **dict(meta or {})}
    stats = {"pixels_in_measured_circle": int(region.sum()),
             "pixels_lost": int((lost & region).sum()),
             "noise_rms_nm_realised": float(noise[region].std())}
    return SyntheticMeasurement(HeightMap(measured, setup.dx_mm, meta=m),
                                HeightMap(truth, setup.dx_mm, meta=m), (0.0, 0.0), stats)


def measure_microscope(surface: Surface, setup: MicroscopeSetup, seed: int | Sequence[int],
                       meta: Mapping[str, Any] | None = None) -> SyntheticMeasurement:
    """Microscope (CSI) map of ``surface`` at ``setup.site_mm``.

    Heights = local cap of the nominal sphere about the site (the stage levels
    the site normal onto the optical axis) + a small residual levelling
    (piston, tilt) + form + random part + tool marks at the part coordinates
    of each pixel; the measured map adds white noise and dropouts.
    """
    r = _rngs(seed)
    x0, y0 = setup.site_mm
    Xl, Yl = _grid(setup.shape, setup.dx_mm)
    X, Y = Xl + x0, Yl + y0
    form = zernike_surface(np.asarray(surface.zernike_fringe_nm, dtype=np.float64),
                           shape=setup.shape, dx_mm=setup.dx_mm, scheme="fringe",
                           normalisation="rms", r_norm_mm=surface.r_norm_mm,
                           centre_mm=(-x0, -y0), outside="evaluate").z_nm
    rand = synthesize_random(surface, setup.shape, setup.dx_mm, r[_STREAM_SURFACE], setup.pad)
    R = surface.base_radius_mm
    rho2 = Xl ** 2 + Yl ** 2
    cap_nm = -rho2 / (R + np.sqrt(R * R - rho2)) * 1e6  # sphere sag (stable form), convex
    half = 0.5 * max(setup.shape) * setup.dx_mm
    lv = r[_STREAM_LEVEL].standard_normal(3) * setup.level_tilt_nm
    level = lv[0] + lv[1] * Xl / half + lv[2] * Yl / half
    z = cap_nm + level + form + rand + surface.marks_nm(X, Y)
    noise = setup.noise_rms_nm * r[_STREAM_NOISE].standard_normal(setup.shape)
    lost = _dropout_mask(r[_STREAM_DROPOUTS], np.ones(setup.shape, bool),
                         setup.dropout_fraction)
    measured = np.where(lost, np.nan, z + noise)
    m = {"instrument": f"coherence scanning interferometer {setup.objective} (synthetic)",
         "site_mm": [float(x0), float(y0)], **dict(meta or {})}
    stats = {"pixels_lost": int(lost.sum()), "noise_rms_nm_realised": float(noise.std()),
             "levelling_nm": [float(v) for v in lv]}
    return SyntheticMeasurement(HeightMap(measured, setup.dx_mm, meta=m),
                                HeightMap(z, setup.dx_mm, meta=m), (float(x0), float(y0)), stats)


# ---------------------------------------------------------------------------
# independent truth: plain NumPy evaluation of a spec's criteria on a noise-free map
# ---------------------------------------------------------------------------

def _radial_poly(n: int, m: int, rho: np.ndarray) -> np.ndarray:
    """R_n^|m|(ρ) by the explicit factorial sum."""
    am = abs(m)
    out = np.zeros_like(rho)
    for s in range((n - am) // 2 + 1):
        c = ((-1) ** s * math.factorial(n - s)
             / (math.factorial(s) * math.factorial((n + am) // 2 - s)
                * math.factorial((n - am) // 2 - s)))
        out = out + c * rho ** (n - 2 * s)
    return out


def zernike_basis(x_mm: np.ndarray, y_mm: np.ndarray, indices: Sequence[int],
                  r_norm_mm: float, centre_mm: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Fringe Zernike terms, rms normalisation, at points (x, y) in mm: shape (len(indices), n).

    Plain NumPy (explicit radial sums), independent of :mod:`kernels.zernike`.
    """
    x = np.ravel(x_mm) - centre_mm[0]
    y = np.ravel(y_mm) - centre_mm[1]
    rho = np.hypot(x, y) / r_norm_mm
    th = np.arctan2(y, x)
    rows = []
    for j in indices:
        n, m = fringe_to_order(int(j))
        norm = math.sqrt(2.0 * (n + 1)) if m != 0 else math.sqrt(n + 1.0)
        ang = np.cos(m * th) if m > 0 else (np.sin(-m * th) if m < 0 else 1.0)
        rows.append(norm * _radial_poly(n, m, rho) * ang)
    return np.array(rows)


def _hann(n: int) -> np.ndarray:
    return np.sin(np.pi * (np.arange(n) + 0.5) / n) ** 2


class _Spectrum:
    """Full-plane periodogram of a masked map with a separable Hann window over the valid bbox."""

    def __init__(self, z: np.ndarray, valid: np.ndarray, dx: float, dy: float) -> None:
        rows = np.flatnonzero(valid.any(axis=1))
        cols = np.flatnonzero(valid.any(axis=0))
        r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        w = np.zeros(z.shape)
        w[r0:r1, c0:c1] = np.outer(_hann(r1 - r0), _hann(c1 - c0))
        w[~valid] = 0.0
        h = np.where(valid, z - z[valid].mean(), 0.0)
        ny, nx = z.shape
        self.psd2 = dx * dy * np.abs(np.fft.fft2(w * h)) ** 2 / np.sum(w[valid] ** 2)
        self.fx = np.fft.fftfreq(nx, dx)
        self.fy = np.fft.fftfreq(ny, dy)
        self.dfx, self.dfy = 1.0 / (nx * dx), 1.0 / (ny * dy)
        self.extent_mm = ((c1 - c0) * dx, (r1 - r0) * dy)
        self.nyquist = (0.5 / dx, 0.5 / dy)
        self.f = np.hypot(self.fx[None, :], self.fy[:, None])

    @property
    def f_range(self) -> tuple[float, float]:
        return 2.0 / min(self.extent_mm), min(self.nyquist)

    def band_variance(self, lo: float, hi: float) -> float:
        sel = (self.f >= lo) & (self.f < hi)
        return float(self.psd2[sel].sum()) * self.dfx * self.dfy

    def slope_variance(self, lo: float, hi: float) -> tuple[float, float]:
        sel = (self.f >= lo) & (self.f < hi)
        p = np.where(sel, self.psd2, 0.0)
        c = (2.0 * math.pi) ** 2 * self.dfx * self.dfy
        return (float((p * self.fx[None, :] ** 2).sum()) * c,
                float((p * self.fy[:, None] ** 2).sum()) * c)

    def profile_one_sided(self, axis: str) -> tuple[np.ndarray, np.ndarray, float, float]:
        """(f >= 0, P1+ [nm² mm], f_min = 2/extent along axis, Nyquist along axis)."""
        if axis == "x":
            p1 = self.psd2.sum(axis=0) * self.dfy  # two-sided P1(f_x), FFT order
            f = self.fx
            fmin, fmax = 2.0 / self.extent_mm[0], self.nyquist[0]
        else:
            p1 = self.psd2.sum(axis=1) * self.dfx
            f = self.fy
            fmin, fmax = 2.0 / self.extent_mm[1], self.nyquist[1]
        fpos = np.unique(np.abs(f))
        vals = np.array([p1[np.abs(f) == v].sum() for v in fpos])
        return fpos, vals, fmin, fmax


def _lstsq_remove(z: np.ndarray, basis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    coef, *_ = np.linalg.lstsq(basis.T, z, rcond=None)
    return coef, z - basis.T @ coef


_GROUP_NM = {"piston": [(0, 0)], "tilt": [(1, 1), (1, -1)], "power": [(2, 0)],
             "astigmatism": [(2, 2), (2, -2)]}
_NM_FRINGE = {fringe_to_order(j): j for j in range(1, N_FRINGE + 1)}


def _verdict(c: Any, value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "not-measurable"
    ok = value <= c.limit if c.bound == "max" else value >= c.limit
    return "pass" if ok else "fail"


def truth_values(spec: Any, measurement: str, truth: HeightMap, *,
                 measured_valid: np.ndarray | None = None,
                 centre_mm: tuple[float, float] = (0.0, 0.0),
                 n_sites: int | None = None) -> dict[str, dict[str, Any]]:
    """Every criterion of ``measurement`` evaluated on a noise-free map, in plain NumPy.

    Definitions (``CONVENTIONS.md`` and the spec schema): the clear aperture
    (a circle about ``centre_mm``, the true part centre) or the whole field;
    the measurement's ``preprocessing.remove`` terms and, when the spec has
    Zernike criteria on this measurement, the joint least-squares fit of
    ``joint_fit_terms`` (Fringe, rms, R_norm of the spec) over the aperture; the
    residual's mean-removed, separable-Hann-windowed (over the bounding box of
    the valid pixels, samples at (k + 0.5)/n) periodogram ``Δx Δy |DFT(w h)|²
    / Σ w²``; areal band variance = Σ PSD2 Δf_x Δf_y over f_lo <= |f| < f_hi;
    slope = Σ (2π f)² PSD2 ΔfΔf; the PSD limit = the largest ratio of mean
    one-sided profile PSD to mean line over the spec's log bins. A band or line
    range outside [2 / L, Nyquist] of the map is ``not-measurable``.

    Parameters
    ----------
    spec : metrology.Spec
    measurement : str
    truth : HeightMap
        Noise-free, dropout-free map.
    measured_valid : ndarray of bool, optional
        Valid mask of the measured file (for the valid-fraction requirement;
        default: ``truth.valid``).
    centre_mm : (x, y)
        True aperture centre in the map frame.
    n_sites : int, optional
        Number of files of this measurement in the part (for ``sites``).

    Returns
    -------
    dict
        criterion id -> {"value", "verdict", "limit", "bound", "unit", "reason"}
        plus, under the key ``"_zernike"``, the joint fit's coefficients.
    """
    from .spec import (
        BandCriterion,
        BandSlopeCriterion,
        FormResidualCriterion,
        PsdLimitCriterion,
        PVrCriterion,
        RequirementCriterion,
        ZernikeOtherTermsCriterion,
        ZernikeTermCriterion,
    )

    m = spec.measurements[measurement]
    crits = spec.criteria_for(measurement)
    dx, dy = truth.dx_mm, truth.dy_mm
    ny, nx = truth.shape
    X, Y = _grid((ny, nx), dx) if dx == dy else np.meshgrid(
        (np.arange(nx) - (nx - 1) / 2.0) * dx, (np.arange(ny) - (ny - 1) / 2.0) * dy)
    mvalid = truth.valid if measured_valid is None else np.asarray(measured_valid, bool)
    if m.aperture is not None:
        a = m.aperture
        region = np.hypot(X - centre_mm[0], Y - centre_mm[1]) <= a.diameter_mm / 2.0
        vf = float(np.count_nonzero(region & mvalid)) / (
            math.pi * (a.diameter_mm / 2.0) ** 2 / (dx * dy))
        across = a.diameter_mm / max(dx, dy)
    else:
        region = np.ones((ny, nx), bool)
        vf = float(np.count_nonzero(mvalid)) / mvalid.size
        across = min(ny * dy, nx * dx) / max(dx, dy)
    valid = region & truth.valid
    z = truth.z_nm[valid]
    xs, ys = X[valid], Y[valid]

    # preprocessing: remove the listed terms (their span does not depend on centre/radius
    # for piston, tilt, power, astigmatism)
    pre_nm = [nm for t in m.preprocessing.remove for nm in _GROUP_NM[t]]
    zernike_crits = [c for c in crits if isinstance(
        c, ZernikeTermCriterion | ZernikeOtherTermsCriterion | FormResidualCriterion
        | PVrCriterion)]
    fit: dict[int, float] = {}
    fit_basis = None
    form_pv = math.nan
    if zernike_crits:
        c0 = zernike_crits[0]
        terms = list(c0.joint_fit_terms)
        fit_basis = zernike_basis(xs, ys, terms, c0.r_norm_mm, centre_mm)
        coef, resid = _lstsq_remove(z, fit_basis)
        fit = {j: float(v) for j, v in zip(terms, coef, strict=True)}
        form_terms = next((set(c.fit_terms) for c in zernike_crits
                           if isinstance(c, PVrCriterion | FormResidualCriterion)), set())
        keep = np.array([j in form_terms for j in terms])
        form = fit_basis.T @ np.where(keep, coef, 0.0)
        form_pv = float(form.max() - form.min()) if keep.any() else math.nan
    elif pre_nm:
        r_circ = float(np.hypot(xs - xs.mean(), ys - ys.mean()).max())
        basis = zernike_basis(xs, ys, [_NM_FRINGE[nm] for nm in pre_nm], r_circ,
                              (float(xs.mean()), float(ys.mean())))
        _, resid = _lstsq_remove(z, basis)
    else:
        resid = z - z.mean()
    res_map = np.full((ny, nx), np.nan)
    res_map[valid] = resid
    spec2 = _Spectrum(res_map, valid, dx, dy)
    f_min, f_max = spec2.f_range
    res_rms = float(np.sqrt(np.mean((resid - resid.mean()) ** 2)))

    out: dict[str, dict[str, Any]] = {}
    for c in crits:
        reason = ""
        value: float | None
        if isinstance(c, RequirementCriterion):
            value = {"valid_fraction": vf, "pixels_across": across,
                     "sites": float(n_sites) if n_sites is not None else math.nan}[c.quantity]
        elif isinstance(c, ZernikeTermCriterion):
            value = math.sqrt(sum(fit[j] ** 2 for j in c.terms))
        elif isinstance(c, ZernikeOtherTermsCriterion):
            value = max(math.sqrt(sum(fit[j] ** 2 for j in g)) for g in c.groups)
        elif isinstance(c, FormResidualCriterion):
            value = res_rms if c.statistic == "rms" else float(resid.max() - resid.min())
        elif isinstance(c, PVrCriterion):
            value = form_pv + 3.0 * res_rms
        elif isinstance(c, BandCriterion | BandSlopeCriterion):
            b = c.band
            lo, hi = b.f_lo_per_mm, b.f_hi_per_mm
            if b.kind == "areal":
                rng_lo, rng_hi = f_min, f_max
            else:
                _, _, rng_lo, rng_hi = spec2.profile_one_sided(b.direction or "x")
            if lo < rng_lo * (1 - 1e-9) or hi > rng_hi * (1 + 1e-9):
                value = None
                reason = (f"band {lo:g}-{hi:g} /mm outside the resolved range "
                          f"{rng_lo:.4g}-{rng_hi:.4g} /mm of this map")
            elif isinstance(c, BandCriterion):
                if b.kind == "areal":
                    value = math.sqrt(spec2.band_variance(lo, hi))
                else:
                    f, p, _, _ = spec2.profile_one_sided(b.direction or "x")
                    sel = (f >= lo) & (f < hi)
                    df = spec2.dfx if (b.direction or "x") == "x" else spec2.dfy
                    value = math.sqrt(float(p[sel].sum()) * df)
            else:
                sx, sy = spec2.slope_variance(lo, hi)
                value = (math.sqrt(sx + sy) if b.kind == "areal" else
                         math.sqrt(sx if (b.direction or "x") == "x" else sy))
        elif isinstance(c, PsdLimitCriterion):
            value, reason = _psd_limit(spec2, c)
        else:  # pragma: no cover - a new criterion type needs a truth definition
            raise ConventionError(f"no truth definition for criterion {c.id}")
        out[c.id] = {"value": value, "verdict": _verdict(c, value), "limit": c.limit,
                     "bound": c.bound, "unit": c.unit, "reason": reason}
    out["_zernike"] = {"fit_fringe_nm": {f"Z{j}": v for j, v in fit.items()},
                       "residual_rms_nm": res_rms, "form_pv_nm": form_pv,
                       "resolved_range_per_mm": [f_min, f_max]}
    return out


def _line_value(line: Any, f: np.ndarray) -> np.ndarray:
    out = np.full(f.shape, np.nan)
    for s in line.segments:
        sel = (f >= s.f_lo_per_mm) & (f < s.f_hi_per_mm)
        out[sel] = s.a_nm2_mm * f[sel] ** (-s.b)
    return out


def _psd_limit(sp: _Spectrum, c: Any) -> tuple[float | None, str]:
    line = c.line
    if line.kind != "profile" or line.sidedness != "one-sided":
        raise ConventionError("truth_values supports one-sided profile PSD limit lines only")
    f, p, fmin, fmax = sp.profile_one_sided(line.direction or "x")
    worst = -math.inf
    bpd = line.bins_per_decade
    for lo, hi in c.f_ranges_per_mm:
        if lo < fmin * (1 - 1e-9) or hi > fmax * (1 + 1e-9):
            return None, (f"PSD limit range {lo:g}-{hi:g} /mm outside the resolved range "
                          f"{fmin:.4g}-{fmax:.4g} /mm of this map")
        k0 = math.floor(math.log10(lo) * bpd + 1e-9)
        k1 = math.ceil(math.log10(hi) * bpd - 1e-9)
        edges = 10.0 ** (np.arange(k0, k1 + 1) / bpd)
        edges[0], edges[-1] = lo, hi
        for e0, e1 in zip(edges[:-1], edges[1:], strict=True):
            sel = (f >= e0) & (f < e1) & (f > 0)
            if sel.any():
                worst = max(worst, float(p[sel].mean() / _line_value(line, f[sel]).mean()))
    if worst == -math.inf:
        return None, "no PSD sample in the line's range"
    return worst, ""


def model_expectations(surface: Surface, spec: Any, measurement: str) -> dict[str, Any]:
    """Analytic band RMS and slope of the surface model for the bands of ``measurement``.

    Infinite-plane values: the random components' power laws integrated over
    the band (:meth:`RandomComponent.band_variance_nm2`) plus each tool mark
    whose frequency lies in the band (variance A²/2, slope (2π A / P)² / 2).
    No window, no aperture, no Zernike removal: the per-file truth differs
    from these by the effects of the finite field (leakage, terms removed).
    """
    out: dict[str, Any] = {}
    for b in spec.bands:
        if b.measurement != measurement:
            continue
        lo, hi = b.f_lo_per_mm, b.f_hi_per_mm
        var = sum(c.band_variance_nm2(lo, hi, kind=b.kind) for c in surface.random)
        slope = sum(c.slope_variance_urad2(lo, hi) for c in surface.random)
        for mk in surface.tool_marks:
            if lo <= mk.frequency_per_mm < hi:
                var += mk.rms_nm ** 2 if b.kind == "areal" else math.nan
                slope += mk.slope_rms_urad ** 2
        d: dict[str, Any] = {"rms_nm": math.sqrt(var) if math.isfinite(var) else None,
                             "kind": b.kind, "f_lo_per_mm": lo, "f_hi_per_mm": hi}
        if any(c.id == f"{b.measurement}.band.{b.name}.slope" for c in spec.criteria):
            d["slope_urad"] = math.sqrt(slope) if b.kind == "areal" else None
        out[b.name] = d
    return out
