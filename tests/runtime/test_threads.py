"""Threads mode from manifests only: two replayed buses reach the gateway, each value exactly once."""

from __future__ import annotations

from runtime_rig import (
    GNSS_DBC,
    GNSS_TRACE,
    LocalGateway,
    duplicates,
    expected_samples,
    shm_segments,
    stored_by_source,
    wait_until,
    write_manifests,
)

from vehicle_mw.runtime import VehicleRuntime


def test_two_replayed_buses_deliver_every_value_once(tmp_path):
    expected = expected_samples(GNSS_TRACE, GNSS_DBC)
    total = sum(expected.values())
    bus = {"interface": "replay", "file": str(GNSS_TRACE), "speed": 0, "databases": [str(GNSS_DBC)]}
    with LocalGateway(tmp_path) as gw:
        machine, channel = write_manifests(
            tmp_path / "m",
            gw,
            [dict(bus, name="a", vss={"gnss_speed.Speed": "Vehicle.Speed"}), dict(bus, name="b")],
            deployment="t-threads",
        )
        rt = VehicleRuntime.from_manifests(machine, channel).start()
        try:
            wait_until(lambda: gw.sample_count() >= 2 * total, 60, "all samples at the gateway")
            counters = rt.counters()
        finally:
            rt.stop()
        assert stored_by_source(gw) == {0: expected, 1: expected}
        assert duplicates(gw) == 0
        vss = dict(gw.query("SELECT name, vss_path FROM signals WHERE vss_path != ''"))
        assert vss == {"gnss_speed.Speed": "Vehicle.Speed"}
    assert counters["decode"]["buses"]["a"]["samples"] == total
    assert counters["can"]["buses"]["b"]["frames"] > 0
    assert shm_segments("t-threads") == []
