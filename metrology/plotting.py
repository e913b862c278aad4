"""Figures of maps, fits, PSDs and profiles (matplotlib, imported only when drawing).

The classes have thin methods that call these functions: ``HeightMap.plot()``,
``HeightMap._repr_html_()`` (the notebook display), ``ZernikeFit.plot()``,
``PSD2D.plot()``, ``RadialPSD.plot()``, ``ProfilePSD.plot()`` and
``Profile.plot()``. The HTML reports draw with the same functions.

Conventions (``docs/conventions.md``): maps are shown with y up
(``origin="lower"``, the surface seen from the front of the part), x and y in
mm, heights in nm; PSDs log-log against cycles/mm, nm² mm (radial, profile) or
nm² mm² (2-D). A limit line (a :class:`metrology.psdlimit.PSDLimit`, a
:class:`~metrology.psdlimit.PiecewiseLimit` or a spec's ``[psd]`` line) of
another kind is converted for an isotropic surface, and the legend says so.

Every function takes an optional matplotlib ``ax`` to draw into and returns
the axes drawn on; without one it makes a new figure with ``pyplot`` (so a
notebook shows it). matplotlib is an optional dependency: without it these
functions raise a :class:`~metrology.errors.MetrologyError` naming the extra
to install (``pip install "optical-metrology[plot]"``).
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ._version import install_hint
from .errors import MetrologyError

if TYPE_CHECKING:  # pragma: no cover
    from .heightmap import HeightMap
    from .profile import Profile
    from .spectral import PSD2D, ProfilePSD, RadialPSD
    from .zernike import ZernikeFit

__all__ = ["require_matplotlib", "plot_heightmap", "plot_zernike", "plot_psd2d",
           "plot_radial_psd", "plot_profile_psd", "plot_profile", "heightmap_html",
           "figure_png", "display_grid", "limit_curve", "MAX_DISPLAY_PX", "THUMBNAIL_PX"]

#: maps larger than this (pixels along either side) are drawn as block means
MAX_DISPLAY_PX = 512
#: largest side of the notebook thumbnail, pixels of the map
THUMBNAIL_PX = 256


# ----------------------------------------------------------------------------- matplotlib

def require_matplotlib(what: str = "plotting") -> None:
    """Raise :class:`MetrologyError` naming the extra to install when matplotlib is
    missing; ``what`` says what needed it."""
    try:
        import matplotlib  # noqa: F401
        from matplotlib.figure import Figure  # noqa: F401
    except ImportError as exc:
        raise MetrologyError(
            f"{what} needs matplotlib, which is not installed; install it with: "
            f"{install_hint('plot')}") from exc


def _new_axes(ax: Any, figsize: tuple[float, float]) -> Any:
    """``ax``, or the axes of a new pyplot figure (shown inline by notebooks)."""
    require_matplotlib()
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def figure_png(fig: Any, dpi: float | None = None) -> str:
    """A matplotlib figure as base64 PNG text (256-colour palette, no metadata), at
    ``dpi`` (default: the figure's)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if dpi is not None:
        fig.set_dpi(dpi)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    rgb = np.ascontiguousarray(np.asarray(canvas.buffer_rgba())[..., :3])
    buf = io.BytesIO()
    try:
        from PIL import Image  # a dependency of matplotlib
    except ImportError:  # pragma: no cover - matplotlib always brings Pillow
        fig.savefig(buf, format="png", dpi=fig.get_dpi(), metadata={"Software": None})
    else:
        img = Image.fromarray(rgb).quantize(colors=256, method=Image.Quantize.MEDIANCUT,
                                            dither=Image.Dither.NONE)
        img.save(buf, format="PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def log_axes(ax: Any) -> None:
    """No minor tick labels on log axes spanning more than two decades (they crowd
    small figures); shorter axes keep them (else they show one label or none)."""
    from matplotlib.ticker import NullFormatter

    for a, lim in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
        lo, hi = sorted(lim)
        if lo > 0 and hi / lo > 100:
            a.set_minor_formatter(NullFormatter())


# ----------------------------------------------------------------------------- maps

def display_grid(hm: HeightMap, max_px: int = MAX_DISPLAY_PX) -> tuple[np.ndarray, int,
                                                                          list[float]]:
    """Heights to show: k x k block means (NaN-aware) so that no side exceeds ``max_px``.

    Returns ``(z_nm, k, extent_mm)`` with ``extent_mm = [x0, x1, y0, y1]``
    (outer pixel edges of the blocks shown, mm) for ``imshow(origin="lower")``.
    ``k = 1`` returns the heights as they are.
    """
    k = max(1, math.ceil(max(hm.shape) / max_px))
    x, y = hm.x_mm, hm.y_mm
    ny, nx = (hm.shape[0] // k) * k, (hm.shape[1] // k) * k
    if k == 1:
        z = hm.z_nm
    else:
        blocks = hm.z_nm[:ny, :nx].reshape(ny // k, k, nx // k, k)
        good = np.isfinite(blocks)
        cnt = good.sum(axis=(1, 3))
        tot = np.where(good, blocks, 0.0).sum(axis=(1, 3))
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.where(cnt > 0, tot / np.maximum(cnt, 1), np.nan)
    ext = [x[0] - hm.dx_mm / 2, x[nx - 1] + hm.dx_mm / 2, y[0] - hm.dy_mm / 2,
           y[ny - 1] + hm.dy_mm / 2]
    return z, k, [float(v) for v in ext]


def colour_limits(z: np.ndarray, symmetric: bool) -> tuple[float, float]:
    """Colour range: the 0.5 / 99.5 percentiles (``symmetric``: about the mean)."""
    v = z[np.isfinite(z)]
    if v.size == 0:
        return -1.0, 1.0
    if symmetric:
        c = float(np.percentile(np.abs(v - np.mean(v)), 99.5)) or 1e-6
        m = float(np.mean(v))
        return m - c, m + c
    lo, hi = (float(t) for t in np.percentile(v, [0.5, 99.5]))
    if not hi > lo:
        lo, hi = lo - 1e-6, hi + 1e-6
    return lo, hi


def plot_heightmap(hm: HeightMap, ax: Any = None, *, title: str | None = None,
                   cmap: str | None = None, symmetric: bool = False,
                   vmin: float | None = None, vmax: float | None = None,
                   colorbar: bool = True, max_px: int = MAX_DISPLAY_PX) -> Any:
    """Draw a height map: y up, x and y in mm, a colour bar in nm.

    Parameters
    ----------
    hm : HeightMap
    ax : matplotlib Axes, optional
    title : str, optional
        Default: the file name, shape and RMS / PV.
    cmap : str, optional
        Default ``"viridis"`` (``"RdBu_r"`` when ``symmetric``).
    symmetric : bool
        Colour range symmetric about the mean (residuals).
    vmin, vmax : float, optional
        Colour range in nm; default the 0.5 / 99.5 percentiles.
    colorbar : bool
    max_px : int
        Larger maps are drawn as k x k block means (the title says so).

    Returns
    -------
    matplotlib Axes
    """
    ax = _new_axes(ax, (5.0, 4.0))
    z, k, ext = display_grid(hm, max_px)
    lo, hi = colour_limits(z, symmetric)
    im = ax.imshow(z, origin="lower", extent=ext, interpolation="nearest",
                   cmap=cmap or ("RdBu_r" if symmetric else "viridis"),
                   vmin=lo if vmin is None else vmin, vmax=hi if vmax is None else vmax)
    ax.set_xlabel("x [mm]")
    ax.set_ylabel("y [mm]")
    ax.set_aspect("equal")
    if title is None:
        src = str(hm.meta.get("source") or "")
        name = src.replace("\\", "/").rsplit("/", 1)[-1]
        stats = (f"RMS {hm.rms_nm:.4g} nm, PV {hm.pv_nm:.4g} nm" if hm.n_valid
                 else "no valid pixel")
        title = f"{name + ': ' if name else ''}{hm.shape[0]} x {hm.shape[1]}, {stats}"
    if k > 1:
        title += f" (shown as {k} x {k} block means)"
    ax.set_title(title, fontsize=8)
    if colorbar:
        cb = ax.figure.colorbar(im, ax=ax, shrink=0.85)
        cb.set_label("height [nm]")
    return ax


def _stats_rows(hm: HeightMap) -> list[tuple[str, str]]:
    rows = [("shape", f"{hm.shape[0]} rows x {hm.shape[1]} cols"),
            ("spacing", f"dx = {hm.dx_mm:.6g} mm, dy = {hm.dy_mm:.6g} mm"),
            ("extent", f"{hm.extent_mm[0]:.6g} x {hm.extent_mm[1]:.6g} mm"),
            ("valid", f"{hm.valid_fraction:.2%} ({hm.n_valid} pixels)")]
    if hm.n_valid:
        rows.append(("RMS / PV", f"{hm.rms_nm:.4g} nm / {hm.pv_nm:.4g} nm (as stored, "
                                 "nothing removed)"))
    for key, label in (("source", "source"), ("format", "format"),
                       ("instrument", "instrument")):
        if hm.meta.get(key):
            rows.append((label, str(hm.meta[key])))
    return rows


def heightmap_html(hm: HeightMap) -> str:
    """The notebook display of a map: a thumbnail (base64 PNG, colour bar in nm, axes in
    mm, y up) beside shape, spacing, RMS / PV and valid fraction. Without matplotlib,
    or if drawing fails, the table alone with a note; never raises for a valid map."""
    rows = "".join(f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(k)}</th>"
                   f"<td style='text-align:left'>{html.escape(v)}</td></tr>"
                   for k, v in _stats_rows(hm))
    table = f"<table>{rows}</table>"
    try:
        require_matplotlib()
    except MetrologyError:
        return (f"<div><b>HeightMap</b>{table}<p style='font-size:smaller'>No thumbnail: "
                f"matplotlib is not installed ({html.escape(install_hint('plot'))}).</p></div>")
    try:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(3.6, 2.9), layout="constrained")
        ax = fig.add_subplot()
        plot_heightmap(hm, ax, title=" ", max_px=THUMBNAIL_PX)
        img = (f"<img alt='height map, nm' style='margin-right:1em' "
               f"src='data:image/png;base64,{figure_png(fig, dpi=72)}'>")
    except Exception as exc:  # noqa: BLE001 - a display must never raise
        img = f"<p>(no thumbnail: {html.escape(type(exc).__name__)}: {html.escape(str(exc))})</p>"
    return (f"<div><b>HeightMap</b><div style='display:flex;align-items:flex-start'>{img}"
            f"{table}</div></div>")


# ----------------------------------------------------------------------------- Zernike

def plot_zernike(fit: ZernikeFit, ax: Any = None, *, exclude: Sequence[str] = ("piston",),
                 title: str | None = None) -> Any:
    """Bar chart of the coefficients with the terms' names.

    Parameters
    ----------
    fit : ZernikeFit
    ax : matplotlib Axes, optional
    exclude : sequence of str
        Term names not drawn (default: piston); ``()`` draws every term.
    title : str, optional
        Default: scheme, normalisation, R_norm and centre.

    Returns
    -------
    matplotlib Axes
    """
    from .zernike_schemes import TERMS, canonical_term_name, term_members, zernike_name

    skip: set[tuple[int, int]] = set()
    for name in exclude:
        canon = canonical_term_name(name)
        if canon is None:
            raise MetrologyError(f"exclude: unknown term name {name!r}; one of "
                                 f"{', '.join(TERMS)}")
        skip.update(term_members(*TERMS[canon]))
    keep = [(j, o, c) for j, o, c in zip(fit.indices, fit.orders, fit.coefficients_nm,
                                         strict=True) if tuple(o) not in skip]
    ax = _new_axes(ax, (max(4.0, 0.22 * len(keep) + 1.5), 3.4))
    x = np.arange(len(keep))
    vals = [float(c) for _, _, c in keep]
    ax.bar(x, vals, color=["C3" if v < 0 else "C0" for v in vals], width=0.75)
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set_xticks(x)
    ortho = fit.basis_kind != "circle"
    ax.set_xticklabels([f"{'mode from ' if ortho else ''}Z{j} {zernike_name(*o)}"
                        for j, o, _ in keep], rotation=90, fontsize=6)
    ax.set_xlim(-0.6, len(keep) - 0.4)
    ax.set_ylabel("orthonormal mode [nm, RMS over the pixels]" if ortho
                  else f"coefficient [nm, {fit.normalisation}]")
    if title is None:
        title = (f"Zernike {fit.scheme}{', orthonormalised over the pixels' if ortho else ''}, "
                 f"{fit.normalisation} normalisation, R_norm "
                 f"{fit.r_norm_mm:g} mm, centre ({fit.centre_mm[0]:.4g}, "
                 f"{fit.centre_mm[1]:.4g}) mm")
        if exclude:
            title += f"; not shown: {', '.join(exclude)}"
        if fit.flags:   # condition number or fill: the bars mean nothing
            title = ("NOT MEANINGFUL on this aperture (" + "; ".join(fit.flags) + ")\n"
                     + title)
    ax.set_title(title, fontsize=8)
    return ax


# ----------------------------------------------------------------------------- PSDs

def limit_curve(limit: Any, kind: str, f_per_mm: np.ndarray) -> tuple[np.ndarray, str]:
    """A limit line's values at ``f_per_mm`` as a ``kind`` ("radial", "profile",
    "areal") PSD, and its legend label (saying when it was converted).

    ``limit``: a :class:`~metrology.psdlimit.PSDLimit`, a
    :class:`~metrology.psdlimit.PiecewiseLimit`, or anything with ``to_limit()``
    (a spec's ``[psd]`` line).
    """
    if hasattr(limit, "to_limit"):
        limit = limit.to_limit()
    if not hasattr(limit, "as_kind") or not callable(limit):
        raise MetrologyError(f"limit must be a metrology.psdlimit line (PSDLimit, "
                             f"PiecewiseLimit) or a spec's [psd] line, got "
                             f"{type(limit).__name__}")
    label = "limit line"
    if limit.kind != kind:
        label = f"limit line ({limit.kind} line as {kind}, isotropic surface)"
        limit = limit.as_kind(kind)
    return np.asarray(limit(f_per_mm), dtype=float), label


def _draw_limit(ax: Any, limit: Any, kind: str, f: np.ndarray, scale: float = 1.0) -> None:
    lo = float(np.nanmin(f[f > 0])) if np.any(f > 0) else 1e-3
    hi = float(np.nanmax(f)) if f.size else 1.0
    ff = np.geomspace(lo, hi, 400)
    v, label = limit_curve(limit, kind, ff)
    ax.loglog(ff, v * scale, color="k", lw=1.4, label=label)


def _loglog_psd(ax: Any, f: np.ndarray, v: np.ndarray, label: str, marker: str | None) -> None:
    sel = (f > 0) & np.isfinite(v) & (v > 0)
    ax.loglog(f[sel], v[sel], lw=0.9, color="C0", marker=marker, ms=3, label=label)


def plot_radial_psd(p: RadialPSD, ax: Any = None, *, limit: Any = None,
                    label: str | None = None) -> Any:
    """Radial PSD (annulus sum / width, nm² mm) against cycles/mm, log-log; with
    ``limit``, the limit line (module docstring)."""
    ax = _new_axes(ax, (5.2, 3.6))
    f, v = np.asarray(p.f_per_mm), np.asarray(p.values)
    _loglog_psd(ax, f, v, label or f"radial PSD ({p.binning} bins)",
                "." if p.binning.startswith("log") else None)
    if limit is not None:
        _draw_limit(ax, limit, "radial", f)
    ax.set_xlabel("spatial frequency [cycles/mm]")
    ax.set_ylabel("radial PSD [nm\u00b2 mm]")
    ax.set_title(f"radial PSD, window: {p.window}", fontsize=8)
    ax.legend(fontsize=7, loc="lower left")
    log_axes(ax)
    return ax


def plot_profile_psd(p: ProfilePSD, ax: Any = None, *, limit: Any = None,
                     label: str | None = None) -> Any:
    """Profile (1-D) PSD (nm² mm) against cycles/mm, log-log, the range outside
    ``f_min_per_mm .. f_max_per_mm`` greyed; with ``limit``, the limit line. A
    two-sided PSD is drawn at f > 0 with the line halved (a one-sided line A is
    the two-sided A / 2)."""
    ax = _new_axes(ax, (5.2, 3.6))
    f, v = np.asarray(p.f_per_mm), np.asarray(p.values)
    two = p.sidedness == "two-sided"
    _loglog_psd(ax, f, v, label or f"{p.sidedness} profile PSD along {p.axis}", None)
    pos = f[f > 0]
    if pos.size:
        x0, x1 = float(pos.min()) / 1.3, float(pos.max()) * 1.3
        ax.set_xlim(x0, x1)
        if p.f_min_per_mm > x0:
            ax.axvspan(x0, p.f_min_per_mm, color="0.88", lw=0, label="not resolved")
        if p.f_max_per_mm < x1:
            ax.axvspan(p.f_max_per_mm, x1, color="0.88", lw=0)
    if limit is not None:
        _draw_limit(ax, limit, "profile", f, 0.5 if two else 1.0)
    ax.set_xlabel("spatial frequency [cycles/mm]")
    ax.set_ylabel(f"{p.sidedness} profile PSD [nm\u00b2 mm]")
    ax.set_title(f"profile PSD along {p.axis}, window: {p.window}", fontsize=8)
    ax.legend(fontsize=7, loc="lower left")
    log_axes(ax)
    return ax


def plot_psd2d(p: PSD2D, ax: Any = None, *, limit: Any = None, bins: str = "log") -> Any:
    """The 2-D periodogram as an image (log colour scale, nm² mm², f_x and f_y in
    cycles/mm, zero frequency at the centre) and, beside it, its radial PSD with the
    limit line when ``limit`` is given.

    ``ax``: one Axes (the image alone; ``limit`` then needs the pair), or a pair
    ``(image_ax, radial_ax)``. Default: a new figure with both. Returns the
    axes drawn on (one, or the pair).
    """
    require_matplotlib()
    from matplotlib.colors import LogNorm

    if ax is None:
        import matplotlib.pyplot as plt

        _, axes = plt.subplots(1, 2, figsize=(10.0, 4.0), layout="constrained")
        ax_img, ax_rad = axes
    elif isinstance(ax, list | tuple | np.ndarray):
        ax_img, ax_rad = ax
    else:
        if limit is not None:
            raise MetrologyError("a limit line is drawn on the radial PSD: pass ax=(image_ax, "
                                 "radial_ax), or plot p.radial(bins='log').plot(limit=...)")
        ax_img, ax_rad = ax, None
    full = p.values  # centred, ascending fx_per_mm / fy_per_mm
    fx, fy = p.fx_per_mm, p.fy_per_mm
    pos = full[np.isfinite(full) & (full > 0)]
    lo, hi = ((float(np.percentile(pos, 1)), float(pos.max())) if pos.size else (1e-12, 1.0))
    dfx, dfy = p.dfx_per_mm, p.dfy_per_mm
    im = ax_img.imshow(np.where(full > 0, full, np.nan), origin="lower",
                       extent=[fx[0] - dfx / 2, fx[-1] + dfx / 2, fy[0] - dfy / 2,
                               fy[-1] + dfy / 2],
                       norm=LogNorm(vmin=lo, vmax=max(hi, lo * 10)), cmap="magma",
                       interpolation="nearest")
    ax_img.set_xlabel("f_x [cycles/mm]")
    ax_img.set_ylabel("f_y [cycles/mm]")
    ax_img.set_title(f"2-D PSD, window: {p.window}", fontsize=8)
    cb = ax_img.figure.colorbar(im, ax=ax_img, shrink=0.85)
    cb.set_label("PSD [nm\u00b2 mm\u00b2]")
    if ax_rad is None:
        return ax_img
    plot_radial_psd(p.radial(bins=bins), ax_rad, limit=limit)
    return ax_img, ax_rad


# ----------------------------------------------------------------------------- profiles

def plot_profile(prof: Profile, ax: Any = None, *, title: str | None = None) -> Any:
    """A profile: height [nm] against x [mm] (invalid points are gaps)."""
    ax = _new_axes(ax, (6.0, 3.0))
    ax.plot(prof.x_mm, prof.z_nm, lw=0.8, color="C0")
    ax.set_xlabel("x [mm]")
    ax.set_ylabel("height [nm]")
    if title is None:
        stats = (f"RMS {prof.rms_nm:.4g} nm, PV {prof.pv_nm:.4g} nm" if prof.n_valid
                 else "no valid point")
        title = f"profile: {prof.n_points} points, dx = {prof.dx_mm:.4g} mm, {stats}"
    ax.set_title(title, fontsize=8)
    return ax
