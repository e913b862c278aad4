"""Surface <-> wavefront conversion for a surface tested or used in reflection or transmission.

At (near) normal incidence a surface height error h changes the wavefront by

* reflection: ``W = 2 n₀ cos θ · h`` per reflection (n₀ the index of the medium
  the light travels in, θ the angle of incidence);
* transmission: ``W = (n - n₀) · h`` per pass through the surface, n the
  index of the material at the wavelength (:func:`metrology.materials.refractive_index`:
  CaF2 and fused silica, Malitson's Sellmeier fits);

times the number of passes (1: single pass; 2: double pass, e.g. a lens
tested in transmission against a return mirror, or a surface reflected twice).

Sign: the magnitude convention of interferometer software: a surface bump
gives a positive wavefront deviation in both cases (physically a bump
shortens the optical path in reflection and lengthens it in transmission;
negate with ``sign=-1`` for a signed optical-path convention).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ConventionError
from .heightmap import HeightMap

__all__ = ["SurfaceWavefront", "surface_wavefront", "surface_to_wavefront",
           "wavefront_to_surface"]


@dataclass(frozen=True)
class SurfaceWavefront:
    """The factor between surface height and wavefront, and how it was obtained.

    Attributes
    ----------
    mode : {"reflection", "transmission"}
    passes : {1, 2}
    factor : float
        ``W = factor · h`` (both in nm).
    index : float or None
        Refractive index of the material (transmission).
    wavelength_nm, material, medium_index, angle_deg, source
        What the factor depends on; ``source`` cites the dispersion formula.
    """

    mode: str
    passes: int
    factor: float
    index: float | None
    wavelength_nm: float | None
    material: str | None
    medium_index: float
    angle_deg: float
    source: str

    @property
    def description(self) -> str:
        """The conversion in words, for reports."""
        pas = "single pass" if self.passes == 1 else "double pass"
        if self.mode == "reflection":
            how = f"2 x {self.passes} x n0 cos(theta)" if self.passes > 1 else "2 n0 cos(theta)"
            ang = (f", incidence {self.angle_deg:g} deg" if self.angle_deg else
                   ", normal incidence")
            return (f"wavefront = {how} x surface = {self.factor:.6g} x surface "
                    f"(reflection, {pas}{ang}, n0 = {self.medium_index:g})")
        mat = self.material or "material"
        lam = f" at {self.wavelength_nm:g} nm" if self.wavelength_nm else ""
        src = f"; {self.source}" if self.source else ""
        how = "(n - n0)" if self.passes == 1 else f"{self.passes} x (n - n0)"
        return (f"wavefront = {how} x surface = {self.factor:.6g} x surface "
                f"(transmission, {pas}, {mat} n = {self.index:.6f}{lam}, "
                f"n0 = {self.medium_index:g}{src})")

    def to_wavefront(self, surface_nm: Any) -> Any:
        """Wavefront (nm) from surface height (nm): a number, an array or a HeightMap."""
        return _apply(surface_nm, self.factor, self, "wavefront")

    def to_surface(self, wavefront_nm: Any) -> Any:
        """Surface height (nm) from wavefront (nm)."""
        return _apply(wavefront_nm, 1.0 / self.factor, self, "surface")


def _apply(v: Any, f: float, conv: SurfaceWavefront, quantity: str) -> Any:
    if isinstance(v, HeightMap):
        meta = dict(v.meta)
        meta["quantity"] = quantity
        meta["surface_wavefront"] = {"mode": conv.mode, "passes": conv.passes,
                                     "factor": conv.factor, "description": conv.description}
        return v.replace(v.z_nm * f, meta=meta, copy=False,
                         note=f"converted to {quantity}: {conv.description}")
    if isinstance(v, np.ndarray):
        return v * f
    return float(v) * f


def surface_wavefront(mode: str = "reflection", passes: int = 1, *,
                      material: str | None = None, wavelength_nm: float | None = None,
                      index: float | None = None, medium_index: float = 1.0,
                      angle_deg: float = 0.0, sign: int = 1) -> SurfaceWavefront:
    """The surface -> wavefront factor (module docstring).

    Parameters
    ----------
    mode : {"reflection", "transmission"}
    passes : {1, 2}
    material : str, optional
        For transmission: "CaF2" or "fused silica" (with ``wavelength_nm``),
        or give ``index`` directly.
    wavelength_nm : float, optional
        Vacuum wavelength, nm (needed with ``material``).
    index : float, optional
        Refractive index of the material (instead of ``material``).
    medium_index : float
        n₀ of the surrounding medium (1 for air to the precision of these
        conversions; 1.000277 for air at 633 nm if you need it).
    angle_deg : float
        Angle of incidence for reflection (the factor is 2 n₀ cos θ).
    sign : {1, -1}

    Returns
    -------
    SurfaceWavefront
    """
    md = str(mode).lower()
    if md not in ("reflection", "transmission"):
        raise ConventionError(f"mode must be 'reflection' or 'transmission', got {mode!r}")
    if passes not in (1, 2) or isinstance(passes, bool):
        raise ConventionError(f"passes must be 1 (single) or 2 (double), got {passes!r}")
    if sign not in (1, -1):
        raise ConventionError(f"sign must be 1 or -1, got {sign!r}")
    n0 = float(medium_index)
    if not (n0 >= 1.0 and math.isfinite(n0)):
        raise ConventionError(f"medium_index must be >= 1, got {medium_index!r}")
    lam = None if wavelength_nm is None else float(wavelength_nm)
    if md == "reflection":
        th = float(angle_deg)
        if not (0.0 <= th < 90.0):
            raise ConventionError(f"angle_deg must be in [0, 90), got {angle_deg!r}")
        f = 2.0 * n0 * math.cos(math.radians(th)) * passes * sign
        return SurfaceWavefront(md, passes, f, None, lam, None, n0, th, "")
    if angle_deg:
        raise ConventionError("transmission is converted at normal incidence only")
    source = ""
    if index is not None:
        if material is not None:
            raise ConventionError("give material (and wavelength_nm) or index, not both")
        n = float(index)
        source = "index given"
    else:
        if material is None or lam is None:
            raise ConventionError("transmission needs material= and wavelength_nm= (or index=)")
        from .materials import MATERIALS, refractive_index

        n = float(refractive_index(material, lam))
        for sell in MATERIALS.values():  # which formula answered: cite its source
            try:
                if float(sell.index(lam)) == n:
                    source = f"{sell.name}: {sell.source}"
                    break
            except ConventionError:
                continue
    if not (n > n0 and math.isfinite(n)):
        raise ConventionError(f"the material index {n!r} must exceed the medium's {n0!r}")
    f = (n - n0) * passes * sign
    return SurfaceWavefront(md, passes, f, n, lam, material, n0, 0.0, source)


def surface_to_wavefront(hm: HeightMap, **kwargs: Any) -> HeightMap:
    """A surface map (nm) as the wavefront it produces; ``kwargs`` as :func:`surface_wavefront`.

    ``meta['quantity']`` becomes "wavefront" and ``meta['surface_wavefront']``
    records the conversion.
    """
    return surface_wavefront(**kwargs).to_wavefront(hm)


def wavefront_to_surface(hm: HeightMap, **kwargs: Any) -> HeightMap:
    """A wavefront map (nm) as the surface error that produces it (inverse of the above)."""
    return surface_wavefront(**kwargs).to_surface(hm)
