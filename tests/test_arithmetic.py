"""Map arithmetic, grid checks, resampling and reference subtraction (issue 14)."""

from __future__ import annotations

import numpy as np
import pytest

import metrology as m
from metrology.errors import ConventionError, GridMismatchError, MetrologyError


def ramp(ny: int = 6, nx: int = 9, dx: float = 0.5, dy: float | None = None,
         nan_at: tuple[int, int] | None = None, **meta) -> m.HeightMap:
    dy = dx if dy is None else dy
    y, x = np.mgrid[0:ny, 0:nx]
    z = 3.0 * (x - (nx - 1) / 2) * dx + 2.0 * (y - (ny - 1) / 2) * dy + 0.25 * x * y
    if nan_at is not None:
        z[nan_at] = np.nan
    return m.HeightMap(z, dx, dy, meta or None)


def test_difference_and_sum_are_pixelwise_with_nan_union() -> None:
    a = ramp(nan_at=(1, 2), source="a.datx")
    b = m.HeightMap(np.arange(54.0).reshape(6, 9), 0.5, meta={"source": "b.datx"})
    bz = b.z_nm.copy()
    bz[4, 7] = np.nan
    b = b.replace(bz)
    a_before = a.z_nm.copy()
    d = a - b
    s = a + b
    np.testing.assert_array_equal(d.z_nm, a.z_nm - bz)  # plain NumPy, NaN where either is
    np.testing.assert_array_equal(s.z_nm, a.z_nm + bz)
    assert np.isnan(d.z_nm[1, 2]) and np.isnan(d.z_nm[4, 7])
    assert d.n_valid == 54 - 2
    np.testing.assert_array_equal(a.z_nm, a_before)  # inputs untouched
    assert d.meta["source"] == "a.datx"
    assert d.meta["history"][-1] == "subtracted map b.datx"
    op = d.meta["operations"][-1]
    assert op["op"] == "subtract" and op["operand"]["source"] == "b.datx"
    assert s.meta["operations"][-1]["op"] == "add"


def test_scaling_and_negation() -> None:
    a = ramp(nan_at=(0, 0))
    for out in (2.5 * a, a * 2.5, np.float64(2.5) * a, a / 0.4):
        np.testing.assert_allclose(out.z_nm, a.z_nm * 2.5, rtol=1e-15)
        assert np.isnan(out.z_nm[0, 0])
    assert isinstance(np.float64(2.0) * a, m.HeightMap)
    np.testing.assert_array_equal((-a).z_nm, -a.z_nm)
    assert (-a).meta["history"][-1] == "negated"
    assert (a * 3).meta["operations"][-1] == {"op": "scale", "factor": 3.0}


@pytest.mark.parametrize("bad", [True, "2", np.inf, np.nan])
def test_scaling_by_non_numbers_is_refused(bad) -> None:
    a = ramp()
    with pytest.raises((TypeError, ConventionError)):
        a * bad


def test_unsupported_operands() -> None:
    a = ramp()
    with pytest.raises(TypeError):
        a * a
    with pytest.raises(TypeError):
        a + 1.0
    with pytest.raises(ZeroDivisionError):
        a / 0


@pytest.mark.parametrize("other", [
    lambda: ramp(6, 8),                                  # shape
    lambda: ramp(dx=0.5 * (1 + 1e-6)),                   # dx beyond the tolerance
    lambda: ramp(dy=0.51),                               # dy
    lambda: ramp(crop_offset_mm=(0.5, 0.0)),             # origin (cropped differently)
])
def test_mismatched_grids_raise(other) -> None:
    a, b = ramp(), other()
    for op in (lambda: a - b, lambda: a + b, lambda: a.subtract(b)):
        with pytest.raises(GridMismatchError) as e:
            op()
        assert isinstance(e.value, ValueError) and isinstance(e.value, MetrologyError)
        assert "resample_like" in str(e.value)


def test_spacing_within_tolerance_is_the_same_grid() -> None:
    a, b = ramp(), ramp(dx=0.5 * (1 + 1e-13))
    np.testing.assert_allclose((a - b).z_nm, 0.0, atol=1e-12)


def test_resample_identity_is_exact() -> None:
    a = ramp(nan_at=(2, 3))
    r = a.resample_like(a)
    assert r == a  # same values bit for bit, same NaN, same grid
    assert "resampled" in r.meta


