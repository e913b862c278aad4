"""``zernike_term``: one Zernike term or cos/sin pair of the form fit (``[form.term_limits_nm]``).

A key of ``[form.term_limits_nm]`` is a term name of the one table
(:data:`metrology.zernike_schemes.TERMS`: ``astigmatism``, ``coma``, ...) or
``Z<index>`` of the form's scheme; its value is the limit in nm, in the form's
normalisation. The value is ``sqrt(sum c_j^2)`` over the term's indices (a
pair: its magnitude), from the joint fit of the form.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..errors import SpecError
from ..spec.context import number, suggest, table
from ..spec.zernike_terms import (
    TERM_NAMES,
    check_index_bound,
    spec_index,
    spec_order,
    term_text,
    zlist,
)
from ..zernike_schemes import term_members
from . import claimed_subkeys
from ._zernike import ZernikeCriterion

if TYPE_CHECKING:  # pragma: no cover
    from ..spec.schema import SpecDraft
    from ..zernike import ZernikeFit

__all__ = ["ZernikeTermCriterion"]


@dataclass(frozen=True, kw_only=True)
class ZernikeTermCriterion(ZernikeCriterion):
    """``sqrt(sum c_j^2)`` over ``terms`` (one term, or a cos/sin pair: its
    magnitude), in nm, from the joint least-squares fit of ``joint_fit_terms``
    with ``r_norm_mm`` and the measurement's aperture centre. ``terms[i]`` (an
    index in ``scheme``) is the term ``orders[i] = (n, m)``; cosine first."""

    TYPE: ClassVar[str] = "zernike_term"
    SECTION: ClassVar[str] = "form"
    KEYS: ClassVar[tuple[str, ...]] = ("term_limits_nm.*",)

    label: str
    terms: tuple[int, ...]
    orders: tuple[tuple[int, int], ...]

    @classmethod
    def from_spec(cls, draft: SpecDraft) -> None:
        got = draft.tables.get("form")
        if got is None:
            return
        p, t = got
        terms_t = table(draft.ctx, t, p, "term_limits_nm")
        if terms_t is not None and not draft.has_form_terms():
            draft.ctx.error((*p, "term_limits_nm"), "term_limits_nm needs a form fit: set "
                                                    "fit_first_term and fit_last_term")
        form = draft.form
        if form is None or terms_t is None:
            return
        ctx, scheme, fit = draft.ctx, form.scheme, list(form.fit_terms)
        tp = (*p, "term_limits_nm")
        others = claimed_subkeys("form", "term_limits_nm", cls)
        valid_names = [*TERM_NAMES, *sorted(others)]
        named: dict[str, tuple[int, ...]] = {}
        for rank, key in enumerate(terms_t):
            if key in others:
                continue
            kp = (*tp, key)
            lim = number(ctx, terms_t, tp, key, limit=True)
            mz = re.fullmatch(r"Z(\d+)", key)
            orders: tuple[tuple[int, int], ...]
            if mz:
                try:
                    check_index_bound(scheme, int(mz.group(1)))
                    orders = (spec_order(scheme, int(mz.group(1))),)
                except SpecError as exc:
                    ctx.error(kp, str(exc))
                    continue
            elif key in TERM_NAMES:
                orders = term_members(*TERM_NAMES[key])
            else:
                ctx.error(kp, f"unknown term{suggest(key, valid_names)} (term names: "
                              f"{', '.join(valid_names)}, or Z<index> in the {scheme} scheme)")
                continue
            idx = tuple(spec_index(scheme, n, m) for n, m in orders)
            outside = [j for j in idx if j not in fit]
            if outside:
                ctx.error(kp, f"{zlist(scheme, outside)} is outside the form fit "
                              f"{zlist(scheme, fit[:1])}..{zlist(scheme, fit[-1:])}")
                continue
            clash = next((k for k, oidx in named.items() if set(oidx) & set(idx)), None)
            if clash is not None:
                ctx.error(kp, f"{key!r} and {clash!r} limit the same term "
                              f"{zlist(scheme, sorted(set(named[clash]) & set(idx)))}")
                continue
            if lim is None:
                continue
            named[key] = idx
            draft.add(cls(
                id=f"{form.measurement}.form.term.{key}", measurement=form.measurement,
                limit=lim, unit="nm",
                description=f"{key} {term_text(scheme, idx, orders)}, "
                            f"{form.normalisation} normalisation",
                label=key, scheme=scheme, normalisation=form.normalisation, terms=idx,
                orders=orders, joint_fit_terms=form.joint_fit_terms,
                r_norm_mm=form.r_norm_mm), kp, 0, rank)

    def measure(self, fit: ZernikeFit) -> tuple[float, dict[str, Any]]:
        c = dict(zip(fit.indices, fit.coefficients_as(self.normalisation), strict=True))
        coef = tuple(float(c[j]) for j in self.terms)
        value = float(math.sqrt(sum(v * v for v in coef)))
        return value, {"terms": self.terms, "coefficients_nm": coef}

    def gradient(self, fit: ZernikeFit) -> np.ndarray:
        """d|c'|/dc: s_j c'_j / |c'| on the terms (s_j the normalisation scale); for
        |c'| = 0 the direction of the largest weight."""
        s = self.scale(fit)
        cp = fit.coefficients_nm * s
        idx = [fit.indices.index(j) for j in self.terms]
        mag = math.sqrt(sum(cp[i] ** 2 for i in idx))
        g = np.zeros(len(fit.indices))
        for i in idx:
            g[i] = s[i] * (cp[i] / mag if mag > 0 else 1.0 / math.sqrt(len(idx)))
        return g

    def convention(self) -> dict[str, Any]:
        out = super().convention()
        out["terms"] = list(self.terms)
        out["orders"] = [list(o) for o in self.orders]
        return out
