"""Gwyddion .gwy reader (read only). No real .gwy is shipped with the shared files, so the
test files are serialised here component by component from the documented GWYP container
(Gwyddion user guide, "Format of Gwyddion Files"), independently of the reader."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import numpy as np
import pytest
from fuzz.binbuild import build_gwy, gwy_field, gwy_obj, gwy_unit

import metrology as m
from metrology.errors import FileFormatError
from metrology.io import detect
from metrology.io.gwy import gwy_channels, read_gwy


def _rows() -> np.ndarray:
    r = np.zeros((3, 4))
    r[0, 1] = 2e-9  # Gwyddion row 0 = top of its image
    r[2, 3] = -1e-9
    return r


def _file(tmp_path: Path, data: bytes, name: str = "a.gwy") -> Path:
    f = tmp_path / name
    f.write_bytes(data)
    return f


def test_first_height_channel_units_and_top_first_rows(tmp_path: Path) -> None:
    phase = gwy_field(np.ones((2, 2)), 1e-6, 1e-6, zunit="deg")
    topo = gwy_field(_rows(), 4e-6, 1.5e-6, zunit="m")
    f = _file(tmp_path, build_gwy([(0, "Phase", phase), (1, "Height", topo)]))
    assert detect(f).name == "gwy"
    hm = m.load(f)
    assert hm.meta["gwy_channel"] == 1 and hm.meta["gwy_title"] == "Height"
    assert hm.shape == (3, 4) and hm.meta["rows_flipped"] is True
    assert hm.z_nm[2, 1] == pytest.approx(2.0) and hm.z_nm[0, 3] == pytest.approx(-1.0)
    assert hm.dx_mm == pytest.approx(0.001) and hm.dy_mm == pytest.approx(0.0005)
    chans = gwy_channels(f)
    assert [c["height"] for c in chans] == [False, True]
    assert [c["title"] for c in chans] == ["Phase", "Height"]


def test_channel_selection_by_number_and_title(tmp_path: Path) -> None:
    a = gwy_field(np.full((2, 2), 1e-9), 2e-6, 2e-6)
    b = gwy_field(np.full((2, 2), 5.0), 2.0, 2.0, zunit="nm", xyunit="um")
    f = _file(tmp_path, build_gwy([(0, "A", a), (3, "B", b)]))
    assert read_gwy(f).z_nm[0, 0] == pytest.approx(1.0)
    hb = read_gwy(f, channel=3)
    assert hb.z_nm[0, 0] == 5.0 and hb.dx_mm == pytest.approx(1e-3)  # 2 um / 2 px
    assert read_gwy(f, channel="B").meta["gwy_channel"] == 3
    with pytest.raises(FileFormatError, match="no channel 7"):
        read_gwy(f, channel=7)
    with pytest.raises(FileFormatError, match="titled"):
        read_gwy(f, channel="C")
    ph = _file(tmp_path, build_gwy([(0, "Phase", gwy_field(np.ones((2, 2)), 1e-6, 1e-6,
                                                           zunit="V"))]), "p.gwy")
    with pytest.raises(FileFormatError, match="no channel holds heights"):
        read_gwy(ph)
    with pytest.raises(FileFormatError, match="not a length"):
        read_gwy(ph, channel=0)


def test_mask_marks_invalid_points_unless_ignored(tmp_path: Path) -> None:
    mask = np.zeros((3, 4))
    mask[0, 0] = 1.0  # Gwyddion row 0 = top
    f = _file(tmp_path, build_gwy([(0, "H", gwy_field(_rows(), 4e-6, 3e-6))],
                                  masks={0: gwy_field(mask, 4e-6, 3e-6)}))
    hm = read_gwy(f)
    assert np.isnan(hm.z_nm[2, 0]) and hm.n_valid == 11 and "set invalid" in hm.meta["gwy_mask"]
    kept = read_gwy(f, mask="ignore")
    assert kept.n_valid == 12 and "kept" in kept.meta["gwy_mask"]


def test_structure_errors(tmp_path: Path) -> None:
    f = _file(tmp_path, b"GWYO" + bytes(20))
    with pytest.raises(FileFormatError, match="GWYO"):
        read_gwy(f)
    f = _file(tmp_path, b"GWYP" + gwy_obj("GwyDataField", [("xres", "i", 1)]))
    with pytest.raises(FileFormatError, match="GwyContainer"):
        read_gwy(f)
    bad = gwy_field(np.ones((2, 2)), 1e-6, 1e-6, xres=3)  # xres x yres != data size
    with pytest.raises(FileFormatError, match="xres x yres"):
        read_gwy(_file(tmp_path, build_gwy([(0, "H", bad)])))
    with pytest.raises(FileFormatError, match="unknown component type"):
        read_gwy(_file(tmp_path, b"GWYP" + b"GwyContainer\x00" + struct.pack("<I", 3)
                       + b"a\x00Z"))
    deep = gwy_unit("m")
    for _ in range(40):
        deep = gwy_obj("GwyContainer", [("x", "o", deep)])
    with pytest.raises(FileFormatError, match="nested"):
        read_gwy(_file(tmp_path, b"GWYP" + deep))


def test_absurd_counts_fail_fast(tmp_path: Path) -> None:
    body = bytearray(build_gwy([(0, "H", gwy_field(np.ones((2, 2)), 1e-6, 1e-6))]))
    i = body.index(b"data\x00D") + 6
    struct.pack_into("<I", body, i, 2**31)  # array count far beyond the object
    t0 = time.perf_counter()
    with pytest.raises(FileFormatError, match="array of"):
        read_gwy(_file(tmp_path, bytes(body)))
    assert time.perf_counter() - t0 < 1.0

