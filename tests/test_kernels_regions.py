"""kernels.regions (fit_circle's labelling) against the scipy.ndimage reference."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from kernels.regions import (
    _lmeds_best_circle,
    _refine_circle,
    circle_region_counts,
    component_boxes,
    edge_circle_fit,
    main_region_outline,
    outline_points,
)
from metrology.aperture import _fit_circle

from reference import (
    fit_circle_reference,
    lmeds_circle_scores_reference,
    outline_points_reference,
    refine_circle_reference,
)


@functools.lru_cache(maxsize=1)
def _masks():
    rng = np.random.default_rng(0)
    out = []
    for trial in range(60):
        ny, nx = rng.integers(3, 70, 2)
        yy, xx = np.mgrid[0:ny, 0:nx]
        kind = trial % 5
        if kind == 0:  # noise: many components, ties
            m = rng.random((ny, nx)) < rng.uniform(0.2, 0.7)
        else:
            cx, cy = rng.uniform(0, nx), rng.uniform(0, ny)
            r = rng.uniform(1.5, max(nx, ny) / 2)
            m = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
            if kind >= 2:  # dropouts inside, some touching the edge
                m &= rng.random((ny, nx)) > 0.1 * kind
            if kind == 4:  # specks outside and a crack
                m |= rng.random((ny, nx)) < 0.02
                m[int(cy) % ny, :] = False
        out.append(m)
    # the blocked path (b >= 2) on large maps: disk with dropouts, a crack, an island
    for n, seed in ((1024, 1), (1100, 2), (2049, 3)):
        rng = np.random.default_rng(seed)
        yy, xx = np.mgrid[0:n, 0:n + 37]
        m = (xx - 0.52 * n) ** 2 + (yy - 0.47 * n) ** 2 <= (0.41 * n) ** 2
        m &= rng.random(m.shape) > 0.02
        m[n // 2, : n // 2] = False
        m[10:30, 10:40] = True
        out.append(m)
    return out


@pytest.mark.parametrize("k", range(63))
def test_fit_circle_equals_ndimage_reference(k):
    m = _masks()[k]
    if not m.any():
        pytest.skip("empty mask")
    assert _fit_circle(m, 0.1, 0.07) == fit_circle_reference(m, 0.1, 0.07)


def test_counts_of_a_filled_ring_and_an_empty_mask():
    yy, xx = np.mgrid[0:40, 0:50]
    r2 = (xx - 24.5) ** 2 + (yy - 19.5) ** 2
    ring = (r2 <= 15 ** 2) & (r2 >= 6 ** 2)
    rows, cols = circle_region_counts(ring, 1)
    disk = r2 <= 15 ** 2  # the hole is filled
    assert np.array_equal(rows, disk.sum(axis=1)) and np.array_equal(cols, disk.sum(axis=0))
    rows, cols = circle_region_counts(np.zeros((5, 6), bool), 1)
    assert not rows.any() and not cols.any()


def test_circle_and_annulus_masks_equal_numpy_exactly():
    import metrology as mt
    from metrology import aperture as ap

    rng = np.random.default_rng(3)
    for _ in range(60):
        ny, nx = rng.integers(2, 200, 2)
        hm = mt.HeightMap(np.zeros((ny, nx)), rng.uniform(0.01, 0.3), rng.uniform(0.01, 0.3))
        c = tuple(rng.uniform(-3, 3, 2))
        d = rng.uniform(0.1, 30)
        di = rng.uniform(0, 0.9 * d)
        x = hm.x_mm - c[0]
        y = hm.y_mm - c[1]
        r2 = x[None, :] ** 2 + y[:, None] ** 2
        assert np.array_equal(ap.circle(hm, d, c), r2 <= (d / 2) ** 2)
        ring = (r2 <= (d / 2) ** 2) & (r2 >= (di / 2) ** 2)
        assert np.array_equal(ap.annulus(hm, d, di, c), ring)
    # radii through pixel centres: the boundary pixels are inside (<=), as in NumPy
    hm = mt.HeightMap(np.zeros((41, 41)), 1.0)
    x = hm.x_mm
    for r in (3.0, 5.0, 20.0, np.sqrt(50.0)):
        assert np.array_equal(ap.circle(hm, 2 * r), x[None] ** 2 + x[:, None] ** 2 <= r * r)


def _outline_reference(valid, b):
    """Per-row/column first and last pixel of the main region, with scipy.ndimage: the
    largest 8-connected component of the b x b block grid (ties: first in raster order),
    then the valid pixels inside its blocks."""
    from scipy import ndimage

    ny, nx = valid.shape
    my, mx = -(-ny // b), -(-nx // b)
    padded = np.zeros((my * b, mx * b), dtype=bool)
    padded[:ny, :nx] = valid
    small = padded.reshape(my, b, mx, b).any(axis=(1, 3))
    labels, n = ndimage.label(small, structure=np.ones((3, 3), bool))
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    main = labels == int(np.argmax(sizes))
    keep = np.repeat(np.repeat(main, b, axis=0), b, axis=1)[:ny, :nx] & valid
    out = []
    for m in (keep, keep.T):
        first = np.full(m.shape[0], -1)
        last = np.full(m.shape[0], -1)
        for i, row in enumerate(m):
            idx = np.flatnonzero(row)
            if idx.size:
                first[i], last[i] = idx[0], idx[-1]
        out += [first, last]
    return tuple(out)


@pytest.mark.parametrize("k", range(0, 63, 3))
def test_main_region_outline_equals_ndimage_reference(k):
    m = np.ascontiguousarray(_masks()[k])
    if not m.any():
        pytest.skip("empty mask")
    b = max(1, min(m.shape) // 512)
    got = main_region_outline(m, b)
    want = _outline_reference(m, b)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("k", range(0, 63, 2))
def test_outline_points_equal_the_numpy_reference(k):
    """Distinct outline pixels off the border, row-major, with their row/column bits: as
    np.unique + bitwise_or.at of the outline arrays."""
    m = np.ascontiguousarray(_masks()[k])
    b = max(1, min(m.shape) // 512)
    got = outline_points(m, b)
    want = outline_points_reference(*main_region_outline(m, b))
    for g, w in zip(got, want, strict=True):
        assert g.dtype == np.int64
        np.testing.assert_array_equal(g, w)


def test_outline_points_of_small_shapes():
    """A single pixel, a one-row strip and a region touching the border, by hand."""
    m = np.zeros((5, 6), bool)
    m[2, 3] = True  # found by its row and its column: one point, both bits
    assert [a.tolist() for a in outline_points(m, 1)] == [[3], [2], [3]]
    m = np.zeros((5, 6), bool)
    m[2, 1:5] = True  # row ends 1 and 4 (bits 1 and 2), inner columns by column only
    ix, iy, how = outline_points(m, 1)
    assert ix.tolist() == [1, 2, 3, 4] and iy.tolist() == [2] * 4
    assert how.tolist() == [3, 2, 2, 3]
    m = np.ones((4, 4), bool)  # every outline pixel is on the border: none left
    assert all(a.size == 0 for a in outline_points(m, 1))
    assert all(a.size == 0 for a in outline_points(np.zeros((3, 3), bool), 1))


@pytest.mark.parametrize("connectivity", [1, 2])
@pytest.mark.parametrize("k", range(0, 63, 4))
def test_component_boxes_equal_ndimage_label(k, connectivity):
    """Counts and bounding boxes of every component, in scipy.ndimage.label's numbering."""
    from scipy import ndimage

    m = np.ascontiguousarray(_masks()[k])
    labels, n = ndimage.label(m, structure=ndimage.generate_binary_structure(2, connectivity))
    count, r0, r1, c0, c1 = component_boxes(m, connectivity - 1)
    assert count.size == n
    np.testing.assert_array_equal(count, np.bincount(labels.ravel(), minlength=n + 1)[1:])
    for i, (rs, cs) in enumerate(ndimage.find_objects(labels)):
        assert (r0[i], r1[i], c0[i], c1[i]) == (rs.start, rs.stop, cs.start, cs.stop)


