"""The batch engine with the uncertainty work (issues 12, 14, 15): repeats, references,
U, the decision rule and display units through the tree walker, ``--per-file``, the
process pool, the results log, ``--resume``, the CSV table and the batch reports.

The reference of every comparison is the in-process check of one part
(:func:`metrology.check.check`, which keeps every array): a batch must judge a
part exactly as checking it alone does (same sites, values, U, models, verdicts),
whatever the executor, and its records must carry all of it. Where a number is
checked on its own, its reason is independent of the code: the SHA-256 of the
files' bytes, the file names of the shipped repeats (``datasets/README.md``), the
spec's rule.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from batchtree import close, records, run

import metrology as mt
from metrology import reports
from metrology.batch import RECORD_SCHEMA, discover
from metrology.check import check
from metrology.cli import main

REPO = Path(__file__).resolve().parent.parent
PARTS = REPO / "datasets" / "parts"
SPEC = REPO / "datasets" / "specs" / "caf2-wafer-inspection.toml"
GUARDED = REPO / "datasets" / "specs" / "caf2-wafer-inspection-guarded.toml"
PART_I = PARTS / "part-i-repeats"
REPS = sorted(PART_I.glob("l3s2-i_csi5x_site1_rep*.x3p"))
REF = PART_I / "l3s2-i_csi5x_reference.x3p"


def sha256(p: Path | str) -> str:
    return hashlib.sha256(Path(p).read_bytes()).hexdigest()


def judged(part: dict) -> dict[str, dict]:
    """What a criterion says, by id: verdict, value, U and its model, rule, display,
    and every site (by file name)."""
    out = {}
    for c in part["criteria"]:
        out[c["id"]] = {
            **{k: c[k] for k in ("verdict", "value", "U", "margin", "decision_rule",
                                 "uncertainty", "display", "reason")},
            "sites": [{"file": Path(s["file"]).name,
                       **{k: s[k] for k in ("value", "U", "verdict", "uncertainty")}}
                      for s in c["sites"]]}
    return out


def sources(part: dict) -> dict[str, dict | None]:
    out = {}
    for f in part["files"]:
        s = f["source"]
        out[Path(f["path"]).name] = None if s is None else {
            "files": [Path(x).name for x in s["files"]], "n_repeats": s["n_repeats"],
            "repeats_by": s["repeats_by"],
            "reference": None if s["reference"] is None else
            (Path(s["reference"]["path"]).name, s["reference"]["sha256"],
             s["reference"]["from"])}
    return out


@pytest.fixture(scope="module")
def alone() -> dict:
    """part-i checked alone, in this process (the reference)."""
    spec = mt.load_spec(SPEC)
    return reports.to_json(check(spec, [PART_I]))["parts"][0]


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Three shipped parts (a pass, a composite fail, the repeats part) on a pool of 2
    workers, every output."""
    out = tmp_path_factory.mktemp("wireu-batch")
    argv = ["check", "--spec", SPEC, PARTS / "part-a-pass", PARTS / "part-h-msf-bridge",
            PART_I, "--workers", "2", "--quiet", "--no-color",
            "--json", out / "r.json", "--csv", out / "r.csv", "--results", out / "r.jsonl",
            "--markdown", out / "r.md", "--junit", out / "r.xml"]
    code = main([str(a) for a in argv])
    return {"code": code, "out": out, "json": json.loads((out / "r.json").read_text())}


# ----------------------------------------------------------------------------- the pool

def test_a_batch_judges_the_repeats_part_as_checking_it_alone(batch, alone) -> None:
    assert batch["code"] == 1                    # part h fails on its composite band
    parts = {p["name"]: p for p in batch["json"]["parts"]}
    assert {k: p["outcome"] for k, p in parts.items()} == {
        "part-a-pass": "pass", "part-h-msf-bridge": "fail", "part-i-repeats": "pass"}
    got = parts["part-i-repeats"]
    a, b = judged(alone), judged(got)
    assert a.keys() == b.keys()
    for cid in a:
        assert close(a[cid], b[cid]), cid
    assert sources(got) == sources(alone)
    # one site for the 5x site1 repeats, none for the reference file (it is subtracted)
    names = [Path(f["path"]).name for f in got["files"]]
    assert len(names) == 7 and not any("reference" in n for n in names)
    (rep,) = [f for f in got["files"] if f["source"]["n_repeats"] > 1]
    assert [Path(x).name for x in rep["source"]["files"]] == [p.name for p in REPS]
    assert rep["source"]["reference"]["sha256"] == sha256(REF)
    assert rep["source"]["reference"]["from"] == "spec: measurements.csi-5x.reference"
    assert rep["sha256"] is None
    assert {Path(k).name: v for k, v in rep["files_sha256"].items()} == \
        {p.name: sha256(p) for p in REPS}
    # the 5x band of the repeats site is judged with the repeats' noise floor
    msf2 = next(c for c in got["criteria"] if c["id"] == "csi-5x.band.MSF2.rms")
    (s,) = [s for s in msf2["sites"] if "(+3 repeats)" in s["file"]]
    assert s["uncertainty"]["n_repeats"] == 4 and s["uncertainty"]["noise"] > 0
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator(reports.report_schema()).validate(batch["json"])


