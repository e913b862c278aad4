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

:func:`expected_values` gives the truth of a spec's criteria from the
generator's parameters alone (the coefficients put in, the power laws of the
random part, the tool marks' formulas, the grids and masks of the set-ups);
it analyses no map, so it is not a second check engine. The tests compare the
checker with it, and with a plain-NumPy reference of the definitions
(``tests/reference_check.py``) on the noise-free maps.
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
    "measure_microscope_repeats",
    "reference_map",
    "noise_band_variance_nm2",
    "synthesize_random",
    "expected_values",
    "random_variance_nm2",
    "zernike_sigma_nm",
    "mark_zernike_nm",
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
    noise_components : tuple of RandomComponent
        Instrument noise beyond the white ``noise_rms_nm``: Gaussian noise of these
        areal PSDs, drawn anew for every map (vibration, air: independent between
        repeats).
    reference_marks : tuple of RasterRipple / TurningRipple
        The instrument's reference-surface error, in field coordinates (mm from the
        field centre): added to every map of this set-up (common to all repeats; a
        calibrated reference map, :func:`reference_map`, removes it).
    """

    objective: str
    shape: tuple[int, int]
    dx_mm: float
    site_mm: tuple[float, float]
    noise_rms_nm: float = 0.02
    level_tilt_nm: float = 20.0
    dropout_fraction: float = 0.0
    pad: int = 4
    noise_components: tuple[RandomComponent, ...] = ()
    reference_marks: tuple[ToolMark, ...] = ()


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


def _rngs(seed: int | Sequence[int], repeat: int | None = None) -> list[np.random.Generator]:
    """The random streams of one measurement; for repeat ``k`` the surface stream is the
    measurement's and every other stream (noise, dropouts, edge, levelling) the
    repeat's own."""
    ss = np.random.SeedSequence(seed)
    out = [np.random.default_rng(s) for s in ss.spawn(5)]
    if repeat is None:
        return out
    seq = [int(x) for x in np.atleast_1d(seed)]
    own = [np.random.default_rng(s) for s in np.random.SeedSequence([*seq, 1000 + int(repeat)]
                                                                   ).spawn(5)]
    return [out[_STREAM_SURFACE], *own[1:]]


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
                       meta: Mapping[str, Any] | None = None, *,
                       repeat: int | None = None) -> SyntheticMeasurement:
    """Microscope (CSI) map of ``surface`` at ``setup.site_mm``.

    Heights = local cap of the nominal sphere about the site (the stage levels
    the site normal onto the optical axis) + a small residual levelling
    (piston, tilt) + form + random part + tool marks at the part coordinates
    of each pixel + the instrument's reference error (``setup.reference_marks``,
    field coordinates); the measured map adds white noise, the coloured noise
    ``setup.noise_components`` and dropouts. ``truth`` is the surface alone
    (no reference error, no noise).

    ``repeat = k`` (1, 2, ...): the k-th repeat of the measurement ``seed``: the same
    surface realisation, its own noise, dropouts and levelling.
    """
    r = _rngs(seed, repeat)
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
    if setup.noise_components:
        noise = noise + synthesize_random(Surface((0.0,) * N_FRINGE, setup.noise_components),
                                          setup.shape, setup.dx_mm, r[_STREAM_NOISE],
                                          setup.pad)
    ref = sum((m.height_nm(Xl, Yl) for m in setup.reference_marks), np.zeros(setup.shape))
    lost = _dropout_mask(r[_STREAM_DROPOUTS], np.ones(setup.shape, bool),
                         setup.dropout_fraction)
    measured = np.where(lost, np.nan, z + ref + noise)
    m = {"instrument": f"coherence scanning interferometer {setup.objective} (synthetic)",
         "site_mm": [float(x0), float(y0)], **dict(meta or {})}
    stats = {"pixels_lost": int(lost.sum()), "noise_rms_nm_realised": float(noise.std()),
             "levelling_nm": [float(v) for v in lv]}
    return SyntheticMeasurement(HeightMap(measured, setup.dx_mm, meta=m),
                                HeightMap(z, setup.dx_mm, meta=m), (float(x0), float(y0)), stats)


