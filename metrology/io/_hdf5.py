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
found both); :func:`guarded` runs each read first in a forked child process
and turns a crash or a time-out there into :class:`FileFormatError`.
Datatypes of attributes and tables are checked before they are read
(:func:`checked_type`). Every h5py failure (``OSError`` on a truncated file,
``KeyError`` on a missing node, odd dtypes) becomes
:class:`~metrology.errors.FileFormatError` naming the file. Files are opened
read-only. Array sizes are checked against the bytes actually stored before
anything is allocated.
"""

from __future__ import annotations

import inspect
import math
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ..errors import FileFormatError
from ..heightmap import HeightMap

__all__ = ["HDF5_MAGIC", "is_hdf5", "Layout", "register_layout", "classify", "has_node",
           "open_hdf5", "read_any", "check_dataset", "read_float64", "type_signature",
           "checked_type", "attr_value", "attr_str", "attr_float", "guarded",
           "scale_marking_sentinels", "SENTINEL_EXP", "guard_enabled", "GUARD_ENV"]

T = TypeVar("T")

#: HDF5 format signature (the superblock may also start at 512, 1024, 2048 ... bytes)
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"

#: deflate cannot compress better than about 1032:1; a compressed dataset that claims
#: more raw bytes than this times the file size is corrupt, not real
_MAX_INFLATE = 1100



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
    """An HDF5 layout a format module reads: ``probe(f)`` recognises it in an open
    file, ``read(path, _file=f, **kwargs)`` reads it."""

    name: str
    description: str
    probe: Callable[[Any], bool]
    read: Callable[..., HeightMap]
    priority: int = 0


#: layouts registered by the format modules (datx, fourd), tried by priority
_LAYOUTS: dict[str, Layout] = {}


def register_layout(layout: Layout) -> Layout:
    """Add an HDF5 layout to the dispatcher (called by the format modules at import)."""
    _LAYOUTS[layout.name] = layout
    return layout


def _dispatch(path: Path, **kwargs: Any) -> HeightMap:
    with open_hdf5(path) as f:
        kind = classify(f)
        if kind is None:
            raise layout_error(path, f)
        impl = _LAYOUTS[kind].read
        try:
            inspect.signature(impl).bind(path, **kwargs)
        except TypeError as exc:
            raise FileFormatError(f"{path}: the {kind} reader does not take these arguments "
                                  f"({exc})") from None
        return impl(path, _file=f, **kwargs)


def read_any(path: str | os.PathLike[str], **kwargs: Any) -> HeightMap:
    """Read any known HDF5 height-map file (see the module docstring for the dispatch)."""
    return guarded(_dispatch, Path(path), **kwargs)


# -- guard against HDF5 library crashes and infinite loops on corrupt files ----------------------

#: set in the probing child process only: skip reading contiguous raw data there
_PROBING = False


def is_probing() -> bool:
    """True inside the forked trial run, where threaded (Numba/OpenMP) kernels must not run."""
    return _PROBING
#: environment switch: METROLOGY_HDF5_GUARD=0 turns the guard off
GUARD_ENV = "METROLOGY_HDF5_GUARD"
#: trial-run time limit: this many seconds plus one per 10 MB of file
GUARD_TIMEOUT_S = 10.0


def guard_enabled() -> bool:
    """True when :func:`guarded` probes files in a forked child (Linux, not switched off)."""
    return (sys.platform.startswith("linux") and hasattr(os, "fork")
            and os.environ.get(GUARD_ENV, "1") != "0" and not _PROBING)


def guarded(impl: Callable[..., T], path: Path, *, timeout_s: float | None = None,
            **kwargs: Any) -> T:
    """Run ``impl(path, **kwargs)`` after a trial run of it in a forked child process.

    Why: the HDF5 C library can crash (segmentation fault) or loop forever on
    some corrupt metadata (found by fuzzing: a flipped byte in a datatype
    message or in a global heap). Python cannot catch either. The child runs the
    same reader (skipping the bulk read of contiguous datasets, which is plain
    file I/O already checked against the file size); if it dies from a signal or
    does not finish within ``timeout_s`` it is killed and
    :class:`FileFormatError` is raised. Otherwise the reader runs here, where any
    ordinary error it meets is raised as usual.

    The probe costs a ``fork`` and a metadata read (about 10-30 ms); a file that
    passed and has not changed since (same device, inode, size and mtime) is not
    probed again. It is skipped on platforms without ``fork`` and when
    ``METROLOGY_HDF5_GUARD=0``.
    """
    if guard_enabled():
        try:
            st = os.stat(path)
        except OSError as exc:
            raise FileFormatError(f"{path}: cannot read: {exc}") from exc
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, impl.__qualname__)
        if key not in _PROBED_OK:
            limit = timeout_s if timeout_s is not None else \
                GUARD_TIMEOUT_S + st.st_size / 10e6  # generous: metadata reads take ms
            verdict = _probe(impl, path, kwargs, limit)
            if verdict:
                raise FileFormatError(f"{path}: corrupt HDF5 file: the HDF5 library {verdict} "
                                      "while reading its structure")
            if len(_PROBED_OK) >= 256:
                _PROBED_OK.clear()
            _PROBED_OK.add(key)
    return impl(path, **kwargs)


#: files (device, inode, size, mtime, reader) whose trial run passed; unchanged files are
#: not probed again
_PROBED_OK: set[tuple[Any, ...]] = set()


def _probe(impl: Callable[..., Any], path: Path, kwargs: dict[str, Any],
           timeout_s: float) -> str | None:
    """Trial run in a forked child; a description of the failure, or None when it exited."""
    import faulthandler
    import gc
    import select
    import signal
    import warnings

    global _PROBING
    from h5py import _objects

    rfd, wfd = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "fork in a threaded process"
        with _objects.phil:  # no other thread may hold h5py's lock across the fork
            pid = os.fork()
    if pid == 0:  # child: never return into the caller's code
        code = 0
        try:
            os.close(rfd)
            faulthandler.disable()  # a crash here is the finding, not something to print
            gc.disable()  # a collection would touch (copy) every page shared with the parent
            _PROBING = True
            impl(path, **kwargs)
        except BaseException:  # noqa: BLE001 - an ordinary error is reported by the real run
            code = 1
        os._exit(code)  # closes wfd: the parent's select() wakes up at once
    os.close(wfd)
    try:
        ready, _, _ = select.select([rfd], [], [], timeout_s)
    finally:
        os.close(rfd)
    if not ready:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return f"did not finish within {timeout_s:.0f} s (an endless loop)"
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return f"crashed ({name})"
    return None


def check_dataset(path: Path, ds: Any, what: str) -> tuple[int, int]:
    """Check that ``ds`` is a plausible 2-D real height dataset; return (nrows, ncols).

    Refuses non-2-D, empty or non-real data, and sizes that the bytes in the file
    cannot hold (truncation or a corrupt dataspace), before anything is read.
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
    nbytes = shape[0] * shape[1] * dt.itemsize
    fsize = os.path.getsize(path)
    try:
        compressed = ds.compression is not None or bool(ds.id.get_create_plist().get_nfilters())
        stored = int(ds.id.get_storage_size())
    except Exception as exc:  # noqa: BLE001
        raise FileFormatError(f"{path}: cannot read the storage layout of {what} ({exc})") from exc
    if compressed:
        if nbytes > _MAX_INFLATE * max(fsize, 1):
            raise FileFormatError(f"{path}: {what} claims {shape} x {dt} = {nbytes} bytes, more "
                                  f"than a {fsize}-byte file can hold even compressed; corrupt")
    elif stored < nbytes or nbytes > fsize:
        raise FileFormatError(f"{path}: {what} needs {nbytes} bytes for {shape} x {dt} but the "
                              f"file stores {min(stored, fsize)}; truncated or corrupt")
    return shape[0], shape[1]


