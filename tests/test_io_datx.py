"""Zygo .datx reader/writer and the HDF5 dispatch.

Ground truth: the real file's reference figures (shared/realdata/README.md, read
with two independent implementations), physical unit definitions, raw h5py
reads of the file done here, and prysm's independent reader.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

import metrology
from metrology import FileFormatError, HeightMap
from metrology.io import _hdf5, _isolated, datx

from iohelpers import marked_map

REAL = "monolithic_zygo_test.datx"




def surface_dataset(f: h5py.File) -> h5py.Dataset:
    md = {(r["Source"].decode(), r["Link"].decode()): r["Destination"].decode()
          for r in f["MetaData"][()]}
    meas = md[("Root", "Measurement")]
    return f[md[(md[(meas, "Surface")], "Path")]]


def set_unit(path: Path, unit: str, params: list[float] | None = None) -> None:
    """Rewrite the height unit of a written .datx (Unit and Z Converter)."""
    with h5py.File(path, "r+") as f:
        ds = surface_dataset(f)
        zc = ds.attrs["Z Converter"].copy()
        zc[0]["BaseUnit"] = unit.encode()
        if params is not None:
            zc[0]["Parameters"] = np.asarray(params, dtype=np.float64)
        ds.attrs.create("Z Converter", zc)
        ds.attrs.create("Unit", np.array([unit], dtype=h5py.string_dtype("ascii")))


@pytest.fixture
def written(tmp_path: Path) -> tuple[Path, HeightMap]:
    hm = HeightMap(marked_map(), 0.02, 0.03, {"wavelength_nm": 632.8, "instrument": "GPI"})
    p = tmp_path / "m.datx"
    metrology.save(hm, p)
    return p, hm


# -- real file ---------------------------------------------------------------------------------

def test_realdata_reference_figures(realdata) -> None:
    hm = metrology.load(realdata(REAL))
    assert hm.shape == (259, 33)
    assert hm.dx_mm == pytest.approx(1.0, rel=1e-3) and hm.dy_mm == pytest.approx(1.0, rel=1e-3)
    assert hm.rms_nm == pytest.approx(80.82, rel=1e-3)
    assert hm.pv_nm == pytest.approx(453, rel=1e-3)
    assert 1 - hm.valid_fraction == pytest.approx(0.091, abs=1e-3)
    m = hm.meta
    assert m["format"] == "datx" and m["z_unit_original"] == "Fringes"
    assert m["rows_flipped"] is True
    assert m["wavelength_nm"] == pytest.approx(632.8, rel=1e-6)
    assert m["software"] == "MetroPro 8.3.3"
    for key in ("instrument", "timestamp", "z_scale_to_nm"):
        assert key in m


def test_realdata_orientation_and_scale_against_raw_file(realdata) -> None:
    """Row 0 of the file (top of the camera image) must be our last row (y up)."""
    path = realdata(REAL)
    hm = metrology.load(path)
    with h5py.File(path, "r") as f:
        raw = surface_dataset(f)[()]
    # Fringes: height = value * wavelength * scale factor (0.5) * obliquity (1) (file attrs)
    with np.errstate(over="ignore"):
        expect = np.where(raw >= 1e300, np.nan, raw * 632.799981e-9 * 0.5 * 1.0 * 1e9)
    np.testing.assert_allclose(hm.z_nm, expect[::-1], rtol=1e-7, equal_nan=True)


# -- round trip and layout ---------------------------------------------------------------------

def test_round_trip_exact_with_nan_and_non_square_pixels(written) -> None:
    p, hm = written
    back = metrology.load(p)
    assert np.array_equal(back.z_nm, hm.z_nm, equal_nan=True)
    assert back.dx_mm == hm.dx_mm and back.dy_mm == hm.dy_mm
    assert back.meta["wavelength_nm"] == pytest.approx(632.8, rel=1e-12)
    assert back.meta["format"] == "datx" and back.meta["z_unit_original"] == "NanoMeters"


def test_orientation_marker_and_file_holds_image_order(written) -> None:
    p, hm = written
    back = metrology.load(p)
    assert back.z_nm[10, 1] == 500.0  # marker stays near the top-left
    assert np.isnan(back.z_nm[0, -1])  # invalid block stays bottom-right
    assert back.z_nm[-1, 0] > back.z_nm[0, 0]  # y ramp still increases upwards
    with h5py.File(p, "r") as f:
        raw = surface_dataset(f)[()]
    # the file stores image order: its first row is the top (largest y) row of the map
    assert raw[1, 1] == 500.0
    assert raw[-1, -1] == np.finfo(np.float64).max  # Zygo's no-data value


def test_prysm_reads_our_datx_exactly(written) -> None:
    prysm_io = pytest.importorskip("prysm.io")
    p, hm = written
    got = prysm_io.read_zygo_datx(str(p))
    # prysm does not flip: it returns the file's image order
    assert np.array_equal(got["phase"], hm.z_nm[::-1], equal_nan=True)
    assert got["meta"]["Lateral Resolution"] == pytest.approx(hm.dx_mm * 1e-3, rel=1e-15)
    assert got["meta"]["Wavelength"] == pytest.approx(632.8e-9, rel=1e-12)


def test_surface_found_through_metadata_not_first_key(written) -> None:
    p, hm = written
    with h5py.File(p, "r+") as f:
        # a decoy that sorts before the real GUID in /Data/Surface
        f["Data/Surface"].create_dataset("{00000000-0000-0000-0000-000000000000}",
                                         data=np.full((3, 3), 7.0))
        assert list(f["Data/Surface"])[0].startswith("{0000")
    back = metrology.load(p)
    assert back.shape == hm.shape
    assert np.array_equal(back.z_nm, hm.z_nm, equal_nan=True)


@pytest.mark.parametrize(("unit", "nm_per_unit"), [
    ("NanoMeters", 1.0),
    ("MicroMeters", 1e3),
    ("MilliMeters", 1e6),
    ("Meters", 1e9),
    ("Angstroms", 0.1),
    ("Inches", 25.4e6),
    ("Waves", 632.8),  # value x wavelength
    ("Fringes", 632.8 * 0.5 * 1.25),  # value x wavelength x scale factor x obliquity
])
def test_height_units(tmp_path: Path, unit: str, nm_per_unit: float) -> None:
    z = marked_map()
    p = tmp_path / "u.datx"
    metrology.save(HeightMap(z, 0.1, meta={"wavelength_nm": 632.8}), p)
    set_unit(p, unit, [0.0, 632.8e-9, 0.5, 1.25])
    with h5py.File(p, "r+") as f:
        surface_dataset(f).attrs.create("Obliquity Factor", np.array([1.25]))
    with metrology.io.limits(height_nm_max=1e12):  # 500 "Meters" is beyond the default 1 m
        hm = metrology.load(p)
    np.testing.assert_allclose(hm.z_nm, z * nm_per_unit, rtol=1e-12, equal_nan=True)
    assert hm.meta["z_unit_original"] == unit
    assert hm.meta["z_scale_to_nm"] == pytest.approx(nm_per_unit, rel=1e-12)


def test_heights_beyond_one_metre_refused(tmp_path: Path) -> None:
    """Plausibility limit: |height| <= 1e9 nm (1 m); the file's 500 counts in Meters are
    500 m. Refused with the limit named, readable when the caller raises the limit."""
    p = tmp_path / "m.datx"
    metrology.save(HeightMap(marked_map(), 0.1), p)
    set_unit(p, "Meters")
    with pytest.raises(FileFormatError, match="height_nm_max"):
        metrology.load(p)
    with metrology.io.limits(height_nm_max=1e12):
        assert np.nanmax(metrology.load(p).z_nm) == pytest.approx(5e11, rel=1e-3)


def test_unknown_unit_is_named(written) -> None:
    p, _ = written
    set_unit(p, "Furlongs")
    with pytest.raises(FileFormatError, match="Furlongs") as ei:
        metrology.load(p)
    assert str(p) in str(ei.value)


def test_fringes_without_wavelength_refused(written) -> None:
    p, _ = written
    set_unit(p, "Fringes", [0.0, 0.0, 0.5, 1.0])
    with h5py.File(p, "r+") as f:
        surface_dataset(f).attrs.create("Wavelength", np.array([0.0]))
    with pytest.raises(FileFormatError, match="wavelength"):
        metrology.load(p)


def test_no_data_nan_and_sentinel(written) -> None:
    p, hm = written
    with h5py.File(p, "r+") as f:
        ds = surface_dataset(f)
        a = ds[()]
        a[a == np.finfo(np.float64).max] = np.nan  # NaN as the no-data value
        a[5, 5] = 3.0e38  # a float32-max style sentinel as well
        ds[...] = a
        ds.attrs.create("No Data", np.array([np.nan]))
    back = metrology.load(p)
    expect = hm.z_nm.copy()
    expect[-1 - 5, 5] = np.nan
    assert np.array_equal(back.z_nm, expect, equal_nan=True)


def test_uncalibrated_needs_dx_mm(written) -> None:
    p, hm = written
    with h5py.File(p, "r+") as f:
        ds = surface_dataset(f)
        for axis in ("X", "Y"):
            c = ds.attrs[f"{axis} Converter"].copy()
            c[0]["Parameters"] = np.zeros(4)
            ds.attrs.create(f"{axis} Converter", c)
        g = f[[r["Destination"].decode() for r in f["MetaData"][()]
               if r["Link"] == b"Attributes" and r["Source"] != b"Root"][0]]
        for k in list(g.attrs):
            if "Lateral Resolution:Value" in k:
                g.attrs[k] = np.array([0.0])
    with pytest.raises(FileFormatError, match="dx_mm="):
        metrology.load(p)
    back = metrology.load(p, dx_mm=0.5)
    assert back.dx_mm == 0.5 and back.dy_mm == 0.5
    assert back.meta["lateral_calibrated"] is False and back.meta["lateral_source"] == "caller"


def test_read_intensity(written) -> None:
    p, hm = written
    inten = np.arange(hm.z_nm.size, dtype=np.float64).reshape(hm.shape)  # image order
    with h5py.File(p, "r+") as f:
        f.create_group("Data/Intensity").create_dataset("{I}", data=inten)
        rows = list(f["MetaData"][()])
        meas = next(r["Destination"] for r in rows if r["Link"] == b"Measurement")
        dt = f["MetaData"].dtype
        extra = np.array([(meas, b"Intensity", b"{I}"), (b"{I}", b"Path", b"/Data/Intensity/{I}")],
                         dtype=dt)
        table = np.concatenate([np.array(rows, dtype=dt), extra])
        del f["MetaData"]
        f.create_dataset("MetaData", data=table)
    assert metrology.load(p).meta["has_intensity"] is True
    got = datx.read_intensity(p)
    assert np.array_equal(got, inten[::-1])


def test_writer_refuses_nothing_it_can_store_and_meta_keys(written) -> None:
    p, _ = written
    m = metrology.load(p).meta
    for key in ("format", "instrument", "software", "wavelength_nm", "timestamp",
                "z_unit_original", "z_scale_to_nm", "rows_flipped"):
        assert key in m
    assert m["software"].startswith("metrology")


# -- dispatch between HDF5 layouts -------------------------------------------------------------

def test_foreign_hdf5_refused_with_known_layouts(tmp_path: Path) -> None:
    p = tmp_path / "other.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("images/frame0", data=np.zeros((4, 4)))
    with pytest.raises(FileFormatError, match="unknown layout") as ei:
        metrology.load(p)
    msg = str(ei.value)
    assert "/images" in msg and "datx" in msg and "4sight-h5" in msg


def test_forced_format_checks_layout(written) -> None:
    p, _ = written
    with pytest.raises(FileFormatError, match="4Sight"):
        metrology.load(p, format="4sight-h5")
    with pytest.raises(FileFormatError, match="Focus"):
        metrology.load(p, format="4sight-focus")


def test_hdf5_sniff_claims_hdf5_only() -> None:
    assert _hdf5.is_hdf5(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    assert _hdf5.is_hdf5(b"\0" * 512 + b"\x89HDF\r\n\x1a\n" + b"\0" * 100)  # user block
    assert not _hdf5.is_hdf5(b"PK\x03\x04" + b"\0" * 100)


# -- corrupt files -----------------------------------------------------------------------------







def test_input_file_not_modified(realdata, tmp_path: Path) -> None:
    src = tmp_path / REAL
    shutil.copyfile(realdata(REAL), src)
    before = (src.read_bytes(), src.stat().st_mtime_ns)
    metrology.load(src)
    assert (src.read_bytes(), src.stat().st_mtime_ns) == before


# -- the isolated reader process: crash and loop guard, one process for many files --------

def _crash(path: str) -> str:
    os.kill(os.getpid(), signal.SIGSEGV)
    return "unreachable"


def _spin(path: str) -> str:
    while True:  # burns CPU like an HDF5 loop: the CPU allowance must end it
        pass


def _block(path: str) -> str:
    time.sleep(600)  # blocked, no CPU: the wall-clock backstop must end it
    return "unreachable"


def _pid(path: str) -> int:
    return os.getpid()


@pytest.mark.skipif(not _isolated.enabled(), reason="isolated reader only on Linux")
def test_reader_process_turns_crash_and_loops_into_errors(tmp_path: Path,
                                                         monkeypatch) -> None:
    p = tmp_path / "x.datx"
    p.write_bytes(b"\x89HDF\r\n\x1a\n")
    first = _isolated.call(_pid, str(p), path=p, file_size=8)
    assert first != os.getpid()
    with pytest.raises(FileFormatError, match=r"crashed \(SIGSEGV\)") as ei:
        _isolated.call(_crash, str(p), path=p, file_size=8)
    assert str(p) in str(ei.value)
    assert not Path(f"/proc/{first}").exists()  # the crashed reader was reaped: no zombie
    t0 = time.perf_counter()
    with pytest.raises(FileFormatError, match="CPU allowance"):
        _isolated.call(_spin, str(p), path=p, file_size=8)
    assert time.perf_counter() - t0 < 5  # killed after META_CPU_S of CPU
    monkeypatch.setattr(_isolated, "WALL_S", 0.5)
    with pytest.raises(FileFormatError, match="did not finish within"):
        _isolated.call(_block, str(p), path=p, file_size=8)
    assert _isolated.call(_pid, str(p), path=p, file_size=8) not in (first, os.getpid())


@pytest.mark.skipif(not _isolated.enabled(), reason="isolated reader only on Linux")
def test_new_files_share_one_reader_process(tmp_path: Path) -> None:
    """No fork per file: loads of distinct files go to the same reader process."""
    pids = set()
    for i in range(3):
        p = tmp_path / f"m{i}.datx"
        metrology.save(HeightMap(marked_map(seed=i), 0.1), p)
        metrology.load(p)
        pids.add(_isolated.worker_pid())
    assert len(pids) == 1 and None not in pids and os.getpid() not in pids


def test_corrupt_datatype_refused_before_reading(written) -> None:
    """A datatype no Zygo file uses (here: the unit as a byte sequence) is refused unread.

    Found by fuzzing: h5py crashed reading a converter whose datatype message had a
    flipped byte that turned the BaseUnit string into a variable-length uint8 array.
    """
    p, _ = written
    with h5py.File(p, "r+") as f:
        ds = surface_dataset(f)
        t = np.dtype([("Category", h5py.string_dtype("ascii")),
                      ("BaseUnit", h5py.vlen_dtype(np.uint8)),
                      ("Parameters", h5py.vlen_dtype(np.float64))])
        a = np.empty(1, dtype=t)
        a[0] = ("LateralCat", np.frombuffer(b"Pixels", np.uint8), np.zeros(4))
        ds.attrs.create("X Converter", a)
    with pytest.raises(FileFormatError, match="unexpected datatype"):
        metrology.load(p)


def test_unknown_reader_argument_is_named(written) -> None:
    p, _ = written
    with pytest.raises(FileFormatError, match="does not take.*opd"):
        metrology.load(p, opd=True)


def test_numpy_conversion_matches_the_kernel() -> None:
    """The NumPy path (used in a process forked after GNU OpenMP ran) gives the kernel's bits."""
    from kernels.convert import heights_from_raw

    rng = np.random.default_rng(5)
    raw = rng.normal(size=(31, 17)) * 1e3
    raw[2, 3] = -999.0
    raw[4, 5] = np.finfo(np.float64).max
    raw[6, 7] = np.nan
    raw[8, 9] = 2.0**99
    for nodata in (-999.0, None):
        a = np.empty_like(raw)
        b = np.empty_like(raw)
        heights_from_raw(raw, 2.0**930, nodata if nodata is not None else 0.0,
                         nodata is not None, datx._SENTINEL_ABS, True, a,
                         np.empty(raw.shape, bool))
        datx._heights_numpy(raw, 2.0**930, nodata, b)
        assert a.tobytes() == b.tobytes()


