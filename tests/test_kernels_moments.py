"""Moment kernels (kernels/moments.py) against plain-NumPy references.

References: ``numpy.polynomial.legendre`` (legvander, legmul, legval2d) on the
pixels themselves, the long-double factorial Zernike basis of
tests/reference.py, and the per-pixel normal-equation kernel
(:func:`kernels.zernike.zernike_normal_equations`), which shares no code with
the moment path.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.polynomial import legendre as npleg

import metrology as mt
from kernels import moments as km
from kernels import zernike as kz
from metrology.zernike_schemes import normalisation_factor

from reference import basis_reference, grid_mm


def _strips(mask, x0, sx, y0, sy, n, max_rows=10**9, log_growth=km.LOG_GROWTH):
    first, last = km.row_extents(mask)
    strips, boxes, rho2 = km.plan_strips(first, last, x0, sx, y0, sy, n, log_growth, max_rows)
    return first, last, strips, boxes, rho2


def _local(boxes, s, cols, rows):
    u = boxes[s, 4] + boxes[s, 5] * cols
    v = boxes[s, 6] + boxes[s, 7] * rows
    return u, v


MASKS = {}


def _mask(name, shape=(61, 83)):
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    ny, nx = shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    if name == "disk":
        return (xx - 40.3) ** 2 + (yy - 29.0) ** 2 <= 27.0 ** 2
    if name == "off-centre":
        return (xx - 55.0) ** 2 + (yy - 20.0) ** 2 <= 18.5 ** 2
    if name == "annulus":
        r2 = (xx - 41.0) ** 2 + (yy - 30.0) ** 2
        return (r2 <= 28.0 ** 2) & (r2 >= 9.0 ** 2)
    if name == "holes":
        m = (xx - 41.0) ** 2 + (yy - 30.0) ** 2 <= 29.0 ** 2
        m &= rng.random(shape) > 0.3
        m[20:26, 30:50] = False
        return m
    if name == "random":
        return rng.random(shape) < 0.5
    if name == "rectangle":
        m = np.zeros(shape, bool)
        m[5:50, 7:70] = True
        return m
    if name == "striped":  # empty rows inside the strips: rows are not always in pairs
        m = (xx - 40.3) ** 2 + (yy - 29.0) ** 2 <= 27.0 ** 2
        m[::3] = False
        m[30:33] = False
        return m
    if name == "single":
        m = np.zeros(shape, bool)
        m[17, 33] = True
        return m
    raise KeyError(name)


@pytest.mark.parametrize("nx", [1, 5, 7, 8, 9, 16, 17, 57])
def test_row_extents(nx):
    """Against np.flatnonzero per row, for widths around the 8-byte steps of the scan:
    sparse rows, empty rows and single pixels at every column (the first and last chunk
    and the partial tail included)."""
    rng = np.random.default_rng(nx)
    m = rng.random((40, nx)) < 0.05
    m[3] = False
    single = np.zeros((nx, nx), bool)
    single[np.arange(nx), np.arange(nx)] = True
    pair = np.zeros((nx, nx), bool)
    pair[np.arange(nx), np.arange(nx)] = True
    pair[np.arange(nx), nx - 1 - np.arange(nx)] = True
    for mm in (m, single, pair, np.ones((3, nx), bool), np.zeros((2, nx), bool)):
        first, last = km.row_extents(np.ascontiguousarray(mm))
        for i in range(mm.shape[0]):
            cols = np.flatnonzero(mm[i])
            assert first[i] == (cols[0] if cols.size else -1)
            assert last[i] == (cols[-1] if cols.size else -1)


@pytest.mark.parametrize("name", ["disk", "off-centre", "annulus", "holes", "random",
                                  "rectangle", "single"])
@pytest.mark.parametrize("n", [1, 6, 12])
def test_plan_strips_boxes_hold_their_pixels_and_bound_the_growth(name, n):
    m = _mask(name)
    ny, nx = m.shape
    x0, sx, y0, sy = -1.2, 1.0 / 35, -0.9, 1.0 / 31
    first, last, strips, boxes, rho2 = _strips(m, x0, sx, y0, sy, n, max_rows=20)
    rows = np.flatnonzero(m.any(axis=1))
    # contiguous cover of the rows from the first to the last holding pixels
    assert strips[0, 0] == rows[0] and strips[-1, 1] == rows[-1] + 1
    assert np.array_equal(strips[1:, 0], strips[:-1, 1])
    assert np.all(strips[:, 1] - strips[:, 0] <= 20)
    yy, xx = np.nonzero(m)
    X, Y = x0 + xx * sx, y0 + yy * sy
    assert rho2 == pytest.approx(np.max(X * X + Y * Y), rel=1e-14)
    for s, (i0, i1, j0, j1) in enumerate(strips):
        sel = (yy >= i0) & (yy < i1)
        assert sel.any()
        assert j0 == xx[sel].min() and j1 == xx[sel].max()
        u, v = _local(boxes, s, xx[sel], yy[sel])
        assert np.all(np.abs(u) <= 1 + 1e-12) and np.all(np.abs(v) <= 1 + 1e-12)
        # centre / half sizes agree with the affine form
        assert np.allclose(boxes[s, 0] + boxes[s, 1] * u, X[sel], atol=1e-12)
        assert np.allclose(boxes[s, 2] + boxes[s, 3] * v, Y[sel], atol=1e-12)
        if i1 - i0 > 1 and sel.sum() > 1:
            xc = np.array([X[sel].min(), X[sel].max()])
            yc = np.array([Y[sel].min(), Y[sel].max()])
            rc = np.sqrt(np.max(xc ** 2) + np.max(yc ** 2))
            rp = np.sqrt(np.max(X[sel] ** 2 + Y[sel] ** 2))
            g = n * (np.arccosh(max(rc, 1.0)) - np.arccosh(max(rp, 1.0)))
            assert g <= km.LOG_GROWTH + 1e-9


def test_linearization_matches_legmul():
    n = 9
    lin = km.linearization(n)
    for i in range(n + 1):
        for k in range(n + 1):
            ref = npleg.legmul(np.eye(i + 1)[i], np.eye(k + 1)[k])
            assert np.allclose(lin[i, k, :ref.size], ref, rtol=1e-14, atol=1e-15)
            assert np.all(lin[i, k, ref.size:] == 0)
    assert np.all(lin >= 0)


@pytest.mark.parametrize("name", ["disk", "holes", "annulus", "random", "striped", "single"])
def test_strip_moments_against_legvander(name):
    m = _mask(name)
    rng = np.random.default_rng(3)
    z = np.where(m, rng.normal(size=m.shape), np.nan)
    n = 5
    first, last, strips, boxes, _ = _strips(m, -1.1, 0.03, -0.95, 0.033, n, max_rows=9)
    mu, d = km.strip_moments(m, z, first, last, strips, boxes, 2 * n, n)
    yy, xx = np.nonzero(m)
    for s, (i0, i1, _, _) in enumerate(strips):
        sel = (yy >= i0) & (yy < i1)
        u, v = _local(boxes, s, xx[sel], yy[sel])
        vu = npleg.legvander(u, 2 * n)
        vv = npleg.legvander(v, 2 * n)
        ref_mu = vu.T @ vv
        ref_d = (vu[:, :n + 1] * z[yy[sel], xx[sel]][:, None]).T @ vv[:, :n + 1]
        for r in range(2 * n + 1):
            for q in range(2 * n + 1):
                if r + q <= 2 * n:
                    assert mu[s, r, q] == pytest.approx(ref_mu[r, q], rel=1e-12, abs=1e-11)
                else:
                    assert mu[s, r, q] == 0.0
        for i in range(n + 1):
            for j in range(n + 1 - i):
                assert d[s, i, j] == pytest.approx(ref_d[i, j], rel=1e-12, abs=1e-11)
    # mask only / data only give the same numbers
    mu2, _ = km.strip_moments(m, z, first, last, strips, boxes, 2 * n, -1)
    _, d2 = km.strip_moments(m, z, first, last, strips, boxes, -1, n)
    assert np.array_equal(mu2, mu) and np.allclose(d2, d, rtol=1e-15, atol=0)


def test_moment_gram_against_direct_products():
    m = _mask("holes")
    n = 4
    first, last, strips, boxes, _ = _strips(m, -1.1, 0.03, -0.95, 0.033, n, max_rows=11)
    mu, _ = km.strip_moments(m, np.zeros(m.shape), first, last, strips, boxes, 2 * n, -1)
    ii, jj = km.total_degree_index(n)
    t = km.moment_gram(mu, km.linearization(n), ii, jj)
    yy, xx = np.nonzero(m)
    for s, (i0, i1, _, _) in enumerate(strips):
        sel = (yy >= i0) & (yy < i1)
        u, v = _local(boxes, s, xx[sel], yy[sel])
        b = npleg.legvander(u, n)[:, ii] * npleg.legvander(v, n)[:, jj]  # (P, M)
        assert np.allclose(t[s], b.T @ b, rtol=1e-12, atol=1e-11)


@pytest.mark.parametrize("n", [7, 15])  # one product with Q, and the separable analysis
def test_coefficients_from_nodes_reproduce_a_polynomial(n):
    rng = np.random.default_rng(6)
    boxes = np.array([[0.2, 0.5, -0.1, 0.3, 0, 0, 0, 0], [-0.6, 0.1, 0.7, 0.05, 0, 0, 0, 0]])
    xs, ys = km.node_coordinates(boxes, n)
    # two polynomials of total degree n, as monomial sums
    cm = rng.normal(size=(2, n + 1, n + 1))
    cm[:, np.add.outer(np.arange(n + 1), np.arange(n + 1)) > n] = 0
    vals = np.stack([np.polynomial.polynomial.polyval2d(xs, ys, c) for c in cm])
    c = km.coefficients_from_nodes(vals, n)
    ii, jj = km.total_degree_index(n)
    for s in range(2):
        u = rng.uniform(-1, 1, 50)
        v = rng.uniform(-1, 1, 50)
        x = boxes[s, 0] + boxes[s, 1] * u
        y = boxes[s, 2] + boxes[s, 3] * v
        for k in range(2):
            grid = np.zeros((n + 1, n + 1))
            grid[ii, jj] = c[k, s]
            assert np.allclose(npleg.legval2d(u, v, grid),
                               np.polynomial.polynomial.polyval2d(x, y, cm[k]),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("pad", [(0, 0), (7, 12)])
def test_poly_apply_against_numpy(pad):
    m = _mask("holes")
    ny, nx = m.shape
    rng = np.random.default_rng(8)
    z = np.where(m, rng.normal(size=m.shape) * 3 + 5, np.nan)
    n = 3
    first, last, strips, boxes, _ = _strips(m, -1.1, 0.03, -0.95, 0.033, n, max_rows=10)
    coef = rng.normal(size=(strips.shape[0], n + 1, n + 1))
    coef[:, np.add.outer(np.arange(n + 1), np.arange(n + 1)) > n] = 0
    # reference polynomial at every pixel of each strip
    f = np.full(m.shape, np.nan)
    for s, (i0, i1, _, _) in enumerate(strips):
        rows, cols = np.mgrid[i0:i1, 0:nx]
        u, v = _local(boxes, s, cols, rows)
        f[i0:i1] = npleg.legval2d(u, v, coef[s])
    wy, wx = rng.random(ny), rng.random(nx)
    w2 = np.ascontiguousarray(rng.random(m.shape))
    shape = (ny + pad[0], nx + pad[1])
    mean = 0.37
    for subtract in (True, False):
        r = (z - f) if subtract else f
        for use2d in (False, True):
            w = w2 if use2d else np.outer(wy, wx)
            for center, fill in ((True, 0.0), (False, np.nan)):
                out = np.full(shape, 123.0)
                sw2, s1, s2 = km.poly_apply(z, m, first, last, strips, boxes, coef, mean,
                                            subtract, center, fill, wy, wx, w2, use2d, out)
                ref = np.zeros(shape)
                ref[:ny, :nx] = np.where(m, ((r - mean) if center else r) * w, fill)
                np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
                assert sw2 == pytest.approx(np.sum(w[m] ** 2), rel=1e-12)
                assert s1 == pytest.approx(np.sum(r[m] - mean), rel=1e-10, abs=1e-10)
                assert s2 == pytest.approx(np.sum((r[m] - mean) ** 2), rel=1e-12)


# ---------------------------------------------------------------------------
# the moment path against the per-pixel path and the factorial reference
# ---------------------------------------------------------------------------

def _table(nm, normalization):
    n = np.array([a for a, _ in nm])
    m = np.array([b for _, b in nm])
    tab, jac, kmax = kz.mode_table(n, m)
    scale = np.array([normalisation_factor(a, b, normalization) for a, b in nm])
    return tab, jac, kmax, scale


def _fit_case(name):
    """(mask, dx, dy, centre_mm, R_norm_mm) of a test aperture (physical grid)."""
    if name == "disk":
        shape, dx, dy = (121, 121), 0.1, 0.1
        X, Y = grid_mm(shape, dx, dy)
        return X ** 2 + Y ** 2 <= 5.9 ** 2, dx, dy, (0.0, 0.0), 6.0
    if name == "off-centre dx!=dy":
        shape, dx, dy = (101, 157), 0.075, 0.05
        X, Y = grid_mm(shape, dx, dy)
        c = (1.3, -0.4)
        return (X - c[0]) ** 2 + (Y - c[1]) ** 2 <= 2.3 ** 2, dx, dy, c, 2.35
    if name == "annulus":
        shape, dx, dy = (111, 131), 0.1, 0.1
        X, Y = grid_mm(shape, dx, dy)
        r2 = (X + 0.7) ** 2 + (Y - 0.2) ** 2
        return (r2 <= 5.2 ** 2) & (r2 >= 2.0 ** 2), dx, dy, (-0.7, 0.2), 5.2
    if name == "holes":
        shape, dx, dy = (115, 109), 0.1, 0.1
        X, Y = grid_mm(shape, dx, dy)
        rng = np.random.default_rng(1)
        m = X ** 2 + Y ** 2 <= 5.3 ** 2
        m &= rng.random(shape) > 0.25
        m[40:47, 20:80] = False
        return m, dx, dy, (0.0, 0.0), 5.4
    if name == "square, rho up to 1.2":
        shape, dx, dy = (71, 95), 0.1, 0.1
        m = np.zeros(shape, bool)
        m[8:64, 15:80] = True
        return m, dx, dy, (0.1, 0.0), 3.7
    raise KeyError(name)


CASES = ["disk", "off-centre dx!=dy", "annulus", "holes", "square, rho up to 1.2"]


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("scheme,K", [("fringe", 37), ("ansi", 231)])
@pytest.mark.parametrize("normalization", ["rms", "peak"])
def test_moment_normal_equations_match_per_pixel_and_factorial_reference(name, scheme, K,
                                                                         normalization):
    mask, dx, dy, c, r = _fit_case(name)
    start = 0 if scheme == "ansi" else 1
    nm = [mt.zernike_order(scheme, j) for j in range(start, start + K)]
    rng = np.random.default_rng(K)
    z = np.where(mask, rng.normal(scale=10.0, size=mask.shape), np.nan)
    geo = mt.ZernikeGeometry(mask, dx, dy, nm, normalization, c, r, allow_outside=True,
                             z_first=z)
    rhs = geo.project(z)
    # per-pixel kernel (Jacobi recurrence at every pixel)
    tab, jac, kmax, scale = _table(nm, normalization)
    ny, nx = mask.shape
    idx, x, y, _ = kz.masked_coordinates(
        np.ascontiguousarray(mask), (-(nx - 1) / 2 * dx - c[0]) / r, dx / r,
        (-(ny - 1) / 2 * dy - c[1]) / r, dy / r)
    g0, r0 = kz.zernike_normal_equations(x, y, z.ravel()[idx], tab, jac, kmax, scale, 2)
    p = idx.size
    peak = np.max(np.abs(g0))
    assert np.max(np.abs(geo.gram - g0)) <= 1e-12 * peak
    assert np.max(np.abs(rhs - r0)) <= 1e-12 * np.max(np.abs(r0)) + 1e-12 * p
    # factorial reference basis (long double), for the low orders where it is exact
    if K == 37:
        X, Y = grid_mm(mask.shape, dx, dy)
        b = basis_reference(nm, X[mask], Y[mask], c, r, normalization)
        assert np.max(np.abs(geo.gram - b.T @ b)) <= 1e-11 * peak
        assert np.allclose(rhs, b.T @ z[mask], rtol=1e-11, atol=1e-10 * p)
    # and the solutions
    if geo.condition_number < 1e6:
        c0 = np.linalg.solve(g0, r0)
        c1 = geo.solve(z)
        assert np.max(np.abs(c1 - c0)) <= 1e-10 * max(1.0, np.max(np.abs(c0)))


@pytest.mark.parametrize("name", CASES)
def test_moment_residual_map_matches_reference_basis(name):
    mask, dx, dy, c, r = _fit_case(name)
    nm = [mt.noll_to_order(j) for j in range(1, 46)]
    rng = np.random.default_rng(2)
    coef = rng.normal(size=len(nm))
    X, Y = grid_mm(mask.shape, dx, dy)
    b = basis_reference(nm, X[mask], Y[mask], c, r)
    z = np.full(mask.shape, np.nan)
    z[mask] = rng.normal(size=mask.sum())
    geo = mt.ZernikeGeometry(mask, dx, dy, nm, "rms", c, r, allow_outside=True,
                             factorize=False)
    fitted = geo.scatter_sum(coef)
    resid = geo.scatter_sum(coef, subtract_from=z)
    scale = np.max(np.abs(b @ coef))
    assert np.max(np.abs(fitted[mask] - b @ coef)) <= 1e-12 * scale
    assert np.max(np.abs(resid[mask] - (z[mask] - b @ coef))) <= 1e-12 * scale
    assert np.isnan(fitted[~mask]).all() and np.isnan(resid[~mask]).all()
    assert np.allclose(geo.evaluate(coef), b @ coef, rtol=0, atol=1e-12 * scale)


def test_more_strips_do_not_change_the_fit():
    # the strip plan is a conditioning device: a much finer plan gives the same numbers
    mask, dx, dy, c, r = _fit_case("holes")
    nm = [mt.ansi_to_order(j) for j in range(0, 231)]
    rng = np.random.default_rng(5)
    z = np.where(mask, rng.normal(size=mask.shape), np.nan)
    coarse = mt.ZernikeGeometry(mask, dx, dy, nm, "rms", c, r, z_first=z)
    fine = mt.ZernikeGeometry(mask, dx, dy, nm, "rms", c, r, factorize=False)
    first, last = km.row_extents(mask)
    x0, sx, y0, sy = fine._offsets
    fine._strips, fine._boxes, _ = km.plan_strips(first, last, x0, sx, y0, sy, 20, 1.0, 3)
    xs, ys = km.node_coordinates(fine._boxes, 20)
    vals = np.empty((len(nm), xs.size))
    kz.zernike_basis(xs, ys, fine._tab, fine._jac, fine._kmax, fine._scale, vals)
    fine._coef = km.coefficients_from_nodes(vals, 20)
    fine._factorize(z)
    assert fine.n_strips > 2 * coarse.n_strips
    assert np.max(np.abs(fine.gram - coarse.gram)) <= 1e-12 * np.max(np.abs(fine.gram))
    assert np.max(np.abs(fine.solve(z) - coarse.solve(z))) <= 1e-11
