"""Zygo MetroPro binary ``.dat`` height maps: reader (header formats 1, 2, 3) and writer (format 1).

File layout (public MetroPro "data file format" facts)
------------------------------------------------------
``header | intensity | phase``:

* header, big-endian except where noted; its first bytes give the magic
  number and format: 0x881B036F -> format 1, 834 bytes; 0x881B0370 -> format 2,
  834 bytes; 0x881B0371 -> format 3, 4096 bytes. Fields used here (byte offset):
  ``ac_*`` intensity geometry at 48..63 (org_x, org_y, width, height,
  n_buckets, range: int16; n_bytes: int32), ``cn_*`` phase geometry at 64..75,
  ``time_stamp`` 76 (int32, s since 1970), ``intf_scale_factor`` 164,
  ``wavelength_in`` 168 (m), ``obliquity_factor`` 176, ``lateral_res`` 184
  (m per pixel; 0 = uncalibrated), ``phase_res`` 218, ``sign`` 232 (all
  float32 / int16). Fields added by later MetroPro versions, from byte 502 on
  (``coords_*``, ``coherence_mode`` ...), are little-endian.
* intensity: ``ac_n_buckets`` frames of ``ac_height x ac_width`` big-endian
  uint16, frame-major;
* phase: ``cn_height x cn_width`` big-endian int32 "counts"; values >=
  2147483640 are invalid.

height [m] = counts * intf_scale_factor * wavelength_in * obliquity_factor / R
with R = 4096, 32768, 131072 for ``phase_res`` 0, 1, 2; negated when ``sign``
is set. Header-declared sizes (``ac_n_bytes``, ``cn_n_bytes``, geometry and
header size) are checked against each other and against the file size before
any array is allocated.

Lateral calibration: ``lateral_res = 0`` means the instrument was not
calibrated. The reader then refuses to invent a spacing and asks for
``dx_mm=`` (:func:`metrology.io._policy.resolve_spacing`); ``meta`` records
``lateral_calibrated`` and where the spacing came from.

Orientation
-----------
MetroPro stores the arrays in camera image order: row 0 is the top row of
the camera frame, and ``cn_org_x`` / ``cn_org_y`` locate the phase array from
the camera's upper-left corner (MetroPro's camera coordinate origin; Gwyddion,
whose images are top-row-first, shows these files unflipped). The reader
reverses the rows (y up, CONVENTIONS.md) and sets ``meta['rows_flipped'] =
True``; the writer writes image order again.

Writer
------
:func:`write_metropro` writes header format 1 (834 bytes), no intensity, and
rounds (never truncates) heights to counts. It picks the finest
``phase_res`` whose int32 range holds the map, so the quantisation step is
``intf_scale_factor * wavelength * obliquity / R`` (0.0024 nm for 632.8 nm,
scale factor 0.5, R = 131072) and a round trip is exact to half a step.
MetroPro stores one lateral resolution: maps with ``dx_mm != dy_mm`` are refused.
"""

from __future__ import annotations

import math
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..errors import FileFormatError
from ..heightmap import HeightMap
from . import _policy
from ._registry import Format, register
from ._time import now_utc, unix_seconds

__all__ = ["read_metropro", "read_intensity", "write_metropro", "read_header",
           "PHASE_RES_R", "INVALID_COUNTS"]

#: magic number -> (header format, header size in bytes)
MAGICS: dict[int, tuple[int, int]] = {
    0x881B036F: (1, 834),
    0x881B0370: (2, 834),
    0x881B0371: (3, 4096),
}
#: phase_res -> R (counts per wave of the scaled phase)
PHASE_RES_R: dict[int, int] = {0: 4096, 1: 32768, 2: 131072}
#: phase counts at or above this are invalid
INVALID_COUNTS = 2147483640
_INVALID_WRITE = 2147483647
_MIN_HEADER = 834

