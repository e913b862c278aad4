"""Every code block of the documentation runs, on the shipped data.

Pages: every ``docs/**/*.md`` with a fenced block, and ``README.md``. Each page
runs in a fresh folder that holds a link to ``datasets/`` (the examples are
written for the root of a checkout), its blocks in order:

* ``python``: executed, one namespace per page;
* ``output``: each of its lines must appear in the output of the block before
  (a line ``...`` marks output left out);
* ``bash``: every ``metrology ...`` command is run through ``metrology.cli.main``
  and must end with exit code 0, or with N where the line says ``# exit N``;
  ``NAME=value`` before the command sets an environment variable for it, and
  unquoted globs are expanded as the shell does (sorted; kept as written when
  nothing matches). Other lines may only be the install steps (venv,
  activate, pip), which a test cannot run;
* ``toml``: valid TOML; a spec (``schema = "metrology.spec/1"``) parses without a
  warning; with ``<!-- file: NAME -->`` just above it, also written to NAME for
  the blocks after it;
* ``yaml`` (CI jobs): its ``metrology`` commands are run like ``bash`` lines.

``AFTER`` adds checks on a page's namespace once its blocks ran (the
version-1 reader of ``docs/report-schema.md``, for which no report exists).

Not executed, each for its reason (``NOT_RUN`` lists them; a block whose fence
says ``not-run`` after its language, ```` ```python not-run ````, must be one
of them, and every one of them must be there):

* ``docs/batch.md``, the dask-jobqueue (Slurm, PBS) and dask-kubernetes
  snippets: they need a cluster and its packages. They are compiled, and their
  calls of metrology functions are bound to the functions' signatures;
* ``docs/psd.md``, the reproduction of the window-bias table: about 70 s (24 seeds
  of 2048² surfaces); compiled and its calls bound like the cluster snippets;
* ``README.md``, the fuzz suite and the benchmarks: minutes each (the quick
  fuzz profile is part of this suite, CI runs ``python -m benchmarks --quick``).
  Each ``python -m MODULE`` line must name a module that exists;
* ``README.md``, its first block: the install steps and the test suite (this
  suite) of its two lines are not run; its main job runs in
  :func:`test_readme_main_job` (exit code 1 and the part verdicts the README
  states).
"""

from __future__ import annotations

import ast
import contextlib
import copy
import glob
import importlib.util
import inspect
import io
import os
import re
import shlex
import tomllib
import warnings
from pathlib import Path

import pytest

import metrology
from metrology.cli import main
from metrology.spec import SpecWarning, parse_spec

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
README = REPO / "README.md"
FENCE = re.compile(r"(?:<!--\s*file:\s*(?P<file>\S+)\s*-->\s*\n)?"
                   r"^```(?P<lang>[a-z]*)(?P<info>[^\n]*)\n(?P<body>.*?)\n```$", re.S | re.M)
INSTALL = re.compile(r"^(python3? -m venv \S+( && )?|\. \S+/bin/activate( && )?|pip install .*)+$")

#: the blocks that are not run: (page, first line of the block) -> why
NOT_RUN = {
    ("docs/batch.md", "from dask_jobqueue import SLURMCluster          # or PBSCluster"):
        "needs a Slurm or PBS cluster and dask-jobqueue",
    ("docs/batch.md", "from dask_kubernetes.operator import KubeCluster"):
        "needs a Kubernetes cluster and dask-kubernetes",
    ("docs/psd.md", "import numpy as np"):
        "about 70 s: 24 seeds of 2048\u00b2 surfaces for the window-bias table",
    ("README.md", "python -m pytest -q tests/fuzz                 # quick profile: 300 cases "
                  "per target (in the default run)"):
        "the quick profile runs in this suite; the long profile takes minutes",
    ("README.md", 'pip install -e ".[bench]"        # prysm, for the comparisons'):
        "benchmarks take minutes; CI runs the quick ones",
}


def blocks(page: Path) -> list[tuple[str, str, str, str | None]]:
    """(kind, info after the kind, body, file) of each fenced block."""
    return [(m["lang"], m["info"].strip(), m["body"], m["file"])
            for m in FENCE.finditer(page.read_text("utf-8"))]


def fences(page: Path) -> int:
    return sum(1 for ln in page.read_text("utf-8").splitlines() if ln.startswith("```"))


PAGES = sorted(p for p in DOCS.rglob("*.md") if blocks(p)) + [README]


def rel(page: Path) -> str:
    return page.relative_to(REPO).as_posix()


