"""metrology.composite: the full-band composite PSD of one surface from several instruments.

Truth comes from the PSD model of the synthetic surface (closed-form band
variance of a power law) or, for a single periodic map, from its own Fourier
cell sums (:func:`metrology.spectral.band_rms` with no window, which is exact
for a periodic map).
"""

from __future__ import annotations

import importlib
import json
import math

import numpy as np
import pytest

from metrology import HeightMap
from metrology.composite import Contribution, composite_psd
from metrology.errors import ConventionError, InsufficientDataError
from metrology.synth_composite import Instrument, KnownSurface, measure_part
from metrology.synth_psd import PowerLaw, synthesize

mp = importlib.import_module("metrology.spectral")
ALL = (0.0, math.inf)

SURFACE = KnownSurface(PowerLaw(0.066, 1.5, "radial"), form_sag_nm=30.0, part_diameter_mm=50)
FIZEAU = Instrument("fizeau", (512, 512), 0.1, noise_nm=0.02, itf_half_per_mm=3.0,
                    aperture_diameter_mm=48.0)
MICRO_5X = Instrument("micro-5x", (512, 512), 0.005, noise_nm=0.005, itf_half_per_mm=60.0,
                      n_sites=3)
MICRO_50X = Instrument("micro-50x", (256, 256), 0.0005, noise_nm=0.005,
                       itf_half_per_mm=600.0, n_sites=3)
INSTRUMENTS = {i.name: i for i in (FIZEAU, MICRO_5X, MICRO_50X)}
BANDS = [(0.2, 1.0), (1.0, 20.0), (20.0, 200.0), (200.0, 400.0), (0.2, 400.0)]
FORM = ("piston", "tilt", "power")


def _contribs(maps, itf=True):
    return [Contribution(m, itf=INSTRUMENTS[m.meta["instrument"]].itf_table() if itf else None,
                         remove=FORM) for m in maps]


@pytest.fixture(scope="module")
def part_maps():
    return measure_part(SURFACE, [FIZEAU, MICRO_5X, MICRO_50X], seed=1)


@pytest.fixture(scope="module")
def composite(part_maps):
    return composite_psd(_contribs(part_maps))


# ---------------------------------------------------------------------------
# the targets
# ---------------------------------------------------------------------------

def test_band_rms_within_five_percent_of_truth_in_every_band(composite):
    c = composite
    assert c.measurable and not c.gaps and not c.flags
    straddling = 0
    for lo, hi in BANDS:
        r = c.band_rms(lo, hi)
        truth = SURFACE.band_rms_nm(lo, hi)
        assert r.measurable, (lo, hi, r.reason)
        assert r.rms_nm == pytest.approx(truth, rel=0.05), (lo, hi)
        # the error bar is honest: the truth is within 3.5 sigma (a 5 % budget is ~2-5 sigma)
        assert abs(r.rms_nm - truth) < 3.5 * r.stderr_nm + 0.01 * truth
        names = {s for _, _, s in r.served}
        straddling += any("+" in s for s in names) or len(names) > 1
    assert straddling >= 3  # [1, 20), [20, 200) and the full band use two instruments


def test_which_instrument_served_each_range(composite):
    r = composite.band_rms(1.0, 20.0)
    sources = [s for _, _, s in r.served]
    assert sources[0] == "fizeau" and sources[-1] == "micro-5x"
    assert "fizeau+micro-5x" in sources
    # the served ranges tile the band
    assert r.served[0][0] == pytest.approx(1.0) and r.served[-1][1] == pytest.approx(20.0)
    for (_, a1, _), (b0, _, _) in zip(r.served, r.served[1:], strict=False):
        assert a1 == pytest.approx(b0)


def test_coarse_file_alone_cannot_measure_the_high_band(part_maps):
    fiz = [m for m in part_maps if m.meta["instrument"] == "fizeau"]
    c = composite_psd(_contribs(fiz))
    r = c.band_rms(200.0, 400.0)
    assert not r.measurable and r.coverage == "none" and math.isnan(r.rms_nm)
    assert "composite ends" in r.reason
    r = c.band_rms(1.0, 20.0)
    assert r.coverage == "partial" and not r.measurable
    # the full set gives a value for both
    full = composite_psd(_contribs(part_maps))
    assert full.band_rms(200.0, 400.0).measurable


