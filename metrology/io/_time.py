"""Timestamps shared by the writers, and reproducible output (``SOURCE_DATE_EPOCH``).

When the environment variable ``SOURCE_DATE_EPOCH`` holds a Unix time
(https://reproducible-builds.org/specs/source-date-epoch/), every writer uses
that instant instead of the current time (header dates, zip entry dates) and
derives the identifiers it would otherwise draw at random from the file's
content, so the same map written twice gives the same bytes.
"""

from __future__ import annotations

import datetime as _dt
import os
from typing import Any

__all__ = ["unix_seconds", "source_date_epoch", "now_utc", "now_local"]


def source_date_epoch() -> int | None:
    """``SOURCE_DATE_EPOCH`` as seconds since 1970, or ``None`` when unset or invalid."""
    raw = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not raw.isdigit():
        return None
    s = int(raw)
    return s if s < 2**63 else None


def now_utc() -> _dt.datetime:
    """The current time (UTC), or ``SOURCE_DATE_EPOCH`` when it is set."""
    s = source_date_epoch()
    return _dt.datetime.now(_dt.UTC) if s is None else _dt.datetime.fromtimestamp(s, _dt.UTC)


def now_local() -> _dt.datetime:
    """The current local time (naive), or the UTC wall time of ``SOURCE_DATE_EPOCH``."""
    s = source_date_epoch()
    if s is None:
        return _dt.datetime.now()
    return _dt.datetime.fromtimestamp(s, _dt.UTC).replace(tzinfo=None)


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
