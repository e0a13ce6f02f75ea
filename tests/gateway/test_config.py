"""Gateway configuration: the committed JSON Schema and example manifest; token format."""

from __future__ import annotations

import json
import time

import pytest

from vehicle_mw.gateway import TokenError, issue_token, verify_token
from vehicle_mw.manifest import ManifestError, load_manifest, parse_manifest
from vehicle_mw.manifest.gateway import GatewayConfig

from .helpers import ROOT


def test_committed_schema_matches_the_model():
    committed = json.loads((ROOT / "manifests" / "schemas" / "gateway.schema.json").read_text())
    assert committed == GatewayConfig.model_json_schema()


def test_example_manifest_loads_and_typos_are_named():
    cfg = load_manifest(ROOT / "manifests" / "gateway.yaml", GatewayConfig)
    assert cfg.tls is not None and cfg.tls.client_ca == "../certs/vmw-ca.crt"  # as written in the file
    with pytest.raises(ManifestError) as exc_info:
        parse_manifest({"limits": {"max_mesage_bytes": 1}}, GatewayConfig, "gw.yaml")
    assert "gw.yaml: limits.max_mesage_bytes: unknown key" in str(exc_info.value)


def test_token_round_trip_expiry_and_tampering():
    secret = b"0123456789abcdef0123456789abcdef"
    token = issue_token(secret, "VIN1", 60)
    assert verify_token(secret, token).vehicle_id == "VIN1"
    with pytest.raises(TokenError) as expired:
        verify_token(secret, token, now=time.time() + 61)
    assert expired.value.expired
    head, payload, mac = token.split(".")
    other = issue_token(secret, "VIN2", 60).split(".")[1]
    for bad in (f"{head}.{other}.{mac}", token + "x", "vmw1.e30", "jwt.a.b"):
        with pytest.raises(TokenError) as forged:
            verify_token(secret, bad)
        assert not forged.value.expired
