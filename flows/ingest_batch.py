"""Ingest one station batch (SIP) into the archive.

    check_batch -> ocr_documents -> for each case: build_aip -> sign_bag -> commit (OCFL)
    -> verify_object -> record in catalog -> index pages

Nothing in the batch folder is moved or edited. A rerun of the same batch finds each case's
payload already stored (same payload digest) and creates no new version.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from archive.catalog import session
from archive.catalog.models import Aip, AipVersion, Batch
from archive.catalog.record import (
    archived_path_of,
    finish_batch,
    head_version,
    queue_for_indexing,
    record_aip_version,
    record_event,
    upsert_case,
)
from archive.bag import payload_digest
from archive.package import CASE_JSON, CaseRecord, build_aip
from archive.records import AipRecord, BuiltAip, CaseSubmission, SubmittedDocument, ocfl_id_for
from archive.signing import SIGNATURE_NAME, sign_bag, signature_info
from archive.storage import StaleHead, Store
from archive.verify import verify_object
from config import Settings
from flows._runtime import (
    fingerprint,
    open_signer,
    open_store,
    trusted_certificates,
)
from flows._work import work_folder
from flows.indexing import index_aip, queued
from ingest.ocr import ocr_documents
from ingest.ocr.options import OcrOptions
from ingest.records import CheckedBatch, OcrResult
from ingest.validate import ManifestRejected, check_batch
from schemas.errors import Problem, VerificationFailed
from sqlmodel import select

SOFTWARE = "juanzong"
COMMIT_ATTEMPTS = 3  # another ingest of the same case may move the head between build and commit


class IngestOutcome(BaseModel):
    batch_id: str
    status: Literal["archived", "rejected"]
    aips: list[AipRecord] = []
    problems: list[dict] = []


@task(cache_policy=NO_CACHE)
def check(batch_dir: Path, settings: Settings) -> CheckedBatch:
    with session(settings.catalog_url) as s:
        return check_batch(batch_dir, min_dpi=settings.min_dpi,
                           known_digest=lambda digest: archived_path_of(s, digest))


@task(cache_policy=NO_CACHE)
def ocr(checked: CheckedBatch, work: Path, settings: Settings) -> list[OcrResult]:
    files = [(path, checked.batch_dir / path) for path in checked.accepted]
    return ocr_documents(files, work / "ocr", OcrOptions.from_settings(settings))


@task(cache_policy=NO_CACHE)
def package(sub: CaseSubmission, work: Path, store: Store, base_version: int | None) -> BuiltAip:
    """Build the case's next version on top of ``base_version`` of its stored AIP."""
    ocfl_id = ocfl_id_for(sub.aip_id)
    base = (store.checkout(ocfl_id, work / "base" / sub.aip_id, version=base_version)
            if base_version else None)
    return build_aip(sub, work / "aip", base_bag=base, software=SOFTWARE)


@task(cache_policy=NO_CACHE)
def store_version(built: BuiltAip, settings: Settings, store: Store,
                  base_version: int | None, user: str) -> int:
    """Sign, commit as a new OCFL version and verify it before the catalog hears of it.
    The commit is refused (StaleHead) if another ingest moved the head meanwhile. No task
    retries: a blind retry after a commit would add a second version; a rerun resumes instead.
    The OCFL version's user is ``user``, the person who submitted the batch."""
    signer = open_signer(settings)
    sign_bag(built.bag_dir, signer)
    ocfl_id = ocfl_id_for(built.aip_id)
    version = store.commit(ocfl_id, built.bag_dir, message=f"ingest {built.case_number}",
                           agent=user, expected_head=base_version)
    findings = verify_object(store, ocfl_id, trusted_certificates(settings))
    if findings:
        first = findings[0]
        raise VerificationFailed("E402", first.path, expected=first.expected, found=first.actual)
    return version


