"""Alicona Imaging ``.al3d`` (InfiniteFocus, MeasureSuite): read only.

Layout (public facts: Gwyddion's ``alicona.c``, SurfaceTopography's
``AL3D.py``; our own code)
------------------------------------------------------------------------
* Magic ``AliconaImaging\\x00\\r\\n`` (17 bytes), then tags of 52 bytes each:
  key (20 bytes, NUL-padded), value (30 bytes, NUL-padded text), ``\\r\\n``.
  The first tag is ``Version``, the second ``TagCount`` (the number of tags
  that follow); then a 256-byte comment.
* Tags used: ``Cols``, ``Rows``, ``PixelSizeXMeter``, ``PixelSizeYMeter``
  (metres), ``DepthImageOffset`` (byte offset of the depth image),
  ``InvalidPixelValue`` (NaN or a number), ``NumberOfPlanes``,
  ``TextureImageOffset``, ``IconOffset``.
* The depth image: ``Rows`` rows of ``Cols`` float32 heights in metres,
  little-endian, each row (the last one too: the file must hold them all)
  padded to a multiple of 8 bytes. Invalid points
  are NaN or equal (as float32) to ``InvalidPixelValue``.

Orientation
-----------
Rows are stored top row first (image order): Gwyddion puts stored row i at
image row i, SurfaceTopography keeps the stored order as image order
(transposed), and the texture planes that share the grid are ordinary
top-first images. No Alicona documentation is public. The reader reverses
the rows into the y-up frame (``meta['rows_flipped'] = True``).
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np

from ..heightmap import HeightMap
from ._binread import BinFile, check_heights_nm, check_shape, check_spacing_mm, cstr
from ._registry import Format, register

__all__ = ["read_al3d"]

_MAGIC = b"AliconaImaging\x00\r\n"
_TAG = 52
_COMMENT = 256
_MAX_TAGS = 4096


def _sniff(head: bytes) -> bool:
    return head.startswith(_MAGIC)


def _tag(bf: BinFile, offset: int) -> tuple[str, str]:
    b = bf.read(offset, _TAG, "tag")
    if b[50:52] != b"\r\n":
        raise bf.fail(f"the tag at byte {offset} does not end in CR LF (corrupt header)")
    return cstr(b[:20]), cstr(b[20:50])


def _int(bf: BinFile, tags: dict[str, str], key: str, default: int | None = None) -> int:
    if key not in tags:
        if default is None:
            raise bf.fail(f"header tag {key!r} is missing")
        return default
    try:
        return int(tags[key])
    except ValueError:
        raise bf.fail(f"header tag {key} = {tags[key]!r} is not an integer") from None


def _metres_to_mm(bf: BinFile, tags: dict[str, str], key: str) -> float:
    if key not in tags:
        raise bf.fail(f"header tag {key!r} is missing")
    try:
        d = Decimal(tags[key])
    except InvalidOperation:
        raise bf.fail(f"header tag {key} = {tags[key]!r} is not a number") from None
    if not d.is_finite():
        raise bf.fail(f"header tag {key} = {tags[key]!r} is not finite")
    return check_spacing_mm(bf, abs(float(d.scaleb(3))), key)


def read_al3d(path: str | Path) -> HeightMap:
    """Read the depth image of an Alicona ``.al3d`` file.

    Returns
    -------
    HeightMap
        Heights in nm, shape (Rows, Cols), rows flipped to y-up, spacing in
        mm. ``meta`` adds the header tags (``al3d_tags``) and the comment.

    Raises
    ------
    FileFormatError
        Wrong magic, malformed tags, missing size or spacing tags, a depth
        image that does not fit in the file.
    """
    p = Path(path)
    with open(p, "rb") as fh:
        bf = BinFile(p, fh)
        if not _sniff(bf.read(0, min(bf.size, len(_MAGIC)), "magic")):
            raise bf.fail("does not start with 'AliconaImaging'; not an Alicona .al3d file")
        k, version = _tag(bf, len(_MAGIC))
        if k != "Version":
            raise bf.fail(f"the first tag is {k!r}, expected 'Version'")
        k, count = _tag(bf, len(_MAGIC) + _TAG)
        if k != "TagCount":
            raise bf.fail(f"the second tag is {k!r}, expected 'TagCount'")
        try:
            ntags = int(count)
        except ValueError:
            raise bf.fail(f"TagCount = {count!r} is not an integer") from None
        if not 0 <= ntags <= _MAX_TAGS:
            raise bf.fail(f"TagCount = {ntags} is not plausible")
        tags: dict[str, str] = {"Version": version, "TagCount": count}
        off = len(_MAGIC) + 2 * _TAG
        for _ in range(ntags):
            k, v = _tag(bf, off)
            tags.setdefault(k, v)
            off += _TAG
        comment = cstr(bf.read(off, _COMMENT, "comment")) if off + _COMMENT <= bf.size \
            else ""
        header_end = off + _COMMENT
        cols, rows = _int(bf, tags, "Cols"), _int(bf, tags, "Rows")
        check_shape(bf, rows, cols, "depth image")
        dx = _metres_to_mm(bf, tags, "PixelSizeXMeter")
        dy = _metres_to_mm(bf, tags, "PixelSizeYMeter")
        depth = _int(bf, tags, "DepthImageOffset", 0)
        if depth == 0:
            raise bf.fail("DepthImageOffset is 0: the file holds no depth image")
        if depth < header_end:
            raise bf.fail(f"DepthImageOffset {depth} lies inside the header (ends at byte "
                          f"{header_end}); corrupt")
        stride = (cols * 4 + 7) // 8 * 8
        bf.need(depth, rows * stride, "depth image (rows padded to 8 bytes)")
        buf = bf.read(depth, (rows - 1) * stride + cols * 4, "depth image")
        texture = _int(bf, tags, "TextureImageOffset", 0)
        planes = _int(bf, tags, "NumberOfPlanes", 0)
        if texture and planes:  # texture planes of one byte per pixel, rows padded to 8
            if planes > 64:
                raise bf.fail(f"NumberOfPlanes = {planes} is not plausible (corrupt)")
            bf.need(texture, planes * rows * ((cols + 7) // 8 * 8), "texture planes")
    raw = np.lib.stride_tricks.as_strided(
        np.frombuffer(buf, "<f4"), shape=(rows, cols), strides=(stride, 4),
        writeable=False) if stride != cols * 4 else np.frombuffer(buf, "<f4").reshape(rows,
                                                                                      cols)
    bad = ~np.isfinite(raw)
    inv_txt = tags.get("InvalidPixelValue", "nan")
    try:
        inv = float(inv_txt)
    except ValueError:
        raise bf.fail(f"InvalidPixelValue = {inv_txt!r} is not a number") from None
    if math.isfinite(inv):
        bad |= raw == np.float32(inv)
    z = raw.astype(np.float64) * 1e9
    z[bad] = np.nan
    z = z[::-1].copy()
    check_heights_nm(bf, z, "depth image")
    meta: dict[str, Any] = {
        "format": "al3d",
        "instrument": "Alicona InfiniteFocus (focus variation)",
        "software": tags.get("CreatingApplication") or None,
        "wavelength_nm": None,
        "timestamp": None,
        "z_unit_original": "m",
        "z_scale_to_nm": 1e9,
        "rows_flipped": True,
        "al3d_row_order": "stored top row first (image order); reversed to y-up",
        "al3d_version": version,
        "al3d_invalid_value": inv_txt,
        "al3d_tags": {k: v for k, v in tags.items() if k not in ("DirSpacer", "PlaceHolder")},
        "al3d_comment": comment or None,
    }
    return HeightMap._adopt(z, dx, dy, meta)


register(Format(
    name="al3d",
    extensions=(".al3d",),
    description="Alicona Imaging .al3d depth image (read only)",
    sniff=_sniff,
    read=read_al3d,
    write=None,
    instruments=("Alicona InfiniteFocus / G4 / G5 (focus variation)", "MeasureSuite"),
))
