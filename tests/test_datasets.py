"""The shipped sample parts (datasets/parts) against their ground truth.

Every part folder is checked once per session with the example spec. The
truth each file carries (``.truth.json``, ``part.json``) was written by
``datasets/build.py`` from the generator's parameters alone
(:func:`metrology.synth.expected_values`: the coefficients put in, the power
laws of the random part, the tool marks, the set-ups' grids and masks), not by
analysing any map. The tests ask three things of the checker on the stored,
noisy files:

* the verdict of every criterion of every file and part is the truth's;
* its numbers agree with the model within the model's own scatter (the RMS of
  what the random part projects onto each Zernike term; the periodogram
  scatter of each band plus a stated allowance for finite-field effects the
  infinite-plane model leaves out);
* its numbers agree, to 3-5 %, with a plain-NumPy reference of the definitions
  (``tests/reference_check.py``) evaluated on the noise-free map of each file,
  regenerated from the same seeds.

Nothing here is skipped: a missing part folder is a failure.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

import metrology as mt
from metrology import synth as S
from metrology.check import FAIL, NOT_MEASURABLE, PASS, check, exit_code

from reference_check import _fringe_basis, reference_values

REPO = Path(__file__).resolve().parent.parent
DATASETS = REPO / "datasets"
PARTS = DATASETS / "parts"
SPEC_PATH = DATASETS / "specs" / "caf2-wafer-inspection.toml"
_RANK = {PASS: 0, NOT_MEASURABLE: 1, FAIL: 2}

#: agreement with the reference on the noise-free map: band RMS, residual RMS, PVr ...
REF_RTOL = 0.03
#: ... band slope and the PSD-limit ratio (a maximum over log bins) get a little more room
REF_SLOPE_PSD_RTOL = 0.05
#: Zernike terms against the reference: noise 0.05 nm over ~2e5 pixels is ~1e-4 nm
REF_ZERNIKE_ABS_NM = 0.01
#: what the infinite-plane band model leaves out (Hann leakage of the steep spectrum below
#: a band edge near 2/L of a 2.8 mm field, the terms removed, a tool mark just below the
#: band), on top of 4 x the band's periodogram scatter
BAND_MODEL_ALLOWANCE = 0.15


def _load_build():
    spec = importlib.util.spec_from_file_location("datasets_build", DATASETS / "build.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


build = _load_build()
PART_NAMES = [p.name for p in build.PARTS]
N_PARTS = len(PART_NAMES)
GUARDED_SPEC_PATH = DATASETS / "specs" / "caf2-wafer-inspection-guarded.toml"


def _site_name(label: str) -> str:
    """The data file a site's truth is in: the file, or the first of its repeats."""
    return Path(label.split(" (+", 1)[0]).name


def _worst(vs):
    return max(vs, key=_RANK.__getitem__, default=PASS)


def _sidecar(data_file: str | Path) -> dict:
    p = Path(data_file)
    p = p.with_name(_site_name(p.name))
    return json.loads(p.with_name(p.name + ".truth.json").read_text())


@pytest.fixture(scope="module")
def spec():
    return mt.load_spec(SPEC_PATH)


@pytest.fixture(scope="module")
def report(spec):
    missing = [n for n in PART_NAMES if not (PARTS / n).is_dir()]
    assert not missing, f"part folders missing: {missing}; run python datasets/build.py"
    return check(spec, [PARTS / n for n in PART_NAMES])


@pytest.fixture(scope="module")
def results(report):
    return {p.name: p for p in report.parts}


# ----------------------------------------------------------------------------- layout

def test_shipped_folders_match_the_build_table():
    shipped = sorted(p.name for p in PARTS.iterdir() if p.is_dir())
    assert shipped == sorted(PART_NAMES)


@pytest.mark.parametrize("name", PART_NAMES)
def test_part_folder_layout(name):
    folder = PARTS / name
    part = json.loads((folder / "part.json").read_text())
    data = sorted(p.name for p in folder.iterdir()
                  if p.is_file() and not p.name.endswith(".json"))
    assert sorted(part["files"]) == data
    refs = set(part.get("references", {}).values())
    sites = {n.split(".")[0].split("_rep")[0] for n in data if n not in refs}
    tags = [n.split("_")[1] for n in sites]
    assert tags.count("fizeau") == 1 and tags.count("csi5x") == 3 and tags.count("csi50x") == 3
    for site, files in part.get("repeats", {}).items():
        assert len(files) >= 2 and all(f.split("_rep")[0] == site.split("_rep")[0]
                                       for f in files)
    for n in data:
        sc = json.loads((folder / (n + ".truth.json")).read_text())
        assert sc["file"] == n and sc["part"] == name
        if n in refs:
            assert sc["role"] == "reference" and "criteria" not in sc
            continue
        assert sc["expected_verdict"] in (PASS, FAIL, NOT_MEASURABLE)
        # the expected verdict follows from the truth values and the limits it records
        for cid, c in sc["criteria"].items():
            v = c["value"]
            if v is None:
                want = NOT_MEASURABLE
            else:
                want = PASS if (v <= c["limit"] if c["bound"] == "max" else v >= c["limit"]) \
                    else FAIL
            assert c["verdict"] == want, (n, cid)
        assert sc["expected_verdict"] == _worst(c["verdict"] for c in sc["criteria"].values())


