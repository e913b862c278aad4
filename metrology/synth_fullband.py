"""The truth of a spec's part-level criteria (composite PSD, scatter) from the generator.

:func:`metrology.synth.expected_values` gives the truth of the criteria judged
on one file; the criteria with ``measurement = "composite"`` (bands, the PSD
limit line, TIS, BRDF) are judged once per part on the composite PSD of all its
files. :func:`expected_part_values` gives their truth from the same
parameters, analysing no map:

* **what the composite serves**: each measurement's range from its set-up's
  grid, as the composite's rules take it (``docs/composite.md``): from
  ``f_min_k / L`` (L the shorter side of the clear aperture, or of the field
  without one) up to the Nyquist frequency, lowered by the measurement's
  ``itf_cutoff_per_mm`` (a tabulated ITF is not modelled: such a spec raises);
  A band, line or scatter range that needs frequencies outside the union of
  these ranges, or a gap between them, is not measurable;
* **band RMS and slope**: the random components' power laws integrated over
  the band on an infinite plane (closed form for a sharp areal band,
  :meth:`metrology.synth.RandomComponent.band_variance_nm2` and
  ``slope_variance_urad2``), plus the tool marks in the band; a Gaussian
  band weights the model's radial (or profile) PSD by T(f)² of the ISO 16610
  filters (numerical quadrature in ln f); profile bands use the model's
  one-sided profile PSD 4 ∫ PSD2(sqrt(f² + f_y²)) df_y (numerically, f_y up to the
  Nyquist frequency of the map that serves f: a map holds no f_y beyond it);
* **PSD limit on the composite**: the model's radial or one-sided profile PSD
  against the line at every frequency of the line's range (the marks as their
  power in a 1/20-decade bin over its width); the value is the largest ratio;
* **scatter** (transmission at normal incidence only: the scalar first-order
  model then has closed forms): TIS = (2π (n - 1) σ / λ)² with σ² the areal
  band variance over [sin θ1, sin θ2] / λ of the random part; the BTDF at θ
  is 4π² (n - 1)² T / λ⁴ · PSD2(sin θ / λ), T = 1 - ((n - 1)/(n + 1))², n from
  :mod:`metrology.materials` at the wavelength (tool marks are not modelled as
  grating orders: none of the shipped marks scatters into the angles).

These are the model's expectations; the measured values scatter about them
(and the dropout fill of a Fizeau map attenuates its PSD towards its Nyquist
frequency, a bias the model leaves out).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .errors import ConventionError
from .synth import (
    FizeauSetup,
    MicroscopeSetup,
    Surface,
    _band_model,
    _local_marks,
    _verdict,
)

__all__ = ["served_ranges", "expected_part_values", "model_radial_psd", "model_profile_psd"]

_COMPOSITE_TYPES = ("composite_band_rms", "composite_band_slope", "composite_psd_limit",
                    "scatter_tis", "scatter_brdf")


def model_radial_psd(surface: Surface, f_per_mm: Any) -> np.ndarray:
    """Radial PSD of the random part, 2π f PSD2(f), nm² mm."""
    f = np.asarray(f_per_mm, dtype=np.float64)
    return 2.0 * math.pi * f * surface.psd2d(f)


def model_profile_psd(surface: Surface, f_per_mm: Any, fy_max_per_mm: Any = 1e5
                      ) -> np.ndarray:
    """One-sided profile PSD of the random part, 4 ∫_0^{fy_max} PSD2(sqrt(f² + f_y²)) df_y,
    nm² mm. A map holds f_y up to its Nyquist frequency only: ``fy_max_per_mm`` (scalar or
    per f) is that of the map serving f; the default is the infinite plane."""
    f = np.atleast_1d(np.asarray(f_per_mm, dtype=np.float64))
    fym = np.broadcast_to(np.asarray(fy_max_per_mm, dtype=np.float64), f.shape)
    out = np.empty(f.shape)
    for i, fx in enumerate(f.ravel()):
        top = float(fym.flat[i])
        fy = np.concatenate(([0.0], np.geomspace(1e-4 * max(fx, 1e-3), top, 4000)))
        g = surface.psd2d(np.hypot(fx, fy))
        out.flat[i] = 4.0 * float(np.sum((g[1:] + g[:-1]) * np.diff(fy)) / 2.0)
    return out


def served_ranges(spec: Any, setups: Mapping[str, Sequence[FizeauSetup | MicroscopeSetup]],
                  measurements: Sequence[str] | None = None) -> dict[str, tuple[float, float]]:
    """(f_min, f_max) each measurement serves the composite with, from its set-up's grid."""
    k = spec.composite.f_min_k
    names = list(measurements or spec.composite.measurements or spec.measurements)
    out: dict[str, tuple[float, float]] = {}
    for name in names:
        sts = setups.get(name, ())
        if not sts:
            continue
        m = spec.measurements[name]
        if m.itf is not None:
            raise ConventionError(f"measurement {name!r}: a tabulated ITF is not modelled by "
                                  "the generator (its maps have none)")
        lo, hi = math.inf, 0.0
        for st in sts:
            ny, nx = st.shape
            if m.aperture is not None:
                ext = m.aperture.diameter_mm
            else:
                ext = min(nx, ny) * st.dx_mm
            f0 = k / ext
            f1 = 0.5 / st.dx_mm
            if m.itf_cutoff_per_mm is not None:
                f1 = min(f1, m.itf_cutoff_per_mm)
            lo, hi = min(lo, f0), max(hi, f1)
        out[name] = (lo, hi)
    return out


