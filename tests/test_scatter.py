"""metrology.scatter: TIS and Rayleigh-Rice BRDF from the PSD.

Independent references used here: textbook Fresnel coefficients (written in
this file), the scalar far field of a sinusoidal phase grating (an FFT of
exp(i phi), J1² orders), the closed-form band variance of a power law, and an
angle-space quadrature of the BRDF over the hemisphere (the module integrates
in frequency space).
"""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
from scipy import special

from metrology import HeightMap
from metrology.errors import ConventionError
from metrology.materials import refractive_index
from metrology.scatter import brdf, cell_scatter, polarisation_factor, tis
from metrology.synth_psd import PowerLaw, synthesize

mp = importlib.import_module("metrology.spectral")
LAM = 266.0


def _fresnel_ref(theta, n):
    """R_s, R_p from air onto index n (complex allowed), Hecht's form."""
    ci = np.cos(theta)
    st = np.sin(theta) / n
    ct = np.sqrt(1 - st * st + 0j)
    rs = (ci - n * ct) / (ci + n * ct)
    rp = (n * ci - ct) / (n * ci + ct)
    return abs(rs) ** 2, abs(rp) ** 2


@pytest.mark.parametrize("n", [1.5, 1.46, 0.3 + 3.2j])
@pytest.mark.parametrize("deg", [0.0, 20.0, 55.0, 80.0])
def test_q_in_the_specular_direction_is_the_fresnel_reflectance(n, deg):
    t = math.radians(deg)
    rs, rp = _fresnel_ref(t, n)
    eps = complex(n) ** 2
    assert float(polarisation_factor(t, t, 0.0, "s", eps=eps)) == pytest.approx(rs, rel=1e-10)
    assert float(polarisation_factor(t, t, 0.0, "p", eps=eps)) == pytest.approx(rp, rel=1e-10)
    assert float(polarisation_factor(t, t, 0.0, "unpolarised", eps=eps)) == pytest.approx(
        (rs + rp) / 2, rel=1e-10)


def test_conductor_is_the_large_permittivity_limit():
    rng = np.random.default_rng(0)
    ti = rng.uniform(0, 1.2, 20)
    ts = rng.uniform(0, 1.2, 20)
    ps = rng.uniform(0, 2 * np.pi, 20)
    for pol in ("s", "p", "unpolarised"):
        big = polarisation_factor(ti, ts, ps, pol, eps=(1e5j) ** 2)
        lim = polarisation_factor(ti, ts, ps, pol, conductor=True)
        np.testing.assert_allclose(big, lim, rtol=1e-4)
    # in the plane of incidence, s stays s: Q_s = 1 for a perfect conductor
    np.testing.assert_allclose(polarisation_factor(ti, ts, 0.0, "s", conductor=True), 1.0)


def _grating(a_nm=0.5, n=1024, dx=0.001, k=40):
    x = np.arange(n) * dx
    f0 = k / (n * dx)
    z = np.tile(a_nm * np.cos(2 * np.pi * f0 * x), (16, 1))
    return HeightMap(z, dx), f0


