"""``pvr``: robust PV (Evans 2009) of the form fit (``[form] pvr_nm_max``).

PV of the form ``sum_{j in fit_terms} c_j Z_j`` over the aperture pixels plus
3 x the RMS of the residual of the joint fit, nm (``docs/conventions.md``,
"Definitions that decisions depend on").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..spec.context import number
from ..spec.zernike_terms import zrange
from ._base import Uncertainty
from ._uncertainty import full_band_estimate, unknown
from ._zernike import ZernikeCriterion

if TYPE_CHECKING:  # pragma: no cover
    from ..pipeline import FileAnalysis, FitRecord
    from ..spec.schema import SpecDraft
    from ..zernike import ZernikeFit

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

    def _form(self, fit: ZernikeFit) -> tuple[np.ndarray, np.ndarray]:
        keep = np.array([j in set(self.fit_terms) for j in fit.indices])
        return keep, fit.geometry.evaluate(np.where(keep, fit.coefficients_nm, 0.0))

    def measure(self, fit: ZernikeFit) -> tuple[float, dict[str, Any]]:
        _, form = self._form(fit)
        pv = float(form.max() - form.min())
        rms = float(fit.residual_rms_nm)
        return pv + 3.0 * rms, {"residual_rms_nm": rms, "form_pv_nm": pv}

    def single_map_uncertainty(self, fa: FileAnalysis, rec: FitRecord,
                               value: float) -> Uncertainty:
        """u² = u²(PV of the form) + 9 u²(residual RMS): the PV linearised at the form's
        highest and lowest pixels, g_j = Z_j(p_max) - Z_j(p_min) over the form terms,
        through the fit's single-map model; the RMS by the chi-square model."""
        from ..zernike import ZernikeGeometry

        fit = rec.fit
        model = rec.noise_model
        assert fit is not None
        est = full_band_estimate(fit.residual)
        if model is None or est is None:
            return unknown("the spectra of the uncertainty model could not be computed")
        keep, form = self._form(fit)
        geo = fit.geometry
        pix = np.flatnonzero(geo.mask.ravel())
        two = np.zeros(geo.shape, bool)
        hi, lo = pix[int(np.argmax(form))], pix[int(np.argmin(form))]
        two.flat[hi] = two.flat[lo] = True
        g2 = ZernikeGeometry(two, geo.dx_mm, geo.dy_mm, fit.orders, fit.normalisation,
                             fit.centre_mm, fit.r_norm_mm, allow_outside=True,
                             factorize=False)
        order = np.flatnonzero(two.ravel())
        g = np.zeros(len(fit.indices))
        for i in np.flatnonzero(keep):
            e = np.zeros(len(fit.indices))
            e[i] = 1.0
            v = dict(zip(order, g2.evaluate(e), strict=True))
            g[i] = v[hi] - v[lo]
        u_pv = model.u(g)
        u_rms = 0.5 * float(est.U)
        return Uncertainty(2.0 * math.sqrt(u_pv ** 2 + 9.0 * u_rms ** 2),
                           model.model + "; PVr: u² = u²(PV of the form, linearised at its "
                           "extreme pixels) + 9 u²(residual RMS, chi-square model)",
                           measured=value)

    def convention(self) -> dict[str, Any]:
        out = super().convention()
        out["fit_terms"] = [min(self.fit_terms), max(self.fit_terms)] if self.fit_terms else []
        return out
