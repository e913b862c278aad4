"""Refractive indices against published measured values (not the formula re-evaluated)."""

import numpy as np
import pytest

from metrology import ConventionError
from metrology.materials import refractive_index


@pytest.mark.parametrize(
    ("material", "wavelength_nm", "n_published"),
    [
        # CaF2: catalogue n_d = 1.43385 (glass-catalogue entry "CaF2", measured)
        ("CaF2", 587.56, 1.43385),
        # fused silica n_d = 1.45846 (Corning 7980 data sheet)
        ("fused silica", 587.56, 1.45846),
    ],
)
def test_index_matches_published_values(material, wavelength_nm, n_published):
    assert refractive_index(material, wavelength_nm) == pytest.approx(n_published, abs=3e-5)


def test_caf2_abbe_number():
    # V_d of CaF2: 95.2-95.35 in supplier catalogues, 95.0 from Malitson's own data;
    # a wrong or swapped coefficient moves it by far more than 0.4
    nd, nf, nc = (refractive_index("CaF2", w) for w in (587.56, 486.13, 656.27))
    assert (nd - 1) / (nf - nc) == pytest.approx(95.2, abs=0.4)


def test_caf2_dispersion_is_normal_in_the_uv():
    # n rises monotonically towards the UV absorption edge (normal dispersion)
    lam = np.array([250.0, 266.0, 355.0, 532.0, 1064.0])
    n = refractive_index("CaF2", lam)
    assert np.all(np.diff(n) < 0)
    assert 1.46 < n[1] < 1.47  # CaF2 at 266 nm is about 1.462


@pytest.mark.parametrize("wl", [193.0, 1e5, float("nan")])
def test_outside_the_formula_range_is_refused(wl):
    with pytest.raises(ConventionError, match="outside the range"):
        refractive_index("CaF2", wl)


def test_unknown_material_is_refused():
    with pytest.raises(ConventionError, match="no dispersion formula"):
        refractive_index("unobtainium", 500.0)
