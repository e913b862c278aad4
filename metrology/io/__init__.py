"""File formats: ``load``, ``save`` and ``formats``.

One module per format (``metrology/io/<format>.py``); each registers itself
with :mod:`metrology.io._registry` when imported here.
"""

from __future__ import annotations

from . import (  # noqa: F401  (imported to register the formats)
    _catalog,
    al3d,
    codev,
    datx,
    fourd,
    frt,
    gwy,
    metropro,
    npy,
    opd,
    plu,
    profile_text,
    sdf,
    sur,
    text,
    x3p,
    zemax,
)
from ._policy import ReaderLimits, current_limits, limits
from ._registry import Format, detect, formats, load, register, save

__all__ = ["load", "save", "formats", "format_table", "detect", "register", "Format", "limits",
           "current_limits", "ReaderLimits"]


def format_table() -> str:
    """The formats as a printable table (``metrology formats``): each format with read /
    write, extensions and the instruments it comes from, then the formats refused with
    the export to use instead."""
    return _catalog.format_table(formats())
