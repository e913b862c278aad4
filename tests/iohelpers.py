"""Shared pieces of the format tests. The sample map lives with the fuzz corpus, so the
registry tests, the fuzz suite and the per-format tests write the same map."""

from __future__ import annotations

from fuzz.corpus import marked_map

__all__ = ["marked_map"]
