"""ISO 10110-5 surface form tolerances: ``3/A(B/C)`` and ``3/A(B/C; RMSx < D)``.

Definitions (formulas, sources and the limits of what is verified: ``docs/iso10110.md``):

* Test region: the valid pixels of the map (the real aperture), centre c
  (the clear aperture's, else the centre of the best-fit circle of the
  boundary), r the distance from c in the map frame (mm).
* Surface form deviation z: heights in nm relative to the nominal surface
  (what an interferometer measures against its reference).
* Approximating sphere: the least-squares fit of ``p0 + p1 x + p2 y + a r²``
  over the test region. For a deviation small against the radius of
  curvature a sphere of another radius differs from the nominal by a
  paraboloid ``a r²`` (plus piston); p1, p2 absorb tilt (a lateral shift of
  the sphere).
* A, sagitta deviation: the peak-to-valley of the sphere term over the test
  region, ``A = a (max r² - min r²)``, signed: positive when the edge lies
  above the centre (a > 0). On a full disk of radius R, ``A = a R²`` = 2 x the
  peak-normalised Fringe Z4 coefficient of a fit of the disk (Z9, Z16, ...
  are orthogonal to 1 and ρ² there); on other apertures it is not.
* Irregularity residual ``e = z - (p0 + p1 x + p2 y + a r²)``; B is its PV.
* Rotationally invariant part ``e_rot(r)``: the azimuthal mean of e in rings of
  one pixel pitch about c (``rotational="azimuthal"``, default), or the
  least-squares fit of the m = 0 Zernike terms to e (``"zernike"``). C is
  the PV of e_rot over the rings that hold at least ``min_bin_pixels`` pixels.
* RMSt: RMS of z after piston and tilt (a least-squares plane) are removed;
  RMSi: RMS of e; RMSa: RMS of ``e - e_rot`` (the non-rotationally
  symmetric irregularity).

Units: nm throughout; in fringe spacings at a test wavelength λ, 1 fringe =
λ/2 of surface height (a surface tested in reflection at normal incidence).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .decision import Decision, decide
from .errors import ConventionError, InsufficientDataError, SpecError
from .heightmap import HeightMap
from .verdicts import Verdict

__all__ = [
    "FRINGE",
    "FormDeviation",
    "form_deviation",
    "form_estimates",
    "FormTolerance",
    "FormCriterion",
    "parse_form_tolerance",
    "fringe_nm",
]

FRINGE = "1 fringe spacing = lambda/2 of surface height (reflection, normal incidence)"
_RMS_KINDS = {"t": "RMSt", "i": "RMSi", "a": "RMSa"}


def fringe_nm(wavelength_nm: float) -> float:
    """Surface height of one fringe spacing at ``wavelength_nm``: λ / 2, nm."""
    lam = float(wavelength_nm)
    if not (lam > 0 and math.isfinite(lam)):
        raise ConventionError(f"a test wavelength must be a positive number of nm, got "
                              f"{wavelength_nm!r}")
    return lam / 2.0


@dataclass(frozen=True, eq=False)
class FormDeviation:
    """ISO 10110-5 form deviation of a measured surface (module docstring: definitions).

    Attributes
    ----------
    sagitta_nm : float
        A, signed (positive: edge above centre), nm.
    irregularity_nm : float
        B, PV of the residual after the approximating sphere, nm.
    rotational_nm : float
        C, PV of the rotationally invariant part of that residual, nm.
    rms_t_nm, rms_i_nm, rms_a_nm : float
        RMSt, RMSi, RMSa, nm.
    sphere_nm_per_mm2 : float
        a of the approximating sphere term ``a r²``, nm/mm².
    centre_mm : (float, float)
        Centre of the test region (x, y) in the map frame, mm.
    r_min_mm, r_max_mm : float
        Radial extent of the test region about the centre.
    n_pixels : int
    rotational_method : str
    irregularity : HeightMap
        The residual e (nm).
    rotational : HeightMap
        The rotationally invariant part e_rot (nm).
    """

    sagitta_nm: float
    irregularity_nm: float
    rotational_nm: float
    rms_t_nm: float
    rms_i_nm: float
    rms_a_nm: float
    sphere_nm_per_mm2: float
    centre_mm: tuple[float, float]
    r_min_mm: float
    r_max_mm: float
    n_pixels: int
    rotational_method: str
    irregularity: HeightMap = field(repr=False)
    rotational: HeightMap = field(repr=False)

    def values_nm(self) -> dict[str, float]:
        """{"A", "B", "C", "RMSt", "RMSi", "RMSa"} in nm (A signed)."""
        return {"A": self.sagitta_nm, "B": self.irregularity_nm, "C": self.rotational_nm,
                "RMSt": self.rms_t_nm, "RMSi": self.rms_i_nm, "RMSa": self.rms_a_nm}

    def in_fringes(self, wavelength_nm: float) -> dict[str, float]:
        """The same values in fringe spacings at ``wavelength_nm`` (1 fringe = λ/2)."""
        f = fringe_nm(wavelength_nm)
        return {k: v / f for k, v in self.values_nm().items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "values_nm": self.values_nm(),
            "sphere_nm_per_mm2": self.sphere_nm_per_mm2,
            "centre_mm": list(self.centre_mm), "r_min_mm": self.r_min_mm,
            "r_max_mm": self.r_max_mm, "n_pixels": self.n_pixels,
            "rotational_method": self.rotational_method,
            "definitions": "ISO 10110-5 / ISO 14999-4 as in docs/iso10110.md: A = PV of the "
                           "least-squares approximating sphere term over the test region; B = PV "
                           "after it; C = PV of the rotationally invariant part; RMSt after "
                           "piston and tilt, RMSi after the sphere, RMSa after the rotationally "
                           "invariant part",
        }


def _centre(hm: HeightMap, centre_mm: tuple[float, float] | None) -> tuple[float, float]:
    if centre_mm is not None:
        return float(centre_mm[0]), float(centre_mm[1])
    from .zernike import _aperture_centre

    c = _aperture_centre(hm.meta.get("aperture"))
    if c is not None:
        return c
    from .aperture import fit_circle

    return fit_circle(hm)[0]


def _rms(v: np.ndarray) -> float:
    return float(np.sqrt(np.mean((v - v.mean()) ** 2)))


def form_deviation(hm: HeightMap, *, centre_mm: tuple[float, float] | None = None,
                   rotational: str = "azimuthal", bin_width_mm: float | None = None,
                   max_radial_order: int = 12, min_bin_pixels: int = 4) -> FormDeviation:
    """A, B, C, RMSt, RMSi and RMSa of a surface form deviation map (module docstring).

    Parameters
    ----------
    hm : HeightMap
        Surface form deviation in nm; its valid pixels are the test region
        (restrict it to the clear aperture first).
    centre_mm : (x, y), optional
        Centre of the test region in the map frame, mm. Default: the clear
        aperture's (``meta['aperture']``), else the best-fit circle of the
        valid region's boundary.
    rotational : {"azimuthal", "zernike"}
        How the rotationally invariant part is found.
    bin_width_mm : float, optional
        Ring width for ``"azimuthal"`` (default: the larger pixel spacing).
    max_radial_order : int
        Highest radial order n of the m = 0 terms for ``"zernike"`` (even).
    min_bin_pixels : int
        Rings with fewer pixels take part in e_rot but not in the PV C.

    Returns
    -------
    FormDeviation
    """
    valid = hm.valid
    npx = int(np.count_nonzero(valid))
    if npx < 8:
        raise InsufficientDataError(f"a form deviation needs at least 8 valid pixels, got {npx}")
    cx, cy = _centre(hm, centre_mm)
    x, y = hm.grid_mm()
    xs = x[valid] - cx
    ys = y[valid] - cy
    z = hm.z_nm[valid]
    r2 = xs * xs + ys * ys
    scale = math.sqrt(float(r2.max())) or 1.0
    u, v, w = xs / scale, ys / scale, r2 / scale ** 2
    ones = np.ones_like(z)
    plane = np.linalg.lstsq(np.column_stack([ones, u, v]), z, rcond=None)[0]
    z_pt = z - (plane[0] + plane[1] * u + plane[2] * v)
    basis = np.column_stack([ones, u, v, w])
    p = np.linalg.lstsq(basis, z, rcond=None)[0]
    e = z - basis @ p
    a = float(p[3]) / scale ** 2
    sagitta = a * float(r2.max() - r2.min())
    r = np.sqrt(r2)
    method = str(rotational).lower()
    if method == "azimuthal":
        bw = max(hm.dx_mm, hm.dy_mm) if bin_width_mm is None else float(bin_width_mm)
        if not (bw > 0 and math.isfinite(bw)):
            raise ConventionError(f"bin_width_mm must be positive, got {bin_width_mm!r}")
        k = np.floor(r / bw).astype(np.int64)
        cnt = np.bincount(k)
        sums = np.bincount(k, weights=e)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = sums / cnt
        e_rot = means[k]
        ok = cnt >= int(min_bin_pixels)
        if not ok.any():
            raise InsufficientDataError("no ring holds enough pixels for the rotationally "
                                        "invariant part; widen bin_width_mm")
        c_pv = float(np.nanmax(means[ok]) - np.nanmin(means[ok]))
        desc = f"azimuthal mean in rings of {bw:g} mm about the centre"
    elif method == "zernike":
        order = int(max_radial_order)
        if order < 2 or order % 2:
            raise ConventionError(
                f"max_radial_order must be an even order >= 2, got {max_radial_order!r}")
        from .zernike_transform import radial_monomials

        rho = r / scale
        cols = []
        for n in range(0, order + 1, 2):
            cols.append(sum(c * rho ** pw for pw, c in radial_monomials(n, 0)))
        b = np.column_stack(cols)
        e_rot = b @ np.linalg.lstsq(b, e, rcond=None)[0]
        c_pv = float(e_rot.max() - e_rot.min())
        desc = f"least-squares m = 0 Zernike terms up to radial order {order}"
    else:
        raise ConventionError(f"rotational must be 'azimuthal' or 'zernike', got {rotational!r}")
    full_e = np.full(hm.shape, np.nan)
    full_e[valid] = e
    full_r = np.full(hm.shape, np.nan)
    full_r[valid] = e_rot
    return FormDeviation(
        sagitta_nm=sagitta, irregularity_nm=float(e.max() - e.min()), rotational_nm=c_pv,
        rms_t_nm=_rms(z_pt), rms_i_nm=_rms(e), rms_a_nm=_rms(e - e_rot),
        sphere_nm_per_mm2=a, centre_mm=(cx, cy), r_min_mm=float(r.min()),
        r_max_mm=float(r.max()), n_pixels=npx, rotational_method=desc,
        irregularity=hm.replace(full_e, copy=False,
                                note="ISO 10110-5 irregularity (approximating sphere removed)"),
        rotational=hm.replace(full_r, copy=False,
                              note="ISO 10110-5 rotationally invariant irregularity"))


# ---------------------------------------------------------------------------
# drawing notation
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class FormCriterion:
    """One toleranced item of a :class:`FormTolerance` judged on a :class:`FormDeviation`."""

    name: str
    description: str
    value_nm: float
    limit_nm: float
    decision: Decision

    @property
    def verdict(self) -> Verdict:
        """The decision's verdict (:class:`metrology.verdicts.Verdict`)."""
        return self.decision.verdict