def _fy_nyquist(spec: Any, setups: Mapping[str, Sequence[FizeauSetup | MicroscopeSetup]],
                ranges: Mapping[str, tuple[float, float]], f: np.ndarray) -> np.ndarray:
    """Per frequency, the f_y Nyquist frequency of the map that serves it in a profile
    composite: the coarsest measurement whose range holds f (it has the most cells there
    and dominates the combination)."""
    out = np.full(f.shape, 1e5)
    for name, (lo, hi) in ranges.items():
        nyq = min(0.5 / st.dx_mm for st in setups[name])
        sel = (f >= lo * (1 - 1e-9)) & (f <= hi * (1 + 1e-9))
        out[sel] = np.minimum(out[sel], nyq)
    return out


def _coverage(ranges: Mapping[str, tuple[float, float]], lo: float, hi: float
              ) -> tuple[bool, str]:
    """Whether the union of ``ranges`` covers [lo, hi] without a gap, and why not."""
    segs = sorted(ranges.values())
    if not segs:
        return False, "no measurement of the composite has a file"
    cur = lo
    for a, b in segs:
        if b <= cur:
            continue
        if a > cur * (1 + 1e-9):
            break
        cur = max(cur, b)
        if cur >= hi * (1 - 1e-9):
            return True, ""
    return False, (f"the composite does not serve {cur:.4g}-{hi:.4g} /mm" if cur > lo
                   else f"the composite does not serve {lo:.4g} /mm")


def _gauss_integral(fn: Any, lo: float, hi: float, band_lo: float, band_hi: float,
                    slope: bool) -> float:
    """∫ T(f)² (2π f)^(2 slope) fn(f) df over [lo, hi] (trapezoid in ln f, 20001 points)."""
    from .filters import band_weight

    f = np.geomspace(lo, hi, 20001)
    y = np.asarray(fn(f), dtype=np.float64) * band_weight(f, band_lo, band_hi, "gaussian")
    if slope:
        y = y * (2.0 * math.pi * f) ** 2
    y = y * f
    x = np.log(f)
    return float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2.0)


