"""The batch engine with the verdict-integrity rules (issues 9 and 12 together).

The tolerant per-part check of the batch engine and its pool workers must judge as
the in-process check does with every rule of issue 9: the clear-aperture centre
from the edge fit, the small-hole-only fill, Evans' PVr, the basis condition
flags, the spec errors for removed quantities, an aperture larger than the data.

Independent reasons: the shipped parts' per-criterion verdicts come from their
generator (``part.json``); Evans' PVr of a shipped Fizeau map is recomputed here
with the factorial Zernike basis of ``tests/reference.py`` and ``numpy.linalg.lstsq``;
the in-process check (:func:`metrology.check.check`, which keeps every array) is
the reference of everything a batch must carry unchanged; the aperture and field
sizes of the synthetic part are those it was written with.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from batchtree import SPEC as TREE_SPEC
from batchtree import arrays_reachable, close, records, ripple, run

import metrology as mt
from metrology import reports
from metrology.batch import RECORD_SCHEMA
from metrology.check import check
from metrology.cli import main

from reference_check import _fringe_basis

REPO = Path(__file__).resolve().parent.parent
PARTS = sorted(p for p in (REPO / "datasets" / "parts").iterdir() if p.is_dir())
SPEC = REPO / "datasets" / "specs" / "caf2-wafer-inspection.toml"


def judged(part: dict) -> dict[str, dict]:
    """What each criterion says (by id), with every site and its evidence."""
    return {c["id"]: {**{k: c[k] for k in ("verdict", "value", "U", "margin", "reason",
                                          "uncertainty", "convention")},
                      "sites": [{"file": Path(s["file"]).name,
                                 **{k: s[k] for k in ("value", "U", "verdict", "evidence")}}
                                for s in c["sites"]]}
            for c in part["criteria"]}


def files_of(part: dict) -> dict[str, dict]:
    """Each file's aperture (how its centre was found) and analysis (fits and PSD), by name."""
    return {Path(f["path"]).name: {"aperture": f["aperture"], "analysis": f["analysis"]}
            for f in part["files"]}


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Every shipped part on a process pool of 2 workers."""
    out = tmp_path_factory.mktemp("verd-pool")
    code = main([str(a) for a in [
        "check", "--spec", SPEC, *PARTS, "--workers", "2", "--quiet", "--no-color",
        "--json", out / "r.json", "--results", out / "r.jsonl"]])
    return {"code": code, "json": json.loads((out / "r.json").read_text()),
            "records": records(out / "r.jsonl")}


@pytest.fixture(scope="module")
def alone() -> dict[str, dict]:
    """Each shipped part checked alone, in this process (the reference)."""
    spec = mt.load_spec(SPEC)
    return {p.name: reports.to_json(check(spec, [p]))["parts"][0] for p in PARTS}


def test_a_pool_batch_of_the_shipped_parts_judges_each_as_checking_it_alone(pool, alone):
    """Per criterion: the generator's verdict, and the in-process check's value, U, margin,
    reason, convention and per-site evidence (Evans' PVr definition, the fit's condition
    number and centre, the band's fill rule and f_min); per file: the aperture with how
    its centre was found and the analysis (fits with their flags, PSD with its rules)."""
    parts = {p["name"]: p for p in pool["json"]["parts"]}
    assert sorted(parts) == sorted(alone) == [p.name for p in PARTS]
    want_code = max((json.loads((p / "part.json").read_text())["expected_exit_code"]
                     for p in PARTS), key=lambda c: {2: 3, 1: 2, 3: 1, 0: 0}[c])
    assert pool["code"] == want_code == 1
    for p in PARTS:
        truth = json.loads((p / "part.json").read_text())
        got = parts[p.name]
        assert got["outcome"] == truth["expected_verdict"], p.name
        assert {c["id"]: c["verdict"] for c in got["criteria"]} == truth["criteria"], p.name
        a, b = judged(alone[p.name]), judged(got)
        assert a.keys() == b.keys()
        for cid in a:
            assert close(a[cid], b[cid]), (p.name, cid)
        assert close(files_of(alone[p.name]), files_of(got)), p.name
        pvr = next(c for c in got["criteria"] if c["id"] == "fizeau.form.pvr")
        assert pvr["convention"]["variant"] == "evans"
        assert "Z1-Z36" in pvr["convention"]["definition"]
        fiz = next(f for f in got["files"] if "_fizeau" in Path(f["path"]).name)
        assert fiz["aperture"]["centre_method"] == "edge fit"   # the spec: centre = "data"
        for fit in fiz["analysis"]["zernike_fits"]:
            assert fit["flags"] == [] and 1.0 <= fit["condition_number"] < 1e3
    # the dropout part: small holes interpolated, none invented in a large one
    g = next(f for f in parts["part-g-fizeau-dropouts"]["files"]
             if "_fizeau" in Path(f["path"]).name)["analysis"]["psd"]
    assert g["dropouts_interpolated_px"] > 0 and "interpolated" in g["fill_rule"]
    # the parts were checked in the pool's workers, not in this process
    workers = {r["worker"] for r in pool["records"] if r["record"] == "part"}
    assert workers and all(not w.endswith(f":{os.getpid()}") for w in workers)
    assert {r["schema"] for r in pool["records"]} == {RECORD_SCHEMA}
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator(reports.report_schema()).validate(pool["json"])


def test_slim_results_keep_the_centre_fit_and_the_fit_flags_but_no_map():
    """A pool worker's result of the parts with holes (g) and repeats (i): no 2-D array and
    a few tens of kB of 1-D curves, yet the aperture's edge fit and every fit's condition
    number and flags are there, as the JSON report gives them."""
    spec = mt.load_spec(SPEC)
    names = ("part-g-fizeau-dropouts", "part-i-repeats")
    got = {}
    for p in mt.check_many(spec, [REPO / "datasets/parts" / n for n in names], workers=2):
        got[p.name] = p.outcome
        arrays = arrays_reachable(p)
        assert not [a for a in arrays if len(a[0]) >= 2], f"{p.name} keeps a map alive"
        assert sum(n for _, n in arrays) < 64 * 1024, f"{p.name}: {arrays[:5]}"
        fiz = next(fa for fa in p.files if fa.measurement == "fizeau")
        rec = fiz.aperture_record
        assert rec.centre_method == "edge fit" and rec.edge is not None
        assert rec.edge.method == "edge" and rec.edge.arc_coverage > 0.9
        fits = fiz.analysis_dict()["zernike_fits"]
        assert fits and all(f["flags"] == [] and f["condition_number"] < 1e3 for f in fits)
        assert fiz.analysis_dict()["psd"]["fill_rule"]
    assert got == {n: "pass" for n in names}


def _evans_pvr(path: Path, centre_mm: tuple[float, float], diameter_mm: float) -> float:
    """Evans' PVr from its definition: piston and tilt removed by least squares over the
    clear aperture's valid pixels, then the Fringe Z1-Z36 least-squares fit; PV of that
    fit without Z1-Z3 plus 3 x the RMS of its residual (factorial basis, numpy lstsq)."""
    hm = mt.load(path)
    x, y = np.meshgrid(hm.x_mm, hm.y_mm)
    sel = (np.hypot(x - centre_mm[0], y - centre_mm[1]) <= diameter_mm / 2) & hm.valid
    z, xs, ys = hm.z_nm[sel], x[sel], y[sel]
    b = _fringe_basis(xs, ys, range(1, 37), diameter_mm / 2, centre_mm).T   # (P, 36)
    c3, *_ = np.linalg.lstsq(b[:, :3], z, rcond=None)
    z = z - b[:, :3] @ c3
    c, *_ = np.linalg.lstsq(b, z, rcond=None)
    residual = z - b @ c
    return float(np.ptp(b[:, 3:] @ c[3:])) + 3.0 * float(np.sqrt(np.mean(residual ** 2)))


def test_evans_pvr_of_a_pool_worker_is_the_definition(pool):
    """The Fizeau map of part a (clean) and of part g (dropouts), judged in a worker: its
    PVr is Evans' on the pixels of the aperture the report says it placed."""
    parts = {p["name"]: p for p in pool["json"]["parts"]}
    for name in ("part-a-pass", "part-g-fizeau-dropouts"):
        part = parts[name]
        fiz = next(f for f in part["files"] if "_fizeau" in Path(f["path"]).name)
        pvr = next(c for c in part["criteria"] if c["id"] == "fizeau.form.pvr")
        ap = fiz["aperture"]
        want = _evans_pvr(Path(fiz["path"]), tuple(ap["centre_mm"]), ap["diameter_mm"])
        assert pvr["value"] == pytest.approx(want, rel=1e-6), name
        assert pvr["value"] > 5.0          # the old Z5-Z37 variant read 2.9-4.4 nm here


def test_a_limit_on_a_removed_quantity_exits_2_through_the_batch(tmp_path, capsys):
    """Preprocessing that removes power under a [power] limit and Evans' PVr: a spec error
    naming the key paths and lines, exit 2, before any part is checked or any output
    written, with the pool and every batch output asked for; check_many raises it."""
    text = SPEC.read_text(encoding="utf-8")
    line = 'remove = ["piston", "tilt"]\n'
    assert text.count(line) == 1                     # the [preprocessing] of every measurement
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace(line, 'remove = ["piston", "tilt", "power"]\n'),
                   encoding="utf-8")
    lines = bad.read_text(encoding="utf-8").splitlines()
    power_line = next(i for i, s in enumerate(lines, 1) if s.startswith("coef_nm_max"))
    outs = [tmp_path / n for n in ("r.jsonl", "r.csv", "r.json")]
    code, out, err = run(capsys, "check", "--spec", bad, *PARTS[:3], "--workers", "2",
                         "--results", outs[0], "--csv", outs[1], "--json", outs[2])
    assert code == 2
    assert f"bad.toml:{power_line}: power.coef_nm_max" in err
    assert "removed by the preprocessing" in err and "form.pvr_nm_max" in err
    assert "Traceback" not in err and not any(p.exists() for p in outs)
    with pytest.raises(mt.SpecError, match="removed by the preprocessing"):
        next(iter(mt.check_many(str(bad), [str(PARTS[0])], workers=2)))


