"""Batch throughput: parts per second of ``metrology check`` on many parts, and its memory.

Two batches, each checked by the command line as users run it (a fresh process,
wall time from outside, start-up of workers and clusters included):

* **200 single-file parts of 1024²** (Fizeau-like .datx maps, one part folder
  each, a Ø90 mm clear aperture with form, MSF band and PSD limits);
* **the shipped parts x 10** (``datasets/parts`` copied ten times: 7 files a
  part in four formats, 12 for the repeats part, whose four 5x repeats are one
  averaged site with the objective's reference subtracted).

Each batch runs ``--workers 1`` (serial, in the process), ``--workers N`` (the
process pool, N = the machine's cores) and ``--dask local --workers N`` (a Dask
LocalCluster on 127.0.0.1) when Dask is installed. Rows report the median wall
time of each; the notes give parts/s and the pool / serial and Dask / serial
ratios measured in the same run (target: pool >= 1.7x serial on 2 cores), and
the peak memory of the 200-file runs: the largest sum of the resident set sizes
of the run's process tree (parent, workers, HDF5 reader processes), sampled from
``/proc`` every 20 ms (target < 2 GB), and the CPU seconds of that tree (on a
shared machine a pool that gets less than its cores shows it there).

``--quick``: 12 parts of 256² and the shipped parts once, one repeat, no Dask
(its cluster start-up alone is seconds; the tests run the Dask path).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from ._harness import row

NOTES: list[str] = []
REPO = Path(__file__).resolve().parent.parent

SPEC = """\
schema = "metrology.spec/1"
description = "benchmark: one Fizeau map per part"
full_band = false

[part]
name = "batch benchmark"

[preprocessing]
remove = ["piston", "tilt"]

[measurements.fizeau]
instrument = "fizeau"
match.filename = ["*fizeau*"]

[measurements.fizeau.aperture]
diameter_mm = {ca}
centre_mm = [0.0, 0.0]

[measurements.fizeau.requirements]
min_valid_fraction = 0.6

[form]
measurement = "fizeau"
fit_first_term = 5
fit_last_term = 37
residual_rms_nm_max = 5.0
pvr_nm_max = 40.0

[form.term_limits_nm]
astigmatism = 4.0
coma = 4.0
other = 3.0

[[bands]]
name = "MSF"
measurement = "fizeau"
f_lo_per_mm = {f_lo}
f_hi_per_mm = 1.0
kind = "areal"
rms_nm_max = 2.0
slope_urad_max = 20.0

[psd]
kind = "profile"
direction = "x"

[[psd.segments]]
a_nm2_mm = 0.01
b = 2.0
f_lo_per_mm = {f_lo}
f_hi_per_mm = 2.0
"""


def _tree(pid: int, cpu: dict[int, float]) -> int:
    """Resident set size (bytes) of ``pid`` and all its descendants, from /proc; records
    each process's CPU seconds (user + system) so far in ``cpu``."""
    total, stack, seen = 0, [pid], set()
    page = os.sysconf("SC_PAGE_SIZE")
    tick = os.sysconf("SC_CLK_TCK")
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open(f"/proc/{p}/statm") as fh:
                total += int(fh.read().split()[1]) * page
            with open(f"/proc/{p}/stat") as fh:
                f = fh.read().rsplit(")", 1)[1].split()
            cpu[p] = max(cpu.get(p, 0.0), (int(f[11]) + int(f[12])) / tick)
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as fh:
                    stack += [int(x) for x in fh.read().split()]
        except (OSError, ValueError, IndexError):
            continue
    return total


