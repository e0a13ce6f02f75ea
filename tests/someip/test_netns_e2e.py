"""Provider and consumer as separate processes in two network namespaces, over UDP and TCP."""

from __future__ import annotations

import struct
import subprocess
import sys

import pytest

from tests.someip.conftest import write_manifest

pytestmark = pytest.mark.netns

WHEELS = {"fl": 1.5, "fr": 2.5, "rl": 3.5, "rr": 4.5}
STATUS = {"gear": -1, "brake": True, "odometer": 123456, "vin": "WVWZZZ1JZXW000001", "temps": [90, 91, 92]}


@pytest.fixture(params=["udp", "tcp"])
def pair(request, peers, tmp_path, netns):
    """A subscribed provider (namespace a) / consumer (namespace b) pair on one protocol."""
    manifest = write_manifest(tmp_path, protocol=request.param)
    provider = peers("provide", manifest, "a")
    consumer = peers("consume", manifest, "b")
    assert consumer.cmd("wait_available") == netns.ip_a  # discovery via SD multicast
    consumer.cmd("wait_subscribed")  # SubscribeAck for every eventgroup
    return provider, consumer, request.param


def test_events_decode_into_samples(pair):
    provider, consumer, _ = pair
    provider.cmd("send", event="wheel_speeds", value=WHEELS)
    provider.cmd("send", event="status", value=STATUS)
    # 1 initial field notification + 4 wheel signals + 4 status signals
    got = consumer.cmd("wait_samples", n=9)
    assert got["ok"], got
    values = got["values"]
    assert [values[str(i)] for i in (1001, 1002, 1003, 1004)] == [1.5, 2.5, 3.5, 4.5]
    assert (
        values["1010"] == -1 and values["1011"] is True and values["1012"] == 123456 and values["1013"] == 90
    )
    assert got["source_id"] == [7]
    assert got["seq"] == sorted(got["seq"]) and len(set(got["seq"])) == 3  # one sequence number per event
    assert all(ts > 1.6e18 for ts in got["ts"])  # CLOCK_REALTIME receive time, ns


def test_udp_events_take_the_raw_fast_path_tcp_the_daemon(pair):
    provider, consumer, protocol = pair
    for _ in range(20):  # until the provider's subscriber list (polled every 0.1 s) has the consumer
        provider.cmd("send", event="wheel_speeds", value=WHEELS)
        if protocol == "tcp" or provider.cmd("fast_sent"):
            break
    n = provider.cmd("fast_sent")
    provider.cmd("send", values=[WHEELS] * 50, event="wheel_speeds")
    assert provider.cmd("fast_sent") == (n + 50 if protocol == "udp" else 0)
    got = consumer.cmd("wait_samples", n=1 + 4 * 51)
    assert got["ok"], got


def test_methods_and_fields(pair):
    provider, consumer, _ = pair
    assert consumer.cmd("call", method="add", value={"a": 40, "b": 2}) == 42
    assert consumer.cmd("call", method="shout", value="hello") == "HELLO!"
    assert consumer.cmd("wait_field", field="mode", value=2) == 2  # initial value sent on subscribe
    assert consumer.cmd("get_field", field="mode") == 2
    assert consumer.cmd("set_field", field="mode", value=5) == 5
    assert provider.cmd("field_value", field="mode") == 5
    assert consumer.cmd("wait_field", field="mode", value=5) == 5  # notifier after the set
    provider.cmd("set_field", field="mode", value=7)
    assert consumer.cmd("wait_field", field="mode", value=7) == 7


def _send_until_received(provider, consumer, n: int, tries: int = 20) -> dict:
    """Send until ``n`` samples arrived: a TCP subscription is acknowledged before its
    connection is re-established (someipy reconnects up to 1 s later), so the first
    events after a return may find no connection."""
    for _ in range(tries):
        provider.cmd("send", event="wheel_speeds", value=WHEELS)
        got = consumer.cmd("wait_samples", n=n, timeout=0.5)
        if got["ok"]:
            return got
    raise AssertionError(f"no {n} samples after {tries} sends: {got}")


