"""Production scale: a day's lenses in one command (``docs/batch.md``).

* :func:`discover` finds the parts under files, folders (recursively: every
  folder that holds measurement files is a part) and globs;
* :func:`check_many` checks them on all cores (a process pool), or on a Dask
  cluster (``client=``), and yields each part's result as it finishes,
  without arrays: memory is bounded by the workers, not by the batch;
* :class:`Batch` is the same with the outputs of ``metrology check``: the
  append-only JSON Lines results log (resumable, :class:`ResultsLog`) and the
  parts in their order for the reports and the CSV table.

Importing this package loads no NumPy or Numba: worker processes set their
thread limits before they do.
"""

from __future__ import annotations

import datetime as _dt
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .._signals import EXIT_INTERRUPTED, Interrupt, Interrupted
from ..check import CheckReport, FileIssue, PartResult, decision_dict
from ._discover import (
    Discovery,
    PartTask,
    candidate_files,
    discover,
    is_own_output,
    probe,
)
from ._records import (
    RECORD_SCHEMA,
    ResultsLog,
    comparable,
    csv_text,
    part_from_records,
    part_records,
)
from ._run import PartOutcome, RunOptions, default_workers, iter_outcomes, threads_per_worker

__all__ = ["check_many", "Batch", "discover", "candidate_files", "probe", "is_own_output",
           "Discovery", "PartTask", "ResultsLog", "RECORD_SCHEMA", "part_records",
           "part_from_records", "comparable", "csv_text", "Interrupt", "Interrupted",
           "EXIT_INTERRUPTED", "default_workers", "threads_per_worker", "local_cluster",
           "FIGURE_POLICIES"]

#: a batch whose files hold fewer bytes than this runs in this process unless a number of
#: workers is given: two workers start in 1.5-3 s (interpreter, imports, kernels loaded
#: from the cache), about what 32 MB of measurement files take to check on one core
SMALL_BATCH_BYTES = 32 * 2**20

#: which parts get HTML figures (``--figures``)
FIGURE_POLICIES = ("auto", "all", "non-pass", "none")


class _FigureSpool(Mapping[str, str]):
    """A part's figure HTML kept in a temporary file, read back when the report is
    written (the parent of a batch holds no figures in memory)."""

    def __init__(self, fh: Any, index: dict[str, tuple[int, int]]) -> None:
        self._fh = fh
        self._index = index

    def __getitem__(self, key: str) -> str:
        off, n = self._index[key]
        self._fh.seek(off)
        return self._fh.read(n).decode("utf-8")

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)


