"""The format listing (read/write, instruments), refusals with advice, 1-D data as profiles."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from test_io_sur import build_sur

import metrology as m
from metrology.errors import FileFormatError
from metrology.io import format_table, formats
from metrology.io.npy import write_npz
from metrology.profile import Profile


def test_every_format_lists_read_write_and_instruments() -> None:
    rows = formats()
    names = {r["name"] for r in rows}
    assert {"opd", "plu", "al3d", "frt", "gwy", "profile", "sur", "x3p", "datx"} <= names
    for r in rows:
        assert isinstance(r["read"], bool) and isinstance(r["write"], bool)
        assert r["instruments"], f"format {r['name']} names no instrument or source"
    table = format_table()
    for n in names:
        assert n in table
    assert ".mnt" in table and ".plux" in table and "not read" in table


@pytest.mark.parametrize(("ext", "hint"), [(".mnt", ".sur"), (".plux", ".plu"),
                                           (".opdx", ".x3p"), (".vk4", ".x3p")])
def test_refused_formats_say_what_to_export(tmp_path: Path, ext: str, hint: str) -> None:
    f = tmp_path / f"scan{ext}"
    if ext == ".plux":
        with zipfile.ZipFile(f, "w") as z:
            z.writestr("index.xml", "<xml/>")
    else:
        f.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600))
    with pytest.raises(FileFormatError, match="not supported") as e:
        m.load(f)
    assert hint in str(e.value) and str(f) in str(e.value)


def test_an_ole2_file_without_extension_is_named(tmp_path: Path) -> None:
    f = tmp_path / "mystery.bin"
    f.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600))
    with pytest.raises(FileFormatError, match="OLE2 compound document"):
        m.load(f)


def test_one_dimensional_maps_come_back_as_profiles(tmp_path: Path) -> None:
    f = tmp_path / "p.sur"
    f.write_bytes(build_sur(np.array([[10, 20, 40, 80]]), object_type=1, dx=0.5, dz=1.0))
    p = m.load(f)
    assert isinstance(p, Profile) and p.z_nm.tolist() == [10.0, 20.0, 40.0, 80.0]
    assert p.dx_mm == 0.0005 and p.meta["format"] == "sur" and "profile_from" in p.meta
    g = tmp_path / "row.npz"
    write_npz(m.HeightMap(np.array([[1.0, 2.0, 3.0]]), 0.01), g)
    assert isinstance(m.load(g), Profile)


@pytest.mark.realdata
def test_realdata_mnt_is_refused_with_the_export_to_use(realdata) -> None:
    with pytest.raises(FileFormatError, match="MountainsMap") as e:
        m.load(realdata("st_mnt-1.mnt"))
    assert ".sur" in str(e.value) and ".x3p" in str(e.value)

