"""ISO 5436-2 ``.x3p``: a zip holding ``main.xml`` and a binary point file.

Reading
-------
* ``main.xml`` may sit at the archive root or in a sub-folder, with or
  without the ``http://www.opengps.eu/2008/ISO5436_2`` namespace; macOS
  resource entries (``__MACOSX/``, ``._*``) are ignored. The data links are
  resolved relative to the folder of ``main.xml``.
* Record1: ``FeatureType`` SUR (surface) or PRF (profile); CX and CY must be
  incremental axes (``AxisType`` I) with ``Increment`` in metres; point
  clouds (PCL, absolute x/y axes) are not height maps and are refused.
* Record3: ``MatrixDimension`` SizeX (points per row), SizeY (rows), SizeZ
  (layers, must be 1); data either in the binary file named by
  ``PointDataLink`` or inline in ``DataList``/``Datum`` elements.
* Data types (little-endian): ``I`` int16, ``L`` int32, ``F`` float32,
  ``D`` float64. Integer heights are ``raw * Increment + Offset`` of the CZ
  axis (metres); float heights are taken as stored (metres), the CZ
  increment being only their resolution.
* The optional valid-points file (``ValidPointsLink``, usually
  ``bindata/valid.bin``: one bit per point, least significant bit first,
  1 = valid) marks invalid points, which become NaN; NaN floats are invalid
  too.
* MD5 checksums of the data file (``MD5ChecksumPointData``), of the valid
  file and of ``main.xml`` (``md5checksum.hex``) are checked; a mismatch is
  reported with :func:`warnings.warn`, not raised (the heights may still be
  right, and the zip's own CRC already guards the bytes).
* Every size is checked before anything is allocated: the member's declared
  uncompressed size must equal SizeX * SizeY * SizeZ * item size, and cannot
  exceed what deflate can expand from the stored bytes.

Orientation
-----------
ISO 5436-2 (current edition) places point (i, j) at x = i * Increment_x,
y = j * Increment_y in a right-handed coordinate system, with the x index
running fastest; entry (0, 0) is the bottom-left corner. Rows of the file are
therefore already y-up: nothing is flipped and ``meta['rows_flipped']`` is
False. Files written to the previous edition had (0, 0) at the top left
(x3ptools offers ``x3p_flip_y`` for them); some writers say so with a
non-standard ``<Origin>`` element in ``Record1/Axes``. The reader follows it:

* ``<Origin>NW</Origin>`` (north-west: (0, 0) at the top left): rows are
  reversed into the y-up frame (``rows_flipped = True``). Evidence on the
  x3ptools bullet-land sample, which carries the tag: x3ptools draws row 0
  at the top (``y = incrementY * (sizeY:1)`` in ``x3p_image``); the file's
  own mask image (``bindata/mask.png``, an ordinary top-row-first PNG of the
  same size) marks the "break-off" at the bottom of the land in its last 52
  rows, and exactly those stored rows hold the missing data (43 % invalid
  inside the marked region with the rows as stored, 0.8 % if they were
  reversed).
* ``SW`` (south-west, the current standard's bottom left) or no tag: rows as
  stored.
* Any other value (NE, SE, ...): refused unless ``origin="ignore"`` (read as
  the standard says) is passed; ``meta['x3p_origin_tag']`` keeps the text.

Sniffing
--------
The registry hands a sniffer only the first 4096 bytes. An x3p is a zip, and
so are other formats, so zip magic alone would claim every zip. The sniffer
therefore answers True only for zip magic *and* a local-file-header name
ending in ``main.xml`` inside those bytes (true for writers that store
``main.xml`` first, ours included). Other x3p files are still found through
the ``.x3p`` extension fallback of the registry, and an unrelated zip named
``.x3p`` fails in the reader with a clear "no main.xml" message.

Writing
-------
:func:`write_x3p` writes ``main.xml`` (namespaced), ``bindata/data.bin`` as
``D`` (float64, default) or ``F`` (float32) in metres, ``md5checksum.hex``,
and ``bindata/valid.bin`` when the map has NaNs (the data file then holds NaN
at those points as well). Lateral increments are written as exact decimal
text, so spacing reads back bit-exact; heights go through the nm -> m -> nm
conversion and read back to within 1 ulp.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import math
import posixpath
import warnings
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FileFormatError
from ..heightmap import HeightMap
from . import _policy, _zip
from ._policy import decimal_scaled, decimal_text
from ._registry import Format, register
from ._time import now_utc, source_date_epoch

__all__ = ["read_x3p", "write_x3p"]

_NS = "http://www.opengps.eu/2008/ISO5436_2"
_DTYPES = {"I": np.dtype("<i2"), "L": np.dtype("<i4"), "F": np.dtype("<f4"), "D": np.dtype("<f8")}
_MAX_XML_BYTES = 16 * 2**20  # ElementTree holds ~10-20 bytes per byte of XML


def _sniff(head: bytes) -> bool:
    if not head.startswith(b"PK\x03\x04"):
        return False
    # local file headers: signature, then the name at offset 30
    pos = 0
    while 0 <= pos < len(head) - 30:
        if head[pos:pos + 4] != b"PK\x03\x04":
            break
        n = int.from_bytes(head[pos + 26:pos + 28], "little")
        extra = int.from_bytes(head[pos + 28:pos + 30], "little")
        comp_size = int.from_bytes(head[pos + 18:pos + 22], "little")
        name = head[pos + 30:pos + 30 + n]
        if name.lower().endswith(b"main.xml") and not _is_junk(name.decode("latin-1")):
            return True
        flags = int.from_bytes(head[pos + 6:pos + 8], "little")
        if flags & 0x08:  # sizes in a trailing data descriptor: cannot walk further
            break
        pos += 30 + n + extra + comp_size
    return False


def _is_junk(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return parts[0] == "__MACOSX" or parts[-1].startswith("._")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _child(el: ET.Element | None, *names: str) -> ET.Element | None:
    for name in names:
        if el is None:
            return None
        el = next((c for c in el if _local(c.tag) == name), None)
    return el


def _text(el: ET.Element | None, *names: str) -> str | None:
    c = _child(el, *names)
    if c is None or c.text is None or not c.text.strip():
        return None
    return c.text.strip()


def _fail(path: Path, msg: str) -> FileFormatError:
    return FileFormatError(f"{path}: {msg}")


def _find_main_xml(zf: zipfile.ZipFile, path: Path) -> zipfile.ZipInfo:
    cands = [i for i in zf.infolist()
             if not i.is_dir() and not _is_junk(i.filename)
             and posixpath.basename(i.filename.replace("\\", "/")).lower() == "main.xml"]
    if not cands:
        raise _fail(path, "no main.xml in the archive; not an ISO 5436-2 x3p file")
    depth = min(i.filename.count("/") for i in cands)
    top = [i for i in cands if i.filename.count("/") == depth]
    if len(top) > 1:
        raise _fail(path, "several main.xml files at the same folder depth: "
                    + ", ".join(i.filename for i in top))
    return top[0]


def _member(zf: zipfile.ZipFile, base: str, link: str, path: Path) -> zipfile.ZipInfo:
    link = link.replace("\\", "/").lstrip("/")
    want = [posixpath.normpath(posixpath.join(base, link)), posixpath.normpath(link)]
    names = {i.filename: i for i in zf.infolist()}
    for w in want:
        if w in names:
            return names[w]
    lower = {k.lower(): v for k, v in names.items()}
    for w in want:
        if w.lower() in lower:
            return lower[w.lower()]
    raise _fail(path, f"main.xml links to {link!r}, which is not in the archive")


def _check_member_size(info: zipfile.ZipInfo, expected: int | None, archive_size: int,
                       path: Path, what: str) -> None:
    if expected is not None and info.file_size != expected:
        raise _fail(path, f"{what} {info.filename!r} holds {info.file_size} bytes but main.xml "
                    f"declares {expected} (size mismatch: truncated or corrupt)")
    _zip.check_member(path, info, what, archive_size)


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> bytes:
    return _zip.read_bytes(zf, info, path)


def _md5_check(data: bytes, expected: str | None, path: Path, what: str) -> bool | None:
    return _md5_check_digest(hashlib.md5(data).hexdigest(), expected, path, what)


def _md5_check_digest(got: str | None, expected: str | None, path: Path,
                      what: str) -> bool | None:
    if not expected or got is None:
        return None
    if got.lower() != expected.strip().lower():
        warnings.warn(f"{path}: MD5 checksum of {what} does not match (file says "
                      f"{expected.strip()}, data give {got}); the data may be corrupt",
                      UserWarning, stacklevel=3)
        return False
    return True


def _int(text: str | None, what: str, path: Path) -> int:
    if text is None:
        raise _fail(path, f"main.xml lacks {what}")
    try:
        v = int(text)
    except ValueError:
        raise _fail(path, f"main.xml {what} = {text!r} is not an integer") from None
    if v <= 0:
        raise _fail(path, f"main.xml {what} = {v} must be positive")
    return v


def read_x3p(path: str | Path, *, origin: str = "auto") -> HeightMap:
    """Read an ISO 5436-2 ``.x3p`` surface.

    Parameters
    ----------
    path : path-like
    origin : {'auto', 'ignore'}
        'auto' follows a non-standard ``<Origin>`` tag (NW: rows reversed; SW
        or none: as stored; others refused); 'ignore' reads every file as the
        standard says ((0, 0) bottom left).

    Returns
    -------
    HeightMap
        Heights in nm, shape (SizeY, SizeX), spacing in mm, y-up rows (no flip
        unless the file says its origin is NW; see the module docstring).
        ``meta`` holds the common keys plus
        ``x3p_*`` extras (data type, z increment/offset, checksum results,
        creator, comment, probing system, origin tag).

    Raises
    ------
    FileFormatError
        Not a zip, no main.xml, unsupported feature or data type, sizes that
        disagree, truncated or corrupt members.

    Warns
    -----
    UserWarning
        When an MD5 checksum does not match.
    """
    if origin not in ("auto", "ignore"):
        raise FileFormatError(f"origin must be 'auto' or 'ignore', got {origin!r}")
    p = Path(path)
    archive_size = p.stat().st_size
    zf = _zip.open_zip(p, "an x3p file")
    with zf:
        minfo = _find_main_xml(zf, p)
        if minfo.file_size > _MAX_XML_BYTES:
            raise _fail(p, f"main.xml claims {minfo.file_size} bytes; refusing (corrupt?)")
        _check_member_size(minfo, None, archive_size, p, "main.xml")
        xml_bytes = _read_member(zf, minfo, p)
        if b"<!DOCTYPE" in xml_bytes or b"<!ENTITY" in xml_bytes:
            raise _fail(p, "main.xml declares a DTD or entities, which ISO 5436-2 files do not "
                        "use (entity expansion, external entities); refused")
        try:
            root = ET.fromstring(xml_bytes)
        except ET.ParseError as exc:
            raise _fail(p, f"main.xml is not well-formed XML ({exc})") from exc
        if not _local(root.tag).startswith("ISO5436"):
            raise _fail(p, f"main.xml root element is {_local(root.tag)!r}, not ISO5436_2")
        base = posixpath.dirname(minfo.filename)
        meta = _parse_meta(root, p)

        r1 = _child(root, "Record1")
        r3 = _child(root, "Record3")
        if r1 is None or r3 is None:
            raise _fail(p, "main.xml lacks Record1 or Record3")
        feature = (_text(r1, "FeatureType") or "SUR").upper()
        if feature == "PCL":
            raise _fail(p, "FeatureType PCL (point cloud) is not a height map; not supported")
        if feature not in ("SUR", "PRF"):
            raise _fail(p, f"unsupported FeatureType {feature!r} (expected SUR or PRF)")
        axes = _child(r1, "Axes")
        spacing: dict[str, float | None] = {}
        for ax in ("CX", "CY"):
            a = _child(axes, ax)
            if a is None:
                raise _fail(p, f"main.xml lacks Record1/Axes/{ax}")
            atype = (_text(a, "AxisType") or "I").upper()
            if atype != "I":
                raise _fail(p, f"axis {ax} has AxisType {atype!r}: explicit coordinates (point "
                            "cloud) are not supported, only incremental axes")
            inc = _text(a, "Increment")
            spacing[ax] = None if inc is None else decimal_scaled(inc, 3, f"{ax} Increment")
        cz = _child(axes, "CZ")
        if cz is None:
            raise _fail(p, "main.xml lacks Record1/Axes/CZ")
        dtype_code = (_text(cz, "DataType") or "").upper()
        if dtype_code not in _DTYPES:
            raise _fail(p, f"unsupported CZ DataType {dtype_code!r} (expected I, L, F or D)")
        dtype = _DTYPES[dtype_code]
        z_inc_txt = _text(cz, "Increment")
        z_off_txt = _text(cz, "Offset")
        meta["x3p_origin_tag"] = _text(axes, "Origin")
        meta["x3p_has_rotation"] = _child(axes, "Rotation") is not None

        dims = _child(r3, "MatrixDimension")
        nx = _int(_text(dims, "SizeX"), "MatrixDimension/SizeX", p)
        ny = _int(_text(dims, "SizeY"), "MatrixDimension/SizeY", p)
        nz = _int(_text(dims, "SizeZ") or "1", "MatrixDimension/SizeZ", p)
        if nz != 1:
            raise _fail(p, f"SizeZ = {nz}: multi-layer x3p files are not height maps")
        n = nx * ny * nz

        link = _child(r3, "DataLink")
        dlist = _child(r3, "DataList")
        valid: np.ndarray | None = None
        if link is not None:
            data_link = _text(link, "PointDataLink")
            if data_link is None:
                raise _fail(p, "Record3/DataLink lacks PointDataLink")
            dinfo = _member(zf, base, data_link, p)
            _zip.check_member(p, dinfo, "point data", archive_size, (ny, nx), dtype.itemsize)
            stored = np.empty(n, dtype=dtype)
            digest = _zip.read_into(zf, dinfo, p, stored, md5=True)
            meta["x3p_md5_data_ok"] = _md5_check_digest(
                digest, _text(link, "MD5ChecksumPointData"), p, f"point data {dinfo.filename!r}")
            if dtype == np.dtype("<f8") and np.little_endian:
                raw = stored  # converted in place below
            else:
                raw = stored.astype(np.float64)
                del stored
            vlink = _text(r3, "ValidPointsLink") or _text(link, "ValidPointsLink")
            vmd5 = _text(r3, "MD5ChecksumValidPoints") or _text(link, "MD5ChecksumValidPoints")
            if vlink is not None:
                vinfo = _member(zf, base, vlink, p)
                need = (n + 7) // 8
                _check_member_size(vinfo, None, archive_size, p, "valid-points mask")
                if vinfo.file_size < need:
                    raise _fail(p, f"valid-points mask {vinfo.filename!r} has {vinfo.file_size} "
                                f"bytes, {need} needed for {n} points (truncated)")
                if vinfo.file_size > need + 8:
                    raise _fail(p, f"valid-points mask {vinfo.filename!r} has {vinfo.file_size} "
                                f"bytes, expected {need} for {n} points")
                vbytes = _read_member(zf, vinfo, p)
                meta["x3p_md5_valid_ok"] = _md5_check(vbytes, vmd5, p,
                                                      f"valid mask {vinfo.filename!r}")
                bits = np.unpackbits(np.frombuffer(vbytes, np.uint8), bitorder="little")
                valid = bits[:n].astype(bool)
        elif dlist is not None:
            raw, valid = _parse_datalist(dlist, n, p)
        else:
            raise _fail(p, "Record3 has neither DataLink nor DataList")

        r4 = _child(root, "Record4")
        cfile = _text(r4, "ChecksumFile")
        meta["x3p_md5_main_ok"] = None
        if cfile is not None:
            try:
                cinfo = _member(zf, base, cfile, p)
            except FileFormatError:
                cinfo = None
            if cinfo is not None and cinfo.file_size < 4096:
                ctext = _read_member(zf, cinfo, p).decode("latin-1").strip()
                if ctext:
                    meta["x3p_md5_main_ok"] = _md5_check(xml_bytes, ctext.split()[0], p,
                                                         "main.xml")

    if dtype.kind in "iu":
        z_inc = decimal_scaled(z_inc_txt, 9, "CZ Increment") if z_inc_txt else 1e9
        z_off = decimal_scaled(z_off_txt, 9, "CZ Offset") if z_off_txt else 0.0
        if not (math.isfinite(z_inc) and z_inc != 0):
            raise _fail(p, f"CZ Increment {z_inc_txt!r} must be non-zero for integer data")
        _policy.check_range("z_scale_nm", z_inc, p, "CZ Increment (nm)", absolute=True)
        scale = z_inc
    else:
        scale = 1e9
        z_off = 0.0
    z_nm = raw  # in place: no second copy of the map
    with np.errstate(over="raise", invalid="ignore"):
        try:
            z_nm *= scale
            if z_off:
                z_nm += z_off
        except FloatingPointError:
            raise _fail(p, "heights overflow when scaled to nm; corrupt data") from None
    if valid is not None:
        z_nm[~valid] = np.nan
    z_nm = z_nm.reshape(ny, nx)

    dx = spacing["CX"]
    dy = spacing["CY"]
    if dx is None or not (math.isfinite(dx) and dx > 0):
        raise _fail(p, f"CX Increment must be a positive spacing, got {dx!r}")
    if dy is None or not (math.isfinite(dy) and dy > 0):
        if ny == 1:
            dy = dx
            meta["x3p_note"] = "profile without a y increment: dy set to dx"
        else:
            raise _fail(p, f"CY Increment must be a positive spacing, got {dy!r}")
    tag = (meta.get("x3p_origin_tag") or "").strip().upper()
    flip = False
    if origin == "auto" and tag not in ("", "SW"):
        if tag != "NW":
            raise _fail(p, f"main.xml gives a non-standard <Origin>{tag}</Origin>; only NW "
                        "(rows from the top) and SW (the standard's bottom left) are "
                        "understood. Pass origin='ignore' to read the rows as the standard "
                        "places them")
        z_nm = z_nm[::-1]
        flip = True
    meta.update(
        format="x3p",
        z_unit_original="m",
        z_scale_to_nm=scale,
        rows_flipped=flip,
        x3p_row_order=("<Origin>NW: row 0 at the top; reversed to y-up" if flip else
                       "ISO 5436-2: (0, 0) at the bottom left; as stored"),
        x3p_feature_type=feature,
        x3p_data_type=dtype_code,
        x3p_z_increment=z_inc_txt,
        x3p_z_offset=z_off_txt,
        x3p_z_offset_applied_nm=z_off,
        x3p_storage="DataLink" if link is not None else "DataList",
    )
    return HeightMap._adopt(np.ascontiguousarray(z_nm), dx, dy, meta)


def _parse_datalist(dlist: ET.Element, n: int, path: Path) -> tuple[np.ndarray, np.ndarray]:
    data = [c for c in dlist if _local(c.tag) == "Datum"]
    if len(data) != n:
        raise _fail(path, f"DataList holds {len(data)} Datum elements, MatrixDimension "
                    f"declares {n}")
    out = np.full(n, np.nan)
    for k, d in enumerate(data):
        t = (d.text or "").strip()
        if t:
            try:
                out[k] = float(t.split(";")[-1])
            except ValueError:
                raise _fail(path, f"DataList Datum {k} = {t!r} is not a number") from None
    return out, np.isfinite(out)


def _parse_meta(root: ET.Element, path: Path) -> dict[str, Any]:
    r2 = _child(root, "Record2")
    inst = _child(r2, "Instrument")
    parts = [_text(inst, "Manufacturer"), _text(inst, "Model")]
    instrument = " ".join(x for x in parts if x and x.lower() != "not available") or None
    serial = _text(inst, "Serial")
    if instrument and serial and serial.lower() != "not available":
        instrument += f" (serial {serial})"
    date = _text(r2, "Date")
    ts = None
    if date:
        try:
            ts = _dt.datetime.fromisoformat(date.replace("Z", "+00:00")).isoformat()
        except ValueError:
            ts = None
    return {
        "instrument": instrument,
        "software": None,
        "wavelength_nm": None,
        "timestamp": ts,
        "x3p_date": date,
        "x3p_creator": _text(r2, "Creator"),
        "x3p_comment": _text(r2, "Comment"),
        "x3p_instrument_version": _text(inst, "Version"),
        "x3p_calibration_date": _text(r2, "CalibrationDate"),
        "x3p_probing_system": _text(r2, "ProbingSystem", "Type"),
        "x3p_probe_identification": _text(r2, "ProbingSystem", "Identification"),
    }


def _esc(s: Any) -> str:
    return (str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def write_x3p(hm: HeightMap, path: str | Path, *, dtype: str = "D",
              creator: str | None = None, comment: str | None = None) -> None:
    """Write ``hm`` as an ISO 5436-2 ``.x3p`` file.

    Parameters
    ----------
    hm : HeightMap
        Heights in nm (written in metres), y-up rows (written as stored).
    path : path-like
    dtype : {'D', 'F'}
        float64 (default, lossless up to the nm -> m rounding) or float32.
    creator, comment : str, optional
        Record2 Creator and Comment (default: ``metrology`` and the source).
    """
    code = dtype.upper()
    if code not in ("D", "F"):
        raise FileFormatError(f"x3p writer supports dtype 'D' or 'F', got {dtype!r}")
    z_m = (hm.z_nm / 1e9).astype(_DTYPES[code])
    valid = hm.valid
    data_bytes = z_m.tobytes(order="C")
    has_invalid = not bool(valid.all())
    ny, nx = hm.shape
    meta = hm.meta
    inst = str(meta.get("instrument") or "unknown")
    now = now_utc().replace(microsecond=0).isoformat()
    ts = meta.get("timestamp") or now
    cal = meta.get("x3p_calibration_date")  # never invent a calibration date
    cal_xml = f"    <CalibrationDate>{_esc(cal)}</CalibrationDate>\n" if cal else ""
    if has_invalid:
        vbytes = np.packbits(valid.ravel(), bitorder="little").tobytes()
        valid_xml = ("\n      <ValidPointsLink>bindata/valid.bin</ValidPointsLink>"
                     f"\n      <MD5ChecksumValidPoints>{hashlib.md5(vbytes).hexdigest()}"
                     "</MD5ChecksumValidPoints>")
    else:
        vbytes = b""
        valid_xml = ""
    xml = f"""<?xml version="1.0" encoding="UTF-8" standalone="no" ?>
