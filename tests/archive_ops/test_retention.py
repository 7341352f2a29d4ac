"""Retention, appraisal, legal holds and disposal on a real ingest of an old case, with a replica
and the embedded index (archive/retention.py, archive/tombstone.py, flows/dispose_case.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
import typer
from sqlmodel import select
from typer.testing import CliRunner

from archive import retention
from archive.auditlog import read_entries, verify_log
from archive.catalog import session
from archive.catalog.models import Case, Document, Page, Tombstone
from archive.records import ocfl_id_for
from archive.storage import OcflStore
from archive.tombstone import TombstoneBody, read_tombstone, tombstone_dir, verify_tombstone
from config.settings import Settings, load_settings
from flows._runtime import trusted_certificates
from schemas.errors import InputRejected
from tests.archive_ops.conftest import ARCHIVIST, AUDITOR, ops_people

pytestmark = pytest.mark.slow
EFFECTIVE = "2000-01-08"  # 20年 counts 2001–2020: due 2021-01-01; 60年: due 2061-01-01


@dataclass
class OldArchive:
    settings: Settings
    enforcement: str  # 20年, past due
    civil: str  # 60年, not due
    aips: dict[str, str]


def test_due_date_counts_from_the_year_after_the_judgment_took_effect() -> None:
    assert retention.due_date("20年", date(2000, 1, 8)) == date(2021, 1, 1)
    assert retention.due_date("20年", date(2000, 12, 31)) == date(2021, 1, 1)
    assert retention.due_date("60年", date(2023, 6, 1), keep_years=10) == date(2094, 1, 1)
    assert retention.due_date("永久", date(1990, 1, 1)) is None


@pytest.fixture(scope="module")
def old_archive(tmp_path_factory: pytest.TempPathFactory) -> OldArchive:
    """A home with a replica and one batch whose two cases took effect in 2000."""
    from archive.signing import ensure_dev_keys
    from flows.ingest_batch import ingest_batch
    from ingest.sample import write_sample_batch

    root = tmp_path_factory.mktemp("retention")
    home = root / "home"
    settings = load_settings(home=home, signing_key=home / "keys/r.key", signing_cert=home / "keys/r.pem",
                             replica_root=root / "replica", ocr_jobs=2)
    ensure_dev_keys(settings.signing_key, settings.signing_cert, common_name="Juanzong retention test")
    batch = write_sample_batch(root / "batch", seed=4)
    manifest = json.loads((batch / "manifest.json").read_text(encoding="utf-8"))
    for case in manifest["cases"]:
        case.update(filing_date="1999-05-04", closing_date="1999-11-20", effective_date=EFFECTIVE)
    (batch / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    out = ingest_batch(batch, settings)
    assert out.status == "archived", out.problems
    by_period = {c["retention_period"]: c["case_number"] for c in manifest["cases"]}
    ops_people(settings)
    return OldArchive(settings, by_period["20年"], by_period["60年"], {a.case_number: a.aip_id for a in out.aips})


def _cli(settings: Settings) -> typer.Typer:
    from cli.retention_commands import register

    app = typer.Typer()
    register(app, lambda: settings)
    return app


def _hits(settings: Settings, case_number: str) -> int:
    from dissemination.search_access import search_as

    return search_as(settings, "执行", None, case=case_number).total


def _commit(settings: Settings, step, *args, **kwargs):
    with session(settings.catalog_url) as s:
        row = step(s, *args, **kwargs)
        s.commit()
        return row


def test_due_lists_the_past_due_case_only(old_archive: OldArchive) -> None:
    result = CliRunner().invoke(_cli(old_archive.settings), ["retention", "due", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["cases"]
    assert [(r["case_number"], r["due_date"]) for r in rows] == [(old_archive.enforcement, "2021-01-01")]
    assert rows[0]["basis"] == f"生效日期 {EFFECTIVE}"
    later = CliRunner().invoke(_cli(old_archive.settings), ["retention", "due", "--as-of", "2061-01-01", "--json"])
    assert {r["case_number"] for r in json.loads(later.output)["cases"]} == {old_archive.enforcement, old_archive.civil}


def test_a_case_not_due_cannot_be_appraised_for_disposal(old_archive: OldArchive) -> None:
    with pytest.raises(InputRejected) as refused:
        _commit(old_archive.settings, retention.appraise, old_archive.civil, decision="dispose", by=ARCHIVIST,
                reason="-", as_of=retention.today())
    assert refused.value.code == "E703" and "2061-01-01" in str(refused.value)


def _issue_a_reading_copy(settings: Settings, case_number: str) -> str:
    """A party's copy issued (and held for download) before the case falls to disposal."""
    from dissemination.access import Requester
    from flows.disseminate import ReadingRequest, disseminate
    from ingest.sample import SAMPLE_READER

    party = Requester(name=SAMPLE_READER["name"], id_number=SAMPLE_READER["id_number"], role="party")
    out = disseminate(ReadingRequest(case_number=case_number, requester=party, out_dir=settings.dip_root),
                      settings)
    assert out.status == "issued" and (settings.dip_root / out.request_id).is_dir(), out
    return out.request_id


