"""What every criterion type shares: the criterion, its per-file result and its evidence.

A criterion type is one class in one module of :mod:`metrology.criteria`
(``metrology/criteria/<type>.py``). The class is

* **data**: a frozen dataclass of everything the verdict depends on (limit,
  unit, bound and the convention), built once when the spec is read;
* **parse and validate**: :meth:`Criterion.from_spec` reads the keys the type
  owns (:attr:`Criterion.SECTION`, :attr:`Criterion.KEYS`) from the spec being
  built and returns its criteria, reporting problems with their key path;
* **evaluate**: :meth:`Criterion.evaluate` turns one file's
  :class:`metrology.pipeline.FileAnalysis` (the whole of it: aperture,
  preprocessing record, fits, spectrum) into a :class:`SiteValue` carrying one
  :class:`Evidence` record;
* **describe**: :meth:`Criterion.convention` says, for every report, which
  convention the value follows.

Every verdict is made in one place, :meth:`Criterion.judge`: the value, its
:class:`Uncertainty` (U with k = 2, supplied by the criterion type) and the
spec's decision rule (``decision_rule = "simple" | "guarded"``, ISO 14253-1,
:mod:`metrology.decision`).

The registry (:mod:`metrology.criteria`) finds the modules by themselves:
adding a criterion type is one new file plus its test.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from .._json import jsonable
from ..verdicts import Verdict

if TYPE_CHECKING:  # pragma: no cover
    from ..pipeline import FileAnalysis
    from ..spec.schema import SpecDraft

__all__ = ["Criterion", "SiteValue", "Evidence", "FitRequest", "PSD", "PSD_WINDOW",
           "figure_field", "SECTION_RANK", "Uncertainty", "EXACT"]

#: where the criteria of each spec section come in a measurement's list (spec order);
#: a section a new criterion type brings comes after these, by name
SECTION_RANK: Mapping[str, int] = {"requirements": 0, "power": 1, "form": 2, "bands": 3,
                                   "psd": 4}

#: the analysis request "the 2-D PSD of the form residual" (see :meth:`Criterion.requests`)
PSD = "psd"

#: window of every PSD the pipeline computes for criteria (recorded in each result)
PSD_WINDOW = "hann"


def figure_field(**kw: Any) -> Any:
    """A dataclass field holding an array for the figures: kept out of the JSON report."""
    return field(metadata={"figure": True}, repr=False, **kw)


@dataclass(frozen=True)
class Evidence:
    """What was computed for one criterion on one file, on which data, with which
    convention, and the arrays a report needs to show it.

    Subclasses (one per criterion family) add their fields. Fields made with
    :func:`figure_field` (curves) are for the figures only and stay out of the
    JSON report; everything else goes into it (:meth:`to_dict`).
    """

    #: the data the value was computed on, in words ("form residual of ...")
    data: str

    KIND: ClassVar[str] = "evidence"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: ``kind`` and every field except the figure arrays."""
        out: dict[str, Any] = {"kind": self.KIND}
        for f in dataclasses.fields(self):
            if not f.metadata.get("figure"):
                out[f.name] = jsonable(getattr(self, f.name))
        return out


@dataclass(frozen=True)
class Uncertainty:
    """The expanded uncertainty of a site value and where it comes from.

    ``U`` is in the criterion's unit with coverage factor ``k`` (None: unknown;
    the guarded rule then cannot decide). ``noise`` is the noise floor of the
    analysed data in the same quantity when it is known (band values from
    repeats), ``measured`` the value before noise correction and ``corrected``
    whether the judged value is noise-corrected. ``model`` says, in words,
    which model gave U (``docs/uncertainty.md``); ``detail`` what is particular to
    this value (the PSD bin it was read from, the noise bias included, ...).
    """

    U: float | None
    model: str
    k: float = 2.0
    detail: str = ""
    noise: float | None = None
    measured: float | None = None
    corrected: bool = False
    dof: float | None = None
    n_repeats: int = 1

    def to_dict(self) -> dict[str, Any]:
        return jsonable(dataclasses.asdict(self))


#: the uncertainty of a counted value (pixels, files): exact
EXACT = Uncertainty(0.0, "counted: exact (no measurement uncertainty)")


@dataclass
class SiteValue:
    """The value of one criterion on one file (site), with its evidence and uncertainty."""

    file: str
    value: float | None
    verdict: Verdict
    reason: str = ""
    margin: float | None = None
    evidence: Evidence | None = None
    uncertainty: Uncertainty | None = None

    @property
    def U(self) -> float | None:
        """Expanded uncertainty (k = 2) of ``value``; None when unknown."""
        return None if self.uncertainty is None else self.uncertainty.U

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "value": self.value, "verdict": self.verdict,
                "reason": self.reason, "margin": self.margin, "U": jsonable(self.U),
                "uncertainty": None if self.uncertainty is None else self.uncertainty.to_dict(),
                "evidence": None if self.evidence is None else self.evidence.to_dict()}


