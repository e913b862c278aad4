"""Zygo ``.datx`` (Mx / MetroPro 8+ HDF5) height maps: reader and writer.

Layout (facts from files written by Zygo software, e.g. MetroPro 8.3.3)
-----------------------------------------------------------------------
* ``/MetaData`` is a table of (Source, Link, Destination) text triples. From
  ``Root --Measurement--> {M}``, ``{M} --Surface--> {S}`` and
  ``{S} --Path--> /Data/Surface/{S}`` the reader finds the surface dataset; it
  never takes "the first key" of ``/Data/Surface`` (a file may hold several
  surfaces). ``{M} --Attributes--> /Attributes/{A}`` names the attribute group
  (instrument, software, time stamp); ``{M} --Intensity--> {I}`` an intensity
  map when present.
* The surface dataset carries ``Unit`` and a ``Z Converter`` (Category,
  BaseUnit, Parameters); with ``BaseUnit = Fringes`` the parameters are
  (0, wavelength [m], interferometric scale factor, obliquity) and
  height = value * wavelength * scale factor * obliquity. The dataset also
  carries ``Wavelength``, ``Interferometric Scale Factor`` and
  ``Obliquity Factor``, which are preferred when present.
* ``No Data`` is a sentinel (the largest float64 in Zygo's files; it may be NaN).
  Pixels equal to it, non-finite, or of magnitude >= 2**100 (1.27e30) in file
  units (no real height is that large in any unit) are invalid (NaN).
* ``X Converter`` / ``Y Converter`` with ``BaseUnit = Pixels`` give the pixel
  size in metres as Parameters[1]; the ``Lateral Resolution`` attribute of the
  attribute group is the fallback. A spacing of 0 means "uncalibrated": pass
  ``dx_mm=`` (see :func:`metrology.io._hdf5.resolve_spacing`).

Height units understood (``Z Converter`` BaseUnit, else ``Unit``):
``Fringes`` (as above), ``Waves`` (value * wavelength; a surface or wavefront
value in waves of the test wavelength, no scale factor), ``NanoMeters``,
``MicroMeters``, ``MilliMeters``, ``Meters``, ``Angstroms``, ``Inches``,
``MicroInches``, ``Mils``. Any other unit raises :class:`FileFormatError`
naming it, never a guessed scale.

Orientation
-----------
Zygo stores camera images in image order: row 0 is the top row of the camera
frame. Basis: Zygo's MetroPro documentation places the camera coordinate
origin at the upper-left pixel and gives the data origin (``cn_org_x``,
``cn_org_y``; in .datx the ``Coordinates`` RowStart/ColumnStart) in that
frame; Gwyddion, whose images are top-row-first, displays Zygo data without
flipping. (The primary text of the MetroPro Reference Guide was not
available to this project's tools; the claim rests on these public facts.)
The reader reverses the rows so that row 0 is the bottom (y up,
CONVENTIONS.md) and sets ``meta['rows_flipped'] = True``
(:meth:`HeightMap.flip_y` undoes it); the writer reverses them back. Tests
check with a marked asymmetric map that writer and reader agree, that the file
holds image order, and that prysm (which does not flip) reads our file as our
map upside down.

Writer
------
:func:`write_datx` writes the same layout (MetaData table, attribute group,
``/Data/Surface/{GUID}`` float64 dataset in ``NanoMeters`` with the
largest-float64 no-data value and the converters), so that this reader and
``prysm.io.read_zygo_datx`` both read the heights back bit for bit.
"""

from __future__ import annotations

import hashlib
import math
import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from kernels import convert as _kconvert

from .._version import __version__
from ..errors import FileFormatError
from ..heightmap import HeightMap
from . import _hdf5
from ._registry import Format, register
from ._time import source_date_epoch, unix_seconds

__all__ = ["read_datx", "read_intensity", "write_datx", "UNIT_TO_NM"]

#: nanometres per file unit for the length units of the Z converter
UNIT_TO_NM: dict[str, float] = {
    "NanoMeters": 1.0,
    "MicroMeters": 1e3,
    "MilliMeters": 1e6,
    "Meters": 1e9,
    "Angstroms": 0.1,
    "Inches": 25.4e6,
    "MicroInches": 25.4,
    "Mils": 25.4e3,
}
#: units that need the wavelength
_WAVE_UNITS = ("Fringes", "Waves")