@task(cache_policy=NO_CACHE)
def record(sub: CaseSubmission, built: BuiltAip, version: int, batch_id: str,
           settings: Settings) -> None:
    tagmanifest = (built.bag_dir / "tagmanifest-sha256.txt").read_bytes()
    signer_cert, _signed_at = signature_info((built.bag_dir / SIGNATURE_NAME).read_bytes())
    fingerprint_ = fingerprint(signer_cert)
    with session(settings.catalog_url) as s:
        upsert_case(s, sub.case)
        record_aip_version(s, sub, built, version, batch_id=batch_id,
                           tagmanifest_sha256=hashlib.sha256(tagmanifest).hexdigest(),
                           certificate=fingerprint_)
        events = ["ingestion", "digital signature generation"]
        events += ["replication"] if settings.replica_root else []
        queue_for_indexing(s, built.aip_id, version)
        for event_type in events:
            record_event(s, event_type, agent=SOFTWARE, aip_id=built.aip_id,
                         detail=f"version v{version} from batch {batch_id}")
        s.commit()


def _problems_from_ocr(results: list[OcrResult]) -> list[Problem]:
    problems = []
    for r in results:
        if r.status == "failed":
            problems.append(Problem.of("E300", r.source_path, fatal=False, reason=r.error or "?"))
        for p in r.pages:
            if "low_confidence" in p.flags:
                problems.append(Problem.of("E301", r.source_path, page=p.page, fatal=False,
                                           found=f"{p.confidence:.0f}"))
            if "rotated" in p.flags:
                problems.append(Problem.of("E213", r.source_path, page=p.page, fatal=False,
                                           found=p.rotation))
    return problems


def _submissions(checked: CheckedBatch, results: list[OcrResult]) -> list[CaseSubmission]:
    by_path = {r.source_path: r for r in results}
    manifest = checked.manifest
    subs = []
    for case in manifest.cases:
        docs = tuple(SubmittedDocument(entry=f, ocr=by_path[f.path])
                     for f in manifest.files_of(case.case_number) if f.path in by_path)
        if docs:
            subs.append(CaseSubmission(manifest=manifest, case=case, documents=docs,
                                       events=tuple(_validation_events(checked, docs))))
    return subs


def _validation_events(checked: CheckedBatch, docs) -> list[dict]:
    when = checked.manifest.scan_finished.isoformat()
    return [{"event_type": "fixity check", "event_time": when, "agent": SOFTWARE,
             "outcome": "success", "object_path": d.entry.path,
             "detail": f"SHA-256 {d.entry.sha256} matches the station manifest"} for d in docs]


def _prior_outcome(batch: Batch, settings: Settings) -> IngestOutcome:
    with session(settings.catalog_url) as s:
        versions = s.exec(select(AipVersion).where(AipVersion.batch_id == batch.id)).all()
        aips = [AipRecord(aip_id=v.aip_id, case_number=s.get(Aip, v.aip_id).case_number,
                          version=v.version, created=False) for v in versions]
    return IngestOutcome(batch_id=batch.id, status="archived", aips=aips,
                         problems=list(batch.problems or []))


@flow(name="ingest-batch", log_prints=False)
def ingest_batch(batch_dir: Path, settings: Settings) -> IngestOutcome:
    log = get_run_logger()
    batch_dir = batch_dir.absolute()
    try:
        checked = check(batch_dir, settings)
    except ManifestRejected as exc:
        return _reject(batch_dir.name, None, "", exc.report.problems, batch_dir, settings)
    manifest = checked.manifest
    with session(settings.catalog_url) as s:
        prior = s.get(Batch, manifest.batch_id)
    if prior is not None and prior.status == "archived":
        if prior.content_digest == checked.content_digest:
            log.info("batch %s was already archived; nothing to do", manifest.batch_id)
            return _prior_outcome(prior, settings)
        conflict = Problem.of("E130", "manifest.json")
        return _reject(manifest.batch_id, manifest.station_id, checked.content_digest, [conflict],
                       batch_dir, settings, keep_prior=True)
    if not checked.report.ok:
        return _reject(manifest.batch_id, manifest.station_id, checked.content_digest,
                       checked.report.problems, batch_dir, settings)
    store = open_store(settings)
    records: list[AipRecord] = []
    with work_folder(settings.work_root, manifest.batch_id) as work:
        results = ocr(checked, work, settings)
        problems = [*checked.report.problems, *_problems_from_ocr(results)]
        for sub in _submissions(checked, results):
            records.append(_archive_case(sub, work, store, manifest.batch_id, settings))
        for aip_id in queued(settings):
            index_aip(aip_id, settings, store)
    public = [p.public() for p in problems]
    _save_batch(manifest.batch_id, manifest.station_id, checked.content_digest, "archived",
                public, batch_dir, settings)
    return IngestOutcome(batch_id=manifest.batch_id, status="archived", aips=records,
                         problems=public)


