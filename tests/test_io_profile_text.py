"""Text profiles: (x, z) and z columns, Dektak CSV; load() returns a Profile for them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import metrology as m
from metrology.cli import main
from metrology.errors import FileFormatError
from metrology.heightmap import HeightMap
from metrology.io import detect
from metrology.io.profile_text import read_profile_text, sniff_profile_text
from metrology.io.text import write_text
from metrology.profile import Profile


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _xz(n: int = 50, step: float = 0.15625, decimals: int = 1) -> tuple[np.ndarray, str]:
    z = np.round(np.sin(np.arange(n) / 5.0) * 0.1, 5)
    rows = "\n".join(f"{i * step:.{decimals}f},{v:.5f}" for i, v in enumerate(z))
    return z, rows


def test_two_columns_with_units_load_as_a_profile(tmp_path: Path) -> None:
    z, rows = _xz()
    f = _write(tmp_path / "p.csv", "x [um],height [um]\n" + rows + "\n")
    assert sniff_profile_text(f.read_bytes()[:4096])
    p = m.load(f)
    assert isinstance(p, Profile) and p.n_points == 50
    # x printed to 0.1 um from a 0.15625 um grid: the fit recovers the grid step
    assert p.dx_mm == pytest.approx(0.15625e-3, rel=1e-3)
    np.testing.assert_allclose(p.z_nm, z * 1000.0)
    assert p.meta["format"] == "profile" and p.meta["x_unit_original"] == "um"


def test_forced_dx_mm_no_longer_makes_a_two_column_height_map(tmp_path: Path) -> None:
    z, rows = _xz(step=1.0, decimals=0)
    f = _write(tmp_path / "p.txt", rows.replace(",", "\t") + "\n")
    p = m.load(f, dx_mm=0.002, z_unit="nm")
    assert isinstance(p, Profile), "a (x, z) file must not become an N x 2 height map"
    assert p.dx_mm == 0.002 and p.n_points == 50
    np.testing.assert_array_equal(p.z_nm, z)
    with pytest.raises(FileFormatError, match="x_unit=|dx_mm="):
        m.load(f, z_unit="nm")  # x unit unknown and no spacing given


def test_header_units_and_contradictions(tmp_path: Path) -> None:
    z, rows = _xz(step=0.5, decimals=1)
    f = _write(tmp_path / "h.txt", "# x_unit: mm\n# z_unit: nm\n" + rows + "\n")
    p = read_profile_text(f)
    assert p.dx_mm == pytest.approx(0.5) and p.meta["z_scale_to_nm"] == 1.0
    with pytest.raises(FileFormatError, match="z_unit"):
        read_profile_text(f, z_unit="um")
    with pytest.raises(FileFormatError, match="dx_mm"):
        read_profile_text(f, dx_mm=0.25)
    f2 = _write(tmp_path / "nounit.txt", rows + "\n")
    with pytest.raises(FileFormatError, match="z_unit="):
        read_profile_text(f2, x_unit="mm")


def test_non_uniform_and_non_monotonic_x_are_refused(tmp_path: Path) -> None:
    x = np.r_[np.arange(20) * 0.1, 2.05, np.arange(21, 40) * 0.1]  # one sample 0.5 step off
    txt = "\n".join(f"{a:.2f},{b}" for a, b in zip(x, np.ones(40), strict=True))
    f = _write(tmp_path / "u.csv", "x_mm,z_nm\n" + txt + "\n")
    with pytest.raises(FileFormatError, match="not uniformly sampled"):
        read_profile_text(f)
    gap = np.r_[np.arange(20), np.arange(21, 41)] * 0.1  # a missing sample, x to 0.01
    txt = "\n".join(f"{a:.2f},1" for a in gap)
    with pytest.raises(FileFormatError, match="not uniformly sampled"):
        read_profile_text(_write(tmp_path / "g.csv", "x_mm,z_nm\n" + txt + "\n"))
    back = "\n".join(f"{a:.1f},{i}" for i, a in enumerate([0.0, 0.1, 0.2, 0.1, 0.4]))
    with pytest.raises(FileFormatError, match="monotonic"):
        read_profile_text(_write(tmp_path / "b.csv", "x_mm,z_nm\n" + back + "\n"))


def test_uniformity_is_judged_at_the_printed_precision(tmp_path: Path) -> None:
    # a missing sample in a trace printed as coarsely as its step cannot be told from a
    # 2.6 % larger step: x = round(i * 0.10256, 1) prints exactly the same column
    gap = np.r_[np.arange(20), np.arange(21, 41)] * 0.1
    same = np.round(np.arange(40) * (0.1 * 40 / 39), 1)
    np.testing.assert_allclose(gap, same)
    txt = "\n".join(f"{a:.1f},1" for a in gap)
    p = read_profile_text(_write(tmp_path / "c.csv", "x_mm,z_nm\n" + txt + "\n"))
    assert p.dx_mm == pytest.approx(0.1 * 40 / 39, rel=2e-2)


def test_decreasing_x_is_reversed(tmp_path: Path) -> None:
    txt = "\n".join(f"{(9 - i) * 0.1:.1f},{i}" for i in range(10))
    p = read_profile_text(_write(tmp_path / "d.csv", "x_mm,z_nm\n" + txt + "\n"))
    assert p.z_nm.tolist() == list(range(9, -1, -1)) and p.meta["x_reversed"] is True
    assert p.meta["x_start_mm"] == pytest.approx(0.0, abs=1e-12)


def test_single_column(tmp_path: Path) -> None:
    f = _write(tmp_path / "s.txt", "# dx_mm: 0.004\n# z_unit: um\n1.0\n2.5\nnan\n4\n")
    p = m.load(f)
    assert isinstance(p, Profile) and p.dx_mm == 0.004
    assert p.z_nm[[0, 1, 3]].tolist() == [1000.0, 2500.0, 4000.0] and np.isnan(p.z_nm[2])
    g = _write(tmp_path / "s2.txt", "1\n2\n3\n")
    with pytest.raises(FileFormatError, match="dx_mm="):
        m.load(g, z_unit="nm")
    q = m.load(g, z_unit="nm", dx_mm=0.5)
    assert q.z_nm.tolist() == [1.0, 2.0, 3.0]  # file order, never reversed


def test_three_columns_stay_with_the_text_reader(tmp_path: Path) -> None:
    f = _write(tmp_path / "m.csv", "1,2,3\n4,5,6\n7,8,9\n")
    assert not sniff_profile_text(f.read_bytes())
    assert detect(f).name == "text"
    assert isinstance(m.load(f, dx_mm=1.0, z_unit="nm"), HeightMap)
    with pytest.raises(FileFormatError, match="format='text'"):
        read_profile_text(f)


def test_long_headers_still_give_profiles_or_a_clear_refusal(tmp_path: Path) -> None:
    pad = "".join(f"# note {i}: {'x' * 60}\n" for i in range(80))  # > 4096 bytes
    one = _write(tmp_path / "one.txt", pad + "# dx_mm: 0.01\n# z_unit: nm\n5\n6\n7\n")
    assert not sniff_profile_text(one.read_bytes()[:4096])
    p = m.load(one)
    assert isinstance(p, Profile) and p.z_nm.tolist() == [5.0, 6.0, 7.0]  # file order
    two = _write(tmp_path / "two.txt", pad + "0,5\n1,6\n2,7\n")
    with pytest.raises(FileFormatError, match="format='profile'"):
        m.load(two, dx_mm=1.0, z_unit="nm")
    p2 = m.load(two, format="profile", x_unit="mm", z_unit="nm")
    assert isinstance(p2, Profile) and p2.dx_mm == pytest.approx(1.0)


def test_our_two_column_matrices_stay_height_maps(tmp_path: Path) -> None:
    hm = HeightMap(np.arange(10.0).reshape(5, 2), 0.1, 0.2)
    f = tmp_path / "m2.csv"
    write_text(hm, f)
    back = m.load(f)
    assert isinstance(back, HeightMap) and back == hm


def test_a_two_pixel_wide_gwyddion_export_stays_an_image(tmp_path: Path) -> None:
    f = _write(tmp_path / "g.txt", "# Breite: 2.0 um\n# H\u00f6he: 3.0 um\n# Value units: nm\n"
               "1 2\n3 4\n5 6\n")
    assert not sniff_profile_text(f.read_bytes())
    hm = m.load(f)
    assert isinstance(hm, HeightMap) and hm.shape == (3, 2) and hm.dx_mm == 0.001


def test_round_trip_is_bit_exact(tmp_path: Path) -> None:
    """The spacing's repr and every height come back bit for bit (cut copies and byte
    flips of written profiles: tests/test_io_formats.py)."""
    rng = np.random.default_rng(4)
    z = rng.normal(0, 3.3, 200)
    z[17] = np.nan
    p = Profile(z, 0.000123456789, {"k": 1})
    back = m.load(m.save(p, tmp_path / "r.csv"))
    assert back == p and back.dx_mm == p.dx_mm


DEKTAK = """Scan Parameters
Scan Type,Standard Scan
Stylus,Radius: 12.5 \u00b5m
Length,10.0 um
Resolution,{res} um/sample
Analytical Results
Function,R.Cur Pos,Result
Ra,1.0 um,0.00525 um

