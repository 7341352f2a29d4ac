"""Quarantine: kept whole with a bilingual report; list, show, fix, release, discard."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import typer
from sqlmodel import select
from typer.testing import CliRunner

from archive.catalog import session
from archive.catalog.models import PreservationEvent, Principal
from config.settings import Settings
from api.stations import hash_api_key
from cli.intake_commands import register
from ingest import quarantine as q
from ingest.hotfolder import take_batch
from ingest.intake import run_submission
from schemas.errors import InputRejected, NotFound
from tests.intake.conftest import ManifestIngest, make_batch, tree_digests


def _reject(tmp_path: Path, settings: Settings, ingest: ManifestIngest) -> tuple[str, dict]:
    batch = make_batch(tmp_path / "hot", "B-Q1", {"2023-粤01民终3683/01.pdf": 50, "b.pdf": 50})
    (batch / "b.pdf").write_bytes(b"x" * 50)
    before = tree_digests(batch)
    result = take_batch(batch, ingest, intake_root=settings.intake_root,
                        quarantine_root=settings.quarantine_root)
    assert result.status == "rejected"
    return result.quarantine_id, before


def _archivist(settings: Settings, pid: str, roles: list[str]) -> None:
    with session(settings.catalog_url) as s:
        s.add(Principal(id=pid, kind="archivist", name=pid, roles=roles))
        s.commit()


def test_round_trip_fix_and_release(tmp_path: Path, settings: Settings, ingest: ManifestIngest) -> None:
    qid, before = _reject(tmp_path, settings, ingest)
    root = settings.quarantine_root
    [entry] = q.list_entries(root)
    assert entry.id == qid and entry.station_id == "TEST-SM01"
    assert [p["code"] for p in entry.problems] == ["E113"]
    assert tree_digests(q.batch_path(root, entry)) == before  # kept whole, byte for byte
    text = (root / qid / "problems.txt").read_text("utf-8")
    assert "[E113] b.pdf" in text and "中文：b.pdf：SHA-256 为" in text and "English: b.pdf: SHA-256 is" in text
    assert json.loads((root / qid / "problems.json").read_text("utf-8"))["problems"] == entry.problems
    # the archivist fixes the manifest in place, then releases
    manifest_path = q.batch_path(root, entry) / "manifest.json"
    manifest = json.loads(manifest_path.read_text("utf-8"))
    for f in manifest["files"]:
        if f["path"] == "b.pdf":
            f["sha256"] = hashlib.sha256(b"x" * 50).hexdigest()
    manifest_path.write_text(json.dumps(manifest), "utf-8")
    released, dest = q.release(root, qid, settings.intake_root, by="archivist:li")
    assert released.status == "released" and released.history[-1]["by"] == "archivist:li"
    assert q.list_entries(root) == []
    assert run_submission(dest, ingest, quarantine_root=root).status == "archived"
    with pytest.raises(NotFound):
        q.release(root, qid, settings.intake_root)


def test_discard_needs_archivist_and_is_logged(tmp_path: Path, settings: Settings,
                                               ingest: ManifestIngest) -> None:
    qid, _ = _reject(tmp_path, settings, ingest)
    root = settings.quarantine_root
    _archivist(settings, "reader:zhang", ["reader"])
    _archivist(settings, "archivist:li", ["archivist"])
    for who in ("reader:zhang", "nobody"):
        with pytest.raises(InputRejected) as exc:
            q.discard(root, qid, principal_id=who, reason="test", catalog_url=settings.catalog_url)
        assert exc.value.code == "E152"
    assert q.batch_path(root, q.load_entry(root, qid)).is_dir()
    entry = q.discard(root, qid, principal_id="archivist:li", reason="station resent it as B-Q2",
                      catalog_url=settings.catalog_url)
    assert entry.status == "discarded" and not q.batch_path(root, entry).exists()
    with session(settings.catalog_url) as s:
        [event] = s.exec(select(PreservationEvent).where(PreservationEvent.event_type == "deletion")).all()
    assert event.agent == "archivist:li" and event.object_path == f"quarantine/{qid}"
    assert "B-Q1" in event.detail and "resent" in event.detail
    assert [e.status for e in q.list_entries(root, include_closed=True)] == ["discarded"]


def test_unknown_or_unsafe_quarantine_id(settings: Settings) -> None:
    for qid in ("nope", "../etc", ""):
        with pytest.raises(NotFound):
            q.load_entry(settings.quarantine_root, qid)


@pytest.fixture
def cli(settings: Settings):
    app = typer.Typer()
    register(app, lambda: settings)
    runner = CliRunner()

    def run(*args: str) -> tuple[int, dict]:
        res = runner.invoke(app, [*args, "--json"])
        if res.exception and not isinstance(res.exception, SystemExit):
            raise res.exception
        return res.exit_code, json.loads(res.stdout.strip().splitlines()[-1])

    return run


def test_cli_quarantine_and_stations(cli, tmp_path: Path, settings: Settings,
                                     ingest: ManifestIngest) -> None:
    code, added = cli("stations", "add", "GZZY-SM06")
    assert code == 0
    with session(settings.catalog_url) as s:
        assert s.get(Principal, "station:GZZY-SM06").api_key_hash == hash_api_key(added["api_key"])
    with pytest.raises(InputRejected) as exc:
        cli("stations", "add", "GZZY-SM06")
    assert exc.value.code == "E154"
    qid, _ = _reject(tmp_path, settings, ingest)
    code, listed = cli("quarantine", "list")
    assert [e["id"] for e in listed["entries"]] == [qid] and listed["entries"][0]["problem_count"] == 1
    code, shown = cli("quarantine", "show", qid)
    assert shown["problems"][0]["code"] == "E113" and Path(shown["batch_path"]).is_dir()
    _archivist(settings, "archivist:li", ["archivist"])
    code, done = cli("quarantine", "discard", qid, "--as", "archivist:li", "--reason", "duplicate")
    assert (code, done["status"]) == (0, "discarded")
    assert cli("quarantine", "list")[1] == {"entries": []}
