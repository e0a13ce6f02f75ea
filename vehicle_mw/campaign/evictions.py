"""What a bounded outbox would drop of the campaigns' uploads, by priority (for the dry-run).

The vehicle is taken to be offline for the whole trace (nothing is acknowledged: the worst case).
Each upload (one window of one campaign) is appended at the time of its last sample, as one batch
of its wire bytes plus the outbox's record overhead. The rule is the outbox's own
(``vehicle_mw.store.Outbox``): when a batch does not fit, the stored batches of lower or equal
priority are evicted, lowest priority and oldest first, down to 90 % of the bound; when even
evicting all of them would not make room, the new batch is refused (and counted as evicted).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from vehicle_mw.store.outbox import LOW_WATERMARK
from vehicle_mw.store.segment import OVERHEAD


@dataclass(frozen=True)
class Upload:
    time_ns: int
    campaign: int
    priority: int
    samples: int
    bytes: int


@dataclass
class Evicted:
    """Per campaign: what the bound cost it."""

    uploads: int = 0
    samples: int = 0
    bytes: int = 0

    def as_json(self) -> dict[str, int]:
        return {"uploads": self.uploads, "samples": self.samples, "bytes": self.bytes}


def simulate(uploads: Sequence[Upload], max_bytes: int, n_campaigns: int) -> list[Evicted]:
    """Evictions per campaign when ``uploads`` go into an outbox of ``max_bytes``, never acked."""
    out = [Evicted() for _ in range(n_campaigns)]
    stored: list[tuple[int, int, Upload]] = []  # (priority, order, upload), kept sorted by both
    total = 0
    target = int(max_bytes * LOW_WATERMARK)

    def lose(u: Upload) -> None:
        e = out[u.campaign]
        e.uploads += 1
        e.samples += u.samples
        e.bytes += u.bytes

    for order, u in enumerate(sorted(uploads, key=lambda u: u.time_ns)):
        size = u.bytes + OVERHEAD
        if total + size > max_bytes:
            candidates = [i for i, (p, _, _) in enumerate(stored) if p <= u.priority]
            freed, victims = 0, []
            for i in candidates:
                if total - freed + size <= target:
                    break
                freed += stored[i][2].bytes + OVERHEAD
                victims.append(i)
            if total - freed + size > max_bytes:
                lose(u)  # refused: everything it could displace would not make room
                continue
            for i in reversed(victims):
                lose(stored.pop(i)[2])
            total -= freed
        bisect.insort(stored, (u.priority, order, u))  # (priority, order) is unique: u is never compared
        total += size
    return out


__all__ = ["Evicted", "Upload", "simulate"]