def _band_truth(surface: Surface, c: Any, slope: bool, fy_cut: Any = None) -> float:
    """Band RMS height (nm) or slope (µrad) of the model over a composite band
    (``fy_cut(f)``: the f_y Nyquist frequency of the map serving f, profile bands)."""
    from .filters import band_weight, support_per_mm

    b = c.band
    marks = _local_marks(surface, FizeauSetup())
    if b.filter == "sharp" and b.kind == "areal":
        var, sl = _band_model(surface, marks, b)            # closed forms + marks
        return math.sqrt(sl if slope else var)
    lo, hi = b.f_lo_per_mm, b.f_hi_per_mm
    if b.filter == "sharp":
        f = np.geomspace(lo, hi, 2001)
        y = model_profile_psd(surface, f, fy_cut(f)) * ((2.0 * math.pi * f) ** 2 if slope
                                                        else 1.0)
        var = float(np.sum((y[1:] + y[:-1]) * np.diff(f)) / 2.0)
    else:
        s_lo, s_hi = support_per_mm(lo, hi, "gaussian")
        fn = (lambda f: model_radial_psd(surface, f)) if b.kind == "areal" else \
            (lambda f: model_profile_psd(surface, f, fy_cut(f)))
        var = _gauss_integral(fn, s_lo * 1e-2, s_hi * 10.0, lo, hi, slope)
    for kind, f0, ang, a in marks:
        if b.kind == "areal":
            fa = f0
        elif kind == "line":
            fa = f0 * abs(math.cos(ang if (b.direction or "x") == "x" else ang - math.pi / 2))
        else:
            raise ConventionError("the profile of turning rings in a composite profile band "
                                  "is not modelled")
        w = float(band_weight(fa, lo, hi, b.filter))
        var += w * a * a / 2.0 * ((2.0 * math.pi * fa) ** 2 if slope else 1.0)
    return math.sqrt(var)


def _psd_line_truth(surface: Surface, c: Any, fy_cut: Any) -> float:
    line = c.line
    lim = line.to_limit()
    f = np.geomspace(line.f_lo_per_mm, line.f_hi_per_mm, 2001)[:-1]
    model = (model_profile_psd(surface, f, fy_cut(f)) if line.kind == "profile"
             else model_radial_psd(surface, f))
    ratio = model / np.asarray(lim(f))
    worst = float(np.nanmax(ratio))
    # tool marks: their power in a 1/20-decade bin over its width, on top of the model
    marks = _local_marks(surface, FizeauSetup())
    for kind, f0, ang, a in marks:
        fa = f0 if line.kind != "profile" or kind != "line" else \
            f0 * abs(math.cos(ang if (line.direction or "x") == "x" else ang - math.pi / 2))
        if not (line.f_lo_per_mm <= fa < line.f_hi_per_mm) or fa <= 0:
            continue
        j = math.floor(math.log10(fa) * 20)
        e0, e1 = 10 ** (j / 20), 10 ** ((j + 1) / 20)
        fm = math.sqrt(e0 * e1)
        base = float((model_profile_psd(surface, [fm], fy_cut(np.array([fm])))
                      if line.kind == "profile"
                      else model_radial_psd(surface, [fm]))[0])
        worst = max(worst, (base + a * a / 2.0 / (e1 - e0)) / float(lim(fm)))
    return worst


def _scatter_check(c: Any) -> None:
    g = c.geometry
    if g.mode != "transmission" or g.incidence_deg != 0.0:
        raise ConventionError(f"{c.id}: the generator models scatter in transmission at "
                              "normal incidence only")