# -- the heights read beside the metadata (_hdf5.start_read) -------------------------------------

def _bulk_read(path: Path, monkeypatch: pytest.MonkeyPatch | None = None
               ) -> tuple[np.ndarray, bool]:
    """(raw dataset as the reader returns it, whether the preadv path was taken), in this
    process."""
    taken = []
    orig = _hdf5._plain_extent

    def spy(*a):
        r = orig(*a)
        taken.append(r is not None)
        return r

    mp = monkeypatch or pytest.MonkeyPatch()
    mp.setattr(_hdf5, "_plain_extent", spy)
    try:
        _, _, raw = _hdf5._fetch_here(str(path), None, "surface")
    finally:
        if monkeypatch is None:
            mp.undo()
    return np.array(raw), bool(taken and taken[0])


def test_plain_dataset_read_beside_metadata_gives_hdf5s_bytes(written, monkeypatch) -> None:
    """A contiguous little-endian float64 dataset (what Zygo and our writer store) is read
    by preadv on a thread: the same bytes as h5py's own read of the dataset."""
    p, _ = written
    raw, fast = _bulk_read(p, monkeypatch)
    assert fast
    with h5py.File(p, "r") as f:
        ref = surface_dataset(f)[()]
    assert raw.dtype == np.float64 and raw.tobytes() == ref.tobytes()


