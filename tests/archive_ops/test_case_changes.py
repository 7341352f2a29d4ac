"""Issue 14, item 1: a station cannot rewrite a case. Another station's batch for the case is
refused (E158) and its wish to take the case over held for an archivist; the owning station's
later batch may re-send a document, but its volume, its disclosure and the case's parties stay
what was archived (E159) until an archivist approves the change, in a new AIP version with a
PREMIS event naming the archivist. A 副卷 document is never made disclosable (E161).

Runs the real flow (OCR included) on the sample batch, then on two one-document batches."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest
from sqlmodel import select

from archive.catalog import session
from archive.catalog.models import Case, CaseChange, Document, PreservationEvent
from archive.package import read_case_record
from archive.records import aip_id_for, ocfl_id_for
from config.settings import Settings
from tests.archive_ops.conftest import ops_keys, ops_settings

pytestmark = pytest.mark.slow

SECONDARY_DOC = "04-合议庭评议笔录.pdf"
ATTACKER = {"role": "原告", "kind": "自然人", "name": "冒名者", "id_number": "440103199001011234"}


def _forged(sample: Path, out: Path, *, station: str, batch_id: str) -> Path:
    """The sample's 副卷 document re-sent as a disclosable 正卷, with one more party."""
    manifest = json.loads((sample / "manifest.json").read_text("utf-8"))
    entry = copy.deepcopy(next(f for f in manifest["files"] if f["path"].endswith(SECONDARY_DOC)))
    entry["document"].update(volume="正卷", disclosable=True)
    case = copy.deepcopy(next(c for c in manifest["cases"] if c["case_number"] == entry["case_number"]))
    case["parties"].append(ATTACKER)
    batch = out / batch_id
    (batch / entry["path"]).parent.mkdir(parents=True)
    shutil.copy(sample / entry["path"], batch / entry["path"])
    forged = {**manifest, "batch_id": batch_id, "station_id": station, "cases": [case], "files": [entry],
              "page_total": entry["page_count"]}
    (batch / "manifest.json").write_text(json.dumps(forged, ensure_ascii=False), "utf-8")
    return batch


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    from flows.ingest_batch import ingest_batch
    from ingest.sample import write_sample_batch

    root = tmp_path_factory.mktemp("changes")
    settings = ops_settings(root / "home", "a")
    ops_keys(settings, "A")
    sample = write_sample_batch(root / "sample")
    first = ingest_batch(sample, settings)
    assert first.status == "archived", first.problems
    case = next(a.case_number for a in first.aips if "民初" in a.case_number)
    return settings, sample, case, root


def _head(settings: Settings, case: str):
    from flows._runtime import open_store

    store = open_store(settings)
    ocfl_id = ocfl_id_for(aip_id_for(case))
    return store.head(ocfl_id), read_case_record(store.object_dir(ocfl_id) / f"v{store.head(ocfl_id)}" / "content")


def _secondary(record):
    return next(d for d in record.documents if d.entry.path.endswith(SECONDARY_DOC))


def test_another_stations_batch_is_refused_and_its_takeover_held(archive) -> None:
    from flows.ingest_batch import ingest_batch

    settings, sample, case, root = archive
    before, _ = _head(settings, case)
    out = ingest_batch(_forged(sample, root / "sm06", station="GZZY-SM06", batch_id="GZZY-SM06-20240921-001"),
                       settings)
    assert out.status == "rejected"
    assert [p["code"] for p in out.problems if p["code"] == "E158"] == ["E158"], out.problems
    assert _head(settings, case)[0] == before
    with session(settings.catalog_url) as s:
        held = s.exec(select(CaseChange).where(CaseChange.case_number == case)).all()
        assert [(c.kind, c.new["value"], c.status) for c in held] == [("owner", "GZZY-SM06", "pending")]
        assert ATTACKER["name"] not in [p["name"] for p in s.get(Case, case).parties]


