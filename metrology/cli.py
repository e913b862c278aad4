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


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions wrapped to the terminal; preformatted paragraphs (examples, exit
    codes: lines that are indented or a paragraph of several lines) kept as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        import textwrap

        out = []
        for para in text.split("\n\n"):
            lines = para.splitlines()
            if len(lines) > 1 or para.startswith(" "):
                out.append("\n".join(indent + ln for ln in lines))
            else:
                out.append(textwrap.fill(para, width, initial_indent=indent,
                                         subsequent_indent=indent))
        return "\n\n".join(out)


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
    spec = spec.with_read_override(_read_options(args))  # --dx-mm ... for every file
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
                    raise _UsageError("Dask is not installed: pip install 'optical-metrology[dask]'"
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

    _guard_outputs({"--json": args.json, "--html": args.html}, [args.file])
    if args.html:
        from .plotting import require_matplotlib

        require_matplotlib("--html")
    from .profile import Profile

    hm = load_file(args.file, options=_read_options(args))
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
    if args.html:
        from .reports._analyze_html import analyze_html

        atomic_write_text(args.html, analyze_html(hm, summary, terms=args.terms,
                                                  scheme=args.scheme))
        print(f"wrote {args.html}", file=sys.stderr)
    return EXIT_PASS


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    print(run_demo(size=args.size, seed=args.seed))
    return EXIT_PASS


def _cmd_info(args: argparse.Namespace) -> int:
    from .read_options import read_file

    status = EXIT_PASS
    opts = _read_options(args)
    for path in args.files:
        try:
            hm = read_file(path, opts)
        except MetrologyError as exc:
            print(f"{path}: error: {exc}", file=sys.stderr)
            status = EXIT_USAGE
            continue
        print(_format_info(path, hm))
    return status


def _format_info(path: str, hm) -> str:  # noqa: ANN001
    import math

    from .profile import Profile
    from .read_options import SPACING_RTOL

    m = hm.meta
    wl = m.get("wavelength_nm")
    lines = [f"{path}", f"  format        {m.get('format', '?')}"]
    if isinstance(hm, Profile):  # a 1-D trace
        lines += [f"  profile       {hm.n_points} points along x, {hm.length_mm:.6g} mm",
                  f"  spacing       dx = {hm.dx_mm:.6g} mm"]
    else:
        lines += [f"  shape         {hm.shape[0]} rows x {hm.shape[1]} cols",
                  f"  spacing       dx = {hm.dx_mm:.6g} mm, dy = {hm.dy_mm:.6g} mm"]
    if m.get("lateral_source") == "caller":
        fdx = m.get("file_dx_mm")
        fdy = m.get("file_dy_mm") or fdx
        if fdx is None:
            lines[-1] += " (given)"
        elif all(math.isclose(a, b, rel_tol=SPACING_RTOL) for a, b in
                 [(fdx, hm.dx_mm)] + ([] if isinstance(hm, Profile) else [(fdy, hm.dy_mm)])):
            lines[-1] += " (given, as the file's calibration)"
        else:
            lines[-1] += (f" (given, replacing the file's dx = {fdx:.6g} mm"
                          + ("" if isinstance(hm, Profile) else f", dy = {fdy:.6g} mm") + ")")
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


# ----------------------------------------------------------------------------- read options
# --dx-mm, --dy-mm, --z-unit, --format: files that do not say (info, analyze, check, convert)

def _z_unit(text: str) -> str:
    from .read_options import normalise_z_unit

    try:
        return normalise_z_unit(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_mm(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (mm)") from None
    if not (v > 0 and v < float("inf")):
        raise argparse.ArgumentTypeError(f"{text!r}: give a spacing > 0 in mm")
    return v


def _add_read_args(p: argparse.ArgumentParser, scope: str = "the file") -> None:
    g = p.add_argument_group(
        "reading files that do not say (a text matrix, a bare .npy array)",
        f"applied to {scope}; a file that carries its own spacing keeps it (a different "
        "--dx-mm is refused unless --override-spacing)")
    g.add_argument("--dx-mm", type=_positive_mm, metavar="MM",
                   help="pixel spacing along x (columns), mm; profiles: the sampling interval")
    g.add_argument("--dy-mm", type=_positive_mm, metavar="MM",
                   help="pixel spacing along y (rows), mm (default: --dx-mm, square pixels)")
    g.add_argument("--z-unit", type=_z_unit, metavar="UNIT",
                   help="unit of the stored heights: nm, um, mm or m (text, npy, profile "
                   "files that do not state one)")
    g.add_argument("--override-spacing", action="store_true",
                   help="let --dx-mm/--dy-mm replace the spacing of files that carry their "
                   "own calibration (both are recorded)")
    g.add_argument("--format", metavar="NAME", dest="in_format",
                   help="read as this format instead of detecting it (a name of "
                   "`metrology formats`, e.g. text, profile, zemax, metropro)")


def _read_options(args: argparse.Namespace):  # noqa: ANN202 - ReadOptions | None
    from .read_options import ReadOptions

    if args.dy_mm is not None and args.dx_mm is None:
        raise _UsageError("--dy-mm needs --dx-mm (a spacing along y alone leaves x "
                          "uncalibrated)")
    if args.override_spacing and args.dx_mm is None:
        raise _UsageError("--override-spacing needs --dx-mm (the spacing that replaces the "
                          "files' own)")
    opts = ReadOptions(dx_mm=args.dx_mm, dy_mm=args.dy_mm, z_unit=args.z_unit,
                       format=args.in_format, override_spacing=args.override_spacing)
    return opts or None


# ----------------------------------------------------------------------------- convert / export

#: other names ``--to`` accepts for a format
_TO_ALIASES = {"csv": "text", "txt": "text", "zemax-grid-sag": "zemax", "grid-sag": "zemax",
               "codev-int": "codev", "int": "codev", "4d": "4sight-focus"}
_ZERNIKE_TABLES = ("zemax-fringe-sag", "zemax-standard-sag", "codev-zfr")


def _writable() -> dict[str, dict]:
    from .io import formats

    return {f["name"]: f for f in formats() if f["write"]}


def _writers_taking(keyword: str) -> list[str]:
    """The writable formats whose writer takes ``keyword``."""
    import inspect

    from .io._registry import _get

    return sorted(n for n in _writable()
                  if keyword in inspect.signature(_get(n).write).parameters)


def _output_format(out: Path, to: str | None, is_profile: bool) -> str:
    """The format to write OUT in: ``--to`` (or an alias), else OUT's extension; an
    extension two writers share is refused (no silent pick)."""
    writable = _writable()
    if is_profile:
        if to is None and out.suffix.lower() not in (".csv", ".txt"):
            raise _UsageError(f"{out}: a profile (a 1-D trace) is written as a profile CSV: "
                              "give OUT the extension .csv or .txt (the other formats hold "
                              "height maps)")
        if to is not None and to.lower() not in ("profile", "text", "csv", "txt"):
            raise _UsageError(f"--to {to}: a profile (a 1-D trace) is written as a profile "
                              "CSV (--to profile, or an extension .csv / .txt)")
        return "profile"
    if to is not None:
        name = _TO_ALIASES.get(to.lower(), to.lower())
        if name not in writable:
            raise _UsageError(f"--to {to}: not a format written here; one of "
                              f"{', '.join(sorted(writable))} (or csv, zemax-grid-sag, "
                              "codev-int)")
        return name
    ext = out.suffix.lower()
    cands = [n for n, f in writable.items() if ext in f["extensions"]]
    if not cands:
        raise _UsageError(f"{out}: cannot tell the format from the extension "
                          f"{ext or '(none)'!r}; pass --to FORMAT, one of "
                          f"{', '.join(sorted(writable))}")
    if len(cands) > 1:
        what = "; ".join(f"{n}: {writable[n]['description']}" for n in sorted(cands))
        raise _UsageError(f"{out}: the extension {ext} is written by several formats ({what});"
                          f" pass --to {' or --to '.join(sorted(cands))}")
    return cands[0]


def _check_output(out: Path, src: str, force: bool) -> None:
    if out.is_dir():
        raise _UsageError(f"{out}: is a folder; give a file name")
    if os.path.lexists(out):
        if _same_file(src, out):
            raise _UsageError(f"{out}: is the input file; write to another path (inputs are "
                              "never modified, also not with --force)")
        if not force:
            raise _UsageError(f"{out}: exists; pass --force to replace it (the new file is "
                              "written atomically: the old one stays until it is complete)")


def _cmd_convert(args: argparse.Namespace) -> int:
    from .profile import Profile
    from .read_options import read_file

    out = Path(args.output)
    _check_output(out, args.input, args.force)
    if args.zernike_table is None:
        for opt, val in (("--terms", args.terms), ("--scheme", args.scheme),
                         ("--r-norm-mm", args.r_norm_mm), ("--aperture-mm", args.aperture_mm)):
            if val is not None:
                raise _UsageError(f"{opt} applies to Zernike tables (--zernike-table)")
    try:
        data = read_file(args.input, _read_options(args))
    except MetrologyError as exc:
        if args.in_format is None:
            raise
        raise MetrologyError(f"{exc} (--format {args.in_format} is the format of IN; the "
                             "format of OUT is --to)") from exc
    if args.zernike_table is not None:
        if isinstance(data, Profile):
            raise _UsageError(f"{args.input}: a profile has no Zernike fit; --zernike-table "
                              "needs a height map")
        return _export_zernike(data, args, out)
    from .io import save

    fmt = _output_format(out, args.to, isinstance(data, Profile))
    kwargs = {}
    if args.wavelength_nm is not None:
        takes = _writers_taking("wavelength_nm")
        if fmt not in takes:
            raise _UsageError(f"--wavelength-nm: the {fmt} format stores no wavelength; it "
                              f"applies to {', '.join(takes)} and to Zernike tables")
        kwargs["wavelength_nm"] = args.wavelength_nm
    save(data, out, format=fmt, **kwargs)
    print(f"{args.input} ({data.meta.get('format', '?')}) -> {out} ({fmt})")
    return EXIT_PASS


def _export_zernike(hm, args: argparse.Namespace, out: Path) -> int:  # noqa: ANN001
    """``convert --zernike-table``: fit the map, write the table in a design tool's
    convention (CSV, JSON, or a CODE V ZFR .int file for codev-zfr)."""
    from .zernike import fit_zernike
    from .zernike_tables import write_zernike_csv, write_zernike_json

    kind = (args.to or out.suffix.lstrip(".")).lower()
    if kind in ("int", "zfr", "codev"):
        kind = "zfr"
    if kind not in ("csv", "json", "zfr"):
        raise _UsageError(f"{out}: a Zernike table is written as .csv or .json (or, for "
                          "codev-zfr, a CODE V ZFR .int file); pass --to csv|json|zfr")
    if kind == "zfr" and args.zernike_table != "codev-zfr":
        raise _UsageError("a CODE V ZFR file holds the codev-zfr convention; use "
                          "--zernike-table codev-zfr, or write .csv / .json")
    if args.zernike_table == "codev-zfr" and args.wavelength_nm is None:
        raise _UsageError("codev-zfr coefficients are in waves: pass --wavelength-nm NM")
    work, note = hm, "valid pixels"
    if args.aperture_mm is not None:
        from .aperture import Circle

        work = hm.select_aperture(Circle(args.aperture_mm))
        note = f"clear aperture \u00d8{args.aperture_mm:g} mm (centre fitted to the part's edge)"
    r_norm = args.r_norm_mm
    if r_norm is None and args.aperture_mm is not None:
        r_norm = args.aperture_mm / 2.0
    fit = fit_zernike(work, args.terms or 37, scheme=args.scheme or "fringe",
                      normalisation="rms", r_norm_mm=r_norm)
    if fit.flags:   # a design tool's table cannot carry the flags: never write such numbers
        from .errors import ApertureError

        raise ApertureError(
            f"{args.input}: the circle polynomials' coefficients are not meaningful on this "
            f"aperture ({'; '.join(fit.flags)}); a design tool's table of them would hold "
            "numbers that mean nothing. Fit over a circular clear aperture inside the data "
            "(--aperture-mm D, R_norm = D/2), or see the orthonormalised modes with "
            "metrology analyze")
    if kind == "zfr":
        from .io.codev import write_codev_zfr

        write_codev_zfr(fit, out, wavelength_nm=args.wavelength_nm,
                        title=f"{Path(args.input).name}: {len(fit.indices)} Zernike terms")
    else:
        write = write_zernike_csv if kind == "csv" else write_zernike_json
        write(fit, out, convention=args.zernike_table, wavelength_nm=args.wavelength_nm)
    print(f"{args.input} -> {out}: {args.zernike_table} ({kind}) from a {len(fit.indices)}-term "
          f"{fit.scheme} fit over the {note}, R_norm = {fit.r_norm_mm:.6g} mm about "
          f"({fit.centre_mm[0]:.6g}, {fit.centre_mm[1]:.6g}) mm, residual RMS "
          f"{fit.residual_rms_nm:.4g} nm")
    return EXIT_PASS


# ----------------------------------------------------------------------------- --help examples

_EXAMPLES = {
    "demo": """\
  metrology demo                       # 256 x 256 map, Fringe Z1..Z37
  metrology demo --size 512 --seed 3""",
    "warmup": """\
  metrology warmup                     # once after installing; later runs start fast""",
    "info": """\
  metrology info datasets/parts/part-a-pass/*.datx
  metrology info export.txt --dx-mm 0.005 --z-unit um    # a text matrix without calibration
  metrology info sag.dat --format zemax                   # not a MetroPro .dat""",
    "formats": """\
  metrology formats
  metrology formats | grep -i zygo""",
    "check": """\
  metrology check --spec datasets/specs/caf2-wafer-inspection.toml datasets/parts/*
  metrology check --spec datasets/specs/flat-simple.toml --as flat map.datx \\
      --junit junit.xml --markdown summary.md --html report.html
  metrology check --spec spec.toml --as fizeau --dx-mm 0.1 --z-unit nm export.txt""",
    "analyze": """\
  metrology analyze datasets/parts/part-a-pass/l3s2-a_fizeau.x3p
  metrology analyze map.datx --html quicklook.html --json numbers.json
  metrology analyze matrix.txt --dx-mm 0.05 --z-unit um""",
    "convert": """\
  metrology convert map.datx map.x3p                   # format from the extension
  metrology convert map.datx sag.dat --to zemax --force  # Zemax Grid Sag; replace sag.dat
  metrology convert map.datx zernike.csv --zernike-table zemax-fringe-sag --aperture-mm 54""",
}


def _epilog(command: str, tail: str | None = None) -> str:
    """``--help``'s epilog: examples, then ``tail`` (exit codes)."""
    text = "examples:\n" + _EXAMPLES[command]
    return text + ("\n\n" + tail if tail else "")


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

    raw = _HelpFormatter
    d = sub.add_parser("demo", help="fit Zernikes to a small synthetic map and print the table",
                       description="Make a synthetic map with known Zernike coefficients, fit "
                       "Fringe Z1..Z37 and print the fitted table beside the truth (a check "
                       "that the installation computes right).",
                       epilog=_epilog("demo"), formatter_class=raw)
    d.add_argument("--size", type=int, default=256, help="map size in pixels (default 256)")
    d.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    d.set_defaults(func=_cmd_demo)

    w = sub.add_parser("warmup", help="compile the numerical kernels now (once per "
                       "installation; later runs load them from the on-disk cache)",
                       description="Compile the Numba kernels ahead of time (30-60 s on 2 "
                       "cores) so that the first check or analyze of an installation is fast.",
                       epilog=_epilog("warmup"), formatter_class=raw)
    w.set_defaults(func=_cmd_warmup)

    i = sub.add_parser("info", help="print format, shape, spacing, statistics of files",
                       description="Print what each file holds as read: format, shape, "
                       "spacing, valid fraction, RMS / PV as stored (nothing removed), "
                       "wavelength, height unit and instrument. A file that cannot be read "
                       "gets its error and the exit code 2; the others are still printed.",
                       epilog=_epilog("info", "exit codes: 0 success, 2 a file could not be "
                                      "read"), formatter_class=raw)
    i.add_argument("files", nargs="+", metavar="FILE")
    _add_read_args(i, "every file")
    i.set_defaults(func=_cmd_info)

    sub.add_parser("formats", help="list the file formats: read / write, the instruments "
                   "they come from, and the formats refused with the export to use",
                   description="List every file format: whether it is read and written, "
                   "its extensions and the instruments or software that write it; then the "
                   "formats that are refused, with the export to use instead.",
                   epilog=_epilog("formats"), formatter_class=raw
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
        epilog=_epilog("check", _EXIT_EPILOG), formatter_class=raw)
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
                   "figures (needs matplotlib: pip install \"optical-metrology[plot]\")")
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
                   "pip install 'optical-metrology[dask]'; --workers sets its size)")
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
    _add_read_args(c, "every file, over the spec's [measurements.NAME.read]")
    c.set_defaults(func=_cmd_check)

    a = sub.add_parser(
        "analyze", help="statistics, Zernike table and decade band RMS of one map (no spec)",
        description="Statistics of one map as stored, a Zernike fit (nothing removed "
        "before it; R_norm circumscribes the valid pixels) and the areal RMS in decades of "
        "spatial frequency with their coverage (Hann window, piston and tilt removed). For "
        "a profile (a 1-D trace): its statistics, the ISO 21920-2 height parameters of the "
        "unfiltered trace about its least-squares line, and the profile RMS in decades.",
        epilog=_epilog("analyze", "exit codes: 0 success, 2 usage or input error"),
        formatter_class=raw)
    a.add_argument("file", metavar="FILE")
    a.add_argument("--terms", type=int, default=37,
                   help="number of Zernike terms (default 37: Fringe Z1..Z37)")
    a.add_argument("--scheme", choices=("fringe", "noll", "ansi"), default="fringe",
                   help="Zernike index scheme (default fringe)")
    a.add_argument("--json", metavar="PATH", help="also write the numbers as JSON")
    a.add_argument("--html", metavar="PATH", help="also write a self-contained HTML quick "
                   "look: map, residual, Zernike bars, PSD with the decade bands (needs "
                   "matplotlib: pip install \"optical-metrology[plot]\")")
    _add_read_args(a)
    a.set_defaults(func=_cmd_analyze)

    v = sub.add_parser(
        "convert", help="convert a map to another format, or export its Zernike fit",
        description="Read IN (any readable format) and write OUT, atomically; IN is never "
        "modified and an existing OUT is replaced only with --force. The format comes from "
        "OUT's extension or --to (an extension two formats share, .dat: MetroPro or Zemax, "
        "needs --to). Design tools: --to zemax (OpticStudio Grid Sag .dat), --to codev "
        "(CODE V .int grid, in waves: --wavelength-nm unless the file recorded it). "
        "--zernike-table fits Zernikes to the map and writes the coefficients in a design "
        "tool's convention instead: zemax-fringe-sag (Fringe, peak, mm), zemax-standard-sag "
        "(Noll, rms, mm), codev-zfr (Fringe, peak, waves; .int writes a CODE V ZFR file), "
        "as .csv or .json stating scheme, normalisation, unit, wavelength, R_norm and centre.",
        epilog=_epilog("convert", "exit codes: 0 success, 2 usage or input error (also: OUT "
                       "exists without --force)"), formatter_class=raw)
    v.add_argument("input", metavar="IN")
    v.add_argument("output", metavar="OUT")
    v.add_argument("--to", metavar="FORMAT",
                   help="output format: x3p, sdf, datx, metropro, zemax, codev, text (csv), "
                   "npz, npy, 4sight-focus, profile (default: from OUT's extension); with "
                   "--zernike-table: csv, json or zfr")
    v.add_argument("--force", action="store_true", help="replace OUT if it exists")
    v.add_argument("--wavelength-nm", type=float, metavar="NM",
                   help="wavelength recorded in OUT, nm (codev, datx, metropro, "
                   "4sight-focus; default: IN's) and of Zernike tables in waves")
    z = v.add_argument_group("Zernike tables (--zernike-table)")
    z.add_argument("--zernike-table", choices=_ZERNIKE_TABLES, metavar="CONVENTION",
                   help="write the Zernike fit of IN as a table: " + ", ".join(_ZERNIKE_TABLES))
    z.add_argument("--terms", type=int, metavar="N",
                   help="terms fitted (default 37)")
    z.add_argument("--scheme", choices=("fringe", "noll", "ansi"),
                   help="index scheme of the fitted terms (default fringe; the table is "
                   "converted exactly to its convention's scheme)")
    z.add_argument("--r-norm-mm", type=_positive_mm, metavar="MM",
                   help="normalisation radius R_norm, mm (default: half --aperture-mm, else "
                   "the circle circumscribing the valid pixels)")
    z.add_argument("--aperture-mm", type=_positive_mm, metavar="MM",
                   help="fit over a circular clear aperture of this diameter, centred on the "
                   "data (default: every valid pixel)")
    _add_read_args(v)
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
