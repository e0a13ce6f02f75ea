"""Who a connection is: names from its client certificate, or the subject of its token.

A vehicle writes only as itself: the Hello's ``vehicle_id`` must be one of the names its
certificate carries (CN, SAN DNS, SAN ``URI:vmw:vehicle:<id>``), or the subject of its token.

A certificate is a vehicle identity only with the vehicle profile: not a CA (``CA:FALSE``), the
``clientAuth`` extended key usage, and names that are valid vehicle ids (no wildcards): a CA or
server certificate signed by the same CA proves nothing about a vehicle.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from vehicle_mw.gateway.errors import TokenError
from vehicle_mw.gateway.tokens import TokenClaims, verify_token
from vehicle_mw.v1 import link_pb2

Code = link_pb2.Error.Code
URI_PREFIX = "vmw:vehicle:"
VEHICLE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


@dataclass(frozen=True)
class Refusal:
    """Why a Hello is refused, as the Error sent back to the vehicle."""

    code: int
    message: str


@dataclass(frozen=True)
class CertIdentity:
    """Vehicle names a client certificate proves, or why it proves none (``problem``)."""

    names: frozenset[str] = frozenset()
    problem: str = ""


def valid_vehicle_id(name: str) -> bool:
    return VEHICLE_ID.fullmatch(name) is not None


def cert_identity(cert_bytes: bytes | None) -> CertIdentity:
    """Check a client certificate (DER or PEM) against the vehicle profile and read its names."""
    if not cert_bytes:
        return CertIdentity()
    try:
        cert = (
            x509.load_pem_x509_certificate(cert_bytes)
            if cert_bytes.lstrip().startswith(b"-----")
            else x509.load_der_x509_certificate(cert_bytes)
        )
        ext = cert.extensions
        try:
            is_ca = ext.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        try:
            client_auth = (
                ExtendedKeyUsageOID.CLIENT_AUTH in ext.get_extension_for_class(x509.ExtendedKeyUsage).value
            )
        except x509.ExtensionNotFound:
            client_auth = False
        names = {a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)}
        try:
            san = ext.get_extension_for_class(x509.SubjectAlternativeName).value
            names |= set(san.get_values_for_type(x509.DNSName))
            names |= {
                u[len(URI_PREFIX) :]
                for u in san.get_values_for_type(x509.UniformResourceIdentifier)
                if u.startswith(URI_PREFIX)
            }
        except x509.ExtensionNotFound:
            pass
    except ValueError as exc:
        return CertIdentity(problem=f"client certificate does not parse ({exc})")
    subject = cert.subject.rfc4514_string()
    if is_ca:
        return CertIdentity(problem=f"client certificate {subject} is a CA (CA:TRUE), not a vehicle")
    if not client_auth:
        return CertIdentity(problem=f"client certificate {subject} lacks the clientAuth extended key usage")
    valid = frozenset(n for n in names if isinstance(n, str) and valid_vehicle_id(n))
    if not valid:
        return CertIdentity(problem=f"client certificate {subject} names no valid vehicle id")
    return CertIdentity(valid)


def check_identity(
    hello: link_pb2.Hello,
    cert_names: frozenset[str],
    token_secret: bytes | None,
    allow_anonymous: bool,
) -> Refusal | None:
    """None when ``hello`` may speak as ``hello.vehicle_id``, else the refusal."""
    return identify(hello, CertIdentity(cert_names), token_secret, allow_anonymous)[0]


def identify(
    hello: link_pb2.Hello,
    cert: CertIdentity,
    token_secret: bytes | None,
    allow_anonymous: bool,
    token_revoked: Callable[[TokenClaims], str | None] | None = None,
) -> tuple[Refusal | None, TokenClaims | None]:
    """(refusal or None, the claims of the token that authenticated ``hello`` if any)."""
    claimed = hello.vehicle_id
    if not claimed:
        return Refusal(Code.MALFORMED, "Hello has no vehicle_id"), None
    if not valid_vehicle_id(claimed):
        return Refusal(Code.MALFORMED, f"Hello vehicle_id {claimed[:80]!r} is not a valid vehicle id"), None
    if cert.problem:
        return Refusal(Code.PERMISSION_DENIED, cert.problem), None
    cert_names = cert.names
    if cert_names:
        if claimed not in cert_names:
            shown = ", ".join(sorted(cert_names))
            return Refusal(
                Code.PERMISSION_DENIED, f"client certificate is for {shown}, Hello claims {claimed}"
            ), None
        return None, None
    if hello.auth_token:
        if token_secret is None:
            return Refusal(
                Code.UNAUTHENTICATED, "this gateway accepts no tokens (no token secret configured)"
            ), None
        try:
            claims = verify_token(token_secret, hello.auth_token)
        except TokenError as exc:
            return Refusal(Code.UNAUTHENTICATED, str(exc)), None
        if claims.vehicle_id != claimed:
            return Refusal(
                Code.PERMISSION_DENIED, f"token is for {claims.vehicle_id}, Hello claims {claimed}"
            ), None
        why = token_revoked(claims) if token_revoked is not None else None
        if why:
            return Refusal(Code.PERMISSION_DENIED, why), None
        return None, claims
    if allow_anonymous:
        return None, None
    return Refusal(Code.UNAUTHENTICATED, "no client certificate and no auth_token: identity unknown"), None


__all__ = [
    "CertIdentity",
    "Refusal",
    "cert_identity",
    "check_identity",
    "identify",
    "valid_vehicle_id",
]
