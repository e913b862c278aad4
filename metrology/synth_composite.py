"""A known surface measured by several instruments: test data for the composite PSD.

:class:`KnownSurface` is an isotropic Gaussian random surface with a PSD
model (:class:`metrology.synth_psd.PowerLaw` or ``ABC``) plus a rotationally
symmetric form (a paraboloid of given sag at the part's edge). :meth:`sample`
returns what one :class:`Instrument` would record at one site: a map of the
instrument's field and sampling, its transfer function applied, its own white
noise, its aperture, and optionally a wrong height scale.

What "one surface" means here: the truth is the PSD model and the form. Each
map is an independent realisation of the same stationary random process over
the instrument's field (a surface realised point by point from 50 mm form
down to µm roughness would need ~10⁵ × 10⁵ pixels); PSD statistics, band RMS
and their errors are the same as for literal sub-images of one realisation,
except that two instruments' estimates in their overlap are independent
rather than correlated (which makes overlap checks harder, not easier).

Each map is cut from the centre of a periodic realisation twice its size, so
it is not periodic (its edges are real edges, as in a measurement). The
instrument transfer function multiplies the surface's spectrum (amplitude);
the noise is added after it, unfiltered.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .coverage import ITF
from .errors import ConventionError
from .heightmap import HeightMap
from .synth_psd import ABC, PowerLaw, synthesize

__all__ = ["Instrument", "KnownSurface", "measure_part"]

_LN2 = math.log(2.0)


@dataclass(frozen=True)
class Instrument:
    """A simulated instrument.

    Attributes
    ----------
    name : str
    shape : (ny, nx)
        Pixels of one map.
    dx_mm : float
        Pixel spacing (square pixels), mm.
    noise_nm : float
        RMS of the white noise added to each pixel, nm.
    itf_half_per_mm : float or None
        Gaussian ITF roll-off ``exp(-ln 2 (f / f_half)²)`` (0.5 at f_half);
        None: ITF = 1.
    aperture_diameter_mm : float or None
        Circular aperture centred in the field (pixels outside are invalid);
        None: the whole field is valid.
    height_scale : float
        Factor on every measured height (1: calibrated; 2: a 2x mis-scaled
        instrument).
    n_sites : int
        Sites measured (site 0 at the part centre for a full-aperture instrument).
    """

    name: str
    shape: tuple[int, int]
    dx_mm: float
    noise_nm: float = 0.0
    itf_half_per_mm: float | None = None
    aperture_diameter_mm: float | None = None
    height_scale: float = 1.0
    n_sites: int = 1

    @property
    def field_mm(self) -> tuple[float, float]:
        """Field of view (x, y), mm."""
        return self.shape[1] * self.dx_mm, self.shape[0] * self.dx_mm

    def itf(self, f_per_mm: Any) -> np.ndarray:
        """Amplitude transfer at ``f_per_mm``."""
        f = np.asarray(f_per_mm, dtype=np.float64)
        if self.itf_half_per_mm is None:
            return np.ones_like(f)
        return np.exp(-_LN2 * (f / self.itf_half_per_mm) ** 2)

    def itf_table(self, max_psd_correction: float = 4.0, n: int = 64) -> ITF:
        """The instrument's ITF as a table up to its Nyquist frequency."""
        nyq = 0.5 / self.dx_mm
        f = np.linspace(0.0, nyq, n)
        return ITF(f, self.itf(f), max_psd_correction,
                   source=f"{self.name}: Gaussian roll-off, 0.5 at {self.itf_half_per_mm}/mm")


