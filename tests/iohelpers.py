"""Shared pieces of the HDF5 / MetroPro / NumPy format tests."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, settings

#: byte-flip fuzzing: fixed examples, no deadline (some readers fork a guard process)
FLIP_SETTINGS = settings(max_examples=50, derandomize=True, deadline=None,
                         suppress_health_check=[HealthCheck.function_scoped_fixture])


def marked_map(nrows: int = 12, ncols: int = 9, seed: int = 0) -> np.ndarray:
    """Asymmetric map: a y ramp, an x ramp of another slope, noise, a NaN block."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:nrows, 0:ncols]
    z = 10.0 * y + 3.0 * x + rng.normal(0, 0.5, (nrows, ncols))
    z[nrows - 2, 1] = 500.0  # marker near the top-left (high y, low x)
    z[0:2, ncols - 3:] = np.nan  # invalid block bottom-right
    return z
