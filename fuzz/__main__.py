"""``python -m fuzz [TARGET...] --runs N --max-time S``: fuzz targets one after another, print a table.

Exit status 1 when any target found something (its input is under fuzz/findings/<target>/).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from rich.console import Console
from rich.table import Table

from fuzz.harness import TARGETS
from fuzz.runner import run_target


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__)
    p.add_argument("targets", nargs="*", help=f"default: all ({', '.join(TARGETS)})")
    p.add_argument("--runs", type=int, default=1_000_000, help="inputs per target (libFuzzer -runs)")
    p.add_argument("--max-time", type=float, default=3600, help="seconds per target at most")
    p.add_argument("--timeout", type=int, default=10, help="seconds one input may take before it is a hang")
    p.add_argument("--rss-limit-mb", type=int, default=2048)
    p.add_argument(
        "--strict", action="store_true", help="stop at known findings too (fuzz/known.py), not only new ones"
    )
    p.add_argument(
        "-v", "--verbose", action="store_true", help="print libFuzzer's log of targets with findings"
    )
    args = p.parse_args(argv)
    targets = args.targets or list(TARGETS)
    table = Table(title=f"fuzzing, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    for col in ("target", "inputs", "crashes", "hangs", "known (tolerated)", "seconds", "load avg (1 min)"):
        table.add_column(col, justify="left" if col == "target" else "right")
    console = Console(width=max(Console().width, 120))  # the table stays readable in logs and pipes
    failed = False
    for name in targets:
        res = run_target(
            name, args.runs, args.max_time, args.timeout, args.rss_limit_mb, tolerate_known=not args.strict
        )
        load = os.getloadavg()[0]
        table.add_row(
            name,
            f"{res.inputs:,}",
            str(len(res.crashes) + len(res.ooms)),
            str(len(res.hangs)),
            f"{sum(res.known.values()):,}",
            f"{res.seconds:.0f}",
            f"{load:.2f}",
        )
        console.print(
            f"{name}: {res.inputs:,} inputs in {res.seconds:.0f} s, findings: {res.findings or 'none'}"
        )
        if not res.clean:
            failed = True
            if args.verbose:
                console.print(res.log[-6000:], markup=False, highlight=False)
    console.print(table)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
