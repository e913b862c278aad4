"""Mutations of a source file, as hypothesis strategies.

Generic byte mutations work on any format (a new one gets them for free):
truncation at many offsets (dense in the first 4 kB, where headers live), bit
and byte flips, header fields set to 0 / -1 / huge / NaN at aligned offsets of
every width and both byte orders, deleted, repeated and inserted ranges.
Structure-aware mutations apply where the container is recognised: HDF5
(attribute type and value changes, missing datasets, external storage, virtual
datasets, external links, soft-link loops, unwritten chunks, odd shapes and
dtypes), zip (duplicate entries, other compression methods, bombs, lying
sizes, edited ``main.xml``, entity declarations) and text (cut or repeated
lines, numbers replaced by extremes, long lines, edited header values).

A mutation is ``(name, function)``; the function takes the source bytes and a
work folder and returns ``(bytes, must_refuse)``: ``must_refuse`` marks cases
that must end in ``FileFormatError`` (data from outside the file).
"""

from __future__ import annotations

import functools
import io
import re
import struct
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import strategies as st

from .corpus import Source

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
#: heights nobody else writes: a map holding them came from the secret file
SECRET = np.array([31337.0, 27182.8, 16180.3, 14142.1] * 64)
Mutation = tuple[str, Callable[[bytes, Path], tuple[bytes, bool]]]


def secret_file(work: Path) -> Path:
    p = work / "secret.bin"
    if not p.exists():
        p.write_bytes(SECRET.astype("<f8").tobytes())
    return p


# -- generic byte mutations --------------------------------------------------------------------

def _offsets(n: int) -> st.SearchStrategy[int]:
    """Offsets into an n-byte file, dense in its first 4 kB (headers)."""
    if n <= 1:
        return st.just(0)
    return st.one_of(st.integers(0, min(n - 1, 64)), st.integers(0, min(n - 1, 4096)),
                     st.integers(0, n - 1))


_INT_VALUES = ("zero", "minus1", "max", "min", "one", "big")
_FLOAT_VALUES = (0.0, -1.0, 1e300, -1e300, float("nan"), float("inf"), 1e-300, 5e-324, 1e30)


def _int_bytes(kind: str, width: int, order: str) -> bytes:
    bits = 8 * width
    v = {"zero": 0, "minus1": -1, "max": 2 ** (bits - 1) - 1, "min": -(2 ** (bits - 1)),
         "one": 1, "big": 2 ** (bits - 2)}[kind]
    return (v % 2**bits).to_bytes(width, "little" if order == "<" else "big")


