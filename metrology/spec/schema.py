"""The ``metrology.spec/1`` schema: reading and validating a spec file, section by section.

Sections (``docs/spec-schema.md``): ``[part]``, ``[preprocessing]``,
``[measurements.NAME]`` (with ``match``, ``aperture``, ``preprocessing``,
``requirements``), ``[power]``, ``[form]``, ``[[bands]]``, ``[psd]`` and the
top-level sections criterion types bring (``[sa]``). The structure of each
section is read here; the limit keys belong to the criterion types
(:mod:`metrology.criteria`), each of which reads its own keys from the
:class:`SpecDraft` and adds its criteria. Everything wrong is collected and
raised as one :class:`metrology.SpecError` naming each key path and line.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import re
import tomllib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..criteria import SECTION_RANK, Criterion, criterion_types, section_keys
from ..criteria._base import Removal
from ..errors import SpecError
from ..read_options import READ_KEYS, ReadOptions, normalise_z_unit
from .context import (
    MISSING,
    Path_,
    SpecContext,
    bad_type,
    boolean,
    check_keys,
    number,
    str_list,
    string,
    suggest,
    table,
)
from .model import (
    BAND_FILTERS,
    COMPOSITE,
    DEFAULT_BINS_PER_DECADE,
    DEFAULT_FACTOR_MAX,
    REL_TOL,
    Aperture,
    Band,
    CompositeOptions,
    Form,
    ItfTable,
    Match,
    Measurement,
    Part,
    Power,
    Preprocessing,
    PsdLimitLine,
    PsdSegment,
    Requirements,
    Spec,
    Wavefront,
    merge_ranges,
    ro,
)
from .zernike_terms import (
    check_index_bound,
    removed_indices,
    spec_index,
    spec_order,
    zlist,
)

__all__ = ["SCHEMA", "SpecWarning", "SpecDraft", "BandEntry", "parse_spec", "load_spec",
           "ALIASES", "MAX_DEPTH"]

SCHEMA = "metrology.spec/1"

INSTRUMENTS = ("fizeau", "csi", "afm", "profilometer", "other")
SCHEMES = ("fringe", "noll", "ansi")
NORMALISATIONS = ("rms", "peak")
REMOVABLE = ("piston", "tilt", "power", "astigmatism")
BAND_KINDS = ("areal", "profile")
DIRECTIONS = ("x", "y")
PSD_KINDS = ("profile", "radial", "areal")
COMBINE_RULES = ("inverse-variance", "finer")
SIDEDNESS = ("one-sided", "two-sided")
CENTRES = ("data", "given")
DECISION_RULES = ("simple", "guarded")
WAVEFRONT_MODES = ("reflection", "transmission")

#: deepest nesting of tables and arrays a spec may use (the schema needs 4)
MAX_DEPTH = 16
#: plausible spatial frequencies, cycles/mm (periods from 1 km down to 0.1 nm)
F_MIN_PER_MM, F_MAX_PER_MM = 1e-6, 1e7
#: plausible lengths (aperture diameters, radii, centre coordinates), mm
LENGTH_MAX_MM = 1e5
#: exponent of a PSD segment ``a f^-b``: surfaces have 0 < b < ~4
PSD_B_MAX = 10.0
#: a PSD line value must stay within 1e-30..1e30 nm^2 mm over its segment (any real
#: measurement lies far inside; outside, the line would pass or fail everything)
_LOG10_PSD_MAX = 30.0
BINS_PER_DECADE_MAX = 1000
FACTOR_MAX_MAX = 1e6

#: deprecated spellings accepted (with a SpecWarning) where the canonical key belongs;
#: table path pattern ("*" = any measurement) -> {deprecated: canonical}
ALIASES: Mapping[tuple[str, ...], Mapping[str, str]] = {
    ("measurements", "*", "aperture"): {"center": "centre", "center_mm": "centre_mm"},
    ("power",): {"normalization": "normalisation"},
    ("form",): {"normalization": "normalisation"},
}

_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")


class SpecWarning(UserWarning):
    """A spec that is valid but probably not what was meant (a gap between bands, ...)."""


# --------------------------------------------------------------------------- the draft

@dataclass
class BandEntry:
    """One ``[[bands]]`` table: its index, raw table, path and the band (``None`` if
    the table is invalid; its limit keys are still read, to report their problems)."""

    index: int
    table: Mapping[str, Any]
    path: Path_
    band: Band | None


@dataclass
class SpecDraft:
    """The spec while it is read: what criterion types need to build their criteria.

    ``tables`` holds the raw tables of the core sections present (``"power"``,
    ``"form"``, ``"psd"``: (path, table)); ``power``, ``form``, ``psd`` their
    parsed models (``None`` when the section is absent or invalid);
    ``bands`` every ``[[bands]]`` entry. A type adds each criterion with
    :meth:`add` and reports problems through ``ctx``.
    """

    ctx: SpecContext
    doc: Mapping[str, Any]
    measurements: dict[str, Measurement]
    tables: dict[str, tuple[Path_, Mapping[str, Any]]] = field(default_factory=dict)
    power: Power | None = None
    form: Form | None = None
    bands: list[BandEntry] = field(default_factory=list)
    psd: PsdLimitLine | None = None
    #: the spec's decision rule and noise correction, given to every criterion by :meth:`add`
    decision_rule: str = "simple"
    noise_correction: bool = False
    part: Part | None = None
    composite: CompositeOptions = field(default_factory=CompositeOptions)
    _added: list[tuple[tuple[Any, ...], Criterion]] = field(default_factory=list)
    _ids: dict[str, Path_] = field(default_factory=dict)

    def add(self, criterion: Criterion, path: Path_, *rank: Any) -> None:
        """Add ``criterion`` (written at ``path``); ``rank`` orders it within its section."""
        if criterion.id in self._ids:
            self.ctx.error(path, f"criterion id {criterion.id!r} is defined twice")
            return
        self._ids[criterion.id] = path
        criterion = dataclasses.replace(criterion, decision_rule=self.decision_rule,
                                        noise_correction=self.noise_correction)
        sec = type(criterion).SECTION
        sec_key = (SECTION_RANK[sec], "") if sec in SECTION_RANK else (len(SECTION_RANK), sec)
        names = list(self.measurements)
        # criteria on the composite PSD (all files of the part) come after every measurement
        meas = names.index(criterion.measurement) if criterion.measurement in names \
            else len(names)
        self._added.append(((meas, sec_key, rank), criterion))

    def path_of(self, criterion: Criterion) -> Path_:
        """The key path ``criterion`` was written at."""
        return self._ids[criterion.id]

    @property
    def criteria(self) -> list[Criterion]:
        """The criteria added so far (in the order they were added)."""
        return [c for _, c in self._added]

    def ordered(self) -> tuple[Criterion, ...]:
        """The criteria in spec order (measurement, section, rank within the section)."""
        return tuple(c for _, c in sorted(self._added, key=lambda x: x[0]))

    def measurement_ref(self, tbl: Mapping[str, Any], path: Path_, *,
                        allow_composite: bool = False) -> str | None:
        """The declared measurement ``tbl`` names (``measurement = "..."``), or ``None``;
        ``allow_composite``: ``"composite"`` (the part's composite PSD) is accepted too."""
        return _measurement_ref(self.ctx, tbl, path, self.measurements,
                                allow_composite=allow_composite)

    def has_form_terms(self) -> bool:
        """Whether ``[form]`` gives a form-term range (``fit_first_term``/``fit_last_term``)."""
        got = self.tables.get("form")
        return got is not None and ("fit_first_term" in got[1] or "fit_last_term" in got[1])


# --------------------------------------------------------------------------- shared helpers

def _measurement_ref(ctx: SpecContext, tbl: Mapping[str, Any], path: Path_,
                     declared: Mapping[str, Any], *, allow_composite: bool = False
                     ) -> str | None:
    name = string(ctx, tbl, path, "measurement", required=True)
    if name == COMPOSITE:
        if allow_composite:
            return name
        ctx.error((*path, "measurement"), f"{COMPOSITE!r} (the part's composite PSD) is not "
                  "accepted here; it judges bands, the PSD limit line and scatter only")
        return None
    if name is not None and name not in declared:
        if ctx.failed_under(("measurements",)) and not declared:
            return None           # [measurements] itself is broken; that error says it
        ctx.error((*path, "measurement"),
                  f"undeclared measurement {name!r}{suggest(name, declared)}; declared: "
                  f"{', '.join(declared) or '(none)'}")
        return None
    return name


def _length(ctx: SpecContext, tbl: Mapping[str, Any], path: Path_, key: str, *,
            required: bool = False) -> float | None:
    return number(ctx, tbl, path, key, required=required, positive=True, le=LENGTH_MAX_MM)


def _or_list(keys: list[str]) -> str:
    return keys[0] if len(keys) == 1 else ", ".join(keys[:-1]) + " or " + keys[-1]


def _limit_keys(section: str, prefix: str) -> list[str]:
    """The limit keys of ``section`` in words: tables as ``[prefix.key]``."""
    tables = {k.split(".", 1)[0] for c in criterion_types() if c.SECTION == section
              for k in c.KEYS if "." in k}
    return [f"[{prefix}.{k}]" if k in tables else k for k in section_keys(section)]


# --------------------------------------------------------------------------- document checks

def _check_depth(ctx: SpecContext, doc: Mapping[str, Any]) -> None:
    """Refuse values nested deeper than :data:`MAX_DEPTH` (iteratively, no recursion)."""
    stack: list[tuple[Path_, Any]] = [((), doc)]
    while stack:
        path, v = stack.pop()
        if len(path) > MAX_DEPTH:
            ctx.error(path[:MAX_DEPTH + 1], f"nested more than {MAX_DEPTH} levels deep; a spec "
                                            "needs at most 4")
            return
        if isinstance(v, dict):
            stack.extend(((*path, k), x) for k, x in v.items())
        elif isinstance(v, list):
            stack.extend(((*path, i), x) for i, x in enumerate(v))


def _apply_aliases(ctx: SpecContext, doc: dict[str, Any]) -> None:
    """Rename deprecated spellings to the canonical keys, in place, with a warning each."""
    for pattern, names in ALIASES.items():
        for path, tbl in _tables_at(doc, pattern):
            for old, new in names.items():
                if old not in tbl:
                    continue
                if new in tbl:
                    ctx.error((*path, old), f"{old!r} is a deprecated spelling of {new!r}, "
                                            f"which is also given; keep {new!r}")
                    del tbl[old]   # reported once: no follow-on "unknown key"
                    continue
                ctx.renamed[(*path, new)] = (*path, old)
                ctx.warn((*path, new), f"{old!r} is a deprecated spelling; write {new!r} "
                                       "(docs/conventions.md, Vocabulary)")
                items = list(tbl.items())
                tbl.clear()
                tbl.update((new if k == old else k, v) for k, v in items)


def _tables_at(doc: dict[str, Any], pattern: tuple[str, ...]
               ) -> list[tuple[Path_, dict[str, Any]]]:
    found: list[tuple[Path_, Any]] = [((), doc)]
    for part in pattern:
        nxt: list[tuple[Path_, Any]] = []
        for path, t in found:
            if not isinstance(t, dict):
                continue
            keys = list(t) if part == "*" else [part] if part in t else []
            nxt.extend(((*path, k), t[k]) for k in keys)
        found = nxt
    return [(p, t) for p, t in found if isinstance(t, dict)]


# --------------------------------------------------------------------------- sections

def _parse_part(ctx: SpecContext, doc: Mapping[str, Any]) -> Part | None:
    t = table(ctx, doc, (), "part", required=True)
    if t is None:
        return None
    p: Path_ = ("part",)
    check_keys(ctx, t, p, ("name", "material", "surface_id", "test_wavelength_nm", "drawing",
                           "notes"))
    name = string(ctx, t, p, "name", required=True)
    return Part(name=name or "", material=string(ctx, t, p, "material"),
                surface_id=string(ctx, t, p, "surface_id"),
                test_wavelength_nm=number(ctx, t, p, "test_wavelength_nm", positive=True,
                                          le=1e7),
                drawing=string(ctx, t, p, "drawing"), notes=string(ctx, t, p, "notes"))


def _parse_preprocessing(ctx: SpecContext, parent: Mapping[str, Any], path: Path_,
                         default: Preprocessing) -> Preprocessing:
    t = table(ctx, parent, path, "preprocessing")
    if t is None:
        return default
    p = (*path, "preprocessing")
    check_keys(ctx, t, p, ("remove",))
    remove = str_list(ctx, t, p, "remove", choices=REMOVABLE)
    return default if remove is None else Preprocessing(remove=remove)


def _parse_aperture(ctx: SpecContext, m: Mapping[str, Any], path: Path_) -> Aperture | None:
    t = table(ctx, m, path, "aperture")
    if t is None:
        return None
    p = (*path, "aperture")
    check_keys(ctx, t, p, ("diameter_mm", "r_norm_mm", "centre", "centre_mm",
                           "centre_tolerance_mm"))
    d = _length(ctx, t, p, "diameter_mm", required=True)
    r = _length(ctx, t, p, "r_norm_mm")
    tol = _length(ctx, t, p, "centre_tolerance_mm")
    centre = string(ctx, t, p, "centre", choices=CENTRES)
    cxy: tuple[float, float] | None = None
    raw = t.get("centre_mm", MISSING)
    if raw is not MISSING:
        if (not isinstance(raw, list) or len(raw) != 2 or any(
                isinstance(c, bool) or not isinstance(c, int | float) or not math.isfinite(c)
                for c in raw)):
            bad_type(ctx, (*p, "centre_mm"), "[x, y] in mm (two finite numbers)", raw)
        elif any(abs(c) > LENGTH_MAX_MM for c in raw):
            ctx.error((*p, "centre_mm"), f"centre_mm = {raw!r} is not a plausible position "
                                         f"(|x|, |y| <= {LENGTH_MAX_MM:g} mm)")
        else:
            cxy = (float(raw[0]), float(raw[1]))
    if "centre" in t and isinstance(t["centre"], list):
        ctx.error((*p, "centre"), "centre is 'data' or 'given'; a position goes in "
                                  "centre_mm = [x, y]")
    if centre is None:
        centre = "given" if cxy is not None else "data"
    if centre == "given" and cxy is None and "centre_mm" not in t:
        ctx.error((*p, "centre"), "centre = 'given' needs centre_mm = [x, y]")
    if d is None:
        return None
    if r is None:
        r = d / 2.0
    elif r < d / 2.0 * (1 - REL_TOL):
        ctx.error((*p, "r_norm_mm"), f"r_norm_mm = {r:g} is smaller than the clear-aperture "
                                     f"radius {d / 2:g} mm: the aperture would reach rho > 1")
    return Aperture(diameter_mm=d, r_norm_mm=r, centre=centre,  # type: ignore[arg-type]
                    centre_mm=cxy, centre_tolerance_mm=tol)


def _parse_match(ctx: SpecContext, m: Mapping[str, Any], path: Path_) -> Match:
    t = table(ctx, m, path, "match")
    if t is None:
        return Match(meta=ro({}), filename=())
    p = (*path, "match")
    check_keys(ctx, t, p, ("meta", "filename"))
    meta: dict[str, Any] = {}
    mt = table(ctx, t, p, "meta")
    for k, v in (mt or {}).items():
        if isinstance(v, str | int | float) and not (isinstance(v, float) and not math.isfinite(v)):
            meta[k] = v
        else:
            bad_type(ctx, (*p, "meta", k), "a string (glob), number or boolean", v)
    fn = str_list(ctx, t, p, "filename", allow_scalar=True) or ()
    return Match(meta=ro(meta), filename=fn)


def _parse_requirements(ctx: SpecContext, m: Mapping[str, Any], path: Path_) -> Requirements:
    t = table(ctx, m, path, "requirements")
    if t is None:
        return Requirements()
    p = (*path, "requirements")
    check_keys(ctx, t, p, ("min_valid_fraction", "min_pixels_across", "min_sites"))
    mvf = number(ctx, t, p, "min_valid_fraction", positive=True, le=1.0)
    mpa = number(ctx, t, p, "min_pixels_across", positive=True, integer=True, le=1e6)
    if mpa is not None and mpa < 2:
        ctx.error((*p, "min_pixels_across"), f"must be >= 2, got {mpa}")
    ms = number(ctx, t, p, "min_sites", positive=True, integer=True, le=1e4)
    return Requirements(min_valid_fraction=mvf, min_pixels_across=mpa, min_sites=ms)


def _parse_reference(ctx: SpecContext, m: Mapping[str, Any], path: Path_) -> Match | None:
    """``[measurements.NAME.reference]``: ``match.filename`` globs of the reference file."""
    t = table(ctx, m, path, "reference")
    if t is None:
        return None
    p = (*path, "reference")
    check_keys(ctx, t, p, ("match",))
    mt = table(ctx, t, p, "match", required=True)
    if mt is None:
        return None
    check_keys(ctx, mt, (*p, "match"), ("filename",))
    fn = str_list(ctx, mt, (*p, "match"), "filename", allow_scalar=True)
    if not fn:
        ctx.error((*p, "match", "filename"), "a reference needs match.filename = [globs] (the "
                                             "file names of the calibrated reference map)")
        return None
    return Match(meta=ro({}), filename=fn)


def _parse_wavefront(ctx: SpecContext, m: Mapping[str, Any], path: Path_,
                     part: Part | None) -> Wavefront | None:
    """``[measurements.NAME.wavefront]``: the files hold a wavefront; how it relates to the
    surface (the conversion is validated here, with the part's material and wavelength)."""
    t = table(ctx, m, path, "wavefront")
    if t is None:
        return None
    p = (*path, "wavefront")
    check_keys(ctx, t, p, ("mode", "passes", "angle_deg"))
    mode = string(ctx, t, p, "mode", required=True, choices=WAVEFRONT_MODES)
    passes = number(ctx, t, p, "passes", default=1, integer=True, positive=True, le=2)
    angle = number(ctx, t, p, "angle_deg", default=0.0, ge=0.0, le=89.0)
    if mode is None or passes is None or angle is None:
        return None
    mat = part.material if part is not None else None
    lam = part.test_wavelength_nm if part is not None else None
    if mode == "transmission":
        if angle:
            ctx.error((*p, "angle_deg"), "transmission is converted at normal incidence only")
            return None
        if not mat or lam is None:
            ctx.error((*p, "mode"), "a wavefront in transmission needs [part] material and "
                                    "test_wavelength_nm (the index n(lambda) of the material)")
            return None
    from ..errors import MetrologyError
    from ..wavefront import surface_wavefront

    try:
        conv = surface_wavefront(mode, int(passes), angle_deg=float(angle),
                                 material=mat if mode == "transmission" else None,
                                 wavelength_nm=lam)
    except MetrologyError as exc:
        ctx.error((*p, "mode"), f"cannot convert this wavefront to surface heights: {exc}")
        return None
    return Wavefront(mode=mode, passes=int(passes),  # type: ignore[arg-type]
                     angle_deg=float(angle), material=conv.material, wavelength_nm=lam,
                     factor=conv.factor, description=conv.description)


def _parse_measurements(ctx: SpecContext, doc: Mapping[str, Any], default_pre: Preprocessing,
                        part: Part | None = None) -> dict[str, Measurement]:
    t = table(ctx, doc, (), "measurements", required=True)
    out: dict[str, Measurement] = {}
    if t is None:
        return out
    if not t:
        ctx.error(("measurements",), "declare at least one measurement")
    for name, m in t.items():
        p: Path_ = ("measurements", name)
        if not _NAME_RE.match(name):
            ctx.error(p, f"measurement name {name!r} may use only letters, digits, '_' and '-'")
            continue
        if name == COMPOSITE:
            ctx.error(p, f"{COMPOSITE!r} is reserved (measurement = \"composite\" means the "
                         "part's composite PSD of all files); rename the measurement")
            continue
        if not isinstance(m, dict):
            bad_type(ctx, p, "a table", m)
            continue
        check_keys(ctx, m, p, ("instrument", "description", "match", "aperture",
                               "preprocessing", "requirements", "repeats", "reference",
                               "wavefront", "read", *_ITF_KEYS))
        cutoff, itf = _parse_itf(ctx, m, p)
        out[name] = Measurement(
            name=name,
            instrument=string(ctx, m, p, "instrument", required=True, choices=INSTRUMENTS)
            or "",
            description=string(ctx, m, p, "description"),
            match=_parse_match(ctx, m, p),
            aperture=_parse_aperture(ctx, m, p),
            preprocessing=_parse_preprocessing(ctx, m, p, default_pre),
            requirements=_parse_requirements(ctx, m, p),
            repeats=boolean(ctx, m, p, "repeats", False),
            reference=_parse_reference(ctx, m, p),
            wavefront=_parse_wavefront(ctx, m, p, part),
            itf_cutoff_per_mm=cutoff, itf=itf,
            read=_parse_read(ctx, m, p),
        )
    return out


def _parse_read(ctx: SpecContext, m: Mapping[str, Any], path: Path_) -> ReadOptions | None:
    """``[measurements.NAME.read]``: how to read files that do not say (``dx_mm``,
    ``dy_mm``, ``z_unit``, ``format``, ``override_spacing``;
    :mod:`metrology.read_options`)."""
    t = table(ctx, m, path, "read")
    if t is None:
        return None
    p = (*path, "read")
    check_keys(ctx, t, p, READ_KEYS)
    dx, dy = _length(ctx, t, p, "dx_mm"), _length(ctx, t, p, "dy_mm")
    if dy is not None and "dx_mm" not in t:
        ctx.error((*p, "dy_mm"), "dy_mm needs dx_mm (dy_mm alone would leave x uncalibrated)")
    z_unit = string(ctx, t, p, "z_unit")
    if z_unit is not None:
        try:
            z_unit = normalise_z_unit(z_unit)
        except ValueError as exc:
            ctx.error((*p, "z_unit"), str(exc))
            z_unit = None
    fmt = string(ctx, t, p, "format")
    if fmt is not None:
        from ..io import formats

        readable = [f["name"] for f in formats() if f["read"]]
        if fmt not in readable:
            ctx.error((*p, "format"), f"{fmt!r} is not a format read here{suggest(fmt, readable)}"
                                      f"; one of {', '.join(readable)}")
            fmt = None
    override = boolean(ctx, t, p, "override_spacing", False)
    if override and "dx_mm" not in t:
        ctx.error((*p, "override_spacing"), "override_spacing needs dx_mm (the spacing that "
                  "replaces the files' own)")
    opts = ReadOptions(dx_mm=dx, dy_mm=dy, z_unit=z_unit, format=fmt,
                       override_spacing=override)
    return opts or None


_ITF_KEYS = ("itf_cutoff_per_mm", "itf_f_per_mm", "itf_values", "itf_max_psd_correction")


def _float_array(ctx: SpecContext, tbl: Mapping[str, Any], path: Path_, key: str
                 ) -> tuple[float, ...] | None:
    raw = tbl.get(key, MISSING)
    if raw is MISSING:
        return None
    if (not isinstance(raw, list) or len(raw) < 2 or any(
            isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x)
            for x in raw)):
        bad_type(ctx, (*path, key), "an array of at least two finite numbers", raw)
        return None
    if len(raw) > 10000:
        ctx.error((*path, key), f"{len(raw)} values: at most 10000")
        return None
    return tuple(float(x) for x in raw)


