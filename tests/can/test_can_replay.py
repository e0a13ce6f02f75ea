"""Log replay: formats, original timing with a speed factor, loops, errors."""

from __future__ import annotations

import pathlib
import threading
import time

import can
import numpy as np
import pytest

from vehicle_mw.can import CollectingSink, ReplayError, replay_log
from vehicle_mw.can.replay import replay_logs, replay_steps
from vehicle_mw.native.records import FRAME_DTYPE, FRAME_ERROR, FRAME_EXTENDED, FRAME_FD, FRAME_RTR

DATA = pathlib.Path(__file__).resolve().parent.parent / "data"
PRIUS_LOG = DATA / "opendbc" / "prius_random.log"


def _write_log(path: pathlib.Path, msgs: list[can.Message]) -> None:
    with can.Logger(str(path)) as writer:
        for m in msgs:
            writer.on_message_received(m)


def _messages(n: int = 50, step: float = 0.004) -> list[can.Message]:
    out = []
    for i in range(n):
        ext = i % 3 == 0
        out.append(
            can.Message(
                timestamp=100.0 + i * step,
                arbitration_id=(0x18FF0000 + i) if ext else 0x100 + i,
                is_extended_id=ext,
                data=bytes([i, 255 - i, 7]),
                channel=0,
            )
        )
    return out


@pytest.mark.parametrize("suffix", [".asc", ".blf", ".trc", ".log", ".csv"])
def test_every_format_replays_ids_payloads_and_flags(tmp_path, suffix):
    msgs = _messages()
    path = tmp_path / f"trace{suffix}"
    _write_log(path, msgs)
    sink = CollectingSink()
    report = replay_log(path, sink, speed=0, bus_id=2)
    frames = sink.frames()
    assert report.frames == report.delivered == len(msgs) == len(frames)
    assert frames["can_id"].tolist() == [m.arbitration_id for m in msgs]
    assert [bytes(f["data"][: f["len"]]) for f in frames] == [bytes(m.data) for m in msgs]
    assert ((frames["flags"] & FRAME_EXTENDED) != 0).tolist() == [m.is_extended_id for m in msgs]
    assert frames["seq"].tolist() == list(range(len(msgs)))
    assert set(frames["bus_id"].tolist()) == {2}


def test_fd_error_and_remote_frames_keep_their_flags(shared_data):
    data = shared_data / "python-can" / "data"
    for name, flag in [
        ("test_CanFdMessage64.asc", FRAME_FD),
        ("test_CanErrorFrames.asc", FRAME_ERROR),
        ("test_CanRemoteMessage.asc", FRAME_RTR),
    ]:
        sink = CollectingSink()
        replay_log(data / name, sink, speed=0)
        frames = sink.frames()
        expected = [m for m in can.LogReader(str(data / name))]
        assert len(frames) == len(expected)
        assert any(f["flags"] & flag for f in frames), name


def test_original_spacing_scaled_by_speed(tmp_path):
    msgs = _messages(n=30, step=0.005)  # 145 ms of log
    path = tmp_path / "t.asc"
    _write_log(path, msgs)
    sink = CollectingSink()
    report = replay_log(path, sink, speed=2.0)
    ts = sink.frames()["timestamp_ns"].astype(np.int64)
    gaps = np.diff(ts)
    assert np.all(np.abs(gaps - 2_500_000) <= 1_000)  # 5 ms / 2, rounding only
    assert report.duration_s >= (29 * 0.005) / 2.0  # cannot finish before the last frame is due
    assert report.late_max_ms >= report.late_p99_ms >= report.late_p50_ms >= 0.0


def test_loops_repeat_with_continuing_sequence_numbers():
    sink = CollectingSink()
    n = sum(1 for _ in can.LogReader(str(PRIUS_LOG)))
    report = replay_log(PRIUS_LOG, sink, speed=0, loops=3)
    frames = sink.frames()
    assert report.loops == 3 and len(frames) == 3 * n
    assert frames["seq"].tolist() == list(range(3 * n))
    assert np.all(np.diff(frames["timestamp_ns"].astype(np.int64)) >= 0)


def test_stop_event_ends_an_endless_replay():
    stop = threading.Event()
    sink = CollectingSink()
    loops_seen = []

    def on_loop(k: int) -> None:
        loops_seen.append(k)
        if k == 2:
            stop.set()

    report = replay_log(PRIUS_LOG, sink, speed=0, loops=0, stop=stop, on_loop=on_loop)
    assert report.loops == 2 and loops_seen == [1, 2]


def test_missing_or_unknown_log_names_the_file(tmp_path):
    with pytest.raises(ReplayError, match="nope.asc"):
        replay_log(tmp_path / "nope.asc", CollectingSink())
    odd = tmp_path / "trace.xyz"
    odd.write_text("hello")
    with pytest.raises(ReplayError, match="trace.xyz"):
        replay_log(odd, CollectingSink())


