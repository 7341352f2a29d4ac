"""Prefect deployments of the archive's jobs on one ``process`` work pool, declared once here.

    ingest-batch     on demand, one flow run per batch (parameter: the batch folder's path),
                     so every worker of the pool takes batches
    audit-sample     Mondays 02:00: 2 % of content files, least recently checked first: every
                     file is read about once a year, and ≥ 5 % per quarter (DA/T 70 §4.3.1)
    audit-full       Sundays 03:00, rolling: each run reads the least recently verified
                     share (``ROLLING_PERCENT``) so the whole store is read within the
                     two-year cycle, never one run past Prefect's scheduling horizon
    audit-signature  daily 01:30: inventories, bag manifests and signatures, no content read
    log-sign-head    daily 23:55: sign the preservation log's chain head
    ocr-retry        daily 04:00: OCR again the documents whose OCR failed
    reindex          on demand: rebuild the search index from the storage root
    notifications    every minute: deliver requesters' notifications from the outbox
    watch            every minute, when ``hot_folder`` is set: take ready batches

Schedules are cron expressions in court time (``TIMEZONE``), so they keep their anchors
whoever applies them and when.
Deployed flows take plain parameters and read the settings themselves (``load_settings``
at this edge), so no deployment carries a secret, and the hot folder is a setting of the
worker, not a parameter the last ``juanzong deploy`` rewrites. ``apply_deployments`` is
idempotent: it creates or updates the work pool (with its concurrency limit), the ``ocr``
tag's concurrency limit (OCR slots across the pool), every deployment and the automation that
marks a flow run whose heartbeats stopped as Crashed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from prefect import flow
from pydantic import BaseModel

from config import Settings
from config.settings import load_settings
from flows._runtime import bind_journals
from flows.engine_env import HEARTBEAT_SECONDS, OCR_TAG

POOL = "juanzong"
CYCLE_DAYS = 730  # DA/T 70-2018 §4.3.1: every file read at least once in two years
ROLLING_PERIOD_DAYS = 7
ROLLING_PERCENT = round(100.0 * ROLLING_PERIOD_DAYS / CYCLE_DAYS * 1.25, 2)  # 25 % margin for growth
TIMEZONE = "Asia/Shanghai"  # cron anchors are court time (UTC+8)
ZOMBIE_AUTOMATION = "juanzong: flow run without heartbeat is Crashed"
ZOMBIE_AFTER_SECONDS = 3 * HEARTBEAT_SECONDS


class DeploymentSpec(BaseModel):
    name: str
    flow: str
    cron: str | None = None
    parameters: dict[str, Any] = {}
    description: str = ""
    tags: list[str] = []


class DeployReport(BaseModel):
    work_pool: str
    pool_limit: int | None
    ocr_slots: int
    deployments: list[str]
    automation: str


@flow(name="scheduled-audit")
def scheduled_audit(mode: Literal["full", "sample", "signature", "rolling"] = "sample",
                    sample_percent: float = 2.0, budget_files: int | None = None,
                    budget_bytes: int | None = None) -> dict:
    """``rolling`` reads ``ROLLING_PERCENT`` of the content, least recently verified first."""
    from flows.audit_fixity import audit

    if mode == "rolling":
        mode, sample_percent = "sample", ROLLING_PERCENT
    out = audit(load_settings(), mode=mode, sample_percent=sample_percent, budget_files=budget_files,
                budget_bytes=budget_bytes)
    return out.model_dump()


@flow(name="log-sign-head")
def log_sign_head() -> dict:
    from archive.auditlog import sign_head
    from flows._runtime import open_signer

    settings = load_settings()
    path, head = sign_head(settings.log_dir, open_signer(settings), catalog_url=settings.catalog_url)
    return {"head": str(path), "seq": head.seq, "digest": head.digest}


@flow(name="watch-hot-folder")
def watch_hot_folder(stale_after: float = 300.0) -> list[dict]:
    """One pass over the hot folder named by the ``hot_folder`` setting of this worker."""
    from flows.submission import flow_submit
    from ingest.hotfolder import watch

    settings = load_settings()
    bind_journals(settings)
    if settings.hot_folder is None:
        return []
    results = watch(settings.hot_folder, flow_submit(settings), intake_root=settings.intake_root,
                    quarantine_root=settings.quarantine_root, once=True, interval=5.0,
                    stale_after=stale_after)
    return [r.model_dump(mode="json") for r in results]


@flow(name="deliver-notifications")
def deliver_notifications() -> dict:
    from flows.notifications import send_notifications

    return send_notifications(load_settings()).model_dump()


@flow(name="reindex-archive")
def reindex_archive() -> dict:
    from flows.reindex import reindex

    return reindex(load_settings()).model_dump()


@flow(name="retry-failed-ocr")
def retry_failed_ocr(case_number: str | None = None) -> dict:
    from flows.retry_ocr import retry_ocr

    return retry_ocr(load_settings(), case_number).model_dump(mode="json")


ENTRYPOINTS = {
    "ingest-batch": "flows.ingest_batch.ingest_batch",
    "scheduled-audit": "flows.deploy.scheduled_audit",
    "log-sign-head": "flows.deploy.log_sign_head",
    "watch-hot-folder": "flows.deploy.watch_hot_folder",
    "deliver-notifications": "flows.deploy.deliver_notifications",
    "reindex-archive": "flows.deploy.reindex_archive",
    "retry-failed-ocr": "flows.deploy.retry_failed_ocr",
}


def deployment_specs(settings: Settings, *, weekly_sample_percent: float = 2.0,
                     budget_files: int | None = None,
                     budget_bytes: int | None = None) -> list[DeploymentSpec]:
    """The archive's deployments; ``budget_*`` caps each sample run (files or bytes) instead of a percentage."""
    sample = {"mode": "sample", "sample_percent": weekly_sample_percent}
    sample |= {k: v for k, v in (("budget_files", budget_files), ("budget_bytes", budget_bytes)) if v}
    specs = [
        DeploymentSpec(name="ingest-batch", flow="ingest-batch", tags=["ingest"],
                       description="ingest one station batch; parameter batch_dir: the batch folder"),
        DeploymentSpec(name="audit-sample", flow="scheduled-audit", cron="0 2 * * 1", parameters=sample,
                       description="DA/T 70 §4.3.1: ≥ 5 % per quarter, every file yearly (least recently checked first)"),
        DeploymentSpec(name="audit-full", flow="scheduled-audit", cron="0 3 * * 0",
                       parameters={"mode": "rolling"},
                       description=f"DA/T 70 §4.3.1: rolling full check, {ROLLING_PERCENT} % a week, "
                                   f"every file within {CYCLE_DAYS} days"),
        DeploymentSpec(name="audit-signature", flow="scheduled-audit", cron="30 1 * * *",
                       parameters={"mode": "signature"}, description="daily signature and inventory check"),
        DeploymentSpec(name="log-sign-head", flow="log-sign-head", cron="55 23 * * *",
                       description="sign the preservation log's chain head daily"),
        DeploymentSpec(name="ocr-retry", flow="retry-failed-ocr", cron="0 4 * * *",
                       description="OCR again the documents whose OCR failed"),
        DeploymentSpec(name="reindex", flow="reindex-archive",
                       description="rebuild the search index from the storage root"),
        DeploymentSpec(name="notifications", flow="deliver-notifications", cron="* * * * *",
                       description="deliver requesters' notifications from the outbox"),
    ]
    if settings.hot_folder is not None:
        specs.append(DeploymentSpec(name="watch", flow="watch-hot-folder", cron="* * * * *",
                                    description="take ready batches from the hot_folder setting"))
    return specs


