"""The catalog's migrations and records on SQLite and, when one is running, PostgreSQL."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TypeVar

import pytest
import sqlalchemy as sa
from prefect import flow
from sqlalchemy.engine import Engine
from sqlmodel import select

from archive.catalog import open_catalog, session
from archive.catalog.db import close_catalog
from archive.catalog.models import (
    Aip,
    AipVersion,
    Case,
    Certificate,
    Document,
    IndexQueueItem,
    Page,
    PreservationEvent,
)
from archive.catalog.record import (
    dequeue_indexed,
    queue_for_indexing,
    record_aip_version,
    record_archiving_version,
    record_certificate,
    record_document,
    record_event,
    record_indexing_failure,
    upsert_case,
)
from archive.package import build_aip
from archive.records import BuiltAip, CaseSubmission, SubmittedDocument, aip_id_for, document_id_for, ocfl_id_for
from archive.storage import OcflStore
from config import Settings
from dissemination.search.base import Access, SearchQuery
from dissemination.search.registry import open_index
from flows import indexing, reindex
from ingest.manifest import CaseMeta, FileEntry, Party, read_manifest
from ingest.records import OcrResult, PageText
from ingest.sample import write_sample_batch
from schemas.errors import Problem, Unavailable
from tests.archive.conftest import pkg_make_submission

Result = TypeVar("Result")

TABLES = {"principal", "station", "batch", "submittedfile", "case", "document", "page", "aip",
          "aipversion", "certificate", "preservationevent", "auditrun", "auditfinding",
          "disseminationrequest", "issuedcopy", "lawyerauthorisation", "indexqueueitem"}


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
    close_catalog(catalog_url)
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


def _first_aip(tmp_path: Path) -> tuple[CaseSubmission, BuiltAip]:
    """A submission of the sample batch's first case and the AIP it would build, no documents."""
    manifest = read_manifest(write_sample_batch(tmp_path / "sample", seed=2))
    sub = CaseSubmission(manifest=manifest, case=manifest.cases[0], documents=())
    built = BuiltAip(aip_id=sub.aip_id, case_number=sub.case.case_number, bag_dir=tmp_path, payload_digest="0" * 64)
    return sub, built


def _record(url: str, sub: CaseSubmission, built: BuiltAip, version: int) -> int:
    """What the ingest flow's ``record`` task writes for one committed version; returns the head
    its session sees before committing."""
    with session(url) as s:
        upsert_case(s, sub.case)
        record_aip_version(s, sub, built, version, batch_id=f"B{version}", tagmanifest_sha256="0" * 64,
                           certificate="")
        head = s.get_one(Aip, built.aip_id).head_version
        s.commit()
    return head


@contextmanager
def _before_first_writes(engine: Engine, hook: Callable[[], None]) -> Iterator[threading.local]:
    """Call ``hook`` in each thread just before its first INSERT, UPDATE or DELETE on ``engine``; a
    thread that sets ``wrote`` on the yielded thread-local is never held."""
    state = threading.local()

    def before_write(_conn, _cursor, statement: str, *_args) -> None:
        writes = statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
        if writes and not getattr(state, "wrote", False):
            state.wrote = True
            hook()

    sa.event.listen(engine, "before_cursor_execute", before_write)
    try:
        yield state
    finally:
        sa.event.remove(engine, "before_cursor_execute", before_write)


def _at_once(engine: Engine, *calls: Callable[[], object]) -> None:
    """Run ``calls`` in threads whose first writes wait for one another, so all have read the
    catalog before any writes: the race happens on every run, not by luck. Re-raise the first failure."""
    barrier = threading.Barrier(len(calls), timeout=600)  # a deadline for a deadlock, not a timing
    with _before_first_writes(engine, barrier.wait), ThreadPoolExecutor(len(calls)) as pool:
        for future in [pool.submit(call) for call in calls]:
            future.result()


def _while_first_write_waits(engine: Engine, held: Callable[[], Result],
                             meanwhile: Callable[[], object]) -> Result:
    """Run ``held`` in a thread and, while its first write waits, ``meanwhile`` here to
    its end: ``held`` has read the catalog before ``meanwhile`` commits and writes after. Returns
    what ``held`` returns."""
    barrier = threading.Barrier(2, timeout=600)  # a deadline for a deadlock, not a timing

    def hold() -> None:
        barrier.wait()  # held has read
        barrier.wait()  # meanwhile has finished

    with _before_first_writes(engine, hold) as state, ThreadPoolExecutor(1) as pool:
        state.wrote = True  # meanwhile runs in this thread: its writes are not held
        future = pool.submit(held)
        barrier.wait()
        try:
            meanwhile()
        finally:
            barrier.wait()
        return future.result()


