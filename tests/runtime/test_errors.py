"""Bad input names its file and field, and costs only its own bus: the other buses keep running."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
import yaml
from runtime_rig import (
    GNSS_DBC,
    GNSS_TRACE,
    LocalGateway,
    expected_samples,
    stored_by_source,
    wait_until,
    write_manifests,
)

from vehicle_mw.manifest import ManifestError
from vehicle_mw.runtime import VehicleRuntime, load_deployment


def test_bad_machine_manifest_names_file_and_field(tmp_path):
    with LocalGateway(tmp_path) as gw:
        machine, channel = write_manifests(tmp_path, gw, [], deployment="t-bad")
    data = yaml.safe_load(machine.read_text())
    data["can"] = [
        {"name": "pt", "interface": "replay", "file": "x.log", "bitrate": -5, "colour": "red"},
        {"name": "body", "interface": "socketcan"},  # no channel
    ]
    machine.write_text(yaml.safe_dump(data))
    with pytest.raises(ManifestError) as exc:
        load_deployment(machine, channel)
    text = str(exc.value)
    assert f"{machine}: can[0].bitrate" in text and "can[0].colour: unknown key" in text
    assert "can[1]" in text and "needs 'channel'" in text
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "vehicle_mw",
            "vehicle",
            "run",
            "--machine",
            str(machine),
            "--channel",
            str(channel),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (
        out.returncode == 1
        and "vmw: error: invalid manifest" in out.stderr
        and "can[0].bitrate" in out.stderr
    )
    assert "Traceback" not in out.stderr


def test_missing_or_rejected_dbc_and_unopenable_bus_cost_only_their_bus(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="vehicle_mw.runtime")
    rejected = tmp_path / "broken.dbc"
    rejected.write_text(
        'VERSION ""\nBO_ 100 Msg: 8 ECU\n SG_ Sig : 0|8@1+ (1,0) [0|0] "" XX YY\nthis is not a dbc\n'
    )
    replay = {"interface": "replay", "file": str(GNSS_TRACE), "speed": 0}
    buses = [
        dict(replay, name="good", databases=[str(GNSS_DBC)]),
        dict(replay, name="nodbc", databases=[str(tmp_path / "missing.dbc")]),
        dict(replay, name="baddbc", databases=[str(rejected)]),
        {"name": "nodev", "interface": "socketcan", "channel": "vmwnodev0", "databases": [str(GNSS_DBC)]},
        dict(replay, name="nolog", file=str(tmp_path / "missing.log"), databases=[str(GNSS_DBC)]),
    ]
    expected = expected_samples(GNSS_TRACE, GNSS_DBC)
    with LocalGateway(tmp_path) as gw:
        machine, channel = write_manifests(tmp_path / "m", gw, buses, deployment="t-errors")
        rt = VehicleRuntime.from_manifests(machine, channel).start()
        try:
            wait_until(lambda: gw.sample_count() >= sum(expected.values()), 60, "the good bus's samples")
            wait_until(
                lambda: rt.counters()["decode"]["buses"]["baddbc"]["frames"] == 4024, 30, "bad-dbc frames"
            )
            wait_until(
                lambda: rt.counters()["can"]["buses"]["nodev"]["failures"] >= 1, 30, "the open failure"
            )
            wait_until(  # the stage logs a failure at its next poll, after the counter moved
                lambda: any("nodev): socketcan" in r.getMessage() for r in list(caplog.records)),
                30,
                "the open failure logged",
            )
            c = rt.counters()
        finally:
            rt.stop()
        assert stored_by_source(gw) == {0: expected}  # the good bus, complete; nothing from the others
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(
        f"{machine}: can[1].databases (nodbc)" in m and "missing.dbc: signal database not found" in m
        for m in messages
    )
    assert any(
        f"{machine}: can[2].databases (baddbc)" in m and "broken.dbc: cantools cannot load it" in m
        for m in messages
    )
    assert any(
        f"{machine}: can[3].interface (nodev): socketcan vmwnodev0 cannot be used" in m for m in messages
    )
    assert any(f"{machine}: can[4].file (nolog)" in m and "missing.log" in m for m in messages)
    assert c["decode"]["buses"]["nodbc"]["unknown_ids"] == 4024  # its frames still flow, counted
    assert c["can"]["buses"]["nolog"]["state"] == "failed" and c["can"]["buses"]["good"]["state"] == "done"
