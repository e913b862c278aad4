"""Text height maps: CSV/whitespace matrices, XYZ triplets, Gwyddion ASCII, key=value headers."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

import metrology as m
from metrology.errors import FileFormatError
from metrology.io._policy import decimal_scaled, float_scaled, unit_metres
from metrology.io.text import read_text, write_text


def marked_map(ny: int = 5, nx: int = 7) -> np.ndarray:
    rng = np.random.default_rng(7)
    z = rng.normal(0.0, 20.0, (ny, nx)) / 3.0   # values needing all 17 digits
    z[-1, -1] = 5555.125       # top-right marker
    z[0, 0] = np.nan
    z[2, 3] = -1e-300
    return z


# --------------------------------------------------------------------------- helpers
def test_unit_helpers() -> None:
    assert unit_metres("\u00b5m") == Decimal("1e-6") == unit_metres("um")
    assert unit_metres("\u03bcm") == Decimal("1e-6")
    assert unit_metres("Mm") is None and unit_metres("rad") is None
    assert unit_metres("in") == Decimal("0.0254")  # the inch is defined as exactly 25.4 mm
    assert decimal_scaled("50362e-9", 3) == 0.050362   # exact decimal shift
    assert 50362e-9 * 1e3 != 0.050362                   # float maths is 1 ulp off here
    assert float_scaled(1e-6, 9) == 1000.0
    assert float_scaled(float(np.float32(0.003484)), 0, single=True) == 0.003484
    with pytest.raises(FileFormatError):
        decimal_scaled("abc", 0)


# --------------------------------------------------------------------------- round trip
@pytest.mark.parametrize("delimiter", [",", ";", "\t", " "])
def test_round_trip_exact(tmp_path: Path, delimiter: str) -> None:
    hm = m.HeightMap(marked_map(), 0.0011, 0.0023)
    f = tmp_path / "r.csv"
    m.save(hm, f, delimiter=delimiter)
    back = m.load(f)                       # no arguments needed
    assert back == hm                      # exact: values, NaN mask, dx != dy, shape
    assert back.z_nm[-1, -1] == 5555.125   # marker still top-right
    assert back.meta["rows_flipped"] is True  # written top-first, flipped back on reading
    # the first data line of the file is the top row (largest y)
    first = [ln for ln in f.read_text().splitlines() if not ln.startswith("#")][0]
    assert "5555.125" in first


def test_own_file_cut_inside_last_value_is_caught(tmp_path: Path) -> None:
    f = tmp_path / "c.csv"
    write_text(m.HeightMap(np.full((2, 2), 1.2345), 0.001), f)
    text = f.read_text()
    f.write_text(text[: text.rindex("# end") - 3])
    with pytest.raises(FileFormatError, match="truncated"):
        read_text(f)


# --------------------------------------------------------------------------- plain matrices
def test_plain_matrix_needs_spacing_and_unit(tmp_path: Path) -> None:
    f = tmp_path / "p.txt"
    f.write_text("1 2 3\n4 5 6\n")
    with pytest.raises(FileFormatError, match="dx_mm=") as e:
        read_text(f)
    assert "z_unit=" in str(e.value)
    with pytest.raises(FileFormatError, match="z_unit="):
        read_text(f, dx_mm=0.01)
    with pytest.raises(FileFormatError, match="dx_mm="):
        read_text(f, z_unit="nm")
    hm = read_text(f, dx_mm=0.01, dy_mm=0.02, z_unit="um")
    # first line is the top row: flipped into y-up
    np.testing.assert_array_equal(hm.z_nm, [[4000, 5000, 6000], [1000, 2000, 3000]])
    assert (hm.dx_mm, hm.dy_mm) == (0.01, 0.02)
    assert hm.meta["rows_flipped"] is True and hm.meta["z_scale_to_nm"] == 1000.0
    hm2 = read_text(f, dx_mm=0.01, z_unit="nm", row_order="bottom-first")
    np.testing.assert_array_equal(hm2.z_nm, [[1, 2, 3], [4, 5, 6]])
    assert hm2.dy_mm == 0.01 and hm2.meta["rows_flipped"] is False
    with pytest.raises(FileFormatError, match="z_unit"):
        read_text(f, dx_mm=0.01, z_unit="furlong")


def test_csv_missing_values_and_column_names(tmp_path: Path) -> None:
    f = tmp_path / "m.csv"
    f.write_text("a,b,c\n1,,3\nNaN,5,BAD\n")
    hm = read_text(f, dx_mm=1.0, z_unit="nm", row_order="bottom-first")
    np.testing.assert_array_equal(hm.z_nm, [[1, np.nan, 3], [np.nan, 5, np.nan]])
    assert hm.meta["text_columns"] == ["a", "b", "c"]


def test_spacing_override_and_unit_conflict(tmp_path: Path) -> None:
    f = tmp_path / "h.txt"
    f.write_text("# dx_mm: 0.5\n# z_unit: nm\n1 2\n3 4\n")
    assert read_text(f, dx_mm=0.5).dx_mm == 0.5
    # the one spacing rule of every reader: the caller's value wins and meta keeps both
    hm = read_text(f, dx_mm=0.25)
    assert (hm.dx_mm, hm.dy_mm) == (0.25, 0.25)
    assert hm.meta["lateral_source"] == "caller" and hm.meta["file_dx_mm"] == 0.5
    assert read_text(f).meta["lateral_source"] == "file"
    with pytest.raises(FileFormatError, match="z_unit"):
        read_text(f, z_unit="um")


def test_bad_text_files(tmp_path: Path) -> None:
    f = tmp_path / "b.txt"
    f.write_text("1 2 3\n4 5\n")
    with pytest.raises(FileFormatError, match="line 2 has 2 values"):
        read_text(f, dx_mm=1, z_unit="nm")
    f.write_text("1 2 3\n4 x 6\n")
    with pytest.raises(FileFormatError, match="non-numeric"):
        read_text(f, dx_mm=1, z_unit="nm")
    f.write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(FileFormatError, match="binary"):
        read_text(f, dx_mm=1, z_unit="nm")
    f.write_text("# only a header\n")
    with pytest.raises(FileFormatError, match="no numeric data"):
        read_text(f, dx_mm=1, z_unit="nm")


# --------------------------------------------------------------------------- headers
def test_gwyddion_ascii_export(tmp_path: Path) -> None:
    f = tmp_path / "g.txt"
    z_m = np.arange(20, dtype=float).reshape(4, 5) * 1e-9
    lines = ["# Channel: Height", "# Width: 1.000 mm", "# Height: 0.500 mm",
             "# Value units: m"]
    lines += ["\t".join(f"{v:.6e}" for v in row) for row in z_m]
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # extents but no counts, non-square pixels: indistinguishable from a cut copy
    with pytest.raises(FileFormatError, match="rows=4"):
        m.load(f)
    hm = m.load(f, rows=4)
    assert hm.dx_mm == pytest.approx(0.2, rel=1e-15)    # 1 mm / 5 columns
    assert hm.dy_mm == pytest.approx(0.125, rel=1e-15)  # 0.5 mm / 4 rows
    np.testing.assert_allclose(hm.z_nm, np.arange(20.0).reshape(4, 5)[::-1], rtol=1e-12)
    assert hm.meta["z_unit_original"] == "m" and hm.meta["rows_flipped"] is True


def _gwyddion_square(ny: int = 20, nx: int = 26) -> str:
    """A Gwyddion ASCII export as its writer makes it: extents to the pixel's precision,
    %g values, tab-separated, every row ending with a line break; 1 um square pixels."""
    z = np.random.default_rng(3).normal(0, 1e-9, (ny, nx))
    head = ["# Channel: Height", f"# Width: {nx:.3f} \u00b5m", f"# Height: {ny:.3f} \u00b5m",
            "# Value units: m"]
    return "\n".join(head + ["\t".join(f"{v:g}" for v in row) for row in z]) + "\n"


def test_gwyddion_export_cut_is_refused(tmp_path: Path) -> None:
    """Issue 18 item 8: cut at a line the export loaded with dy off by 29-208 %; cut inside
    the first row, as a 1 x 26 map. The header declares the extents: the data must match."""
    text = _gwyddion_square()
    f = tmp_path / "gwy.txt"
    f.write_text(text, encoding="utf-8")
    hm = m.load(f)
    assert hm.shape == (20, 26) and hm.dx_mm == hm.dy_mm == pytest.approx(0.001, rel=1e-12)
    lines = text.splitlines(keepends=True)
    for keep in (5, 6, 10, 15, 23):  # header (4 lines) + 1, 2, 6, 11, 19 of 20 rows
        f.write_text("".join(lines[:keep]), encoding="utf-8")
        with pytest.raises(FileFormatError, match="non-square|truncated"):
            m.load(f)
    first = text.index("\n", text.index("# Value units")) + 1
    for cut in (first + 5, first + 40, len(text) - 3):  # inside a row: no final line break
        f.write_text(text[:cut], encoding="utf-8")
        with pytest.raises(FileFormatError, match="line break|ragged|non-square|non-numeric"):
            m.load(f)


def test_gwyddion_micro_sign_units(tmp_path: Path) -> None:
    f = tmp_path / "g2.txt"
    f.write_text("# Width: 10 \u00b5m\n# Height: 10 \u00b5m\n# Value units: nm\n1 2\n3 4\n",
                 encoding="utf-8")
    hm = read_text(f)
    assert hm.dx_mm == 0.005 and hm.dy_mm == 0.005


def test_key_value_header(tmp_path: Path) -> None:
    f = tmp_path / "k.txt"
    f.write_text("h=2 w=3\npixel size=2.5e-007 m\ndata unit=rad\n"
                 "height conversion factor (-> m)=1.0e-008\n1 2 3\n4 5 6\n")
    hm = read_text(f)
    assert hm.dx_mm == hm.dy_mm == 0.00025
    np.testing.assert_array_equal(hm.z_nm, [[40, 50, 60], [10, 20, 30]])
    assert hm.meta["z_unit_original"] == "rad" and hm.meta["z_scale_to_nm"] == 10.0
    f.write_text("h=3 w=3\npixel size=2.5e-007 m\ndata unit=rad\n"
                 "height conversion factor (-> m)=1.0e-008\n1 2 3\n4 5 6\n")
    with pytest.raises(FileFormatError, match="h=3"):
        read_text(f)


# --------------------------------------------------------------------------- XYZ
def _xyz_lines(z: np.ndarray, x0: float, y0: float, sx: float, sy: float,
               drop: set[tuple[int, int]], seed: int = 0) -> list[str]:
    pts = [(x0 + i * sx, y0 + j * sy, z[j, i]) for j in range(z.shape[0])
           for i in range(z.shape[1]) if (j, i) not in drop]
    np.random.default_rng(seed).shuffle(pts)
    return [f"{float(x)!r} {float(y)!r} {float(v)!r}" for x, y, v in pts]


def test_xyz_grid_with_missing_points(tmp_path: Path) -> None:
    z = np.arange(12.0).reshape(3, 4) * 10 + 1
    f = tmp_path / "x.xyz"
    f.write_text("\n".join(_xyz_lines(z, 100.0, -5.0, 2.0, 0.5, {(0, 1), (2, 3)})) + "\n")
    hm = read_text(f, xy_unit="um", z_unit="nm")
    expected = z.copy()
    expected[0, 1] = expected[2, 3] = np.nan
    np.testing.assert_array_equal(hm.z_nm, expected)  # row 0 = smallest y: y-up
    assert hm.dx_mm == 0.002 and hm.dy_mm == 0.0005
    assert hm.meta["text_layout"] == "xyz" and hm.meta["rows_flipped"] is False
    hm2 = read_text(f, dx_mm=0.004, z_unit="nm")
    assert hm2.dy_mm == pytest.approx(0.001)           # step ratio 0.5 / 2
    with pytest.raises(FileFormatError, match="dx_mm="):
        read_text(f, z_unit="nm")


def test_three_column_matrix_is_not_xyz(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(size=(40, 3))
    f = tmp_path / "three.txt"
    f.write_text("\n".join(" ".join(repr(float(v)) for v in r) for r in a) + "\n")
    hm = read_text(f, dx_mm=1.0, z_unit="nm")
    assert hm.shape == (40, 3) and hm.meta["text_layout"] == "matrix"
    with pytest.raises(FileFormatError, match="regular grid"):
        read_text(f, dx_mm=1.0, z_unit="nm", layout="xyz")


# --------------------------------------------------------------------------- corruption






# --------------------------------------------------------------------------- real data
@pytest.mark.realdata
def test_realdata_matrix4(realdata) -> None:
    f = realdata("st_matrix-4.txt")
    hm = m.load(f)
    assert hm.shape == (305, 75)
    assert hm.dx_mm == pytest.approx(0.00036986, rel=1e-4)
    assert hm.dx_mm == hm.dy_mm == 0.000369862                # exact decimal from the header
    assert hm.rms_nm == pytest.approx(117.5, rel=1e-3)
    assert hm.pv_nm == pytest.approx(589.8, rel=1e-3)
    assert hm.valid_fraction == 1.0
    # the file's first value (-4.448661 rad-units) is the top-left pixel: last row after the flip
    assert hm.z_nm[-1, 0] == pytest.approx(-4.448661 * 29.1818, rel=1e-12)
    assert hm.meta["rows_flipped"] is True