def test_head_version_never_goes_back_when_versions_are_recorded_out_of_order(catalog_url, tmp_path):
    """Two ingests of one case commit v2 and v3 in order but may reach the catalog the other way
    round: the head stays the newest version and both versions are listed."""
    sub, built = _first_aip(tmp_path)
    for version in (1, 3, 2):
        _record(catalog_url, sub, built, version)
    with session(catalog_url) as s:
        assert s.get(Aip, sub.aip_id).head_version == 3
        versions = s.exec(select(AipVersion).where(AipVersion.aip_id == sub.aip_id)).all()
        assert sorted(v.version for v in versions) == [1, 2, 3]


@pytest.mark.parametrize("described_before", [False, True], ids=["new-case", "case-without-aip"])
def test_first_versions_of_a_new_case_recorded_at_once_share_one_case_and_aip(catalog_url, tmp_path,
                                                                              described_before):
    """Two batches add to a case the catalog has no AIP for: their commits give v1 and v2, and
    both records read "no such row" before either writes. The second must take the first's
    Case and Aip rows, not fail on the primary key (IntegrityError). With the case described
    before, the first writes are the Aip inserts, so they are the ones that meet."""
    sub, built = _first_aip(tmp_path)
    engine = open_catalog(catalog_url)  # migrated now, so the held writes are the records' own
    if described_before:
        with session(catalog_url) as s:
            upsert_case(s, sub.case)
            s.commit()
    _at_once(engine, lambda: _record(catalog_url, sub, built, 1), lambda: _record(catalog_url, sub, built, 2))
    with session(catalog_url) as s:
        assert [c.aip_id for c in s.exec(select(Case)).all()] == [sub.aip_id]
        assert [a.head_version for a in s.exec(select(Aip)).all()] == [2]
        versions = s.exec(select(AipVersion).where(AipVersion.aip_id == sub.aip_id)).all()
        assert sorted(v.version for v in versions) == [1, 2]


def test_head_version_stays_newest_when_an_older_version_read_it_before_a_newer_one_committed(catalog_url,
                                                                                            tmp_path):
    """Two ingests of an existing AIP record v2 and v3 at once, and nothing else (no case change)
    makes them wait for each other: v2's record reads head 1, v3's commits head 3, then v2's
    writes. A head computed from the value read (max(1, 2)) would write 2 over 3. SQLite's
    write lock does not prevent this: the read happens before v2's write transaction begins."""
    sub, built = _first_aip(tmp_path)
    _record(catalog_url, sub, built, 1)
    seen = _while_first_write_waits(open_catalog(catalog_url), lambda: _record(catalog_url, sub, built, 2),
                                    lambda: _record(catalog_url, sub, built, 3))
    with session(catalog_url) as s:
        assert s.get_one(Aip, sub.aip_id).head_version == 3
        versions = s.exec(select(AipVersion).where(AipVersion.aip_id == sub.aip_id)).all()
        assert sorted(v.version for v in versions) == [1, 2, 3]
    assert seen == 3  # v2's session saw the committed head, not the one it had read


CERTIFICATE_FINGERPRINT = "ab" * 32


def _record_certificate(url: str) -> None:
    """What ``open_signer`` writes as a flow starts: the signing certificate, committed alone."""
    with session(url) as s:
        record_certificate(s, CERTIFICATE_FINGERPRINT, "aip-signing", "CN=Test court archive", "PEM",
                           datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2036, 1, 1, tzinfo=timezone.utc))
        s.commit()


def test_signing_certificate_recorded_at_once_by_two_flows_is_stored_once(catalog_url):
    """Two ingests starting on a fresh archive both record the signing certificate, and both read
    "not recorded" before either writes: the second must find the first's row, not fail on the
    primary key (IntegrityError)."""
    engine = open_catalog(catalog_url)  # migrated now, so the held writes are the records' own
    _at_once(engine, lambda: _record_certificate(catalog_url), lambda: _record_certificate(catalog_url))
    with session(catalog_url) as s:
        assert [c.fingerprint for c in s.exec(select(Certificate)).all()] == [CERTIFICATE_FINGERPRINT]


