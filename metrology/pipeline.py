"""The analysis pipeline: one file, from bytes to everything its criteria need.

Stages, in order, each recorded in the typed :class:`FileAnalysis` so that
criteria, reports and later features (batch, composite PSDs) read what was
done instead of guessing it:

1. **load** (:func:`load_file`): any readable format -> :class:`HeightMap`;
2. **assign** (:func:`assign_measurement`): the file is a measurement of the
   spec (``--as``, then the spec's metadata / file-name rules);
2b. **source** (:class:`SourceRecord`, :mod:`metrology.sites`): a calibrated
   reference subtracted, a wavefront converted to surface heights, repeats of
   one measurement averaged (each repeat is kept and goes through stages 3-6
   with the average, for the noise floor and the uncertainty);
3. **aperture** (:class:`ApertureRecord`): the clear aperture, selected with
   :meth:`HeightMap.select_aperture` (centre given or found from the data),
   its valid fraction and pixel count, and whether the file can be judged;
4. **preprocessing** (:class:`PreprocessingRecord`): the measurement's terms
   removed by one joint least-squares fit;
5. **fits** (:class:`FitRecord`): each joint Zernike fit the criteria ask for,
   once per file and key, in one normalisation;
6. **spectra** (:class:`SpectrumRecord`): the 2-D PSD of the form residual
   (dropouts inside the aperture interpolated first) when a criterion needs it,
   with the spectra of the band uncertainty (:class:`metrology.uncertainty.BandAnalysis`:
   the single-map model, or the repeats' noise PSD);
7. **criteria**: the engine (:mod:`metrology.check`) hands the whole
   :class:`FileAnalysis` to each criterion's ``evaluate``.

:func:`summarize_map` is the same pipeline without a spec (``metrology analyze``).

**Profiles.** A file that loads as a :class:`~metrology.Profile` (a 1-D trace)
takes its own short branch (:func:`analyze_profile`, :func:`summarize_profile`):
no aperture, no Zernike fit, no 2-D PSD; its :class:`ProfileRecord` holds the
trace, which the profile criteria (``profile_roughness``, ``profile_band``)
evaluate about its least-squares line. Criteria that judge areal maps are
``not-measurable`` on a profile, with that reason; a measurement with a clear
aperture (or removing more than piston and tilt) refuses a profile file.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._json import jsonable
from ._version import __version__
from .criteria._base import PSD, PSD_WINDOW, FitRequest
from .errors import ApertureError, MetrologyError, SpecError
from .heightmap import HeightMap
from .profile import Profile

if TYPE_CHECKING:  # pragma: no cover
    from .aperture import CircleFit
    from .coverage import FrequencyCoverage
    from .criteria import Criterion
    from .fill import Hole
    from .read_options import ReadOptions
    from .repeats import NoisePSD
    from .spec import Spec
    from .spectral import PSD2D, ProfilePSD
    from .uncertainty import BandAnalysis, FitNoiseModel
    from .zernike import ZernikeFit

__all__ = [
    "PSD_WINDOW",
    "ANALYZE_SCHEMA_ID",
    "SourceRecord",
    "ApertureRecord",
    "PreprocessingRecord",
    "FitRecord",
    "SpectrumRecord",
    "FileAnalysis",
    "ProfileRecord",
    "load_file",
    "assign_measurement",
    "analyze_file",
    "summarize_map",
    "decade_bands",
    "analyze_profile",
    "summarize_profile",
]

#: ``schema`` of :func:`summarize_map`'s result (``metrology analyze --json``)
ANALYZE_SCHEMA_ID = "metrology.analyze/2"


# ----------------------------------------------------------------------------- records

@dataclass(frozen=True)
class SourceRecord:
    """What the analysed map is made of (stage 2b, :mod:`metrology.sites`).

    ``files`` are the data files (N >= 2 for repeats of one measurement,
    averaged pixel by pixel on their common mask; ``repeats_by`` says how they
    were recognised); ``reference`` the calibrated reference map subtracted
    from each file (its SHA-256 and where it was named, ``reference_from``);
    ``conversion`` the wavefront -> surface conversion applied (``None``: the
    files hold surface heights).
    """

    files: tuple[str, ...]
    repeats_by: str | None = None
    common_valid_fraction: float | None = None
    reference: str | None = None
    reference_sha256: str | None = None
    reference_from: str | None = None
    conversion: str | None = None
    conversion_factor: float | None = None

    @property
    def n_repeats(self) -> int:
        return len(self.files)

    def to_dict(self) -> dict[str, Any]:
        return jsonable({
            "files": list(self.files), "n_repeats": self.n_repeats,
            "repeats_by": self.repeats_by,
            "averaging": (None if self.n_repeats < 2 else
                          "pixel-by-pixel mean on the common mask (pixels valid in every "
                          "repeat); the measurement's terms removed from each repeat"),
            "common_valid_fraction": self.common_valid_fraction,
            "reference": None if self.reference is None else {
                "path": self.reference, "sha256": self.reference_sha256,
                "from": self.reference_from,
                "operation": "subtracted pixel by pixel from every file (same grid)"},
            "conversion": None if self.conversion is None else {
                "description": self.conversion, "factor": self.conversion_factor,
                "operation": "surface = wavefront / factor, before every criterion"},
        })


@dataclass(frozen=True)
class ApertureRecord:
    """The clear aperture of one file (stage 3).

    ``centre_mm`` is where it was placed (map frame, mm), ``centre_from`` whether
    that centre was ``"given"`` by the spec or found from the ``"data"``;
    ``centre_method`` how: ``"given"``, ``"edge fit"`` (a robust circle fit to the
    outer edge of the valid region, :func:`metrology.aperture.find_circle`) or
    ``"nominal"`` (``centre = "data"`` but the data show no circular edge: the
    spec's nominal centre is used). ``edge`` is the circle found in the data
    (whatever the method), ``offset_from_nominal_mm`` the distance of the centre
    found in the data (the edge fit's; ``None`` without one) from the nominal
    centre ``nominal_centre_mm``; ``inside_array`` whether the circle lies on the
    measured array.
    """

    diameter_mm: float
    r_norm_mm: float
    centre_mm: tuple[float, float]
    centre_from: str
    inside_array: bool
    pixels_in_aperture: float
    centre_method: str = "given"
    nominal_centre_mm: tuple[float, float] = (0.0, 0.0)
    offset_from_nominal_mm: float | None = None
    centre_tolerance_mm: float | None = None
    edge: CircleFit | None = field(default=None, repr=False)

    @property
    def centre_description(self) -> str:
        """How the centre was found, in words (for every report)."""
        if self.centre_method == "given":
            return "given by the spec (centre_mm)"
        if self.centre_method == "edge fit" and self.edge is not None:
            return self.edge.describe()
        why = self.edge.reason if self.edge is not None else "no valid pixels"
        return f"the spec's nominal centre (no circular edge in the data: {why})"

    def to_dict(self) -> dict[str, Any]:
        return {"diameter_mm": self.diameter_mm, "r_norm_mm": self.r_norm_mm,
                "centre_mm": [float(self.centre_mm[0]), float(self.centre_mm[1])],
                "centre_from": self.centre_from, "centre_method": self.centre_method,
                "centre_description": self.centre_description,
                "nominal_centre_mm": [float(self.nominal_centre_mm[0]),
                                      float(self.nominal_centre_mm[1])],
                "offset_from_nominal_mm": self.offset_from_nominal_mm,
                "centre_tolerance_mm": self.centre_tolerance_mm,
                "edge_fit": None if self.edge is None else self.edge.to_dict()}


@dataclass(frozen=True)
class PreprocessingRecord:
    """What was removed before every criterion (stage 4) and the map that resulted.

    ``removed`` are term names of :data:`metrology.zernike_schemes.TERMS`, removed
    by one joint least-squares fit over the valid pixels of ``map``.
    """

    removed: tuple[str, ...]
    map: HeightMap = field(repr=False)
    #: the repeats after the same stages, each with its own fit of the removed terms
    repeats: tuple[HeightMap, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class FitRecord:
    """One joint Zernike fit of the preprocessed map (stage 5), or why it failed.

    ``key`` = (scheme, R_norm in mm, joint terms); the coefficients are in
    ``normalisation``. Every criterion whose :class:`FitRequest` has this key
    reads this one fit.
    """

    key: tuple[str, float, tuple[int, ...]]
    normalisation: str
    centre_mm: tuple[float, float] | None
    fit: ZernikeFit | None = field(default=None, repr=False)
    error: str | None = None
    #: this fit's residual is the measurement's form residual (the PSD's input)
    form_residual: bool = True
    #: the same fit of each repeat (same terms, centre and R_norm, on the common mask)
    repeat_fits: tuple[ZernikeFit, ...] = field(default=(), repr=False)

    @functools.cached_property
    def noise_model(self) -> FitNoiseModel | None:
        """The single-map uncertainty model of this fit (:class:`FitNoiseModel`)."""
        if self.fit is None:
            return None
        from .uncertainty import FitNoiseModel

        try:
            return FitNoiseModel(self.fit)
        except MetrologyError:
            return None

    @property
    def scheme(self) -> str:
        return self.key[0]

    @property
    def r_norm_mm(self) -> float:
        return self.key[1]

    @property
    def joint_fit_terms(self) -> tuple[int, ...]:
        return self.key[2]

    def groups(self) -> list[tuple[int, int, tuple[int, ...], float]]:
        """Terms of the fit as (n, |m|, indices, magnitude in nm): a cos/sin pair is one
        group with magnitude sqrt(c_cos² + c_sin²), in the fit's normalisation."""
        if self.fit is None:
            return []
        groups: dict[tuple[int, int], list[int]] = {}
        for j, (n, m) in zip(self.fit.indices, self.fit.orders, strict=True):
            groups.setdefault((n, abs(m)), []).append(j)
        return [(n, am, tuple(idx), math.sqrt(sum(self.fit.coefficient(j) ** 2 for j in idx)))
                for (n, am), idx in groups.items()]

    def to_dict(self) -> dict[str, Any]:
        if self.fit is None:
            return {"scheme": self.scheme, "normalisation": self.normalisation,
                    "r_norm_mm": self.r_norm_mm, "joint_fit_terms": list(self.joint_fit_terms),
                    "error": self.error}
        d = self.fit.to_dict()
        d["joint_fit_terms"] = list(self.joint_fit_terms)
        d["unit"] = "nm"
        return d


@dataclass(frozen=True)
class SpectrumRecord:
    """The 2-D PSD of one file's form residual (stage 6), or why there is none.

    Dropouts are handled by the fill rule (:func:`metrology.fill.find_holes`): a
    hole whose every pixel lies within half the shortest period judged on this
    measurement (``shortest_period_mm``) of valid data is interpolated
    (``filled_pixels`` pixels in ``holes_filled`` holes,
    :func:`metrology.fill.fill_dropouts`); larger holes (``holes_left``) are left
    as holes (the masked periodogram, normalised by the valid pixels), and at
    the edges of those wider than the longest period judged the window falls to
    zero over that period (``taper_mm``). Nothing is invented inside a large hole.
    The periods judged are those of the measurement's own PSD criteria and of the
    composite criteria inside the range the file serves
    (:func:`_composite_ranges`). With holes wider than the longest period left,
    the lowest frequency resolved is also capped by the largest circle inscribed
    in the data around them (``inscribed_mm``, its diameter): a ring or a
    crescent around such a hole resolves no more than its width. Holes narrower
    than the longest period do not cap it (the data on either side of them span
    the period; a few dropout clusters just too wide to fill must not make a
    band unmeasurable). ``profile`` is the
    one-sided profile PSD along ``profile_axis`` that the figures show when no
    criterion says otherwise.
    """

    window: str
    filled_pixels: int
    psd: PSD2D | None = field(default=None, repr=False)
    profile: ProfilePSD | None = field(default=None, repr=False)
    profile_axis: str = "x"
    error: str | None = None
    holes_filled: int = 0
    holes_left: tuple[Hole, ...] = ()
    shortest_period_mm: float | None = None
    taper_mm: float | None = None
    inscribed_mm: float | None = None
    #: the spectra of the band uncertainty (same data, window and mask as ``psd``: the
    #: small holes filled, the large ones left, the window tapered at the widest)
    bands: BandAnalysis | None = field(default=None, repr=False)
    #: noise PSD of ONE measurement from the repeats, and the one-sided profile PSD of
    #: the noise of the analysed average along ``profile_axis`` (for the figures)
    noise: NoisePSD | None = field(default=None, repr=False)
    noise_profile: ProfilePSD | None = field(default=None, repr=False)
    #: valid mask of the map the PSD was computed on (small holes filled, large ones left),
    #: for the composite
    valid: np.ndarray | None = field(default=None, repr=False)

    @property
    def fill_rule(self) -> str:
        """The rule that decided which dropouts were interpolated, in words."""
        if self.shortest_period_mm is None:
            return "no hole in the data"
        return (f"holes within {0.5 * self.shortest_period_mm:.4g} mm of valid data (half the "
                f"shortest period judged, {self.shortest_period_mm:.4g} mm) interpolated by "
                "normalised convolution; larger holes left as holes (nothing invented), the "
                "window tapered to 0 over the longest period judged at the edges of holes "
                "wider than it")

    @property
    def input(self) -> str:
        """The data the PSD was computed on, in words."""
        out = "form residual (surface minus the joint Zernike fit of the measurement)"
        if self.filled_pixels:
            out += (f", {self.filled_pixels} dropout pixels in {self.holes_filled} small "
                    "holes interpolated")
        if self.holes_left:
            big = self.holes_left[0]
            out += (f", {len(self.holes_left)} large hole(s) left unfilled (largest: "
                    f"{big.describe()})")
            if self.taper_mm:
                out += (f", the window tapered to 0 over {self.taper_mm:.4g} mm at the edges "
                        "of those wider than that")
        return out

    def coverage(self, kind: str = "areal", axis: str = "x",
                 k: float | None = None) -> FrequencyCoverage:
        """The frequencies the PSD resolves for a band of ``kind`` (:meth:`PSD2D.coverage`:
        f_min = k / L, L from the connected valid regions, k = 2 by default), with f_min
        raised to k / ``inscribed_mm`` when holes were left in the data."""
        from .coverage import raise_f_min
        from .spectral import K_CONVENTION

        assert self.psd is not None
        kk = K_CONVENTION if k is None else float(k)
        return raise_f_min(self.psd.coverage(kind, axis, kk), *self.hole_floor(kk),
                           length_mm=self.inscribed_mm)

    def hole_floor(self, k: float) -> tuple[float | None, str]:
        """(k / ``inscribed_mm``, why) with holes left unfilled, else (None, ""): the lowest
        frequency a ring or crescent of data around a large hole resolves (cycles/mm)."""
        if self.inscribed_mm is None or not self.holes_left:
            return None, ""
        big = max(self.holes_left, key=lambda h: h.fill_distance_mm)
        return k / self.inscribed_mm, (
            f"k / L = {k:g} / {self.inscribed_mm:.4g} mm, L the diameter of the largest "
            f"circle inscribed in the data left around the unfilled hole(s) ({big.describe()})")

    def to_dict(self) -> dict[str, Any]:
        if self.psd is None:
            return {"error": self.error or "not computed"}
        p = self.psd
        cov = self.coverage("areal")
        out: dict[str, Any] = {
            "quantity": "2-D periodogram of the form residual, density-normalised by sum of w^2",
            "unit": "nm^2 mm^2",
            "window": p.window,
            "removed": ["mean", *p.removed],
            "input": self.input,
            "region": p.region,
            "fft_shape": list(p.fft_shape),
            "f_min_per_mm": cov.f_min_per_mm,
            "f_max_per_mm": cov.f_max_per_mm,
            "f_min_rule": cov.rule,
            "f_min_reason": cov.low_reason,
            "nyquist_x_per_mm": p.nyquist_x_per_mm,
            "nyquist_y_per_mm": p.nyquist_y_per_mm,
            "rms_nm": p.rms_nm,
            "backend": p.backend,
            "fill_rule": self.fill_rule,
            "dropouts_interpolated_px": self.filled_pixels,
            "holes_left": [h.to_dict() for h in self.holes_left],
        }
        pr = self.profile
        if pr is not None:
            out["profile"] = {"axis": pr.axis, "sidedness": pr.sidedness, "unit": pr.unit,
                              "window": pr.window, "df_per_mm": pr.df_per_mm,
                              "f_min_per_mm": pr.f_min_per_mm, "f_max_per_mm": pr.f_max_per_mm}
        nz = self.noise
        if nz is not None:
            out["noise"] = {"quantity": "noise PSD of one measurement: half the periodogram of "
                                        "the pairwise differences of the repeats, averaged",
                            "n_repeats": nz.n_repeats, "dof_per_cell": nz.dof_per_cell,
                            "window": nz.window, "unit": "nm^2 mm^2",
                            "rms_nm": float(np.sqrt(nz.psd2d().variance_nm2)),
                            "rms_of_average_nm": float(np.sqrt(
                                nz.psd2d(of_average=True).variance_nm2))}
        return out


@dataclass
class FileAnalysis:
    """Everything the pipeline did with one file for its measurement.

    Criteria read it in ``evaluate``; the reports draw the file's figures from
    it. ``blocked_reason`` is set when the file cannot be judged at all (then
    only data-quality criteria are evaluated).
    """

    path: str
    measurement: str
    assigned_by: str
    meta: dict[str, Any]
    shape: tuple[int, int]
    dx_mm: float
    dy_mm: float
    valid_fraction: float
    rms_nm: float | None
    pv_nm: float | None
    aperture_record: ApertureRecord | None
    valid_fraction_in_aperture: float
    pixels_across: float
    hm: HeightMap | None = field(default=None, repr=False)
    preprocessing: PreprocessingRecord | None = None
    fits: list[FitRecord] = field(default_factory=list)
    spectrum: SpectrumRecord | None = None
    blocked_reason: str = ""
    source: SourceRecord | None = None
    #: what criteria derive from the file and share (one ISO 10110 decomposition for
    #: all its items, ...): name -> value, filled by the criteria themselves
    shared: dict[str, Any] = field(default_factory=dict, repr=False)
    profile_record: ProfileRecord | None = None

    # -- convenience views ---------------------------------------------------------------
    @property
    def profile(self) -> Profile | None:
        """The trace, when the file is a profile (1-D); ``None`` for a height map."""
        return None if self.profile_record is None else self.profile_record.profile

    @property
    def data_kind(self) -> str:
        """``"profile"`` (a 1-D trace) or ``"map"`` (an areal height map)."""
        return "map" if self.profile_record is None else "profile"

    @property
    def aperture(self) -> dict[str, Any] | None:
        """The clear aperture as the JSON report writes it (``None`` without one)."""
        return None if self.aperture_record is None else self.aperture_record.to_dict()

    @property
    def preprocessed(self) -> HeightMap | None:
        """The map after the aperture and the preprocessing (``None`` if not reached)."""
        return None if self.preprocessing is None else self.preprocessing.map

    @property
    def removed(self) -> tuple[str, ...]:
        return () if self.preprocessing is None else self.preprocessing.removed

    @property
    def residual_fit(self) -> FitRecord | None:
        """The joint fit whose residual is the form residual (the last fit made for a
        form-residual request, :func:`metrology.criteria._base.residual_request`)."""
        for rec in reversed(self.fits):
            if rec.form_residual:
                return rec
        return None

    @property
    def residual(self) -> HeightMap | None:
        """The form residual: the preprocessed map minus the measurement's joint fit
        (:attr:`residual_fit`; the preprocessed map when there is none). ``None`` when
        that fit failed."""
        rec = self.residual_fit
        if rec is None:
            return self.preprocessed
        return None if rec.fit is None else rec.fit.residual

    @property
    def filled_pixels(self) -> int:
        return 0 if self.spectrum is None else self.spectrum.filled_pixels

    def psd_form_frequency(self) -> tuple[float, int, float] | None:
        """(f_form, n_max, R): :func:`metrology.criteria._base.form_frequency_per_mm` of what
        was removed before the PSD (the preprocessing and the residual's joint fit), with R
        the clear-aperture radius or, without one, half the shorter side of the valid
        region's bounding box (mm); ``None`` before preprocessing."""
        from .criteria._base import form_frequency_per_mm
        from .zernike_schemes import TERMS, term_members

        pre = self.preprocessed
        if pre is None or pre.n_valid == 0:
            return None
        orders = [o for t in self.removed for o in term_members(*TERMS[t])]
        rf = self.residual_fit
        if rf is not None and rf.fit is not None:
            orders += list(rf.fit.orders)
        n_max = max((n for n, _ in orders), default=0)
        if self.aperture_record is not None:
            radius = self.aperture_record.diameter_mm / 2.0
        else:
            rows = np.flatnonzero(pre.valid.any(axis=1))
            cols = np.flatnonzero(pre.valid.any(axis=0))
            radius = 0.5 * min((rows[-1] - rows[0] + 1) * pre.dy_mm,
                               (cols[-1] - cols[0] + 1) * pre.dx_mm)
        return form_frequency_per_mm(n_max, radius), n_max, radius

    def repeat_residuals(self) -> list[HeightMap]:
        """Each repeat minus the analysed map's form-residual fit (:attr:`residual_fit`:
        the form residual of each repeat, whose average is :attr:`residual`); ``[]`` for a
        single map or when that fit failed."""
        if self.preprocessing is None or not self.preprocessing.repeats:
            return []
        rec = self.residual_fit
        if rec is None:
            return list(self.preprocessing.repeats)
        if rec.fit is None:
            return []
        fit = rec.fit
        return [r - fit.fitted for r in self.preprocessing.repeats]

    def fit_for(self, request: FitRequest) -> FitRecord | None:
        """The fit made for ``request`` (same key), if any."""
        for rec in self.fits:
            if rec.key == request.key:
                return rec
        return None

    def fit_index(self, record: FitRecord) -> int:
        """Position of ``record`` in :attr:`fits` (evidence names its fit by it)."""
        return next(i for i, r in enumerate(self.fits) if r is record)

    def to_dict(self) -> dict[str, Any]:
        m = self.meta
        extra = {} if self.profile_record is None else {"profile": self.profile_record.to_dict()}
        return jsonable({
            "path": self.path,
            "measurement": self.measurement,
            "assigned_by": self.assigned_by,
            "format": m.get("format"),
            "instrument": m.get("instrument"),
            "wavelength_nm": m.get("wavelength_nm"),
            "shape": list(self.shape),
            "dx_mm": self.dx_mm,
            "dy_mm": self.dy_mm,
            "valid_fraction": self.valid_fraction,
            "rms_nm": self.rms_nm,
            "pv_nm": self.pv_nm,
            "aperture": self.aperture,
            "valid_fraction_in_aperture": self.valid_fraction_in_aperture,
            "pixels_across": self.pixels_across,
            "removed": list(self.removed),
            "dropouts_interpolated_px": self.filled_pixels,
            "source": None if self.source is None else self.source.to_dict(),
            **extra,
        })

    def analysis_dict(self) -> dict[str, Any]:
        """What was computed (the JSON report's ``analysis`` of the file)."""
        return {"blocked_reason": self.blocked_reason or None,
                "zernike_fits": [r.to_dict() for r in self.fits],
                "psd": None if self.spectrum is None else self.spectrum.to_dict()}


# ----------------------------------------------------------------------------- stages 1-2

def load_file(path: str | os.PathLike[str], spec: Spec | None = None,
              as_name: str | None = None, options: ReadOptions | None = None
              ) -> HeightMap | Profile:
    """Stage 1: read any format :func:`metrology.load` knows (1-D data as a Profile).

    Files that do not give their spacing, height unit or format are read with
    ``options``, else with the spec's settings for the file
    (:func:`metrology.read_options.options_for`: the command line's, over those
    of the measurement it is assigned to by ``as_name`` or by file name); a
    file that still lacks one raises a :class:`FileFormatError` saying where to
    give it.
    """
    from .read_options import options_for, read_file

    return read_file(path, options if options is not None else options_for(spec, path, as_name))


def assign_measurement(spec: Spec, path: str | os.PathLike[str], meta: Mapping[str, Any],
                       as_name: str | None = None) -> tuple[str, str]:
    """Stage 2: (measurement name, how it was assigned) for a file; :class:`SpecError`
    when ``--as`` names no measurement or the rules match none or several."""
    if as_name is not None:
        if as_name not in spec.measurements:
            raise SpecError(f"--as {as_name!r}: the spec declares no such measurement; "
                            f"declared: {', '.join(spec.measurements)}")
        return as_name, "--as"
    names = spec.matching_measurements(Path(path).name, meta)
    if len(names) == 1:
        m = spec.measurements[names[0]]
        by_meta = bool(m.match.meta) and m.match.matches(None, meta)
        return names[0], "metadata" if by_meta else "filename"
    if not names:
        raise SpecError(f"{path}: matches no measurement of the spec (declared: "
                        f"{', '.join(spec.measurements)}); rename the file, fix the spec's "
                        "match rules, or pass --as NAME")
    raise SpecError(f"{path}: matches several measurements ({', '.join(names)}); "
                    "pass --as NAME")


# ----------------------------------------------------------------------------- stages 3-6

def _aperture_stage(spec: Spec, measurement: str, hm: HeightMap
                    ) -> tuple[ApertureRecord | None, HeightMap, float, float, str,
                               np.ndarray | None]:
    """Stage 3: (record, selected map, valid fraction, pixels across, blocked reason,
    aperture mask)."""
    from . import aperture as _ap

    m = spec.measurements[measurement]
    if hm.n_valid == 0:
        blocked = "the map has no valid pixels"
    else:
        blocked = ""
    if m.aperture is None or blocked:
        across = float(min(hm.shape)) if hm.dx_mm == hm.dy_mm else round(
            min(hm.shape[0] * hm.dy_mm, hm.shape[1] * hm.dx_mm) / max(hm.dx_mm, hm.dy_mm), 6)
        return None, hm, hm.valid_fraction, across, blocked, None
    a = m.aperture
    nominal = a.nominal_centre_mm
    edge = _ap.find_circle(hm)
    if a.centre == "given" and a.centre_mm is not None:
        centre, method = a.centre_mm, "given"
    elif edge.method == "edge":
        centre, method = edge.centre_mm, "edge fit"
    else:
        centre, method = nominal, "nominal"
    offset = (math.hypot(edge.centre_mm[0] - nominal[0], edge.centre_mm[1] - nominal[1])
              if edge.method == "edge" else None)
    circle = _ap.Circle(a.diameter_mm, (float(centre[0]), float(centre[1])))
    mask = circle.mask(hm)
    area_px = math.pi * (a.diameter_mm / 2) ** 2 / (hm.dx_mm * hm.dy_mm)
    n_in = int(np.count_nonzero(mask & hm.valid))
    across = round(a.diameter_mm / max(hm.dx_mm, hm.dy_mm), 6)  # no 199.99999999999997
    # the CA must lie inside the measured array; else nothing about it can be judged
    x0, y0 = centre
    r = a.diameter_mm / 2
    ex, ey = hm.extent_mm
    inside_array = (abs(x0) + r <= ex / 2 + hm.dx_mm and abs(y0) + r <= ey / 2 + hm.dy_mm)
    # pixels of the CA: counted on the grid when it lies on the array, else its area
    n_ca = int(np.count_nonzero(mask)) if inside_array else max(area_px, 1.0)
    vf = n_in / n_ca if n_ca else 0.0
    min_vf = m.requirements.min_valid_fraction
    tol = a.centre_tolerance_mm
    if not inside_array:
        blocked = (f"clear aperture Ø{a.diameter_mm:g} mm at ({x0:.3g}, {y0:.3g}) mm is "
                   f"larger than the measured field ({ex:.3g} x {ey:.3g} mm)")
    elif tol is not None and offset is not None and offset > tol:
        blocked = (f"the measured part's edge is centred {offset:.3g} mm from the nominal "
                   f"centre ({nominal[0]:.4g}, {nominal[1]:.4g}) mm, beyond centre_tolerance_mm "
                   f"= {tol:g}")
    elif min_vf is not None and vf < min_vf:
        blocked = (f"clear aperture larger than the valid data: only {vf:.1%} of the "
                   f"Ø{a.diameter_mm:g} mm aperture is valid (need {min_vf:.0%})")
    elif n_in == 0:
        blocked = "no valid pixel inside the clear aperture"
    rec = ApertureRecord(diameter_mm=a.diameter_mm, r_norm_mm=a.r_norm_mm,
                         centre_mm=(float(centre[0]), float(centre[1])), centre_from=a.centre,
                         inside_array=inside_array, pixels_in_aperture=float(n_ca),
                         centre_method=method,
                         nominal_centre_mm=(float(nominal[0]), float(nominal[1])),
                         offset_from_nominal_mm=offset, centre_tolerance_mm=tol, edge=edge)
    if n_in == 0:
        return rec, hm.apply_mask(mask, note=f"clear aperture Ø{a.diameter_mm:g} mm"), vf, \
            across, blocked, mask
    try:
        work = hm.select_aperture(circle)
    except ApertureError as exc:  # larger than the measured part: not measurable
        return rec, hm, vf, across, blocked or str(exc), mask
    return rec, work, vf, across, blocked, mask


def _preprocessing_stage(work: HeightMap, remove_terms: Sequence[str],
                         repeats: Sequence[HeightMap] = ()) -> PreprocessingRecord:
    """Stage 4: remove the measurement's terms by one joint least-squares fit (from the
    map, and from each repeat on the map's pixels by its own fit)."""
    from .zernike import remove

    def one(hm: HeightMap) -> HeightMap:
        return remove(hm, list(remove_terms)) if remove_terms else hm

    pre = one(work)
    reps = tuple(one(r.apply_mask(work.valid, note="pixels of the analysed average"))
                 for r in repeats)
    return PreprocessingRecord(removed=tuple(remove_terms), map=pre, repeats=reps)


def _fit_requests(criteria: Sequence[Criterion]) -> list[FitRequest]:
    """One request per fit key (:func:`metrology.criteria._base.fit_requests`)."""
    from .criteria._base import fit_requests

    return fit_requests(criteria)


def _fit_stage(pre: HeightMap, requests: Sequence[FitRequest],
               centre_mm: tuple[float, float] | None,
               repeats: Sequence[HeightMap] = ()) -> list[FitRecord]:
    """Stage 5: each joint fit once (and the same fit of each repeat, on the common mask).
    An ill-conditioned basis is not refused here, for the map or a repeat: the residual
    does not depend on it, and the fit's flags (condition number > 1e3) make the Zernike
    criteria on it not measurable."""
    from .zernike import _fit

    out = []
    for r in requests:
        def fit_one(hm: HeightMap, r: FitRequest = r) -> ZernikeFit:
            return _fit(hm, list(r.joint_fit_terms), r.scheme, r.normalisation, r.r_norm_mm,
                        centre_mm, mask=None, allow_outside=True, cache=True, basis="circle",
                        refuse=False)
        try:
            fit = fit_one(pre)
            reps = tuple(fit_one(hm) for hm in repeats)
        except MetrologyError as exc:
            out.append(FitRecord(r.key, r.normalisation, centre_mm, None, str(exc),
                                 form_residual=r.form_residual))
            continue
        out.append(FitRecord(r.key, r.normalisation, centre_mm, fit,
                             form_residual=r.form_residual, repeat_fits=reps))
    return out


def _spectral_periods(criteria: Sequence[Criterion], hm: HeightMap,
                      extra: Sequence[tuple[float, float]] = ()) -> tuple[float, float]:
    """(shortest, longest) period (mm) the measurement's PSD criteria judge: 1 / the highest
    f_hi and 1 / the lowest f_lo of their :meth:`~metrology.criteria.Criterion.spectral_range`
    and of the ``extra`` ranges (the composite criteria this file serves,
    :func:`_composite_ranges`). A criterion that does not say counts as the whole resolved
    range (2 pixels to a quarter of the field), as does a file with no range at all."""
    ranges: list[tuple[float, float] | None] = [c.spectral_range() for c in criteria
                                                if PSD in c.requests()]
    ranges += list(extra)
    d = max(hm.dx_mm, hm.dy_mm)
    lo = [r[0] for r in ranges if r is not None and r[0] > 0]
    hi = [r[1] for r in ranges if r is not None and math.isfinite(r[1])]
    if len(lo) < len(ranges) or not lo:
        lo.append(4.0 / max(hm.extent_mm))
    if len(hi) < len(ranges) or not hi:
        hi.append(0.5 / d)
    return 1.0 / max(hi), 1.0 / min(lo)


def _composite_ranges(spec: Spec, measurement: str, hm: HeightMap
                      ) -> list[tuple[float, float] | None]:
    """The frequencies of the composite criteria (bands, PSD line, scatter) that a file of
    ``measurement`` can serve: each criterion's :meth:`~metrology.criteria.Criterion.
    spectral_range` clipped to the most this file could serve the composite, from
    ``f_min_k / L`` (L the field's shorter side for a radial composite, its extent along the
    axis for a profile one: no region of the file is longer) up to its Nyquist frequency
    lowered by the measurement's ITF cut-off or tabulated ITF. A criterion the file cannot
    serve at all does not count; one that does not state its range counts as the whole
    resolved range (``None``). With these the fill rule of the file's PSD (one PSD serves its
    own criteria and the composite) fills only holes small against the shortest period
    judged on the composite within the file's served range."""
    m = spec.measurements[measurement]
    f_max = 0.5 / min(hm.dx_mm, hm.dy_mm)
    if m.itf_cutoff_per_mm is not None:
        f_max = min(f_max, float(m.itf_cutoff_per_mm))
    if m.itf is not None:
        f_max = min(f_max, float(m.itf.to_itf().f_max_per_mm))
    out: list[tuple[float, float] | None] = []
    for c in spec.part_criteria:
        recipe = getattr(c, "recipe", None)
        if recipe is None or measurement not in recipe.measurements:
            continue
        r = c.spectral_range()
        if r is None:
            out.append(None)
            continue
        if recipe.kind == "profile":
            length = hm.extent_mm[0] if (recipe.axis or "x") == "x" else hm.extent_mm[1]
        else:
            length = min(hm.extent_mm)
        lo, hi = max(r[0], recipe.f_min_k / length), min(r[1], f_max)
        if lo < hi:
            out.append((lo, hi))
    return out


def _spectrum_stage(residual: HeightMap, region: np.ndarray | None,
                    profile_axis: str, periods: tuple[float, float] | None = None,
                    repeats: Sequence[HeightMap] = ()) -> SpectrumRecord:
    """Stage 6: interpolate the small holes inside the aperture (the field, without one),
    leave the large ones as holes with the window tapered to 0 at their edges, and take the
    2-D PSD of the residual (:class:`SpectrumRecord`); then the spectra of the band
    uncertainty on the same data (each repeat's residual filled and windowed the same
    way)."""
    from scipy import ndimage

    from .fill import FILL_PERIOD_FRACTION, fill_dropouts, find_holes
    from .spectral import psd as _psd

    try:
        if periods is None:
            periods = (2.0 * max(residual.dx_mm, residual.dy_mm), max(residual.extent_mm))
        p_short, p_long = periods
        reg = np.ones(residual.shape, dtype=bool) if region is None else region
        holes = find_holes(residual.valid, reg, residual.dx_mm, residual.dy_mm,
                           FILL_PERIOD_FRACTION * p_short, 0.5 * p_long)
        work, n_filled = residual, 0
        if holes.small.any():
            # dropouts small against the shortest period would bias band powers low (the
            # mask scales them by the valid fraction): interpolate them
            work, n_filled = fill_dropouts(residual, residual.valid | holes.small)
        taper = inscribed = None
        if holes.huge.any():
            # a hole wider than the longest period: the window falls to 0 over that period
            # at its edges (a step there would leak the low frequencies into the band), and
            # the data around it resolve no more than the largest circle they hold (the
            # narrower holes left do not break a period: counted as data for the circle)
            taper = p_long
            dist = ndimage.distance_transform_edt(work.valid | (holes.large & ~holes.huge),
                                                  sampling=(work.dy_mm, work.dx_mm))
            inscribed = 2.0 * float(dist.max())
        p = _psd(work, window=PSD_WINDOW, remove=(),
                 hole_taper=None if taper is None else (holes.huge, taper))
        prof = p.profile(profile_axis, one_sided=True)  # for the figures
    except MetrologyError as exc:
        return SpectrumRecord(window=PSD_WINDOW, filled_pixels=0, error=str(exc),
                              profile_axis=profile_axis)
    window = None
    if taper is not None:
        from ._spectra import window_array
        from .spectral import _hole_taper

        window = (window_array(work, PSD_WINDOW)[0]
                  * _hole_taper(holes.huge, work.dx_mm, work.dy_mm, taper))
    bands, noise, noise_prof = _band_uncertainty_stage(
        work, residual.valid | holes.small, profile_axis, repeats, window)
    any_hole = holes.n_small or holes.any_large
    return SpectrumRecord(window=p.window, filled_pixels=n_filled, psd=p, profile=prof,
                          profile_axis=profile_axis, holes_filled=holes.n_small,
                          holes_left=holes.large_holes,
                          shortest_period_mm=p_short if any_hole else None,
                          taper_mm=taper, inscribed_mm=inscribed, bands=bands, noise=noise,
                          noise_profile=noise_prof, valid=work.valid)


def _band_uncertainty_stage(work: HeightMap, fill_region: np.ndarray, profile_axis: str,
                            repeats: Sequence[HeightMap], window: np.ndarray | None = None
                            ) -> tuple[BandAnalysis | None, NoisePSD | None,
                                       ProfilePSD | None]:
    """Stage 6b: the spectra of the band uncertainty, on the data the PSD was computed on
    (``work``: the residual with its small holes filled; for repeats each repeat's
    residual filled the same way, inside ``fill_region`` = its valid pixels and the small
    holes: the fill is linear for one mask, so their average is the filled residual of
    the average), with the PSD's window (``window``: the Hann window tapered at the holes
    left wider than the longest period judged, as an array; ``None``: plain Hann)."""
    from .fill import fill_dropouts
    from .uncertainty import BandAnalysis

    win: Any = PSD_WINDOW if window is None else window
    try:
        if repeats:
            data = [fill_dropouts(r, fill_region)[0] if (fill_region & ~r.valid).any() else r
                    for r in repeats]
            ba = BandAnalysis(data, window=win, remove=())
        else:
            ba = BandAnalysis(work, window=win, remove=())
        noise = ba.noise_psd()
        prof = (None if noise is None else
                noise.psd2d(of_average=True).profile(profile_axis, one_sided=True))
    except MetrologyError:
        return None, None, None
    return ba, noise, prof


def analyze_file(spec: Spec, measurement: str, hm: HeightMap | Profile, path: str,
                 assigned_by: str = "--as", *, repeats: Sequence[HeightMap] = (),
                 source: SourceRecord | None = None, blocked: str = "") -> FileAnalysis:
    """Stages 3-6 for one loaded file assigned to ``measurement`` of ``spec`` (a profile:
    :func:`analyze_profile`).

    ``repeats``: for an average of repeats (``hm``), the repeats themselves on the
    same grid (each goes through the stages with the average: preprocessing by its
    own fit, the average's Zernike fits, the residual's spectra for the noise
    floor); ``source`` what the map is made of (stage 2b); ``blocked`` a reason
    the file cannot be judged that stage 2b found.
    """
    if isinstance(hm, Profile):
        fa = analyze_profile(spec, measurement, hm, path, assigned_by)
        fa.source = source
        return fa
    m = spec.measurements[measurement]
    criteria = spec.criteria_for(measurement)
    rec, work, vf, across, blocked_ap, region = _aperture_stage(spec, measurement, hm)
    fa = FileAnalysis(
        path=str(path), measurement=measurement, assigned_by=assigned_by, meta=dict(hm.meta),
        shape=hm.shape, dx_mm=hm.dx_mm, dy_mm=hm.dy_mm, valid_fraction=hm.valid_fraction,
        rms_nm=hm.rms_nm if hm.n_valid else None, pv_nm=hm.pv_nm if hm.n_valid else None,
        aperture_record=rec, valid_fraction_in_aperture=vf, pixels_across=across, hm=hm,
        blocked_reason=blocked or blocked_ap, source=source)
    if fa.blocked_reason:
        return fa
    try:
        fa.preprocessing = _preprocessing_stage(work, m.preprocessing.remove, repeats)
    except MetrologyError as exc:
        fa.blocked_reason = f"preprocessing failed: {exc}"
        return fa
    centre = rec.centre_mm if rec is not None else None
    fa.fits = _fit_stage(fa.preprocessing.map, _fit_requests(criteria), centre,
                         fa.preprocessing.repeats)
    if any(PSD in c.requests() for c in criteria) or spec.feeds_composite(measurement):
        axis = (spec.psd.direction if spec.psd is not None else None) or "x"
        res = fa.residual
        if res is None:
            rf = fa.residual_fit
            fa.spectrum = SpectrumRecord(window=PSD_WINDOW, filled_pixels=0, profile_axis=axis,
                                         error="no form residual: the joint Zernike fit "
                                               f"failed ({rf.error if rf else '?'})")
        else:
            extra = (_composite_ranges(spec, measurement, res)
                     if spec.feeds_composite(measurement) else [])
            fa.spectrum = _spectrum_stage(res, region, axis,
                                          _spectral_periods(criteria, res, extra),
                                          fa.repeat_residuals())
    return fa


# ----------------------------------------------------------------------------- no spec

def _decade_estimates(hm: HeightMap, bands: Sequence[tuple[float, float]]) -> list[Any]:
    """U of each decade band by the single-map model (same window and removal as
    :func:`metrology.spectral.psd`'s defaults), or ``[]`` when it cannot be computed."""
    from .uncertainty import BandAnalysis

    try:
        ba = BandAnalysis(hm, window="hann", remove=("piston", "tilt"))
        return [ba.estimate(lo, hi) for lo, hi in bands]
    except MetrologyError:
        return []


def decade_bands(f_min_per_mm: float, f_max_per_mm: float) -> list[tuple[float, float]]:
    """Whole decades [10^k, 10^(k+1)) that overlap [f_min, f_max] (cycles/mm)."""
    if not (f_min_per_mm > 0 and f_max_per_mm > f_min_per_mm):
        return []
    k0 = math.floor(math.log10(f_min_per_mm) + 1e-12)
    k1 = math.ceil(math.log10(f_max_per_mm) - 1e-12)
    return [(10.0 ** k, 10.0 ** (k + 1)) for k in range(k0, max(k1, k0 + 1))]


def _summary_fit(hm: HeightMap, terms: int, scheme: str) -> dict[str, Any]:
    """The Zernike table of ``metrology analyze``: the circle polynomials when their
    coefficients are meaningful on this aperture, else (flagged or refused, see
    :func:`metrology.fit_zernike`) the orthonormalised basis, with the circle
    basis's condition number, fill and flags."""
    from .errors import ApertureError
    from .zernike import fit_zernike

    note = ("R_norm circumscribes the valid pixels about the centre found from their outer "
            "edge (no nominal aperture given)")
    circle: dict[str, Any]
    try:
        fit = fit_zernike(hm, terms, scheme=scheme, normalisation="rms")
    except ApertureError as exc:
        if "ill-conditioned" not in str(exc):
            raise
        fit = None
        circle = {"refused": str(exc)}
    if fit is not None:
        if fit.meaningful:
            z = fit.to_dict()
            z["removed_before_fit"] = []
            z["r_norm_note"] = note
            return z
        circle = {"condition_number": fit.condition_number, "aperture_fill": fit.aperture_fill,
                  "flags": list(fit.flags)}
    ortho = fit_zernike(hm, terms, scheme=scheme, normalisation="rms", basis="orthonormal")
    z = ortho.to_dict()
    geo = ortho.geometry
    circle.setdefault("condition_number", geo.condition_number)
    circle.setdefault("aperture_fill", ortho.aperture_fill)
    z["circle_basis"] = circle
    z["removed_before_fit"] = []
    z["r_norm_note"] = note
    return z


def _band_rows(res: Sequence[Any], ests: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """Decade band results (:class:`metrology.spectral.BandRMS`) as ``analyze`` writes them;
    with ``ests`` (:class:`metrology.uncertainty.BandEstimate`, one per band) each row
    carries its U (k = 2) and noise floor."""
    rows = [{"f_lo_per_mm": r.f_lo_per_mm, "f_hi_per_mm": r.f_hi_per_mm,
             "period_max_mm": 1.0 / r.f_lo_per_mm, "period_min_mm": 1.0 / r.f_hi_per_mm,
             "rms_nm": r.rms_nm, "coverage": r.coverage,
             "covered_lo_per_mm": r.covered_lo_per_mm,
             "covered_hi_per_mm": r.covered_hi_per_mm, "reason": r.reason} for r in res]
    if ests:
        for row, e in zip(rows, ests, strict=True):
            row.update(U_nm=e.U, k=2.0, noise_floor_nm=e.noise)
    return rows


def summarize_map(hm: HeightMap, *, terms: int = 37, scheme: str = "fringe",
                  path: str | None = None) -> dict[str, Any]:
    """Statistics, a Zernike fit and decade band RMS of one map (no spec).

    Parameters
    ----------
    hm : HeightMap
    terms : int
        Number of Zernike terms of ``scheme`` fitted (default: Fringe Z1..Z37).
    scheme : {"fringe", "noll", "ansi"}
    path : str, optional
        Shown as the file name.

    Returns
    -------
    dict
        JSON-ready (``schema = "metrology.analyze/2"``): ``stats`` (shape,
        spacing in mm, valid fraction, mean / RMS / PV in nm as stored, nothing
        removed); ``zernike`` (:meth:`ZernikeFit.to_dict`: rms normalisation,
        R_norm circumscribing the valid pixels about the centre found from
        their edge, nothing removed before the fit, the basis condition number
        and aperture fill; when the circle polynomials' coefficients are not
        meaningful on this aperture (:attr:`ZernikeFit.flags`, or refused) the
        orthonormalised basis instead, with ``circle_basis`` saying why; or
        ``error``); ``psd`` (Hann window,
        piston and tilt removed, the frequency range the map resolves, and the
        areal RMS in whole decades of spatial frequency with their coverage, each
        with its U (k = 2) by the single-map model and its noise floor, ``None``
        for one map; ``uncertainty_model`` says the model).
    """
    from .spectral import bands_rms, psd

    out: dict[str, Any] = {
        "schema": ANALYZE_SCHEMA_ID,
        "tool": {"name": "metrology", "version": __version__},
        "file": path,
        "format": hm.meta.get("format"),
        "instrument": None if hm.meta.get("instrument") is None
        else str(hm.meta.get("instrument")),
        "units": {"height": "nm", "length": "mm", "frequency": "cycles/mm"},
    }
    nv = hm.n_valid
    out["stats"] = {
        "shape": list(hm.shape), "dx_mm": hm.dx_mm, "dy_mm": hm.dy_mm,
        "extent_mm": list(hm.extent_mm), "valid_fraction": hm.valid_fraction,
        "n_valid": nv,
        "mean_nm": hm.mean_nm if nv else None, "rms_nm": hm.rms_nm if nv else None,
        "pv_nm": hm.pv_nm if nv else None,
        "note": "as stored: nothing removed (RMS about the mean)",
    }
    try:
        out["zernike"] = _summary_fit(hm, terms, scheme)
    except MetrologyError as exc:
        out["zernike"] = {"error": str(exc), "scheme": scheme, "terms": terms}
    try:
        p = psd(hm)
        bands = decade_bands(p.f_min_per_mm, p.f_max_per_mm)
        res = bands_rms(p, bands, kind="areal") if bands else []
        ests = _decade_estimates(hm, bands)
        out["psd"] = {
            "kind": "areal band RMS: 2-D periodogram cells with f_lo <= |f| < f_hi",
            "window": p.window, "removed": ["mean", *p.removed],
            "f_min_per_mm": p.f_min_per_mm, "f_max_per_mm": p.f_max_per_mm,
            "nyquist_x_per_mm": p.nyquist_x_per_mm, "nyquist_y_per_mm": p.nyquist_y_per_mm,
            "total_rms_nm": p.rms_nm,
            "bands": _band_rows(res, ests),
            "uncertainty_model": (ests[0].model if ests else
                                  "unknown: the spectra of the uncertainty model could not "
                                  "be computed"),
            "noise_floor": "unknown for one map (give repeats to measure it)",
        }
    except MetrologyError as exc:
        out["psd"] = {"error": str(exc)}
    return jsonable(out)


# ----------------------------------------------------------------------------- profiles

#: what a profile criterion removes before it judges: the least-squares line
PROFILE_REFERENCE = "least-squares line"
#: preprocessing terms a trace honours (its least-squares line removes both)
_PROFILE_TERMS = frozenset({"piston", "tilt"})


@dataclass(frozen=True)
class ProfileRecord:
    """A profile file (1-D trace) in the pipeline: no aperture, no Zernike fit, no 2-D PSD.

    ``profile`` is the trace as read; the profile criteria evaluate it about its
    least-squares reference line (:data:`PROFILE_REFERENCE`), which is what the
    measurement's ``piston``, ``tilt`` preprocessing means on a trace.
    """

    profile: Profile = field(repr=False)
    reference_line: str = PROFILE_REFERENCE

    def to_dict(self) -> dict[str, Any]:
        p = self.profile
        return {"points": p.n_points, "dx_mm": p.dx_mm, "length_mm": p.length_mm,
                "reference_line": self.reference_line,
                "note": "a 1-D trace, written as one row: shape [1, points], dy_mm = dx_mm"}


def analyze_profile(spec: Spec, measurement: str, prof: Profile, path: str,
                    assigned_by: str = "--as") -> FileAnalysis:
    """The pipeline for a profile file assigned to ``measurement``.

    Raises
    ------
    SpecError
        The measurement is areal (it has a clear aperture, or removes more than
        piston and tilt): a 1-D trace cannot be judged for it.
    """
    m = spec.measurements[measurement]
    n = prof.n_points
    what = f"{path} is a profile (a 1-D trace of {n} points), but measurement {measurement!r}"
    if m.aperture is not None:
        raise SpecError(f"{what} is areal (a Ø{m.aperture.diameter_mm:g} mm clear aperture): "
                        "apertures, Zernike fits and areal PSDs need a height map. Assign the "
                        "file to a profile measurement (--as, or the spec's match rules)")
    extra = [t for t in m.preprocessing.remove if t not in _PROFILE_TERMS]
    if extra:
        raise SpecError(f"{what} removes {', '.join(extra)}, which is defined on areal maps; "
                        "a profile is judged about its least-squares line (piston and tilt)")
    nv = prof.n_valid
    return FileAnalysis(
        path=str(path), measurement=measurement, assigned_by=assigned_by,
        meta=dict(prof.meta), shape=(1, n), dx_mm=prof.dx_mm, dy_mm=prof.dx_mm,
        valid_fraction=prof.valid_fraction, rms_nm=prof.rms_nm if nv else None,
        pv_nm=prof.pv_nm if nv else None, aperture_record=None,
        valid_fraction_in_aperture=prof.valid_fraction, pixels_across=float(n), hm=None,
        preprocessing=None, blocked_reason="" if nv else "the profile has no valid points",
        profile_record=ProfileRecord(prof))


def summarize_profile(prof: Profile, *, path: str | None = None) -> dict[str, Any]:
    """Statistics, profile PSD decade bands and roughness parameters of one trace (no spec).

    Returns
    -------
    dict
        JSON-ready (``schema = "metrology.analyze/2"``, ``kind = "profile"``):
        ``stats`` (points, spacing and length in mm, valid fraction, mean /
        RMS / PV in nm as stored); ``roughness`` (:class:`metrology.profile.
        Roughness` of the primary profile about the least-squares line, 5
        sections, no filter: ISO 21920-2 P-parameters); ``psd`` (one-sided
        profile PSD, Hann window, least-squares line removed; RMS in whole
        decades of spatial frequency with their coverage, and the RMS slope).
    """
    from .spectral import bands_rms

    out: dict[str, Any] = {
        "schema": ANALYZE_SCHEMA_ID, "kind": "profile",
        "tool": {"name": "metrology", "version": __version__},
        "file": path, "format": prof.meta.get("format"),
        "instrument": None if prof.meta.get("instrument") is None
        else str(prof.meta.get("instrument")),
        "units": {"height": "nm", "length": "mm", "frequency": "cycles/mm", "slope": "urad"},
    }
    nv = prof.n_valid
    out["stats"] = {
        "points": prof.n_points, "dx_mm": prof.dx_mm, "length_mm": prof.length_mm,
        "valid_fraction": prof.valid_fraction, "n_valid": nv,
        "mean_nm": prof.mean_nm if nv else None, "rms_nm": prof.rms_nm if nv else None,
        "pv_nm": prof.pv_nm if nv else None,
        "note": "as stored: nothing removed (RMS about the mean)",
    }
    try:
        out["roughness"] = prof.roughness().to_dict()
    except MetrologyError as exc:
        out["roughness"] = {"error": str(exc)}
    try:
        p = prof.psd(PSD_WINDOW, "line", one_sided=True)
        bands = decade_bands(p.f_min_per_mm, p.f_max_per_mm)
        res = bands_rms(p, bands, kind="profile") if bands else []
        slope = prof.slope_rms()
        out["psd"] = {
            "kind": "profile band RMS: one-sided profile PSD summed over f_lo <= f < f_hi",
            "window": p.window, "sidedness": p.sidedness,
            "removed": ["mean", PROFILE_REFERENCE],
            "f_min_per_mm": p.f_min_per_mm, "f_max_per_mm": p.f_max_per_mm,
            "total_rms_nm": float(np.sqrt(np.sum(p.values) * p.df_per_mm)),
            "slope_rms_urad": slope.slope_urad, "slope_method": slope.method,
            "bands": _band_rows(res),
        }
    except MetrologyError as exc:
        out["psd"] = {"error": str(exc)}
    return jsonable(out)

