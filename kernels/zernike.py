"""Zernike kernels: radial polynomials by recurrence, many modes in one pass.

Mathematics
-----------
With normalised coordinates (x, y) = (r cos θ, r sin θ) / R_norm, ρ² = x² + y²
and t = 2ρ² − 1, the Zernike radial polynomial is a Jacobi polynomial

    R_n^|m|(ρ) = ρ^|m| · P_k^(0,|m|)(t),   k = (n − |m|) / 2,

and the angular factor comes from the complex power (x + i y)^|m| =
ρ^|m| (cos |m|θ + i sin |m|θ). So a mode is

    Z(n, m) = N · P_k^(0,|m|)(t) · Re (x + i y)^|m|     (m ≥ 0)
    Z(n, m) = N · P_k^(0,|m|)(t) · Im (x + i y)^|m|     (m < 0)

with no trigonometric call and no division (exact at ρ = 0). P_k follows the
standard three-term Jacobi recurrence in k, which is forward-stable on
t ∈ [−1, 1]; unlike the factorial sum it does not cancel large terms of
alternating sign (the factorial sum loses ~8 digits at n = 20).

The recurrence coefficients are computed once per mode set by
:func:`jacobi_coefficients` (plain Python, tiny) and passed to the kernels.

Kernels
-------
Fits and maps go through Legendre moments (:mod:`kernels.moments`); these
per-pixel kernels evaluate the basis at given points: at the Gauss nodes of
the moment path's boxes (:func:`zernike_basis`), at every pixel for
ill-conditioned apertures (least squares on the sampled basis), and as the
independent reference of the moment path's normal equations
(:func:`zernike_normal_equations`, tests/test_kernels_moments.py).

All kernels take C-contiguous float64 coordinates ``x, y`` of shape (P,) (the
valid pixels only) and a *mode table* built by :func:`mode_table`:

* ``tab`` int64 (mmax+1, kmax+1, 2): row index in the output of the cosine
  (``[..., 0]``) and sine (``[..., 1]``) mode with that |m| and k, or −1;
* ``jac`` float64 (mmax+1, kmax+1, 3): recurrence coefficients (A, B, C) of
  P_k = (A t + B) P_{k−1} − C P_{k−2};
* ``kmax_m`` int64 (mmax+1,): the largest k needed for each |m| (−1: none);
* ``scale`` float64 (K,): the normalisation N of each output row.

Work is split into blocks of :data:`BLOCK` pixels, each handled by one
thread; the inner loops run over the pixels of a block and vectorise.
"""

from __future__ import annotations

import numpy as np

from ._config import jit, pjit, prange

#: pixels per block: K x BLOCK doubles of scratch stay in L2 for K <= 231
BLOCK = 256


def jacobi_coefficients(mmax: int, kmax: int) -> np.ndarray:
    """Recurrence coefficients for P_k^(0, m)(t), shape (mmax+1, kmax+1, 3).

    ``P_0 = 1``; ``P_1 = (A t + B)`` (``C = 0``); for k >= 2
    ``P_k = (A t + B) P_{k-1} - C P_{k-2}`` with, for α = 0, β = m,

        a = 2k (k + m)(2k + m − 2)
        A = (2k + m − 1)(2k + m)(2k + m − 2) / a
        B = −(2k + m − 1) m² / a
        C = 2 (k − 1)(k + m − 1)(2k + m) / a
    """
    out = np.zeros((mmax + 1, kmax + 1, 3))
    for m in range(mmax + 1):
        if kmax >= 1:
            # P_1^(0,m)(t) = 1 + (m + 2)(t - 1)/2
            out[m, 1] = (0.5 * (m + 2), 1.0 - 0.5 * (m + 2), 0.0)
        for k in range(2, kmax + 1):
            a = 2.0 * k * (k + m) * (2 * k + m - 2)
            b = 2.0 * k + m - 1
            out[m, k, 0] = b * (2 * k + m) * (2 * k + m - 2) / a
            out[m, k, 1] = -b * m * m / a
            out[m, k, 2] = 2.0 * (k - 1) * (k + m - 1) * (2 * k + m) / a
    return out


