"""Trace replay onto a bench bus keeps the recorded timing, scaled by the speed factor."""

import pathlib
import threading

import can
import numpy as np

from vehicle_mw.can import open_log
from vehicle_mw.hil import TracePlayer

TRACE = pathlib.Path(__file__).resolve().parents[2] / "vehicle_mw/demo/data/gnss_drive.log"


def test_replay_keeps_original_timing_scaled_by_speed():
    speed, window_s = 20.0, 1.0
    recorded = [m.timestamp for m in open_log(TRACE)]
    expected = [t for t in recorded if (t - recorded[0]) / speed <= window_s]
    received: list[float] = []
    done = threading.Event()
    with (
        can.Bus(interface="virtual", channel="vmw-hil-player") as tx,
        can.Bus(interface="virtual", channel="vmw-hil-player") as rx,
    ):
        player = TracePlayer(TRACE, tx, speed=speed, max_s=window_s)

        def listen():
            while len(received) < len(expected):
                msg = rx.recv(2.0)
                if msg is None:
                    break
                received.append(msg.timestamp)
            done.set()

        threading.Thread(target=listen, daemon=True).start()
        player.start()
        assert done.wait(10.0)
        player.stop()
    assert player.error is None
    assert len(received) == len(expected) == player.sent
    # offsets from the first frame, replayed vs recorded / speed. A late first frame (thread start on
    # a loaded machine) shifts every offset alike, so judge the spread around the median shift
    # (jitter) and the drift over the window; the schedule is absolute, so errors do not accumulate.
    err_ms = (np.array(received) - received[0] - (np.array(expected) - expected[0]) / speed) * 1000
    jitter = np.abs(err_ms - np.median(err_ms))
    assert np.median(jitter) < 5.0, f"median timing jitter {np.median(jitter):.2f} ms"
    assert abs(err_ms[-1] - np.median(err_ms)) < 50.0, f"drift over the window {err_ms[-1]:.1f} ms"