def _record_archiving(url: str, aip_id: str, version: int) -> int:
    """What 归档 (``archive_case``) writes for the version it committed; returns the head its
    session sees before committing."""
    with session(url) as s:
        record_archiving_version(s, aip_id, version, payload_digest="0" * 64, tagmanifest_sha256="0" * 64,
                                 certificate="", message=f"archive v{version}")
        head = s.get_one(Aip, aip_id).head_version
        s.commit()
    return head


def test_archiving_keeps_the_head_of_an_ingest_recorded_meanwhile(catalog_url, tmp_path):
    """归档 commits v2 and an ingest of the same case v3: 归档's record reads head 1, the ingest's
    commits head 3, then 归档's writes. Setting the head to 归档's own version would write 2 over 3."""
    sub, built = _first_aip(tmp_path)
    _record(catalog_url, sub, built, 1)
    seen = _while_first_write_waits(open_catalog(catalog_url),
                                    lambda: _record_archiving(catalog_url, sub.aip_id, 2),
                                    lambda: _record(catalog_url, sub, built, 3))
    with session(catalog_url) as s:
        assert s.get_one(Aip, sub.aip_id).head_version == 3
        assert s.get_one(Case, sub.case.case_number).status == "archived"
        versions = s.exec(select(AipVersion).where(AipVersion.aip_id == sub.aip_id)).all()
        assert sorted(v.version for v in versions) == [1, 2, 3]
    assert seen == 3


def _first_document(sub: CaseSubmission, pages: int) -> SubmittedDocument:
    """The case's first file as OCR hands it over, read on its first ``pages`` pages."""
    entry = sub.manifest.files_of(sub.case.case_number)[0]
    when = datetime(2026, 1, 1, tzinfo=timezone.utc)
    ocr = OcrResult(source_path=entry.path, original=Path(entry.path), pdfa=None, status="done",
                    pages=tuple(PageText(page=n, text=f"第{n}页") for n in range(1, pages + 1)),
                    engine="tesseract", engine_version="5", languages="chi_sim", started_at=when,
                    finished_at=when)
    return SubmittedDocument(entry=entry, ocr=ocr)


def _record_one_document(url: str, aip_id: str, batch_id: str, doc: SubmittedDocument) -> None:
    """One document recorded and committed alone."""
    with session(url) as s:
        record_document(s, aip_id, batch_id, doc)
        s.commit()


def test_a_document_recorded_at_once_by_two_recordings_is_stored_once(catalog_url, tmp_path):
    """Two recordings of one case bring the same file (its id comes from the case and the path),
    and both read "not recorded" before either writes: the second must bring the first's row up
    to date, not fail on the primary key (IntegrityError). Within ``record_aip_version`` the head
    UPDATE before it usually makes the second wait (SQLite's write lock; PostgreSQL's row lock
    when it raises the head), but not on PostgreSQL when the head is already past both versions,
    so the documents are recorded here on their own."""
    sub, built = _first_aip(tmp_path)
    _record(catalog_url, sub, built, 1)  # the AIP the document belongs to
    doc = _first_document(sub, 2)
    _at_once(open_catalog(catalog_url), lambda: _record_one_document(catalog_url, sub.aip_id, "B2", doc),
             lambda: _record_one_document(catalog_url, sub.aip_id, "B3", doc))
    with session(catalog_url) as s:
        assert [(d.document_id, d.batch_id in ("B2", "B3")) for d in s.exec(select(Document)).all()] == \
            [(doc.document_id, True)]
        assert sorted(s.exec(select(Page.page).where(Page.document_id == doc.document_id)).all()) == [1, 2]


def _civil_files(batch: Path) -> list[FileEntry]:
    """The sample civil case's first three documents (正卷), one for each version an ingest adds."""
    manifest = read_manifest(batch)
    return manifest.files_of(manifest.cases[0].case_number)[:3]


def _commit_and_queue(url: str, store: OcflStore, batch: Path, work: Path) -> int:
    """What an ingest does for the sample's civil case while the index is down: build the next
    version on the head with the case's next document (v1 the first, v2 the second, ...),
    commit it, then queue it for indexing. Returns the version."""
    ocfl_id = ocfl_id_for(aip_id_for(_civil_files(batch)[0].case_number))
    base = store.head(ocfl_id)
    version = (base or 0) + 1
    sub = pkg_make_submission(batch, work / f"derived-v{version}", paths=[_civil_files(batch)[version - 1].path])
    base_bag = store.checkout(ocfl_id, work / f"base-v{version}") if base else None
    built = build_aip(sub, work / f"v{version}", base_bag=base_bag)
    store.commit(ocfl_id, built.bag_dir, message=f"v{version}", agent="test", expected_head=base)
    _queue(url, sub.aip_id, version)
    return version


