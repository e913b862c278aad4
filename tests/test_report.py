"""Reports of a spec check: terminal table, JSON (+ schema), JUnit, Markdown, HTML.

The measurement files are small synthetic maps with analytic content: a
Fringe Z5 astigmatism of known RMS coefficient and a sinusoidal ripple of known
RMS (A sin has RMS A/sqrt(2)). The helpers here are also used by
``test_cli_check.py``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import metrology as mt
from metrology import reports
from metrology.check import check
from metrology.reports._common import fmt_value_limit

# ----------------------------------------------------------------------------- helpers

#: a Ø20 mm Fizeau measurement (form + one areal band) and a microscope site (one band)
SPEC_TOML = """\
schema = "metrology.spec/1"
description = "test spec: a 20 mm flat and a microscope site"
full_band = false

[part]
name = "Test flat TF-20"
material = "fused silica"

[preprocessing]
remove = ["piston", "tilt"]

[measurements.fiz]
instrument = "fizeau"
match.filename = ["*fiz*"]

[measurements.fiz.aperture]
diameter_mm = 20.0
centre_mm = [0.0, 0.0]

[measurements.fiz.requirements]
min_valid_fraction = 0.9

[measurements.csi]
instrument = "csi"
match.filename = ["*csi*"]

[form]
measurement = "fiz"
fit_first_term = 4
fit_last_term = 16
residual_rms_nm_max = 0.30

[form.term_limits_nm]
astigmatism = 0.40
other = 0.30

[[bands]]
name = "MSF"
measurement = "fiz"
f_lo_per_mm = 0.5
f_hi_per_mm = 2.0
kind = "areal"
rms_nm_max = 0.30

[[bands]]
name = "HSF"
measurement = "csi"
f_lo_per_mm = 5.0
f_hi_per_mm = 50.0
kind = "areal"
rms_nm_max = 0.30
"""

#: criteria of SPEC_TOML, in spec order (counted by hand from the text above)
SPEC_CRITERIA = ("fiz.requirements.valid_fraction", "fiz.form.term.astigmatism",
                 "fiz.form.term.other", "fiz.form.residual_rms", "fiz.band.MSF.rms",
                 "csi.band.HSF.rms")

#: the same with a slope limit and a PSD limit line, for the figures of the HTML report
SPEC_TOML_PSD = SPEC_TOML.replace(
    'f_hi_per_mm = 2.0\nkind = "areal"\nrms_nm_max = 0.30\n',
    'f_hi_per_mm = 2.0\nkind = "areal"\nrms_nm_max = 0.30\nslope_urad_max = 5.0\n') + """
[psd]
kind = "profile"
sidedness = "one-sided"
direction = "x"

