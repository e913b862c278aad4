"""``scatter_brdf``: BRDF / BTDF versus scatter angle against a limit line (``[[scatter_brdf]]``).

The BSDF (sr⁻¹) at the use wavelength from the part's composite radial PSD (or
the composite of one measurement's sites), :func:`metrology.scatter.brdf`:
Rayleigh-Rice BRDF in reflection, scalar first-order BTDF in transmission, in
the plane at ``azimuth_deg`` from the plane of incidence. It is sampled at
``n_angles`` scatter angles spread evenly over the line's angular range and
judged against the limit line, interpolated log-log between its vertices
(``angle_deg``, ``max_per_sr``). The value is the largest ratio BSDF / line;
it passes at <= 1. Each angle scatters from f = |sin θs - sin θi| / λ; an angle
whose frequency the PSD does not serve makes the criterion ``not-measurable``,
naming the angles and frequencies. Spec::

    [[scatter_brdf]]
    name = "darkfield"
    measurement = "composite"
    wavelength_nm = 266.0
    mode = "transmission"
    incidence_deg = 0.0
    polarisation = "unpolarised"
    angle_deg = [2.0, 7.0]            # vertices of the limit line, scatter angle (deg)
    max_per_sr = [1.0e-4, 8.0e-6]     # the line at each vertex, 1/sr
    n_angles = 51                     # optional (default 51)
    azimuth_deg = 0.0                 # optional, the scatter plane (default 0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..errors import MetrologyError
from ..spec.context import MISSING, bad_type, number
from ..verdicts import Verdict
from ._base import SiteValue
from ._composite import (
    CompositeCriterionBase,
    CompositeEvidenceMixin,
    composite_fields,
    data_text,
    line_display,
    recipe_for,
    served_text,
)
from ._scatter import ScatterGeometry, scatter_entries, scope_of

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Mapping, Sequence

    from ..pipeline import FileAnalysis
    from ..spec.context import Path_
    from ..spec.schema import SpecDraft

__all__ = ["ScatterBRDFCriterion", "ScatterBRDFEvidence", "line_at"]

SECTION_NAME = "scatter_brdf"


def line_at(angle_deg: Sequence[float], max_per_sr: Sequence[float], theta: Any) -> np.ndarray:
    """The limit line at ``theta`` (deg): log-log interpolation between the vertices."""
    a = np.log(np.asarray(angle_deg, dtype=np.float64))
    v = np.log(np.asarray(max_per_sr, dtype=np.float64))
    return np.exp(np.interp(np.log(np.asarray(theta, dtype=np.float64)), a, v))


@dataclass(frozen=True, eq=False, kw_only=True)
class ScatterBRDFEvidence(CompositeEvidenceMixin):
    """The BSDF curve that was judged, the line, and the frequency of every angle (JSON)."""

    geometry: dict[str, Any]
    azimuth_deg: float
    unit: str
    angles_deg: tuple[float, ...]
    bsdf_per_sr: tuple[float | None, ...]
    line_per_sr: tuple[float, ...]
    ratio: tuple[float | None, ...]
    f_per_mm: tuple[float | None, ...]
    covered: tuple[bool, ...]
    f_range_per_mm: tuple[float, float]
    max_ratio: float | None
    angle_at_max_deg: float | None
    model: str
    optics: str

    KIND: ClassVar[str] = "scatter_brdf"


def _vertices(draft: SpecDraft, t: Mapping[str, Any], p: Path_
              ) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    ctx = draft.ctx
    out = []
    for key, what in (("angle_deg", "scatter angles in degrees"),
                      ("max_per_sr", "BSDF limits in 1/sr")):
        raw = t.get(key, MISSING)
        if raw is MISSING:
            ctx.missing((*p, key))
            return None
        if (not isinstance(raw, list) or not 2 <= len(raw) <= 1000 or any(
                isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x)
                or x <= 0 for x in raw)):
            bad_type(ctx, (*p, key), f"an array of 2 to 1000 positive {what}", raw)
            return None
        out.append(tuple(float(x) for x in raw))
    ang, lim = out
    if len(ang) != len(lim):
        ctx.error((*p, "max_per_sr"), f"{len(lim)} limits for {len(ang)} angles")
        return None
    if any(b <= a for a, b in zip(ang, ang[1:], strict=False)) or ang[-1] >= 90.0:
        ctx.error((*p, "angle_deg"), "angles must increase strictly and stay below 90 deg")
        return None
    if max(lim) > 1e12:
        ctx.error((*p, "max_per_sr"), "a BSDF limit above 1e12 /sr is not a plausible line")
        return None
    return ang, lim


@dataclass(frozen=True, kw_only=True)
class ScatterBRDFCriterion(CompositeCriterionBase):
    """The largest ratio BSDF / limit line over the line's angular range."""

    TYPE: ClassVar[str] = "scatter_brdf"
    SECTION: ClassVar[str] = SECTION_NAME

    geometry: ScatterGeometry
    angle_deg: tuple[float, ...]
    max_per_sr: tuple[float, ...]
    n_angles: int = 51
    azimuth_deg: float = 0.0

    @classmethod
    def from_spec(cls, draft: SpecDraft) -> None:
        extra = ("angle_deg", "max_per_sr", "n_angles", "azimuth_deg")
        for rank, p, t, g in scatter_entries(draft, SECTION_NAME, extra):
            vx = _vertices(draft, t, p)
            n = number(draft.ctx, t, p, "n_angles", default=51, positive=True, integer=True,
                       le=100000)
            az = number(draft.ctx, t, p, "azimuth_deg", default=0.0, ge=-360.0, le=360.0)
            if vx is None or n is None or az is None:
                continue
            if n < 2:
                draft.ctx.error((*p, "n_angles"), f"need at least 2 angles, got {n}")
                continue
            ang, lim = vx
            draft.add(cls(
                id=f"{g.measurement}.brdf.{g.name}", measurement=g.measurement, limit=1.0,
                unit="ratio", geometry=g, angle_deg=ang, max_per_sr=lim, n_angles=n,
                azimuth_deg=az,
                recipe=recipe_for(draft, kind="radial", axis=None, scope=scope_of(g)),
                line_display=line_display(draft, "radial"),
                description=(f"{'BRDF' if g.mode == 'reflection' else 'BTDF'} <= the limit "
                             f"line over {ang[0]:g}-{ang[-1]:g} deg ({n} angles), {g.text()}")),
                (*p, "max_per_sr"), rank)

    @property
    def angles(self) -> np.ndarray:
        """The scatter angles judged, degrees."""
        return np.linspace(self.angle_deg[0], self.angle_deg[-1], self.n_angles)

    def evaluate_part(self, analyses: Sequence[FileAnalysis]) -> list[SiteValue]:
        from ..scatter import brdf

        g = self.geometry
        build, nm = self.composite_site(analyses)
        if nm is not None:
            return [nm]
        c = build.psd
        assert c is not None
        th = self.angles
        try:
            r = brdf(c, g.wavelength_nm, th, incidence_deg=g.incidence_deg,
                     azimuth_deg=self.azimuth_deg, polarisation=g.polarisation, mode=g.mode,
                     material=g.material)
        except MetrologyError as exc:
            return [SiteValue(build.label, None, Verdict.NOT_MEASURABLE,
                              f"BSDF not computable: {exc}")]
        line = line_at(self.angle_deg, self.max_per_sr, th)
        ratio = np.where(r.covered, r.values_sr / line, np.nan)
        f = np.asarray(r.f_per_mm, dtype=np.float64)
        ok = np.isfinite(ratio)
        k = int(np.nanargmax(ratio)) if ok.any() else -1

        def opt(v: float) -> float | None:
            return float(v) if math.isfinite(v) else None

        ev = ScatterBRDFEvidence(
            data=data_text(build), **composite_fields(build, self.line_display),
            geometry=g.to_dict(),
            azimuth_deg=self.azimuth_deg, unit=r.unit, angles_deg=tuple(map(float, th)),
            bsdf_per_sr=tuple(opt(v) for v in r.values_sr), line_per_sr=tuple(map(float, line)),
            ratio=tuple(opt(v) for v in ratio), f_per_mm=tuple(opt(v) for v in f),
            covered=tuple(bool(v) for v in r.covered),
            f_range_per_mm=(float(np.nanmin(f)), float(np.nanmax(f))),
            max_ratio=opt(ratio[k]) if k >= 0 else None,
            angle_at_max_deg=float(th[k]) if k >= 0 else None, model=r.model,
            optics=r.optics)
        if not r.measurable:
            bad = ~np.asarray(r.covered)
            why = (f"angles {th[bad].min():g}-{th[bad].max():g} deg need "
                   f"{np.nanmin(f[bad]):.4g}-{np.nanmax(f[bad]):.4g} /mm, which the composite "
                   f"does not serve (it serves {c.f_min_per_mm:.4g}-{c.f_max_per_mm:.4g} /mm"
                   + (f"; gaps {', '.join(f'{a:.4g}-{b:.4g}' for a, b in c.gaps)} /mm"
                      if c.gaps else "") + ")") if bad.any() else r.reason
            return [self.judge(build.label, None, why, ev)]
        served = c.served_ranges(float(f.min()), float(f.max()))
        from ._uncertainty import bins_u

        e = np.asarray(c.edges_per_mm)
        idx = np.clip(np.searchsorted(e, f, side="right") - 1, 0, e.size - 2)
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = np.asarray(c.stderr)[idx] / np.asarray(c.psd)[idx]
        return [self.judge(build.label, float(ratio[k]),
                           f"largest at {th[k]:.3g} deg ({f[k]:.4g} /mm); angles map to "
                           f"{f.min():.4g}-{f.max():.4g} /mm, served by "
                           f"{served_text(served)}", ev,
                           bins_u(ratio, rel, "the composite bin of each angle's frequency"))]

    def convention(self) -> dict[str, Any]:
        return {"quantity": ("BRDF" if self.geometry.mode == "reflection" else "BTDF")
                + " (1/sr) / the limit line, largest over the angles; pass <= 1",
                "model": ("reflection: Rayleigh-Rice first order, BRDF = 16 pi^2 / lambda^4 "
                          "cos(ti) cos(ts) Q PSD2(f) (Stover 2012); transmission: scalar first "
                          "order, BTDF = 4 pi^2 Delta^2 / lambda^4 T PSD2(f)"),
                "frequency": "f = |sin(theta_s) - sin(theta_i)| / lambda in the scatter plane",
                "geometry": self.geometry.to_dict(), "azimuth_deg": self.azimuth_deg,
                "line": {"angle_deg": list(self.angle_deg),
                         "max_per_sr": list(self.max_per_sr),
                         "interpolation": "log-log between the vertices"},
                "angles": {"from_deg": self.angle_deg[0], "to_deg": self.angle_deg[-1],
                           "n": self.n_angles, "spacing": "uniform"},
                "psd": "composite radial PSD (isotropic surface), its local power law per bin",
                **self.composite_convention()}
