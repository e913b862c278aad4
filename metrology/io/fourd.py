"""4D Technology 4Sight height maps: legacy ``.h5`` and 4Sight Focus ``.4D`` (both HDF5).

Legacy 4Sight ``.h5`` (format name ``4sight-h5``)
--------------------------------------------------
Facts from files written by 4Sight 1.8 (e.g. a PhaseCam measurement):

* data: ``/measurement0/genraw/data``, float32, in the unit of the ``genraw``
  attribute ``height_units`` (``'wv'`` = waves of ``wavelength``);
* numbers are stored as text with units: ``wavelength = '632.8 nm'``,
  ``xpix = '0.007111 mm'`` (pixel size); ``aspect`` is the pixel aspect ratio;
* ``lut_type = 'opd'``: the data are optical path difference; ``wedge`` (0.5
  for a reflective test) is 4Sight's factor from OPD to surface height;
* invalid pixels hold the largest float32 (3.4e38); anything non-finite or of
  magnitude >= 2**100 (1.27e30) file units is taken as invalid;
* ``/4D`` attributes: ``_4Sight_version``; ``/measurement0``: ``date``,
  ``head_serial``.

By default the reader reports SURFACE height, OPD x ``wedge``
(``meta['height_kind'] = 'surface'``, ``meta['wedge']``); ``opd=True`` gives the
OPD (``meta['height_kind'] = 'opd'``). A file without a wedge factor cannot
give surface height: the reader then asks for ``opd=True`` instead of assuming
0.5. A pixel aspect other than 1 needs ``dy_mm=`` (its sense is not documented).

4Sight Focus ``.4D`` (format name ``4sight-focus``)
----------------------------------------------------
Facts from public readers of these files: ``/Measurement/SurfaceInWaves/Data``
holds surface height in waves with NaN for invalid pixels; ``/Measurement``
carries ``WavelengthInNanometers``; the pixel size is an attribute
``PixelSizeInMicrons`` (looked for on ``/Measurement/SurfaceInWaves``, its
``Data``, ``/Measurement`` and ``/Measurement/Metadata``, in that order).
Height = waves x wavelength; ``meta['height_kind'] = 'surface'``. No Focus
file from a real instrument was available to check against; the writer
(:func:`write_4sight_focus`) and reader agree with each other and with the
facts above.

Orientation
-----------
4Sight stores camera frames in image order (row 0 = top of the camera
image); independent public readers of 4Sight files ``flipud`` the data to put
y up. (No 4D Technology format document was available to this project's
tools.) Both readers reverse the rows (``meta['rows_flipped'] = True``), the
writer reverses them back.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FileFormatError
from ..heightmap import HeightMap
from . import _hdf5, _policy
from ._registry import Format, register

__all__ = ["read_4sight_h5", "read_4sight_focus", "write_4sight_focus", "read_intensity"]


_WAVES = ("wv", "wave", "waves", "wvs")


def _len_nm(p: Path, name: str, value: tuple[float, str] | None,
            default_unit: str | None = None) -> float | None:
    """A length attribute in nm; None when absent; FileFormatError for unknown units."""
    if value is None:
        return None
    v, unit = value
    unit = unit.strip() or (default_unit or "")
    if _policy.unit_metres(unit) is None:
        raise FileFormatError(f"{p}: attribute {name!r} has unknown length unit {unit!r}")
    out = v * _policy.unit_scale(unit)
    if not (math.isfinite(out) and out > 0):
        raise FileFormatError(f"{p}: attribute {name!r} = {value[0]} {value[1]} is not a "
                              "positive length")
    return out


def _parse_date(text: str | None) -> str | None:
    """4Sight dates like 'Wed Jun 07 16:42:31 2017' -> '2017-06-07T16:42:31' (local time)."""
    if not text:
        return None
    for fmt in ("%a %b %d %H:%M:%S %Y", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"):
        try:
            return _dt.datetime.strptime(text.strip(), fmt).isoformat()
        except ValueError:
            continue
    return None


# -- legacy 4Sight .h5 -------------------------------------------------------------------------

def read_4sight_h5(path: str | os.PathLike[str], opd: bool = False, dx_mm: float | None = None,
                   dy_mm: float | None = None) -> HeightMap:
    """Read a legacy 4Sight ``.h5`` measurement (``/measurement0/genraw/data``).

    Parameters
    ----------
    path : path-like
    opd : bool
        False (default): surface height = OPD x ``wedge``. True: the OPD as stored.
    dx_mm, dy_mm : float, optional
        Pixel spacing in mm when the file has none (or to override it).

    Returns
    -------
    HeightMap
        Heights in nm, rows flipped to y-up; ``meta['height_kind']`` is
        ``'surface'`` or ``'opd'``, ``meta['wedge']`` the factor applied (1.0 for OPD).

    Raises
    ------
    FileFormatError
        Wrong layout, truncated/corrupt data, unknown units, no wedge for a
        surface request, no pixel size and no ``dx_mm=``, values outside the
        plausibility limits.
    """
    return _hdf5.read_layout(path, "4sight-h5", opd=opd, dx_mm=dx_mm, dy_mm=dy_mm)


def _extract_h5(f: Any, p: Path, part: str) -> tuple[dict[str, Any], Any, str]:
    """The attributes the legacy reader uses (as text/numbers) and the data dataset."""
    import h5py

    g = _hdf5.resolve(f, p, "measurement0/genraw")
    ds = g.get("data") if isinstance(g, h5py.Group) else None
    if not isinstance(ds, h5py.Dataset):
        raise FileFormatError(f"{p}: /measurement0/genraw has no 'data' dataset")
    ds = _hdf5.resolve(f, p, "measurement0/genraw/data")
    top = f.get("4D")
    m0 = _hdf5.resolve(f, p, "measurement0")
    facts = {
        "wavelength": _hdf5.attr_float(g, "wavelength"),
        "height_units": _hdf5.attr_str(g, "height_units"),
        "lut_type": _hdf5.attr_str(g, "lut_type"),
        "wedge": _hdf5.attr_float(g, "wedge"),
        "aspect": _hdf5.attr_float(g, "aspect"),
        "xpix": _hdf5.attr_float(g, "xpix"),
        "version": _hdf5.attr_str(top, "_4Sight_version") if top is not None else None,
        "head_serial": _hdf5.attr_str(m0, "head_serial"),
        "date": _hdf5.attr_str(m0, "date") or (_hdf5.attr_str(top, "date") if top else None),
    }
    return facts, ds, "/measurement0/genraw/data"


def _build_h5(p: Path, facts: dict[str, Any], z: np.ndarray, opd: bool = False,
              dx_mm: float | None = None, dy_mm: float | None = None) -> HeightMap:
    wl_nm = _len_nm(p, "wavelength", facts["wavelength"], default_unit="nm")
    hu = (facts["height_units"] or "wv").strip()
    lut = (facts["lut_type"] or "opd").strip().lower()
    wedge = facts["wedge"][0] if facts["wedge"] is not None else None
    aspect = facts["aspect"][0] if facts["aspect"] is not None else 1.0
    xpix_nm = _len_nm(p, "xpix", facts["xpix"], default_unit="mm")

    if hu.lower() in _WAVES:
        if wl_nm is None:
            raise FileFormatError(f"{p}: heights are in waves but there is no wavelength")
        _policy.check_range("wavelength_nm", wl_nm, p, "attribute 'wavelength' (nm)")
        unit_nm = wl_nm
        z_unit = "waves"
    elif _policy.unit_metres(hu) is not None:
        unit_nm = _policy.unit_scale(hu)
        z_unit = hu
    else:
        raise FileFormatError(f"{p}: unknown height_units {hu!r} (known: wv, nm, um, mm, "
                              "m, in, mil, ...)")

    if lut in ("opd", "wavefront"):
        if opd:
            factor, kind, used_wedge = 1.0, "opd", 1.0
        else:
            if wedge is None or not (math.isfinite(wedge) and wedge > 0):
                raise FileFormatError(
                    f"{p}: the data are OPD and the file gives no valid 'wedge' factor to "
                    f"turn them into surface height (wedge = {wedge!r}); pass opd=True to "
                    "read the OPD")
            _policy.check_range("factor", wedge, p, "attribute 'wedge'")
            factor, kind, used_wedge = wedge, "surface", wedge
    elif lut in ("surface", "surf"):
        if opd:
            raise FileFormatError(f"{p}: the file stores surface height (lut_type {lut!r}); "
                                  "OPD is not available from it")
        factor, kind, used_wedge = 1.0, "surface", 1.0
    else:
        raise FileFormatError(f"{p}: unknown lut_type {lut!r} (known: opd, surface)")

    if not (math.isfinite(aspect) and aspect > 0):
        raise FileFormatError(f"{p}: pixel aspect {aspect!r} is not a positive number")
    _policy.check_range("factor", aspect, p, "attribute 'aspect'")
    dx_file = xpix_nm * 1e-6 if xpix_nm is not None else None
    if aspect != 1.0 and dy_mm is None:
        raise FileFormatError(f"{p}: pixel aspect is {aspect:g}, not 1; its sense (dy/dx or "
                              "dx/dy) is not documented, so pass dx_mm= and dy_mm=")
    dx, dy, lat_meta = _policy.resolve_spacing(p, dx_file, dx_file, dx_mm, dy_mm,
                                               what="the 4Sight file")
    v, head = facts["version"], facts["head_serial"]
    scale = unit_nm * factor
    _policy.check_range("z_scale_nm", scale, p, "the height scale (nm per stored unit)",
                        absolute=True)
    _hdf5.scale_marking_sentinels(z, scale)  # the float32-max no-data -> inf -> NaN
    meta = _policy.base_meta(
        "4sight-h5",
        instrument="4D Technology interferometer" + (f" (head serial {head})" if head else ""),
        software=f"4Sight {v}" if v else None,
        wavelength_nm=wl_nm,
        timestamp=_parse_date(facts["date"]),
        z_unit_original=z_unit,
        z_scale_to_nm=scale,
        rows_flipped=True,
        height_kind=kind,
        wedge=used_wedge,
        file_wedge=wedge,
        lut_type=lut,
        **lat_meta,
    )
    return HeightMap(z[::-1], dx, dy, meta)


# -- 4Sight Focus .4D --------------------------------------------------------------------------

def _focus_nodes(p: Path, f: Any, name: str = "SurfaceInWaves") -> tuple[Any, Any]:
    import h5py

    node = _hdf5.resolve(f, p, f"Measurement/{name}")
    if isinstance(node, h5py.Group):
        if node.get("Data", getlink=True) is None:
            raise FileFormatError(f"{p}: /Measurement/{name} has no 'Data' dataset")
        ds = _hdf5.resolve(f, p, f"Measurement/{name}/Data")
    else:
        ds = node
    if not isinstance(ds, h5py.Dataset):
        raise FileFormatError(f"{p}: /Measurement/{name} has no 'Data' dataset")
    return node, ds


def read_4sight_focus(path: str | os.PathLike[str], dx_mm: float | None = None,
                      dy_mm: float | None = None) -> HeightMap:
    """Read a 4Sight Focus ``.4D`` file (``/Measurement/SurfaceInWaves``).

    Parameters
    ----------
    path : path-like
    dx_mm, dy_mm : float, optional
        Pixel spacing in mm when the file has none (or to override it).

    Returns
    -------
    HeightMap
        Surface heights in nm (waves x wavelength), rows flipped to y-up.

    Raises
    ------
    FileFormatError
        Wrong layout, corrupt data, no wavelength, no pixel size and no
        ``dx_mm=``, values outside the plausibility limits.
    """
    return _hdf5.read_layout(path, "4sight-focus", dx_mm=dx_mm, dy_mm=dy_mm)


def _extract_focus(f: Any, p: Path, part: str) -> tuple[dict[str, Any], Any, str]:
    if part == "intensity":
        _node, ds = _focus_nodes(p, f, "Intensity")
        return {}, ds, "/Measurement/Intensity/Data"
    node, ds = _focus_nodes(p, f)
    m = _hdf5.resolve(f, p, "Measurement")
    md = f.get("Measurement/Metadata")
    wl = _hdf5.attr_float(m, "WavelengthInNanometers")
    if wl is None:
        wl = _hdf5.attr_float(node, "WavelengthInNanometers")
    pix_um = None
    for obj in (node, ds, m, md):
        if obj is None:
            continue
        v = _hdf5.attr_float(obj, "PixelSizeInMicrons")
        if v is not None:
            pix_um = v[0]
            break
    facts = {
        "wavelength_nm": wl[0] if wl is not None else None,
        "pixel_um": pix_um,
        "timestamp": _hdf5.attr_str(md, "Timestamp") if md is not None else None,
        "software": _hdf5.attr_str(m, "SoftwareVersion"),
        "has_intensity": "Measurement/Intensity" in f,
    }
    return facts, ds, "/Measurement/SurfaceInWaves/Data"


def _build_focus(p: Path, facts: dict[str, Any], z: np.ndarray, dx_mm: float | None = None,
                 dy_mm: float | None = None) -> HeightMap:
    wl_nm = facts["wavelength_nm"]
    if wl_nm is None or not (math.isfinite(wl_nm) and wl_nm > 0):
        raise FileFormatError(f"{p}: no valid WavelengthInNanometers attribute; cannot "
                              "convert waves to nm")
    _policy.check_range("wavelength_nm", wl_nm, p, "WavelengthInNanometers")
    pix_um = facts["pixel_um"]
    dx_file = pix_um * 1e-3 if pix_um is not None else None
    dx, dy, lat_meta = _policy.resolve_spacing(p, dx_file, dx_file, dx_mm, dy_mm,
                                               what="the .4D file")
    stamp, software = facts["timestamp"], facts["software"]
    _hdf5.scale_marking_sentinels(z, wl_nm)
    meta = _policy.base_meta(
        "4sight-focus",
        instrument="4D Technology interferometer",
        software=f"4Sight Focus {software}" if software else "4Sight Focus",
        wavelength_nm=wl_nm,
        timestamp=_iso_or_none(stamp),
        z_unit_original="waves",
        z_scale_to_nm=wl_nm,
        rows_flipped=True,
        height_kind="surface",
        has_intensity=facts["has_intensity"],
        **lat_meta,
    )
    if stamp and meta["timestamp"] is None:
        meta["timestamp_text"] = stamp
    return HeightMap(z[::-1], dx, dy, meta)


def _iso_or_none(text: str | None) -> str | None:
    if not text:
        return None
    try:
        return _dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00")).isoformat()
    except ValueError:
        return _parse_date(text)


def read_intensity(path: str | os.PathLike[str]) -> np.ndarray:
    """Intensity map of a 4Sight Focus ``.4D`` file, float64, rows flipped to y-up, NaN invalid."""
    _kind, _facts, a = _hdf5.fetch(Path(path), "4sight-focus", "intensity")
    out = np.array(a[::-1], dtype=np.float64, order="C")
    out[~np.isfinite(out)] = np.nan
    return out


def write_4sight_focus(hm: HeightMap, path: str | os.PathLike[str],
                       wavelength_nm: float | None = None) -> None:
    """Write ``hm`` in the 4Sight Focus ``.4D`` layout (surface in waves, float64, NaN invalid).

    Parameters
    ----------
    hm : HeightMap
        Must have square pixels (the layout stores one pixel size).
    path : path-like
    wavelength_nm : float, optional
        Default ``hm.meta['wavelength_nm']``; required one way or the other
        (the file stores waves).

    Raises
    ------
    FileFormatError
        Non-square pixels, or no wavelength.
    """
    import h5py

    if hm.dx_mm != hm.dy_mm:
        raise FileFormatError("cannot write .4D: the layout stores one pixel size; this map has "
                              f"dx_mm={hm.dx_mm:g} != dy_mm={hm.dy_mm:g}")
    wl = wavelength_nm if wavelength_nm is not None else hm.meta.get("wavelength_nm")
    try:
        wl_f = float(wl)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        wl_f = float("nan")
    if not (math.isfinite(wl_f) and wl_f > 0):
        raise FileFormatError("cannot write .4D: it stores heights in waves; pass wavelength_nm= "
                              "(the map's meta has no wavelength)")
    waves = np.ascontiguousarray(hm.z_nm[::-1]) / wl_f  # image order, NaN stays NaN
    with h5py.File(path, "w") as f:
        m = f.create_group("Measurement")
        m.attrs["WavelengthInNanometers"] = wl_f
        s = m.create_group("SurfaceInWaves")
        s.attrs["PixelSizeInMicrons"] = hm.dx_mm * 1e3
        s.create_dataset("Data", data=waves)
        md = m.create_group("Metadata")
        ts = hm.meta.get("timestamp")
        if isinstance(ts, str):
            md.attrs["Timestamp"] = ts


_hdf5.register_layout(_hdf5.Layout(
    name="4sight-h5", description="/measurement0/genraw (4D Technology 4Sight .h5)",
    probe=lambda f: _hdf5.has_node(f, "measurement0/genraw", "group"),
    extract=_extract_h5, build=_build_h5, priority=20))
_hdf5.register_layout(_hdf5.Layout(
    name="4sight-focus",
    description="/Measurement/SurfaceInWaves (4D Technology 4Sight Focus .4D)",
    probe=lambda f: (_hdf5.has_node(f, "Measurement/SurfaceInWaves", "group")
                     or _hdf5.has_node(f, "Measurement/SurfaceInWaves", "dataset")),
    extract=_extract_focus, build=_build_focus, priority=10))

register(Format(
    name="4sight-h5",
    extensions=(".h5", ".hdf5"),
    description="4D Technology 4Sight legacy HDF5 (/measurement0/genraw), surface by default",
    read=read_4sight_h5,
))
register(Format(
    name="4sight-focus",
    extensions=(".4d",),
    description="4D Technology 4Sight Focus .4D (HDF5, /Measurement/SurfaceInWaves)",
    read=read_4sight_focus,
    write=write_4sight_focus,
))