def commands(body: str) -> list[str]:
    """Shell lines with continuations joined (lines holding only a comment left out)."""
    out, cur = [], ""
    for line in body.splitlines():
        if not cur and line.lstrip().startswith("#"):
            continue
        cur += line.rstrip()
        if cur.endswith("\\"):
            cur = cur[:-1] + " "
            continue
        if cur.strip():
            out.append(cur.strip())
        cur = ""
    return out


WORD = re.compile(r"""(?:[^\s'"]+|'[^']*'|"[^"]*")+""")


def shell_words(cmd: str) -> list[str]:
    """Split ``cmd`` as a shell does, expanding the unquoted globs (sorted, as bash)."""
    argv = []
    for raw in WORD.findall(cmd):
        (word,) = shlex.split(raw)
        if not re.search(r"['\"]", raw) and re.search(r"[*?[]", raw):
            argv.extend(sorted(glob.glob(word)) or [word])
        else:
            argv.append(word)
    return argv


def run_metrology(line: str, want: int | None = None) -> str:
    """Run one ``[NAME=value ...] metrology ...`` line (``# exit N``: the expected exit code)."""
    cmd, _, comment = line.partition("#")
    if want is None:
        m = re.search(r"\bexit (\d)", comment)
        want = int(m[1]) if m else 0
    argv = shell_words(cmd)
    env = {}
    while argv and re.match(r"[A-Z_][A-Z0-9_]*=", argv[0]):
        name, _, value = argv.pop(0).partition("=")
        env[name] = value
    assert argv and argv[0] == "metrology", line
    buf = io.StringIO()
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            code = main(argv[1:])
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    assert code == want, f"{line}\n{buf.getvalue()[-3000:]}"
    return buf.getvalue()


def check_not_run(page: str, lang: str, body: str) -> None:
    """What can be checked of a block that is not run."""
    first = body.splitlines()[0]
    assert (page, first) in NOT_RUN, f"{page}: a not-run block not in NOT_RUN (why?): {first}"
    if lang == "python":
        tree = ast.parse(body, f"{page}:python")
        names = {a.asname or a.name: a.name for n in ast.walk(tree) if isinstance(n, ast.Import)
                 for a in n.names if a.name.split(".")[0] == "metrology"}
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            chain, f = [], call.func
            while isinstance(f, ast.Attribute):
                chain.insert(0, f.attr)
                f = f.value
            if not (isinstance(f, ast.Name) and f.id in names):
                continue
            obj = metrology if names[f.id] == "metrology" else None
            assert obj is not None, f"{page}: import {names[f.id]}"
            for attr in chain:
                obj = getattr(obj, attr)
            inspect.signature(obj).bind(*call.args, **{k.arg: k.value for k in call.keywords})
    elif lang == "bash":
        for line in commands(body):
            cmd = line.split("#")[0].strip()
            m = re.match(r"python3? -m ([\w.]+)", cmd)
            if m:
                mod = m[1]
                assert ((REPO / Path(*mod.split("."))).is_dir()
                        or importlib.util.find_spec(mod) is not None), f"{page}: {line}"
            else:
                assert INSTALL.match(cmd), f"{page}: a shell line the test cannot check: {line}"
    else:
        pytest.fail(f"{page}: a not-run block of kind {lang!r}")


def test_every_page_with_code_is_run() -> None:
    names = {rel(p) for p in PAGES}
    assert {"docs/guide/getting-started.md", "docs/guide/analysing-a-file.md",
            "docs/guide/checking-parts.md", "docs/guide/formats-and-exports.md",
            "docs/batch.md", "docs/composite.md", "docs/iso10110.md", "docs/psd.md",
            "docs/report-schema.md", "README.md"} <= names
    for page in [*DOCS.rglob("*.md"), README]:  # no fence the pattern misses
        assert fences(page) == 2 * len(blocks(page)), rel(page)
    marked = {(rel(p), b.splitlines()[0]) for p in PAGES for _, info, b, _ in blocks(p)
              if "not-run" in info.split()}
    assert marked == set(NOT_RUN)


def test_the_guide_has_its_pages() -> None:
    guide = DOCS / "guide"
    names = {p.name for p in guide.glob("*.md") if p.name != "README.md"}
    assert {"getting-started.md", "analysing-a-file.md", "checking-parts.md",
            "formats-and-exports.md"} <= names
    index = (guide / "README.md").read_text("utf-8")
    assert all(n in index for n in names)


