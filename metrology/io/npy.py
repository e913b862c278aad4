"""NumPy ``.npz`` (self-describing) and bare ``.npy`` height maps.

``.npz`` (format name ``npz``), as written by :func:`write_npz`: members
``z_nm`` (float64, shape (nrows, ncols), NaN invalid, rows already in the
CONVENTIONS.md orientation: row 0 at the bottom, y up), ``dx_mm``, ``dy_mm``
(0-d float64) and ``meta`` (0-d unicode: the map's ``meta`` as JSON).
``z_nm`` is written first so that the archive can be recognised from its first
bytes. Reading restores ``meta``; the keys that describe *this* read
(``format``, ``rows_flipped``, ``z_unit_original``, ``z_scale_to_nm``) are set
anew and their stored values kept under ``meta['npz_stored']``.

``.npy`` (format name ``npy``): a bare 2-D array carries no spacing and no
unit. Reading needs ``dx_mm=`` (``dy_mm=`` for non-square pixels); without it
the reader raises :class:`FileFormatError` instead of guessing. Heights are
taken as nm unless ``z_unit=`` says otherwise (``'nm'``, ``'um'``, ``'mm'``,
``'m'``), and rows as already y-up (``rows_flipped = False``); pass
``flip_rows=True`` for an array in image order. :func:`write_npy` writes
``z_nm`` alone (spacing and meta are lost: use ``.npz`` to keep them).

Safety: ``allow_pickle=False`` always; array headers are parsed and their
declared sizes checked against the bytes present before any allocation; zip
CRCs catch corrupted archives.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..errors import FileFormatError
from ..heightmap import HeightMap
from . import _policy, _zip
from ._registry import Format, register

__all__ = ["read_npz", "read_npy", "write_npz", "write_npy"]

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"
#: dx_mm, dy_mm and meta members are small; more than this is a corrupt size
_MAX_SMALL_MEMBER = 16 * 2**20
#: standard keys describing one read; stored copies go to meta['npz_stored']
_READ_KEYS = ("format", "rows_flipped", "z_unit_original", "z_scale_to_nm", "source")


def sniff_npy(head: bytes) -> bool:
    """True for the ``.npy`` magic string."""
    return head[:6] == NPY_MAGIC


def sniff_npz(head: bytes) -> bool:
    """True for a zip whose first member is ``z_nm.npy`` (the layout :func:`write_npz` writes)."""
    if head[:4] != ZIP_MAGIC or len(head) < 30:
        return False
    n = int.from_bytes(head[26:28], "little")
    return head[30:30 + n] == b"z_nm.npy"


def _read_array(fp: IO[bytes], avail: int, where: str, *, stored: int | None = None,
                codec: str = "none") -> np.ndarray:
    """Read one .npy stream after checking its header against ``avail`` decoded bytes and the
    reader limits (``stored`` compressed bytes of ``codec``), into one new array."""
    try:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
        else:
            raise FileFormatError(f"{where}: unsupported .npy version {version}")
    except FileFormatError:
        raise
    except Exception as exc:  # noqa: BLE001 - ValueError / EOFError from a bad header
        raise FileFormatError(f"{where}: bad .npy header ({exc})") from exc
    if dtype.hasobject:
        raise FileFormatError(f"{where}: holds Python objects ({dtype}); refusing to unpickle")
    header_len = fp.tell()
    n = math.prod(shape)
    need = n * dtype.itemsize
    if need > avail - header_len:
        raise FileFormatError(f"{where}: header declares {shape} x {dtype} = {need} bytes, only "
                              f"{max(avail - header_len, 0)} present; truncated or corrupt")
    if n > 1:
        _policy.check_map_size(where, "the array", shape, dtype.itemsize,
                               stored=need if stored is None else stored, codec=codec)
    arr = np.empty(shape, dtype=dtype, order="F" if fortran else "C")
    view = memoryview(arr.reshape(-1, order="A")).cast("B") if arr.size else memoryview(b"")
    pos = 0
    try:
        while pos < need:
            k = fp.readinto(view[pos:pos + (8 << 20)])  # type: ignore[attr-defined]
            if not k:
                break
            pos += k
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise FileFormatError(f"{where}: cannot read the array ({exc})") from exc
    if pos != need:
        raise FileFormatError(f"{where}: truncated array data ({pos} of {need} bytes)")
    return arr


def _heights(arr: np.ndarray, where: str) -> np.ndarray:
    if arr.ndim != 2 or arr.size == 0:
        raise FileFormatError(f"{where}: heights must be a non-empty 2-D array, got shape "
                              f"{arr.shape}")
    if arr.dtype.kind not in "fiu":
        raise FileFormatError(f"{where}: heights must be real numbers, got {arr.dtype}")
    return arr


def read_npy(path: str | os.PathLike[str], dx_mm: float | None = None,
             dy_mm: float | None = None, z_unit: str = "nm",
             flip_rows: bool = False) -> HeightMap:
    """Read a bare 2-D ``.npy`` array as heights.

    Parameters
    ----------
    path : path-like
    dx_mm : float
        Pixel spacing along x in mm. Required: a ``.npy`` file has none.
    dy_mm : float, optional
        Spacing along y; default ``dx_mm``.
    z_unit : {'nm', 'um', 'mm', 'm'}
        Unit of the stored values (default nm).
    flip_rows : bool
        True when row 0 of the array is the top of the image (reverse it to y-up).

    Raises
    ------
    FileFormatError
        No ``dx_mm=``, unknown ``z_unit``, bad/truncated file, not 2-D real data.
    """
    p = Path(path)
    if dx_mm is None:
        raise FileFormatError(f"{p}: a bare .npy array has no pixel spacing; pass dx_mm= "
                              "(and dy_mm= for non-square pixels), e.g. "
                              "metrology.load(path, dx_mm=0.1)")
    scale = _policy.unit_scale(z_unit, what=f"{p}: z_unit")
    dx, dy, lat = _policy.resolve_spacing(p, None, None, dx_mm, dy_mm)
    with open(p, "rb") as fh:
        arr = _heights(_read_array(fh, os.fstat(fh.fileno()).st_size, str(p)), str(p))
    z = arr if arr.dtype == np.float64 else arr.astype(np.float64)
    if scale != 1.0:
        with np.errstate(over="raise"):
            try:
                z *= scale
            except FloatingPointError:
                raise FileFormatError(f"{p}: heights overflow when scaled to nm") from None
    meta = _policy.base_meta("npy", z_unit_original=z_unit, z_scale_to_nm=scale,
                           rows_flipped=bool(flip_rows), lateral_source="caller",
                           lateral_calibrated=lat["lateral_calibrated"])
    z, _ = _policy.to_y_up(z, flip_rows)
    return HeightMap._adopt(np.ascontiguousarray(z), dx, dy, meta)


def read_npz(path: str | os.PathLike[str]) -> HeightMap:
    """Read a ``.npz`` written by :func:`write_npz` (``z_nm``, ``dx_mm``, ``dy_mm``, ``meta``).

    Raises
    ------
    FileFormatError
        Not a zip, members missing, corrupt (CRC) or truncated, bad meta JSON.
    """
    p = Path(path)
    size = p.stat().st_size
    zf = _zip.open_zip(p, "a .npz")
    with zf:
        names = set(zf.namelist())
        missing = [m for m in ("z_nm.npy", "dx_mm.npy") if m not in names]
        if missing:
            raise FileFormatError(
                f"{p}: not a metrology .npz: members {sorted(names)[:10]} lack "
                f"{', '.join(m[:-4] for m in missing)}; for a bare array save it as .npy and "
                "load with dx_mm=")

        def member(name: str) -> np.ndarray:
            info = zf.getinfo(name)
            codec = _zip.member_codec(p, info, "member", size)
            if name != "z_nm.npy" and info.file_size > _MAX_SMALL_MEMBER:
                raise FileFormatError(f"{p}: member {name} claims {info.file_size} bytes; "
                                      "corrupt")
            if codec in ("bzip2", "lzma"):  # these decode a whole block per call: bound first
                _zip.check_member(p, info, f"member {name}", size)
            try:
                fp = _zip.MemberStream(p, info)
                a = _read_array(fp, info.file_size, f"{p}:{name}",  # type: ignore[arg-type]
                                stored=info.compress_size, codec=codec)
                if fp.read(1):
                    raise FileFormatError(f"{p}: member {name} holds data after its array")
                fp.drain()  # reach the end so that the size and the CRC are checked
                return a
            except FileFormatError:
                raise
            except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError,
                    RuntimeError) as exc:
                raise FileFormatError(f"{p}: member {name} is corrupt ({exc})") from exc

        z = _heights(member("z_nm.npy"), f"{p}:z_nm")
        dxa = member("dx_mm.npy")
        dya = member("dy_mm.npy") if "dy_mm.npy" in names else dxa
        meta_text = member("meta.npy") if "meta.npy" in names else None
    try:
        dx, dy = float(dxa.reshape(-1)[0]), float(dya.reshape(-1)[0])
    except (IndexError, TypeError, ValueError) as exc:
        raise FileFormatError(f"{p}: dx_mm / dy_mm are not numbers") from exc
    if not (math.isfinite(dx) and dx > 0 and math.isfinite(dy) and dy > 0):
        raise FileFormatError(f"{p}: stored spacing dx_mm={dx!r}, dy_mm={dy!r} is not positive")
    stored: dict[str, Any] = {}
    if meta_text is not None:
        if meta_text.dtype.kind != "U" or meta_text.size != 1:
            raise FileFormatError(f"{p}: member meta is not a JSON string ({meta_text.dtype})")
        try:
            stored = json.loads(str(meta_text.reshape(-1)[0]))
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, nesting too deep
            raise FileFormatError(f"{p}: member meta is not valid JSON ({type(exc).__name__}: "
                                  f"{str(exc)[:100]})") from exc
        if not isinstance(stored, dict):
            raise FileFormatError(f"{p}: member meta is JSON but not an object")
    meta = dict(stored)
    prev = {k: meta.pop(k) for k in _READ_KEYS if k in meta}
    meta.update(_policy.base_meta("npz", z_unit_original="nm", z_scale_to_nm=1.0,
                                rows_flipped=False))
    for k in ("instrument", "software", "wavelength_nm", "timestamp"):
        if k in stored:
            meta[k] = stored[k]
    if prev:
        meta["npz_stored"] = prev
    return HeightMap._adopt(z, dx, dy, meta) if z.dtype == np.float64 else \
        HeightMap(z, dx, dy, meta)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (set, frozenset)):
        return sorted(o, key=str)
    if isinstance(o, os.PathLike):
        return os.fspath(o)
    return str(o)


def _save_member(zf: zipfile.ZipFile, name: str, arr: np.ndarray) -> None:
    with zf.open(name + ".npy", "w", force_zip64=True) as fp:
        np.lib.format.write_array(fp, np.asanyarray(arr), allow_pickle=False)


def write_npz(hm: HeightMap, path: str | os.PathLike[str], compress: bool = False) -> None:
    """Write ``hm`` as ``.npz``: ``z_nm`` (first member), ``dx_mm``, ``dy_mm``, ``meta`` JSON.

    Parameters
    ----------
    hm : HeightMap
    path : path-like
    compress : bool
        Deflate the members (smaller, slower).

    Notes
    -----
    ``meta`` goes through JSON: tuples come back as lists, NumPy scalars as
    Python numbers, other objects as their ``str``.
    """
    meta_json = json.dumps(dict(hm.meta), default=_json_default, allow_nan=True)
    mode = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", compression=mode) as zf:
        _save_member(zf, "z_nm", hm.z_nm)
        _save_member(zf, "dx_mm", np.array(hm.dx_mm, dtype=np.float64))
        _save_member(zf, "dy_mm", np.array(hm.dy_mm, dtype=np.float64))
        _save_member(zf, "meta", np.array(meta_json))


def write_npy(hm: HeightMap, path: str | os.PathLike[str]) -> None:
    """Write ``hm.z_nm`` alone as ``.npy`` (y-up rows, nm, NaN invalid; spacing is NOT kept)."""
    with open(path, "wb") as fh:
        np.lib.format.write_array(fh, hm.z_nm, allow_pickle=False)


register(Format(
    name="npz",
    extensions=(".npz",),
    description="NumPy .npz with z_nm, dx_mm, dy_mm and JSON meta (lossless)",
    sniff=sniff_npz,
    read=read_npz,
    write=write_npz,
    priority=5,
))
register(Format(
    name="npy",
    extensions=(".npy",),
    description="bare NumPy .npy array of heights (nm); reading needs dx_mm=",
    sniff=sniff_npy,
    read=read_npy,
    write=write_npy,
))