def measure_microscope_repeats(surface: Surface, setup: MicroscopeSetup,
                               seed: int | Sequence[int], n: int,
                               meta: Mapping[str, Any] | None = None
                               ) -> list[SyntheticMeasurement]:
    """``n`` repeats of one microscope measurement: one surface realisation (the same
    ``truth``), independent noise of the set-up's PSD (white ``noise_rms_nm`` plus
    ``noise_components``), levelling and dropouts per repeat."""
    if n < 2:
        raise ConventionError(f"repeats need n >= 2, got {n!r}")
    return [measure_microscope(surface, setup, seed, meta, repeat=k) for k in range(1, n + 1)]


def reference_map(setup: MicroscopeSetup, seed: int | Sequence[int], noise_rms_nm: float,
                  meta: Mapping[str, Any] | None = None) -> HeightMap:
    """The calibrated reference map of ``setup``: its reference error
    (``setup.reference_marks``, field coordinates) plus the calibration's own white
    noise ``noise_rms_nm`` (from averaging many calibration maps), on the set-up's grid."""
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    Xl, Yl = _grid(setup.shape, setup.dx_mm)
    z = sum((m.height_nm(Xl, Yl) for m in setup.reference_marks), np.zeros(setup.shape))
    z = z + noise_rms_nm * rng.standard_normal(setup.shape)
    m = {"instrument": f"coherence scanning interferometer {setup.objective} (synthetic)",
         "role": "calibrated reference (system error) map", **dict(meta or {})}
    return HeightMap(z, setup.dx_mm, meta=m)


def noise_band_variance_nm2(setup: MicroscopeSetup, f_lo_per_mm: float, f_hi_per_mm: float
                            ) -> float:
    """Expected band variance (nm², areal, f_lo <= |f| < f_hi) of the set-up's noise in one
    map, from its parameters: the white part sigma² x (cells of the band) / (cells of the
    grid), the coloured components their PSD summed over the band's cells of the grid."""
    ny, nx = setup.shape
    f = _spectrum_grid(setup.shape, setup.dx_mm)
    sel = (f >= f_lo_per_mm) & (f < f_hi_per_mm)
    white = setup.noise_rms_nm ** 2 * float(np.count_nonzero(sel)) / (nx * ny)
    coloured = sum(float(c.psd2d(f[sel]).sum()) for c in setup.noise_components) / (
        nx * setup.dx_mm * ny * setup.dx_mm)
    return white + coloured


# ---------------------------------------------------------------------------
# the truth, from the generator's parameters
# ---------------------------------------------------------------------------
#
# What a perfect instrument with the spec's processing would report, computed
# from what the generator put in: the form coefficients, the power laws of the
# random components (integrated analytically or numerically over the spectrum
# the measurement's grid holds), the tool marks' formulas, and the masks and
# grids of the set-ups. Nothing here analyses a synthesised map: the random
# part enters only through its known spectrum, so the values are expectations;
# where the realisation scatters about them the scatter is given too
# (``sigma_nm`` of the Zernike terms).

#: radius of the disk the Zernike projections of the tool marks are integrated over
_PROJECTION_STEP_MM = 0.05
_F_STEPS = 20001


def _spectrum_grid(shape: tuple[int, int], dx_mm: float) -> np.ndarray:
    ny, nx = shape
    return np.hypot(np.fft.fftfreq(nx, dx_mm)[None, :], np.fft.fftfreq(ny, dx_mm)[:, None])


