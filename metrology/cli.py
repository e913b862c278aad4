"""The ``metrology`` command line. It only parses arguments and formats output.

Exit codes (all subcommands) are :class:`metrology.verdicts.ExitCode`:

* 0: success; for ``check``: every checked criterion passes
* 1: ``check``: at least one criterion fails
* 2: usage or input error (bad arguments, unreadable file, invalid spec)
* 3: ``check``: nothing failed, but something was not measurable or a
  measurement of the part is missing

Start-up is cheap: this module imports only the standard library and
:mod:`metrology.errors` / :mod:`metrology.verdicts`; each subcommand imports
what it computes with, so ``--help`` and ``--version`` load no NumPy or Numba.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from ._version import __version__
from .errors import MetrologyError
from .verdicts import ExitCode, exit_codes_help, exit_codes_summary

EXIT_PASS, EXIT_FAIL = ExitCode.PASS, ExitCode.FAIL
EXIT_USAGE, EXIT_NOT_MEASURABLE = ExitCode.USAGE, ExitCode.NOT_MEASURABLE

_EXIT_EPILOG = exit_codes_help()


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors exit with code 2 through ``main``."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        raise _UsageError(f"{self.prog}: error: {message}")


class _UsageError(Exception):
    pass


def _emit(text: str, file=None) -> None:  # noqa: ANN001
    """Print ``text``; fall back to ASCII symbols where the stream cannot encode them."""
    from .reports import to_ascii

    stream = sys.stdout if file is None else file
    enc = getattr(stream, "encoding", None) or "utf-8"
    try:
        text.encode(enc)
    except (UnicodeEncodeError, LookupError):
        text = to_ascii(text)
    print(text, file=stream)


def _same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def _guard_outputs(outputs: dict[str, str | None], inputs: Sequence[str]) -> None:
    """Refuse an output path that is an input (inputs are never modified) or used twice."""
    seen: dict[Path, str] = {}
    for opt, path in outputs.items():
        if not path:
            continue
        if Path(path).is_dir():
            raise _UsageError(f"{opt} {path}: is a folder; give a file name")
        for src in inputs:
            if Path(src).is_file() and _same_file(path, src):
                raise _UsageError(f"{opt} {path}: would overwrite the input {src}; "
                                  "inputs are never modified")
        key = Path(path).resolve()
        if key in seen:
            raise _UsageError(f"{opt} and {seen[key]} name the same file {path}")
        seen[key] = opt


def _guard_check_outputs(outputs: dict[str, str | None], spec: str, roots: Sequence[str]
                         ) -> None:
    """``check``'s outputs: never an input file, never an existing file inside an input
    folder unless it is a report metrology wrote there before (a part's ``part.json``,
    ``*.truth.json``, measurements, notes are never overwritten)."""
    import glob as _glob

    from .batch import is_own_output

    files, folders = [spec], []
    for r in roots:
        hits = [r] if os.path.lexists(r) else sorted(_glob.glob(r, recursive=True))
        for h in hits:
            (folders if os.path.isdir(h) else files).append(h)
    _guard_outputs(outputs, files)
    dirs = [Path(d).resolve() for d in folders]
    for opt, path in outputs.items():
        if not path or not os.path.lexists(path):
            continue
        target = Path(path).resolve()
        inside = next((d for d in dirs if target.is_relative_to(d)), None)
        if inside is None:
            continue
        if not is_own_output(target) and not (opt == "--results"
                                               and os.path.getsize(target) == 0):
            raise _UsageError(f"{opt} {path}: would overwrite {target.name}, a file inside "
                              f"the input folder {inside} that metrology did not write; "
                              "inputs are never modified: write the report elsewhere")


def _only(values: Sequence[str] | None) -> list[str] | None:
    if not values:
        return None
    out = [v.strip() for item in values for v in item.split(",") if v.strip()]
    return out or None


def _close_quietly(obj: object) -> None:
    if obj is None:
        return
    try:
        obj.close()  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - closing a Dask client never changes the verdict
        pass


def _cmd_check(args: argparse.Namespace) -> int:
    from . import reports
    from .batch import Batch, Interrupt, Interrupted, local_cluster
    from .spec import SpecWarning, load_spec

    outputs = {"--json": args.json, "--junit": args.junit, "--markdown": args.markdown,
               "--html": args.html, "--csv": args.csv, "--results": args.results}
    if not args.paths and not args.repeats:
        raise _UsageError("give measurement files or part folders (ROOT), or "
                          "--repeats FILE FILE ...")
    if args.resume and not args.results:
        raise _UsageError("--resume needs --results PATH.jsonl (the log of the run to resume)")
    if args.workers is not None and args.workers < 1:
        raise _UsageError(f"--workers {args.workers}: give 1 or more")
    if args.dask and args.scheduler:
        raise _UsageError("--dask local and --scheduler exclude each other")
    if args.dask not in (None, "local"):
        raise _UsageError(f"--dask {args.dask}: only 'local' (a cluster on this machine); "
                          "for a running cluster use --scheduler tcp://HOST:PORT")
    extra = [*(args.repeats or []), *([args.reference] if args.reference else [])]
    _guard_check_outputs(outputs, args.spec, [*args.paths, *extra])
    if args.html:
        reports.require_matplotlib()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        spec = load_spec(args.spec)
    for w in caught:  # spec warnings are printed in the table header; others pass on
        if not issubclass(w.category, SpecWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    exclude = [p for p in outputs.values() if p]
    color = False if args.no_color else None
    client = cluster = None
    given = getattr(args, "interrupt", None)
    with contextlib.nullcontext(given) if given is not None else Interrupt() as intr:
        try:
            if args.dask or args.scheduler:
                try:
                    from distributed import Client
                except ImportError:
                    raise _UsageError("Dask is not installed: pip install 'metrology[dask]'"
                                      ) from None
                if args.dask:
                    cluster = local_cluster(args.workers)
                    client = Client(cluster)
                else:
                    client = Client(args.scheduler, timeout="30s")
            with Batch(spec, args.paths, workers=args.workers, client=client,
                       per_file=args.per_file, as_name=args.as_name, only=_only(args.only),
                       part_check=args.part, figures=args.figures if args.html else "none",
                       results=args.results, resume=args.resume, exclude=exclude,
                       repeats=args.repeats or (), reference=args.reference) as b:
                return _run_batch(b, args, color, intr, spec)
        except Interrupted:
            done = ""
            if args.results:
                done = f"; every part finished is in {args.results} (rerun with --resume)"
            print(f"metrology check: interrupted, no report written{done}", file=sys.stderr)
            return int(ExitCode.INTERRUPTED)
        finally:
            _close_quietly(client)
            _close_quietly(cluster)


def _run_batch(b: object, args: argparse.Namespace, color: bool | None, intr: object,
               spec: object) -> int:
    """Stream the parts of a batch to stdout as they finish, then the summary and the
    reports (the reports only once every part is done)."""
    from . import reports
    from .batch._progress import Progress
    from .reports._common import display_labels
    from .reports._text import render_header, render_part, render_summary, shows_details

    if b.log is not None and b.log.repaired:
        print(f"metrology check: {b.log.repaired}", file=sys.stderr)
    n = len(b.tasks)
    prog = Progress(n, b.n_files, every=args.progress_every,
                    mode="none" if args.quiet or n <= 1 else "auto")
    started = blank = False
    models: dict[str, int] = {}        # the uncertainty models the tables cite, numbered
    display = display_labels(b.report())
    try:
        for part in b.run(intr):
            if not started:
                prog.write(render_header(b.report()) + "\n")
                started = True
            blank = shows_details(part, args.details, n)
            prog.write(render_part(part, color, blank, models=models, display=display)
                       + ("\n" if blank else ""))
            for e in part.errors:
                print(f"metrology check: error: {e.reason}", file=sys.stderr)
            prog.update(b.last_files, skipped=part.source == "resumed")
    finally:
        prog.close()
    intr.check()
    report = b.report()
    if not started:
        _emit(render_header(report) + "\n")
    elif not blank:
        _emit("")
    if b.skipped:
        print(f"metrology check: {b.skipped} part(s) already in {args.results} were not "
              "checked again (--resume)", file=sys.stderr)
    _emit(render_summary(report, color, models=models))
    for path, kind in ((args.json, "json"), (args.junit, "junit"),
                       (args.markdown, "markdown"), (args.html, "html")):
        if path:
            reports.write_report(report, path, kind)
            print(f"wrote {kind} report {path}", file=sys.stderr)
    if args.csv:
        from ._atomic import atomic_write_text
        from ._version import __version__
        from .batch import csv_text

        atomic_write_text(args.csv, csv_text(report.parts, [c.id for c in spec.criteria],
                                             spec_sha256=spec.sha256,
                                             tool_version=__version__,
                                             decision_rule=spec.decision_rule))
        print(f"wrote csv table {args.csv}", file=sys.stderr)
    return int(report.exit_code)


def _cmd_analyze(args: argparse.Namespace) -> int:
    from ._atomic import atomic_write_text
    from .pipeline import load_file, summarize_map
    from .reports import render_summary

    _guard_outputs({"--json": args.json}, [args.file])
    from .profile import Profile

    hm = load_file(args.file)
    if isinstance(hm, Profile):  # a 1-D trace: statistics, decade bands, roughness
        from .pipeline import summarize_profile

        summary = summarize_profile(hm, path=args.file)
    else:
        summary = summarize_map(hm, terms=args.terms, scheme=args.scheme, path=args.file)
    _emit(render_summary(summary))
    if args.json:
        atomic_write_text(args.json, json.dumps(summary, indent=2, ensure_ascii=False,
                                                allow_nan=False) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    return EXIT_PASS


def _cmd_convert(args: argparse.Namespace) -> int:
    from .io import load, save

    if Path(args.output).exists() and _same_file(args.input, args.output):
        raise _UsageError(f"{args.output}: is the input file; write to another path "
                          "(inputs are never modified)")
    hm = load(args.input)
    out = save(hm, args.output, format=args.format)
    print(f"{args.input} ({hm.meta.get('format', '?')}) -> {out}"
          + (f" ({args.format})" if args.format else ""))
    return EXIT_PASS


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
    from .profile import Profile

    m = hm.meta
    wl = m.get("wavelength_nm")
    lines = [f"{path}", f"  format        {m.get('format', '?')}"]
    if isinstance(hm, Profile):  # a 1-D trace
        lines += [f"  profile       {hm.n_points} points along x, {hm.length_mm:.6g} mm",
                  f"  spacing       dx = {hm.dx_mm:.6g} mm"]
    else:
        lines += [f"  shape         {hm.shape[0]} rows x {hm.shape[1]} cols",
                  f"  spacing       dx = {hm.dx_mm:.6g} mm, dy = {hm.dy_mm:.6g} mm"]
    lines.append(f"  valid         {hm.valid_fraction:.2%}")
    if hm.n_valid:
        lines.append(f"  RMS / PV      {hm.rms_nm:.4g} nm / {hm.pv_nm:.4g} nm "
                     "(as stored, nothing removed)")
    lines.append(f"  wavelength    {wl:.6g} nm" if wl else "  wavelength    (not recorded)")
    if m.get("height_kind"):
        wedge = f", wedge factor {m['wedge']:g} applied" if m.get("wedge") is not None else ""
        lines.append(f"  heights       {m['height_kind']}{wedge}")
    if m.get("z_unit_original"):
        lines.append(f"  file unit     {m['z_unit_original']} (x {m.get('z_scale_to_nm', 1):.6g} "
                     "to nm)")
    inst = m.get("instrument") or m.get("software")
    lines.append(f"  instrument    {inst if inst else '(not recorded)'}")
    return "\n".join(lines)


def _cmd_formats(args: argparse.Namespace) -> int:
    from .io import format_table

    print(format_table())
    return EXIT_PASS


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to render ``--help`` in the docs)."""
    p = _Parser(
        prog="metrology",
        description="Optical surface metrology: load interferometer maps, fit Zernikes, "
        "compute PSDs and band RMS, check lenses against specs.",
        epilog=exit_codes_summary(),
    )
    p.add_argument("--version", action="version", version=f"metrology {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    d = sub.add_parser("demo", help="fit Zernikes to a small synthetic map and print the table")
    d.add_argument("--size", type=int, default=256, help="map size in pixels (default 256)")
    d.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    d.set_defaults(func=_cmd_demo)

    w = sub.add_parser("warmup", help="compile the numerical kernels now (once per "
                       "installation; later runs load them from the on-disk cache)")
    w.set_defaults(func=_cmd_warmup)

    i = sub.add_parser("info", help="print format, shape, spacing, statistics of files")
    i.add_argument("files", nargs="+", metavar="FILE")
    i.set_defaults(func=_cmd_info)

    sub.add_parser("formats", help="list the file formats: read / write, the instruments "
                   "they come from, and the formats refused with the export to use"
                   ).set_defaults(func=_cmd_formats)

    c = sub.add_parser(
        "check", help="check measurement files against a spec: pass / fail / not-measurable",
        description="Check lenses against a lens spec (TOML, metrology.spec/1). Each ROOT is "
        "a part folder, a folder of part folders (searched recursively: every folder that "
        "holds measurement files is a part), a file, or a glob. Each file is assigned to a "
        "measurement of the spec (--as, or the spec's metadata / file-name rules); every "
        "criterion of that measurement gets pass, fail or not-measurable with its value, "
        "limit, margin and unit. A folder is a part check (every measurement of the spec "
        "must have a file); files named on their own form one more part, a part check only "
        "with --part (--per-file: one part each, but the repeats of one site stay one "
        "part). In every part the spec's rules find repeats (repeats = true: files "
        "<stem>_rep<k>, averaged into one site) and reference files (subtracted); "
        "--repeats and --reference name them for the files named on their own. Every "
        "value carries its U (k = 2); the spec's decision_rule says how it is used. Files "
        "of a folder that are not measurements are listed as ignored. Parts run on all "
        "cores; the exit code is the worst part's.",
        epilog=_EXIT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("--spec", required=True, metavar="SPEC", help="spec file (TOML)")
    c.add_argument("--as", dest="as_name", metavar="NAME",
                   help="assign every file to measurement NAME of the spec")
    c.add_argument("--part", action="store_true",
                   help="the files named on their own are the whole part: a measurement with "
                   "no file makes the part not-measurable (exit 3)")
    c.add_argument("--per-file", action="store_true",
                   help="judge every file as a part of its own (one lens per file)")
    c.add_argument("--only", action="append", metavar="NAME[,NAME]",
                   help="check only these measurements (and the full band with 'composite'); "
                   "the criteria of the others are listed as not-checked and do not make the "
                   "exit code 3")
    c.add_argument("--details", action=argparse.BooleanOptionalAction, default=None,
                   help="print every part's whole table (default: one line per part that "
                   "passed, the table of the others; a single part always gets its table)")
    g = c.add_argument_group("outputs (written atomically; never over an input)")
    g.add_argument("--json", metavar="PATH", help="write the JSON report "
                   "(schema metrology.check-report/3)")
    g.add_argument("--junit", metavar="PATH", help="write JUnit XML (one testcase per "
                   "criterion; not-measurable and not-checked as skipped)")
    g.add_argument("--markdown", metavar="PATH", help="write a Markdown summary (a batch: "
                   "with the yield table)")
    g.add_argument("--html", metavar="PATH", help="write one self-contained HTML file with "
                   "figures (needs matplotlib: pip install 'metrology[plot]')")
    g.add_argument("--figures", choices=("auto", "all", "non-pass", "none"), default="auto",
                   help="parts whose figures the HTML report draws (default auto: every part "
                   "of a one-part check, else the parts that did not pass)")
    g.add_argument("--results", metavar="PATH.jsonl", help="append one JSON line per site "
                   "and per part (hashes, every criterion with its U and the decision rule, "
                   "what each site was made of, timings) as each part finishes")
    g.add_argument("--resume", action="store_true", help="skip the parts that already have "
                   "a record in --results (same files, spec and tool version)")
    g.add_argument("--csv", metavar="PATH", help="write a CSV table: one row per part with "
                   "the decision rule, a value, a U (k = 2) and a verdict column per criterion")
    r = c.add_argument_group("running")
    r.add_argument("--workers", type=int, metavar="N", default=None,
                   help="worker processes (default: the machine's cores, or this process "
                   "alone for a batch of less than 32 MB of files; 1: in this process)")
    r.add_argument("--dask", metavar="local", default=None,
                   help="run the parts on a Dask cluster started on this machine (needs "
                   "pip install 'metrology[dask]'; --workers sets its size)")
    r.add_argument("--scheduler", metavar="tcp://HOST:PORT", default=None,
                   help="run the parts on this running Dask scheduler (the files must be "
                   "readable at the same paths on its workers)")
    r.add_argument("--quiet", action="store_true", help="no progress on stderr")
    r.add_argument("--progress-every", type=int, default=10, metavar="N",
                   help="without a terminal: a progress line every N parts (and every 10 s)")
    c.add_argument("--no-color", action="store_true",
                   help="no ANSI colours (also off when stdout is not a terminal or NO_COLOR "
                   "is set)")
    c.add_argument("--repeats", nargs="+", metavar="FILE",
                   help="repeats of one measurement of one surface (>= 2 files on one grid; "
                   "give the ROOTs before --repeats, which takes the rest of the line): "
                   "averaged pixel by pixel on their common mask into one site of the part "
                   "of the files named on their own (--per-file: a part of their own); "
                   "their pairwise differences give the noise PSD, the noise floor of every "
                   "band and the repeats' uncertainty (docs/uncertainty.md). In part folders "
                   "the spec recognises repeats by name (repeats = true: <stem>_rep<k>)")
    c.add_argument("--reference", metavar="FILE",
                   help="a calibrated reference map (same grid) subtracted from every file "
                   "of its measurement among the files named on their own and --repeats: "
                   "that of --repeats, else of --as, else the one its own name matches; "
                   "recorded in every report. In part folders the spec names the reference "
                   "file ([measurements.NAME.reference])")
    c.add_argument("paths", nargs="*", metavar="ROOT")
    c.set_defaults(func=_cmd_check)

    a = sub.add_parser(
        "analyze", help="statistics, Zernike table and decade band RMS of one map (no spec)",
        description="Statistics of one map as stored, a Zernike fit (nothing removed "
        "before it; R_norm circumscribes the valid pixels) and the areal RMS in decades of "
        "spatial frequency with their coverage (Hann window, piston and tilt removed). For "
        "a profile (a 1-D trace): its statistics, the ISO 21920-2 height parameters of the "
        "unfiltered trace about its least-squares line, and the profile RMS in decades.",
        epilog="exit codes: 0 success, 2 usage or input error",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("file", metavar="FILE")
    a.add_argument("--terms", type=int, default=37,
                   help="number of Zernike terms (default 37: Fringe Z1..Z37)")
    a.add_argument("--scheme", choices=("fringe", "noll", "ansi"), default="fringe",
                   help="Zernike index scheme (default fringe)")
    a.add_argument("--json", metavar="PATH", help="also write the numbers as JSON")
    a.set_defaults(func=_cmd_analyze)

    v = sub.add_parser("convert", help="convert a height map to another format",
                       description="Read IN (any readable format) and write OUT; the output "
                       "format comes from OUT's extension or --format. Written atomically.",
                       epilog="exit codes: 0 success, 2 usage or input error")
    v.add_argument("input", metavar="IN")
    v.add_argument("output", metavar="OUT")
    v.add_argument("--format", metavar="NAME",
                   help="output format name, e.g. x3p, sdf, datx, metropro, npz, text "
                   "(default: from OUT's extension)")
    v.set_defaults(func=_cmd_convert)
    return p


_COMPUTING_COMMANDS = frozenset({"check", "analyze", "demo", "warmup"})


def _cmd_warmup(args: argparse.Namespace) -> int:
    from .warmup import warm_up

    print(f"kernels compiled or loaded from the cache in {warm_up():.1f} s")
    return EXIT_PASS


def _first_run_notice() -> None:
    """Say why the first run is slow: the Numba kernels compile once, then load from disk."""
    from kernels._config import cache_is_warm

    if not cache_is_warm():
        print("metrology: first run on this installation: compiling the numerical kernels "
              "(30-60 s, once; `metrology warmup` does it ahead of time; later runs load "
              "them from the on-disk cache)",
              file=sys.stderr, flush=True)


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
    intr = None
    try:
        if args.command == "check":
            # Ctrl-C / SIGTERM from here on only set a flag; the check stops at the next
            # safe point with exit code 130 (metrology/_signals.py)
            from ._signals import Interrupt

            intr = Interrupt().__enter__()
            args.interrupt = intr
        if args.command in _COMPUTING_COMMANDS:
            _first_run_notice()
        code = int(args.func(args))
        if intr is not None and intr.requested:
            print(f"metrology {args.command}: interrupted", file=sys.stderr)
            return int(ExitCode.INTERRUPTED)
        return code
    except _UsageError as exc:
        print(f"metrology {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except MetrologyError as exc:
        _emit(f"metrology {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"metrology {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"metrology {args.command}: interrupted", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    except Exception as exc:  # noqa: BLE001 - never a traceback, never exit 1
        if os.environ.get("METROLOGY_TRACEBACK"):
            raise
        text = " ".join(str(exc).split())
        print(f"metrology {args.command}: internal error: {type(exc).__name__}: {text} "
              "(set METROLOGY_TRACEBACK=1 to see where)", file=sys.stderr)
        return EXIT_USAGE
    finally:
        if intr is not None:
            intr.__exit__(None, None, None)


def console() -> int:
    """The ``metrology`` command: :func:`main`, then Ctrl-C ignored while the process
    exits (a late interrupt must not turn a finished run into a traceback or exit -2)."""
    import signal

    code = main()
    for s in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(s, signal.SIG_IGN)
        except (ValueError, OSError):  # pragma: no cover - not the main thread
            pass
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(console())