def _parse_itf(ctx: SpecContext, m: Mapping[str, Any], p: Path_
               ) -> tuple[float | None, ItfTable | None]:
    """``itf_cutoff_per_mm`` or the table ``itf_f_per_mm`` / ``itf_values`` (with
    ``itf_max_psd_correction``, default 4) of one measurement."""
    cutoff = number(ctx, m, p, "itf_cutoff_per_mm", positive=True)
    if cutoff is not None:
        _plausible_f(ctx, (*p, "itf_cutoff_per_mm"), cutoff, "itf_cutoff_per_mm =")
    f = _float_array(ctx, m, p, "itf_f_per_mm")
    v = _float_array(ctx, m, p, "itf_values")
    corr = number(ctx, m, p, "itf_max_psd_correction", positive=True, le=1e6)
    given = [k for k in ("itf_f_per_mm", "itf_values") if k in m]
    if len(given) == 1:
        other = "itf_values" if given[0] == "itf_f_per_mm" else "itf_f_per_mm"
        ctx.error((*p, other), f"a tabulated ITF needs both itf_f_per_mm and itf_values "
                               f"({given[0]} is given)")
    if "itf_max_psd_correction" in m and not given:
        ctx.error((*p, "itf_max_psd_correction"), "itf_max_psd_correction applies to a "
                  "tabulated ITF (itf_f_per_mm, itf_values)")
    if corr is not None and corr < 1:
        ctx.error((*p, "itf_max_psd_correction"), f"must be >= 1 (a factor the PSD may be "
                  f"multiplied by), got {corr:g}")
        corr = None
    if f is None or v is None:
        return cutoff, None
    if len(f) != len(v):
        ctx.error((*p, "itf_values"), f"{len(v)} values for {len(f)} frequencies")
        return cutoff, None
    if any(b <= a for a, b in zip(f, f[1:], strict=False)) or f[0] < 0:
        ctx.error((*p, "itf_f_per_mm"), "frequencies must be >= 0 and strictly increasing")
        return cutoff, None
    if any(not 0 < x <= 1 + 1e-9 for x in v):
        ctx.error((*p, "itf_values"), "ITF values are amplitude transfer factors in (0, 1]")
        return cutoff, None
    return cutoff, ItfTable(f_per_mm=f, values=v, max_psd_correction=corr or 4.0)


