"""From manifests only: two buses replaying real recorded traces deliver every value cantools decodes
from them to the gateway, with cantools' value, exactly once."""

from __future__ import annotations

import math

from runtime_rig import LocalGateway, duplicates, expected_values, stored_values, wait_until, write_manifests

from vehicle_mw.runtime import VehicleRuntime

TRACES = [  # (trace, dbc) under ../shared/data: a multiplexed VW bus and a Toyota bus
    ("eldominio-canbuslogs/audia2_mk/noecu.trc", "opendbc/dbc/vw_pq.dbc"),
    ("eldominio-canbuslogs/Yaris_09/revstockecu.trc", "eldominio-canbuslogs/Yaris_09/toyota_iQ_2009_can.dbc"),
]


def test_two_real_traces_every_decodable_value_once(tmp_path, shared_data):
    buses, expected = [], []
    for i, (trace, dbc) in enumerate(TRACES):
        t, d = shared_data / trace, shared_data / dbc
        buses.append(
            {
                "name": f"bus{i}",
                "interface": "replay",
                "file": str(t),
                "speed": 0,
                "databases": [str(d)],
                "strict": False,
            }
        )
        expected.append(expected_values(t, d, strict=False))
    assert all(len(e) > 1000 for e in expected)
    with LocalGateway(tmp_path) as gw:
        machine, channel = write_manifests(tmp_path / "m", gw, buses, deployment="t-real")
        rt = VehicleRuntime.from_manifests(machine, channel).start()
        try:
            wait_until(
                lambda: all(c["state"] == "done" for c in rt.counters()["can"]["buses"].values()),
                60,
                "replays",
            )
        finally:
            rt.stop()  # drains every ring into the outbox and the outbox to the gateway
        assert duplicates(gw) == 0
        for source_id, want in enumerate(expected):
            got = stored_values(gw, source_id)
            missing = [k for k in want if k not in got]
            assert not missing, f"bus {source_id}: {len(missing)} values missing, e.g. {missing[:3]}"
            wrong = [
                (k, want[k], got[k])
                for k in want
                if not math.isclose(got[k], want[k], rel_tol=1e-9, abs_tol=1e-12)
            ]
            assert not wrong, f"bus {source_id}: values differ from cantools, e.g. {wrong[:3]}"
