"""Sources per registered format: files our writers make, files packed from a format's
public layout, and real instrument files.

One table drives the registry tests (``tests/test_io_formats.py``) and the fuzz
suite: a format registered with :func:`metrology.io.register` gets sources
without an entry here, from its writer (when it has one) and from the real
files that :func:`metrology.io.detect` assigns to it and that it reads
(``../shared/realdata`` or ``METROLOGY_REALDATA``). The tables below only add
what a writer needs (square pixels, a wavelength, variants, a Profile instead
of a map) and how exact its round trip is, and, for read-only formats,
:data:`PACKERS`: the marked map packed in the format's documented layout and
row order (``binbuild``, independent of the readers), so that the round trip
(pack -> read) checks units, invalid points and orientation, and the fuzz
suite has a small file of every format. An unknown format is tried with the
defaults.
"""

from __future__ import annotations

import functools
import os
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import metrology
from metrology import HeightMap, Profile
from metrology.io import _registry

from . import binbuild

REPO_ROOT = Path(__file__).resolve().parents[2]


def realdata_dir() -> tuple[Path | None, str]:
    """The folder of real instrument files, or None and why not."""
    env = os.environ.get("METROLOGY_REALDATA")
    if env:
        p = Path(env).expanduser()
        return (p, "") if p.is_dir() else (None, f"METROLOGY_REALDATA={env!r} is not a folder")
    p = (REPO_ROOT.parent / "shared" / "realdata").resolve()
    if p.is_dir():
        return p, ""
    return None, f"real instrument files not found at {p}; set METROLOGY_REALDATA"


