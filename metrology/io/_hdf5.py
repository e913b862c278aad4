"""Shared HDF5 plumbing for the Zygo ``.datx`` and 4D Technology readers.

Why a dispatcher
----------------
Zygo ``.datx``, 4Sight ``.h5`` and 4Sight Focus ``.4D`` files are all HDF5.
The registry hands a ``sniff`` function only the first 4096 bytes, and those
show the HDF5 signature but not the group layout (it may sit anywhere in the
file). So the ``datx`` format claims every HDF5 file by its signature (high
priority) and its reader, :func:`read_any`, opens the file, looks at the
layout with :func:`classify` and hands it to the right reader:

==============================  =================  ========================
layout                          format name        reader
==============================  =================  ========================
``/MetaData`` table             ``datx``           :func:`metrology.io.datx.read_datx`
``/measurement0/genraw``        ``4sight-h5``      :func:`metrology.io.fourd.read_4sight_h5`
``/Measurement/SurfaceInWaves`` ``4sight-focus``   :func:`metrology.io.fourd.read_4sight_focus`
==============================  =================  ========================

``meta['format']`` always names the true format, never "hdf5". Each of the
three readers checks the layout itself, so ``load(path, format="4sight-h5")``
on a ``.datx`` file is refused with a clear message. (``format="datx"`` goes
through the dispatcher and therefore also reads a 4D file, labelled as such.)

Layouts are registered by the format modules (:func:`register_layout`), so
this module imports none of them; the reader policy (units, spacing, meta,
limits) lives in :mod:`metrology.io._policy`.

Safety
------
The HDF5 C library can crash or loop forever on some corrupt files (fuzzing
found both) and allocates what corrupt size fields say, so the file is read
in a persistent isolated process (:mod:`metrology.io._isolated`) that is
killed and replaced after a crash, an endless loop or an attempt to exceed
the memory budget; the caller gets :class:`FileFormatError`. Layout parsing
(``Layout.extract``) runs there and returns plain values; units, spacing and
orientation (``Layout.build``) run in the caller. Datatypes of attributes and
tables are checked before they are read (:func:`checked_type`). Data outside
the file are refused: external links (:func:`resolve`), external storage and
virtual datasets, and datasets whose storage was never (fully) written
(:func:`check_dataset`). Sizes are checked against the bytes stored and the
expansion limits before anything is allocated. Every h5py failure becomes
:class:`~metrology.errors.FileFormatError` naming the file. Files are opened
read-only.
"""

from __future__ import annotations

import inspect
import math
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FileFormatError
from ..heightmap import HeightMap
from . import _isolated, _policy

__all__ = ["HDF5_MAGIC", "is_hdf5", "Layout", "register_layout", "classify", "has_node",
           "open_hdf5", "read_any", "read_layout", "fetch", "resolve", "check_dataset",
           "read_float64", "type_signature", "checked_type", "attr_value", "attr_str",
           "attr_float", "scale_marking_sentinels", "SENTINEL_EXP", "guard_enabled"]


#: HDF5 format signature (the superblock may also start at 512, 1024, 2048 ... bytes)
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"



def is_hdf5(head: bytes) -> bool:
    """True when ``head`` carries the HDF5 signature at offset 0 or a power-of-two block."""
    if head[:8] == HDF5_MAGIC:
        return True
    off = 512
    while off + 8 <= len(head):
        if head[off:off + 8] == HDF5_MAGIC:
            return True
        off *= 2
    return False


