"""Mutual TLS on both transports: the right certificates deliver, a wrong one is refused."""

from __future__ import annotations

import asyncio

import pytest
from channel_pki import TestCa
from channel_rig import VEHICLE, make_samples
from mini_gateway import MiniGateway, ServerTls

from vehicle_mw.channel import Uplink
from vehicle_mw.manifest.channel import ChannelConfig, OutboxConfig, TlsConfig
from vehicle_mw.store import Outbox


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pki")
    ca = TestCa(folder, "fleet")
    rogue = TestCa(folder, "rogue")
    return {
        "ca": ca,
        "rogue": rogue,
        "server": ca.issue("gateway", server=True),
        "vehicle": ca.issue(VEHICLE, server=False),
        "rogue_vehicle": rogue.issue(VEHICLE, server=False),
        "rogue_server": rogue.issue("gateway", server=True),
    }


async def _run(
    tmp_path, server_tls: ServerTls, client_tls: TlsConfig, expect_up: bool
) -> tuple[Uplink, MiniGateway]:
    gw = MiniGateway(str(tmp_path / "gw.db"), tls=server_tls)
    await gw.start()
    cfg = ChannelConfig(
        vehicle_id=VEHICLE,
        grpc_target=f"127.0.0.1:{gw.grpc_port}",
        websocket_url=f"wss://127.0.0.1:{gw.ws_port}/v1/link",
        tls=client_tls,
        outbox=OutboxConfig(directory=str(tmp_path / "ob"), fsync="none"),
        probe_interval_s=0.1,
        backoff_initial_s=0.05,
        backoff_max_s=0.2,
    )
    box = Outbox(cfg.outbox.directory, cfg.outbox)
    up = Uplink(cfg, box)
    task = asyncio.create_task(up.run())
    try:
        box.append(make_samples(0, 100))
        if expect_up:
            assert await up.wait_until(lambda: all(s.up for s in up.sessions.values()), 15)
            assert await up.wait_until(lambda: box.stats().backlog_batches == 0, 15)
        else:
            # refused: every link has failed at least twice and none ever came up
            assert await up.wait_until(
                lambda: all(s.last_error and s.connects == 0 for s in up.sessions.values()), 15
            )
            assert not any(s.up for s in up.sessions.values())
    finally:
        up.stop()
        await task
        await gw.stop()
        box.close()
    return up, gw


def test_mutual_tls_delivers_on_both_transports(tmp_path, pki):
    server = ServerTls(str(pki["server"].cert), str(pki["server"].key), str(pki["ca"].ca_file))
    client = TlsConfig(
        ca_file=str(pki["ca"].ca_file), cert_file=str(pki["vehicle"].cert), key_file=str(pki["vehicle"].key)
    )
    up, gw = asyncio.run(_run(tmp_path, server, client, expect_up=True))
    assert gw.stats.sessions >= 2 and gw.stats.batches >= 1


def test_vehicle_with_certificate_from_another_ca_is_refused(tmp_path, pki):
    server = ServerTls(str(pki["server"].cert), str(pki["server"].key), str(pki["ca"].ca_file))
    client = TlsConfig(
        ca_file=str(pki["ca"].ca_file),
        cert_file=str(pki["rogue_vehicle"].cert),
        key_file=str(pki["rogue_vehicle"].key),
    )
    up, gw = asyncio.run(_run(tmp_path, server, client, expect_up=False))
    assert gw.stats.sessions == 0 and gw.stats.batches == 0


def test_vehicle_without_client_certificate_is_refused(tmp_path, pki):
    server = ServerTls(str(pki["server"].cert), str(pki["server"].key), str(pki["ca"].ca_file))
    client = TlsConfig(ca_file=str(pki["ca"].ca_file))
    up, gw = asyncio.run(_run(tmp_path, server, client, expect_up=False))
    assert gw.stats.sessions == 0


def test_gateway_with_untrusted_certificate_is_refused_by_the_vehicle(tmp_path, pki):
    server = ServerTls(str(pki["rogue_server"].cert), str(pki["rogue_server"].key), str(pki["ca"].ca_file))
    client = TlsConfig(
        ca_file=str(pki["ca"].ca_file), cert_file=str(pki["vehicle"].cert), key_file=str(pki["vehicle"].key)
    )
    up, gw = asyncio.run(_run(tmp_path, server, client, expect_up=False))
    assert (
        "certificate" in up.sessions["websocket"].last_error.lower()
        or "ssl" in up.sessions["websocket"].last_error.lower()
    )
