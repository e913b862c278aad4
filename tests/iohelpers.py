"""Shared pieces of the format tests (the sample map lives with the corpus of the fuzz suite,
so the registry tests, the fuzz and the per-format tests write the same map)."""

from __future__ import annotations

from fuzz.corpus import marked_map

__all__ = ["marked_map"]
