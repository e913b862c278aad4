"""End-to-end pipeline: read a .datx + clear aperture + 37-term fit + PSD + radial + bands.

The same file is processed by

* this package with the Zernike geometry computed each time ("fresh"), as for
  the first file of an aperture;
* this package with the geometry cached across files of the same aperture;
* prysm's equivalent (``read_zygo_datx``, ``zernike_nm_sequence`` + ``lstsq``,
  ``psd``, ``slices().azavg``, ``bandlimited_rms`` per band on the computed
  PSD), when prysm is installed.

The map is a disk (Zernike form + isotropic f^-3 MSF + noise) filling 90 % of
an N x N array at 0.1 mm.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

import metrology as mt

from ._harness import row

BANDS = ((0.05, 0.1), (0.1, 0.5), (0.5, 1.0), (1.0, 4.0))  # cycles/mm
LIMITS = (5.0, 2.0, 1.0, 0.5)  # nm, for the verdicts
NOTES: list[str] = []


def make_map(n: int, seed: int = 0) -> mt.HeightMap:
    """A Fizeau-like synthetic map, n x n at 0.1 mm, disk of diameter 0.9 n px."""
    from metrology.synth_psd import PowerLaw, synthesize

    rng = np.random.default_rng(seed)
    dx = 0.1
    coef = np.zeros(37)
    coef[3:12] = rng.normal(scale=2.0, size=9)
    form = mt.zernike_surface(coef, shape=(n, n), dx_mm=dx, r_norm_mm=0.45 * n * dx)
    msf = synthesize(PowerLaw(0.0025, 3.0, kind="areal"), (n, n), dx, seed)
    z = form.z_nm + msf.z_nm + rng.normal(scale=0.05, size=(n, n))
    return mt.HeightMap(z, dx, meta={"instrument": "synthetic Fizeau", "wavelength_nm": 632.8})


def _ours(path: Path, fresh: bool) -> list[str]:
    from metrology.spectral import bands_rms, psd

    if fresh:
        mt.clear_geometry_cache()
    hm = mt.load(path)
    ca = mt.aperture.clear_aperture(hm, fraction=0.95)
    hm = hm.apply_mask(ca)
    fit = mt.fit_zernike(hm, 37, scheme="fringe")
    p = psd(fit.residual, window="hann", remove=())
    p.radial()
    res = bands_rms(p, BANDS)
    return ["pass" if r.rms_nm <= lim else "fail" for r, lim in zip(res, LIMITS, strict=True)]


def _stages(path: Path, fresh: bool) -> dict[str, float]:
    """Median seconds of each pipeline stage (same steps as :func:`_ours`)."""
    import time

    from metrology.spectral import bands_rms, psd

    def timed(fn):
        t0 = time.perf_counter()
        out = fn()
        return out, time.perf_counter() - t0

    acc: dict[str, list[float]] = {}
    for _ in range(5):
        if fresh:
            mt.clear_geometry_cache()
        hm, t_load = timed(lambda: mt.load(path))
        ca, t_ap = timed(lambda hm=hm: hm.apply_mask(
            mt.aperture.clear_aperture(hm, fraction=0.95)))
        fit, t_fit = timed(lambda ca=ca: mt.fit_zernike(ca, 37, scheme="fringe"))
        res, t_res = timed(lambda fit=fit: fit.residual)
        _, t_psd = timed(lambda res=res: (lambda p: (p.radial(), bands_rms(p, BANDS)))(
            psd(res, window="hann", remove=())))
        for k, v in (("load", t_load), ("aperture", t_ap), ("fit", t_fit),
                     ("residual", t_res), ("psd+radial+bands", t_psd)):
            acc.setdefault(k, []).append(v)
    return {k: float(np.median(v)) for k, v in acc.items()}


def _prysm(path: Path) -> list[str]:
    if not hasattr(np, "trapz"):  # prysm 0.21 calls np.trapz, removed in NumPy 2
        np.trapz = np.trapezoid  # type: ignore[attr-defined]  # noqa: NPY201
    from prysm.coordinates import cart_to_polar, make_xy_grid
    from prysm.interferogram import Interferogram, bandlimited_rms
    from prysm.io import read_zygo_datx
    from prysm.polynomials import lstsq, sum_of_2d_modes, zernike_nm_sequence
    from prysm.polynomials.zernike import fringe_to_nm  # prysm's name

    d = read_zygo_datx(path)
    dx = float(d["meta"]["Lateral Resolution"]) * 1e3  # m -> mm
    phase = d["phase"]
    n = phase.shape[0]
    x, y = make_xy_grid(phase.shape, dx=dx)
    r, t = cart_to_polar(x, y)
    ca = r <= 0.95 * 0.45 * n * dx
    phase = np.where(ca, phase, np.nan)
    r_norm = r / (0.95 * 0.45 * n * dx)
    nms = [fringe_to_nm(j) for j in range(1, 38)]
    modes = list(zernike_nm_sequence(nms, r_norm, t, norm=True))
    coef = lstsq(modes, phase)
    resid = phase - sum_of_2d_modes(modes, coef)
    i = Interferogram(resid, dx=dx)
    i.fill()
    p = i.psd()
    p.slices().azavg  # noqa: B018 - the radial average is part of the pipeline
    out = []
    for (lo, hi), lim in zip(BANDS, LIMITS, strict=True):
        v = bandlimited_rms(p.r, p.data, flow=lo, fhigh=hi)
        out.append("pass" if v <= lim else "fail")
    return out


def run(sizes: tuple[int, ...] = (512, 1024, 2048), quick: bool = False) -> list[dict[str, Any]]:
    """Rows for every size: ours fresh, ours cached, prysm."""
    if quick:
        sizes = (256,)
    rows: list[dict[str, Any]] = []
    case = "pipeline: read + CA + 37-term fit + PSD + radial + 4 bands"
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = Path(tmp) / f"map{n}.datx"
            try:
                mt.save(make_map(n), path)
            except mt.MetrologyError as exc:  # writer unavailable
                rows.append(row(case, "metrology (fresh geometry)", n, skip=str(exc)))
                continue
            kw = {"repeat": 3 if quick else 7, "budget_s": 0.5 if quick else 4.0}
            rows.append(row(case, "metrology (fresh geometry)", n, lambda p=path: _ours(p, True),
                            **kw))
            rows.append(row(case, "metrology (cached geometry)", n,
                            lambda p=path: _ours(p, False), **kw))
            try:
                import prysm  # noqa: F401

                have_prysm = True
            except ImportError:
                have_prysm = False
            if not have_prysm:
                rows.append(row(case, "prysm", n, skip="prysm not installed"))
            elif quick or n > 2048:
                rows.append(row(case, "prysm", n, skip="not run in this mode"))
            else:
                rows.append(row(case, "prysm", n, lambda p=path: _prysm(p), warmup=0,
                                repeat=3, budget_s=1.0, min_repeat=1))
            if n == max(sizes) and not quick:
                for label, fresh in (("fresh geometry", True), ("cached geometry", False)):
                    st = _stages(path, fresh)
                    parts = ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in st.items())
                    NOTES.append(f"Pipeline at {n}² ({label}), where the time goes (medians "
                                 f"of 5): {parts}.")
    return rows
