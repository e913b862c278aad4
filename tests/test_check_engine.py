"""Check-engine details not covered through the CLI tests."""

import os
import stat

import numpy as np
import pytest

import metrology as mt
from metrology import aperture as ap
from metrology.check import check

SPEC = """
schema = "metrology.spec/1"
full_band = false
[part]
name = "flat"
[measurements.fizeau]
instrument = "fizeau"
match.filename = ["*fizeau*"]
[measurements.fizeau.aperture]
diameter_mm = 20.0
[[bands]]
name = "B"
measurement = "fizeau"
f_lo_per_mm = 0.2
f_hi_per_mm = 1.0
kind = "areal"
rms_nm_max = 1.0
[psd]
kind = "{kind}"
sidedness = "{side}"
{direction}
[[psd.segments]]
a_nm2_mm = 0.05
b = 2.0
f_lo_per_mm = 0.2
f_hi_per_mm = 1.0
"""


@pytest.fixture(scope="module")
def fizeau_file(tmp_path_factory):
    from metrology.synth_psd import PowerLaw, synthesize

    d = tmp_path_factory.mktemp("eng")
    hm = synthesize(PowerLaw(0.002, 3.0, kind="areal"), (256, 256), 0.1, seed=3)
    hm = hm.apply_mask(ap.circle(hm, 24.0))
    return mt.save(hm, d / "part_fizeau.x3p")


def _psd_value(path, kind, side):
    spec = mt.parse_spec(SPEC.format(kind=kind, side=side,
                                     direction='direction = "x"' if kind == "profile" else ""))
    rep = check(spec, [path])
    (res,) = [c for c in rep.parts[0].criteria if c.type == "psd_limit"]
    assert res.convention["sidedness"] == side and res.convention["psd_kind"] == kind
    return res.value


def test_psd_limit_uses_the_sidedness_and_kind_of_the_line(fizeau_file):
    one = _psd_value(fizeau_file, "profile", "one-sided")
    two = _psd_value(fizeau_file, "profile", "two-sided")
    # one-sided P1+ = 2 P1 for f > 0: the ratio against the same line doubles
    assert one == pytest.approx(2 * two, rel=1e-9)
    rad = _psd_value(fizeau_file, "radial", "one-sided")
    assert rad != pytest.approx(one, rel=0.05)


def test_valid_fraction_never_exceeds_one(fizeau_file):
    spec = mt.parse_spec(SPEC.format(kind="profile", side="one-sided", direction=""))
    fa = check(spec, [fizeau_file]).parts[0].files[0]
    assert 0.999 <= fa.valid_fraction_in_aperture <= 1.0


def test_outputs_get_ordinary_file_modes(tmp_path):
    hm = mt.HeightMap(np.ones((8, 8)), 0.1)
    out = mt.save(hm, tmp_path / "a.x3p")
    mode = stat.S_IMODE(os.stat(out).st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask
