"""``pvr``: robust PV (Evans 2009) of the form fit (``[form] pvr_nm_max``).

PV of the form ``sum_{j in fit_terms} c_j Z_j`` over the aperture pixels plus
3 x the RMS of the residual of the joint fit, nm (``docs/conventions.md``,
"Definitions that decisions depend on").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..spec.context import number
from ..spec.zernike_terms import zrange
from ._zernike import ZernikeCriterion, ZernikeEvidence

if TYPE_CHECKING:  # pragma: no cover
    from ..pipeline import FileAnalysis, FitRecord
    from ..spec.schema import SpecDraft

__all__ = ["PVrCriterion"]


@dataclass(frozen=True, kw_only=True)
class PVrCriterion(ZernikeCriterion):
    """Robust PV (Evans 2009): PV of the form fit ``sum_{j in fit_terms} c_j Z_j``
    over the aperture plus 3 × RMS of the residual (see
    :class:`~metrology.criteria.form_residual.FormResidualCriterion`), nm."""

    TYPE: ClassVar[str] = "pvr"
    SECTION: ClassVar[str] = "form"
    KEYS: ClassVar[tuple[str, ...]] = ("pvr_nm_max",)

    fit_terms: tuple[int, ...]

    @classmethod
    def from_spec(cls, draft: SpecDraft) -> None:
        got = draft.tables.get("form")
        if got is None:
            return
        p, t = got
        lim = number(draft.ctx, t, p, "pvr_nm_max", limit=True)
        if "pvr_nm_max" in t and not draft.has_form_terms():
            draft.ctx.error((*p, "pvr_nm_max"), "pvr_nm_max needs a form fit: set "
                                                "fit_first_term and fit_last_term")
        form = draft.form
        if form is None or lim is None or not form.fit_terms:
            return
        fit_txt = f"{form.scheme} {zrange(list(form.fit_terms))}"
        draft.add(cls(
            id=f"{form.measurement}.form.pvr", measurement=form.measurement, limit=lim,
            unit="nm", description=f"PVr = PV of the {fit_txt} form + 3 x residual RMS",
            scheme=form.scheme, normalisation=form.normalisation, fit_terms=form.fit_terms,
            joint_fit_terms=form.joint_fit_terms, r_norm_mm=form.r_norm_mm),
            (*p, "pvr_nm_max"), 3)

    def value_and_evidence(self, fa: FileAnalysis, rec: FitRecord
                           ) -> tuple[float, ZernikeEvidence]:
        fit = rec.fit
        assert fit is not None
        keep = np.array([j in set(self.fit_terms) for j in fit.indices])
        form = fit.geometry.evaluate(np.where(keep, fit.coefficients_nm, 0.0))
        pv = float(form.max() - form.min())
        rms = float(fit.residual_rms_nm)
        return pv + 3.0 * rms, self.evidence(fa, rec, residual_rms_nm=rms, form_pv_nm=pv)

    def convention(self) -> dict[str, Any]:
        out = super().convention()
        out["fit_terms"] = [min(self.fit_terms), max(self.fit_terms)] if self.fit_terms else []
        return out
