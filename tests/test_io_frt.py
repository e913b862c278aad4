"""FRT MicroProf .frt reader (read only); files packed block by block in binbuild."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import numpy as np
import pytest
from fuzz.binbuild import build_frt

import metrology as m
from metrology.errors import FileFormatError
from metrology.io import detect
from metrology.io.frt import read_frt


def _raw() -> np.ndarray:
    r = np.full((3, 4), 1000, np.uint16)
    r[0, 1] = 3000      # first stored row: the bottom (lowest y)
    r[1, 2] = 1         # no signal
    r[2, :] = 0         # an unfinished last line, below the valid range
    return r


@pytest.mark.parametrize("v101", [False, True])
def test_scale_valid_range_and_bottom_first_rows(tmp_path: Path, v101: bool) -> None:
    f = tmp_path / "a.frt"
    f.write_bytes(build_frt(_raw(), zscale=1e-8, xrange_m=0.012, yrange_m=0.006, v101=v101))
    assert detect(f).name == "frt"
    hm = m.load(f)
    assert hm.shape == (3, 4) and hm.meta["rows_flipped"] is False
    assert hm.z_nm[0, 1] == pytest.approx(30000.0)   # 3000 counts x 10 nm, row 0 = bottom
    assert np.isnan(hm.z_nm[1, 2]) and np.all(np.isnan(hm.z_nm[2]))
    assert hm.n_valid == 7
    assert hm.dx_mm == pytest.approx(3.0) and hm.dy_mm == pytest.approx(2.0)
    assert hm.meta["frt_channel"] == "image 0 of block 0x007d"
    assert hm.meta["frt_measurement_end_recorded"] is False
    assert hm.meta["frt_scan_direction"] == "+x lines from low y"


def test_without_a_valid_range_only_the_no_signal_value_is_invalid(tmp_path: Path) -> None:
    f = tmp_path / "v.frt"
    f.write_bytes(build_frt(_raw(), valid=None, multi=False))
    hm = read_frt(f)
    assert hm.meta["frt_channel"] == "block 0x000b"
    assert np.isnan(hm.z_nm[1, 2]) and np.all(hm.z_nm[2] == 0.0) and hm.n_valid == 11


def test_32_bit_data_and_channel_selection(tmp_path: Path) -> None:
    raw = np.array([[-5, 10], [20, 1]], np.int32)
    f = tmp_path / "c.frt"
    f.write_bytes(build_frt(raw, bpp=32, valid=(0xFFFFFFF0, 100), zscale=2e-9))  # [-16, 100]
    hm = read_frt(f)
    assert hm.z_nm.tolist() == [[-10.0, 20.0], [40.0, 2.0]]
    with pytest.raises(FileFormatError, match="not topography"):
        read_frt(f, channel=1)  # the intensity image
    with pytest.raises(FileFormatError, match="does not exist"):
        read_frt(f, channel=5)


def test_refusals_and_absurd_sizes(tmp_path: Path) -> None:
    f = tmp_path / "r.frt"
    f.write_bytes(build_frt(_raw()).replace(b"V1.00", b"V2.00", 1))
    with pytest.raises(FileFormatError, match="version"):
        read_frt(f)
    b = build_frt(_raw(), multi=False, single=False)
    f.write_bytes(b)
    with pytest.raises(FileFormatError, match="no topography"):
        read_frt(f)
    t0 = time.perf_counter()
    b = bytearray(build_frt(_raw(), multi=False))
    i = b.index(struct.pack("<H", 0x66) + struct.pack("<I", 12))
    struct.pack_into("<2I", b, i + 6, 60000, 60000)
    f.write_bytes(bytes(b))
    with pytest.raises(FileFormatError):
        read_frt(f)
    assert time.perf_counter() - t0 < 1.0


# --------------------------------------------------------------------------- real data
@pytest.mark.realdata
def test_realdata_frt(realdata) -> None:
    hm = m.load(realdata("st_frt-1.frt"))
    # SurfaceTopography: 500 x 500, 0.024 mm, RMS 4915.8, PV 305 210, 30.58 % invalid --
    # it masks only the raw value 1 and so counts the unfinished last row (all 0, below the
    # file's declared valid range [5, 65529]) as heights 79 um under the surface
    assert hm.shape == (500, 500) and hm.dx_mm == pytest.approx(0.024)
    assert hm.meta["frt_invalid_rule"].startswith("raw values outside the declared valid "
                                                  "range [5, 65529]")
    assert 1 - hm.valid_fraction == pytest.approx(0.307824, abs=1e-6)
    assert hm.rms_nm == pytest.approx(2504.54, rel=1e-3)
    assert hm.pv_nm == pytest.approx(304950.7, rel=1e-3)
    assert np.all(np.isnan(hm.z_nm[-1]))  # the stored last row, top of the y-up map


@pytest.mark.realdata
def test_realdata_frt_peer_figure_is_the_masked_ones_only(realdata) -> None:
    data = realdata("st_frt-1.frt").read_bytes()
    raw = np.frombuffer(data, "<u2", 250000, 124).reshape(500, 500)  # block 0x000b
    assert np.all(raw[-1] == 0) and np.count_nonzero(raw == 0) == 500
    v = raw[raw != 1].astype(float) * 9.765923032319103  # nm per count
    assert v.std() == pytest.approx(4915.8, rel=1e-3) and np.ptp(v) == pytest.approx(305210,
                                                                                      rel=1e-3)

