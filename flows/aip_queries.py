"""What archivists and auditors ask of one AIP: show it, verify it, export it."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

from sqlmodel import select

from archive.catalog import session
from archive.catalog.models import Aip, Document, Page, Tombstone
from archive.records import ocfl_id_for
from archive.storage import Store
from archive.verify import Finding, check_head, ocfl_of, verify_object
from config import Settings
from archive.evidence import evidence_path, verify_evidence
from archive.package import CASE_JSON, CaseRecord
from archive.signing import SIGNATURE_NAME, SIGNED_FILE
from archive.tombstone import verify_tombstone
from archive.trusted_time import check_signature_timestamp, describe_time
from flows._runtime import open_store, trusted_certificates, tsa_roots
from flows.recorded_heads import recorded_heads
from ingest.station_signature import NOT_AUTHENTICATED
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
    return {"aip_id": aip_id, "valid": not problems, "problems": problems,
            "signature_time": _signature_time(settings, aip_id)}


def verify_version_evidence(settings: Settings, aip_id: str, version: int, at: datetime | None = None) -> dict:
    """Does the head's evidence record prove ``version`` (its tagmanifest and signature), checked at ``at``?"""
    _aip(settings, aip_id)
    store, ocfl_id = open_store(settings), ocfl_id_for(aip_id)
    head = store.files(ocfl_id)
    signature = store.path(ocfl_id, SIGNATURE_NAME, version).read_bytes()
    record = head.get(evidence_path(version))
    if record is None:
        stamp = check_signature_timestamp(signature, tsa_roots(settings), at)
        return {"aip_id": aip_id, "version": version, "valid": bool(stamp and stamp.valid),
                "detail": describe_time(stamp) + " (no evidence record yet)"}
    data = [store.path(ocfl_id, name, version).read_bytes() for name in (SIGNED_FILE, SIGNATURE_NAME)]
    check = verify_evidence(data, record.path.read_bytes(), signature, tsa_roots(settings), at)
    return {"aip_id": aip_id, "version": version, "valid": check.valid, "detail": check.detail,
            "first_timestamp": check.first.isoformat() if check.first else None}


def _signature_time(settings: Settings, aip_id: str) -> str:
    """The head version's trusted time ("trusted time … from <TSA>") or "no trusted time"."""
    path = open_store(settings).path(ocfl_id_for(aip_id), SIGNATURE_NAME)
    return describe_time(check_signature_timestamp(path.read_bytes(), tsa_roots(settings)))


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
        if (tombstone := s.get(Tombstone, aip_id)) is not None:
            return _disposed(settings, aip_id, aip.head_version, tombstone)
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
            **_storage_head(settings, aip_id), "submissions": _submissions(settings, aip_id),
            "documents": documents}


def _disposed(settings: Settings, aip_id: str, version: int, tombstone: Tombstone) -> dict:
    """A disposed-of AIP: no documents, and the signed tombstone saying what went, when, who and why
    (its signature problems, if any, as head problems: the archivist must not take it on trust)."""
    problems = verify_tombstone(settings.storage_root, aip_id, trusted_certificates(settings))
    return {"aip_id": aip_id, "case_number": tombstone.case_number, "version": version, "status": "disposed",
            "storage_version": None, "tombstone": json.loads(tombstone.body),
            "head_problems": [{"code": p.code, "kind": "tombstone", "path": p.path, "expected": "a signed tombstone",
                               "actual": "unverified", "reason": p.message} for p in problems],
            "submissions": [], "documents": []}


def _storage_head(settings: Settings, aip_id: str) -> dict:
    """Storage's head version and every disagreement with the recorded head (E409-E412, E414)."""
    store = open_store(settings)
    findings = _head_findings(settings, store, aip_id)
    return {"storage_version": ocfl_of(store).head(ocfl_id_for(aip_id)),
            "head_problems": [{"code": f.code, "kind": f.kind, "path": f.path, "expected": f.expected,
                               "actual": f.actual, "reason": f.reason} for f in findings]}


def _submissions(settings: Settings, aip_id: str) -> list[dict]:
    """Each batch of the head version and who vouches for it (the station's signature, or nobody)."""
    store = open_store(settings)
    record = CaseRecord.model_validate_json(store.path(ocfl_id_for(aip_id), CASE_JSON).read_bytes())
    return [{"batch_id": s.batch_id, "station_id": s.station_id,
             "source": s.source or NOT_AUTHENTICATED, "signature": s.signature.path if s.signature else None}
            for s in record.submissions]
