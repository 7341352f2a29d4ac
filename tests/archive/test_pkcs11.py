"""An AIP signature made by a key on a PKCS #11 token (SoftHSM2 from Debian), verified with the root alone."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from archive.pki import ensure_dev_pki, issue_certificate, load_root, pem
from archive.signing import SIGNATURE_NAME, SIGNED_FILE, verify_bag_signature
from tests.archive.conftest import store_make_bag
from tests.archive.test_pki import _paths

MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")
PIN = "1234"


@pytest.fixture()
def token(tmp_path: Path, monkeypatch) -> str:
    if not MODULE.is_file() or shutil.which("softhsm2-util") is None:
        pytest.skip("SoftHSM2 is not installed (scripts/install-debian-packages.sh installs it)")
    (tmp_path / "tokens").mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tmp_path / 'tokens'}\nobjectstore.backend = file\n")
    monkeypatch.setenv("SOFTHSM2_CONF", str(conf))
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "juanzong", "--pin", PIN,
                    "--so-pin", "5678"], check=True, capture_output=True, env={**os.environ, "SOFTHSM2_CONF": str(conf)})
    return "juanzong"


def _keypair_on_token(label: str) -> ec.EllipticCurvePublicKey:
    import pkcs11
    from pkcs11 import Attribute, KeyType
    from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    with pkcs11.lib(str(MODULE)).get_token(token_label="juanzong").open(rw=True, user_pin=PIN) as session:
        params = session.create_domain_parameters(
            KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}, local=True)
        public, _ = params.generate_keypair(store=True, label=label)
        return load_der_public_key(encode_ec_public_key(public))  # type: ignore[return-value]


def test_a_token_key_signs_a_bag_that_openssl_verifies_with_the_root(token: str, tmp_path: Path) -> None:
    from archive.pkcs11_signer import Pkcs11Signer

    pki = ensure_dev_pki(_paths(tmp_path / "home"))
    root_key, root = load_root(pki)
    cert = issue_certificate(_keypair_on_token("aip-signing"), "token AIP signing", root_key, root, ca=False)
    cert_path = tmp_path / "token.pem"
    cert_path.write_bytes(pem(cert))
    signer = Pkcs11Signer(MODULE, token, "aip-signing", PIN, cert_path, pki.root_cert)
    bag = store_make_bag(tmp_path / "bag", signer, {"a.txt": b"alpha"})
    assert verify_bag_signature(bag, [x509.load_pem_x509_certificate(pki.root_cert.read_bytes())]) == []
    proc = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(bag / SIGNATURE_NAME),
                           "-content", str(bag / SIGNED_FILE), "-CAfile", str(pki.root_cert), "-purpose", "any",
                           "-out", "/dev/null"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
