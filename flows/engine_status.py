"""What an operator watches: workers, batches by state, review queue, index lag, audit coverage
and findings, storage use — for ``juanzong status``, ``GET /status`` and ``GET /metrics``.

Catalog, intake area and storage root give the archive's figures; with a Prefect server the
work pool gives the workers (``runs`` = flow runs each has finished, from the runs' worker
label) and the ingest runs waiting or running. Reading the status changes nothing.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pydantic import BaseModel
from sqlmodel import col, func, select

from archive.catalog import session
from archive.catalog.models import AuditFinding, AuditRun, Batch, IndexQueueItem, Page
from archive.review import REVIEW_FLAGS
from archive.storage import OcflStore
from config import Settings
from flows.deploy import CYCLE_DAYS, POOL
from flows.engine_env import is_server_configured

INGEST_DEPLOYMENT = "ingest-batch"
FINISHED = ["COMPLETED", "FAILED"]
WAITING = ["SCHEDULED", "PENDING"]
RUN_PAGE = 200


class WorkerState(BaseModel):
    name: str
    online: bool
    runs: int


class Waiting(BaseModel):
    batch: str
    since: datetime


class AuditCoverage(BaseModel):
    files: int
    verified_within_cycle: int
    coverage_percent: float
    cycle_days: int = CYCLE_DAYS
    last_run: dict | None = None
    last_findings: list[dict] = []


class StorageUse(BaseModel):
    objects: int
    files: int
    bytes: int
    free_bytes: int


class StatusReport(BaseModel):
    engine: str  # "server" (a Prefect server is configured) or "in-process"
    workers: list[WorkerState]
    batches: dict[str, int]
    oldest_waiting: Waiting | None
    review_queue: int
    index_lag: int
    audit: AuditCoverage
    storage: StorageUse


def status_report(settings: Settings) -> StatusReport:
    batches, oldest = _catalog_batches(settings), _oldest_queued(settings.intake_root)
    batches["queued"] = _queued_count(settings.intake_root)
    workers: list[WorkerState] = []
    if is_server_configured():
        workers, runs = _engine_figures()
        batches |= runs
    with session(settings.catalog_url) as s:
        review = _review_count(s)
        lag = s.exec(select(func.count()).select_from(IndexQueueItem)).one()
    store = OcflStore(settings.storage_root)
    return StatusReport(engine="server" if is_server_configured() else "in-process", workers=workers,
                        batches=batches, oldest_waiting=oldest, review_queue=review, index_lag=lag,
                        audit=_audit(settings, store), storage=_storage(settings, store))


def _review_count(s) -> int:
    flags = s.exec(select(Page.flags).where(col(Page.reviewed).is_(False))).all()
    return sum(1 for f in flags if set(f or ()) & set(REVIEW_FLAGS))


def _catalog_batches(settings: Settings) -> dict[str, int]:
    with session(settings.catalog_url) as s:
        rows = s.exec(select(Batch.status, func.count()).group_by(Batch.status)).all()
    return {status: n for status, n in rows}


def _slots(intake_root: Path) -> list[Path]:
    ready = intake_root / "ready"
    return sorted(p for p in ready.iterdir() if p.is_dir()) if ready.is_dir() else []


def _queued_count(intake_root: Path) -> int:
    return sum(1 for slot in _slots(intake_root) if _batch_in(slot) is not None)


def _batch_in(slot: Path) -> Path | None:
    return next((p for p in slot.iterdir() if p.is_dir() and not p.name.startswith(".")), None)


def _oldest_queued(intake_root: Path) -> Waiting | None:
    for slot in _slots(intake_root):  # slot names start with the admission time
        batch = _batch_in(slot)
        if batch is not None:
            since = datetime.fromtimestamp(slot.stat().st_mtime, timezone.utc)
            return Waiting(batch=batch.name, since=since)
    return None


def _engine_figures() -> tuple[list[WorkerState], dict[str, int]]:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(POOL)
        except ObjectNotFound:
            return [], {}
        workers = client.read_workers_for_work_pool(POOL)
        finished = _count_by_worker(client)
        states = [WorkerState(name=w.name, online=str(w.status.value if w.status else "").upper() == "ONLINE",
                              runs=finished.get(w.name, 0)) for w in workers]
        runs = {"running": _count_runs(client, ["RUNNING"]), "waiting": _count_runs(client, WAITING)}
    return states, runs


def _pool_filter(states: list[str], deployment: str | None = None):
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
        WorkPoolFilter,
        WorkPoolFilterName,
    )

    found = dict(flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=states))),
                 work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[POOL])))
    if deployment:
        found["deployment_filter"] = DeploymentFilter(name=DeploymentFilterName(any_=[deployment]))
    return found


def _count_runs(client, states: list[str]) -> int:
    """Ingest flow runs (one per batch) in ``states``."""
    return client.count_flow_runs(**_pool_filter(states, INGEST_DEPLOYMENT))


def _count_by_worker(client) -> dict[str, int]:
    counts: dict[str, int] = {}
    offset = 0
    while True:
        page = client.read_flow_runs(**_pool_filter(FINISHED), limit=RUN_PAGE, offset=offset)
        for run in page:
            name = (run.labels or {}).get("prefect.worker.name")
            if name:
                counts[name] = counts.get(name, 0) + 1
        if len(page) < RUN_PAGE:
            return counts
        offset += RUN_PAGE


def _audit(settings: Settings, store: OcflStore) -> AuditCoverage:
    from flows.audit_fixity import last_checked

    files = _content_paths(store)
    horizon = datetime.now(timezone.utc) - timedelta(days=CYCLE_DAYS)
    seen = last_checked(settings)
    recent = sum(1 for p in files if p in seen and _aware(seen[p]) >= horizon)
    with session(settings.catalog_url) as s:
        run = s.exec(select(AuditRun).order_by(col(AuditRun.started_at).desc())).first()
        findings = s.exec(select(AuditFinding).where(AuditFinding.run_id == run.id)).all() if run else []
        last = run.model_dump(mode="json", include={"id", "mode", "started_at", "finished_at", "checked",
                                                    "ok", "repaired"}) if run else None
        found = [f.model_dump(mode="json", include={"aip_id", "path", "kind", "repaired"}) for f in findings]
    return AuditCoverage(files=len(files), verified_within_cycle=recent,
                         coverage_percent=round(100.0 * recent / len(files), 2) if files else 100.0,
                         last_run=last, last_findings=found)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _content_paths(store: OcflStore) -> set[str]:
    paths = set()
    for object_id in store.object_ids():
        prefix = store.object_dir(object_id).relative_to(store.root).as_posix()
        paths |= {f"{prefix}/{cp}" for cp in store.sizes(object_id)}
    return paths


def _storage(settings: Settings, store: OcflStore) -> StorageUse:
    objects = files = size = 0
    for object_id in store.object_ids():
        sizes = store.sizes(object_id)
        objects, files, size = objects + 1, files + len(sizes), size + sum(sizes.values())
    root = settings.storage_root if settings.storage_root.exists() else settings.home
    free = shutil.disk_usage(root).free if root.exists() else 0
    return StorageUse(objects=objects, files=files, bytes=size, free_bytes=free)