def _rim_points(rng, n, lost=0.0, spurs=0):
    """Edge points of a circle (centre, radius in mm) with pixel noise, a lost rim segment
    (its points pulled 3 mm inside: the chord of the loss) and spurs far outside."""
    cx, cy, r = rng.uniform(-2, 2), rng.uniform(-2, 2), rng.uniform(20, 40)
    t = np.sort(rng.uniform(-np.pi, np.pi, n))
    rr = r + rng.uniform(-0.05, 0.05, n)
    rr[t < -np.pi + 2 * np.pi * lost] -= 3.0
    x, y = cx + rr * np.cos(t), cy + rr * np.sin(t)
    if spurs:
        k = rng.choice(n, spurs, replace=False)
        x[k] += rng.uniform(5, 9, spurs)
    return np.ascontiguousarray(x), np.ascontiguousarray(y), (cx, cy, r)


@pytest.mark.parametrize("seed", range(8))
def test_lmeds_best_circle_is_the_argmin_of_the_numpy_medians(seed):
    """The pruned search picks the circle NumPy's full argmin of the medians picks (the
    first of equal scores too), with its score."""
    rng = np.random.default_rng(seed)
    x, y, truth = _rim_points(rng, int(rng.integers(5, 300)), lost=0.2, spurs=3)
    nc = 60
    ux, uy = truth[0] + rng.normal(0, 0.5, nc), truth[1] + rng.normal(0, 0.5, nc)
    ur = truth[2] + rng.normal(0, 0.5, nc)
    if seed % 2:  # duplicated candidates: ties go to the first
        ux, uy, ur = (np.ascontiguousarray(np.repeat(a, 2)) for a in (ux, uy, ur))
    want = lmeds_circle_scores_reference(x, y, ux, uy, ur)
    best, score = _lmeds_best_circle(x, y, ux, uy, ur)
    assert best == int(np.argmin(want))
    np.testing.assert_allclose(score, want.min(), rtol=1e-14, atol=0)


