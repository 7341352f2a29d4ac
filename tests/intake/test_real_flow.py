"""The submission paths end in the real ingest flow (a generated corpus batch, real checks)."""

from __future__ import annotations

import io
import json
import os
import shutil
import time
import zipfile
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from archive.catalog import session
from archive.catalog.models import Batch
from config.settings import Settings
from flows.api_stations import add_station, flow_submit, station_router
from ingest.hotfolder import take_batch
from ingest.intake import pending_batches
from tests.conftest import make_corpus
from tests.intake.conftest import tree_digests


@pytest.fixture(scope="session")
def corpus_batch(tmp_path_factory) -> Path:
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    return make_corpus(tmp_path_factory.mktemp("intake-corpus") / "out", "--cases", "1", "--seed", "3")


def _tampered_copy(batch: Path, dest_root: Path) -> tuple[Path, str]:
    copy = Path(shutil.copytree(batch, dest_root / batch.name))
    manifest = json.loads((copy / "manifest.json").read_text("utf-8"))
    victim = manifest["files"][1]
    victim["sha256"] = "0" * 64
    (copy / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), "utf-8")
    return copy, victim["path"]


def _zip_of(batch: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for p in sorted(batch.rglob("*")):
            zf.write(p, p.relative_to(batch.parent).as_posix())
    return buf.getvalue()


def test_api_zip_rejected_by_flow_lands_in_quarantine(corpus_batch: Path, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    batch, victim = _tampered_copy(corpus_batch, tmp_path / "src")
    app = FastAPI()
    app.include_router(station_router(settings, flow_submit(settings)))
    key = add_station(settings.catalog_url, "GZZY-SM06")
    with TestClient(app) as client:
        r = client.post("/batches", content=_zip_of(batch), headers={"X-API-Key": key})
        assert r.status_code == 202, r.text
        deadline = time.monotonic() + 300
        while (body := client.get(f"/batches/{batch.name}", headers={"X-API-Key": key}).json())["status"] \
                in ("queued", "processing") and time.monotonic() < deadline:
            time.sleep(0.5)
    assert body["status"] == "rejected", body
    assert "E113" in [p["code"] for p in body["problems_by_file"][victim]]
    kept = settings.quarantine_root / body["quarantine_id"] / batch.name
    assert tree_digests(kept) == tree_digests(batch)
    with session(settings.catalog_url) as s:
        row = s.get(Batch, batch.name)
    assert row.status == "rejected"
    assert pending_batches(settings.intake_root) == []


@pytest.mark.slow
def test_hot_folder_archives_and_resubmission_is_idempotent(corpus_batch: Path, tmp_path: Path) -> None:
    from archive.signing import ensure_dev_keys

    settings = Settings(home=tmp_path / "home")
    ensure_dev_keys(settings.signing_key, settings.signing_cert, common_name="intake test",
                    algorithm=settings.signature_algorithm)
    submit = flow_submit(settings)
    results = []
    for round_ in (1, 2):
        hot = tmp_path / f"hot{round_}"
        batch = Path(shutil.copytree(corpus_batch, hot / corpus_batch.name))
        results.append(take_batch(batch, submit, intake_root=settings.intake_root,
                                  quarantine_root=settings.quarantine_root))
        assert not batch.exists()
        assert json.loads((hot / f"{batch.name}.result.json").read_text("utf-8"))["status"] == "archived"
    first, second = results
    assert first.status == second.status == "archived", (first, second)
    assert [a["aip_id"] for a in first.aips] == [a["aip_id"] for a in second.aips]
    assert [a["version"] for a in first.aips] == [a["version"] for a in second.aips]
    assert pending_batches(settings.intake_root) == []