#: |value| at or above this (in file units) is a no-data sentinel, never a height
_SENTINEL_ABS = 2.0 ** _hdf5.SENTINEL_EXP
_MAX_TABLE_ROWS = 100_000

_NODATA_WRITE = float(np.finfo(np.float64).max)


# -- small helpers -----------------------------------------------------------------------------

def _text(v: Any) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace").rstrip("\x00")
    if isinstance(v, np.ndarray) and v.size == 1:
        return _text(v.reshape(-1)[0])
    return str(v)


def _link_table(path: Path, f: Any) -> dict[str, dict[str, list[str]]]:
    """``/MetaData`` as {source: {link: [destinations]}} (strings)."""
    import h5py

    md = f.get("MetaData")
    if not isinstance(md, h5py.Dataset):
        raise FileFormatError(f"{path}: no /MetaData table; not a Zygo .datx file")
    names = md.dtype.names or ()
    if not {"Source", "Link", "Destination"} <= set(names) or md.ndim != 1:
        raise FileFormatError(f"{path}: /MetaData is not a (Source, Link, Destination) table "
                              f"(fields {names}, shape {md.shape})")
    if md.shape[0] > _MAX_TABLE_ROWS:
        raise FileFormatError(f"{path}: /MetaData claims {md.shape[0]} rows; corrupt")
    sig = _hdf5.checked_type(md.id, f"{path}: /MetaData",
                             npoints=md.shape[0] if md.chunks is None else None)
    members = dict(sig[1]) if sig[0] == "c" else {}
    if any(members.get(k, ("?",))[0] != "s" for k in ("Source", "Link", "Destination")):
        raise FileFormatError(f"{path}: /MetaData columns are not text ({sig}); corrupt")
    try:
        rows = md[()]
    except Exception as exc:  # noqa: BLE001
        raise FileFormatError(f"{path}: cannot read /MetaData ({type(exc).__name__}: {exc})") \
            from exc
    table: dict[str, dict[str, list[str]]] = {}
    for row in rows:
        s, link, d = _text(row["Source"]), _text(row["Link"]), _text(row["Destination"])
        table.setdefault(s, {}).setdefault(link, []).append(d)
    return table


def _follow(table: dict[str, dict[str, list[str]]], src: str, link: str) -> list[str]:
    return table.get(src, {}).get(link, [])


