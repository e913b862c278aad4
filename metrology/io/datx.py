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
  ``dx_mm=`` (see :func:`metrology.io._policy.resolve_spacing`).

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
from kernels._config import threads_for_elements

from .._version import __version__
from ..errors import FileFormatError
from ..heightmap import HeightMap
from . import _hdf5, _policy
from ._registry import Format, register
from ._time import source_date_epoch, unix_seconds

__all__ = ["read_datx", "read_intensity", "write_datx", "UNIT_TO_NM"]

#: nanometres per file unit for Zygo's length units of the Z converter (from the one
#: unit table, :data:`metrology.io._policy.METRES_PER_UNIT`)
UNIT_TO_NM: dict[str, float] = {
    u: _policy.unit_scale(u) for u in ("NanoMeters", "MicroMeters", "MilliMeters", "Meters",
                                       "Angstroms", "Inches", "MicroInches", "Mils")
}
#: units that need the wavelength
_WAVE_UNITS = ("Fringes", "Waves")

#: |value| at or above this (in file units) is a no-data sentinel, never a height
_SENTINEL_ABS = 2.0 ** _hdf5.SENTINEL_EXP
_MAX_TABLE_ROWS = 100_000

_NODATA_WRITE = float(np.finfo(np.float64).max)


# -- parsing (runs in the isolated HDF5 reader) --------------------------------------------------

def _text(v: Any) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace").rstrip("\x00")
    if isinstance(v, np.ndarray) and v.size == 1:
        return _text(v.reshape(-1)[0])
    return str(v)


def _link_table(path: Path, f: Any) -> dict[str, dict[str, list[str]]]:
    """``/MetaData`` as {source: {link: [destinations]}} (strings)."""
    import h5py

    md = _hdf5.resolve(f, path, "MetaData")
    if not isinstance(md, h5py.Dataset):
        raise FileFormatError(f"{path}: no /MetaData table; not a Zygo .datx file")
    shape = md.id.shape
    sig = _hdf5.type_signature(md.id.get_type())
    names = tuple(n for n, _ in sig[1]) if sig[0] == "c" else ()
    if not {"Source", "Link", "Destination"} <= set(names) or len(shape) != 1:
        raise FileFormatError(f"{path}: /MetaData is not a (Source, Link, Destination) table "
                              f"(fields {names}, shape {shape})")
    if shape[0] > _MAX_TABLE_ROWS:
        raise FileFormatError(f"{path}: /MetaData claims {shape[0]} rows; corrupt")
    sig = _hdf5.checked_type(md.id, f"{path}: /MetaData",
                             npoints=shape[0] if md.chunks is None else None)
    members = dict(sig[1])
    if any(members[k][0] != "s" for k in ("Source", "Link", "Destination")):
        raise FileFormatError(f"{path}: /MetaData columns are not text ({sig}); corrupt")
    try:
        rows = _hdf5.read_table(md)
    except Exception as exc:  # noqa: BLE001
        raise FileFormatError(f"{path}: cannot read /MetaData ({type(exc).__name__}: {exc})") \
            from exc
    table: dict[str, dict[str, list[str]]] = {}
    for s, link, d in zip(rows["Source"].tolist(), rows["Link"].tolist(),
                          rows["Destination"].tolist(), strict=True):
        table.setdefault(_text(s), {}).setdefault(_text(link), []).append(_text(d))
    return table


def _follow(table: dict[str, dict[str, list[str]]], src: str, link: str) -> list[str]:
    return table.get(src, {}).get(link, [])


def _converter(obj: Any, name: str) -> tuple[str, list[float]] | None:
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
        params = np.asarray(params, dtype=np.float64).reshape(-1)[:16]
    except (TypeError, ValueError):
        params = np.zeros(0)
    return unit, [float(x) for x in params]


def _num(obj: Any, name: str) -> float | None:
    v = _hdf5.attr_value(obj, name)
    if isinstance(v, np.ndarray) and v.dtype.names and "Value" in v.dtype.names:
        v = v.reshape(-1)[0]["Value"]
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _attr_group_facts(path: Path, f: Any, table: dict[str, dict[str, list[str]]],
                      meas: str, need_lateral: bool) -> dict[str, Any]:
    """Instrument, software, time stamp (and the lateral resolution when the converters do
    not give it) from the measurement's attribute group: only what the reader uses."""
    import h5py

    out: dict[str, Any] = {}
    for gpath in _follow(table, meas, "Attributes"):
        try:
            g = _hdf5.resolve(f, path, gpath)
        except FileFormatError:
            continue
        if not isinstance(g, h5py.Group):
            continue
        pre = "Data Context.Data Attributes."
        out["system_type"] = _hdf5.attr_str(g, pre + "System Type")
        out["serial"] = _hdf5.attr_str(g, pre + "System Serial Number")
        out["software_name"] = _hdf5.attr_str(g, pre + "Software Info Name")
        out["software_version"] = _hdf5.attr_str(g, pre + "Software Info Version")
        ts = _hdf5.attr_value(g, pre + "Time Stamp")
        if isinstance(ts, np.ndarray) and ts.dtype.names and "time" in ts.dtype.names:
            r = ts.reshape(-1)[0]
            out["time_s"] = int(r["time"])
            out["time_ms"] = float(r["millitm"]) if "millitm" in ts.dtype.names else 0.0
        if need_lateral:
            lat = _num(g, "Surface Data Context.Lateral Resolution:Value")
            if lat is None:
                lat = _num(g, "Data Context.Lateral Resolution:Value")
            out["lateral_res_m"] = lat
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
                              f"(links: {', '.join(links[:20]) or 'none'})")
    dpaths = _follow(table, ids[0], "Path")
    if not dpaths:
        raise FileFormatError(f"{path}: /MetaData gives no 'Path' for {what} {ids[0]}")
    return meas, dpaths[0], {"table": table, "n_measurements": len(measurements)}


