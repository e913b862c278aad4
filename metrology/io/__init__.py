"""File formats: ``load``, ``save`` and ``formats``.

One module per format (``metrology/io/<format>.py``); each registers itself
with :mod:`metrology.io._registry` when imported here.
"""

from __future__ import annotations

from . import (  # noqa: F401  (imported to register the formats)
    codev,
    datx,
    fourd,
    metropro,
    npy,
    sdf,
    sur,
    text,
    x3p,
    zemax,
)
from ._policy import ReaderLimits, current_limits, limits
from ._registry import Format, detect, formats, load, register, save

__all__ = ["load", "save", "formats", "detect", "register", "Format", "limits",
           "current_limits", "ReaderLimits"]
