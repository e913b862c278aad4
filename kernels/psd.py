"""Numba kernels for power spectral densities on masked height maps.

Arrays and scalars in, arrays out. Conventions of the callers
(``metrology.spectral``): heights in nm with NaN outside the mask, frequencies in
cycles/mm, spectra of real data stored as the half plane of ``rfft2``
(columns ``kx = 0 .. nx//2``, rows in FFT order). For real data the power at
``(-ky, -kx)`` equals that at ``(ky, kx)``, so a half-plane cell stands for
itself and its point mirror: its weight ``hw[kx]`` is 2, except in the
``kx = 0`` column and, for even ``nx``, the Nyquist column, whose weight is 1.
Sums over the full plane of anything symmetric under ``f -> -f`` (total,
|f| bins, column sums) are then exact; a full-plane *row* sum needs the
mirrored row as well (see :func:`axis_sums`).

Frequency tests compare squared frequencies: a cell's ``|f|²`` is
``fx2[kx] + fy2[ky]`` (one addition, so contraction flags cannot change it)
against squared edges computed by the caller. A plain-NumPy reference that
forms ``fx**2 + fy**2`` the same way assigns every cell to the same bin.

None of these kernels uses the ``nnan`` flag (see :mod:`kernels._config`).
The FFT input (mean, fitted terms and window removed in one pass) is written by
:func:`kernels.moments.poly_apply`.
"""

from __future__ import annotations

import math

import numpy as np

from ._config import jit, pjit, prange

__all__ = [
    "spectrum_bins",
    "band_query",
    "axis_sums",
    "fd_slope_moments",
    "largest_rectangle",
]


@jit
def _first_at_least(fx2, fy2i, lim_sq):  # pragma: no cover - compiled
    """Smallest j with ``fx2[j] + fy2i >= lim_sq`` (fx2 non-decreasing), len(fx2) if none."""
    lo = 0
    hi = fx2.shape[0]
    while lo < hi:
        mid = (lo + hi) // 2
        if fx2[mid] + fy2i >= lim_sq:
            hi = mid
        else:
            lo = mid + 1
    return lo


