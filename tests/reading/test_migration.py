"""Migrations 0002 (the notification outbox), 0003 (a lawyer's licence on each request) and 0007
(the requester's keyed ID hash, the creator, the signed log heads) go up and down again, on SQLite
and PostgreSQL."""

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


def test_0007_keeps_old_requests_with_no_hash_and_no_creator(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    cfg = alembic_config(url)
    command.upgrade(cfg, "0003")
    with create_engine(url).begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO disseminationrequest (id, case_number, requester_name, requester_id, role, status, "
            "reason, created_at, licence_number) VALUES ('REQ-OLD', '（2023）粤0114民初6749号', '张三', "
            "'440104********5678', 'party', 'issued', '', '2024-05-01 00:00:00', '')")
    command.upgrade(cfg, "0007")
    with create_engine(url).connect() as conn:
        row = conn.exec_driver_sql("SELECT requester_id, requester_id_hmac, created_by FROM disseminationrequest").one()
    assert tuple(row) == ("440104********5678", None, None)
    assert "loghead" in inspect(create_engine(url)).get_table_names()
    command.downgrade(cfg, "0003")
    columns = {c["name"] for c in inspect(create_engine(url)).get_columns("disseminationrequest")}
    assert not {"requester_id_hmac", "created_by"} & columns
    assert "loghead" not in inspect(create_engine(url)).get_table_names()
