"""Repeated measurements of one surface: average, per-pixel standard error, noise floor.

Model
-----
N measurements of one surface on one grid: ``m_i = s + n_i`` with independent
noise n_i of the same statistics (zero mean, per-pixel variance σ², 2-D PSD
S_n). Then

* the average ``ā = (1/N) Σ m_i`` has noise variance σ²/N per pixel and noise
  PSD S_n / N;
* the difference of two repeats ``m_i - m_j = n_i - n_j`` has variance 2σ²
  and PSD 2 S_n (the surface cancels): half the PSD of a difference estimates
  the noise PSD of one measurement;
* averaged over all N (N - 1) / 2 pairs, half the periodogram of the
  differences equals, cell by cell, the sample variance (ddof = 1) of the N
  windowed spectra: ``Ŝ_n = c Σ_i |DFT(W D(m_i - ā))|² / (N - 1)`` (the
  identity ``Σ_{i<j} |x_i - x_j|² = N Σ_i |x_i - x̄|²``). That is how
  :func:`noise_psd` computes it: N transforms instead of N (N - 1) / 2, the same
  numbers. It has N - 1 degrees of freedom per cell (chi-square with
  2 (N - 1) in the interior of the half plane).

Everything is evaluated on the common mask of the repeats (pixels valid in
all of them) with the window and the removed terms of
:func:`metrology.spectral.psd`, so that the noise floor of a band is the noise
contribution to the band RMS of the average computed the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _spectra
from .arithmetic import check_same_grid
from .errors import ConventionError, InsufficientDataError
from .heightmap import HeightMap
from .spectral import PSD2D, BandRMS, band_rms

__all__ = ["RepeatAverage", "average", "NoisePSD", "noise_psd", "check_repeats"]


def check_repeats(maps: Sequence[HeightMap], at_least: int = 2) -> list[HeightMap]:
    """The maps as a list after checking there are enough and that they share one grid."""
    if isinstance(maps, HeightMap):
        raise TypeError("give a sequence of repeated HeightMaps, not one map")
    out = list(maps)
    if len(out) < at_least:
        raise InsufficientDataError(f"need at least {at_least} repeated maps, got {len(out)}")
    for hm in out:
        if not isinstance(hm, HeightMap):
            raise TypeError(f"expected metrology.HeightMap repeats, got {type(hm).__name__}")
    for hm in out[1:]:
        check_same_grid(out[0], hm, "average")
    return out


@dataclass(frozen=True, eq=False)
class RepeatAverage:
    """Average of N repeated measurements of one surface on one grid.

    Attributes
    ----------
    map : HeightMap
        Per-pixel mean in nm; NaN where fewer than ``min_count`` repeats are valid.
    count : ndarray of int, shape (nrows, ncols)
        Number of valid repeats at each pixel.
    std_nm : ndarray, shape (nrows, ncols)
        Sample standard deviation (ddof = 1) of the repeats at each pixel, nm
        (NaN where the mean is invalid or count < 2).
    std_error_nm : ndarray, shape (nrows, ncols)
        Standard error of the mean, ``std_nm / sqrt(count)``, nm.
    n_maps, min_count : int
    removed : tuple of str
        Terms removed from each repeat before averaging.
    """

    map: HeightMap
    count: np.ndarray = field(repr=False)
    std_nm: np.ndarray = field(repr=False)
    std_error_nm: np.ndarray = field(repr=False)
    n_maps: int
    min_count: int
    removed: tuple[str, ...] = ()

    @property
    def noise_statement(self) -> str:
        """What the average does to the noise, for reports."""
        return (f"average of {self.n_maps} repeats (pixels valid in at least {self.min_count}): "
                "for independent repeats the noise variance of the average is sigma^2/N at "
                "a pixel averaged over N repeats (PSD S_n/N)")


def average(maps: Sequence[HeightMap], min_count: int | None = None, *,
            remove: Any = None) -> RepeatAverage:
    """Average repeated measurements of one surface on one grid.

    Parameters
    ----------
    maps : sequence of HeightMap
        At least 2 maps on the same grid (shape, spacing, origin;
        :class:`~metrology.errors.GridMismatchError` otherwise), heights in nm.
    min_count : int, optional
        A pixel of the average is valid only where at least this many repeats
        are valid. Default: all of them (the average then has the same noise,
        σ²/N, at every pixel, which the noise-floor correction assumes).
    remove : sequence of str, optional
        Zernike terms removed from each repeat (by one least-squares fit over
        its own valid pixels, :func:`metrology.zernike.remove`) before
        averaging, e.g. ``("piston", "tilt")`` for alignment drift between
        repeats. Default: nothing removed.

    Returns
    -------
    RepeatAverage
        ``.map`` (meta: the first map's, plus ``meta['average']`` and a history
        line), ``.count``, ``.std_nm``, ``.std_error_nm``.
    """
    ms = check_repeats(maps)
    n = len(ms)
    k = n if min_count is None else int(min_count)
    if not 1 <= k <= n:
        raise ConventionError(f"min_count must be between 1 and the number of maps ({n}), "
                              f"got {min_count!r}")
    terms = _spectra._terms(remove)
    if terms:
        from .zernike import remove as _zremove

        ms = [_zremove(hm, terms) for hm in ms]
    shape = ms[0].shape
    total = np.zeros(shape)
    count = np.zeros(shape, dtype=np.int32)
    for hm in ms:
        v = hm.valid
        total += np.where(v, hm.z_nm, 0.0)
        count += v
    ok = count >= k
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(ok, total / np.maximum(count, 1), np.nan)
        ss = np.zeros(shape)
        for hm in ms:
            d = np.where(hm.valid & ok, hm.z_nm - mean, 0.0)
            ss += d * d
        enough = ok & (count >= 2)
        std = np.where(enough, np.sqrt(ss / np.maximum(count - 1, 1)), np.nan)
        se = np.where(enough, std / np.sqrt(np.maximum(count, 1)), np.nan)
    if not ok.any():
        raise InsufficientDataError(
            f"no pixel is valid in at least {k} of the {n} repeats; lower min_count or check "
            "that the maps are of the same part")
    meta = dict(ms[0].meta)
    meta["average"] = {
        "n_maps": n, "min_count": k, "removed_per_map": list(terms),
        "sources": [hm.meta.get("source") for hm in ms],
        "std_error": "per-pixel sample standard deviation (ddof=1) / sqrt(count)",
        "noise": "for independent repeats the noise variance of the average is sigma^2/N",
    }
    out = HeightMap._adopt(mean, ms[0].dx_mm, ms[0].dy_mm, meta).replace(
        note=f"average of {n} repeats (valid where at least {k} are)")
    return RepeatAverage(out, count, std, se, n, k, tuple(str(t) for t in terms))


@dataclass(frozen=True, eq=False)
class NoisePSD:
    """Noise PSD of one measurement, estimated from repeats.

    Attributes
    ----------
    values : ndarray (nrows, ncols)
        Full-plane 2-D PSD in FFT order (rows ``fftfreq(nrows, dy)``, columns
        ``fftfreq(ncols, dx)``), nm² mm², of the noise of ONE measurement:
        ``c Σ_i |DFT(W D(m_i - ā))|² / (N - 1)`` = half the periodogram of
        the pairwise differences averaged over all pairs.
    n_repeats : int
        N; the estimate has N - 1 degrees of freedom per cell.
    dx_mm, dy_mm : float
    mask : ndarray of bool
        Common mask of the repeats (where the estimate was made).
    window : str
    removed : tuple of str
    extent_mm : (float, float)
        Bounding-box extent of the mask (x, y), for the frequency range.
    """

    values: np.ndarray = field(repr=False)
    n_repeats: int
    dx_mm: float
    dy_mm: float
    mask: np.ndarray = field(repr=False)
    window: str
    removed: tuple[str, ...]
    extent_mm: tuple[float, float]
    sum_w2: float = field(repr=False, default=math.nan)

    @property
    def dof_per_cell(self) -> int:
        """Degrees of freedom of each cell's estimate (N - 1)."""
        return self.n_repeats - 1

    @property
    def shape(self) -> tuple[int, int]:
        return self.values.shape  # type: ignore[return-value]

    def psd2d(self, of_average: bool = False) -> PSD2D:
        """As a :class:`~metrology.spectral.PSD2D` (radial, profile, band sums ...).

        ``of_average=True`` divides by N: the noise PSD of the average of the
        N repeats.
        """
        ny, nx = self.shape
        vals = self.values / (self.n_repeats if of_average else 1)
        half = np.ascontiguousarray(vals[:, : nx // 2 + 1])
        return PSD2D(half, self.dx_mm, self.dy_mm, (ny, nx), (ny, nx),
                     f"{self.window} (noise from {self.n_repeats} repeats)", self.removed,
                     "mask (common mask of the repeats)", self.sum_w2,
                     int(np.count_nonzero(self.mask)), self.extent_mm, "numpy")

    def band_rms(self, f_lo_per_mm: float, f_hi_per_mm: float, *, of_average: bool = False,
                 kind: str = "areal", axis: str = "x") -> BandRMS:
        """RMS of the noise in a band, nm (one measurement, or the average of N)."""
        return band_rms(self.psd2d(of_average), f_lo_per_mm, f_hi_per_mm, kind=kind, axis=axis)

    def band_variance_nm2(self, f_lo_per_mm: float, f_hi_per_mm: float, *,
                          of_average: bool = False) -> float:
        """Cell sum of the (areal) noise PSD over f_lo <= |f| < f_hi, nm² (no coverage check)."""
        return self.psd2d(of_average).band_variance_nm2(f_lo_per_mm, f_hi_per_mm)

    def check_grid(self, shape: tuple[int, int], dx_mm: float, dy_mm: float) -> None:
        """Raise unless a map of this shape and spacing can use this noise estimate cell by cell."""
        if tuple(shape) != self.shape or not (
                math.isclose(dx_mm, self.dx_mm, rel_tol=1e-9)
                and math.isclose(dy_mm, self.dy_mm, rel_tol=1e-9)):
            raise ConventionError(
                f"the noise PSD was estimated on a {self.shape[0]}x{self.shape[1]} grid at "
                f"({self.dx_mm:g}, {self.dy_mm:g}) mm; this map is {shape[0]}x{shape[1]} at "
                f"({dx_mm:g}, {dy_mm:g}) mm: estimate the noise on the same grid")


def _noise_from(maps: list[HeightMap], grid: _spectra.Grid, mean: HeightMap
                ) -> np.ndarray:
    n = len(maps)
    acc = np.zeros(grid.shape)
    for hm in maps:
        r = hm.z_nm - mean.z_nm
        rh = HeightMap._adopt(np.where(grid.mask, r, np.nan), hm.dx_mm, hm.dy_mm)
        acc += grid.power(grid.spectrum(rh))
    return acc / (n - 1)


def noise_psd(maps: Sequence[HeightMap], window: Any = "hann",
              remove: Any = ("piston", "tilt")) -> NoisePSD:
    """Noise PSD of one measurement from N >= 2 repeats (module docstring: the model).

    Parameters
    ----------
    maps : sequence of HeightMap
        Repeats of one measurement of one surface on one grid, nm.
    window, remove
        As in :func:`metrology.spectral.psd`; use the same as for the band RMS
        the noise floor is meant for.

    Returns
    -------
    NoisePSD
        Estimated on the common mask of the repeats.
    """
    ms = check_repeats(maps)
    avg = average(ms)  # all repeats valid: the common mask
    grid = _spectra.Grid(avg.map, window, remove)
    vals = _noise_from(ms, grid, avg.map)
    return noise_from_grid(vals, len(ms), grid)


def noise_from_grid(values: np.ndarray, n: int, grid: _spectra.Grid) -> NoisePSD:
    rows = np.flatnonzero(grid.mask.any(axis=1))
    cols = np.flatnonzero(grid.mask.any(axis=0))
    extent = ((cols[-1] + 1 - cols[0]) * grid.dx, (rows[-1] + 1 - rows[0]) * grid.dy)
    return NoisePSD(values, n, grid.dx, grid.dy, grid.mask, grid.window_description,
                    tuple(str(t) for t in grid.remove) or ("piston",), extent, grid.sum_w2)
