"""How to read a file that does not say everything: spacing, height unit, format.

Some files carry no lateral calibration or no height unit (a bare text matrix,
a ``.npy`` array), and the readers never guess them: they raise a
:class:`~metrology.errors.FileFormatError` naming the argument to pass
(``dx_mm=``, ``z_unit=``). The same four settings can be given

* in Python: ``metrology.load(path, dx_mm=..., dy_mm=..., z_unit=..., format=...)``;
* on the command line: ``--dx-mm``, ``--dy-mm``, ``--z-unit``, ``--format`` of
  ``info``, ``analyze``, ``check`` and ``convert`` (for ``check`` they apply to
  every file and take precedence over the spec);
* in a spec, per measurement: ``[measurements.NAME.read]`` with ``dx_mm``,
  ``dy_mm``, ``z_unit``, ``format`` (``docs/spec-schema.md``). A file gets its
  measurement's settings when it is assigned before it is read: by ``--as`` or
  by the measurement's ``match.filename`` globs (metadata rules need the file
  read first).

The spacing rule: ``dx_mm`` / ``dy_mm`` give the spacing of files that have
none. A file that carries its own lateral calibration (datx, x3p, MetroPro,
SDF, a text file with a ``dx_mm`` header ...) keeps it: a different value is
refused with an error naming both, unless ``override_spacing`` is set
(``--override-spacing``; in a spec ``override_spacing = true``), which
replaces the file's calibration and records both in ``meta`` (``file_dx_mm``,
``file_dy_mm``, ``lateral_source = "caller"``). A value equal to the file's
(to 1 part in 10⁹) is accepted as a confirmation. ``metrology.load(path,
dx_mm=...)`` itself always overrides (the library's rule,
:func:`metrology.io._policy.resolve_spacing`); :func:`read_file` adds the
refusal for the command line and specs, where one ``--dx-mm`` meant for a
text export would otherwise silently rescale every calibrated file of a check.

:func:`read_file` applies them and, when a file still lacks something, adds
to the reader's message where the setting goes on the command line and in a
spec. This module imports only the standard library until a file is read.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import FileFormatError

if TYPE_CHECKING:  # pragma: no cover
    from .heightmap import HeightMap
    from .profile import Profile
    from .spec import Spec

__all__ = ["ReadOptions", "Z_UNITS", "READ_KEYS", "read_file", "options_for", "with_hint"]

#: height units a file without one can be declared in
Z_UNITS = ("nm", "um", "mm", "m")
#: the keys of a spec's ``[measurements.NAME.read]`` (all but ``override_spacing`` are
#: ``load`` keywords)
READ_KEYS = ("dx_mm", "dy_mm", "z_unit", "format", "override_spacing")
#: relative difference below which a given spacing confirms the file's
SPACING_RTOL = 1e-9

#: where the settings go, added to a reader's message that asks for one of them
HINT = ("on the command line: --dx-mm MM [--dy-mm MM], --z-unit nm|um|mm|m, --format NAME; "
        "in a spec: [measurements.NAME.read] dx_mm, dy_mm, z_unit, format")
#: how to replace a file's own calibration, added to the refusal
OVERRIDE_HINT = ("--override-spacing on the command line, override_spacing = true in a "
                 "spec's [measurements.NAME.read]")
_ASKS = re.compile(r"\b(?:dx_mm|dy_mm|z_unit|format)=")


def normalise_z_unit(unit: str) -> str:
    """``unit`` as one of :data:`Z_UNITS` (``µm`` and ``μm`` read as ``um``); ValueError
    otherwise."""
    u = str(unit).strip().replace("\u00b5", "u").replace("\u03bc", "u")
    if u not in Z_UNITS:
        raise ValueError(f"height unit {unit!r}: use one of {', '.join(Z_UNITS)}")
    return u


@dataclass(frozen=True, kw_only=True)
class ReadOptions:
    """Settings for reading a file that does not give them (``None``: not given).

    Attributes
    ----------
    dx_mm, dy_mm : float or None
        Pixel spacing along x (columns) and y (rows), mm. ``dy_mm`` needs
        ``dx_mm`` and defaults to it (square pixels). For files without a
        lateral calibration; a file's own calibration is kept, and a different
        value refused, unless ``override_spacing`` (module docstring).
    z_unit : {"nm", "um", "mm", "m"} or None
        Unit of the stored heights, for files that do not state one (text,
        ``.npy``, profile text).
    format : str or None
        Read the file as this format (a name of ``metrology formats``)
        instead of detecting it.
    override_spacing : bool
        ``dx_mm`` / ``dy_mm`` replace the spacing of files that carry their own
        (``meta`` records both); default False: such a file is refused when the
        values differ.
    """

    dx_mm: float | None = None
    dy_mm: float | None = None
    z_unit: str | None = None
    format: str | None = None
    override_spacing: bool = False

    def __bool__(self) -> bool:
        return bool(self.given()) or self.override_spacing

    def given(self) -> dict[str, Any]:
        """The settings given, as ``load`` keywords (``override_spacing`` is not one)."""
        return {k: v for k, v in dataclasses.asdict(self).items()
                if v is not None and k != "override_spacing"}

    def over(self, base: ReadOptions | None) -> ReadOptions:
        """These settings where given, ``base``'s elsewhere. A ``dx_mm`` given here
        replaces ``base``'s ``dy_mm`` too (a spacing is one pair)."""
        if base is None:
            return self
        mine: dict[str, Any] = self.given()
        if "dx_mm" in mine:
            mine.setdefault("dy_mm", None)
        if self.override_spacing:
            mine["override_spacing"] = True
        return dataclasses.replace(base, **mine)

    def describe(self) -> str:
        """``dx_mm=0.1, z_unit=um`` (empty when nothing is given)."""
        parts = [f"{k}={v}" for k, v in self.given().items()]
        return ", ".join(parts + (["override_spacing"] if self.override_spacing else []))