def _tree(root: Path) -> dict[str, Path]:
    """Three parts of the batch tree's flat spec without its data-quality requirement
    (the Ø4 mm clear aperture at the origin): two 4.8 mm fields (one passes, one fails)
    and one 2.4 mm field, smaller than the clear aperture."""
    spec = root / "spec.toml"
    text = TREE_SPEC.replace("[measurements.flat.requirements]\nmin_valid_fraction = 0.9\n", "")
    assert "requirements" not in text
    spec.write_text(text, encoding="utf-8")
    parts = {}
    for name, hm in (("good", ripple(0.5)), ("bad", ripple(1.5, phase=0.3)),
                     ("small", mt.HeightMap(ripple(0.5).z_nm[12:36, 12:36].copy(), 0.1))):
        (root / name).mkdir()
        mt.save(hm, root / name / f"{name}_flat.x3p")
        parts[name] = root / name
    return {"spec": spec, **parts}


@pytest.mark.parametrize("workers", ["1", "2"])
def test_an_aperture_larger_than_the_data_is_not_measurable_in_its_part(tmp_path, capsys,
                                                                       workers):
    """The part whose field is smaller than its clear aperture is not measurable, naming
    the aperture and the field; the batch goes on and judges the others (exit 1 with the
    failing part, 3 without it); in process and in the pool alike."""
    t = _tree(tmp_path)
    js = tmp_path / f"r{workers}.json"
    code, out, err = run(capsys, "check", "--spec", t["spec"], t["good"], t["bad"],
                         t["small"], "--workers", workers, "--quiet", "--json", js)
    assert code == 1, err
    d = json.loads(js.read_text())
    parts = {p["name"]: p for p in d["parts"]}
    assert {n: p["outcome"] for n, p in parts.items()} == {
        "good": "pass", "bad": "fail", "small": "not-measurable"}
    small = parts["small"]
    assert small["errors"] == [] and small["exit_code"] == 3
    for c in small["criteria"]:
        assert c["verdict"] == "not-measurable" and c["value"] is None, c["id"]
        assert "Ø4 mm" in c["reason"] and "larger than the measured field" in c["reason"]
        assert "2.4 x 2.4 mm" in c["reason"]
    (f,) = small["files"]
    assert f["status"] == "analysed" and "larger than the measured field" in \
        f["analysis"]["blocked_reason"]
    code, _, _ = run(capsys, "check", "--spec", t["spec"], t["good"], t["small"],
                     "--workers", workers, "--quiet")
    assert code == 3
    # the public API refuses the same aperture on the same map
    hm = mt.load(t["small"] / "small_flat.x3p")
    with pytest.raises(mt.ApertureError, match="larger than"):
        hm.select_aperture(mt.aperture.Circle(4.0, (0.0, 0.0)))


