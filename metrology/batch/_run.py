"""Running parts: one task function, three executors (in-process, process pool, Dask).

The task (:func:`run_task`) depends only on the spec, the part's files and the
options: it hashes the files (skipping the part when its key is already in
the results log), checks the part (:func:`metrology.check.check_part`), draws
the HTML figures where the arrays are when asked, and returns the part's
result **without arrays** (:meth:`PartResult.slim`). A worker therefore holds
the maps of one part at a time, whatever the size of the batch.

Executors
---------
* in-process (``workers=1``, or a single part): the parts one after the other;
* a process pool (default: one worker per core): processes forked from a
  fork server that imported the analysis modules once (``spawn`` where there
  is no fork server), that keep their caches (Zernike geometry, aperture circles, PSD workspace,
  the Numba kernels loaded from the on-disk cache) from part to part; each
  runs ``max(1, cores // workers)`` Numba threads (``NUMBA_NUM_THREADS`` set
  before Numba loads in the server, and per task) and single-threaded BLAS, so
  that workers x threads never exceeds the cores. A worker that dies (a crash in a C library, the
  OOM killer, ``kill -9``) is replaced and its part retried once, then
  recorded as an error naming the part;
* Dask distributed (``client=``): the same task per part, submitted to the
  cluster; results stream back as they finish.
"""

from __future__ import annotations

import copyreg
import hashlib
import os
import socket
import time
import types
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import _worker
from .._signals import Interrupt, sigint_blocked
from ..check import FileIssue, PartResult
from ._discover import PartTask

if TYPE_CHECKING:  # the pool (and multiprocessing) is imported only when a pool runs
    from concurrent.futures import ProcessPoolExecutor

__all__ = ["RunOptions", "PartOutcome", "run_task", "iter_outcomes",
           "default_workers", "threads_per_worker"]