def read_float64(path: Path, ds: Any, what: str) -> np.ndarray:
    """Read a checked 2-D dataset into a new C-contiguous float64 array (one allocation)."""
    shape = check_dataset(path, ds, what)
    if _PROBING and ds.chunks is None:
        return np.zeros((1, 1))  # trial run: contiguous data is plain I/O, checked above
    out = np.empty(shape, dtype=np.float64)
    try:
        ds.read_direct(out)  # HDF5 converts float32 / integers to float64 on the way in
    except Exception as exc:  # noqa: BLE001 - HDF5 errors (inflate, truncation) -> typed error
        raise FileFormatError(f"{path}: cannot read {what} ({type(exc).__name__}: {exc})") from exc
    return out


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


def attr_value(obj: Any, name: str, expect: tuple[Any, ...] | None = None) -> Any:
    """Attribute ``name`` of ``obj`` unwrapped from one-element arrays; None when absent.

    The datatype and stored size are checked before reading (see
    :func:`checked_type`); a corrupt attribute raises :class:`FileFormatError`.
    """
    import h5py

    try:
        if name not in obj.attrs:
            return None
        aid = obj.attrs.get_id(name)
        space = aid.get_space()
        npts = 0 if space.get_simple_extent_type() == h5py.h5s.NULL else \
            max(1, int(space.get_simple_extent_npoints()))
    except Exception as exc:  # noqa: BLE001
        raise FileFormatError(f"attribute {name!r} of {obj.name} is unreadable ({exc})") from exc
    if npts > 4096:
        raise FileFormatError(f"attribute {name!r} of {obj.name} claims {npts} elements; corrupt")
    checked_type(aid, f"attribute {name!r} of {obj.name}", expect, npts)
    try:
        v = obj.attrs[name]
    except Exception as exc:  # noqa: BLE001
        raise FileFormatError(f"attribute {name!r} of {obj.name} is unreadable ({exc})") from exc
    if isinstance(v, np.ndarray) and v.dtype.names is None:
        if v.size == 1:
            v = v.reshape(-1)[0]
    if isinstance(v, np.generic):
        v = v.item()
    return v


def attr_str(obj: Any, name: str) -> str | None:
    """Attribute as text (bytes decoded), None when absent."""
    v = attr_value(obj, name)
    if v is None:
        return None
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace").rstrip("\x00")
    return str(v)


_NUM_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")


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
        m = _NUM_UNIT.match(v)
        if not m:
            return None
        return float(m.group(1)), m.group(2)
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
