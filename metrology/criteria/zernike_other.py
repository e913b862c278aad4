"""``zernike_other``: every form term without a limit of its own (``term_limits_nm.other``).

The value is the largest group magnitude among the form terms no other key
of ``[form.term_limits_nm]`` limits, a group being a cos/sin pair
(sqrt(c_cos² + c_sin²)) or one m = 0 term; nm, in the form's normalisation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..spec.context import number
from ..spec.zernike_terms import spec_order, zrange
from ._zernike import ZernikeCriterion
from .zernike_term import ZernikeTermCriterion

if TYPE_CHECKING:  # pragma: no cover
    from ..spec.schema import SpecDraft
    from ..zernike import ZernikeFit

__all__ = ["ZernikeOtherTermsCriterion"]


@dataclass(frozen=True, kw_only=True)
class ZernikeOtherTermsCriterion(ZernikeCriterion):
    """Every fitted form term without a limit of its own: the value is the
    largest group magnitude, a group being a cos/sin pair or one m = 0 term."""

    TYPE: ClassVar[str] = "zernike_other"
    SECTION: ClassVar[str] = "form"
    KEYS: ClassVar[tuple[str, ...]] = ("term_limits_nm.other",)
    PARSE_ORDER: ClassVar[int] = 1  # after zernike_term: "other" is what it leaves

    groups: tuple[tuple[int, ...], ...]

    @classmethod
    def from_spec(cls, draft: SpecDraft) -> None:
        form = draft.form
        got = draft.tables.get("form")
        if form is None or got is None:
            return
        p, t = got
        terms_t = t.get("term_limits_nm")
        if not isinstance(terms_t, dict) or "other" not in terms_t:
            return
        tp = (*p, "term_limits_nm")
        lim = number(draft.ctx, terms_t, tp, "other", limit=True)
        if lim is None:
            return
        covered = {j for c in draft.criteria if type(c) is ZernikeTermCriterion
                   and c.measurement == form.measurement for j in c.terms}
        groups: dict[tuple[int, int], list[int]] = {}
        for j in form.fit_terms:
            if j in covered:
                continue
            n, m = spec_order(form.scheme, j)
            groups.setdefault((n, abs(m)), []).append(j)
        if not groups:
            draft.ctx.error((*tp, "other"), "every form term has its own limit; 'other' "
                                            "limits nothing")
            return
        gs = tuple(tuple(g) for g in groups.values())
        draft.add(cls(
            id=f"{form.measurement}.form.term.other", measurement=form.measurement, limit=lim,
            unit="nm",
            description=f"largest other form term (pair magnitude) among {len(gs)} groups of "
                        f"{form.scheme} {zrange(list(form.fit_terms))}, "
                        f"{form.normalisation} normalisation",
            scheme=form.scheme, normalisation=form.normalisation, groups=gs,
            joint_fit_terms=form.joint_fit_terms, r_norm_mm=form.r_norm_mm),
            (*tp, "other"), 1)

    def _mags(self, fit: ZernikeFit) -> list[tuple[tuple[int, ...], float]]:
        c = dict(zip(fit.indices, fit.coefficients_as(self.normalisation), strict=True))
        return [(g, math.sqrt(sum(float(c[j]) ** 2 for j in g))) for g in self.groups]

    def measure(self, fit: ZernikeFit) -> tuple[float, dict[str, Any]]:
        mags = self._mags(fit)
        value = max((m for _, m in mags), default=0.0)
        return value, {"groups": tuple((g, m, self.within(m)) for g, m in mags)}

    def gradient(self, fit: ZernikeFit) -> np.ndarray:
        """The gradient of the largest group's magnitude (the value)."""
        g_max, mag = max(self._mags(fit), key=lambda t: t[1])
        s = self.scale(fit)
        cp = fit.coefficients_nm * s
        out = np.zeros(len(fit.indices))
        for j in g_max:
            i = fit.indices.index(j)
            out[i] = s[i] * (cp[i] / mag if mag > 0 else 1.0 / math.sqrt(len(g_max)))
        return out
