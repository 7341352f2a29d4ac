"""Answer a reading request: decide who may read what, then issue a watermarked, sealed DIP
of the case's disclosable 正卷 documents only.

    decide (access policy) -> record the decision -> select documents -> build_dip
    -> validate_copies (veraPDF, one JVM) -> publish
"""

from __future__ import annotations

import hashlib
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel
from sqlmodel import Session, select

from archive.catalog import session
from archive.catalog.models import (
    Case,
    DisseminationRequest,
    Document,
    IssuedCopy,
    LawyerAuthorisation,
)
from archive.catalog.record import record_event
from archive.records import ocfl_id_for
from config import Settings
from dissemination.access import CaseFacts, Decision, Requester, decide
from dissemination.dip import TOC_NAME, DipDocument, DipRecord, SealConfig, build_dip, copy_name
from archive.pki import ensure_dev_pki
from archive.trusted_time import warn_no_tsa
from dissemination.keyed_id import requester_digest, requester_secret
from dissemination.seal import LtaContext
from dissemination.trace import trace_id_for
from dissemination.watermark import WatermarkSpec, mask_id
from flows._runtime import bind_journals, chain_path, open_store, pki_paths
from flows._work import work_folder
from ingest._exec import verapdf
from ingest.conformance import FLAVOUR
from schemas.errors import InputRejected, NotFound


class ReadingRequest(BaseModel):
    case_number: str
    requester: Requester
    out_dir: Path
    created_by: str | None = None  # the principal who asked (the reading service, an archivist)


class DisseminateOutcome(BaseModel):
    request_id: str
    status: Literal["issued", "pending_approval", "refused"]
    files: list[str] = []
    reason: str = ""


def case_facts(settings: Settings, case_number: str) -> CaseFacts | None:
    with session(settings.catalog_url) as s:
        case = s.get(Case, case_number)
        if case is None:
            return None
        auths = s.exec(select(LawyerAuthorisation)
                       .where(LawyerAuthorisation.case_number == case_number)).all()
        return CaseFacts(
            case_number=case_number, status=case.status,
            parties=tuple((p["name"], p.get("id_number") or p.get("credit_code") or "")
                          for p in case.parties),
            lawyer_authorisations=tuple((a.lawyer_name, a.licence_number) for a in auths))


@task(cache_policy=NO_CACHE)
def record_decision(request: ReadingRequest, decision: Decision, settings: Settings) -> str:
    request_id = "REQ-" + uuid.uuid4().hex[:12].upper()
    r = request.requester
    with session(settings.catalog_url) as s:
        s.add(DisseminationRequest(id=request_id, case_number=request.case_number,
                                   requester_name=r.name, requester_id=mask_id(r.id_number),
                                   requester_id_hmac=requester_digest(requester_secret(settings), r.id_number),
                                   created_by=request.created_by,
                                   role=r.role, status=decision.status, reason=decision.reason,
                                   licence_number=(r.licence_number or "") if r.role == "lawyer" else ""))
        record_event(s, "access decision", agent=f"{r.role}:{mask_id(r.id_number)}",
                     outcome="success" if decision.status == "issued" else "failure",
                     detail=f"{request_id} {request.case_number}: {decision.status} "
                            f"{decision.reason}".strip())
        s.commit()
    return request_id


def disclosable_documents(settings: Settings, case_number: str) -> list[DipDocument]:
    """Only disclosable 正卷 documents, in 卷内顺序; the PDF/A representation when there is one."""
    store = open_store(settings)
    with session(settings.catalog_url) as s:
        docs = s.exec(select(Document).where(Document.case_number == case_number,
                                             Document.volume == "正卷",
                                             Document.disclosable == True)  # noqa: E712
                      .order_by(Document.seq)).all()
    selected, inventories = [], {}
    for d in docs:
        ocfl_id = ocfl_id_for(d.aip_id)
        pdfa = "data/pdfa/" + str(Path(d.source_path).with_suffix(".pdf"))
        files = inventories.get(ocfl_id) or inventories.setdefault(ocfl_id, store.files(ocfl_id))
        source = pdfa if pdfa in files else "data/original/" + d.source_path
        selected.append(DipDocument(document_id=d.document_id, title=d.title, seq=d.seq,
                                    volume=d.volume, disclosable=d.disclosable,
                                    source_pdf=store.path(ocfl_id, source), is_pdfa=source == pdfa))
    return selected


def seal_config(settings: Settings) -> SealConfig:
    """The seal's key pair and, with a TSA, what B-LTA needs (roots, CRL, chain: files only)."""
    chain = chain_path(settings, None, settings.dissemination_cert)  # type: ignore[arg-type]
    lta = None
    if settings.tsa_url:
        roots = tuple(p for p in (settings.root_cert, settings.tsa_root_cert) if p is not None)
        lta = LtaContext(tsa_url=settings.tsa_url, roots=roots, crls=(settings.crl,) if settings.crl else (),
                         chain=(chain,) if chain else ())
    else:
        warn_no_tsa()
    return SealConfig(key_path=settings.dissemination_key, cert_path=settings.dissemination_cert,  # type: ignore[arg-type]
                      chain=chain, lta=lta)


