"""Zernike indices and term names as a spec uses them (errors as :class:`SpecError`).

The term names are the one table :data:`metrology.zernike_schemes.TERMS`.
"""

from __future__ import annotations

from collections.abc import Iterable

from .. import zernike_schemes as _schemes
from ..errors import ConventionError, SpecError
from .model import Measurement

__all__ = ["spec_order", "spec_index", "removed_indices", "zrange", "zlist", "term_text",
           "check_index_bound", "MAX_ORDER", "MAX_INDEX", "TERM_NAMES"]

#: term names a spec accepts (the one table of the toolkit)
TERM_NAMES = _schemes.TERMS

#: the highest radial order a spec may name (beyond it no real map resolves the terms)
MAX_ORDER = 40
#: the largest index accepted before its order is looked up (every scheme's index of
#: order 40 is below this; a huge index is refused without counting up to it)
MAX_INDEX = 1000


def check_index_bound(scheme: str, index: int) -> None:
    """Refuse an index beyond :data:`MAX_ORDER` (as :class:`SpecError`)."""
    if index > MAX_INDEX:
        raise SpecError(f"{scheme} index {index} is beyond radial order {MAX_ORDER}, the "
                        "highest a spec may name")
    n, _ = spec_order(scheme, index)
    if n > MAX_ORDER:
        raise SpecError(f"{scheme} index {index} is radial order {n}, beyond {MAX_ORDER}, the "
                        "highest a spec may name")


def spec_order(scheme: str, index: int) -> tuple[int, int]:
    """Order ``(n, m)`` of a term (:func:`metrology.zernike_schemes.zernike_order`)."""
    if int(index) > MAX_INDEX:
        raise SpecError(f"{scheme} index {index} is beyond radial order {MAX_ORDER}, the "
                        "highest a spec may name")
    try:
        return _schemes.zernike_order(scheme, int(index))
    except ConventionError as exc:
        raise SpecError(str(exc)) from None


def spec_index(scheme: str, n: int, m: int) -> int:
    """Index of the term ``(n, m)`` in ``scheme``."""
    try:
        return _schemes.zernike_index(scheme, int(n), int(m))
    except ConventionError as exc:
        raise SpecError(str(exc)) from None


def removed_indices(meas: Measurement, scheme: str) -> list[int]:
    """Indices in ``scheme`` of the terms the measurement's preprocessing removes."""
    # every removable term (orders <= 2) exists in every scheme
    return [spec_index(scheme, n, m) for name in meas.preprocessing.remove
            for n, m in _schemes.term_members(*TERM_NAMES[name])]


def zrange(idx: list[int] | tuple[int, ...]) -> str:
    return f"Z{idx[0]}..Z{idx[-1]}" if len(idx) > 1 else (f"Z{idx[0]}" if idx else "(none)")


def zlist(scheme: str, idx: Iterable[int]) -> str:
    return ", ".join(f"{scheme} Z{j}" for j in idx)


def term_text(scheme: str, idx: tuple[int, ...], orders: tuple[tuple[int, int], ...]) -> str:
    zs = "/".join(f"Z{j}" for j in idx)
    n, m = orders[0]
    what = "pair magnitude" if len(idx) == 2 else "|coefficient|"
    return f"{what} {scheme} {zs} (n={n}, m={'+-' if len(idx) == 2 else ''}{abs(m)})"
