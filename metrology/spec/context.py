"""Validation of spec values: every problem with its key path and line.

:class:`SpecContext` collects problems (and warnings) while a spec is read,
so that one :class:`metrology.SpecError` reports all of them, each as
``file:line: key.path: message``. The helpers below read one value of a
table, check its type and range, and report what is wrong; they return a
default (usually ``None``) instead of raising, so reading goes on. Section
parsers (:mod:`metrology.spec.schema`) and criterion types
(:mod:`metrology.criteria`) use the same helpers.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import SpecError
from .locate import fmt_path, locate

__all__ = ["SpecContext", "MISSING", "Path_", "type_name", "suggest", "check_keys",
           "bad_type", "table", "string", "number", "boolean", "str_list",
           "MAX_LIMIT", "UNIT_TOKENS"]

MISSING = object()
Path_ = tuple[Any, ...]

#: tokens that make the unit part of a key name (``rms_nm_max``, ``f_lo_per_mm``)
UNIT_TOKENS = frozenset({"nm", "mm", "per", "urad", "nm2"})

#: the largest limit a spec may give, in its unit (1e12 nm is a kilometre: nonsense)
MAX_LIMIT = 1e12


class SpecContext:
    """Problems and warnings found while reading one spec text (see the module doc)."""

    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self._lines: dict[Path_, int] | None = None
        self.problems: list[tuple[Path_, str]] = []
        self.warnings: list[str] = []
        self.suggested: set[Path_] = set()   # keys offered for a misspelt/unit-less key
        #: key paths renamed from a deprecated spelling -> the path as written
        self.renamed: dict[Path_, Path_] = {}

    def missing(self, path: Path_, msg: str = "missing required key") -> None:
        """Report a missing key unless a misspelling of it was already reported."""
        if tuple(path) not in self.suggested:
            self.error(path, msg)

    def failed_under(self, path: Path_) -> bool:
        """Whether a problem was already reported at ``path`` or below it."""
        n = len(path)
        return any(p[:n] == tuple(path) for p, _ in self.problems)

    def _as_written(self, path: Path_) -> Path_:
        p = tuple(path)
        for k in range(len(p), 0, -1):
            if p[:k] in self.renamed:
                return self.renamed[p[:k]] + p[k:]
        return p

    def line(self, path: Path_) -> int | None:
        """Line of ``path`` in the text (or of its closest parent that has one)."""
        if self._lines is None:
            self._lines = locate(self.text)
        p = self._as_written(path)
        while p:
            if p in self._lines:
                return self._lines[p]
            p = p[:-1]
        return None

    def where(self, path: Path_) -> str:
        """``source:line: key.path`` for messages."""
        ln = self.line(path) if path else None
        head = f"{self.source}:{ln}" if ln is not None else self.source
        return f"{head}: {fmt_path(self._as_written(path))}" if path else head

    def error(self, path: Path_, msg: str) -> None:
        self.problems.append((tuple(path), msg))

    def warn(self, path: Path_, msg: str) -> None:
        self.warnings.append(f"{self.where(path)}: {msg}")

    def raise_if_problems(self) -> None:
        """Raise one :class:`SpecError` listing every problem, if there is any."""
        if not self.problems:
            return
        rows = [(self._as_written(p), self.line(p), m) for p, m in self.problems]
        lines = [f"{self.where(p)}: {m}" for p, m in self.problems]
        if len(lines) == 1:
            msg = f"invalid spec: {lines[0]}"
        else:
            msg = f"invalid spec {self.source} ({len(lines)} problems):\n" + "\n".join(
                "  " + s for s in lines)
        err = SpecError(msg)
        err.problems = [  # type: ignore[attr-defined]
            {"path": fmt_path(p), "line": ln, "message": m} for p, ln, m in rows]
        err.path = fmt_path(rows[0][0])  # type: ignore[attr-defined]
        err.line = rows[0][1]  # type: ignore[attr-defined]
        err.source = self.source  # type: ignore[attr-defined]
        raise err


def type_name(v: Any) -> str:
    """The TOML name of a value's type."""
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "table"
    return "date-time"


