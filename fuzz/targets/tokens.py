"""Vehicle tokens (``vmw1.<payload>.<mac>``) as the gateway verifies them.

Odd first byte: the rest is the token text. Even first byte: the rest is a claims payload that the
harness signs with the gateway secret, so the fuzzer reaches the claims parsing behind the MAC
(a forged MAC is never accepted, and signed garbage must still be a clear TokenError).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from fuzz.harness import Input
from vehicle_mw.gateway.errors import TokenError
from vehicle_mw.gateway.tokens import PREFIX, TokenClaims, verify_token

SECRET = b"fuzz-secret-0123456789abcdef"
NOW = 1_800_000_000.0
EXPECTED = (TokenError,)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign(payload: bytes) -> str:
    """A token whose MAC verifies, around any payload bytes."""
    body = f"{PREFIX}.{_b64(payload)}"
    return f"{body}.{_b64(hmac.new(SECRET, body.encode(), hashlib.sha256).digest())}"


def one_input(data: bytes) -> None:
    inp = Input(data)
    mode = inp.byte()
    rest = inp.rest()
    token = rest.decode("utf-8", "replace") if mode & 1 else sign(rest)
    claims = verify_token(SECRET, token, now=NOW)
    assert isinstance(claims, TokenClaims) and claims.expires_at > NOW
