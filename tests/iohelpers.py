"""Shared pieces of the format tests. The sample map lives with the fuzz corpus, so the
registry tests, the fuzz suite and the per-format tests write the same map."""

from __future__ import annotations

from fuzz.corpus import marked_map
from hypothesis import HealthCheck, settings

__all__ = ["marked_map", "FLIP_SETTINGS"]

#: byte-flip fuzzing in a per-format test: fixed examples, no deadline
FLIP_SETTINGS = settings(max_examples=50, derandomize=True, deadline=None,
                         suppress_health_check=[HealthCheck.function_scoped_fixture])
