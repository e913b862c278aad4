"""``pvr``: robust PV of the measured form (``[form] pvr_nm_max``, ``pvr_variant``).

Default (``pvr_variant = "evans"``, ``docs/conventions.md``, "Definitions that
decisions depend on"): Evans' PVr, the PV of the Fringe Z1-Z36 least-squares
fit of the preprocessed map with piston and tilt (Z1-Z3) removed, plus 3 x the
RMS of the residual of that fit, nm. Named variants
(:data:`metrology.spectral.PVR_VARIANTS`): ``"evans-z37"`` (Z1-Z37) and
``"form-terms"`` (PV of the [form] terms of the measurement's joint fit + 3 x
the RMS of its residual). The exact definition is in every report (the
criterion's convention and evidence).

Evans' PVr holds every term of Z4-Z36: a measurement whose preprocessing
removes power or astigmatism would not give Evans' value, so that spec is
refused (:meth:`PVrCriterion.preprocessing_conflict`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..spec.context import number, string
from ..spec.zernike_terms import zrange
from ._base import FitRequest, Uncertainty
from ._uncertainty import full_band_estimate, unknown
from ._zernike import ZernikeCriterion

if TYPE_CHECKING:  # pragma: no cover
    from ..pipeline import FileAnalysis, FitRecord
    from ..spec.schema import SpecDraft
    from ..zernike import ZernikeFit
    from ._base import Removal

__all__ = ["PVrCriterion", "VARIANTS"]

#: variant -> (Fringe terms fitted, None for the form's own joint fit)
VARIANTS: dict[str, int | None] = {"evans": 36, "evans-z37": 37, "form-terms": None}


def _definition(variant: str) -> str:
    from ..spectral import PVR_VARIANTS  # lazy: the spec reader does not need the PSD layer

    return PVR_VARIANTS[variant]


@dataclass(frozen=True, kw_only=True)
class PVrCriterion(ZernikeCriterion):
    """Robust PV, nm: by default Evans' PVr = PV of the Fringe Z1-Z36 fit (piston and tilt
    removed) + 3 x RMS of that fit's residual; ``variant`` names another definition
    (module docstring). ``fit_terms`` are the terms whose PV is taken."""

    TYPE: ClassVar[str] = "pvr"
    SECTION: ClassVar[str] = "form"
    KEYS: ClassVar[tuple[str, ...]] = ("pvr_nm_max", "pvr_variant")

    fit_terms: tuple[int, ...]
    variant: str = "evans"

    @classmethod
    def from_spec(cls, draft: SpecDraft) -> None:
        got = draft.tables.get("form")
        if got is None:
            return
        p, t = got
        lim = number(draft.ctx, t, p, "pvr_nm_max", limit=True)
        variant = string(draft.ctx, t, p, "pvr_variant", default="evans",
                         choices=tuple(VARIANTS))
        if "pvr_variant" in t and "pvr_nm_max" not in t:
            draft.ctx.error((*p, "pvr_variant"), "pvr_variant names the definition of "
                                                 "pvr_nm_max, which is not given")
        form = draft.form
        if variant == "form-terms" and "pvr_nm_max" in t and not draft.has_form_terms():
            draft.ctx.error((*p, "pvr_nm_max"), "pvr_variant = 'form-terms' needs a form fit: "
                                                "set fit_first_term and fit_last_term")
            return
        if form is None or lim is None or variant is None:
            return
        k = VARIANTS[variant]
        if k is None:
            if not form.fit_terms:
                return
            scheme, norm = form.scheme, form.normalisation
            pv_terms, joint = form.fit_terms, form.joint_fit_terms
            what = (f"PV of the {form.scheme} {zrange(list(form.fit_terms))} form terms + "
                    "3 x residual RMS (pvr_variant 'form-terms', not Evans' PVr)")
        else:
            scheme, norm = "fringe", "rms"
            joint = tuple(range(1, k + 1))
            pv_terms = tuple(range(4, k + 1))
            what = (f"PVr = PV of the Fringe Z1-Z{k} fit without piston and tilt + 3 x its "
                    "residual RMS" + (" (Evans 2009)" if variant == "evans"
                                      else f" (pvr_variant {variant!r}, not Evans' PVr)"))
        draft.add(cls(
            id=f"{form.measurement}.form.pvr", measurement=form.measurement, limit=lim,
            unit="nm", description=what, scheme=scheme, normalisation=norm,
            fit_terms=pv_terms, joint_fit_terms=joint, r_norm_mm=form.r_norm_mm,
            variant=variant), (*p, "pvr_nm_max"), 3)

    def fit_request(self) -> FitRequest:
        if self.variant == "form-terms":
            return super().fit_request()
        # a fit of its own: its residual is not the measurement's form residual
        return FitRequest("fringe", self.r_norm_mm, tuple(self.joint_fit_terms), "rms",
                          False, form_residual=False)

    def preprocessing_conflict(self, removal: Removal) -> str | None:
        if self.variant == "form-terms":
            return None
        lost = [n for n in removal.preprocessing if n not in ("piston", "tilt")]
        if lost:
            return (f"Evans' PVr holds {', '.join(lost)}, which the preprocessing of "
                    f"{self.measurement!r} removes: the value would not be Evans' PVr. Keep "
                    f"{', '.join(lost)} in the map, or set pvr_variant = 'form-terms' (the PV "
                    "of the [form] terms)")
        return None

    def _form(self, fit: ZernikeFit) -> tuple[np.ndarray, np.ndarray]:
        keep = np.array([j in set(self.fit_terms) for j in fit.indices])
        # the fit's own basis (an orthonormalised fit is not read as circle polynomials)
        return keep, fit.geometry.evaluate(np.where(keep, fit._surface_coefficients, 0.0))

    def measure(self, fit: ZernikeFit) -> tuple[float, dict[str, Any]]:
        _, form = self._form(fit)
        pv = float(form.max() - form.min())
        rms = float(fit.residual_rms_nm)
        return pv + 3.0 * rms, {"residual_rms_nm": rms, "form_pv_nm": pv,
                                "definition": _definition(self.variant)}

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
        out["pv_terms"] = out["fit_terms"]
        out["variant"] = self.variant
        out["definition"] = _definition(self.variant)
        return out