@pjit
def spectrum_bins(src, power_input, scale, fx2, fy2, hw, edges_sq, band_lo_sq, band_hi_sq,
                  out_vals, store, cum, store_cum, geom, nchunks):  # pragma: no cover
    """One pass over a half-plane spectrum: PSD values, radial histogram, band sums.

    Parameters
    ----------
    src : complex128 (ny, nh) rfft2 output, or float64 (ny, nh) PSD values
    power_input : bool
        False: ``p = scale * |src|²``; True: ``p = scale * src``.
    scale : float
    fx2 : float64 (nh,)  squared column frequencies, non-decreasing
    fy2 : float64 (ny,)  squared row frequencies in FFT order, so that
        ``fy2[i] == fy2[(ny - i) % ny]`` (rows f_y and -f_y are binned together)
    hw : float64 (nh,)   half-plane weights (1 or 2)
    edges_sq : float64 (nb + 1,)  squared, increasing bin edges (may be empty: no bins)
    band_lo_sq, band_hi_sq : float64 (nband,)  squared band limits
    out_vals : float64 (ny, nh) written when ``store`` (else may be (0, 0))
    store : bool
    cum : float64 (ny // 2 + 1, nh + 1) written when ``store_cum`` (else may be (0, 0)):
        ``cum[i, j]`` = Σ_{j' < j} hw·p over rows i and ny - i (the rows of one |f_y|),
        so that any band is two look-ups per row afterwards (:func:`band_query`)
    store_cum : bool
    geom : bool
        Compute ``counts`` and ``fsum`` (they depend on the grid and the edges only: a
        caller that has them from an earlier map of the same grid passes False and gets
        zeros, saving a square root per cell)
    nchunks : int  row chunks (one private accumulator each)

    Returns
    -------
    hist : float64 (nb,)   Σ hw·p over cells with edges[k] <= |f| < edges[k+1]
    counts : float64 (nb,) Σ hw (full-plane cells) per bin
    fsum : float64 (nb,)   Σ hw·|f| per bin
    bands : float64 (nband,) Σ hw·p over cells with lo <= |f| < hi
    total : float          Σ hw·p over all cells

    Notes
    -----
    Along a row ``|f|²`` grows with the column, so the bin index is found by
    one binary search per row and then only moves forward; band limits are
    found per row by binary search on the same ``fx2[j] + fy2[i]`` sums. All
    membership tests are exact comparisons of those sums with the squared
    edges. Rows ``i`` and ``ny - i`` share their ``|f|²`` and are reduced
    together (half the binning work).
    """
    ny, nh = src.shape
    nb = edges_sq.shape[0] - 1
    if nb < 0:
        nb = 0
    nband = band_lo_sq.shape[0]
    hist_c = np.zeros((nchunks, nb))
    cnt_c = np.zeros((nchunks, nb))
    fsum_c = np.zeros((nchunks, nb))
    band_c = np.zeros((nchunks, nband))
    tot_c = np.zeros(nchunks)
    rowbuf = np.empty((nchunks, nh))
    npairs = ny // 2 + 1
    for c in prange(nchunks):
        q0 = (c * npairs) // nchunks
        q1 = ((c + 1) * npairs) // nchunks
        tot = 0.0
        row = rowbuf[c]
        for i in range(q0, q1):
            # rows f_y and -f_y have the same |f| in every column: bin them together
            i2 = (ny - i) % ny
            paired = i2 != i
            mult = 2.0 if paired else 1.0
            fy2i = fy2[i]
            for j in range(nh):
                v = src[i, j]
                if power_input:
                    p = v.real * scale
                else:
                    p = (v.real * v.real + v.imag * v.imag) * scale
                if store:
                    out_vals[i, j] = p
                row[j] = p * hw[j]
            if paired:
                for j in range(nh):
                    v = src[i2, j]
                    if power_input:
                        p = v.real * scale
                    else:
                        p = (v.real * v.real + v.imag * v.imag) * scale
                    if store:
                        out_vals[i2, j] = p
                    row[j] += p * hw[j]
            for j in range(nh):
                tot += row[j]
            if store_cum:
                crow = cum[i]
                acc_c = 0.0
                for j in range(nh):
                    crow[j] = acc_c
                    acc_c += row[j]
                crow[nh] = acc_c
            if nb > 0:
                # bin of column 0, then walk forward (|f| grows along the row):
                # k = -1 below the first edge, nb above the last; sums are kept in
                # registers while consecutive cells stay in one bin
                k = int(np.searchsorted(edges_sq, fx2[0] + fy2i, side="right")) - 1
                nxt = edges_sq[k + 1] if k < nb else np.inf
                acc_h = 0.0
                acc_c = 0.0
                acc_f = 0.0
                for j in range(nh):
                    f2 = fx2[j] + fy2i
                    if f2 >= nxt:
                        if k >= 0:
                            hist_c[c, k] += acc_h
                            cnt_c[c, k] += acc_c * mult
                            fsum_c[c, k] += acc_f * mult
                        acc_h = 0.0
                        acc_c = 0.0
                        acc_f = 0.0
                        while k < nb and f2 >= edges_sq[k + 1]:
                            k += 1
                        if k >= nb:
                            break
                        nxt = edges_sq[k + 1]
                    acc_h += row[j]
                    if geom:
                        acc_c += hw[j]
                        acc_f += hw[j] * math.sqrt(f2)
                if 0 <= k < nb:
                    hist_c[c, k] += acc_h
                    cnt_c[c, k] += acc_c * mult
                    fsum_c[c, k] += acc_f * mult
            for b in range(nband):
                j0 = _first_at_least(fx2, fy2i, band_lo_sq[b])
                j1 = _first_at_least(fx2, fy2i, band_hi_sq[b])
                seg = row[j0:j1]  # 0-based: no wrap-around test per element
                acc = 0.0
                for j in range(seg.shape[0]):
                    acc += seg[j]
                band_c[c, b] += acc
        tot_c[c] = tot
    hist = np.zeros(nb)
    cnt = np.zeros(nb)
    fsum = np.zeros(nb)
    bands = np.zeros(nband)
    total = 0.0
    for c in range(nchunks):
        total += tot_c[c]
        for k in range(nb):
            hist[k] += hist_c[c, k]
            cnt[k] += cnt_c[c, k]
            fsum[k] += fsum_c[c, k]
        for b in range(nband):
            bands[b] += band_c[c, b]
    return hist, cnt, fsum, bands, total


