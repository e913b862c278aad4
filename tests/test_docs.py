"""Every code block of the user guide (``docs/guide/*.md``) runs, on the shipped data.

Each page runs in a fresh folder that holds a link to ``datasets/`` (the
examples are written for the root of a checkout), its blocks in order:

* ``python``: executed, one namespace per page;
* ``output``: each of its lines must appear in the output of the block before;
* ``bash``: every ``metrology ...`` command is run through ``metrology.cli.main``
  and must end with exit code 0, or with N where the line says ``# exit N``;
  other lines may only be the install steps (venv, activate, pip), which a
  test cannot run (the README's first lines are the same steps);
* ``toml``: a spec, parsed without a warning; with ``<!-- file: NAME -->`` just above it, also
  written to NAME for the blocks after it;
* ``yaml`` (CI jobs): its ``metrology`` commands are run like ``bash`` lines.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import warnings
from pathlib import Path

import pytest

from metrology.cli import main
from metrology.spec import SpecWarning, parse_spec

REPO = Path(__file__).resolve().parent.parent
GUIDE = REPO / "docs" / "guide"
PAGES = sorted(p for p in GUIDE.glob("*.md") if p.name != "README.md")
FENCE = re.compile(r"(?:<!--\s*file:\s*(?P<file>\S+)\s*-->\s*\n)?```(?P<lang>[a-z]*)[^\n]*\n"
                   r"(?P<body>.*?)\n```", re.S)
INSTALL = re.compile(r"^(python3? -m venv \S+( && )?|\. \S+/bin/activate( && )?|pip install .*)+$")


def blocks(page: Path) -> list[tuple[str, str, str | None]]:
    return [(m["lang"], m["body"], m["file"]) for m in FENCE.finditer(page.read_text("utf-8"))]


def commands(body: str) -> list[str]:
    """Shell lines with continuations joined."""
    out, cur = [], ""
    for line in body.splitlines():
        cur += line.rstrip()
        if cur.endswith("\\"):
            cur = cur[:-1] + " "
            continue
        if cur.strip():
            out.append(cur.strip())
        cur = ""
    return out


def run_metrology(line: str) -> str:
    """Run one ``metrology ...`` line (``# exit N``: the expected exit code)."""
    cmd, _, comment = line.partition("#")
    want = re.search(r"\bexit (\d)", comment)
    argv = shlex.split(cmd)
    assert argv[0] == "metrology", line
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        code = main(argv[1:])
    assert code == (int(want[1]) if want else 0), f"{line}\n{buf.getvalue()[-3000:]}"
    return buf.getvalue()


def test_the_guide_has_its_pages() -> None:
    names = {p.name for p in PAGES}
    assert {"getting-started.md", "analysing-a-file.md", "checking-parts.md",
            "formats-and-exports.md"} <= names
    index = (GUIDE / "README.md").read_text("utf-8")
    assert all(n in index for n in names)


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_code_blocks_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if "matplotlib" in page.read_text("utf-8"):
        pytest.importorskip("matplotlib")
    (tmp_path / "datasets").symlink_to(REPO / "datasets", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    ns: dict[str, object] = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    last_output = None
    found = blocks(page)
    assert found, f"{page.name}: no code block"
    for lang, body, file in found:
        if lang == "python":
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                exec(compile(body, f"{page.name}:python", "exec"), ns)  # noqa: S102
            last_output = buf.getvalue()
        elif lang == "output":
            assert last_output is not None, f"{page.name}: output block after no code"
            for want in filter(None, (ln.strip() for ln in body.splitlines())):
                assert want in last_output, f"{page.name}: {want!r} not in\n{last_output}"
        elif lang == "bash":
            out = []
            for line in commands(body):
                if line.startswith("metrology "):
                    out.append(run_metrology(line))
                else:
                    assert INSTALL.match(line.split("#")[0].strip()), \
                        f"{page.name}: a shell line the test cannot run: {line}"
            last_output = "".join(out)
        elif lang == "toml":
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
            assert ran, f"{page.name}: a CI job without a metrology command"
        else:
            pytest.fail(f"{page.name}: a code block of unknown kind {lang!r}")
