"""How a reader takes messages off a bus: bulk queue drain, _recv_internal, or recv() with filters."""

from __future__ import annotations

import os
import threading

import can
import pytest

from vehicle_mw.can import BusReader, CollectingSink, MessageSource, source_kind
from vehicle_mw.can.source import INTERNAL, QUEUE, RECV
from vehicle_mw.manifest.can import CanBus


def _channel(tag: str) -> str:
    return f"vmw-src-{tag}-{os.getpid()}-{threading.get_ident()}"


@pytest.fixture
def pair():
    """A receiving and a sending virtual bus on a fresh channel."""
    channel = _channel("pair")
    rx = can.Bus(interface="virtual", channel=channel)
    tx = can.Bus(interface="virtual", channel=channel)
    yield rx, tx
    tx.shutdown()
    rx.shutdown()


class _OwnRecvBus(can.BusABC):
    """An interface that overrides recv() itself (as some third-party ones do)."""

    def __init__(self):
        super().__init__(channel="own")

    def recv(self, timeout=None):
        return None

    def send(self, msg, timeout=None):
        pass


def test_the_way_of_reading_follows_the_bus(pair):
    rx, _ = pair
    assert source_kind(rx) == QUEUE
    assert source_kind(rx, bulk=False) == INTERNAL
    rx.set_filters([{"can_id": 0x100, "can_mask": 0x7FF}])
    assert source_kind(rx) == RECV  # software filters need recv()
    own = _OwnRecvBus()
    try:
        assert source_kind(own) == RECV
    finally:
        own.shutdown()


@pytest.mark.parametrize("bulk", [True, False])
def test_drain_takes_what_is_waiting_in_order_up_to_the_limit(pair, bulk):
    rx, tx = pair
    for i in range(10):
        tx.send(can.Message(arbitration_id=i, is_extended_id=False))
    source = MessageSource(rx, bulk=bulk)
    first = source.wait(1.0)
    assert first is not None and first.arbitration_id == 0
    assert [m.arbitration_id for m in source.drain(4)] == [1, 2, 3, 4]
    assert [m.arbitration_id for m in source.drain(100)] == [5, 6, 7, 8, 9]
    assert source.drain(100) == [] and source.drain(0) == []
    assert source.wait(0.01) is None


@pytest.mark.parametrize("bulk", [True, False])
def test_draining_a_bus_that_was_shut_down_raises(pair, bulk):
    rx, _ = pair
    source = MessageSource(rx, bulk=bulk)
    rx.shutdown()
    with pytest.raises(can.CanOperationError):
        source.drain(10)


def test_a_reader_honours_software_filters():
    cfg = CanBus(name="pt", interface="virtual", channel=_channel("filt"))
    sender = can.Bus(interface="virtual", channel=cfg.channel)

    def opener(c):
        bus = can.Bus(interface="virtual", channel=c.channel)
        bus.set_filters([{"can_id": 0x100, "can_mask": 0x7FF, "extended": False}])
        return bus

    sink = CollectingSink()
    reader = BusReader(cfg, 0, sink, opener=opener).start()
    try:
        assert reader.wait_open(5)
        for i in range(20):
            sender.send(can.Message(arbitration_id=0x100 if i % 2 else 0x200, is_extended_id=False, data=[i]))
        assert sink.wait_for(10, timeout=5)
    finally:
        reader.stop()
        sender.shutdown()
    frames = sink.frames()
    assert frames["can_id"].tolist() == [0x100] * 10
    assert [int(d[0]) for d in frames["data"]] == list(range(1, 20, 2))
    assert frames["seq"].tolist() == list(range(10))


@pytest.mark.parametrize("bulk", [True, False])
def test_a_backlog_larger_than_a_batch_arrives_whole_and_in_order(bulk):
    cfg = CanBus(name="pt", interface="virtual", channel=_channel(f"backlog{int(bulk)}"))
    receiving = can.Bus(interface="virtual", channel=cfg.channel)
    sender = can.Bus(interface="virtual", channel=cfg.channel)
    n = 1000  # about four batches of 256, already waiting when the reader starts
    for i in range(n):
        sender.send(can.Message(arbitration_id=i & 0x7FF, is_extended_id=False, data=i.to_bytes(2, "little")))
    sink = CollectingSink()
    reader = BusReader(cfg, 3, sink, opener=lambda _c: receiving, batch_size=256, bulk_drain=bulk).start()
    try:
        assert sink.wait_for(n, timeout=10)
    finally:
        reader.stop()
        sender.shutdown()
    frames = sink.frames()
    assert frames["seq"].tolist() == list(range(n))
    assert [int.from_bytes(bytes(d[:2]), "little") for d in frames["data"]] == list(range(n))
    assert set(frames["bus_id"].tolist()) == {3}
    assert reader.status.frames == n and reader.status.delivered == n and reader.status.dropped == 0
