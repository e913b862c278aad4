"""Headline scenario: every call loads a file it has never seen, with its own mask.

This is how the package is used: a CI job or an engineer checks one new
measurement after another, and even maps of one lens type have different
dropouts, so nothing cached from the previous file (HDF5 probe verdict,
aperture circle, Zernike geometry) can be reused. Up front, N distinct
``.datx`` files are written, each with its own aperture (centre and radius
jittered), its own dropouts and a crack, and its own surface. Each timed call
takes the next file and runs, stage by stage,

1. ``load``: :func:`metrology.load` of the ``.datx``;
2. ``aperture``: clear aperture at 95 % of the best-fit circle, applied;
3. ``fit``: 37-term Fringe Zernike fit (default centre and R_norm);
4. ``residual``: the fit's residual map;
5. ``psd``: :func:`metrology.spectral.psd` with its defaults (Hann window,
   piston and tilt removed), the radial PSD and 4 band RMS.

prysm does the equivalent (``read_zygo_datx``; circle mask; ``zernike_nm_sequence``
+ ``lstsq``; ``sum_of_2d_modes``; ``Interferogram.fill`` + ``psd`` + ``azavg`` +
``bandlimited_rms`` per band) on the same new files, median of 5 calls (its multi-threaded
``lstsq`` varies by 2x from call to call on this machine).

Every stage row carries its *roof*: the time the stage's unavoidable work
takes at this machine's measured rates, ``max(bytes / copy rate, flops /
dgemm rate) (+ the FFT at ducc0's own rate)``, with the copy rate of
:func:`benchmarks._harness.peaks` (np.copyto of 256 MB, bytes read + written)
and the dgemm rate of a 2048² matmul; ``× roof`` = median / roof. The byte
and flop counts of each stage are in :data:`ROOF_MODEL`.

In each mode, this package's calls run back to back, then prysm's, as a batch
job runs its files, with a pause of :data:`SETTLE_S` between the blocks. Calls
interleaved one by one made each pay for the other's leftovers (measured at
2048²: this package's pipeline took 137 ms right after a prysm call, whose
OpenBLAS threads keep spinning ~0.1 s after its ``lstsq`` and whose 2.4 GB of
basis arrays flush the caches; 89 ms back to back; and 122 ms with a 0.2 s idle
pause before every call, the cost of a cold start after idling).

Both scenarios run twice: ``quiet`` and with one busy core beside the
benchmark (a pure-Python busy loop pinned to the last CPU with ``taskset``,
or ``os.sched_setaffinity`` when taskset is missing), as on a shared CI
runner. Ratios to prysm are taken within one mode of one run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

import metrology as mt

BANDS = ((0.05, 0.1), (0.1, 0.5), (0.5, 1.0), (1.0, 4.0))  # cycles/mm
DX_MM = 0.1
TERMS = 37
STAGES = ("load", "aperture", "fit", "residual", "psd")
#: pause between the blocks of the two implementations (s), longer than OpenBLAS's spin
#: before its threads sleep
SETTLE_S = 0.2
NOTES: list[str] = []

#: (bytes per pixel, flops per pixel) of each stage's unavoidable work; the psd stage
#: adds one ducc0 r2c of the map's size. Bytes: heights read (8) and maps written (8),
#: masks (1); fit flops: (n + 1) multiply-adds per pixel for Bᵀz (n = 12) + the Gram
#: matrix from moments (counted separately, per strip)
ROOF_MODEL = {
    "load": (16.0, 0.0),       # file data read + map written
    "aperture": (18.0, 0.0),   # heights read, masked map written, mask read and written
    "fit": (9.0, 26.0),        # heights + mask read; 13 FMA per pixel
    "residual": (17.0, 26.0),  # heights + mask read, residual written; 13 FMA per pixel
    "psd": (42.0, 0.0),        # moments pass (9) + windowed input (17) + |F|² pass (16/2 + 8)
}


def make_files(n: int, count: int, folder: Path, seed: int = 0) -> list[Path]:
    """``count`` distinct ``.datx`` files of n x n pixels, each with its own mask and surface."""
    from metrology.synth_psd import PowerLaw, synthesize

    rng = np.random.default_rng(seed)
    x = (np.arange(n) - (n - 1) / 2.0) * DX_MM
    X, Y = np.meshgrid(x, x)
    msf = synthesize(PowerLaw(0.0025, 3.0, kind="areal"), (n, n), DX_MM, seed).z_nm
    paths = []
    for k in range(count):
        coef = np.zeros(TERMS)
        coef[3:12] = rng.normal(scale=2.0, size=9)
        form = mt.zernike_surface(coef, shape=(n, n), dx_mm=DX_MM,
                                  r_norm_mm=0.45 * n * DX_MM).z_nm
        shift = rng.integers(0, n, 2)
        z = form + np.roll(msf, tuple(shift), axis=(0, 1)) + rng.normal(scale=0.05,
                                                                       size=(n, n))
        c = rng.uniform(-0.03, 0.03, 2) * n * DX_MM
        r = rng.uniform(0.42, 0.45) * n * DX_MM
        bad = (X - c[0]) ** 2 + (Y - c[1]) ** 2 > r * r
        bad |= rng.random((n, n)) < 0.002  # dropouts
        row = rng.integers(n // 4, 3 * n // 4)
        bad[row, : n // 3] = True  # a crack from the edge
        z[bad] = np.nan
        p = folder / f"newfile_{n}_{k}.datx"
        mt.save(mt.HeightMap(z, DX_MM, meta={"instrument": "synthetic Fizeau",
                                             "wavelength_nm": 632.8}), p)
        paths.append(p)
    return paths


def _record(timer: dict[str, list[float]] | None, t: list[float]) -> None:
    """Append the seconds of each stage (between the time stamps ``t``) and the total."""
    if timer is not None:
        for k, name in enumerate(STAGES):
            timer.setdefault(name, []).append(t[k + 1] - t[k])
        timer.setdefault("pipeline", []).append(t[-1] - t[0])


def ours(path: Path, timer: dict[str, list[float]] | None = None) -> list[float]:
    """The pipeline with this package; appends each stage's seconds to ``timer``."""
    from metrology.spectral import bands_rms, psd

    t = [time.perf_counter()]
    hm = mt.load(path)
    t.append(time.perf_counter())
    ca = hm.apply_mask(mt.aperture.clear_aperture(hm, fraction=0.95))
    t.append(time.perf_counter())
    fit = mt.fit_zernike(ca, TERMS, scheme="fringe")
    t.append(time.perf_counter())
    res = fit.residual
    t.append(time.perf_counter())
    p = psd(res)
    p.radial()
    out = [b.rms_nm for b in bands_rms(p, BANDS)]
    t.append(time.perf_counter())
    _record(timer, t)
    return out