@dataclass(frozen=True)
class FitRequest:
    """A joint least-squares Zernike fit a criterion needs (one per file and key).

    Criteria with the same :attr:`key` share one fit; the fit is made in the
    ``normalisation`` of a request with ``prefer`` set (the ``[form]``
    section's), else of the first, and every criterion reads its own
    normalisation from it (``c_peak = N c_rms``).
    """

    scheme: str
    r_norm_mm: float
    joint_fit_terms: tuple[int, ...]
    normalisation: str = "rms"
    prefer: bool = False

    @property
    def key(self) -> tuple[str, float, tuple[int, ...]]:
        return (self.scheme, float(self.r_norm_mm), tuple(self.joint_fit_terms))


@dataclass(frozen=True, kw_only=True)
class Criterion:
    """One line of a verdict: a quantity of one measurement against a limit.

    ``bound`` is ``"max"`` (pass when value <= limit) or ``"min"`` (pass when
    value >= limit). Class attributes say where the type lives in a spec and
    what it needs from the analysis pipeline.
    """

    #: the type's name in spec errors, reports and the JSON ``type`` field
    TYPE: ClassVar[str] = "criterion"
    #: the spec section whose keys the type reads (``"requirements"`` = the
    #: ``requirements`` table of each measurement); a name not in
    #: :data:`SECTION_RANK` is a top-level section the type owns entirely
    SECTION: ClassVar[str] = ""
    #: the limit keys the type owns in its section (allowed there because of it);
    #: ``"table.key"`` claims one key of a sub-table another type reads
    KEYS: ClassVar[tuple[str, ...]] = ()
    #: evaluated even on a file the pipeline could not analyse (data-quality checks)
    EVALUATE_WHEN_BLOCKED: ClassVar[bool] = False
    #: types of one section are read in this order (a type that reads the criteria of
    #: another type of its section comes after it)
    PARSE_ORDER: ClassVar[int] = 0
    #: the data the type judges: ``"map"`` (an areal :class:`~metrology.HeightMap`)
    #: and/or ``"profile"`` (a :class:`~metrology.Profile`, a 1-D trace); on other data
    #: the engine makes the criterion ``not-measurable`` with the reason
    DATA: ClassVar[tuple[str, ...]] = ("map",)

    id: str
    measurement: str
    limit: float
    unit: str
    bound: Literal["max", "min"] = "max"
    description: str = ""
    #: ISO 14253-1 decision rule, "simple" or "guarded" (the spec's ``decision_rule``)
    decision_rule: str = "simple"
    #: judge noise-corrected values where a noise floor is known (the spec's
    #: ``noise_correction``; band criteria)
    noise_correction: bool = False

    # -- semantics -------------------------------------------------------------------------
    def within(self, value: float) -> bool:
        """Whether ``value`` (in ``unit``) meets the limit; NaN never does."""
        if not math.isfinite(value):
            return False
        return value <= self.limit if self.bound == "max" else value >= self.limit

    def margin(self, value: float) -> float:
        """Distance to the limit in ``unit``, positive when within."""
        return self.limit - value if self.bound == "max" else value - self.limit

    def judge(self, file: str, value: float | None, reason: str = "",
              evidence: Evidence | None = None,
              uncertainty: Uncertainty | None = None) -> SiteValue:
        """The site result for ``value`` with its ``uncertainty``, under the criterion's
        decision rule (:class:`metrology.decision.DecisionRule`): no finite value is
        ``not-measurable``; ``simple`` compares the value with the limit (U reported);
        ``guarded`` passes only when value + U <= limit, fails only when value - U >
        limit (mirrored for a lower bound) and is otherwise ``not-measurable`` "within the
        uncertainty of the limit" (also when U is unknown)."""
        from ..decision import DecisionRule

        if value is None or not math.isfinite(value):
            return SiteValue(file, None, Verdict.NOT_MEASURABLE,
                             reason or "value could not be computed", None, evidence,
                             uncertainty)
        u = None if uncertainty is None else uncertainty.U
        d = DecisionRule(self.decision_rule).decide(
            float(value), float(self.limit), U=u, bound="upper" if self.bound == "max"
            else "lower")
        why = "; ".join(x for x in (d.reason, reason) if x)
        return SiteValue(file, float(value), d.verdict, why, float(self.margin(value)),
                         evidence, uncertainty)

    # -- the four hooks of a criterion type -----------------------------------------------
    @classmethod
    def from_spec(cls, draft: SpecDraft) -> None:
        """Read this type's keys from the spec being built; add criteria with
        ``draft.add(criterion, rank)`` and problems with ``draft.ctx.error(path, msg)``."""
        raise NotImplementedError(f"{cls.__name__}.from_spec")

    def requests(self) -> Sequence[FitRequest | str]:
        """What the pipeline must compute for this criterion: :class:`FitRequest`
        objects and/or :data:`PSD`. The preprocessed map is always there."""
        return ()

    def evaluate(self, analysis: FileAnalysis) -> SiteValue:
        """The value of this criterion on one analysed file, with its evidence."""
        raise NotImplementedError(f"{type(self).__name__}.evaluate")

    def evaluate_part(self, analyses: Sequence[FileAnalysis]) -> list[SiteValue] | None:
        """Criteria judged once per part (not per file) return their one site here;
        ``None`` (the default) means: evaluate every file."""
        return None

    def convention(self) -> dict[str, Any]:
        """The convention of the value, for every report (JSON ``convention``)."""
        return {}
