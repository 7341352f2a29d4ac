"""Migrations 0002 (the notification outbox) and 0003 (a lawyer's licence on each request)
go up and down again, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, inspect

from archive.catalog.db import alembic_config


def test_0002_upgrade_and_downgrade(catalog_url) -> None:
    url = catalog_url
    cfg = alembic_config(url)
    command.upgrade(cfg, "0001")
    assert "notification" not in inspect(create_engine(url)).get_table_names()
    command.upgrade(cfg, "head")
    columns = {c["name"] for c in inspect(create_engine(url)).get_columns("notification")}
    assert {"id", "request_id", "recipient", "channel", "subject", "body", "status", "created_at",
            "sent_at"} <= columns
    command.downgrade(cfg, "0001")
    assert "notification" not in inspect(create_engine(url)).get_table_names()


def test_0003_adds_the_licence_to_existing_requests(catalog_url) -> None:
    url = catalog_url
    cfg = alembic_config(url)
    command.upgrade(cfg, "0002")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO disseminationrequest (id, case_number, requester_name, requester_id, role, status, "
            "reason, created_at) VALUES ('REQ-OLD', '（2023）粤0114民初6749号', '林晓东', '440104********5678', "
            "'lawyer', 'issued', '', '2024-05-01 00:00:00')")
    command.upgrade(cfg, "head")
    with create_engine(url).connect() as conn:
        assert conn.exec_driver_sql("SELECT licence_number FROM disseminationrequest").scalar_one() == ""
    command.downgrade(cfg, "0002")
    columns = {c["name"] for c in inspect(create_engine(url)).get_columns("disseminationrequest")}
    assert "licence_number" not in columns and "requester_id" in columns