@contextmanager
def open_hdf5(path: Path, already_open: Any = None) -> Iterator[Any]:
    """Open ``path`` read-only with h5py (or use ``already_open``, left open at the end).

    Inside the ``with`` block, any error (h5py's ``OSError``/``KeyError``/``ValueError``
    on corrupt content, or a :class:`FileFormatError` that does not name the file)
    comes out as :class:`FileFormatError` naming ``path``.
    """
    import h5py

    if already_open is not None:
        f = already_open
    else:
        try:
            f = h5py.File(path, "r")
        except OSError as exc:
            raise FileFormatError(f"{path}: not a readable HDF5 file ({exc})") from exc
    try:
        yield f
    except FileFormatError as exc:
        if str(path) in str(exc):
            raise
        raise FileFormatError(f"{path}: {exc}") from exc
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - h5py raises many types on corrupt content
        raise FileFormatError(f"{path}: corrupt HDF5 content ({type(exc).__name__}: {exc})") \
            from exc
    finally:
        if already_open is None:
            try:
                f.close()
            except Exception:  # noqa: BLE001 - closing a corrupt file may complain
                pass


def _has(f: Any, name: str, kind: str) -> bool:
    import h5py

    try:
        obj = f.get(name)
    except Exception:  # noqa: BLE001 - corrupt link tables raise all sorts
        return False
    want = h5py.Dataset if kind == "dataset" else h5py.Group
    return isinstance(obj, want)


def classify(f: Any) -> str | None:
    """Name the layout of an open HDF5 file (``'datx'``, ``'4sight-h5'``, ...), None when no
    registered layout recognises it."""
    for lay in sorted(_LAYOUTS.values(), key=lambda v: -v.priority):
        try:
            if lay.probe(f):
                return lay.name
        except Exception:  # noqa: BLE001 - a probe must never decide by crashing
            continue
    return None


def has_node(f: Any, name: str, kind: str) -> bool:
    """True when ``name`` exists in ``f`` and is a ``'dataset'`` or a ``'group'``."""
    return _has(f, name, kind)


def _top_level(f: Any) -> str:
    try:
        names = sorted(f.keys())
    except Exception:  # noqa: BLE001
        return "(unreadable)"
    return ", ".join("/" + n for n in names[:8]) + (" ..." if len(names) > 8 else "") or "(none)"


def layout_error(path: Path, f: Any, want: str | None = None) -> FileFormatError:
    """A FileFormatError saying which layouts are known and what the file holds."""
    known = "; ".join(f"{v.description} -> format {k!r}" for k, v in _LAYOUTS.items())
    what = (f"is not a {_LAYOUTS[want].description} file" if want in _LAYOUTS
            else "is an HDF5 file of unknown layout")
    return FileFormatError(f"{path}: {what}; top-level nodes: {_top_level(f)}. Known HDF5 "
                           f"layouts: {known}")


@dataclass(frozen=True)
class Layout:
    """An HDF5 layout a format module reads.

    ``probe(f)`` recognises it in an open file. ``extract(f, path, part)`` runs in
    the isolated reader process: it reads what the format needs from the file's
    metadata as plain values (a dict of ``facts``) and returns ``(facts, dataset,
    what)`` for the dataset of ``part`` (``'surface'`` or ``'intensity'``); the
    dataset may be a :class:`PendingRead` the layout started before parsing.
    ``build(path, facts, raw, **kwargs)`` runs in the caller and turns the facts
    and the raw float64 array into a :class:`HeightMap` (units, spacing policy,
    orientation, meta).
    """

    name: str
    description: str
    probe: Callable[[Any], bool]
    extract: Callable[[Any, Path, str], tuple[dict[str, Any], Any, str]]
    build: Callable[..., HeightMap]
    priority: int = 0


#: layouts registered by the format modules (datx, fourd), tried by priority
_LAYOUTS: dict[str, Layout] = {}


def register_layout(layout: Layout) -> Layout:
    """Add an HDF5 layout to the dispatcher (called by the format modules at import)."""
    _LAYOUTS[layout.name] = layout
    return layout


def _fetch_here(path: str, want: str | None, part: str) -> tuple[str, dict[str, Any], Any]:
    """Inside the reader process: classify, extract the facts, read the raw dataset (or
    take the read the layout started with :func:`start_read`)."""
    p = Path(path)
    with open_hdf5(p) as f:
        kind = classify(f)
        if kind is None or (want is not None and kind != want):
            raise layout_error(p, f, want)
        facts, ds, what = _LAYOUTS[kind].extract(f, p, part)
        raw = ds.result() if isinstance(ds, PendingRead) else read_float64(p, ds, what)
    return kind, facts, raw


