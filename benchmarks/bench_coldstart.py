"""Cold start: JIT compile time without the on-disk Numba cache, and load time with it.

Each measurement is a fresh Python process (``sys.executable``) running a
small fit + PSD, timed from outside (wall time including interpreter start).
``NUMBA_CACHE_DIR`` points at a new empty folder for the cold run; the second
run with the same folder finds the cache.

Every child runs with Python's bytecode cache on, as for an installed package
(pip compiles a wheel's modules at install): ``PYTHONDONTWRITEBYTECODE`` is
dropped from the children's environment, so the first (untimed) run writes
``__pycache__`` and the timed ones read it. With it set (as in some sandboxes and
CI images), every run compiled this package's ~100 modules from source: 4.1-4.6 s
against 3.0 s for the one-file check, measured on the 2-core development machine.
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

#: ``metrology check`` of one shipped file, instrumented from inside: Numba cache loads
#: (count and seconds, hooked at numba's cache) and the modules it imported
CHECK_SCRIPT = r"""
import sys, time
import numba.core.caching as caching
loads = []
_orig = caching.Cache.load_overload
def _timed(self, sig, target_context):
    t = time.perf_counter()
    r = _orig(self, sig, target_context)
    loads.append(time.perf_counter() - t)
    return r
caching.Cache.load_overload = _timed
from metrology import cli
try:
    rc = cli.main(sys.argv[1:])
except SystemExit as exc:
    rc = exc.code
mods = sorted(m for m in sys.modules if not m.startswith("__main__"))
sys.stderr.write("SPLIT %d %r %s\n" % (len(loads), sum(loads), ",".join(mods)))
"""


def _user_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with the bytecode cache on."""
    env = dict(os.environ if base is None else base)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _wall(cmd: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=_user_env())
    return time.perf_counter() - t0, out.stderr


def check_startup(repeat: int = 3) -> dict[str, float]:
    """Wall time of ``metrology check`` on one shipped Fizeau map with the Numba cache warm, and
    its split (medians): the interpreter alone (``python -c pass``), the imports (a process
    importing every module the check imported, minus the interpreter), Numba cache loads
    (hooked), and the rest (reading, analysis, report, exit)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    part = os.path.join(root, "datasets", "parts", "part-a-pass")
    spec = os.path.join(root, "datasets", "specs", "caf2-wafer-inspection.toml")
    path = os.path.join(part, "l3s2-a_fizeau.x3p")
    if not os.path.isfile(path):  # else the check's error path would be timed, silently
        raise FileNotFoundError(f"benchmark input missing: {path}")
    cmd = [sys.executable, "-c", CHECK_SCRIPT, "check", "--spec", spec, path]
    _, err = _wall(cmd)  # warm the cache; which modules does a check import?
    line = [x for x in err.splitlines() if x.startswith("SPLIT ")][-1]
    mods = [m for m in line.split()[3].split(",") if m]
    code = ("import importlib\n"
            f"for m in {mods!r}:\n"
            "    try:\n        importlib.import_module(m)\n"
            "    except Exception:\n        pass\n")
    imp_cmd = [sys.executable, "-c", code]
    runs = []
    for _ in range(repeat):
        bare, _ = _wall([sys.executable, "-c", "pass"])
        imp, _ = _wall(imp_cmd)
        wall, err = _wall(cmd)
        line = [x for x in err.splitlines() if x.startswith("SPLIT ")][-1]
        n_loads, load_s = int(line.split()[1]), float(line.split()[2])
        runs.append({"wall_s": wall, "interpreter_s": bare, "imports_s": imp - bare,
                     "cache_loads_s": load_s, "n_cache_loads": n_loads,
                     "rest_s": wall - imp - load_s})
    runs.sort(key=lambda r: r["wall_s"])
    return runs[repeat // 2]


def _run(env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", SCRIPT], env=_user_env(env), check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Rows: cold (empty cache), warm (cache on disk), and Python + imports only."""
    rows: list[dict[str, Any]] = []
    if quick:  # a first compile takes tens of seconds: the smoke run uses the existing cache
        cold = None
        _run(dict(os.environ))  # also writes the bytecode cache
        warm = [_run(dict(os.environ))]
    else:
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "NUMBA_CACHE_DIR": cache}
            _run(dict(os.environ))  # the bytecode cache, so that "cold" is Numba's only
            cold = _run(env)
            warm = [_run(env) for _ in range(3)]
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import metrology, metrology.spectral"], check=True,
                   env=_user_env())
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
    sp = check_startup(1 if quick else 3)
    rows.append({"case": "metrology check, one Fizeau map, warm cache (new process)",
                 "impl": "metrology", "size": 0, "median_s": sp["wall_s"], "iqr_s": None,
                 "n": 1 if quick else 3, "no_ratio": True,
                 "note": (f"interpreter {sp['interpreter_s']:.2f} s, imports "
                          f"{sp['imports_s']:.2f} s, {sp['n_cache_loads']:.0f} Numba cache "
                          f"loads {sp['cache_loads_s']:.2f} s, rest {sp['rest_s']:.2f} s")})
    NOTES.append(f"`metrology check` of one file, warm cache: {sp['wall_s']:.2f} s wall = "
                 f"interpreter {sp['interpreter_s']:.2f} s + imports {sp['imports_s']:.2f} s "
                 f"+ {sp['n_cache_loads']:.0f} Numba cache loads {sp['cache_loads_s']:.2f} s "
                 f"+ the rest {sp['rest_s']:.2f} s (target 1.5 s).")
    return rows
