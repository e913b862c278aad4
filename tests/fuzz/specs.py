"""Mutations of the shipped TOML specs, through the public :func:`metrology.parse_spec`.

Key-level mutations (a value set to an extreme, a value of another type, a value
nested deep in arrays or inline tables, a key deleted or added) keep the TOML
valid, so the spec's own validation must answer them: a :class:`SpecError`
naming the key path, or a valid spec. Text-level mutations (lines cut,
repeated or deleted) may break the TOML itself; then a SpecError without a key
path is right.
"""

from __future__ import annotations

import re
import time
import warnings
from pathlib import Path

from hypothesis import strategies as st

import metrology

from .corpus import REPO_ROOT
from .oracle import TIME_LIMIT_S, Outcome

SPEC_DIR = REPO_ROOT / "datasets" / "specs"
_ASSIGN = re.compile(r"^(\s*)([A-Za-z0-9_.\"-]+)(\s*=\s*)(.*?)(\s*#.*)?$")

VALUES = ("0", "-1", "1e308", "-1e308", "nan", "inf", "-inf", "1e-320", '""', '"x"',
          '"' + "y" * 10000 + '"', "[]", "{}", "true", "false", str(2**70), "-0.0",
          "1979-05-27T07:32:00Z", "[1, 2, 3]", '["a", 1]', "{ a = 1 }", "1e9")


def spec_texts() -> list[tuple[str, str]]:
    return [(p.name, p.read_text(encoding="utf-8")) for p in sorted(SPEC_DIR.glob("*.toml"))]


@st.composite
def spec_case(draw: st.DrawFn) -> tuple[str, str, str, bool]:
    """(source name, mutated text, mutation label, expects a key path)."""
    texts = spec_texts()
    name, text = draw(st.sampled_from(texts))
    lines = text.splitlines()
    assigns = [i for i, ln in enumerate(lines)
               if _ASSIGN.match(ln) and not ln.lstrip().startswith("#")]
    kind = draw(st.sampled_from(["value", "nest", "delete", "unknown", "cut", "dup_line",
                                 "drop_line", "dup_table"]))
    k = draw(st.integers(0, 10**6))
    if kind in ("value", "nest", "delete", "unknown") and assigns:
        i = assigns[k % len(assigns)]
        m = _ASSIGN.match(lines[i])
        assert m is not None
        indent, key, eq, val = m.group(1), m.group(2), m.group(3), m.group(4)
        if kind == "value":
            new = draw(st.sampled_from(VALUES))
            lines[i] = f"{indent}{key}{eq}{new}"
            label = f"{key} = {new[:16]}"
        elif kind == "nest":
            depth = draw(st.sampled_from([2, 10, 100, 400, 1000]))
            if draw(st.booleans()):
                new = "[" * depth + val + "]" * depth
            else:
                new = "{ a = " * depth + val + " }" * depth
            lines[i] = f"{indent}{key}{eq}{new}"
            label = f"{key} nested {depth} deep"
        elif kind == "delete":
            del lines[i]
            label = f"delete {key}"
        else:
            lines.insert(i + 1, f"{indent}zz_unknown_{k % 7}{eq}1")
            label = f"unknown key after {key}"
        return name, "\n".join(lines) + "\n", label, kind != "delete"
    if kind == "cut":
        cut = draw(st.integers(0, len(text)))
        return name, text[:cut], f"cut at {cut}", False
    if kind == "dup_line" and lines:
        i = k % len(lines)
        lines.insert(i, lines[i])
        return name, "\n".join(lines) + "\n", f"repeat line {i + 1}", False
    if kind == "drop_line" and lines:
        i = k % len(lines)
        del lines[i]
        return name, "\n".join(lines) + "\n", f"drop line {i + 1}", False
    heads = [i for i, ln in enumerate(lines) if ln.startswith("[")]
    if heads:
        i = heads[k % len(heads)]
        lines.append(lines[i])
        lines.append("zz = 1")
        return name, "\n".join(lines) + "\n", f"repeat table {lines[i][:30]}", False
    return name, text, "unchanged", False


def run_spec_case(name: str, text: str, label: str, expects_path: bool) -> Outcome:
    failure = None
    detail = ""
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            metrology.parse_spec(text, source=name)
        result = "spec"
    except metrology.SpecError as exc:
        result = "error"
        detail = str(exc)[:200]
        problems = getattr(exc, "problems", None) or []
        paths = [p.get("path") for p in problems if isinstance(p, dict)]
        if expects_path and problems and not any(paths):
            failure = "SpecError without a key path for a key-level mutation"
    except Exception as exc:  # noqa: BLE001 - the finding
        result = "failure"
        failure = f"escaped {type(exc).__name__}: {str(exc)[:160]}"
    seconds = time.perf_counter() - t0
    if failure is None and seconds > TIME_LIMIT_S:
        failure = f"took {seconds:.2f} s"
    return Outcome("spec", name, label, "failure" if failure else result, seconds, 0, 0,
                   failure, detail)


def spec_sources() -> list[Path]:
    return sorted(SPEC_DIR.glob("*.toml"))
