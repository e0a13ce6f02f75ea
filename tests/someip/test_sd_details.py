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
