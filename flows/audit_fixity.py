"""Audit the storage root: recompute digests, check inventories and signatures, repair
from the replica where one is configured, and record every finding and repair.

    audit_store -> accounting (catalog AIPs vs objects, tombstones) -> write JSON + HTML report
    -> record run, findings, PREMIS events

A disposed object (销毁) is gone on purpose: its signed tombstone in the storage root says so,
and the audit checks that signature instead of the object (whose recorded head it no longer
expects in storage).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel
from sqlmodel import select

from archive.audit import AuditReport, audit_store, write_audit_report
from archive.catalog import session
from archive.catalog.integrity import check_catalog
from archive.catalog.models import Aip, AuditFinding, AuditRun, utcnow
from archive.catalog.record import record_event
from archive.records import ocfl_id_for
from archive.tombstone import tombstoned_ids, verify_tombstone
from archive.verify import Finding
from archive.storage import OcflStore
from config import Settings
from flows._runtime import bind_journals, open_ocfl_roots, trusted_certificates
from flows.progress import report as progress
from flows.recorded_heads import recorded_heads


class AuditOutcome(BaseModel):
    run_id: str
    checked: int
    ok: int
    failures: list[dict]
    repaired: int
    report: str
    no_trusted_time: list[dict] = []  # AIP versions signed without a timestamp token: noted, not failed


def _aip_id(object_id: str) -> str:
    return object_id.removeprefix("urn:uuid:")


def last_checked(settings: Settings) -> dict[str, datetime]:
    """Storage-root path -> when an earlier audit last read it (from the kept JSON reports)."""
    seen: dict[str, datetime] = {}
    for path in sorted((settings.home / "audit").glob("*/audit-*.json")):
        report = AuditReport.model_validate_json(path.read_bytes())
        for checked in report.checked_paths:
            seen[checked] = max(seen.get(checked, report.started), report.started)
    return seen


def budget_percent(store: OcflStore, budget_files: int | None, budget_bytes: int | None) -> float | None:
    """The sample percentage that a daily budget (files or bytes) buys on this store."""
    if budget_files is None and budget_bytes is None:
        return None
    files, size = 0, 0
    for object_id in store.object_ids():
        for recorded in store.sizes(object_id).values():
            files, size = files + 1, size + recorded
    shares = [100.0 * budget_files / files if budget_files and files else None,
              100.0 * budget_bytes / size if budget_bytes and size else None]
    return min([s for s in shares if s is not None], default=100.0)


@task(cache_policy=NO_CACHE)
def run_audit(settings: Settings, mode: str, sample_percent: float, budget_files: int | None = None,
              budget_bytes: int | None = None):
    store, replica = open_ocfl_roots(settings)
    percent = budget_percent(store, budget_files, budget_bytes) if mode == "sample" else None
    gone = tombstoned_ids(settings.storage_root)
    trusted = trusted_certificates(settings)
    recorded = {oid: head for oid, head in recorded_heads(settings).items() if _aip_id(oid) not in gone}
    report = audit_store(store, mode=mode, sample_percent=min(percent or sample_percent, 100.0),
                         replica=replica, trusted=trusted,
                         jobs=settings.ocr_jobs, last_checked=last_checked(settings) if mode == "sample" else None,
                         recorded=recorded,
                         on_object=lambda done, total: progress("audit", done, total, "AIPs"))
    found = tombstone_findings(settings, gone, trusted)
    report.findings += found
    report.remaining += found
    return report


def tombstone_findings(settings: Settings, gone: set[str], trusted) -> list[Finding]:
    """A disposed AIP is gone on purpose only if its tombstone's signature verifies."""
    return [Finding(object_id=ocfl_id_for(aip_id), path=p.path, kind="signature", reason=p.message)
            for aip_id in sorted(gone) for p in verify_tombstone(settings.storage_root, aip_id, trusted)]


def add_catalog_findings(report: AuditReport, findings: list) -> AuditReport:
    """The catalog's own faults (``archive.catalog.integrity``) join the storage findings."""
    return report.model_copy(update={"findings": report.findings + findings,
                                     "remaining": report.remaining + findings})


@task(cache_policy=NO_CACHE)
def record_audit(report, run_id: str, mode: str, report_path: str, settings: Settings) -> None:
    with session(settings.catalog_url) as s:
        s.add(AuditRun(id=run_id, mode=mode, finished_at=utcnow(), checked=report.checked,
                       ok=report.ok, repaired=len(report.repaired), report_path=report_path))
        s.flush()
        for f in report.findings:
            aip_id = _aip_id(f.object_id)
            repaired = f.path in {r.path for r in report.repaired}
            s.add(AuditFinding(run_id=run_id, aip_id=aip_id, path=f.path, kind=f.kind,
                               expected=f.expected, actual=f.actual, repaired=repaired))
            record_event(s, "fixity check", agent="juanzong audit", outcome="failure",
                         aip_id=aip_id, object_path=f.path,
                         detail=f"{f.kind}: expected {f.expected}, found {f.actual}")
            if repaired:
                record_event(s, "replication", agent="juanzong audit", aip_id=aip_id,
                             object_path=f.path, detail="repaired from replica and re-verified")
        for aip in s.exec(select(Aip)).all():
            aip.last_checked_at = utcnow()
            s.add(aip)
        record_event(s, "fixity check", agent="juanzong audit",
                     outcome="success" if not report.findings else "failure",
                     detail=f"run {run_id} ({mode}): {report.checked} checked, {report.ok} ok, "
                            f"{len(report.findings)} findings")
        s.commit()


@flow(name="audit-fixity")
def audit(settings: Settings, mode: Literal["full", "sample", "signature"] = "full",
          sample_percent: float = 5.0, budget_files: int | None = None,
          budget_bytes: int | None = None) -> AuditOutcome:
    """``budget_files``/``budget_bytes`` (sample mode) replace ``sample_percent`` by what the budget buys."""
    bind_journals(settings)
    run_id = "AUD-" + uuid.uuid4().hex[:12].upper()
    report = run_audit(settings, mode, sample_percent, budget_files, budget_bytes)
    report = add_catalog_findings(report, check_catalog(settings.catalog_url))
    json_path, _html = write_audit_report(report, settings.home / "audit" / run_id)
    record_audit(report, run_id, mode, str(json_path), settings)
    failures = [{"aip_id": _aip_id(f.object_id), "path": f.path, "kind": f.kind,
                 "expected": f.expected, "actual": f.actual} for f in report.findings]
    untimed = [{"aip_id": _aip_id(u.object_id), "version": u.version, "path": u.path, "note": u.note}
               for u in report.no_trusted_time]
    return AuditOutcome(run_id=run_id, checked=report.checked, ok=report.ok, failures=failures,
                        repaired=len(report.repaired), report=str(json_path), no_trusted_time=untimed)
