"""Real-input 2-D and 1-D FFTs with one backend chosen at import.

Backends, in order of preference (chosen once, by what is installed):

* ``ducc0`` (a core dependency, chosen because it measured fastest):
  ``ducc0.fft.r2c`` / ``c2r`` with ``nthreads`` threads. Measured on the
  2-core development machine, median of 7 (ms, real-to-complex, float64):

  ======  ===========  ===================  ====================
  size    ducc0 2 thr  scipy.fft 2 workers  numpy.fft.fft2 (c2c)
  ======  ===========  ===================  ====================
  512²        0.6-0.9          2.1                 7.7
  1024²       2.8-3.0          5.9                22.8
  2048²      16-20            34                  107
  4096²      79               167                 516
  ======  ===========  ===================  ====================

* ``scipy.fft`` (always available): ``rfft2`` / ``irfft2`` with
  ``workers`` = the Numba thread count.

Set the environment variable ``METROLOGY_FFT=scipy`` before import to force
the fallback (tests compare both). Transforms are unnormalised forward
(``exp(-2πi k n / N)``) and ``1/N`` inverse, as ``numpy.fft``.
"""

from __future__ import annotations

import os

import numpy as np

from ._config import max_threads, num_threads

#: transforms of at least this many elements use every thread of the process, whatever
#: the Numba thread policy around them: ducc0's pool does not stall beside a busy core
#: (measured: 2048² r2c 13.6 ms with 2 threads, 13.9 ms with 1, one core busy)
FFT_ALL_THREADS_ELEMENTS = 1 << 18


def _fft_threads(a: np.ndarray) -> int:
    return max_threads() if a.size >= FFT_ALL_THREADS_ELEMENTS else num_threads()

try:  # optional, faster backend
    if os.environ.get("METROLOGY_FFT", "").lower() == "scipy":
        raise ImportError("forced scipy backend")
    import ducc0.fft as _dfft
except ImportError:  # pragma: no cover - depends on the environment
    _dfft = None

#: name of the backend in use: "ducc0" or "scipy"
BACKEND: str = "ducc0" if _dfft is not None else "scipy"

__all__ = ["BACKEND", "fft2", "ifft2", "rfft2", "irfft2", "rfft_axis"]


def _scipy_fft():
    """scipy.fft, imported on first use of the fallback (not at start-up)."""
    import scipy.fft

    return scipy.fft


def rfft2(a: np.ndarray, backend: str | None = None,
          out: np.ndarray | None = None) -> np.ndarray:
    """Forward real-to-complex 2-D FFT, halved along the last axis.

    Parameters
    ----------
    a : ndarray, float64, shape (ny, nx)
    backend : {"ducc0", "scipy"}, optional
        Override the module's choice (used by tests and benchmarks).
    out : ndarray, complex128, shape (ny, nx // 2 + 1), optional
        Written by the ducc0 backend (saves the page faults of a fresh
        array); the scipy backend ignores it and returns a new array.

    Returns
    -------
    ndarray, complex128, shape (ny, nx // 2 + 1)
        ``numpy.fft.rfft2(a)``.
    """
    a = np.ascontiguousarray(a, dtype=np.float64)
    b = backend or BACKEND
    if b == "ducc0" and _dfft is not None:
        if out is not None and out.shape == (a.shape[0], a.shape[1] // 2 + 1) \
                and out.dtype == np.complex128 and out.flags.c_contiguous:
            return _dfft.r2c(a, axes=(0, 1), forward=True, nthreads=_fft_threads(a),
                             out=out)
        return _dfft.r2c(a, axes=(0, 1), forward=True, nthreads=_fft_threads(a))
    if b not in ("ducc0", "scipy"):
        raise ValueError(f"unknown FFT backend {backend!r}")
    return _scipy_fft().rfft2(a, workers=num_threads())


def irfft2(f: np.ndarray, shape: tuple[int, int], backend: str | None = None) -> np.ndarray:
    """Inverse of :func:`rfft2` (normalised by 1/(ny nx)).

    Parameters
    ----------
    f : ndarray, complex128, shape (ny, nx // 2 + 1)
    shape : (ny, nx)
        Shape of the real output.

    Returns
    -------
    ndarray, float64, shape ``shape``
    """
    f = np.ascontiguousarray(f, dtype=np.complex128)
    b = backend or BACKEND
    if b == "ducc0" and _dfft is not None:
        return _dfft.c2r(f, axes=(0, 1), lastsize=int(shape[1]), forward=False, inorm=2,
                         nthreads=_fft_threads(f))
    return _scipy_fft().irfft2(f, s=tuple(shape), workers=num_threads())


def rfft_axis(a: np.ndarray, axis: int, backend: str | None = None) -> np.ndarray:
    """Forward real-to-complex 1-D FFT of every row (axis=1) or column (axis=0).

    Returns
    -------
    ndarray, complex128
        ``numpy.fft.rfft(a, axis=axis)``.
    """
    a = np.ascontiguousarray(a, dtype=np.float64)
    b = backend or BACKEND
    if b == "ducc0" and _dfft is not None:
        return _dfft.r2c(a, axes=(axis,), forward=True, nthreads=_fft_threads(a))
    return _scipy_fft().rfft(a, axis=axis, workers=num_threads())


def fft2(a: np.ndarray, backend: str | None = None) -> np.ndarray:
    """Forward complex 2-D FFT over the full plane (FFT order), of real or complex input.

    Parameters
    ----------
    a : ndarray, float64 or complex128, shape (ny, nx)

    Returns
    -------
    ndarray, complex128, shape (ny, nx)
        ``numpy.fft.fft2(a)``.
    """
    a = np.ascontiguousarray(a, dtype=np.complex128)
    b = backend or BACKEND
    if b == "ducc0" and _dfft is not None:
        return _dfft.c2c(a, axes=(0, 1), forward=True, nthreads=_fft_threads(a))
    if b not in ("ducc0", "scipy"):
        raise ValueError(f"unknown FFT backend {backend!r}")
    return _scipy_fft().fft2(a, workers=num_threads())


def ifft2(f: np.ndarray, backend: str | None = None) -> np.ndarray:
    """Inverse of :func:`fft2` (normalised by 1/(ny nx)): ``numpy.fft.ifft2(f)``, complex128."""
    f = np.ascontiguousarray(f, dtype=np.complex128)
    b = backend or BACKEND
    if b == "ducc0" and _dfft is not None:
        return _dfft.c2c(f, axes=(0, 1), forward=False, inorm=2, nthreads=_fft_threads(f))
    if b not in ("ducc0", "scipy"):
        raise ValueError(f"unknown FFT backend {backend!r}")
    return _scipy_fft().ifft2(f, workers=num_threads())