def test_stop_offer_then_return_resubscribes(pair):
    provider, consumer, _ = pair
    provider.cmd("stop_offer")
    assert consumer.cmd("wait_lost", timeout=5) == 1  # StopOffer, long before the 2 s TTL
    provider.cmd("start_offer")
    consumer.cmd("wait_available")
    consumer.cmd("wait_subscribed")
    _send_until_received(provider, consumer, 5)


def test_can_signals_reoffered_as_someip_events(pair):
    """Decoded CAN samples fed to the provider come out of the consumer as the same signals."""
    provider, consumer, _ = pair
    sent = provider.cmd("feed", samples=[[1001, 10.0], [1002, 20.0], [1003, 30.0], [1004, 40.0], [1020, 3]])
    assert sent == 2  # wheel_speeds event + mode field
    got = consumer.cmd("wait_samples", n=6)
    assert got["ok"], got
    assert [got["values"][str(i)] for i in (1001, 1002, 1003, 1004, 1020)] == [10.0, 20.0, 30.0, 40.0, 3]


def test_provider_fed_from_the_sample_ring(pair):
    provider, consumer, _ = pair
    assert provider.cmd("feed_ring", samples=[[1001, 11.0], [1004, 44.0]]) == 2
    got = consumer.cmd("wait_samples", n=5)  # initial mode + one wheel_speeds event
    assert got["ok"], got
    assert [got["values"][str(i)] for i in (1001, 1002, 1003, 1004)] == [11.0, 0.0, 0.0, 44.0]


@pytest.mark.parametrize("side", ["consumer", "provider"])
def test_a_dead_someipy_daemon_is_restarted_and_service_resumes(peers, tmp_path, netns, side):
    manifest = write_manifest(tmp_path)
    provider = peers("provide", manifest, "a")
    consumer = peers("consume", manifest, "b")
    consumer.cmd("wait_available")
    victim = consumer if side == "consumer" else provider
    victim.cmd("kill_daemon")
    assert victim.cmd("restarts", at_least=1) == 1  # restarted, offers/subscriptions sent again
    consumer.cmd("wait_available")
    consumer.cmd("wait_subscribed")
    provider.cmd("wait_subscribed")  # the provider's (new) daemon has the consumer: it serves methods
    _send_until_received(provider, consumer, 5)
    assert consumer.cmd("call", method="add", value={"a": 1, "b": 2}) == 3


def test_provider_crash_is_noticed_by_ttl_and_return_resubscribes(peers, tmp_path, netns):
    manifest = write_manifest(tmp_path)
    provider = peers("provide", manifest, "a")
    consumer = peers("consume", manifest, "b")
    consumer.cmd("wait_available")
    provider.kill()  # no StopOffer: only the TTL (2 s) tells
    assert consumer.cmd("wait_lost", timeout=6) == 1
    provider = peers("provide", manifest, "a")
    consumer.cmd("wait_available")
    consumer.cmd("wait_subscribed")
    provider.cmd("send", event="wheel_speeds", value=WHEELS)
    assert consumer.cmd("wait_samples", n=5)["ok"]


def _inject(netns, ns: str, dst: tuple[str, int], datagrams: list[bytes], src_port: int) -> None:
    code = (
        "import socket,sys,ast\n"
        "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
        f"s.bind(('{netns.ip_a}',{src_port}))\n"
        f"for d in ast.literal_eval(sys.stdin.read()): s.sendto(d, {dst!r})\n"
    )
    subprocess.run(
        [*netns.exec_prefix(ns), sys.executable, "-c", code],
        input=repr(datagrams).encode(),
        check=True,
        timeout=20,
    )