def test_sinusoidal_grating_orders_match_the_scalar_far_field():
    """Normal incidence, perfect conductor, small angles: first-order RR per cell against
    the scalar far field of the phase screen exp(i 4 pi h / lambda) (J1² in the orders)."""
    a = 0.5
    hm, f0 = _grating(a)
    p = mp.psd(hm, window="none", remove=())
    cells = cell_scatter(p, LAM, surface="conductor", polarisation="s")
    top = np.argsort(cells.power)[-2:]
    lam_mm = LAM * 1e-6
    for i in top:
        # the grating equation: sin(theta_m) = m lambda f0
        assert math.sin(math.radians(cells.theta_s_deg[i])) == pytest.approx(lam_mm * f0,
                                                                            rel=1e-9)
        assert abs(cells.fx_per_mm[i]) == pytest.approx(f0) and cells.fy_per_mm[i] == 0
    assert {round(cells.azimuth_deg[i]) % 360 for i in top} == {0, 180}
    # scalar: one row of the phase screen, FFT -> order amplitudes
    phase = 4 * np.pi * hm.z_nm[0] / LAM
    orders = np.abs(np.fft.fft(np.exp(1j * phase)) / phase.size) ** 2
    k = 40
    assert orders[k] == pytest.approx(special.j1(4 * np.pi * a / LAM) ** 2, rel=1e-9)
    cos_m = math.sqrt(1 - (lam_mm * f0) ** 2)
    for i in top:
        # RR: (2 pi a / lambda)² cos(ti) cos(tm) Q with Q_s = 1
        assert cells.power[i] == pytest.approx((2 * np.pi * a / LAM) ** 2 * cos_m, rel=1e-9)
        assert cells.power[i] == pytest.approx(orders[k], rel=2e-4)
    # everything else is (numerically) dark
    assert np.sum(cells.power) == pytest.approx(np.sum(cells.power[top]), rel=1e-9)


def test_grating_at_oblique_incidence_on_caf2():
    a = 0.3
    hm, f0 = _grating(a, k=200)
    p = mp.psd(hm, window="none", remove=())
    ti = math.radians(30.0)
    cells = cell_scatter(p, LAM, incidence_deg=30.0, material="CaF2", polarisation="p")
    lam_mm = LAM * 1e-6
    n = refractive_index("CaF2", LAM)
    eps = n * n
    for m in (+1, -1):
        sm = math.sin(ti) + m * lam_mm * f0
        i = int(np.argmin(np.abs(np.sin(np.radians(cells.theta_s_deg)) - abs(sm))
                          + np.abs(cells.fx_per_mm - m * f0)))
        tm = math.asin(sm)
        q = float(polarisation_factor(ti, abs(tm), 0.0 if sm > 0 else math.pi, "p", eps=eps))
        expected = (2 * np.pi * a / LAM) ** 2 * math.cos(ti) * math.cos(tm) * q
        assert cells.power[i] == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("incidence", [0.0, 40.0])
def test_power_law_closed_form_tis(incidence):
    a, b = 0.05, 1.6
    model = PowerLaw(a, b, "radial")
    t1, t2 = (5.0, 60.0) if incidence == 0 else (50.0, 80.0)
    r = tis(model, LAM, collection_deg=(t1, t2), incidence_deg=incidence)
    lam_mm = LAM * 1e-6
    f1, f2 = math.sin(math.radians(t1)) / lam_mm, math.sin(math.radians(t2)) / lam_mm
    sigma2 = a * (f1 ** (1 - b) - f2 ** (1 - b)) / (b - 1)
    assert r.sigma_nm == pytest.approx(math.sqrt(sigma2), rel=1e-10)
    ci = math.cos(math.radians(incidence))
    assert r.tis == pytest.approx((4 * math.pi * ci * math.sqrt(sigma2) / LAM) ** 2, rel=1e-10)
    assert r.band_per_mm == pytest.approx((f1, f2))
    assert r.tis_rayleigh_rice is None and r.measurable
    if incidence:
        # a cone holding the specular beam is not a dark-field measurement
        bright = tis(model, LAM, collection_deg=(5.0, 60.0), incidence_deg=incidence)
        assert not bright.measurable and "specular" in bright.reason


def _hemisphere_integral(model, t1, t2, *, incidence=0.0, n_t=240, n_p=360, **kw):
    """∫ BRDF cos(ts) sin(ts) dts dphi by Gauss-Legendre in theta, midpoints in phi."""
    x, w = np.polynomial.legendre.leggauss(n_t)
    a, b = math.radians(t1), math.radians(t2)
    th = 0.5 * (b - a) * x + 0.5 * (a + b)
    wt = 0.5 * (b - a) * w
    ph = (np.arange(n_p) + 0.5) * 360.0 / n_p
    T, P = np.meshgrid(th, ph, indexing="ij")
    r = brdf(model, LAM, np.degrees(T).ravel(), azimuth_deg=P.ravel(), incidence_deg=incidence,
             **kw)
    v = r.values_sr.reshape(T.shape)
    return float(np.sum(v * np.cos(T) * np.sin(T) * wt[:, None]) * math.radians(360.0 / n_p))


