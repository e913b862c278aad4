"""The one place that holds the Numba compilation flags.

Every kernel in :mod:`kernels` is compiled with one of the decorators below,
so the policy is set here and nowhere else:

* ``cache=True``: the first compile costs seconds per kernel; the on-disk
  cache (``__pycache__`` next to the source, or ``NUMBA_CACHE_DIR``) loads in
  well under a second.
* ``fastmath``: an explicit flag set, **never** ``nnan`` or ``ninf``. Height
  maps are NaN outside the aperture; ``nnan`` lets LLVM delete ``isfinite``
  checks and silently turns masked pixels into numbers. ``reassoc`` and
  ``contract`` allow SIMD reductions and FMA; ``nsz`` and ``arcp`` are harmless
  at the 1e-13 relative level the tests demand.
* ``parallel=True`` only for kernels whose work is large (per-pixel loops over
  whole maps); small kernels stay serial to avoid thread start-up cost.
* ``boundscheck`` off (Numba's default); the public wrappers validate shapes.

Signatures are kept few: the wrappers pass C-contiguous float64 (and int64
index) arrays only.
"""

from __future__ import annotations

import numba

#: fastmath flags used by every kernel. Deliberately excludes "nnan" and "ninf".
FASTMATH: frozenset[str] = frozenset({"contract", "reassoc", "nsz", "arcp"})

assert "nnan" not in FASTMATH and "ninf" not in FASTMATH and "fast" not in FASTMATH

_COMMON = {"cache": True, "nogil": True, "fastmath": set(FASTMATH)}

#: decorator for small serial kernels
jit = numba.njit(**_COMMON)
#: decorator for large kernels that use ``numba.prange``
pjit = numba.njit(parallel=True, **_COMMON)

prange = numba.prange


def num_threads() -> int:
    """Number of threads parallel kernels use (``NUMBA_NUM_THREADS``)."""
    return int(numba.get_num_threads())


def cache_is_warm() -> bool:
    """Whether compiled kernels are already in Numba's on-disk cache.

    Numba looks in ``NUMBA_CACHE_DIR`` when it is set, else next to the
    sources (``kernels/__pycache__``) or, for a read-only install, in the
    user's cache folder. This looks for kernel index files (``*.nbi``) in the
    same place, to tell the user that a first run compiles (once).
    """
    import glob
    import os

    cache_dir = os.environ.get("NUMBA_CACHE_DIR")
    if cache_dir:
        places = [os.path.join(cache_dir, "**", "*.nbi")]
    else:
        here = os.path.dirname(os.path.abspath(__file__))
        places = [os.path.join(here, "__pycache__", "*.nbi"),
                  os.path.join(os.path.expanduser("~"), ".cache", "numba", "**", "*.nbi")]
    return any(glob.glob(p, recursive=True) for p in places)
