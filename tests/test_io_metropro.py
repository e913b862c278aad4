"""Zygo MetroPro .dat reader/writer.

Ground truth: the real file's reference figures (README, two independent
readers), the documented field offsets and phase-resolution factors
R = 4096 / 32768 / 131072, and files assembled here byte by byte.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

import metrology
from metrology import FileFormatError, HeightMap
from metrology.io import metropro

from iohelpers import marked_map

REAL = "prysm_valid_zygo.dat"




def patch(path: Path, fmt: str, offset: int, *values: object) -> None:
    b = bytearray(path.read_bytes())
    struct.pack_into(fmt, b, offset, *values)
    path.write_bytes(bytes(b))


def build(path: Path, phase_counts: np.ndarray, *, intensity: np.ndarray | None = None,
          sf: float = 0.5, wl_m: float = 632.8e-9, obl: float = 1.0, lat_m: float = 1e-4,
          phase_res: int = 1, sign: int = 0, magic: int = 0x881B036F) -> None:
    """Assemble a MetroPro file from the documented layout (independent of the writer)."""
    fmt, hsize = {0x881B036F: (1, 834), 0x881B0370: (2, 834), 0x881B0371: (3, 4096)}[magic]
    h = bytearray(hsize)
    nrows, ncols = phase_counts.shape
    struct.pack_into(">IhI", h, 0, magic, fmt, hsize)
    if intensity is not None:
        nb, ih, iw = intensity.shape
        struct.pack_into(">HHHhI", h, 52, iw, ih, nb, 255, 2 * intensity.size)
    struct.pack_into(">HHI", h, 68, ncols, nrows, 4 * phase_counts.size)
    struct.pack_into(">ffff", h, 164, sf, wl_m, 0.0, obl)
    struct.pack_into(">f", h, 184, lat_m)
    struct.pack_into(">h", h, 218, phase_res)
    struct.pack_into(">h", h, 232, sign)
    struct.pack_into("<i", h, 502, 1)  # a little-endian late field, as in real files
    body = b"" if intensity is None else intensity.astype(">u2").tobytes()
    path.write_bytes(bytes(h) + body + phase_counts.astype(">i4").tobytes())


@pytest.fixture
def counts() -> np.ndarray:
    c = np.arange(-40, 40, dtype=np.int64).reshape(8, 10) * 1000
    c[0, 0] = 2147483647  # invalid (>= 2147483640), top-left of the image
    return c


# -- real file ---------------------------------------------------------------------------------

def test_realdata_reference_figures(realdata) -> None:
    hm = metrology.load(realdata(REAL))
    assert hm.shape == (432, 425)
    assert hm.dx_mm == pytest.approx(0.117924, rel=1e-3) and hm.dy_mm == hm.dx_mm
    assert hm.rms_nm == pytest.approx(44.59, rel=1e-3)
    assert hm.pv_nm == pytest.approx(330.7, rel=1e-3)
    assert 1 - hm.valid_fraction == pytest.approx(0.257, abs=1e-3)
    m = hm.meta
    assert m["format"] == "metropro" and m["header_format"] == 1 and m["phase_res"] == 1
    assert m["software"] == "MetroPro 8.3.5"
    assert m["wavelength_nm"] == pytest.approx(632.8, rel=1e-6)
    assert m["rows_flipped"] is True and m["lateral_calibrated"] is True
    assert m["timestamp"].startswith("2015-")


def test_realdata_intensity_is_big_endian(realdata) -> None:
    inten = metropro.read_intensity(realdata(REAL))
    assert inten.shape == (1, 480, 640)
    # an 8-bit camera: big-endian values are < 256; read little-endian they would be
    # multiples of 256 up to 0xFF00
    assert inten.max() < 256 and inten.max() > 0


# -- files assembled from the documented layout ------------------------------------------------

@pytest.mark.parametrize(("phase_res", "r"), [(0, 4096), (1, 32768), (2, 131072)])
def test_scale_and_orientation_from_documented_layout(tmp_path: Path, counts: np.ndarray,
                                                      phase_res: int, r: int) -> None:
    p = tmp_path / "a.dat"
    build(p, counts, sf=0.5, wl_m=632.8e-9, obl=1.25, phase_res=phase_res)
    hm = metrology.load(p)
    step_nm = float(np.float32(0.5)) * float(np.float32(632.8e-9)) * 1.25 / r * 1e9
    expect = counts * step_nm
    expect[0, 0] = np.nan
    np.testing.assert_allclose(hm.z_nm, expect[::-1], rtol=1e-12, equal_nan=True)
    assert np.isnan(hm.z_nm[-1, 0])  # file row 0 (top) is our last row
    assert hm.dx_mm == pytest.approx(0.1, rel=1e-7)


def test_sign_field_negates(tmp_path: Path, counts: np.ndarray) -> None:
    a, b = tmp_path / "a.dat", tmp_path / "b.dat"
    build(a, counts)
    build(b, counts, sign=1)
    za, zb = metrology.load(a).z_nm, metrology.load(b)
    np.testing.assert_array_equal(zb.z_nm, -za)
    assert zb.meta["sign_inverted"] is True


@pytest.mark.parametrize("magic", [0x881B036F, 0x881B0370, 0x881B0371])
def test_header_formats_1_2_3(tmp_path: Path, counts: np.ndarray, magic: int) -> None:
    p = tmp_path / "h.dat"
    build(p, counts, magic=magic)
    hm = metrology.load(p)
    assert hm.meta["header_format"] == {0x881B036F: 1, 0x881B0370: 2, 0x881B0371: 3}[magic]
    assert hm.shape == counts.shape
    assert metropro.read_header(p)["coords_state"] == 1  # little-endian late field


def test_intensity_frames_precede_phase(tmp_path: Path, counts: np.ndarray) -> None:
    inten = np.arange(2 * 5 * 7, dtype=np.uint16).reshape(2, 5, 7) * 300
    p = tmp_path / "i.dat"
    build(p, counts, intensity=inten)
    got = metropro.read_intensity(p)
    np.testing.assert_array_equal(got, inten[:, ::-1, :])
    hm = metrology.load(p)  # the phase block starts after both intensity frames
    assert hm.meta["has_intensity"] is True
    assert hm.z_nm[-1, 1] == pytest.approx(counts[0, 1] * hm.meta["quantisation_step_nm"])


def test_uncalibrated_lateral_res_needs_dx_mm(tmp_path: Path, counts: np.ndarray) -> None:
    p = tmp_path / "u.dat"
    build(p, counts, lat_m=0.0)
    with pytest.raises(FileFormatError, match="dx_mm=") as ei:
        metrology.load(p)
    assert str(p) in str(ei.value)
    hm = metrology.load(p, dx_mm=0.25)
    assert hm.dx_mm == 0.25 and hm.meta["lateral_calibrated"] is False


def test_declared_sizes_checked_before_allocating(tmp_path: Path, counts: np.ndarray) -> None:
    p = tmp_path / "big.dat"
    build(p, counts)
    patch(p, ">HHI", 68, 65535, 65535, 4 * 65535 * 65535 % 2**32)
    with pytest.raises(FileFormatError, match="corrupt header|truncated"):
        metrology.load(p)
    build(p, counts)
    patch(p, ">I", 72, 4 * counts.size + 4)  # phase byte count disagrees with the geometry
    with pytest.raises(FileFormatError, match="phase block size"):
        metrology.load(p)
    build(p, counts)
    p.write_bytes(p.read_bytes() + b"\0" * 8)  # trailing bytes
    with pytest.raises(FileFormatError, match="declares"):
        metrology.load(p)


def test_bad_magic_and_phase_res(tmp_path: Path, counts: np.ndarray) -> None:
    p = tmp_path / "m.dat"
    build(p, counts, phase_res=3)
    with pytest.raises(FileFormatError, match="phase_res"):
        metrology.load(p)
    build(p, counts)
    patch(p, ">h", 4, 2)  # format 2 under the format-1 magic
    with pytest.raises(FileFormatError, match="magic"):
        metrology.load(p)
    p.write_bytes(b"\x00" * 900)
    with pytest.raises(FileFormatError, match="magic"):
        metrology.load(p, format="metropro")


def test_implausible_wavelength_refused(tmp_path: Path, counts: np.ndarray) -> None:
    p = tmp_path / "w.dat"
    build(p, counts, wl_m=6.328e30)
    with pytest.raises(FileFormatError, match="wavelength_in"):
        metrology.load(p)


# -- writer ------------------------------------------------------------------------------------

def test_round_trip_within_half_a_step(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    z = rng.normal(0, 2000.0, (40, 31))
    z[rng.random(z.shape) < 0.1] = np.nan
    hm = HeightMap(z, 0.117924, meta={"wavelength_nm": 632.8})
    p = tmp_path / "r.dat"
    metrology.save(hm, p)
    back = metrology.load(p)
    step = back.meta["quantisation_step_nm"]
    assert back.meta["phase_res"] == 2  # finest resolution: 0.5 * 632.8 / 131072 nm
    assert step == pytest.approx(0.5 * 632.8 / 131072, rel=1e-6)
    assert np.array_equal(np.isnan(back.z_nm), np.isnan(z))
    assert np.nanmax(np.abs(back.z_nm - z)) <= 0.5 * step * (1 + 1e-9)
    assert back.dx_mm == pytest.approx(0.117924, rel=1e-7)  # stored as float32 metres


def test_writer_rounds_not_truncates(tmp_path: Path) -> None:
    step = float(np.float32(0.5)) * float(np.float32(632.8e-9)) / 131072 * 1e9
    z = np.array([[0.7, -0.7], [1.6, 2.4]]) * step
    p = tmp_path / "q.dat"
    metrology.save(HeightMap(z, 0.1, meta={"wavelength_nm": 632.8}), p)
    back = metrology.load(p)
    np.testing.assert_allclose(back.z_nm / step, [[1, -1], [2, 2]], atol=1e-9)


def test_writer_orientation_marker(tmp_path: Path) -> None:
    z = marked_map()
    p = tmp_path / "o.dat"
    metrology.save(HeightMap(z, 0.1), p)
    back = metrology.load(p)
    assert back.z_nm[10, 1] == pytest.approx(500.0, abs=0.01)
    assert np.isnan(back.z_nm[0, -1])
    h = metropro.read_header(p)
    raw = np.frombuffer(p.read_bytes(), ">i4", offset=h["header_size"]).reshape(12, 9)
    # image order in the file: the marker (row 10 of 12) is file row 1, the invalid
    # block (rows 0-1) the last file rows
    assert raw[-1, -1] >= metropro.INVALID_COUNTS
    assert raw[1, 1] * back.meta["quantisation_step_nm"] == pytest.approx(500.0, abs=0.01)


def test_writer_range_picks_coarser_phase_res_or_refuses(tmp_path: Path) -> None:
    p = tmp_path / "big.dat"
    z = np.array([[0.0, 2.0e7], [-1.0e7, 5.0]])  # 20 mm: beyond R=131072's int32 range
    metrology.save(HeightMap(z, 0.1, meta={"wavelength_nm": 632.8}), p)
    back = metrology.load(p)
    assert back.meta["phase_res"] in (0, 1)
    assert np.max(np.abs(back.z_nm - z)) <= 0.5 * back.meta["quantisation_step_nm"] * 1.001
    with pytest.raises(FileFormatError, match="int32"):
        metrology.save(HeightMap(np.array([[0.0, 1e12]]), 0.1), tmp_path / "huge.dat")


def test_writer_refuses_non_square_pixels(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match="lateral resolution"):
        metrology.save(HeightMap(marked_map(), 0.1, 0.2), tmp_path / "n.dat")
    assert not list(tmp_path.iterdir())  # nothing left behind


# -- corrupt files -----------------------------------------------------------------------------