def test_mis_scaled_microscope_is_flagged(part_maps, composite):
    # the 5x microscope's heights 2x too large (PSD x4)
    maps = [m.replace(m.z_nm * 2.0) if m.meta["instrument"] == "micro-5x" else m
            for m in part_maps]
    c = composite_psd(_contribs(maps))
    flagged = {o.pair for o in c.flags}
    assert ("fizeau", "micro-5x") in flagged and ("micro-5x", "micro-50x") in flagged
    o = next(o for o in c.flags if o.pair == ("fizeau", "micro-5x"))
    assert o.ratio == pytest.approx(0.25, rel=0.35)
    assert "DISAGREE" in o.message
    assert c.measurable  # flagged, but not strict
    r = c.band_rms(1.0, 20.0)
    assert r.flags and r.measurable
    strict = composite_psd(_contribs(maps), strict_overlap=True)
    assert not strict.measurable and "strict_overlap" in strict.reason
    r = strict.band_rms(1.0, 20.0)
    assert not r.measurable and "DISAGREE" in r.reason
    # the calibrated set agrees within the factor
    assert composite.measurable and all(not o.flagged for o in composite.overlaps)
    assert all(abs(o.ratio - 1) < 3 * o.ratio_stderr for o in composite.overlaps)


# ---------------------------------------------------------------------------
# rules
# ---------------------------------------------------------------------------

def test_single_periodic_map_band_rms_is_the_cell_sum():
    """One periodic map, no window: the composite's band RMS integrates its binned density
    back to the map's own Fourier cell sums, with bands not on bin edges."""
    m = PowerLaw(1.0, 2.0, "radial")
    hm = synthesize(m, (512, 512), 0.01, seed=3)
    c = composite_psd([hm], window="none", remove=())
    p = mp.psd(hm, window="none", remove=())
    for lo, hi in [(2.0, 20.0), (1.4, 3.3), (2.2, 37.0), (6 / 5.12, 50.0)]:
        r = c.band_rms(lo, hi)
        assert r.coverage == "full", (lo, hi, r.reason)
        cells = mp.band_rms(p, lo, hi, valid_range_per_mm=ALL).rms_nm
        # lattice-count correction and within-bin power laws: < 1.5 % from the cell sum
        assert r.rms_nm == pytest.approx(cells, rel=0.015)
    # the whole served range: every variance comes back
    tot = c.band_rms(c.f_min_per_mm, c.f_max_per_mm).rms_nm
    assert tot ** 2 == pytest.approx(float(np.sum(c.variance_nm2)), rel=1e-12)


def test_stderr_matches_seed_to_seed_scatter():
    """The reported standard error predicts the scatter of the density between
    independent realisations (3 sites of 128² per realisation)."""
    inst = Instrument("m", (128, 128), 0.01, n_sites=3)
    surf = KnownSurface(PowerLaw(1.0, 2.0, "radial"))
    dens, errs = [], []
    for seed in range(10):
        c = composite_psd(measure_part(surf, [inst], seed=seed), per_decade=10)
        dens.append(c.psd)
        errs.append(c.stderr)
    dens, errs = np.array(dens), np.array(errs)
    ok = np.all(np.isfinite(dens), axis=0)
    rel_scatter = np.std(dens[:, ok], axis=0, ddof=1) / np.mean(dens[:, ok], axis=0)
    rel_reported = np.mean(errs[:, ok] / dens[:, ok], axis=0)
    ratio = np.median(rel_scatter / rel_reported)
    assert 0.6 < ratio < 1.5, ratio


def test_regions_are_analysed_separately():
    """A big region plus a small far one: one window over the whole mask leaks at the big
    region's inner edges; the per-region composite does not."""
    m = PowerLaw(1.0, 2.0, "radial")
    z = synthesize(m, (512, 512), 0.01, seed=7).z_nm[:256, :256].copy()
    mask = np.zeros_like(z, dtype=bool)
    mask[:128, :128] = True
    mask[216:248, 216:248] = True
    z[~mask] = np.nan
    hm = HeightMap(z, 0.01)
    c = composite_psd([hm])
    assert c.instruments["file 0"].n_pieces == 2
    band = (6 / 1.28 * 1.2, 40.0)
    truth = math.sqrt(m.band_variance_nm2(*band))
    r = c.band_rms(*band)
    assert r.measurable and r.rms_nm == pytest.approx(truth, rel=0.08)
    one_window = mp.band_rms(hm, *band, window="hann").rms_nm
    assert one_window > 1.15 * truth  # the leakage the split avoids
    # the small region serves only its own range: its f_min is 6 / 0.32 mm
    covs = c.instruments["file 0"].coverages
    assert sorted(cv.f_min_per_mm for cv in covs) == pytest.approx([6 / 1.28, 6 / 0.32])


