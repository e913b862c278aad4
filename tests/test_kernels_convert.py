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
    heights_from_raw(raw, scale, -999.0, True, 2.0**100, flip, out)
    with np.errstate(over="ignore", invalid="ignore"):
        ref = raw * scale
    ref[(raw == -999.0) | ~(np.abs(raw) < 2.0**100) | ~np.isfinite(ref)] = np.nan
    if flip:
        ref = ref[::-1]
    assert np.array_equal(out, ref, equal_nan=True)
    assert np.isnan(out).sum() == 5


def test_nodata_ignored_when_not_used():
    raw = np.array([[1.0, -999.0]])
    out = np.empty_like(raw)
    heights_from_raw(raw, 2.0, -999.0, False, 2.0**100, False, out)
    assert np.array_equal(out, [[2.0, -1998.0]])
