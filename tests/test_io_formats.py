"""Reader tests every registered format gets for free (the numbagg pattern).

The format registry and ``tests/fuzz/corpus.py`` drive them: a format added
with ``register(Format(...))`` gets a round trip (when it has a writer, or a
packer of its documented layout), cut copies that must be refused, and byte
flips that must end in ``FileFormatError`` or a valid map (or profile), on
the files its writer makes, the files packed for it and the real files it
reads. Facts specific to one format stay in its own
``test_io_<format>.py``.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import pytest
from fuzz import corpus
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import metrology
from metrology import FileFormatError, HeightMap, Profile

FORMATS = corpus.readable_formats()
SOURCES = {name: corpus.sources(name) for name in FORMATS}
ALL = [s for name in FORMATS for s in SOURCES[name]]
WRITTEN = [s for s in ALL if s.origin in ("written", "packed") and s.expect is not None]
FLIPS = settings(max_examples=40, derandomize=True, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture,
                                        HealthCheck.too_slow])


def _cuts(n: int) -> list[int]:
    """Offsets to cut at: every byte of the first 16, dense through a 4 kB header, then
    spread over the file, and just before the end."""
    head = [*range(17), 24, 32, 48, 64, 96, 128, 200, 256, 384, 511, 512, 513, 834, 1024,
            2048, 4096]
    spread = [int(n * f) for f in (0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9, 0.97)]
    return sorted({c for c in head + spread + [n - 2, n - 1] if 0 <= c < n})


def _write(tmp_path: Path, src: corpus.Source, data: bytes, name: str = "case") -> Path:
    p = tmp_path / f"{name}{src.ext}"
    p.write_bytes(data)
    return p


def assert_valid_map(hm: object) -> None:
    """What every map (or profile) a reader returns must be: spacing positive and finite,
    heights finite where valid (NaN marks invalid; nothing infinite), within the
    plausibility limit."""
    assert isinstance(hm, (HeightMap, Profile))
    spacings = (hm.dx_mm, hm.dy_mm) if isinstance(hm, HeightMap) else (hm.dx_mm,)
    assert all(np.isfinite(d) and d > 0 for d in spacings)
    z = hm.z_nm
    assert z.ndim == (2 if isinstance(hm, HeightMap) else 1)
    assert z.size > 0 and not np.isinf(z).any()
    lim = metrology.io.current_limits().height_nm_max
    assert not (np.abs(z[np.isfinite(z)]) > lim).any()


def test_every_readable_format_is_a_target() -> None:
    """The table covers the registry: no readable format is left without a reason."""
    assert {"datx", "metropro", "x3p", "sdf", "text", "npz"} <= set(FORMATS)
    for name in FORMATS:
        assert SOURCES[name] or corpus.why_no_sources(name)
    # read-only formats without a shipped real file still get a source: their packed file
    for name in ("opd", "plu", "al3d", "frt", "gwy"):
        assert [s for s in SOURCES[name] if s.origin == "packed"], name
    assert [s for s in SOURCES["profile"] if isinstance(s.expect, Profile)]


@pytest.mark.parametrize("src", WRITTEN, ids=lambda s: s.id)
def test_round_trip(src: corpus.Source, tmp_path: Path) -> None:
    h = corpus.hints(src.fmt)
    p = _write(tmp_path, src, src.data)
    back = metrology.load(p, **src.load_kwargs)
    hm = src.expect
    assert hm is not None and back.z_nm.shape == hm.z_nm.shape
    assert np.array_equal(np.isnan(back.z_nm), np.isnan(hm.z_nm))  # the NaN block, in place
    atol = h.atol(back) if callable(h.atol) else h.atol
    rtol = corpus.VARIANT_RTOL.get((src.fmt, src.label[8:-1]), h.rtol)
    np.testing.assert_allclose(back.z_nm, hm.z_nm, rtol=rtol, atol=atol, equal_nan=True)
    assert type(back) is type(hm)  # 1-D data come back as a Profile, maps as maps
    mark = corpus.MARK if isinstance(hm, HeightMap) else corpus.MARK_INDEX
    assert back.z_nm[mark] == pytest.approx(500.0, rel=rtol, abs=atol)  # marker in its place
    names = ("dx_mm", "dy_mm") if isinstance(hm, HeightMap) else ("dx_mm",)
    for name in names if h.spacing_kept else ():
        if h.spacing_rtol == 0:
            assert getattr(back, name) == getattr(hm, name)
        else:
            assert getattr(back, name) == pytest.approx(getattr(hm, name), rel=h.spacing_rtol)
    assert back.meta["format"] == src.fmt


@pytest.mark.parametrize("src", [s for s in ALL if s.truncation_detectable], ids=lambda s: s.id)
def test_cut_copies_are_refused(src: corpus.Source, tmp_path: Path) -> None:
    whole = None
    if src.fmt in corpus.UNDECLARED_TAIL:  # a cut in the undeclared tail loses nothing read
        whole = metrology.load(_write(tmp_path, src, src.data, "whole"), **src.load_kwargs)
    for cut in _cuts(len(src.data)):
        if cut and b"\x00" not in src.data and not src.data[cut:].strip(b"\r\n"):
            continue  # only a final line break cut off from a text file: nothing is lost
        p = _write(tmp_path, src, src.data[:cut], f"cut{cut}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                back = metrology.load(p, format=src.fmt, **src.load_kwargs)
            except FileFormatError as exc:
                assert str(p) in str(exc), cut
            else:
                assert whole is not None, f"a copy cut at byte {cut} was read"
                assert back == whole, f"a copy cut at byte {cut} read differently"
        p.unlink()


@pytest.mark.parametrize("src", ALL, ids=lambda s: s.id)
def test_byte_flips_end_in_file_format_error_or_a_valid_map(src: corpus.Source,
                                                             tmp_path: Path) -> None:
    data = src.data

    @FLIPS
    @given(pos=st.integers(0, len(data) - 1), xor=st.integers(1, 255))
    def case(pos: int, xor: int) -> None:
        b = bytearray(data)
        b[pos] ^= xor
        p = _write(tmp_path, src, bytes(b), "flip")
        digest = hashlib.sha256(p.read_bytes()).digest()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                hm = metrology.load(p, **src.load_kwargs)
        except FileFormatError as exc:
            assert str(p) in str(exc)
        else:
            assert_valid_map(hm)
        assert hashlib.sha256(p.read_bytes()).digest() == digest  # input unchanged

    case()
