"""The attacker's cases of issue 14 on the archive side, as one matrix: each attack, the door it
is tried through, and the code that door must answer (every one of them answered "ok" or a
traceback before). Each attack runs on its own copy of one archive built by the real flows;
``MATRIX`` reads attack -> door -> codes, the reading-API cases follow it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from archive.auditlog import GENESIS, HEADS_DIR, LOG_NAME, catalog_expectation, entry_digest, verify_log
from archive.catalog import session
from archive.catalog.models import Aip, AipVersion, Document, DisseminationRequest, Page
from archive.records import ocfl_id_for
from archive.storage.ocfl import INVENTORY, SIDECAR, OcflStore
from config.settings import Settings
from dissemination.dip import TOC_NAME
from dissemination.watermark import mask_id
from flows._runtime import trusted_certificates
from schemas.errors import JuanzongError
from tests.reading.conftest import PARTY
from tests.security.conftest import Archive

pytestmark = pytest.mark.slow  # one real ingest (OCR) builds the archive they attack


# ---- the attacks: each damages a copy of the archive ------------------------------------------

def roll_back_newest_version(a: Archive) -> None:
    """Delete v2 and put v1's inventory back at the object root (a consistent older object)."""
    obj = OcflStore(a.settings.storage_root).object_dir(ocfl_id_for(a.archived_aip))
    shutil.rmtree(obj / "v2")
    for name in (INVENTORY, SIDECAR):
        shutil.copyfile(obj / "v1" / name, obj / name)


def cut_log_tail_and_heads(a: Archive) -> None:
    """Append events after the signed head, then remove them and the heads folder."""
    _request(a, a.civil, PARTY.id_number, a.service_key)  # a reading request records events
    log = a.settings.log_dir
    head = json.loads(next((log / HEADS_DIR).glob("*.json")).read_text())
    lines = (log / LOG_NAME).read_text(encoding="utf-8").splitlines()
    (log / LOG_NAME).write_text("".join(line + "\n" for line in lines[:head["seq"]]), encoding="utf-8")
    shutil.rmtree(log / HEADS_DIR)


