"""Small command-line pieces: version, help, demo, warmup, info, the first-run notice."""

import numpy as np

import metrology as mt
from kernels import _config
from metrology.cli import main


def test_version_and_help(capsys):
    assert main(["--version"]) == 0
    assert mt.__version__ in capsys.readouterr().out
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "check" in out and "Exit codes" in out
    assert main([]) == 2
    assert main(["no-such-command"]) == 2


def test_demo_recovers_its_coefficients(capsys):
    assert main(["demo", "--size", "96"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.strip().startswith("Z4 "))
    true, fitted = (float(v) for v in line.split()[3:5])
    assert abs(true - fitted) < 0.01


def test_warmup_runs(capsys):
    assert main(["warmup"]) == 0
    assert "kernels compiled" in capsys.readouterr().out


def test_info_reports_and_fails_cleanly(tmp_path, capsys):
    hm = mt.HeightMap(np.arange(12.0).reshape(3, 4), 0.5, meta={"instrument": "unit test"})
    path = mt.save(hm, tmp_path / "m.npz")
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "3 rows x 4 cols" in out and "unit test" in out
    bad = tmp_path / "bad.datx"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 20)
    assert main(["info", str(bad)]) == 2
    assert "bad.datx" in capsys.readouterr().err


def test_cache_notice_looks_where_numba_looks(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert not _config.cache_is_warm()
    sub = tmp_path / "kernels"
    sub.mkdir()
    (sub / "zernike._block-97.py311.nbi").write_bytes(b"")
    assert _config.cache_is_warm()