@pytest.mark.parametrize("layout", ["chunked-deflate", "big-endian", "float32"])
def test_other_storage_is_read_by_hdf5(written, layout: str) -> None:
    """Chunked, compressed, big-endian or float32 data go through HDF5 (it converts), with
    the same values as h5py's read."""
    p, hm = written
    with h5py.File(p, "r+") as f:
        ds = surface_dataset(f)
        name, data, attrs = ds.name, ds[()], dict(ds.attrs)
        del f[name]
        kw: dict = {}
        if layout == "chunked-deflate":
            kw = {"chunks": (8, 8), "compression": "gzip"}
        dt = {"big-endian": ">f8", "float32": "<f4"}.get(layout, "<f8")
        with np.errstate(over="ignore"):  # float32: the no-data sentinel becomes inf
            stored = data.astype(dt)
        new = f.create_dataset(name, data=stored, dtype=dt, **kw)
        for k, v in attrs.items():
            new.attrs[k] = v
    raw, fast = _bulk_read(p)
    assert not fast
    assert np.array_equal(raw, stored.astype(np.float64), equal_nan=True)
    with np.errstate(over="ignore"):
        expect = hm.z_nm.astype(dt).astype(np.float64)  # heights are stored in nm
    assert np.array_equal(metrology.load(p).z_nm, expect, equal_nan=True)


