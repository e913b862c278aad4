"""Verdicts and exit codes: one enum each, with their ordering and meaning.

A criterion gets one :class:`Verdict`; a part and a whole check take the
worst of theirs (:func:`worst`); the command line turns the overall verdict
into an :class:`ExitCode` (:func:`exit_code_for`). Everything that ranks,
counts or explains verdicts and exit codes reads this module
(``docs/conventions.md``, "Verdicts").
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

__all__ = [
    "Verdict",
    "ExitCode",
    "worst",
    "worst_exit",
    "exit_code_for",
    "EXIT_CODE_MEANING",
    "EXIT_CODE_TEXT",
    "VERDICT_MEANING",
    "exit_codes_summary",
    "exit_codes_help",
]


class Verdict(enum.StrEnum):
    """The verdict of one criterion (a ``str``: ``Verdict.PASS == "pass"``).

    Ordered by :attr:`severity`: ``pass`` < ``not-checked`` < ``not-measurable``
    < ``fail``. Neither ``not-measurable`` nor ``not-checked`` is ever a pass.
    """

    PASS = "pass"
    FAIL = "fail"
    NOT_MEASURABLE = "not-measurable"
    NOT_CHECKED = "not-checked"

    @property
    def severity(self) -> int:
        """Rank, higher is worse: pass 0, not-checked 1, not-measurable 2, fail 3."""
        return _SEVERITY[self]

    @property
    def meaning(self) -> str:
        """What the verdict says, in words (reports print this)."""
        return VERDICT_MEANING[self]


_SEVERITY = {Verdict.PASS: 0, Verdict.NOT_CHECKED: 1, Verdict.NOT_MEASURABLE: 2,
             Verdict.FAIL: 3}

#: what each verdict means (JSON report ``verdict_meaning``)
VERDICT_MEANING: dict[Verdict, str] = {
    Verdict.PASS: "measured within the limit",
    Verdict.FAIL: "measured outside the limit",
    Verdict.NOT_MEASURABLE: "the data cannot resolve the criterion; never counts as a pass",
    Verdict.NOT_CHECKED: "no file for this measurement was given (not a part check); "
                         "not a pass",
}


def worst(verdicts: Iterable[str | Verdict], default: Verdict = Verdict.PASS) -> Verdict:
    """The most severe of ``verdicts`` (``default`` when there are none)."""
    out = default
    for v in verdicts:
        v = Verdict(v)
        if v.severity > out.severity:
            out = v
    return out


class ExitCode(enum.IntEnum):
    """Exit codes of the command line (all subcommands)."""

    #: success; for ``check``: every checked criterion passes
    PASS = 0
    #: ``check``: at least one criterion fails
    FAIL = 1
    #: usage or input error: bad arguments, unreadable or unassignable file, invalid spec
    USAGE = 2
    #: ``check``: nothing failed, but something was not measurable, a measurement is missing
    #: or a criterion was not checked
    NOT_MEASURABLE = 3
    #: interrupted (Ctrl-C, SIGTERM): no report written, the results log holds whole parts
    INTERRUPTED = 130

    @property
    def meaning(self) -> str:
        """One line saying what the code means (the reports print this)."""
        return EXIT_CODE_MEANING[int(self)]


#: the one table of what each exit code means: (a few words, one line for reports, the
#: explanation ``--help`` prints); README, reports and the command line read it
EXIT_CODE_TEXT: dict[int, tuple[str, str, str]] = {
    0: ("pass/success", "every checked criterion passes",
        "every checked criterion passes (other commands: success)"),
    1: ("a criterion fails", "at least one criterion fails", "at least one criterion fails"),
    2: ("usage or input error",
        "usage or input error (bad arguments, unreadable file, invalid spec)",
        "usage or input error: bad arguments, an unreadable or unassignable file named on "
        "its own, an invalid spec (the message names the key path and line), an unexpected "
        "failure while analysing a file (the message names it); a batch still checks its "
        "other parts and writes its reports"),
    3: ("nothing failed but something was not measurable, missing or not checked",
        "nothing failed, but something was not measurable, a measurement of the part "
        "is missing, or a criterion was not checked",
        "nothing failed, but something was not measurable (a band beyond a file's Nyquist "
        "frequency, an aperture larger than the valid data, too few valid pixels, a file "
        "that cannot be read or holds no surface...), a measurement of the part has no "
        "file, or a criterion was not checked (no file for its measurement; --only "
        "restricts the check on purpose)"),
    130: ("interrupted", "interrupted (Ctrl-C or SIGTERM): no report written",
          "interrupted (Ctrl-C or SIGTERM): no report is written; the results log keeps "
          "every part finished (--resume goes on from there)"),
}

#: what each exit code of ``metrology check`` means (one line each, for the reports)
EXIT_CODE_MEANING: dict[int, str] = {k: v[1] for k, v in EXIT_CODE_TEXT.items()}


def exit_codes_summary() -> str:
    """``Exit codes: 0 pass/success, 1 ...`` in one sentence (``metrology --help``)."""
    return "Exit codes: " + ", ".join(f"{k} {v[0]}" for k, v in EXIT_CODE_TEXT.items()) + "."


def exit_codes_help(width: int = 78) -> str:
    """The exit codes explained, one indented paragraph each (``metrology check --help``)."""
    import textwrap

    lines = ["exit codes:"]
    for k, v in EXIT_CODE_TEXT.items():
        lines += textwrap.wrap(v[2], width, initial_indent=f"  {k}  ", subsequent_indent="     ")
    lines += textwrap.wrap("not-measurable and not-checked criteria are never counted as "
                           "passes. A batch exits with its worst part's code (2 before 1 "
                           "before 3 before 0).", width)
    return "\n".join(lines)


def exit_code_for(verdict: str | Verdict) -> ExitCode:
    """The exit code of an overall verdict: fail 1, not-measurable or not-checked 3,
    pass 0.

    ``not-checked`` gives 3: a criterion that was listed but not judged (no file
    for its measurement) leaves the part unproven. A check restricted on purpose
    (``--only``) does not count the criteria it left out
    (:meth:`metrology.check.PartResult.verdict`), so they never reach here.
    """
    v = Verdict(verdict)
    if v is Verdict.FAIL:
        return ExitCode.FAIL
    if v in (Verdict.NOT_MEASURABLE, Verdict.NOT_CHECKED):
        return ExitCode.NOT_MEASURABLE
    return ExitCode.PASS


#: which exit code wins when parts disagree: an input error, then a failure, then
#: not measurable / not checked, then pass
_EXIT_RANK = {ExitCode.PASS: 0, ExitCode.NOT_MEASURABLE: 1, ExitCode.FAIL: 2,
              ExitCode.USAGE: 3, ExitCode.INTERRUPTED: 4}


def worst_exit(codes: Iterable[int | ExitCode], default: ExitCode = ExitCode.PASS) -> ExitCode:
    """The exit code of a run from its parts': 130 > 2 > 1 > 3 > 0."""
    out = default
    for c in codes:
        c = ExitCode(int(c))
        if _EXIT_RANK[c] > _EXIT_RANK[out]:
            out = c
    return out
