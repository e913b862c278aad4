"""Run fuzz cases per target (a registered format, or ``spec``) and summarise them."""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from . import corpus, mutators, oracle, specs

PROFILES = {"quick": 300, "long": 5000}


def targets() -> list[str]:
    """Every readable registered format, and the spec parser."""
    return [*corpus.readable_formats(), "spec"]


def _settings(n: int, seed: int | None) -> Any:
    return settings(max_examples=n, database=None, deadline=None,
                    phases=[Phase.explicit, Phase.generate], derandomize=seed is None,
                    suppress_health_check=list(HealthCheck))


def run_format(name: str, n: int, seed: int | None = None,
               failures_dir: Path | None = None) -> tuple[list[oracle.Outcome], str]:
    """``n`` mutated files of format ``name``; returns the outcomes and, when the format has
    no source, why it was skipped."""
    sources = corpus.sources(name)
    if not sources:
        return [], corpus.why_no_sources(name)
    out: list[oracle.Outcome] = []
    meter = oracle.PeakMeter()
    with tempfile.TemporaryDirectory(prefix=f"metrology-fuzz-{name}-") as tmp:
        work = Path(tmp)
        # each source read once, untimed: the reader's first call compiles (or loads) the
        # Numba kernels it uses (seconds on a cold cache), which is not what the time limit
        # is for (a reader that loops or stalls on a hostile file)
        for src in sources:
            oracle.run_file_case(name, src.label, "warm-up", src.data, src.ext,
                                 src.load_kwargs, False, work, meter)

        @_settings(n, seed)
        @given(data=st.data())
        def case(data: st.DataObject) -> None:
            src = data.draw(st.sampled_from(sources), label="source")
            label, fn = data.draw(mutators.for_source(src), label="mutation")
            try:
                mutated, must = fn(src.data, work)
            except Exception:  # noqa: BLE001 - a mutation that does not apply to this file
                mutated, must, label = src.data, False, f"{label} (not applicable: original)"
            o = oracle.run_file_case(name, src.label, label, mutated, src.ext,
                                     src.load_kwargs, must, work, meter)
            out.append(o)
            if o.failure and failures_dir is not None:
                oracle.save_failure(o, mutated, src.ext, failures_dir)

        if seed is not None:
            case = hypothesis_seed(seed)(case)
        case()
    return out, ""


def run_specs(n: int, seed: int | None = None) -> list[oracle.Outcome]:
    out: list[oracle.Outcome] = []

    @_settings(n, seed)
    @given(c=specs.spec_case())
    def case(c: tuple[str, str, str, bool]) -> None:
        out.append(specs.run_spec_case(*c))

    if seed is not None:
        case = hypothesis_seed(seed)(case)
    case()
    return out


def run(name: str, n: int, seed: int | None = None,
        failures_dir: Path | None = None) -> tuple[list[oracle.Outcome], str]:
    if name == "spec":
        return run_specs(n, seed), ""
    return run_format(name, n, seed, failures_dir)


def summary(name: str, outs: list[oracle.Outcome], skipped: str = "") -> dict[str, Any]:
    if skipped:
        return {"target": name, "skipped": skipped}
    secs = [o.seconds for o in outs] or [0.0]
    peaks = [o.peak_bytes for o in outs] or [0]
    ratio = max((o.peak_bytes / o.bound_bytes for o in outs if o.bound_bytes), default=0.0)
    return {
        "target": name,
        "cases": len(outs),
        "refused": sum(o.result == "error" for o in outs),
        "valid": sum(o.result in ("map", "spec") for o in outs),
        "failures": sum(o.failure is not None for o in outs),
        "sources": len({o.source for o in outs}),
        "ms_mean": 1e3 * statistics.fmean(secs),
        "ms_median": 1e3 * statistics.median(secs),
        "ms_max": 1e3 * max(secs),
        "peak_mb_max": max(peaks) / 2**20,
        "peak_of_bound": ratio,
    }


def table(rows: list[dict[str, Any]]) -> str:
    head = (f"{'target':14s} {'cases':>6s} {'refused':>8s} {'valid':>6s} {'fail':>5s} "
            f"{'ms/case':>8s} {'median':>7s} {'max ms':>7s} {'peak MB':>8s} {'of bound':>8s}")
    lines = [head]
    for r in rows:
        if "skipped" in r:
            lines.append(f"{r['target']:14s} skipped: {r['skipped']}")
            continue
        lines.append(f"{r['target']:14s} {r['cases']:6d} {r['refused']:8d} {r['valid']:6d} "
                     f"{r['failures']:5d} {r['ms_mean']:8.1f} {r['ms_median']:7.1f} "
                     f"{r['ms_max']:7.0f} {r['peak_mb_max']:8.1f} {r['peak_of_bound']:8.2f}")
    return "\n".join(lines)