_DESCRIPTIONS = {
    "A": "sagitta deviation |A| (PV of the approximating sphere term)",
    "B": "irregularity B (PV after the approximating sphere)",
    "C": "rotationally invariant irregularity C (PV)",
    "RMSt": "RMSt (RMS after piston and tilt)",
    "RMSi": "RMSi (RMS of the irregularity)",
    "RMSa": "RMSa (RMS of the non-rotationally symmetric irregularity)",
}


@dataclass(frozen=True)
class FormTolerance:
    """A parsed ISO 10110-5 surface form tolerance.

    Attributes
    ----------
    sagitta, irregularity, rotational : float or None
        A, B, C in ``unit`` (None: not toleranced, written "-" or absent).
    rms : tuple of (kind, limit)
        ``("t" | "i" | "a", value in unit)`` for RMSt, RMSi, RMSa.
    unit : {"fringes", "nm"}
    wavelength_nm : float or None
        Test wavelength (required for fringes).
    text : str
        The string as given.
    """

    sagitta: float | None
    irregularity: float | None
    rotational: float | None
    rms: tuple[tuple[str, float], ...]
    unit: str
    wavelength_nm: float | None
    text: str = ""

    def _to_nm(self, v: float) -> float:
        return v * fringe_nm(self.wavelength_nm) if self.unit == "fringes" else v  # type: ignore

    def limits_nm(self) -> dict[str, float]:
        """Every toleranced item's limit in nm: keys among A, B, C, RMSt, RMSi, RMSa."""
        out: dict[str, float] = {}
        for key, v in (("A", self.sagitta), ("B", self.irregularity), ("C", self.rotational)):
            if v is not None:
                out[key] = self._to_nm(v)
        for kind, v in self.rms:
            out[_RMS_KINDS[kind]] = self._to_nm(v)
        return out

    def evaluate(self, dev: FormDeviation, *, rule: str = "simple",
                 U_nm: dict[str, float] | None = None) -> list[FormCriterion]:
        """Judge ``dev`` against every toleranced item (upper limits; A as |A|).

        ``U_nm`` gives expanded uncertainties (k = 2) per item for the guarded rule.
        """
        vals = dev.values_nm()
        out = []
        for key, lim in self.limits_nm().items():
            v = abs(vals[key]) if key == "A" else vals[key]
            u = None if U_nm is None else U_nm.get(key)
            out.append(FormCriterion(key, _DESCRIPTIONS[key], v, lim,
                                     decide(v, lim, U=u, rule=rule)))
        return out

    def to_string(self) -> str:
        """The tolerance in the notation ``3/A(B/C; RMSx < D)``; for fringe spacings the
        test wavelength is appended (``λ = 632.8 nm``), values in nm carry no unit in the
        notation (parse them back with ``unit="nm"``)."""
        def num(v: float | None) -> str:
            return "-" if v is None else f"{v:g}"
        inner = num(self.irregularity)
        if self.rotational is not None:
            inner += f"/{num(self.rotational)}"
        if self.rms:
            inner += "; " + "; ".join(f"RMS{k} < {v:g}" for k, v in self.rms)
        s = f"3/{num(self.sagitta)}({inner})"
        if self.unit == "fringes":
            s += f" λ = {self.wavelength_nm:g} nm"
        return s


