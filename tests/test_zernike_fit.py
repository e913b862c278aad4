"""Zernike fitting: recovery, conventions, removal, errors, cache."""

import numpy as np
import pytest

import metrology as mt
from metrology import ApertureError, ConventionError, InsufficientDataError

from reference import basis_reference, grid_mm, lstsq_fit


def _disk_map(nm, coef, shape=(301, 301), dx=0.1, dy=None, center=(0.0, 0.0), radius=None,
              normalisation="rms"):
    """Map synthesised with the *reference* basis (independent of the package)."""
    dy = dx if dy is None else dy
    X, Y = grid_mm(shape, dx, dy)
    if radius is None:
        radius = 0.5 * min((shape[1] - 1) * dx, (shape[0] - 1) * dy)
    inside = (X - center[0]) ** 2 + (Y - center[1]) ** 2 <= radius**2
    z = np.full(shape, np.nan)
    z[inside] = basis_reference(nm, X[inside], Y[inside], center, radius, normalisation) @ coef
    return mt.HeightMap(z, dx, dy), radius


@pytest.mark.parametrize("scheme,K,shape", [("fringe", 37, (201, 201)), ("noll", 66, (201, 201)),
                                            ("ansi", 231, (241, 241))])
@pytest.mark.parametrize("normalisation", ["rms", "peak"])
def test_recovery_exact(scheme, K, shape, normalisation):
    rng = np.random.default_rng(K)
    start = 0 if scheme == "ansi" else 1
    nm = [mt.zernike_order(scheme, j) for j in range(start, start + K)]
    coef = rng.normal(scale=20.0, size=K)
    hm, radius = _disk_map(nm, coef, shape=shape, normalisation=normalisation)
    fit = mt.fit_zernike(hm, terms=K, scheme=scheme, normalisation=normalisation,
                         r_norm_mm=radius, centre_mm=(0.0, 0.0))
    assert fit.indices == list(range(start, start + K))
    assert fit.orders == nm
    assert np.max(np.abs(fit.coefficients_nm - coef)) <= 1e-8
    assert fit.residual_rms_nm <= 1e-8
    assert fit.scheme == scheme and fit.normalisation == normalisation
    assert fit.r_norm_mm == radius and fit.centre_mm == (0.0, 0.0)
    assert 1.0 <= fit.condition_number < 100


def test_normalisations_convert_by_N():
    nm = [mt.fringe_to_order(j) for j in range(1, 38)]
    coef = np.random.default_rng(0).normal(size=37)
    hm, r = _disk_map(nm, coef, normalisation="rms")
    rms = mt.fit_zernike(hm, 37, r_norm_mm=r, centre_mm=(0, 0), normalisation="rms")
    peak = mt.fit_zernike(hm, 37, r_norm_mm=r, centre_mm=(0, 0), normalisation="peak")
    N = np.array([np.sqrt(2 * (n + 1) / (2 if m == 0 else 1)) for n, m in nm])
    assert np.allclose(rms.coefficients_nm, peak.coefficients_nm / N, atol=1e-9)


def test_noise_matches_least_squares_expectation():
    rng = np.random.default_rng(11)
    nm = [mt.fringe_to_order(j) for j in range(1, 38)]
    coef = rng.normal(scale=5, size=37)
    hm, r = _disk_map(nm, coef, shape=(151, 151))
    sigma = 2.0
    noisy = hm.replace(hm.z_nm + rng.normal(scale=sigma, size=hm.shape))
    fit = mt.fit_zernike(noisy, 37, r_norm_mm=r, centre_mm=(0, 0))
    # identical to the plain lstsq solution of the same data
    ref = lstsq_fit(noisy.z_nm, noisy.valid, nm, (0, 0), r, 0.1, 0.1)
    assert np.allclose(fit.coefficients_nm, ref, rtol=0, atol=1e-9)
    # and the error has the covariance sigma^2 (B^T B)^-1 (37 samples: chi-square test)
    X, Y = grid_mm(hm.shape, 0.1, 0.1)
    B = basis_reference(nm, X[hm.valid], Y[hm.valid], (0, 0), r)
    cov = sigma**2 * np.linalg.inv(B.T @ B)
    err = fit.coefficients_nm - coef
    chi2 = err @ np.linalg.solve(cov, err)
    assert 37 - 4 * np.sqrt(2 * 37) < chi2 < 37 + 4 * np.sqrt(2 * 37)
    # residual RMS ~ sigma * sqrt(1 - K/P)
    assert abs(fit.residual_rms_nm / sigma - 1) < 0.05


