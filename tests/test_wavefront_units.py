"""Surface <-> wavefront, display units (nm, µm, waves, fringes) and the power figures."""

from __future__ import annotations

import math

import numpy as np
import pytest

import metrology as m
from metrology.errors import ConventionError
from metrology.units import display_unit, from_nm, power_figures, to_nm
from metrology.wavefront import surface_to_wavefront, surface_wavefront, wavefront_to_surface


def caf2_index(lam_nm: float) -> float:
    """Malitson 1963 Sellmeier for CaF2, written out here independently."""
    lam2 = (lam_nm / 1000.0) ** 2
    b = (0.5675888, 0.4710914, 3.8484723)
    c = (0.050263605, 0.1003909, 34.649040)
    return math.sqrt(1 + sum(bi * lam2 / (lam2 - ci ** 2) for bi, ci in zip(b, c, strict=True)))


def test_reflection_factors() -> None:
    assert surface_wavefront("reflection").factor == 2.0
    assert surface_wavefront("reflection", 2).factor == 4.0
    assert surface_wavefront("reflection", angle_deg=60.0).factor == pytest.approx(1.0)
    assert surface_wavefront("reflection", sign=-1).factor == -2.0
    assert "normal incidence" in surface_wavefront().description


@pytest.mark.parametrize("lam", [248.0, 632.8, 1064.0])
def test_transmission_uses_caf2_n_minus_1(lam: float) -> None:
    n = caf2_index(lam)
    one = surface_wavefront("transmission", 1, material="CaF2", wavelength_nm=lam)
    two = surface_wavefront("transmission", 2, material="calcium fluoride", wavelength_nm=lam)
    assert one.factor == pytest.approx(n - 1.0, rel=1e-12)
    assert two.factor == pytest.approx(2 * (n - 1.0), rel=1e-12)
    assert one.index == pytest.approx(n, rel=1e-12)
    assert "Malitson" in one.description and "CaF2" in one.description
    assert surface_wavefront("transmission", index=1.5, medium_index=1.33).factor == \
        pytest.approx(0.17)


def test_map_conversion_round_trip_and_meta() -> None:
    hm = m.HeightMap(np.arange(12.0).reshape(3, 4), 0.1)
    w = surface_to_wavefront(hm, mode="transmission", material="fused silica",
                             wavelength_nm=632.8)
    assert w.meta["quantity"] == "wavefront"
    assert "fused silica" in w.meta["surface_wavefront"]["description"]
    back = wavefront_to_surface(w, mode="transmission", material="fused silica",
                                wavelength_nm=632.8)
    np.testing.assert_allclose(back.z_nm, hm.z_nm, rtol=1e-14)
    assert surface_wavefront().to_wavefront(3.0) == 6.0


@pytest.mark.parametrize("kw", [
    {"mode": "diffraction"}, {"passes": 3}, {"mode": "transmission"},
    {"mode": "transmission", "material": "CaF2", "wavelength_nm": 100.0},
    {"mode": "transmission", "material": "BK7", "wavelength_nm": 632.8},
    {"mode": "transmission", "index": 1.4, "material": "CaF2", "wavelength_nm": 632.8},
    {"angle_deg": 95.0}, {"medium_index": 0.5},
])
def test_bad_conversions(kw) -> None:
    with pytest.raises(ConventionError):
        surface_wavefront(**kw)


def test_display_units() -> None:
    f = display_unit("fringes", 632.8)
    assert f.nm_per_unit == 316.4 and "lambda/2" in f.statement and "316.4" in f.statement
    assert from_nm(632.8, "fringes", 632.8) == pytest.approx(2.0)
    assert from_nm(632.8, "fringes", 632.8, quantity="wavefront") == pytest.approx(1.0)
    assert from_nm(632.8, "waves", 632.8) == pytest.approx(1.0)
    assert from_nm(1500.0, "µm") == 1.5
    assert to_nm(0.25, "waves", 546.07) == pytest.approx(136.5175)
    np.testing.assert_allclose(from_nm(np.array([316.4, 632.8]), "fringes", 632.8), [1, 2])
    for bad in (("furlongs", 632.8), ("waves", None), ("fringes", -1.0)):
        with pytest.raises(ConventionError):
            display_unit(*bad)


def test_power_figures_of_a_known_surface() -> None:
    # c4 = 40 nm, c9 = 5 nm (peak), on the full disk
    hm = m.zernike_surface([0, 0, 0, 40.0, 0, 0, 0, 0, 5.0], shape=(101, 101), dx_mm=0.2,
                           normalisation="peak")
    fit = m.fit_zernike(hm, 9, normalisation="rms")
    p = power_figures(fit)
    assert p.z4_coefficient_nm == pytest.approx(40.0 / math.sqrt(3), rel=1e-6)
    assert p.z4_peak_nm == pytest.approx(40.0, rel=1e-6)
    assert p.rho2_range[0] == pytest.approx(0.0) and p.rho2_range[1] == pytest.approx(1.0)
    assert p.pv_nm == pytest.approx(80.0, rel=1e-6) == p.metropro_power_nm
    assert p.seidel_focus_nm == pytest.approx(2 * 40.0 - 6 * 5.0, rel=1e-6)
    # the PV of the Z4 term over the pixels, computed directly
    x, y = hm.grid_mm()
    rho2 = (x * x + y * y)[hm.valid] / fit.r_norm_mm ** 2
    term = 40.0 * (2 * rho2 - 1)
    assert p.pv_nm == pytest.approx(term.max() - term.min(), rel=1e-6)
    assert "not verified" in p.statements["metropro"]
    only = power_figures(m.fit_zernike(hm, 4))
    assert only.seidel_focus_nm is None
    with pytest.raises(ConventionError):
        power_figures(m.fit_zernike(hm, 3))
