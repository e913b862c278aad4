"""A tree of small synthetic parts for the batch tests (``tests/test_batch.py``), and
the helpers the batch tests share (:func:`run`, :func:`records`, :func:`close`,
:func:`arrays_reachable`).

Each good part holds one 48 x 48 map at 0.1 mm: a ripple A sin(2 pi f x) with
f = 2.5 /mm (10 periods across the Ø4 mm clear aperture), whose RMS is about
A / sqrt(2) (exactly so over whole periods of a rectangle; within a few per cent
over the disk). The tiny spec (:data:`SPEC`) limits the residual RMS after
piston and tilt to 1 nm and the 1-5 /mm band to 1 nm: parts made with RMS
0.5 nm pass, parts made with RMS 1.5 nm fail, by a margin (a factor 1.5-2) far
beyond those few per cent.
"""

from __future__ import annotations

import gc
import json
import math
from pathlib import Path

import numpy as np
import pytest

import metrology as mt
from metrology.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    """``metrology ARGV`` in this process: (exit code, stdout, stderr)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def records(path: Path) -> list[dict]:
    """The lines of a JSON Lines results log."""
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]


def close(a: object, b: object) -> bool:
    """Equal, floats to 1e-9 relative (worker processes run other thread counts)."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-15)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def arrays_reachable(obj: object) -> list[tuple[tuple[int, ...], int]]:
    """(shape, bytes) of every NumPy array reachable from ``obj`` (a result that must hold
    no map)."""
    seen, stack, found = set(), [obj], []
    while stack:
        o = stack.pop()
        if id(o) in seen or isinstance(o, type | str | bytes | int | float):
            continue
        seen.add(id(o))
        if isinstance(o, np.ndarray):
            found.append((o.shape, o.nbytes))
            continue
        stack.extend(gc.get_referents(o))
    return found

SPEC = """\
schema = "metrology.spec/1"
description = "batch test spec: one small flat map per part"
full_band = false

[part]
name = "batch test flat"

[preprocessing]
remove = ["piston", "tilt"]

[measurements.flat]
instrument = "fizeau"
match.filename = ["*_flat*"]

[measurements.flat.aperture]
diameter_mm = 4.0
centre_mm = [0.0, 0.0]

[measurements.flat.requirements]
min_valid_fraction = 0.9

[form]
measurement = "flat"
residual_rms_nm_max = 1.0

[[bands]]
name = "R"
measurement = "flat"
f_lo_per_mm = 1.0
f_hi_per_mm = 5.0
kind = "areal"
rms_nm_max = 1.0
"""

N, DX_MM, F_PER_MM = 48, 0.1, 2.5
FORMATS = (".x3p", ".npz", ".sdf")


def ripple(rms_nm: float, phase: float = 0.0) -> mt.HeightMap:
    """The ripple of RMS ``rms_nm`` (A = sqrt(2) rms) on the 48 x 48 grid."""
    hm0 = mt.HeightMap(np.zeros((N, N)), DX_MM)
    x = hm0.x_mm[None, :] * np.ones((N, 1))
    z = math.sqrt(2.0) * rms_nm * np.sin(2 * np.pi * F_PER_MM * x + phase)
    return mt.HeightMap(z, DX_MM)


def build_tree(root: Path, n_good: int = 60) -> dict:
    """Write the tree; return what each part and file should give.

    ``parts``: part name -> expected verdict; ``bad_files``: path -> what is
    wrong; ``ignored``: stray files that must be listed, never judged.
    """
    root.mkdir(parents=True, exist_ok=True)
    (root / "spec.toml").write_text(SPEC, encoding="utf-8")
    tree = root / "tree"
    expect: dict = {"parts": {}, "bad_files": {}, "ignored": []}
    for i in range(n_good):
        lot = f"lot{i % 3}"
        name = f"{lot}/p{i:03d}"
        if i == 7:                                      # nested two levels down
            name = f"{lot}/deep/er/p{i:03d}"
        folder = tree / name
        folder.mkdir(parents=True, exist_ok=True)
        good = i % 4 != 3
        mt.save(ripple(0.5 if good else 1.5, phase=0.1 * i),
                folder / f"p{i:03d}_flat{FORMATS[i % len(FORMATS)]}")
        expect["parts"][name] = "pass" if good else "fail"
    # a stray notes file in a part folder: ignored, the part still judged
    (tree / "lot0/p000/notes.txt").write_text("polished by J., re-measure site 2\n")
    expect["ignored"].append(str(tree / "lot0/p000/notes.txt"))
    # an unsupported instrument export beside a measurement: ignored
    (tree / "lot1/p001/scan.opd").write_bytes(b"\x00\x01OPD binary export\x00" * 8)
    expect["ignored"].append(str(tree / "lot1/p001/scan.opd"))
    # a notes file beside the part folders (a folder that is no part)
    (tree / "README.txt").write_text("lots of 2026-11-30\n")
    expect["ignored"].append(str(tree / "README.txt"))
    # bad files in parts of their own: each gives an error record, its part is
    # not measurable (never a pass), the batch goes on
    bad = tree / "bad"
    (bad / "b1").mkdir(parents=True)
    (bad / "b1/b1_flat.x3p").write_bytes(b"PK\x03\x04 not a zip archive at all")
    expect["bad_files"][str(bad / "b1/b1_flat.x3p")] = "unreadable"
    (bad / "b2").mkdir()
    nan = mt.HeightMap(np.full((N, N), np.nan), DX_MM)
    mt.save(nan, bad / "b2/b2_flat.npz")
    expect["bad_files"][str(bad / "b2/b2_flat.npz")] = "unjudgeable"
    (bad / "b3").mkdir()
    mt.save(mt.HeightMap(np.full((N, N), 7.0), DX_MM), bad / "b3/b3_flat.npz")
    expect["bad_files"][str(bad / "b3/b3_flat.npz")] = "unjudgeable"
    (bad / "b4").mkdir()
    p = mt.save(ripple(0.5), bad / "b4/b4_flat.sdf")
    p.write_bytes(p.read_bytes()[:200])                 # cut inside the data
    expect["bad_files"][str(bad / "b4/b4_flat.sdf")] = "unreadable"
    for b in ("bad/b1", "bad/b2", "bad/b3", "bad/b4"):
        expect["parts"][b] = "not-measurable"
    return expect
