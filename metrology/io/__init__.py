"""File formats: ``load``, ``save`` and ``formats``.

One module per format (``metrology/io/<format>.py``); each registers itself
with :mod:`metrology.io._registry` when imported here.
"""

from __future__ import annotations

from . import (  # noqa: F401  (imported to register the formats)
    al3d,
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
)
from ._catalog import format_table
from ._registry import Format, detect, formats, load, register, save

__all__ = ["load", "save", "formats", "format_table", "detect", "register", "Format"]
