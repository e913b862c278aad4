"""Sensofar .plu reader (read only); files packed field by field in binbuild."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import numpy as np
import pytest
from fuzz.binbuild import build_plu

import metrology as m
from metrology.errors import FileFormatError
from metrology.io import detect
from metrology.io.plu import read_plu
from metrology.profile import Profile


def test_units_invalid_marker_and_top_first_rows(tmp_path: Path) -> None:
    rows = np.zeros((3, 4), np.float32)
    rows[0, 1] = 2.5          # first stored row = top of the image
    rows[2, 3] = 1000001.0    # Sensofar's non-measured marker
    rows[1, 0] = np.nan
    f = tmp_path / "a.plu"
    f.write_bytes(build_plu(rows, mppx=1.66, mppy=0.83))
    assert detect(f).name == "plu"
    hm = m.load(f)
    assert hm.shape == (3, 4) and hm.meta["rows_flipped"] is True
    assert hm.z_nm[2, 1] == 2500.0          # top row of the y-up map
    assert np.isnan(hm.z_nm[0, 3]) and np.isnan(hm.z_nm[1, 0]) and hm.n_valid == 10
    assert hm.dx_mm == 0.00166 and hm.dy_mm == 0.00083  # float32 header read as decimals
    assert hm.meta["timestamp"] == "2023-03-10T16:35:59"


def test_the_layer_size_pair_is_not_data(tmp_path: Path) -> None:
    # reading the heights from byte 500 (without the layer's rows, cols) would shift them by
    # two values; the reader starts at 508 and checks the pair against the header
    rows = np.full((2, 3), -106.0, np.float32)
    rows[0, 0] = -111.0
    f = tmp_path / "s.plu"
    f.write_bytes(build_plu(rows))
    hm = read_plu(f)
    assert hm.pv_nm == pytest.approx(5000.0) and hm.z_nm.max() == -106000.0
    f.write_bytes(build_plu(rows, header_rows=3))
    with pytest.raises(FileFormatError, match="header declares 3 x 3"):
        read_plu(f)


def test_profiles_and_refusals(tmp_path: Path) -> None:
    f = tmp_path / "p.plu"
    f.write_bytes(build_plu(np.array([[1.0, 2.0, 3.0]], np.float32), mtype=1))
    p = m.load(f)
    assert isinstance(p, Profile) and p.z_nm.tolist() == [1000.0, 2000.0, 3000.0]
    f.write_bytes(build_plu(np.ones((2, 2), np.float32), mtype=0))
    with pytest.raises(FileFormatError, match="image"):
        read_plu(f)
    f.write_bytes(build_plu(np.ones((2, 2), np.float32), nlayers=0))
    with pytest.raises(FileFormatError, match="layers"):
        read_plu(f)
    f.write_bytes(build_plu(np.ones((2, 2), np.float32), date=b"Fri Mar 10 16:35:59 2023X"))
    with pytest.raises(FileFormatError, match="ctime"):
        read_plu(f)
    f.write_bytes(build_plu(np.ones((2, 2), np.float32), mppx=0.0))
    with pytest.raises(FileFormatError, match="plausible"):
        read_plu(f)


def test_absurd_sizes_fail_fast(tmp_path: Path) -> None:
    f = tmp_path / "h.plu"
    b = bytearray(build_plu(np.ones((2, 2), np.float32)))
    struct.pack_into("<2I", b, 388, 50000, 50000)
    struct.pack_into("<2I", b, 500, 50000, 50000)
    f.write_bytes(bytes(b))
    t0 = time.perf_counter()
    with pytest.raises(FileFormatError):
        read_plu(f)
    struct.pack_into("<2I", b, 388, 3000, 3000)
    struct.pack_into("<2I", b, 500, 3000, 3000)
    f.write_bytes(bytes(b))
    with pytest.raises(FileFormatError, match="truncated"):
        read_plu(f)
    assert time.perf_counter() - t0 < 1.0


# --------------------------------------------------------------------------- real data
@pytest.mark.realdata
def test_realdata_plu(realdata) -> None:
    hm = m.load(realdata("st_plu-1.plu"))
    # SurfaceTopography: 768 x 576 [x, y], 0.00166 mm, RMS 2834.4, PV 10 016, 0 invalid
    # surfalize: RMS 2843.4, PV 111 230 -- it starts the heights 8 bytes early (below)
    assert hm.shape == (576, 768)
    assert hm.dx_mm == 0.00166 and hm.dy_mm == 0.00166
    assert hm.rms_nm == pytest.approx(2834.4, rel=1e-3)
    assert hm.pv_nm == pytest.approx(10016, rel=1e-3)
    assert hm.valid_fraction == 1.0


@pytest.mark.realdata
def test_realdata_plu_surfalize_offset_explains_its_pv(realdata) -> None:
    data = realdata("st_plu-1.plu").read_bytes()
    assert struct.unpack_from("<II", data, 500) == (576, 768)  # the layer's size, not heights
    early = np.frombuffer(data, "<f4", 576 * 768, 500).astype(float) * 1000
    # the two integers read as float32 heights: ~1e-39 nm, i.e. two points at 0 among
    # heights near -106 000 nm
    assert np.abs(early[:2]).max() < 1e-30 and early[2:].max() < -100_000
    assert np.ptp(early) == pytest.approx(111230, rel=1e-4)  # surfalize's PV
    assert early.std() == pytest.approx(2843.4, rel=1e-4)    # and RMS