def _plausible_f(ctx: SpecContext, path: Path_, f: float, what: str) -> bool:
    if F_MIN_PER_MM <= f <= F_MAX_PER_MM:
        return True
    ctx.error(path, f"{what} {f:g} /mm is not a plausible spatial frequency "
                    f"({F_MIN_PER_MM:g} to {F_MAX_PER_MM:g} cycles/mm)")
    return False


def _freq_range(ctx: SpecContext, t: Mapping[str, Any], p: Path_
                ) -> tuple[float, float, float, float, str] | None:
    """(f_lo, f_hi, period_max, period_min, given_as) from f_lo/f_hi or period_mm."""
    has_f = "f_lo_per_mm" in t or "f_hi_per_mm" in t
    if has_f and "period_mm" in t:
        ctx.error((*p, "period_mm"), "give either f_lo_per_mm/f_hi_per_mm or period_mm, not both")
        return None
    if "period_mm" in t:
        raw = t["period_mm"]
        pp = (*p, "period_mm")
        if (not isinstance(raw, list) or len(raw) != 2 or any(
                isinstance(x, bool) or not isinstance(x, int | float) for x in raw)):
            bad_type(ctx, pp, "[longest, shortest] period in mm (two numbers)", raw)
            return None
        long_, short = float(raw[0]), float(raw[1])
        if not (math.isfinite(long_) and math.isfinite(short)) or short <= 0:
            ctx.error(pp, f"periods must be finite and > 0, got {raw!r}")
            return None
        if long_ <= short:
            ctx.error(pp, f"period_mm = [longest, shortest] needs longest > shortest, got {raw!r} "
                          "(an empty band)")
            return None
        if not (_plausible_f(ctx, pp, 1.0 / long_, "1 / longest period =")
                and _plausible_f(ctx, pp, 1.0 / short, "1 / shortest period =")):
            return None
        return 1.0 / long_, 1.0 / short, long_, short, "period"
    lo = number(ctx, t, p, "f_lo_per_mm", required=True, positive=True)
    hi = number(ctx, t, p, "f_hi_per_mm", required=True, positive=True)
    if lo is None or hi is None:
        return None
    if not (_plausible_f(ctx, (*p, "f_lo_per_mm"), lo, "f_lo_per_mm =")
            and _plausible_f(ctx, (*p, "f_hi_per_mm"), hi, "f_hi_per_mm =")):
        return None
    if lo >= hi:
        ctx.error((*p, "f_lo_per_mm"), f"f_lo_per_mm = {lo:g} must be below f_hi_per_mm = {hi:g} "
                                       "(an empty band)")
        return None
    return lo, hi, 1.0 / lo, 1.0 / hi, "frequency"


