"""4D Technology 4Sight legacy .h5 and 4Sight Focus .4D readers (and the .4D writer).

Ground truth: the real file's reference figures (README: OPD RMS 203 nm, PV 843 nm;
surface = wedge 0.5 x OPD), raw h5py reads done here, and synthetic files built
here from the documented layouts.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

import metrology
from metrology import FileFormatError, HeightMap
from metrology.io import fourd

from iohelpers import marked_map

REAL = "m4_img_0046.h5"
F32_MAX = float(np.finfo(np.float32).max)




def build_legacy(path: Path, waves: np.ndarray, *, xpix: str = "0.01 mm",
                 wavelength: str = "632.8 nm", wedge: float | None = 0.5,
                 aspect: float = 1.0, height_units: str = "wv", lut: str = "opd") -> None:
    """A legacy 4Sight file in the documented layout (image order, float32-max invalid)."""
    with h5py.File(path, "w") as f:
        top = f.create_group("4D")
        top.attrs["_4Sight_version"] = np.bytes_(b"1.8")
        m = f.create_group("measurement0")
        m.attrs["date"] = np.bytes_(b"Wed Jun 07 16:42:31 2017")
        m.attrs["head_serial"] = np.bytes_(b"355")
        g = m.create_group("genraw")
        g.attrs["wavelength"] = np.bytes_(wavelength.encode())
        g.attrs["xpix"] = np.bytes_(xpix.encode())
        g.attrs["height_units"] = np.bytes_(height_units.encode())
        g.attrs["lut_type"] = np.bytes_(lut.encode())
        g.attrs["aspect"] = np.float32(aspect)
        if wedge is not None:
            g.attrs["wedge"] = np.float32(wedge)
        data = np.where(np.isnan(waves), F32_MAX, waves).astype(np.float32)
        g.create_dataset("data", data=data, compression="gzip")


@pytest.fixture
def legacy(tmp_path: Path) -> tuple[Path, np.ndarray]:
    waves = (marked_map() / 100.0)[::-1]  # image order: file row 0 = top
    p = tmp_path / "legacy.h5"
    build_legacy(p, waves)
    return p, waves


# -- real legacy file --------------------------------------------------------------------------

def test_realdata_surface_by_default(realdata) -> None:
    hm = metrology.load(realdata(REAL))
    assert hm.shape == (500, 496)
    assert hm.dx_mm == pytest.approx(0.007111, rel=1e-3) and hm.dy_mm == hm.dx_mm
    assert hm.rms_nm == pytest.approx(203 / 2, rel=2e-3)  # README: OPD 203 nm x wedge 0.5
    assert hm.pv_nm == pytest.approx(843 / 2, rel=1e-3)
    assert 1 - hm.valid_fraction == pytest.approx(0.265, abs=1e-3)
    m = hm.meta
    assert m["format"] == "4sight-h5" and m["height_kind"] == "surface" and m["wedge"] == 0.5
    assert m["rows_flipped"] is True and m["software"] == "4Sight 1.8"
    assert m["timestamp"] == "2017-06-07T16:42:31"
    assert m["wavelength_nm"] == pytest.approx(632.8, rel=1e-6)


def test_realdata_opd(realdata) -> None:
    hm = metrology.load(realdata(REAL), opd=True)
    assert hm.rms_nm == pytest.approx(203, rel=2e-3)
    assert hm.pv_nm == pytest.approx(843, rel=1e-3)
    assert hm.meta["height_kind"] == "opd" and hm.meta["wedge"] == 1.0


def test_realdata_orientation_against_raw_file(realdata) -> None:
    path = realdata(REAL)
    hm = metrology.load(path)
    with h5py.File(path, "r") as f:
        raw = f["measurement0/genraw/data"][()].astype(np.float64)
    expect = np.where(raw >= F32_MAX, np.nan, raw * 632.799988 * 0.5)
    np.testing.assert_allclose(hm.z_nm, expect[::-1], rtol=1e-12, equal_nan=True)


# -- synthetic legacy files --------------------------------------------------------------------

def test_legacy_units_wedge_and_orientation(legacy) -> None:
    p, waves = legacy
    hm = metrology.load(p)
    np.testing.assert_allclose(hm.z_nm, marked_map() / 100.0 * 632.8 * 0.5, rtol=1e-6,
                               equal_nan=True)  # float32 storage
    assert hm.dx_mm == 0.01
    assert hm.z_nm[10, 1] == pytest.approx(500 / 100 * 632.8 * 0.5, rel=1e-6)  # marker top-left


def test_legacy_micron_pixel_and_nm_heights(tmp_path: Path) -> None:
    p = tmp_path / "um.h5"
    z = np.arange(12.0).reshape(3, 4)
    build_legacy(p, z, xpix="7.111 um", height_units="nm", lut="surface")
    hm = metrology.load(p)
    assert hm.dx_mm == pytest.approx(0.007111, rel=1e-12)
    np.testing.assert_array_equal(hm.z_nm, z[::-1])
    assert hm.meta["height_kind"] == "surface" and hm.meta["z_unit_original"] == "nm"


def test_legacy_without_wedge_asks_for_opd(tmp_path: Path) -> None:
    p = tmp_path / "nw.h5"
    build_legacy(p, np.ones((3, 3)), wedge=None)
    with pytest.raises(FileFormatError, match="opd=True"):
        metrology.load(p)
    assert metrology.load(p, opd=True).meta["height_kind"] == "opd"


def test_legacy_aspect_needs_dy(tmp_path: Path) -> None:
    p = tmp_path / "asp.h5"
    build_legacy(p, np.ones((3, 3)), aspect=2.0)
    with pytest.raises(FileFormatError, match="aspect"):
        metrology.load(p)
    hm = metrology.load(p, dx_mm=0.01, dy_mm=0.02)
    assert (hm.dx_mm, hm.dy_mm) == (0.01, 0.02)


def test_legacy_unknown_units_named(tmp_path: Path) -> None:
    p = tmp_path / "bad.h5"
    build_legacy(p, np.ones((3, 3)), xpix="0.01 furlong")
    with pytest.raises(FileFormatError, match="furlong"):
        metrology.load(p)
    build_legacy(p, np.ones((3, 3)), height_units="parsecs")
    with pytest.raises(FileFormatError, match="parsecs"):
        metrology.load(p)


# -- 4Sight Focus .4D --------------------------------------------------------------------------

def test_focus_round_trip_and_orientation(tmp_path: Path) -> None:
    z = marked_map(30, 20)
    hm = HeightMap(z, 0.0125, meta={"wavelength_nm": 632.8, "timestamp": "2024-05-01T10:00:00"})
    p = tmp_path / "m.4D"
    metrology.save(hm, p)
    back = metrology.load(p)
    assert back.meta["format"] == "4sight-focus"
    assert np.array_equal(np.isnan(back.z_nm), np.isnan(z))
    # waves = z / wavelength on write, x wavelength on read: equal to within 1 ulp
    np.testing.assert_array_max_ulp(back.z_nm[~np.isnan(z)], z[~np.isnan(z)], maxulp=1)
    assert back.dx_mm == 0.0125 and back.dy_mm == 0.0125
    assert back.z_nm[28, 1] == pytest.approx(500.0)
    assert back.meta["timestamp"] == "2024-05-01T10:00:00"
    with h5py.File(p, "r") as f:
        raw = f["Measurement/SurfaceInWaves/Data"][()]
    assert raw[1, 1] == pytest.approx(500.0 / 632.8)  # image order in the file


def test_focus_pixel_size_on_measurement_group(tmp_path: Path) -> None:
    p = tmp_path / "g.4D"
    with h5py.File(p, "w") as f:
        m = f.create_group("Measurement")
        m.attrs["WavelengthInNanometers"] = 1053.0
        m.attrs["PixelSizeInMicrons"] = 25.0
        m.create_group("SurfaceInWaves").create_dataset("Data", data=np.eye(3, dtype=np.float32))
    hm = metrology.load(p)
    assert hm.dx_mm == 0.025
    np.testing.assert_allclose(hm.z_nm, np.eye(3)[::-1] * 1053.0)


def test_focus_without_pixel_size_needs_dx(tmp_path: Path) -> None:
    p = tmp_path / "np.4D"
    with h5py.File(p, "w") as f:
        m = f.create_group("Measurement")
        m.attrs["WavelengthInNanometers"] = 632.8
        m.create_group("SurfaceInWaves").create_dataset("Data", data=np.ones((2, 2)))
    with pytest.raises(FileFormatError, match="dx_mm="):
        metrology.load(p)
    assert metrology.load(p, dx_mm=0.1).meta["lateral_source"] == "caller"


def test_focus_writer_refusals(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match="one pixel size"):
        metrology.save(HeightMap(np.ones((3, 3)), 0.1, 0.2, {"wavelength_nm": 632.8}),
                       tmp_path / "a.4D")
    with pytest.raises(FileFormatError, match="wavelength_nm="):
        metrology.save(HeightMap(np.ones((3, 3)), 0.1), tmp_path / "b.4D")
    metrology.save(HeightMap(np.ones((3, 3)), 0.1), tmp_path / "c.4D", wavelength_nm=632.8)


def test_formats_refuse_each_others_layout(legacy, tmp_path: Path) -> None:
    p, _ = legacy
    # through the HDF5 dispatcher a forced 'datx' still reads it, labelled truthfully
    assert metrology.load(p, format="datx").meta["format"] == "4sight-h5"
    with pytest.raises(FileFormatError, match="Focus"):
        metrology.load(p, format="4sight-focus")
    q = tmp_path / "f.4D"
    metrology.save(HeightMap(np.ones((3, 3)), 0.1, meta={"wavelength_nm": 632.8}), q)
    with pytest.raises(FileFormatError, match="genraw"):
        fourd.read_4sight_h5(q)


# -- corrupt files -----------------------------------------------------------------------------





