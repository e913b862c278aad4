"""Notebook display and plots: ``HeightMap._repr_html_``, ``HeightMap.plot``,
``ZernikeFit.plot``, ``PSD2D.plot``, ``RadialPSD.plot``, ``ProfilePSD.plot``,
``Profile.plot``.

What is checked against independent values: the statistics the display prints
(plain NumPy on the array), the map's placement (y up: ``origin="lower"`` and
the extent ``±N·Δ/2`` of a map centred on its middle, CONVENTIONS.md), block
means of large maps (NumPy ``nanmean`` of each block), the bar of an analytic
Zernike term, the peak of a cosine's 2-D PSD at its frequency, and a limit line
``A f^-B`` (halved on a two-sided profile PSD). matplotlib is optional: without
it the display falls back to the table and the plots name the extra to install,
and importing and using metrology imports no matplotlib.
"""

from __future__ import annotations

import base64
import html as htmllib
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import metrology as mt
from metrology.errors import MetrologyError
from metrology.profile import Profile
from metrology.psdlimit import PSDLimit

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
FIZEAU = REPO / "datasets" / "parts" / "part-a-pass" / "l3s2-a_fizeau.x3p"


def _ax() -> object:
    return Figure().add_subplot()


def _map(ny: int = 60, nx: int = 80, dx: float = 0.05, dy: float = 0.05) -> mt.HeightMap:
    yy, xx = np.mgrid[0:ny, 0:nx]
    z = 3.0 * yy + 0.5 * xx + np.sin(xx / 3.0)
    z[:7, :11] = np.nan          # a corner of dropouts
    z[30, 40] = np.nan
    return mt.HeightMap(z, dx, dy)


# ----------------------------------------------------------------------------- _repr_html_

def test_repr_html_states_units_and_the_numpy_statistics() -> None:
    hm = _map()
    z = hm.z_nm
    good = np.isfinite(z)
    html = hm._repr_html_()
    assert f"{good.mean():.2%} ({int(good.sum())} pixels)" in html  # valid fraction
    v = z[good]
    rms = math.sqrt(float(np.mean((v - v.mean()) ** 2)))
    assert f"{rms:.4g} nm / {float(v.max() - v.min()):.4g} nm" in html  # RMS / PV, nm
    assert "dx = 0.05 mm, dy = 0.05 mm" in html and "60 rows x 80 cols" in html
    assert "4 x 3 mm" in html  # extent: 80 x 0.05 by 60 x 0.05
    m = re.search(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", html)
    assert m, "no thumbnail"
    png = base64.b64decode(m.group(1))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert 150 <= w <= 400 and 100 <= h <= 400  # a thumbnail, not a full figure
    assert "<script" not in html and "http" not in html


def test_repr_html_of_a_large_map_is_small() -> None:
    hm = mt.load(FIZEAU)
    html = hm._repr_html_()
    assert len(html) < 60_000  # a 560 x 560 map, drawn as block means, stays light
    assert "l3s2-a_fizeau.x3p" in html and "Fizeau interferometer" in html


def test_repr_html_without_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)   # import fails
    hm = _map()
    html = hm._repr_html_()
    assert "<img" not in html
    assert 'pip install "optical-metrology[plot]"' in htmllib.unescape(html)
    assert "valid" in html and "nm" in html
    with pytest.raises(MetrologyError, match=r"optical-metrology\[plot\]"):
        hm.plot()


