"""Hostile and unlucky files (issue 18): each fix at its mechanism, with an outcome that
follows from an independent argument (a secret the file points at must never come back,
a size the file cannot hold must be refused before it is allocated, ...).
"""

from __future__ import annotations

import io
import os
import time
import warnings
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

import metrology
from metrology import FileFormatError, HeightMap
from metrology.io import _isolated

from iohelpers import marked_map

SECRET = np.array([[31337.0, 27182.8], [16180.3, 14142.1]])  # heights nobody else writes


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    s = tmp_path / "secret.bin"
    s.write_bytes(SECRET.astype("<f8").tobytes())
    return s


def _written(tmp_path: Path, ext: str) -> tuple[Path, str]:
    """A file our writer made, and the path of its height dataset."""
    p = tmp_path / f"w{ext}"
    metrology.save(HeightMap(np.ones((2, 2)), 0.1, meta={"wavelength_nm": 632.8}), p)
    if ext == ".4D":
        return p, "Measurement/SurfaceInWaves/Data"
    with h5py.File(p, "r") as f:
        md = {(r["Source"].decode(), r["Link"].decode()): r["Destination"].decode()
              for r in f["MetaData"][()]}
        meas = md[("Root", "Measurement")]
        return p, md[(md[(meas, "Surface")], "Path")]


def _replace(p: Path, name: str, make) -> None:
    with h5py.File(p, "r+") as f:
        attrs = dict(f[name].attrs)
        del f[name]
        ds = make(f, name)
        if isinstance(ds, h5py.Dataset):
            for k, v in attrs.items():
                ds.attrs[k] = v


def _refused_without_secret(p: Path, name: str, match: str) -> None:
    with pytest.raises(FileFormatError, match=match) as ei:
        metrology.load(p)
    msg = str(ei.value)
    assert str(p) in msg and name.split("/")[-1] in msg
    for v in ("31337", "27182", "16180"):
        assert v not in msg


@pytest.mark.parametrize("ext", [".datx", ".4D"])
def test_external_storage_refused(tmp_path: Path, secret: Path, ext: str) -> None:
    p, name = _written(tmp_path, ext)
    _replace(p, name, lambda f, n: f.create_dataset(n, shape=(2, 2), dtype="<f8",
                                                    external=[(str(secret), 0, 32)]))
    with h5py.File(p, "r") as f:  # the crafted file really does read the secret
        assert np.array_equal(f[name][()], SECRET)
    _refused_without_secret(p, name, "external files")


@pytest.mark.parametrize("ext", [".datx", ".4D"])
def test_virtual_dataset_refused(tmp_path: Path, ext: str) -> None:
    src = tmp_path / "src.h5"
    with h5py.File(src, "w") as f:
        f["x"] = SECRET
    p, name = _written(tmp_path, ext)

    def make(f, n):
        lay = h5py.VirtualLayout(shape=(2, 2), dtype="<f8")
        lay[:] = h5py.VirtualSource(str(src), "x", shape=(2, 2))
        return f.create_virtual_dataset(n, lay)

    _replace(p, name, make)
    with h5py.File(p, "r") as f:
        assert np.array_equal(f[name][()], SECRET)
    _refused_without_secret(p, name, "virtual dataset")


@pytest.mark.parametrize("ext", [".datx", ".4D"])
def test_external_link_refused(tmp_path: Path, ext: str) -> None:
    src = tmp_path / "src.h5"
    with h5py.File(src, "w") as f:
        f["x"] = SECRET
    p, name = _written(tmp_path, ext)

    def make(f, n):
        f[n] = h5py.ExternalLink(str(src), "/x")

    _replace(p, name, make)
    with h5py.File(p, "r") as f:
        assert np.array_equal(f[name][()], SECRET)
    _refused_without_secret(p, name, "external link")


