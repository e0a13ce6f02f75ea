"""The ``vmw gateway`` helpers as a user runs them: secret, token, dev PKI, revoke."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

from vehicle_mw.gateway import load_secret, verify_token


def vmw(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vehicle_mw", *args], capture_output=True, text=True, timeout=60, cwd=cwd
    )


def test_secret_token_revoke(tmp_path):
    secret = tmp_path / "token.secret"
    assert vmw("gateway", "secret", str(secret)).returncode == 0
    assert secret.stat().st_mode & 0o077 == 0  # owner-only
    out = vmw("gateway", "token", "VIN0042", "--secret-file", str(secret), "--ttl", "2h")
    assert out.returncode == 0
    claims = verify_token(load_secret(secret), out.stdout.strip())
    assert claims.vehicle_id == "VIN0042" and claims.expires_at - claims.issued_at == 7200
    bad = vmw("gateway", "token", "VIN0042", "--secret-file", str(tmp_path / "missing"))
    assert bad.returncode == 1 and "missing" in bad.stderr

    db = tmp_path / "gw.sqlite"
    from vehicle_mw.gateway.sqlite_schema import SCHEMA

    with sqlite3.connect(db) as made:  # the gateway's database (revoke never creates one)
        made.executescript(SCHEMA)
    made.close()
    assert vmw("gateway", "revoke", "VIN0042", "--database", str(db)).returncode == 0
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT revoked FROM vehicles WHERE vehicle_id='VIN0042'").fetchone() == (1,)
    assert conn.execute("SELECT actor LIKE 'cli:%', action, target FROM audit").fetchall() == [
        (1, "revoke", "VIN0042")
    ]
    conn.close()


def _cert(path):
    from cryptography import x509

    return x509.load_pem_x509_certificate(path.read_bytes())


def test_dev_pki_with_a_relative_folder_as_documented(tmp_path):
    """`vmw gateway pki certs --vehicle VIN0001` from the working directory (docs/gateway.md)."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    out = vmw("gateway", "pki", "certs", "--vehicle", "VIN0001", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    certs = tmp_path / "certs"
    assert sorted(p.name for p in certs.iterdir()) == [
        "VIN0001.crt",
        "VIN0001.key",
        "localhost.crt",
        "localhost.key",
        "vmw-ca.crt",
        "vmw-ca.key",
    ]
    keys = ("VIN0001.key", "vmw-ca.key", "localhost.key")
    assert all((certs / k).stat().st_mode & 0o077 == 0 for k in keys)
    ca, vehicle, server = (_cert(certs / f) for f in ("vmw-ca.crt", "VIN0001.crt", "localhost.crt"))
    vehicle.verify_directly_issued_by(ca)
    server.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert vehicle.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "VIN0001"
    san = vehicle.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "vmw:vehicle:VIN0001" in san.get_values_for_type(x509.UniformResourceIdentifier)
    eku = vehicle.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not vehicle.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert list(server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH
    ]
    # TLS itself accepts the pair: a server context with the client CA, a client context with the chain
    import ssl

    srv = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    srv.load_cert_chain(certs / "localhost.crt", certs / "localhost.key")
    srv.load_verify_locations(certs / "vmw-ca.crt")
    cli = ssl.create_default_context(cafile=str(certs / "vmw-ca.crt"))
    cli.load_cert_chain(certs / "VIN0001.crt", certs / "VIN0001.key")

    # a second vehicle later keeps the CA, so the first vehicle's certificate stays valid
    again = vmw("gateway", "pki", "certs", "--vehicle", "VIN0002", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    ca2 = _cert(certs / "vmw-ca.crt")
    assert ca2 == ca
    _cert(certs / "VIN0002.crt").verify_directly_issued_by(ca2)
    vehicle.verify_directly_issued_by(ca2)


def test_dev_pki_with_a_damaged_ca_names_the_file(tmp_path):
    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / "vmw-ca.crt").write_text("not a certificate")
    (certs / "vmw-ca.key").write_text("not a key")
    out = vmw("gateway", "pki", "certs", cwd=tmp_path)
    assert out.returncode == 1 and "vmw-ca.crt" in out.stderr and "Traceback" not in out.stderr


def test_schema_command_matches_the_committed_schema():
    from .helpers import ROOT

    out = vmw("gateway", "schema")
    assert out.returncode == 0
    assert out.stdout == (ROOT / "manifests" / "schemas" / "gateway.schema.json").read_text()