@pytest.mark.parametrize("seed", range(8))
def test_refine_circle_equals_the_numpy_reference(seed):
    """Same inliers and the same circle (to 1e-9 mm) as the NumPy loop with LAPACK's solve,
    from a rough start; the circle found ignores the lost rim and the spurs."""
    rng = np.random.default_rng(100 + seed)
    x, y, truth = _rim_points(rng, 2000, lost=0.25 * (seed % 3) / 2, spurs=20 * (seed % 2))
    start = (truth[0] + 0.3, truth[1] - 0.2, truth[2] + 0.4)
    inl = np.empty(x.size, bool)
    cx, cy, r, status = _refine_circle(x, y, *start, 0.2, 12, 10, inl)
    want, want_inl = refine_circle_reference(x, y, start, 0.2)
    assert status == 0
    np.testing.assert_array_equal(inl, want_inl)
    np.testing.assert_allclose((cx, cy, r), want, rtol=0, atol=1e-9)
    np.testing.assert_allclose((cx, cy, r), truth, rtol=0, atol=0.01)


def test_refine_circle_reports_too_few_points_on_one_circle():
    """16 points on the start circle and 14 far from it: with 25 points required the
    refinement gives up (status 1), as the reference does."""
    t = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    x = np.concatenate((5 * np.cos(t), 100.0 + 10 * np.arange(14)))
    y = np.concatenate((5 * np.sin(t), np.zeros(14)))
    inl = np.empty(30, bool)
    assert _refine_circle(x, y, 0.0, 0.0, 5.0, 1e-6, 25, 10, inl)[3] == 1
    assert refine_circle_reference(x, y, (0.0, 0.0, 5.0), 1e-6, min_points=25) == (None, None)
    assert _refine_circle(x, y, 0.0, 0.0, 5.0, 1e-6, 16, 10, inl)[3] == 0
    assert inl.sum() == 16


def test_edge_circle_fit_is_the_best_candidate_refined():
    rng = np.random.default_rng(42)
    x, y, truth = _rim_points(rng, 1500, lost=0.2, spurs=10)
    ux = np.ascontiguousarray(truth[0] + rng.normal(0, 0.3, 50))
    uy = np.ascontiguousarray(truth[1] + rng.normal(0, 0.3, 50))
    ur = np.ascontiguousarray(truth[2] + rng.normal(0, 0.3, 50))
    xs, ys = np.ascontiguousarray(x[::6]), np.ascontiguousarray(y[::6])
    best = int(np.argmin(lmeds_circle_scores_reference(xs, ys, ux, uy, ur)))
    want, want_inl = refine_circle_reference(x, y, (ux[best], uy[best], ur[best]), 0.2)
    inl = np.empty(x.size, bool)
    *got, status = edge_circle_fit(x, y, xs, ys, ux, uy, ur, 0.2, 12, 10, inl)
    assert status == 0
    np.testing.assert_array_equal(inl, want_inl)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)


def test_runs_treat_any_nonzero_byte_as_set():
    """A boolean view of bytes other than 0/1 (not made by NumPy's comparisons) is read as
    'non-zero is set': the same components as the canonical mask, and no endless scan."""
    u = np.random.default_rng(3).integers(0, 4, (40, 37)).astype(np.uint8)
    got = component_boxes(u.view(bool), 1)
    want = component_boxes(u != 0, 1)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