def test_dataset_size_under_22_mb():
    """20 MB for seven parts; the eighth (part h, all float32 x3p: 1.8 MB) raised it to 22."""
    total = sum(p.stat().st_size for p in DATASETS.rglob("*") if p.is_file())
    assert total < 22e6, f"datasets/ holds {total / 1e6:.1f} MB"


def test_required_kinds_of_parts_exist():
    parts = {n: json.loads((PARTS / n / "part.json").read_text()) for n in PART_NAMES}
    v = [p["expected_verdict"] for p in parts.values()]
    assert v.count(PASS) >= 3 and NOT_MEASURABLE in v
    failing = {c for p in parts.values() for c in p["failing_criteria"]}
    assert {"fizeau.form.term.astigmatism", "fizeau.band.MSF1.rms",
            "csi-50x.band.HSF.rms"} <= failing
    nm = {c for p in parts.values() for c in p["not_measurable_criteria"]}
    assert "csi-50x.band.HSF.rms" in nm
    # one passing part has a Fizeau map with ~30 % of the aperture lost
    g = _sidecar(next(p for p in (PARTS / "part-g-fizeau-dropouts").glob("*_fizeau.*")
                      if not p.name.endswith(".json")))
    vf = g["criteria"]["fizeau.requirements.valid_fraction"]["value"]
    assert 0.66 <= vf <= 0.72 and g["expected_verdict"] == PASS


# ----------------------------------------------------------------------------- verdicts

@pytest.mark.parametrize("name", PART_NAMES)
def test_part_verdict_matches_part_json(results, name):
    pr = results[name]
    part = json.loads((PARTS / name / "part.json").read_text())
    got = {c.id: c.verdict for c in pr.criteria}
    assert got == part["criteria"]
    assert pr.verdict == part["expected_verdict"]
    assert sorted(k for k, v in got.items() if v == FAIL) == sorted(part["failing_criteria"])
    assert sorted(k for k, v in got.items() if v == NOT_MEASURABLE) == \
        sorted(part["not_measurable_criteria"])
    assert not pr.measurements_missing


@pytest.mark.parametrize("name", PART_NAMES)
def test_file_verdicts_match_sidecars(results, name):
    pr = results[name]
    per_file: dict[str, dict[str, str]] = {}
    for c in pr.criteria:
        if c.measurement == "composite":  # judged once per part: part.json (test above)
            continue
        for s in c.sites:
            if c.id.endswith(".sites"):  # one value for all files of the measurement
                for fa in pr.files:
                    if fa.measurement == c.measurement:
                        per_file.setdefault(_site_name(fa.path), {})[c.id] = s.verdict
            else:
                per_file.setdefault(_site_name(s.file), {})[c.id] = s.verdict
    assert len(per_file) == 7
    for fname, got in per_file.items():
        sc = _sidecar(PARTS / name / fname)
        want = {cid: c["verdict"] for cid, c in sc["criteria"].items()}
        assert got == want, fname
        assert _worst(got.values()) == sc["expected_verdict"], fname
        assert sorted(k for k, v in got.items() if v == FAIL) == sorted(sc["failing_criteria"])
        assert sorted(k for k, v in got.items() if v == NOT_MEASURABLE) == \
            sorted(sc["not_measurable_criteria"])


def test_report_exit_code(report):
    parts = [json.loads((PARTS / n / "part.json").read_text()) for n in PART_NAMES]
    codes = [p["expected_exit_code"] for p in parts]
    assert exit_code(report) == (1 if 1 in codes else 3 if 3 in codes else 0) == 1
    for p, pr in zip(parts, report.parts, strict=True):
        assert {PASS: 0, FAIL: 1, NOT_MEASURABLE: 3}[pr.verdict] == p["expected_exit_code"]


# ----------------------------------------------------------------------------- values

def _site_pairs(results, kind: str):
    """(file, criterion id, measured, truth dict) for every site value of a criterion type."""
    out = []
    for name in PART_NAMES:
        for c in results[name].criteria:
            if c.type != kind:
                continue
            for s in c.sites:
                sc = _sidecar(PARTS / name / _site_name(s.file))
                out.append((_site_name(s.file), c.id, s.value, sc["criteria"][c.id]))
    return out


