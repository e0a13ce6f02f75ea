"""Signed vehicle tokens: ``vmw1.<payload>.<mac>``, HMAC-SHA256 over the payload, with expiry.

The payload is base64url JSON ``{"sub": vehicle_id, "iat": s, "exp": s, "jti": id}``. A token proves
the vehicle identity when no client certificate does (WebSocket through proxies, gRPC without mTLS).
``jti`` names one token so that it can be revoked alone (tokens of earlier versions carry none).
Verification is total: any malformed input (huge numbers, ``inf``, deep nesting, oversize text)
is a :class:`TokenError`, never another exception.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import pathlib
import time
from dataclasses import dataclass

from vehicle_mw.gateway.errors import GatewayError, TokenError

PREFIX = "vmw1"
MAX_TOKEN_CHARS = 4096  # far above a real token (~200 chars); bounds the work before the MAC check


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token says."""

    vehicle_id: str
    issued_at: int
    expires_at: int
    token_id: str = ""


def new_secret_file(path: str | pathlib.Path) -> pathlib.Path:
    """Write a fresh 256-bit secret (hex) readable only by the owner."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(os.urandom(32).hex() + "\n")
    return path


def load_secret(path: str | pathlib.Path) -> bytes:
    """Read a secret file written by :func:`new_secret_file` (or any non-empty text)."""
    try:
        text = pathlib.Path(path).read_text().strip()
    except OSError as exc:
        raise GatewayError(f"token secret file {path}: {exc.strerror}") from None
    if len(text) < 16:
        raise GatewayError(f"token secret file {path}: secret shorter than 16 characters")
    return text.encode()


def issue_token(secret: bytes, vehicle_id: str, ttl_s: float, now: float | None = None) -> str:
    """A token for ``vehicle_id`` valid for ``ttl_s`` seconds from ``now``."""
    if not vehicle_id:
        raise GatewayError("a token needs a vehicle id")
    issued = int(now if now is not None else time.time())
    claims = {"sub": vehicle_id, "iat": issued, "exp": issued + int(ttl_s), "jti": os.urandom(8).hex()}
    payload = json.dumps(claims, separators=(",", ":"))
    body = f"{PREFIX}.{_b64(payload.encode())}"
    mac = hmac.new(secret, body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def verify_token(secret: bytes, token: str, now: float | None = None) -> TokenClaims:
    """The claims of a valid token; :class:`TokenError` saying why otherwise."""
    if len(token) > MAX_TOKEN_CHARS:
        raise TokenError(f"token of {len(token)} characters exceeds {MAX_TOKEN_CHARS}")
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise TokenError(f"token is not a {PREFIX} token")
    body = f"{parts[0]}.{parts[1]}"
    expected = hmac.new(secret, body.encode(), hashlib.sha256).digest()
    try:
        mac = _unb64(parts[2])
    except ValueError:
        raise TokenError("token is malformed") from None
    if not hmac.compare_digest(mac, expected):
        raise TokenError("token signature does not verify (wrong gateway secret or altered token)")
    claims = parse_claims(parts[1])
    vehicle_id, expires = claims.vehicle_id, claims.expires_at
    now = time.time() if now is None else now
    if now >= expires:
        raise TokenError(f"token for {vehicle_id} expired {int(now - expires)} s ago", expired=True)
    return claims


def parse_claims(payload_b64: str) -> TokenClaims:
    """The claims in a token's payload part (not verified); :class:`TokenError` on anything malformed."""
    try:
        claims = json.loads(_unb64(payload_b64))
        if not isinstance(claims, dict):
            raise TypeError("claims are not an object")
        vehicle_id, issued, expires = str(claims["sub"]), int(claims["iat"]), int(claims["exp"])
        token_id = str(claims.get("jti", ""))
    except (ValueError, KeyError, TypeError, OverflowError, RecursionError):
        raise TokenError("token is malformed") from None
    return TokenClaims(vehicle_id, issued, expires, token_id)


__all__ = ["TokenClaims", "issue_token", "parse_claims", "load_secret", "new_secret_file", "verify_token"]
