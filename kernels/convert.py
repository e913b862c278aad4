"""Conversion of raw instrument arrays to heights in one pass.

Readers of large files call this instead of separate scale, mask and flip
passes (each a full read and write of the map).
"""

from __future__ import annotations

import numpy as np

from ._config import jit, pjit, prange


@pjit
def heights_from_raw(raw, scale, nodata, use_nodata, sentinel_abs, flip_rows, out):
    """``out = raw * scale`` with invalid values set to NaN, rows optionally reversed.

    Parameters
    ----------
    raw : float64 (ny, nx), C-contiguous
        Values as stored in the file (file units).
    scale : float
        Factor to nm.
    nodata : float
        The file's no-data value; used when ``use_nodata``.
    use_nodata : bool
    sentinel_abs : float
        Values with ``|v| >= sentinel_abs`` (huge no-data sentinels), NaN and
        inf are invalid.
    flip_rows : bool
        Reverse the row order (image order -> y up).
    out : float64 (ny, nx), C-contiguous
        Heights in nm, NaN = invalid (also where ``v * scale`` overflows).
    """
    ny, nx = raw.shape
    step = -1 if flip_rows else 1
    first = ny - 1 if flip_rows else 0
    for i in prange(ny):
        _convert_row(raw[first + step * i], scale, nodata, use_nodata, sentinel_abs, out[i])


@jit
def _convert_row(src, scale, nodata, use_nodata, sentinel_abs, dst):
    """One row of :func:`heights_from_raw` (``src``, ``dst``: 1-D views)."""
    for j in range(src.shape[0]):
        v = src[j]
        w = v * scale
        bad = (use_nodata and v == nodata) or not (abs(v) < sentinel_abs) or not np.isfinite(w)
        dst[j] = np.nan if bad else w


@pjit
def finite_mask(z, valid):  # pragma: no cover - compiled
    """Mark the finite pixels of ``z``, make every other pixel a quiet NaN, and find the
    range of the finite ones, in one pass.

    Parameters
    ----------
    z : float64 (ny, nx), C-contiguous
        Heights; ``±inf`` and signalling NaNs are replaced by a quiet NaN in place
        (NumPy's SIMD min/max would propagate a signalling NaN and lose the extremes).
    valid : bool (ny, nx)
        Written: ``isfinite(z)``.

    Returns
    -------
    count : int
        Number of finite pixels.
    lo, hi : float
        Smallest and largest finite value (``inf``, ``-inf`` when there is none).
    """
    ny, nx = z.shape
    count = np.zeros(ny, dtype=np.int64)
    lo_r = np.full(ny, np.inf)
    hi_r = np.full(ny, -np.inf)
    for i in prange(ny):
        row = z[i]
        vrow = valid[i]
        c = 0
        lo = np.inf
        hi = -np.inf
        for j in range(nx):
            v = row[j]
            ok = np.isfinite(v)
            if ok:
                lo = min(lo, v)
                hi = max(hi, v)
            else:
                row[j] = np.nan
            vrow[j] = ok
            c += ok
        count[i] = c
        lo_r[i] = lo
        hi_r[i] = hi
    return count.sum(), lo_r.min(), hi_r.max()


@pjit
def masked_copy(z, mask, out, valid):  # pragma: no cover - compiled
    """``out = where(mask & isfinite(z), z, NaN)`` and ``valid = mask & isfinite(z)``,
    in one pass.

    Parameters
    ----------
    z : float64 (ny, nx), C-contiguous
        Heights, NaN = invalid.
    mask : bool (ny, nx)
        Pixels to keep.
    out : float64 (ny, nx)
        Written.
    valid : bool (ny, nx)
        Written: the finite pixels of ``out``.

    Returns
    -------
    int
        Number of finite pixels of ``out``.
    """
    ny, nx = z.shape
    count = np.zeros(ny, dtype=np.int64)
    for i in prange(ny):
        zr = z[i]
        mr = mask[i]
        orow = out[i]
        vrow = valid[i]
        c = 0
        for j in range(nx):
            keep = mr[j]
            v = zr[j] if keep else np.nan
            ok = keep and np.isfinite(v)
            orow[j] = v if ok else np.nan
            vrow[j] = ok
            c += ok
        count[i] = c
    return count.sum()