def _parse_bands(ctx: SpecContext, doc: Mapping[str, Any], ms: Mapping[str, Measurement]
                 ) -> list[BandEntry]:
    raw = doc.get("bands", MISSING)
    if raw is MISSING:
        return []
    if not isinstance(raw, list) or not all(isinstance(b, dict) for b in raw):
        bad_type(ctx, ("bands",), "an array of tables ([[bands]])", raw)
        return []
    limits = list(section_keys("bands"))
    out: list[BandEntry] = []
    names: set[str] = set()
    for i, t in enumerate(raw):
        p: Path_ = ("bands", i)
        check_keys(ctx, t, p, ("name", "measurement", "kind", "f_lo_per_mm", "f_hi_per_mm",
                               "period_mm", "direction", "filter", *limits))
        name = string(ctx, t, p, "name", required=True)
        if name is not None:
            if not _NAME_RE.match(name):
                ctx.error((*p, "name"), f"band name {name!r} may use only letters, digits, "
                                        "'_' and '-'")
            elif name in names:
                ctx.error((*p, "name"), f"band name {name!r} is used twice")
            names.add(name)
        meas = _measurement_ref(ctx, t, p, ms, allow_composite=True)
        kind = string(ctx, t, p, "kind", required=True, choices=BAND_KINDS)
        flt = string(ctx, t, p, "filter", default=BAND_FILTERS[0], choices=BAND_FILTERS)
        direction = string(ctx, t, p, "direction", choices=DIRECTIONS)
        if kind == "areal" and direction is not None:
            ctx.error((*p, "direction"), "an areal band has no direction (profile bands only)")
        if kind == "profile" and direction is None:
            direction = "x"
        rng = _freq_range(ctx, t, p)
        if limits and not any(k in t for k in limits):
            ctx.missing((*p, limits[0]), f"a band needs {' and/or '.join(limits)}")
        band = None
        if None not in (name, meas, kind, rng, flt):
            lo, hi, pmax, pmin, given = rng  # type: ignore[misc]
            band = Band(name=name, measurement=meas, kind=kind,  # type: ignore[arg-type]
                        f_lo_per_mm=lo, f_hi_per_mm=hi, period_max_mm=pmax,
                        period_min_mm=pmin, given_as=given,  # type: ignore[arg-type]
                        direction=direction, filter=flt)  # type: ignore[arg-type]
        out.append(BandEntry(index=i, table=t, path=p, band=band))
    return out


