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
from kernels.regions import circle_region_counts, edge_circle_fit, outline_points, radius_mask

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
    "find_circle",
    "find_circle_mask",
    "CircleFit",
    "check_circle_inside",
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


_CIRCLES: OrderedDict[tuple, CircleFit] = OrderedDict()
_CIRCLES_LOCK = threading.Lock()


def clear_circle_cache() -> None:
    """Forget the cached results of :func:`fit_circle_mask`."""
    with _CIRCLES_LOCK:
        _CIRCLES.clear()


_caches.register("aperture.circles", clear_circle_cache)


#: sectors of the full circle used to measure how much of the rim an edge fit saw
EDGE_SECTORS = 36
#: an edge fit is used when its inliers cover at least this share of the sectors
EDGE_MIN_COVERAGE = 0.5
#: ... and the robust scatter of the edge points about the circle is at most this many
#: pixels (or this share of the radius, whichever is larger)
EDGE_MAX_SCATTER_PX = 1.5
EDGE_MAX_SCATTER_REL = 0.01
#: points farther than max(EDGE_INLIER_PX pixels, 3 robust sigma) from the circle are not
#: rim points (a lost rim segment, dropouts touching the edge, a spur)
EDGE_INLIER_PX = 2.0


@dataclass(frozen=True)
class CircleFit:
    """A circle found in the valid region of a map, and how it was found.

    Attributes
    ----------
    centre_mm : (float, float)
        (x, y) in mm, in the map's frame.
    radius_mm : float
        Radius of the circle (not a Zernike R_norm): of the fitted edge for
        ``method == "edge"``, of the circle with the region's area for ``"area"``.
    method : {"edge", "area"}
        ``"edge"``: a robust circle fit to the outer edge of the main region
        (:func:`find_circle`); ``"area"``: the centroid of the main region with
        its holes filled (used when no circular edge is found; it moves when
        part of the region is lost).
    n_edge_points, n_inliers : int
        Outer-edge points found and those the circle was fitted to.
    arc_coverage : float
        Share of the EDGE_SECTORS sectors about the centre that hold an inlier.
    rms_residual_mm : float
        RMS distance of the inliers from the circle, mm.
    reason : str
        Why no edge fit was used ("" for ``method == "edge"``).
    """

    centre_mm: tuple[float, float]
    radius_mm: float
    method: str
    n_edge_points: int = 0
    n_inliers: int = 0
    arc_coverage: float = 0.0
    rms_residual_mm: float = math.nan
    reason: str = ""

    def describe(self) -> str:
        """One line for reports."""
        if self.method == "edge":
            return (f"robust circle fit to the outer edge ({self.n_inliers} of "
                    f"{self.n_edge_points} edge points, {self.arc_coverage:.0%} of the rim, "
                    f"RMS {self.rms_residual_mm:.3g} mm)")
        return f"centroid of the filled valid region ({self.reason})"

    def to_dict(self) -> dict[str, object]:
        return {"centre_mm": [float(self.centre_mm[0]), float(self.centre_mm[1])],
                "radius_mm": float(self.radius_mm), "method": self.method,
                "n_edge_points": self.n_edge_points, "n_inliers": self.n_inliers,
                "arc_coverage": self.arc_coverage, "rms_residual_mm": self.rms_residual_mm,
                "reason": self.reason, "description": self.describe()}


def fit_circle(hm: HeightMap) -> tuple[tuple[float, float], float]:
    """Centre and radius (mm) of the circle that best matches the valid region.

    The circle of :func:`find_circle`: a robust fit to the outer edge of the
    valid region when it has a circular edge, else the centroid and
    equal-area radius of the region with its holes filled.

    Returns
    -------
    centre_mm : (float, float)
        (x, y) in mm, in the map's frame.
    radius_mm : float
        Radius of the circle (not a Zernike R_norm).
    """
    c = find_circle(hm)
    return c.centre_mm, c.radius_mm


def find_circle(hm: HeightMap) -> CircleFit:
    """The circle of a map's valid region, found from its outer edge (:class:`CircleFit`).

    Method (``docs/conventions.md``: the centre "from the data" comes from the
    aperture's boundary, never the centroid of the valid pixels):

    1. The main region is the largest connected component of the valid pixels
       (:func:`kernels.regions.outline_points`); its outer edge points are
       the first and last valid pixel of every row and every column. Points on
       the border of the array are not an edge of the part and are left out.
    2. A least-median-of-squares search over circles through three edge points
       (spread around the region) finds the circle most edge points lie on;
       points that border a dropout or a lost rim segment lie *inside* it and do
       not pull it.
    3. The circle is refined by geometric least squares on the points within
       max(2 px, 3 robust sigma) of it, repeated until the set of points stops
       changing.

    The fit is used when its points cover at least half of the rim
    (EDGE_MIN_COVERAGE of EDGE_SECTORS sectors) and scatter by at most
    max(1.5 px, 1 % of the radius); otherwise (no circular edge: a rectangle,
    a strip, a map filled to its border) the centroid and equal-area radius of
    the main region with its holes filled are returned, with the reason.
    Results are cached per mask.
    """
    return find_circle_mask(hm.valid, hm.dx_mm, hm.dy_mm)


