"""Captures of someipy/vsomeip interop parsed by vehicle_mw's SOME/IP and SD readers, cross-checked with
tshark; packets vehicle_mw produces checked by tshark's SOME/IP dissector."""

from __future__ import annotations

import collections
import shutil
import struct
import subprocess

import pytest

from tests.someip import pcap
from vehicle_mw.someip import sd, wire

pytestmark = pytest.mark.skipif(
    shutil.which("tshark") is None, reason="tshark not installed (apt install tshark)"
)

CAPTURES = [
    "someipy_2.1.2_unhashable_Method_no_SubscribeAck.pcap",
    "someipy_tcp_event_option_order_flaky.pcap",
    "someipy_tcp_event_to_vsomeip_ok.pcap",
    "someipy_tcp_method_option_order_flaky.pcap",
    "vsomeip_multicast_eventgroup_not_received_by_someipy.pcap",
    "vsomeip_someipy_interop.pcap",
]


def _tshark(*args: str) -> list[list[str]]:
    out = subprocess.run(["tshark", *args], capture_output=True, text=True, check=True, timeout=60).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def _sd_entries(path) -> list[tuple[str, sd.Entry]]:
    out = []
    for packet in pcap.read(path):
        if packet.proto != "udp" or 30490 not in (packet.src[1], packet.dst[1]):
            continue
        for message in wire.split(packet.payload):
            assert isinstance(message, wire.Message), message
            assert sd.is_sd(message)
            out.extend((packet.src[0], entry) for entry in sd.decode(message.payload))
    return out


@pytest.mark.parametrize("name", CAPTURES)
def test_sd_entries_match_tshark(shared_data, name):
    path = shared_data / "someip-interop" / name
    ours = collections.Counter((src, f"0x{e.type:02x}", str(e.ttl)) for src, e in _sd_entries(path))
    theirs = collections.Counter()
    for src, types, ttls in _tshark(
        "-r",
        str(path),
        "-d",
        "udp.port==30490,someip",
        "-Y",
        "someipsd",
        "-T",
        "fields",
        "-e",
        "ip.src",
        "-e",
        "someipsd.entry.type",
        "-e",
        "someipsd.entry.ttl",
    ):
        for t, ttl in zip(types.split(","), ttls.split(","), strict=True):
            theirs[(src, t, ttl)] += 1
    assert ours == theirs and sum(ours.values()) > 0


def test_unhashable_method_capture_shows_no_subscribe_ack(shared_data):
    entries = _sd_entries(
        shared_data / "someip-interop" / "someipy_2.1.2_unhashable_Method_no_SubscribeAck.pcap"
    )
    names = collections.Counter(e.name for _, e in entries)
    assert names["Subscribe"] > 0 and names["Offer"] > 0 and names["SubscribeAck"] == 0


def test_option_order_capture_offers_udp_and_tcp_endpoints(shared_data):
    entries = _sd_entries(shared_data / "someip-interop" / "someipy_tcp_event_option_order_flaky.pcap")
    offers = [e for _, e in entries if e.name == "Offer"]
    protocols = {tuple(o.protocol for o in e.options) for e in offers}
    assert any(set(p) == {sd.UDP, sd.TCP} for p in protocols), protocols
    ports = {(o.protocol, o.port) for e in offers for o in e.options}
    assert len({port for _, port in ports}) >= 1 and {p for p, _ in ports} == {sd.UDP, sd.TCP}


def test_event_messages_in_captures_parse(shared_data):
    """Every non-SD UDP datagram splits into whole SOME/IP messages (some carry several)."""
    count = 0
    for name in CAPTURES:
        for packet in pcap.read(shared_data / "someip-interop" / name):
            if packet.proto == "udp" and 30490 not in (packet.src[1], packet.dst[1]) and packet.payload:
                items = list(wire.split(packet.payload))
                assert all(isinstance(i, wire.Message) for i in items), (name, items)
                count += len(items)
    assert count > 0


def test_packets_we_produce_pass_tshark_dissector(tmp_path):
    from tests.someip.conftest import EXAMPLE
    from vehicle_mw.manifest import load_manifest
    from vehicle_mw.manifest.someip import SomeIpService
    from vehicle_mw.someip.codec import build_codec

    service = load_manifest(EXAMPLE, SomeIpService)
    wheels = build_codec("WheelSpeeds", service.types).encode({"fl": 1, "fr": 2, "rl": 3, "rr": 4})
    event = wire.build(0x1234, 0x8001, wheels, session_id=7)
    request = wire.build(
        0x1234, 0x0001, struct.pack(">ii", 40, 2), client_id=0x1001, session_id=3, message_type=wire.REQUEST
    )
    offer = sd.encode(
        [
            sd.Entry(
                sd.OFFER,
                0x1234,
                0x5678,
                1,
                3,
                minor_version=0,
                options=[
                    sd.Option(sd.OPTION_IPV4_ENDPOINT, "10.0.0.1", sd.UDP, 30509),
                    sd.Option(sd.OPTION_IPV4_ENDPOINT, "10.0.0.1", sd.TCP, 30510),
                ],
            )
        ]
    )
    path = tmp_path / "ours.pcap"
    pcap.write_udp(
        path,
        [
            (("10.0.0.1", 30509), ("10.0.0.2", 40000), event + event),
            (("10.0.0.2", 40001), ("10.0.0.1", 30509), request),
            (("10.0.0.1", 30490), ("224.224.224.245", 30490), offer),
        ],
    )
    rows = _tshark(
        "-r",
        str(path),
        "-d",
        "udp.port==30509,someip",
        "-d",
        "udp.port==30490,someip",
        "-T",
        "fields",
        "-e",
        "someip.serviceid",
        "-e",
        "someip.methodid",
        "-e",
        "someip.length",
        "-e",
        "someip.messagetype",
        "-e",
        "someipsd.entry.type",
        "-e",
        "someipsd.option.port",
        "-e",
        "_ws.expert.severity",
    )
    assert rows[0][:4] == ["0x1234,0x1234", "0x8001,0x8001", "24,24", "0x02,0x02"]
    assert rows[1][:4] == ["0x1234", "0x0001", "16", "0x00"]
    assert rows[2][4] == "0x01" and rows[2][5] == "30509,30510"
    malformed = _tshark(
        "-r",
        str(path),
        "-d",
        "udp.port==30509,someip",
        "-d",
        "udp.port==30490,someip",
        "-Y",
        "_ws.malformed || _ws.expert.severity >= 6291456",
        "-T",
        "fields",
        "-e",
        "frame.number",
    )
    assert malformed == [], f"tshark flags frames {malformed} as malformed/warning"
