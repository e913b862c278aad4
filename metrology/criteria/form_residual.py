"""``form_residual``: RMS or PV of the residual of the form fit (``[form]``).

``residual_rms_nm_max`` / ``residual_pv_nm_max``: the surface minus the joint
least-squares fit of the removed terms, power and the form terms, nm. Without
form terms the residual is the surface after preprocessing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from ..spec.context import number
from ..spec.zernike_terms import zrange
from ._base import Uncertainty
from ._uncertainty import from_estimate, full_band_estimate, unknown
from ._zernike import ZernikeCriterion

if TYPE_CHECKING:  # pragma: no cover
    from ..pipeline import FileAnalysis, FitRecord
    from ..spec.schema import SpecDraft
    from ..zernike import ZernikeFit

__all__ = ["FormResidualCriterion"]

_KEYS = {"rms": "residual_rms_nm_max", "pv": "residual_pv_nm_max"}


@dataclass(frozen=True, kw_only=True)
class FormResidualCriterion(ZernikeCriterion):
    """``statistic`` (``rms`` or ``pv``, nm) of the residual: the surface minus
    the joint least-squares fit of ``joint_fit_terms`` (the removed terms, the
    toleranced terms and the form terms ``fit_terms``). Without form terms the
    residual is the surface after preprocessing."""

    TYPE: ClassVar[str] = "form_residual"
    SECTION: ClassVar[str] = "form"
    KEYS: ClassVar[tuple[str, ...]] = tuple(_KEYS.values())

    statistic: Literal["rms", "pv"]
    fit_terms: tuple[int, ...]

    @classmethod
    def from_spec(cls, draft: SpecDraft) -> None:
        got = draft.tables.get("form")
        if got is None:
            return
        p, t = got
        lims = {stat: number(draft.ctx, t, p, key, limit=True) for stat, key in _KEYS.items()}
        form = draft.form
        if form is None:
            return
        fit = list(form.fit_terms)
        fit_txt = f"{form.scheme} {zrange(fit)}" if fit else "no form terms"
        for rank, (stat, lim) in enumerate(lims.items()):
            if lim is None:
                continue
            draft.add(cls(
                id=f"{form.measurement}.form.residual_{stat}", measurement=form.measurement,
                limit=lim, unit="nm",
                description=f"{stat.upper()} of the residual after the joint fit ({fit_txt})",
                statistic=stat, scheme=form.scheme, normalisation=form.normalisation,
                fit_terms=tuple(fit), joint_fit_terms=form.joint_fit_terms,
                r_norm_mm=form.r_norm_mm), (*p, _KEYS[stat]), 2, rank)

    def measure(self, fit: ZernikeFit) -> tuple[float, dict[str, Any]]:
        value = float(fit.residual_rms_nm) if self.statistic == "rms" \
            else float(fit.residual.pv_nm)
        return value, {"residual_rms_nm": float(fit.residual_rms_nm)}

    def single_map_uncertainty(self, fa: FileAnalysis, rec: FitRecord,
                               value: float) -> Uncertainty:
        """RMS: the single-map chi-square model over the residual's full band (no
        window); PV: no single-map model."""
        if self.statistic != "rms":
            return unknown("no single-map model for the PV of a residual (an extreme "
                           "value); measure repeats")
        assert rec.fit is not None
        return from_estimate(full_band_estimate(rec.fit.residual), value)

    def convention(self) -> dict[str, Any]:
        out = super().convention()
        out["fit_terms"] = [min(self.fit_terms), max(self.fit_terms)] if self.fit_terms else []
        return out