def _converter(obj: Any, name: str) -> tuple[str, np.ndarray] | None:
    """(BaseUnit, Parameters) of a Zygo converter attribute, None when absent/odd."""
    v = _hdf5.attr_value(obj, name)
    if not isinstance(v, np.ndarray) or v.dtype.names is None or v.size < 1:
        return None
    if "BaseUnit" not in v.dtype.names:
        return None
    row = v.reshape(-1)[0]
    unit = _text(row["BaseUnit"])
    params: Any = row["Parameters"] if "Parameters" in v.dtype.names else np.zeros(0)
    try:
        params = np.asarray(params, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        params = np.zeros(0)
    return unit, params


def _num(obj: Any, name: str) -> float | None:
    v = _hdf5.attr_value(obj, name)
    if isinstance(v, np.ndarray) and v.dtype.names and "Value" in v.dtype.names:
        v = v.reshape(-1)[0]["Value"]
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _attr_group_meta(path: Path, f: Any, table: dict[str, dict[str, list[str]]],
                     meas: str) -> dict[str, Any]:
    """Instrument, software and time stamp from the measurement's attribute group."""
    import h5py

    out: dict[str, Any] = {}
    for gpath in _follow(table, meas, "Attributes"):
        try:
            g = f.get(gpath)
        except Exception:  # noqa: BLE001
            g = None
        if not isinstance(g, h5py.Group):
            continue
        pre = "Data Context.Data Attributes."
        sys_type = _hdf5.attr_str(g, pre + "System Type")
        serial = _hdf5.attr_str(g, pre + "System Serial Number")
        if sys_type:
            out["instrument"] = f"Zygo {sys_type}" + (f" (serial {serial})" if serial else "")
        name = _hdf5.attr_str(g, pre + "Software Info Name")
        vers = _hdf5.attr_str(g, pre + "Software Info Version")
        if name:
            out["software"] = f"{name} {vers}".strip() if vers else name
        ts = _hdf5.attr_value(g, pre + "Time Stamp")
        if isinstance(ts, np.ndarray) and ts.dtype.names and "time" in ts.dtype.names:
            r = ts.reshape(-1)[0]
            ms = float(r["millitm"]) if "millitm" in ts.dtype.names else 0.0
            out["timestamp"] = _hdf5.iso_from_unix(float(r["time"]), ms)
            out["timestamp_raw_unix_s"] = int(r["time"])
        lat = _num(g, "Surface Data Context.Lateral Resolution:Value")
        if lat is None:
            lat = _num(g, "Data Context.Lateral Resolution:Value")
        if lat is not None:
            out["_lateral_res_m"] = lat
        out["_attr_group"] = gpath
        break
    return out


def _locate(path: Path, f: Any, what: str = "Surface") -> tuple[str, str, dict[str, Any]]:
    """(measurement id, dataset path, table) for the first measurement's ``what`` map."""
    table = _link_table(path, f)
    measurements = _follow(table, "Root", "Measurement")
    if not measurements:
        raise FileFormatError(f"{path}: /MetaData has no 'Root -> Measurement' link")
    meas = measurements[0]
    ids = _follow(table, meas, what)
    if not ids:
        links = sorted(table.get(meas, {}))
        raise FileFormatError(f"{path}: measurement {meas} has no {what!r} link in /MetaData "
                              f"(links: {', '.join(links) or 'none'})")
    dpaths = _follow(table, ids[0], "Path")
    if not dpaths:
        raise FileFormatError(f"{path}: /MetaData gives no 'Path' for {what} {ids[0]}")
    return meas, dpaths[0], {"table": table, "n_measurements": len(measurements)}


# -- reader ------------------------------------------------------------------------------------

def read_datx(path: str | os.PathLike[str], dx_mm: float | None = None,
              dy_mm: float | None = None) -> HeightMap:
    """Read the surface map of a Zygo ``.datx`` file.

    Parameters
    ----------
    path : path-like
    dx_mm, dy_mm : float, optional
        Pixel spacing in mm; required when the file is laterally uncalibrated
        (spacing 0), otherwise an override recorded in ``meta``.

    Returns
    -------
    HeightMap
        Heights in nm (NaN = no data), rows flipped to y-up
        (``meta['rows_flipped'] = True``).

    Raises
    ------
    FileFormatError
        Not a .datx layout, truncated/corrupt file, unknown height unit,
        missing wavelength for a wave unit, no lateral calibration and no
        ``dx_mm=``.
    """
    return _hdf5.guarded(_read_datx, Path(path), dx_mm=dx_mm, dy_mm=dy_mm)


def _read_datx(p: Path, dx_mm: float | None = None, dy_mm: float | None = None,
               _file: Any = None) -> HeightMap:
    import h5py

    with _hdf5.open_hdf5(p, _file) as f:
        if _hdf5.classify(f) != "datx":
            raise _hdf5.layout_error(p, f, "datx")
        meas, dpath, info = _locate(p, f)
        ds = f.get(dpath)
        if not isinstance(ds, h5py.Dataset):
            raise FileFormatError(f"{p}: /MetaData points the surface at {dpath!r}, which is not "
                                  "a dataset in the file")
        what = f"surface dataset {dpath}"
        _hdf5.check_dataset(p, ds, what)

        # -- height unit and scale (decided before reading the data) --
        zconv = _converter(ds, "Z Converter")
        unit = zconv[0] if zconv else _hdf5.attr_str(ds, "Unit")
        if not unit:
            raise FileFormatError(f"{p}: {what} has neither a 'Z Converter' nor a 'Unit'; "
                                  "cannot tell the height unit")
        zparams = zconv[1] if zconv else np.zeros(0)

        def from_params(i: int) -> float | None:
            if zparams.size > i and math.isfinite(zparams[i]) and zparams[i] > 0:
                return float(zparams[i])
            return None

        wl_m = _num(ds, "Wavelength")
        if wl_m is None or wl_m <= 0:
            wl_m = from_params(1)
        sf = _num(ds, "Interferometric Scale Factor")
        if sf is None or sf <= 0:
            sf = from_params(2)
        obl = _num(ds, "Obliquity Factor")
        if obl is None or obl <= 0:
            obl = from_params(3)
        wavelength_nm = wl_m * 1e9 if wl_m is not None and wl_m > 0 else None

        if unit in UNIT_TO_NM:
            scale = UNIT_TO_NM[unit]
        elif unit in _WAVE_UNITS:
            if wavelength_nm is None:
                raise FileFormatError(f"{p}: heights are in {unit} but the file gives no valid "
                                      "wavelength")
            if unit == "Fringes":
                if sf is None or obl is None:
                    raise FileFormatError(f"{p}: heights are in Fringes but the interferometric "
                                          "scale factor or obliquity factor is missing or invalid")
                scale = wavelength_nm * sf * obl
            else:
                scale = wavelength_nm
        else:
            known = ", ".join([*_WAVE_UNITS, *UNIT_TO_NM])
            raise FileFormatError(f"{p}: unsupported height unit {unit!r} in {what}; "
                                  f"known units: {known}")

        nodata = _num(ds, "No Data")  # None also when NaN

        # -- lateral spacing --
        attrs = _attr_group_meta(p, f, info["table"], meas)
        spacing = []
        for axis in ("X", "Y"):
            conv = _converter(ds, f"{axis} Converter")
            s_m = None
            if conv and conv[0] == "Pixels" and conv[1].size > 1:
                s_m = float(conv[1][1])
            elif conv and conv[0] in UNIT_TO_NM:
                s_m = None  # a length axis: the pixel size is not in Parameters; use fallback
            spacing.append(s_m)
        if spacing[0] is None or not spacing[0] > 0:
            spacing[0] = attrs.get("_lateral_res_m")
        if spacing[1] is None or not spacing[1] > 0:
            spacing[1] = spacing[0]
        dx_file = spacing[0] * 1e3 if spacing[0] is not None else None
        dy_file = spacing[1] * 1e3 if spacing[1] is not None else None
        dx, dy, lat_meta = _hdf5.resolve_spacing(p, dx_file, dy_file, dx_mm, dy_mm,
                                                 what="the .datx surface")

        z = _hdf5.read_float64(p, ds, what)
        has_intensity = bool(_follow(info["table"], meas, "Intensity"))

    # one pass: scale to nm; the No Data value, sentinel-sized values (Zygo's largest
    # float64) and non-finite values -> NaN; image rows -> y up
    if _hdf5.is_probing():  # the forked trial run: no threaded kernel after fork
        heights = np.zeros((1, 1))
    else:
        heights = np.empty_like(z)
        use_nodata = nodata is not None and abs(nodata) < _SENTINEL_ABS
        _kconvert.heights_from_raw(z, float(scale), float(nodata) if use_nodata else 0.0,
                                   use_nodata, _SENTINEL_ABS, True, heights)

    meta = _hdf5.base_meta(
        "datx",
        instrument=attrs.get("instrument"),
        software=attrs.get("software"),
        wavelength_nm=wavelength_nm,
        timestamp=attrs.get("timestamp"),
        z_unit_original=unit,
        z_scale_to_nm=scale,
        rows_flipped=True,
        surface_path=dpath,
        interf_scale_factor=sf,
        obliquity_factor=obl,
        no_data_value=nodata,
        has_intensity=has_intensity,
        **lat_meta,
    )
    if "timestamp_raw_unix_s" in attrs:
        meta["timestamp_raw_unix_s"] = attrs["timestamp_raw_unix_s"]
    if info["n_measurements"] > 1:
        meta["n_measurements"] = info["n_measurements"]
    return HeightMap._adopt(heights, dx, dy, meta)


def read_intensity(path: str | os.PathLike[str]) -> np.ndarray:
    """Read the intensity map of a ``.datx`` file, same orientation as the height map.

    Returns
    -------
    ndarray, float64, shape (nrows, ncols)
        Intensity in the file's counts, rows flipped to y-up, NaN where the
        file marks no data.

    Raises
    ------
    FileFormatError
        No intensity in the file, or a corrupt file.
    """
    return _hdf5.guarded(_read_intensity, Path(path))


def _read_intensity(p: Path) -> np.ndarray:
    import h5py

    with _hdf5.open_hdf5(p) as f:
        if _hdf5.classify(f) != "datx":
            raise _hdf5.layout_error(p, f, "datx")
        _meas, dpath, _info = _locate(p, f, "Intensity")
        ds = f.get(dpath)
        if not isinstance(ds, h5py.Dataset):
            raise FileFormatError(f"{p}: intensity path {dpath!r} is not a dataset")
        a = _hdf5.read_float64(p, ds, f"intensity dataset {dpath}")
        nodata = _num(ds, "No Data")
    bad = ~np.isfinite(a)
    if nodata is not None:
        bad |= a == nodata
    a[bad] = np.nan
    return np.ascontiguousarray(a[::-1])


# -- writer ------------------------------------------------------------------------------------

def _guids(z: np.ndarray, key: str | None) -> list[str]:
    """The three group GUIDs of a file: random, or reproducible when ``key`` is given or
    ``SOURCE_DATE_EPOCH`` is set (then derived from the epoch and the heights)."""
    if key is None:
        epoch = source_date_epoch()
        if epoch is None:
            return ["{" + str(uuid.uuid4()).upper() + "}" for _ in range(3)]
        key = f"metrology-datx:{epoch}:{hashlib.sha256(z.tobytes()).hexdigest()}"
    return ["{" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"{key}#{k}")).upper() + "}"
            for k in range(3)]


