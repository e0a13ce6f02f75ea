"""Outbox: persistence, seq numbering, torn tails, CRC, eviction under the bound."""

from __future__ import annotations

import json
import os
import random

import numpy as np
import pytest

from vehicle_mw.manifest.channel import OutboxConfig
from vehicle_mw.native.records import SAMPLE_DTYPE
from vehicle_mw.native.wire import columns_bytes
from vehicle_mw.store import Outbox, OutboxError
from vehicle_mw.store.segment import OVERHEAD, scan


def samples(start: int, n: int) -> np.ndarray:
    s = np.zeros(n, SAMPLE_DTYPE)
    s["source_seq"] = np.arange(start, start + n)
    s["value"] = np.arange(start, start + n) * 1.5
    return s


def record_size(s: np.ndarray) -> int:
    """Bytes one batch of ``s`` takes on disk (header + SampleColumns payload + CRC)."""
    return OVERHEAD + len(columns_bytes(s))


def segment_records(path) -> list:
    fd = os.open(path, os.O_RDONLY)
    try:
        return scan(fd, os.fstat(fd).st_size)[0]
    finally:
        os.close(fd)


def config(tmp_path, **kw) -> OutboxConfig:
    base = {"directory": str(tmp_path), "fsync": "none", "max_batch_samples": 10, "segment_bytes": 8192}
    base.update(kw)
    base.setdefault("max_bytes", 4 << 20)
    return OutboxConfig(**base)


def all_source_seqs(box: Outbox) -> list[int]:
    out: list[int] = []
    for b in box.pending(0, 1_000_000):
        out.extend(int(x) for x in b.samples["source_seq"])
    return out


def test_append_splits_into_batches_and_reads_back(tmp_path):
    with Outbox(tmp_path, config(tmp_path)) as box:
        assert box.append(samples(0, 25)) == [1, 2, 3]
        batches = box.pending(0, 10)
        assert [len(b.samples) for b in batches] == [10, 10, 5]
        assert np.array_equal(np.concatenate([b.samples for b in batches]), samples(0, 25))
        assert [b.seq for b in box.pending(1, 10)] == [2, 3]


def test_reopen_keeps_unacked_batches_and_numbering(tmp_path):
    cfg = config(tmp_path)
    with Outbox(tmp_path, cfg) as box:
        box.append(samples(0, 100))
        box.ack(4)
    with Outbox(tmp_path, cfg) as box:
        assert box.acked_seq == 4
        assert [b.seq for b in box.pending(0, 100)] == list(range(5, 11))
        assert box.append(samples(100, 1)) == [11]


def test_seq_never_reused_after_everything_acked_and_deleted(tmp_path):
    cfg = config(tmp_path)
    with Outbox(tmp_path, cfg) as box:
        box.append(samples(0, 1000))  # 100 batches over several segments
        assert len(list(tmp_path.glob("seg-*.log"))) > 2
        box.ack(100)
        assert len(list(tmp_path.glob("seg-*.log"))) == 1  # only the active one is kept
    with Outbox(tmp_path, cfg) as box:
        assert box.pending(0, 10) == []
        assert box.append(samples(1000, 1)) == [101]


def test_ack_deletes_segments_only_when_fully_acked(tmp_path):
    cfg = config(tmp_path)
    with Outbox(tmp_path, cfg) as box:
        box.append(samples(0, 500))
        before = sorted(tmp_path.glob("seg-*.log"))
        box.ack(1)
        assert sorted(tmp_path.glob("seg-*.log")) == before
        box.ack(49)
        assert len(list(tmp_path.glob("seg-*.log"))) < len(before)
        assert [b.seq for b in box.pending(0, 10)] == [50]


@pytest.mark.parametrize("seed", range(5))
def test_torn_tail_is_cut_and_never_replayed(tmp_path, seed):
    rng = random.Random(seed)
    cfg = config(tmp_path, segment_bytes=1 << 20)
    with Outbox(tmp_path, cfg) as box:
        box.append(samples(0, 100))
    seg = next(tmp_path.glob("seg-*.log"))
    refs = segment_records(seg)
    size = seg.stat().st_size
    assert [r.size for r in refs] == [record_size(samples(i, 10)) for i in range(0, 100, 10)]
    assert size == sum(r.size for r in refs)
    last = refs[-1].offset
    cut = rng.randrange(last + 1, size)  # inside the last record
    os.truncate(seg, cut)
    with Outbox(tmp_path, cfg) as box:
        assert all_source_seqs(box) == list(range(90))
        assert box.stats().torn_bytes_cut == cut - last
        assert box.append(samples(90, 10))[0] >= 10  # written anew, cleanly
    with Outbox(tmp_path, cfg) as box:
        assert all_source_seqs(box) == list(range(100))


