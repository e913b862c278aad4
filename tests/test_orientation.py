"""Row order, one decision per format (docs/orientation.md), tested with a marked map.

For each read-only format a file is packed with the marked asymmetric map laid out as
the format's description says its rows are stored (binbuild, independent of the
readers); the reader must return the map in the y-up frame: the marker near the top
left (high y, low x), the invalid block at the bottom right.
"""

from __future__ import annotations

import re
import struct
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from binbuild import build_al3d, build_frt, build_gwy, build_opd, build_plu, gwy_field

import metrology as m
from metrology.errors import FileFormatError
from metrology.io import formats
from metrology.io.x3p import read_x3p, write_x3p

from iohelpers import marked_map

DOC = Path(__file__).resolve().parent.parent / "docs" / "orientation.md"
Z = marked_map(7, 5)  # y-up: marker at row 5 (second from the top), column 1


def _read(tmp_path: Path, name: str, data: bytes) -> m.HeightMap:
    f = tmp_path / name
    f.write_bytes(data)
    return m.load(f)


def _check(hm: m.HeightMap, atol: float) -> None:
    np.testing.assert_allclose(hm.z_nm, Z, atol=atol, equal_nan=True)
    assert np.nanargmax(hm.z_nm) == np.ravel_multi_index((5, 1), Z.shape)
    assert np.isnan(hm.z_nm[0, -1]) and np.isfinite(hm.z_nm[-1, 0])


def test_every_format_has_an_orientation_decision() -> None:
    rows = [ln for ln in DOC.read_text(encoding="utf-8").splitlines() if ln.startswith("| `")]
    names = {n for ln in rows for n in re.findall(r"`([a-z0-9-]+)`", ln.split("|")[1])}
    registered = {f["name"] for f in formats()}
    assert registered <= names, f"no orientation decision for {sorted(registered - names)}"
    assert names <= registered, f"documented but not registered: {sorted(names - registered)}"


def test_opd_columns_first_value_at_the_bottom(tmp_path: Path) -> None:
    cols = np.where(np.isnan(Z), 2e38, Z / 1000.0).T.astype(np.float32)  # column i, bottom up
    hm = _read(tmp_path, "o.opd", build_opd(cols, wavelength=1000.0))
    assert hm.meta["rows_flipped"] is False
    _check(hm, 1e-4)


def test_plu_rows_top_first(tmp_path: Path) -> None:
    rows = np.where(np.isnan(Z), 1000001.0, Z / 1000.0)[::-1].astype(np.float32)
    hm = _read(tmp_path, "p.plu", build_plu(rows))
    assert hm.meta["rows_flipped"] is True
    _check(hm, 1e-4)


def test_al3d_rows_top_first(tmp_path: Path) -> None:
    hm = _read(tmp_path, "a.al3d", build_al3d((Z * 1e-9)[::-1]))
    assert hm.meta["rows_flipped"] is True
    _check(hm, 1e-4)


def test_frt_rows_bottom_first(tmp_path: Path) -> None:
    counts = np.where(np.isnan(Z), 1, np.round((Z + 1000.0) * 10)).astype(np.uint16)
    hm = _read(tmp_path, "f.frt", build_frt(counts, zscale=1e-10))  # 0.1 nm per count
    assert hm.meta["rows_flipped"] is False
    hm = hm.replace(hm.z_nm - 1000.0)
    _check(hm, 0.06)


def test_gwy_rows_top_first(tmp_path: Path) -> None:
    mask = np.isnan(Z)[::-1].astype(float)
    field = gwy_field(np.nan_to_num(Z * 1e-9)[::-1], 5e-6, 7e-6)
    hm = _read(tmp_path, "g.gwy", build_gwy([(0, "H", field)], masks={0: gwy_field(
        mask, 5e-6, 7e-6)}))
    assert hm.meta["rows_flipped"] is True
    _check(hm, 1e-9)


def test_sur_lines_top_first(tmp_path: Path) -> None:
    raw = np.where(np.isnan(Z), -1002, np.round(Z * 100)).astype("<i4")[::-1]  # zmin - 2
    ny, nx = raw.shape
    h = bytearray(512)
    h[0:12] = b"DIGITAL SURF"
    struct.pack_into("<hhhh", h, 12, 0, 1, 1, 2)
    struct.pack_into("<h", h, 86, 1)            # special points: zmin - 2 is "not measured"
    struct.pack_into("<h", h, 98, 32)
    struct.pack_into("<iiiii", h, 100, -1000, 60000, nx, ny, nx * ny)
    struct.pack_into("<fff", h, 120, 1.0, 1.0, 0.01)
    for k, txt in enumerate(["X", "Y", "Z", "um", "um", "nm", "um", "um", "nm"]):
        h[132 + 16 * k:132 + 16 * k + len(txt)] = txt.encode()
    hm = _read(tmp_path, "s.sur", bytes(h) + raw.tobytes())
    assert hm.meta["rows_flipped"] is True
    _check(hm, 0.006)


def _x3p_with_origin(tmp_path: Path, origin: str | None) -> Path:
    src = tmp_path / "plain.x3p"
    write_x3p(m.HeightMap(Z, 0.001, 0.002), src)
    out = tmp_path / f"o-{origin}.x3p"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "main.xml" and origin is not None:
                data = data.replace(b"</Axes>", f"<Origin>{origin}</Origin></Axes>".encode())
            if item.filename != "md5checksum.hex":
                zout.writestr(item, data)
    return out


def test_x3p_origin_tag(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = read_x3p(_x3p_with_origin(tmp_path, None))
        sw = read_x3p(_x3p_with_origin(tmp_path, "SW"))
        nw = read_x3p(_x3p_with_origin(tmp_path, "NW"))
        ne = _x3p_with_origin(tmp_path, "NE")
        _check(plain, 1e-9)
        _check(sw, 1e-9)
        # NW: the writer's rows (bottom first) are declared to start at the top
        np.testing.assert_allclose(nw.z_nm, Z[::-1], atol=1e-9, equal_nan=True)
        assert nw.meta["rows_flipped"] is True and plain.meta["rows_flipped"] is False
        with pytest.raises(FileFormatError, match="Origin"):
            read_x3p(ne)
        _check(read_x3p(ne, origin="ignore"), 1e-9)
