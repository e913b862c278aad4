"""CODE V .int (grid and ZFR) and the Zernike tables for design tools."""

from __future__ import annotations

import contextlib
import json
import math
import signal
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import metrology as m
from metrology.errors import ConventionError, FileFormatError
from metrology.io import detect
from metrology.io.codev import read_codev_int, read_codev_zfr, write_codev_int, write_codev_zfr
from metrology.zernike_tables import (
    read_zernike_table,
    write_zernike_csv,
    write_zernike_json,
    zernike_table,
)

from iohelpers import marked_map

LAM = 632.8


@contextlib.contextmanager
def _deadline(seconds: int) -> Iterator[None]:
    """Fail instead of hanging (POSIX: SIGALRM; elsewhere no guard)."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def _fail(signum, frame) -> None:  # noqa: ANN001
        raise TimeoutError(f"did not return within {seconds} s")

    old = signal.signal(signal.SIGALRM, _fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def test_hand_written_grid_orientation_scale_and_nda(tmp_path: Path) -> None:
    """Laid out as the format says: comments, title, header, rows from the top (+y),
    each from -x to +x; value / SSZ = waves at WVL (µm)."""
    text = ("! written by hand for the test\n"
            "asymmetric 4 x 3 test grid\n"
            "GRD 4 3 SUR WVL 0.5 SSZ 1000 NDA -9999\n"
            "100 200 300 400\n"       # top row (+y)
            "500 600 -9999 800\n"
            "900 1000 1100 1200\n")   # bottom row (-y)
    p = tmp_path / "hand.int"
    p.write_text(text)
    assert detect(p).name == "codev"
    hm = m.load(p, dx_mm=0.25)
    assert hm.shape == (3, 4) and hm.dx_mm == 0.25 and hm.dy_mm == 0.25
    # value / 1000 waves at 500 nm = value / 2 nm; the file's first row is the map's top (row 2)
    np.testing.assert_allclose(hm.z_nm[2], [50.0, 100.0, 150.0, 200.0])
    np.testing.assert_allclose(hm.z_nm[0], [450.0, 500.0, 550.0, 600.0])
    assert np.isnan(hm.z_nm[1, 2]) and hm.n_valid == 11
    assert hm.meta["quantity"] == "surface" and hm.meta["wavelength_nm"] == 500.0
    assert hm.meta["rows_flipped"] is True and hm.meta["codev_title"].startswith("asymmetric")


def test_defaults_nnb_xsc_and_wavefront(tmp_path: Path) -> None:
    p = tmp_path / "w.int"
    p.write_text("title\nGRD 2 2 WFR WVL 1.0 NNB SSZ 2 XSC 2\n2 32767 4 6\n")
    hm = read_codev_int(p, dx_mm=1.0)
    assert hm.meta["quantity"] == "wavefront" and hm.meta["codev_header"]["nnb"] is True
    assert np.isnan(hm.z_nm[1, 1])  # 32767 is the no-data value when NDA is absent
    np.testing.assert_allclose(hm.z_nm[0], [2000.0, 3000.0])
    assert hm.dy_mm == pytest.approx(0.5)  # XSC = (nx dx) / (ny dy) = 2


def test_round_trip_quantisation_and_layout(tmp_path: Path) -> None:
    z = marked_map(12, 9)
    hm = m.HeightMap(z, 0.125, 0.2, meta={"wavelength_nm": LAM, "source": "x.datx"})
    p = tmp_path / "rt.int"
    m.save(hm, p)
    lines = p.read_text().splitlines()
    assert lines[0] == "! metrology: dx_mm=0.125 dy_mm=0.2"
    assert lines[2] == "x.datx"
    head = lines[3].split()
    assert head[:4] == ["GRD", "9", "12", "SUR"] and head[head.index("NDA") + 1] == "32767"
    assert max(len(ln) for ln in lines[4:]) <= 80
    ssz = float(head[head.index("SSZ") + 1])
    vals = np.array(" ".join(lines[4:]).split(), dtype=np.int64).reshape(12, 9)
    # file row 0 = map row 11 (top); the marker (map row 10, column 1) on file row 1
    assert vals[1, 1] == round(500.0 / LAM * ssz)
    assert np.all(vals[-2:, 6:] == 32767)  # the NaN block, bottom right of the map
    assert np.abs(vals[vals != 32767]).max() <= 32766
    back = m.load(p)
    assert back.dx_mm == 0.125 and back.dy_mm == 0.2
    np.testing.assert_array_equal(back.valid, hm.valid)
    step = LAM / ssz
    assert np.nanmax(np.abs(back.z_nm - z)) <= 0.5 * step + 1e-9
    assert back.meta["quantisation_nm"] == pytest.approx(step)


@pytest.mark.parametrize("peak_nm", [100.0, 104.7, 632.8 * 0.15, 1e-3, 5e4, 632.8])
def test_scale_ends_and_fills_the_integer_range(tmp_path: Path, peak_nm: float) -> None:
    """SSZ is the largest 6-digit number with peak x SSZ <= 32766. Found writing a
    ~100 nm PV map at 632.8 nm: the former loop scaled SSZ by (1 - 1e-6) and rounded
    back to the same 6 digits, so it never ended."""
    z = np.zeros((6, 6))
    z[2, 3] = peak_nm
    hm = m.HeightMap(z, 0.1)
    p = tmp_path / "s.int"
    with _deadline(60):
        m.save(hm, p, wavelength_nm=LAM)  # must return (the old loop hung here)
    head = p.read_text().splitlines()[3].split()
    ssz_text = head[head.index("SSZ") + 1]
    ssz = float(ssz_text)
    peak = peak_nm / LAM
    digits = ssz_text.replace(".", "").replace("-", "").split("e")[0].strip("0")
    assert len(digits) <= 6
    assert peak * ssz <= 32766
    # the next 6-digit value up would overflow: nothing of the range is wasted
    e = math.floor(math.log10(ssz)) - 5
    assert peak * (ssz + 10.0 ** e) > 32766 * (1 - 1e-12)
    vals = np.array(" ".join(p.read_text().splitlines()[4:]).split(), dtype=np.int64)
    assert np.abs(vals).max() <= 32766


@pytest.mark.parametrize("text,msg", [
    ("title\nGRD 2 2 SUR WVL 0.6 SSZ 1\n1 2 3\n", "3 data values"),
    ("title\nGRD 2 2 SUR WVL 0.6 SSZ 1\n1 2 3 4.5\n", "integers"),
    ("title\nGRD 2 2 SUR WVL 0.6\n1 2 3 4\n", "SSZ"),
    ("title\nGRD 2 2 WVL 0.6 SSZ 1\n1 2 3 4\n", "data type"),
    ("title\nGRD 2 2 FIL WVL 0.6 SSZ 1\n1 2 3 4\n", "intensity filter"),
    ("title\nGRD 2 2 SUR WVL 0.6 SSZ 1 FOO 3\n1 2 3 4\n", "FOO"),
    ("title\nGRD 2 2 SUR WVL -1 SSZ 1\n1 2 3 4\n", "WVL"),
    ("title\nGRD 2 2 SUR WVL 0.6 SSZ 0\n1 2 3 4\n", "SSZ"),
    ("title\nGRD 5000 5000 SUR WVL 0.6 SSZ 1\n1 2 3 4\n", "truncated or corrupt"),
    ("title\nGRD 2 2 SUR WVL 0.6 SSZ 1\n1 2 3 4", "does not end with a line break"),
    ("title\nGRD 2 2 SUR WVL 1e-6 SSZ 1\n1 2 3 4\n", "WVL .nm. .* plausible range"),
    ("title\nGRD 2 2 SUR WVL 0.6 SSZ 1e30\n1 2 3 4\n", "WVL / SSZ"),
    ("title\nGRD 2 2 SUR WVL 0.6 SSZ 1 XSC 1e9\n1 2 3 4\n", "XSC"),
    ("title\nZFR 4 SUR WVL 0.6 SSZ 1\n1\n2\n3\n4\n", "ZFR"),
    ("only a title\n", "lacks GRD"),
    ("", "truncated"),
])
def test_bad_files(tmp_path: Path, text: str, msg: str) -> None:
    p = tmp_path / "bad.int"
    p.write_text(text)
    with pytest.raises(FileFormatError, match=msg):
        read_codev_int(p, dx_mm=0.1)


def test_spacing_is_required(tmp_path: Path) -> None:
    p = tmp_path / "n.int"
    p.write_text("title\nGRD 2 2 SUR WVL 0.6 SSZ 1\n1 2 3 4\n")
    with pytest.raises(FileFormatError, match="no lateral calibration.*dx_mm"):
        m.load(p)
    q = tmp_path / "c.int"
    q.write_text("! metrology: dx_mm=nan dy_mm=0.2\ntitle\nGRD 2 2 SUR WVL 0.6 SSZ 1\n1 2 3 4\n")
    with pytest.raises(FileFormatError, match="not a finite number"):
        m.load(q)
    with pytest.raises(FileFormatError, match="wavelength"):
        write_codev_int(m.HeightMap(np.zeros((3, 3)), 0.1), tmp_path / "w.int")


def test_the_callers_spacing_overrides_the_comment_and_is_recorded(tmp_path: Path) -> None:
    p = tmp_path / "o.int"
    p.write_text("! metrology: dx_mm=0.125 dy_mm=0.2\ntitle\nGRD 2 2 SUR WVL 0.6 SSZ 1\n"
                 "1 2 3 4\n")
    hm = m.load(p)
    assert (hm.dx_mm, hm.dy_mm) == (0.125, 0.2) and hm.meta["lateral_source"] == "file"
    hm = m.load(p, dx_mm=0.5)  # no XSC: square pixels, the policy's default
    assert (hm.dx_mm, hm.dy_mm) == (0.5, 0.5) and hm.meta["lateral_source"] == "caller"
    assert (hm.meta["file_dx_mm"], hm.meta["file_dy_mm"]) == (0.125, 0.2)


def test_grid_size_limit_applies_before_reading(tmp_path: Path) -> None:
    p = tmp_path / "big.int"
    p.write_text("title\nGRD 3 3 SUR WVL 0.6 SSZ 1\n" + "1 " * 9 + "\n")
    assert m.load(p, dx_mm=0.1).shape == (3, 3)
    with m.io.limits(max_pixels=8), pytest.raises(FileFormatError, match="max_pixels"):
        m.load(p, dx_mm=0.1)


def test_zfr_cut_or_non_finite_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "z.int"
    p.write_text("title\nZFR 2 SUR WVL 0.5 SSZ 1\n0.25\n0.125")  # cut inside the last value
    with pytest.raises(FileFormatError, match="line break"):
        read_codev_zfr(p)
    p.write_text("title\nZFR 2 SUR WVL 0.5 SSZ 1\n0.25\nnan\n")
    with pytest.raises(FileFormatError, match="finite"):
        read_codev_zfr(p)


# --------------------------------------------------------------------------- Zernike forms
@pytest.fixture(scope="module")
def fit() -> m.ZernikeFit:
    # known Fringe peak coefficients on a disk of radius 10 mm
    coefs = np.zeros(11)
    coefs[3], coefs[4], coefs[8], coefs[10] = 60.0, -20.0, 15.0, 5.0  # Z4, Z5, Z9, Z11
    hm = m.zernike_surface(coefs, shape=(101, 101), dx_mm=0.2, normalisation="peak",
                           r_norm_mm=10.0)
    return m.fit_zernike(hm, 11, normalisation="rms", r_norm_mm=10.0, centre_mm=(0, 0))


def test_zfr_hand_file_and_round_trip(tmp_path: Path, fit) -> None:
    p = tmp_path / "z.int"
    p.write_text("! comment\nZernike test\nZFR 4 SUR WVL 0.5 SSZ 2\n0\n0.5\n-1\n3\n")
    z = read_codev_zfr(p)
    assert z["coefficients_waves"] == [0.0, 0.25, -0.5, 1.5]
    assert z["coefficients_nm"] == [0.0, 125.0, -250.0, 750.0]
    assert z["scheme"] == "fringe" and z["normalisation"] == "peak"
    q = tmp_path / "fit.int"
    write_codev_zfr(fit, q, wavelength_nm=LAM)
    back = read_codev_zfr(q)
    assert back["indices"] == list(range(1, 12)) and back["wavelength_nm"] == pytest.approx(LAM)
    expected = np.zeros(11)
    expected[[3, 4, 8, 10]] = [60.0, -20.0, 15.0, 5.0]
    np.testing.assert_allclose(back["coefficients_nm"], expected, atol=1e-8)
    assert "R_norm = 10.0 mm" in q.read_text().splitlines()[0]
    g = tmp_path / "g.int"
    g.write_text("title\nGRD 2 2 SUR WVL 0.6 SSZ 1\n1 2 3 4\n")
    with pytest.raises(FileFormatError, match="grid"):
        read_codev_zfr(g)


@pytest.mark.parametrize("convention,scheme,norm,unit", [
    ("zemax-fringe-sag", "fringe", "peak", "mm"),
    ("zemax-standard-sag", "noll", "rms", "mm"),
    ("codev-zfr", "fringe", "peak", "waves"),
])
def test_tables_in_tool_conventions(tmp_path: Path, fit, convention, scheme, norm, unit) -> None:
    t = zernike_table(fit, convention=convention, wavelength_nm=LAM)
    assert (t["scheme"], t["normalisation"], t["unit"]) == (scheme, norm, unit)
    assert t["r_norm_mm"] == pytest.approx(10.0) and t["wavelength_nm"] == LAM
    assert t["centre_mm"] == [0.0, 0.0] and t["normalisation"] == norm
    per = LAM if unit == "waves" else 1e6
    power = next(r for r in t["terms"] if (r["n"], r["m"]) == (2, 0))
    n_factor = 1.0 if norm == "peak" else math.sqrt(3.0)
    assert power["coefficient"] == pytest.approx(60.0 / n_factor / per, rel=1e-9)
    assert [r["index"] for r in t["terms"]] == list(range(1, len(t["terms"]) + 1))
    for writer, ext in ((write_zernike_csv, ".csv"), (write_zernike_json, ".json")):
        p = tmp_path / f"t{ext}"
        writer(fit, p, convention=convention, wavelength_nm=LAM)
        back = read_zernike_table(p)
        assert back["scheme"] == scheme and back["unit"] == unit
        assert back["r_norm_mm"] == pytest.approx(10.0) and back["centre_mm"] == [0.0, 0.0]
        assert back["normalisation"] == norm
        np.testing.assert_allclose([r["coefficient"] for r in back["terms"]],
                                   [r["coefficient"] for r in t["terms"]], rtol=1e-15)
    assert json.loads((tmp_path / "t.json").read_text())["note"].startswith("coefficient in")


def test_table_gaps_and_errors(fit) -> None:
    sub = m.fit_zernike(fit.source, [1, 4, 9], normalisation="peak", r_norm_mm=10.0,
                        centre_mm=(0, 0))
    t = zernike_table(sub, unit="nm")
    assert len(t["terms"]) == 9 and [r["fitted"] for r in t["terms"]].count(True) == 3
    assert t["terms"][1]["coefficient"] == 0.0 and not t["terms"][1]["fitted"]
    with pytest.raises(ConventionError):
        zernike_table(fit, unit="waves")
    with pytest.raises(ConventionError):
        zernike_table(fit, convention="oslo")
    with pytest.raises(ConventionError):
        zernike_table(fit, unit="inch")