def marked_map(nrows: int = 12, ncols: int = 9, seed: int = 0) -> np.ndarray:
    """Asymmetric map: a y ramp, an x ramp of another slope, noise, a NaN block, a marker."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:nrows, 0:ncols]
    z = 10.0 * y + 3.0 * x + rng.normal(0, 0.5, (nrows, ncols))
    z[nrows - 2, 1] = 500.0  # marker near the top-left (high y, low x)
    z[0:2, ncols - 3:] = np.nan  # invalid block bottom-right
    return z


#: where :func:`marked_map` puts its marker (row, column), and :func:`marked_profile` its
MARK = (10, 1)
MARK_INDEX = 50


def marked_profile(n: int = 64, seed: int = 0) -> np.ndarray:
    """Asymmetric trace: a ramp, noise, a run of invalid points near the start, a marker
    near the end."""
    rng = np.random.default_rng(seed)
    z = 2.0 * np.arange(n) + rng.normal(0, 0.5, n)
    z[3:6] = np.nan
    z[MARK_INDEX] = 500.0
    return z


@dataclass(frozen=True)
class Source:
    """One file of a format: its bytes, how to load it, and what it holds."""

    fmt: str
    label: str
    data: bytes
    ext: str
    origin: str  # "written", "packed" or "real"
    load_kwargs: dict[str, Any] = field(default_factory=dict)
    expect: HeightMap | Profile | None = None  # what was written or packed (round trip)
    #: every cut copy is refused (the format declares its size, or ends with a marker)
    truncation_detectable: bool = True

    @property
    def id(self) -> str:
        return f"{self.fmt}-{self.label}"


@dataclass(frozen=True)
class WriterHints:
    """What a writer needs and how exact its round trip is (defaults: any map, exact)."""

    variants: tuple[dict[str, Any], ...] = ({},)
    square: bool = False
    meta: dict[str, Any] = field(default_factory=dict)
    load_kwargs: dict[str, Any] = field(default_factory=dict)
    #: atol in nm for the round trip: a number, or a function of the loaded map
    atol: float | Callable[[HeightMap], float] = 0.0
    rtol: float = 1e-15
    spacing_kept: bool = True
    spacing_rtol: float = 0.0  # 0: bit-exact
    profile: bool = False  # the writer takes a Profile (:func:`marked_profile`), not a map


#: the table (numbagg pattern): only what differs from the defaults
HINTS: dict[str, WriterHints] = {
    "metropro": WriterHints(square=True, meta={"wavelength_nm": 632.8},
                            atol=lambda hm: hm.meta["quantisation_step_nm"] / 2 * 1.0001,
                            rtol=1e-6, spacing_rtol=6e-8),  # float32 header fields
    "4sight-focus": WriterHints(square=True, meta={"wavelength_nm": 632.8}, rtol=1e-15),
    "datx": WriterHints(meta={"wavelength_nm": 632.8}),
    "x3p": WriterHints(variants=({"dtype": "D"}, {"dtype": "F"}), rtol=1e-15),
    "sdf": WriterHints(variants=({"binary": False}, {"binary": True})),
    "npz": WriterHints(variants=({"compress": False}, {"compress": True})),
    "npy": WriterHints(load_kwargs={"dx_mm": 0.02, "dy_mm": 0.03}, spacing_kept=False),
    "text": WriterHints(variants=({"delimiter": ","}, {"delimiter": "\t"})),
    "profile": WriterHints(variants=({"delimiter": ","}, {"delimiter": "\t"}), profile=True,
                           rtol=0.0),
    # packed read-only formats: float32 storage keeps 24 bits; spacings from extents / n
    "opd": WriterHints(rtol=1.2e-7, spacing_rtol=1e-15),
    "plu": WriterHints(rtol=1.2e-7),
    "al3d": WriterHints(rtol=1.2e-7),
    "frt": WriterHints(rtol=1e-15, spacing_rtol=1e-15),
    "gwy": WriterHints(rtol=1e-15, spacing_rtol=1e-15),
    # integer counts of lambda / SSZ: within half a step
    "codev": WriterHints(meta={"wavelength_nm": 632.8},
                         atol=lambda hm: hm.meta["quantisation_nm"] / 2 * 1.0001, rtol=0.0),
    # sag written in mm with 17 significant digits, read back times 1e6
    "zemax": WriterHints(rtol=1e-15),
}
#: formats whose files end in data the format does not declare (so a cut there cannot be
#: seen): a cut copy must be refused or read exactly as the whole file
UNDECLARED_TAIL: dict[str, str] = {
    "plu": "after the layers and their min/max come an RGB image and, in the real sample, "
           "133 133 zero bytes that no public description accounts for",
}
#: round-trip tolerance per variant where it differs (x3p float32 keeps 24 bits)
VARIANT_RTOL = {("x3p", "dtype=F"): 1e-7}


def hints(fmt: str) -> WriterHints:
    return HINTS.get(fmt, WriterHints())


def _label(kw: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in kw.items()) or "default"


def _write(fmt: _registry.Format, hm: HeightMap | Profile, kw: dict[str, Any]) -> bytes:
    with tempfile.TemporaryDirectory(prefix="metrology-corpus-") as d:
        p = Path(d) / f"w{fmt.extensions[0] if fmt.extensions else '.csv'}"
        metrology.save(hm, p, format=fmt.name, **kw)
        return p.read_bytes()


def written_sources(name: str) -> list[Source]:
    """Files the format's writer makes of the marked map (one per writer variant)."""
    fmt = _registry._FORMATS.get(name)
    if fmt is None or fmt.write is None or fmt.read is None:
        return []
    h = hints(name)
    out = []
    ext = fmt.extensions[0] if fmt.extensions else ".csv"
    for kw in h.variants:
        if h.profile:
            prof = Profile(marked_profile(), 0.02, dict(h.meta))
            out.append(Source(name, f"written[{_label(kw)}]", _write(fmt, prof, kw), ext,
                              "written", dict(h.load_kwargs), prof))
            continue
        # what the writer takes: a non-square map, a square one, or one line (a profile)
        tries = [(12, 9, 0.03), (12, 9, 0.02), (1, 64, 0.02)][1 if h.square else 0:]
        for nrows, ncols, dy in tries:
            hm = HeightMap(marked_map(nrows, ncols) if nrows > 2 else
                           np.linspace(-5.0, 7.0, ncols)[None, :], 0.02, dy, dict(h.meta))
            try:
                data = _write(fmt, hm, kw)
            except metrology.FileFormatError:
                continue  # e.g. non-square pixels refused: try the next kind
            out.append(Source(name, f"written[{_label(kw)}]", data,
                              fmt.extensions[0] if fmt.extensions else "", "written",
                              dict(h.load_kwargs), hm if nrows > 2 else None))
            break
    return out


# -- packed files of the read-only formats ------------------------------------------------------

def _pack_opd(z: np.ndarray, dx: float, dy: float) -> tuple[bytes, np.ndarray]:
    # stored column by column, the first value of a column at the bottom; heights in waves
    wl = 1000.0
    cols = np.where(np.isnan(z), np.float32(1.7014118e38), z / wl).astype(np.float32).T
    back = cols.T.astype(np.float64) * wl
    return binbuild.build_opd(cols, wavelength=wl, pixel_mm=dx, aspect=dy / dx), \
        np.where(cols.T >= 1e38, np.nan, back)