@pytest.mark.parametrize("ext", [".datx", ".4D"])
@pytest.mark.parametrize("written", [0, 1])
def test_unwritten_chunks_refused(tmp_path: Path, ext: str, written: int) -> None:
    """A chunked gzip dataset with no (or some) chunks written reads as the fill value:
    a flat map that is not in the file."""
    p, name = _written(tmp_path, ext)

    def make(f, n):
        ds = f.create_dataset(n, shape=(64, 64), dtype="<f8", chunks=(32, 32),
                              compression="gzip", fillvalue=0.0)
        if written:
            ds[:32, :32] = 1.0
        return ds

    _replace(p, name, make)
    with h5py.File(p, "r") as f:  # h5py itself returns a map: fill value where unwritten
        assert f[name][()].shape == (64, 64)
    _refused_without_secret(p, name, "chunks written")


def test_contiguous_never_written_refused(tmp_path: Path) -> None:
    p, name = _written(tmp_path, ".datx")
    _replace(p, name, lambda f, n: f.create_dataset(n, shape=(8, 8), dtype="<f8"))
    _refused_without_secret(p, name, "no storage allocated")


def test_compressed_bomb_refused_before_reading(tmp_path: Path) -> None:
    """6.5 Mpx of zeros in a ~60 kB file: 52 MB decoded from it is ~870:1, above the 32:1
    limit (and the map is above free_pixels); refused before the read, readable on request."""
    p, name = _written(tmp_path, ".datx")
    n = 2560
    _replace(p, name, lambda f, k: f.create_dataset(k, data=np.zeros((n, n)), chunks=(512, 512),
                                                    compression="gzip", compression_opts=9))
    size = p.stat().st_size
    assert n * n * 8 > 500 * size
    with pytest.raises(FileFormatError, match="ratio"):
        metrology.load(p)
    with metrology.io.limits(expansion={"deflate": 1e5}):
        assert metrology.load(p).shape == (n, n)


def test_soft_link_loop_refused(tmp_path: Path) -> None:
    p, name = _written(tmp_path, ".datx")
    _replace(p, name, lambda f, n: f.__setitem__(n, h5py.SoftLink("/" + n)))
    with pytest.raises(FileFormatError):
        metrology.load(p)


def test_quadratic_attribute_text_is_linear(tmp_path: Path) -> None:
    """4Sight numbers are text ('632.8 nm'); a 1 MB attribute of digits and spaces took
    quadratic time in the old regex (40 000 characters: 12 s). One scan: well under 1 s."""
    from metrology.io import _hdf5

    text = "1" + " " * 500_000 + "x" + " " * 500_000 + "!"
    t0 = time.perf_counter()
    assert _hdf5.split_number_unit(text) == (1.0, text[1:].strip())
    assert _hdf5.split_number_unit("9" * 1_000_000) is not None
    assert time.perf_counter() - t0 < 1.0
    assert _hdf5.split_number_unit("0.007111 mm") == (0.007111, "mm")
    assert _hdf5.split_number_unit("1e") == (1.0, "e")
    assert _hdf5.split_number_unit("mm 3") is None


# -- long names and OS errors ---------------------------------------------------------------------

@pytest.mark.parametrize("n", [200, 238, 246, 255])
@pytest.mark.parametrize("ext", [".x3p", ".datx", ".txt"])
def test_valid_long_names_save_and_load(tmp_path: Path, n: int, ext: str) -> None:
    """A name of up to NAME_MAX (255 bytes) is valid, so save must manage it: the temporary
    name beside it must fit too."""
    p = tmp_path / ("m" * (n - len(ext)) + ext)
    assert len(os.fsencode(p.name)) == n
    hm = HeightMap(marked_map(4, 5), 0.01)
    metrology.save(hm, p)
    back = metrology.load(p)
    assert back.shape == hm.shape
    assert sorted(x.name for x in tmp_path.iterdir()) == [p.name]  # no temporary left behind


def test_long_multibyte_name_and_report_writer(tmp_path: Path) -> None:
    from metrology._atomic import atomic_write_text

    p = tmp_path / ("\u00e9" * 125 + ".json")  # 250 + 5 = 255 bytes in UTF-8
    assert len(os.fsencode(p.name)) == 255
    atomic_write_text(p, "{}")
    assert p.read_text() == "{}" and len(list(tmp_path.iterdir())) == 1


