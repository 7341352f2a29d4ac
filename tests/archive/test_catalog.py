"""The catalog's migrations and records on SQLite and, when one is running, PostgreSQL."""

from __future__ import annotations

import os
import uuid
from datetime import date

import pytest
import sqlalchemy as sa
from sqlmodel import select

from archive.catalog import open_catalog, session
from archive.catalog.models import Case, PreservationEvent
from archive.catalog.record import record_event, upsert_case
from ingest.manifest import CaseMeta, Party

TABLES = {"principal", "station", "batch", "submittedfile", "case", "document", "page", "aip",
          "aipversion", "certificate", "preservationevent", "auditrun", "auditfinding",
          "disseminationrequest", "issuedcopy", "lawyerauthorisation", "indexqueueitem"}


def _pg_url() -> str:
    url = os.environ.get("JUANZONG_TEST_PG_URL")
    if not url:
        pytest.skip("JUANZONG_TEST_PG_URL is not set: start one with scripts/postgres.sh start DIR")
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    base = _pg_url()
    schema_db = f"t_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{schema_db}"'))
    admin.dispose()
    return base.rsplit("/", 1)[0] + "/" + schema_db


def _case(number: str) -> CaseMeta:
    return CaseMeta(case_number=number, court="广东省广州市天河区人民法院", court_code="粤0106",
                    case_type="民事", procedure="一审", cause_of_action="民间借贷纠纷",
                    parties=[Party(role="原告", kind="person", name="张三",
                                   id_number="440106199001011234")],
                    judge="李四", panel=["李四"], clerk="王五", filing_date=date(2024, 1, 2),
                    closing_date=None, retention_period="30年", security_class="公开")


def test_migrations_create_every_table_and_are_idempotent(catalog_url):
    engine = open_catalog(catalog_url)
    assert TABLES <= set(sa.inspect(engine).get_table_names())
    open_catalog.cache_clear()
    assert TABLES <= set(sa.inspect(open_catalog(catalog_url)).get_table_names())


def test_case_and_event_round_trip_with_chinese_text(catalog_url):
    number = "（2024）粤0106民初1号"
    with session(catalog_url) as s:
        upsert_case(s, _case(number))
        record_event(s, "ingestion", agent="测试", detail="归档 v1", aip_id="a1")
        s.commit()
    with session(catalog_url) as s:
        case = s.get(Case, number)
        assert case.parties[0]["name"] == "张三" and case.status == "in_progress"
        ev = s.exec(select(PreservationEvent).where(PreservationEvent.aip_id == "a1")).one()
        assert ev.detail == "归档 v1"


def test_head_version_never_goes_back_when_versions_are_recorded_out_of_order(catalog_url, tmp_path):
    """Two ingests of one case commit v2 and v3 in order but may reach the catalog the other way
    round: the head stays the newest version and both versions are listed."""
    from archive.catalog.models import Aip, AipVersion
    from archive.catalog.record import record_aip_version
    from archive.records import BuiltAip, CaseSubmission
    from ingest.manifest import read_manifest
    from ingest.sample import write_sample_batch

    manifest = read_manifest(write_sample_batch(tmp_path / "sample", seed=2))
    case = manifest.cases[0]
    sub = CaseSubmission(manifest=manifest, case=case, documents=())
    built = BuiltAip(aip_id=sub.aip_id, case_number=case.case_number, bag_dir=tmp_path, payload_digest="0" * 64)
    for version in (1, 3, 2):
        with session(catalog_url) as s:
            upsert_case(s, case)
            record_aip_version(s, sub, built, version, batch_id=f"B{version}", tagmanifest_sha256="0" * 64,
                               certificate="")
            s.commit()
    with session(catalog_url) as s:
        assert s.get(Aip, sub.aip_id).head_version == 3
        versions = s.exec(select(AipVersion).where(AipVersion.aip_id == sub.aip_id)).all()
        assert sorted(v.version for v in versions) == [1, 2, 3]
