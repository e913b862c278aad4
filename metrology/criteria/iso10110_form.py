"""``iso10110_form``: an ISO 10110-5 surface form tolerance as a drawing states it.

    [iso10110]                         # or [[iso10110]], one entry per measurement
    measurement = "fizeau"
    form = "3/1(0.5/0.2; RMSi < 0.05)" # code 3 of the drawing: 3/A(B/C; RMSx < D)
    unit = "fringes"                   # "fringes" (at [part] test_wavelength_nm, or the
                                       # "λ = ... nm" the text states) or "nm"
    rotational = "azimuthal"           # how C's rotationally invariant part is found

Every toleranced item of the code is one criterion, ``M.iso10110.<item>``
(``A``, ``B``, ``C``, ``RMSt``, ``RMSi``, ``RMSa``), judged in nm as an upper
limit (A as |A|) on the measurement's test region: the valid pixels inside its
clear aperture (the real aperture, dropouts excluded), centre the aperture's.
In fringe spacings, 1 fringe = λ/2 of surface height. Definitions
(:mod:`metrology.iso10110`, ``docs/iso10110.md``), each stated in the
criterion's convention:

* approximating sphere: the least-squares ``p0 + p1 x + p2 y + a r²`` over the
  test region (r from the centre); e = z minus it;
* A = a (max r² - min r²) (signed, edge above centre positive);
* B = PV of e; C = PV of e_rot, the rotationally invariant part of e;
* RMSt = RMS of z after a least-squares plane; RMSi = RMS of e;
  RMSa = RMS of e - e_rot.

The definitions were implemented from the published descriptions of
ISO 10110-5:2015 and ISO 14999-4:2015, not from the standards' text (see
``docs/iso10110.md``); every result says so.

Uncertainty: repeats: Type A per item; single map: A through the sphere fit
by the single-map model (the irregularity's periodogram as the noise), RMSi
and RMSa by the chi-square model of their maps, RMSt from those two; B and C
(PVs) have no single-map model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..errors import MetrologyError, SpecError
from ..spec.context import MISSING, bad_type, check_keys, string
from ._base import Criterion, Evidence, SiteValue, Uncertainty
from ._uncertainty import from_estimate, full_band_estimate, type_a, unknown

if TYPE_CHECKING:  # pragma: no cover
    from ..iso10110 import FormDeviation
    from ..pipeline import FileAnalysis
    from ..spec.schema import SpecDraft

__all__ = ["Iso10110FormCriterion", "Iso10110Evidence", "DEFINITIONS", "SOURCE_NOTE"]

ITEMS = ("A", "B", "C", "RMSt", "RMSi", "RMSa")

SOURCE_NOTE = ("ISO 10110-5:2015 / ISO 14999-4:2015 as implemented in metrology.iso10110 from "
               "the published descriptions of the standards, not verified against their text "
               "(docs/iso10110.md): check these definitions against the standard before "
               "relying on a verdict")

DEFINITIONS = {
    "A": "sagitta deviation A = a (max r^2 - min r^2) over the test region, a the r^2 "
         "coefficient of the least-squares approximating sphere p0 + p1 x + p2 y + a r^2 "
         "(r from the clear-aperture centre); signed (edge above centre positive), judged "
         "as |A|",
    "B": "irregularity B = PV (max - min) over the test region of e = z - (p0 + p1 x + p2 y "
         "+ a r^2), the deviation from the approximating sphere",
    "C": "rotationally invariant irregularity C = PV of e_rot, the rotationally invariant "
         "part of e",
    "RMSt": "RMSt = RMS of z over the test region after a least-squares plane (piston and "
            "tilt)",
    "RMSi": "RMSi = RMS of e (the irregularity)",
    "RMSa": "RMSa = RMS of e - e_rot (the irregularity that is not rotationally symmetric)",
}

_ROTATIONAL = {
    "azimuthal": "e_rot = mean of e in rings of one pixel pitch about the centre; C over the "
                 "rings of at least 4 pixels",
    "zernike": "e_rot = least-squares fit of the m = 0 Zernike terms up to radial order 12 "
               "to e",
}
_REMOVABLE_OK = ("piston", "tilt")


@dataclass(frozen=True)
class Iso10110Evidence(Evidence):
    """The decomposition a form item was read from: the test region and the sphere."""

    item: str
    tolerance: str
    unit: str
    limit_in_unit: float
    wavelength_nm: float | None
    values_nm: dict[str, float]
    sphere_nm_per_mm2: float
    centre_mm: tuple[float, float]
    r_min_mm: float
    r_max_mm: float
    n_pixels: int
    rotational_method: str
    definition: str

    KIND: ClassVar[str] = "iso10110_form"


@dataclass(frozen=True, kw_only=True)
class Iso10110FormCriterion(Criterion):
    """One toleranced item (``item``) of an ISO 10110-5 code 3 tolerance, in nm."""

    TYPE: ClassVar[str] = "iso10110_form"
    SECTION: ClassVar[str] = "iso10110"

    item: str
    tolerance: str
    tolerance_unit: str
    limit_in_unit: float
    wavelength_nm: float | None
    rotational: str
    centre_from: str

    @classmethod
    def from_spec(cls, draft: SpecDraft) -> None:
        from ..iso10110 import parse_form_tolerance

        raw = draft.doc.get("iso10110", MISSING)
        if raw is MISSING:
            return
        ctx = draft.ctx
        if isinstance(raw, dict):
            entries = [(("iso10110",), raw)]
        elif isinstance(raw, list) and raw and all(isinstance(t, dict) for t in raw):
            entries = [(("iso10110", i), t) for i, t in enumerate(raw)]
        else:
            bad_type(ctx, ("iso10110",), "a table ([iso10110]) or an array of tables "
                                         "([[iso10110]])", raw)
            return
        for rank, (p, t) in enumerate(entries):
            check_keys(ctx, t, p, ("measurement", "form", "unit", "rotational"))
            name = draft.measurement_ref(t, p)
            text = string(ctx, t, p, "form", required=True)
            unit = string(ctx, t, p, "unit", choices=("fringes", "nm"))
            rot = string(ctx, t, p, "rotational", default="azimuthal",
                         choices=tuple(_ROTATIONAL))
            if name is None or text is None or rot is None:
                continue
            m = draft.measurements[name]
            if m.aperture is None:
                ctx.error((*p, "measurement"), f"an ISO 10110 form tolerance on {name!r} needs "
                          f"its clear aperture ([measurements.{name}.aperture]): the "
                          "tolerance applies inside it")
                continue
            extra = [r for r in m.preprocessing.remove if r not in _REMOVABLE_OK]
            if extra:
                ctx.error((*p, "measurement"), f"measurement {name!r} removes "
                          f"{', '.join(extra)} before every criterion, which the form "
                          "tolerance measures (A is the sagitta deviation); remove only "
                          "piston and tilt from it")
                continue
            lam = _part_wavelength(draft)
            try:
                try:  # a wavelength the text states is the drawing's: it wins
                    tol = parse_form_tolerance(text, unit=unit)
                except SpecError:
                    if unit != "fringes" or lam is None:
                        raise
                    tol = parse_form_tolerance(text, unit=unit, wavelength_nm=lam)
            except SpecError as exc:
                msg = str(exc)
                if unit == "fringes" and lam is None and "wavelength" in msg:
                    msg += "; set [part] test_wavelength_nm"
                ctx.error((*p, "form"), msg)
                continue
            limits = tol.limits_nm()
            in_unit = _limits_in_unit(tol)
            where = f"inside the Ø{m.aperture.diameter_mm:g} mm clear aperture"
            for k, item in enumerate(i for i in ITEMS if i in limits):
                u = "fringes" if tol.unit == "fringes" else "nm"
                lim_txt = (f"{in_unit[item]:g} fringes at {tol.wavelength_nm:g} nm = "
                           f"{limits[item]:.4g} nm" if u == "fringes" else
                           f"{limits[item]:g} nm")
                draft.add(cls(
                    id=f"{name}.iso10110.{item}", measurement=name, limit=limits[item],
                    unit="nm", item=item, tolerance=text, tolerance_unit=u,
                    limit_in_unit=in_unit[item], wavelength_nm=tol.wavelength_nm,
                    rotational=rot, centre_from=m.aperture.centre,
                    description=f"ISO 10110-5 {text}: {_short(item)} {where}, limit "
                                f"{lim_txt}"), (*p, "form"), rank, k)

    # -- evaluation -------------------------------------------------------------------------
    def _deviation(self, fa: FileAnalysis) -> tuple[FormDeviation | None, str,
                                                   list[FormDeviation]]:
        """(deviation of the analysed map, error, deviations of the repeats), shared by the
        items of one file."""
        from ..iso10110 import form_deviation

        key = f"iso10110:{self.rotational}"
        got = fa.shared.get(key)
        if got is None:
            pre = fa.preprocessed
            centre = fa.aperture_record.centre_mm if fa.aperture_record is not None else None
            try:
                dev = form_deviation(pre, centre_mm=centre, rotational=self.rotational)
                reps = [form_deviation(r, centre_mm=dev.centre_mm, rotational=self.rotational)
                        for r in (fa.preprocessing.repeats if fa.preprocessing else ())]
                got = (dev, "", reps)
            except MetrologyError as exc:
                got = (None, f"ISO 10110 form deviation not possible: {exc}", [])
            fa.shared[key] = got
        return got

    def evaluate(self, analysis: FileAnalysis) -> SiteValue:
        dev, err, reps = self._deviation(analysis)
        if dev is None:
            return self.judge(analysis.path, None, err)
        vals = dev.values_nm()
        value = abs(vals[self.item]) if self.item == "A" else vals[self.item]
        ev = Iso10110Evidence(
            data="preprocessed map inside the clear aperture"
                 + (f" (removed: {', '.join(analysis.removed)})" if analysis.removed else ""),
            item=self.item, tolerance=self.tolerance, unit=self.tolerance_unit,
            limit_in_unit=self.limit_in_unit, wavelength_nm=self.wavelength_nm,
            values_nm=vals, sphere_nm_per_mm2=dev.sphere_nm_per_mm2, centre_mm=dev.centre_mm,
            r_min_mm=dev.r_min_mm, r_max_mm=dev.r_max_mm, n_pixels=dev.n_pixels,
            rotational_method=dev.rotational_method, definition=DEFINITIONS[self.item])
        if reps:
            unc = type_a([abs(r.values_nm()[self.item]) if self.item == "A"
                          else r.values_nm()[self.item] for r in reps], self.item)
        else:
            unc = self._single_map_u(analysis, dev, value)
        return self.judge(analysis.path, value, "", ev, unc)

    def _single_map_u(self, fa: FileAnalysis, dev: FormDeviation, value: float
                      ) -> Uncertainty:
        item = self.item
        if item in ("B", "C"):
            return unknown(f"no single-map model for the PV {item} (an extreme value); "
                           "measure repeats")
        e = dev.irregularity
        if item == "RMSi":
            return from_estimate(full_band_estimate(e), value)
        if item == "RMSa":
            return from_estimate(full_band_estimate(e - dev.rotational), value)
        u_a, q = _sphere_u(fa.preprocessed, dev)
        if u_a is None:
            return unknown("the spectra of the uncertainty model could not be computed")
        span = dev.r_max_mm ** 2 - dev.r_min_mm ** 2
        if item == "A":
            from ..uncertainty import MODEL_LINEAR_SINGLE

            return Uncertainty(2.0 * span * u_a, MODEL_LINEAR_SINGLE.replace(
                "the fit's residual", "the irregularity e") + " (A through the "
                "approximating-sphere fit)", measured=value)
        est = full_band_estimate(e)  # RMSt^2 = s^2 + RMSi^2, s the sphere term's RMS
        if est is None or not value > 0:
            return unknown("the spectra of the uncertainty model could not be computed")
        s = math.sqrt(max(value ** 2 - dev.rms_i_nm ** 2, 0.0))
        u_i = 0.5 * float(est.U)
        u = math.sqrt((s * q * u_a) ** 2 + (dev.rms_i_nm * u_i) ** 2) / value
        return Uncertainty(2.0 * u, "single map: RMSt^2 = s^2 + RMSi^2 (s the RMS of the "
                           "sphere term after a plane, orthogonal to e): u(s) from the "
                           "sphere fit's single-map model, u(RMSi) from the chi-square "
                           "model of e; k = 2", measured=value)

    def convention(self) -> dict[str, Any]:
        return {"standard": "ISO 10110-5 (code 3), ISO 14999-4", "item": self.item,
                "definition": DEFINITIONS[self.item], "tolerance": self.tolerance,
                "tolerance_unit": self.tolerance_unit, "limit_in_unit": self.limit_in_unit,
                "wavelength_nm": self.wavelength_nm,
                "fringe": ("1 fringe spacing = lambda/2 of surface height (reflection, normal "
                           "incidence)" if self.tolerance_unit == "fringes" else None),
                "test_region": "valid pixels inside the clear aperture (dropouts excluded), "
                               "centre = the aperture's centre "
                               f"({'given' if self.centre_from == 'given' else 'from the data'})",
                "approximating_sphere": "least-squares p0 + p1 x + p2 y + a r^2 over the test "
                                        "region",
                "rotational": _ROTATIONAL[self.rotational],
                "source": SOURCE_NOTE}


def _short(item: str) -> str:
    return {"A": "sagitta deviation |A|", "B": "irregularity B",
            "C": "rotationally invariant irregularity C", "RMSt": "RMSt", "RMSi": "RMSi",
            "RMSa": "RMSa"}[item]


def _part_wavelength(draft: SpecDraft) -> float | None:
    part = draft.doc.get("part")
    lam = part.get("test_wavelength_nm") if isinstance(part, dict) else None
    return float(lam) if isinstance(lam, int | float) and not isinstance(lam, bool) \
        and lam > 0 else None


def _limits_in_unit(tol: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, v in (("A", tol.sagitta), ("B", tol.irregularity), ("C", tol.rotational)):
        if v is not None:
            out[key] = float(v)
    for kind, v in tol.rms:
        out[{"t": "RMSt", "i": "RMSi", "a": "RMSa"}[kind]] = float(v)
    return out


def _sphere_u(pre: Any, dev: FormDeviation) -> tuple[float | None, float]:
    """(u of the sphere coefficient a in nm/mm², q = RMS of r² after a plane, mm²) on
    the single-map model with the irregularity's periodogram as the noise PSD."""
    from ..uncertainty import linear_u, residual_psd

    valid = pre.valid
    x, y = pre.grid_mm()
    cx, cy = dev.centre_mm
    xs, ys = x[valid] - cx, y[valid] - cy
    r2 = xs * xs + ys * ys
    a = np.column_stack([np.ones_like(r2), xs, ys, r2])
    try:
        rows = np.linalg.solve(a.T @ a, a.T)  # (4, P): coefficients = rows @ z
        beta = np.zeros(pre.shape)
        beta[valid] = rows[3]
        u_a = linear_u(beta, residual_psd(dev.irregularity), pre.dx_mm, pre.dy_mm)
    except (np.linalg.LinAlgError, MetrologyError):
        return None, math.nan
    plane = np.linalg.lstsq(a[:, :3], r2, rcond=None)[0]
    q = float(np.sqrt(np.mean((r2 - a[:, :3] @ plane) ** 2)))
    return u_a, q
