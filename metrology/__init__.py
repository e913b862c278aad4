"""metrology: optical surface metrology in nm, mm and cycles/mm.

What users call lives here: :class:`HeightMap`, apertures, Zernike fits,
file loading, PSDs and spec checks. Conventions: ``CONVENTIONS.md``.
"""

from __future__ import annotations

from . import aperture
from ._version import __version__
from .errors import (
    ApertureError,
    ConventionError,
    FileFormatError,
    InsufficientDataError,
    MetrologyError,
    NotMeasurableError,
    SpecError,
)
from .heightmap import HeightMap
from .io import formats, load, save

__all__ = [
    "__version__",
    "HeightMap",
    "aperture",
    "load",
    "save",
    "formats",
    "MetrologyError",
    "ConventionError",
    "InsufficientDataError",
    "ApertureError",
    "FileFormatError",
    "SpecError",
    "NotMeasurableError",
]
