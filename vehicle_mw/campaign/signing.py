"""Ed25519 signatures over a campaign's canonical encoding.

The operator's private key stays offline; vehicles hold only verification keys. A signed
document is a small JSON envelope: the document, the id of the key that signed it, and the
signature over :func:`~vehicle_mw.campaign.document.canonical_bytes` of the *validated* document,
so any change to a field that matters (or an unknown key) breaks the signature or the validation.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import pathlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from vehicle_mw.campaign.document import Campaign, canonical_bytes, parse_campaign
from vehicle_mw.campaign.errors import CampaignError

FORMAT = "vmw-campaign-signed/1"
MAX_SIGNED_BYTES = 1 << 20


class SignatureError(CampaignError):
    """A signed document that cannot be trusted; ``code`` is machine-readable."""

    def __init__(self, code: str, reason: str, campaign: str | None = None) -> None:
        self.code = code
        super().__init__(reason, campaign=campaign)


@dataclass(frozen=True)
class SignedCampaign:
    """A verified document and what identifies it."""

    campaign: Campaign
    key_id: str
    sha256: str  # of the canonical encoding
    envelope: bytes


def key_id(public_key: Ed25519PublicKey) -> str:
    """First 16 hex digits of the SHA-256 of the raw public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def generate_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_key_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_private_key(path: str | pathlib.Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pathlib.Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise CampaignError(f"not an unencrypted PEM private key: {exc}", file=str(path)) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise CampaignError("not an Ed25519 private key", file=str(path))
    return key


def load_public_key(path: str | pathlib.Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pathlib.Path(path).read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        raise CampaignError(f"not a PEM public key: {exc}", file=str(path)) from None
    if not isinstance(key, Ed25519PublicKey):
        raise CampaignError("not an Ed25519 public key", file=str(path))
    return key


def sign(campaign: Campaign, key: Ed25519PrivateKey) -> bytes:
    """The signed envelope (UTF-8 JSON) of a validated document."""
    envelope = {
        "format": FORMAT,
        "key_id": key_id(key.public_key()),
        "signature": base64.b64encode(key.sign(canonical_bytes(campaign))).decode(),
        "document": campaign.model_dump(mode="json"),
    }
    return (json.dumps(envelope, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode()


def verify(envelope: bytes, keys: list[Ed25519PublicKey]) -> SignedCampaign:
    """Check an envelope against trusted keys; :class:`SignatureError` says why not."""
    if len(envelope) > MAX_SIGNED_BYTES:
        raise SignatureError("malformed", f"signed document larger than {MAX_SIGNED_BYTES} bytes")
    try:
        data = json.loads(envelope)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SignatureError("malformed", f"not a JSON envelope: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SignatureError("malformed", f"not a {FORMAT} envelope")
    doc = data.get("document")
    name = doc.get("name") if isinstance(doc, dict) and isinstance(doc.get("name"), str) else None
    try:
        signature = base64.b64decode(str(data.get("signature", "")), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("malformed", "signature is not base64", name) from None
    try:
        campaign = parse_campaign(doc, "<signed document>", "document")
    except CampaignError as exc:
        raise SignatureError("malformed", str(exc), name) from None
    wanted = str(data.get("key_id", ""))
    candidates = [k for k in keys if key_id(k) == wanted]
    if not candidates:
        raise SignatureError(
            "unknown_key", f"signed by key {wanted!r}, which this vehicle does not trust", name
        )
    body = canonical_bytes(campaign)
    for k in candidates:
        try:
            k.verify(signature, body)
        except InvalidSignature:
            continue
        return SignedCampaign(campaign, wanted, hashlib.sha256(body).hexdigest(), envelope)
    raise SignatureError("bad_signature", "the signature does not match the document", name)


__all__ = [
    "FORMAT",
    "SignatureError",
    "SignedCampaign",
    "generate_key",
    "key_id",
    "load_private_key",
    "load_public_key",
    "private_key_pem",
    "public_key_pem",
    "sign",
    "verify",
]
