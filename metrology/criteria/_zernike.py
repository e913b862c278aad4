"""What the Zernike criterion types share: the fit they read and their evidence.

Every type of this family (``power``, ``zernike_term``, ``zernike_other``,
``form_residual``, ``pvr``) is judged on one joint least-squares fit of the
preprocessed map (:class:`FitRequest`: scheme, R_norm, joint terms, about the
aperture centre); criteria with the same key share the fit, each reads its
coefficients in its own normalisation.

A type implements :meth:`ZernikeCriterion.measure` (its value from one fit) and
:meth:`ZernikeCriterion.single_map_uncertainty`; the U of a value is Type A
over the same fit of each repeat when the site is an average of repeats,
else the single-map model of the type (``criteria/_uncertainty.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ._base import Criterion, Evidence, FitRequest, SiteValue, Uncertainty
from ._uncertainty import type_a, unknown

if TYPE_CHECKING:  # pragma: no cover
    from ..pipeline import FileAnalysis, FitRecord
    from ..zernike import ZernikeFit

__all__ = ["ZernikeCriterion", "ZernikeEvidence", "BASIS"]

BASIS = "circle polynomials, plain least squares over the valid pixels"


@dataclass(frozen=True)
class ZernikeEvidence(Evidence):
    """Which fit a Zernike criterion read and what it took from it.

    ``fit`` is the position of the fit in the file's ``fits``; ``terms`` the
    indices the value is made of with their ``coefficients_nm`` (in
    ``normalisation``, which may differ from the fit's ``fit_normalisation``:
    ``c_peak = N c_rms``); ``groups`` for a criterion over several groups (each
    ``[indices, magnitude_nm, within the limit]``); ``residual_rms_nm`` and ``form_pv_nm`` where
    the value uses them.
    """

    fit: int
    scheme: str
    normalisation: str
    fit_normalisation: str
    r_norm_mm: float
    centre_mm: tuple[float, float] | None
    joint_fit_terms: tuple[int, ...]
    n_pixels: int
    terms: tuple[int, ...] = ()
    coefficients_nm: tuple[float, ...] = ()
    groups: tuple[tuple[tuple[int, ...], float, bool], ...] = ()
    residual_rms_nm: float | None = None
    form_pv_nm: float | None = None

    KIND: ClassVar[str] = "zernike_fit"


@dataclass(frozen=True, kw_only=True)
class ZernikeCriterion(Criterion):
    """Base of the Zernike family: the fit's scheme, normalisation, R_norm and terms."""

    scheme: str
    normalisation: str
    joint_fit_terms: tuple[int, ...]
    r_norm_mm: float

    #: the ``[form]`` section's normalisation decides the fit's (see :class:`FitRequest`)
    PREFER_FIT_NORMALISATION: ClassVar[bool] = True

    def fit_request(self) -> FitRequest:
        return FitRequest(self.scheme, self.r_norm_mm, tuple(self.joint_fit_terms),
                          self.normalisation, self.PREFER_FIT_NORMALISATION)

    def requests(self) -> Sequence[FitRequest | str]:
        return (self.fit_request(),)

    def coefficients(self, rec: FitRecord) -> dict[int, float]:
        """Index -> coefficient (nm) of the fit, in this criterion's normalisation."""
        assert rec.fit is not None
        c = rec.fit.coefficients_as(self.normalisation)
        return {j: float(v) for j, v in zip(rec.fit.indices, c, strict=True)}

    def evidence(self, fa: FileAnalysis, rec: FitRecord, **kw: Any) -> ZernikeEvidence:
        assert rec.fit is not None
        return ZernikeEvidence(
            data="preprocessed map"
                 + (f" (removed: {', '.join(fa.removed)})" if fa.removed else ""),
            fit=fa.fit_index(rec), scheme=self.scheme, normalisation=self.normalisation,
            fit_normalisation=rec.normalisation, r_norm_mm=float(self.r_norm_mm),
            centre_mm=rec.centre_mm, joint_fit_terms=tuple(self.joint_fit_terms),
            n_pixels=rec.fit.n_pixels, **kw)

    def scale(self, fit: ZernikeFit) -> np.ndarray:
        """Per term, this criterion's coefficient / the fit's (``c_peak = N c_rms``)."""
        from ..zernike_schemes import normalisation_factor

        if self.normalisation == fit.normalisation:
            return np.ones(len(fit.indices))
        f = np.array([normalisation_factor(n, m, "rms") for n, m in fit.orders])
        return f if self.normalisation == "peak" else 1.0 / f

    def measure(self, fit: ZernikeFit) -> tuple[float, dict[str, Any]]:
        """The value (nm) of this criterion on ``fit`` and the evidence fields it adds."""
        raise NotImplementedError(f"{type(self).__name__}.measure")

    def value_and_evidence(self, fa: FileAnalysis, rec: FitRecord
                           ) -> tuple[float, ZernikeEvidence]:
        assert rec.fit is not None
        value, kw = self.measure(rec.fit)
        return value, self.evidence(fa, rec, **kw)

    def gradient(self, fit: ZernikeFit) -> np.ndarray | None:
        """d value / d c (fit's normalisation, index order) where the value is a smooth
        function of the coefficients; ``None`` otherwise."""
        return None

    def single_map_uncertainty(self, fa: FileAnalysis, rec: FitRecord,
                               value: float) -> Uncertainty:
        """U of ``value`` on a single map: the fit's single-map model through
        :meth:`gradient` (a linearisation), unless a type says otherwise."""
        assert rec.fit is not None
        g = self.gradient(rec.fit)
        model = rec.noise_model
        if g is None or model is None:
            return unknown("no single-map model for this value")
        return Uncertainty(2.0 * model.u(g), model.model + " (value linearised in the "
                           "coefficients)", measured=value)

    def uncertainty(self, fa: FileAnalysis, rec: FitRecord, value: float) -> Uncertainty:
        """Type A over the repeats' fits, else :meth:`single_map_uncertainty`."""
        if rec.repeat_fits:
            return type_a([self.measure(f)[0] for f in rec.repeat_fits],
                          "the value of the same fit")
        return self.single_map_uncertainty(fa, rec, value)

    def evaluate(self, analysis: FileAnalysis) -> SiteValue:
        rec = analysis.fit_for(self.fit_request())
        assert rec is not None and rec.fit is not None  # the engine checked
        value, ev = self.value_and_evidence(analysis, rec)
        unc = self.uncertainty(analysis, rec, value) if math.isfinite(value) else None
        return self.judge(analysis.path, value, "", ev, unc)

    def convention(self) -> dict[str, Any]:
        return {"scheme": self.scheme, "normalisation": self.normalisation,
                "r_norm_mm": self.r_norm_mm, "joint_fit_terms": list(self.joint_fit_terms),
                "basis": BASIS}