def test_off_centre_piston_tilt_removed_completely():
    # a circle centred far from the array centre; piston + tilt in physical coordinates
    shape, dx = (256, 300), 0.05
    X, Y = grid_mm(shape, dx, dx)
    c = (2.7, -1.9)
    inside = (X - c[0]) ** 2 + (Y - c[1]) ** 2 <= 3.5**2
    z = np.where(inside, 37.0 + 12.5 * X - 8.25 * Y, np.nan)
    out = mt.remove(mt.HeightMap(z, dx), ["piston", "tilt"])
    assert out.rms_nm < 1e-9
    assert np.nanmax(np.abs(out.z_nm)) < 1e-9
    assert out.meta["removed"] == ["piston", "tilt x", "tilt y"]
    # and removal with power as one joint fit
    z2 = np.where(inside, 1.0 + 3 * X - 2 * Y + 0.7 * ((X - c[0]) ** 2 + (Y - c[1]) ** 2), np.nan)
    out2 = mt.remove(mt.HeightMap(z2, dx), ["piston", "tilt", "power"])
    assert out2.rms_nm < 1e-9


def test_remove_matches_joint_lstsq_reference():
    rng = np.random.default_rng(5)
    shape, dx = (120, 140), 0.1
    X, Y = grid_mm(shape, dx, dx)
    z = rng.normal(size=shape)
    z[rng.random(shape) < 0.2] = np.nan
    hm = mt.HeightMap(z, dx)
    out = mt.remove(hm, ["piston", "tilt", "power", "astigmatism", "coma", "spherical"])
    fit = mt.fit_zernike(hm, ["piston", "tilt", "power", "astigmatism", "coma", "spherical"],
                         scheme="noll")
    nm = fit.orders
    coef = lstsq_fit(z, hm.valid, nm, fit.centre_mm, fit.r_norm_mm, dx, dx)
    B = basis_reference(nm, X[hm.valid], Y[hm.valid], fit.centre_mm, fit.r_norm_mm)
    expect = z[hm.valid] - B @ coef
    assert np.allclose(out.z_nm[hm.valid], expect, atol=1e-10)
    assert np.array_equal(out.valid, hm.valid)


def test_y_flip_changes_sign_of_sine_terms_only():
    rng = np.random.default_rng(9)
    nm = [mt.fringe_to_order(j) for j in range(1, 38)]
    coef = rng.normal(size=37)  # marked asymmetric surface
    hm, r = _disk_map(nm, coef, shape=(181, 181))
    f1 = mt.fit_zernike(hm, 37, r_norm_mm=r)
    f2 = mt.fit_zernike(hm.flip_y(), 37, r_norm_mm=r)
    sign = np.array([-1.0 if m < 0 else 1.0 for _, m in nm])
    assert np.allclose(f2.coefficients_nm, sign * f1.coefficients_nm, atol=1e-9)
    assert np.any(np.abs(f1.coefficients_nm[sign < 0]) > 0.1)  # the test means something
    assert hm.flip_y().meta["rows_flipped"] is True


def test_theta_counter_clockwise_from_x():
    # a map that rises toward +x (columns) and +y (rows) has positive tilt x and tilt y
    X, Y = grid_mm((101, 101), 0.1, 0.1)
    inside = X**2 + Y**2 <= 25
    hm = mt.HeightMap(np.where(inside, 2 * X + 3 * Y, np.nan), 0.1)
    f = mt.fit_zernike(hm, 3, scheme="fringe", normalisation="peak", r_norm_mm=5.0,
                       centre_mm=(0, 0))
    assert np.allclose(f.coefficients_nm, [0, 10, 15], atol=1e-9)


