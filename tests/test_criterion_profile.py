"""Profiles in a spec: ``profile_roughness`` and ``profile_band`` criteria, the pipeline's
profile branch, and what happens when maps and profiles meet the wrong criteria.

Expected values come from closed forms of sampled sines (a sine of amplitude A: Ra =
2A/pi, Rq = A/sqrt(2), Rz = Rt = 2A over whole periods; band RMS A/sqrt(2) and RMS
slope 2 pi f A/sqrt(2) when its frequency is in the band) or from a plain NumPy
computation written here, never from the code's own output.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import metrology as mt
from metrology import SpecError, reports
from metrology.check import check
from metrology.cli import main
from metrology.criteria import registry

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "datasets" / "specs" / "profile-roughness.toml"

SPEC = """
schema = "metrology.spec/1"
full_band = false
[part]
name = "profile test"
[measurements.stylus]
instrument = "profilometer"
match.filename = ["*trace*"]
[measurements.flat]
instrument = "csi"
match.filename = ["*map*"]
{extra}
"""

ROUGH = """
[profile_roughness]
measurement = "{meas}"
ra_nm_max = {ra}
rq_nm_max = 100.0
rz_nm_max = 100.0
rt_nm_max = 100.0
"""


def _sine(amp: float = 10.0, period: float = 0.1, n: int = 5000, dx: float = 0.001,
          tilt: float = 0.0) -> mt.Profile:
    x = np.arange(n) * dx
    return mt.Profile(amp * np.sin(2 * np.pi * x / period) + tilt * x, dx,
                      {"instrument": "stylus"})


def _run(tmp_path: Path, extra: str, files: dict[str, object]):
    spec = mt.parse_spec(SPEC.format(extra=extra), "t.toml")
    paths = [mt.save(obj, tmp_path / name) for name, obj in files.items()]
    return check(spec, paths)


def _crit(rep, cid: str):
    return next(c for c in rep.parts[0].criteria if c.id == cid)


def test_the_types_are_registered_from_their_modules() -> None:
    reg = registry()
    assert reg["profile_roughness"].__module__ == "metrology.criteria.profile_roughness"
    assert reg["profile_band"].__module__ == "metrology.criteria.profile_band"
    assert reg["profile_roughness"].DATA == ("profile",) == reg["profile_band"].DATA
    assert "profile" in reg["requirement"].DATA and reg["sa"].DATA == ("map",)


def test_roughness_of_a_sine_against_closed_forms(tmp_path: Path) -> None:
    # 50 whole periods, 5 sections of 10 periods; a tilt the least-squares line removes
    amp = 10.0
    rep = _run(tmp_path, ROUGH.format(meas="stylus", ra=7.0),
               {"a_trace.csv": _sine(amp, tilt=200.0)})
    ra, rq = _crit(rep, "stylus.roughness.ra"), _crit(rep, "stylus.roughness.rq")
    rz, rt = _crit(rep, "stylus.roughness.rz"), _crit(rep, "stylus.roughness.rt")
    assert ra.value == pytest.approx(2 * amp / math.pi, rel=2e-3)  # 6.366 < 7: pass
    assert rq.value == pytest.approx(amp / math.sqrt(2), rel=2e-3)
    # the least-squares line of a sine is not flat (the sine correlates with x), so Rz and
    # Rt are checked against the same definition evaluated here with NumPy
    p = _sine(amp, tilt=200.0)
    x = p.x_mm
    v = p.z_nm - np.polyval(np.polyfit(x, p.z_nm, 1), x)
    sec = v.reshape(5, 1000)
    assert rz.value == pytest.approx(float(np.mean(sec.max(1) - sec.min(1))), rel=1e-9)
    assert rt.value == pytest.approx(float(np.ptp(v)), rel=1e-9)
    assert rz.value == pytest.approx(2 * amp, rel=1e-2)
    assert ra.verdict == "pass" and ra.unit == "nm" and ra.type == "profile_roughness"
    ev = ra.evidence
    assert ev.parameter == "Pa" and ev.lambda_c_mm is None and ev.sections == 5
    assert ev.evaluation_length_mm == pytest.approx(5.0)
    assert "no lambda_c filter" in ra.convention["filter"]
    assert ra.convention["parameter"] == "Pa" and "Pa" in ra.description
    rep = _run(tmp_path, ROUGH.format(meas="stylus", ra=6.0), {"a_trace.csv": _sine(amp)})
    assert _crit(rep, "stylus.roughness.ra").verdict == "fail"


def test_roughness_with_lambda_c_is_named_r_and_needs_a_long_enough_trace(tmp_path) -> None:
    extra = ROUGH.format(meas="stylus", ra=100.0) + "lambda_c_mm = 0.8\n"
    rep = _run(tmp_path, extra, {"a_trace.csv": _sine(10.0, 0.08, n=6000)})  # 6 mm
    ra = _crit(rep, "stylus.roughness.ra")
    assert ra.verdict == "pass" and ra.evidence.parameter == "Ra"
    assert ra.evidence.evaluation_length_mm == pytest.approx(4.0)
    # transmission of a 0.08 mm period under lc = 0.8 mm: 1 - exp(-ln2 * 100) = 1
    assert ra.value == pytest.approx(20 / math.pi, rel=5e-3)
    short = _run(tmp_path, extra, {"a_trace.csv": _sine(10.0, 0.08, n=4000)})  # 4 mm
    c = _crit(short, "stylus.roughness.ra")
    assert c.verdict == "not-measurable" and "too short" in c.reason and c.value is None


def test_profile_band_rms_and_slope_of_a_sine(tmp_path: Path) -> None:
    amp, f0 = 4.0, 50.0  # 50 /mm, inside 20-200 /mm
    extra = """