def test_itf_division_and_cutoff():
    inst = Instrument("m", (256, 256), 0.01, itf_half_per_mm=20.0, n_sites=2)
    surf = KnownSurface(PowerLaw(1.0, 1.5, "radial"))
    maps = measure_part(surf, [inst], seed=5)
    band = (10.0, 24.0)
    truth = surf.band_rms_nm(*band)
    raw = composite_psd(maps).band_rms(*band)
    assert raw.rms_nm < 0.8 * truth  # the roll-off, not divided out
    itf = inst.itf_table(max_psd_correction=8.0)
    fixed = composite_psd([Contribution(m, itf=itf) for m in maps]).band_rms(*band)
    assert fixed.measurable and fixed.rms_nm == pytest.approx(truth, rel=0.06)
    # the maximum correction bounds the range: 1 / ITF² = 2^(2 (f/20)²) <= 8 up to
    # f = 20 sqrt(1.5) /mm (the table is linear in f between its 64 points)
    cmp_ = composite_psd([Contribution(m, itf=itf) for m in maps])
    assert cmp_.f_max_per_mm == pytest.approx(20.0 * math.sqrt(1.5), rel=2e-3)
    cut = composite_psd([Contribution(m, itf_cutoff_per_mm=15.0) for m in maps])
    assert cut.f_max_per_mm == pytest.approx(15.0)
    assert not cut.band_rms(*band).measurable


def test_combine_rules_and_gaps():
    surf = KnownSurface(PowerLaw(1.0, 1.5, "radial"))
    coarse = Instrument("coarse", (128, 128), 0.05)    # 6/6.4 = 0.94 .. 10 /mm
    fine = Instrument("fine", (128, 128), 0.01)        # 4.7 .. 50 /mm
    far = Instrument("far", (128, 128), 0.0005)        # 94 .. 1000 /mm
    maps = measure_part(surf, [coarse, fine, far], seed=2)
    iv = composite_psd(maps)
    fi = composite_psd(maps, combine="finer")
    ov = iv.source == "coarse+fine"
    assert ov.any() and np.all(fi.source[ov] == "fine")
    w = iv.instruments["coarse"].weight[ov] + iv.instruments["fine"].weight[ov]
    np.testing.assert_allclose(w, 1.0)
    # inverse variance: the combined error is below each instrument's
    for name in ("coarse", "fine"):
        seg = iv.instruments[name]
        assert np.all(iv.stderr[ov] / iv.psd[ov] < seg.stderr[ov] / seg.psd[ov] + 1e-12)
    assert iv.gaps and iv.gaps[0][0] == pytest.approx(50.0)
    assert iv.gaps[0][1] == pytest.approx(6 / 0.064)
    r = iv.band_rms(20.0, 200.0)
    assert r.coverage == "partial" and not r.measurable and r.gaps
    assert "no instrument serves 50-93.75 /mm" in r.reason


def test_profile_composite_and_sidedness():
    m = PowerLaw(1.0, 2.0, "radial")
    hm = synthesize(m, (512, 512), 0.01, seed=3)
    one = composite_psd([hm], kind="profile", axis="x", window="none", remove=())
    two = composite_psd([hm], kind="profile", axis="x", window="none", remove=(),
                        sidedness="two-sided")
    np.testing.assert_allclose(two.psd, one.psd / 2)
    pp = mp.profile_psd(hm, "x", window="none", remove=())
    for lo, hi in [(2.0, 20.0), (1.4, 30.0)]:
        ref = mp.band_rms(pp, lo, hi, kind="profile", valid_range_per_mm=ALL).rms_nm
        assert one.band_rms(lo, hi).rms_nm == pytest.approx(ref, rel=0.02)
        assert two.band_rms(lo, hi).rms_nm == pytest.approx(one.band_rms(lo, hi).rms_nm)
        assert one.band_rms(lo, hi).rms_nm == pytest.approx(
            math.sqrt(m.band_variance_nm2(lo, hi, "profile")), rel=0.06)
    d = two.to_dict()
    assert d["sidedness"] == "two-sided" and "profile" in d["quantity"]


