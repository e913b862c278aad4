"""The one place that holds the Numba compilation flags and the thread policy.

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
index, bool mask) arrays only.

Threads
-------
On a shared machine (a CI runner, a workstation running other jobs) the
other core is often busy. GNU OpenMP and Numba's workqueue end every parallel
region by waiting for all their workers, and a worker the OS has not
scheduled makes a 1 ms region take a scheduler time slice (measured on the
2-core development machine with a busy loop pinned to the other core: a
1 ms band pass had a median of 4.9 ms and a maximum of 52 ms with OpenMP).
Intel TBB lets the calling thread run the whole region when no worker is
free (1.6 ms under the same load). So:

* when the ``tbb`` wheel is installed (a dependency where PyPI has it), its
  library is loaded before Numba looks for a threading layer, and Numba's
  default choice (TBB, then OpenMP, then workqueue) picks it; without it
  Numba falls back to OpenMP or workqueue exactly as before;
* :func:`threads_for` runs a region on one thread when its estimated serial
  time is below :data:`PARALLEL_MIN_SECONDS` for the layer in use (tiny for
  TBB, a few ms for the layers that wait for their workers);
* :func:`blas_single_threaded` keeps OpenBLAS on the calling thread for the
  small matrices of the fits (its idle threads otherwise spin next to Numba's
  pool); it uses ``threadpoolctl`` when installed and does nothing otherwise.

``NUMBA_THREADING_LAYER`` (Numba's own setting) still wins: when it is set,
nothing is preloaded.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from collections.abc import Iterator

#: TBB's shared library name per platform (the one Numba's tbbpool links to)
_TBB_NAMES = {"linux": "libtbb.so.12", "darwin": "libtbb.12.dylib", "win32": "tbb12.dll"}


def _preload_tbb() -> str | None:
    """Load the ``tbb`` wheel's library so that Numba can use its TBB threading layer.

    The wheel puts the library in ``<prefix>/lib`` (``Library/bin`` on
    Windows), which is not on the loader's search path of a virtual
    environment; once it is loaded under its soname, Numba's ``tbbpool``
    extension finds it. Returns the path loaded, or None.
    """
    if os.environ.get("NUMBA_THREADING_LAYER"):
        return None  # the user chose
    name = _TBB_NAMES.get(sys.platform)
    if name is None:
        return None
    sub = ("Library", "bin") if sys.platform == "win32" else ("lib",)
    cands = [os.path.join(p, *sub, name) for p in dict.fromkeys((sys.prefix, sys.base_prefix))]
    path = next((c for c in cands if os.path.exists(c)), None)
    if path is None:
        try:  # a --user or other non-prefix install: ask the distribution where it put it
            from importlib import metadata

            files = metadata.files("tbb") or []
            path = next((str(f.locate()) for f in files if f.name == name), None)
        except Exception:  # noqa: BLE001 - not installed or unreadable metadata
            path = None
    if path is None:
        return None
    try:
        mode = getattr(ctypes, "RTLD_GLOBAL", 0)
        ctypes.CDLL(path, mode=mode)
    except OSError:
        return None
    return path


TBB_LIBRARY: str | None = _preload_tbb()

import numba  # noqa: E402 - after the TBB preload, before any kernel is compiled

#: fastmath flags used by every kernel. Deliberately excludes "nnan" and "ninf".
FASTMATH: frozenset[str] = frozenset({"contract", "reassoc", "nsz", "arcp"})

assert "nnan" not in FASTMATH and "ninf" not in FASTMATH and "fast" not in FASTMATH

_COMMON = {"cache": True, "nogil": True, "fastmath": set(FASTMATH)}

#: decorator for small serial kernels
jit = numba.njit(**_COMMON)
#: decorator for large kernels that use ``numba.prange``
pjit = numba.njit(parallel=True, **_COMMON)

prange = numba.prange

#: a parallel region pays only above this much estimated serial work (seconds), per
#: threading layer; below it the region runs on the calling thread. TBB lets the caller
#: do the work when no worker is free, so its regions pay off early. OpenMP and
#: workqueue wait for every worker: beside a busy core that is a scheduler time slice
#: (4-50 ms measured), which only a region of tens of ms can win back (half of it)
PARALLEL_MIN_SECONDS: dict[str, float] = {"tbb": 2e-4, "omp": 2e-2, "workqueue": 2e-2}

#: serial throughput assumed by :func:`threads_for_elements` (elements per second of a
#: one-pass map kernel on one core; measured 1.5-3e9 for the moment and PSD passes)
ELEMENTS_PER_SECOND = 1.5e9


def num_threads() -> int:
    """Number of threads parallel kernels use now (:func:`threads_for` may lower it)."""
    return int(numba.get_num_threads())


def max_threads() -> int:
    """Number of threads of the process (``NUMBA_NUM_THREADS``)."""
    return int(numba.config.NUMBA_NUM_THREADS)


def threading_layer() -> str:
    """Numba's threading layer ("tbb", "omp" or "workqueue"), starting its threads if needed."""
    try:
        return str(numba.threading_layer())
    except ValueError:  # not launched yet
        from numba.np.ufunc import parallel

        parallel._launch_threads()
        return str(numba.threading_layer())


_LAYER: list[str] = []


@contextlib.contextmanager
def threads_for(seconds: float) -> Iterator[None]:
    """Run the enclosed kernels (and FFTs) on one thread when the work is small in time.

    Parameters
    ----------
    seconds : float
        Estimated serial time of the enclosed work.
    """
    old = numba.get_num_threads()
    if old == 1:
        yield
        return
    if not _LAYER:
        _LAYER.append(threading_layer())
    if seconds >= PARALLEL_MIN_SECONDS.get(_LAYER[0], 2e-2):
        yield
        return
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(old)


def threads_for_elements(n_elements: int, passes: float = 1.0) -> contextlib.AbstractContextManager:
    """:func:`threads_for` for ``passes`` memory-bound passes over ``n_elements``."""
    return threads_for(passes * n_elements / ELEMENTS_PER_SECOND)


_BLAS: list = []


def blas_single_threaded() -> contextlib.AbstractContextManager:
    """Context in which BLAS/LAPACK calls run on the calling thread (threadpoolctl),
    or a no-op when threadpoolctl is not installed."""
    if not _BLAS:
        try:
            from threadpoolctl import ThreadpoolController

            _BLAS.append(ThreadpoolController())
        except Exception:  # noqa: BLE001 - optional
            _BLAS.append(None)
    ctl = _BLAS[0]
    if ctl is None:
        return contextlib.nullcontext()
    return ctl.limit(limits=1, user_api="blas")


def cache_is_warm() -> bool:
    """Whether compiled kernels are already in Numba's on-disk cache.

    Numba looks in ``NUMBA_CACHE_DIR`` when it is set, else next to the
    sources (``kernels/__pycache__``) or, for a read-only install, in the
    user's cache folder. This looks for kernel index files (``*.nbi``) in the
    same place, to tell the user that a first run compiles (once).
    """
    import glob

    cache_dir = os.environ.get("NUMBA_CACHE_DIR")
    if cache_dir:
        places = [os.path.join(cache_dir, "**", "*.nbi")]
    else:
        here = os.path.dirname(os.path.abspath(__file__))
        places = [os.path.join(here, "__pycache__", "*.nbi"),
                  os.path.join(os.path.expanduser("~"), ".cache", "numba", "**", "*.nbi")]
    return any(glob.glob(p, recursive=True) for p in places)
