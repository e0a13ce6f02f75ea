"""Revocation on a running gateway and the vehicle certificate profile (issue #12, items 2-3)."""

from __future__ import annotations

import asyncio
import datetime
import time

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from vehicle_mw.gateway import Gateway, issue_token, load_secret
from vehicle_mw.gateway.loadgen import GrpcVehicle, WsVehicle, hello
from vehicle_mw.gateway.tokens import verify_token
from vehicle_mw.v1 import link_pb2

from .helpers import run
from .test_auth import client_ctx, tls_config
from .test_cli import vmw
from .test_delivery import numbered

Code = link_pb2.Error.Code
A, B = "VINA0000000000001", "VINB0000000000002"


async def ended_with(v, deadline_s: float = 10.0) -> link_pb2.Error:
    """Read (acking probes) until the gateway sends an Error; a revocation must arrive promptly."""
    down = await asyncio.wait_for(_first_error(v), deadline_s)
    assert await v.recv() is None, "the gateway must close the connection after the Error"
    return down


async def _first_error(v) -> link_pb2.Error:
    while True:
        down = await v.recv(timeout=30)
        assert down is not None, "closed without an Error"
        if down.WhichOneof("msg") == "error":
            return down.error


async def cli(*args: str):
    out = await asyncio.to_thread(vmw, "gateway", "revoke", *args)
    assert out.returncode == 0, out.stderr
    return out


def test_cli_revocation_ends_live_sessions_and_old_tokens_stay_revoked(tmp_path, pki):
    cfg = tls_config(tmp_path, pki, require=False)
    secret = load_secret(pki.secret)
    db = cfg.database

    async def scenario():
        async with Gateway(cfg) as gw:
            good = await WsVehicle.connect(gw.ws_url, client_ctx(pki, pki.vehicle_b))
            await good.open(hello(B))
            old_token = issue_token(secret, A, 3600)
            v = await WsVehicle.connect(gw.ws_url, client_ctx(pki))
            assert (await v.open(hello(A, token=old_token))).WhichOneof("msg") == "welcome"

            await cli(A, "--database", db)
            err = await ended_with(v)
            assert err.code == Code.PERMISSION_DENIED and f"vehicle {A} is revoked" in err.message
            again = await WsVehicle.connect(gw.ws_url, client_ctx(pki))
            refused = await again.open(hello(A, token=old_token))
            assert refused.error.code == Code.PERMISSION_DENIED and "revoked" in refused.error.message
            await again.close()
            await good.send(numbered(1))
            assert await good.wait_ack(1) == 1

            await cli(A, "--database", db, "--undo")
            await asyncio.sleep(2 * cfg.limits.revocation_poll_s)  # let the gateway see the undo first
            v = await WsVehicle.connect(gw.ws_url, client_ctx(pki))
            refused = await v.open(hello(A, token=old_token))
            assert refused.error.code == Code.PERMISSION_DENIED and "issued before" in refused.error.message
            await v.close()
            fresh = issue_token(secret, A, 3600, now=time.time() + 2)  # issued after the revocation
            v = await WsVehicle.connect(gw.ws_url, client_ctx(pki))
            assert (await v.open(hello(A, token=fresh))).WhichOneof("msg") == "welcome"

            jti = verify_token(secret, fresh, now=time.time() + 2).token_id
            await cli(A, "--database", db, "--token-id", jti)
            err = await ended_with(v)
            assert err.code == Code.PERMISSION_DENIED and f"token {jti}" in err.message

            newer = issue_token(secret, A, 3600, now=time.time() + 3)
            v = await WsVehicle.connect(gw.ws_url, client_ctx(pki))
            assert (await v.open(hello(A, token=newer))).WhichOneof("msg") == "welcome"
            cutoff = datetime.datetime.fromtimestamp(time.time() + 10, datetime.UTC).isoformat()
            await cli(A, "--database", db, "--tokens-before", cutoff)
            err = await ended_with(v)
            assert "issued before" in err.message

            await good.send(numbered(2))
            assert await good.wait_ack(2) == 2  # the bystander never noticed
            await good.close()

    run(scenario(), timeout=90)


def _leaf(pki, tmp_path, name: str, cn: str, ca: bool, eku: list | None):
    """A certificate signed by the gateway's trusted CA, with the given profile."""
    ca_key = serialization.load_pem_private_key(pki.ca.key.read_bytes(), None)
    ca_cert = x509.load_pem_x509_certificate(pki.ca.cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    crt, pem = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return type("Pair", (), {"cert": crt, "key": pem})


def test_certificates_without_the_vehicle_profile_are_refused(tmp_path, pki):
    client = [ExtendedKeyUsageOID.CLIENT_AUTH]
    cases = [
        (_leaf(pki, tmp_path, "ca", A, True, client), A, "is a CA"),
        (_leaf(pki, tmp_path, "wild", "*", False, client), A, "names no valid vehicle id"),
        # (a serverAuth-only certificate already fails the TLS handshake: OpenSSL checks the purpose)
        (_leaf(pki, tmp_path, "noeku", A, False, None), A, "lacks the clientAuth"),
    ]

    async def scenario():
        async with Gateway(tls_config(tmp_path, pki, require=True)) as gw:
            good = await WsVehicle.connect(gw.ws_url, client_ctx(pki, pki.vehicle_b))
            await good.open(hello(B))
            for n, (pair, claim, text) in enumerate(cases):
                v = await WsVehicle.connect(gw.ws_url, client_ctx(pki, pair))
                first = await v.open(hello(claim))
                assert first is not None and first.WhichOneof("msg") == "error", first
                assert text in first.error.message, first.error
                await v.close()
                creds = grpc.ssl_channel_credentials(
                    pki.ca.cert.read_bytes(), pair.key.read_bytes(), pair.cert.read_bytes()
                )
                g = await GrpcVehicle.connect(gw.grpc_target, creds)
                first = await g.open(hello(claim, transport="grpc"))
                assert first is not None and first.WhichOneof("msg") == "error", first
                assert text in first.error.message, first.error
                await g.close()
                await good.send(numbered(n + 1))
                assert await good.wait_ack(n + 1) == n + 1
            ok = await WsVehicle.connect(gw.ws_url, client_ctx(pki, pki.vehicle_a))  # the real profile
            assert (await ok.open(hello(A))).WhichOneof("msg") == "welcome"
            await ok.close()
            await good.close()

    run(scenario())
