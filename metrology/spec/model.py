"""The validated spec as immutable objects: what a spec file says, section by section.

Built by :func:`metrology.spec.load_spec`; the criteria themselves are the
classes of :mod:`metrology.criteria`. Units are part of the field names
(nm, mm, cycles/mm, µrad; ``docs/conventions.md``).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .._json import jsonable
from ..errors import SpecError
from ..read_options import ReadOptions
from .context import MISSING, suggest

if TYPE_CHECKING:  # pragma: no cover
    from ..criteria import Criterion

__all__ = ["Part", "Match", "Aperture", "Preprocessing", "Requirements", "Measurement",
           "Wavefront",
           "Band", "PsdSegment", "PsdLimitLine", "Form", "Power", "Spec", "ItfTable",
           "CompositeOptions", "COMPOSITE", "BAND_FILTERS",
           "DEFAULT_REMOVE", "DEFAULT_BINS_PER_DECADE", "DEFAULT_FACTOR_MAX", "REL_TOL",
           "merge_ranges"]

DEFAULT_REMOVE = ("piston", "tilt")
DEFAULT_BINS_PER_DECADE = 10
DEFAULT_FACTOR_MAX = 2.0
#: relative tolerance when comparing frequencies and radii written in a spec
REL_TOL = 1e-9
#: the measurement name of criteria judged on the part's composite PSD (all its files);
#: reserved: no declared measurement may use it
COMPOSITE = "composite"
#: band filters (``docs/spec-schema.md``); the first is the default
BAND_FILTERS = ("sharp", "gaussian")


def merge_ranges(ranges: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """Sorted, overlapping or touching frequency ranges merged into one each."""
    out: list[tuple[float, float]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] * (1 + REL_TOL):
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def ro(d: Mapping[str, Any]) -> Mapping[str, Any]:
    """A read-only copy of a mapping."""
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
                _meta_value_matches(meta.get(k, MISSING), p) for k, p in self.meta.items()):
            return True
        if filename is not None and self.filename:
            base = PurePath(os.fspath(filename)).name.lower()
            return any(fnmatch.fnmatchcase(base, p.lower()) for p in self.filename)
        return False


def _meta_value_matches(value: Any, pattern: Any) -> bool:
    if value is MISSING:
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
    the outer edge of each file's valid region, :func:`metrology.aperture.find_circle`)
    or ``"given"`` (``centre_mm`` = (x, y) in the map frame, mm). ``centre_mm``
    with ``"data"`` is the nominal centre (default the array centre) the found
    one is compared with; ``centre_tolerance_mm``, when given, is how far the
    found centre may lie from the nominal one before the file is not measurable.
    """

    diameter_mm: float
    r_norm_mm: float
    centre: Literal["data", "given"] = "data"
    centre_mm: tuple[float, float] | None = None
    centre_tolerance_mm: float | None = None

    @property
    def nominal_centre_mm(self) -> tuple[float, float]:
        """The centre the spec expects: ``centre_mm``, or the array centre (0, 0)."""
        return self.centre_mm if self.centre_mm is not None else (0.0, 0.0)

    @property
    def radius_mm(self) -> float:
        """Clear-aperture radius in mm (geometry; the Zernike radius is ``r_norm_mm``)."""
        return self.diameter_mm / 2.0


@dataclass(frozen=True, kw_only=True)
class Preprocessing:
    """Terms removed (joint least squares, ``docs/conventions.md``) before every criterion."""

    remove: tuple[str, ...] = DEFAULT_REMOVE


@dataclass(frozen=True, kw_only=True)
class Requirements:
    """Minimum data quality of a measurement; ``None`` = not required."""

    min_valid_fraction: float | None = None
    min_pixels_across: int | None = None
    min_sites: int | None = None


@dataclass(frozen=True, kw_only=True)
class Wavefront:
    """The files of a measurement hold a wavefront (``[measurements.NAME.wavefront]``).

    The pipeline converts it to surface heights before any criterion with
    :func:`metrology.wavefront.surface_wavefront` (``mode``, ``passes``,
    ``angle_deg``; transmission with the part's ``material`` at its
    ``test_wavelength_nm``). ``description`` is the conversion in words.
    """

    mode: Literal["reflection", "transmission"]
    passes: int
    angle_deg: float
    material: str | None
    wavelength_nm: float | None
    factor: float
    description: str