def test_metrology_imports_no_matplotlib() -> None:
    code = (
        "import sys, metrology as mt\n"
        f"hm = mt.load({str(FIZEAU)!r})\n"
        "fit = mt.fit_zernike(hm, terms=11)\n"
        "p = mt.psd(hm)\n"
        "repr(hm); fit.table()\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr


# ----------------------------------------------------------------------------- maps

def test_heightmap_plot_is_y_up_in_mm_with_a_nm_colour_bar() -> None:
    hm = _map(ny=60, nx=80, dx=0.05, dy=0.1)
    ax = hm.plot(_ax())
    (im,) = ax.images
    assert im.origin == "lower"  # row 0 (lowest y) at the bottom
    # a map is centred on its middle: outer pixel edges at +-N*spacing/2
    assert im.get_extent() == pytest.approx([-2.0, 2.0, -3.0, 3.0])
    np.testing.assert_array_equal(np.asarray(im.get_array().filled(np.nan)), hm.z_nm)
    assert ax.get_xlabel() == "x [mm]" and ax.get_ylabel() == "y [mm]"
    cbar_axes = [a for a in ax.figure.axes if a is not ax]
    assert len(cbar_axes) == 1 and cbar_axes[0].get_ylabel() == "height [nm]"


def test_large_maps_are_drawn_as_block_means() -> None:
    rng = np.random.default_rng(4)
    z = rng.normal(size=(1030, 1030))
    z[rng.random(z.shape) < 0.2] = np.nan
    hm = mt.HeightMap(z, 0.01)
    ax = hm.plot(_ax())
    shown = np.asarray(ax.images[0].get_array().filled(np.nan))
    k = 3  # ceil(1030 / 512)
    assert shown.shape == (1030 // k, 1030 // k)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ref = np.nanmean(z[:1029, :1029].reshape(343, k, 343, k), axis=(1, 3))
    np.testing.assert_allclose(shown, ref, rtol=1e-12, equal_nan=True)
    assert "3 x 3 block means" in ax.get_title()


# ----------------------------------------------------------------------------- Zernike

def test_zernike_plot_bars_with_names() -> None:
    hm0 = mt.HeightMap(np.zeros((101, 101)), 0.2)
    x, y = np.meshgrid(hm0.x_mm, hm0.y_mm)
    rho2 = (x ** 2 + y ** 2) / 10.0 ** 2
    z = 3.0 * math.sqrt(3) * (2 * rho2 - 1) + 7.0   # Fringe Z4, rms coefficient 3 nm; piston 7
    z[rho2 > 1] = np.nan
    fit = mt.fit_zernike(mt.HeightMap(z, 0.2), terms=9, scheme="fringe", r_norm_mm=10.0)
    ax = fit.plot(_ax())
    labels = [t.get_text() for t in ax.get_xticklabels()]
    heights = [p.get_height() for p in ax.patches]
    assert len(labels) == len(heights) == 8  # piston not drawn by default
    assert labels[2].startswith("Z4") and "power" in labels[2]
    assert heights[2] == pytest.approx(3.0, abs=1e-9)
    assert all(abs(h) < 1e-9 for i, h in enumerate(heights) if i != 2)
    assert "fringe" in ax.get_title() and "R_norm 10 mm" in ax.get_title()
    assert "nm" in ax.get_ylabel()
    ax = fit.plot(_ax(), exclude=())
    assert len(ax.patches) == 9 and ax.patches[0].get_height() == pytest.approx(7.0)
    with pytest.raises(MetrologyError, match="unknown term"):
        fit.plot(_ax(), exclude=("wobble",))


def test_zernike_plot_of_a_strip_says_the_bars_mean_nothing_or_are_modes() -> None:
    """On a 2 x 40 mm strip the circle polynomials are ill-conditioned and cover a few per
    cent of the unit disk (issue 9): the bars of such a fit carry the flags in the title;
    the orthonormalised fit's bars are labelled as modes."""
    rng = np.random.default_rng(1)
    hm = mt.HeightMap(rng.normal(size=(10, 200)) * 50.0, 0.2)
    fit = mt.fit_zernike(hm, terms=10, scheme="fringe")
    assert fit.flags                                  # the fit is flagged, not refused
    ax = fit.plot(_ax())
    assert ax.get_title().startswith("NOT MEANINGFUL") and "unit disk" in ax.get_title()
    ortho = mt.fit_zernike(hm, terms=10, scheme="fringe", basis="orthonormal")
    ax = ortho.plot(_ax())
    assert "orthonormal" in ax.get_ylabel() and "NOT MEANINGFUL" not in ax.get_title()
    assert all(t.get_text().startswith("mode from Z") for t in ax.get_xticklabels())


# ----------------------------------------------------------------------------- PSDs

def test_psd2d_image_has_the_cosine_at_its_frequency() -> None:
    n, dx = 128, 0.05            # df = 1 / 6.4 mm = 0.15625 /mm
    hm0 = mt.HeightMap(np.zeros((n, n)), dx)
    x, y = np.meshgrid(hm0.x_mm, hm0.y_mm)
    fx0, fy0 = 20 * 0.15625, -8 * 0.15625  # on the frequency grid
    hm = mt.HeightMap(np.cos(2 * np.pi * (fx0 * x + fy0 * y)), dx)
    p = mt.psd(hm, window="none", remove=())
    fig = Figure()
    ax_img, ax_rad = p.plot((fig.add_subplot(121), fig.add_subplot(122)),
                            limit=PSDLimit(a=1e-3, b=2.0, kind="radial"))
    img = np.asarray(ax_img.images[0].get_array().filled(0.0))
    x0, x1, y0, y1 = ax_img.images[0].get_extent()
    assert ax_img.images[0].origin == "lower"
    peaks = np.argwhere(img >= 0.5 * img.max())
    fx = x0 + (peaks[:, 1] + 0.5) * (x1 - x0) / img.shape[1]
    fy = y0 + (peaks[:, 0] + 0.5) * (y1 - y0) / img.shape[0]
    got = sorted(zip(np.round(fx, 6), np.round(fy, 6), strict=True))
    assert got == sorted([(fx0, fy0), (-fx0, -fy0)])  # +-f, the plane is Hermitian
    assert ax_img.get_xlabel() == "f_x [cycles/mm]" and ax_img.get_ylabel() == "f_y [cycles/mm]"
    assert len(ax_rad.lines) == 2  # the radial PSD and the limit line


def test_limit_lines_on_radial_and_profile_psds() -> None:
    rng = np.random.default_rng(1)
    hm = mt.HeightMap(rng.normal(size=(64, 64)), 0.02)
    radial = mt.psd(hm).radial(bins="log")
    lim = PSDLimit(a=2e-4, b=2.5, kind="radial")
    ax = radial.plot(_ax(), limit=lim)
    line = ax.lines[-1]
    f, v = line.get_xdata(), line.get_ydata()
    np.testing.assert_allclose(v, 2e-4 * f ** -2.5, rtol=1e-12)
    assert ax.get_legend_handles_labels()[1][-1] == "limit line"
    # a line of another kind is converted, and the legend says so
    ax = radial.plot(_ax(), limit=PSDLimit(a=2e-4, b=2.5, kind="profile"))
    assert "profile line as radial" in ax.get_legend_handles_labels()[1][-1]
    # a two-sided profile PSD: the one-sided line A f^-B drawn as A f^-B / 2
    prof = Profile(rng.normal(size=512), 0.001)
    two = prof.psd(one_sided=False)
    ax = two.plot(_ax(), limit=PSDLimit(a=1e-3, b=1.5, kind="profile"))
    f, v = ax.lines[-1].get_xdata(), ax.lines[-1].get_ydata()
    np.testing.assert_allclose(v, 0.5e-3 * f ** -1.5, rtol=1e-12)
    one = prof.psd()
    ax = one.plot(_ax(), limit=PSDLimit(a=1e-3, b=1.5, kind="profile"))
    f, v = ax.lines[-1].get_xdata(), ax.lines[-1].get_ydata()
    np.testing.assert_allclose(v, 1e-3 * f ** -1.5, rtol=1e-12)
    with pytest.raises(MetrologyError, match="limit must be"):
        one.plot(_ax(), limit=3.0)


def test_profile_plot_and_new_figures() -> None:
    import matplotlib.pyplot as plt

    prof = Profile(np.cos(np.arange(100) / 7.0), 0.003)
    ax = prof.plot()
    try:
        (line,) = ax.lines
        np.testing.assert_allclose(line.get_xdata(), prof.x_mm)
        np.testing.assert_allclose(line.get_ydata(), prof.z_nm)
        assert ax.get_xlabel() == "x [mm]" and ax.get_ylabel() == "height [nm]"
    finally:
        plt.close("all")
