"""Zernike kernels against the plain-NumPy factorial reference (tests/reference.py)."""

import numpy as np
import pytest

from kernels import zernike as kz

from reference import zernike_reference


def _modes(nmax):
    return [(n, m) for n in range(nmax + 1) for m in range(-n, n + 1, 2)]


def _table(nm, normalisation="rms"):
    n = np.array([a for a, _ in nm])
    m = np.array([b for _, b in nm])
    tab, jac, kmax = kz.mode_table(n, m)
    scale = np.array([np.sqrt(2 * (a + 1) / (2 if b == 0 else 1)) if normalisation == "rms"
                      else 1.0 for a, b in nm])
    return tab, jac, kmax, scale


@pytest.fixture(scope="module")
def points():
    rng = np.random.default_rng(7)
    p = 3001  # not a multiple of the block size
    r = np.sqrt(rng.random(p))
    r[:3] = (0.0, 1.0, 0.5)  # centre and edge exactly
    th = rng.random(p) * 2 * np.pi
    return r, th, np.ascontiguousarray(r * np.cos(th)), np.ascontiguousarray(r * np.sin(th))


@pytest.mark.parametrize("normalisation", ["rms", "peak"])
def test_basis_matches_factorial_reference_to_1e12(points, normalisation):
    r, th, x, y = points
    nm = _modes(14)
    tab, jac, kmax, scale = _table(nm, normalisation)
    out = np.empty((len(nm), x.size))
    kz.zernike_basis(x, y, tab, jac, kmax, scale, out)
    for i, (n, m) in enumerate(nm):
        ref = zernike_reference(n, m, r, th, normalisation).astype(np.float64)
        peak = np.max(np.abs(ref))
        assert np.max(np.abs(out[i] - ref)) <= 1e-12 * peak, (n, m)


def test_radial_polynomial_alone(points):
    # m = 0 modes with peak normalisation are exactly R_n^0; and R_n^m(1) = 1
    r, th, x, y = points
    nm = [(n, 0) for n in range(0, 21, 2)]
    tab, jac, kmax, scale = _table(nm, "peak")
    out = np.empty((len(nm), x.size))
    kz.zernike_basis(x, y, tab, jac, kmax, scale, out)
    assert np.allclose(out[:, 1], 1.0, rtol=0, atol=1e-12)  # ρ = 1
    assert np.allclose(out[:, 0], [(-1) ** (n // 2) for n, _ in nm], atol=1e-12)  # ρ = 0


def test_orthonormal_up_to_n20_on_2001_disk():
    # RMS of every mode over a 2001^2 sampled unit disk is 1 within 1e-3
    n = 2001
    c = (np.arange(n) - (n - 1) / 2) / ((n - 1) / 2)
    X, Y = np.meshgrid(c, c)
    inside = X * X + Y * Y <= 1.0
    x = np.ascontiguousarray(X[inside])
    y = np.ascontiguousarray(Y[inside])
    nm = _modes(20)
    tab, jac, kmax, scale = _table(nm)
    sumsq = np.zeros(len(nm))
    chunk = 200_000
    buf = np.empty((len(nm), chunk))
    for p0 in range(0, x.size, chunk):
        p1 = min(p0 + chunk, x.size)
        b = buf[:, : p1 - p0] if p1 - p0 == chunk else np.empty((len(nm), p1 - p0))
        kz.zernike_basis(x[p0:p1], y[p0:p1], tab, jac, kmax, scale, b)
        sumsq += np.einsum("ij,ij->i", b, b)
    rms = np.sqrt(sumsq / x.size)
    assert np.all(np.abs(rms - 1.0) < 1e-3), np.max(np.abs(rms - 1.0))


def test_mode_table_rejects_bad_modes():
    with pytest.raises(ValueError):
        kz.mode_table(np.array([3]), np.array([2]))
    with pytest.raises(ValueError):
        kz.mode_table(np.array([2, 2]), np.array([2, 2]))


@pytest.mark.parametrize("npix", [1, 255, 256, 1000, 3001])
def test_normal_equations_match_numpy(npix):
    rng = np.random.default_rng(npix)
    x = np.ascontiguousarray(rng.uniform(-0.7, 0.7, npix))
    y = np.ascontiguousarray(rng.uniform(-0.7, 0.7, npix))
    z = rng.normal(size=npix)
    nm = _modes(6)[:23]  # a count that is not a multiple of the 4-row tiles
    tab, jac, kmax, scale = _table(nm)
    B = np.stack([zernike_reference(n, m, np.hypot(x, y), np.arctan2(y, x)).astype(float)
                  for n, m in nm])
    for nthreads in (1, 3):
        gram, rhs = kz.zernike_normal_equations(x, y, z, tab, jac, kmax, scale, nthreads)
        assert np.allclose(gram, B @ B.T, rtol=1e-12, atol=1e-10)
        assert np.array_equal(gram, gram.T)
        assert np.allclose(rhs, B @ z, rtol=1e-12, atol=1e-10)


def test_masked_coordinates_match_numpy():
    rng = np.random.default_rng(0)
    mask = rng.random((37, 53)) < 0.4
    idx, x, y, r2 = kz.masked_coordinates(mask, -1.5, 0.25, 2.0, -0.125)
    rows, cols = np.nonzero(mask)
    assert np.array_equal(idx, rows * 53 + cols)
    assert np.allclose(x, -1.5 + 0.25 * cols) and np.allclose(y, 2.0 - 0.125 * rows)
    assert r2 == pytest.approx(np.max(x * x + y * y), rel=1e-15)
    none = kz.masked_coordinates(np.zeros((3, 3), bool), 0.0, 1.0, 0.0, 1.0)
    assert none[0].size == 0 and none[3] == 0.0