def fit_circle_mask(valid: np.ndarray, dx_mm: float, dy_mm: float, *,
                    key: str | None = None) -> tuple[tuple[float, float], float]:
    """:func:`fit_circle` of a boolean mask on a grid of spacing (dx_mm, dy_mm).

    Results are cached per mask (maps of one aperture label it once);
    ``key`` is the mask's :func:`mask_key` when the caller has it already.
    """
    c = find_circle_mask(valid, dx_mm, dy_mm, key=key)
    return c.centre_mm, c.radius_mm


def find_circle_mask(valid: np.ndarray, dx_mm: float, dy_mm: float, *,
                     key: str | None = None) -> CircleFit:
    """:func:`find_circle` of a boolean mask (cached per mask, grid and method)."""
    if not valid.any():
        raise InsufficientDataError("cannot fit a circle: the map has no valid pixels")
    key = (mask_key(valid) if key is None else key, float(dx_mm), float(dy_mm))
    with _CIRCLES_LOCK:
        if key in _CIRCLES:
            return _CIRCLES[key]
    v = np.ascontiguousarray(valid, dtype=bool)
    out = _edge_circle(v, float(dx_mm), float(dy_mm))
    with _CIRCLES_LOCK:
        _CIRCLES[key] = out
        while len(_CIRCLES) > 32:
            _CIRCLES.popitem(last=False)
    return out


def _fit_circle(valid: np.ndarray, dx: float, dy: float) -> tuple[tuple[float, float], float]:
    """Centroid and equal-area radius of the filled main region (the ``"area"`` method)."""
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


def _edge_points(valid: np.ndarray, dx: float, dy: float
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y) in mm of the outer edge points of the main region (array border left out),
    and how each was found: bit 1 the first or last pixel of its row, bit 2 of its column."""
    ny, nx = valid.shape
    ix, iy, how = outline_points(valid, max(1, min(ny, nx) // 512))
    return (ix - (nx - 1) / 2.0) * dx, (iy - (ny - 1) / 2.0) * dy, how


def _circles_through(x: np.ndarray, y: np.ndarray, i: np.ndarray, j: np.ndarray,
                     k: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centres and radii of the circles through the point triples (i, j, k)."""
    ax, ay, bx, by, cx, cy = x[i], y[i], x[j], y[j], x[k], y[k]
    d = 2.0 * (ax * (by - cy) + bx * (cy - ay) + cx * (ay - by))
    a2, b2, c2 = ax * ax + ay * ay, bx * bx + by * by, cx * cx + cy * cy
    with np.errstate(divide="ignore", invalid="ignore"):
        ux = (a2 * (by - cy) + b2 * (cy - ay) + c2 * (ay - by)) / d
        uy = (a2 * (cx - bx) + b2 * (ax - cx) + c2 * (bx - ax)) / d
    return ux, uy, np.hypot(ax - ux, ay - uy)


