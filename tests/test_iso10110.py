"""ISO 10110-5 form deviation (A, B, C, RMSt, RMSi, RMSa) and the drawing notation.

The analytic surface: sphere (power) + astigmatism + primary spherical on a disk
of radius R,

    z = a r² + b ρ² cos 2θ + s (6ρ⁴ - 6ρ² + 1),  ρ = r / R,

whose continuum values are known in closed form: A = a R²; C = 1.5 |s| (the
peak-normalised Z9 runs from 1 at the centre to -1/2 at ρ² = 1/2); RMSt² =
(aR²)²/12 + b²/6 + s²/5, RMSi² = b²/6 + s²/5, RMSa² = b²/6; B = the PV of
b ρ² cos 2θ + s Z9 over the disk, found by a dense search in (ρ, θ).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import metrology as m
from metrology.errors import SpecError
from metrology.iso10110 import form_deviation, form_estimates, fringe_nm, parse_form_tolerance

LAM = 632.8
R = 10.0
A_NM, B_AST, S_SPH = 316.4, 50.0, 20.0  # one fringe of power at 632.8 nm


def analytic(n: int = 401, shape: str = "disk") -> m.HeightMap:
    hm = m.HeightMap(np.zeros((n, n)), 2 * R / (n - 1))
    x, y = hm.grid_mm()
    rho2 = (x * x + y * y) / R ** 2
    th = np.arctan2(y, x)
    z = (A_NM * rho2 + B_AST * rho2 * np.cos(2 * th)
         + S_SPH * (6 * rho2 ** 2 - 6 * rho2 + 1))
    if shape == "disk":
        inside = rho2 <= 1.0
    else:  # a square of half-width 0.6 R: not a disk
        inside = (np.abs(x) <= 0.6 * R) & (np.abs(y) <= 0.6 * R)
    return hm.replace(np.where(inside, z, np.nan))


def continuum_b() -> float:
    rho = np.linspace(0, 1, 4001)[:, None]
    th = np.linspace(0, 2 * np.pi, 721)[None, :]
    f = B_AST * rho ** 2 * np.cos(2 * th) + S_SPH * (6 * rho ** 4 - 6 * rho ** 2 + 1)
    return float(f.max() - f.min())


@pytest.fixture(scope="module")
def disk() -> m.HeightMap:
    return analytic()


def test_continuum_values_of_the_analytic_surface(disk) -> None:
    dev = form_deviation(disk, centre_mm=(0.0, 0.0))
    assert dev.sagitta_nm == pytest.approx(A_NM, rel=2e-3)
    assert dev.irregularity_nm == pytest.approx(continuum_b(), rel=3e-3)
    assert dev.rotational_nm == pytest.approx(1.5 * S_SPH, rel=5e-3)
    assert dev.rms_t_nm == pytest.approx(
        math.sqrt(A_NM ** 2 / 12 + B_AST ** 2 / 6 + S_SPH ** 2 / 5), rel=3e-3)
    assert dev.rms_i_nm == pytest.approx(math.sqrt(B_AST ** 2 / 6 + S_SPH ** 2 / 5), rel=3e-3)
    assert dev.rms_a_nm == pytest.approx(B_AST / math.sqrt(6), rel=5e-3)
    fr = dev.in_fringes(LAM)
    assert fr["A"] == pytest.approx(1.0, rel=2e-3)  # 1 fringe = λ/2 of surface
    assert fringe_nm(LAM) == LAM / 2


def test_pixel_exact_values_against_plain_numpy(disk) -> None:
    """Same definitions computed independently on the same pixels (lstsq, PV, ring means)."""
    dev = form_deviation(disk, centre_mm=(0.0, 0.0))
    v = disk.valid
    x, y = disk.grid_mm()
    xs, ys, z = x[v], y[v], disk.z_nm[v]
    r2 = xs ** 2 + ys ** 2
    g = np.column_stack([np.ones_like(z), xs, ys, r2])
    p, *_ = np.linalg.lstsq(g, z, rcond=None)
    e = z - g @ p
    assert dev.sagitta_nm == pytest.approx(p[3] * (r2.max() - r2.min()), rel=1e-9)
    assert dev.irregularity_nm == pytest.approx(e.max() - e.min(), rel=1e-9)
    assert dev.rms_i_nm == pytest.approx(np.sqrt(np.mean((e - e.mean()) ** 2)), rel=1e-9)
    ring = np.floor(np.sqrt(r2) / disk.dx_mm).astype(int)
    means = np.array([e[ring == k].mean() for k in range(ring.max() + 1)])
    counts = np.bincount(ring)
    ok = counts >= 4
    assert dev.rotational_nm == pytest.approx(means[ok].max() - means[ok].min(), rel=1e-9)
    rot = means[ring]
    assert dev.rms_a_nm == pytest.approx(np.sqrt(np.mean((e - rot - (e - rot).mean()) ** 2)),
                                         rel=1e-9)


def test_zernike_rotational_part_agrees(disk) -> None:
    dev = form_deviation(disk, centre_mm=(0.0, 0.0), rotational="zernike")
    assert dev.rotational_nm == pytest.approx(1.5 * S_SPH, rel=3e-3)
    assert dev.rms_a_nm == pytest.approx(B_AST / math.sqrt(6), rel=3e-3)
    assert "m = 0" in dev.rotational_method


def test_sagitta_is_not_the_fringe_z4_term_off_a_disk() -> None:
    sq = analytic(301, "square")
    dev = form_deviation(sq, centre_mm=(0.0, 0.0))
    v = sq.valid
    x, y = sq.grid_mm()
    xs, ys, z = x[v], y[v], sq.z_nm[v]
    r2 = xs ** 2 + ys ** 2
    p, *_ = np.linalg.lstsq(np.column_stack([np.ones_like(z), xs, ys, r2]), z, rcond=None)
    assert dev.sagitta_nm == pytest.approx(p[3] * (r2.max() - r2.min()), rel=1e-9)
    fit = m.fit_zernike(sq, 37, normalisation="peak", centre_mm=(0.0, 0.0))
    z4_pv = 2 * fit.coefficient(4) * (r2.max() - r2.min()) / fit.r_norm_mm ** 2
    assert abs(dev.sagitta_nm - z4_pv) > 0.01 * abs(dev.sagitta_nm)


def test_default_centre_comes_from_the_aperture() -> None:
    hm = analytic(201)
    from metrology.aperture import Circle

    ap = hm.select_aperture(Circle(2 * R, centre_mm=(0.0, 0.0)))
    a = form_deviation(ap)
    b = form_deviation(hm, centre_mm=(0.0, 0.0))
    assert a.centre_mm == (0.0, 0.0)
    assert a.sagitta_nm == pytest.approx(b.sagitta_nm, rel=1e-9)


# --------------------------------------------------------------------------- notation
@pytest.mark.parametrize("text,abc,rms", [
    ("3/2(0.5/0.2)", (2.0, 0.5, 0.2), ()),
    ("3/-(0.5)", (None, 0.5, None), ()),
    ("3/ 2 ( 0.5 )", (2.0, 0.5, None), ()),
    ("3/2(0.5/0.2; RMSi < 0.05)", (2.0, 0.5, 0.2), (("i", 0.05),)),
    ("3/2(0.5) RMSt < 0.1; RMSa 0.02", (2.0, 0.5, None), (("t", 0.1), ("a", 0.02))),
    ("3/\u2013(\u2013/0.3; RMSi \u2264 0.05, RMSa<0.01)", (None, None, 0.3),
     (("i", 0.05), ("a", 0.01))),
    ("3/1e0(.5)", (1.0, 0.5, None), ()),
])
def test_parse_forms(text, abc, rms) -> None:
    t = parse_form_tolerance(text, wavelength_nm=LAM)
    assert (t.sagitta, t.irregularity, t.rotational) == abc
    assert t.rms == rms
    assert t.unit == "fringes" and t.wavelength_nm == LAM
    back = parse_form_tolerance(t.to_string())
    assert back.limits_nm() == t.limits_nm()


def test_units_and_wavelength() -> None:
    t = parse_form_tolerance("3/2(0.5/0.2; RMSi < 0.05) λ = 546.07 nm")
    assert t.unit == "fringes" and t.wavelength_nm == 546.07
    assert t.limits_nm() == pytest.approx(
        {"A": 546.07, "B": 0.25 * 546.07, "C": 0.1 * 546.07, "RMSi": 0.025 * 546.07})
    assert parse_form_tolerance("3/2(1) lambda=0.6328 um").wavelength_nm == pytest.approx(632.8)
    nm = parse_form_tolerance("3/500(100/50; RMSi < 20)", unit="nm")
    assert nm.limits_nm() == {"A": 500.0, "B": 100.0, "C": 50.0, "RMSi": 20.0}
    assert nm.to_string() == "3/500(100/50; RMSi < 20)"


@pytest.mark.parametrize("text,kw", [
    ("2(0.5)", {"wavelength_nm": LAM}),                 # no "3/"
    ("3/2(0.5", {"wavelength_nm": LAM}),                # unclosed
    ("3/2(a)", {"wavelength_nm": LAM}),
    ("3/2()", {"wavelength_nm": LAM}),
    ("3/2(0.5) RMSq < 1", {"wavelength_nm": LAM}),
    ("3/2(0.5; RMSi < 1; RMSi < 2)", {"wavelength_nm": LAM}),
    ("3/2(0.5)", {}),                                   # unit unknown
    ("3/2(0.5)", {"unit": "fringes"}),                  # no wavelength
    ("3/2(0.5)", {"unit": "waves", "wavelength_nm": LAM}),
    ("3/2(0.5) λ = 546 nm", {"wavelength_nm": LAM}),    # two wavelengths
    ("3/2(0.5) λ = 546 nm λ = 633 nm", {}),
])
def test_parse_errors(text, kw) -> None:
    with pytest.raises(SpecError):
        parse_form_tolerance(text, **kw)


def test_evaluate_against_the_analytic_surface(disk) -> None:
    dev = form_deviation(disk, centre_mm=(0.0, 0.0))
    # A = 1 fringe, B ~ 110 nm = 0.35, C = 30 nm = 0.095, RMSi = 22.3 nm = 0.070,
    # RMSa = 20.4 nm = 0.064 fringe at 632.8 nm
    ok = parse_form_tolerance("3/1.5(0.4/0.12; RMSi < 0.08)", wavelength_nm=LAM)
    assert [c.verdict for c in ok.evaluate(dev)] == ["pass"] * 4
    bad = parse_form_tolerance("3/0.5(0.3/0.08; RMSa < 0.05)", wavelength_nm=LAM)
    res = {c.name: c.verdict for c in bad.evaluate(dev)}
    assert res == {"A": "fail", "B": "fail", "C": "fail", "RMSa": "fail"}
    marginal = parse_form_tolerance("3/1.001(1)", wavelength_nm=LAM)
    res = marginal.evaluate(dev, rule="guarded", U_nm={"A": 5.0, "B": 5.0})
    assert res[0].verdict == "not-measurable"


def test_form_estimates_from_repeats() -> None:
    base = analytic(151)
    rng = np.random.default_rng(4)
    reps = [base.replace(base.z_nm + rng.normal(0, 0.5, base.shape)) for _ in range(5)]
    dev, u = form_estimates(reps, centre_mm=(0.0, 0.0))
    singles = [form_deviation(r, centre_mm=(0.0, 0.0)).values_nm() for r in reps]
    for k in ("A", "B", "C", "RMSt", "RMSi", "RMSa"):
        assert u[k] == pytest.approx(2 * np.std([s[k] for s in singles], ddof=1) / math.sqrt(5))
    assert dev.sagitta_nm == pytest.approx(np.mean([s["A"] for s in singles]), rel=1e-9)
    assert abs(dev.sagitta_nm - A_NM) < 3 * u["A"] + 1.0
    tol = parse_form_tolerance("3/1(0.5)", wavelength_nm=LAM)
    res = tol.evaluate(dev, rule="guarded", U_nm=u)
    assert {c.name for c in res} == {"A", "B"}
