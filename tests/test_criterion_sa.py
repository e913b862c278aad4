"""The ``sa`` criterion type (metrology/criteria/sa.py): Sa = mean |z - mean z|.

Expected values come from maps whose height distribution is known exactly, not
from the code: a field that is 0 nm on 3/4 of its pixels and 4 nm on 1/4 has
mean 1 nm and Sa = 3/4 * 1 + 1/4 * 3 = 1.5 nm (while Sq = sqrt(3) nm and the
mean |z| about zero is 1 nm, so a wrong definition cannot pass).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import metrology as mt
from metrology import SpecError
from metrology.check import check
from metrology.criteria import registry

SPEC = """
schema = "metrology.spec/1"
full_band = false
[part]
name = "sa test"
[measurements.m]
instrument = "csi"
match.filename = ["*site*"]
[measurements.m.preprocessing]
remove = ["piston"]
{aperture}
[sa]
measurement = "m"
sa_nm_max = {limit}
"""


def _stripes(n: int = 40) -> np.ndarray:
    """0 nm everywhere, 4 nm on every 4th column: exactly 1/4 of the pixels."""
    z = np.zeros((n, n))
    z[:, ::4] = 4.0
    return z


def _check(tmp_path, z, limit, aperture="", dx=0.01, name="a_site1.x3p"):
    spec = mt.parse_spec(SPEC.format(aperture=aperture, limit=limit), "t.toml")
    f = mt.save(mt.HeightMap(z, dx), tmp_path / name)
    return check(spec, [f])


def test_sa_of_a_two_level_field_is_known(tmp_path):
    z = _stripes()
    assert z.mean() == pytest.approx(1.0)             # the construction, checked
    rep = _check(tmp_path, z, 1.6)
    (c,) = [c for c in rep.parts[0].criteria if c.type == "sa"]
    assert c.id == "m.sa" and c.unit == "nm" and c.verdict == "pass"
    assert c.value == pytest.approx(1.5, abs=1e-9)
    assert c.value != pytest.approx(math.sqrt(3.0)) and c.value != pytest.approx(1.0)
    ev = c.evidence
    assert ev.n_pixels == 40 * 40 and ev.mean_nm == pytest.approx(0.0, abs=1e-9)
    assert "piston" in ev.data
    assert _check(tmp_path, z, 1.4).parts[0].criteria[0].verdict == "fail"


def test_sa_is_about_the_mean_and_only_inside_the_aperture(tmp_path):
    """An offset changes nothing (Sa is about the mean); pixels outside the clear aperture
    do not count. The expected value is counted here from the pixel grid."""
    n, dx = 64, 0.1
    z = _stripes(n) + 250.0
    x = (np.arange(n) - (n - 1) / 2) * dx
    inside = x[None, :] ** 2 + x[:, None] ** 2 <= 2.5 ** 2
    z[~inside] = 1000.0                                # huge outside: must not count
    v = z[inside]
    want = float(np.mean(np.abs(v - v.mean())))
    ap = ("[measurements.m.aperture]\ndiameter_mm = 5.0\ncentre_mm = [0.0, 0.0]")
    rep = _check(tmp_path, z, 10.0, aperture=ap, dx=dx)
    (c,) = [c for c in rep.parts[0].criteria if c.type == "sa"]
    assert c.value == pytest.approx(want, rel=1e-9)
    assert 1.2 < want < 1.8                             # a two-level field, not the 1000s
    assert c.evidence.n_pixels == int(inside.sum())


def test_sa_in_the_json_report_and_schema(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    from metrology import reports

    d = reports.to_json(_check(tmp_path, _stripes(), 1.6))
    jsonschema.Draft202012Validator(reports.report_schema()).validate(d)
    (c,) = [c for c in d["parts"][0]["criteria"] if c["type"] == "sa"]
    assert c["convention"]["statistic"] == "Sa"
    assert c["sites"][0]["evidence"]["kind"] == "sa"
    json.dumps(d, allow_nan=False)


@pytest.mark.parametrize("old,new,path,word", [
    ('sa_nm_max = 1.6', 'sa_nm_max = -1.6', "sa.sa_nm_max", "negative limit"),
    ('sa_nm_max = 1.6', 'sa_max = 1.6', "sa.sa_max", "without its unit"),
    ('measurement = "m"\nsa_nm_max', 'measurement = "mm"\nsa_nm_max', "sa.measurement",
     "undeclared measurement"),
])
def test_sa_spec_errors_name_the_key(old, new, path, word):
    text = SPEC.format(aperture="", limit=1.6).replace(old, new)
    with pytest.raises(SpecError) as ei:
        mt.parse_spec(text, "t.toml")
    assert path in str(ei.value) and word in str(ei.value)


def test_sa_array_form_and_duplicates():
    base = SPEC.format(aperture="", limit=1.6).split("[sa]")[0]
    two = base + '[[sa]]\nmeasurement = "m"\nsa_nm_max = 1.0\n'
    s = mt.parse_spec(two)
    assert [c.id for c in s.criteria] == ["m.sa"]
    with pytest.raises(SpecError, match="defined twice"):
        mt.parse_spec(two + '[[sa]]\nmeasurement = "m"\nsa_nm_max = 2.0\n')


def test_sa_is_found_by_the_registry():
    """Adding the type was one file: the registry found it, the reader accepts its section."""
    assert registry()["sa"].__module__ == "metrology.criteria.sa"