def _archive_case(sub: CaseSubmission, work: Path, store: Store, batch_id: str,
                  settings: Settings) -> AipRecord:
    """Package, store and record one case, queueing it for indexing in the same transaction.

    When the head version already holds this batch's files for the case (a rerun after a
    crash past the commit) no version is added, whatever a second OCR run would produce;
    only catalog rows that are missing are made."""
    ocfl_id = ocfl_id_for(sub.aip_id)
    stored = _stored_version(store, ocfl_id, sub, batch_id)
    if stored is not None:
        if _catalog_version(sub.aip_id, settings) != stored:
            bag = store.checkout(ocfl_id, work / "stored" / sub.aip_id)
            built = BuiltAip(aip_id=sub.aip_id, case_number=sub.case.case_number, bag_dir=bag,
                             payload_digest=payload_digest(bag))
            record(sub, built, stored, batch_id, settings)
        return AipRecord(aip_id=sub.aip_id, case_number=sub.case.case_number, version=stored,
                         created=False)
    return commit_case(sub, work, store, batch_id, settings)


def commit_case(sub: CaseSubmission, work: Path, store: Store, batch_id: str,
                settings: Settings) -> AipRecord:
    """Build on the head, commit unless the head moved meanwhile (then rebuild on the new
    head), record; also the OCR retry's way to add a version."""
    ocfl_id = ocfl_id_for(sub.aip_id)
    attempt = 1
    while True:
        base_version = store.head(ocfl_id)
        built = package(sub, work / f"attempt-{attempt}", store, base_version)
        try:
            operator = sub.manifest.operator
            version = store_version(built, settings, store, base_version, f"{operator.id} ({operator.name})")
            break
        except StaleHead:
            if attempt == COMMIT_ATTEMPTS:
                raise
            attempt += 1
    record(sub, built, version, batch_id, settings)
    return AipRecord(aip_id=built.aip_id, case_number=built.case_number, version=version,
                     created=True)


def _stored_version(store: Store, ocfl_id: str, sub: CaseSubmission, batch_id: str) -> int | None:
    """The head version if it already holds every file of ``sub`` from this batch."""
    head = store.head(ocfl_id)
    if head is None:
        return None
    record_ = CaseRecord.model_validate_json(store.path(ocfl_id, CASE_JSON).read_bytes())
    held = {(d.entry.path, d.entry.sha256, d.batch_id) for d in record_.documents}
    wanted = {(d.entry.path, d.entry.sha256, batch_id) for d in sub.documents}
    return head if wanted <= held else None


def _catalog_version(aip_id: str, settings: Settings) -> int | None:
    with session(settings.catalog_url) as s:
        head = head_version(s, aip_id)
        return head.version if head else None


def _reject(batch_id: str, station_id: str | None, digest: str, problems: list[Problem],
            batch_dir: Path, settings: Settings, keep_prior: bool = False) -> IngestOutcome:
    public = [p.public() for p in problems]
    if not keep_prior:
        _save_batch(batch_id, station_id or "", digest, "rejected", public, batch_dir, settings)
    return IngestOutcome(batch_id=batch_id, status="rejected", problems=public)


def _save_batch(batch_id: str, station_id: str, digest: str, status: str, problems: list[dict],
                batch_dir: Path, settings: Settings) -> None:
    with session(settings.catalog_url) as s:
        batch = s.get(Batch, batch_id) or Batch(id=batch_id, station_id=station_id, status=status,
                                                content_digest=digest, source_dir=str(batch_dir))
        batch.content_digest, batch.source_dir = digest, str(batch_dir)
        finish_batch(s, batch, status, problems)
        s.commit()
