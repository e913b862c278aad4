"""metrology.spectral: Parseval, sinusoids, windows, coverage, profiles, slopes, PVr.

Expected values come from analytic ground truth (A/√2 for a sinusoid of
amplitude A, σ² Δx Δy for white noise, RMS of the map for the full band) or
from plain-NumPy references written here from docs/conventions.md.
"""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest

from metrology import HeightMap
from metrology.errors import ConventionError, InsufficientDataError

ALL = (0.0, math.inf)

# the module, not the function `metrology.spectral` that the package exports under that name
mp = importlib.import_module("metrology.spectral")


def _disk_mask(shape, frac=0.9):
    ny, nx = shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    return ((xx - (nx - 1) / 2) / (frac * nx / 2)) ** 2 + ((yy - (ny - 1) / 2)
                                                           / (frac * ny / 2)) ** 2 <= 1


def _noise_map(shape, dx, dy=None, seed=0, masked=False, offset=5.0):
    z = np.random.default_rng(seed).standard_normal(shape) * 2.0 + offset
    if masked:
        m = _disk_mask(shape)
        m[shape[0] // 2, : shape[1] // 3] = False  # a dropout line inside
        z[~m] = np.nan
    return HeightMap(z, dx, dy)


# ---------------------------------------------------------------------------
# Parseval
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("shape,dx,dy", [((64, 64), 0.1, 0.1), ((50, 77), 0.05, 0.08),
                                         ((81, 40), 1.0, 1.0)])
@pytest.mark.parametrize("masked", [False, True])
def test_parseval_full_band_equals_rms(shape, dx, dy, masked):
    hm = _noise_map(shape, dx, dy, masked=masked)
    b = mp.band_rms(hm, 0.0, math.inf, window="none", remove=(), valid_range_per_mm=ALL)
    assert b.fully_covered
    assert b.rms_nm == pytest.approx(hm.rms_nm, rel=1e-12)
    p = mp.psd(hm, window="none", remove=())
    assert p.rms_nm == pytest.approx(hm.rms_nm, rel=1e-12)
    # padding interpolates the spectrum but keeps Parseval
    pp = mp.psd(hm, window="none", remove=(), pad=2)
    assert pp.fft_shape == (2 * shape[0], 2 * shape[1])
    assert pp.rms_nm == pytest.approx(hm.rms_nm, rel=1e-12)
    # the full plane sums to the same (half-plane weights are right)
    assert np.sum(p.values) * p.cell_area == pytest.approx(hm.rms_nm ** 2, rel=1e-12)


@pytest.mark.parametrize("window", ["hann", ("tukey", 0.3), "welch", "radial-hann"])
def test_parseval_windowed_is_weighted_variance(window):
    hm = _noise_map((60, 72), 0.1, 0.12, masked=True, seed=3)
    p = mp.psd(hm, window=window, remove=())
    # reference Σ w² h² / Σ w² with the window rebuilt from its documented formula
    z = hm.z_nm
    ok = hm.valid
    h = np.where(ok, z - z[ok].mean(), 0.0)
    w = _reference_window(hm, window)
    w = np.where(ok, w, 0.0)
    assert p.variance_nm2 == pytest.approx(np.sum(w ** 2 * h ** 2) / np.sum(w ** 2), rel=1e-12)
    assert p.sum_w2 == pytest.approx(np.sum(w ** 2), rel=1e-12)


def _reference_window(hm, window):
    ny, nx = hm.shape
    rows = np.flatnonzero(hm.valid.any(axis=1))
    cols = np.flatnonzero(hm.valid.any(axis=0))

    def one(n, kind):
        x = (np.arange(n) + 0.5) / n
        if kind == "hann":
            return 0.5 - 0.5 * np.cos(2 * np.pi * x)
        a = kind
        w = np.ones(n)
        for k in range(n):
            t = min(x[k], 1 - x[k])
            if t < a / 2:
                w[k] = 0.5 * (1 - np.cos(2 * np.pi * t / a))
        return w

    if window in ("welch", "radial-hann"):
        from metrology.aperture import fit_circle

        (cx, cy), _ = fit_circle(hm)
        X, Y = hm.grid_mm()
        r = np.hypot(X - cx, Y - cy)
        R = r[hm.valid].max() + 0.5 * max(hm.dx_mm, hm.dy_mm)
        u = np.clip(r / R, 0, 1)
        return 1 - u ** 2 if window == "welch" else 0.5 * (1 + np.cos(np.pi * u))
    kind = "hann" if window == "hann" else window[1]
    wy = np.zeros(ny)
    wx = np.zeros(nx)
    wy[rows[0]:rows[-1] + 1] = one(rows[-1] - rows[0] + 1, kind)
    wx[cols[0]:cols[-1] + 1] = one(cols[-1] - cols[0] + 1, kind)
    return np.outer(wy, wx)


@pytest.mark.parametrize("shape,fft_shape", [((40, 58), (48, 64)), ((41, 57), (41, 57)),
                                             ((41, 57), (50, 61))])
def test_psd_values_against_numpy_periodogram(shape, fft_shape):
    """Full plane of a masked, Hann-windowed, (padded,) non-square map vs complex fft2."""
    hm = _noise_map(shape, 0.07, 0.11, masked=True, seed=9)
    p = mp.psd(hm, window="hann", remove=(), pad=fft_shape)
    ok = hm.valid
    h = np.where(ok, hm.z_nm - hm.z_nm[ok].mean(), 0.0)
    w = np.where(ok, _reference_window(hm, "hann"), 0.0)
    ref = 0.07 * 0.11 * np.abs(np.fft.fft2(w * h, s=fft_shape)) ** 2 / np.sum(w ** 2)
    np.testing.assert_allclose(p.values, np.fft.fftshift(ref), rtol=1e-11,
                               atol=1e-12 * ref.max())
    ny, nx = fft_shape
    np.testing.assert_allclose(p.fx_per_mm, np.fft.fftshift(np.fft.fftfreq(nx, 0.07)))
    np.testing.assert_allclose(p.fy_per_mm, np.fft.fftshift(np.fft.fftfreq(ny, 0.11)))


# ---------------------------------------------------------------------------
# sinusoids
# ---------------------------------------------------------------------------

def _sine(shape, dx, kx, ky, amp=3.0, phase=0.4, dy=None):
    dy = dx if dy is None else dy
    ny, nx = shape
    j = np.arange(nx)[None, :]
    i = np.arange(ny)[:, None]
    z = amp * np.sin(2 * np.pi * (kx * j / nx + ky * i / ny) + phase)
    return HeightMap(z, dx, dy), math.hypot(kx / (nx * dx), ky / (ny * dy))


@pytest.mark.parametrize("kx,ky", [(7, 0), (0, 5), (6, 4), (11, -3)])
def test_sinusoid_band_rms(kx, ky):
    hm, f0 = _sine((64, 80), 0.1, kx, ky, dy=0.125)
    inside = mp.band_rms(hm, 0.9 * f0, 1.1 * f0, window="none", remove=())
    assert inside.rms_nm == pytest.approx(3.0 / math.sqrt(2), rel=1e-10)
    below = mp.band_rms(hm, 0.3, 0.8 * f0, window="none", remove=())
    above = mp.band_rms(hm, 1.2 * f0, 3.9, window="none", remove=())
    assert below.rms_nm < 1e-10 and above.rms_nm < 1e-10


def test_sinusoid_band_rms_by_period_and_hann():
    hm, f0 = _sine((128, 128), 0.05, 10, 0)  # period 0.64 mm
    b = mp.band_rms(hm, period_mm=(1.0, 0.4), window="none", remove=())
    assert b.f_lo_per_mm == 1.0 and b.f_hi_per_mm == 2.5
    assert b.rms_nm == pytest.approx(3.0 / math.sqrt(2), rel=1e-10)
    # Hann: the line spreads over ±2 cells; a band of ±4 cells holds it to < 0.1 %
    df = 1.0 / (128 * 0.05)
    bh = mp.band_rms(hm, f0 - 4 * df, f0 + 4 * df, window="hann", remove=())
    assert bh.rms_nm == pytest.approx(3.0 / math.sqrt(2), rel=1e-3)


def test_ripple_profile_and_areal_agree():
    """A 1-D ripple along x: profile and areal PSDs hold the same power at f0."""
    hm, f0 = _sine((48, 96), 0.1, 9, 0)
    p = mp.psd(hm, window="none", remove=())
    prof = p.profile("x", one_sided=True)
    k = int(np.argmin(np.abs(prof.f_per_mm - f0)))
    assert prof.values[k] * prof.df_per_mm == pytest.approx(4.5, rel=1e-10)  # A²/2
    assert p.band_variance_nm2(0.9 * f0, 1.1 * f0) == pytest.approx(4.5, rel=1e-10)
    a = mp.band_rms(p, 0.9 * f0, 1.1 * f0, kind="areal")
    pr = mp.band_rms(p, 0.9 * f0, 1.1 * f0, kind="profile", axis="x")
    assert pr.rms_nm == pytest.approx(a.rms_nm, rel=1e-10)
    assert "profile" in pr.sidedness and "areal" in a.sidedness
    # along y the ripple has no power away from f_y = 0
    assert mp.band_rms(p, 0.5, 4.0, kind="profile", axis="y").rms_nm < 1e-10


# ---------------------------------------------------------------------------
# profiles
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("axis", ["x", "y"])
@pytest.mark.parametrize("window", ["none", "hann"])
def test_profile_matches_row_periodogram_reference(axis, window):
    hm = _noise_map((36, 50), 0.1, 0.2, masked=True, seed=4)
    ok = hm.valid
    h = np.where(ok, hm.z_nm - hm.z_nm[ok].mean(), 0.0)
    w = np.where(ok, 1.0 if window == "none" else _reference_window(hm, "hann"), 0.0)
    g = w * h
    d = 0.1 if axis == "x" else 0.2
    ax = 1 if axis == "x" else 0
    # ISO-style: periodogram of each profile, summed, normalised by Σ_M w² of the map
    ref_two = d * np.sum(np.abs(np.fft.fft(g, axis=ax)) ** 2, axis=1 - ax) / np.sum(w ** 2)
    n = g.shape[ax]
    p = mp.psd(hm, window=window, remove=())
    two = p.profile(axis, one_sided=False)
    np.testing.assert_allclose(two.values, np.fft.fftshift(ref_two), rtol=1e-11,
                               atol=1e-13 * ref_two.max())
    one = p.profile(axis, one_sided=True)
    ref_one = ref_two[: n // 2 + 1].copy()
    ref_one[1:(n + 1) // 2] += ref_two[::-1][: (n + 1) // 2 - 1]
    np.testing.assert_allclose(one.values, ref_one, rtol=1e-11, atol=1e-13 * ref_two.max())
    assert one.sidedness == "one-sided" and two.sidedness == "two-sided"
    # the 1-D-FFT path gives the same profile
    direct = mp.profile_psd(hm, axis, window=window, remove=())
    np.testing.assert_allclose(direct.values, one.values, rtol=1e-11,
                               atol=1e-13 * ref_two.max())
    assert np.sum(one.values) * one.df_per_mm == pytest.approx(p.variance_nm2, rel=1e-12)


# ---------------------------------------------------------------------------
# radial and azimuthal
# ---------------------------------------------------------------------------

def test_radial_integrates_to_band_variance_and_azavg_is_mean():
    hm = _noise_map((64, 64), 0.1, seed=5)
    p = mp.psd(hm, window="hann", remove=())
    for bins in ("linear", "log", 20, [0.3, 0.7, 1.1, 2.9]):
        r = p.radial(bins=bins)
        e = r.edges_per_mm
        ok = r.counts > 0
        assert np.sum(r.values[ok] * r.width_per_mm[ok]) == pytest.approx(
            p.band_variance_nm2(e[0], e[-1]), rel=1e-12)
        assert r.unit == "nm^2 mm" and "radial" in r.quantity
    # azimuthal average: the mean PSD2 of the cells of each annulus (bincount reference)
    az = p.azimuthal_average(bins=[0.3, 0.7, 1.1, 2.9])
    fx, fy = np.meshgrid(p.fx_per_mm, p.fy_per_mm)
    f2 = fx ** 2 + fy ** 2
    for k, (lo, hi) in enumerate([(0.3, 0.7), (0.7, 1.1), (1.1, 2.9)]):
        sel = (f2 >= lo * lo) & (f2 < hi * hi)
        assert az.values[k] == pytest.approx(p.values[sel].mean(), rel=1e-12)
        assert az.counts[k] == sel.sum()
    assert az.unit == "nm^2 mm^2" and "average" in az.quantity


def test_white_noise_flat_with_window_power_correction():
    """E[PSD2] of white noise of variance σ² is σ² Δx Δy, whatever the (normalised) window."""
    sigma, dx, dy = 2.0, 0.05, 0.08
    level = sigma ** 2 * dx * dy
    for window, masked in [("none", False), ("hann", False), (("tukey", 0.5), True),
                           ("radial-hann", True), ("welch", True)]:
        acc = None
        for seed in range(4):
            hm = _noise_map((256, 256), dx, dy, seed=100 + seed, masked=masked, offset=0.0)
            az = mp.psd(hm, window=window, remove=()).azimuthal_average(bins=4)
            acc = az.values if acc is None else acc + az.values
        mean = acc[1:] / 4  # skip the bin holding DC (mean removal)
        # bins of > 10^4 cells; a Hann window leaves ~1/4 of them independent, so the
        # relative noise of a 4-seed mean is < 1.5 %
        np.testing.assert_allclose(mean, level, rtol=0.05, err_msg=str(window))


# ---------------------------------------------------------------------------
# coverage
# ---------------------------------------------------------------------------

def test_band_coverage_flags():
    hm = _noise_map((50, 100), 0.1, seed=6)  # L = 5 mm (y) -> f_min = 0.4/mm, Nyquist 5/mm
    p = mp.psd(hm, window="none", remove=())
    assert p.f_min_per_mm == pytest.approx(0.4) and p.f_max_per_mm == pytest.approx(5.0)
    full = mp.band_rms(p, 0.5, 4.0)
    assert full.fully_covered and full.coverage == "full" and full.reason == ""
    above = mp.band_rms(p, 6.0, 9.0)
    assert not above.fully_covered and above.coverage == "none"
    assert math.isnan(above.rms_nm) and "Nyquist" in above.reason
    assert math.isnan(above.covered_lo_per_mm)
    low = mp.band_rms(p, 0.1, 1.0)
    assert low.coverage == "partial" and not low.measurable
    assert low.covered_lo_per_mm == pytest.approx(0.4) and low.covered_hi_per_mm == 1.0
    assert "2/L" in low.reason
    assert low.rms_nm == pytest.approx(math.sqrt(p.band_variance_nm2(0.4, 1.0)), rel=1e-12)
    high = mp.band_rms(p, 2.0, 7.0)
    assert high.coverage == "partial" and high.covered_hi_per_mm == pytest.approx(5.0)
    below = mp.band_rms(p, 0.0, 0.3)
    assert below.coverage == "none" and math.isnan(below.rms_nm)
    # a band given as periods that lands exactly on 2/L is covered
    assert mp.band_rms(p, period_mm=(2.5, 0.2)).fully_covered
    # profile along x: f_min from the x extent (10 mm -> 0.2/mm)
    px = mp.band_rms(p, 0.25, 1.0, kind="profile", axis="x")
    py = mp.band_rms(p, 0.25, 1.0, kind="profile", axis="y")
    assert px.fully_covered and not py.fully_covered
    d = full.to_dict()
    assert d["coverage"] == "full" and d["kind"] == "areal"


def test_bands_rms_one_pass_equals_single_and_hm_equals_psd():
    hm = _noise_map((64, 64), 0.1, seed=7, masked=True)
    bands = [(0.4, 1.0), (1.0, 2.0), (2.0, 4.5), (3.0, 8.0)]
    p = mp.psd(hm, window="hann", remove=(), bands=bands)
    many = mp.bands_rms(p, bands)
    for b, (lo, hi) in zip(many, bands, strict=True):
        one = mp.band_rms(hm, lo, hi, window="hann", remove=())
        assert b.rms_nm == pytest.approx(one.rms_nm, rel=1e-12)
        assert b.coverage == one.coverage
    fresh = mp.psd(hm, window="hann", remove=())  # not precomputed
    assert fresh.band_variance_nm2(1.0, 2.0) == pytest.approx(many[1].rms_nm ** 2, rel=1e-12)


def test_bandpass_filter_agrees_with_cell_sum():
    hm = _noise_map((60, 84), 0.1, 0.07, seed=8)
    for lo, hi in [(0.5, 1.5), (2.0, 7.0), (0.0, 0.9)]:
        g = mp.bandpass(hm, lo, hi, remove=())
        direct = math.sqrt(np.mean(g.z_nm ** 2))
        cell = mp.band_rms(hm, lo, hi, window="none", remove=(), valid_range_per_mm=ALL)
        assert direct == pytest.approx(cell.rms_nm, rel=1e-12)


def test_backends_agree():
    pytest.importorskip("ducc0")
    hm = _noise_map((45, 62), 0.1, seed=10, masked=True)
    a = mp.psd(hm, window="hann", remove=(), backend="ducc0")
    b = mp.psd(hm, window="hann", remove=(), backend="scipy")
    np.testing.assert_allclose(a.half_values, b.half_values, rtol=1e-12,
                               atol=1e-12 * a.half_values.max())


# ---------------------------------------------------------------------------
# apertures and term removal
# ---------------------------------------------------------------------------

def test_region_rectangle():
    hm = _noise_map((80, 80), 0.1, seed=11, masked=True)
    p = mp.psd(hm, window="none", remove=(), region="rectangle")
    assert "rectangle" in p.region
    ny, nx = p.data_shape
    assert ny * nx < hm.n_valid and p.n_valid == ny * nx
    # Parseval over the rectangle
    r0 = int(p.region.split("rows ")[1].split(":")[0])
    c0 = int(p.region.split("cols ")[1].split(":")[0])
    sub = hm.z_nm[r0:r0 + ny, c0:c0 + nx]
    assert np.isfinite(sub).all()
    assert p.variance_nm2 == pytest.approx(np.var(sub), rel=1e-12)
    assert p.f_min_per_mm == pytest.approx(2.0 / min(nx * 0.1, ny * 0.1))


def test_remove_tilt_uses_joint_fit():
    pytest.importorskip("metrology.zernike")
    shape = (64, 64)
    hm0 = _noise_map(shape, 0.1, seed=12, masked=True, offset=0.0)
    X, Y = hm0.grid_mm()
    plane = HeightMap(np.where(hm0.valid, 30.0 * X - 12.0 * Y + 4.0, np.nan), 0.1)
    p = mp.psd(plane, window="none")  # default removes piston and tilt
    assert p.rms_nm < 1e-9 * 30.0
    assert p.removed[:2] == ("piston", "tilt")
    tilted = HeightMap(hm0.z_nm + 30.0 * X - 12.0 * Y, 0.1)
    from metrology.zernike import remove

    ref = remove(hm0, ("piston", "tilt"))
    a = mp.psd(tilted, window="none")
    assert a.rms_nm == pytest.approx(ref.rms_nm, rel=1e-9)


# ---------------------------------------------------------------------------
# slopes
# ---------------------------------------------------------------------------

def test_slope_rms_of_sinusoid():
    amp, dx, k = 5.0, 0.02, 8
    hm, f0 = _sine((64, 128), dx, k, 0, amp=amp)
    true_urad = 2 * math.pi * f0 * amp / math.sqrt(2)  # nm/mm == µrad
    spec = mp.slope_rms(hm, band=(0.5 * f0, 2 * f0), window="none", remove=())
    assert spec.x_urad == pytest.approx(true_urad, rel=1e-10)
    assert spec.y_urad < 1e-9 * true_urad
    assert spec.magnitude_urad == pytest.approx(true_urad, rel=1e-10)
    assert spec.fully_covered and spec.method.startswith("spectral")
    from_psd = mp.slope_rms(mp.psd(hm, window="none", remove=()), band=(0.5 * f0, 2 * f0))
    assert from_psd.x_urad == spec.x_urad
    with pytest.raises(ConventionError):
        mp.slope_rms(mp.psd(hm, window="none", remove=()))
    # finite differences: NumPy reference, and the analytic transfer sin(πfΔ)/(πfΔ)
    fd = mp.slope_rms(hm)
    d = np.diff(hm.z_nm, axis=1) / dx
    assert fd.x_urad == pytest.approx(np.std(d), rel=1e-12)
    theta = math.pi * f0 * dx
    assert fd.x_urad == pytest.approx(true_urad * math.sin(theta) / theta, rel=0.01)
    assert fd.y_urad < 1e-9
    assert fd.method.startswith("finite-difference")


def test_slope_rms_masked_and_coverage():
    hm = _noise_map((40, 50), 0.1, 0.2, seed=13, masked=True)
    fd = mp.slope_rms(hm)
    dxs = np.diff(hm.z_nm, axis=1) / 0.1
    dys = np.diff(hm.z_nm, axis=0) / 0.2
    assert fd.x_urad == pytest.approx(np.std(dxs[np.isfinite(dxs)]), rel=1e-12)
    assert fd.y_urad == pytest.approx(np.std(dys[np.isfinite(dys)]), rel=1e-12)
    assert fd.magnitude_urad == pytest.approx(math.hypot(fd.x_urad, fd.y_urad), rel=1e-15)
    s = mp.slope_rms(hm, band=(1.0, 50.0), remove=())
    assert not s.fully_covered and "Nyquist" in s.reason


# ---------------------------------------------------------------------------
# PVr
# ---------------------------------------------------------------------------

def test_pvr_defocus_plus_noise():
    pytest.importorskip("metrology.zernike")
    n = 128
    mask = _disk_mask((n, n), 1.0)
    yy, xx = np.mgrid[0:n, 0:n]
    r2 = ((xx - (n - 1) / 2) ** 2 + (yy - (n - 1) / 2) ** 2) / (n / 2) ** 2
    noise = np.random.default_rng(14).standard_normal((n, n))
    z = 50.0 * (2 * r2 - 1) + noise
    hm = HeightMap(np.where(mask, z, np.nan), 0.1)
    res = mp.pvr(hm, terms=36)
    pv_defocus = float(np.ptp(50.0 * (2 * r2[mask] - 1)))
    # 36 terms absorb a negligible part of the white noise (36 of ~12900 pixels)
    assert res.pv_fit_nm == pytest.approx(pv_defocus, abs=0.3)
    assert res.rms_residual_nm == pytest.approx(np.std(noise[mask]), rel=0.01)
    assert res.pvr_nm == pytest.approx(res.pv_fit_nm + 3 * res.rms_residual_nm, rel=1e-15)
    assert res.pvr_nm == pytest.approx(pv_defocus + 3.0, abs=0.4)
    with pytest.raises(ConventionError):
        mp.pvr(hm, terms=38)


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------

def test_bad_input_raises_typed_errors():
    hm = _noise_map((16, 16), 0.1)
    with pytest.raises(ConventionError, match="window"):
        mp.psd(hm, window="kaiser", remove=())
    with pytest.raises(ConventionError):
        mp.band_rms(hm, 2.0, 1.0, remove=())
    with pytest.raises(ConventionError):
        mp.band_rms(hm, 1.0, 2.0, period_mm=(2, 1), remove=())
    with pytest.raises(ConventionError):
        mp.band_rms(hm, 1.0, 2.0, kind="volume", remove=())
    with pytest.raises(ConventionError):
        mp.psd(hm, remove=(), pad=(8, 8))
    with pytest.raises(ConventionError):
        mp.psd(hm, remove=()).profile("z")
    with pytest.raises(ConventionError):
        mp.band_rms(mp.psd(hm, window="hann", remove=()), 1, 2, window="none")
    with pytest.raises(InsufficientDataError):
        mp.psd(HeightMap(np.full((8, 8), np.nan), 0.1), remove=())
    with pytest.raises(TypeError):
        mp.psd(np.zeros((8, 8)))


# ---------------------------------------------------------------------------
# a real measurement (irregular mask, 26 % invalid)
# ---------------------------------------------------------------------------

@pytest.mark.realdata
def test_real_zygo_map_parseval_and_partition(realdata):
    from metrology import load

    hm = load(realdata("prysm_valid_zygo.dat"))
    p = mp.psd(hm, window="none", remove=())
    assert p.rms_nm == pytest.approx(hm.rms_nm, rel=1e-12)
    ph = mp.psd(hm, window="hann", remove=())
    edges = [0.0, 0.05, 0.3, 1.0, 2.5, math.inf]
    parts = ph.band_variances_nm2(list(zip(edges[:-1], edges[1:], strict=True)))
    assert np.sum(parts) == pytest.approx(ph.variance_nm2, rel=1e-12)
    prof = ph.profile("y")
    assert np.sum(prof.values) * prof.df_per_mm == pytest.approx(ph.variance_nm2, rel=1e-12)
    # f_min = 2 / L (L ~ 50 mm, the valid region) ~ 0.04 /mm: a band from 0.01 /mm is not covered
    b = mp.band_rms(ph, 0.01, 1.0)
    assert b.coverage == "partial" and b.covered_lo_per_mm == pytest.approx(ph.f_min_per_mm)


def test_radial_counts_reused_for_the_next_map_of_the_grid():
    # counts and mean |f| per bin come from the first map of a grid, the power from each map
    a = _noise_map((48, 60), 0.1, seed=1, masked=True)
    b = _noise_map((48, 60), 0.1, seed=2, masked=False)
    mp._BIN_GEOMETRY.clear()
    ra = mp.psd(a, window="none").radial()
    rb = mp.psd(b, window="none").radial()
    fresh = mp.psd(b, window="none")
    fresh._cache.pop("radial")
    rc = fresh.radial()  # recomputed from the stored values, counts included
    assert np.array_equal(ra.counts, rc.counts) and np.array_equal(rb.counts, rc.counts)
    np.testing.assert_allclose(rb.f_mean_per_mm, rc.f_mean_per_mm, rtol=1e-12)
    np.testing.assert_allclose(rb.variance_nm2, rc.variance_nm2, rtol=1e-12, atol=1e-15)
    assert not np.allclose(ra.variance_nm2, rb.variance_nm2)


def test_scratch_reuse_does_not_leak_between_calls():
    a = _noise_map((64, 64), 0.1, seed=20, masked=True)
    b = _noise_map((64, 64), 0.1, seed=21)
    pa = mp.psd(a, window="hann", remove=())
    keep = pa.half_values.copy()
    pb = mp.psd(b, window="hann", remove=())
    np.testing.assert_array_equal(pa.half_values, keep)
    mp.clear_workspace()
    pb2 = mp.psd(b, window="hann", remove=())
    np.testing.assert_array_equal(pb.half_values, pb2.half_values)
    assert pa.half_values is not pb.half_values
