"""The reader layer's structure and its one policy (metrology/io/_policy.py).

Structure, read from the source with ``ast`` (imports at any depth, so a
function-level import counts): readers import no analysis, the io package has
no import cycle, the MetroPro and NumPy readers do not pull in HDF5, and no
reader takes unit helpers from the text reader.
"""

from __future__ import annotations

import ast
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

import metrology
from metrology import FileFormatError, HeightMap
from metrology.io import _policy

IO_DIR = Path(metrology.__file__).parent / "io"
ANALYSIS = ("metrology.zernike", "metrology.spectral", "metrology.check", "metrology.spec",
            "metrology.reports", "metrology.cli", "metrology.synth")


def _module_name(path: Path) -> str:
    return "metrology.io" if path.name == "__init__.py" else f"metrology.io.{path.stem}"


def _imports(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports, at any nesting level."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    pkg = "metrology.io"
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.rsplit(".", node.level - 1)[0] if node.level > 1 else pkg
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module or ""
            subs = {f"{mod}.{a.name}" for a in node.names
                    if mod == pkg and (IO_DIR / f"{a.name}.py").is_file()}
            out.update(subs)  # "from . import datx" imports the submodule datx ...
            if len(subs) < len(node.names):  # ... "from . import load" the package itself
                out.add(mod)
    return out


GRAPH = {_module_name(p): _imports(p) for p in sorted(IO_DIR.glob("*.py"))}


def test_the_graph_sees_function_level_imports() -> None:
    # the AST walk must see imports inside functions (the old _hdf5 -> datx cycle hid there)
    src = "def f():\n    from . import datx\n"
    tree = ast.parse(src)
    assert any(isinstance(n, ast.ImportFrom) for n in ast.walk(tree))
    assert "metrology.io._registry" in GRAPH["metrology.io.datx"]


def test_readers_import_no_analysis() -> None:
    bad = {m: sorted(i for i in imps if i.startswith(ANALYSIS))
           for m, imps in GRAPH.items()}
    bad = {m: v for m, v in bad.items() if v}
    assert not bad, f"readers import analysis modules: {bad}"


def test_no_import_cycles_in_io() -> None:
    io_edges = {m: {i for i in imps if i in GRAPH and i != m} for m, imps in GRAPH.items()}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str], done: set[str]) -> None:
        if node in stack:
            cycles.append(stack[stack.index(node):] + [node])
            return
        if node in done:
            return
        for nxt in sorted(io_edges[node]):
            visit(nxt, [*stack, node], done)
        done.add(node)

    done: set[str] = set()
    for m in sorted(io_edges):
        visit(m, [], done)
    assert not cycles, f"import cycles in metrology.io: {cycles}"


