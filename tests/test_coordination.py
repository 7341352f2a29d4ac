"""Processes that start at once on a new PostgreSQL catalog and a new Elasticsearch index,
as the workers of a cluster do: every one comes up, and they share one schema, one storage
root identity and one write index."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import REPO, drop_pg_database, fresh_pg_database

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.elasticsearch]
PROCESSES = 3


def start_like_a_worker(config_json: str) -> None:
    """What a process does when it starts on the archive, from one signal on: migrate the catalog,
    open the store (binding the storage root), set up the index, then write through each."""
    from archive.catalog import open_catalog
    from config import Settings
    from dissemination.search.base import IndexPage
    from dissemination.search.registry import open_index
    from flows._runtime import open_store

    config = json.loads(config_json)
    go = Path(config.pop("go"))
    number = config.pop("number")
    settings = Settings(**config)
    while not go.exists():
        time.sleep(0.01)
    open_catalog(settings.catalog_url)
    store = open_store(settings)
    page = IndexPage(aip_id=f"aip-{number}", case_number=f"（2024）粤0106民初{number}号",
                     document_id=f"doc-{number}", source_path="a.pdf", title="判决书", page=1,
                     text=f"第{number}号 原告诉称", court="天河区人民法院", case_type="民事",
                     cause_of_action="借贷", volume="正卷", disclosable=True, doc_type="judgment",
                     parties=("张三",), filing_date=date(2024, 1, 2))
    report = open_index(settings).index_pages([page])
    assert not report.errors, report.errors
    src = Path(config["home"]) / f"src-{number}"
    (src / "data").mkdir(parents=True)
    (src / "data" / "note.txt").write_text(f"process {number}")
    store.commit("urn:test:shared", src, message=f"from {number}", agent="test")


@pytest.fixture
def fresh_catalog():
    url = fresh_pg_database()
    yield url
    drop_pg_database(url)


def test_processes_starting_at_once_on_new_services_all_come_up(fresh_catalog: str, tmp_path: Path):
    from tests.search.conftest import ES_URL_ENV, es_client

    client = es_client()
    prefix = f"test-start-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    go = tmp_path / "go"
    shared = {"home": str(tmp_path / "shared-home"), "catalog_url": fresh_catalog,
              "index_backend": "elasticsearch", "es_url": os.environ[ES_URL_ENV],
              "es_index_prefix": prefix, "go": str(go)}
    procs = [subprocess.Popen([sys.executable, "-c", "import sys; from tests.test_coordination import "
                               "start_like_a_worker as s; s(sys.argv[1])",
                               json.dumps({**shared, "number": n})], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for n in range(PROCESSES)]
    try:
        go.touch()
        outcomes = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
        assert [code for code, _ in outcomes] == [0] * PROCESSES, "\n".join(e[-3000:] for _, e in outcomes)
        alias = f"{prefix}-pages"
        indices = client.indices.get_alias(name=alias)
        assert list(indices) == [f"{alias}-000001"]
        assert indices[f"{alias}-000001"]["aliases"][alias]["is_write_index"] is True
        assert client.count(index=alias)["count"] == PROCESSES
        from alembic.script import ScriptDirectory

        from archive.catalog.db import alembic_config

        head = ScriptDirectory.from_config(alembic_config(fresh_catalog)).get_current_head()
        engine = sa.create_engine(fresh_catalog)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all() == [head]
            assert conn.execute(sa.text("SELECT count(*) FROM storageroot")).scalar() == 1
        engine.dispose()
        from archive.storage import OcflStore

        assert OcflStore(Path(shared["home"]) / "storage").head("urn:test:shared") == PROCESSES
    finally:
        for p in procs:
            p.kill()
        for name in client.indices.get(index=f"{prefix}-pages*", allow_no_indices=True):
            client.indices.delete(index=name)
