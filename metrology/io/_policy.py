"""Reader policy: what every format reader decides the same way, in one place.

The format modules only parse their bytes; they hand the facts they found to
the functions here, which decide:

Units
    One table of length units (:data:`METRES_PER_UNIT`: SI spellings, Zygo's
    ``NanoMeters`` ..., inches, mils) and exact decimal scaling of header
    numbers (:func:`decimal_scaled`, :func:`float_scaled`), so that e.g.
    ``2.58e-06`` m becomes exactly ``0.00258`` mm.
Spacing
    :func:`resolve_spacing`, the one rule for the lateral calibration: the
    file's spacing is used unless the caller passes ``dx_mm=`` (and ``dy_mm=``);
    a caller's value overrides the file's and ``meta`` records both
    (``lateral_source``, ``file_dx_mm``, ``file_dy_mm``). A file without a
    usable spacing and no caller value is refused, never guessed.
    :func:`metrology.io.load` applies the same rule (:func:`override_spacing`)
    to readers that take no ``dx_mm=`` argument.
Orientation
    Heights leave every reader y-up (CONVENTIONS.md); :func:`to_y_up` reverses
    image-order rows and says so (``meta['rows_flipped']``).
Meta
    :func:`base_meta`: the keys every reader fills, in one order.
Plausibility and resource limits
    :class:`ReaderLimits` (one frozen table: spacing, heights, wavelength,
    scale factors, map size, expansion ratio per codec, memory budget);
    :func:`limits` overrides them for a block, ``METROLOGY_IO_LIMITS`` for a
    process. Values outside the limits are refused with
    :class:`~metrology.errors.FileFormatError` naming the field and the limit.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import math
import os
from collections.abc import Iterator, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from ..errors import FileFormatError

__all__ = [
    "METRES_PER_UNIT", "unit_metres", "length_unit_exponent", "unit_factor", "unit_scale",
    "decimal_scaled", "float_scaled",
    "decimal_text", "resolve_spacing", "override_spacing", "to_y_up", "base_meta",
    "iso_from_unix", "ReaderLimits", "current_limits", "limits", "check_range",
    "check_map_size", "check_result", "check_heights", "memory_budget", "LIMITS_ENV",
]

# -- units -------------------------------------------------------------------------------------

_D = Decimal
#: metres per unit of every length unit a reader understands (exact decimals). SI
#: spellings match case-insensitively (except that a leading capital M is never
#: lower-cased: "Mm" is not mm); the Zygo names match as written.
METRES_PER_UNIT: dict[str, Decimal] = {
    "m": _D(1), "meter": _D(1), "meters": _D(1), "metre": _D(1), "metres": _D(1),
    "dm": _D("1e-1"), "cm": _D("1e-2"), "mm": _D("1e-3"),
    "um": _D("1e-6"), "\u00b5m": _D("1e-6"), "\u03bcm": _D("1e-6"),  # micro sign, Greek mu
    "micron": _D("1e-6"), "microns": _D("1e-6"), "micrometer": _D("1e-6"),
    "micrometre": _D("1e-6"), "micrometers": _D("1e-6"), "micrometres": _D("1e-6"),
    "nm": _D("1e-9"), "nanometer": _D("1e-9"), "nanometre": _D("1e-9"),
    "nanometers": _D("1e-9"), "nanometres": _D("1e-9"),
    "a": _D("1e-10"), "\u00c5": _D("1e-10"), "\u212b": _D("1e-10"), "angstrom": _D("1e-10"),
    "angstroms": _D("1e-10"),
    "pm": _D("1e-12"),
    "in": _D("0.0254"), "inch": _D("0.0254"), "inches": _D("0.0254"),
    "mil": _D("0.0000254"), "mils": _D("0.0000254"),
    "uin": _D("0.0000000254"), "microinch": _D("0.0000000254"),
    # Zygo (.datx) spellings
    "NanoMeters": _D("1e-9"), "MicroMeters": _D("1e-6"), "MilliMeters": _D("1e-3"),
    "Meters": _D(1), "Angstroms": _D("1e-10"), "Inches": _D("0.0254"),
    "MicroInches": _D("0.0000000254"), "Mils": _D("0.0000254"),
}


def unit_metres(unit: str) -> Decimal | None:
    """Metres per ``unit`` (exact), or None when it is not a length unit we know."""
    u = unit.strip().strip("[]()").strip()
    if u in METRES_PER_UNIT:
        return METRES_PER_UNIT[u]
    low = u.lower()
    if low in METRES_PER_UNIT and not u.startswith("M"):
        return METRES_PER_UNIT[low]
    return None


def length_unit_exponent(unit: str) -> int | None:
    """``k`` such that one ``unit`` is ``10**k`` metres; None for units that are not a power
    of ten of the metre (inches, mils) or not lengths. For :func:`decimal_scaled` with an
    int scale; :func:`unit_factor` covers every unit."""
    f = unit_metres(unit)
    if f is None:
        return None
    k = f.adjusted()
    return k if f == Decimal(1).scaleb(k) else None


def unit_factor(unit: str, to: str = "nm") -> Decimal | None:
    """Exact factor from ``unit`` to nm (``to='nm'``) or mm (``to='mm'``); None if unknown."""
    f = unit_metres(unit)
    return None if f is None else f.scaleb(9 if to == "nm" else 3)


def unit_scale(unit: str, to: str = "nm", what: str = "unit") -> float:
    """Factor from ``unit`` to nm (``to='nm'``) or mm (``to='mm'``); FileFormatError if unknown."""
    f = unit_metres(unit)
    if f is None:
        raise FileFormatError(f"{what} {unit!r} is not a length unit (expected nm, um, mm, m, "
                              "in, ...)")
    return float(f.scaleb(9 if to == "nm" else 3))


def _exact(value: Decimal, scale: int | Decimal) -> float:
    return float(value.scaleb(scale) if isinstance(scale, int) else value * scale)


def decimal_scaled(text: str, scale: int | Decimal, what: str = "value") -> float:
    """Parse a decimal number written in ``text`` and scale it exactly.

    ``scale`` is a power of ten (int: ``10**scale``) or an exact factor
    (Decimal, e.g. ``unit_metres('in') * 1000`` for inches to mm). The
    arithmetic is decimal, so ``"2.58e-06"`` with ``scale=3`` gives exactly
    the float nearest to 0.00258 (float maths gives 0.0025800000000000003).

    Raises
    ------
    FileFormatError
        When ``text`` is not a finite number.
    """
    s = text.strip()
    if len(s) > 100:
        raise FileFormatError(f"{what} {text[:40]!r}... is not a number (too long)")
    try:
        d = Decimal(s)
    except (InvalidOperation, ValueError):
        raise FileFormatError(f"{what} {text!r} is not a number") from None
    if not d.is_finite():
        raise FileFormatError(f"{what} {text!r} is not a finite number")
    return _exact(d, scale)


def float_scaled(value: float, scale: int | Decimal, *, single: bool = False) -> float:
    """Scale a float read from a binary header exactly, in decimal arithmetic.

    The float is first turned into the decimal the writer most probably meant:
    its shortest round-trip representation for float64; for float32
    (``single=True``) the value rounded to 7 significant digits, the precision
    a float32 carries (a header float32 0.0034840002 reads as 0.003484). NaN
    and infinities give NaN.
    """
    if not math.isfinite(value):
        return float("nan")
    s = format(float(value), ".7g") if single else repr(float(value))
    return _exact(Decimal(s), scale)


def decimal_text(value: float, exp10: int) -> str:
    """Text of ``value * 10**exp10`` in decimal arithmetic (inverse of :func:`decimal_scaled`)."""
    return str(Decimal(repr(float(value))).scaleb(exp10))


# -- plausibility and resource limits -------------------------------------------------------

#: environment variable with overrides for a whole process, e.g.
#: ``METROLOGY_IO_LIMITS="max_pixels=1e9, expansion.deflate=200, height_nm_max=1e10"``
LIMITS_ENV = "METROLOGY_IO_LIMITS"


@dataclasses.dataclass(frozen=True)
class ReaderLimits:
    """Limits every reader applies before it allocates or returns a map.

    A file outside them is refused with :class:`FileFormatError` naming the
    field, its value and the limit; :func:`limits` (a context manager) or the
    ``METROLOGY_IO_LIMITS`` environment variable raise or lower them.

    Attributes
    ----------
    spacing_mm : (float, float)
        Plausible lateral spacing, mm (1e-9 mm = 1 pm ... 1e4 mm = 10 m).
    height_nm_max : float
        Largest plausible |height|, nm (1e9 nm = 1 m).
    wavelength_nm : (float, float)
        Plausible measurement wavelength, nm (100 nm ... 100 um).
    factor : (float, float)
        Plausible dimensionless instrument factors (interferometric scale
        factor, obliquity, wedge, pixel aspect).
    z_scale_nm : (float, float)
        Plausible |nm per stored unit| of a height scale (counts, file units).
    max_pixels : int
        Largest map a reader allocates (2**28 = 268 435 456 pixels, 16384^2,
        2 GiB as float64).
    free_pixels : int
        A compressed map of up to this many pixels (2**22 = 2048^2) is read
        whatever its compression ratio (a constant or mostly masked map).
    expansion : mapping str -> float
        Largest accepted ratio of decoded to stored bytes per codec for maps
        larger than ``free_pixels``. Real height maps (noise in the valid
        pixels, NaN runs outside the aperture) compress 1.1-5:1, 20:1 when
        95 % masked; a larger ratio is a bomb or a corrupt size field.
        Physical maxima are far higher (deflate ~1032:1, bzip2 ~10^6:1).
    memory_factor, memory_slack_mb : float
        Memory budget of one read, ``memory_factor x file size +
        memory_slack_mb`` MB: the isolated HDF5 reader runs under it, and a
        compressed payload whose decoded size would exceed it is refused.
    """

    spacing_mm: tuple[float, float] = (1e-9, 1e4)
    height_nm_max: float = 1e9
    wavelength_nm: tuple[float, float] = (100.0, 1e5)
    factor: tuple[float, float] = (1e-3, 1e3)
    z_scale_nm: tuple[float, float] = (1e-12, 1e15)
    max_pixels: int = 2**28
    free_pixels: int = 2**22
    expansion: Mapping[str, float] = dataclasses.field(default_factory=lambda: {
        "deflate": 32.0, "bzip2": 32.0, "lzma": 32.0, "lzf": 32.0, "szip": 32.0,
        "zstd": 32.0, "other": 32.0,
    })
    memory_factor: float = 4.0
    memory_slack_mb: float = 100.0

    def replace(self, **changes: Any) -> ReaderLimits:
        """A copy with some limits changed (``expansion`` entries are merged)."""
        if "expansion" in changes:
            changes["expansion"] = {**self.expansion, **dict(changes["expansion"])}
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"unknown reader limit(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)


def _from_env(base: ReaderLimits) -> ReaderLimits:
    text = os.environ.get(LIMITS_ENV, "").strip()
    if not text:
        return base
    changes: dict[str, Any] = {}
    expansion: dict[str, float] = {}
    for item in text.replace(";", ",").split(","):
        if not item.strip():
            continue
        key, _, val = item.partition("=")
        key = key.strip()
        try:
            if key.startswith("expansion."):
                expansion[key.split(".", 1)[1]] = float(val)
            elif key in ("max_pixels", "free_pixels"):
                changes[key] = int(float(val))
            elif key in ("spacing_mm", "wavelength_nm", "factor", "z_scale_nm"):
                lo, hi = (float(v) for v in val.strip().strip("()[]").split(":"))
                changes[key] = (lo, hi)
            else:
                changes[key] = float(val)
        except ValueError:
            raise ValueError(f"{LIMITS_ENV}: cannot read {item.strip()!r} (use key=value, "
                             "ranges as lo:hi)") from None
    if expansion:
        changes["expansion"] = expansion
    return base.replace(**changes)


_LIMITS: contextvars.ContextVar[ReaderLimits | None] = contextvars.ContextVar(
    "metrology_reader_limits", default=None)
_DEFAULT: ReaderLimits | None = None


def current_limits() -> ReaderLimits:
    """The limits in force (the innermost :func:`limits` block, else defaults + environment)."""
    lim = _LIMITS.get()
    if lim is not None:
        return lim
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = _from_env(ReaderLimits())
    return _DEFAULT


@contextlib.contextmanager
def limits(**changes: Any) -> Iterator[ReaderLimits]:
    """Change reader limits inside a ``with`` block, e.g.
    ``with metrology.io.limits(max_pixels=2**30, expansion={"deflate": 200}): load(p)``."""
    token = _LIMITS.set(current_limits().replace(**changes))
    try:
        yield current_limits()
    finally:
        _LIMITS.reset(token)


def _where(path: Path | str | None) -> str:
    return f"{path}: " if path is not None else ""


def check_range(name: str, value: Any, path: Path | str | None, field: str,
                *, absolute: bool = False) -> float:
    """Refuse ``value`` of header ``field`` unless it lies in the limit ``name``.

    ``name`` is a :class:`ReaderLimits` range (``'wavelength_nm'``, ``'factor'``,
    ``'spacing_mm'``, ``'z_scale_nm'``); with ``absolute`` the magnitude is
    checked (a negative scale is allowed). Returns the value as a float.
    """
    lo, hi = getattr(current_limits(), name)
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise FileFormatError(f"{_where(path)}{field} = {value!r} is not a number") from None
    m = abs(v) if absolute else v
    if not (math.isfinite(v) and lo <= m <= hi):
        raise FileFormatError(
            f"{_where(path)}{field} = {value!r} is outside the plausible range [{lo:g}, {hi:g}]"
            f"{' in magnitude' if absolute else ''} ({name}; corrupt header, or raise the limit "
            f"with metrology.io.limits({name}=...))")
    return v


def memory_budget(file_size: int) -> int:
    """Bytes one read of a ``file_size``-byte file may use (``memory_factor x size + slack``)."""
    lim = current_limits()
    return int(lim.memory_factor * max(file_size, 0) + lim.memory_slack_mb * 2**20)


def check_map_size(path: Path | str | None, what: str, shape: tuple[int, ...], itemsize: int,
                   *, stored: int, codec: str = "none") -> int:
    """Refuse a declared array before it is allocated; return its decoded byte count.

    ``stored`` is the number of bytes the file holds for it (for ``codec='none'``
    they must cover the array; for a compressed payload the decoded size may be at
    most ``expansion[codec] x stored`` unless the map has at most ``free_pixels``
    pixels). Every map must have at least one pixel and at most ``max_pixels``.
    """
    lim = current_limits()
    n = 1
    for s in shape:
        n *= int(s)
    if not shape or any(int(s) < 1 for s in shape):
        raise FileFormatError(f"{_where(path)}{what} declares shape {tuple(shape)}: no data")
    if n > lim.max_pixels:
        raise FileFormatError(
            f"{_where(path)}{what} declares {' x '.join(str(int(s)) for s in shape)} = {n} "
            f"values, more than the limit of {lim.max_pixels} (max_pixels; corrupt header, or "
            "raise it with metrology.io.limits(max_pixels=...))")
    nbytes = n * int(itemsize)
    if codec == "none":
        if nbytes > stored:
            raise FileFormatError(f"{_where(path)}{what} needs {nbytes} bytes for "
                                  f"{tuple(int(s) for s in shape)} values of {itemsize} bytes "
                                  f"but the file stores {stored}; truncated or corrupt")
        return nbytes
    ratio = lim.expansion.get(codec, lim.expansion.get("other", 32.0))
    if n > lim.free_pixels and nbytes > ratio * max(stored, 1):
        raise FileFormatError(
            f"{_where(path)}{what} declares {nbytes} bytes decoded from {stored} stored "
            f"{codec} bytes, a ratio of {nbytes / max(stored, 1):.0f}:1 above the limit of "
            f"{ratio:g}:1 for maps over {lim.free_pixels} pixels (a decompression bomb or a "
            f"corrupt size; raise it with metrology.io.limits(expansion={{'{codec}': ...}}))")
    return nbytes


def check_result(path: Path | str, hm: Any) -> None:
    """The limits every returned map or profile must meet: spacing in range, |heights| in
    range (:func:`check_heights`)."""
    for name in ("dx_mm", "dy_mm"):
        v = getattr(hm, name, None)  # a Profile has no dy_mm (AttributeError)
        if v is not None:
            check_range("spacing_mm", v, path, name)
    z = getattr(hm, "z_nm", None)
    if z is None:
        return
    known = getattr(hm, "_zrange", None)  # found by the pass that built the map (HeightMap._adopt)
    if known is None:
        check_heights(path, z)
    else:
        _check_height_range(path, known[0], known[1], "heights")


def check_heights(path: Path | str, z: Any, what: str = "heights") -> None:
    """Refuse valid (non-NaN) heights in nm beyond +-``height_nm_max``.

    Signalling NaNs are quieted in place first (a read-only array is copied).
    """
    import numpy as np

    if z.size == 0:
        return
    # a file's bytes can hold signalling NaNs, and NumPy's SIMD fmax/fmin propagate those
    # (IEEE maxNum) instead of skipping them, which loses the extremes: x * 1.0 quiets every
    # NaN and leaves every number (-0.0 and subnormals included) bit for bit as it was
    if not z.flags.writeable:
        z = np.array(z)
    with np.errstate(invalid="ignore"):
        np.multiply(z, 1.0, out=z)
    hi = float(np.fmax.reduce(z, axis=None))
    lo = float(np.fmin.reduce(z, axis=None))
    _check_height_range(path, lo, hi, what)


def _check_height_range(path: Path | str, lo: float, hi: float, what: str) -> None:
    """Refuse a height range (nm) beyond +-``height_nm_max``; NaN or an empty range (no
    valid pixel: lo = inf, hi = -inf) passes."""
    if math.isnan(hi) or hi < lo:  # every pixel invalid: nothing to check here
        return
    lim = current_limits().height_nm_max
    if not (abs(hi) <= lim and abs(lo) <= lim):
        raise FileFormatError(
            f"{path}: {what} reach {lo:.4g} .. {hi:.4g} nm, beyond the plausible +-{lim:g} nm "
            "(height_nm_max; a wrong unit or corrupt data, or raise the limit with "
            "metrology.io.limits(height_nm_max=...))")


# -- spacing -----------------------------------------------------------------------------------

def _positive(name: str, v: Any, path: Path | str) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise FileFormatError(f"{path}: {name} must be a number in mm, got {v!r}") from None
    if not (math.isfinite(f) and f > 0):
        raise FileFormatError(f"{path}: {name} must be a positive finite spacing in mm, got {v!r}")
    return check_range("spacing_mm", f, path, name)


def _usable(v: float | None) -> bool:
    return v is not None and math.isfinite(v) and v > 0


def resolve_spacing(path: Path | str, dx_file_mm: float | None, dy_file_mm: float | None,
                    dx_mm: float | None, dy_mm: float | None,
                    what: str = "the file") -> tuple[float, float, dict[str, Any]]:
    """Pick the pixel spacing: the file's calibration, or the caller's ``dx_mm=``/``dy_mm=``.

    The one rule of every reader: a spacing the file does not give (absent, 0 =
    "uncalibrated", negative, non-finite) must be passed by the caller, else
    :class:`FileFormatError` says so. A caller's value overrides the file's and
    ``meta`` records both. ``dy`` defaults to ``dx`` (square pixels). A file
    spacing outside the plausible range is refused (a caller's value is
    checked too).

    Returns ``(dx_mm, dy_mm, meta_extras)`` with ``meta_extras`` holding
    ``lateral_calibrated`` (the file had a calibration), ``lateral_source``
    (``'file'`` or ``'caller'``) and, on override, ``file_dx_mm`` / ``file_dy_mm``.
    """
    calibrated = _usable(dx_file_mm)
    extras: dict[str, Any] = {"lateral_calibrated": calibrated}
    if dx_mm is None and dy_mm is not None:
        raise FileFormatError(f"{path}: dy_mm= given without dx_mm=; pass both or dx_mm= alone")
    if dx_mm is not None:
        dx = _positive("dx_mm", dx_mm, path)
        dy = dx if dy_mm is None else _positive("dy_mm", dy_mm, path)
        extras["lateral_source"] = "caller"
        if calibrated:
            extras["file_dx_mm"] = float(dx_file_mm)  # type: ignore[arg-type]
            extras["file_dy_mm"] = float(dy_file_mm if _usable(dy_file_mm)  # type: ignore[arg-type]
                                         else dx_file_mm)
        return dx, dy, extras
    if not calibrated:
        raise FileFormatError(
            f"{path}: {what} has no lateral calibration (pixel spacing "
            f"{dx_file_mm!r}); the spacing would be a guess, so pass dx_mm= (and dy_mm= for "
            f"non-square pixels) to load it")
    # files store metres or microns: drop the last-bit noise of the unit conversion
    # (0.03 mm -> 3e-05 m -> 0.030000000000000002 mm) by rounding to 15 digits
    dx = float(f"{float(dx_file_mm):.15g}")  # type: ignore[arg-type]
    dy = float(f"{float(dy_file_mm):.15g}") if _usable(dy_file_mm) else dx
    check_range("spacing_mm", dx, path, "the file's x spacing (mm)")
    check_range("spacing_mm", dy, path, "the file's y spacing (mm)")
    extras["lateral_source"] = "file"
    return dx, dy, extras


def override_spacing(hm: Any, path: Path | str, dx_mm: float | None,
                     dy_mm: float | None) -> Any:
    """Apply :func:`resolve_spacing`'s override rule to a map a reader has returned."""
    if dx_mm is None and dy_mm is None:
        return hm
    dx, dy, extras = resolve_spacing(path, hm.dx_mm, hm.dy_mm, dx_mm, dy_mm)
    meta = dict(hm.meta)
    meta.update(extras)
    return hm.replace(dx_mm=dx, dy_mm=dy, meta=meta)