def load_flow(name: str):
    """The flow object behind ``ENTRYPOINTS[name]``, imported by module path as a worker does."""
    import importlib

    module, _, attr = ENTRYPOINTS[name].rpartition(".")
    return getattr(importlib.import_module(module), attr)


def to_deployment(spec: DeploymentSpec):
    """A Prefect ``RunnerDeployment`` for ``spec`` (no server contacted). Its entrypoint is a
    module path, so a worker imports ``flows.…`` as a package and never puts ``flows/`` on
    ``sys.path``."""
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Cron

    return load_flow(spec.flow).to_deployment(
        name=spec.name, parameters=spec.parameters, description=spec.description, tags=spec.tags,
        entrypoint_type=EntrypointType.MODULE_PATH,
        schedules=[Cron(spec.cron, timezone=TIMEZONE)] if spec.cron else [])


def apply_deployments(specs: list[DeploymentSpec], *, pool: str = POOL, pool_limit: int | None = None,
                      ocr_slots: int = 2) -> DeployReport:
    """Create or update the pool, the OCR slots, the deployments and the zombie automation."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        ensure_pool(client, pool, pool_limit)
        client.create_concurrency_limit(tag=OCR_TAG, concurrency_limit=ocr_slots)
        ensure_zombie_automation(client)
    names = []
    for spec in specs:
        deployment = to_deployment(spec)
        deployment.apply(work_pool_name=pool)
        names.append(f"{deployment.flow_name}/{deployment.name}")
    return DeployReport(work_pool=pool, pool_limit=pool_limit, ocr_slots=ocr_slots,
                        deployments=names, automation=ZOMBIE_AUTOMATION)


def ensure_pool(client, pool: str, limit: int | None) -> None:
    from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    try:
        client.read_work_pool(pool)
    except ObjectNotFound:
        client.create_work_pool(WorkPoolCreate(
            name=pool, type="process", concurrency_limit=limit,
            base_job_template=ProcessWorker.get_default_base_job_template()))
        return
    client.update_work_pool(pool, WorkPoolUpdate(concurrency_limit=limit))


def zombie_automation():
    """Mark Crashed a running flow run whose heartbeats stopped (its process died with its
    machine, or was killed): the run never stays Running forever, and the submitter that
    waits for it submits the batch again to another worker."""
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

    trigger = EventTrigger(
        match={"prefect.resource.id": "prefect.flow-run.*"},
        after={"prefect.flow-run.heartbeat"},
        expect={"prefect.flow-run.heartbeat", "prefect.flow-run.Completed",
                "prefect.flow-run.Failed", "prefect.flow-run.Cancelled", "prefect.flow-run.Crashed"},
        for_each={"prefect.resource.id"}, posture=Posture.Proactive, threshold=1,
        within=timedelta(seconds=ZOMBIE_AFTER_SECONDS))
    action = ChangeFlowRunState(state=StateType.CRASHED, name="Crashed",
                                message=f"no heartbeat for {ZOMBIE_AFTER_SECONDS} s: the process "
                                        "running this flow died")
    return AutomationCore(name=ZOMBIE_AUTOMATION, trigger=trigger, actions=[action], enabled=True)


def ensure_zombie_automation(client) -> None:
    automation = zombie_automation()
    existing = client.read_automations_by_name(ZOMBIE_AUTOMATION)
    if existing:
        client.update_automation(existing[0].id, automation)
    else:
        client.create_automation(automation)