def expected_part_values(surface: Surface, spec: Any,
                         setups: Mapping[str, Sequence[FizeauSetup | MicroscopeSetup]]
                         ) -> dict[str, dict[str, Any]]:
    """Every part-level criterion of ``spec`` (``measurement = "composite"``) from the
    generator's parameters.

    Parameters
    ----------
    surface : Surface
    spec : metrology.Spec
    setups : mapping measurement -> set-ups of its files (the part's sites)

    Returns
    -------
    dict
        criterion id -> {"value", "verdict", "limit", "bound", "unit", "reason", "how"}
        (``value`` None: not measurable, ``reason`` says why).
    """
    out: dict[str, dict[str, Any]] = {}
    for c in spec.part_criteria:
        t = c.TYPE
        if t not in _COMPOSITE_TYPES:
            raise ConventionError(f"the generator has no model of criterion type {t!r} "
                                  f"({c.id})")
        ranges = served_ranges(spec, setups, c.recipe.measurements)
        reason, value = "", None

        def fy_cut(f: np.ndarray, ranges: Any = ranges) -> np.ndarray:
            return _fy_nyquist(spec, setups, ranges, np.asarray(f, dtype=np.float64))

        if t in ("composite_band_rms", "composite_band_slope"):
            from .filters import support_per_mm

            b = c.band
            s_lo, s_hi = support_per_mm(b.f_lo_per_mm, b.f_hi_per_mm, b.filter)
            ok, reason = _coverage(ranges, s_lo, s_hi)
            if ok:
                value = _band_truth(surface, c, t == "composite_band_slope", fy_cut)
            how = ("power laws over the band (infinite plane; Gaussian: weighted by T(f)^2 of "
                   "the ISO 16610 filters) + the tool marks in it; served ranges from the "
                   "set-ups' grids")
        elif t == "composite_psd_limit":
            ok, reason = _coverage(ranges, c.line.f_lo_per_mm, c.line.f_hi_per_mm)
            if ok:
                value = _psd_line_truth(surface, c, fy_cut)
            how = "model PSD / line over the line's range, largest ratio"
        elif t == "scatter_tis":
            _scatter_check(c)
            g = c.geometry
            lam_mm = g.wavelength_nm * 1e-6
            f1 = math.sin(math.radians(c.collection_deg[0])) / lam_mm
            f2 = math.sin(math.radians(c.collection_deg[1])) / lam_mm
            ok, reason = _coverage(ranges, f1, f2)
            if ok:
                var = sum(comp.band_variance_nm2(f1, f2, "areal") for comp in surface.random)
                for _kind, f0, _ang, a in _local_marks(surface, FizeauSetup()):
                    if f1 <= f0 < f2:
                        var += a * a / 2.0
                value = (2.0 * math.pi * (g.index - 1.0) * math.sqrt(var)
                         / g.wavelength_nm) ** 2 * 1e6
            how = ("(2 pi (n - 1) sigma / lambda)^2, sigma^2 the model's areal band variance over "
                   "[sin t1, sin t2] / lambda (transmission, normal incidence), ppm")
        else:  # scatter_brdf
            _scatter_check(c)
            g = c.geometry
            lam_mm = g.wavelength_nm * 1e-6
            th = c.angles
            f = np.sin(np.radians(th)) / lam_mm
            ok, reason = _coverage(ranges, float(f.min()), float(f.max()))
            if ok:
                n = g.index
                tr = 1.0 - ((n - 1.0) / (n + 1.0)) ** 2
                lam4 = g.wavelength_nm ** 2 * lam_mm ** 2
                btdf = 4.0 * math.pi ** 2 * (n - 1.0) ** 2 * tr / lam4 * surface.psd2d(f)
                from .criteria.scatter_brdf import line_at

                value = float(np.max(btdf / line_at(c.angle_deg, c.max_per_sr, th)))
            how = ("4 pi^2 (n - 1)^2 T / lambda^4 PSD2(sin theta / lambda) of the model against "
                   "the line at the criterion's angles, largest ratio")
        out[c.id] = {"value": value, "verdict": _verdict(c, value), "limit": c.limit,
                     "bound": c.bound, "unit": c.unit, "reason": reason, "how": how,
                     "served_ranges_per_mm": {k: list(v) for k, v in ranges.items()}}
    return out
