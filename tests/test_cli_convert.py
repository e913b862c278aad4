"""``metrology convert``: every writable format round-trips a shipped map within the
format's own quantisation; the output format comes from ``--to`` or the extension;
an existing output is replaced only with ``--force``; Zernike tables for design tools.

Tolerances come from the formats, not from our output: float64 containers
(datx, npz, npy, text and SDF written with ``repr``, x3p in metres, OpticStudio
sag in mm, 4D in waves) are exact to a few ulp of the unit conversion;
MetroPro stores integer counts of ``0.5 λ / 131072`` (its finest phase
resolution, scale factor 0.5) and its pixel size as a float32; a CODE V grid
stores integers of ``λ / SSZ`` with SSZ read from the written file. Both are
exact to half a step.
"""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path

import numpy as np
import pytest

import metrology as mt
from metrology.cli import main
from metrology.profile import Profile
from metrology.zernike_tables import read_zernike_table

REPO = Path(__file__).resolve().parent.parent
PARTS = REPO / "datasets" / "parts"
SOURCES = {
    "metropro-csi": PARTS / "part-b-pass" / "l3s2-b_csi5x_site1.dat",  # 200 x 200, dropouts
    "x3p-fizeau": PARTS / "part-a-pass" / "l3s2-a_fizeau.x3p",        # 560 x 560, NaN out of CA
}
#: format -> (extension, relative tolerance of a float container, or the quantised kind)
FORMATS = {
    "datx": (".datx", 0.0),
    "npz": (".npz", 0.0),
    "npy": (".npy", 0.0),
    "text": (".txt", 0.0),
    "sdf": (".sdf", 4e-16),
    "x3p": (".x3p", 4e-16),
    "zemax": (".dat", 4e-16),
    "4sight-focus": (".4d", 4e-16),
    "metropro": (".dat", "metropro"),
    "codev": (".int", "codev"),
}


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_every_writable_format_is_in_the_table() -> None:
    writable = {f["name"] for f in mt.io.formats() if f["write"]} - {"profile"}
    assert writable == set(FORMATS)


@pytest.fixture(scope="module", params=sorted(SOURCES))
def source(request: pytest.FixtureRequest) -> tuple[Path, mt.HeightMap]:
    p = SOURCES[request.param]
    return p, mt.load(p)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_round_trip_within_the_formats_quantisation(source, fmt: str, tmp_path: Path,
                                                    capsys) -> None:
    src, a = source
    ext, tol = FORMATS[fmt]
    out = tmp_path / f"out{ext}"
    before = sha(src)
    lam = a.meta.get("wavelength_nm")
    extra = () if lam else ("--wavelength-nm", 632.8)  # the x3p records none
    if fmt not in ("codev", "metropro", "datx", "4sight-focus"):
        extra = ()
    lam = float(lam or 632.8)
    code, stdout, err = run(capsys, "convert", src, out, "--to", fmt, *extra)
    assert code == 0, err
    assert f"-> {out} ({fmt})" in stdout
    assert sha(src) == before  # the input is never modified
    b = mt.load(out, format=fmt, **({"dx_mm": a.dx_mm} if fmt == "npy" else {}))
    assert b.shape == a.shape
    lat = 2.0 ** -24 if fmt == "metropro" else 1e-12  # MetroPro: lateral_res is a float32
    assert b.dx_mm == pytest.approx(a.dx_mm, rel=lat)
    assert b.dy_mm == pytest.approx(a.dy_mm, rel=lat)
    ok = np.isfinite(a.z_nm)
    assert np.array_equal(ok, np.isfinite(b.z_nm))  # the same pixels invalid, same way up
    err_nm = np.abs(b.z_nm[ok] - a.z_nm[ok])
    zmax = float(np.max(np.abs(a.z_nm[ok])))
    if tol == "metropro":
        step = 0.5 * lam / 131072
        bound = step / 2 * (1 + 1e-9) + 4e-16 * zmax
    elif tol == "codev":
        grd = re.search(r"^GRD .*\bWVL ([0-9.eE+-]+) .*\bSSZ ([0-9.eE+-]+)", out.read_text(),
                        re.M)
        wvl_um, ssz = float(grd.group(1)), float(grd.group(2))
        assert wvl_um * 1000 == pytest.approx(lam, rel=1e-9)  # the map's wavelength
        bound = (wvl_um * 1000 / ssz) / 2 * (1 + 1e-9)
        assert zmax * ssz / (wvl_um * 1000) <= 32767  # the largest height fits an int16
    else:
        bound = tol * zmax * 4
    assert float(err_nm.max()) <= bound, (fmt, float(err_nm.max()), bound)


