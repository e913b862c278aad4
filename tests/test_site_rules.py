"""The decision rules of issue 9 on the sites the uncertainty work added (averages of
repeats, reference-subtracted maps) and on the U every criterion now carries.

A site made of repeats or corrected by a reference goes through the same stages as a
single file: the clear aperture must lie on the data, the fill rule leaves large holes
as holes (the reference's own holes too), an ill-conditioned Zernike basis makes the
Zernike criteria not measurable without losing the residual, and the U of a value is
computed on the data, window and quantity the value itself was computed on. Expected
values come from the test's geometry (hole sizes and counts), from a second code path
(the public ``metrology.pvr`` on each repeat, the Type A formula written out, the same
map corrected by hand), never from the criterion's own output.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

import metrology as mt
from metrology.aperture import Circle
from metrology.check import evaluate
from metrology.cli import main
from metrology.pipeline import analyze_file
from metrology.sites import Site, analyze_site
from metrology.synth_psd import synthesize
from metrology.uncertainty import BandAnalysis

from reference import grid_mm

N, DX = 128, 0.2
CA_MM = 0.9 * N * DX            # 23.04 mm
HOLE_MM = ((4.0, 2.0), 3.0)     # centre, radius: 6 mm across, wider than 1 / 0.4 /mm


def surface(seed: int = 20240) -> mt.HeightMap:
    return synthesize(lambda f: 0.05 * np.maximum(f, 1e-3) ** -2.5, (N, N), DX, seed=seed)


def noisy(s: mt.HeightMap, n: int, sigma: float = 0.3, seed: int = 7) -> list[mt.HeightMap]:
    rng = np.random.default_rng(seed)
    return [s.replace(s.z_nm + sigma * rng.standard_normal(s.shape)) for _ in range(n)]


def spec(*, ca: float = CA_MM, form: str = "", bands: str = "", extra: str = ""):
    text = ('schema = "metrology.spec/1"\nfull_band = false\n'
            '[part]\nname = "flat"\nmaterial = "CaF2"\n'
            '[measurements.m]\ninstrument = "fizeau"\nmatch.filename = ["*"]\n'
            f'{extra}[measurements.m.aperture]\ndiameter_mm = {ca}\ncentre_mm = [0.0, 0.0]\n'
            f"{form}{bands}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mt.SpecWarning)
        return mt.parse_spec(text)


def band(name: str, lo: float, hi: float, *, kind: str = "areal", slope: bool = False) -> str:
    out = (f'[[bands]]\nname = "{name}"\nmeasurement = "m"\nf_lo_per_mm = {lo}\n'
           f'f_hi_per_mm = {hi}\nkind = "{kind}"\nrms_nm_max = 100.0\n')
    if kind == "profile":
        out += 'direction = "x"\n'
    if slope:
        out += "slope_urad_max = 1000.0\n"
    return out


def hole_mask(shape: tuple[int, int] = (N, N)) -> np.ndarray:
    x, y = grid_mm(shape, DX, DX)
    (cx, cy), r = HOLE_MM
    return np.hypot(x - cx, y - cy) <= r


def repeats_site(maps: list[mt.HeightMap], reference: str | None = None) -> Site:
    return Site(paths=tuple(f"m_rep{k + 1}.npz" for k in range(len(maps))), measurement="m",
                assigned_by="test", maps=maps, repeats_by="--repeats" if len(maps) > 1 else None,
                reference=reference, reference_from=None if reference is None else "test")


# ----------------------------------------------------------------------------- U, item 3

@pytest.mark.parametrize("n_repeats", [1, 3])
def test_band_u_is_taken_on_the_data_and_window_of_the_value(n_repeats):
    """A 6 mm hole in the aperture, wider than the band's longest period (2.5 mm): it is
    left as a hole and the window falls to 0 over 2.5 mm at its edge. The band's U comes
    from a second spectral code path (metrology.uncertainty on the file's BandAnalysis);
    its measured band RMS must be the criterion's value to rounding, on one map and on the
    average of repeats. The same path with the plain Hann window (the taper forgotten)
    reads more than 1 % off, so the test would catch U taken on other data."""
    s = surface()
    maps = [m.apply_mask(~hole_mask()) for m in noisy(s, n_repeats)]
    sp_ = spec(bands=band("B1", 0.4, 1.0))
    fa = analyze_site(sp_, repeats_site(maps))
    sp = fa.spectrum
    assert sp is not None and sp.bands is not None
    assert sp.taper_mm == pytest.approx(1 / 0.4) and len(sp.holes_left) == 1
    assert not sp.valid[hole_mask()].any() and sp.filled_pixels == 0
    r = evaluate(sp_.criterion("m.band.B1.rms"), fa)
    assert r.verdict == "pass" and r.uncertainty is not None and r.U > 0
    est = sp.bands.estimate(0.4, 1.0)
    assert est.measured == pytest.approx(r.value, rel=1e-9)
    assert est.n_repeats == n_repeats
    plain = BandAnalysis(fa.residual if n_repeats == 1 else fa.repeat_residuals(),
                         window="hann", remove=()).estimate(0.4, 1.0)
    assert abs(plain.measured / r.value - 1.0) > 0.01


def test_profile_band_slope_u_is_of_the_profile_slope():
    """Item 4 with U: a 1 nm sinusoid of 3 /mm at 45 deg has no x-profile power in
    2.5-10 /mm (f_x = 2.12 /mm); the judged slope is ~0 and so is the slope its U model
    measures (the x-profile strip, slope along x), not the 9 urad of the areal cells."""
    x, y = grid_mm((512, 512), 0.01, 0.01)
    z = np.sin(2 * np.pi * 3.0 * (x + y) / math.sqrt(2))
    rng = np.random.default_rng(3)
    hm = mt.HeightMap(z + 0.001 * rng.standard_normal(z.shape), 0.01)
    text = ('schema = "metrology.spec/1"\nfull_band = false\n[part]\nname = "p"\n'
            '[measurements.m]\ninstrument = "csi"\nmatch.filename = ["*"]\n'
            + band("P", 2.5, 10.0, kind="profile", slope=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mt.SpecWarning)
        sp_ = mt.parse_spec(text)
    fa = analyze_file(sp_, "m", hm, "mem.npy")
    r = evaluate(sp_.criterion("m.band.P.slope"), fa)
    # only the Hann window's leakage of the line past the 2.5 /mm edge is in the band
    assert r.value < 0.3 and r.U is not None and r.U < 0.3
    ba = fa.spectrum.bands
    est = ba.estimate(2.5, 10.0, kind="profile", axis="x", quantity="slope")
    assert est.quantity == "slope-x"
    assert est.measured == pytest.approx(r.value, rel=1e-6)
    assert ba.estimate(2.5, 10.0, quantity="slope").measured > 20 * r.value


# ----------------------------------------------------------------------------- reference

def test_a_reference_hole_stays_a_hole_and_its_dropouts_are_filled(tmp_path):
    """The reference map has a 6 mm hole and 5 isolated invalid pixels inside the
    aperture; subtracting it gives the map both. The isolated pixels (0.1 mm from data,
    within half the 1 mm shortest period) are filled, exactly those 5; the 6 mm hole is
    left. The band value is the one of the same map corrected by hand (map - reference
    with the same pixels invalid) analysed as a single file."""
    s = surface()
    ref_z = 0.2 * np.cos(2 * np.pi * 0.7 * grid_mm((N, N), DX, DX)[0])
    ref_z[hole_mask()] = np.nan
    pix = [(30, 64), (64, 30), (90, 70), (70, 20), (50, 50)]
    for i, j in pix:
        ref_z[i, j] = np.nan
    ca = Circle(CA_MM, (0.0, 0.0)).mask(s)
    assert all(ca[i, j] and not hole_mask()[i, j] for i, j in pix)
    ref = mt.HeightMap(ref_z, DX)
    rp = str(mt.save(ref, tmp_path / "ref.npz"))
    sp_ = spec(bands=band("B1", 0.4, 1.0))
    fa = analyze_site(sp_, repeats_site([s], reference=rp))
    assert fa.source is not None and fa.source.reference == rp
    sp = fa.spectrum
    assert sp.filled_pixels == len(pix) and len(sp.holes_left) == 1
    assert not sp.valid[hole_mask()].any()
    by_hand = analyze_file(sp_, "m", s.replace(s.z_nm - ref_z), "by-hand.npy")
    crit = sp_.criterion("m.band.B1.rms")
    assert evaluate(crit, fa).value == pytest.approx(evaluate(crit, by_hand).value, rel=1e-9)


# ----------------------------------------------------------------------------- item 7

def _run(tmp: Path, spec_text: str, args: list[str]) -> tuple[int, dict]:
    import json

    sp = tmp / "s.toml"
    sp.write_text(spec_text, encoding="utf-8")
    out = tmp / "r.json"
    code = main(["check", "--spec", str(sp), "--json", str(out), "--no-color", *args])
    return code, json.loads(out.read_text()) if out.exists() else {}


def test_an_aperture_larger_than_the_repeats_is_not_measurable(tmp_path):
    """A 60 mm clear aperture on repeats of a 25.6 mm field: every criterion of the
    averaged site is not measurable, naming the aperture and the field (exit 3)."""
    text = ('schema = "metrology.spec/1"\nfull_band = false\n[part]\nname = "flat"\n'
            '[measurements.m]\ninstrument = "fizeau"\nmatch.filename = ["*"]\n'
            '[measurements.m.aperture]\ndiameter_mm = 60.0\ncentre_mm = [0.0, 0.0]\n'
            + band("B1", 0.4, 1.0))
    (tmp_path / "in").mkdir()
    files = [str(mt.save(m, tmp_path / "in" / f"m_rep{k + 1}.npz"))
             for k, m in enumerate(noisy(surface(), 3))]
    code, rep = _run(tmp_path, text, ["--repeats", *files])
    assert code == 3
    (part,) = rep["parts"]
    assert part["files"][0]["source"]["n_repeats"] == 3
    for c in part["criteria"]:
        assert c["verdict"] == "not-measurable", c["id"]
    reasons = " ".join(c["reason"] for c in part["criteria"])
    assert "Ø60 mm" in reasons and "larger than the measured field" in reasons


def test_an_ill_conditioned_fit_of_repeats_flags_its_zernike_criteria_keeps_the_bands():
    """Repeats of a 2 mm strip across the 23 mm aperture: the Fringe Z1..Z37 basis has a
    condition number above 1e6 there, for the average and for every repeat. The fits are
    not refused (the residual does not depend on the conditioning): the Zernike criteria
    are not measurable, naming the condition number, and the band on the residual is
    judged with the repeats' U (N = 3)."""
    s = surface()
    strip = np.zeros((N, N), dtype=bool)
    strip[N // 2 - 5:N // 2 + 5] = True
    maps = [m.apply_mask(strip) for m in noisy(s, 3)]
    form = ('[form]\nmeasurement = "m"\nfit_first_term = 4\nfit_last_term = 37\n'
            "residual_rms_nm_max = 100.0\n[form.term_limits_nm]\nastigmatism = 100.0\n")
    sp_ = spec(form=form, bands=band("B3", 1.5, 2.4))
    fa = analyze_site(sp_, repeats_site(maps))
    rec = fa.residual_fit
    assert rec is not None and rec.error is None and rec.fit.condition_number > 1e6
    assert len(rec.repeat_fits) == 3
    assert all(f.condition_number > 1e6 for f in rec.repeat_fits)
    term = evaluate(sp_.criterion("m.form.term.astigmatism"), fa)
    assert term.verdict == "not-measurable" and "condition number" in term.reason
    b = evaluate(sp_.criterion("m.band.B3.rms"), fa)
    assert b.value is not None and b.uncertainty.n_repeats == 3 and b.U > 0


# ----------------------------------------------------------------------------- U, item 6

def test_evans_pvr_u_over_repeats_is_type_a_of_each_repeats_evans_pvr():
    """Evans' PVr (its own Fringe Z1..Z36 fit) of an average of 4 repeats: the value is
    metrology.pvr of the average, and U = 2 s / sqrt(4), s the sample standard deviation
    of metrology.pvr of each repeat on the common mask (a second code path: the public
    function, not the criterion's fit). The band on the same site keeps its U on the
    repeats' form residuals (the [form] fit's, not the PVr's own fit's: the average of
    the repeats' residuals is the residual the band's value is computed on)."""
    s = surface()
    x, y = grid_mm((N, N), DX, DX)
    rho2 = (x * x + y * y) / (CA_MM / 2) ** 2
    form_z = 3.0 * (2 * rho2 - 1) + 1.0 * rho2 * np.cos(2 * np.arctan2(y, x))
    maps = noisy(s.replace(s.z_nm + form_z), 4, sigma=0.5)
    form = ('[form]\nmeasurement = "m"\nfit_first_term = 4\nfit_last_term = 37\n'
            "pvr_nm_max = 1000.0\nresidual_rms_nm_max = 100.0\n")
    sp_ = spec(form=form, bands=band("B2", 0.4, 1.0))
    fa = analyze_site(sp_, repeats_site(maps))
    r = evaluate(sp_.criterion("m.form.pvr"), fa)
    ca = Circle(CA_MM, (0.0, 0.0)).mask(s)
    kw = dict(variant="evans", centre_mm=(0.0, 0.0), r_norm_mm=CA_MM / 2)
    avg = mt.average([m.apply_mask(ca) for m in maps]).map
    assert r.value == pytest.approx(mt.pvr(avg, **kw).pvr_nm, rel=1e-9)
    each = [mt.pvr(m.apply_mask(avg.valid), **kw).pvr_nm for m in maps]
    assert r.U == pytest.approx(2.0 * np.std(each, ddof=1) / math.sqrt(4), rel=1e-6)
    assert r.uncertainty.n_repeats == 4 and "Z1-Z36" in r.evidence.definition
    assert fa.residual_fit.key[2] == (1, 2, 3, *range(4, 38))
    b = evaluate(sp_.criterion("m.band.B2.rms"), fa)
    assert fa.spectrum.bands.estimate(0.4, 1.0).measured == pytest.approx(b.value, rel=1e-9)
