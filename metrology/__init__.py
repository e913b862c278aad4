"""metrology: optical surface metrology in nm, mm and cycles/mm.

What users call lives here: :class:`HeightMap`, apertures, Zernike fits,
file loading, PSDs and spec checks. Conventions: ``CONVENTIONS.md``.
"""

from __future__ import annotations

from . import aperture
from ._version import __version__
from .decision import Decision, DecisionRule, decide
from .errors import (
    ApertureError,
    ConventionError,
    FileFormatError,
    GridMismatchError,
    InsufficientDataError,
    MetrologyError,
    NotMeasurableError,
    SpecError,
)
from .heightmap import HeightMap
from .io import formats, load, save
from .iso10110 import FormDeviation, FormTolerance, form_deviation, parse_form_tolerance
from .repeats import NoisePSD, RepeatAverage, average, noise_psd
from .spec import Spec, SpecWarning, load_spec, parse_spec
from .spectral import (
    PSD2D,
    AzimuthalAverage,
    BandRMS,
    ProfilePSD,
    PVr,
    RadialPSD,
    SlopeRMS,
    band_rms,
    bandpass,
    bands_rms,
    profile_psd,
    psd,
    pvr,
    slope_rms,
)
from .synth_psd import ABC, PowerLaw, fit_abc, fit_power_law, fit_power_law_segments, synthesize
from .uncertainty import (
    BandEstimate,
    ZernikeEstimate,
    band_estimate,
    band_estimates,
    zernike_estimates,
)
from .units import display_unit, power_figures
from .wavefront import surface_to_wavefront, surface_wavefront, wavefront_to_surface
from .zernike import (
    ZernikeFit,
    ZernikeGeometry,
    clear_geometry_cache,
    fit_zernike,
    pair,
    remove,
    zernike_surface,
)
from .zernike_schemes import (
    ansi_to_nm,
    fringe_to_nm,
    nm_to_ansi,
    nm_to_fringe,
    nm_to_noll,
    noll_to_nm,
    zernike_index,
    zernike_name,
    zernike_nm,
)

__all__ = [
    "__version__",
    "HeightMap",
    "aperture",
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
    "zernike_nm",
    "zernike_index",
    "zernike_name",
    "fringe_to_nm",
    "noll_to_nm",
    "ansi_to_nm",
    "nm_to_fringe",
    "nm_to_noll",
    "nm_to_ansi",
    "MetrologyError",
    "ConventionError",
    "InsufficientDataError",
    "ApertureError",
    "FileFormatError",
    "SpecError",
    "NotMeasurableError",
    "GridMismatchError",
    "average",
    "RepeatAverage",
    "noise_psd",
    "NoisePSD",
    "band_estimates",
    "band_estimate",
    "BandEstimate",
    "zernike_estimates",
    "ZernikeEstimate",
    "decide",
    "Decision",
    "DecisionRule",
    "form_deviation",
    "FormDeviation",
    "parse_form_tolerance",
    "FormTolerance",
    "surface_wavefront",
    "surface_to_wavefront",
    "wavefront_to_surface",
    "display_unit",
    "power_figures",
]
