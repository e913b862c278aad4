"""``python -m tests.fuzz [--cases N | --profile quick|long] [--format F ...] [--seed S]``

Runs the fuzz cases per target (every readable registered format, and ``spec``),
prints one line per target (cases, outcomes, time per case, peak memory) and
exits 1 when any case failed; failing inputs go to ``--failures DIR``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from . import campaign

    ap = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__)
    ap.add_argument("--cases", type=int, default=None, help="cases per target")
    quick, long = campaign.PROFILES["quick"], campaign.PROFILES["long"]
    ap.add_argument("--profile", choices=sorted(campaign.PROFILES), default="quick",
                    help=f"quick: {quick} cases per target; long: {long}")
    ap.add_argument("--format", action="append", dest="formats", metavar="F",
                    help="a target (format name or 'spec'); repeatable; default: all")
    ap.add_argument("--seed", type=int, default=None,
                    help="random seed (default: the fixed cases of the profile)")
    ap.add_argument("--failures", type=Path, default=None, help="save failing inputs here")
    ap.add_argument("--json", type=Path, default=None, help="write the summary as JSON")
    args = ap.parse_args(argv)
    n = args.cases or campaign.PROFILES[args.profile]
    names = args.formats or campaign.targets()
    unknown = [t for t in names if t not in campaign.targets()]
    if unknown:
        ap.error(f"unknown target(s) {unknown}; known: {', '.join(campaign.targets())}")
    rows = []
    failures = []
    t0 = time.perf_counter()
    for name in names:
        outs, skipped = campaign.run(name, n, args.seed, args.failures)
        rows.append(campaign.summary(name, outs, skipped))
        failures += [o for o in outs if o.failure]
        print(campaign.table([rows[-1]]).splitlines()[-1], flush=True)
    total = time.perf_counter() - t0
    print()
    print(campaign.table(rows))
    print(f"\n{sum(r.get('cases', 0) for r in rows)} cases in {total:.0f} s, "
          f"{len(failures)} failures")
    for o in failures[:40]:
        print(f"  FAIL {o.target} {o.source} [{o.mutation}]: {o.failure}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "seconds": total,
                                         "failures": [vars(o) for o in failures]}, indent=1))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
