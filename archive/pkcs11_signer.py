"""AIP signatures with a key that never leaves a PKCS #11 token (an HSM; SoftHSM2 in tests).

``signer_backend = "pkcs11"`` with ``pkcs11_module`` (the token's library, e.g.
``/usr/lib/softhsm/libsofthsm2.so``), ``pkcs11_token`` (label), ``pkcs11_key_label`` and
``pkcs11_pin``; the certificate still comes from ``signing_cert`` (issued by the court's CA for
the token's public key). The SHA-256 of the DER signed attributes (``assemble_cms``) is computed
here and the token signs it with plain CKM_ECDSA (SoftHSM2 2.6 has no CKM_ECDSA_SHA256); the raw
r||s it returns becomes the DER ECDSA-Sig-Value CMS expects.
One session per signature: signing runs a few times per ingest, never in a tight loop.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pkcs11
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from pkcs11 import KeyType, Mechanism, ObjectClass

from archive.signing import Signer, assemble_cms
from schemas.errors import ConfigurationError


class Pkcs11Signer(Signer):
    """ECDSA P-256 signatures made on the token by the private key labelled ``key_label``."""

    def __init__(self, module: Path, token: str, key_label: str, pin: str, cert_path: Path,
                 chain_path: Path | None = None) -> None:
        if not cert_path.is_file():
            raise ConfigurationError("E408", str(cert_path))
        try:
            self._token = pkcs11.lib(str(module)).get_token(token_label=token)
        except Exception as exc:  # noqa: BLE001 - a missing library or token: one configuration error
            raise ConfigurationError("E460", str(module), reason=f"token {token!r}: {exc}") from exc
        self._label, self._pin = key_label, pin
        self._cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        self._chain = x509.load_pem_x509_certificates(chain_path.read_bytes()) if chain_path else []

    def _sign_raw(self, message: bytes) -> bytes:
        with self._token.open(user_pin=self._pin) as session:
            key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, key_type=KeyType.EC, label=self._label)
            raw = key.sign(hashlib.sha256(message).digest(), mechanism=Mechanism.ECDSA)
        half = len(raw) // 2
        return encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))

    def sign_detached(self, data: bytes) -> bytes:
        return assemble_cms(data, self._cert, self._chain, digest_name="sha256", signature_algorithm="sha256_ecdsa",
                            sign_raw=self._sign_raw)

    def certificate(self) -> x509.Certificate:
        return self._cert

    def chain(self) -> list[x509.Certificate]:
        return list(self._chain)


def open_pkcs11_signer(settings, chain: Path | None) -> Pkcs11Signer:
    if settings.pkcs11_module is None or settings.pkcs11_pin is None:
        raise ConfigurationError("E900", "pkcs11_module", reason="signer_backend pkcs11 needs pkcs11_module and pkcs11_pin")
    return Pkcs11Signer(settings.pkcs11_module, settings.pkcs11_token, settings.pkcs11_key_label,
                        settings.pkcs11_pin.get_secret_value(), settings.signing_cert, chain)
