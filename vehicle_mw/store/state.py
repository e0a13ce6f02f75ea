"""The outbox's ``state.json``: watermarks and loss counters, checked field by field when read."""

from __future__ import annotations

import json
from dataclasses import dataclass, field


class StateError(ValueError):
    """The state file is not valid JSON of the expected shape; the message names the field."""


_COUNTERS = (
    "acked_seq",
    "high_seq",
    "evicted_total",
    "evicted_pending",
    "torn_bytes_cut",
    "corrupt_batches",
    "corrupt_records",
    "corrupt_bytes",
)


@dataclass(frozen=True, slots=True)
class OutboxState:
    acked_seq: int = 0
    high_seq: int = 0
    evicted_total: int = 0
    evicted_pending: int = 0
    torn_bytes_cut: int = 0
    corrupt_batches: int = 0
    corrupt_records: int = 0
    corrupt_bytes: int = 0
    evicted_before: dict[int, int] = field(default_factory=dict)  # seq -> samples lost right before it
    recovered: bool = False  # the file was damaged: the state is rebuilt from the segments


def _count(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 64:
        raise StateError(f"{where}: expected an integer 0..2^64-1, got {str(value)[:40]!r}")
    return value


def parse_state(raw: bytes) -> OutboxState:
    """Decode and check a state file's bytes; raise :class:`StateError` naming what is wrong."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise StateError(f"not valid JSON ({str(exc)[:80]})") from None
    if not isinstance(data, dict):
        raise StateError(f"expected a JSON object, got {type(data).__name__}")
    values = {key: _count(data.get(key, 0), key) for key in _COUNTERS}
    before = data.get("evicted_before", {})
    if not isinstance(before, dict):
        raise StateError(f"evicted_before: expected an object, got {type(before).__name__}")
    evicted_before = {}
    for key, value in before.items():
        if not (isinstance(key, str) and key.isdigit() and len(key) <= 20):
            raise StateError(f"evicted_before: key {key[:40]!r} is not a batch seq")
        evicted_before[int(key)] = _count(value, f"evicted_before.{key}")
    return OutboxState(**values, evicted_before=evicted_before)


__all__ = ["OutboxState", "StateError", "parse_state"]
