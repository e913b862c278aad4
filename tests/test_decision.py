"""Decision rules (ISO 14253-1): simple and guarded, upper and lower limits."""

from __future__ import annotations

import math

import pytest

from metrology.decision import REASON_WITHIN_U, DecisionRule, decide
from metrology.errors import ConventionError

# (value, U, limit) -> (simple, guarded) for an UPPER limit of 1.0
UPPER = [
    (0.5, 0.2, "pass", "pass"),            # clear pass: 0.7 <= 1
    (0.8, 0.2, "pass", "pass"),            # value + U == limit: still a pass
    (0.9, 0.2, "pass", "not-measurable"),  # marginal pass
    (1.0, 0.2, "pass", "not-measurable"),  # on the limit
    (1.1, 0.2, "fail", "not-measurable"),  # marginal fail
    (1.2, 0.2, "fail", "not-measurable"),  # value - U == limit: not > limit
    (1.5, 0.2, "fail", "fail"),            # clear fail
]


@pytest.mark.parametrize("value,u,simple,guarded", UPPER)
def test_upper_limit(value, u, simple, guarded) -> None:
    assert decide(value, 1.0, U=u, rule="simple").verdict == simple
    d = decide(value, 1.0, U=u, rule="guarded")
    assert d.verdict == guarded
    assert d.bound == "upper" and d.rule == "guarded"
    assert d.margin == pytest.approx(1.0 - value)
    if guarded == "not-measurable":
        assert d.reason == REASON_WITHIN_U


@pytest.mark.parametrize("value,u,simple,guarded", UPPER)
def test_lower_limit_is_the_mirror(value, u, simple, guarded) -> None:
    # mirror every case about the limit: value -> 2 - value against a lower limit of 1
    d = decide(2.0 - value, 1.0, U=u, rule="guarded", bound="lower")
    assert d.verdict == guarded
    assert decide(2.0 - value, 1.0, U=u, rule="simple", bound="lower").verdict == simple
    assert d.margin == pytest.approx(1.0 - value)


def test_guarded_never_passes_what_simple_fails_nor_fails_what_simple_passes() -> None:
    for i in range(-50, 51):
        v = 1.0 + i / 50
        for u in (0.0, 0.05, 0.3):
            for b in ("upper", "lower"):
                s = decide(v, 1.0, U=u, rule="simple", bound=b).verdict
                g = decide(v, 1.0, U=u, rule="guarded", bound=b).verdict
                if s == "fail":
                    assert g != "pass"
                if s == "pass":
                    assert g != "fail"
                if u == 0.0 and v != 1.0:
                    assert g == s  # no uncertainty: the rules agree (off the limit)


def test_missing_or_unusable_inputs() -> None:
    assert decide(math.nan, 1.0, U=0.1, rule="simple").verdict == "not-measurable"
    d = decide(0.1, 1.0, rule="guarded")
    assert d.verdict == "not-measurable" and "uncertainty" in d.reason
    assert decide(0.1, 1.0, U=math.nan, rule="guarded").verdict == "not-measurable"
    assert decide(0.1, 1.0, U=math.inf, rule="guarded").verdict == "not-measurable"
    assert decide(0.1, 1.0, rule="simple").verdict == "pass"  # simple needs no U
    with pytest.raises(ConventionError):
        decide(0.1, 1.0, U=-0.1, rule="guarded")
    with pytest.raises(ConventionError):
        decide(0.1, 1.0, rule="strict")
    with pytest.raises(ConventionError):
        decide(0.1, 1.0, bound="both")
    with pytest.raises(ConventionError):
        decide(0.1, math.nan)


def test_rule_object_describes_itself() -> None:
    g = DecisionRule("Guarded")
    assert g.name == "guarded" and "value + U <= limit" in g.description
    assert "ISO 14253-1" in DecisionRule().description
    assert g.decide(0.95, 1.0, U=0.1).verdict == "not-measurable"
    assert g.decide(0.95, 1.0, U=0.1).to_dict()["reason"] == REASON_WITHIN_U
    with pytest.raises(ConventionError):
        DecisionRule("lenient")


def test_verdicts_are_the_project_enum() -> None:
    import json

    from metrology.verdicts import Verdict, worst

    ds = [decide(0.5, 1.0, U=0.2, rule="guarded"), decide(0.9, 1.0, U=0.2, rule="guarded"),
          decide(1.5, 1.0, U=0.2, rule="guarded")]
    assert [d.verdict for d in ds] == [Verdict.PASS, Verdict.NOT_MEASURABLE, Verdict.FAIL]
    assert all(type(d.verdict) is Verdict for d in ds)
    assert ds[0].passed and not ds[1].passed
    assert worst(d.verdict for d in ds[:2]) is Verdict.NOT_MEASURABLE
    assert json.loads(json.dumps(ds[1].to_dict()))["verdict"] == "not-measurable"
