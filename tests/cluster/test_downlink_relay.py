"""A command sent through one replica reaches a vehicle connected to another (over NATS)."""

from __future__ import annotations

import asyncio

import pytest

from tests.gateway.helpers import local_config
from vehicle_mw.gateway import Gateway
from vehicle_mw.gateway.errors import CommandError
from vehicle_mw.gateway.loadgen import WsVehicle, hello
from vehicle_mw.v1 import link_pb2

V = "VIN-RELAY-1"


def test_command_through_the_other_replica(tmp_path, nats1, pg_dsn):
    storage = {"backend": "jetstream", "dsn": pg_dsn, "nats": nats1.urls, "replicas": 1}
    fast = {"command_timeout_s": 2.0}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    cfg_a = local_config(
        tmp_path / "a", allow_anonymous=True, http_port=None, storage=storage, gateway_id="a", limits=fast
    )
    cfg_b = local_config(
        tmp_path / "b", allow_anonymous=True, http_port=None, storage=storage, gateway_id="b", limits=fast
    )

    async def scenario():
        async with Gateway(cfg_a) as a, Gateway(cfg_b) as b:
            v = await WsVehicle.connect(b.ws_url)
            assert (await v.open(hello(V))).welcome.gateway_id == "b"

            async def vehicle_answers() -> link_pb2.Command:
                while True:
                    down = await v.next(timeout=20)
                    if down is not None and down.WhichOneof("msg") == "command":
                        ack = link_pb2.CommandAck(id=down.command.id, ok=True, detail="done")
                        await v.send(link_pb2.Uplink(command_ack=ack))
                        return down.command

            answering = asyncio.create_task(vehicle_answers())
            ack = await a.core.send_command(V, "config", b'{"x": 1}')  # a does not hold the vehicle
            command = await answering
            assert V not in a.core.vehicles or a.core.vehicles[V].session is None
            assert (ack.ok, ack.detail, command.kind, command.payload) == (
                True,
                "done",
                "config",
                b'{"x": 1}',
            )
            await v.close()
            with pytest.raises(CommandError, match="not connected to any gateway replica"):
                await a.core.send_command("VIN-NOBODY", "config", b"{}")

    asyncio.run(asyncio.wait_for(scenario(), 90))