def test_a_resumed_part_says_how_its_centre_was_found(tmp_path, capsys):
    """--resume reports a part from its records: the aperture centre fitted to the edge
    stays "edge fit" (not "given by the spec"), with the fit, and the file's analysis
    (condition numbers, flags, the PSD's f_min and fill rules) as checked."""
    log = tmp_path / "r.jsonl"
    common = ["check", "--spec", SPEC, PARTS[0], REPO / "datasets/parts/part-g-fizeau-dropouts",
              "--workers", "2", "--quiet", "--results", log]
    code1, _, _ = run(capsys, *common, "--json", tmp_path / "1.json")
    code2, out2, err2 = run(capsys, *common, "--resume", "--json", tmp_path / "2.json",
                            "--details")
    assert code1 == code2 == 0 and "2 part(s) already in" in err2
    r1 = json.loads((tmp_path / "1.json").read_text())
    r2 = json.loads((tmp_path / "2.json").read_text())
    for p1, p2 in zip(r1["parts"], r2["parts"], strict=True):
        assert close(files_of(p1), files_of(p2)), p1["name"]
        fiz = next(f for f in p2["files"] if "_fizeau" in Path(f["path"]).name)
        assert fiz["aperture"]["centre_method"] == "edge fit"
        assert fiz["aperture"]["centre_description"].startswith("robust circle fit")
    assert "(fitted to the edge" in out2 and "(given)" not in out2
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator(reports.report_schema()).validate(r2)
