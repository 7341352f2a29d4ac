"""Detached CMS signatures: our verifier and plain OpenSSL must agree."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from archive.signing import (SIGNATURE_NAME, EphemeralSigner, FileSigner, ensure_dev_keys, signature_info,
                             sign_bag, verify_bag_signature)
from schemas.errors import ConfigurationError


def _openssl_verify(bag: Path, ca_pem: Path) -> subprocess.CompletedProcess:
    """The third-party check documented in archive/signing.py."""
    return subprocess.run(
        ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", SIGNATURE_NAME,
         "-content", "tagmanifest-sha256.txt", "-CAfile", str(ca_pem), "-purpose", "any", "-out", os.devnull],
        cwd=bag, capture_output=True, text=True, check=False)


def _flip_byte(path: Path, offset: int = 0) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_openssl_and_verifier_accept_then_reject_one_changed_byte(store_bag: Path, sig_signer, tmp_path: Path):
    ca_pem = tmp_path / "ca.pem"
    ca_pem.write_bytes(sig_signer.chain()[-1].public_bytes(serialization.Encoding.PEM))
    assert verify_bag_signature(store_bag, [sig_signer.chain()[-1]]) == []
    assert _openssl_verify(store_bag, ca_pem).returncode == 0

    _flip_byte(store_bag / "tagmanifest-sha256.txt", 3)
    problems = verify_bag_signature(store_bag, [sig_signer.chain()[-1]])
    assert [p.code for p in problems] == ["E403"]
    assert "messageDigest" in problems[0].message
    result = _openssl_verify(store_bag, ca_pem)
    assert result.returncode != 0, result.stdout


def test_signature_carries_time_and_chain(store_bag: Path, sig_signer):
    cert, when = signature_info((store_bag / SIGNATURE_NAME).read_bytes())
    assert cert == sig_signer.certificate()
    assert when is not None


def test_untrusted_signer_is_a_problem(store_bag: Path):
    stranger = EphemeralSigner(common_name="stranger").certificate()
    problems = verify_bag_signature(store_bag, [stranger])
    assert [p.code for p in problems] == ["E403"] and "trusted" in problems[0].message


def test_corrupt_signature_bytes_fail(store_bag: Path, sig_signer):
    signature = store_bag / SIGNATURE_NAME
    _flip_byte(signature, len(signature.read_bytes()) - 5)
    assert [p.code for p in verify_bag_signature(store_bag)] == ["E403"]


@pytest.mark.parametrize("algorithm", ["ecdsa-p256", "ed25519"])
def test_dev_keys_sign_and_verify(tmp_path: Path, store_bag: Path, algorithm: str):
    key, cert = tmp_path / "keys" / "k.key", tmp_path / "keys" / "k.pem"
    ensure_dev_keys(key, cert, common_name="开发签名", algorithm=algorithm)
    assert key.stat().st_mode & 0o777 == 0o600 and key.parent.stat().st_mode & 0o777 == 0o700
    signer = FileSigner(key, cert)
    sign_bag(store_bag, signer)
    assert verify_bag_signature(store_bag, [signer.certificate()]) == []


def test_openssl_accepts_dev_ecdsa_key(tmp_path: Path, store_bag: Path):
    key, cert = tmp_path / "k.key", tmp_path / "k.pem"
    ensure_dev_keys(key, cert, common_name="archive")
    sign_bag(store_bag, FileSigner(key, cert))
    assert _openssl_verify(store_bag, cert).returncode == 0


def test_rsa_pss_and_pkcs1_signatures_verify(store_bag: Path, tmp_path: Path):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.hazmat.primitives.serialization import pkcs7

    from archive.signing import self_signed_certificate

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = self_signed_certificate(key, "rsa signer")
    data = (store_bag / "tagmanifest-sha256.txt").read_bytes()
    for pad in (padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH),
                padding.PKCS1v15()):
        der = (pkcs7.PKCS7SignatureBuilder().set_data(data).add_signer(cert, key, hashes.SHA256(), rsa_padding=pad)
               .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary]))
        (store_bag / SIGNATURE_NAME).write_bytes(der)
        assert verify_bag_signature(store_bag, [cert]) == [], pad


def test_key_readable_by_others_is_refused(tmp_path: Path):
    key, cert = tmp_path / "k.key", tmp_path / "k.pem"
    ensure_dev_keys(key, cert, common_name="archive")
    key.chmod(0o644)
    with pytest.raises(ConfigurationError) as caught:
        FileSigner(key, cert)
    assert caught.value.code == "E407" and str(key) in str(caught.value)


def test_missing_key_is_refused(tmp_path: Path):
    with pytest.raises(ConfigurationError) as caught:
        FileSigner(tmp_path / "none.key", tmp_path / "none.pem")
    assert caught.value.code == "E408" and "none.key" in str(caught.value)