def random_variance_nm2(surface: Surface, shape: tuple[int, int], dx_mm: float,
                        pad: int = 1) -> float:
    """Expected variance (nm²) of the random part as :func:`synthesize_random` makes it:
    the sum of PSD2 Δf_x Δf_y over the cells of the (``pad`` times larger) periodic grid."""
    big = (pad * shape[0], pad * shape[1])
    f = _spectrum_grid(big, dx_mm)
    return float(surface.psd2d(f).sum()) / (big[0] * dx_mm * big[1] * dx_mm)


def zernike_sigma_nm(surface: Surface, n: int, r_norm_mm: float, f_max_per_mm: float) -> float:
    """RMS (over realisations) of the coefficient of one Zernike term of radial order ``n``
    (rms normalisation, unit disk of radius ``r_norm_mm``) that the random part puts there:

        Var(c) = ∫ PSD2(f) (n + 1) [J_{n+1}(2π R f) / (π R f)]² 2π f df

    (Noll 1976: the Fourier transform of a Zernike term on the unit disk).
    """
    from scipy.special import jv

    total = 0.0
    for comp in surface.random:
        lo, hi = comp.f_lo_per_mm, min(comp.f_hi_per_mm, f_max_per_mm)
        if hi <= lo:
            continue
        f = np.geomspace(lo, hi, _F_STEPS)
        x = 2.0 * math.pi * r_norm_mm * f
        g = comp.psd2d(f) * (n + 1) * (jv(n + 1, x) / (math.pi * r_norm_mm * f)) ** 2 \
            * 2.0 * math.pi * f
        total += float(np.sum((g[1:] + g[:-1]) * np.diff(f)) / 2.0)
    return math.sqrt(total)


def mark_zernike_nm(surface: Surface, r_norm_mm: float, n_terms: int = N_FRINGE
                    ) -> tuple[np.ndarray, float]:
    """What the tool marks put on Fringe Z1..Z``n_terms`` (rms normalisation, unit disk of
    ``r_norm_mm`` about the part centre) and their mean square over that disk (nm²).

    The inner products ``<mark, Z_j> / <Z_j, Z_j>`` are sums over a fine grid
    (:data:`_PROJECTION_STEP_MM`) of the disk, with the marks from their formulas
    and the terms from :func:`metrology.zernike_surface` (the generator's own form).
    """
    if not surface.tool_marks:
        return np.zeros(n_terms), 0.0
    step = _PROJECTION_STEP_MM
    n = 2 * int(math.ceil(r_norm_mm / step)) + 1
    X, Y = _grid((n, n), step)
    disk = np.hypot(X, Y) <= r_norm_mm
    mark = surface.marks_nm(X, Y)[disk]
    out = np.zeros(n_terms)
    for j in range(n_terms):
        e = np.zeros(n_terms)
        e[j] = 1.0
        zj = zernike_surface(e, shape=(n, n), dx_mm=step, scheme="fringe", normalisation="rms",
                             r_norm_mm=r_norm_mm, outside="evaluate").z_nm[disk]
        out[j] = float(mark @ zj / (zj @ zj))
    return out, float(np.mean(mark ** 2))


def _local_marks(surface: Surface, setup: FizeauSetup | MicroscopeSetup
                 ) -> list[tuple[str, float, float, float]]:
    """Each tool mark as the measurement sees it: ``("ring", f0, 0, A)`` for the turning
    rings in a full-aperture map, else a straight ripple ``("line", f0, angle, A)`` (the
    rings are straight across a small site far from their centre)."""
    out = []
    for mk in surface.tool_marks:
        f0, a = mk.frequency_per_mm, abs(mk.amplitude_nm)
        if isinstance(mk, RasterRipple):
            out.append(("line", f0, math.radians(mk.angle_deg), a))
        elif isinstance(setup, FizeauSetup):
            out.append(("ring", f0, 0.0, a))
        else:
            x0, y0 = setup.site_mm[0] - mk.centre_mm[0], setup.site_mm[1] - mk.centre_mm[1]
            out.append(("line", f0, math.atan2(y0, x0), a))
    return out