def test_os_errors_are_file_format_errors_naming_the_path(tmp_path: Path) -> None:
    long = tmp_path / ("a" * 300 + ".datx")  # over NAME_MAX: ENAMETOOLONG, not "no such file"
    with pytest.raises(FileFormatError, match="too long") as ei:
        metrology.load(long)
    assert str(long) in str(ei.value)
    with pytest.raises(FileFormatError, match="not a regular file"):
        metrology.load(tmp_path)
    with pytest.raises(FileFormatError, match="no such file"):
        metrology.load(tmp_path / "absent.x3p")
    with pytest.raises(FileFormatError, match="cannot write"):
        metrology.save(HeightMap(np.ones((2, 2)), 0.1), tmp_path / ("b" * 300 + ".x3p"))


# -- zip containers: duplicates, entities, bombs, lying sizes -------------------------------------

def _x3p_bytes(tmp_path: Path) -> bytes:
    p = tmp_path / "base.x3p"
    metrology.save(HeightMap(marked_map(5, 7), 0.001), p)
    return p.read_bytes()


def test_x3p_duplicate_entries_refused(tmp_path: Path) -> None:
    """Two members named bindata/data.bin: zipfile silently reads the last one."""
    src = zipfile.ZipFile(io.BytesIO(_x3p_bytes(tmp_path)))
    p = tmp_path / "dup.x3p"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        with zipfile.ZipFile(p, "w") as zf:
            for info in src.infolist():
                zf.writestr(info.filename, src.read(info))
            zf.writestr("bindata/data.bin", np.full(35, 0.5).tobytes())
    with pytest.raises(FileFormatError, match="several entries named 'bindata/data.bin'"):
        metrology.load(p)


@pytest.mark.parametrize("doctype", [
    '<!DOCTYPE r [<!ENTITY e SYSTEM "file://{secret}">]>',
    '<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>',
])
def test_x3p_entities_refused(tmp_path: Path, secret: Path, doctype: str) -> None:
    """An external entity must not pull another file in; an entity bomb must not expand."""
    src = zipfile.ZipFile(io.BytesIO(_x3p_bytes(tmp_path)))
    xml = src.read("main.xml").decode()
    xml = xml.replace("?>", "?>" + doctype.format(secret=secret), 1)
    xml = xml.replace("<Creator>metrology</Creator>", "<Creator>&e;&b;</Creator>")
    p = tmp_path / "ent.x3p"
    with zipfile.ZipFile(p, "w") as zf:
        for info in src.infolist():
            zf.writestr(info.filename, xml if info.filename == "main.xml" else src.read(info))
    with pytest.raises(FileFormatError, match="DTD or entities"):
        metrology.load(p)


