"""A small private PKI for a gateway and its vehicles, made with the ``openssl`` command.

Good for development, tests and benches: one CA, a server certificate for localhost, and one
client certificate per vehicle whose common name and SAN (``URI:vmw:vehicle:<id>`` and
``DNS:<id>``) are the vehicle id. Production fleets bring their own CA.
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess
from dataclasses import dataclass

from vehicle_mw.gateway.errors import GatewayError


@dataclass(frozen=True)
class CertPair:
    """A certificate and its private key, both PEM files."""

    cert: pathlib.Path
    key: pathlib.Path


def _openssl(*args: str, cwd: pathlib.Path) -> None:
    exe = shutil.which("openssl")
    if exe is None:
        raise GatewayError("the openssl command is needed to make certificates (apt-get install openssl)")
    proc = subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode:
        raise GatewayError(f"openssl {args[0]} failed: {proc.stderr.strip()}")


def make_ca(folder: str | pathlib.Path, name: str = "vmw-ca", days: int = 3650) -> CertPair:
    """A self-signed CA (EC P-256) in ``folder``/``name``.{crt,key}."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pair = CertPair(folder / f"{name}.crt", folder / f"{name}.key")
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        str(pair.key),
        "-out",
        str(pair.cert),
        "-days",
        str(days),
        "-subj",
        f"/CN={name}",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        cwd=folder,
    )
    return pair


def make_cert(
    ca: CertPair,
    folder: str | pathlib.Path,
    common_name: str,
    sans: list[str],
    client: bool,
    days: int = 825,
) -> CertPair:
    """A leaf certificate signed by ``ca``: a server (``client=False``) or a vehicle certificate."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = common_name.replace("/", "_")
    pair = CertPair(folder / f"{stem}.crt", folder / f"{stem}.key")
    csr = folder / f"{stem}.csr"
    ext = folder / f"{stem}.ext"
    usage = "clientAuth" if client else "serverAuth"
    ext.write_text(f"subjectAltName={','.join(sans)}\nextendedKeyUsage={usage}\nbasicConstraints=CA:FALSE\n")
    _openssl(
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        str(pair.key),
        "-out",
        str(csr),
        "-subj",
        f"/CN={common_name}",
        cwd=folder,
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca.cert),
        "-CAkey",
        str(ca.key),
        "-CAcreateserial",
        "-out",
        str(pair.cert),
        "-days",
        str(days),
        "-extfile",
        str(ext),
        cwd=folder,
    )
    csr.unlink()
    ext.unlink()
    return pair


def make_server_cert(ca: CertPair, folder: str | pathlib.Path, host: str = "localhost") -> CertPair:
    """A server certificate for ``host``, 127.0.0.1 and ::1."""
    return make_cert(ca, folder, host, [f"DNS:{host}", "IP:127.0.0.1", "IP:::1"], client=False)


def make_vehicle_cert(ca: CertPair, folder: str | pathlib.Path, vehicle_id: str) -> CertPair:
    """A client certificate naming ``vehicle_id`` in its CN and SAN."""
    return make_cert(
        ca, folder, vehicle_id, [f"URI:vmw:vehicle:{vehicle_id}", f"DNS:{vehicle_id}"], client=True
    )


__all__ = ["CertPair", "make_ca", "make_cert", "make_server_cert", "make_vehicle_cert"]
