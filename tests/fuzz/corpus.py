"""Sources per registered format: files our writers make and real instrument files.

One table drives the registry tests (``tests/test_io_formats.py``) and the fuzz
suite: a format registered with :func:`metrology.io.register` gets sources
without an entry here, from its writer (when it has one) and from the real
files that :func:`metrology.io.detect` assigns to it and that it reads
(``../shared/realdata`` or ``METROLOGY_REALDATA``). The tables below only add
what a writer needs (square pixels, a wavelength, variants) and how exact its
round trip is; an unknown format is tried with the defaults.
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
from metrology import HeightMap
from metrology.io import _registry

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


@dataclass(frozen=True)
class Source:
    """One file of a format: its bytes, how to load it, and what it holds."""

    fmt: str
    label: str
    data: bytes
    ext: str
    origin: str  # "written" or "real"
    load_kwargs: dict[str, Any] = field(default_factory=dict)
    expect: HeightMap | None = None  # the map written (round-trip reference)
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
    # integer counts of lambda / SSZ: within half a step
    "codev": WriterHints(meta={"wavelength_nm": 632.8},
                         atol=lambda hm: hm.meta["quantisation_nm"] / 2 * 1.0001, rtol=0.0),
    # sag written in mm with 17 significant digits, read back times 1e6
    "zemax": WriterHints(rtol=1e-15),
}
#: round-trip tolerance per variant where it differs (x3p float32 keeps 24 bits)
VARIANT_RTOL = {("x3p", "dtype=F"): 1e-7}


def hints(fmt: str) -> WriterHints:
    return HINTS.get(fmt, WriterHints())


def _label(kw: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in kw.items()) or "default"


def _write(fmt: _registry.Format, hm: HeightMap, kw: dict[str, Any]) -> bytes:
    with tempfile.TemporaryDirectory(prefix="metrology-corpus-") as d:
        p = Path(d) / f"w{fmt.extensions[0] if fmt.extensions else ''}"
        metrology.save(hm, p, format=fmt.name, **kw)
        return p.read_bytes()


def written_sources(name: str) -> list[Source]:
    """Files the format's writer makes of the marked map (one per writer variant)."""
    fmt = _registry._FORMATS.get(name)
    if fmt is None or fmt.write is None or fmt.read is None:
        return []
    h = hints(name)
    out = []
    for kw in h.variants:
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
    """Every source of format ``name``: written and real."""
    return written_sources(name) + real_sources(name)


def readable_formats() -> list[str]:
    """Names of the registered formats that can read (the fuzz and registry targets)."""
    return sorted(n for n, f in _registry._FORMATS.items() if f.read is not None)


def why_no_sources(name: str) -> str:
    folder, why = realdata_dir()
    fmt = _registry._FORMATS[name]
    what = "no writer" if fmt.write is None else "its writer made nothing"
    real = why if folder is None else f"no real file of this format in {folder} that it reads"
    return f"format {name!r}: {what}, and {real}"
