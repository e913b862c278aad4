"""FRT MicroProf ``.frt`` (FRT / FormFactor MicroProf, MicroGlider): read only.

Layout (public facts: Gwyddion's ``microprof.c``, whose author worked from
FRT's specification, and SurfaceTopography's ``FRT.py``; our own code)
----------------------------------------------------------------------
* Magic ``FRTM_GLIDERV1.00`` or ``FRTM_GLIDERV1.01`` (16 bytes), a uint16
  block count (58 in both public samples, which hold 58 blocks; checked, so
  a copy cut at a block boundary is caught), then the blocks to the end of
  the file: uint16 block type, block size
  (uint32 in version 1.00, uint64 in 1.01), then the block data.
* ``0x0066`` image size: uint32 columns, rows, bits per point (16 or 32).
* ``0x0067`` scan size: float64 x range, y range (metres; spacing = range /
  points), x offset, y offset, y/x factor; uint32 scan direction
  (1 = +x lines, starting at low y).
* ``0x006c`` sensor: uint32 range code, float64 z scale (metres per count).
* ``0x0070`` valid values: uint32 smallest and largest valid raw value.
* ``0x000b`` the topography image (single-image part); ``0x007d`` the
  multi-image part: four uint16 buffer ids, then per image uint32 data type
  (0x4 = topography, 0x2 intensity, ...), columns, rows, bits per point and
  its data. Gwyddion reads 0x007d in preference; its topography image and
  0x000b are the same data (checked on this project's sample).
* Data: row by row, ``columns`` values per row, uint16 (16 bits) or int32
  (32 bits), little-endian; height = raw x z scale.

Invalid points
--------------
Raw values outside [smallest, largest valid] of block ``0x0070`` are
invalid; without that block the value 1, which MicroProf writes for points
without a signal (both peers mask it), is. On this project's sample the
valid range is [5, 65529]: besides the 1s (30.58 %) the last stored row is
all 0 (the measurement-end time of block ``0x0072`` is unset: the scan did
not finish). SurfaceTopography masks only the 1s and so counts that row of
zeros as heights, 79 µm below the surface: RMS 4916 nm, PV 305 214 nm. With
the declared valid range: 30.78 % invalid, RMS 2504.5 nm, PV 304 951 nm.

Orientation
-----------
The first stored row is the *bottom* of the image (lowest y): Gwyddion,
working from FRT's specification, reverses the rows of its top-first
images on import (older versions wrote the rows bottom-up explicitly), and
the scan direction code 1 ("positive x, low y") of the sample says the
first line was scanned at low y. SurfaceTopography keeps the stored order
as image order (first row on top) and so shows FRT files upside down. The
reader keeps the stored rows as y-up (``meta['rows_flipped'] = False``).
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

import numpy as np

from ..heightmap import HeightMap
from ._binread import BinFile, check_heights_nm, check_shape, check_spacing_mm, cstr
from ._registry import Format, register

__all__ = ["read_frt"]

_MAGIC = b"FRTM_GLIDERV"
_MAX_BLOCKS = 1 << 16
_TOPOGRAPHY = 0x4
_TYPE_MASK = 0xFFDF
_SCAN_DIRECTIONS = {
    1: "+x lines from low y", 2: "-x lines from low y", 3: "+y lines from low x",
    4: "-y lines from low x", 5: "+x lines from high y", 6: "-x lines from high y",
    7: "+y lines from high x", 8: "-y lines from high x", 9: "meander, +x from low y",
    10: "meander, +y from low x", 11: "meander, +x from high y", 12: "meander, +y from high x",
}


def _sniff(head: bytes) -> bool:
    return head.startswith(_MAGIC)


def _blocks(bf: BinFile, v101: bool) -> dict[int, tuple[int, int]]:
    """{type: (offset, size)} of the first block of each type."""
    out: dict[int, tuple[int, int]] = {}
    off = 18
    hsize = 10 if v101 else 6
    count = 0
    while off + hsize <= bf.size:
        if v101:
            btype, size = bf.unpack("<HQ", off, "block header")
        else:
            btype, size = bf.unpack("<HI", off, "block header")
        off += hsize
        if size > bf.size - off:
            raise bf.fail(f"block 0x{btype:04x} declares {size} bytes at byte {off}, past the "
                          f"end of the {bf.size}-byte file (truncated or corrupt)")
        out.setdefault(btype, (off, size))
        off += size
        count += 1
        if count > _MAX_BLOCKS:
            raise bf.fail("more than 65536 blocks (corrupt)")
    if off != bf.size:
        raise bf.fail(f"{bf.size - off} stray bytes after the last block (truncated or "
                      "corrupt)")
    (declared,) = bf.unpack("<H", 16, "block count")
    if declared != count:
        raise bf.fail(f"the header declares {declared} blocks, the file holds {count} "
                      "(truncated or corrupt)")
    return out


def _block(bf: BinFile, blocks: dict[int, tuple[int, int]], btype: int, fmt: str,
           what: str, required: bool = True) -> tuple[Any, ...] | None:
    import struct

    if btype not in blocks:
        if required:
            raise bf.fail(f"block 0x{btype:04x} ({what}) is missing")
        return None
    off, size = blocks[btype]
    n = struct.calcsize(fmt)
    if size < n:
        raise bf.fail(f"block 0x{btype:04x} ({what}) has {size} bytes, needs {n}")
    return bf.unpack(fmt, off, f"block 0x{btype:04x} ({what})")


def _images(bf: BinFile, off: int, size: int) -> list[dict[str, int]]:
    """The image table of the multi-image block 0x007d."""
    if size < 8:
        raise bf.fail("multi-image block 0x007d is too short")
    end = off + size
    p = off + 8
    out = []
    while end - p > 16:
        dtype, nx, ny, bpp = bf.unpack("<4I", p, "image header in block 0x007d")
        p += 16
        if bpp not in (16, 32):
            raise bf.fail(f"image {len(out)} of block 0x007d has {bpp} bits per point")
        check_shape(bf, ny, nx, f"image {len(out)} of block 0x007d")
        n = nx * ny * bpp // 8
        if n > end - p:
            raise bf.fail(f"image {len(out)} of block 0x007d needs {n} bytes, the block has "
                          f"{end - p} left (corrupt)")
        out.append({"type": dtype, "nx": nx, "ny": ny, "bpp": bpp, "offset": p})
        p += n
    return out


def read_frt(path: str | Path, *, channel: int | None = None) -> HeightMap:
    """Read the topography of an FRT MicroProf ``.frt`` file.

    Parameters
    ----------
    path : path-like
    channel : int, optional
        Index of the image in the multi-image block to read (default: the
        first topography image there, else the single image ``0x000b``).

    Returns
    -------
    HeightMap
        Heights in nm, stored rows kept as y-up (no flip), spacing in mm.
        ``meta`` adds ``frt_*`` fields (valid range, scan direction, times).

    Raises
    ------
    FileFormatError
        Unknown version, missing size/scale blocks, sizes beyond the file,
        a non-topography channel.
    """
    p = Path(path)
    with open(p, "rb") as fh:
        bf = BinFile(p, fh)
        head = bf.read(0, min(bf.size, 18), "magic")
        if not _sniff(head):
            raise bf.fail("does not start with 'FRTM_GLIDERV'; not an FRT MicroProf file")
        if len(head) < 18:
            raise bf.fail("header truncated")
        version = head[12:16].decode("latin-1")
        if version not in ("1.00", "1.01"):
            raise bf.fail(f"FRT file version {version!r} is not supported (1.00 and 1.01 are)")
        blocks = _blocks(bf, version == "1.01")
        nx0, ny0, bpp0 = _block(bf, blocks, 0x66, "<3I", "image size")
        xrange, yrange, xoff, yoff, yfactor, scandir = _block(bf, blocks, 0x67, "<5dI",
                                                               "scan size")
        meas_range, zscale = _block(bf, blocks, 0x6C, "<Id", "z scale")
        valid = _block(bf, blocks, 0x70, "<2I", "valid values", required=False)
        times = _block(bf, blocks, 0x72, "<3I", "times", required=False)
        images = _images(bf, *blocks[0x7D]) if 0x7D in blocks else []
        if channel is not None:
            if not 0 <= channel < len(images):
                raise bf.fail(f"channel {channel} does not exist; the multi-image block "
                              f"holds {len(images)} images")
            img = images[channel]
            if (img["type"] & _TYPE_MASK) != _TOPOGRAPHY:
                raise bf.fail(f"image {channel} has data type 0x{img['type']:x}, not "
                              "topography (0x4)")
            src = f"image {channel} of block 0x007d"
        else:
            topo = [i for i, im in enumerate(images) if (im["type"] & _TYPE_MASK) == _TOPOGRAPHY]
            if topo:
                img, src = images[topo[0]], f"image {topo[0]} of block 0x007d"
            elif 0x0B in blocks:
                off, size = blocks[0x0B]
                img = {"type": _TOPOGRAPHY, "nx": nx0, "ny": ny0, "bpp": bpp0, "offset": off}
                if bpp0 not in (16, 32):
                    raise bf.fail(f"block 0x0066 declares {bpp0} bits per point")
                check_shape(bf, ny0, nx0, "block 0x000b")
                if size < nx0 * ny0 * bpp0 // 8:
                    raise bf.fail(f"block 0x000b holds {size} bytes, the image size block "
                                  f"declares {nx0} x {ny0} x {bpp0} bits (corrupt)")
                src = "block 0x000b"
            else:
                raise bf.fail("no topography image (block 0x000b or 0x007d)")
        nx, ny, bpp = img["nx"], img["ny"], img["bpp"]
        dt = np.dtype("<u2") if bpp == 16 else np.dtype("<i4")
        raw = bf.array(img["offset"], nx * ny, dt, src).reshape(ny, nx)
        text = cstr(bf.read(*blocks[0x65], "description")) if 0x65 in blocks and \
            blocks[0x65][1] <= 65536 else ""

    if not (abs(zscale) > 0 and np.isfinite(zscale)):
        raise bf.fail(f"z scale {zscale!r} m per count must be non-zero and finite")
    dx = check_spacing_mm(bf, abs(xrange) * 1e3 / nx, "x range / columns")
    dy = check_spacing_mm(bf, abs(yrange) * 1e3 / ny, "y range / rows")
    if valid is not None:
        lo, hi = valid
        if bpp == 32:
            lo, hi = (int(np.array(v, np.uint32).view(np.int32)) for v in (lo, hi))
        bad = (raw < lo) | (raw > hi)
        rule = f"raw values outside the declared valid range [{lo}, {hi}] (block 0x0070)"
    else:
        bad = raw == 1
        rule = "raw value 1 (no block 0x0070)"
    z = raw.astype(np.float64) * (zscale * 1e9)
    z[bad] = np.nan
    check_heights_nm(bf, z, src)
    ts = None
    ended = None
    if times is not None:
        start, end, _dur = times
        try:
            ts = _dt.datetime.fromtimestamp(start, _dt.UTC).replace(tzinfo=None).isoformat()
        except (OverflowError, OSError, ValueError):
            ts = None
        ended = None if end == 0xFFFFFFFF else int(end)
    meta: dict[str, Any] = {
        "format": "frt",
        "instrument": "FRT MicroProf",
        "software": None,
        "wavelength_nm": None,
        "timestamp": ts,
        "z_unit_original": "counts",
        "z_scale_to_nm": zscale * 1e9,
        "rows_flipped": False,
        "frt_row_order": "first stored row = lowest y (kept, no flip)",
        "frt_version": version,
        "frt_channel": src,
        "frt_images": [hex(i["type"]) for i in images],
        "frt_invalid_rule": rule,
        "frt_scan_direction": _SCAN_DIRECTIONS.get(scandir, str(scandir)),
        "frt_offset_mm": (xoff * 1e3, yoff * 1e3),
        "frt_measurement_range_code": meas_range,
        "frt_measurement_end_recorded": None if times is None else ended is not None,
        "frt_description": text or None,
    }
    return HeightMap._adopt(z, dx, dy, meta)


register(Format(
    name="frt",
    extensions=(".frt",),
    description="FRT MicroProf .frt topography (versions 1.00, 1.01; read only)",
    sniff=_sniff,
    read=read_frt,
    write=None,
    instruments=("FRT / FormFactor MicroProf, MicroGlider (chromatic, WLI sensors)",),
))
