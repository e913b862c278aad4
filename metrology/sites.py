"""What one site of a check is made of: one file, or repeats of one measurement; a
calibrated reference subtracted; a wavefront converted to surface heights.

Stage 2b of the pipeline (:mod:`metrology.pipeline`), between assigning a file
to a measurement and analysing it. A **site** is the unit a criterion judges:

* one measurement file (the usual case);
* N >= 2 **repeats** of one measurement of one surface at one place, averaged
  pixel by pixel on their common mask (:func:`metrology.average`); the repeats
  are kept and go through every stage with the average, which gives the noise
  floor (:func:`metrology.noise_psd`) and the repeats' uncertainty models.
  Repeats are given on the command line (``metrology check --repeats a b c``)
  or recognised by name when the measurement says ``repeats = true``:
  files named ``<stem>_rep<k>.<ext>`` with the same stem and extension are one
  site (``docs/spec-schema.md``).

Before that, each file may be corrected:

* a calibrated **reference** map (the interferometer's reference surface, a
  system error file) is subtracted from every file of its measurement
  (:meth:`HeightMap.subtract`, same grid or an error): ``--reference FILE`` on
  the command line, or in a part folder the file matching the measurement's
  ``[measurements.NAME.reference] match.filename`` globs;
* a file of a measurement that declares ``[measurements.NAME.wavefront]`` holds a
  wavefront: it is converted to surface heights
  (:func:`metrology.wavefront.surface_wavefront`) before any criterion. A file
  whose own metadata contradicts the spec (a 4D file storing surface heights
  for a wavefront measurement, or an OPD for a surface measurement) is not
  analysed (every criterion of it ``not-measurable``, with the reason).

Everything done is recorded in the site's :class:`metrology.pipeline.SourceRecord`
and shown in every report.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import MetrologyError, SpecError
from .heightmap import HeightMap

if TYPE_CHECKING:  # pragma: no cover
    from .pipeline import FileAnalysis, SourceRecord
    from .profile import Profile
    from .spec import Spec

__all__ = ["REPEAT_RE", "Site", "plan_sites", "analyze_site", "compose_site", "repeat_key",
           "is_reference_file", "split_references", "group_sites", "repeats_site",
           "reference_target"]

#: a repeat's file stem: ``<stem>_rep<k>`` (k = 1, 2, ...; case-insensitive)
REPEAT_RE = re.compile(r"^(?P<stem>.+)_rep(?P<k>\d+)$", re.IGNORECASE)


def repeat_key(path: str | os.PathLike[str]) -> tuple[str, str, int] | None:
    """``(stem, extension, k)`` of a file named ``<stem>_rep<k>.<ext>``, else ``None``."""
    p = Path(path)
    m = REPEAT_RE.match(p.stem)
    if m is None:
        return None
    return (str(p.with_name(m.group("stem"))).lower(), p.suffix.lower(), int(m.group("k")))


@dataclass
class Site:
    """One site to analyse: its files (several for repeats), measurement and corrections."""

    paths: tuple[str, ...]
    measurement: str
    assigned_by: str
    maps: list[HeightMap] = field(repr=False)  # or one Profile
    repeats_by: str | None = None
    reference: str | None = None
    reference_from: str | None = None

    @property
    def label(self) -> str:
        """How the site is named in reports: the file, or the first repeat and a count."""
        if len(self.paths) == 1:
            return self.paths[0]
        return f"{self.paths[0]} (+{len(self.paths) - 1} repeats)"


def _is_reference(spec: Spec, name: str) -> list[str]:
    """Measurements whose reference rules match the file name ``name``."""
    return [m for m, meas in spec.measurements.items()
            if meas.reference is not None and meas.reference.matches(name)]


def is_reference_file(spec: Spec, path: str | os.PathLike[str]) -> bool:
    """Whether the file's name matches the reference rules of a measurement of ``spec``
    (such a file in a part folder is a reference, never a measurement)."""
    return bool(_is_reference(spec, Path(path).name))


def split_references(spec: Spec, files: Sequence[str | os.PathLike[str]]
                     ) -> tuple[dict[str, tuple[str, str]], list[str],
                                list[tuple[tuple[str, ...], str]]]:
    """``(references, plain, problems)``: the files of a part that are references by the
    spec's rules (measurement -> (path, where it was named)), the others in their order,
    and what is wrong ((paths, reason): a file matching the rules of several
    measurements, two references for one measurement; those files are in neither)."""
    refs: dict[str, tuple[str, str]] = {}
    plain: list[str] = []
    problems: list[tuple[tuple[str, ...], str]] = []
    for f in map(str, files):
        hits = _is_reference(spec, Path(f).name)
        if len(hits) > 1:
            problems.append(((f,), f"{f}: matches the reference rules of several measurements "
                                   f"({', '.join(hits)})"))
        elif hits:
            if hits[0] in refs:
                problems.append(((f, refs[hits[0]][0]),
                                 f"{f} and {refs[hits[0]][0]}: two reference files for "
                                 f"measurement {hits[0]!r} in one part"))
            else:
                refs[hits[0]] = (f, f"spec: measurements.{hits[0]}.reference")
        else:
            plain.append(f)
    return refs, plain, problems


def group_sites(spec: Spec, loaded: Sequence[tuple[str, HeightMap, str, str]]
                ) -> tuple[list[Site], list[tuple[tuple[str, ...], str]]]:
    """The sites of loaded and assigned files ``(path, map, measurement, assigned_by)``:
    one per file, except that the files of a measurement with ``repeats = true`` named
    ``<stem>_rep<k>.<ext>`` with one stem and extension are one site (in the order of k).

    Returns ``(sites, problems)``: sites in the order of their first file;
    ``problems`` ((paths, reason)) a repeat number used twice (those files form no
    site).
    """
    order = {f: i for i, (f, *_) in enumerate(loaded)}
    sites: list[Site] = []
    problems: list[tuple[tuple[str, ...], str]] = []
    groups: dict[tuple[str, str, str], list[tuple[int, str, HeightMap, str]]] = {}
    for f, hm, meas, by in loaded:
        key = repeat_key(f) if spec.measurements[meas].repeats else None
        if key is None:
            sites.append(Site((f,), meas, by, [hm]))
        else:
            groups.setdefault((meas, key[0], key[1]), []).append((key[2], f, hm, by))
    for (meas, _, _), members in groups.items():
        members.sort(key=lambda t: t[0])
        ks = [k for k, *_ in members]
        paths = tuple(m[1] for m in members)
        if len(set(ks)) != len(ks):
            problems.append((paths, f"repeat number used twice among {', '.join(paths)}"))
            continue
        sites.append(Site(paths, meas, members[0][3], [m[2] for m in members],
                          repeats_by="file names <stem>_rep<k> (repeats = true)"
                          if len(members) > 1 else None))
    sites.sort(key=lambda s: order[s.paths[0]])
    return sites, problems


def repeats_site(spec: Spec, loaded: Sequence[tuple[str, HeightMap, str, str]]) -> Site:
    """The site of ``--repeats``: N >= 2 loaded and assigned files of one measurement.

    Raises
    ------
    SpecError
        Fewer than 2 files, or files of different measurements.
    """
    if len(loaded) < 2:
        raise SpecError("--repeats needs at least 2 files (repeats of one measurement)")
    names = {m for _, _, m, _ in loaded}
    if len(names) != 1:
        raise SpecError(f"--repeats: the files are of different measurements "
                        f"({', '.join(sorted(names))}); repeats are of one measurement "
                        "(pass --as NAME)")
    return Site(tuple(f for f, *_ in loaded), loaded[0][2], loaded[0][3],
                [hm for _, hm, _, _ in loaded], repeats_by="--repeats")


def reference_target(spec: Spec, reference: str | os.PathLike[str], *,
                     repeats_measurement: str | None = None,
                     as_name: str | None = None) -> str:
    """The measurement ``--reference`` belongs to: that of the repeats, else ``--as``,
    else the one the reference file's own name or metadata matches.

    Raises
    ------
    MetrologyError
        The file cannot be read (when it has to be), or matches no measurement or
        several.
    """
    if repeats_measurement is not None:
        return repeats_measurement
    if as_name is not None:
        return as_name
    from .pipeline import load_file

    ref = str(reference)
    hm = load_file(ref, spec)
    found = spec.matching_measurements(Path(ref).name, hm.meta)
    if len(found) != 1:
        raise SpecError(f"--reference {ref}: cannot tell which measurement it belongs "
                        "to (give --repeats or --as NAME, or name the file after its "
                        "measurement)")
    return found[0]


def plan_sites(spec: Spec, files: Sequence[str | os.PathLike[str]], *,
               as_name: str | None = None,
               repeats: Sequence[str | os.PathLike[str]] = (),
               reference: str | os.PathLike[str] | None = None) -> list[Site]:
    """The sites of one part: each file loaded and assigned, repeats grouped, references
    found (strict: any problem raises; :func:`metrology.check.check_part` applies the
    same rules file by file and judges what it can).

    Parameters
    ----------
    spec : Spec
    files : sequence of path
        Measurement files (a part folder: every data file of it). A file matching a
        measurement's reference rules is that measurement's reference; with
        ``repeats = true`` files of the measurement named ``<stem>_rep<k>`` are
        grouped into one site.
    as_name : str, optional
        ``--as``: every file (and the repeats) is this measurement.
    repeats : sequence of path
        ``--repeats``: N >= 2 repeats of one measurement (one site).
    reference : path, optional
        ``--reference``: subtracted from every file of the measurement of the repeats
        (else of ``--as``, else of the measurement the reference file's own name or
        metadata matches).

    Raises
    ------
    MetrologyError
        A file cannot be read or assigned, two references for one measurement,
        repeats of different measurements, or a reference that belongs to no
        measurement (exit code 2 on the command line).
    """
    from .pipeline import assign_measurement, load_file

    refs, plain, problems = split_references(spec, files)
    if problems:
        raise SpecError(problems[0][1])

    def load(fs: Sequence[str]) -> list[tuple[str, HeightMap, str, str]]:
        out = []
        for f in fs:
            hm = load_file(f, spec, as_name)
            out.append((f, hm, *assign_measurement(spec, f, hm.meta, as_name)))
        return out

    sites, problems = group_sites(spec, load(plain))
    if problems:
        raise SpecError(problems[0][1])
    if repeats:
        sites.append(repeats_site(spec, load([str(r) for r in repeats])))
    if reference is not None:
        ref = str(reference)
        target = reference_target(spec, ref, as_name=as_name,
                                  repeats_measurement=sites[-1].measurement if repeats
                                  else None)
        if target in refs:
            raise SpecError(f"--reference {ref}: measurement {target!r} already has the "
                            f"reference {refs[target][0]} in the part folder")
        refs[target] = (ref, "--reference")
    for s in sites:
        if s.measurement in refs:
            s.reference, s.reference_from = refs[s.measurement]
    return sites


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _conversion_conflict(meta: Mapping[str, object], wavefront: bool) -> str:
    """Why a file's own statement of what it holds contradicts the spec ("" if not)."""
    kind = str(meta.get("height_kind") or "").lower()
    if wavefront and kind == "surface":
        return ("the file stores surface heights (its wedge factor applied) but the spec "
                "declares that this measurement holds a wavefront; remove "
                "[measurements.NAME.wavefront] or export the OPD")
    if not wavefront and kind in ("opd", "wavefront"):
        return ("the file stores a wavefront (OPD); declare [measurements.NAME.wavefront] "
                "(reflection or transmission, passes) so that it is converted to surface "
                "heights")
    return ""


