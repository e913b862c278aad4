"""PSD benchmark: window + 2-D PSD + radial PSD + 4 band RMS, against prysm and NumPy.

Case ``psd+radial+4 bands`` on an N x N map (dx = 0.01 mm, Hann window,
mean removed), one run per implementation and size, medians from one process:

* ``metrology``: :func:`metrology.spectral.psd` with the bands precomputed in the
  fused pass, ``.radial()`` (linear bins) and 4 :func:`band_rms`; the FFT
  backend chosen at import (ducc0 when installed);
* ``metrology[scipy]``: the same with the ``scipy.fft`` fallback backend;
* ``numpy``: plain NumPy reference (complex ``fft2``, ``np.bincount`` radial
  sums, boolean band masks);
* ``prysm``: what a prysm user writes, ``Interferogram(z, dx).psd()`` (Hann,
  chosen by prysm for square data) + ``.slices().azavg`` +
  ``Interferogram.bandlimited_rms`` per band, which recomputes the PSD for
  every band;
* ``prysm[one psd]``: the functional API with one PSD reused,
  ``prysm.interferogram.psd(z, dx, "hann")`` + ``RichData.slices().azavg`` +
  ``prysm.interferogram.bandlimited_rms`` per band.

prysm 0.21 calls ``np.trapz``, removed in NumPy 2: aliased to
``np.trapezoid`` here.

Extra rows: the real FFT alone (``rfft2``, both backends) so that the share
of the FFT in the ``metrology`` time can be read off, and the first call of a
fresh process that loads the kernels from the Numba cache.

Run ``python -m benchmarks.bench_psd`` (``--quick`` for a < 20 s smoke run).
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

import metrology as mt
from kernels import fft as kfft
from kernels._config import num_threads

from ._harness import fmt_s, timeit

# the module (the package may export the function `psd` under the same name)
mp = importlib.import_module("metrology.spectral")

CASE = "psd+radial+4 bands"
DX_MM = 0.01
#: bands as fractions of Nyquist (so every size does the same work per cell)
BAND_FRACTIONS = ((0.02, 0.1), (0.1, 0.25), (0.25, 0.5), (0.5, 1.0))
PRYSM_MAX_SIZE = 4096


def _row(case: str, impl: str, size: int, fn: Callable[[], Any] | None, repeat: int,
         budget_s: float, skip: str | None = None, warmup: bool = True) -> dict[str, Any]:
    base: dict[str, Any] = {"case": case, "impl": impl, "size": size}
    if fn is None:
        return {**base, "median_s": None, "iqr_s": None, "n": 0, "skipped": skip or "n/a"}
    return {**base, **timeit(fn, warmup=1 if warmup else 0, repeat=repeat, budget_s=budget_s)}


def _map(n: int) -> mt.HeightMap:
    rng = np.random.default_rng(n)
    return mt.HeightMap(rng.standard_normal((n, n)), DX_MM)


def _bands(n: int) -> list[tuple[float, float]]:
    nyq = 0.5 / DX_MM
    return [(a * nyq, b * nyq) for a, b in BAND_FRACTIONS]


def metrology_impl(hm: mt.HeightMap, bands, backend: str | None = None):
    """Window + PSD + radial PSD + band RMS with this package."""
    p = mp.psd(hm, window="hann", remove=("piston",), bands=bands, backend=backend)
    r = p.radial()
    return r, [mp.band_rms(p, lo, hi) for lo, hi in bands]


def numpy_impl(z: np.ndarray, dx: float, bands):
    """Plain NumPy: Hann window, complex fft2, |F|², bincount radial sums, masked band sums."""
    ny, nx = z.shape
    h = z - z.mean()
    w = np.outer(np.sin(np.pi * (np.arange(ny) + 0.5) / ny) ** 2,
                 np.sin(np.pi * (np.arange(nx) + 0.5) / nx) ** 2)
    psd2 = dx * dx * np.abs(np.fft.fft2(w * h)) ** 2 / np.sum(w * w)
    fx = np.fft.fftfreq(nx, dx)
    fy = np.fft.fftfreq(ny, dx)
    f = np.sqrt(fx[None, :] ** 2 + fy[:, None] ** 2)
    df = 1.0 / (nx * dx)
    cell = df * df
    k = np.floor(f / df + 0.5).astype(np.int64)
    nb = nx // 2
    inside = k < nb
    radial = np.bincount(k[inside], weights=psd2[inside], minlength=nb) * cell / df
    out = [np.sqrt(np.sum(psd2[(f >= lo) & (f < hi)]) * cell) for lo, hi in bands]
    return radial, out


def _prysm_setup():
    import prysm.interferogram as pi
    from prysm._richdata import RichData

    if not hasattr(np, "trapz"):  # prysm 0.21 on NumPy 2
        setattr(np, "trapz", np.trapezoid)  # noqa: B010
    return pi, RichData


def prysm_methods_impl(pi, z: np.ndarray, dx: float, bands):
    """prysm 0.21 object API: Interferogram.psd + azavg + Interferogram.bandlimited_rms."""
    ifg = pi.Interferogram(z - z.mean(), dx=dx)
    az = ifg.psd().slices().azavg
    out = [ifg.bandlimited_rms(flow=lo, fhigh=hi) for lo, hi in bands]
    return az, out


def prysm_impl(pi, RichData, z: np.ndarray, dx: float, bands):
    """prysm 0.21 functional API: one psd (Hann) + azimuthal average + bandlimited_rms."""
    ux, uy, psd_ = pi.psd(z - z.mean(), dx, window="hann")
    p = RichData(psd_, 0, 0.6328)
    p.x = ux
    p.y = uy
    p.dx = ux[0, 1] - ux[0, 0]
    az = p.slices().azavg
    r = np.sqrt(ux ** 2 + uy ** 2)
    out = [pi.bandlimited_rms(r, psd_, flow=lo, fhigh=hi) for lo, hi in bands]
    return az, out


def cache_load_seconds() -> dict[str, float]:
    """Import time and first-call time of a fresh process (kernels from the Numba cache)."""
    code = (
        "import time; t0 = time.perf_counter()\n"
        "import numpy as np, metrology as mt\n"
        "import importlib; mp = importlib.import_module('metrology.spectral')\n"
        "t1 = time.perf_counter()\n"
        "hm = mt.HeightMap(np.random.default_rng(0).standard_normal((64, 64)), 0.01)\n"
        "p = mp.psd(hm, remove=('piston',), bands=[(1.0, 5.0)]); p.radial(); "
        "mp.band_rms(p, 1.0, 5.0)\n"
        "t2 = time.perf_counter()\n"
        "print(t1 - t0, t2 - t1)\n")
    # one run to make sure the cache exists, then the measured one
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, env=dict(os.environ))
    imp, first = (float(v) for v in out.stdout.split())
    return {"import_s": imp, "first_call_s": first}


def run(sizes: tuple[int, ...] = (512, 1024, 2048, 4096), quick: bool = False
        ) -> list[dict[str, Any]]:
    """Time every implementation at every size.

    Returns rows {"case", "impl", "size", "median_s", "iqr_s", "n"}; quick mode
    runs 256² and 512² with few repeats (< 20 s).
    """
    if quick:
        sizes = tuple(s for s in sizes if s <= 512) or (256,)
        sizes = tuple(sorted(set(sizes) | {256}))
    rows: list[dict[str, Any]] = []
    try:
        pi, RichData = _prysm_setup()
        prysm_skip = None
    except ImportError as exc:  # pragma: no cover - optional
        pi = RichData = None
        prysm_skip = f"prysm not installed ({exc})"
    for n in sizes:
        hm = _map(n)
        z = hm.z_nm
        bands = _bands(n)
        big = n >= 2048
        # never time a wrong answer: the band RMS must match the NumPy reference
        ours = [b.rms_nm for b in metrology_impl(hm, bands)[1]]
        ref = numpy_impl(z, DX_MM, bands)[1]
        if not np.allclose(ours, ref, rtol=1e-9, atol=0):
            raise AssertionError(f"band RMS differs from the NumPy reference at {n}: "
                                 f"{ours} vs {ref}")
        rep = 3 if quick else (5 if big else 9)
        bud = 0.5 if quick else (6.0 if big else 3.0)
        rows.append(_row(CASE, "metrology", n, lambda hm=hm, b=bands: metrology_impl(hm, b),
                         rep * 2, bud))
        rows.append(_row(CASE, "metrology[scipy]", n,
                         lambda hm=hm, b=bands: metrology_impl(hm, b, "scipy"), rep * 2, bud))
        rows.append(_row(CASE, "numpy", n, lambda z=z, b=bands: numpy_impl(z, DX_MM, b),
                         rep, bud, warmup=not big))
        if pi is None:
            rows.append(_row(CASE, "prysm", n, None, 0, 0, skip=prysm_skip))
        elif n > PRYSM_MAX_SIZE or (quick and n > 512):
            rows.append(_row(CASE, "prysm", n, None, 0, 0, skip="size above the prysm limit"))
        else:
            # nothing to compile: no untimed warm-up for the slow reference at large sizes
            rows.append(_row(CASE, "prysm", n,
                             lambda z=z, b=bands: prysm_methods_impl(pi, z, DX_MM, b),
                             3 if big else rep, bud, warmup=not big))
            rows.append(_row(CASE, "prysm[one psd]", n,
                             lambda z=z, b=bands: prysm_impl(pi, RichData, z, DX_MM, b),
                             3 if big else rep, bud, warmup=not big))
        buf = np.ascontiguousarray(z)
        for backend in ("ducc0", "scipy"):
            if backend == "ducc0" and kfft.BACKEND != "ducc0":
                rows.append(_row("rfft2", backend, n, None, 0, 0, skip="ducc0 not installed"))
                continue
            r = _row("rfft2", backend, n,
                     lambda buf=buf, b=backend: kfft.rfft2(buf, backend=b), rep * 2, bud)
            if r.get("median_s"):
                # FFTW's convention for a real transform of N points: 2.5 N log2 N flops
                r["gflops"] = 2.5 * n * n * np.log2(n * n) / r["median_s"] / 1e9
            rows.append(r)
    load = cache_load_seconds()
    rows.append({"case": "first call from Numba cache (fresh process)", "impl": "metrology",
                 "size": 64, "median_s": load["first_call_s"], "iqr_s": 0.0, "n": 1,
                 "import_s": load["import_s"]})
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown table with ratios to ``metrology`` (same case and size, same run)."""
    ref = {(r["case"], r["size"]): r["median_s"] for r in rows
           if r["impl"] == "metrology" and r["median_s"]}
    fft = {r["size"]: r["median_s"] for r in rows
           if r["case"] == "rfft2" and r["impl"] == kfft.BACKEND and r["median_s"]}
    lines = ["| case | impl | size | median | IQR | n | × metrology | FFT share |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        base = ref.get((r["case"], r["size"]))
        ratio = (f"{r['median_s'] / base:.1f}" if base and r["median_s"]
                 and r["case"] == CASE else "")
        share = ""
        if r["case"] == CASE and r["impl"] == "metrology" and r["size"] in fft:
            share = f"{fft[r['size']] / r['median_s']:.0%}"
        extra = f" (import {r['import_s']:.2f} s)" if "import_s" in r else ""
        lines.append(f"| {r['case']} | {r['impl']} | {r['size']} | {fmt_s(r['median_s'])}{extra} "
                     f"| {fmt_s(r['iqr_s'])} | {r['n']} | {ratio} | {share} |"
                     + (f" skipped: {r['skipped']}" if r.get("skipped") else ""))
    return "\n".join(lines)


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    print(f"FFT backend: {kfft.BACKEND}; threads: {num_threads()}")
    print(table(run(quick=quick)))
