"""A document whose OCR fails at ingest is archived anyway and re-OCR'd later as a new AIP version."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from pathlib import Path

import pytest
from lxml import etree
from sqlmodel import select

from archive import review
from archive.catalog import session
from archive.catalog.models import Aip, Document, Page, PreservationEvent
from archive.package import CASE_JSON, PREMIS_XML, CaseRecord
from archive.records import aip_id_for, ocfl_id_for
from config.settings import Settings
from dissemination.search.base import Access, SearchQuery
from dissemination.search.registry import open_index
from flows._runtime import open_store
from flows.ingest_batch import ingest_batch
from flows.aip_queries import verify_aip
from flows.retry_ocr import failed_documents, retry_ocr
from ingest.sample import CASE_NUMBER, write_sample_batch
from schemas.errors import NotFound

pytestmark = pytest.mark.slow

PREMIS = "{http://www.loc.gov/premis/v3}"
NO_SUCH_LANGUAGE = "zzz"  # no traineddata: Tesseract refuses every page, as with a broken engine install


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _ocr_outcomes(premis_xml: Path) -> list[str]:
    tree = etree.parse(str(premis_xml))
    return [e.findtext(f"{PREMIS}eventOutcomeInformation/{PREMIS}eventOutcome")
            for e in tree.iter(f"{PREMIS}event") if e.findtext(f"{PREMIS}eventType") == "OCR"]


def _search(settings: Settings, word: str) -> set[str]:
    hits = open_index(settings).search(SearchQuery(text=word, size=100,
                                                   access=Access(all_cases=True, readers_view=False)))
    return {h.document_id for h in hits.hits}


def test_failed_ocr_is_archived_then_retried_as_a_new_version(tmp_path: Path, cli_factory) -> None:
    home = tmp_path / "home"
    cli = cli_factory(home, JUANZONG_OCR_LANGUAGES=NO_SUCH_LANGUAGE)
    failing, settings = Settings(home=home, ocr_languages=NO_SUCH_LANGUAGE), Settings(home=home)
    batch = write_sample_batch(tmp_path / "sample", seed=1)
    sent = {e["path"]: _sha256(batch / e["path"])
            for e in json.loads((batch / "manifest.json").read_text("utf-8"))["files"]}

    first = ingest_batch(batch, failing)
    assert first.status == "archived"
    assert sorted(p["path"] for p in first.problems if p["code"] == "E300") == sorted(sent)
    failed = failed_documents(failing)
    all_docs = {d for docs in failed.values() for d in docs}
    assert len(all_docs) == len(sent) and {a.version for a in first.aips} == {1}
    waiting = review.pending(settings.catalog_url, flag="ocr_failed")
    assert {i.document_id for i in waiting} == all_docs

    # A retry that fails again records the failure and changes nothing else.
    one = sorted(failed[aip_id_for(CASE_NUMBER)])[0]
    _, again = cli("ocr", "retry", "--document", one, expect=1)
    assert list(again["failed_again"]) == [one] and again["aips"] == [] and again["retried"] == []
    assert {a: open_store(settings).head(ocfl_id_for(a)) for a in failed} == {a: 1 for a in failed}
    with session(settings.catalog_url) as s:
        assert s.get(Document, one).ocr_status == "failed"
        events = s.exec(select(PreservationEvent).where(PreservationEvent.event_type == "ocr")).all()
        assert [(e.outcome, e.aip_id) for e in events] == [("failure", aip_id_for(CASE_NUMBER))]
    with pytest.raises(NotFound) as unknown:
        retry_ocr(settings, document_id="no-such-document")
    assert unknown.value.code == "E310"

    # The first case is re-read, but the run "dies" after its OCFL commit: the catalog, log and
    # index are put back as they were; the next run records the committed head, no new version.
    case_a = aip_id_for(CASE_NUMBER)
    catalog_file, log_file = home / "catalog.sqlite", home / "log" / "preservation.jsonl"
    with sqlite3.connect(catalog_file) as live, sqlite3.connect(tmp_path / "before.sqlite") as copy:
        live.backup(copy)
    log_before = log_file.read_bytes()
    died = retry_ocr(settings, case_number=CASE_NUMBER)
    assert [(a.aip_id, a.version) for a in died.aips] == [(case_a, 2)]
    with sqlite3.connect(tmp_path / "before.sqlite") as copy, sqlite3.connect(catalog_file) as live:
        copy.backup(live)
    log_file.write_bytes(log_before)
    open_index(settings).delete_aip(case_a)

    outcome = retry_ocr(settings)
    assert set(outcome.retried) == all_docs and not outcome.failed_again
    assert {(a.aip_id, a.version, a.created) for a in outcome.aips} == {
        (aip, 2, aip != case_a) for aip in failed}
    assert not failed_documents(settings) and not retry_ocr(settings).aips

    store = open_store(settings)
    with session(settings.catalog_url) as s:
        assert {a.aip_id: a.head_version for a in s.exec(select(Aip)).all()} == {a: 2 for a in failed}
        assert {d.ocr_status for d in s.exec(select(Document)).all()} == {"done"}
        pages = s.exec(select(Page)).all()
    assert pages and all(p.text.strip() and "ocr_failed" not in p.flags for p in pages)
    assert not review.pending(settings.catalog_url, flag="ocr_failed")
    for aip_id in failed:
        ocfl_id = ocfl_id_for(aip_id)
        assert verify_aip(settings, aip_id)["valid"]  # what ``juanzong verify`` answers
        old = CaseRecord.model_validate_json(store.path(ocfl_id, CASE_JSON, version=1).read_bytes())
        new = CaseRecord.model_validate_json(store.path(ocfl_id, CASE_JSON).read_bytes())
        assert {d.ocr.status for d in old.documents} == {"failed"} and all(d.pdfa is None for d in old.documents)
        assert set(_ocr_outcomes(store.path(ocfl_id, PREMIS_XML, version=1))) == {"failed"}
        assert "done" in _ocr_outcomes(store.path(ocfl_id, PREMIS_XML))
        for doc in new.documents:
            assert doc.ocr.status == "done" and doc.pdfa is not None and len(doc.text) == doc.entry.page_count
            assert (doc.version_added, doc.version_updated) == (1, 2)
            for version in (1, 2):
                assert _sha256(store.path(ocfl_id, doc.original.path, version=version)) == sent[doc.entry.path]
    by_case = {}
    for p in pages:
        word = re.search(r"[\u4e00-\u9fff]{4}", p.text)
        if word:
            by_case.setdefault(p.document_id, word.group(0))
    assert set(by_case) == all_docs
    for document_id, word in by_case.items():
        assert document_id in _search(settings, word), f"{word!r} does not find {document_id}"
