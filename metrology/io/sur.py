"""Digital Surf ``.sur`` (MountainsMap surface), uncompressed and compressed; read only.

Layout (public descriptions of the format: MountainsMap documentation as
summarised by Gwyddion, RosettaSciIO and SurfaceTopography; our own code)
--------------------------------------------------------------------------
A 512-byte little-endian header, then a comment zone and a private zone of the
sizes the header gives, then the points:

====== ======= =========================================================
offset type    field
====== ======= =========================================================
0      12 s    signature ``DIGITAL SURF`` (or ``DSCOMPRESSED``)
12     int16   format (0 = PC; 257 = Macintosh byte order, not supported)
14     int16   number of objects (only the first is read)
16     int16   version
18     int16   studiable type (1 profile, 2 surface; others refused)
20     30 s    object name;   50: 30 s operator name
80     int16   material code; 82: acquisition type; 84: range type
86     int16   special points (1 = the file has non-measured points)
88     int16   absolute flag; 90: float32 gauge resolution; 94: int32 W size
98     int16   point size in bits (16 or 32: signed integers)
100    int32   z min, z max (104), points per line (108), lines (112),
               total points (116)
120    float32 x spacing, y spacing (124), z spacing (128)
132    9x16 s  axis names x, y, z; step units x, y, z (180, 196, 212);
               length units x, y, z (228, 244, 260)
276    float32 unit ratios x, y, z
288    int16   imprint, inversion (290), levelling (292)
306    7xint16 second, minute, hour, day, month, year, day of week
320    float32 measurement duration; 324: uint32 compressed data size
334    uint16  comment zone size, private zone size (336)
338    128 s   client zone
466    float32 x offset, y offset, z offset (474)
====== ======= =========================================================

* Points are stored line after line (x fastest), ``points per line`` per
  line, as int16 or int32. Height = (raw * z spacing + z offset), in the z
  *step* unit (``mm``, ``µm``, ``nm``, ...), converted here to nm; lateral
  spacings are in the x / y step units. float32 header numbers are read as
  7-significant-digit decimals, the precision of a float32 (``1e-07``, not
  1.0000000116860974e-07; ``0.003484``, not 0.0034840002).
* Non-measured points: when *special points* is 1, a raw value of
  ``z min - 2`` marks a point that was not measured; it becomes NaN.
* Compressed files (``DSCOMPRESSED``): after the zones, a uint32 stream
  count, then (raw length, compressed length) uint32 pairs, then the zlib
  streams, each inflated on its own; the concatenation is the point array.
  The header's compressed data size (offset 324), when set, must equal the
  size of that whole block (4 + 8 x count + the compressed lengths).
* The *inversion* field (1, 2, 3: z inverted, flipped, flopped) is
  ambiguous (whether the stored data are already inverted is not
  documented), so such files are refused unless the caller says
  ``inversion="apply"`` (negate z; mirror rows for 2, columns for 3, as
  Gwyddion does) or ``inversion="ignore"``.

Orientation
-----------
The first stored line is the *top* of the image: Gwyddion (whose SUR reader
and writer keep line 0 as its top row, so that files round-trip with
MountainsMap as displayed there), SurfaceTopography and surfalize all show
line 0 at the top, and no Digital Surf text defines the direction of y. The
header's coordinate model (line j at y offset + j * y spacing) fixes the
spacing, not whether y points up or down on the part. So the reader treats
line 0 as the highest y, like the other camera-order formats (Zygo,
Sensofar, Alicona, Gwyddion), and reverses the lines into the y-up frame
of CONVENTIONS.md (``meta['rows_flipped'] = True``, ``meta['sur_row_order']``
says so). :meth:`HeightMap.flip_y` restores the file order. A one-line
profile (studiable type 1 with one line) comes back from
:func:`metrology.io.load` as a :class:`~metrology.profile.Profile`.

Every size is checked against the file size and the reader limits before
allocating (:func:`metrology.io._policy.check_map_size`); compressed streams
are checked against their declared lengths and the expansion limit of
deflate, and decoded straight into the point array.
"""

from __future__ import annotations

import datetime as _dt
import math
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FileFormatError
from ..heightmap import HeightMap
from . import _policy
from ._policy import float_scaled, unit_factor
from ._registry import Format, register

__all__ = ["read_sur"]

