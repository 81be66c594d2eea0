"""Throwaway certificates for a locked-down etcd: a CA, the server, one client per etcd user.

Generated at test time (and by .ci/run) into a temporary directory, never committed. Usage as a
script: ``python tests/etcd_pki.py DIR`` writes into DIR:

- ``ca.crt``: the CA every party trusts (etcd's ``--trusted-ca-file``, clients' ``ca_cert``);
- ``server.crt``/``server.key``: etcd's certificate for ``127.0.0.1`` and ``localhost``, usable
  for client and peer connections (EKU serverAuth and clientAuth);
- ``root.crt``, ``operator.crt``, ``gateway.crt`` (and ``.key``): client certificates whose
  common name is the etcd user they act as (with ``--client-cert-auth`` etcd takes the user from
  the CN when a request carries no password token);
- ``root.password``, ``operator.password``, ``gateway.password``: random passwords for the users.

Keys are EC P-256 (fast to generate); private keys and passwords are written with mode 0600.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import pathlib
import secrets
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

USERS = ("root", "operator", "gateway")


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "exchange_recovery tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(path: pathlib.Path, data: bytes, *, secret: bool = False) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _ca(cn: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _issue(ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey], cn: str, *,
           server: bool) -> tuple[bytes, bytes]:
    ca_cert, ca_key = ca
    key = _key()
    now = datetime.datetime.now(datetime.UTC)
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
    builder = (
        x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        # Python 3.13's ssl refuses certificates without key identifiers
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
    )
    if server:
        usages.insert(0, ExtendedKeyUsageOID.SERVER_AUTH)
        builder = builder.add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
    cert = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False) \
        .sign(ca_key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)


def generate(directory: str | os.PathLike[str]) -> pathlib.Path:
    """Write a fresh CA, server and client certificates and passwords into `directory`."""
    out = pathlib.Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    ca = _ca("exchange_recovery test CA")
    _write(out / "ca.crt", ca[0].public_bytes(serialization.Encoding.PEM))
    for cn, server in (("server", True), *((user, False) for user in USERS)):
        cert, key = _issue(ca, "127.0.0.1" if server else cn, server=server)
        _write(out / f"{cn}.crt", cert)
        _write(out / f"{cn}.key", key, secret=True)
    for user in USERS:
        _write(out / f"{user}.password", secrets.token_urlsafe(24).encode(), secret=True)
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: etcd_pki.py DIR")
    generate(sys.argv[1])
