"""What each format is for: the instruments that write it, and a printable table.

Formats registered before the ``instruments`` field existed get theirs from
:data:`INSTRUMENTS` (so their modules need not change); a format's own
``Format.instruments`` takes precedence. :func:`format_table` renders
:func:`metrology.io.formats` for ``metrology formats``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["INSTRUMENTS", "instruments_of", "format_table"]

INSTRUMENTS: dict[str, tuple[str, ...]] = {
    "datx": ("Zygo interferometers (Verifire, DynaFiz, NewView, Nexview)",
             "Zygo Mx / MetroPro 9+"),
    "metropro": ("Zygo interferometers (GPI, Verifire, NewView)", "Zygo MetroPro"),
    "4sight-focus": ("4D Technology PhaseCam / AccuFiz", "4Sight Focus"),
    "4sight-h5": ("4D Technology PhaseCam / AccuFiz", "4Sight (legacy HDF5)"),
    "x3p": ("ISO 5436-2 exchange format (written by Gwyddion, MountainsMap, x3ptools and "
            "other profilometry software)",),
    "sdf": ("ISO 25178-71 / Surfstand SDF exchange format",),
    "sur": ("Digital Surf MountainsMap export; stylus and optical profilers that write "
            "Digital Surf files",),
    "text": ("CSV / matrix exports of any instrument; Gwyddion ASCII export",),
    "npy": ("NumPy .npy array (spacing given on reading)",),
    "npz": ("this toolkit's lossless NumPy archive",),
    "zemax": ("Zemax OpticStudio Grid Sag surface data (to and from optical design)",),
    "codev": ("CODE V interferogram files (grid form; to and from optical design)",),
}


def instruments_of(name: str, own: tuple[str, ...]) -> list[str]:
    """The instruments of format ``name`` (its own list, else the table's)."""
    return list(own or INSTRUMENTS.get(name, ()))


def format_table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of the formats ``rows`` (:func:`metrology.io.formats`): name,
    read/write, extensions, instruments; then the refused formats (read by nothing)
    with the export to use. :func:`metrology.io.format_table` passes the registry's."""
    from ._refused import REFUSED

    lines = [f"{'format':<13} {'read':<5} {'write':<5} {'extensions':<19} instruments / source"]
    for r in rows:
        ext = " ".join(r["extensions"]) or "(by content)"
        inst = "; ".join(r.get("instruments") or []) or r["description"]
        lines.append(f"{r['name']:<13} {'yes' if r['read'] else 'no':<5} "
                     f"{'yes' if r['write'] else 'no':<5} {ext:<19} {inst}")
    lines.append("")
    lines.append("not read (what to do instead):")
    for ext, (what, todo) in REFUSED.items():
        lines.append(f"  {ext:<7} {what}; {todo}")
    return "\n".join(lines)
