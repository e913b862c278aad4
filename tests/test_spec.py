"""Spec files: schema, strict validation with key paths and lines, derived criteria."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import shutil
import warnings
from pathlib import Path

import pytest

from metrology import SpecError
from metrology.spec import (
    SCHEMA,
    BandCriterion,
    BandSlopeCriterion,
    FormResidualCriterion,
    PowerCriterion,
    PsdLimitCriterion,
    PVrCriterion,
    RequirementCriterion,
    Spec,
    SpecWarning,
    ZernikeOtherTermsCriterion,
    ZernikeTermCriterion,
    load_spec,
    parse_spec,
)
from metrology.spec.zernike_terms import spec_index as _zernike_index
from metrology.spec.zernike_terms import spec_order as _zernike_order

SPECS = Path(__file__).resolve().parent.parent / "datasets" / "specs"
CAF2 = SPECS / "caf2-wafer-inspection.toml"
FLAT = SPECS / "flat-simple.toml"

# A small spec that tiles 1/CA (0.05 /mm) upward: the Fringe Z5..Z37 form covers
# up to n_max / (2 CA) = 12 / 40 = 0.3 /mm, band A 0.1-1, band B 1-10.
MINI = """\
schema = "metrology.spec/1"

[part]
name = "test part"

[preprocessing]
remove = ["piston", "tilt", "power"]

[measurements.m]
instrument = "fizeau"

[measurements.m.aperture]
diameter_mm = 20.0

[form]
measurement = "m"
fit_first_term = 5
fit_last_term = 37
residual_rms_nm_max = 1.0

[[bands]]
name = "A"
measurement = "m"
kind = "areal"
f_lo_per_mm = 0.1
f_hi_per_mm = 1.0
rms_nm_max = 1.0

[[bands]]
name = "B"
measurement = "m"
kind = "profile"
f_lo_per_mm = 1.0
f_hi_per_mm = 10.0
rms_nm_max = 0.5
"""


def _parse(text: str) -> Spec:
    """Parse, failing the test on any SpecWarning (use pytest.warns where one is expected)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", SpecWarning)
        return parse_spec(text, "t.toml")


def _err(text: str) -> SpecError:
    with pytest.raises(SpecError) as ei:
        parse_spec(text, "t.toml")
    return ei.value


def _line_of(text: str, needle: str, nth: int = 0) -> int:
    """1-based line of the nth line containing needle (independent of the loader)."""
    hits = [i + 1 for i, ln in enumerate(text.splitlines()) if needle in ln]
    return hits[nth]


def _sub(text: str, old: str, new: str, count: int = 1) -> str:
    assert text.count(old) >= count, old
    return text.replace(old, new, count)


def _sub_last(text: str, old: str, new: str) -> str:
    head, sep, tail = text.rpartition(old)
    assert sep, old
    return head + new + tail


# --------------------------------------------------------------------------- shipped specs

