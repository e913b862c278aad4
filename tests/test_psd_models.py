"""PSD models, fits and synthetic surfaces against analytic results.

Analytic ground truth used here (isotropic surface, 2-D PSD ``K f^-α``):

* areal band variance ``∫ 2π f K f^-α df``; for a radial PSD ``A f^-B``
  (α = B + 1) that is ``A (lo^(1-B) - hi^(1-B)) / (B - 1)``;
* profile PSD ``P1+(f) = 2 ∫ K (f² + g²)^(-α/2) dg`` (checked here by
  quadrature), so areal / profile band variance = π / c_α with
  ``c_3 = 2``: π/2 for a 1/f² (radial or profile) spectrum.
"""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
from scipy import integrate

from metrology.errors import ConventionError
from metrology.synth_psd import (
    ABC,
    PowerLaw,
    fit_abc,
    fit_power_law,
    fit_power_law_segments,
    synthesize,
)

# the module, not the function `metrology.spectral` that the package exports under that name
mp = importlib.import_module("metrology.spectral")


def _profile_by_quadrature(psd2d, f):
    return 2.0 * integrate.quad(lambda g: float(psd2d(math.hypot(f, g))), -np.inf, np.inf,
                                epsabs=0, epsrel=1e-11, limit=400)[0]


@pytest.mark.parametrize("model", [PowerLaw(3.0, 2.0, "profile"), PowerLaw(0.7, 2.6, "profile"),
                                   ABC(5.0, 2.0, 2.5, "profile"), ABC(1.0, 0.3, 1.5, "profile")])
def test_profile_models_convert_to_the_right_areal_psd(model):
    """A profile model's psd2d integrates back (quadrature) to the profile model."""
    for f in (0.05, 0.7, 3.0):
        assert _profile_by_quadrature(model.psd2d, f) == pytest.approx(float(model(f)),
                                                                       rel=1e-7)


@pytest.mark.parametrize("model", [PowerLaw(2.0, 3.0, "radial"), ABC(4.0, 1.5, 3.0, "radial")])
def test_radial_and_areal_models(model):
    for f in (0.1, 1.3):
        assert 2 * math.pi * f * model.psd2d(f) == pytest.approx(float(model(f)), rel=1e-14)
    areal = PowerLaw(2.0, 3.0, "areal")
    assert areal.psd2d(0.5) == pytest.approx(2.0 * 0.5 ** -3.0, rel=1e-15)


def test_power_law_band_variance_against_quadrature():
    m = PowerLaw(2.0, 2.0, "radial")
    lo, hi = 0.2, 3.0
    areal = integrate.quad(lambda f: 2 * math.pi * f * m.psd2d(f), lo, hi, epsrel=1e-12)[0]
    assert m.band_variance_nm2(lo, hi) == pytest.approx(areal, rel=1e-10)
    assert m.band_variance_nm2(lo, hi) == pytest.approx(2.0 * (1 / lo - 1 / hi), rel=1e-12)
    prof = integrate.quad(lambda f: _profile_by_quadrature(m.psd2d, f), lo, hi, epsrel=1e-9)[0]
    assert m.band_variance_nm2(lo, hi, "profile") == pytest.approx(prof, rel=1e-7)
    assert areal / prof == pytest.approx(math.pi / 2, rel=1e-7)


# seed-averaged synthetic surfaces --------------------------------------------

N, DX, SEEDS = 512, 0.1, 24
DF = 1.0 / (N * DX)
# band edges half-way between cell radii (the cell sum is then a midpoint rule of
# the integral) and far below Nyquist (so the profile integral over f_y is complete)
LO, HI = 16.5 * DF, 40.5 * DF


@pytest.fixture(scope="module")
def power_law_runs():
    out = {}
    for b in (2.0, 3.0):
        m = PowerLaw(1.0, b, "radial")
        areal, prof = [], []
        for seed in range(SEEDS):
            p = mp.psd(synthesize(m, (N, N), DX, seed), window="none", remove=())
            areal.append(p.band_variance_nm2(LO, HI))
            prof.append(0.5 * sum(mp.band_rms(p, LO, HI, kind="profile", axis=a).rms_nm ** 2
                                  for a in ("x", "y")))
        out[b] = (m, np.mean(areal), np.mean(prof))
    return out


