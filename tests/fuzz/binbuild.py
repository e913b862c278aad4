"""Byte-level builders of the read-only block-structured formats (opd, plu, al3d, frt,
gwy), packed field by field from the formats' public descriptions, independently of the
readers' code. The fuzz corpus packs its marked map with them (``corpus.PACKERS``), and
the per-format tests their special cases."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np


# --------------------------------------------------------------------------- OPD
def opd_entry(name: str, btype: int, size: int, flags: int = 8) -> bytes:
    return name.encode("latin-1").ljust(16, b"\x00")[:16] + struct.pack("<hIH", btype, size,
                                                                         flags)


def build_opd(columns: np.ndarray, *, elsize: int = 4, wavelength: float = 632.8,
              pixel_mm: float = 0.002, aspect: float | None = 1.25, mult: int | None = None,
              name: str = "RAW_DATA", extra: list[tuple[str, int, bytes]] | None = None,
              nx: int | None = None, ny: int | None = None) -> bytes:
    """``columns``: array (nx, ny): column i holds its ny values, first value first."""
    cnx, cny = columns.shape
    dt = {4: "<f4", 2: "<i2", 1: "u1"}[elsize]
    arr = struct.pack("<HHH", cnx if nx is None else nx, cny if ny is None else ny, elsize) \
        + np.ascontiguousarray(columns, dtype=dt).tobytes()
    blocks: list[tuple[str, int, bytes]] = [(name, 3, arr)]
    blocks.append(("Wavelength", 7, struct.pack("<f", wavelength)))
    blocks.append(("Pixel_size", 7, struct.pack("<f", pixel_mm)))
    if aspect is not None:
        blocks.append(("Aspect", 7, struct.pack("<f", aspect)))
    if mult is not None:
        blocks.append(("Mult", 6, struct.pack("<h", mult)))
    blocks.append(("Date", 5, b"10/26/2009".ljust(12, b"\x00")))
    blocks.append(("Time", 5, b"11:16:55"))
    blocks.append(("Fancy", 15, b"\x12\x01\x03abc"))  # a newer Vision property set
    blocks.append(("Empty", 5, b""))
    blocks += extra or []
    n = len(blocks) + 1
    head = b"\x01\x00" + opd_entry("Directory", 1, 24 * n, 0xFFFF)
    head += b"".join(opd_entry(nm, t, len(d)) for nm, t, d in blocks)
    return head + b"".join(d for _, _, d in blocks)


# --------------------------------------------------------------------------- PLU
def build_plu(rows: np.ndarray, *, mppx: float = 1.66, mppy: float = 1.66, mtype: int = 3,
              nlayers: int = 1, date: bytes = b"Fri Mar 10 16:35:59 2023",
              header_rows: int | None = None, header_cols: int | None = None,
              tail: bytes = b"") -> bytes:
    """``rows``: heights in µm, stored row by row (first row first)."""
    ny, nx = rows.shape
    h = bytearray(500)
    h[0:len(date)] = date
    struct.pack_into("<I", h, 128, 1678462559)
    h[132:138] = b"(None)"
    struct.pack_into("<3I7f", h, 388, ny if header_rows is None else header_rows,
                     nx if header_cols is None else header_cols, nx, 28.2, mppx, mppy,
                     -52.2, -6042.7, mppx, 142.4)
    struct.pack_into("<5I", h, 428, mtype, 3, 0, 14, 3)
    struct.pack_into("<5IdfII", h, 448, ny, nx, ny, nx, 1, 0.06875, 55.6, 23, 0)
    struct.pack_into("<8BI", h, 488, 0, nlayers, 251, 6, 1, 0, 0, 0, 1)
    data = struct.pack("<II", ny, nx) + np.ascontiguousarray(rows, "<f4").tobytes()
    return bytes(h) + data + struct.pack("<ff", -1000001.0, 1000001.0) + tail


# --------------------------------------------------------------------------- AL3D
def al3d_tag(key: str, value: str) -> bytes:
    return key.encode().ljust(20, b"\x00")[:20] + value.encode().ljust(30, b"\x00")[:30] \
        + b"\r\n"


def build_al3d(rows_m: np.ndarray, *, dx_m: str = "4.38027e-07", dy_m: str = "5e-07",
               invalid: str = "nan", pad: bool = True, depth_offset: int | None = None,
               extra_tags: list[tuple[str, str]] | None = None) -> bytes:
    """``rows_m``: heights in metres, stored row by row (first row first), rows padded to
    a multiple of 8 bytes."""
    ny, nx = rows_m.shape
    tags = [("Cols", str(nx)), ("Rows", str(ny)), ("PixelSizeXMeter", dx_m),
            ("PixelSizeYMeter", dy_m), ("InvalidPixelValue", invalid),
            ("NumberOfPlanes", "0"), ("TextureImageOffset", "0"), ("IconOffset", "0"),
            ("CreatingApplication", "test")]
    tags += extra_tags or []
    n_hdr = 17 + 52 * (len(tags) + 1 + 2) + 256  # + DepthImageOffset tag itself
    off = n_hdr if depth_offset is None else depth_offset
    tags.append(("DepthImageOffset", str(off)))
    head = b"AliconaImaging\x00\r\n" + al3d_tag("Version", "1") \
        + al3d_tag("TagCount", str(len(tags)))
    head += b"".join(al3d_tag(k, v) for k, v in tags)
    head += b"\x00" * 256
    head = head.ljust(off, b"\x00")
    stride = (nx * 4 + 7) // 8 * 8 if pad else nx * 4
    body = b"".join(np.ascontiguousarray(r, "<f4").tobytes().ljust(stride, b"\xee")
                    for r in rows_m)
    return head + body


# --------------------------------------------------------------------------- FRT
def frt_block(btype: int, data: bytes, v101: bool = False) -> bytes:
    return struct.pack("<HQ" if v101 else "<HI", btype, len(data)) + data


def build_frt(rows: np.ndarray, *, bpp: int = 16, zscale: float = 1e-8,
              xrange_m: float = 0.012, yrange_m: float = 0.006, valid: tuple[int, int] | None
              = (5, 65529), multi: bool = True, single: bool = True, v101: bool = False,
              start: int = 1678463840, end: int = 0xFFFFFFFF,
              extra: list[tuple[int, bytes]] | None = None) -> bytes:
    """``rows``: raw counts, stored row by row (first row first)."""
    ny, nx = rows.shape
    dt = "<u2" if bpp == 16 else "<i4"
    img = np.ascontiguousarray(rows, dt).tobytes()
    blocks = [(0x65, b"\x00"), (0x66, struct.pack("<3I", nx, ny, bpp)),
              (0x67, struct.pack("<5dI", xrange_m, yrange_m, -0.002, 0.0001, 0.5, 1)),
              (0x6C, struct.pack("<Id", 5, zscale))]
    if single:
        blocks.append((0x0B, img))
    if valid is not None:
        blocks.append((0x70, struct.pack("<2I", *valid)))
    blocks.append((0x72, struct.pack("<3I", start, end, 0xFFFFFFFF)))
    if multi:
        intensity = np.full_like(rows, 7)
        body = struct.pack("<4H", 2, 0, 4, 0)
        body += struct.pack("<4I", 0x4, nx, ny, bpp) + img
        body += struct.pack("<4I", 0x2, nx, ny, bpp) + np.ascontiguousarray(intensity,
                                                                           dt).tobytes()
        blocks.append((0x7D, body))
    blocks += extra or []
    ver = b"1.01" if v101 else b"1.00"
    return b"FRTM_GLIDERV" + ver + struct.pack("<H", len(blocks)) + b"".join(
        frt_block(t, d, v101) for t, d in blocks)


# --------------------------------------------------------------------------- GWY
def gwy_obj(name: str, comps: list[tuple[str, str, Any]]) -> bytes:
    """A serialised object: name NUL, uint32 size, components (name NUL, type, data)."""
    body = b""
    for cname, t, v in comps:
        body += cname.encode() + b"\x00" + t.encode()
        if t == "i":
            body += struct.pack("<i", v)
        elif t == "d":
            body += struct.pack("<d", v)
        elif t == "b":
            body += bytes([1 if v else 0])
        elif t == "s":
            body += v.encode() + b"\x00"
        elif t == "o":
            body += v
        elif t == "D":
            a = np.ascontiguousarray(v, "<f8").ravel()
            body += struct.pack("<I", a.size) + a.tobytes()
        elif t == "S":
            body += struct.pack("<I", len(v)) + b"".join(s.encode() + b"\x00" for s in v)
        else:
            raise ValueError(t)
    return name.encode() + b"\x00" + struct.pack("<I", len(body)) + body


def gwy_unit(u: str) -> bytes:
    return gwy_obj("GwySIUnit", [("unitstr", "s", u)])


def gwy_field(rows: np.ndarray, xreal: float, yreal: float, zunit: str = "m",
              xyunit: str = "m", xres: int | None = None) -> bytes:
    """``rows``: Gwyddion image rows, row 0 first (the top of Gwyddion's image)."""
    ny, nx = rows.shape
    return gwy_obj("GwyDataField", [
        ("xres", "i", nx if xres is None else xres), ("yres", "i", ny),
        ("xreal", "d", xreal), ("yreal", "d", yreal), ("xoff", "d", 1e-6),
        ("si_unit_xy", "o", gwy_unit(xyunit)), ("si_unit_z", "o", gwy_unit(zunit)),
        ("data", "D", rows)])


def build_gwy(channels: list[tuple[int, str, bytes]], masks: dict[int, bytes] | None = None,
              extra: list[tuple[str, str, Any]] | None = None) -> bytes:
    comps: list[tuple[str, str, Any]] = []
    for n, title, field in channels:
        comps.append((f"/{n}/data", "o", field))
        comps.append((f"/{n}/data/title", "s", title))
        comps.append((f"/{n}/base/palette", "s", "Gray"))
    for n, field in (masks or {}).items():
        comps.append((f"/{n}/mask", "o", field))
    comps += extra or []
    return b"GWYP" + gwy_obj("GwyContainer", comps)