def _check_segment_line(ctx: SpecContext, sp: Path_, a: float, b: float,
                        lo: float, hi: float) -> bool:
    """A segment's line must stay finite and non-zero over its range (in log space)."""
    for f in (lo, hi):
        lg = math.log10(a) - b * math.log10(f)
        if not -_LOG10_PSD_MAX <= lg <= _LOG10_PSD_MAX:
            ctx.error((*sp, "b"), f"the line a f^-b = {a:g} f^-{b:g} is 1e{lg:.0f} nm^2 mm at "
                                  f"{f:g} /mm: not a PSD limit (it would pass or fail "
                                  "everything)")
            return False
    return True


def _parse_psd(ctx: SpecContext, doc: Mapping[str, Any]) -> PsdLimitLine | None:
    t = table(ctx, doc, (), "psd")
    if t is None:
        return None
    p: Path_ = ("psd",)
    check_keys(ctx, t, p, ("kind", "sidedness", "direction", "bins_per_decade", "factor_max",
                           "segments", "measurement", *section_keys("psd")))
    kind = string(ctx, t, p, "kind", required=True, choices=PSD_KINDS)
    side = string(ctx, t, p, "sidedness", default="one-sided", choices=SIDEDNESS)
    direction = string(ctx, t, p, "direction", choices=DIRECTIONS)
    meas = None
    if "measurement" in t:
        meas = string(ctx, t, p, "measurement", choices=(COMPOSITE,))
        if meas is None:
            return None
    if kind in ("radial", "areal") and direction is not None:
        ctx.error((*p, "direction"), f"a {kind} PSD has no direction (profile PSDs only)")
    if kind == "areal" and "sidedness" in t and side != "one-sided":
        ctx.error((*p, "sidedness"), "sidedness applies to a 1-D (profile) line; a 2-D "
                                     "(areal) line is the full-plane PSD")
    if kind == "profile" and direction is None:
        direction = "x"
    bpd = number(ctx, t, p, "bins_per_decade", default=DEFAULT_BINS_PER_DECADE, positive=True,
                 integer=True, le=BINS_PER_DECADE_MAX)
    fac = number(ctx, t, p, "factor_max", default=DEFAULT_FACTOR_MAX, limit=True,
                 le=FACTOR_MAX_MAX)
    raw = t.get("segments", MISSING)
    if raw is MISSING or raw == []:
        ctx.error((*p, "segments"), "a PSD limit needs at least one [[psd.segments]]")
        return None
    if not isinstance(raw, list) or not all(isinstance(s, dict) for s in raw):
        bad_type(ctx, (*p, "segments"), "an array of tables ([[psd.segments]])", raw)
        return None
    # the coefficient's unit is part of its key: nm^2 mm for a 1-D (profile or radial)
    # line, nm^2 mm^2 for a 2-D (areal) line
    a_key = "a_nm2_mm2" if kind == "areal" else "a_nm2_mm"
    other = "a_nm2_mm" if kind == "areal" else "a_nm2_mm2"
    segs: list[tuple[int, PsdSegment]] = []
    given: list[tuple[float, float, float, float]] = []
    for i, s in enumerate(raw):
        sp = (*p, "segments", i)
        check_keys(ctx, s, sp, (a_key, other, "b", "f_lo_per_mm", "f_hi_per_mm", "period_mm"))
        if other in s and kind is not None:
            ctx.error((*sp, other), f"a {kind} line gives A as {a_key!r} ("
                      + ("nm^2 mm^2, the 2-D PSD" if kind == "areal" else "nm^2 mm")
                      + f"); {other!r} belongs to "
                      + ("a profile or radial line" if kind == "areal" else "kind = 'areal'"))
            continue
        a = number(ctx, s, sp, a_key, required=True, limit=True)
        b = number(ctx, s, sp, "b", required=True, ge=-PSD_B_MAX, le=PSD_B_MAX)
        rng = _freq_range(ctx, s, sp)
        if a is None or b is None or rng is None:
            continue
        if kind == "areal":
            # an isotropic surface's 2-D line A f^-B is the radial line 2 pi A f^-(B-1)
            aj, bj = 2.0 * math.pi * a, b - 1.0
        else:
            aj, bj = a, b
        if _check_segment_line(ctx, sp, aj, bj, rng[0], rng[1]):
            segs.append((i, PsdSegment(a_nm2_mm=aj, b=bj, f_lo_per_mm=rng[0],
                                       f_hi_per_mm=rng[1])))
            given.append((a, b, rng[0], rng[1]))
    order = sorted(range(len(segs)), key=lambda k: segs[k][1].f_lo_per_mm)
    segs = [segs[k] for k in order]
    given = [given[k] for k in order]
    overlap = False
    for (_, s0), (i1, s1) in zip(segs, segs[1:], strict=False):
        if s1.f_lo_per_mm < s0.f_hi_per_mm * (1 - REL_TOL):
            ctx.error((*p, "segments", i1, "f_lo_per_mm"),
                      f"segment overlaps the one ending at {s0.f_hi_per_mm:g} /mm: the line "
                      "would be ambiguous")
            overlap = True
        elif s1.f_lo_per_mm > s0.f_hi_per_mm * (1 + REL_TOL):
            ctx.warn((*p, "segments", i1), f"PSD limit line has no segment on "
                     f"{s0.f_hi_per_mm:g}-{s1.f_lo_per_mm:g} /mm")
    if (kind is None or side is None or bpd is None or fac is None or len(segs) != len(raw)
            or overlap):
        return None
    notation = ""
    if kind == "areal":
        notation = ("ISO 10110-8 2-D (areal) PSD limit " + "; ".join(
            f"A = {a:g} nm^2 mm^2, B = {b:g} over {lo:g}-{hi:g} /mm" for a, b, lo, hi in given)
            + "; judged as the radial PSD line 2 pi A f^-(B-1) nm^2 mm (isotropic surface)")
        kind, side = "radial", "one-sided"
    return PsdLimitLine(kind=kind, sidedness=side, direction=direction,  # type: ignore[arg-type]
                        segments=tuple(s for _, s in segs), bins_per_decade=bpd, factor_max=fac,
                        measurement=meas, notation=notation,
                        dimension="2d" if notation else "1d")


