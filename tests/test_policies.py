"""The project's stated policies, enforced (DEVELOPERS.md, issue 10 items 7-8).

* every Numba kernel is compiled with the flags of ``kernels/_config.py`` and
  never with ``nnan``/``ninf``/``fastmath=True`` (maps are NaN outside the
  aperture);
* ``kernels/`` imports nothing from ``metrology/`` (arrays in, arrays out);
* ``metrology warmup`` compiles every kernel the pipeline uses: after it, a
  whole check and an analysis compile no new signature;
* start-up is cheap: ``metrology --help`` imports no Numba (nor NumPy, SciPy,
  h5py), and ``import metrology`` neither;
* the in-memory caches are all in one registry with one clear.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
KERNELS = sorted((REPO / "kernels").glob("*.py"))
PACKAGE = sorted((REPO / "metrology").rglob("*.py"))

_NUMBA_DECORATORS = {"njit", "jit", "vectorize", "guvectorize", "cfunc", "stencil",
                     "generated_jit", "jit_module"}
_FORBIDDEN_FLAGS = {"nnan", "ninf", "fast"}


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _imported_from_config(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("_config", "kernels._config") \
                or (isinstance(node, ast.ImportFrom) and node.level == 1
                    and node.module == "_config"):
            names |= {a.asname or a.name for a in node.names}
    return names


@pytest.mark.parametrize("path", [p for p in KERNELS if p.name != "_config.py"],
                         ids=lambda p: p.name)
def test_every_kernel_uses_the_decorators_of_the_config(path):
    """A kernel is decorated with ``jit`` or ``pjit`` from kernels/_config.py, nothing
    else: no ``numba.njit(...)``, no flags of its own."""
    tree = _tree(path)
    allowed = _imported_from_config(tree) & {"jit", "pjit"}
    kernels = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.decorator_list:
            for d in node.decorator_list:
                name = d.func if isinstance(d, ast.Call) else d
                label = ast.unparse(name)
                assert isinstance(d, ast.Name) and d.id in allowed, \
                    f"{path.name}:{node.lineno} {node.name} is decorated with {label}"
                kernels += 1
        if isinstance(node, ast.Attribute) and node.attr in _NUMBA_DECORATORS \
                and ast.unparse(node.value) == "numba":
            pytest.fail(f"{path.name}:{node.lineno} uses numba.{node.attr} directly")
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("numba"):
            bad = {a.name for a in node.names} & _NUMBA_DECORATORS
            assert not bad, f"{path.name}:{node.lineno} imports {bad} from numba"
    if path.name in ("convert.py", "moments.py", "psd.py", "regions.py", "zernike.py"):
        assert kernels >= 2, f"{path.name}: found no kernels (the test would be hollow)"


@pytest.mark.parametrize("path", KERNELS + PACKAGE, ids=lambda p: str(p.relative_to(REPO)))
def test_no_fastmath_true_and_no_nnan_anywhere(path):
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.keyword) and node.arg == "fastmath":
            assert not (isinstance(node.value, ast.Constant) and node.value.value is True), \
                f"{path.name}:{node.value.lineno}: fastmath=True"
            if path.name != "_config.py":
                pytest.fail(f"{path.name}:{node.value.lineno}: fastmath flags outside "
                            "kernels/_config.py")
        if isinstance(node, ast.Constant) and node.value in _FORBIDDEN_FLAGS \
                and path.name != "_config.py":
            pytest.fail(f"{path.name}:{node.lineno}: the flag {node.value!r}")


def test_the_config_flags_themselves():
    from kernels import _config

    assert not _FORBIDDEN_FLAGS & set(_config.FASTMATH)
    assert _config._COMMON["cache"] is True
    assert set(_config._COMMON["fastmath"]) == set(_config.FASTMATH)


@pytest.mark.parametrize("path", KERNELS, ids=lambda p: p.name)
def test_kernels_import_nothing_from_metrology(path):
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            mods = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mods = [node.module or ""] if node.level == 0 else []
        else:
            continue
        for m in mods:
            assert m.split(".")[0] != "metrology", f"{path.name}:{node.lineno} imports {m}"


# ----------------------------------------------------------------------------- warmup

_WARMUP_SCRIPT = r'''
import json, sys, tempfile
from pathlib import Path

import numpy as np

import kernels.convert, kernels.moments, kernels.psd, kernels.regions, kernels.zernike

MODS = (kernels.convert, kernels.moments, kernels.psd, kernels.regions, kernels.zernike)


def signatures():
    return {f"{m.__name__}.{k}": len(v.signatures) for m in MODS for k, v in vars(m).items()
            if hasattr(v, "signatures") and hasattr(v, "py_func")}


from metrology.warmup import warm_up

warm_up()
after_warmup = signatures()

import metrology as mt
from metrology.check import check
from metrology.pipeline import summarize_map
from metrology.synth_psd import PowerLaw, synthesize

SPEC = """
schema = "metrology.spec/1"
full_band = false
[part]
name = "warmup coverage"
[measurements.fiz]
instrument = "fizeau"
match.filename = ["*fiz*"]
[measurements.fiz.aperture]
diameter_mm = 20.0
[measurements.csi]
instrument = "csi"
match.filename = ["*csi*"]
[measurements.csi.preprocessing]
remove = ["piston", "tilt", "power"]
[power]
measurement = "fiz"
coef_nm_max = 5.0
[form]
measurement = "fiz"
fit_first_term = 5
fit_last_term = 37
residual_rms_nm_max = 5.0
pvr_nm_max = 50.0
[form.term_limits_nm]
astigmatism = 1.0
other = 1.0
[[bands]]
name = "A"
measurement = "fiz"
f_lo_per_mm = 0.25
f_hi_per_mm = 1.0
kind = "areal"
rms_nm_max = 5.0
slope_urad_max = 50.0
[[bands]]
name = "B"
measurement = "csi"
f_lo_per_mm = 5.0
f_hi_per_mm = 20.0
kind = "profile"
rms_nm_max = 5.0
[psd]
kind = "profile"
[[psd.segments]]
a_nm2_mm = 1.0
b = 2.0
f_lo_per_mm = 0.2
f_hi_per_mm = 20.0
[sa]
measurement = "csi"
sa_nm_max = 5.0
"""

tmp = Path(tempfile.mkdtemp())
spec = mt.parse_spec(SPEC)
fiz = synthesize(PowerLaw(0.002, 3.0, kind="areal"), (256, 256), 0.1, seed=1)
z = fiz.z_nm.copy()
x = fiz.x_mm
z[np.hypot(x[None, :], x[:, None]) > 11.0] = np.nan
z[100:103, 90:95] = np.nan  # dropouts to fill
csi = synthesize(PowerLaw(0.002, 2.0, kind="areal"), (128, 128), 0.01, seed=2)
files = [mt.save(mt.HeightMap(z, 0.1), tmp / "p_fiz.datx"),
         mt.save(csi, tmp / "p_csi.x3p"),
         mt.save(csi, tmp / "p_csi2.dat", format="metropro")]
report = check(spec, files)
assert len(report.parts[0].criteria) > 10
summarize_map(mt.load(files[0]))
after_pipeline = signatures()
json.dump({"warmup": after_warmup, "pipeline": after_pipeline}, sys.stdout)
'''


def test_warmup_compiles_every_kernel_the_pipeline_uses():
    """In a fresh process: after ``warm_up()`` a whole check (Fizeau + microscope files in
    three formats, every criterion type) and an analysis compile no new kernel
    signature, and every kernel has been compiled."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", _WARMUP_SCRIPT], capture_output=True,
                         text=True, env=env, cwd=REPO, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout)
    warm, used = got["warmup"], got["pipeline"]
    assert len(warm) >= 15, warm                      # the kernels were found at all
    new = {k: (warm[k], n) for k, n in used.items() if n != warm[k]}
    assert not new, f"the pipeline compiled signatures warm_up() did not: {new}"
    # kernels called only from other kernels (private helpers) are compiled inside their
    # callers and never list a signature of their own; every other one the pipeline uses
    # has one, and warm_up() compiled it
    compiled = {k for k, n in warm.items() if n > 0}
    assert len(compiled) >= 12, sorted(compiled)
    public = {k for k in warm if not k.rsplit(".", 1)[1].startswith("_")}
    print("not used by the pipeline:", sorted(public - compiled))


