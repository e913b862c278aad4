"""ISO 25178-71 SDF reader/writer (ASCII and binary)."""

from __future__ import annotations

import struct
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

import metrology as m
from metrology.errors import FileFormatError
from metrology.io import detect
from metrology.io.sdf import read_sdf, write_sdf


def marked_map(ny: int = 5, nx: int = 8) -> np.ndarray:
    z = np.add.outer(np.linspace(0.0, 3.0, ny), np.linspace(-7.25, 9.5, nx)) * 11.1
    z[-1, -1] = 987.654321     # top-right marker
    z[0, 2] = np.nan
    z[3, 0] = -0.1
    return z


def ascii_sdf(nx: int, ny: int, values: str, *, xs: str = "1.0E-6", ys: str = "2.0E-6",
              zs: str = "1.0E-6", dtype: int = 7, comp: int = 0) -> bytes:
    return (f"aISO-1.0\nManufacID = TEST\nCreateDate = 010220241530\nModDate = 010220241530\n"
            f"NumPoints = {nx}\nNumProfiles = {ny}\nXscale = {xs}\nYscale = {ys}\n"
            f"Zscale = {zs}\nZresolution = -1\nCompression = {comp}\nDataType = {dtype}\n"
            f"CheckType = 0\n*\n{values}\n*\n*\n").encode()


def binary_sdf(raw: np.ndarray, dtype_code: int, *, xs: float = 1e-6, ys: float = 2e-6,
               zs: float = 1e-9, comp: int = 0, nx: int | None = None,
               ny: int | None = None) -> bytes:
    """Pack the 81-byte header field by field at the offsets of the standard."""
    h = bytearray(81)
    h[0:8] = b"bISO-1.0"
    h[8:18] = b"TEST      "
    h[18:30] = b"010220241530"
    h[30:42] = b"010220241530"
    struct.pack_into("<H", h, 42, raw.shape[1] if nx is None else nx)
    struct.pack_into("<H", h, 44, raw.shape[0] if ny is None else ny)
    struct.pack_into("<d", h, 46, xs)
    struct.pack_into("<d", h, 54, ys)
    struct.pack_into("<d", h, 62, zs)
    struct.pack_into("<d", h, 70, -1.0)
    h[78], h[79], h[80] = comp, dtype_code, 0
    dt = {0: "u1", 1: "<u2", 2: "<u4", 3: "<f4", 4: "i1", 5: "<i2", 6: "<i4", 7: "<f8"}
    return bytes(h) + np.ascontiguousarray(raw, dtype=dt[dtype_code]).tobytes()


# --------------------------------------------------------------------------- round trip
@pytest.mark.parametrize("binary", [False, True])
def test_round_trip_exact(tmp_path: Path, binary: bool) -> None:
    z = marked_map()
    hm = m.HeightMap(z, 0.0012, 0.0031)
    f = tmp_path / "r.sdf"
    m.save(hm, f, binary=binary)
    assert f.read_bytes()[:8] == (b"bISO-1.0" if binary else b"aISO-1.0")
    back = m.load(f)
    assert back == hm                       # exact heights, NaN mask, spacing, shape
    assert back.z_nm[-1, -1] == 987.654321  # marker still top-right
    assert back.meta["rows_flipped"] is False
    assert back.meta["sdf_variant"] == ("binary" if binary else "ascii")
    assert detect(f).name == "sdf"


def test_binary_writer_refuses_too_large(tmp_path: Path) -> None:
    hm = m.HeightMap(np.zeros((1, 70000)), 0.001)
    with pytest.raises(FileFormatError, match="65535"):
        write_sdf(hm, tmp_path / "x.sdf", binary=True)


# --------------------------------------------------------------------------- by-hand files
def test_ascii_values_order_and_bad(tmp_path: Path) -> None:
    # 2 profiles x 3 points; first profile is y = 0 (row 0); values in um (Zscale 1e-6)
    f = tmp_path / "a.sdf"
    f.write_bytes(ascii_sdf(3, 2, "1.5 BAD -2\n0.001 2 3"))
    hm = read_sdf(f)
    np.testing.assert_array_equal(hm.z_nm, [[1500.0, np.nan, -2000.0], [1.0, 2000.0, 3000.0]])
    assert hm.dx_mm == 0.001 and hm.dy_mm == 0.002
    assert hm.meta["timestamp"] == "2024-02-01T15:30:00"
    assert hm.meta["z_scale_to_nm"] == 1000.0


@pytest.mark.parametrize(("code", "marker"), [(5, -(2**15)), (6, -(2**31)), (1, 2**16 - 1),
                                              (2, 2**32 - 1)])