def suggest(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest choice, or ``""``."""
    m = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {m[0]!r}?" if m else ""


def _unit_stems(key: str) -> set[str]:
    toks = [t for t in key.split("_") if t not in UNIT_TOKENS]
    stems = {"_".join(toks)}
    if toks and toks[-1] in ("max", "min"):
        stems.add("_".join(toks[:-1]))
    return stems - {key, ""}


def check_keys(ctx: SpecContext, tbl: Mapping[str, Any], path: Path_,
               allowed: Iterable[str]) -> None:
    """Report every key of ``tbl`` not in ``allowed``: a missing unit or a misspelling
    with its suggestion, else the list of allowed keys."""
    allowed = list(allowed)
    for k in tbl:
        if k in allowed:
            continue
        unitful = [a for a in allowed if k in _unit_stems(a)]
        if unitful:
            ctx.suggested.add((*path, unitful[0]))
            ctx.error((*path, k), f"key without its unit; write {unitful[0]!r} "
                                  "(units are part of key names: nm, mm, per_mm, urad, nm2_mm)")
        else:
            close = difflib.get_close_matches(k, allowed, n=1, cutoff=0.6)
            if close:
                ctx.suggested.add((*path, close[0]))
            hint = suggest(k, allowed) or f"; allowed here: {', '.join(allowed)}"
            ctx.error((*path, k), f"unknown key{hint}")


def bad_type(ctx: SpecContext, path: Path_, expected: str, v: Any) -> None:
    ctx.error(path, f"expected {expected}, got {type_name(v)} {v!r}")


def table(ctx: SpecContext, parent: Mapping[str, Any], path: Path_, key: str, *,
          required: bool = False) -> dict[str, Any] | None:
    """The sub-table ``key`` of ``parent`` (``None`` when absent or not a table)."""
    v = parent.get(key, MISSING)
    if v is MISSING:
        if required:
            ctx.missing((*path, key), f"missing required table [{fmt_path((*path, key))}]")
        return None
    if not isinstance(v, dict):
        bad_type(ctx, (*path, key), "a table", v)
        return None
    return v


def string(ctx: SpecContext, tbl: Mapping[str, Any], path: Path_, key: str, *,
           required: bool = False, default: str | None = None,
           choices: Iterable[str] | None = None) -> str | None:
    """A string, optionally one of ``choices``."""
    v = tbl.get(key, MISSING)
    p = (*path, key)
    if v is MISSING:
        if required:
            ctx.missing(p, "missing required key" + (
                f" (one of {', '.join(map(repr, choices))})" if choices else ""))
        return default
    if not isinstance(v, str):
        bad_type(ctx, p, "a string", v)
        return default
    if choices is not None and v not in (choices := list(choices)):
        ctx.error(p, f"{v!r} is not one of {', '.join(map(repr, choices))}{suggest(v, choices)}")
        return default
    return v


def number(ctx: SpecContext, tbl: Mapping[str, Any], path: Path_, key: str, *,
           required: bool = False, default: float | None = None, limit: bool = False,
           positive: bool = False, le: float | None = None, integer: bool = False,
           ge: float | None = None) -> Any:
    """A number. ``limit``: a positive tolerance (at most :data:`MAX_LIMIT`);
    ``positive``: > 0; ``le`` / ``ge``: bounds; ``integer``: int only."""
    v = tbl.get(key, MISSING)
    p = (*path, key)
    if v is MISSING:
        if required:
            ctx.missing(p)
        return default
    if (isinstance(v, bool) or not isinstance(v, int | float)
            or (integer and not isinstance(v, int))):
        bad_type(ctx, p, "an integer" if integer else "a number", v)
        return default
    if not math.isfinite(v):
        ctx.error(p, f"must be finite, got {v!r}")
        return default
    if limit and v < 0:
        ctx.error(p, f"negative limit {v!r}: a limit is a positive magnitude")
        return default
    if limit and v == 0:
        ctx.error(p, "a limit of 0 can never be met; give a positive value")
        return default
    if limit and le is None and v > MAX_LIMIT:
        ctx.error(p, f"limit {v!r} is not a plausible tolerance (at most {MAX_LIMIT:g})")
        return default
    if positive and v <= 0:
        ctx.error(p, f"must be > 0, got {v!r}")
        return default
    if le is not None and v > le:
        ctx.error(p, f"must be <= {le:g}, got {v!r}")
        return default
    if ge is not None and v < ge:
        ctx.error(p, f"must be >= {ge:g}, got {v!r}")
        return default
    return v if integer else float(v)


def boolean(ctx: SpecContext, tbl: Mapping[str, Any], path: Path_, key: str,
            default: bool) -> bool:
    v = tbl.get(key, MISSING)
    if v is MISSING:
        return default
    if not isinstance(v, bool):
        bad_type(ctx, (*path, key), "a boolean (true or false)", v)
        return default
    return v


def str_list(ctx: SpecContext, tbl: Mapping[str, Any], path: Path_, key: str, *,
             choices: Iterable[str] | None = None, allow_scalar: bool = False
             ) -> tuple[str, ...] | None:
    """An array of distinct strings (optionally of ``choices``)."""
    v = tbl.get(key, MISSING)
    p = (*path, key)
    if v is MISSING:
        return None
    if allow_scalar and isinstance(v, str):
        v = [v]
    if not isinstance(v, list):
        bad_type(ctx, p, "an array of strings", v)
        return None
    out: list[str] = []
    ok = True
    for i, s in enumerate(v):
        if not isinstance(s, str):
            bad_type(ctx, (*p, i), "a string", s)
            ok = False
        elif choices is not None and s not in (cs := list(choices)):
            ctx.error((*p, i), f"{s!r} is not one of {', '.join(map(repr, cs))}{suggest(s, cs)}")
            ok = False
        elif s in out:
            ctx.error((*p, i), f"{s!r} is listed twice")
            ok = False
        else:
            out.append(s)
    return tuple(out) if ok else None