[[profile_bands]]
name = "b"
measurement = "stylus"
f_lo_per_mm = 20.0
f_hi_per_mm = 200.0
rms_nm_max = 3.0
slope_urad_max = 1e4
[[profile_bands]]
name = "beyond"
measurement = "stylus"
f_lo_per_mm = 200.0
f_hi_per_mm = 2000.0
rms_nm_max = 1.0
"""
    rep = _run(tmp_path, extra, {"a_trace.csv": _sine(amp, 1 / f0, n=4000, dx=0.001)})
    rms, slope = _crit(rep, "stylus.profile_band.b.rms"), _crit(rep, "stylus.profile_band.b.slope")
    assert rms.value == pytest.approx(amp / math.sqrt(2), rel=1e-2) and rms.verdict == "pass"
    # 1 nm/mm = 1 urad
    assert slope.value == pytest.approx(2 * math.pi * f0 * amp / math.sqrt(2), rel=1e-2)
    assert rms.evidence.fully_covered and rms.evidence.f_resolved_per_mm[1] == pytest.approx(500)
    nm = _crit(rep, "stylus.profile_band.beyond.rms")  # Nyquist 500 /mm
    assert nm.verdict == "not-measurable" and nm.value is None and "Nyquist" in nm.reason


def test_maps_and_profiles_meet_the_wrong_criteria(tmp_path: Path) -> None:
    """A profile criterion on a map and an areal one on a profile are not-measurable, with
    the reason; nothing passes on data it did not see."""
    extra = ROUGH.format(meas="flat", ra=100.0) + """
[sa]
measurement = "stylus"
sa_nm_max = 100.0
"""
    hm = mt.HeightMap(np.zeros((20, 20)), 0.01)
    rep = _run(tmp_path, extra, {"a_trace.csv": _sine(), "a_map.x3p": hm})
    sa = _crit(rep, "stylus.sa")
    assert sa.verdict == "not-measurable" and "needs an areal height map" in sa.reason
    ra = _crit(rep, "flat.roughness.ra")
    assert ra.verdict == "not-measurable" and "judges a profile" in ra.reason
    assert rep.parts[0].verdict == "not-measurable"


def test_an_areal_measurement_refuses_a_profile(tmp_path: Path, capsys) -> None:
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC.format(extra="""
[measurements.stylus.aperture]
diameter_mm = 2.0
[sa]
measurement = "stylus"
sa_nm_max = 1.0
"""), encoding="utf-8")
    f = mt.save(_sine(), tmp_path / "a_trace.csv")
    with pytest.raises(SpecError, match="is a profile.*areal.*clear aperture"):
        check(mt.load_spec(spec), [f])
    assert main(["check", "--spec", str(spec), str(f)]) == 2
    err = capsys.readouterr().err
    assert "profile" in err and "Traceback" not in err
    spec.write_text(SPEC.format(extra="""
[measurements.stylus.preprocessing]
remove = ["piston", "tilt", "power"]
""" + ROUGH.format(meas="stylus", ra=100.0)), encoding="utf-8")
    with pytest.raises(SpecError, match="power"):
        check(mt.load_spec(spec), [f])


def test_requirements_count_points_on_a_trace(tmp_path: Path) -> None:
    extra = """
