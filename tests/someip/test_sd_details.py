"""SD header details vsomeip relies on: the reboot flag after a start."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.someip.conftest import PEER, ROOT, write_manifest

pytestmark = pytest.mark.netns


def _listen(netns, seconds: float, count: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [*netns.exec_prefix(netns.ns_b), sys.executable, str(PEER.with_name("sd_listener.py")), netns.ip_b,
         str(seconds), str(count)],
        stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )  # fmt: skip
    assert proc.stdout.readline().strip() == "ready"
    return proc


def _offers(peers, tmp_path, netns, fixes_off: str) -> list:
    listener = _listen(netns, 15, 3)
    os.environ["VMW_SOMEIPY_FIXES_OFF"] = fixes_off
    try:
        peers("provide", write_manifest(tmp_path), "a")  # cyclic offers every 0.2 s
    finally:
        del os.environ["VMW_SOMEIPY_FIXES_OFF"]
    out, _ = listener.communicate(timeout=30)
    offers = [json.loads(line) for line in out.splitlines() if "Offer" in line]
    assert len(offers) >= 3, out
    return offers


def test_offers_after_a_start_carry_the_reboot_flag(peers, tmp_path, netns):
    offers = _offers(peers, tmp_path, netns, "")
    assert all(flags & 0x80 for flags, _, _ in offers), offers  # reboot flag: session ids not wrapped yet
    sessions = [s for _, s, _ in offers]
    assert sessions == sorted(sessions) and sessions[0] >= 1, sessions


def test_reboot_flag_is_missing_without_the_workaround(peers, tmp_path, netns):
    offers = _offers(peers, tmp_path, netns, "sd_reboot_flag")
    assert not any(flags & 0x80 for flags, _, _ in offers), offers


def _tcp_sessions(peers, tmp_path, netns, fixes_off: str) -> dict:
    manifest = write_manifest(
        tmp_path, protocol="tcp", fields=[], eventgroups=[{"id": 1, "events": [0x8001]}]
    )
    os.environ["VMW_SOMEIPY_FIXES_OFF"] = fixes_off
    try:
        provider = peers("provide", manifest, "a")
    finally:
        del os.environ["VMW_SOMEIPY_FIXES_OFF"]
    sub = subprocess.Popen(
        [*netns.exec_prefix(netns.ns_b), sys.executable, str(PEER.with_name("raw_subscriber.py")),
         netns.ip_b, netns.ip_a, "1", "1", "1", "3", "tcp"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )  # fmt: skip
    try:
        provider.cmd("wait_subscribed", timeout=5)
    except AssertionError:
        sub.kill()
        raise AssertionError(sub.communicate()) from None
    provider.cmd("send", event="wheel_speeds", values=[{"fl": 1, "fr": 2, "rl": 3, "rr": 4}] * 5)
    out, err = sub.communicate(timeout=20)
    assert sub.returncode == 0, err
    return json.loads(out)


def test_tcp_events_through_the_daemon_count_their_session_ids(peers, tmp_path, netns):
    got = _tcp_sessions(peers, tmp_path, netns, "")
    assert got["sessions"] == [1, 2, 3, 4, 5], got


def test_tcp_events_all_session_1_without_the_workaround(peers, tmp_path, netns):
    got = _tcp_sessions(peers, tmp_path, netns, "event_session_ids")
    assert got["sessions"] == [1] * 5, got


_FIND = """
import socket, sys, time
from vehicle_mw.someip import sd, wire
ip = sys.argv[1]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((ip, 30490))
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(ip))
s.settimeout(0.05)
find = sd.Entry(sd.FIND, 0x1234, 0xFFFF, 0xFF, 3, minor_version=0xFFFFFFFF)
t0 = time.monotonic()
s.sendto(sd.encode([find], unicast=False), ("224.224.224.245", 30490))
while time.monotonic() - t0 < 1.5:
    try:
        data, peer = s.recvfrom(65536)
    except TimeoutError:
        continue
    for m in wire.split(data):
        if isinstance(m, wire.Message) and sd.is_sd(m) and m.payload[0] & 0x40:
            if any(e.name == "Offer" for e in sd.decode(m.payload)):
                print(f"{time.monotonic() - t0:.3f}")
                sys.exit(0)
print("none")
"""


def _find(peers, tmp_path, netns, fixes_off: str) -> str:
    manifest = write_manifest(tmp_path, sd={"multicast_address": "224.224.224.245", "port": 30490, "ttl": 30,
                                            "cyclic_offer_delay_ms": 20000})  # fmt: skip
    os.environ["VMW_SOMEIPY_FIXES_OFF"] = fixes_off
    try:
        peers("provide", manifest, "a")
    finally:
        del os.environ["VMW_SOMEIPY_FIXES_OFF"]
    out = subprocess.run(
        [*netns.exec_prefix(netns.ns_b), sys.executable, "-c", _FIND, netns.ip_b],
        capture_output=True, text=True, timeout=20, env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_provider_answers_find_service_with_a_unicast_offer(peers, tmp_path, netns):
    answer = _find(peers, tmp_path, netns, "")
    assert answer != "none" and float(answer) < 1.0, answer  # not the next cyclic offer (20 s)


def test_find_service_unanswered_without_the_workaround(peers, tmp_path, netns):
    assert _find(peers, tmp_path, netns, "find_service") == "none"


def test_consumer_sends_find_service_when_it_starts(peers, tmp_path, netns):
    listener = subprocess.Popen(
        [*netns.exec_prefix(netns.ns_a), sys.executable, str(PEER.with_name("sd_listener.py")), netns.ip_a,
         "15", "1"],
        stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )  # fmt: skip
    assert listener.stdout.readline().strip() == "ready"
    peers("consume", write_manifest(tmp_path), "b")  # no provider: only a Find can be on the wire
    out, _ = listener.communicate(timeout=30)
    flags, _, names = json.loads(out.splitlines()[0])
    assert names and set(names) == {"Find"}, out
    assert flags & 0x80  # reboot flag