def mode_table(n: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Build ``(tab, jac, kmax_m)`` for modes ``(n[i], m[i])``; see module docstring."""
    n = np.asarray(n, dtype=np.int64)
    m = np.asarray(m, dtype=np.int64)
    am = np.abs(m)
    if np.any(n < 0) or np.any(am > n) or np.any((n - am) % 2):
        raise ValueError("invalid (n, m): need n >= |m| >= 0 and n - |m| even")
    mmax = int(am.max()) if am.size else 0
    k = (n - am) // 2
    kmax = int(k.max()) if k.size else 0
    tab = -np.ones((mmax + 1, kmax + 1, 2), dtype=np.int64)
    kmax_m = -np.ones(mmax + 1, dtype=np.int64)
    for i in range(n.size):
        s = 1 if m[i] < 0 else 0
        if tab[am[i], k[i], s] >= 0:
            raise ValueError(f"mode (n={n[i]}, m={m[i]}) requested twice")
        tab[am[i], k[i], s] = i
        kmax_m[am[i]] = max(kmax_m[am[i]], k[i])
    return tab, jacobi_coefficients(mmax, kmax), kmax_m


@jit
def _block(x, y, p0, p1, tab, jac, kmax_m, scale, dst, shift, scratch):
    """Evaluate every mode of ``tab`` on pixels p0..p1-1 into ``dst[row, p - shift]``.

    Parameters
    ----------
    x, y : float64 (P,)
        Normalised coordinates (dimensionless, ρ <= 1 expected but not required).
    p0, p1 : int
        Pixel range of this block.
    tab, jac, kmax_m, scale
        Mode table (see module docstring).
    dst : float64 (K, >= p1 - shift)
        Output; row = mode, column = p - shift.
    shift : int
        Column offset (0 to write a full basis, p0 to write a local block).
    scratch : float64 (6, >= p1 - p0)
        Work space of the calling thread (allocated once, not per block).
    """
    nb = p1 - p0
    t = scratch[0]
    re = scratch[1]
    im = scratch[2]
    pk1 = scratch[3]
    pk2 = scratch[4]
    pk = scratch[5]
    for q in range(nb):
        xx = x[p0 + q]
        yy = y[p0 + q]
        t[q] = 2.0 * (xx * xx + yy * yy) - 1.0
        re[q] = 1.0
        im[q] = 0.0
    mmax = kmax_m.shape[0] - 1
    for am in range(mmax + 1):
        if am > 0:
            # (re + i im) *= (x + i y)
            for q in range(nb):
                xx = x[p0 + q]
                yy = y[p0 + q]
                r = re[q] * xx - im[q] * yy
                im[q] = re[q] * yy + im[q] * xx
                re[q] = r
        kk = kmax_m[am]
        if kk < 0:
            continue
        for k in range(kk + 1):
            if k == 0:
                for q in range(nb):
                    pk[q] = 1.0
            elif k == 1:
                a = jac[am, 1, 0]
                b = jac[am, 1, 1]
                for q in range(nb):
                    pk[q] = a * t[q] + b
            else:
                a = jac[am, k, 0]
                b = jac[am, k, 1]
                c = jac[am, k, 2]
                for q in range(nb):
                    pk[q] = (a * t[q] + b) * pk1[q] - c * pk2[q]
            ic = tab[am, k, 0]
            off = p0 - shift
            if ic >= 0:
                s = scale[ic]
                row = dst[ic]
                for q in range(nb):
                    row[off + q] = s * pk[q] * re[q]
            isn = tab[am, k, 1]
            if isn >= 0:
                s = scale[isn]
                row = dst[isn]
                for q in range(nb):
                    row[off + q] = s * pk[q] * im[q]
            # rotate the three recurrence buffers instead of copying them
            tmp = pk2
            pk2 = pk1
            pk1 = pk
            pk = tmp


@pjit
def zernike_basis(x, y, tab, jac, kmax_m, scale, out):
    """Fill ``out[i, p] = Z_i(x[p], y[p])`` for every mode i of the table.

    Parameters
    ----------
    x, y : float64 (P,)
        Normalised pixel coordinates.
    tab, jac, kmax_m, scale
        Mode table (module docstring); K = ``scale.size``.
    out : float64 (K, P), C-contiguous
        Output basis, one mode per row.
    """
    npix = x.shape[0]
    nblocks = (npix + BLOCK - 1) // BLOCK
    nchunks = min(nblocks, 64)  # a few chunks per thread: balance without per-block set-up
    per = (nblocks + nchunks - 1) // nchunks
    for c in prange(nchunks):
        scratch = np.empty((6, BLOCK))
        for b in range(c * per, min((c + 1) * per, nblocks)):
            p0 = b * BLOCK
            p1 = min(p0 + BLOCK, npix)
            _block(x, y, p0, p1, tab, jac, kmax_m, scale, out, 0, scratch)


#: pixels per block in the fused normal-equation kernel (K x GBLOCK doubles stay in L1/L2)
GBLOCK = 256


@pjit
def zernike_normal_equations(x, y, z, tab, jac, kmax_m, scale, nthreads):
    """Normal equations of a least-squares Zernike fit, without storing the basis.

    Accumulates ``G = B Bᵀ`` (upper triangle, mirrored at the end) and
    ``r = B z`` over pixel blocks of :data:`GBLOCK`, each block's basis being
    evaluated into a thread-local buffer that stays in cache.

    Parameters
    ----------
    x, y : float64 (P,)
        Normalised pixel coordinates.
    z : float64 (P,)
        Heights at the pixels (nm).
    tab, jac, kmax_m, scale
        Mode table (module docstring); K = ``scale.size``.
    nthreads : int
        Number of partial sums (one per thread).

    Returns
    -------
    gram : float64 (K, K)
    rhs : float64 (K,)
    """
    npix = x.shape[0]
    k = scale.shape[0]
    kp = (k + 3) // 4 * 4  # rows padded to whole 4 x 4 tiles (padding rows stay 0)
    nblocks = (npix + GBLOCK - 1) // GBLOCK
    gpart = np.zeros((nthreads, kp, kp))
    rpart = np.zeros((nthreads, kp))
    per = (nblocks + nthreads - 1) // nthreads
    for th in prange(nthreads):
        buf = np.zeros((kp, GBLOCK))
        zb = np.zeros(GBLOCK)
        scratch = np.empty((6, GBLOCK))
        g = gpart[th]
        r = rpart[th]
        b0 = th * per
        b1 = min(b0 + per, nblocks)
        for blk in range(b0, b1):
            p0 = blk * GBLOCK
            p1 = min(p0 + GBLOCK, npix)
            nb = p1 - p0
            if nb < GBLOCK:  # a short last block: zero the tail so it adds nothing
                for i in range(kp):
                    for q in range(GBLOCK):
                        buf[i, q] = 0.0
                for q in range(GBLOCK):
                    zb[q] = 0.0
            _block(x, y, p0, p1, tab, jac, kmax_m, scale, buf, p0, scratch)
            for q in range(nb):
                zb[q] = z[p0 + q]
            for a in range(kp):
                acc = 0.0
                for q in range(GBLOCK):
                    acc += buf[a, q] * zb[q]
                r[a] += acc
            # upper triangle in 2 x 4 register tiles (8 accumulators + 6 loads fit the
            # 16 vector registers once the q loop is vectorised)
            for a in range(0, kp, 2):
                for b in range(a - a % 4, kp, 4):
                    s00 = s01 = s02 = s03 = 0.0
                    s10 = s11 = s12 = s13 = 0.0
                    for q in range(GBLOCK):
                        u0 = buf[a, q]
                        u1 = buf[a + 1, q]
                        v0 = buf[b, q]
                        v1 = buf[b + 1, q]
                        v2 = buf[b + 2, q]
                        v3 = buf[b + 3, q]
                        s00 += u0 * v0
                        s01 += u0 * v1
                        s02 += u0 * v2
                        s03 += u0 * v3
                        s10 += u1 * v0
                        s11 += u1 * v1
                        s12 += u1 * v2
                        s13 += u1 * v3
                    g[a, b] += s00
                    g[a, b + 1] += s01
                    g[a, b + 2] += s02
                    g[a, b + 3] += s03
                    g[a + 1, b] += s10
                    g[a + 1, b + 1] += s11
                    g[a + 1, b + 2] += s12
                    g[a + 1, b + 3] += s13
    gram = np.zeros((k, k))
    rhs = np.zeros(k)
    for th in range(nthreads):
        for a in range(k):
            rhs[a] += rpart[th, a]
            for b in range(k):
                gram[a, b] += gpart[th, a, b]
    # the tiles cover the upper triangle (and some of the lower); mirror the upper one
    for a in range(k):
        for b in range(a):
            gram[a, b] = gram[b, a]
    return gram, rhs


@pjit
def masked_coordinates(mask, x0, sx, y0, sy):
    """Flat indices and normalised coordinates of the ``True`` pixels of ``mask``.

    Rows are counted, prefix-summed and then filled in parallel.

    Parameters
    ----------
    mask : bool (ny, nx), C-contiguous
    x0, sx : float
        ``x = x0 + col * sx`` (dimensionless; e.g. (x_mm(col) - cx) / R_norm).
    y0, sy : float
        ``y = y0 + row * sy``.

    Returns
    -------
    index : int64 (P,)
        Row-major flat indices, ascending.
    x, y : float64 (P,)
    rho2_max : float
        Largest x² + y² (0 when there is no pixel).
    """
    ny, nx = mask.shape
    counts = np.zeros(ny + 1, dtype=np.int64)
    for i in prange(ny):
        c = 0
        for j in range(nx):
            if mask[i, j]:
                c += 1
        counts[i + 1] = c
    for i in range(ny):
        counts[i + 1] += counts[i]
    n = counts[ny]
    index = np.empty(n, dtype=np.int64)
    x = np.empty(n)
    y = np.empty(n)
    rmax = np.zeros(ny)
    for i in prange(ny):
        p = counts[i]
        yi = y0 + i * sy
        r = 0.0
        for j in range(nx):
            if mask[i, j]:
                xj = x0 + j * sx
                index[p] = i * nx + j
                x[p] = xj
                y[p] = yi
                r = max(r, xj * xj + yi * yi)
                p += 1
        rmax[i] = r
    return index, x, y, rmax.max() if ny > 0 else 0.0