def test_csv_and_results_log_rows_carry_u_and_the_decision_rule(batch) -> None:
    out, js = batch["out"], batch["json"]
    crit = {p["name"]: {c["id"]: c for c in p["criteria"]} for p in js["parts"]}
    with open(out / "r.csv", newline="") as fh:
        rows = {r["part"]: r for r in csv.DictReader(fh)}
    for name, cs in crit.items():
        r = rows[name]
        assert r["decision_rule"] == "simple"
        for cid, c in cs.items():
            assert r[f"{cid}.verdict"] == c["verdict"]
            if c["U"] is None:
                assert r[f"{cid}.U"] == ""
            else:
                assert float(r[f"{cid}.U"]) == c["U"]
    recs = records(out / "r.jsonl")
    assert {r["schema"] for r in recs} == {RECORD_SCHEMA}
    part = {r["part"]: r for r in recs if r["record"] == "part"}
    for name, cs in crit.items():
        p = part[name]
        assert p["decision"]["rule"] == "simple" and p["decision"]["coverage_factor_k"] == 2.0
        for c in p["criteria"]:
            ref = cs[c["id"]]
            assert close([c["U"], c["uncertainty"], c["decision_rule"], c["display"]],
                         [ref["U"], ref["uncertainty"], ref["decision_rule"], ref["display"]])
            for s, rs in zip(c["sites"], ref["sites"], strict=True):
                assert close([s["U"], s["uncertainty"]], [rs["U"], rs["uncertainty"]])
    (rep,) = [r for r in recs if r["record"] == "file" and "(+3 repeats)" in r["path"]]
    assert rep["source"]["n_repeats"] == 4
    assert sorted(rep["files_sha256"].values()) == sorted(sha256(p) for p in REPS)
    assert all("U" in c and c["decision_rule"] == "simple" for c in rep["criteria"])


def test_batch_reports_give_u(batch) -> None:
    md = (batch["out"] / "r.md").read_text()
    assert "| part | outcome | deciding criterion | value | U (k=2) | margin |" in md
    assert "average of 4 repeats" in md and "l3s2-i_csi5x_reference.x3p subtracted" in md
    xml = (batch["out"] / "r.xml").read_text()
    assert "composite.band.MSF-bridge.rms" in xml and "U (k=2)" in xml
    assert "decision rule: simple" in xml


# ----------------------------------------------------------------------------- resume

def test_resume_keeps_u_the_guarded_rule_display_units_and_sources(tmp_path, capsys) -> None:
    """A resumed part is reported from its records: with the rule it was judged by (a
    guarded not-measurable reported as simple would read as a contradiction), its U,
    models, noise floor, display units and what its sites were made of."""
    log = tmp_path / "g.jsonl"
    common = ["check", "--spec", GUARDED, PARTS / "part-a-pass", PART_I, "--workers", "2",
              "--quiet", "--no-color", "--results", log]
    code1, _, _ = run(capsys, *common, "--json", tmp_path / "1.json")
    code2, out2, err2 = run(capsys, *common, "--resume", "--json", tmp_path / "2.json")
    assert code1 == code2 and "2 part(s) already in" in err2
    r1 = json.loads((tmp_path / "1.json").read_text())
    r2 = json.loads((tmp_path / "2.json").read_text())
    assert r1["decision"]["rule"] == r2["decision"]["rule"] == "guarded"
    for p1, p2 in zip(r1["parts"], r2["parts"], strict=True):
        a, b = judged(p1), judged(p2)
        assert a.keys() == b.keys()
        for cid in a:
            assert close(a[cid], b[cid]), (p1["name"], cid)
            assert b[cid]["decision_rule"] == "guarded"
        assert sources(p1) == sources(p2)
    fr = [c for p in r2["parts"] for c in p["criteria"] if c["unit"] == "nm"]
    assert fr and all("fringes" in c["display"] for c in fr)
    rep = next(c for c in r2["parts"][1]["criteria"] if c["id"] == "csi-5x.band.MSF2.rms")
    assert any(s["uncertainty"]["corrected"] for s in rep["sites"])   # noise_correction
    assert "U(k=2)" in out2
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator(reports.report_schema()).validate(r2)


