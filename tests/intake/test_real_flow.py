"""The submission paths end in the real ingest flow (a generated corpus batch, real checks)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from archive.catalog import session
from archive.catalog.models import Aip, AipVersion, Batch, Document, IndexQueueItem, Page
from archive.package import CASE_JSON, CaseRecord
from archive.records import aip_id_for, document_id_for, ocfl_id_for
from archive.storage import StaleHead
from archive.storage.ocfl import OcflStore
from config.settings import Settings
from api.stations import station_router
from flows.submission import flow_submit
from ingest.hotfolder import take_batch
from ingest.intake import pending_batches
from tests.conftest import BIN, make_corpus, zip_batch
from tests.intake.conftest import signing_station, tree_digests
from ingest.station_signature import sign_manifest


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




def test_api_zip_rejected_by_flow_lands_in_quarantine(corpus_batch: Path, tmp_path: Path) -> None:
    from archive.signing import ensure_dev_keys

    settings = Settings(home=tmp_path / "home")
    ensure_dev_keys(settings.signing_key, settings.signing_cert, common_name="intake test",
                    algorithm=settings.signature_algorithm)
    batch, victim = _tampered_copy(corpus_batch, tmp_path / "src")
    app = FastAPI()
    app.include_router(station_router(settings, flow_submit(settings)))
    station = json.loads((batch / "manifest.json").read_text("utf-8"))["station_id"]
    key, station_key, station_cert = signing_station(settings.catalog_url, station, tmp_path / "stations")
    sign_manifest(batch, station_key, station_cert)  # the API refuses another station's batch (E156)
    with TestClient(app) as client:
        r = client.post("/batches", content=zip_batch(batch), headers={"X-API-Key": key})
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


def test_hot_folder_refuses_a_batch_named_after_another_station(corpus_batch: Path, tmp_path: Path) -> None:
    """The station prefix rule (E157) holds at the hot folder too, not only at the station API:
    the real flow rejects the manifest and the batch goes to quarantine, untouched."""
    from archive.signing import ensure_dev_keys

    settings = Settings(home=tmp_path / "home")
    ensure_dev_keys(settings.signing_key, settings.signing_cert, common_name="intake test",
                    algorithm=settings.signature_algorithm)
    manifest = json.loads((corpus_batch / "manifest.json").read_text("utf-8"))
    theirs = "GZZY-SM99-" + manifest["batch_id"].split("-", 2)[2]
    batch = Path(shutil.copytree(corpus_batch, tmp_path / "hot" / theirs))
    (batch / "manifest.json").write_text(json.dumps({**manifest, "batch_id": theirs}, ensure_ascii=False), "utf-8")
    sent = tree_digests(batch)
    result = take_batch(batch, flow_submit(settings), intake_root=settings.intake_root,
                        quarantine_root=settings.quarantine_root)
    assert result.status == "rejected", result
    assert ("E157", "manifest.json") in {(p["code"], p["path"]) for p in result.problems}, result.problems
    assert tree_digests(settings.quarantine_root / result.quarantine_id / theirs) == sent


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


# --- two stations, five batches each, through the API into the real flow ----------------

STATION_B = "GZZY-SM99"
SMALL_PAGES = 2  # OCR cost: only 1-2 page documents are archived
GOOD_SLOTS = 8  # at most four accepted batches per station, then one bad one


@pytest.fixture(scope="module")
def race_corpus(tmp_path_factory) -> Path:
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    return make_corpus(tmp_path_factory.mktemp("race-corpus") / "out", "--cases", "3", "--seed", "5")


class Job(NamedTuple):
    station: str
    batch: Path
    bad: bool

    def files(self) -> list[dict]:
        return json.loads((self.batch / "manifest.json").read_text("utf-8"))["files"]


def _sub_batch(corpus: Path, dest_root: Path, batch_id: str, station: str, files: list[dict],
               *, bad: bool = False) -> Job:
    """A batch of ``files`` from the corpus with its own manifest; ``bad`` zeroes the first SHA-256."""
    manifest = json.loads((corpus / "manifest.json").read_text("utf-8"))
    files = [dict(f, sha256="0" * 64) if bad and i == 0 else f for i, f in enumerate(files)]
    cases = {f["case_number"] for f in files}
    manifest.update(batch_id=batch_id, station_id=station, files=files,
                    cases=[c for c in manifest["cases"] if c["case_number"] in cases],
                    page_total=sum(f["page_count"] for f in files))
    batch = dest_root / batch_id
    for f in files:
        (batch / f["path"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(corpus / f["path"], batch / f["path"])
    (batch / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), "utf-8")
    return Job(station, batch, bad)


def _split(corpus: Path, dest_root: Path) -> list[Job]:
    """Batches of the corpus's station and STATION_B. Each case belongs to one station (a station
    adds only to its own cases, E158), the cases dealt alternately; a station's small documents are
    dealt round-robin over up to four good batches, so its batches add to the same case at once;
    each station's last batch lists a larger document under a wrong SHA-256."""
    manifest = json.loads((corpus / "manifest.json").read_text("utf-8"))
    stations = (manifest["station_id"], STATION_B)
    cases = list(dict.fromkeys(f["case_number"] for f in manifest["files"]))
    owner = {case: stations[i % 2] for i, case in enumerate(cases)}
    day = manifest["batch_id"].split("-")[-2]
    jobs = []
    for station in stations:
        mine = [f for f in manifest["files"] if owner[f["case_number"]] == station]
        small = [f for f in mine if f["page_count"] <= SMALL_PAGES]
        large = [f for f in mine if f["page_count"] > SMALL_PAGES]
        slots = min(GOOD_SLOTS // 2, len(small))
        assert slots >= 2 and large, "the corpus seed gives too few documents"
        jobs += [_sub_batch(corpus, dest_root, f"{station}-{day}-{100 + k:03d}", station, small[k::slots])
                 for k in range(slots)]
        jobs.append(_sub_batch(corpus, dest_root, f"{station}-{day}-104", station, large[:1], bad=True))
    return jobs


def _rendezvous_at_commit(monkeypatch, object_id: str) -> list[StaleHead]:
    """Hold the first two commits of ``object_id`` until both have arrived, so they were built
    on the same head and one must rebuild (StaleHead): the race happens on every run, not by
    luck of timing. Returns the StaleHead refusals seen."""
    barrier, calls, lock, stale = threading.Barrier(2, timeout=600), [], threading.Lock(), []
    commit = OcflStore.commit

    def meeting_commit(self, oid: str, src_dir: Path, **kwargs):
        with lock:
            calls.append(oid)
            wait = oid == object_id and calls.count(oid) <= 2
        if wait:
            barrier.wait()
        try:
            return commit(self, oid, src_dir, **kwargs)
        except StaleHead as exc:
            stale.append(exc)
            raise

    monkeypatch.setattr(OcflStore, "commit", meeting_commit)
    return stale


class Expected(NamedTuple):
    """What the accepted batches should leave: each document once, each case one version per batch."""

    docs: dict[str, tuple[str, str]]  # document id -> (case number, batch id)
    touching: dict[str, set[str]]  # case number -> accepted batches adding to it

    @classmethod
    def of(cls, jobs: list[Job]) -> Expected:
        docs: dict[str, tuple[str, str]] = {}
        touching: dict[str, set[str]] = {}
        for job in (j for j in jobs if not j.bad):
            for f in job.files():
                docs[document_id_for(f["case_number"], f["path"])] = (f["case_number"], job.batch.name)
                touching.setdefault(f["case_number"], set()).add(job.batch.name)
        return cls(docs, touching)


def _upload_all(settings: Settings, jobs: list[Job]) -> dict[str, dict]:
    """Every batch zipped and posted at once, ingested by eight workers; each station then sees
    its own batches only. Returns each batch's settled status."""
    stations = {station: signing_station(settings.catalog_url, station, settings.home.parent / "stations")
                for station in dict.fromkeys(j.station for j in jobs)}
    keys = {station: api_key for station, (api_key, _, _) in stations.items()}
    for job in jobs:
        sign_manifest(job.batch, *stations[job.station][1:])
    app = FastAPI()
    app.include_router(station_router(settings, flow_submit(settings), workers=8))
    with TestClient(app) as client:
        def send(job: Job) -> int:
            return client.post("/batches", content=zip_batch(job.batch),
                               headers={"X-API-Key": keys[job.station]}).status_code

        with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            assert set(pool.map(send, jobs)) == {202}
        deadline = time.monotonic() + 600
        bodies = {j.batch.name: _settle(client, keys[j.station], j.batch.name, deadline) for j in jobs}
        for station, key in keys.items():
            mine = {b["batch_id"] for b in client.get("/batches", headers={"X-API-Key": key}).json()}
            assert mine == {j.batch.name for j in jobs if j.station == station}
            for j in (j for j in jobs if j.station != station):
                other = client.get(f"/batches/{j.batch.name}", headers={"X-API-Key": key})
                assert other.status_code == 404 and other.json()["error"]["code"] == "E147"
    return bodies


def _settle(client: TestClient, key: str, batch_id: str, deadline: float) -> dict:
    while (body := client.get(f"/batches/{batch_id}", headers={"X-API-Key": key}).json())["status"] \
            in ("queued", "processing", "uploading") and time.monotonic() < deadline:
        time.sleep(0.5)
    return body


def _assert_verdicts(settings: Settings, jobs: list[Job], bodies: dict[str, dict]) -> None:
    """Good batches archived with one AIP per case; bad ones rejected and kept byte-identical."""
    for job in jobs:
        body, files = bodies[job.batch.name], job.files()
        if job.bad:
            assert body["status"] == "rejected", (job.batch.name, body["error"], body["problems"])
            assert "E113" in [p["code"] for p in body["problems_by_file"][files[0]["path"]]]
            kept = settings.quarantine_root / body["quarantine_id"] / job.batch.name
            assert tree_digests(kept) == tree_digests(job.batch)
        else:
            assert body["status"] == "archived", (job.batch.name, body["error"], body["problems"])
            assert sorted(a["case_number"] for a in body["aips"]) == sorted({f["case_number"] for f in files})
    with session(settings.catalog_url) as s:
        batches = {b.id: (b.station_id, b.status) for b in s.exec(select(Batch)).all()}
    assert batches == {j.batch.name: (j.station, "rejected" if j.bad else "archived") for j in jobs}


def _assert_documents(settings: Settings, expected: Expected) -> None:
    """Each accepted document once, under its case, batch and AIP, with each page once in the
    catalog and in the search index."""
    from dissemination.search.base import Access, SearchQuery
    from dissemination.search.registry import open_index

    index, everything = open_index(settings), Access(all_cases=True, readers_view=False)
    with session(settings.catalog_url) as s:
        docs = s.exec(select(Document)).all()
        assert sorted(d.document_id for d in docs) == sorted(expected.docs)
        for d in docs:
            assert (d.case_number, d.batch_id, d.aip_id) == (*expected.docs[d.document_id], aip_id_for(d.case_number))
            pages = s.exec(select(Page.page).where(Page.document_id == d.document_id)).all()
            assert sorted(pages) == list(range(1, d.page_count + 1)), d.source_path
            assert index.count(SearchQuery(text="", access=everything,
                                           filters={"document_id": d.document_id})) == d.page_count
        assert s.exec(select(IndexQueueItem)).all() == []


def _assert_aips(settings: Settings, expected: Expected) -> None:
    """Per case: versions 1..n, one per accepted batch, in the catalog and the store alike; the
    head holds every batch's documents and submission; every object verifies; the root is OCFL."""
    from archive.verify import verify_object
    from flows._runtime import open_store, trusted_certificates

    store, trusted = open_store(settings), trusted_certificates(settings)
    with session(settings.catalog_url) as s:
        assert sorted(a.case_number for a in s.exec(select(Aip)).all()) == sorted(expected.touching)
        for case_number, batch_ids in expected.touching.items():
            aip = s.exec(select(Aip).where(Aip.case_number == case_number)).one()
            versions = s.exec(select(AipVersion).where(AipVersion.aip_id == aip.aip_id)
                              .order_by(AipVersion.version)).all()
            ocfl_id = ocfl_id_for(aip.aip_id)
            assert [v.version for v in versions] == list(range(1, len(batch_ids) + 1)), case_number
            assert sorted(v.batch_id for v in versions) == sorted(batch_ids), case_number
            assert aip.head_version == store.head(ocfl_id) == len(batch_ids), case_number
            head = CaseRecord.model_validate_json(store.path(ocfl_id, CASE_JSON).read_bytes())
            assert head.aip_version == len(batch_ids), case_number
            assert {(d.document_id, d.batch_id) for d in head.documents} == \
                {(doc, b) for doc, (c, b) in expected.docs.items() if c == case_number}
            assert {x.batch_id for x in head.submissions} == batch_ids, case_number
            assert verify_object(store, ocfl_id, trusted) == [], case_number
    validated = subprocess.run([str(BIN / "ocfl-validate.py"), str(settings.storage_root)],
                               capture_output=True, text=True)
    assert validated.returncode == 0, validated.stdout + validated.stderr


@pytest.mark.slow
def test_two_stations_five_batches_each_real_flow(race_corpus: Path, tmp_path: Path, monkeypatch) -> None:
    """Nine zip uploads of two stations at once, ingested concurrently by the real flow: verdicts
    stay with their station, and the catalog, the OCFL store and the index agree with what was
    accepted.

    A station's batches add to the same case at the same time, so their commits race on
    one AIP's head (``commit_case`` rebuilds on ``StaleHead``; the first two commits of the most
    shared case are made to meet). A lost or doubled version, a document recorded twice or under
    the wrong batch, or a catalog head behind the store fails here."""
    from archive.signing import ensure_dev_keys

    settings = Settings(home=tmp_path / "home")
    ensure_dev_keys(settings.signing_key, settings.signing_cert, common_name="intake test",
                    algorithm=settings.signature_algorithm)
    jobs = _split(race_corpus, tmp_path / "src")
    expected, station_of = Expected.of(jobs), {j.batch.name: j.station for j in jobs}
    raced = max(expected.touching, key=lambda c: len(expected.touching[c]))
    assert len({station_of[b] for b in expected.touching[raced]}) == 1 and len(expected.touching[raced]) >= 3
    stale = _rendezvous_at_commit(monkeypatch, ocfl_id_for(aip_id_for(raced)))

    _assert_verdicts(settings, jobs, _upload_all(settings, jobs))
    _assert_documents(settings, expected)
    _assert_aips(settings, expected)
    assert pending_batches(settings.intake_root) == []
    assert list(settings.work_root.glob("*")) == []
    assert stale, "the two held commits of one AIP did not collide: the race was not exercised"
