"""Several batches in one message (Uplink.batches): stored and acknowledged as if each came alone.

The gateway advertises the bundle in its Welcome; a refused batch in a bundle ends the session where it
stands (the batches before it stay stored and acknowledged, the ones after it are not stored), and a
bundle beyond the message limits is refused with an Error naming the limit, logged with the peer.
"""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from vehicle_mw.channel.wire import bundle_from_batches
from vehicle_mw.gateway import Gateway
from vehicle_mw.gateway.loadgen import GrpcVehicle, WsVehicle, hello
from vehicle_mw.gateway.session import MAX_BATCHES_PER_MESSAGE
from vehicle_mw.manifest.gateway import GatewayLimits
from vehicle_mw.v1 import link_pb2

from .helpers import local_config, run
from .test_delivery import numbered, stored
from .test_poison import refused

Code = link_pb2.Error.Code


def bundle(*ups: link_pb2.Uplink) -> bytes:
    return bundle_from_batches([u.SerializeToString() for u in ups])


@pytest.mark.parametrize("transport", ["websocket", "grpc"])
def test_a_bundle_is_stored_and_acked_batch_by_batch(tmp_path, transport):
    cfg = local_config(tmp_path, allow_anonymous=True)

    async def scenario():
        async with Gateway(cfg) as gw:
            if transport == "websocket":
                v = await WsVehicle.connect(gw.ws_url)
            else:
                v = await GrpcVehicle.connect(gw.grpc_target)
            welcome = await v.open(hello("VIN-BUNDLE"))
            assert welcome.welcome.max_batches_per_message == MAX_BATCHES_PER_MESSAGE
            await v.send_raw(bundle(*(numbered(s) for s in range(1, 6))))
            assert await v.wait_ack(5) == 5
            await v.send(numbered(6))  # a lone batch after a bundle: the old form still works
            assert await v.wait_ack(6) == 6
            await v.send_raw(bundle(numbered(5), numbered(6), numbered(7)))  # resent ones are dropped
            assert await v.wait_ack(7) == 7
            await v.close()

    run(scenario())
    assert stored(cfg.database, "VIN-BUNDLE") == list(range(1, 71))


def test_a_refused_batch_keeps_the_ones_before_it_and_drops_the_ones_after(tmp_path):
    cfg = local_config(tmp_path, allow_anonymous=True)
    bad = numbered(3)
    bad.batch.columns.kind[:] = [9] * 10  # not a ValueKind
    bad.batch.columns.int_value[:] = [0] * 10

    async def scenario():
        async with Gateway(cfg) as gw:
            v = await WsVehicle.connect(gw.ws_url)
            await v.open(hello("VIN-POISON"))
            err = await refused(
                v, link_pb2.Uplink.FromString(bundle(numbered(1), numbered(2), bad, numbered(4)))
            )
            assert err.code == Code.MALFORMED and "batch 3: column kind entry 0 is 9" in err.message, err
            await v.close()
            # batches 1 and 2 were queued for commit before the session ended: once durable, a
            # reconnect is told so (polled by reconnecting, bounded in time)
            deadline = asyncio.get_running_loop().time() + 10
            while True:
                again = await WsVehicle.connect(gw.ws_url)
                first = await again.open(hello("VIN-POISON"))
                if first.welcome.acked_seq == 2 or asyncio.get_running_loop().time() > deadline:
                    break
                await again.close()
            assert first.welcome.acked_seq == 2
            await again.close()

    run(scenario())
    assert stored(cfg.database, "VIN-POISON") == list(range(1, 21))  # not batch 4


def test_bundles_beyond_the_limits_are_refused_naming_the_limit_and_the_peer(tmp_path, caplog):
    cfg = local_config(tmp_path, allow_anonymous=True, limits=GatewayLimits(max_message_bytes=64 * 1024))
    caplog.set_level(logging.WARNING, logger="vehicle_mw.gateway.session")

    async def scenario():
        async with Gateway(cfg) as gw:
            v = await WsVehicle.connect(gw.ws_url)
            await v.open(hello("VIN-BIG"))
            too_many = link_pb2.Uplink(
                batches=link_pb2.SampleBatches(
                    batches=[numbered(s, per=1).batch for s in range(1, MAX_BATCHES_PER_MESSAGE + 2)]
                )
            )
            err = await refused(v, too_many)
            assert err.code == Code.MESSAGE_TOO_LARGE, err
            assert f"carries {MAX_BATCHES_PER_MESSAGE + 1} batches" in err.message, err
            await v.close()

            v = await WsVehicle.connect(gw.ws_url)
            await v.open(hello("VIN-BIG"))
            big = link_pb2.Uplink.FromString(bundle(*(numbered(s, per=1000) for s in range(1, 6))))
            assert big.ByteSize() > 64 * 1024
            err = await refused(v, big)
            assert err.code == Code.MESSAGE_TOO_LARGE and "exceeds 65536" in err.message, err
            await v.close()

            v = await WsVehicle.connect(gw.ws_url)
            await v.open(hello("VIN-BIG"))
            err = await refused(v, link_pb2.Uplink(batches=link_pb2.SampleBatches()))
            assert err.code == Code.MALFORMED and "carries 0 batches" in err.message, err
            await v.close()

    run(scenario())
    errors = [json.loads(r.getMessage()) for r in caplog.records if "session_error" in r.getMessage()]
    assert len(errors) == 3 and all(e["peer"] and e["vehicle"] == "VIN-BIG" for e in errors), errors
    assert stored(cfg.database, "VIN-BIG") == []