Scan Data

Lateral um,Raw Micrometer,
{rows}
"""


def _dektak(tmp_path: Path, res: str = "0.156", n: int = 64) -> Path:
    rows = "\n".join(f"{i * 0.15625:.1f},{0.001 * (i % 7):.5f},," for i in range(n))
    f = tmp_path / "dektak.csv"
    f.write_bytes(DEKTAK.format(res=res, rows=rows).encode("latin-1"))  # as Dektak writes
    return f


def test_dektak_csv(tmp_path: Path) -> None:
    f = _dektak(tmp_path)
    p = m.load(f)
    assert isinstance(p, Profile) and p.n_points == 64
    assert p.meta["instrument"] == "Bruker Dektak stylus profiler"
    assert p.meta["stylus_radius_um"] == 12.5 and p.meta["dektak_resolution_mm"] == 0.000156
    assert p.dx_mm == pytest.approx(0.00015625, rel=1e-3)
    assert p.z_nm[:8].tolist() == pytest.approx([0, 1, 2, 3, 4, 5, 6, 0])
    with pytest.raises(FileFormatError, match="Resolution"):
        m.load(_dektak(tmp_path, res="0.5"))
    # Length 10.0 um = 64 samples of 0.15625 um: a copy cut at a line boundary is caught
    with pytest.raises(FileFormatError, match="Length"):
        m.load(_dektak(tmp_path, n=63))


def test_profiles_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = _dektak(tmp_path)
    assert main(["info", str(f)]) == 0
    assert "64 points along x" in capsys.readouterr().out
    assert main(["analyze", str(f)]) == 0
    assert "Height parameters" in capsys.readouterr().out
    # a profile is not a height map: converting it to a map format is a clear error
    assert main(["convert", str(f), str(tmp_path / "o.x3p")]) == 2
    err = capsys.readouterr().err
    assert "profile" in err and "Traceback" not in err
    assert main(["convert", str(f), str(tmp_path / "o.csv")]) == 0
    assert m.load(tmp_path / "o.csv") == m.load(f)


# --------------------------------------------------------------------------- real data
@pytest.mark.realdata
def test_realdata_dektak(realdata) -> None:
    p = m.load(realdata("st_dektak-1.csv"))
    assert isinstance(p, Profile) and p.n_points == 9600
    # ST gives 0.000156229 = x range / N; the samples are 0.15625 um apart (Length 1500 um
    # / 9600 samples; every printed x is i * 0.15625 rounded to 0.1 um)
    assert p.dx_mm == pytest.approx(0.000156229, rel=1e-3)
    assert p.dx_mm == pytest.approx(1.5 / 9600, rel=1e-6)
    assert p.rms_nm == pytest.approx(4764.2, rel=1e-3)
    assert p.pv_nm == pytest.approx(16590, rel=1e-3)
    assert p.valid_fraction == 1.0
    assert p.meta["stylus_radius_um"] == 2.5