def test_format_from_the_extension_and_aliases(tmp_path: Path, capsys) -> None:
    src = SOURCES["metropro-csi"]
    assert run(capsys, "convert", src, tmp_path / "a.x3p")[0] == 0
    assert mt.load(tmp_path / "a.x3p").meta["format"] == "x3p"
    assert run(capsys, "convert", src, tmp_path / "b.csv")[0] == 0  # .csv: text matrix
    assert mt.load(tmp_path / "b.csv").meta["format"] == "text"
    assert run(capsys, "convert", src, tmp_path / "c.out", "--to", "int")[0] == 0
    assert mt.load(tmp_path / "c.out", format="codev").meta["format"] == "codev"
    # .dat is MetroPro and Zemax Grid Sag: no silent pick
    code, _, err = run(capsys, "convert", src, tmp_path / "d.dat")
    assert code == 2 and "--to metropro" in err and "--to zemax" in err
    assert not (tmp_path / "d.dat").exists()
    assert run(capsys, "convert", src, tmp_path / "e.nosuchext")[0] == 2
    code, _, err = run(capsys, "convert", src, tmp_path / "f.x3p", "--to", "nosuch")
    assert code == 2 and "not a format written here" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.x3p", "b.csv", "c.out"]


def test_existing_output_needs_force(tmp_path: Path, capsys) -> None:
    src = SOURCES["metropro-csi"]
    out = tmp_path / "a.txt"
    out.write_text("precious\n")
    code, _, err = run(capsys, "convert", src, out)
    assert code == 2 and "--force" in err
    assert out.read_text() == "precious\n"
    assert run(capsys, "convert", src, out, "--force")[0] == 0
    assert mt.load(out).shape == (200, 200)
    # the input itself is never a target, with --force neither
    before = sha(src)
    code, _, err = run(capsys, "convert", src, src, "--force", "--to", "metropro")
    assert code == 2 and "is the input file" in err and sha(src) == before
    (tmp_path / "dir.x3p").mkdir()
    assert run(capsys, "convert", src, tmp_path / "dir.x3p", "--force")[0] == 2


def test_wavelength_option(tmp_path: Path, capsys) -> None:
    src = SOURCES["metropro-csi"]
    out = tmp_path / "a.int"
    assert run(capsys, "convert", src, out, "--wavelength-nm", 600)[0] == 0
    assert re.search(r"^GRD .*\bWVL 0\.6\b", out.read_text(), re.M)
    code, _, err = run(capsys, "convert", src, tmp_path / "a.x3p", "--wavelength-nm", 600)
    assert code == 2 and "stores no wavelength" in err
    # a map without a wavelength cannot become a CODE V file (it stores waves) without one
    txt = tmp_path / "m.txt"
    np.savetxt(txt, np.ones((8, 8)))
    code, _, err = run(capsys, "convert", txt, tmp_path / "m.int", "--dx-mm", 0.1,
                       "--z-unit", "nm")
    assert code == 2 and "wavelength" in err


def test_read_options_and_the_format_hint(tmp_path: Path, capsys) -> None:
    txt = tmp_path / "m.txt"
    np.savetxt(txt, np.arange(48.0).reshape(6, 8))
    code, _, err = run(capsys, "convert", txt, tmp_path / "m.x3p")
    assert code == 2 and "--dx-mm" in err
    assert run(capsys, "convert", txt, tmp_path / "m.x3p", "--dx-mm", 0.5, "--z-unit",
               "um")[0] == 0
    b = mt.load(tmp_path / "m.x3p")
    assert b.dx_mm == 0.5 and b.z_nm[-1, 0] == pytest.approx(0.0)  # first line = top row
    assert b.z_nm[0, 0] == pytest.approx(40.0 * 1000)  # 40 um, the bottom-left value
    # --format is the format of IN (an old habit of giving the output's is pointed out)
    code, _, err = run(capsys, "convert", SOURCES["metropro-csi"], tmp_path / "z.dat",
                       "--format", "zemax")
    assert code == 2 and "--format zemax is the format of IN" in err and "--to" in err


