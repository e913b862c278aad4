"""Parts from the file tree: which folders are parts, which files are measurements.

Rules (``docs/batch.md``, "Parts from the file tree"):

* a ROOT that is a file is a file named on its own; the files named on their
  own form one part (``--per-file``: one part each);
* a ROOT that is a folder is searched recursively (hidden folders and
  symbolic links to folders are not followed); **every folder that holds a
  measurement file is a part**, named by its path below the ROOT (the ROOT's
  own name when the ROOT itself is the part);
* a ROOT that does not exist but holds ``*``, ``?`` or ``[`` is a glob
  (``**`` matches any depth), expanded in sorted order;
* in a folder, a file is a *candidate* measurement when the format registry
  recognises it (magic bytes first, extension second) and, for the text
  formats (``.txt``, ``.csv``, ...), when its first 4 kB hold a table of
  numbers. Companions of a part (``part.json``, ``*.truth.json``), hidden
  files and the reports metrology itself writes (recognised by their first
  bytes, whatever their name) are passed over silently; every other file is
  listed as ignored with the reason;
* whether a candidate really is a measurement is decided when the part is
  checked (it is read and assigned): see :func:`metrology.check.check_part`;
* ``--per-file`` makes every candidate a part of its own, except that the
  **repeats of one site stay one part** (files named ``<stem>_rep<k>.<ext>``
  with one stem and extension in one folder, when ``--as`` or the file name
  assigns them to a measurement with ``repeats = true``), and that a folder's
  **reference files** (by the spec's ``[measurements.NAME.reference]`` rules)
  are no part: they go with every part of their folder, to be subtracted from
  the files of their measurement. ``--repeats`` are one more part with
  ``--per-file``; ``--reference`` goes with every part of the loose files.

Discovery reads only the first 4 kB of each file and imports no Numba.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..check import FileIssue
from ..errors import MetrologyError

__all__ = ["PartTask", "Discovery", "discover", "candidate_files", "probe", "is_own_output",
           "OWN_OUTPUT_SIGNATURES"]

#: bytes read from each file to decide what it is
HEAD_BYTES = 4096

#: file names that accompany a part and are never measurements
_COMPANIONS = ("part.json",)
_COMPANION_SUFFIXES = (".truth.json",)

#: the first bytes of every report and record file metrology writes (stripped of
#: leading white space); such a file is never read as a measurement, whatever its name
OWN_OUTPUT_SIGNATURES: tuple[bytes, ...] = (
    b"metrology check (metrology ",            # terminal text report (render "text")
    b"## metrology check",                      # Markdown
    b'{"schema": "metrology.batch-record/',    # JSON Lines results
    b"part,path,outcome,verdict,exit_code,",    # CSV results
)
#: patterns searched in the first bytes (reports whose first line is generic)
_OWN_OUTPUT_MARKERS = (
    re.compile(rb'^\s*\{\s*"schema"\s*:\s*"metrology\.(check-report|analyze)/'),
    re.compile(rb'^<\?xml[^>]*>\s*<testsuites name="metrology check'),
    re.compile(rb"^<!DOCTYPE html>\s*<html[^>]*><head><meta charset=\"utf-8\">\s*"
               rb"<title>metrology check"),
)

_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^[-+]?(nan|inf|infinity)$",
                     re.IGNORECASE)
_SPLIT = re.compile(r"[,;\s]+")
_GLOB_CHARS = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class PartTask:
    """One part to check: its files and how to treat them.

    ``explicit`` files were named on their own (an unreadable one is an input
    error); ``magic`` files were recognised by their magic bytes (a measurement
    format, not a stray text file); ``ignored`` files failed the probe;
    ``repeats`` (``--repeats``) are one more site of the part and ``reference``
    (``--reference``) is subtracted from the files of its measurement, both named
    on their own.
    """

    index: int
    name: str
    path: str | None
    files: tuple[str, ...]
    part_check: bool
    explicit: tuple[str, ...] = ()
    loose: bool = False
    magic: tuple[str, ...] = ()
    ignored: tuple[FileIssue, ...] = ()
    root: str | None = None
    repeats: tuple[str, ...] = ()
    reference: str | None = None

    @property
    def inputs(self) -> tuple[str, ...]:
        """Every file the part reads: its files, the repeats and the reference."""
        return (*self.files, *self.repeats, *((self.reference,) if self.reference else ()))

    @property
    def base(self) -> str:
        """The folder file names of the part are relative to (for its content hash)."""
        if self.path is not None:
            return self.path
        parents = {os.path.dirname(os.path.abspath(f)) for f in self.files or self.repeats}
        return parents.pop() if len(parents) == 1 else ""


@dataclass
class Discovery:
    """The parts found under the ROOTs, and the files that belong to no part."""

    tasks: list[PartTask] = field(default_factory=list)
    ignored: list[FileIssue] = field(default_factory=list)

    @property
    def n_files(self) -> int:
        return sum(len(t.files) + len(t.repeats) for t in self.tasks)


def is_own_output(path: str | os.PathLike[str], head: bytes | None = None) -> bool:
    """Whether ``path`` is a report or results file metrology wrote (by its first bytes)."""
    if head is None:
        try:
            with open(path, "rb") as fh:
                head = fh.read(HEAD_BYTES)
        except OSError:
            return False
    h = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if any(h.startswith(s) for s in OWN_OUTPUT_SIGNATURES):
        return True
    return any(m.search(h) for m in _OWN_OUTPUT_MARKERS)


def _numeric_table(head: bytes) -> bool:
    """Whether text holds a line of two or more numbers (a height map's data) in its
    first complete lines."""
    text = head.decode("latin-1")
    lines = text.splitlines()
    if len(head) >= HEAD_BYTES and lines:
        lines = lines[:-1]  # the last line may be cut
    for ln in lines:
        s = ln.strip()
        if not s or s.startswith(("#", "%", "//")):
            continue
        toks = [t for t in _SPLIT.split(s) if t]
        if len(toks) >= 2 and all(_NUMBER.match(t) for t in toks):
            return True
    return "# format: metrology-text-1" in text


def probe(path: str | os.PathLike[str]) -> tuple[str, str, bool]:
    """What a file found in a folder is: ``(kind, reason, by_magic)``.

    ``kind`` is ``"candidate"`` (a measurement format), ``"skip"`` (a companion
    or a report of ours: passed over silently) or ``"ignored"`` (with the
    reason); ``by_magic``: the format was recognised by its magic bytes.
    """
    from ..io import detect

    p = Path(path)
    name = p.name
    if name in _COMPANIONS or name.endswith(_COMPANION_SUFFIXES):
        return "skip", "", False
    try:
        with open(p, "rb") as fh:
            head = fh.read(HEAD_BYTES)
    except OSError as exc:
        return "ignored", f"cannot be read: {exc.strerror or exc}", False
    if is_own_output(p, head):
        return "skip", "", False
    try:
        fmt_magic = detect(p.with_name(".probe.__no_extension__"), head)
    except MetrologyError:
        fmt_magic = None
    except Exception:  # noqa: BLE001 - a probe never decides by crashing
        fmt_magic = None
    if fmt_magic is not None:
        return "candidate", "", True
    try:
        fmt = detect(p, head)
    except MetrologyError:
        ext = p.suffix.lower() or "(none)"
        return "ignored", f"not a measurement file: no reader for this format (extension " \
                          f"{ext}, no known magic bytes)", False
    except Exception as exc:  # noqa: BLE001
        return "ignored", f"not a measurement file: {exc}", False
    if fmt.name == "text" and not _numeric_table(head):
        return "ignored", ("not a measurement file: text without a table of numbers in its "
                           "first lines"), False
    return "candidate", "", False


def candidate_files(folder: str | os.PathLike[str], exclude: Iterable[str] = ()
                    ) -> tuple[list[str], list[FileIssue], list[str]]:
    """``(candidates, ignored, by_magic)`` among the files of ``folder`` (not its
    sub-folders), sorted by name; ``exclude``: absolute paths passed over (this run's
    outputs)."""
    skip = set(exclude)
    cands: list[str] = []
    ignored: list[FileIssue] = []
    magic: list[str] = []
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        return [], [FileIssue(str(folder), f"cannot list the folder: {exc.strerror or exc}")], []
    for e in entries:
        if e.name.startswith("."):
            continue
        try:
            if not e.is_file():
                continue
        except OSError:
            continue
        path = os.path.join(os.fspath(folder), e.name)
        if os.path.abspath(path) in skip:
            continue
        kind, reason, by_magic = probe(path)
        if kind == "candidate":
            cands.append(path)
            if by_magic:
                magic.append(path)
        elif kind == "ignored":
            ignored.append(FileIssue(path, reason))
    return cands, ignored, magic


def _expand(roots: Sequence[str | os.PathLike[str]]) -> list[str]:
    out: list[str] = []
    for r in map(os.fspath, roots):
        if os.path.lexists(r):
            out.append(r)
        elif _GLOB_CHARS.search(r):
            hits = sorted(glob.glob(r, recursive=True))
            if not hits:
                raise MetrologyError(f"{r}: no file or folder matches the pattern")
            out += hits
        else:
            raise MetrologyError(f"{r}: no such file or folder")
    return out


def _repeats_by_name(spec: object, path: str, as_name: str | None) -> bool:
    """Whether ``path`` is a repeat by the spec's rules, as far as its name tells: named
    ``<stem>_rep<k>`` and assigned (``--as``, or its name) to one measurement with
    ``repeats = true``."""
    from ..sites import repeat_key

    if repeat_key(path) is None:
        return False
    meas = spec.measurements  # type: ignore[attr-defined]
    names = ((as_name,) if as_name in meas
             else spec.matching_measurements(os.path.basename(path), None))  # type: ignore[attr-defined]
    return len(names) == 1 and bool(meas[names[0]].repeats)


def _per_file_groups(files: Sequence[str], spec: object, as_name: str | None
                     ) -> tuple[list[tuple[str, ...]], tuple[str, ...]]:
    """``(parts, references)`` of ``--per-file`` among the files of one folder (or the
    loose files): every file one part, but the repeats of one site together, and the
    reference files apart (they go with every part)."""
    if spec is None:
        return [(f,) for f in files], ()
    from ..sites import is_reference_file, repeat_key

    refs = tuple(f for f in files if is_reference_file(spec, f))  # type: ignore[arg-type]
    out: list[list[str]] = []
    where: dict[tuple[str, str], int] = {}
    for f in files:
        if f in refs:
            continue
        if _repeats_by_name(spec, f, as_name):
            stem, ext, _ = repeat_key(f)  # type: ignore[misc]
            if (stem, ext) in where:
                out[where[stem, ext]].append(f)
                continue
            where[stem, ext] = len(out)
        out.append([f])
    return [tuple(g) for g in out], refs


def _group_name(first: str, group: tuple[str, ...]) -> str:
    return first if len(group) == 1 else f"{first} (+{len(group) - 1} repeats)"


def discover(roots: Sequence[str | os.PathLike[str]], spec: object = None, *,
             per_file: bool = False, as_name: str | None = None, part_check: bool = False,
             exclude: Iterable[str | os.PathLike[str]] = (),
             repeats: Sequence[str | os.PathLike[str]] = (),
             reference: str | os.PathLike[str] | None = None) -> Discovery:
    """The parts under ``roots`` (files, folders, globs), in a stable order.

    Parameters
    ----------
    roots : sequence of path or glob
    spec : Spec, optional
        Needed only by ``per_file`` to keep the repeats of one site together and to
        pass a folder's reference files to each of its parts (without it every file
        is a part).
    per_file : bool
        Every file is a part of its own (the repeats of one site one part).
    as_name : str, optional
        ``--as`` (with ``per_file``: which measurement's ``repeats`` rule applies).
    part_check : bool
        The files named on their own are a whole part (``--part``).
    exclude : iterable of path
        Paths never taken as measurements (this run's outputs).
    repeats : sequence of path
        ``--repeats``: one more site of the loose files' part (with ``per_file``:
        one part of their own).
    reference : path, optional
        ``--reference``: goes with the loose files' part(s) and the repeats.

    Raises
    ------
    MetrologyError
        A ROOT that does not exist, a glob that matches nothing, a folder with
        no measurement file anywhere below it; ``reference`` without loose files
        or repeats (a :class:`SpecError`).
    """
    from ..errors import SpecError

    excl = {os.path.abspath(os.fspath(p)) for p in exclude}
    found = Discovery()
    loose: list[str] = []
    entries: list[tuple[str, str | None, list[str], list[str], list[FileIssue], str]] = []
    for root in _expand(roots):
        if not os.path.isdir(root):
            loose.append(root)
            continue
        n_before = len(entries)
        root_name = os.path.basename(os.path.normpath(os.path.abspath(root)))
        for dirpath, dirnames, _ in os.walk(root, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")
                                 and d != "__pycache__")
            cands, ignored, magic = candidate_files(dirpath, excl)
            rel = os.path.relpath(dirpath, root)
            name = root_name if rel == "." else rel.replace(os.sep, "/")
            if cands:
                entries.append((name, dirpath, cands, magic, ignored, root))
            else:
                found.ignored += ignored
        if len(entries) == n_before:
            raise MetrologyError(f"{root}: no measurement file in the folder or its "
                                 "sub-folders")
    reps = tuple(os.fspath(r) for r in repeats)
    ref = None if reference is None else os.fspath(reference)
    if ref is not None and not loose and not reps:
        raise SpecError("--reference applies to loose files or --repeats, not to part "
                        "folders (name the reference in the spec: "
                        "[measurements.NAME.reference])")
    seen: dict[str, int] = {}
    for name, *_ in entries:
        seen[name] = seen.get(name, 0) + 1
    tasks: list[PartTask] = []
    for name, path, cands, magic, ignored, root in entries:
        label = name if seen[name] == 1 else os.path.normpath(path)
        if per_file:
            groups, refs = _per_file_groups(cands, spec, as_name)
            for g in groups:
                rel = os.path.relpath(g[0], root).replace(os.sep, "/")
                files = (*g, *refs)
                tasks.append(PartTask(len(tasks), _group_name(rel, g), None, files, part_check,
                                      magic=tuple(x for x in magic if x in files), root=root))
            found.ignored += ignored
        else:
            tasks.append(PartTask(len(tasks), label, path, tuple(cands), True,
                                  magic=tuple(magic), ignored=tuple(ignored), root=root))
    if loose or reps:
        loose = list(dict.fromkeys(loose))
        if per_file:
            groups, refs = _per_file_groups(loose, spec, as_name)
            for g in groups:
                files = (*g, *refs)
                tasks.append(PartTask(len(tasks), _group_name(os.path.basename(g[0]), g), None,
                                      files, part_check, explicit=files, loose=True,
                                      reference=ref))
            if reps:
                tasks.append(PartTask(len(tasks), _group_name(os.path.basename(reps[0]), reps),
                                      None, refs, part_check, explicit=refs, loose=True,
                                      repeats=reps, reference=ref))
        else:
            parents = {os.path.dirname(os.path.abspath(f)) for f in [*loose, *reps]}
            name = os.path.basename(parents.pop()) if len(parents) == 1 else "files"
            tasks.append(PartTask(len(tasks), name, None, tuple(loose), part_check,
                                  explicit=tuple(loose), loose=True, repeats=reps,
                                  reference=ref))
    found.tasks = tasks
    return found
