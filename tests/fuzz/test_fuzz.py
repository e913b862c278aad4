"""The quick fuzz profile, in the default test run (``python -m tests.fuzz`` for more).

One test per target (every readable registered format, and ``spec``): the
fixed cases of the quick profile must all pass the oracle. The oracle's own
checks are tested first with a deliberately bad reader, so that a passing run
means something.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import metrology
from metrology.io import Format, _registry, register

from . import campaign, oracle

QUICK = campaign.PROFILES["quick"]


@pytest.fixture
def bad_reader():
    """A registered format whose reader misbehaves as the file's first byte says."""

    def read(path: Path, **_kw: object) -> metrology.HeightMap:
        b = Path(path).read_bytes()
        mode = b[:1]
        if mode == b"T":
            raise GeneratorExit("an exception load does not wrap")
        if mode == b"W":
            Path(path).write_bytes(b + b"!")
        if mode == b"M":
            big = np.ones(40 * 2**20)  # 320 MB for a 1-byte file
            del big
        if mode == b"S":
            return metrology.HeightMap(np.full((2, 2), 31337.0), 0.1)
        return metrology.HeightMap(np.ones((2, 2)), 0.1)

    register(Format(name="zz-bad", extensions=(".zzbad",), description="test", read=read))
    yield "zz-bad"
    _registry._FORMATS.pop("zz-bad", None)


@pytest.mark.parametrize(("data", "must", "problem"), [
    (b"T", False, "escaped GeneratorExit"),
    (b"W", False, "input file was modified"),
    (b"M", False, "peak memory"),
    (b"O", True, "must be refused"),
    (b"S", False, "secret"),
])
def test_oracle_catches_a_bad_reader(bad_reader: str, tmp_path: Path, data: bytes, must: bool,
                                     problem: str) -> None:
    meter = oracle.PeakMeter()
    if problem == "peak memory" and not meter.works:
        pytest.skip("peak memory cannot be reset on this system (/proc/self/clear_refs)")
    o = oracle.run_file_case(bad_reader, "src", "m", data, ".zzbad", {}, must, tmp_path, meter)
    assert o.failure is not None and problem in o.failure, o
    good = oracle.run_file_case(bad_reader, "src", "m", b"O", ".zzbad", {}, False, tmp_path,
                                meter)
    assert good.failure is None and good.result == "map"


def test_oracle_map_checks() -> None:
    """load itself refuses such maps (its plausibility check); the oracle must too."""
    hm = metrology.HeightMap(np.ones((2, 2)), 0.1)
    assert oracle._valid_map_problem(hm) is None
    hm._z[0, 0] = np.inf
    assert "infinite" in oracle._valid_map_problem(hm)
    hm._z[0, 0] = 2e9
    assert "beyond" in oracle._valid_map_problem(hm)
    hm._z[0, 0], hm._dx = 1.0, -0.1
    assert "dx_mm" in oracle._valid_map_problem(hm)


@pytest.mark.parametrize("target", campaign.targets())
def test_quick_profile(target: str) -> None:
    outs, skipped = campaign.run(target, QUICK)
    if skipped:
        pytest.skip(skipped)
    assert len(outs) >= QUICK * 0.9
    fails = [o for o in outs if o.failure]
    assert not fails, "\n".join(f"{o.source} [{o.mutation}]: {o.failure}" for o in fails[:20])
