"""The station API: streamed zip and chunked uploads, resumability, isolation between stations."""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from archive.catalog import session
from archive.catalog.models import Principal
from config.settings import Settings
from api.stations import station_router
from ingest.intake import pending_batches
from tests.conftest import zip_batch
from tests.intake.conftest import ManifestIngest, make_batch, signing_station, tree_digests

LIMIT = 8 << 20


@pytest.fixture
def api(settings: Settings, ingest: ManifestIngest, tmp_path: Path):
    app = FastAPI()
    app.include_router(station_router(settings, ingest, max_upload_bytes=LIMIT))
    keys = {name: signing_station(settings.catalog_url, name, tmp_path / "stations")[0]
            for name in ("GZZY-SM01", "GZZY-SM02")}
    with TestClient(app) as client:
        yield client, keys


def _h(key: str, **extra: str) -> dict[str, str]:
    return {"X-API-Key": key, **extra}


def _wait(client: TestClient, key: str, batch_id: str) -> dict:
    deadline = time.monotonic() + 180  # a busy 2-core CI machine: generous, waits on the verdict
    while time.monotonic() < deadline:
        body = client.get(f"/batches/{batch_id}", headers=_h(key)).json()
        if body["status"] not in ("queued", "processing", "uploading"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"batch {batch_id} did not finish: {body}")




def _chunks(data: bytes, sizes: list[int]):
    start = 0
    for size in sizes:
        yield start, data[start:start + size]
        start += size


def test_keys_are_stored_hashed(api, settings: Settings) -> None:
    _, keys = api
    with session(settings.catalog_url) as s:
        p = s.get(Principal, "station:GZZY-SM01")
    assert p.api_key_hash == hashlib.sha256(keys["GZZY-SM01"].encode()).hexdigest()
    assert keys["GZZY-SM01"].encode() not in Path(settings.catalog_url.removeprefix("sqlite:///")).read_bytes()


def test_zip_upload_is_ingested_byte_identical(api, ingest, tmp_path: Path) -> None:
    client, keys = api
    batch = make_batch(tmp_path / "src", "GZZY-SM01-20240424-001", {"案/01.pdf": 200_000, "b.pdf": 10})
    r = client.post("/batches", content=zip_batch(batch), headers=_h(keys["GZZY-SM01"], **{"Content-Type": "application/zip"}))
    assert r.status_code == 202, r.text
    body = _wait(client, keys["GZZY-SM01"], batch.name)
    assert body["status"] == "archived", body
    assert ingest.seen[batch.name] == tree_digests(batch)


def test_chunked_upload_resumes_and_reassembles(api, ingest, settings: Settings, tmp_path: Path) -> None:
    client, keys = api
    key, batch_id = keys["GZZY-SM01"], "GZZY-SM01-20240424-002"
    batch = make_batch(tmp_path / "src", batch_id, {"2023-粤01民终3683/01-民事上诉状.pdf": 3_000_001})
    rel = "2023-粤01民终3683/01-民事上诉状.pdf"
    data = (batch / rel).read_bytes()
    total = len(data)
    url = f"/batches/{batch_id}/files/{rel}"
    pieces = list(_chunks(data, [1_000_000, 999_999, 1_000_002]))
    for start, piece in pieces[:2]:
        rng = f"bytes {start}-{start + len(piece) - 1}/{total}"
        assert client.post(url, content=piece, headers=_h(key, **{"Content-Range": rng})).status_code == 200
    # the connection "drops"; the station asks what arrived and resumes from there
    status = client.get(f"/batches/{batch_id}", headers=_h(key)).json()
    assert status["status"] == "uploading"
    assert status["files"] == [{"path": rel, "received": 1_999_999, "total": total, "complete": False}]
    gap = client.post(url, content=b"x", headers=_h(key, **{"Content-Range": f"bytes 2500000-2500000/{total}"}))
    assert gap.status_code == 409 and gap.json()["error"]["code"] == "E145"
    early = client.post(f"/batches/{batch_id}/commit", content=(batch / "manifest.json").read_bytes(), headers=_h(key))
    assert early.status_code == 409 and early.json()["error"]["problems"][0]["code"] == "E146"
    start, piece = pieces[1]  # a retried chunk overlaps what is there: harmless
    client.post(url, content=piece, headers=_h(key, **{"Content-Range": f"bytes {start}-{start + len(piece) - 1}/{total}"}))
    start, piece = pieces[2]
    last = client.post(url, content=piece, headers=_h(key, **{"Content-Range": f"bytes {start}-{total - 1}/{total}"}))
    assert last.json() == {"path": rel, "received": total, "total": total, "complete": True}
    r = client.post(f"/batches/{batch_id}/commit", content=(batch / "manifest.json").read_bytes(), headers=_h(key))
    assert r.status_code == 202, r.text
    assert _wait(client, key, batch_id)["status"] == "archived"
    assert ingest.seen[batch_id] == tree_digests(batch)
    assert not (settings.intake_root / "ready").exists() or not any((settings.intake_root / "ready").iterdir())


