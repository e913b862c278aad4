"""PSD kernels and FFT backends against plain-NumPy references (complex fft2, bincount).

The references are written from the formulas of docs/conventions.md (PSD section),
not from the kernels: full-plane complex FFT, ``np.bincount`` radial sums,
boolean band masks, ``np.diff`` slopes, brute-force rectangles.
"""

from __future__ import annotations

import numpy as np
import pytest

from kernels import fft as kfft
from kernels import psd as kp

RTOL = 1e-12


def _masked_field(shape, seed, hole=True):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(shape) * 3.0 + 7.0
    ny, nx = shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    disk = (xx - nx / 2 + 0.3) ** 2 / (0.45 * nx) ** 2 + (yy - ny / 2) ** 2 / (0.45 * ny) ** 2 <= 1
    if hole:
        disk &= (xx - nx / 2) ** 2 + (yy - ny / 2) ** 2 > 4
    z[~disk] = np.nan
    return z


def _ref_bins(power_full, f2_full, edges_sq, bands_sq):
    """bincount radial sums and boolean band sums over the full plane."""
    k = np.searchsorted(edges_sq, f2_full.ravel(), side="right") - 1
    nb = edges_sq.size - 1
    inside = (k >= 0) & (k < nb)
    hist = np.bincount(k[inside], weights=power_full.ravel()[inside], minlength=nb)
    cnt = np.bincount(k[inside], minlength=nb).astype(float)
    fsum = np.bincount(k[inside], weights=np.sqrt(f2_full.ravel()[inside]), minlength=nb)
    bands = [power_full[(f2_full >= lo) & (f2_full < hi)].sum() for lo, hi in bands_sq]
    return hist, cnt, fsum, np.array(bands), power_full.sum()


@pytest.mark.parametrize("shape,dx,dy", [((48, 64), 0.1, 0.1), ((45, 70), 0.02, 0.031),
                                         ((64, 33), 1.0, 0.5)])
