"""The :class:`HeightMap`: heights in nm on a regular grid in mm.

Conventions (``docs/conventions.md``): ``z_nm[row, col]``, row along +y, col along
+x, y up as seen from the front of the part; NaN marks invalid pixels; the
coordinate origin is the array centre::

    x_mm[j] = (j - (ncols - 1) / 2) * dx_mm
    y_mm[i] = (i - (nrows - 1) / 2) * dy_mm

Dtype policy: any real input is copied to C-contiguous float64, because
sub-nanometre work needs it. Operations never mutate a map; they return a new
one whose ``meta`` records what was done.
"""

from __future__ import annotations

import copy as _copy
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .errors import ApertureError, HeightMapError, HeightMapTypeError, InsufficientDataError

__all__ = ["HeightMap"]


def _as_float64_2d(z: Any) -> np.ndarray:
    try:
        arr = np.asarray(z)
    except (ValueError, TypeError) as exc:  # ragged nested lists, ...
        raise HeightMapError(f"height data are not a rectangular array ({exc})") from exc
    if arr.ndim != 2:
        raise HeightMapError(f"a height map must be 2-D, got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise HeightMapError(f"a height map needs at least one row and one column, got shape "
                             f"{arr.shape}")
    if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.floating)
                                     or np.issubdtype(arr.dtype, np.integer)):
        raise HeightMapTypeError(f"height data must be real numbers, got dtype {arr.dtype}")
    out = np.array(arr, dtype=np.float64, order="C", copy=True)
    # +/-inf is never a height: treat as invalid like NaN
    inf = np.isinf(out)
    if inf.any():
        out[inf] = np.nan
    return out