_HEADER = struct.Struct("<12s4h30s30s5hfih5i3f" + "16s" * 9 + "3f3h12s7hfI6s2H128s5f13s13s")
assert _HEADER.size == 512, _HEADER.size
_FIELDS = (
    "signature", "format", "n_objects", "version", "object_type", "object_name",
    "operator_name", "material_code", "acquisition", "range_type", "special_points",
    "absolute", "gauge_resolution", "w_size", "point_size", "zmin", "zmax", "n_points",
    "n_lines", "n_total", "dx", "dy", "dz", "x_name", "y_name", "z_name", "dx_unit",
    "dy_unit", "dz_unit", "x_length_unit", "y_length_unit", "z_length_unit", "x_ratio",
    "y_ratio", "z_ratio", "imprint", "inversion", "leveling", "_obsolete1", "second",
    "minute", "hour", "day", "month", "year", "weekday", "duration", "compressed_size",
    "_obsolete2", "comment_size", "private_size", "client_zone", "x_offset", "y_offset",
    "z_offset", "t_spacing", "t_offset", "t_name", "t_unit",
)
_ACQUISITION = {
    0: "unknown", 1: "contact stylus", 2: "scanning optical gauge", 3: "thermocouple",
    4: "unknown", 5: "contact stylus with skid", 6: "AFM", 7: "STM", 8: "video",
    9: "interferometer", 10: "structured light projection",
}
_OBJECT_TYPES = {
    1: "profile", 2: "surface", 3: "binary image", 4: "series of profiles",
    5: "series of surfaces", 6: "meridian disc", 7: "multilayer profile",
    8: "multilayer surface", 9: "parallel disc", 10: "intensity image",
    11: "intensity surface", 12: "RGB image", 13: "RGB surface", 14: "force curve",
    15: "series of force curves", 16: "RGB intensity surface", 17: "contour profile",
    18: "series of RGB images", 20: "spectrum", 21: "hyperspectral cube",
}
_MAX_STREAMS = 4096


def _sniff(head: bytes) -> bool:
    return head.startswith(b"DIGITAL SURF") or head.startswith(b"DSCOMPRESSED")


def _fail(path: Path, msg: str) -> FileFormatError:
    return FileFormatError(f"{path}: {msg}")


def _str(b: bytes) -> str:
    return b.split(b"\x00", 1)[0].decode("latin-1").strip()


def _unit_exp(unit: str, what: str, path: Path, to: str) -> Any:
    k = unit_factor(unit, to)
    if k is None:
        raise _fail(path, f"{what} unit {unit!r} is not a length unit; cannot convert to "
                    "nm / mm")
    return k


