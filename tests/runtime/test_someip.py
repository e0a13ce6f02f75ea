"""SOME/IP events from a provider in another network namespace reach the gateway with their VSS names."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest
from runtime_rig import query, wait_until

pytest.importorskip("someipy", reason="the someip extra (someipy) is not installed")

from tests.someip.conftest import Peer, write_manifest  # noqa: E402
from tests.someip.netns import NetnsPair  # noqa: E402

pytestmark = pytest.mark.netns
HERE = pathlib.Path(__file__).parent
WHEELS = {"fl": 1.5, "fr": 2.5, "rl": 3.5, "rr": 4.5}


@pytest.fixture
def netns():
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (ip netns add)")
    pair = NetnsPair("r").create()
    try:
        yield pair
    finally:
        pair.delete()


def test_someip_events_reach_the_gateway_with_vss_names(tmp_path, netns):
    service = write_manifest(tmp_path, protocol="udp")
    provider = Peer(
        [
            *netns.exec_prefix(netns.ns_a),
            sys.executable,
            str(HERE.parents[1] / "tests/someip/peer.py"),
            "provide",
            str(service),
            netns.ip_a,
        ],
        tmp_path,
    )
    vehicle = subprocess.Popen(
        [
            *netns.exec_prefix(netns.ns_b),
            sys.executable,
            str(HERE / "someip_vehicle.py"),
            str(tmp_path),
            str(service),
            netns.ip_b,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(HERE.parents[1]), TMPDIR=str(tmp_path)),
    )
    try:
        assert vehicle.stdout.readline().strip() == "ready"
        provider.cmd("wait_subscribed", timeout=20)
        database = tmp_path / "gateway.sqlite"  # written by the gateway inside the namespace

        def wheel_rows():
            return query(
                database,
                "SELECT signal_id, value FROM samples WHERE source_id = 7 AND signal_id BETWEEN 1001 AND 1004"
                " ORDER BY rowid",
            )

        def send_and_check() -> bool:
            provider.cmd("send", event="wheel_speeds", value=WHEELS)
            return len(wheel_rows()) >= 4

        wait_until(send_and_check, 30, "wheel speeds at the gateway")
        values = {sid: v for sid, v in wheel_rows()}
        assert values == {1001: 1.5, 1002: 2.5, 1003: 3.5, 1004: 4.5}
        names = dict(
            query(
                database, "SELECT signal_id, vss_path FROM signals WHERE source = 'someip:vehicle_dynamics'"
            )
        )
        assert names[1001] == "Vehicle.Chassis.Axle.Row1.Wheel.Left.Speed"
        assert names[1012] == "Vehicle.TraveledDistance"
    finally:
        vehicle.stdin.close()
        vehicle.wait(60)
        provider.close()
    assert vehicle.returncode == 0