def _prysm_modules():
    if not hasattr(np, "trapz"):  # prysm 0.21 calls np.trapz, removed in NumPy 2
        np.trapz = np.trapezoid  # type: ignore[attr-defined]  # noqa: NPY201
    from prysm.coordinates import cart_to_polar, make_xy_grid
    from prysm.interferogram import Interferogram, bandlimited_rms
    from prysm.io import read_zygo_datx
    from prysm.polynomials import lstsq, sum_of_2d_modes, zernike_nm_sequence
    from prysm.polynomials.zernike import fringe_to_nm

    return (cart_to_polar, make_xy_grid, Interferogram, bandlimited_rms, read_zygo_datx,
            lstsq, sum_of_2d_modes, zernike_nm_sequence, fringe_to_nm)


def prysm(path: Path, timer: dict[str, list[float]] | None = None) -> list[float]:
    """What a prysm user writes for the same pipeline (its own stages timed alike)."""
    (cart_to_polar, make_xy_grid, Interferogram, bandlimited_rms, read_zygo_datx, lstsq,
     sum_of_2d_modes, zernike_nm_sequence, fringe_to_nm) = _prysm_modules()
    t = [time.perf_counter()]
    d = read_zygo_datx(path)
    t.append(time.perf_counter())
    dx = float(d["meta"]["Lateral Resolution"]) * 1e3  # m -> mm
    phase = d["phase"]
    n = phase.shape[0]
    x, y = make_xy_grid(phase.shape, dx=dx)
    r, th = cart_to_polar(x, y)
    rca = 0.95 * 0.45 * n * dx
    phase = np.where(r <= rca, phase, np.nan)
    t.append(time.perf_counter())
    modes = list(zernike_nm_sequence([fringe_to_nm(j) for j in range(1, TERMS + 1)],
                                     r / rca, th, norm=True))
    coef = lstsq(modes, phase)
    t.append(time.perf_counter())
    resid = phase - sum_of_2d_modes(modes, coef)
    t.append(time.perf_counter())
    i = Interferogram(resid, dx=dx)
    i.fill()
    p = i.psd()
    p.slices().azavg  # noqa: B018 - the radial average is part of the pipeline
    out = [bandlimited_rms(p.r, p.data, flow=lo, fhigh=hi) for lo, hi in BANDS]
    t.append(time.perf_counter())
    _record(timer, t)
    return out


