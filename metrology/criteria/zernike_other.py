"""``zernike_other``: every form term without a limit of its own (``term_limits_nm.other``).

The value is the largest group magnitude among the form terms no other key
of ``[form.term_limits_nm]`` limits, a group being a cos/sin pair
(sqrt(c_cos² + c_sin²)) or one m = 0 term; nm, in the form's normalisation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from ..spec.context import number
from ..spec.zernike_terms import spec_order, zrange
from ._zernike import ZernikeCriterion, ZernikeEvidence
from .zernike_term import ZernikeTermCriterion

if TYPE_CHECKING:  # pragma: no cover
    from ..pipeline import FileAnalysis, FitRecord
    from ..spec.schema import SpecDraft

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

    def value_and_evidence(self, fa: FileAnalysis, rec: FitRecord
                           ) -> tuple[float, ZernikeEvidence]:
        c = self.coefficients(rec)
        mags = [(g, math.sqrt(sum(c[j] ** 2 for j in g))) for g in self.groups]
        value = max((m for _, m in mags), default=0.0)
        return value, self.evidence(fa, rec, groups=tuple(
            (g, m, self.within(m)) for g, m in mags))
