"""Connected regions of boolean masks by runs: the pixel counts of a part's filled outline.

:func:`circle_region_counts` does what :func:`metrology.aperture.fit_circle`
needs, without SciPy and without a label image: the mask is reduced to a
grid of b x b blocks ("any pixel set"), the blocks' runs along rows are
joined into 8-connected components (union-find over runs, not pixels), the
largest component is kept, its holes (4-connected components of the rest
that do not touch the border) are filled, and the pixels of the region are
counted per row and per column of the full-resolution map: blocks whose
3 x 3 neighbourhood lies inside the filled region count whole, blocks on its
edge count their set pixels.

A component's rank for ties is the raster order of its first pixel, as a
raster-scan labelling numbers components.

The circle of a part's outer edge (:func:`metrology.aperture.find_circle`) is
found from those edge points by :func:`edge_circle_fit`: least median of
squares over candidate circles (:func:`_lmeds_best_circle`), then inliers and a
geometric least-squares fit, repeated until the inliers stop changing
(:func:`_refine_circle`); one kernel, one cache load at start-up.
"""

from __future__ import annotations

import math

import numpy as np

from ._config import jit, pjit, prange

__all__ = ["circle_region_counts", "component_boxes", "edge_circle_fit", "main_region_outline",
           "outline_points", "radius_mask"]


@jit
def _find(parent, a):  # pragma: no cover - compiled
    root = a
    while parent[root] != root:
        root = parent[root]
    while parent[a] != root:  # path compression
        nxt = parent[a]
        parent[a] = root
        a = nxt
    return root


@jit
def _union(parent, a, b):  # pragma: no cover - compiled
    ra = _find(parent, a)
    rb = _find(parent, b)
    if ra != rb:
        if ra < rb:  # the smaller index (earlier in raster order) stays the root
            parent[rb] = ra
        else:
            parent[ra] = rb


@jit
def _skip(u, w, g, stop, set_bytes, pattern):  # pragma: no cover - compiled
    """First flat index in [g, stop) where a stretch of zero bytes of ``u`` ends
    (``set_bytes`` False) or of non-zero bytes ends (True); ``stop`` when it does not.

    Byte by byte to an 8-byte boundary, then a word of ``w`` (``u`` seen as uint64) at a
    time while it equals ``pattern`` (0, or 1 in every byte), then bytes again."""
    while g < stop and (g & 7) != 0:
        if (u[g] != 0) != set_bytes:
            return g
        g += 1
    while g + 8 <= stop:
        if w[g >> 3] != pattern:
            break
        g += 8
    while g < stop and (u[g] != 0) == set_bytes:
        g += 1
    return g


