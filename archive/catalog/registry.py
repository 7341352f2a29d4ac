"""The registry journal: the catalog rows that are not in the storage root, kept in a second,
append-only file so that ``juanzong catalog rebuild`` can bring them back.

OAIS packages describe themselves: cases, AIPs, versions, documents, pages and certificates are
rebuilt from the storage root, the events from the hash-chained log. What people did around the
archive is in no package: principals and their hashed API keys, console accounts (not their
sessions), stations, reading requests and their decisions, issued copies, lawyers' authorisations,
the outbox, batch receipts. Every
committed change to those tables is appended here as one JSON line ``{"table", "op", "row"}``
(op ``put`` or ``delete``, the whole row as it is after the change), from the session's
``after_commit`` as the preservation log is, so a rolled-back change never appears. Replaying the
lines in order gives the tables back. One file, append-only, fsync'd and locked across processes
like the log: put it on storage that is backed up (``JUANZONG_REGISTRY_JOURNAL``; default
``$HOME/registry/journal.jsonl``) — a rebuilt catalog is only as complete as the journal.

Changes made with bulk ``UPDATE``/``DELETE`` statements bypass the session's bookkeeping and are
not journalled; the tables here are written row by row (a test checks the reading service's).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import event as sa_event
from sqlmodel import Session, SQLModel

from archive.catalog.models import (
    Batch,
    ConsoleUser,
    DisseminationRequest,
    IssuedCopy,
    LawyerAuthorisation,
    Notification,
    Principal,
    Station,
    SubmittedFile,
)
from schemas.errors import Problem

JOURNALLED: dict[str, type[SQLModel]] = {m.__tablename__: m for m in (  # type: ignore[misc]
    Principal, ConsoleUser, Station, Batch, SubmittedFile, LawyerAuthorisation, DisseminationRequest, IssuedCopy,
    Notification)}
_PENDING = "juanzong.registry.pending"
_REPLAYING = "juanzong.registry.replaying"
_JOURNALS: dict[str, Path] = {}
_log = logging.getLogger(__name__)


def configure_registry(catalog_url: str, journal: Path) -> None:
    """Journal the registry rows of the catalog at ``catalog_url`` into ``journal`` (at the edge)."""
    _JOURNALS[catalog_url] = Path(journal)


def journal_for(catalog_url: str) -> Path | None:
    """The registered journal, else ``registry/journal.jsonl`` beside a SQLite catalog, else None."""
    if catalog_url in _JOURNALS:
        return _JOURNALS[catalog_url]
    if catalog_url.startswith("sqlite:///"):
        return Path(catalog_url.removeprefix("sqlite:///")).parent / "registry" / "journal.jsonl"
    return None


def _row(instance: SQLModel) -> dict[str, Any]:
    return json.loads(instance.model_dump_json())


def _collect(session: Session, _context: Any) -> None:
    """After each flush (rows written, keys assigned), the rows as they now are."""
    if session.info.get(_REPLAYING):
        return
    pending = session.info.setdefault(_PENDING, [])
    for op, instances in (("put", [*session.new, *session.dirty]), ("delete", session.deleted)):
        for instance in instances:
            table = getattr(instance, "__tablename__", None)
            if table in JOURNALLED:
                pending.append({"table": table, "op": op, "row": _row(instance)})


def _flush_pending(session: Session) -> None:
    pending = session.info.pop(_PENDING, [])
    if not pending:
        return
    url = session.get_bind().url.render_as_string(hide_password=False)
    journal = journal_for(url)
    if journal is None:
        _log.error("%s: no registry journal is known for this catalog; %d changes not journalled",
                   session.get_bind().url, len(pending))
        return
    lines = [json.dumps(change, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n"
             for change in pending]
    _append(journal, b"".join(lines))


def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


def _append(journal: Path, data: bytes) -> None:
    journal.parent.mkdir(parents=True, exist_ok=True)
    with open(journal.with_name(journal.name + ".lock"), "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            fd = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)  # it holds key hashes
            with os.fdopen(fd, "ab") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def install() -> None:
    """Journal every session's registry changes (idempotent; done when the catalog opens)."""
    if not sa_event.contains(Session, "after_flush", _collect):
        sa_event.listen(Session, "after_flush", _collect)
        sa_event.listen(Session, "after_commit", _flush_pending)
        sa_event.listen(Session, "after_rollback", _drop_pending)


def replay(journal: Path) -> tuple[dict[str, dict[tuple, dict[str, Any]]], list[Problem]]:
    """table -> primary key -> the row's last state, by replaying the journal; unreadable lines
    are problems (E416), never silently skipped."""
    tables: dict[str, dict[tuple, dict[str, Any]]] = {name: {} for name in JOURNALLED}
    problems: list[Problem] = []
    for number, line in _lines(journal):
        try:
            entry = json.loads(line)
            model = JOURNALLED[entry["table"]]
            key = tuple(entry["row"][c.name] for c in model.__table__.primary_key.columns)
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(Problem.of("E416", str(journal), found=number, reason=type(exc).__name__))
            continue
        if entry["op"] == "delete":
            tables[entry["table"]].pop(key, None)
        else:
            tables[entry["table"]][key] = entry["row"]
    return tables, problems


def _lines(journal: Path) -> Iterator[tuple[int, bytes]]:
    if not journal.is_file():
        return
    with journal.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                yield number, line


def restore(s: Session, tables: dict[str, dict[tuple, dict[str, Any]]]) -> dict[str, int]:
    """Insert the replayed rows, parents first; returns rows restored per table."""
    counts = {}
    s.info[_REPLAYING] = True  # restored rows are in the journal already
    for name, model in JOURNALLED.items():
        rows = [model.model_validate(row) for row in tables.get(name, {}).values()]
        s.add_all(rows)
        s.flush()
        counts[name] = len(rows)
    return counts