def fetch(path: Path, want: str | None = None, part: str = "surface"
          ) -> tuple[str, dict[str, Any], np.ndarray]:
    """``(layout name, facts, raw float64 array)`` of ``part`` of an HDF5 file, read in the
    isolated reader process (:mod:`metrology.io._isolated`); ``want`` insists on a layout."""
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        raise FileFormatError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return _isolated.call(_fetch_here, str(path), want, part, path=path, file_size=size)


def read_layout(path: str | os.PathLike[str], want: str | None = None,
                **kwargs: Any) -> HeightMap:
    """Read the surface of an HDF5 height-map file of layout ``want`` (None: any known)."""
    p = Path(path)
    kind, facts, raw = fetch(p, want)
    build = _LAYOUTS[kind].build
    try:
        inspect.signature(build).bind(p, facts, raw, **kwargs)
    except TypeError as exc:
        raise FileFormatError(f"{p}: the {kind} reader does not take these arguments "
                              f"({exc})") from None
    return build(p, facts, raw, **kwargs)


def read_any(path: str | os.PathLike[str], **kwargs: Any) -> HeightMap:
    """Read any known HDF5 height-map file (see the module docstring for the dispatch)."""
    return read_layout(path, None, **kwargs)


def guard_enabled() -> bool:
    """True when HDF5 reads run in the isolated reader process."""
    return _isolated.enabled()


# -- datasets --------------------------------------------------------------------------------------

#: HDF5 filters a height dataset may use (id -> codec name for the expansion limit; None for
#: filters that do not compress); any other filter would need a plugin and is refused
_FILTERS: dict[int, str | None] = {1: "deflate", 2: None, 3: None, 4: "szip", 5: "other",
                                   6: "other", 32000: "lzf", 32015: "zstd"}


def resolve(f: Any, path: Path, name: str) -> Any:
    """The object at ``name`` in ``f``, refusing external and user-defined links on the way.

    An external link would make us read another file (a path the hostile file
    chooses); soft links inside the file are followed. Walked with h5py's low-level
    API (link info, then open), a third of the high-level ``get`` + ``[]`` time.
    """
    import h5py
    from h5py import h5i, h5l, h5o

    loc = f.id
    parts = [s for s in name.split("/") if s]
    for i, part in enumerate(parts):
        key = part.encode("utf-8")
        if i > 0 and h5i.get_type(loc) != h5i.GROUP:
            raise FileFormatError(f"{path}: /{'/'.join(parts[:i + 1])}: /"
                                  f"{'/'.join(parts[:i])} is not a group")
        try:
            if not loc.links.exists(key):
                raise FileFormatError(f"{path}: no /{'/'.join(parts[:i + 1])} in the file")
            info = loc.links.get_info(key)
        except FileFormatError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise FileFormatError(f"{path}: cannot read the link /{'/'.join(parts[:i + 1])} "
                                  f"({exc})") from exc
        if info.type == h5l.TYPE_EXTERNAL:
            try:
                target = loc.links.get_val(key)[0].decode("utf-8", "replace")
            except Exception:  # noqa: BLE001
                target = "?"
            raise FileFormatError(f"{path}: /{'/'.join(parts[:i + 1])} is an external link to "
                                  f"{target!r}; data outside the file is refused")
        if info.type not in (h5l.TYPE_HARD, h5l.TYPE_SOFT):
            raise FileFormatError(f"{path}: /{'/'.join(parts[:i + 1])} is a user-defined link; "
                                  "refused")
        try:
            loc = h5o.open(loc, key)
        except Exception as exc:  # noqa: BLE001 - dangling or looping soft links
            raise FileFormatError(f"{path}: cannot follow /{'/'.join(parts[:i + 1])} ({exc})") \
                from exc
    if not parts:
        return f
    kind = h5i.get_type(loc)
    if kind == h5i.DATASET:
        return h5py.Dataset(loc)
    if kind == h5i.GROUP:
        return h5py.Group(loc)
    return h5py.Datatype(loc)


