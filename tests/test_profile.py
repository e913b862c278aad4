"""The Profile type: statistics, ISO 21920-2 parameters, PSD, band RMS, slope RMS.

Expected values come from closed forms of sampled sines and lines (not from
the code's own output) or from a plain NumPy computation written here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import metrology as m
from metrology.errors import ConventionError, InsufficientDataError, MetrologyError
from metrology.heightmap import HeightMap
from metrology.profile import NotAHeightMapError, Profile, as_profile


def sine(n: int = 4000, dx: float = 0.001, amp: float = 50.0, period_mm: float = 0.2,
         tilt_nm_per_mm: float = 0.0, offset: float = 0.0) -> Profile:
    x = np.arange(n) * dx
    return Profile(offset + amp * np.sin(2 * np.pi * x / period_mm) + tilt_nm_per_mm * x, dx)


def test_construction_copies_and_marks_inf_invalid() -> None:
    z = np.array([1.0, np.inf, 3.0, -np.inf, 5.0])
    p = Profile(z, 0.5, {"k": [1]})
    z[0] = 99.0
    assert p.z_nm[0] == 1.0 and p.n_valid == 3 and p.n_points == 5
    assert p.valid.tolist() == [True, False, True, False, True]
    assert p.valid_fraction == pytest.approx(0.6)
    assert p.length_mm == 2.5 and p.x_mm.tolist() == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert p.mean_nm == 3.0 and p.pv_nm == 4.0
    assert p.rms_nm == pytest.approx(math.sqrt(8 / 3))
    with pytest.raises(ValueError):
        Profile(np.zeros((2, 2)), 1.0)
    with pytest.raises(ValueError):
        Profile([1.0, 2.0], 0.0)
    with pytest.raises(InsufficientDataError):
        _ = Profile([np.nan, np.nan], 1.0).rms_nm


def test_areal_operations_raise_a_metrology_error() -> None:
    p = Profile([1.0, 2.0, 3.0], 1.0, {"source": "trace.csv"})
    for name in ("shape", "dy_mm", "y_mm", "extent_mm", "select_aperture"):
        with pytest.raises(NotAHeightMapError, match="profile") as e:
            getattr(p, name)
        assert isinstance(e.value, MetrologyError) and "trace.csv" in str(e.value)
    with pytest.raises(AttributeError):
        _ = p.no_such_thing


def test_detrend_removes_the_least_squares_line() -> None:
    x = np.arange(11, dtype=float)
    z = 3.0 + 2.0 * x
    z[4] = np.nan
    z[7] += 5.0  # one bump
    d = Profile(z, 0.1).detrend("line")
    ok = np.isfinite(z)
    ref = z[ok] - np.polyval(np.polyfit(x[ok], z[ok], 1), x[ok])  # independent LSQ line
    np.testing.assert_allclose(d.z_nm[ok], ref, atol=1e-12)
    assert np.isnan(d.z_nm[4])
    np.testing.assert_allclose(Profile(z, 0.1).detrend("mean").z_nm[ok], z[ok] - z[ok].mean())
    with pytest.raises(ConventionError):
        Profile(z, 0.1).detrend("parabola")


def test_roughness_of_a_sine_matches_closed_forms() -> None:
    # 20 whole periods, 5 sections of 4 periods: each section holds a full crest and trough
    amp = 50.0
    p = sine(n=4000, dx=0.001, amp=amp, period_mm=0.2, offset=7.0)
    r = p.roughness(remove="mean")
    assert r.ra_nm == pytest.approx(2 * amp / math.pi, rel=1e-4)
    assert r.rq_nm == pytest.approx(amp / math.sqrt(2), rel=1e-4)
    assert r.rp_nm == pytest.approx(amp, rel=1e-3)
    assert r.rv_nm == pytest.approx(amp, rel=1e-3)
    assert r.rz_nm == pytest.approx(2 * amp, rel=1e-3)
    assert r.rt_nm == pytest.approx(2 * amp, rel=1e-3)
    assert r.sections == 5 and r.points_per_section == 800
    assert r.section_length_mm == pytest.approx(0.8) and r.evaluation_length_mm == 4.0
    assert r.reference_line == "mean"
    assert "Pq" in r.profile and "no lambda_s / lambda_c filter" in r.profile


def test_roughness_about_the_least_squares_line() -> None:
    p = sine(n=4000, dx=0.001, amp=50.0, period_mm=0.2, tilt_nm_per_mm=300.0, offset=7.0)
    r = p.roughness()
    x = p.x_mm
    v = p.z_nm - np.polyval(np.polyfit(x, p.z_nm, 1), x)  # independent reference line
    sec = v.reshape(5, 800)
    assert r.reference_line == "least-squares line"
    assert r.ra_nm == pytest.approx(float(np.mean(np.abs(v))), rel=1e-9)
    assert r.rq_nm == pytest.approx(float(np.sqrt(np.mean(v * v))), rel=1e-9)
    assert r.rz_nm == pytest.approx(float(np.mean(sec.max(1) - sec.min(1))), rel=1e-9)
    assert r.rt_nm == pytest.approx(float(v.max() - v.min()), rel=1e-9)
    # the 300 nm/mm tilt (1200 nm over the trace) is gone: close to the untilted sine
    assert r.rq_nm == pytest.approx(50 / math.sqrt(2), rel=0.01)


def test_rz_is_the_mean_of_section_heights_not_the_total() -> None:
    # one tall spike in section 1: Rt sees it fully, Rz only a fifth of it
    z = np.zeros(1000)
    z[::2] = 1.0  # a +-0.5 square wave about the mean in every section
    z[100] = 101.0
    r = Profile(z, 0.01).roughness(remove="mean")
    v = z - z.mean()
    sec = v[:1000].reshape(5, 200)
    assert r.rz_nm == pytest.approx(float(np.mean(sec.max(1) - sec.min(1))))
    assert r.rp_nm == pytest.approx(float(np.mean(sec.max(1))))
    assert r.rv_nm == pytest.approx(float(np.mean(-sec.min(1))))
    assert r.rt_nm == pytest.approx(float(v.max() - v.min()))
    assert r.rz_nm < r.rt_nm / 3


def test_roughness_refuses_what_it_cannot_evaluate() -> None:
    z = np.ones(50)
    z[0:10] = np.nan  # the first of 5 sections has no valid point
    with pytest.raises(InsufficientDataError, match="section 1"):
        Profile(z, 1.0).roughness()
    with pytest.raises(InsufficientDataError):
        Profile([1.0, 2.0, 3.0], 1.0).roughness(sections=5)
    with pytest.raises(ConventionError):
        Profile(np.ones(20), 1.0).roughness(sections=0)


def test_psd_sidedness_density_and_parseval() -> None:
    rng = np.random.default_rng(1)
    p = Profile(rng.normal(0, 3.0, 512), 0.002)
    one = p.psd(window="none", remove="mean")
    two = p.psd(window="none", remove="mean", one_sided=False)
    assert one.sidedness == "one-sided" and two.sidedness == "two-sided"
    assert one.unit == "nm^2 mm" and one.axis == "x"
    var = float(np.var(p.z_nm))
    assert float(np.sum(one.values) * one.df_per_mm) == pytest.approx(var, rel=1e-12)
    assert float(np.sum(two.values) * two.df_per_mm) == pytest.approx(var, rel=1e-12)
    # independent periodogram: dx |DFT|^2 / N, two-sided
    h = p.z_nm - p.z_nm.mean()
    ref = 0.002 * np.abs(np.fft.fft(h)) ** 2 / h.size
    np.testing.assert_allclose(two.values, np.fft.fftshift(ref), rtol=1e-10, atol=1e-14)
    assert one.f_max_per_mm == pytest.approx(1 / (2 * 0.002))
    assert one.f_min_per_mm == pytest.approx(2 / (512 * 0.002))
    with pytest.raises(ConventionError):
        p.psd(window="welch")


def test_band_rms_of_a_sine_and_its_coverage() -> None:
    amp, period = 20.0, 0.05  # 20 cycles/mm
    p = sine(n=2048, dx=0.0005, amp=amp, period_mm=period)
    b = p.band_rms(15.0, 25.0, window="hann")
    assert b.kind == "profile" and b.fully_covered
    assert b.rms_nm == pytest.approx(amp / math.sqrt(2), rel=0.02)
    assert p.band_rms(40.0, 60.0).rms_nm < 0.01 * amp
    out = p.band_rms(0.1, 5.0)  # below 2/L = 1.95 /mm
    assert out.coverage == "partial" and not out.measurable and "below" in out.reason
    assert p.band_rms(period_mm=(1 / 15, 1 / 25)).rms_nm == pytest.approx(b.rms_nm)
    bs = p.bands_rms([(15.0, 25.0), (40.0, 60.0)])
    assert bs[0].rms_nm == pytest.approx(b.rms_nm)


def test_slope_rms_finite_difference_and_spectral() -> None:
    amp, period, dx = 10.0, 0.1, 0.0005  # slope amplitude 2 pi A / L nm/mm = urad
    # 4001 points: 4000 differences = 20 whole periods of the difference sequence
    p = sine(n=4001, dx=dx, amp=amp, period_mm=period, tilt_nm_per_mm=1000.0)
    true = 2 * math.pi * amp / period / math.sqrt(2)
    fd = p.slope_rms()
    # first differences see sin(pi f dx)/(pi f dx) of the slope; tilt does not count
    k = math.pi * dx / period
    assert fd.slope_urad == pytest.approx(true * math.sin(k) / k, rel=1e-4)
    assert fd.method.startswith("finite-difference")
    sp = p.slope_rms(band=(5.0, 15.0), window="hann")
    assert sp.fully_covered and sp.slope_urad == pytest.approx(true, rel=0.02)
    far = p.slope_rms(band=(2000.0, 3000.0))
    assert not far.fully_covered and "Nyquist" in far.reason
    with pytest.raises(InsufficientDataError):
        Profile([1.0, np.nan, 2.0], 1.0).slope_rms()


def test_as_profile_from_one_row_and_one_column_maps() -> None:
    row = HeightMap(np.array([[1.0, 2.0, 4.0]]), 0.1, 0.3)
    p = as_profile(row)
    assert isinstance(p, Profile) and p.z_nm.tolist() == [1.0, 2.0, 4.0] and p.dx_mm == 0.1
    # an n x 1 map whose reader reversed the rows comes back in file order
    col = HeightMap(np.array([[3.0], [2.0], [1.0]]), 0.1, 0.2, {"rows_flipped": True})
    q = as_profile(col)
    assert q.z_nm.tolist() == [1.0, 2.0, 3.0] and q.dx_mm == 0.2
    assert q.meta["rows_flipped"] is False
    square = HeightMap(np.zeros((2, 2)), 1.0)
    assert as_profile(square) is square
    assert as_profile(p) is p


def test_profile_is_exported_and_saved(tmp_path) -> None:
    p = Profile([1.0, np.nan, 2.5], 0.25, {"note": "x"})
    f = m.save(p, tmp_path / "t.csv")
    q = m.load(f)
    assert isinstance(q, m.Profile) and q == p and q.dx_mm == 0.25
    with pytest.raises(m.FileFormatError, match="profile CSV"):
        m.save(p, tmp_path / "t.x3p")


# --------------------------------------------------------------------------- ISO 16610-21 cut-offs
def _direct_mean_line(z: np.ndarray, dx: float, lc: float) -> np.ndarray:
    """Plain loop: at each point, the Gaussian-weighted mean of the valid points within
    +-lc (ISO 16610-21 weighting function written here, not taken from the library)."""
    a = math.sqrt(math.log(2) / math.pi) * lc
    half = math.ceil(lc / dx)
    out = np.full(z.size, np.nan)
    for i in range(z.size):
        if not np.isfinite(z[i]):
            continue
        j = np.arange(max(0, i - half), min(z.size, i + half + 1))
        j = j[np.isfinite(z[j])]
        w = np.exp(-math.pi * (((j - i) * dx) / a) ** 2)
        out[i] = np.sum(w * z[j]) / np.sum(w)
    return out


def test_gaussian_mean_line_transmits_half_the_amplitude_at_its_cut_off() -> None:
    lc, dx = 0.8, 0.004
    for period, expect in ((lc, 0.5), (2 * lc, 2 ** -0.25), (lc / 2, 2.0 ** -4)):
        p = sine(n=6000, dx=dx, amp=10.0, period_mm=period)
        mean = p.gaussian_lowpass(lc).z_nm
        mid = mean[1500:4500]  # away from the ends: H(f) = exp(-ln 2 (f lc)^2)
        assert np.max(np.abs(mid)) == pytest.approx(10.0 * expect, rel=2e-3), period


def test_gaussian_mean_line_matches_a_direct_weighted_mean_with_gaps() -> None:
    rng = np.random.default_rng(3)
    z = np.cumsum(rng.normal(0, 1, 700))
    z[100:130] = np.nan  # a gap: only measured points are averaged, nothing filled in
    z[650] = np.nan
    p = Profile(z, 0.002)
    got = p.gaussian_lowpass(0.25).z_nm
    ref = _direct_mean_line(z, 0.002, 0.25)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9)
    assert np.isnan(got[110]) and np.isnan(got[650]) and np.isfinite(got[0])


def test_roughness_with_lambda_c_removes_waviness_and_keeps_roughness() -> None:
    """Roughness (period 0.08 mm) plus waviness (period 8 mm) under lambda_c = 0.8 mm: the
    roughness amplitude passes by 1 - exp(-ln 2 (lc / 0.08)^2) ~ 1, the waviness by
    1 - exp(-ln 2 (0.8 / 8)^2) = 0.0069: Ra ~ 2 A / pi of the roughness alone."""
    dx, lc, amp = 0.001, 0.8, 5.0
    x = np.arange(6000) * dx  # 6 mm >= (5 + 1) x lc
    z = amp * np.sin(2 * np.pi * x / 0.08) + 400.0 * np.sin(2 * np.pi * x / 8.0) + 30 * x
    r = Profile(z, dx).roughness(lambda_c_mm=lc)
    t_w = 1 - math.exp(-math.log(2) * (lc / 8.0) ** 2)
    assert r.lambda_c_mm == lc and r.sections == 5 and r.section_length_mm == pytest.approx(lc)
    assert r.evaluation_length_mm == pytest.approx(5 * lc)
    # the residual waviness (400 nm x 0.0069 = 2.8 nm amplitude) adds in quadrature to Rq
    rq_expect = math.hypot(amp, 400.0 * t_w) / math.sqrt(2)
    assert r.rq_nm == pytest.approx(rq_expect, rel=0.05)
    unfiltered = Profile(z, dx).roughness()
    assert unfiltered.rq_nm > 20 * r.rq_nm  # without lambda_c the waviness dominates
    assert "Rq" in r.profile and "lambda_c = 0.8 mm" in r.profile
    assert "Pq" in unfiltered.profile


def test_roughness_with_cut_offs_refuses_short_traces_and_bad_cut_offs() -> None:
    p = sine(n=4000, dx=0.001)  # 4 mm: less than (5 + 1) x 0.8 mm
    with pytest.raises(InsufficientDataError, match="too short"):
        p.roughness(lambda_c_mm=0.8)
    assert p.roughness(lambda_c_mm=0.25).evaluation_length_mm == pytest.approx(1.25)
    with pytest.raises(ConventionError, match="below"):
        p.roughness(lambda_c_mm=0.25, lambda_s_mm=0.25)
    with pytest.raises(ConventionError):
        p.roughness(lambda_c_mm=-1.0)


def test_lambda_s_removes_the_short_wavelengths() -> None:
    """A period-0.01 mm ripple under lambda_s = 0.025 mm keeps exp(-ln2 (2.5)^2) = 1.3 %."""
    dx = 0.0005
    x = np.arange(20000) * dx
    p = Profile(3.0 * np.sin(2 * np.pi * x / 0.01), dx)
    r = p.roughness(lambda_s_mm=0.025)
    expect = 3.0 * math.exp(-math.log(2) * 2.5 ** 2) / math.sqrt(2)
    assert r.rq_nm == pytest.approx(expect, rel=0.02) and r.lambda_c_mm is None