@pjit
def band_query(cum, vals, fx2, fy2, hw, band_lo_sq, band_hi_sq, slopes):  # pragma: no cover
    """Band sums of a stored spectrum from the row prefix sums of :func:`spectrum_bins`.

    For each band: ``Σ hw·p`` over the half-plane cells with lo² <= fx² + fy² < hi²
    (the full plane's cells), and with ``slopes`` also ``Σ hw·p·fx²`` and
    ``Σ hw·p·fy²``. Per pair of rows (f_y, -f_y) the cells of a band are one
    column range (found by binary search), so the power sum is
    ``cum[i, j1] - cum[i, j0]``; where that difference would lose digits (the
    row's power below the band exceeds 16 times the band's) it is summed
    directly from ``vals``, as are the slope sums.

    Parameters
    ----------
    cum : float64 (ny // 2 + 1, nh + 1)
    vals : float64 (ny, nh)  PSD values of the half plane
    fx2, fy2, hw : as for :func:`spectrum_bins`
    band_lo_sq, band_hi_sq : float64 (nband,)
    slopes : bool

    Returns
    -------
    float64 (nband, 3) : Σ hw p, Σ hw p fx², Σ hw p fy² (the last two 0 unless ``slopes``)
    """
    npairs = cum.shape[0]
    ny = vals.shape[0]
    nband = band_lo_sq.shape[0]
    part = np.zeros((npairs, nband, 3))
    for i in prange(npairs):
        i2 = (ny - i) % ny
        paired = i2 != i
        fy2i = fy2[i]
        crow = cum[i]
        for b in range(nband):
            j0 = _first_at_least(fx2, fy2i, band_lo_sq[b])
            j1 = _first_at_least(fx2, fy2i, band_hi_sq[b])
            if j1 <= j0:
                continue
            s = crow[j1] - crow[j0]
            if slopes or not (crow[j0] <= 16.0 * s):
                v1 = vals[i, j0:j1]
                v2 = vals[i2, j0:j1]
                h = hw[j0:j1]
                f = fx2[j0:j1]
                s = 0.0
                sx = 0.0
                for j in range(j1 - j0):
                    p = (v1[j] + v2[j]) * h[j] if paired else v1[j] * h[j]
                    s += p
                    sx += p * f[j]
                if slopes:
                    part[i, b, 1] = sx
                    part[i, b, 2] = s * fy2i
            part[i, b, 0] = s
    out = np.zeros((nband, 3))
    for i in range(npairs):
        for b in range(nband):
            for k in range(3):
                out[b, k] += part[i, b, k]
    return out


