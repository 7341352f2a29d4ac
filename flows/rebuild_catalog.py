"""Recreate the catalog from the storage root, the preservation log and the registry journal
(``archive.catalog.rebuild``), and report what could not be recovered.

    set the old catalog aside -> objects -> events and heads -> registry rows -> one commit

A SQLite catalog file (damaged or not) is moved aside as ``<name>.replaced-<time>``, never
deleted; a PostgreSQL catalog must be a new, empty database (nothing there is dropped).
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from prefect import flow
from sqlmodel import select

from archive.catalog import session
from archive.catalog.db import close_catalog
from archive.catalog.models import Aip
from archive.catalog.rebuild import (
    RebuildReport,
    check_rollbacks,
    rebuild_events,
    rebuild_objects,
    rebuild_registry,
    rebuild_roots,
    report_outside,
)
from archive.catalog.record import record_event
from archive.catalog.registry import journal_for
from archive.storage import OcflStore
from config import Settings
from flows._runtime import bind_journals
from schemas.errors import InputRejected

SQLITE = "sqlite:///"


def set_aside(catalog_url: str) -> str | None:
    """Move a SQLite catalog and its WAL files out of the way; refuse a PostgreSQL catalog that
    holds AIPs. Returns where the old file went."""
    close_catalog(catalog_url)
    if not catalog_url.startswith(SQLITE):
        with session(catalog_url) as s:
            if s.exec(select(Aip.aip_id).limit(1)).first() is not None:
                raise InputRejected("E414", catalog_url.rsplit("@", 1)[-1],
                                    reason="a rebuild needs a new, empty database; this one holds AIPs")
        return None
    path = Path(catalog_url.removeprefix(SQLITE))
    if not path.exists():
        return None
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.replaced-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{path}{suffix}").exists():
            os.replace(f"{path}{suffix}", f"{target}{suffix}")
    return str(target)


@flow(name="catalog-rebuild")
def rebuild_catalog(settings: Settings) -> RebuildReport:
    bind_journals(settings)
    report = RebuildReport(catalog=settings.catalog_url.rsplit("@", 1)[-1], set_aside=set_aside(settings.catalog_url))
    store = OcflStore(settings.storage_root)
    with session(settings.catalog_url) as s:
        rebuild_roots(s, {"primary": settings.storage_root} | (
            {"replica": settings.replica_root} if settings.replica_root else {}), report)
        rebuild_objects(s, store, report)
        rebuild_events(s, settings.log_dir, report)
        rebuild_registry(s, journal_for(settings.catalog_url), report)
        record_event(s, "metadata modification", agent="juanzong catalog rebuild",
                     detail=f"catalog rebuilt from {store.root}: {report.aips} AIPs, {report.events} events, "
                            f"{len(report.not_recovered)} items not recovered")
        s.commit()
    check_rollbacks(store, settings.log_dir, report)
    report_outside(report, [p for p in (settings.signing_key, settings.dissemination_key) if p is not None],
                   settings.home / "audit")
    return report