def test_resample_bilinear_is_exact_for_a_plane_and_nan_where_a_neighbour_is() -> None:
    # source: plane z = 3x + 2y (bilinear interpolation reproduces it exactly)
    src = m.HeightMap(np.zeros((10, 12)), 0.5)
    x, y = src.grid_mm()
    src = src.replace(3.0 * x + 2.0 * y)
    # target: half-pixel shifted, finer grid, starting inside the source
    tgt = m.HeightMap(np.zeros((7, 9)), 0.25, meta={"crop_offset_mm": (0.125, -0.375)})
    out = src.resample_like(tgt)
    tx = tgt.x_mm + 0.125
    ty = tgt.y_mm - 0.375
    expected = 3.0 * tx[None, :] + 2.0 * ty[:, None]
    np.testing.assert_allclose(out.z_nm, expected, rtol=0, atol=1e-12)
    assert out.shape == tgt.shape and out.dx_mm == 0.25
    assert tuple(out.meta["crop_offset_mm"]) == (0.125, -0.375)
    # an invalid source pixel invalidates exactly the targets whose stencil uses it
    zs = src.z_nm.copy()
    zs[5, 6] = np.nan
    out2 = src.replace(zs).resample_like(tgt)
    xs_src = src.x_mm[6]
    ys_src = src.y_mm[5]
    near = (np.abs(tx[None, :] - xs_src) < 0.5) & (np.abs(ty[:, None] - ys_src) < 0.5)
    np.testing.assert_array_equal(np.isnan(out2.z_nm), near)


def test_resample_outside_the_source_is_nan() -> None:
    src = ramp(4, 4, dx=1.0)
    tgt = m.HeightMap(np.zeros((4, 6)), 1.0)  # two columns reach beyond the source
    out = src.resample_like(tgt)
    assert np.isnan(out.z_nm[:, 0]).all() and np.isnan(out.z_nm[:, -1]).all()
    np.testing.assert_array_equal(out.z_nm[:, 1:5], src.z_nm)


def test_resample_uses_the_crop_offset_and_keeps_orientation() -> None:
    # asymmetric map: a marker near the top-left (high y, low x)
    z = np.add.outer(np.arange(8.0) * 10, np.arange(11.0))
    z[6, 1] = 500.0
    z[:2, :] = np.nan
    z[:, 9:] = np.nan
    full = m.HeightMap(z, 0.3, 0.2)
    crop = full.crop_to_valid()
    assert crop.shape == (6, 9)
    back = crop.resample_like(full)  # same physical place, original grid
    inside = np.isfinite(z)
    np.testing.assert_array_equal(back.z_nm[inside], z[inside])
    assert np.isnan(back.z_nm[~inside]).all()
    assert back.z_nm[6, 1] == 500.0
    # and with the offsets accounted for, crop minus resampled-back crop is zero
    assert np.nanmax(np.abs((back.resample_like(crop) - crop).z_nm)) == 0.0


def test_resample_moves_the_recorded_aperture_to_the_same_physical_place() -> None:
    from metrology.aperture import Circle

    z = np.add.outer(np.arange(41.0), np.arange(51.0))
    full = m.HeightMap(z, 0.25, 0.2).select_aperture(Circle(5.0, centre_mm=(1.5, -0.6)))
    crop = full.crop_to_valid()  # moves the array centre (main's own bookkeeping)
    assert crop.meta["crop_offset_mm"] != (0.0, 0.0)
    moved = full.resample_like(crop)
    np.testing.assert_allclose(moved.meta["aperture"]["centre_mm"],
                               crop.meta["aperture"]["centre_mm"], atol=1e-12)
    back = crop.resample_like(full)
    np.testing.assert_allclose(back.meta["aperture"]["centre_mm"], [1.5, -0.6], atol=1e-12)
    # a map written before the vocabulary change says center_mm: moved, canonical key
    old_ap = {k: v for k, v in full.meta["aperture"].items() if k != "centre_mm"}
    old = full.replace(meta={**full.meta, "aperture": {**old_ap, "center_mm": [1.5, -0.6]}})
    ap = old.resample_like(crop).meta["aperture"]
    assert "center_mm" not in ap
    np.testing.assert_allclose(ap["centre_mm"], crop.meta["aperture"]["centre_mm"], atol=1e-12)


def test_unknown_resampling_method() -> None:
    with pytest.raises(ConventionError):
        ramp().resample_like(ramp(), method="cubic")


def test_reference_subtraction_is_recorded() -> None:
    a = ramp(source="part.datx")
    ref = m.HeightMap(np.full((6, 9), 0.5), 0.5, meta={"source": "ref.datx"})
    out = a.subtract(ref)
    np.testing.assert_allclose(out.z_nm, a.z_nm - 0.5)
    assert out.meta["references"][0]["source"] == "ref.datx"
    assert out.meta["references"][0]["rms_nm"] == 0.0
    assert out.meta["history"][-1] == "reference subtracted: map ref.datx"
    assert out.meta["operations"][-1]["op"] == "subtract_reference"
    twice = out.subtract(ref)
    assert len(twice.meta["references"]) == 2