# -- orientation and meta ----------------------------------------------------------------------

def to_y_up(z: Any, top_first: bool) -> tuple[Any, bool]:
    """Rows of ``z`` in the y-up order of CONVENTIONS.md: reversed (a view) when the file
    stores image order (``top_first``); returns ``(array, rows_flipped)``."""
    return (z[::-1], True) if top_first else (z, False)


def base_meta(fmt: str, **values: Any) -> dict[str, Any]:
    """The meta keys every reader fills, in one order, unknowns as None."""
    meta: dict[str, Any] = {
        "format": fmt,
        "instrument": None,
        "software": None,
        "wavelength_nm": None,
        "timestamp": None,
        "z_unit_original": None,
        "z_scale_to_nm": None,
        "rows_flipped": False,
    }
    meta.update(values)
    return meta


def iso_from_unix(seconds: float | None, millis: float = 0.0) -> str | None:
    """ISO 8601 UTC string from Unix seconds; None for absent or implausible (pre-1980) times.

    Instrument clocks before 1980 are not real acquisitions (converted files carry
    placeholders such as 719529, a MATLAB date number read as seconds).
    """
    import datetime as _dt

    if seconds is None:
        return None
    try:
        s = float(seconds) + float(millis) / 1000.0
    except (TypeError, ValueError):
        return None
    if not math.isfinite(s) or s < 315532800.0 or s > 4102444800.0:  # 1980-01-01 .. 2100-01-01
        return None
    t = _dt.datetime.fromtimestamp(s, tz=_dt.UTC)
    return t.isoformat(timespec="milliseconds" if millis else "seconds").replace("+00:00", "Z")
