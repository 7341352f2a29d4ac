"""Ingest one station batch (SIP) into the archive.

    scan_batch (ClamAV, before anything else reads a file) -> check_batch -> check_station (the
    station's signature over its manifest) -> ocr_documents -> validate_derivatives (veraPDF, one
    JVM) -> for each case: build_aip -> sign_bag (CAdES-T with a TSA) -> commit (OCFL)
    -> verify_object -> record in catalog -> index pages

Nothing in the batch folder is moved or edited. A rerun of the same batch finds each case's
payload already stored (same payload digest) and creates no new version.

Called in-process with the settings, or run by the ``ingest-batch`` deployment on a worker
with only ``batch_dir`` (a plain path string): the flow then reads the settings at this edge
and keeps its outcome for the submitter (``flows.remote_runs``). A batch whose OCR failed for
any document ends Completed under the name "Needs review" with a message saying how many
documents failed (E924), never plain Completed.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Literal

from cryptography import x509
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.states import Completed, State
from pydantic import BaseModel

from archive.catalog import session
from archive.catalog.models import Aip, AipVersion, Batch
from archive.catalog.record import (
    archived_path_of,
    finish_batch,
    head_version,
    hold_changes,
    queue_for_indexing,
    record_aip_version,
    record_event,
    station_certificates,
    upsert_case,
)
from archive.bag import payload_digest
from archive.case_changes import ProposedChange, proposed_changes
from archive.package import CASE_JSON, CaseRecord, build_aip, read_case_record
from archive.records import AipRecord, BuiltAip, CaseSubmission, SubmittedDocument, aip_id_for, ocfl_id_for
from archive.signing import SIGNATURE_NAME, sign_bag, signature_info
from archive.storage import StaleHead, Store
from archive.verify import verify_object
from config import Settings
from config.settings import load_settings
from flows._runtime import (
    bind_journals,
    fingerprint,
    logged_version,
    open_signer,
    open_store,
    trusted_certificates,
)
from flows._work import work_folder
from flows.engine_env import OCR_TAG
from flows.indexing import index_queued
from flows.progress import report
from ingest.conformance import conformance_problems, validate_derivatives
from ingest.manifest import MANIFEST_NAME, MANIFEST_SIGNATURE_NAME
from ingest.ocr import ocr_documents
from ingest.ocr.options import OcrOptions
from ingest.records import CheckedBatch, OcrResult
from ingest.station_signature import SourceCheck, check_source
from ingest.validate import ManifestRejected, check_batch
from ingest.virus import ScannerConfig, VirusReport, premis_events, scan_batch, virus_problems
from schemas.errors import ConfigurationError, Problem, VerificationFailed, describe
from sqlmodel import select

SOFTWARE = "juanzong"
COMMIT_ATTEMPTS = 3  # another ingest of the same case may move the head between build and commit


class IngestOutcome(BaseModel):
    batch_id: str
    status: Literal["archived", "rejected"]
    aips: list[AipRecord] = []
    problems: list[dict] = []


@task(cache_policy=NO_CACHE)
def preflight(settings: Settings) -> None:
    """What the last steps need, checked before the first: the signing key and certificate
    (E408/E407) and writable storage and work roots (E900), so a missing key fails in a
    second, not after the whole OCR."""
    open_signer(settings)
    for root in (settings.storage_root, settings.work_root):
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError("E900", str(root), reason=exc.strerror or str(exc)) from None
        if not os.access(root, os.W_OK | os.X_OK):
            raise ConfigurationError("E900", str(root), reason="not a writable folder")


@task(cache_policy=NO_CACHE)
def virus_check(batch_dir: Path, settings: Settings) -> VirusReport:
    return scan_batch(batch_dir, ScannerConfig.from_settings(settings))


@task(cache_policy=NO_CACHE)
def check(batch_dir: Path, settings: Settings) -> CheckedBatch:
    with session(settings.catalog_url) as s:
        return check_batch(batch_dir, min_dpi=settings.min_dpi,
                           known_digest=lambda digest: archived_path_of(s, digest))


@task(cache_policy=NO_CACHE)
def check_station(checked: CheckedBatch, settings: Settings) -> SourceCheck:
    """The station's signature over its manifest, against the certificates registered for it."""
    station = checked.manifest.station_id
    with session(settings.catalog_url) as s:
        registered = [x509.load_pem_x509_certificate(p.encode()) for p in station_certificates(s, station)]
    return check_source(checked.batch_dir, station, registered)


