"""Bruker/WYKO Vision .opd reader (read only); files packed field by field in binbuild."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import numpy as np
import pytest
from fuzz.binbuild import build_opd, opd_entry

import metrology as m
from metrology.errors import FileFormatError
from metrology.io import detect
from metrology.io.opd import read_opd


def test_scale_spacing_and_the_bottom_first_columns(tmp_path: Path) -> None:
    nx, ny = 5, 4
    cols = np.zeros((nx, ny), np.float32)
    cols[1, ny - 1] = 2.0   # last value of column 1: the TOP of the image
    cols[3, 0] = -1.0       # first value of column 3: the bottom
    cols[4, 2] = 1.7014118e38  # Vision's invalid marker
    f = tmp_path / "a.opd"
    f.write_bytes(build_opd(cols, wavelength=600.0, pixel_mm=0.002, aspect=1.5))
    assert detect(f).name == "opd"
    hm = m.load(f)
    assert hm.shape == (ny, nx) and hm.meta["rows_flipped"] is False
    # y-up frame: row index = position in the column from the bottom
    assert hm.z_nm[ny - 1, 1] == pytest.approx(1200.0)   # waves x 600 nm, near the top
    assert hm.z_nm[0, 3] == pytest.approx(-600.0)
    assert np.isnan(hm.z_nm[2, 4]) and hm.n_valid == nx * ny - 1
    assert hm.dx_mm == 0.002 and hm.dy_mm == pytest.approx(0.003)
    assert hm.meta["wavelength_nm"] == 600.0 and hm.meta["timestamp"] == "2009-10-26T11:16:55"
    assert "Fancy (type 15)" in hm.meta["opd_unread_blocks"]  # skipped, not fatal


def test_int16_arrays_mult_and_their_invalid_marker(tmp_path: Path) -> None:
    cols = np.array([[10, -20, 32766], [300, 32767, 0]], np.int16)
    f = tmp_path / "i.opd"
    f.write_bytes(build_opd(cols, elsize=2, wavelength=80.0, mult=236, aspect=None))
    hm = read_opd(f)
    z = hm.z_nm  # (ny=3, nx=2)
    assert z[0, 0] == pytest.approx(10 * 80 / 236) and z[1, 0] == pytest.approx(-20 * 80 / 236)
    assert np.isnan(z[2, 0]) and np.isnan(z[1, 1]) and z[0, 1] == pytest.approx(300 * 80 / 236)
    assert hm.dy_mm == hm.dx_mm and hm.meta["opd_mult"] == 236


def test_channel_selection_and_refusals(tmp_path: Path) -> None:
    cols = np.ones((3, 2), np.float32)
    img = struct.pack("<HHH", 3, 2, 1) + bytes(6)
    f = tmp_path / "c.opd"
    f.write_bytes(build_opd(cols, name="Raw", extra=[("Image", 3, img),
                                                    ("OPD", 3, struct.pack("<HHH", 3, 2, 4)
                                                     + np.full(6, 5, "<f4").tobytes())]))
    assert read_opd(f).meta["opd_channel"] == "Raw"     # the first height array in the file
    assert read_opd(f, channel="OPD").z_nm[0, 0] == pytest.approx(5 * 632.8, rel=1e-6)
    with pytest.raises(FileFormatError, match="intensity"):
        read_opd(f, channel="Image")
    with pytest.raises(FileFormatError, match="no array block named"):
        read_opd(f, channel="Nope")
    f.write_bytes(build_opd(cols, name="Image"))
    with pytest.raises(FileFormatError, match="no height array"):
        read_opd(f)
    f.write_bytes(build_opd(cols).replace(b"Wavelength", b"Wavelengtx"))
    with pytest.raises(FileFormatError, match="Wavelength"):
        read_opd(f)
    f.write_bytes(b"\x01\x00Directorz" + bytes(40))
    with pytest.raises(FileFormatError):
        m.load(f, format="opd")


def test_declared_sizes_are_checked_before_reading(tmp_path: Path) -> None:
    f = tmp_path / "h.opd"
    t0 = time.perf_counter()
    f.write_bytes(build_opd(np.ones((3, 2), np.float32), nx=60000, ny=60000))
    with pytest.raises(FileFormatError, match="max_pixels"):
        read_opd(f)
    f.write_bytes(build_opd(np.ones((3, 2), np.float32), nx=300, ny=200))
    with pytest.raises(FileFormatError, match="declares 300 x 200"):
        read_opd(f)
    body = bytearray(build_opd(np.ones((3, 2), np.float32)))
    struct.pack_into("<I", body, 2 + 18, 24 * 10**6)  # directory longer than the file
    f.write_bytes(bytes(body))
    with pytest.raises(FileFormatError):
        read_opd(f)
    struct.pack_into("<I", body, 2 + 18, 24 * 11 + 5)  # not a multiple of 24
    f.write_bytes(bytes(body))
    with pytest.raises(FileFormatError, match="multiple"):
        read_opd(f)
    assert time.perf_counter() - t0 < 1.0
    assert opd_entry("x", 1, 0)[:1] == b"x"


# --------------------------------------------------------------------------- real data
@pytest.mark.realdata
def test_realdata_opd(realdata) -> None:
    hm = m.load(realdata("st_opd-1.opd"))
    # SurfaceTopography: 640 x 480 as stored [x, y], dx 0.000196733 mm, RMS 8.3565 nm,
    # PV 129.15 nm, 0.04 % invalid (surfalize fails: block type 15)
    assert hm.shape == (480, 640)
    assert hm.dx_mm == pytest.approx(0.000196733, rel=1e-6) and hm.dy_mm == hm.dx_mm
    assert hm.rms_nm == pytest.approx(8.3565, rel=1e-3)
    assert hm.pv_nm == pytest.approx(129.15, rel=1e-3)
    assert 1 - hm.valid_fraction == pytest.approx(0.0004, abs=5e-5)
    assert hm.meta["opd_channel"] == "Raw" and hm.meta["wavelength_nm"] == pytest.approx(577.295)

