"""HeightMap and apertures."""

import math

import numpy as np
import pytest

import metrology as mt
from metrology import aperture as ap


def test_coordinates_follow_the_convention():
    hm = mt.HeightMap(np.zeros((4, 5)), dx_mm=0.5, dy_mm=0.25)
    assert np.allclose(hm.x_mm, [-1.0, -0.5, 0.0, 0.5, 1.0])  # (j - (ncols-1)/2) dx
    assert np.allclose(hm.y_mm, [-0.375, -0.125, 0.125, 0.375])
    X, Y = hm.grid_mm()
    assert X.shape == Y.shape == (4, 5) and Y[0, 0] < Y[-1, 0]  # row index grows with +y
    assert hm.extent_mm == (2.5, 1.0)


def test_statistics_over_valid_pixels():
    z = np.array([[1.0, 2.0, np.nan], [4.0, np.inf, 7.0]])
    hm = mt.HeightMap(z, 0.1)
    v = np.array([1.0, 2.0, 4.0, 7.0])
    assert hm.n_valid == 4 and hm.valid_fraction == pytest.approx(4 / 6)
    assert hm.mean_nm == pytest.approx(v.mean())
    assert hm.rms_nm == pytest.approx(v.std())
    assert hm.pv_nm == pytest.approx(6.0)
    assert np.isnan(hm.z_nm[1, 1])  # inf is not a height


def test_float32_and_int_are_computed_in_float64_and_copied():
    src = np.arange(12, dtype=np.float32).reshape(3, 4)
    hm = mt.HeightMap(src, 1.0)
    assert hm.z_nm.dtype == np.float64 and hm.z_nm.flags.c_contiguous
    src[0, 0] = 99
    assert hm.z_nm[0, 0] == 0  # no aliasing of the caller's array
    assert mt.HeightMap(np.ones((2, 2), np.int16), 1.0).z_nm.dtype == np.float64


def test_operations_return_new_maps_and_record_history():
    z = np.arange(20.0).reshape(4, 5)
    hm = mt.HeightMap(z, 0.1, meta={"source": "x"})
    mask = np.zeros((4, 5), bool)
    mask[0:2, 1:4] = True
    m = hm.apply_mask(mask)
    assert np.isnan(m.z_nm[0, 0]) and not np.isnan(hm.z_nm[0, 0])
    c = m.crop_to_valid()
    assert c.shape == (2, 3) and np.array_equal(c.z_nm, z[0:2, 1:4])
    assert c.meta["history"][-1].startswith("cropped")
    assert c.meta["crop_offset_mm"] == pytest.approx((0.0, -0.1))  # centre moved one row down
    f = hm.flip_y()
    assert np.array_equal(f.z_nm, z[::-1]) and f.meta["rows_flipped"] is True
    assert "history" not in hm.meta


def test_bad_inputs_raise_typed_errors_compatible_with_builtins():
    """Typed (MetrologyError) and still caught by code that knows only ValueError/TypeError."""
    with pytest.raises(mt.HeightMapError) as ei:
        mt.HeightMap(np.zeros(5), 1.0)
    assert isinstance(ei.value, mt.MetrologyError) and isinstance(ei.value, ValueError)
    with pytest.raises(mt.HeightMapTypeError) as ti:
        mt.HeightMap(np.zeros((2, 2), complex), 1.0)
    assert isinstance(ti.value, mt.MetrologyError) and isinstance(ti.value, TypeError)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="2-D"):
        mt.HeightMap(np.zeros(5), 1.0)
    with pytest.raises(ValueError, match="dx_mm"):
        mt.HeightMap(np.zeros((2, 2)), 0.0)
    with pytest.raises(ValueError, match="dy_mm"):
        mt.HeightMap(np.zeros((2, 2)), 1.0, float("nan"))
    with pytest.raises(TypeError):
        mt.HeightMap(np.zeros((2, 2), complex), 1.0)
    for shape in ((0, 5), (5, 0), (0, 0)):  # an empty map is not a height map
        with pytest.raises(mt.HeightMapError, match="at least one row"):
            mt.HeightMap(np.zeros(shape), 1.0)
    with pytest.raises(mt.HeightMapError, match="rectangular"):
        mt.HeightMap([[1.0, 2.0], [3.0]], 1.0)
    with pytest.raises(mt.HeightMapTypeError, match="dx_mm"):
        mt.HeightMap(np.zeros((2, 2)), "wide")
    empty = mt.HeightMap(np.full((3, 3), np.nan), 1.0)
    with pytest.raises(mt.InsufficientDataError, match="no valid pixels"):
        _ = empty.rms_nm
    with pytest.raises(mt.ApertureError):
        empty.apply_mask(np.ones((2, 2), bool))