def test_caf2_spec_loads_and_says_what_the_issue_asks():
    with warnings.catch_warnings():
        warnings.simplefilter("error", SpecWarning)   # it tiles: no gap warning
        s = load_spec(CAF2)
    assert s.schema == SCHEMA and s.warnings == ()
    assert s.part.material == "CaF2" and s.part.test_wavelength_nm == 632.8
    assert s.part.surface_id
    assert list(s.measurements) == ["fizeau", "csi-5x", "csi-50x"]
    fz = s.measurements["fizeau"]
    assert fz.instrument == "fizeau"
    assert fz.aperture.diameter_mm == 54.0 and fz.aperture.r_norm_mm == 27.0
    assert fz.aperture.centre == "data" and fz.aperture.centre_mm is None
    assert fz.preprocessing.remove == ("piston", "tilt")
    assert s.measurements["csi-5x"].min_sites == 3 and s.measurements["csi-50x"].min_sites == 3
    assert fz.min_sites == 1

    c = s.criterion
    assert isinstance(c("fizeau.power"), PowerCriterion)
    assert c("fizeau.power").terms == (4,) and c("fizeau.power").limit == 3.0
    assert c("fizeau.power").orders == ((2, 0),)
    assert isinstance(c("fizeau.form.residual_rms"), FormResidualCriterion)
    assert c("fizeau.form.residual_rms").limit == 0.70
    assert c("fizeau.form.residual_rms").fit_terms == tuple(range(5, 38))
    # piston, tilt (removed), power (toleranced) and Z5..Z37 are fitted together
    assert c("fizeau.form.residual_rms").joint_fit_terms == tuple(range(1, 38))
    assert isinstance(c("fizeau.form.pvr"), PVrCriterion) and c("fizeau.form.pvr").limit == 5.0
    expected_terms = {"astigmatism": ((5, 6), 0.40), "coma": ((7, 8), 0.30),
                      "trefoil": ((10, 11), 0.30), "spherical": ((9,), 0.30)}
    for name, (terms, lim) in expected_terms.items():
        t = c(f"fizeau.form.term.{name}")
        assert isinstance(t, ZernikeTermCriterion)
        assert t.terms == terms and t.limit == lim and t.unit == "nm"
        assert t.scheme == "fringe" and t.normalisation == "rms" and t.r_norm_mm == 27.0
    other = c("fizeau.form.term.other")
    assert isinstance(other, ZernikeOtherTermsCriterion) and other.limit == 0.20
    # every Fringe term Z12..Z37 exactly once, cos/sin pairs grouped (Fringe: adjacent)
    flat = sorted(j for g in other.groups for j in g)
    assert flat == list(range(12, 38))
    assert (12, 13) in other.groups and (16,) in other.groups and (36,) in other.groups

    msf1 = c("fizeau.band.MSF1.rms")
    assert isinstance(msf1, BandCriterion) and msf1.limit == 0.50 and msf1.band.kind == "areal"
    assert msf1.band.f_lo_per_mm == pytest.approx(0.1) and msf1.band.f_hi_per_mm == 1.0
    slope = c("fizeau.band.MSF1.slope")
    assert isinstance(slope, BandSlopeCriterion) and slope.limit == 1.0 and slope.unit == "urad"
    msf2 = c("csi-5x.band.MSF2.rms")
    assert (msf2.band.f_lo_per_mm, msf2.band.f_hi_per_mm, msf2.limit) == (1.0, 20.0, 0.25)
    hsf = c("csi-50x.band.HSF.rms")
    assert (hsf.band.f_lo_per_mm, hsf.band.f_hi_per_mm, hsf.limit) == (20.0, 500.0, 0.20)

    # the PSD line: each measurement is judged on the part inside its own band range
    assert s.psd is not None and s.psd.kind == "profile" and s.psd.sidedness == "one-sided"
    assert s.psd.bins_per_decade == 10 and s.psd.factor_max == 2.0
    for name, (lo, hi, b) in {"fizeau": (0.1, 1.0, 2.0), "csi-5x": (1.0, 20.0, 1.5),
                              "csi-50x": (20.0, 500.0, 1.0)}.items():
        p = c(f"{name}.psd")
        assert isinstance(p, PsdLimitCriterion) and p.limit == 2.0
        assert p.f_ranges_per_mm == ((pytest.approx(lo), hi),)
        assert [seg.b for seg in p.line.segments] == [b]

    # requirements are criteria too, with a lower bound
    vf = c("fizeau.requirements.valid_fraction")
    assert isinstance(vf, RequirementCriterion) and vf.bound == "min"
    assert c("csi-5x.requirements.sites").limit == 3
    assert c("csi-50x.requirements.pixels_across").bound == "min"


def test_caf2_psd_line_values():
    s = load_spec(CAF2)
    line = s.psd
    # 0.028 f^-2 at 0.5 /mm; 0.028 f^-1.5 at 4 /mm; 0.00626 f^-1 at 100 /mm
    assert line.value_nm2_mm(0.5) == pytest.approx(0.028 / 0.25)
    assert line.value_nm2_mm(4.0) == pytest.approx(0.028 / 8.0)
    assert line.value_nm2_mm(100.0) == pytest.approx(0.0000626)
    assert math.isnan(line.value_nm2_mm(0.05)) and math.isnan(line.value_nm2_mm(500.0))
    # the shipped line is continuous at its joints (to the 3 digits of 0.00626)
    assert line.value_nm2_mm(1.0 - 1e-12) == pytest.approx(line.value_nm2_mm(1.0), rel=1e-9)
    assert line.value_nm2_mm(20.0 - 1e-9) == pytest.approx(line.value_nm2_mm(20.0), rel=2e-3)


def test_flat_spec_loads_single_measurement():
    with warnings.catch_warnings():
        warnings.simplefilter("error", SpecWarning)
        s = load_spec(FLAT)
    assert list(s.measurements) == ["flat"] and s.full_band is False
    m = s.measurements["flat"]
    assert m.aperture.diameter_mm == 100.0 and m.aperture.r_norm_mm == 50.0
    assert m.aperture.centre == "given" and m.aperture.centre_mm == (0.0, 0.0)
    assert m.preprocessing.remove == ("piston", "tilt", "power")
    rms = s.criterion("flat.form.residual_rms")
    assert rms.fit_terms == () and rms.joint_fit_terms == (1, 2, 3, 4)
    assert s.criterion("flat.form.residual_pv").statistic == "pv"
    band = s.criterion("flat.band.MSF.rms").band
    assert band.given_as == "period" and band.kind == "profile" and band.direction == "x"
    assert band.f_lo_per_mm == pytest.approx(0.05) and band.f_hi_per_mm == pytest.approx(1.0)
    assert s.psd is None
    assert {c.measurement for c in s.criteria} == {"flat"}


