"""``juanzong catalog rebuild``: delete the catalog, rebuild it from the storage root, the log and
the registry journal, and every door answers as before; a corrupt catalog is a coded error that
names the file and the command."""

from __future__ import annotations

import pytest

from tests.reading.conftest import PARTY
from tests.security.conftest import Archive
from tests.security.test_archive_attacks import _request, roll_back_newest_version

pytestmark = pytest.mark.slow  # one real ingest (OCR) builds the archive they attack


def _answers(cli, a: Archive) -> dict:
    """What the doors say (the CLI for show, search and audit; the rest in-process, to keep the
    test's cost down: each CLI call is a process start)."""
    from archive.auditlog import catalog_expectation, verify_log
    from dissemination import requests as rq
    from flows._runtime import trusted_certificates

    _, archived = cli("show", a.archived_aip)
    _, party_hits = cli("search", "", "--as", f"party:{PARTY.id_number}", "--size", "50")
    _, audit = cli("audit", "--full")
    log = verify_log(a.settings.log_dir, trusted_certificates(a.settings), catalog_expectation(a.settings.catalog_url))
    return {"show": archived, "search": party_hits,
            "audit": {k: audit[k] for k in ("checked", "ok", "failures", "repaired")},
            "requests": [v.model_dump() for v in rq.list_requests(a.settings.catalog_url)],
            "log": (log.ok, log.heads_checked)}


def test_deleted_catalog_is_rebuilt_with_the_same_answers(damaged: Archive, cli_factory) -> None:
    _request(damaged, damaged.archived, PARTY.id_number, damaged.service_key)  # a request only the journal knows
    cli = cli_factory(damaged.settings.home)
    before = _answers(cli, damaged)
    assert before["audit"]["failures"] == [] and before["log"][0], before
    for suffix in ("", "-wal", "-shm"):
        (damaged.settings.home / f"catalog.sqlite{suffix}").unlink(missing_ok=True)
    _, rebuilt = cli("catalog", "rebuild")
    assert (rebuilt["aips"], rebuilt["versions"]) == (2, 3)
    assert rebuilt["registry"]["disseminationrequest"] >= 1 and rebuilt["registry"]["principal"] == 3
    assert {p["code"] for p in rebuilt["not_recovered"]} == {"E415"}, "keys and audit history are named"
    after = _answers(cli, damaged)
    assert after == before


def test_corrupt_catalog_names_the_file_and_the_rebuild(damaged: Archive, cli_factory) -> None:
    cli = cli_factory(damaged.settings.home)
    (damaged.settings.home / "catalog.sqlite").write_bytes(b"\0garbage" * 8192)
    for suffix in ("-wal", "-shm"):
        (damaged.settings.home / f"catalog.sqlite{suffix}").unlink(missing_ok=True)
    for args in (("show", damaged.archived_aip), ("audit", "--full")):  # every door in-process: the matrix
        code, out = cli(*args, expect=None)
        assert code == 4 and out["error"]["code"] == "E413", (args, out)
        assert "catalog.sqlite" in out["error"]["message"] and "juanzong catalog rebuild" in out["error"]["message"]
    _, rebuilt = cli("catalog", "rebuild")
    assert rebuilt["set_aside"].startswith(str(damaged.settings.home / "catalog.sqlite.replaced-"))
    assert cli("verify", damaged.archived_aip)[1]["valid"]


def test_rebuild_after_a_rollback_reports_it_from_the_log(damaged: Archive) -> None:
    """Without the catalog the log still proves the head: a rebuild names the rolled-back AIP and
    verify keeps saying so."""
    from flows.aip_queries import verify_aip
    from flows.rebuild_catalog import rebuild_catalog

    roll_back_newest_version(damaged)
    (damaged.settings.home / "catalog.sqlite").unlink()
    report = rebuild_catalog(damaged.settings)
    assert "E409" in {p.code for p in report.not_recovered}
    assert {p["kind"] for p in verify_aip(damaged.settings, damaged.archived_aip)["problems"]} >= {"rollback"}
