"""CAN log files (asc, blf, trc, candump .log, csv) replayed flat out into a collecting sink.

The first byte picks the format; the rest is the file. A log that cannot be read must be a
``ReplayError`` naming the file; frames the packer cannot take are counted as bad frames.
"""

from __future__ import annotations

from fuzz.harness import Input
from fuzz.targets._scratch import scratch_file
from vehicle_mw.can.replay import ReplayError, replay_log
from vehicle_mw.can.sink import CollectingSink

SUFFIXES = (".asc", ".blf", ".trc", ".log", ".csv")
EXPECTED = (ReplayError,)


def one_input(data: bytes) -> None:
    inp = Input(data)
    suffix = SUFFIXES[inp.byte() % len(SUFFIXES)]
    path = scratch_file(inp.rest(), suffix)
    report = replay_log(path, CollectingSink(), speed=0, batch_size=64)
    assert report.delivered + report.bad_frames <= report.frames + report.bad_frames
