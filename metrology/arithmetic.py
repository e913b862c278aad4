"""Arithmetic on height maps: differences, sums, scaling, resampling, reference subtraction.

Maps are combined pixel by pixel only when they sit on the same grid: the same
shape, the same spacing (relative tolerance :data:`GRID_RTOL`) and the same
physical origin. The origin of a map is its array centre (``docs/conventions.md``)
shifted by ``meta['crop_offset_mm']`` when the map was cropped
(:meth:`HeightMap.crop_to_valid`), so the physical coordinates of a pixel are::

    x_phys = (j - (ncols - 1) / 2) * dx_mm + crop_offset_mm[0]
    y_phys = (i - (nrows - 1) / 2) * dy_mm + crop_offset_mm[1]

Anything else raises :class:`~metrology.errors.GridMismatchError`; nothing is
resampled unless asked for with :func:`resample_like`.

A pixel of a sum or difference is valid only where both operands are valid
(NaN elsewhere). The result keeps the left operand's metadata; every operation
appends a line to ``meta['history']`` and a record to ``meta['operations']``
(the operation and the other operand's source, format, shape and history).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from .errors import ConventionError, GridMismatchError
from .heightmap import HeightMap

__all__ = [
    "GRID_RTOL",
    "grid_mismatch",
    "check_same_grid",
    "add",
    "subtract",
    "scale",
    "negate",
    "resample_like",
    "subtract_reference",
]

#: relative tolerance on the pixel spacings (and on the origin, in units of the
#: spacing) for two grids to count as the same
GRID_RTOL = 1e-9


def _offset(hm: HeightMap) -> tuple[float, float]:
    off = hm.meta.get("crop_offset_mm", (0.0, 0.0))
    try:
        ox, oy = (float(v) for v in off)
    except (TypeError, ValueError):
        raise ConventionError(f"meta['crop_offset_mm'] must be (x, y) in mm, got {off!r}") \
            from None
    return ox, oy


def _close(a: float, b: float, rtol: float) -> bool:
    return abs(a - b) <= rtol * max(abs(a), abs(b))


def grid_mismatch(a: HeightMap, b: HeightMap, rtol: float = GRID_RTOL) -> str:
    """Why ``a`` and ``b`` are not on the same grid ("" when they are).

    Parameters
    ----------
    a, b : HeightMap
    rtol : float
        Relative tolerance on the spacings; the origins must agree within
        ``rtol`` times the spacing.

    Returns
    -------
    str
        Empty when shape, spacing and origin agree, else the reason.
    """
    if a.shape != b.shape:
        return f"shapes differ: {a.shape} vs {b.shape}"
    if not _close(a.dx_mm, b.dx_mm, rtol) or not _close(a.dy_mm, b.dy_mm, rtol):
        return (f"pixel spacings differ: dx {a.dx_mm!r} vs {b.dx_mm!r} mm, "
                f"dy {a.dy_mm!r} vs {b.dy_mm!r} mm (relative tolerance {rtol:g})")
    (ax, ay), (bx, by) = _offset(a), _offset(b)
    if abs(ax - bx) > rtol * a.dx_mm or abs(ay - by) > rtol * a.dy_mm:
        return (f"origins differ: the maps were cropped differently (crop_offset_mm "
                f"({ax:g}, {ay:g}) vs ({bx:g}, {by:g}))")
    return ""


def check_same_grid(a: HeightMap, b: HeightMap, what: str = "combine",
                    rtol: float = GRID_RTOL) -> None:
    """Raise :class:`GridMismatchError` unless ``a`` and ``b`` share a grid."""
    for x in (a, b):
        if not isinstance(x, HeightMap):
            raise TypeError(f"expected a metrology.HeightMap, got {type(x).__name__}")
    why = grid_mismatch(a, b, rtol)
    if why:
        raise GridMismatchError(
            f"cannot {what} maps on different grids: {why}. Resample one onto the other "
            "first (b.resample_like(a)) if that is what you mean")


def _summary(hm: HeightMap) -> dict[str, Any]:
    m = hm.meta
    return {"source": m.get("source"), "format": m.get("format"), "shape": list(hm.shape),
            "dx_mm": hm.dx_mm, "dy_mm": hm.dy_mm, "history": list(m.get("history", []))}


def _describe(hm: HeightMap) -> str:
    src = hm.meta.get("source")
    return f"map {src}" if src else f"a {hm.shape[0]}x{hm.shape[1]} map"


def _record(a: HeightMap, op: str, operand: dict[str, Any] | None, **extra: Any
            ) -> dict[str, Any]:
    meta = dict(a.meta)
    rec: dict[str, Any] = {"op": op}
    if operand is not None:
        rec["operand"] = operand
    rec.update(extra)
    meta["operations"] = [*meta.get("operations", []), rec]
    return meta


def add(a: HeightMap, b: HeightMap) -> HeightMap:
    """``a + b`` pixel by pixel on one grid (NaN where either is invalid), nm."""
    check_same_grid(a, b, "add")
    z = a.z_nm + b.z_nm
    return a.replace(z, meta=_record(a, "add", _summary(b)), note=f"added {_describe(b)}",
                     copy=False)


def subtract(a: HeightMap, b: HeightMap) -> HeightMap:
    """``a - b`` pixel by pixel on one grid (NaN where either is invalid), nm."""
    check_same_grid(a, b, "subtract")
    z = a.z_nm - b.z_nm
    return a.replace(z, meta=_record(a, "subtract", _summary(b)),
                     note=f"subtracted {_describe(b)}", copy=False)


def _scalar(k: Any) -> float:
    if isinstance(k, bool) or not isinstance(k, numbers.Real):
        raise TypeError(f"a height map can be scaled by a real number, not {type(k).__name__}")
    v = float(k)
    if not math.isfinite(v):
        raise ConventionError(f"scale factor must be finite, got {k!r}")
    return v


def scale(a: HeightMap, k: Any) -> HeightMap:
    """``k * a``: every height multiplied by the real number ``k`` (invalid stays NaN)."""
    v = _scalar(k)
    return a.replace(a.z_nm * v, meta=_record(a, "scale", None, factor=v),
                     note=f"multiplied by {v!r}", copy=False)


def negate(a: HeightMap) -> HeightMap:
    """``-a``: heights negated (invalid stays NaN)."""
    return a.replace(-a.z_nm, meta=_record(a, "negate", None), note="negated", copy=False)


def _axis_weights(target: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                          np.ndarray]:
    """Lower index, upper index, weight of the upper one and inside flag for fractional
    source indices ``target`` on an axis of ``n`` samples."""
    snap = 1e-9
    i0 = np.floor(target)
    t = target - i0
    up = t > 1.0 - snap  # a hair below the next sample: take that sample
    i0 = np.where(up, i0 + 1.0, i0)
    t = np.where(up | (t < snap), 0.0, t)
    inside = (i0 >= 0) & (i0 <= n - 1) & ((t == 0.0) | (i0 + 1 <= n - 1))
    i0c = np.clip(i0, 0, n - 1).astype(np.intp)
    i1c = np.clip(i0 + 1, 0, n - 1).astype(np.intp)
    return i0c, i1c, np.where(inside, t, 0.0), inside


def resample_like(src: HeightMap, like: HeightMap, method: str = "bilinear") -> HeightMap:
    """Resample ``src`` onto the grid of ``like`` (shape, spacing and origin).

    Parameters
    ----------
    src : HeightMap
        Heights to resample, nm.
    like : HeightMap
        The target grid; its heights are not used.
    method : {"bilinear"}
        Bilinear interpolation between the four source pixels around each
        target pixel centre, in the physical coordinates of the module
        docstring (array centre plus ``crop_offset_mm``). A target pixel is
        NaN when any source pixel with a non-zero weight is invalid or when it
        falls outside the source grid (no extrapolation, no filling). A target
        pixel that coincides with a source pixel takes its value exactly.

    Returns
    -------
    HeightMap
        Shape and spacing of ``like``, ``meta['crop_offset_mm']`` of ``like``,
        the rest of the metadata from ``src`` plus ``meta['resampled']`` and a
        history line. An aperture recorded in ``src``'s metadata is moved into
        the new frame (same physical place).
    """
    if str(method).lower() != "bilinear":
        raise ConventionError(f"unknown resampling method {method!r}; use 'bilinear'")
    for x in (src, like):
        if not isinstance(x, HeightMap):
            raise TypeError(f"expected a metrology.HeightMap, got {type(x).__name__}")
    (sx, sy), (lx, ly) = _offset(src), _offset(like)
    sny, snx = src.shape
    # fractional source indices of the target pixel centres
    cols = (like.x_mm + lx - sx) / src.dx_mm + (snx - 1) / 2.0
    rows = (like.y_mm + ly - sy) / src.dy_mm + (sny - 1) / 2.0
    c0, c1, tc, cin = _axis_weights(cols, snx)
    r0, r1, tr, rin = _axis_weights(rows, sny)
    z = src.z_nm
    out = np.zeros(like.shape)
    ok = np.outer(rin, cin)
    for ri, wr in ((r0, 1.0 - tr), (r1, tr)):
        for ci, wc in ((c0, 1.0 - tc), (c1, tc)):
            w = np.outer(wr, wc)
            vals = z[np.ix_(ri, ci)]
            need = w > 0.0
            ok &= ~need | np.isfinite(vals)
            out += np.where(need, vals, 0.0) * w
    out[~ok] = np.nan
    meta = dict(src.meta)
    meta["crop_offset_mm"] = (lx, ly)
    meta["resampled"] = {
        "method": "bilinear on the valid support; NaN where a neighbour with non-zero "
                  "weight is invalid or outside the source grid",
        "from_shape": list(src.shape), "from_dx_mm": src.dx_mm, "from_dy_mm": src.dy_mm,
        "from_crop_offset_mm": [sx, sy],
    }
    ap = meta.get("aperture")
    if isinstance(ap, dict) and "centre_mm" in ap:
        ap = dict(ap)
        c = ap["centre_mm"]
        ap["centre_mm"] = [float(c[0]) + sx - lx, float(c[1]) + sy - ly]
        meta["aperture"] = ap
    out_hm = HeightMap._adopt(out, like.dx_mm, like.dy_mm, meta)
    return out_hm.replace(
        note=f"resampled bilinearly from {sny}x{snx} at ({src.dx_mm:g}, {src.dy_mm:g}) mm "
             f"onto {like.shape[0]}x{like.shape[1]} at ({like.dx_mm:g}, {like.dy_mm:g}) mm")


def subtract_reference(hm: HeightMap, reference: HeightMap) -> HeightMap:
    """Subtract a calibrated reference map (e.g. the interferometer's reference error).

    The grids must match (:func:`check_same_grid`; resample the reference
    first if they do not). The result is NaN where either map is invalid.

    Returns
    -------
    HeightMap
        ``hm - reference``; ``meta['references']`` lists every reference
        subtracted (source, format, shape, valid pixels, RMS in nm) and the
        history says so.
    """
    check_same_grid(hm, reference, "subtract a reference from")
    z = hm.z_nm - reference.z_nm
    summary = _summary(reference)
    v = reference.z_nm[reference.valid]
    summary["n_valid"] = int(v.size)
    summary["rms_nm"] = float(np.sqrt(np.mean((v - v.mean()) ** 2))) if v.size else math.nan
    meta = _record(hm, "subtract_reference", summary)
    meta["references"] = [*meta.get("references", []), summary]
    return hm.replace(z, meta=meta, note=f"reference subtracted: {_describe(reference)}",
                      copy=False)