def with_hint(exc: FileFormatError) -> FileFormatError:
    """``exc`` with :data:`HINT` added when its message asks for a reader argument (not
    when it refuses one the caller passed)."""
    msg = str(exc)
    if not _ASKS.search(msg) or "--dx-mm" in msg or "caller passed" in msg:
        return exc
    new = FileFormatError(f"{msg} ({HINT})")
    new.__cause__ = exc.__cause__
    return new


def options_for(spec: Spec | None, path: str | os.PathLike[str],
                as_name: str | None = None) -> ReadOptions | None:
    """The settings a spec gives for reading ``path``: those of the measurement the file
    is assigned to before it is read (``as_name``, else the only measurement whose
    ``match.filename`` globs take the file name), under the spec's command-line settings
    (:attr:`Spec.read_override`, which take precedence). ``None`` when there are none."""
    if spec is None:
        return None
    own: ReadOptions | None = None
    if as_name is not None:
        m = spec.measurements.get(as_name)
        own = m.read if m is not None else None
    else:
        names = [n for n, m in spec.measurements.items()
                 if m.match.filename and m.match.matches(os.path.basename(os.fspath(path)),
                                                          None)]
        if len(names) == 1:
            own = spec.measurements[names[0]].read
    override = getattr(spec, "read_override", None)
    if override:
        return override.over(own)
    return own or None


def read_file(path: str | os.PathLike[str], options: ReadOptions | None = None
              ) -> HeightMap | Profile:
    """:func:`metrology.load` with ``options``; a reader's request for a setting
    says where it goes on the command line and in a spec.

    Raises
    ------
    FileFormatError
        As :func:`metrology.load`; also ``z_unit`` given for a format whose reader
        takes the unit from the file, and ``dx_mm`` / ``dy_mm`` that differ from a
        file's own calibration without ``override_spacing`` (module docstring).
    """
    from .io import load
    from .io._registry import _get, detect

    kw = options.given() if options else {}
    fmt = kw.pop("format", None)
    try:
        if "z_unit" in kw and os.path.isfile(path):
            import inspect

            f = _get(fmt) if fmt else detect(path)
            if f.read is not None and "z_unit" not in inspect.signature(f.read).parameters:
                raise FileFormatError(
                    f"{path}: z_unit = {kw['z_unit']!r} was given, but the {f.name} reader "
                    "takes the height unit from the file; z_unit (--z-unit) is for files "
                    "that do not state one (text, npy, profile)")
        data = load(path, format=fmt, **kw)
        if "dx_mm" in kw and not options.override_spacing:  # type: ignore[union-attr]
            _keep_calibration(path, data, kw["dx_mm"], kw.get("dy_mm"))
        return data
    except FileFormatError as exc:
        raise with_hint(exc) from exc
    except OSError as exc:
        raise FileFormatError(f"{path}: cannot read: {exc.strerror or exc}") from exc


def _keep_calibration(path: str | os.PathLike[str], data: Any, dx_mm: float,
                      dy_mm: float | None) -> None:
    """Refuse a given spacing that differs from the file's own (the spacing rule)."""
    meta = data.meta
    if not meta.get("lateral_calibrated") or meta.get("file_dx_mm") is None:
        return
    fdx = float(meta["file_dx_mm"])
    fdy = float(meta.get("file_dy_mm") or fdx)
    pairs = [(dx_mm, fdx)]
    if not _is_profile(data):
        pairs.append((dx_mm if dy_mm is None else dy_mm, fdy))
    if all(abs(g - f) <= SPACING_RTOL * max(abs(g), abs(f)) for g, f in pairs):
        return
    given = f"dx = {dx_mm:.6g} mm" + (f", dy = {dy_mm:.6g} mm" if dy_mm is not None else "")
    own = f"dx = {fdx:.6g} mm" + ("" if _is_profile(data) else f", dy = {fdy:.6g} mm")
    raise FileFormatError(
        f"{path}: the file gives its own pixel spacing ({own}); the spacing given "
        f"({given}, --dx-mm / dx_mm) is for files that have none, and is not applied "
        f"to this one. Leave it out for this file, or replace the file's calibration "
        f"deliberately with {OVERRIDE_HINT}")


def _is_profile(data: Any) -> bool:
    from .profile import Profile

    return isinstance(data, Profile)
