"""Full band in specs and checks: composite criteria, ISO 16610 band filters, ISO 10110-8
limit lines, scatter criteria, their spec keys and their reports.

Truths are independent of the code under test: closed forms of power laws and lines, the
ISO 16610 transmission of a sinusoid at the cut-off (0.5 in amplitude), the known surface
of :mod:`metrology.synth_composite` (its PSD model) and the scalar scatter formula. The
shipped parts are tested in ``tests/test_datasets.py``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import metrology as mt
from metrology.check import FAIL, NOT_MEASURABLE, PASS, check, check_part
from metrology.errors import SpecError
from metrology.synth_composite import Instrument, KnownSurface, measure_part
from metrology.synth_psd import PowerLaw

REPO = Path(__file__).resolve().parent.parent

HEAD = """schema = "metrology.spec/1"
[part]
name = "test"
material = "CaF2"
"""


def _spec(body: str, head: str = HEAD):
    return mt.parse_spec(head + body)


def _problems(body: str, head: str = HEAD) -> list[dict]:
    with pytest.raises(SpecError) as ei:
        _spec(body, head)
    return ei.value.problems


ONE = """
[measurements.m]
instrument = "csi"
match.filename = ["*"]
"""


# ----------------------------------------------------------------------------- spec keys

@pytest.mark.parametrize("body,path", [
    (ONE + '[sa]\nmeasurement = "composite"\nsa_nm_max = 1.0\n', "sa.measurement"),
    (ONE.replace("[measurements.m]", "[measurements.composite]"), "measurements.composite"),
    (ONE + '[[bands]]\nname = "b"\nmeasurement = "m"\nkind = "areal"\nf_lo_per_mm = 1.0\n'
     'f_hi_per_mm = 2.0\nfilter = "box"\nrms_nm_max = 1.0\n', "bands[0].filter"),
    (ONE + "itf_values = [1.0, 0.5]\n", "measurements.m.itf_f_per_mm"),
    (ONE + "itf_f_per_mm = [0.0, 10.0]\nitf_values = [1.0, 1.5]\n", "measurements.m.itf_values"),
    (ONE + "itf_f_per_mm = [0.0, 10.0]\nitf_values = [1.0, 0.5]\nitf_max_psd_correction = 0.5\n",
     "measurements.m.itf_max_psd_correction"),
    (ONE + "itf_cutoff = 5.0\n", "measurements.m.itf_cutoff"),
    (ONE + "[composite]\noverlap_factor = 1.0\n", "composite.overlap_factor"),
    (ONE + '[composite]\nmeasurements = ["n"]\n', "composite.measurements[0]"),
    (ONE + '[composite]\ncombine = "average"\n', "composite.combine"),
    (ONE + '[psd]\nkind = "areal"\n[[psd.segments]]\na_nm2_mm = 1.0\nb = 3.0\n'
     "f_lo_per_mm = 1.0\nf_hi_per_mm = 10.0\n", "psd.segments[0].a_nm2_mm"),
    (ONE + '[psd]\nkind = "profile"\n[[psd.segments]]\na_nm2_mm2 = 1.0\nb = 2.0\n'
     "f_lo_per_mm = 1.0\nf_hi_per_mm = 10.0\n", "psd.segments[0].a_nm2_mm2"),
    (ONE + '[psd]\nmeasurement = "m"\nkind = "profile"\n[[psd.segments]]\na_nm2_mm = 1.0\n'
     "b = 2.0\nf_lo_per_mm = 1.0\nf_hi_per_mm = 10.0\n", "psd.measurement"),
    (ONE + '[[scatter_tis]]\nname = "t"\nmeasurement = "composite"\nwavelength_nm = 200.0\n'
     'mode = "transmission"\ncollection_deg = [2.0, 7.0]\ntis_ppm_max = 1.0\n',
     "scatter_tis[0].wavelength_nm"),
    (ONE + '[[scatter_tis]]\nname = "t"\nmeasurement = "composite"\nwavelength_nm = 266.0\n'
     'mode = "transmission"\ncollection_deg = [7.0, 2.0]\ntis_ppm_max = 1.0\n',
     "scatter_tis[0].collection_deg"),
    (ONE + '[[scatter_brdf]]\nname = "b"\nmeasurement = "m"\nwavelength_nm = 266.0\n'
     'mode = "reflection"\nangle_deg = [7.0, 2.0]\nmax_per_sr = [1e-4, 1e-5]\n',
     "scatter_brdf[0].angle_deg"),
    (ONE + '[[scatter_brdf]]\nname = "b"\nmeasurement = "n"\nwavelength_nm = 266.0\n'
     'mode = "reflection"\nangle_deg = [2.0, 7.0]\nmax_per_sr = [1e-4, 1e-5]\n',
     "scatter_brdf[0].measurement"),
])
def test_spec_errors_name_the_key(body, path):
    assert path in [p["path"] for p in _problems(body)]


def test_scatter_needs_a_material_with_a_dispersion_formula():
    body = ONE + ('[[scatter_tis]]\nname = "t"\nmeasurement = "m"\nwavelength_nm = 266.0\n'
                  'mode = "transmission"\ncollection_deg = [2.0, 7.0]\ntis_ppm_max = 1.0\n')
    probs = _problems(body, HEAD.replace('material = "CaF2"\n', ""))
    assert any("[part] material" in p["message"] for p in probs)
    probs = _problems(body, HEAD.replace('"CaF2"', '"BK7"'))
    assert any("BK7" in p["message"] for p in probs)


def test_composite_keys_load():
    s = _spec(ONE + "itf_f_per_mm = [0.0, 100.0, 200.0]\nitf_values = [1.0, 0.8, 0.4]\n"
              "itf_max_psd_correction = 3.0\n"
              '[composite]\ncombine = "finer"\noverlap_factor = 3.0\nstrict_overlap = true\n'
              "bins_per_decade = 10\nf_min_k = 4\n"
              '[[bands]]\nname = "b"\nmeasurement = "composite"\nkind = "profile"\n'
              'direction = "y"\nf_lo_per_mm = 1.0\nf_hi_per_mm = 2.0\nrms_nm_max = 1.0\n')
    m = s.measurements["m"]
    assert m.itf is not None and m.itf.max_psd_correction == 3.0 and m.itf_cutoff_per_mm is None
    o = s.composite
    assert (o.combine, o.overlap_factor, o.strict_overlap, o.bins_per_decade, o.f_min_k) == (
        "finer", 3.0, True, 10, 4.0)
    (c,) = s.part_criteria
    assert c.id == "composite.band.b.rms" and c.TYPE == "composite_band_rms"
    assert c.recipe.kind == "profile" and c.recipe.axis == "y" and c.recipe.key == "profile-y"
    assert s.criteria_for("m") == () and s.feeds_composite("m")


def test_default_filter_is_sharp_and_every_band_result_says_so():
    s = _spec(ONE + '[[bands]]\nname = "b"\nmeasurement = "m"\nkind = "areal"\n'
              "f_lo_per_mm = 1.0\nf_hi_per_mm = 2.0\nrms_nm_max = 1.0\nslope_urad_max = 1.0\n"
              '[[bands]]\nname = "c"\nmeasurement = "composite"\nkind = "areal"\n'
              "f_lo_per_mm = 1.0\nf_hi_per_mm = 2.0\nrms_nm_max = 1.0\n")
    assert [b.filter for b in s.bands] == ["sharp", "sharp"]
    for c in s.criteria:
        conv = c.convention()
        assert conv["filter"] == "sharp" and "sharp unless" in conv["filter_default"]
        assert conv["support_per_mm"] == [1.0, 2.0]


# ----------------------------------------------------------------------------- ISO 10110-8

def test_iso10110_2d_line_loads_as_the_radial_line_with_its_units():
    """A 2-D line A f^-B (A in nm^2 mm^2) of an isotropic surface is the radial line
    2 pi A f^-(B - 1) (the annulus integral 2 pi f PSD2)."""
    s = _spec(ONE + '[psd]\nkind = "areal"\n[[psd.segments]]\na_nm2_mm2 = 0.001\nb = 3.0\n'
              "f_lo_per_mm = 0.5\nf_hi_per_mm = 50.0\n"
              '[[bands]]\nname = "b"\nmeasurement = "m"\nkind = "areal"\n'
              "f_lo_per_mm = 1.0\nf_hi_per_mm = 10.0\nrms_nm_max = 1.0\n")
    line = s.psd
    assert line.kind == "radial" and line.dimension == "2d"
    assert "A = 0.001 nm^2 mm^2, B = 3" in line.notation
    f = np.array([0.7, 3.0, 20.0])
    np.testing.assert_allclose(line.to_limit()(f), 2 * math.pi * 0.001 * f ** -2.0, rtol=1e-12)
    # the RMS the line implies over the areal band [1, 10): sqrt(2 pi A (1/1 - 1/10))
    (c,) = [c for c in s.criteria if c.TYPE == "band_rms"]
    want = math.sqrt(2 * math.pi * 0.001 * (1.0 - 0.1))
    assert c.convention()["line_implied_rms"]["rms_nm"] == pytest.approx(want, rel=1e-9)
    psd_c = next(c for c in s.criteria if c.TYPE == "psd_limit")
    assert psd_c.convention()["dimension"] == "2d"


def test_two_sided_1d_line_is_the_one_sided_line_2a():
    s = _spec(ONE + '[psd]\nkind = "profile"\nsidedness = "two-sided"\n[[psd.segments]]\n'
              "a_nm2_mm = 0.01\nb = 1.5\nf_lo_per_mm = 0.5\nf_hi_per_mm = 50.0\n"
              '[[bands]]\nname = "b"\nmeasurement = "m"\nkind = "profile"\n'
              "f_lo_per_mm = 1.0\nf_hi_per_mm = 10.0\nrms_nm_max = 1.0\n")
    f = np.array([1.0, 4.0])
    np.testing.assert_allclose(s.psd.to_limit()(f), 2 * 0.01 * f ** -1.5, rtol=1e-12)
    (c,) = [c for c in s.criteria if c.TYPE == "band_rms"]
    # profile band: sqrt(int 2A f^-1.5 df over [1, 10)) = sqrt(2A * 2 (1 - 10^-0.5))
    want = math.sqrt(2 * 0.01 * 2 * (1 - 10 ** -0.5))
    assert c.convention()["line_implied_rms"]["rms_nm"] == pytest.approx(want, rel=1e-9)


# ----------------------------------------------------------------------------- Gaussian

def _sine_map(f0: float, amp: float, n: int = 256, dx: float = 0.01) -> mt.HeightMap:
    x = np.arange(n) * dx
    return mt.HeightMap(np.tile(amp * np.sin(2 * np.pi * f0 * x), (n, 1)), dx)


GAUSS_BAND = ('[[bands]]\nname = "g"\nmeasurement = "m"\nkind = "{kind}"\nfilter = "gaussian"\n'
              "f_lo_per_mm = {lo}\nf_hi_per_mm = {hi}\nrms_nm_max = 10.0\n")


@pytest.mark.parametrize("kind", ["areal", "profile"])
def test_gaussian_band_keeps_half_the_amplitude_at_its_cut_off(tmp_path, kind):
    """ISO 16610-21 / -61: a sinusoid at the L-filter cut-off keeps 50 % of its amplitude
    (times the S-filter's exp(-ln 2 (f/f_hi)^2) there)."""
    f0 = 25 / 2.56                      # an exact DFT frequency of the 2.56 mm field
    amp, hi = 2.0, 25.0
    path = tmp_path / "sine.x3p"
    mt.save(_sine_map(f0, amp), path, format="x3p")
    body = ONE + GAUSS_BAND.format(kind=kind, lo=f0, hi=hi)
    pr = check_part(_spec(body), [path])
    (c,) = pr.criteria
    t = 0.5 * math.exp(-math.log(2) * (f0 / hi) ** 2)
    assert c.verdict == PASS
    assert c.value == pytest.approx(t * amp / math.sqrt(2), rel=0.01)
    assert c.convention["filter"] == "gaussian"
    # the sharp band keeps all of it (its lower edge below the window's spread of the line)
    sharp = body.replace('filter = "gaussian"', 'filter = "sharp"').replace(
        f"f_lo_per_mm = {f0}", f"f_lo_per_mm = {0.8 * f0}")
    assert check_part(_spec(sharp), [path]).criteria[0].value == pytest.approx(
        amp / math.sqrt(2), rel=0.01)


def test_gaussian_band_needs_data_beyond_its_cut_offs(tmp_path):
    """[1, 20) /mm on a 2.56 mm field: the sharp band is resolved (2/L = 0.78 /mm), the
    Gaussian band needs 0.39 /mm and is not measurable, saying so."""
    path = tmp_path / "sine.x3p"
    mt.save(_sine_map(5.0, 1.0), path, format="x3p")
    body = ONE + GAUSS_BAND.format(kind="areal", lo=1.0, hi=20.0)
    (c,) = check_part(_spec(body), [path]).criteria
    assert c.verdict == NOT_MEASURABLE and "Gaussian band needs data over 0.3899" in c.reason
    (s,) = check_part(_spec(body.replace('filter = "gaussian"', 'filter = "sharp"')),
                      [path]).criteria
    assert s.verdict == PASS


# ----------------------------------------------------------------------------- known surface

SURF = KnownSurface(PowerLaw(0.066, 1.5, "radial"), form_sag_nm=30.0, part_diameter_mm=50)
FIZ = Instrument("fizeau", (256, 256), 0.2, noise_nm=0.01, itf_half_per_mm=1.6,
                 aperture_diameter_mm=48.0)
M5 = Instrument("m5x", (512, 512), 0.01, noise_nm=0.003, itf_half_per_mm=30.0, n_sites=3)
M50 = Instrument("m50x", (256, 256), 0.001, noise_nm=0.003, itf_half_per_mm=300.0, n_sites=3)
BANDS = [(0.3, 1.0), (1.0, 20.0), (30.0, 200.0), (0.3, 200.0)]
LAMBDA, ANGLES = 266.0, (0.6, 3.5)   # 39-229 /mm at 266 nm: the 50x's range


def _known_spec(itf: bool, extra: str = "") -> str:
    out = [HEAD.replace("[part]", "full_band = false\n[part]")]
    for inst, ap in ((FIZ, "[measurements.fizeau.aperture]\ndiameter_mm = 46.0\n"), (M5, ""),
                     (M50, "")):
        name = inst.name
        out.append(f'[measurements.{name}]\ninstrument = "other"\n'
                   f'match.filename = ["{name}_*"]\n')
        if itf:
            t = inst.itf_table()
            out.append(f"itf_f_per_mm = {[float(v) for v in t.f_per_mm]}\n"
                       f"itf_values = {[float(v) for v in t.values]}\n"
                       "itf_max_psd_correction = 4.0\n")
        out.append(f'[measurements.{name}.preprocessing]\nremove = ["piston", "tilt", '
                   '"power"]\n' + ap)
    for i, (lo, hi) in enumerate(BANDS):
        out.append(f'[[bands]]\nname = "k{i}"\nmeasurement = "composite"\nkind = "areal"\n'
                   f"f_lo_per_mm = {lo}\nf_hi_per_mm = {hi}\nrms_nm_max = 100.0\n")
    return "\n".join(out) + extra


SCATTER = f"""
[[scatter_tis]]
name = "near"
measurement = "m50x"
wavelength_nm = {LAMBDA}
mode = "transmission"
collection_deg = [{ANGLES[0]}, {ANGLES[1]}]
tis_ppm_max = 1000.0

[[scatter_brdf]]
name = "wide"
measurement = "composite"
wavelength_nm = {LAMBDA}
mode = "transmission"
angle_deg = [1.0, 10.0]
max_per_sr = [1.0, 1.0]
"""


@pytest.fixture(scope="module")
def known_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("known")
    for hm in measure_part(SURF, [FIZ, M5, M50], seed=3):
        label = hm.meta["source"].split(" site ")
        mt.save(hm, folder / f"{hm.meta['instrument']}_site{label[-1]}.x3p", format="x3p")
    return sorted(folder.iterdir())


@pytest.fixture(scope="module")
def known_report(known_files):
    return check_part(_spec(_known_spec(True, SCATTER), head=""), known_files, part_check=True)


def test_composite_with_tabulated_itfs_matches_the_known_surface(known_report, known_files):
    """A power-law surface measured by three instruments that roll off (Gaussian ITFs): with
    their ITF tables in the spec, every composite band (one instrument, two, three) is
    within 5 % of the model; without them the high band reads low."""
    got = {c.id: c for c in known_report.criteria}
    for i, (lo, hi) in enumerate(BANDS):
        c = got[f"composite.band.k{i}.rms"]
        assert c.verdict == PASS, c.reason
        assert c.value == pytest.approx(SURF.band_rms_nm(lo, hi), rel=0.05), (lo, hi)
    plain = check_part(_spec(_known_spec(False), head=""), known_files, part_check=True)
    hi_band = next(c for c in plain.criteria if c.id == "composite.band.k2.rms")
    assert hi_band.value < 0.9 * SURF.band_rms_nm(*BANDS[2])


def test_tis_of_one_measurement_matches_the_closed_form(known_report):
    """TIS of the 50x sites' composite in transmission at normal incidence: the scalar
    first-order cone integral is (2 pi (n - 1) sigma / lambda)^2 with sigma^2 the model's
    areal band variance over [sin t1, sin t2] / lambda."""
    c = next(c for c in known_report.criteria if c.type == "scatter_tis")
    assert c.id == "m50x.tis.near" and c.verdict == PASS
    from metrology.materials import refractive_index

    n = refractive_index("CaF2", LAMBDA)
    lam_mm = LAMBDA * 1e-6
    f1, f2 = (math.sin(math.radians(a)) / lam_mm for a in ANGLES)
    sigma = SURF.band_rms_nm(f1, f2)
    want = (2 * math.pi * (n - 1) * sigma / LAMBDA) ** 2 * 1e6
    assert c.value == pytest.approx(want, rel=0.05)
    ev = c.evidence
    assert ev.f_range_per_mm == pytest.approx((f1, f2), rel=1e-3)  # the cone quadrature
    assert {s for _, _, s in ev.served} == {"m50x"} and ev.composite == "radial@m50x"


def test_brdf_not_measurable_where_the_psd_does_not_reach(known_report):
    """Angles up to 10 deg need 655 /mm; the 50x serves up to its ITF limit (~300 /mm):
    not measurable, naming the angles and the frequencies."""
    c = next(c for c in known_report.criteria if c.type == "scatter_brdf")
    assert c.verdict == NOT_MEASURABLE
    assert "deg need" in c.reason and "/mm, which the composite does not serve" in c.reason
    ev = c.evidence
    assert len(ev.angles_deg) == 51 and not all(ev.covered) and any(ev.covered)
    lam_mm = LAMBDA * 1e-6
    np.testing.assert_allclose(ev.f_per_mm, np.sin(np.radians(ev.angles_deg)) / lam_mm,
                               rtol=1e-9)


# ----------------------------------------------------------------------------- reports

@pytest.fixture(scope="module")
def part_h_report():
    spec = mt.load_spec(REPO / "datasets" / "specs" / "caf2-wafer-inspection.toml")
    return check(spec, [REPO / "datasets" / "parts" / "part-h-msf-bridge"])


def test_json_report_carries_the_composite_and_validates(part_h_report):
    jsonschema = pytest.importorskip("jsonschema")
    from metrology.reports import report_schema, to_json_text

    d = json.loads(to_json_text(part_h_report))
    jsonschema.Draft202012Validator(report_schema()).validate(d)
    comp = d["parts"][0]["composites"]["radial"]
    nb = len(comp["frequency_per_mm"])
    assert nb > 40 and len(comp["psd"]) == len(comp["stderr"]) == len(comp["source"]) == nb
    assert len(comp["edges_per_mm"]) == nb + 1
    assert set(comp["instruments"]) == {"fizeau", "csi-5x", "csi-50x"}
    assert "composite.band.MSF-bridge.rms" in comp["criteria"]
    crit = {c["id"]: c for c in d["parts"][0]["criteria"]}
    ev = crit["composite.brdf.darkfield"]["sites"][0]["evidence"]
    assert ev["kind"] == "scatter_brdf" and len(ev["bsdf_per_sr"]) == len(ev["angles_deg"]) == 51
    assert len(ev["line_per_sr"]) == 51 and len(ev["f_per_mm"]) == 51
    band = crit["composite.band.MSF-bridge.rms"]
    assert band["verdict"] == FAIL and band["sites"][0]["evidence"]["served"]
    assert band["convention"]["filter"] == "sharp"


def test_html_report_has_the_full_band_section(part_h_report):
    pytest.importorskip("matplotlib")
    from metrology.reports import to_html, to_junit, to_markdown

    html = to_html(part_h_report)
    assert "Full band: composite PSD" in html and "served by [/mm]" in html
    assert "TIS [ppm]" in html and "composite.brdf.darkfield" in html
    assert html.count("data:image/png;base64,") >= 2 + 7   # composite + BTDF + the files
    md = to_markdown(part_h_report)
    assert "composite.band.MSF-bridge.rms" in md and "**FAIL**" in md
    assert 'name="composite.tis.darkfield"' in to_junit(part_h_report)


def test_fill_holes_equals_scipy_binary_fill_holes():
    """The labelling shortcut of metrology.fill.fill_holes against scipy's iterated
    dilation, on random masks with holes, rings and edge-touching gaps."""
    from scipy import ndimage

    from metrology.fill import fill_holes

    rng = np.random.default_rng(5)
    for p in (0.3, 0.55, 0.7, 0.95, 1.0):
        m = rng.random((57, 64)) < p
        yy, xx = np.mgrid[:57, :64]
        m &= (yy - 28) ** 2 + (xx - 31) ** 2 < 26 ** 2      # a disk in the array
        m[20:30, 25:35] = False                                # a big interior hole
        if p == 1.0:
            m[:] = True
        np.testing.assert_array_equal(fill_holes(m), ndimage.binary_fill_holes(m))
