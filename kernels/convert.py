"""Conversion of raw instrument arrays to heights in one pass.

Readers of large files call this instead of separate scale, mask and flip
passes (each a full read and write of the map); height maps find their valid
pixels (and, for a mask applied, their masked copy) in one pass of
:func:`finite_copy`.
"""

from __future__ import annotations

import numpy as np

from ._config import jit, pjit, prange

__all__ = ["finite_copy", "finite_mask", "heights_from_raw", "masked_copy"]


@pjit
def heights_from_raw(raw, scale, nodata, use_nodata, sentinel_abs, flip_rows, out, valid):
    """``out = raw * scale`` with invalid values set to NaN, rows optionally reversed, and
    the valid pixels, their count and their range, in one pass.

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
        Heights in nm, a quiet NaN = invalid (also where ``v * scale`` overflows).
    valid : bool (ny, nx), C-contiguous
        Written: the finite pixels of ``out``.

    Returns
    -------
    count : int
        Number of valid pixels.
    lo, hi : float
        The smallest and largest valid height in nm (``inf``, ``-inf`` when there is
        none).
    """
    ny, nx = raw.shape
    step = -1 if flip_rows else 1
    first = ny - 1 if flip_rows else 0
    count = np.zeros(ny, dtype=np.int64)
    lo_r = np.full(ny, np.inf)
    hi_r = np.full(ny, -np.inf)
    for i in prange(ny):
        count[i] = _convert_row(raw[first + step * i], scale, nodata, use_nodata,
                                sentinel_abs, out[i], valid[i].view(np.uint8))
        lo_r[i], hi_r[i] = _row_range(out[i])
    return count.sum(), lo_r.min(), hi_r.max()


@jit
def _convert_row(src, scale, nodata, use_nodata, sentinel_abs, dst, vrow):
    """One row of :func:`heights_from_raw` (``src``, ``dst``, ``vrow``: 1-D views, ``vrow``
    the valid mask's bytes); returns the row's count of valid pixels."""
    und = np.uint8(1) if use_nodata else np.uint8(0)
    c = 0
    for j in range(src.shape[0]):  # selects and byte masks, no branch per pixel
        v = src[j]
        w = v * scale
        nd = np.uint8(v == nodata) & und
        # NaN fails the first test, inf and an overflowed product the second (w - w is 0
        # exactly when w is finite)
        ok = np.uint8(abs(v) < sentinel_abs) & np.uint8(w - w == 0.0) & (nd ^ np.uint8(1))
        dst[j] = w if ok else np.nan
        vrow[j] = ok
        c += ok
    return c


@jit
def _row_range(row):
    """(min, max) of the numbers of a row that may hold NaN (``inf``, ``-inf`` when it holds
    none): four chains of selects (a NaN compares false: never taken), a sweep of a row
    still in cache; min/max reductions over NaN do not vectorise without the no-NaN flag,
    which the kernels never use."""
    nx = row.shape[0]
    lo0 = lo1 = lo2 = lo3 = np.inf
    hi0 = hi1 = hi2 = hi3 = -np.inf
    j = 0
    while j + 4 <= nx:
        a0 = row[j]
        a1 = row[j + 1]
        a2 = row[j + 2]
        a3 = row[j + 3]
        lo0 = a0 if a0 < lo0 else lo0
        lo1 = a1 if a1 < lo1 else lo1
        lo2 = a2 if a2 < lo2 else lo2
        lo3 = a3 if a3 < lo3 else lo3
        hi0 = a0 if a0 > hi0 else hi0
        hi1 = a1 if a1 > hi1 else hi1
        hi2 = a2 if a2 > hi2 else hi2
        hi3 = a3 if a3 > hi3 else hi3
        j += 4
    while j < nx:
        a0 = row[j]
        lo0 = a0 if a0 < lo0 else lo0
        hi0 = a0 if a0 > hi0 else hi0
        j += 1
    return min(min(lo0, lo1), min(lo2, lo3)), max(max(hi0, hi1), max(hi2, hi3))


@pjit
def finite_copy(src, mask, use_mask, out, valid):  # pragma: no cover - compiled
    """Copy the finite pixels of ``src`` inside ``mask``, make every other pixel a quiet
    NaN and mark the kept pixels, in one pass; without a mask (``use_mask`` False) the
    work is done in place in ``src`` (``out`` is not used) and only the pixels that are
    not finite are written. The masked loop has no branch per pixel (a select and a byte mask), so
    it vectorises.

    Parameters
    ----------
    src : float64 (ny, nx), C-contiguous
        Heights.
    mask : bool (ny, nx)
        Pixels to keep; read only when ``use_mask`` (any array of the shape otherwise).
    use_mask : bool
        False: in place (``src`` is written, ``out`` and ``mask`` are not used).
    out : float64 (ny, nx)
        Written: ``src`` where kept, a quiet NaN elsewhere (``±inf`` and signalling NaNs
        included).
    valid : bool (ny, nx)
        Written: the kept pixels (``isfinite(out)``).

    Returns
    -------
    count : int
        Number of kept pixels.
    lo, hi : float
        In place: the smallest and largest finite value (``inf``, ``-inf`` when there is
        none; the readers' height limit is checked on them). A masked copy does not look
        for them: ``inf``, ``-inf``.
    """
    ny, nx = src.shape
    count = np.zeros(ny, dtype=np.int64)
    lo_r = np.full(ny, np.inf)
    hi_r = np.full(ny, -np.inf)
    for i in prange(ny):
        srow = src[i]
        vrow = valid[i].view(np.uint8)
        c = 0
        if use_mask:
            orow = out[i]
            mrow = mask[i].view(np.uint8)
            for j in range(nx):
                v = srow[j]
                ok = np.uint8(v - v == 0.0) & mrow[j]  # v - v is 0 exactly when v is finite
                orow[j] = v if ok else np.nan
                vrow[j] = ok
                c += ok
        else:  # in place: only the pixels of src that are not finite are written
            for j in range(nx):
                v = srow[j]
                ok = np.uint8(v - v == 0.0)
                if not ok:
                    srow[j] = np.nan
                vrow[j] = ok
                c += ok
            lo_r[i], hi_r[i] = _row_range(srow)  # a second sweep of the row (in cache)
        count[i] = c
    return count.sum(), lo_r.min(), hi_r.max()


#: placeholders for the arguments :func:`finite_copy` does not use in place (distinct
#: arrays: an argument aliasing ``src`` keeps the loop from vectorising)
_NO_MASK = np.zeros((1, 1), dtype=bool)
_NO_OUT = np.zeros((1, 1))


def finite_mask(z: np.ndarray, valid: np.ndarray) -> tuple[int, float, float]:
    """:func:`finite_copy` of ``z`` onto itself: its finite pixels marked in ``valid``
    (bool, written), every other pixel made a quiet NaN in place; returns their count
    and their range (lo, hi; ``inf``, ``-inf`` when there is none)."""
    return finite_copy(z, _NO_MASK, False, _NO_OUT, valid)


def masked_copy(z: np.ndarray, mask: np.ndarray, out: np.ndarray, valid: np.ndarray) -> int:
    """:func:`finite_copy` of ``z`` inside ``mask`` into ``out``: ``where(mask &
    isfinite(z), z, NaN)``, with ``valid`` (written) its finite pixels; returns their
    count."""
    return int(finite_copy(z, mask, True, out, valid)[0])
