"""What the scatter criterion types share: the geometry keys of a spec entry and its optics.

A scatter entry (``[[scatter_tis]]``, ``[[scatter_brdf]]``) states the light:
``wavelength_nm`` (vacuum), ``mode`` (``reflection`` | ``transmission``),
``incidence_deg`` (from the surface normal, default 0), ``polarisation``
(``s`` | ``p`` | ``unpolarised``, default unpolarised). The surface's index
comes from the spec's ``[part] material`` at that wavelength
(:func:`metrology.materials.refractive_index`; a material or wavelength the
dispersion table does not cover is a spec error). ``measurement`` is
``"composite"`` (the part's composite PSD) or one measurement (the composite of
its sites alone). Physics: :mod:`metrology.scatter` (Rayleigh-Rice in
reflection, scalar first order in transmission; f = |sin θs - sin θi| / λ).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ConventionError
from ..spec.context import MISSING, Path_, bad_type, check_keys, number, string
from ..spec.model import COMPOSITE

if TYPE_CHECKING:  # pragma: no cover
    from ..spec.schema import SpecDraft

__all__ = ["ScatterGeometry", "scatter_entries", "GEOMETRY_KEYS"]

MODES = ("reflection", "transmission")
POLARISATIONS = ("unpolarised", "s", "p")
GEOMETRY_KEYS = ("name", "measurement", "wavelength_nm", "mode", "incidence_deg",
                 "polarisation")
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class ScatterGeometry:
    """The light of a scatter criterion and the surface's index at its wavelength."""

    name: str
    measurement: str
    wavelength_nm: float
    mode: str
    incidence_deg: float
    polarisation: str
    material: str
    index: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "measurement": self.measurement,
                "wavelength_nm": self.wavelength_nm, "mode": self.mode,
                "incidence_deg": self.incidence_deg, "polarisation": self.polarisation,
                "material": self.material, "refractive_index": self.index,
                "index_source": "metrology.materials (Sellmeier, docs/composite.md)"}

    def text(self) -> str:
        return (f"{self.mode} at {self.wavelength_nm:g} nm, incidence {self.incidence_deg:g} "
                f"deg, {self.polarisation}, {self.material} n = {self.index:.4f}")


def _deg_pair(ctx: Any, t: Mapping[str, Any], p: Path_, key: str, lo: float, hi: float,
              *, required: bool) -> tuple[float, float] | None:
    raw = t.get(key, MISSING)
    if raw is MISSING:
        if required:
            ctx.missing((*p, key))
        return None
    if (not isinstance(raw, list) or len(raw) != 2 or any(
            isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x)
            for x in raw)):
        bad_type(ctx, (*p, key), "[from, to] in degrees (two finite numbers)", raw)
        return None
    a, b = float(raw[0]), float(raw[1])
    if not (lo <= a < b <= hi):
        ctx.error((*p, key), f"{key} = {raw!r}: need {lo:g} <= from < to <= {hi:g} degrees")
        return None
    return a, b


def scatter_entries(draft: SpecDraft, section: str, extra_keys: tuple[str, ...]
                    ) -> Iterator[tuple[int, Path_, Mapping[str, Any], ScatterGeometry]]:
    """Every entry of ``[section]`` / ``[[section]]`` with valid geometry (problems reported)."""
    raw = draft.doc.get(section, MISSING)
    if raw is MISSING:
        return
    ctx = draft.ctx
    if isinstance(raw, dict):
        entries = [((section,), raw)]
    elif isinstance(raw, list) and raw and all(isinstance(t, dict) for t in raw):
        entries = [((section, i), t) for i, t in enumerate(raw)]
    else:
        bad_type(ctx, (section,), f"a table ([{section}]) or an array of tables "
                                  f"([[{section}]])", raw)
        return
    names: set[str] = set()
    for rank, (p, t) in enumerate(entries):
        check_keys(ctx, t, p, (*GEOMETRY_KEYS, *extra_keys))
        name = string(ctx, t, p, "name", required=True)
        if name is not None:
            if not _NAME_RE.match(name):
                ctx.error((*p, "name"), f"name {name!r} may use only letters, digits, '_' "
                                        "and '-'")
                name = None
            elif name in names:
                ctx.error((*p, "name"), f"name {name!r} is used twice in [{section}]")
                name = None
            else:
                names.add(name)
        meas = draft.measurement_ref(t, p, allow_composite=True)
        wl = number(ctx, t, p, "wavelength_nm", required=True, positive=True, le=1e5)
        mode = string(ctx, t, p, "mode", required=True, choices=MODES)
        inc = number(ctx, t, p, "incidence_deg", default=0.0, ge=0.0, le=89.9)
        pol = string(ctx, t, p, "polarisation", default="unpolarised", choices=POLARISATIONS)
        material = draft.part.material if draft.part is not None else None
        index = None
        if wl is not None:
            if material is None:
                ctx.error((*p, "wavelength_nm"), "scatter needs the surface's index: give "
                                                 "[part] material (e.g. \"CaF2\")")
            else:
                from ..materials import refractive_index

                try:
                    index = float(refractive_index(material, wl))
                except ConventionError as exc:
                    ctx.error((*p, "wavelength_nm"), f"[part] material = {material!r}: {exc}")
        if None in (name, meas, wl, mode, inc, pol, index):
            continue
        yield rank, p, t, ScatterGeometry(name, meas, wl, mode, inc, pol,  # type: ignore
                                          material, index)  # type: ignore[arg-type]


def scope_of(g: ScatterGeometry) -> str:
    """The composite a scatter criterion is judged on: the part's, or one measurement's."""
    return COMPOSITE if g.measurement == COMPOSITE else g.measurement


def deg_pair(draft: SpecDraft, t: Mapping[str, Any], p: Path_, key: str, lo: float,
             hi: float, *, required: bool) -> tuple[float, float] | None:
    """A ``[from, to]`` pair of angles in degrees, validated."""
    return _deg_pair(draft.ctx, t, p, key, lo, hi, required=required)