def test_pair_magnitude_and_axis_angle():
    A, phi = 3.0, np.deg2rad(30.0)
    nm = [(2, 2), (2, -2)]
    hm, r = _disk_map(nm, np.array([A * np.cos(2 * phi), A * np.sin(2 * phi)]))
    f = mt.fit_zernike(hm, [5, 6], scheme="fringe", r_norm_mm=r, centre_mm=(0, 0))
    mag, ang = f.pair(2, 2)
    assert mag == pytest.approx(A, abs=1e-9) and ang == pytest.approx(30.0, abs=1e-7)
    assert mt.pair(0.0, -1.0, 3) == pytest.approx((1.0, -30.0))
    with pytest.raises(ConventionError):
        mt.pair(1.0, 1.0, 0)


def test_nan_holes_float32_and_non_square_pixels():
    rng = np.random.default_rng(2)
    nm = [mt.fringe_to_order(j) for j in range(1, 17)]
    coef = rng.normal(size=16)
    hm, r = _disk_map(nm, coef, shape=(161, 241), dx=0.075, dy=0.05)  # circle in mm
    z = hm.z_nm.copy()
    z[rng.random(z.shape) < 0.3] = np.nan  # 30 % dropouts inside the aperture
    z[70:90, 100:140] = np.nan
    holes = mt.HeightMap(z, 0.075, 0.05)
    f = mt.fit_zernike(holes, 16, r_norm_mm=r, centre_mm=(0, 0))
    assert np.max(np.abs(f.coefficients_nm - coef)) < 1e-9
    # float32 input is computed in float64: recovery limited by the input rounding only
    h32 = mt.HeightMap(hm.z_nm.astype(np.float32), 0.075, 0.05)
    assert h32.z_nm.dtype == np.float64
    f32 = mt.fit_zernike(h32, 16, r_norm_mm=r, centre_mm=(0, 0))
    assert np.max(np.abs(f32.coefficients_nm - coef)) < 1e-5


def test_default_centre_and_radius_follow_the_valid_region():
    nm = [(0, 0), (1, 1), (1, -1), (2, 0)]
    coef = np.array([1.0, 2.0, -1.0, 0.5])
    hm, r = _disk_map(nm, coef, shape=(200, 260), dx=0.1, center=(3.0, -2.0), radius=6.0)
    f = mt.fit_zernike(hm, 4)
    assert f.centre_mm == pytest.approx((3.0, -2.0), abs=0.02)
    assert f.r_norm_mm == pytest.approx(6.0, abs=0.1)  # circumscribes the pixel centres
    assert f.r_norm_mm <= 6.0 + 1e-9


def test_errors_say_what_to_change():
    hm, r = _disk_map([(0, 0)], np.array([1.0]), shape=(41, 41))
    with pytest.raises(InsufficientDataError, match="fewer terms"):
        mt.fit_zernike(hm.apply_mask(np.eye(41, dtype=bool) & hm.valid), 66, scheme="noll")
    with pytest.raises(ApertureError, match="no valid pixels"):
        mt.fit_zernike(hm.apply_mask(np.zeros((41, 41), bool)), 3)
    with pytest.raises(ApertureError, match="r_norm_mm"):
        mt.fit_zernike(hm, 3, r_norm_mm=0.5 * r, centre_mm=(0, 0))
    ok = mt.fit_zernike(hm, 3, r_norm_mm=0.5 * r, centre_mm=(0, 0), allow_outside=True)
    assert ok.geometry.rho_max > 1.9
    with pytest.raises(ConventionError, match="scheme"):
        mt.fit_zernike(hm, 3, scheme="standard")
    with pytest.raises(ConventionError, match="37"):
        mt.fit_zernike(hm, 38, scheme="fringe")
    with pytest.raises(ConventionError, match="normalisation"):
        mt.fit_zernike(hm, 3, normalisation="unit")
    all_nan = mt.HeightMap(np.full((10, 10), np.nan), 0.1)
    with pytest.raises(mt.MetrologyError):
        mt.fit_zernike(all_nan, 3)
    with pytest.raises(mt.MetrologyError):
        mt.remove(all_nan, ["tilt"])


