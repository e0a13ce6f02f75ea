"""Run the benchmarks one by one in their own processes, then assemble BENCHMARKS.md.

    python -m bench                 # all, then rewrite BENCHMARKS.md
    python -m bench rings decode    # only bench_rings.py and bench_decode.py
    python -m bench --quick         # shorter runs (smoke check; BENCHMARKS.md is left alone)

Each ``bench_<name>.py`` writes its Markdown section to ``bench/results/<name>.md``;
BENCHMARKS.md is those sections under a header naming the machine and the command.
"""

from __future__ import annotations

import argparse
import datetime
import pathlib
import subprocess
import sys
import time

from bench.common import RESULTS_DIR, machine_description

HERE = pathlib.Path(__file__).resolve().parent
BENCHMARKS_MD = HERE.parent / "BENCHMARKS.md"


def assemble() -> None:
    """Rewrite BENCHMARKS.md from the sections in bench/results/."""
    sections = sorted(RESULTS_DIR.glob("*.md"))
    header = [
        "# Benchmarks",
        "",
        "Every number here was measured by `make bench` (= `python -m bench`), each benchmark in its own",
        "process, with the peer it is compared to measured in the same run on the same machine.",
        "Each section names its own command, e.g. `python -m bench rings` reruns one.",
        "",
        f"- Machine: {machine_description()}",
        f"- Assembled: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        "",
    ]
    body = [s.read_text().rstrip() + "\n" for s in sections]
    BENCHMARKS_MD.write_text("\n".join(header) + "\n" + "\n".join(body))
    print(f"wrote {BENCHMARKS_MD} from {len(sections)} section(s)")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("names", nargs="*", help="benchmark names (bench_<name>.py); default all")
    parser.add_argument("--quick", action="store_true", help="short runs, for a smoke check")
    args = parser.parse_args()
    available = sorted(p.stem[len("bench_") :] for p in HERE.glob("bench_*.py"))
    names = args.names or available
    unknown = sorted(set(names) - set(available))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; available: {available}")
    failed = []
    for name in names:
        print(f"\n=== bench {name} ===", flush=True)
        t0 = time.monotonic()
        cmd = [sys.executable, "-m", f"bench.bench_{name}"] + (["--quick"] if args.quick else [])
        rc = subprocess.call(cmd, cwd=HERE.parent)
        print(f"=== bench {name}: {'ok' if rc == 0 else f'FAILED rc={rc}'} in {time.monotonic() - t0:.0f} s")
        if rc:
            failed.append(name)
    if not args.quick:
        assemble()
    if failed:
        print(f"failed: {failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