[[psd.segments]]
a_nm2_mm = 0.5
b = 2.0
f_lo_per_mm = 0.5
f_hi_per_mm = 50.0
"""

FIZ_N = 128                  # pixels across the 22 mm field
FIZ_DX_MM = 22.0 / FIZ_N
CA_RADIUS_MM = 10.0
RIPPLE_F_PER_MM = 1.0        # inside the MSF band 0.5-2 /mm, far from both edges


def fiz_map(astig_nm: float = 0.39, ripple_rms_nm: float = 0.27,
            removed_fraction: float = 0.0) -> mt.HeightMap:
    """Fizeau map: Fringe Z5 = sqrt(6) rho^2 cos(2 theta) with rms coefficient ``astig_nm``
    (R_norm 10 mm) plus A sin(2 pi f x) with A = sqrt(2) * ``ripple_rms_nm``.

    ``removed_fraction``: the part of the Ø20 mm clear aperture beyond a vertical
    chord x > d is made invalid, d chosen so that the circular segment's area is
    that fraction of the disk (area of a segment: R^2 (acos u - u sqrt(1 - u^2))).
    """
    hm0 = mt.HeightMap(np.zeros((FIZ_N, FIZ_N)), FIZ_DX_MM)
    x, y = np.meshgrid(hm0.x_mm, hm0.y_mm)
    rho2 = (x ** 2 + y ** 2) / CA_RADIUS_MM ** 2
    theta = np.arctan2(y, x)
    z = astig_nm * math.sqrt(6.0) * rho2 * np.cos(2 * theta)
    z = z + math.sqrt(2.0) * ripple_rms_nm * np.sin(2 * np.pi * RIPPLE_F_PER_MM * x)
    if removed_fraction > 0:
        lo, hi = -1.0, 1.0                 # bisection for u = d / R
        for _ in range(60):
            u = 0.5 * (lo + hi)
            frac = (math.acos(u) - u * math.sqrt(1 - u * u)) / math.pi
            lo, hi = (u, hi) if frac > removed_fraction else (lo, u)
        z[x > 0.5 * (lo + hi) * CA_RADIUS_MM] = np.nan
    return mt.HeightMap(z, FIZ_DX_MM, meta={"instrument": "test Fizeau"})


def csi_map(dx_mm: float = 0.01, ripple_rms_nm: float = 0.1, n: int = 64) -> mt.HeightMap:
    """Microscope site: a 20 /mm ripple of RMS ``ripple_rms_nm`` (inside the HSF band)."""
    hm0 = mt.HeightMap(np.zeros((n, n)), dx_mm)
    x = hm0.x_mm[None, :] * np.ones((n, 1))
    z = math.sqrt(2.0) * ripple_rms_nm * np.sin(2 * np.pi * 20.0 * x)
    return mt.HeightMap(z, dx_mm)


def write_files(folder: Path, maps: dict[str, mt.HeightMap]) -> list[Path]:
    """Write maps as .x3p files (names decide the measurement) and return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    return [mt.save(hm, folder / name) for name, hm in maps.items()]