<p:ISO5436_2 xmlns:p="{_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <Record1>
    <Revision>ISO5436 - 2000</Revision>
    <FeatureType>SUR</FeatureType>
    <Axes>
      <CX>
        <AxisType>I</AxisType>
        <DataType>D</DataType>
        <Increment>{decimal_text(hm.dx_mm, -3)}</Increment>
        <Offset>0</Offset>
      </CX>
      <CY>
        <AxisType>I</AxisType>
        <DataType>D</DataType>
        <Increment>{decimal_text(hm.dy_mm, -3)}</Increment>
        <Offset>0</Offset>
      </CY>
      <CZ>
        <AxisType>A</AxisType>
        <DataType>{code}</DataType>
        <Increment>1</Increment>
        <Offset>0</Offset>
      </CZ>
    </Axes>
  </Record1>
  <Record2>
    <Date>{_esc(ts)}</Date>
    <Creator>{_esc(creator or 'metrology')}</Creator>
    <Instrument>
      <Manufacturer>{_esc(inst)}</Manufacturer>
      <Model>not available</Model>
      <Serial>not available</Serial>
      <Version>not available</Version>
    </Instrument>
{cal_xml}    <ProbingSystem>
      <Type>NonContacting</Type>
      <Identification>unknown</Identification>
    </ProbingSystem>
    <Comment>{_esc(comment or meta.get('source') or 'written by metrology')}</Comment>
  </Record2>
  <Record3>
    <MatrixDimension>
      <SizeX>{nx}</SizeX>
      <SizeY>{ny}</SizeY>
      <SizeZ>1</SizeZ>
    </MatrixDimension>
    <DataLink>
      <PointDataLink>bindata/data.bin</PointDataLink>
      <MD5ChecksumPointData>{hashlib.md5(data_bytes).hexdigest()}</MD5ChecksumPointData>{valid_xml}
    </DataLink>
  </Record3>
  <Record4>
    <ChecksumFile>md5checksum.hex</ChecksumFile>
  </Record4>
