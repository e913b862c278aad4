"""Polynomial least squares on masked grids from Legendre moments, strip by strip.

Mathematics
-----------
A basis function of total degree <= n in (x, y) (a Zernike term, a plane...)
is, on any box ``[xc - hx, xc + hx] x [yc - hy, yc + hy]``, a finite sum

    Z_k(x, y) = Σ_{i+j<=n} C[k, (i, j)] L_i(u) L_j(v),   u = (x - xc)/hx, v = (y - yc)/hy

of products of Legendre polynomials L_i. So over the mask pixels P_s inside
the box

    Σ_p Z_a Z_b = (C T Cᵀ)[a, b],   T[(i,j),(k,l)] = Σ_p L_i L_k(u_p) L_j L_l(v_p)
    Σ_p Z_a z_p = (C d)[a],         d[(i,j)]       = Σ_p z_p L_i(u_p) L_j(v_p)

and with the linearisation L_i L_k = Σ_r a(i,k,r) L_r (all a >= 0),
``T = Σ_{r,q} a(i,k,r) a(j,l,q) μ[r,q]`` needs only the mask's moments
``μ[r,q] = Σ_p L_r(u_p) L_q(v_p)`` up to total degree 2n. One pass over the
map gives μ (per row from prefix sums of L_r over the columns, per run of mask
pixels) and d (n + 1 multiply-adds per pixel); everything else is small dense
algebra, independent of the number of pixels.

Conditioning: a Zernike term is bounded by its normalisation on the unit disk
but grows like ``(ρ + sqrt(ρ² - 1))^n`` outside it, and a box around part of
a disk reaches beyond it at its corners. The coefficients C, and the rounding
of ``C T Cᵀ``, grow with the largest value on the box, so the map is cut into
horizontal strips, each with its own box (the bounding box of its mask
pixels), chosen so that the growth over the box stays within ``exp(log_growth)``
of the growth over the strip's own pixels (:func:`plan_strips`). Near the
top and bottom of a disk strips get thin; a single row is always exact.

Kernels
-------
* :func:`row_extents` - first and last mask column of every row;
* :func:`plan_strips` - the strips and their boxes;
* :func:`strip_moments` - μ and d of every strip, in one parallel pass;
* :func:`moment_gram` - T of every strip from μ;
* :func:`poly_apply` - ``z - f`` (or ``f``) with ``f = Σ E L_i(u) L_j(v)`` on the
  mask, fill value elsewhere, optionally minus a mean and times a window,
  into an output of the map's shape or larger (zero padding), with the sums a
  caller needs (Σ w², Σ (r - mean), Σ (r - mean)²).

Plain-Python helpers build the quadrature (:func:`analysis_matrix`), the
linearisation table (:func:`linearization`) and the coefficients C from
basis values at Gauss nodes (:func:`coefficients_from_nodes`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ._config import jit, pjit, prange

__all__ = [
    "LOG_GROWTH",
    "analysis_matrix",
    "linearization",
    "total_degree_index",
    "node_coordinates",
    "coefficients_from_nodes",
    "row_extents",
    "plan_strips",
    "strip_moments",
    "moment_gram",
    "poly_apply",
]

#: growth budget of a strip's box over its own pixels (natural log); see module docstring.
#: exp(4) ~ 55: measured agreement with the per-pixel normal equations at the
#: 1e-15 relative level for n = 12 and n = 20 (tests/test_kernels_moments.py)
LOG_GROWTH = 4.0


#: small tables that depend on the degree only (plain dict: kernels/ decorates nothing but
#: kernels), (name, n) -> value
_TABLES: dict[tuple[str, int], object] = {}


def _table(name: str, n: int, build: Callable[[int], object]) -> object:
    key = (name, n)
    v = _TABLES.get(key)
    if v is None:
        v = _TABLES[key] = build(n)
    return v


def _gauss(n: int) -> tuple[np.ndarray, np.ndarray]:
    return _table("gauss", n, lambda k: np.polynomial.legendre.leggauss(k + 1))  # type: ignore


def _legendre_table(u: np.ndarray, deg: int) -> np.ndarray:
    out = np.empty((deg + 1, u.size))
    out[0] = 1.0
    if deg >= 1:
        out[1] = u
    for k in range(1, deg):
        out[k + 1] = ((2 * k + 1) * u * out[k] - k * out[k - 1]) / (k + 1)
    return out


def _build_analysis_matrix(n: int) -> tuple[np.ndarray, np.ndarray]:
    u, w = _gauss(n)
    a = (2.0 * np.arange(n + 1)[:, None] + 1.0) / 2.0 * w[None, :] * _legendre_table(u, n)
    u.setflags(write=False)
    a.setflags(write=False)
    return u, a


def analysis_matrix(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes u (n+1,) and the analysis matrix A (n+1, n+1).

    For a polynomial g of degree <= n on [-1, 1], ``A @ g(u)`` are its
    Legendre coefficients: ``A[i, a] = (2i + 1)/2 · w_a · L_i(u_a)`` (the
    (n+1)-point rule is exact up to degree 2n + 1).
    """
    return _table("analysis_matrix", n, _build_analysis_matrix)  # type: ignore[return-value]