def test_garbage_after_last_record_is_cut(tmp_path):
    cfg = config(tmp_path, segment_bytes=1 << 20)
    with Outbox(tmp_path, cfg) as box:
        box.append(samples(0, 30))
    seg = next(tmp_path.glob("seg-*.log"))
    with open(seg, "ab") as fh:
        fh.write(b"VMWB" + os.urandom(200))
    with Outbox(tmp_path, cfg) as box:
        assert all_source_seqs(box) == list(range(30))
        assert box.stats().torn_bytes_cut == 204


def test_flipped_bit_costs_only_the_damaged_record(tmp_path):
    cfg = config(tmp_path, segment_bytes=1 << 20)
    with Outbox(tmp_path, cfg) as box:
        box.append(samples(0, 30))
    seg = next(tmp_path.glob("seg-*.log"))
    data = bytearray(seg.read_bytes())
    second = segment_records(seg)[1]
    data[second.payload_offset + 40] ^= 0x01  # payload of the second record
    seg.write_bytes(bytes(data))
    for _ in range(2):  # counted once: the damage is cut away when it is found
        with Outbox(tmp_path, cfg) as box:
            assert all_source_seqs(box) == list(range(10)) + list(range(20, 30))
            st = box.stats()
            assert (st.corrupt_batches, st.corrupt_records, st.torn_bytes_cut) == (1, 10, 0)
            third = box.pending(1, 10)[0]
            assert (third.seq, third.evicted_before, third.evicted_batches_before) == (3, 10, 1)


def test_eviction_keeps_disk_bound_and_takes_low_priority_first(tmp_path):
    cfg = config(tmp_path, max_bytes=64 * 1024, segment_bytes=8192)
    with Outbox(tmp_path, cfg) as box:
        box.append(samples(0, 200), priority=5)  # 20 high-priority batches
        n = 200
        while box.stats().evicted_records == 0:
            box.append(samples(n, 10), priority=1)
            n += 10
        for _ in range(200):
            box.append(samples(n, 10), priority=1)
            n += 10
            assert box.stats().disk_bytes <= cfg.max_bytes
        on_disk = sum(p.stat().st_size for p in tmp_path.glob("seg-*.log"))
        assert on_disk == box.stats().disk_bytes <= cfg.max_bytes
        kept = set(all_source_seqs(box))
        assert set(range(200)) <= kept, "high-priority batches must survive low-priority pressure"
        st = box.stats()
        assert st.evicted_records + len(kept) == n  # every record is either kept or counted
        assert st.disk_bytes > cfg.max_bytes // 2
        # the loss is reported with the next live batch, as records and as seq gaps
        batches = box.pending(0, 10_000)
        assert sum(b.evicted_before for b in batches) == st.evicted_records
        gaps = sum(b.evicted_batches_before for b in batches)
        assert gaps * 10 == st.evicted_records
        assert sum(OVERHEAD + len(b.payload) for b in batches) == st.disk_bytes


def test_lower_priority_append_is_refused_when_only_higher_priority_is_stored(tmp_path):
    cfg = config(tmp_path, max_bytes=64 * 1024, segment_bytes=8192)
    with Outbox(tmp_path, cfg) as box:
        n = 0
        while box.stats().disk_bytes + record_size(samples(n, 10)) <= cfg.max_bytes:
            box.append(samples(n, 10), priority=9)
            n += 10
        high = box.stats().evicted_records
        assert box.append(samples(n, 10), priority=0) == []
        assert box.stats().evicted_records == high + 10
        assert min(b.priority for b in box.pending(0, 10_000)) == 9


def test_eviction_count_survives_restart(tmp_path):
    cfg = config(tmp_path, max_bytes=64 * 1024, segment_bytes=8192)
    with Outbox(tmp_path, cfg) as box:
        for i in range(300):
            box.append(samples(i * 10, 10))
        evicted = box.stats().evicted_records
        reported = [(b.seq, b.evicted_before) for b in box.pending(0, 10_000) if b.evicted_before]
    assert evicted > 0
    with Outbox(tmp_path, cfg) as box:
        assert box.stats().evicted_records == evicted
        assert [(b.seq, b.evicted_before) for b in box.pending(0, 10_000) if b.evicted_before] == reported


def test_loss_after_the_last_batch_is_reported_with_the_next_append_after_a_restart(tmp_path):
    cfg = config(tmp_path, max_bytes=64 * 1024, segment_bytes=8192)
    with Outbox(tmp_path, cfg) as box:
        while box.stats().disk_bytes + record_size(samples(0, 10)) <= cfg.max_bytes:
            box.append(samples(0, 10), priority=5)
        assert box.append(samples(0, 10), priority=1) == []  # refused: everything stored outranks it
        high = box.high_seq
    with Outbox(tmp_path, cfg) as box:
        assert [b.evicted_before for b in box.pending(0, 10_000)] == [0] * high
        box.ack(high)
        (seq,) = box.append(samples(0, 10), priority=1)
        (batch,) = box.pending(high, 10)
        assert (batch.seq, batch.evicted_before) == (seq, 10)


