"""Lens specs as code: the ``metrology.spec/1`` TOML schema, its loader and validator.

A spec file declares the **measurements** of one surface (a full-aperture
Fizeau map, microscope sites, ...), how a file is recognised as each of them,
and the **criteria** each measurement is judged on. :func:`load_spec` reads and
strictly validates such a file into an immutable :class:`Spec`; the check
engine consumes :attr:`Spec.criteria`, a flat, ordered tuple of typed criteria
with stable ids.

Units are part of the key names (``rms_nm_max``, ``f_lo_per_mm``,
``period_mm``, ``diameter_mm``, ``slope_urad_max``, ``a_nm2_mm``): nm, mm,
cycles/mm and µrad as in ``CONVENTIONS.md``. A key without its unit, an
unknown or misspelt key, a wrong type, a negative limit, an empty band or a
reference to an undeclared measurement raises :class:`metrology.SpecError`
naming the key path (``bands[1].rms_nm_mx``, indices from 0) and the line.
The schema reference is ``docs/spec-schema.md``; the shipped examples are in
``datasets/specs/``.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import hashlib
import math
import os
import re
import tomllib
import types
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, ClassVar, Literal

import numpy as np

from . import zernike_schemes as _schemes
from .errors import ConventionError, SpecError

__all__ = [
    "SCHEMA",
    "SpecWarning",
    "load_spec",
    "parse_spec",
    "Spec",
    "Part",
    "Match",
    "Aperture",
    "Preprocessing",
    "Requirements",
    "Measurement",
    "Band",
    "PsdSegment",
    "PsdLimitLine",
    "Form",
    "Criterion",
    "RequirementCriterion",
    "ZernikeTermCriterion",
    "PowerCriterion",
    "ZernikeOtherTermsCriterion",
    "FormResidualCriterion",
    "PVrCriterion",
    "BandCriterion",
    "BandSlopeCriterion",
    "PsdLimitCriterion",
]

SCHEMA = "metrology.spec/1"

INSTRUMENTS = ("fizeau", "csi", "afm", "profilometer", "other")
SCHEMES = ("fringe", "noll", "ansi")
NORMALISATIONS = ("rms", "peak")
REMOVABLE = ("piston", "tilt", "power", "astigmatism")
BAND_KINDS = ("areal", "profile")
DIRECTIONS = ("x", "y")
PSD_KINDS = ("profile", "radial")
SIDEDNESS = ("one-sided", "two-sided")
CENTRES = ("data", "given")

DEFAULT_REMOVE = ("piston", "tilt")
DEFAULT_BINS_PER_DECADE = 10
DEFAULT_FACTOR_MAX = 2.0

#: Names of Zernike terms and pairs, as (n, |m|). A pair (m != 0) is judged by
#: its magnitude sqrt(c_cos^2 + c_sin^2).
TERM_NAMES: Mapping[str, tuple[int, int]] = types.MappingProxyType({
    "piston": (0, 0),
    "tilt": (1, 1),
    "power": (2, 0),
    "astigmatism": (2, 2),
    "coma": (3, 1),
    "spherical": (4, 0),
    "trefoil": (3, 3),
    "secondary_astigmatism": (4, 2),
    "secondary_coma": (5, 1),
    "secondary_spherical": (6, 0),
    "tetrafoil": (4, 4),
    "secondary_trefoil": (5, 3),
})

_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_UNIT_TOKENS = frozenset({"nm", "mm", "per", "urad", "nm2"})
_REL_TOL = 1e-9


class SpecWarning(UserWarning):
    """A spec that is valid but probably not what was meant (a gap between bands, ...)."""


# --------------------------------------------------------------------------- Zernike indices

def _zernike_order(scheme: str, index: int) -> tuple[int, int]:
    """``(n, m)`` of a term (:func:`metrology.zernike_schemes.zernike_nm`), as a SpecError."""
    try:
        return _schemes.zernike_nm(scheme, int(index))
    except ConventionError as exc:
        raise SpecError(str(exc)) from None


def _zernike_index(scheme: str, n: int, m: int) -> int:
    """Index of the term ``(n, m)`` in ``scheme``, as a SpecError on failure."""
    try:
        return _schemes.zernike_index(scheme, int(n), int(m))
    except ConventionError as exc:
        raise SpecError(str(exc)) from None


def _name_orders(n: int, am: int) -> tuple[tuple[int, int], ...]:
    return ((n, 0),) if am == 0 else ((n, am), (n, -am))


# --------------------------------------------------------------------------- data model

def _ro(d: Mapping[str, Any]) -> Mapping[str, Any]:
    return types.MappingProxyType(dict(d))


@dataclass(frozen=True, kw_only=True)
class Part:
    """What is measured: part name, material, surface id, test wavelength (nm)."""

    name: str
    material: str | None = None
    surface_id: str | None = None
    test_wavelength_nm: float | None = None
    drawing: str | None = None
    notes: str | None = None


@dataclass(frozen=True, kw_only=True)
class Match:
    """How a file is recognised as a measurement.

    A file matches when its metadata matches *every* entry of ``meta`` (string
    values are case-insensitive globs, other values must be equal), **or** its
    file name (the last path component) matches *any* of the ``filename`` globs
    (case-insensitive). No rule at all: only ``--as NAME`` assigns files.
    """

    meta: Mapping[str, str | int | float | bool]
    filename: tuple[str, ...]

    def matches(self, filename: str | os.PathLike[str] | None = None,
                meta: Mapping[str, Any] | None = None) -> bool:
        """Whether a file with this name and metadata is this measurement."""
        if self.meta and meta is not None and all(
                _meta_value_matches(meta.get(k, _MISSING), p) for k, p in self.meta.items()):
            return True
        if filename is not None and self.filename:
            base = PurePath(os.fspath(filename)).name.lower()
            return any(fnmatch.fnmatchcase(base, p.lower()) for p in self.filename)
        return False


def _meta_value_matches(value: Any, pattern: Any) -> bool:
    if value is _MISSING:
        return False
    if isinstance(pattern, str):
        return fnmatch.fnmatchcase(str(value).lower(), pattern.lower())
    if isinstance(pattern, bool) or isinstance(value, bool):
        return value is pattern
    try:
        return float(value) == float(pattern)
    except (TypeError, ValueError):
        return False


@dataclass(frozen=True, kw_only=True)
class Aperture:
    """Clear aperture of a measurement.

    ``diameter_mm`` is the clear aperture (CA); ``r_norm_mm`` the Zernike
    normalisation radius (default CA/2); ``centre`` is ``"data"`` (found from
    the valid region of each file) or ``"given"`` (then ``centre_mm`` = (x, y)
    in the map frame, mm).
    """

    diameter_mm: float
    r_norm_mm: float
    centre: Literal["data", "given"] = "data"
    centre_mm: tuple[float, float] | None = None

    @property
    def radius_mm(self) -> float:
        """Clear-aperture radius in mm."""
        return self.diameter_mm / 2.0


@dataclass(frozen=True, kw_only=True)
class Preprocessing:
    """Terms removed (joint least squares, ``CONVENTIONS.md``) before every criterion."""

    remove: tuple[str, ...] = DEFAULT_REMOVE


@dataclass(frozen=True, kw_only=True)
class Requirements:
    """Minimum data quality of a measurement; ``None`` = not required."""

    min_valid_fraction: float | None = None
    min_pixels_across: int | None = None
    min_sites: int | None = None


@dataclass(frozen=True, kw_only=True)
class Measurement:
    """One declared measurement of the surface (``[measurements.NAME]``)."""

    name: str
    instrument: str
    description: str | None
    match: Match
    aperture: Aperture | None
    preprocessing: Preprocessing
    requirements: Requirements

    @property
    def min_sites(self) -> int:
        """Number of sites (files) needed; 1 unless ``requirements.min_sites`` says more."""
        return self.requirements.min_sites or 1


@dataclass(frozen=True, kw_only=True)
class Band:
    """A spatial-frequency band ``f_lo_per_mm <= |f| < f_hi_per_mm``.

    Both descriptions are kept: ``period_max_mm = 1 / f_lo_per_mm`` and
    ``period_min_mm = 1 / f_hi_per_mm``; ``given_as`` says which one the file
    used. ``kind`` is ``"areal"`` (sum of 2-D PSD cells) or ``"profile"``
    (1-D PSD along ``direction``); they differ for the same surface.
    """

    name: str
    measurement: str
    kind: Literal["areal", "profile"]
    f_lo_per_mm: float
    f_hi_per_mm: float
    period_max_mm: float
    period_min_mm: float
    given_as: Literal["frequency", "period"]
    direction: Literal["x", "y"] | None
    rms_nm_max: float | None
    slope_urad_max: float | None


@dataclass(frozen=True, kw_only=True)
class PsdSegment:
    """One piece ``P(f) = a_nm2_mm * f**(-b)`` of a PSD limit line on ``[f_lo, f_hi)``.

    ``f`` in cycles/mm, ``P`` in nm²·mm (``a_nm2_mm`` is the value at 1 /mm).
    """

    a_nm2_mm: float
    b: float
    f_lo_per_mm: float
    f_hi_per_mm: float

    def value_nm2_mm(self, f_per_mm: Any) -> Any:
        """The line at ``f_per_mm`` (scalar or array), ignoring the segment's range."""
        return self.a_nm2_mm * np.asarray(f_per_mm, dtype=np.float64) ** (-self.b)


