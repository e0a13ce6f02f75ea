"""Fixtures of the gateway tests: one development PKI and token secret per test session."""

from __future__ import annotations

import pathlib
from dataclasses import dataclass

import pytest

from vehicle_mw.gateway import new_secret_file
from vehicle_mw.gateway.pki import CertPair, make_ca, make_server_cert, make_vehicle_cert


@dataclass(frozen=True)
class Pki:
    ca: CertPair
    server: CertPair
    vehicle_a: CertPair
    vehicle_b: CertPair
    rogue_ca: CertPair
    rogue_a: CertPair  # names vehicle A but is signed by a CA the gateway does not trust
    secret: pathlib.Path


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    root = tmp_path_factory.mktemp("pki")
    ca = make_ca(root / "ca")
    rogue = make_ca(root / "rogue", name="rogue-ca")
    return Pki(
        ca=ca,
        server=make_server_cert(ca, root / "server"),
        vehicle_a=make_vehicle_cert(ca, root / "a", "VINA0000000000001"),
        vehicle_b=make_vehicle_cert(ca, root / "b", "VINB0000000000002"),
        rogue_ca=rogue,
        rogue_a=make_vehicle_cert(rogue, root / "rogue-a", "VINA0000000000001"),
        secret=new_secret_file(root / "token.secret"),
    )