def compose_site(spec: Spec, site: Site, reference: HeightMap | None = None,
                 reference_sha256: str | None = None
                 ) -> tuple[HeightMap | Profile, list[HeightMap], SourceRecord, str]:
    """Stage 2b for one site: ``(map, repeats, source, blocked)``, the map to analyse (the
    average of the repeats, the reference subtracted, a wavefront converted), the
    repeats on the average's mask, what was done, and a reason the site cannot be judged
    (its metadata contradicts the declared quantity; ``""``).

    ``reference``: the site's reference map already loaded (else it is loaded from
    ``site.reference``), with its SHA-256.

    Raises
    ------
    MetrologyError
        The reference cannot be read or subtracted (another grid), the repeats are on
        different grids, or repeats / a reference / a wavefront for a profile.
    """
    from .pipeline import SourceRecord
    from .repeats import average

    meas = spec.measurements[site.measurement]
    maps = list(site.maps)
    if any(not isinstance(m, HeightMap) for m in maps):  # a profile (1-D trace)
        if len(maps) > 1 or site.reference is not None or meas.wavefront is not None:
            raise SpecError(f"{site.paths[0]} is a profile (a 1-D trace): repeats, a reference "
                            "and a wavefront conversion apply to height maps only")
        return maps[0], [], SourceRecord(files=site.paths), ""
    blocked = ""
    ref_sha = None
    if site.reference is not None:
        if reference is None:
            from .pipeline import load_file

            reference = load_file(site.reference, spec, site.measurement)  # its read
        if not isinstance(reference, HeightMap):
            raise MetrologyError(f"reference {site.reference} is a profile (a 1-D trace), not "
                                 "a height map")
        ref_sha = reference_sha256 or _sha256(site.reference)
        try:
            maps = [hm.subtract(reference) for hm in maps]
        except MetrologyError as exc:
            raise MetrologyError(f"reference {site.reference} cannot be subtracted from "
                                 f"{site.paths[0]}: {exc}") from None
    conv = meas.wavefront
    for hm in site.maps:
        why = _conversion_conflict(hm.meta, conv is not None)
        if why:
            blocked = why
    if conv is not None and not blocked:
        from .wavefront import surface_wavefront

        sw = surface_wavefront(conv.mode, conv.passes, angle_deg=conv.angle_deg,
                               material=conv.material if conv.mode == "transmission" else None,
                               wavelength_nm=conv.wavelength_nm)
        maps = [sw.to_surface(hm) for hm in maps]
    reps: list[HeightMap] = []
    common = None
    if len(maps) > 1:
        avg = average(maps)  # raises GridMismatchError (a MetrologyError) on other grids
        hm = avg.map
        common = float(np.count_nonzero(hm.valid)) / max(
            1, int(np.count_nonzero(np.logical_or.reduce([m.valid for m in maps]))))
        reps = [m.apply_mask(hm.valid, note="common mask of the repeats") for m in maps]
    else:
        hm = maps[0]
    source = SourceRecord(
        files=site.paths, repeats_by=site.repeats_by, common_valid_fraction=common,
        reference=site.reference, reference_sha256=ref_sha, reference_from=site.reference_from,
        conversion=None if conv is None else conv.description,
        conversion_factor=None if conv is None else conv.factor)
    return hm, reps, source, blocked


def analyze_site(spec: Spec, site: Site) -> FileAnalysis:
    """Stage 2b (:func:`compose_site`) and then stages 3-6
    (:func:`metrology.pipeline.analyze_file`) for one site."""
    from .pipeline import analyze_file

    hm, reps, source, blocked = compose_site(spec, site)
    return analyze_file(spec, site.measurement, hm, site.label, site.assigned_by,
                        repeats=reps, source=source, blocked=blocked)
