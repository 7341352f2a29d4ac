"""归档 one case: assign its 档号, run the GD 四性检测, keep the report in a new AIP version.

    assign_archival_code (catalog, committed) -> run_check4 GD on the stored head
    -> checkout head -> add_archiving_record -> sign -> commit (OCFL; rebuilt on the new head
    when an ingest of the case committed meanwhile) -> verify -> record version, status
    archived, events

A GD check that does not pass stops before the new version: the report is written under
``home/check4/`` and ``VerificationFailed`` (E443) is raised naming the failed items and the manual
items nobody has signed off; the 档号 stays assigned to the case (it is never reused). The
archivist may accept named failed items with a reason (``accepted``): the report keeps them as
failed, and the acceptance is an event in the log and in the version's PREMIS. Archiving an
archived case returns what it has. ``archivist`` is a principal id of a person in the catalog.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from archive.archival_code import ArchivalCodeRule, assign_archival_code
from archive.archiving import CHECK4_GD, add_archiving_record
from archive.bag import payload_digest
from archive.catalog import session
from archive.catalog.models import Case
from archive.catalog.record import record_archiving_version, record_event
from archive.check4 import Check4Report, manual_codes, report_json, run_check4
from archive.check4_signoff import signoffs_for
from archive.permissions import require_person
from archive.package import CASE_JSON, CaseRecord
from archive.records import ocfl_id_for
from archive.signing import Signer, sign_bag
from archive.storage import StaleHead, Store
from archive.verify import verify_object
from config import Settings
from flows._runtime import (
    bind_journals,
    fingerprint,
    logged_version,
    open_ocfl_roots,
    open_signer,
    open_store,
    trusted_certificates,
)
from flows._work import work_folder
from schemas.errors import NotFound, VerificationFailed

SOFTWARE = "juanzong"
COMMIT_ATTEMPTS = 3  # an ingest of the case may move the head between checkout and commit


class ArchiveOutcome(BaseModel):
    case_number: str
    aip_id: str
    archival_code: str
    version: int
    check4: dict[str, int]
    report: str  # bag path of the report in the AIP
    created: bool


def archival_rule(settings: Settings) -> ArchivalCodeRule:
    return ArchivalCodeRule(fonds=settings.fonds_code)


def check4_for(settings: Settings, aip_id: str, stage: str, premis_xsd: Path | None = None) -> Check4Report:
    """The 四性检测 (GD or BC) of a stored AIP with everything the archive knows (catalog, certificates,
    log, the sign-offs of its manual items for the head version)."""
    _, replica = open_ocfl_roots(settings)
    store = open_store(settings)
    head = store.head(ocfl_id_for(aip_id))
    with session(settings.catalog_url) as s:
        signoffs = signoffs_for(s, f"v{head}", manual_codes(stage))  # type: ignore[arg-type]
    return run_check4(store, aip_id, stage, trusted=trusted_certificates(settings), rule=archival_rule(settings),  # type: ignore[arg-type]
                      catalog_url=settings.catalog_url, premis_xsd=premis_xsd, replica=replica,
                      log_dir=settings.log_dir, jobs=settings.ocr_jobs, signoffs=signoffs)


def unaccepted(report: Check4Report, accepted: tuple[str, ...]) -> list[str]:
    """What stops 归档: failed items not accepted, and manual items still open."""
    return [c for c in report.failed if c not in accepted] + report.open


def keep_report(settings: Settings, report: Check4Report) -> Path:
    """``home/check4/<aip_id>/<stage>-<time>.json`` (the run's own copy, outside the AIP); a YJ report
    goes under ``home/check4/transfer-<package folder name>/``."""
    folder = settings.home / "check4" / (report.aip_id or f"transfer-{Path(report.package or '').name}")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{report.stage}-{report.checked_at:%Y%m%dT%H%M%S%fZ}.json"
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(report_json(report))
    tmp.replace(target)
    return target


def _case(settings: Settings, case_number: str) -> Case:
    with session(settings.catalog_url) as s:
        case = s.get(Case, case_number)
    if case is None:
        raise NotFound("E503", case_number)
    if not case.aip_id:
        raise NotFound("E406", case_number)
    return case


def _already_archived(settings: Settings, case: Case) -> ArchiveOutcome | None:
    store = open_store(settings)
    ocfl_id = ocfl_id_for(case.aip_id or "")
    files = store.files(ocfl_id)
    if case.status != "archived" or CHECK4_GD not in files:
        return None
    record = CaseRecord.model_validate_json(files[CASE_JSON].path.read_bytes())
    return ArchiveOutcome(case_number=case.case_number, aip_id=case.aip_id or "",
                          archival_code=record.archival_code or "", version=store.head(ocfl_id) or 0,
                          check4={}, report=CHECK4_GD, created=False)


def archivist_agent_of(settings: Settings, principal_id: str, target: str) -> str:
    """``principal_id (name)`` of a person in the catalog (E701 otherwise): the agent PREMIS names."""
    with session(settings.catalog_url) as s:
        return require_person(s, principal_id, "operation.run", target)


@task(cache_policy=NO_CACHE)
def assign_code(settings: Settings, case_number: str, archivist: str) -> str:
    with session(settings.catalog_url) as s:
        return assign_archival_code(s, case_number, archival_rule(settings), agent=archivist)


@task(cache_policy=NO_CACHE)
def commit_archiving_version(settings: Settings, aip_id: str, code: str, report: Check4Report,
                             archivist: str) -> int:
    """Build the 归档 version on the head, commit, verify and record it; returns the new version."""
    store = open_store(settings)
    ocfl_id = ocfl_id_for(aip_id)
    signer = open_signer(settings)
    with work_folder(settings.work_root, f"archive-{aip_id}") as work:
        committed, bag = _commit_on_head(store, ocfl_id, work, signer, code, report, archivist)
        findings = verify_object(store, ocfl_id, trusted_certificates(settings))
        if findings:
            raise VerificationFailed("E402", findings[0].path, expected=findings[0].expected,
                                     found=findings[0].actual)
        _record(settings, aip_id, committed, bag, fingerprint(signer.certificate()), code, report, archivist)
    return committed


def _commit_on_head(store: Store, ocfl_id: str, work: Path, signer: Signer, code: str, report: Check4Report,
                    archivist: str) -> tuple[int, Path]:
    """Commit the 归档 version built on the head unless the head moved meanwhile, then rebuild it
    on the new head: an ingest of the case may commit between checkout and commit, and a version
    built on the older head would drop that ingest's documents. Returns the version and its bag."""
    attempt = 1
    while True:
        base = store.head(ocfl_id)
        bag = _archiving_bag(store, ocfl_id, base, work / f"attempt-{attempt}", signer, code, report, archivist)
        try:
            return store.commit(ocfl_id, bag, message=f"archive {code}", expected_head=base, agent=archivist), bag
        except StaleHead:
            if attempt == COMMIT_ATTEMPTS:
                raise
            attempt += 1


def _archiving_bag(store: Store, ocfl_id: str, base: int | None, dest: Path, signer: Signer, code: str,
                   report: Check4Report, archivist: str) -> Path:
    """Version ``base`` checked out into ``dest`` with the 归档 record added, signed."""
    bag = store.checkout(ocfl_id, dest, version=base)
    add_archiving_record(bag, archival_code=code, version=(base or 0) + 1, report_json=report_json(report),
                         passed=report.ok, summary=str(report.summary()), archivist=archivist,
                         when=datetime.now(timezone.utc), software=SOFTWARE)
    sign_bag(bag, signer)
    return bag


def _record(settings: Settings, aip_id: str, version: int, bag: Path, cert: str, code: str,
            report: Check4Report, archivist: str) -> None:
    tagmanifest = hashlib.sha256((bag / "tagmanifest-sha256.txt").read_bytes()).hexdigest()
    with session(settings.catalog_url) as s:
        record_archiving_version(s, aip_id, version, payload_digest=payload_digest(bag),
                                 tagmanifest_sha256=tagmanifest, certificate=cert, message=f"archive {code}")
        record_event(s, "validation", agent=archivist, aip_id=aip_id, object_path=CHECK4_GD,
                     outcome="success" if report.ok else "failure",
                     detail=f"四性检测 GD on v{report.version}: {report.summary()}")
        record_event(s, "digital signature generation", agent=SOFTWARE, aip_id=aip_id,
                     detail=f"version v{version} ({code})", log_fields=logged_version(settings, aip_id, version))
        if settings.replica_root:
            record_event(s, "replication", agent=SOFTWARE, aip_id=aip_id, detail=f"version v{version}")
        s.commit()


def _record_acceptance(settings: Settings, aip_id: str, report: Check4Report, accepted: tuple[str, ...],
                       archivist: str, reason: str) -> None:
    taken = [c for c in report.failed if c in accepted]
    if not taken:
        return
    with session(settings.catalog_url) as s:
        record_event(s, "check4 acceptance", agent=archivist, aip_id=aip_id, outcome="warning",
                     object_path=f"check4:GD@v{report.version}", detail=f"accepted failed {', '.join(taken)}: {reason}")
        s.commit()


@flow(name="archive-case")
def archive_case(settings: Settings, case_number: str, archivist: str, *, accepted: tuple[str, ...] = (),
                 reason: str = "") -> ArchiveOutcome:
    bind_journals(settings)
    case = _case(settings, case_number)
    done = _already_archived(settings, case)
    if done is not None:
        return done
    agent = archivist_agent_of(settings, archivist, case_number)
    code = assign_code(settings, case_number, agent)
    report = check4_for(settings, case.aip_id or "", "GD")
    keep_report(settings, report)
    blocking = unaccepted(report, accepted)
    if blocking or (accepted and not reason):
        raise VerificationFailed("E443", case_number, found=", ".join(blocking) or "acceptance without a reason")
    _record_acceptance(settings, case.aip_id or "", report, accepted, agent, reason)
    version = commit_archiving_version(settings, case.aip_id or "", code, report, agent)
    return ArchiveOutcome(case_number=case_number, aip_id=case.aip_id or "", archival_code=code,
                          version=version, check4=report.summary(), report=CHECK4_GD, created=True)