@task(cache_policy=NO_CACHE, tags=[OCR_TAG])
def ocr(checked: CheckedBatch, work: Path, settings: Settings) -> list[OcrResult]:
    files = [(path, checked.batch_dir / path) for path in checked.accepted]
    return ocr_documents(files, work / "ocr", OcrOptions.from_settings(settings),
                         on_page=lambda done, total: report("OCR", done, total, "pages"))


@task(cache_policy=NO_CACHE)
def validate_pdfa(results: list[OcrResult]) -> list[OcrResult]:
    """veraPDF's verdict on every PDF/A the OCR made, the whole batch in one JVM."""
    return validate_derivatives(results)


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
    """Catalog the version as its case.json says, not as the batch asked: the parties, volumes
    and disclosure a later batch may not change (``archive.package``) stay what was archived."""
    tagmanifest = (built.bag_dir / "tagmanifest-sha256.txt").read_bytes()
    signer_cert, _signed_at = signature_info((built.bag_dir / SIGNATURE_NAME).read_bytes())
    fingerprint_ = fingerprint(signer_cert)
    archived = as_archived(sub, read_case_record(built.bag_dir))
    with session(settings.catalog_url) as s:
        upsert_case(s, archived.case)
        record_aip_version(s, archived, built, version, batch_id=batch_id,
                           tagmanifest_sha256=hashlib.sha256(tagmanifest).hexdigest(),
                           certificate=fingerprint_)
        events = ["ingestion", "digital signature generation"]
        events += ["replication"] if settings.replica_root else []
        queue_for_indexing(s, built.aip_id, version)
        for event_type in events:
            record_event(s, event_type, agent=SOFTWARE, aip_id=built.aip_id,
                         detail=f"version v{version} from batch {batch_id}",
                         log_fields=logged_version(settings, built.aip_id, version) if event_type == "ingestion" else None)
        s.commit()


def as_archived(sub: CaseSubmission, archived: CaseRecord) -> CaseSubmission:
    """``sub`` with the case description and document entries the built version holds."""
    entries = {d.entry.path: d.entry for d in archived.documents}
    documents = tuple(SubmittedDocument(entry=entries.get(d.entry.path, d.entry), ocr=d.ocr)
                      for d in sub.documents)
    return sub.model_copy(update={"case": archived.case, "documents": documents})


@task(cache_policy=NO_CACHE)
def find_held_changes(checked: CheckedBatch, store: Store) -> list[ProposedChange]:
    """What the batch asks to change that only an archivist may, case by case, against each
    case's stored head (the truth, whatever the catalog says)."""
    manifest = checked.manifest
    changes = []
    for case in manifest.cases:
        ocfl_id = ocfl_id_for(aip_id_for(case.case_number))
        base = (CaseRecord.model_validate_json(store.path(ocfl_id, CASE_JSON).read_bytes())
                if store.head(ocfl_id) is not None else None)
        changes += proposed_changes(base, manifest, case)
    return changes


def _hold(changes: list[ProposedChange], settings: Settings) -> None:
    if changes:
        with session(settings.catalog_url) as s:
            hold_changes(s, changes)
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


def _submissions(checked: CheckedBatch, results: list[OcrResult], source: SourceCheck,
                 scanned: VirusReport) -> list[CaseSubmission]:
    by_path = {r.source_path: r for r in results}
    manifest = checked.manifest
    signature = checked.batch_dir / MANIFEST_SIGNATURE_NAME
    signed = signature.read_bytes() if source.authenticated else None
    subs = []
    for case in manifest.cases:
        docs = tuple(SubmittedDocument(entry=f, ocr=by_path[f.path])
                     for f in manifest.files_of(case.case_number) if f.path in by_path)
        if docs:
            subs.append(CaseSubmission(manifest=manifest, case=case, documents=docs,
                                       events=tuple(_validation_events(checked, docs, scanned)),
                                       manifest_signature=signed, source=source.describe()))
    return subs


def _validation_events(checked: CheckedBatch, docs, scanned: VirusReport) -> list[dict]:
    """Fixity against the manifest and the virus check of each document and of the manifest."""
    when = checked.manifest.scan_finished.isoformat()
    virus = premis_events(scanned)
    fixity = [{"event_type": "fixity check", "event_time": when, "agent": SOFTWARE,
               "outcome": "success", "object_path": d.entry.path,
               "detail": f"SHA-256 {d.entry.sha256} matches the station manifest"} for d in docs]
    return fixity + [virus[p] for p in (*(d.entry.path for d in docs), MANIFEST_NAME) if p in virus]


