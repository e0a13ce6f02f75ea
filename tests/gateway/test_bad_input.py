"""Bad input closes only the offending connection, with a clear Error; nothing is lost or doubled."""

from __future__ import annotations

import asyncio

from vehicle_mw.gateway import Gateway
from vehicle_mw.gateway.loadgen import GrpcVehicle, WsVehicle, batch, hello
from vehicle_mw.manifest.gateway import GatewayLimits
from vehicle_mw.v1 import link_pb2

from .helpers import local_config, run
from .test_delivery import numbered, stored

Code = link_pb2.Error.Code


async def refused_with(v, raw: bytes) -> link_pb2.Error:
    await v.send_raw(raw)
    down = await v.next()
    assert down is not None and down.WhichOneof("msg") == "error", down
    await v.done_writing()
    assert await v.next() is None, "the gateway must close the connection after an Error"
    return down.error


def test_malformed_oversized_and_protocol_errors(tmp_path):
    cfg = local_config(tmp_path, allow_anonymous=True, limits=GatewayLimits(max_message_bytes=64 * 1024))

    async def scenario():
        async with Gateway(cfg) as gw:
            bystander = await WsVehicle.connect(gw.ws_url)
            await bystander.open(hello("VIN-OK"))

            cases = [
                (b"\x0a\xff\xff\xff\xff\x0f", Code.MALFORMED, "not a valid Uplink"),
                (b"\x00" * (100 * 1024), Code.MESSAGE_TOO_LARGE, "exceeds 65536"),
                (hello("VIN-BAD").SerializeToString(), Code.MALFORMED, "second Hello"),
                (
                    link_pb2.Uplink(
                        batch=link_pb2.SampleBatch(
                            seq=1,
                            columns=link_pb2.SampleColumns(
                                signal_id=[1, 2],
                                source_id=[1],
                                source_ts_ns=[1, 2],
                                source_seq=[1, 2],
                                value=[1, 2],
                            ),
                        )
                    ).SerializeToString(),
                    Code.MALFORMED,
                    "column source_id",
                ),
            ]
            for n, (raw, code, text) in enumerate(cases):
                for client in (WsVehicle.connect(gw.ws_url), GrpcVehicle.connect(gw.grpc_target)):
                    v = await client
                    await v.open(hello(f"VIN-BAD-{n}"))
                    err = await refused_with(v, raw)
                    assert err.code == code and text in err.message, err
                    await v.close()

            v = await WsVehicle.connect(gw.ws_url)  # garbage instead of a Hello
            err = await refused_with(v, b"\xde\xad\xbe\xef")
            assert err.code == Code.MALFORMED
            await v.close()

            # the bystander never noticed
            await bystander.send(numbered(1))
            assert await bystander.wait_ack(1) == 1
            await bystander.close()
        assert stored(cfg.database, "VIN-OK") == list(range(1, 11))

    run(scenario())


def test_flooding_vehicle_is_cut_others_unaffected(tmp_path):
    limits = GatewayLimits(messages_per_s=100, burst_s=1.0)
    cfg = local_config(tmp_path, allow_anonymous=True, limits=limits)

    async def flood(gw: Gateway) -> link_pb2.Error:
        v = await WsVehicle.connect(gw.ws_url)
        await v.open(hello("VIN-FLOOD"))
        await v.send(numbered(1))
        assert await v.wait_ack(1) == 1
        probe = link_pb2.Uplink(probe=link_pb2.Probe(id=1, sent_ns=1)).SerializeToString()
        try:
            for _ in range(1000):
                await v.send_raw(probe)
        except Exception:  # noqa: BLE001 - the gateway may close while we still write
            pass
        while (down := await v.recv()) is not None:
            if down.WhichOneof("msg") == "error":
                await v.close()
                return down.error
        raise AssertionError("connection closed without an Error")

    async def steady(gw: Gateway) -> int:
        v = await WsVehicle.connect(gw.ws_url)
        await v.open(hello("VIN-STEADY"))
        for seq in range(1, 21):
            await v.send(numbered(seq))
            await v.wait_ack(seq)
        await v.close()
        return seq

    async def scenario():
        async with Gateway(cfg) as gw:
            err, last = await asyncio.gather(flood(gw), steady(gw))
            assert err.code == Code.RATE_LIMITED and "VIN-FLOOD" in err.message
            assert last == 20
        assert stored(cfg.database, "VIN-STEADY") == list(range(1, 201))
        assert stored(cfg.database, "VIN-FLOOD") == list(range(1, 11))

    run(scenario())


def test_unknown_compression_is_malformed(tmp_path):
    cfg = local_config(tmp_path, allow_anonymous=True)

    async def scenario():
        async with Gateway(cfg) as gw:
            v = await GrpcVehicle.connect(gw.grpc_target)
            await v.open(hello("VIN-Z", transport="grpc"))
            bad = link_pb2.Uplink(
                batch=link_pb2.SampleBatch(
                    seq=1, compression=link_pb2.COMPRESSION_ZLIB, compressed_columns=b"not zlib"
                )
            )
            err = await refused_with(v, bad.SerializeToString())
            assert err.code == Code.MALFORMED and "compressed_columns" in err.message
            await v.close()
            v = await GrpcVehicle.connect(gw.grpc_target)  # the vehicle may come back at once
            await v.open(hello("VIN-Z", transport="grpc"))
            await v.send(batch(1, [1], [1.0], [1]))
            assert await v.wait_ack(1) == 1
            await v.close()

    run(scenario())


async def until(predicate, timeout: float = 10.0) -> None:
    """Wait for a condition the gateway reaches asynchronously (bounded, polled)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def test_abrupt_disconnects_free_the_session(tmp_path):
    cfg = local_config(tmp_path, allow_anonymous=True)

    async def scenario():
        async with Gateway(cfg) as gw:
            ws = await WsVehicle.connect(gw.ws_url)
            await ws.open(hello("VIN-CUT"))
            rpc = await GrpcVehicle.connect(gw.grpc_target)
            await rpc.open(hello("VIN-CUT", transport="grpc"))
            await ws.send(numbered(1))
            await ws.wait_ack(1)
            assert len(gw.core.sessions) == 2
            ws.ws.transport.abort()  # TCP reset, no close frame
            await rpc.channel.close(grace=None)  # stream cancelled, no half-close
            await until(lambda: not gw.core.sessions)
            assert gw.core.vehicles["VIN-CUT"].session is None
            back = await WsVehicle.connect(gw.ws_url)  # and the vehicle comes back
            assert (await back.open(hello("VIN-CUT"))).welcome.acked_seq == 1
            await back.close()

    run(scenario())
