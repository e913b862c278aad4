"""Alicona .al3d reader (read only); files packed field by field in binbuild."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from fuzz.binbuild import build_al3d

import metrology as m
from metrology.errors import FileFormatError
from metrology.io import detect
from metrology.io.al3d import read_al3d


@pytest.mark.parametrize("nx", [3, 4])  # 12 bytes per row: padded to 16; 16: no padding
def test_units_padding_and_top_first_rows(tmp_path: Path, nx: int) -> None:
    rows = np.zeros((3, nx))
    rows[0, 1] = 2e-6           # first stored row = top
    rows[2, 0] = 3e15           # Alicona's invalid value as a float32
    rows[1, 2] = np.nan
    f = tmp_path / "a.al3d"
    f.write_bytes(build_al3d(rows, invalid="3.000000028082e+15"))
    assert detect(f).name == "al3d"
    hm = m.load(f)
    assert hm.shape == (3, nx) and hm.meta["rows_flipped"] is True
    assert hm.z_nm[2, 1] == pytest.approx(2000.0)
    assert np.isnan(hm.z_nm[0, 0]) and np.isnan(hm.z_nm[1, 2]) and hm.n_valid == 3 * nx - 2
    assert hm.dx_mm == 0.000438027 and hm.dy_mm == 0.0005


def test_refusals(tmp_path: Path) -> None:
    rows = np.ones((2, 2)) * 1e-6
    f = tmp_path / "r.al3d"
    f.write_bytes(build_al3d(rows).replace(b"Cols", b"Colz", 1))
    with pytest.raises(FileFormatError, match="Cols"):
        read_al3d(f)
    f.write_bytes(build_al3d(rows, dx_m="abc"))
    with pytest.raises(FileFormatError, match="PixelSizeXMeter"):
        read_al3d(f)
    f.write_bytes(build_al3d(rows, depth_offset=100))
    with pytest.raises(FileFormatError, match="inside the header"):
        read_al3d(f)
    b = bytearray(build_al3d(rows))
    b[17 + 50] = ord("X")  # the Version tag's CR
    f.write_bytes(bytes(b))
    with pytest.raises(FileFormatError, match="CR LF"):
        read_al3d(f)
    f.write_bytes(b"AliconaImaginX\x00\r\n" + bytes(100))
    with pytest.raises(FileFormatError):
        m.load(f, format="al3d")


def test_absurd_sizes_fail_fast(tmp_path: Path) -> None:
    f = tmp_path / "h.al3d"
    t0 = time.perf_counter()
    raw = build_al3d(np.ones((2, 2)) * 1e-6)
    f.write_bytes(raw.replace(b"Cols\x00" + b"\x00" * 15 + b"2", b"Cols\x00" + b"\x00" * 15
                              + b"9", 1))
    with pytest.raises(FileFormatError, match="truncated"):
        read_al3d(f)
    assert time.perf_counter() - t0 < 1.0


@pytest.mark.realdata
def test_realdata_al3d(realdata) -> None:
    hm = m.load(realdata("st_al3d-1.al3d"))
    # both peers: 200 x 296 [x, y], 0.000438027 mm, RMS 7688.3, PV 34 951, 0 invalid
    assert hm.shape == (296, 200)
    assert hm.dx_mm == 0.000438027 and hm.dy_mm == 0.000438027
    assert hm.rms_nm == pytest.approx(7688.3, rel=1e-3)
    assert hm.pv_nm == pytest.approx(34951, rel=1e-3)
    assert hm.valid_fraction == 1.0
    assert hm.meta["software"] == "MeasureSuite 5.3.6"

