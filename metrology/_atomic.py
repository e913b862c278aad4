"""Atomic output files: write a temporary file in the same folder, then rename."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def publish(tmp: str | os.PathLike[str], path: str | os.PathLike[str]) -> None:
    """Give ``tmp`` the mode a newly created file (or the replaced file) would have,
    then rename it onto ``path``."""
    try:
        mode = os.stat(path).st_mode & 0o777
    except OSError:
        mode = 0o666 & ~_umask()
    os.chmod(tmp, mode)
    os.replace(tmp, path)


#: characters tempfile adds to the prefix and suffix (its random part)
_RANDOM = 8


def _name_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return 255


def _fit(text: str, nbytes: int) -> str:
    """``text`` cut to at most ``nbytes`` bytes in the file-system encoding (whole characters)."""
    while text and len(os.fsencode(text)) > nbytes:
        text = text[:-1]
    return text


def temp_affixes(path: Path, suffix: str = "") -> tuple[str, str]:
    """(prefix, suffix) of a temporary name beside ``path`` that fits in the folder's NAME_MAX
    for any valid ``path`` (the name is cut, the ``suffix`` kept when it fits)."""
    limit = _name_max(path.parent)
    tail = ".tmp" + suffix
    if len(os.fsencode(tail)) > limit // 2:
        tail = ".tmp"
    room = limit - _RANDOM - len(os.fsencode(tail)) - 2  # two dots around the name
    return f".{_fit(path.name, max(room, 0))}.", tail


@contextmanager
def atomic_target(path: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; publish it onto ``path`` on success.

    The temporary name fits within the file system's name limit (NAME_MAX, 255
    bytes on Linux) for any valid ``path``. On any exception the temporary file
    is removed and ``path`` is untouched.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    prefix, tail = temp_affixes(p, suffix)
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=tail, dir=p.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        publish(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (readers see the old file or the new one)."""
    with atomic_target(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))
