"""What archivists and auditors ask of one AIP: show it, verify it, export it."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlmodel import select

from archive.catalog import session
from archive.catalog.models import Aip, Document, Page
from archive.records import ocfl_id_for
from archive.storage import Store
from archive.verify import Finding, check_head, ocfl_of, verify_object
from config import Settings
from flows._runtime import open_store, trusted_certificates
from flows.recorded_heads import recorded_heads
from schemas.errors import NotFound, VerificationFailed


def _aip(settings: Settings, aip_id: str) -> Aip:
    with session(settings.catalog_url) as s:
        aip = s.get(Aip, aip_id)
    if aip is None:
        raise NotFound("E406", aip_id)
    return aip


def _head_findings(settings: Settings, store: Store, aip_id: str) -> list[Finding]:
    ocfl_id = ocfl_id_for(aip_id)
    return check_head(store, ocfl_id, recorded_heads(settings, aip_id).get(ocfl_id))


def verify_aip(settings: Settings, aip_id: str) -> dict:
    """The object's own soundness and its head against the catalog's and the log's record."""
    _aip(settings, aip_id)
    store = open_store(settings)
    findings = _head_findings(settings, store, aip_id) + verify_object(
        store, ocfl_id_for(aip_id), trusted_certificates(settings))
    problems = [{"kind": f.kind, "path": f.path, "expected": f.expected, "actual": f.actual}
                for f in findings]
    return {"aip_id": aip_id, "valid": not problems, "problems": problems}


def export_aip(settings: Settings, aip_id: str, out_dir: Path) -> Path:
    """The head version as a bag, written under a temporary name and renamed when complete;
    refused when storage's head is not the recorded one (a rolled-back object would otherwise
    be exported as if it were current)."""
    _aip(settings, aip_id)
    store = open_store(settings)
    for finding in _head_findings(settings, store, aip_id):
        if finding.kind in ("rollback", "substituted", "absent"):
            raise VerificationFailed(finding.code, finding.path, expected=finding.expected, found=finding.actual)
    target = out_dir / aip_id
    tmp = out_dir / f".{aip_id}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    store.checkout(ocfl_id_for(aip_id), tmp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.replace(target)
    return target


def show_aip(settings: Settings, aip_id: str) -> dict:
    """The catalog's account of the AIP, with storage's head beside the catalog's: a head that
    storage no longer holds (rolled back, substituted, absent) is named with its code in
    ``head_problems``, so the archivist is never shown a version without being told."""
    aip = _aip(settings, aip_id)
    with session(settings.catalog_url) as s:
        docs = s.exec(select(Document).where(Document.aip_id == aip_id)
                      .order_by(Document.volume.desc(), Document.seq)).all()
        documents = []
        for d in docs:
            pages = s.exec(select(Page).where(Page.document_id == d.document_id)
                           .order_by(Page.page)).all()
            documents.append({"document_id": d.document_id, "source_path": d.source_path,
                              "title": d.title, "volume": d.volume, "disclosable": d.disclosable,
                              "ocr_status": d.ocr_status,
                              "pages": [{"page": p.page, "text": p.text,
                                         "confidence": p.confidence, "flags": p.flags}
                                        for p in pages]})
    return {"aip_id": aip_id, "case_number": aip.case_number, "version": aip.head_version,
            **_storage_head(settings, aip_id), "documents": documents}


def _storage_head(settings: Settings, aip_id: str) -> dict:
    """Storage's head version and every disagreement with the recorded head (E409-E412, E414)."""
    store = open_store(settings)
    findings = _head_findings(settings, store, aip_id)
    return {"storage_version": ocfl_of(store).head(ocfl_id_for(aip_id)),
            "head_problems": [{"code": f.code, "kind": f.kind, "path": f.path, "expected": f.expected,
                               "actual": f.actual, "reason": f.reason} for f in findings]}