[measurements.stylus.requirements]
min_valid_fraction = 0.9
min_pixels_across = 4000
""" + ROUGH.format(meas="stylus", ra=100.0)
    p = _sine(n=5000)
    z = p.z_nm.copy()
    z[:1000] = np.nan  # 80 % valid
    rep = _run(tmp_path, extra, {"a_trace.csv": p.replace(z)})
    vf = _crit(rep, "stylus.requirements.valid_fraction")
    assert vf.verdict == "fail" and vf.value == pytest.approx(0.8)
    assert vf.sites[0].evidence.definition == "valid points / points of the trace"
    px = _crit(rep, "stylus.requirements.pixels_across")
    assert px.value == 5000 and px.sites[0].evidence.definition == "points along the trace"


@pytest.mark.parametrize(("text", "where", "what"), [
    ("ra_nm_mx = 1.0", "profile_roughness.ra_nm_mx", "ra_nm_max"),
    ("ra = 1.0", "profile_roughness.ra", "unit"),
    ("ra_nm_max = -1.0", "profile_roughness.ra_nm_max", "negative"),
    ("lambda_c_mm = 0.8\nlambda_s_mm = 0.8\nra_nm_max = 1.0", "lambda_s_mm", "below"),
    ("sections = 0\nra_nm_max = 1.0", "profile_roughness.sections", ">= 1"),
    ("lambda_c_mm = 0.8", "profile_roughness.ra_nm_max", "at least one"),
])
def test_spec_errors_name_the_key(text: str, where: str, what: str) -> None:
    doc = SPEC.format(extra=f'[profile_roughness]\nmeasurement = "stylus"\n{text}\n')
    with pytest.raises(SpecError) as ei:
        mt.parse_spec(doc, "t.toml")
    assert where in str(ei.value) and what in str(ei.value)


def test_profile_band_spec_errors() -> None:
    base = '[[profile_bands]]\nname = "{n}"\nmeasurement = "stylus"\n{rng}\n{lim}\n'
    ok_rng = "period_mm = [1.0, 0.1]"
    for text, what in [
        (base.format(n="a b", rng=ok_rng, lim="rms_nm_max = 1.0"), "letters"),
        (base.format(n="a", rng="period_mm = [0.1, 1.0]", lim="rms_nm_max = 1.0"), "longest"),
        (base.format(n="a", rng=ok_rng, lim=""), "rms_nm_max and/or slope_urad_max"),
        (base.format(n="a", rng=ok_rng, lim="rms_nm_max = 1.0") * 2, "used twice"),
    ]:
        with pytest.raises(SpecError, match=what):
            mt.parse_spec(SPEC.format(extra=text), "t.toml")


def _dektak_like(path: Path, z_um: np.ndarray, dx_um: float) -> Path:
    """A file laid out like a Bruker Dektak CSV export (st_dektak-1.csv)."""
    n = z_um.size
    rows = "\r\n".join(f"{i * dx_um:.1f},{v:.5f},," for i, v in enumerate(z_um))
    path.write_bytes((
        "Scan Parameters\r\nScan Type,Standard Scan\r\nStylus,Radius: 2.5 \xb5m\r\n"
        f"Length,{n * dx_um:.1f} um\r\nResolution,{dx_um:.3f} um/sample\r\n\r\n"
        "Analytical Results\r\nFunction,Result\r\nRa,0.00525 um\r\n\r\n"
        f"Scan Data\r\nLateral um,Raw Micrometer,\r\n{rows}\r\n").encode("latin-1"))
    return path


def test_the_shipped_profile_spec_on_dektak_like_traces(tmp_path: Path) -> None:
    """datasets/specs/profile-roughness.toml: lambda_c 0.8 mm, lambda_s 2.5 um. A 6 mm
    trace of 0.5 um samples with 1.2 nm of roughness (period 20 um) on 20 nm of waviness
    (period 8 mm: 0.7 % of it passes lambda_c) and a tilt passes; the same with 4 nm
    roughness (Ra 2.5 nm, Rq 2.8 nm) fails Ra and Rq."""
    spec = mt.load_spec(SHIPPED)
    x_um = np.arange(12000) * 0.5
    wav = 0.02 * np.sin(2 * np.pi * x_um / 8000.0) + 1e-4 * x_um  # um
    ok = _dektak_like(tmp_path / "ok.csv", wav + 1.2e-3 * np.sin(2 * np.pi * x_um / 20.0), 0.5)
    bad = _dektak_like(tmp_path / "bad.csv", wav + 4e-3 * np.sin(2 * np.pi * x_um / 20.0), 0.5)
    assert mt.load(ok).meta["instrument"] == "Bruker Dektak stylus profiler"
    rep = check(spec, [ok])
    verdicts = {c.id: c.verdict for c in rep.parts[0].criteria}
    assert set(verdicts.values()) == {"pass"}, verdicts
    ra = _crit(rep, "stylus.roughness.ra")
    # period 20 um: lambda_s = 2.5 um keeps exp(-ln2 (2.5/20)^2) = 98.9 %, lambda_c all
    t = math.exp(-math.log(2) * (2.5 / 20) ** 2)
    assert ra.value == pytest.approx(2 * 1.2 * t / math.pi, rel=0.02)  # 0.756 nm; 0.01 nm
    # printing resolution is below 1 %
    assert ra.evidence.parameter == "Ra" and ra.evidence.lambda_s_mm == 0.0025
    rep = check(spec, [bad])
    verdicts = {c.id: c.verdict for c in rep.parts[0].criteria}
    assert verdicts["stylus.roughness.ra"] == verdicts["stylus.roughness.rq"] == "fail"
    assert verdicts["stylus.requirements.valid_fraction"] == "pass"


def test_json_report_of_a_profile_check_meets_the_schema(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from metrology import reports

    rep = _run(tmp_path, ROUGH.format(meas="stylus", ra=7.0), {"a_trace.csv": _sine()})
    d = json.loads(reports.to_json_text(rep))
    jsonschema.Draft202012Validator(reports.report_schema()).validate(d)
    f = d["parts"][0]["files"][0]
    assert f["shape"] == [1, 5000] and f["profile"]["points"] == 5000
    assert f["aperture"] is None and f["analysis"]["psd"] is None


def test_a_pool_batch_and_resume_keep_the_profile_description(tmp_path: Path, capsys) -> None:
    """A batch result holds no trace (PartResult.slim), but its JSON report still says what
    the profile was (points, spacing, length, reference line), as checking it alone does,
    also when the part is taken from the results log (--resume)."""
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC.format(extra=ROUGH.format(meas="stylus", ra=7.0)), encoding="utf-8")
    for k in range(2):
        (tmp_path / f"p{k}").mkdir()
        mt.save(_sine(), tmp_path / f"p{k}" / "a_trace.csv")
    want = {"points": 5000, "dx_mm": 0.001, "length_mm": pytest.approx(5.0),
            "reference_line": "least-squares line"}
    alone = json.loads(reports.to_json_text(check(mt.load_spec(spec), [tmp_path / "p0"],
                                                  only=["stylus"])))
    common = ["check", "--spec", str(spec), str(tmp_path / "p0"), str(tmp_path / "p1"),
              "--only", "stylus", "--workers", "2", "--quiet", "--results",
              str(tmp_path / "r.jsonl")]
    for k, extra in enumerate(([], ["--resume"])):
        assert main([*common, *extra, "--json", str(tmp_path / f"{k}.json")]) == 0
        d = json.loads((tmp_path / f"{k}.json").read_text())
        for part in d["parts"]:
            (f,) = part["files"]
            assert {q: f["profile"][q] for q in want} == want
            assert f["profile"] == alone["parts"][0]["files"][0]["profile"]
    assert "2 part(s) already in" in capsys.readouterr().err


def test_cli_info_analyze_and_formats(tmp_path: Path, capsys) -> None:
    f = mt.save(_sine(10.0, 1 / 30), tmp_path / "a_trace.csv")  # 30 /mm, 150 periods
    assert main(["info", str(f)]) == 0
    out = capsys.readouterr().out
    assert "5000 points along x" in out and "dx = 0.001 mm" in out
    j = tmp_path / "a.json"
    assert main(["analyze", str(f), "--json", str(j)]) == 0
    out = capsys.readouterr().out
    d = json.loads(j.read_text())
    assert d["kind"] == "profile" and d["roughness"]["ra_nm"] == pytest.approx(20 / math.pi,
                                                                               rel=2e-3)
    assert f"Pa {d['roughness']['ra_nm']:.4g} nm" in out
    assert "Height parameters (ISO 21920-2)" in out and "Pa, Pq" in out
    band = next(b for b in d["psd"]["bands"] if b["f_lo_per_mm"] == 10.0)  # holds 30 /mm
    assert band["coverage"] == "full" and band["rms_nm"] == pytest.approx(10 / math.sqrt(2),
                                                                          rel=1e-2)
    assert main(["formats"]) == 0
    out = capsys.readouterr().out
    for r in mt.io.formats():
        assert r["name"] in out
    assert ".mnt" in out and "export" in out and "Dektak" in out
