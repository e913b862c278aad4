"""Progress of a batch on stderr: a bar on a terminal, a line now and then in CI logs.

* stderr is a terminal: a tqdm bar (files done / total, files/s, ETA);
* otherwise (CI logs): one line every ``every`` parts or every ``seconds``
  seconds, whichever comes first, and one at the end;
* ``quiet``: nothing.

The results (stdout) are written through :meth:`Progress.write` so that the
bar is redrawn under them instead of being torn.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

__all__ = ["Progress"]


def _fmt_eta(s: float) -> str:
    if s != s or s == float("inf"):
        return "?"
    s = int(round(s))
    h, r = divmod(s, 3600)
    m, sec = divmod(r, 60)
    return f"{h}h{m:02d}m{sec:02d}s" if h else f"{m}m{sec:02d}s" if m else f"{sec}s"


class Progress:
    """Progress over ``total_parts`` parts holding ``total_files`` files."""

    def __init__(self, total_parts: int, total_files: int, *, mode: str = "auto",
                 every: int = 10, seconds: float = 10.0, stream: TextIO | None = None,
                 out: TextIO | None = None) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.out = out
        if mode == "auto":
            try:
                mode = "bar" if self.stream.isatty() else "lines"
            except (AttributeError, ValueError):
                mode = "lines"
        self.mode = mode
        self.total_parts, self.total_files = total_parts, total_files
        self.parts = self.files = self.skipped = 0
        self.every, self.seconds = max(1, int(every)), float(seconds)
        self.t0 = self._last = time.monotonic()
        self._last_parts = 0
        self._bar: Any = None
        if mode == "bar":
            try:
                from tqdm import tqdm
            except ImportError:  # pragma: no cover - a dependency
                self.mode = "lines"
            else:
                self._bar = tqdm(total=total_files, unit="file", file=self.stream,
                                 dynamic_ncols=True, smoothing=0.1, leave=False,
                                 desc=f"{total_parts} parts")

    def write(self, text: str) -> None:
        """Print ``text`` on stdout without tearing the bar."""
        out = sys.stdout if self.out is None else self.out
        if self._bar is not None:
            self._bar.write(text, file=out)
            out.flush()
        else:
            print(text, file=out, flush=True)

    def update(self, files: int, skipped: bool = False) -> None:
        """One part done, holding ``files`` files."""
        self.parts += 1
        self.files += files
        self.skipped += int(skipped)
        if self.mode == "bar" and self._bar is not None:
            self._bar.update(files)
        elif self.mode == "lines":
            now = time.monotonic()
            if (self.parts - self._last_parts >= self.every or now - self._last >= self.seconds
                    or self.parts == self.total_parts):
                self._line(now)

    def _line(self, now: float) -> None:
        dt = max(now - self.t0, 1e-9)
        rate = self.files / dt
        left = self.total_files - self.files
        eta = left / rate if rate > 0 else float("inf")
        pct = 100.0 * self.files / self.total_files if self.total_files else 100.0
        skip = f", {self.skipped} resumed" if self.skipped else ""
        print(f"progress: {self.parts}/{self.total_parts} parts, {self.files}/"
              f"{self.total_files} files ({pct:.0f} %){skip}, {rate:.2f} files/s, "
              f"ETA {_fmt_eta(eta)}", file=self.stream, flush=True)
        self._last, self._last_parts = now, self.parts

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
