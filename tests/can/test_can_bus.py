"""Live buses through python-can's virtual interface: several at once, failures, reopening."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import threading
import time

import can
import pytest

from vehicle_mw.can import BusReader, CanIngest, CollectingSink, SerializedSink
from vehicle_mw.manifest.can import CanBus
from vehicle_mw.native.records import FRAME_ERROR


def _channel(tag: str) -> str:
    return f"vmw-test-{tag}-{os.getpid()}-{threading.get_ident()}"


def _wait(predicate, timeout: float = 5.0) -> bool:
    """Poll a condition another thread makes true, with a bounded deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


def test_two_buses_at_once_keep_their_bus_ids_and_sequences():
    cfgs = [
        CanBus(name="pt", interface="virtual", channel=_channel("a")),
        CanBus(name="body", interface="virtual", channel=_channel("b")),
    ]
    sink = CollectingSink()
    senders = [can.Bus(interface="virtual", channel=c.channel) for c in cfgs]
    try:
        with CanIngest(cfgs, sink) as ingest:
            assert all(r.wait_open(5) for r in ingest.readers)
            for i in range(100):
                senders[0].send(can.Message(arbitration_id=0x100, is_extended_id=False, data=[i]))
                senders[1].send(can.Message(arbitration_id=0x18DAF100, is_extended_id=True, data=[i, i]))
            assert sink.wait_for(200, timeout=5)
            states = [s.state for s in ingest.status()]
            counts = [s.frames for s in ingest.status()]
    finally:
        for s in senders:
            s.shutdown()
    frames = sink.frames()
    for bus_id, can_id in [(0, 0x100), (1, 0x18DAF100)]:
        mine = frames[frames["bus_id"] == bus_id]
        assert mine["seq"].tolist() == list(range(100))
        assert set(mine["can_id"].tolist()) == {can_id}
        assert [int(d[0]) for d in mine["data"]] == list(range(100))
    assert counts == [100, 100] and states == ["up", "up"]


def test_error_frames_and_bus_off_are_counted_and_passed_on():
    cfg = CanBus(name="pt", interface="virtual", channel=_channel("err"))
    sink = CollectingSink()
    sender = can.Bus(interface="virtual", channel=cfg.channel)
    reader = BusReader(cfg, 0, sink).start()
    try:
        assert reader.wait_open(5)
        sender.send(can.Message(is_error_frame=True, arbitration_id=0x4, is_extended_id=False))
        sender.send(can.Message(arbitration_id=0x5, is_extended_id=False, data=[1]))
        sender.send(can.Message(is_error_frame=True, arbitration_id=0x40, is_extended_id=False))  # bus-off
        assert sink.wait_for(3, timeout=5)
    finally:
        reader.stop()
        sender.shutdown()
    assert reader.status.error_frames == 2 and reader.status.bus_off == 1
    assert (sink.frames()["flags"] & FRAME_ERROR).tolist() == [FRAME_ERROR, 0, FRAME_ERROR]


def test_a_bus_that_disappears_is_reported_and_reopened():
    cfg = CanBus(name="pt", interface="virtual", channel=_channel("gone"))
    sink = CollectingSink()
    sender = can.Bus(interface="virtual", channel=cfg.channel)
    reader = BusReader(cfg, 0, sink, backoff_s=(0.01, 0.05)).start()
    try:
        assert reader.wait_open(5)
        sender.send(can.Message(arbitration_id=1, is_extended_id=False, data=[1]))
        assert sink.wait_for(1, timeout=5)
        reader.bus.shutdown()  # the device goes away under the reader
        assert _wait(lambda: reader.status.opens >= 2 and reader.status.state == "up")
        assert reader.status.failures >= 1 and "CanOperationError" in reader.status.last_error
        sender.send(can.Message(arbitration_id=2, is_extended_id=False, data=[2]))
        assert sink.wait_for(2, timeout=5)
    finally:
        reader.stop()
        sender.shutdown()
    assert sink.frames()["seq"].tolist() == [0, 1]


