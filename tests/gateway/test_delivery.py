"""Delivery contract: ack only after commit, dedup by (vehicle, seq) across sessions, resume, gaps."""

from __future__ import annotations

import sqlite3
import zlib

from vehicle_mw.gateway import Gateway
from vehicle_mw.gateway.loadgen import GrpcVehicle, WsVehicle, batch, hello
from vehicle_mw.v1 import link_pb2

from .helpers import local_config, run

V = "VIN-DELIVERY-1"


def stored(db, vehicle=V) -> list[int]:
    conn = sqlite3.connect(db)
    try:
        return [
            r[0]
            for r in conn.execute(
                "SELECT s.source_seq FROM samples s JOIN vehicles v ON v.key=s.vehicle_key"
                " WHERE v.vehicle_id=? ORDER BY s.source_seq",
                (vehicle,),
            )
        ]
    finally:
        conn.close()


def numbered(seq: int, per: int = 10):
    first = (seq - 1) * per + 1
    return batch(
        seq, [1] * per, [float(i) for i in range(first, first + per)], list(range(first, first + per))
    )


def test_ack_follows_commit_and_resends_are_dropped(tmp_path):
    cfg = local_config(tmp_path, allow_anonymous=True)
    db = cfg.database

    async def scenario():
        async with Gateway(cfg) as gw:
            v = await WsVehicle.connect(gw.ws_url)
            assert (await v.open(hello(V))).welcome.acked_seq == 0
            for seq in (1, 2, 3):
                await v.send(numbered(seq))
            assert await v.wait_ack(3) == 3
            # the ack came after the commit: another connection already sees the rows
            assert stored(db) == list(range(1, 31))
            await v.close()

            # a new session over the other transport resumes, then resends 2..4 (2, 3 already stored)
            g = await GrpcVehicle.connect(gw.grpc_target)
            welcome = (await g.open(hello(V, resume_after_seq=1, transport="grpc"))).welcome
            assert welcome.acked_seq == 3
            for seq in (2, 3, 4):
                await g.send(numbered(seq))
            assert await g.wait_ack(4) == 4
            await g.close()
            assert gw.core.vehicles[V].duplicates == 2
        # a restarted gateway still knows what is stored
        async with Gateway(cfg) as gw:
            v = await WsVehicle.connect(gw.ws_url)
            assert (await v.open(hello(V))).welcome.acked_seq == 4
            await v.send(numbered(4))
            await v.send(numbered(5))
            assert await v.wait_ack(5) == 5
            await v.close()
        assert stored(db) == list(range(1, 51))

    run(scenario())


def test_gap_holds_the_watermark_until_filled(tmp_path):
    cfg = local_config(tmp_path, allow_anonymous=True)

    async def scenario():
        async with Gateway(cfg) as gw:
            v = await WsVehicle.connect(gw.ws_url)
            await v.open(hello(V))
            await v.send(numbered(1))
            await v.send(numbered(3))
            assert await v.wait_ack(1) == 1
            down = await v.next()
            assert down.ack.acked_seq == 1  # 3 is durable, but 2 is missing
            await v.send(numbered(2))
            assert await v.wait_ack(3) == 3
            await v.close()
        assert stored(cfg.database) == list(range(1, 31))

    run(scenario())


