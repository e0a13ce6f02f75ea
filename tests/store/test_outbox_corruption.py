"""Damage in the middle of a segment costs only the damaged record, and the loss is counted.

Seeded random bit flips in every field class of a record (magic, length, seq, count, priority/kind,
reserved, header CRC, payload, trailing CRC), in records of both formats: after reopening, every
other batch is delivered, the damaged one is reported upstream as a gap (``evicted_batches_before``)
with its samples (``evicted_before``) when its header is intact, and the outbox stats count it.
"""

from __future__ import annotations

import random
import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from segment_kit import encode_record_v1

from vehicle_mw.manifest.channel import OutboxConfig
from vehicle_mw.native.records import SAMPLE_DTYPE
from vehicle_mw.native.wire import columns_bytes
from vehicle_mw.store import Outbox
from vehicle_mw.store.segment import HEADER, HEADER_V1, TRAILER, encode_record, parse_segment

# field classes of a record header: (first byte, end byte) inside the header
FIELDS_V2 = {
    "magic": (0, 4),
    "length": (4, 8),
    "seq": (8, 16),
    "count": (16, 20),
    "priority_kind": (20, 22),
    "reserved": (22, 24),
    "header_crc": (24, 28),
}
FIELDS_V1 = {k: v for k, v in FIELDS_V2.items() if k != "header_crc"}


def samples(start: int, n: int) -> np.ndarray:
    s = np.zeros(n, SAMPLE_DTYPE)
    s["source_seq"] = np.arange(start, start + n)
    s["value"] = np.arange(start, start + n) * 0.25
    return s


def build_segment(rng: random.Random, batches: int, legacy: bool) -> tuple[bytes, list[tuple[int, int, int]]]:
    """A segment of ``batches`` records of random sizes; returns it and (seq, first source_seq, count)."""
    out, layout, source = [], [], 0
    encode = encode_record_v1 if legacy else encode_record
    for seq in range(1, batches + 1):
        n = rng.randint(1, 40)
        out.append(encode(seq, rng.randint(0, 3), columns_bytes(samples(source, n)), n))
        layout.append((seq, source, n))
        source += n
    return b"".join(out), layout


def flip(data: bytes, rng: random.Random, victim: int, field: str, legacy: bool) -> bytearray:
    """Flip one random bit of ``field`` in record ``victim`` (1-based seq) of a segment."""
    found = parse_segment(data)
    ref = found.records[victim - 1]
    header = HEADER_V1.size if legacy else HEADER.size
    if field == "payload":
        lo, hi = ref.offset + header, ref.offset + ref.size - TRAILER.size
    elif field == "trailer_crc":
        lo, hi = ref.offset + ref.size - TRAILER.size, ref.offset + ref.size
    else:
        a, b = (FIELDS_V1 if legacy else FIELDS_V2)[field]
        lo, hi = ref.offset + a, ref.offset + b
    buf = bytearray(data)
    buf[rng.randrange(lo, hi)] ^= 1 << rng.randrange(8)
    return buf


def delivered(box: Outbox) -> dict[int, tuple[list[int], int, int]]:
    """seq -> (source seqs, evicted_before, evicted_batches_before) of every batch offered."""
    return {
        b.seq: ([int(x) for x in b.samples["source_seq"]], b.evicted_before, b.evicted_batches_before)
        for b in box.pending(0, 10_000)
    }


def check_one_damaged(
    folder, data: bytes, layout, victim: int, victim_size: int, header_intact: bool
) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    (folder / f"seg-{1:020d}.log").write_bytes(bytes(data))
    cfg = OutboxConfig(directory=str(folder), fsync="none", segment_bytes=1 << 20)
    with Outbox(folder, cfg) as box:
        got = delivered(box)
        st = box.stats()
        assert box.high_seq == len(layout)
    lost_count = layout[victim - 1][2]
    assert sorted(got) == [seq for seq, _, _ in layout if seq != victim]
    for seq, first, n in layout:
        if seq != victim:
            assert got[seq][0] == list(range(first, first + n))
    if victim < len(layout):  # the gateway learns of the gap from the next batch
        _, lost_before, gap = got[victim + 1]
        assert gap == 1
        assert lost_before == (lost_count if header_intact else 0)
    assert st.corrupt_batches == 1
    assert st.corrupt_records == (lost_count if header_intact else 0)
    assert st.corrupt_bytes == (0 if header_intact else victim_size)
    assert st.torn_bytes_cut == 0
    with Outbox(folder, cfg) as box:  # counted once: the damage was cut away
        assert box.stats().corrupt_batches == 1
        assert sorted(delivered(box)) == sorted(got)


FIELD_CLASSES = [*FIELDS_V2, "payload", "trailer_crc"]


@pytest.mark.parametrize(
    ("field", "legacy"),
    [(f, False) for f in FIELD_CLASSES] + [(f, True) for f in FIELD_CLASSES if f != "header_crc"],
)
def test_one_flipped_bit_in_the_middle_costs_exactly_that_record(tmp_path, field, legacy):
    rng = random.Random(f"{field}-{legacy}")
    for trial in range(12):
        data, layout = build_segment(rng, 17, legacy)
        victim = rng.randint(2, 16)  # in the middle: valid records before and after it
        damaged = flip(data, rng, victim, field, legacy)
        victim_size = parse_segment(data).records[victim - 1].size
        # the header is trusted when only the payload/CRC is hit, and never in the earlier format
        header_intact = field in ("payload", "trailer_crc") and not legacy
        check_one_damaged(tmp_path / f"t{trial}", damaged, layout, victim, victim_size, header_intact)