def test_rejected_batch_reports_problems_by_file(api, settings: Settings, tmp_path: Path) -> None:
    client, keys = api
    key, batch_id = keys["GZZY-SM02"], "GZZY-SM02-20240424-003"
    batch = make_batch(tmp_path / "src", batch_id, {"a.pdf": 100, "b.pdf": 100})
    client.post(f"/batches/{batch_id}/files/a.pdf", content=(batch / "a.pdf").read_bytes(), headers=_h(key))
    client.post(f"/batches/{batch_id}/files/b.pdf", content=b"tampered", headers=_h(key))
    client.post(f"/batches/{batch_id}/commit", content=(batch / "manifest.json").read_bytes(), headers=_h(key))
    body = _wait(client, key, batch_id)
    assert body["status"] == "rejected"
    assert [p["code"] for p in body["problems_by_file"]["b.pdf"]] == ["E113"]
    assert body["quarantine_id"] and (settings.quarantine_root / body["quarantine_id"] / batch_id / "b.pdf").is_file()


def test_station_sees_only_its_own_batches(api, tmp_path: Path) -> None:
    client, keys = api
    a, b = keys["GZZY-SM01"], keys["GZZY-SM02"]
    batch_id = "GZZY-SM01-20240424-004"
    assert client.post(f"/batches/{batch_id}/files/x.pdf", content=b"secret", headers=_h(a)).status_code == 200
    assert client.get(f"/batches/{batch_id}", headers=_h(a)).status_code == 200
    other = client.get(f"/batches/{batch_id}", headers=_h(b))
    assert other.status_code == 404 and other.json()["error"]["code"] == "E147"
    assert client.post(f"/batches/{batch_id}/commit", content=b"{}", headers=_h(b)).status_code == 404
    assert client.get("/batches", headers=_h(b)).json() == []
    assert [x["batch_id"] for x in client.get("/batches", headers=_h(a)).json()] == [batch_id]
    for headers in ({}, {"X-API-Key": "not-a-key"}):
        r = client.get(f"/batches/{batch_id}", headers=headers)
        assert r.status_code == 401 and r.json()["error"]["code"] == "E148"


@pytest.mark.parametrize("path,code,status", [
    ("%2E%2E/evil.pdf", "E117", 422), ("a/%2E%2E/%2E%2E/evil.pdf", "E117", 422),
    ("a%00b.pdf", "E117", 422), ("x" * 300 + ".pdf", "E117", 422)])
def test_unsafe_file_paths_refused(api, path: str, code: str, status: int, settings: Settings) -> None:
    client, keys = api
    r = client.post(f"/batches/GZZY-SM01-B-5/files/{path}", content=b"x", headers=_h(keys["GZZY-SM01"]))
    assert (r.status_code, r.json()["error"]["code"]) == (status, code)
    assert not list(settings.home.rglob("evil.pdf"))


def test_upload_size_limit(api) -> None:
    client, keys = api
    r = client.post("/batches/GZZY-SM01-B-6/files/big.pdf", content=b"x" * (LIMIT + 1), headers=_h(keys["GZZY-SM01"]))
    assert r.status_code == 413 and r.json()["error"]["code"] == "E140"
    r = client.post("/batches/GZZY-SM01-B-6/files/big.pdf", content=b"x",
                    headers=_h(keys["GZZY-SM01"], **{"Content-Range": f"bytes 0-0/{LIMIT + 1}"}))
    assert r.status_code == 413


def test_zip_with_traversal_refused_over_http(api, settings: Settings) -> None:
    client, keys = api
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("B7/manifest.json", json.dumps({"batch_id": "B7", "files": []}))
        zf.writestr("B7/../../../../evil.pdf", b"x")
    r = client.post("/batches", content=buf.getvalue(), headers=_h(keys["GZZY-SM01"]))
    assert r.status_code == 422 and r.json()["error"]["code"] == "E117"
    assert not list(settings.home.rglob("evil.pdf"))
    assert not list((settings.intake_root / "stations" / "GZZY-SM01" / ".uploads").iterdir())


def test_two_stations_five_batches_each_concurrently(api, ingest, tmp_path: Path) -> None:
    """Ten uploads at once (one bad per station): each verdict is right and stays with its station."""
    from concurrent.futures import ThreadPoolExecutor

    client, keys = api
    jobs = []
    for station, key in keys.items():
        for n in range(5):
            batch = make_batch(tmp_path / station, f"{station}-20240424-{n:03d}", {"a.pdf": 20_000 + n, "b/c.pdf": 500})
            if n == 4:
                (batch / "a.pdf").write_bytes(b"bad")
            jobs.append((key, batch))

    def send(job) -> tuple[str, int]:
        key, batch = job
        return batch.name, client.post("/batches", content=zip_batch(batch), headers=_h(key)).status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        assert {code for _, code in pool.map(send, jobs)} == {202}
    for key, batch in jobs:
        body = _wait(client, key, batch.name)
        assert body["status"] == ("rejected" if batch.name.endswith("004") else "archived"), body
        if body["status"] == "archived":
            assert ingest.seen[batch.name] == tree_digests(batch)
    for station, key in keys.items():
        mine = {b["batch_id"] for b in client.get("/batches", headers=_h(key)).json()}
        assert mine == {f"{station}-20240424-{n:03d}" for n in range(5)}