def _edge_circle(valid: np.ndarray, dx: float, dy: float) -> CircleFit:
    """:func:`find_circle` on a C-contiguous boolean mask."""

    def area(reason: str, n: int = 0) -> CircleFit:
        # only when no circular edge is found: the filled region's centroid and area
        (acx, acy), ar = _fit_circle(valid, dx, dy)
        return CircleFit((acx, acy), ar, "area", n, 0, 0.0, math.nan, reason)

    x, y, how = _edge_points(valid, dx, dy)
    n = x.size
    pix = max(dx, dy)
    if n < 12:
        return area("the valid region has no edge inside the array", n)
    # least median of squares over circles through triples spread around the region (in
    # the order of their angle about the edge points' mean, a point inside the region)
    order = np.argsort(np.arctan2(y - y.mean(), x - x.mean()), kind="stable")
    m = min(n, 256)
    sub = order[np.linspace(0, n - 1, m).astype(np.int64)]
    xs, ys = x[sub], y[sub]
    trip = []
    for step in {max(1, m // q) for q in (8, 6, 4, 3)}:
        k0 = np.arange(0, m, max(1, m // 64))
        trip.append((k0, (k0 + step) % m, (k0 + 2 * step) % m))
    i, j, k = (np.concatenate(t) for t in zip(*trip, strict=True))
    ux, uy, ur = _circles_through(xs, ys, i, j, k)
    ok = np.isfinite(ux) & np.isfinite(ur) & (ur > 2 * pix)
    if not ok.any():
        return area("the edge points lie on a line", n)
    ux, uy, ur = ux[ok], uy[ok], ur[ok]
    # the candidate most points lie on, then its inliers within max(EDGE_INLIER_PX px,
    # 3 robust sigma), refitted until they stop changing
    inl = np.empty(n, dtype=bool)
    cx, cy, cr, status = edge_circle_fit(x, y, xs, ys, ux, uy, ur, EDGE_INLIER_PX * pix, 12,
                                         10, inl)
    if status:
        return area("too few edge points lie on one circle", n)
    c = (cx, cy, cr)
    e = np.hypot(x[inl] - c[0], y[inl] - c[1]) - c[2]
    rms = float(np.sqrt(np.mean(e * e)))
    sigma = 1.4826 * float(np.median(np.abs(e)))
    ang = np.arctan2(y[inl] - c[1], x[inl] - c[0])
    sectors = np.unique(np.floor((ang + math.pi) / (2 * math.pi) * EDGE_SECTORS)
                        .astype(np.int64) % EDGE_SECTORS)
    cover = sectors.size / EDGE_SECTORS
    if cover < EDGE_MIN_COVERAGE:
        return area(f"the points on one circle cover only {cover:.0%} of its rim", n)
    if sigma > max(EDGE_MAX_SCATTER_PX * pix, EDGE_MAX_SCATTER_REL * c[2]):
        return area(f"the edge is not a circle (scatter {sigma:.3g} mm)", n)
    # the points are pixel centres: the region's edge lies beyond each by a uniform share of
    # a pixel along the direction it was scanned in (half a pixel on average), i.e. by
    # 0.5 dx |cos| (rows) or 0.5 dy |sin| (columns) radially; the radius is the edge's
    # (as the equal-area radius of a sampled disk is), the centre does not move
    h = how[inl]
    gap = np.maximum(np.where(h & 1, 0.5 * dx * np.abs(np.cos(ang)), 0.0),
                     np.where(h & 2, 0.5 * dy * np.abs(np.sin(ang)), 0.0))
    radius = c[2] + float(gap.mean())
    return CircleFit((c[0], c[1]), radius, "edge", n, int(inl.sum()), float(cover), rms, "")


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


#: an aperture may reach this many pixels beyond the measured part's fitted edge (the
#: edge fit follows the outermost valid pixel centres of a ragged rim)
APERTURE_EDGE_TOL_PX = 1.0


def check_circle_inside(hm: HeightMap, diameter_mm: float,
                        centre_mm: tuple[float, float]) -> None:
    """Raise :class:`ApertureError` when a circular aperture is larger than the data.

    The circle (diameter and centre in mm, map frame) must lie on the measured
    array (to half a pixel) and, when the valid region has a circular edge
    (:func:`find_circle`), inside the measured part's fitted edge
    (APERTURE_EDGE_TOL_PX pixels of slack for a ragged rim). Data lost inside
    the part, a lost rim segment included, is not "outside the data": the
    valid fraction inside the aperture counts it.
    """
    r = float(diameter_mm) / 2.0
    cx, cy = (float(c) for c in centre_mm)
    ex, ey = hm.extent_mm
    half = 0.5 * max(hm.dx_mm, hm.dy_mm)
    if abs(cx) + r > ex / 2.0 + half or abs(cy) + r > ey / 2.0 + half:
        raise ApertureError(
            f"the aperture \u00d8{2 * r:g} mm at ({cx:.4g}, {cy:.4g}) mm is larger than the "
            f"data: the measured field is {ex:.4g} x {ey:.4g} mm")
    if not hm.valid.any():
        raise ApertureError("the map has no valid pixels: no aperture fits on it")
    found = find_circle(hm)
    pix = max(hm.dx_mm, hm.dy_mm)
    if found.method == "edge":
        reach = math.hypot(cx - found.centre_mm[0], cy - found.centre_mm[1]) + r
        if reach > found.radius_mm + APERTURE_EDGE_TOL_PX * pix:
            raise ApertureError(
                f"the aperture \u00d8{2 * r:g} mm at ({cx:.4g}, {cy:.4g}) mm is larger than the "
                f"data: it reaches {reach - found.radius_mm:.3g} mm beyond the measured part's "
                f"edge (\u00d8{2 * found.radius_mm:.4g} mm at ({found.centre_mm[0]:.4g}, "
                f"{found.centre_mm[1]:.4g}) mm)")


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

    def check(self, hm: HeightMap) -> None:
        """Raise :class:`ApertureError` when the circle is larger than the data of ``hm``
        (:func:`check_circle_inside`)."""
        check_circle_inside(hm, _check_diameter("diameter_mm", self.diameter_mm),
                            self._centre(hm))

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

    def check(self, hm: HeightMap) -> None:
        """Raise :class:`ApertureError` when the outer circle is larger than the data."""
        check_circle_inside(hm, _check_diameter("outer_diameter_mm", self.outer_diameter_mm),
                            self._centre(hm))

    def describe(self, hm: HeightMap) -> dict:
        """Kind, centre (mm, map frame) and diameters (mm) of this aperture on ``hm``."""
        c = self._centre(hm)
        return {"kind": "annulus", "centre_mm": [float(c[0]), float(c[1])],
                "diameter_mm": float(self.outer_diameter_mm),
                "inner_diameter_mm": float(self.inner_diameter_mm)}
