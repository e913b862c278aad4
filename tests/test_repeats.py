"""Averaging repeats, per-pixel standard error, noise PSD from differences (issue 14).

Statistical tests use 128 x 128 maps; every expected value is analytic (white
noise of known variance) or a plain NumPy / public-API computation.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import metrology as m
from metrology.aperture import circle
from metrology.errors import ConventionError, GridMismatchError, InsufficientDataError
from metrology.repeats import average, noise_psd
from metrology.synth_psd import synthesize

N_PIX, DX = 128, 0.2
BANDS = [(0.15, 0.4), (0.4, 1.0), (1.0, 2.4)]


def surface() -> m.HeightMap:
    return synthesize(lambda f: 0.05 * np.maximum(f, 1e-3) ** -2.5, (N_PIX, N_PIX), DX,
                      seed=20240)


def white_band_rms(sigma: float, lo: float, hi: float, n: int = N_PIX, dx: float = DX) -> float:
    """RMS of white noise (per-pixel sigma) in the areal band: sigma² × (cells in band) / N."""
    f = np.fft.fftfreq(n, dx)
    f2 = f[None, :] ** 2 + f[:, None] ** 2
    cells = np.count_nonzero((f2 >= lo * lo) & (f2 < hi * hi))
    return sigma * math.sqrt(cells / (n * n))


# --------------------------------------------------------------------------- average
def test_average_count_std_and_std_error_match_numpy() -> None:
    rng = np.random.default_rng(3)
    zs = rng.normal(0, 1, (5, 7, 9))
    zs[0, 1, 1] = np.nan
    zs[1, 1, 1] = np.nan
    zs[2, 3, 4] = np.nan
    maps = [m.HeightMap(z, 0.1, meta={"source": f"r{i}"}) for i, z in enumerate(zs)]
    full = average(maps)  # default: valid only where all 5 are
    assert full.min_count == 5 and full.n_maps == 5
    allv = np.isfinite(zs).all(axis=0)
    np.testing.assert_array_equal(full.map.valid, allv)
    np.testing.assert_allclose(full.map.z_nm[allv], zs.mean(axis=0)[allv], rtol=1e-14)
    np.testing.assert_array_equal(full.count, np.isfinite(zs).sum(axis=0))
    np.testing.assert_allclose(full.std_nm[allv], zs.std(axis=0, ddof=1)[allv], rtol=1e-12)
    np.testing.assert_allclose(full.std_error_nm[allv],
                               zs.std(axis=0, ddof=1)[allv] / math.sqrt(5), rtol=1e-12)
    part = average(maps, min_count=3)
    assert part.map.valid[1, 1] and part.map.valid[3, 4]
    assert part.map.z_nm[1, 1] == pytest.approx(np.nanmean(zs[:, 1, 1]))
    assert part.std_nm[1, 1] == pytest.approx(np.nanstd(zs[:, 1, 1], ddof=1))
    assert part.std_error_nm[1, 1] == pytest.approx(np.nanstd(zs[:, 1, 1], ddof=1) / math.sqrt(3))
    meta = full.map.meta["average"]
    assert meta["n_maps"] == 5 and meta["sources"] == [f"r{i}" for i in range(5)]
    assert "average of 5 repeats" in full.map.meta["history"][-1]
    assert "sigma^2/N" in full.noise_statement


def test_average_refuses_bad_input() -> None:
    a = m.HeightMap(np.zeros((4, 4)), 0.1)
    with pytest.raises(InsufficientDataError):
        average([a])
    with pytest.raises(GridMismatchError):
        average([a, m.HeightMap(np.zeros((4, 4)), 0.11)])
    with pytest.raises(ConventionError):
        average([a, a], min_count=3)
    with pytest.raises(TypeError):
        average(a)
    nan = m.HeightMap(np.full((4, 4), np.nan), 0.1)
    with pytest.raises(InsufficientDataError):
        average([a.apply_mask(np.eye(4, dtype=bool)), nan])


def test_average_can_remove_alignment_terms_per_repeat() -> None:
    s = surface().apply_mask(circle(surface(), 20.0))
    x, y = s.grid_mm()
    tilted = [s.replace(s.z_nm + 5 * k + 3.0 * k * x - 2.0 * y) for k in range(3)]
    avg = average(tilted, remove=("piston", "tilt"))
    ref = m.remove(s, ("piston", "tilt"))
    np.testing.assert_allclose(avg.map.z_nm[ref.valid], ref.z_nm[ref.valid], atol=1e-9)
    assert avg.removed == ("piston", "tilt")


# --------------------------------------------------------------------------- noise PSD
def repeats(n: int, sigma: float, seed: int, mask: np.ndarray | None = None,
            surf: m.HeightMap | None = None) -> list[m.HeightMap]:
    s = surface() if surf is None else surf
    rng = np.random.default_rng([77, seed])
    out = [s.replace(s.z_nm + sigma * rng.standard_normal(s.shape)) for _ in range(n)]
    return [r.apply_mask(mask) for r in out] if mask is not None else out


def test_noise_psd_equals_half_the_mean_pairwise_difference_psd() -> None:
    """Σ_{i<j} |x_i - x_j|² = N Σ |x_i - x̄|²: checked against the public psd() of the
    differences with the named Hann window (which also checks the explicit window)."""
    mask = circle(surface(), 22.0)
    reps = repeats(4, 0.7, 1, mask)
    est = noise_psd(reps)
    pairs = list(itertools.combinations(reps, 2))
    half = np.mean([m.psd(a - b, window="hann").half_values for a, b in pairs], axis=0) / 2
    nx = N_PIX // 2 + 1
    np.testing.assert_allclose(est.values[:, :nx], half, rtol=1e-9, atol=1e-12 * half.max())
    assert est.n_repeats == 4 and est.dof_per_cell == 3
    np.testing.assert_array_equal(est.mask, mask)


@pytest.mark.parametrize("lo,hi", BANDS)
def test_noise_floor_within_10_percent_of_the_injected_noise(lo: float, hi: float) -> None:
    sigma = 0.8
    mask = circle(surface(), 24.0)
    est = noise_psd(repeats(16, sigma, 2, mask))
    truth = white_band_rms(sigma, lo, hi)
    got = est.band_rms(lo, hi)
    assert got.fully_covered
    assert got.rms_nm == pytest.approx(truth, rel=0.10)
    # the noise of the average of the 16
    assert est.band_rms(lo, hi, of_average=True).rms_nm == pytest.approx(truth / 4, rel=0.10)


def test_coloured_noise_floor_within_10_percent_of_its_model() -> None:
    """Noise with a known (non-flat) PSD: the estimate follows the model band by band."""
    def model(f):
        return 0.01 * (1.0 + (np.maximum(f, 1e-3) / 0.5) ** -1.0)
    s = surface()
    reps = [s.replace(s.z_nm + synthesize(model, s.shape, DX, seed=[900, i]).z_nm)
            for i in range(16)]
    est = noise_psd(reps)
    f = np.fft.fftfreq(N_PIX, DX)
    fr = np.sqrt(f[None, :] ** 2 + f[:, None] ** 2)
    cell = 1.0 / (N_PIX * N_PIX * DX * DX)
    for lo, hi in BANDS:
        sel = (fr >= lo) & (fr < hi)
        truth = math.sqrt(np.sum(model(fr[sel])) * cell)
        assert est.band_rms(lo, hi).rms_nm == pytest.approx(truth, rel=0.10), (lo, hi)


def test_average_converges_as_one_over_sqrt_n() -> None:
    """Band RMS of (average - surface) at N = 1, 4, 16 is sigma_band / sqrt(N)."""
    sigma = 1.0
    s = surface()
    mask = circle(s, 24.0)
    truth_map = s.apply_mask(mask)
    errs = {}
    for n in (1, 4, 16):
        reps = repeats(n, sigma, 10 + n, mask)
        avg = reps[0] if n == 1 else average(reps).map
        errs[n] = [b.rms_nm for b in m.bands_rms(avg - truth_map, BANDS)]
        for (lo, hi), e in zip(BANDS, errs[n], strict=True):
            assert e == pytest.approx(white_band_rms(sigma, lo, hi) / math.sqrt(n), rel=0.10)
    for j in range(len(BANDS)):
        assert errs[4][j] / errs[1][j] == pytest.approx(0.5, rel=0.12)
        assert errs[16][j] / errs[1][j] == pytest.approx(0.25, rel=0.12)


def test_noise_psd_as_psd2d_and_grid_checks() -> None:
    reps = repeats(3, 0.5, 4)
    est = noise_psd(reps)
    p = est.psd2d()
    assert p.half_values.shape == (N_PIX, N_PIX // 2 + 1)
    assert est.psd2d(of_average=True).variance_nm2 == pytest.approx(p.variance_nm2 / 3)
    rad = p.radial(np.linspace(0.0, 4.0, 41))  # beyond the corner |f| = 2.5 sqrt(2)
    assert np.sum(rad.variance_nm2) == pytest.approx(p.variance_nm2, rel=1e-9)
    est.check_grid((N_PIX, N_PIX), DX, DX)
    with pytest.raises(ConventionError):
        est.check_grid((N_PIX, N_PIX), 0.3, 0.3)