def read_sur(path: str | Path, *, inversion: str = "refuse") -> HeightMap:
    """Read a Digital Surf ``.sur`` surface (or profile).

    Parameters
    ----------
    path : path-like
    inversion : {'refuse', 'apply', 'ignore'}
        What to do when the header's inversion field is set (see the module
        docstring); the default refuses such files.

    Returns
    -------
    HeightMap
        Heights in nm, shape (lines, points per line), spacing in mm, lines
        reversed into the y-up frame (line 0 = top). ``meta`` adds ``sur_*``
        header fields.

    Raises
    ------
    FileFormatError
        Wrong signature, unsupported object type or point size, unknown
        units, sizes larger than the file, corrupt compressed streams.
    """
    if inversion not in ("refuse", "apply", "ignore"):
        raise FileFormatError(f"inversion must be 'refuse', 'apply' or 'ignore', got "
                              f"{inversion!r}")
    p = Path(path)
    size = p.stat().st_size
    with open(p, "rb") as fh:
        head = fh.read(_HEADER.size)
        if len(head) < 12 or not _sniff(head):
            raise _fail(p, f"does not start with 'DIGITAL SURF' or 'DSCOMPRESSED' "
                        f"(found {head[:12]!r}); not a Digital Surf .sur file")
        if len(head) < _HEADER.size:
            raise _fail(p, f"header truncated ({len(head)} of 512 bytes)")
        h = dict(zip(_FIELDS, _HEADER.unpack(head), strict=True))
        compressed = h["signature"] == b"DSCOMPRESSED"
        if h["format"] != 0:
            raise _fail(p, f"format field {h['format']} (257 = Macintosh byte order) is not "
                        "supported; only PC (0) files are")
        otype = h["object_type"]
        if otype not in (1, 2):
            raise _fail(p, f"studiable type {otype} ({_OBJECT_TYPES.get(otype, 'unknown')}) "
                        "is not a height map; only profiles (1) and surfaces (2) are read")
        psize = h["point_size"]
        if psize not in (16, 32):
            raise _fail(p, f"point size {psize} bits is not supported (16 or 32)")
        nx, ny = h["n_points"], h["n_lines"]
        if nx <= 0 or ny <= 0:
            raise _fail(p, f"points per line = {nx}, lines = {ny} must be positive")
        if h["n_total"] != nx * ny:
            raise _fail(p, f"total points {h['n_total']} != {nx} x {ny} (corrupt header)")
        if h["w_size"] not in (0, 1):
            raise _fail(p, f"W size {h['w_size']}: spectral (multi-value) points are not a "
                        "height map")
        n = nx * ny
        dtype = np.dtype("<i2") if psize == 16 else np.dtype("<i4")
        nbytes = n * dtype.itemsize
        offset = _HEADER.size + h["comment_size"] + h["private_size"]
        if offset > size:
            raise _fail(p, f"comment and private zones end at byte {offset}, past the end of "
                        f"the {size}-byte file (truncated or corrupt)")
        comment = fh.read(min(h["comment_size"], 4096)).decode("latin-1").strip("\x00 \r\n")
        fh.seek(offset)
        raw = np.empty((ny, nx), dtype=dtype)
        if not compressed:
            _policy.check_map_size(p, "the points", (ny, nx), dtype.itemsize,
                                   stored=size - offset)
            if fh.readinto(memoryview(raw).cast("B")) != nbytes:
                raise _fail(p, "file ended while reading the points (truncated)")
        else:
            _read_compressed(fh, p, size - offset, raw, h["compressed_size"])
    raw = raw[::-1]  # line 0 is the top of the image (module docstring)
    invalid = None
    if h["special_points"] == 1:
        marker = int(h["zmin"]) - 2
        info = np.iinfo(dtype)
        if info.min <= marker <= info.max:
            invalid = raw == marker

    dz_unit = _str(h["dz_unit"]) or _str(h["z_length_unit"])
    dx_unit = _str(h["dx_unit"]) or _str(h["x_length_unit"])
    dy_unit = _str(h["dy_unit"]) or _str(h["y_length_unit"]) or dx_unit
    kz = _unit_exp(dz_unit, "z step", p, "nm")
    kx = _unit_exp(dx_unit, "x step", p, "mm")
    ky = _unit_exp(dy_unit, "y step", p, "mm")
    z_scale = float_scaled(h["dz"], kz, single=True)
    z_off_nm = float_scaled(h["z_offset"], kz, single=True)
    dx_mm = float_scaled(h["dx"], kx, single=True)
    dy_mm = float_scaled(h["dy"], ky, single=True)
    if not (math.isfinite(z_scale) and z_scale != 0):
        raise _fail(p, f"z spacing {h['dz']!r} must be non-zero and finite")
    _policy.check_range("z_scale_nm", z_scale, p, f"z spacing ({dz_unit} -> nm)", absolute=True)
    if not math.isfinite(z_off_nm):
        raise _fail(p, f"z offset {h['z_offset']!r} is not finite")
    if not (math.isfinite(dx_mm) and dx_mm > 0):
        raise _fail(p, f"x spacing {h['dx']!r} {dx_unit} must be positive")
    if not (math.isfinite(dy_mm) and dy_mm > 0):
        if ny == 1:
            dy_mm = dx_mm
        else:
            raise _fail(p, f"y spacing {h['dy']!r} {dy_unit} must be positive")

    z = raw.astype(np.float64, order="C")
    del raw
    z *= z_scale
    z += z_off_nm
    if invalid is not None:
        z[invalid] = np.nan
        del invalid

    inv = h["inversion"]
    if inv not in (0, 1, 2, 3):
        raise _fail(p, f"unknown inversion field value {inv}")
    if inv and inversion == "refuse":
        raise _fail(p, f"the header's inversion field is {inv} (1 = z inverted, 2 = flipped, "
                    "3 = flopped); whether the stored data are already inverted is not "
                    "documented. Pass inversion='apply' or inversion='ignore'")
    if inv and inversion == "apply":
        z = -z
        if inv == 2:  # flip in the file's frame = mirror the lines
            z = z[::-1]
        elif inv == 3:
            z = z[:, ::-1]

    ts = None
    try:
        if h["year"] > 0:
            ts = _dt.datetime(h["year"], h["month"], h["day"], h["hour"], h["minute"],
                              h["second"]).isoformat()
    except ValueError:
        ts = None
    acq = _ACQUISITION.get(h["acquisition"], f"code {h['acquisition']}")
    meta: dict[str, Any] = {
        "format": "sur",
        "instrument": None if h["acquisition"] in (0, 4) else acq,
        "software": None,
        "wavelength_nm": None,
        "timestamp": ts,
        "z_unit_original": dz_unit,
        "z_scale_to_nm": z_scale,
        "rows_flipped": True,
        "sur_row_order": "line 0 = top of the image; lines reversed to y-up",
        "sur_compressed": compressed,
        "sur_version": h["version"],
        "sur_n_objects": h["n_objects"],
        "sur_object_type": _OBJECT_TYPES.get(otype, str(otype)),
        "sur_object_name": _str(h["object_name"]),
        "sur_operator_name": _str(h["operator_name"]),
        "sur_acquisition": acq,
        "sur_point_size": psize,
        "sur_zmin": h["zmin"],
        "sur_zmax": h["zmax"],
        "sur_special_points": h["special_points"],
        "sur_z_offset_nm": z_off_nm,
        "sur_xy_offset": (h["x_offset"], h["y_offset"]),
        "sur_units": {"dx": dx_unit, "dy": dy_unit, "dz": dz_unit,
                      "x_length": _str(h["x_length_unit"]),
                      "y_length": _str(h["y_length_unit"]),
                      "z_length": _str(h["z_length_unit"])},
        "sur_unit_ratios": (h["x_ratio"], h["y_ratio"], h["z_ratio"]),
        "sur_imprint": h["imprint"],
        "sur_inversion": inv,
        "sur_inversion_handling": inversion if inv else None,
        "sur_leveling": h["leveling"],
        "sur_absolute": h["absolute"],
        "sur_comment": comment[:4096] or None,
    }
    return HeightMap._adopt(np.ascontiguousarray(z), dx_mm, dy_mm, meta)


