"""Every subcommand's ``--help``: a description, and two or three examples that the
parser accepts (so that an option renamed later cannot leave a stale example)."""

from __future__ import annotations

import shlex

import pytest

from metrology.cli import build_parser, main


def _subparsers() -> dict[str, object]:
    p = build_parser()
    (action,) = [a for a in p._actions if a.__class__.__name__ == "_SubParsersAction"]
    return dict(action.choices)


def _examples(help_text: str) -> list[str]:
    """The example commands of a --help text (continuation lines joined, comments and
    pipes cut)."""
    assert "examples:\n" in help_text
    block = help_text.split("examples:\n", 1)[1].split("\n\n", 1)[0]
    cmds, cur = [], ""
    for line in block.splitlines():
        cur += line.strip()
        if cur.endswith("\\"):
            cur = cur[:-1] + " "
            continue
        cmds.append(cur)
        cur = ""
    return [c.split("#", 1)[0].split("|", 1)[0].strip() for c in cmds]


@pytest.mark.parametrize("name", sorted(_subparsers()))
def test_help_has_a_description_and_examples_that_parse(name: str, capsys) -> None:
    assert main([name, "--help"]) == 0
    text = capsys.readouterr().out
    sub = _subparsers()[name]
    assert sub.description and len(sub.description) > 40
    examples = _examples(text)
    assert 1 <= len(examples) <= 3 if name == "warmup" else 2 <= len(examples) <= 3
    for cmd in examples:
        argv = shlex.split(cmd)
        assert argv[0] == "metrology" and argv[1] == name, cmd
        args = build_parser().parse_args(argv[1:])  # raises on an unknown option
        assert args.command == name