@st.composite
def generic(draw: st.DrawFn, src: Source) -> Mutation:
    data = src.data
    n = len(data)
    kind = draw(st.sampled_from(["truncate", "flip", "flips", "field", "delete", "repeat",
                                 "insert"]))
    if kind == "truncate":
        cut = draw(_offsets(n))
        return f"truncate@{cut}", lambda b, w: (b[:cut], False)
    if kind == "flip":
        pos, bit = draw(_offsets(n)), draw(st.integers(0, 7))

        def flip(b: bytes, w: Path) -> tuple[bytes, bool]:
            x = bytearray(b)
            x[pos] ^= 1 << bit
            return bytes(x), False
        return f"bitflip@{pos}.{bit}", flip
    if kind == "flips":
        pos = draw(st.lists(_offsets(n), min_size=2, max_size=16))
        xor = draw(st.integers(1, 255))

        def flips(b: bytes, w: Path) -> tuple[bytes, bool]:
            x = bytearray(b)
            for p in pos:
                x[p] ^= xor
            return bytes(x), False
        return f"byteflips x{len(pos)}", flips
    if kind == "field":
        width = draw(st.sampled_from([1, 2, 4, 8]))
        order = draw(st.sampled_from(["<", ">"]))
        pos = draw(st.one_of(st.integers(0, max(min(n, 1024) // width - 1, 0)).map(
            lambda i: i * width), _offsets(n)))
        if width in (4, 8) and draw(st.booleans()):
            fv = draw(st.sampled_from(_FLOAT_VALUES))
            raw = struct.pack(order + ("f" if width == 4 else "d"),
                              fv if width == 8 or abs(fv) < 3e38 or not np.isfinite(fv) else
                              np.copysign(3e38, fv))
            label = f"field@{pos} {order}f{width}={fv:g}"
        else:
            iv = draw(st.sampled_from(_INT_VALUES))
            raw = _int_bytes(iv, width, order)
            label = f"field@{pos} {order}i{width}={iv}"

        def field(b: bytes, w: Path) -> tuple[bytes, bool]:
            x = bytearray(b)
            x[pos:pos + width] = raw[: max(0, min(width, len(x) - pos))]
            return bytes(x[: len(b)]), False
        return label, field
    if kind == "delete":
        a = draw(_offsets(n))
        k = draw(st.integers(1, 512))
        return f"delete@{a}+{k}", lambda b, w: (b[:a] + b[a + k:], False)
    if kind == "repeat":
        a = draw(_offsets(n))
        k = draw(st.integers(1, 256))
        return f"repeat@{a}+{k}", lambda b, w: (b[:a + k] + b[a:a + k] + b[a + k:], False)
    a = draw(_offsets(n))
    blob = draw(st.binary(min_size=1, max_size=64))
    return f"insert@{a}", lambda b, w: (b[:a] + blob + b[a:], False)


# -- HDF5 ---------------------------------------------------------------------------------------

def _h5(b: bytes, work: Path, edit: Callable[[Any], bool | None]) -> tuple[bytes, bool]:
    import h5py

    p = work / "edit.h5"
    p.write_bytes(b)
    with h5py.File(p, "r+") as f:
        must = bool(edit(f))
    return p.read_bytes(), must


def _datasets(f: Any) -> list[str]:
    import h5py

    out: list[str] = []
    f.visititems(lambda n, o: out.append(n) if isinstance(o, h5py.Dataset) else None)
    return sorted(out)


def _heights(f: Any) -> str | None:
    """The largest 2-D dataset: the height map (or its intensity)."""
    best, size = None, 0
    for name in _datasets(f):
        ds = f[name]
        if ds.ndim == 2 and ds.size > size:
            best, size = name, ds.size
    return best


def _attrs(f: Any) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = [("/", k) for k in f.attrs]
    f.visititems(lambda n, o: out.extend((n, k) for k in o.attrs))
    return sorted(out)[:400]


_NEW_ATTR_VALUES: tuple[Any, ...] = (
    np.float64(0.0), np.float64(-1.0), np.float64(1e300), np.float64(np.nan), np.int64(-1),
    np.int64(2**62), np.bytes_(b""), np.bytes_(b"1e308 mm"), np.bytes_(b"-1 nm"),
    np.bytes_(b"x" * 40000), np.bytes_(b"1" + b" " * 40000 + b"x"), np.array([1.0, 2.0, 3.0]),
    np.zeros((3, 3)), np.array([b"a", b"b"]), np.float32(np.inf), np.int8(7),
)


@st.composite
def hdf5(draw: st.DrawFn, src: Source) -> Mutation:
    kind = draw(st.sampled_from(["attr", "attr_value", "delete", "external", "virtual",
                                 "extlink", "softloop", "unwritten", "shape", "dtype",
                                 "bomb_chunks"]))
    k = draw(st.integers(0, 10**6))
    vi = draw(st.integers(0, len(_NEW_ATTR_VALUES) - 1))

    if kind in ("attr", "attr_value"):
        def edit(f: Any) -> None:
            lst = _attrs(f)
            if not lst:
                return
            obj, name = lst[k % len(lst)]
            target = f[obj]
            if kind == "attr":
                del target.attrs[name]
                target.attrs[name] = _NEW_ATTR_VALUES[vi]
            else:  # same type, extreme value where numeric
                v = target.attrs[name]
                if isinstance(v, np.ndarray) and v.dtype.kind in "fiu" and v.dtype.names is None:
                    with warnings.catch_warnings(), np.errstate(all="ignore"):
                        warnings.simplefilter("ignore")  # 2**30 into int8 wraps: as meant
                        target.attrs[name] = np.full_like(v, [0, -1, 1e300, np.nan][vi % 4]
                                                          if v.dtype.kind == "f" else
                                                          [0, -1, 2**30, 7][vi % 4])
                elif isinstance(v, (float, int, np.number)):
                    target.attrs[name] = type(v)([0, -1, 1e300, 7][vi % 4]) \
                        if isinstance(v, float) else [0, -1, 7, 2**30][vi % 4]
                else:
                    del target.attrs[name]
        return f"hdf5 {kind} #{k}/{vi}", lambda b, w: _h5(b, w, edit)

    if kind == "delete":
        def edit(f: Any) -> None:
            names = _datasets(f)
            if names:
                del f[names[k % len(names)]]
        return f"hdf5 delete dataset #{k}", lambda b, w: _h5(b, w, edit)

    def replace(make: Callable[[Any, str, Path], Any], must: bool) -> Callable[..., Any]:
        def apply(b: bytes, w: Path) -> tuple[bytes, bool]:
            def edit(f: Any) -> bool:
                name = _heights(f)
                if name is None:
                    return False
                attrs = dict(f[name].attrs)
                del f[name]
                ds = make(f, name, w)
                import h5py

                if isinstance(ds, h5py.Dataset):
                    for key, v in attrs.items():
                        ds.attrs[key] = v
                return must
            return _h5(b, w, edit)
        return apply

    if kind == "external":
        def mk(f: Any, n: str, w: Path) -> Any:
            return f.create_dataset(n, shape=(16, 16), dtype="<f8",
                                    external=[(str(secret_file(w)), 0, 16 * 16 * 8)])
        return "hdf5 external storage -> secret file", replace(mk, True)
    if kind == "virtual":
        def mk(f: Any, n: str, w: Path) -> Any:
            import h5py

            srcf = w / "vsrc.h5"
            with h5py.File(srcf, "w") as g:
                g["x"] = SECRET.reshape(16, 16)
            lay = h5py.VirtualLayout(shape=(16, 16), dtype="<f8")
            lay[:] = h5py.VirtualSource(str(srcf), "x", shape=(16, 16))
            return f.create_virtual_dataset(n, lay)
        return "hdf5 virtual dataset -> other file", replace(mk, True)
    if kind == "extlink":
        def mk(f: Any, n: str, w: Path) -> Any:
            import h5py

            srcf = w / "lsrc.h5"
            with h5py.File(srcf, "w") as g:
                g["x"] = SECRET.reshape(16, 16)
            f[n] = h5py.ExternalLink(str(srcf), "/x")
        return "hdf5 external link -> other file", replace(mk, True)
    if kind == "softloop":
        def mk(f: Any, n: str, w: Path) -> Any:
            import h5py

            f[n] = h5py.SoftLink("/" + n)
        return "hdf5 soft link loop", replace(mk, False)
    if kind == "unwritten":
        def mk(f: Any, n: str, w: Path) -> Any:
            ds = f.create_dataset(n, shape=(64, 64), dtype="<f8", chunks=(16, 16),
                                  compression="gzip", fillvalue=0.0)
            if k % 2:
                ds[:16, :16] = 1.0
            return ds
        return "hdf5 unwritten chunks", replace(mk, True)
    if kind == "bomb_chunks":
        def mk(f: Any, n: str, w: Path) -> Any:
            ds = f.create_dataset(n, shape=(50000, 50000), dtype="<f8", chunks=(1000, 1000),
                                  compression="gzip")
            ds[:1000, :1000] = 0.0
            return ds
        return "hdf5 huge sparse chunked dataset", replace(mk, True)
    if kind == "shape":
        shape = [(7,), (2, 3, 4), (0, 5), (1, 1), (1, 100000)][k % 5]

        def mk(f: Any, n: str, w: Path) -> Any:
            return f.create_dataset(n, data=np.ones(shape))
        return f"hdf5 shape {shape}", replace(mk, False)
    dt = ["i1", "<f2", "<c16", "S8", "u8", ">f8"][k % 6]

    def mk(f: Any, n: str, w: Path) -> Any:
        return f.create_dataset(n, data=np.ones((8, 8)).astype(dt))
    return f"hdf5 dtype {dt}", replace(mk, False)


# -- zip (x3p, npz) ----------------------------------------------------------------------------

def _rezip(b: bytes, edit: Callable[[list[tuple[zipfile.ZipInfo, bytes]]], None],
           method: int | None = None) -> bytes:
    zin = zipfile.ZipFile(io.BytesIO(b))
    entries = [(i, zin.read(i)) for i in zin.infolist()]
    edit(entries)
    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(out, "w") as zout:
            for info, data in entries:
                zi = zipfile.ZipInfo(info.filename, info.date_time)
                zi.compress_type = info.compress_type if method is None else method
                zout.writestr(zi, data)
    return out.getvalue()


@functools.lru_cache(maxsize=64)
def _bomb_member(b: bytes, target: str, method: int, xml_edit: bool) -> bytes:
    """The archive with member ``target`` replaced by 40 MiB of zeros compressed with
    ``method`` (a .npy member keeps a header declaring them; main.xml's declared size is
    enlarged to match when ``xml_edit``). Cached: built once per source and method."""
    nbytes = 40 << 20
    side = int((nbytes // 8) ** 0.5)
    zin = zipfile.ZipFile(io.BytesIO(b))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            if info.filename == target:
                continue
            data = zin.read(info)
            if info.filename.endswith("main.xml") and xml_edit:
                t = data.decode("utf-8", "replace")
                t = re.sub(r"<SizeX>\d+</SizeX>", f"<SizeX>{side}</SizeX>", t)
                t = re.sub(r"<SizeY>\d+</SizeY>", f"<SizeY>{nbytes // 8 // side}</SizeY>", t)
                t = re.sub(r"<ValidPointsLink>.*?</ValidPointsLink>", "", t)
                t = re.sub(r"<DataType>F</DataType>", "<DataType>D</DataType>", t)
                data = t.encode()
            zout.writestr(info, data)
        with zout.open(zipfile.ZipInfo(target), "w", force_zip64=True) as fp:
            if target.endswith(".npy"):
                hdr = io.BytesIO()
                np.lib.format.write_array_header_1_0(
                    hdr, {"descr": "<f8", "fortran_order": False,
                          "shape": (side, nbytes // 8 // side)})
                fp.write(hdr.getvalue())
            chunk = bytes(1 << 20)
            for _ in range(nbytes >> 20):
                fp.write(chunk)
    # zipfile.open("w") stores with the archive's default method: rewrite the member's method
    if method != zipfile.ZIP_STORED:
        zin2 = zipfile.ZipFile(io.BytesIO(out.getvalue()))
        out2 = io.BytesIO()
        with zipfile.ZipFile(out2, "w") as zout:
            for info in zin2.infolist():
                zi = zipfile.ZipInfo(info.filename, info.date_time)
                zi.compress_type = method if info.filename == target else info.compress_type
                with zin2.open(info) as src_fp, zout.open(zi, "w", force_zip64=True) as dst:
                    while chunk := src_fp.read(1 << 20):
                        dst.write(chunk)
        return out2.getvalue()
    return out.getvalue()


@st.composite
def zip_(draw: st.DrawFn, src: Source) -> Mutation:
    kind = draw(st.sampled_from(["duplicate", "method", "drop", "rename", "bomb", "xml",
                                 "doctype", "lie"]))
    k = draw(st.integers(0, 10**6))
    if kind == "duplicate":
        def dup(b: bytes, w: Path) -> tuple[bytes, bool]:
            def edit(e: list[tuple[zipfile.ZipInfo, bytes]]) -> None:
                info, data = e[k % len(e)]
                e.append((info, data[::-1] if data else b"x"))
            return _rezip(b, edit), True
        return f"zip duplicate entry #{k}", dup
    if kind == "method":
        m = [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA][k % 4]
        return f"zip recompress method {m}", lambda b, w: (_rezip(b, lambda e: None, m), False)
    if kind == "drop":
        def drop(b: bytes, w: Path) -> tuple[bytes, bool]:
            return _rezip(b, lambda e: e.pop(k % len(e))), False
        return f"zip drop entry #{k}", drop
    if kind == "rename":
        def ren(b: bytes, w: Path) -> tuple[bytes, bool]:
            def edit(e: list[tuple[zipfile.ZipInfo, bytes]]) -> None:
                i = k % len(e)
                info, data = e[i]
                new = zipfile.ZipInfo(["../" + info.filename, info.filename.upper(),
                                       "a/" + info.filename, "__MACOSX/" + info.filename][k % 4],
                                      info.date_time)
                new.compress_type = info.compress_type
                e[i] = (new, data)
            return _rezip(b, edit), False
        return f"zip rename entry #{k}", ren
    if kind == "bomb":
        m = [zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA][k % 3]

        def bomb(b: bytes, w: Path) -> tuple[bytes, bool]:
            names = zipfile.ZipFile(io.BytesIO(b)).namelist()
            target = next((n for n in names if n.endswith(("data.bin", "z_nm.npy"))), names[0])
            return _bomb_member(b, target, m, xml_edit=bool(k % 2)), False
        return f"zip bomb 40 MiB method {m}", bomb
    if kind == "lie":
        def lie(b: bytes, w: Path) -> tuple[bytes, bool]:
            x = bytearray(b)
            for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
                i = x.find(sig)
                j = 0
                while i >= 0:
                    if j == k % 3:
                        x[i + off:i + off + 4] = (([0, 1, 0x7FFFFFFF][k % 3])
                                                  .to_bytes(4, "little"))
                    j += 1
                    i = x.find(sig, i + 1)
            return bytes(x), False
        return f"zip lying sizes #{k}", lie
    if kind == "doctype":
        def dtd(b: bytes, w: Path) -> tuple[bytes, bool]:
            secret = secret_file(w)

            edited = []

            def edit(e: list[tuple[zipfile.ZipInfo, bytes]]) -> None:
                for i, (info, data) in enumerate(e):
                    if info.filename.endswith("main.xml"):
                        t = data.decode("utf-8", "replace")
                        t = t.replace("?>", f'?><!DOCTYPE r [<!ENTITY e SYSTEM "file://{secret}">'
                                      '<!ENTITY a "aaaaaaaaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>',
                                      1)
                        t = re.sub(r"<Comment>.*?</Comment>", "<Comment>&e;&b;</Comment>", t,
                                   flags=re.S)
                        e[i] = (info, t.encode())
                        edited.append(info.filename)
            out = _rezip(b, edit)
            return out, bool(edited)
        return "x3p main.xml entities", dtd

    tags = ["SizeX", "SizeY", "SizeZ", "DataType", "Increment", "Offset", "AxisType",
            "FeatureType", "PointDataLink", "ValidPointsLink", "MD5ChecksumPointData"]
    tag = tags[k % len(tags)]
    val = ["0", "-1", "99999999999", "1e308", "NaN", "", "x" * 5000, "D", "I", "PCL",
           "../../etc/passwd", "1e-320"][(k // len(tags)) % 12]

    def xml(b: bytes, w: Path) -> tuple[bytes, bool]:
        def edit(e: list[tuple[zipfile.ZipInfo, bytes]]) -> None:
            for i, (info, data) in enumerate(e):
                if info.filename.endswith("main.xml"):
                    t = data.decode("utf-8", "replace")
                    t = re.sub(rf"<{tag}>.*?</{tag}>", f"<{tag}>{val}</{tag}>", t, count=1,
                               flags=re.S)
                    e[i] = (info, t.encode())
        return _rezip(b, edit), False
    return f"x3p main.xml {tag}={val[:12]}", xml


# -- text ---------------------------------------------------------------------------------------

_TOKENS = ("0", "-1", "1e308", "-1e308", "1e400", "nan", "inf", "-inf", "", "BAD", "1e-320",
           "9" * 400, "0x10", "1,5")


@st.composite
def text(draw: st.DrawFn, src: Source) -> Mutation:
    kind = draw(st.sampled_from(["cut_lines", "drop_line", "repeat_line", "token", "longline",
                                 "header", "no_final_newline"]))
    k = draw(st.integers(0, 10**6))
    tok = draw(st.sampled_from(_TOKENS))

    def lines_of(b: bytes) -> list[bytes]:
        return b.splitlines(keepends=True)

    if kind == "cut_lines":
        return f"text keep first {k % 97} lines", \
            lambda b, w: (b"".join(lines_of(b)[: k % 97]), False)
    if kind == "drop_line":
        def drop(b: bytes, w: Path) -> tuple[bytes, bool]:
            ls = lines_of(b)
            if ls:
                ls.pop(k % len(ls))
            return b"".join(ls), False
        return f"text drop line #{k}", drop
    if kind == "repeat_line":
        def rep(b: bytes, w: Path) -> tuple[bytes, bool]:
            ls = lines_of(b)
            if ls:
                i = k % len(ls)
                ls.insert(i, ls[i])
            return b"".join(ls), False
        return f"text repeat line #{k}", rep
    if kind == "token":
        def token(b: bytes, w: Path) -> tuple[bytes, bool]:
            parts = re.split(rb"([-+0-9.eE]+)", b)
            nums = [i for i in range(1, len(parts), 2)]
            if nums:
                parts[nums[k % len(nums)]] = tok.encode()
            return b"".join(parts), False
        return f"text number -> {tok[:10]!r} #{k}", token
    if kind == "longline":
        line = [b"1 " * 20000 + b"\n", b"# " + b"x" * 40000 + b"\n", b"a" + b"=" * 40000 + b"\n",
                b"h=1" + b" " * 40000 + b"w=2\n"][k % 4]

        def longl(b: bytes, w: Path) -> tuple[bytes, bool]:
            ls = lines_of(b)
            ls.insert(k % (len(ls) + 1), line)
            return b"".join(ls), False
        return f"text long line kind {k % 4}", longl
    if kind == "header":
        def head(b: bytes, w: Path) -> tuple[bytes, bool]:
            ls = lines_of(b)
            idx = [i for i, ln in enumerate(ls[:50]) if re.search(rb"[:=]", ln)]
            if idx:
                i = idx[k % len(idx)]
                key = re.split(rb"[:=]", ls[i], maxsplit=1)[0]
                sep = b":" if b":" in ls[i][: len(key) + 1] else b"="
                ls[i] = key + sep + b" " + tok.encode() + [b"", b" mm", b" nm", b" furlong"][
                    k % 4] + b"\n"
            return b"".join(ls), False
        return f"text header value -> {tok[:10]!r} #{k}", head
    return "text without its final line break", lambda b, w: (b.rstrip(b"\r\n"), False)


# -- choice per source ------------------------------------------------------------------------

def for_source(src: Source) -> st.SearchStrategy[Mutation]:
    """Generic mutations always; the container's own where it is recognised."""
    opts = [generic(src)]
    if src.data[:8] == HDF5_MAGIC:
        opts.append(hdf5(src))
    elif src.data[:4] == b"PK\x03\x04":
        opts.append(zip_(src))
    elif b"\x00" not in src.data[:4096]:
        opts.append(text(src))
    return st.one_of(*opts)
