"""Role keys in a key directory: Ed25519 PKCS#8 PEM files, mode 0600, in a 0700 folder.

The Image repository's keys live in a directory that can be kept offline (a USB stick, an
air-gapped host): only ``publish`` and ``keys rotate`` need it. The Director's keys are online
and live inside its repository folder. A private key readable by group or others is refused.
"""

from __future__ import annotations

import json
import os
import pathlib
import stat
import time

from cryptography.hazmat.primitives.serialization import load_pem_private_key
from securesystemslib.signer import CryptoSigner, SSlibKey

from vehicle_mw.update.errors import UpdateError
from vehicle_mw.update.storage import atomic_write

ROLES = ("root", "targets", "snapshot", "timestamp")


class KeyDir:
    """One signing key per TUF role in ``path`` (``<role>.key`` private, ``<role>.pub.json`` public)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = pathlib.Path(path)

    def exists(self, role: str) -> bool:
        return (self.path / f"{role}.key").exists()

    def create(self, role: str) -> CryptoSigner:
        """Generate the key of ``role``; refuses to overwrite one (use :meth:`rotate`)."""
        self._check_role(role)
        if self.exists(role):
            raise UpdateError(f"{self.path / (role + '.key')}: key exists (rotate it instead)")
        return self._write(role, CryptoSigner.generate_ed25519())

    def rotate(self, role: str) -> tuple[CryptoSigner, CryptoSigner]:
        """Replace the key of ``role``; the old one moves to ``retired/``. Returns (old, new)."""
        old = self.signer(role)
        retired = self.path / "retired"
        retired.mkdir(mode=0o700, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S")
        keyid = old.public_key.keyid[:12]
        os.replace(self.path / f"{role}.key", retired / f"{role}-{stamp}-{keyid}.key")
        os.replace(self.path / f"{role}.pub.json", retired / f"{role}-{stamp}-{keyid}.pub.json")
        return old, self._write(role, CryptoSigner.generate_ed25519())

    def public(self, role: str) -> SSlibKey:
        """The public key of ``role`` (what root metadata lists)."""
        path = self.path / f"{role}.pub.json"
        try:
            doc = json.loads(path.read_bytes())
            return SSlibKey.from_dict(doc["keyid"], doc["key"])
        except FileNotFoundError:
            raise UpdateError(
                f"{path}: no public key for role {role!r} (run `vmw update keys init`)"
            ) from None
        except (ValueError, KeyError, TypeError) as exc:
            raise UpdateError(f"{path}: not a public key file ({exc})") from None

    def signer(self, role: str) -> CryptoSigner:
        """The signer of ``role``; refuses a private key file readable by group or others."""
        self._check_role(role)
        path = self.path / f"{role}.key"
        try:
            st = path.stat()
        except FileNotFoundError:
            raise UpdateError(
                f"{path}: no private key for role {role!r} (key directory offline or not initialised?)"
            ) from None
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise UpdateError(
                f"{path}: private key is accessible by others (mode {st.st_mode & 0o777:o}); chmod 600"
            )
        try:
            private = load_pem_private_key(path.read_bytes(), None)
        except ValueError as exc:
            raise UpdateError(f"{path}: not a PEM private key ({exc})") from None
        return CryptoSigner(private, self.public(role))

    def _write(self, role: str, signer: CryptoSigner) -> CryptoSigner:
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.path, 0o700)
        key = signer.public_key
        atomic_write(self.path / f"{role}.key", signer.private_bytes, mode=0o600)
        pub = json.dumps({"keyid": key.keyid, "key": key.to_dict()}, indent=1, sort_keys=True)
        atomic_write(self.path / f"{role}.pub.json", pub.encode() + b"\n", mode=0o644)
        return signer

    @staticmethod
    def _check_role(role: str) -> None:
        if role not in ROLES:
            raise UpdateError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
