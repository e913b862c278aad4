"""Compile every Numba kernel once, ahead of the first real job.

The first use of each kernel compiles it (tens of seconds in all); the
result goes to Numba's on-disk cache, so later processes load it in well
under a second. ``metrology warmup`` (or :func:`warm_up`) runs a small
synthetic analysis that touches every kernel the pipeline uses, e.g. while
building a CI image or right after installation
(``tests/test_policies.py`` checks that a whole check compiles nothing more).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

__all__ = ["warm_up"]


def warm_up() -> float:
    """Run a tiny analysis through every kernel; return the seconds it took."""
    from . import aperture
    from .fill import fill_dropouts
    from .io import load, save
    from .spectral import bands_rms, profile_psd, psd, pvr, slope_rms
    from .synth_psd import PowerLaw, synthesize
    from .zernike import clear_geometry_cache, fit_zernike, zernike_surface

    t0 = time.perf_counter()
    surf = zernike_surface(np.linspace(1.0, 0.1, 37), shape=(96, 96), dx_mm=0.1)
    msf = synthesize(PowerLaw(0.002, 3.0, kind="areal"), (96, 96), 0.1, seed=0)
    hm = surf.replace(surf.z_nm + msf.z_nm)
    z = hm.z_nm.copy()
    z[40:43, 50:52] = np.nan  # a dropout, for the fill
    hm = hm.replace(z)
    for _ in range(3):  # fresh geometry, reuse, basis kept
        fit = fit_zernike(hm, 37)
    _ = fit.residual, fit.fitted, fit.residual_rms_nm
    clear_geometry_cache()
    fresh = fit_zernike(hm, 37)  # a geometry without a stored basis: the summing kernel
    fresh.geometry.evaluate(fresh.coefficients_nm)  # (PVr evaluates the form this way)
    clear_geometry_cache()
    aperture.fit_circle(hm)
    aperture.find_circle_mask(np.ones((16, 16), bool), 0.1, 0.1)  # no edge: the area method
    hm.apply_mask(aperture.circle(hm, 9.0))
    filled, _ = fill_dropouts(fit.residual, aperture.circle(hm, 8.0))
    for window in ("hann", "none", "welch"):
        p = psd(filled, window=window, remove=())
        p.radial()
        p.radial(bins="log")
        p.azimuthal_average()
        p.profile("x")
        p.profile("y", one_sided=False)
        bands_rms(p, [(0.5, 1.0), (1.0, 4.0)])
    slope_rms(filled)
    slope_rms(p, band=(0.5, 4.0))
    profile_psd(filled, "x")
    pvr(hm, 36)
    with tempfile.TemporaryDirectory() as tmp:  # the readers' conversion kernels
        load(save(hm, Path(tmp) / "warmup.datx"))
    return time.perf_counter() - t0