def test_profiles_are_written_as_profile_csv(tmp_path: Path, capsys) -> None:
    f = mt.save(Profile(np.sin(np.arange(64) / 5.0), 0.002), tmp_path / "p.csv")
    code, _, err = run(capsys, "convert", f, tmp_path / "p.x3p")
    assert code == 2 and "profile" in err
    code, _, err = run(capsys, "convert", f, tmp_path / "p.sdf", "--to", "x3p")
    assert code == 2
    assert run(capsys, "convert", f, tmp_path / "q.txt")[0] == 0
    back = mt.load(tmp_path / "q.txt")
    assert isinstance(back, Profile) and back.dx_mm == 0.002
    np.testing.assert_allclose(back.z_nm, np.sin(np.arange(64) / 5.0), rtol=0, atol=1e-15)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.csv", "q.txt"]


# ----------------------------------------------------------------------------- Zernike tables

@pytest.fixture(scope="module")
def power_map(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Fringe Z4 with an RMS coefficient of 10 nm over a 10 mm radius, plus Z5 rms 2 nm."""
    hm0 = mt.HeightMap(np.zeros((161, 161)), 0.125)
    x, y = np.meshgrid(hm0.x_mm, hm0.y_mm)
    rho2 = (x ** 2 + y ** 2) / 10.0 ** 2
    z = (10.0 * math.sqrt(3) * (2 * rho2 - 1)
         + 2.0 * math.sqrt(6) * rho2 * np.cos(2 * np.arctan2(y, x)))
    z[rho2 > 1] = np.nan
    d = tmp_path_factory.mktemp("zt")
    return mt.save(mt.HeightMap(z, 0.125, meta={"wavelength_nm": 632.8}), d / "power.x3p")


def test_zernike_table_in_a_design_tools_convention(power_map: Path, tmp_path: Path,
                                                    capsys) -> None:
    out = tmp_path / "z.csv"
    code, stdout, err = run(capsys, "convert", power_map, out, "--zernike-table",
                            "zemax-fringe-sag", "--aperture-mm", 20)
    assert code == 0, err
    assert "R_norm = 10 mm" in stdout
    t = read_zernike_table(out)
    coef = {row["index"]: row["coefficient"] for row in t["terms"]}
    # peak normalisation: the peak coefficient of Z4 = sqrt(3) x its RMS coefficient; mm
    assert coef[4] == pytest.approx(10.0 * math.sqrt(3) * 1e-6, rel=1e-6)
    assert coef[5] == pytest.approx(2.0 * math.sqrt(6) * 1e-6, rel=1e-6)
    assert abs(coef[6]) < 1e-12
    js = tmp_path / "z.json"
    assert run(capsys, "convert", power_map, js, "--zernike-table", "codev-zfr",
               "--aperture-mm", 20, "--wavelength-nm", 632.8)[0] == 0
    w = {row["index"]: row["coefficient"] for row in read_zernike_table(js)["terms"]}
    assert w[4] == pytest.approx(10.0 * math.sqrt(3) / 632.8, rel=1e-6)  # waves


def test_no_design_tool_table_of_coefficients_that_mean_nothing(tmp_path: Path,
                                                                capsys) -> None:
    """A 3 x 40 mm strip of data (issue 9): the circle polynomials over its circumscribed
    disk are ill-conditioned and the pixels cover a few per cent of it, so their
    coefficients are flagged as not meaningful. A table cannot carry the flags: the export
    is refused, naming them and the way out, and nothing is written."""
    hm = mt.HeightMap(np.random.default_rng(2).normal(size=(15, 200)) * 20.0, 0.2)
    assert mt.fit_zernike(hm, 15).flags                  # independently flagged
    strip = mt.save(hm, tmp_path / "strip.x3p")
    out = tmp_path / "z.csv"
    code, _, err = run(capsys, "convert", strip, out, "--zernike-table", "zemax-fringe-sag",
                       "--terms", 15)
    assert code == 2 and "not meaningful" in err and "unit disk" in err
    assert "--aperture-mm" in err and "Traceback" not in err
    assert not out.exists()


def test_zernike_table_refusals(power_map: Path, tmp_path: Path, capsys) -> None:
    code, _, err = run(capsys, "convert", power_map, tmp_path / "a.x3p", "--terms", 11)
    assert code == 2 and "--zernike-table" in err
    code, _, err = run(capsys, "convert", power_map, tmp_path / "a.csv", "--zernike-table",
                       "codev-zfr")
    assert code == 2 and "--wavelength-nm" in err
    code, _, err = run(capsys, "convert", power_map, tmp_path / "a.x3p", "--zernike-table",
                       "zemax-fringe-sag")
    assert code == 2 and ".csv or .json" in err
    assert not any(tmp_path.iterdir())
