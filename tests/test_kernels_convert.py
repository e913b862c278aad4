"""kernels.convert against a plain NumPy reference."""

import numpy as np
import pytest

from kernels.convert import heights_from_raw


@pytest.mark.parametrize("flip", [True, False])
def test_heights_from_raw_matches_numpy(flip):
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(37, 53))
    raw[3, 4] = -999.0  # the file's no-data value
    raw[5, 6] = np.finfo(np.float64).max  # a sentinel-sized value
    raw[7, 8] = np.nan
    raw[9, 10] = -np.inf
    raw[11, 12] = 2.0**99  # finite, but overflows once scaled
    scale = 2.0**930
    out = np.empty_like(raw)
    valid = np.empty(raw.shape, bool)
    count, lo, hi = heights_from_raw(raw, scale, -999.0, True, 2.0**100, flip, out, valid)
    with np.errstate(over="ignore", invalid="ignore"):
        ref = raw * scale
    ref[(raw == -999.0) | ~(np.abs(raw) < 2.0**100) | ~np.isfinite(ref)] = np.nan
    if flip:
        ref = ref[::-1]
    assert np.array_equal(out, ref, equal_nan=True)
    assert np.isnan(out).sum() == 5
    # the same pass: valid mask, count and range of the valid heights
    assert np.array_equal(valid, np.isfinite(ref))
    assert count == raw.size - 5
    assert (lo, hi) == (np.nanmin(ref), np.nanmax(ref))
    quiet = np.array([np.nan]).view(np.uint64)[0]
    assert np.all(out[~valid].view(np.uint64) == quiet)


def test_heights_from_raw_without_valid_pixels():
    raw = np.full((3, 5), np.nan)
    out = np.empty_like(raw)
    valid = np.ones(raw.shape, bool)
    assert heights_from_raw(raw, 1.0, 0.0, False, 2.0**100, False, out, valid) == \
        (0, np.inf, -np.inf)
    assert not valid.any()


def test_nodata_ignored_when_not_used():
    raw = np.array([[1.0, -999.0]])
    out = np.empty_like(raw)
    valid = np.empty(raw.shape, bool)
    heights_from_raw(raw, 2.0, -999.0, False, 2.0**100, False, out, valid)
    assert np.array_equal(out, [[2.0, -1998.0]]) and valid.all()


def _with_bad_values(rng, shape):
    z = rng.normal(scale=50.0, size=shape)
    bits = np.array([0x7FF0000000000001], dtype=np.uint64).view(np.float64)[0]  # signalling NaN
    flat = z.reshape(-1)
    k = rng.choice(flat.size, 12, replace=False)
    flat[k[:4]] = np.nan
    flat[k[4:6]] = np.inf
    flat[k[6:8]] = -np.inf
    flat[k[8:10]] = bits
    flat[k[10]] = -0.0
    flat[k[11]] = 5e-324  # subnormal: a number, kept bit for bit
    return z


@pytest.mark.parametrize("seed", range(4))
def test_finite_mask_matches_numpy(seed):
    """valid = isfinite, every other pixel a *quiet* NaN, count and range of the finite
    values as NumPy's min / max of the finite ones; numbers untouched bit for bit."""
    from kernels.convert import finite_mask

    rng = np.random.default_rng(seed)
    z = _with_bad_values(rng, (int(rng.integers(1, 40)) + 12, int(rng.integers(1, 40))))
    ref_valid = np.isfinite(z)
    ref_vals = z[ref_valid].copy()
    valid = np.empty(z.shape, bool)
    count, lo, hi = finite_mask(z, valid)
    assert np.array_equal(valid, ref_valid)
    assert count == ref_valid.sum()
    assert (lo, hi) == (ref_vals.min(), ref_vals.max())
    assert np.array_equal(z[ref_valid].view(np.uint64), ref_vals.view(np.uint64))
    quiet = np.array([np.nan]).view(np.uint64)[0]
    assert np.all(z[~ref_valid].view(np.uint64) == quiet)


def test_finite_mask_of_a_map_without_valid_pixels():
    from kernels.convert import finite_mask

    z = np.full((3, 4), np.nan)
    valid = np.empty(z.shape, bool)
    assert finite_mask(z, valid) == (0, np.inf, -np.inf) and not valid.any()


@pytest.mark.parametrize("seed", range(4))
def test_masked_copy_matches_numpy_where(seed):
    from kernels.convert import masked_copy

    rng = np.random.default_rng(10 + seed)
    z = rng.normal(size=(31, 45))
    z[rng.random(z.shape) < 0.1] = np.nan
    mask = rng.random(z.shape) < 0.7
    out = np.empty_like(z)
    valid = np.empty(z.shape, bool)
    count = masked_copy(z, mask, out, valid)
    ref = np.where(mask, z, np.nan)
    assert np.array_equal(out, ref, equal_nan=True)
    assert np.array_equal(valid, np.isfinite(ref))
    assert count == np.isfinite(ref).sum()