#: (name, byte offset, struct format); '>' big-endian, '<' little-endian late fields
_FIELDS: tuple[tuple[str, int, str], ...] = (
    ("magic", 0, ">I"),
    ("header_format", 4, ">h"),
    ("header_size", 6, ">i"),
    ("swinfo_type", 10, ">h"),
    ("swinfo_date", 12, "30s"),
    ("swinfo_vers_maj", 42, ">h"),
    ("swinfo_vers_min", 44, ">h"),
    ("swinfo_vers_bug", 46, ">h"),
    ("ac_org_x", 48, ">h"),
    ("ac_org_y", 50, ">h"),
    ("ac_width", 52, ">H"),
    ("ac_height", 54, ">H"),
    ("ac_n_buckets", 56, ">H"),
    ("ac_range", 58, ">h"),
    ("ac_n_bytes", 60, ">I"),
    ("cn_org_x", 64, ">h"),
    ("cn_org_y", 66, ">h"),
    ("cn_width", 68, ">H"),
    ("cn_height", 70, ">H"),
    ("cn_n_bytes", 72, ">I"),
    ("time_stamp", 76, ">i"),
    ("comment", 80, "82s"),
    ("source", 162, ">h"),
    ("intf_scale_factor", 164, ">f"),
    ("wavelength_in", 168, ">f"),
    ("num_aperture", 172, ">f"),
    ("obliquity_factor", 176, ">f"),
    ("magnification", 180, ">f"),
    ("lateral_res", 184, ">f"),
    ("acq_type", 188, ">h"),
    ("intens_avg_cnt", 190, ">h"),
    ("phase_res", 218, ">h"),
    ("sign", 232, ">h"),
    ("camera_width", 234, ">h"),
    ("camera_height", 236, ">h"),
    ("sys_type", 238, ">h"),
    ("sys_serial", 242, ">h"),
    ("obj_name", 246, "12s"),
    ("part_name", 258, "40s"),
    ("phase_avg_cnt", 300, ">h"),
    ("part_ser_num", 320, "40s"),
    ("refractive_index", 360, ">f"),
    ("pixel_width", 486, ">f"),
    ("pixel_height", 490, ">f"),
    ("light_level_pct", 498, ">f"),
    ("coords_state", 502, "<i"),
    ("coherence_mode", 530, "<h"),
    ("surface_filter", 532, "<h"),
)

_SOFTWARE = {1: "MetroPro", 2: "MetroBASIC", 3: "d2bug"}


def sniff(head: bytes) -> bool:
    """True when ``head`` starts with one of the three MetroPro magic numbers."""
    return len(head) >= 4 and struct.unpack(">I", head[:4])[0] in MAGICS


def _text(b: bytes) -> str:
    return b.split(b"\x00", 1)[0].decode("latin-1").strip()


