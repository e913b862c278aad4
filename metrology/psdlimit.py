"""PSD limit lines in ISO 10110-8 notation, and the band RMS a line itself implies.

ISO 10110-8 (surface texture) lets a drawing limit the PSD of the surface by
a power-law line ``PSD(f) <= A / f^B`` over a stated spatial-frequency range
[f_min, f_max], for the 1-D (profile) PSD or the 2-D (areal) PSD. The
standard's own text was not available to us (the stored references hold only
its scope); what follows is the form as it is commonly quoted, and every
quantity that the notation leaves to the drawing is an explicit argument
here rather than an assumption:

* ``dimension="1d"``: a profile PSD [height² · length], ``sidedness`` one- or
  two-sided (a two-sided line A f^-B is the one-sided line 2A f^-B for f > 0);
* ``dimension="2d"``: the areal 2-D PSD [height² · length²] of an isotropic
  surface at |f|;
* A is the line's value at f = 1 / length_unit, in ``height_unit² ·
  length_unit^d``, f in 1 / ``length_unit`` (defaults nm and mm: the
  project's units, so A is in nm² mm (1-D) or nm² mm² (2-D) at 1 cycle/mm);
* B is dimensionless (positive for a falling line).

Our line convention (``CONVENTIONS.md``): ``P(f) = a f^-b`` with f in
cycles/mm and P in nm² mm (profile, one-sided; radial) or nm² mm² (areal);
:class:`PSDLimit` holds the line in that convention with its kind.

Conversions for an isotropic surface (the closed forms of
``P1+(f) = 2 ∫ PSD2(sqrt(f² + f_y²)) df_y``): a 2-D line ``K f^-α`` (α > 1)
has the one-sided profile line ``2 K c_α f^(1-α)``, ``c_α = √π
Γ((α-1)/2) / Γ(α/2)``, and the radial line ``2π K f^(1-α)``. So a one-sided
1-D line ``A f^-B`` is the 2-D line ``A / (2 c_(B+1)) f^-(B+1)``.

Band RMS the line implies (closed form, :meth:`PSDLimit.band_rms_nm`):

* profile: ``σ² = ∫ A f^-B df`` over [f1, f2] (one-sided A);
* areal: ``σ² = ∫ 2π f PSD2(f) df = 2π K ∫ f^(1-α) df``.

They differ for the same line (areal / profile = π / c_α: π/2 for a 1-D
slope of 2). A band that leaves the line's stated range is not limited by
the line there; the result says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ConventionError

__all__ = ["PSDLimit", "PiecewiseLimit", "LimitBandRMS", "iso10110_psd_limit", "c_alpha"]

#: height units in nm
_HEIGHT = {"nm": 1.0, "um": 1e3, "µm": 1e3, "mm": 1e6, "m": 1e9, "pm": 1e-3, "angstrom": 0.1}
#: length units in mm
_LENGTH = {"mm": 1.0, "um": 1e-3, "µm": 1e-3, "nm": 1e-6, "m": 1e3, "cm": 10.0}
_KINDS = ("profile", "areal", "radial")


def c_alpha(alpha: float) -> float:
    """``∫ (1 + u²)^(-α/2) du`` over the real line = √π Γ((α-1)/2) / Γ(α/2), for α > 1."""
    a = float(alpha)
    if not a > 1.0:
        raise ConventionError(f"the profile PSD of an areal f^-alpha line needs alpha > 1, "
                              f"got {alpha!r}")
    return math.sqrt(math.pi) * math.exp(math.lgamma((a - 1) / 2) - math.lgamma(a / 2))


def _unit(table: dict[str, float], name: str, what: str) -> float:
    key = str(name).strip().lower().replace("micron", "um")
    if key not in table:
        raise ConventionError(f"unknown {what} unit {name!r}; use one of {sorted(table)}")
    return table[key]


def _power_integral(b: float, lo: float, hi: float) -> float:
    """∫ f^-b df over [lo, hi] (hi may be inf when b > 1)."""
    e = 1.0 - b
    if abs(e) < 1e-12:
        return math.log(hi / lo)
    if math.isinf(hi):
        if e >= 0:
            return math.inf
        return -lo ** e / e
    return (hi ** e - lo ** e) / e


@dataclass(frozen=True)
class LimitBandRMS:
    """RMS the limit line itself implies over a band.

    Attributes
    ----------
    rms_nm : float
        sqrt of the line's integral over the part of the band inside the line's
        range (NaN when none).
    f_lo_per_mm, f_hi_per_mm : float
        The band asked for.
    covered_lo_per_mm, covered_hi_per_mm : float
        The part inside the line's stated range.
    fully_covered : bool
    kind : {"areal", "profile"}
    reason : str
    """

    rms_nm: float
    f_lo_per_mm: float
    f_hi_per_mm: float
    covered_lo_per_mm: float
    covered_hi_per_mm: float
    fully_covered: bool
    kind: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python dict."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class PSDLimit:
    """A power-law PSD limit line ``P(f) = a f^-b`` over [f_lo, f_hi] in our convention.

    Attributes
    ----------
    a : float
        Value at f = 1 cycle/mm: nm² mm for ``kind`` "profile" (one-sided)
        and "radial", nm² mm² for "areal".
    b : float
        Exponent.
    kind : {"profile", "areal", "radial"}
    f_lo_per_mm, f_hi_per_mm : float
        Range the line applies over, cycles/mm.
    axis : str or None
        Profile direction the line applies to (None: any direction / isotropic).
    notation : str
        How the line was written (e.g. the ISO 10110-8 A, B and units given).
    """

    a: float
    b: float
    kind: str = "profile"
    f_lo_per_mm: float = 0.0
    f_hi_per_mm: float = math.inf
    axis: str | None = None
    notation: str = ""

    def __post_init__(self) -> None:
        k = str(self.kind).lower()
        if k not in _KINDS:
            raise ConventionError(f"a limit line's kind must be one of {_KINDS}, got "
                                  f"{self.kind!r}")
        object.__setattr__(self, "kind", k)
        if not (math.isfinite(self.a) and self.a > 0 and math.isfinite(self.b)):
            raise ConventionError(f"a limit line needs a finite A > 0 and a finite B, got "
                                  f"A = {self.a!r}, B = {self.b!r}")
        lo, hi = float(self.f_lo_per_mm), float(self.f_hi_per_mm)
        if not (lo >= 0 and hi > lo) or math.isnan(hi):
            raise ConventionError(f"a limit line's range needs 0 <= f_lo < f_hi, got "
                                  f"[{self.f_lo_per_mm!r}, {self.f_hi_per_mm!r}]")

    @property
    def unit(self) -> str:
        """Unit of the line's values."""
        return "nm^2 mm^2" if self.kind == "areal" else "nm^2 mm"

    @property
    def sidedness(self) -> str:
        """"one-sided" for a profile line (our convention), "" otherwise."""
        return "one-sided" if self.kind == "profile" else ""

    def __call__(self, f_per_mm: Any) -> np.ndarray:
        """The line at ``f_per_mm`` (NaN outside its range), in :attr:`unit`."""
        f = np.asarray(f_per_mm, dtype=np.float64)
        inside = (f >= self.f_lo_per_mm * (1 - 1e-12)) & (f <= self.f_hi_per_mm * (1 + 1e-12))
        with np.errstate(divide="ignore", invalid="ignore"):
            v = self.a * f ** (-self.b)
        return np.where(inside & (f > 0), v, np.nan)

    def _areal_k_alpha(self) -> tuple[float, float]:
        """(K, α) of the isotropic surface's 2-D line PSD2 = K f^-α."""
        if self.kind == "areal":
            return self.a, self.b
        if self.kind == "radial":
            return self.a / (2.0 * math.pi), self.b + 1.0
        alpha = self.b + 1.0
        return self.a / (2.0 * c_alpha(alpha)), alpha

    def as_kind(self, kind: str) -> PSDLimit:
        """The same isotropic surface's line as another kind (profile one-sided, areal, radial)."""
        k = str(kind).lower()
        if k not in _KINDS:
            raise ConventionError(f"kind must be one of {_KINDS}, got {kind!r}")
        if k == self.kind:
            return self
        big_k, alpha = self._areal_k_alpha()
        if k == "areal":
            a, b = big_k, alpha
        elif k == "radial":
            a, b = 2.0 * math.pi * big_k, alpha - 1.0
        else:
            a, b = 2.0 * big_k * c_alpha(alpha), alpha - 1.0
        return PSDLimit(a, b, k, self.f_lo_per_mm, self.f_hi_per_mm, self.axis,
                        self.notation + f" (converted from {self.kind} for an isotropic "
                                        "surface)")

    def band_rms_nm(self, f_lo_per_mm: float, f_hi_per_mm: float,
                    kind: str = "areal") -> LimitBandRMS:
        """RMS the line implies over [f_lo, f_hi) (closed form).

        Parameters
        ----------
        f_lo_per_mm, f_hi_per_mm : float
            Band, cycles/mm.
        kind : {"areal", "profile"}
            Areal band (∫ 2π f PSD2 df of the isotropic surface) or profile band
            (∫ P1+ df).

        Returns
        -------
        LimitBandRMS
            Over the part of the band inside the line's range; not fully
            covered (with the reason) when the band leaves it.
        """
        kd = str(kind).lower()
        if kd not in ("areal", "profile"):
            raise ConventionError(f"kind must be 'areal' or 'profile', got {kind!r}")
        lo, hi = float(f_lo_per_mm), float(f_hi_per_mm)
        if not (lo >= 0 and hi > lo) or math.isnan(hi):
            raise ConventionError(f"a band needs 0 <= f_lo < f_hi, got [{lo!r}, {hi!r})")
        reasons = []
        c_lo, c_hi = lo, hi
        if lo < self.f_lo_per_mm * (1 - 1e-9):
            reasons.append(f"the line starts at {self.f_lo_per_mm:g}/mm, above f_lo = {lo:g}/mm")
            c_lo = self.f_lo_per_mm
        if hi > self.f_hi_per_mm * (1 + 1e-9):
            reasons.append(f"the line ends at {self.f_hi_per_mm:g}/mm, below f_hi = {hi:g}/mm")
            c_hi = self.f_hi_per_mm
        if not c_lo < c_hi:
            return LimitBandRMS(math.nan, lo, hi, math.nan, math.nan, False, kd,
                                "; ".join(reasons) + "; the band lies outside the line")
        if c_lo <= 0:
            return LimitBandRMS(math.inf, lo, hi, c_lo, c_hi, not reasons, kd,
                                "; ".join(reasons + ["a power law diverges at f = 0"]))
        line = self.as_kind("profile" if kd == "profile" else "radial")
        var = line.a * _power_integral(line.b, c_lo, c_hi)
        return LimitBandRMS(math.sqrt(var), lo, hi, c_lo, c_hi, not reasons, kd,
                            "; ".join(reasons))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {"a": self.a, "b": self.b, "kind": self.kind, "unit": self.unit,
                "sidedness": self.sidedness, "f_lo_per_mm": self.f_lo_per_mm,
                "f_hi_per_mm": self.f_hi_per_mm, "axis": self.axis, "notation": self.notation,
                "formula": "P(f) = a * f^-b, f in cycles/mm"}


