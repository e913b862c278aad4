"""Format registry: detection by magic bytes first, extension second.

Each format module (``metrology/io/<format>.py``) calls :func:`register` at
import time with a :class:`Format`. :func:`load` and :func:`save` are the only
entry points users need; they guarantee that

* every failure is a :class:`~metrology.errors.FileFormatError` naming the
  file (a reader's stray ``struct.error``, ``KeyError``, ``RecursionError``,
  ``MemoryError``, any ``OSError`` such as a name too long... is wrapped,
  never leaked);
* every map returned meets the plausibility limits (spacing, heights) of
  :mod:`metrology.io._policy`, whatever reader made it, and ``dx_mm=`` /
  ``dy_mm=`` follow the one spacing-override rule for every format;
* the input file is opened read-only and never modified;
* outputs are written atomically (temporary file in the same folder, its
  name within NAME_MAX, then ``os.replace``).
"""

from __future__ import annotations

import functools
import inspect
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._atomic import atomic_target
from ..errors import FileFormatError, MetrologyError
from ..heightmap import HeightMap
from ..profile import Profile, as_profile
from . import _policy

__all__ = ["Format", "register", "load", "save", "formats", "detect", "SNIFF_BYTES"]

#: number of leading bytes handed to every ``sniff`` function
SNIFF_BYTES = 4096

Reader = Callable[..., HeightMap]
Writer = Callable[..., None]


@dataclass(frozen=True)
class Format:
    """A file format known to :func:`load` / :func:`save`.

    Attributes
    ----------
    name : str
        Short name used by ``format=`` (``"datx"``, ``"metropro"``, ...).
    extensions : tuple of str
        Lower-case extensions with the dot (``(".datx",)``).
    description : str
        One line for :func:`formats` and ``metrology info``.
    sniff : callable(bytes) -> bool, optional
        True when the first :data:`SNIFF_BYTES` bytes identify this format.
        Formats without a reliable magic number leave it ``None`` and are
        chosen by extension only.
    read : callable(path: Path, **kw) -> HeightMap or Profile, optional
    write : callable(hm: HeightMap, path: Path, **kw) -> None, optional
        Writes to exactly ``path`` (the registry handles atomicity).
    instruments : tuple of str
        Instruments and software that write the format (for :func:`formats`).
    """

    name: str
    extensions: tuple[str, ...]
    description: str
    sniff: Callable[[bytes], bool] | None = None
    read: Reader | None = None
    write: Writer | None = None
    priority: int = field(default=0)
    instruments: tuple[str, ...] = ()


_FORMATS: dict[str, Format] = {}


def register(fmt: Format) -> Format:
    """Add (or replace) a format in the registry and return it."""
    _FORMATS[fmt.name] = fmt
    return fmt


def formats() -> list[dict[str, Any]]:
    """List the known formats: name, extensions, description, can read/write, instruments."""
    from ._catalog import instruments_of

    return [
        {
            "name": f.name,
            "extensions": list(f.extensions),
            "description": f.description,
            "read": f.read is not None,
            "write": f.write is not None,
            "instruments": instruments_of(f.name, f.instruments),
        }
        for f in sorted(_FORMATS.values(), key=lambda f: f.name)
    ]


def _get(name: str) -> Format:
    try:
        return _FORMATS[name]
    except KeyError:
        known = ", ".join(sorted(_FORMATS))
        raise FileFormatError(f"unknown format {name!r}; known formats: {known}") from None


