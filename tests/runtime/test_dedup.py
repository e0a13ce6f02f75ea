"""The outbox's per-source marks: repeats after a restart are dropped exactly, and survive acks."""

from __future__ import annotations

import numpy as np

from vehicle_mw.manifest.channel import OutboxConfig
from vehicle_mw.native import SAMPLE_DTYPE
from vehicle_mw.runtime import DedupOutbox, HighWater


def frames(source: int, seqs: range, signals: tuple[int, ...] = (1, 2, 3)) -> np.ndarray:
    """The samples a decoder gives for frames ``seqs``: one per signal, in decode order."""
    out = np.zeros(len(seqs) * len(signals), SAMPLE_DTYPE)
    out["source_id"] = source
    out["source_seq"] = np.repeat(np.array(seqs, dtype=np.uint64), len(signals))
    out["signal_id"] = np.tile(np.array(signals, dtype=np.uint32), len(seqs))
    out["value"] = out["source_seq"] * 10 + out["signal_id"]
    return out


def keys(samples: np.ndarray) -> list[tuple[int, int, int]]:
    return list(
        zip(
            samples["source_id"].tolist(),
            samples["source_seq"].tolist(),
            samples["signal_id"].tolist(),
            strict=True,
        )
    )


def test_split_frame_continues_and_reoffers_are_dropped():
    hw = HighWater()
    all_ = frames(0, range(10))
    first, rest = all_[:14], all_[14:]  # frame 4 split after its 2nd sample
    assert keys(hw.admit(first)) == keys(first)
    assert keys(hw.admit(rest)) == keys(rest)  # the rest of frame 4 is new, not a repeat
    assert len(hw.admit(all_[9:])) == 0  # a decoder restart re-offers frames 3.. : all seen
    assert hw.duplicates == len(all_) - 9
    assert keys(hw.admit(frames(0, range(9, 12)))) == keys(frames(0, range(10, 12)))


def test_sources_are_independent():
    hw = HighWater()
    hw.admit(frames(0, range(5)))
    assert len(hw.admit(frames(1, range(3)))) == 9  # another bus with lower seqs is not a repeat


def test_marks_survive_acknowledged_and_deleted_batches(tmp_path):
    cfg = OutboxConfig(directory=str(tmp_path), fsync="none", max_batch_samples=8)
    box = DedupOutbox(tmp_path, cfg)
    assert box.append_new(frames(0, range(20))) == 60
    box.sync()
    box.ack(box.high_seq)  # the gateway has it all: the batches are deleted
    box.close()  # (a kill would skip this; the marks were written before the ack)
    again = DedupOutbox(tmp_path, cfg)
    assert again.append_new(frames(0, range(15, 25))) == 15  # only frames 20..24 are new
    again.close()


def test_marks_recovered_from_unacknowledged_batches_after_a_kill(tmp_path):
    cfg = OutboxConfig(directory=str(tmp_path), fsync="none")
    box = DedupOutbox(tmp_path, cfg)
    box.append_new(frames(3, range(7)))
    # no close: as after SIGKILL, only the segment files on disk remain (no marks file written)
    again = DedupOutbox(tmp_path, cfg)
    assert again.high_water.marks[3] == (6, frozenset({1, 2, 3}))
    assert again.append_new(frames(3, range(5, 9))) == 6
    again.close()
    box.close()


def _reopen_after_kill(path, cfg) -> DedupOutbox:
    """A second outbox on the folder, the first left unclosed (as after SIGKILL)."""
    return DedupOutbox(path, cfg)


def test_marks_cover_every_acknowledged_batch_after_a_kill(tmp_path):
    # small segments: acks empty whole segments, whose deletion persists the ack (and so the marks)
    cfg = OutboxConfig(
        directory=str(tmp_path), fsync="none", max_batch_samples=30, segment_bytes=4096, max_bytes=65536
    )
    box = DedupOutbox(tmp_path, cfg)
    for start in range(0, 200, 10):
        box.append_new(frames(5, range(start, start + 10)))
        box.sync()
        box.ack(box.high_seq - 1)  # the gateway lags one batch behind
    assert box._marks_path.exists()
    assert box._marks_seq >= box.acked_seq  # covered before the ack was made permanent
    again = _reopen_after_kill(tmp_path, cfg)
    assert again.acked_seq <= box.acked_seq
    # a decoder restart re-offers the last 50 frames: acknowledged or live, all are repeats
    assert again.append_new(frames(5, range(150, 200))) == 0
    assert again.append_new(frames(5, range(195, 205))) == 15  # frames 200..204 are new
    again.close()
    box.close()


def test_marks_are_not_rewritten_for_every_ack(tmp_path):
    cfg = OutboxConfig(directory=str(tmp_path), fsync="none", max_batch_samples=8)
    box = DedupOutbox(tmp_path, cfg)
    writes = 0
    original = box._write_marks

    def counting() -> None:
        nonlocal writes
        writes += 1
        original()

    box._write_marks = counting
    for start in range(0, 100, 2):
        box.append_new(frames(0, range(start, start + 2)))
        box.sync()
        box.ack(box.high_seq)
    assert box.acked_seq == box.high_seq
    assert writes < 10  # 50 acks, one segment: the state (and the marks) at most once a second
    box.close()
    assert writes >= 1  # ... and at close
