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


def _yaml_alias_cycle(data: bytes) -> bool:
    """Whether the manifest input (first byte: model) holds an alias inside its own anchor (``&a [*a]``)."""
    import yaml

    try:
        root = yaml.compose(data[1:].decode("utf-8"), Loader=yaml.SafeLoader)
    except Exception:  # noqa: BLE001 - not YAML: the loader refuses it without hanging
        return False
    on_path: set[int] = set()
    done: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)] if root is not None else []
    while stack:
        node, leaving = stack.pop()
        if leaving:
            on_path.discard(id(node))
            done.add(id(node))
            continue
        if id(node) in on_path:
            return True
        if id(node) in done or not isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            continue
        on_path.add(id(node))
        stack.append((node, True))
        kids = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else node.value
        stack.extend((k, False) for k in kids)
    return False


@dataclass(frozen=True)
class KnownHang:
    """An input class known to hang a target (a hang raises nothing to match): skipped and counted."""

    target: str
    applies: Callable[[bytes], bool]
    reason: str


KNOWN_HANGS: tuple[KnownHang, ...] = (
    KnownHang(
        "manifests",
        _yaml_alias_cycle,
        "issue #12: a recursive YAML alias (a: &x [*x]) hangs load_manifest "
        "(vehicle_mw/manifest/loading.py:_expanded_size never finishes on a cycle)",
    ),
)


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