def _queue(url: str, aip_id: str, version: int) -> None:
    """What the ingest flow's ``record`` task writes to queue a committed version for indexing,
    committed alone."""
    with session(url) as s:
        queue_for_indexing(s, aip_id, version)
        s.commit()


def _fail_indexing(url: str, aip_id: str, version: int) -> None:
    """What ``index_aip`` writes when indexing ``version`` failed, committed alone."""
    with session(url) as s:
        record_indexing_failure(s, aip_id, version, "index down")
        s.commit()


def _queue_entry(url: str, aip_id: str) -> tuple[int, int, str]:
    """The AIP's queue entry: its version, attempts and last error."""
    with session(url) as s:
        item = s.get_one(IndexQueueItem, aip_id)
        return item.version, item.attempts, item.last_error


def test_the_queue_entry_keeps_the_newest_version_when_recordings_arrive_out_of_order(catalog_url):
    """Indexing v3 failed; then an older ingest's record queues v2, and v3 is queued again: the
    entry keeps v3 and its failure. Only a newer version (v4) replaces it, with a fresh count."""
    _fail_indexing(catalog_url, "a1", 3)
    for version, entry in ((2, (3, 1, "index down")), (3, (3, 1, "index down")), (4, (4, 0, ""))):
        _queue(catalog_url, "a1", version)
        assert _queue_entry(catalog_url, "a1") == entry


@pytest.mark.parametrize(("meanwhile", "entry"), [
    (lambda url: _queue(url, "a1", 3), (3, 0, "")),
    (lambda url: _fail_indexing(url, "a1", 3), (3, 1, "index down")),
    (lambda url: _fail_indexing(url, "a1", 1), (2, 0, "")),
], ids=["ingest-of-v3", "failed-indexing-of-v3", "failed-indexing-of-v1"])
def test_an_ingest_queues_its_version_while_another_recording_queues_the_aip(catalog_url, meanwhile, entry):
    """An ingest's record queues v2 and, just before it writes, another recording queues the AIP
    and commits: a newer ingest's v3, or a failed indexing. A read-then-insert (which read "not
    queued" before that) would fail the ingest's record on the primary key after its OCFL commit,
    and a write of v2 over v3 would lower the entry and drop its count of failures. The entry
    keeps the newest version; a newer version starts afresh."""
    _while_first_write_waits(open_catalog(catalog_url), lambda: _queue(catalog_url, "a1", 2),
                             lambda: meanwhile(catalog_url))
    assert _queue_entry(catalog_url, "a1") == entry


def _queued(url: str) -> dict[str, int]:
    with session(url) as s:
        return {i.aip_id: i.version for i in s.exec(select(IndexQueueItem)).all()}


def _findable_pages(settings: Settings, batch: Path) -> list[int]:
    """Per document of ``_civil_files``, how many of its pages a search for its title finds in
    the archive's index, as an archivist sees it."""
    index = open_index(settings)
    everything = Access(all_cases=True, readers_view=False)
    return [index.count(SearchQuery(text=f.document.title, access=everything,
                                    filters={"document_id": document_id_for(f.case_number, f.path)}))
            for f in _civil_files(batch)]


def _pages_up_to(batch: Path, version: int) -> list[int]:
    """What ``_findable_pages`` gives when ``version`` is indexed: every page of its documents."""
    return [f.page_count if n < version else 0 for n, f in enumerate(_civil_files(batch))]


def _indexed_archive(catalog_url: str, tmp_path: Path) -> tuple[Settings, OcflStore, Path, str]:
    """An archive home on ``catalog_url`` with the embedded index (the default), whose civil case
    has v1 and v2 committed and queued, neither indexed. Returns its settings, store, sample
    batch and the case's AIP id."""
    settings = Settings(home=tmp_path / "home", catalog_url=catalog_url)
    assert settings.index_backend == "embedded"
    store = OcflStore(settings.storage_root)
    batch = write_sample_batch(tmp_path / "sample", seed=2)
    for _ in range(2):
        _commit_and_queue(catalog_url, store, batch, tmp_path / "src")
    aip_id = aip_id_for(_civil_files(batch)[0].case_number)
    assert _queued(catalog_url) == {aip_id: 2}
    with pytest.raises(Unavailable) as never_indexed:  # no index yet: missing (E610), never an empty one
        _findable_pages(settings, batch)
    assert never_indexed.value.code == "E610"
    return settings, store, batch, aip_id