def test_metadata_error_after_the_read_started_waits_for_it(written, monkeypatch) -> None:
    """A layout that fails after starting the read joins the reading thread before the
    error leaves (no thread writing into memory that is given back)."""
    import threading

    p, _ = written
    started = []
    orig = _hdf5.start_read

    def spy(*a):
        r = orig(*a)
        started.append(r)
        return r

    def bad(*a):
        raise FileFormatError("converter broken")

    monkeypatch.setattr(_hdf5, "start_read", spy)
    monkeypatch.setattr(datx, "_converter", bad)
    with pytest.raises(FileFormatError, match="converter broken"):
        _hdf5._fetch_here(str(p), None, "surface")
    assert started and started[0]._thread is None
    assert not any(t.name == "metrology-hdf5-read" for t in threading.enumerate())


def test_short_read_is_an_error(tmp_path: Path) -> None:
    """preadv past the end of the file (a file cut after the checks) is a FileFormatError,
    not zeros."""
    p = tmp_path / "short.bin"
    p.write_bytes(b"\x00" * 100)
    out = np.full(20, np.nan)
    fd = os.open(p, os.O_RDONLY)
    try:
        err: list[BaseException] = []
        _hdf5._pread_into(fd, 0, memoryview(out).cast("B"), err)
    finally:
        os.close(fd)
    assert err
    with pytest.raises(FileFormatError, match="cannot read"):
        _hdf5.PendingRead(p, "surface dataset", out, None, err).result()