@dataclass(frozen=True, kw_only=True)
class PsdLimitLine:
    """A piecewise power-law PSD limit (``[psd]``).

    ``kind`` ``"profile"`` (1-D PSD along ``direction``, ``sidedness``) or
    ``"radial"``; both in nm²·mm. The measured PSD, averaged in
    ``bins_per_decade`` logarithmic bins, passes when every bin is at most
    ``factor_max`` times the line.
    """

    kind: Literal["profile", "radial"]
    sidedness: Literal["one-sided", "two-sided"]
    direction: Literal["x", "y"] | None
    segments: tuple[PsdSegment, ...]
    bins_per_decade: int = DEFAULT_BINS_PER_DECADE
    factor_max: float = DEFAULT_FACTOR_MAX

    @property
    def f_lo_per_mm(self) -> float:
        return self.segments[0].f_lo_per_mm

    @property
    def f_hi_per_mm(self) -> float:
        return self.segments[-1].f_hi_per_mm

    def value_nm2_mm(self, f_per_mm: Any) -> Any:
        """The limit line at ``f_per_mm`` (cycles/mm), NaN where no segment applies."""
        f = np.asarray(f_per_mm, dtype=np.float64)
        out = np.full(f.shape, np.nan)
        for s in self.segments:
            sel = (f >= s.f_lo_per_mm) & (f < s.f_hi_per_mm)
            out[sel] = s.value_nm2_mm(f[sel])
        return out if out.ndim else float(out)

    def clip(self, f_lo_per_mm: float, f_hi_per_mm: float) -> PsdLimitLine | None:
        """The part of the line inside ``[f_lo, f_hi)``, or ``None`` when empty."""
        segs = []
        for s in self.segments:
            lo, hi = max(s.f_lo_per_mm, f_lo_per_mm), min(s.f_hi_per_mm, f_hi_per_mm)
            if hi > lo * (1 + _REL_TOL):
                segs.append(dataclasses.replace(s, f_lo_per_mm=lo, f_hi_per_mm=hi))
        return dataclasses.replace(self, segments=tuple(segs)) if segs else None


@dataclass(frozen=True, kw_only=True)
class Form:
    """The Zernike model of the form (``[form]``), for fits and reports.

    ``fit_terms`` are the form terms (indices in ``scheme``); ``joint_fit_terms``
    everything fitted jointly by least squares (removed terms, power, form
    terms) with normalisation radius ``r_norm_mm`` about the measurement's
    aperture centre. The residual is the surface minus that joint fit.
    """

    measurement: str
    scheme: str
    normalisation: str
    fit_terms: tuple[int, ...]
    joint_fit_terms: tuple[int, ...]
    r_norm_mm: float


@dataclass(frozen=True, kw_only=True)
class Criterion:
    """One line of a verdict: a quantity of one measurement against a limit.

    ``bound`` is ``"max"`` (pass when value <= limit) or ``"min"`` (pass when
    value >= limit). ``TYPE`` names the kind of criterion in reports.
    """

    TYPE: ClassVar[str] = "criterion"

    id: str
    measurement: str
    limit: float
    unit: str
    bound: Literal["max", "min"] = "max"
    description: str = ""

    def within(self, value: float) -> bool:
        """Whether ``value`` (in ``unit``) meets the limit; NaN never does."""
        if not math.isfinite(value):
            return False
        return value <= self.limit if self.bound == "max" else value >= self.limit

    def margin(self, value: float) -> float:
        """Distance to the limit in ``unit``, positive when within."""
        return self.limit - value if self.bound == "max" else value - self.limit


@dataclass(frozen=True, kw_only=True)
class RequirementCriterion(Criterion):
    """Data-quality minimum: ``quantity`` is ``valid_fraction`` (valid pixels /
    pixels inside the clear aperture, or the whole field without one),
    ``pixels_across`` (pixels across the CA diameter, or the shorter side of
    the field) or ``sites`` (number of files of the measurement)."""

    TYPE: ClassVar[str] = "requirement"
    quantity: Literal["valid_fraction", "pixels_across", "sites"]


@dataclass(frozen=True, kw_only=True)
class ZernikeTermCriterion(Criterion):
    """``sqrt(sum c_j^2)`` over ``terms`` (one term, or a cos/sin pair: its
    magnitude), in nm, from the joint least-squares fit of ``joint_fit_terms``
    with ``r_norm_mm`` and the measurement's aperture centre. ``terms[i]`` (an
    index in ``scheme``) is the term ``orders[i] = (n, m)``; cosine first."""

    TYPE: ClassVar[str] = "zernike_term"
    label: str
    scheme: str
    normalisation: str
    terms: tuple[int, ...]
    orders: tuple[tuple[int, int], ...]
    joint_fit_terms: tuple[int, ...]
    r_norm_mm: float


@dataclass(frozen=True, kw_only=True)
class PowerCriterion(ZernikeTermCriterion):
    """Power (n, m) = (2, 0) toleranced on its own (``[power]``)."""

    TYPE: ClassVar[str] = "power"


@dataclass(frozen=True, kw_only=True)
class ZernikeOtherTermsCriterion(Criterion):
    """Every fitted form term without a limit of its own: the value is the
    largest group magnitude, a group being a cos/sin pair or one m = 0 term."""

    TYPE: ClassVar[str] = "zernike_other"
    scheme: str
    normalisation: str
    groups: tuple[tuple[int, ...], ...]
    joint_fit_terms: tuple[int, ...]
    r_norm_mm: float


@dataclass(frozen=True, kw_only=True)
class FormResidualCriterion(Criterion):
    """``statistic`` (``rms`` or ``pv``, nm) of the residual: the surface minus
    the joint least-squares fit of ``joint_fit_terms`` (the removed terms, the
    toleranced terms and the form terms ``fit_terms``). Without form terms the
    residual is the surface after preprocessing."""

    TYPE: ClassVar[str] = "form_residual"
    statistic: Literal["rms", "pv"]
    scheme: str
    fit_terms: tuple[int, ...]
    joint_fit_terms: tuple[int, ...]
    r_norm_mm: float


@dataclass(frozen=True, kw_only=True)
class PVrCriterion(Criterion):
    """Robust PV (Evans 2009): PV of the form fit ``sum_{j in fit_terms} c_j Z_j``
    over the aperture plus 3 × RMS of the residual (see
    :class:`FormResidualCriterion`), nm."""

    TYPE: ClassVar[str] = "pvr"
    scheme: str
    fit_terms: tuple[int, ...]
    joint_fit_terms: tuple[int, ...]
    r_norm_mm: float


@dataclass(frozen=True, kw_only=True)
class BandCriterion(Criterion):
    """Band-limited RMS height (nm) in ``band`` (areal or profile, ``CONVENTIONS.md``)."""

    TYPE: ClassVar[str] = "band_rms"
    band: Band