def _check_spacing(name: str, value: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise HeightMapTypeError(f"{name} must be a number of mm, got {value!r}") from None
    if not math.isfinite(v) or v <= 0.0:
        raise HeightMapError(f"{name} must be a positive finite spacing in mm, got {value!r}")
    return v


def _own_meta(meta: Mapping[str, Any] | None) -> dict[str, Any]:
    """A deep copy of ``meta`` in the current vocabulary: an aperture recorded before the
    vocabulary change (``center_mm``) is renamed ``centre_mm`` here, once, so that every
    operation that moves the centre (crops, flips, resampling) finds it."""
    out = _copy.deepcopy(dict(meta)) if meta else {}
    ap = out.get("aperture")
    if isinstance(ap, dict) and "center_mm" in ap:
        old = ap.pop("center_mm")
        ap.setdefault("centre_mm", old)
    return out


class HeightMap:
    """A surface height map.

    Parameters
    ----------
    z_nm : array_like, shape (nrows, ncols)
        Heights in nanometres; NaN (or inf) marks invalid pixels. Copied to
        float64.
    dx_mm, dy_mm : float
        Pixel spacing along x (columns) and y (rows) in millimetres. ``dy_mm``
        defaults to ``dx_mm``.
    meta : mapping, optional
        Provenance: source, instrument, wavelength_nm, conversions and flips
        applied. Copied.
    """

    __slots__ = ("_z", "_dx", "_dy", "_meta", "_valid", "_nvalid", "_zrange")

    def __init__(
        self,
        z_nm: Any,
        dx_mm: float,
        dy_mm: float | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        self._z = _as_float64_2d(z_nm)
        self._dx = _check_spacing("dx_mm", dx_mm)
        self._dy = _check_spacing("dy_mm", dx_mm if dy_mm is None else dy_mm)
        self._meta = _own_meta(meta)
        self._valid: np.ndarray | None = None
        self._nvalid: int | None = None
        #: (min, max) of the valid heights when the pass that built the map found them
        self._zrange: tuple[float, float] | None = None

    @classmethod
    def _adopt(cls, z_nm: np.ndarray, dx_mm: float, dy_mm: float,
               meta: Mapping[str, Any] | None = None, *,
               valid: np.ndarray | None = None,
               stats: tuple[int, float, float] | None = None) -> HeightMap:
        """Wrap an array the caller has just built and will not touch again without
        copying it (anything but a writable C-contiguous 2-D float64 array is copied
        as usual); inf (and a signalling NaN) becomes a quiet NaN in place, and the valid
        mask, its count and the range of the valid heights are found in the same pass
        (:func:`kernels.convert.finite_mask`), unless the caller passes the mask
        (``valid``: the finite pixels of ``z_nm``, which holds no inf; with ``stats``, their
        count and the range of their heights, as the pass that built them found them).
        Internal: readers and operations use it."""
        if not (isinstance(z_nm, np.ndarray) and z_nm.dtype == np.float64 and z_nm.ndim == 2
                and z_nm.flags.c_contiguous and z_nm.flags.writeable and z_nm.size > 0):
            return cls(z_nm, dx_mm, dy_mm, meta)
        count = None
        zrange = None
        if valid is not None and stats is not None:
            count, zrange = int(stats[0]), (float(stats[1]), float(stats[2]))
        if valid is None:
            from kernels._config import threads_for_elements
            from kernels.convert import finite_mask

            valid = np.empty(z_nm.shape, dtype=bool)
            with threads_for_elements(z_nm.size, passes=0.6):
                n_ok, lo, hi = finite_mask(z_nm, valid)
            count, zrange = int(n_ok), (float(lo), float(hi))
        out = cls.__new__(cls)
        out._z = z_nm
        out._valid = valid
        out._nvalid = count
        out._zrange = zrange
        out._dx = _check_spacing("dx_mm", dx_mm)
        out._dy = _check_spacing("dy_mm", dy_mm)
        out._meta = _own_meta(meta)
        return out

    # -- basic data ---------------------------------------------------------
    @property
    def z_nm(self) -> np.ndarray:
        """Heights in nm, shape (nrows, ncols), float64, NaN = invalid.

        Treat as read-only: maps derived with :meth:`replace` may share it.
        """
        return self._z

    @property
    def dx_mm(self) -> float:
        """Pixel spacing along x (columns), mm."""
        return self._dx

    @property
    def dy_mm(self) -> float:
        """Pixel spacing along y (rows), mm."""
        return self._dy

    @property
    def meta(self) -> dict[str, Any]:
        """Provenance metadata (a dict; edit a copy, not this)."""
        return self._meta

    @property
    def shape(self) -> tuple[int, int]:
        """(nrows, ncols)."""
        return self._z.shape  # type: ignore[return-value]

    @property
    def valid(self) -> np.ndarray:
        """Boolean mask of valid (finite) pixels, shape (nrows, ncols)."""
        if self._valid is None:
            self._valid = np.isfinite(self._z)
        return self._valid

    @property
    def n_valid(self) -> int:
        """Number of valid pixels."""
        if self._nvalid is None:
            self._nvalid = int(np.count_nonzero(self.valid))
        return self._nvalid

    @property
    def valid_fraction(self) -> float:
        """Fraction of the array that is valid (0..1)."""
        return self.n_valid / self._z.size if self._z.size else 0.0

    @property
    def x_mm(self) -> np.ndarray:
        """Column coordinates in mm, origin at the array centre, shape (ncols,)."""
        n = self._z.shape[1]
        return (np.arange(n) - (n - 1) / 2.0) * self._dx

    @property
    def y_mm(self) -> np.ndarray:
        """Row coordinates in mm, origin at the array centre, shape (nrows,)."""
        n = self._z.shape[0]
        return (np.arange(n) - (n - 1) / 2.0) * self._dy

    @property
    def extent_mm(self) -> tuple[float, float]:
        """Physical size (width along x, height along y) in mm: N * spacing."""
        return self._z.shape[1] * self._dx, self._z.shape[0] * self._dy

    def grid_mm(self) -> tuple[np.ndarray, np.ndarray]:
        """Return 2-D coordinate arrays ``(X, Y)`` in mm, each of shape (nrows, ncols)."""
        return np.meshgrid(self.x_mm, self.y_mm)

    # -- statistics over valid pixels ---------------------------------------
    def _valid_values(self) -> np.ndarray:
        v = self._z[self.valid]
        if v.size == 0:
            raise InsufficientDataError(
                "the height map has no valid pixels (all NaN); check the aperture or the file"
            )
        return v

    @property
    def mean_nm(self) -> float:
        """Mean height of the valid pixels, nm."""
        return float(np.mean(self._valid_values()))

    @property
    def rms_nm(self) -> float:
        """RMS about the mean of the valid pixels, nm (population, 1/N)."""
        v = self._valid_values()
        return float(np.sqrt(np.mean((v - v.mean()) ** 2)))

    @property
    def pv_nm(self) -> float:
        """Peak-to-valley of the valid pixels, nm."""
        v = self._valid_values()
        return float(v.max() - v.min())

    # -- operations (all return new maps) ------------------------------------
    def replace(
        self,
        z_nm: Any | None = None,
        *,
        dx_mm: float | None = None,
        dy_mm: float | None = None,
        meta: Mapping[str, Any] | None = None,
        note: str | None = None,
        copy: bool = True,
        _valid: np.ndarray | None = None,
    ) -> HeightMap:
        """Return a new map with some fields replaced.

        ``note`` is appended to ``meta['history']``. ``copy=False`` adopts a
        new ``z_nm`` that the caller has just created and will not touch again
        (C-contiguous float64, NaN = invalid) instead of copying it; with it,
        ``_valid`` (internal) is the caller's mask of exactly the finite pixels of
        ``z_nm`` (never written afterwards), which saves a pass over the map.
        """
        m = dict(self._meta if meta is None else meta)
        if note:
            m["history"] = [*m.get("history", []), note]
        if z_nm is None:
            # same heights: share the (never mutated) array instead of copying it
            out = HeightMap.__new__(HeightMap)
            out._z = self._z
            out._valid = self._valid
            out._nvalid = self._nvalid
            out._zrange = self._zrange
            out._dx = self._dx if dx_mm is None else _check_spacing("dx_mm", dx_mm)
            out._dy = self._dy if dy_mm is None else _check_spacing("dy_mm", dy_mm)
            out._meta = _own_meta(m)
            return out
        if not copy:
            return HeightMap._adopt(z_nm, self._dx if dx_mm is None else dx_mm,
                                    self._dy if dy_mm is None else dy_mm, m, valid=_valid)
        return HeightMap(
            z_nm,
            self._dx if dx_mm is None else dx_mm,
            self._dy if dy_mm is None else dy_mm,
            m,
        )

    def apply_mask(self, mask: np.ndarray, note: str = "mask applied") -> HeightMap:
        """Return a copy with pixels outside ``mask`` (boolean, same shape) set to NaN."""
        mask = np.asarray(mask)
        if mask.shape != self.shape or mask.dtype != bool:
            raise ApertureError(
                f"mask must be a boolean array of shape {self.shape}, got {mask.dtype} {mask.shape}"
            )
        from kernels._config import threads_for_elements
        from kernels.convert import masked_copy

        z = np.empty(self.shape)
        valid = np.empty(self.shape, dtype=bool)
        with threads_for_elements(z.size, passes=1.1):
            count = masked_copy(self._z, np.ascontiguousarray(mask), z, valid)
        out = self.replace(z, note=note, copy=False, _valid=valid)
        out._nvalid = int(count)
        return out

    def select_aperture(self, aperture: Any) -> HeightMap:
        """Keep only pixels inside ``aperture`` (a boolean mask, or an aperture object such
        as :class:`metrology.aperture.Circle` with ``mask(hm)``).

        An aperture object that can check itself (``check(hm)``, as
        :class:`metrology.aperture.Circle` does) raises :class:`ApertureError`
        when it is larger than the data (beyond the measured array or the
        part's fitted edge). An aperture object that can describe itself
        (``describe(hm)``) is recorded in
        ``meta['aperture']`` (kind, centre, diameters in mm); Zernike fits then use its
        centre and nominal radius as defaults (docs/conventions.md: R_norm comes from the
        clear aperture).
        """
        if hasattr(aperture, "check"):
            aperture.check(self)  # an aperture larger than the data is an ApertureError
        if hasattr(aperture, "mask"):
            mask = aperture.mask(self)
            note = f"aperture: {aperture!r}"
        else:
            mask = np.asarray(aperture, bool)
            note = "aperture mask applied"
        out = self.apply_mask(mask, note=note)
        if out.n_valid == 0:
            raise ApertureError("the aperture leaves no valid pixels; check its centre and size")
        if hasattr(aperture, "describe"):
            out._meta["aperture"] = aperture.describe(self)
        else:
            out._meta.pop("aperture", None)
        return out

    def crop_to_valid(self, pad: int = 0) -> HeightMap:
        """Crop to the bounding box of the valid pixels (plus ``pad`` pixels).

        The crop moves the array centre; the physical offset of the new centre
        from the old one is recorded in ``meta['crop_offset_mm']`` (x, y).
        """
        rows = np.flatnonzero(self.valid.any(axis=1))
        cols = np.flatnonzero(self.valid.any(axis=0))
        if rows.size == 0:
            raise InsufficientDataError("cannot crop: the map has no valid pixels")
        r0 = max(rows[0] - pad, 0)
        r1 = min(rows[-1] + 1 + pad, self.shape[0])
        c0 = max(cols[0] - pad, 0)
        c1 = min(cols[-1] + 1 + pad, self.shape[1])
        ny, nx = self.shape
        off_x = ((c0 + c1 - 1) / 2.0 - (nx - 1) / 2.0) * self._dx
        off_y = ((r0 + r1 - 1) / 2.0 - (ny - 1) / 2.0) * self._dy
        m = dict(self._meta)
        px, py = m.get("crop_offset_mm", (0.0, 0.0))
        m["crop_offset_mm"] = (px + off_x, py + off_y)
        if isinstance(m.get("aperture"), dict) and "centre_mm" in m["aperture"]:
            ap = dict(m["aperture"])  # same physical aperture, new array centre
            ap["centre_mm"] = [ap["centre_mm"][0] - off_x, ap["centre_mm"][1] - off_y]
            m["aperture"] = ap
        return self.replace(self._z[r0:r1, c0:c1], meta=m,
                            note=f"cropped to rows {r0}:{r1}, cols {c0}:{c1}")

    def flip_y(self) -> HeightMap:
        """Return the map mirrored top-to-bottom (rows reversed)."""
        m = dict(self._meta)
        m["rows_flipped"] = not bool(m.get("rows_flipped", False))
        if isinstance(m.get("aperture"), dict) and "centre_mm" in m["aperture"]:
            ap = dict(m["aperture"])
            ap["centre_mm"] = [ap["centre_mm"][0], -ap["centre_mm"][1]]
            m["aperture"] = ap
        return self.replace(self._z[::-1], meta=m, note="rows flipped (y -> -y)")

    def __repr__(self) -> str:
        ny, nx = self.shape
        src = self._meta.get("source", "")
        return (f"HeightMap({ny}x{nx}, dx={self._dx:g} mm, dy={self._dy:g} mm, "
                f"valid={self.valid_fraction:.1%}{', ' + str(src) if src else ''})")

    def __eq__(self, other: object) -> bool:  # exact structural equality, NaN == NaN
        if not isinstance(other, HeightMap):
            return NotImplemented
        return (self.shape == other.shape and self._dx == other._dx and self._dy == other._dy
                and bool(np.array_equal(self._z, other._z, equal_nan=True)))

    __hash__ = None  # type: ignore[assignment]

    # -- map arithmetic (implemented in metrology.arithmetic) -----------------
    #: numpy scalars must defer to __rmul__ instead of broadcasting over the map
    __array_ufunc__ = None

    def __add__(self, other: object) -> HeightMap:
        """``a + b`` on one grid (NaN where either is invalid); see :mod:`metrology.arithmetic`."""
        if not isinstance(other, HeightMap):
            return NotImplemented
        from . import arithmetic
        return arithmetic.add(self, other)

    def __sub__(self, other: object) -> HeightMap:
        """``a - b`` on one grid (NaN where either is invalid); see :mod:`metrology.arithmetic`."""
        if not isinstance(other, HeightMap):
            return NotImplemented
        from . import arithmetic
        return arithmetic.subtract(self, other)

    def __mul__(self, k: object) -> HeightMap:
        """``a * k`` for a real number ``k``."""
        if isinstance(k, HeightMap):
            return NotImplemented
        from . import arithmetic
        return arithmetic.scale(self, k)

    __rmul__ = __mul__

    def __truediv__(self, k: object) -> HeightMap:
        """``a / k`` for a non-zero real number ``k``."""
        if isinstance(k, HeightMap):
            return NotImplemented
        from . import arithmetic
        v = arithmetic._scalar(k)
        if v == 0.0:
            raise ZeroDivisionError("a height map divided by zero")
        return arithmetic.scale(self, 1.0 / v)

    def __neg__(self) -> HeightMap:
        """``-a``."""
        from . import arithmetic
        return arithmetic.negate(self)

    def resample_like(self, like: HeightMap, method: str = "bilinear") -> HeightMap:
        """This map resampled onto the grid of ``like``;
        see :func:`metrology.arithmetic.resample_like`."""
        from . import arithmetic
        return arithmetic.resample_like(self, like, method)

    def subtract(self, reference: HeightMap) -> HeightMap:
        """Subtract a calibrated reference map (recorded in ``meta['references']``);
        see :func:`metrology.arithmetic.subtract_reference`."""
        from . import arithmetic
        return arithmetic.subtract_reference(self, reference)

    # -- display (metrology.plotting; matplotlib only when called) -----------------
    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Draw the map: y up, x and y in mm, colour bar in nm; returns the Axes.
        See :func:`metrology.plotting.plot_heightmap` (``symmetric``, ``vmin``, ...)."""
        from .plotting import plot_heightmap
        return plot_heightmap(self, ax, **kwargs)

    def _repr_html_(self) -> str:
        """Notebook display: thumbnail with colour bar and statistics
        (:func:`metrology.plotting.heightmap_html`)."""
        from .plotting import heightmap_html
        return heightmap_html(self)
