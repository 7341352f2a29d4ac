"""The archivist's review of flagged OCR pages (issue 7), on the archive home the real ingest built."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlmodel import select

from archive import review
from archive.auditlog import read_entries, verify_log
from archive.catalog import session
from archive.catalog.models import Document, Page
from archive.catalog.record import record_aip_version, upsert_case
from archive.records import BuiltAip, CaseSubmission, SubmittedDocument
from ingest.manifest import read_manifest
from ingest.records import OcrResult
from ingest.sample import write_sample_batch
from schemas.errors import InputRejected, NotFound
from tests.reading.conftest import Home

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def flagged(home: Home) -> tuple[str, int]:
    """One page of the in-progress case flagged as the OCR stage flags a poor reading
    (the sample reads well above the threshold, so the flag is set here)."""
    with session(home.settings.catalog_url) as s:
        doc = s.exec(select(Document).where(Document.case_number == home.in_progress)
                     .order_by(Document.seq)).first()
        page = s.exec(select(Page).where(Page.document_id == doc.document_id, Page.page == 1)).one()
        page.flags = [*page.flags, "low_confidence"]
        page.confidence, page.reviewed = 41.5, False
        s.add(page)
        s.commit()
        return doc.document_id, 1


def _cli(home: Home, *args: str, expect: int) -> dict:
    proc = subprocess.run([str(BIN / "juanzong"), *args, "--json"], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "JUANZONG_HOME": str(home.settings.home)})
    assert proc.returncode == expect, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def test_flagged_page_is_listed_and_shown_with_its_text(home: Home, flagged: tuple[str, int]) -> None:
    document_id, page = flagged
    listed = review.pending(home.settings.catalog_url, case_number=home.in_progress)
    assert (document_id, page) in {(i.document_id, i.page) for i in listed}
    assert all("low_confidence" in i.flags or "blank" in i.flags or "ocr_failed" in i.flags for i in listed)
    assert not review.pending(home.settings.catalog_url, case_number="（2099）粤01民初1号")
    shown = review.show(home.settings.catalog_url, document_id, page)
    with session(home.settings.catalog_url) as s:
        stored = s.exec(select(Page).where(Page.document_id == document_id, Page.page == page)).one()
        doc = s.get(Document, document_id)
    assert shown.text == stored.text and shown.text.strip()
    assert shown.confidence == 41.5 and shown.image_path == f"data/original/{doc.source_path}"


def test_unknown_page_and_flag_are_refused_by_code(home: Home) -> None:
    with pytest.raises(NotFound) as missing:
        review.show(home.settings.catalog_url, "no-such-document", 1)
    assert missing.value.code == "E310"
    with pytest.raises(InputRejected) as bad_flag:
        review.pending(home.settings.catalog_url, flag="smudged")
    assert bad_flag.value.code == "E311"


def test_only_an_archivist_accepts_and_the_acceptance_is_logged(home: Home, flagged: tuple[str, int]) -> None:
    document_id, page = flagged
    with pytest.raises(InputRejected) as refused:
        review.accept(home.settings.catalog_url, document_id, [page], principal_id="party:someone")
    assert refused.value.code == "E509"
    log_dir = home.settings.home / "log"
    before = sum(1 for _ in read_entries(log_dir))
    out = _cli(home, "review", "accept", document_id, str(page), "--by", home.archivist_id,
               "--note", "印章遮挡，人工核对无误", expect=0)
    assert [(a["document_id"], a["page"], a["reviewed"]) for a in out["accepted"]] == [(document_id, page, True)]
    assert (document_id, page) not in {(i.document_id, i.page)
                                       for i in review.pending(home.settings.catalog_url)}
    everything = _cli(home, "review", "list", "--all", "--case", home.in_progress, expect=0)["pages"]
    assert any(p["document_id"] == document_id and p["reviewed"] for p in everything)
    entries = [json.loads(raw) for _, raw in read_entries(log_dir)][before:]
    assert [(e["event"]["event_type"], e["event"]["agent"]) for e in entries] == [("ocr review", home.archivist_id)]
    assert "印章遮挡" in entries[0]["event"]["detail"]
    assert verify_log(log_dir).ok
    assert _cli(home, "review", "show", "no-such-document", "1", expect=6)["error"]["code"] == "E310"


def test_accept_takes_pages_or_the_whole_document_but_never_an_unflagged_page(home: Home) -> None:
    with session(home.settings.catalog_url) as s:
        doc = s.exec(select(Document).order_by(Document.page_count.desc(), Document.seq.desc())).first()
        pages = s.exec(select(Page).where(Page.document_id == doc.document_id).order_by(Page.page)).all()
        assert len(pages) >= 2 and not set(pages[1].flags) & set(review.REVIEW_FLAGS)
        pages[0].flags, pages[0].reviewed = [*pages[0].flags, "blank"], False
        s.add(pages[0])
        s.commit()
        document_id, flagged_page, clean_page = doc.document_id, pages[0].page, pages[1].page
    refused = _cli(home, "review", "accept", document_id, str(clean_page), "--by", home.archivist_id, expect=3)
    assert refused["error"]["code"] == "E312"
    usage = subprocess.run([str(BIN / "juanzong"), "review", "accept", document_id, "--by", home.archivist_id],
                           capture_output=True, text=True, timeout=900,
                           env={**os.environ, "JUANZONG_HOME": str(home.settings.home)})
    assert usage.returncode == 2, usage.stderr
    out = _cli(home, "review", "accept", document_id, "--all-of-document", "--by", home.archivist_id, expect=0)
    assert [(a["page"], a["reviewed"]) for a in out["accepted"]] == [(flagged_page, True)]
    shown = _cli(home, "review", "show", document_id, str(flagged_page), expect=0)
    assert shown["reviewed"] and shown["aip_version"] >= 1
    assert document_id not in {i.document_id for i in review.pending(home.settings.catalog_url)}


def test_a_document_unreadable_as_a_whole_waits_for_review_page_by_page(tmp_path: Path, catalog_url: str) -> None:
    """OCR that could not even open a document returns no pages; the catalog still lists each
    of its pages for the archivist."""
    batch = write_sample_batch(tmp_path / "sample", seed=2)
    manifest = read_manifest(batch)
    case = manifest.cases[0]
    entry = max(manifest.files_of(case.case_number), key=lambda f: f.page_count)
    now = datetime.now(timezone.utc)
    ocr = OcrResult(source_path=entry.path, original=batch / entry.path, pdfa=None, pages=(), status="failed",
                    engine="tesseract", engine_version="5", languages="chi_sim", error="cannot read",
                    started_at=now, finished_at=now)
    sub = CaseSubmission(manifest=manifest, case=case, documents=(SubmittedDocument(entry=entry, ocr=ocr),))
    url = catalog_url
    with session(url) as s:
        upsert_case(s, case)
        record_aip_version(s, sub, BuiltAip(aip_id=sub.aip_id, case_number=case.case_number, bag_dir=tmp_path,
                                            payload_digest="0" * 64),
                           1, batch_id=manifest.batch_id, tagmanifest_sha256="0" * 64, certificate="")
        s.commit()
    listed = review.pending(url, flag="ocr_failed")
    assert [(i.source_path, i.page, i.ocr_status) for i in listed] == [
        (entry.path, n, "failed") for n in range(1, entry.page_count + 1)]