def test_circle_and_annulus_areas():
    hm = mt.HeightMap(np.zeros((801, 1001)), 0.01, 0.02)
    m = ap.circle(hm, 6.0, centre_mm=(1.0, -2.0))
    area = m.sum() * 0.01 * 0.02
    assert area == pytest.approx(math.pi * 9, rel=2e-3)
    a = ap.annulus(hm, 6.0, 2.0, centre_mm=(1.0, -2.0))
    assert a.sum() * 0.0002 == pytest.approx(math.pi * 8, rel=3e-3)
    with pytest.raises(mt.ApertureError):
        ap.annulus(hm, 2.0, 3.0)
    with pytest.raises(mt.ApertureError):
        ap.circle(hm, -1.0)


def test_fit_circle_off_centre_with_dropouts():
    rng = np.random.default_rng(0)
    hm0 = mt.HeightMap(np.zeros((400, 500)), 0.05)
    disk = ap.circle(hm0, 14.0, centre_mm=(3.1, -1.2))
    z = np.where(disk, 0.0, np.nan)
    z[rng.random(z.shape) < 0.3] = np.nan  # 30 % dropouts
    z[5, 5] = 1.0  # a stray valid pixel far outside
    (cx, cy), r = ap.fit_circle(mt.HeightMap(z, 0.05))
    assert (cx, cy) == pytest.approx((3.1, -1.2), abs=0.01)
    assert r == pytest.approx(7.0, abs=0.05)  # within one pixel despite 30 % dropouts


def test_clear_aperture_diameter_and_fraction():
    hm0 = mt.HeightMap(np.zeros((300, 300)), 0.1)
    hm = hm0.apply_mask(ap.circle(hm0, 20.0, centre_mm=(2.0, 1.0)))
    ca = ap.clear_aperture(hm, 10.0)
    assert ca.sum() * 0.01 == pytest.approx(math.pi * 25, rel=1e-2)
    yy, xx = np.nonzero(ca)
    assert hm.x_mm[xx].mean() == pytest.approx(2.0, abs=0.02)
    frac = ap.clear_aperture(hm, fraction=0.5)
    assert abs(int(frac.sum()) - int(ca.sum())) < 30
    with pytest.raises(mt.ApertureError):
        ap.clear_aperture(hm, 10.0, fraction=0.5)
    with pytest.raises(mt.ApertureError):
        ap.clear_aperture(hm, fraction=1.5)
    assert np.array_equal(ap.from_invalid(hm), hm.valid)
    sel = hm.select_aperture(ap.Circle(10.0))
    assert sel.n_valid == int((ca & hm.valid).sum())
    with pytest.raises(mt.ApertureError):
        hm.select_aperture(ap.Circle(1.0, centre_mm=(-14.0, -14.0)))


def test_fit_circle_on_a_large_map_uses_blocks_and_stays_accurate():
    rng = np.random.default_rng(1)
    hm0 = mt.HeightMap(np.zeros((1100, 1200)), 0.02)
    disk = ap.circle(hm0, 19.0, centre_mm=(-1.3, 0.7))
    z = np.where(disk, 0.0, np.nan)
    z[rng.random(z.shape) < 0.3] = np.nan  # 30 % dropouts
    z[500:540, 600:650] = np.nan  # a large interior hole
    z[3, 3] = 0.0  # a stray pixel
    (cx, cy), r = ap.fit_circle(mt.HeightMap(z, 0.02))
    assert (cx, cy) == pytest.approx((-1.3, 0.7), abs=0.01)
    assert r == pytest.approx(9.5, abs=0.02)  # one pixel


def test_pre_vocabulary_aperture_centre_moves_with_crops_and_flips():
    # meta written before the vocabulary change (an old .npz) says center_mm; the centre
    # must still follow the map through crop_to_valid and flip_y (independent truth: the
    # same map built with the current key)
    import metrology as m
    from metrology.aperture import Circle

    hm = m.HeightMap(np.zeros((101, 121)), 0.1).select_aperture(Circle(6.0, centre_mm=(1.0, 0.5)))
    ap = dict(hm.meta["aperture"])
    ap["center_mm"] = ap.pop("centre_mm")
    old = hm.replace(meta={**hm.meta, "aperture": ap})
    assert "center_mm" not in old.meta["aperture"]
    for op in (lambda h: h.crop_to_valid(), lambda h: h.flip_y()):
        assert op(old).meta["aperture"]["centre_mm"] == op(hm).meta["aperture"]["centre_mm"]
    assert hm.flip_y().meta["aperture"]["centre_mm"][1] == -0.5