def _read_compressed(fh: Any, p: Path, available: int, out: np.ndarray,
                     declared: int) -> None:
    head = fh.read(4)
    if len(head) != 4:
        raise _fail(p, "compressed data directory truncated")
    count = struct.unpack("<I", head)[0]
    if not 1 <= count <= _MAX_STREAMS:
        raise _fail(p, f"compressed data declares {count} streams (corrupt)")
    table = fh.read(8 * count)
    if len(table) != 8 * count:
        raise _fail(p, "compressed data directory truncated")
    pairs = [struct.unpack_from("<II", table, 8 * i) for i in range(count)]
    raw_total = sum(r for r, _ in pairs)
    zip_total = sum(c for _, c in pairs)
    nbytes = out.nbytes
    if raw_total != nbytes:
        raise _fail(p, f"compressed streams hold {raw_total} bytes, the header declares "
                    f"{nbytes} (corrupt)")
    if declared and declared != 4 + 8 * count + zip_total:
        raise _fail(p, f"the header's compressed data size is {declared} bytes, the "
                    f"{count} stream(s) make {4 + 8 * count + zip_total} (corrupt)")
    if 4 + 8 * count + zip_total > available:
        raise _fail(p, f"compressed streams need {zip_total} bytes, only "
                    f"{available - 4 - 8 * count} follow (truncated)")
    _policy.check_map_size(p, "the compressed point data", out.shape, out.itemsize,
                           stored=zip_total, codec="deflate")
    view = memoryview(out).cast("B")
    pos = 0
    for k, (rlen, clen) in enumerate(pairs):
        chunk = fh.read(clen)
        d = zlib.decompressobj()
        try:
            data = d.decompress(chunk, rlen)
            if not d.eof and not d.unconsumed_tail:
                data += d.flush(rlen - len(data) + 1)
        except zlib.error as exc:
            raise _fail(p, f"compressed stream {k} is corrupt ({exc})") from exc
        if len(data) != rlen or not d.eof:
            raise _fail(p, f"compressed stream {k} gives {len(data)} bytes, {rlen} declared "
                        "(corrupt or truncated)")
        view[pos:pos + rlen] = data
        pos += rlen
        del data


register(Format(
    name="sur",
    extensions=(".sur",),
    description="Digital Surf / MountainsMap .sur surface (int16/int32, zlib-compressed "
                "variant; read only)",
    sniff=_sniff,
    read=read_sur,
    write=None,
))