@dataclass(frozen=True, kw_only=True)
class BandSlopeCriterion(Criterion):
    """Band-limited RMS slope (µrad = nm/mm): sqrt(sum over the band of
    (2 pi |f|)^2 PSD df); areal bands use |f| (gradient magnitude), profile
    bands the frequency along ``band.direction``."""

    TYPE: ClassVar[str] = "band_slope"
    band: Band


@dataclass(frozen=True, kw_only=True)
class PsdLimitCriterion(Criterion):
    """The measured PSD against ``line`` (the spec's line clipped to this
    measurement's bands, ``f_ranges_per_mm``): value = the largest ratio
    bin / line over the log bins; ``limit`` is ``line.factor_max``."""

    TYPE: ClassVar[str] = "psd_limit"
    line: PsdLimitLine
    f_ranges_per_mm: tuple[tuple[float, float], ...]


@dataclass(frozen=True, kw_only=True)
class Spec:
    """A validated spec. Build with :func:`load_spec` or :func:`parse_spec`.

    ``criteria`` is ordered by measurement (declaration order), then
    requirements, power, Zernike terms, form residual, PVr, bands, PSD.
    ``sha256`` is the hash of the file's bytes (of the UTF-8 text for
    :func:`parse_spec`).
    """

    schema: str
    source: str
    sha256: str
    description: str | None
    full_band: bool
    part: Part
    measurements: Mapping[str, Measurement]
    form: Form | None
    bands: tuple[Band, ...]
    psd: PsdLimitLine | None
    criteria: tuple[Criterion, ...]
    warnings: tuple[str, ...] = ()

    def criteria_for(self, measurement: str) -> tuple[Criterion, ...]:
        """The criteria judged on ``measurement``, in spec order."""
        if measurement not in self.measurements:
            raise SpecError(f"spec {self.source} declares no measurement {measurement!r}"
                            f"{_suggest(measurement, self.measurements)}; "
                            f"declared: {', '.join(self.measurements)}")
        return tuple(c for c in self.criteria if c.measurement == measurement)

    def criterion(self, id: str) -> Criterion:
        """The criterion with this id."""
        for c in self.criteria:
            if c.id == id:
                return c
        raise SpecError(f"spec {self.source} has no criterion {id!r}"
                        f"{_suggest(id, [c.id for c in self.criteria])}")

    def matching_measurements(self, filename: str | os.PathLike[str] | None = None,
                              meta: Mapping[str, Any] | None = None) -> tuple[str, ...]:
        """Names of the measurements whose match rules accept this file."""
        return tuple(n for n, m in self.measurements.items() if m.match.matches(filename, meta))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the whole spec (criteria carry ``"type"``)."""
        return _jsonable(self)


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        d: dict[str, Any] = {}
        if isinstance(obj, Criterion):
            d["type"] = obj.TYPE
        for f in dataclasses.fields(obj):
            d[f.name] = _jsonable(getattr(obj, f.name))
        return d
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    return obj


# --------------------------------------------------------------------------- key locator

class _Scanner:
    """Best-effort map from key path to line number in TOML text that tomllib accepted."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.line = 1
        self.found: dict[tuple[Any, ...], int] = {}
        self.aot: dict[tuple[Any, ...], int] = {}   # array-of-tables path -> current index

    def _peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.s[j] if j < len(self.s) else ""

    def _adv(self, k: int = 1) -> None:
        for _ in range(k):
            if self.i < len(self.s):
                if self.s[self.i] == "\n":
                    self.line += 1
                self.i += 1

    def _ws(self, newlines: bool) -> None:
        while self.i < len(self.s):
            c = self.s[self.i]
            if c in " \t\r" or (newlines and c == "\n"):
                self._adv()
            elif c == "#":
                while self.i < len(self.s) and self.s[self.i] != "\n":
                    self._adv()
            else:
                break

    def _record(self, path: tuple[Any, ...], line: int) -> None:
        self.found.setdefault(path, line)

    def run(self) -> dict[tuple[Any, ...], int]:
        table: tuple[Any, ...] = ()
        while True:
            self._ws(newlines=True)
            if self.i >= len(self.s):
                return self.found
            if self._peek() == "[":
                table = self._header()
            else:
                self._keyval(table)

    def _header(self) -> tuple[Any, ...]:
        line = self.line
        is_aot = self._peek(1) == "["
        self._adv(2 if is_aot else 1)
        self._ws(False)
        parts = self._key()
        self._ws(False)
        self._adv(2 if is_aot else 1)
        path: tuple[Any, ...] = ()
        for k, p in enumerate(parts):
            path = (*path, p)
            if k < len(parts) - 1 and path in self.aot:
                path = (*path, self.aot[path])
        if is_aot:
            self.aot[path] = self.aot.get(path, -1) + 1
            self._record(path, line)
            path = (*path, self.aot[path])
        self._record(path, line)
        return path

    def _key(self) -> list[str]:
        parts: list[str] = []
        while True:
            self._ws(False)
            c = self._peek()
            if c in "\"'":
                parts.append(self._string())
            else:
                start = self.i
                while self._peek() and (self._peek().isalnum() or self._peek() in "_-"):
                    self._adv()
                if self.i == start:
                    raise ValueError("not a key")
                parts.append(self.s[start:self.i])
            self._ws(False)
            if self._peek() == ".":
                self._adv()
                continue
            return parts

    def _keyval(self, prefix: tuple[Any, ...]) -> None:
        line = self.line
        parts = self._key()
        for k in range(1, len(parts) + 1):
            self._record((*prefix, *parts[:k]), line)
        self._ws(False)
        if self._peek() != "=":
            raise ValueError("expected '='")
        self._adv()
        self._ws(False)
        self._value((*prefix, *parts))

    def _value(self, path: tuple[Any, ...]) -> None:
        c = self._peek()
        if c in "\"'":
            self._string()
        elif c == "[":
            self._adv()
            idx = 0
            while True:
                self._ws(newlines=True)
                if self._peek() in ("]", ""):
                    self._adv()
                    return
                self._record((*path, idx), self.line)
                self._value((*path, idx))
                self._ws(newlines=True)
                if self._peek() == ",":
                    self._adv()
                idx += 1
        elif c == "{":
            self._adv()
            while True:
                self._ws(False)
                if self._peek() in ("}", ""):
                    self._adv()
                    return
                self._keyval(path)
                self._ws(False)
                if self._peek() == ",":
                    self._adv()
        else:
            while self._peek() and self._peek() not in ",]}\n#":
                self._adv()

    def _string(self) -> str:
        q = self._peek()
        if self.s.startswith(q * 3, self.i):
            self._adv(3)
            start = self.i
            while self.i < len(self.s) and not self.s.startswith(q * 3, self.i):
                self._adv(2 if (q == '"' and self._peek() == "\\") else 1)
            out = self.s[start:self.i]
            self._adv(3)
            while self._peek() == q:         # up to two quotes may close the string
                self._adv()
            return out
        self._adv()
        start = self.i
        while self._peek() and self._peek() != q and self._peek() != "\n":
            self._adv(2 if (q == '"' and self._peek() == "\\") else 1)
        out = self.s[start:self.i]
        self._adv()
        if q == '"' and "\\" in out:
            try:
                out = tomllib.loads(f'k = "{out}"')["k"]
            except tomllib.TOMLDecodeError:
                pass
        return out


def _locate(text: str) -> dict[tuple[Any, ...], int]:
    sc = _Scanner(text)
    try:
        return sc.run()
    except (ValueError, IndexError):   # best effort: keep what was found
        return sc.found


def _fmt_path(path: Iterable[Any]) -> str:
    out = ""
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            key = p if _NAME_RE.match(p) else '"' + p.replace('"', '\\"') + '"'
            out += ("." if out else "") + key
    return out


# --------------------------------------------------------------------------- validation helpers

_MISSING = object()
Path_ = tuple[Any, ...]