def _parse_composite(ctx: SpecContext, doc: Mapping[str, Any],
                     ms: Mapping[str, Measurement]) -> CompositeOptions:
    """``[composite]``: how the part's composite PSD is built (every key optional)."""
    t = table(ctx, doc, (), "composite")
    if t is None:
        return CompositeOptions()
    p: Path_ = ("composite",)
    check_keys(ctx, t, p, ("measurements", "combine", "overlap_factor", "strict_overlap",
                           "bins_per_decade", "f_min_k"))
    names = str_list(ctx, t, p, "measurements")
    for i, n in enumerate(names or ()):
        if n not in ms and not ctx.failed_under(("measurements",)):
            ctx.error((*p, "measurements", i), f"undeclared measurement {n!r}"
                      f"{suggest(n, ms)}; declared: {', '.join(ms) or '(none)'}")
    if names == ():
        ctx.error((*p, "measurements"), "an empty list: the composite would have no file")
    combine = string(ctx, t, p, "combine", default="inverse-variance", choices=COMBINE_RULES)
    fac = number(ctx, t, p, "overlap_factor", default=2.0, positive=True, le=FACTOR_MAX_MAX)
    if fac is not None and fac <= 1.0:
        ctx.error((*p, "overlap_factor"), f"must be > 1 (a PSD ratio either way), got {fac:g}")
        fac = 2.0
    bpd = number(ctx, t, p, "bins_per_decade", default=20, positive=True, integer=True,
                 le=200)
    k = number(ctx, t, p, "f_min_k", default=6.0, positive=True, le=1000)
    if k is not None and k < 1:
        ctx.error((*p, "f_min_k"), f"f_min = k / L needs k >= 1, got {k:g}")
        k = 6.0
    return CompositeOptions(
        measurements=tuple(names or ()), combine=combine or "inverse-variance",  # type: ignore
        overlap_factor=fac or 2.0, strict_overlap=boolean(ctx, t, p, "strict_overlap", False),
        bins_per_decade=bpd or 20, f_min_k=k or 6.0)


_ZERNIKE_KEYS = ("measurement", "scheme", "normalisation")


def _zernike_common(ctx: SpecContext, t: Mapping[str, Any], p: Path_,
                    ms: Mapping[str, Measurement], what: str
                    ) -> tuple[Measurement | None, str | None, str | None]:
    name = _measurement_ref(ctx, t, p, ms)
    scheme = string(ctx, t, p, "scheme", default="fringe", choices=SCHEMES)
    norm = string(ctx, t, p, "normalisation", default="rms", choices=NORMALISATIONS)
    meas = ms.get(name) if name else None
    if meas is not None and meas.aperture is None:
        if not ctx.failed_under(("measurements", meas.name, "aperture")):
            ctx.error((*p, "measurement"), f"{what} on measurement {name!r} needs its clear "
                      f"aperture ([measurements.{name}.aperture], which sets R_norm)")
        meas = None
    return meas, scheme, norm


def _scheme_index(ctx: SpecContext, p: Path_, scheme: str, n: int, m: int) -> int | None:
    try:
        return spec_index(scheme, n, m)
    except SpecError as exc:
        ctx.error(p, str(exc))
        return None