def default_workers() -> int:
    """The machine's cores (``os.process_cpu_count`` / the affinity mask)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """Numba threads per worker so that ``workers * threads <= cores`` (at least 1)."""
    cores = default_workers() if cores is None else cores
    return max(1, cores // max(1, workers))


def _mappingproxy(d: dict) -> Any:
    return types.MappingProxyType(d)


# a Spec holds read-only mappings (``types.MappingProxyType``), which pickle cannot
# send to a worker by itself; register how (process pools and Dask's cloudpickle both
# consult copyreg)
copyreg.pickle(types.MappingProxyType, lambda m: (_mappingproxy, (dict(m),)))


@dataclass(frozen=True)
class RunOptions:
    """Options of every part of a run.

    ``figures``: draw the HTML figures of ``"all"`` parts, of those that did not
    pass (``"non-pass"``) or of none; ``threads``: Numba threads of the task
    (``None``: leave as is); ``keep_arrays``: return the full result (in-process
    API only).
    """

    as_name: str | None = None
    only: tuple[str, ...] | None = None
    part_check: bool = False
    figures: str = "none"
    threads: int | None = None
    keep_arrays: bool = False

    def options_for(self, task: PartTask) -> dict[str, Any]:
        from ._records import options_key

        return options_key(as_name=self.as_name, only=self.only,
                           part_check=task.part_check)


@dataclass
class PartOutcome:
    """What a task returns: ``status`` ``"checked"``, ``"skipped"`` (its key is in the
    results log), ``"not-a-part"`` (a folder none of whose files is a measurement of
    the spec), ``"crashed"`` (the worker died twice)."""

    index: int
    status: str
    key: str
    part: PartResult | None = None
    ignored: list[FileIssue] = field(default_factory=list)
    worker: str = ""
    attempt: int = 1
    error: str = ""


def _sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            b = fh.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def _hashes(task: PartTask) -> tuple[dict[str, str], str]:
    """Every readable file's SHA-256 and the part's content hash (names relative to the
    part's folder, sorted; the ``--repeats`` and the ``--reference`` with their role,
    which changes what they are)."""
    files: dict[str, str] = {}
    base = task.base
    items = []
    roles = [*(("", f) for f in task.files), *(("repeat:", f) for f in task.repeats),
             *((("reference:", task.reference),) if task.reference else ())]
    for role, f in roles:
        try:
            h = _sha256_file(f)
        except OSError as exc:
            h = f"unreadable:{exc.errno}"
        else:
            files[f] = h
        rel = os.path.relpath(os.path.abspath(f), base) if base else os.path.abspath(f)
        items.append((role + rel.replace(os.sep, "/"), h))
    blob = "\n".join(f"{n}\t{h}" for n, h in sorted(items))
    return files, hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _set_threads(n: int | None) -> None:
    if n is None:
        return
    import numba

    from kernels._config import max_threads

    numba.set_num_threads(max(1, min(int(n), max_threads())))


def run_task(spec: Any, task: PartTask, options: RunOptions,
             done: frozenset[str] | set[str] | None = None, attempt: int = 1,
             between_files: Callable[[], None] | None = None) -> PartOutcome:
    """Check one part (any executor runs this).

    Returns its :class:`PartOutcome`; never raises for a problem of the part's
    files (they become ignored files, not-measurable measurements or input
    errors of the part), nor for an unexpected failure (an input error of the
    part naming its files). An interrupt (:class:`Interrupted` raised by
    ``between_files``) and spec errors (``only`` naming no measurement) pass.
    """
    from .._signals import Interrupted
    from ..errors import SpecError

    try:
        return _run_task(spec, task, options, done, attempt, between_files)
    except (Interrupted, SpecError, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - one line naming the part, exit code 2
        return _crashed(task, f"{type(exc).__name__}: {' '.join(str(exc).split())}", attempt,
                        died=False)


def _run_task(spec: Any, task: PartTask, options: RunOptions,
              done: frozenset[str] | set[str] | None, attempt: int,
              between_files: Callable[[], None] | None) -> PartOutcome:
    from ..check import check_part
    from ._records import part_key

    worker = f"{socket.gethostname()}:{os.getpid()}"
    _set_threads(options.threads)
    t0 = time.perf_counter()
    file_sha, content = _hashes(task)
    t_hash = time.perf_counter() - t0
    from .._version import __version__

    key = part_key(content, spec.sha256, __version__, options.options_for(task))
    if done and key in done:
        return PartOutcome(task.index, "skipped", key, worker=worker, attempt=attempt)
    t1 = time.perf_counter()
    part = check_part(spec, task.files, as_name=options.as_name,
                      part_check=task.part_check, name=task.name, only=options.only,
                      explicit=task.explicit, on_error="record", path=task.path,
                      between_files=between_files, repeats=task.repeats,
                      reference=task.reference)
    t_check = time.perf_counter() - t1
    part.ignored = [*task.ignored, *part.ignored]
    part.content_sha256 = content
    part.file_sha256 = file_sha
    if not part.files and not part.errors and not task.loose and not task.magic:
        # a folder none of whose files is a measurement of the spec: not a part
        return PartOutcome(task.index, "not-a-part", key, ignored=part.ignored,
                           worker=worker, attempt=attempt)
    t2 = time.perf_counter()
    if options.figures == "all" or (options.figures == "non-pass" and part.outcome != "pass"):
        from ..reports._html import render_part_figures

        try:
            part.figures = render_part_figures(part)
        except Exception as exc:  # noqa: BLE001 - a figure never costs a verdict
            part.figures = {}
            part.figures_note = f"figures could not be drawn ({type(exc).__name__}: {exc})"
    elif options.figures == "non-pass":
        part.figures_note = "figures are drawn for parts that did not pass (--figures all " \
                            "draws every part's)"
    elif options.figures == "none":
        part.figures_note = "figures not drawn (--figures none)"
    t_fig = time.perf_counter() - t2
    timings = part.timings_s
    timings.update({"hash": t_hash, "check": t_check, "figures": t_fig,
                    "total": time.perf_counter() - t0})
    if not options.keep_arrays:
        part = part.slim()
    return PartOutcome(task.index, "checked", key, part=part, worker=worker, attempt=attempt)


# ----------------------------------------------------------------------------- pool

def _crashed(task: PartTask, why: str, attempt: int, died: bool = True) -> PartOutcome:
    from ..check import PartResult

    where = task.path or ", ".join(task.files)
    text = (f"{where}: the worker checking this part died twice ({why}); the part was not "
            "checked" if died else
            f"{where}: unexpected error while checking the part ({why}); not checked")
    issue = FileIssue(where, text, "error")
    part = PartResult(name=task.name, part_check=task.part_check, files=[], criteria=[],
                      measurements_checked=[], measurements_missing=[], path=task.path,
                      errors=[issue])
    part.content_sha256 = None
    return PartOutcome(task.index, "crashed", "", part=part, attempt=attempt, error=why)


def _iter_pool(spec: Any, tasks: Sequence[PartTask], options: RunOptions,
               workers: int, done: frozenset[str], interrupt: Interrupt | None,
               task_fn: Callable[..., PartOutcome] | None = None) -> Iterator[PartOutcome]:
    import tempfile
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    threads = threads_per_worker(workers)
    opts = RunOptions(**{**options.__dict__, "threads": threads})
    ctx = _context(threads)
    attempts = {t.index: 1 for t in tasks}
    queue = list(reversed(tasks))
    max_in_flight = 2 * workers
    with tempfile.TemporaryDirectory(prefix="metrology-pool-") as state:
        def make() -> ProcessPoolExecutor:
            with sigint_blocked():
                return ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                           initializer=_worker.init,
                                           initargs=(threads, done, state, os.getpid()))

        ex = make()
        running: dict[Future, PartTask] = {}
        try:
            while queue or running:
                if interrupt is not None:
                    interrupt.check()
                while queue and len(running) < max_in_flight:
                    t = queue.pop()
                    with sigint_blocked():
                        fut = ex.submit(task_fn or _worker.task, spec, t, opts,
                                        attempts[t.index])
                    running[fut] = t
                finished, _ = wait(list(running), timeout=0.25, return_when=FIRST_COMPLETED)
                broken = False
                for fut in finished:
                    t = running.pop(fut)
                    try:
                        yield fut.result()
                    except BrokenProcessPool:
                        running[fut] = t
                        broken = True
                    except Exception as exc:  # noqa: BLE001 - e.g. unpicklable result
                        yield _crashed(t, f"{type(exc).__name__}: {exc}", attempts[t.index],
                                       died=False)
                if broken:
                    culprits = _dead_tasks(ex, state, running)
                    retry = list(running.values())
                    running.clear()
                    _kill(ex)
                    for t in retry:
                        why = culprits.get(t.index)
                        if why is None and culprits:
                            queue.append(t)       # an innocent bystander: not an attempt
                            continue
                        if attempts[t.index] >= 2:
                            yield _crashed(t, why or "worker process died", attempts[t.index])
                            continue
                        attempts[t.index] += 1
                        queue.append(t)
                    ex = make()
        except BaseException:
            _kill(ex)                   # interrupted, or the consumer stopped: end now
            raise
        ex.shutdown(wait=True)          # every part done: the workers exit cleanly


#: modules a worker needs, imported once by the fork server (workers fork from it)
_PRELOAD = ["metrology._worker", "kernels._config", "metrology.check", "metrology.io",
            "metrology.spec", "metrology.zernike", "metrology.spectral", "metrology.fill",
            "metrology.batch._run"]


def _context(threads: int) -> Any:
    """The start method of the workers: a fork server where there is one (its one
    interpreter imports NumPy, Numba and the analysis modules once, with the thread
    limits set; each worker is a fork of it, so a worker starts in milliseconds), else
    ``spawn`` (also with ``METROLOGY_START_METHOD=spawn``). The server never runs a
    kernel, so it has no thread pool to fork."""
    import multiprocessing as mp

    want = os.environ.get("METROLOGY_START_METHOD", "forkserver")
    if want == "spawn" or "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    from multiprocessing import forkserver

    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(_PRELOAD)
    limits = {"NUMBA_NUM_THREADS": str(threads), "OMP_NUM_THREADS": "1",
              "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    old = {k: os.environ.get(k) for k in limits}
    os.environ.update(limits)
    try:
        with sigint_blocked():
            forkserver.ensure_running()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return ctx


def _dead_tasks(ex: ProcessPoolExecutor, state: str, running: dict[Future, PartTask]
                ) -> dict[int, str]:
    """Tasks whose worker died abnormally (index -> how), from the pool's processes and
    the file each worker writes when it starts a task."""
    out: dict[int, str] = {}
    procs = getattr(ex, "_processes", None) or {}
    for pid, proc in list(procs.items()):
        try:
            proc.join(timeout=1.0)
        except Exception:  # noqa: BLE001
            pass
        code = proc.exitcode
        if code is None or code == 0 or code == -15:
            continue
        try:
            with open(os.path.join(state, str(pid))) as fh:
                idx = int(fh.read().strip())
        except (OSError, ValueError):
            continue
        import signal

        how = (f"killed by signal {signal.Signals(-code).name}" if code < 0
               else f"exit status {code}")
        out[idx] = how
    live = {t.index for t in running.values()}
    return {k: v for k, v in out.items() if k in live}


def _kill(ex: ProcessPoolExecutor) -> None:
    procs = list((getattr(ex, "_processes", None) or {}).values())
    try:
        ex.shutdown(wait=False, cancel_futures=True)
    except Exception:  # noqa: BLE001
        pass
    for p in procs:
        try:
            if p.is_alive():
                p.kill()
        except Exception:  # noqa: BLE001
            pass
    for p in procs:
        try:
            p.join(timeout=5)
        except Exception:  # noqa: BLE001
            pass


# ----------------------------------------------------------------------------- dask

def _dask_task(spec: Any, task: PartTask, options: RunOptions,
               done: frozenset[str]) -> PartOutcome:
    return run_task(spec, task, options, done, 1)


def _iter_dask(client: Any, spec: Any, tasks: Sequence[PartTask],
               options: RunOptions, done: frozenset[str], interrupt: Interrupt | None
               ) -> Iterator[PartOutcome]:
    from distributed import as_completed

    # Numba threads: the workers' own NUMBA_NUM_THREADS (local_cluster sets it to
    # cores // workers; docs/batch.md says how to set it on a cluster)
    opts = RunOptions(**{**options.__dict__, "threads": None})
    done_f = client.scatter(done, broadcast=True) if done else frozenset()
    futs = {}
    for t in tasks:
        f = client.submit(_dask_task, spec, t, opts, done_f, pure=False,
                          key=f"metrology-part-{t.index}-{os.getpid()}-{time.time_ns()}")
        futs[f] = t
    try:
        for f in as_completed(futs):
            if interrupt is not None:
                interrupt.check()
            t = futs.pop(f)
            try:
                out = f.result()
            except Exception as exc:  # noqa: BLE001 - KilledWorker, a lost worker...
                killed = type(exc).__name__ == "KilledWorker"
                out = _crashed(t, f"{type(exc).__name__}: {exc}", 2, died=killed)
            yield out
            f.release()
    finally:
        for f in futs:
            f.cancel()


# ----------------------------------------------------------------------------- entry

def iter_outcomes(spec: Any, tasks: Sequence[PartTask], options: RunOptions, *,
                  workers: int = 1, client: Any = None,
                  done: frozenset[str] = frozenset(),
                  interrupt: Interrupt | None = None) -> Iterator[PartOutcome]:
    """Run ``tasks``; yield each part's outcome as it finishes.

    ``workers == 1`` (or one task) runs in this process, ``client`` (a
    ``distributed.Client``) on Dask, otherwise a process pool of ``workers``.
    With ``interrupt``, an interrupt ends the iteration at the next safe point
    with :class:`Interrupted` (the pool's workers are ended).
    """
    if client is not None:
        yield from _iter_dask(client, spec, tasks, options, done, interrupt)
        return
    if workers <= 1 or len(tasks) <= 1:
        between = interrupt.check if interrupt is not None else None
        for t in tasks:
            if interrupt is not None:
                interrupt.check()
            yield run_task(spec, t, options, done, 1, between_files=between)
        return
    yield from _iter_pool(spec, tasks, options, workers, done, interrupt)
