"""TCP against a provider that behaves as vsomeip does (tests/someip/mini_tcp_provider.py).

vsomeip refuses (SubscribeNack) a TCP subscription whose endpoint has no connection yet,
resets its connections on StopOffer, and may offer UDP and TCP on separate ports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import yaml

from tests.someip.conftest import PEER, ROOT, write_manifest

pytestmark = pytest.mark.netns
MINI = PEER.with_name("mini_tcp_provider.py")


class Mini:
    def __init__(self, netns):
        self.proc = subprocess.Popen(
            [*netns.exec_prefix(netns.ns_a), sys.executable, str(MINI), netns.ip_a],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
        )
        assert self.proc.stdout.readline().strip() == "ready"

    def cmd(self, line: str) -> dict:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(10)


@pytest.fixture
def mini(netns):
    m = Mini(netns)
    yield m
    m.close()


def _consumer(peers, tmp_path, manifest, fixes_off: str):
    os.environ["VMW_SOMEIPY_FIXES_OFF"] = fixes_off
    try:
        return peers("consume", manifest, "b")
    finally:
        del os.environ["VMW_SOMEIPY_FIXES_OFF"]


def _events_after_return(peers, tmp_path, mini, fixes_off: str) -> tuple[dict, dict]:
    manifest = write_manifest(
        tmp_path, protocol="tcp", fields=[], eventgroups=[{"id": 1, "events": [0x8001]}]
    )
    consumer = _consumer(peers, tmp_path, manifest, fixes_off)
    consumer.cmd("wait_available")
    consumer.cmd("wait_subscribed")
    assert consumer.cmd("wait_samples", n=8, timeout=5)["ok"]  # events over the first connection
    mini.cmd("stop")  # StopOffer + RST of the connection
    consumer.cmd("wait_lost", timeout=5)
    before = consumer.cmd("wait_samples", n=0, timeout=0)["count"]
    mini.cmd("start")
    consumer.cmd("wait_available")
    got = consumer.cmd("wait_samples", n=before + 40, timeout=6)  # 10 events: a new connection and an Ack
    return got, mini.cmd("stats")


def test_tcp_consumer_reconnects_after_the_provider_returns(peers, tmp_path, netns, mini):
    got, stats = _events_after_return(peers, tmp_path, mini, "")
    assert got["ok"], (got["count"], stats)
    assert stats["connections"] == 2, stats  # one new connection after the return


def test_tcp_consumer_stays_disconnected_without_the_workaround(peers, tmp_path, netns, mini):
    got, stats = _events_after_return(peers, tmp_path, mini, "tcp_reconnect")
    assert not got["ok"] and stats["connections"] == 1, (got["count"], stats)


def _tcp_call(peers, tmp_path, mini, fixes_off: str):
    manifest = write_manifest(tmp_path, fields=[], eventgroups=[{"id": 1, "events": [0x8001]}])
    data = yaml.safe_load(manifest.read_text())
    for m in data["methods"]:
        m["protocol"] = "tcp"  # events on UDP port 30509, methods on TCP port 30510
    manifest.write_text(yaml.safe_dump(data))
    consumer = _consumer(peers, tmp_path, manifest, fixes_off)
    consumer.cmd("wait_available")
    consumer.cmd("wait_subscribed")
    return consumer


def test_tcp_method_goes_to_the_offered_tcp_port(peers, tmp_path, netns, mini):
    consumer = _tcp_call(peers, tmp_path, mini, "")
    t0 = time.monotonic()
    assert consumer.cmd("call", method="add", value={"a": 40, "b": 2}, timeout=5) == 42
    assert consumer.cmd("call", method="add", value={"a": 1, "b": 2}, timeout=5) == 3
    assert time.monotonic() - t0 < 5
    assert mini.cmd("stats")["calls"] == 2
    assert consumer.cmd("status", timeout=5)["active"]  # the daemon still answers


def test_tcp_method_to_the_udp_port_without_the_workaround(peers, tmp_path, netns, mini):
    consumer = _tcp_call(peers, tmp_path, mini, "tcp_method_endpoint")
    with pytest.raises(AssertionError, match="no response"):
        consumer.cmd("call", method="add", value={"a": 40, "b": 2}, timeout=2)
    assert mini.cmd("stats")["calls"] == 0


def _restarted_consumer_gets_events(peers, tmp_path, netns, fixes_off: str) -> dict:
    manifest = write_manifest(
        tmp_path, protocol="tcp", fields=[], eventgroups=[{"id": 1, "events": [0x8001]}]
    )
    provider = peers("provide", manifest, "a")
    first = _consumer(peers, tmp_path, manifest, fixes_off)
    first.cmd("wait_subscribed")
    first.close()  # the consumer side closes its connection: its local port is in TIME_WAIT for 60 s
    second = _consumer(peers, tmp_path, manifest, fixes_off)
    second.cmd("wait_available")
    for _ in range(30):  # until the new connection is up
        provider.cmd("send", event="wheel_speeds", value={"fl": 1, "fr": 2, "rl": 3, "rr": 4})
        got = second.cmd("wait_samples", n=4, timeout=0.2)
        if got["ok"]:
            break
    return got


def test_restarted_tcp_consumer_reconnects_from_the_same_port(peers, tmp_path, netns):
    assert _restarted_consumer_gets_events(peers, tmp_path, netns, "")["ok"]


def test_restarted_tcp_consumer_gets_nothing_without_the_workaround(peers, tmp_path, netns):
    assert not _restarted_consumer_gets_events(peers, tmp_path, netns, "tcp_client_port_reuse")["ok"]