def test_damaged_last_record_with_intact_header_counts_its_samples(tmp_path):
    rng = random.Random(5)
    data, layout = build_segment(rng, 5, legacy=False)
    damaged = flip(data, rng, 5, "payload", legacy=False)
    (tmp_path / f"seg-{1:020d}.log").write_bytes(bytes(damaged))
    with Outbox(tmp_path, OutboxConfig(directory=str(tmp_path), fsync="none")) as box:
        assert sorted(delivered(box)) == [1, 2, 3, 4]
        st = box.stats()
        assert (st.corrupt_batches, st.corrupt_records, st.torn_bytes_cut) == (1, layout[4][2], 0)
        assert box.append(samples(999, 3)) == [6]  # seq 5 is never reused ...
        (new,) = box.pending(4, 10)
        assert (new.evicted_batches_before, new.evicted_before) == (1, layout[4][2])  # ... and reported


def test_unreadable_damage_at_a_segment_start_is_counted_from_the_seq_gap(tmp_path):
    rng = random.Random(9)
    first, _ = build_segment(rng, 3, legacy=False)
    second = b"".join(encode_record(seq, 0, columns_bytes(samples(seq * 100, 4)), 4) for seq in range(4, 9))
    broken = bytearray(second)
    broken[0] ^= 0xFF  # magic of seq 4
    broken[len(second) // 5 + 6] ^= 0x10  # length of seq 5: two records in a row, headers unreadable
    (tmp_path / f"seg-{1:020d}.log").write_bytes(first)
    (tmp_path / f"seg-{4:020d}.log").write_bytes(bytes(broken))
    with Outbox(tmp_path, OutboxConfig(directory=str(tmp_path), fsync="none")) as box:
        got = delivered(box)
        st = box.stats()
    assert sorted(got) == [1, 2, 3, 6, 7, 8]
    assert got[6][2] == 2  # seqs 4 and 5 never come
    assert (st.corrupt_batches, st.corrupt_records, st.corrupt_bytes) == (2, 0, 2 * (len(second) // 5))


def test_unreadable_tail_of_a_sealed_segment_is_counted_up_to_the_next_segment(tmp_path):
    first = b"".join(encode_record(seq, 0, columns_bytes(samples(seq * 100, 4)), 4) for seq in range(1, 6))
    second = b"".join(encode_record(seq, 0, columns_bytes(samples(seq * 100, 4)), 4) for seq in range(6, 9))
    broken = bytearray(first)
    refs = parse_segment(first).records
    for ref in refs[3:]:  # magics of seqs 4 and 5: the segment's tail has no valid record left
        broken[ref.offset] ^= 0xFF
    (tmp_path / f"seg-{1:020d}.log").write_bytes(bytes(broken))
    (tmp_path / f"seg-{6:020d}.log").write_bytes(second)
    with Outbox(tmp_path, OutboxConfig(directory=str(tmp_path), fsync="none")) as box:
        got = delivered(box)
        st = box.stats()
    assert sorted(got) == [1, 2, 3, 6, 7, 8] and got[6][2] == 2
    assert (st.corrupt_batches, st.corrupt_records, st.corrupt_bytes) == (2, 0, refs[3].size + refs[4].size)
    assert st.torn_bytes_cut == 0  # a sealed segment has no write under way: this is damage


@settings(max_examples=60, deadline=None, database=None)
@given(
    counts=st.lists(st.integers(1, 30), min_size=3, max_size=12),
    flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 7)), min_size=1, max_size=4),
)
def test_model_any_flips_lose_only_records_they_touch(counts, flips):
    """Model: a record survives iff no flipped bit lies inside it; surviving records keep their data."""
    data = b"".join(
        encode_record(seq, 0, columns_bytes(samples(seq * 1000, n)), n) for seq, n in enumerate(counts, 1)
    )
    bounds = [(r.offset, r.offset + r.size) for r in parse_segment(data).records]
    buf = bytearray(data)
    for where, bit in flips:
        buf[int(where * len(buf))] ^= 1 << bit
    changed = [pos for pos in range(len(buf)) if buf[pos] != data[pos]]  # two flips may cancel out
    hit = {i for pos in changed for i, (lo, hi) in enumerate(bounds) if lo <= pos < hi}
    found = parse_segment(bytes(buf))
    survivors = {r.seq for r in found.records}
    expected = {i + 1 for i in range(len(counts))} - {i + 1 for i in hit}
    assert survivors == expected
    known = {seq for d in [*found.damage, *([found.tail] if found.tail else [])] for seq, _ in d.known}
    assert known <= {i + 1 for i in hit}  # a trusted damaged header is one of the hit records
    for d in found.damage:
        assert all(count == counts[seq - 1] for seq, count in d.known)


def test_channel_outbox_command_shows_the_corruption_counters(tmp_path, capsys):
    from vehicle_mw.cli import main

    rng = random.Random(3)
    data, layout = build_segment(rng, 6, legacy=False)
    (tmp_path / f"seg-{1:020d}.log").write_bytes(bytes(flip(data, rng, 3, "payload", legacy=False)))
    assert main(["channel", "outbox", str(tmp_path)]) == 0
    shown = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines())
    assert shown["corrupt_batches"].strip() == "1"
    assert shown["corrupt_records"].strip() == str(layout[2][2])
    assert shown["backlog_batches"].strip() == "5"
