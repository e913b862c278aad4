"""Display units of the optics shop: nm, µm, waves and fringes at a test wavelength; power.

Everything inside the library is in nm (``docs/conventions.md``); these helpers
convert for display and say how, in one sentence a report can print:

* ``waves``: value / λ (a surface height in waves of the test wavelength, or
  a wavefront in waves; which one is the quantity's, ``quantity=``);
* ``fringes``: fringe spacings of a Fizeau (reflection, normal incidence)
  test: a surface height / (λ / 2), a wavefront / λ;
* ``um``: value / 1000; ``nm``: as is.

Power
-----
"Power" means three different numbers in shop practice; :func:`power_figures`
gives all of them from a Zernike fit and names each:

* the Fringe Z4 coefficient (in the fit's normalisation, rms or peak);
* the PV of the Z4 term ``c₄ (2ρ² - 1)`` over the fit's pixels,
  ``2 c₄_peak (ρ²_max - ρ²_min)`` (``2 c₄_peak`` when the data fill the unit
  disk); this is the figure Zygo MetroPro reports as "Power" (its Zernike
  term Z3, 0-based, fitted over the data's aperture, reported as the PV of
  that term; our reading of the MetroPro Reference Guide, OMP-0347, not
  verified against a copy of it: check a MetroPro report before relying on
  the equality);
* Seidel focus ``2 c₄ - 6 c₉`` (peak-normalised Fringe coefficients: the ρ²
  coefficient of the Zernike expansion, i.e. power with the spherical term's
  ρ² part put back), when Z9 was fitted;
* and, separately, the ISO 10110-5 sagitta deviation A of the least-squares
  approximating sphere (:mod:`metrology.iso10110`), which is none of the above
  off a full disk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ConventionError

__all__ = ["DISPLAY_UNITS", "DisplayUnit", "display_unit", "from_nm", "to_nm",
           "PowerFigures", "power_figures"]

DISPLAY_UNITS = ("nm", "um", "waves", "fringes")


@dataclass(frozen=True)
class DisplayUnit:
    """A display unit and its conversion from nm.

    Attributes
    ----------
    unit : {"nm", "um", "waves", "fringes"}
    nm_per_unit : float
        One display unit in nm (value_in_unit = value_nm / nm_per_unit).
    wavelength_nm : float or None
    quantity : {"surface", "wavefront"}
    label : str
        Short label for a column or an axis ("fringes at 632.8 nm").
    statement : str
        The conversion in one sentence, for reports.
    """

    unit: str
    nm_per_unit: float
    wavelength_nm: float | None
    quantity: str
    label: str
    statement: str

    def from_nm(self, value_nm: Any) -> Any:
        """Convert a number or array in nm to this unit."""
        return np.asarray(value_nm) / self.nm_per_unit if isinstance(value_nm, np.ndarray) \
            else float(value_nm) / self.nm_per_unit

    def to_nm(self, value: Any) -> Any:
        """Convert a number or array in this unit to nm."""
        return np.asarray(value) * self.nm_per_unit if isinstance(value, np.ndarray) \
            else float(value) * self.nm_per_unit


def display_unit(unit: str, wavelength_nm: float | None = None,
                 quantity: str = "surface") -> DisplayUnit:
    """The :class:`DisplayUnit` for ``unit`` (module docstring).

    Parameters
    ----------
    unit : {"nm", "um", "waves", "fringes"}
    wavelength_nm : float, optional
        Test wavelength (required for waves and fringes).
    quantity : {"surface", "wavefront"}
        What the values are: surface heights or wavefront (fringes differ).
    """
    u = str(unit).strip().lower().replace("µ", "u").replace("μ", "u")
    u = {"fringe": "fringes", "wave": "waves", "wv": "waves", "micron": "um",
         "microns": "um", "nanometre": "nm", "nanometer": "nm"}.get(u, u)
    if u not in DISPLAY_UNITS:
        raise ConventionError(f"unknown display unit {unit!r}; use one of {DISPLAY_UNITS}")
    q = str(quantity).lower()
    if q not in ("surface", "wavefront"):
        raise ConventionError(f"quantity must be 'surface' or 'wavefront', got {quantity!r}")
    if u == "nm":
        return DisplayUnit("nm", 1.0, None, q, "nm", "values in nm")
    if u == "um":
        return DisplayUnit("um", 1000.0, None, q, "µm", "values in µm (1 µm = 1000 nm)")
    if wavelength_nm is None:
        raise ConventionError(f"{u} need the test wavelength (wavelength_nm=)")
    lam = float(wavelength_nm)
    if not (lam > 0 and math.isfinite(lam)):
        raise ConventionError(f"wavelength_nm must be positive, got {wavelength_nm!r}")
    if u == "waves":
        return DisplayUnit("waves", lam, lam, q, f"waves at {lam:g} nm",
                           f"1 wave = lambda = {lam:g} nm of {q} (lambda = {lam:g} nm)")
    per = lam / 2.0 if q == "surface" else lam
    what = "lambda/2" if q == "surface" else "lambda"
    return DisplayUnit("fringes", per, lam, q, f"fringes at {lam:g} nm",
                       f"1 fringe = {what} = {per:g} nm of {q} at lambda = {lam:g} nm "
                       "(Fizeau test in reflection, normal incidence)")


def from_nm(value_nm: Any, unit: str, wavelength_nm: float | None = None,
            quantity: str = "surface") -> Any:
    """``value_nm`` in ``unit``; see :func:`display_unit`."""
    return display_unit(unit, wavelength_nm, quantity).from_nm(value_nm)


def to_nm(value: Any, unit: str, wavelength_nm: float | None = None,
          quantity: str = "surface") -> Any:
    """``value`` given in ``unit``, in nm; see :func:`display_unit`."""
    return display_unit(unit, wavelength_nm, quantity).to_nm(value)


@dataclass(frozen=True)
class PowerFigures:
    """The "power" of a surface as each convention states it (module docstring), nm.

    Attributes
    ----------
    z4_coefficient_nm : float
        Fringe Z4 coefficient in the fit's normalisation (``normalisation``).
    z4_peak_nm : float
        Peak-normalised Z4 coefficient c₄ (edge amplitude of c₄ (2ρ² - 1)).
    pv_nm : float
        PV of the Z4 term over the fit's pixels, signed like c₄:
        ``2 c₄_peak (ρ²_max - ρ²_min)``.
    metropro_power_nm : float
        MetroPro's "Power" figure: the same PV (see the module docstring for
        the source and its status).
    seidel_focus_nm : float or None
        ``2 c₄ - 6 c₉`` (peak-normalised), None when Z9 was not fitted.
    normalisation : {"rms", "peak"}
        The fit's normalisation (that of ``z4_coefficient_nm``).
    r_norm_mm : float
        R_norm of the fit, mm.
    rho2_range : (float, float)
        Smallest and largest ρ² = (r / R_norm)² over the fit's pixels.
    statements : dict of str
        One sentence per figure, for reports.
    """

    z4_coefficient_nm: float
    normalisation: str
    z4_peak_nm: float
    pv_nm: float
    metropro_power_nm: float
    seidel_focus_nm: float | None
    r_norm_mm: float
    rho2_range: tuple[float, float]
    statements: dict

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _rho2_range(geo: Any) -> tuple[float, float]:
    """Smallest and largest ρ² over the pixels of a :class:`~metrology.zernike.ZernikeGeometry`
    (pixel centres in the map frame, ``docs/conventions.md``)."""
    ny, nx = geo.shape
    x = ((np.arange(nx) - (nx - 1) / 2.0) * geo.dx_mm - geo.centre_mm[0]) / geo.r_norm_mm
    y = ((np.arange(ny) - (ny - 1) / 2.0) * geo.dy_mm - geo.centre_mm[1]) / geo.r_norm_mm
    rho2 = (x[None, :] ** 2 + y[:, None] ** 2)[geo.mask]
    return float(rho2.min()), float(rho2.max())


def power_figures(fit: Any) -> PowerFigures:
    """Power of a :class:`~metrology.zernike.ZernikeFit` in every convention (nm).

    The fit must contain the power mode (n, m) = (2, 0); Seidel focus needs
    (4, 0) too.
    """
    from .zernike_schemes import normalisation_factor

    try:
        c4 = fit.coefficient_nm(2, 0)
    except ConventionError:
        raise ConventionError("the fit has no power term (Fringe Z4 = (2, 0))") from None
    c4p = c4 * normalisation_factor(2, 0, fit.normalisation)
    try:
        c9p = fit.coefficient_nm(4, 0) * normalisation_factor(4, 0, fit.normalisation)
        seidel = 2.0 * c4p - 6.0 * c9p
    except ConventionError:
        seidel = None
    r2min, r2max = _rho2_range(fit.geometry)
    pv = 2.0 * c4p * (r2max - r2min)
    st = {
        "z4": f"Fringe Z4 (2, 0) coefficient = {c4:.6g} nm ({fit.normalisation} normalisation, "
              f"R_norm = {fit.r_norm_mm:g} mm)",
        "pv": f"PV of the Z4 term over the data = 2 c4_peak (rho^2 from {r2min:.4g} to "
              f"{r2max:.4g}) = {pv:.6g} nm",
        "metropro": "MetroPro 'Power' = PV of the Zernike power term over the data aperture "
                    f"= {pv:.6g} nm (MetroPro Reference Guide, as read here; not verified)",
    }
    if seidel is not None:
        st["seidel"] = f"Seidel focus = 2 c4 - 6 c9 (peak-normalised) = {seidel:.6g} nm"
    return PowerFigures(c4, fit.normalisation, c4p, pv, pv, seidel, float(fit.r_norm_mm),
                        (r2min, r2max), st)
