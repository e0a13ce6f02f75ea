"""The consumer's receive path on its own: datagrams in, sample records out in a real SlotRing."""

from __future__ import annotations

import asyncio
import os
import struct

import numpy as np
import pytest

from tests.someip.conftest import EXAMPLE
from vehicle_mw.manifest import load_manifest
from vehicle_mw.manifest.someip import SomeIpService
from vehicle_mw.native import SAMPLE_DTYPE, SAMPLE_SIZE, SlotRing
from vehicle_mw.native.records import VALUE_BOOL, VALUE_F64, VALUE_I64, VALUE_U64
from vehicle_mw.someip import wire
from vehicle_mw.someip.codec import build_codec
from vehicle_mw.someip.consumer import Consumer
from vehicle_mw.someip.runtime import _daemon_client_class

PROVIDER = "10.9.9.1"


@pytest.fixture
def ring():
    r = SlotRing.create(f"/vmw-someip-test-{os.getpid()}", SAMPLE_SIZE, 64)
    yield r
    r.close()
    r.unlink()


def _feed(ring, datagrams: list[bytes]) -> Consumer:
    service = load_manifest(EXAMPLE, SomeIpService)

    async def run() -> Consumer:
        client = _daemon_client_class()({"socket_path": "/nonexistent"})
        consumer = Consumer(service, "127.0.0.1", client, ring)
        consumer.provider_ip = PROVIDER
        for i, datagram in enumerate(datagrams):
            consumer._handle_datagram(memoryview(datagram), PROVIDER, 1_000 + i, consumer._fast)
        consumer._fast.flush()
        await asyncio.sleep(0)  # field values are set on the loop
        return consumer

    return asyncio.run(run())


def test_events_become_typed_samples_in_the_ring(ring):
    service = load_manifest(EXAMPLE, SomeIpService)
    status = build_codec("Status", service.types).encode(
        {"gear": -2, "brake": True, "odometer": 99, "vin": "X", "temps": [300, 301]}
    )
    datagram = wire.build(0x1234, 0x8001, struct.pack(">ffff", 1, 2, 3, 4)) + wire.build(
        0x1234, 0x8002, status
    )
    consumer = _feed(ring, [datagram, wire.build(0x1234, 0x8010, b"\x05")])
    rec = np.frombuffer(ring.pop_batch(64), SAMPLE_DTYPE)
    assert rec["signal_id"].tolist() == [1001, 1002, 1003, 1004, 1010, 1011, 1012, 1013, 1020]
    assert rec["kind"].tolist() == [VALUE_F64] * 4 + [VALUE_I64, VALUE_BOOL, VALUE_U64, VALUE_U64, VALUE_U64]
    assert rec["source_seq"].tolist() == [0] * 4 + [1] * 4 + [2]  # one sequence number per event
    assert rec["timestamp_ns"].tolist() == [1000] * 8 + [1001]  # the datagram's receive time
    assert set(rec["source_id"].tolist()) == {7}
    assert rec["value"][:4].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert rec["value"].view("<i8")[4] == -2 and rec["value"].view("<u8")[6] == 99
    assert rec["value"].view("<u8")[7] == 300 and rec["value"].view("<u8")[8] == 5
    assert consumer.field_values == {"mode": 5} and consumer.stats.events == 3


def test_a_full_ring_counts_what_it_refused(ring):
    one = wire.build(0x1234, 0x8001, struct.pack(">ffff", 1, 2, 3, 4))
    consumer = _feed(ring, [one] * 20)  # 80 samples into a 64-slot ring
    assert consumer.stats.sink_overflow == 16
    assert len(ring.pop_batch(128)) == 64 * SAMPLE_SIZE


def test_input_from_another_peer_is_dropped_and_counted(ring):
    service = load_manifest(EXAMPLE, SomeIpService)

    async def run() -> Consumer:
        consumer = Consumer(service, "127.0.0.1", _daemon_client_class()({"socket_path": "/x"}), ring)
        consumer.provider_ip = PROVIDER
        consumer._handle_datagram(
            memoryview(wire.build(0x1234, 0x8001, bytes(16))), "10.6.6.6", 1, consumer._fast
        )
        return consumer

    consumer = asyncio.run(run())
    assert consumer.stats.dropped[("10.6.6.6", "unknown peer")] == 1 and consumer.stats.events == 0
