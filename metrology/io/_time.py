"""Timestamps shared by the writers."""

from __future__ import annotations

import datetime as _dt
from typing import Any


def unix_seconds(iso: Any) -> int:
    """Seconds since 1970 of an ISO 8601 string (UTC when it names no zone); 0 when
    absent, unreadable, or outside the 32-bit range that file headers hold."""
    if not isinstance(iso, str):
        return 0
    try:
        t = _dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return 0
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.UTC)
    s = int(t.timestamp())
    return s if 0 < s < 2**31 else 0