@pytest.mark.parametrize("incidence,cone,pol,kw", [
    (0.0, (5.0, 80.0), "unpolarised", {"material": "CaF2"}),
    (45.0, (60.0, 80.0), "s", {"material": "CaF2"}),
    (30.0, (40.0, 85.0), "p", {"surface": "conductor"}),
    (20.0, (0.0, 10.0), "unpolarised", {"material": "CaF2"}),
    (0.0, (5.0, 80.0), "unpolarised", {"mode": "transmission", "material": "CaF2"}),
])
def test_energy_conservation_brdf_over_the_cone_equals_tis(incidence, cone, pol, kw):
    """Full-azimuth cone: the BRDF integrated in angle space (here) equals the module's
    frequency-space integral (scatter_fraction)."""
    model = PowerLaw(0.05, 1.5, "radial", f_lo_per_mm=1.0, f_hi_per_mm=1e4)
    t1, t2 = cone
    ang = _hemisphere_integral(model, t1, t2, incidence=incidence, polarisation=pol, **kw)
    r = tis(model, LAM, collection_deg=(t1, t2), incidence_deg=incidence, polarisation=pol,
            **kw)
    assert r.measurable, r.reason
    assert r.scatter_fraction == pytest.approx(ang, rel=3e-3)


def test_small_angle_limit_is_davies():
    model = PowerLaw(0.05, 1.5, "radial")
    r = tis(model, LAM, collection_deg=(0.2, 2.0), surface="conductor")
    assert r.tis_rayleigh_rice == pytest.approx(r.tis, rel=2e-3)
    r = tis(model, LAM, collection_deg=(0.2, 2.0), material="CaF2")
    assert r.scatter_fraction == pytest.approx(r.tis * r.specular, rel=2e-3)


def test_transmission_uses_n_minus_one():
    model = PowerLaw(0.05, 1.5, "radial")
    n = refractive_index("CaF2", LAM)
    r = tis(model, LAM, collection_deg=(2.0, 30.0), mode="transmission", material="CaF2")
    assert r.tis == pytest.approx((2 * math.pi * (n - 1) * r.sigma_nm / LAM) ** 2, rel=1e-12)
    refl = tis(model, LAM, collection_deg=(2.0, 30.0))
    # (n-1)/2 of the reflected phase: ~ (0.48 / 2)² of the reflection TIS at 266 nm
    assert r.tis / refl.tis == pytest.approx(((n - 1) / 2) ** 2, rel=1e-12)
    with pytest.raises(ConventionError):
        tis(model, LAM, collection_deg=(2.0, 30.0), mode="transmission")


def test_not_measurable_where_the_psd_does_not_reach():
    model = PowerLaw(0.05, 1.5, "radial", f_lo_per_mm=20.0, f_hi_per_mm=600.0)
    ang = np.array([1.0, 5.0, 8.0, 9.5, 30.0, -5.0])
    r = brdf(model, LAM, ang, material="CaF2")
    f = np.abs(np.sin(np.radians(ang))) / (LAM * 1e-6)
    want = (f >= 20.0) & (f <= 600.0)
    np.testing.assert_array_equal(r.covered, want)
    assert np.all(np.isnan(r.values_sr[~want])) and np.all(r.values_sr[want] > 0)
    assert not r.measurable and "do not cover" in r.reason or "does not cover" in r.reason
    t = tis(model, LAM, collection_deg=(2.0, 20.0), material="CaF2")
    assert not t.measurable and t.coverage == "partial"
    t = tis(model, LAM, collection_deg=(1.0, 8.0), material="CaF2")
    assert t.measurable


