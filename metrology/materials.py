"""Refractive index of lens materials, for surface <-> wavefront and scatter conversions.

One formula per material, with its source and its range of validity; a
wavelength outside that range is an error (a silently extrapolated index would
turn into a wrong wavefront or scatter figure).

CaF2: Sellmeier fit of I. H. Malitson, "A redetermination of some optical
properties of calcium fluoride", Appl. Opt. 2, 1103-1107 (1963), room
temperature, 0.23-9.7 µm:

    n² − 1 = Σ_i B_i λ² / (λ² − C_i²),   λ in µm,
    B = (0.5675888, 0.4710914, 3.8484723),
    C = (0.050263605, 0.1003909, 34.649040) µm.

Fused silica: Malitson, J. Opt. Soc. Am. 55, 1205 (1965), 0.21-3.71 µm:
B = (0.6961663, 0.4079426, 0.8974794), C = (0.0684043, 0.1162414, 9.896161) µm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ConventionError

__all__ = ["Sellmeier", "MATERIALS", "refractive_index"]


@dataclass(frozen=True)
class Sellmeier:
    """A three-term Sellmeier formula n² − 1 = Σ B_i λ²/(λ² − C_i²), λ in µm."""

    name: str
    b: tuple[float, float, float]
    c_um: tuple[float, float, float]
    range_nm: tuple[float, float]
    source: str

    def index(self, wavelength_nm: float | np.ndarray) -> float | np.ndarray:
        """Refractive index at ``wavelength_nm`` (vacuum wavelength, nm).

        Raises
        ------
        ConventionError
            A wavelength outside the formula's range of validity.
        """
        lam = np.asarray(wavelength_nm, dtype=float)
        lo, hi = self.range_nm
        if not np.all(np.isfinite(lam)) or np.any(lam < lo) or np.any(lam > hi):
            raise ConventionError(
                f"{self.name}: wavelength {wavelength_nm} nm is outside the range of its "
                f"dispersion formula ({lo:g}-{hi:g} nm; {self.source})")
        l2 = (lam / 1000.0) ** 2
        n2 = 1.0 + sum(b * l2 / (l2 - c * c) for b, c in zip(self.b, self.c_um, strict=True))
        n = np.sqrt(n2)
        return float(n) if n.ndim == 0 else n


MATERIALS: dict[str, Sellmeier] = {
    "CaF2": Sellmeier(
        "CaF2", (0.5675888, 0.4710914, 3.8484723), (0.050263605, 0.1003909, 34.649040),
        (230.0, 9700.0), "Malitson, Appl. Opt. 2, 1103 (1963)"),
    "fused silica": Sellmeier(
        "fused silica", (0.6961663, 0.4079426, 0.8974794), (0.0684043, 0.1162414, 9.896161),
        (210.0, 3710.0), "Malitson, J. Opt. Soc. Am. 55, 1205 (1965)"),
}
_ALIASES = {"caf2": "CaF2", "calcium fluoride": "CaF2", "fluorite": "CaF2",
            "fused silica": "fused silica", "sio2": "fused silica", "fused_silica": "fused silica"}


def refractive_index(material: str, wavelength_nm: float | np.ndarray) -> float | np.ndarray:
    """Refractive index of ``material`` at ``wavelength_nm`` (nm, vacuum).

    Parameters
    ----------
    material : str
        ``"CaF2"`` or ``"fused silica"`` (case-insensitive; common aliases accepted).
    wavelength_nm : float or ndarray
        Vacuum wavelength in nm, inside the formula's range.

    Returns
    -------
    float or ndarray
        n (dimensionless), same shape as ``wavelength_nm``.
    """
    key = _ALIASES.get(str(material).strip().lower())
    if key is None:
        raise ConventionError(f"no dispersion formula for material {material!r}; known: "
                              f"{', '.join(MATERIALS)}")
    return MATERIALS[key].index(wavelength_nm)