@dataclass(frozen=True, kw_only=True)
class ItfTable:
    """A tabulated instrument transfer function (amplitude, 0..1] of a measurement.

    Divided out of the measurement's PSD in the composite (PSD / ITF²) up to the
    frequency where that would multiply the PSD by more than
    ``max_psd_correction``; above it the measurement does not serve the composite.
    """

    f_per_mm: tuple[float, ...]
    values: tuple[float, ...]
    max_psd_correction: float = 4.0

    def to_itf(self, source: str = "") -> Any:
        """The :class:`metrology.coverage.ITF` of this table."""
        from ..coverage import ITF

        return ITF(np.asarray(self.f_per_mm), np.asarray(self.values),
                   self.max_psd_correction, source=source)


@dataclass(frozen=True, kw_only=True)
class Measurement:
    """One declared measurement of the surface (``[measurements.NAME]``).

    ``repeats``: files of this measurement named ``<stem>_rep<k>.<ext>`` with the
    same stem and extension are repeats of one measurement (one site, averaged;
    ``docs/spec-schema.md``). ``reference``: the file-name rules of a calibrated
    reference map in a part folder, subtracted from every file of the
    measurement (``None``: no reference). ``wavefront``: the files hold a
    wavefront, converted to surface heights (``None``: they hold surface heights).
    ``itf_cutoff_per_mm`` / ``itf``: where the instrument transfer function is
    known to fall (the measurement serves the composite PSD only below it), or
    the tabulated ITF divided out there; ``None`` = ITF taken as 1 up to Nyquist.
    """

    name: str
    instrument: str
    description: str | None
    match: Match
    aperture: Aperture | None
    preprocessing: Preprocessing
    requirements: Requirements
    repeats: bool = False
    reference: Match | None = None
    wavefront: Wavefront | None = None
    itf_cutoff_per_mm: float | None = None
    itf: ItfTable | None = None
    #: how to read its files that do not give spacing, height unit or format
    #: (``[measurements.NAME.read]``; :mod:`metrology.read_options`)
    read: ReadOptions | None = None

    @property
    def min_sites(self) -> int:
        """Number of sites (files) needed; 1 unless ``requirements.min_sites`` says more."""
        return self.requirements.min_sites or 1