def recompute_chain_and_move_heads(a: Archive) -> None:
    """Drop the last three entries, re-chain what is left (every digest recomputed), move heads/ away."""
    log = a.settings.log_dir
    entries = [json.loads(line) for line in (log / LOG_NAME).read_text(encoding="utf-8").splitlines()][:-3]
    prev, out = GENESIS, []
    for e in entries:
        e["prev"] = prev
        e["digest"] = prev = entry_digest(e["seq"], e["time"], e["event"], prev)
        out.append(json.dumps(e, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
    (log / LOG_NAME).write_text("".join(line + "\n" for line in out), encoding="utf-8")
    (log / HEADS_DIR).rename(a.settings.home / "heads-elsewhere")


def forget_object_in_catalog(a: Archive) -> None:
    """As if an ingest was killed between the OCFL commit and the catalog: the AIP's rows are gone."""
    with session(a.settings.catalog_url) as s:
        docs = s.exec(select(Document).where(Document.aip_id == a.archived_aip)).all()
        pages = s.exec(select(Page).where(Page.document_id.in_([d.document_id for d in docs]))).all()
        versions = s.exec(select(AipVersion).where(AipVersion.aip_id == a.archived_aip)).all()
        for rows in (pages, docs, versions, [s.get(Aip, a.archived_aip)]):
            for row in rows:
                s.delete(row)
            s.flush()
        s.commit()


def raise_catalog_head(a: Archive) -> None:
    """The catalog claims a head no version row (and no storage) has."""
    with session(a.settings.catalog_url) as s:
        aip = s.get(Aip, a.archived_aip)
        aip.head_version = 5
        s.add(aip)
        s.commit()


def corrupt_catalog(a: Archive) -> None:
    path = a.settings.home / "catalog.sqlite"
    for suffix in ("-wal", "-shm"):
        (a.settings.home / f"catalog.sqlite{suffix}").unlink(missing_ok=True)
    path.write_bytes(b"not a database " * 4096)


def delete_index(a: Archive) -> None:
    shutil.rmtree(a.settings.index_path)


def corrupt_index(a: Archive) -> None:
    from dissemination.search.embedded import EmbeddedIndex

    (EmbeddedIndex(a.settings.index_path).live_path / "meta.json").write_text("{ not json", encoding="utf-8")


# ---- the doors ------------------------------------------------------------------------------

def door_verify(a: Archive) -> set[str]:
    from flows.aip_queries import verify_aip

    return {_code(p["kind"]) for p in verify_aip(a.settings, a.archived_aip)["problems"]}


def door_audit(mode: str, percent: float = 5.0) -> Callable[[Archive], set[str]]:
    def audit_(a: Archive) -> set[str]:
        from flows.audit_fixity import audit

        return {_code(f["kind"]) for f in audit(a.settings, mode=mode, sample_percent=percent).failures}
    audit_.__name__ = f"door_audit_{mode}"
    return audit_


def door_export(a: Archive) -> set[str]:
    from flows.aip_queries import export_aip

    return _raised(lambda: export_aip(a.settings, a.archived_aip, a.settings.home / "export"))


def door_log_verify(a: Archive) -> set[str]:
    res = verify_log(a.settings.log_dir, trusted_certificates(a.settings), catalog_expectation(a.settings.catalog_url))
    return {p.code for p in res.problems}


def door_show(a: Archive) -> set[str]:
    """What ``show`` raises or flags beside the catalog's version (storage's head disagrees)."""
    from flows.aip_queries import show_aip

    shown: list[dict] = []
    raised = _raised(lambda: shown.append(show_aip(a.settings, a.archived_aip)))
    return raised | {p["code"] for s in shown for p in s["head_problems"]}


def door_search(a: Archive) -> set[str]:
    from dissemination.search_access import search_as

    return _raised(lambda: search_as(a.settings, "判决", None))


def door_verify_raises(a: Archive) -> set[str]:
    return _raised(lambda: door_verify(a))


def door_audit_raises(a: Archive) -> set[str]:
    return _raised(lambda: door_audit("full")(a))


def door_reindex(a: Archive) -> set[str]:
    from flows.reindex import reindex

    return _raised(lambda: reindex(a.settings))


MATRIX = [  # (attack, door, codes the door must report)
    (roll_back_newest_version, door_verify, {"E409"}),
    (roll_back_newest_version, door_audit("full"), {"E409"}),
    (roll_back_newest_version, door_audit("sample", 100.0), {"E409"}),
    (roll_back_newest_version, door_export, {"E409"}),
    (roll_back_newest_version, door_show, {"E409"}),
    (cut_log_tail_and_heads, door_log_verify, {"E444", "E445"}),
    (recompute_chain_and_move_heads, door_log_verify, {"E444", "E445"}),
    (forget_object_in_catalog, door_audit("full"), {"E410"}),
    (raise_catalog_head, door_audit("full"), {"E414", "E409"}),
    (raise_catalog_head, door_show, {"E409"}),
    (corrupt_catalog, door_show, {"E413"}),
    (corrupt_catalog, door_verify_raises, {"E413"}),
    (corrupt_catalog, door_audit_raises, {"E413"}),
    (corrupt_catalog, door_reindex, {"E413"}),
    (delete_index, door_search, {"E610"}),
    (corrupt_index, door_search, {"E611"}),
]


@pytest.mark.parametrize(("attack", "door", "expected"), MATRIX,
                         ids=[f"{a.__name__}-{d.__name__}" for a, d, _ in MATRIX])
def test_attack_is_reported(damaged: Archive, attack, door, expected: set[str]) -> None:
    attack(damaged)
    assert expected <= door(damaged)


def test_show_puts_the_storage_head_beside_the_catalogs_and_fails_on_a_rollback(damaged: Archive,
                                                                              cli_factory) -> None:
    """``juanzong show`` read only the catalog: after a rollback it still said v2, exit 0."""
    cli = cli_factory(damaged.settings.home)
    roll_back_newest_version(damaged)
    code, shown = cli("show", damaged.archived_aip, expect=None)
    assert (code, shown["version"], shown["storage_version"]) == (4, 2, 1), shown
    assert [(p["code"], p["expected"], p["actual"]) for p in shown["head_problems"]] == [("E409", "v2", "v1")]


def test_a_lost_catalog_makes_audit_refuse_the_root_not_blame_the_signatures(damaged: Archive) -> None:
    """A new, empty catalog does not know the root (E452, issue 13's storage identity); before,
    the audit reported a good AIP's signature as bad."""
    for suffix in ("", "-wal", "-shm"):
        (damaged.settings.home / f"catalog.sqlite{suffix}").unlink(missing_ok=True)
    assert door_audit_raises(damaged) == {"E452"}


def test_indexing_into_a_lost_index_does_not_recreate_it_empty(damaged: Archive) -> None:
    """The next indexing re-created a deleted index with only its own AIP, and searches then
    missed every other page unseen: it now stays queued, naming ``juanzong reindex``."""
    from prefect import flow

    from flows._runtime import open_store
    from flows.indexing import index_aip, queued

    delete_index(damaged)

    @flow
    def index_one():
        return index_aip(damaged.archived_aip, damaged.settings, open_store(damaged.settings))

    problem = index_one()
    assert problem is not None and problem.code == "E606" and "juanzong reindex" in problem.message, problem
    assert door_search(damaged) == {"E610"}, "the index was re-created empty"
    assert queued(damaged.settings) == [damaged.archived_aip]


def test_search_of_a_new_archive_is_empty_not_missing(tmp_path) -> None:
    from dissemination.search_access import search_as

    assert search_as(Settings(home=tmp_path / "new"), "判决", None).total == 0


def test_the_untouched_archive_is_clean(archive: Archive) -> None:
    """The same doors on the archive itself report nothing: the findings above are the attacks'."""
    assert door_verify(archive) == set()
    assert door_log_verify(archive) == set()
    assert door_show(archive) == set() and door_search(archive) == set()


# ---- the reading API: links, four eyes, issued copies ---------------------------------------

def _client(a: Archive, **overrides) -> TestClient:
    from api.reading import reading_router

    settings = Settings(home=a.settings.home, ocr_jobs=2, **overrides)
    app = FastAPI()
    app.include_router(reading_router(settings))
    return TestClient(app)


def _request(a: Archive, case: str, id_number: str, key: str, **overrides) -> dict:
    body = {"case_number": case, "requester": {**PARTY.model_dump(), "id_number": id_number}}
    r = _client(a, **overrides).post("/requests", json=body, headers={"X-API-Key": key})
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture(scope="module")
def issued(archive: Archive) -> dict:
    out = _request(archive, archive.civil, PARTY.id_number, archive.service_key)
    assert out["status"] == "issued", out
    return out


def _link(a: Archive, request_id: str, requester_id: str):
    return _client(a).get(f"/requests/{request_id}/link", params={"requester_id": requester_id},
                          headers={"X-API-Key": a.service_key})


def _same_mask(id_number: str) -> str:
    """Another ID with the same visible digits (the masked ID all the old check compared)."""
    middle = "".join("1" if c != "1" else "2" for c in id_number[6:-4])
    return id_number[:6] + middle + id_number[-4:]


def test_link_needs_the_whole_id_not_its_mask(archive: Archive, issued: dict) -> None:
    other = _same_mask(PARTY.id_number)
    assert mask_id(other) == mask_id(PARTY.id_number) and other != PARTY.id_number
    assert _link(archive, issued["request_id"], other).json()["error"]["code"] == "E513"
    assert _link(archive, issued["request_id"], PARTY.id_number.lower()).status_code == 200


def test_a_two_character_id_is_not_guessable_and_old_rows_need_an_archivist(damaged: Archive) -> None:
    from dissemination.keyed_id import requester_digest, requester_secret

    secret = requester_secret(damaged.settings)
    with session(damaged.settings.catalog_url) as s:
        for rid, digest in (("REQ-TWOCHARS", requester_digest(secret, "甲乙")), ("REQ-LEGACY", None)):
            s.add(DisseminationRequest(id=rid, case_number=damaged.civil, requester_name="甲", role="party",
                                       requester_id=mask_id("甲乙"), requester_id_hmac=digest, status="issued"))
        s.commit()
    assert _link(damaged, "REQ-TWOCHARS", "丙丁").json()["error"]["code"] == "E513"
    assert _link(damaged, "REQ-TWOCHARS", "甲乙").status_code == 200
    assert _link(damaged, "REQ-LEGACY", "甲乙").json()["error"]["code"] == "E517"
    with session(damaged.settings.catalog_url) as s:
        assert all(r.requester_id_hmac is None or len(r.requester_id_hmac) == 64 and PARTY.id_number not in r.requester_id_hmac
                   for r in s.exec(select(DisseminationRequest)).all())


def test_issued_files_pair_each_document_with_its_own_copy(archive: Archive, issued: dict) -> None:
    files = _client(archive).get(f"/requests/{issued['request_id']}/files",
                                 headers={"X-API-Key": archive.service_key}).json()
    with session(archive.settings.catalog_url) as s:
        docs = s.exec(select(Document).where(Document.case_number == archive.civil, Document.volume == "正卷",
                                             Document.disclosable == True)).all()  # noqa: E712
    expected = {d.document_id: f"{d.seq:02d}-" for d in docs}
    assert TOC_NAME not in {f["name"] for f in files}
    assert {f["document_id"] for f in files} == set(expected)
    assert all(f["name"].startswith(expected[f["document_id"]]) for f in files)


def test_an_archivist_cannot_approve_a_request_they_created(damaged: Archive) -> None:
    held = _request(damaged, damaged.archived, PARTY.id_number, damaged.li_key)
    assert held["status"] == "pending_approval", held
    approve = f"/requests/{held['request_id']}/approve"
    r = _client(damaged).post(approve, headers={"X-API-Key": damaged.li_key})
    assert (r.status_code, r.json()["error"]["code"]) == (409, "E518")
    assert _client(damaged).post(approve, headers={"X-API-Key": damaged.wang_key}).status_code == 200


def test_a_request_created_on_the_command_line_by_an_archivist_needs_another(damaged: Archive, cli_factory,
                                                                             tmp_path) -> None:
    """``juanzong disseminate --by`` records the creator: the same archivist's ``requests approve``
    is refused E518 (exit 3), another archivist's issues the copy."""
    cli = cli_factory(damaged.settings.home)
    _, held = cli("disseminate", "--case", damaged.archived, "--requester-name", PARTY.name,
                  "--requester-id", PARTY.id_number, "--role", "party", "--out", str(tmp_path / "dip"),
                  "--by", "archivist:li")
    assert held["status"] == "pending_approval", held
    code, refused = cli("requests", "approve", held["request_id"], "--as", "archivist:li", expect=None)
    assert (code, refused["error"]["code"]) == (3, "E518"), refused
    _, approved = cli("requests", "approve", held["request_id"], "--as", "archivist:wang")
    assert (approved["request"]["status"], approved["request"]["decided_by"]) == ("issued", "archivist:wang")


def test_a_one_person_archive_may_turn_four_eyes_off(damaged: Archive) -> None:
    held = _request(damaged, damaged.archived, PARTY.id_number, damaged.li_key)
    r = _client(damaged, four_eyes_approval=False).post(f"/requests/{held['request_id']}/approve",
                                                         headers={"X-API-Key": damaged.li_key})
    assert r.status_code == 200, r.text


# ---- helpers --------------------------------------------------------------------------------

def _code(kind: str) -> str:
    from archive.verify import Finding

    return Finding(object_id="-", path="-", kind=kind).code


def _raised(call: Callable[[], object]) -> set[str]:
    try:
        call()
    except JuanzongError as exc:
        return {exc.code}
    return set()


def test_inventory_digest_of_each_version_is_in_the_log(archive: Archive) -> None:
    """The log proves the head without the catalog: it names v2's inventory digest."""
    from archive.auditlog import logged_versions

    ocfl_id = ocfl_id_for(archive.archived_aip)
    inventory = OcflStore(archive.settings.storage_root).object_dir(ocfl_id) / "v2" / INVENTORY
    logged = logged_versions(archive.settings.log_dir)[ocfl_id]
    assert (logged.version, logged.inventory_sha512) == (2, hashlib.sha512(inventory.read_bytes()).hexdigest())