def test_geometry_cache_reuses_and_distinguishes():
    mt.clear_geometry_cache()
    nm = [mt.fringe_to_order(j) for j in range(1, 10)]
    hm, r = _disk_map(nm, np.arange(9.0), shape=(101, 101))
    f1 = mt.fit_zernike(hm, 9)
    f2 = mt.fit_zernike(hm.replace(2 * hm.z_nm), 9)
    assert f2.geometry is f1.geometry
    assert np.allclose(f2.coefficients_nm, 2 * f1.coefficients_nm, atol=1e-10)
    other = hm.apply_mask(np.broadcast_to(np.arange(101)[None, :] < 80, (101, 101)).copy())
    f3 = mt.fit_zernike(other, 9)
    assert f3.geometry is not f1.geometry
    f4 = mt.fit_zernike(hm, 9, cache=False)
    assert f4.geometry is not f1.geometry
    assert np.allclose(f4.coefficients_nm, f1.coefficients_nm, atol=1e-12)


def test_moment_gram_fresh_cached_and_uncached_fits_agree_with_lstsq():
    # the Gram matrix from Legendre moments equals B^T B of the reference basis; a fresh,
    # a cached and an uncached geometry give the lstsq coefficients and residual
    rng = np.random.default_rng(4)
    nm = [mt.noll_to_order(j) for j in range(1, 29)]
    hm, r = _disk_map(nm, rng.normal(size=28), shape=(151, 151))
    noisy = hm.replace(hm.z_nm + rng.normal(size=hm.shape))
    ref = lstsq_fit(noisy.z_nm, noisy.valid, nm, (0, 0), r, 0.1, 0.1)
    X, Y = grid_mm(hm.shape, 0.1, 0.1)
    B = basis_reference(nm, X[hm.valid], Y[hm.valid], (0, 0), r)
    mt.clear_geometry_cache()
    first = mt.fit_zernike(noisy, 28, scheme="noll", r_norm_mm=r, centre_mm=(0, 0))
    assert np.allclose(first.geometry.gram, B.T @ B, rtol=1e-12, atol=1e-9)
    second = mt.fit_zernike(noisy.replace(2 * noisy.z_nm), 28, scheme="noll", r_norm_mm=r,
                            centre_mm=(0, 0))
    assert second.geometry is first.geometry
    uncached = mt.fit_zernike(noisy, 28, scheme="noll", r_norm_mm=r, centre_mm=(0, 0),
                              cache=False)
    assert uncached.geometry is not first.geometry
    for f in (first, uncached):
        assert np.allclose(f.coefficients_nm, ref, rtol=0, atol=1e-10)
    assert np.allclose(second.coefficients_nm, 2 * ref, rtol=0, atol=1e-10)
    expect = noisy.z_nm[noisy.valid] - B @ ref
    for f in (first, uncached):
        assert np.allclose(f.residual.z_nm[noisy.valid], expect, atol=1e-10)
        assert np.isnan(f.residual.z_nm[~noisy.valid]).all()
        assert f.residual_rms_nm == pytest.approx(np.std(expect), rel=1e-10)
    assert np.allclose(first.fitted.z_nm[noisy.valid], B @ ref, atol=1e-10)
    assert np.allclose(first.geometry.evaluate(ref), B @ ref, atol=1e-10)
    # Bᵀ z from a map and from the values at the mask pixels
    g = first.geometry
    assert np.allclose(g.project(noisy.z_nm), B.T @ noisy.z_nm[noisy.valid], rtol=1e-12,
                       atol=1e-9)
    assert np.allclose(g.project(g.gather(noisy.z_nm)), g.project(noisy.z_nm), rtol=1e-13,
                       atol=1e-10)


