"""Plain-NumPy reference of the check's definitions, for the tests only.

:func:`reference_values` evaluates every criterion of one measurement of a spec
on a (noise-free) map, following ``docs/conventions.md`` and
``docs/spec-schema.md`` with its own means: the Zernike basis of
``tests/reference.py`` (the factorial formula), ``numpy.linalg.lstsq``, a
full-plane ``numpy.fft.fft2`` periodogram with a separable Hann window, its own
profile PSD and log bins. It does not call :mod:`metrology.check`,
:mod:`metrology.spectral` or :func:`metrology.fit_zernike`. The tests compare
the checker's numbers on the stored (noisy) files with these on the noise-free
maps of the same files; the datasets' truth itself comes from the generator's
parameters (:func:`metrology.synth.expected_values`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from metrology.zernike_schemes import TERMS, order_to_fringe, term_members, zernike_order

from reference import basis_reference


def _fringe_basis(xs, ys, indices, r_norm_mm, centre_mm):
    """(K, P) Fringe basis, rms normalisation, from the reference formula (in float64:
    the comparisons here are at the 1e-3 level, not the kernels' 1e-12)."""
    orders = [zernike_order("fringe", int(j)) for j in indices]
    return basis_reference(orders, xs, ys, centre_mm, r_norm_mm, dtype=np.float64).T


def _hann(n: int) -> np.ndarray:
    return np.sin(np.pi * (np.arange(n) + 0.5) / n) ** 2


class _Spectrum:
    """Full-plane periodogram of a masked map with a separable Hann window over the valid bbox."""

    def __init__(self, z: np.ndarray, valid: np.ndarray, dx: float, dy: float) -> None:
        rows = np.flatnonzero(valid.any(axis=1))
        cols = np.flatnonzero(valid.any(axis=0))
        r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        w = np.zeros(z.shape)
        w[r0:r1, c0:c1] = np.outer(_hann(r1 - r0), _hann(c1 - c0))
        w[~valid] = 0.0
        h = np.where(valid, z - z[valid].mean(), 0.0)
        ny, nx = z.shape
        self.psd2 = dx * dy * np.abs(np.fft.fft2(w * h)) ** 2 / np.sum(w[valid] ** 2)
        self.fx = np.fft.fftfreq(nx, dx)
        self.fy = np.fft.fftfreq(ny, dy)
        self.dfx, self.dfy = 1.0 / (nx * dx), 1.0 / (ny * dy)
        self.extent_mm = ((c1 - c0) * dx, (r1 - r0) * dy)
        self.nyquist = (0.5 / dx, 0.5 / dy)
        self.f = np.hypot(self.fx[None, :], self.fy[:, None])

    @property
    def f_range(self) -> tuple[float, float]:
        return 2.0 / min(self.extent_mm), min(self.nyquist)

    def band_variance(self, lo: float, hi: float) -> float:
        sel = (self.f >= lo) & (self.f < hi)
        return float(self.psd2[sel].sum()) * self.dfx * self.dfy

    def slope_variance(self, lo: float, hi: float) -> tuple[float, float]:
        sel = (self.f >= lo) & (self.f < hi)
        p = np.where(sel, self.psd2, 0.0)
        c = (2.0 * math.pi) ** 2 * self.dfx * self.dfy
        return (float((p * self.fx[None, :] ** 2).sum()) * c,
                float((p * self.fy[:, None] ** 2).sum()) * c)

    def profile_one_sided(self, axis: str) -> tuple[np.ndarray, np.ndarray, float, float]:
        """(f >= 0, P1+ [nm² mm], f_min = 2/extent along axis, Nyquist along axis)."""
        if axis == "x":
            p1 = self.psd2.sum(axis=0) * self.dfy  # two-sided P1(f_x), FFT order
            f = self.fx
            fmin, fmax = 2.0 / self.extent_mm[0], self.nyquist[0]
        else:
            p1 = self.psd2.sum(axis=1) * self.dfx
            f = self.fy
            fmin, fmax = 2.0 / self.extent_mm[1], self.nyquist[1]
        fpos = np.unique(np.abs(f))
        vals = np.array([p1[np.abs(f) == v].sum() for v in fpos])
        return fpos, vals, fmin, fmax


def _lstsq_remove(z: np.ndarray, basis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    coef, *_ = np.linalg.lstsq(basis.T, z, rcond=None)
    return coef, z - basis.T @ coef


def _psd_limit(sp: _Spectrum, c: Any) -> tuple[float | None, str]:
    line = c.line
    assert line.kind == "profile" and line.sidedness == "one-sided", "reference: profile lines"
    f, p, fmin, fmax = sp.profile_one_sided(line.direction or "x")
    worst = -math.inf
    bpd = line.bins_per_decade
    for lo, hi in c.f_ranges_per_mm:
        if lo < fmin * (1 - 1e-9) or hi > fmax * (1 + 1e-9):
            return None, "outside the resolved range"
        k0 = math.floor(math.log10(lo) * bpd + 1e-9)
        k1 = math.ceil(math.log10(hi) * bpd - 1e-9)
        edges = 10.0 ** (np.arange(k0, k1 + 1) / bpd)
        edges[0], edges[-1] = lo, hi
        for e0, e1 in zip(edges[:-1], edges[1:], strict=True):
            sel = (f >= e0) & (f < e1) & (f > 0)
            if sel.any():
                line_v = np.full(sel.sum(), np.nan)
                fs = f[sel]
                for s in line.segments:
                    inside = (fs >= s.f_lo_per_mm) & (fs < s.f_hi_per_mm)
                    line_v[inside] = s.a_nm2_mm * fs[inside] ** (-s.b)
                worst = max(worst, float(p[sel].mean() / line_v.mean()))
    if worst == -math.inf:
        return None, "no PSD sample in the line's range"
    return worst, ""


def reference_values(spec: Any, measurement: str, hm: Any, *,
                     centre_mm: tuple[float, float] = (0.0, 0.0),
                     n_sites: int | None = None) -> dict[str, float | None]:
    """criterion id -> value (``None``: not measurable) on ``hm`` (see the module doc).

    The clear aperture is a circle about ``centre_mm`` (the true part centre);
    the measurement's removed terms and, with Zernike criteria, the joint fit of
    their ``joint_fit_terms`` (Fringe, rms, R_norm of the spec) are removed by
    least squares over the aperture; PSD criteria use the residual's
    mean-removed, Hann-windowed periodogram.
    """
    m = spec.measurements[measurement]
    crits = spec.criteria_for(measurement)
    dx, dy = hm.dx_mm, hm.dy_mm
    ny, nx = hm.shape
    X, Y = np.meshgrid((np.arange(nx) - (nx - 1) / 2.0) * dx, (np.arange(ny) - (ny - 1) / 2.0) * dy)
    if m.aperture is not None:
        a = m.aperture
        region = np.hypot(X - centre_mm[0], Y - centre_mm[1]) <= a.diameter_mm / 2.0
        across = a.diameter_mm / max(dx, dy)
    else:
        region = np.ones((ny, nx), bool)
        across = min(ny * dy, nx * dx) / max(dx, dy)
    valid = region & hm.valid
    z = hm.z_nm[valid]
    xs, ys = X[valid], Y[valid]
    zern = [c for c in crits if c.TYPE in ("power", "zernike_term", "zernike_other",
                                           "form_residual", "pvr")]
    fit: dict[int, float] = {}
    form_pv = math.nan
    if zern:
        c0 = zern[0]
        terms = list(c0.joint_fit_terms)
        basis = _fringe_basis(xs, ys, terms, c0.r_norm_mm, centre_mm)
        coef, resid = _lstsq_remove(z, basis)
        fit = {j: float(v) for j, v in zip(terms, coef, strict=True)}
        form_terms = next((set(c.fit_terms) for c in zern if hasattr(c, "fit_terms")), set())
        keep = np.array([j in form_terms for j in terms])
        form = basis.T @ np.where(keep, coef, 0.0)
        form_pv = float(form.max() - form.min()) if keep.any() else math.nan
    elif m.preprocessing.remove:
        idx = [order_to_fringe(n, mm) for t in m.preprocessing.remove
               for n, mm in term_members(*TERMS[t])]
        r_circ = float(np.hypot(xs - xs.mean(), ys - ys.mean()).max())
        basis = _fringe_basis(xs, ys, idx, r_circ, (float(xs.mean()), float(ys.mean())))
        _, resid = _lstsq_remove(z, basis)
    else:
        resid = z - z.mean()
    res_map = np.full((ny, nx), np.nan)
    res_map[valid] = resid
    sp = _Spectrum(res_map, valid, dx, dy)
    f_min, f_max = sp.f_range
    res_rms = float(np.sqrt(np.mean((resid - resid.mean()) ** 2)))
    out: dict[str, float | None] = {}
    for c in crits:
        t = c.TYPE
        if t == "requirement":
            out[c.id] = {"pixels_across": across, "sites": n_sites}.get(c.quantity)
        elif t in ("power", "zernike_term"):
            out[c.id] = math.sqrt(sum(fit[j] ** 2 for j in c.terms))
        elif t == "zernike_other":
            out[c.id] = max(math.sqrt(sum(fit[j] ** 2 for j in g)) for g in c.groups)
        elif t == "form_residual":
            out[c.id] = res_rms if c.statistic == "rms" else float(resid.max() - resid.min())
        elif t == "pvr":
            out[c.id] = form_pv + 3.0 * res_rms
        elif t in ("band_rms", "band_slope"):
            b = c.band
            lo, hi = b.f_lo_per_mm, b.f_hi_per_mm
            rng = (f_min, f_max) if b.kind == "areal" else \
                sp.profile_one_sided(b.direction or "x")[2:]
            if lo < rng[0] * (1 - 1e-9) or hi > rng[1] * (1 + 1e-9):
                out[c.id] = None
            elif t == "band_rms" and b.kind == "areal":
                out[c.id] = math.sqrt(sp.band_variance(lo, hi))
            elif t == "band_rms":
                f, p, _, _ = sp.profile_one_sided(b.direction or "x")
                sel = (f >= lo) & (f < hi)
                df = sp.dfx if (b.direction or "x") == "x" else sp.dfy
                out[c.id] = math.sqrt(float(p[sel].sum()) * df)
            else:
                sx, sy = sp.slope_variance(lo, hi)
                out[c.id] = (math.sqrt(sx + sy) if b.kind == "areal" else
                             math.sqrt(sx if (b.direction or "x") == "x" else sy))
        elif t == "psd_limit":
            out[c.id] = _psd_limit(sp, c)[0]
        else:
            raise AssertionError(f"the reference has no definition for {t}")
    return out