def _build_linearization(n: int) -> np.ndarray:
    A = np.ones(2 * n + 2)
    for k in range(1, 2 * n + 2):
        A[k] = A[k - 1] * (2 * k - 1) / k
    lin = np.zeros((n + 1, n + 1, 2 * n + 1))
    for i in range(n + 1):
        for k in range(n + 1):
            for r in range(min(i, k) + 1):
                lin[i, k, i + k - 2 * r] = (A[i - r] * A[r] * A[k - r] / A[i + k - r]
                                            * (2 * i + 2 * k - 4 * r + 1)
                                            / (2 * i + 2 * k - 2 * r + 1))
    lin.setflags(write=False)
    return lin


def linearization(n: int) -> np.ndarray:
    """``lin[i, k, r]`` with ``L_i L_k = Σ_r lin[i, k, r] L_r`` for i, k <= n (shape
    (n+1, n+1, 2n+1)), by Adams' formula (all coefficients >= 0)."""
    return _table("linearization", n, _build_linearization)  # type: ignore[return-value]


def _build_total_degree_index(n: int) -> tuple[np.ndarray, np.ndarray]:
    pairs = [(i, j) for i in range(n + 1) for j in range(n + 1 - i)]
    i = np.array([p[0] for p in pairs], dtype=np.int64)
    j = np.array([p[1] for p in pairs], dtype=np.int64)
    i.setflags(write=False)
    j.setflags(write=False)
    return i, j