def _reachable(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        todo.extend(i for i in GRAPH.get(m, ()) if i in GRAPH)
    return seen


@pytest.mark.parametrize("reader", ["metrology.io.metropro", "metrology.io.npy"])
def test_non_hdf5_readers_do_not_import_hdf5(reader: str) -> None:
    reach = _reachable(reader)
    assert "metrology.io._hdf5" not in reach
    assert not any(i == "h5py" or i.startswith("h5py.") for m in reach for i in GRAPH[m])


def test_no_reader_takes_unit_helpers_from_text() -> None:
    users = sorted(m for m, imps in GRAPH.items()
                   if "metrology.io.text" in imps and m != "metrology.io")
    assert not users, f"{users} import from metrology.io.text; units live in _policy"


# -- the policy itself ---------------------------------------------------------------------------

def test_one_unit_table_for_all_readers() -> None:
    """Zygo names, SI spellings and inches from one table: the inch is 25.4 mm exactly
    (international yard and pound agreement), a mil a thousandth of it."""
    from metrology.io import datx

    assert datx.UNIT_TO_NM["Inches"] == 25.4e6 == _policy.unit_scale("in")
    assert datx.UNIT_TO_NM["Mils"] == 25400.0 == _policy.unit_scale("mil")
    assert datx.UNIT_TO_NM["MicroInches"] == 25.4
    assert _policy.unit_scale("MicroMeters") == 1e3 == _policy.unit_scale("\u00b5m")
    assert _policy.unit_metres("MM") is None  # a leading capital M is never milli
    assert _policy.decimal_scaled("1.5", Decimal("25.4")) == 38.1  # exact decimal product
    assert _policy.length_unit_exponent("\u00b5m") == -6 == _policy.length_unit_exponent("um")
    assert _policy.length_unit_exponent("NanoMeters") == -9
    assert _policy.length_unit_exponent("in") is None  # 0.0254 m: not a power of ten
    assert _policy.length_unit_exponent("rad") is None


def test_resolve_spacing_rule() -> None:
    p = "f.dat"
    assert _policy.resolve_spacing(p, 0.01, None, None, None)[:2] == (0.01, 0.01)
    dx, dy, extra = _policy.resolve_spacing(p, 0.01, 0.02, 0.5, None)
    assert (dx, dy) == (0.5, 0.5) and extra["lateral_source"] == "caller"
    assert extra["file_dx_mm"] == 0.01 and extra["file_dy_mm"] == 0.02
    for bad in (None, 0.0, -1.0, float("nan")):
        with pytest.raises(FileFormatError, match="dx_mm="):
            _policy.resolve_spacing(p, bad, None, None, None)
    with pytest.raises(FileFormatError, match="dy_mm= given without dx_mm="):
        _policy.resolve_spacing(p, 0.01, None, None, 0.02)


def test_every_format_takes_the_spacing_override(tmp_path: Path) -> None:
    """x3p has no dx_mm= of its own: load applies the same rule and records it."""
    hm = HeightMap(np.arange(12.0).reshape(3, 4), 0.001, 0.002)
    p = tmp_path / "s.x3p"
    metrology.save(hm, p)
    back = metrology.load(p, dx_mm=0.5)
    assert (back.dx_mm, back.dy_mm) == (0.5, 0.5)
    assert back.meta["lateral_source"] == "caller" and back.meta["file_dy_mm"] == 0.002


def test_limits_are_stated_overridable_and_reach_the_isolated_reader(tmp_path: Path) -> None:
    lim = metrology.io.current_limits()
    assert lim.spacing_mm == (1e-9, 1e4) and lim.height_nm_max == 1e9
    assert lim.max_pixels == 2**28 and lim.free_pixels == 2**22
    assert lim.expansion["deflate"] == lim.expansion["bzip2"] == 32.0
    assert (lim.memory_factor, lim.memory_slack_mb) == (4.0, 100.0)
    p = tmp_path / "m.datx"
    metrology.save(HeightMap(np.ones((12, 9)), 0.1), p)
    with metrology.io.limits(max_pixels=100) as inner:  # 108 pixels: refused in the reader
        assert inner.max_pixels == 100
        with pytest.raises(FileFormatError, match="max_pixels"):
            metrology.load(p)
    assert metrology.io.current_limits() == lim
    assert metrology.load(p).shape == (12, 9)
    with pytest.raises(ValueError, match="unknown reader limit"):
        lim.replace(max_pixel=1)


def test_limits_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv(_policy.LIMITS_ENV, "max_pixels=1e9, expansion.deflate=200; "
                                           "spacing_mm=1e-12:1e5, height_nm_max=1e10")
    lim = _policy._from_env(_policy.ReaderLimits())
    assert lim.max_pixels == 10**9 and lim.expansion["deflate"] == 200.0
    assert lim.expansion["bzip2"] == 32.0 and lim.spacing_mm == (1e-12, 1e5)
    assert lim.height_nm_max == 1e10
    monkeypatch.setenv(_policy.LIMITS_ENV, "max_pixels=lots")
    with pytest.raises(ValueError, match="METROLOGY_IO_LIMITS"):
        _policy._from_env(_policy.ReaderLimits())


@pytest.mark.parametrize(("dx", "ok"), [(1e-9, True), (9.9e-10, False), (1e4, True),
                                        (1.1e4, False)])
def test_spacing_plausibility_limits(tmp_path: Path, dx: float, ok: bool) -> None:
    """Spacings from 1e-9 mm to 1e4 mm; the limit is applied to every format's result."""
    p = tmp_path / "s.npz"
    metrology.save(HeightMap(np.ones((3, 3)), dx), p)
    if ok:
        assert metrology.load(p).dx_mm == dx
    else:
        with pytest.raises(FileFormatError, match="spacing_mm"):
            metrology.load(p)


def test_height_limit_sees_past_signalling_nans(tmp_path: Path) -> None:
    """Found by the long fuzz run: bytes of a .npy that form signalling NaNs made NumPy's SIMD
    fmax skip the extremes (fmax(5e307, sNaN) is NaN, fmax(NaN, 3) is 3), so the plausibility
    check saw 3 nm and passed 5e307 nm. Finite heights must come back bit for bit."""
    z = np.array([[1.0, 5e307], [2.0, 3.0]])
    raw = z.view(np.uint64).copy()
    raw[1, 0] = 0x7FF0000000000001  # a signalling NaN
    p = tmp_path / "s.npy"
    np.save(p, raw.view(np.float64))
    with pytest.raises(FileFormatError, match="height_nm_max"):
        metrology.load(p, dx_mm=0.1)
    ok = np.array([[-0.0, 5e-324], [np.nan, 3.0]])
    raw = ok.view(np.uint64).copy()
    raw[1, 0] = 0x7FF0000000000001
    np.save(p, raw.view(np.float64))
    back = metrology.load(p, dx_mm=0.1).z_nm
    assert back.view(np.uint64)[0].tolist() == ok.view(np.uint64)[0].tolist()
    assert np.isnan(back[1, 0]) and back[1, 1] == 3.0
