"""metrology.coverage: the frequency range a map resolves (connected regions, Nyquist, ITF).

Expected values are computed here from the rule as documented (k / L with L
from the regions' pixel extents, 1 / (2 d), the ITF crossing of a linear
table), not read back from the code.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from metrology import HeightMap
from metrology.coverage import (
    ITF,
    K_TRUSTED,
    connected_regions,
    resolved_range,
    split_regions,
)
from metrology.errors import ConventionError, InsufficientDataError


def test_full_rectangle_areal_and_profile():
    v = np.ones((40, 100), dtype=bool)
    c = resolved_range(v, 0.02, 0.05)
    # shorter extent: min(100 * 0.02, 40 * 0.05) = min(2.0, 2.0) -> 2.0 mm
    assert c.length_mm == pytest.approx(2.0)
    assert c.f_min_per_mm == pytest.approx(K_TRUSTED / 2.0)
    assert c.f_max_per_mm == pytest.approx(min(0.5 / 0.02, 0.5 / 0.05))
    assert c.high_reason.startswith("Nyquist")
    px = resolved_range(v, 0.02, 0.05, kind="profile", axis="x", k=2)
    assert px.f_min_per_mm == pytest.approx(2 / 2.0) and px.f_max_per_mm == pytest.approx(25.0)
    py = resolved_range(v, 0.03, 0.05, kind="profile", axis="y", k=2)
    assert py.f_min_per_mm == pytest.approx(2 / 2.0) and py.f_max_per_mm == pytest.approx(10.0)
    px = resolved_range(v, 0.03, 0.05, kind="profile", axis="x", k=2)
    assert px.f_min_per_mm == pytest.approx(2 / 3.0)


def test_two_small_patches_far_apart_resolve_only_their_own_size():
    """The conventions' example: two 0.2 mm patches 4 mm apart resolve >~ 10/mm (k=2),
    not the 2 / 4.2 mm = 0.48/mm their bounding box would give."""
    d = 0.01
    v = np.zeros((60, 460), dtype=bool)
    v[20:40, 20:40] = True           # 0.2 mm square
    v[20:40, 420:440] = True         # 4 mm further along x
    c = resolved_range(v, d, k=2)
    assert len(c.regions) == 2
    assert c.length_mm == pytest.approx(0.2)
    assert c.f_min_per_mm == pytest.approx(10.0)
    bbox_fmin = 2 / (420 * d)
    assert c.f_min_per_mm > 20 * bbox_fmin
    assert not c.covers(0.5, 5.0)
    lo, hi, cov, why = c.clip(0.5, 20.0)
    assert cov == "partial" and lo == pytest.approx(10.0) and "connected region" in why


def test_pixel_weighted_rule():
    d = 0.1
    v = np.zeros((200, 200), dtype=bool)
    v[:150, :150] = True             # 22500 px, 15 mm
    v[170:190, 170:190] = True       # 400 px, 2 mm: 1.7 % of the pixels
    c = resolved_range(v, d)
    assert c.length_mm == pytest.approx(15.0)   # the fragment holds < 5 %
    assert c.fragment_fraction == pytest.approx(400 / 22900)
    assert not c.fragmented
    v[160:200, 0:60] = True          # a 4 x 6 mm region: 2400 px -> 9.5 % of the pixels
    c = resolved_range(v, d)
    # longest first: 15 mm (22500 px), then 4 mm (2400): 24900 >= 95 % of 25300
    assert c.length_mm == pytest.approx(4.0)
    assert c.fragmented
    assert resolved_range(v, d, region_fraction=1e-6).length_mm == pytest.approx(15.0)
    assert resolved_range(v, d, region_fraction=1.0).length_mm == pytest.approx(2.0)


def test_connectivity():
    v = np.zeros((10, 10), dtype=bool)
    v[2:5, 2:5] = True
    v[5:8, 5:8] = True               # touches the first only at a corner
    assert len(connected_regions(v, 1.0)) == 2
    assert len(connected_regions(v, 1.0, connectivity=2)) == 1
    regs = connected_regions(v, 1.0)
    assert sum(r.n_pixels for r in regs) == v.sum()


def test_itf_cutoff_and_table():
    v = np.ones((64, 64), dtype=bool)
    c = resolved_range(v, 0.01, itf_cutoff_per_mm=30.0)
    assert c.f_max_per_mm == pytest.approx(30.0) and "cut-off" in c.high_reason
    # cut-off above Nyquist does nothing
    assert resolved_range(v, 0.01, itf_cutoff_per_mm=80.0).f_max_per_mm == pytest.approx(50.0)
    # linear table 1 -> 0.2 from 0 to 40/mm; max correction 4 -> ITF >= 0.5, crossing at
    # f = 40 * (1 - 0.5) / (1 - 0.2) = 25/mm
    itf = ITF([0.0, 40.0], [1.0, 0.2], max_psd_correction=4.0)
    assert itf.f_max_per_mm == pytest.approx(25.0)
    c = resolved_range(v, 0.01, itf=itf)
    assert c.f_max_per_mm == pytest.approx(25.0) and "ITF" in c.high_reason
    f = np.array([0.0, 10.0, 24.0, 30.0])
    t = 1.0 - 0.8 * f / 40.0
    np.testing.assert_allclose(itf(f), t)
    corr = itf.psd_correction(f)
    np.testing.assert_allclose(corr[:3], 1.0 / t[:3] ** 2)
    assert math.isnan(corr[3])
    assert math.isnan(float(itf(41.0)))  # beyond the table: unknown
    # a stricter correction limit lowers f_max: ITF >= 1/sqrt(2)
    assert ITF([0.0, 40.0], [1.0, 0.2], 2.0).f_max_per_mm == pytest.approx(
        40 * (1 - 2 ** -0.5) / 0.8)


def test_clip_classes():
    c = resolved_range(np.ones((100, 100), dtype=bool), 0.01, k=2)  # [2, 50]
    assert c.clip(3, 40)[2] == "full" and c.clip(3, 40)[3] == ""
    lo, hi, cov, why = c.clip(1, 60)
    assert cov == "partial" and (lo, hi) == (2.0, 50.0)
    assert "below f_min" in why and "above f_max" in why
    assert c.clip(60, 70)[2] == "none"
    # a band given as periods is not flagged for rounding
    assert c.clip(1 / (1 / 2.0), 50.0)[2] == "full"
    empty = resolved_range(np.ones((4, 4), dtype=bool), 0.01)  # 6 / 0.04 = 150 > 50
    assert empty.empty and empty.clip(1, 10)[2] == "none"


def test_split_regions_windows_each_region_alone():
    z = np.full((50, 80), np.nan)
    z[5:25, 5:30] = 1.0
    z[30:45, 50:75] = 2.0
    z[40:50, 0:5] = 3.0              # 5 px wide: dropped with min_length_px=8
    hm = HeightMap(z, 0.1)
    parts = split_regions(hm, min_length_px=8)
    assert [r.n_pixels for r, _ in parts] == [500, 375]
    for r, sub in parts:
        assert sub.shape == (r.rows.stop - r.rows.start, r.cols.stop - r.cols.start)
        assert sub.n_valid == r.n_pixels
        assert np.unique(sub.z_nm[sub.valid]).size == 1
    # a map that is one full region comes back as itself
    full = HeightMap(np.zeros((8, 8)), 0.1)
    assert split_regions(full)[0][1] is full


def test_split_regions_masks_other_regions_inside_the_box():
    z = np.full((40, 40), np.nan)
    z[0:40, 0:4] = 1.0               # an L-shaped region
    z[36:40, 0:40] = 1.0
    z[10:20, 10:20] = 2.0            # a square inside the L's bounding box
    parts = split_regions(HeightMap(z, 0.1), min_length_px=4)
    big = parts[0][1]
    assert big.shape == (40, 40)
    assert np.all(big.z_nm[big.valid] == 1.0)


def test_bad_input():
    with pytest.raises(ConventionError):
        resolved_range(np.ones((4, 4)), 0.1)            # not boolean
    with pytest.raises(InsufficientDataError):
        resolved_range(np.zeros((4, 4), dtype=bool), 0.1)
    with pytest.raises(ConventionError):
        resolved_range(np.ones((4, 4), dtype=bool), 0.1, k=0)
    with pytest.raises(ConventionError):
        resolved_range(np.ones((4, 4), dtype=bool), -0.1)
    with pytest.raises(ConventionError):
        resolved_range(np.ones((4, 4), dtype=bool), 0.1, region_fraction=0)
    with pytest.raises(ConventionError):
        ITF([0, 1], [1, 0.5], max_psd_correction=0.5)
    with pytest.raises(ConventionError):
        ITF([1, 0], [1, 0.5])
