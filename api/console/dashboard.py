"""The dashboard's figures: what waits for whom, from the catalog, the intake area and the
quarantine. Counts only — the system administrator sees this page and no archive content."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import select

from archive.catalog import session
from archive.catalog.models import AuditFinding, AuditRun, Batch, CaseChange, DisseminationRequest, IndexQueueItem
from archive.review import pending
from config import Settings
from ingest.intake import pending_batches
from ingest.quarantine import list_entries


class DashboardFigures(BaseModel):
    batches_by_state: dict[str, int]
    waiting_in_intake: int
    oldest_waiting: datetime | None
    quarantined: int
    review_queue: int
    requests_pending: int
    changes_pending: int  # case changes a batch asked for, held for an archivist's decision
    last_audit: dict | None
    index_lag: int


def dashboard_figures(settings: Settings) -> DashboardFigures:
    waiting = pending_batches(settings.intake_root)
    oldest = min((datetime.fromtimestamp(p.stat().st_mtime).astimezone() for p in waiting), default=None)
    with session(settings.catalog_url) as s:
        states = dict(s.exec(select(Batch.status, func.count()).group_by(Batch.status)).all())
        requests_pending = s.exec(select(func.count()).select_from(DisseminationRequest)
                                  .where(DisseminationRequest.status == "pending_approval")).one()
        changes = s.exec(select(func.count()).select_from(CaseChange).where(CaseChange.status == "pending")).one()
        lag = s.exec(select(func.count()).select_from(IndexQueueItem)).one()
        run = s.exec(select(AuditRun).order_by(AuditRun.started_at.desc())).first()
        last = None
        if run is not None:
            failures = s.exec(select(func.count()).select_from(AuditFinding)
                              .where(AuditFinding.run_id == run.id)).one()
            last = {"id": run.id, "mode": run.mode, "started_at": run.started_at, "checked": run.checked,
                    "failures": failures}
    return DashboardFigures(batches_by_state=states, waiting_in_intake=len(waiting), oldest_waiting=oldest,
                            quarantined=len(list_entries(settings.quarantine_root)),
                            review_queue=len(pending(settings.catalog_url)),
                            requests_pending=requests_pending, changes_pending=changes, last_audit=last,
                            index_lag=lag)