def detect(path: str | os.PathLike[str], head: bytes | None = None) -> Format:
    """Return the format of ``path``: magic bytes first, then the extension."""
    p = Path(path)
    if head is None:
        with open(p, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
    by_magic = [f for f in _FORMATS.values() if f.sniff is not None and f.read is not None]
    for f in sorted(by_magic, key=lambda f: -f.priority):
        try:
            if f.sniff(head):  # type: ignore[misc]
                return f
        except Exception:  # a sniffer must never decide by crashing
            continue
    ext = "".join(p.suffixes[-1:]).lower()
    for f in _FORMATS.values():
        if ext in f.extensions and f.read is not None:
            return f
    from ._refused import refusal  # formats we know of and do not read: say what to do

    why = refusal(p, head)
    if why:
        raise FileFormatError(f"{p}: {why}")
    raise FileFormatError(
        f"{p}: unrecognised file format (no known magic bytes, extension {ext or '(none)'!r}); "
        f"pass format= one of: {', '.join(sorted(k for k, f in _FORMATS.items() if f.read))}"
        " (most instrument software can also export ISO 5436-2 .x3p, which is read here)"
    )


def load(path: str | os.PathLike[str], format: str | None = None,
         **kwargs: Any) -> HeightMap | Profile:
    """Read a height map (or, for 1-D data, a profile) from ``path``.

    Parameters
    ----------
    path : path-like
    format : str, optional
        Force a format by name (see :func:`formats`); default: detect.
    **kwargs
        Passed to the reader (e.g. ``dx_mm=`` for text files without spacing).
        ``dx_mm=`` / ``dy_mm=`` work with every format: a file without a lateral
        calibration needs them, and they override a file's spacing (``meta``
        records both; :func:`metrology.io._policy.resolve_spacing`).

    Returns
    -------
    HeightMap or Profile
        Heights in nm, spacing in mm, oriented as in CONVENTIONS.md, with
        ``meta['format']`` and ``meta['source']`` set. 1-D data (a 1 x n or
        n x 1 map, a profile file) come back as a
        :class:`~metrology.profile.Profile` (:func:`metrology.profile.as_profile`).

    Raises
    ------
    FileFormatError
        Missing or unreadable file (any OS error, naming the path), truncated,
        corrupt or unsupported content, values outside the plausibility limits
        (spacing, heights: :func:`metrology.io.limits`).
    """
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise FileFormatError(f"{p}: no such file") from None
    except (OSError, ValueError) as exc:  # too long a name, no permission, NUL in the path ...
        raise FileFormatError(f"{p}: cannot read: {getattr(exc, 'strerror', None) or exc}") \
            from None
    if not stat.S_ISREG(st.st_mode):
        raise FileFormatError(f"{p}: not a regular file")
    try:
        fmt = _get(format) if format else detect(p)
    except OSError as exc:
        raise FileFormatError(f"{p}: cannot read: {exc.strerror or exc}") from exc
    if fmt.read is None:
        raise FileFormatError(f"{p}: format {fmt.name!r} can be written but not read")
    spacing: dict[str, Any] = {}
    if not _takes_spacing(fmt.read):  # the one override rule, for readers without dx_mm=
        spacing = {k: kwargs.pop(k) for k in ("dx_mm", "dy_mm") if k in kwargs}
    try:
        hm = fmt.read(p, **kwargs)
        if spacing:
            hm = _policy.override_spacing(hm, p, spacing.get("dx_mm"), spacing.get("dy_mm"))
        _policy.check_result(p, hm)
    except FileFormatError as exc:
        if str(p) not in str(exc):
            raise FileFormatError(f"{p}: {exc}") from exc
        raise
    except MetrologyError as exc:  # e.g. a reader's HeightMapError: still a bad file
        raise FileFormatError(f"{p}: corrupt or unsupported {fmt.name} file ({exc})") from exc
    except TypeError as exc:
        if "unexpected keyword" in str(exc):
            raise FileFormatError(f"{p}: the {fmt.name} reader does not take: {exc}") from exc
        raise FileFormatError(f"{p}: corrupt or unsupported {fmt.name} file ({exc})") from exc
    except MemoryError as exc:
        raise FileFormatError(f"{p}: not enough memory to read this {fmt.name} file "
                              f"({st.st_size} bytes)") from exc
    except KeyboardInterrupt:
        raise
    except OSError as exc:
        raise FileFormatError(f"{p}: cannot read: {exc.strerror or exc}") from exc
    except Exception as exc:  # noqa: BLE001 - wrap struct.error, KeyError, RecursionError, ...
        raise FileFormatError(
            f"{p}: corrupt or unsupported {fmt.name} file ({type(exc).__name__}: {exc})"
        ) from exc
    hm = _one_dimensional(hm, fmt, p)
    meta = dict(hm.meta)
    meta.setdefault("format", fmt.name)
    meta["source"] = str(p)
    return hm.replace(meta=meta)


def _one_dimensional(hm: Any, fmt: Format, p: Path) -> Any:
    """1-D data as a Profile; a foreign two-column text matrix is refused (its first
    column is almost always x, and a 2-pixel-wide map is no use)."""
    header = hm.meta.get("text_header", {}) if isinstance(hm, HeightMap) else {}
    if (isinstance(hm, HeightMap) and fmt.name == "text" and hm.shape[1] == 2
            and hm.meta.get("text_layout") == "matrix"
            and header.get("format") != "metrology-text-1"
            and not ({"width", "height"} & set(header))):  # a Gwyddion export is an image
        raise FileFormatError(
            f"{p}: two columns of numbers are an (x, z) profile, not a 2-pixel-wide height "
            "map; read it with format='profile' (it is chosen automatically when the data "
            "start within the first 4 KB)")
    return as_profile(hm)


@functools.lru_cache(maxsize=64)
def _takes_spacing(read: Reader) -> bool:
    try:
        params = inspect.signature(read).parameters
    except (TypeError, ValueError):
        return True
    return "dx_mm" in params or any(v.kind is v.VAR_KEYWORD for v in params.values())


def save(hm: HeightMap, path: str | os.PathLike[str], format: str | None = None,
         **kwargs: Any) -> Path:
    """Write ``hm`` to ``path`` atomically; the format comes from ``format`` or the extension.

    Returns the path written. A :class:`~metrology.profile.Profile` is written
    as a profile CSV (:func:`metrology.io.profile_text.write_profile`).
    """
    p = Path(path)
    if isinstance(hm, Profile):
        if format not in (None, "profile") or (format is None
                                                and p.suffix.lower() not in (".csv", ".txt")):
            raise FileFormatError(f"{p}: a Profile is written as a profile CSV (format "
                                  "'profile', extension .csv or .txt); the other writers "
                                  "take height maps")
        format = "profile"
    if format:
        fmt = _get(format)
    else:
        ext = p.suffix.lower()
        cands = [f for f in _FORMATS.values() if ext in f.extensions and f.write is not None]
        if not cands:
            writable = ", ".join(sorted(k for k, f in _FORMATS.items() if f.write))
            raise FileFormatError(f"{p}: cannot tell the format to write from extension "
                                  f"{ext or '(none)'!r}; pass format= one of: {writable}")
        fmt = cands[0]
    if fmt.write is None:
        raise FileFormatError(f"format {fmt.name!r} can be read but not written")
    try:
        with atomic_target(p, suffix=p.suffix) as tmp:
            fmt.write(hm, tmp, **kwargs)
    except OSError as exc:
        raise FileFormatError(f"{p}: cannot write: {exc.strerror or exc}") from exc
    return p
