"""Open the catalog: create the engine and bring the schema to the newest migration.

Processes that start together on a new catalog take turns at the migrations: on PostgreSQL
under a transaction-scoped advisory lock (the second finds the schema at head and does
nothing, instead of dying on ``UniqueViolation ... alembic_version``), on SQLite under a lock
file beside the database."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DatabaseError
from sqlmodel import Session, create_engine

from archive.catalog import registry
from archive.locks import FileLocks, lock_key, sqlite_lock_folder
from schemas.errors import VerificationFailed

MIGRATIONS = Path(__file__).with_name("migrations")
MIGRATION_LOCK = "catalog-migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


_OPENED: dict[str, Engine] = {}  # what ``open_catalog`` cached, for ``close_catalog`` to dispose


@cache
def open_catalog(url: str) -> Engine:
    """Engine for ``url`` with the schema migrated to head (idempotent, once per process)."""
    engine = _OPENED[url] = _open(url)
    return engine


def close_catalog(url: str) -> None:
    """Dispose of this process's engine for ``url`` (its file is being replaced by a rebuild);
    every catalog is opened afresh on its next use."""
    engine = _OPENED.pop(url, None)
    open_catalog.cache_clear()
    if engine is not None:
        engine.dispose()


def _open(url: str) -> Engine:
    registry.install()
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        with FileLocks(sqlite_lock_folder(url)).hold(MIGRATION_LOCK):
            _upgrade(engine, url)
    else:
        engine = create_engine(url, pool_pre_ping=True)
        _upgrade(engine, url, advisory_lock=True)
    return engine


def _upgrade(engine: Engine, url: str, *, advisory_lock: bool = False) -> None:
    with engine.begin() as conn:
        if advisory_lock:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(MIGRATION_LOCK)})
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


@contextmanager
def session(url: str) -> Iterator[Session]:
    """A session on the catalog; a damaged catalog file is E413 (naming it and ``juanzong catalog
    rebuild``), wherever the damage shows: opening, migrating or deep in a query."""
    try:
        with Session(open_catalog(url), expire_on_commit=False) as s:
            yield s
    except DatabaseError as exc:
        if not is_damage(exc):
            raise
        raise VerificationFailed("E413", url.removeprefix("sqlite:///"), reason=str(exc.orig)[:200]) from exc


def is_damage(exc: DatabaseError) -> bool:
    """SQLite's "file is not a database" and "database disk image is malformed" (its plain
    DatabaseError), never a constraint, a lock or another operational error."""
    return type(exc.orig) is sqlite3.DatabaseError
