"""Arbitrary bytes never crash or stall the SOME/IP readers: they are parsed or counted as dropped."""

from __future__ import annotations

import asyncio
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.someip.conftest import EXAMPLE
from vehicle_mw.manifest import load_manifest
from vehicle_mw.manifest.someip import SomeIpService
from vehicle_mw.someip import sd, wire
from vehicle_mw.someip.consumer import Consumer
from vehicle_mw.someip.runtime import _daemon_client_class
from vehicle_mw.someip.samples import SampleCollector

# datagrams that look like SOME/IP often enough to reach the deeper checks
_header = st.builds(
    lambda sid, mid, length, mt, tail: struct.pack(">HHIHHBBBB", sid, mid, length, 0, 1, 1, 1, mt, 0) + tail,
    st.sampled_from([0x1234, 0x4321, 0xFFFF]),
    st.sampled_from([0x8001, 0x8002, 0x8010, 0x8100, 0x0001]),
    st.integers(0, 80),
    st.sampled_from([0x02, 0x00, 0x80]),
    st.binary(max_size=64),
)
datagrams = st.one_of(st.binary(max_size=200), _header, st.lists(_header, max_size=4).map(b"".join))


@settings(max_examples=300, deadline=None)
@given(datagrams)
def test_split_always_terminates_with_messages_or_one_malformed(data):
    items = list(wire.split(data))
    assert sum(isinstance(i, wire.Malformed) for i in items) <= 1
    assert sum(16 + len(i.payload) for i in items if isinstance(i, wire.Message)) <= len(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_sd_decode_raises_only_sd_error(payload):
    try:
        sd.decode(payload)
    except sd.SdError:
        pass


def test_consumer_counts_but_survives_arbitrary_datagrams():
    service = load_manifest(EXAMPLE, SomeIpService)
    sink = SampleCollector()

    async def run() -> Consumer:
        consumer = Consumer(service, "127.0.0.1", _daemon_client_class()({"socket_path": "/x"}), sink)
        consumer.provider_ip = "10.1.1.1"

        @settings(max_examples=400, deadline=None)
        @given(datagrams)
        def feed(data):
            consumer._handle_datagram(memoryview(data), "10.1.1.1", 1, consumer._fast)
            consumer._fast.flush()

        feed()
        return consumer

    consumer = asyncio.run(run())
    assert consumer.stats.dropped_total() > 0  # plenty of garbage was seen and counted
    good = wire.build(0x1234, 0x8001, struct.pack(">ffff", 1, 2, 3, 4))

    async def after() -> int:
        before = len(sink.samples())
        consumer._handle_datagram(memoryview(good), "10.1.1.1", 2, consumer._fast)
        consumer._fast.flush()
        return len(sink.samples()) - before

    assert asyncio.run(after()) == 4  # and it still decodes
