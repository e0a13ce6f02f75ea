"""Updates over the link the vehicle already has: a real gateway pushes, a real Uplink receives.

The gateway's own ``send_command`` carries the offer, the file chunks, the start of the cycle and
the version report; the vehicle verifies from its mirror exactly as over HTTP.
"""

from __future__ import annotations

import asyncio
import functools
import json
import pathlib
import threading

import pytest
from update_rig import ECUS, VIN, Rig

from vehicle_mw.channel import Uplink
from vehicle_mw.gateway import Gateway
from vehicle_mw.manifest.channel import ChannelConfig, OutboxConfig
from vehicle_mw.manifest.gateway import GatewayConfig
from vehicle_mw.store import Outbox
from vehicle_mw.update import NullHook, UpdateClient, UpdateError, UpdateRefused, VehicleConfig
from vehicle_mw.update.link import (
    FILE,
    LINK_BASE,
    OFFER,
    LinkMirror,
    MirrorFetcher,
    collect_report,
    push_update,
)
from vehicle_mw.v1 import link_pb2


class Vehicle:
    """The vehicle's update side behind a real Uplink: mirror, client, one cycle per update.run."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        mirror = rig.tmp / "vehicle" / "link-mirror"
        cfg = VehicleConfig.for_server(LINK_BASE, VIN, ECUS, rig.state)
        self.client = UpdateClient(cfg, rig.installer(), MirrorFetcher(mirror))
        self.mirror = LinkMirror(
            mirror,
            self.client.limit_for,
            installed=lambda: {p.hashes["sha256"] for p in rig.installer().installed()},
            on_run=self.start_cycle,
            report=self.client.version_report,
        )
        self.cycle: threading.Thread | None = None
        self.outcome: object = None

    def start_cycle(self) -> str:
        def cycle() -> None:
            try:
                self.outcome = self.client.update(NullHook())
            except UpdateRefused as exc:
                self.outcome = exc

        self.cycle = threading.Thread(target=cycle)
        self.cycle.start()
        return "update cycle started"

    async def finished(self) -> object:
        assert self.cycle is not None
        await asyncio.to_thread(self.cycle.join, 60)
        assert not self.cycle.is_alive()
        return self.outcome


@pytest.mark.parametrize("transport", ["websocket", "grpc"])
def test_update_pushed_over_the_vehicle_link(tmp_path: pathlib.Path, transport: str) -> None:
    rig = Rig(tmp_path, start_server=False)  # no HTTP: the link is the only path
    vehicle = Vehicle(rig)
    cfg = GatewayConfig.model_validate(
        dict(database=str(tmp_path / "gw.sqlite"), grpc_port=0, ws_port=0, http_port=0, allow_anonymous=True)
    )

    async def scenario() -> None:
        async with Gateway(cfg) as gw:
            target = (
                {"websocket_url": gw.ws_url} if transport == "websocket" else {"grpc_target": gw.grpc_target}
            )
            ch = ChannelConfig(
                vehicle_id=VIN,
                outbox=OutboxConfig(directory=str(tmp_path / "outbox"), fsync="none"),
                **target,
            )
            box = Outbox(ch.outbox.directory, ch.outbox)
            up = Uplink(ch, box, on_command=vehicle.mirror.handle)
            task = asyncio.create_task(up.run())
            send = functools.partial(gw.core.send_command, VIN)
            try:
                assert await up.wait_until(lambda: up.active == transport, 20)
                for _ in range(100):
                    if gw.core.vehicles.get(VIN) and gw.core.vehicles[VIN].session is not None:
                        break
                    await asyncio.sleep(0.05)

                rig.assign(rig.publish(1))
                first = await push_update(send, rig.repo, VIN)
                assert first.files == first.offered  # a fresh vehicle needs everything
                assert (await vehicle.finished()).status == "activated"
                assert rig.current_release() == 1
                signed = await collect_report(send, rig.director, VIN)
                assert signed["installed"][0]["release"] == 1
                assert rig.director.status()[VIN]["installed"] == {"tcu1/tele": 1}

                rig.assign(rig.publish(2, payload=600_000))  # several chunks of 256 KiB
                second = await push_update(send, rig.repo, VIN)
                assert second.files < second.offered  # roots (and r1) are not sent again
                assert 600_000 < second.bytes < 600_000 + 64 * 1024
                assert (await vehicle.finished()).status == "activated"
                assert rig.current_release() == 2

                # the gateway is compromised and serves other bytes: refused on the vehicle, r2 stays
                rig.assign(rig.publish(3))
                tampered = rig.image_target_file("tele/3/tele-3.tar.gz")
                tampered.write_bytes(bytes(len(tampered.read_bytes())))
                await push_update(send, rig.repo, VIN)
                refused = await vehicle.finished()
                assert isinstance(refused, UpdateRefused) and refused.reason == "hash_mismatch"
                assert rig.current_release() == 2
                signed = await collect_report(send, rig.director, VIN)
                assert signed["attack"]["reason"] == "hash_mismatch"
            finally:
                up.stop()
                await task
                box.close()

    asyncio.run(asyncio.wait_for(scenario(), 120))


def test_mirror_refuses_what_its_limits_and_paths_do_not_allow(tmp_path: pathlib.Path) -> None:
    rig = Rig(tmp_path, start_server=False)
    rig.assign(rig.publish(1, payload=200_000))
    mirror = LinkMirror(tmp_path / "mirror", lambda url: 100_000 if "/image/targets/" in url else 64 * 1024)

    async def send(kind: str, payload: bytes) -> link_pb2.CommandAck:
        ok, detail = mirror.handle(link_pb2.Command(id=1, kind=kind, payload=payload))
        return link_pb2.CommandAck(id=1, ok=ok, detail=detail)

    with pytest.raises(
        UpdateError, match=r"refused the update offer: .*over this vehicle's limit of 100000 B"
    ):
        asyncio.run(push_update(send, rig.repo, VIN))
    bad = [
        (OFFER, json.dumps({"files": [{"path": "image/targets/../../x", "length": 1, "sha256": "0"}]})),
        (OFFER, json.dumps({"files": [{"path": "director/OTHER/x/y", "length": 1, "sha256": "0"}]})),
        (OFFER, "not json"),
        (FILE, "no header"),
        (FILE, json.dumps({"path": "image/metadata/1.root.json", "offset": 0}) + "\nx"),  # not offered
        ("update.unknown", ""),
    ]
    for kind, payload in bad:
        ok, detail = mirror.handle(link_pb2.Command(id=2, kind=kind, payload=payload.encode()))
        assert not ok and detail, (kind, payload)
    assert not [p for p in (tmp_path / "mirror").rglob("*") if p.is_file()]