def write_spec(folder: Path, text: str = SPEC_TOML, name: str = "spec.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    p.write_text(text, encoding="utf-8")
    return p


def sha256_file(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def by_id(report_json: dict) -> dict[str, dict]:
    return {c["id"]: c for p in report_json["parts"] for c in p["criteria"]}


# ----------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory):
    """A part folder: Fizeau with astigmatism 0.41 (> 0.40: fail), ripple 0.9 x limit, and a
    microscope site at 0.02 mm spacing (Nyquist 25 /mm < HSF's 50 /mm: not measurable)."""
    root = tmp_path_factory.mktemp("mixed")
    spec_path = write_spec(root)
    write_files(root / "part1", {"a_fiz.x3p": fiz_map(0.41, 0.27),
                                 "b_csi.x3p": csi_map(dx_mm=0.02)})
    spec = mt.load_spec(spec_path)
    return spec_path, check(spec, [root / "part1"])


@pytest.fixture(scope="module")
def loose(tmp_path_factory: pytest.TempPathFactory):
    """One passing Fizeau file on its own (not a part check): csi criteria not-checked."""
    root = tmp_path_factory.mktemp("loose")
    spec_path = write_spec(root)
    (f,) = write_files(root / "in", {"fiz_1.x3p": fiz_map(0.39, 0.27)})
    return spec_path, check(mt.load_spec(spec_path), [f])


# ----------------------------------------------------------------------------- terminal

def _table_lines(text: str, cid: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip().startswith(cid + " ")]


def test_terminal_one_line_per_criterion_with_numbers(mixed) -> None:
    spec_path, report = mixed
    text = reports.render_terminal(report, color=False)
    for cid in SPEC_CRITERIA:
        assert len(_table_lines(text, cid)) == 1, cid
    astig = _table_lines(text, "fiz.form.term.astigmatism")[0].split()
    assert astig[1:6] == ["fail", "0.41", "\u2264", "0.4", "-0.01"] and astig[6] == "nm"
    vf = _table_lines(text, "fiz.requirements.valid_fraction")[0]
    assert "\u2265 0.9" in vf and "pass" in vf
    hsf = _table_lines(text, "csi.band.HSF.rms")[0]
    assert "not-measurable" in hsf and "Nyquist" in hsf and "\u2014" in hsf
    # header: spec source with the hash of its bytes, part, scope, files and assignment
    assert sha256_file(spec_path)[:12] in text
    assert "Test flat TF-20" in text
    assert "whole part (every measurement of the spec)" in text
    assert "a_fiz.x3p \u2192 fiz (by file-name pattern)" in text
    assert "b_csi.x3p \u2192 csi (by file-name pattern)" in text
    # footer: counts and the exit code's meaning
    assert "4 pass, 1 fail, 1 not-measurable, 0 not-checked" in text
    assert "exit code 1: at least one criterion fails" in text


def test_terminal_not_checked_is_shown_and_not_a_pass(loose) -> None:
    _, report = loose
    text = reports.render_terminal(report, color=False)
    line = _table_lines(text, "csi.band.HSF.rms")[0]
    assert "not-checked" in line and "no file for measurement 'csi'" in line
    assert "not checked: csi" in text
    assert "5 pass, 0 fail, 0 not-measurable, 1 not-checked" in text


def test_terminal_colour_rules(mixed, monkeypatch: pytest.MonkeyPatch) -> None:
    _, report = mixed
    assert "\x1b[" in reports.render_terminal(report, color=True)
    assert "\x1b[" not in reports.render_terminal(report, color=False)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert "\x1b[" in reports.render_terminal(report)
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in reports.render_terminal(report)
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False, raising=False)
    assert "\x1b[" not in reports.render_terminal(report)


def test_value_and_limit_get_enough_digits() -> None:
    v, lim, _ = fmt_value_limit(0.40001, 0.4, "nm")
    assert v != lim and float(v) == pytest.approx(0.40001)
    assert fmt_value_limit(0.39, 0.4, "nm")[:2] == ("0.39", "0.4")
    assert fmt_value_limit(None, 0.3, "nm")[0] == "\u2014"


def test_ascii_fallback_keeps_meaning() -> None:
    assert reports.to_ascii("\u2264 0.4 nm, \u2265 0.9, \u00b5rad") == "<= 0.4 nm, >= 0.9, urad"


# ----------------------------------------------------------------------------- markdown

def test_markdown_lists_failing_and_not_measurable_first(mixed) -> None:
    _, report = mixed
    md = reports.to_markdown(report)
    assert md.startswith("## metrology check: FAIL")
    assert "**Verdict: FAIL** (exit code 1" in md
    rows = [ln for ln in md.splitlines() if ln.startswith("| `") and "." in ln.split("|")[1]]
    ids = [r.split("|")[1].strip().strip("`") for r in rows]
    assert set(ids) == set(SPEC_CRITERIA)
    assert ids[:2] == ["fiz.form.term.astigmatism", "csi.band.HSF.rms"]
    assert "**FAIL**" in rows[0] and "**NOT MEASURABLE**" in rows[1]
    assert all("| pass |" in r for r in rows[2:])
    # status words, no emoji or pictographs
    assert not any(0x2600 <= ord(ch) <= 0x27BF or ord(ch) >= 0x1F000 for ch in md)


# ----------------------------------------------------------------------------- JUnit

def test_junit_counts_and_markup(mixed) -> None:
    _, report = mixed
    root = ET.fromstring(reports.to_junit(report))
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == list(SPEC_CRITERIA)
    assert {c.get("classname") for c in cases} == {"part1.fiz", "part1.csi"}
    fails = [c for c in cases if c.find("failure") is not None]
    skips = [c for c in cases if c.find("skipped") is not None]
    assert [c.get("name") for c in fails] == ["fiz.form.term.astigmatism"]
    assert [c.get("name") for c in skips] == ["csi.band.HSF.rms"]
    for el in (suite, root):
        assert (el.get("tests"), el.get("failures"), el.get("errors"), el.get("skipped")) == \
            ("6", "1", "0", "1")
    msg = fails[0].find("failure").get("message")
    assert "0.41 nm" in msg and "<= 0.4 nm" in msg
    sk = skips[0].find("skipped").get("message")
    assert sk.startswith("NOT MEASURABLE (not a pass)") and "Nyquist" in sk


def test_junit_not_checked_is_skipped_with_reason(loose) -> None:
    _, report = loose
    root = ET.fromstring(reports.to_junit(report))
    (case,) = [c for c in root.iter("testcase") if c.get("name") == "csi.band.HSF.rms"]
    msg = case.find("skipped").get("message")
    assert msg.startswith("NOT CHECKED (not a pass)") and "'csi'" in msg
    assert root.get("skipped") == "1" and root.get("failures") == "0"


# ----------------------------------------------------------------------------- JSON

def _validator():
    jsonschema = pytest.importorskip("jsonschema")
    schema = reports.report_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_json_validates_and_carries_units_and_conventions(mixed, loose) -> None:
    v = _validator()
    for spec_path, report in (mixed, loose):
        d = reports.to_json(report)
        json.dumps(d, allow_nan=False)              # standard JSON, no NaN
        errors = sorted(v.iter_errors(d), key=str)
        assert not errors, errors[0]
        assert d["schema"] == "metrology.check-report/3"
        assert d["tool"]["version"] == mt.__version__
        assert d["spec"]["sha256"] == sha256_file(spec_path)
    c = by_id(reports.to_json(mixed[1]))
    z = c["fiz.form.term.astigmatism"]
    assert (z["unit"], z["convention"]["scheme"], z["convention"]["normalisation"],
            z["convention"]["r_norm_mm"]) == ("nm", "fringe", "rms", 10.0)
    assert z["value"] == pytest.approx(0.41, abs=1e-6)   # the analytic coefficient
    b = c["fiz.band.MSF.rms"]
    assert b["convention"]["window"] and "areal" in b["convention"]["sidedness"]
    assert c["csi.band.HSF.rms"]["value"] is None
    fits = reports.to_json(mixed[1])["parts"][0]["files"][0]["analysis"]["zernike_fits"]
    assert fits[0]["r_norm_mm"] == 10.0 and fits[0]["unit"] == "nm"


@pytest.mark.parametrize("mutate", [
    lambda c: c["convention"].pop("r_norm_mm"),        # a Zernike number without R_norm
    lambda c: c.update(verdict="maybe"),
    lambda c: c.update(unit="mm"),                      # a coefficient in the wrong unit
    lambda c: c.update(value=None),                     # a fail without its number
])
def test_schema_rejects_reports_missing_meaning(mixed, mutate) -> None:
    v = _validator()
    d = reports.to_json(mixed[1])
    crit = next(c for c in d["parts"][0]["criteria"] if c["id"] == "fiz.form.term.astigmatism")
    mutate(crit)
    assert list(v.iter_errors(d))


@pytest.mark.parametrize("mutate", [
    lambda f: f["aperture"].pop("centre_method"),       # a centre without how it was found
    lambda f: f["aperture"].update(centre_method="centroid"),   # the moving centroid
    lambda f: f["aperture"].update(edge_fit={"method": "edge"}),
    lambda f: f["analysis"]["zernike_fits"][0].pop("condition_number"),
    lambda f: f["analysis"]["zernike_fits"][0].pop("flags"),
    lambda f: f["analysis"]["zernike_fits"][0].update(basis_kind="legendre"),
    lambda f: f["analysis"]["psd"].pop("fill_rule"),    # filled pixels without the rule
    lambda f: f["analysis"]["psd"].pop("f_min_rule"),
    lambda f: f["analysis"]["psd"]["holes_left"].append({"n_pixels": 3}),
])
def test_schema_rejects_files_that_do_not_say_how_their_numbers_came(mixed, mutate) -> None:
    """Version 3 requires the verdict-integrity fields of issue 9 on every analysed map:
    how the clear-aperture centre was found, each fit's conditioning and flags, the PSD's
    f_min and fill rules (docs/report-schema.md)."""
    v = _validator()
    d = reports.to_json(mixed[1])
    assert not list(v.iter_errors(d))
    f = next(f for f in d["parts"][0]["files"] if f["aperture"] is not None)
    assert f["analysis"]["zernike_fits"] and f["analysis"]["psd"]["unit"]
    mutate(f)
    assert list(v.iter_errors(d))


def test_schema_rejects_not_measurable_with_a_value(mixed) -> None:
    v = _validator()
    d = reports.to_json(mixed[1])
    crit = next(c for c in d["parts"][0]["criteria"] if c["id"] == "csi.band.HSF.rms")
    crit["value"] = 0.1
    assert list(v.iter_errors(d))


# ----------------------------------------------------------------------------- HTML

def test_html_is_one_self_contained_file(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    spec_path = write_spec(tmp_path, SPEC_TOML_PSD)
    files = write_files(tmp_path / "p", {"fiz.x3p": fiz_map(0.39, 0.27),
                                         "csi.x3p": csi_map()})
    report = check(mt.load_spec(spec_path), files)
    page = reports.to_html(report)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert len(page.encode()) < 2_000_000
    imgs = re.findall(r'<img [^>]*src="([^"]*)"', page)
    assert len(imgs) >= 6                            # maps, Zernike, PSD, bands per file
    for src in imgs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    low = page.lower()
    assert "http:" not in low and "https:" not in low and "src=\"//" not in low
    assert "<link" not in low and "<script" not in low and "url(" not in low
    for cid in ("fiz.form.term.astigmatism", "fiz.band.MSF.slope", "fiz.psd", "csi.psd"):
        assert cid in page


def test_html_needs_matplotlib(mixed, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)   # import fails
    with pytest.raises(mt.MetrologyError, match=r'pip install "optical-metrology\[plot\]"'):
        reports.to_html(mixed[1])


def test_display_grid_block_means() -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(size=(1030, 700))
    z[5, 7] = np.nan
    hm = mt.HeightMap(z, 0.01, 0.02)
    shown, k, ext = reports._html.display_grid(hm, max_px=512)
    assert k == 3 and shown.shape == (343, 233)
    assert shown[0, 0] == pytest.approx(z[:3, :3].mean())
    assert shown[1, 2] == pytest.approx(np.nanmean(z[3:6, 6:9]))   # NaN ignored
    # the extent covers the pixels shown (edges, mm, origin at the array centre)
    assert ext[0] == pytest.approx(hm.x_mm[0] - 0.005)
    assert ext[1] == pytest.approx(hm.x_mm[698] + 0.005)
    assert ext[3] == pytest.approx(hm.y_mm[1028] + 0.01)


# ----------------------------------------------------------------------------- writing

def test_write_report_replaces_whole_and_leaves_no_temp(mixed, tmp_path: Path) -> None:
    _, report = mixed
    out = tmp_path / "r.xml"
    out.write_text("<old>" + "x" * 200_000)
    reports.write_report(report, out, "junit")
    ET.parse(out)                                      # the whole new file, nothing old
    assert "xxxx" not in out.read_text()
    with pytest.raises(mt.MetrologyError, match="unknown report kind"):
        reports.write_report(report, out, "pdf")
    ET.parse(out)                                      # untouched by the failed call
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.xml"]


def test_worst_site_is_named(tmp_path: Path) -> None:
    spec_path = write_spec(tmp_path)
    files = write_files(tmp_path / "p", {"csi_a.x3p": csi_map(ripple_rms_nm=0.10),
                                         "csi_b.x3p": csi_map(ripple_rms_nm=0.35),
                                         "csi_c.x3p": csi_map(ripple_rms_nm=0.20)})
    report = check(mt.load_spec(spec_path), files)
    line = _table_lines(reports.render_terminal(report, color=False), "csi.band.HSF.rms")[0]
    assert "fail" in line and "worst of 3 sites: csi_b.x3p" in line
    value = float(line.split()[2])
    assert value == pytest.approx(0.35, rel=0.02)      # RMS of A sin = A / sqrt(2)


def test_file_that_cannot_be_analysed(tmp_path: Path) -> None:
    """A field smaller than the clear aperture: the file is shown, its criteria are
    not-measurable with the reason, and the HTML still draws what exists (the map)."""
    spec_path = write_spec(tmp_path)
    ramp = np.add.outer(np.arange(40.0), np.arange(40.0)) * 0.01   # a surface, not constant
    small = mt.HeightMap(ramp, 0.2)                    # 8 mm field, CA is Ø20 mm
    files = write_files(tmp_path / "p", {"fiz_small.x3p": small})
    report = check(mt.load_spec(spec_path), files)
    text = reports.render_terminal(report, color=False)
    assert "NOT ANALYSED: clear aperture \u00d820 mm" in text
    for cid in ("fiz.form.term.astigmatism", "fiz.band.MSF.rms"):
        line = _table_lines(text, cid)[0]
        assert "not-measurable" in line and "larger than the measured field" in line
    pytest.importorskip("matplotlib")
    page = reports.to_html(report)
    assert page.count('src="data:image/png;base64,') == 2    # the map, the band bars
    assert "Not analysed:" in page


# ----------------------------------------------------------------------------- evidence

def _site(report, cid: str, name: str):
    c = next(c for p in report.parts for c in p.criteria if c.id == cid)
    return next(s for s in c.sites if Path(s.file).name == name)


def test_radial_psd_limit_is_judged_and_shown_as_radial(tmp_path: Path) -> None:
    """With a radial PSD limit the engine judges the radial PSD in log bins; the evidence
    carries those bins and that curve, and the HTML figure and caption show the radial PSD
    (version 1 drew and described the profile PSD, which was not what was judged)."""
    text = SPEC_TOML_PSD.replace('kind = "profile"\nsidedness = "one-sided"\ndirection = "x"\n',
                                 'kind = "radial"\n')
    assert 'kind = "radial"' in text
    spec_path = write_spec(tmp_path, text)
    files = write_files(tmp_path / "p", {"fiz.x3p": fiz_map(0.39, 0.27)})
    report = check(mt.load_spec(spec_path), files)
    ev = _site(report, "fiz.psd", "fiz.x3p").evidence
    assert ev.psd_kind == "radial" and ev.axis is None and len(ev.bins) >= 5
    # the judged curve holds one point per bin with samples, inside the bins' edges
    assert len(ev.curve_f_per_mm) == len(ev.bins)
    assert all(lo <= f < hi for f, (lo, hi, _) in zip(ev.curve_f_per_mm, ev.bins, strict=True))
    assert _site(report, "fiz.psd", "fiz.x3p").value == pytest.approx(
        max(r for _, _, r in ev.bins))
    js = by_id(reports.to_json(report))["fiz.psd"]["sites"][0]["evidence"]
    assert js["psd_kind"] == "radial" and len(js["bins"]) == len(ev.bins)
    assert "curve_f_per_mm" not in js                    # figure arrays stay out of the JSON
    pytest.importorskip("matplotlib")
    page = reports.to_html(report)
    caps = re.findall(r"<figcaption>([^<]*PSD[^<]*)</figcaption>", page)
    assert caps and "radial PSD" in caps[0] and "profile PSD" not in caps[0]


def test_peak_form_normalisation_one_fit_and_recorded(tmp_path: Path) -> None:
    """[form] normalisation = "peak": one joint fit per file (version 1 made two), the
    residual criterion records "peak" (version 1 said "rms"), and the astigmatism value
    is the peak coefficient sqrt(6) x the rms one of the synthetic map."""
    text = SPEC_TOML.replace('measurement = "fiz"\nfit_first_term = 4',
                             'measurement = "fiz"\nnormalisation = "peak"\nfit_first_term = 4')
    assert 'normalisation = "peak"' in text
    spec_path = write_spec(tmp_path, text)
    files = write_files(tmp_path / "p", {"fiz.x3p": fiz_map(0.39, 0.27)})
    report = check(mt.load_spec(spec_path), files)
    fa = report.parts[0].files[0]
    assert [r.normalisation for r in fa.fits] == ["peak"]
    d = by_id(reports.to_json(report))
    for cid in ("fiz.form.term.astigmatism", "fiz.form.term.other", "fiz.form.residual_rms"):
        assert d[cid]["convention"]["normalisation"] == "peak", cid
        assert d[cid]["sites"][0]["evidence"]["fit"] == 0
    assert d["fiz.form.term.astigmatism"]["value"] == pytest.approx(0.39 * math.sqrt(6),
                                                                     abs=1e-5)
