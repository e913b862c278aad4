"""Filling dropouts (invalid pixels inside a region) before spectral analysis.

Why: a PSD of a map with scattered dropouts, zero-filled with mask-aware
normalisation, keeps the total variance (Parseval over the mask) but not the
variance *per band*: a random mask with valid fraction p scales the in-band
power by about p and spreads the rest as a white floor. With 30 % dropouts
a low-frequency band reads ~16 % low. Interpolating the dropouts from their
neighbours restores the band power at frequencies well below Nyquist; the
filled pixels carry little power near Nyquist, so the fill is reported with
every result that used it.

Method: normalised convolution. With M the valid mask and G a Gaussian of
width σ (pixels), the fill at an invalid pixel is ``(G * (M h)) / (G * M)``;
σ grows (1, 2, 4, ... px) until every pixel of the region is reached.

Only holes small against the shortest period of the band being judged are
filled (:func:`find_holes`, :data:`FILL_PERIOD_FRACTION`): interpolating a
large hole invents data (a smooth patch with no band power: with a third of a
Ø54 mm aperture lost in one piece, the 0.1-1 /mm band read 34 % low). The check
leaves large holes as holes and analyses the data around them with a window
that falls to zero at their edges (:mod:`metrology.pipeline`, spectrum stage).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .errors import InsufficientDataError
from .heightmap import HeightMap

__all__ = ["fill_dropouts", "fill_holes", "Hole", "Holes", "find_holes", "FILL_PERIOD_FRACTION"]

#: a hole is interpolated only when every pixel of it lies within this fraction of the
#: shortest period of the band being judged from valid data (a hole of diameter at most
#: one shortest period); measured on the shipped Fizeau model (docs/conventions.md): with
#: 30 % of the aperture lost in holes of one shortest period the band RMS after filling is
#: within 1 %, at 2 and 4 periods 2 % low, at 8 periods 9 % low
FILL_PERIOD_FRACTION = 0.5


def fill_holes(valid: np.ndarray) -> np.ndarray:
    """The valid mask with its interior holes filled: every invalid pixel not 4-connected
    to the array's border becomes part of the region (:func:`scipy.ndimage.binary_fill_holes`
    with its default structure, by one labelling pass instead of iterated dilation)."""
    valid = np.asarray(valid, dtype=bool)
    if valid.all():
        return valid.copy()
    from scipy import ndimage  # lazy: a map valid everywhere (a microscope site) needs none

    lab, _ = ndimage.label(~valid)          # 4-connected, as binary_fill_holes' default
    edge = np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])
    outside = np.isin(lab, np.unique(edge[edge > 0]))
    return ~outside


@dataclass(frozen=True)
class Hole:
    """One hole (4-connected invalid pixels inside the region that should hold data).

    ``fill_distance_mm`` is the largest distance of a hole pixel from valid data
    (the hole's radius, for a round one); ``centre_mm`` the centroid of its
    pixels (map frame); ``share`` its pixels / the region's pixels.
    """

    n_pixels: int
    area_mm2: float
    share: float
    fill_distance_mm: float
    centre_mm: tuple[float, float]

    def describe(self) -> str:
        return (f"a hole of {self.area_mm2:.3g} mm² ({self.share:.1%} of the region) at "
                f"({self.centre_mm[0]:.3g}, {self.centre_mm[1]:.3g}) mm, up to "
                f"{self.fill_distance_mm:.3g} mm from valid data")

    def to_dict(self) -> dict[str, object]:
        return {"n_pixels": self.n_pixels, "area_mm2": self.area_mm2, "share": self.share,
                "fill_distance_mm": self.fill_distance_mm,
                "centre_mm": [float(self.centre_mm[0]), float(self.centre_mm[1])]}


@dataclass(frozen=True)
class Holes:
    """The holes of a map inside ``region``, split by the fill rule.

    ``small`` / ``large``: boolean masks of the holes within / beyond
    ``max_fill_distance_mm`` of valid data; ``n_small``: their count;
    ``large_holes``: each large hole, biggest first; ``huge``: the mask of the
    large holes whose fill distance also exceeds ``huge_distance_mm`` (holes
    large against the longest period judged, whose edges the PSD window is
    tapered at).
    """

    small: np.ndarray = field(repr=False)
    large: np.ndarray = field(repr=False)
    n_small: int
    large_holes: tuple[Hole, ...]
    max_fill_distance_mm: float
    huge: np.ndarray = field(repr=False, default=None)  # type: ignore[assignment]

    @property
    def any_large(self) -> bool:
        return bool(self.large_holes)


def find_holes(valid: np.ndarray, region: np.ndarray, dx_mm: float, dy_mm: float,
               max_fill_distance_mm: float, huge_distance_mm: float = math.inf) -> Holes:
    """The holes of ``valid`` inside ``region`` (4-connected components of
    ``region & ~valid``), each classed by its fill distance: the largest distance of
    its pixels from the valid data (the exact Euclidean distance between pixel centres
    less half a pixel: 0.5 px for a single pixel, 1.5 px for a 3 x 3 block, the radius
    for a round hole), mm. At most ``max_fill_distance_mm`` is *small* (to be
    interpolated), beyond it *large*; large holes beyond ``huge_distance_mm`` are also
    marked ``huge``."""
    valid = np.asarray(valid, dtype=bool)
    holes = np.asarray(region, dtype=bool) & ~valid
    empty = np.zeros(valid.shape, dtype=bool)
    if not holes.any():
        return Holes(empty, empty, 0, (), float(max_fill_distance_mm), empty)
    from scipy import ndimage

    labels, n = ndimage.label(holes)
    dist = ndimage.distance_transform_edt(~valid, sampling=(dy_mm, dx_mm))
    idx = np.arange(1, n + 1)
    half = 0.5 * min(dx_mm, dy_mm)
    far = np.asarray(ndimage.maximum(dist, labels, idx), dtype=np.float64) - half
    big = far > max_fill_distance_mm * (1 + 1e-12)
    lab0 = np.maximum(labels - 1, 0)
    small = holes & ~big[lab0] & (labels > 0)
    large = holes & ~small
    huge = large & (far > huge_distance_mm * (1 + 1e-12))[lab0]
    out: list[Hole] = []
    if big.any():
        ny, nx = valid.shape
        n_region = max(int(np.count_nonzero(region)), 1)
        sel = idx[big]
        counts = np.asarray(ndimage.sum(np.ones_like(dist), labels, sel), dtype=np.float64)
        cy, cx = (np.asarray(c, dtype=np.float64) for c in zip(
            *ndimage.center_of_mass(np.ones_like(dist), labels, sel), strict=True))
        for k, lab in enumerate(sel):
            cnt = int(counts[k])
            out.append(Hole(cnt, cnt * dx_mm * dy_mm, cnt / n_region, float(far[lab - 1]),
                            ((cx[k] - (nx - 1) / 2.0) * dx_mm, (cy[k] - (ny - 1) / 2.0) * dy_mm)))
        out.sort(key=lambda h: -h.n_pixels)
    return Holes(small, large, int(np.count_nonzero(~big)), tuple(out),
                 float(max_fill_distance_mm), huge)


def fill_dropouts(hm: HeightMap, region: np.ndarray | None = None, *,
                  max_sigma_px: float = 64.0) -> tuple[HeightMap, int]:
    """Interpolate the invalid pixels inside ``region``.

    Parameters
    ----------
    hm : HeightMap
    region : ndarray of bool, optional
        Pixels that should hold data (e.g. the clear aperture). Default: the
        valid region with its interior holes (dropouts enclosed by valid
        pixels) filled.
    max_sigma_px : float
        Largest Gaussian width tried, pixels.

    Returns
    -------
    filled : HeightMap
        Valid exactly on ``region`` (NaN outside); ``meta['filled_pixels']``
        records the count.
    n_filled : int
        Number of pixels interpolated.
    """
    valid = hm.valid
    if not valid.any():
        raise InsufficientDataError("cannot fill dropouts: the map has no valid pixels")
    if region is None:
        if valid.all():
            return hm, 0          # a full field: nothing to fill
        region = fill_holes(valid)
    region = np.asarray(region, dtype=bool)
    todo = region & ~valid
    n = int(np.count_nonzero(todo))
    if n == 0:
        if np.array_equal(region, valid):
            return hm, 0          # nothing to fill, nothing to mask: the map as it is
        return hm.apply_mask(region, note="no dropouts to fill"), 0
    from scipy import ndimage

    z = np.where(valid, hm.z_nm, 0.0)
    w = valid.astype(np.float64)
    out = hm.z_nm.copy()
    sigma = 1.0
    while todo.any():
        num = ndimage.gaussian_filter(z, sigma, mode="constant")
        den = ndimage.gaussian_filter(w, sigma, mode="constant")
        ok = todo & (den > 1e-3)
        out[ok] = num[ok] / den[ok]
        todo &= ~ok
        sigma *= 2.0
        if sigma > max_sigma_px and todo.any():
            raise InsufficientDataError(
                f"{int(todo.sum())} invalid pixels are more than {max_sigma_px:g} px from any "
                "valid pixel; the region is not covered by the data")
    out[~region] = np.nan
    meta = dict(hm.meta)
    meta["filled_pixels"] = int(meta.get("filled_pixels", 0)) + n
    return hm.replace(out, meta=meta,
                      note=f"{n} dropout pixels interpolated (normalised convolution)"), n
