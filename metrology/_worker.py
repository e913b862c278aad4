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


def init(threads: int, done: frozenset[str], state_dir: str, run_pid: int = 0) -> None:
    """Process-pool initializer: thread limits, SIGINT ignored, and the worker ends when
    the run's process (``run_pid``) does."""
    import signal

    global _DONE, _STATE
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    os.environ["NUMBA_NUM_THREADS"] = str(max(1, int(threads)))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    _die_with(run_pid or os.getppid())
    _DONE = frozenset(done)
    _STATE = state_dir


def _die_with(pid: int) -> None:
    """End this worker when process ``pid`` (the run) ends, even by ``kill -9``.

    A worker's queues never see end-of-file while other workers hold their other
    ends, and a worker forked from a fork server is not a child of the run (a
    parent-death signal would watch the server): a daemon thread waits on a
    process descriptor of the run (Linux), else polls it every second.
    """
    import threading

    def watch() -> None:
        try:
            import select

            fd = os.pidfd_open(pid)  # type: ignore[attr-defined]
        except (AttributeError, OSError):
            fd = -1
        if fd >= 0:
            select.select([fd], [], [])
        else:
            import time

            while True:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                except OSError:
                    pass
                time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="metrology-run-watch", daemon=True).start()


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
