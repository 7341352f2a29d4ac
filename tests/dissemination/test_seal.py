"""dissemination/seal.py: we sign (``dissemination.pades``), pyHanko's validator checks, one byte breaks it."""

from __future__ import annotations

import stat
import subprocess
from datetime import datetime
from pathlib import Path

import pikepdf
import pytest
from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from dissemination.dip import DipDocument
from dissemination.seal import FIELD_NAME, ensure_dissemination_keys, seal_pdf, validate_sealed
from dissemination.watermark import TRACE_PREFIX, WatermarkSpec, watermark_pdf
from schemas.errors import ConfigurationError


@pytest.fixture(scope="module")
def sealed(corpus_documents: list[DipDocument], spec: WatermarkSpec, dev_keys, tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("seal")
    src = next(d.source_pdf for d in corpus_documents if d.title == "送达回证")
    marked = watermark_pdf(src, work / "marked.pdf", spec)
    key, cert = dev_keys
    return seal_pdf(marked, work / "sealed.pdf", key_path=key, cert_path=cert, reason="电子阅卷", location="广州")


def test_dev_key_is_private(dev_keys) -> None:
    key, cert = dev_keys
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert b"PRIVATE" not in cert.read_bytes()


def test_readable_key_is_refused(dev_keys, tmp_path: Path) -> None:
    key, cert = dev_keys
    loose = tmp_path / "loose.key"
    loose.write_bytes(key.read_bytes())
    loose.chmod(0o644)
    with pytest.raises(ConfigurationError) as caught:
        ensure_dissemination_keys(loose, cert, "x")
    assert caught.value.code == "E407"


def test_sealed_copy_is_intact_and_ours(sealed: Path, dev_keys) -> None:
    status = validate_sealed(sealed, dev_keys[1])
    assert status.intact and status.valid, status.detail
    assert status.signer == "广州市花都区人民法院电子阅卷"


def test_seal_is_visible_on_first_page_and_keeps_trace(sealed: Path, spec: WatermarkSpec) -> None:
    with pikepdf.open(sealed) as doc:
        widgets = [a for a in doc.pages[0].get("/Annots", []) if a.get("/T") == FIELD_NAME]
        assert widgets and "/AP" in widgets[0]
        x1, y1, x2, y2 = (float(v) for v in widgets[0].Rect)
        assert x2 - x1 > 50 and y2 - y1 > 50
        assert doc.open_metadata()["dc:identifier"] == TRACE_PREFIX + spec.trace_id


def test_one_changed_byte_breaks_the_seal(sealed: Path, dev_keys, tmp_path: Path) -> None:
    data = bytearray(sealed.read_bytes())
    data[len(data) // 3] ^= 0x01
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(bytes(data))
    status = validate_sealed(tampered, dev_keys[1])
    assert not status.intact and not status.valid


def test_other_certificate_is_not_ours(sealed: Path, tmp_path: Path) -> None:
    _, other = ensure_dissemination_keys(tmp_path / "o.key", tmp_path / "o.pem", "别的证书")
    status = validate_sealed(sealed, other)
    assert status.intact and not status.valid


def test_unsigned_file_is_not_sealed(corpus_documents: list[DipDocument], dev_keys) -> None:
    status = validate_sealed(corpus_documents[0].source_pdf, dev_keys[1])
    assert not status.intact and not status.valid


@pytest.mark.parametrize("object_streams", ["disable", "generate"])
def test_seal_update_is_well_formed_for_either_xref_kind(corpus_documents: list[DipDocument], spec: WatermarkSpec,
                                                         dev_keys, tmp_path: Path, object_streams: str) -> None:
    """The update is written by hand (``dissemination.pades``): it must extend an xref table and
    an xref stream alike so that qpdf and pyHanko's strict reader accept the file unchanged."""
    source = tmp_path / "source.pdf"
    with pikepdf.open(corpus_documents[0].source_pdf) as pdf:
        pages = len(pdf.pages)
        pdf.save(source, object_stream_mode=getattr(pikepdf.ObjectStreamMode, object_streams))
    marked = watermark_pdf(source, tmp_path / "marked.pdf", spec)
    key, cert = dev_keys
    before = datetime.now().astimezone().replace(microsecond=0)
    sealed = seal_pdf(marked, tmp_path / "sealed.pdf", key_path=key, cert_path=cert, reason="电子阅卷", location="广州")
    check = subprocess.run(["qpdf", "--check", str(sealed)], capture_output=True, text=True)
    assert check.returncode == 0 and "WARNING" not in check.stdout + check.stderr, check.stdout + check.stderr
    with sealed.open("rb") as handle:
        signature = PdfFileReader(handle, strict=True).embedded_signatures[0]
        status = validate_pdf_signature(signature, ValidationContext(trust_roots=[load_cert_from_pemder(str(cert))]))
        assert status.intact and status.valid and status.coverage == SignatureCoverageLevel.ENTIRE_FILE
        assert before <= status.signer_reported_dt <= datetime.now().astimezone()
        assert PdfFileReader(handle, strict=True).xrefs.total_revisions == 2  # one write, one signed update
    with pikepdf.open(sealed) as doc:
        assert len(doc.pages) == pages and doc.Root.AcroForm.SigFlags == 3