class Batch:
    """A batch check: the parts under ``roots``, their results, the results log.

    Parameters
    ----------
    spec : Spec
    roots : sequence of path or glob
        Part folders, folders of part folders (searched recursively), files.
    workers : int, optional
        Processes (default: the machine's cores, or this process alone for a batch
        whose files hold less than :data:`SMALL_BATCH_BYTES`; 1 = in this process).
    client : distributed.Client, optional
        Run the parts on this Dask cluster instead.
    per_file : bool
        Every file is a part of its own.
    as_name, only, part_check
        As for :func:`metrology.check.check_part` (``part_check``: the files
        named on their own are a whole part).
    figures : {"none", "non-pass", "all", "auto"}
        Draw the HTML figures of these parts where their arrays are (``auto``:
        all for a check of one part, else those that did not pass).
    results : path, optional
        The JSON Lines results log (appended to; see :class:`ResultsLog`).
    resume : bool
        Skip the parts that already have a record in ``results``; their
        results come from the log.
    exclude : sequence of path
        Files never taken as measurements (this run's outputs).
    repeats : sequence of path
        ``--repeats``: N >= 2 repeats of one measurement, one more site of the part
        of the files named on their own (with ``per_file``: a part of their own).
    reference : path, optional
        ``--reference``: subtracted from the files of its measurement in the part(s)
        of the files named on their own and the repeats.
    """

    def __init__(self, spec: Any, roots: Sequence[str | os.PathLike[str]], *,
                 workers: int | None = None, client: Any = None, per_file: bool = False,
                 as_name: str | None = None, only: Sequence[str] | None = None,
                 part_check: bool = False, figures: str = "none",
                 results: str | os.PathLike[str] | None = None, resume: bool = False,
                 exclude: Sequence[str | os.PathLike[str]] = (),
                 repeats: Sequence[str | os.PathLike[str]] = (),
                 reference: str | os.PathLike[str] | None = None) -> None:
        from ..errors import MetrologyError

        if resume and results is None:
            raise MetrologyError("--resume needs --results PATH.jsonl (the log to resume)")
        if figures not in FIGURE_POLICIES:
            raise MetrologyError(f"figures={figures!r}: use one of {', '.join(FIGURE_POLICIES)}")
        self.spec = spec
        self.discovery = discover(roots, spec, per_file=per_file, part_check=part_check,
                                  as_name=as_name, exclude=exclude, repeats=repeats,
                                  reference=reference)
        self.workers = default_workers() if workers is None else max(1, int(workers))
        if workers is None and client is None and self._input_bytes() < SMALL_BATCH_BYTES:
            self.workers = 1   # starting workers would cost more than they save
        self.client = client
        if figures == "auto":   # every part's figures for one part, else the non-passing
            figures = "all" if len(self.discovery.tasks) == 1 else "non-pass"
        self.options = RunOptions(as_name=as_name,
                                  only=None if only is None else tuple(dict.fromkeys(only)),
                                  figures=figures)
        if self.options.only is not None:
            unknown = [m for m in self.options.only
                       if m not in spec.measurements and m != "composite"]
            if unknown:
                from ..errors import SpecError

                raise SpecError(f"--only {', '.join(unknown)}: the spec declares no such "
                                f"measurement; declared: {', '.join(spec.measurements)}")
        self.log = None if results is None else ResultsLog(results)
        self.resume = resume
        self.run_id = (_dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ")
                       + f"-{os.getpid()}")
        self.parts: dict[int, PartResult] = {}
        self.ignored: list[FileIssue] = list(self.discovery.ignored)
        self.skipped = 0
        #: files of the part :meth:`run` yielded last (for progress counts)
        self.last_files = 0
        self.created = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        self._spool: Any = None

    def _input_bytes(self) -> int:
        total = 0
        for t in self.discovery.tasks:
            for f in t.inputs:
                try:
                    total += os.path.getsize(f)
                except OSError:
                    pass
        return total

    @property
    def tasks(self) -> list[PartTask]:
        return self.discovery.tasks

    @property
    def n_files(self) -> int:
        return self.discovery.n_files

    def _records(self, out: PartOutcome) -> list[dict[str, Any]]:
        from .._version import __version__

        part = out.part
        assert part is not None
        return part_records(part, key=out.key, spec_sha256=self.spec.sha256,
                            spec_source=self.spec.source, tool_version=__version__,
                            options=self.options.options_for(self.tasks[out.index]),
                            run=self.run_id, worker=out.worker, attempt=out.attempt,
                            finished=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                            decision=decision_dict(self.spec))

    def _identify(self, out: PartOutcome) -> None:
        """Key and hashes of a part whose worker could not say them (it died)."""
        from .._version import __version__
        from ._records import part_key
        from ._run import _hashes

        task = self.tasks[out.index]
        file_sha, content = _hashes(task)
        out.key = part_key(content, self.spec.sha256, __version__,
                           self.options.options_for(task))
        assert out.part is not None
        out.part.content_sha256, out.part.file_sha256 = content, file_sha

    def _keep_figures(self, part: PartResult) -> None:
        if not part.figures:
            return
        if self._spool is None:
            self._spool = tempfile.TemporaryFile(prefix="metrology-figures-")
        index = {}
        for path, text in part.figures.items():
            data = text.encode("utf-8")
            self._spool.seek(0, os.SEEK_END)
            index[path] = (self._spool.tell(), len(data))
            self._spool.write(data)
        part.figures = _FigureSpool(self._spool, index)

    def run(self, interrupt: Interrupt | None = None) -> Iterator[PartResult]:
        """Check every part; yield each result as it finishes (resumed parts first).

        Each part's records go to the results log as soon as it is done. An
        interrupt ends the iteration with :class:`Interrupted` at the next safe
        point; what was written stays, whole.
        """
        done = frozenset()
        if self.log is not None and self.resume:
            done = self.log.done()
        for out in iter_outcomes(self.spec, self.tasks, self.options, workers=self.workers,
                                 client=self.client, done=done, interrupt=interrupt):
            if out.status == "not-a-part":
                self.ignored += out.ignored
                continue
            if out.status == "skipped":
                assert self.log is not None
                part = part_from_records(self.log.read_part(out.key))
                self.skipped += 1
            else:
                part = out.part
                assert part is not None
                if not out.key:              # the worker died: hash here, record it too
                    self._identify(out)
                if self.log is not None:
                    self.log.write_part(self._records(out))
                self._keep_figures(part)
            self.parts[out.index] = part
            t = self.tasks[out.index]
            self.last_files = len(t.files) + len(t.repeats)
            yield part

    def report(self) -> CheckReport:
        """The parts checked so far, in the order they were found."""
        parts = [self.parts[i] for i in sorted(self.parts)]
        return CheckReport(spec=self.spec, parts=parts, created=self.created,
                           ignored=list(self.ignored))

    def close(self) -> None:
        if self.log is not None:
            self.log.close()
        if self._spool is not None:
            self._spool.close()
            self._spool = None

    def __enter__(self) -> Batch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_many(spec: Any, roots: Sequence[str | os.PathLike[str]], *,
               workers: int | None = None, client: Any = None, per_file: bool = False,
               as_name: str | None = None, only: Sequence[str] | None = None,
               part_check: bool = False, results: str | os.PathLike[str] | None = None,
               resume: bool = False, repeats: Sequence[str | os.PathLike[str]] = (),
               reference: str | os.PathLike[str] | None = None) -> Iterator[PartResult]:
    """Check every part under ``roots`` on all cores; yield each result as it finishes.

    Parameters
    ----------
    spec : Spec or path
        The spec (a path is read with :func:`metrology.load_spec`).
    roots : sequence of path or glob
        Part folders, folders of part folders (recursively: every folder that
        holds measurement files is a part), files named on their own (one part
        together, or one each with ``per_file``), globs.
    workers : int, optional
        Worker processes (default: the machine's cores, or this process for a batch
        of less than 32 MB of files; 1: in this process).
    client : distributed.Client, optional
        Run the same per-part tasks on this Dask cluster (``pip install
        'optical-metrology[dask]'``); the files must be readable at the same paths on
        its workers.
    per_file, as_name, only, part_check
        See :class:`Batch`.
    results, resume
        Append every part's records to this JSON Lines log as it finishes;
        ``resume`` skips parts already recorded there (their results are
        rebuilt from the log, ``PartResult.source == "resumed"``).
    repeats, reference
        ``--repeats`` and ``--reference`` (see :class:`Batch`); a folder's own
        repeats (``repeats = true``) and reference files are found by the spec's
        rules in every part.

    Yields
    ------
    PartResult
        Without arrays (:meth:`PartResult.slim`): verdicts, values, their U
        (k = 2) and uncertainty models, limits, margins, evidence, the files'
        SHA-256 (``file_sha256``), the part's content hash and timings (s).
        Order: as they finish.
    """
    if isinstance(spec, str | os.PathLike):
        from ..spec import load_spec

        spec = load_spec(spec)
    with Batch(spec, roots, workers=workers, client=client, per_file=per_file,
               as_name=as_name, only=only, part_check=part_check, results=results,
               resume=resume, repeats=repeats, reference=reference) as b:
        yield from b.run()


def local_cluster(workers: int | None = None) -> Any:
    """A Dask ``LocalCluster`` on 127.0.0.1 with ``workers`` single-threaded worker
    processes (no dashboard), each running ``cores // workers`` Numba threads."""
    try:
        from distributed import LocalCluster
    except ImportError as exc:
        from ..errors import MetrologyError

        raise MetrologyError("Dask is not installed: "
                             "pip install 'optical-metrology[dask]'") from exc
    from .._signals import sigint_blocked

    n = default_workers() if workers is None else max(1, int(workers))
    t = threads_per_worker(n)
    env = {"NUMBA_NUM_THREADS": str(t), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    with sigint_blocked():
        return LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                            host="127.0.0.1", dashboard_address=None, env=env)