def test_readme_main_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's first line: install (not run), then the main job, exit code 1 with the
    part verdicts the README states; the second line: install and this suite (not run)."""
    lang, _, body, _ = blocks(README)[0]
    lines = body.splitlines()
    assert lang == "bash" and len(lines) == 2
    steps = [s.strip() for s in lines[0].split("&&")]
    assert all(INSTALL.match(s) for s in steps[:-1]) and steps[-1].startswith("metrology check")
    tests = [s.strip() for s in lines[1].split("&&")]
    assert all(INSTALL.match(s) for s in tests[:-1]) and tests[-1] == "python -m pytest -q"
    text = README.read_text("utf-8")
    assert "Four parts pass" in text and "four fail" in text and "one is" in text \
        and "not measurable" in text and "ends with exit code 1" in text
    (tmp_path / "datasets").symlink_to(REPO / "datasets", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    out = run_metrology(steps[-1], want=1)
    assert re.search(r"parts\s+9: 4 pass, 4 fail, 1 not-measurable", out), out[-2000:]


def _v1_names_are_read_as_v2(ns: dict) -> None:
    """docs/report-schema.md: ``v1_to_v2_names`` undoes the renames of its table on a real
    report (no version-1 report is written any more: made from the page's version-2 one)."""
    v2 = ns["v2"]
    v1 = copy.deepcopy(v2)
    v1["schema"] = "metrology.check-report/1"
    renamed = 0
    for p in v1["parts"]:
        for f in p["files"]:
            for z in f["analysis"]["zernike_fits"]:
                for new, old in (("normalisation", "normalization"), ("r_norm_mm", "radius_mm"),
                                 ("centre_mm", "center_mm")):
                    z[old] = z.pop(new)
                    renamed += 1
        for c in p["criteria"]:
            if "normalisation" in c["convention"]:
                c["convention"]["normalization"] = c["convention"].pop("normalisation")
                renamed += 1
    assert renamed > 10  # fits and Zernike criteria were there to rename
    assert ns["v1_to_v2_names"](v1) == v2


#: checks after a page's blocks ran, on the page's namespace
AFTER = {"docs/report-schema.md": _v1_names_are_read_as_v2}


@pytest.mark.parametrize("page", PAGES, ids=[rel(p).removesuffix(".md") for p in PAGES])
def test_code_blocks_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = page.read_text("utf-8")
    if "matplotlib" in text or "--html" in text:
        pytest.importorskip("matplotlib")
    if "import jsonschema" in text:
        pytest.importorskip("jsonschema")
    (tmp_path / "datasets").symlink_to(REPO / "datasets", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    name = rel(page)
    ns: dict[str, object] = {"__name__": "docs_" + re.sub(r"\W", "_", name.removesuffix(".md"))}
    last_output = None
    found = blocks(page)
    assert found, f"{name}: no code block"
    for i, (lang, info, body, file) in enumerate(found):
        if page == README and i == 0:
            continue  # test_readme_main_job
        if "not-run" in info.split():
            check_not_run(name, lang, body)
            last_output = None
        elif lang == "python":
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                exec(compile(body, f"{name}:python", "exec"), ns)  # noqa: S102
            last_output = buf.getvalue()
        elif lang == "output":
            assert last_output is not None, f"{name}: output block after no code"
            for want in filter(None, (ln.strip() for ln in body.splitlines())):
                if want != "...":
                    assert want in last_output, f"{name}: {want!r} not in\n{last_output}"
        elif lang == "bash":
            out = []
            for line in commands(body):
                if re.match(r"""([A-Z_][A-Z0-9_]*=("[^"]*"|'[^']*'|\S+)\s+)*metrology """, line):
                    out.append(run_metrology(line))
                else:
                    assert INSTALL.match(line.split("#")[0].strip()), \
                        f"{name}: a shell line the test cannot run: {line}"
            last_output = "".join(out)
        elif lang == "toml":
            tomllib.loads(body)
            if 'schema = "metrology.spec/1"' in body:
                with warnings.catch_warnings():
                    warnings.simplefilter("error", SpecWarning)  # an example is clean
                    parse_spec(body)
            if file:
                (tmp_path / file).write_text(body + "\n", encoding="utf-8")
        elif lang == "yaml":
            assert "\t" not in body
            ran = 0
            for line in body.splitlines():
                m = re.match(r"\s*(?:- )?(?:run: )?(metrology .*)$", line)
                if m:
                    run_metrology(m[1])
                    ran += 1
            assert ran, f"{name}: a CI job without a metrology command"
        else:
            pytest.fail(f"{name}: a code block of unknown kind {lang!r}")
    if name in AFTER:
        AFTER[name](ns)
