"""Apertures: boolean masks on a height map's grid.

All geometry is in mm in the map's frame (origin at the array centre, x along
columns, y along rows; see :class:`metrology.HeightMap`). Every function
returns a boolean array of the map's shape; ``True`` = inside the aperture.
A pixel is inside when its centre is inside.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from kernels._config import threads_for_elements
from kernels.regions import circle_region_counts, radius_mask

from . import _caches
from ._deprecate import alias_property, renamed_kwargs, warn_renamed
from .errors import ApertureError, InsufficientDataError
from .heightmap import HeightMap

__all__ = [
    "Circle",
    "Annulus",
    "circle",
    "annulus",
    "clear_aperture",
    "from_invalid",
    "fit_circle",
    "fit_circle_mask",
    "mask_key",
]


def _radius_mask(hm: HeightMap, centre_mm: tuple[float, float], r_lo: float | None,
                 r_hi: float) -> np.ndarray:
    """Pixels with r_lo² <= (x - cx)² + (y - cy)² <= r_hi² (no lower bound when r_lo is None),
    in one pass without a float temporary (:func:`kernels.regions.radius_mask`)."""
    cx, cy = (float(c) for c in centre_mm)
    dx2 = np.ascontiguousarray((hm.x_mm - cx) ** 2)
    dy2 = np.ascontiguousarray((hm.y_mm - cy) ** 2)
    out = np.empty(hm.shape, dtype=bool)
    with threads_for_elements(out.size, passes=0.5):
        radius_mask(dx2, dy2, -1.0 if r_lo is None else r_lo * r_lo, r_hi * r_hi, out)
    return out


def _check_diameter(name: str, d: float) -> float:
    d = float(d)
    if not math.isfinite(d) or d <= 0:
        raise ApertureError(f"{name} must be a positive diameter in mm, got {d!r}")
    return d


@renamed_kwargs(center_mm="centre_mm")
def circle(hm: HeightMap, diameter_mm: float,
           centre_mm: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Mask of a circle of ``diameter_mm`` centred at ``centre_mm`` (x, y in mm).

    Returns
    -------
    ndarray of bool, shape ``hm.shape``
    """
    d = _check_diameter("diameter_mm", diameter_mm)
    return _radius_mask(hm, centre_mm, None, d / 2.0)


