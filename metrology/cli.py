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


def _input_files(paths: Sequence[str]) -> list[str]:
    """The files ``check`` will read: loose files, and the data files of each folder."""
    from .check import _data_files

    out = []
    for p in paths:
        if Path(p).is_dir():
            out += [str(q) for q in _data_files(Path(p))]
        else:
            out.append(p)
    return out


def _cmd_check(args: argparse.Namespace) -> int:
    from . import reports
    from .check import check, exit_code
    from .spec import SpecWarning, load_spec

    outputs = {"--json": args.json, "--junit": args.junit, "--markdown": args.markdown,
               "--html": args.html}
    if not args.paths and not args.repeats:
        raise _UsageError("give measurement files or part folders (FILE_OR_DIR), or "
                          "--repeats FILE FILE ...")
    extra = [*(args.repeats or []), *([args.reference] if args.reference else [])]
    _guard_outputs(outputs, [args.spec, *_input_files(args.paths), *extra])
    if args.html:
        reports.require_matplotlib()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        spec = load_spec(args.spec)
    for w in caught:  # spec warnings are printed in the table header; others pass on
        if not issubclass(w.category, SpecWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    spec = spec.with_read_override(_read_options(args))  # --dx-mm ... for every file
    report = check(spec, args.paths, as_name=args.as_name, part_check=args.part,
                   repeats=args.repeats or (), reference=args.reference)
    _emit(reports.render_terminal(report, color=False if args.no_color else None))
    for path, kind in zip(outputs.values(), ("json", "junit", "markdown", "html"),
                                 strict=True):
        if path:
            reports.write_report(report, path, kind)
            print(f"wrote {kind} report {path}", file=sys.stderr)
    return int(exit_code(report))


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
        note = f"clear aperture \u00d8{args.aperture_mm:g} mm (centre from the data)"
    r_norm = args.r_norm_mm
    if r_norm is None and args.aperture_mm is not None:
        r_norm = args.aperture_mm / 2.0
    fit = fit_zernike(work, args.terms or 37, scheme=args.scheme or "fringe",
                      normalisation="rms", r_norm_mm=r_norm)
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
        description="Check measurement files against a lens spec (TOML, metrology.spec/1). "
        "Each file is assigned to a measurement of the spec (--as, or the spec's metadata / "
        "file-name rules); every criterion of that measurement gets pass, fail or "
        "not-measurable with its value, limit, margin and unit. A folder is one part (a "
        "part check: every measurement of the spec must have a file); loose files form one "
        "more part, checked as a whole part only with --part.",
        epilog=_epilog("check", _EXIT_EPILOG), formatter_class=raw)
    c.add_argument("--spec", required=True, metavar="SPEC", help="spec file (TOML)")
    c.add_argument("--as", dest="as_name", metavar="NAME",
                   help="assign every file to measurement NAME of the spec")
    c.add_argument("--part", action="store_true",
                   help="the loose files are the whole part: a measurement with no file "
                   "makes the part not-measurable (exit 3)")
    c.add_argument("--json", metavar="PATH", help="write the JSON report "
                   "(schema metrology.check-report/2)")
    c.add_argument("--junit", metavar="PATH", help="write JUnit XML (one testcase per "
                   "criterion; not-measurable as skipped)")
    c.add_argument("--markdown", metavar="PATH", help="write a Markdown summary")
    c.add_argument("--html", metavar="PATH", help="write one self-contained HTML file with "
                   "figures (needs matplotlib: pip install \"optical-metrology[plot]\")")
    c.add_argument("--no-color", action="store_true",
                   help="no ANSI colours (also off when stdout is not a terminal or NO_COLOR "
                   "is set)")
    c.add_argument("--repeats", nargs="+", metavar="FILE",
                   help="repeats of one measurement of one surface (>= 2 files on one grid; "
                   "give FILE_OR_DIR before --repeats, which takes the rest of the line): "
                   "averaged pixel by pixel on their common mask into one site; their "
                   "pairwise differences give the noise PSD, the noise floor of every band "
                   "and the repeats' uncertainty (docs/uncertainty.md)")
    c.add_argument("--reference", metavar="FILE",
                   help="a calibrated reference map (same grid) subtracted from every file "
                   "of its measurement: that of --repeats, else of --as, else the one its "
                   "own name matches; recorded in every report. In part folders the spec "
                   "names the reference file ([measurements.NAME.reference])")
    c.add_argument("paths", nargs="*", metavar="FILE_OR_DIR")
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
    if args.command in _COMPUTING_COMMANDS:
        _first_run_notice()
    try:
        return int(args.func(args))
    except _UsageError as exc:
        print(f"metrology {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except MetrologyError as exc:
        _emit(f"metrology {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"metrology {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