@dataclass(frozen=True, kw_only=True)
class Band:
    """A spatial-frequency band ``f_lo_per_mm <= |f| < f_hi_per_mm`` (``[[bands]]``).

    Both descriptions are kept: ``period_max_mm = 1 / f_lo_per_mm`` and
    ``period_min_mm = 1 / f_hi_per_mm``; ``given_as`` says which one the file
    used. ``kind`` is ``"areal"`` (sum of 2-D PSD cells) or ``"profile"``
    (1-D PSD along ``direction``); they differ for the same surface. The
    limits on a band are its criteria (``band_rms``, ``band_slope``, ...).
    ``filter`` is ``"sharp"`` (default: the PSD summed over the band) or
    ``"gaussian"`` (ISO 16610-61 areal / 16610-21 profile Gaussian S- and
    L-filters, 50 % amplitude transmission at the cut-offs).
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
    filter: Literal["sharp", "gaussian"] = "sharp"

    @property
    def composite(self) -> bool:
        """Judged on the part's composite PSD (``measurement = "composite"``)."""
        return self.measurement == COMPOSITE


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
    ``factor_max`` times the line. A 2-D (areal, ISO 10110-8) line ``A f^-B``
    [nm² mm²] is held as the radial line ``2π A f^-(B-1)`` of an isotropic
    surface (``dimension = "2d"``, ``notation`` says what was written).
    """

    kind: Literal["profile", "radial"]
    sidedness: Literal["one-sided", "two-sided"]
    direction: Literal["x", "y"] | None
    segments: tuple[PsdSegment, ...]
    bins_per_decade: int = DEFAULT_BINS_PER_DECADE
    factor_max: float = DEFAULT_FACTOR_MAX
    #: ``"composite"``: judged once, on the part's composite PSD over the whole line;
    #: ``None``: each measurement on the part of the line inside its own bands
    measurement: str | None = None
    #: the line as the spec wrote it (ISO 10110-8 notation: dimension, A with its unit,
    #: B, range, sidedness) when it differs from the judged form, else ""
    notation: str = ""
    #: ``"1d"`` (profile or radial line, A in nm² mm) or ``"2d"`` (areal, A in nm² mm²)
    dimension: Literal["1d", "2d"] = "1d"

    def to_limit(self) -> Any:
        """The line as a :class:`metrology.psdlimit.PiecewiseLimit` in our convention:
        a one-sided profile line (a two-sided line A is the one-sided 2A) or a radial
        line, nm² mm, f in cycles/mm."""
        from ..psdlimit import PiecewiseLimit, PSDLimit

        k = 2.0 if (self.kind == "profile" and self.sidedness == "two-sided") else 1.0
        return PiecewiseLimit(tuple(
            PSDLimit(k * s.a_nm2_mm, s.b, self.kind, s.f_lo_per_mm, s.f_hi_per_mm,
                     self.direction, self.notation or
                     f"{self.sidedness} {self.kind} line {s.a_nm2_mm:g} f^-{s.b:g} nm^2 mm")
            for s in self.segments))

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
            if hi > lo * (1 + REL_TOL):
                segs.append(dataclasses.replace(s, f_lo_per_mm=lo, f_hi_per_mm=hi))
        return dataclasses.replace(self, segments=tuple(segs)) if segs else None


@dataclass(frozen=True, kw_only=True)
class CompositeOptions:
    """How the part's composite PSD is built (``[composite]``; every key optional).

    ``measurements``: the measurements whose files contribute (default: all,
    in declaration order); ``combine``: ``"inverse-variance"`` or ``"finer"``;
    ``overlap_factor``: two instruments disagreeing by more than this in PSD
    over their overlap are flagged; ``strict_overlap``: a flag makes every
    composite criterion not measurable; ``bins_per_decade``: the composite's
    log grid; ``f_min_k``: a file serves from ``f_min_k / L`` up
    (:func:`metrology.coverage.resolved_range`).
    """

    measurements: tuple[str, ...] = ()
    combine: Literal["inverse-variance", "finer"] = "inverse-variance"
    overlap_factor: float = 2.0
    strict_overlap: bool = False
    bins_per_decade: int = 20
    f_min_k: float = 6.0


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
class Power:
    """``[power]``: power (n, m) = (2, 0) toleranced on its own, index ``index`` in
    ``scheme``, coefficient in ``normalisation``, R_norm ``r_norm_mm``."""

    measurement: str
    scheme: str
    normalisation: str
    index: int
    r_norm_mm: float


@dataclass(frozen=True, kw_only=True)
class Spec:
    """A validated spec. Build with :func:`~metrology.spec.load_spec` or
    :func:`~metrology.spec.parse_spec`.

    ``criteria`` is ordered by measurement (declaration order), then by section
    (requirements, power, form, bands, PSD, then sections of added criterion
    types) and by the order of the file within a section. ``sha256`` is the
    hash of the file's bytes (of the UTF-8 text for ``parse_spec``).
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
    power: Power | None = None
    #: ISO 14253-1 decision rule of every criterion: "simple" or "guarded" (docs/uncertainty.md)
    decision_rule: str = "simple"
    #: band values judged noise-corrected (sqrt(V - V_noise)) when a noise floor is known
    noise_correction: bool = False
    #: units every report also shows heights in ("nm", "um", "waves", "fringes")
    display_units: tuple[str, ...] = ()
    composite: CompositeOptions = CompositeOptions()
    #: read settings given on the command line (``check --dx-mm ...``): they apply to
    #: every file and take precedence over the measurements' ``read`` tables
    read_override: ReadOptions | None = None

    @property
    def part_criteria(self) -> tuple[Criterion, ...]:
        """The criteria judged on the part's composite PSD (``measurement = "composite"``)."""
        return tuple(c for c in self.criteria if c.measurement == COMPOSITE)

    def feeds_composite(self, measurement: str) -> bool:
        """Whether the files of ``measurement`` contribute to a composite criterion."""
        return bool(self.part_criteria) and measurement in (
            self.composite.measurements or tuple(self.measurements))

    def criteria_for(self, measurement: str) -> tuple[Criterion, ...]:
        """The criteria judged on ``measurement``, in spec order."""
        if measurement not in self.measurements:
            raise SpecError(f"spec {self.source} declares no measurement {measurement!r}"
                            f"{suggest(measurement, self.measurements)}; "
                            f"declared: {', '.join(self.measurements)}")
        return tuple(c for c in self.criteria if c.measurement == measurement)

    def criterion(self, id: str) -> Criterion:
        """The criterion with this id."""
        for c in self.criteria:
            if c.id == id:
                return c
        raise SpecError(f"spec {self.source} has no criterion {id!r}"
                        f"{suggest(id, [c.id for c in self.criteria])}")

    def matching_measurements(self, filename: str | os.PathLike[str] | None = None,
                              meta: Mapping[str, Any] | None = None) -> tuple[str, ...]:
        """Names of the measurements whose match rules accept this file."""
        return tuple(n for n, m in self.measurements.items() if m.match.matches(filename, meta))

    def with_read_override(self, options: ReadOptions | None) -> Spec:
        """This spec with read settings for every file (the command line's ``--dx-mm``,
        ``--dy-mm``, ``--z-unit``, ``--format``), taking precedence over the
        measurements' ``[measurements.NAME.read]``."""
        return dataclasses.replace(self, read_override=options or None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the whole spec (criteria carry ``"type"``)."""
        return jsonable(self)
