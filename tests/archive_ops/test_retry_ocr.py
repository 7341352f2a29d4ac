"""A document whose OCR fails at ingest is archived anyway and re-OCR'd later as a new AIP version."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from sqlmodel import select

from archive.catalog import session
from archive.catalog.models import Document, Page
from archive.package import CASE_JSON, CaseRecord
from archive.records import ocfl_id_for
from archive.signing import ensure_dev_keys
from archive.verify import verify_object
from config.settings import Settings
from dissemination.search.base import Access, SearchQuery
from dissemination.search.registry import open_index
from flows._runtime import open_store, trusted_certificates
from flows.ingest_batch import ingest_batch
from flows.retry_ocr import failed_documents, retry_ocr
from ingest.sample import write_sample_batch

pytestmark = pytest.mark.slow


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_failed_ocr_is_archived_then_retried_as_a_new_version(tmp_path: Path) -> None:
    home = tmp_path / "home"
    failing = Settings(home=home, ocr_timeout_seconds=1)  # a full page needs more than a second
    ensure_dev_keys(failing.signing_key, failing.signing_cert, common_name="Juanzong test archive",
                    algorithm=failing.signature_algorithm)
    batch = write_sample_batch(tmp_path / "sample", seed=1)
    sent = {e["path"]: _sha256(batch / e["path"])
            for e in json.loads((batch / "manifest.json").read_text("utf-8"))["files"]}
    first = ingest_batch(batch, failing)
    assert first.status == "archived"
    assert any(p["code"] == "E300" for p in first.problems)
    failed = failed_documents(failing)
    assert failed, "no document timed out: the test needs a failing first OCR"
    heads = {a.aip_id: a.version for a in first.aips}

    settings = Settings(home=home)
    outcome = retry_ocr(settings)
    retried = {d for docs in failed.values() for d in docs}
    assert set(outcome.retried) == retried and not outcome.failed_again
    assert {a.aip_id: a.version for a in outcome.aips} == {aip: heads[aip] + 1 for aip in failed}
    assert not failed_documents(settings)

    store = open_store(settings)
    with session(settings.catalog_url) as s:
        docs = s.exec(select(Document).where(Document.document_id.in_(retried))).all()
        assert {d.ocr_status for d in docs} == {"done"}
        texts = [p.text for p in s.exec(select(Page).where(Page.document_id.in_(retried))).all()]
    assert texts and all(t.strip() for t in texts)
    for aip_id in failed:
        ocfl_id = ocfl_id_for(aip_id)
        assert verify_object(store, ocfl_id, trusted_certificates(settings)) == []
        old = CaseRecord.model_validate_json(store.path(ocfl_id, CASE_JSON, version=heads[aip_id]).read_bytes())
        new = CaseRecord.model_validate_json(store.path(ocfl_id, CASE_JSON).read_bytes())
        assert {d.ocr.status for d in old.documents if d.document_id in retried} == {"failed"}
        for doc in new.documents:
            assert _sha256(store.path(ocfl_id, doc.original.path)) == sent[doc.entry.path]
            if doc.document_id in retried:
                assert doc.ocr.status == "done" and doc.pdfa is not None and doc.version_updated == heads[aip_id] + 1
    found = re.search(r"[\u4e00-\u9fff]{4}", "".join(texts))
    assert found, texts
    word = found.group(0)
    hits = open_index(settings).search(SearchQuery(text=word, size=100,
                                                   access=Access(all_cases=True, readers_view=False)))
    assert {h.document_id for h in hits.hits} & retried, f"{word!r} not found in the re-OCR'd documents"
