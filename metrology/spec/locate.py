"""Where each key of a spec file is: key path -> line number.

:mod:`tomllib` gives no positions, and no maintained TOML library gives them
for every key, so spec errors would name a key without its line. This small
scanner re-reads text that tomllib has already accepted and records the line
of every table header, array-of-tables entry, key and array element.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from typing import Any

__all__ = ["locate", "fmt_path"]

_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")


class _Scanner:
    """Best-effort map from key path to line number in TOML text that tomllib accepted."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.line = 1
        self.found: dict[tuple[Any, ...], int] = {}
        self.aot: dict[tuple[Any, ...], int] = {}   # array-of-tables path -> current index

    def _peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.s[j] if j < len(self.s) else ""

    def _adv(self, k: int = 1) -> None:
        for _ in range(k):
            if self.i < len(self.s):
                if self.s[self.i] == "\n":
                    self.line += 1
                self.i += 1

    def _ws(self, newlines: bool) -> None:
        while self.i < len(self.s):
            c = self.s[self.i]
            if c in " \t\r" or (newlines and c == "\n"):
                self._adv()
            elif c == "#":
                while self.i < len(self.s) and self.s[self.i] != "\n":
                    self._adv()
            else:
                break

    def _record(self, path: tuple[Any, ...], line: int) -> None:
        self.found.setdefault(path, line)

    def run(self) -> dict[tuple[Any, ...], int]:
        table: tuple[Any, ...] = ()
        while True:
            self._ws(newlines=True)
            if self.i >= len(self.s):
                return self.found
            if self._peek() == "[":
                table = self._header()
            else:
                self._keyval(table)

    def _header(self) -> tuple[Any, ...]:
        line = self.line
        is_aot = self._peek(1) == "["
        self._adv(2 if is_aot else 1)
        self._ws(False)
        parts = self._key()
        self._ws(False)
        self._adv(2 if is_aot else 1)
        path: tuple[Any, ...] = ()
        for k, p in enumerate(parts):
            path = (*path, p)
            if k < len(parts) - 1 and path in self.aot:
                path = (*path, self.aot[path])
        if is_aot:
            self.aot[path] = self.aot.get(path, -1) + 1
            self._record(path, line)
            path = (*path, self.aot[path])
        self._record(path, line)
        return path

    def _key(self) -> list[str]:
        parts: list[str] = []
        while True:
            self._ws(False)
            c = self._peek()
            if c in "\"'":
                parts.append(self._string())
            else:
                start = self.i
                while self._peek() and (self._peek().isalnum() or self._peek() in "_-"):
                    self._adv()
                if self.i == start:
                    raise ValueError("not a key")
                parts.append(self.s[start:self.i])
            self._ws(False)
            if self._peek() == ".":
                self._adv()
                continue
            return parts

    def _keyval(self, prefix: tuple[Any, ...]) -> None:
        line = self.line
        parts = self._key()
        for k in range(1, len(parts) + 1):
            self._record((*prefix, *parts[:k]), line)
        self._ws(False)
        if self._peek() != "=":
            raise ValueError("expected '='")
        self._adv()
        self._ws(False)
        self._value((*prefix, *parts))

    def _value(self, path: tuple[Any, ...]) -> None:
        c = self._peek()
        if c in "\"'":
            self._string()
        elif c == "[":
            self._adv()
            idx = 0
            while True:
                self._ws(newlines=True)
                if self._peek() in ("]", ""):
                    self._adv()
                    return
                self._record((*path, idx), self.line)
                self._value((*path, idx))
                self._ws(newlines=True)
                if self._peek() == ",":
                    self._adv()
                idx += 1
        elif c == "{":
            self._adv()
            while True:
                self._ws(False)
                if self._peek() in ("}", ""):
                    self._adv()
                    return
                self._keyval(path)
                self._ws(False)
                if self._peek() == ",":
                    self._adv()
        else:
            while self._peek() and self._peek() not in ",]}\n#":
                self._adv()

    def _string(self) -> str:
        q = self._peek()
        if self.s.startswith(q * 3, self.i):
            self._adv(3)
            start = self.i
            while self.i < len(self.s) and not self.s.startswith(q * 3, self.i):
                self._adv(2 if (q == '"' and self._peek() == "\\") else 1)
            out = self.s[start:self.i]
            self._adv(3)
            while self._peek() == q:         # up to two quotes may close the string
                self._adv()
            return out
        self._adv()
        start = self.i
        while self._peek() and self._peek() != q and self._peek() != "\n":
            self._adv(2 if (q == '"' and self._peek() == "\\") else 1)
        out = self.s[start:self.i]
        self._adv()
        if q == '"' and "\\" in out:
            try:
                out = tomllib.loads(f'k = "{out}"')["k"]
            except tomllib.TOMLDecodeError:
                pass
        return out


def locate(text: str) -> dict[tuple[Any, ...], int]:
    """Key path -> 1-based line, for TOML text that :mod:`tomllib` accepted.

    Paths are tuples of keys and array indices (``("bands", 1, "rms_nm_max")``);
    a table header, an array-of-tables entry and every key of a dotted key get
    the line they are written on. Best effort: on text it cannot follow it
    returns what it found up to there.
    """
    sc = _Scanner(text)
    try:
        return sc.run()
    except (ValueError, IndexError, RecursionError):   # best effort: keep what was found
        return sc.found


def fmt_path(path: Iterable[Any]) -> str:
    """A key path as written in messages: ``bands[1].rms_nm_max``, ``"odd key"``."""
    out = ""
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            key = p if _NAME_RE.match(p) else '"' + p.replace('"', '\\"') + '"'
            out += ("." if out else "") + key
    return out