class _ArrivalSink(CollectingSink):
    """Notes when each batch arrived (wall clock, the clock of the frames' due times)."""

    def __init__(self):
        super().__init__()
        self.arrivals: list[tuple[int, np.ndarray]] = []

    def push_batch(self, buf) -> int:
        now = time.time_ns()
        frames = np.frombuffer(bytes(buf), FRAME_DTYPE)
        self.arrivals.append((now, frames["timestamp_ns"].astype(np.int64)))
        return super().push_batch(buf)


@pytest.mark.parametrize("suffix", [".log", ".asc"])  # read at once / through python-can's reader
def test_timed_batches_never_leave_before_their_last_frame_is_due(tmp_path, suffix):
    msgs = _messages(n=60, step=0.0004)  # a frame every 0.4 ms: 2-3 per 1 ms window
    path = tmp_path / f"t{suffix}"
    _write_log(path, msgs)
    sink = _ArrivalSink()
    replay_log(path, sink, speed=1.0, window_ms=1.0)
    assert sum(len(ts) for _, ts in sink.arrivals) == len(msgs)
    assert len(sink.arrivals) < len(msgs)  # frames were batched
    for arrived, ts in sink.arrivals:
        assert ts.max() - ts.min() <= 1_000_000  # one window
        assert arrived >= ts.max() - 50_000  # not early (the two clocks were read µs apart)


class _BrokenSink:
    def push_batch(self, buf) -> int:
        raise RuntimeError("sink broke")


def test_several_replays_in_one_thread_each_keep_their_own_timing_and_failures(tmp_path):
    fast = tmp_path / "fast.log"
    slow = tmp_path / "slow.asc"  # one read at once, one through python-can's reader
    _write_log(fast, _messages(n=40, step=0.001))
    _write_log(slow, _messages(n=10, step=0.004))
    a, b = _ArrivalSink(), _ArrivalSink()
    stop = threading.Event()
    steps = [
        replay_steps(fast, a, speed=1.0, window_ms=1.0, bus_id=1, stop=stop),
        replay_steps(slow, b, speed=1.0, window_ms=1.0, bus_id=2, stop=stop),
        replay_steps(fast, _BrokenSink(), speed=1.0, stop=stop),
    ]
    reports = replay_logs(steps, stop)
    assert isinstance(reports[2], RuntimeError)  # that one ends, the others go on
    assert [r.delivered for r in reports[:2]] == [40, 10]  # type: ignore[union-attr]
    for sink, bus in ((a, 1), (b, 2)):
        frames = sink.frames()
        assert set(frames["bus_id"].tolist()) == {bus}
        assert frames["seq"].tolist() == list(range(len(frames)))
        for arrived, ts in sink.arrivals:
            assert arrived >= ts.max() - 50_000  # not early
    gaps = np.diff(b.frames()["timestamp_ns"].astype(np.int64))
    assert np.all(np.abs(gaps - 4_000_000) <= 1_000)  # the log's own spacing, beside the other log


def _record_steps(steps, seen: list[int]):
    """Pass a replay generator through, noting every time it asks to wait for."""
    while True:
        try:
            due = next(steps)
        except StopIteration as done:
            return done.value
        seen.append(due)
        yield due


def test_replays_in_one_thread_leave_on_one_shared_window_grid(tmp_path):
    a_log, b_log = tmp_path / "a.log", tmp_path / "b.asc"  # array reader and python-can reader
    _write_log(a_log, _messages(n=30, step=0.0007))
    _write_log(b_log, _messages(n=20, step=0.0011))
    window_ns = 2_000_000
    seen_a: list[int] = []
    seen_b: list[int] = []
    stop = threading.Event()
    sinks = (_ArrivalSink(), _ArrivalSink())
    steps = [
        _record_steps(replay_steps(a_log, sinks[0], speed=1.0, window_ms=2.0, bus_id=1, stop=stop), seen_a),
        _record_steps(replay_steps(b_log, sinks[1], speed=1.0, window_ms=2.0, bus_id=2, stop=stop), seen_b),
    ]
    reports = replay_logs(steps, stop)
    assert [r.delivered for r in reports] == [30, 20]  # type: ignore[union-attr]
    # every departure is a point of the same grid, so the two replays share their wakeups
    assert seen_a and seen_b
    assert all(t % window_ns == 0 for t in seen_a + seen_b)
    assert len(set(seen_a) | set(seen_b)) < len(seen_a) + len(seen_b)
    for sink in sinks:
        for arrived, ts in sink.arrivals:
            assert arrived >= ts.max() - 50_000  # still never early
