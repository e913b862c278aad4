"""I/O benchmark: ``metrology.load`` of a Zygo ``.datx`` against reading the raw dataset.

Case ``load datx N^2``: an N x N float64 height map (5 % invalid pixels) is
written once with :func:`metrology.save` to a temporary folder (so it sits in
the page cache for every timed call), then

* ``metrology.load``: the full load of a file not read before: HDF5 trial run
  in a forked child (the guard against HDF5 library crashes, see
  :mod:`metrology.io._hdf5`), /MetaData link table, units, no-data mask,
  scale, row flip, :class:`~metrology.HeightMap`;
* ``metrology.load (file probed before)``: the same when the unchanged file
  has already passed the trial run (its verdict is cached);
* ``h5py raw``: ``h5py.File(path)[dataset][()]``, the bare read of the same
  float64 array, no conversion.

Run ``python -m benchmarks.bench_io`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

import metrology as mt

from ._harness import fmt_s, row

SIZES = (2048,)
QUICK_SIZES = (512,)
NOTES = [
    "I/O: `metrology.load` of a .datx includes the HDF5 trial run in a forked child "
    "(crash/loop guard); the '(file probed before)' row is the same load once that "
    "verdict is cached for the unchanged file.",
]


def _surface_path(path: Path) -> str:
    import h5py

    with h5py.File(path, "r") as f:
        return next(iter(f["Data/Surface"].values())).name


def run(quick: bool = False, sizes: tuple[int, ...] | None = None) -> list[dict[str, Any]]:
    """Time the loads; rows ``{"case", "impl", "size", "median_s", "iqr_s", "n"}``."""
    import h5py

    sizes = sizes or (QUICK_SIZES if quick else SIZES)
    repeat = 5 if quick else 15
    rows: list[dict[str, Any]] = []
    rng = np.random.default_rng(2048)
    with tempfile.TemporaryDirectory(prefix="bench_io_") as tmp:
        for n in sizes:
            z = rng.standard_normal((n, n)) * 50.0
            z[rng.random((n, n)) < 0.05] = np.nan
            path = Path(tmp) / f"map_{n}.datx"
            mt.save(mt.HeightMap(z, 0.05, meta={"wavelength_nm": 632.8}), path)
            dpath = _surface_path(path)
            case = f"load datx {n}^2"

            def fresh(p: Path = path) -> None:
                mt.load(p)

            def cached(p: Path = path) -> None:
                mt.load(p)

            def raw(p: Path = path, d: str = dpath) -> None:
                with h5py.File(p, "r") as f:
                    f[d][()]

            kw = {"repeat": repeat, "budget_s": 2.0 if quick else 6.0}
            rows.append(row(case, "metrology.load", n, fresh, **kw))
            rows.append(row(case, "metrology.load (file probed before)", n, cached, **kw))
            rows.append(row(case, "h5py raw", n, raw, **kw))
    return rows


def _table(rows: list[dict[str, Any]]) -> str:
    base = {r["case"]: r["median_s"] for r in rows if r["impl"] == "h5py raw"}
    out = [f"{'case':22s} {'impl':38s} {'median':>10s} {'IQR':>10s} {'x raw':>6s}  n"]
    for r in rows:
        ratio = r["median_s"] / base[r["case"]] if base.get(r["case"]) else float("nan")
        out.append(f"{r['case']:22s} {r['impl']:38s} {fmt_s(r['median_s']):>10s} "
                   f"{fmt_s(r['iqr_s']):>10s} {ratio:6.2f}  {r['n']}")
    return "\n".join(out)


if __name__ == "__main__":
    print(_table(run(quick="--quick" in sys.argv[1:])))
