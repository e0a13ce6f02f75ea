"""Exercise ring segments that may be damaged: every call must work or raise RingError, never
crash or hang. The entry points of the corruption tests and of the fuzz target.

``fuzz_one(data)`` turns arbitrary bytes into a ring with some traffic and a few writes of
damage (to header fields, indices, participant entries or the data area), then drives a handle
attached before the damage and one attached after it. ``run_trials`` does that for seeded
random inputs; ``python -m vehicle_mw.native.segment_check --seed 1 --trials 300`` prints one
line per trial (so a crash or hang names its trial) and a JSON summary last.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import mmap
import os
import random
import struct
import sys
from typing import TextIO

from vehicle_mw.native.byte_ring import ByteRing
from vehicle_mw.native.ring_base import RingBase
from vehicle_mw.native.ring_types import Overflow, RingCorrupt, RingError
from vehicle_mw.native.segments import SHM_DIR, ring_info
from vehicle_mw.native.slot_ring import MpmcRing, SlotRing

KINDS: dict[str, type[RingBase]] = {"slot": SlotRing, "bytes": ByteRing, "mpmc": MpmcRing}
SLOT_SIZE = 16
HEADER_REGION = 256 + 64 * 32  # four cache lines of fields, then the 64 MPMC participant entries
PATCH = struct.Struct("<BHQ")  # mode byte, offset, value
PARAMS = 4  # bytes of fuzz input that choose the ring before the patches start
_CAPACITIES = {"slot": (2, 8, 64), "mpmc": (2, 8, 64), "bytes": (64, 256, 4096)}
_names = itertools.count()


def attach_any(name: str) -> RingBase:
    """Attach as whatever kind the header says (RingError if it says nothing usable)."""
    return KINDS[ring_info(name).kind].attach(name)  # type: ignore[attr-defined, no-any-return]


def exercise(ring: RingBase) -> None:
    """Every operation of the ring's kind, a bounded number of times, waits with timeout 0."""
    len(ring)
    ring.stats()
    ring.wait(0)
    ring.wait_space(0)
    if isinstance(ring, ByteRing):
        size = min(20, ring.max_record)
        ring.push(b"\x11" * size)
        ring.push_batch([b"\x22" * (i * 5 % (size + 1)) for i in range(6)])
        with ring.peek() as mv:
            if mv is not None:
                bytes(mv)
        ring.pop()
        try:
            with ring.reserve(size) as w:
                assert w.view is not None
                w.view[: size // 2] = b"\x33" * (size // 2)
                w.length = size // 2
        except RingCorrupt:
            raise
        except RingError:  # no room (reject-newest): a normal refusal
            pass
    else:
        assert isinstance(ring, SlotRing | MpmcRing)
        rec = b"\x44" * ring.slot_size
        ring.push(rec)
        ring.push_batch(rec * 5)
        if isinstance(ring, SlotRing):
            with ring.peek(4) as mv:
                bytes(mv)
        else:
            ring.recover()
        ring.pop()
        ring.pop_into(bytearray(ring.slot_size * 3))
    for _ in range(64):  # drain: a ring of at most 4096 records/bytes empties well before this
        if not ring.pop_batch(256):  # type: ignore[attr-defined]
            break
    ring.wait(0)
    ring.wait_space(0)
    ring.stats()
    len(ring)


def _make_ring(name: str, params: bytes) -> RingBase:
    kind = ("slot", "bytes", "mpmc")[params[0] % 3]
    overflow = Overflow(params[1] & 1)
    capacity = _CAPACITIES[kind][(params[1] >> 1) % 3]
    if kind == "bytes":
        ring: RingBase = ByteRing.create(name, capacity, overflow)
        pushed = [bytes([i]) * (i * 3 % 24) for i in range(params[2] % 40)]
        ring.push_batch(pushed)
        ring.pop_batch(params[3] % 40)
        ring.push_batch(pushed[: params[3] % 40])
    else:
        ring = KINDS[kind].create(name, SLOT_SIZE, capacity, overflow)  # type: ignore[attr-defined]
        recs = bytes(range(256)) * (SLOT_SIZE * 80 // 256)
        n = params[2] % 80
        ring.push_batch(recs[: n * SLOT_SIZE])  # type: ignore[attr-defined]
        ring.pop_batch(params[3] % 80)  # type: ignore[attr-defined]
        ring.push_batch(recs[: (params[3] % 80) * SLOT_SIZE])  # type: ignore[attr-defined]
    return ring


def _patch(m: mmap.mmap, capacity: int, mode: int, offset: int, value: int) -> None:
    """One write of damage: width, region and kind of value come from the mode byte."""
    width = (1, 2, 4, 8)[mode & 3]
    data_size = len(m) - 4096
    if mode & 4:
        pos = 4096 + offset % data_size
    else:
        pos = offset % HEADER_REGION
    pos = min(pos - pos % width, len(m) - width)
    fmt = {1: "<B", 2: "<H", 4: "<I", 8: "<Q"}[width]
    (old,) = struct.unpack_from(fmt, m, pos)
    top = 1 << (8 * width)
    how = (mode >> 3) % 7
    if how == 0:
        new = value
    elif how == 1:  # near the old value: plausible-looking indices (head + 1, tail - capacity)
        new = old + value % (4 * capacity + 1) - 2 * capacity
    elif how == 2:
        new = 1 << (value % (8 * width))
    elif how == 3:
        new = 0
    elif how == 4:
        new = top - 1
    elif how == 5:
        new = old ^ (1 << (value % (8 * width)))
    else:
        new = old + 8 * (value % 5 - 2)
    struct.pack_into(fmt, m, pos, new % top)


def _damage(name: str, capacity: int, patches: bytes) -> None:
    with open(os.path.join(SHM_DIR, name), "r+b") as f, mmap.mmap(f.fileno(), 0) as m:
        for i in range(0, len(patches) - PATCH.size + 1, PATCH.size):
            _patch(m, capacity, *PATCH.unpack_from(patches, i))


def _outcome(exc: RingError) -> str:
    return "corrupt" if isinstance(exc, RingCorrupt) else f"refused:{exc.code}"


def fuzz_one(data: bytes) -> str:
    """Build a ring from data[:4], damage it with the PATCH records that follow, and exercise a
    handle attached before the damage and one attached after. Returns "ok", "corrupt" (a
    RingCorrupt was raised) or "refused:<code>" (another RingError: bad magic, version, kind,
    no participant entry); any other exception is a bug and propagates."""
    params = (data[:PARAMS] + bytes(PARAMS))[:PARAMS]
    name = f"vmw_segcheck_{os.getpid()}_{next(_names)}"
    ring = _make_ring(name, params)
    outcomes = []
    try:
        capacity = ring.stats().capacity
        _damage(name, capacity, data[PARAMS:])
        for attach in (lambda: ring, lambda: attach_any(name)):
            try:
                handle = attach()
                try:
                    exercise(handle)
                finally:
                    if handle is not ring:
                        handle.close()
                outcomes.append("ok")
            except RingError as exc:
                outcomes.append(_outcome(exc))
    finally:
        ring.close()
        ring.unlink()
    bad = [o for o in outcomes if o != "ok"]
    return bad[0] if bad else "ok"


def random_input(rng: random.Random) -> bytes:
    """A fuzz input as the corruption tests draw it: ring parameters and 1-4 patches."""
    return rng.randbytes(PARAMS + PATCH.size * rng.randint(1, 4))


def run_trials(seed: int, trials: int, report: TextIO) -> dict[str, int]:
    """Seeded random fuzz_one() calls; one line per trial before it runs, then a JSON summary."""
    rng = random.Random(seed)
    counts: collections.Counter[str] = collections.Counter()
    for trial in range(trials):
        data = random_input(rng)
        report.write(f"trial {trial} seed {seed} input {data.hex()}\n")
        report.flush()
        counts[fuzz_one(data)] += 1
    summary = dict(sorted(counts.items()))
    report.write(json.dumps({"seed": seed, "trials": trials, "outcomes": summary}) + "\n")
    report.flush()
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--input", help="replay one input (hex, as a trial line prints it)")
    args = parser.parse_args(argv)
    if args.input:
        print(fuzz_one(bytes.fromhex(args.input)))
        return 0
    run_trials(args.seed, args.trials, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
