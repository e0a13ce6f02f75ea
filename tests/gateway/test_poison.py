"""Hostile or unusual values (issue #12, items 4-6, 9): refused to their vehicle alone, or stored as they are.

Each scenario runs a second, well-behaved vehicle alongside and asserts it keeps getting acks.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import math
import sqlite3
import zlib

import pytest

from vehicle_mw.gateway import Gateway
from vehicle_mw.gateway.errors import TokenError
from vehicle_mw.gateway.loadgen import GrpcVehicle, WsVehicle, batch, hello
from vehicle_mw.gateway.queries import SqliteQueries
from vehicle_mw.gateway.sqlite_sink import SqliteSink, real_value
from vehicle_mw.gateway.tokens import verify_token
from vehicle_mw.manifest.gateway import GatewayLimits
from vehicle_mw.v1 import link_pb2

from .helpers import local_config, run
from .test_delivery import numbered, stored

Code = link_pb2.Error.Code
GOOD = "VIN-GOOD"


async def refused(v, up: link_pb2.Uplink) -> link_pb2.Error:
    await v.send(up)
    while True:
        down = await v.next()
        assert down is not None, "connection closed without an Error"
        if down.WhichOneof("msg") == "error":
            return down.error


async def still_acked(good, seq: int) -> None:
    await good.send(numbered(seq))
    assert await good.wait_ack(seq) == seq


def test_nan_inf_stored_and_unstorable_values_refused_alone(tmp_path):
    cfg = local_config(tmp_path, allow_anonymous=True)

    async def scenario():
        async with Gateway(cfg) as gw:
            good = await WsVehicle.connect(gw.ws_url)
            await good.open(hello(GOOD))
            await still_acked(good, 1)

            v = await GrpcVehicle.connect(gw.grpc_target)
            await v.open(hello("VIN-NAN"))
            await v.send(
                batch(1, [7, 7, 7, 7], [math.nan, math.inf, -math.inf, 1.5], [1, 2, 3, 4], [1, 2, 3, 4])
            )
            assert await v.wait_ack(1) == 1, "a NaN sample must be stored and acknowledged"
            ev = link_pb2.LinkEvent(ts_ns=5, to_transport="grpc", rtt_ms=math.nan, loss=math.inf)
            await v.send(link_pb2.Uplink(link_event=ev))
            await v.send(link_pb2.Uplink(status=link_pb2.VehicleStatus(ts_ns=6, rtt_ms=math.nan)))
            await v.send(numbered(2))
            assert await v.wait_ack(2) == 2  # the NaN link event and status did not end the session
            await v.close()
            await still_acked(good, 2)

            cases = [
                (batch(1, [1], [1.0], [2**64 - 1]), "column source_seq"),
                (batch(1, [1], [1.0], [1], [2**63]), "column source_ts_ns"),
                (link_pb2.Uplink(status=link_pb2.VehicleStatus(frames=2**64 - 1)), "VehicleStatus.frames"),
                (link_pb2.Uplink(link_event=link_pb2.LinkEvent(ts_ns=2**64 - 1)), "LinkEvent.ts_ns"),
            ]
            for n, (up, text) in enumerate(cases):
                bad = await WsVehicle.connect(gw.ws_url)
                await bad.open(hello(f"VIN-BAD-{n}"))
                err = await refused(bad, up)
                assert err.code == Code.MALFORMED and text in err.message, err
                await bad.close()
                await still_acked(good, 3 + n)
            await good.close()

        db = sqlite3.connect(cfg.database)
        try:
            rows = db.execute(
                "SELECT s.value FROM samples s JOIN vehicles v ON v.key=s.vehicle_key"
                " WHERE v.vehicle_id='VIN-NAN' AND s.signal_id=7 ORDER BY s.ts_ns"
            ).fetchall()
            nan, pinf, ninf, plain = (real_value(r[0]) for r in rows)
            assert math.isnan(nan) and pinf == math.inf and ninf == -math.inf and plain == 1.5
            (rtt, loss) = db.execute("SELECT rtt_ms, loss FROM link_events").fetchone()
            assert math.isnan(real_value(rtt)) and loss == math.inf
        finally:
            db.close()
        queries = SqliteQueries(cfg.database)
        try:
            points = queries.series("VIN-NAN", 7, None, None, 100)["points"]
            assert [p[1] for p in points] == ["NaN", "Infinity", "-Infinity", 1.5]
            assert [float(p[1]) for p in points][1:] == [math.inf, -math.inf, 1.5]
            agg = queries.series("VIN-NAN", 7, None, None, 1)["points"]  # NaN is left out of min/avg/max
            assert agg[0][2:] == ["-Infinity", "Infinity"]
        finally:
            queries.close()
        assert stored(cfg.database, GOOD) == list(range(1, 61))

    run(scenario())


def test_signal_ids_outside_the_catalog_are_refused(tmp_path):
    cfg = local_config(tmp_path, allow_anonymous=True)
    catalog = link_pb2.Catalog(hash=b"c1", signals=[link_pb2.SignalInfo(id=1, name="speed")])

    async def scenario():
        async with Gateway(cfg) as gw:
            good = await WsVehicle.connect(gw.ws_url)
            await good.open(hello(GOOD))
            v = await WsVehicle.connect(gw.ws_url)
            await v.open(hello("VIN-CAT", catalog_hash=b"c1"))
            await v.send(link_pb2.Uplink(catalog=catalog))
            await v.send(numbered(1))  # signal 1: declared
            assert await v.wait_ack(1) == 1
            err = await refused(v, batch(2, [1, 99, 42], [1.0, 2.0, 3.0], [11, 12, 13]))
            assert err.code == Code.MALFORMED and "not in the vehicle's catalog: 42, 99" in err.message
            await v.close()
            await still_acked(good, 1)
            # the catalog is remembered: a reconnect with catalog_known is checked too
            again = await WsVehicle.connect(gw.ws_url)
            assert (
                await again.open(hello("VIN-CAT", resume_after_seq=1, catalog_hash=b"c1"))
            ).welcome.catalog_known
            err = await refused(again, batch(2, [5], [1.0], [14]))
            assert "not in the vehicle's catalog: 5" in err.message
            await again.close()
            assert gw.core.vehicles["VIN-CAT"].unknown_signals == 4
            await still_acked(good, 2)
            await good.close()
        assert stored(cfg.database, "VIN-CAT") == list(range(1, 11))

    run(scenario())


def test_one_failing_write_in_a_group_commit_fails_alone(tmp_path):
    """Writes that reach the sink unvalidated: the group is retried one by one, only the culprit fails."""
    db = tmp_path / "gw.sqlite"

    async def scenario():
        sink = SqliteSink(db, "normal")
        await sink.start()
        try:
            await sink.register_vehicle("A", "t")
            blocker = sqlite3.connect(db, isolation_level=None)
            blocker.execute("BEGIN IMMEDIATE")  # the writer waits, so both writes land in one group
            good = numbered(1).batch
            poison = batch(1, [1], [1.0], [2**64 - 1]).batch
            f_good = sink.write_batch("A", good, good.columns)
            f_bad = sink.write_batch("B", poison, poison.columns)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while sink._queue.qsize() < 2 and loop.time() < deadline:  # both queued behind the lock
                await asyncio.sleep(0.01)
            blocker.execute("ROLLBACK")
            blocker.close()
            assert await asyncio.wait_for(f_good, 30) is True
            with pytest.raises(Exception, match="too large"):
                await asyncio.wait_for(f_bad, 30)
        finally:
            await sink.stop()
        assert stored(db, "A") == list(range(1, 11))

    run(scenario())


def test_decompression_bomb_and_oversized_batches_are_refused_before_allocating(tmp_path):
    limits = GatewayLimits(max_batch_samples=1000, max_decompressed_bytes=1 << 20)
    cfg = local_config(tmp_path, allow_anonymous=True, limits=limits)

    async def scenario():
        async with Gateway(cfg) as gw:
            good = await WsVehicle.connect(gw.ws_url)
            await good.open(hello(GOOD))
            bomb = link_pb2.SampleBatch(
                seq=1,
                compression=link_pb2.COMPRESSION_ZLIB,
                compressed_columns=zlib.compress(b"\0" * (64 << 20), 9),
            )
            assert len(bomb.SerializeToString()) < 128 * 1024
            too_many = batch(1, [1] * 1001, [0.0] * 1001, list(range(1, 1002)))
            for n, (up, code, text) in enumerate(
                [
                    (link_pb2.Uplink(batch=bomb), Code.MESSAGE_TOO_LARGE, "inflate beyond 1048576"),
                    (too_many, Code.MESSAGE_TOO_LARGE, "1001 samples exceed the limit of 1000"),
                ]
            ):
                for connect in (WsVehicle.connect(gw.ws_url), GrpcVehicle.connect(gw.grpc_target)):
                    v = await connect
                    await v.open(hello(f"VIN-BOMB-{n}"))
                    err = await refused(v, up)
                    assert err.code == code and text in err.message, err
                    await v.close()
                    await still_acked(good, 1 + n)
            await good.close()

    run(scenario())


def test_huge_eviction_gap_is_cheap_and_acked(tmp_path):
    cfg = local_config(tmp_path, allow_anonymous=True)
    top = 10**12

    async def scenario():
        async with Gateway(cfg) as gw:
            good = await WsVehicle.connect(gw.ws_url)
            await good.open(hello(GOOD))
            v = await WsVehicle.connect(gw.ws_url)
            await v.open(hello("VIN-GAP"))
            gap = numbered(1)
            gap.batch.seq, gap.batch.evicted_batches_before = top, top - 10  # evicted: 10 .. top-1
            await v.send(gap)
            await still_acked(good, 1)
            assert len(gw.core.vehicles["VIN-GAP"].stored_above) <= 2  # ranges, not 10^12 entries
            for seq in range(1, 10):
                await v.send(batch(seq, [1], [0.0], [100 + seq]))
            assert await v.wait_ack(top) == top
            await v.close()
            await good.close()

    run(scenario())


def _signed(secret: bytes, payload: bytes) -> str:
    def b64(b: bytes) -> str:
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

    body = f"vmw1.{b64(payload)}"
    return f"{body}.{b64(hmac.new(secret, body.encode(), hashlib.sha256).digest())}"


MALFORMED_PAYLOADS = [
    b'{"sub":"VIN-T","iat":1,"exp":Infinity}',
    b'{"sub":"VIN-T","iat":1e999,"exp":1e999}',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"sub":' + b"[" * 50_000 + b"]" * 50_000 + b',"iat":1,"exp":9999999999}',
    b'"just a string"',
]


def test_malformed_tokens_are_a_token_error():
    secret = b"s" * 32
    for payload in MALFORMED_PAYLOADS:
        with pytest.raises(TokenError):
            verify_token(secret, _signed(secret, payload))
    with pytest.raises(TokenError, match="exceeds"):
        verify_token(secret, "vmw1." + "A" * 100_000 + ".x")


def test_malformed_token_in_hello_gets_an_error(tmp_path, pki):
    cfg = local_config(tmp_path, token_secret_file=str(pki.secret), allow_anonymous=False)
    secret = pki.secret.read_text().strip().encode()

    async def scenario():
        async with Gateway(cfg) as gw:
            for payload in MALFORMED_PAYLOADS[:2]:
                v = await WsVehicle.connect(gw.ws_url)
                first = await v.open(hello("VIN-T", token=_signed(secret, payload)))
                assert first is not None and first.error.code == Code.UNAUTHENTICATED, first
                assert "malformed" in first.error.message
                await v.close()

    run(scenario())


def test_welcome_is_always_the_first_message(tmp_path):
    """Acks of a vehicle's other link must not reach a new session before its Welcome."""
    cfg = local_config(tmp_path, allow_anonymous=True)

    async def scenario():
        async with Gateway(cfg) as gw:
            ws = await WsVehicle.connect(gw.ws_url)
            await ws.open(hello("VIN-TWO"))
            stop = asyncio.Event()

            async def stream() -> None:
                seq = 0
                while not stop.is_set():
                    seq += 1
                    await ws.send(numbered(seq, per=1))
                    await ws.wait_ack(seq)

            streaming = asyncio.create_task(stream())
            for _ in range(15):
                g = await GrpcVehicle.connect(gw.grpc_target)
                first = await g.open(hello("VIN-TWO", transport="grpc"))
                assert first is not None and first.WhichOneof("msg") == "welcome", first
                await g.close()
            stop.set()
            await streaming
            await ws.close()

    run(scenario())
