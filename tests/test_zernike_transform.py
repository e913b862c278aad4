"""ZernikeFit.to: schemes, normalisations and the exact change of normalisation radius.

Expected values come from independent computations: re-fitting the data in the
target convention (least squares is not the transform), direct evaluation of
the radial polynomials by the factorial sum (tests/reference.py), and the
hand-derived Z4 case.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import metrology as m
from metrology.errors import ConventionError
from metrology.zernike_schemes import normalisation_factor
from metrology.zernike_transform import ConvertedZernikeFit, closure, scaling_matrix

from reference import radial_factorial

R = 10.0


def polynomial_surface(k: int = 16, seed: int = 0, scheme: str = "fringe") -> m.HeightMap:
    coefs = np.random.default_rng(seed).normal(0, 5.0, k)
    return m.zernike_surface(coefs, shape=(121, 121), dx_mm=2 * R / 120, scheme=scheme,
                             normalisation="rms", r_norm_mm=R)


def within(hm: m.HeightMap, radius: float) -> m.HeightMap:
    x, y = hm.grid_mm()
    return hm.apply_mask(np.hypot(x, y) <= radius * (1 + 1e-12))


def test_scheme_and_normalisation_match_a_refit_in_the_target_convention() -> None:
    hm = polynomial_surface(37)
    fit = m.fit_zernike(hm, 37, "fringe", "rms", r_norm_mm=R, centre_mm=(0, 0))
    for scheme in ("noll", "ansi", "fringe"):
        for norm in ("peak", "rms"):
            out = fit.to(scheme, norm)
            assert isinstance(out, ConvertedZernikeFit) and out.method == "reindex"
            ref = m.fit_zernike(hm, list(out.orders), scheme, norm, r_norm_mm=R, centre_mm=(0, 0))
            np.testing.assert_allclose(out.coefficients_nm, ref.coefficients_nm, atol=1e-9)
            assert out.indices == sorted(out.indices)  # ordered by the target index
            assert out.scheme == scheme and out.normalisation == norm
            np.testing.assert_allclose(out.fitted.z_nm, fit.fitted.z_nm, atol=1e-9,
                                       equal_nan=True)
    # explicit factor: c_peak = N c_rms
    pk = fit.to(normalisation="peak")
    for (n, mm), c_rms, c_pk in zip(fit.orders, fit.coefficients_nm, pk.coefficients_nm,
                                    strict=True):
        assert c_pk == pytest.approx(c_rms * math.sqrt((2 * n + 2) / (2 if mm == 0 else 1)))
    assert fit.to("ansi").indices[0] == 0


def test_fringe_refuses_modes_it_cannot_index() -> None:
    hm = polynomial_surface(45, scheme="noll")
    fit = m.fit_zernike(hm, 45, "noll", r_norm_mm=R, centre_mm=(0, 0))
    with pytest.raises(ConventionError, match="Fringe stops at Z37"):
        fit.to("fringe")
    with pytest.raises(ConventionError):
        fit.to("zemax")
    with pytest.raises(ConventionError):
        fit.to(r_norm_mm=-1.0)


def test_power_by_hand() -> None:
    # R_2(s rho) = s² R_2(rho) + (s² - 1) R_0: peak c on R -> (s² - 1) c piston, s² c power
    t = scaling_matrix(0, 2, 0.6)
    np.testing.assert_allclose(t, [[1.0, 0.0], [0.36 - 1.0, 0.36]], atol=1e-15)
    np.testing.assert_allclose(scaling_matrix(3, 7, 1.0), np.eye(3), atol=1e-12)


@pytest.mark.parametrize("m_,nmax", [(0, 12), (1, 11), (2, 10), (3, 9), (4, 8), (6, 10)])
def test_scaling_matrix_reproduces_the_scaled_polynomial(m_: int, nmax: int) -> None:
    s = 0.73
    rho = np.linspace(0, 1, 41)
    t = scaling_matrix(m_, nmax, s)
    orders = list(range(m_, nmax + 1, 2))
    for i, n in enumerate(orders):
        direct = radial_factorial(n, m_, s * rho).astype(float)
        series = sum(t[i, j] * radial_factorial(n2, m_, rho).astype(float)
                     for j, n2 in enumerate(orders))
        np.testing.assert_allclose(series, direct, atol=1e-10)


@pytest.mark.parametrize("new_r", [6.5, 8.0])
def test_smaller_radius_equals_a_refit_of_the_inner_data(new_r: float) -> None:
    hm = polynomial_surface(36)
    fit = m.fit_zernike(hm, 36, r_norm_mm=R, centre_mm=(0, 0))
    out = fit.to(r_norm_mm=new_r)
    assert out.method == "exact" and out.r_norm_mm == new_r
    ref = m.fit_zernike(within(hm, new_r), list(out.orders), r_norm_mm=new_r, centre_mm=(0, 0))
    np.testing.assert_allclose(out.coefficients_nm, ref.coefficients_nm, atol=1e-7)
    # the same polynomial: fitted map and residual unchanged on the fit's pixels
    np.testing.assert_allclose(out.fitted.z_nm, fit.fitted.z_nm, atol=1e-8, equal_nan=True)
    assert out.residual_rms_nm == pytest.approx(fit.residual_rms_nm, abs=1e-8)
    assert "exact transform" in out.note and "rho > 1" in out.note


def test_larger_radius_equals_a_refit_of_the_same_pixels() -> None:
    hm = polynomial_surface(28, seed=3)
    fit = m.fit_zernike(hm, 28, "noll", "peak", r_norm_mm=R, centre_mm=(0, 0))
    out = fit.to(r_norm_mm=13.0)
    ref = m.fit_zernike(hm, list(out.orders), "noll", "peak", r_norm_mm=13.0, centre_mm=(0, 0))
    np.testing.assert_allclose(out.coefficients_nm, ref.coefficients_nm, atol=1e-7)
    back = out.to(r_norm_mm=R)
    np.testing.assert_allclose(back.coefficients_nm, fit.coefficients_nm, atol=1e-8)


def test_open_term_set_closure_or_refit() -> None:
    # power and spherical only: the closure needs piston
    coefs = {(2, 0): 30.0, (4, 0): -12.0}
    hm = m.zernike_surface(list(coefs.values()), shape=(121, 121), dx_mm=2 * R / 120,
                           normalisation="peak", r_norm_mm=R, indices=[4, 9])
    fit = m.fit_zernike(hm, [4, 9], normalisation="peak", r_norm_mm=R, centre_mm=(0, 0))
    exact = fit.to(r_norm_mm=7.0)
    assert (0, 0) in exact.orders and "added the lower-order modes [(0, 0)]" in exact.note
    # by hand for the power term: power -> s² · 30 plus the spherical's share
    s2 = 0.49
    t4 = scaling_matrix(0, 4, 0.7)
    assert exact.coefficient_nm(2, 0) == pytest.approx(30.0 * s2 + (-12.0) * t4[2, 1], rel=1e-9)
    same = fit.to(r_norm_mm=7.0, terms="same")
    assert same.method == "refit" and "not closed" in same.note
    assert same.orders == [(2, 0), (4, 0)]
    ref = m.fit_zernike(within(hm, 7.0), [4, 9], normalisation="peak", r_norm_mm=7.0,
                        centre_mm=(0, 0))
    np.testing.assert_allclose(same.coefficients_nm, ref.coefficients_nm, atol=1e-9)
    assert same.to_dict()["conversion"]["method"] == "refit"
    assert same.to_dict()["conversion"]["from"]["r_norm_mm"] == pytest.approx(R)


def test_closure_and_count_based_sets_are_closed() -> None:
    assert closure([(4, 0), (3, -1)]) == [(0, 0), (1, -1), (2, 0), (3, -1), (4, 0)]
    from metrology.zernike_schemes import resolve_terms

    for scheme, k in (("fringe", 37), ("noll", 45), ("ansi", 28)):
        orders = resolve_terms(k, scheme)[1]
        assert len(closure(orders)) == len(orders)


def test_normalisation_factor_used_is_the_convention() -> None:
    assert normalisation_factor(4, 0, "rms") == pytest.approx(math.sqrt(5))
    assert normalisation_factor(3, 1, "rms") == pytest.approx(math.sqrt(8))