# ----------------------------------------------------------------------------- per file

def test_per_file_keeps_the_repeats_of_a_site_together_and_the_reference_out() -> None:
    spec = mt.load_spec(SPEC)
    d = discover([PART_I], spec, per_file=True)
    groups = [tuple(Path(f).name for f in t.files) for t in d.tasks]
    assert len(groups) == 7              # 11 data files: 4 repeats of one site, a reference
    assert all(REF.name in g for g in groups)      # the reference goes with every part
    assert not any(g[0] == REF.name for g in groups)
    (rep,) = [t for t in d.tasks if len(t.files) == 5]
    assert [Path(f).name for f in rep.files[:4]] == [p.name for p in REPS]
    assert rep.name.endswith("(+3 repeats)")
    # without the spec every file is a part; without repeats = true every repeat is
    assert len(discover([PART_I], per_file=True).tasks) == 11
    plain = mt.parse_spec(SPEC.read_text().replace("repeats = true", "repeats = false"))
    assert len(discover([PART_I], plain, per_file=True).tasks) == 10


def test_per_file_values_are_the_part_checks_site_values(alone) -> None:
    spec = mt.load_spec(SPEC)
    rep = check(spec, [PART_I], per_file=True)
    site_values = {(c["id"], Path(s["file"]).name): (s["value"], s["U"])
                   for c in alone["criteria"] for s in c["sites"]}
    n = 0
    for p in reports.to_json(rep)["parts"]:
        assert not p["part_check"] and not p["errors"]
        for c in p["criteria"]:
            if (c["measurement"] == "composite" or c["verdict"] == "not-checked"
                    or c["convention"].get("quantity") == "sites"):
                continue                 # the composite and the site count need the part
            for s in c["sites"]:
                key = (c["id"], Path(s["file"]).name)
                assert close([s["value"], s["U"]], list(site_values[key])), key
                n += 1
        for f in p["files"]:
            if f["measurement"] == "csi-5x":
                assert f["source"]["reference"]["from"] == \
                    "spec: measurements.csi-5x.reference"
    assert n >= 20


# ----------------------------------------------------------------------------- CLI options

def test_repeats_and_reference_on_the_command_line_with_batch_options(tmp_path, capsys,
                                                                      alone) -> None:
    log, out = tmp_path / "r.jsonl", tmp_path / "r.json"
    args = ["check", "--spec", SPEC, "--workers", "2", "--quiet", "--no-color",
            "--results", log, "--csv", tmp_path / "r.csv", PART_I / "l3s2-i_fizeau.x3p",
            "--repeats", *REPS]
    code, _, err = run(capsys, *args, "--reference", REF, "--json", out)
    assert code == 1, err          # one 5x site of the 3 the spec asks for; no 50x file
    (part,) = json.loads(out.read_text())["parts"]
    (site,) = [f for f in part["files"] if f["source"]["n_repeats"] == 4]
    assert site["source"]["reference"]["from"] == "--reference"
    assert site["source"]["repeats_by"] == "--repeats"
    # the same average and reference as the folder's rules give
    def of_site(p: dict) -> dict:
        return {(c["id"], Path(s["file"]).name): (s["value"], s["U"])
                for c in p["criteria"] if c["convention"].get("quantity") != "sites"
                for s in c["sites"] if s["file"].endswith("(+3 repeats)")}

    want, got = of_site(alone), of_site(part)
    assert want and got.keys() == want.keys()
    assert all(close(list(got[k]), list(want[k])) for k in want)
    # resumed with the same options: skipped; without the reference: a new key
    code2, _, err2 = run(capsys, *args, "--reference", REF, "--resume")
    assert code2 == 1 and "1 part(s) already in" in err2
    code3, _, err3 = run(capsys, *args, "--resume", "--json", tmp_path / "noref.json")
    assert "already in" not in err3
    parts = [r for r in records(log) if r["record"] == "part"]
    assert len(parts) == 2 and parts[0]["key"] != parts[1]["key"]
    (p3,) = json.loads((tmp_path / "noref.json").read_text())["parts"]
    v3 = next(c for c in p3["criteria"] if c["id"] == "csi-5x.band.MSF2.rms")["value"]
    v1 = next(c for c in part["criteria"] if c["id"] == "csi-5x.band.MSF2.rms")["value"]
    assert v3 > v1                                  # the reference's error is not removed
    # --per-file: the repeats are one part of their own, the loose file another
    code4, _, _ = run(capsys, *args, "--reference", REF, "--per-file", "--json",
                      tmp_path / "pf.json")
    names = [p["name"] for p in json.loads((tmp_path / "pf.json").read_text())["parts"]]
    assert names == ["l3s2-i_fizeau.x3p", f"{REPS[0].name} (+3 repeats)"]


