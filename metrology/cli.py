"""The ``metrology`` command line. It only parses arguments and formats output.

Exit codes (all subcommands):

* 0: success; for ``check``: every checked criterion passes
* 1: ``check``: at least one criterion fails
* 2: usage or input error (bad arguments, unreadable file, invalid spec)
* 3: ``check``: nothing failed, but something was not measurable or a
  measurement of the part is missing
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._version import __version__
from .errors import MetrologyError

EXIT_PASS, EXIT_FAIL, EXIT_USAGE, EXIT_NOT_MEASURABLE = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors exit with code 2 through ``main``."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        raise _UsageError(f"{self.prog}: error: {message}")


class _UsageError(Exception):
    pass


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    print(run_demo(size=args.size, seed=args.seed))
    return EXIT_PASS


def _cmd_info(args: argparse.Namespace) -> int:
    from .io import load

    status = EXIT_PASS
    for path in args.files:
        try:
            hm = load(path)
        except MetrologyError as exc:
            print(f"{path}: error: {exc}", file=sys.stderr)
            status = EXIT_USAGE
            continue
        print(_format_info(path, hm))
    return status


def _format_info(path: str, hm) -> str:  # noqa: ANN001
    m = hm.meta
    wl = m.get("wavelength_nm")
    lines = [
        f"{path}",
        f"  format        {m.get('format', '?')}",
        f"  shape         {hm.shape[0]} rows x {hm.shape[1]} cols",
        f"  spacing       dx = {hm.dx_mm:.6g} mm, dy = {hm.dy_mm:.6g} mm",
        f"  valid         {hm.valid_fraction:.2%}",
    ]
    if hm.n_valid:
        lines.append(f"  RMS / PV      {hm.rms_nm:.4g} nm / {hm.pv_nm:.4g} nm "
                     "(as stored, nothing removed)")
    lines.append(f"  wavelength    {wl:.6g} nm" if wl else "  wavelength    (not recorded)")
    inst = m.get("instrument") or m.get("software")
    lines.append(f"  instrument    {inst if inst else '(not recorded)'}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to render ``--help`` in the docs)."""
    p = _Parser(
        prog="metrology",
        description="Optical surface metrology: load interferometer maps, fit Zernikes, "
        "compute PSDs and band RMS, check lenses against specs.",
        epilog="Exit codes: 0 pass/success, 1 a criterion fails, 2 usage or input error, "
        "3 nothing failed but something was not measurable (or a measurement is missing).",
    )
    p.add_argument("--version", action="version", version=f"metrology {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    d = sub.add_parser("demo", help="fit Zernikes to a small synthetic map and print the table")
    d.add_argument("--size", type=int, default=256, help="map size in pixels (default 256)")
    d.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    d.set_defaults(func=_cmd_demo)

    i = sub.add_parser("info", help="print format, shape, spacing, statistics of files")
    i.add_argument("files", nargs="+", metavar="FILE")
    i.set_defaults(func=_cmd_info)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (never calls ``sys.exit``)."""
    parser = build_parser()
    try:
        args = parser.parse_args(None if argv is None else list(argv))
    except _UsageError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as exc:  # --help / --version
        return int(exc.code or 0)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args))
    except MetrologyError as exc:
        print(f"metrology {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
