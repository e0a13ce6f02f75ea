"""cantools as the reference decoder: the values vehicle_mw must reproduce, frame by frame."""

from __future__ import annotations

import math
import random
from collections import defaultdict

import numpy as np

from vehicle_mw.native import FRAME_DTYPE
from vehicle_mw.native.records import FRAME_EXTENDED, FRAME_FD
from vehicle_mw.signals import SignalCatalog, sample_values

J1939_DA = "$da"  # the catalog's destination-address signal of J1939 PDU1 messages (not a cantools signal)


def j1939_pgn(can_id: int) -> int:
    """PGN per J1939-21, computed here independently of vehicle_mw: PS belongs to it only for PDU2."""
    pf, ps = (can_id >> 16) & 0xFF, (can_id >> 8) & 0xFF
    return ((can_id >> 24) & 0x3) << 16 | pf << 8 | (ps if pf >= 240 else 0)


def entry_for(catalog: SignalCatalog):
    """Function (bus, extended, can_id) -> MessageEntry, matching the way the native decoder does."""
    exact = {}
    pgn = {}
    for e in catalog.messages:
        if e.j1939:
            pgn[(e.bus_id, j1939_pgn(e.frame_id))] = e
        else:
            exact[(e.bus_id, e.extended, e.frame_id)] = e

    def find(bus: int, extended: bool, can_id: int):
        e = exact.get((bus, extended, can_id))
        if e is None and extended:
            e = pgn.get((bus, j1939_pgn(can_id)))
        return e

    return find


def cantools_values(entry, data: bytes) -> dict | None:
    """What cantools decodes (raw choices, scaled), or None where cantools refuses the frame."""
    try:
        return entry.cantools.decode(bytes(data), decode_choices=False, scaling=True)
    except Exception:
        return None


def same_value(got, want) -> bool:
    """Exact for integer values, rel 1e-12 otherwise; NaN equals NaN."""
    if isinstance(want, float) and math.isnan(want):
        return isinstance(got, float) and math.isnan(got)
    if isinstance(want, int) or (isinstance(want, float) and want.is_integer()):
        return got == want
    return math.isclose(got, want, rel_tol=1e-12, abs_tol=0.0)


def compare(catalog: SignalCatalog, frames: np.ndarray, samples: np.ndarray) -> tuple[int, list[str]]:
    """Compare decoded samples with cantools for every frame; returns (frames compared, mismatches)."""
    find = entry_for(catalog)
    by_seq: dict[int, dict[str, object]] = defaultdict(dict)
    for seq, sid, value in zip(
        samples["source_seq"].tolist(), samples["signal_id"].tolist(), sample_values(samples), strict=True
    ):
        by_seq[seq][catalog.by_id(sid).signal] = value
    compared = 0
    problems: list[str] = []
    for f in frames:
        if f["flags"] & 0x30:
            continue
        entry = find(int(f["bus_id"]), bool(f["flags"] & FRAME_EXTENDED), int(f["can_id"]))
        if entry is None:
            assert int(f["seq"]) not in by_seq
            continue
        data = bytes(f["data"][: f["len"]])
        want = cantools_values(entry, data)
        got = by_seq.get(int(f["seq"]), {})
        if entry.j1939 and any(s.signal == J1939_DA for s in entry.signals) and got:
            got = dict(got)
            if got.pop(J1939_DA, None) != (int(f["can_id"]) >> 8) & 0xFF:
                problems.append(f"{entry.name} id={int(f['can_id']):#x}: wrong or missing {J1939_DA}")
        if want is None:
            if len(data) < entry.length:
                assert not got, f"too-short frame of {entry.name} produced samples"
            continue
        want = {k: v for k, v in want.items() if any(s.signal == k and not s.from_id for s in entry.signals)}
        compared += 1
        if set(got) != set(want) or not all(same_value(got[k], want[k]) for k in want):
            diff = {k: (got.get(k), want.get(k)) for k in set(got) | set(want) if got.get(k) != want.get(k)}
            problems.append(f"{entry.name} data={data.hex()}: (got, cantools) {diff}")
    return compared, problems


def set_raw(data: bytearray, layout, raw: int) -> None:
    """Write a raw value into a payload at a signal's position (to pick valid multiplexer ids)."""
    n = len(data) * 8
    mask = (1 << layout.length) - 1
    raw &= mask
    if layout.big_endian:
        msb = 8 * (layout.start // 8) + 7 - layout.start % 8
        shift = n - (msb + layout.length)
        value = int.from_bytes(data, "big")
        value = (value & ~(mask << shift)) | (raw << shift)
        data[:] = value.to_bytes(len(data), "big")
    else:
        value = int.from_bytes(data, "little")
        value = (value & ~(mask << layout.start)) | (raw << layout.start)
        data[:] = value.to_bytes(len(data), "little")


def random_frames(catalog: SignalCatalog, per_message: int, seed: int) -> np.ndarray:
    """``per_message`` random payloads of every catalog message; multiplexers set to ids they use."""
    rng = random.Random(seed)
    rows = []
    for e in catalog.messages:
        mux_ids: dict[str, list[int]] = defaultdict(list)
        for s in e.signals:
            if s.layout.mux_parent:
                mux_ids[s.layout.mux_parent].extend(s.layout.mux_ids)
        muxes = [s for s in e.signals if s.signal in mux_ids]
        for _ in range(per_message):
            data = bytearray(rng.getrandbits(8) for _ in range(e.length))
            for m in muxes:
                lay = m.layout
                if rng.random() < 0.9 and lay.conversion != "linear" and not lay.is_float:
                    scaled = rng.choice(mux_ids[m.signal])
                    set_raw(data, lay, (scaled - int(lay.offset)) // int(lay.scale or 1))
            can_id = e.frame_id
            if e.j1939:  # any priority and source address (and PDU1 destination) must match the same PGN
                can_id = (j1939_pgn(e.frame_id) << 8) | (rng.getrandbits(3) << 26) | rng.getrandbits(8)
                if (e.frame_id >> 16) & 0xFF < 240:
                    can_id |= rng.getrandbits(8) << 8
            rows.append((e.bus_id, can_id, e.extended, e.length > 8, bytes(data)))
    frames = np.zeros(len(rows), FRAME_DTYPE)
    for i, (bus, can_id, ext, fd, data) in enumerate(rows):
        frames[i]["seq"] = i
        frames[i]["timestamp_ns"] = 1_000 + i
        frames[i]["bus_id"] = bus
        frames[i]["can_id"] = can_id
        frames[i]["flags"] = (FRAME_EXTENDED if ext else 0) | (FRAME_FD if fd else 0)
        frames[i]["len"] = len(data)
        frames[i]["data"][: len(data)] = np.frombuffer(data, np.uint8)
    return frames
