"""The archive PKI and CAdES-T signatures, checked with OpenSSL as a third party would."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from asn1crypto import cms
from cryptography import x509

from archive.pki import PkiPaths, ensure_dev_pki, rotate_signing_certificate
from archive.signing import SIGNATURE_NAME, SIGNED_FILE, FileSigner, TimestampingSigner, sign_bag, verify_bag_signature
from archive.trusted_time import NO_TRUSTED_TIME, TimestampAuthority, check_signature_timestamp, describe_time
from tests.archive.conftest import store_make_bag


def _paths(home: Path) -> PkiPaths:
    keys = home / "keys"
    return PkiPaths(root_cert=keys / "root-ca.pem", root_key=home / "root-ca" / "root-ca.key",
                    crl=keys / "root-ca.crl.pem", signing_key=keys / "archive-signing.key",
                    signing_cert=keys / "archive-signing.pem", seal_key=keys / "dissemination.key",
                    seal_cert=keys / "dissemination.pem")


@pytest.fixture()
def pki(tmp_path: Path) -> PkiPaths:
    return ensure_dev_pki(_paths(tmp_path / "home"))


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _openssl_verify(bag: Path, ca_file: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(bag / SIGNATURE_NAME),
                           "-content", str(bag / SIGNED_FILE), "-CAfile", str(ca_file), "-purpose", "any",
                           "-out", "/dev/null"], capture_output=True, text=True)


def test_dev_pki_has_a_root_kept_apart_end_entities_it_issued_and_a_crl(pki: PkiPaths) -> None:
    root = _cert(pki.root_cert)
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert pki.root_key.parent != pki.signing_key.parent
    assert oct(pki.root_key.parent.stat().st_mode)[-3:] == "700"
    for path in (pki.signing_cert, pki.seal_cert):
        leaf = _cert(path)
        assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
        assert usage.digital_signature and usage.content_commitment and not usage.key_cert_sign
        leaf.verify_directly_issued_by(root)
    crl = x509.load_pem_x509_crl(pki.crl.read_bytes())
    assert crl.is_signature_valid(root.public_key()) and len(crl) == 0
    again = ensure_dev_pki(pki)
    assert _cert(again.signing_cert) == _cert(pki.signing_cert)


def test_openssl_verifies_a_bag_with_the_root_alone_and_its_timestamp_token(pki: PkiPaths, tsa, tmp_path: Path) -> None:
    signer = TimestampingSigner(FileSigner(pki.signing_key, pki.signing_cert, pki.root_cert),
                                TimestampAuthority(tsa.url))
    bag = store_make_bag(tmp_path / "bag", signer, {"a.txt": b"alpha"})
    proc = _openssl_verify(bag, pki.root_cert)
    assert proc.returncode == 0, proc.stderr
    signature = (bag / SIGNATURE_NAME).read_bytes()
    info = cms.ContentInfo.load(signature)["content"]["signer_infos"][0]
    token = info["unsigned_attrs"][0]["values"][0]
    (tmp_path / "token.der").write_bytes(token.dump())
    (tmp_path / "value.bin").write_bytes(info["signature"].native)
    proc = subprocess.run(["openssl", "ts", "-verify", "-token_in", "-in", str(tmp_path / "token.der"),
                           "-data", str(tmp_path / "value.bin"), "-CAfile", str(tsa.root)],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "Verification: OK" in proc.stdout, proc.stdout + proc.stderr
    check = check_signature_timestamp(signature, [_cert(tsa.root)])
    assert check is not None and check.valid and describe_time(check).startswith("trusted time ")
    assert verify_bag_signature(bag, [_cert(pki.root_cert)]) == []


def test_a_stranger_root_does_not_verify_and_no_tsa_means_no_trusted_time(pki: PkiPaths, tmp_path: Path) -> None:
    bag = store_make_bag(tmp_path / "bag", FileSigner(pki.signing_key, pki.signing_cert, pki.root_cert),
                         {"a.txt": b"alpha"})
    stranger = ensure_dev_pki(_paths(tmp_path / "stranger"))
    assert _openssl_verify(bag, stranger.root_cert).returncode != 0
    assert verify_bag_signature(bag, [_cert(stranger.root_cert)])
    assert describe_time(check_signature_timestamp((bag / SIGNATURE_NAME).read_bytes(), [])) == NO_TRUSTED_TIME


def test_a_changed_timestamp_token_breaks_the_signature(pki: PkiPaths, tsa, tmp_path: Path) -> None:
    signer = TimestampingSigner(FileSigner(pki.signing_key, pki.signing_cert, pki.root_cert),
                                TimestampAuthority(tsa.url))
    bag = store_make_bag(tmp_path / "bag", signer, {"a.txt": b"alpha"})
    signature = bytearray((bag / SIGNATURE_NAME).read_bytes())
    info = cms.ContentInfo.load(bytes(signature))["content"]["signer_infos"][0]
    imprint = info["unsigned_attrs"][0]["values"][0]["content"]["encap_content_info"]["content"].parsed[
        "message_imprint"]["hashed_message"].native
    at = bytes(signature).index(imprint)
    signature[at] ^= 1
    (bag / SIGNATURE_NAME).write_bytes(bytes(signature))
    problems = verify_bag_signature(bag, [_cert(pki.root_cert)])
    assert problems and "timestamp" in problems[0].message


def test_rotation_keeps_old_signatures_verifying_under_the_root(pki: PkiPaths, tmp_path: Path) -> None:
    old = store_make_bag(tmp_path / "old", FileSigner(pki.signing_key, pki.signing_cert, pki.root_cert),
                         {"a.txt": b"alpha"})
    before = _cert(pki.signing_cert)
    after = rotate_signing_certificate(pki, "ecdsa-p256")
    assert after != before
    new = store_make_bag(tmp_path / "new", FileSigner(pki.signing_key, pki.signing_cert, pki.root_cert),
                         {"a.txt": b"alpha"})
    for bag in (old, new):
        assert _openssl_verify(bag, pki.root_cert).returncode == 0
        assert verify_bag_signature(bag, [_cert(pki.root_cert)]) == []


def test_cli_keys_init_and_info_name_the_root_and_the_tsa(tmp_path: Path) -> None:
    import json
    import os

    from tests.conftest import BIN

    env = {**os.environ, "JUANZONG_HOME": str(tmp_path / "home"), "JUANZONG_TSA_URL": "http://127.0.0.1:9/"}

    def cli(*args: str) -> dict:
        proc = subprocess.run([str(BIN / "juanzong"), *args, "--json"], env=env, capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    made = cli("keys", "init")
    info = cli("info")
    assert info["root_certificate"] == made["root_certificate"] and Path(made["root_certificate"]).is_file()
    assert info["tsa_url"] == "http://127.0.0.1:9/"
    assert not Path(made["root_key"]).is_relative_to(Path(made["root_certificate"]).parent)


def test_sm2_rotation_keeps_old_signatures_verifying_under_the_root(tmp_path: Path) -> None:
    from archive import sm2

    paths = ensure_dev_pki(_paths(tmp_path / "home"), algorithm="sm2")
    old = store_make_bag(tmp_path / "old", sm2.Sm2FileSigner(paths.signing_key, paths.signing_cert, paths.root_cert),
                         {"a.txt": b"alpha"})
    before = sm2.load_certificate(paths.signing_cert)
    after = rotate_signing_certificate(paths, "sm2")
    assert after.serial_number != before.serial_number
    kept = paths.signing_cert.with_name(f"{paths.signing_cert.name}.{before.serial_number:x}")
    assert sm2.load_certificate(kept).dump() == before.dump()
    assert sm2.issued_by(sm2.load_certificate(paths.signing_cert), sm2.load_certificate(paths.root_cert))
    new = store_make_bag(tmp_path / "new", sm2.Sm2FileSigner(paths.signing_key, paths.signing_cert, paths.root_cert),
                         {"a.txt": b"alpha"})
    for bag in (old, new):
        assert verify_bag_signature(bag, [_cert(paths.root_cert)]) == []


def test_rotation_without_the_root_key_names_it_and_keeps_the_signing_pair(pki: PkiPaths, tmp_path: Path) -> None:
    from schemas.errors import ConfigurationError

    before = pki.signing_key.read_bytes(), pki.signing_cert.read_bytes()
    pki.root_key.rename(tmp_path / "root-key-elsewhere.pem")
    with pytest.raises(ConfigurationError) as missing:
        rotate_signing_certificate(pki, "ecdsa-p256")
    assert missing.value.code == "E408" and str(pki.root_key) in str(missing.value)
    assert (pki.signing_key.read_bytes(), pki.signing_cert.read_bytes()) == before