def _timed_run(cmd: list[str], cwd: Path) -> tuple[float, int, int, float]:
    """(wall seconds, exit code, peak tree RSS in bytes, CPU seconds of the tree) of one
    command (CPU sampled every 20 ms: a process's last 20 ms may be missed)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    peak = [0]
    cpu: dict[int, float] = {}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _tree(proc.pid, cpu))
            stop.wait(0.02)

    th = threading.Thread(target=sample, daemon=True)
    if sys.platform.startswith("linux"):
        th.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - t0
    stop.set()
    if th.is_alive():
        th.join()
    if proc.returncode not in (0, 1, 3):
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: "
                           f"{err.decode(errors='replace')[-1500:]}")
    return wall, proc.returncode, peak[0], sum(cpu.values())


def _make_maps(root: Path, n_parts: int, size: int) -> Path:
    """``n_parts`` folders with one ``fizeau.datx`` of ``size``² each (distinct maps)."""
    import numpy as np

    import metrology as mt

    from benchmarks.bench_pipeline import make_map

    base = make_map(size, seed=0)
    rng = np.random.default_rng(1)
    tree = root / f"parts{size}"
    for i in range(n_parts):
        # a new file each part: the same surface with new noise and a new form
        z = base.z_nm + rng.normal(scale=0.05, size=base.shape) + 0.5 * i / n_parts
        d = tree / f"p{i:03d}"
        d.mkdir(parents=True)
        mt.save(base.replace(z), d / f"p{i:03d}_fizeau.datx")
    return tree


def _shipped_x(root: Path, copies: int) -> Path:
    tree = root / "shipped"
    for k in range(copies):
        for part in sorted((REPO / "datasets" / "parts").iterdir()):
            if part.is_dir():
                shutil.copytree(part, tree / f"copy{k:02d}" / part.name)
    return tree


def _have_dask() -> bool:
    try:
        import distributed  # noqa: F401
    except ImportError:
        return False
    return True


def run(sizes: tuple[int, ...] = (1024,), quick: bool = False) -> list[dict[str, Any]]:
    """Rows: per batch and mode, the median wall time of the whole command."""
    from metrology.batch import default_workers

    cores = default_workers()
    n_parts, size = (12, 256) if quick else (200, sizes[0] if sizes else 1024)
    copies = 1 if quick else 10
    repeat = 1 if quick else 3
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="metrology-bench-batch-") as tmp:
        root = Path(tmp)
        ca = round(0.9 * size * 0.1 * 0.97, 1)
        # bands start above the removed form: (n + 1) / (2 pi R) = 13 / (pi CA) = 4.14 / CA
        (root / "spec.toml").write_text(SPEC.format(ca=ca, f_lo=round(4.5 / ca, 3)))
        n_shipped = sum(1 for p in (REPO / "datasets" / "parts").iterdir() if p.is_dir())
        batches = [
            (f"batch: {n_parts} single-file parts", size, _make_maps(root, n_parts, size),
             root / "spec.toml", n_parts),
            (f"batch: {n_shipped} shipped parts x {copies}", 560, _shipped_x(root, copies),
             REPO / "datasets" / "specs" / "caf2-wafer-inspection.toml", n_shipped * copies),
        ]
        modes = [("serial (--workers 1)", ["--workers", "1"]),
                 (f"process pool (--workers {cores})", ["--workers", str(cores)])]
        dask_label = f"Dask LocalCluster ({cores} workers)"
        if _have_dask() and not quick:
            modes.append((dask_label, ["--dask", "local", "--workers", str(cores)]))
        else:
            rows.append(row(f"batch: {n_parts} single-file parts", f"metrology {dask_label}",
                            size, skip="not run with --quick" if quick
                            else "Dask not installed (pip install 'optical-metrology[dask]')"))
        for case, sz, tree, spec, n in batches:
            med: dict[str, float] = {}
            peaks: dict[str, int] = {}
            cpus: dict[str, float] = {}
            for label, extra in modes:
                cmd = [sys.executable, "-m", "metrology", "check", "--spec", str(spec),
                       str(tree), "--quiet", *extra]
                walls, pk, cs = [], 0, []
                for _ in range(repeat):
                    w, _code, p, c = _timed_run(cmd, root)
                    walls.append(w)
                    cs.append(c)
                    pk = max(pk, p)
                m = statistics.median(walls)
                med[label], peaks[label], cpus[label] = m, pk, statistics.median(cs)
                q = sorted(walls)
                rows.append({"case": case, "impl": f"metrology {label}", "size": sz,
                             "median_s": m, "iqr_s": q[-1] - q[0] if len(q) > 1 else None,
                             "n": len(walls), "no_ratio": True,
                             "note": f"{n / m:.2f} parts/s; peak RSS {pk / 2**20:.0f} MiB, "
                                     f"CPU {cpus[label]:.1f} s (process tree)"})
            serial = med[modes[0][0]]
            ratios = "; ".join(f"{lab}: {serial / med[lab]:.2f}x serial" for lab, _ in modes[1:])
            NOTES.append(f"{case} ({sz}²): " + ", ".join(
                f"{lab} {n / med[lab]:.2f} parts/s" for lab, _ in modes) + f"; {ratios} "
                f"(target: pool >= 1.7x serial on 2 cores; {cores} cores here). Peak memory "
                "(sum of RSS over the process tree): " + ", ".join(
                    f"{lab} {peaks[lab] / 2**20:.0f} MiB" for lab, _ in modes)
                + " (target < 2 GB for the 200-file run). CPU seconds of the process tree "
                "(all processes, medians): " + ", ".join(
                    f"{lab} {cpus[lab]:.1f} s" for lab, _ in modes)
                + f"; CPU / (wall x {cores} cores) is the share of the cores the run had.")
    if not rows:
        rows.append(row("batch", "metrology", 0, skip="nothing run"))
    return rows
