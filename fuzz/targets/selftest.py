"""A target with planted bugs, so tests can prove the runner reports crashes and hangs (not fuzzed
by ``make fuzz``): input ``BUG!`` raises an unexpected error, ``HANG`` never returns."""

from __future__ import annotations

import time

EXPECTED = (ValueError,)


def one_input(data: bytes) -> None:
    if data[:4] == b"BUG!":
        raise RuntimeError("planted bug")
    if data[:4] == b"HANG":
        while True:
            time.sleep(0.05)
    if not data:
        raise ValueError("empty")