def _npz_member_bomb(p: Path, n: int, method: int) -> None:
    hdr = io.BytesIO()
    np.lib.format.write_array_header_1_0(hdr, {"descr": "<f8", "fortran_order": False,
                                               "shape": (n, n)})
    with zipfile.ZipFile(p, "w", compression=method) as zf:
        with zf.open("z_nm.npy", "w", force_zip64=True) as fp:
            fp.write(hdr.getvalue())
            row = bytes(8 * n)
            for _ in range(n):
                fp.write(row)
        b = io.BytesIO()
        np.lib.format.write_array(b, np.array(0.1))
        zf.writestr("dx_mm.npy", b.getvalue())


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA, zipfile.ZIP_DEFLATED])
def test_npz_bomb_refused_before_decoding(tmp_path: Path, method: int) -> None:
    """2100^2 zeros (35 MB) in a tiny member: refused from the declared sizes. zipfile's own
    bzip2/lzma reader decodes a whole block per call (the issue's 1 098-byte file used
    1.09 GiB to read a 6-byte header); the reader must not allocate the map."""
    import tracemalloc

    p = tmp_path / "bomb.npz"
    _npz_member_bomb(p, 2100, method)  # 4.4 Mpx, just above free_pixels
    assert p.stat().st_size < 300_000
    tracemalloc.start()
    try:
        with pytest.raises(FileFormatError, match="ratio"):
            metrology.load(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, peak  # far below the 35 MB the member declares


def test_zip_member_that_lies_about_its_size_is_cut_off(tmp_path: Path) -> None:
    """A member declaring 4 kB that inflates to 8 MB: decoding stops past the declared size."""
    import tracemalloc

    p = tmp_path / "lie.npz"
    metrology.save(HeightMap(np.zeros((1000, 1000)), 0.1), p, compress=True)
    data = bytearray(p.read_bytes())
    zf = zipfile.ZipFile(io.BytesIO(bytes(data)))
    info = zf.getinfo("z_nm.npy")
    real = info.file_size
    assert real > 8_000_000
    # patch the declared size (local header and central directory; zip64 extra field if used)
    fake = 4096
    for i in range(len(data) - 8):
        if data[i:i + 8] == real.to_bytes(8, "little"):
            data[i:i + 8] = fake.to_bytes(8, "little")
    for i in range(len(data) - 4):
        if data[i:i + 4] == real.to_bytes(4, "little"):
            data[i:i + 4] = fake.to_bytes(4, "little")
    p.write_bytes(bytes(data))
    tracemalloc.start()
    try:
        with pytest.raises(FileFormatError):
            metrology.load(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20, peak


# -- the isolated reader's lifecycle ---------------------------------------------------------------

def _load_in_child(p: str) -> tuple[float, int | None, int]:
    hm = metrology.load(p)
    return float(np.nansum(hm.z_nm)), _isolated.worker_pid(), os.getpid()


@pytest.mark.skipif(not _isolated.enabled(), reason="isolated reader only on Linux")
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_reader_works_under_a_process_pool(tmp_path: Path, method: str) -> None:
    """Pool workers (forked after the parent started its reader, or spawned) each use a reader
    of their own; the parent's reader keeps working."""
    import multiprocessing as mp

    files = []
    for i in range(4):
        f = tmp_path / f"m{i}.datx"
        metrology.save(HeightMap(marked_map(seed=i), 0.1), f)
        files.append(str(f))
    expect = [float(np.nansum(metrology.load(f).z_nm)) for f in files]
    parent_reader = _isolated.worker_pid()
    with mp.get_context(method).Pool(2) as pool:
        got = pool.map(_load_in_child, files)
    assert [g[0] for g in got] == expect
    for _s, reader, pid in got:
        assert reader not in (None, parent_reader, pid)
    assert _isolated.worker_pid() == parent_reader
    assert float(np.nansum(metrology.load(files[0]).z_nm)) == expect[0]


@pytest.mark.skipif(not _isolated.enabled(), reason="isolated reader only on Linux")
def test_relative_paths_follow_the_callers_working_directory(tmp_path: Path,
                                                             monkeypatch) -> None:
    """The reader started in one folder reads a relative path of the caller's new folder
    (it used to look in the folder it started in: "No such file" or another file)."""
    for name, seed in (("a", 1), ("b", 2)):
        (tmp_path / name).mkdir()
        metrology.save(HeightMap(marked_map(seed=seed), 0.1), tmp_path / name / "m.datx")
    monkeypatch.chdir(tmp_path / "a")
    first = metrology.load("m.datx")
    reader = _isolated.worker_pid()
    monkeypatch.chdir(tmp_path / "b")
    second = metrology.load("m.datx")
    assert _isolated.worker_pid() == reader  # the same reader process
    expect = metrology.load(tmp_path / "b" / "m.datx")
    assert np.array_equal(second.z_nm, expect.z_nm, equal_nan=True)
    assert not np.array_equal(first.z_nm, second.z_nm, equal_nan=True)


@pytest.mark.skipif(not _isolated.enabled(), reason="isolated reader only on Linux")
def test_reader_exits_with_its_process(tmp_path: Path) -> None:
    """A process that read an HDF5 file and exits leaves no reader behind (no orphan, no
    zombie), also when it exits after forking children that read files too."""
    import subprocess
    import sys

    f = tmp_path / "m.datx"
    metrology.save(HeightMap(marked_map(), 0.1), f)
    code = (
        "import os, sys, metrology\n"
        "from metrology.io import _isolated\n"
        f"metrology.load({str(f)!r}); print(_isolated.worker_pid(), flush=True)\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        f"    metrology.load({str(f)!r}); print(_isolated.worker_pid(), flush=True); os._exit(0)\n"
        "os.waitpid(pid, 0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout.split()
    assert len(out) == 2 and out[0] != out[1]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in out):
        time.sleep(0.05)
    assert not [p for p in out if Path(f"/proc/{p}").exists()]


@pytest.mark.skipif(not _isolated.enabled(), reason="isolated reader only on Linux")
@pytest.mark.parametrize("ext", [".datx", ".4D"])
def test_isolated_reads_are_bit_identical_and_never_cached(tmp_path: Path, monkeypatch,
                                                           ext: str) -> None:
    """Heights through shared memory equal, bit for bit, a read in this process; and every
    load reads the file again (a file overwritten in place with the same size and time
    stamp is never taken for the one read before)."""
    p = tmp_path / f"m{ext}"
    metrology.save(HeightMap(marked_map(40, 30), 0.1, meta={"wavelength_nm": 632.8}), p)
    calls = []
    real_call = _isolated.call
    monkeypatch.setattr(_isolated, "call", lambda *a, **k: calls.append(a) or real_call(*a, **k))
    a = metrology.load(p)
    b = metrology.load(p)
    assert len(calls) == 2 and a.z_nm.tobytes() == b.z_nm.tobytes()
    st = p.stat()
    data = bytearray(p.read_bytes())
    data[-200:] = bytes(200)  # same size, different content
    p.write_bytes(bytes(data))
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    try:
        metrology.load(p)
    except FileFormatError:
        pass  # either outcome: what matters is that the file was read again
    assert len(calls) == 3
    monkeypatch.setattr(_isolated, "enabled", lambda: False)
    metrology.save(HeightMap(marked_map(40, 30), 0.1, meta={"wavelength_nm": 632.8}), p)
    here = metrology.load(p)
    monkeypatch.undo()
    there = metrology.load(p)
    assert here.z_nm.tobytes() == there.z_nm.tobytes()


@pytest.mark.skipif(not _isolated.enabled(), reason="isolated reader only on Linux")
def test_corrupt_metadata_string_lengths_stay_within_the_memory_budget(tmp_path: Path) -> None:
    """Issue 18's 18 kB .datx: 16 corrupt bytes in /MetaData made HDF5 allocate 2.2 GiB (and
    2.1 GiB more in the old guard's child). Here: the 4-byte lengths of four variable-length
    strings set to 2 GiB. The reader runs under the read's memory budget (4 x 29 kB + 100 MB),
    so HDF5's allocation fails inside it and the load is refused."""
    import struct

    from fuzz.oracle import PeakMeter

    p = tmp_path / "m.datx"
    metrology.save(HeightMap(np.ones((40, 40)), 0.1), p)
    data = bytearray(p.read_bytes())
    heap = data.find(b"GCOL")
    refs = []
    i = data.find(struct.pack("<Q", heap))
    while i >= 0:  # a vlen element: length (4 bytes), then the heap address and index
        refs.append(i)
        i = data.find(struct.pack("<Q", heap), i + 1)
    assert len(refs) >= 30
    for i in refs[-30:][:4]:
        struct.pack_into("<I", data, i - 4, 0x7FFF0000)
    p.write_bytes(bytes(data))
    meter = PeakMeter()
    meter.start()
    with pytest.raises(FileFormatError, match="MetaData"):
        metrology.load(p)
    if meter.works:
        assert meter.stop() < 100 * 2**20


def test_data_past_the_end_of_the_file_refused(tmp_path: Path) -> None:
    """A copy cut inside its last chunk whose superblock still claims a length that fits. HDF5
    versions whose file driver zero-fills reads past the end would return zeros there (this
    one refuses the read); either way the reader must refuse the file, before reading."""
    import struct

    p, name = _written(tmp_path, ".datx")
    _replace(p, name, lambda f, n: f.create_dataset(n, data=np.ones((128, 128)),
                                                    chunks=(32, 32)))  # chunks at the end
    with h5py.File(p, "r") as f:
        ends = []
        f[name].id.chunk_iter(lambda c: ends.append(c.byte_offset + c.size))
        end = max(ends)
    data = p.read_bytes()
    assert end == len(data)  # the last chunk is the last bytes of the file
    cut = end - 4096
    head = bytearray(data[:cut])
    assert head[8] == 0  # superblock version 0: end-of-file address at byte 40
    struct.pack_into("<Q", head, 40, cut)
    p.write_bytes(bytes(head))
    with pytest.raises(FileFormatError, match="past the end"):
        metrology.load(p)
