"""``sa``: mean absolute height Sa (ISO 25178-2) of a measurement (``[sa]``).

    Sa = mean over the valid pixels of |z - mean(z)|      [nm]

on the map after the measurement's clear aperture and preprocessing (the
removed terms). Spec::

    [sa]                       # or [[sa]], one entry per measurement
    measurement = "csi-50x"
    sa_nm_max = 0.15

This module is the whole criterion type: parse and validate (:meth:`from_spec`),
evaluate (:meth:`evaluate`, with its evidence) and describe (:meth:`convention`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..spec.context import MISSING, bad_type, check_keys, number
from ._base import Criterion, Evidence, SiteValue, Uncertainty
from ._uncertainty import full_band_estimate, type_a, unknown

if TYPE_CHECKING:  # pragma: no cover
    from ..pipeline import FileAnalysis
    from ..spec.schema import SpecDraft

__all__ = ["SaCriterion", "SaEvidence"]

_DEFINITION = "Sa = mean |z - mean(z)| over the valid pixels after preprocessing"


@dataclass(frozen=True)
class SaEvidence(Evidence):
    """The pixels Sa was averaged over and the mean it was taken about."""

    n_pixels: int
    mean_nm: float
    definition: str

    KIND: ClassVar[str] = "sa"


@dataclass(frozen=True, kw_only=True)
class SaCriterion(Criterion):
    """Mean absolute height Sa (nm) of the preprocessed map of one measurement."""

    TYPE: ClassVar[str] = "sa"
    SECTION: ClassVar[str] = "sa"

    @classmethod
    def from_spec(cls, draft: SpecDraft) -> None:
        raw = draft.doc.get("sa", MISSING)
        if raw is MISSING:
            return
        ctx = draft.ctx
        if isinstance(raw, dict):
            entries = [(("sa",), raw)]
        elif isinstance(raw, list) and raw and all(isinstance(t, dict) for t in raw):
            entries = [(("sa", i), t) for i, t in enumerate(raw)]
        else:
            bad_type(ctx, ("sa",), "a table ([sa]) or an array of tables ([[sa]])", raw)
            return
        for rank, (p, t) in enumerate(entries):
            check_keys(ctx, t, p, ("measurement", "sa_nm_max"))
            name = draft.measurement_ref(t, p)
            lim = number(ctx, t, p, "sa_nm_max", required=True, limit=True)
            if name is None or lim is None:
                continue
            m = draft.measurements[name]
            where = (f"inside the Ø{m.aperture.diameter_mm:g} mm clear aperture"
                     if m.aperture else "over the field")
            removed = ", ".join(m.preprocessing.remove) or "nothing"
            draft.add(cls(id=f"{name}.sa", measurement=name, limit=lim, unit="nm",
                          description=f"Sa (ISO 25178 mean absolute height) {where}, "
                                      f"{removed} removed"),
                      (*p, "sa_nm_max"), rank)

    def evaluate(self, analysis: FileAnalysis) -> SiteValue:
        pre = analysis.preprocessed
        assert pre is not None  # a file the pipeline analysed has its preprocessed map
        z = pre.z_nm[pre.valid]
        if z.size == 0:
            return self.judge(analysis.path, None, "no valid pixel after preprocessing")
        mean = float(np.mean(z))
        sa = float(np.mean(np.abs(z - mean)))
        ev = SaEvidence(data="preprocessed map" + (
            f" (removed: {', '.join(analysis.removed)})" if analysis.removed else ""),
            n_pixels=int(z.size), mean_nm=mean, definition=_DEFINITION)
        return self.judge(analysis.path, sa, "", ev, self._uncertainty(analysis, pre, sa))

    @staticmethod
    def _uncertainty(fa: FileAnalysis, pre: Any, sa: float) -> Uncertainty:
        """Repeats: Type A over the repeats' Sa. Single map: the chi-square U of Sq over
        the full band (no window) scaled by Sa / Sq (a Gaussian surface has
        Sa = sqrt(2/pi) Sq, and the two fluctuate alike)."""
        reps = fa.preprocessing.repeats if fa.preprocessing is not None else ()
        if reps:
            vals = []
            for r in reps:
                z = r.z_nm[r.valid]
                vals.append(float(np.mean(np.abs(z - np.mean(z)))))
            return type_a(vals, "Sa")
        est = full_band_estimate(pre)
        if est is None or not est.measured > 0:
            return unknown("the spectra of the uncertainty model could not be computed")
        return Uncertainty(float(est.U) * sa / float(est.measured),
                           est.model + "; Sa: U of Sq over the full band (no window) scaled "
                           "by Sa / Sq (Gaussian surface)", measured=sa, dof=est.dof)

    def convention(self) -> dict[str, Any]:
        return {"statistic": "Sa", "standard": "ISO 25178-2", "definition": _DEFINITION}
