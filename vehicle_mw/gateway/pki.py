"""A small private PKI for a gateway and its vehicles, made with ``cryptography`` (no openssl command).

Good for development, tests and benches: one CA, a server certificate for localhost, and one
client certificate per vehicle whose common name and SAN (``URI:vmw:vehicle:<id>`` and
``DNS:<id>``) are the vehicle id. Production fleets bring their own CA.

Files are PEM: ``<name>.crt`` and ``<name>.key`` (PKCS#8, unencrypted, mode 0600). Paths are used
as given (relative ones against the current directory). :func:`load_or_make_ca` reuses a CA
already in the folder, so certificates issued earlier stay valid when more vehicles are added.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import pathlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from vehicle_mw.gateway.errors import GatewayError

_BACKDATE = datetime.timedelta(minutes=5)  # tolerate clocks a little behind


@dataclass(frozen=True)
class CertPair:
    """A certificate and its private key, both PEM files."""

    cert: pathlib.Path
    key: pathlib.Path


def _write_key(path: pathlib.Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    os.chmod(path, 0o600)  # also when the file existed with wider permissions


def _write_cert(path: pathlib.Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _folder(folder: str | pathlib.Path) -> pathlib.Path:
    folder = pathlib.Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GatewayError(f"{folder}: cannot create the certificate folder: {exc.strerror}") from None
    return folder


def _validity(days: int) -> tuple[datetime.datetime, datetime.datetime]:
    now = datetime.datetime.now(datetime.UTC)
    return now - _BACKDATE, now + datetime.timedelta(days=days)


def make_ca(folder: str | pathlib.Path, name: str = "vmw-ca", days: int = 3650) -> CertPair:
    """A new self-signed CA (EC P-256) in ``folder``/``name``.{crt,key} (replacing files there)."""
    folder = _folder(folder)
    pair = CertPair(folder / f"{name}.crt", folder / f"{name}.key")
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    start, end = _validity(days)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_key(pair.key, key)
    _write_cert(pair.cert, cert)
    return pair


def load_or_make_ca(folder: str | pathlib.Path, name: str = "vmw-ca", days: int = 3650) -> CertPair:
    """The CA ``name`` in ``folder`` when both its files are there (checked), else a new one."""
    folder = pathlib.Path(folder)
    pair = CertPair(folder / f"{name}.crt", folder / f"{name}.key")
    if not (pair.cert.exists() and pair.key.exists()):
        return make_ca(folder, name, days)
    _load(pair)  # a damaged CA is an error naming its file, not a silent replacement
    return pair


def _load(pair: CertPair) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    try:
        cert = x509.load_pem_x509_certificate(pair.cert.read_bytes())
    except (OSError, ValueError) as exc:
        raise GatewayError(f"{pair.cert}: not a PEM certificate: {exc}") from None
    try:
        key = serialization.load_pem_private_key(pair.key.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise GatewayError(f"{pair.key}: not an unencrypted PEM private key: {exc}") from None
    if key.public_key().public_numbers() != cert.public_key().public_numbers():  # type: ignore[union-attr]
        raise GatewayError(f"{pair.key}: is not the key of {pair.cert}")
    return cert, key  # type: ignore[return-value]


def _san(entry: str) -> x509.GeneralName:
    kind, _, value = entry.partition(":")
    if kind == "DNS":
        return x509.DNSName(value)
    if kind == "IP":
        return x509.IPAddress(ipaddress.ip_address(value))
    if kind == "URI":
        return x509.UniformResourceIdentifier(value)
    raise GatewayError(f"subject alternative name {entry!r}: expected DNS:, IP: or URI:")


def make_cert(
    ca: CertPair,
    folder: str | pathlib.Path,
    common_name: str,
    sans: list[str],
    client: bool,
    days: int = 825,
    stem: str | None = None,
) -> CertPair:
    """A leaf certificate signed by ``ca``: a server (``client=False``) or a vehicle certificate,
    written to ``folder``/``stem``.{crt,key} (``stem`` defaults to the common name)."""
    ca_cert, ca_key = _load(ca)
    folder = _folder(folder)
    stem = stem or common_name.replace("/", "_")
    pair = CertPair(folder / f"{stem}.crt", folder / f"{stem}.key")
    key = ec.generate_private_key(ec.SECP256R1())
    start, end = _validity(days)
    usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(min(end, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectAlternativeName([_san(s) for s in sans]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(pair.key, key)
    _write_cert(pair.cert, cert)
    return pair


def make_server_cert(ca: CertPair, folder: str | pathlib.Path, host: str = "localhost") -> CertPair:
    """A server certificate for ``host``, 127.0.0.1 and ::1."""
    try:
        first = f"IP:{ipaddress.ip_address(host)}"
    except ValueError:
        first = f"DNS:{host}"
    sans = list(dict.fromkeys([first, "IP:127.0.0.1", "IP:::1"]))
    return make_cert(ca, folder, host, sans, client=False)


def make_vehicle_cert(ca: CertPair, folder: str | pathlib.Path, vehicle_id: str) -> CertPair:
    """A client certificate naming ``vehicle_id`` in its CN and SAN."""
    return make_cert(
        ca, folder, vehicle_id, [f"URI:vmw:vehicle:{vehicle_id}", f"DNS:{vehicle_id}"], client=True
    )


__all__ = ["CertPair", "load_or_make_ca", "make_ca", "make_cert", "make_server_cert", "make_vehicle_cert"]