_NUM = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_DASH = r"[-\u2013\u2014\u2212]"
_VAL = rf"(?:{_NUM}|{_DASH})"
_RMS = rf"RMS\s*([tTiIaA])\s*(?:<=|<|\u2264|=)?\s*({_NUM})"
_LAMBDA = rf"(?:\u03bb|lambda|lam)\s*=?\s*({_NUM})\s*(nm|um|\u00b5m|\u03bcm|mm)?"
_MAIN = re.compile(rf"^\s*3\s*/\s*({_VAL})\s*\(\s*({_VAL})?\s*(?:/\s*({_VAL}))?\s*"
                   rf"((?:[;,]\s*{_RMS}\s*)*)\)\s*(.*)$", re.IGNORECASE)


def _value(tok: str | None) -> float | None:
    if tok is None or re.fullmatch(_DASH, tok.strip()):
        return None
    return float(tok)


def parse_form_tolerance(text: str, *, unit: str | None = None,
                         wavelength_nm: float | None = None) -> FormTolerance:
    """Parse an ISO 10110-5 surface form tolerance as written on a drawing.

    Accepted forms (spaces free; "-" or an en dash for an item not toleranced):
    ``3/A(B)``, ``3/A(B/C)``, ``3/-(B)``, ``3/A(B/C; RMSi < D)``, the RMS items
    also after the parenthesis (``3/A(B/C) RMSt < D; RMSa < E``), several of
    them separated by ";" or ",", "<", "<=", "≤" or nothing before the value,
    and an optional test wavelength ``λ = 632.8 nm`` (or ``lambda=0.6328 um``).

    Parameters
    ----------
    text : str
    unit : {"fringes", "nm"}, optional
        Unit of the values. Default: fringes when the text states λ; else it
        must be given (ISO 10110-5:2015 prefers nm; the 1996/2007 editions used
        fringe spacings: the string alone does not say which).
    wavelength_nm : float, optional
        Test wavelength when the text does not state it (required for fringes).

    Returns
    -------
    FormTolerance

    Raises
    ------
    SpecError
        Not of the form above, negative values, fringes without a wavelength,
        or an unknown unit.
    """
    if not isinstance(text, str):
        raise SpecError(f"a form tolerance must be a string, got {type(text).__name__}")
    mt = _MAIN.match(text)
    if not mt:
        raise SpecError(f"{text!r} is not an ISO 10110-5 form tolerance of the form "
                        "3/A(B/C) or 3/A(B/C; RMSx < D)")
    a_tok, b_tok, c_tok, rms_in, tail = mt.groups()[:4] + (mt.groups()[-1],)
    rms: list[tuple[str, float]] = [(k.lower(), float(v))
                                    for k, v in re.findall(_RMS, rms_in, re.IGNORECASE)]
    lam = None
    rest = tail.strip()
    while rest:
        rest = rest.lstrip(";, ")
        if not rest:
            break
        mr = re.match(_RMS, rest, re.IGNORECASE)
        ml = re.match(_LAMBDA, rest, re.IGNORECASE)
        if mr:
            rms.append((mr.group(1).lower(), float(mr.group(2))))
            rest = rest[mr.end():]
        elif ml:
            if lam is not None:
                raise SpecError(f"{text!r}: the wavelength is stated twice")
            f = {"nm": 1.0, "um": 1e3, "µm": 1e3, "μm": 1e3, "mm": 1e6}.get(
                (ml.group(2) or "nm").lower(), 1.0)
            lam = float(ml.group(1)) * f
            rest = rest[ml.end():]
        else:
            raise SpecError(f"{text!r}: cannot read {rest!r} after the tolerance (expected "
                            "RMSt/RMSi/RMSa < value or λ = ... nm)")
    kinds = [k for k, _ in rms]
    if len(set(kinds)) != len(kinds):
        raise SpecError(f"{text!r}: an RMS item is given twice")
    a, b, c = _value(a_tok), _value(b_tok), _value(c_tok)
    if b_tok is None and c_tok is None and not rms:
        raise SpecError(f"{text!r}: nothing inside the parentheses")
    for name, v in (("A", a), ("B", b), ("C", c), *[("RMS" + k, v) for k, v in rms]):
        if v is not None and (not math.isfinite(v) or v < 0):
            raise SpecError(f"{text!r}: {name} must be a non-negative number, got {v!r}")
    if wavelength_nm is not None and lam is not None and not math.isclose(
            float(wavelength_nm), lam, rel_tol=1e-9):
        raise SpecError(f"{text!r} states λ = {lam:g} nm but wavelength_nm={wavelength_nm!r} "
                        "was given")
    lam = lam if lam is not None else (None if wavelength_nm is None else float(wavelength_nm))
    if unit is None:
        if lam is None:
            raise SpecError(f"{text!r}: say whether the values are in nm or in fringe spacings "
                            "(unit='nm' or unit='fringes' with the test wavelength): "
                            "ISO 10110-5:2015 prefers nm, earlier editions used fringes")
        u = "fringes"
    else:
        u = str(unit).lower()
        if u in ("fringe", "fringe spacings", "fringe spacing"):
            u = "fringes"
        if u not in ("fringes", "nm"):
            raise SpecError(f"unknown unit {unit!r}; use 'fringes' or 'nm'")
    if u == "fringes":
        if lam is None:
            raise SpecError(f"{text!r}: fringe spacings need the test wavelength "
                            "(λ = ... nm in the text, or wavelength_nm=)")
        fringe_nm(lam)
    return FormTolerance(a, b, c, tuple(rms), u, lam, text)


