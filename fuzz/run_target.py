"""Child process of the runner: ``python -m fuzz.run_target TARGET [libFuzzer flags and corpus dirs]``.

The target and the project modules it reaches are imported under ``atheris.instrument_imports`` so
libFuzzer sees their branch coverage (third-party parsers are left uninstrumented: cheaper, and
their coverage is not what we are judged on). With ``VMW_FUZZ_KNOWN_REPORT`` set, findings listed
in :mod:`fuzz.known` are tolerated and counted into that JSON file (rewritten at most once a second).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time

import atheris


def main() -> None:
    name = sys.argv[1]
    logging.disable(logging.CRITICAL)  # warnings about each bad input would cost more than parsing it
    with atheris.instrument_imports(include=["vehicle_mw", "fuzz"]):
        from fuzz.harness import load_target
        from fuzz.known import known_hang, match

        target = load_target(name)
    expected = target.EXPECTED
    report = os.environ.get("VMW_FUZZ_KNOWN_REPORT")
    counts: dict[str, int] = {}
    flushed = [0.0]

    def count(reason: str) -> None:
        counts[reason] = counts.get(reason, 0) + 1
        now = time.monotonic()
        if counts[reason] == 1 or now - flushed[0] > 1.0:
            flushed[0] = now
            with open(report, "w") as f:  # type: ignore[arg-type]
                json.dump(counts, f)

    def test_one_input(data: bytes) -> None:
        hang = known_hang(name, data) if report else None
        if hang is not None:
            count(hang.reason)
            return
        try:
            target.one_input(data)
        except expected:
            pass
        except Exception as exc:
            known = match(name, exc) if report else None
            if known is None:
                raise
            count(known.reason)

    atheris.Setup([sys.argv[0], *sys.argv[2:]], test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
