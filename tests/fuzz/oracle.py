"""What every fuzz case must satisfy, and the runner that checks it.

A file case passes when ``metrology.load`` ends in :class:`FileFormatError`
naming the file, or returns a valid map (positive finite spacing, no infinite
height, heights within the plausibility limit) — never a map for a case that
must be refused (data from outside the file) — within :data:`TIME_LIMIT_S`,
within the memory bound (``memory_factor x file size + memory_slack_mb`` of
:class:`metrology.io.ReaderLimits`, 4 x + 100 MB: peak resident memory of this
process and of the isolated HDF5 reader, over their level before the case),
and leaves its input file unchanged (bytes and modification time).

A spec case passes when :func:`metrology.parse_spec` ends in
:class:`metrology.SpecError` (carrying a key path when the mutation targeted a
key) or returns a spec.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import metrology
from metrology.io import _isolated

from .mutators import SECRET

TIME_LIMIT_S = 2.0


@dataclass
class Outcome:
    target: str
    source: str
    mutation: str
    result: str  # "error", "map", "spec", or "failure"
    seconds: float
    peak_bytes: int = 0
    bound_bytes: int = 0
    failure: str | None = None
    detail: str = ""


@dataclass
class Tally:
    outcomes: list[Outcome] = field(default_factory=list)

    def add(self, o: Outcome) -> None:
        self.outcomes.append(o)

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.failure]


# -- memory --------------------------------------------------------------------------------------

def _status(pid: int | str) -> tuple[int, int] | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            s = fh.read()
    except OSError:
        return None
    rss = re.search(r"VmRSS:\s+(\d+)", s)
    hwm = re.search(r"VmHWM:\s+(\d+)", s)
    if not (rss and hwm):
        return None
    return int(rss.group(1)) * 1024, int(hwm.group(1)) * 1024


def _reset_peak(pid: int | str) -> bool:
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as fh:
            fh.write("5")  # reset the peak resident set size (Linux >= 4.0)
        return True
    except OSError:
        return False


class PeakMeter:
    """Peak resident memory of this process and of the isolated reader during one case."""

    def __init__(self) -> None:
        self.works = _reset_peak("self") and _status("self") is not None

    def start(self) -> None:
        self.base: dict[int | str, int] = {}
        for pid in ("self", _isolated.worker_pid()):
            if pid is None or not self.works:
                continue
            st = _status(pid)
            if st is not None and _reset_peak(pid):
                self.base[pid] = st[0]
        self.reader = _isolated.worker_pid()

    def stop(self) -> int:
        peak = 0
        for pid, rss0 in self.base.items():
            if pid != "self" and pid != _isolated.worker_pid():
                continue  # the reader was replaced (crash, time-out): it was killed
            st = _status(pid)
            if st is not None:
                peak += max(0, st[1] - rss0)
        return peak


# -- file cases ------------------------------------------------------------------------------

def _valid_map_problem(hm: Any) -> str | None:
    if not hasattr(hm, "z_nm") or not hasattr(hm, "dx_mm"):
        return f"load returned {type(hm).__name__}, not a map"
    for name in ("dx_mm", "dy_mm"):
        v = getattr(hm, name, None)
        if v is not None and not (np.isfinite(v) and v > 0):
            return f"{name} = {v!r} is not a positive finite spacing"
    z = np.asarray(hm.z_nm)
    if z.size == 0:
        return f"empty map {z.shape}"
    if np.isinf(z).any():
        return "infinite heights"
    lim = metrology.io.current_limits().height_nm_max
    if (np.abs(z[np.isfinite(z)]) > lim).any():
        return f"heights beyond +-{lim:g} nm"
    return None


def run_file_case(target: str, label: str, mutation: str, data: bytes, ext: str,
                  load_kwargs: dict[str, Any], must_refuse: bool, work: Path,
                  meter: PeakMeter) -> Outcome:
    """Write ``data`` to a new file, load it, and judge the outcome."""
    p = work / f"case{ext}"
    if p.exists():
        p.unlink()
    p.write_bytes(data)
    st0 = p.stat()
    digest = hashlib.sha256(data).digest()
    lim = metrology.io.current_limits()
    bound = int(lim.memory_factor * len(data) + lim.memory_slack_mb * 2**20)
    failure = None
    detail = ""
    meter.start()
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hm = metrology.load(p, **load_kwargs)
        result = "map"
        problem = _valid_map_problem(hm)
        if problem:
            failure = f"invalid map: {problem}"
        elif must_refuse:
            failure = "a map from a case that must be refused (data from outside the file)"
        elif np.isin(np.asarray(hm.z_nm), SECRET).sum() >= 4:
            failure = "the map holds the secret file's values"
        detail = f"{hm.z_nm.shape}"
        del hm
    except metrology.FileFormatError as exc:
        result = "error"
        detail = str(exc)[:200]
        if str(p) not in str(exc):
            failure = "FileFormatError does not name the file"
        if must_refuse and re.search(r"(?<![0-9])(31337|27182\.8|16180\.3)(?![0-9])", str(exc)):
            failure = "the error message shows the secret file's values"
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - the finding
        result = "failure"
        failure = f"escaped {type(exc).__name__}: {str(exc)[:200]}"
    seconds = time.perf_counter() - t0
    peak = meter.stop()
    if failure is None and seconds > TIME_LIMIT_S:
        failure = f"took {seconds:.2f} s (limit {TIME_LIMIT_S:g} s)"
    if failure is None and meter.works and peak > bound:
        failure = f"peak memory {peak / 2**20:.0f} MB over the bound {bound / 2**20:.0f} MB"
    st1 = p.stat()
    if hashlib.sha256(p.read_bytes()).digest() != digest or st1.st_mtime_ns != st0.st_mtime_ns:
        failure = "the input file was modified"
    return Outcome(target, label, mutation, "failure" if failure else result, seconds, peak,
                   bound, failure, detail)


def save_failure(o: Outcome, data: bytes, ext: str, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.=+-]+", "_", f"{o.target}-{o.mutation}")[:120]
    p = folder / f"{name}-{hashlib.sha256(data).hexdigest()[:10]}{ext}"
    p.write_bytes(data)
    p.with_suffix(p.suffix + ".txt").write_text(f"{o}\n")
    return p


def cpu_count() -> int:
    return os.cpu_count() or 1
