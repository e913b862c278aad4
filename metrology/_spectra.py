"""Shared spectral machinery of :mod:`metrology.repeats` and :mod:`metrology.uncertainty`.

Private. The uncertainty of a band variance needs more than the periodogram
:func:`metrology.spectral.psd` returns: the complex spectrum (for the cross
term between surface and noise) and the window itself (for the correlation
between neighbouring cells). This module builds the window as an explicit
array, equal to the named window of :mod:`metrology.spectral` (the tests
compare the two periodograms cell by cell), and computes full-plane spectra in
FFT order with the same normalisation::

    P_k = Δx Δy |DFT(W · D h)_k|² / Σ W²        [nm² mm²]

with D the detrending of :func:`metrology.spectral.psd` (the requested
Zernike terms removed by one least-squares fit over the valid pixels, then
the mean). No zero padding: the FFT grid is the map's grid.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from kernels import fft as _kfft

from . import _caches
from .errors import ConventionError, InsufficientDataError
from .heightmap import HeightMap

#: the cell-correlation arrays of the windows seen last, by window (shape and a digest of
#: its values): |ρ|², its 5 x 5 triangular smoothing and the FFTs of the pair kernels. The
#: criteria of one file each build a Grid, most with one of two windows; kept while they
#: hold at most :data:`KERNEL_CACHE_BYTES` (full-plane arrays: 64 MB each at 2048²)
_KERNELS: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()
_KERNELS_LOCK = threading.Lock()
KERNEL_CACHE_BYTES = 256 * 2**20


def _window_key(w: np.ndarray) -> tuple[Any, ...]:
    """The key of window ``w`` in the cache: its shape and a digest of its values."""
    digest = hashlib.blake2b(np.ascontiguousarray(w, dtype=np.float64).view(np.uint8),
                             digest_size=16).digest()
    return (w.shape, digest)


def _kernel_state(key: tuple[Any, ...]) -> dict[str, Any]:
    """The cached correlation arrays of the window of ``key`` (a dict filled on first
    use)."""
    with _KERNELS_LOCK:
        st = _KERNELS.get(key)
        if st is None:
            st = {"kernel": None, "smooth": None, "hats": {}}
            _KERNELS[key] = st
        _KERNELS.move_to_end(key)
        return st


def _trim_kernels() -> None:
    """Forget the oldest windows' arrays beyond :data:`KERNEL_CACHE_BYTES` (the newest
    one is always kept)."""
    with _KERNELS_LOCK:
        def size(st: dict[str, Any]) -> int:
            arrs = [st["kernel"], st["smooth"], *st["hats"].values()]
            return sum(a.nbytes for a in arrs if a is not None)

        while len(_KERNELS) > 1 and sum(size(v) for v in _KERNELS.values()) > KERNEL_CACHE_BYTES:
            _KERNELS.popitem(last=False)


def _clear_kernels() -> None:
    with _KERNELS_LOCK:
        _KERNELS.clear()


_caches.register("spectra.window_kernels", _clear_kernels)

_TWO_PI = 2.0 * math.pi


def _terms(remove: Any) -> tuple[Any, ...]:
    if remove is None:
        return ()
    if isinstance(remove, str):
        return (remove,)
    return tuple(remove)


def detrend(hm: HeightMap, remove: Any) -> np.ndarray:
    """``D h``: heights minus the fitted ``remove`` terms minus the mean, 0 outside the mask.

    Same operation as :func:`metrology.spectral.psd` (terms removed by
    :func:`metrology.zernike.remove` with its defaults, then the mean of the
    valid pixels).
    """
    terms = _terms(remove)
    rest = [t for t in terms if not (isinstance(t, str) and t.lower() == "piston")]
    work = hm
    if rest:
        from .zernike import remove as _zremove

        work = _zremove(hm, terms, scheme="fringe")  # as psd() reads indices
    z = work.z_nm
    v = work.valid
    if not v.any():
        raise InsufficientDataError("no valid pixels to transform")
    out = np.where(v, z - float(np.mean(z[v])), 0.0)
    return out


def window_array(hm: HeightMap, window: Any) -> tuple[np.ndarray, str]:
    """The window of :func:`metrology.spectral.psd` for ``hm``'s valid pixels, as an array.

    The window names and 1-D shapes come from :mod:`metrology.spectral` itself
    (its parser and its 1-D windows), so the two cannot drift apart; the tests
    compare the resulting periodograms cell by cell.

    Returns
    -------
    W : ndarray (nrows, ncols)
        0 outside the valid pixels.
    description : str
    """
    from .spectral import _parse_window, _window_1d

    valid = hm.valid
    spec = _parse_window(window)
    if spec.name == "array":
        w = np.asarray(spec.array, dtype=np.float64)
        if w.shape != hm.shape or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ConventionError("a window array must be finite, non-negative and of the "
                                  f"map's shape {hm.shape}")
        return np.where(valid, w, 0.0), "user array"
    if spec.name in ("welch", "radial-hann"):
        from .aperture import fit_circle

        (cx, cy), _ = fit_circle(hm)
        x = hm.x_mm - cx
        y = hm.y_mm - cy
        r = np.sqrt(x[None, :] ** 2 + y[:, None] ** 2)
        rmax = float(r[valid].max()) + 0.5 * max(hm.dx_mm, hm.dy_mm)
        u = np.minimum(r / rmax, 1.0)
        w2 = 1.0 - u * u if spec.name == "welch" else np.cos(0.5 * np.pi * u) ** 2
        return np.where(valid, w2, 0.0), f"{spec.description} (explicit array)"
    if spec.name == "none":
        return valid.astype(np.float64), "none"
    rows = np.flatnonzero(valid.any(axis=1))
    cols = np.flatnonzero(valid.any(axis=0))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    wy = np.zeros(hm.shape[0])
    wx = np.zeros(hm.shape[1])
    wy[r0:r1] = _window_1d(spec.name, r1 - r0, spec.alpha)
    wx[c0:c1] = _window_1d(spec.name, c1 - c0, spec.alpha)
    return np.where(valid, np.outer(wy, wx), 0.0), f"{spec.description} (explicit array)"


def half_power(x: np.ndarray) -> np.ndarray:
    """``|DFT(x)|²`` of a real 2-D array on the columns of its real FFT, ``(ny, nx // 2 + 1)``
    (:func:`kernels.fft.rfft2`: ducc0 when installed, else scipy.fft)."""
    f = _kfft.rfft2(np.asarray(x, dtype=np.float64))
    return f.real ** 2 + f.imag ** 2


def expand_half(ph: np.ndarray, nx: int) -> np.ndarray:
    """The full plane (FFT order) of an even array given on a real FFT's columns.

    The power spectrum of real data is even, ``P_{-k} = P_k``, so the columns the
    real FFT leaves out are the mirror image of the ones it gives.
    """
    ny, h = ph.shape
    out = np.empty((ny, nx))
    out[:, :h] = ph
    if nx > h:
        rows = (-np.arange(ny)) % ny
        out[:, h:] = ph[rows][:, nx - np.arange(h, nx)]
    return out


def full_power(x: np.ndarray) -> np.ndarray:
    """``|DFT(x)|²`` over the full plane (FFT order) of a real 2-D array, from one real
    FFT (half the work of :func:`kernels.fft.fft2`; equal to it to rounding, see the tests)."""
    x = np.asarray(x, dtype=np.float64)
    return expand_half(half_power(x), x.shape[1])


def _half_weights(nx: int) -> np.ndarray:
    """How many full-plane columns each column of a real FFT stands for (1 or 2)."""
    h = nx // 2 + 1
    w = np.full(h, 2.0)
    w[0] = 1.0
    if nx % 2 == 0:
        w[-1] = 1.0
    return w


def even_half(s: np.ndarray) -> np.ndarray:
    """The even part ``(s_k + s_{-k}) / 2`` of a full-plane array, on the columns of a
    real FFT (``(ny, nx // 2 + 1)``), weighted by how many columns each stands for.

    ``Σ_k |X_k|² s_k = Σ_half |X_k|² even_half(s)_k`` for the spectrum X of real data
    (``|X_k|²`` is even, so only the even part of ``s`` contributes).
    """
    s = np.asarray(s, dtype=np.float64)
    ny, nx = s.shape
    h = nx // 2 + 1
    rows = (-np.arange(ny)) % ny
    cols = (-np.arange(h)) % nx
    return 0.5 * (s[:, :h] + s[rows][:, cols]) * _half_weights(nx)


def power_sum(x: np.ndarray, s_half: np.ndarray) -> float:
    """``Σ_k |DFT(x)_k|² s_k`` over the full plane for a real array ``x``, with ``s``
    given as :func:`even_half` ``(s)`` (one real FFT)."""
    f = _kfft.rfft2(np.asarray(x, dtype=np.float64))
    return float(np.sum((f.real ** 2 + f.imag ** 2) * s_half))


class Grid:
    """Window, normalisation, frequencies and cell-correlation kernel of one analysis.

    Parameters
    ----------
    like : HeightMap
        Its valid pixels are the analysis mask M.
    window : as in :func:`metrology.spectral.psd`
    remove : terms removed before the transform
    """

    def __init__(self, like: HeightMap, window: Any, remove: Any) -> None:
        if like.n_valid < 4:
            raise InsufficientDataError(
                f"a spectrum needs at least 4 valid pixels, the map has {like.n_valid}")
        self.like = like
        self.mask = like.valid.copy()
        self.remove = _terms(remove)
        self.W, self.window_description = window_array(like, window)
        self.sum_w2 = float(np.sum(self.W ** 2))
        if not self.sum_w2 > 0:
            raise InsufficientDataError("the window is zero on every valid pixel")
        self.dx, self.dy = like.dx_mm, like.dy_mm
        self.shape = like.shape
        ny, nx = self.shape
        self.n_tot = ny * nx
        self.c = self.dx * self.dy / self.sum_w2
        self.cell = 1.0 / (self.n_tot * self.dx * self.dy)  # Δf_x Δf_y
        self.fx = np.fft.fftfreq(nx, self.dx)
        self.fy = np.fft.fftfreq(ny, self.dy)
        self._pair_halves: dict[float | None, np.ndarray] = {}
        self._wkey: tuple[Any, ...] | None = None

    # -- spectra ----------------------------------------------------------------
    def spectrum(self, hm: HeightMap) -> np.ndarray:
        """Complex full-plane ``DFT(W · D h)`` in FFT order (h on this grid's mask)."""
        return _kfft.fft2(self.W * detrend(self._on_mask(hm), self.remove))

    def power(self, spec: np.ndarray) -> np.ndarray:
        """Periodogram ``c |F|²`` [nm² mm²] of a spectrum from :meth:`spectrum`."""
        return self.c * (spec.real ** 2 + spec.imag ** 2)

    def _on_mask(self, hm: HeightMap) -> HeightMap:
        if hm.shape != self.shape:
            raise ConventionError(f"map of shape {hm.shape} on a grid of shape {self.shape}")
        if np.array_equal(hm.valid, self.mask):
            return hm
        if np.any(self.mask & ~hm.valid):
            raise InsufficientDataError("the map is invalid on pixels of the analysis mask")
        return hm.apply_mask(self.mask, note="restricted to the common mask of the repeats")

    # -- cells --------------------------------------------------------------------
    def cells(self, lo: float, hi: float, kind: str = "areal", axis: str = "x") -> np.ndarray:
        """Boolean full-plane selection of the cells of band [lo, hi) (FFT order)."""
        if kind == "areal":
            f2 = self.fx[None, :] ** 2 + self.fy[:, None] ** 2
            return (f2 >= lo * lo) & (f2 < hi * hi)
        f = np.abs(self.fx)[None, :] if axis == "x" else np.abs(self.fy)[:, None]
        sel = (f >= lo) & (f < hi)
        return np.broadcast_to(sel, self.shape).copy()

    def weights(self, quantity: str) -> np.ndarray | float:
        """Per-cell weight ω of the band sum: 1 for heights, (2π f)² for slopes (µrad²/nm²·mm²)."""
        if quantity == "height":
            return 1.0
        fx2 = (_TWO_PI * self.fx[None, :]) ** 2
        fy2 = (_TWO_PI * self.fy[:, None]) ** 2
        if quantity == "slope-x":
            return np.broadcast_to(fx2, self.shape)
        if quantity == "slope-y":
            return np.broadcast_to(fy2, self.shape)
        if quantity == "slope":
            return fx2 + fy2
        raise ConventionError(f"unknown quantity {quantity!r}; use 'height', 'slope', "
                              "'slope-x' or 'slope-y'")

    # -- correlation between cells ------------------------------------------------
    def _state(self) -> dict[str, Any]:
        if self._wkey is None:
            self._wkey = _window_key(self.W)
        return _kernel_state(self._wkey)

    @property
    def kernel(self) -> np.ndarray:
        """|ρ|², ρ = DFT(W²) / Σ W²: the correlation of periodogram cells k and k + d
        (full plane, FFT order in d), for a locally flat spectrum."""
        st = self._state()
        if st["kernel"] is None:
            rho = _kfft.fft2(self.W ** 2) / self.sum_w2
            st["kernel"] = rho.real ** 2 + rho.imag ** 2
            _trim_kernels()
        return st["kernel"]

    def _smoothed_kernel(self) -> np.ndarray:
        """C = T ⊛ |ρ|², T the 5 x 5 triangular kernel (box ⊛ box / 81), circular: T is
        separable, T(di, dj) = t(di) t(dj) with t = (1, 2, 3, 2, 1) / 9, so five shifts
        along each axis."""
        st = self._state()
        if st["smooth"] is None:
            k2 = self.kernel
            rows = np.zeros_like(k2)
            for di in range(-2, 3):
                rows += ((3 - abs(di)) / 9.0) * np.roll(k2, di, axis=0)
            c = np.zeros_like(k2)
            for dj in range(-2, 3):
                c += ((3 - abs(dj)) / 9.0) * np.roll(rows, dj, axis=1)
            st["smooth"] = c
            _trim_kernels()
        return st["smooth"]

    def kernel_hat(self, estimate_dof: float | None = None) -> np.ndarray:
        """FFT of the pair kernel used by :meth:`pair_sum`.

        ``estimate_dof=None``: |ρ|² itself. Otherwise the spectra in the pair
        sum are 3 x 3 smoothed estimates with ``estimate_dof`` times the
        variance of one periodogram (1 for a periodogram, 1/(N-1) for a noise
        estimate from N repeats): the product of two smoothed estimates at
        cells k, k+d is biased up by 1 + a·C_d, C_d = (T ⊛ |ρ|²)_d with T the
        5 x 5 triangular kernel (box ⊛ box / 81), and the kernel is divided by
        that factor.
        """
        key = None if estimate_dof is None else float(estimate_dof)
        st = self._state()
        out = st["hats"].get(key)
        if out is None:
            k2 = self.kernel
            if key is not None:
                k2 = k2 / (1.0 + key * self._smoothed_kernel())
            out = _kfft.fft2(k2)
            st["hats"][key] = out
            _trim_kernels()
        return out

    @property
    def variance_inflation(self) -> float:
        """β = N Σ W⁴ / (Σ W²)²: Σ_d |ρ_d|², the number of cells one cell is correlated with."""
        return self.n_tot * float(np.sum(self.W ** 4)) / self.sum_w2 ** 2

    def pair_sum(self, x: np.ndarray, estimate_dof: float | None = None) -> float:
        """Σ_k Σ_l x_k x_l |ρ_{k-l}|² for a full-plane real array ``x`` (FFT order);
        with ``estimate_dof``, corrected for the bias of products of smoothed estimates
        (:meth:`kernel_hat`)."""
        # Σ_k x_k (K ⊛ x)_k = (1/N) Σ_k |X_k|² K̂_k (Parseval), one real FFT
        key = None if estimate_dof is None else float(estimate_dof)
        half = self._pair_halves.get(key)
        if half is None:
            half = even_half(self.kernel_hat(estimate_dof).real) / self.n_tot
            self._pair_halves[key] = half
        return power_sum(x, half)

    def project_out(self, q: np.ndarray) -> np.ndarray:
        """``D q`` for an array on the mask (the detrending is an orthogonal projector)."""
        hm = HeightMap._adopt(np.where(self.mask, q, np.nan), self.dx, self.dy)
        return detrend(hm, self.remove)


def smooth(p: np.ndarray) -> np.ndarray:
    """3 x 3 box average of a full-plane array (circular, FFT order): a local PSD level."""
    out = np.zeros_like(p)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            out += np.roll(np.roll(p, di, axis=0), dj, axis=1)
    return out / 9.0


def common_mask(maps: Sequence[HeightMap]) -> np.ndarray:
    """Pixels valid in every map."""
    m = maps[0].valid.copy()
    for hm in maps[1:]:
        m &= hm.valid
    return m
