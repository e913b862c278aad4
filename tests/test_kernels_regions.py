"""kernels.regions (fit_circle's labelling) against the scipy.ndimage reference."""

from __future__ import annotations

import numpy as np
import pytest

from kernels.regions import circle_region_counts
from metrology.aperture import _fit_circle

from reference import fit_circle_reference


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