def _profile_x_model(surface: Surface, marks: list[tuple[str, float, float, float]],
                     e0: float, e1: float, nyquist_y: float) -> float:
    """Mean of the one-sided profile PSD along x (nm² mm) over ``[e0, e1)``: the random part
    ``4 ∫_0^{Ny} PSD2(sqrt(fx² + fy²)) dfy`` averaged over the bin, plus the marks' power
    in the bin divided by its width."""
    fx = np.linspace(e0, e1, 33)[:-1] + (e1 - e0) / 64.0
    fy = np.concatenate(([0.0], np.geomspace(1e-4 * max(e0, 1e-3), nyquist_y, 600)))
    f = np.hypot(fx[:, None], fy[None, :])
    g = surface.psd2d(f)
    p1 = 4.0 * np.sum((g[:, 1:] + g[:, :-1]) * np.diff(fy)[None, :], axis=1) / 2.0
    out = float(p1.mean())
    width = e1 - e0
    for kind, f0, ang, a in marks:
        if kind == "line":
            fxm = f0 * abs(math.cos(ang))
            if e0 <= fxm < e1 and fxm > 0:
                out += a * a / 2.0 / width
        else:  # rings: one-sided P1 = A² / (π sqrt(f0² - fx²)) for fx < f0
            lo, hi = min(e0, f0), min(e1, f0)
            if hi > lo:
                out += a * a / math.pi * (math.asin(hi / f0) - math.asin(lo / f0)) / width
    return out


def _line_mean(line: Any, e0: float, e1: float) -> float:
    fx = np.linspace(e0, e1, 33)[:-1] + (e1 - e0) / 64.0
    v = np.full(fx.shape, np.nan)
    for s in line.segments:
        sel = (fx >= s.f_lo_per_mm) & (fx < s.f_hi_per_mm)
        v[sel] = s.a_nm2_mm * fx[sel] ** (-s.b)
    return float(np.nanmean(v))


def _band_model(surface: Surface, marks: list[tuple[str, float, float, float]], b: Any
                ) -> tuple[float, float]:
    """(variance nm², slope variance µrad²) of band ``b`` on an infinite plane."""
    lo, hi = b.f_lo_per_mm, b.f_hi_per_mm
    var = sum(c.band_variance_nm2(lo, hi, kind=b.kind) for c in surface.random)
    slope = sum(c.slope_variance_urad2(lo, hi) for c in surface.random)
    for kind, f0, ang, a in marks:
        if b.kind == "areal":
            if lo <= f0 < hi:
                var += a * a / 2.0
                slope += (2.0 * math.pi * a * f0) ** 2 / 2.0
        elif kind == "line":
            fa = f0 * abs(math.cos(ang if (b.direction or "x") == "x" else ang - math.pi / 2))
            if lo <= fa < hi:
                var += a * a / 2.0
                slope += (2.0 * math.pi * a * fa) ** 2 / 2.0
        else:
            l0, h0 = min(lo, f0), min(hi, f0)
            var += a * a / math.pi * (math.asin(h0 / f0) - math.asin(l0 / f0))
            slope = math.nan  # the rings' profile slope is not modelled
    return var, slope


def _band_rel_sigma(surface: Surface, shape: tuple[int, int], dx_mm: float, b: Any,
                    slope: bool, deterministic: float) -> float:
    """Relative scatter (1 sigma) of a band's RMS (or slope) over realisations, from the
    cells of the field's own DFT grid inside the band: each cell's periodogram value is
    exponentially distributed about the model, so Var(Σp)/(Σp)² = 2 Σp² / (Σp)² over
    the full plane; ``deterministic`` (tool marks) adds power without scatter."""
    f = _spectrum_grid(shape, dx_mm)
    sel = (f >= b.f_lo_per_mm) & (f < b.f_hi_per_mm)
    p = surface.psd2d(f[sel]) * ((2.0 * math.pi * f[sel]) ** 2 if slope else 1.0)
    total = float(p.sum())
    if total <= 0:
        return 0.0
    cell = 1.0 / (shape[0] * dx_mm * shape[1] * dx_mm)
    return 0.5 * math.sqrt(2.0 * float((p ** 2).sum())) / (total + deterministic / cell)