def test_whole_file_reupload_replaces_it(api, ingest, tmp_path: Path) -> None:
    client, keys = api
    key, batch_id = keys["GZZY-SM01"], "GZZY-SM01-20240424-009"
    batch = make_batch(tmp_path / "src", batch_id, {"a.pdf": 1000})
    client.post(f"/batches/{batch_id}/files/a.pdf", content=b"wrong file, other size", headers=_h(key))
    r = client.post(f"/batches/{batch_id}/files/a.pdf", content=(batch / "a.pdf").read_bytes(), headers=_h(key))
    assert r.json() == {"path": "a.pdf", "received": 1000, "total": 1000, "complete": True}
    client.post(f"/batches/{batch_id}/commit", content=(batch / "manifest.json").read_bytes(), headers=_h(key))
    assert _wait(client, key, batch_id)["status"] == "archived"
    assert ingest.seen[batch_id] == tree_digests(batch)


def test_batches_admitted_before_a_restart_are_ingested_at_startup(settings: Settings, ingest: ManifestIngest,
                                                                    tmp_path: Path) -> None:
    from ingest.intake import StagedBatch, admit, pending_batches

    key = signing_station(settings.catalog_url, "GZZY-SM01", tmp_path / "stations")[0]
    staged = StagedBatch.of(settings.intake_root, "GZZY-SM01", "GZZY-SM01-20240301-001")
    batch = make_batch(tmp_path / "src", "GZZY-SM01-20240301-001", {"a.pdf": 2048})
    admit(batch, settings.intake_root, result_path=staged.result_path, batch_name=batch.name,
          source="api:GZZY-SM01", station_id="GZZY-SM01")  # queued, then the API went down
    assert len(pending_batches(settings.intake_root)) == 1 and not ingest.seen
    app = FastAPI()
    app.include_router(station_router(settings, ingest, max_upload_bytes=LIMIT))
    with TestClient(app) as client:
        body = _wait(client, key, batch.name)
    assert body["status"] == "archived" and batch.name in ingest.seen
    assert pending_batches(settings.intake_root) == []


def test_manifest_naming_another_station_is_refused_before_queueing(api, ingest, settings: Settings,
                                                                     tmp_path: Path) -> None:
    """A station's key decides who sent a batch; a manifest claiming another station is refused
    (E156) on both paths, nothing is queued, and a corrected commit of the same upload goes through."""
    client, keys = api
    key = keys["GZZY-SM01"]
    forged = make_batch(tmp_path / "zip", "GZZY-SM01-20240424-030", {"a.pdf": 300}, station_id="GZZY-SM02")
    r = client.post("/batches", content=zip_batch(forged), headers=_h(key))
    assert r.status_code == 422 and r.json()["error"]["code"] == "E156", r.text
    assert "GZZY-SM02" in r.json()["error"]["message"]
    assert client.get("/batches", headers=_h(key)).json() == []

    batch_id = "GZZY-SM01-20240424-031"
    batch = make_batch(tmp_path / "files", batch_id, {"a.pdf": 300})
    client.post(f"/batches/{batch_id}/files/a.pdf", content=(batch / "a.pdf").read_bytes(), headers=_h(key))
    manifest = json.loads((batch / "manifest.json").read_text("utf-8"))
    wrong = client.post(f"/batches/{batch_id}/commit", headers=_h(key),
                        content=json.dumps({**manifest, "station_id": "GZZY-SM02"}).encode())
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "E156"
    assert pending_batches(settings.intake_root) == [] and batch_id not in ingest.seen
    right = client.post(f"/batches/{batch_id}/commit", content=(batch / "manifest.json").read_bytes(), headers=_h(key))
    assert right.status_code == 202, right.text
    assert _wait(client, key, batch_id)["status"] == "archived" and ingest.seen[batch_id] == tree_digests(batch)


def test_a_station_without_certificate_is_refused_by_the_api(settings: Settings, ingest: ManifestIngest) -> None:
    from api.stations import add_station

    app = FastAPI()
    app.include_router(station_router(settings, ingest, max_upload_bytes=LIMIT))
    key = add_station(settings.catalog_url, "GZZY-SM07")
    with TestClient(app) as client:
        r = client.get("/batches", headers=_h(key))
    assert r.status_code == 403 and r.json()["error"]["code"] == "E183", r.text
