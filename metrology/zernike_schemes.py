"""Zernike index schemes and names (docs/conventions.md, "Zernike polynomials").

* ``"fringe"``: Z1..Z37 (University of Arizona / Zygo / Code V / Zemax
  "Fringe"), cosine term first in each pair, Z36 = (10, 0), Z37 = (12, 0).
  Ordering past 37 is not standard and is refused.
* ``"noll"``: j = 1, 2, ...; even j is the cosine term (m > 0), odd j the sine.
* ``"ansi"``: ANSI Z80.28 / ISO 24157, j = (n (n + 2) + m) / 2 from 0.

(n, m) follow ``Z = N R_n^|m|(ρ) cos(mθ)`` for m >= 0 and ``sin(|m|θ)`` for
m < 0, θ counter-clockwise from +x. An (n, m) pair is called the *order* of a
term (``fringe_to_order``, ``zernike_order``): the suffix ``_nm`` is kept for
nanometres (docs/conventions.md, "Vocabulary"). :data:`TERMS` is the one table
of term names (specs, :func:`metrology.remove` and the display names).
"""

from __future__ import annotations

import math
import types
from collections.abc import Mapping
from functools import lru_cache

import numpy as np

from . import _caches
from ._deprecate import deprecated_alias
from .errors import ConventionError

__all__ = [
    "SCHEMES",
    "NORMALISATIONS",
    "TERMS",
    "TERM_ALIASES",
    "zernike_order",
    "zernike_index",
    "fringe_to_order",
    "noll_to_order",
    "ansi_to_order",
    "order_to_fringe",
    "order_to_noll",
    "order_to_ansi",
    "zernike_name",
    "term_members",
    "canonical_term_name",
    "GROUPS",
    "resolve_terms",
    "first_index",
    "normalisation_factor",
]

SCHEMES = ("fringe", "noll", "ansi")
NORMALISATIONS = ("rms", "peak")
NORMALIZATIONS = NORMALISATIONS  # deprecated spelling
FRINGE_MAX = 37


def _check_scheme(scheme: str) -> str:
    s = str(scheme).lower()
    if s not in SCHEMES:
        raise ConventionError(
            f"unknown Zernike scheme {scheme!r}; use one of {', '.join(SCHEMES)}")
    return s


def first_index(scheme: str) -> int:
    """The first index of a scheme: 0 for ANSI, 1 for Fringe and Noll."""
    return 0 if _check_scheme(scheme) == "ansi" else 1


@lru_cache(maxsize=1)
def _fringe_table() -> tuple[tuple[int, int], ...]:
    out: list[tuple[int, int]] = []
    for shell in range(7):  # shell = (n + |m|) / 2
        for am in range(shell, -1, -1):
            n = 2 * shell - am
            if am == 0:
                out.append((n, 0))
            else:
                out.extend([(n, am), (n, -am)])
    return tuple(out[:FRINGE_MAX - 1] + [(12, 0)])


def fringe_to_order(j: int) -> tuple[int, int]:
    """Fringe index j (1..37) -> (n, m)."""
    j = _as_int(j, "Fringe index")
    if not 1 <= j <= FRINGE_MAX:
        raise ConventionError(
            f"Fringe index {j} is outside Z1..Z37; Fringe ordering past 37 is not standard: "
            "use scheme='noll' or 'ansi' for higher orders")
    return _fringe_table()[j - 1]


