"""``scatter_tis``: total integrated scatter into a collection cone, from the PSD.

Spec section ``[[scatter_tis]]``.

The surface's scatter at the use wavelength, computed from the part's composite
radial PSD (or from the composite of one measurement's sites):
``TIS = ∫_cone BSDF cos θs dΩ / specular`` (first-order Rayleigh-Rice in
reflection, scalar phase screen in transmission; :func:`metrology.scatter.tis`),
reported in ppm of the specular power, with the Davies / Bennett-Porteus value
(4π cos θi σ / λ)² (reflection) or (2π Δ σ / λ)² (transmission, Δ = n cos θt -
cos θi) beside it. The cone maps to the surface frequencies
f = |sin θs - sin θi| / λ; where the PSD does not serve all of them the
criterion is ``not-measurable``, naming the range. Spec::

    [[scatter_tis]]
    name = "darkfield"
    measurement = "composite"        # or one measurement: the composite of its sites
    wavelength_nm = 266.0
    mode = "transmission"            # reflection | transmission
    incidence_deg = 0.0
    polarisation = "unpolarised"     # s | p | unpolarised
    collection_deg = [2.0, 7.0]      # polar angles of the collection cone
    azimuth_deg = [0.0, 360.0]       # optional, default the full circle
    tis_ppm_max = 1.0

The index comes from ``[part] material`` (:mod:`metrology.materials`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import MetrologyError
from ..spec.context import number
from ..verdicts import Verdict
from ._base import SiteValue
from ._composite import (
    CompositeCriterionBase,
    CompositeEvidenceMixin,
    composite_fields,
    data_text,
    line_display,
    recipe_for,
    segments_of,
    served_text,
)
from ._scatter import ScatterGeometry, deg_pair, scatter_entries, scope_of

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Sequence

    from ..pipeline import FileAnalysis
    from ..spec.schema import SpecDraft

__all__ = ["ScatterTISCriterion", "ScatterTISEvidence"]

SECTION_NAME = "scatter_tis"


@dataclass(frozen=True, eq=False, kw_only=True)
class ScatterTISEvidence(CompositeEvidenceMixin):
    """TIS into one cone: both models, the band of σ, the frequencies the cone needs."""

    geometry: dict[str, Any]
    collection_deg: tuple[float, float]
    azimuth_deg: tuple[float, float]
    tis_ppm: float | None                 # Rayleigh-Rice / scalar cone integral (the value)
    tis_davies_ppm: float | None          # Davies / Bennett-Porteus from the band RMS
    sigma_nm: float | None                # areal band RMS over band_per_mm
    band_per_mm: tuple[float, float]      # [sin t1, sin t2] / lambda
    f_range_per_mm: tuple[float, float]   # what the cone maps to at this incidence
    specular: float | None                # specular reflectance / transmittance
    coverage: str
    served: tuple[tuple[float, float, str], ...]
    model: str
    optics: str

    KIND: ClassVar[str] = "scatter_tis"


@dataclass(frozen=True, kw_only=True)
class ScatterTISCriterion(CompositeCriterionBase):
    """TIS (ppm of the specular power) into ``collection_deg`` from the composite PSD."""

    TYPE: ClassVar[str] = "scatter_tis"
    SECTION: ClassVar[str] = SECTION_NAME

    geometry: ScatterGeometry
    collection_deg: tuple[float, float]
    azimuth_deg: tuple[float, float] = (0.0, 360.0)

    @classmethod
    def from_spec(cls, draft: SpecDraft) -> None:
        for rank, p, t, g in scatter_entries(draft, SECTION_NAME,
                                             ("collection_deg", "azimuth_deg", "tis_ppm_max")):
            cone = deg_pair(draft, t, p, "collection_deg", 0.0, 89.9, required=True)
            az = deg_pair(draft, t, p, "azimuth_deg", -360.0, 720.0, required=False)
            if az is not None and az[1] - az[0] > 360.0 + 1e-9:
                draft.ctx.error((*p, "azimuth_deg"), "an azimuth range spans at most 360 deg")
                az = None
            lim = number(draft.ctx, t, p, "tis_ppm_max", required=True, limit=True, le=1e6)
            if cone is None or lim is None:
                continue
            draft.add(cls(
                id=f"{g.measurement}.tis.{g.name}", measurement=g.measurement, limit=lim,
                unit="ppm", geometry=g, collection_deg=cone,
                azimuth_deg=az or (0.0, 360.0),
                recipe=recipe_for(draft, kind="radial", axis=None, scope=scope_of(g)),
                line_display=line_display(draft, "radial"),
                description=(f"TIS into {cone[0]:g}-{cone[1]:g} deg, {g.text()}, from the "
                             + ("composite PSD of the part" if scope_of(g) == "composite"
                                else f"composite PSD of the {g.measurement} sites"))),
                (*p, "tis_ppm_max"), rank)

    def evaluate_part(self, analyses: Sequence[FileAnalysis]) -> list[SiteValue]:
        from ..scatter import tis

        g = self.geometry
        build, nm = self.composite_site(analyses)
        if nm is not None:
            return [nm]
        c = build.psd
        assert c is not None
        try:
            # 200 x 360 quadrature points: within 4e-5 of an 800 x 1440 rule on the shipped
            # composites (the library's default 400 x 720 is 4x the cost for no gain here)
            r = tis(c, g.wavelength_nm, collection_deg=self.collection_deg,
                    incidence_deg=g.incidence_deg, azimuth_deg=self.azimuth_deg,
                    polarisation=g.polarisation, mode=g.mode, material=g.material,
                    n_radial=200, n_azimuth=360)
        except MetrologyError as exc:
            return [SiteValue(build.label, None, Verdict.NOT_MEASURABLE,
                              f"TIS not computable: {exc}")]
        rr = r.tis_rayleigh_rice
        ppm = None if rr is None or not math.isfinite(rr) else rr * 1e6
        davies = r.tis * 1e6 if math.isfinite(r.tis) else None
        f0, f1 = r.f_range_per_mm
        served = segments_of(c, max(f0, c.f_min_per_mm), min(f1, c.f_max_per_mm)) \
            if math.isfinite(c.f_min_per_mm) else ()
        ev = ScatterTISEvidence(
            data=data_text(build), **composite_fields(build, self.line_display),
            geometry=g.to_dict(),
            collection_deg=self.collection_deg, azimuth_deg=self.azimuth_deg, tis_ppm=ppm,
            tis_davies_ppm=davies,
            sigma_nm=r.sigma_nm if math.isfinite(r.sigma_nm) else None,
            band_per_mm=r.band_per_mm, f_range_per_mm=r.f_range_per_mm, specular=r.specular,
            coverage=r.coverage, served=served, model=r.model, optics=r.optics)
        where = (f"cone {self.collection_deg[0]:g}-{self.collection_deg[1]:g} deg maps to "
                 f"{f0:.4g}-{f1:.4g} /mm")
        if not r.measurable:
            return [self.judge(build.label, None, f"{where}: {r.reason}", ev)]
        extra = f"; Davies {davies:.3g} ppm" if davies is not None else ""
        return [self.judge(build.label, ppm,
                           f"{where}, served by {served_text(served)}{extra}", ev,
                           _tis_u(c, r.band_per_mm, ppm))]

    def convention(self) -> dict[str, Any]:
        return {"quantity": "TIS: scattered / specular power into the collection cone, ppm",
                "uncertainty": "TIS is proportional to the composite PSD over the cone's "
                               "band: U = TIS x ((1 + 2 s/sigma)^2 - 1), s the standard error "
                               "of that band's RMS sigma (an approximation: the cone's "
                               "weights are smooth over the band)",
                "model": ("reflection: Rayleigh-Rice first order (Stover 2012); transmission: "
                          "scalar first order, Delta = n cos(theta_t) - cos(theta_i); value = "
                          "the cone integral of the BSDF / specular; Davies (4 pi cos(ti) "
                          "sigma / lambda)^2 or (2 pi Delta sigma / lambda)^2 reported beside "
                          "it"),
                "frequency": "f = |sin(theta_s) - sin(theta_i)| / lambda (grating equation)",
                "geometry": self.geometry.to_dict(),
                "collection_deg": list(self.collection_deg),
                "azimuth_deg": list(self.azimuth_deg),
                "psd": "composite radial PSD (isotropic surface)",
                **self.composite_convention()}


def _tis_u(c: Any, band_per_mm: tuple[float, float], ppm: float | None) -> Any:
    """U of a TIS from the composite's band RMS standard error over the cone's band."""
    from ._uncertainty import MODEL_COMPOSITE, Uncertainty, unknown

    if ppm is None:
        return None
    try:
        b = c.band_rms(float(band_per_mm[0]), float(band_per_mm[1]))
    except MetrologyError:
        return unknown("the composite PSD gives no standard error over the cone's band")
    if not (math.isfinite(b.rms_nm) and b.rms_nm > 0 and math.isfinite(b.stderr_nm)):
        return unknown("the composite PSD gives no standard error over the cone's band")
    rel = b.stderr_nm / b.rms_nm
    return Uncertainty(ppm * ((1.0 + 2.0 * rel) ** 2 - 1.0),
                       MODEL_COMPOSITE + "; TIS proportional to the band variance of the "
                       "cone's frequency band: U = TIS x ((1 + 2 s/sigma)^2 - 1)",
                       detail=f"band {band_per_mm[0]:.4g}-{band_per_mm[1]:.4g} /mm, "
                              f"sigma {b.rms_nm:.3g} nm, s {b.stderr_nm:.2g} nm")