def test_a_version_queued_while_an_older_one_is_indexed_stays_queued(catalog_url, tmp_path):
    """v2 is queued; indexing it reads the store at v2 and, before it drops the entry, an ingest
    commits and queues v3. Dropping the AIP's entry whatever version it names would lose v3's,
    and the index would stay at v2 until something else queued the AIP."""
    settings, store, batch, aip_id = _indexed_archive(catalog_url, tmp_path)
    assert _while_first_write_waits(open_catalog(catalog_url),
                                    lambda: indexing.index_aip(aip_id, settings, store),
                                    lambda: _commit_and_queue(catalog_url, store, batch, tmp_path / "src")) is None
    assert _findable_pages(settings, batch) == _pages_up_to(batch, 2)
    assert _queued(catalog_url) == {aip_id: 3}
    assert indexing.index_aip(aip_id, settings, store) is None
    assert _findable_pages(settings, batch) == _pages_up_to(batch, 3)
    assert _queued(catalog_url) == {}


def test_a_version_queued_while_the_index_is_rebuilt_stays_queued(catalog_url, tmp_path):
    """A rebuild reads the AIP at v2 and, before it clears the queue, an ingest commits and queues
    v3: the rebuilt index holds v2, so v3's entry must stay for the next drain."""
    settings, store, batch, aip_id = _indexed_archive(catalog_url, tmp_path)
    outcome = _while_first_write_waits(open_catalog(catalog_url), lambda: reindex._rebuild.fn(settings, store),
                                       lambda: _commit_and_queue(catalog_url, store, batch, tmp_path / "src"))
    assert (outcome.objects, outcome.errors) == (1, [])
    assert _findable_pages(settings, batch) == _pages_up_to(batch, 2)
    assert _queued(catalog_url) == {aip_id: 3}
    assert indexing.index_aip(aip_id, settings, store) is None
    assert _findable_pages(settings, batch) == _pages_up_to(batch, 3)
    assert _queued(catalog_url) == {}


@flow(name="index-aip", validate_parameters=False)
def _index_as_flows_do(aip_id: str, settings: Settings, store: OcflStore) -> Problem | None:
    """``index_aip`` inside a flow run, as the ingest and OCR-retry flows call it (its failure
    path logs to the run)."""
    return indexing.index_aip(aip_id, settings, store)


def _with_index_down(catalog_url: str, tmp_path: Path) -> Settings:
    """An archive home whose index is an Elasticsearch node that does not answer: nothing listens
    on its port."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    return Settings(home=tmp_path / "home", catalog_url=catalog_url, index_backend="elasticsearch",
                    es_url=f"http://127.0.0.1:{port}")


def test_a_failed_indexing_counts_its_attempt_on_an_entry_an_ingest_queued_meanwhile(catalog_url, tmp_path):
    """v1 was indexed; indexing the AIP again fails (the index is down) and, after the failure
    path read "not queued" and before it inserts the entry, an ingest commits and queues v2. The
    failure path must count its attempt on the ingest's entry, not fail on the primary key
    (IntegrityError) and leave the ingest's version queued."""
    settings = _with_index_down(catalog_url, tmp_path)
    store = OcflStore(settings.storage_root)
    batch = write_sample_batch(tmp_path / "sample", seed=2)
    _commit_and_queue(catalog_url, store, batch, tmp_path / "src")
    aip_id = aip_id_for(_civil_files(batch)[0].case_number)
    with session(catalog_url) as s:
        dequeue_indexed(s, aip_id, 1)  # v1 was indexed before the index went down
        s.commit()
    problem = _while_first_write_waits(open_catalog(catalog_url),
                                       lambda: _index_as_flows_do(aip_id, settings, store),
                                       lambda: _commit_and_queue(catalog_url, store, batch, tmp_path / "src"))
    assert problem is not None and problem.code == "E606"
    with session(catalog_url) as s:
        item = s.get_one(IndexQueueItem, aip_id)
        assert (item.version, item.attempts) == (2, 1) and "Connection refused" in item.last_error
