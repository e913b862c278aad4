"""Reading files that do not say: ``--dx-mm``, ``--dy-mm``, ``--z-unit``, ``--format``
(``info``, ``analyze``, ``check``, ``convert``) and ``[measurements.NAME.read]``.

Expected values are independent of the code: a bare text matrix written here
with NumPy from a shipped map must give the same numbers as the map itself
when its spacing and unit are given; scale factors of the units are the SI
ones; the spacing rule (a file's own calibration is kept, a different value
refused unless ``--override-spacing``) is the one ``metrology.read_options``
documents.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import metrology as mt
from metrology.cli import main
from metrology.errors import FileFormatError, SpecError
from metrology.read_options import ReadOptions, options_for, read_file
from metrology.spec import load_spec, parse_spec

REPO = Path(__file__).resolve().parent.parent
FIZEAU = REPO / "datasets" / "parts" / "part-a-pass" / "l3s2-a_fizeau.x3p"
CSI5X = REPO / "datasets" / "parts" / "part-a-pass" / "l3s2-a_csi5x_site1.datx"
SPEC = REPO / "datasets" / "specs" / "caf2-wafer-inspection.toml"


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def bare_matrix(path: Path, z_nm: np.ndarray, scale: float = 1.0) -> Path:
    """A header-less text matrix as instruments export it: first line = top row."""
    np.savetxt(path, z_nm[::-1] * scale, fmt="%.17g")
    return path


# ----------------------------------------------------------------------------- ReadOptions

def test_options_merge_and_truthiness() -> None:
    assert not ReadOptions()
    assert ReadOptions(z_unit="um").given() == {"z_unit": "um"}
    spec_side = ReadOptions(dx_mm=0.2, dy_mm=0.3, z_unit="um")
    # a command-line dx replaces the spec's pair (dy follows dx), the unit stays
    merged = ReadOptions(dx_mm=0.1).over(spec_side)
    assert merged.given() == {"dx_mm": 0.1, "z_unit": "um"}
    assert ReadOptions(format="text").over(None) == ReadOptions(format="text")
    assert ReadOptions(override_spacing=True).given() == {}


def test_bare_text_gives_the_maps_numbers(tmp_path: Path) -> None:
    hm = mt.load(CSI5X)
    f = bare_matrix(tmp_path / "export.txt", hm.z_nm, scale=1e-3)  # written in um
    with pytest.raises(FileFormatError) as e:
        read_file(f)
    # the reader's message says where the settings go on the command line and in a spec
    assert "--dx-mm" in str(e.value) and "[measurements.NAME.read]" in str(e.value)
    got = read_file(f, ReadOptions(dx_mm=hm.dx_mm, z_unit="um"))
    assert got.shape == hm.shape and got.dx_mm == hm.dx_mm == got.dy_mm
    np.testing.assert_allclose(got.z_nm, hm.z_nm, rtol=1e-12, atol=1e-9)
    got = read_file(f, ReadOptions(dx_mm=0.01, dy_mm=0.02, z_unit="mm"))
    assert (got.dx_mm, got.dy_mm) == (0.01, 0.02)
    np.testing.assert_allclose(got.z_nm, hm.z_nm * 1e3, rtol=1e-12)  # 1 mm = 1e6 nm


def test_spacing_rule_keeps_a_files_calibration(tmp_path: Path) -> None:
    own = mt.load(FIZEAU)
    assert own.dx_mm == 0.1
    with pytest.raises(FileFormatError, match=r"own pixel spacing \(dx = 0.1 mm.*"
                                              r"--override-spacing"):
        read_file(FIZEAU, ReadOptions(dx_mm=0.2))
    # the same value confirms the file's calibration
    same = read_file(FIZEAU, ReadOptions(dx_mm=0.1))
    assert same.dx_mm == 0.1 and np.array_equal(same.z_nm, own.z_nm, equal_nan=True)
    # replacing it is deliberate, and both are recorded
    over = read_file(FIZEAU, ReadOptions(dx_mm=0.2, override_spacing=True))
    assert (over.dx_mm, over.dy_mm) == (0.2, 0.2)
    assert over.meta["file_dx_mm"] == 0.1 and over.meta["lateral_source"] == "caller"
    # z_unit is refused for a format that states its own unit
    with pytest.raises(FileFormatError, match="takes the height unit from the file"):
        read_file(FIZEAU, ReadOptions(z_unit="um"))


def test_format_option_reads_an_ambiguous_extension(tmp_path: Path) -> None:
    hm = mt.load(CSI5X)
    dat = mt.save(hm, tmp_path / "sag.dat", format="zemax")
    assert read_file(dat, ReadOptions(format="zemax")).meta["format"] == "zemax"
    with pytest.raises(FileFormatError):
        read_file(dat, ReadOptions(format="metropro"))


# ----------------------------------------------------------------------------- command line

def test_info_and_analyze_take_the_options(tmp_path: Path, capsys) -> None:
    hm = mt.load(CSI5X)
    f = bare_matrix(tmp_path / "export.txt", hm.z_nm)
    code, _, err = run(capsys, "info", f)
    assert code == 2 and "--dx-mm" in err and "--z-unit" in err
    code, out, _ = run(capsys, "info", f, "--dx-mm", 0.014, "--z-unit", "nm")
    assert code == 0 and "dx = 0.014 mm, dy = 0.014 mm (given)" in out
    assert run(capsys, "info", f, "--dy-mm", 0.01, "--z-unit", "nm")[0] == 2  # dy alone
    assert run(capsys, "info", f, "--dx-mm", "-1")[0] == 2
    assert run(capsys, "info", f, "--dx-mm", 0.01, "--z-unit", "furlong")[0] == 2
    assert run(capsys, "info", f, "--override-spacing")[0] == 2  # needs --dx-mm
    js = tmp_path / "a.json"
    code, _, err = run(capsys, "analyze", f, "--dx-mm", 0.014, "--z-unit", "nm", "--json", js)
    assert code == 0, err
    ref = tmp_path / "ref.json"
    assert run(capsys, "analyze", CSI5X, "--json", ref)[0] == 0
    a, b = json.loads(js.read_text()), json.loads(ref.read_text())
    assert a["stats"]["rms_nm"] == pytest.approx(b["stats"]["rms_nm"], rel=1e-12)
    assert a["zernike"]["terms"][4]["coefficient_nm"] == pytest.approx(
        b["zernike"]["terms"][4]["coefficient_nm"], rel=1e-9, abs=1e-12)


def test_info_spacing_rule_on_the_command_line(capsys) -> None:
    code, _, err = run(capsys, "info", FIZEAU, "--dx-mm", 0.2)
    assert code == 2 and "--override-spacing" in err
    code, out, _ = run(capsys, "info", FIZEAU, "--dx-mm", 0.1)
    assert code == 0 and "(given, as the file's calibration)" in out
    code, out, _ = run(capsys, "info", FIZEAU, "--dx-mm", 0.2, "--override-spacing")
    assert code == 0 and "dx = 0.2 mm" in out and "replacing the file's dx = 0.1 mm" in out


def _criteria(report: dict) -> dict[str, tuple[str, float | None]]:
    return {c["id"]: (c["verdict"], c["value"]) for p in report["parts"] for c in p["criteria"]}


def test_check_a_text_export_as_the_map_itself(tmp_path: Path, capsys) -> None:
    """The Fizeau map exported as a bare matrix and checked with --dx-mm / --z-unit gets
    the verdicts and values of the datx file checked directly."""
    hm = mt.load(FIZEAU)
    f = bare_matrix(tmp_path / "export.txt", hm.z_nm)
    ref, got = tmp_path / "ref.json", tmp_path / "got.json"
    code_ref, _, err = run(capsys, "check", "--spec", SPEC, "--as", "fizeau", "--json", ref,
                           FIZEAU)
    assert code_ref in (0, 1, 3), err
    code, _, err = run(capsys, "check", "--spec", SPEC, "--as", "fizeau", "--json", got,
                       "--dx-mm", 0.1, "--z-unit", "nm", f)
    assert code == code_ref, err
    a = _criteria(json.loads(ref.read_text()))
    b = _criteria(json.loads(got.read_text()))
    assert a.keys() == b.keys() and len(a) >= 3
    for k, (verdict, value) in a.items():
        assert b[k][0] == verdict, k
        if value is None:
            assert b[k][1] is None
        else:
            assert b[k][1] == pytest.approx(value, rel=1e-9, abs=1e-9), k
    # without the settings the file is an input error (exit 2) that says what to pass
    code, _, err = run(capsys, "check", "--spec", SPEC, "--as", "fizeau", f)
    assert code == 2 and "--dx-mm" in err
    # a calibrated file of the same check keeps its spacing: a different --dx-mm is refused
    code, _, err = run(capsys, "check", "--spec", SPEC, "--as", "fizeau", "--dx-mm", 0.2,
                       FIZEAU)
    assert code == 2 and "own pixel spacing" in err


# ----------------------------------------------------------------------------- spec tables

def _spec_with_read(read: str) -> str:
    text = SPEC.read_text(encoding="utf-8")
    anchor = "[measurements.fizeau.aperture]"
    assert anchor in text
    return text.replace(anchor, f"[measurements.fizeau.read]\n{read}\n\n{anchor}", 1)


def test_spec_read_table(tmp_path: Path, capsys) -> None:
    spec = parse_spec(_spec_with_read('dx_mm = 0.1\nz_unit = "nm"'))
    assert spec.measurements["fizeau"].read == ReadOptions(dx_mm=0.1, z_unit="nm")
    # the measurement's settings reach a file assigned by name (match.filename *fizeau*)
    assert options_for(spec, "x/part_fizeau.txt") == ReadOptions(dx_mm=0.1, z_unit="nm")
    assert options_for(spec, "x/other.txt") is None
    assert options_for(spec, "x/other.txt", as_name="fizeau") == ReadOptions(dx_mm=0.1,
                                                                              z_unit="nm")
    # the command line's settings take precedence
    cli = spec.with_read_override(ReadOptions(z_unit="um"))
    assert options_for(cli, "a_fizeau.txt") == ReadOptions(dx_mm=0.1, z_unit="um")
    # end to end: a text export named as the spec's filename glob needs no option
    hm = mt.load(FIZEAU)
    part = tmp_path / "part"
    part.mkdir()
    bare_matrix(part / "l3s2-x_fizeau.txt", hm.z_nm)
    sp = tmp_path / "spec.toml"
    sp.write_text(_spec_with_read('dx_mm = 0.1\nz_unit = "nm"'), encoding="utf-8")
    js = tmp_path / "r.json"
    code, _, err = run(capsys, "check", "--spec", sp, "--json", js, part / "l3s2-x_fizeau.txt")
    assert code in (0, 1, 3), err
    assert any(v[1] is not None for v in _criteria(json.loads(js.read_text())).values())


@pytest.mark.parametrize("read, key", [
    ('dx_mm = -0.1', "dx_mm"),
    ('dy_mm = 0.1', "dy_mm"),
    ('z_unit = "furlong"', "z_unit"),
    ('format = "nosuch"', "format"),
    ('spacing = 0.1', "spacing"),
    ('override_spacing = true', "override_spacing"),
    ('dx_mm = 0.1\noverride_spacing = "yes"', "override_spacing"),
])
def test_spec_read_table_errors_name_the_key(read: str, key: str) -> None:
    with pytest.raises(SpecError) as e:
        parse_spec(_spec_with_read(read))
    assert f"measurements.fizeau.read.{key}" in str(e.value)


def test_shipped_specs_have_no_read_table() -> None:
    # the shipped files carry their calibration; nothing should be read with a setting
    for p in (REPO / "datasets" / "specs").glob("*.toml"):
        assert all(m.read is None for m in load_spec(p).measurements.values())


def test_repeats_are_read_with_the_options(tmp_path: Path, capsys) -> None:
    """--repeats files (the sites stage) get the command line's read settings too."""
    hm = mt.load(CSI5X)
    rng = np.random.default_rng(7)
    reps = [bare_matrix(tmp_path / f"site_rep{k}.txt",
                        hm.z_nm + rng.normal(scale=0.05, size=hm.shape)) for k in (1, 2)]
    js = tmp_path / "r.json"
    code, _, err = run(capsys, "check", "--spec", SPEC, "--as", "csi-5x", "--json", js,
                       "--dx-mm", hm.dx_mm, "--z-unit", "nm", "--repeats", *reps)
    assert code in (0, 1, 3), err
    crit = _criteria(json.loads(js.read_text()))
    assert crit and any(value is not None for _, value in crit.values())
    code, _, err = run(capsys, "check", "--spec", SPEC, "--as", "csi-5x", "--repeats", *reps)
    assert code == 2 and "--dx-mm" in err
