"""Reading copies sealed PAdES B-LTA under the archive PKI, judged by pyHanko, poppler and OpenSSL."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pikepdf
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.ades import ades_lta_validation
from pyhanko.sign.ades.report import AdESPassed
from pyhanko.sign.validation import validate_pdf_timestamp
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko.sign.validation.policy_decl import (
    LocalKnowledge,
    PdfSignatureValidationSpec,
    RevocationInfoGatheringSpec,
    RevinfoOnlineFetchingRule,
    SignatureValidationSpec,
)
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.policy_decl import CertRevTrustPolicy, RevocationCheckingPolicy, RevocationCheckingRule
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleTrustManager

from archive.pki import ensure_dev_pki
from dissemination.dip import DipRecord, SealConfig, build_dip
from dissemination.seal import LtaContext, Sealer, ensure_dissemination_keys, validate_sealed
from schemas.errors import ConfigurationError
from tests.archive.test_pki import _paths


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return ensure_dev_pki(_paths(tmp_path_factory.mktemp("pki")), court="广州市花都区人民法院")


def _lta(pki, tsa) -> LtaContext:
    return LtaContext(tsa_url=tsa.url, roots=(pki.root_cert, tsa.root), crls=(pki.crl,), chain=(pki.root_cert,))


def _seal(pki, tsa) -> SealConfig:
    return SealConfig(key_path=pki.seal_key, cert_path=pki.seal_cert, chain=pki.root_cert, lta=_lta(pki, tsa),
                      location="广州")


@pytest.fixture(scope="module")
def lta_dip(corpus_documents, spec, pki, tsa, tmp_path_factory) -> DipRecord:
    docs = [d for d in corpus_documents if d.volume == "正卷" and d.disclosable][:1]
    return build_dip(docs, spec, tmp_path_factory.mktemp("dip"), request_record={"id": spec.request_id},
                     seal=_seal(pki, tsa))


def _pdfs(dip: DipRecord) -> list[Path]:
    return [p for p in dip.files if p.suffix == ".pdf"]


def test_copies_are_intact_trusted_timestamped_and_lta_under_the_root_alone(lta_dip, pki, tsa) -> None:
    for pdf in _pdfs(lta_dip):
        status = validate_sealed(pdf, pki.seal_cert, roots=[pki.root_cert], tsa_roots=[tsa.root])
        assert status.valid and status.intact and status.trusted, status.detail
        assert status.timestamped and status.level == "B-LTA", status


def test_pyhanko_ades_lta_validation_passes(lta_dip, pki, tsa) -> None:
    roots = SimpleTrustManager.build([load_cert_from_pemder(str(pki.root_cert))])
    ts_roots = SimpleTrustManager.build([load_cert_from_pemder(str(tsa.root))])
    crl_required = CertRevTrustPolicy(RevocationCheckingPolicy(  # the seal's CRL must be in the DSS
        ee_certificate_rule=RevocationCheckingRule.CRL_REQUIRED,
        intermediate_ca_cert_rule=RevocationCheckingRule.CRL_REQUIRED))
    if_declared = CertRevTrustPolicy(RevocationCheckingPolicy(  # the test TSA publishes no revocation data
        ee_certificate_rule=RevocationCheckingRule.CHECK_IF_DECLARED,
        intermediate_ca_cert_rule=RevocationCheckingRule.CHECK_IF_DECLARED))
    spec = PdfSignatureValidationSpec(SignatureValidationSpec(
        cert_validation_policy=CertValidationPolicySpec(trust_manager=roots, revinfo_policy=crl_required),
        ts_cert_validation_policy=CertValidationPolicySpec(trust_manager=ts_roots, revinfo_policy=if_declared),
        revinfo_gathering_policy=RevocationInfoGatheringSpec(online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY),
        local_knowledge=LocalKnowledge()))
    pdf = _pdfs(lta_dip)[0]
    with pdf.open("rb") as handle:
        signature = PdfFileReader(handle, strict=False).embedded_regular_signatures[0]
        result = asyncio.run(ades_lta_validation(signature, spec))
    assert result.ades_subindic == AdESPassed.OK, result
    assert result.oldest_evidence_record_timestamp is not None


def test_pdfsig_reports_the_seal_valid(lta_dip) -> None:
    for pdf in _pdfs(lta_dip):
        out = subprocess.run(["pdfsig", str(pdf)], capture_output=True, text=True).stdout
        assert "Signature Validation: Signature is Valid." in out, out


def test_signed_manifest_verifies_with_openssl_and_the_root(lta_dip, pki) -> None:
    manifest = next(p for p in lta_dip.files if p.name == "manifest.json")
    proc = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", f"{manifest}.p7s",
                           "-content", str(manifest), "-CAfile", str(pki.root_cert), "-purpose", "any",
                           "-out", "/dev/null"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_a_look_alike_reseal_is_untrusted(corpus_documents, spec, pki, tsa, tmp_path: Path) -> None:
    key, cert = ensure_dissemination_keys(tmp_path / "fake.key", tmp_path / "fake.pem",
                                          "广州市花都区人民法院 dissemination seal")
    docs = [d for d in corpus_documents if d.volume == "正卷" and d.disclosable][:1]
    fake = build_dip(docs, spec, tmp_path / "dip", request_record={}, seal=SealConfig(key_path=key, cert_path=cert))
    pdf = _pdfs(fake)[0]
    status = validate_sealed(pdf, cert, roots=[pki.root_cert], tsa_roots=[tsa.root])
    assert status.intact and not status.trusted and not status.valid, status


def _der(path: Path) -> bytes:
    return x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(serialization.Encoding.DER)


@pytest.mark.parametrize("object_streams", ["disable", "generate"])
def test_lta_updates_are_well_formed_for_either_xref_kind(corpus_documents, pki, tsa, tmp_path: Path,
                                                          object_streams: str) -> None:
    """The DSS and the document timestamp are laid by hand (``dissemination.pades_lta``): three
    updates over an xref table or stream that qpdf and pyHanko's strict reader accept, the DSS
    holding both chains and the root's CRL under the /VRI key pyHanko would use, and a document
    timestamp covering every byte."""
    source = tmp_path / "source.pdf"
    with pikepdf.open(corpus_documents[0].source_pdf) as pdf:
        pdf.save(source, object_stream_mode=getattr(pikepdf.ObjectStreamMode, object_streams))
    sealer = Sealer(key_path=pki.seal_key, cert_path=pki.seal_cert, reason="电子阅卷", location="广州",
                    chain=pki.root_cert, lta=_lta(pki, tsa))
    sealed = sealer.write(source, tmp_path / "sealed.pdf")
    check = subprocess.run(["qpdf", "--check", str(sealed)], capture_output=True, text=True)
    assert check.returncode == 0 and "WARNING" not in check.stdout + check.stderr, check.stdout + check.stderr
    with sealed.open("rb") as handle:
        reader = PdfFileReader(handle, strict=True)
        assert reader.xrefs.total_revisions == 4  # the source, the seal, the DSS, the document timestamp
        stamp = reader.embedded_timestamp_signatures[-1]
        status = validate_pdf_timestamp(stamp, ValidationContext(trust_roots=[load_cert_from_pemder(str(tsa.root))],
                                                                 allow_fetching=False))
        assert status.intact and status.valid and status.trusted, status
        assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
        dss = DocumentSecurityStore.read_dss(reader)
        seal = reader.embedded_regular_signatures[0]
        assert DocumentSecurityStore.sig_content_identifier(seal.pkcs7_content.hex().encode()) in dss.vri_entries
        assert {c.dump() for c in dss.load_certs()} == {_der(p) for p in (pki.seal_cert, pki.root_cert, tsa.cert,
                                                                           tsa.root)}
        crl = x509.load_pem_x509_crl(pki.crl.read_bytes()).public_bytes(serialization.Encoding.DER)
        assert [ref.get_object().data for ref in dss.crls] == [crl]
    status = validate_sealed(sealed, pki.seal_cert, roots=[pki.root_cert], tsa_roots=[tsa.root])
    assert status.valid and status.level == "B-LTA", status
    data = bytearray(sealed.read_bytes())
    data[data.index(crl) + 40] ^= 0x01  # one bit of the DSS, which only the document timestamp covers
    (tmp_path / "tampered.pdf").write_bytes(bytes(data))
    broken = validate_sealed(tmp_path / "tampered.pdf", pki.seal_cert, roots=[pki.root_cert], tsa_roots=[tsa.root])
    assert broken.level != "B-LTA" and not broken.intact, broken


def test_a_seal_certificate_without_a_path_to_a_trusted_root_is_refused_before_any_copy(pki, tsa) -> None:
    lta = LtaContext(tsa_url=tsa.url, roots=(tsa.root,), crls=(pki.crl,))  # the archive root missing
    with pytest.raises(ConfigurationError) as caught:
        Sealer(key_path=pki.seal_key, cert_path=pki.seal_cert, reason="电子阅卷", location="广州",
               chain=pki.root_cert, lta=lta)
    assert caught.value.code == "E474" and "dissemination seal" in str(caught.value), caught.value