def iso10110_psd_limit(a: float, b: float, f_range: tuple[float, float], *,
                       dimension: str = "1d", sidedness: str = "one-sided",
                       height_unit: str = "nm", length_unit: str = "mm",
                       axis: str | None = None) -> PSDLimit:
    """A limit line written in ISO 10110-8 notation, in our convention.

    Parameters
    ----------
    a : float
        A: the line's value at f = 1 / length_unit, in ``height_unit² ·
        length_unit`` (1-D) or ``height_unit² · length_unit²`` (2-D).
    b : float
        B, the exponent of ``PSD(f) = A / f^B``.
    f_range : (f_min, f_max)
        Spatial-frequency range of the line, in 1 / ``length_unit``.
    dimension : {"1d", "2d"}
        1-D (profile) or 2-D (areal, isotropic) PSD.
    sidedness : {"one-sided", "two-sided"}
        Of a 1-D line (a two-sided line A is the one-sided line 2A, f > 0).
    height_unit : {"nm", "um", "mm", "m", ...}
    length_unit : {"mm", "um", "m", ...}
    axis : str, optional
        Profile direction the line applies to.

    Returns
    -------
    PSDLimit
        ``kind`` "profile" (one-sided, nm² mm) or "areal" (nm² mm²), f in cycles/mm.
    """
    d = str(dimension).lower().replace("-", "")
    if d not in ("1d", "2d"):
        raise ConventionError(f"dimension must be '1d' or '2d', got {dimension!r}")
    side = str(sidedness).lower()
    if side not in ("one-sided", "two-sided"):
        raise ConventionError(f"sidedness must be 'one-sided' or 'two-sided', got "
                              f"{sidedness!r}")
    if d == "2d" and side != "one-sided":
        raise ConventionError("sidedness applies to a 1-D line only")
    h = _unit(_HEIGHT, height_unit, "height")  # nm per height unit
    ell = _unit(_LENGTH, length_unit, "length")  # mm per length unit
    aa, bb = float(a), float(b)
    if not (math.isfinite(aa) and aa > 0 and math.isfinite(bb)):
        raise ConventionError(f"A must be finite and > 0 and B finite, got A = {a!r}, B = {b!r}")
    try:
        lo, hi = (float(v) for v in f_range)
    except (TypeError, ValueError):
        raise ConventionError(f"f_range must be (f_min, f_max), got {f_range!r}") from None
    dim = 1 if d == "1d" else 2
    # P_user(f_u) = A f_u^-B with f_u = f_mm * ell (cycles per length unit) and
    # P_mm = P_user * h² * ell^dim  ->  a_mm = A h² ell^dim ell^-B
    a_mm = aa * h * h * ell ** dim * ell ** (-bb)
    if d == "1d" and side == "two-sided":
        a_mm *= 2.0
    notation = (f"ISO 10110-8 {d.upper()} PSD limit A = {aa:g} {height_unit}^2 "
                f"{length_unit}{'' if dim == 1 else '^2'}, B = {bb:g}, "
                f"f in [{lo:g}, {hi:g}] /{length_unit}" + (f", {side}" if dim == 1 else ""))
    return PSDLimit(a_mm, bb, "profile" if dim == 1 else "areal", lo / ell, hi / ell, axis,
                    notation)