def test_attribute_memory_types_are_reused_only_for_the_same_type(tmp_path: Path) -> None:
    """The memory-type cache of the attribute reader never reads one type as another: a
    uint32 after an int32 of the same size keeps 4294967295, a UTF-8 string after an ASCII
    one keeps its text, float32 after float64 its value; each as h5py reads it, cache cold
    and warm."""
    p = tmp_path / "attrs.h5"
    with h5py.File(p, "w") as f:
        g = f.create_group("g")
        g.attrs.create("i32", -7, dtype="<i4")
        g.attrs.create("u32", 4294967295, dtype="<u4")
        g.attrs.create("u32be", 4000000000, dtype=">u4")
        g.attrs.create("f64", 0.1, dtype="<f8")
        g.attrs.create("f32", 0.1, dtype="<f4")
        g.attrs["ascii"] = np.array("plain", dtype=h5py.string_dtype("ascii"))
        g.attrs["utf8"] = np.array("Größe µm", dtype=h5py.string_dtype("utf-8"))
        g.attrs["fixed"] = np.bytes_(b"FIXED12")
        conv = np.zeros(1, dtype=[("BaseUnit", h5py.string_dtype("ascii")),
                                  ("Parameters", h5py.vlen_dtype(np.float64))])
        conv[0] = ("Pixels", np.array([1.0, 2.5e-6]))
        g.attrs["conv"] = conv
    names = ["i32", "u32", "u32be", "f64", "f32", "ascii", "utf8", "fixed", "conv"]
    _hdf5._MEMORY_TYPES.clear()
    with h5py.File(p, "r") as f:
        g = f["g"]
        for _ in range(2):  # cold, then every type from the cache
            for n in names:
                got = _hdf5.attr_value(g, n)
                want = g.attrs[n]
                if n == "conv":
                    assert got["BaseUnit"][0] == b"Pixels"
                    np.testing.assert_array_equal(got["Parameters"][0], [1.0, 2.5e-6])
                    continue
                if isinstance(want, str):
                    want = want.encode("utf-8")
                assert got == want, n
                assert type(got) in (int, float, bytes), n
    assert _hdf5.attr_value(g := h5py.File(p, "r")["g"], "u32") == 4294967295
    assert _hdf5.attr_str(g, "utf8") == "Größe µm"
    assert len(_hdf5._MEMORY_TYPES) >= 7  # distinct keys, not one per class


