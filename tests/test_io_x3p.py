"""ISO 5436-2 x3p reader/writer.

Files are built by hand here (zip + XML written in the test, following the
standard's layout), so the reader is checked against the format, not against
our own writer.
"""

from __future__ import annotations

import hashlib
import io
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

import metrology as m
from metrology.errors import FileFormatError
from metrology.io import detect
from metrology.io.x3p import _sniff, read_x3p, write_x3p

NS = "http://www.opengps.eu/2008/ISO5436_2"


def _xml(nx: int, ny: int, *, code: str = "D", dx_m: str = "1e-06", dy_m: str = "2e-06",
         z_inc: str = "", z_off: str = "", namespace: bool = True, md5: str | None = None,
         valid_link: str | None = None, valid_md5: str | None = None,
         datalink: str = "bindata/data.bin", feature: str = "SUR", nz: int = 1) -> str:
    root_open = (f'<p:ISO5436_2 xmlns:p="{NS}">' if namespace else "<ISO5436_2>")
    root_close = "</p:ISO5436_2>" if namespace else "</ISO5436_2>"
    vl = ""
    if valid_link:
        vl = f"<ValidPointsLink>{valid_link}</ValidPointsLink>"
        if valid_md5:
            vl += f"<MD5ChecksumValidPoints>{valid_md5}</MD5ChecksumValidPoints>"
    md5x = f"<MD5ChecksumPointData>{md5}</MD5ChecksumPointData>" if md5 else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
{root_open}
<Record1><Revision>ISO5436 - 2000</Revision><FeatureType>{feature}</FeatureType>
<Axes>
<CX><AxisType>I</AxisType><DataType>D</DataType><Increment>{dx_m}</Increment><Offset>0</Offset></CX>
<CY><AxisType>I</AxisType><DataType>D</DataType><Increment>{dy_m}</Increment><Offset>0</Offset></CY>
<CZ><AxisType>A</AxisType><DataType>{code}</DataType><Increment>{z_inc}</Increment><Offset>{z_off}</Offset></CZ>
</Axes></Record1>
<Record2><Date>2021-03-04T05:06:07</Date><Creator>test</Creator>
<Instrument><Manufacturer>ACME</Manufacturer><Model>Probe 9</Model><Serial>42</Serial>
<Version>1</Version></Instrument><CalibrationDate>2020-01-01T00:00:00</CalibrationDate>
<ProbingSystem><Type>NonContacting</Type><Identification>x</Identification></ProbingSystem>
<Comment>hand-built</Comment></Record2>
<Record3><MatrixDimension><SizeX>{nx}</SizeX><SizeY>{ny}</SizeY><SizeZ>{nz}</SizeZ></MatrixDimension>
<DataLink><PointDataLink>{datalink}</PointDataLink>{md5x}{vl}</DataLink></Record3>
<Record4><ChecksumFile>md5checksum.hex</ChecksumFile></Record4>
{root_close}
"""


def build_x3p(path: Path, raw: np.ndarray, *, code: str = "D", folder: str = "",
              macosx: bool = False, valid: bytes | None = None, bad_md5: bool = False,
              **kw) -> Path:
    """Write an x3p by hand: raw[j, i] is stored with i fastest (row j = y index)."""
    dt = {"I": "<i2", "L": "<i4", "F": "<f4", "D": "<f8"}[code]
    data = np.ascontiguousarray(raw, dtype=dt).tobytes()
    md5 = hashlib.md5(data).hexdigest()
    if bad_md5:
        md5 = "0" * 32
    ny, nx = raw.shape
    xml = _xml(nx, ny, code=code, md5=md5,
               valid_link="bindata/valid.bin" if valid is not None else None,
               valid_md5=hashlib.md5(valid).hexdigest() if valid is not None else None,
               **kw).encode()
    pre = f"{folder}/" if folder else ""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        if macosx:
            zf.writestr("__MACOSX/._x", b"\x00\x05\x16\x07junk")
            zf.writestr(f"__MACOSX/{pre}._main.xml", b"\x00\x05\x16\x07junk")
            zf.writestr(f"__MACOSX/{pre}main.xml", b"not xml at all")
        zf.writestr(f"{pre}main.xml", xml)
        zf.writestr(f"{pre}md5checksum.hex", f"{hashlib.md5(xml).hexdigest()} *main.xml\n")
        zf.writestr(f"{pre}bindata/data.bin", data)
        if valid is not None:
            zf.writestr(f"{pre}bindata/valid.bin", valid)
    return path


def marked_map(ny: int = 6, nx: int = 9) -> np.ndarray:
    """Asymmetric map: a ramp in x, a step in the top rows, a spike near the top-right."""
    z = np.add.outer(np.zeros(ny), np.linspace(-30.0, 50.0, nx))
    z[-2:, :] += 100.0          # top two rows (largest y) raised
    z[-1, -1] = 1234.5          # top-right marker
    z[0, 1] = np.nan            # one invalid pixel bottom-left
    return z


# --------------------------------------------------------------------------- round trip
@pytest.mark.parametrize("code", ["D", "F"])
def test_round_trip_with_nan_nonsquare_orientation(tmp_path: Path, code: str) -> None:
    z = marked_map()
    hm = m.HeightMap(z, 0.0013, 0.0029, meta={"instrument": "unit test"})
    f = tmp_path / "a.x3p"
    m.save(hm, f, dtype=code)
    back = m.load(f)
    assert back.meta["format"] == "x3p"
    assert back.shape == hm.shape
    assert back.dx_mm == 0.0013 and back.dy_mm == 0.0029  # exact decimal increments
    np.testing.assert_array_equal(back.valid, hm.valid)
    rtol = 2.5e-16 if code == "D" else 6e-8   # nm -> m -> nm costs at most ~1 ulp of the type
    np.testing.assert_allclose(back.z_nm, z, rtol=rtol, atol=0, equal_nan=True)
    assert back.z_nm[-1, -1] == pytest.approx(1234.5, rel=rtol)  # marker still top-right
    assert back.meta["rows_flipped"] is False
    assert back.meta["instrument"] == "unit test"
    # a valid mask was written because of the NaN
    names = zipfile.ZipFile(f).namelist()
    assert "bindata/valid.bin" in names and "md5checksum.hex" in names


def test_writer_without_nan_writes_no_mask(tmp_path: Path) -> None:
    f = tmp_path / "b.x3p"
    write_x3p(m.HeightMap(np.arange(6.0).reshape(2, 3), 0.001), f)
    assert "bindata/valid.bin" not in zipfile.ZipFile(f).namelist()
    np.testing.assert_allclose(read_x3p(f).z_nm, np.arange(6.0).reshape(2, 3), rtol=1e-15)


# --------------------------------------------------------------------------- by-hand variants
def test_stored_order_is_y_up(tmp_path: Path) -> None:
    # ISO 5436-2: x index fastest, first stored row at y = 0 (bottom): no flip.
    raw = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]) * 1e-9  # metres
    hm = read_x3p(build_x3p(tmp_path / "o.x3p", raw))
    np.testing.assert_allclose(hm.z_nm, [[1, 2, 3], [4, 5, 6]], rtol=1e-15)
    assert hm.y_mm[0] < hm.y_mm[1]
    assert hm.meta["rows_flipped"] is False


@pytest.mark.parametrize("namespace", [True, False])
@pytest.mark.parametrize("folder", ["", "scan-07", "a/b"])
def test_namespace_and_subfolder(tmp_path: Path, namespace: bool, folder: str) -> None:
    raw = np.array([[0.0, 1e-9], [2e-9, 3e-9]])
    f = build_x3p(tmp_path / "n.x3p", raw, folder=folder, namespace=namespace)
    hm = read_x3p(f)
    np.testing.assert_allclose(hm.z_nm, [[0, 1], [2, 3]], rtol=1e-15, atol=1e-15)
    assert hm.dx_mm == 0.001 and hm.dy_mm == 0.002
    assert hm.meta["x3p_md5_data_ok"] is True and hm.meta["x3p_md5_main_ok"] is True
    assert hm.meta["instrument"] == "ACME Probe 9 (serial 42)"
    assert hm.meta["timestamp"] == "2021-03-04T05:06:07"


def test_macosx_entries_are_ignored(tmp_path: Path) -> None:
    raw = np.array([[5e-9, 6e-9]])
    f = build_x3p(tmp_path / "mac.x3p", raw, folder="land", macosx=True)
    hm = read_x3p(f)
    np.testing.assert_allclose(hm.z_nm, [[5, 6]], rtol=1e-15)


@pytest.mark.parametrize("code", ["I", "L"])
def test_integer_data_with_increment_and_offset(tmp_path: Path, code: str) -> None:
    raw = np.array([[-3, 0, 7], [100, -32000 if code == "I" else -2_000_000_000, 1]])
    # z = raw * 0.5 nm + 20 nm, written in metres
    f = build_x3p(tmp_path / "i.x3p", raw, code=code, z_inc="0.5E-9", z_off="2.0e-8")
    hm = read_x3p(f)
    np.testing.assert_array_equal(hm.z_nm, raw * 0.5 + 20.0)
    assert hm.meta["z_scale_to_nm"] == 0.5
    assert hm.meta["x3p_data_type"] == code


def test_valid_mask_bits_lsb_first(tmp_path: Path) -> None:
    raw = np.arange(10, dtype=np.int32).reshape(2, 5)
    # points 0..7 in byte 0: bits (LSB first) 1,0,1,0,1,1,1,1 -> points 1 and 3 invalid;
    # points 8, 9 in byte 1: bits 0,1 -> point 8 invalid
    valid = bytes([0b11110101, 0b00000010])
    f = build_x3p(tmp_path / "v.x3p", raw, code="L", z_inc="1e-9", valid=valid)
    hm = read_x3p(f)
    bad = np.flatnonzero(~hm.valid.ravel())
    assert bad.tolist() == [1, 3, 8]
    assert hm.z_nm.ravel()[9] == 9.0 and hm.z_nm.ravel()[0] == 0.0


def test_bad_md5_warns_but_loads(tmp_path: Path) -> None:
    raw = np.array([[1e-9, 2e-9]])
    f = build_x3p(tmp_path / "md5.x3p", raw, bad_md5=True)
    with pytest.warns(UserWarning, match="MD5"):
        hm = read_x3p(f)
    np.testing.assert_allclose(hm.z_nm, [[1, 2]], rtol=1e-15)
    assert hm.meta["x3p_md5_data_ok"] is False


def test_inline_datalist(tmp_path: Path) -> None:
    xml = _xml(3, 1, md5=None).replace(
        "<DataLink><PointDataLink>bindata/data.bin</PointDataLink></DataLink>",
        "<DataList><Datum>1e-9</Datum><Datum></Datum><Datum>-2.5e-9</Datum></DataList>")
    f = tmp_path / "dl.x3p"
    with zipfile.ZipFile(f, "w") as zf:
        zf.writestr("main.xml", xml)
    hm = read_x3p(f)
    np.testing.assert_allclose(hm.z_nm, [[1.0, np.nan, -2.5]], rtol=1e-15)
    assert hm.meta["x3p_storage"] == "DataList"


# --------------------------------------------------------------------------- sniff / detect
def test_sniff_and_detection(tmp_path: Path) -> None:
    f = tmp_path / "s.x3p"
    write_x3p(m.HeightMap(np.zeros((2, 2)), 0.001), f)
    head = f.read_bytes()[:4096]
    assert _sniff(head)
    g = tmp_path / "renamed.bin"
    g.write_bytes(f.read_bytes())
    assert detect(g).name == "x3p"  # by magic + main.xml, not by extension
    # a zip without main.xml is not claimed by the sniffer
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("word/document.xml", b"<a/>")
    assert not _sniff(buf.getvalue()[:4096])
    h = tmp_path / "other.x3p"
    h.write_bytes(buf.getvalue())
    with pytest.raises(FileFormatError, match="no main.xml"):
        m.load(h)  # found by extension, refused by the reader with the cause


# --------------------------------------------------------------------------- bad files
def test_refusals(tmp_path: Path) -> None:
    raw = np.zeros((2, 2))
    with pytest.raises(FileFormatError, match="PCL"):
        read_x3p(build_x3p(tmp_path / "p.x3p", raw, feature="PCL"))
    with pytest.raises(FileFormatError, match="SizeZ"):
        read_x3p(build_x3p(tmp_path / "z.x3p", raw, nz=2))
    with pytest.raises(FileFormatError, match="not in the archive"):
        read_x3p(build_x3p(tmp_path / "l.x3p", raw, datalink="bindata/other.bin"))
    nozip = tmp_path / "n.x3p"
    nozip.write_bytes(b"this is not a zip" * 10)
    with pytest.raises(FileFormatError, match="zip"):
        read_x3p(nozip)


def test_absurd_sizes_fail_fast(tmp_path: Path) -> None:
    xml = _xml(100_000, 100_000).encode()  # 10^10 points declared
    f = tmp_path / "huge.x3p"
    with zipfile.ZipFile(f, "w") as zf:
        zf.writestr("main.xml", xml)
        zf.writestr("bindata/data.bin", b"\x00" * 64)
    t0 = time.perf_counter()
    with pytest.raises(FileFormatError, match="declares"):
        read_x3p(f)
    assert time.perf_counter() - t0 < 1.0








# --------------------------------------------------------------------------- real data
@pytest.mark.realdata
def test_realdata_sample_land(realdata) -> None:
    f = realdata("x3ptools_sample-land.x3p")
    before = f.read_bytes()
    hm = m.load(f)
    assert hm.shape == (256, 918)
    assert hm.dx_mm == 0.00258 and hm.dy_mm == 0.00258
    assert hm.rms_nm == pytest.approx(34330, rel=1e-3)
    assert hm.pv_nm == pytest.approx(132000, rel=1e-3)
    assert 1 - hm.valid_fraction == pytest.approx(0.108, abs=1e-3)
    # the file says <Origin>NW</Origin>: rows from the top, reversed to y-up
    assert hm.meta["format"] == "x3p" and hm.meta["rows_flipped"] is True
    assert hm.meta["x3p_origin_tag"] == "NW"
    assert hm.meta["x3p_md5_data_ok"] is True
    assert hm.meta["instrument"].startswith("Sensofar")
    assert f.read_bytes() == before  # input untouched