def test_binary_integer_types_and_invalid_marker(tmp_path: Path, code: int, marker: int) -> None:
    raw = np.array([[0, 1, marker], [7, 8, 9]])
    f = tmp_path / "b.sdf"
    f.write_bytes(binary_sdf(raw, code, zs=0.5e-9))  # 0.5 nm per count
    hm = read_sdf(f)
    np.testing.assert_array_equal(hm.z_nm, [[0.0, 0.5, np.nan], [3.5, 4.0, 4.5]])


@pytest.mark.parametrize("code", [0, 3, 4, 7])
def test_binary_other_types(tmp_path: Path, code: int) -> None:
    raw = np.array([[1, 2], [3, 4]])
    f = tmp_path / "c.sdf"
    f.write_bytes(binary_sdf(raw, code, zs=1e-9))
    np.testing.assert_array_equal(read_sdf(f).z_nm, raw.astype(float))


def test_ascii_header_keys_any_case(tmp_path: Path) -> None:
    f = tmp_path / "k.sdf"
    f.write_bytes(ascii_sdf(2, 1, "1 2").replace(b"NumPoints", b"NUMPOINTS"))
    np.testing.assert_array_equal(read_sdf(f).z_nm, [[1000.0, 2000.0]])


def test_refusals(tmp_path: Path) -> None:
    f = tmp_path / "r.sdf"
    f.write_bytes(ascii_sdf(2, 1, "1 2", comp=1))
    with pytest.raises(FileFormatError, match="Compression"):
        read_sdf(f)
    f.write_bytes(ascii_sdf(2, 1, "1 2", dtype=9))
    with pytest.raises(FileFormatError, match="DataType"):
        read_sdf(f)
    f.write_bytes(ascii_sdf(2, 2, "1 2 3"))
    with pytest.raises(FileFormatError, match="3 values"):
        read_sdf(f)
    f.write_bytes(ascii_sdf(2, 1, "1 x"))
    with pytest.raises(FileFormatError, match="not a number"):
        read_sdf(f)
    f.write_bytes(ascii_sdf(2, 1, "1 2", xs="-1e-6"))
    with pytest.raises(FileFormatError, match="Xscale"):
        read_sdf(f)
    f.write_bytes(b"aISO-1.0\nNumPoints = 2\n*\n1 2\n*\n")
    with pytest.raises(FileFormatError, match="lacks"):
        read_sdf(f)
    f.write_bytes(b"cISO-1.0 whatever")
    with pytest.raises(FileFormatError, match="aISO"):
        read_sdf(f)


def test_absurd_sizes_fail_fast(tmp_path: Path) -> None:
    f = tmp_path / "h.sdf"
    f.write_bytes(ascii_sdf(65535, 65535, "1 2 3"))
    t0 = time.perf_counter()
    with pytest.raises(FileFormatError, match="declares"):
        read_sdf(f)
    f.write_bytes(binary_sdf(np.zeros((4, 4)), 7, nx=65535, ny=65535))
    with pytest.raises(FileFormatError, match="declares"):
        read_sdf(f)
    assert time.perf_counter() - t0 < 1.0


def _written(binary: bool) -> bytes:
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "t.sdf"
        write_sdf(m.HeightMap(marked_map(), 0.001, 0.002), f, binary=binary)
        return f.read_bytes()


ASCII = _written(False)




def test_ascii_cut_inside_last_value_is_caught(tmp_path: Path) -> None:
    # cutting inside the last number leaves the value count intact; the missing
    # closing '*' must still be noticed
    end = ASCII.rindex(b"\n*\n*\n")
    f = tmp_path / "cut.sdf"
    f.write_bytes(ASCII[: end - 2])
    with pytest.raises(FileFormatError, match=r"\*"):
        read_sdf(f)




# --------------------------------------------------------------------------- real data
@pytest.mark.realdata
def test_realdata_iso_example(realdata) -> None:
    f = realdata("iso25178-71_example.sdf")
    hm = m.load(f)
    assert hm.shape == (4, 7)
    assert hm.dx_mm == 0.001 and hm.dy_mm == 0.001
    assert hm.rms_nm == pytest.approx(13.6, rel=1e-3)
    assert hm.pv_nm == pytest.approx(50.93, rel=1e-3)
    assert hm.valid_fraction == 1.0
    # first profile of the file is row 0; values 1.00000 and 0.94907 um
    assert hm.z_nm[0, 0] == pytest.approx(1000.0, rel=1e-12)
    assert hm.z_nm[3, 5] == pytest.approx(949.07, rel=1e-12)
    assert hm.meta["instrument"] == "ISOTC213"
    assert "Tom Jones" in hm.meta["sdf_header"]["trailer"]