@pjit
def axis_sums(src, power_input, hw, nchunks):  # pragma: no cover - compiled
    """Column sums and two row sums of a half-plane power array.

    With ``p = src`` (``power_input``) or ``p = |src|²``:

    * ``colsum[j] = Σ_i p[i, j]``
    * ``rowsum_w[i] = Σ_j hw[j] p[i, j]``
    * ``rowsum_1[i] = Σ_j p[i, j]``

    Parameters
    ----------
    src : complex128 or float64 (ny, nh)
    hw : float64 (nh,)
    nchunks : int

    Returns
    -------
    colsum : float64 (nh,) ; rowsum_w : float64 (ny,) ; rowsum_1 : float64 (ny,)
    """
    ny, nh = src.shape
    col_c = np.zeros((nchunks, nh))
    rowsum_w = np.zeros(ny)
    rowsum_1 = np.zeros(ny)
    for c in prange(nchunks):
        r0 = (c * ny) // nchunks
        r1 = ((c + 1) * ny) // nchunks
        for i in range(r0, r1):
            acc_w = 0.0
            acc_1 = 0.0
            for j in range(nh):
                v = src[i, j]
                if power_input:
                    p = v.real
                else:
                    p = v.real * v.real + v.imag * v.imag
                col_c[c, j] += p
                acc_w += hw[j] * p
                acc_1 += p
            rowsum_w[i] = acc_w
            rowsum_1[i] = acc_1
    colsum = np.zeros(nh)
    for c in range(nchunks):
        for j in range(nh):
            colsum[j] += col_c[c, j]
    return colsum, rowsum_w, rowsum_1


@pjit
def fd_slope_moments(z, mx, my):  # pragma: no cover - compiled
    """Moments of first differences between horizontally / vertically adjacent valid pixels.

    ``dx = z[i, j+1] - z[i, j]`` and ``dy = z[i+1, j] - z[i, j]`` (nm) where
    both pixels are finite.

    Returns
    -------
    (Σ(dx - mx), Σ(dx - mx)², n_x, Σ(dy - my), Σ(dy - my)², n_y)
    """
    ny, nx = z.shape
    acc = np.zeros((ny, 6))
    for i in prange(ny):
        sx = 0.0
        sxx = 0.0
        nxc = 0.0
        sy = 0.0
        syy = 0.0
        nyc = 0.0
        for j in range(nx):
            v = z[i, j]
            if np.isfinite(v):
                if j + 1 < nx:
                    u = z[i, j + 1]
                    if np.isfinite(u):
                        d = (u - v) - mx
                        sx += d
                        sxx += d * d
                        nxc += 1.0
                if i + 1 < ny:
                    u = z[i + 1, j]
                    if np.isfinite(u):
                        d = (u - v) - my
                        sy += d
                        syy += d * d
                        nyc += 1.0
        acc[i, 0] = sx
        acc[i, 1] = sxx
        acc[i, 2] = nxc
        acc[i, 3] = sy
        acc[i, 4] = syy
        acc[i, 5] = nyc
    t = np.zeros(6)
    for i in range(ny):
        for k in range(6):
            t[k] += acc[i, k]
    return t[0], t[1], int(t[2]), t[3], t[4], int(t[5])


@jit
def largest_rectangle(mask):  # pragma: no cover - compiled
    """Largest axis-aligned rectangle of True pixels (by pixel count).

    Histogram-and-stack method, O(ny nx). Ties keep the first found
    (row-major order of the bottom edge).

    Parameters
    ----------
    mask : uint8 (ny, nx), nonzero = inside

    Returns
    -------
    (r0, r1, c0, c1) : rows r0:r1 and columns c0:c1 (half-open); all 0 when
    the mask is empty.
    """
    ny, nx = mask.shape
    heights = np.zeros(nx + 1, dtype=np.int64)
    stack = np.zeros(nx + 2, dtype=np.int64)
    best = 0
    br0 = 0
    br1 = 0
    bc0 = 0
    bc1 = 0
    for i in range(ny):
        for j in range(nx):
            if mask[i, j] != 0:
                heights[j] += 1
            else:
                heights[j] = 0
        heights[nx] = 0  # sentinel
        top = 0
        for j in range(nx + 1):
            h = heights[j]
            while top > 0 and heights[stack[top - 1]] >= h:
                hh = heights[stack[top - 1]]
                top -= 1
                left = stack[top - 1] + 1 if top > 0 else 0
                area = hh * (j - left)
                if area > best:
                    best = area
                    br0 = i - hh + 1
                    br1 = i + 1
                    bc0 = left
                    bc1 = j
            stack[top] = j
            top += 1
    return br0, br1, bc0, bc1
