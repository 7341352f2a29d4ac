"""审计: fixity audit history and failures with their repair status, the preservation log's
verification, starting an audit; and the log itself — everyone's actions, or the three officers'
and sign-ins only (the security auditor's view)."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlmodel import col, select

from api.console.operations import Operations
from api.console.web import Viewer, page, render
from archive.accounts import OFFICER_ROLES
from archive.auditlog import LOG_NAME, verify_log
from archive.catalog import session
from archive.catalog.models import AuditFinding, AuditRun, ConsoleUser
from config import Settings
from flows._runtime import trusted_certificates

LOG_PAGE = 200


def log_tail(settings: Settings, *, only_agents: set[str] | None, limit: int = LOG_PAGE,
             include_logins: bool = False) -> list[dict]:
    """The newest ``limit`` log entries, newest first, optionally only those of ``only_agents``."""
    path = settings.home / "log" / LOG_NAME
    if not path.is_file():
        return []
    lines = path.read_bytes().splitlines()
    entries = []
    for raw in reversed(lines):
        entry = json.loads(raw)
        event = entry.get("event", {})
        agent = str(event.get("agent", ""))
        if only_agents is not None and agent not in only_agents and not (
                include_logins and event.get("event_type") == "login"):
            continue
        entries.append({"seq": entry["seq"], "time": entry["time"], **event})
        if len(entries) >= limit:
            break
    return entries


def officer_agents(settings: Settings) -> set[str]:
    with session(settings.catalog_url) as s:
        users = s.exec(select(ConsoleUser)).all()
    return {f"user:{u.username}" for u in users if OFFICER_ROLES & set(u.roles or ())}


def add_routes(router: APIRouter, settings: Settings, ops: Operations) -> None:
    @router.get("/audits")
    def audits(request: Request, viewer: Viewer = Depends(page(settings, "audit.read"))) -> Response:
        with session(settings.catalog_url) as s:
            runs = s.exec(select(AuditRun).order_by(col(AuditRun.started_at).desc()).limit(30)).all()
            ids = [r.id for r in runs]
            findings = s.exec(select(AuditFinding).where(col(AuditFinding.run_id).in_(ids))).all() if ids else []
        by_run: dict[str, list[AuditFinding]] = {}
        for f in findings:
            by_run.setdefault(f.run_id, []).append(f)
        log = verify_log(settings.home / "log", trusted_certificates(settings))
        return render(request, "audits.html", viewer=viewer, title_key="audits.title", runs=runs,
                      findings=by_run, log=log)

    @router.get("/log")
    def log(request: Request, who: str = "all", viewer: Viewer = Depends(page(settings, "log.read"))) -> Response:
        agents = officer_agents(settings) if who == "officers" else None
        return render(request, "log.html", viewer=viewer, title_key="log.title", who=who,
                      entries=log_tail(settings, only_agents=agents, include_logins=who == "officers"))