class _Ctx:
    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self._lines: dict[Path_, int] | None = None
        self.problems: list[tuple[Path_, str]] = []
        self.warnings: list[str] = []
        self.suggested: set[Path_] = set()   # keys offered for a misspelt/unit-less key

    def missing(self, path: Path_, msg: str = "missing required key") -> None:
        """Report a missing key unless a misspelling of it was already reported."""
        if tuple(path) not in self.suggested:
            self.error(path, msg)

    def failed_under(self, path: Path_) -> bool:
        n = len(path)
        return any(p[:n] == tuple(path) for p, _ in self.problems)

    def line(self, path: Path_) -> int | None:
        if self._lines is None:
            self._lines = _locate(self.text)
        p = tuple(path)
        while p:
            if p in self._lines:
                return self._lines[p]
            p = p[:-1]
        return None

    def where(self, path: Path_) -> str:
        ln = self.line(path) if path else None
        head = f"{self.source}:{ln}" if ln is not None else self.source
        return f"{head}: {_fmt_path(path)}" if path else head

    def error(self, path: Path_, msg: str) -> None:
        self.problems.append((tuple(path), msg))

    def warn(self, path: Path_, msg: str) -> None:
        self.warnings.append(f"{self.where(path)}: {msg}")

    def raise_if_problems(self) -> None:
        if not self.problems:
            return
        rows = [(p, self.line(p), m) for p, m in self.problems]
        lines = [f"{self.where(p)}: {m}" for p, _, m in rows]
        if len(lines) == 1:
            msg = f"invalid spec: {lines[0]}"
        else:
            msg = f"invalid spec {self.source} ({len(lines)} problems):\n" + "\n".join(
                "  " + s for s in lines)
        err = SpecError(msg)
        err.problems = [  # type: ignore[attr-defined]
            {"path": _fmt_path(p), "line": ln, "message": m} for p, ln, m in rows]
        err.path = _fmt_path(rows[0][0])  # type: ignore[attr-defined]
        err.line = rows[0][1]  # type: ignore[attr-defined]
        err.source = self.source  # type: ignore[attr-defined]
        raise err


def _type_name(v: Any) -> str:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "table"
    return "date-time"


def _suggest(word: str, choices: Iterable[str]) -> str:
    m = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {m[0]!r}?" if m else ""


def _unit_stems(key: str) -> set[str]:
    toks = [t for t in key.split("_") if t not in _UNIT_TOKENS]
    stems = {"_".join(toks)}
    if toks and toks[-1] in ("max", "min"):
        stems.add("_".join(toks[:-1]))
    return stems - {key, ""}


def _check_keys(ctx: _Ctx, tbl: Mapping[str, Any], path: Path_, allowed: Iterable[str]) -> None:
    allowed = list(allowed)
    for k in tbl:
        if k in allowed:
            continue
        unitful = [a for a in allowed if k in _unit_stems(a)]
        if unitful:
            ctx.suggested.add((*path, unitful[0]))
            ctx.error((*path, k), f"key without its unit; write {unitful[0]!r} "
                                  "(units are part of key names: nm, mm, per_mm, urad, nm2_mm)")
        else:
            close = difflib.get_close_matches(k, allowed, n=1, cutoff=0.6)
            if close:
                ctx.suggested.add((*path, close[0]))
            hint = _suggest(k, allowed) or f"; allowed here: {', '.join(allowed)}"
            ctx.error((*path, k), f"unknown key{hint}")


def _bad_type(ctx: _Ctx, path: Path_, expected: str, v: Any) -> None:
    ctx.error(path, f"expected {expected}, got {_type_name(v)} {v!r}")


def _table(ctx: _Ctx, parent: Mapping[str, Any], path: Path_, key: str, *,
           required: bool = False) -> dict[str, Any] | None:
    v = parent.get(key, _MISSING)
    if v is _MISSING:
        if required:
            ctx.missing((*path, key), f"missing required table [{_fmt_path((*path, key))}]")
        return None
    if not isinstance(v, dict):
        _bad_type(ctx, (*path, key), "a table", v)
        return None
    return v


def _str(ctx: _Ctx, tbl: Mapping[str, Any], path: Path_, key: str, *, required: bool = False,
         default: str | None = None, choices: Iterable[str] | None = None) -> str | None:
    v = tbl.get(key, _MISSING)
    p = (*path, key)
    if v is _MISSING:
        if required:
            ctx.missing(p, "missing required key" + (
                f" (one of {', '.join(map(repr, choices))})" if choices else ""))
        return default
    if not isinstance(v, str):
        _bad_type(ctx, p, "a string", v)
        return default
    if choices is not None and v not in (choices := list(choices)):
        ctx.error(p, f"{v!r} is not one of {', '.join(map(repr, choices))}{_suggest(v, choices)}")
        return default
    return v


def _num(ctx: _Ctx, tbl: Mapping[str, Any], path: Path_, key: str, *, required: bool = False,
         default: float | None = None, limit: bool = False, positive: bool = False,
         le: float | None = None, integer: bool = False) -> Any:
    """A number. ``limit``: a positive tolerance; ``positive``: > 0; ``integer``: int only."""
    v = tbl.get(key, _MISSING)
    p = (*path, key)
    if v is _MISSING:
        if required:
            ctx.missing(p)
        return default
    if (isinstance(v, bool) or not isinstance(v, int | float)
            or (integer and not isinstance(v, int))):
        _bad_type(ctx, p, "an integer" if integer else "a number", v)
        return default
    if not math.isfinite(v):
        ctx.error(p, f"must be finite, got {v!r}")
        return default
    if limit and v < 0:
        ctx.error(p, f"negative limit {v!r}: a limit is a positive magnitude")
        return default
    if limit and v == 0:
        ctx.error(p, "a limit of 0 can never be met; give a positive value")
        return default
    if positive and v <= 0:
        ctx.error(p, f"must be > 0, got {v!r}")
        return default
    if le is not None and v > le:
        ctx.error(p, f"must be <= {le:g}, got {v!r}")
        return default
    return v if integer else float(v)


def _bool(ctx: _Ctx, tbl: Mapping[str, Any], path: Path_, key: str, default: bool) -> bool:
    v = tbl.get(key, _MISSING)
    if v is _MISSING:
        return default
    if not isinstance(v, bool):
        _bad_type(ctx, (*path, key), "a boolean (true or false)", v)
        return default
    return v


def _str_list(ctx: _Ctx, tbl: Mapping[str, Any], path: Path_, key: str, *,
              choices: Iterable[str] | None = None, allow_scalar: bool = False
              ) -> tuple[str, ...] | None:
    v = tbl.get(key, _MISSING)
    p = (*path, key)
    if v is _MISSING:
        return None
    if allow_scalar and isinstance(v, str):
        v = [v]
    if not isinstance(v, list):
        _bad_type(ctx, p, "an array of strings", v)
        return None
    out: list[str] = []
    ok = True
    for i, s in enumerate(v):
        if not isinstance(s, str):
            _bad_type(ctx, (*p, i), "a string", s)
            ok = False
        elif choices is not None and s not in (cs := list(choices)):
            ctx.error((*p, i), f"{s!r} is not one of {', '.join(map(repr, cs))}{_suggest(s, cs)}")
            ok = False
        elif s in out:
            ctx.error((*p, i), f"{s!r} is listed twice")
            ok = False
        else:
            out.append(s)
    return tuple(out) if ok else None


def _measurement_ref(ctx: _Ctx, tbl: Mapping[str, Any], path: Path_,
                     declared: Mapping[str, Any]) -> str | None:
    name = _str(ctx, tbl, path, "measurement", required=True)
    if name is not None and name not in declared:
        if ctx.failed_under(("measurements",)) and not declared:
            return None           # [measurements] itself is broken; that error says it
        ctx.error((*path, "measurement"),
                  f"undeclared measurement {name!r}{_suggest(name, declared)}; declared: "
                  f"{', '.join(declared) or '(none)'}")
        return None
    return name


# --------------------------------------------------------------------------- sections

def _parse_part(ctx: _Ctx, doc: Mapping[str, Any]) -> Part | None:
    t = _table(ctx, doc, (), "part", required=True)
    if t is None:
        return None
    p: Path_ = ("part",)
    _check_keys(ctx, t, p, ("name", "material", "surface_id", "test_wavelength_nm", "drawing",
                            "notes"))
    name = _str(ctx, t, p, "name", required=True)
    return Part(name=name or "", material=_str(ctx, t, p, "material"),
                surface_id=_str(ctx, t, p, "surface_id"),
                test_wavelength_nm=_num(ctx, t, p, "test_wavelength_nm", positive=True),
                drawing=_str(ctx, t, p, "drawing"), notes=_str(ctx, t, p, "notes"))