@contextlib.contextmanager
def busy_core() -> Iterator[None]:
    """A pure-Python busy loop pinned to the last CPU for the duration of the block."""
    cpu = (os.cpu_count() or 1) - 1
    code = "while True:\n    pass\n"
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", str(cpu), sys.executable, "-c", code]
    else:
        cmd = [sys.executable, "-c",
               f"import os\nif hasattr(os, 'sched_setaffinity'): os.sched_setaffinity(0, {{{cpu}}})"
               f"\n{code}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.3)  # let it reach the loop
        yield
    finally:
        proc.kill()
        proc.wait()


def _fft_seconds(n: int, repeat: int = 7) -> float:
    """ducc0's (or the fallback's) r2c of an n x n float64 map: the FFT roof."""
    from kernels import fft as kfft

    a = np.random.default_rng(0).standard_normal((n, n))
    out = np.empty((n, n // 2 + 1), np.complex128)
    kfft.rfft2(a, out=out)
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        kfft.rfft2(a, out=out)
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def _gram_flops(n: int) -> float:
    """Flops of the Gram matrix from moments for the 37-term fit at this size (per strip
    2 K M² + 2 K² M, M = 91 products of degree <= 12), for the fit stage's roof."""
    from kernels import moments as km

    x = (np.arange(n) - (n - 1) / 2.0) / (0.45 * n)
    mask = np.ascontiguousarray(x[None, :] ** 2 + x[:, None] ** 2 <= 0.95 ** 2)
    first, last = km.row_extents(mask)
    strips, _, _ = km.plan_strips(first, last, x[0], x[1] - x[0], x[0], x[1] - x[0], 12,
                                  km.LOG_GROWTH, max(1, -(-n // 8)))
    k, m = TERMS, 91
    return strips.shape[0] * (2.0 * k * m * m + 2.0 * k * k * m)


def _roof(stage: str, n: int, npx: float, pk: dict[str, float], fft_s: float,
          gram_flops: float) -> float:
    bpp, fpp = ROOF_MODEL[stage]
    mem = bpp * n * n / (pk["copy_gbps"] * 1e9)
    flops = fpp * npx + (gram_flops if stage == "fit" else 0.0)
    t = max(mem, flops / (pk["matmul_gflops"] * 1e9))
    return t + (fft_s if stage == "psd" else 0.0)


def run(sizes: tuple[int, ...] = (1024, 2048), quick: bool = False,
        peaks: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """Rows per (mode, stage, size) for ours and prysm, with roofs and × roof."""
    from ._harness import peaks as measure_peaks

    if quick:
        sizes = (256,)
    pk = peaks or measure_peaks(quick=quick)
    try:
        _prysm_modules()
        have_prysm = True
    except Exception:  # noqa: BLE001 - optional
        have_prysm = False
    rows: list[dict[str, Any]] = []
    n_ours = 3 if quick else 9
    n_prysm = 0 if quick else 5  # prysm's fit varies 1.1-2.7 s call to call at 1024² here
    with tempfile.TemporaryDirectory(prefix="bench_newfile_") as tmp:
        for n in sizes:
            # one file per timed call of each mode and implementation, plus one warm-up
            count = 1 + 2 * (n_ours + n_prysm)
            paths = make_files(n, count, Path(tmp), seed=n)
            if hasattr(os, "sync"):  # their writeback (~1 GB at 2048²) not during the timed calls
                os.sync()
            ours(paths[0])  # compile / load kernels; its file is not used again
            fft_s = _fft_seconds(n)
            gflops = _gram_flops(n)
            npx = np.pi * (0.95 * 0.45 * n) ** 2
            nxt = iter(paths[1:])
            for mode in ("quiet", "busy core"):
                ctx = busy_core() if mode == "busy core" else contextlib.nullcontext()
                t_ours: dict[str, list[float]] = {}
                t_prysm: dict[str, list[float]] = {}
                with ctx:
                    # each implementation back to back (a batch of new files), then the other
                    for _ in range(n_ours):
                        ours(next(nxt), t_ours)
                    time.sleep(SETTLE_S)
                    for _ in range(n_prysm if have_prysm else 0):
                        prysm(next(nxt), t_prysm)
                    time.sleep(SETTLE_S)
                for stage in (*STAGES, "pipeline"):
                    case = f"new file: {stage} [{mode}]"
                    a = np.asarray(t_ours[stage])
                    q1, med, q3 = np.percentile(a, [25, 50, 75])
                    r: dict[str, Any] = {"case": case, "impl": "metrology", "size": n,
                                         "median_s": float(med), "iqr_s": float(q3 - q1),
                                         "n": int(a.size), "mode": mode, "stage": stage}
                    if stage != "pipeline":
                        roof = _roof(stage, n, npx, pk, fft_s, gflops)
                    else:
                        roof = sum(_roof(s, n, npx, pk, fft_s, gflops) for s in STAGES)
                    r["roof_s"] = roof
                    r["x_roof"] = float(med) / roof
                    rows.append(r)
                    if not have_prysm:
                        rows.append({"case": case, "impl": "prysm", "size": n,
                                     "median_s": None, "iqr_s": None, "n": 0,
                                     "skipped": "prysm not installed"})
                    elif n_prysm == 0:
                        rows.append({"case": case, "impl": "prysm", "size": n,
                                     "median_s": None, "iqr_s": None, "n": 0,
                                     "skipped": "not run in this mode"})
                    else:
                        b = np.asarray(t_prysm[stage])
                        q1, med, q3 = np.percentile(b, [25, 50, 75])
                        rows.append({"case": case, "impl": "prysm", "size": n,
                                     "median_s": float(med), "iqr_s": float(q3 - q1),
                                     "n": int(b.size), "mode": mode, "stage": stage})
            NOTES.append(
                f"New-file scenario at {n}²: roofs from copy {pk['copy_gbps']:.1f} GB/s, "
                f"dgemm {pk['matmul_gflops']:.1f} GFLOP/s and ducc0 r2c {fft_s * 1e3:.2f} ms "
                f"(bytes and flops per pixel per stage: {ROOF_MODEL}; the fit adds "
                f"{gflops / 1e6:.0f} MFLOP for the Gram matrix from moments).")
    return rows


if __name__ == "__main__":  # pragma: no cover
    from ._harness import fmt_s

    for r in run(quick="--quick" in sys.argv):
        extra = f"  roof {fmt_s(r['roof_s'])} x{r['x_roof']:.1f}" if r.get("roof_s") else ""
        print(f"{r['case']:34s} {r['size']:5d} {r['impl']:10s} {fmt_s(r['median_s']):>10s}"
              f"{extra} {r.get('skipped', '')}")
