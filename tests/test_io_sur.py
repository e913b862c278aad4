"""Digital Surf .sur reader (read only).

Synthetic files are packed here field by field at the documented byte offsets
of the 512-byte header, independently of the reader's struct layout.
"""

from __future__ import annotations

import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

import metrology as m
from metrology.errors import FileFormatError
from metrology.io import detect
from metrology.io.sur import read_sur


def _s(text: str, n: int) -> bytes:
    return text.encode("latin-1").ljust(n, b" ")


def build_sur(raw: np.ndarray, *, point_size: int = 32, dx: float = 0.5, dy: float = 0.25,
              dz: float = 2.0, xy_unit: str = "\u00b5m", z_unit: str = "nm", zmin: int = 0,
              zmax: int = 0, special: int = 0, compressed: bool = False, nstreams: int = 1,
              comment: bytes = b"", private: bytes = b"", z_offset: float = 0.0,
              inversion: int = 0, object_type: int = 2, n_points: int | None = None,
              n_lines: int | None = None, year: int = 2023,
              compressed_size: int | None = None) -> bytes:
    ny, nx = raw.shape
    nx_h = nx if n_points is None else n_points
    ny_h = ny if n_lines is None else n_lines
    h = bytearray(512)
    h[0:12] = b"DSCOMPRESSED" if compressed else b"DIGITAL SURF"
    struct.pack_into("<hhhh", h, 12, 0, 1, 1, object_type)
    h[20:50] = _s("sample", 30)
    h[50:80] = _s("operator", 30)
    struct.pack_into("<hhhhh", h, 80, 0, 9, 0, special, 1)  # acquisition 9: interferometer
    struct.pack_into("<h", h, 98, point_size)
    struct.pack_into("<iiiii", h, 100, zmin, zmax, nx_h, ny_h, nx_h * ny_h)
    struct.pack_into("<fff", h, 120, dx, dy, dz)
    for k, txt in enumerate(["X", "Y", "Z", xy_unit, xy_unit, z_unit, xy_unit, xy_unit,
                             z_unit]):
        h[132 + 16 * k:148 + 16 * k] = _s(txt, 16)
    struct.pack_into("<fff", h, 276, 1.0, 1.0, 1.0)
    struct.pack_into("<hhh", h, 288, 0, inversion, 0)
    struct.pack_into("<7h", h, 306, 5, 4, 3, 2, 1, year, 0)  # 03:04:05 on 2 Jan
    struct.pack_into("<HH", h, 334, len(comment), len(private))
    struct.pack_into("<f", h, 474, z_offset)
    dt = "<i2" if point_size == 16 else "<i4"
    data = np.ascontiguousarray(raw, dtype=dt).tobytes()
    if compressed:
        parts = np.array_split(np.frombuffer(data, dtype=dt), nstreams)
        zipped = [zlib.compress(p.tobytes()) for p in parts]
        block = struct.pack("<I", nstreams)
        for p, zp in zip(parts, zipped, strict=True):
            block += struct.pack("<II", p.nbytes, len(zp))
        data = block + b"".join(zipped)
        if compressed_size is None:  # the header's size of the whole compressed block
            compressed_size = len(data)
    if compressed_size:
        struct.pack_into("<I", h, 324, compressed_size)
    return bytes(h) + comment + private + data


RAW = np.array([[10, -20, 30, 40], [50, 60, -70, 80], [90, 100, 110, -120]])


def test_int32_units_and_order(tmp_path: Path) -> None:
    f = tmp_path / "a.sur"
    f.write_bytes(build_sur(RAW, dz=2.0, z_unit="nm", dx=0.5, dy=0.25, xy_unit="\u00b5m",
                            z_offset=1.5))
    hm = read_sur(f)
    # first stored line = top of the image = last row of the y-up map; z = raw * 2 nm + 1.5
    np.testing.assert_array_equal(hm.z_nm, (RAW * 2.0 + 1.5)[::-1])
    assert hm.dx_mm == 0.0005 and hm.dy_mm == 0.00025
    assert hm.meta["rows_flipped"] is True
    assert hm.meta["timestamp"] == "2023-01-02T03:04:05"
    assert hm.meta["instrument"] == "interferometer"
    assert hm.meta["z_unit_original"] == "nm" and hm.meta["z_scale_to_nm"] == 2.0
    assert detect(f).name == "sur"


@pytest.mark.parametrize(("z_unit", "dz", "scale"), [("mm", 1e-7, 0.1), ("um", 0.001, 1.0),
                                                      ("\u00b5m", 0.5, 500.0), ("m", 1e-9, 1.0)])
def test_z_units(tmp_path: Path, z_unit: str, dz: float, scale: float) -> None:
    f = tmp_path / "u.sur"
    f.write_bytes(build_sur(RAW, point_size=16, dz=dz, z_unit=z_unit))
    hm = read_sur(f)
    assert hm.meta["z_scale_to_nm"] == scale  # float32 header read as its shortest decimal
    np.testing.assert_array_equal(hm.z_nm, (RAW * scale)[::-1])