def total_degree_index(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(I, J): the degree pairs (i, j) with i + j <= n, i-major; M = (n+1)(n+2)/2."""
    return _table("total_degree_index", n, _build_total_degree_index)  # type: ignore[return-value]


def node_coordinates(boxes: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates (x, y) of the (n+1)² Gauss nodes of every strip's box.

    Returns flat C-contiguous arrays of S (n+1)² points ordered
    ``[strip, node in x, node in y]``.
    """
    u, _ = analysis_matrix(n)
    s = boxes.shape[0]
    xs = boxes[:, 0:1] + boxes[:, 1:2] * u[None, :]  # (S, n+1)
    ys = boxes[:, 2:3] + boxes[:, 3:4] * u[None, :]
    x = np.empty((s, n + 1, n + 1))  # fresh, writable arrays: one kernel signature
    y = np.empty((s, n + 1, n + 1))
    x[...] = xs[:, :, None]
    y[...] = ys[:, None, :]
    return x.ravel(), y.ravel()


#: up to this degree :func:`coefficients_from_nodes` is one matrix product with Q
_Q_MAX_DEGREE = 12


def _build_analysis_products(n: int) -> np.ndarray:
    _, a = analysis_matrix(n)
    ii, jj = total_degree_index(n)
    q = (a[ii][:, :, None] * a[jj][:, None, :]).reshape(ii.size, -1).T.copy()
    q.setflags(write=False)
    return q


def _analysis_products(n: int) -> np.ndarray:
    """Q ((n+1)², M): ``Q[(a, b), m] = A[I_m, a] A[J_m, b]``, the 2-D analysis restricted
    to the coefficients of total degree <= n."""
    return _table("_analysis_products", n, _build_analysis_products)  # type: ignore[return-value]


def coefficients_from_nodes(values: np.ndarray, n: int) -> np.ndarray:
    """C (K, S, M) from basis values at the nodes, ``values`` (K, S (n+1)²).

    ``C[k, s, m]`` is the coefficient of ``L_I[m](u) L_J[m](v)`` of basis k on
    strip s's box (exact for bases of total degree <= n): one matrix product
    ``values (K S, (n+1)²) @ Q`` up to degree 12, else ``A Z Aᵀ`` per term and strip.
    """
    k = values.shape[0]
    if n <= _Q_MAX_DEGREE:
        q = _analysis_products(n)
        return (values.reshape(-1, q.shape[0]) @ q).reshape(k, -1, q.shape[1])
    # high degrees: the separable analysis, A Z Aᵀ, is (n+1)/2 times fewer flops
    _, a = analysis_matrix(n)
    t = (values.reshape(-1, n + 1) @ a.T).reshape(-1, n + 1, n + 1)  # (K S, node x, j)
    c = np.matmul(a, t)  # (K S, i, j)
    ii, jj = total_degree_index(n)
    return np.ascontiguousarray(c[:, ii, jj]).reshape(k, -1, ii.size)


# ---------------------------------------------------------------------------
# kernels
# ---------------------------------------------------------------------------

@pjit
def row_extents(mask):  # pragma: no cover - compiled
    """First and last ``True`` column of every row of ``mask`` (bool (ny, nx)).

    Each row is scanned from both ends, eight bytes at a time until a set byte is near.

    Returns
    -------
    first, last : int64 (ny,)
        -1 for rows without a ``True`` pixel.
    """
    ny, nx = mask.shape
    first = np.full(ny, -1, dtype=np.int64)
    last = np.full(ny, -1, dtype=np.int64)
    u = mask.view(np.uint8)
    for i in prange(ny):
        row = u[i]
        j = 0
        while j + 8 <= nx:
            s = np.uint8(0)
            for t in range(8):
                s |= row[j + t]
            if s:
                break
            j += 8
        while j < nx and not row[j]:
            j += 1
        if j == nx:
            continue
        first[i] = j
        k = nx - 1
        while k - 8 >= j:
            s = np.uint8(0)
            for t in range(8):
                s |= row[k - t]
            if s:
                break
            k -= 8
        while not row[k]:
            k -= 1
        last[i] = k
    return first, last


@jit
def _row_rho2(first, last, i, x0, sx, y0, sy):  # pragma: no cover - compiled
    xa = x0 + first[i] * sx
    xb = x0 + last[i] * sx
    y = y0 + i * sy
    return max(xa * xa, xb * xb) + y * y


@jit
def _growth(rho2):  # pragma: no cover - compiled
    """acosh(ρ) for ρ > 1, else 0: the log growth rate per degree of a Zernike term."""
    if rho2 <= 1.0:
        return 0.0
    r = math.sqrt(rho2)
    return math.log(r + math.sqrt(rho2 - 1.0))


@jit
def plan_strips(first, last, x0, sx, y0, sy, n, log_growth, max_rows):  # pragma: no cover
    """Cut the rows holding mask pixels into strips with well-conditioned boxes.

    Coordinates are ``x = x0 + col * sx`` and ``y = y0 + row * sy``
    (normalised, sx, sy > 0). A strip grows row by row while
    ``n (acosh ρ_box - acosh ρ_pix) <= log_growth`` (ρ_box: the farthest corner
    of the bounding box of its pixels, ρ_pix: its farthest pixel, both
    clipped at 1) and it has fewer than ``max_rows`` rows. Strips cover every
    row from the first to the last row holding a pixel; empty rows join the
    strip before them without changing its box.

    Returns
    -------
    strips : int64 (S, 4)
        ``(row0, row1, col0, col1)``: rows row0..row1-1, box columns col0..col1.
    boxes : float64 (S, 8)
        ``(xc, hx, yc, hy, ua, ub, va, vb)``: box centre and half sizes, and
        ``u = ua + ub * col``, ``v = va + vb * row`` (each in [-1, 1] on the box).
    rho2_max : float
        Largest x² + y² of a mask pixel (0 without pixels).
    """
    ny = first.shape[0]
    r0 = 0
    while r0 < ny and first[r0] < 0:
        r0 += 1
    r1 = ny
    while r1 > r0 and first[r1 - 1] < 0:
        r1 -= 1
    strips = np.empty((max(r1 - r0, 0), 4), dtype=np.int64)
    rows = np.empty((max(r1 - r0, 0), 2), dtype=np.int64)  # first and last non-empty row
    s = 0
    i = r0
    rho2_max = 0.0
    while i < r1:
        j0 = first[i]
        j1 = last[i]
        rp = _row_rho2(first, last, i, x0, sx, y0, sy)
        ya = y0 + i * sy
        ilast = i
        k = i + 1
        while k < r1 and k - i < max_rows:
            if first[k] >= 0:
                nj0 = min(j0, first[k])
                nj1 = max(j1, last[k])
                xa = x0 + nj0 * sx
                xb = x0 + nj1 * sx
                yb = y0 + k * sy
                rc = max(xa * xa, xb * xb) + max(ya * ya, yb * yb)
                nrp = max(rp, _row_rho2(first, last, k, x0, sx, y0, sy))
                if n * (_growth(rc) - _growth(nrp)) > log_growth:
                    break
                j0 = nj0
                j1 = nj1
                rp = nrp
                ilast = k
            k += 1
        strips[s, 0] = i
        strips[s, 1] = k
        strips[s, 2] = j0
        strips[s, 3] = j1
        rows[s, 0] = i
        rows[s, 1] = ilast
        rho2_max = max(rho2_max, rp)
        s += 1
        i = k
    boxes = np.empty((s, 8))
    for t in range(s):
        xa = x0 + strips[t, 2] * sx
        xb = x0 + strips[t, 3] * sx
        ya = y0 + rows[t, 0] * sy
        yb = y0 + rows[t, 1] * sy
        xc = 0.5 * (xa + xb)
        yc = 0.5 * (ya + yb)
        hx = max(0.5 * (xb - xa), 0.5 * sx)  # one column or row: any positive half size
        hy = max(0.5 * (yb - ya), 0.5 * sy)
        boxes[t, 0] = xc
        boxes[t, 1] = hx
        boxes[t, 2] = yc
        boxes[t, 3] = hy
        boxes[t, 4] = (x0 - xc) / hx
        boxes[t, 5] = sx / hx
        boxes[t, 6] = (y0 - yc) / hy
        boxes[t, 7] = sy / hy
    return strips[:s].copy(), boxes, rho2_max


@jit
def _legendre_columns(ua, ub, j0, width, deg, out):  # pragma: no cover - compiled
    """``out[p, c] = L_p(ua + ub (j0 + c))`` for p <= deg, c < width (three-term recurrence)."""
    for c in range(width):
        out[0, c] = 1.0
    if deg >= 1:
        for c in range(width):
            out[1, c] = ua + ub * (j0 + c)
    for p in range(1, deg):
        a = (2.0 * p + 1.0) / (p + 1.0)
        b = p / (p + 1.0)
        for c in range(width):
            out[p + 1, c] = a * out[1, c] * out[p, c] - b * out[p - 1, c]


@jit
def _strip_columns(strips, boxes, s, deg):  # pragma: no cover - compiled
    """Rows (i0, i1), first box column j0, box width and the table ``L_p(u)`` (deg+1,
    width) of strip s."""
    j0 = strips[s, 2]
    width = strips[s, 3] - j0 + 1
    lx = np.empty((deg + 1, width))
    _legendre_columns(boxes[s, 4], boxes[s, 5], j0, width, deg, lx)
    return strips[s, 0], strips[s, 1], j0, width, lx


@jit
def _legendre_values(v, deg, out):  # pragma: no cover - compiled
    """``out[q] = L_q(v)`` for q <= deg."""
    out[0] = 1.0
    if deg >= 1:
        out[1] = v
    for q in range(1, deg):
        out[q + 1] = ((2.0 * q + 1.0) * v * out[q] - q * out[q - 1]) / (q + 1.0)


@jit
def _dots2(wa, wb, lx, a, cnt, np1, ra, rb):  # pragma: no cover - compiled
    """``ra[p] = Σ_c wa[c] lx[p, a + c]`` and ``rb[p]`` likewise for p < np1, c < cnt: two
    rows of data and four rows of ``lx`` per sweep, each load of ``lx`` used for both
    (8 sums per sweep)."""
    p = 0
    while p + 4 <= np1:
        l0 = lx[p, a:a + cnt]
        l1 = lx[p + 1, a:a + cnt]
        l2 = lx[p + 2, a:a + cnt]
        l3 = lx[p + 3, a:a + cnt]
        s0 = 0.0
        s1 = 0.0
        s2 = 0.0
        s3 = 0.0
        t0 = 0.0
        t1 = 0.0
        t2 = 0.0
        t3 = 0.0
        for c in range(cnt):
            x = wa[c]
            y = wb[c]
            s0 += x * l0[c]
            s1 += x * l1[c]
            s2 += x * l2[c]
            s3 += x * l3[c]
            t0 += y * l0[c]
            t1 += y * l1[c]
            t2 += y * l2[c]
            t3 += y * l3[c]
        ra[p] = s0
        ra[p + 1] = s1
        ra[p + 2] = s2
        ra[p + 3] = s3
        rb[p] = t0
        rb[p + 1] = t1
        rb[p + 2] = t2
        rb[p + 3] = t3
        p += 4
    while p < np1:
        lp = lx[p, a:a + cnt]
        s0 = 0.0
        t0 = 0.0
        for c in range(cnt):
            s0 += wa[c] * lp[c]
            t0 += wb[c] * lp[c]
        ra[p] = s0
        rb[p] = t0
        p += 1


@jit
def _combine(g, lx, a, cnt, np1, acc):  # pragma: no cover - compiled
    """``acc[c] = Σ_p g[p] lx[p, a + c]`` for c < cnt: four rows per sweep over ``acc``."""
    out = acc[:cnt]
    p = 0
    first = True
    while p + 4 <= np1:
        g0 = g[p]
        g1 = g[p + 1]
        g2 = g[p + 2]
        g3 = g[p + 3]
        l0 = lx[p, a:a + cnt]
        l1 = lx[p + 1, a:a + cnt]
        l2 = lx[p + 2, a:a + cnt]
        l3 = lx[p + 3, a:a + cnt]
        if first:
            for c in range(cnt):
                out[c] = g0 * l0[c] + g1 * l1[c] + g2 * l2[c] + g3 * l3[c]
        else:
            for c in range(cnt):
                out[c] += g0 * l0[c] + g1 * l1[c] + g2 * l2[c] + g3 * l3[c]
        first = False
        p += 4
    while p < np1:
        gp = g[p]
        lp = lx[p, a:a + cnt]
        if first:
            for c in range(cnt):
                out[c] = gp * lp[c]
        else:
            for c in range(cnt):
                out[c] += gp * lp[c]
        first = False
        p += 1


@pjit
def strip_moments(mask, z, first, last, strips, boxes, deg_mask, deg_z):  # pragma: no cover
    """Legendre moments of the mask and of the masked data, per strip, in one pass.

    Parameters
    ----------
    mask : bool (ny, nx)
        Pixels that take part.
    z : float64 (ny, nx)
        Data (nm); read only at mask pixels and only when ``deg_z >= 0`` (any
        float64 2-D array otherwise).
    first, last : int64 (ny,)
        :func:`row_extents` of ``mask``.
    strips, boxes
        :func:`plan_strips`.
    deg_mask : int
        Mask moments ``mu[s, r, q] = Σ L_r(u) L_q(v)`` for r + q <= deg_mask
        (-1: none).
    deg_z : int
        Data moments ``d[s, i, j] = Σ z L_i(u) L_j(v)`` for i + j <= deg_z
        (-1: none).

    Returns
    -------
    mu : float64 (S, max(deg_mask, 0) + 1, same)
    d : float64 (S, max(deg_z, 0) + 1, same)
        Entries with r + q (i + j) above the degree are 0.
    """
    ns = strips.shape[0]
    dm = max(deg_mask, 0)
    dz = max(deg_z, 0)
    deg = max(dm, dz)
    mu = np.zeros((ns, dm + 1, dm + 1))
    d = np.zeros((ns, dz + 1, dz + 1))
    for s in prange(ns):
        i0, i1, j0, width, lx = _strip_columns(strips, boxes, s, deg)
        pre = np.zeros((dm + 1, width + 1))
        if deg_mask >= 0:
            for p in range(dm + 1):
                acc = 0.0
                for c in range(width):
                    pre[p, c] = acc
                    acc += lx[p, c]
                pre[p, width] = acc
        ly = np.empty(deg + 1)
        mx = np.empty(dm + 1)
        w = np.empty(width)
        bnd = np.empty(width + 1, dtype=np.int64)
        for i in range(i0, i1 if deg_mask >= 0 else i0):  # the mask moments
            f = first[i]
            if f < 0:
                continue
            ll = last[i]
            _legendre_values(boxes[s, 6] + boxes[s, 7] * i, dm, ly)
            for p in range(dm + 1):
                mx[p] = 0.0
            mr = mask[i, f:ll + 1]
            cnt = ll - f + 1
            # run boundaries first (a tight loop), then the prefix-sum differences
            nb = 0
            prev = False
            for j in range(cnt):
                v = mr[j]
                if v != prev:
                    bnd[nb] = j
                    nb += 1
                    prev = v
            if prev:
                bnd[nb] = cnt
                nb += 1
            off = f - j0
            for k in range(0, nb, 2):
                a = bnd[k] + off
                b = bnd[k + 1] + off
                for p in range(dm + 1):
                    mx[p] += pre[p, b] - pre[p, a]
            for p in range(dm + 1):
                mp = mx[p]
                for q in range(dm + 1 - p):
                    mu[s, p, q] += mp * ly[q]
        if deg_z >= 0:
            _data_moments(mask, z, first, last, boxes, s, i0, i1, j0, lx, dz, w, d)
    return mu, d


@jit
def _data_moments(mask, z, first, last, boxes, s, i0, i1, j0, lx, dz, w, d):
    """The data moments of strip s (``d[s]`` of :func:`strip_moments`), two rows at a time:
    both rows' masked heights over the union of their extents (the mask is False outside
    a row's own extent, so the other row's columns add zeros), one sweep of ``lx`` for
    both (:func:`_dots2`: half the loads of the table per row)."""
    width = w.shape[0]
    wb = np.empty(width)
    ly = np.empty(dz + 1)
    lyb = np.empty(dz + 1)
    r = np.empty(dz + 1)
    rb = np.empty(dz + 1)
    i = i0
    while i < i1:
        fa = first[i]
        if fa < 0:
            i += 1
            continue
        la = last[i]
        ib = i + 1
        pair = ib < i1 and first[ib] >= 0
        f = fa
        ll = la
        if pair:
            f = min(fa, first[ib])
            ll = max(la, last[ib])
        # 0-based loops over slices: a signed start would make Numba wrap negative indices
        # element by element (no SIMD)
        cnt = ll - f + 1
        a = f - j0
        _masked_row(z[i, f:ll + 1], mask[i, f:ll + 1], cnt, w)
        _legendre_values(boxes[s, 6] + boxes[s, 7] * i, dz, ly)
        if pair:
            _masked_row(z[ib, f:ll + 1], mask[ib, f:ll + 1], cnt, wb)
            _legendre_values(boxes[s, 6] + boxes[s, 7] * ib, dz, lyb)
        else:  # a row without a partner: the second row adds zeros
            wb[:cnt] = 0.0
            lyb[:] = 0.0
        _dots2(w, wb, lx, a, cnt, dz + 1, r, rb)
        for p in range(dz + 1):
            rp = r[p]
            rq = rb[p]
            for q in range(dz + 1 - p):
                d[s, p, q] += rp * ly[q] + rq * lyb[q]
        i += 2 if pair else 1


@jit
def _masked_row(zr, mr, cnt, w):  # pragma: no cover - compiled
    """``w[c] = zr[c]`` where ``mr[c]``, else 0, for c < cnt (a select: NaN off the mask
    is discarded)."""
    for c in range(cnt):
        w[c] = zr[c] if mr[c] else 0.0


@pjit
def moment_gram(mu, lin, ii, jj):  # pragma: no cover - compiled
    """``T[s, a, b] = Σ_{r,q} lin[I_a, I_b, r] lin[J_a, J_b, q] mu[s, r, q]`` for every strip.

    Parameters
    ----------
    mu : float64 (S, 2n+1, 2n+1)
        Mask moments of total degree <= 2n (:func:`strip_moments`).
    lin : float64 (n+1, n+1, 2n+1)
        :func:`linearization`.
    ii, jj : int64 (M,)
        :func:`total_degree_index`.

    Returns
    -------
    T : float64 (S, M, M), symmetric
        ``Σ_p L_Ia L_Ib (u_p) L_Ja L_Jb (v_p)`` over the strip's mask pixels.
    """
    ns = mu.shape[0]
    n = lin.shape[0] - 1
    m = ii.shape[0]
    t = np.empty((ns, m, m))
    for s in prange(ns):
        # X[i, k, q] = Σ_r lin[i, k, r] mu[r, q]  (r from |i - k| to i + k in steps of 2)
        x = np.zeros((n + 1, n + 1, 2 * n + 1))
        for i in range(n + 1):
            for k in range(i, n + 1):
                for rr in range(k - i, i + k + 1, 2):
                    c = lin[i, k, rr]
                    for q in range(2 * n + 1 - rr):
                        x[i, k, q] += c * mu[s, rr, q]
                if k != i:
                    for q in range(2 * n + 1):
                        x[k, i, q] = x[i, k, q]
        for a in range(m):
            i = ii[a]
            j = jj[a]
            for b in range(a, m):
                k = ii[b]
                ll = jj[b]
                lo = j - ll if j >= ll else ll - j
                acc = 0.0
                for q in range(lo, j + ll + 1, 2):
                    acc += x[i, k, q] * lin[j, ll, q]
                t[s, a, b] = acc
                t[s, b, a] = acc
    return t


@pjit
def poly_apply(z, mask, first, last, strips, boxes, coef, mean, subtract, center, fill,
               wy, wx, w2d, use2d, out):  # pragma: no cover - compiled
    """Evaluate a strip-wise Legendre form at the mask pixels and write a map, in one pass.

    With ``f = Σ_{i,j} coef[s, i, j] L_i(u) L_j(v)`` on strip s and
    ``r = z - f`` (``subtract``) or ``r = f``:

    * mask pixels: ``out = (r - mean) * w`` when ``center``, else ``r * w``, with
      ``w = w2d[i, j]`` (``use2d``) or ``wy[i] * wx[j]``;
    * other pixels of z's shape: ``fill`` (NaN for a map, 0 for an FFT input);
    * rows and columns of ``out`` beyond z's shape (zero padding): 0.

    Parameters
    ----------
    z : float64 (ny, nx)
    mask : bool (ny, nx)
    first, last : int64 (ny,)
    strips, boxes
        :func:`plan_strips` of the same mask.
    coef : float64 (S, n+1, n+1)
    mean : float
    subtract, center : bool
    fill : float
    wy, wx : float64 (ny,), (nx,)
    w2d : float64 (ny, nx) when ``use2d`` (any 2-D float64 array otherwise)
    use2d : bool
    out : float64 (NY >= ny, NX >= nx), written

    Returns
    -------
    sum_w2 : float
        Σ w² over the mask pixels.
    s1, s2 : float
        Σ (r - mean) and Σ (r - mean)² over the mask pixels (window not applied).
    """
    ny, nx = z.shape
    big_y, big_x = out.shape
    ns = strips.shape[0]
    n = coef.shape[1] - 1
    part = np.zeros((ns, 3))
    for s in prange(ns):
        i0, i1, j0, width, lx = _strip_columns(strips, boxes, s, n)
        ly = np.empty(n + 1)
        g = np.empty(n + 1)
        acc = np.empty(width)
        sw2 = 0.0
        s1 = 0.0
        s2 = 0.0
        for i in range(i0, i1):
            f = first[i]
            if f < 0:
                out[i, :nx] = fill
                out[i, nx:] = 0.0
                continue
            ll = last[i]
            _legendre_values(boxes[s, 6] + boxes[s, 7] * i, n, ly)
            for p in range(n + 1):
                gsum = 0.0
                for q in range(n + 1 - p):
                    gsum += coef[s, p, q] * ly[q]
                g[p] = gsum
            # 0-based loops over slices (see strip_moments)
            cnt = ll - f + 1
            a = f - j0
            _combine(g, lx, a, cnt, n + 1, acc)
            out[i, :f] = fill
            zr = z[i, f:ll + 1]
            mr = mask[i, f:ll + 1]
            wr = w2d[i, f:ll + 1] if use2d else wx[f:ll + 1]
            wyi = 1.0 if use2d else wy[i]
            orr = out[i, f:ll + 1]
            cen = mean if center else 0.0
            for c in range(cnt):  # selects, no branches: NaN off the mask is discarded
                m = mr[c]
                v = zr[c] - acc[c] if subtract else acc[c]
                dv = v - mean
                w = wyi * wr[c]
                orr[c] = (v - cen) * w if m else fill
                wm = w if m else 0.0
                dm = dv if m else 0.0
                sw2 += wm * wm
                s1 += dm
                s2 += dm * dm
            out[i, ll + 1:nx] = fill
            out[i, nx:] = 0.0
        part[s, 0] = sw2
        part[s, 1] = s1
        part[s, 2] = s2
    # rows outside every strip: before the first, after the last, and the padding
    r0 = ny
    r1 = ny
    if ns > 0:
        r0 = strips[0, 0]
        r1 = strips[ns - 1, 1]
    for row in prange(big_y):
        if row >= r0 and row < r1:
            continue
        if row < ny:
            out[row, :nx] = fill
            out[row, nx:] = 0.0
        else:
            out[row, :] = 0.0
    tot = np.zeros(3)
    for s in range(ns):
        for k in range(3):
            tot[k] += part[s, k]
    return tot[0], tot[1], tot[2]