@jit
def _runs(grid):  # pragma: no cover - compiled
    """Runs of True per row: (row_ptr (ny+1,), start (R,), end (R,), inclusive ends).

    The runs are counted first by a branch-free pass (a run starts at a set byte after
    a clear one), then found by skipping uniform stretches eight bytes at a time.
    """
    ny, nx = grid.shape
    u2 = grid.view(np.uint8)
    count = 0
    for i in range(ny):
        row = u2[i]
        c = np.uint32(row[0] != 0)
        for j in range(1, nx):
            c += np.uint32((row[j] != 0) & (row[j - 1] == 0))
        count += c
    u = u2.reshape(ny * nx)
    w = u[: (ny * nx) // 8 * 8].view(np.uint64)
    ones = np.uint64(0x0101010101010101)
    ptr = np.zeros(ny + 1, dtype=np.int64)
    start = np.empty(count, dtype=np.int64)
    end = np.empty(count, dtype=np.int64)
    r = 0
    for i in range(ny):
        g0 = i * nx
        g = g0
        stop = g0 + nx
        while g < stop:
            g = _skip(u, w, g, stop, False, np.uint64(0))
            if g == stop:
                break
            s = g
            g = _skip(u, w, g, stop, True, ones)  # advances: the byte at s is set
            start[r] = s - g0
            end[r] = g - 1 - g0
            r += 1
        ptr[i + 1] = r
    return ptr, start, end


@jit
def _join_rows(ptr, start, end, parent, reach):  # pragma: no cover - compiled
    """Union runs of adjacent rows that touch: overlap extended by ``reach`` (1: 8-conn, 0: 4)."""
    ny = ptr.shape[0] - 1
    for i in range(1, ny):
        a = ptr[i - 1]
        a_end = ptr[i]
        b = ptr[i]
        b_end = ptr[i + 1]
        while a < a_end and b < b_end:
            if start[a] <= end[b] + reach and start[b] <= end[a] + reach:
                _union(parent, a, b)
            # advance the run that ends first
            if end[a] < end[b]:
                a += 1
            else:
                b += 1


@jit
def _blocks(valid, b):  # pragma: no cover - compiled
    """The grid of b x b blocks of ``valid`` ("any pixel set"); ``valid`` itself for b = 1.

    The rows of a block row are OR-ed as bytes (a loop that vectorises), then each block's
    b bytes; b = 2 (maps of 1024-1535 px) has its own unrolled loop."""
    ny, nx = valid.shape
    if b == 1:
        return valid
    my = (ny + b - 1) // b
    mx = (nx + b - 1) // b
    u = valid.view(np.uint8)
    small = np.zeros((my, mx), dtype=np.uint8)
    acc = np.zeros(mx * b, dtype=np.uint8)
    for bi in range(my):
        i0 = bi * b
        i1 = min(ny, i0 + b)
        acc[:nx] = u[i0]
        for i in range(i0 + 1, i1):
            row = u[i]
            for j in range(nx):
                acc[j] |= row[j]
        srow = small[bi]
        if b == 2:
            for bj in range(mx):
                srow[bj] = acc[2 * bj] | acc[2 * bj + 1]
        else:
            for bj in range(mx):
                a = acc[bj * b]
                for t in range(1, b):
                    a |= acc[bj * b + t]
                srow[bj] = a
    return small.view(np.bool_)


@jit
def _main_component(small):  # pragma: no cover - compiled
    """Runs of ``small`` and which of them form its largest 8-connected component.

    Returns (ptr, start, end, in_main, n_main) as :func:`_runs` plus a bool per run
    (all False and n_main = 0 for an empty grid). Ties go to the component whose first
    pixel comes first in raster order.
    """
    ptr, start, end = _runs(small)
    nr = start.shape[0]
    in_main = np.zeros(nr, dtype=np.bool_)
    if nr == 0:
        return ptr, start, end, in_main, 0
    parent = np.arange(nr)
    _join_rows(ptr, start, end, parent, 1)
    size = np.zeros(nr, dtype=np.int64)
    for r in range(nr):
        size[_find(parent, r)] += end[r] - start[r] + 1
    main = 0
    for r in range(nr):  # roots are the first run of their component: raster order
        if parent[r] == r and size[r] > size[main]:
            main = r
    n_main = 0
    for r in range(nr):
        if _find(parent, r) == main:
            in_main[r] = True
            n_main += 1
    return ptr, start, end, in_main, n_main


@jit
def circle_region_counts(valid, b):  # pragma: no cover - compiled
    """Per-row and per-column pixel counts of the filled main region of ``valid``.

    Parameters
    ----------
    valid : bool (ny, nx)
    b : int
        Block size (>= 1); components are found on the grid of b x b blocks.

    Returns
    -------
    row_count : int64 (ny,)
    col_count : int64 (nx,)
        Zero everywhere when ``valid`` has no pixel.
    """
    ny, nx = valid.shape
    my = (ny + b - 1) // b
    mx = (nx + b - 1) // b
    bcol = np.empty(nx, dtype=np.int64)  # block column of each column (no division per pixel)
    for j in range(nx):
        bcol[j] = j // b
    small = _blocks(valid, b)
    ptr, start, end, in_main, n_main = _main_component(small)
    row_count = np.zeros(ny, dtype=np.int64)
    col_count = np.zeros(nx, dtype=np.int64)
    if n_main == 0:
        return row_count, col_count
    # gaps of the main component in each row (runs of its complement), 4-connected
    gptr = np.zeros(my + 1, dtype=np.int64)
    gs = np.empty(n_main + my, dtype=np.int64)
    ge = np.empty(n_main + my, dtype=np.int64)
    g = 0
    for i in range(my):
        col = 0
        for r in range(ptr[i], ptr[i + 1]):
            if in_main[r]:
                if start[r] > col:
                    gs[g] = col
                    ge[g] = start[r] - 1
                    g += 1
                col = end[r] + 1
        if col < mx:
            gs[g] = col
            ge[g] = mx - 1
            g += 1
        gptr[i + 1] = g
    gparent = np.arange(g)
    _join_rows(gptr, gs, ge, gparent, 0)
    border = np.zeros(g, dtype=np.bool_)
    for i in range(my):
        for r in range(gptr[i], gptr[i + 1]):
            if i == 0 or i == my - 1 or gs[r] == 0 or ge[r] == mx - 1:
                border[_find(gparent, r)] = True
    filled = np.zeros((my, mx), dtype=np.bool_)
    for i in range(my):
        for r in range(ptr[i], ptr[i + 1]):
            if in_main[r]:
                for j in range(start[r], end[r] + 1):
                    filled[i, j] = True
        for r in range(gptr[i], gptr[i + 1]):
            if not border[_find(gparent, r)]:  # a hole
                for j in range(gs[r], ge[r] + 1):
                    filled[i, j] = True
    if b == 1:
        for i in range(ny):
            frow = filled[i]
            c = 0
            for j in range(nx):
                if frow[j]:
                    c += 1
                    col_count[j] += 1
            row_count[i] = c
        return row_count, col_count
    # blocks inside the filled region (3 x 3 erosion, outside the grid counts as empty):
    # state 2 inside, 1 on the region's edge (count the valid pixels), 0 outside
    horiz = np.zeros((my, mx), dtype=np.uint8)
    for i in range(my):
        f = filled[i]
        h = horiz[i]
        for j in range(mx - 2):
            h[j + 1] = f[j] & f[j + 1] & f[j + 2]
    # per block row: inner blocks count whole (no pixel visited), edge blocks pixel by pixel
    inner_rows = np.zeros(mx, dtype=np.int64)  # full-resolution rows counted whole, per block col
    edge = np.empty(mx, dtype=np.int64)
    for bi in range(my):
        f = filled[bi]
        r0 = bi * b
        r1 = min(ny, r0 + b)
        n_inner = 0
        ne = 0
        for bj in range(mx):
            inner = 0
            if 0 < bi < my - 1:
                inner = horiz[bi - 1, bj] & horiz[bi, bj] & horiz[bi + 1, bj]
            if inner:
                n_inner += min(nx, (bj + 1) * b) - bj * b
                inner_rows[bj] += r1 - r0
            elif f[bj]:
                edge[ne] = bj
                ne += 1
        for i in range(r0, r1):
            row = valid[i]
            c = n_inner
            for e in range(ne):
                j0 = edge[e] * b
                for t in range(min(b, nx - j0)):
                    if row[j0 + t]:
                        c += 1
                        col_count[j0 + t] += 1
            row_count[i] = c
    for j in range(nx):
        col_count[j] += inner_rows[bcol[j]]
    return row_count, col_count


@pjit
def radius_mask(dx2, dy2, lo2, hi2, out):  # pragma: no cover - compiled
    """``out[i, j] = lo2 <= dx2[j] + dy2[i] <= hi2``: a disk (lo2 < 0) or an annulus.

    ``dx2``, ``dy2`` are the squared offsets of the columns and rows from the centre
    (float64 (nx,), (ny,)); one addition and two comparisons per pixel, so the result
    is the one of NumPy's ``dx2[None, :] + dy2[:, None]`` exactly, without its
    float temporary. ``out`` : bool (ny, nx), written.
    """
    ny = dy2.shape[0]
    nx = dx2.shape[0]
    for i in prange(ny):
        d = dy2[i]
        row = out[i]
        for j in range(nx):
            r2 = dx2[j] + d
            row[j] = (r2 <= hi2) & (r2 >= lo2)


@jit
def _column_ends(valid, ptr, start, end, in_main, b, out, from_top):  # pragma: no cover
    """First (``from_top``) or last valid pixel of every column within the main runs'
    blocks, written into ``out`` (-1 stays where a column has none)."""
    ny, nx = valid.shape
    my = ptr.shape[0] - 1
    for k in range(my):
        bi = k if from_top else my - 1 - k
        r0 = bi * b
        r1 = min(ny, r0 + b)
        for r in range(ptr[bi], ptr[bi + 1]):
            if not in_main[r]:
                continue
            for j in range(start[r] * b, min(nx, (end[r] + 1) * b)):
                if out[j] >= 0:
                    continue
                for t in range(r1 - r0):
                    i = r0 + t if from_top else r1 - 1 - t
                    if valid[i, j]:
                        out[j] = i
                        break


@jit
def main_region_outline(valid, b):  # pragma: no cover - compiled
    """Outermost pixels of the main region of ``valid``, row by row and column by column.

    The main region is the largest 8-connected component of the grid of b x b blocks
    (as :func:`circle_region_counts` finds it); pixels of ``valid`` outside its blocks
    (specks, other parts) are ignored. Only the pixels near the ends of each run are
    visited.

    Parameters
    ----------
    valid : bool (ny, nx)
    b : int
        Block size (>= 1).

    Returns
    -------
    row_first, row_last : int64 (ny,)
        Column of the first and last valid pixel of the main region in each row
        (-1 where the row holds none).
    col_first, col_last : int64 (nx,)
        Row of the first and last valid pixel of the main region in each column
        (-1 where the column holds none).
    """
    ny, nx = valid.shape
    row_first = np.full(ny, -1, dtype=np.int64)
    row_last = np.full(ny, -1, dtype=np.int64)
    col_first = np.full(nx, -1, dtype=np.int64)
    col_last = np.full(nx, -1, dtype=np.int64)
    small = _blocks(valid, b)
    ptr, start, end, in_main, n_main = _main_component(small)
    if n_main == 0:
        return row_first, row_last, col_first, col_last
    my = ptr.shape[0] - 1
    for bi in range(my):
        r0 = bi * b
        r1 = min(ny, r0 + b)
        for r in range(ptr[bi], ptr[bi + 1]):
            if not in_main[r]:
                continue
            j0 = start[r] * b
            j1 = min(nx, (end[r] + 1) * b)
            for i in range(r0, r1):
                row = valid[i]
                j = j0
                while j < j1 and not row[j]:
                    j += 1
                if j == j1:
                    continue
                if row_first[i] < 0 or j < row_first[i]:
                    row_first[i] = j
                j = j1 - 1
                while not row[j]:
                    j -= 1
                if j > row_last[i]:
                    row_last[i] = j
    # columns: top-down for the first pixel, bottom-up for the last (each column is
    # scanned only until it is found)
    _column_ends(valid, ptr, start, end, in_main, b, col_first, True)
    _column_ends(valid, ptr, start, end, in_main, b, col_last, False)
    return row_first, row_last, col_first, col_last


@jit
def _add_point(ix, iy, how, n, i, c, bit, nx):  # pragma: no cover - compiled
    """Append point (row i, column c) found by ``bit`` to the first ``n`` of (ix, iy,
    how), or add the bit to the last point when it is the same pixel (points come in
    row-major order); a column on the array's border is left out. Returns the new n."""
    if c <= 0 or c >= nx - 1:
        return n
    if n > 0 and iy[n - 1] == i and ix[n - 1] == c:
        how[n - 1] |= bit
        return n
    ix[n] = c
    iy[n] = i
    how[n] = bit
    return n + 1


@jit
def outline_points(valid, b):  # pragma: no cover - compiled
    """The distinct outer edge pixels of the main region of ``valid`` that are not on the
    array's border, in row-major order, with how each was found.

    The edge pixels are those of :func:`main_region_outline`: the first and last pixel
    of the main region in every row and in every column. A pixel found more than once
    is listed once.

    Parameters
    ----------
    valid : bool (ny, nx)
    b : int
        Block size of :func:`main_region_outline` (>= 1).

    Returns
    -------
    ix, iy : int64 (n,)
        Column and row of each point, sorted by ``iy * nx + ix``.
    how : int64 (n,)
        Bit 1: the first or last pixel of its row; bit 2: of its column.
    """
    ny, nx = valid.shape
    row_first, row_last, col_first, col_last = main_region_outline(valid, b)
    # bucket the points by row (counting sort): the row's own two, then the columns whose
    # first or last pixel lies in it, in increasing column order
    start = np.zeros(ny + 1, dtype=np.int64)
    for i in range(ny):
        if row_first[i] >= 0:
            start[i + 1] += 2
    for j in range(nx):
        if col_first[j] >= 0:
            start[col_first[j] + 1] += 1
            start[col_last[j] + 1] += 1
    for i in range(ny):
        start[i + 1] += start[i]
    total = start[ny]
    col = np.empty(total, dtype=np.int64)
    pos = start[:ny].copy()
    for i in range(ny):
        if row_first[i] >= 0:
            pos[i] += 2  # the row's own two are merged in below, not stored
    for j in range(nx):
        if col_first[j] >= 0:
            for r in (col_first[j], col_last[j]):
                col[pos[r]] = j
                pos[r] += 1
    ix = np.empty(total, dtype=np.int64)
    iy = np.empty(total, dtype=np.int64)
    how = np.empty(total, dtype=np.int64)
    n = 0
    for i in range(1, ny - 1):  # the border rows are left out
        a = start[i]
        e = start[i + 1]
        if a == e:
            continue
        # the row's points: its first and last pixel, merged into the (sorted) column
        # points; equal columns are one point with both bits
        lo = row_first[i]
        hi = row_last[i]
        t = a
        if lo >= 0:
            t += 2
        for c_row in (lo, hi):
            if c_row < 0:
                continue
            while t < e and col[t] < c_row:
                n = _add_point(ix, iy, how, n, i, col[t], 2, nx)
                t += 1
            n = _add_point(ix, iy, how, n, i, c_row, 1, nx)
        while t < e:
            n = _add_point(ix, iy, how, n, i, col[t], 2, nx)
            t += 1
    return ix[:n], iy[:n], how[:n]


@jit
def component_boxes(valid, reach):  # pragma: no cover - compiled
    """Connected components of ``valid`` with their pixel counts and bounding boxes.

    Parameters
    ----------
    valid : bool (ny, nx)
    reach : int
        0: 4-connected (pixels sharing an edge), 1: 8-connected (also a corner).

    Returns
    -------
    count, r0, r1, c0, c1 : int64 (n,)
        Pixels and bounding box (rows r0:r1, columns c0:c1, ends exclusive) of each
        component, in the raster order of the components' first pixels (the order
        :func:`scipy.ndimage.label` numbers them).
    """
    ptr, start, end = _runs(valid)
    nr = start.shape[0]
    parent = np.arange(nr)
    _join_rows(ptr, start, end, parent, reach)
    ny = ptr.shape[0] - 1
    row_of = np.empty(nr, dtype=np.int64)
    for i in range(ny):
        for r in range(ptr[i], ptr[i + 1]):
            row_of[r] = i
    slot = np.full(nr, -1, dtype=np.int64)
    n = 0
    for r in range(nr):  # roots are the first run of their component: raster order
        if _find(parent, r) == r:
            slot[r] = n
            n += 1
    count = np.zeros(n, dtype=np.int64)
    r0 = np.full(n, ny, dtype=np.int64)
    r1 = np.zeros(n, dtype=np.int64)
    c0 = np.full(n, valid.shape[1], dtype=np.int64)
    c1 = np.zeros(n, dtype=np.int64)
    for r in range(nr):
        k = slot[_find(parent, r)]
        count[k] += end[r] - start[r] + 1
        i = row_of[r]
        if i < r0[k]:
            r0[k] = i
        if i + 1 > r1[k]:
            r1[k] = i + 1
        if start[r] < c0[k]:
            c0[k] = start[r]
        if end[r] + 1 > c1[k]:
            c1[k] = end[r] + 1
    return count, r0, r1, c0, c1


# ----------------------------------------------------------------------------- circles


@jit
def _lmeds_best_circle(xs, ys, ux, uy, ur):  # pragma: no cover - compiled
    """The candidate circle most points lie on: least median of distances.

    The score of circle ``c`` is ``median_k | |(xs[k] - ux[c], ys[k] - uy[c])| - ur[c] |``;
    the first circle with the smallest score wins (as ``argmin`` of all the scores). A
    circle with fewer than m/2 points closer than the best score so far cannot beat it
    and is not ranked (its median is not computed).

    Parameters
    ----------
    xs, ys : float64 (m,)
        Point coordinates (mm), m >= 1.
    ux, uy, ur : float64 (c,)
        Centres and radii (mm) of the candidate circles, c >= 1.

    Returns
    -------
    best : int
        Index of the winning circle.
    score : float
        Its median distance (mm).
    """
    m = xs.shape[0]
    buf = np.empty(m)
    best = -1
    score = np.inf
    for c in range(ux.shape[0]):
        cx = ux[c]
        cy = uy[c]
        r = ur[c]
        closer = 0
        for k in range(m):
            ex = xs[k] - cx
            ey = ys[k] - cy
            v = abs(math.sqrt(ex * ex + ey * ey) - r)
            buf[k] = v
            closer += v < score
        # the median is below the score only if at least half of the values are
        if best >= 0 and 2 * closer < m:
            continue
        med = np.median(buf)
        if best < 0 or med < score:
            best = c
            score = med
    return best, score


@jit
def _circle_gauss_newton(x, y, inl, cx, cy, r):  # pragma: no cover - compiled
    """Least-squares circle ``min Σ (|p - c| - R)²`` over the points with ``inl`` set, by
    Gauss-Newton from (cx, cy, r) (at most 20 steps; stops when a step is below
    1e-10 max(R, 1)); the 3 x 3 normal equations are solved by Cramer's rule (a
    singular system stops the iteration, as a LAPACK solve would raise)."""
    n = x.shape[0]
    for _ in range(20):
        a00 = 0.0
        a01 = 0.0
        a02 = 0.0
        a11 = 0.0
        a12 = 0.0
        cnt = 0.0
        g0 = 0.0
        g1 = 0.0
        g2 = 0.0
        for k in range(n):
            if not inl[k]:
                continue
            dxp = x[k] - cx
            dyp = y[k] - cy
            d = math.sqrt(dxp * dxp + dyp * dyp)
            if not d > 0.0:
                d = 1e-300
            ux = dxp / d
            uy = dyp / d
            res = d - r
            a00 += ux * ux
            a01 += ux * uy
            a02 += ux
            a11 += uy * uy
            a12 += uy
            cnt += 1.0
            g0 += ux * res
            g1 += uy * res
            g2 += res
        # [[a00 a01 a02] [a01 a11 a12] [a02 a12 cnt]] s = g
        c00 = a11 * cnt - a12 * a12
        c01 = a02 * a12 - a01 * cnt
        c02 = a01 * a12 - a02 * a11
        det = a00 * c00 + a01 * c01 + a02 * c02
        if det == 0.0 or not math.isfinite(det):
            break
        c11 = a00 * cnt - a02 * a02
        c12 = a01 * a02 - a00 * a12
        c22 = a00 * a11 - a01 * a01
        s0 = (c00 * g0 + c01 * g1 + c02 * g2) / det
        s1 = (c01 * g0 + c11 * g1 + c12 * g2) / det
        s2 = (c02 * g0 + c12 * g1 + c22 * g2) / det
        cx += s0
        cy += s1
        r += s2
        if max(abs(s0), abs(s1), abs(s2)) < 1e-10 * max(r, 1.0):
            break
    return cx, cy, r


@jit
def _refine_circle(x, y, cx, cy, r, min_tol, min_points, max_rounds, inl):  # pragma: no cover
    """Robust refinement of a circle through edge points.

    Repeated at most ``max_rounds`` times: the points within
    ``max(min_tol, 3 sigma)`` of the circle are its inliers (sigma = 1.4826 x the
    median distance of the current inliers, or of all points in the first round),
    and the circle is refitted to them by geometric least squares (Gauss-Newton);
    stops when the inlier set no longer changes.

    Parameters
    ----------
    x, y : float64 (n,)
        Edge points (mm).
    cx, cy, r : float
        Starting circle (mm).
    min_tol : float
        Smallest inlier distance (mm).
    min_points : int
        Fewer inliers than this end the refinement with status 1.
    max_rounds : int
    inl : bool (n,)
        Written: the final inliers.

    Returns
    -------
    cx, cy, r : float
        The refined circle (mm).
    status : int
        0: refined; 1: fewer than ``min_points`` points lie on one circle.
    """
    n = x.shape[0]
    e = np.empty(n)
    buf = np.empty(n)
    new = np.empty(n, dtype=np.bool_)
    inl[:] = False
    n_inl = 0
    for _ in range(max_rounds):
        m = 0
        for k in range(n):
            ex = x[k] - cx
            ey = y[k] - cy
            e[k] = math.sqrt(ex * ex + ey * ey) - r
            if n_inl == 0 or inl[k]:
                buf[m] = abs(e[k])
                m += 1
        sigma = 1.4826 * np.median(buf[:m])
        tol = max(min_tol, 3.0 * sigma)
        cnt = 0
        same = True
        for k in range(n):
            v = abs(e[k]) <= tol
            new[k] = v
            if v:
                cnt += 1
            if v != inl[k]:
                same = False
        if cnt < min_points:
            return cx, cy, r, 1
        if same:
            break
        inl[:] = new
        n_inl = cnt
        cx, cy, r = _circle_gauss_newton(x, y, inl, cx, cy, r)
    return cx, cy, r, 0


@jit
def edge_circle_fit(x, y, xs, ys, ux, uy, ur, min_tol, min_points, max_rounds,
                    inl):  # pragma: no cover - compiled
    """The circle of a region's edge points: the candidate most of the points ``xs, ys``
    lie on (:func:`_lmeds_best_circle`), refined on all the points ``x, y``
    (:func:`_refine_circle`).

    Parameters
    ----------
    x, y : float64 (n,)
        Edge points (mm).
    xs, ys : float64 (m,)
        The points the candidates are ranked on (a subset of ``x, y``), m >= 1.
    ux, uy, ur : float64 (c,)
        Candidate circles (mm), c >= 1.
    min_tol, min_points, max_rounds, inl
        As :func:`_refine_circle`.

    Returns
    -------
    cx, cy, r : float
        The circle (mm).
    status : int
        0: found; 1: fewer than ``min_points`` points lie on one circle.
    """
    best, _ = _lmeds_best_circle(xs, ys, ux, uy, ur)
    return _refine_circle(x, y, ux[best], uy[best], ur[best], min_tol, min_points,
                          max_rounds, inl)