def _storage(path: Path, ds: Any, what: str) -> tuple[str, int]:
    """(codec, stored bytes) of a dataset whose data lies inside the file, fully written.

    Refuses virtual datasets and external storage (data in other files), filters
    that would need a plugin, and storage that is not allocated (every missing
    chunk would read as the fill value: a flat map that is not in the file).
    """
    from h5py import h5d

    dcpl = ds.id.get_create_plist()
    layout = dcpl.get_layout()
    if layout == getattr(h5d, "VIRTUAL", 3):
        raise FileFormatError(f"{path}: {what} is a virtual dataset (its data are in other "
                              "files); refused")
    if dcpl.get_external_count() > 0:
        names = [dcpl.get_external(i)[0].decode("utf-8", "replace")
                 for i in range(min(dcpl.get_external_count(), 3))]
        raise FileFormatError(f"{path}: {what} keeps its data in external files ({names}); "
                              "data outside the file are refused")
    codec = "none"
    for i in range(dcpl.get_nfilters()):
        fid = int(dcpl.get_filter(i)[0])
        if fid not in _FILTERS:
            raise FileFormatError(f"{path}: {what} uses HDF5 filter {fid}, which needs a "
                                  "plugin; refused")
        if _FILTERS[fid] is not None and codec == "none":
            codec = _FILTERS[fid]
    stored = int(ds.id.get_storage_size())
    fsize = os.path.getsize(path)
    end = 0  # where the stored data end in the file: past the end, HDF5 reads zeros
    if layout == h5d.CHUNKED:
        chunks = ds.chunks
        need = 1
        for n, c in zip(ds.shape, chunks, strict=True):
            need *= -(-int(n) // int(c))
        have = int(ds.id.get_num_chunks())
        if have < need:
            raise FileFormatError(f"{path}: {what} has {have} of its {need} chunks written; the "
                                  "missing ones would read as the fill value (data not in the "
                                  "file); refused")
        if hasattr(ds.id, "chunk_iter"):
            ends = [0]
            ds.id.chunk_iter(lambda c: ends.__setitem__(0, max(ends[0], c.byte_offset + c.size)))
            end = ends[0]
    elif ds.id.get_space_status() != h5d.SPACE_STATUS_ALLOCATED:
        raise FileFormatError(f"{path}: {what} has no storage allocated (its data were never "
                              "written; it would read as the fill value); refused")
    elif layout == h5d.CONTIGUOUS:
        offset = ds.id.get_offset()
        end = (int(offset) + stored) if offset is not None else 0
    if end > fsize:
        raise FileFormatError(f"{path}: {what} is stored up to byte {end}, past the end of the "
                              f"{fsize}-byte file (truncated: the missing part would read as "
                              "zeros); refused")
    return codec, stored


def check_dataset(path: Path, ds: Any, what: str) -> tuple[int, int]:
    """Check that ``ds`` is a plausible 2-D real height dataset stored in the file; return
    (nrows, ncols).

    Refuses non-2-D, empty or non-real data, data kept outside the file or never
    written (:func:`_storage`), and sizes that the bytes in the file cannot hold
    (truncation, a corrupt dataspace, a decompression bomb: the limits of
    :func:`metrology.io._policy.check_map_size`), before anything is read.
    """
    import h5py

    if not isinstance(ds, h5py.Dataset):
        raise FileFormatError(f"{path}: {what} is not a dataset")
    try:
        shape = tuple(int(n) for n in ds.shape)
        dt = ds.dtype
    except Exception as exc:  # noqa: BLE001
        raise FileFormatError(f"{path}: cannot read the shape of {what} ({exc})") from exc
    if len(shape) != 2 or shape[0] < 1 or shape[1] < 1:
        raise FileFormatError(f"{path}: {what} must be a non-empty 2-D array, has shape {shape}")
    sig = checked_type(ds.id, f"{path}: {what}")
    if sig[0] not in ("i", "f") or dt.kind not in "fiu":
        raise FileFormatError(f"{path}: {what} holds {dt}, not real numbers")
    try:
        codec, stored = _storage(path, ds, what)
    except FileFormatError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise FileFormatError(f"{path}: cannot read the storage layout of {what} ({exc})") from exc
    fsize = os.path.getsize(path)
    _policy.check_map_size(path, what, shape, dt.itemsize,
                           stored=min(stored, fsize), codec=codec)
    return shape[0], shape[1]


def read_float64(path: Path, ds: Any, what: str) -> np.ndarray:
    """Read a checked 2-D dataset into a new C-contiguous float64 array (one allocation;
    shared memory when called in the isolated reader)."""
    return _read_checked(path, ds, what, check_dataset(path, ds, what))


def _read_checked(path: Path, ds: Any, what: str, shape: tuple[int, int]) -> np.ndarray:
    """:func:`read_float64` of a dataset :func:`check_dataset` has passed (its shape)."""
    _isolated.phase(shape[0] * shape[1] * 8)
    out = _isolated.allocate(shape, np.float64)
    try:
        ds.read_direct(out)  # HDF5 converts float32 / integers to float64 on the way in
    except Exception as exc:  # noqa: BLE001 - HDF5 errors (inflate, truncation) -> typed error
        raise FileFormatError(f"{path}: cannot read {what} ({type(exc).__name__}: {exc})") from exc
    return out


class PendingRead:
    """The raw float64 data of a checked dataset, being read beside the metadata.

    Made by :func:`start_read`. :meth:`result` waits for the read and returns the
    array; :meth:`wait` waits and discards it (a layout that fails after starting a
    read calls it, so that no thread writes into memory that is given back).
    """

    def __init__(self, path: Path, what: str, out: np.ndarray,
                 thread: threading.Thread | None, error: list[BaseException]) -> None:
        self._path = path
        self._what = what
        self._out = out
        self._thread = thread
        self._error = error

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def result(self) -> np.ndarray:
        self.wait()
        if self._error:
            exc = self._error[0]
            raise FileFormatError(f"{self._path}: cannot read {self._what} "
                                  f"({type(exc).__name__}: {exc})") from exc
        return self._out


def _plain_extent(f: Any, ds: Any, nbytes: int) -> tuple[int, int] | None:
    """(file descriptor, offset) when ``ds`` is stored as its own bytes: contiguous, no
    filter, little-endian float64 on a little-endian machine, read through the POSIX
    driver (whose descriptor is the file HDF5 opened: the bytes read are those of the
    file checked, never of another one); None otherwise."""
    from h5py import h5d

    if sys.byteorder != "little" or ds.dtype != np.dtype("<f8"):
        return None
    try:
        if f.driver != "sec2":
            return None
        dcpl = ds.id.get_create_plist()
        if dcpl.get_layout() != h5d.CONTIGUOUS or dcpl.get_nfilters() != 0:
            return None
        offset = ds.id.get_offset()
        if offset is None or int(ds.id.get_storage_size()) != nbytes:
            return None
        fd = int(f.id.get_vfd_handle())
    except Exception:  # noqa: BLE001 - anything unusual: HDF5 reads it
        return None
    return fd, int(offset)


def _pread_into(fd: int, offset: int, buf: memoryview, error: list[BaseException]) -> None:
    try:
        done = 0
        n = len(buf)
        while done < n:
            k = os.preadv(fd, [buf[done:]], offset + done)
            if k <= 0:
                raise OSError(f"the file ends {n - done} bytes before the dataset's end")
            done += k
    except BaseException as exc:  # noqa: BLE001 - reported by PendingRead.result
        error.append(exc)


def start_read(path: Path, f: Any, ds: Any, what: str) -> PendingRead:
    """Check ``ds`` (:func:`check_dataset`) and start reading it into a new C-contiguous
    float64 array (shared memory in the isolated reader), so that a layout can parse its
    metadata meanwhile.

    A dataset stored as its own bytes (:func:`_plain_extent`: what Zygo writes) is read
    by ``preadv`` on a thread, which runs beside the metadata calls (h5py holds one lock
    for every HDF5 call, so HDF5's own read would not); any other dataset is read by HDF5
    now, as :func:`read_float64` does. The bytes are the same either way. The read's
    allowances (:func:`metrology.io._isolated.phase`: CPU time, address space) are set
    before the metadata parse that follows, which therefore runs under them.
    """
    shape = check_dataset(path, ds, what)
    nbytes = shape[0] * shape[1] * 8
    extent = _plain_extent(f, ds, nbytes)
    if extent is None:
        return PendingRead(path, what, _read_checked(path, ds, what, shape), None, [])
    _isolated.phase(nbytes)
    out = _isolated.allocate(shape, np.float64)
    error: list[BaseException] = []
    thread = threading.Thread(target=_pread_into, daemon=True, name="metrology-hdf5-read",
                              args=(extent[0], extent[1], memoryview(out).cast("B"), error))
    thread.start()
    return PendingRead(path, what, out, thread, error)


# -- attributes ----------------------------------------------------------------------------

def type_signature(tid: Any, depth: int = 0) -> tuple[Any, ...]:
    """A comparable description of an HDF5 datatype: ('i'|'f', size), ('s', size|'var'),
    ('v', base), ('c', ((name, member), ...)), or ('x', class) for anything else."""
    from h5py import h5t

    if depth > 8:
        return ("x", "deep")
    c = tid.get_class()
    if c == h5t.INTEGER:
        return ("i", tid.get_size())
    if c == h5t.FLOAT:
        return ("f", tid.get_size())
    if c == h5t.STRING:
        return ("s", "var" if tid.is_variable_str() else tid.get_size())
    if c == h5t.VLEN:
        return ("v", type_signature(tid.get_super(), depth + 1))
    if c == h5t.COMPOUND:
        return ("c", tuple((tid.get_member_name(i).decode("latin-1"),
                            type_signature(tid.get_member_type(i), depth + 1))
                           for i in range(tid.get_nmembers())))
    return ("x", c)


def _disk_size(sig: tuple[Any, ...]) -> int | None:
    """Bytes one element of an allowed type takes in the file (vlen: 16), None if not allowed.

    Allowed: integers, floats, strings, variable-length sequences of floats, and
    compounds of these. A corrupt datatype message can describe anything, and
    h5py/HDF5 may crash (not raise) reading data through a nonsensical type, so
    anything else is refused before reading.
    """
    kind = sig[0]
    if kind in ("i", "f"):
        return int(sig[1]) if int(sig[1]) in (1, 2, 4, 8) else None
    if kind == "s":
        return 16 if sig[1] == "var" else int(sig[1])
    if kind == "v":
        return 16 if sig[1][0] == "f" else None
    if kind == "c":
        sizes = [_disk_size(m) for _, m in sig[1]]
        return None if not sizes or any(v is None for v in sizes) else sum(sizes)  # type: ignore[misc]
    return None


def checked_type(obj_id: Any, what: str, expect: tuple[Any, ...] | None = None,
                 npoints: int | None = None) -> tuple[Any, ...]:
    """Refuse a corrupt attribute/table before reading it: type allowed (and equal to
    ``expect`` when given) and stored bytes == elements x element size."""
    sig = type_signature(obj_id.get_type())
    if expect is not None and sig != expect:
        raise FileFormatError(f"{what} has datatype {sig}, expected {expect}; corrupt file")
    size = _disk_size(sig)
    if size is None:
        raise FileFormatError(f"{what} has an unexpected datatype {sig}; corrupt file")
    if npoints is not None:
        stored = int(obj_id.get_storage_size())
        if stored != size * npoints:
            raise FileFormatError(f"{what} stores {stored} bytes, its datatype and shape need "
                                  f"{size * npoints}; corrupt file")
    return sig


def _where(obj: Any) -> str:
    try:
        return str(obj.name)
    except Exception:  # noqa: BLE001
        return "?"


def attr_value(obj: Any, name: str, expect: tuple[Any, ...] | None = None) -> Any:
    """Attribute ``name`` of ``obj`` unwrapped from one-element arrays; None when absent.

    The datatype and stored size are checked before reading (see
    :func:`checked_type`); a corrupt attribute raises :class:`FileFormatError`. One
    open of the attribute (the low-level API: the object's name is looked up only
    for an error message).
    """
    from h5py import h5a, h5s

    key = name.encode("utf-8")
    try:
        if not h5a.exists(obj.id, key):
            return None
        aid = h5a.open(obj.id, key)
        space = aid.get_space()
        npts = 0 if space.get_simple_extent_type() == h5s.NULL else \
            max(1, int(space.get_simple_extent_npoints()))
    except Exception as exc:  # noqa: BLE001
        raise FileFormatError(f"attribute {name!r} of {_where(obj)} is unreadable "
                              f"({exc})") from exc
    if npts > 4096:
        raise FileFormatError(f"attribute {name!r} of {_where(obj)} claims {npts} elements; "
                              "corrupt")
    try:
        checked_type(aid, f"attribute {name!r}", expect, npts)
    except FileFormatError as exc:
        raise FileFormatError(f"{exc} (on {_where(obj)})") from None
    if npts == 0:
        return None
    try:
        dtype, htype = _memory_type(aid)
        shape = space.shape
        if dtype.subdtype is not None:
            dtype, sub = dtype.subdtype
            shape = tuple(shape) + tuple(sub)
        arr = np.zeros(shape, dtype=dtype)
        aid.read(arr, mtype=htype)
    except Exception as exc:  # noqa: BLE001
        raise FileFormatError(f"attribute {name!r} of {_where(obj)} is unreadable "
                              f"({exc})") from exc
    v: Any = arr
    if arr.dtype.names is None and arr.size == 1:
        v = arr.reshape(-1)[0]
    if isinstance(v, np.generic):
        v = v.item()
    return v


#: memory (numpy dtype, HDF5 type) of the attribute types read so far, by
#: :func:`_memory_key`: h5py's dtype and ``py_create`` cost ~70 µs per attribute and a
#: file's attributes repeat a handful of types (the isolated reader keeps them file to file)
_MEMORY_TYPES: dict[tuple[Any, ...], tuple[np.dtype, Any]] = {}
_MEMORY_TYPES_MAX = 256


def _memory_key(tid: Any, depth: int = 0) -> tuple[Any, ...] | None:
    """What decides the memory type h5py makes for an HDF5 datatype: class, size, the sign
    of integers, the character set of strings (HDF5 converts between byte orders, not
    between character sets), members by name; None for any other class (not cached)."""
    from h5py import h5t

    if depth > 8:
        return None
    c = tid.get_class()
    if c == h5t.INTEGER:
        return ("i", tid.get_size(), int(tid.get_sign()))
    if c == h5t.FLOAT:
        return ("f", tid.get_size())
    if c == h5t.STRING:
        return ("s", "var" if tid.is_variable_str() else tid.get_size(), int(tid.get_cset()))
    if c == h5t.VLEN:
        sub = _memory_key(tid.get_super(), depth + 1)
        return None if sub is None else ("v", sub)
    if c == h5t.COMPOUND:
        members = []
        for i in range(tid.get_nmembers()):
            sub = _memory_key(tid.get_member_type(i), depth + 1)
            if sub is None:
                return None
            members.append((tid.get_member_name(i), sub))
        return ("c", tuple(members))
    return None


def read_table(ds: Any) -> np.ndarray:
    """All of a (checked, :func:`checked_type`) 1-D dataset, read through the memory type
    of :func:`_memory_type` (a compound table of text columns, as h5py reads it)."""
    from h5py import h5s

    dtype, htype = _memory_type(ds.id)
    out = np.zeros(ds.id.shape, dtype=dtype)
    ds.id.read(h5s.ALL, h5s.ALL, out, mtype=htype)
    return out


def _memory_type(aid: Any) -> tuple[np.dtype, Any]:
    """(numpy dtype, HDF5 memory type) to read attribute or dataset ``aid`` (a low-level
    id) with, as h5py makes them (``aid.dtype``, ``h5t.py_create``), reused for a type seen
    before."""
    from h5py import h5t

    key = _memory_key(aid.get_type())
    hit = _MEMORY_TYPES.get(key) if key is not None else None
    if hit is not None:
        return hit
    dtype = aid.dtype
    out = (dtype, h5t.py_create(dtype))
    if key is not None and len(_MEMORY_TYPES) < _MEMORY_TYPES_MAX:
        _MEMORY_TYPES[key] = out
    return out


def attr_str(obj: Any, name: str) -> str | None:
    """Attribute as text (bytes decoded), None when absent."""
    v = attr_value(obj, name)
    if v is None:
        return None
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace").rstrip("\x00")
    return str(v)


_NUM_CHARS = frozenset("0123456789+-.eE")


def split_number_unit(text: str) -> tuple[float, str] | None:
    """``'0.007111 mm'`` -> ``(0.007111, 'mm')``; None when ``text`` does not start with a number.

    One left-to-right scan (linear in the length: a text attribute may be
    tens of thousands of characters of anything).
    """
    t = text.strip()
    i = 0
    while i < len(t) and i < 64 and t[i] in _NUM_CHARS:
        i += 1
    # the longest prefix that parses as a number ("1e" or "2-" are not numbers)
    while i > 0:
        try:
            v = float(t[:i])
            break
        except ValueError:
            i -= 1
    if i == 0:
        return None
    return v, t[i:].strip()


def attr_float(obj: Any, name: str) -> tuple[float, str] | None:
    """Attribute as (number, unit text); numbers stored as text like ``'0.007111 mm'`` parse.

    None when absent; FileFormatError-free: an unparsable value also gives None.
    """
    v = attr_value(obj, name)
    if v is None:
        return None
    if isinstance(v, bytes):
        v = v.decode("utf-8", errors="replace")
    if isinstance(v, str):
        return split_number_unit(v)
    if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
        return float(v), ""
    return None


# -- no-data sentinels and scaling ------------------------------------------------------------

#: |value| >= 2**SENTINEL_EXP (about 1.27e30) in file units is a no-data sentinel, never a
#: height (Zygo writes the largest float64, 4Sight the largest float32)
SENTINEL_EXP = 100
_UP = math.ldexp(1.0, 1024 - SENTINEL_EXP)


def scale_marking_sentinels(z: np.ndarray, scale: float) -> None:
    """In place: ``z *= scale``, and values with ``|z| >= 2**100`` become +-inf.

    Two passes, no temporary arrays: multiplying by 2**924 is exact except that
    it overflows to +-inf exactly the values with ``|z| >= 2**100``; multiplying
    by ``scale * 2**-924`` then gives the correctly rounded ``z * scale`` (the
    same real product). NaN stays NaN. :class:`HeightMap` turns +-inf into NaN
    (invalid).
    """
    down = math.ldexp(scale, -(1024 - SENTINEL_EXP))
    with np.errstate(over="ignore"):  # the overflow to inf is the point
        np.multiply(z, _UP, out=z)
        if down >= sys.float_info.min:  # a normal number: the fused form is exact
            np.multiply(z, down, out=z)
        else:
            np.multiply(z, 1.0 / _UP, out=z)
            np.multiply(z, scale, out=z)
