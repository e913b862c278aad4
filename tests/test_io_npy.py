"""NumPy .npz (self-describing) and bare .npy height maps."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

import metrology
from metrology import FileFormatError, HeightMap
from metrology.io import npy

from iohelpers import marked_map


@pytest.fixture
def hm() -> HeightMap:
    return HeightMap(marked_map(), 0.0123, 0.0456,
                     {"wavelength_nm": 632.8, "instrument": "Zygo GPI", "format": "datx",
                      "rows_flipped": True, "crop_offset_mm": (0.5, -0.25),
                      "n": np.int64(3)})


# -- .npz --------------------------------------------------------------------------------------

def test_npz_round_trip_exact(hm: HeightMap, tmp_path: Path) -> None:
    p = tmp_path / "m.npz"
    metrology.save(hm, p)
    back = metrology.load(p)
    assert back == hm  # exact: shape, dx, dy, values, NaN mask
    assert back.dx_mm == 0.0123 and back.dy_mm == 0.0456
    m = back.meta
    assert m["format"] == "npz" and m["rows_flipped"] is False
    assert m["wavelength_nm"] == 632.8 and m["instrument"] == "Zygo GPI"
    assert m["crop_offset_mm"] == [0.5, -0.25] and m["n"] == 3  # through JSON
    assert m["npz_stored"]["format"] == "datx" and m["npz_stored"]["rows_flipped"] is True
    assert back.z_nm[10, 1] == 500.0 and np.isnan(back.z_nm[0, -1])  # orientation kept


def test_npz_compressed_and_sniffed_without_extension(hm: HeightMap, tmp_path: Path) -> None:
    p = tmp_path / "m.npz"
    npy.write_npz(hm, p, compress=True)
    q = tmp_path / "no_extension"
    q.write_bytes(p.read_bytes())
    back = metrology.load(q)  # found by its first member z_nm.npy
    assert back == hm and back.meta["format"] == "npz"


def test_foreign_npz_refused(tmp_path: Path) -> None:
    p = tmp_path / "other.npz"
    np.savez(p, heights=np.ones((3, 3)))
    with pytest.raises(FileFormatError, match="heights"):
        metrology.load(p)


def test_npz_with_pickled_member_refused(tmp_path: Path) -> None:
    p = tmp_path / "pickled.npz"
    np.savez(p, z_nm=np.ones((2, 2)), dx_mm=np.array(0.1), meta=np.array([{"a": 1}], dtype=object))
    with pytest.raises(FileFormatError, match="objects|JSON"):
        metrology.load(p)


# -- bare .npy ---------------------------------------------------------------------------------

def test_npy_needs_dx_mm(tmp_path: Path) -> None:
    p = tmp_path / "z.npy"
    np.save(p, marked_map())
    with pytest.raises(FileFormatError, match="dx_mm=") as ei:
        metrology.load(p)
    assert str(p) in str(ei.value)


def test_npy_round_trip_and_options(hm: HeightMap, tmp_path: Path) -> None:
    p = tmp_path / "z.npy"
    metrology.save(hm, p)
    back = metrology.load(p, dx_mm=0.0123, dy_mm=0.0456)
    assert back == hm
    assert back.meta["format"] == "npy" and back.meta["z_unit_original"] == "nm"
    um = metrology.load(p, dx_mm=0.1, z_unit="um")
    np.testing.assert_array_equal(um.z_nm, hm.z_nm * 1000.0)
    flipped = metrology.load(p, dx_mm=0.1, flip_rows=True)
    np.testing.assert_array_equal(flipped.z_nm, hm.z_nm[::-1])
    assert flipped.meta["rows_flipped"] is True
    with pytest.raises(FileFormatError, match="z_unit"):
        metrology.load(p, dx_mm=0.1, z_unit="furlong")


def test_npy_integer_and_fortran_arrays(tmp_path: Path) -> None:
    a = np.asfortranarray(np.arange(12, dtype=np.int16).reshape(3, 4))
    p = tmp_path / "i.npy"
    np.save(p, a)
    back = metrology.load(p, dx_mm=1.0)
    np.testing.assert_array_equal(back.z_nm, a.astype(float))


@pytest.mark.parametrize("arr", [np.ones(5), np.ones((2, 2, 2)), np.zeros((0, 3)),
                                 np.array([["a", "b"]]), np.ones((2, 2), dtype=complex)])
def test_npy_non_height_arrays_refused(arr: np.ndarray, tmp_path: Path) -> None:
    p = tmp_path / "bad.npy"
    np.save(p, arr)
    with pytest.raises(FileFormatError):
        metrology.load(p, dx_mm=1.0)


def test_npy_object_array_never_unpickled(tmp_path: Path) -> None:
    p = tmp_path / "obj.npy"
    np.save(p, np.array([[object(), 1]], dtype=object), allow_pickle=True)
    with pytest.raises(FileFormatError, match="objects"):
        metrology.load(p, dx_mm=1.0)


def test_npy_huge_declared_shape_checked_before_allocating(tmp_path: Path) -> None:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)})
    p = tmp_path / "huge.npy"
    p.write_bytes(buf.getvalue() + b"\0" * 64)
    with pytest.raises(FileFormatError, match="declares"):
        metrology.load(p, dx_mm=1.0)


# -- corrupt files -----------------------------------------------------------------------------



@pytest.fixture(scope="module")
def npz_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    p = tmp_path_factory.mktemp("npz") / "m.npz"
    npy.write_npz(HeightMap(marked_map(), 0.1, meta={"wavelength_nm": 632.8}), p)
    return p.read_bytes()




def test_npz_flip_in_data_caught_by_crc(npz_bytes: bytes, tmp_path: Path) -> None:
    with zipfile.ZipFile(io.BytesIO(npz_bytes)) as zf:
        info = zf.getinfo("z_nm.npy")
    data_start = info.header_offset + 30 + len(info.filename.encode()) + 200  # inside the array
    b = bytearray(npz_bytes)
    b[data_start] ^= 0x40
    p = tmp_path / "crc.npz"
    p.write_bytes(bytes(b))
    with pytest.raises(FileFormatError, match="corrupt|CRC|Bad"):
        metrology.load(p)
