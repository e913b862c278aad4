"""How the criterion types get the U (k = 2) they hand to :meth:`Criterion.judge`.

The models are those of :mod:`metrology.uncertainty` (``docs/uncertainty.md``):

* **band values** (RMS height, RMS slope, a PSD bin): the repeats model when the
  site is an average of repeats (noise floor from the pairwise differences),
  else the single-map periodogram model (chi-square cells);
* **an RMS over a whole map** (a form residual, ISO 10110 RMSi / RMSa): the
  same models over the full band, no window;
* **a linear function of a least-squares fit** (a Zernike term or pair
  magnitude, the ISO 10110 sagitta A, the PV of a fitted form): the single-map
  model :class:`metrology.uncertainty.FitNoiseModel`;
* **repeats, any value**: Type A, 2 s / sqrt(N) of the value on each repeat
  (N - 1 degrees of freedom), as :func:`metrology.iso10110.form_estimates`;
* **a PV of a residual** on a single map: no model (U unknown; the guarded
  rule then gives ``not-measurable``);
* **a count** (pixels, files): exact, U = 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..errors import MetrologyError
from ._base import Uncertainty

if TYPE_CHECKING:  # pragma: no cover
    from ..heightmap import HeightMap
    from ..uncertainty import BandEstimate

__all__ = ["unknown", "type_a", "band_judged", "full_band_estimate", "from_estimate",
           "scaled_variance_u"]

K = 2.0


def unknown(why: str) -> Uncertainty:
    """No U: ``why`` in words (the guarded rule cannot decide such a value)."""
    return Uncertainty(None, f"unknown: {why}")


def type_a(values: Sequence[float], what: str = "the value") -> Uncertainty:
    """Type A from repeats: U = 2 s / sqrt(N), s the sample standard deviation (ddof 1)."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], float)
    n = int(v.size)
    if n < 2:
        return unknown("fewer than 2 repeats gave a value")
    s = float(np.std(v, ddof=1))
    return Uncertainty(K * s / math.sqrt(n),
                       "repeats: Type A, U = 2 s / sqrt(N), s the standard deviation of the "
                       "value over the N repeats on their common mask (N - 1 degrees of "
                       "freedom: with few repeats k = 2 covers less than 95 %); the noise's "
                       "bias of PV and RMS values is not removed",
                       detail=f"{what} of each of N = {n} repeats", dof=float(n - 1),
                       n_repeats=n)


def from_estimate(est: BandEstimate | None, measured: float) -> Uncertainty:
    """The U of a single-map estimate (value as measured)."""
    if est is None or not math.isfinite(est.U):
        return unknown("the spectra of the uncertainty model could not be computed")
    return Uncertainty(float(est.U), est.model, measured=measured, dof=est.dof,
                       n_repeats=est.n_repeats)


def band_judged(measured: float, est: BandEstimate | None, noise_correction: bool
                ) -> tuple[float, Uncertainty]:
    """The value a band criterion judges and its uncertainty.

    Single map (no noise floor): the measured value, U of the single-map model.
    Repeats (noise floor known): with ``noise_correction`` the noise-corrected value
    ``sqrt(V - V_noise)`` (floored at 0) and its U; without it the measured value,
    whose U is the corrected value's U plus the noise's bias (measured - corrected),
    so that value - U stays a lower bound of the surface's band RMS.
    """
    if est is None or not math.isfinite(est.U):
        return measured, unknown("the spectra of the uncertainty model could not be computed")
    if est.noise is None or not est.corrected:
        return measured, from_estimate(est, measured)
    if noise_correction:
        return float(est.value), Uncertainty(
            float(est.U), est.model, detail="judged value noise-corrected", noise=est.noise,
            measured=measured, corrected=True, dof=est.dof, n_repeats=est.n_repeats)
    bias = max(measured - float(est.value), 0.0)
    return measured, Uncertainty(
        float(est.U) + bias, est.model,
        detail=f"judged value not noise-corrected (noise_correction = false): U includes "
               f"the noise's bias {bias:.3g}",
        noise=est.noise, measured=measured, corrected=False, dof=est.dof,
        n_repeats=est.n_repeats)


def full_band_estimate(data: HeightMap | Sequence[HeightMap]) -> BandEstimate | None:
    """The RMS over the whole map (mean removed, no window) as a band estimate: the
    single-map chi-square model, or the repeats model for a sequence of repeats."""
    from ..uncertainty import BandAnalysis

    if isinstance(data, list | tuple) and len(data) == 1:
        data = data[0]
    try:
        ba = BandAnalysis(data, window="none", remove=())
        return ba.estimate(0.0, math.inf, valid_range_per_mm=(0.0, math.inf))
    except MetrologyError:
        return None


def scaled_variance_u(value: float, measured: float, U: float) -> float:
    """U of a quantity proportional to a band *variance* (a PSD bin ratio ``value``) from
    the RMS ``measured`` of that band and its U: value · ((1 + U/measured)² - 1)."""
    if not (measured > 0 and math.isfinite(U)):
        return math.inf
    return value * ((1.0 + U / measured) ** 2 - 1.0)


MODEL_COMPOSITE = ("composite PSD: the standard errors of its bins (the spread of the "
                   "periodogram and of the pieces averaged into each bin, bins taken as "
                   "independent: docs/composite.md) carried to the value; U = 2 x the "
                   "standard error; k = 2")


def from_stderr(stderr: float | None, what: str = "") -> Uncertainty:
    """U = 2 x a standard error of the composite PSD's value (``what``: the detail)."""
    if stderr is None or not math.isfinite(stderr):
        return unknown("the composite PSD gives no standard error for this value")
    return Uncertainty(K * float(stderr), MODEL_COMPOSITE, detail=what)


def bins_u(ratios: np.ndarray, rel_err: np.ndarray, what: str = "") -> Uncertainty:
    """U of the largest of per-bin ratios with relative standard errors ``rel_err``: such
    that value + U is the largest ratio x (1 + 2 rel_err) of any bin."""
    r = np.asarray(ratios, dtype=np.float64)
    e = np.asarray(rel_err, dtype=np.float64)
    ok = np.isfinite(r)
    if not ok.any() or not np.all(np.isfinite(e[ok])):
        return unknown("the composite PSD gives no standard error for these bins")
    value = float(np.max(r[ok]))
    top = float(np.max(r[ok] * (1.0 + K * e[ok])))
    return Uncertainty(top - value, MODEL_COMPOSITE + "; the largest of the bins' ratios: U "
                       "such that value + U is the largest ratio x (1 + 2 relative standard "
                       "error) of any bin", detail=what)