def _parse_preprocessing(ctx: _Ctx, parent: Mapping[str, Any], path: Path_,
                         default: Preprocessing) -> Preprocessing:
    t = _table(ctx, parent, path, "preprocessing")
    if t is None:
        return default
    p = (*path, "preprocessing")
    _check_keys(ctx, t, p, ("remove",))
    remove = _str_list(ctx, t, p, "remove", choices=REMOVABLE)
    return default if remove is None else Preprocessing(remove=remove)


def _parse_aperture(ctx: _Ctx, m: Mapping[str, Any], path: Path_) -> Aperture | None:
    t = _table(ctx, m, path, "aperture")
    if t is None:
        return None
    p = (*path, "aperture")
    _check_keys(ctx, t, p, ("diameter_mm", "r_norm_mm", "centre", "centre_mm"))
    d = _num(ctx, t, p, "diameter_mm", required=True, positive=True)
    r = _num(ctx, t, p, "r_norm_mm", positive=True)
    centre = _str(ctx, t, p, "centre", choices=CENTRES)
    cxy: tuple[float, float] | None = None
    raw = t.get("centre_mm", _MISSING)
    if raw is not _MISSING:
        if (not isinstance(raw, list) or len(raw) != 2 or any(
                isinstance(c, bool) or not isinstance(c, int | float) or not math.isfinite(c)
                for c in raw)):
            _bad_type(ctx, (*p, "centre_mm"), "[x, y] in mm (two finite numbers)", raw)
        else:
            cxy = (float(raw[0]), float(raw[1]))
    if "centre" in t and isinstance(t["centre"], list):
        ctx.error((*p, "centre"), "centre is 'data' or 'given'; a position goes in "
                                  "centre_mm = [x, y]")
    if centre is None:
        centre = "given" if cxy is not None else "data"
    if centre == "given" and cxy is None and "centre_mm" not in t:
        ctx.error((*p, "centre"), "centre = 'given' needs centre_mm = [x, y]")
    if centre == "data" and cxy is not None:
        ctx.error((*p, "centre_mm"), "centre_mm is given but centre = 'data'; drop one")
    if d is None:
        return None
    if r is None:
        r = d / 2.0
    elif r < d / 2.0 * (1 - _REL_TOL):
        ctx.error((*p, "r_norm_mm"), f"r_norm_mm = {r:g} is smaller than the clear-aperture "
                                     f"radius {d / 2:g} mm: the aperture would reach rho > 1")
    return Aperture(diameter_mm=d, r_norm_mm=r, centre=centre,  # type: ignore[arg-type]
                    centre_mm=cxy)


def _parse_match(ctx: _Ctx, m: Mapping[str, Any], path: Path_) -> Match:
    t = _table(ctx, m, path, "match")
    if t is None:
        return Match(meta=_ro({}), filename=())
    p = (*path, "match")
    _check_keys(ctx, t, p, ("meta", "filename"))
    meta: dict[str, Any] = {}
    mt = _table(ctx, t, p, "meta")
    for k, v in (mt or {}).items():
        if isinstance(v, str | int | float) and not (isinstance(v, float) and not math.isfinite(v)):
            meta[k] = v
        else:
            _bad_type(ctx, (*p, "meta", k), "a string (glob), number or boolean", v)
    fn = _str_list(ctx, t, p, "filename", allow_scalar=True) or ()
    return Match(meta=_ro(meta), filename=fn)


def _parse_requirements(ctx: _Ctx, m: Mapping[str, Any], path: Path_) -> Requirements:
    t = _table(ctx, m, path, "requirements")
    if t is None:
        return Requirements()
    p = (*path, "requirements")
    _check_keys(ctx, t, p, ("min_valid_fraction", "min_pixels_across", "min_sites"))
    mvf = _num(ctx, t, p, "min_valid_fraction", positive=True, le=1.0)
    mpa = _num(ctx, t, p, "min_pixels_across", positive=True, integer=True)
    if mpa is not None and mpa < 2:
        ctx.error((*p, "min_pixels_across"), f"must be >= 2, got {mpa}")
    ms = _num(ctx, t, p, "min_sites", positive=True, integer=True)
    return Requirements(min_valid_fraction=mvf, min_pixels_across=mpa, min_sites=ms)


def _parse_measurements(ctx: _Ctx, doc: Mapping[str, Any], default_pre: Preprocessing
                        ) -> dict[str, Measurement]:
    t = _table(ctx, doc, (), "measurements", required=True)
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
        if not isinstance(m, dict):
            _bad_type(ctx, p, "a table", m)
            continue
        _check_keys(ctx, m, p, ("instrument", "description", "match", "aperture",
                                "preprocessing", "requirements"))
        out[name] = Measurement(
            name=name,
            instrument=_str(ctx, m, p, "instrument", required=True, choices=INSTRUMENTS) or "",
            description=_str(ctx, m, p, "description"),
            match=_parse_match(ctx, m, p),
            aperture=_parse_aperture(ctx, m, p),
            preprocessing=_parse_preprocessing(ctx, m, p, default_pre),
            requirements=_parse_requirements(ctx, m, p),
        )
    return out