@dataclass(frozen=True)
class KnownSurface:
    """An isotropic random surface with a known PSD, plus a paraboloidal form.

    Attributes
    ----------
    model : PowerLaw or ABC
        PSD model of the texture (any kind; converted with its ``psd2d``).
    form_sag_nm : float
        Sag of the paraboloid at the part's edge (radius ``part_diameter_mm / 2``).
    part_diameter_mm : float
    """

    model: Any
    form_sag_nm: float = 0.0
    part_diameter_mm: float = 50.0

    def __post_init__(self) -> None:
        if not isinstance(self.model, (PowerLaw, ABC)):
            raise ConventionError("a KnownSurface needs a PowerLaw or ABC model")

    def band_rms_nm(self, f_lo_per_mm: float, f_hi_per_mm: float, kind: str = "areal") -> float:
        """True band RMS of the texture (nm): areal (radial integral) or profile (one-sided)."""
        if isinstance(self.model, PowerLaw):
            return math.sqrt(self.model.band_variance_nm2(f_lo_per_mm, f_hi_per_mm, kind))
        from scipy import integrate

        kd = str(kind).lower()
        if kd == "areal":
            fn = lambda f: 2 * math.pi * f * float(self.model.psd2d(f))  # noqa: E731
        else:
            prof = ABC(self.model.a, self.model.b_mm, self.model.c, self.model.kind)
            if prof.kind != "profile":
                raise ConventionError("profile truth of an ABC model needs kind='profile'")
            fn = lambda f: float(prof(f))  # noqa: E731
        v, _ = integrate.quad(fn, f_lo_per_mm, f_hi_per_mm, limit=200)
        return math.sqrt(v)

    def form(self, x_mm: np.ndarray, y_mm: np.ndarray) -> np.ndarray:
        """Form heights at part coordinates, nm."""
        r2 = (x_mm ** 2 + y_mm ** 2) / (0.5 * self.part_diameter_mm) ** 2
        return self.form_sag_nm * r2

    def sample(self, instrument: Instrument, *, center_mm: tuple[float, float] = (0.0, 0.0),
               seed: Any = None, site: str = "") -> HeightMap:
        """What ``instrument`` records at ``center_mm`` (part coordinates, mm).

        Returns
        -------
        HeightMap
            ``meta["instrument"]``, ``meta["source"]`` (site label) and
            ``meta["synthetic_part"]`` describe it.
        """
        ny, nx = (int(v) for v in instrument.shape)
        rng = np.random.default_rng(seed)
        big = synthesize(lambda f: self.model.psd2d(f) * instrument.itf(f) ** 2,
                         (2 * ny, 2 * nx), instrument.dx_mm, rng)
        z = big.z_nm[ny // 2: ny // 2 + ny, nx // 2: nx // 2 + nx].copy()
        x = (np.arange(nx) - (nx - 1) / 2) * instrument.dx_mm + center_mm[0]
        y = (np.arange(ny) - (ny - 1) / 2) * instrument.dx_mm + center_mm[1]
        z += self.form(x[None, :], y[:, None])
        if instrument.noise_nm > 0:
            z += instrument.noise_nm * rng.standard_normal(z.shape)
        z *= instrument.height_scale
        if instrument.aperture_diameter_mm is not None:
            xl = x - center_mm[0]
            yl = y - center_mm[1]
            r_ap = 0.5 * instrument.aperture_diameter_mm
            inside = xl[None, :] ** 2 + yl[:, None] ** 2 <= r_ap * r_ap
            z[~inside] = np.nan
        meta = {"instrument": instrument.name, "source": site or f"{instrument.name} site",
                "synthetic_part": {"model": repr(self.model), "form_sag_nm": self.form_sag_nm,
                                   "center_mm": list(center_mm), "seed": repr(seed),
                                   "height_scale": instrument.height_scale}}
        return HeightMap(z, instrument.dx_mm, meta=meta)


def measure_part(surface: KnownSurface, instruments: list[Instrument], seed: int = 0
                 ) -> list[HeightMap]:
    """Every site of every instrument: full-aperture instruments at the centre, the others
    at sites spread over the inner 80 % of the part (deterministic for a seed)."""
    out = []
    rng = np.random.default_rng(seed)
    r_max = 0.4 * surface.part_diameter_mm
    for ii, inst in enumerate(instruments):
        for s in range(inst.n_sites):
            if s == 0 and inst.aperture_diameter_mm is not None:
                c = (0.0, 0.0)
            else:
                r = r_max * math.sqrt(rng.uniform())
                t = rng.uniform(0, 2 * math.pi)
                c = (r * math.cos(t), r * math.sin(t))
            out.append(surface.sample(inst, center_mm=c, seed=[seed, ii, s],
                                      site=f"{inst.name} site {s + 1}"))
    return out