def _assert_withdrawn(settings: Settings, request_id: str, withdrawn: list[str]) -> None:
    """Disposal withdraws the copy the archive still held: folder gone, request withdrawn (so its
    link is refused), the requester told, a deletion event; the record of what went out stays."""
    from archive.catalog.models import IssuedCopy, Notification, PreservationEvent
    from dissemination.requests import get_request

    assert withdrawn == [request_id]
    assert not (settings.dip_root / request_id).exists()
    view = get_request(settings.catalog_url, request_id)
    assert view.status == "withdrawn" and "销毁" in view.reason
    with session(settings.catalog_url) as s:
        assert s.exec(select(IssuedCopy).where(IssuedCopy.request_id == request_id)).all()
        told = s.exec(select(Notification).where(Notification.request_id == request_id)).all()
        assert any("撤回" in n.subject for n in told)
        events = s.exec(select(PreservationEvent).where(PreservationEvent.event_type == "deletion",
                                                        PreservationEvent.object_path == f"dip/{request_id}")).all()
        assert [e.agent.split(" ")[0] for e in events] == [ARCHIVIST]


def test_a_held_case_cannot_be_disposed_of_then_after_release_and_approval_it_is(old_archive: OldArchive) -> None:
    from flows.audit_fixity import audit
    from flows.dispose_case import dispose_case

    settings, case_number = old_archive.settings, old_archive.enforcement
    aip, object_id = old_archive.aips[case_number], ocfl_id_for(old_archive.aips[case_number])
    primary, replica = OcflStore(settings.storage_root), OcflStore(settings.replica_root)
    assert primary.head(object_id) and replica.head(object_id) and _hits(settings, case_number) > 0
    _commit(settings, retention.place_hold, case_number, by=AUDITOR, reason="再审审查中")
    with pytest.raises(InputRejected) as held:
        _commit(settings, retention.appraise, case_number, decision="dispose", by=ARCHIVIST, reason="期满",
                as_of=retention.today())
    assert held.value.code == "E704"
    _commit(settings, retention.release_hold, case_number, by=AUDITOR, reason="再审申请已驳回")
    appraisal = _commit(settings, retention.appraise, case_number, decision="dispose", by=ARCHIVIST,
                        reason="保管期满，经鉴定无继续保存价值", as_of=retention.today())
    with pytest.raises(InputRejected) as self_approval:
        _commit(settings, retention.approve, appraisal.id, by=ARCHIVIST)
    assert self_approval.value.code == "E706"
    with pytest.raises(InputRejected) as unapproved:
        dispose_case(settings, case_number, ARCHIVIST)
    assert unapproved.value.code == "E705"
    _commit(settings, retention.approve, appraisal.id, by=AUDITOR)
    _commit(settings, retention.place_hold, case_number, by=AUDITOR, reason="新的诉讼保全")
    with pytest.raises(InputRejected) as held_again:
        dispose_case(settings, case_number, ARCHIVIST)
    assert held_again.value.code == "E704" and primary.head(object_id)
    _commit(settings, retention.release_hold, case_number, by=AUDITOR, reason="保全解除")
    issued = _issue_a_reading_copy(settings, case_number)

    out = dispose_case(settings, case_number, ARCHIVIST)

    assert out.index_documents_removed > 0 and not out.resumed
    _assert_withdrawn(settings, issued, out.withdrawn_requests)
    assert primary.head(object_id) is None and replica.head(object_id) is None
    assert not primary.object_dir(object_id).exists() and not replica.object_dir(object_id).exists()
    assert _hits(settings, case_number) == 0
    with session(settings.catalog_url) as s:
        assert s.get_one(Case, case_number).status == "disposed"
        assert s.exec(select(Document).where(Document.aip_id == aip)).all() == []
        assert s.exec(select(Page).join(Document, Page.document_id == Document.document_id)
                      .where(Document.aip_id == aip)).all() == []
        tomb = s.get_one(Tombstone, aip)
    body = TombstoneBody.model_validate_json(tomb.body)
    assert body == read_tombstone(settings.storage_root, aip) == read_tombstone(settings.replica_root, aip)
    assert [who.split(" ")[0] for who in (body.appraised_by, body.approved_by, body.disposed_by)] == [ARCHIVIST, AUDITOR, ARCHIVIST]
    assert body.due_date == "2021-01-01" and body.files > 0 and "期满" in body.reason
    assert verify_tombstone(settings.storage_root, aip, trusted_certificates(settings)) == []
    from flows.aip_queries import show_aip

    shown = show_aip(settings, aip)  # what an archivist asking for the AIP now sees: the tombstone
    assert shown["status"] == "disposed" and shown["documents"] == [] and shown["head_problems"] == []
    assert TombstoneBody.model_validate(shown["tombstone"]) == body
    assert verify_log(settings.home / "log").ok
    events = [json.loads(raw)["event"] for _, raw in read_entries(settings.home / "log")]
    assert [e["event_type"] for e in events if e["aip_id"] == aip][-1] == "deaccession"
    assert primary.head(ocfl_id_for(old_archive.aips[old_archive.civil]))  # the other case stays
    full = audit(settings, mode="full")
    assert full.failures == [] and full.checked == 1