def test_bad_input_is_refused_with_a_clear_error(tmp_path):
    with Outbox(tmp_path, config(tmp_path)) as box:
        with pytest.raises(OutboxError, match="SAMPLE_DTYPE"):
            box.append(np.zeros(3, np.float64))
        with pytest.raises(OutboxError, match="priority"):
            box.append(samples(0, 1), priority=300)
        assert box.append(samples(0, 0)) == []


@pytest.mark.parametrize(
    ("content", "named"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe garbage", "not valid JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"acked_seq": "7"}', "acked_seq"),
        (b'{"high_seq": -1}', "high_seq"),
        (b'{"acked_seq": true}', "acked_seq"),
        (b'{"evicted_before": [1]}', "evicted_before"),
        (b'{"evicted_before": {"x": 1}}', "evicted_before"),
        (b'{"evicted_before": {"3": 1.5}}', "evicted_before.3"),
    ],
)
def test_damaged_state_file_is_rebuilt_from_the_segments(tmp_path, caplog, content, named):
    with Outbox(tmp_path, config(tmp_path)) as box:
        box.append(samples(0, 30))
        box.ack(1)
    (tmp_path / "state.json").write_bytes(content)
    with Outbox(tmp_path, config(tmp_path)) as box:
        # nothing unacknowledged is lost; the acknowledged batch may come again (the gateway ignores it)
        assert all_source_seqs(box)[-20:] == list(range(10, 30))
        assert box.append(samples(30, 1)) == [4]  # numbering goes on past what the segments hold
    warning = next(r.getMessage() for r in caplog.records if "rebuilding the state" in r.getMessage())
    assert "state.json" in warning and named in warning
    assert [p.name.startswith("state.json.damaged-") for p in tmp_path.glob("state.json.*")] == [True]
    assert json.loads((tmp_path / "state.json").read_text())["high_seq"] == 4


def test_state_file_is_valid_json_with_watermarks(tmp_path):
    with Outbox(tmp_path, config(tmp_path)) as box:
        box.append(samples(0, 30))
        box.ack(2)
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["acked_seq"] == 2 and state["high_seq"] == 3


@pytest.mark.parametrize("policy", ["batch", "interval", "none"])
def test_every_fsync_policy_round_trips(tmp_path, policy):
    cfg = config(tmp_path, fsync=policy, fsync_interval_s=3600)
    with Outbox(tmp_path, cfg) as box:
        box.append(samples(0, 55))
        sendable = len(box.pending(0, 100))
        assert sendable == (0 if policy == "interval" else 6)  # only synced batches are sent
        box.sync()
        assert len(box.pending(0, 100)) == 6
    with Outbox(tmp_path, cfg) as box:
        assert all_source_seqs(box) == list(range(55))


def test_batches_are_stored_in_their_wire_encoding(tmp_path):
    from vehicle_mw.channel.wire import batch_bytes, batch_from_columns
    from vehicle_mw.v1 import link_pb2

    s = samples(0, 10)
    s["kind"][3] = 1  # an integer sample: the typed columns are stored too
    s["value"].view("<i8")[3] = -(2**40)
    with Outbox(tmp_path, config(tmp_path)) as box:
        box.append(s)
        (batch,) = box.pending(0, 10)
    assert batch.payload == batch.columns == columns_bytes(s)
    assert batch.samples.tobytes() == s.tobytes()  # the integer sample reads as NaN in the f64 view
    sent = batch_from_columns(1, batch.columns, 0, False, 0, created_ns=7)
    assert sent == batch_bytes(1, s, created_ns=7)
    msg = link_pb2.Uplink.FromString(sent)
    assert list(msg.batch.columns.int_value)[3] == -(2**40)


def test_segments_of_raw_records_from_earlier_versions_are_still_read(tmp_path):
    from segment_kit import encode_record_v1

    from vehicle_mw.store.segment import KIND_SAMPLES

    old = [samples(0, 10), samples(10, 7)]
    with open(tmp_path / f"seg-{1:020d}.log", "wb") as fh:
        for seq, s in enumerate(old, 1):
            fh.write(encode_record_v1(seq, 0, s.tobytes(), len(s), KIND_SAMPLES))
    with Outbox(tmp_path, config(tmp_path)) as box:
        batches = box.pending(0, 10)
        assert [(b.seq, b.count) for b in batches] == [(1, 10), (2, 7)]
        assert [b.columns for b in batches] == [columns_bytes(s) for s in old]
        assert box.append(samples(17, 3)) == [3]  # new records go on in the new encoding
        assert all_source_seqs(box) == list(range(20))
    with Outbox(tmp_path, config(tmp_path)) as box:
        assert all_source_seqs(box) == list(range(20))