def _prior_outcome(batch: Batch, settings: Settings) -> IngestOutcome:
    with session(settings.catalog_url) as s:
        versions = s.exec(select(AipVersion).where(AipVersion.batch_id == batch.id)).all()
        aips = [AipRecord(aip_id=v.aip_id, case_number=s.get(Aip, v.aip_id).case_number,
                          version=v.version, created=False) for v in versions]
    return IngestOutcome(batch_id=batch.id, status="archived", aips=aips,
                         problems=list(batch.problems or []))


@flow(name="ingest-batch", log_prints=False)
def ingest_batch(batch_dir: Path, settings: Settings | None = None) -> IngestOutcome:
    """``settings`` is None when a deployment runs the flow: they are read here, at the edge."""
    from flows.remote_runs import keep_outcome

    settings = settings or load_settings()
    bind_journals(settings)
    outcome, documents = _ingest(Path(batch_dir).absolute(), settings)
    keep_outcome(settings, outcome)
    return honest_state(outcome, documents)


def honest_state(outcome: IngestOutcome, documents: int) -> IngestOutcome | State:
    """The outcome, or a Completed state named "Needs review" when OCR failed for a document
    of the ``documents`` read."""
    failed = {p["path"] for p in outcome.problems if p["code"] == "E300"}
    if not failed:
        return outcome
    message = describe("E924", path=outcome.batch_id, found=len(failed),
                       expected=max(documents, len(failed)))
    return Completed(name="Needs review", message=message, data=outcome)


def _ingest(batch_dir: Path, settings: Settings) -> tuple[IngestOutcome, int]:
    log = get_run_logger()
    report("check", 0, 1, "batch")
    preflight(settings)
    scanned = virus_check(batch_dir, settings)
    virus = virus_problems(scanned, required=settings.clamav_required)
    if any(p.fatal for p in virus):
        return _reject(batch_dir.name, None, "", virus, batch_dir, settings), 0
    try:
        checked = check(batch_dir, settings)
    except ManifestRejected as exc:
        return _reject(batch_dir.name, None, "", exc.report.problems, batch_dir, settings), 0
    manifest = checked.manifest
    with session(settings.catalog_url) as s:
        prior = s.get(Batch, manifest.batch_id)
    if prior is not None and prior.status == "archived":
        if prior.content_digest == checked.content_digest:
            log.info("batch %s was already archived; nothing to do", manifest.batch_id)
            return _prior_outcome(prior, settings), 0
        conflict = Problem.of("E130", "manifest.json")
        return _reject(manifest.batch_id, manifest.station_id, checked.content_digest, [conflict],
                       batch_dir, settings, keep_prior=True), 0
    source = check_station(checked, settings)
    if source.problems:
        return _reject(manifest.batch_id, manifest.station_id, checked.content_digest,
                       [*source.problems, *checked.report.problems], batch_dir, settings), 0
    store = open_store(settings)
    held = find_held_changes(checked, store)
    for change in held:
        for problem in change.problem([f.path for f in manifest.files_of(change.case_number)]):
            checked.report.add(problem)
    if not checked.report.ok:
        _hold([c for c in held if c.kind == "owner"], settings)
        return _reject(manifest.batch_id, manifest.station_id, checked.content_digest,
                       checked.report.problems, batch_dir, settings), 0
    records: list[AipRecord] = []
    with work_folder(settings.work_root, manifest.batch_id) as work:
        results = validate_pdfa(ocr(checked, work, settings))
        problems = [*virus, *checked.report.problems, *_problems_from_ocr(results), *conformance_problems(results)]
        subs = _submissions(checked, results, source, scanned)
        for done, sub in enumerate(subs):
            report("archive", done, len(subs), "cases")
            records.append(_archive_case(sub, work, store, manifest.batch_id, settings))
        report("index", 0, 1, "AIPs")
        problems += index_queued(settings, store)
    public = [p.public() for p in problems]
    _hold(held, settings)
    _save_batch(manifest.batch_id, manifest.station_id, checked.content_digest, "archived",
                public, batch_dir, settings)
    return IngestOutcome(batch_id=manifest.batch_id, status="archived", aips=records,
                         problems=public), len(results)


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
