"""The yield table of a batch: per criterion, how many parts pass, fail, cannot be
measured or were not checked, how its value is distributed, and the worst parts.

Everything is counted from the parts' criterion results (the worst site of
each part); nothing is recomputed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..check import CheckReport, PartResult
from ..verdicts import Verdict

__all__ = ["CriterionYield", "yield_table", "worst_parts", "part_anchor", "quantiles",
           "relative_margin"]

PASS, FAIL = Verdict.PASS, Verdict.FAIL
NOT_MEASURABLE, NOT_CHECKED = Verdict.NOT_MEASURABLE, Verdict.NOT_CHECKED


def relative_margin(margin: float | None, limit: float) -> float:
    """Margin as a fraction of the limit (``inf`` without a margin)."""
    if margin is None or not math.isfinite(margin):
        return math.inf
    return margin / limit if limit else margin


@dataclass
class CriterionYield:
    """One criterion over the parts of a batch."""

    id: str
    measurement: str
    unit: str
    bound: str
    limit: float
    counts: dict[str, int] = field(default_factory=lambda: {v.value: 0 for v in Verdict})
    values: list[float] = field(default_factory=list)
    #: (part index, part name, value, margin, verdict), smallest margin first
    worst: list[tuple[int, str, float | None, float | None, str]] = field(default_factory=list)

    @property
    def n(self) -> int:
        return sum(self.counts.values())

    @property
    def yield_fraction(self) -> float | None:
        """Parts that pass / parts whose criterion counts (``None`` for none)."""
        return self.counts[PASS] / self.n if self.n else None


def quantiles(values: Sequence[float]) -> tuple[float, float, float, float] | None:
    """(min, median, 90th percentile, max) of ``values`` (linear interpolation)."""
    v = sorted(x for x in values if x is not None and math.isfinite(x))
    if not v:
        return None

    def q(p: float) -> float:
        pos = p * (len(v) - 1)
        lo = math.floor(pos)
        hi = min(lo + 1, len(v) - 1)
        return v[lo] + (v[hi] - v[lo]) * (pos - lo)

    return v[0], q(0.5), q(0.9), v[-1]


def yield_table(report: CheckReport, n_worst: int = 3) -> list[CriterionYield]:
    """Per criterion of the spec (spec order): counts by verdict over the parts (a
    ``not-checked`` criterion that ``--only`` left out is not counted), the values, and
    the ``n_worst`` parts with the smallest margin (failing first)."""
    rows: dict[str, CriterionYield] = {}
    for c in report.spec.criteria:
        rows[c.id] = CriterionYield(c.id, c.measurement, c.unit, c.bound, float(c.limit))
    cands: dict[str, list[tuple[int, str, float | None, float | None, str]]] = {}
    for i, p in enumerate(report.parts):
        for c in p.criteria:
            if not p.counts_towards_verdict(c):
                continue
            r = rows.get(c.id)
            if r is None:
                r = rows[c.id] = CriterionYield(c.id, c.measurement, c.unit, c.bound, c.limit)
            r.counts[c.verdict] += 1
            if c.value is not None and math.isfinite(c.value):
                r.values.append(float(c.value))
            if c.verdict in (PASS, FAIL):
                cands.setdefault(c.id, []).append((i, p.name, c.value, c.margin, c.verdict))
    for cid, lst in cands.items():
        lim = rows[cid].limit
        lst.sort(key=lambda t: relative_margin(t[3], lim))
        rows[cid].worst = lst[:n_worst]
    return list(rows.values())


def worst_parts(report: CheckReport, n: int = 10) -> list[tuple[int, PartResult]]:
    """The ``n`` parts that did worst: input errors, fails, not measurable, not
    checked, then the passing ones closest to a limit."""
    rank = {"error": 5, "fail": 4, "not-measurable": 3, "not-checked": 2, "pass": 0}

    def key(item: tuple[int, PartResult]) -> tuple[int, float]:
        _, p = item
        w = p.worst_criterion()
        rel = relative_margin(w.margin, w.limit) if w is not None else math.inf
        return (-rank.get(p.outcome, 1), rel)

    return sorted(enumerate(report.parts), key=key)[:n]


_SLUG = re.compile(r"[^A-Za-z0-9_-]+")


def part_anchor(index: int, name: str) -> str:
    """An HTML id for a part's section (unique by its index)."""
    return f"part-{index}-" + (_SLUG.sub("-", name).strip("-")[:60] or "part")
