"""Row order, one decision per format (docs/conventions.md, "Row order of each format").

The table must cover every registered format, and its ``reader`` column must agree with
what the reader records (``meta['rows_flipped']``) on a file packed with the marked
asymmetric map in the format's documented layout (``corpus.PACKERS``, built by
``binbuild`` independently of the readers); the round trip in ``test_io_formats`` checks
where the marker lands. SUR and the x3p ``<Origin>`` tag are tested here directly.
"""

from __future__ import annotations

import re
import struct
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from fuzz import corpus

import metrology as m
from metrology.errors import FileFormatError
from metrology.io import formats
from metrology.io.x3p import read_x3p, write_x3p

from iohelpers import marked_map

DOC = Path(__file__).resolve().parent.parent / "docs" / "conventions.md"
Z = marked_map(7, 5)  # y-up: marker at row 5 (second from the top), column 1


def _table() -> dict[str, str]:
    """format name -> the table's ``reader`` column."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("### Row order of each format", 1)[1].split("\n## ", 1)[0]
    out = {}
    for ln in section.splitlines():
        if ln.startswith("| `"):
            cells = ln.split("|")
            for n in re.findall(r"`([a-z0-9-]+)`", cells[1]):
                out[n] = cells[3].strip()
    return out


def _read(tmp_path: Path, name: str, data: bytes) -> m.HeightMap:
    f = tmp_path / name
    f.write_bytes(data)
    return m.load(f)


def _check(hm: m.HeightMap, atol: float) -> None:
    np.testing.assert_allclose(hm.z_nm, Z, atol=atol, equal_nan=True)
    assert np.nanargmax(hm.z_nm) == np.ravel_multi_index((5, 1), Z.shape)
    assert np.isnan(hm.z_nm[0, -1]) and np.isfinite(hm.z_nm[-1, 0])


def test_every_format_has_an_orientation_decision() -> None:
    names = set(_table())
    registered = {f["name"] for f in formats()}
    assert registered <= names, f"no orientation decision for {sorted(registered - names)}"
    assert names <= registered, f"documented but not registered: {sorted(names - registered)}"


@pytest.mark.parametrize("fmt", sorted(corpus.PACKERS))
def test_packed_formats_flip_as_documented(tmp_path: Path, fmt: str) -> None:
    data, held = corpus.PACKERS[fmt](Z, 0.02, 0.03)
    hm = _read(tmp_path, f"o.{fmt}", data)
    doc = _table()[fmt]
    flips = doc.startswith("flips")
    assert flips or "no flip" in doc, doc
    assert hm.meta["rows_flipped"] is flips
    np.testing.assert_allclose(hm.z_nm, held, rtol=2e-7, equal_nan=True)
    _check(hm, 0.051)  # frt holds counts of 0.1 nm


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