@task(cache_policy=NO_CACHE)
def issue(request: ReadingRequest, request_id: str, settings: Settings) -> list[str]:
    r = request.requester
    issued_at = datetime.now(timezone.utc).replace(microsecond=0)
    spec = WatermarkSpec(reader_name=r.name, reader_id_masked=mask_id(r.id_number),
                         case_number=request.case_number, request_id=request_id,
                         issued_at=issued_at, trace_id=trace_id_for(request_id, issued_at))
    if not (settings.dissemination_key.exists() and settings.dissemination_cert.exists()):  # type: ignore[union-attr]
        ensure_dev_pki(pki_paths(settings), algorithm=settings.signature_algorithm)
    seal = seal_config(settings)
    documents = disclosable_documents(settings, request.case_number)
    record = {"request_id": request_id, "case_number": request.case_number,
              "reader": r.name, "reader_id": mask_id(r.id_number), "role": r.role,
              "issued_at": issued_at.isoformat()}
    with work_folder(settings.work_root, request_id) as work:
        dip = build_dip(documents, spec, work, request_record=record, seal=seal,
                        templates=settings.copy_template_root)
        verdicts = validate_copies(dip, documents)
        published = _publish(dip.files + (dip.zip_path,), request.out_dir / request_id,
                             settings.dip_root / request_id)
    out = request.out_dir / request_id
    with session(settings.catalog_url) as s:
        for name, verdict in verdicts.items():
            record_copy_validation(s, request_id, name, verdict)
        for document_id, copy in dip.copies:  # by name: the table of contents comes first in files
            s.add(IssuedCopy(request_id=request_id, document_id=document_id, path=str(out / copy.name),
                             sha256=_sha256(out / copy.name), trace_id=spec.trace_id))
        record_event(s, "dissemination", agent="juanzong", detail=f"{request_id}: "
                     f"{len(documents)} documents issued to {r.role} {r.name}")
        s.commit()
    return [str(p) for p in published]


def validate_copies(dip: DipRecord, documents: list[DipDocument]) -> dict[str, verapdf.Verdict]:
    """veraPDF on the table of contents and every copy of a PDF/A document, one JVM per DIP
    (copies of an original that has no PDF/A are not PDF/A and are not judged as such)."""
    pdfa_copies = {copy_name(d) for d in documents if d.is_pdfa}
    pdfs = [p for p in dip.files if p.name == TOC_NAME or p.name in pdfa_copies]
    verdicts = verapdf.validate(pdfs, flavour=FLAVOUR)
    return {p.name: verdicts[p.absolute()] for p in pdfs}


def record_copy_validation(s: Session, request_id: str, name: str, verdict: verapdf.Verdict) -> None:
    """A catalog (and audit log) ``validation`` event per reading copy: validator and version,
    pass/fail, the profile and the failed rules. A failing copy is still issued (the reader's
    text is the same), but the archivist sees it."""
    failed = "; ".join(f"{r.specification} {r.rule_id}: {r.description}" for r in verdict.failed_rules)
    record_event(s, "validation", agent=f"{verapdf.NAME} {verapdf.version()}",
                 outcome="pass" if verdict.compliant else "fail", object_path=f"{request_id}/{name}",
                 detail=f"{request_id}/{name}: reading copy as PDF/A-{FLAVOUR}; profile {verdict.profile or 'none'}"
                        + (f"; failed: {failed or verdict.error}" if not verdict.compliant else ""))


def _publish(files: tuple[Path, ...], out: Path, kept: Path) -> list[Path]:
    """Copy the DIP to the reader's folder and keep the issued copy in the archive's DIP area."""
    for target in dict.fromkeys((kept, out)):
        tmp = target.with_name(target.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for f in files:
            shutil.copy2(f, tmp / f.name)
        shutil.rmtree(target, ignore_errors=True)
        tmp.replace(target)
    return [out / f.name for f in files]


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


@flow(name="disseminate")
def disseminate(request: ReadingRequest, settings: Settings) -> DisseminateOutcome:
    bind_journals(settings)
    decision = decide(request.requester, case_facts(settings, request.case_number))
    request_id = record_decision(request, decision, settings)
    if decision.status != "issued":
        return DisseminateOutcome(request_id=request_id, status=decision.status,
                                  reason=decision.reason)
    files = issue(request, request_id, settings)
    return DisseminateOutcome(request_id=request_id, status="issued", files=files)


@flow(name="issue-request")
def issue_request(request_id: str, settings: Settings) -> list[str]:
    """Issue the copy of an approved stored request into
    ``settings.dip_root/<request_id>``; the watermark carries the stored, masked ID."""
    bind_journals(settings)
    with session(settings.catalog_url) as s:
        row = s.get(DisseminationRequest, request_id)
        if row is None:
            raise NotFound("E507", request_id)
        if row.status != "approved":
            raise InputRejected("E512", request_id, found=row.status)
    requester = Requester(name=row.requester_name, id_number=row.requester_id, role=row.role)
    request = ReadingRequest(case_number=row.case_number, requester=requester,
                             out_dir=settings.dip_root)
    files = issue(request, request_id, settings)
    with session(settings.catalog_url) as s:
        row = s.get(DisseminationRequest, request_id)
        row.status = "issued"
        s.add(row)
        s.commit()
    return files
