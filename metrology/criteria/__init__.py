"""The criterion types a spec can hold: one module per type, found by the registry.

Each public module of this package (a name without a leading underscore)
defines one subclass of :class:`Criterion` with a unique ``TYPE``; the
registry imports them all on first use. Adding a criterion type is one new
file ``metrology/criteria/<type>.py`` plus its test: the spec reader accepts
its keys, the pipeline computes what it :meth:`~Criterion.requests`, the
engine calls its :meth:`~Criterion.evaluate`, and the reports print its
evidence. See ``metrology/criteria/sa.py`` for a small complete example and
``docs/spec-schema.md`` for the keys of each type.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from types import MappingProxyType

from ._base import (
    EXACT,
    PSD,
    PSD_WINDOW,
    SECTION_RANK,
    Criterion,
    Evidence,
    FitRequest,
    SiteValue,
    Uncertainty,
)

__all__ = ["Criterion", "Evidence", "SiteValue", "FitRequest", "PSD", "PSD_WINDOW",
           "SECTION_RANK", "Uncertainty", "EXACT",
           "registry", "criterion_types", "section_keys", "claimed_subkeys"]

_REGISTRY: dict[str, type[Criterion]] | None = None


def _load() -> dict[str, type[Criterion]]:
    global _REGISTRY
    if _REGISTRY is None:
        found: dict[str, type[Criterion]] = {}
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
            if info.name.startswith("_"):
                continue
            mod = importlib.import_module(f"{__name__}.{info.name}")
            for obj in vars(mod).values():
                if (isinstance(obj, type) and issubclass(obj, Criterion)
                        and obj.__module__ == mod.__name__ and obj.SECTION):
                    if obj.TYPE in found and found[obj.TYPE] is not obj:
                        raise RuntimeError(f"criterion type {obj.TYPE!r} is defined twice: "
                                           f"{found[obj.TYPE].__module__}, {mod.__name__}")
                    found[obj.TYPE] = obj
        _REGISTRY = found
    return _REGISTRY


def registry() -> Mapping[str, type[Criterion]]:
    """``TYPE -> class`` of every criterion type."""
    return MappingProxyType(_load())


def criterion_types() -> list[type[Criterion]]:
    """Every criterion type, in the order the spec reader asks them: by section, then
    by ``PARSE_ORDER``, then by module name."""
    rank = {s: i for i, s in enumerate(SECTION_RANK)}
    return sorted(_load().values(),
                  key=lambda c: (rank.get(c.SECTION, len(rank)), c.SECTION, c.PARSE_ORDER,
                                 c.__module__))


def section_keys(section: str) -> tuple[str, ...]:
    """The limit keys criterion types own in ``section`` (in type order; a claimed
    sub-key ``"table.key"`` counts as its table)."""
    out: list[str] = []
    for c in criterion_types():
        if c.SECTION == section:
            for k in c.KEYS:
                top = k.split(".", 1)[0]
                if top not in out:
                    out.append(top)
    return tuple(out)


def claimed_subkeys(section: str, table: str, by_other_than: type[Criterion]) -> set[str]:
    """Keys of sub-table ``table`` of ``section`` that types other than ``by_other_than``
    claim (``"term_limits_nm.other"`` -> ``{"other"}``)."""
    out: set[str] = set()
    for c in criterion_types():
        if c.SECTION == section and c is not by_other_than:
            for k in c.KEYS:
                head, _, sub = k.partition(".")
                if head == table and sub:
                    out.add(sub)
    return out