def _verdict(c: Any, value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "not-measurable"
    ok = value <= c.limit if c.bound == "max" else value >= c.limit
    return "pass" if ok else "fail"


def expected_values(surface: Surface, setup: FizeauSetup | MicroscopeSetup, spec: Any,
                    measurement: str, *, measured_valid: np.ndarray,
                    n_sites: int) -> dict[str, dict[str, Any]]:
    """Every criterion of ``measurement`` as the generator's parameters give it.

    Parameters
    ----------
    surface, setup
        What was synthesised, and how it was measured.
    spec : metrology.Spec
    measurement : str
    measured_valid : ndarray of bool
        The valid mask the generator gave the measured file (dropouts, edge).
    n_sites : int
        Files of this measurement in the part.

    Returns
    -------
    dict
        criterion id -> {"value", "verdict", "limit", "bound", "unit", "reason",
        "how"} (``value`` ``None`` = not measurable; Zernike criteria add ``sigma_nm``,
        the realisation scatter, band criteria ``rel_sigma``, the relative scatter
        of the band's periodogram sum), plus ``"_zernike"``: the
        model coefficients (Fringe, nm, rms: the form put in plus what the tool
        marks project onto the terms), the RMS of what the random part projects
        onto each (``sigma_nm``), and the model residual RMS.

    Definitions (``docs/conventions.md``): requirements from the set-up's grid
    and mask; Zernike terms from the model coefficients; the residual RMS from
    the random part's variance on the measurement's grid less what the joint
    fit absorbs (Σ sigma²), plus the marks' residual; PVr from the PV of the
    model form on the aperture pixels plus 3 x that residual; band RMS and
    slope from the power laws integrated over the band (infinite plane) plus
    the marks in the band; the PSD limit from the model's one-sided profile PSD
    along the line's direction (the random part integrated over the grid's
    f_y range, the marks as lines or rings) averaged per log bin against the
    line. A band or line range outside ``[2 / L, Nyquist]`` of the grid is
    not measurable.
    """
    from .zernike_schemes import normalisation_factor, order_to_fringe, zernike_order

    m = spec.measurements[measurement]
    crits = spec.criteria_for(measurement)
    dx = setup.dx_mm
    ny, nx = setup.shape
    marks = _local_marks(surface, setup)
    is_fizeau = isinstance(setup, FizeauSetup)
    X, Y = _grid(setup.shape, dx)
    mvalid = np.asarray(measured_valid, bool)
    if m.aperture is not None:
        a = m.aperture
        region = np.hypot(X, Y) <= a.diameter_mm / 2.0
        vf = float(np.count_nonzero(region & mvalid)) / (
            math.pi * (a.diameter_mm / 2.0) ** 2 / (dx * dx))
        across = a.diameter_mm / dx
        extent = (a.diameter_mm, a.diameter_mm)
    else:
        region = np.ones(setup.shape, bool)
        vf = float(np.count_nonzero(mvalid)) / mvalid.size
        across = float(min(ny, nx))
        extent = (nx * dx, ny * dx)
    nyquist = 0.5 / dx
    f_min = 2.0 / min(extent)

    # Zernike model: the form put in plus the marks' projection; the random part's scatter
    zern = [c for c in crits if c.TYPE in ("power", "zernike_term", "zernike_other",
                                           "form_residual", "pvr")]
    model = np.zeros(N_FRINGE)
    sigma = np.zeros(N_FRINGE)
    resid_rms = math.nan
    form_pv = math.nan
    if zern:
        r_norm = zern[0].r_norm_mm
        if not math.isclose(r_norm, surface.r_norm_mm) or m.aperture is None:
            raise ConventionError(f"the model coefficients are for R_norm "
                                  f"{surface.r_norm_mm:g} mm about the part centre; the spec "
                                  f"fits with {r_norm:g} mm")
        mark_c, mark_ms = mark_zernike_nm(surface, r_norm)
        model = np.asarray(surface.zernike_fringe_nm, dtype=np.float64) + mark_c
        f_top = nyquist * math.sqrt(2.0)
        sigma = np.array([zernike_sigma_nm(surface, zernike_order("fringe", j)[0], r_norm,
                                           f_top) for j in range(1, N_FRINGE + 1)])
        joint = [j for j in zern[0].joint_fit_terms if 1 <= j <= N_FRINGE]
        var_rand = random_variance_nm2(surface, setup.shape, dx, getattr(setup, "pad", 1))
        var = (var_rand - float(sum(sigma[j - 1] ** 2 for j in joint))
               + mark_ms - float(sum(mark_c[j - 1] ** 2 for j in joint)))
        resid_rms = math.sqrt(max(var, 0.0))
        fit_terms = next((c.fit_terms for c in zern if hasattr(c, "fit_terms")), ())
        if fit_terms:
            keep = np.array([model[j - 1] if j in fit_terms else 0.0
                             for j in range(1, N_FRINGE + 1)])
            form = zernike_surface(keep, shape=setup.shape, dx_mm=dx, scheme="fringe",
                                   normalisation="rms", r_norm_mm=r_norm,
                                   outside="evaluate").z_nm[region & mvalid]
            form_pv = float(form.max() - form.min())

    def coef(c: Any, j: int) -> tuple[float, float]:
        n_, m_ = zernike_order(c.scheme, j)
        k = order_to_fringe(n_, m_) - 1
        f = normalisation_factor(n_, m_, "rms") if c.normalisation == "peak" else 1.0
        return model[k] * f, sigma[k] * f

    out: dict[str, dict[str, Any]] = {}
    for c in crits:
        t = c.TYPE
        value: float | None
        reason, how, sig, rel_sig = "", "", None, None
        if t == "requirement":
            value = {"valid_fraction": vf, "pixels_across": across,
                     "sites": float(n_sites)}[c.quantity]
            how = "counted on the set-up's grid and the measured file's mask"
        elif t in ("power", "zernike_term"):
            cs = [coef(c, j) for j in c.terms]
            value = math.sqrt(sum(v * v for v, _ in cs))
            sig = math.sqrt(sum(s * s for _, s in cs))
            how = "model coefficients (form put in + tool-mark projection)"
        elif t == "zernike_other":
            mags = [(math.sqrt(sum(coef(c, j)[0] ** 2 for j in g)),
                     math.sqrt(sum(coef(c, j)[1] ** 2 for j in g))) for g in c.groups]
            value, sig = max(mags)
            how = "largest model group magnitude"
        elif t == "form_residual":
            if c.statistic != "rms":
                raise ConventionError("the generator models the residual RMS only")
            value = resid_rms
            how = "random variance on the grid - what the joint fit absorbs + marks"
        elif t == "pvr":
            value = form_pv + 3.0 * resid_rms
            how = "PV of the model form on the aperture pixels + 3 x model residual RMS"
        elif t in ("band_rms", "band_slope"):
            b = c.band
            lo_ok, hi_ok = (f_min, nyquist) if b.kind == "areal" else (
                2.0 / (extent[0] if (b.direction or "x") == "x" else extent[1]), nyquist)
            if b.f_lo_per_mm < lo_ok * (1 - 1e-9) or b.f_hi_per_mm > hi_ok * (1 + 1e-9):
                value = None
                reason = (f"band {b.f_lo_per_mm:g}-{b.f_hi_per_mm:g} /mm outside the "
                          f"resolved range {lo_ok:.4g}-{hi_ok:.4g} /mm of this grid")
            else:
                var, slope = _band_model(surface, marks, b)
                value = math.sqrt(var) if t == "band_rms" else math.sqrt(slope)
                rand_var, rand_slope = _band_model(surface, [], b)
                det = (var - rand_var) if t == "band_rms" else (slope - rand_slope)
                rel_sig = _band_rel_sigma(surface, setup.shape, dx, b, t == "band_slope", det)
            how = "power laws integrated over the band (infinite plane) + marks in the band"
        elif t == "psd_limit":
            line = c.line
            if line.kind != "profile" or line.sidedness != "one-sided":
                raise ConventionError("the generator models one-sided profile PSD lines only")
            axis_extent = extent[0] if (line.direction or "x") == "x" else extent[1]
            lo_ok, hi_ok = 2.0 / axis_extent, nyquist
            value = -math.inf
            bpd = line.bins_per_decade
            for lo, hi in c.f_ranges_per_mm:
                if lo < lo_ok * (1 - 1e-9) or hi > hi_ok * (1 + 1e-9):
                    value = None
                    reason = (f"PSD limit range {lo:g}-{hi:g} /mm outside the resolved "
                              f"range {lo_ok:.4g}-{hi_ok:.4g} /mm of this grid")
                    break
                k0 = math.floor(math.log10(lo) * bpd + 1e-9)
                k1 = math.ceil(math.log10(hi) * bpd - 1e-9)
                edges = 10.0 ** (np.arange(k0, k1 + 1) / bpd)
                edges[0], edges[-1] = lo, hi
                for e0, e1 in zip(edges[:-1], edges[1:], strict=True):
                    ratio = _profile_x_model(surface, marks, float(e0), float(e1),
                                             nyquist) / _line_mean(line, float(e0), float(e1))
                    value = max(value, ratio)
            how = "model profile PSD (one-sided, along the line's direction) per log bin"
        else:
            raise ConventionError(f"the generator has no model of criterion type {t!r} "
                                  f"({c.id})")
        d = {"value": value, "verdict": _verdict(c, value), "limit": c.limit,
             "bound": c.bound, "unit": c.unit, "reason": reason, "how": how}
        if sig is not None:
            d["sigma_nm"] = sig
        if rel_sig is not None:
            d["rel_sigma"] = rel_sig
        out[c.id] = d
    out["_zernike"] = {"model_fringe_nm": {f"Z{j + 1}": float(v) for j, v in enumerate(model)},
                       "sigma_nm": {f"Z{j + 1}": float(v) for j, v in enumerate(sigma)},
                       "residual_rms_nm": resid_rms, "form_pv_nm": form_pv,
                       "resolved_range_per_mm": [f_min, nyquist],
                       "is_fizeau": is_fizeau}
    return out


def model_expectations(surface: Surface, spec: Any, measurement: str) -> dict[str, Any]:
    """Analytic band RMS and slope of the surface model for the bands of ``measurement``.

    Infinite-plane values: the random components' power laws integrated over
    the band (:meth:`RandomComponent.band_variance_nm2`) plus each tool mark
    whose frequency lies in the band (variance A²/2, slope (2π A f)² / 2), the
    marks seen over the full aperture. No window, no aperture, no Zernike
    removal.
    """
    marks = _local_marks(surface, FizeauSetup())
    out: dict[str, Any] = {}
    for b in spec.bands:
        if b.measurement != measurement:
            continue
        var, slope = _band_model(surface, marks, b)
        d: dict[str, Any] = {"rms_nm": math.sqrt(var) if math.isfinite(var) else None,
                             "kind": b.kind, "f_lo_per_mm": b.f_lo_per_mm,
                             "f_hi_per_mm": b.f_hi_per_mm}
        if any(c.id == f"{b.measurement}.band.{b.name}.slope" for c in spec.criteria):
            d["slope_urad"] = math.sqrt(slope) if math.isfinite(slope) else None
        out[b.name] = d
    return out
