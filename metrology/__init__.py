"""metrology: optical surface metrology in nm, mm and cycles/mm.

What users call lives here: :class:`HeightMap`, apertures, Zernike fits,
file loading, PSDs and spec checks. Conventions and vocabulary:
``docs/conventions.md``.

Submodules and names load on first use (module ``__getattr__``), so
``import metrology`` and ``metrology --help`` do not pay for NumPy, SciPy,
h5py or Numba until a computation needs them::

    import metrology as mt
    hm = mt.load("part.datx")                       # loads metrology.io now
    report = mt.check.check(mt.load_spec("spec.toml"), ["part/"])
    for part in mt.check_many("spec.toml", ["lots/"]):   # all cores, as they finish
        print(part.name, part.outcome)
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__
from .errors import (
    ApertureError,
    ConventionError,
    FileFormatError,
    GridMismatchError,
    HeightMapError,
    HeightMapTypeError,
    InsufficientDataError,
    MetrologyError,
    NotMeasurableError,
    SpecError,
)

#: submodules reachable as attributes (``mt.check``, ``mt.aperture``, ...)
_SUBMODULES = frozenset({
    "aperture", "batch", "check", "cli", "composite", "coverage", "criteria", "demo", "fill",
    "filters", "heightmap", "io", "materials", "pipeline", "profile", "psdlimit", "scatter",
    "synth_composite",
    "reports", "spec", "spectral", "synth", "synth_psd", "verdicts", "warmup", "zernike",
    "zernike_schemes",
    # uncertainty, repeats, decision rules, ISO 10110-5, wavefront, display units
    "arithmetic", "decision", "iso10110", "repeats", "uncertainty", "units", "wavefront",
    "zernike_tables", "zernike_transform",
})

#: public name -> the submodule that defines it
_ATTRS: dict[str, str] = {
    "HeightMap": "heightmap",
    "Profile": "profile",
    "load": "io", "save": "io", "formats": "io",
    "Spec": "spec", "SpecWarning": "spec", "load_spec": "spec", "parse_spec": "spec",
    "PSD2D": "spectral", "AzimuthalAverage": "spectral", "BandRMS": "spectral",
    "ProfilePSD": "spectral", "PVr": "spectral", "RadialPSD": "spectral",
    "SlopeRMS": "spectral", "band_rms": "spectral", "bandpass": "spectral",
    "bands_rms": "spectral", "profile_psd": "spectral", "psd": "spectral",
    "pvr": "spectral", "slope_rms": "spectral",
    "ABC": "synth_psd", "PowerLaw": "synth_psd", "fit_abc": "synth_psd",
    "fit_power_law": "synth_psd", "fit_power_law_segments": "synth_psd",
    "synthesize": "synth_psd",
    "ZernikeFit": "zernike", "ZernikeGeometry": "zernike",
    "clear_geometry_cache": "zernike", "fit_zernike": "zernike", "pair": "zernike",
    "remove": "zernike", "zernike_surface": "zernike",
    "zernike_order": "zernike_schemes", "zernike_index": "zernike_schemes",
    "zernike_name": "zernike_schemes", "fringe_to_order": "zernike_schemes",
    "noll_to_order": "zernike_schemes", "ansi_to_order": "zernike_schemes",
    "order_to_fringe": "zernike_schemes", "order_to_noll": "zernike_schemes",
    "order_to_ansi": "zernike_schemes", "TERMS": "zernike_schemes",
    # deprecated spellings (``_nm`` is nanometres): warn when called
    "zernike_nm": "zernike_schemes", "fringe_to_nm": "zernike_schemes",
    "noll_to_nm": "zernike_schemes", "ansi_to_nm": "zernike_schemes",
    "nm_to_fringe": "zernike_schemes", "nm_to_noll": "zernike_schemes",
    "nm_to_ansi": "zernike_schemes",
    "Verdict": "verdicts", "ExitCode": "verdicts",
    # many parts on all cores (or a Dask cluster)
    "check_many": "batch",
    "clear_caches": "_caches",
    # full-band analysis
    "composite_psd": "composite", "CompositePSD": "composite", "Contribution": "composite",
    "resolved_range": "coverage", "ITF": "coverage", "FrequencyCoverage": "coverage",
    "filtered_band_rms": "filters",
    "iso10110_psd_limit": "psdlimit", "PSDLimit": "psdlimit", "PiecewiseLimit": "psdlimit",
    "brdf": "scatter", "tis": "scatter",
    "refractive_index": "materials",
    # repeats, uncertainty and decision rules
    "average": "repeats", "RepeatAverage": "repeats", "noise_psd": "repeats",
    "NoisePSD": "repeats",
    "band_estimates": "uncertainty", "band_estimate": "uncertainty",
    "BandEstimate": "uncertainty", "zernike_estimates": "uncertainty",
    "ZernikeEstimate": "uncertainty",
    "decide": "decision", "Decision": "decision", "DecisionRule": "decision",
    # ISO 10110-5 form deviation
    "form_deviation": "iso10110", "FormDeviation": "iso10110",
    "parse_form_tolerance": "iso10110", "FormTolerance": "iso10110",
    # surface <-> wavefront and display units
    "surface_wavefront": "wavefront", "surface_to_wavefront": "wavefront",
    "wavefront_to_surface": "wavefront",
    "display_unit": "units", "power_figures": "units",
}

__all__ = [
    "__version__",
    "HeightMap",
    "Profile",
    "aperture",
    "check",
    "check_many",
    "batch",
    "reports",
    "pipeline",
    "load",
    "save",
    "formats",
    "psd",
    "profile_psd",
    "band_rms",
    "bands_rms",
    "bandpass",
    "slope_rms",
    "pvr",
    "PSD2D",
    "RadialPSD",
    "AzimuthalAverage",
    "ProfilePSD",
    "BandRMS",
    "SlopeRMS",
    "PVr",
    "synthesize",
    "PowerLaw",
    "ABC",
    "fit_power_law",
    "fit_power_law_segments",
    "fit_abc",
    "Spec",
    "SpecWarning",
    "load_spec",
    "parse_spec",
    "ZernikeFit",
    "ZernikeGeometry",
    "fit_zernike",
    "zernike_surface",
    "remove",
    "pair",
    "clear_geometry_cache",
    "clear_caches",
    "zernike_order",
    "zernike_index",
    "zernike_name",
    "fringe_to_order",
    "noll_to_order",
    "ansi_to_order",
    "order_to_fringe",
    "order_to_noll",
    "order_to_ansi",
    "TERMS",
    "Verdict",
    "ExitCode",
    "MetrologyError",
    "ConventionError",
    "InsufficientDataError",
    "ApertureError",
    "FileFormatError",
    "HeightMapError",
    "HeightMapTypeError",
    "SpecError",
    "NotMeasurableError",
    "composite_psd", "CompositePSD", "Contribution", "resolved_range", "ITF",
    "FrequencyCoverage", "filtered_band_rms", "iso10110_psd_limit", "PSDLimit",
    "PiecewiseLimit", "brdf", "tis", "refractive_index",
    "GridMismatchError",
    "average", "RepeatAverage", "noise_psd", "NoisePSD",
    "band_estimates", "band_estimate", "BandEstimate", "zernike_estimates", "ZernikeEstimate",
    "decide", "Decision", "DecisionRule",
    "form_deviation", "FormDeviation", "parse_form_tolerance", "FormTolerance",
    "surface_wavefront", "surface_to_wavefront", "wavefront_to_surface",
    "display_unit", "power_figures",
]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    mod = _ATTRS.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{mod}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SUBMODULES | set(_ATTRS))
