"""Shared pytest fixtures.

Real instrument files live outside the repository (they are not ours to ship):
``../shared/realdata`` relative to the repository root, or wherever the
environment variable ``METROLOGY_REALDATA`` points. Tests that need them use

* ``realdata_dir`` (session): the folder as a :class:`pathlib.Path`; the test is
  skipped, saying why, when the folder is absent;
* ``realdata``: a factory ``realdata(name) -> Path`` that also skips when the
  one file is missing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def _find_realdata() -> tuple[Path | None, str]:
    env = os.environ.get("METROLOGY_REALDATA")
    if env:
        p = Path(env).expanduser()
        if p.is_dir():
            return p, ""
        return None, f"METROLOGY_REALDATA={env!r} is not a folder"
    p = (REPO_ROOT.parent / "shared" / "realdata").resolve()
    if p.is_dir():
        return p, ""
    return None, (f"real instrument files not found at {p}; set METROLOGY_REALDATA "
                  "to the folder holding them")


@pytest.fixture(scope="session")
def realdata_dir() -> Path:
    """Folder of real instrument files (skips the test when absent)."""
    p, why = _find_realdata()
    if p is None:
        pytest.skip(why)
    return p


@pytest.fixture
def realdata(realdata_dir: Path) -> Callable[[str], Path]:
    """Factory: ``realdata(name)`` -> path of that real file, skipping when it is missing."""

    def _get(name: str) -> Path:
        f = realdata_dir / name
        if not f.is_file():
            pytest.skip(f"real data file {name!r} not found in {realdata_dir}")
        return f

    return _get
