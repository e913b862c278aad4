"""Exact conversions of Zernike coefficients: index scheme, normalisation, normalisation radius.

Scheme and normalisation
------------------------
All schemes index the same functions Z(n, m) (``docs/conventions.md``), so a change
of scheme is a re-indexing of the (n, m) modes; Fringe stops at Z37 and refuses
modes it has no index for. A change of normalisation multiplies each
coefficient: ``c_peak = N(n, m) · c_rms`` with ``N = sqrt(2 (n + 1) / (1 + δ_m0))``.

Normalisation radius
--------------------
A surface ``Σ a_nm R_n^|m|(r / R) ang_m(θ)`` written on a new radius R'
(ρ' = r / R') is ``Σ a_nm R_n^|m|(s ρ') ang_m(θ)`` with ``s = R' / R``. For each
m, ``R_n^|m|(s ρ)`` is a polynomial of degree n in ρ with the parity of n, and
the radial polynomials ``R_|m|^|m|, R_{|m|+2}^|m|, ..., R_n^|m|`` are a
triangular basis of the monomials ``ρ^|m|, ρ^{|m|+2}, ..., ρ^n``. With C the
(lower-triangular, integer) matrix of monomial coefficients,
``R_n(ρ) = Σ_p C[n, p] ρ^p``,

    R_n(s ρ) = Σ_p C[n, p] s^p ρ^p = Σ_{n'} T[n, n'] R_{n'}(ρ),
    T = C · diag(s^p) · C⁻¹,

so the new peak-normalised coefficients are ``a' = Tᵀ a`` for each m (the
angular factor is untouched). T is lower-triangular: a mode mixes only into
modes of the same m and lower or equal order. The transform is exact (C⁻¹ is
computed in rational arithmetic) and needs, for every (n, m) present, all the
(n', m) with |m| <= n' < n of the same parity: the *closure* of the term set.
Every count-based term set of the three schemes is closed; if the set is not,
the closure adds the missing lower-order modes (``terms="closure"``, the
default, said in the result), or, with ``terms="same"``, the fit is redone
on the data it was made from (``method="refit"``).

The exact transform describes the same polynomial surface, so its fitted map
and residual on the fit's pixels are unchanged; re-fitting the same pixels on
the new radius with a closed term set gives the same coefficients (the span is
the same), and re-fitting only the pixels inside a smaller radius gives them
too when the surface is that polynomial.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from fractions import Fraction
from functools import cache
from typing import Any

import numpy as np

from .errors import ConventionError
from .zernike import ZernikeFit, ZernikeGeometry, fit_zernike
from .zernike_schemes import NORMALISATIONS, SCHEMES, normalisation_factor, zernike_index

__all__ = [
    "ConvertedZernikeFit",
    "radial_monomials",
    "scaling_matrix",
    "closure",
    "rescale_coefficients",
    "convert_coefficients",
    "convert_fit",
]


@cache
def radial_monomials(n: int, m: int) -> tuple[tuple[int, int], ...]:
    """(power, integer coefficient) pairs of R_n^|m|(ρ) = Σ_k (-1)^k (n-k)! /
    (k! ((n+|m|)/2 - k)! ((n-|m|)/2 - k)!) ρ^(n-2k)."""
    am = abs(int(m))
    if n < am or (n - am) % 2:
        raise ConventionError(f"(n={n}, m={m}) is not a Zernike mode")
    out = []
    for k in range((n - am) // 2 + 1):
        c = (-1) ** k * math.factorial(n - k) // (
            math.factorial(k) * math.factorial((n + am) // 2 - k)
            * math.factorial((n - am) // 2 - k))
        out.append((n - 2 * k, c))
    return tuple(out)


@cache
def _c_inverse(am: int, nmax: int) -> tuple[tuple[Fraction, ...], ...]:
    """Inverse of the monomial matrix C (rows n, columns powers p; both |m|, |m|+2 .. nmax)."""
    orders = list(range(am, nmax + 1, 2))
    k = len(orders)
    c = [[Fraction(0)] * k for _ in range(k)]
    for i, n in enumerate(orders):
        for p, coef in radial_monomials(n, am):
            c[i][orders.index(p)] = Fraction(coef)
    # C is lower triangular (R_n has powers <= n): invert by forward substitution
    inv = [[Fraction(0)] * k for _ in range(k)]
    for j in range(k):
        for i in range(k):
            s = Fraction(1 if i == j else 0) - sum((c[i][t] * inv[t][j] for t in range(i)),
                                                   Fraction(0))
            inv[i][j] = s / c[i][i]
    return tuple(tuple(r) for r in inv)


def scaling_matrix(m: int, nmax: int, s: float) -> np.ndarray:
    """T with ``R_n^|m|(s ρ) = Σ_{n'} T[i, i'] R_{n'}^|m|(ρ)`` over n, n' = |m|, |m|+2, .., nmax.

    Parameters
    ----------
    m : int
        Azimuthal order (sign ignored).
    nmax : int
        Highest radial order (same parity as m).
    s : float
        Scale factor of the argument (``R_new / R_old`` for a change of radius).

    Returns
    -------
    ndarray (K, K), K = (nmax - |m|) / 2 + 1, lower triangular.
    """
    am = abs(int(m))
    if nmax < am or (nmax - am) % 2:
        raise ConventionError(f"nmax={nmax} does not match m={m} (need nmax >= |m|, same parity)")
    orders = list(range(am, nmax + 1, 2))
    k = len(orders)
    c = np.zeros((k, k))
    for i, n in enumerate(orders):
        for p, coef in radial_monomials(n, am):
            c[i, orders.index(p)] = float(coef)
    inv = np.array([[float(v) for v in row] for row in _c_inverse(am, nmax)])
    return (c * np.array([s ** p for p in orders])[None, :]) @ inv


def closure(orders: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``orders`` plus every (n', m) with |m| <= n' < n, same parity, of each (n, m) in it."""
    out = set(orders)
    for n, m in orders:
        for n2 in range(abs(m), n, 2):
            out.add((n2, m))
    return sorted(out, key=lambda t: (t[0], abs(t[1]), t[1] < 0))


def rescale_coefficients(peak: dict[tuple[int, int], float], s: float
                         ) -> dict[tuple[int, int], float]:
    """Peak-normalised coefficients on radius R -> on radius s·R (exact; closure added)."""
    out: dict[tuple[int, int], float] = {t: 0.0 for t in closure(list(peak))}
    by_m: dict[int, int] = {}
    for n, m in out:
        by_m[m] = max(by_m.get(m, -1), n)
    for m, nmax in by_m.items():
        orders = list(range(abs(m), nmax + 1, 2))
        a = np.array([peak.get((n, m), 0.0) for n in orders])
        new = scaling_matrix(m, nmax, s).T @ a
        for n, v in zip(orders, new, strict=True):
            out[(n, m)] = float(v)
    return out


def _check_scheme(scheme: str) -> str:
    s = str(scheme).lower()
    if s not in SCHEMES:
        raise ConventionError(f"unknown Zernike scheme {scheme!r}; use one of {', '.join(SCHEMES)}")
    return s


def _check_norm(norm: str) -> str:
    s = str(norm).lower()
    if s not in NORMALISATIONS:
        raise ConventionError(
            f"unknown normalisation {norm!r}; use one of {', '.join(NORMALISATIONS)}")
    return s


def _order(orders: list[tuple[int, int]], scheme: str) -> list[tuple[int, tuple[int, int]]]:
    idx = []
    missing = []
    for t in orders:
        try:
            idx.append((zernike_index(scheme, *t), t))
        except ConventionError:
            missing.append(t)
    if missing:
        raise ConventionError(
            f"the {scheme} scheme has no index for modes {missing} (Fringe stops at Z37 = "
            "(12, 0)); convert to 'noll' or 'ansi' instead")
    return sorted(idx)


def convert_coefficients(coefficients_nm: Any, orders: list[tuple[int, int]], *,
                         normalisation: str, to_normalisation: str | None = None,
                         r_norm_mm: float | None = None, to_r_norm_mm: float | None = None
                         ) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Convert coefficients (nm) of modes ``orders`` between normalisations and R_norm.

    Parameters
    ----------
    coefficients_nm : array_like (K,)
        Coefficients in nm, in the order of ``orders``.
    orders : list of (n, m)
    normalisation, to_normalisation : {"rms", "peak"}
        Source and target normalisation (target default: the source's).
    r_norm_mm, to_r_norm_mm : float, optional
        Source and target R_norm in mm (same centre); no change of radius
        unless both are given and differ.

    Returns
    -------
    orders_out : list of (n, m)
        The modes (the closure of ``orders`` when the radius changes).
    coefficients_nm : ndarray
        In the order of ``orders_out``, ``to_normalisation``.
    """
    src_norm = _check_norm(normalisation)
    dst_norm = src_norm if to_normalisation is None else _check_norm(to_normalisation)
    c = np.asarray(coefficients_nm, dtype=np.float64).ravel()
    if c.size != len(orders):
        raise ConventionError(f"{c.size} coefficients for {len(orders)} modes")
    peak = {t: float(v) * normalisation_factor(t[0], t[1], src_norm)
            for t, v in zip(orders, c, strict=True)}
    if to_r_norm_mm is not None and r_norm_mm is not None and to_r_norm_mm != r_norm_mm:
        r0, r1 = float(r_norm_mm), float(to_r_norm_mm)
        if not (r0 > 0 and r1 > 0 and math.isfinite(r0) and math.isfinite(r1)):
            raise ConventionError(f"R_norm must be positive mm, got {r_norm_mm!r}, "
                                  f"{to_r_norm_mm!r}")
        peak = rescale_coefficients(peak, r1 / r0)
    out_orders = list(peak)
    vals = np.array([peak[t] / normalisation_factor(t[0], t[1], dst_norm) for t in out_orders])
    return out_orders, vals


@dataclass(frozen=True, eq=False)
class ConvertedZernikeFit(ZernikeFit):
    """A :class:`~metrology.zernike.ZernikeFit` converted by :meth:`ZernikeFit.to`.

    Extra attributes
    ----------------
    method : {"reindex", "exact", "refit"}
        "reindex": scheme and/or normalisation only; "exact": radius changed
        by the exact transform; "refit": fitted again on the source data.
    note : str
        What was done, in words (terms added by the closure, pixels used by a
        refit).
    converted_from : dict
        Scheme, normalisation, R_norm and number of terms of the original fit.
    """

    method: str = "reindex"
    note: str = ""
    converted_from: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d.update(conversion={"method": self.method, "note": self.note,
                             "from": dict(self.converted_from)})
        return d


def _fit_mask(fit: ZernikeFit) -> np.ndarray:
    """The fit's pixels (a fresh array: a new geometry keeps its mask)."""
    return fit.geometry.mask.copy()


def _wrap(base: ZernikeFit, **extra: Any) -> ConvertedZernikeFit:
    kw = {f.name: getattr(base, f.name) for f in fields(ZernikeFit)}
    kw.update(extra)
    return ConvertedZernikeFit(**kw)


def convert_fit(fit: ZernikeFit, scheme: str | None = None, normalisation: str | None = None,
                r_norm_mm: float | None = None, *, terms: str = "closure"
                ) -> ConvertedZernikeFit:
    """``fit`` in another scheme, normalisation and/or normalisation radius (module docstring).

    Parameters
    ----------
    fit : ZernikeFit
    scheme : {"fringe", "noll", "ansi"}, optional
        Default: the fit's.
    normalisation : {"rms", "peak"}, optional
        Default: the fit's.
    r_norm_mm : float, optional
        New R_norm in mm (same centre). Default: the fit's.
    terms : {"closure", "same"}
        When the radius changes and the term set is not closed (module
        docstring): "closure" adds the missing lower-order modes and
        transforms exactly; "same" keeps exactly the fit's modes and fits
        again on the source map's pixels of the fit (those inside the new
        radius when it is smaller).

    Returns
    -------
    ConvertedZernikeFit
        Coefficients in nm, ordered by the new scheme's index; ``method`` and
        ``note`` say what was done.
    """
    dst_scheme = fit.scheme if scheme is None else _check_scheme(scheme)
    dst_norm = fit.normalisation if normalisation is None else _check_norm(normalisation)
    r_old = float(fit.r_norm_mm)
    r_new = r_old if r_norm_mm is None else float(r_norm_mm)
    if not (r_new > 0 and math.isfinite(r_new)):
        raise ConventionError(f"r_norm_mm must be a positive radius in mm, got {r_norm_mm!r}")
    if terms not in ("closure", "same"):
        raise ConventionError(f"terms must be 'closure' or 'same', got {terms!r}")
    origin = {"scheme": fit.scheme, "normalisation": fit.normalisation, "r_norm_mm": r_old,
              "n_terms": len(fit.orders)}
    radius_changes = not math.isclose(r_new, r_old, rel_tol=1e-15, abs_tol=0.0)
    closed = closure(list(fit.orders))
    note_parts = []
    if radius_changes and terms == "same" and len(closed) != len(fit.orders):
        missing = sorted(set(closed) - set(fit.orders))
        mask = _fit_mask(fit)
        if r_new < r_old:
            x = (np.arange(mask.shape[1]) - (mask.shape[1] - 1) / 2.0) * fit.source.dx_mm
            y = (np.arange(mask.shape[0]) - (mask.shape[0] - 1) / 2.0) * fit.source.dy_mm
            r2 = (x[None, :] - fit.centre_mm[0]) ** 2 + (y[:, None] - fit.centre_mm[1]) ** 2
            mask = mask & (r2 <= r_new * r_new * (1 + 1e-12))
            where = f"the {int(mask.sum())} pixels of the fit inside the new radius"
        else:
            where = "the same pixels"
        ordered = _order(list(fit.orders), dst_scheme)
        new = fit_zernike(fit.source, [t for _, t in ordered], dst_scheme, dst_norm, r_new,
                          fit.centre_mm, mask=mask, allow_outside=True)
        note = (f"refitted on {where} of the source map with R_norm = {r_new:g} mm: the term "
                f"set is not closed under a change of radius (missing {missing})")
        return _wrap(new, method="refit", note=note, converted_from=origin)
    orders_out, vals = convert_coefficients(fit.coefficients_nm, list(fit.orders),
                                            normalisation=fit.normalisation,
                                            to_normalisation=dst_norm, r_norm_mm=r_old,
                                            to_r_norm_mm=r_new if radius_changes else None)
    if radius_changes:
        added = sorted(set(orders_out) - set(fit.orders))
        note_parts.append(f"R_norm {r_old:g} -> {r_new:g} mm by the exact transform "
                          f"(s = {r_new / r_old:.12g})")
        if added:
            note_parts.append(f"added the lower-order modes {added} the transform needs")
        if r_new < r_old:
            note_parts.append("the fit's pixels beyond the new radius have rho > 1: the same "
                              "polynomial is evaluated there")
    if dst_scheme != fit.scheme:
        note_parts.append(f"re-indexed {fit.scheme} -> {dst_scheme}")
    if dst_norm != fit.normalisation:
        note_parts.append(f"normalisation {fit.normalisation} -> {dst_norm}")
    value = dict(zip(orders_out, vals, strict=True))
    ordered = _order(orders_out, dst_scheme)
    orders_sorted = [t for _, t in ordered]
    coefs = np.array([value[t] for t in orders_sorted])
    geo = ZernikeGeometry(_fit_mask(fit), fit.source.dx_mm, fit.source.dy_mm, orders_sorted,
                          dst_norm, fit.centre_mm, r_new, allow_outside=True)
    return _wrap(fit, coefficients_nm=coefs, indices=[j for j, _ in ordered],
                 orders=orders_sorted, scheme=dst_scheme, normalisation=dst_norm, r_norm_mm=r_new,
                 condition_number=geo.condition_number, geometry=geo,
                 method="exact" if radius_changes else "reindex",
                 note="; ".join(note_parts) or "unchanged", converted_from=origin)
