"""dissemination/dip.py: a whole DIP from a generated case."""

from __future__ import annotations

import hashlib
import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from dissemination.dip import TOC_NAME, DipDocument, DipRecord, SealConfig, build_dip, render_toc
from dissemination.seal import validate_sealed
from dissemination.watermark import WatermarkSpec
from ingest._exec import verapdf
from schemas.errors import InputRejected


def _readable(docs: list[DipDocument]) -> list[DipDocument]:
    return [d for d in docs if d.volume == "正卷" and d.disclosable]


@pytest.fixture(scope="module")
def sealed_dip(corpus_documents, spec: WatermarkSpec, dev_keys, tmp_path_factory) -> DipRecord:
    key, cert = dev_keys
    return build_dip(_readable(corpus_documents), spec, tmp_path_factory.mktemp("dip"),
                     request_record={"id": spec.request_id, "status": "issued"},
                     seal=SealConfig(key_path=key, cert_path=cert, location="广州"))


def test_refuses_secondary_volume(corpus_documents, spec: WatermarkSpec, tmp_path: Path) -> None:
    secondary = [d for d in corpus_documents if d.volume == "副卷"]
    assert secondary, "the generated case should have a 合议庭评议笔录"
    with pytest.raises(InputRejected) as caught:
        build_dip(corpus_documents, spec, tmp_path, request_record={}, seal=None)
    assert caught.value.code == "E505"
    assert caught.value.path == str(secondary[0].source_pdf)
    assert not any(tmp_path.iterdir())


def test_refuses_undisclosable_main_volume(corpus_documents, spec: WatermarkSpec, tmp_path: Path) -> None:
    hidden = _readable(corpus_documents)[0].model_copy(update={"disclosable": False})
    with pytest.raises(InputRejected) as caught:
        build_dip([hidden], spec, tmp_path, request_record={}, seal=None)
    assert caught.value.code == "E505"


def test_files_in_volume_order_with_toc(sealed_dip: DipRecord, corpus_documents) -> None:
    names = [p.name for p in sealed_dip.files]
    expected = [f"{d.seq:02d}-{d.title}.pdf" for d in sorted(_readable(corpus_documents), key=lambda d: d.seq)]
    assert names == ["00-卷内目录.pdf", *expected, "manifest.json", "manifest.json.p7s", "request.json", "README.txt"]
    with zipfile.ZipFile(sealed_dip.zip_path) as archive:
        assert [Path(n).name for n in archive.namelist()] == names


def test_manifest_digests_match(sealed_dip: DipRecord) -> None:
    manifest_path = next(p for p in sealed_dip.files if p.name == "manifest.json")
    assert hashlib.sha256(manifest_path.read_bytes()).hexdigest() == sealed_dip.manifest_sha256
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    by_name = {p.name: p for p in sealed_dip.files}
    assert len(manifest["files"]) == sum(1 for p in sealed_dip.files if p.suffix == ".pdf")
    for entry in manifest["files"]:
        assert hashlib.sha256(by_name[entry["path"]].read_bytes()).hexdigest() == entry["sha256"]


def test_every_issued_pdf_sealed_marked_and_free_of_secondary_text(
        sealed_dip: DipRecord, spec: WatermarkSpec, dev_keys) -> None:
    for pdf in (p for p in sealed_dip.files if p.suffix == ".pdf"):
        status = validate_sealed(pdf, dev_keys[1])
        assert status.valid, status.detail
        text = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
        assert spec.request_id in text and spec.reader_name in text
        assert "合议庭评议" not in text, pdf


def test_unsealed_dip_is_reproducible(corpus_documents, spec: WatermarkSpec, tmp_path: Path) -> None:
    docs = _readable(corpus_documents)[:2]
    first = build_dip(docs, spec, tmp_path / "a", request_record={"id": spec.request_id}, seal=None)
    second = build_dip(docs, spec, tmp_path / "b", request_record={"id": spec.request_id}, seal=None)
    assert first.zip_path.read_bytes() == second.zip_path.read_bytes()
    assert first.manifest_sha256 == second.manifest_sha256


@pytest.mark.verapdf
def test_toc_is_pdfa_2b_plain_and_sealed(sealed_dip: DipRecord, spec: WatermarkSpec, tmp_path: Path) -> None:
    """veraPDF judges the table of contents as rendered and as issued (watermarked, sealed): one JVM."""
    plain = render_toc([("01-民事起诉状.pdf", "民事起诉状", 3)], spec, tmp_path / "toc.pdf")
    issued = next(p for p in sealed_dip.files if p.name == TOC_NAME)
    verdicts = verapdf.validate([plain, issued], flavour="2b")
    for pdf in (plain, issued):
        verdict = verdicts[pdf.absolute()]
        assert verdict.compliant, (pdf.name, [r.rule_id for r in verdict.failed_rules], verdict.error)
        assert verdict.profile == "PDF/A-2B validation profile"
