"""Findings that are known and being fixed elsewhere (issue #12), so fuzzing can go on past them.

Each entry names the target, the exception type and the function that raises it; only an exception
matching all three is tolerated (``python -m fuzz --tolerate-known``, what ``make fuzz`` and the
test suite use), and it is counted and shown in the runner's table, never hidden. Every entry has an
``xfail(strict=True)`` regression test in tests/fuzz/test_regressions.py: once the owner fixes the
bug that test fails, and the entry here and the marker there are removed together.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass


@dataclass(frozen=True)
class KnownFinding:
    target: str
    exception: str  # type name
    where: str  # "path/suffix.py:function" of the frame that raises it (or that the error passes through)
    reason: str  # issue #12 item and what is wrong


KNOWN: tuple[KnownFinding, ...] = (
    KnownFinding(
        "manifests",
        "UnicodeDecodeError",
        "vehicle_mw/manifest/loading.py:load_manifest",
        "issue #12: a non-UTF-8 manifest raises UnicodeDecodeError instead of ManifestError",
    ),
    KnownFinding(
        "manifests",
        "RecursionError",
        "vehicle_mw/manifest/loading.py:load_manifest",
        "issue #12: deeply nested YAML raises RecursionError (PyYAML composer) instead of ManifestError",
    ),
    KnownFinding(
        "manifests",
        "ValueError",
        "vehicle_mw/manifest/loading.py:load_manifest",
        "issue #12: a YAML integer of more than 4300 digits raises ValueError (int max str digits) "
        "instead of ManifestError",
    ),
)


def match(target: str, exc: BaseException) -> KnownFinding | None:
    """The known finding ``exc`` is an instance of, if any."""
    frames = [(f.filename, f.name) for f in traceback.extract_tb(exc.__traceback__)]
    for k in KNOWN:
        if k.target != target or type(exc).__name__ != k.exception:
            continue
        path, func = k.where.rsplit(":", 1)
        if any(name == func and filename.endswith(path) for filename, name in frames):
            return k
    return None


__all__ = ["KNOWN", "KnownFinding", "match"]
