"""Formats we know of and do not read, with what to do instead.

:func:`metrology.io.detect` consults :func:`refusal` when no reader claims a
file, so that a refused file names the closest supported format or the
export to use instead of a bare "unrecognised".

Why these are refused
---------------------
* ``.mnt`` -- a Digital Surf MountainsMap *document*: an OLE2 compound file
  holding the studiables (the measured surface and the results of the
  operators applied to it), their analysis history and report pages.
  Digital Surf publishes no description of its inner streams; the one
  public reader (SurfaceTopography) finds the heights by scanning for zlib
  headers and picking the most common decompressed block size, and labels
  its own field meanings "guess". A reading that cannot tell the measured
  surface from a levelled or filtered result, or prove its height scale,
  is not one a verdict may rest on.
* ``.plux`` -- Sensofar's zip-based successor of ``.plu``. No public
  description exists and no sample file could be checked; the public
  readers agree on the layout (``index.xml`` with ``FOV_X`` read as the
  pixel size) but none documents why a field named "field of view" is a
  pixel size, and without one real file to check against, a wrong
  spacing would be silent.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["refusal", "REFUSED"]

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

#: extension -> (what it is, what to do)
REFUSED: dict[str, tuple[str, str]] = {
    ".mnt": ("a Digital Surf MountainsMap document (OLE2 compound file whose inner "
             "format Digital Surf does not publish; it may hold the measured surface and "
             "processed copies of it)",
             "in MountainsMap, export the measured studiable as Digital Surf .sur or "
             "ISO 5436-2 .x3p (both read here)"),
    ".plux": ("a Sensofar .plux archive (no public description; not read)",
              "save the measurement as .plu from SensoSCAN, or export .x3p or .sur "
              "(read here)"),
    ".opdx": ("a Bruker Vision64 .opdx file (not read)",
              "export the data set from Vision64 as Vision .opd or ISO 5436-2 .x3p "
              "(read here)"),
    ".vk4": ("a Keyence VK-X .vk4 file (not read)",
             "export the height data as ISO 5436-2 .x3p or as a text matrix with its pixel "
             "size, where the Keyence software offers it"),
    ".vk6": ("a Keyence VK-X .vk6 file (not read)",
             "export the height data as ISO 5436-2 .x3p or as a text matrix with its pixel "
             "size, where the Keyence software offers it"),
    ".lext": ("an Olympus LEXT .lext file (not read)",
              "export the height data as ISO 5436-2 .x3p or as a text matrix with its pixel "
              "size, where the Olympus software offers it"),
    ".os3d": ("an Olympus OLS .os3d file (not read)",
              "export the height data as ISO 5436-2 .x3p or as a text matrix with its pixel "
              "size, where the Olympus software offers it"),
    ".gsf": ("a Gwyddion Simple Field file (not read)",
             "save it from Gwyddion as native .gwy (read here)"),
}


def refusal(path: Path, head: bytes) -> str | None:
    """A sentence saying what ``path`` is and what to export instead, or None."""
    ext = path.suffix.lower()
    if ext in REFUSED:
        what, todo = REFUSED[ext]
        return f"{ext}: not supported: {what}; {todo}"
    if head.startswith(_OLE_MAGIC):
        what, todo = REFUSED[".mnt"]
        return ("an OLE2 compound document, not a measurement format read here (if it is "
                f"a MountainsMap .mnt: {what}; {todo})")
    return None