# ----------------------------------------------------------------------------- start-up

def _imported_modules(args: list[str]) -> set[str]:
    out = subprocess.run([sys.executable, "-X", "importtime", *args], capture_output=True,
                         text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    mods = set()
    for line in out.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            mods.add(line.rsplit("|", 1)[1].strip())
    assert "metrology" in mods or "metrology.cli" in mods, "importtime output not parsed"
    return mods


@pytest.mark.parametrize("args", [["-m", "metrology", "--help"],
                                  ["-m", "metrology", "--version"],
                                  ["-c", "import metrology"]], ids=" ".join)
def test_start_up_imports_no_numerical_stack(args):
    mods = _imported_modules(args)
    heavy = sorted(m for m in mods if m.split(".")[0] in ("numba", "numpy", "scipy", "h5py",
                                                          "ducc0", "llvmlite"))
    assert not heavy, f"{' '.join(args)} imports {heavy[:8]}"


def test_lazy_names_resolve_as_the_readme_uses_them():
    code = textwrap.dedent("""
        import sys
        import metrology as mt
        assert "numba" not in sys.modules
        assert callable(mt.check.check) and callable(mt.load) and mt.aperture.Circle
        assert mt.HeightMap is mt.heightmap.HeightMap
        assert "fit_zernike" in dir(mt) and set(mt.__all__) <= set(dir(mt))
        for name in mt.__all__:
            getattr(mt, name)
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
    import metrology as mt

    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = mt.nothing


# ----------------------------------------------------------------------------- caches

def test_one_registry_of_caches_with_one_clear():
    import metrology as mt
    from metrology import _caches, aperture, spectral, zernike, zernike_schemes  # noqa: F401

    names = set(_caches.registered())
    assert {"zernike.geometries", "aperture.circles", "spectral.workspace",
            "zernike_schemes.fringe_table"} <= names
    hm = mt.zernike_surface([0.0, 1.0, 0.5, 2.0], shape=(33, 33), dx_mm=0.1)
    mt.fit_zernike(hm, 4)
    mt.psd(hm)
    assert zernike._CACHE._geo and aperture._CIRCLES and spectral._workspace.arrays
    cleared = mt.clear_caches()
    assert set(cleared) == names
    assert not zernike._CACHE._geo and not aperture._CIRCLES
    assert not spectral._workspace.arrays


def test_no_merge_conflict_markers_in_the_sources() -> None:
    """No text file of the project holds a line a conflicted merge leaves behind."""
    marks = ("<" * 7 + " ", "=" * 7 + "\n", ">" * 7 + " ")
    bad = []
    for top in ("metrology", "kernels", "tests", "benchmarks", "docs", "datasets"):
        for p in (REPO / top).rglob("*"):
            if p.suffix not in (".py", ".md", ".toml", ".json", ".txt", ".cfg"):
                continue
            for i, line in enumerate(p.read_text("utf-8", errors="replace").splitlines(True), 1):
                if line.startswith(marks) or line == "=" * 7:
                    bad.append(f"{p.relative_to(REPO)}:{i}")
    for name in ("README.md", "pyproject.toml"):
        for i, line in enumerate((REPO / name).read_text("utf-8").splitlines(True), 1):
            if line.startswith(marks):
                bad.append(f"{name}:{i}")
    assert not bad, f"merge conflict markers at {bad}"
