"""Test PKI generated at test time: a CA, a gateway certificate, vehicle client certificates.

A thin adapter over :mod:`vehicle_mw.gateway.pki` (the one CA helper of the package and its tests).
"""

from __future__ import annotations

import pathlib

from vehicle_mw.gateway.pki import CertPair, make_ca, make_cert

Issued = CertPair


class TestCa:
    """A throwaway CA writing PEM files into ``folder``."""

    __test__ = False  # not a pytest class

    def __init__(self, folder: pathlib.Path, name: str) -> None:
        self.folder = folder
        self.name = name
        self.pair = make_ca(folder, name=f"{name}-ca", days=1)
        self.ca_file = self.pair.cert

    def issue(self, common_name: str, server: bool) -> Issued:
        if server:
            sans = ["DNS:localhost", "IP:127.0.0.1"]
        else:
            sans = [f"URI:vmw:vehicle:{common_name}", f"DNS:{common_name}"]
        stem = f"{self.name}-{common_name}"
        return make_cert(self.pair, self.folder, common_name, sans, client=not server, days=1, stem=stem)