def test_spectrum_bins_against_fft2_bincount(shape, dx, dy):
    rng = np.random.default_rng(3)
    a = rng.standard_normal(shape)
    ny, nx = shape
    scale = dx * dy / 123.4
    # reference: complex fft2 periodogram over the full plane
    full = scale * np.abs(np.fft.fft2(a)) ** 2
    fx = np.fft.fftfreq(nx, dx)
    fy = np.fft.fftfreq(ny, dy)
    f2_full = fx[None, :] ** 2 + fy[:, None] ** 2
    fmax = min(0.5 / dx, 0.5 / dy)
    # edges: irregular, not on cell radii (no ties), plus an explicit first edge at 0
    edges = np.concatenate(([0.0], np.sort(rng.uniform(0.01, 1.0, 17)) * fmax))
    bands = [(0.0, np.inf), (0.13 * fmax, 0.52 * fmax), (0.5 * fmax, 0.9 * fmax),
             (1.7 * fmax, np.inf)]
    bands_sq = [(lo * lo, hi * hi) for lo, hi in bands]
    ref = _ref_bins(full, f2_full, edges ** 2, bands_sq)

    spec = np.fft.rfft2(a)
    nh = nx // 2 + 1
    hw = np.full(nh, 2.0)
    hw[0] = 1.0
    if nx % 2 == 0:
        hw[-1] = 1.0
    fx2 = np.fft.rfftfreq(nx, dx) ** 2
    fy2 = fy ** 2
    lo_sq = np.array([b[0] for b in bands_sq])
    hi_sq = np.array([b[1] for b in bands_sq])
    out = np.empty((ny, nh))
    cum = np.empty((ny // 2 + 1, nh + 1))
    for nchunks in (1, 3, 8):
        hist, cnt, fsum, bsum, total = kp.spectrum_bins(
            spec, False, scale, fx2, fy2, hw, edges ** 2, lo_sq, hi_sq, out, True, cum, True,
            True, nchunks)
        np.testing.assert_allclose(out, full[:, :nh], rtol=RTOL, atol=0)
        # prefix sums per pair of rows (f_y, -f_y) of the weighted half-plane power
        rows = np.arange(ny // 2 + 1)
        pair = out[rows] * hw + np.where((rows != (ny - rows) % ny)[:, None],
                                         out[(ny - rows) % ny] * hw, 0.0)
        ref_cum = np.concatenate((np.zeros((rows.size, 1)), np.cumsum(pair, axis=1)), axis=1)
        np.testing.assert_allclose(cum, ref_cum, rtol=RTOL, atol=RTOL * ref[4])
        np.testing.assert_allclose(hist, ref[0], rtol=RTOL, atol=RTOL * ref[4])
        np.testing.assert_array_equal(cnt, ref[1])
        np.testing.assert_allclose(fsum, ref[2], rtol=RTOL)
        np.testing.assert_allclose(bsum, ref[3], rtol=RTOL, atol=RTOL * ref[4])
        assert total == pytest.approx(ref[4], rel=RTOL)
    # without the grid's counts and mean frequencies (taken from an earlier map)
    hist3, cnt3, fsum3, bsum3, total3 = kp.spectrum_bins(
        spec, False, scale, fx2, fy2, hw, edges ** 2, lo_sq, hi_sq, out, True, cum, True,
        False, 3)
    np.testing.assert_allclose(hist3, ref[0], rtol=RTOL, atol=RTOL * ref[4])
    np.testing.assert_allclose(bsum3, ref[3], rtol=RTOL, atol=RTOL * ref[4])
    assert not cnt3.any() and not fsum3.any()
    # power input (stored PSD values) gives the same sums
    hist2, cnt2, fsum2, bsum2, total2 = kp.spectrum_bins(
        out, True, 1.0, fx2, fy2, hw, edges ** 2, lo_sq, hi_sq, np.empty((0, 0)), False,
        np.empty((0, 0)), False, True, 4)
    np.testing.assert_allclose(hist2, ref[0], rtol=RTOL, atol=RTOL * ref[4])
    np.testing.assert_array_equal(cnt2, ref[1])
    np.testing.assert_allclose(bsum2, ref[3], rtol=RTOL, atol=RTOL * ref[4])
    assert total2 == pytest.approx(ref[4], rel=RTOL)


def test_spectrum_bins_ties_on_cell_radii_match_reference():
    """Edges exactly on cell radii (integer multiples of Δf): same membership as NumPy."""
    n, d = 32, 0.25
    a = np.random.default_rng(4).standard_normal((n, n))
    fx = np.fft.fftfreq(n, d)
    fx2h = np.fft.rfftfreq(n, d) ** 2
    f2_full = fx[None, :] ** 2 + fx[:, None] ** 2
    df = 1.0 / (n * d)
    edges = np.arange(0, 17) * df
    full = np.abs(np.fft.fft2(a)) ** 2
    ref = _ref_bins(full, f2_full, edges ** 2, [(3 * df * 3 * df, (7 * df) ** 2)])
    hw = np.full(n // 2 + 1, 2.0)
    hw[0] = hw[-1] = 1.0
    hist, cnt, _, bsum, _ = kp.spectrum_bins(
        np.fft.rfft2(a), False, 1.0, fx2h, fx ** 2, hw, edges ** 2, np.array([(3 * df) ** 2]),
        np.array([(7 * df) ** 2]), np.empty((0, 0)), False, np.empty((0, 0)), False, True, 2)
    np.testing.assert_array_equal(cnt, ref[1])
    np.testing.assert_allclose(hist, ref[0], rtol=RTOL)
    assert bsum[0] == pytest.approx(ref[3][0], rel=RTOL)


def _half_plane(shape, dx, dy, steep):
    """A stored half-plane PSD and its full plane; ``steep``: power ∝ |f|^-6 (14 decades)."""
    rng = np.random.default_rng(9)
    ny, nx = shape
    fx = np.fft.fftfreq(nx, dx)
    fy = np.fft.fftfreq(ny, dy)
    f2 = fx[None, :] ** 2 + fy[:, None] ** 2
    full = rng.random(shape) + 0.5
    if steep:
        full = full / np.maximum(f2, f2[f2 > 0].min()) ** 3
    full = 0.5 * (full + full[(-np.arange(ny)) % ny][:, (-np.arange(nx)) % nx])  # f -> -f
    nh = nx // 2 + 1
    hw = np.full(nh, 2.0)
    hw[0] = 1.0
    if nx % 2 == 0:
        hw[-1] = 1.0
    return full, f2, np.ascontiguousarray(full[:, :nh]), np.fft.rfftfreq(nx, dx) ** 2, fy ** 2, hw


@pytest.mark.parametrize("steep", [False, True])
@pytest.mark.parametrize("shape", [(48, 64), (45, 71)])
def test_band_query_from_prefix_sums_against_masked_sums(shape, steep):
    dx, dy = 0.1, 0.07
    full, f2, half, fx2, fy2, hw = _half_plane(shape, dx, dy, steep)
    ny, nh = half.shape
    cum = np.empty((ny // 2 + 1, nh + 1))
    kp.spectrum_bins(half, True, 1.0, fx2, fy2, hw, np.zeros(0), np.zeros(0), np.zeros(0),
                     np.empty((0, 0)), False, cum, True, False, 3)
    fmax = np.sqrt(f2.max())
    nyq = 0.5 / dx
    # high bands that share rows with the lowest frequencies (where prefix sums cancel)
    bands = [(0.0, np.inf), (0.0, 0.05 * fmax), (0.6 * fmax, 0.8 * fmax),
             (0.93 * fmax, np.inf), (0.3 * fmax, 0.3 * fmax + 1e-9), (2 * fmax, 3 * fmax),
             (0.5 * nyq, 0.6 * nyq), (0.9 * nyq, nyq)]
    lo = np.array([b[0] for b in bands]) ** 2
    hi = np.array([b[1] for b in bands]) ** 2
    fxf = np.fft.fftfreq(shape[1], dx)[None, :] ** 2 + 0 * f2
    fyf = np.fft.fftfreq(shape[0], dy)[:, None] ** 2 + 0 * f2
    for slopes in (False, True):
        got = kp.band_query(cum, half, fx2, fy2, hw, lo, hi, slopes)
        for k, (a, b) in enumerate(zip(lo, hi, strict=True)):
            sel = (f2 >= a) & (f2 < b)
            ref = full[sel].sum()
            # relative to the band itself (not to the total): the guard must keep the digits
            assert got[k, 0] == pytest.approx(ref, rel=1e-12, abs=1e-300)
            if slopes:
                assert got[k, 1] == pytest.approx((full * fxf)[sel].sum(), rel=1e-12, abs=1e-300)
                assert got[k, 2] == pytest.approx((full * fyf)[sel].sum(), rel=1e-12, abs=1e-300)
            else:
                assert got[k, 1] == 0.0 and got[k, 2] == 0.0


def test_axis_sums():
    rng = np.random.default_rng(5)
    src = rng.standard_normal((21, 11)) + 1j * rng.standard_normal((21, 11))
    hw = rng.random(11)
    p = np.abs(src) ** 2
    col, row, row1 = kp.axis_sums(src, False, hw, 4)
    np.testing.assert_allclose(col, p.sum(axis=0), rtol=RTOL)
    np.testing.assert_allclose(row, p @ hw, rtol=RTOL)
    np.testing.assert_allclose(row1, p.sum(axis=1), rtol=RTOL)
    col2, row2, row12 = kp.axis_sums(np.ascontiguousarray(p), True, hw, 1)
    np.testing.assert_allclose(col2, p.sum(axis=0), rtol=RTOL)
    np.testing.assert_allclose(row2, p @ hw, rtol=RTOL)
    np.testing.assert_allclose(row12, p.sum(axis=1), rtol=RTOL)


def test_fd_slope_moments_against_diff():
    z = _masked_field((40, 57), 6)
    dxs = np.diff(z, axis=1)
    dys = np.diff(z, axis=0)
    vx = dxs[np.isfinite(dxs)]
    vy = dys[np.isfinite(dys)]
    sx, sxx, nx, sy, syy, ny = kp.fd_slope_moments(z, 0.0, 0.0)
    assert (nx, ny) == (vx.size, vy.size)
    assert sx == pytest.approx(vx.sum(), rel=1e-11, abs=1e-9)
    assert sxx == pytest.approx((vx ** 2).sum(), rel=RTOL)
    assert syy == pytest.approx((vy ** 2).sum(), rel=RTOL)
    mx, my = vx.mean(), vy.mean()
    sx, sxx, _, sy, syy, _ = kp.fd_slope_moments(z, mx, my)
    assert sxx == pytest.approx(((vx - mx) ** 2).sum(), rel=RTOL)
    assert syy == pytest.approx(((vy - my) ** 2).sum(), rel=RTOL)
    assert abs(sx) < 1e-9 * vx.size and abs(sy) < 1e-9 * vy.size


def _brute_rectangle_area(mask):
    ny, nx = mask.shape
    c = np.zeros((ny + 1, nx + 1), dtype=np.int64)
    c[1:, 1:] = np.cumsum(np.cumsum(mask, 0), 1)
    best = 0
    for r0 in range(ny):
        for r1 in range(r0 + 1, ny + 1):
            for c0 in range(nx):
                for c1 in range(c0 + 1, nx + 1):
                    area = (r1 - r0) * (c1 - c0)
                    if area > best and c[r1, c1] - c[r0, c1] - c[r1, c0] + c[r0, c0] == area:
                        best = area
    return best


@pytest.mark.parametrize("seed", range(6))
def test_largest_rectangle_against_brute_force(seed):
    rng = np.random.default_rng(seed)
    mask = rng.random((9, 11)) < (0.6 + 0.06 * seed)
    r0, r1, c0, c1 = kp.largest_rectangle(mask.astype(np.uint8))
    assert mask[r0:r1, c0:c1].all()
    assert (r1 - r0) * (c1 - c0) == _brute_rectangle_area(mask)


def test_largest_rectangle_of_a_disk_and_empty():
    n = 101
    yy, xx = np.mgrid[0:n, 0:n] - 50
    disk = xx ** 2 + yy ** 2 <= 50 ** 2
    r0, r1, c0, c1 = kp.largest_rectangle(disk.astype(np.uint8))
    assert disk[r0:r1, c0:c1].all()
    # the largest rectangle in a disk of radius R is the inscribed square, area 2 R²
    assert (r1 - r0) * (c1 - c0) == pytest.approx(2 * 50.5 ** 2, rel=0.05)
    assert kp.largest_rectangle(np.zeros((4, 5), np.uint8)) == (0, 0, 0, 0)


@pytest.mark.parametrize("backend", ["ducc0", "scipy"])
@pytest.mark.parametrize("shape", [(32, 48), (33, 47)])
def test_fft_backends_against_numpy(backend, shape):
    if backend == "ducc0":
        pytest.importorskip("ducc0")
    a = np.random.default_rng(7).standard_normal(shape)
    ref = np.fft.rfft2(a)
    got = kfft.rfft2(a, backend=backend)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12 * np.abs(ref).max())
    back = kfft.irfft2(got, shape, backend=backend)
    np.testing.assert_allclose(back, a, rtol=0, atol=1e-12 * np.abs(a).max())
    for ax in (0, 1):
        r1 = np.fft.rfft(a, axis=ax)
        np.testing.assert_allclose(kfft.rfft_axis(a, ax, backend=backend), r1, rtol=0,
                                   atol=1e-12 * np.abs(r1).max())
    full = np.fft.fft2(a)
    got = kfft.fft2(a, backend=backend)
    assert got.shape == shape and got.dtype == np.complex128
    np.testing.assert_allclose(got, full, rtol=0, atol=1e-12 * np.abs(full).max())
    c = a + 1j * np.random.default_rng(8).standard_normal(shape)  # complex input, inverse
    np.testing.assert_allclose(kfft.ifft2(c, backend=backend), np.fft.ifft2(c), rtol=0,
                               atol=1e-12 * np.abs(c).max())
    np.testing.assert_allclose(kfft.ifft2(kfft.fft2(c, backend=backend), backend=backend), c,
                               rtol=0, atol=1e-12 * np.abs(c).max())


def test_fft_unknown_backend():
    with pytest.raises(ValueError):
        kfft.rfft2(np.zeros((4, 4)), backend="fftw")
    for fn in (kfft.fft2, kfft.ifft2):
        with pytest.raises(ValueError):
            fn(np.zeros((4, 4)), backend="fftw")