@pytest.mark.parametrize("b", [2.0, 3.0])
def test_synthesized_power_law_reproduces_analytic_band_rms(power_law_runs, b):
    _, areal, _ = power_law_runs[b]
    analytic = (LO ** (1 - b) - HI ** (1 - b)) / (b - 1)  # A = 1
    # observed: -0.6 % (f^-2) and -0.8 % (f^-3) in RMS, of which ~0.3 % is seed noise
    assert math.sqrt(areal) == pytest.approx(math.sqrt(analytic), rel=0.02)


def test_areal_over_profile_is_pi_over_2_for_f2(power_law_runs):
    _, areal, prof = power_law_runs[2.0]
    assert areal / prof == pytest.approx(math.pi / 2, rel=0.02)
    _, areal3, prof3 = power_law_runs[3.0]
    assert areal3 / prof3 == pytest.approx(2.0, rel=0.02)  # π / c_4 = π / (π/2)


def test_synthesize_is_reproducible_and_validates():
    m = PowerLaw(1.0, 2.0, "radial")
    a = synthesize(m, (32, 48), 0.1, 5)
    b = synthesize(m, (32, 48), 0.1, 5)
    assert a == b and a.shape == (32, 48) and abs(a.mean_nm) < 1e-12
    assert "synthetic" in a.meta
    with pytest.raises(ConventionError):
        synthesize(m, (1, 48), 0.1, 5)
    with pytest.raises(ConventionError):
        synthesize(lambda f: -np.ones_like(f), (8, 8), 0.1, 1)
    with pytest.raises(ConventionError):
        PowerLaw(-1.0, 2.0)
    with pytest.raises(ConventionError):
        ABC(1.0, 1.0, 2.0, kind="volume")


# fits ------------------------------------------------------------------------

@pytest.mark.parametrize("b", [2.0, 3.0])
def test_fit_power_law_recovers_exponent(b):
    m = PowerLaw(4.0, b, "radial")
    p = mp.psd(synthesize(m, (N, N), DX, 42), window="none", remove=())
    fit = fit_power_law(p)
    assert fit.kind == "radial"
    assert fit.b == pytest.approx(b, abs=0.03)
    assert fit.a == pytest.approx(4.0, rel=0.06)
    # the profile of the same surface: same exponent, amplitude 2 K c_α with K = A / 2π,
    # c_3 = 2, c_4 = π/2. Fitted below Nyquist / 4: the grid holds |f_y| <= Nyquist
    # only, which steepens the profile near Nyquist.
    prof = fit_power_law(p.profile("x"), None, 0.25 * p.nyquist_x_per_mm)
    assert prof.kind == "profile"
    assert prof.b == pytest.approx(b, abs=0.05)
    expected_a = 2 * 4.0 / math.pi if b == 2.0 else 4.0 / 2
    assert prof.a == pytest.approx(expected_a, rel=0.1)


def test_fit_power_law_segments_on_broken_law():
    knee = 1.0

    def areal(f):  # radial f^-1.5 below the knee, f^-3 above, continuous
        rad = np.where(f < knee, f ** -1.5, knee ** 1.5 * f ** -3.0)
        return rad / (2 * np.pi * f)

    p = mp.psd(synthesize(areal, (N, N), DX, 3), window="none", remove=())
    lo, hi = fit_power_law_segments(p, [p.f_min_per_mm, knee, p.f_max_per_mm])
    assert lo.b == pytest.approx(1.5, abs=0.06)
    assert hi.b == pytest.approx(3.0, abs=0.05)
    assert lo.f_hi_per_mm == knee == hi.f_lo_per_mm


def test_fit_abc_recovers_parameters():
    truth = ABC(20.0, 0.5, 3.0, "radial")  # knee at ~2 /mm, Nyquist 10 /mm
    p = mp.psd(synthesize(truth, (1024, 1024), 0.05, 7), window="none", remove=())
    fit = fit_abc(p)
    assert fit.kind == "radial"
    assert fit.c == pytest.approx(3.0, abs=0.1)
    assert fit.b_mm == pytest.approx(0.5, rel=0.1)
    assert fit.a == pytest.approx(20.0, rel=0.1)
