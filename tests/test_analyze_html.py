"""``metrology analyze FILE --html PAGE``: the quick look without a spec.

The page is one self-contained file (figures as data: PNGs, no script, nothing
fetched), and its numbers are the analysis's: the statistics against plain
NumPy on the map as read, the Zernike table and decade bands against the
``--json`` summary of the same run (with each band's U, k = 2), a profile's Pq
against the RMS of the trace about its least-squares line computed here.
"""

from __future__ import annotations

import hashlib
import html as htmllib
import json
import math
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import metrology as mt
from metrology.cli import main
from metrology.profile import Profile

pytest.importorskip("matplotlib")

REPO = Path(__file__).resolve().parent.parent
FIZEAU = REPO / "datasets" / "parts" / "part-a-pass" / "l3s2-a_fizeau.x3p"


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _self_contained(page: str) -> list[str]:
    """The page's images (base64 PNG); fails on anything loaded from elsewhere."""
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<script" not in page.lower()
    srcs = re.findall(r'\bsrc="([^"]*)"', page)
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r"\bhref=\"(?!#)", page)  # no stylesheet or link elsewhere
    return srcs


def _text(page: str) -> str:
    return htmllib.unescape(re.sub(r"<[^>]+>", " ", re.sub(r'src="[^"]*"', "", page)))


def test_map_quick_look(tmp_path: Path, capsys) -> None:
    page_p, js = tmp_path / "q.html", tmp_path / "q.json"
    code, out, err = run(capsys, "analyze", FIZEAU, "--html", page_p, "--json", js)
    assert code == 0, err
    assert f"wrote {page_p}" in err
    page = page_p.read_text(encoding="utf-8")
    assert len(_self_contained(page)) == 3  # map + residual, Zernike bars, PSD with bands
    text = _text(page)
    hm = mt.load(FIZEAU)
    good = np.isfinite(hm.z_nm)
    v = hm.z_nm[good]
    assert f"{good.mean():.2%} ({int(good.sum())} px)" in text
    assert f"{math.sqrt(float(np.mean((v - v.mean()) ** 2))):.4g} nm" in text
    assert f"{float(v.max() - v.min()):.4g} nm" in text
    assert "dx = 0.1 mm, dy = 0.1 mm" in text and "no spec: no verdict" in text
    s = json.loads(js.read_text())
    z = s["zernike"]
    assert len(z["terms"]) == 37
    for t in z["terms"]:  # every coefficient of the summary is in the table
        assert f" {t['coefficient_nm']:.5f} " in text, t
    assert f"R_norm = {z['r_norm_mm']:.6g} mm" in text
    cells = re.findall(r"<td>([^<]*)</td>", page)
    for b in s["psd"]["bands"]:
        assert f"{b['f_lo_per_mm']:g} - {b['f_hi_per_mm']:g}" in text
        if b["rms_nm"] is not None:
            assert f"{b['rms_nm']:.4g}" in cells
        # the expanded uncertainty of each band (k = 2) is shown where the analysis has it
        assert b["k"] == 2.0 and f"{b['U_nm']:.2g}" in cells
    assert "U [nm] (k = 2)" in text and s["psd"]["uncertainty_model"] in text
    assert "partial" in text  # the lowest decade is only partly resolved by a 56 mm map


def test_strip_quick_look_draws_the_orthonormal_modes_it_tabulates(tmp_path: Path, capsys,
                                                                   monkeypatch) -> None:
    """A 259 x 33 strip (issue 9): the circle polynomials' coefficients mean nothing there,
    so the analysis gives the orthonormalised modes, and the page draws those same modes
    (not a circle fit beside a table of modes) and says why, with the condition number.
    Independent bound: orthonormal modes over the pixels hold at most the data's mean
    square (Parseval), so no coefficient exceeds the RMS about zero."""
    from metrology.reports import _analyze_html

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:259, 0:33].astype(float)
    z = 60 * np.sin(y / 40.0) + 30 * (x / 16.0) ** 2 + 5 * rng.normal(size=x.shape)
    z[rng.random(z.shape) < 0.09] = np.nan
    f = mt.save(mt.HeightMap(z, 1.0), tmp_path / "strip.npz")
    drawn = []
    real = _analyze_html.plot_zernike
    monkeypatch.setattr(_analyze_html, "plot_zernike",
                        lambda fit, *a, **k: drawn.append(fit) or real(fit, *a, **k))
    page_p, js = tmp_path / "s.html", tmp_path / "s.json"
    code, _, err = run(capsys, "analyze", f, "--html", page_p, "--json", js)
    assert code == 0, err
    zs = json.loads(js.read_text())["zernike"]
    assert zs["basis_kind"] == "orthonormal" and zs["circle_basis"]
    (fit,) = drawn
    assert fit.basis_kind == "orthonormal"
    np.testing.assert_allclose(fit.coefficients_nm, [t["coefficient_nm"] for t in zs["terms"]],
                               rtol=1e-9, atol=1e-9)
    bound = math.sqrt(float(np.nanmean(z ** 2)))
    assert max(abs(t["coefficient_nm"]) for t in zs["terms"]) <= bound * (1 + 1e-9)
    text = _text(page_p.read_text(encoding="utf-8"))
    assert "Orthonormalised modes" in text and "not meaningful" in text
    assert f"condition number {zs['circle_basis']['condition_number']:.3g}" in text
    assert "mode from" in text


def test_profile_quick_look(tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(3)
    x = np.arange(3000) * 0.001
    z = 4.0 * np.sin(2 * np.pi * x / 0.04) + 0.3 * rng.normal(size=x.size) + 2.0 * x
    f = mt.save(Profile(z, 0.001), tmp_path / "trace.csv")
    page_p = tmp_path / "p.html"
    code, _, err = run(capsys, "analyze", f, "--html", page_p)
    assert code == 0, err
    page = page_p.read_text(encoding="utf-8")
    assert len(_self_contained(page)) == 2  # the trace, its PSD with the bands
    resid = z - np.polyval(np.polyfit(x, z, 1), x)  # about the least-squares line
    pq = math.sqrt(float(np.mean(resid ** 2)))
    cells = re.findall(r"<td>([^<]*)</td>", page)
    assert f"{pq:.4g}" in cells
    assert "ISO 21920-2" in _text(page)


def test_refusals(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    before = hashlib.sha256(FIZEAU.read_bytes()).hexdigest()
    code, _, err = run(capsys, "analyze", FIZEAU, "--html", FIZEAU)
    assert code == 2 and "never modified" in err
    assert hashlib.sha256(FIZEAU.read_bytes()).hexdigest() == before
    code, _, err = run(capsys, "analyze", FIZEAU, "--html", tmp_path / "a", "--json",
                       tmp_path / "a")
    assert code == 2 and "same file" in err
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # not installed
    code, _, err = run(capsys, "analyze", FIZEAU, "--html", tmp_path / "q.html")
    assert code == 2 and 'pip install "optical-metrology[plot]"' in err
    assert not any(tmp_path.iterdir())
