"""Auth matrix over real TLS sockets: who may speak as which vehicle, and what the others are told."""

from __future__ import annotations

import logging
import ssl
import time

import grpc
import pytest
from websockets.exceptions import InvalidMessage

from vehicle_mw.gateway import Gateway, issue_token, load_secret, set_revoked
from vehicle_mw.gateway.loadgen import GrpcVehicle, WsVehicle, hello
from vehicle_mw.manifest.gateway import GatewayTls
from vehicle_mw.v1 import link_pb2

from .helpers import local_config, run

A, B = "VINA0000000000001", "VINB0000000000002"
Code = link_pb2.Error.Code


def client_ctx(pki, pair=None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki.ca.cert))
    if pair is not None:
        ctx.load_cert_chain(str(pair.cert), str(pair.key))
    return ctx


def grpc_creds(pki, pair=None) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=pki.ca.cert.read_bytes(),
        private_key=pair.key.read_bytes() if pair else None,
        certificate_chain=pair.cert.read_bytes() if pair else None,
    )


def tls_config(tmp_path, pki, require: bool):
    tls = GatewayTls(
        cert=str(pki.server.cert),
        key=str(pki.server.key),
        client_ca=str(pki.ca.cert),
        require_client_cert=require,
    )
    return local_config(tmp_path, tls=tls, token_secret_file=str(pki.secret))


async def ws_first(gw: Gateway, ctx: ssl.SSLContext, up: link_pb2.Uplink) -> link_pb2.Downlink:
    v = await WsVehicle.connect(gw.ws_url, ctx)
    try:
        first = await v.open(up)
        assert first is not None
        return first
    finally:
        await v.close()


def test_websocket_auth_matrix(tmp_path, pki, caplog):
    caplog.set_level(logging.WARNING, logger="vehicle_mw.gateway")
    secret = load_secret(pki.secret)
    set_revoked(tmp_path / "gw.sqlite", B, True)

    async def scenario():
        async with Gateway(tls_config(tmp_path, pki, require=False)) as gw:
            ok = await ws_first(gw, client_ctx(pki, pki.vehicle_a), hello(A))
            assert ok.WhichOneof("msg") == "welcome"

            mismatch = await ws_first(gw, client_ctx(pki, pki.vehicle_a), hello(B))
            assert mismatch.error.code == Code.PERMISSION_DENIED
            assert f"certificate is for {A}" in mismatch.error.message and B in mismatch.error.message

            anonymous = await ws_first(gw, client_ctx(pki), hello(A))
            assert anonymous.error.code == Code.UNAUTHENTICATED
            assert "no client certificate and no auth_token" in anonymous.error.message

            token_ok = await ws_first(gw, client_ctx(pki), hello(A, token=issue_token(secret, A, 60)))
            assert token_ok.WhichOneof("msg") == "welcome"

            old = issue_token(secret, A, 60, now=time.time() - 3600)
            expired = await ws_first(gw, client_ctx(pki), hello(A, token=old))
            assert expired.error.code == Code.UNAUTHENTICATED and "expired" in expired.error.message

            forged = issue_token(b"not-the-gateway-secret-at-all", A, 60)
            bad_sig = await ws_first(gw, client_ctx(pki), hello(A, token=forged))
            assert bad_sig.error.code == Code.UNAUTHENTICATED and "signature" in bad_sig.error.message

            stolen = await ws_first(gw, client_ctx(pki), hello(B, token=issue_token(secret, A, 60)))
            assert stolen.error.code == Code.PERMISSION_DENIED and f"token is for {A}" in stolen.error.message

            revoked = await ws_first(gw, client_ctx(pki, pki.vehicle_b), hello(B))
            assert revoked.error.code == Code.PERMISSION_DENIED and "revoked" in revoked.error.message

            version = await ws_first(gw, client_ctx(pki, pki.vehicle_a), hello(A, version=7))
            assert version.error.code == Code.UNSUPPORTED_VERSION and "7" in version.error.message

            # a certificate from an untrusted CA fails the TLS handshake: no HTTP upgrade, no session
            with pytest.raises((InvalidMessage, ssl.SSLError, ConnectionError)):
                await ws_first(gw, client_ctx(pki, pki.rogue_a), hello(A))
            assert len(gw.core.sessions) == 0
            assert gw.core.metrics.refused.labels("PERMISSION_DENIED")._value.get() == 3

    run(scenario())
    refusals = [r.getMessage() for r in caplog.records if '"refused"' in r.getMessage()]
    assert any("revoked" in m for m in refusals) and any("expired" in m for m in refusals)


def test_grpc_mtls_required(tmp_path, pki):
    async def first(gw: Gateway, creds, up) -> link_pb2.Downlink | None:
        v = await GrpcVehicle.connect(gw.grpc_target, creds, server_name="localhost")
        try:
            return await v.open(up, timeout=15)
        finally:
            await v.close()

    async def scenario():
        async with Gateway(tls_config(tmp_path, pki, require=True)) as gw:
            ok = await first(gw, grpc_creds(pki, pki.vehicle_a), hello(A, transport="grpc"))
            assert ok.WhichOneof("msg") == "welcome"

            mismatch = await first(gw, grpc_creds(pki, pki.vehicle_a), hello(B, transport="grpc"))
            assert mismatch.error.code == Code.PERMISSION_DENIED

            for creds in (grpc_creds(pki), grpc_creds(pki, pki.rogue_a)):  # no cert; wrong CA
                with pytest.raises(grpc.aio.AioRpcError) as exc_info:
                    await first(gw, creds, hello(A, transport="grpc"))
                assert exc_info.value.code() == grpc.StatusCode.UNAVAILABLE
            assert len(gw.core.sessions) == 0

    run(scenario())


def test_grpc_token_over_tls(tmp_path, pki):
    secret = load_secret(pki.secret)

    async def scenario():
        async with Gateway(tls_config(tmp_path, pki, require=False)) as gw:
            v = await GrpcVehicle.connect(gw.grpc_target, grpc_creds(pki), server_name="localhost")
            first = await v.open(hello(A, token=issue_token(secret, A, 60), transport="grpc"))
            await v.close()
            assert first.WhichOneof("msg") == "welcome"
            v = await GrpcVehicle.connect(gw.grpc_target, grpc_creds(pki), server_name="localhost")
            expired = await v.open(
                hello(A, token=issue_token(secret, A, 1, now=time.time() - 10), transport="grpc")
            )
            await v.close()
            assert expired.error.code == Code.UNAUTHENTICATED

    run(scenario())


def test_unregistered_and_silent_connections_are_refused(tmp_path):
    from vehicle_mw.manifest.gateway import GatewayLimits

    cfg = local_config(
        tmp_path, allow_anonymous=True, allow_unregistered=False, limits=GatewayLimits(hello_timeout_s=0.3)
    )
    set_revoked(cfg.database, A, True)
    set_revoked(cfg.database, A, False)  # registered (and admitted) ahead of time

    async def scenario():
        async with Gateway(cfg) as gw:
            v = await WsVehicle.connect(gw.ws_url)
            assert (await v.open(hello(A))).WhichOneof("msg") == "welcome"
            await v.close()
            v = await WsVehicle.connect(gw.ws_url)
            unknown = await v.open(hello(B))
            await v.close()
            assert unknown.error.code == Code.PERMISSION_DENIED and "not registered" in unknown.error.message
            v = await WsVehicle.connect(gw.ws_url)  # says nothing: closed after the hello timeout
            silent = await v.recv(timeout=10)
            await v.close()
            assert silent.error.code == Code.MALFORMED and "no Hello" in silent.error.message

    run(scenario())