def test_geometry_keeps_no_per_pixel_basis():
    # a cached geometry holds the mask and per-strip matrices: nothing of size K x P
    hm, r = _disk_map([(0, 0)], np.array([1.0]), shape=(401, 401))
    fit = mt.fit_zernike(hm, 37, scheme="fringe", r_norm_mm=r, centre_mm=(0, 0))
    geo = fit.geometry
    big = {k: v.nbytes for k, v in vars(geo).items()
           if isinstance(v, np.ndarray) and k != "mask"}
    per_pixel = geo.n_terms * geo.n_pixels * 8
    assert sum(big.values()) < per_pixel / 10, big
    assert not hasattr(geo, "basis")


def test_residual_rms_is_about_the_mean_without_cancellation():
    # no piston in the fit: the residual keeps a large mean; its RMS about the mean is
    # still exact (the sums are taken about the moments' estimate of the mean)
    rng = np.random.default_rng(21)
    hm, r = _disk_map([(1, 1), (1, -1)], np.array([3.0, -2.0]), shape=(121, 121))
    noise = rng.normal(scale=1e-3, size=hm.shape)
    shifted = hm.replace(hm.z_nm + 1e5 + noise)
    fit = mt.fit_zernike(shifted, [(1, 1), (1, -1)], r_norm_mm=r, centre_mm=(0, 0))
    res = fit.residual.z_nm[shifted.valid]
    assert abs(res.mean() - 1e5) < 1.0
    assert fit.residual_rms_nm == pytest.approx(np.std(res), rel=1e-9)


def test_surface_round_trip_and_fit_result_maps():
    c = np.zeros(37)
    c[3] = 5.0  # Z4 power
    c[36] = 1.0  # Z37
    s = mt.zernike_surface(c, shape=(128, 128), dx_mm=0.2)
    assert s.meta["synthetic"]["scheme"] == "fringe"
    f = mt.fit_zernike(s, 37, r_norm_mm=s.meta["synthetic"]["r_norm_mm"], centre_mm=(0, 0))
    assert np.allclose(f.coefficients_nm, c, atol=1e-9)
    assert np.allclose(f.fitted.z_nm, s.z_nm, equal_nan=True, atol=1e-9)
    assert np.nanmax(np.abs(f.residual.z_nm)) < 1e-9
    # rms normalisation: RMS of a single orthonormal term over the disk ~ its coefficient
    one = mt.zernike_surface([0, 0, 0, 2.0], shape=(512, 512), dx_mm=0.1)
    assert one.rms_nm == pytest.approx(2.0, rel=2e-3)
    d = f.to_dict()
    assert d["terms"][36]["n"] == 12 and d["normalisation"] == "rms"
    assert "coef [nm]" in f.table().split("\n")[2]  # the unit is in the table header
    assert "residual RMS" in f.table()


def test_a_selected_aperture_sets_the_fit_defaults_and_follows_crops():
    # docs/conventions.md: R_norm is the nominal clear-aperture radius, about the aperture centre
    nm = [(0, 0), (1, 1), (1, -1), (2, 0), (2, 2)]
    coef = np.array([1.0, 0.5, -0.5, 2.0, 0.3])
    hm, r = _disk_map(nm, coef, shape=(201, 241), dx=0.1, center=(1.2, -0.8), radius=8.0)
    ca = hm.select_aperture(mt.aperture.Circle(12.0, centre_mm=(1.2, -0.8)))
    assert ca.meta["aperture"] == {"kind": "circle", "centre_mm": [1.2, -0.8],
                                   "diameter_mm": 12.0}
    f = mt.fit_zernike(ca, 5, scheme="noll")
    assert f.r_norm_mm == 6.0 and f.centre_mm == (1.2, -0.8)
    cropped = ca.crop_to_valid()
    g = mt.fit_zernike(cropped, 5, scheme="noll")
    assert g.r_norm_mm == 6.0
    assert np.allclose(g.coefficients_nm, f.coefficients_nm, atol=1e-9)
    flipped = mt.fit_zernike(ca.flip_y(), 5, scheme="noll")
    assert flipped.centre_mm == pytest.approx((1.2, 0.8))
    assert np.allclose(flipped.coefficients_nm, f.coefficients_nm * [1, 1, -1, 1, -1], atol=1e-9)


