"""Committed JSON Schemas match the models; restbus ECUs need cycle times and known messages."""

import json
import pathlib

import can
import cantools
import pytest

from vehicle_mw.hil import HilError, RestbusEcu
from vehicle_mw.manifest.hil import SCHEMAS, SimulatedEcu

REPO = pathlib.Path(__file__).resolve().parents[2]


def _messages(path: str) -> dict:
    return {m.name: m for m in cantools.database.load_file(str(REPO / path)).messages}


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_committed_schema_equals_generated(name):
    committed = json.loads((REPO / "manifests/schemas" / f"{name}.schema.json").read_text())
    assert committed == SCHEMAS[name].model_json_schema(), "run: python -m vehicle_mw.manifest.hil"


def test_message_without_cycle_time_needs_cycle_ms():
    db = _messages("vehicle_mw/demo/data/gnss.dbc")
    with pytest.raises(HilError, match="gnss_speed' has no cycle time"):
        RestbusEcu(SimulatedEcu(name="Gnss", bus="b", messages=["gnss_speed"]), db, None)
    ecu = RestbusEcu(
        SimulatedEcu(name="Gnss", bus="b", messages=["gnss_speed"], cycle_ms={"gnss_speed": 10}), db, None
    )
    assert ecu.cycle_ms("gnss_speed") == 10


def test_unknown_message_and_signal_are_named():
    db = _messages("hil/dbc/body.dbc")
    with pytest.raises(HilError, match="message 'Nope' is not in the bus databases"):
        RestbusEcu(SimulatedEcu(name="BodyEcu", bus="b", messages=["Nope"]), db, None)
    with pytest.raises(HilError, match="does not send signal 'BodyStatus.Nope'"):
        RestbusEcu(SimulatedEcu(name="BodyEcu", bus="b", signals={"BodyStatus.Nope": 1}), db, None)


def test_restbus_sends_start_values_encoded_from_the_dbc():
    db = _messages("hil/dbc/body.dbc")
    cfg = SimulatedEcu(
        name="BodyEcu", bus="b", messages=["BodyStatus"], signals={"BodyStatus.AmbientTemp": 21.5}
    )
    with (
        can.Bus(interface="virtual", channel="vmw-hil-unit") as tx,
        can.Bus(interface="virtual", channel="vmw-hil-unit") as rx,
    ):
        ecu = RestbusEcu(cfg, db, tx).start()
        try:
            msg = rx.recv(2.0)
        finally:
            ecu.stop()
    assert msg is not None and msg.arbitration_id == 288
    decoded = db["BodyStatus"].decode(msg.data)
    assert decoded["AmbientTemp"] == 21.5 and decoded["VehicleSpeed"] == 0