def test_reference_without_loose_files_or_repeats_is_a_usage_error(capsys) -> None:
    code, _, err = run(capsys, "check", "--spec", SPEC, PART_I, "--reference", REF)
    assert code == 2 and "[measurements.NAME.reference]" in err


# ----------------------------------------------------------------------------- bad repeats

N, DX = 64, 0.2

SPEC_M = f"""schema = "metrology.spec/1"
full_band = false
[part]
name = "flat"
[measurements.m]
instrument = "fizeau"
match.filename = ["m*"]
repeats = true
[measurements.m.aperture]
diameter_mm = {0.9 * N * DX}
centre_mm = [0.0, 0.0]
[[bands]]
name = "B"
measurement = "m"
f_lo_per_mm = 0.2
f_hi_per_mm = 2.0
kind = "areal"
rms_nm_max = 100.0
"""


def _map(seed: int, dx: float = DX) -> mt.HeightMap:
    rng = np.random.default_rng(seed)
    return mt.HeightMap(rng.standard_normal((N, N)), dx)


def test_folder_repeats_that_cannot_be_averaged_are_not_measurable(tmp_path, capsys) -> None:
    """In a part folder (found by the tree walker), repeats on different grids or an
    unreadable repeat make their measurement not-measurable with the reason, and the
    batch goes on (exit 3); the same files named with --repeats are an input error."""
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC_M)
    good = tmp_path / "lot" / "good"
    bad = tmp_path / "lot" / "bad"
    good.mkdir(parents=True)
    bad.mkdir(parents=True)
    for k in (1, 2):
        mt.save(_map(k), good / f"m_site1_rep{k}.npz")
    mt.save(_map(1), bad / "m_site1_rep1.npz")
    mt.save(_map(2, dx=DX * 1.01), bad / "m_site1_rep2.npz")
    (bad / "m_site2_rep1.npz").write_bytes(b"PK\x03\x04 not a zip archive at all")
    mt.save(_map(3), bad / "m_site2_rep2.npz")
    out = tmp_path / "r.json"
    code, stdout, err = run(capsys, "check", "--spec", spec, tmp_path / "lot",
                            "--workers", "2", "--quiet", "--no-color", "--json", out)
    assert code == 3, err
    parts = {p["name"]: p for p in json.loads(out.read_text())["parts"]}
    assert parts["good"]["outcome"] == "pass" and parts["bad"]["outcome"] == "not-measurable"
    assert not parts["bad"]["errors"]
    files = {Path(f["path"]).name: f for f in parts["bad"]["files"]}
    grid = files["m_site1_rep1.npz (+1 repeats)"]
    assert grid["status"] == "unjudgeable" and "grid" in grid["analysis"]["blocked_reason"]
    assert files["m_site2_rep1.npz"]["status"] == "unreadable"
    (crit,) = parts["bad"]["criteria"]
    assert crit["verdict"] == "not-measurable" and "grid" in crit["reason"]
    code2, _, err2 = run(capsys, "check", "--spec", spec, "--repeats",
                         bad / "m_site1_rep1.npz", bad / "m_site1_rep2.npz")
    assert code2 == 2 and "grid" in err2


def test_the_strict_site_planner_plans_the_sites_the_check_judges(alone) -> None:
    """metrology.sites.plan_sites (strict: any problem raises) and the batch's tolerant
    check_part follow one set of rules: the same sites, repeats and references."""
    from metrology.batch import candidate_files
    from metrology.sites import plan_sites

    spec = mt.load_spec(SPEC)
    planned = {Path(s.label).name: ([Path(p).name for p in s.paths],
                                    None if s.reference is None else Path(s.reference).name)
               for s in plan_sites(spec, candidate_files(PART_I)[0])}
    judged_sites = {k: (v["files"], None if v["reference"] is None else v["reference"][0])
                    for k, v in sources(alone).items()}
    assert planned == judged_sites