def _pack_plu(z: np.ndarray, dx: float, dy: float) -> tuple[bytes, np.ndarray]:
    # rows top first, heights in um as float32, 1000001.0 = not measured
    rows = np.where(np.isnan(z), 1000001.0, z / 1000.0).astype(np.float32)[::-1]
    back = np.where(rows == 1000001.0, np.nan, rows.astype(np.float64) * 1000.0)[::-1]
    return binbuild.build_plu(rows, mppx=dx * 1000, mppy=dy * 1000, tail=b"RGB" * 8), back


def _pack_al3d(z: np.ndarray, dx: float, dy: float) -> tuple[bytes, np.ndarray]:
    # rows top first, heights in metres as float32, NaN = invalid
    rows = (z * 1e-9).astype(np.float32)[::-1]
    return binbuild.build_al3d(rows, dx_m=f"{dx / 1000:.15g}",
                               dy_m=f"{dy / 1000:.15g}"), \
        (rows.astype(np.float64) * 1e9)[::-1]


def _pack_frt(z: np.ndarray, dx: float, dy: float) -> tuple[bytes, np.ndarray]:
    # rows bottom first, int32 counts of 0.1 nm, counts outside the valid range invalid
    counts = np.where(np.isnan(z), -(2**31) + 7, np.round(z * 10)).astype(np.int32)
    ny, nx = z.shape
    data = binbuild.build_frt(counts, bpp=32, zscale=1e-10, xrange_m=nx * dx / 1000,
                              yrange_m=ny * dy / 1000, valid=((-100000) % 2**32, 100000),
                              multi=False)
    return data, np.where(np.isnan(z), np.nan, counts * 0.1)


def _pack_gwy(z: np.ndarray, dx: float, dy: float) -> tuple[bytes, np.ndarray]:
    # Gwyddion image rows (top first), metres; a mask marks the invalid points
    ny, nx = z.shape
    field = binbuild.gwy_field(np.nan_to_num(z * 1e-9)[::-1], nx * dx / 1000, ny * dy / 1000)
    mask = binbuild.gwy_field(np.isnan(z)[::-1].astype(float), nx * dx / 1000, ny * dy / 1000)
    return binbuild.build_gwy([(0, "Height", field)], masks={0: mask}), \
        np.where(np.isnan(z), np.nan, z * 1e-9 * 1e9)


#: read-only formats: the marked map (y-up) in the format's documented layout, and the
#: heights in nm the file then holds (its storage precision)
PACKERS: dict[str, Callable[[np.ndarray, float, float], tuple[bytes, np.ndarray]]] = {
    "opd": _pack_opd, "plu": _pack_plu, "al3d": _pack_al3d, "frt": _pack_frt,
    "gwy": _pack_gwy,
}


def packed_sources(name: str) -> list[Source]:
    """The marked map packed in format ``name``'s layout (:data:`PACKERS`)."""
    fmt = _registry._FORMATS.get(name)
    if name not in PACKERS or fmt is None or fmt.read is None:
        return []
    data, held = PACKERS[name](marked_map(), 0.02, 0.03)
    expect = HeightMap(held, 0.02, 0.03)
    return [Source(name, "packed", data, fmt.extensions[0], "packed", {}, expect)]


@functools.lru_cache(maxsize=1)
def _real_files() -> tuple[tuple[str, Path], ...]:
    """(format, path) of each real file that its detected format reads without arguments."""
    folder, _ = realdata_dir()
    if folder is None:
        return ()
    out = []
    for p in sorted(folder.iterdir()):
        if not p.is_file() or p.name.lower().startswith("readme"):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                hm = metrology.load(p)
        except Exception:  # noqa: BLE001 - a real file no reader takes yet
            continue
        name = hm.meta.get("format")  # the true format (HDF5 files are dispatched by layout)
        out.append((name if name in _registry._FORMATS else metrology.io.detect(p).name, p))
    return tuple(out)


def real_sources(name: str) -> list[Source]:
    return [Source(name, f"real[{p.name}]", p.read_bytes(), p.suffix, "real")
            for fmt, p in _real_files() if fmt == name]


def sources(name: str) -> list[Source]:
    """Every source of format ``name``: written, packed and real."""
    return written_sources(name) + packed_sources(name) + real_sources(name)


def readable_formats() -> list[str]:
    """Names of the registered formats that can read (the fuzz and registry targets)."""
    return sorted(n for n, f in _registry._FORMATS.items() if f.read is not None)


def why_no_sources(name: str) -> str:
    folder, why = realdata_dir()
    fmt = _registry._FORMATS[name]
    what = "no writer" if fmt.write is None else "its writer made nothing"
    what += "" if name in PACKERS else " and no packer"
    real = why if folder is None else f"no real file of this format in {folder} that it reads"
    return f"format {name!r}: {what}, and {real}"
