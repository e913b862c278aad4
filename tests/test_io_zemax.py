"""Zemax OpticStudio Grid Sag .dat: hand-written files, orientation, round trip, hostile input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import metrology as m
from metrology.errors import FileFormatError
from metrology.io import detect
from metrology.io.zemax import read_zemax_grid_sag, write_zemax_grid_sag

from iohelpers import marked_map


def hand_file(values_top_first: list[list[str]], header: str, extra: str = "") -> str:
    """A Grid Sag file laid out as the OpticStudio help describes: the header line, then one
    line per point, the first the upper-left (-x, +y) corner, left to right, rows downward."""
    lines = [header] + [v for row in values_top_first for v in row]
    return extra + "\r\n".join(lines) + "\r\n"


def test_hand_written_file_orientation_units_and_nodata(tmp_path: Path) -> None:
    # 6 columns x 5 rows; sag (mm) = row_from_top * 1e-3 + col * 1e-5; one point without data
    rows = []
    for r in range(5):
        row = []
        for c in range(6):
            if (r, c) == (0, 5):
                row.append("0 0 0 0 1")           # top-right corner: no data
            else:
                row.append(f"{r * 1e-3 + c * 1e-5:.6e} 0 0 0")  # 4 values, nodata absent
        rows.append(row)
    p = tmp_path / "hand.dat"
    p.write_text(hand_file(rows, "6 5 0.5 0.25 0 1.5 -2.0"), newline="")
    assert detect(p).name == "zemax"
    hm = m.load(p)
    assert hm.shape == (5, 6) and hm.dx_mm == 0.5 and hm.dy_mm == 0.25
    # first file line -> top-left of the y-up map: row 4 (highest y), column 0 (lowest x)
    assert hm.z_nm[4, 0] == pytest.approx(0.0)
    assert hm.z_nm[0, 0] == pytest.approx(4e-3 * 1e6)        # bottom row of the map
    assert hm.z_nm[4, 1] == pytest.approx(1e-5 * 1e6)        # x increases along a file line
    assert np.isnan(hm.z_nm[4, 5]) and hm.n_valid == 29      # top-right: the no-data point
    assert hm.meta["rows_flipped"] is True
    assert hm.meta["zemax_decenter_mm"] == [1.5, -2.0]
    assert hm.meta["zemax_derivatives"] is False


@pytest.mark.parametrize("flag,mm", [(1, 10.0), (2, 25.4), (3, 1000.0)])
def test_unit_flags(tmp_path: Path, flag: int, mm: float) -> None:
    rows = [["2.0 0.1 0 0 0"] * 5 for _ in range(5)]
    p = tmp_path / "u.dat"
    p.write_text(hand_file(rows, f"5 5 0.01 0.02 {flag} 0 0", extra="! a comment line\n"))
    hm = read_zemax_grid_sag(p)
    assert hm.dx_mm == pytest.approx(0.01 * mm) and hm.dy_mm == pytest.approx(0.02 * mm)
    np.testing.assert_allclose(hm.z_nm, 2.0 * mm * 1e6)
    assert hm.meta["zemax_derivatives"] is True


def test_round_trip_and_the_written_layout(tmp_path: Path) -> None:
    z = marked_map(12, 9)  # y ramp, x ramp, marker near top-left, NaN block bottom-right
    hm = m.HeightMap(z, 0.125, 0.2)
    p = tmp_path / "rt.dat"
    m.save(hm, p, format="zemax")
    text = p.read_bytes().decode("ascii")
    lines = text.split("\r\n")
    assert lines[0] == "9 12 0.125 0.2 0 0.0 0.0"
    # the first point written is the top-left pixel (row 11 of the y-up map), in mm
    assert float(lines[1].split()[0]) == pytest.approx(z[11, 0] * 1e-6, rel=1e-15)
    # the marker at map row 10, column 1 is on file row 1 (second from the top)
    assert float(lines[1 + 9 * 1 + 1].split()[0]) == pytest.approx(500.0e-6, rel=1e-15)
    # the NaN block (map rows 0-1, columns 6-8) is at the end of the file, flagged 1
    assert lines[-2] == "0 0 0 0 1" and lines[-2 - 9] == "0 0 0 0 1"
    back = m.load(p)
    assert back.shape == hm.shape and back.dx_mm == 0.125 and back.dy_mm == 0.2
    np.testing.assert_array_equal(back.valid, hm.valid)
    np.testing.assert_allclose(back.z_nm[hm.valid], z[hm.valid], rtol=1e-12)


def test_vertex_sets_the_decentre(tmp_path: Path) -> None:
    hm = m.HeightMap(np.zeros((5, 5)), 1.0)
    p = tmp_path / "v.dat"
    write_zemax_grid_sag(hm, p, vertex_mm=(0.5, -1.25))
    assert p.read_text().splitlines()[0] == "5 5 1.0 1.0 0 -0.5 1.25"


def test_writer_refuses_grids_below_5x5(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match="5 x 5"):
        write_zemax_grid_sag(m.HeightMap(np.zeros((4, 9)), 0.1), tmp_path / "s.dat")


@pytest.mark.parametrize("text,msg", [
    ("", "empty"),
    ("5 5 0.1 0.1 0 0\n" + "0 0 0 0\n" * 25, "first line"),
    ("5 5 0.1 0.1 7 0 0\n" + "0 0 0 0\n" * 25, "unit flag"),
    ("5 5 0.1 0.1 0 0 0\n" + "0 0 0 0\n" * 24, "data lines"),
    ("5 5 0.1 0.1 0 0 0\n" + "0 0 0\n" * 25, "values"),
    ("5 5 0.1 0.1 0 0 0\n" + "x 0 0 0\n" * 25, "numeric"),
    ("5 5 0.1 0.1 0 0 0\n" + "nan 0 0 0\n" * 25, "non-finite"),
    ("100000 100000 0.1 0.1 0 0 0\n0 0 0 0\n", "more than"),
    ("5 5 0 0.1 0 0 0\n" + "0 0 0 0\n" * 25, "no lateral calibration.*dx_mm"),
    ("5 5 0.1 0 0 0 0\n" + "0 0 0 0\n" * 25, "dely = 0 is no spacing"),
    ("5 5 0.1 0.1 0 nan 0\n" + "0 0 0 0\n" * 25, "decentres"),
    ("5 5 0.1 0.1 0 0 0\n" + "0 0 0 0 0\n" * 24 + "0 0 0 0 3\n", "no-data flag"),
    ("5 5 0.1 0.1 0 0 0\n" + "0 0 0 0 0\n" * 24 + "0 0 0 0 ", "line break"),
])
def test_bad_files(tmp_path: Path, text: str, msg: str) -> None:
    p = tmp_path / "bad.dat"
    p.write_text(text)
    with pytest.raises(FileFormatError, match=msg):
        read_zemax_grid_sag(p)


def test_spacing_from_the_caller_and_exact_unit_conversion(tmp_path: Path) -> None:
    rows = [["1.0 0 0 0 0"] * 5 for _ in range(5)]
    p = tmp_path / "s.dat"
    p.write_text(hand_file(rows, "5 5 0 0 0 0 0"))
    hm = m.load(p, dx_mm=0.3)  # a zero spacing: the caller's, square by default
    assert (hm.dx_mm, hm.dy_mm) == (0.3, 0.3) and hm.meta["lateral_source"] == "caller"
    p.write_text(hand_file(rows, "5 5 0.01 0.03 2 0 0"))  # inches: 0.254 mm exactly
    hm = m.load(p)
    assert (hm.dx_mm, hm.dy_mm) == (0.254, 0.762) and hm.meta["lateral_source"] == "file"
    hm = m.load(p, dx_mm=0.5, dy_mm=0.25)
    assert (hm.dx_mm, hm.dy_mm) == (0.5, 0.25) and hm.meta["file_dx_mm"] == 0.254


def test_grid_size_limit_applies_before_reading(tmp_path: Path) -> None:
    p = tmp_path / "l.dat"
    p.write_text(hand_file([["1.0 0 0 0 0"] * 5 for _ in range(5)], "5 5 0.1 0.1 0 0 0"))
    with m.io.limits(max_pixels=24), pytest.raises(FileFormatError, match="max_pixels"):
        m.load(p)
