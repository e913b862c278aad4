"""The decision rules of issue 9 on the composite and scatter criteria and the Gaussian path.

Removed quantities (item 1), the fill rule (item 3) and the coverage rule (item 5) are
the same rules whether a band is judged on one file (sharp or Gaussian) or on the part's
composite PSD. Every expected figure comes from the test's own geometry (a disk's
radius, a ring's width, the spec's frequencies and ``f_min_k``) or a closed form
(``(n + 1) / (2 pi R)``, ``f = sin(theta) / lambda``), never from the code's output.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import metrology as mt
from metrology import synth as S
from metrology.check import evaluate
from metrology.pipeline import analyze_file

from reference import grid_mm

FIZEAU = """
schema = "metrology.spec/1"
full_band = false
[part]
name = "p"
material = "CaF2"
[measurements.fizeau]
instrument = "fizeau"
match.filename = ["*"]
{itf}
[measurements.fizeau.aperture]
diameter_mm = 54.0
r_norm_mm = 27.0
[form]
measurement = "fizeau"
fit_first_term = 4
fit_last_term = 37
residual_rms_nm_max = 10.0
"""

#: the joint Fringe Z1..Z37 fit (radial order up to 12) on the Ø54 mm aperture takes the
#: power below (12 + 1) / (2 pi 27 mm)
F_FORM = 13 / (2 * math.pi * 27.0)


def _spec(text: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mt.SpecWarning)
        return mt.parse_spec(text)


def _composite_band(lo: float, hi: float, filt: str = "sharp", name: str = "CB") -> str:
    return (f'[[bands]]\nname = "{name}"\nmeasurement = "composite"\nf_lo_per_mm = {lo}\n'
            f'f_hi_per_mm = {hi}\nkind = "areal"\nfilter = "{filt}"\nrms_nm_max = 1.0\n')


# ----------------------------------------------------------------------------- item 1

@pytest.mark.parametrize("filt", ["sharp", "gaussian"])
def test_composite_band_below_the_removed_form_is_a_spec_error(filt):
    """With f_min_k = 1 the Fizeau would serve the composite from 1 / 54 mm = 0.0185 /mm,
    below F_FORM = 0.0766 /mm: a composite band from 0.05 /mm takes power the joint fit
    removed. With the default f_min_k = 6 it serves only from 6 / 54 = 0.111 /mm, and the
    same band is judged (the composite never uses the Fizeau below the form)."""
    body = FIZEAU.format(itf="") + _composite_band(0.05, 1.0, filt)
    with pytest.raises(mt.SpecError) as ei:
        _spec(body + "[composite]\nf_min_k = 1.0\n")
    assert ei.value.path == "bands[0].rms_nm_max"
    msg = str(ei.value)
    assert "composite band CB" in msg and "'fizeau'" in msg and f"{F_FORM:.4g}" in msg
    assert _spec(body).criterion("composite.band.CB.rms")
    # a Gaussian band needs data from 0.39 f_lo: its support decides, not f_lo
    ok = FIZEAU.format(itf="") + _composite_band(0.1, 1.0, filt) + "[composite]\nf_min_k = 1.0\n"
    if filt == "sharp":
        assert _spec(ok).criterion("composite.band.CB.rms")
    else:
        with pytest.raises(mt.SpecError):
            _spec(ok)   # support from 0.039 /mm < F_FORM


def test_composite_psd_line_and_scatter_below_the_removed_form_are_spec_errors():
    """The composite PSD line from 0.03 /mm, and a 266 nm cone of 0.0002-0.0009 deg
    (f = sin(theta) / lambda = 0.013-0.060 /mm, below F_FORM), on a part whose Fizeau
    serves from 1 / 54 mm (f_min_k = 1)."""
    head = FIZEAU.format(itf="") + "[composite]\nf_min_k = 1.0\n"
    line = ('[psd]\nmeasurement = "composite"\nkind = "radial"\nfactor_max = 2.0\n'
            "[[psd.segments]]\na_nm2_mm = 0.03\nb = 2.0\nf_lo_per_mm = {lo}\n"
            "f_hi_per_mm = 1.0\n")
    with pytest.raises(mt.SpecError) as ei:
        _spec(head + line.format(lo=0.03))
    assert ei.value.path == "psd" and "PSD limit line on the composite" in str(ei.value)
    assert _spec(head + line.format(lo=0.08)).criterion("composite.psd")
    cone = ('[[scatter_tis]]\nname = "t"\nmeasurement = "{m}"\nwavelength_nm = 266.0\n'
            'mode = "transmission"\ncollection_deg = [{a}, {b}]\ntis_ppm_max = 1.0\n')
    f_hi = math.sin(math.radians(0.0009)) / 266e-6
    assert f_hi < F_FORM
    for m in ("composite", "fizeau"):        # the part's composite, or the Fizeau's own
        with pytest.raises(mt.SpecError) as ei:
            _spec(head + cone.format(m=m, a=0.0002, b=0.0009))
        assert ei.value.path == "scatter_tis[0].tis_ppm_max"
        assert "scatter_tis t" in str(ei.value)
    brdf = ('[[scatter_brdf]]\nname = "b"\nmeasurement = "composite"\nwavelength_nm = 266.0\n'
            'mode = "transmission"\nangle_deg = [0.0002, 0.0009]\nmax_per_sr = [1.0, 1.0]\n')
    with pytest.raises(mt.SpecError) as ei:
        _spec(head + brdf)
    assert ei.value.path == "scatter_brdf[0].max_per_sr"
    # 2-7 deg maps to 131-458 /mm: no conflict
    assert _spec(head + cone.format(m="composite", a=2.0, b=7.0)).criterion(
        "composite.tis.t")


def test_the_shipped_spec_has_no_composite_conflict():
    """Its Fizeau removes Z1..Z37 (F_FORM = 0.077 /mm) and serves from 6 / 54 = 0.11 /mm."""
    spec = mt.load_spec("datasets/specs/caf2-wafer-inspection.toml")
    assert {c.id for c in spec.part_criteria} >= {"composite.band.MSF-bridge.rms",
                                                  "composite.tis.darkfield"}


# ----------------------------------------------------------------------------- item 3

def _holes_map(seed: int = 0):
    """The Fizeau model map with two round holes: a 4 x 4 pixel block (0.1 mm pixels:
    every pixel within 0.2 - 0.05 = 0.15 mm of data) and a disk of radius 0.6 mm."""
    surf = S.Surface(tuple([0.0] * 37), (S.RandomComponent(0.0025, 3.0, 0.1),))
    sm = S.measure_fizeau(surf, S.FizeauSetup(), [903, seed])
    x, y = grid_mm((560, 560), 0.1, 0.1)
    small = np.hypot(x - 5.0, y - 5.0) <= 0.22
    large = np.hypot(x + 8.0, y - 3.0) <= 0.6
    return sm.measured.apply_mask(~(small | large)), small, large


@pytest.mark.parametrize("itf,short_mm", [("itf_cutoff_per_mm = 2.5", 1 / 2.5), ("", 1 / 3.0)])
def test_a_file_that_only_feeds_the_composite_fills_by_the_composite_period(itf, short_mm):
    """The Fizeau has no criterion of its own on its PSD; it serves the composite band
    0.6-3 /mm up to its ITF cut-off 2.5 /mm (Nyquist 5 /mm without one): the shortest
    period judged within its served range is 0.4 mm (1/3 mm). Holes within half of it of
    valid data are filled, the 0.6 mm one is left (invalid in the mask the composite
    takes); the composite built on it serves up to the cut-off."""
    spec = _spec(FIZEAU.format(itf=itf).replace(
        "[form]\nmeasurement = \"fizeau\"\nfit_first_term = 4\nfit_last_term = 37\n"
        "residual_rms_nm_max = 10.0\n", "") + _composite_band(0.6, 3.0))
    assert spec.criteria_for("fizeau") == () and spec.feeds_composite("fizeau")
    hm, small, large = _holes_map()
    fa = analyze_file(spec, "fizeau", hm, "mem.npy")
    sp = fa.spectrum
    assert sp is not None and sp.psd is not None
    assert sp.shortest_period_mm == pytest.approx(short_mm)
    assert sp.valid[small].all() and not sp.valid[large].any()
    assert len(sp.holes_left) == 1 and sp.holes_left[0].fill_distance_mm > 0.5 * short_mm
    [site] = spec.criterion("composite.band.CB.rms").evaluate_part([fa])
    if itf:   # this file alone does not serve 2.5-3 /mm
        assert site.verdict == "not-measurable" and site.evidence.served[-1][1] == 2.5
    else:
        assert site.value is not None


def test_a_file_the_composite_does_not_reach_fills_by_the_whole_range():
    """A composite band 10-20 /mm lies above the Fizeau's Nyquist (5 /mm): it judges nothing
    the Fizeau serves, so the conservative rule holds (the whole range: 2 pixels, holes
    within 0.1 mm of data filled; the 4 x 4 block is left)."""
    spec = _spec(FIZEAU.format(itf="") + _composite_band(10.0, 20.0))
    hm, small, large = _holes_map()
    sp = analyze_file(spec, "fizeau", hm, "mem.npy").spectrum
    assert sp.shortest_period_mm == pytest.approx(0.2)
    assert not sp.valid[large].any() and not sp.valid[small].all()


# ----------------------------------------------------------------------------- item 5

def _ring(spec_text: str):
    """The Ø54 mm aperture with a central Ø44 mm hole: a 5 mm ring of data."""
    spec = _spec(spec_text)
    surf = S.Surface(tuple([0.0] * 37), (S.RandomComponent(0.0025, 3.0, 0.1),))
    sm = S.measure_fizeau(surf, S.FizeauSetup(), [902, 0])
    x, y = grid_mm((560, 560), 0.1, 0.1)
    return spec, analyze_file(spec, "fizeau", sm.measured.apply_mask(np.hypot(x, y) > 22.0),
                              "mem.npy")


def test_composite_contribution_respects_the_inscribed_circle_around_holes_left():
    """The 5 mm ring serves the composite only from f_min_k / 5 mm = 1.2 /mm (its bounding
    box, 54 mm, would say 0.11 /mm): a composite band 0.6-3 /mm served by this file alone
    is not measurable, and its served range starts at 1.2 /mm."""
    spec, fa = _ring(FIZEAU.format(itf="") + _composite_band(0.6, 3.0))
    w = fa.spectrum.inscribed_mm
    assert w == pytest.approx(5.0, abs=0.3)
    [site] = spec.criterion("composite.band.CB.rms").evaluate_part([fa])
    assert site.verdict == "not-measurable"
    served = site.evidence.served
    assert served and served[0][0] == pytest.approx(6.0 / w, rel=1e-6)


def test_gaussian_band_uses_the_coverage_rule_of_the_sharp_bands():
    """On the ring the sharp MSF1 (0.1-1 /mm) is not measurable (2 / 5 mm = 0.4 /mm > 0.1);
    so is the Gaussian one, which needs data from 0.039 /mm, though the ring's bounding box
    (54 mm: 2 / 54 = 0.037 /mm) would call it covered. A Gaussian band 0.9-2 /mm (support
    0.35-3.6 /mm, from below 0.4 /mm) is not measurable either; 1.5-2.5 /mm (support
    0.58-4.6 /mm, inside 0.4-5 /mm) is judged."""
    band = ('[[bands]]\nname = "{n}"\nmeasurement = "fizeau"\nf_lo_per_mm = {lo}\n'
            'f_hi_per_mm = {hi}\nkind = "areal"\nfilter = "{f}"\nrms_nm_max = 1.0\n')
    text = FIZEAU.format(itf="") + "".join(
        band.format(n=n, lo=lo, hi=hi, f=f) for n, lo, hi, f in
        [("S", 0.1, 1.0, "sharp"), ("G", 0.1, 1.0, "gaussian"), ("G1", 0.9, 2.0, "gaussian"),
         ("G2", 1.5, 2.5, "gaussian")])
    spec, fa = _ring(text)
    got = {c.id: evaluate(c, fa) for c in spec.criteria_for("fizeau")}
    for cid in ("fizeau.band.S.rms", "fizeau.band.G.rms", "fizeau.band.G1.rms"):
        assert got[cid].verdict == "not-measurable", cid
        assert "inscribed" in got[cid].reason, cid
    assert got["fizeau.band.G2.rms"].value is not None
    ev = got["fizeau.band.G.rms"].evidence
    assert ev.filter == "gaussian" and ev.f_min_per_mm == pytest.approx(2.0 / fa.spectrum
                                                                        .inscribed_mm)


CSI = """
schema = "metrology.spec/1"
full_band = false
[part]
name = "p"
[measurements.csi]
instrument = "csi"
match.filename = ["*"]
[measurements.csi.preprocessing]
remove = ["piston", "tilt", "power"]
"""


def _csi_field(seed: int = 0) -> mt.HeightMap:
    rng = np.random.default_rng(seed)
    return mt.HeightMap(rng.normal(size=(200, 200)), 0.014)     # 2.8 mm field


def test_gaussian_band_below_the_removed_form_of_a_field_is_not_measurable():
    """No aperture: piston, tilt and power (order 2) removed on a 2.8 mm field take the
    power below 3 / (2 pi 1.4 mm) = 0.341 /mm; a Gaussian band from 0.3 /mm is not
    measurable on the file, as the sharp one is."""
    band = ('[[bands]]\nname = "{n}"\nmeasurement = "csi"\nf_lo_per_mm = {lo}\n'
            'f_hi_per_mm = 30.0\nkind = "areal"\nfilter = "{f}"\nrms_nm_max = 1.0\n')
    spec = _spec(CSI + band.format(n="S", lo=0.3, f="sharp")
                 + band.format(n="G", lo=0.3, f="gaussian"))
    fa = analyze_file(spec, "csi", _csi_field(), "mem.npy")
    f_form = 3 / (2 * math.pi * 1.4)
    for cid in ("csi.band.S.rms", "csi.band.G.rms"):
        r = evaluate(spec.criterion(cid), fa)
        assert r.verdict == "not-measurable" and f"{f_form:.4g}" in r.reason, cid


def test_holes_narrower_than_the_longest_period_do_not_cap_f_min():
    """Round holes of radius 0.8 mm on a 4 mm grid across the Ø54 mm aperture (13 % of
    it): wider than half MSF1's shortest period (0.5 mm), so left as holes, but far
    narrower than its longest (10 mm). The largest circle between them is 2 (sqrt(8) -
    0.8) = 4.1 mm across, which would put f_min at 2 / 4.1 = 0.49 /mm and make MSF1 (from
    0.1 /mm) unmeasurable; the data on either side of a hole span every MSF1 period, so
    MSF1 is judged, within 3 % of the same map without the holes (the masked periodogram
    of 1-2 mm holes: 1.03, docs/psd.md)."""
    band = ('[[bands]]\nname = "MSF1"\nmeasurement = "fizeau"\nperiod_mm = [10.0, 1.0]\n'
            'kind = "areal"\nrms_nm_max = 1.0\n')
    spec = _spec(FIZEAU.format(itf="") + band)
    surf = S.Surface(tuple([0.0] * 37), (S.RandomComponent(0.0025, 3.0, 0.1),))
    sm = S.measure_fizeau(surf, S.FizeauSetup(), [904, 0])
    x, y = grid_mm((560, 560), 0.1, 0.1)
    holes = np.hypot((x + 2.0) % 4.0 - 2.0, (y + 2.0) % 4.0 - 2.0) <= 0.8
    a = evaluate(spec.criterion("fizeau.band.MSF1.rms"),
                 analyze_file(spec, "fizeau", sm.measured, "full.npy"))
    fa = analyze_file(spec, "fizeau", sm.measured.apply_mask(~holes), "holes.npy")
    b = evaluate(spec.criterion("fizeau.band.MSF1.rms"), fa)
    assert len(fa.spectrum.holes_left) > 100 and fa.spectrum.inscribed_mm is None
    assert b.value == pytest.approx(a.value, rel=0.03)