def test_the_owners_later_batch_cannot_change_volume_disclosure_or_parties(archive) -> None:
    from dissemination.search_access import search_as
    from flows.ingest_batch import ingest_batch

    settings, sample, case, root = archive
    out = ingest_batch(_forged(sample, root / "sm03", station="GZZY-SM03", batch_id="GZZY-SM03-20240921-002"),
                       settings)
    assert out.status == "archived", out.problems
    held = sorted(p["message"].split(" would change ")[1].split(" ")[0] for p in out.problems if p["code"] == "E159")
    assert held == ["disclosable", "parties", "volume"], out.problems
    version, record = _head(settings, case)
    assert version == 2
    doc = _secondary(record)
    assert (doc.entry.document.volume, doc.disclosable) == ("副卷", False)
    assert ATTACKER["name"] not in [p.name for p in record.case.parties]
    with session(settings.catalog_url) as s:
        row = s.exec(select(Document).where(Document.source_path == doc.entry.path)).one()
        assert (row.volume, row.disclosable) == ("副卷", False)
        assert ATTACKER["name"] not in [p["name"] for p in s.get(Case, case).parties]
    assert search_as(settings, "评议", f"party:{ATTACKER['id_number']}").total == 0
    real = record.case.parties[0]
    assert search_as(settings, "评议", f"party:{real.id_number}", case=case).total == 0


def test_an_archivist_approves_a_party_and_never_a_disclosable_secondary(archive) -> None:
    from flows.case_change import approve_change, list_changes
    from schemas.errors import InputRejected

    settings, _, case, _ = archive
    from api.reading import add_principal
    add_principal(settings.catalog_url, "wang", kind="archivist", roles=["archivist"])
    add_principal(settings.catalog_url, "svc", kind="service", roles=["reading-service"])
    pending = {c.kind: c for c in list_changes(settings, "pending", case) if c.batch_id.startswith("GZZY-SM03")}
    with pytest.raises(InputRejected) as not_archivist:
        approve_change(settings, pending["parties"].change_id, "service:svc")
    assert not_archivist.value.code == "E509"
    with pytest.raises(InputRejected) as secondary:
        approve_change(settings, pending["disclosable"].change_id, "archivist:wang")
    assert secondary.value.code == "E161"
    assert _head(settings, case)[0] == 2

    done = approve_change(settings, pending["parties"].change_id, "archivist:wang")
    assert (done.status, done.decided_by, done.version) == ("approved", "archivist:wang", 3)
    version, record = _head(settings, case)
    assert version == 3 and ATTACKER["name"] in [p.name for p in record.case.parties]
    assert _secondary(record).disclosable is False
    from flows._runtime import open_store
    store = open_store(settings)
    premis = store.path(ocfl_id_for(aip_id_for(case)), "data/metadata/premis.xml").read_text("utf-8")
    assert "person:archivist:wang" in premis and pending["parties"].change_id in premis
    with session(settings.catalog_url) as s:
        assert ATTACKER["name"] in [p["name"] for p in s.get(Case, case).parties]
        events = s.exec(select(PreservationEvent).where(PreservationEvent.event_type == "metadata modification")).all()
        assert [e.agent for e in events] == ["archivist:wang"]
    from flows.aip_queries import verify_aip
    assert verify_aip(settings, aip_id_for(case))["valid"]
    with pytest.raises(InputRejected) as again:
        approve_change(settings, pending["parties"].change_id, "archivist:wang")
    assert again.value.code == "E167"


def test_the_command_line_lists_refuses_and_approves_held_changes(archive, cli_factory) -> None:
    """``juanzong changes list|approve|refuse`` in a subprocess, on the changes the tests above held
    (the takeover by GZZY-SM06, the owner's volume change): only an archivist decides, a refusal
    keeps the archived value, an approval makes a new AIP version naming the archivist."""
    settings, _, case, _ = archive
    cli = cli_factory(settings.home, JUANZONG_SIGNING_KEY=str(settings.signing_key),
                      JUANZONG_SIGNING_CERT=str(settings.signing_cert))
    before, _ = _head(settings, case)
    pending = {c["kind"]: c for c in cli("changes", "list", "--case", case)[1]["changes"]}
    assert {"owner", "volume"} <= set(pending), pending
    code, out = cli("changes", "approve", pending["volume"]["change_id"], "--as", "service:svc", expect=None)
    assert (code, out["error"]["code"]) == (3, "E509"), out
    _, refused = cli("changes", "refuse", pending["owner"]["change_id"], "--as", "archivist:wang",
                     "--reason", "案件属本院SM03站")
    assert (refused["change"]["status"], refused["change"]["decided_by"]) == ("refused", "archivist:wang")
    _, approved = cli("changes", "approve", pending["volume"]["change_id"], "--as", "archivist:wang")
    assert (approved["change"]["status"], approved["change"]["version"]) == ("approved", before + 1)
    version, record = _head(settings, case)
    assert version == before + 1 and _secondary(record).entry.document.volume == "正卷"
    assert _secondary(record).disclosable is False
    left = {c["change_id"] for c in cli("changes", "list", "--case", case)[1]["changes"]}
    assert not left & {pending["owner"]["change_id"], pending["volume"]["change_id"]}