def noll_to_order(j: int) -> tuple[int, int]:
    """Noll index j (1..) -> (n, m); even j is the cosine term."""
    j = _as_int(j, "Noll index")
    if j < 1:
        raise ConventionError(f"Noll indices start at 1, got {j}")
    n = 0
    while (n + 1) * (n + 2) // 2 < j:
        n += 1
    pos = j - n * (n + 1) // 2  # 1-based position inside order n
    # |m| sequence in order n: n even -> 0,2,2,4,4,...; n odd -> 1,1,3,3,...
    am = 2 * (pos // 2) if n % 2 == 0 else 2 * ((pos - 1) // 2) + 1
    if am == 0:
        return n, 0
    return (n, am) if j % 2 == 0 else (n, -am)


def ansi_to_order(j: int) -> tuple[int, int]:
    """ANSI Z80.28 index j (0..) -> (n, m)."""
    j = _as_int(j, "ANSI index")
    if j < 0:
        raise ConventionError(f"ANSI indices start at 0, got {j}")
    n = math.ceil((-3 + math.sqrt(9 + 8 * j)) / 2)
    while n * (n + 3) // 2 < j:  # guard against sqrt rounding
        n += 1
    while n > 0 and (n - 1) * (n + 2) // 2 >= j:
        n -= 1
    m = 2 * j - n * (n + 2)
    return n, m


def _check_order(n: int, m: int) -> tuple[int, int]:
    n = _as_int(n, "n")
    m = _as_int(m, "m")
    if n < 0 or abs(m) > n or (n - abs(m)) % 2:
        raise ConventionError(f"(n={n}, m={m}) is not a Zernike mode: need n >= |m|, n-|m| even")
    return n, m


def order_to_ansi(n: int, m: int) -> int:
    """(n, m) -> ANSI index."""
    n, m = _check_order(n, m)
    return (n * (n + 2) + m) // 2


def order_to_noll(n: int, m: int) -> int:
    """(n, m) -> Noll index."""
    n, m = _check_order(n, m)
    base = n * (n + 1) // 2
    for pos in range(1, n + 2):
        j = base + pos
        if noll_to_order(j) == (n, m):
            return j
    raise AssertionError("unreachable")  # pragma: no cover


def order_to_fringe(n: int, m: int) -> int:
    """(n, m) -> Fringe index (only the 37 standard terms exist)."""
    n, m = _check_order(n, m)
    try:
        return _fringe_table().index((n, m)) + 1
    except ValueError:
        raise ConventionError(f"(n={n}, m={m}) has no Fringe index (Fringe stops at Z37 = (12, 0))"
                              ) from None


def _as_int(v: object, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int | np.integer):
        raise ConventionError(f"{what} must be an integer, got {v!r}")
    return int(v)  # type: ignore[arg-type]


_TO_ORDER = {"fringe": fringe_to_order, "noll": noll_to_order, "ansi": ansi_to_order}
_FROM_ORDER = {"fringe": order_to_fringe, "noll": order_to_noll, "ansi": order_to_ansi}


def zernike_order(scheme: str, j: int) -> tuple[int, int]:
    """Index ``j`` of ``scheme`` ("fringe", "noll", "ansi") -> order (n, m)."""
    return _TO_ORDER[_check_scheme(scheme)](j)


def zernike_index(scheme: str, n: int, m: int) -> int:
    """Order (n, m) -> index in ``scheme``."""
    return _FROM_ORDER[_check_scheme(scheme)](n, m)


#: The one table of Zernike term names: (n, |m|), the name of the term (a cos/sin
#: pair is one term, judged by its magnitude) used in spec files and by
#: :func:`metrology.remove`, and the display name of each member: (name,) for
#: m = 0, (cosine name, sine name) otherwise.
_TERM_TABLE: tuple[tuple[tuple[int, int], str, tuple[str, ...]], ...] = (
    ((0, 0), "piston", ("piston",)),
    ((1, 1), "tilt", ("tilt x", "tilt y")),
    ((2, 0), "power", ("power (defocus)",)),
    ((2, 2), "astigmatism", ("astigmatism 0/90", "astigmatism 45")),
    ((3, 1), "coma", ("coma x", "coma y")),
    ((4, 0), "spherical", ("primary spherical",)),
    ((3, 3), "trefoil", ("trefoil x", "trefoil y")),
    ((4, 2), "secondary_astigmatism", ("secondary astigmatism 0/90",
                                       "secondary astigmatism 45")),
    ((5, 1), "secondary_coma", ("secondary coma x", "secondary coma y")),
    ((6, 0), "secondary_spherical", ("secondary spherical",)),
    ((4, 4), "tetrafoil", ("tetrafoil 0", "tetrafoil 22.5")),
    ((5, 3), "secondary_trefoil", ("secondary trefoil x", "secondary trefoil y")),
    ((6, 2), "tertiary_astigmatism", ("tertiary astigmatism 0/90",
                                      "tertiary astigmatism 45")),
    ((7, 1), "tertiary_coma", ("tertiary coma x", "tertiary coma y")),
    ((8, 0), "tertiary_spherical", ("tertiary spherical",)),
)

#: term name -> (n, |m|), in the order of the table
TERMS: Mapping[str, tuple[int, int]] = types.MappingProxyType(
    {name: order for order, name, _ in _TERM_TABLE})

#: other accepted spellings of a term name (``remove(hm, ["defocus"])``)
TERM_ALIASES: Mapping[str, str] = types.MappingProxyType({"defocus": "power"})

_NAMES = {(n, (am if k == 0 else -am)): label
          for (n, am), _, labels in _TERM_TABLE for k, label in enumerate(labels)}


def term_members(n: int, am: int) -> tuple[tuple[int, int], ...]:
    """The orders of a term: ((n, 0),) for m = 0, else the pair ((n, |m|), (n, -|m|))."""
    am = abs(int(am))
    return ((int(n), 0),) if am == 0 else ((int(n), am), (int(n), -am))


def canonical_term_name(name: str) -> str | None:
    """The :data:`TERMS` name of ``name`` (case, spaces and hyphens ignored; aliases
    resolved), or ``None`` when it names no term."""
    key = str(name).strip().lower().replace(" ", "_").replace("-", "_")
    key = TERM_ALIASES.get(key, key)
    return key if key in TERMS else None


#: named groups of modes, used by :func:`metrology.remove` (derived from :data:`TERMS`)
GROUPS: Mapping[str, tuple[tuple[int, int], ...]] = types.MappingProxyType(
    {**{name: term_members(*order) for name, order in TERMS.items()},
     **{alias: term_members(*TERMS[name]) for alias, name in TERM_ALIASES.items()}})


def zernike_name(n: int, m: int) -> str:
    """Human name of mode (n, m), e.g. ``"coma x"``; generic ``"Z(n, m)"`` beyond the table."""
    n, m = _check_order(n, m)
    return _NAMES.get((n, m), f"Z({n}, {m})")


def normalisation_factor(n: int, m: int, normalisation: str) -> float:
    """N of docs/conventions.md: sqrt(2(n+1)/(1+δ_m0)) for "rms", 1 for "peak"."""
    norm = str(normalisation).lower()
    if norm == "rms":
        return math.sqrt(2.0 * (n + 1) / (2.0 if m == 0 else 1.0))
    if norm == "peak":
        return 1.0
    raise ConventionError(f"unknown normalisation {normalisation!r}; use 'rms' or 'peak'")


def resolve_terms(terms: object, scheme: str) -> tuple[list[int], list[tuple[int, int]]]:
    """Turn ``terms`` (a count, a list of indices, or group names / (n, m) tuples) into
    (indices in ``scheme``, list of orders (n, m)), preserving the given order.

    A count ``K`` means the first K terms of the scheme (ANSI 0..K-1, others 1..K).
    """
    scheme = _check_scheme(scheme)
    if isinstance(terms, int | np.integer) and not isinstance(terms, bool):
        k = int(terms)  # type: ignore[arg-type]
        if k < 1:
            raise ConventionError(f"terms must be >= 1, got {k}")
        start = first_index(scheme)
        idx = list(range(start, start + k))
    else:
        if isinstance(terms, str):
            terms = [terms]
        try:
            items = list(terms)  # type: ignore[call-overload]
        except TypeError:
            raise ConventionError(f"terms must be a count or a list, got {terms!r}") from None
        if not items:
            raise ConventionError("terms is empty")
        idx = []
        for it in items:
            if isinstance(it, str):
                key = canonical_term_name(it)
                if key is None:
                    raise ConventionError(
                        f"unknown Zernike term name {it!r}; known: {', '.join(TERMS)}")
                idx.extend(zernike_index(scheme, n, m) for n, m in term_members(*TERMS[key]))
            elif isinstance(it, tuple):
                idx.append(zernike_index(scheme, *it))
            else:
                idx.append(_as_int(it, "Zernike index"))
    orders = [zernike_order(scheme, j) for j in idx]
    if len(set(orders)) != len(orders):
        raise ConventionError(f"terms lists a mode twice: {terms!r}")
    return idx, orders


_caches.register("zernike_schemes.fringe_table", _fringe_table.cache_clear)

# deprecated spellings: ``_nm`` means nanometres everywhere else (docs/conventions.md)
zernike_nm = deprecated_alias(zernike_order, "zernike_nm")
fringe_to_nm = deprecated_alias(fringe_to_order, "fringe_to_nm")
noll_to_nm = deprecated_alias(noll_to_order, "noll_to_nm")
ansi_to_nm = deprecated_alias(ansi_to_order, "ansi_to_nm")
nm_to_fringe = deprecated_alias(order_to_fringe, "nm_to_fringe")
nm_to_noll = deprecated_alias(order_to_noll, "nm_to_noll")
nm_to_ansi = deprecated_alias(order_to_ansi, "nm_to_ansi")
normalization_factor = deprecated_alias(normalisation_factor, "normalization_factor")
