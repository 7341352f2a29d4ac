"""Migration 0002 adds the notification outbox and takes it away again."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, inspect

from archive.catalog.db import alembic_config


def test_0002_upgrade_and_downgrade(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    cfg = alembic_config(url)
    command.upgrade(cfg, "0001")
    assert "notification" not in inspect(create_engine(url)).get_table_names()
    command.upgrade(cfg, "head")
    columns = {c["name"] for c in inspect(create_engine(url)).get_columns("notification")}
    assert {"id", "request_id", "recipient", "channel", "subject", "body", "status", "created_at",
            "sent_at"} <= columns
    command.downgrade(cfg, "0001")
    assert "notification" not in inspect(create_engine(url)).get_table_names()
