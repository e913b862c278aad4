"""Cold start: JIT compile time without the on-disk Numba cache, and load time with it.

Each measurement is a fresh Python process (``sys.executable``) running a
small fit + PSD, timed from outside (wall time including interpreter start).
``NUMBA_CACHE_DIR`` points at a new empty folder for the cold run; the second
run with the same folder finds the cache.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from typing import Any

SCRIPT = """
import numpy as np, metrology as mt
hm = mt.zernike_surface(np.arange(1, 38) * 0.1, shape=(64, 64), dx_mm=0.1)
mt.fit_zernike(hm, 37)
from metrology.spectral import psd, band_rms
p = psd(hm.replace(np.nan_to_num(hm.z_nm)), window="hann")
p.radial()
band_rms(p, 0.5, 2.0)
"""

NOTES: list[str] = []


def _run(env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", SCRIPT], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Rows: cold (empty cache), warm (cache on disk), and Python + imports only."""
    rows: list[dict[str, Any]] = []
    if quick:  # a first compile takes tens of seconds: the smoke run uses the existing cache
        cold = None
        _run(dict(os.environ))
        warm = [_run(dict(os.environ))]
    else:
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "NUMBA_CACHE_DIR": cache}
            cold = _run(env)
            warm = [_run(env) for _ in range(3)]
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import metrology, metrology.spectral"], check=True)
    imp = time.perf_counter() - t0
    warm.sort()
    med = warm[len(warm) // 2]
    if cold is not None:
        rows.append({"case": "cold start (fit + PSD, new process)",
                     "impl": "metrology, no cache", "size": 64, "median_s": cold, "iqr_s": 0.0,
                     "n": 1, "note": "first compile of every kernel", "no_ratio": True})
    rows.append({"case": "cold start (fit + PSD, new process)",
                 "impl": "metrology, cache on disk", "size": 64, "median_s": med,
                 "iqr_s": warm[-1] - warm[0], "n": len(warm), "no_ratio": True})
    rows.append({"case": "cold start (fit + PSD, new process)", "impl": "python + import only",
                 "size": 64, "median_s": imp, "iqr_s": 0.0, "n": 1, "no_ratio": True})
    if cold is not None:
        NOTES.append(f"Cold start: {cold:.1f} s without the Numba cache, {med:.2f} s with it "
                     f"(of which {imp:.2f} s is Python start-up and imports).")
    return rows