def test_signed_in_plane_angle_is_the_other_azimuth():
    model = PowerLaw(0.05, 1.5, "radial")
    a = brdf(model, LAM, [-20.0], incidence_deg=10.0, material="CaF2", polarisation="p")
    b = brdf(model, LAM, [20.0], azimuth_deg=180.0, incidence_deg=10.0, material="CaF2",
             polarisation="p")
    assert a.values_sr[0] == pytest.approx(b.values_sr[0], rel=1e-12)
    lam_mm = LAM * 1e-6
    # in plane: f = |sin(ts) - sin(ti)| / lambda, with ts signed
    assert a.f_per_mm[0] == pytest.approx(abs(math.sin(math.radians(-20)) -
                                              math.sin(math.radians(10))) / lam_mm)


def test_brdf_from_a_measured_psd_and_a_composite():
    from metrology.composite import composite_psd

    model = PowerLaw(0.05, 1.5, "radial")
    hm = synthesize(model, (512, 512), 0.0005, seed=2)   # 0.256 mm field, Nyquist 1000 /mm
    p = mp.psd(hm)
    ang = np.array([3.0, 6.0, 10.0])                      # 197 .. 653 /mm
    ref = brdf(model, LAM, ang, material="CaF2")
    iso = brdf(p, LAM, ang, material="CaF2")
    assert iso.measurable
    np.testing.assert_allclose(iso.values_sr, ref.values_sr, rtol=0.25)
    comp = composite_psd([hm])
    c = brdf(comp, LAM, ang, material="CaF2")
    assert c.measurable
    np.testing.assert_allclose(c.values_sr, ref.values_sr, rtol=0.25)
    t = tis(comp, LAM, collection_deg=(3.0, 10.0), material="CaF2")
    tr = tis(model, LAM, collection_deg=(3.0, 10.0), material="CaF2")
    assert t.measurable and t.tis == pytest.approx(tr.tis, rel=0.1)
    assert t.to_dict()["coverage"] == "full"
    # beyond the composite: not measurable
    far = brdf(comp, LAM, [40.0], material="CaF2")
    assert not far.measurable and math.isnan(far.values_sr[0])


def test_bad_input():
    model = PowerLaw(0.05, 1.5, "radial")
    with pytest.raises(ConventionError):
        brdf(model, LAM, [10.0])                           # no optics
    with pytest.raises(ConventionError):
        brdf(model, LAM, [10.0], material="CaF2", polarisation="circular")
    with pytest.raises(ConventionError):
        brdf(model, LAM, [10.0], material="CaF2", incidence_deg=90.0)
    with pytest.raises(ConventionError):
        brdf(model, LAM, [95.0], material="CaF2")
    with pytest.raises(ConventionError):
        tis(model, LAM, collection_deg=(30.0, 10.0))
    with pytest.raises(ConventionError):
        brdf(model, LAM, [10.0], surface="conductor", mode="transmission")
    with pytest.raises(ConventionError):
        brdf(model, 150.0, [10.0], material="CaF2")        # outside the Sellmeier range


def test_a_composite_that_is_not_measurable_gives_no_scatter_verdict():
    from metrology.composite import composite_psd
    from metrology.synth_composite import Instrument, KnownSurface, measure_part

    surf = KnownSurface(PowerLaw(0.05, 1.5, "radial"))
    a = Instrument("a", (128, 128), 0.002)
    b = Instrument("b", (128, 128), 0.0005)
    maps = measure_part(surf, [a, b], seed=0)
    maps = [m.replace(m.z_nm * 3.0) if m.meta["instrument"] == "b" else m for m in maps]
    c = composite_psd(maps, strict_overlap=True)
    assert not c.measurable
    r = brdf(c, LAM, [5.0], material="CaF2")
    assert not r.measurable and "not measurable" in r.reason
    t = tis(c, LAM, collection_deg=(3.0, 8.0), material="CaF2")
    assert not t.measurable and "strict_overlap" in t.reason
