"""Decision rules: turning a measured value, its uncertainty and a limit into a verdict.

Two rules (ISO 14253-1:2017, "Decision rules for verifying conformity or
nonconformity with specifications"; the names follow ILAC-G8 and ISO/IEC
Guide 98-4):

``simple``
    Simple acceptance ("shared risk"): the measured value is compared with
    the limit as it is; U is reported but does not move the decision. An
    upper limit passes when ``value <= limit`` and fails otherwise.
``guarded``
    Guarded acceptance and rejection with a guard band of U (k = 2): the
    conformance zone shrinks by U and the non-conformance zone starts U
    beyond the limit. For an upper limit, pass only when
    ``value + U <= limit``, fail only when ``value - U > limit``; for a lower
    limit, pass only when ``value - U >= limit``, fail only when
    ``value + U < limit``. In between the verdict is ``not-measurable`` with
    the reason "within the uncertainty of the limit": conformity can be
    neither proven nor disproven at that uncertainty. A value without an
    uncertainty cannot be judged by this rule (``not-measurable``).

A NaN value is always ``not-measurable``. Verdicts are
:class:`metrology.verdicts.Verdict` members (``pass``, ``fail``,
``not-measurable``; ``docs/conventions.md``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .errors import ConventionError
from .verdicts import Verdict

__all__ = ["RULES", "BOUNDS", "Decision", "DecisionRule", "decide", "REASON_WITHIN_U"]

RULES = ("simple", "guarded")
BOUNDS = ("upper", "lower")
#: the reason of a guarded ``not-measurable`` verdict
REASON_WITHIN_U = "within the uncertainty of the limit"

_DESCRIPTIONS = {
    "simple": "simple acceptance (ISO 14253-1 / ILAC-G8 shared risk): the measured value is "
              "compared with the limit; U is reported but not applied",
    "guarded": "guarded acceptance (ISO 14253-1): pass only when value + U <= limit, fail only "
               "when value - U > limit (mirrored for a lower limit), otherwise not-measurable; "
               "U with k = 2",
}


@dataclass(frozen=True)
class Decision:
    """The verdict on one value against one limit.

    Attributes
    ----------
    verdict : Verdict
        ``Verdict.PASS``, ``Verdict.FAIL`` or ``Verdict.NOT_MEASURABLE`` (a ``str``:
        ``Verdict.PASS == "pass"``).
    rule : {"simple", "guarded"}
    bound : {"upper", "lower"}
    value, limit : float
    U : float or None
        Expanded uncertainty (k = 2) used or reported; None when unknown.
    margin : float
        Distance to the limit on the passing side, ``limit - value`` for an
        upper limit, ``value - limit`` for a lower one (negative = outside).
    reason : str
        Why the verdict is not a plain pass/fail ("" otherwise).
    """

    verdict: Verdict
    rule: str
    bound: str
    value: float
    limit: float
    U: float | None
    margin: float
    reason: str

    @property
    def passed(self) -> bool:
        return self.verdict is Verdict.PASS

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["verdict"] = self.verdict.value
        return d


def _check(rule: str, bound: str) -> tuple[str, str]:
    r = str(rule).lower()
    if r not in RULES:
        raise ConventionError(f"unknown decision rule {rule!r}; use 'simple' or 'guarded'")
    b = str(bound).lower()
    if b not in BOUNDS:
        raise ConventionError(f"unknown bound {bound!r}; use 'upper' or 'lower'")
    return r, b


def decide(value: float, limit: float, *, U: float | None = None, rule: str = "simple",
           bound: str = "upper") -> Decision:
    """Verdict on ``value`` against ``limit`` under ``rule`` (module docstring).

    Parameters
    ----------
    value : float
        Measured value (NaN: not measurable).
    limit : float
        The specification limit, same unit.
    U : float, optional
        Expanded uncertainty (k = 2) of ``value``, same unit, >= 0. Required
        by the guarded rule (without it the verdict is ``not-measurable``).
    rule : {"simple", "guarded"}
    bound : {"upper", "lower"}
        Whether ``limit`` is a maximum (value must not exceed it) or a minimum.

    Returns
    -------
    Decision
    """
    r, b = _check(rule, bound)
    v = float(value)
    lim = float(limit)
    if math.isnan(lim):
        raise ConventionError("the limit is NaN")
    u = None if U is None else float(U)
    if u is not None and math.isnan(u):
        u = None  # unknown
    if u is not None and u < 0:
        raise ConventionError(f"an expanded uncertainty must be >= 0, got {U!r}")
    sign = 1.0 if b == "upper" else -1.0
    margin = sign * (lim - v)
    if math.isnan(v):
        return Decision(Verdict.NOT_MEASURABLE, r, b, v, lim, u, margin, "no measured value")
    if r == "simple":
        ok = v <= lim if b == "upper" else v >= lim
        return Decision(Verdict.PASS if ok else Verdict.FAIL, r, b, v, lim, u, margin, "")
    if u is None or math.isinf(u):
        return Decision(Verdict.NOT_MEASURABLE, r, b, v, lim, u, margin,
                        "no uncertainty for this value: the guarded rule cannot decide")
    if b == "upper":
        if v + u <= lim:
            return Decision(Verdict.PASS, r, b, v, lim, u, margin, "")
        if v - u > lim:
            return Decision(Verdict.FAIL, r, b, v, lim, u, margin, "")
    else:
        if v - u >= lim:
            return Decision(Verdict.PASS, r, b, v, lim, u, margin, "")
        if v + u < lim:
            return Decision(Verdict.FAIL, r, b, v, lim, u, margin, "")
    return Decision(Verdict.NOT_MEASURABLE, r, b, v, lim, u, margin, REASON_WITHIN_U)


@dataclass(frozen=True)
class DecisionRule:
    """A decision rule as an object (for specs and reports).

    Parameters
    ----------
    name : {"simple", "guarded"}
    """

    name: str = "simple"

    def __post_init__(self) -> None:
        _check(self.name, "upper")
        object.__setattr__(self, "name", str(self.name).lower())

    @property
    def description(self) -> str:
        """One sentence for reports: which rule and what it does."""
        return _DESCRIPTIONS[self.name]

    def decide(self, value: float, limit: float, *, U: float | None = None,
               bound: str = "upper") -> Decision:
        """:func:`decide` with this rule."""
        return decide(value, limit, U=U, rule=self.name, bound=bound)