def test_resolve_follows_soft_links_and_names_what_is_wrong(tmp_path: Path) -> None:
    """resolve walks the path link by link: soft links inside the file are followed; a
    missing link, a dataset in the middle of a path and an external link are named."""
    p = tmp_path / "links.h5"
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.zeros(3)
    with h5py.File(p, "w") as f:
        f.create_group("a/b")["d"] = np.arange(4.0)
        f["soft"] = h5py.SoftLink("/a/b")
        f["ext"] = h5py.ExternalLink(str(other), "/x")
    with h5py.File(p, "r") as f:
        got = _hdf5.resolve(f, p, "soft/d")
        assert isinstance(got, h5py.Dataset) and np.array_equal(got[()], np.arange(4.0))
        assert isinstance(_hdf5.resolve(f, p, "/a/b/"), h5py.Group)
        assert _hdf5.resolve(f, p, "") is f
        with pytest.raises(FileFormatError, match=r"no /a/c in the file"):
            _hdf5.resolve(f, p, "a/c/d")
        with pytest.raises(FileFormatError, match=r"/a/b/d/e: /a/b/d is not a group"):
            _hdf5.resolve(f, p, "a/b/d/e")
        with pytest.raises(FileFormatError, match=r"/ext is an external link to .*other\.h5"):
            _hdf5.resolve(f, p, "ext")