def test_criteria_for_and_lookup():
    s = load_spec(CAF2)
    ids = [c.id for c in s.criteria_for("csi-5x")]
    assert ids == ["csi-5x.requirements.valid_fraction", "csi-5x.requirements.pixels_across",
                   "csi-5x.requirements.sites", "csi-5x.band.MSF2.rms", "csi-5x.psd"]
    assert len({c.id for c in s.criteria}) == len(s.criteria)       # ids are unique
    assert sum(len(s.criteria_for(m)) for m in s.measurements) + len(s.part_criteria) == \
        len(s.criteria)
    with pytest.raises(SpecError, match="did you mean 'csi-5x'"):
        s.criteria_for("csi-5")
    with pytest.raises(SpecError, match="no criterion"):
        s.criterion("fizeau.nothing")


def test_spec_is_immutable():
    s = load_spec(CAF2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.part = None  # type: ignore[misc]
    with pytest.raises(TypeError):
        s.measurements["x"] = None  # type: ignore[index]
    with pytest.raises(TypeError):
        s.measurements["fizeau"].match.meta["instrument"] = "x"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.criteria[0].limit = 99.0  # type: ignore[misc]


def test_to_dict_is_json_and_complete():
    s = load_spec(CAF2)
    d = json.loads(json.dumps(s.to_dict()))
    assert d["schema"] == SCHEMA and d["sha256"] == s.sha256
    assert d["measurements"]["fizeau"]["aperture"]["diameter_mm"] == 54.0
    assert len(d["criteria"]) == len(s.criteria)
    by_id = {c["id"]: c for c in d["criteria"]}
    assert by_id["fizeau.band.MSF1.rms"]["type"] == "band_rms"
    assert by_id["fizeau.band.MSF1.rms"]["band"]["period_max_mm"] == pytest.approx(10.0)
    assert by_id["fizeau.psd"]["type"] == "psd_limit"
    assert by_id["fizeau.power"]["type"] == "power"
    assert d["form"]["joint_fit_terms"] == list(range(1, 38))


def test_match_rules():
    s = load_spec(CAF2)
    assert s.matching_measurements("/data/L3_S2_Fizeau_0001.datx") == ("fizeau",)
    assert s.matching_measurements("x.datx", {"instrument": "ZYGO Verifire FIZEAU"}) == ("fizeau",)
    assert s.matching_measurements("site2_CSI5X.sur") == ("csi-5x",)
    assert s.matching_measurements("site2_csi-50x.sur") == ("csi-50x",)
    assert s.matching_measurements("unknown.dat", {"instrument": "NewView"}) == ()
    m = s.measurements["fizeau"].match
    assert not m.matches("a.dat", None) and not m.matches(None, {"other": "Fizeau"})


# --------------------------------------------------------------------------- rejections

def test_misspelt_key_names_path_line_and_suggestion():
    text = _sub(CAF2.read_text(), "rms_nm_max = 0.25", "rms_nm_mx = 0.25")
    e = _err(text)
    msg = str(e)
    assert "bands[1].rms_nm_mx" in msg and "did you mean 'rms_nm_max'" in msg
    line = _line_of(text, "rms_nm_mx")
    assert f"t.toml:{line}:" in msg
    assert e.path == "bands[1].rms_nm_mx" and e.line == line
    # the follow-on "band needs a limit" is not reported: the misspelling explains it
    assert len(e.problems) == 1


def test_misspelt_section_and_term_names_are_suggested():
    e = _err(_sub(MINI, "[[bands]]", "[[bandz]]"))
    assert "bandz" in str(e) and "did you mean 'bands'" in str(e)
    text = _sub(CAF2.read_text(), "astigmatism = 0.40", "astigmatsm = 0.40")
    e = _err(text)
    assert "form.term_limits_nm.astigmatsm" in str(e) and "'astigmatism'" in str(e)
    assert e.line == _line_of(text, "astigmatsm")
    e = _err(_sub(CAF2.read_text(), 'remove = ["piston", "tilt"]', 'remove = ["piston", "tilts"]'))
    assert "preprocessing.remove[1]" in str(e) and "did you mean 'tilt'" in str(e)


@pytest.mark.parametrize("old,new,path", [
    ("rms_nm_max = 0.5", 'rms_nm_max = "0.5"', "bands[1].rms_nm_max"),
    ("diameter_mm = 20.0", "diameter_mm = true", "measurements.m.aperture.diameter_mm"),
    ('instrument = "fizeau"', "instrument = 3", "measurements.m.instrument"),
    ("fit_first_term = 5", "fit_first_term = 5.0", "form.fit_first_term"),
    ('name = "test part"', 'name = ["a"]', "part.name"),
])
def test_wrong_type_rejected(old, new, path):
    text = _sub(MINI, old, new)
    e = _err(text)
    assert path in str(e) and "expected" in str(e)
    assert e.line == _line_of(text, new)


@pytest.mark.parametrize("old,new,path", [
    ("rms_nm_max = 0.5", "rms_nm_max = -0.5", "bands[1].rms_nm_max"),
    ("residual_rms_nm_max = 1.0", "residual_rms_nm_max = -1.0", "form.residual_rms_nm_max"),
])
def test_negative_limit_rejected(old, new, path):
    text = _sub(MINI, old, new)
    e = _err(text)
    assert path in str(e) and "negative limit" in str(e)
    assert e.line == _line_of(text, new)


def test_zero_and_nonfinite_limits_rejected():
    assert "can never be met" in str(_err(_sub(MINI, "rms_nm_max = 0.5", "rms_nm_max = 0")))
    assert "finite" in str(_err(_sub(MINI, "rms_nm_max = 0.5", "rms_nm_max = inf")))


@pytest.mark.parametrize("lo,hi", [(1.0, 0.1), (1.0, 1.0)])
def test_band_with_f_lo_not_below_f_hi_rejected(lo, hi):
    text = _sub(MINI, "f_lo_per_mm = 0.1\nf_hi_per_mm = 1.0",
                f"f_lo_per_mm = {lo}\nf_hi_per_mm = {hi}")
    e = _err(text)
    assert "bands[0].f_lo_per_mm" in str(e) and "empty band" in str(e)
    assert e.line == _line_of(text, f"f_lo_per_mm = {lo}")


def test_period_range_must_be_longest_first():
    e = _err(_sub(MINI, "f_lo_per_mm = 0.1\nf_hi_per_mm = 1.0", "period_mm = [1.0, 10.0]"))
    assert "bands[0].period_mm" in str(e) and "empty band" in str(e)
    e = _err(_sub(MINI, "f_lo_per_mm = 0.1\n", "period_mm = [10.0, 1.0]\n"))
    assert "not both" in str(e)


def test_undeclared_measurement_rejected():
    text = _sub(MINI, 'name = "B"\nmeasurement = "m"', 'name = "B"\nmeasurement = "mm"')
    e = _err(text)
    assert "bands[1].measurement" in str(e) and "undeclared measurement 'mm'" in str(e)
    assert e.line == _line_of(text, 'measurement = "mm"')
    e = _err(_sub(MINI, '[form]\nmeasurement = "m"', '[form]\nmeasurement = "fizeau"'))
    assert "form.measurement" in str(e) and "undeclared" in str(e)


@pytest.mark.parametrize("old,new,path,want", [
    ("rms_nm_max = 0.5", "rms_max = 0.5", "bands[1].rms_max", "rms_nm_max"),
    ("rms_nm_max = 0.5", "rms = 0.5", "bands[1].rms", "rms_nm_max"),
    ("f_hi_per_mm = 10.0", "f_hi = 10.0", "bands[1].f_hi", "f_hi_per_mm"),
    ("diameter_mm = 20.0", "diameter = 20.0", "measurements.m.aperture.diameter", "diameter_mm"),
])
def test_missing_unit_rejected(old, new, path, want):
    text = _sub(MINI, old, new)
    e = _err(text)
    assert path in str(e) and "without its unit" in str(e) and repr(want) in str(e)
    assert e.line == _line_of(text, new)
    assert len(e.problems) == 1        # no follow-on "missing key" for the same key


def test_missing_unit_in_psd_segment():
    text = _sub(CAF2.read_text(), "a_nm2_mm = 0.028\nb = 1.5", "a = 0.028\nb = 1.5")
    e = _err(text)
    assert "psd.segments[1].a" in str(e) and "'a_nm2_mm'" in str(e)


@pytest.mark.parametrize("schema", ["metrology.spec/2", "metrology.spec", ""])
def test_wrong_schema_rejected(schema):
    text = _sub(MINI, 'schema = "metrology.spec/1"', f'schema = "{schema}"')
    e = _err(text)
    assert "unsupported schema" in str(e) and e.path == "schema" and e.line == 1


def test_missing_schema_rejected():
    e = _err(_sub(MINI, 'schema = "metrology.spec/1"\n', ""))
    assert "missing key 'schema'" in str(e)


def test_invalid_toml_and_unreadable_file(tmp_path):
    with pytest.raises(SpecError, match="not valid TOML.*line 3"):
        parse_spec(_sub(MINI, "[part]", "[part"))
    with pytest.raises(SpecError, match="cannot read spec file"):
        load_spec(tmp_path / "nope.toml")
    bad = tmp_path / "latin1.toml"
    bad.write_bytes('schema = "metrology.spec/1"\n# caf\xe9\n'.encode("latin-1"))
    with pytest.raises(SpecError, match="not UTF-8"):
        load_spec(bad)
    assert issubclass(SpecError, ValueError)


def test_every_problem_is_reported_with_its_line():
    text = _sub(_sub(MINI, "rms_nm_max = 0.5", "rms_nm_mx = 0.5"),
                "residual_rms_nm_max = 1.0", "residual_rms_nm_max = -1.0")
    e = _err(text)
    got = {(p["path"], p["line"]) for p in e.problems}
    assert got == {("bands[1].rms_nm_mx", _line_of(text, "rms_nm_mx")),
                   ("form.residual_rms_nm_max", _line_of(text, "residual_rms_nm_max"))}
    assert "2 problems" in str(e)


def test_line_numbers_inside_inline_tables_and_after_multiline_values():
    text = _sub(MINI, '[measurements.m]\ninstrument = "fizeau"\n',
                '[measurements.m]\ninstrument = "fizeau"\n'
                'description = """\nmulti [line]\nkey = "not a key"\n"""\n'
                'match = { filename = [\n  "*a*",\n  "*b*",\n], metaa = { x = 1 } }\n')
    e = _err(text)
    assert e.path == "measurements.m.match.metaa" and "did you mean 'meta'" in str(e)
    assert e.line == _line_of(text, "metaa")
    text = _sub(MINI, "[part]", '"odd key" = 1\n\n[part]')
    e = _err(text)
    assert e.path == '"odd key"' and e.line == _line_of(text, "odd key")


def test_zernike_term_errors():
    base = CAF2.read_text()
    e = _err(_sub(base, "spherical = 0.30", "Z40 = 0.30"))
    assert "form.term_limits_nm.Z40" in str(e) and "past 37" in str(e)
    e = _err(_sub(base, "spherical = 0.30", "spherical = 0.30\nZ9 = 0.30"))
    assert "same term" in str(e)
    e = _err(_sub(base, "spherical = 0.30", "tilt = 0.30"))
    assert "outside the form fit" in str(e)
    e = _err(_sub(base, "fit_first_term = 5", "fit_first_term = 3"))
    assert "which preprocessing removes" in str(e) and "fringe Z3" in str(e)
    e = _err(_sub(base, "fit_first_term = 5", "fit_first_term = 4"))
    assert "[power] tolerances on its own" in str(e)
    e = _err(_sub(MINI, "fit_last_term = 37\n", ""))
    assert "give both fit_first_term and fit_last_term" in str(e)


def test_zernike_limits_need_an_aperture():
    text = _sub(MINI, "[measurements.m.aperture]\ndiameter_mm = 20.0\n", "")
    e = _err(text)
    assert "form.measurement" in str(e) and "clear aperture" in str(e)


def test_aperture_rules():
    assert "needs centre_mm" in str(_err(_sub(MINI, "diameter_mm = 20.0",
                                              'diameter_mm = 20.0\ncentre = "given"')))
    assert "drop one" in str(_err(_sub(MINI, "diameter_mm = 20.0",
                                       'diameter_mm = 20.0\ncentre = "data"\n'
                                       "centre_mm = [1.0, 2.0]")))
    assert "rho > 1" in str(_err(_sub(MINI, "diameter_mm = 20.0",
                                      "diameter_mm = 20.0\nr_norm_mm = 9.0")))
    s = _parse(_sub(MINI, "diameter_mm = 20.0", "diameter_mm = 20.0\ncentre_mm = [1.5, -2]\n"
                                                "r_norm_mm = 12.5"))
    ap = s.measurements["m"].aperture
    assert ap.centre == "given" and ap.centre_mm == (1.5, -2.0) and ap.r_norm_mm == 12.5
    assert s.form.r_norm_mm == 12.5


# --------------------------------------------------------------------------- conversions

def test_period_frequency_conversion():
    s = _parse(_sub(MINI, "f_lo_per_mm = 0.1\nf_hi_per_mm = 1.0", "period_mm = [10, 1]"))
    b = s.bands[0]
    assert b.given_as == "period"
    assert (b.period_max_mm, b.period_min_mm) == (10.0, 1.0)
    assert b.f_lo_per_mm == pytest.approx(0.1, rel=1e-15) and b.f_hi_per_mm == 1.0
    b2 = s.bands[1]                     # given as frequency 1-10 /mm
    assert b2.given_as == "frequency"
    assert b2.period_max_mm == 1.0 and b2.period_min_mm == pytest.approx(0.1, rel=1e-15)
    # the same band either way gives the same criterion limits and range
    s2 = _parse(MINI)
    assert s2.bands[0].f_lo_per_mm == pytest.approx(b.f_lo_per_mm)
    assert s2.bands[0].period_max_mm == pytest.approx(b.period_max_mm)


def test_profile_band_defaults_to_x_and_areal_refuses_direction():
    s = _parse(MINI)
    assert s.bands[1].kind == "profile" and s.bands[1].direction == "x"
    assert s.bands[0].direction is None
    e = _err(_sub(MINI, 'kind = "areal"', 'kind = "areal"\ndirection = "y"'))
    assert "no direction" in str(e)


def test_zernike_index_tables():
    # Fringe (docs/conventions.md): Z4 power, Z9 (4,0), Z16 (6,0), Z25 (8,0), Z36 (10,0), Z37 (12,0)
    fringe = {1: (0, 0), 2: (1, 1), 3: (1, -1), 4: (2, 0), 5: (2, 2), 6: (2, -2), 7: (3, 1),
              8: (3, -1), 9: (4, 0), 10: (3, 3), 11: (3, -3), 12: (4, 2), 16: (6, 0),
              17: (4, 4), 25: (8, 0), 26: (5, 5), 35: (9, -1), 36: (10, 0), 37: (12, 0)}
    # Noll: even j is the cosine term
    noll = {1: (0, 0), 2: (1, 1), 3: (1, -1), 4: (2, 0), 5: (2, -2), 6: (2, 2), 7: (3, -1),
            8: (3, 1), 9: (3, -3), 10: (3, 3), 11: (4, 0), 12: (4, 2), 13: (4, -2), 22: (6, 0)}
    # ANSI: j = (n(n+2)+m)/2 from 0
    ansi = {0: (0, 0), 1: (1, -1), 2: (1, 1), 3: (2, -2), 4: (2, 0), 5: (2, 2), 12: (4, 0),
            24: (6, 0)}
    for scheme, table in (("fringe", fringe), ("noll", noll), ("ansi", ansi)):
        for j, nm in table.items():
            assert _zernike_order(scheme, j) == nm, (scheme, j)
            assert _zernike_index(scheme, *nm) == j, (scheme, nm)
    assert sorted(_zernike_order("fringe", j) for j in range(1, 38)) == sorted(
        set(_zernike_order("fringe", j) for j in range(1, 38)))
    for scheme, first in (("noll", 1), ("ansi", 0)):
        for j in range(first, 200):
            assert _zernike_index(scheme, *_zernike_order(scheme, j)) == j
    with pytest.raises(SpecError, match="past 37"):
        _zernike_order("fringe", 38)


def test_other_schemes_in_form():
    text = _sub(MINI, 'measurement = "m"\nfit_first_term = 5\nfit_last_term = 37\n'
                "residual_rms_nm_max = 1.0\n",
                'measurement = "m"\nscheme = "noll"\nfit_first_term = 5\nfit_last_term = 15\n'
                "residual_rms_nm_max = 1.0\n"
                "[form.term_limits_nm]\nastigmatism = 0.4\nZ11 = 0.3\nother = 0.2\n")
    s = _parse(text)
    astig = s.criterion("m.form.term.astigmatism")
    # Noll 6 = (2, 2) cosine, Noll 5 = (2, -2) sine; terms[i] goes with orders[i], cos first
    assert astig.terms == (6, 5) and astig.orders == ((2, 2), (2, -2))
    assert s.criterion("m.form.term.Z11").orders == ((4, 0),)
    groups = s.criterion("m.form.term.other").groups
    assert sorted(j for g in groups for j in g) == [7, 8, 9, 10, 12, 13, 14, 15]
    assert (7, 8) in groups and (9, 10) in groups
    assert s.form.joint_fit_terms == tuple(range(1, 16))       # piston, tilt, power removed


# --------------------------------------------------------------------------- warnings

def test_gap_between_bands_warns():
    text = _sub(MINI, "f_lo_per_mm = 1.0\nf_hi_per_mm = 10.0",
                "f_lo_per_mm = 2.0\nf_hi_per_mm = 10.0")
    with pytest.warns(SpecWarning, match=r"no band covers 1-2 /mm") as rec:
        s = parse_spec(text, "t.toml")
    assert len(s.warnings) == 1 and len(rec) == 1
    assert "no band covers 1-2 /mm" in s.warnings[0]


def test_gap_below_first_band_warns_from_one_over_ca():
    # without the form, nothing covers 1/CA = 0.05 to 0.1 /mm
    text = _sub(MINI, "fit_first_term = 5\nfit_last_term = 37\n", "")
    with pytest.warns(SpecWarning, match=r"no band covers 0\.05-0\.1 /mm"):
        parse_spec(text)


def test_tiled_spec_does_not_warn_and_full_band_false_silences():
    s = _parse(MINI)                   # fails on any SpecWarning
    assert s.warnings == ()
    gap = _sub(MINI, "f_lo_per_mm = 1.0\nf_hi_per_mm = 10.0",
               "f_lo_per_mm = 2.0\nf_hi_per_mm = 10.0")
    s = _parse("full_band = false\n" + gap)
    assert s.warnings == () and s.full_band is False


def test_sampling_warnings():
    text = _sub(MINI, "diameter_mm = 20.0",
                "diameter_mm = 20.0\n[measurements.m.requirements]\nmin_pixels_across = 100")
    # 100 px over 20 mm: Nyquist 2.5 /mm < 10 /mm (band B)
    with pytest.warns(SpecWarning, match="Nyquist frequency of 2.5 /mm"):
        parse_spec(text)


def test_psd_segment_overlap_is_an_error_and_gap_a_warning():
    base = CAF2.read_text()
    e = _err(_sub_last(base, "f_lo_per_mm = 20.0\nf_hi_per_mm = 500.0",
                       "f_lo_per_mm = 10.0\nf_hi_per_mm = 500.0"))
    assert "psd.segments[2]" in str(e) and "overlaps" in str(e)
    with pytest.warns(SpecWarning, match="no segment on 20-30 /mm"):
        parse_spec(_sub_last(base, "f_lo_per_mm = 20.0\nf_hi_per_mm = 500.0",
                             "f_lo_per_mm = 30.0\nf_hi_per_mm = 500.0"))


# --------------------------------------------------------------------------- hash

def test_hash_is_sha256_of_file_bytes_and_changes_with_the_file(tmp_path):
    f = tmp_path / "spec.toml"
    shutil.copyfile(CAF2, f)
    s1 = load_spec(f)
    assert s1.sha256 == hashlib.sha256(CAF2.read_bytes()).hexdigest()
    assert load_spec(f).sha256 == s1.sha256
    f.write_bytes(f.read_bytes() + b"\n# a comment changes the file, not the spec\n")
    s2 = load_spec(f)
    assert s2.sha256 != s1.sha256 and s2.criteria == s1.criteria
    assert parse_spec(MINI).sha256 == hashlib.sha256(MINI.encode()).hexdigest()


def test_loading_does_not_modify_the_file(tmp_path):
    f = tmp_path / "spec.toml"
    shutil.copyfile(CAF2, f)
    before = f.read_bytes()
    load_spec(f)
    assert f.read_bytes() == before


# --------------------------------------------------------------------------- criterion semantics

def test_within_and_margin():
    s = load_spec(CAF2)
    rms = s.criterion("fizeau.form.residual_rms")          # max 0.70 nm
    assert rms.within(0.70) and not rms.within(0.7000001) and not rms.within(float("nan"))
    assert rms.margin(0.5) == pytest.approx(0.2)
    vf = s.criterion("fizeau.requirements.valid_fraction")  # min 0.60
    assert vf.within(0.61) and not vf.within(0.59)
    assert vf.margin(0.61) == pytest.approx(0.01)


def test_terms_left_below_the_form_fit_warn():
    text = _sub(MINI, 'remove = ["piston", "tilt", "power"]', 'remove = ["piston"]')
    with pytest.warns(SpecWarning, match="stay in the residual: fringe Z2, fringe Z3, fringe Z4"):
        s = parse_spec(text)
    assert s.form.joint_fit_terms == (1, *range(5, 38))


@pytest.mark.parametrize("path", [CAF2, FLAT], ids=lambda p: p.name)
def test_locator_finds_every_key_of_the_shipped_specs(path):
    import tomllib

    from metrology.spec.locate import locate

    text = path.read_text()
    lines = text.splitlines()
    found = locate(text)

    def leaves(obj, prefix=()):
        if isinstance(obj, dict):
            for k, v in obj.items():
                yield from leaves(v, (*prefix, k))
        elif isinstance(obj, list) and obj and all(isinstance(x, dict) for x in obj):
            for i, v in enumerate(obj):
                yield from leaves(v, (*prefix, i))
        else:
            yield prefix

    n = 0
    for p in leaves(tomllib.loads(text)):
        assert p in found, p
        key = p[-1].split(".")[-1]
        assert key in lines[found[p] - 1].split("#")[0], (p, found[p])
        n += 1
    assert n > 20


# --------------------------------------------------------------------------- vocabulary

def test_deprecated_spellings_are_accepted_with_a_warning():
    """One spelling per concept (docs/conventions.md, Vocabulary): centre, centre_mm,
    normalisation. The other spelling is read as the same key, with a SpecWarning that
    names the key as written and its line."""
    text = _sub(MINI, "diameter_mm = 20.0", 'diameter_mm = 20.0\ncenter_mm = [1.5, -2.0]')
    text = _sub(text, '[form]\nmeasurement = "m"', '[form]\nmeasurement = "m"\n'
                                                  'normalization = "peak"')
    with pytest.warns(SpecWarning) as rec:
        s = parse_spec(text, "t.toml")
    said = [str(w.message) for w in rec]
    line = _line_of(text, "center_mm")
    assert any(f"t.toml:{line}: measurements.m.aperture.center_mm: 'center_mm' is a "
               "deprecated spelling; write 'centre_mm'" in m for m in said), said
    assert any("form.normalization" in m and "'normalisation'" in m for m in said), said
    ap = s.measurements["m"].aperture
    assert ap.centre == "given" and ap.centre_mm == (1.5, -2.0)
    assert s.form.normalisation == "peak"
    canonical = _sub(_sub(text, "center_mm", "centre_mm"), "normalization", "normalisation")
    assert _parse(canonical).criteria == s.criteria


def test_both_spellings_at_once_is_one_error():
    text = _sub(MINI, "diameter_mm = 20.0",
                'diameter_mm = 20.0\ncentre = "data"\ncenter = "data"')
    e = _err(text)
    assert len(e.problems) == 1 and e.path == "measurements.m.aperture.center"
    assert "also given" in str(e) and e.line == _line_of(text, 'center = "data"')


# --------------------------------------------------------------------------- hostile values

@pytest.mark.parametrize("nest", ["x = {a}{b}", "{k} = 1"])
def test_deep_nesting_is_a_spec_error_not_a_traceback(nest):
    deep = 1000
    body = nest.format(a="[" * deep, b="]" * deep, k=".".join(["a"] * deep))
    e = _err('schema = "metrology.spec/1"\n' + body + "\n")
    assert "nest" in str(e)
    e = _err('schema = "metrology.spec/1"\nx = ' + "[" * 20 + "]" * 20 + "\n")
    assert e.path.startswith("x[0][0]") and "16 levels" in str(e)


@pytest.mark.parametrize("old,new,path,word", [
    ("b = 1.5", "b = 1e308", "psd.segments[1].b", "<= 10"),           # line 0 everywhere
    ("a_nm2_mm = 0.028\nb = 1.5", "a_nm2_mm = 1e-200\nb = 1.5", "psd.segments[1].b",
     "not a PSD limit"),
    ("bins_per_decade = 10", "bins_per_decade = 1000000000", "psd.bins_per_decade", "<= 1000"),
    ("factor_max = 2.0", "factor_max = 1e300", "psd.factor_max", "<= 1e+06"),
    ("coef_nm_max = 3.0", "coef_nm_max = 1e308", "power.coef_nm_max", "plausible"),
    ("diameter_mm = 54.0", "diameter_mm = 1e300", "measurements.fizeau.aperture.diameter_mm",
     "<= 100000"),
    ("f_hi_per_mm = 500.0", "f_hi_per_mm = 1e300", "bands[2].f_hi_per_mm", "plausible"),
    ("spherical = 0.30", "Z99999999999999 = 0.30", "form.term_limits_nm.Z99999999999999",
     "radial order 40"),
    ("min_sites = 3", "min_sites = 1000000000000", "measurements.csi-5x.requirements.min_sites",
     "<="),
])
def test_nonsense_values_are_spec_errors_with_their_key_path(old, new, path, word):
    """Values a parser accepts but no lens spec means (an infinite PSD line that always
    passes, a billion bins per decade, a term index that takes hours to look up) are
    refused, naming the key."""
    text = _sub(CAF2.read_text(), old, new)
    e = _err(text)
    assert any(p["path"] == path and word in p["message"] for p in e.problems), e.problems
