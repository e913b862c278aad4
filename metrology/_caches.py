"""One registry of the toolkit's in-memory caches, with one clear.

Modules that keep results between calls (Zernike geometries, fitted aperture
circles, the PSD scratch arrays, ...) register a function that empties their
cache; :func:`clear_caches` calls them all, e.g. to time a fresh run or to
free memory. A cache never changes a result, only how fast it comes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["register", "clear_caches", "registered"]

_REGISTRY: dict[str, Callable[[], None]] = {}
_LOCK = threading.Lock()


def register(name: str, clear: Callable[[], None]) -> None:
    """Register ``clear`` (no arguments) under ``name``; a second call replaces it."""
    with _LOCK:
        _REGISTRY[str(name)] = clear


def registered() -> tuple[str, ...]:
    """Names of the registered caches, in registration order."""
    with _LOCK:
        return tuple(_REGISTRY)


def clear_caches() -> tuple[str, ...]:
    """Empty every registered cache of the modules imported so far; return their names.

    A module that was never imported holds no cache, so nothing is missed.
    """
    with _LOCK:
        items = list(_REGISTRY.items())
    for _, clear in items:
        clear()
    return tuple(name for name, _ in items)
