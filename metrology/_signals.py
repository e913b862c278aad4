"""Interrupts (Ctrl-C, SIGTERM) during a check: deferred to safe points, exit 130.

Why deferred
------------
Python raises ``KeyboardInterrupt`` wherever the main thread happens to be:
inside the threadpoolctl context of a fit, between a Numba parallel region and
the restore of its thread count, in an h5py callback, or while the
interpreter tears down with Numba's worker threads still running. The fuzz
campaign of issue 18 saw tracebacks, interrupts swallowed into exit 0 by a
broad ``except``, and segfaults inside kernels. So during a check the signal
only sets a flag (:class:`Interrupt`); the check looks at the flag between
files and between parts (:meth:`Interrupt.check`) and ends there with
:class:`Interrupted`: no traceback, no report half written (reports are only
written after the last part), the results log holding whole parts only.
A second Ctrl-C ends the process at once (``os._exit(130)``): still no
traceback, and every output file is either complete or absent (they are
written atomically, the log one part per write).

Worker processes never see the terminal's SIGINT: it is blocked while they
are started (:func:`sigint_blocked`, the mask is inherited) and ignored in
them; the parent ends them when it stops.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator

__all__ = ["Interrupt", "Interrupted", "sigint_blocked", "EXIT_INTERRUPTED"]

#: exit code after an interrupt (128 + SIGINT, as shells report it)
EXIT_INTERRUPTED = 130


class Interrupted(Exception):
    """Raised at a safe point after SIGINT or SIGTERM (exit code 130)."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum


class Interrupt:
    """Context manager: SIGINT/SIGTERM set a flag instead of raising.

    Only the main thread can install handlers; elsewhere this does nothing
    (and :meth:`check` never raises). ``notice`` is printed on the first signal.
    """

    def __init__(self, notice: str = "metrology: interrupt received: stopping at the next "
                 "safe point (Ctrl-C again to stop at once)") -> None:
        self.notice = notice
        self.signum: int | None = None
        self._old: dict[int, object] = {}
        self._active = False

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def _handler(self, signum: int, frame: object) -> None:
        if self.signum is not None:       # the second signal: stop now, no clean-up
            try:
                os.write(2, b"metrology: interrupted\n")
            finally:
                os._exit(EXIT_INTERRUPTED)
        self.signum = signum
        try:
            os.write(2, (self.notice + "\n").encode())
        except OSError:
            pass

    def check(self) -> None:
        """Raise :class:`Interrupted` if a signal came."""
        if self.signum is not None:
            raise Interrupted(self.signum)

    def __enter__(self) -> Interrupt:
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                try:
                    self._old[s] = signal.signal(s, self._handler)
                except (ValueError, OSError):  # pragma: no cover - not the main thread
                    pass
            self._active = True
        return self

    def __exit__(self, *exc: object) -> None:
        for s, h in self._old.items():
            try:
                signal.signal(s, h)  # type: ignore[arg-type]
            except (ValueError, OSError, TypeError):  # pragma: no cover
                pass
        self._old.clear()
        self._active = False


@contextlib.contextmanager
def sigint_blocked() -> Iterator[None]:
    """Block SIGINT in this thread while child processes are started (they inherit the
    mask, so the terminal's Ctrl-C never reaches them); a SIGINT that arrives meanwhile
    is delivered when the block ends."""
    if not hasattr(signal, "pthread_sigmask") or sys.platform == "win32":
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
