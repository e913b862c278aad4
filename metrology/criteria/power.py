"""``power``: power (n, m) = (2, 0) toleranced on its own (``[power] coef_nm_max``).

|c| of the power term in nm, in the ``[power]`` normalisation, from the joint
fit of the measurement (the form's fit when ``[form]`` is on the same
measurement and scheme, else the removed terms plus power).

"Power" means different numbers in shop practice; this one is the Zernike
coefficient, not a PV sag. Every site's evidence also gives the other figures
(:func:`metrology.units.power_figures`): the PV of the power term over the
data, which is our reading of MetroPro's "Power" (not verified against a
MetroPro report), and Seidel focus when Z9 was fitted.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import MetrologyError
from ..spec.context import number
from ..spec.zernike_terms import removed_indices
from ._zernike import ZernikeCriterion, ZernikeEvidence  # noqa: F401 - the family base
from .zernike_term import ZernikeTermCriterion

if TYPE_CHECKING:  # pragma: no cover
    from ..pipeline import FileAnalysis, FitRecord
    from ..spec.schema import SpecDraft

__all__ = ["PowerCriterion", "PowerEvidence", "POWER_DEFINITION"]

POWER_DEFINITION = (
    "power = |Zernike coefficient of (n, m) = (2, 0)| (Fringe Z4) of the joint fit, in the "
    "stated normalisation: for rms normalisation the RMS of the power term over the unit "
    "disk of radius R_norm. It is not the PV sag; the evidence gives the PV of the term "
    "over the data, 2 c_peak (rho^2_max - rho^2_min) (2 x the peak coefficient on a full "
    "disk), which is our reading of MetroPro's 'Power' figure (not verified against a "
    "MetroPro report), and Seidel focus 2 c4 - 6 c9 (peak) when Z9 was fitted")


@dataclass(frozen=True)
class PowerEvidence(ZernikeEvidence):
    """A power value and the other figures called "power" (nm), each with its statement."""

    power_figures: dict[str, Any] | None = None

    KIND: ClassVar[str] = "zernike_fit"


@dataclass(frozen=True, kw_only=True)
class PowerCriterion(ZernikeTermCriterion):
    """Power (n, m) = (2, 0) toleranced on its own (``[power]``)."""

    TYPE: ClassVar[str] = "power"
    SECTION: ClassVar[str] = "power"
    KEYS: ClassVar[tuple[str, ...]] = ("coef_nm_max",)
    PREFER_FIT_NORMALISATION: ClassVar[bool] = False

    @classmethod
    def from_spec(cls, draft: SpecDraft) -> None:
        got = draft.tables.get("power")
        if got is None:
            return
        p, t = got
        lim = number(draft.ctx, t, p, "coef_nm_max", required=True, limit=True)
        pw = draft.power
        if pw is None or lim is None:
            return
        form = draft.form
        if form is not None and form.measurement == pw.measurement and form.scheme == pw.scheme:
            joint = form.joint_fit_terms
        else:
            meas = draft.measurements[pw.measurement]
            joint = tuple(sorted({*removed_indices(meas, pw.scheme), pw.index}))
        draft.add(cls(
            id=f"{pw.measurement}.power", measurement=pw.measurement, limit=lim, unit="nm",
            label="power",
            description=f"power |coefficient| {pw.scheme} Z{pw.index} (n=2, m=0), "
                        f"{pw.normalisation} normalisation",
            scheme=pw.scheme, normalisation=pw.normalisation, terms=(pw.index,),
            orders=((2, 0),), joint_fit_terms=joint, r_norm_mm=pw.r_norm_mm),
            (*p, "coef_nm_max"), 0)

    def evidence(self, fa: FileAnalysis, rec: FitRecord, **kw: Any) -> PowerEvidence:
        from ..units import power_figures

        base = super().evidence(fa, rec, **kw)
        try:
            figs = power_figures(rec.fit).to_dict()
            figs["rho2_range"] = list(figs["rho2_range"])
        except MetrologyError as exc:
            figs = {"error": str(exc)}
        return PowerEvidence(**{f.name: getattr(base, f.name)
                                for f in dataclasses.fields(base)}, power_figures=figs)

    def convention(self) -> dict[str, Any]:
        out = super().convention()
        out["definition"] = POWER_DEFINITION
        return out