def _freq_range(ctx: _Ctx, t: Mapping[str, Any], p: Path_
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
            _bad_type(ctx, pp, "[longest, shortest] period in mm (two numbers)", raw)
            return None
        long_, short = float(raw[0]), float(raw[1])
        if not (math.isfinite(long_) and math.isfinite(short)) or short <= 0:
            ctx.error(pp, f"periods must be finite and > 0, got {raw!r}")
            return None
        if long_ <= short:
            ctx.error(pp, f"period_mm = [longest, shortest] needs longest > shortest, got {raw!r} "
                          "(an empty band)")
            return None
        return 1.0 / long_, 1.0 / short, long_, short, "period"
    lo = _num(ctx, t, p, "f_lo_per_mm", required=True, positive=True)
    hi = _num(ctx, t, p, "f_hi_per_mm", required=True, positive=True)
    if lo is None or hi is None:
        return None
    if lo >= hi:
        ctx.error((*p, "f_lo_per_mm"), f"f_lo_per_mm = {lo:g} must be below f_hi_per_mm = {hi:g} "
                                       "(an empty band)")
        return None
    return lo, hi, 1.0 / lo, 1.0 / hi, "frequency"


def _parse_bands(ctx: _Ctx, doc: Mapping[str, Any], ms: Mapping[str, Measurement]
                 ) -> list[Band]:
    raw = doc.get("bands", _MISSING)
    if raw is _MISSING:
        return []
    if not isinstance(raw, list) or not all(isinstance(b, dict) for b in raw):
        _bad_type(ctx, ("bands",), "an array of tables ([[bands]])", raw)
        return []
    out: list[Band] = []
    names: set[str] = set()
    for i, t in enumerate(raw):
        p: Path_ = ("bands", i)
        _check_keys(ctx, t, p, ("name", "measurement", "kind", "f_lo_per_mm", "f_hi_per_mm",
                                "period_mm", "direction", "rms_nm_max", "slope_urad_max"))
        name = _str(ctx, t, p, "name", required=True)
        if name is not None:
            if not _NAME_RE.match(name):
                ctx.error((*p, "name"), f"band name {name!r} may use only letters, digits, "
                                        "'_' and '-'")
            elif name in names:
                ctx.error((*p, "name"), f"band name {name!r} is used twice")
            names.add(name)
        meas = _measurement_ref(ctx, t, p, ms)
        kind = _str(ctx, t, p, "kind", required=True, choices=BAND_KINDS)
        direction = _str(ctx, t, p, "direction", choices=DIRECTIONS)
        if kind == "areal" and direction is not None:
            ctx.error((*p, "direction"), "an areal band has no direction (profile bands only)")
        if kind == "profile" and direction is None:
            direction = "x"
        rng = _freq_range(ctx, t, p)
        rms = _num(ctx, t, p, "rms_nm_max", limit=True)
        slope = _num(ctx, t, p, "slope_urad_max", limit=True)
        if "rms_nm_max" not in t and "slope_urad_max" not in t:
            ctx.missing((*p, "rms_nm_max"), "a band needs rms_nm_max and/or slope_urad_max")
        if None in (name, meas, kind, rng) or (rms is None and slope is None):
            continue
        lo, hi, pmax, pmin, given = rng  # type: ignore[misc]
        out.append(Band(name=name, measurement=meas, kind=kind,  # type: ignore[arg-type]
                        f_lo_per_mm=lo, f_hi_per_mm=hi, period_max_mm=pmax, period_min_mm=pmin,
                        given_as=given, direction=direction,  # type: ignore[arg-type]
                        rms_nm_max=rms, slope_urad_max=slope))
    return out


def _parse_psd(ctx: _Ctx, doc: Mapping[str, Any]) -> PsdLimitLine | None:
    t = _table(ctx, doc, (), "psd")
    if t is None:
        return None
    p: Path_ = ("psd",)
    _check_keys(ctx, t, p, ("kind", "sidedness", "direction", "bins_per_decade", "factor_max",
                            "segments"))
    kind = _str(ctx, t, p, "kind", required=True, choices=PSD_KINDS)
    side = _str(ctx, t, p, "sidedness", default="one-sided", choices=SIDEDNESS)
    direction = _str(ctx, t, p, "direction", choices=DIRECTIONS)
    if kind == "radial" and direction is not None:
        ctx.error((*p, "direction"), "a radial PSD has no direction (profile PSDs only)")
    if kind == "profile" and direction is None:
        direction = "x"
    bpd = _num(ctx, t, p, "bins_per_decade", default=DEFAULT_BINS_PER_DECADE, positive=True,
               integer=True)
    fac = _num(ctx, t, p, "factor_max", default=DEFAULT_FACTOR_MAX, limit=True)
    raw = t.get("segments", _MISSING)
    if raw is _MISSING or raw == []:
        ctx.error((*p, "segments"), "a PSD limit needs at least one [[psd.segments]]")
        return None
    if not isinstance(raw, list) or not all(isinstance(s, dict) for s in raw):
        _bad_type(ctx, (*p, "segments"), "an array of tables ([[psd.segments]])", raw)
        return None
    segs: list[tuple[int, PsdSegment]] = []
    for i, s in enumerate(raw):
        sp = (*p, "segments", i)
        _check_keys(ctx, s, sp, ("a_nm2_mm", "b", "f_lo_per_mm", "f_hi_per_mm", "period_mm"))
        a = _num(ctx, s, sp, "a_nm2_mm", required=True, limit=True)
        b = _num(ctx, s, sp, "b", required=True)
        rng = _freq_range(ctx, s, sp)
        if a is not None and b is not None and rng is not None:
            segs.append((i, PsdSegment(a_nm2_mm=a, b=b, f_lo_per_mm=rng[0], f_hi_per_mm=rng[1])))
    segs.sort(key=lambda x: x[1].f_lo_per_mm)
    for (_, s0), (i1, s1) in zip(segs, segs[1:], strict=False):
        if s1.f_lo_per_mm < s0.f_hi_per_mm * (1 - _REL_TOL):
            ctx.error((*p, "segments", i1, "f_lo_per_mm"),
                      f"segment overlaps the one ending at {s0.f_hi_per_mm:g} /mm: the line "
                      "would be ambiguous")
        elif s1.f_lo_per_mm > s0.f_hi_per_mm * (1 + _REL_TOL):
            ctx.warn((*p, "segments", i1), f"PSD limit line has no segment on "
                     f"{s0.f_hi_per_mm:g}-{s1.f_lo_per_mm:g} /mm")
    if kind is None or side is None or bpd is None or fac is None or len(segs) != len(raw):
        return None
    return PsdLimitLine(kind=kind, sidedness=side, direction=direction,  # type: ignore[arg-type]
                        segments=tuple(s for _, s in segs), bins_per_decade=bpd, factor_max=fac)


def _scheme_index(ctx: _Ctx, p: Path_, scheme: str, n: int, m: int) -> int | None:
    try:
        return _zernike_index(scheme, n, m)
    except SpecError as exc:
        ctx.error(p, str(exc))
        return None


def _removed_indices(meas: Measurement, scheme: str) -> list[int]:
    # every removable term (orders <= 2) exists in every scheme
    return [_zernike_index(scheme, n, m) for name in meas.preprocessing.remove
            for n, m in _name_orders(*TERM_NAMES[name])]


_ZERNIKE_KEYS = ("measurement", "scheme", "normalisation")


def _zernike_common(ctx: _Ctx, t: Mapping[str, Any], p: Path_,
                    ms: Mapping[str, Measurement], what: str
                    ) -> tuple[Measurement | None, str | None, str | None]:
    name = _measurement_ref(ctx, t, p, ms)
    scheme = _str(ctx, t, p, "scheme", default="fringe", choices=SCHEMES)
    norm = _str(ctx, t, p, "normalisation", default="rms", choices=NORMALISATIONS)
    meas = ms.get(name) if name else None
    if meas is not None and meas.aperture is None:
        if not ctx.failed_under(("measurements", meas.name, "aperture")):
            ctx.error((*p, "measurement"), f"{what} on measurement {name!r} needs its clear "
                      f"aperture ([measurements.{name}.aperture], which sets R_norm)")
        meas = None
    return meas, scheme, norm


def _parse_power(ctx: _Ctx, doc: Mapping[str, Any], ms: Mapping[str, Measurement]
                 ) -> tuple[Measurement, str, str, float, int] | None:
    t = _table(ctx, doc, (), "power")
    if t is None:
        return None
    p: Path_ = ("power",)
    _check_keys(ctx, t, p, (*_ZERNIKE_KEYS, "coef_nm_max"))
    meas, scheme, norm = _zernike_common(ctx, t, p, ms, "a power limit")
    lim = _num(ctx, t, p, "coef_nm_max", required=True, limit=True)
    if meas is None or scheme is None or norm is None or lim is None:
        return None
    j = _scheme_index(ctx, p, scheme, 2, 0)
    return None if j is None else (meas, scheme, norm, lim, j)


def _parse_form(ctx: _Ctx, doc: Mapping[str, Any], ms: Mapping[str, Measurement],
                power: tuple[Measurement, str, str, float, int] | None
                ) -> tuple[list[Criterion], Form | None]:
    t = _table(ctx, doc, (), "form")
    if t is None:
        return [], None
    p: Path_ = ("form",)
    _check_keys(ctx, t, p, (*_ZERNIKE_KEYS, "fit_first_term", "fit_last_term",
                            "residual_rms_nm_max", "residual_pv_nm_max", "pvr_nm_max",
                            "term_limits_nm"))
    meas, scheme, norm = _zernike_common(ctx, t, p, ms, "a form limit")
    first = _num(ctx, t, p, "fit_first_term", integer=True)
    last = _num(ctx, t, p, "fit_last_term", integer=True)
    rms = _num(ctx, t, p, "residual_rms_nm_max", limit=True)
    pv = _num(ctx, t, p, "residual_pv_nm_max", limit=True)
    pvr = _num(ctx, t, p, "pvr_nm_max", limit=True)
    terms_t = _table(ctx, t, p, "term_limits_nm")
    if not any(k in t for k in ("residual_rms_nm_max", "residual_pv_nm_max", "pvr_nm_max",
                                "term_limits_nm")):
        ctx.error(p, "[form] sets no limit (residual_rms_nm_max, residual_pv_nm_max, "
                     "pvr_nm_max or [form.term_limits_nm])")
    if ("fit_first_term" in t) != ("fit_last_term" in t):
        ctx.error((*p, "fit_last_term" if "fit_first_term" in t else "fit_first_term"),
                  "give both fit_first_term and fit_last_term (an inclusive range)")
    needs_fit = [k for k in ("pvr_nm_max", "term_limits_nm") if k in t]
    if needs_fit and "fit_first_term" not in t and "fit_last_term" not in t:
        ctx.error((*p, needs_fit[0]), f"{needs_fit[0]} needs a form fit: set fit_first_term and "
                                      "fit_last_term")
    if meas is None or scheme is None or norm is None:
        return [], None

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
                    _zernike_order(scheme, j)
                fit = list(range(first, last + 1))
            except SpecError as exc:
                ctx.error((*p, "fit_last_term"), str(exc))
    removed = _removed_indices(meas, scheme)
    pw_j: list[int] = []
    if power is not None and power[0].name == meas.name:
        pj = _scheme_index(ctx, ("power",), scheme, 2, 0)
        pw_j = [pj] if pj is not None else []
    clash = sorted(set(fit) & set(removed))
    if clash:
        ctx.error((*p, "fit_first_term"), f"the form terms include {_zlist(scheme, clash)}, "
                  f"which preprocessing removes from {meas.name!r}; start the fit above them")
    if set(fit) & set(pw_j):
        ctx.error((*p, "fit_first_term"), "the form terms include power, which [power] "
                  "tolerances on its own; start the fit above it")

    out: list[Criterion] = []
    r_norm = meas.aperture.r_norm_mm  # type: ignore[union-attr]
    named: dict[str, tuple[tuple[int, ...], tuple[tuple[int, int], ...]]] = {}
    other: float | None = None
    valid_names = [*TERM_NAMES, "other"]
    for key in terms_t or {}:
        kp = (*p, "term_limits_nm", key)
        lim = _num(ctx, terms_t, (*p, "term_limits_nm"), key, limit=True)  # type: ignore[arg-type]
        if key == "other":
            other = lim
            continue
        mz = re.fullmatch(r"Z(\d+)", key)
        orders: tuple[tuple[int, int], ...]
        if mz:
            try:
                orders = (_zernike_order(scheme, int(mz.group(1))),)
            except SpecError as exc:
                ctx.error(kp, str(exc))
                continue
        elif key in TERM_NAMES:
            orders = _name_orders(*TERM_NAMES[key])
        else:
            ctx.error(kp, f"unknown term{_suggest(key, valid_names)} (term names: "
                          f"{', '.join(valid_names)}, or Z<index> in the {scheme} scheme)")
            continue
        idx = tuple(_zernike_index(scheme, n, m) for n, m in orders)
        outside = [j for j in idx if j not in fit]
        if outside:
            ctx.error(kp, f"{_zlist(scheme, outside)} is outside the form fit "
                          f"{_zlist(scheme, fit[:1])}..{_zlist(scheme, fit[-1:])}")
            continue
        for other_key, (oidx, _) in named.items():
            if set(oidx) & set(idx):
                ctx.error(kp, f"{key!r} and {other_key!r} limit the same term "
                              f"{_zlist(scheme, sorted(set(oidx) & set(idx)))}")
                break
        else:
            if lim is not None:
                named[key] = (idx, orders)
                out.append(ZernikeTermCriterion(
                    id=f"{meas.name}.form.term.{key}", measurement=meas.name, limit=lim, unit="nm",
                    description=f"{key} {_term_text(scheme, idx, orders)}, {norm} normalisation",
                    label=key, scheme=scheme, normalisation=norm, terms=idx, orders=orders,
                    joint_fit_terms=(), r_norm_mm=r_norm))

    joint = tuple(sorted(set(removed) | set(pw_j) | set(fit)))
    below = [j for j in range(fit[0]) if j not in joint and j >= (0 if scheme == "ansi" else 1)
             ] if fit else []
    if below:
        ctx.warn(p, "terms below the form fit that are neither removed nor toleranced stay "
                    f"in the residual: {_zlist(scheme, below)}")
    out = [dataclasses.replace(c, joint_fit_terms=joint) for c in out]  # type: ignore[type-var]
    if other is not None:
        covered = {j for idx, _ in named.values() for j in idx}
        groups: dict[tuple[int, int], list[int]] = {}
        for j in fit:
            if j in covered:
                continue
            n, m = _zernike_order(scheme, j)
            groups.setdefault((n, abs(m)), []).append(j)
        if not groups:
            ctx.error((*p, "term_limits_nm", "other"), "every form term has its own limit; "
                      "'other' limits nothing")
        else:
            gs = tuple(tuple(g) for g in groups.values())
            out.append(ZernikeOtherTermsCriterion(
                id=f"{meas.name}.form.term.other", measurement=meas.name, limit=other, unit="nm",
                description=f"largest other form term (pair magnitude) among "
                            f"{len(gs)} groups of {scheme} {_zrange(fit)}, {norm} normalisation",
                scheme=scheme, normalisation=norm, groups=gs, joint_fit_terms=joint,
                r_norm_mm=r_norm))
    fit_t = tuple(fit)
    fit_txt = f"{scheme} {_zrange(fit)}" if fit else "no form terms"
    if rms is not None:
        out.append(FormResidualCriterion(
            id=f"{meas.name}.form.residual_rms", measurement=meas.name, limit=rms, unit="nm",
            description=f"RMS of the residual after the joint fit ({fit_txt})",
            statistic="rms", scheme=scheme, fit_terms=fit_t, joint_fit_terms=joint,
            r_norm_mm=r_norm))
    if pv is not None:
        out.append(FormResidualCriterion(
            id=f"{meas.name}.form.residual_pv", measurement=meas.name, limit=pv, unit="nm",
            description=f"PV of the residual after the joint fit ({fit_txt})",
            statistic="pv", scheme=scheme, fit_terms=fit_t, joint_fit_terms=joint,
            r_norm_mm=r_norm))
    if pvr is not None and fit:
        out.append(PVrCriterion(
            id=f"{meas.name}.form.pvr", measurement=meas.name, limit=pvr, unit="nm",
            description=f"PVr = PV of the {fit_txt} form + 3 x residual RMS",
            scheme=scheme, fit_terms=fit_t, joint_fit_terms=joint, r_norm_mm=r_norm))
    return out, Form(measurement=meas.name, scheme=scheme, normalisation=norm, fit_terms=fit_t,
                     joint_fit_terms=joint, r_norm_mm=r_norm)


def _zrange(idx: list[int] | tuple[int, ...]) -> str:
    return f"Z{idx[0]}..Z{idx[-1]}" if len(idx) > 1 else (f"Z{idx[0]}" if idx else "(none)")


def _zlist(scheme: str, idx: Iterable[int]) -> str:
    return ", ".join(f"{scheme} Z{j}" for j in idx)


def _term_text(scheme: str, idx: tuple[int, ...], orders: tuple[tuple[int, int], ...]) -> str:
    zs = "/".join(f"Z{j}" for j in idx)
    n, m = orders[0]
    what = "pair magnitude" if len(idx) == 2 else "|coefficient|"
    return f"{what} {scheme} {zs} (n={n}, m={'+-' if len(idx) == 2 else ''}{abs(m)})"


# --------------------------------------------------------------------------- assembly

def _requirement_criteria(m: Measurement) -> list[Criterion]:
    r = m.requirements
    where = (f"inside the Ø{m.aperture.diameter_mm:g} mm clear aperture" if m.aperture
             else "over the field")
    out: list[Criterion] = []
    if r.min_valid_fraction is not None:
        out.append(RequirementCriterion(
            id=f"{m.name}.requirements.valid_fraction", measurement=m.name,
            limit=r.min_valid_fraction, unit="fraction", bound="min", quantity="valid_fraction",
            description=f"fraction of valid pixels {where}"))
    if r.min_pixels_across is not None:
        out.append(RequirementCriterion(
            id=f"{m.name}.requirements.pixels_across", measurement=m.name,
            limit=float(r.min_pixels_across), unit="px", bound="min", quantity="pixels_across",
            description=("pixels across the clear-aperture diameter" if m.aperture
                         else "pixels across the shorter side of the field")))
    if r.min_sites is not None:
        out.append(RequirementCriterion(
            id=f"{m.name}.requirements.sites", measurement=m.name, limit=float(r.min_sites),
            unit="sites", bound="min", quantity="sites", description="number of measured sites"))
    return out


def _band_criteria(b: Band) -> list[Criterion]:
    rng = f"{b.f_lo_per_mm:g}-{b.f_hi_per_mm:g} /mm ({b.period_max_mm:g}-{b.period_min_mm:g} mm)"
    kind = b.kind if b.kind == "areal" else f"profile along {b.direction}"
    out: list[Criterion] = []
    if b.rms_nm_max is not None:
        out.append(BandCriterion(
            id=f"{b.measurement}.band.{b.name}.rms", measurement=b.measurement,
            limit=b.rms_nm_max, unit="nm", band=b,
            description=f"{b.name} {kind} RMS height, {rng}"))
    if b.slope_urad_max is not None:
        out.append(BandSlopeCriterion(
            id=f"{b.measurement}.band.{b.name}.slope", measurement=b.measurement,
            limit=b.slope_urad_max, unit="urad", band=b,
            description=f"{b.name} {kind} RMS slope, {rng}"))
    return out


def _merge(ranges: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] * (1 + _REL_TOL):
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _psd_criteria(line: PsdLimitLine, name: str, bands: list[Band]) -> list[Criterion]:
    ranges = _merge((b.f_lo_per_mm, b.f_hi_per_mm) for b in bands if b.measurement == name)
    pieces = [c for lo, hi in ranges if (c := line.clip(lo, hi)) is not None]
    if not pieces:
        return []
    segs = tuple(s for c in pieces for s in c.segments)
    clipped = dataclasses.replace(line, segments=segs)
    fr = tuple((s.f_lo_per_mm, s.f_hi_per_mm) for s in _merge_segs(segs))
    txt = ", ".join(f"{lo:g}-{hi:g}" for lo, hi in fr)
    return [PsdLimitCriterion(
        id=f"{name}.psd", measurement=name, limit=line.factor_max, unit="ratio", line=clipped,
        f_ranges_per_mm=fr,
        description=f"{line.sidedness} {line.kind} PSD, every 1/{line.bins_per_decade}-decade "
                    f"bin <= {line.factor_max:g} x the limit line on {txt} /mm")]


def _merge_segs(segs: tuple[PsdSegment, ...]) -> list[PsdSegment]:
    out: list[PsdSegment] = []
    for s in segs:
        if out and s.f_lo_per_mm <= out[-1].f_hi_per_mm * (1 + _REL_TOL):
            out[-1] = dataclasses.replace(out[-1], f_hi_per_mm=s.f_hi_per_mm)
        else:
            out.append(s)
    return out


def _coverage_warnings(ctx: _Ctx, ms: Mapping[str, Measurement], bands: list[Band],
                       form: Form | None) -> None:
    """Warn about gaps between 1/CA and the top band edge not covered by bands or form."""
    if not bands:
        return
    cas = [m.aperture.diameter_mm for m in ms.values() if m.aperture is not None]
    f_end = max(b.f_hi_per_mm for b in bands)
    f_start = 1.0 / max(cas) if cas else min(b.f_lo_per_mm for b in bands)
    cover = [(b.f_lo_per_mm, b.f_hi_per_mm) for b in bands]
    if form is not None and form.fit_terms:
        ca = ms[form.measurement].aperture.diameter_mm  # type: ignore[union-attr]
        n_max = max(_zernike_order(form.scheme, j)[0] for j in form.fit_terms)
        # radial order n has about n/2 cycles across the diameter: up to f ~ n / (2 CA)
        cover.append((1.0 / ca, n_max / (2.0 * ca)))
    cur = f_start
    for lo, hi in _merge(cover):
        if hi <= cur * (1 + _REL_TOL):
            continue
        if lo > cur * (1 + _REL_TOL):
            ctx.warn(("bands",), f"no band covers {cur:.4g}-{lo:.4g} /mm (periods "
                     f"{1 / cur:.4g}-{1 / lo:.4g} mm) between 1/CA = {f_start:.4g} /mm and the "
                     f"highest band edge {f_end:g} /mm; a full-band spec should tile this range "
                     "(set full_band = false if it is not meant to)")
        cur = max(cur, hi)
    # resolvability with the required sampling (CONVENTIONS: about 2/L to 1/(2 dx))
    for i, b in enumerate(bands):
        m = ms[b.measurement]
        if m.aperture is None:
            continue
        ca = m.aperture.diameter_mm
        if b.f_lo_per_mm < 2.0 / ca * (1 - _REL_TOL):
            ctx.warn(("bands", i, "f_lo_per_mm"), f"band {b.name} starts at {b.f_lo_per_mm:g} /mm, "
                     f"below 2/CA = {2 / ca:.4g} /mm, the lowest frequency a Ø{ca:g} mm map "
                     "resolves")
        npx = m.requirements.min_pixels_across
        if npx is not None and b.f_hi_per_mm > npx / (2.0 * ca) * (1 + _REL_TOL):
            ctx.warn(("bands", i, "f_hi_per_mm"), f"band {b.name} reaches {b.f_hi_per_mm:g} /mm "
                     f"but min_pixels_across = {npx} over Ø{ca:g} mm only guarantees a Nyquist "
                     f"frequency of {npx / (2 * ca):.4g} /mm")


def _build(text: str, source: str, digest: str) -> Spec:
    ctx = _Ctx(text, source)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"invalid spec: {source}: not valid TOML: {exc}") from None
    schema = doc.get("schema", _MISSING)
    if schema is _MISSING:
        ctx.error(("schema",), f"missing key 'schema' (this version reads schema = {SCHEMA!r})")
    elif schema != SCHEMA:
        ctx.error(("schema",), f"unsupported schema {schema!r}; this version reads {SCHEMA!r}")
    ctx.raise_if_problems()   # another schema: the rest would only be noise

    _check_keys(ctx, doc, (), ("schema", "description", "full_band", "part", "preprocessing",
                               "measurements", "power", "form", "bands", "psd"))
    description = _str(ctx, doc, (), "description")
    full_band = _bool(ctx, doc, (), "full_band", True)
    part = _parse_part(ctx, doc)
    default_pre = _parse_preprocessing(ctx, doc, (), Preprocessing())
    ms = _parse_measurements(ctx, doc, default_pre)
    power = _parse_power(ctx, doc, ms)
    form_criteria, form = _parse_form(ctx, doc, ms, power)
    bands = _parse_bands(ctx, doc, ms)
    psd = _parse_psd(ctx, doc)
    if psd is not None and not bands:
        ctx.error(("psd",), "a PSD limit is judged on each measurement's band range; declare "
                            "[[bands]]")
    ctx.raise_if_problems()
    assert part is not None

    criteria: list[Criterion] = []
    for name, m in ms.items():
        criteria += _requirement_criteria(m)
        if power is not None and power[0].name == name:
            pm, scheme, norm, lim, j = power
            criteria.append(PowerCriterion(
                id=f"{name}.power", measurement=name, limit=lim, unit="nm", label="power",
                description=f"power |coefficient| {scheme} Z{j} (n=2, m=0), {norm} normalisation",
                scheme=scheme, normalisation=norm, terms=(j,), orders=((2, 0),),
                joint_fit_terms=_power_joint(pm, scheme, j, form),
                r_norm_mm=pm.aperture.r_norm_mm))  # type: ignore[union-attr]
        criteria += [c for c in form_criteria if c.measurement == name]
        for b in bands:
            if b.measurement == name:
                criteria += _band_criteria(b)
        if psd is not None:
            criteria += _psd_criteria(psd, name, bands)
    if psd is not None and not any(isinstance(c, PsdLimitCriterion) for c in criteria):
        ctx.warn(("psd",), "the PSD limit line lies outside every band: nothing is judged on it")
    if full_band:
        _coverage_warnings(ctx, ms, bands, form)
    return Spec(schema=SCHEMA, source=source, sha256=digest, description=description,
                full_band=full_band, part=part, measurements=_ro(ms), form=form,
                bands=tuple(bands),
                psd=psd, criteria=tuple(criteria), warnings=tuple(ctx.warnings))


def _power_joint(m: Measurement, scheme: str, j: int, form: Form | None) -> tuple[int, ...]:
    if form is not None and form.measurement == m.name and form.scheme == scheme:
        return form.joint_fit_terms
    return tuple(sorted({*_removed_indices(m, scheme), j}))


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
        between bands, ...) are issued as :class:`SpecWarning` and kept in
        ``Spec.warnings``.

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