def _parse_power(draft: SpecDraft) -> None:
    ctx, doc = draft.ctx, draft.doc
    t = table(ctx, doc, (), "power")
    if t is None:
        return
    p: Path_ = ("power",)
    draft.tables["power"] = (p, t)
    check_keys(ctx, t, p, (*_ZERNIKE_KEYS, *section_keys("power")))
    meas, scheme, norm = _zernike_common(ctx, t, p, draft.measurements, "a power limit")
    if meas is None or scheme is None or norm is None:
        return
    j = _scheme_index(ctx, p, scheme, 2, 0)
    if j is not None:
        draft.power = Power(measurement=meas.name, scheme=scheme, normalisation=norm, index=j,
                            r_norm_mm=meas.aperture.r_norm_mm)  # type: ignore[union-attr]


def _parse_form(draft: SpecDraft) -> None:
    """The ``[form]`` section: the Zernike model (scheme, normalisation, form terms, the
    joint fit); its limits are read by the criterion types of section ``"form"``."""
    ctx, doc = draft.ctx, draft.doc
    t = table(ctx, doc, (), "form")
    if t is None:
        return
    p: Path_ = ("form",)
    draft.tables["form"] = (p, t)
    check_keys(ctx, t, p, (*_ZERNIKE_KEYS, "fit_first_term", "fit_last_term",
                           *section_keys("form")))
    meas, scheme, norm = _zernike_common(ctx, t, p, draft.measurements, "a form limit")
    first = number(ctx, t, p, "fit_first_term", integer=True)
    last = number(ctx, t, p, "fit_last_term", integer=True)
    limits = section_keys("form")
    if not any(k in t for k in limits):
        ctx.error(p, f"[form] sets no limit ({_or_list(_limit_keys('form', 'form'))})")
    if ("fit_first_term" in t) != ("fit_last_term" in t):
        ctx.error((*p, "fit_last_term" if "fit_first_term" in t else "fit_first_term"),
                  "give both fit_first_term and fit_last_term (an inclusive range)")
    if meas is None or scheme is None or norm is None:
        return

    # form terms: the inclusive index range, checked against the scheme
    fit: list[int] = []
    if first is not None and last is not None:
        lo_ok = -1 if scheme == "ansi" else 0
        if first <= lo_ok or last < first:
            ctx.error((*p, "fit_first_term" if first <= lo_ok else "fit_last_term"),
                      f"fit range {first}..{last} is empty or starts below the first "
                      f"{scheme} index")
        else:
            try:
                for j in (first, last):
                    check_index_bound(scheme, j)
                fit = list(range(first, last + 1))
            except SpecError as exc:
                ctx.error((*p, "fit_last_term"), str(exc))
    removed = removed_indices(meas, scheme)
    pw_j: list[int] = []
    pw = draft.power
    if pw is not None and pw.measurement == meas.name:
        pj = _scheme_index(ctx, ("power",), scheme, 2, 0)
        pw_j = [pj] if pj is not None else []
    clash = sorted(set(fit) & set(removed))
    if clash:
        ctx.error((*p, "fit_first_term"), f"the form terms include {zlist(scheme, clash)}, "
                  f"which preprocessing removes from {meas.name!r}; start the fit above them")
    if set(fit) & set(pw_j):
        ctx.error((*p, "fit_first_term"), "the form terms include power, which [power] "
                  "tolerances on its own; start the fit above it")
    joint = tuple(sorted(set(removed) | set(pw_j) | set(fit)))
    below = [j for j in range(fit[0]) if j not in joint and j >= (0 if scheme == "ansi" else 1)
             ] if fit else []
    if below:
        ctx.warn(p, "terms below the form fit that are neither removed nor toleranced stay "
                    f"in the residual: {zlist(scheme, below)}")
    draft.form = Form(measurement=meas.name, scheme=scheme, normalisation=norm,
                      fit_terms=tuple(fit), joint_fit_terms=joint,
                      r_norm_mm=meas.aperture.r_norm_mm)  # type: ignore[union-attr]


def _coverage_warnings(ctx: SpecContext, ms: Mapping[str, Measurement],
                       entries: list[BandEntry], form: Form | None) -> None:
    """Warn about gaps between 1/CA and the top band edge not covered by bands or form."""
    bands = [(e.index, e.band) for e in entries if e.band is not None]
    if not bands:
        return
    cas = [m.aperture.diameter_mm for m in ms.values() if m.aperture is not None]
    f_end = max(b.f_hi_per_mm for _, b in bands)
    f_start = 1.0 / max(cas) if cas else min(b.f_lo_per_mm for _, b in bands)
    cover = [(b.f_lo_per_mm, b.f_hi_per_mm) for _, b in bands]
    if form is not None and form.fit_terms:
        ca = ms[form.measurement].aperture.diameter_mm  # type: ignore[union-attr]
        n_max = max(spec_order(form.scheme, j)[0] for j in form.fit_terms)
        # radial order n has about n/2 cycles across the diameter: up to f ~ n / (2 CA)
        cover.append((1.0 / ca, n_max / (2.0 * ca)))
    cur = f_start
    for lo, hi in merge_ranges(cover):
        if hi <= cur * (1 + REL_TOL):
            continue
        if lo > cur * (1 + REL_TOL):
            ctx.warn(("bands",), f"no band covers {cur:.4g}-{lo:.4g} /mm (periods "
                     f"{1 / cur:.4g}-{1 / lo:.4g} mm) between 1/CA = {f_start:.4g} /mm and the "
                     f"highest band edge {f_end:g} /mm; a full-band spec should tile this range "
                     "(set full_band = false if it is not meant to)")
        cur = max(cur, hi)
    # resolvability with the required sampling (conventions: about 2/L to 1/(2 dx))
    for i, b in bands:
        m = ms.get(b.measurement)        # None: a band on the composite PSD
        if m is None or m.aperture is None:
            continue
        ca = m.aperture.diameter_mm
        if b.f_lo_per_mm < 2.0 / ca * (1 - REL_TOL):
            ctx.warn(("bands", i, "f_lo_per_mm"), f"band {b.name} starts at {b.f_lo_per_mm:g} /mm, "
                     f"below 2/CA = {2 / ca:.4g} /mm, the lowest frequency a Ø{ca:g} mm map "
                     "resolves")
        npx = m.requirements.min_pixels_across
        if npx is not None and b.f_hi_per_mm > npx / (2.0 * ca) * (1 + REL_TOL):
            ctx.warn(("bands", i, "f_hi_per_mm"), f"band {b.name} reaches {b.f_hi_per_mm:g} /mm "
                     f"but min_pixels_across = {npx} over Ø{ca:g} mm only guarantees a Nyquist "
                     f"frequency of {npx / (2 * ca):.4g} /mm")


