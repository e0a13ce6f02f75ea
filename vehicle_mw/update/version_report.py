"""The vehicle version manifest: what is installed, signed by the vehicle's Ed25519 key.

The Director learns from it what each vehicle runs and whether it saw an attack; the counter
changes with every report and the Director refuses one that does not increase, so an old
report cannot be replayed to hide an attack or an unwanted version.

Wire format (JSON): ``{"signed": {...}, "signature": {"keyid": hex, "sig": hex}}`` where the
signature covers the canonical JSON of ``signed`` (sorted keys, no spaces, UTF-8).
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)

from vehicle_mw.update.errors import UpdateError, UpdateRefused
from vehicle_mw.update.storage import atomic_write, read_json, write_json

MAX_REPORT_BYTES = 256 * 1024


def canonical(doc: Any) -> bytes:
    """The bytes a signature covers."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def key_id(public: Ed25519PublicKey) -> str:
    """SHA-256 of the raw public key, hex (names the key in reports)."""
    return hashlib.sha256(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()


def public_pem(public: Ed25519PublicKey) -> str:
    return public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def load_public_pem(pem: str | bytes, source: str) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM; UpdateError naming ``source`` otherwise."""
    try:
        key = load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    except ValueError as exc:
        raise UpdateError(f"{source}: not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise UpdateError(f"{source}: not an Ed25519 public key")
    return key


class VehicleKey:
    """The vehicle's report key (``vehicle.key``, 0600) and its report counter (``report-counter.json``)."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = pathlib.Path(folder)
        path = self.folder / "vehicle.key"
        if not path.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            pem = Ed25519PrivateKey.generate().private_bytes(
                Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
            )
            atomic_write(path, pem, mode=0o600)
        try:
            key = load_pem_private_key(path.read_bytes(), None)
        except ValueError as exc:
            raise UpdateError(f"{path}: not a PEM private key ({exc})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise UpdateError(f"{path}: not an Ed25519 private key")
        self._key = key
        self.public = key.public_key()

    def public_pem(self) -> str:
        return public_pem(self.public)

    def next_counter(self) -> int:
        """Increment the report counter durably *before* it is used (a crash never reuses one)."""
        path = self.folder / "report-counter.json"
        counter = int((read_json(path, {"counter": 0}) or {}).get("counter", 0)) + 1
        write_json(path, {"counter": counter}, mode=0o600)
        return counter

    def sign(self, signed: dict[str, Any]) -> bytes:
        """The wire form of a report whose body is ``signed``."""
        sig = self._key.sign(canonical(signed))
        return canonical({"signed": signed, "signature": {"keyid": key_id(self.public), "sig": sig.hex()}})


def verify_report(data: bytes, public: Ed25519PublicKey, vehicle_id: str) -> dict[str, Any]:
    """The signed body of a report from ``vehicle_id``; UpdateRefused when malformed or forged."""
    if len(data) > MAX_REPORT_BYTES:
        raise UpdateRefused(
            "endless_data", f"report of {len(data)} B exceeds {MAX_REPORT_BYTES} B", vehicle_id
        )
    try:
        doc = json.loads(data)
        signed, sig = doc["signed"], doc["signature"]
        raw = bytes.fromhex(sig["sig"])
        if not isinstance(signed, dict):
            raise TypeError("signed is not an object")
    except (ValueError, KeyError, TypeError) as exc:
        raise UpdateRefused("invalid_report", f"malformed version report ({exc})", vehicle_id) from None
    try:
        public.verify(raw, canonical(signed))
    except InvalidSignature:
        raise UpdateRefused(
            "bad_signature", "version report not signed by the vehicle's key", vehicle_id
        ) from None
    if signed.get("vehicle_id") != vehicle_id:
        raise UpdateRefused(
            "invalid_report",
            f"report is for vehicle {signed.get('vehicle_id')!r}, posted as {vehicle_id!r}",
            vehicle_id,
        )
    counter = signed.get("counter")
    if isinstance(counter, bool) or not isinstance(counter, int) or counter < 1:
        raise UpdateRefused("invalid_report", f"counter {counter!r} is not a positive integer", vehicle_id)
    return signed
