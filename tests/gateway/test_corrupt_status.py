"""The gateway stores ``VehicleStatus.corrupt`` (outbox samples lost to damaged records) and shows it.

End to end: a real outbox whose segment has one damaged record in the middle, a real Uplink, a real
gateway; the REST API reports the vehicle's corrupt count. And an existing database of the earlier
schema (no ``status.corrupt`` column) is migrated when the gateway opens it.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time

import numpy as np
from websockets.asyncio.client import connect as ws_connect

from vehicle_mw.channel import Uplink
from vehicle_mw.gateway import Gateway
from vehicle_mw.gateway.loadgen import WsVehicle, hello
from vehicle_mw.gateway.sqlite_schema import SCHEMA
from vehicle_mw.manifest.channel import ChannelConfig, OutboxConfig
from vehicle_mw.native.records import SAMPLE_DTYPE
from vehicle_mw.native.wire import columns_bytes
from vehicle_mw.store import Outbox
from vehicle_mw.store.segment import HEADER, TRAILER, encode_record, parse_segment
from vehicle_mw.v1 import link_pb2

from .helpers import http_json, local_config, operator_token, run

VEHICLE = "VIN-CORRUPT-01"
COUNTS = [5, 7, 11, 13, 17]  # samples per record; record 3 (11 samples) gets damaged


def samples(start: int, n: int) -> np.ndarray:
    s = np.zeros(n, SAMPLE_DTYPE)
    s["source_seq"] = np.arange(start, start + n)
    s["signal_id"] = 1
    s["timestamp_ns"] = 1_700_000_000_000_000_000 + s["source_seq"] * 1000
    s["value"] = s["source_seq"] * 0.5
    return s


def damaged_outbox(folder) -> int:
    """An outbox folder with one segment whose record 3 has a flipped payload bit; its sample count."""
    folder.mkdir()
    records, start = [], 0
    for seq, n in enumerate(COUNTS, 1):
        records.append(encode_record(seq, 0, columns_bytes(samples(start, n)), n))
        start += n
    data = bytearray(b"".join(records))
    victim = parse_segment(bytes(data)).records[2]
    data[victim.offset + HEADER.size + (victim.size - HEADER.size - TRAILER.size) // 2] ^= 0x04
    (folder / f"seg-{1:020d}.log").write_bytes(bytes(data))
    return COUNTS[2]


def test_corrupt_outbox_record_reaches_the_vehicle_api(tmp_path):
    cfg = local_config(tmp_path, allow_anonymous=True)
    token = operator_token(cfg.database, "viewer")
    lost = damaged_outbox(tmp_path / "outbox")

    async def scenario():
        async with Gateway(cfg) as gw:
            channel = ChannelConfig(
                vehicle_id=VEHICLE,
                grpc_target=gw.grpc_target,
                websocket_url=gw.ws_url,
                outbox=OutboxConfig(directory=str(tmp_path / "outbox"), fsync="none"),
                status_interval_s=0.1,
                probe_interval_s=0.1,
            )
            box = Outbox(channel.outbox.directory, channel.outbox)
            assert box.stats().corrupt_records == lost  # the outbox itself saw the damage
            uplink = Uplink(channel, box)
            task = asyncio.create_task(uplink.run())
            try:
                deadline = time.monotonic() + 30
                status = None
                while time.monotonic() < deadline:
                    code, vehicles = await http_json(f"{gw.http_url}/api/vehicles", token=token)
                    assert code == 200
                    mine = [v for v in vehicles if v["vehicle_id"] == VEHICLE]
                    status = mine[0]["status"] if mine else None
                    if (
                        status is not None
                        and status["corrupt"] > 0
                        and mine[0]["samples"] == sum(COUNTS) - lost
                    ):
                        break
                    await asyncio.sleep(0.05)
                assert status is not None, "no status stored for the vehicle"
                assert status["corrupt"] == lost
                assert status["evicted"] == 0
                # the other records were delivered; the damaged one was announced as a gap, not waited for
                assert mine[0]["samples"] == sum(COUNTS) - lost
                code, fleet = await http_json(f"{gw.http_url}/api/fleet", token=token)
                live = next(f for f in fleet if f["vehicle_id"] == VEHICLE)
                assert live["acked_seq"] == len(COUNTS) and live["evicted"] == 0 and live["corrupt"] == lost
                async with ws_connect(
                    gw.http_url.replace("http://", "ws://") + "/api/live",
                    additional_headers={"authorization": f"Bearer {token}"},
                ) as feed:  # the dashboard's live feed carries it too
                    doc = json.loads(await asyncio.wait_for(feed.recv(), 10))
                assert next(x for x in doc["vehicles"] if x["vehicle_id"] == VEHICLE)["corrupt"] == lost
            finally:
                uplink.stop()
                await asyncio.wait_for(task, 10)
                box.close()

    run(scenario())


OLD_STATUS = """
CREATE TABLE status (
    key INTEGER PRIMARY KEY,
    vehicle_key INTEGER NOT NULL,
    ts_ns INTEGER NOT NULL,
    frames INTEGER NOT NULL,
    samples INTEGER NOT NULL,
    outbox_records INTEGER NOT NULL,
    outbox_bytes INTEGER NOT NULL,
    evicted INTEGER NOT NULL,
    transport TEXT NOT NULL,
    rtt_ms REAL NOT NULL,
    loss REAL NOT NULL
);
"""


def test_database_of_the_earlier_schema_gains_the_corrupt_column(tmp_path):
    cfg = local_config(tmp_path, allow_anonymous=True)
    conn = sqlite3.connect(cfg.database)
    conn.executescript(OLD_STATUS)  # as an earlier gateway created it ...
    conn.executescript(SCHEMA)  # ... with the other tables (IF NOT EXISTS leaves status as it was)
    conn.execute("INSERT INTO vehicles(vehicle_id, registered_ns) VALUES ('VIN-OLD', 1)")
    conn.execute(
        "INSERT INTO status(vehicle_key, ts_ns, frames, samples, outbox_records, outbox_bytes, evicted,"
        " transport, rtt_ms, loss) VALUES (1, 5, 10, 9, 1, 100, 2, 'grpc', 1.5, 0.0)"
    )
    conn.commit()
    assert "corrupt" not in {r[1] for r in conn.execute("PRAGMA table_info(status)")}
    conn.close()
    token = operator_token(cfg.database, "viewer")

    async def scenario():
        async with Gateway(cfg) as gw:
            code, vehicles = await http_json(f"{gw.http_url}/api/vehicles", token=token)
            assert code == 200
            old = next(v for v in vehicles if v["vehicle_id"] == "VIN-OLD")
            assert old["status"]["evicted"] == 2 and old["status"]["corrupt"] == 0  # a row from before
            # a new status with corrupt is stored next to the migrated rows
            v = await WsVehicle.connect(gw.ws_url)
            await v.open(hello("VIN-NEW"))
            await v.send(
                link_pb2.Uplink(status=link_pb2.VehicleStatus(ts_ns=7, corrupt=42, transport="websocket"))
            )
            deadline = time.monotonic() + 20
            new = None
            while time.monotonic() < deadline:
                _, vehicles = await http_json(f"{gw.http_url}/api/vehicles", token=token)
                new = next((x for x in vehicles if x["vehicle_id"] == "VIN-NEW" and x["status"]), None)
                if new is not None:
                    break
                await asyncio.sleep(0.05)
            assert new is not None and new["status"]["corrupt"] == 42
            # a corrupt count SQLite cannot hold is refused to that vehicle, as the other counters are
            await v.send(link_pb2.Uplink(status=link_pb2.VehicleStatus(ts_ns=8, corrupt=2**64 - 1)))
            err = await v.next()
            while err is not None and err.WhichOneof("msg") != "error":
                err = await v.next()
            assert err is not None and "VehicleStatus.corrupt" in err.error.message
            await v.close()

    run(scenario())
