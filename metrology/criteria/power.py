"""``power``: power (n, m) = (2, 0) toleranced on its own (``[power] coef_nm_max``).

|c| of the power term in nm, in the ``[power]`` normalisation, from the joint
fit of the measurement (the form's fit when ``[form]`` is on the same
measurement and scheme, else the removed terms plus power).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from ..spec.context import number
from ..spec.zernike_terms import removed_indices
from ._zernike import ZernikeCriterion  # noqa: F401 - the family base
from .zernike_term import ZernikeTermCriterion

if TYPE_CHECKING:  # pragma: no cover
    from ..spec.schema import SpecDraft

__all__ = ["PowerCriterion"]


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