</p:ISO5436_2>
"""
    xml_bytes = xml.encode("utf-8")
    epoch = source_date_epoch()

    def entry(name: str) -> str | zipfile.ZipInfo:
        if epoch is None:
            return name
        # reproducible output: every entry dated SOURCE_DATE_EPOCH, ordinary permissions
        t = _dt.datetime.fromtimestamp(max(epoch, 315532800), _dt.UTC)  # zip dates >= 1980
        zi = zipfile.ZipInfo(name, date_time=(t.year, t.month, t.day, t.hour, t.minute,
                                              t.second))
        zi.compress_type = zipfile.ZIP_DEFLATED
        zi.external_attr = 0o644 << 16
        zi.create_system = 3
        return zi

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(entry("main.xml"), xml_bytes)
        zf.writestr(entry("md5checksum.hex"),
                    f"{hashlib.md5(xml_bytes).hexdigest()} *main.xml\n")
        zf.writestr(entry("bindata/data.bin"), data_bytes)
        if has_invalid:
            zf.writestr(entry("bindata/valid.bin"), vbytes)


register(Format(
    name="x3p",
    extensions=(".x3p",),
    description="ISO 5436-2 x3p (zip + main.xml + binary points; valid mask, MD5 checked)",
    sniff=_sniff,
    read=read_x3p,
    write=write_x3p,
))
