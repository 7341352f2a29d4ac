"""Prefect deployments of the archive's recurring jobs, with the DA/T 70-2018 §4.3.1 defaults.

    audit-sample     weekly, 2 % of content files, least recently checked first: every file is
                     read about once a year, and ≥ 5 % per quarter (13 weeks × 2 % = 26 %)
    audit-full       every 730 days: a full check every 2 years
    audit-signature  daily: inventories, bag manifests and signatures, no content read
    log-sign-head    daily: sign the audit log's chain head
    watch            every minute, when a hot folder is given: take ready batches

The deployed flows take plain parameters and read the settings themselves (``load_settings``
at this edge), so a deployment never carries a secret in its parameters.
``deployment_specs`` describes them without a server (``juanzong deploy --print``);
``serve_deployments`` serves them when a Prefect API is reachable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from prefect import flow
from pydantic import BaseModel

from config import Settings
from config.settings import load_settings
from flows._runtime import bind_journals

WEEK = 7 * 24 * 3600
DAY = 24 * 3600


class DeploymentSpec(BaseModel):
    name: str
    flow: str
    schedule: dict[str, Any]  # {"cron": "..."} or {"interval_seconds": n}
    parameters: dict[str, Any] = {}
    description: str = ""


@flow(name="scheduled-audit")
def scheduled_audit(mode: Literal["full", "sample", "signature"] = "sample", sample_percent: float = 2.0,
                    budget_files: int | None = None, budget_bytes: int | None = None) -> dict:
    from flows.audit_fixity import audit

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
def watch_hot_folder(folder: str, stale_after: float = 300.0) -> list[dict]:
    from flows.submission import flow_submit
    from ingest.hotfolder import watch

    settings = load_settings()
    bind_journals(settings)
    results = watch(Path(folder), flow_submit(settings), intake_root=settings.intake_root,
                    quarantine_root=settings.quarantine_root, once=True, interval=5.0,
                    stale_after=stale_after)
    return [r.model_dump(mode="json") for r in results]


@flow(name="deliver-notifications")
def deliver_notifications() -> dict:
    from flows.notifications import send_notifications

    return send_notifications(load_settings()).model_dump()


FLOWS = {"scheduled-audit": scheduled_audit, "log-sign-head": log_sign_head,
         "watch-hot-folder": watch_hot_folder, "deliver-notifications": deliver_notifications}


def deployment_specs(settings: Settings, *, hot_folder: Path | None = None,
                     weekly_sample_percent: float = 2.0, budget_files: int | None = None,
                     budget_bytes: int | None = None) -> list[DeploymentSpec]:
    """The archive's schedules; ``budget_*`` caps each sample run (files or bytes) instead of a percentage."""
    sample = {"mode": "sample", "sample_percent": weekly_sample_percent}
    sample |= {k: v for k, v in (("budget_files", budget_files), ("budget_bytes", budget_bytes)) if v}
    specs = [
        DeploymentSpec(name="audit-sample", flow="scheduled-audit", schedule={"interval_seconds": WEEK},
                       parameters=sample,
                       description="DA/T 70 §4.3.1: ≥ 5 % per quarter, every file yearly (least recently checked first)"),
        DeploymentSpec(name="audit-full", flow="scheduled-audit", schedule={"interval_seconds": 730 * DAY},
                       parameters={"mode": "full"}, description="DA/T 70 §4.3.1: full check every 2 years"),
        DeploymentSpec(name="audit-signature", flow="scheduled-audit", schedule={"cron": "30 1 * * *"},
                       parameters={"mode": "signature"}, description="daily signature and inventory check"),
        DeploymentSpec(name="log-sign-head", flow="log-sign-head", schedule={"cron": "55 23 * * *"},
                       description="sign the audit log chain head daily"),
        DeploymentSpec(name="notifications", flow="deliver-notifications", schedule={"interval_seconds": 60},
                       description="deliver requesters' notifications from the outbox"),
    ]
    if hot_folder is not None:
        specs.append(DeploymentSpec(name="watch", flow="watch-hot-folder", schedule={"interval_seconds": 60},
                                    parameters={"folder": str(hot_folder.absolute())},
                                    description=f"take ready batches from {hot_folder}"))
    return specs


def to_deployment(spec: DeploymentSpec):
    """A Prefect ``RunnerDeployment`` for ``spec`` (no server contacted)."""
    schedule = ({"cron": spec.schedule["cron"]} if "cron" in spec.schedule
                else {"interval": spec.schedule["interval_seconds"]})
    return FLOWS[spec.flow].to_deployment(name=spec.name, parameters=spec.parameters,
                                          description=spec.description, **schedule)


def serve_deployments(settings: Settings, specs: list[DeploymentSpec]) -> None:
    """Serve every deployment (blocks); needs a Prefect API (PREFECT_API_URL)."""
    from prefect import serve

    serve(*[to_deployment(s) for s in specs])