def form_estimates(maps: Any, **kwargs: Any) -> tuple[FormDeviation, dict[str, float]]:
    """Form deviation of the average of N >= 2 repeats and U (k = 2) of each item.

    Model: Type A from the spread of the repeats. Each item (A, B, C, RMSt,
    RMSi, RMSa) is evaluated on every repeat (on the repeats' common mask)
    and U = 2 · s / sqrt(N), s the sample standard deviation (ddof = 1) of the
    N values, N - 1 degrees of freedom. The values returned are those of the
    average. PV items (B, C) are biased upward by noise, in the average less
    than in one repeat; that bias is not removed (compare the average's value
    with the mean of the repeats' to see its size).

    Parameters
    ----------
    maps : sequence of HeightMap
        Repeats on one grid, nm.
    **kwargs
        As :func:`form_deviation` (the same centre is used for every repeat).

    Returns
    -------
    (FormDeviation, dict)
        The average's form deviation and ``U_nm`` keyed A, B, C, RMSt, RMSi,
        RMSa (for :meth:`FormTolerance.evaluate`).
    """
    from .repeats import average

    avg = average(maps)
    dev = form_deviation(avg.map, **kwargs)
    kw = dict(kwargs)
    kw["centre_mm"] = dev.centre_mm
    mask = avg.map.valid
    vals = [form_deviation(hm.apply_mask(mask), **kw).values_nm() for hm in maps]
    n = len(vals)
    u = {k: 2.0 * float(np.std([v[k] for v in vals], ddof=1)) / math.sqrt(n) for k in vals[0]}
    return dev, u
