"""The one JSON sanitiser: any result the toolkit builds -> standard JSON values."""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["jsonable"]


def jsonable(obj: Any) -> Any:
    """A JSON-ready copy of ``obj`` (for ``json.dumps(..., allow_nan=False)``).

    * NaN and ±inf become ``None`` (standard JSON has no NaN);
    * NumPy scalars become Python numbers, NumPy arrays and tuples lists;
    * mapping keys become strings;
    * enums become their value (a :class:`metrology.verdicts.Verdict` its word);
    * a dataclass becomes a dict of its fields, led by ``"type"`` when the
      class names one in a ``TYPE`` class attribute (spec criteria do).
    """
    if isinstance(obj, enum.Enum):
        return jsonable(obj.value)
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, str) or obj is None:
        return obj
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [jsonable(v) for v in obj.tolist()]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        d: dict[str, Any] = {}
        kind = getattr(type(obj), "TYPE", None)
        if isinstance(kind, str):
            d["type"] = kind
        for f in dataclasses.fields(obj):
            d[f.name] = jsonable(getattr(obj, f.name))
        return d
    return obj