def test_disposal_list_and_a_forged_tombstone(old_archive: OldArchive, tmp_path: Path) -> None:
    from flows.audit_fixity import audit

    settings = old_archive.settings
    aip = old_archive.aips[old_archive.enforcement]
    if not (tombstone_dir(settings.storage_root) / f"{aip}.json").is_file():
        pytest.skip("needs the disposal of the test before")
    result = CliRunner().invoke(_cli(settings), ["retention", "disposal-list", "--out", str(tmp_path / "list.html"),
                                                 "--json"])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "list.html").read_text(encoding="utf-8")
    assert "档案销毁清单" in page and old_archive.enforcement in page and "保管期满" in page
    assert json.loads(result.output)["cases"] == [old_archive.enforcement]
    again = CliRunner().invoke(_cli(settings), ["retention", "appraise", old_archive.enforcement, "--decision", "keep",
                                                "--by", ARCHIVIST, "--reason", "-", "--keep-years", "5"])
    assert isinstance(again.exception, InputRejected) and again.exception.code == "E707"
    path = tombstone_dir(settings.storage_root) / f"{aip}.json"
    path.write_bytes(path.read_bytes().replace("保管期满".encode(), "随意删除".encode()))
    forged = audit(settings, mode="signature")
    assert [(f["kind"], f["aip_id"]) for f in forged.failures] == [("signature", aip)]