def removal_of(draft: SpecDraft, name: str) -> Removal:
    """What measurement ``name`` removes before its criteria (:class:`Removal`)."""
    from ..criteria._base import residual_request
    from ..zernike_schemes import TERMS, term_members

    meas = draft.measurements[name]
    pre = tuple(meas.preprocessing.remove)
    pre_orders = tuple(o for t in pre for o in term_members(*TERMS[t]))
    req = residual_request([c for c in draft.ordered() if c.measurement == name])
    fit_orders = tuple(spec_order(req.scheme, j) for j in req.joint_fit_terms) if req else ()
    radius = meas.aperture.diameter_mm / 2.0 if meas.aperture is not None else None
    return Removal(measurement=name, preprocessing=pre, preprocessing_orders=pre_orders,
                   before_psd_orders=tuple(dict.fromkeys(pre_orders + fit_orders)),
                   radius_mm=radius)


def _check_removals(draft: SpecDraft) -> None:
    """A criterion whose quantity its measurement's preprocessing removes or changes is a
    spec error at its key path (:meth:`Criterion.preprocessing_conflict`), never a pass."""
    removals = {name: removal_of(draft, name) for name in draft.measurements}
    for c in draft.ordered():
        for name in c.conflict_measurements():
            if name not in removals:
                continue
            msg = c.preprocessing_conflict(removals[name])
            if msg:
                draft.ctx.error(draft.path_of(c), msg)
                break


def _parse_reporting(ctx: SpecContext, doc: Mapping[str, Any], part: Part | None
                     ) -> tuple[str, bool, tuple[str, ...]]:
    """The top-level ``decision_rule``, ``noise_correction`` and ``display_units``."""
    from ..units import DISPLAY_UNITS

    rule = string(ctx, doc, (), "decision_rule", default="simple", choices=DECISION_RULES)
    corr = boolean(ctx, doc, (), "noise_correction", False)
    units = str_list(ctx, doc, (), "display_units", choices=DISPLAY_UNITS) or ()
    if any(u in ("waves", "fringes") for u in units) and (
            part is None or part.test_wavelength_nm is None):
        ctx.error(("display_units",), "waves and fringes need the test wavelength: set "
                                      "[part] test_wavelength_nm")
    return rule or "simple", corr, units


# --------------------------------------------------------------------------- assembly

_CORE_TOP = ("schema", "description", "full_band", "part", "preprocessing", "measurements",
             "power", "form", "bands", "psd", "composite", "decision_rule", "noise_correction",
             "display_units")


def _top_level_keys() -> tuple[str, ...]:
    extra = [c.SECTION for c in criterion_types() if c.SECTION not in SECTION_RANK]
    return (*_CORE_TOP, *dict.fromkeys(extra))


def _build(text: str, source: str, digest: str) -> Spec:
    ctx = SpecContext(text, source)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"invalid spec: {source}: not valid TOML: {exc}") from None
    except RecursionError:
        raise SpecError(f"invalid spec: {source}: values are nested too deeply to read "
                        f"(a spec nests at most {MAX_DEPTH} levels)") from None
    _check_depth(ctx, doc)
    ctx.raise_if_problems()
    schema = doc.get("schema", MISSING)
    if schema is MISSING:
        ctx.error(("schema",), f"missing key 'schema' (this version reads schema = {SCHEMA!r})")
    elif schema != SCHEMA:
        ctx.error(("schema",), f"unsupported schema {schema!r}; this version reads {SCHEMA!r}")
    ctx.raise_if_problems()   # another schema: the rest would only be noise

    _apply_aliases(ctx, doc)
    check_keys(ctx, doc, (), _top_level_keys())
    description = string(ctx, doc, (), "description")
    full_band = boolean(ctx, doc, (), "full_band", True)
    part = _parse_part(ctx, doc)
    default_pre = _parse_preprocessing(ctx, doc, (), Preprocessing())
    rule, noise_corr, display = _parse_reporting(ctx, doc, part)
    draft = SpecDraft(ctx=ctx, doc=doc,
                      measurements=_parse_measurements(ctx, doc, default_pre, part),
                      decision_rule=rule, noise_correction=noise_corr)
    draft.part = part
    draft.composite = _parse_composite(ctx, doc, draft.measurements)
    _parse_power(draft)
    _parse_form(draft)
    draft.bands = _parse_bands(ctx, doc, draft.measurements)
    draft.psd = _parse_psd(ctx, doc)
    if "psd" in doc and isinstance(doc["psd"], dict):
        draft.tables["psd"] = (("psd",), doc["psd"])
    for ctype in criterion_types():
        ctype.from_spec(draft)
    if not ctx.problems:
        _check_removals(draft)
    ctx.raise_if_problems()
    assert part is not None

    if full_band:
        _coverage_warnings(ctx, draft.measurements, draft.bands, draft.form)
    return Spec(schema=SCHEMA, source=source, sha256=digest, description=description,
                full_band=full_band, part=part, measurements=ro(draft.measurements),
                form=draft.form, bands=tuple(e.band for e in draft.bands if e.band is not None),
                psd=draft.psd, criteria=draft.ordered(), warnings=tuple(ctx.warnings),
                power=draft.power, composite=draft.composite, decision_rule=rule,
                noise_correction=noise_corr, display_units=display)


def _emit(spec: Spec) -> None:
    for w in spec.warnings:
        warnings.warn(w, SpecWarning, stacklevel=3)


def parse_spec(text: str, source: str = "<string>") -> Spec:
    """Validate spec text (TOML, ``schema = "metrology.spec/1"``) into a :class:`Spec`.

    Parameters
    ----------
    text : str
        The TOML document.
    source : str
        Name used in messages (a path, or ``"<string>"``).

    Returns
    -------
    Spec
        ``sha256`` is the hash of ``text`` encoded as UTF-8. Warnings (gaps
        between bands, deprecated spellings, ...) are issued as
        :class:`SpecWarning` and kept in ``Spec.warnings``.

    Raises
    ------
    SpecError
        On any problem, naming key path and line of every one found;
        ``err.problems`` lists them as dicts ``{path, line, message}``.
    """
    if not isinstance(text, str):
        raise SpecError(f"spec text must be a str, got {type(text).__name__}")
    spec = _build(text, source, hashlib.sha256(text.encode("utf-8")).hexdigest())
    _emit(spec)
    return spec


def load_spec(path: str | os.PathLike[str]) -> Spec:
    """Read and validate a spec file; see :func:`parse_spec`.

    ``Spec.sha256`` is the SHA-256 of the file's bytes. The file is only read.

    Raises
    ------
    SpecError
        Unreadable file, not UTF-8, not TOML, or invalid spec.
    """
    p = os.fspath(path)
    try:
        with open(p, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise SpecError(f"cannot read spec file {p}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(f"invalid spec: {p}: not UTF-8 text ({exc.reason} at byte "
                        f"{exc.start})") from None
    spec = _build(text, p, hashlib.sha256(raw).hexdigest())
    _emit(spec)
    return spec
