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