def read_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse and check the header of a MetroPro file (no array is read).

    Returns
    -------
    dict
        Field name -> value (text fields decoded), plus ``file_size``.

    Raises
    ------
    FileFormatError
        Short file, unknown magic number, header format or size that do not
        match the magic number, sizes that do not add up to the file size.
    """
    p = Path(path)
    with open(p, "rb") as fh:
        head = fh.read(4096)
        fsize = os.fstat(fh.fileno()).st_size
    if len(head) < 4:
        raise FileFormatError(f"{p}: {len(head)}-byte file is too short for a MetroPro header")
    magic = struct.unpack(">I", head[:4])[0]
    if magic not in MAGICS:
        raise FileFormatError(f"{p}: magic number 0x{magic:08X} is not a MetroPro .dat magic "
                              f"({', '.join(f'0x{m:08X}' for m in MAGICS)})")
    want_fmt, want_size = MAGICS[magic]
    if len(head) < _MIN_HEADER:
        raise FileFormatError(f"{p}: truncated: {len(head)} bytes, a MetroPro header needs "
                              f"{want_size}")
    h: dict[str, Any] = {}
    for name, off, fmt in _FIELDS:
        v = struct.unpack_from(fmt, head, off)[0]
        h[name] = _text(v) if isinstance(v, bytes) else v
    h["file_size"] = fsize
    if h["header_format"] != want_fmt or h["header_size"] != want_size:
        raise FileFormatError(
            f"{p}: header says format {h['header_format']}, size {h['header_size']} bytes, but "
            f"magic 0x{magic:08X} means format {want_fmt}, {want_size} bytes; corrupt header")
    if fsize < want_size:
        raise FileFormatError(f"{p}: truncated: {fsize} bytes, the format-{want_fmt} header "
                              f"alone needs {want_size}")

    # intensity block: frames of ac_width x ac_height uint16
    npix_ac = h["ac_width"] * h["ac_height"]
    nb = h["ac_n_buckets"]
    if npix_ac and nb == 0 and h["ac_n_bytes"] == 2 * npix_ac:
        nb = 1  # some writers leave n_buckets at 0 for one frame
    if npix_ac == 0:
        nb = 0
    if 2 * npix_ac * nb != h["ac_n_bytes"]:
        raise FileFormatError(
            f"{p}: intensity block size {h['ac_n_bytes']} bytes does not match "
            f"{h['ac_n_buckets']} frame(s) of {h['ac_width']} x {h['ac_height']} uint16; "
            "corrupt header")
    h["ac_frames"] = nb
    if 4 * h["cn_width"] * h["cn_height"] != h["cn_n_bytes"]:
        raise FileFormatError(
            f"{p}: phase block size {h['cn_n_bytes']} bytes does not match "
            f"{h['cn_width']} x {h['cn_height']} int32; corrupt header")
    expected = want_size + h["ac_n_bytes"] + h["cn_n_bytes"]
    if fsize < expected:
        raise FileFormatError(f"{p}: truncated: header declares {expected} bytes "
                              f"(header {want_size} + intensity {h['ac_n_bytes']} + phase "
                              f"{h['cn_n_bytes']}), file has {fsize}")
    if fsize > expected:
        raise FileFormatError(f"{p}: file has {fsize} bytes but the header declares {expected}; "
                              "corrupt header or not a MetroPro file")
    return h


def _count_to_nm(sf: float, wl_m: float, obl: float, r: int) -> float:
    """nm per phase count (the same arithmetic for reading and writing)."""
    return float(sf) * float(wl_m) * float(obl) / float(r) * 1e9


def _check_scale(p: Path, h: dict[str, Any]) -> tuple[float, int]:
    pr = h["phase_res"]
    if pr not in PHASE_RES_R:
        raise FileFormatError(f"{p}: unknown phase_res {pr} (known: 0, 1, 2)")
    _policy.check_range("factor", h["intf_scale_factor"], p, "header field intf_scale_factor")
    _policy.check_range("factor", h["obliquity_factor"], p, "header field obliquity_factor")
    _policy.check_range("wavelength_nm", h["wavelength_in"] * 1e9, p,
                        "header field wavelength_in (in nm)")
    r = PHASE_RES_R[pr]
    return _count_to_nm(h["intf_scale_factor"], h["wavelength_in"], h["obliquity_factor"], r), r


def read_metropro(path: str | os.PathLike[str], dx_mm: float | None = None,
                  dy_mm: float | None = None) -> HeightMap:
    """Read the phase (height) map of a MetroPro ``.dat`` file.

    Parameters
    ----------
    path : path-like
    dx_mm, dy_mm : float, optional
        Pixel spacing in mm; required when ``lateral_res`` is 0 (uncalibrated),
        otherwise an override recorded in ``meta``.

    Returns
    -------
    HeightMap
        Heights in nm (NaN = invalid counts), rows flipped to y-up.

    Raises
    ------
    FileFormatError
        Truncated or corrupt file, no phase data, implausible scale fields,
        uncalibrated file without ``dx_mm=``.
    """
    p = Path(path)
    h = read_header(p)
    nrows, ncols = h["cn_height"], h["cn_width"]
    if nrows == 0 or ncols == 0:
        raise FileFormatError(f"{p}: the file holds no phase data (phase size {ncols} x "
                              f"{nrows}); intensity-only MetroPro files carry no heights")
    step_nm, r = _check_scale(p, h)
    sign = -1.0 if h["sign"] else 1.0
    lat = h["lateral_res"]
    dx_file = lat * 1e3 if math.isfinite(lat) and lat > 0 else None
    dx, dy, lat_meta = _policy.resolve_spacing(p, dx_file, dx_file, dx_mm, dy_mm,
                                             what="the MetroPro file (lateral_res = 0)")
    offset = h["header_size"] + h["ac_n_bytes"]
    with open(p, "rb") as fh:
        raw = np.fromfile(fh, dtype=">i4", count=nrows * ncols, offset=offset)
    if raw.size != nrows * ncols:
        raise FileFormatError(f"{p}: truncated phase block ({raw.size} of {nrows * ncols} values)")
    raw = raw.reshape(nrows, ncols)[::-1]  # image order -> y up (a view)
    scale = sign * step_nm
    z = np.empty((nrows, ncols), dtype=np.float64)
    np.multiply(raw, scale, out=z)  # counts -> nm straight into the y-up map
    z[raw >= INVALID_COUNTS] = np.nan
    del raw

    sw = _SOFTWARE.get(h["swinfo_type"], f"Zygo software type {h['swinfo_type']}")
    vers = f"{h['swinfo_vers_maj']}.{h['swinfo_vers_min']}.{h['swinfo_vers_bug']}"
    meta = _policy.base_meta(
        "metropro",
        instrument=f"Zygo (MetroPro system type {h['sys_type']})",
        software=f"{sw} {vers}",
        wavelength_nm=h["wavelength_in"] * 1e9,
        timestamp=_policy.iso_from_unix(h["time_stamp"]),
        z_unit_original="phase counts",
        z_scale_to_nm=scale,
        rows_flipped=True,
        header_format=h["header_format"],
        phase_res=h["phase_res"],
        phase_res_R=r,
        interf_scale_factor=h["intf_scale_factor"],
        obliquity_factor=h["obliquity_factor"],
        sign_inverted=bool(h["sign"]),
        quantisation_step_nm=abs(scale),
        cn_origin_px=(h["cn_org_x"], h["cn_org_y"]),
        camera_size_px=(h["camera_width"], h["camera_height"]),
        has_intensity=h["ac_frames"] > 0,
        comment=h["comment"] or None,
        **lat_meta,
    )
    return HeightMap._adopt(z, dx, dy, meta)


def read_intensity(path: str | os.PathLike[str]) -> np.ndarray:
    """Read the intensity frames of a MetroPro ``.dat`` file.

    Returns
    -------
    ndarray, uint16, shape (n_frames, ac_height, ac_width)
        Raw camera counts, rows flipped to y-up like the height map.

    Raises
    ------
    FileFormatError
        No intensity data, or a corrupt file.
    """
    p = Path(path)
    h = read_header(p)
    nb, rows, cols = h["ac_frames"], h["ac_height"], h["ac_width"]
    if nb == 0:
        raise FileFormatError(f"{p}: the file holds no intensity data")
    with open(p, "rb") as fh:
        raw = np.fromfile(fh, dtype=">u2", count=nb * rows * cols, offset=h["header_size"])
    if raw.size != nb * rows * cols:
        raise FileFormatError(f"{p}: truncated intensity block")
    return np.ascontiguousarray(raw.reshape(nb, rows, cols)[:, ::-1, :].astype(np.uint16))


# -- writer ------------------------------------------------------------------------------------

def _f32(v: float) -> float:
    return float(np.float32(v))


def write_metropro(hm: HeightMap, path: str | os.PathLike[str],
                   wavelength_nm: float | None = None) -> None:
    """Write ``hm`` as a MetroPro ``.dat`` file, header format 1, phase only.

    Parameters
    ----------
    hm : HeightMap
        Square pixels required (MetroPro stores one ``lateral_res``).
    path : path-like
    wavelength_nm : float, optional
        Wavelength stored in the header; default ``hm.meta['wavelength_nm']``,
        else 632.8 nm (noted in the header comment). The heights are exact to
        half a quantisation step whatever the wavelength.

    Raises
    ------
    FileFormatError
        Non-square pixels, too large a map (> 32767 pixels a side), heights
        beyond the int32 range even at the coarsest phase resolution.
    """
    p = Path(path)
    nrows, ncols = hm.shape
    if hm.dx_mm != hm.dy_mm:
        raise FileFormatError("cannot write MetroPro .dat: it stores one lateral resolution; "
                              "this map has "
                              f"dx_mm={hm.dx_mm:g} != dy_mm={hm.dy_mm:g}")
    if nrows > 65535 or ncols > 65535:
        raise FileFormatError(f"cannot write MetroPro .dat: {nrows} x {ncols} exceeds 65535 a side")
    wl = wavelength_nm if wavelength_nm is not None else hm.meta.get("wavelength_nm")
    note = ""
    try:
        wl_m = float(wl) * 1e-9  # type: ignore[arg-type]
    except (TypeError, ValueError):
        wl_m = float("nan")
    if not (math.isfinite(wl_m) and 1e-7 <= wl_m <= 1e-4):
        wl_m, note = 632.8e-9, " (wavelength unknown, 632.8 nm assumed for the count scale)"
    sf = _f32(float(hm.meta.get("interf_scale_factor") or 0.5))
    obl = _f32(float(hm.meta.get("obliquity_factor") or 1.0))
    wl32 = _f32(wl_m)

    z = hm.z_nm[::-1]  # image order
    finite = np.isfinite(z)
    zmax = float(np.max(np.abs(z[finite]))) if finite.any() else 0.0
    chosen = None
    for pr in (2, 1, 0):
        step = _count_to_nm(sf, wl32, obl, PHASE_RES_R[pr])
        if zmax / step + 1.0 < INVALID_COUNTS - 1:
            chosen = (pr, step)
            break
    if chosen is None:
        raise FileFormatError(f"cannot write MetroPro .dat: heights up to {zmax:g} nm exceed "
                              "its int32 range")
    pr, step = chosen
    counts = np.full(z.shape, _INVALID_WRITE, dtype=np.int64)
    counts[finite] = np.rint(z[finite] / step).astype(np.int64)

    hdr = bytearray(834)

    def put(fmt: str, off: int, v: Any) -> None:
        struct.pack_into(fmt, hdr, off, v)

    put(">I", 0, 0x881B036F)
    put(">h", 4, 1)
    put(">i", 6, 834)
    put(">h", 10, 1)
    put("30s", 12, now_utc().strftime("%a %b %d %H:%M:%S %Y").encode())
    put(">H", 68, ncols)
    put(">H", 70, nrows)
    put(">I", 72, 4 * nrows * ncols)
    put(">i", 76, unix_seconds(hm.meta.get("timestamp")))
    put("82s", 80, f"metrology {__version__}{note}".encode("latin-1", "replace")[:81])
    put(">f", 164, sf)
    put(">f", 168, wl32)
    put(">f", 176, obl)
    put(">f", 184, _f32(hm.dx_mm * 1e-3))
    put(">h", 218, pr)
    put(">h", 232, 0)
    put(">h", 234, min(ncols, 32767))
    put(">h", 236, min(nrows, 32767))
    with open(p, "wb") as fh:
        fh.write(bytes(hdr))
        fh.write(counts.astype(">i4").tobytes())


register(Format(
    name="metropro",
    extensions=(".dat",),
    description="Zygo MetroPro binary .dat (header formats 1-3; writes format 1)",
    sniff=sniff,
    read=read_metropro,
    write=write_metropro,
    priority=5,
))
