"""The ``vmw gateway`` helpers as a user runs them: secret, token, dev PKI, revoke."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys

import pytest

from vehicle_mw.gateway import load_secret, verify_token


def vmw(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vehicle_mw", *args], capture_output=True, text=True, timeout=60
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
    assert vmw("gateway", "revoke", "VIN0042", "--database", str(db)).returncode == 0
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT revoked FROM vehicles WHERE vehicle_id='VIN0042'").fetchone() == (1,)
    assert conn.execute("SELECT actor LIKE 'cli:%', action, target FROM audit").fetchall() == [
        (1, "revoke", "VIN0042")
    ]
    conn.close()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl command not installed")
def test_dev_pki(tmp_path):
    out = vmw("gateway", "pki", str(tmp_path), "--vehicle", "VIN0001")
    assert out.returncode == 0, out.stderr
    text = subprocess.run(
        ["openssl", "x509", "-in", str(tmp_path / "VIN0001.crt"), "-noout", "-text"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert (
        "CN = VIN0001" in text
        and "URI:vmw:vehicle:VIN0001" in text
        and "TLS Web Client Authentication" in text
    )
    verify = subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            str(tmp_path / "vmw-ca.crt"),
            str(tmp_path / "VIN0001.crt"),
            str(tmp_path / "localhost.crt"),
        ],
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_schema_command_matches_the_committed_schema():
    from .helpers import ROOT

    out = vmw("gateway", "schema")
    assert out.returncode == 0
    assert out.stdout == (ROOT / "manifests" / "schemas" / "gateway.schema.json").read_text()