@renamed_kwargs(center_mm="centre_mm")
def annulus(hm: HeightMap, outer_diameter_mm: float, inner_diameter_mm: float,
            centre_mm: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Mask of an annulus: inner_diameter/2 <= r <= outer_diameter/2 (mm)."""
    do = _check_diameter("outer_diameter_mm", outer_diameter_mm)
    di = float(inner_diameter_mm)
    if not (0.0 <= di < do):
        raise ApertureError(
            f"inner diameter must satisfy 0 <= inner < outer ({do} mm), got {di!r}")
    return _radius_mask(hm, centre_mm, di / 2.0, do / 2.0)


def from_invalid(hm: HeightMap) -> np.ndarray:
    """Mask of the valid (finite) pixels of ``hm``."""
    return hm.valid.copy()


def mask_key(mask: np.ndarray) -> str:
    """A short hash of a boolean mask and its shape (for caches keyed by geometry)."""
    h = hashlib.blake2b(np.packbits(mask, axis=None).tobytes(), digest_size=16)
    h.update(repr(mask.shape).encode())
    return h.hexdigest()


_CIRCLES: OrderedDict[tuple, tuple[tuple[float, float], float]] = OrderedDict()
_CIRCLES_LOCK = threading.Lock()


def clear_circle_cache() -> None:
    """Forget the cached results of :func:`fit_circle_mask`."""
    with _CIRCLES_LOCK:
        _CIRCLES.clear()


_caches.register("aperture.circles", clear_circle_cache)


def fit_circle(hm: HeightMap) -> tuple[tuple[float, float], float]:
    """Centre and radius (mm) of the circle that best matches the valid region.

    The valid region's largest connected component has its holes filled (so
    dropouts inside the part do not shrink it); the centre is its centroid in
    mm and the radius the one of the circle with the same area,
    ``sqrt(area / pi)``. Both are exact for a sampled disk to within a fraction
    of a pixel, and unaffected by interior dropouts.

    Returns
    -------
    centre_mm : (float, float)
        (x, y) in mm, in the map's frame.
    radius_mm : float
        Radius of the circle (not a Zernike R_norm).
    """
    return fit_circle_mask(hm.valid, hm.dx_mm, hm.dy_mm)


def fit_circle_mask(valid: np.ndarray, dx_mm: float, dy_mm: float, *,
                    key: str | None = None) -> tuple[tuple[float, float], float]:
    """:func:`fit_circle` of a boolean mask on a grid of spacing (dx_mm, dy_mm).

    Results are cached per mask (maps of one aperture label it once);
    ``key`` is the mask's :func:`mask_key` when the caller has it already.
    """
    if not valid.any():
        raise InsufficientDataError("cannot fit a circle: the map has no valid pixels")
    key = (mask_key(valid) if key is None else key, float(dx_mm), float(dy_mm))
    with _CIRCLES_LOCK:
        if key in _CIRCLES:
            return _CIRCLES[key]
    out = _fit_circle(valid, float(dx_mm), float(dy_mm))
    with _CIRCLES_LOCK:
        _CIRCLES[key] = out
        while len(_CIRCLES) > 32:
            _CIRCLES.popitem(last=False)
    return out


def _fit_circle(valid: np.ndarray, dx: float, dy: float) -> tuple[tuple[float, float], float]:
    # Connected components are found on a grid of b x b blocks ("any valid") so that
    # cracks narrower than a block do not split the part and the work stays ~512²
    # blocks whatever the map size; b = 1 below 1024 px. Blocks inside the filled
    # region count whole, blocks on its edge count their valid pixels
    # (kernels.regions.circle_region_counts: runs and union-find, no label image).
    ny, nx = valid.shape
    b = max(1, min(ny, nx) // 512)
    row_count, col_count = circle_region_counts(np.ascontiguousarray(valid, dtype=bool), b)
    npx = int(col_count.sum())
    cx = float(col_count @ ((np.arange(nx) - (nx - 1) / 2.0) * dx)) / npx
    cy = float(row_count @ ((np.arange(ny) - (ny - 1) / 2.0) * dy)) / npx
    area = npx * dx * dy
    return (cx, cy), math.sqrt(area / math.pi)


@renamed_kwargs(center_mm="centre_mm")
def clear_aperture(hm: HeightMap, diameter_mm: float | None = None, *,
                   fraction: float | None = None,
                   centre_mm: tuple[float, float] | None = None) -> np.ndarray:
    """Mask of a circular clear aperture.

    Parameters
    ----------
    hm : HeightMap
    diameter_mm : float, optional
        Clear-aperture diameter in mm.
    fraction : float, optional
        Instead of a diameter: this fraction (0 < f <= 1) of the diameter of
        the best-fit circle of the valid region (:func:`fit_circle`).
    centre_mm : (float, float), optional
        Centre (x, y) in mm. Default: the centre of the best-fit circle of the
        valid region.

    Returns
    -------
    ndarray of bool, shape ``hm.shape``
        The clear aperture intersected with nothing: invalid pixels inside it
        stay in the mask (combine with ``hm.valid`` to count coverage).
    """
    if (diameter_mm is None) == (fraction is None):
        raise ApertureError("give exactly one of diameter_mm or fraction")
    if centre_mm is None or fraction is not None:
        c_fit, r_fit = fit_circle(hm)
        centre = c_fit if centre_mm is None else centre_mm
    else:
        centre = centre_mm
    if fraction is not None:
        f = float(fraction)
        if not (0.0 < f <= 1.0):
            raise ApertureError(f"fraction must be in (0, 1], got {fraction!r}")
        diameter_mm = 2.0 * r_fit * f
    return circle(hm, diameter_mm, centre)  # type: ignore[arg-type]


def _take_centre(cls: type, centre_mm: tuple[float, float] | None,
                 kwargs: dict[str, object]) -> tuple[float, float] | None:
    """``centre_mm``, or the deprecated ``center_mm=`` keyword of an aperture class."""
    if "center_mm" in kwargs:
        if centre_mm is not None:
            raise TypeError(f"{cls.__name__}() got both center_mm= (deprecated) and centre_mm=")
        warn_renamed(f"{cls.__name__}(center_mm=...)", "centre_mm=", stacklevel=4)
        centre_mm = kwargs.pop("center_mm")  # type: ignore[assignment]
    if kwargs:
        raise TypeError(f"{cls.__name__}() got unexpected keyword(s) {', '.join(kwargs)}")
    return centre_mm


@dataclass(frozen=True, init=False)
class Circle:
    """A circular aperture; ``centre_mm=None`` means the best-fit centre of the data."""

    diameter_mm: float
    centre_mm: tuple[float, float] | None = None

    def __init__(self, diameter_mm: float, centre_mm: tuple[float, float] | None = None,
                 **kwargs: object) -> None:
        object.__setattr__(self, "diameter_mm", diameter_mm)
        object.__setattr__(self, "centre_mm", _take_centre(type(self), centre_mm, kwargs))

    center_mm = alias_property("centre_mm", "center_mm")

    def _centre(self, hm: HeightMap) -> tuple[float, float]:
        return self.centre_mm if self.centre_mm is not None else fit_circle(hm)[0]

    def mask(self, hm: HeightMap) -> np.ndarray:
        """Boolean mask on ``hm``'s grid."""
        return circle(hm, self.diameter_mm, self._centre(hm))

    def describe(self, hm: HeightMap) -> dict:
        """Kind, centre (mm, map frame) and diameter (mm) of this aperture on ``hm``."""
        c = self._centre(hm)
        return {"kind": "circle", "centre_mm": [float(c[0]), float(c[1])],
                "diameter_mm": float(self.diameter_mm)}


@dataclass(frozen=True, init=False)
class Annulus:
    """An annular aperture (diameters in mm); ``centre_mm=None``: best-fit centre."""

    outer_diameter_mm: float
    inner_diameter_mm: float
    centre_mm: tuple[float, float] | None = None

    def __init__(self, outer_diameter_mm: float, inner_diameter_mm: float,
                 centre_mm: tuple[float, float] | None = None, **kwargs: object) -> None:
        object.__setattr__(self, "outer_diameter_mm", outer_diameter_mm)
        object.__setattr__(self, "inner_diameter_mm", inner_diameter_mm)
        object.__setattr__(self, "centre_mm", _take_centre(type(self), centre_mm, kwargs))

    center_mm = alias_property("centre_mm", "center_mm")

    def _centre(self, hm: HeightMap) -> tuple[float, float]:
        return self.centre_mm if self.centre_mm is not None else fit_circle(hm)[0]

    def mask(self, hm: HeightMap) -> np.ndarray:
        """Boolean mask on ``hm``'s grid."""
        return annulus(hm, self.outer_diameter_mm, self.inner_diameter_mm, self._centre(hm))

    def describe(self, hm: HeightMap) -> dict:
        """Kind, centre (mm, map frame) and diameters (mm) of this aperture on ``hm``."""
        c = self._centre(hm)
        return {"kind": "annulus", "centre_mm": [float(c[0]), float(c[1])],
                "diameter_mm": float(self.outer_diameter_mm),
                "inner_diameter_mm": float(self.inner_diameter_mm)}