def test_catalog_compression_and_named_series(tmp_path):
    cfg = local_config(tmp_path, allow_anonymous=True)
    catalog = link_pb2.Catalog(
        hash=b"h1",
        signals=[
            link_pb2.SignalInfo(
                id=7, name="GPS.Speed", unit="km/h", kind=link_pb2.VALUE_KIND_F64, source="can:pt"
            ),
        ],
    )
    cols = link_pb2.SampleColumns(
        signal_id=[7] * 3,
        source_id=[1] * 3,
        source_ts_ns=[10, 20, 30],
        source_seq=[1, 2, 3],
        value=[1.5, 2.5, 3.5],
    )
    packed = link_pb2.Uplink(
        batch=link_pb2.SampleBatch(
            seq=1,
            compression=link_pb2.COMPRESSION_ZLIB,
            compressed_columns=zlib.compress(cols.SerializeToString()),
        )
    )

    async def scenario():
        from .helpers import http_json, operator_token

        token = operator_token(cfg.database, "viewer")
        async with Gateway(cfg) as gw:
            v = await WsVehicle.connect(gw.ws_url)
            welcome = (await v.open(hello(V, catalog_hash=b"h1"))).welcome
            assert welcome.catalog_known is False
            await v.send(packed)  # batch before catalog: refused
            err = await v.next()
            assert err.error.code == link_pb2.Error.UNKNOWN_CATALOG
            await v.close()

            v = await WsVehicle.connect(gw.ws_url)
            assert (await v.open(hello(V, catalog_hash=b"h1"))).welcome.catalog_known is False
            await v.send(link_pb2.Uplink(catalog=catalog))
            await v.send(packed)
            assert await v.wait_ack(1) == 1
            await v.close()
            v = await WsVehicle.connect(gw.ws_url)
            assert (await v.open(hello(V, catalog_hash=b"h1"))).welcome.catalog_known is True
            await v.close()

            status, series = await http_json(
                f"{gw.http_url}/api/vehicles/{V}/series?signal=GPS.Speed", token=token
            )
            assert status == 200 and series["points"] == [[10, 1.5], [20, 2.5], [30, 3.5]]
            status, _ = await http_json(f"{gw.http_url}/api/vehicles/{V}/series?signal=Nope", token=token)
            assert status == 404

    run(scenario())


def test_evicted_batches_do_not_stall_the_watermark(tmp_path):
    cfg = local_config(tmp_path, allow_anonymous=True)

    async def scenario():
        async with Gateway(cfg) as gw:
            v = await WsVehicle.connect(gw.ws_url)
            await v.open(hello(V))
            await v.send(numbered(1))
            after_gap = numbered(4)
            after_gap.batch.evicted_batches_before = 2  # the outbox evicted 2 and 3
            await v.send(after_gap)
            assert await v.wait_ack(4) == 4
            await v.close()
        async with Gateway(cfg) as gw:  # the skip is remembered
            v = await WsVehicle.connect(gw.ws_url)
            assert (await v.open(hello(V))).welcome.acked_seq == 4
            await v.close()
        assert stored(cfg.database) == list(range(1, 11)) + list(range(31, 41))

    run(scenario())


def test_one_session_per_transport_at_once(tmp_path):
    """The channel keeps its standby link open: gRPC + WebSocket coexist; a reconnect supersedes."""
    cfg = local_config(tmp_path, allow_anonymous=True)

    async def scenario():
        async with Gateway(cfg) as gw:
            ws = await WsVehicle.connect(gw.ws_url)
            await ws.open(hello(V))
            rpc = await GrpcVehicle.connect(gw.grpc_target)
            await rpc.open(hello(V, transport="grpc"))
            await ws.send(numbered(1))
            assert await ws.wait_ack(1) == 1
            assert await rpc.wait_ack(1) == 1  # acks go to every link of the vehicle
            await rpc.send(numbered(2))  # the switch: data moves to gRPC
            await rpc.send(numbered(1))  # a resend over the new link is dropped
            assert await rpc.wait_ack(2) == 2
            assert await ws.wait_ack(2) == 2  # the standby link is still open
            assert gw.core.vehicles[V].session.transport == "grpc"

            ws2 = await WsVehicle.connect(gw.ws_url)  # reconnect over WebSocket
            await ws2.open(hello(V))
            assert await ws.next() is None  # the old WebSocket session is closed
            await ws2.send(numbered(3))
            assert await ws2.wait_ack(3) == 3
            for v in (ws2, rpc):
                await v.close()
        assert stored(cfg.database) == list(range(1, 31))

    run(scenario())