def test_old_keyword_spellings_warn_and_give_the_same_fit():
    """One vocabulary (docs/conventions.md): centre_mm, r_norm_mm, normalisation. The old
    spellings still work, with a DeprecationWarning, and mean exactly the same."""
    hm, r = _disk_map([(0, 0), (2, 2)], np.array([0.5, 1.5]), shape=(65, 65))
    new = mt.fit_zernike(hm, [1, 5], scheme="fringe", normalisation="peak", r_norm_mm=r,
                         centre_mm=(0.0, 0.0))
    with pytest.warns(DeprecationWarning) as rec:
        old = mt.fit_zernike(hm, [1, 5], scheme="fringe", normalization="peak", radius_mm=r,
                             center_mm=(0.0, 0.0))
    said = " ".join(str(w.message) for w in rec)
    assert all(f"use {k}=" in said for k in ("normalisation", "r_norm_mm", "centre_mm"))
    assert np.array_equal(old.coefficients_nm, new.coefficients_nm)
    with pytest.warns(DeprecationWarning, match="r_norm_mm"):
        assert old.radius_mm == new.r_norm_mm
    with pytest.warns(DeprecationWarning, match="orders"):
        assert old.nm == new.orders
    with pytest.raises(TypeError, match="both"):
        mt.fit_zernike(hm, 3, centre_mm=(0, 0), center_mm=(0, 0))
    with pytest.warns(DeprecationWarning, match="centre_mm"):
        c = mt.aperture.Circle(10.0, center_mm=(1.0, 2.0))
    assert c == mt.aperture.Circle(10.0, (1.0, 2.0)) and c.centre_mm == (1.0, 2.0)


def test_coefficients_as_converts_between_normalisations():
    """c_peak = N c_rms (N = sqrt(2(n+1)/(1+delta_m0))): one fit serves both conventions."""
    hm, r = _disk_map([(2, 0), (2, 2)], np.array([0.8, -0.3]), shape=(65, 65))
    rms = mt.fit_zernike(hm, [4, 5], r_norm_mm=r, centre_mm=(0, 0), normalisation="rms")
    peak = mt.fit_zernike(hm, [4, 5], r_norm_mm=r, centre_mm=(0, 0), normalisation="peak")
    np.testing.assert_allclose(rms.coefficients_as("peak"), peak.coefficients_nm, rtol=1e-12)
    np.testing.assert_allclose(peak.coefficients_as("rms"), rms.coefficients_nm, rtol=1e-12)
    np.testing.assert_allclose(rms.coefficients_as("peak"),
                               [0.8 * np.sqrt(3.0), -0.3 * np.sqrt(6.0)], rtol=1e-9)


def test_residual_valid_mask_is_exactly_its_finite_pixels():
    """The residual's valid mask (taken from the fit's pixels, not recomputed) marks exactly
    the finite pixels: the fit's mask within the aperture, NaN dropouts excluded."""
    import metrology as mt

    rng = np.random.default_rng(7)
    hm = mt.zernike_surface(rng.normal(size=15), shape=(90, 80), dx_mm=0.1)
    z = hm.z_nm.copy()
    z[rng.random(z.shape) < 0.05] = np.nan
    hm = hm.replace(z)
    fit = mt.fit_zernike(hm, 15, mask=mt.aperture.circle(hm, 6.0))
    res = fit.residual
    assert np.array_equal(res.valid, np.isfinite(res.z_nm))
    assert np.array_equal(res.valid, hm.valid & mt.aperture.circle(hm, 6.0))
    assert res.n_valid == fit.n_pixels