@dataclass(frozen=True)
class PiecewiseLimit:
    """A limit line made of power-law segments of one kind (a spec's ``[[psd.segments]]``).

    Attributes
    ----------
    segments : tuple of PSDLimit
        Same ``kind``, non-overlapping ranges, in increasing frequency.
    """

    segments: tuple[PSDLimit, ...]

    def __post_init__(self) -> None:
        segs = tuple(sorted(self.segments, key=lambda s: s.f_lo_per_mm))
        if not segs:
            raise ConventionError("a limit line needs at least one segment")
        kinds = {s.kind for s in segs}
        if len(kinds) != 1:
            raise ConventionError(f"all segments of a limit line must have one kind, got "
                                  f"{sorted(kinds)}")
        for a, b in zip(segs, segs[1:], strict=False):
            if b.f_lo_per_mm < a.f_hi_per_mm * (1 - 1e-12):
                raise ConventionError(f"limit segments overlap: [{a.f_lo_per_mm:g}, "
                                      f"{a.f_hi_per_mm:g}] and [{b.f_lo_per_mm:g}, "
                                      f"{b.f_hi_per_mm:g}]")
        object.__setattr__(self, "segments", segs)

    @property
    def kind(self) -> str:
        """Kind of every segment."""
        return self.segments[0].kind

    @property
    def unit(self) -> str:
        """Unit of the line's values."""
        return self.segments[0].unit

    @property
    def f_lo_per_mm(self) -> float:
        """Start of the first segment."""
        return self.segments[0].f_lo_per_mm

    @property
    def f_hi_per_mm(self) -> float:
        """End of the last segment."""
        return self.segments[-1].f_hi_per_mm

    def __call__(self, f_per_mm: Any) -> np.ndarray:
        """The line at ``f_per_mm`` (NaN outside every segment)."""
        f = np.asarray(f_per_mm, dtype=np.float64)
        out = np.full(f.shape, np.nan)
        for s in self.segments:
            v = s(f)
            out = np.where(np.isnan(out), v, out)
        return out

    def as_kind(self, kind: str) -> PiecewiseLimit:
        """Every segment converted (isotropic surface)."""
        return PiecewiseLimit(tuple(s.as_kind(kind) for s in self.segments))

    def band_rms_nm(self, f_lo_per_mm: float, f_hi_per_mm: float,
                    kind: str = "areal") -> LimitBandRMS:
        """RMS the line implies over [f_lo, f_hi): the segments' variances added.

        Not fully covered when part of the band lies outside every segment.
        """
        lo, hi = float(f_lo_per_mm), float(f_hi_per_mm)
        parts = [s.band_rms_nm(max(lo, s.f_lo_per_mm), min(hi, s.f_hi_per_mm), kind)
                 for s in self.segments if max(lo, s.f_lo_per_mm) < min(hi, s.f_hi_per_mm)]
        if not parts:
            return LimitBandRMS(math.nan, lo, hi, math.nan, math.nan, False, str(kind).lower(),
                                "the band lies outside every segment of the line")
        var = sum(p.rms_nm ** 2 for p in parts)
        covered = sum(p.covered_hi_per_mm - p.covered_lo_per_mm for p in parts)
        full = covered >= (hi - lo) * (1 - 1e-9)
        reason = "" if full else ("the line does not cover all of the band: it covers "
                                  + ", ".join(f"{p.covered_lo_per_mm:g}-{p.covered_hi_per_mm:g}"
                                              for p in parts) + " /mm")
        return LimitBandRMS(math.sqrt(var), lo, hi, parts[0].covered_lo_per_mm,
                            parts[-1].covered_hi_per_mm, full, str(kind).lower(), reason)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"kind": self.kind, "unit": self.unit,
                "segments": [s.to_dict() for s in self.segments]}