def write_datx(hm: HeightMap, path: str | os.PathLike[str],
               wavelength_nm: float | None = None, guid_key: str | None = None) -> None:
    """Write ``hm`` as a Zygo-layout ``.datx`` file (heights in NanoMeters, float64).

    Parameters
    ----------
    hm : HeightMap
    path : path-like
        Written as is (``metrology.save`` makes the write atomic).
    wavelength_nm : float, optional
        Recorded as the measurement wavelength; default ``hm.meta['wavelength_nm']``,
        else 0 (= unknown; the heights do not depend on it in NanoMeters).
    guid_key : str, optional
        Derive the group GUIDs from this text (reproducible files); default:
        random, or from the heights when ``SOURCE_DATE_EPOCH`` is set.

    Notes
    -----
    Rows are written in image order (row 0 = top), NaN as the largest float64
    (Zygo's no-data value). dx and dy go to the X and Y converters; the
    attribute group's ``Lateral Resolution`` holds dx (prysm reads that one).
    """
    import h5py

    wl_nm = wavelength_nm if wavelength_nm is not None else hm.meta.get("wavelength_nm")
    try:
        wl_m = float(wl_nm) * 1e-9 if wl_nm is not None else 0.0
    except (TypeError, ValueError):
        wl_m = 0.0
    if not (math.isfinite(wl_m) and wl_m >= 0):
        wl_m = 0.0
    sf = float(hm.meta.get("interf_scale_factor") or 0.5)
    obl = float(hm.meta.get("obliquity_factor") or 1.0)
    nrows, ncols = hm.shape
    dx_m, dy_m = hm.dx_mm * 1e-3, hm.dy_mm * 1e-3

    z = np.array(hm.z_nm[::-1], dtype=np.float64, order="C")  # image order
    z[~np.isfinite(z)] = _NODATA_WRITE

    s_t = h5py.string_dtype("ascii")
    conv_t = np.dtype([("Category", s_t), ("BaseUnit", s_t),
                       ("Parameters", h5py.vlen_dtype(np.dtype(np.float64)))])
    valconv_t = np.dtype([("Converter", conv_t), ("Value", np.float64)])
    time_t = np.dtype([("time", "<i8"), ("millitm", "<u2"), ("timezone", "<i2"),
                       ("dstflag", "<i2")])
    coord_t = np.dtype([("RowStart", "<i4"), ("ColumnStart", "<i4"), ("Width", "<i4"),
                        ("Height", "<i4")])

    def conv(cat: str, unit: str, params: list[float]) -> np.ndarray:
        a = np.empty(1, dtype=conv_t)
        a[0] = (cat, unit, np.asarray(params, dtype=np.float64))
        return a

    def sarr(text: str) -> np.ndarray:
        return np.array([text], dtype=s_t)

    meas, attr_id, surf = _guids(z, guid_key)
    attr_path = f"/Attributes/{attr_id}"
    surf_path = f"/Data/Surface/{surf}"
    ts = unix_seconds(hm.meta.get("timestamp"))

    with h5py.File(path, "w") as f:
        ga = f.create_group("Attributes")
        ga.attrs.create("File Layout Version", np.array([1], dtype=np.int32))
        ga.create_group("System")
        g = ga.create_group(attr_id)
        for ctx in ("Data Context.", "Surface Data Context."):
            pre = ctx + "Data Attributes."
            wl = np.empty(1, dtype=valconv_t)
            wl[0] = (conv("LinearCat", "Meters", [0.0])[0], wl_m)
            g.attrs.create(pre + "Wavelength", wl)
            g.attrs.create(pre + "Wavelength:Unit", sarr("Meters"))
            g.attrs.create(pre + "Wavelength:Value", np.array([wl_m]))
            g.attrs.create(pre + "Software Info Name", sarr("metrology"))
            g.attrs.create(pre + "Software Info Version", sarr(__version__))
            g.attrs.create(pre + "System Type", sarr(str(hm.meta.get("instrument") or "")))
            stamp = np.zeros(1, dtype=time_t)
            stamp[0] = (ts, 0, 0, 0)
            g.attrs.create(pre + "Time Stamp", stamp)
            g.attrs.create(ctx + "Lateral Resolution:Unit", sarr("Meters"))
            g.attrs.create(ctx + "Lateral Resolution:Value", np.array([dx_m]))
        g.attrs.create("Group Number", np.array([1], dtype=np.int32))
        g.attrs.create("Property Bag List",
                       sarr("Data Context.Data Attributes\nSurface Data Context.Data Attributes\n"))

        d = f.create_group("Data").create_group("Surface").create_dataset(surf, data=z)
        coords = np.zeros(1, dtype=coord_t)
        coords[0] = (0, 0, ncols, nrows)
        d.attrs.create("Coordinates", coords)
        d.attrs.create("Group Number", np.array([1], dtype=np.int32))
        d.attrs.create("Interferometric Scale Factor", np.array([sf]))
        d.attrs.create("No Data", np.array([_NODATA_WRITE]))
        d.attrs.create("Obliquity Factor", np.array([obl]))
        d.attrs.create("Unit", sarr("NanoMeters"))
        d.attrs.create("Wavelength", np.array([wl_m]))
        d.attrs.create("X Converter", conv("LateralCat", "Pixels", [0.0, dx_m, 0.0, 0.0]))
        d.attrs.create("Y Converter", conv("LateralCat", "Pixels", [0.0, dy_m, 0.0, 0.0]))
        d.attrs.create("Z Converter", conv("HeightCat", "NanoMeters", [0.0, wl_m, sf, obl]))

        rows = [
            ("Root", "Attributes", "/Attributes/System"),
            ("Root", "Measurement", meas),
            (meas, "Attributes", attr_path),
            (meas, "Surface", surf),
            (meas, "Group Number", "1"),
            (meas, "Element Type", "Measurement"),
            (meas, "Name", "metrology"),
            (surf, "Path", surf_path),
            (surf, "Name", "Surface"),
            (surf, "MpxDataType", "DoubleMatrix2D"),
        ]
        md_t = np.dtype([("Source", s_t), ("Link", s_t), ("Destination", s_t)])
        f.create_dataset("MetaData", data=np.array(rows, dtype=md_t))


register(Format(
    name="datx",
    extensions=(".datx",),
    description="Zygo .datx (HDF5); also dispatches 4Sight .h5 / .4D HDF5 files by layout",
    sniff=_hdf5.is_hdf5,
    read=_hdf5.read_any,
    write=write_datx,
    priority=10,
))