def test_malformed_input_is_counted_and_never_stops_the_consumer(peers, tmp_path, netns):
    from vehicle_mw.someip import wire

    manifest = write_manifest(tmp_path)
    provider = peers("provide", manifest, "a")
    consumer = peers("consume", manifest, "b")
    consumer.cmd("wait_available")
    consumer.cmd("wait_subscribed")
    good = wire.build(0x1234, 0x8001, struct.pack(">ffff", 1, 2, 3, 4))
    bad = [
        good[:4] + struct.pack(">I", 200) + good[8:],  # length field past the datagram
        good[:20],  # truncated: header says 24 payload bytes
        b"\x12\x34\x80",  # shorter than a header
        wire.build(0x4321, 0x8001, b"x"),  # unknown service
        wire.build(0x1234, 0x8FFF, b"x"),  # unknown event
        wire.build(0x1234, 0x8001, b"\x00" * 5),  # payload not a WheelSpeeds
        wire.build(0x1234, 0x8001, struct.pack(">ffff", 9, 9, 9, 9)) + good,  # two messages in one datagram
    ]
    _inject(netns, netns.ns_a, (netns.ip_b, 40000), bad, 30599)
    # bad SD to the consumer's daemon: an offer whose entries length runs past the datagram
    from vehicle_mw.someip import sd

    offer = sd.encode([sd.Entry(sd.OFFER, 0x7777, 1, 1, 3, options=[])])
    bad_sd = offer[:20] + struct.pack(">I", 0xFFFF) + offer[24:]
    _inject(netns, netns.ns_a, ("224.224.224.245", 30490), [bad_sd], 30598)
    got = consumer.cmd("wait_samples", n=9)  # initial mode + 2 x 4 wheel signals from the last datagram
    assert got["ok"], got
    stats = consumer.cmd("stats")["dropped"]
    peer = netns.ip_a
    for reason in ("malformed", "unknown service", "unknown event", "decode error"):
        assert stats.get(f"{peer}|{reason}", 0) >= 1, (reason, stats)
    assert stats[f"{peer}|malformed"] == 3
    status = consumer.cmd("status")
    assert status["sd_errors"].get(peer, 0) >= 1, status
    # still alive and decoding
    provider.cmd("send", event="wheel_speeds", value=WHEELS)
    assert consumer.cmd("wait_samples", n=13)["ok"]


def _multicast_run(peers, tmp_path, netns, fixes_off: str) -> dict:
    import os
    import subprocess

    from tests.someip.conftest import PEER, ROOT

    manifest = write_manifest(tmp_path, fields=[], eventgroups=[{"id": 1, "events": [0x8001, 0x8002]}])
    mini = subprocess.Popen(
        [*netns.exec_prefix(netns.ns_a), sys.executable, str(PEER.with_name("mini_provider.py")), netns.ip_a,
         "239.7.7.7", "30600"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )  # fmt: skip
    try:
        assert mini.stdout.readline().strip() == "ready"
        os.environ["VMW_SOMEIPY_FIXES_OFF"] = fixes_off
        try:
            consumer = peers("consume", manifest, "b")
        finally:
            del os.environ["VMW_SOMEIPY_FIXES_OFF"]
        consumer.cmd("wait_available")
        consumer.cmd("wait_subscribed")
        got = consumer.cmd("wait_samples", n=8, timeout=3)
        got["multicast"] = consumer.cmd("status")["multicast"]
        return got
    finally:
        mini.stdin.close()
        mini.wait(10)


def test_multicast_eventgroup_is_received(peers, tmp_path, netns):
    got = _multicast_run(peers, tmp_path, netns, "")
    assert got["ok"], got
    assert got["values"]["1002"] == 2.0
    assert got["multicast"] == [[0x1234, 0x5678, 1, "239.7.7.7", 30600]]


def test_multicast_eventgroup_is_lost_without_the_workaround(peers, tmp_path, netns):
    got = _multicast_run(peers, tmp_path, netns, "multicast_eventgroups")
    assert not got["ok"] and got["count"] == 0 and got["multicast"] == []
