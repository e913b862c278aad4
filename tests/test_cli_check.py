"""``metrology check`` / ``analyze`` / ``convert`` through ``main(argv)``.

Exit codes: 0 every checked criterion passes, 1 a criterion fails, 2 usage or
input error, 3 nothing failed but something was not measurable or a measurement
of a part check is missing. Verdicts are checked against maps built to sit just
inside or just outside each limit (analytic values, see ``test_report.py``).
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from test_report import (
    SPEC_CRITERIA,
    SPEC_TOML,
    SPEC_TOML_PSD,
    by_id,
    csi_map,
    fiz_map,
    sha256_file,
    write_files,
    write_spec,
)

import metrology as mt
from metrology import reports
from metrology.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def check_json(capsys, tmp_path: Path, *argv: object) -> tuple[int, dict, str]:
    """Run check with --json and return (exit code, the JSON, stdout)."""
    js = tmp_path / "out" / "report.json"
    code, out, err = run(capsys, "check", "--json", js, *argv)
    assert code in (0, 1, 3), err
    return code, json.loads(js.read_text()), out


def verdicts(d: dict) -> dict[str, str]:
    return {k: c["verdict"] for k, c in by_id(d).items()}


# ----------------------------------------------------------------------------- exit codes

def test_exit_0_when_every_criterion_passes(tmp_path: Path, capsys) -> None:
    spec = write_spec(tmp_path)
    write_files(tmp_path / "part", {"fiz.x3p": fiz_map(0.39, 0.27), "csi.x3p": csi_map()})
    code, d, out = check_json(capsys, tmp_path, "--spec", spec, "--no-color", tmp_path / "part")
    assert code == 0
    assert set(verdicts(d).values()) == {"pass"} and set(verdicts(d)) == set(SPEC_CRITERIA)
    assert "exit code 0" in out and "\x1b[" not in out


@pytest.mark.parametrize("astig_nm, ripple_factor, expect", [
    # astigmatism limit 0.40 nm; MSF band RMS and residual RMS limits 0.30 nm
    (0.39, 0.9, {"fiz.form.term.astigmatism": "pass", "fiz.band.MSF.rms": "pass",
                 "fiz.form.residual_rms": "pass"}),
    (0.41, 0.9, {"fiz.form.term.astigmatism": "fail", "fiz.band.MSF.rms": "pass",
                 "fiz.form.residual_rms": "pass"}),
    (0.39, 1.1, {"fiz.form.term.astigmatism": "pass", "fiz.band.MSF.rms": "fail",
                 "fiz.form.residual_rms": "fail"}),
])
def test_just_inside_and_just_outside_each_limit(tmp_path: Path, capsys, astig_nm: float,
                                                 ripple_factor: float, expect: dict) -> None:
    spec = write_spec(tmp_path)
    (f,) = write_files(tmp_path / "in", {"fiz.x3p": fiz_map(astig_nm, 0.30 * ripple_factor)})
    # only the Fizeau measurement is given: restrict the check to it on purpose
    code, d, _ = check_json(capsys, tmp_path, "--spec", spec, "--only", "fiz", f)
    got = verdicts(d)
    for cid, v in expect.items():
        assert got[cid] == v, cid
    assert code == (1 if "fail" in expect.values() else 0)
    c = by_id(d)
    assert c["fiz.form.term.astigmatism"]["value"] == pytest.approx(astig_nm, abs=1e-4)
    # RMS of A sin over many periods is A / sqrt(2) = 0.30 * factor
    assert c["fiz.band.MSF.rms"]["value"] == pytest.approx(0.30 * ripple_factor, rel=0.01)
    assert c["fiz.form.residual_rms"]["value"] == pytest.approx(0.30 * ripple_factor, rel=0.01)


@pytest.mark.parametrize("removed, verdict", [(0.05, "pass"), (0.15, "fail")])
def test_minimum_valid_fraction(tmp_path: Path, capsys, removed: float, verdict: str) -> None:
    spec = write_spec(tmp_path)
    (f,) = write_files(tmp_path / "in", {"fiz.x3p": fiz_map(removed_fraction=removed)})
    code, d, _ = check_json(capsys, tmp_path, "--spec", spec, "--only", "fiz", f)
    c = by_id(d)["fiz.requirements.valid_fraction"]
    assert c["verdict"] == verdict and c["bound"] == "min"
    assert c["value"] == pytest.approx(1.0 - removed, abs=0.01)
    assert code == (0 if verdict == "pass" else 1)


def test_band_above_nyquist_is_not_measurable_never_pass(tmp_path: Path, capsys) -> None:
    spec = write_spec(tmp_path)
    # 0.02 mm spacing: Nyquist 25 /mm, the HSF band reaches 50 /mm
    write_files(tmp_path / "part", {"fiz.x3p": fiz_map(0.39, 0.27),
                                    "csi.x3p": csi_map(dx_mm=0.02)})
    code, d, out = check_json(capsys, tmp_path, "--spec", spec, tmp_path / "part")
    c = by_id(d)["csi.band.HSF.rms"]
    assert c["verdict"] == "not-measurable" and c["value"] is None
    assert "Nyquist" in c["reason"]
    assert d["parts"][0]["counts"] == {"pass": 5, "fail": 0, "not-measurable": 1,
                                       "not-checked": 0}
    assert code == 3 and d["verdict"] == "not-measurable"
    assert "exit code 3" in out


def test_part_folder_with_missing_measurement_exits_3(tmp_path: Path, capsys) -> None:
    spec = write_spec(tmp_path)
    write_files(tmp_path / "part", {"fiz.x3p": fiz_map(0.39, 0.27)})
    code, d, out = check_json(capsys, tmp_path, "--spec", spec, tmp_path / "part")
    assert code == 3
    p = d["parts"][0]
    assert p["part_check"] and p["measurements_missing"] == ["csi"]
    c = by_id(d)["csi.band.HSF.rms"]
    assert c["verdict"] == "not-measurable" and "no file for measurement 'csi'" in c["reason"]
    assert "MISSING" in out


def test_part_flag_on_loose_files(tmp_path: Path, capsys) -> None:
    spec = write_spec(tmp_path)
    (f,) = write_files(tmp_path / "in", {"fiz.x3p": fiz_map(0.39, 0.27)})
    code, d, _ = check_json(capsys, tmp_path, "--spec", spec, "--part", f)
    assert code == 3 and by_id(d)["csi.band.HSF.rms"]["verdict"] == "not-measurable"
    # the same file without --part: the csi criterion is listed as not checked, which is
    # not a pass either (issue 9 item 9): exit 3, said on the summary's first line
    code, d, out = check_json(capsys, tmp_path, "--spec", spec, f)
    assert code == 3 and by_id(d)["csi.band.HSF.rms"]["verdict"] == "not-checked"
    assert d["verdict"] == "not-checked" and d["exit_code"] == 3
    assert "not checked: csi" in d["parts"][0]["scope"] and "not-checked" in out
    summary = out[out.index("\noverall "):].splitlines()[1]
    assert summary.startswith("overall   NOT-CHECKED: 1 criteria NOT CHECKED") and \
        "csi" in summary and "exit code 3" in summary
    # restricted on purpose (--only fiz): the csi criterion is listed, not counted: exit 0
    code, d, out = check_json(capsys, tmp_path, "--spec", spec, "--only", "fiz", f)
    assert code == 0 and d["verdict"] == "pass"
    assert by_id(d)["csi.band.HSF.rms"]["verdict"] == "not-checked"
    assert "--only" in by_id(d)["csi.band.HSF.rms"]["reason"]
    assert d["parts"][0]["restricted_to"] == ["fiz"]


def test_misspelt_key_exits_2_naming_key_and_line(tmp_path: Path, capsys) -> None:
    text = SPEC_TOML.replace("rms_nm_max = 0.30\n\n[[bands]]\nname = \"HSF\"",
                             "rms_nm_mx = 0.30\n\n[[bands]]\nname = \"HSF\"")
    assert text != SPEC_TOML
    spec = write_spec(tmp_path, text)
    line = 1 + text.splitlines().index("rms_nm_mx = 0.30")
    (f,) = write_files(tmp_path / "in", {"fiz.x3p": fiz_map()})
    code, out, err = run(capsys, "check", "--spec", spec, f)
    assert code == 2 and out == ""
    assert "rms_nm_mx" in err and f"spec.toml:{line}" in err and "rms_nm_max" in err


def test_input_errors_exit_2(tmp_path: Path, capsys) -> None:
    spec = write_spec(tmp_path)
    bad = tmp_path / "in" / "fiz_bad.x3p"
    bad.parent.mkdir()
    bad.write_bytes(b"PK\x03\x04 this is not a zip archive")
    code, _, err = run(capsys, "check", "--spec", spec, bad)
    assert code == 2 and "fiz_bad.x3p" in err
    code, _, err = run(capsys, "check", "--spec", spec, tmp_path / "nope_fiz.x3p")
    assert code == 2 and "no such file" in err
    (other,) = write_files(tmp_path / "in", {"unknown.x3p": fiz_map()})
    code, _, err = run(capsys, "check", "--spec", spec, other)
    assert code == 2 and "matches no measurement" in err and "--as" in err
    code, _, err = run(capsys, "check", "--spec", spec, "--as", "fizz", other)
    assert code == 2 and "fizz" in err
    code, _, err = run(capsys, "check", "--spec", tmp_path / "missing.toml", other)
    assert code == 2 and "missing.toml" in err


def test_usage_errors_exit_2(capsys) -> None:
    assert run(capsys, "check", "x.x3p")[0] == 2          # no --spec
    assert run(capsys, "check", "--spec", "s.toml")[0] == 2   # no file
    assert run(capsys, "frobnicate")[0] == 2
    assert run(capsys)[0] == 2


def test_help_documents_exit_codes(capsys) -> None:
    code, out, _ = run(capsys, "check", "--help")
    assert code == 0
    text = " ".join(out.split())
    for s in ("0 every checked criterion passes", "1 at least one criterion fails",
              "2 usage or input error", "3 nothing failed, but something was not measurable"):
        assert s in text


# ----------------------------------------------------------------------------- outputs

def test_junit_counts_from_the_cli(tmp_path: Path, capsys) -> None:
    spec = write_spec(tmp_path)
    # fails: astigmatism 0.41 > 0.40, MSF 0.33 > 0.30, residual 0.33 > 0.30;
    # not measurable: HSF above the microscope's Nyquist frequency
    write_files(tmp_path / "part", {"fiz.x3p": fiz_map(0.41, 0.33),
                                    "csi.x3p": csi_map(dx_mm=0.02)})
    junit = tmp_path / "out" / "junit.xml"
    code, _, _ = run(capsys, "check", "--spec", spec, "--junit", junit, tmp_path / "part")
    assert code == 1
    root = ET.parse(junit).getroot()
    suite = root.find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped"),
            suite.get("errors")) == (str(len(SPEC_CRITERIA)), "3", "1", "0")
    failed = sorted(c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None)
    assert failed == ["fiz.band.MSF.rms", "fiz.form.residual_rms", "fiz.form.term.astigmatism"]


def test_all_outputs_validate_atomic_and_inputs_untouched(tmp_path: Path, capsys) -> None:
    spec = write_spec(tmp_path, SPEC_TOML_PSD)
    files = write_files(tmp_path / "part", {"fiz.x3p": fiz_map(0.41, 0.27),
                                            "csi.x3p": csi_map(dx_mm=0.02)})
    before = {p: sha256_file(p) for p in [spec, *files]}
    out = tmp_path / "out"
    out.mkdir()
    paths = {k: out / f"r.{k}" for k in ("json", "xml", "md", "html")}
    for p in paths.values():                       # existing outputs must be replaced whole
        p.write_text("OLD" * 100_000)
    code, stdout, _ = run(capsys, "check", "--spec", spec, "--json", paths["json"],
                          "--junit", paths["xml"], "--markdown", paths["md"],
                          "--html", paths["html"], tmp_path / "part")
    assert code == 1
    for p in paths.values():
        assert "OLDOLD" not in p.read_text()
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths.values())
    assert {p: sha256_file(p) for p in before} == before
    d = json.loads(paths["json"].read_text())
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(d, reports.report_schema(),
                        cls=jsonschema.Draft202012Validator)
    assert d["spec"]["sha256"] == before[spec]
    ET.parse(paths["xml"])
    assert paths["md"].read_text().startswith("## metrology check: FAIL")
    page = paths["html"].read_text()
    assert page.count('src="data:image/png;base64,') >= 6 and "https:" not in page
    assert "fiz.form.term.astigmatism" in stdout


def test_output_over_an_input_is_refused(tmp_path: Path, capsys) -> None:
    spec = write_spec(tmp_path)
    (f,) = write_files(tmp_path / "in", {"fiz.x3p": fiz_map()})
    before = sha256_file(f)
    code, _, err = run(capsys, "check", "--spec", spec, "--json", f, f)
    assert code == 2 and "never modified" in err
    code, _, err = run(capsys, "check", "--spec", spec, "--junit", spec, f)
    assert code == 2
    assert sha256_file(f) == before
    # a report inside a part folder is not one of its measurement files: a second run
    # replaces it (the folder's data files are what is protected)
    folder = f.parent
    for _ in range(2):
        code, _, err = run(capsys, "check", "--spec", spec, "--json", folder / "report.json",
                           folder)
        assert code == 3, err
    code, _, err = run(capsys, "check", "--spec", spec, "--html", folder / "fiz.x3p", folder)
    assert code == 2 and "never modified" in err


# ----------------------------------------------------------------------------- analyze

def test_analyze_zernike_table(tmp_path: Path, capsys) -> None:
    hm = fiz_map(0.39, 0.0)
    x, y = np.meshgrid(hm.x_mm, hm.y_mm)
    z = hm.z_nm.copy()
    z[x ** 2 + y ** 2 > 10.0 ** 2] = np.nan            # the data end at the 10 mm circle
    (f,) = write_files(tmp_path, {"map.x3p": mt.HeightMap(z, hm.dx_mm)})
    js = tmp_path / "a.json"
    code, out, _ = run(capsys, "analyze", f, "--json", js)
    assert code == 0
    d = json.loads(js.read_text())
    zf = d["zernike"]
    assert zf["scheme"] == "fringe" and len(zf["terms"]) == 37
    r = zf["r_norm_mm"]
    assert 9.5 < r <= 10.0 + hm.dx_mm
    # the same surface in another R_norm: c' = c (R'/R)^2 for a rho^2 term
    coef = {t["index"]: t["coefficient_nm"] for t in zf["terms"]}
    assert coef[5] == pytest.approx(0.39 * (r / 10.0) ** 2, rel=1e-6)
    assert abs(coef[6]) < 1e-6
    assert "Zernike fit: fringe scheme, rms normalisation" in out
    assert d["stats"]["valid_fraction"] == pytest.approx(math.pi * 100 / 22.0 ** 2, rel=0.02)


def test_analyze_decade_bands(tmp_path: Path, capsys) -> None:
    n, dx = 128, 0.05                                  # Nyquist 10 /mm, 2/L = 0.3125 /mm
    hm0 = mt.HeightMap(np.zeros((n, n)), dx)
    z = np.sqrt(2) * 0.2 * np.sin(2 * np.pi * 3.0 * hm0.x_mm)[None, :] * np.ones((n, 1))
    (f,) = write_files(tmp_path, {"ripple.x3p": mt.HeightMap(z, dx)})
    js = tmp_path / "a.json"
    code, out, _ = run(capsys, "analyze", f, "--json", js)
    assert code == 0
    bands = {(b["f_lo_per_mm"], b["f_hi_per_mm"]): b for b in json.loads(js.read_text())
             ["psd"]["bands"]}
    assert set(bands) == {(0.1, 1.0), (1.0, 10.0)}
    assert bands[(1.0, 10.0)]["coverage"] == "full"
    assert bands[(1.0, 10.0)]["rms_nm"] == pytest.approx(0.2, rel=0.02)
    assert bands[(0.1, 1.0)]["coverage"] == "partial"
    assert bands[(0.1, 1.0)]["rms_nm"] < 0.01
    assert "partial: RMS of 0.3125-1 /mm only" in out


def test_analyze_unreadable_exits_2(tmp_path: Path, capsys) -> None:
    p = tmp_path / "x.sdf"
    p.write_text("garbage")
    assert run(capsys, "analyze", p)[0] == 2


# ----------------------------------------------------------------------------- convert

def test_convert_roundtrip_and_refusals(tmp_path: Path, capsys) -> None:
    hm = fiz_map(0.39, 0.27, removed_fraction=0.1)
    (src,) = write_files(tmp_path, {"a.x3p": hm})
    before = sha256_file(src)
    dst = tmp_path / "b.sdf"
    code, _, err = run(capsys, "convert", src, dst)
    assert code == 0, err
    a, b = mt.load(src), mt.load(dst)
    assert b.shape == a.shape and b.dx_mm == pytest.approx(a.dx_mm)
    assert np.array_equal(np.isnan(a.z_nm), np.isnan(b.z_nm))
    ok = ~np.isnan(a.z_nm)
    assert np.allclose(a.z_nm[ok], b.z_nm[ok], atol=1e-6)
    assert run(capsys, "convert", src, src)[0] == 2
    assert run(capsys, "convert", src, tmp_path / "c.unknownext")[0] == 2
    assert run(capsys, "convert", src, tmp_path / "c.dat", "--to", "nosuch")[0] == 2
    assert sha256_file(src) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.x3p", "b.sdf"]
