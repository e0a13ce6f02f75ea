"""``python -m fuzz.replay TARGET FILE...``: run saved inputs through a target once, without libFuzzer.

Prints ``<file>: ok`` or ``<file>: expected: <Error>`` per input, or the full traceback of a
finding (exit status 1): how to reproduce what a fuzz run wrote under fuzz/findings/.
"""

from __future__ import annotations

import sys
import traceback

from fuzz.harness import judge, load_target


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    target = load_target(args[0])
    status = 0
    for path in args[1:]:
        with open(path, "rb") as f:
            data = f.read()
        try:
            print(f"{path}: {judge(target, data)}", flush=True)
        except Exception:  # noqa: BLE001 - a finding: show it whole
            print(f"{path}: FINDING", flush=True)
            traceback.print_exc()
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