def test_gaussian_band_on_the_composite(composite):
    from metrology.filters import filtered_band_rms

    r = composite.band_rms(2.0, 20.0, filter="gaussian")
    assert r.filter == "gaussian" and r.measurable and "ISO 16610" in r.definition
    assert r.support_lo_per_mm == pytest.approx(0.39 * 2.0, rel=0.01)
    # truth: quadrature of T² × the model's radial PSD
    from scipy import integrate

    from metrology.filters import band_weight
    q = integrate.quad(lambda f: float(band_weight(f, 2.0, 20.0)) * 0.066 * f ** -1.5,
                       0.125, 600, points=[2.0, 20.0], limit=400)[0]
    assert r.rms_nm == pytest.approx(math.sqrt(q), rel=0.05)
    assert filtered_band_rms(composite, 2.0, 20.0).rms_nm == r.rms_nm


def test_psd2d_inputs_and_json(part_maps):
    micro = [m for m in part_maps if m.meta["instrument"] == "micro-50x"]
    psds = [Contribution(mp.psd(m, remove=FORM), instrument="micro-50x", valid=m.valid)
            for m in micro]
    c = composite_psd(psds)
    assert c.instruments["micro-50x"].n_files == 3
    ref = composite_psd(micro, remove=FORM)
    ok = c.served & ref.served
    np.testing.assert_allclose(c.psd[ok], ref.psd[ok], rtol=1e-9)
    d = c.to_dict()
    s = json.dumps(d, allow_nan=False)
    back = json.loads(s)
    assert len(back["frequency_per_mm"]) == len(back["psd"]) == len(back["source"])
    assert back["unit"] == "nm^2 mm" and back["frequency_unit"] == "cycles/mm"


def test_plot(composite, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from metrology.psdlimit import PSDLimit

    limit = PSDLimit(0.2, 1.5, "radial", 0.1, 1000.0)
    ax = composite.plot(limit=limit, bands=[(1.0, 20.0, "MSF"), (200, 400)])
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(lab.startswith("fizeau") for lab in labels) and "limit" in labels
    ax.figure.savefig(tmp_path / "composite.png")
    assert (tmp_path / "composite.png").stat().st_size > 1000


def test_bad_input():
    hm = HeightMap(np.zeros((16, 16)), 0.1)
    with pytest.raises(InsufficientDataError):
        composite_psd([])
    with pytest.raises(ConventionError):
        composite_psd([hm], kind="areal2")
    with pytest.raises(ConventionError):
        composite_psd([hm], combine="average")
    with pytest.raises(ConventionError):
        composite_psd([hm], overlap_factor=1.0)
    with pytest.raises(TypeError):
        composite_psd([np.zeros((4, 4))])
    with pytest.raises(InsufficientDataError):
        composite_psd([HeightMap(np.zeros((4, 4)), 0.1)])  # 6 / 0.4 mm > Nyquist


def test_compare_to_a_limit_line(composite):
    from metrology.psdlimit import PiecewiseLimit, PSDLimit

    # the surface's own PSD as the line: within the noise of the bins
    line = PiecewiseLimit((PSDLimit(0.066, 1.5, "radial", 0.2, 10.0),
                           PSDLimit(0.066, 1.5, "radial", 10.0, 500.0)))
    r = composite.compare_limit(line, factor_max=2.0)
    assert r.measurable and r.passed and 1.0 < r.max_ratio < 2.0
    assert np.all(np.isnan(r.ratio[composite.frequency_per_mm < 0.2]))
    # a line 4x lower fails
    low = composite.compare_limit(PSDLimit(0.066 / 4, 1.5, "radial", 0.2, 500.0), 2.0)
    assert low.measurable and low.passed is False
    # a line reaching below the composite is not measurable, naming the range
    wide = composite.compare_limit(PSDLimit(0.066, 1.5, "radial", 0.05, 500.0), 2.0)
    assert not wide.measurable and wide.passed is None and "0.05" in wide.reason
    json.dumps(wide.to_dict(), allow_nan=False)
    # and the band RMS the line implies (closed form) equals the surface's truth
    assert line.band_rms_nm(1.0, 20.0, "areal").rms_nm == pytest.approx(
        SURFACE.band_rms_nm(1.0, 20.0), rel=1e-12)
