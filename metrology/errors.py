"""Typed errors of the metrology toolkit.

Every error the library raises on bad input is a :class:`MetrologyError`.
Subclasses that describe bad *values* also derive from :class:`ValueError`, so
callers that only know the standard library still catch them.
"""

from __future__ import annotations


class MetrologyError(Exception):
    """Base class of every error raised by metrology on bad input."""


class HeightMapError(MetrologyError, ValueError):
    """Values that do not make a height map: not 2-D, empty, a spacing that is not a
    positive finite number of mm."""


class HeightMapTypeError(MetrologyError, TypeError):
    """Height data of a type that is not real numbers (complex, text, objects)."""


class ConventionError(MetrologyError, ValueError):
    """An unknown index scheme, normalisation, or out-of-range index."""


class InsufficientDataError(MetrologyError, ValueError):
    """Too few valid pixels for the requested computation (or none at all)."""


class ApertureError(MetrologyError, ValueError):
    """An aperture that is empty, off the grid, or inconsistent with the data."""


class FileFormatError(MetrologyError, ValueError):
    """A file that is truncated, corrupt, or of an unsupported format."""


class SpecError(MetrologyError, ValueError):
    """A spec file that does not validate (unknown key, wrong type, bad limit)."""


class NotMeasurableError(MetrologyError, ValueError):
    """The data cannot resolve the requested quantity (band beyond Nyquist, ...)."""


class GridMismatchError(MetrologyError, ValueError):
    """Two maps on different grids (shape, spacing or origin) combined pixel by pixel."""