def test_a_bus_that_cannot_open_is_retried_with_backoff():
    pytest.importorskip("can.interfaces.socketcan")
    cfg = CanBus(name="missing", interface="socketcan", channel="vmwnone0")
    reader = BusReader(cfg, 0, CollectingSink(), backoff_s=(0.01, 0.04)).start()
    try:
        assert _wait(lambda: reader.status.failures >= 3)
    finally:
        reader.stop()
    assert reader.status.opens == 0 and reader.status.state == "stopped"
    assert reader.status.last_error.startswith("open:")


READER_IN_NETNS = """
import json, subprocess, sys
from vehicle_mw.can import BusReader, CollectingSink
from vehicle_mw.manifest.can import CanBus
from vehicle_mw.native.records import FRAME_FD
cfg = CanBus(name="mc", interface="udp_multicast", channel="239.74.163.2", options={"port": PORT})
sink = CollectingSink()
reader = BusReader(cfg, 0, sink).start()
try:
    if not reader.wait_open(5):
        print(json.dumps({"skip": reader.status.last_error})); sys.exit(0)
    subprocess.run([sys.executable, "-c", SENDER], check=True, timeout=60)
    got = sink.wait_for(50, timeout=10)
finally:
    reader.stop()
f = sink.frames()
print(json.dumps({"got": got, "seq": f["seq"].tolist(), "len": sorted(set(f["len"].tolist())),
                  "fd": bool(all(f["flags"] & FRAME_FD)), "first": [int(x["data"][0]) for x in f]}))
"""


def test_udp_multicast_bus_fed_by_another_process(netns):
    """Reader here, sender in another process, over python-can's udp_multicast -- inside a network
    namespace of the test's own, so the multicast never leaves the machine."""
    port = 40000 + os.getpid() % 20000
    sender = (
        "import can\n"
        f"bus = can.Bus(interface='udp_multicast', channel='239.74.163.2', port={port})\n"
        "for i in range(50):\n"
        "    msg = can.Message(arbitration_id=0x321, is_extended_id=False, is_fd=True, data=[i] * 12)\n"
        "    bus.send(msg)\n"
        "bus.shutdown()\n"
    )
    script = READER_IN_NETNS.replace("PORT", str(port)).replace("SENDER", repr(sender))
    root = pathlib.Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [*netns, sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=root
    )
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout.strip().splitlines()[-1])
    if "skip" in res:
        pytest.skip(f"udp_multicast does not open here: {res['skip']}")
    assert res["got"] and res["seq"] == list(range(50))
    assert res["len"] == [12] and res["fd"]
    assert res["first"] == list(range(50))


def test_one_sink_per_bus_and_a_shared_sink_is_serialized():
    cfgs = [
        CanBus(name="pt", interface="virtual", channel=_channel("c")),
        CanBus(name="body", interface="virtual", channel=_channel("d")),
    ]
    sinks = [CollectingSink(), CollectingSink()]
    senders = [can.Bus(interface="virtual", channel=c.channel) for c in cfgs]
    try:
        with CanIngest(cfgs, sinks) as ingest:
            assert [r.sink for r in ingest.readers] == sinks
            assert all(r.wait_open(5) for r in ingest.readers)
            for i in range(20):
                senders[0].send(can.Message(arbitration_id=0x10, is_extended_id=False, data=[i]))
            senders[1].send(can.Message(arbitration_id=0x20, is_extended_id=False, data=[1]))
            assert sinks[0].wait_for(20, timeout=5) and sinks[1].wait_for(1, timeout=5)
    finally:
        for s in senders:
            s.shutdown()
    assert set(sinks[0].frames()["can_id"].tolist()) == {0x10}
    assert set(sinks[1].frames()["can_id"].tolist()) == {0x20}
    shared = CollectingSink()
    ingest = CanIngest(cfgs, shared)
    wrapped = {id(r.sink) for r in ingest.readers}
    assert len(wrapped) == 1 and isinstance(ingest.readers[0].sink, SerializedSink)
    assert ingest.readers[0].sink.sink is shared
    with pytest.raises(ValueError, match="2 buses need 2 sinks, got 1"):
        CanIngest(cfgs, [shared])