@pytest.mark.parametrize("kind", ["band_rms", "band_slope"])
def test_band_values_match_the_model(results, kind):
    pairs = _site_pairs(results, kind)
    # per part 1 Fizeau + 3 x MSF2 + 3 x HSF band values, 1 Fizeau slope
    assert len(pairs) == (N_PARTS * 7 if kind == "band_rms" else N_PARTS)
    bad = []
    for f, cid, got, want in pairs:
        if (got is None) != (want["value"] is None):
            bad.append((f, cid, got, want["value"]))
        elif got is not None:
            tol = 4.0 * want["rel_sigma"] + BAND_MODEL_ALLOWANCE
            if abs(got / want["value"] - 1.0) > tol:
                bad.append((f, cid, got, want["value"], tol))
    assert not bad, bad
    if kind == "band_rms":
        assert sum(p[3]["value"] is not None for p in pairs) == N_PARTS * 7 - 3  # 3 undersampled


def test_zernike_terms_match_the_model_within_its_scatter(results):
    """|measured - model| <= 4 sigma, sigma the RMS of what the random part projects onto
    the terms (from its spectrum, Noll's transform), plus the noise (~1e-4 nm)."""
    n = 0
    for name in PART_NAMES:
        for c in results[name].criteria:
            if c.type not in ("zernike_term", "power", "zernike_other"):
                continue
            (s,) = c.sites
            want = _sidecar(PARTS / name / _site_name(s.file))["criteria"][c.id]
            assert abs(s.value - want["value"]) <= 4 * want["sigma_nm"] + 0.002, (name, c.id)
            n += 1
    assert n == N_PARTS * 6


def test_fizeau_fits_scatter_about_the_model_as_predicted(report):
    """The fitted Z4..Z37 of the Fizeau maps deviate from the model coefficients by
    the predicted scatter: normalised deviations have an RMS near 1 (not 0.1: the model
    sigma is not inflated; not 3: it is not too small) and none beyond 4."""
    z = []
    for part in report.parts:
        fa = next(f for f in part.files if f.measurement == "fizeau")
        fit = next(r.fit for r in fa.fits if r.fit is not None)
        zern = _sidecar(fa.path)["zernike"]
        for j in range(4, 38):
            z.append((fit.coefficient(j) - zern["model_nm"][f"Z{j}"]) / zern["sigma_nm"][f"Z{j}"])
    z = np.array(z)
    assert len(z) == N_PARTS * 34
    assert 0.6 < float(np.sqrt(np.mean(z ** 2))) < 1.5 and float(np.abs(z).max()) < 4.0


@pytest.fixture(scope="module")
def reference(spec):
    """Reference values on the noise-free map of every shipped file (regenerated)."""
    out = {}
    for p in build.PARTS:
        js = build.jobs(p)
        sites = build.n_sites(js)
        for job in js:
            if job.reference or (job.repeat or 1) > 1:  # one truth per site
                continue
            sm = job.synthesize()
            out[(p.name, job.name)] = reference_values(spec, job.measurement, sm.truth,
                                                       n_sites=sites[job.measurement])
    return out


@pytest.mark.parametrize("kinds,rtol,atol", [
    (("band_rms", "form_residual", "pvr"), REF_RTOL, 0.0),
    (("band_slope", "psd_limit"), REF_SLOPE_PSD_RTOL, 0.0),
    (("zernike_term", "power", "zernike_other"), 0.0, REF_ZERNIKE_ABS_NM),
])
def test_checker_matches_the_reference_on_the_noise_free_maps(results, reference, kinds, rtol,
                                                              atol):
    """The checker on the stored noisy files (dropouts interpolated, centre found from the
    data) against the plain-NumPy reference on the noise-free maps (true centre)."""
    bad, n = [], 0
    for name in PART_NAMES:
        for c in results[name].criteria:
            if c.type not in kinds:
                continue
            for s in c.sites:
                want = reference[(name, _site_name(s.file))][c.id]
                n += 1
                if (s.value is None) != (want is None):
                    bad.append((s.file, c.id, s.value, want))
                elif want is not None and not math.isclose(s.value, want, rel_tol=rtol,
                                                           abs_tol=atol):
                    bad.append((_site_name(s.file), c.id, s.value, want))
    assert n >= 7 and not bad, bad


# ----------------------------------------------------------------------------- generator

