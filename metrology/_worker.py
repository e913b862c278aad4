"""Entry points of batch worker processes (:mod:`metrology.batch`).

This module imports nothing but the standard library, so that a freshly
spawned worker sets its thread limits (Numba, OpenMP, BLAS) before NumPy or
Numba is loaded: ``workers x threads`` never exceeds the machine's cores.
"""

from __future__ import annotations

import os
from typing import Any

_DONE: frozenset[str] = frozenset()
_STATE = ""


def init(threads: int, done: frozenset[str], state_dir: str) -> None:
    """Process-pool initializer: thread limits, SIGINT ignored, parent-death signal."""
    import signal

    global _DONE, _STATE
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    os.environ["NUMBA_NUM_THREADS"] = str(max(1, int(threads)))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    _parent_death_signal()
    _DONE = frozenset(done)
    _STATE = state_dir


def _parent_death_signal() -> None:
    """Linux: the worker gets SIGTERM when the parent dies (``kill -9`` of the run)."""
    try:
        import ctypes
        import signal
        import sys

        if not sys.platform.startswith("linux"):
            return
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent is already gone
            os._exit(1)
    except Exception:  # noqa: BLE001 - elsewhere workers end when their queue closes
        pass


def mark_started(part_task: Any) -> None:
    """Note which part this worker runs (the parent reads it when a worker dies)."""
    if _STATE:
        try:
            with open(os.path.join(_STATE, str(os.getpid())), "w") as fh:
                fh.write(str(part_task.index))
        except OSError:
            pass


def task(spec: Any, part_task: Any, options: Any, attempt: int) -> Any:
    """Run one part in a pool worker (:func:`metrology.batch._run.run_task`)."""
    mark_started(part_task)
    from .batch._run import run_task

    return run_task(spec, part_task, options, _DONE, attempt)
