"""Run the benchmarks one by one in their own processes, then assemble BENCHMARKS.md sections.

    python -m bench                 # all
    python -m bench rings decode    # only bench_rings.py and bench_decode.py
    python -m bench --quick         # shorter runs (smoke check, numbers not for the record)
"""

from __future__ import annotations

import argparse
import pathlib
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent


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
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