def _close(a, b, path=""):
    """Sidecars equal up to float rounding (numbers to 1e-9 relative)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (u, v) in enumerate(zip(a, b, strict=True)):
            _close(u, v, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12), path
    else:
        assert a == b, path


@pytest.mark.parametrize("fmt", ["datx", "metropro", "x3p", "sdf"])
def test_generator_is_deterministic(tmp_path, spec, fmt):
    """Building a file twice gives the same bytes; the shipped file is that build up to
    floating-point rounding (the last bits follow the numerical libraries' versions)."""
    job = next(j for p in build.PARTS for j in build.jobs(p)
               if j.fmt == fmt and j.measurement == "csi-50x" and not j.reference)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    sc = build.build_file(job, tmp_path / "a", spec, n_sites=3)
    build.build_file(job, tmp_path / "b", spec, n_sites=3)
    assert (tmp_path / "a" / job.name).read_bytes() == (tmp_path / "b" / job.name).read_bytes()
    shipped = PARTS / job.part.name / job.name
    new, old = mt.load(tmp_path / "a" / job.name), mt.load(shipped)
    assert np.array_equal(new.valid, old.valid)
    step = 1e-6 if fmt != "metropro" else 0.01  # MetroPro stores integer counts
    assert np.nanmax(np.abs(new.z_nm - old.z_nm)) <= step, job.name
    _close(sc, _sidecar(shipped))


def test_reference_basis_agrees_with_zernike_surface():
    """The reference's Fringe basis (tests/reference.py, factorial formula) and
    metrology.zernike_surface (the generator's form) are one set of polynomials."""
    rng = np.random.default_rng(3)
    coef = rng.normal(size=37)
    hm = mt.zernike_surface(coef, shape=(61, 67), dx_mm=1.0, r_norm_mm=27.0,
                            centre_mm=(1.5, -2.0), outside="evaluate")
    x = (np.arange(67) - 33.0)[None, :] * np.ones((61, 1))
    y = (np.arange(61) - 30.0)[:, None] * np.ones((1, 67))
    basis = _fringe_basis(x.ravel(), y.ravel(), range(1, 38), 27.0, (1.5, -2.0))
    np.testing.assert_allclose(coef @ basis, hm.z_nm.ravel(), atol=1e-9)


def test_truth_of_a_pure_ripple_is_its_rms(spec):
    """A straight ripple of amplitude A in a microscope field: band RMS A/sqrt(2), from the
    model (exactly) and from the reference on the synthesised map (to 1 %)."""
    ripple = S.RasterRipple(period_mm=0.2, angle_deg=20.0, amplitude_nm=0.3)
    surf = S.Surface(build.form(), random=(), tool_marks=(ripple,), base_radius_mm=1e9)
    setup = S.MicroscopeSetup("5x", (200, 200), 0.014, (5.0, 3.0), noise_rms_nm=0.0,
                              level_tilt_nm=0.0)
    sm = S.measure_microscope(surf, setup, seed=1)
    ev = S.expected_values(surf, setup, spec, "csi-5x", measured_valid=sm.measured.valid,
                           n_sites=3)
    assert ev["csi-5x.band.MSF2.rms"]["value"] == pytest.approx(0.3 / math.sqrt(2), rel=1e-12)
    ref = reference_values(spec, "csi-5x", sm.truth, n_sites=3)
    # Hann leakage of a 14-period ripple outside 1-20 /mm is far below 1 %
    assert ref["csi-5x.band.MSF2.rms"] == pytest.approx(0.3 / math.sqrt(2), rel=0.01)


def test_zernike_scatter_formula_against_white_noise():
    """Noll's transform gives Var(c) = S / (pi R^2) for white noise of areal PSD S (every
    orthonormal term sees the mean-square of white noise over the disk area): a check of
    zernike_sigma_nm independent of the datasets."""
    s = 0.01
    surf = S.Surface(build.form(), random=(S.RandomComponent(s, 0.0, 1e-4, 1e3),))
    for n in (0, 2, 6):
        got = S.zernike_sigma_nm(surf, n, 10.0, 1e3)
        assert got == pytest.approx(math.sqrt(s / (math.pi * 100.0)), rel=0.01), n


def test_model_slope_variance_matches_numerical_integral():
    c = S.RandomComponent(0.0025, 3.0, 0.1)
    f = np.geomspace(0.1, 1.0, 20001)
    integrand = 2 * np.pi * f * (2 * np.pi * f) ** 2 * c.psd2d(f)
    num = float(np.sum((integrand[1:] + integrand[:-1]) / 2 * np.diff(f)))
    assert c.slope_variance_urad2(0.1, 1.0) == pytest.approx(num, rel=1e-6)
    # and the band variance of the brief's numbers: 0.376 nm over 0.1-1 /mm
    assert math.sqrt(c.band_variance_nm2(0.1, 1.0)) == pytest.approx(0.3760, abs=1e-4)


# ----------------------------------------------------------------------------- command line

@pytest.mark.parametrize("name", ["part-a-pass", "part-c-astigmatism", "part-f-hsf-undersampled",
                                  "part-i-repeats"])
def test_command_line_exit_code(name, capsys):
    """`metrology check --spec <spec> <part>` exits with the part's expected code."""
    from metrology.cli import main

    want = json.loads((PARTS / name / "part.json").read_text())["expected_exit_code"]
    code = main(["check", "--spec", str(SPEC_PATH), str(PARTS / name)])
    out = capsys.readouterr().out
    assert code == want, out
    assert name in out


# ----------------------------------------------------------------------------- full band

#: the dropout fill (part g: 30 % of the Fizeau aperture interpolated) attenuates the Fizeau
#: map's PSD towards its Nyquist frequency: the bridge band (Fizeau up to 2.5 /mm) reads
#: 7 % low in RMS and 11 % in slope there, a bias the infinite-plane model leaves out
FILL_ALLOWANCE = {"part-g-fizeau-dropouts": 0.12}
#: tolerance of each composite value against the model truth: band RMS 5 % (the issue's
#: target); slopes weigh (2 pi f)^2 and so the instruments' white noise near their upper
#: ends (+2 to +6 %), plus 2 standard errors; TIS 5 %; the BTDF ratio is a maximum over 51
#: scattered angles
COMPOSITE_RTOL = {"composite_band_rms": 0.05, "composite_band_slope": 0.05,
                  "scatter_tis": 0.05, "scatter_brdf": 0.15}


def test_composite_values_match_the_model(results):
    """Every criterion judged on the part's composite PSD (MSF-bridge RMS and slope, the
    266 nm TIS and BTDF) against the generator's truth in part.json: the verdict (also in
    test_part_verdict_matches_part_json) and the value."""
    bad, n = [], 0
    for name in PART_NAMES:
        truth = json.loads((PARTS / name / "part.json").read_text())["part_criteria"]
        for c in results[name].criteria:
            if c.measurement != "composite":
                continue
            want = truth[c.id]
            n += 1
            assert c.verdict == want["verdict"], (name, c.id)
            if want["value"] is None:
                assert c.value is None and c.reason, (name, c.id)
                continue
            tol = COMPOSITE_RTOL[c.type] + FILL_ALLOWANCE.get(name, 0.0)
            if c.type == "composite_band_slope":
                tol += 2.0 * c.evidence.stderr / c.value
            if abs(c.value / want["value"] - 1.0) > tol:
                bad.append((name, c.id, c.value, want["value"], tol))
    assert n == N_PARTS * 4 and not bad, bad


def test_composite_part_fails_only_on_the_composite(results):
    """Part h: every single-instrument criterion passes; the composite band that no single
    instrument resolves (0.6-3 /mm: the Fizeau serves up to 2.5 /mm, the 5x from 2.1 /mm)
    fails in RMS and slope, and the report says which instrument served which range."""
    pr = results["part-h-msf-bridge"]
    failing = sorted(c.id for c in pr.criteria if c.verdict == FAIL)
    assert failing == ["composite.band.MSF-bridge.rms", "composite.band.MSF-bridge.slope"]
    c = next(c for c in pr.criteria if c.id == "composite.band.MSF-bridge.rms")
    served = {s for _, _, s in c.evidence.served}
    assert {"fizeau", "csi-5x"} <= {x for s in served for x in s.split("+")}
    assert "served by fizeau 0.6-" in c.reason and "csi-5x 2.5-3 /mm" in c.reason


def _fullband_spec_text() -> str:
    """The example spec's measurements and single-file criteria, with composite bands that
    tile 0.2-400 /mm (one per instrument, two straddling two instruments, the whole range,
    a Gaussian and a profile band) and the PSD line judged on the composite."""
    s = SPEC_PATH.read_text(encoding="utf-8")
    s = s[:s.index("# ---------------------------------------------------------------- PSD limit")]
    bands = [("C-low", 0.2, 0.6, "areal", "sharp"), ("C-bridge", 0.6, 3.0, "areal", "sharp"),
             ("C-mid", 3.0, 30.0, "areal", "sharp"), ("C-bridge2", 25.0, 45.0, "areal", "sharp"),
             ("C-high", 50.0, 400.0, "areal", "sharp"), ("C-all", 0.2, 400.0, "areal", "sharp"),
             ("C-gauss", 0.6, 3.0, "areal", "gaussian"), ("C-prof", 3.0, 30.0, "profile", "sharp")]
    out = [s, "[composite]\nstrict_overlap = true\n"]
    for name, lo, hi, kind, flt in bands:
        out.append(f'[[bands]]\nname = "{name}"\nmeasurement = "composite"\nf_lo_per_mm = {lo}\n'
                   f'f_hi_per_mm = {hi}\nkind = "{kind}"\nfilter = "{flt}"\nrms_nm_max = 1.0\n'
                   + ("slope_urad_max = 10.0\n" if name in ("C-bridge", "C-prof") else ""))
    out.append('[psd]\nmeasurement = "composite"\nkind = "profile"\nfactor_max = 2.0\n'
               '[[psd.segments]]\na_nm2_mm = 0.028\nb = 1.5\nf_lo_per_mm = 0.2\n'
               'f_hi_per_mm = 400.0\n')
    return "\n".join(out)


@pytest.fixture(scope="module")
def fullband_spec():
    return mt.parse_spec(_fullband_spec_text(), "fullband-test.toml")


def _part_h_files():
    return sorted(p for p in (PARTS / "part-h-msf-bridge").iterdir()
                  if p.is_file() and not p.name.endswith(".json"))


@pytest.fixture(scope="module")
def fullband_h(fullband_spec):
    from metrology.check import check_part

    part = build.part_by_name("part-h-msf-bridge")
    return (check_part(fullband_spec, _part_h_files(), part_check=True),
            build.part_truth(part, fullband_spec))


def test_composite_band_rms_within_five_percent_of_truth_in_every_band(fullband_h):
    """The composite part against its generator's truth, in bands served by one instrument,
    straddling two (0.6-3: Fizeau + 5x; 25-45: 5x + 50x), over the whole range, under the
    Gaussian filter and along a profile: RMS within 5 %; slopes within 10 % (the 5x's
    white noise near its Nyquist frequency weighs (2 pi f)^2); the PSD line's largest ratio
    (a maximum over scattered bins) within -20 / +50 %."""
    pr, truth = fullband_h
    got = {c.id: c for c in pr.criteria if c.measurement == "composite"}
    assert len(got) == 11
    for cid, c in got.items():
        want = truth[cid]["value"]
        assert c.verdict == truth[cid]["verdict"] == PASS, cid
        r = c.value / want - 1.0
        if c.type == "composite_band_rms":
            assert abs(r) <= 0.05, (cid, c.value, want)
        elif c.type == "composite_band_slope":
            assert abs(r) <= 0.10, (cid, c.value, want)
        else:
            assert -0.2 <= r <= 0.5, (cid, c.value, want)
    straddle = got["composite.band.C-bridge2.rms"].evidence.served
    assert {s for _, _, s in straddle} >= {"csi-5x", "csi-50x"}
    # the Gaussian band reads lower than the sharp one (its weights are < 1 inside the band)
    # and needs data over its support, 0.39 f_lo to 1.82 f_hi
    g = got["composite.band.C-gauss.rms"]
    assert g.value < got["composite.band.C-bridge.rms"].value
    assert g.evidence.support_per_mm == pytest.approx((0.2339, 5.4678), rel=1e-3)
    assert g.convention["filter"] == "gaussian" and "16610-61" in g.convention[
        "filter_standard"]


def test_coarse_file_alone_cannot_judge_the_high_frequency_band(fullband_spec, fullband_h):
    """The Fizeau map alone: the high-frequency composite band is not measurable, naming
    the range the composite lacks; the full set of files gives it a verdict."""
    from metrology.check import check_part

    fiz = [p for p in _part_h_files() if "fizeau" in p.name]
    pr = check_part(fullband_spec, fiz)
    hi = next(c for c in pr.criteria if c.id == "composite.band.C-high.rms")
    assert hi.verdict == NOT_MEASURABLE
    assert "needs data up to 400/mm" in hi.reason and "ends at 2.5/mm" in hi.reason
    low = next(c for c in pr.criteria if c.id == "composite.band.C-low.rms")
    assert low.verdict == PASS                 # what the Fizeau serves is still judged
    line = next(c for c in pr.criteria if c.id == "composite.psd")
    assert line.verdict == NOT_MEASURABLE
    assert "needs frequencies no measurement serves: 2.5-400 /mm" in line.reason
    full = next(c for c in fullband_h[0].criteria if c.id == "composite.band.C-high.rms")
    assert full.verdict in (PASS, FAIL) and full.value is not None


@pytest.fixture(scope="module")
def mis_scaled_part(tmp_path_factory):
    """Part h with its 5x heights scaled by 2 (a calibration error)."""
    folder = tmp_path_factory.mktemp("mis-scaled")
    for p in _part_h_files():
        hm = mt.load(p)
        if "csi5x" in p.name:
            hm = hm.replace(2.0 * hm.z_nm)
        mt.save(hm, folder / p.name, format="x3p")
    return sorted(folder.iterdir())


def test_mis_scaled_microscope_is_flagged(spec, mis_scaled_part):
    """A 5x with heights 2x too large disagrees with both neighbours by ~4x in PSD: both
    overlaps are flagged, and with the example spec's strict_overlap every composite
    criterion is not measurable, saying why."""
    from metrology.check import check_part

    pr = check_part(spec, mis_scaled_part, part_check=True)
    comp = [c for c in pr.criteria if c.measurement == "composite"]
    assert comp and all(c.verdict == NOT_MEASURABLE for c in comp)
    assert all("strict_overlap" in c.reason and "DISAGREE" in c.reason for c in comp)
    flags = comp[0].evidence.overlap_flags
    assert len(flags) == 2 and all("csi-5x" in f for f in flags)
    # without strict_overlap the verdict stands and the flag is in the result
    relaxed = mt.parse_spec(SPEC_PATH.read_text().replace("strict_overlap = true",
                                                          "strict_overlap = false"))
    pr = check_part(relaxed, mis_scaled_part, part_check=True)
    c = next(c for c in pr.criteria if c.id == "composite.band.MSF-bridge.rms")
    assert c.verdict in (PASS, FAIL) and "overlap disagreement flagged" in c.reason


def test_calibrated_instruments_agree_in_every_shipped_part(results):
    """No shipped part (all calibrated) has a flagged overlap: strict_overlap does not turn
    a good part not-measurable."""
    for name in PART_NAMES:
        c = next(c for c in results[name].criteria if c.id == "composite.band.MSF-bridge.rms")
        assert c.evidence.overlaps and not c.evidence.overlap_flags, name


# ----------------------------------------------------------------------------- repeats part

REPEATS_PART = "part-i-repeats"


def _repeats_site(pr, cid: str):
    c = next(c for c in pr.criteria if c.id == cid)
    return c, next(s for s in c.sites if "(+3 repeats)" in s.file)


def test_repeats_part_is_averaged_with_its_reference_subtracted(results):
    pr = results[REPEATS_PART]
    part = json.loads((PARTS / REPEATS_PART / "part.json").read_text())
    (site_files,) = part["repeats"].values()
    fa = next(f for f in pr.files if f.source is not None and f.source.n_repeats > 1)
    assert [Path(f).name for f in fa.source.files] == site_files
    assert fa.source.repeats_by.startswith("file names")
    ref = part["references"]["csi-5x"]
    five = [f for f in pr.files if f.measurement == "csi-5x"]
    assert len(five) == 3 and all(Path(f.source.reference).name == ref for f in five)
    assert all(f.measurement != "csi-5x" or f.source.reference_sha256 for f in pr.files)


def test_repeats_noise_floor_within_10_percent_of_the_injected_noise(results):
    """The noise floor the check reports for the averaged site, against the set-up's noise
    PSD from the generator's parameters (white + vibration, over the band's cells)."""
    _, site = _repeats_site(results[REPEATS_PART], "csi-5x.band.MSF2.rms")
    sc = _sidecar(PARTS / REPEATS_PART / _site_name(site.file))
    want = sc["noise_floor"]["bands"]["MSF2"]["average_nm"]
    u = site.uncertainty
    assert u.n_repeats == 4 and u.noise == pytest.approx(want, rel=0.10)
    # the single-map sites of the same measurement have no noise floor
    c = next(c for c in results[REPEATS_PART].criteria if c.id == "csi-5x.band.MSF2.rms")
    assert [s.uncertainty.noise for s in c.sites if s is not site] == [None, None]


def test_repeats_part_fails_without_its_reference(tmp_path, spec):
    """Without the reference file the 5x maps keep the objective's reference ripple: MSF2
    becomes sqrt(truth² + A²/2) (A from the generator) and fails; with it, it passes."""
    import shutil

    part = json.loads((PARTS / REPEATS_PART / "part.json").read_text())
    ref = part["references"]["csi-5x"]
    dst = tmp_path / REPEATS_PART
    dst.mkdir()
    for f in part["files"]:
        if f != ref and "csi5x" in f:
            shutil.copy(PARTS / REPEATS_PART / f, dst / f)
    pr = check(spec, [dst], as_name=None).parts[0]
    c = next(c for c in pr.criteria if c.id == "csi-5x.band.MSF2.rms")
    assert c.verdict == FAIL
    for s in c.sites:
        sc = _sidecar(PARTS / REPEATS_PART / _site_name(s.file))
        a = sc["reference_error"]["marks"][0]["amplitude_nm"]
        want = math.hypot(sc["criteria"][c.id]["value"], a / math.sqrt(2.0))
        assert s.value == pytest.approx(want, rel=0.15)
        assert s.file and "reference" not in s.reason


# ----------------------------------------------------------------------------- guarded spec

@pytest.fixture(scope="module")
def guarded(report):
    spec = mt.load_spec(GUARDED_SPEC_PATH)
    return {p.name: p for p in check(spec, [PARTS / n for n in PART_NAMES]).parts}


def test_guarded_spec_is_the_example_spec_but_for_its_rule():
    import tomllib

    a = tomllib.loads(SPEC_PATH.read_text(encoding="utf-8"))
    b = tomllib.loads(GUARDED_SPEC_PATH.read_text(encoding="utf-8"))
    assert (b.pop("decision_rule"), b.pop("noise_correction"), b.pop("display_units")) == \
        ("guarded", True, ["nm", "fringes"])
    a.pop("description")
    b.pop("description")
    assert a == b


def test_guarded_rule_never_turns_a_pass_into_a_fail_or_back(results, guarded):
    allowed = {PASS: {PASS, NOT_MEASURABLE}, FAIL: {FAIL, NOT_MEASURABLE},
               NOT_MEASURABLE: {NOT_MEASURABLE}}
    for name in PART_NAMES:
        simple = {c.id: c.verdict for c in results[name].criteria}
        for c in guarded[name].criteria:
            assert c.verdict in allowed[simple[c.id]], (name, c.id, simple[c.id], c.verdict)
            assert c.decision_rule == "guarded"


def test_guarded_rule_turns_marginal_passes_into_not_measurable(results, guarded):
    from metrology.decision import REASON_WITHIN_U

    turned = []
    for name in PART_NAMES:
        simple = {c.id: c for c in results[name].criteria}
        for c in guarded[name].criteria:
            if simple[c.id].verdict == PASS and c.verdict == NOT_MEASURABLE:
                assert c.value is not None
                if REASON_WITHIN_U in c.reason:
                    turned.append((name, c.id))
                    assert c.U is not None and abs(c.value - c.limit) <= c.U  # marginal
                else:  # a value without an uncertainty model: the rule cannot decide
                    assert c.U is None and "cannot decide" in c.reason, (name, c.id)
    assert turned, "no marginal pass in the shipped parts"


def test_guarded_rule_keeps_clear_fails(guarded):
    """Every failing criterion whose truth lies more than 4 model sigma beyond its limit (the
    generator's scatter: Zernike sigma_nm, band rel_sigma) still fails under the guarded
    rule: a clear fail is never not-measurable, never a pass."""
    n = 0
    for name in PART_NAMES:
        for c in guarded[name].criteria:
            for s in c.sites:
                if c.id.endswith(".sites") or c.measurement == "composite":
                    continue  # one value of the part (composite truth: part.json)
                t = _sidecar(PARTS / name / _site_name(s.file))["criteria"][c.id]
                sigma = t.get("sigma_nm") or (t.get("rel_sigma") or 0.0) * (t["value"] or 0)
                if t["verdict"] == FAIL and sigma and t["value"] - t["limit"] > 4 * sigma:
                    assert s.verdict == FAIL, (name, c.id, s.file)
                    n += 1
    assert n >= 3


def test_guarded_repeats_site_passes_with_u_below_its_noise_floor(guarded):
    """The averaged site's U (repeats model: this surface, the noise of 4 maps) is far below
    the single-map U and below the generator's noise floor of the average."""
    c, site = _repeats_site(guarded[REPEATS_PART], "csi-5x.band.MSF2.rms")
    sc = _sidecar(PARTS / REPEATS_PART / _site_name(site.file))
    assert site.verdict == PASS and site.uncertainty.corrected
    assert site.U < sc["noise_floor"]["bands"]["MSF2"]["average_nm"]
    singles = [s.U for s in c.sites if s is not site]
    assert site.U < 0.5 * min(singles)


# ----------------------------------------------------------------------------- U against the truth

def _u_pairs(results, types):
    out = []
    for name in PART_NAMES:
        for c in results[name].criteria:
            if c.type not in types or c.measurement == "composite":
                continue
            for s in c.sites:
                t = _sidecar(PARTS / name / _site_name(s.file))["criteria"][c.id]
                if s.value is None or t["value"] is None:
                    continue
                out.append((c.id, s.value, s.U, t))
    return out


def test_zernike_u_covers_the_model_and_is_not_smaller_than_its_scatter(results):
    """Single-map U of every Zernike criterion of the shipped Fizeau maps against the
    generator's model coefficients: |value - model| <= U for >= 90 % of them, and U is
    at least the 2 sigma of the realisation scatter (Noll's sigma from the random part's
    PSD). It is larger, 1.0-3x (the random part of these surfaces starts at 0.1 /mm, and
    the model extrapolates the residual's spectrum into the fit's range as locally flat:
    docs/uncertainty.md)."""
    pairs = _u_pairs(results, ("power", "zernike_term", "zernike_other"))
    assert len(pairs) == N_PARTS * 6
    hits = [abs(v - t["value"]) <= u for _, v, u, t in pairs]
    assert sum(hits) >= 0.9 * len(pairs)
    ratio = np.array([u / (2 * t["sigma_nm"]) for _, _, u, t in pairs])
    assert ratio.min() > 0.9 and np.median(ratio) < 3.0, ratio


def test_band_u_covers_the_model(results):
    """Band RMS and slope with their U against the infinite-plane model of the generator
    (which leaves out finite-field biases of up to ~10 %, README): >= 90 % covered."""
    pairs = _u_pairs(results, ("band_rms", "band_slope"))
    hits = [abs(v - t["value"]) <= u for _, v, u, t in pairs]
    assert len(pairs) >= N_PARTS * 7 - 3 and sum(hits) >= 0.9 * len(pairs)


def test_composite_u_covers_the_part_truth(results):
    """The composite criteria (band RMS and slope, TIS, BRDF) with U from the composite's
    standard errors against the part-level truth of the generator (part.json
    part_criteria), except part g, whose dropout fill biases the composite by 7-11 %
    (datasets/README.md, limitations): covered in >= 80 % (27 of 30 when written)."""
    hits = n = 0
    for name in PART_NAMES:
        if name == "part-g-fizeau-dropouts":
            continue
        truth = json.loads((PARTS / name / "part.json").read_text())["part_criteria"]
        for c in results[name].criteria:
            if c.measurement != "composite" or c.value is None:
                continue
            t = truth[c.id]["value"]
            assert c.U is not None and c.U > 0, c.id
            n += 1
            hits += abs(c.value - t) <= c.U
    assert n >= 3 * (N_PARTS - 1) and hits >= 0.8 * n, (hits, n)
