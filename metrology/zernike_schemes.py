"""Zernike index schemes and names (CONVENTIONS.md, "Zernike polynomials").

* ``"fringe"``: Z1..Z37 (University of Arizona / Zygo / Code V / Zemax
  "Fringe"), cosine term first in each pair, Z36 = (10, 0), Z37 = (12, 0).
  Ordering past 37 is not standard and is refused.
* ``"noll"``: j = 1, 2, ...; even j is the cosine term (m > 0), odd j the sine.
* ``"ansi"``: ANSI Z80.28 / ISO 24157, j = (n (n + 2) + m) / 2 from 0.

(n, m) follow ``Z = N R_n^|m|(ρ) cos(mθ)`` for m >= 0 and ``sin(|m|θ)`` for
m < 0, θ counter-clockwise from +x.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from .errors import ConventionError

__all__ = [
    "SCHEMES",
    "zernike_nm",
    "zernike_index",
    "fringe_to_nm",
    "noll_to_nm",
    "ansi_to_nm",
    "nm_to_fringe",
    "nm_to_noll",
    "nm_to_ansi",
    "zernike_name",
    "GROUPS",
    "resolve_terms",
    "first_index",
    "normalization_factor",
]

SCHEMES = ("fringe", "noll", "ansi")
NORMALIZATIONS = ("rms", "peak")
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


def fringe_to_nm(j: int) -> tuple[int, int]:
    """Fringe index j (1..37) -> (n, m)."""
    j = _as_int(j, "Fringe index")
    if not 1 <= j <= FRINGE_MAX:
        raise ConventionError(
            f"Fringe index {j} is outside Z1..Z37; Fringe ordering past 37 is not standard: "
            "use scheme='noll' or 'ansi' for higher orders")
    return _fringe_table()[j - 1]


def noll_to_nm(j: int) -> tuple[int, int]:
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


def ansi_to_nm(j: int) -> tuple[int, int]:
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


def _check_nm(n: int, m: int) -> tuple[int, int]:
    n = _as_int(n, "n")
    m = _as_int(m, "m")
    if n < 0 or abs(m) > n or (n - abs(m)) % 2:
        raise ConventionError(f"(n={n}, m={m}) is not a Zernike mode: need n >= |m|, n-|m| even")
    return n, m


def nm_to_ansi(n: int, m: int) -> int:
    """(n, m) -> ANSI index."""
    n, m = _check_nm(n, m)
    return (n * (n + 2) + m) // 2


def nm_to_noll(n: int, m: int) -> int:
    """(n, m) -> Noll index."""
    n, m = _check_nm(n, m)
    base = n * (n + 1) // 2
    for pos in range(1, n + 2):
        j = base + pos
        if noll_to_nm(j) == (n, m):
            return j
    raise AssertionError("unreachable")  # pragma: no cover


def nm_to_fringe(n: int, m: int) -> int:
    """(n, m) -> Fringe index (only the 37 standard terms exist)."""
    n, m = _check_nm(n, m)
    try:
        return _fringe_table().index((n, m)) + 1
    except ValueError:
        raise ConventionError(f"(n={n}, m={m}) has no Fringe index (Fringe stops at Z37 = (12, 0))"
                              ) from None


def _as_int(v: object, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int | np.integer):
        raise ConventionError(f"{what} must be an integer, got {v!r}")
    return int(v)  # type: ignore[arg-type]


_TO_NM = {"fringe": fringe_to_nm, "noll": noll_to_nm, "ansi": ansi_to_nm}
_FROM_NM = {"fringe": nm_to_fringe, "noll": nm_to_noll, "ansi": nm_to_ansi}


def zernike_nm(scheme: str, j: int) -> tuple[int, int]:
    """Index ``j`` of ``scheme`` ("fringe", "noll", "ansi") -> (n, m)."""
    return _TO_NM[_check_scheme(scheme)](j)


def zernike_index(scheme: str, n: int, m: int) -> int:
    """(n, m) -> index in ``scheme``."""
    return _FROM_NM[_check_scheme(scheme)](n, m)


_NAMES = {
    (0, 0): "piston",
    (1, 1): "tilt x",
    (1, -1): "tilt y",
    (2, 0): "power (defocus)",
    (2, 2): "astigmatism 0/90",
    (2, -2): "astigmatism 45",
    (3, 1): "coma x",
    (3, -1): "coma y",
    (4, 0): "primary spherical",
    (3, 3): "trefoil x",
    (3, -3): "trefoil y",
    (4, 2): "secondary astigmatism 0/90",
    (4, -2): "secondary astigmatism 45",
    (5, 1): "secondary coma x",
    (5, -1): "secondary coma y",
    (6, 0): "secondary spherical",
    (4, 4): "tetrafoil 0",
    (4, -4): "tetrafoil 22.5",
    (5, 3): "secondary trefoil x",
    (5, -3): "secondary trefoil y",
    (6, 2): "tertiary astigmatism 0/90",
    (6, -2): "tertiary astigmatism 45",
    (7, 1): "tertiary coma x",
    (7, -1): "tertiary coma y",
    (8, 0): "tertiary spherical",
}

#: named groups of modes, used by :func:`metrology.remove` and by specs
GROUPS: dict[str, tuple[tuple[int, int], ...]] = {
    "piston": ((0, 0),),
    "tilt": ((1, 1), (1, -1)),
    "power": ((2, 0),),
    "defocus": ((2, 0),),
    "astigmatism": ((2, 2), (2, -2)),
    "coma": ((3, 1), (3, -1)),
    "trefoil": ((3, 3), (3, -3)),
    "spherical": ((4, 0),),
    "secondary astigmatism": ((4, 2), (4, -2)),
    "secondary coma": ((5, 1), (5, -1)),
    "tetrafoil": ((4, 4), (4, -4)),
    "secondary spherical": ((6, 0),),
}


def zernike_name(n: int, m: int) -> str:
    """Human name of mode (n, m), e.g. ``"coma x"``; generic ``"Z(n, m)"`` beyond the table."""
    n, m = _check_nm(n, m)
    return _NAMES.get((n, m), f"Z({n}, {m})")


def normalization_factor(n: int, m: int, normalization: str) -> float:
    """N of CONVENTIONS.md: sqrt(2(n+1)/(1+δ_m0)) for "rms", 1 for "peak"."""
    norm = str(normalization).lower()
    if norm == "rms":
        return math.sqrt(2.0 * (n + 1) / (2.0 if m == 0 else 1.0))
    if norm == "peak":
        return 1.0
    raise ConventionError(f"unknown normalization {normalization!r}; use 'rms' or 'peak'")


def resolve_terms(terms: object, scheme: str) -> tuple[list[int], list[tuple[int, int]]]:
    """Turn ``terms`` (a count, a list of indices, or group names / (n, m) tuples) into
    (indices in ``scheme``, (n, m) list), preserving the given order.

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
                key = it.strip().lower()
                if key not in GROUPS:
                    raise ConventionError(
                        f"unknown Zernike term name {it!r}; known: {', '.join(GROUPS)}")
                idx.extend(zernike_index(scheme, n, m) for n, m in GROUPS[key])
            elif isinstance(it, tuple):
                idx.append(zernike_index(scheme, *it))
            else:
                idx.append(_as_int(it, "Zernike index"))
    nm = [zernike_nm(scheme, j) for j in idx]
    if len(set(nm)) != len(nm):
        raise ConventionError(f"terms lists a mode twice: {terms!r}")
    return idx, nm