def _extract(f: Any, p: Path, part: str) -> tuple[dict[str, Any], Any, str]:
    """The facts of a .datx file the reader uses, and the dataset of ``part``."""
    import h5py

    meas, dpath, info = _locate(p, f, "Surface" if part == "surface" else "Intensity")
    ds = _hdf5.resolve(f, p, dpath)
    if not isinstance(ds, h5py.Dataset):
        raise FileFormatError(f"{p}: /MetaData points the {part} at {dpath!r}, which is not "
                              "a dataset in the file")
    what = f"{part} dataset {dpath}"
    if part != "surface":
        return {"path": dpath, "what": what, "no_data": _num(ds, "No Data")}, ds, what
    pending = _hdf5.start_read(p, f, ds, what)  # the heights are read while we parse
    try:
        facts: dict[str, Any] = {"path": dpath, "what": what, "no_data": _num(ds, "No Data")}
        zconv = _converter(ds, "Z Converter")
        facts.update(
            unit=zconv[0] if zconv else _hdf5.attr_str(ds, "Unit"),
            zparams=zconv[1] if zconv else [],
            wavelength_m=_num(ds, "Wavelength"),
            scale_factor=_num(ds, "Interferometric Scale Factor"),
            obliquity=_num(ds, "Obliquity Factor"),
            x_conv=_converter(ds, "X Converter"),
            y_conv=_converter(ds, "Y Converter"),
            has_intensity=bool(_follow(info["table"], meas, "Intensity")),
            n_measurements=info["n_measurements"],
        )
        x_conv = facts["x_conv"]
        need_lateral = not (x_conv and x_conv[0] == "Pixels" and len(x_conv[1]) > 1
                            and x_conv[1][1] > 0)
        facts["group"] = _attr_group_facts(p, f, info["table"], meas, need_lateral)
    except BaseException:
        pending.wait()  # no read left running into memory that is given back
        raise
    return facts, pending, what


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
        ``dx_mm=``, values outside the plausibility limits.
    """
    return _hdf5.read_layout(path, "datx", dx_mm=dx_mm, dy_mm=dy_mm)


def _height_scale(p: Path, facts: dict[str, Any]) -> tuple[str, float, float | None,
                                                           float | None, float | None]:
    """(unit, nm per file unit, wavelength nm, scale factor, obliquity) from the facts."""
    what = facts["what"]
    unit = facts["unit"]
    if not unit:
        raise FileFormatError(f"{p}: {what} has neither a 'Z Converter' nor a 'Unit'; "
                              "cannot tell the height unit")
    zparams = facts["zparams"]

    def pick(v: float | None, i: int) -> float | None:
        if v is not None and v > 0:
            return v
        if len(zparams) > i and math.isfinite(zparams[i]) and zparams[i] > 0:
            return float(zparams[i])
        return None

    wl_m = pick(facts["wavelength_m"], 1)
    sf = pick(facts["scale_factor"], 2)
    obl = pick(facts["obliquity"], 3)
    wavelength_nm = wl_m * 1e9 if wl_m is not None else None
    if unit in _WAVE_UNITS:
        if wavelength_nm is None:
            raise FileFormatError(f"{p}: heights are in {unit} but the file gives no valid "
                                  "wavelength")
        _policy.check_range("wavelength_nm", wavelength_nm, p, "Wavelength (nm)")
        if unit == "Fringes":
            if sf is None or obl is None:
                raise FileFormatError(f"{p}: heights are in Fringes but the interferometric "
                                      "scale factor or obliquity factor is missing or invalid")
            _policy.check_range("factor", sf, p, "Interferometric Scale Factor")
            _policy.check_range("factor", obl, p, "Obliquity Factor")
            return unit, wavelength_nm * sf * obl, wavelength_nm, sf, obl
        return unit, wavelength_nm, wavelength_nm, sf, obl
    if _policy.unit_metres(unit) is None:
        known = ", ".join([*_WAVE_UNITS, *UNIT_TO_NM])
        raise FileFormatError(f"{p}: unsupported height unit {unit!r} in {what}; "
                              f"known units: {known}")
    if wavelength_nm is not None and not (
            _policy.current_limits().wavelength_nm[0] <= wavelength_nm
            <= _policy.current_limits().wavelength_nm[1]):
        wavelength_nm = None  # informational only for a length unit: not kept when absurd
    return unit, _policy.unit_scale(unit), wavelength_nm, sf, obl


def _build(p: Path, facts: dict[str, Any], z: np.ndarray, dx_mm: float | None = None,
           dy_mm: float | None = None) -> HeightMap:
    unit, scale, wavelength_nm, sf, obl = _height_scale(p, facts)
    nodata = facts["no_data"]  # None also when NaN
    group = facts.get("group", {})

    spacing: list[float | None] = []
    for conv in (facts["x_conv"], facts["y_conv"]):
        s_m = None
        if conv and conv[0] == "Pixels" and len(conv[1]) > 1:
            s_m = float(conv[1][1])
        spacing.append(s_m)  # a length axis: the pixel size is not in Parameters
    if spacing[0] is None or not spacing[0] > 0:
        spacing[0] = group.get("lateral_res_m")
    if spacing[1] is None or not spacing[1] > 0:
        spacing[1] = spacing[0]
    dx_file = spacing[0] * 1e3 if spacing[0] is not None else None
    dy_file = spacing[1] * 1e3 if spacing[1] is not None else None
    dx, dy, lat_meta = _policy.resolve_spacing(p, dx_file, dy_file, dx_mm, dy_mm,
                                               what="the .datx surface")

    # one pass: scale to nm; the No Data value, sentinel-sized values (Zygo's largest
    # float64) and non-finite values -> NaN; image rows -> y up
    # (and the valid mask, its count and the height range in the same pass)
    heights = np.empty(z.shape, dtype=np.float64)
    use_nodata = nodata is not None and abs(nodata) < _SENTINEL_ABS
    valid: np.ndarray | None = None
    stats: tuple[int, float, float] | None = None
    if _parallel_unsafe():
        _heights_numpy(z, float(scale), nodata if use_nodata else None, heights)
    else:
        valid = np.empty(z.shape, dtype=bool)
        with threads_for_elements(z.size, passes=1.5):
            stats = _kconvert.heights_from_raw(
                z, float(scale), float(nodata) if use_nodata else 0.0, use_nodata,
                _SENTINEL_ABS, True, heights, valid)

    instrument = None
    if group.get("system_type"):
        serial = group.get("serial")
        instrument = f"Zygo {group['system_type']}" + (f" (serial {serial})" if serial else "")
    software = group.get("software_name") or None
    if software and group.get("software_version"):
        software = f"{software} {group['software_version']}".strip()
    meta = _policy.base_meta(
        "datx",
        instrument=instrument,
        software=software,
        wavelength_nm=wavelength_nm,
        timestamp=(_policy.iso_from_unix(group["time_s"], group["time_ms"])
                   if "time_s" in group else None),
        z_unit_original=unit,
        z_scale_to_nm=scale,
        rows_flipped=True,
        surface_path=facts["path"],
        interf_scale_factor=sf,
        obliquity_factor=obl,
        no_data_value=nodata,
        has_intensity=facts["has_intensity"],
        **lat_meta,
    )
    if "time_s" in group:
        meta["timestamp_raw_unix_s"] = group["time_s"]
    if facts["n_measurements"] > 1:
        meta["n_measurements"] = facts["n_measurements"]
    return HeightMap._adopt(heights, dx, dy, meta, valid=valid, stats=stats)


_IMPORT_PID = os.getpid()


def _parallel_unsafe() -> bool:
    """True in a process forked after this one ran a GNU OpenMP kernel: libgomp aborts the
    child ("fork() called from a process already using GNU OpenMP") if it runs one."""
    if os.getpid() == _IMPORT_PID:
        return False
    try:
        import numba

        return str(numba.threading_layer()) == "omp"
    except (ValueError, ImportError):  # no parallel kernel has run: nothing inherited
        return False


def _heights_numpy(raw: np.ndarray, scale: float, nodata: float | None,
                   out: np.ndarray) -> None:
    """:func:`kernels.convert.heights_from_raw` in NumPy (same products, same NaN rule)."""
    src = raw[::-1]
    with np.errstate(over="ignore", invalid="ignore"):
        np.multiply(src, scale, out=out)
    bad = ~(np.abs(src) < _SENTINEL_ABS)
    bad |= ~np.isfinite(out)
    if nodata is not None:
        bad |= src == nodata
    out[bad] = np.nan


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
    _kind, facts, a = _hdf5.fetch(Path(path), "datx", "intensity")
    bad = ~np.isfinite(a)
    if facts["no_data"] is not None:
        bad |= a == facts["no_data"]
    out = np.array(a[::-1], dtype=np.float64, order="C")
    out[bad[::-1]] = np.nan
    return out


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


_hdf5.register_layout(_hdf5.Layout(
    name="datx", description="/MetaData table (Zygo .datx)",
    probe=lambda f: _hdf5.has_node(f, "MetaData", "dataset"), extract=_extract, build=_build,
    priority=30))

register(Format(
    name="datx",
    extensions=(".datx",),
    description="Zygo .datx (HDF5); also dispatches 4Sight .h5 / .4D HDF5 files by layout",
    sniff=_hdf5.is_hdf5,
    read=_hdf5.read_any,
    write=write_datx,
    priority=10,
))
