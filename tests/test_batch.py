"""Production scale (issue 12) and the check-level items of issues 9 and 18.

The tree (``tests/batchtree.py``) holds 64 parts: 60 good ones (a ripple of known
RMS: 45 pass, 15 fail by construction), one of them two folders further down,
and four bad ones (a corrupt x3p, an all-NaN map, a constant map, a cut SDF);
plus a stray notes file in a part folder, an unsupported export beside a
measurement and a notes file beside the part folders. Expected verdicts come
from how each map was made, not from a run of the code.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from batchtree import SPEC, arrays_reachable, build_tree, records, ripple, run

import metrology as mt
from metrology import reports
from metrology.batch import (
    RECORD_SCHEMA,
    ResultsLog,
    comparable,
    discover,
    is_own_output,
    probe,
)
from metrology.cli import main

REPO = Path(__file__).resolve().parent.parent


def by_part(recs: list[dict]) -> dict[str, dict]:
    parts = [r for r in recs if r["record"] == "part"]
    out = {r["part"]: r for r in parts}
    assert len(out) == len(parts), "a part has two records"
    return out


def comparable_log(path: Path) -> tuple[dict, dict]:
    """(part records, file records) without the fields that change between runs."""
    recs = records(path)
    parts = {r["part"]: comparable(r) for r in recs if r["record"] == "part"}
    files: dict[str, dict] = {}
    for r in recs:
        if r["record"] == "file":
            key = (r["part"], r["path"])
            assert key not in files, f"file record {key} twice"
            files[key] = comparable(r)
    return parts, files


def _cmd(root: Path, *extra: object) -> list[str]:
    return [sys.executable, "-m", "metrology", "check", "--spec", str(root / "spec.toml"),
            str(root / "tree"), "--quiet", *map(str, extra)]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("batch")
    return root, build_tree(root)


@pytest.fixture(scope="module")
def pool_run(tree) -> dict:
    """The whole tree on a process pool of 2, every output."""
    root, expect = tree
    out = root / "out"
    cmd = _cmd(root, "--workers", "2", "--results", out / "r.jsonl", "--csv", out / "r.csv",
               "--json", out / "r.json", "--markdown", out / "r.md", "--junit", out / "r.xml")
    out.mkdir()
    p = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=root, timeout=300)
    return {"proc": p, "out": out}


# ----------------------------------------------------------------------------- the tree

def test_every_part_gets_its_verdict_and_every_bad_file_an_error_record(tree, pool_run):
    root, expect = tree
    p = pool_run["proc"]
    assert p.returncode == 1, p.stderr[-2000:]          # some parts fail
    assert "Traceback" not in p.stderr
    recs = records(pool_run["out"] / "r.jsonl")
    parts = by_part(recs)
    assert {k: v["outcome"] for k, v in parts.items()} == expect["parts"]
    assert len(parts) >= 60 and "lot1/deep/er/p007" in parts
    # one line per part on stdout: the passing ones as one line, the others with a table
    for name, verdict in expect["parts"].items():
        line = [ln for ln in p.stdout.splitlines()
                if ln.startswith("PASS ") and ln.split()[1] == name]
        assert (len(line) == 1) == (verdict == "pass"), name
        if verdict != "pass":
            assert f"== part {name!r}: {verdict.upper()}" in p.stdout
    # each bad file: a record naming it, its status and the reason; its part not a pass
    files = [r for r in recs if r["record"] == "file"]
    for path, status in expect["bad_files"].items():
        (rec,) = [r for r in files if os.path.samefile(root / r["path"], path)]
        assert rec["status"] == status and rec["error"] and rec["verdict"] == "not-measurable"
        assert parts[rec["part"]]["outcome"] == "not-measurable"
    # stray files: listed as ignored with the reason, never judged
    js = json.loads((pool_run["out"] / "r.json").read_text())
    ignored = {os.path.realpath(root / i["path"]): i["reason"]
               for i in [*js["ignored"], *(i for pt in js["parts"] for i in pt["ignored"])]}
    for f in expect["ignored"]:
        assert "not a measurement file" in ignored[os.path.realpath(f)]
    p000 = parts["lot0/p000"]
    assert p000["outcome"] == "pass" and len(p000["files"]) == 1
    # every record carries the hashes and the tool version
    spec_sha = mt.load_spec(root / "spec.toml").sha256
    for r in files:
        assert r["spec_sha256"] == spec_sha and r["tool_version"] == mt.__version__
        if r["status"] == "analysed":
            assert len(r["sha256"]) == 64 and r["criteria"]
    for r in parts.values():
        assert len(r["content_sha256"]) == 64 and r["timings_s"]["total"] >= 0
        assert {c["id"] for c in r["criteria"]} == {c.id for c in mt.load_spec(
            root / "spec.toml").criteria}


def test_values_are_the_analytic_ripple_rms(tree, pool_run):
    """The residual RMS of every good part is the RMS it was made with (0.5 or 1.5 nm)."""
    _, expect = tree
    parts = by_part(records(pool_run["out"] / "r.jsonl"))
    for name, verdict in expect["parts"].items():
        if name.startswith("bad/"):
            continue
        c = {c["id"]: c for c in parts[name]["criteria"]}["flat.form.residual_rms"]
        assert c["value"] == pytest.approx(0.5 if verdict == "pass" else 1.5, rel=0.05)


def test_csv_json_markdown_junit_of_the_batch(tree, pool_run):
    root, expect = tree
    out = pool_run["out"]
    lines = (out / "r.csv").read_text().splitlines()
    head = lines[0].split(",")
    assert head[:3] == ["part", "path", "outcome"]
    assert "flat.form.residual_rms.value" in head and "flat.band.R.rms.verdict" in head
    assert len(lines) == 1 + len(expect["parts"])
    rows = {ln.split(",")[0]: dict(zip(head, ln.split(","), strict=True)) for ln in lines[1:]}
    assert {k: r["outcome"] for k, r in rows.items()} == expect["parts"]
    # JSON report: schema 3, valid, one part per folder
    d = json.loads((out / "r.json").read_text())
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(d, reports.report_schema(), cls=jsonschema.Draft202012Validator)
    assert d["exit_code"] == 1 and len(d["parts"]) == len(expect["parts"])
    # Markdown: the yield table opens the batch (counted by hand from the tree: 45 good
    # parts pass, 15 fail, 4 bad parts are not measurable), parts linked to their sections
    md = (out / "r.md").read_text()
    assert md.index("### Yield") < md.index("### Part ")
    row = next(ln for ln in md.splitlines() if ln.startswith("| `flat.form.residual_rms`"))
    assert row.split("|")[2:6] == [" 45 ", " 15 ", " 4 ", " 0 "]
    assert "70%" in row                                # 45 of the 64 parts
    anchors = set(re_find(r'<a id="([^"]+)"></a>', md))
    links = set(re_find(r"\]\(#([^)]+)\)", md))
    assert len(anchors) == len(expect["parts"]) and links <= anchors
    assert "- `p003_flat.x3p` \u2192 `flat` (by file-name pattern): **FAIL**" in md
    # JUnit: a yield suite first, then one suite per part
    root_el = ET.parse(out / "r.xml").getroot()
    suites = root_el.findall("testsuite")
    assert suites[0].get("name").endswith("/ yield") and suites[0].get("tests") == "0"
    assert "flat.form.residual_rms: 45 pass, 15 fail, 4 not measurable" in \
        suites[0].find("system-out").text
    assert len(suites) == 1 + len(expect["parts"])


def re_find(pattern: str, text: str) -> list[str]:
    import re

    return re.findall(pattern, text)


def test_html_batch_report_yield_links_and_file_verdicts(tree, tmp_path):
    pytest.importorskip("matplotlib")
    root, expect = tree
    sub = tmp_path / "t"
    for name in ("lot0/p000", "lot0/p003", "bad/b2"):          # pass, fail, not measurable
        shutil.copytree(root / "tree" / name, sub / name)
    html_path = tmp_path / "r.html"
    code = main(["check", "--spec", str(root / "spec.toml"), str(sub), "--workers", "1",
                 "--quiet", "--html", str(html_path)])
    assert code == 1
    page = html_path.read_text()
    assert page.index("<h2>Yield</h2>") < page.index('<h2 id="part-')
    ids = re_find(r'<h2 id="([^"]+)">', page)
    assert len(ids) == 3 and set(re_find(r'href="#([^"]+)"', page)) <= set(ids)
    assert re_find(r"<h3>p003_flat.x3p \u2192 measurement flat <span class=\"verdict fail\">"
                   r"FAIL</span></h3>", page)
    # figures only for the parts that did not pass (--figures auto on a batch)
    sec = {s.split('"', 1)[0].split("-", 2)[2]: s for s in page.split('<h2 id="')[1:]}
    assert set(sec) == {"bad-b2", "lot0-p000", "lot0-p003"}
    fail_sec, pass_sec = sec["lot0-p003"], sec["lot0-p000"]
    assert "data:image/png;base64," in fail_sec
    assert "data:image/png;base64," not in pass_sec
    assert "figures are drawn for parts that did not pass" in pass_sec


# ----------------------------------------------------------------------------- resume

def _children(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out += [int(x) for x in fh.read().split()]
    except OSError:
        pass
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc and SIGKILL")
def test_sigkill_of_the_parent_then_resume_gives_the_same_results(tree, pool_run, tmp_path):
    root, expect = tree
    log = tmp_path / "k.jsonl"
    proc = subprocess.Popen(_cmd(root, "--workers", "2", "--results", log),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env(),
                            cwd=root)
    t0 = time.monotonic()
    kids: list[int] = []
    while time.monotonic() - t0 < 120:
        kids = kids or [k for k in _children(proc.pid) if _alive(k)]
        n = log.read_text().count('"record": "part"') if log.exists() else 0
        if n >= 5 or proc.poll() is not None:
            break
        time.sleep(0.005)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stderr.close()
    done_before = len(by_part(records(log)))
    assert 5 <= done_before < len(expect["parts"])
    # the workers die with their parent (they would otherwise finish their part)
    deadline = time.monotonic() + 20
    while any(_alive(k) for k in kids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(k) for k in kids)
    # a torn last line (a crash inside a write) is cut off, and said so
    with open(log, "a") as fh:
        fh.write('{"schema": "metrology.batch-record/1", "record": "fi')
    p = subprocess.run(_cmd(root, "--workers", "2", "--results", log, "--resume"),
                       capture_output=True, text=True, env=_env(), cwd=root, timeout=300)
    assert p.returncode == 1, p.stderr[-2000:]
    assert "cut off" in p.stderr and f"{done_before} part(s) already in" in p.stderr
    got_parts, got_files = comparable_log(log)
    ref_parts, ref_files = comparable_log(pool_run["out"] / "r.jsonl")
    assert got_parts == ref_parts
    assert got_files == ref_files
    keys = [r["key"] for r in records(log) if r["record"] == "part"]
    assert len(keys) == len(set(keys)) == len(expect["parts"])
    # a resumed run of a complete log checks nothing again and says the same
    p2 = subprocess.run(_cmd(root, "--workers", "2", "--results", log, "--resume"),
                        capture_output=True, text=True, env=_env(), cwd=root, timeout=300)
    assert p2.returncode == 1
    assert len(records(log)) == sum(1 for _ in records(log))
    assert comparable_log(log) == (ref_parts, ref_files)


def test_results_log_refuses_a_foreign_file_and_repairs_only_the_tail(tmp_path):
    foreign = tmp_path / "x.jsonl"
    foreign.write_text('{"a": 1}\n')
    with pytest.raises(mt.MetrologyError, match="not a results log"):
        ResultsLog(foreign)
    assert foreign.read_text() == '{"a": 1}\n'
    good = tmp_path / "g.jsonl"
    rec = {"schema": RECORD_SCHEMA, "record": "file", "key": "k", "path": "a"}
    part = {**rec, "record": "part"}
    good.write_text(json.dumps(rec) + "\n" + json.dumps(part) + "\n" + json.dumps(rec) + "\n")
    log = ResultsLog(good)                      # a part's file record without its part
    assert "cut off" in log.repaired and log.done() == {"k"}
    log.close()
    assert good.read_text().count("\n") == 2


def test_a_part_recorded_by_an_older_record_schema_is_checked_again(tmp_path):
    """batch-record/1 held no U, uncertainty model or decision rule: resuming from such a
    record would report a guarded verdict as made by the simple rule, without U;
    batch-record/2 did not say how a clear-aperture centre was found (a resumed part
    would read "given by the spec" for a centre fitted to the edge) nor the fits' condition
    numbers and the PSD's rules. Their parts are kept in the log (never rewritten) but not
    taken as done."""
    old = [{"schema": f"metrology.batch-record/{v}", "record": "part", "key": f"k{v}"}
           for v in (1, 2)]
    new = {"schema": RECORD_SCHEMA, "record": "part", "key": "k3"}
    log_path = tmp_path / "mixed.jsonl"
    log_path.write_text("".join(json.dumps(r) + "\n" for r in [*old, new]))
    with ResultsLog(log_path) as log:
        assert RECORD_SCHEMA == "metrology.batch-record/3"
        assert log.done() == {"k3"} and not log.repaired
    assert log_path.read_text().count("\n") == 3


# ----------------------------------------------------------------------------- dask

def test_dask_local_cluster_gives_the_pool_results(tree, pool_run, tmp_path):
    pytest.importorskip("distributed")
    root, _ = tree
    log = tmp_path / "d.jsonl"
    t0 = time.monotonic()
    p = subprocess.run(_cmd(root, "--dask", "local", "--workers", "2", "--results", log),
                       capture_output=True, text=True, env=_env(), cwd=root, timeout=300)
    assert p.returncode == 1, p.stderr[-3000:]
    assert comparable_log(log) == comparable_log(pool_run["out"] / "r.jsonl")
    print(f"dask local cluster run: {time.monotonic() - t0:.1f} s")


# ----------------------------------------------------------------------------- per file

def test_per_file_on_50_files_gives_50_verdicts(tree, tmp_path, capsys):
    root, expect = tree
    flat = tmp_path / "flat"
    flat.mkdir()
    want = {}
    for f in sorted((root / "tree").rglob("p*_flat.*"))[:50]:
        shutil.copy(f, flat / f.name)
        name = f.parent.relative_to(root / "tree").as_posix()
        want[f.name] = expect["parts"][name]
    assert len(want) == 50
    log = tmp_path / "pf.jsonl"
    code, out, err = run(capsys, "check", "--spec", root / "spec.toml", "--per-file",
                         "--workers", "1", "--quiet", "--details", "--results", log, flat)
    assert code == 1, err
    parts = by_part(records(log))
    assert len(parts) == 50
    assert {k: v["outcome"] for k, v in parts.items()} == want
    # the same files named one by one: 50 parts too
    code, out, err = run(capsys, "check", "--spec", root / "spec.toml", "--per-file",
                         "--workers", "1", "--quiet", "--no-details",
                         *sorted(flat.iterdir()))
    assert code == 1 and out.count("\nPASS ") + out.count("\nFAIL ") == 50


# ----------------------------------------------------------------------------- faults

def _crash_on_p003(spec, part_task, options, attempt):
    """Pool task for the test: the worker dies (as in a C-library crash) on part p003."""
    from metrology import _worker

    _worker.mark_started(part_task)
    if part_task.name.endswith("p003"):
        os._exit(70)
    return _worker.task(spec, part_task, options, attempt)


def test_a_crashing_worker_is_retried_once_then_recorded(tree):
    from metrology.batch._run import RunOptions, _iter_pool

    root, expect = tree
    spec = mt.load_spec(root / "spec.toml")
    tasks = [t for t in discover([root / "tree/lot0", root / "tree/lot1"]).tasks][:6]
    names = [t.name for t in tasks]
    assert "p003" in names or any(n.endswith("p003") for n in names)
    outs = list(_iter_pool(spec, tasks, RunOptions(), 2, frozenset(), None,
                           task_fn=_crash_on_p003))
    assert sorted(o.index for o in outs) == [t.index for t in tasks]   # each once
    crashed = [o for o in outs if o.status == "crashed"]
    assert [tasks[o.index].name for o in crashed] == ["p003"]
    (c,) = crashed
    assert c.attempt == 2 and "died twice" in c.part.errors[0].reason
    assert "exit status 70" in c.part.errors[0].reason
    assert c.part.exit_code == 2
    ok = {tasks[o.index].name: o.part.outcome for o in outs if o.status == "checked"}
    assert ok == {t.name: expect["parts"][f"{Path(t.path).parent.name}/{t.name}"]
                  for t in tasks if t.name != "p003"}


def test_unexpected_exception_exits_2_with_one_line_naming_the_file(tree, tmp_path, capsys,
                                                                   monkeypatch):
    root, _ = tree
    import metrology.check as chk

    def boom(*a, **k):
        raise OverflowError("(34, 'Numerical result out of range')")

    monkeypatch.setattr(chk, "analyze_file", boom)
    code, out, err = run(capsys, "check", "--spec", root / "spec.toml", "--workers", "1",
                         root / "tree/lot0/p000")
    assert code == 2
    assert "Traceback" not in err and "Traceback" not in out
    msgs = [ln for ln in err.splitlines() if ln.startswith("metrology check: error:")]
    assert len(msgs) == 1 and "p000_flat.x3p" in msgs[0] and "OverflowError" in msgs[0]


@pytest.mark.parametrize("make, reason", [
    (lambda: np.full((48, 48), np.nan), "no valid pixel"),
    (lambda: np.full((48, 48), 3.25), "same height"),
])
def test_map_without_surface_is_not_measurable_exit_3(tmp_path, capsys, make, reason):
    """issue 18 items 2 and 10: an all-NaN or constant map is never judged; even the
    data-quality criteria are not-measurable, so the exit code is 3, not 1 (or 0)."""
    (tmp_path / "spec.toml").write_text(SPEC)
    f = mt.save(mt.HeightMap(make(), 0.1), tmp_path / "x_flat.npz")
    js = tmp_path / "r.json"
    code, out, err = run(capsys, "check", "--spec", tmp_path / "spec.toml", "--json", js, f)
    assert code == 3, err
    d = json.loads(js.read_text())
    assert {c["verdict"] for c in d["parts"][0]["criteria"]} == {"not-measurable"}
    assert all(reason in c["reason"] for c in d["parts"][0]["criteria"])
    assert d["parts"][0]["files"][0]["status"] == "unjudgeable"


def test_stray_and_unreadable_files_in_a_part_folder(tmp_path, capsys):
    """issue 9 item 10: a notes file, a CSV export, an unsupported export and a foreign
    HDF5 file are listed as ignored and do not stop the check; a file assigned to a
    measurement that cannot be read makes that measurement not-measurable, and every
    other criterion is still judged."""
    import h5py

    spec = SPEC.replace('[form]', '''[measurements.side]
instrument = "csi"
match.filename = ["*_side*"]

[[bands]]
name = "S"
measurement = "side"
f_lo_per_mm = 1.0
f_hi_per_mm = 5.0
kind = "areal"
rms_nm_max = 1.0

[form]''')
    (tmp_path / "spec.toml").write_text(spec)
    part = tmp_path / "part"
    part.mkdir()
    mt.save(ripple(0.5), part / "a_flat.x3p")
    (part / "notes.txt").write_text("operator notes\nsecond line\n")
    (part / "export.csv").write_text("site,PV,RMS\nA,12.5,0.4\n")
    (part / "scan.opd").write_bytes(b"\x01\x02OPD" * 20)
    with h5py.File(part / "other.h5", "w") as h:
        h["x"] = np.arange(4)
    (part / "b_side.x3p").write_bytes(b"PK\x03\x04 damaged")
    js = tmp_path / "r.json"
    code, out, err = run(capsys, "check", "--spec", tmp_path / "spec.toml", "--json", js, part)
    assert code == 3, err
    d = json.loads(js.read_text())
    p = d["parts"][0]
    crit = {c["id"]: c for c in p["criteria"]}
    assert crit["side.band.S.rms"]["verdict"] == "not-measurable"
    assert "could not be read" in crit["side.band.S.rms"]["reason"]
    assert {crit[k]["verdict"] for k in crit if k.startswith("flat.")} == {"pass"}
    ignored = {Path(i["path"]).name: i["reason"] for i in p["ignored"]}
    assert set(ignored) == {"notes.txt", "export.csv", "scan.opd", "other.h5"}
    assert "ignored" in out and "notes.txt" in out


def test_reports_in_a_part_folder_are_never_read_and_inputs_never_overwritten(tmp_path,
                                                                              capsys):
    """issue 18 item 10: reports written into a part folder (any of our kinds, any name)
    are not measurements next time; an output may not overwrite part.json, a truth file or
    any other file of an input folder that metrology did not write."""
    (tmp_path / "spec.toml").write_text(SPEC)
    part = tmp_path / "part"
    part.mkdir()
    mt.save(ripple(0.5), part / "a_flat.x3p")
    (part / "part.json").write_text('{"part": "a"}')
    (part / "a_flat.x3p.truth.json").write_text("{}")
    (part / "notes.txt").write_text("keep me\n")
    outs = {"--json": "r_flat.json", "--junit": "r_flat.xml", "--markdown": "r_flat.md",
            "--html": "r_flat.html", "--csv": "r_flat.csv", "--results": "r_flat.jsonl"}
    argv = [a for k, v in outs.items() for a in (k, part / v)]
    for _ in range(2):        # the second run replaces its own reports, reads none of them
        code, out, err = run(capsys, "check", "--spec", tmp_path / "spec.toml", *argv, part)
        assert code == 0, err
        d = json.loads((part / "r_flat.json").read_text())
        assert [Path(f["path"]).name for f in d["parts"][0]["files"]] == ["a_flat.x3p"]
        assert [Path(i["path"]).name for i in d["parts"][0]["ignored"]] == ["notes.txt"]
    text = reports.render(_report_of(tmp_path / "spec.toml", part), "text")
    (part / "r_flat.txt").write_text(text)
    assert is_own_output(part / "r_flat.txt") and probe(part / "r_flat.txt")[0] == "skip"
    for name in outs.values():
        assert probe(part / name)[0] == "skip", name
    before = {p.name: p.read_bytes() for p in part.iterdir()}
    for opt, victim in (("--json", "part.json"), ("--markdown", "a_flat.x3p.truth.json"),
                        ("--csv", "notes.txt"), ("--html", "a_flat.x3p")):
        code, _, err = run(capsys, "check", "--spec", tmp_path / "spec.toml", opt,
                           part / victim, part)
        assert code == 2 and ("never modified" in err), (opt, err)
    assert {p.name: p.read_bytes() for p in part.iterdir()} == before


def _report_of(spec_path: Path, part: Path):
    from metrology.check import check

    return check(mt.load_spec(spec_path), [part])


# ----------------------------------------------------------------------------- interrupts

@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="POSIX signals")
@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_exits_130_without_traceback_or_report(tree, tmp_path, workers):
    root, expect = tree
    log = tmp_path / "i.jsonl"
    js = tmp_path / "r.json"
    cmd = _cmd(root, "--workers", workers, "--results", log, "--json", js)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(),
                            cwd=root, text=True)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 120:
        n = log.read_text().count('"record": "part"') if log.exists() else 0
        if n >= 3 or proc.poll() is not None:
            break
        time.sleep(0.005)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "Traceback" not in out
    assert "interrupted, no report written" in err
    assert not js.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]   # no temp files
    parts = by_part(records(log))                          # whole records only
    assert 3 <= len(parts) < len(expect["parts"])
    assert "overall" not in out                            # no summary of a partial run


# ----------------------------------------------------------------------------- API, memory

def test_check_many_yields_results_without_maps(tree):
    """Memory is bounded by the workers: a result holds no map (no 2-D array) and a few
    kB of 1-D curves at most, while the same part checked in-process holds its maps
    (the control: the walk finds them)."""
    from metrology.check import check

    root, expect = tree
    spec = mt.load_spec(root / "spec.toml")
    full = check(spec, [root / "tree/lot2/p002"]).parts[0]
    assert any(len(shape) == 2 for shape, _ in arrays_reachable(full))
    got = {}
    for p in mt.check_many(spec, [root / "tree/lot2"], workers=2):
        got[p.name] = p.outcome
        assert all(fa.hm is None and not fa.fits and fa.spectrum is None for fa in p.files)
        assert len(p.file_sha256) == len(p.files) and p.content_sha256
        arrays = arrays_reachable(p)
        assert not [a for a in arrays if len(a[0]) >= 2], f"{p.name} keeps a map alive"
        assert sum(n for _, n in arrays) < 64 * 1024, f"{p.name}: {arrays[:5]}"
    assert got == {k.split("/", 1)[1]: v for k, v in expect["parts"].items()
                   if k.startswith("lot2/")}


def test_check_many_is_a_lazy_name_of_the_package():
    code = ("import sys, metrology as mt; f = mt.check_many; "
            "assert 'numba' not in sys.modules; print(f.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=_env(), timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "metrology.batch", out.stderr


def test_a_check_in_this_process_imports_no_process_pool(tmp_path):
    # a one-file check discovers its part through metrology.batch; the pool machinery
    # (concurrent.futures.process, multiprocessing: ~5 ms at start-up) waits for a pool
    mt.save(ripple(0.5), tmp_path / "x_flat.x3p")
    code = ("import sys, metrology.batch as b; b.discover([sys.argv[1]], None); "
            "print(sorted(m for m in ('multiprocessing', 'concurrent.futures.process') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                         text=True, env=_env(), timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr


def test_discovery_rules(tmp_path):
    (tmp_path / "a").mkdir()
    mt.save(ripple(0.5), tmp_path / "a" / "x_flat.x3p")
    (tmp_path / "a" / "table.csv").write_text("1.0, 2.0, 3.0\n4.0, 5.0, 6.0\n")
    (tmp_path / "a" / "notes.txt").write_text("a note\n")
    (tmp_path / ".hidden").mkdir()
    mt.save(ripple(0.5), tmp_path / ".hidden" / "y_flat.x3p")
    d = discover([tmp_path])
    assert [t.name for t in d.tasks] == ["a"]
    assert [Path(f).name for f in d.tasks[0].files] == ["table.csv", "x_flat.x3p"]
    assert [Path(i.path).name for i in d.tasks[0].ignored] == ["notes.txt"]
    assert probe(tmp_path / "a" / "x_flat.x3p") == ("candidate", "", True)
    with pytest.raises(mt.MetrologyError, match="no such file or folder"):
        discover([tmp_path / "nope"])
    with pytest.raises(mt.MetrologyError, match="matches"):
        discover([str(tmp_path / "zz*")])
    assert [t.name for t in discover([str(tmp_path / "*")]).tasks] == ["a"]


def test_exit_code_rules():
    from metrology.verdicts import ExitCode, Verdict, exit_code_for, worst_exit

    assert exit_code_for(Verdict.NOT_CHECKED) == 3          # issue 9 item 9: not a pass
    assert exit_code_for(Verdict.PASS) == 0
    assert worst_exit([0, 3, 1]) == 1 and worst_exit([1, 2, 3]) == 2
    assert worst_exit([0, 3]) == 3 and worst_exit([]) == 0
    assert worst_exit([2, 130]) == ExitCode.INTERRUPTED


def test_progress_lines_without_a_terminal():
    """CI logs: a line every N parts (and one at the end) with files/s and ETA; the results
    go to stdout untouched."""
    import io

    from metrology.batch._progress import Progress

    err, out = io.StringIO(), io.StringIO()
    p = Progress(25, 50, mode="auto", every=10, seconds=1e9, stream=err, out=out)
    assert p.mode == "lines"                       # a StringIO is no terminal
    for i in range(25):
        p.write(f"PASS part{i}")
        p.update(2)
    p.close()
    lines = err.getvalue().splitlines()
    assert [ln.split(",")[0] for ln in lines] == ["progress: 10/25 parts", "progress: 20/25 parts",
                                                 "progress: 25/25 parts"]
    assert "files/s" in lines[0] and "ETA" in lines[0] and "50/50 files (100 %)" in lines[-1]
    assert out.getvalue().splitlines() == [f"PASS part{i}" for i in range(25)]
    quiet = io.StringIO()
    q = Progress(3, 3, mode="none", stream=quiet, out=io.StringIO())
    for _ in range(3):
        q.update(1)
    assert quiet.getvalue() == ""
