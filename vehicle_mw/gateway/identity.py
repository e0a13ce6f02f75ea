"""Who a connection is: names from its client certificate, or the subject of its token.

A vehicle writes only as itself: the Hello's ``vehicle_id`` must be one of the names its
certificate carries (CN, SAN DNS, SAN ``URI:vmw:vehicle:<id>``), or the subject of its token.
"""

from __future__ import annotations

from dataclasses import dataclass

from vehicle_mw.gateway.errors import TokenError
from vehicle_mw.gateway.tokens import verify_token
from vehicle_mw.v1 import link_pb2

Code = link_pb2.Error.Code
URI_PREFIX = "vmw:vehicle:"


@dataclass(frozen=True)
class Refusal:
    """Why a Hello is refused, as the Error sent back to the vehicle."""

    code: int
    message: str


def names_from_peercert(peercert: dict | None) -> frozenset[str]:
    """Vehicle names in an ``ssl`` peer certificate dict (``getpeercert()``)."""
    if not peercert:
        return frozenset()
    names: set[str] = set()
    for rdn in peercert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                names.add(value)
    for kind, value in peercert.get("subjectAltName", ()):
        if kind == "DNS":
            names.add(value)
        elif kind == "URI" and value.startswith(URI_PREFIX):
            names.add(value[len(URI_PREFIX) :])
    return frozenset(names)


def names_from_grpc_auth(auth: dict[str, list[bytes]]) -> frozenset[str]:
    """Vehicle names in a gRPC ``context.auth_context()`` of an mTLS peer."""
    names = {v.decode() for v in auth.get("x509_common_name", [])}
    for value in auth.get("x509_subject_alternative_name", []):
        text = value.decode()
        names.add(text[len(URI_PREFIX) :] if text.startswith(URI_PREFIX) else text)
    return frozenset(names)


def check_identity(
    hello: link_pb2.Hello,
    cert_names: frozenset[str],
    token_secret: bytes | None,
    allow_anonymous: bool,
) -> Refusal | None:
    """None when ``hello`` may speak as ``hello.vehicle_id``, else the refusal."""
    claimed = hello.vehicle_id
    if not claimed:
        return Refusal(Code.MALFORMED, "Hello has no vehicle_id")
    if cert_names:
        if claimed not in cert_names:
            shown = ", ".join(sorted(cert_names))
            return Refusal(
                Code.PERMISSION_DENIED, f"client certificate is for {shown}, Hello claims {claimed}"
            )
        return None
    if hello.auth_token:
        if token_secret is None:
            return Refusal(
                Code.UNAUTHENTICATED, "this gateway accepts no tokens (no token secret configured)"
            )
        try:
            claims = verify_token(token_secret, hello.auth_token)
        except TokenError as exc:
            return Refusal(Code.UNAUTHENTICATED, str(exc))
        if claims.vehicle_id != claimed:
            return Refusal(
                Code.PERMISSION_DENIED, f"token is for {claims.vehicle_id}, Hello claims {claimed}"
            )
        return None
    if allow_anonymous:
        return None
    return Refusal(Code.UNAUTHENTICATED, "no client certificate and no auth_token: identity unknown")


__all__ = ["Refusal", "check_identity", "names_from_grpc_auth", "names_from_peercert"]
