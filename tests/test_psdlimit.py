"""metrology.psdlimit: ISO 10110-8 style limit lines and the band RMS they imply.

References: unit conversions done by hand here; the profile of a 2-D line and
the band integrals by numerical quadrature (scipy.integrate), independent of
the closed forms in the module.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from metrology.errors import ConventionError
from metrology.psdlimit import PiecewiseLimit, PSDLimit, c_alpha, iso10110_psd_limit


def test_units_are_converted_to_nm_and_mm():
    # A = 2e-3 µm² µm at 1/µm, B = 1.5, 1-D one-sided, f in 1/µm.
    line = iso10110_psd_limit(2e-3, 1.5, (1e-3, 1.0), height_unit="um", length_unit="um")
    assert line.kind == "profile" and line.unit == "nm^2 mm"
    # at f = 10 cycles/mm = 0.01 cycles/µm: P = 2e-3 * 0.01^-1.5 µm³ = 2 µm³
    # = 2 * (1000 nm)² * 1e-3 mm = 2000 nm² mm
    assert float(line(10.0)) == pytest.approx(2000.0, rel=1e-12)
    assert (line.f_lo_per_mm, line.f_hi_per_mm) == pytest.approx((1.0, 1000.0))
    # the same line written in nm and mm
    same = iso10110_psd_limit(2000.0 * 10 ** 1.5, 1.5, (1.0, 1000.0))
    f = np.geomspace(1, 1000, 7)
    np.testing.assert_allclose(line(f), same(f), rtol=1e-12)
    assert "ISO 10110-8" in line.notation and "um" in line.notation
    # 2-D: A in nm² mm² at 1/mm; in µm² µm² with f in 1/µm at 0.01/µm
    a2 = iso10110_psd_limit(5e-9, 2.5, (1e-3, 1.0), dimension="2d", height_unit="um",
                            length_unit="um")
    assert a2.kind == "areal" and a2.unit == "nm^2 mm^2"
    assert float(a2(10.0)) == pytest.approx(5e-9 * 0.01 ** -2.5 * 1e6 * 1e-6, rel=1e-12)


def test_two_sided_line_is_twice_the_one_sided():
    one = iso10110_psd_limit(3.0, 2.0, (0.1, 10.0))
    two = iso10110_psd_limit(3.0, 2.0, (0.1, 10.0), sidedness="two-sided")
    assert float(two(1.0)) == pytest.approx(2 * float(one(1.0)))
    assert two.sidedness == "one-sided"  # stored in our convention


def test_profile_of_the_areal_line_by_quadrature():
    """P1+(f) = 2 ∫ PSD2(sqrt(f² + fy²)) dfy of the 2-D line equals its profile form."""
    k, alpha = 0.7, 3.2
    areal = PSDLimit(k, alpha, "areal", 0.01, 100.0)
    prof = areal.as_kind("profile")
    for f in (0.3, 1.0, 4.0):
        q = 2 * integrate.quad(lambda fy, f=f: k * (f * f + fy * fy) ** (-alpha / 2),
                               -np.inf, np.inf)[0]
        assert float(prof(f)) == pytest.approx(q, rel=1e-8)
    # and back
    back = prof.as_kind("areal")
    assert back.a == pytest.approx(k, rel=1e-12) and back.b == pytest.approx(alpha)
    rad = areal.as_kind("radial")
    assert float(rad(2.0)) == pytest.approx(2 * math.pi * 2.0 * k * 2.0 ** -alpha)


@pytest.mark.parametrize("b", [1.0, 1.5, 2.0, 2.5])
def test_band_rms_closed_form_by_quadrature(b):
    line = iso10110_psd_limit(0.05, b, (0.01, 1000.0))
    lo, hi = 0.5, 20.0
    prof = line.band_rms_nm(lo, hi, kind="profile")
    assert prof.fully_covered
    q = integrate.quad(lambda f: 0.05 * f ** -b, lo, hi)[0]
    assert prof.rms_nm == pytest.approx(math.sqrt(q), rel=1e-9)
    # areal: ∫ 2π f K f^-(b+1) df with K from the isotropic conversion
    big_k = 0.05 / (2 * c_alpha(b + 1))
    qa = integrate.quad(lambda f: 2 * math.pi * f * big_k * f ** -(b + 1), lo, hi)[0]
    ar = line.band_rms_nm(lo, hi, kind="areal")
    assert ar.rms_nm == pytest.approx(math.sqrt(qa), rel=1e-9)


def test_areal_over_profile_is_pi_over_two_for_slope_two():
    line = iso10110_psd_limit(1.0, 2.0, (0.1, 100.0))
    a = line.band_rms_nm(1, 10, "areal").rms_nm
    p = line.band_rms_nm(1, 10, "profile").rms_nm
    assert (a / p) ** 2 == pytest.approx(math.pi / 2, rel=1e-12)


def test_band_outside_the_line():
    line = iso10110_psd_limit(1.0, 2.0, (1.0, 10.0))
    r = line.band_rms_nm(0.5, 5.0, "profile")
    assert not r.fully_covered and r.covered_lo_per_mm == 1.0 and "starts" in r.reason
    assert r.rms_nm == pytest.approx(math.sqrt(1 - 1 / 5), rel=1e-12)
    r = line.band_rms_nm(20, 30, "profile")
    assert math.isnan(r.rms_nm) and "outside" in r.reason
    assert math.isnan(float(line(0.5)))


def test_bad_lines():
    with pytest.raises(ConventionError):
        iso10110_psd_limit(-1, 2, (1, 10))
    with pytest.raises(ConventionError):
        iso10110_psd_limit(1, 2, (10, 1))
    with pytest.raises(ConventionError):
        iso10110_psd_limit(1, 2, (1, 10), dimension="3d")
    with pytest.raises(ConventionError):
        iso10110_psd_limit(1, 2, (1, 10), height_unit="furlong")
    with pytest.raises(ConventionError):
        iso10110_psd_limit(1, 2, (1, 10), dimension="2d", sidedness="two-sided")


def test_piecewise_line_adds_its_segments():
    segs = (PSDLimit(0.028, 2.0, "profile", 0.1, 1.0), PSDLimit(0.028, 1.5, "profile", 1.0, 50.0))
    line = PiecewiseLimit(segs)
    assert line.kind == "profile" and (line.f_lo_per_mm, line.f_hi_per_mm) == (0.1, 50.0)
    assert float(line(0.5)) == pytest.approx(0.028 * 0.5 ** -2)
    assert float(line(4.0)) == pytest.approx(0.028 * 4.0 ** -1.5)
    q = integrate.quad(lambda f: 0.028 * f ** -2, 0.2, 1.0)[0] + \
        integrate.quad(lambda f: 0.028 * f ** -1.5, 1.0, 20.0)[0]
    r = line.band_rms_nm(0.2, 20.0, "profile")
    assert r.fully_covered and r.rms_nm == pytest.approx(math.sqrt(q), rel=1e-9)
    r = line.band_rms_nm(0.05, 20.0, "profile")
    assert not r.fully_covered and "does not cover" in r.reason
    with pytest.raises(ConventionError):
        PiecewiseLimit((PSDLimit(1, 2, "profile", 0.1, 2.0), PSDLimit(1, 2, "profile", 1.0, 5)))
    with pytest.raises(ConventionError):
        PiecewiseLimit((PSDLimit(1, 2, "profile", 0.1, 1.0), PSDLimit(1, 2, "areal", 1.0, 5)))
