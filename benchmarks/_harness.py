"""Timing utilities shared by every benchmark module.

Each benchmark module exposes ``run(sizes=..., quick=False) -> list[dict]``
returning rows ``{"case", "impl", "size", "median_s", "iqr_s", "n"}`` (plus
optional extras such as ``"gbps"`` or ``"gflops"``). :mod:`benchmarks.__main__`
collects the rows, computes ratios against the reference implementations of
the same case in the same run, and writes JSON and Markdown.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def timeit(fn: Callable[[], Any], *, warmup: int = 1, repeat: int = 7,
           budget_s: float = 2.0, min_repeat: int = 3) -> dict[str, float]:
    """Median and inter-quartile range of ``fn()`` wall time in seconds.

    Runs ``warmup`` untimed calls, then up to ``repeat`` timed calls, stopping
    early (after at least ``min_repeat``) once ``budget_s`` is spent.
    """
    for _ in range(warmup):
        fn()
    ts: list[float] = []
    t_start = time.perf_counter()
    for i in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
        if i + 1 >= min_repeat and time.perf_counter() - t_start > budget_s:
            break
    a = np.asarray(ts)
    q1, med, q3 = np.percentile(a, [25, 50, 75])
    return {"median_s": float(med), "iqr_s": float(q3 - q1), "n": int(a.size)}


def row(case: str, impl: str, size: int, fn: Callable[[], Any] | None = None, *,
        skip: str | None = None, **timing_kw: Any) -> dict[str, Any]:
    """Time ``fn`` and return a result row (or a skipped row with the reason)."""
    base: dict[str, Any] = {"case": case, "impl": impl, "size": size}
    if skip or fn is None:
        return {**base, "median_s": None, "iqr_s": None, "n": 0, "skipped": skip or "n/a"}
    return {**base, **timeit(fn, **timing_kw)}


def machine() -> dict[str, Any]:
    """Describe the machine: CPU, cores, threads, library versions."""
    import numba
    import scipy

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "numba_threads": numba.get_num_threads(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "numba": numba.__version__,
        "platform": platform.platform(),
    }
    try:
        import prysm

        info["prysm"] = prysm.__version__
    except Exception:  # noqa: BLE001
        info["prysm"] = None
    return info


def peaks(quick: bool = False) -> dict[str, float]:
    """Measured hardware references: copy bandwidth (GB/s) and dgemm rate (GFLOP/s)."""
    n = 2**23 if quick else 2**25  # 64 MB / 256 MB
    a = np.random.default_rng(0).random(n)
    b = np.empty_like(a)
    t = timeit(lambda: np.copyto(b, a), repeat=5, budget_s=1.0)
    copy_gbps = 2 * a.nbytes / t["median_s"] / 1e9  # read + write
    m = 1024 if quick else 2048
    x = np.random.default_rng(1).random((m, m))
    t2 = timeit(lambda: x @ x, repeat=5, budget_s=2.0)
    return {"copy_gbps": copy_gbps, "matmul_gflops": 2 * m**3 / t2["median_s"] / 1e9}


def fmt_s(v: float | None) -> str:
    """Format seconds with a sensible unit."""
    if v is None:
        return "—"
    if v < 1e-3:
        return f"{v * 1e6:.0f} µs"
    if v < 1:
        return f"{v * 1e3:.1f} ms"
    return f"{v:.2f} s"