def test_non_measured_points(tmp_path: Path) -> None:
    raw = RAW.copy()
    raw[1, 2] = -7 - 2          # zmin - 2 marks "not measured"
    raw[2, 0] = -7 - 1          # a real value next to the marker stays
    f = tmp_path / "n.sur"
    f.write_bytes(build_sur(raw, zmin=-7, zmax=200, special=1, dz=1.0))
    hm = read_sur(f).flip_y()  # back to file order
    assert np.flatnonzero(~hm.valid.ravel()).tolist() == [6]
    assert hm.z_nm[2, 0] == -8.0
    # without the special-points flag the same value is a height
    f.write_bytes(build_sur(raw, zmin=-7, zmax=200, special=0, dz=1.0))
    assert read_sur(f).valid.all()


@pytest.mark.parametrize("nstreams", [1, 3])
@pytest.mark.parametrize("point_size", [16, 32])
def test_compressed_equals_uncompressed(tmp_path: Path, nstreams: int, point_size: int) -> None:
    rng = np.random.default_rng(3)
    raw = rng.integers(-3000, 3000, size=(7, 11))
    a, b = tmp_path / "a.sur", tmp_path / "b.sur"
    a.write_bytes(build_sur(raw, point_size=point_size, comment=b"hello", private=b"xyz"))
    b.write_bytes(build_sur(raw, point_size=point_size, comment=b"hello", private=b"xyz",
                            compressed=True, nstreams=nstreams))
    ha, hb = read_sur(a), read_sur(b)
    assert ha == hb
    np.testing.assert_array_equal(ha.z_nm, (raw * 2.0)[::-1])
    assert hb.meta["sur_compressed"] is True and ha.meta["sur_comment"] == "hello"


def test_compressed_data_size_in_the_header_is_checked(tmp_path: Path) -> None:
    # DSCOMPRESSED: the header's compressed data size (byte 324) is the size of the whole
    # block: 4 (stream count) + 8 per stream (raw, compressed lengths) + the streams
    rng = np.random.default_rng(5)
    raw = rng.integers(-9, 9, size=(6, 5))
    good = build_sur(raw, compressed=True, nstreams=2)
    (declared,) = struct.unpack_from("<I", good, 324)
    assert declared == len(good) - 512
    f = tmp_path / "c.sur"
    f.write_bytes(good)
    np.testing.assert_array_equal(read_sur(f).flip_y().z_nm, raw * 2.0)
    f.write_bytes(build_sur(raw, compressed=True, nstreams=2, compressed_size=declared + 8))
    with pytest.raises(FileFormatError, match="compressed data size"):
        read_sur(f)
    f.write_bytes(build_sur(raw, compressed=True, compressed_size=0))  # unset: not checked
    np.testing.assert_array_equal(read_sur(f).flip_y().z_nm, raw * 2.0)


def test_inversion_flag(tmp_path: Path) -> None:
    f = tmp_path / "i.sur"
    f.write_bytes(build_sur(RAW, dz=1.0, inversion=2))
    with pytest.raises(FileFormatError, match="inversion"):
        read_sur(f)
    np.testing.assert_array_equal(read_sur(f, inversion="ignore").z_nm, RAW[::-1])
    # "flipped" mirrors the lines once more: back to file order, negated
    np.testing.assert_array_equal(read_sur(f, inversion="apply").z_nm, -RAW)


def test_refusals(tmp_path: Path) -> None:
    f = tmp_path / "r.sur"
    f.write_bytes(build_sur(RAW, object_type=12))
    with pytest.raises(FileFormatError, match="RGB image"):
        read_sur(f)
    f.write_bytes(build_sur(RAW, point_size=8))
    with pytest.raises(FileFormatError, match="point size"):
        read_sur(f)
    f.write_bytes(build_sur(RAW, z_unit="Pa"))
    with pytest.raises(FileFormatError, match="Pa"):
        read_sur(f)
    f.write_bytes(b"DIGITAL SUR" + b"\x00" * 600)
    with pytest.raises(FileFormatError, match="DIGITAL SURF"):
        read_sur(f)


def test_absurd_sizes_fail_fast(tmp_path: Path) -> None:
    f = tmp_path / "h.sur"
    t0 = time.perf_counter()
    f.write_bytes(build_sur(RAW, n_points=40000, n_lines=40000))
    with pytest.raises(FileFormatError, match="declares"):
        read_sur(f)
    # compressed: directory claims a huge raw length from a few bytes
    body = bytearray(build_sur(RAW, compressed=True))
    struct.pack_into("<iii", body, 108, 40000, 40000, 40000 * 40000)
    struct.pack_into("<I", body, 512 + 4, 40000 * 40000 * 4 % 2**32)
    f.write_bytes(bytes(body))
    with pytest.raises(FileFormatError):
        read_sur(f)
    assert time.perf_counter() - t0 < 1.0








# --------------------------------------------------------------------------- real data
@pytest.mark.realdata
def test_realdata_sur2(realdata) -> None:
    hm = m.load(realdata("st_sur-2.sur"))
    assert hm.shape == (484, 563)
    assert hm.dx_mm == 0.003484 and hm.dy_mm == 0.003484
    assert hm.rms_nm == pytest.approx(17.52, rel=1e-3)
    assert hm.pv_nm == pytest.approx(1476, rel=1e-3)
    assert 1 - hm.valid_fraction == pytest.approx(0.0004, abs=1e-3)
    assert hm.meta["sur_point_size"] == 32 and hm.meta["rows_flipped"] is True


