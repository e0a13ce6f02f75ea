"""Findings that are known and being fixed elsewhere (issue #12), so fuzzing can go on past them.

Each entry names the target, the exception type and the function that raises it; only an exception
matching all three is tolerated (``python -m fuzz --tolerate-known``, what ``make fuzz`` and the
test suite use), and it is counted and shown in the runner's table, never hidden. Every entry has an
``xfail(strict=True)`` regression test in tests/fuzz/test_regressions.py: once the owner fixes the
bug that test fails, and the entry here and the marker there are removed together.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class KnownFinding:
    target: str
    exception: str  # type name
    where: str  # "path/suffix.py:function" of the frame that raises it (or that the error passes through)
    reason: str  # issue #12 item and what is wrong


KNOWN: tuple[KnownFinding, ...] = ()
# The manifest loader's non-UTF-8 / deep nesting / 4300+ digit findings were listed here until the
# manifest owner fixed them (commit 240c0f4); their regressions now pass in test_fuzz_regressions.py.


@dataclass(frozen=True)
class KnownHang:
    """An input class known to hang a target (a hang raises nothing to match): skipped and counted."""

    target: str
    applies: Callable[[bytes], bool]
    reason: str


KNOWN_HANGS: tuple[KnownHang, ...] = ()  # none open; a recursive YAML alias was one (fixed)


def known_hang(target: str, data: bytes) -> KnownHang | None:
    """The known hang ``data`` would run into, if any."""
    return next((h for h in KNOWN_HANGS if h.target == target and h.applies(data)), None)


def match(target: str, exc: BaseException, known: tuple[KnownFinding, ...] = KNOWN) -> KnownFinding | None:
    """The known finding ``exc`` is an instance of, if any."""
    frames = [(f.filename, f.name) for f in traceback.extract_tb(exc.__traceback__)]
    for k in known:
        if k.target != target or type(exc).__name__ != k.exception:
            continue
        path, func = k.where.rsplit(":", 1)
        if any(name == func and filename.endswith(path) for filename, name in frames):
            return k
    return None


__all__ = ["KNOWN", "KNOWN_HANGS", "KnownFinding", "KnownHang", "known_hang", "match"]
