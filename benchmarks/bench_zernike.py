"""Zernike fit benchmark: this package (fresh / cached geometry) vs NumPy lstsq vs prysm.

A fresh geometry gathers the mask's and the data's Legendre moments in one pass
and builds the Gram matrix per strip; a cached one reads the data once.

Cases: 37 (Fringe), 66 (Noll) and 231 (ANSI, n <= 20) terms on the circle
inscribed in N x N maps. Every implementation fits the same map; the NumPy
reference and prysm materialise the full basis, so they are skipped where that
basis would exceed :data:`MEMORY_LIMIT_BYTES`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import metrology as mt
from metrology.zernike_schemes import first_index
from tests.reference import radial_coefficients

from ._harness import row

MEMORY_LIMIT_BYTES = 3 * 2**30
CASES = (("fringe", 37), ("noll", 66), ("ansi", 231))


def _map(n: int, scheme: str, k: int, seed: int = 0) -> mt.HeightMap:
    rng = np.random.default_rng(seed)
    s = mt.zernike_surface(rng.normal(size=k), shape=(n, n), dx_mm=0.05, scheme=scheme)
    return s.replace(s.z_nm + rng.normal(scale=0.1, size=s.shape))


def numpy_basis(nm: list[tuple[int, int]], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Plain NumPy basis (P, K): factorial radial sum, float64, rms-normalised."""
    rho = np.hypot(x, y)
    th = np.arctan2(y, x)
    out = np.empty((x.size, len(nm)))
    for i, (n, m) in enumerate(nm):
        am = abs(m)
        r = np.zeros_like(rho)
        for c, p in radial_coefficients(n, m):  # the one factorial formula, tests/reference.py
            r += float(c) * rho ** p
        ang = np.cos(am * th) if m >= 0 else np.sin(am * th)
        out[:, i] = np.sqrt(2 * (n + 1) / (2 if m == 0 else 1)) * r * ang
    return out


def run(sizes: tuple[int, ...] = (512, 1024, 2048), quick: bool = False) -> list[dict[str, Any]]:
    """Time every implementation for every (terms, size); see module docstring."""
    if quick:
        sizes = tuple(s for s in sizes if s <= 512) or (256,)
    rows: list[dict[str, Any]] = []
    kw = {"repeat": 3 if quick else 7, "budget_s": 0.5 if quick else 3.0}
    for scheme, k in CASES:
        if quick and k > 66:
            continue
        for n in sizes:
            hm = _map(n, scheme, k)
            case = f"zernike fit {k} terms"
            radius = 0.5 * (n - 1) * 0.05

            def fresh(hm=hm, scheme=scheme, k=k, radius=radius):
                mt.clear_geometry_cache()
                return mt.fit_zernike(hm, k, scheme=scheme, r_norm_mm=radius,
                                      centre_mm=(0.0, 0.0)).coefficients_nm

            def cached(hm=hm, scheme=scheme, k=k, radius=radius):
                return mt.fit_zernike(hm, k, scheme=scheme, r_norm_mm=radius,
                                      centre_mm=(0.0, 0.0)).coefficients_nm

            npx = int(hm.n_valid)
            r = row(case, "metrology (fresh geometry)", n, fresh, **kw)
            r["note"] = "one pass of Legendre moments + Gram matrix per strip"
            rows.append(r)
            cached()
            r = row(case, "metrology (cached geometry)", n, cached, **kw)
            # a cached fit reads the map once (data moments): bytes of the heights / time
            r["gbps"] = 8 * n * n / r["median_s"] / 1e9
            r["note"] = "data moments only (heights read once)"
            rows.append(r)
            j0 = first_index(scheme)
            nm = [mt.zernike_order(scheme, j) for j in range(j0, j0 + k)]
            big = npx * k * 8 * 3 > MEMORY_LIMIT_BYTES
            x = (hm.grid_mm()[0][hm.valid]) / radius
            y = (hm.grid_mm()[1][hm.valid]) / radius
            z = hm.z_nm[hm.valid]

            def numpy_ref(nm=nm, x=x, y=y, z=z):
                return np.linalg.lstsq(numpy_basis(nm, x, y), z, rcond=None)[0]

            slow = quick or (n >= 2048 and k > 37)
            rows.append(row(case, "numpy lstsq", n, numpy_ref,
                            skip="basis too large" if big else ("slow; not run" if slow and n > 1024
                                                                else None),
                            warmup=0, repeat=3, budget_s=1.0, min_repeat=1))
            rows.append(_prysm_row(case, n, hm, nm, radius, quick or big or n > 1024))
    return rows


def _prysm_row(case: str, n: int, hm: mt.HeightMap, nm, radius: float, skip: bool):
    try:
        from prysm.coordinates import cart_to_polar
        from prysm.polynomials import lstsq as p_lstsq
        from prysm.polynomials import zernike_nm_sequence
    except Exception:  # noqa: BLE001
        return row(case, "prysm", n, skip="prysm not installed")
    if skip:
        return row(case, "prysm", n, skip="too large / slow for this run")
    X, Y = hm.grid_mm()
    r, t = cart_to_polar(X / radius, Y / radius)
    data = hm.z_nm

    def fn():
        modes = list(zernike_nm_sequence(nm, r, t, norm=True))
        return p_lstsq(modes, data)

    return row(case, "prysm", n, fn, warmup=0, repeat=3, budget_s=1.0, min_repeat=1)


if __name__ == "__main__":  # pragma: no cover
    from ._harness import fmt_s

    for r in run():
        print(f"{r['case']:24s} {r['size']:5d} {r['impl']:30s} {fmt_s(r['median_s']):>10s} "
              f"{r.get('skipped', '')}")
